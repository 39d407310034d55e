/*
 * txpool.h - the transaction pool: signed transactions waiting for a block, per sender in
 * nonce order, admitted, replaced, evicted, picked and retired by Ethereum's rules (those
 * of geth's legacypool, with its error words).
 *
 * A pure state machine: no threads, no clock, no I/O. What the pool checks against comes
 * in as parameters: the sender's nonce and balance (the caller reads them from the store
 * first), the base fee, the block's outcome. The caller serialises the calls that change
 * the pool (the chain node wraps it in a mutex); the queries (txpool_stats, _for_each,
 * _find, _sender, _pending_nonce, _check) write nothing, so readers may share a lock.
 *
 * Ownership. The pool owns the struct tx_signed objects it holds: txpool_add takes the
 * object when it admits it, and the pool tx_free()s every object it drops (replaced,
 * evicted, included in a block, below the sender's nonce, unaffordable, removed). Pointers
 * the pool lends (txpool_pick, txpool_find, txpool_for_each) stay valid until the next call
 * that changes the pool (txpool_add, txpool_block, txpool_remove, txpool_free); picked
 * transactions are in flight and are not evicted or replaced while in flight.
 *
 * Admission (txpool_add), in this order; each refusal has geth's words, so clients that
 * match on them (ethers: "nonce too low", "insufficient funds", "replacement transaction
 * underpriced") classify it as they would against geth:
 *
 *   the hash is held already                     "already known"
 *   no sender recovered                          "invalid sender"
 *   type 3 (no blob sidecars on these chains)    "transaction type not supported: ..."
 *   legacy without a chain id (EIP-155)          "only replay-protected (EIP-155) transactions
 *                                                 allowed over RPC"
 *   raw size over max_tx_bytes (128 KiB)         "oversized data: transaction size N, limit M"
 *   tx_validate_static (chain id, nonce 2^64-1, intrinsic gas, init code, tip over fee cap,
 *     gas * fee cap over 256 bits)               "invalid sender: invalid chain id for
 *                                                 signer: have X want Y", "nonce has max
 *                                                 value", "intrinsic gas too low: gas N,
 *                                                 minimum needed M", "max initcode size
 *                                                 exceeded: ...", "max priority fee per gas
 *                                                 higher than max fee per gas",
 *                                                 "insufficient funds for gas * price +
 *                                                 value: ... required balance exceeds 256 bits"
 *   gas limit over the block's                   "exceeds block gas limit"
 *   fee cap below the base fee floor given       "max fee per gas less than block base fee:
 *                                                 address 0x.., maxFeePerGas: X, baseFee: Y"
 *   tip cap below min_tip_cap                    "transaction underpriced: gas tip cap X,
 *                                                 minimum needed Y"
 *   nonce below the sender's state nonce         "nonce too low: next nonce N, tx nonce M"
 *   balance < gas * fee cap + value              "insufficient funds for gas * price + value:
 *                                                 balance X, tx cost Y, overshot Z"
 *   a nonce held and in flight (being made into a block)
 *                                                "nonce too low: nonce N is in a block being
 *                                                 made"
 *   a nonce held: the newcomer replaces it only when its fee cap and its tip cap are both
 *     at least 10% higher (and higher)           "replacement transaction underpriced"
 *   the sender holds max_per_sender: the newcomer takes the place of the sender's highest
 *     nonce when its own is lower, else          "account limit exceeded: pooled N txs"
 *   the pool holds max_transactions or max_bytes: the least worth go first until it fits,
 *     where worth is (ready before future, then tip cap, then the older first) and each
 *     sender offers only its highest nonce (a sender's lower nonce never goes before its
 *     higher ones; the newcomer's sender offers only nonces above the newcomer's; in-flight
 *     ones are never offered). When the next to go is worth as much as the newcomer or
 *     more, nothing is evicted and the newcomer is refused: "txpool is full".
 *
 * Queues. Per sender, the transactions held are in nonce order; the ready ones ("pending"
 * in geth's txpool_status) are the contiguous run from the sender's state nonce, the rest
 * (after a gap) are future ("queued"). A transaction that fills a gap promotes those after
 * it. Of the ready ones a prefix may be in flight (picked, not yet in a block).
 *
 * Picking (txpool_pick): ready transactions not in flight, each sender's in nonce order,
 * across senders the highest effective tip under the given base fee first (ties: the
 * earlier admitted), within a gas, a byte and a count budget. A sender whose next
 * transaction's fee cap is below the base fee, or whose next transaction does not fit the
 * gas or bytes left, gives nothing more to this pick (its later nonces cannot go before
 * it); the others go on. What is picked is in flight until the block that includes it, or
 * until it is released.
 *
 * After a block (txpool_block): the included hashes leave; the senders the block touched
 * are re-read through the caller's callback and re-checked: nonces below the state's
 * leave, transactions whose gas * fee cap + value is over the balance leave (those after
 * them wait as future for the gap to fill), future ones whose gap the block closed become
 * ready. With release_in_flight, in-flight transactions not included (the block dropped
 * them for gas, or its batch never made it) become pickable again and the node offers them
 * in its next batch.
 *
 * Complexity, with n transactions held, S senders, k per sender (at most max_per_sender):
 *   txpool_add           O(log S + k) (plus O(log S) per transaction it evicts)
 *   txpool_pick          O(S + m log S) for m picked (a heap over the senders' next ones,
 *                        built per pick because the order depends on the base fee)
 *   txpool_block         O(h + t (k + log S)) for h hashes and t touched senders
 *   txpool_find, _sender, _pending_nonce   O(1) expected (hash maps keyed by a seeded hash)
 *   txpool_stats O(1); txpool_for_each O(n + S); txpool_check O(n + S)
 * Memory: O(n + S). The hash maps are open addressing over a keyed hash (hash_seed), so a
 * client that grinds hashes or addresses cannot pile them into one bucket.
 */
