/*
 * mpt_bench.c - the state root of a chain block with the incremental trie (subnode/state/
 * mpt.h) over LMDB: a state of N accounts (1,000,000 by default), then blocks that each
 * change K random accounts (1,000): how long the root takes per block and how many trie
 * nodes it reads and writes.
 *
 * The accounts are like real ones: the key is keccak256(address), the value the account's
 * RLP [nonce, balance, storageRoot, codeHash]; one in ten has a storage root and code hash
 * of its own (a contract), the rest the empty ones. A block raises each changed account's
 * nonce and moves its balance.
 *
 * The node store is a minimal LMDB one written here (the chain node's own store is
 * subnode/store/): one database, one write transaction per block (per batch while
 * building), committed after the root. The environment is opened with MDB_NOSYNC: the
 * commit does not wait for the disk, so commit_ms is the cost of LMDB's copy-on-write
 * pages, not of fsync (the chain node syncs once per block; see docs/PERFORMANCE.md).
 * The database's pages stay in the page cache during the run (warm).
 *
 * Prints, one line each:
 *   mpt_bench build accounts=N batch=B cache_mb=C build_ms=... nodes=... db_mb=...
 *   mpt_bench blocks=M changes=K cache_mb=C root_ms_median=... root_ms_p99=... root_ms_max=...
 *             root_cpu_ms_median=... root_cpu_ms_p99=... commit_ms_median=... commit_ms_p99=...
 *             reads_per_block=... writes_per_block=... deletes_per_block=...
 * root_ms is wall-clock time of mpt_update (LMDB reads and writes included); root_cpu_ms
 * the same thread's CPU time, which stays meaningful when other processes share the cores.
 *   mpt_bench verify root=0x... matches_trie_root=1
 *
 * The trie's node cache (mpt_set_cache_bytes) is C MiB (64 by default; 0 turns it off).
 *
 *   build/bench/mpt_bench [--accounts N] [--blocks M] [--changes K] [--batch B] [--cache-mb C] [--dir DIR]
 */
#include <errno.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/hex.h"
#include "common/keccak.h"
#include "common/rlp.h"
#include "subnode/state/mpt.h"
#include "subnode/state/trie.h"

#define ACCOUNT_RLP_MAX 128

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* CPU time of this thread: what the root costs even when other processes share the cores. */
static double cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double percentile(double *sorted, size_t n, double p)
{
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return sorted[i < n ? i : n - 1];
}

static uint64_t rng_state = 0x12345678;
static uint64_t rng_next(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* ---- The LMDB node store ---- */

struct lmdb_store {
    MDB_env *env;
    MDB_dbi dbi;
    MDB_txn *txn; /* the write transaction of the block being built */
    size_t gets, puts, dels;
};

static int lmdb_error(struct cohort_error *err, int rc, const char *what)
{
    return cohort_error_set(err, -1, "bench", "lmdb: %s: %s", what, mdb_strerror(rc));
}

static int ls_get(void *arg, const uint8_t *key, size_t key_len, const uint8_t **value, size_t *value_len,
                  struct cohort_error *err)
{
    struct lmdb_store *s = arg;
    s->gets++;
    MDB_val k = {key_len, (void *)key}, v;
    int rc = mdb_get(s->txn, s->dbi, &k, &v);
    if (rc == MDB_NOTFOUND) return 0;
    if (rc != 0) return lmdb_error(err, rc, "get");
    *value = v.mv_data;
    *value_len = v.mv_size;
    return 1;
}

static int ls_put(void *arg, const uint8_t *key, size_t key_len, const uint8_t *value, size_t value_len,
                  struct cohort_error *err)
{
    struct lmdb_store *s = arg;
    s->puts++;
    MDB_val k = {key_len, (void *)key}, v = {value_len, (void *)value};
    int rc = mdb_put(s->txn, s->dbi, &k, &v, 0);
    return rc == 0 ? 0 : lmdb_error(err, rc, "put");
}

static int ls_del(void *arg, const uint8_t *key, size_t key_len, struct cohort_error *err)
{
    struct lmdb_store *s = arg;
    s->dels++;
    MDB_val k = {key_len, (void *)key};
    int rc = mdb_del(s->txn, s->dbi, &k, NULL);
    return rc == 0 || rc == MDB_NOTFOUND ? 0 : lmdb_error(err, rc, "del");
}

static int ls_delete_prefix(void *arg, const uint8_t *prefix, size_t prefix_len, struct cohort_error *err)
{
    struct lmdb_store *s = arg;
    MDB_cursor *c;
    int rc = mdb_cursor_open(s->txn, s->dbi, &c);
    if (rc != 0) return lmdb_error(err, rc, "cursor");
    for (;;) {
        MDB_val k = {prefix_len, (void *)prefix}, v;
        rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); /* the first key >= prefix */
        if (rc != 0 || k.mv_size < prefix_len || memcmp(k.mv_data, prefix, prefix_len) != 0) break;
        rc = mdb_cursor_del(c, 0);
        if (rc != 0) break;
    }
    mdb_cursor_close(c);
    return rc == 0 || rc == MDB_NOTFOUND ? 0 : lmdb_error(err, rc, "delete_prefix");
}

