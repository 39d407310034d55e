/*
 * store_internal.h - what store.c (environment, blocks, receipts, logs) and store_state.c
 * (accounts, storage, tries, history) share. Not part of the store's API.
 */
#ifndef COHORT_STORE_INTERNAL_H
#define COHORT_STORE_INTERNAL_H

#include <lmdb.h>
#include <pthread.h>

#include "subnode/state/mpt.h"
#include "subnode/store/store.h"

/* 2: history keyed block first, no hist_by_block and no log_topic (store.c migrates a 1). */
#define STORE_VERSION 2u

enum store_table {
    T_META,
    T_ACCOUNTS,
    T_STORAGE,
    T_CODE,
    T_TRIE_ACCOUNTS,
    T_TRIE_STORAGE,
    T_HEADERS,
    T_BLOCK_HASHES,
    T_BODIES,
    T_RECEIPTS,
    T_TX_INDEX,
    T_LOG_ADDRESS,
    T_HIST_ACCOUNTS,
    T_HIST_STORAGE,
    T_COUNT
};

/* The fixed layout of an accounts record: nonce u64 | balance 32 | code_hash 32 | storage_root 32. */
#define STORE_ACCOUNT_BYTES (8 + 32 + 32 + 32)

struct store {
    MDB_env *env;
    MDB_dbi dbi[T_COUNT];
    uint32_t history_blocks;
    uint32_t export_behind_max;
    uint64_t map_bytes;
    bool import_discarded; /* store_open found an unfinished import and emptied the store */
    /* The states state transfers read (store_hold_history): pruning stops below them. */
    pthread_mutex_t hold_lock;
    struct store_hold {
        uint64_t number;
        int64_t until_ms; /* CLOCK_MONOTONIC; 0: unused */
    } holds[STORE_HOLDS];
};

struct store_view {
    struct store *s;
    MDB_txn *txn;
    bool has_head;
    uint64_t head;
    uint8_t head_hash[32];
    uint64_t base;           /* the first block held whole (meta "base"; 0 without an import) */
    uint64_t state_base;     /* the first block whose state is held (meta "state_base") */
    bool has_pruned;
    uint64_t pruned;         /* the history of every block up to this one is gone (meta "pruned") */
    uint64_t backend_number; /* the block store_state_backend reads at */
};

struct store_txn {
    struct store *s;
    MDB_txn *txn;
    struct mpt *mpt;
    bool has_head;
    uint64_t head;
};

/* Fills err from an LMDB return code; MDB_MAP_FULL and ENOSPC become STORE_E_FULL. */
int store_lmdb_error(struct cohort_error *err, int rc, const char *what);

/* Reads a big-endian u64 / writes one. */
void store_put_u64(uint8_t out[8], uint64_t v);
uint64_t store_get_u64(const uint8_t in[8]);

/* Reads an accounts record at the latest state through txn: 1 found, 0 absent, <0. */
int store_read_account(struct store *s, MDB_txn *txn, const uint8_t address[20], struct store_account *out,
                       struct cohort_error *err);
/* Decodes an accounts record; STORE_E_CORRUPT when its size is wrong. */
int store_decode_account(const MDB_val *v, struct store_account *out, struct cohort_error *err);

/* The head recorded in meta, read through txn: true when there is one. */
bool store_read_head(struct store *s, MDB_txn *txn, uint64_t *number, uint8_t hash[32]);

/* Prunes the history of block `number` (state_store.c): called as the window moves past it. */
int store_prune_history(struct store_txn *t, uint64_t number, struct cohort_error *err);

/* A bounded reader over a record; a read past the end sets bad. */
struct store_reader {
    const uint8_t *p, *end;
    bool bad;
};

static inline const uint8_t *store_take(struct store_reader *r, size_t n)
{
    if (r->bad || (size_t)(r->end - r->p) < n) {
        r->bad = true;
        return NULL;
    }
    const uint8_t *at = r->p;
    r->p += n;
    return at;
}

static inline uint64_t store_take_uint(struct store_reader *r, int n)
{
    const uint8_t *p = store_take(r, (size_t)n);
    uint64_t v = 0;
    for (int i = 0; p != NULL && i < n; i++) v = v << 8 | p[i];
    return v;
}

/* Decodes a block's receipts record (store.c's layout) into *out (malloc'd, *count of them). */
int store_receipts_decode(const uint8_t *rec, size_t len, struct block_receipt **out, size_t *count,
                          struct cohort_error *err);
void store_receipts_free(struct block_receipt *receipts, size_t count);

/* ---- Import (store_sync.c) ---- */

/* Writes a decoded chunk's accounts, code, slots and their tries through t (store_state.c). */
int store_txn_import_state(struct store_txn *t, const struct store_chunk *chunk, struct cohort_error *err);
/* The account trie's root as t sees it (store_state.c). */
int store_txn_state_root(struct store_txn *t, uint8_t root[32], struct cohort_error *err);
/* Writes block number's body and receipts records and their indexes (store.c); checked before. */
int store_txn_import_block(struct store_txn *t, uint64_t number, const uint8_t *body, size_t body_len,
                           const uint8_t *receipts, size_t receipts_len, struct cohort_error *err);

#endif
