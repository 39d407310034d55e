/*
 * batch.h - the chain's entries in the BFT log: a batch of raw transactions with what the
 * member that proposed it saw (docs/chain.md "Batches").
 *
 *   'B' | version u8 (1) | timestamp_ms u64 | parent_number u64 | parent_hash 32 | count u32
 *       | (len u32 | raw transaction) * count                      (integers big-endian)
 *
 * timestamp_ms is the proposer's clock when it made the batch; the block's timestamp is
 * the latest of its batches', in seconds, and never earlier than its parent's. parent_* is
 * the head the proposer had executed when it made the batch: a member whose block of that
 * number has another hash has diverged from the proposer and halts (the check is one
 * side's: the others catch a diverged proposer by the same rule when they propose).
 */
#ifndef COHORT_NODE_BATCH_H
#define COHORT_NODE_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

#define BATCH_MAGIC 'B'
#define BATCH_VERSION 1
#define BATCH_HEADER_BYTES (1 + 1 + 8 + 8 + 32 + 4)
#define BATCH_TXS_MAX 65536u

struct batch_header {
    uint64_t timestamp_ms;
    uint64_t parent_number;
    uint8_t parent_hash[32];
    uint32_t count;
};

/* Writes the header into out (BATCH_HEADER_BYTES); the caller appends count (len, tx) pairs. */
void batch_header_encode(const struct batch_header *header, uint8_t out[BATCH_HEADER_BYTES]);

/*
 * Checks a batch entry of len bytes strictly (magic, version, count <= BATCH_TXS_MAX, every
 * length within the entry, no trailing bytes, each transaction at most tx_max_bytes) and
 * fills *header. Returns 0 or CHAIN_E_INVALID naming what is wrong.
 */
int batch_decode(const uint8_t *entry, size_t len, size_t tx_max_bytes, struct batch_header *header,
                 struct cohort_error *err);

/*
 * Walks the transactions of a batch batch_decode accepted: *offset starts at 0; returns 1
 * with the next one (pointing into entry), 0 after the last.
 */
int batch_next_tx(const uint8_t *entry, size_t len, size_t *offset, const uint8_t **tx, size_t *tx_len);

#endif
