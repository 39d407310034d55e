/*
 * state.h - the world state of one chain in memory: accounts, storage, the journal that
 * undoes a failed call, the per-transaction sets the EVM's gas rules need, logs, and the
 * state root.
 *
 * Model. An account record exists for every address the current transaction looked at,
 * whether or not the account exists in the world state (`exists`): warm sets and touches
 * apply to absent addresses too. Records are never removed; deleting an account clears it.
 * Storage, transient storage and the warm slots live in one map keyed by (account, slot).
 *
 * Transactions. Every change made between state_tx_begin() and state_tx_end() goes through
 * the journal; state_snapshot() marks a point and state_revert() undoes everything after
 * it (a reverted call). state_tx_end() applies the end-of-transaction rules and makes the
 * changes permanent:
 *   - accounts marked self-destructed are deleted with their storage (the host marks
 *     only those EIP-6780 lets go: created in this transaction, from Cancun on);
 *   - touched accounts that are empty (nonce 0, balance 0, no code) are deleted (EIP-161);
 *   - the current storage values become the committed ("original") ones (EIP-2200/3529);
 *   - transient storage (EIP-1153), the warm sets (EIP-2929), the touched and created
 *     sets are cleared.
 * The logs of the transaction stay readable until the next state_tx_begin().
 *
 * Memory. Maps are open-addressed arrays that grow by doubling; a lookup or a journaled
 * change does not allocate once they are warm. Every pointer the state hands out (code,
 * logs) is owned by the state and valid until the next call that changes that thing.
 *
 * Thread safety: none; one state per thread.
 */
#ifndef COHORT_STATE_STATE_H
#define COHORT_STATE_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/error.h"
#include "common/u256.h"
#include "subnode/state/trie.h"

/* The largest contract code accepted from outside (pre-state): 24576 is the deploy limit;
 * state tests hold larger genesis code, so the cap is generous. */
#define STATE_CODE_MAX (1u << 20)
/* Caps on what one transaction may accumulate; the gas limit bounds them far below. */
#define STATE_LOGS_MAX (1u << 20)
#define STATE_LOG_TOPICS_MAX 4

/* keccak256("") - the code hash of an account without code. */
extern const uint8_t state_empty_code_hash[32];

struct state;

/* One log record. Topics and data are owned by the state; see state_logs(). */
struct state_log {
    uint8_t address[20];
    unsigned topic_count;
    uint8_t topics[STATE_LOG_TOPICS_MAX][32];
    const uint8_t *data; /* valid until the next change to the logs or state_tx_begin */
    size_t data_len;
};

/* Allocates an empty state; NULL when out of memory. Free with state_free. */
struct state *state_new(void);
void state_free(struct state *st);

/* ---- Genesis: building the pre-state. Not journaled; call outside a transaction. ---- */

/*
 * Creates or replaces the account at address with the given fields; copies code (code_len
 * up to STATE_CODE_MAX). Errors: STATE_E_RANGE, STATE_E_NOMEM.
 */
int state_put_account(struct state *st, const uint8_t address[20], uint64_t nonce, u256 balance,
                      const uint8_t *code, size_t code_len, struct cohort_error *err);
/* Sets a committed storage value of an existing account (put it first). */
int state_put_storage(struct state *st, const uint8_t address[20], u256 key, u256 value, struct cohort_error *err);

/* ---- Reads. None changes the state (no record is created for an unknown address). ---- */

