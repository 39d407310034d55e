/*
 * store.c - the chain store's environment, views, blocks, receipts and log index (the
 * tables are drawn in store.h; accounts, storage, tries and history are in store_state.c).
 *
 * Receipts are kept in the store's own layout, one record per block, with an offset table
 * so the i-th receipt is found without walking the ones before it:
 *
 *   count u32 | offset u32 [count] | receipt*
 *   receipt = type u8 | success u8 | cumulative_gas u64 | gas_used u64 | effective_gas_price 32
 *             | has_contract u8 | contract 20 | log_count u32 | log*
 *   log     = address 20 | topic_count u8 | topic 32 [topic_count] | data_len u32 | data
 *
 * The bloom is not stored: it is recomputed from the logs when a receipt is read (256 bytes
 * a transaction saved on disk; the header keeps the block's bloom).
 *
 * Bodies are count u32 | (len u32 | raw transaction)*.
 */
#include "subnode/store/store_internal.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "common/bytes.h"
#include "common/keccak.h"
#include "common/log.h"

static const char *const table_names[T_COUNT] = {
    [T_META] = "meta",
    [T_ACCOUNTS] = "accounts",
    [T_STORAGE] = "storage",
    [T_CODE] = "code",
    [T_TRIE_ACCOUNTS] = "trie_accounts",
    [T_TRIE_STORAGE] = "trie_storage",
    [T_HEADERS] = "headers",
    [T_BLOCK_HASHES] = "block_hashes",
    [T_BODIES] = "bodies",
    [T_RECEIPTS] = "receipts",
    [T_TX_INDEX] = "tx_index",
    [T_LOG_ADDRESS] = "log_address",
    [T_HIST_ACCOUNTS] = "history_accounts",
    [T_HIST_STORAGE] = "history_storage",
};

const char *store_strerror(int code)
{
    switch (code) {
    case STORE_OK: return "ok";
    case STORE_E_IO: return "storage I/O failed";
    case STORE_E_CORRUPT: return "corrupt record in the store";
    case STORE_E_FULL: return "the store is full (disk budget or disk)";
    case STORE_E_PRUNED: return "state at that block is pruned";
    case STORE_E_INVALID: return "invalid argument";
    case STORE_E_NOMEM: return "out of memory";
    case STORE_E_MISMATCH: return "the store belongs to another chain";
    default: return "unknown store error";
    }
}

int store_lmdb_error(struct cohort_error *err, int rc, const char *what)
{
    int code = rc == MDB_MAP_FULL || rc == ENOSPC ? STORE_E_FULL : rc == ENOMEM ? STORE_E_NOMEM : STORE_E_IO;
    const char *hint = code == STORE_E_FULL ? " (raise the chain's disk budget or free disk space)" : "";
    return cohort_error_set(err, code, "store", "store: %s: %s%s", what, mdb_strerror(rc), hint);
}

void store_put_u64(uint8_t out[8], uint64_t v) { be_put(out, v, 8); }
uint64_t store_get_u64(const uint8_t in[8]) { return be_get(in, 8); }

static MDB_val val(const void *data, size_t len) { return (MDB_val){.mv_size = len, .mv_data = (void *)data}; }

/* ---- Opening ---- */

/*
 * Version 1 kept the history keyed key first (hist_accounts address|number, hist_storage
 * address|slot|number, and hist_by_block listing each block's keys for pruning) and an
 * index of log topics. Rewrites the history block first and drops the rest, all in the
 * opening transaction: a crash midway leaves version 1 whole.
 */
static int migrate_from_1(struct store *s, MDB_txn *txn)
{
    static const struct {
        const char *name;
        size_t key_len; /* without the block number */
        enum store_table to;
    } history[] = {{"hist_accounts", 20, T_HIST_ACCOUNTS}, {"hist_storage", 52, T_HIST_STORAGE}};
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < sizeof history / sizeof history[0]; i++) {
        MDB_dbi old;
        rc = mdb_dbi_open(txn, history[i].name, 0, &old);
        if (rc == MDB_NOTFOUND) {
            rc = 0;
            continue;
        }
        MDB_cursor *c = NULL;
        if (rc == 0) rc = mdb_cursor_open(txn, old, &c);
        MDB_val k, v;
        if (rc == 0) rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
        while (rc == 0) {
            size_t len = history[i].key_len;
            if (k.mv_size != len + 8) {
                rc = MDB_CORRUPTED;
                break;
            }
            uint8_t nk[60];
            memcpy(nk, (const uint8_t *)k.mv_data + len, 8);
            memcpy(nk + 8, k.mv_data, len);
            MDB_val nkv = val(nk, len + 8);
            rc = mdb_put(txn, s->dbi[history[i].to], &nkv, &v, 0);
            if (rc == 0) rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
        }
        if (c) mdb_cursor_close(c);
        if (rc == MDB_NOTFOUND) rc = 0;
        if (rc == 0) rc = mdb_drop(txn, old, 1);
    }
    static const struct {
        const char *name;
        unsigned flags;
    } gone[] = {{"hist_by_block", 0}, {"log_topic", MDB_DUPSORT | MDB_DUPFIXED}};
    for (size_t i = 0; rc == 0 && i < sizeof gone / sizeof gone[0]; i++) {
        MDB_dbi old;
        rc = mdb_dbi_open(txn, gone[i].name, gone[i].flags, &old);
        if (rc == 0) rc = mdb_drop(txn, old, 1);
        else if (rc == MDB_NOTFOUND) rc = 0;
    }
    return rc;
}

