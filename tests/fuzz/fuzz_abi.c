/*
 * fuzz_abi.c - libFuzzer target for the ABI decoder. The first input byte picks a type (or
 * an event); the rest is the data. Any input is either refused with an error message, or
 * decodes to a value that re-encodes, decodes back to an equal value, and re-encodes to
 * the same bytes (the canonical encoding is a fixed point).
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "contracts-abi/abi.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const types[] = {
    "(uint256,address[],(bytes,string)[2])",
    "(string,bytes4,uint16,bytes,string)",
    "(int8,bool,address,bytes32,uint24,int256)",
    "(uint256[][],string[2])",
    "((uint8,(string,int64)[])[],uint256)",
    "(bytes[],(bool,bytes)[2][])",
    "(int256[3],bytes7[],(uint16,uint16)[])",
    "(string[][][],bool[])",
};
#define TYPE_COUNT (sizeof types / sizeof types[0])
#define EVENT "Ev(address indexed a,int16 indexed b,string indexed c,uint8[] d,(bool,bytes3) e)"

static void check_round_trip(struct abi_arena *arena, const struct abi_type *t, const struct abi_value *v)
{
    struct cohort_error err = {0};
    size_t size = 0, n = 0, m = 0;
    int rc = abi_encoded_size(t, v, &size, &err);
    if (rc == ABI_E_LIMIT) return; /* aliased contents can re-encode past the encoder's cap */
    assert(rc == 0);
    uint8_t *first = malloc(size + 1), *second = malloc(size + 1);
    assert(first != NULL && second != NULL);
    rc = abi_encode(t, v, first, size, &n, &err);
    assert(rc == 0 && n == size);
    struct abi_value again;
    struct abi_limits limits = {.max_data_bytes = SIZE_MAX, .max_values = SIZE_MAX};
    rc = abi_decode(arena, t, first, n, &limits, &again, &err);
    assert(rc == 0 || rc == ABI_E_NOMEM);
    if (rc == 0) {
        assert(abi_value_equal(t, v, &again));
        rc = abi_encode(t, &again, second, size, &m, &err);
        assert(rc == 0 && m == n);
        assert(memcmp(first, second, n) == 0);
    }
    free(first);
    free(second);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    struct abi_arena arena;
    abi_arena_init(&arena, 32u << 20);
    struct cohort_error err = {0};
    struct abi_limits limits = {.max_data_bytes = 1u << 16, .max_values = 20000};
    struct abi_value v;
    uint8_t pick = data[0];
    data++, size--;

    if (pick & 0x80) {
        /* An event: two indexed topics from the input, topic 0 right, then the data. */
        struct abi_event ev;
        int rc = abi_event_parse(&arena, EVENT, &ev, &err);
        assert(rc == 0);
        uint8_t topics[4][32] = {{0}};
        memcpy(topics[0], ev.topic0, 32);
        size_t take = size < 96 ? size : 96;
        memcpy(topics[1], data, take); /* the rest of the topics stays zero */
        data += take, size -= take;
        rc = abi_event_decode(&arena, &ev, (const uint8_t(*)[32])topics, 4, data, size, &limits, &v, &err);
        if (rc == 0) {
            uint8_t t2[4][32], buf[1 << 17];
            size_t count, n;
            /* Every value decoded from the log encodes back to the same topics. */
            if (abi_event_encode(&ev, &v, t2, &count, buf, sizeof buf, &n, &err) == 0) {
                assert(count == 4);
                assert(memcmp(t2, topics, sizeof topics) == 0);
            }
        } else {
            assert(err.code < 0 && err.message[0] != '\0');
        }
        abi_arena_free(&arena);
        return 0;
    }

    const struct abi_type *t;
    int rc = abi_type_parse(&arena, types[pick % TYPE_COUNT], &t, &err);
    assert(rc == 0);
    rc = abi_decode(&arena, t, data, size, &limits, &v, &err);
    if (rc == 0) {
        check_round_trip(&arena, t, &v);
    } else {
        assert(rc < 0 && err.code == rc);
        assert(err.message[0] != '\0');
    }
    abi_arena_free(&arena);
    return 0;
}
