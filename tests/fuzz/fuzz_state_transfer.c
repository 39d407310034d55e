/*
 * fuzz_state_transfer.c - libFuzzer target for what a member takes from another during a
 * state transfer (subnode/store/store.h "State transfer"): state chunks and blocks answers.
 *
 * Input: a selector byte; 0: a cursor (53 bytes) then a chunk for store_chunk_decode;
 * 1: a block number (8 bytes, taken modulo 600), a header count (1 byte) then a blocks
 * answer for store_blocks_decode.
 * For any input the decoders never crash nor read out of bounds; what they accept keeps
 * their promises (records in strictly increasing order, code that hashes to its hash,
 * non-zero slots; headers as many as BLOCKHASH needs, linked by their hashes); a refusal
 * carries a store code. Any broken promise aborts, which libFuzzer reports as a crash.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/keccak.h"
#include "subnode/store/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what)
{
    fprintf(stderr, "fuzz_state_transfer: %s\n", what);
    abort();
}

static void chunk(const uint8_t *data, size_t size)
{
    if (size < STORE_CURSOR_BYTES) return;
    struct store_chunk c;
    struct cohort_error err = {0};
    int rc = store_chunk_decode(data + STORE_CURSOR_BYTES, size - STORE_CURSOR_BYTES, data, &c, &err);
    if (rc != 0) {
        if (rc != STORE_E_CORRUPT && rc != STORE_E_INVALID && rc != STORE_E_NOMEM) fail("a refusal without a store code");
        if (err.message[0] == '\0') fail("a refusal without a message");
        return;
    }
    for (size_t i = 0; i < c.account_count; i++) {
        uint8_t h[32];
        keccak256(c.accounts[i].code, c.accounts[i].code_len, h);
        if (memcmp(h, c.accounts[i].code_hash, 32) != 0) fail("an account whose code is not its hash");
        if (i > 0 && memcmp(c.accounts[i - 1].address, c.accounts[i].address, 20) >= 0) fail("accounts out of order");
    }
    for (size_t i = 0; i < c.slot_count; i++)
        if (u256_is_zero(c.slots[i].value)) fail("a zero slot accepted");
    if (!c.done && memcmp(c.next, data, STORE_CURSOR_BYTES) <= 0) fail("a next cursor that does not move forward");
    store_chunk_free(&c);
}

static void blocks(const uint8_t *data, size_t size)
{
    if (size < 9) return;
    uint64_t number = 0;
    for (int i = 0; i < 8; i++) number = number << 8 | data[i];
    number %= 600;
    size_t headers = data[8];
    struct store_blocks b;
    struct cohort_error err = {0};
    int rc = store_blocks_decode(data + 9, size - 9, number, headers, &b, &err);
    if (rc != 0) {
        if (rc != STORE_E_CORRUPT && rc != STORE_E_NOMEM) fail("a refusal without a store code");
        return;
    }
    size_t want = store_blocks_header_count(number, headers);
    if (b.header_count != want) fail("a header count BLOCKHASH cannot use");
    if (memcmp(b.hash, b.header_hash[0], 32) != 0 || b.head.number != number) fail("the head is not block N");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    if (data[0] & 1) blocks(data + 1, size - 1);
    else chunk(data + 1, size - 1);
    return 0;
}
