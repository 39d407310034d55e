/*
 * batch.h - the chain's entries in the BFT log: a batch of raw transactions, signed by the
 * member that made it, with what that member saw (docs/chain.md "Batches").
 *
 *   'B' | version u8 (2) | timestamp_ms u64 | parent_number u64 | parent_hash 32
 *       | member u16 | member_address 20 | cert 65 | count u32
 *       | (len u32 | raw transaction) * count | signature 65          (integers big-endian)
 *
 * timestamp_ms is the member's clock when it made the batch; the block's timestamp is the
 * latest of its batches', in seconds, and never earlier than its parent's. parent_* is the
 * head the member had executed. member_address is the member's subnode key, cert its
 * node's signature vouching for it (chain_subnode_cert_digest), and signature the
 * subnode key's over keccak256 of every byte before it, so any member checks a batch with
 * chain.json alone, the same way, whatever it has learned: executing it or not never
 * depends on what one member knows. A member whose block parent_number has another hash
 * than f+1 members' batches say has diverged from the chain and halts.
 */
#ifndef COHORT_NODE_BATCH_H
#define COHORT_NODE_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

#define BATCH_MAGIC 'B'
#define BATCH_VERSION 2
#define BATCH_HEADER_BYTES (1 + 1 + 8 + 8 + 32 + 2 + 20 + 65 + 4)
#define BATCH_SIGNATURE_BYTES 65
#define BATCH_TXS_MAX 65536u

struct batch_header {
    uint64_t timestamp_ms;
    uint64_t parent_number;
    uint8_t parent_hash[32];
    uint16_t member;
    uint8_t member_address[20];
    uint8_t cert[65];
    uint32_t count;
};

/* Writes the header into out (BATCH_HEADER_BYTES); the caller appends count (len, tx) pairs. */
void batch_header_encode(const struct batch_header *header, uint8_t out[BATCH_HEADER_BYTES]);

/* The hash the signature covers: keccak256 of the batch's bytes before the signature. */
void batch_signing_hash(const uint8_t *entry, size_t len_without_signature, uint8_t out[32]);

/*
 * Checks a batch entry of len bytes strictly (magic, version, count <= BATCH_TXS_MAX, every
 * length within the entry, each transaction at most tx_max_bytes, a signature after the
 * last, nothing more) and fills *header. Does not check the signature or the cert (the
 * caller knows the members). Returns 0 or CHAIN_E_INVALID naming what is wrong.
 */
int batch_decode(const uint8_t *entry, size_t len, size_t tx_max_bytes, struct batch_header *header,
                 struct cohort_error *err);

/*
 * Walks the transactions of a batch batch_decode accepted: *offset starts at 0; returns 1
 * with the next one (pointing into entry), 0 after the last.
 */
int batch_next_tx(const uint8_t *entry, size_t len, size_t *offset, const uint8_t **tx, size_t *tx_len);

#endif