static void die_lmdb(int rc, const char *what)
{
    fprintf(stderr, "mpt_bench: lmdb: %s: %s\n", what, mdb_strerror(rc));
    exit(1);
}

/* ---- Accounts ---- */

struct account {
    uint64_t nonce;
    uint64_t balance;
    bool contract;
};

static size_t account_rlp(const struct account *a, size_t index, uint8_t out[ACCOUNT_RLP_MAX])
{
    static const uint8_t empty_code_hash[32] = {0xc5, 0xd2, 0x46, 0x01, 0x86, 0xf7, 0x23, 0x3c, 0x92, 0x7e, 0x7d,
                                                0xb2, 0xdc, 0xc7, 0x03, 0xc0, 0xe5, 0x00, 0xb6, 0x53, 0xca, 0x82,
                                                0x27, 0x3b, 0x7b, 0xfa, 0xd8, 0x04, 0x5d, 0x85, 0xa4, 0x70};
    uint8_t storage_root[32], code_hash[32];
    memcpy(storage_root, trie_empty_root, 32);
    memcpy(code_hash, empty_code_hash, 32);
    if (a->contract) {
        uint8_t seed[9];
        memcpy(seed, &index, sizeof index < 8 ? sizeof index : 8);
        seed[8] = 1;
        keccak256(seed, sizeof seed, storage_root);
        seed[8] = 2;
        keccak256(seed, sizeof seed, code_hash);
    }
    struct rlp_buf buf;
    rlp_buf_init(&buf, ACCOUNT_RLP_MAX);
    size_t list = rlp_encode_list_begin(&buf);
    rlp_encode_u64(&buf, a->nonce);
    /* Balances in wei: about 10^18 times the counter, so 8 to 9 bytes as on a real chain. */
    u256 balance = u256_mul(u256_from_u64(a->balance), u256_from_u64(1000000000000000000ull));
    rlp_encode_u256(&buf, balance);
    rlp_encode_bytes(&buf, storage_root, 32);
    rlp_encode_bytes(&buf, code_hash, 32);
    rlp_encode_list_end(&buf, list);
    struct cohort_error err;
    if (rlp_buf_check(&buf, &err) != 0) {
        fprintf(stderr, "mpt_bench: %s\n", err.message);
        exit(1);
    }
    memcpy(out, buf.data, buf.len);
    size_t len = buf.len;
    rlp_buf_free(&buf);
    return len;
}

static void account_key(size_t index, uint8_t key[32])
{
    uint8_t address[20] = {0xc0, 0x40, 0x47};
    for (int i = 0; i < 8; i++) address[19 - i] = (uint8_t)(index >> (8 * i));
    keccak256(address, sizeof address, key);
}

