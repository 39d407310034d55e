/*
 * store.h - a chain's data on disk, in LMDB under the subnode's volume: the world state
 * (accounts, storage, code), the state tries' nodes, blocks (headers, bodies), receipts,
 * the transaction-hash index, the log indexes eth_getLogs uses, and the history that
 * answers state reads at the last `history_blocks` blocks.
 *
 * One writer, many readers. The chain node's executor is the only writer: it writes one
 * whole block (its state changes, trie nodes, header, body, receipts, indexes, history,
 * and the BFT log index it came from) in ONE LMDB write transaction, so a crash leaves
 * the last whole block and nothing of the next. Readers (the RPC threads) open a view: an
 * LMDB read transaction pinned at the block that was the head when it began; a view never
 * sees a half-written block and never blocks the writer. Pointers a view hands out point
 * into the map and are valid until store_view_end.
 *
 * Tables (LMDB named databases; integers big-endian so keys sort by number):
 *   meta          "head" -> number u64 | hash 32; "applied" -> BFT log index u64;
 *                 "genesis" -> hash 32; "version" -> u32; "chain_id" -> u64
 *   accounts      address 20 -> nonce u64 | balance 32 | code_hash 32 | storage_root 32
 *   storage       address 20 | slot 32 -> value (minimal big-endian, non-zero)
 *   code          code_hash 32 -> code
 *   trie_accounts path key -> node RLP          (mpt.h; the account trie)
 *   trie_storage  keccak(address) | path -> node RLP (the storage tries)
 *   headers       number 8 -> hash 32 | header RLP
 *   block_hashes  hash 32 -> number 8
 *   bodies        number 8 -> count u32 | (len u32 | raw tx)*
 *   receipts      number 8 -> the block's receipts in the store's own layout (store.c)
 *   tx_index      tx hash 32 -> number 8 | index u32
 *   log_address   address 20 -> number 8   (DUPSORT: the blocks with a log from it)
 *   history_accounts  number 8 | address 20 -> the account before block `number` changed
 *                 it (empty: it did not exist)
 *   history_storage   number 8 | address 20 | slot 32 -> the value before block `number`
 * Topics have no index: a block's header bloom says whether it may hold a log with one.
 * The history is keyed block first so that a block's entries are written together at the
 * end of the tables and pruned together at the front. A read of account A at block N
 * looks up n|A for n = N+1, N+2, ... up to the head: the first entry found holds the value
 * at N (the value before the next change); none: the current value. History older than
 * history_blocks is pruned as blocks are written. (Version 1 of the store kept it keyed
 * key first, with a topic index; store_open migrates such a store.)
 *
 * Durability: the map is opened with MDB_NOMETASYNC by default: a commit fsyncs the data,
 * and a system crash may lose the last committed block but never corrupts the file; the
 * BFT WAL replays what LMDB lacks (docs/chain.md). The map size is the disk budget: a
 * write past it fails with STORE_E_FULL and the transaction is aborted, never half-applied.
 */
#ifndef COHORT_STORE_STORE_H
#define COHORT_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/u256.h"
#include "subnode/chain/block.h"
#include "subnode/state/state.h"

/* Codes of the store library. Append only. */
enum store_status {
    STORE_OK = 0,
    STORE_E_IO = COHORT_ERRORS_STORE - 1,      /* LMDB or the file system failed: the message has LMDB's words */
    STORE_E_CORRUPT = COHORT_ERRORS_STORE - 2, /* a record that does not decode: the message names table and key */
    STORE_E_FULL = COHORT_ERRORS_STORE - 3,    /* the map (the disk budget) or the disk is full */
    STORE_E_PRUNED = COHORT_ERRORS_STORE - 4,  /* a state read at a block older than the history kept */
    STORE_E_INVALID = COHORT_ERRORS_STORE - 5, /* a bad argument: a block that does not follow the head */
    STORE_E_NOMEM = COHORT_ERRORS_STORE - 6,
    STORE_E_MISMATCH = COHORT_ERRORS_STORE - 7 /* the database belongs to another chain (genesis or chain id) */
};

const char *store_strerror(int code);

#define STORE_HISTORY_BLOCKS_DEFAULT 1024u

