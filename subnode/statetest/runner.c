/*
 * runner.c - loads state-test fixtures, runs each case through chain_apply_tx on a fresh
 * pre-state, compares the roots, and spreads files over worker processes (fixture.h).
 */
#include "statetest.h"

#include <assert.h>
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "common/hex.h"
#include "common/keccak.h"
#include "common/secp.h"
#include "common/u256.h"
#include "subnode/chain/chain.h"
#include "subnode/state/state.h"
#include "subnode/statetest/fixture.h"

/* Caps on fields read from a fixture. */
#define DATA_MAX ((size_t)4 << 20)
#define ACCESS_LIST_MAX 4096
#define ACCESS_KEYS_MAX 65536

const char *statetest_strerror(int code)
{
    switch (code) {
    case STATETEST_OK: return "ok";
    case STATETEST_E_IO: return "input/output error";
    case STATETEST_E_FORMAT: return "malformed fixture";
    case STATETEST_E_RANGE: return "value out of range";
    case STATETEST_E_NOMEM: return "out of memory";
    case STATETEST_E_USAGE: return "bad usage";
    default: return "unknown statetest error";
    }
}

static int revision_from_name(const char *name, enum evm_revision *out)
{
    static const struct {
        const char *name;
        enum evm_revision revision;
    } forks[] = {
        {"Berlin", EVM_BERLIN}, {"London", EVM_LONDON}, {"Paris", EVM_PARIS}, {"Merge", EVM_PARIS},
        {"Shanghai", EVM_SHANGHAI}, {"Cancun", EVM_CANCUN},
    };
    for (size_t i = 0; i < sizeof forks / sizeof forks[0]; i++)
        if (strcmp(forks[i].name, name) == 0) {
            *out = forks[i].revision;
            return 0;
        }
    return -1;
}

/*
 * BLOCKHASH in state tests: the fixtures were filled with keccak256 of the block number
 * written in decimal (go-ethereum's state-test convention), as no block history exists.
 */
static void test_block_hash(void *arg, uint64_t number, uint8_t out[32])
{
    (void)arg;
    char text[24];
    int n = snprintf(text, sizeof text, "%llu", (unsigned long long)number);
    keccak256(text, (size_t)n, out);
}

static int load_env(const cJSON *env, enum evm_revision revision, struct chain_block *block, struct cohort_error *err)
{
    memset(block, 0, sizeof *block);
    block->revision = revision;
    block->chain_id = u256_from_u64(1);
    block->block_hash = test_block_hash;
    if (hex_decode_exact(fixture_string(env, "currentCoinbase") ? fixture_string(env, "currentCoinbase") : "", block->coinbase,
                         20, err) != 0)
        return cohort_error_wrap(err, "env currentCoinbase");
    int rc = fixture_parse_u64_saturating(fixture_string(env, "currentNumber"), &block->number, err);
    if (rc == 0) rc = fixture_parse_u64_saturating(fixture_string(env, "currentTimestamp"), &block->timestamp, err);
    if (rc == 0) rc = fixture_parse_u64_saturating(fixture_string(env, "currentGasLimit"), &block->gas_limit, err);
    if (rc == 0 && fixture_string(env, "currentDifficulty"))
        rc = fixture_parse_u256(fixture_string(env, "currentDifficulty"), &block->difficulty, err);
    if (rc == 0 && fixture_string(env, "currentBaseFee"))
        rc = fixture_parse_u256(fixture_string(env, "currentBaseFee"), &block->base_fee, err);
    if (rc == 0 && fixture_string(env, "currentExcessBlobGas"))
        rc = fixture_parse_u64_saturating(fixture_string(env, "currentExcessBlobGas"), &block->excess_blob_gas, err);
    if (rc == 0 && fixture_string(env, "currentRandom")) {
        u256 random;
        rc = fixture_parse_u256(fixture_string(env, "currentRandom"), &random, err);
        if (rc == 0) u256_store_be(block->prev_randao, random);
    }
    return rc == 0 ? 0 : cohort_error_wrap(err, "env");
}