#ifndef COHORT_CHAIN_TXPOOL_H
#define COHORT_CHAIN_TXPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/u256.h"
#include "subnode/chain/tx.h"
#include "subnode/evm/evm.h"

/* Defaults of struct txpool_config's zero fields (chain.json's defaults for the first two). */
#define TXPOOL_DEFAULT_MAX_TRANSACTIONS 10000u
#define TXPOOL_DEFAULT_MAX_BYTES (64ull * 1024 * 1024)
#define TXPOOL_DEFAULT_MAX_PER_SENDER 64u
/* A replacement's fee cap and tip cap must both be this many percent above the old ones. */
#define TXPOOL_PRICE_BUMP_PERCENT 10u

struct txpool_config {
    uint64_t chain_id;           /* EIP-155 chain id the transactions must carry */
    enum evm_revision revision;  /* the chain's fork: intrinsic gas and init code rules */
    uint64_t block_gas_limit;    /* no transaction may ask for more gas (must be > 0) */
    uint64_t max_transactions;   /* chain.json limits.txpool_max_transactions (0: 10000) */
    uint64_t max_bytes;          /* chain.json limits.txpool_max_bytes, raw sizes summed (0: 64 MiB) */
    uint32_t max_per_sender;     /* transactions one sender may hold (0: 64) */
    uint32_t max_tx_bytes;       /* one raw transaction (0: TX_RAW_MAX_BYTES, 128 KiB) */
    u256 min_tip_cap;            /* the least tip cap admitted (0: any) */
    uint64_t hash_seed;          /* random per process (getrandom): keys the hash maps */
};

/* A sender's account as the store has it: the state the pool checks against. */
struct txpool_account {
    uint64_t nonce;
    u256 balance;
};

