/*
 * runner.c - loads blockchain-test fixtures and imports their blocks (see blocktest.h):
 * the genesis from `pre`, each block decoded, validated against its parent, executed with
 * block_execute(BLOCK_IMPORT) and checked against its header; then the head and the state.
 */
#include "blocktest.h"

#include <assert.h>
#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/hex.h"
#include "subnode/chain/block.h"
#include "subnode/state/state.h"
#include "subnode/statetest/fixture.h"
#include "subnode/statetest/statetest.h"

#define DOMAIN "blocktest"
#define NONE SIZE_MAX
/* The blockchain tests run on chain id 1. */
#define TEST_CHAIN_ID 1u
/* The network this runner knows, and its fork. */
#define TEST_NETWORK "Cancun"
#define TEST_REVISION EVM_CANCUN

/* A block the test's chain holds: the genesis (index 0) and every block imported. */
struct known_block {
    uint8_t hash[32];
    struct block_header header;
    size_t parent; /* index of the parent; NONE for the genesis */
    uint8_t *rlp;  /* the block as imported, to replay it; NULL for the genesis */
    size_t rlp_len;
};

struct chain {
    const cJSON *pre;
    struct known_block *blocks;
    size_t count, cap;
    struct state *st;
    size_t state_at;    /* st holds the state after this block; NONE while st is unusable */
    size_t exec_parent; /* the parent of the block executing (BLOCKHASH walks from it) */
};

/* A failure description, written once. */
struct why {
    char text[768];
};

static void say(struct why *why, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(struct why *why, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why->text, sizeof why->text, fmt, ap);
    va_end(ap);
}

static void hex32(const uint8_t bytes[32], char out[67]) { hex_encode(bytes, 32, out, 67); }

/* BLOCKHASH: the ancestors of the executing block, found by walking parent links. */
static void chain_block_hash(void *arg, uint64_t number, uint8_t out[32])
{
    const struct chain *c = arg;
    size_t i = c->exec_parent;
    while (i != NONE && c->blocks[i].header.number > number) i = c->blocks[i].parent;
    if (i != NONE && c->blocks[i].header.number == number)
        memcpy(out, c->blocks[i].hash, 32);
    else
        memset(out, 0, 32);
}

static void chain_free(struct chain *c)
{
    for (size_t i = 0; i < c->count; i++) free(c->blocks[i].rlp);
    free(c->blocks);
    state_free(c->st);
    memset(c, 0, sizeof *c);
}

static int chain_add(struct chain *c, const struct block_header *header, size_t parent, const uint8_t *rlp,
                     size_t rlp_len)
{
    if (c->count == BLOCKTEST_BLOCKS_MAX) return -1;
    if (c->count == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        struct known_block *p = realloc(c->blocks, cap * sizeof *p);
        if (p == NULL) return -1;
        c->blocks = p;
        c->cap = cap;
    }
    struct known_block *k = &c->blocks[c->count];
    memset(k, 0, sizeof *k);
    k->header = *header;
    block_header_hash(header, k->hash);
    k->parent = parent;
    if (rlp != NULL) {
        k->rlp = malloc(rlp_len);
        if (k->rlp == NULL) return -1;
        memcpy(k->rlp, rlp, rlp_len);
        k->rlp_len = rlp_len;
    }
    c->count++;
    return 0;
}

static bool bytes_equal(const char *what, const uint8_t *want, const uint8_t *got, size_t len, struct why *why)
{
    if (memcmp(want, got, len) == 0) return true;
    if (len == 32) {
        char w[67], g[67];
        hex32(want, w);
        hex32(got, g);
        say(why, "%s (header %s, executed %s)", what, w, g);
    } else {
        say(why, "%s differs from the header's", what);
    }
    return false;
}

/*
 * Validates block b against the known block `parent` and executes it on c->st, which
 * holds the state after parent. True when every root and figure equals the header's.
 * st is left unusable (state_at NONE) until the caller records the block.
 */