/* The decoded transaction of one post entry, with the buffers its pointers refer to. */
struct tx_buffers {
    uint8_t data[DATA_MAX];
    struct chain_access_entry access[ACCESS_LIST_MAX];
    uint8_t keys[ACCESS_KEYS_MAX][32];
    uint8_t blob_hashes[64][32];
};

static int derive_sender(const cJSON *txj, uint8_t sender[20], struct cohort_error *err)
{
    uint8_t secret[32];
    const char *key = fixture_string(txj, "secretKey");
    if (key == NULL || hex_decode_exact(key, secret, 32, err) != 0) return cohort_error_wrap(err, "transaction secretKey");
    if (secp_address_from_secret(secret, sender, err) != 0) return cohort_error_wrap(err, "transaction secretKey");
    return 0;
}

static int load_access_list(const cJSON *list, struct chain_tx *tx, struct tx_buffers *buf, struct cohort_error *err)
{
    size_t n = 0, keys = 0;
    const cJSON *entry;
    cJSON_ArrayForEach(entry, list)
    {
        if (n >= ACCESS_LIST_MAX)
            return cohort_error_set(err, STATETEST_E_RANGE, "statetest", "access list over %d entries", ACCESS_LIST_MAX);
        struct chain_access_entry *e = &buf->access[n++];
        if (hex_decode_exact(fixture_string(entry, "address") ? fixture_string(entry, "address") : "", e->address, 20, err) != 0)
            return cohort_error_wrap(err, "access list address");
        e->keys = buf->keys[keys];
        e->key_count = 0;
        const cJSON *k;
        cJSON_ArrayForEach(k, cJSON_GetObjectItemCaseSensitive(entry, "storageKeys"))
        {
            if (keys >= ACCESS_KEYS_MAX)
                return cohort_error_set(err, STATETEST_E_RANGE, "statetest", "access list over %d keys", ACCESS_KEYS_MAX);
            u256 v;
            if (fixture_parse_u256(cJSON_IsString(k) ? k->valuestring : NULL, &v, err) != 0)
                return cohort_error_wrap(err, "access list key");
            u256_store_be(buf->keys[keys++], v);
            e->key_count++;
        }
    }
    tx->access_list = buf->access;
    tx->access_list_len = n;
    return 0;
}

