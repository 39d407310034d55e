/* hex.c - strict 0x-prefixed hex for DATA and QUANTITY values. */
#include "hex.h"

#include <assert.h>
#include <string.h>

#define DOMAIN "common"

static const char digits[] = "0123456789abcdef";

int hex_digit_value(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int has_prefix(const char *text, size_t text_len)
{
    return text_len >= 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X');
}

int hex_decode_n(const char *text, size_t text_len, uint8_t *out, size_t out_cap, size_t *out_len,
                 struct cohort_error *err)
{
    assert(text != NULL);
    assert(out != NULL || out_cap == 0);
    if (!has_prefix(text, text_len))
        return cohort_error_set(err, COMMON_E_INVALID, DOMAIN, "hex: \"%.*s\" lacks the 0x prefix",
                                (int)(text_len > 40 ? 40 : text_len), text);
    size_t ndigits = text_len - 2;
    if (ndigits % 2 != 0)
        return cohort_error_set(err, COMMON_E_INVALID, DOMAIN, "hex: odd number of digits (%zu)", ndigits);
    size_t nbytes = ndigits / 2;
    if (nbytes > out_cap)
        return cohort_error_set(err, COMMON_E_RANGE, DOMAIN, "hex: %zu bytes do not fit in %zu", nbytes, out_cap);
    const char *p = text + 2;
    for (size_t i = 0; i < nbytes; i++) {
        int hi = hex_digit_value(p[2 * i]), lo = hex_digit_value(p[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            size_t at = 2 + 2 * i + (hi < 0 ? 0 : 1);
            return cohort_error_set(err, COMMON_E_INVALID, DOMAIN, "hex: bad character 0x%02x at position %zu",
                                    (unsigned char)text[at], at);
        }
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    if (out_len != NULL) *out_len = nbytes;
    return 0;
}

int hex_decode(const char *text, uint8_t *out, size_t out_cap, size_t *out_len, struct cohort_error *err)
{
    return hex_decode_n(text, strlen(text), out, out_cap, out_len, err);
}

int hex_decode_exact(const char *text, uint8_t *out, size_t len, struct cohort_error *err)
{
    size_t got = 0;
    size_t text_len = strlen(text);
    if (has_prefix(text, text_len) && text_len - 2 != 2 * len)
        return cohort_error_set(err, COMMON_E_RANGE, DOMAIN, "hex: expected %zu bytes, got %zu digits", len,
                                text_len - 2);
    int rc = hex_decode_n(text, text_len, out, len, &got, err);
    if (rc < 0) return rc;
    assert(got == len);
    return 0;
}

size_t hex_encode(const uint8_t *data, size_t len, char *out, size_t out_cap)
{
    assert(out_cap >= 2 * len + 3);
    out[0] = '0';
    out[1] = 'x';
    for (size_t i = 0; i < len; i++) {
        out[2 + 2 * i] = digits[data[i] >> 4];
        out[3 + 2 * i] = digits[data[i] & 15];
    }
    out[2 + 2 * len] = '\0';
    return 2 + 2 * len;
}

int hex_decode_quantity_u64(const char *text, uint64_t *out, struct cohort_error *err)
{
    size_t text_len = strlen(text);
    if (!has_prefix(text, text_len))
        return cohort_error_set(err, COMMON_E_INVALID, DOMAIN, "hex quantity: \"%.*s\" lacks the 0x prefix",
                                (int)(text_len > 40 ? 40 : text_len), text);
    size_t ndigits = text_len - 2;
    if (ndigits == 0) return cohort_error_set(err, COMMON_E_INVALID, DOMAIN, "hex quantity: no digits after 0x");
    if (ndigits > 1 && text[2] == '0')
        return cohort_error_set(err, COMMON_E_NONCANONICAL, DOMAIN, "hex quantity: leading zero in \"%.*s\"",
                                (int)(text_len > 40 ? 40 : text_len), text);
    if (ndigits > 16)
        return cohort_error_set(err, COMMON_E_RANGE, DOMAIN, "hex quantity: %zu digits overflow 64 bits", ndigits);
    uint64_t v = 0;
    for (size_t i = 2; i < text_len; i++) {
        int d = hex_digit_value(text[i]);
        if (d < 0)
            return cohort_error_set(err, COMMON_E_INVALID, DOMAIN,
                                    "hex quantity: bad character 0x%02x at position %zu", (unsigned char)text[i], i);
        v = v << 4 | (uint64_t)d;
    }
    *out = v;
    return 0;
}

size_t hex_encode_quantity_u64(uint64_t value, char *out, size_t out_cap)
{
    assert(out_cap >= 19);
    char tmp[16];
    size_t n = 0;
    do {
        tmp[n++] = digits[value & 15];
        value >>= 4;
    } while (value != 0);
    out[0] = '0';
    out[1] = 'x';
    for (size_t i = 0; i < n; i++) out[2 + i] = tmp[n - 1 - i];
    out[2 + n] = '\0';
    return 2 + n;
}
