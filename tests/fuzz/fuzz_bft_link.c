/*
 * fuzz_bft_link.c - libFuzzer target for the link codec of a BFT node (bft/link.c): the
 * frame length prefix and the HELLO decoder. Any input is either refused with an error
 * message or decodes to fields that encode back to the same bytes (HELLO has one
 * spelling). The first bytes also go through the frame parser, at every offset.
 */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "bft/node.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define INSTANCE 0x0102030405060708ull

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cohort_error err = {0};

    /* Frame prefixes: each 4-byte window is a length that is either within the cap or refused. */
    for (size_t i = 0; i + 4 <= size && i < 64; i++) {
        uint32_t len = 0;
        if (bft_frame_length(data + i, &len, &err) == 0) {
            assert(len >= 1 && len <= BFT_MESSAGE_MAX);
        } else {
            assert(err.code == BFT_E_RANGE);
            assert(err.message[0] != '\0');
        }
    }

    /* HELLO: decoded for member self of member_count, both taken from the input's first byte. */
    uint16_t self = size > 0 ? (uint16_t)(data[0] % 8) : 0;
    uint32_t member_count = size > 0 ? 1u + (uint32_t)(data[0] >> 3) % BFT_MEMBERS_MAX : 4;
    uint16_t from = 0;
    uint8_t nonce[32];
    if (bft_hello_decode(data, size, INSTANCE, self, member_count, &from, nonce, &err) == 0) {
        assert(size == BFT_HELLO_BYTES);
        assert(from < member_count && from != self);
        uint8_t again[BFT_HELLO_BYTES];
        bft_hello_encode(INSTANCE, from, self, nonce, again);
        assert(memcmp(again, data, BFT_HELLO_BYTES) == 0);
    } else {
        assert(err.code == BFT_E_INVALID);
        assert(err.message[0] != '\0');
    }

    /* Endpoint text (NUL-terminated copy of at most BFT_ENDPOINT_MAX + 8 bytes). */
    char text[BFT_ENDPOINT_MAX + 8];
    size_t n = size < sizeof text - 1 ? size : sizeof text - 1;
    memcpy(text, data, n);
    text[n] = '\0';
    char ip[16];
    uint16_t port = 0;
    if (bft_endpoint_parse(text, ip, &port, &err) == 0) assert(port > 0 && strlen(ip) >= 7);
    return 0;
}