struct store_options {
    const char *dir;           /* the folder; created if missing */
    uint64_t map_bytes;        /* the largest the database may grow (the disk budget) */
    uint32_t history_blocks;   /* state reads are answered this far back; 0: the default */
    bool sync_meta;            /* true: full fsync of every commit (MDB_NOMETASYNC off) */
    uint32_t export_behind_max; /* blocks behind the head a state export reaches; 0: STORE_EXPORT_BEHIND_MAX */
};

struct store;

/*
 * Opens (creating when absent) the store in options->dir. Returns 0, STORE_E_IO (the
 * folder, the lock, the map), STORE_E_CORRUPT (a version it does not know). The caller
 * owns *out and closes it with store_close after every view has ended.
 */
int store_open(const struct store_options *options, struct store **out, struct cohort_error *err);
void store_close(struct store *s);

/* ---- Reading ---- */

struct store_view;

/* Begins a read view at the current head. Returns 0 or STORE_E_IO (too many readers). */
int store_view_begin(struct store *s, struct store_view **out, struct cohort_error *err);
void store_view_end(struct store_view *v);

/* The head when the view began: false when the store holds no block yet (not even genesis). */
bool store_view_head(const struct store_view *v, uint64_t *number, uint8_t hash[32]);
/* The oldest block whose state the view can read (head - history_blocks, at least 0, or
   older while a state transfer holds it: store_hold_history). */
uint64_t store_view_oldest_state(const struct store_view *v);

/* Each returns 1 (found, out filled), 0 (absent) or a negative code with err filled. */
int store_block_number(struct store_view *v, const uint8_t hash[32], uint64_t *number, struct cohort_error *err);
int store_header(struct store_view *v, uint64_t number, struct block_header *out, uint8_t hash[32],
                 struct cohort_error *err);
/* The number of transactions of block `number`, and the index-th one's raw bytes (valid for the view). */
int store_block_tx_count(struct store_view *v, uint64_t number, uint32_t *count, struct cohort_error *err);
int store_block_tx(struct store_view *v, uint64_t number, uint32_t index, const uint8_t **raw, size_t *raw_len,
                   struct cohort_error *err);
/* Where a transaction is: its block and index in it. */
int store_tx_location(struct store_view *v, const uint8_t tx_hash[32], uint64_t *number, uint32_t *index,
                      struct cohort_error *err);

/*
 * The index-th receipt of block `number`. out->logs is malloc'd (free with
 * store_receipt_free); the log data points into the view. *first_log_index is the block-wide
 * index of its first log (eth_getLogs' logIndex).
 */
int store_receipt(struct store_view *v, uint64_t number, uint32_t index, struct block_receipt *out,
                  uint32_t *first_log_index, struct cohort_error *err);
void store_receipt_free(struct block_receipt *receipt);

/* ---- State at a block (number <= head and >= store_view_oldest_state; else STORE_E_PRUNED) ---- */

struct store_account {
    uint64_t nonce;
    u256 balance;
    uint8_t code_hash[32];
    uint8_t storage_root[32];
};

int store_account(struct store_view *v, uint64_t number, const uint8_t address[20], struct store_account *out,
                  struct cohort_error *err);
/* 0 with *value zero for an absent slot or account. */
int store_storage(struct store_view *v, uint64_t number, const uint8_t address[20], u256 key, u256 *value,
                  struct cohort_error *err);
/* Code by hash (immutable; any view). 0 when unknown. */
int store_code(struct store_view *v, const uint8_t code_hash[32], const uint8_t **code, size_t *code_len,
               struct cohort_error *err);

/*
 * A state backend (state.h) reading the state at block `number` through view v: a struct
 * state given it loads accounts, slots and code on first use. v must outlive the state.
 */
void store_state_backend(struct store_view *v, uint64_t number, struct state_backend *out);

/* ---- Logs ---- */

#define STORE_FILTER_ADDRESSES_MAX 1024u
#define STORE_FILTER_TOPIC_OPTIONS_MAX 64u

struct store_log_filter {
    uint64_t from, to;                  /* block numbers, inclusive */
    const uint8_t (*addresses)[20];     /* any of these; count 0: any address */
    size_t address_count;
    const uint8_t (*topics[4])[32];     /* position i matches any of topics[i]; count 0: any */
    size_t topic_count[4];
};