static int load_tx(const cJSON *txj, size_t d, size_t g, size_t v, struct chain_tx *tx, struct tx_buffers *buf,
                   struct cohort_error *err)
{
    memset(tx, 0, sizeof *tx);
    const cJSON *data = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(txj, "data"), (int)d);
    const cJSON *gas = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(txj, "gasLimit"), (int)g);
    const cJSON *value = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(txj, "value"), (int)v);
    if (!cJSON_IsString(data) || !cJSON_IsString(gas) || !cJSON_IsString(value))
        return cohort_error_set(err, STATETEST_E_FORMAT, "statetest", "indexes d=%zu g=%zu v=%zu out of the arrays", d, g, v);
    int rc = fixture_parse_bytes(data->valuestring, buf->data, sizeof buf->data, &tx->data_len, err);
    if (rc == 0) rc = fixture_parse_u64_saturating(gas->valuestring, &tx->gas_limit, err);
    if (rc == 0) rc = fixture_parse_u256(value->valuestring, &tx->value, err);
    if (rc == 0) rc = fixture_parse_u64_saturating(fixture_string(txj, "nonce"), &tx->nonce, err);
    if (rc != 0) return cohort_error_wrap(err, "transaction");
    tx->data = buf->data;
    const char *to = fixture_string(txj, "to");
    if (to != NULL && to[0] != '\0') {
        if (hex_decode_exact(to, tx->to, 20, err) != 0) return cohort_error_wrap(err, "transaction to");
        tx->has_to = true;
    }
    if ((rc = derive_sender(txj, tx->sender, err)) != 0) return rc;

    const cJSON *lists = cJSON_GetObjectItemCaseSensitive(txj, "accessLists");
    const cJSON *blobs = cJSON_GetObjectItemCaseSensitive(txj, "blobVersionedHashes");
    if (fixture_string(txj, "maxFeePerGas") != NULL) {
        tx->type = 2;
        rc = fixture_parse_u256(fixture_string(txj, "maxFeePerGas"), &tx->max_fee_per_gas, err);
        if (rc == 0) rc = fixture_parse_u256(fixture_string(txj, "maxPriorityFeePerGas"), &tx->max_priority_fee_per_gas, err);
    } else {
        tx->type = 0;
        rc = fixture_parse_u256(fixture_string(txj, "gasPrice"), &tx->gas_price, err);
    }
    if (rc != 0) return cohort_error_wrap(err, "transaction fees");
    if (cJSON_IsArray(lists)) {
        const cJSON *list = cJSON_GetArrayItem(lists, (int)d);
        if (cJSON_IsArray(list)) {
            if (tx->type == 0) tx->type = 1;
            if ((rc = load_access_list(list, tx, buf, err)) != 0) return rc;
        }
    }
    if (cJSON_IsArray(blobs)) {
        tx->type = 3;
        if (fixture_parse_u256(fixture_string(txj, "maxFeePerBlobGas"), &tx->max_fee_per_blob_gas, err) != 0)
            return cohort_error_wrap(err, "transaction maxFeePerBlobGas");
        const cJSON *h;
        cJSON_ArrayForEach(h, blobs)
        {
            if (tx->blob_count >= sizeof buf->blob_hashes / 32)
                return cohort_error_set(err, STATETEST_E_RANGE, "statetest", "over 64 blob hashes");
            if (hex_decode_exact(cJSON_IsString(h) ? h->valuestring : "", buf->blob_hashes[tx->blob_count], 32, err) != 0)
                return cohort_error_wrap(err, "blob hash");
            tx->blob_count++;
        }
        tx->blob_hashes = &buf->blob_hashes[0][0];
    }
    return 0;
}

/* ---- Running ---- */

static bool touched_late_precompile(const struct chain_tx_result *r) { return r->unimplemented_precompile; }