/* Why txpool_add refused a transaction. Append only. */
enum txpool_refusal {
    TXPOOL_ACCEPTED = 0,
    TXPOOL_ALREADY_KNOWN,         /* "already known" */
    TXPOOL_INVALID_SENDER,        /* "invalid sender" (no sender recovered) */
    TXPOOL_TYPE_NOT_SUPPORTED,    /* "transaction type not supported" (type 3; a type the fork lacks) */
    TXPOOL_NOT_PROTECTED,         /* "only replay-protected (EIP-155) transactions allowed over RPC" */
    TXPOOL_OVERSIZED,             /* "oversized data" */
    TXPOOL_WRONG_CHAIN_ID,        /* "invalid sender: invalid chain id for signer" */
    TXPOOL_NONCE_MAX,             /* "nonce has max value" */
    TXPOOL_INTRINSIC_GAS,         /* "intrinsic gas too low" */
    TXPOOL_INITCODE_SIZE,         /* "max initcode size exceeded" */
    TXPOOL_TIP_ABOVE_FEE_CAP,     /* "max priority fee per gas higher than max fee per gas" */
    TXPOOL_GAS_LIMIT,             /* "exceeds block gas limit" */
    TXPOOL_FEE_CAP_TOO_LOW,       /* "max fee per gas less than block base fee" */
    TXPOOL_UNDERPRICED,           /* "transaction underpriced" (tip cap under min_tip_cap) */
    TXPOOL_NONCE_TOO_LOW,         /* "nonce too low" */
    TXPOOL_INSUFFICIENT_FUNDS,    /* "insufficient funds for gas * price + value" */
    TXPOOL_IN_FLIGHT,             /* "nonce too low: nonce N is in a block being made" */
    TXPOOL_REPLACE_UNDERPRICED,   /* "replacement transaction underpriced" */
    TXPOOL_ACCOUNT_LIMIT,         /* "account limit exceeded" */
    TXPOOL_FULL,                  /* "txpool is full" */
    TXPOOL_REFUSAL_COUNT
};

/* A static name for a refusal ("NONCE_TOO_LOW"...); "UNKNOWN" past the enum. */
const char *txpool_refusal_name(enum txpool_refusal refusal);

struct txpool;

/*
 * Makes an empty pool with config (copied). Returns 0 with *out (free with txpool_free),
 * CHAIN_E_INVALID when block_gas_limit is 0, or CHAIN_E_NOMEM.
 */
int txpool_new(const struct txpool_config *config, struct txpool **out, struct cohort_error *err);

/* Frees the pool and every transaction it holds. NULL is fine. */
void txpool_free(struct txpool *pool);

/*
 * Admits t (decoded, its sender recovered: tx_recover_sender) by the rules above, checking
 * it against the sender's account (read from the store by the caller; when the pool has
 * seen a newer nonce for the sender from a block, the newer one counts) and base_fee_floor
 * (the least fee cap admitted: the next block's base fee, or the chain's floor).
 * Returns 0 when admitted: the pool owns t from then on (it may replace a transaction of
 * the same nonce, or evict others, freeing them). Returns CHAIN_E_REJECTED with *refusal
 * (if not NULL) and err set to geth's words when refused: t stays the caller's. Returns
 * CHAIN_E_NOMEM (t the caller's, the pool unchanged) when memory ran out.
 */
int txpool_add(struct txpool *pool, struct tx_signed *t, const struct txpool_account *sender,
               u256 base_fee_floor, enum txpool_refusal *refusal, struct cohort_error *err);

/* A batch's budget. The count is also bounded by txpool_pick's out_cap. */
struct txpool_pick_limits {
    uint64_t gas;             /* the gas limits picked add up to at most this */
    uint64_t bytes;           /* the raw sizes picked, each plus overhead_bytes, add up to at most this */
    uint32_t overhead_bytes;  /* counted per transaction on top of its raw size (a batch's length prefix) */
    size_t count;             /* at most this many */
};

/*
 * Picks ready transactions for a block under base_fee (the order above) into out (at most
 * out_cap) and marks them in flight. Returns how many; out[i] are lent (valid until the
 * next call that changes the pool). Does not allocate.
 */
size_t txpool_pick(struct txpool *pool, u256 base_fee, const struct txpool_pick_limits *limits,
                   const struct tx_signed **out, size_t out_cap);