static bool execute(struct chain *c, size_t parent, const struct block *b, struct why *why)
{
    const struct block_header *h = &b->header;
    struct cohort_error err = {0};
    if (!h->has_base_fee || !h->has_withdrawals_root || !h->has_blob_gas || !h->has_parent_beacon_root) {
        say(why, "header lacks fields of %s", TEST_NETWORK);
        return false;
    }
    if (b->ommer_count != 0) {
        say(why, "block lists %zu ommers after the merge", b->ommer_count);
        return false;
    }
    if (block_validate_header(h, &c->blocks[parent].header, false, &err) != 0) {
        say(why, "%s", err.message);
        return false;
    }
    assert(c->state_at == parent);
    c->state_at = NONE;
    c->exec_parent = parent;
    struct block_exec_input in = {
        .header = h,
        .revision = TEST_REVISION,
        .chain_id = u256_from_u64(TEST_CHAIN_ID),
        .txs = b->txs,
        .tx_count = b->tx_count,
        .withdrawals = b->withdrawals,
        .withdrawal_count = b->withdrawal_count,
        .mode = BLOCK_IMPORT,
        .block_hash = chain_block_hash,
        .block_hash_arg = c,
    };
    struct block_exec_result res;
    bool ok = false;
    if (block_execute(c->st, &in, &res, &err) != 0) {
        say(why, "%s", err.message);
        goto done;
    }
    if (res.gas_used != h->gas_used) {
        say(why, "gas used (header %llu, executed %llu)", (unsigned long long)h->gas_used,
            (unsigned long long)res.gas_used);
        goto done;
    }
    if (res.blob_gas_used != h->blob_gas_used) {
        say(why, "blob gas used (header %llu, executed %llu)", (unsigned long long)h->blob_gas_used,
            (unsigned long long)res.blob_gas_used);
        goto done;
    }
    uint8_t root[32];
    if (state_root(c->st, root, &err) != 0) {
        say(why, "state root: %s", err.message);
        goto done;
    }
    ok = bytes_equal("logs bloom", h->logs_bloom, res.logs_bloom, BLOCK_BLOOM_BYTES, why) &&
         bytes_equal("transactions root", h->transactions_root, res.transactions_root, 32, why) &&
         bytes_equal("receipts root", h->receipts_root, res.receipts_root, 32, why) &&
         bytes_equal("withdrawals root", h->withdrawals_root, res.withdrawals_root, 32, why) &&
         bytes_equal("state root", h->state_root, root, 32, why);
done:
    block_exec_result_free(&res);
    return ok;
}

/* A fresh state holding `pre`: the state after the genesis. */
static bool reset_to_genesis(struct chain *c, struct why *why)
{
    struct cohort_error err = {0};
    state_free(c->st);
    c->state_at = NONE;
    c->st = state_new();
    if (c->st == NULL) {
        say(why, "out of memory for a state");
        return false;
    }
    if (fixture_load_accounts(c->st, c->pre, &err) != 0) {
        say(why, "fixture pre: %s", err.message);
        return false;
    }
    c->state_at = 0;
    return true;
}

/* Makes st hold the state after block target, replaying its ancestors from the genesis. */
static bool rebuild(struct chain *c, size_t target, struct why *why)
{
    if (c->state_at == target) return true;
    size_t *path = malloc(c->count * sizeof *path);
    if (path == NULL) {
        say(why, "out of memory");
        return false;
    }
    size_t n = 0;
    for (size_t i = target; i != 0; i = c->blocks[i].parent) {
        assert(i != NONE && n < c->count);
        path[n++] = i;
    }
    bool ok = reset_to_genesis(c, why);
    while (ok && n > 0) {
        size_t i = path[--n];
        struct block *b = NULL;
        struct cohort_error err = {0};
        struct why replay = {{0}};
        if (block_decode(c->blocks[i].rlp, c->blocks[i].rlp_len, 0, &b, &err) != 0) {
            say(why, "replaying block %zu: %s", i, err.message);
            ok = false;
        } else if (!execute(c, c->blocks[i].parent, b, &replay)) {
            say(why, "replaying block %zu: %s", i, replay.text);
            ok = false;
        } else {
            c->state_at = i;
        }
        block_free(b);
    }
    free(path);
    return ok;
}

