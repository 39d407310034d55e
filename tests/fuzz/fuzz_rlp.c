/*
 * fuzz_rlp.c - libFuzzer target for the RLP decoder.
 *
 * For any input: rlp_validate and a walk with the iterator must agree on whether it is
 * canonical RLP; what they accept must re-encode, item by item, to the identical bytes
 * (a canonical encoding is the only encoding of its value); every string that reads as an
 * integer must re-encode as that integer to its own bytes; errors carry an "rlp: " message.
 * Any disagreement aborts, which libFuzzer reports as a crash.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/rlp.h"
#include "common/u256.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what, const struct cohort_error *err)
{
    fprintf(stderr, "fuzz_rlp: %s (%s)\n", what, err != NULL ? err->message : "");
    abort();
}

/* A string item read as integers must re-encode to the very bytes it was decoded from. */
static void check_integers(const uint8_t *input, const struct rlp_item *item)
{
    const uint8_t *encoded = input + item->offset;
    struct cohort_error err = {0};
    struct rlp_buf buf;
    rlp_buf_init(&buf, 64);
    uint64_t small;
    if (rlp_item_to_u64(item, &small, &err) == 0) {
        rlp_encode_u64(&buf, small);
        if (rlp_buf_check(&buf, &err) != 0 || buf.len != item->encoded_len ||
            memcmp(buf.data, encoded, buf.len) != 0)
            fail("uint64 does not re-encode to its bytes", NULL);
    } else if (item->payload_len <= 8 && (item->payload_len == 0 || item->payload[0] != 0)) {
        fail("a minimal integer of at most 8 bytes was refused as uint64", &err);
    }
    rlp_buf_reset(&buf);
    u256 big;
    if (rlp_item_to_u256(item, &big, &err) == 0) {
        rlp_encode_u256(&buf, big);
        if (rlp_buf_check(&buf, &err) != 0 || buf.len != item->encoded_len ||
            memcmp(buf.data, encoded, buf.len) != 0)
            fail("u256 does not re-encode to its bytes", NULL);
    }
    rlp_buf_free(&buf);
}

/*
 * Walks the input with the iterator, without recursion, re-encoding every item into out.
 * Returns 0 or the first error.
 */
static int walk(const uint8_t *data, size_t size, struct rlp_buf *out, struct cohort_error *err)
{
    static struct {
        struct rlp_iter it;
        size_t marker;
        size_t children;
        size_t count; /* rlp_list_count's answer, to compare with what the iterator yields */
    } stack[RLP_MAX_DEPTH];
    unsigned depth = 0;
    struct rlp_item item;
    int rc = rlp_decode_whole(data, size, &item, err);
    if (rc != 0) return rc;
    for (;;) {
        if (item.offset + item.encoded_len > size || item.payload_len > item.encoded_len)
            fail("an item reaches past the input", NULL);
        if (item.is_list) {
            if (depth >= RLP_MAX_DEPTH) return cohort_error_set(err, COMMON_E_DEPTH, "fuzz", "rlp: too deep");
            size_t count = 0;
            int count_rc = rlp_list_count(&item, &count, err);
            if (rlp_iter_init(&stack[depth].it, &item, err) != 0) fail("iter_init refused a list", err);
            stack[depth].marker = rlp_encode_list_begin(out);
            stack[depth].children = 0;
            stack[depth].count = count_rc == 0 ? count : SIZE_MAX;
            depth++;
        } else {
            check_integers(data, &item);
            rlp_encode_bytes(out, item.payload, item.payload_len);
        }
        for (;;) {
            if (depth == 0) return 0;
            rc = rlp_iter_next(&stack[depth - 1].it, &item, err);
            if (rc < 0) {
                if (stack[depth - 1].count != SIZE_MAX) fail("list_count accepted a list the iterator refuses", NULL);
                return rc;
            }
            if (rc == 1) {
                stack[depth - 1].children++;
                break;
            }
            if (stack[depth - 1].children != stack[depth - 1].count) fail("list_count disagrees with the iterator", NULL);
            depth--;
            rlp_encode_list_end(out, stack[depth].marker);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cohort_error validate_err = {0}, walk_err = {0};
    int rc_validate = rlp_validate(data, size, RLP_MAX_DEPTH, &validate_err);
    if (rc_validate != 0 && strncmp(validate_err.message, "rlp: ", 5) != 0) fail("message lacks rlp:", &validate_err);

    struct rlp_buf out;
    rlp_buf_init(&out, 0);
    int rc_walk = walk(data, size, &out, &walk_err);
    if ((rc_validate == 0) != (rc_walk == 0)) {
        fprintf(stderr, "fuzz_rlp: validate %d (%s), walk %d (%s)\n", rc_validate, validate_err.message, rc_walk,
                walk_err.message);
        abort();
    }
    if (rc_validate == 0) {
        struct cohort_error err = {0};
        if (rlp_buf_check(&out, &err) != 0) fail("re-encoding failed", &err);
        if (out.len != size || memcmp(out.data, data, size) != 0) fail("round trip is not byte-identical", NULL);
    }
    rlp_buf_free(&out);

    /* The shallow decoder on a prefix: what it accepts lies within the input. */
    struct rlp_item item;
    if (rlp_decode_item(data, size, &item, &validate_err) == 0 &&
        (item.encoded_len > size || item.encoded_len == 0 || item.payload_len > item.encoded_len))
        fail("decode_item returned an item outside the input", NULL);
    return 0;
}
