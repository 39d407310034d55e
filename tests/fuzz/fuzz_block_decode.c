/*
 * fuzz_block_decode.c - libFuzzer target for block and header decoding (subnode/chain/block.h).
 *
 * For any input: block_decode and block_header_decode never crash; a block they accept
 * without ommers re-encodes (block_encode) to the identical bytes, and a header to its
 * identical bytes with the same hash (the decoders are strict: one encoding per value).
 * A refusal carries a chain code. Header validation runs on what decoded (it must not
 * crash on any field values). Any disagreement aborts, which libFuzzer reports as a crash.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/keccak.h"
#include "subnode/chain/block.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what, const struct cohort_error *err)
{
    fprintf(stderr, "fuzz_block_decode: %s (%s)\n", what, err != NULL ? err->message : "");
    abort();
}

static void check_code(int rc, const struct cohort_error *err)
{
    if (rc != CHAIN_E_INVALID && rc != CHAIN_E_RANGE && rc != CHAIN_E_NOMEM) fail("unexpected code", err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cohort_error err = {0};
    struct rlp_buf buf;
    rlp_buf_init(&buf, 0);

    struct block_header h;
    int rc = block_header_decode(data, size, &h, &err);
    if (rc != 0) {
        check_code(rc, &err);
    } else {
        block_header_encode(&h, &buf);
        if (rlp_buf_check(&buf, &err) != 0 || buf.len != size || memcmp(buf.data, data, size) != 0)
            fail("header does not re-encode to its bytes", NULL);
        uint8_t a[32], b[32];
        block_header_hash(&h, a);
        keccak256(data, size, b);
        if (memcmp(a, b, 32) != 0) fail("header hash is not keccak256 of its bytes", NULL);
        struct block_header child = h;
        child.number = h.number + 1;
        (void)block_validate_header(&child, &h, false, &err);
        (void)block_next_base_fee(h.gas_used, h.gas_limit, h.base_fee);
        (void)block_next_excess_blob_gas(h.excess_blob_gas, h.blob_gas_used);
    }

    struct block *blk = NULL;
    rc = block_decode(data, size, 0, &blk, &err);
    if (rc != 0) {
        check_code(rc, &err);
        if (blk != NULL) fail("refused but *out set", &err);
    } else if (blk->ommer_count == 0) {
        rlp_buf_reset(&buf);
        block_encode(&blk->header, blk->txs, blk->tx_count, blk->has_withdrawals, blk->withdrawals,
                     blk->withdrawal_count, &buf);
        if (rlp_buf_check(&buf, &err) != 0 || buf.len != size || memcmp(buf.data, data, size) != 0)
            fail("block does not re-encode to its bytes", NULL);
    }
    block_free(blk);
    rlp_buf_free(&buf);
    return 0;
}