int store_open(const struct store_options *options, struct store **out, struct cohort_error *err)
{
    *out = NULL;
    if (options->dir == NULL || options->map_bytes < (1u << 20))
        return cohort_error_set(err, STORE_E_INVALID, "store", "store: a folder and a map of at least 1 MiB are needed");
    if (mkdir(options->dir, 0700) != 0 && errno != EEXIST)
        return cohort_error_errno(err, STORE_E_IO, "store", errno, "store: create %s", options->dir);
    struct store *s = calloc(1, sizeof *s);
    if (s == NULL) return cohort_error_set(err, STORE_E_NOMEM, "store", "store: out of memory");
    s->history_blocks = options->history_blocks ? options->history_blocks : STORE_HISTORY_BLOCKS_DEFAULT;
    s->map_bytes = options->map_bytes;
    s->export_behind_max = options->export_behind_max ? options->export_behind_max : STORE_EXPORT_BEHIND_MAX;
    int rc = mdb_env_create(&s->env);
    if (rc == 0) rc = mdb_env_set_maxdbs(s->env, T_COUNT + 4); /* + version 1's tables, to migrate them */
    if (rc == 0) rc = mdb_env_set_maxreaders(s->env, 512);
    if (rc == 0) rc = mdb_env_set_mapsize(s->env, (size_t)options->map_bytes);
    unsigned flags = MDB_NOTLS | MDB_NORDAHEAD | (options->sync_meta ? 0 : MDB_NOMETASYNC);
    if (rc == 0) rc = mdb_env_open(s->env, options->dir, flags, 0600);
    if (rc != 0) {
        store_lmdb_error(err, rc, "open the database");
        cohort_error_wrap(err, "in %s", options->dir);
        if (s->env) mdb_env_close(s->env);
        free(s);
        return err ? err->code : STORE_E_IO;
    }
    MDB_txn *txn;
    rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    for (int i = 0; rc == 0 && i < T_COUNT; i++) {
        unsigned dflags = MDB_CREATE | (i == T_LOG_ADDRESS ? MDB_DUPSORT | MDB_DUPFIXED : 0);
        rc = mdb_dbi_open(txn, table_names[i], dflags, &s->dbi[i]);
    }
    /* The version: written on a new store, checked on an old one. */
    uint8_t version[4];
    be_put(version, STORE_VERSION, 4);
    MDB_val k = val("version", 7), v;
    int got = rc == 0 ? mdb_get(txn, s->dbi[T_META], &k, &v) : rc;
    bool migrate = rc == 0 && got == 0 && v.mv_size == 4 && be_get(v.mv_data, 4) == 1;
    if (migrate) {
        rc = migrate_from_1(s, txn);
        if (rc != 0) {
            mdb_txn_abort(txn);
            mdb_env_close(s->env);
            free(s);
            int code = store_lmdb_error(err, rc, "rewrite the history of a version 1 store");
            cohort_error_wrap(err, "in %s", options->dir);
            return code;
        }
        log_info("store migrated from version 1", "dir=%s version=%u", options->dir, STORE_VERSION);
    }
    if (rc == 0 && (got == MDB_NOTFOUND || migrate)) {
        MDB_val nv = val(version, 4);
        rc = mdb_put(txn, s->dbi[T_META], &k, &nv, 0);
    } else if (rc == 0 && got == 0 && (v.mv_size != 4 || be_get(v.mv_data, 4) != STORE_VERSION)) {
        mdb_txn_abort(txn);
        mdb_env_close(s->env);
        free(s);
        return cohort_error_set(err, STORE_E_CORRUPT, "store",
                                "store: %s holds a database of another version (this subnode reads version %u): "
                                "move it away to start the chain's state afresh",
                                options->dir, STORE_VERSION);
    } else if (rc == 0 && got != 0) {
        rc = got;
    }
    /* An import that did not finish left part of a state: empty it (the transfer starts again). */
    MDB_val ik = val("importing", 9), iv;
    if (rc == 0 && mdb_get(txn, s->dbi[T_META], &ik, &iv) == 0) {
        for (int i = 0; rc == 0 && i < T_COUNT; i++)
            if (i != T_META) rc = mdb_drop(txn, s->dbi[i], 0);
        static const char *const gone[] = {"head", "applied", "base", "state_base", "importing", "pruned"};
        for (size_t i = 0; rc == 0 && i < sizeof gone / sizeof gone[0]; i++) {
            MDB_val gk = val(gone[i], strlen(gone[i]));
            rc = mdb_del(txn, s->dbi[T_META], &gk, NULL);
            if (rc == MDB_NOTFOUND) rc = 0;
        }
        s->import_discarded = true;
    }
    if (rc == 0) rc = mdb_txn_commit(txn);
    else mdb_txn_abort(txn);
    if (rc != 0) {
        store_lmdb_error(err, rc, "open the tables");
        mdb_env_close(s->env);
        free(s);
        return err ? err->code : STORE_E_IO;
    }
    pthread_mutex_init(&s->hold_lock, NULL);
    *out = s;
    return 0;
}

bool store_import_discarded(const struct store *s) { return s->import_discarded; }

void store_close(struct store *s)
{
    if (s == NULL) return;
    mdb_env_close(s->env);
    pthread_mutex_destroy(&s->hold_lock);
    free(s);
}

void store_usage(struct store *s, uint64_t *used_bytes, uint64_t *map_bytes)
{
    MDB_envinfo info;
    MDB_stat st;
    mdb_env_info(s->env, &info);
    mdb_env_stat(s->env, &st);
    *used_bytes = (uint64_t)(info.me_last_pgno + 1) * st.ms_psize;
    *map_bytes = s->map_bytes;
}

bool store_read_head(struct store *s, MDB_txn *txn, uint64_t *number, uint8_t hash[32])
{
    MDB_val k = val("head", 4), v;
    if (mdb_get(txn, s->dbi[T_META], &k, &v) != 0 || v.mv_size != 40) return false;
    *number = store_get_u64(v.mv_data);
    if (hash) memcpy(hash, (const uint8_t *)v.mv_data + 8, 32);
    return true;
}

int store_applied(struct store *s, uint64_t *bft_index, struct cohort_error *err)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
    if (rc != 0) return store_lmdb_error(err, rc, "begin a read");
    MDB_val k = val("applied", 7), v;
    rc = mdb_get(txn, s->dbi[T_META], &k, &v);
    *bft_index = rc == 0 && v.mv_size == 8 ? store_get_u64(v.mv_data) : 0;
    mdb_txn_abort(txn);
    return rc == 0 || rc == MDB_NOTFOUND ? 0 : store_lmdb_error(err, rc, "read the applied index");
}