/* Imports one block: its index in c->blocks, or NONE (why says why it was refused). */
static size_t import_block(struct chain *c, const uint8_t *rlp, size_t len, struct why *why)
{
    struct cohort_error err = {0};
    struct block *b = NULL;
    if (block_decode(rlp, len, 0, &b, &err) != 0) {
        say(why, "decode: %s", err.message);
        return NONE;
    }
    size_t parent = NONE;
    for (size_t i = 0; i < c->count && parent == NONE; i++)
        if (memcmp(c->blocks[i].hash, b->header.parent_hash, 32) == 0) parent = i;
    size_t index = NONE;
    if (parent == NONE) {
        say(why, "unknown parent");
    } else if (rebuild(c, parent, why) && execute(c, parent, b, why)) {
        if (chain_add(c, &b->header, parent, rlp, len) != 0) {
            say(why, "out of memory recording the block");
        } else {
            index = c->count - 1;
            c->state_at = index;
        }
    }
    block_free(b);
    return index;
}

/* The first account of postState that st disagrees with, for the failure line. */
static void describe_post_difference(const struct state *st, const cJSON *post, struct why *why)
{
    const cJSON *acc;
    cJSON_ArrayForEach (acc, post) {
        uint8_t address[20];
        u256 balance, nonce;
        if (hex_decode_exact(acc->string, address, 20, NULL) != 0 ||
            fixture_parse_u256(fixture_string(acc, "balance"), &balance, NULL) != 0 ||
            fixture_parse_u256(fixture_string(acc, "nonce"), &nonce, NULL) != 0)
            continue;
        char want[80], got[80];
        if (!state_exists(st, address)) {
            say(why, "post state: account %s missing", acc->string);
            return;
        }
        if (!u256_eq(balance, state_balance(st, address))) {
            u256_to_dec(balance, want, sizeof want);
            u256_to_dec(state_balance(st, address), got, sizeof got);
            say(why, "post state: %s balance (expected %s, got %s)", acc->string, want, got);
            return;
        }
        if (!u256_fits_u64(nonce) || nonce.w[0] != state_nonce(st, address)) {
            say(why, "post state: %s nonce (expected %llu, got %llu)", acc->string, (unsigned long long)nonce.w[0],
                (unsigned long long)state_nonce(st, address));
            return;
        }
        const cJSON *slot;
        cJSON_ArrayForEach (slot, cJSON_GetObjectItemCaseSensitive(acc, "storage")) {
            u256 key, value;
            if (fixture_parse_u256(slot->string, &key, NULL) != 0 ||
                fixture_parse_u256(slot->valuestring, &value, NULL) != 0)
                continue;
            if (!u256_eq(value, state_storage(st, address, key))) {
                say(why, "post state: %s storage %s (expected %s)", acc->string, slot->string, slot->valuestring);
                return;
            }
        }
    }
    say(why, "post state: the roots differ (code, or an account or slot the fixture does not list)");
}

/* Compares the state after the head with postState or postStateHash. */
static bool check_post(struct chain *c, const cJSON *test, struct why *why)
{
    struct cohort_error err = {0};
    uint8_t root[32], want[32];
    if (state_root(c->st, root, &err) != 0) {
        say(why, "state root: %s", err.message);
        return false;
    }
    const cJSON *post = cJSON_GetObjectItemCaseSensitive(test, "postState");
    const char *post_hash = fixture_string(test, "postStateHash");
    if (cJSON_IsObject(post)) {
        struct state *expected = state_new();
        bool ok = expected != NULL && fixture_load_accounts(expected, post, &err) == 0 &&
                  state_root(expected, want, &err) == 0;
        state_free(expected);
        if (!ok) {
            say(why, "fixture postState: %s", err.message);
            return false;
        }
        if (memcmp(root, want, 32) != 0) {
            describe_post_difference(c->st, post, why);
            return false;
        }
        return true;
    }
    if (post_hash == NULL || hex_decode_exact(post_hash, want, 32, &err) != 0) {
        say(why, "fixture has neither postState nor a valid postStateHash");
        return false;
    }
    return bytes_equal("post state root", want, root, 32, why);
}