/*
 * Reads the account of address as of the block just committed into *out. Returns 0, or
 * negative with err set: the pool then leaves that sender as it was.
 */
typedef int (*txpool_account_fn)(void *arg, const uint8_t address[20], struct txpool_account *out,
                                 struct cohort_error *err);

/* What a committed block tells the pool. The arrays are the caller's, read during the call. */
struct txpool_block_update {
    const uint8_t (*included)[32];  /* hashes of the transactions the block includes */
    size_t included_count;
    const uint8_t (*senders)[20];   /* senders whose nonce or balance the block changed: the
                                       senders of its transactions (included or dropped) */
    size_t sender_count;
    bool release_in_flight;         /* in-flight transactions not included become pickable again */
};

/*
 * Applies a committed block: the included transactions leave, then every sender the pool
 * holds that is among update->senders, or whose transaction was included, is re-read
 * with account(arg, ...) (once each) and re-checked (see "After a block"). Senders the
 * pool does not hold are not read. Returns 0, or the first error account returned (after
 * re-checking the other senders).
 */
int txpool_block(struct txpool *pool, const struct txpool_block_update *update, txpool_account_fn account,
                 void *arg, struct cohort_error *err);

/*
 * Puts in-flight transactions back: each named one (if held and in flight) and its
 * sender's later in-flight ones become pickable again (a sender's nonces go in order).
 * Hashes not held are ignored.
 */
void txpool_release(struct txpool *pool, const uint8_t (*hashes)[32], size_t count);

/* Every in-flight transaction becomes pickable again. */
void txpool_release_all(struct txpool *pool);

/*
 * Removes the named transactions (held, in flight or not) and frees them; the sender's
 * later ones wait as future for the gap to fill. For a transaction a block dropped for a
 * reason the pool cannot see (the sender has code: EIP-3607), so it is not offered again.
 * Returns how many were held.
 */
size_t txpool_remove(struct txpool *pool, const uint8_t (*hashes)[32], size_t count);

/* ---- Queries (O(1) unless said) ---- */

struct txpool_stats {
    uint64_t pending;    /* ready: txpool_status's "pending" (in-flight ones included) */
    uint64_t queued;     /* future: txpool_status's "queued" */
    uint64_t in_flight;  /* picked, not yet in a block */
    uint64_t bytes;      /* raw sizes summed */
    uint64_t senders;
};
void txpool_stats(const struct txpool *pool, struct txpool_stats *out);

/*
 * Calls fn for every transaction held, sender by sender, each sender's in nonce order,
 * with pending = ready. The transaction is lent for the call; fn must not call the pool's
 * functions that change it. O(n + S).
 */
void txpool_for_each(const struct txpool *pool, void (*fn)(void *arg, const struct tx_signed *tx, bool pending),
                     void *arg);

/* The transaction with this hash (lent, see Ownership) and *pending (if not NULL), or NULL. */
const struct tx_signed *txpool_find(const struct txpool *pool, const uint8_t hash[32], bool *pending);

/*
 * True with sender filled when the pool holds the transaction with this hash: the
 * executor uses it to skip recovering a signature the pool already recovered.
 */
bool txpool_sender(const struct txpool *pool, const uint8_t hash[32], uint8_t sender[20]);

/*
 * True with *nonce = the nonce after the sender's last ready transaction when it has
 * any ready (eth_getTransactionCount "pending"); false otherwise (the state's nonce answers).
 */
bool txpool_pending_nonce(const struct txpool *pool, const uint8_t sender[20], uint64_t *nonce);

/*
 * Checks every invariant of the pool's structures (counts, queues, maps, heaps) in O(n + S).
 * Returns 0, or CHAIN_E_INTERNAL naming the first that does not hold. For tests.
 */
int txpool_check(const struct txpool *pool, struct cohort_error *err);

/*
 * The elementary steps the pool has taken since it was made (hash probes, heap moves,
 * array moves, queue walks): tests bound it to show no operation grows with the pool's
 * size where the complexity above says it does not.
 */
uint64_t txpool_work(const struct txpool *pool);

#endif