/* ---- Views ---- */

int store_view_begin(struct store *s, struct store_view **out, struct cohort_error *err)
{
    *out = NULL;
    struct store_view *v = calloc(1, sizeof *v);
    if (v == NULL) return cohort_error_set(err, STORE_E_NOMEM, "store", "store: out of memory");
    int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &v->txn);
    if (rc != 0) {
        free(v);
        return store_lmdb_error(err, rc, "begin a read view");
    }
    v->s = s;
    v->has_head = store_read_head(s, v->txn, &v->head, v->head_hash);
    MDB_val bk = val("base", 4), bv;
    if (mdb_get(v->txn, s->dbi[T_META], &bk, &bv) == 0 && bv.mv_size == 8) v->base = store_get_u64(bv.mv_data);
    MDB_val sk = val("state_base", 10), sv;
    if (mdb_get(v->txn, s->dbi[T_META], &sk, &sv) == 0 && sv.mv_size == 8) v->state_base = store_get_u64(sv.mv_data);
    MDB_val pk = val("pruned", 6), pv;
    if (mdb_get(v->txn, s->dbi[T_META], &pk, &pv) == 0 && pv.mv_size == 8) {
        v->has_pruned = true;
        v->pruned = store_get_u64(pv.mv_data);
    }
    *out = v;
    return 0;
}

void store_view_end(struct store_view *v)
{
    if (v == NULL) return;
    mdb_txn_abort(v->txn);
    free(v);
}

bool store_view_head(const struct store_view *v, uint64_t *number, uint8_t hash[32])
{
    if (!v->has_head) return false;
    *number = v->head;
    if (hash) memcpy(hash, v->head_hash, 32);
    return true;
}

uint64_t store_view_oldest_state(const struct store_view *v)
{
    if (!v->has_head) return 0;
    /* A read at M needs the history of the blocks after M (store_state.c): M = the last block
       pruned (meta "pruned"; a store written before it was kept pruned head - history_blocks). */
    uint64_t oldest = v->has_pruned ? v->pruned : v->head > v->s->history_blocks ? v->head - v->s->history_blocks : 0;
    return oldest > v->state_base ? oldest : v->state_base;
}

uint64_t store_view_base(const struct store_view *v) { return v->base; }

/* Gets key from table: 1 found, 0 absent, negative on failure. */
static int get(MDB_txn *txn, MDB_dbi dbi, const void *key, size_t key_len, MDB_val *out, struct cohort_error *err,
               const char *what)
{
    MDB_val k = val(key, key_len);
    int rc = mdb_get(txn, dbi, &k, out);
    if (rc == MDB_NOTFOUND) return 0;
    if (rc != 0) return store_lmdb_error(err, rc, what);
    return 1;
}

int store_block_number(struct store_view *v, const uint8_t hash[32], uint64_t *number, struct cohort_error *err)
{
    MDB_val out;
    int rc = get(v->txn, v->s->dbi[T_BLOCK_HASHES], hash, 32, &out, err, "read block_hashes");
    if (rc != 1) return rc;
    if (out.mv_size != 8)
        return cohort_error_set(err, STORE_E_CORRUPT, "store", "store: block_hashes record of %zu bytes", out.mv_size);
    *number = store_get_u64(out.mv_data);
    return 1;
}

int store_header(struct store_view *v, uint64_t number, struct block_header *out, uint8_t hash[32],
                 struct cohort_error *err)
{
    if (number < v->base) return 0; /* before an import: only the hash is kept (store_block_hash) */
    uint8_t key[8];
    store_put_u64(key, number);
    MDB_val rec;
    int rc = get(v->txn, v->s->dbi[T_HEADERS], key, 8, &rec, err, "read headers");
    if (rc != 1) return rc;
    if (rec.mv_size < 33)
        return cohort_error_set(err, STORE_E_CORRUPT, "store", "store: header %llu: %zu bytes",
                                (unsigned long long)number, rec.mv_size);
    if (hash) memcpy(hash, rec.mv_data, 32);
    if (out && block_header_decode((const uint8_t *)rec.mv_data + 32, rec.mv_size - 32, out, err) != 0) {
        cohort_error_wrap(err, "store: header %llu", (unsigned long long)number);
        if (err) err->code = STORE_E_CORRUPT;
        return STORE_E_CORRUPT;
    }
    return 1;
}

/* The hash of block number from its headers record, through txn: 1, 0 absent, or negative. */
static int header_hash(struct store *s, MDB_txn *txn, uint64_t number, uint8_t hash[32], struct cohort_error *err)
{
    uint8_t key[8];
    store_put_u64(key, number);
    MDB_val rec;
    int rc = get(txn, s->dbi[T_HEADERS], key, 8, &rec, err, "read headers");
    if (rc != 1) return rc;
    if (rec.mv_size < 32)
        return cohort_error_set(err, STORE_E_CORRUPT, "store", "store: header %llu: %zu bytes", (unsigned long long)number,
                                rec.mv_size);
    memcpy(hash, rec.mv_data, 32);
    return 1;
}

int store_block_hash(struct store_view *v, uint64_t number, uint8_t hash[32], struct cohort_error *err)
{
    return header_hash(v->s, v->txn, number, hash, err);
}

/* The body of block number: 1 with the record, 0 when absent. */
static int body(struct store_view *v, uint64_t number, MDB_val *rec, uint32_t *count, struct cohort_error *err)
{
    uint8_t key[8];
    store_put_u64(key, number);
    int rc = get(v->txn, v->s->dbi[T_BODIES], key, 8, rec, err, "read bodies");
    if (rc != 1) return rc;
    if (rec->mv_size < 4)
        return cohort_error_set(err, STORE_E_CORRUPT, "store", "store: body %llu: %zu bytes", (unsigned long long)number,
                                rec->mv_size);
    *count = (uint32_t)be_get(rec->mv_data, 4);
    return 1;
}

int store_block_tx_count(struct store_view *v, uint64_t number, uint32_t *count, struct cohort_error *err)
{
    MDB_val rec;
    return body(v, number, &rec, count, err);
}