/* Hex text to a new buffer (*out, freed by the caller), at most cap bytes. */
static bool hex_to_buffer(const char *text, size_t cap, uint8_t **out, size_t *len, struct why *why, const char *what)
{
    *out = NULL;
    size_t n = text != NULL ? strlen(text) : 0;
    if (text == NULL || n < 2) {
        say(why, "fixture %s: missing", what);
        return false;
    }
    if (n / 2 > cap + 1) {
        say(why, "fixture %s: over %zu bytes", what, cap);
        return false;
    }
    *out = malloc(n / 2 + 1);
    struct cohort_error err = {0};
    if (*out == NULL || hex_decode(text, *out, n / 2 + 1, len, &err) != 0) {
        say(why, "fixture %s: %s", what, *out == NULL ? "out of memory" : err.message);
        free(*out);
        *out = NULL;
        return false;
    }
    return true;
}

/* Runs one test; true when it passed, else why says what failed. */
static bool run_test(const cJSON *test, const struct blocktest_options *opts, const char *path, FILE *out,
                     size_t *blocks_done, struct why *why)
{
    struct chain c;
    memset(&c, 0, sizeof c);
    c.pre = cJSON_GetObjectItemCaseSensitive(test, "pre");
    bool ok = false;
    uint8_t *rlp = NULL;
    size_t rlp_len = 0;
    struct block *genesis = NULL;
    struct cohort_error err = {0};
    if (!cJSON_IsObject(c.pre)) {
        say(why, "fixture: no pre object");
        goto done;
    }
    if (!reset_to_genesis(&c, why)) goto done;

    /* The genesis: its RLP decodes, hashes to the fixture's hash, and holds pre's state root. */
    if (!hex_to_buffer(fixture_string(test, "genesisRLP"), BLOCK_RLP_MAX_BYTES, &rlp, &rlp_len, why, "genesisRLP"))
        goto done;
    if (block_decode(rlp, rlp_len, 0, &genesis, &err) != 0) {
        say(why, "genesis: %s", err.message);
        goto done;
    }
    uint8_t want_hash[32], pre_root[32];
    const char *genesis_hash = fixture_string(cJSON_GetObjectItemCaseSensitive(test, "genesisBlockHeader"), "hash");
    if (genesis_hash == NULL || hex_decode_exact(genesis_hash, want_hash, 32, &err) != 0) {
        say(why, "fixture genesisBlockHeader.hash missing or malformed");
        goto done;
    }
    if (chain_add(&c, &genesis->header, NONE, NULL, 0) != 0) {
        say(why, "out of memory");
        goto done;
    }
    if (!bytes_equal("genesis hash", want_hash, c.blocks[0].hash, 32, why)) goto done;
    if (state_root(c.st, pre_root, &err) != 0) {
        say(why, "pre state root: %s", err.message);
        goto done;
    }
    if (!bytes_equal("genesis state root (of pre)", genesis->header.state_root, pre_root, 32, why)) goto done;
    free(rlp);
    rlp = NULL;

    size_t head = 0, number = 0;
    const cJSON *blk;
    cJSON_ArrayForEach (blk, cJSON_GetObjectItemCaseSensitive(test, "blocks")) {
        number++;
        const char *expect = fixture_string(blk, "expectException");
        struct why block_why = {{0}};
        size_t index = NONE;
        if (hex_to_buffer(fixture_string(blk, "rlp"), BLOCK_RLP_MAX_BYTES, &rlp, &rlp_len, &block_why, "rlp"))
            index = import_block(&c, rlp, rlp_len, &block_why);
        free(rlp);
        rlp = NULL;
        if (expect != NULL && index != NONE) {
            say(why, "block %zu: imported, but expected it refused (%s)", number, expect);
            goto done;
        }
        if (expect == NULL && index == NONE) {
            say(why, "block %zu: refused: %s", number, block_why.text);
            goto done;
        }
        if (index != NONE) head = index;
        if (index == NONE && opts != NULL && opts->verbose)
            fprintf(out, "%s %s: block %zu refused as expected (%s): %s\n", path, test->string, number, expect,
                    block_why.text);
        (*blocks_done)++;
    }

    const char *last = fixture_string(test, "lastblockhash");
    uint8_t last_hash[32];
    if (last == NULL || hex_decode_exact(last, last_hash, 32, &err) != 0) {
        say(why, "fixture lastblockhash missing or malformed");
        goto done;
    }
    if (!bytes_equal("last block hash", last_hash, c.blocks[head].hash, 32, why)) goto done;
    if (!rebuild(&c, head, why)) goto done;
    ok = check_post(&c, test, why);
done:
    free(rlp);
    block_free(genesis);
    chain_free(&c);
    return ok;
}

