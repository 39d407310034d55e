/*
 * runner.c - loads state-test fixtures, runs each case through chain_apply_tx on a fresh
 * pre-state, compares the roots, and spreads files over worker processes.
 */
#include "statetest.h"

#include <assert.h>
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/hex.h"
#include "common/keccak.h"
#include "common/secp.h"
#include "common/u256.h"
#include "subnode/chain/chain.h"
#include "subnode/state/state.h"

/* Caps on fields read from a fixture. */
#define DATA_MAX ((size_t)4 << 20)
#define ACCESS_LIST_MAX 4096
#define ACCESS_KEYS_MAX 65536
#define PATHS_MAX 100000

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

/* ---- Field parsing ---- */

static const char *string_field(const cJSON *obj, const char *name)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, name);
    return cJSON_IsString(item) ? item->valuestring : NULL;
}

/*
 * A fixture number: "0x" and hex digits, leading zeros allowed ("0x01"), "0x" alone is 0.
 * Sets *overflow when the value does not fit 256 bits (the value is then all ones).
 */
static int parse_u256(const char *text, u256 *out, struct cohort_error *err)
{
    if (text == NULL || text[0] != '0' || (text[1] != 'x' && text[1] != 'X'))
        return cohort_error_set(err, STATETEST_E_FORMAT, "statetest", "number \"%.40s\" lacks 0x",
                                text ? text : "(missing)");
    const char *p = text + 2;
    while (*p == '0') p++;
    size_t n = strlen(p);
    if (n > 64) return cohort_error_set(err, STATETEST_E_RANGE, "statetest", "number %.40s... over 256 bits", text);
    u256 v = u256_zero();
    for (size_t i = 0; i < n; i++) {
        int d = hex_digit_value(p[i]);
        if (d < 0) return cohort_error_set(err, STATETEST_E_FORMAT, "statetest", "bad hex digit in \"%.70s\"", text);
        v = u256_or(u256_shl(u256_from_u64(4), v), u256_from_u64((uint64_t)d));
    }
    *out = v;
    return 0;
}

/* A u64 field; values past 2^64 - 1 saturate (such gas limits are rejected anyway). */
static int parse_u64_saturating(const char *text, uint64_t *out, struct cohort_error *err)
{
    u256 v;
    int rc = parse_u256(text, &v, err);
    if (rc == STATETEST_E_RANGE) {
        *out = UINT64_MAX;
        return 0;
    }
    if (rc != 0) return rc;
    *out = u256_fits_u64(v) ? v.w[0] : UINT64_MAX;
    return 0;
}

static int parse_bytes(const char *text, uint8_t *out, size_t cap, size_t *len, struct cohort_error *err)
{
    if (text == NULL) return cohort_error_set(err, STATETEST_E_FORMAT, "statetest", "missing hex data");
    int rc = hex_decode(text, out, cap, len, err);
    return rc == 0 ? 0 : cohort_error_wrap(err, "data");
}

/* ---- Loading ---- */