struct store_log_match {
    uint64_t block_number;
    uint8_t block_hash[32];
    uint32_t tx_index;
    uint8_t tx_hash[32];
    uint32_t log_index;                 /* block-wide */
    const struct block_log *log;        /* valid for the call */
};

/* Returns 0 to go on, 1 to stop (a limit reached), or a negative code (passed up). */
typedef int (*store_log_fn)(void *arg, const struct store_log_match *match, struct cohort_error *err);

/*
 * Calls fn for every log in [from, to] that matches, in block and log order. Visits only
 * the blocks that can match: those the address index lists (when the filter names
 * addresses), of those the ones whose header bloom admits the filter's topics. Returns 0
 * (done or stopped), or a negative code.
 */
int store_logs(struct store_view *v, const struct store_log_filter *filter, store_log_fn fn, void *arg,
               struct cohort_error *err);

/* ---- Writing: one block per write transaction, on the executor's thread only ---- */

struct store_txn;

/* Begins the write transaction of the next block. Returns 0 or STORE_E_IO. */
int store_write_begin(struct store *s, struct store_txn **out, struct cohort_error *err);

/*
 * A state backend (state.h) reading the latest state through t (what the block being built
 * starts from). Valid while t is.
 */
void store_txn_backend(struct store_txn *t, struct state_backend *out);

/*
 * Writes what st changed (state_for_each_change) as block `number`'s state: accounts,
 * storage, code, their history, and the tries; gives the new state root. st must be
 * backed by store_txn_backend(t) (or, for the genesis, have no backend and an empty store).
 */
int store_txn_apply_state(struct store_txn *t, const struct state *st, uint64_t number, uint8_t state_root[32],
                          struct cohort_error *err);

/* A block to record: its header (state root included), the raw transactions, receipts. */
struct store_block {
    const struct block_header *header;
    const uint8_t *hash;                 /* 32 bytes: block_header_hash(header) */
    const uint8_t *const *txs;           /* raw transactions, in block order */
    const size_t *tx_lens;
    const uint8_t (*tx_hashes)[32];
    const struct block_receipt *receipts; /* one per transaction */
    size_t tx_count;
};

/*
 * Records block b as the new head (its number must be head + 1, or 0 on an empty store):
 * header, body, receipts, the transaction and log address indexes; prunes history that fell out of
 * the window. Returns 0, STORE_E_INVALID (not the next block), or a write failure.
 */
int store_txn_put_block(struct store_txn *t, const struct store_block *b, struct cohort_error *err);

/* Records the BFT log index whose block this was (what a restart resumes after). */
int store_txn_set_applied(struct store_txn *t, uint64_t bft_index, struct cohort_error *err);

/* The head as t sees it: false on an empty store. */
bool store_txn_head(struct store_txn *t, uint64_t *number, uint8_t hash[32]);

/* The hash of block `number` as t sees it: 1, 0 when absent, or negative. */
int store_txn_block_hash(struct store_txn *t, uint64_t number, uint8_t hash[32], struct cohort_error *err);

/* Commits (0, STORE_E_FULL, STORE_E_IO) or aborts; either way t is freed. */
int store_write_commit(struct store_txn *t, struct cohort_error *err);
void store_write_abort(struct store_txn *t);