int blocktest_run_file(const char *path, const struct blocktest_options *opts, struct blocktest_counts *counts,
                       FILE *out, struct cohort_error *err)
{
    assert(path != NULL && counts != NULL);
    counts->files++;
    char *text = fixture_read_file(path, BLOCKTEST_FILE_MAX, err);
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
        return cohort_error_set(err, STATETEST_E_FORMAT, DOMAIN, "%s: not a JSON object", path);
    }
    const cJSON *test;
    cJSON_ArrayForEach (test, doc) {
        const char *network = fixture_string(test, "network");
        if (network == NULL || strcmp(network, TEST_NETWORK) != 0) {
            counts->skipped++;
            continue;
        }
        struct why why = {{0}};
        if (run_test(test, opts, path, out, &counts->blocks, &why)) {
            counts->passed++;
        } else {
            counts->failed++;
            fprintf(out, "%s %s: %s\n", path, test->string, why.text);
        }
    }
    cJSON_Delete(doc);
    return 0;
}

/* ---- Many files, on workers (fixture.h) ---- */

struct run_arg {
    const struct blocktest_options *opts;
};

static void run_one_file(void *arg, const char *path, void *counts, FILE *out)
{
    const struct run_arg *ra = arg;
    struct cohort_error file_err = {0};
    blocktest_run_file(path, ra->opts, counts, out, &file_err);
}

static void merge_counts(void *total, const void *part)
{
    struct blocktest_counts *t = total;
    const struct blocktest_counts *p = part;
    t->passed += p->passed;
    t->failed += p->failed;
    t->skipped += p->skipped;
    t->blocks += p->blocks;
    t->files += p->files;
    t->file_errors += p->file_errors;
}

static void count_crash(void *total, const char *path)
{
    (void)path;
    ((struct blocktest_counts *)total)->failed++;
}

int blocktest_run_paths(const char *const *paths, size_t path_count, const struct blocktest_options *opts,
                        struct blocktest_counts *counts, FILE *out, struct cohort_error *err)
{
    struct fixture_paths files = {0};
    int rc = fixture_collect(paths, path_count, &files, err);
    if (rc == 0) {
        struct run_arg ra = {.opts = opts};
        unsigned jobs = opts != NULL && opts->jobs > 1 ? opts->jobs : 1;
        rc = fixture_run_files(files.items, files.count, jobs, run_one_file, &ra, counts, sizeof *counts, merge_counts,
                               count_crash, out, err);
    }
    fixture_paths_free(&files);
    return rc;
}
