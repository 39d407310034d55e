/* batch.c - the chain's BFT entries (layout in batch.h). */
#include "subnode/node/batch.h"

#include <string.h>

#include "common/bytes.h"
#include "common/keccak.h"
#include "subnode/chain/chain.h"

void batch_header_encode(const struct batch_header *header, uint8_t out[BATCH_HEADER_BYTES])
{
    out[0] = BATCH_MAGIC;
    out[1] = BATCH_VERSION;
    be_put(out + 2, header->timestamp_ms, 8);
    be_put(out + 10, header->parent_number, 8);
    memcpy(out + 18, header->parent_hash, 32);
    be_put(out + 50, header->member, 2);
    memcpy(out + 52, header->member_address, 20);
    memcpy(out + 72, header->cert, 65);
    be_put(out + 137, header->count, 4);
}

void batch_signing_hash(const uint8_t *entry, size_t len_without_signature, uint8_t out[32])
{
    keccak256(entry, len_without_signature, out);
}

int batch_decode(const uint8_t *entry, size_t len, size_t tx_max_bytes, struct batch_header *header,
                 struct cohort_error *err)
{
    if (len < BATCH_HEADER_BYTES + BATCH_SIGNATURE_BYTES)
        return cohort_error_set(err, CHAIN_E_INVALID, "chain", "batch: %zu bytes, shorter than its header and signature",
                                len);
    if (entry[0] != BATCH_MAGIC || entry[1] != BATCH_VERSION)
        return cohort_error_set(err, CHAIN_E_INVALID, "chain", "batch: magic 0x%02x version %u (want 'B' and %d)",
                                entry[0], entry[1], BATCH_VERSION);
    header->timestamp_ms = be_get(entry + 2, 8);
    header->parent_number = be_get(entry + 10, 8);
    memcpy(header->parent_hash, entry + 18, 32);
    header->member = (uint16_t)be_get(entry + 50, 2);
    memcpy(header->member_address, entry + 52, 20);
    memcpy(header->cert, entry + 72, 65);
    header->count = (uint32_t)be_get(entry + 137, 4);
    if (header->count > BATCH_TXS_MAX)
        return cohort_error_set(err, CHAIN_E_INVALID, "chain", "batch: %u transactions (cap %u)", header->count,
                                BATCH_TXS_MAX);
    size_t body_end = len - BATCH_SIGNATURE_BYTES, at = BATCH_HEADER_BYTES;
    for (uint32_t i = 0; i < header->count; i++) {
        if (body_end - at < 4)
            return cohort_error_set(err, CHAIN_E_INVALID, "chain", "batch: truncated at transaction %u of %u", i,
                                    header->count);
        size_t tx_len = (size_t)be_get(entry + at, 4);
        at += 4;
        if (tx_len == 0 || tx_len > tx_max_bytes || tx_len > body_end - at)
            return cohort_error_set(err, CHAIN_E_INVALID, "chain",
                                    "batch: transaction %u is %zu bytes (cap %zu, %zu left in the entry)", i, tx_len,
                                    tx_max_bytes, body_end - at);
        at += tx_len;
    }
    if (at != body_end)
        return cohort_error_set(err, CHAIN_E_INVALID, "chain", "batch: %zu bytes between the last transaction and the "
                                "signature", body_end - at);
    return 0;
}

int batch_next_tx(const uint8_t *entry, size_t len, size_t *offset, const uint8_t **tx, size_t *tx_len)
{
    if (*offset == 0) *offset = BATCH_HEADER_BYTES;
    if (len < BATCH_SIGNATURE_BYTES || *offset + 4 > len - BATCH_SIGNATURE_BYTES) return 0;
    size_t n = (size_t)be_get(entry + *offset, 4);
    *tx = entry + *offset + 4;
    *tx_len = n;
    *offset += 4 + n;
    return 1;
}