/* ---- State transfer (docs/chain.md "State transfer") ----
 *
 * A member whose store does not hold the block a vouched-for BFT snapshot names (it lost
 * its volume, or was down longer than the others keep their logs) installs the chain's
 * state at that block N from another member, over its RPC port, in chunks:
 *
 *   blocks  store_export_blocks: headers N, N-1, ... (the 256 BLOCKHASH can reach, fewer
 *           near the genesis), block N's body and receipts. The importer checks header N's
 *           hash against the vouched one, each header against its child's parent hash, and
 *           the body and receipts against header N's roots.
 *   state   store_export_state: the accounts (with their code) and storage slots at N, in
 *           address then slot order, about STORE_EXPORT_CHUNK_BYTES a chunk, each naming the
 *           cursor the next one starts at. Read from one LMDB view per chunk (the state at
 *           N, through the history, which store_hold_history keeps while the transfer
 *           runs), so the state is streamed, never built whole in memory on either side.
 *           The history is read through one cursor per block after N: N more than
 *           export_behind_max blocks behind the head (store_options) is refused
 *           (STORE_E_PRUNED: ask a newer snapshot), so no request costs a server more
 *           cursors than that.
 *
 * The importer writes each chunk in its own write transaction (accounts, code, storage,
 * tries), then store_import_finish checks the state root its tries give against header
 * N's and makes N the head. Until then the meta "importing" marks the store incomplete:
 * store_open empties such a store, so a crash mid-transfer starts it again. After an
 * import the store's blocks begin at N ("base"): older blocks read as absent (their
 * hashes still answer BLOCKHASH through store_block_hash), older state as pruned.
 *
 * Chunk:  record* , then 'E' (the state is complete) or 'N' cursor (more follows)
 *   'A' address 20 | nonce u64 | balance 32 | code_hash 32 | code_len u32 | code
 *   'S' address 20 | slot 32 | value 32     (non-zero; its account came first, in this
 *                                              chunk or, for the first records, before)
 * Cursor: address 20 | phase u8 | slot 32:  phase 0: accounts from address on; 1: the
 *   slots of address after slot, then the accounts after address.
 * Blocks: header_count u32 | (len u32 | header RLP)* | body_len u32 | body record |
 *   receipts_len u32 | receipts record (the store's own layouts, store.c).
 */
#define STORE_EXPORT_CHUNK_BYTES (1u << 20)  /* a state chunk closes at the first record past this */
#define STORE_EXPORT_BEHIND_MAX 16384u       /* blocks behind the head a state export reaches, at most */
#define STORE_HOLDS 4                        /* states held for transfers at once */
#define STORE_HOLD_MAX_FACTOR 16             /* a hold reaches back at most this x history_blocks */
#define STORE_PRUNE_PER_WRITE 64             /* blocks' history pruned by one block write, at most */

/*
 * Keeps the state at `number` readable for the next for_ms milliseconds (again from each
 * call): no history a read at number needs is pruned meanwhile, so a member that installs
 * the state at number from this one takes as long as its chunks take, however many blocks
 * the chain makes meanwhile (without it, a transfer that outlasted history_blocks blocks
 * started again, at a newer block, and a large state on a busy chain never finished).
 * A hold reaches back at most STORE_HOLD_MAX_FACTOR x history_blocks behind the head; past
 * that pruning goes on, and the history it kept is pruned again, STORE_PRUNE_PER_WRITE
 * blocks with each block written. At most STORE_HOLDS holds: a new number replaces the hold
 * that ends first. Any thread.
 */
void store_hold_history(struct store *s, uint64_t number, uint32_t for_ms);
#define STORE_CHUNK_MAX_BYTES (4u << 20)     /* the largest state chunk an importer takes */
#define STORE_BLOCKS_MAX_BYTES (16u << 20)   /* the largest blocks answer an importer takes */
#define STORE_IMPORT_HEADERS 256u            /* headers imported with block N (BLOCKHASH's reach) */
#define STORE_CURSOR_BYTES 53

/* The state at `number` from cursor (all zero: from the start) as one chunk, malloc'd,
   closed at the first record past chunk_bytes (0: STORE_EXPORT_CHUNK_BYTES). */
int store_export_state(struct store_view *v, uint64_t number, const uint8_t cursor[STORE_CURSOR_BYTES],
                       size_t chunk_bytes, uint8_t **out, size_t *out_len, struct cohort_error *err);
/* The count of headers a blocks answer for `number` holds: headers (1..256; 0: 256),
   at most number + 1. */
size_t store_blocks_header_count(uint64_t number, size_t headers);
/* Block `number`'s headers back (store_blocks_header_count), its body and receipts, malloc'd. */
int store_export_blocks(struct store_view *v, uint64_t number, size_t headers, uint8_t **out, size_t *out_len,
                        struct cohort_error *err);

/* One state chunk, decoded (pointers into the chunk's bytes). */
struct store_chunk_account {
    const uint8_t *address;
    uint64_t nonce;
    u256 balance;
    const uint8_t *code_hash;
    const uint8_t *code;
    size_t code_len;
};
struct store_chunk_slot {
    const uint8_t *address;
    u256 key, value;
};
struct store_chunk {
    struct store_chunk_account *accounts;
    size_t account_count;
    struct store_chunk_slot *slots;
    size_t slot_count;
    bool done;                            /* 'E': the last chunk */
    uint8_t next[STORE_CURSOR_BYTES];     /* when not done: where the next chunk starts */
};