bool state_exists(const struct state *st, const uint8_t address[20]);
/* Exists and has nonce 0, balance 0 and no code (EIP-161's "empty"). False when absent. */
bool state_is_empty(const struct state *st, const uint8_t address[20]);
/* Absent or empty. */
bool state_is_dead(const struct state *st, const uint8_t address[20]);
uint64_t state_nonce(const struct state *st, const uint8_t address[20]);
u256 state_balance(const struct state *st, const uint8_t address[20]);
/* The code (owned by the state, valid until that account's code changes) and its length. */
const uint8_t *state_code(const struct state *st, const uint8_t address[20], size_t *code_len);
/* keccak256 of the code; all zeros for an absent account (EXTCODEHASH's rule). */
void state_code_hash(const struct state *st, const uint8_t address[20], uint8_t out[32]);
/* True when the account has a non-zero current storage value (EIP-7610 collision check). */
bool state_has_storage(const struct state *st, const uint8_t address[20]);
u256 state_storage(const struct state *st, const uint8_t address[20], u256 key);
/* The value at the start of the current transaction. */
u256 state_storage_original(const struct state *st, const uint8_t address[20], u256 key);
u256 state_transient(const struct state *st, const uint8_t address[20], u256 key);
bool state_created_in_tx(const struct state *st, const uint8_t address[20]);
bool state_is_warm(const struct state *st, const uint8_t address[20]);

/* ---- Journaled changes (inside a transaction). Each may allocate when a map grows. ---- */

/* A journal position; state_revert(st, snap) undoes every change made after it. */
size_t state_snapshot(const struct state *st);
void state_revert(struct state *st, size_t snapshot);

/*
 * Each returns 0, or STATE_E_NOMEM (err filled) when a map or the journal cannot grow.
 * Balance arithmetic is modulo 2^256: callers check balances first.
 */
int state_set_nonce(struct state *st, const uint8_t address[20], uint64_t nonce, struct cohort_error *err);
int state_add_balance(struct state *st, const uint8_t address[20], u256 amount, struct cohort_error *err);
int state_sub_balance(struct state *st, const uint8_t address[20], u256 amount, struct cohort_error *err);
/* Sets the balance outright (self-destruct's burn). */
int state_set_balance(struct state *st, const uint8_t address[20], u256 balance, struct cohort_error *err);
/* Copies code into the account (a deployment). code_len up to STATE_CODE_MAX. */
int state_set_code(struct state *st, const uint8_t address[20], const uint8_t *code, size_t code_len,
                   struct cohort_error *err);
int state_set_storage(struct state *st, const uint8_t address[20], u256 key, u256 value, struct cohort_error *err);
int state_set_transient(struct state *st, const uint8_t address[20], u256 key, u256 value, struct cohort_error *err);
/*
 * Makes the account exist, keeping its balance; nonce, code and storage stay as they are
 * (a creation never lands on an account with any of them: that is a collision). Marks
 * it created in this transaction (EIP-6780).
 */
int state_create_account(struct state *st, const uint8_t address[20], struct cohort_error *err);
/* Touches the account (EIP-161): it exists from now on, and is deleted at the end of the
 * transaction if it is then empty. */
int state_touch(struct state *st, const uint8_t address[20], struct cohort_error *err);
/* Marks the account for deletion at the end of the transaction (SELFDESTRUCT). */
int state_mark_destructed(struct state *st, const uint8_t address[20], struct cohort_error *err);
/* Marks the address warm (EIP-2929); *was_warm (if not NULL) says whether it already was. */
int state_warm_account(struct state *st, const uint8_t address[20], bool *was_warm, struct cohort_error *err);
int state_warm_slot(struct state *st, const uint8_t address[20], u256 key, bool *was_warm, struct cohort_error *err);
/* Appends a log; copies topics (topic_count <= 4 hashes of 32 bytes, back to back) and data. */
int state_add_log(struct state *st, const uint8_t address[20], const uint8_t *topics, unsigned topic_count,
                  const uint8_t *data, size_t data_len, struct cohort_error *err);

/* ---- Transactions ---- */

/* Starts a transaction: clears the previous transaction's logs. The journal must be empty. */
void state_tx_begin(struct state *st);
/* Applies the end-of-transaction rules (see the top of this file) and clears the journal. */
void state_tx_end(struct state *st);

/* The logs of the current (or last ended) transaction, in order; owned by the state. */
const struct state_log *state_logs(const struct state *st, size_t *count);

/*
 * keccak256 of the RLP list of the logs, each [address, [topics...], data]: the "logs"
 * field of a state test.
 */
int state_logs_hash(const struct state *st, uint8_t out[32], struct cohort_error *err);