int store_block_tx(struct store_view *v, uint64_t number, uint32_t index, const uint8_t **raw, size_t *raw_len,
                   struct cohort_error *err)
{
    MDB_val rec;
    uint32_t count;
    int rc = body(v, number, &rec, &count, err);
    if (rc != 1) return rc;
    if (index >= count) return 0;
    const uint8_t *p = rec.mv_data, *end = p + rec.mv_size;
    p += 4;
    for (uint32_t i = 0;; i++) {
        if (end - p < 4) break;
        uint32_t len = (uint32_t)be_get(p, 4);
        p += 4;
        if ((size_t)(end - p) < len) break;
        if (i == index) {
            *raw = p;
            *raw_len = len;
            return 1;
        }
        p += len;
    }
    return cohort_error_set(err, STORE_E_CORRUPT, "store", "store: body %llu: truncated before transaction %u",
                            (unsigned long long)number, index);
}

int store_tx_location(struct store_view *v, const uint8_t tx_hash[32], uint64_t *number, uint32_t *index,
                      struct cohort_error *err)
{
    MDB_val rec;
    int rc = get(v->txn, v->s->dbi[T_TX_INDEX], tx_hash, 32, &rec, err, "read tx_index");
    if (rc != 1) return rc;
    if (rec.mv_size != 12)
        return cohort_error_set(err, STORE_E_CORRUPT, "store", "store: tx_index record of %zu bytes", rec.mv_size);
    *number = store_get_u64(rec.mv_data);
    *index = (uint32_t)be_get((const uint8_t *)rec.mv_data + 8, 4);
    return 1;
}

/* ---- Receipts ---- */

/* Decodes one receipt at r; logs malloc'd into out (NULL when there are none). */
static int decode_receipt(struct store_reader *r, struct block_receipt *out, uint32_t *log_count_out)
{
    memset(out, 0, sizeof *out);
    out->type = (uint8_t)store_take_uint(r, 1);
    out->success = store_take_uint(r, 1) != 0;
    out->cumulative_gas_used = store_take_uint(r, 8);
    out->gas_used = store_take_uint(r, 8);
    const uint8_t *price = store_take(r, 32);
    if (price) out->effective_gas_price = u256_load_be(price);
    out->has_contract_address = store_take_uint(r, 1) != 0;
    const uint8_t *contract = store_take(r, 20);
    if (contract) memcpy(out->contract_address, contract, 20);
    uint32_t logs = (uint32_t)store_take_uint(r, 4);
    if (r->bad || logs > (size_t)(r->end - r->p) / 25) return -1; /* a log takes at least 25 bytes */
    *log_count_out = logs;
    if (logs == 0) return 0;
    out->logs = calloc(logs, sizeof *out->logs);
    if (out->logs == NULL) return -2;
    for (uint32_t i = 0; i < logs; i++) {
        struct block_log *l = &out->logs[i];
        const uint8_t *address = store_take(r, 20);
        if (address) memcpy(l->address, address, 20);
        l->topic_count = (unsigned)store_take_uint(r, 1);
        if (l->topic_count > 4) r->bad = true;
        for (unsigned t = 0; t < l->topic_count && !r->bad; t++) {
            const uint8_t *topic = store_take(r, 32);
            if (topic) memcpy(l->topics[t], topic, 32);
        }
        l->data_len = store_take_uint(r, 4);
        l->data = store_take(r, l->data_len);
        if (r->bad) break;
    }
    out->log_count = logs;
    if (r->bad) return -1;
    block_bloom_of_logs(out->bloom, out->logs, out->log_count);
    return 0;
}

/* Skips one receipt, counting its logs. */
static void skip_receipt(struct store_reader *r, uint32_t *logs)
{
    store_take(r, 1 + 1 + 8 + 8 + 32 + 1 + 20);
    uint32_t n = (uint32_t)store_take_uint(r, 4);
    for (uint32_t i = 0; i < n && !r->bad; i++) {
        store_take(r, 20);
        unsigned topics = (unsigned)store_take_uint(r, 1);
        store_take(r, (size_t)topics * 32);
        store_take(r, store_take_uint(r, 4));
    }
    *logs += n;
}

static int receipts_record(struct store_view *v, uint64_t number, MDB_val *rec, uint32_t *count,
                           struct cohort_error *err)
{
    uint8_t key[8];
    store_put_u64(key, number);
    int rc = get(v->txn, v->s->dbi[T_RECEIPTS], key, 8, rec, err, "read receipts");
    if (rc != 1) return rc;
    if (rec->mv_size < 4 || (rec->mv_size - 4) / 4 < be_get(rec->mv_data, 4))
        return cohort_error_set(err, STORE_E_CORRUPT, "store", "store: receipts of block %llu: bad count",
                                (unsigned long long)number);
    *count = (uint32_t)be_get(rec->mv_data, 4);
    return 1;
}

int store_receipt(struct store_view *v, uint64_t number, uint32_t index, struct block_receipt *out,
                  uint32_t *first_log_index, struct cohort_error *err)
{
    MDB_val rec;
    uint32_t count;
    int rc = receipts_record(v, number, &rec, &count, err);
    if (rc != 1) return rc;
    if (index >= count) return 0;
    const uint8_t *base = rec.mv_data;
    /* The block-wide index of its first log: the logs of the receipts before it. */
    uint32_t logs_before = 0;
    struct store_reader r = {.p = base + 4 + 4 * (size_t)count, .end = base + rec.mv_size};
    for (uint32_t i = 0; i < index && !r.bad; i++) skip_receipt(&r, &logs_before);
    uint32_t offset = (uint32_t)be_get(base + 4 + 4 * (size_t)index, 4);
    if (r.bad || offset > rec.mv_size || r.p != base + offset)
        return cohort_error_set(err, STORE_E_CORRUPT, "store", "store: receipts of block %llu: bad offset of %u",
                                (unsigned long long)number, index);
    uint32_t logs;
    rc = decode_receipt(&r, out, &logs);
    if (rc == -2) return cohort_error_set(err, STORE_E_NOMEM, "store", "store: out of memory");
    if (rc != 0) {
        store_receipt_free(out);
        return cohort_error_set(err, STORE_E_CORRUPT, "store", "store: receipt %u of block %llu does not decode", index,
                                (unsigned long long)number);
    }
    if (first_log_index) *first_log_index = logs_before;
    return 1;
}

