/* batch.c - the chain's BFT entries (layout in batch.h). */
#include "subnode/node/batch.h"

#include <string.h>

#include "common/bytes.h"
#include "subnode/chain/chain.h"

void batch_header_encode(const struct batch_header *header, uint8_t out[BATCH_HEADER_BYTES])
{
    out[0] = BATCH_MAGIC;
    out[1] = BATCH_VERSION;
    be_put(out + 2, header->timestamp_ms, 8);
    be_put(out + 10, header->parent_number, 8);
    memcpy(out + 18, header->parent_hash, 32);
    be_put(out + 50, header->count, 4);
}

int batch_decode(const uint8_t *entry, size_t len, size_t tx_max_bytes, struct batch_header *header,
                 struct cohort_error *err)
{
    if (len < BATCH_HEADER_BYTES)
        return cohort_error_set(err, CHAIN_E_INVALID, "chain", "batch: %zu bytes, shorter than its %d-byte header", len,
                                BATCH_HEADER_BYTES);
    if (entry[0] != BATCH_MAGIC || entry[1] != BATCH_VERSION)
        return cohort_error_set(err, CHAIN_E_INVALID, "chain", "batch: magic 0x%02x version %u (want 'B' and %d)",
                                entry[0], entry[1], BATCH_VERSION);
    header->timestamp_ms = be_get(entry + 2, 8);
    header->parent_number = be_get(entry + 10, 8);
    memcpy(header->parent_hash, entry + 18, 32);
    header->count = (uint32_t)be_get(entry + 50, 4);
    if (header->count > BATCH_TXS_MAX)
        return cohort_error_set(err, CHAIN_E_INVALID, "chain", "batch: %u transactions (cap %u)", header->count,
                                BATCH_TXS_MAX);
    size_t at = BATCH_HEADER_BYTES;
    for (uint32_t i = 0; i < header->count; i++) {
        if (len - at < 4)
            return cohort_error_set(err, CHAIN_E_INVALID, "chain", "batch: truncated at transaction %u of %u", i,
                                    header->count);
        size_t tx_len = (size_t)be_get(entry + at, 4);
        at += 4;
        if (tx_len == 0 || tx_len > tx_max_bytes || tx_len > len - at)
            return cohort_error_set(err, CHAIN_E_INVALID, "chain",
                                    "batch: transaction %u is %zu bytes (cap %zu, %zu left in the entry)", i, tx_len,
                                    tx_max_bytes, len - at);
        at += tx_len;
    }
    if (at != len)
        return cohort_error_set(err, CHAIN_E_INVALID, "chain", "batch: %zu bytes after the last transaction", len - at);
    return 0;
}

int batch_next_tx(const uint8_t *entry, size_t len, size_t *offset, const uint8_t **tx, size_t *tx_len)
{
    if (*offset == 0) *offset = BATCH_HEADER_BYTES;
    if (*offset + 4 > len) return 0;
    size_t n = (size_t)be_get(entry + *offset, 4);
    *tx = entry + *offset + 4;
    *tx_len = n;
    *offset += 4 + n;
    return 1;
}
