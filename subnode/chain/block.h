/*
 * block.h - Ethereum blocks: the header and its hash, receipts, the logs bloom, the base
 * fee and blob gas rules, the ordered roots, and block execution. Block import (the
 * blockchain tests, a member catching up) and block building (the chain node executing a
 * committed batch) share this code, so a block built here is one Ethereum would accept.
 *
 * The header, as RLP, in this order (the fields after nonce exist from the fork named):
 *
 *   [parentHash, ommersHash, coinbase, stateRoot, transactionsRoot, receiptsRoot,
 *    logsBloom (256 bytes), difficulty, number, gasLimit, gasUsed, timestamp, extraData
 *    (<= 32 bytes), mixHash (prevRandao after the merge), nonce (8 bytes),
 *    baseFeePerGas (London), withdrawalsRoot (Shanghai),
 *    blobGasUsed, excessBlobGas, parentBeaconBlockRoot (Cancun)]
 *
 * Its hash is keccak256 of that RLP. After the merge ommersHash is keccak256(rlp([])),
 * difficulty 0 and nonce 0.
 *
 * A receipt, as the receipts root hashes it: legacy rlp([status, cumulativeGasUsed,
 * logsBloom, logs]); typed type || rlp([...]); each log rlp([address, [topics...], data]).
 * status is 1 for success and 0 (the empty string) for failure.
 *
 * The transactions, receipts and withdrawals roots are tries keyed by rlp(index).
 */
#ifndef COHORT_CHAIN_BLOCK_H
#define COHORT_CHAIN_BLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/rlp.h"
#include "common/u256.h"
#include "subnode/chain/chain.h"
#include "subnode/chain/tx.h"
#include "subnode/state/state.h"

#define BLOCK_BLOOM_BYTES 256
#define BLOCK_EXTRA_DATA_MAX 32
#define BLOCK_HEADER_MAX_BYTES 1024     /* a decoded header's RLP is refused past this */
#define BLOCK_WITHDRAWALS_MAX 65536u

/* keccak256(rlp([])): the ommers hash of every post-merge block. */
extern const uint8_t block_empty_ommers_hash[32];

struct block_header {
    uint8_t parent_hash[32];
    uint8_t ommers_hash[32];
    uint8_t coinbase[20];
    uint8_t state_root[32];
    uint8_t transactions_root[32];
    uint8_t receipts_root[32];
    uint8_t logs_bloom[BLOCK_BLOOM_BYTES];
    u256 difficulty;
    uint64_t number;
    uint64_t gas_limit;
    uint64_t gas_used;
    uint64_t timestamp;
    uint8_t extra_data[BLOCK_EXTRA_DATA_MAX];
    size_t extra_data_len;
    uint8_t mix_hash[32]; /* prevRandao after the merge */
    uint8_t nonce[8];
    bool has_base_fee;    /* London on */
    u256 base_fee;
    bool has_withdrawals_root; /* Shanghai on */
    uint8_t withdrawals_root[32];
    bool has_blob_gas;    /* Cancun on: blobGasUsed and excessBlobGas */
    uint64_t blob_gas_used;
    uint64_t excess_blob_gas;
    bool has_parent_beacon_root; /* Cancun on */
    uint8_t parent_beacon_root[32];
};

/* Appends the header's RLP list to out (check out with rlp_buf_check). */
void block_header_encode(const struct block_header *header, struct rlp_buf *out);

/* keccak256 of the header's RLP. Encodes into a temporary buffer (at most about 710 bytes);
 * the process aborts if even that cannot be allocated. */
void block_header_hash(const struct block_header *header, uint8_t out[32]);

/*
 * Decodes a header from its RLP (exactly one item, at most BLOCK_HEADER_MAX_BYTES) or from
 * an already decoded list item (block_header_decode_item). Accepts 15 to 20 fields; the
 * optional ones must come in fork order. Returns 0 or CHAIN_E_INVALID / CHAIN_E_RANGE with
 * the field named.
 */
int block_header_decode(const uint8_t *rlp, size_t len, struct block_header *out, struct cohort_error *err);
int block_header_decode_item(const struct rlp_item *list, struct block_header *out, struct cohort_error *err);

/* ---- The base fee and blob gas (EIP-1559, EIP-4844) ---- */

/*
 * The base fee of a block whose parent used parent_gas_used of parent_gas_limit at
 * parent_base_fee: the target is half the limit, and the fee moves by at most 1/8 of the
 * parent's per block (an increase by at least 1 wei).
 */
u256 block_next_base_fee(uint64_t parent_gas_used, uint64_t parent_gas_limit, u256 parent_base_fee);