void store_receipt_free(struct block_receipt *receipt)
{
    if (receipt == NULL) return;
    free(receipt->logs);
    receipt->logs = NULL;
    receipt->log_count = 0;
}

int store_receipts_decode(const uint8_t *rec, size_t len, struct block_receipt **out, size_t *count,
                          struct cohort_error *err)
{
    *out = NULL;
    *count = 0;
    if (len < 4 || (len - 4) / 4 < be_get(rec, 4))
        return cohort_error_set(err, STORE_E_CORRUPT, "store", "a receipts record of %zu bytes with a bad count", len);
    size_t n = (size_t)be_get(rec, 4);
    struct block_receipt *receipts = calloc(n ? n : 1, sizeof *receipts);
    if (receipts == NULL) return cohort_error_set(err, STORE_E_NOMEM, "store", "store: out of memory");
    struct store_reader r = {.p = rec + 4 + 4 * n, .end = rec + len};
    for (size_t i = 0; i < n; i++) {
        uint32_t logs;
        if (r.p != rec + be_get(rec + 4 + 4 * i, 4) || decode_receipt(&r, &receipts[i], &logs) != 0) {
            store_receipts_free(receipts, i + 1);
            return cohort_error_set(err, STORE_E_CORRUPT, "store", "receipt %zu of a receipts record does not decode", i);
        }
    }
    if (r.p != r.end) {
        store_receipts_free(receipts, n);
        return cohort_error_set(err, STORE_E_CORRUPT, "store", "bytes follow the last receipt of a receipts record");
    }
    *out = receipts;
    *count = n;
    return 0;
}

void store_receipts_free(struct block_receipt *receipts, size_t count)
{
    if (receipts == NULL) return;
    for (size_t i = 0; i < count; i++) free(receipts[i].logs);
    free(receipts);
}

/* ---- Logs ---- */

struct numbers {
    uint64_t *v;
    size_t len, cap;
};

static int numbers_push(struct numbers *n, uint64_t x)
{
    if (n->len == n->cap) {
        size_t cap = n->cap ? n->cap * 2 : 64;
        uint64_t *p = realloc(n->v, cap * sizeof *p);
        if (p == NULL) return -1;
        n->v = p;
        n->cap = cap;
    }
    n->v[n->len++] = x;
    return 0;
}

static int compare_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Sorts and removes duplicates. */
static void numbers_unique(struct numbers *n)
{
    if (n->len < 2) return;
    qsort(n->v, n->len, sizeof *n->v, compare_u64);
    size_t w = 1;
    for (size_t i = 1; i < n->len; i++)
        if (n->v[i] != n->v[w - 1]) n->v[w++] = n->v[i];
    n->len = w;
}

/* Adds to out the blocks in [from, to] that the DUPSORT index lists under key. */
static int index_blocks(struct store_view *v, MDB_dbi dbi, const uint8_t *key, size_t key_len, uint64_t from,
                        uint64_t to, struct numbers *out, struct cohort_error *err)
{
    MDB_cursor *c;
    int rc = mdb_cursor_open(v->txn, dbi, &c);
    if (rc != 0) return store_lmdb_error(err, rc, "open a log index cursor");
    uint8_t start[8];
    store_put_u64(start, from);
    MDB_val k = val(key, key_len), d = val(start, 8);
    rc = mdb_cursor_get(c, &k, &d, MDB_GET_BOTH_RANGE);
    while (rc == 0) {
        if (d.mv_size != 8) {
            mdb_cursor_close(c);
            return cohort_error_set(err, STORE_E_CORRUPT, "store", "store: log index value of %zu bytes", d.mv_size);
        }
        uint64_t n = store_get_u64(d.mv_data);
        if (n > to) break;
        if (numbers_push(out, n) != 0) {
            mdb_cursor_close(c);
            return cohort_error_set(err, STORE_E_NOMEM, "store", "store: out of memory");
        }
        rc = mdb_cursor_get(c, &k, &d, MDB_NEXT_DUP);
    }
    mdb_cursor_close(c);
    if (rc != 0 && rc != MDB_NOTFOUND) return store_lmdb_error(err, rc, "walk a log index");
    return 0;
}

static bool log_matches(const struct store_log_filter *f, const struct block_log *l)
{
    if (f->address_count) {
        bool any = false;
        for (size_t i = 0; i < f->address_count && !any; i++) any = memcmp(f->addresses[i], l->address, 20) == 0;
        if (!any) return false;
    }
    for (unsigned p = 0; p < 4; p++) {
        if (f->topic_count[p] == 0) continue;
        if (p >= l->topic_count) return false;
        bool any = false;
        for (size_t i = 0; i < f->topic_count[p] && !any; i++) any = memcmp(f->topics[p][i], l->topics[p], 32) == 0;
        if (!any) return false;
    }
    return true;
}