static long parse_arg(const char *flag, const char *value, long lo, long hi)
{
    char *end = NULL;
    long v = value ? strtol(value, &end, 10) : 0;
    if (value == NULL || *end != '\0' || v < lo || v > hi) {
        fprintf(stderr, "mpt_bench: %s must be %ld..%ld\n", flag, lo, hi);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv)
{
    long accounts = 1000000, blocks = 200, changes_per_block = 1000, batch = 50000, cache_mb = 64;
    const char *dir_arg = NULL;
    for (int i = 1; i < argc; i += 2) { /* every option takes a value */
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(argv[i], "--accounts") == 0)
            accounts = parse_arg("--accounts", v, 1, 100000000);
        else if (strcmp(argv[i], "--blocks") == 0)
            blocks = parse_arg("--blocks", v, 1, 1000000);
        else if (strcmp(argv[i], "--changes") == 0)
            changes_per_block = parse_arg("--changes", v, 1, 1000000);
        else if (strcmp(argv[i], "--batch") == 0)
            batch = parse_arg("--batch", v, 1, 10000000);
        else if (strcmp(argv[i], "--cache-mb") == 0)
            cache_mb = parse_arg("--cache-mb", v, 0, 65536);
        else if (strcmp(argv[i], "--dir") == 0 && v != NULL)
            dir_arg = v;
        else {
            fprintf(stderr, "usage: mpt_bench [--accounts N] [--blocks M] [--changes K] [--batch B] [--cache-mb C] [--dir DIR]\n");
            return 2;
        }
    }
    if (changes_per_block > accounts) changes_per_block = accounts;

    char dir[512];
    if (dir_arg)
        snprintf(dir, sizeof dir, "%s", dir_arg);
    else
        snprintf(dir, sizeof dir, "/tmp/mpt_bench-%ld", (long)getpid());
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "mpt_bench: mkdir %s: %s\n", dir, strerror(errno));
        return 1;
    }

    struct lmdb_store s = {0};
    int rc = mdb_env_create(&s.env);
    if (rc != 0) die_lmdb(rc, "env_create");
    rc = mdb_env_set_mapsize(s.env, (size_t)64 << 30);
    if (rc != 0) die_lmdb(rc, "set_mapsize");
    rc = mdb_env_open(s.env, dir, MDB_NOSYNC, 0600);
    if (rc != 0) die_lmdb(rc, "env_open");
    rc = mdb_txn_begin(s.env, NULL, 0, &s.txn);
    if (rc != 0) die_lmdb(rc, "txn_begin");
    rc = mdb_dbi_open(s.txn, NULL, 0, &s.dbi);
    if (rc != 0) die_lmdb(rc, "dbi_open");
    rc = mdb_drop(s.txn, s.dbi, 0); /* a --dir reused from an earlier run starts empty */
    if (rc != 0) die_lmdb(rc, "drop");
    rc = mdb_txn_commit(s.txn);
    if (rc != 0) die_lmdb(rc, "txn_commit");
    struct mpt_store api = {.get = ls_get, .put = ls_put, .del = ls_del, .delete_prefix = ls_delete_prefix, .arg = &s};

    struct account *state = calloc((size_t)accounts, sizeof *state);
    uint8_t (*keys)[32] = malloc((size_t)accounts * 32);
    size_t max_changes = (size_t)(batch > changes_per_block ? batch : changes_per_block);
    struct mpt_change *changes = malloc(max_changes * sizeof *changes);
    uint8_t (*values)[ACCOUNT_RLP_MAX] = malloc(max_changes * ACCOUNT_RLP_MAX);
    uint32_t *chosen_in = calloc((size_t)accounts, sizeof *chosen_in);
    double *root_ms = malloc((size_t)blocks * sizeof *root_ms);
    double *commit_ms = malloc((size_t)blocks * sizeof *commit_ms);
    double *root_cpu_ms = malloc((size_t)blocks * sizeof *root_cpu_ms);
    struct mpt *m = mpt_new();
    struct cohort_error err = {0};
    if (!state || !keys || !changes || !values || !chosen_in || !root_ms || !commit_ms || !root_cpu_ms || !m ||
        mpt_set_cache_bytes(m, (size_t)cache_mb << 20, &err) != 0) {
        fprintf(stderr, "mpt_bench: out of memory\n");
        return 1;
    }
    for (long i = 0; i < accounts; i++) {
        account_key((size_t)i, keys[i]);
        state[i] = (struct account){.nonce = rng_next() % 100, .balance = 1 + rng_next() % 1000000,
                                    .contract = rng_next() % 10 == 0};
    }

    /* Build: the accounts in batches, one write transaction each. */
    uint8_t root[32];
    double t0 = now_ms();
    for (long at = 0; at < accounts; at += batch) {
        long n = accounts - at < batch ? accounts - at : batch;
        rc = mdb_txn_begin(s.env, NULL, 0, &s.txn);
        if (rc != 0) die_lmdb(rc, "txn_begin");
        for (long i = 0; i < n; i++) {
            memcpy(changes[i].key, keys[at + i], 32);
            changes[i].value_len = account_rlp(&state[at + i], (size_t)(at + i), values[i]);
            changes[i].value = values[i];
        }
        if (mpt_update(m, &api, NULL, 0, changes, (size_t)n, root, &err) != 0) {
            fprintf(stderr, "mpt_bench: build: %s\n", err.message);
            return 1;
        }
        rc = mdb_txn_commit(s.txn);
        if (rc != 0) die_lmdb(rc, "txn_commit");
    }
    double build_ms = now_ms() - t0;
    MDB_stat st;
    MDB_envinfo info;
    rc = mdb_txn_begin(s.env, NULL, MDB_RDONLY, &s.txn);
    if (rc != 0) die_lmdb(rc, "txn_begin");
    mdb_stat(s.txn, s.dbi, &st);
    mdb_env_info(s.env, &info);
    mdb_txn_abort(s.txn);
    printf("mpt_bench build accounts=%ld batch=%ld cache_mb=%ld build_ms=%.0f nodes=%zu db_mb=%.0f\n", accounts, batch, cache_mb, build_ms,
           (size_t)st.ms_entries, (double)(info.me_last_pgno + 1) * st.ms_psize / 1e6);
    fflush(stdout);

    /* Blocks: K distinct random accounts each, nonce + 1 and a new balance. */
    size_t gets = 0, puts = 0, dels = 0;
    for (long b = 0; b < blocks; b++) {
        size_t n = 0;
        while (n < (size_t)changes_per_block) {
            size_t i = (size_t)(rng_next() % (uint64_t)accounts);
            if (chosen_in[i] == (uint32_t)b + 1) continue;
            chosen_in[i] = (uint32_t)b + 1;
            state[i].nonce++;
            state[i].balance = state[i].balance * 3 / 4 + rng_next() % 1000;
            memcpy(changes[n].key, keys[i], 32);
            changes[n].value_len = account_rlp(&state[i], i, values[n]);
            changes[n].value = values[n];
            n++;
        }
        s.gets = s.puts = s.dels = 0;
        rc = mdb_txn_begin(s.env, NULL, 0, &s.txn);
        if (rc != 0) die_lmdb(rc, "txn_begin");
        double c1 = cpu_ms();
        double t1 = now_ms();
        if (mpt_update(m, &api, NULL, 0, changes, n, root, &err) != 0) {
            fprintf(stderr, "mpt_bench: block %ld: %s\n", b, err.message);
            return 1;
        }
        double t2 = now_ms();
        root_cpu_ms[b] = cpu_ms() - c1;
        rc = mdb_txn_commit(s.txn);
        if (rc != 0) die_lmdb(rc, "txn_commit");
        double t3 = now_ms();
        root_ms[b] = t2 - t1;
        commit_ms[b] = t3 - t2;
        gets += s.gets;
        puts += s.puts;
        dels += s.dels;
    }
    qsort(root_ms, (size_t)blocks, sizeof *root_ms, cmp_double);
    qsort(commit_ms, (size_t)blocks, sizeof *commit_ms, cmp_double);
    qsort(root_cpu_ms, (size_t)blocks, sizeof *root_cpu_ms, cmp_double);
    printf("mpt_bench blocks=%ld changes=%ld cache_mb=%ld root_ms_median=%.2f root_ms_p99=%.2f root_ms_max=%.2f "
           "root_cpu_ms_median=%.2f root_cpu_ms_p99=%.2f commit_ms_median=%.2f commit_ms_p99=%.2f reads_per_block=%.0f writes_per_block=%.0f "
           "deletes_per_block=%.0f\n",
           blocks, changes_per_block, cache_mb, percentile(root_ms, (size_t)blocks, 0.5), percentile(root_ms, (size_t)blocks, 0.99),
           root_ms[blocks - 1], percentile(root_cpu_ms, (size_t)blocks, 0.5),
           percentile(root_cpu_ms, (size_t)blocks, 0.99), percentile(commit_ms, (size_t)blocks, 0.5), percentile(commit_ms, (size_t)blocks, 0.99),
           (double)gets / (double)blocks, (double)puts / (double)blocks, (double)dels / (double)blocks);
    fflush(stdout);

    /* The incremental root against the all-at-once root of the final state. */
    struct trie_entry *entries = malloc((size_t)accounts * sizeof *entries);
    uint8_t (*final_values)[ACCOUNT_RLP_MAX] = malloc((size_t)accounts * ACCOUNT_RLP_MAX);
    if (!entries || !final_values) {
        fprintf(stderr, "mpt_bench: out of memory\n");
        return 1;
    }
    for (long i = 0; i < accounts; i++) {
        size_t len = account_rlp(&state[i], (size_t)i, final_values[i]);
        entries[i] = (struct trie_entry){keys[i], 32, final_values[i], len};
    }
    uint8_t want[32];
    if (trie_root(entries, (size_t)accounts, want, &err) != 0) {
        fprintf(stderr, "mpt_bench: trie_root: %s\n", err.message);
        return 1;
    }
    char hex[67];
    hex_encode(root, 32, hex, sizeof hex);
    int same = memcmp(root, want, 32) == 0;
    printf("mpt_bench verify root=%s matches_trie_root=%d\n", hex, same);

    mpt_free(m);
    mdb_env_close(s.env);
    if (dir_arg == NULL) {
        char path[600];
        snprintf(path, sizeof path, "%s/data.mdb", dir);
        unlink(path);
        snprintf(path, sizeof path, "%s/lock.mdb", dir);
        unlink(path);
        rmdir(dir);
    }
    free(entries);
    free(final_values);
    free(state);
    free(keys);
    free(changes);
    free(values);
    free(chosen_in);
    free(root_ms);
    free(commit_ms);
    free(root_cpu_ms);
    return same ? 0 : 1;
}