/* Runs one post entry; returns true when it passed, and when not, describes why in line. */
static bool run_case(const char *path, const char *name, const cJSON *test, const struct chain_block *block,
                     const cJSON *post, struct tx_buffers *buf, bool *precompile, char *line, size_t line_size)
{
    struct cohort_error err = {0};
    const cJSON *ix = cJSON_GetObjectItemCaseSensitive(post, "indexes");
    size_t d = (size_t)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(ix, "data"));
    size_t g = (size_t)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(ix, "gas"));
    size_t v = (size_t)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(ix, "value"));
    const char *want_hash = fixture_string(post, "hash");
    const char *want_logs = fixture_string(post, "logs");
    const char *expect_exception = fixture_string(post, "expectException");
    *precompile = false;

    struct chain_tx tx;
    struct state *st = state_new();
    if (st == NULL) {
        snprintf(line, line_size, "%s %s d=%zu g=%zu v=%zu: out of memory\n", path, name, d, g, v);
        return false;
    }
    bool ok = false;
    if (fixture_load_accounts(st, cJSON_GetObjectItemCaseSensitive(test, "pre"), &err) != 0) {
        snprintf(line, line_size, "%s %s d=%zu g=%zu v=%zu: fixture: %s\n", path, name, d, g, v, err.message);
        goto done;
    }
    int rc = load_tx(cJSON_GetObjectItemCaseSensitive(test, "transaction"), d, g, v, &tx, buf, &err);
    struct chain_tx_result result;
    memset(&result, 0, sizeof result);
    if (rc == STATETEST_E_RANGE && expect_exception != NULL) {
        /*
         * A field no transaction can encode (a value over 256 bits, written ":bigint 0x..."):
         * such a transaction does not decode, so it is rejected and the state stays as it was.
         */
        rc = CHAIN_E_REJECTED;
    } else if (rc != 0) {
        snprintf(line, line_size, "%s %s d=%zu g=%zu v=%zu: fixture: %s\n", path, name, d, g, v, err.message);
        goto done;
    } else {
        rc = chain_apply_tx(st, block, &tx, &result, &err);
    }
    for (size_t i = 0; i < tx.access_list_len; i++) {
        static const uint8_t zero19[19] = {0};
        const uint8_t *a = tx.access_list[i].address;
        if (memcmp(a, zero19, 19) == 0 && (a[19] == 6 || a[19] == 7 || a[19] == 8 || a[19] == 10)) *precompile = true;
    }
    if (tx.has_to && evm_precompile_is_unimplemented(tx.to, block->revision)) *precompile = true;
    *precompile = *precompile || touched_late_precompile(&result);
    if (rc == CHAIN_E_INTERNAL) {
        snprintf(line, line_size, "%s %s d=%zu g=%zu v=%zu: internal error: %s\n", path, name, d, g, v, err.message);
        goto done;
    }
    if (expect_exception != NULL && rc == 0) {
        snprintf(line, line_size, "%s %s d=%zu g=%zu v=%zu: exception (expected %s, got none: included, gas used %llu)\n", path,
                name, d, g, v, expect_exception, (unsigned long long)result.gas_used);
        goto done;
    }
    if (expect_exception == NULL && rc != 0) {
        snprintf(line, line_size, "%s %s d=%zu g=%zu v=%zu: exception (expected none, got %s: %s)\n", path, name, d, g, v,
                chain_reject_name(result.reason), err.message);
        goto done;
    }
    uint8_t root[32], logs[32];
    char got_root[67], got_logs[67];
    if (state_root(st, root, &err) != 0 || state_logs_hash(st, logs, &err) != 0) {
        snprintf(line, line_size, "%s %s d=%zu g=%zu v=%zu: root: %s\n", path, name, d, g, v, err.message);
        goto done;
    }
    hex_encode(root, 32, got_root, sizeof got_root);
    if (getenv("COHORT_STATETEST_DUMP") != NULL) { /* a debugging aid */
        fprintf(stderr, "%s d=%zu g=%zu v=%zu: status %s, gas used %llu\n", name, d, g, v,
                rc == 0 ? evm_status_name(result.status) : "rejected", (unsigned long long)result.gas_used);
        state_dump(st, stderr);
    }
    hex_encode(logs, 32, got_logs, sizeof got_logs);
    if (want_hash == NULL || strcasecmp(want_hash, got_root) != 0) {
        snprintf(line, line_size, "%s %s d=%zu g=%zu v=%zu: state root (expected %s, got %s)%s\n", path, name, d, g, v,
                want_hash ? want_hash : "(none)", got_root, rc == 0 ? "" : " [rejected]");
        goto done;
    }
    if (want_logs == NULL || strcasecmp(want_logs, got_logs) != 0) {
        snprintf(line, line_size, "%s %s d=%zu g=%zu v=%zu: logs hash (expected %s, got %s)\n", path, name, d, g, v,
                want_logs ? want_logs : "(none)", got_logs);
        goto done;
    }
    ok = true;
done:
    state_free(st);
    return ok;
}