/* Calls fn for the matching logs of one block. */
static int scan_block(struct store_view *v, uint64_t number, const struct store_log_filter *f, store_log_fn fn,
                      void *arg, struct cohort_error *err)
{
    MDB_val rec;
    uint32_t count;
    int rc = receipts_record(v, number, &rec, &count, err);
    if (rc <= 0) return rc;
    struct store_log_match m = {.block_number = number};
    rc = store_header(v, number, NULL, m.block_hash, err);
    if (rc <= 0) return rc == 0 ? cohort_error_set(err, STORE_E_CORRUPT, "store", "store: receipts without a header") : rc;
    const uint8_t *base = rec.mv_data;
    struct store_reader r = {.p = base + 4 + 4 * (size_t)count, .end = base + rec.mv_size};
    uint32_t log_index = 0;
    for (uint32_t i = 0; i < count; i++) {
        struct block_receipt receipt;
        uint32_t logs;
        rc = decode_receipt(&r, &receipt, &logs);
        if (rc != 0) {
            store_receipt_free(&receipt);
            return rc == -2 ? cohort_error_set(err, STORE_E_NOMEM, "store", "store: out of memory")
                            : cohort_error_set(err, STORE_E_CORRUPT, "store", "store: receipt %u of block %llu", i,
                                               (unsigned long long)number);
        }
        bool hashed = false;
        for (uint32_t j = 0; j < receipt.log_count; j++, log_index++) {
            if (!log_matches(f, &receipt.logs[j])) continue;
            if (!hashed) {
                const uint8_t *raw;
                size_t raw_len;
                rc = store_block_tx(v, number, i, &raw, &raw_len, err);
                if (rc <= 0) {
                    store_receipt_free(&receipt);
                    return rc == 0 ? cohort_error_set(err, STORE_E_CORRUPT, "store", "store: a receipt without its transaction")
                                   : rc;
                }
                keccak256(raw, raw_len, m.tx_hash);
                hashed = true;
            }
            m.tx_index = i;
            m.log_index = log_index;
            m.log = &receipt.logs[j];
            rc = fn(arg, &m, err);
            if (rc != 0) {
                store_receipt_free(&receipt);
                return rc;
            }
        }
        store_receipt_free(&receipt);
    }
    return 0;
}

/* Whether block number's bloom admits the filter's topics: at each position that lists
   some, one of them. 1 yes, 0 no, <0 error. A block without its header (before an
   import) may: its receipts say. */
static int bloom_admits(struct store_view *v, uint64_t number, const struct store_log_filter *f,
                        struct cohort_error *err)
{
    struct block_header h;
    int rc = store_header(v, number, &h, NULL, err);
    if (rc <= 0) return rc < 0 ? rc : 1;
    for (int p = 0; p < 4; p++) {
        bool any = f->topic_count[p] == 0;
        for (size_t i = 0; i < f->topic_count[p] && !any; i++)
            any = block_bloom_may_contain(h.logs_bloom, f->topics[p][i], 32);
        if (!any) return 0;
    }
    return 1;
}

/* Scans block number when its bloom admits the filter's topics (with_topics: it lists some). */
static int visit_block(struct store_view *v, uint64_t number, const struct store_log_filter *f, bool with_topics,
                       store_log_fn fn, void *arg, struct cohort_error *err)
{
    int rc = with_topics ? bloom_admits(v, number, f, err) : 1;
    return rc <= 0 ? rc : scan_block(v, number, f, fn, arg, err);
}

int store_logs(struct store_view *v, const struct store_log_filter *filter, store_log_fn fn, void *arg,
               struct cohort_error *err)
{
    if (!v->has_head || filter->from > filter->to || filter->from > v->head) return 0;
    uint64_t to = filter->to < v->head ? filter->to : v->head;
    bool with_topics = false;
    for (int p = 0; p < 4; p++) with_topics |= filter->topic_count[p] > 0;
    int rc = 0;
    if (filter->address_count > 0) {
        /* The blocks with a log from one of the addresses, from the index. */
        struct numbers candidates = {0};
        for (size_t i = 0; i < filter->address_count && rc == 0; i++)
            rc = index_blocks(v, v->s->dbi[T_LOG_ADDRESS], filter->addresses[i], 20, filter->from, to, &candidates, err);
        numbers_unique(&candidates);
        for (size_t i = 0; i < candidates.len && rc == 0; i++)
            rc = visit_block(v, candidates.v[i], filter, with_topics, fn, arg, err);
        free(candidates.v);
    } else {
        for (uint64_t n = filter->from; n <= to && rc == 0; n++) rc = visit_block(v, n, filter, with_topics, fn, arg, err);
    }
    return rc < 0 ? rc : 0;
}

/* ---- Writing ---- */

int store_write_begin(struct store *s, struct store_txn **out, struct cohort_error *err)
{
    *out = NULL;
    struct store_txn *t = calloc(1, sizeof *t);
    if (t == NULL) return cohort_error_set(err, STORE_E_NOMEM, "store", "store: out of memory");
    t->mpt = mpt_new();
    int rc = t->mpt ? mdb_txn_begin(s->env, NULL, 0, &t->txn) : ENOMEM;
    if (rc != 0) {
        mpt_free(t->mpt);
        free(t);
        return store_lmdb_error(err, rc, "begin a write");
    }
    t->s = s;
    t->has_head = store_read_head(s, t->txn, &t->head, NULL);
    *out = t;
    return 0;
}

int store_write_commit(struct store_txn *t, struct cohort_error *err)
{
    int rc = mdb_txn_commit(t->txn);
    mpt_free(t->mpt);
    free(t);
    return rc == 0 ? 0 : store_lmdb_error(err, rc, "commit a block");
}

void store_write_abort(struct store_txn *t)
{
    if (t == NULL) return;
    mdb_txn_abort(t->txn);
    mpt_free(t->mpt);
    free(t);
}

static int put(struct store_txn *t, enum store_table table, const void *key, size_t key_len, const void *data,
               size_t len, unsigned flags, struct cohort_error *err)
{
    MDB_val k = val(key, key_len), d = val(data, len);
    int rc = mdb_put(t->txn, t->s->dbi[table], &k, &d, flags);
    if (rc == MDB_KEYEXIST && (flags & MDB_NODUPDATA)) return 0;
    if (rc != 0) {
        store_lmdb_error(err, rc, "write");
        return cohort_error_wrap(err, "table %s", table_names[table]);
    }
    return 0;
}

int store_txn_set_applied(struct store_txn *t, uint64_t bft_index, struct cohort_error *err)
{
    uint8_t v[8];
    store_put_u64(v, bft_index);
    return put(t, T_META, "applied", 7, v, 8, 0, err);
}

