/*
 * fuzz_tx_decode.c - libFuzzer target for the raw transaction decoder (subnode/chain/tx.h).
 *
 * For any input: tx_decode never crashes; what it accepts has hash = keccak256(input),
 * re-encodes (tx_encode) to the identical bytes (the decoder is strict, so the encoding is
 * the only one of its value), decodes again to the same hashes, and its pointers lie in the
 * object. A refusal carries a "tx: " message and a chain code. Sender recovery and the
 * stateless checks run too (they must not crash on anything the decoder let through).
 * Any disagreement aborts, which libFuzzer reports as a crash.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/keccak.h"
#include "subnode/chain/tx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what, const struct cohort_error *err)
{
    fprintf(stderr, "fuzz_tx_decode: %s (%s)\n", what, err != NULL ? err->message : "");
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cohort_error err = {0};
    struct tx_signed *t = NULL;
    int rc = tx_decode(data, size, 0, &t, &err);
    if (rc != 0) {
        if (t != NULL) fail("refused but *out set", &err);
        if (rc != CHAIN_E_INVALID && rc != CHAIN_E_RANGE && rc != CHAIN_E_NOMEM) fail("unexpected code", &err);
        if (strncmp(err.message, "tx: ", 4) != 0) fail("message does not start with tx:", &err);
        return 0;
    }
    uint8_t hash[32];
    keccak256(data, size, hash);
    if (memcmp(hash, t->hash, 32) != 0) fail("hash is not keccak256(raw)", NULL);
    if (t->raw_len != size || memcmp(t->raw, data, size) != 0) fail("raw copy differs", NULL);
    if (t->tx.data_len > size) fail("data longer than the input", NULL);
    if (t->tx.type > 3 || t->y_parity > 1) fail("type or yParity out of range", NULL);

    struct rlp_buf buf;
    rlp_buf_init(&buf, 0);
    tx_encode(t, &buf);
    if (rlp_buf_check(&buf, &err) != 0) fail("encode failed", &err);
    if (buf.len != size || memcmp(buf.data, data, size) != 0) fail("re-encoding differs from the input", NULL);
    struct tx_signed *again = NULL;
    if (tx_decode(buf.data, buf.len, 0, &again, &err) != 0) fail("re-encoding does not decode", &err);
    if (memcmp(again->signing_hash, t->signing_hash, 32) != 0) fail("signing hash differs after a round trip", NULL);
    tx_free(again);
    rlp_buf_free(&buf);

    /* Touch every byte the object points at, so ASan sees any pointer outside it. */
    unsigned sum = 0;
    for (size_t i = 0; i < t->tx.access_list_len; i++)
        for (size_t k = 0; k < 32 * t->tx.access_list[i].key_count; k++) sum += t->tx.access_list[i].keys[k];
    for (size_t i = 0; i < 32 * t->tx.blob_count; i++) sum += t->tx.blob_hashes[i];
    for (size_t i = 0; i < t->tx.data_len; i++) sum += t->tx.data[i];
    if (sum == 0xffffffffu) fail("impossible sum", NULL);
    (void)tx_validate_static(t, EVM_CANCUN, 1, NULL, &err);
    if (tx_recover_sender(t, &err) == 0 && !t->sender_known) fail("recovered but sender_known false", NULL);
    (void)tx_effective_gas_price(&t->tx, u256_from_u64(7));
    (void)tx_effective_tip(&t->tx, u256_from_u64(7));
    tx_free(t);
    return 0;
}