/*
 * Writes the existing accounts and their non-zero storage to out as text, one account per
 * line and one slot per indented line, in no particular order: a debugging aid.
 */
void state_dump(const struct state *st, FILE *out);

/* ---- A backend: the state on disk behind this one (the chain node's LMDB store) ----
 *
 * Without a backend the state is the whole world (state tests, genesis). With one, the
 * state is a cache and an overlay: the first read of an account, a slot or a code hash
 * loads it from the backend into a record (not journaled: loading changes nothing), and
 * every change stays here until the caller writes the block's changes out
 * (state_for_each_change) and drops them (state_reset). An account deleted in this state
 * (self-destruct, EIP-161) has no storage from then on, whatever the backend holds.
 *
 * Reads cannot return errors, so a backend failure is sticky: the read answers as if the
 * thing were absent, and state_backend_error() reports the first failure until
 * state_reset. Whoever executes must check it after each transaction and discard the
 * work when it is set.
 */
struct state_backend {
    /* 1: the account exists (fields filled; has_storage: its storage root is not empty),
       0: absent, negative: failure (err filled). */
    int (*account)(void *arg, const uint8_t address[20], uint64_t *nonce, u256 *balance, uint8_t code_hash[32],
                   bool *has_storage, struct cohort_error *err);
    /* 0 with *value (zero when absent), or negative. */
    int (*storage)(void *arg, const uint8_t address[20], u256 key, u256 *value, struct cohort_error *err);
    /* 1 with the code (valid while the backend is), 0 when unknown, or negative. */
    int (*code)(void *arg, const uint8_t code_hash[32], const uint8_t **code, size_t *code_len,
                struct cohort_error *err);
    void *arg;
};

/* Puts backend (copied) behind st; st must hold no record yet. */
void state_set_backend(struct state *st, const struct state_backend *backend);

/* The first backend failure since state_new or state_reset, or NULL. */
const struct cohort_error *state_backend_error(const struct state *st);

/* What a block changed in one account: its final fields, or its deletion. */
struct state_account_change {
    uint8_t address[20];
    bool exists;              /* false: the account is deleted (or never came to exist) */
    uint64_t nonce;
    u256 balance;
    uint8_t code_hash[32];
    const uint8_t *code;      /* the code when code_changed (owned by the state) */
    size_t code_len;
    bool code_changed;
    bool storage_cleared;     /* every slot the backend holds for it is gone (before the slot changes below) */
};

/* A slot's final value (zero: deleted). Listed only for accounts that exist at the end. */
struct state_slot_change {
    uint8_t address[20];
    u256 key;
    u256 value;
};

/*
 * Calls on_account for every account changed since state_new / state_reset (outside a
 * transaction), then on_slot for every storage slot whose committed value differs from
 * what the backend held, each at most once and in no particular order. A callback
 * returning non-zero stops the walk and that value is returned.
 */
int state_for_each_change(const struct state *st,
                          int (*on_account)(void *arg, const struct state_account_change *change),
                          int (*on_slot)(void *arg, const struct state_slot_change *change), void *arg);

/*
 * Calls on_account for every address the state holds a record of and on_slot for every
 * storage slot it holds (read, written or warmed since state_new / state_reset):
 * eth_createAccessList's raw material. Non-zero from a callback stops the walk and is
 * returned.
 */
int state_for_each_record(const struct state *st, int (*on_account)(void *arg, const uint8_t address[20]),
                          int (*on_slot)(void *arg, const uint8_t address[20], u256 key), void *arg);

/* Drops every record (the cache and the changes), keeping the backend and the memory. */
void state_reset(struct state *st);

/*
 * Replaces an account's whole storage with nothing (eth_call's "state" override); later
 * state_put_storage calls fill it. Outside a transaction.
 */
int state_clear_storage(struct state *st, const uint8_t address[20], struct cohort_error *err);

/* The state root: the secure trie of existing accounts (see trie.h). Outside a transaction. */
int state_root(struct state *st, uint8_t out[32], struct cohort_error *err);

#endif