int statetest_run_file(const char *path, const struct statetest_options *opts, struct statetest_counts *counts,
                       FILE *out, struct cohort_error *err)
{
    assert(path != NULL);
    assert(counts != NULL);
    const char *fork = opts && opts->fork ? opts->fork : "Cancun";
    enum evm_revision revision;
    if (revision_from_name(fork, &revision) != 0)
        return cohort_error_set(err, STATETEST_E_USAGE, "statetest", "unknown fork %s", fork);
    counts->files++;
    char *text = fixture_read_file(path, STATETEST_FILE_MAX, err);
    if (text == NULL) {
        counts->failed++;
        counts->file_errors++;
        fprintf(out, "%s: %s\n", path, err->message);
        return err->code;
    }
    cJSON *doc = cJSON_Parse(text);
    free(text);
    if (!cJSON_IsObject(doc)) {
        cJSON_Delete(doc);
        counts->failed++;
        counts->file_errors++;
        fprintf(out, "%s: not a JSON object\n", path);
        return cohort_error_set(err, STATETEST_E_FORMAT, "statetest", "%s: not a JSON object", path);
    }
    struct tx_buffers *buf = malloc(sizeof *buf);
    if (buf == NULL) {
        cJSON_Delete(doc);
        return cohort_error_set(err, STATETEST_E_NOMEM, "statetest", "transaction buffers");
    }
    const cJSON *test;
    cJSON_ArrayForEach(test, doc)
    {
        const cJSON *posts = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(test, "post"), fork);
        if (!cJSON_IsArray(posts) || cJSON_GetArraySize(posts) == 0) continue;
        struct chain_block block;
        struct cohort_error env_err = {0};
        if (load_env(cJSON_GetObjectItemCaseSensitive(test, "env"), revision, &block, &env_err) != 0) {
            fprintf(out, "%s %s: fixture: %s\n", path, test->string, env_err.message);
            counts->failed += (size_t)cJSON_GetArraySize(posts);
            continue;
        }
        const cJSON *post;
        cJSON_ArrayForEach(post, posts)
        {
            bool precompile = false;
            char line[1024] = "";
            if (run_case(path, test->string, test, &block, post, buf, &precompile, line, sizeof line)) {
                counts->passed++;
            } else {
                counts->failed++;
                if (precompile) counts->failed_precompile++;
                /* The line ends in \n; the tag goes before it. */
                size_t n = strlen(line);
                if (n > 0 && line[n - 1] == '\n') line[--n] = '\0';
                fprintf(out, "%s%s\n", line, precompile ? " [precompile 0x06-0x08/0x0a]" : "");
            }
        }
    }
    free(buf);
    cJSON_Delete(doc);
    return 0;
}

/* ---- Many files, on workers (fixture.h) ---- */

struct run_arg {
    const struct statetest_options *opts;
};

static void run_one_file(void *arg, const char *path, void *counts, FILE *out)
{
    const struct run_arg *ra = arg;
    struct cohort_error file_err = {0};
    statetest_run_file(path, ra->opts, counts, out, &file_err);
}

static void merge_counts(void *total, const void *part)
{
    struct statetest_counts *t = total;
    const struct statetest_counts *p = part;
    t->passed += p->passed;
    t->failed += p->failed;
    t->failed_precompile += p->failed_precompile;
    t->files += p->files;
    t->file_errors += p->file_errors;
}

static void count_crash(void *total, const char *path)
{
    (void)path;
    ((struct statetest_counts *)total)->failed++;
}

int statetest_run_paths(const char *const *paths, size_t path_count, const struct statetest_options *opts,
                        struct statetest_counts *counts, FILE *out, struct cohort_error *err)
{
    struct fixture_paths files = {0};
    enum evm_revision revision;
    const char *fork_name = opts && opts->fork ? opts->fork : "Cancun";
    if (revision_from_name(fork_name, &revision) != 0)
        return cohort_error_set(err, STATETEST_E_USAGE, "statetest",
                                "unknown fork %s (known: Berlin, London, Paris, Shanghai, Cancun)", fork_name);
    int rc = fixture_collect(paths, path_count, &files, err);
    if (rc == 0) {
        struct run_arg ra = {.opts = opts};
        unsigned jobs = opts && opts->jobs > 1 ? opts->jobs : 1;
        rc = fixture_run_files(files.items, files.count, jobs, run_one_file, &ra, counts, sizeof *counts, merge_counts,
                               count_crash, out, err);
    }
    fixture_paths_free(&files);
    return rc;
}