/* The excess blob gas of a block after a parent with these figures (Cancun's target: 3 blobs). */
uint64_t block_next_excess_blob_gas(uint64_t parent_excess_blob_gas, uint64_t parent_blob_gas_used);

/* ---- Logs, the bloom, receipts ---- */

struct block_log {
    uint8_t address[20];
    unsigned topic_count;                 /* 0..4 */
    uint8_t topics[4][32];
    const uint8_t *data;                  /* owned by whatever holds the receipt */
    size_t data_len;
};

/* Adds an address or topic to a 2048-bit bloom (the yellow paper's M3:2048). */
void block_bloom_add(uint8_t bloom[BLOCK_BLOOM_BYTES], const uint8_t *bytes, size_t len);
/* True when every bit bytes would set is set (a maybe, never a false no). */
bool block_bloom_may_contain(const uint8_t bloom[BLOCK_BLOOM_BYTES], const uint8_t *bytes, size_t len);
/* ORs the address and topics of every log into bloom. */
void block_bloom_of_logs(uint8_t bloom[BLOCK_BLOOM_BYTES], const struct block_log *logs, size_t count);

struct block_receipt {
    uint8_t type;                         /* the transaction's type */
    bool success;                         /* status 1 */
    uint64_t cumulative_gas_used;
    uint64_t gas_used;                    /* this transaction's */
    u256 effective_gas_price;
    bool has_contract_address;            /* a creation (as geth: even a failed one): the
                                             address it created or would have created */
    uint8_t contract_address[20];
    uint8_t bloom[BLOCK_BLOOM_BYTES];
    struct block_log *logs;
    size_t log_count;
};

/* Appends the receipt's consensus encoding (the bytes the receipts root hashes). */
void block_receipt_encode(const struct block_receipt *receipt, struct rlp_buf *out);

/* ---- Roots ---- */

/*
 * The root of the trie mapping rlp(i) to items[i] (each an encoded item of lens[i] bytes):
 * the transactions root (the raw transactions), the receipts root (block_receipt_encode),
 * the withdrawals root. count 0 gives the empty trie's root.
 */
int block_ordered_root(const uint8_t *const *items, const size_t *lens, size_t count, uint8_t root[32],
                       struct cohort_error *err);

/* ---- Withdrawals (Shanghai): credited by the consensus layer, amounts in gwei ---- */

struct block_withdrawal {
    uint64_t index;
    uint64_t validator_index;
    uint8_t address[20];
    uint64_t amount_gwei;
};

/* Appends rlp([index, validatorIndex, address, amount]). */
void block_withdrawal_encode(const struct block_withdrawal *withdrawal, struct rlp_buf *out);

/* ---- Whole blocks: rlp([header, [transactions...], [ommers...], [withdrawals...]]) ---- */

/* The largest block RLP block_decode accepts by default (max_bytes 0). */
#define BLOCK_RLP_MAX_BYTES ((size_t)32 << 20)
/* Caps on what one block may list; the byte cap bounds them below this anyway. */
#define BLOCK_TXS_MAX 1000000u

/*
 * A decoded block. The transactions (legacy as an RLP list, typed as a string holding the
 * raw form) are decoded with tx_decode, senders not recovered. ommer_count is how many
 * ommer headers the block lists (each must be a list; they are not decoded: after the
 * merge a block with any is invalid). has_withdrawals says the withdrawals list is there
 * (Shanghai on). Everything is owned by the object until block_free.
 */
struct block {
    struct block_header header;
    struct tx_signed **txs;
    size_t tx_count;
    size_t ommer_count;
    bool has_withdrawals;
    struct block_withdrawal *withdrawals;
    size_t withdrawal_count;
};

/*
 * Decodes a block of len bytes (at most max_bytes; 0 means BLOCK_RLP_MAX_BYTES) into a new
 * object (*out, freed with block_free). Each transaction may be as large as the block.
 * Returns 0, or CHAIN_E_INVALID / CHAIN_E_RANGE / CHAIN_E_NOMEM with the part named
 * ("block: transaction 3: tx: field 4 (to): ...").
 */
int block_decode(const uint8_t *rlp, size_t len, size_t max_bytes, struct block **out, struct cohort_error *err);

/* Frees a decoded block and its transactions; NULL is fine. */
void block_free(struct block *block);

/*
 * Appends rlp([header, [txs...], [], [withdrawals...]]) to out: a block as Ethereum
 * writes it (the withdrawals list only when has_withdrawals). Check out with rlp_buf_check.
 */
void block_encode(const struct block_header *header, struct tx_signed *const *txs, size_t tx_count,
                  bool has_withdrawals, const struct block_withdrawal *withdrawals, size_t withdrawal_count,
                  struct rlp_buf *out);