int store_txn_bind_chain(struct store_txn *t, const uint8_t genesis_hash[32], uint64_t chain_id,
                         struct cohort_error *err)
{
    MDB_val g, c;
    int rg = get(t->txn, t->s->dbi[T_META], "genesis", 7, &g, err, "read meta");
    if (rg < 0) return rg;
    int rcid = get(t->txn, t->s->dbi[T_META], "chain_id", 8, &c, err, "read meta");
    if (rcid < 0) return rcid;
    if (rg == 1 && rcid == 1) {
        if (g.mv_size != 32 || c.mv_size != 8)
            return cohort_error_set(err, STORE_E_CORRUPT, "store", "store: meta genesis or chain_id of a bad size");
        uint64_t have_id = store_get_u64(c.mv_data);
        if (have_id != chain_id || memcmp(g.mv_data, genesis_hash, 32) != 0)
            return cohort_error_set(err, STORE_E_MISMATCH, "store",
                                    "store: the database holds chain id %llu with another genesis than the config's "
                                    "(chain id %llu): it belongs to another chain; give this subnode its own volume",
                                    (unsigned long long)have_id, (unsigned long long)chain_id);
        return 0;
    }
    uint8_t id[8];
    store_put_u64(id, chain_id);
    if (put(t, T_META, "genesis", 7, genesis_hash, 32, 0, err) != 0) return err ? err->code : STORE_E_IO;
    return put(t, T_META, "chain_id", 8, id, 8, 0, err);
}

/* The receipts record of a block (layout at the top of this file), malloc'd. */
static int encode_receipts(const struct block_receipt *receipts, size_t count, uint8_t **out, size_t *out_len)
{
    size_t len = 4 + 4 * count;
    for (size_t i = 0; i < count; i++) {
        len += 1 + 1 + 8 + 8 + 32 + 1 + 20 + 4;
        for (size_t j = 0; j < receipts[i].log_count; j++)
            len += 20 + 1 + 32 * (size_t)receipts[i].logs[j].topic_count + 4 + receipts[i].logs[j].data_len;
    }
    uint8_t *buf = malloc(len);
    if (buf == NULL) return -1;
    struct byte_writer w = {.out = buf, .cap = len};
    bw_u32(&w, (uint32_t)count);
    uint8_t *offsets = buf + 4;
    w.len += 4 * count;
    for (size_t i = 0; i < count; i++) {
        const struct block_receipt *r = &receipts[i];
        be_put(offsets + 4 * i, (uint64_t)w.len, 4);
        bw_u8(&w, r->type);
        bw_u8(&w, r->success);
        bw_u64(&w, r->cumulative_gas_used);
        bw_u64(&w, r->gas_used);
        uint8_t price[32];
        u256_store_be(price, r->effective_gas_price);
        bw_bytes(&w, price, 32);
        bw_u8(&w, r->has_contract_address);
        bw_bytes(&w, r->contract_address, 20);
        bw_u32(&w, (uint32_t)r->log_count);
        for (size_t j = 0; j < r->log_count; j++) {
            const struct block_log *l = &r->logs[j];
            bw_bytes(&w, l->address, 20);
            bw_u8(&w, (uint8_t)l->topic_count);
            bw_bytes(&w, l->topics, 32 * (size_t)l->topic_count);
            bw_u32(&w, (uint32_t)l->data_len);
            bw_bytes(&w, l->data, l->data_len);
        }
    }
    assert(!w.overflow && w.len == len);
    *out = buf;
    *out_len = len;
    return 0;
}

static int64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void store_hold_history(struct store *s, uint64_t number, uint32_t for_ms)
{
    int64_t until = monotonic_ms() + for_ms;
    pthread_mutex_lock(&s->hold_lock);
    struct store_hold *slot = &s->holds[0];
    for (int i = 0; i < STORE_HOLDS; i++) {
        struct store_hold *h = &s->holds[i];
        if (h->until_ms != 0 && h->number == number) {
            slot = h;
            break;
        }
        if (h->until_ms < slot->until_ms) slot = h; /* unused (0) or ending first */
    }
    slot->number = number;
    slot->until_ms = until;
    pthread_mutex_unlock(&s->hold_lock);
}

/* The lowest state a live hold keeps readable at head, or UINT64_MAX. */
static uint64_t held_floor(struct store *s, uint64_t head)
{
    uint64_t reach = (uint64_t)s->history_blocks * STORE_HOLD_MAX_FACTOR, floor = UINT64_MAX;
    int64_t now = monotonic_ms();
    pthread_mutex_lock(&s->hold_lock);
    for (int i = 0; i < STORE_HOLDS; i++) {
        const struct store_hold *h = &s->holds[i];
        if (h->until_ms > now && h->number + reach >= head && h->number < floor) floor = h->number;
    }
    pthread_mutex_unlock(&s->hold_lock);
    return floor;
}

/*
 * Prunes the history that fell out of the window with block `number` written: every block
 * up to number - history_blocks, but none past a held state (store_hold_history), and at
 * most STORE_PRUNE_PER_WRITE blocks at once (what a hold kept goes a little at a time).
 * Meta "pruned" says how far it went.
 */
static int prune(struct store_txn *t, uint64_t number, struct cohort_error *err)
{
    struct store *s = t->s;
    uint64_t target = number > s->history_blocks ? number - s->history_blocks : 0;
    uint64_t floor = held_floor(s, number);
    if (floor < target) target = floor;
    MDB_val pv;
    uint64_t done;
    int rc = get(t->txn, s->dbi[T_META], "pruned", 6, &pv, err, "read meta");
    if (rc < 0) return rc;
    if (rc == 1 && pv.mv_size == 8) done = store_get_u64(pv.mv_data);
    else done = number > s->history_blocks + 1 ? number - 1 - s->history_blocks : 0; /* as before "pruned" */
    if (target <= done) return 0;
    if (target - done > STORE_PRUNE_PER_WRITE) target = done + STORE_PRUNE_PER_WRITE;
    for (uint64_t p = done + 1; p <= target; p++) {
        rc = store_prune_history(t, p, err);
        if (rc != 0) return rc;
    }
    uint8_t mark[8];
    store_put_u64(mark, target);
    return put(t, T_META, "pruned", 6, mark, 8, 0, err);
}