/* ---- Loading cases for other programs (see statetest.h) ---- */

int statetest_case_load_pre(const struct statetest_case *test_case, struct state *st, struct cohort_error *err)
{
    assert(test_case != NULL && st != NULL);
    assert(test_case->pre != NULL);
    return fixture_load_accounts(st, test_case->pre, err);
}

int statetest_for_each_case(const char *path, const char *fork, statetest_case_fn fn, void *arg,
                            struct cohort_error *err)
{
    assert(path != NULL && fork != NULL);
    assert(fn != NULL);
    enum evm_revision revision;
    if (revision_from_name(fork, &revision) != 0)
        return cohort_error_set(err, STATETEST_E_USAGE, "statetest", "unknown fork %s", fork);
    char *text = fixture_read_file(path, STATETEST_FILE_MAX, err);
    if (text == NULL) return err != NULL ? err->code : STATETEST_E_IO;
    cJSON *doc = cJSON_Parse(text);
    free(text);
    struct tx_buffers *buf = cJSON_IsObject(doc) ? malloc(sizeof *buf) : NULL;
    if (buf == NULL) {
        int rc = cJSON_IsObject(doc) ? cohort_error_set(err, STATETEST_E_NOMEM, "statetest", "transaction buffers")
                                     : cohort_error_set(err, STATETEST_E_FORMAT, "statetest", "%s: not a JSON object", path);
        cJSON_Delete(doc);
        return rc;
    }
    int rc = 0;
    const cJSON *test;
    cJSON_ArrayForEach(test, doc)
    {
        const cJSON *posts = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(test, "post"), fork);
        if (!cJSON_IsArray(posts)) continue;
        const cJSON *labels = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(test, "_info"), "labels");
        const cJSON *post;
        cJSON_ArrayForEach(post, posts)
        {
            struct statetest_case c;
            memset(&c, 0, sizeof c);
            c.path = path;
            c.test_name = test->string;
            c.pre = cJSON_GetObjectItemCaseSensitive(test, "pre");
            const cJSON *ix = cJSON_GetObjectItemCaseSensitive(post, "indexes");
            c.data_index = (size_t)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(ix, "data"));
            c.gas_index = (size_t)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(ix, "gas"));
            c.value_index = (size_t)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(ix, "value"));
            c.expected_hash = fixture_string(post, "hash");
            c.expected_logs = fixture_string(post, "logs");
            c.expect_exception = fixture_string(post, "expectException");
            char index_text[24];
            snprintf(index_text, sizeof index_text, "%zu", c.data_index);
            c.label = fixture_string(labels, index_text);
            if (!cJSON_IsObject(c.pre)) {
                rc = cohort_error_set(err, STATETEST_E_FORMAT, "statetest", "%s %s: no pre object", path, c.test_name);
                goto done;
            }
            if (load_env(cJSON_GetObjectItemCaseSensitive(test, "env"), revision, &c.block, err) != 0) {
                rc = cohort_error_wrap(err, "%s %s", path, c.test_name);
                if (rc == 0) rc = STATETEST_E_FORMAT; /* err was NULL */
                goto done;
            }
            int tx_rc = load_tx(cJSON_GetObjectItemCaseSensitive(test, "transaction"), c.data_index, c.gas_index,
                                c.value_index, &c.tx, buf, err);
            /* A field no transaction can encode, in a case that expects the rejection: nothing
               to run (statetest_run_file counts it as the rejection it is). */
            if (tx_rc == STATETEST_E_RANGE && c.expect_exception != NULL) continue;
            if (tx_rc != 0) {
                rc = cohort_error_wrap(err, "%s %s", path, c.test_name);
                if (rc == 0) rc = STATETEST_E_FORMAT; /* err was NULL */
                goto done;
            }
            if ((rc = fn(arg, &c)) != 0) goto done;
        }
    }
done:
    free(buf);
    cJSON_Delete(doc);
    return rc;
}
