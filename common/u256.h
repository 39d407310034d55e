/*
 * u256.h - 256-bit unsigned integers with the EVM's semantics.
 *
 * A u256 is four 64-bit limbs, least significant first (w[0] holds bits 0..63). Values
 * are passed and returned by value: 32 bytes fit in registers or one cache line, and the
 * compiler keeps the hot operations (add, sub, compare, bitwise) inline. Signed operations
 * read the value as two's complement.
 *
 * EVM conventions: division or modulus by zero gives 0; sdiv(-2^255, -1) = -2^255;
 * shifts of 256 or more give 0 (sar: 0 or all ones); byte(i, x) for i >= 32 gives 0;
 * signextend(b, x) for b >= 31 gives x. Argument order follows the EVM stack: for
 * shl/shr/sar the shift comes first, for byte the index, for signextend the byte number.
 */
#ifndef COHORT_COMMON_U256_H
#define COHORT_COMMON_U256_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

typedef struct u256 {
    uint64_t w[4]; /* little-endian limbs: w[0] least significant */
} u256;

_Static_assert(sizeof(u256) == 32, "u256 is exactly 32 bytes");

static inline u256 u256_zero(void) { return (u256){{0, 0, 0, 0}}; }
static inline u256 u256_from_u64(uint64_t v) { return (u256){{v, 0, 0, 0}}; }
static inline u256 u256_max(void) { return (u256){{UINT64_MAX, UINT64_MAX, UINT64_MAX, UINT64_MAX}}; }
static inline bool u256_is_zero(u256 a) { return (a.w[0] | a.w[1] | a.w[2] | a.w[3]) == 0; }
/* True when a < 2^64, so a.w[0] is its value. */
static inline bool u256_fits_u64(u256 a) { return (a.w[1] | a.w[2] | a.w[3]) == 0; }

/* Comparisons. */
bool u256_eq(u256 a, u256 b);
bool u256_lt(u256 a, u256 b);
bool u256_gt(u256 a, u256 b);
bool u256_slt(u256 a, u256 b);
bool u256_sgt(u256 a, u256 b);

/* Arithmetic modulo 2^256. */
u256 u256_add(u256 a, u256 b);
u256 u256_sub(u256 a, u256 b);
u256 u256_mul(u256 a, u256 b);
u256 u256_div(u256 a, u256 b);
u256 u256_mod(u256 a, u256 b);
u256 u256_sdiv(u256 a, u256 b);
u256 u256_smod(u256 a, u256 b);
/* (a + b) mod m and (a * b) mod m computed without overflow (512-bit intermediate); m = 0 gives 0. */
u256 u256_addmod(u256 a, u256 b, u256 m);
u256 u256_mulmod(u256 a, u256 b, u256 m);
u256 u256_exp(u256 base, u256 exponent);
/* Sets *quotient and *remainder of a / b (both 0 when b is 0). */
void u256_divmod(u256 a, u256 b, u256 *quotient, u256 *remainder);

/* Bitwise and byte operations. */
u256 u256_and(u256 a, u256 b);
u256 u256_or(u256 a, u256 b);
u256 u256_xor(u256 a, u256 b);
u256 u256_not(u256 a);
u256 u256_shl(u256 shift, u256 value);
u256 u256_shr(u256 shift, u256 value);
u256 u256_sar(u256 shift, u256 value);
u256 u256_byte(u256 index, u256 value);
u256 u256_signextend(u256 byte_number, u256 value);

/* Number of significant bits (0 for 0) and bytes ((bits + 7) / 8), as EXP's gas needs. */
unsigned u256_bit_length(u256 a);
unsigned u256_byte_length(u256 a);

/* Big-endian conversion: 32 bytes, and a shorter big-endian number (len <= 32) as PUSHn reads. */
u256 u256_load_be(const uint8_t in[32]);
void u256_store_be(uint8_t out[32], u256 a);
u256 u256_load_be_partial(const uint8_t *in, size_t len);

/* Hex QUANTITY ("0x0", "0x1f", no leading zeros, at most 64 digits). */
int u256_from_hex(const char *text, u256 *out, struct cohort_error *err);
/* Writes the QUANTITY form and a NUL into out (needs 67 bytes). Returns the length. */
size_t u256_to_hex(u256 a, char *out, size_t out_cap);
/* Decimal text, digits only, < 2^256. */
int u256_from_dec(const char *text, u256 *out, struct cohort_error *err);
/* Writes the decimal form and a NUL into out (needs 79 bytes). Returns the length. */
size_t u256_to_dec(u256 a, char *out, size_t out_cap);

#endif
