/*
 * chain.h - transaction execution as Ethereum's state tests define it: validation, the
 * upfront charge, running the message in the VM, refunds and fees.
 *
 * chain_apply_tx() either rejects a transaction (it is invalid: the state is unchanged
 * and the result names the reason) or includes it (whatever its execution did: success,
 * revert, out of gas; the state holds its effects, the sender paid for the gas).
 *
 * Supported: Cancun (the default of the state tests) and the earlier forks back to Berlin
 * where the fixtures need them; transaction types 0 (legacy), 1 (EIP-2930), 2 (EIP-1559)
 * and 3 (EIP-4844 blobs).
 */
#ifndef COHORT_CHAIN_CHAIN_H
#define COHORT_CHAIN_CHAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/u256.h"
#include "subnode/evm/evm.h"
#include "subnode/state/state.h"

/* Codes of the chain library. Append only. */
enum chain_status {
    CHAIN_OK = 0,
    CHAIN_E_REJECTED = COHORT_ERRORS_CHAIN - 1, /* the transaction is invalid; result->reason says why */
    CHAIN_E_INTERNAL = COHORT_ERRORS_CHAIN - 2, /* the state could not grow (out of memory) */
    CHAIN_E_INVALID = COHORT_ERRORS_CHAIN - 3,  /* malformed bytes from outside: a raw transaction, a block */
    CHAIN_E_RANGE = COHORT_ERRORS_CHAIN - 4,    /* a size or count past its cap */
    CHAIN_E_NOMEM = COHORT_ERRORS_CHAIN - 5,    /* allocation failed */
};

const char *chain_strerror(int code);

/* Why a transaction was rejected. Append only. */
enum chain_reject_reason {
    CHAIN_REJECT_NONE = 0,
    CHAIN_REJECT_NONCE_MISMATCH,
    CHAIN_REJECT_NONCE_MAX,             /* EIP-2681: the sender's nonce is 2^64 - 1 */
    CHAIN_REJECT_INSUFFICIENT_FUNDS,    /* gas * price + value + blob fee above the balance */
    CHAIN_REJECT_INTRINSIC_GAS,         /* gas limit below the intrinsic gas */
    CHAIN_REJECT_GAS_LIMIT_OVER_BLOCK,  /* gas limit above the block's */
    CHAIN_REJECT_FEE_BELOW_BASE_FEE,    /* max fee (or gas price) below the base fee */
    CHAIN_REJECT_PRIORITY_OVER_MAX_FEE, /* priority fee above the max fee */
    CHAIN_REJECT_SENDER_NOT_EOA,        /* EIP-3607: the sender has code */
    CHAIN_REJECT_INITCODE_SIZE,         /* EIP-3860: init code over 49152 bytes */
    CHAIN_REJECT_BLOB_CREATE,           /* a blob transaction without "to" */
    CHAIN_REJECT_BLOB_COUNT,            /* no blobs, or more than 6 */
    CHAIN_REJECT_BLOB_VERSION,          /* a versioned hash not starting with 0x01 */
    CHAIN_REJECT_BLOB_FEE,              /* max fee per blob gas below the blob base fee */
    CHAIN_REJECT_TYPE_UNSUPPORTED,      /* a type the fork does not know */
    CHAIN_REJECT_VALUE_OVERFLOW,        /* gas * price or the sum overflows 256 bits */
};

/* A static name for a reason ("INTRINSIC_GAS_TOO_LOW"...), close to the fixtures' names. */
const char *chain_reject_name(enum chain_reject_reason reason);

/* One access-list entry: an address and its storage keys (key_count * 32 bytes). */
struct chain_access_entry {
    uint8_t address[20];
    const uint8_t *keys; /* big-endian 32-byte keys, back to back; owned by the caller */
    size_t key_count;
};

