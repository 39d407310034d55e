/*
 * fuzz_hex.c - libFuzzer target for the strict hex decoders: any input either decodes and
 * re-encodes to the same digits (lower-cased), or is refused with an error message.
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/hex.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096) return 0;
    char *text = malloc(size + 1);
    if (text == NULL) return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    size_t text_len = strlen(text); /* stops at an embedded NUL, like a C caller */

    uint8_t out[64];
    size_t len = 0;
    struct cohort_error err = {0};
    if (hex_decode(text, out, sizeof out, &len, &err) == 0) {
        char again[2 * sizeof out + 3];
        size_t n = hex_encode(out, len, again, sizeof again);
        assert(n == text_len);
        for (size_t i = 2; i < n; i++) assert(again[i] == (text[i] | 0x20) || again[i] == text[i]);
    } else {
        assert(err.code < 0);
        assert(err.message[0] != '\0');
    }

    uint64_t q;
    if (hex_decode_quantity_u64(text, &q, &err) == 0) {
        char again[19];
        hex_encode_quantity_u64(q, again, sizeof again);
        assert(strlen(again) == text_len);
    }

    /* The non-terminated form must never read past text_len. */
    (void)hex_decode_n((const char *)data, size, out, sizeof out, &len, &err);
    free(text);
    return 0;
}