static int load_pre(struct state *st, const cJSON *pre, struct cohort_error *err)
{
    static _Thread_local uint8_t code[STATE_CODE_MAX]; /* 1 MiB: too big for the stack */
    const cJSON *acc;
    cJSON_ArrayForEach(acc, pre)
    {
        uint8_t address[20];
        u256 balance, nonce;
        size_t code_len = 0;
        if (hex_decode_exact(acc->string, address, 20, err) != 0) return cohort_error_wrap(err, "pre address");
        if (parse_u256(string_field(acc, "balance"), &balance, err) != 0 ||
            parse_u256(string_field(acc, "nonce"), &nonce, err) != 0 ||
            parse_bytes(string_field(acc, "code"), code, sizeof code, &code_len, err) != 0)
            return cohort_error_wrap(err, "pre %s", acc->string);
        if (!u256_fits_u64(nonce))
            return cohort_error_set(err, STATETEST_E_RANGE, "statetest", "pre %s: nonce over 64 bits", acc->string);
        if (state_put_account(st, address, nonce.w[0], balance, code, code_len, err) != 0)
            return cohort_error_wrap(err, "pre %s", acc->string);
        const cJSON *slot;
        cJSON_ArrayForEach(slot, cJSON_GetObjectItemCaseSensitive(acc, "storage"))
        {
            u256 key, value;
            if (parse_u256(slot->string, &key, err) != 0 || parse_u256(slot->valuestring, &value, err) != 0)
                return cohort_error_wrap(err, "pre %s storage", acc->string);
            if (!u256_is_zero(value) && state_put_storage(st, address, key, value, err) != 0)
                return cohort_error_wrap(err, "pre %s storage", acc->string);
        }
    }
    return 0;
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
    if (hex_decode_exact(string_field(env, "currentCoinbase") ? string_field(env, "currentCoinbase") : "", block->coinbase,
                         20, err) != 0)
        return cohort_error_wrap(err, "env currentCoinbase");
    int rc = parse_u64_saturating(string_field(env, "currentNumber"), &block->number, err);
    if (rc == 0) rc = parse_u64_saturating(string_field(env, "currentTimestamp"), &block->timestamp, err);
    if (rc == 0) rc = parse_u64_saturating(string_field(env, "currentGasLimit"), &block->gas_limit, err);
    if (rc == 0 && string_field(env, "currentDifficulty"))
        rc = parse_u256(string_field(env, "currentDifficulty"), &block->difficulty, err);
    if (rc == 0 && string_field(env, "currentBaseFee"))
        rc = parse_u256(string_field(env, "currentBaseFee"), &block->base_fee, err);
    if (rc == 0 && string_field(env, "currentExcessBlobGas"))
        rc = parse_u64_saturating(string_field(env, "currentExcessBlobGas"), &block->excess_blob_gas, err);
    if (rc == 0 && string_field(env, "currentRandom")) {
        u256 random;
        rc = parse_u256(string_field(env, "currentRandom"), &random, err);
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
    const char *key = string_field(txj, "secretKey");
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
        if (hex_decode_exact(string_field(entry, "address") ? string_field(entry, "address") : "", e->address, 20, err) != 0)
            return cohort_error_wrap(err, "access list address");
        e->keys = buf->keys[keys];
        e->key_count = 0;
        const cJSON *k;
        cJSON_ArrayForEach(k, cJSON_GetObjectItemCaseSensitive(entry, "storageKeys"))
        {
            if (keys >= ACCESS_KEYS_MAX)
                return cohort_error_set(err, STATETEST_E_RANGE, "statetest", "access list over %d keys", ACCESS_KEYS_MAX);
            u256 v;
            if (parse_u256(cJSON_IsString(k) ? k->valuestring : NULL, &v, err) != 0)
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
    int rc = parse_bytes(data->valuestring, buf->data, sizeof buf->data, &tx->data_len, err);
    if (rc == 0) rc = parse_u64_saturating(gas->valuestring, &tx->gas_limit, err);
    if (rc == 0) rc = parse_u256(value->valuestring, &tx->value, err);
    if (rc == 0) rc = parse_u64_saturating(string_field(txj, "nonce"), &tx->nonce, err);
    if (rc != 0) return cohort_error_wrap(err, "transaction");
    tx->data = buf->data;
    const char *to = string_field(txj, "to");
    if (to != NULL && to[0] != '\0') {
        if (hex_decode_exact(to, tx->to, 20, err) != 0) return cohort_error_wrap(err, "transaction to");
        tx->has_to = true;
    }
    if ((rc = derive_sender(txj, tx->sender, err)) != 0) return rc;

    const cJSON *lists = cJSON_GetObjectItemCaseSensitive(txj, "accessLists");
    const cJSON *blobs = cJSON_GetObjectItemCaseSensitive(txj, "blobVersionedHashes");
    if (string_field(txj, "maxFeePerGas") != NULL) {
        tx->type = 2;
        rc = parse_u256(string_field(txj, "maxFeePerGas"), &tx->max_fee_per_gas, err);
        if (rc == 0) rc = parse_u256(string_field(txj, "maxPriorityFeePerGas"), &tx->max_priority_fee_per_gas, err);
    } else {
        tx->type = 0;
        rc = parse_u256(string_field(txj, "gasPrice"), &tx->gas_price, err);
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
        if (parse_u256(string_field(txj, "maxFeePerBlobGas"), &tx->max_fee_per_blob_gas, err) != 0)
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
    const char *want_hash = string_field(post, "hash");
    const char *want_logs = string_field(post, "logs");
    const char *expect_exception = string_field(post, "expectException");
    *precompile = false;

    struct chain_tx tx;
    struct state *st = state_new();
    if (st == NULL) {
        snprintf(line, line_size, "%s %s d=%zu g=%zu v=%zu: out of memory\n", path, name, d, g, v);
        return false;
    }
    bool ok = false;
    if (load_pre(st, cJSON_GetObjectItemCaseSensitive(test, "pre"), &err) != 0) {
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

static char *read_capped(const char *path, size_t cap, struct cohort_error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        cohort_error_errno(err, STATETEST_E_IO, "statetest", errno, "open %s", path);
        return NULL;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0 || (size_t)sb.st_size > cap) {
        if ((size_t)sb.st_size > cap)
            cohort_error_set(err, STATETEST_E_RANGE, "statetest", "%s: %lld bytes, over the cap of %zu", path,
                             (long long)sb.st_size, cap);
        else
            cohort_error_errno(err, STATETEST_E_IO, "statetest", errno, "stat %s", path);
        close(fd);
        return NULL;
    }
    size_t size = (size_t)sb.st_size;
    char *text = malloc(size + 1);
    if (text == NULL) {
        cohort_error_set(err, STATETEST_E_NOMEM, "statetest", "%s: %zu bytes", path, size);
        close(fd);
        return NULL;
    }
    size_t got = 0;
    while (got < size) {
        ssize_t r = read(fd, text + got, size - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            cohort_error_errno(err, STATETEST_E_IO, "statetest", r < 0 ? errno : EIO, "read %s", path);
            free(text);
            close(fd);
            return NULL;
        }
        got += (size_t)r;
    }
    text[size] = '\0';
    close(fd);
    return text;
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
    char *text = read_capped(path, STATETEST_FILE_MAX, err);
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

/* ---- Walking and workers ---- */

struct path_list {
    char **items;
    size_t count, cap;
};

static int add_path(struct path_list *list, const char *path, struct cohort_error *err)
{
    if (list->count >= PATHS_MAX)
        return cohort_error_set(err, STATETEST_E_RANGE, "statetest", "more than %d fixture files", PATHS_MAX);
    if (list->count == list->cap) {
        size_t cap = list->cap ? list->cap * 2 : 256;
        char **p = realloc(list->items, cap * sizeof *p);
        if (p == NULL) return cohort_error_set(err, STATETEST_E_NOMEM, "statetest", "path list");
        list->items = p;
        list->cap = cap;
    }
    list->items[list->count] = strdup(path);
    if (list->items[list->count] == NULL) return cohort_error_set(err, STATETEST_E_NOMEM, "statetest", "path list");
    list->count++;
    return 0;
}

static int compare_paths(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static bool ends_with_json(const char *name)
{
    size_t n = strlen(name);
    return n > 5 && strcmp(name + n - 5, ".json") == 0;
}

/*
 * Collects the .json files under root. Folders go on an explicit stack (the list itself:
 * folders are appended and visited in turn) rather than recursion.
 */
static int collect(const char *root, struct path_list *files, struct cohort_error *err)
{
    struct stat sb;
    if (stat(root, &sb) != 0) return cohort_error_errno(err, STATETEST_E_IO, "statetest", errno, "stat %s", root);
    if (!S_ISDIR(sb.st_mode)) return add_path(files, root, err);
    struct path_list dirs = {0};
    int rc = add_path(&dirs, root, err);
    for (size_t i = 0; rc == 0 && i < dirs.count; i++) {
        DIR *dir = opendir(dirs.items[i]);
        if (dir == NULL) {
            rc = cohort_error_errno(err, STATETEST_E_IO, "statetest", errno, "open folder %s", dirs.items[i]);
            break;
        }
        struct dirent *de;
        while (rc == 0 && (de = readdir(dir)) != NULL) {
            if (de->d_name[0] == '.') continue;
            char child[4096];
            int n = snprintf(child, sizeof child, "%s/%s", dirs.items[i], de->d_name);
            if (n < 0 || (size_t)n >= sizeof child) {
                rc = cohort_error_set(err, STATETEST_E_RANGE, "statetest", "path too long under %s", dirs.items[i]);
                break;
            }
            if (stat(child, &sb) != 0) continue;
            if (S_ISDIR(sb.st_mode))
                rc = add_path(&dirs, child, err);
            else if (S_ISREG(sb.st_mode) && ends_with_json(de->d_name))
                rc = add_path(files, child, err);
        }
        closedir(dir);
    }
    for (size_t i = 0; i < dirs.count; i++) free(dirs.items[i]);
    free(dirs.items);
    return rc;
}

/* Shared between the parent and the workers (an anonymous shared mapping). */
struct shared_work {
    size_t next;        /* the next file to take, advanced atomically */
    size_t current[64]; /* per worker: 1 + the file it is running, 0 when between files */
    struct statetest_counts counts[];
};

int statetest_run_paths(const char *const *paths, size_t path_count, const struct statetest_options *opts,
                        struct statetest_counts *counts, FILE *out, struct cohort_error *err)
{
    struct path_list files = {0};
    int rc = 0;
    enum evm_revision revision;
    const char *fork_name = opts && opts->fork ? opts->fork : "Cancun";
    if (revision_from_name(fork_name, &revision) != 0)
        return cohort_error_set(err, STATETEST_E_USAGE, "statetest",
                                "unknown fork %s (known: Berlin, London, Paris, Shanghai, Cancun)", fork_name);
    for (size_t i = 0; rc == 0 && i < path_count; i++) rc = collect(paths[i], &files, err);
    if (rc != 0) goto done;
    qsort(files.items, files.count, sizeof *files.items, compare_paths);
    unsigned jobs = opts && opts->jobs > 1 ? opts->jobs : 1;
    if (jobs > 64) jobs = 64;
    if (jobs == 1 || files.count < 2) {
        for (size_t i = 0; i < files.count; i++) {
            struct cohort_error file_err = {0};
            statetest_run_file(files.items[i], opts, counts, out, &file_err);
        }
        goto done;
    }
    size_t shared_size = sizeof(struct shared_work) + jobs * sizeof(struct statetest_counts);
    struct shared_work *shared = mmap(NULL, shared_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (shared == MAP_FAILED) {
        rc = cohort_error_errno(err, STATETEST_E_NOMEM, "statetest", errno, "shared counters");
        goto done;
    }
    memset(shared, 0, shared_size);
    fflush(out);
    pid_t pids[64];
    unsigned started = 0;
    for (unsigned w = 0; w < jobs; w++) {
        pid_t pid = fork();
        if (pid < 0) break;
        if (pid == 0) {
            /* Worker: take files until none is left; one line per failure, flushed per file. */
            for (;;) {
                size_t i = __atomic_fetch_add(&shared->next, 1, __ATOMIC_RELAXED);
                if (i >= files.count) break;
                struct cohort_error file_err = {0};
                shared->current[w] = i + 1;
                statetest_run_file(files.items[i], opts, &shared->counts[w], out, &file_err);
                fflush(out);
                shared->current[w] = 0;
            }
            _exit(0);
        }
        pids[started++] = pid;
    }
    if (started == 0) {
        rc = cohort_error_errno(err, STATETEST_E_IO, "statetest", errno, "fork a worker");
        munmap(shared, shared_size);
        goto done;
    }
    for (unsigned w = 0; w < started; w++) {
        int status = 0;
        while (waitpid(pids[w], &status, 0) < 0 && errno == EINTR) {
        }
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            /* A crashed worker: the file it held did not finish. Count it as a failure. */
            size_t held = shared->current[w];
            fprintf(out, "%s: worker died (wait status %d) running this file; its remaining cases did not run\n",
                    held ? files.items[held - 1] : "(no file)", status);
            counts->failed++;
        }
    }
    for (unsigned w = 0; w < jobs; w++) {
        counts->passed += shared->counts[w].passed;
        counts->failed += shared->counts[w].failed;
        counts->failed_precompile += shared->counts[w].failed_precompile;
        counts->files += shared->counts[w].files;
        counts->file_errors += shared->counts[w].file_errors;
    }
    munmap(shared, shared_size);
done:
    for (size_t i = 0; i < files.count; i++) free(files.items[i]);
    free(files.items);
    return rc;
}

/* ---- Loading cases for other programs (see statetest.h) ---- */

int statetest_case_load_pre(const struct statetest_case *test_case, struct state *st, struct cohort_error *err)
{
    assert(test_case != NULL && st != NULL);
    assert(test_case->pre != NULL);
    return load_pre(st, test_case->pre, err);
}

int statetest_for_each_case(const char *path, const char *fork, statetest_case_fn fn, void *arg,
                            struct cohort_error *err)
{
    assert(path != NULL && fork != NULL);
    assert(fn != NULL);
    enum evm_revision revision;
    if (revision_from_name(fork, &revision) != 0)
        return cohort_error_set(err, STATETEST_E_USAGE, "statetest", "unknown fork %s", fork);
    char *text = read_capped(path, STATETEST_FILE_MAX, err);
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
            c.expected_hash = string_field(post, "hash");
            c.expected_logs = string_field(post, "logs");
            c.expect_exception = string_field(post, "expectException");
            char index_text[24];
            snprintf(index_text, sizeof index_text, "%zu", c.data_index);
            c.label = string_field(labels, index_text);
            if (!cJSON_IsObject(c.pre)) {
                rc = cohort_error_set(err, STATETEST_E_FORMAT, "statetest", "%s %s: no pre object", path, c.test_name);
                goto done;
            }
            if (load_env(cJSON_GetObjectItemCaseSensitive(test, "env"), revision, &c.block, err) != 0 ||
                load_tx(cJSON_GetObjectItemCaseSensitive(test, "transaction"), c.data_index, c.gas_index, c.value_index,
                        &c.tx, buf, err) != 0) {
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