int store_txn_put_block(struct store_txn *t, const struct store_block *b, struct cohort_error *err)
{
    uint64_t number = b->header->number;
    uint64_t want = t->has_head ? t->head + 1 : 0;
    if (number != want)
        return cohort_error_set(err, STORE_E_INVALID, "store", "store: block %llu does not follow the head (want %llu)",
                                (unsigned long long)number, (unsigned long long)want);
    uint8_t key[8];
    store_put_u64(key, number);
    /* Header: hash | RLP. */
    struct rlp_buf rlp;
    rlp_buf_init(&rlp, BLOCK_HEADER_MAX_BYTES * 2);
    block_header_encode(b->header, &rlp);
    if (rlp_buf_check(&rlp, err) != 0) {
        rlp_buf_free(&rlp);
        return err ? err->code : STORE_E_INVALID;
    }
    uint8_t *rec = malloc(32 + rlp.len);
    int rc = rec ? 0 : cohort_error_set(err, STORE_E_NOMEM, "store", "store: out of memory");
    if (rc == 0) {
        memcpy(rec, b->hash, 32);
        memcpy(rec + 32, rlp.data, rlp.len);
        rc = put(t, T_HEADERS, key, 8, rec, 32 + rlp.len, 0, err);
    }
    free(rec);
    rlp_buf_free(&rlp);
    if (rc == 0) rc = put(t, T_BLOCK_HASHES, b->hash, 32, key, 8, 0, err);
    /* Body. */
    size_t body_len = 4;
    for (size_t i = 0; i < b->tx_count; i++) body_len += 4 + b->tx_lens[i];
    uint8_t *body_rec = rc == 0 ? malloc(body_len) : NULL;
    if (rc == 0 && body_rec == NULL) rc = cohort_error_set(err, STORE_E_NOMEM, "store", "store: out of memory");
    if (rc == 0) {
        struct byte_writer w = {.out = body_rec, .cap = body_len};
        bw_u32(&w, (uint32_t)b->tx_count);
        for (size_t i = 0; i < b->tx_count; i++) {
            bw_u32(&w, (uint32_t)b->tx_lens[i]);
            bw_bytes(&w, b->txs[i], b->tx_lens[i]);
        }
        rc = put(t, T_BODIES, key, 8, body_rec, body_len, 0, err);
    }
    free(body_rec);
    /* Receipts. */
    uint8_t *receipts = NULL;
    size_t receipts_len = 0;
    if (rc == 0 && encode_receipts(b->receipts, b->tx_count, &receipts, &receipts_len) != 0)
        rc = cohort_error_set(err, STORE_E_NOMEM, "store", "store: out of memory");
    if (rc == 0) rc = put(t, T_RECEIPTS, key, 8, receipts, receipts_len, 0, err);
    free(receipts);
    /* The transaction index and the log address index (one entry per address and block:
       NODUPDATA). Topics have no index: the header's bloom answers them (store_logs). */
    for (size_t i = 0; i < b->tx_count && rc == 0; i++) {
        uint8_t loc[12];
        store_put_u64(loc, number);
        be_put(loc + 8, i, 4);
        rc = put(t, T_TX_INDEX, b->tx_hashes[i], 32, loc, 12, 0, err);
        for (size_t j = 0; j < b->receipts[i].log_count && rc == 0; j++) {
            const struct block_log *l = &b->receipts[i].logs[j];
            rc = put(t, T_LOG_ADDRESS, l->address, 20, key, 8, MDB_NODUPDATA, err);
        }
    }
    /* The head, and the history that fell out of the window. */
    uint8_t head[40];
    store_put_u64(head, number);
    memcpy(head + 8, b->hash, 32);
    if (rc == 0) rc = put(t, T_META, "head", 4, head, 40, 0, err);
    if (rc == 0) rc = prune(t, number, err);
    if (rc == 0) {
        t->has_head = true;
        t->head = number;
    }
    return rc;
}

int store_txn_import_block(struct store_txn *t, uint64_t number, const uint8_t *body, size_t body_len,
                           const uint8_t *receipts, size_t receipts_len, struct cohort_error *err)
{
    uint8_t key[8];
    store_put_u64(key, number);
    int rc = put(t, T_BODIES, key, 8, body, body_len, 0, err);
    if (rc == 0) rc = put(t, T_RECEIPTS, key, 8, receipts, receipts_len, 0, err);
    if (rc != 0) return rc;
    /* The transaction index from the body (count | (len | raw)*, checked by the caller). */
    uint32_t count = (uint32_t)be_get(body, 4);
    const uint8_t *p = body + 4;
    for (uint32_t i = 0; i < count && rc == 0; i++) {
        size_t len = (size_t)be_get(p, 4);
        uint8_t hash[32], loc[12];
        keccak256(p + 4, len, hash);
        p += 4 + len;
        store_put_u64(loc, number);
        be_put(loc + 8, i, 4);
        rc = put(t, T_TX_INDEX, hash, 32, loc, 12, 0, err);
    }
    /* The log address index from the receipts. */
    struct block_receipt *r = NULL;
    size_t n = 0;
    if (rc == 0) rc = store_receipts_decode(receipts, receipts_len, &r, &n, err);
    for (size_t i = 0; i < n && rc == 0; i++)
        for (size_t j = 0; j < r[i].log_count && rc == 0; j++) {
            const struct block_log *l = &r[i].logs[j];
            rc = put(t, T_LOG_ADDRESS, l->address, 20, key, 8, MDB_NODUPDATA, err);
        }
    store_receipts_free(r, n);
    return rc;
}

bool store_txn_head(struct store_txn *t, uint64_t *number, uint8_t hash[32])
{
    return store_read_head(t->s, t->txn, number, hash);
}

int store_txn_block_hash(struct store_txn *t, uint64_t number, uint8_t hash[32], struct cohort_error *err)
{
    return header_hash(t->s, t->txn, number, hash, err);
}

int store_sync(struct store *s, struct cohort_error *err)
{
    int rc = mdb_env_sync(s->env, 1);
    return rc == 0 ? 0 : store_lmdb_error(err, rc, "sync");
}