struct chain_tx {
    unsigned type;       /* 0 legacy, 1 EIP-2930, 2 EIP-1559, 3 EIP-4844 */
    uint8_t sender[20];  /* recovered or derived by the caller */
    uint64_t nonce;
    uint64_t gas_limit;
    u256 gas_price;                /* types 0 and 1 */
    u256 max_fee_per_gas;          /* types 2 and 3 */
    u256 max_priority_fee_per_gas; /* types 2 and 3 */
    bool has_to;                   /* false: contract creation */
    uint8_t to[20];
    u256 value;
    const uint8_t *data; /* owned by the caller */
    size_t data_len;
    const struct chain_access_entry *access_list; /* owned by the caller */
    size_t access_list_len;
    u256 max_fee_per_blob_gas;   /* type 3 */
    const uint8_t *blob_hashes;  /* type 3: blob_count * 32 bytes; owned by the caller */
    size_t blob_count;
};

struct chain_block {
    enum evm_revision revision;
    uint8_t coinbase[20];
    uint64_t number;
    uint64_t timestamp;
    uint64_t gas_limit;
    u256 base_fee;
    u256 difficulty;     /* before the merge */
    uint8_t prev_randao[32]; /* after the merge (the "random" field) */
    uint64_t excess_blob_gas;
    u256 chain_id;
    /* BLOCKHASH's answer for the 256 blocks before this one; NULL answers zeros. */
    void (*block_hash)(void *arg, uint64_t number, uint8_t out[32]);
    void *block_hash_arg;
    /*
     * eth_call's semantics (geth's SkipNonceChecks, SkipFromEOACheck, no block gas pool):
     * the nonce, EIP-3607 and gas-limit-over-the-block's checks are skipped. The caller
     * passes the sender's current nonce as tx->nonce (the address a creation gets derives
     * from it); when the call names no gas price it passes a zero price and a zero
     * base_fee, so neither the base fee check nor a fee charge applies (BASEFEE then reads
     * 0, as in geth). Never set for a transaction that goes into a block.
     */
    bool call_mode;
};

struct chain_tx_result {
    enum chain_reject_reason reason; /* CHAIN_REJECT_NONE when included */
    bool success;                    /* included: the top-level call succeeded */
    uint64_t gas_used;               /* included: gas charged after the refund */
    enum evm_status status;          /* included: how the top-level message ended */
    bool unimplemented_precompile;   /* the execution called a precompile the VM lacks (0x06-0x08, 0x0a) */
    /* included: the top-level RETURN or REVERT data (output_size bytes; NULL when 0).
       Owned by the VM: valid until the next evm_execute on this thread. */
    const uint8_t *output;
    size_t output_size;
};

/* Gas one blob uses (EIP-4844) and the Cancun cap per block (6 blobs). */
#define CHAIN_GAS_PER_BLOB 131072u
#define CHAIN_MAX_BLOBS_PER_BLOCK 6u

/* The blob base fee for an excess blob gas (EIP-4844's fake_exponential). */
u256 chain_blob_base_fee(uint64_t excess_blob_gas);

/*
 * The intrinsic gas of tx under revision: 21000 (53000 creating), 4 per zero and 16 per
 * other data byte, 2400 per access-list address and 1900 per key, and for a creation
 * 2 per 32-byte word of init code (EIP-3860, Shanghai on).
 */
uint64_t chain_intrinsic_gas(const struct chain_tx *tx, enum evm_revision revision);

/*
 * Validates tx against st and block, and, when valid, executes it: charges the sender,
 * runs the message with evm_execute, refunds, pays the coinbase, and ends the state's
 * transaction (state_tx_begin/state_tx_end are called here). Fills *result.
 * Returns 0 when the transaction was included, CHAIN_E_REJECTED (err and result->reason
 * filled; the state unchanged) when it is invalid, CHAIN_E_INTERNAL on out of memory.
 */
int chain_apply_tx(struct state *st, const struct chain_block *block, const struct chain_tx *tx,
                   struct chain_tx_result *result, struct cohort_error *err);

#endif