/*
 * Decodes a chunk (at most STORE_CHUNK_MAX_BYTES): records well formed and in strictly
 * increasing order, code matching its hash, slots non-zero and after their account (or the
 * cursor's account for the first ones), a next cursor past every record. Returns 0 or
 * STORE_E_CORRUPT naming what was wrong. Free with store_chunk_free.
 */
int store_chunk_decode(const uint8_t *bytes, size_t len, const uint8_t cursor[STORE_CURSOR_BYTES],
                       struct store_chunk *out, struct cohort_error *err);
void store_chunk_free(struct store_chunk *chunk);

/* A blocks answer, decoded and checked against itself (pointers into its bytes). */
struct store_blocks {
    struct block_header head;             /* block N's header */
    uint8_t hash[32];                     /* its hash */
    const uint8_t *header_rlp[STORE_IMPORT_HEADERS];
    size_t header_len[STORE_IMPORT_HEADERS];
    uint8_t header_hash[STORE_IMPORT_HEADERS][32];
    size_t header_count;                  /* N, N-1, ...: store_blocks_header_count */
    const uint8_t *body, *receipts;       /* block N's records in the store's layouts */
    size_t body_len, receipts_len;
};

/*
 * Decodes a blocks answer (at most STORE_BLOCKS_MAX_BYTES) for block `number`: every header
 * decodes, each is its child's parent, the count is what BLOCKHASH needs, the body and the
 * receipts decode and give header N's transactions and receipts roots. 0 or STORE_E_CORRUPT.
 */
int store_blocks_decode(const uint8_t *bytes, size_t len, uint64_t number, size_t headers, struct store_blocks *out,
                        struct cohort_error *err);

/* Empties the store (the chain's binding stays) and marks it "importing" block `number`. */
int store_import_begin(struct store *s, uint64_t number, struct cohort_error *err);
/* Writes one decoded chunk (its accounts, code, slots and their tries) in one transaction. */
int store_import_chunk(struct store *s, const struct store_chunk *chunk, struct cohort_error *err);
/*
 * Checks the imported state's root against blocks->head's (STORE_E_MISMATCH when it differs:
 * the source sent another state), writes the blocks, makes N the head and the base, records
 * bft_index as applied, clears the mark; then syncs. 0 or a negative code.
 */
int store_import_finish(struct store *s, const struct store_blocks *blocks, uint64_t bft_index,
                        struct cohort_error *err);

/* True when store_open found an import that had not finished, and emptied the store. */
bool store_import_discarded(const struct store *s);
/*
 * After an import, the blocks before it, one at a time downward (a background fill): b
 * (decoded with one header) must be block base - 1, whose hash the block at the base names
 * as its parent. Writes it whole and moves the base down; the state's oldest stays. 0,
 * STORE_E_INVALID (not the block below the base), STORE_E_MISMATCH (another hash), or a
 * write failure.
 */
int store_import_older_block(struct store *s, const struct store_blocks *b, struct cohort_error *err);

/* The first block the store holds whole (0, or the block an import installed, moved down
   by store_import_older_block); the state is readable from the block the import installed. */
uint64_t store_view_base(const struct store_view *v);
/* The hash of block `number`, also below the base (BLOCKHASH's reach): 1, 0 absent, <0. */
int store_block_hash(struct store_view *v, uint64_t number, uint8_t hash[32], struct cohort_error *err);

/* ---- Meta ---- */

/* The BFT log index of the last applied block (0: none), read outside any view. */
int store_applied(struct store *s, uint64_t *bft_index, struct cohort_error *err);

/*
 * Binds the store to a chain: on an empty store records genesis_hash and chain_id; on one
 * that has them checks they are equal (STORE_E_MISMATCH names both). Inside t.
 */
int store_txn_bind_chain(struct store_txn *t, const uint8_t genesis_hash[32], uint64_t chain_id,
                         struct cohort_error *err);

/* Flushes every committed block to disk (fsync): before the BFT WAL forgets them. */
int store_sync(struct store *s, struct cohort_error *err);

/* What the map uses and may use, in bytes (the disk budget). */
void store_usage(struct store *s, uint64_t *used_bytes, uint64_t *map_bytes);

#endif
