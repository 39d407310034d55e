/*
 * tx.h - signed Ethereum transactions as bytes: decoding the raw forms of types 0-3, their
 * hashes, the hash each signature covers, and the sender.
 *
 * The raw form is what eth_sendRawTransaction carries and what a transaction's hash is
 * computed over:
 *
 *   type 0 (legacy)    rlp([nonce, gasPrice, gas, to, value, data, v, r, s])
 *   type 1 (EIP-2930)  0x01 || rlp([chainId, nonce, gasPrice, gas, to, value, data, accessList,
 *                                   yParity, r, s])
 *   type 2 (EIP-1559)  0x02 || rlp([chainId, nonce, maxPriorityFeePerGas, maxFeePerGas, gas, to,
 *                                   value, data, accessList, yParity, r, s])
 *   type 3 (EIP-4844)  0x03 || rlp([chainId, nonce, maxPriorityFeePerGas, maxFeePerGas, gas, to,
 *                                   value, data, accessList, maxFeePerBlobGas,
 *                                   blobVersionedHashes, yParity, r, s])
 *
 *   accessList = [[address, [storageKey, ...]], ...]; `to` is 20 bytes, or empty for a
 *   creation (never empty for type 3).
 *
 * Legacy v is 27/28 (no chain id) or chainId * 2 + 35/36 (EIP-155). The signing hash is
 * keccak256 of: legacy without EIP-155 rlp([nonce, gasPrice, gas, to, value, data]); with
 * EIP-155 the same list plus [chainId, 0, 0]; a typed transaction its type byte followed by
 * the RLP of its fields without yParity, r, s. The transaction hash is keccak256 of the raw
 * form. In a block body a legacy transaction appears as its RLP list and a typed one as an
 * RLP string holding the raw form.
 *
 * Decoding is strict (canonical RLP, exact field counts, no trailing bytes, s in the lower
 * half of the curve order as EIP-2 requires, r and s non-zero and below the order, yParity
 * 0 or 1) and capped (TX_RAW_MAX_BYTES by default; the access list and blob hashes by
 * count). The sender is recovered separately (tx_recover_sender) because it costs a curve
 * operation: a pool recovers it once at admission and keeps it.
 */
#ifndef COHORT_CHAIN_TX_H
#define COHORT_CHAIN_TX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/rlp.h"
#include "common/u256.h"
#include "subnode/chain/chain.h"

/* The largest raw transaction a chain admits (geth's txMaxSize is 128 KiB too). */
#define TX_RAW_MAX_BYTES (128u * 1024)
/* Caps on what one transaction may list; the size cap bounds them below this anyway. */
#define TX_ACCESS_ENTRIES_MAX 4096u
#define TX_ACCESS_KEYS_MAX 16384u
#define TX_BLOB_HASHES_MAX 16u

/*
 * A decoded signed transaction. `tx` holds the execution fields: its pointers (data,
 * access list and its keys, blob hashes) point into storage this object owns, as does
 * `raw`. Everything is valid until tx_free.
 */
struct tx_signed {
    struct chain_tx tx;          /* tx.sender is valid once sender_known */
    bool sender_known;
    uint8_t hash[32];            /* keccak256(raw) */
    uint8_t signing_hash[32];    /* what the signature covers */
    bool has_chain_id;           /* false only for a legacy transaction without EIP-155 */
    uint64_t chain_id;           /* 0 when !has_chain_id */
    u256 v;                      /* legacy: the v as sent; typed: yParity */
    uint8_t y_parity;            /* 0 or 1 */
    u256 r, s;
    const uint8_t *raw;          /* the raw form (a copy owned by this object) */
    size_t raw_len;
};

/*
 * Decodes one raw transaction of raw_len bytes (at most max_bytes; 0 means
 * TX_RAW_MAX_BYTES) into a new object (*out, freed with tx_free). Computes hash and
 * signing_hash; does not recover the sender. Returns 0, or CHAIN_E_INVALID, CHAIN_E_RANGE
 * or CHAIN_E_NOMEM (chain.h) with a message that names the field: "tx: field 4 (to): 19 bytes, want 20 or empty",
 * "tx: type 0x05 is not supported", "tx: 140000 bytes is over the 131072-byte cap".
 */
int tx_decode(const uint8_t *raw, size_t raw_len, size_t max_bytes, struct tx_signed **out,
              struct cohort_error *err);

/* Frees a decoded transaction; NULL is fine. */
void tx_free(struct tx_signed *t);

/*
 * Recovers the sender from the signature and signing hash into t->tx.sender and sets
 * sender_known. Returns 0, or an error when the signature does not recover ("tx: invalid
 * signature").
 */
int tx_recover_sender(struct tx_signed *t, struct cohort_error *err);

/*
 * Appends the raw form of t (as tx_decode reads it) to out, built from the decoded fields:
 * for anything tx_decode accepted it gives back exactly t->raw. Check out with
 * rlp_buf_check.
 */
void tx_encode(const struct tx_signed *t, struct rlp_buf *out);

/*
 * The checks that need no state, in the order of Ethereum's execution specs (and
 * TransactionTests): the type exists in revision; the chain id is chain_id (a legacy
 * transaction without EIP-155 has none and passes: refusing it is the caller's policy);
 * the nonce is below 2^64 - 1 (EIP-2681); the gas limit covers the intrinsic gas; the
 * init code of a creation is at most 49152 bytes (EIP-3860, Shanghai on); the priority
 * fee is at most the max fee; gas limit * fee cap (plus the blob fee cap) fits 256 bits;
 * a blob transaction has 1 to 6 hashes of version 0x01. Returns 0; CHAIN_E_REJECTED with
 * *reason (if not NULL) set; or CHAIN_E_INVALID for a wrong chain id (*reason stays
 * CHAIN_REJECT_NONE). err names the rule.
 */
int tx_validate_static(const struct tx_signed *t, enum evm_revision revision, uint64_t chain_id,
                       enum chain_reject_reason *reason, struct cohort_error *err);

/*
 * The EIP-1559 effective gas price of t under base_fee: for types 0 and 1 the gas price;
 * for types 2 and 3 min(maxFee, base_fee + maxPriorityFee). The caller has checked that
 * the fee cap covers base_fee.
 */
u256 tx_effective_gas_price(const struct chain_tx *tx, u256 base_fee);

/* The priority fee per gas the block's proposer earns: effective price - base_fee. */
u256 tx_effective_tip(const struct chain_tx *tx, u256 base_fee);

/* The fee cap used to compare transactions (replacement, eviction): gas_price or max_fee_per_gas. */
u256 tx_fee_cap(const struct chain_tx *tx);
/* The tip cap: gas_price (types 0 and 1) or max_priority_fee_per_gas. */
u256 tx_tip_cap(const struct chain_tx *tx);

#endif
