/*
 * hex.h - strict 0x-prefixed hexadecimal, as Ethereum's JSON-RPC writes DATA and QUANTITY.
 *
 * DATA is an even number of hex digits after "0x" ("0x" alone is zero bytes). QUANTITY is
 * a number with no leading zeros ("0x0", "0x1a"; "0x", "0x01" are refused, as the JSON-RPC
 * spec says). Both accept upper and lower case digits. Nothing here allocates.
 */
#ifndef COHORT_COMMON_HEX_H
#define COHORT_COMMON_HEX_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

/*
 * Decodes DATA text (NUL-terminated, "0x" prefix required) into out, of capacity out_cap.
 * Sets *out_len to the number of bytes. Errors: missing prefix, odd length, a bad
 * character (its position is in the message), more bytes than out_cap (COMMON_E_RANGE).
 */
int hex_decode(const char *text, uint8_t *out, size_t out_cap, size_t *out_len, struct cohort_error *err);

/* Like hex_decode, for text of text_len characters that need not be NUL-terminated. */
int hex_decode_n(const char *text, size_t text_len, uint8_t *out, size_t out_cap, size_t *out_len,
                 struct cohort_error *err);

/* Decodes DATA that must be exactly len bytes (an address: 20, a hash: 32). */
int hex_decode_exact(const char *text, uint8_t *out, size_t len, struct cohort_error *err);

/*
 * Writes "0x" and 2*len lowercase digits and a NUL into out. out_cap must be at least
 * 2*len + 3 (asserted: a programmer error). Returns the number of characters, NUL excluded.
 */
size_t hex_encode(const uint8_t *data, size_t len, char *out, size_t out_cap);

/* Parses a QUANTITY into a uint64_t; more than 16 digits is COMMON_E_RANGE. */
int hex_decode_quantity_u64(const char *text, uint64_t *out, struct cohort_error *err);

/* Writes value as a QUANTITY ("0x0", "0x1a"); out needs 19 bytes. Returns the length. */
size_t hex_encode_quantity_u64(uint64_t value, char *out, size_t out_cap);

/* Value of one hex digit, or -1. */
int hex_digit_value(char c);

#endif