/* ---- Execution ---- */

enum block_exec_mode {
    BLOCK_IMPORT = 0, /* a block someone else built: any invalid transaction makes it invalid */
    BLOCK_BUILD = 1,  /* a committed batch: an invalid transaction, or one whose gas limit is
                         above the gas the block has left, is dropped and the rest go on */
};

/* EIP-4788: the beacon roots contract, and the system address its update comes from. */
extern const uint8_t block_beacon_roots_address[20];
extern const uint8_t block_system_address[20];

struct block_exec_input {
    /* The header's fields known before execution: number, timestamp, coinbase, gas_limit,
       base_fee, mix_hash, excess_blob_gas, parent_beacon_root (and the has_ flags). */
    const struct block_header *header;
    enum evm_revision revision;
    u256 chain_id;
    /* The transactions in order. block_execute recovers the sender of any whose
       sender_known is false (and sets it). */
    struct tx_signed *const *txs;
    size_t tx_count;
    const struct block_withdrawal *withdrawals;
    size_t withdrawal_count;
    enum block_exec_mode mode;
    /* BLOCKHASH's answer for the 256 blocks before this one. */
    void (*block_hash)(void *arg, uint64_t number, uint8_t out[32]);
    void *block_hash_arg;
};

/* Cancun's cap on the blob gas of a block: 6 blobs. */
#define BLOCK_MAX_BLOB_GAS (CHAIN_MAX_BLOBS_PER_BLOCK * (uint64_t)CHAIN_GAS_PER_BLOB)
/* EIP-4788: the gas the system call may use (not charged, not counted in the block). */
#define BLOCK_SYSTEM_CALL_GAS 30000000u

struct block_tx_drop {
    size_t index;                         /* into input.txs */
    enum chain_reject_reason reason;
    bool bad_signature;                   /* the sender could not be recovered */
};

/*
 * What executing a block gave. All memory (the arrays, the logs and their data) is owned
 * by the result and valid until block_exec_result_free.
 */
struct block_exec_result {
    size_t *included;                     /* indexes into input.txs, in block order */
    size_t included_count;
    struct block_receipt *receipts;       /* one per included transaction */
    struct block_tx_drop *dropped;        /* BLOCK_BUILD: every dropped transaction;
                                             BLOCK_IMPORT: the invalid one, when refused */
    size_t dropped_count;
    uint64_t gas_used;
    uint64_t blob_gas_used;
    uint8_t logs_bloom[BLOCK_BLOOM_BYTES];
    uint8_t transactions_root[32];        /* over the included transactions */
    uint8_t receipts_root[32];
    uint8_t withdrawals_root[32];
};

/*
 * Executes a block on st (outside a state transaction): the EIP-4788 system call when the
 * beacon roots contract has code (Cancun), then each transaction with chain_apply_tx, then
 * the withdrawals (Shanghai). Fees as chain_apply_tx pays them: the base fee is burned and
 * the priority fee goes to the header's coinbase. Fills *out (zeroed first; free it with
 * block_exec_result_free even on failure). The state root is the caller's to compute
 * (state_root in memory, the store's trie on disk).
 * Returns 0; CHAIN_E_REJECTED in BLOCK_IMPORT mode when a transaction is invalid (err names
 * its index and reason; st then holds part of the block: the caller discards it);
 * CHAIN_E_INTERNAL / CHAIN_E_NOMEM on a state or memory failure.
 */
int block_execute(struct state *st, const struct block_exec_input *input, struct block_exec_result *out,
                  struct cohort_error *err);

void block_exec_result_free(struct block_exec_result *result);

/*
 * Checks header against its parent as Ethereum's consensus rules do after the merge:
 * number = parent + 1, parent_hash, gas_limit within parent's +- parent/1024 and >= 5000,
 * gas_used <= gas_limit, timestamp > parent's (>= when allow_equal_timestamp: a cohort chain
 * makes several blocks a second), extra data <= 32 bytes, difficulty 0, nonce 0, ommers hash
 * empty, the base fee as block_next_base_fee gives, the excess blob gas as
 * block_next_excess_blob_gas gives, blob gas used at most BLOCK_MAX_BLOB_GAS and a whole
 * number of blobs, and the fork's optional fields present. "The fork's fields" means the
 * parent's: a header must carry exactly the optional fields its parent carries (the
 * function has no fork schedule, and a cohort chain never changes fork; a caller that
 * knows the fork checks the header's fields against it, as cohort-blocktest does).
 * Returns 0 or CHAIN_E_INVALID naming the rule.
 */
int block_validate_header(const struct block_header *header, const struct block_header *parent,
                          bool allow_equal_timestamp, struct cohort_error *err);

#endif
