/*
 * u256.h - 256-bit unsigned integers with the EVM's semantics.
 *
 * A u256 is four 64-bit limbs, least significant first (w[0] holds bits 0..63). Values
 * are passed and returned by value: 32 bytes fit in registers or one cache line, and the
 * compiler keeps the hot operations (add, sub, compare, bitwise) inline. Signed operations
 * read the value as two's complement.
 *
 * EVM conventions: division or modulus by zero gives 0; sdiv(-2^255, -1) = -2^255;
 * smod's result takes the sign of the dividend; shifts of 256 or more give 0 (sar: 0 or
 * all ones); byte(i, x) for i >= 32 gives 0; signextend(b, x) for b >= 31 gives x;
 * addmod and mulmod use a 512-bit intermediate, so nothing overflows before the reduction;
 * exp is by squaring, modulo 2^256 (0^0 = 1). Argument order follows the EVM stack: for
 * shl/shr/sar the shift comes first, for byte the index, for signextend the byte number.
 *
 * Nothing here allocates, and no function keeps a pointer it was given. All arithmetic
 * functions are total: every pair of inputs has a defined result, so none of them can fail.
 *
 * Speed: this is the EVM's arithmetic. The cheap operations are `static inline` here so
 * the interpreter's loop compiles them to straight-line code; division, the modular
 * operations, exp and the text conversions live in u256.c. The inline functions carry no
 * assertions (they have no preconditions to check, and an assert per ADD would cost the
 * interpreter a measurable share); the differential test against GMP checks them instead.
 */
#ifndef COHORT_COMMON_U256_H
#define COHORT_COMMON_U256_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "error.h"

typedef struct u256 {
    uint64_t w[4]; /* little-endian limbs: w[0] least significant */
} u256;

_Static_assert(sizeof(u256) == 32, "u256 is exactly 32 bytes");

/* A 128-bit unsigned integer for limb products and carries (a GCC and clang extension). */
__extension__ typedef unsigned __int128 u256_u128;

static inline u256 u256_zero(void) { return (u256){{0, 0, 0, 0}}; }
static inline u256 u256_from_u64(uint64_t v) { return (u256){{v, 0, 0, 0}}; }
static inline u256 u256_max(void) { return (u256){{UINT64_MAX, UINT64_MAX, UINT64_MAX, UINT64_MAX}}; }
static inline bool u256_is_zero(u256 a) { return (a.w[0] | a.w[1] | a.w[2] | a.w[3]) == 0; }
/* True when a < 2^64, so a.w[0] is its value. */
static inline bool u256_fits_u64(u256 a) { return (a.w[1] | a.w[2] | a.w[3]) == 0; }
/* True when bit 255 is set: a is negative read as two's complement. */
static inline bool u256_is_negative(u256 a) { return (a.w[3] >> 63) != 0; }

/* ---- Comparisons (unsigned, and signed two's complement for slt/sgt). ---- */

static inline bool u256_eq(u256 a, u256 b)
{
    return ((a.w[0] ^ b.w[0]) | (a.w[1] ^ b.w[1]) | (a.w[2] ^ b.w[2]) | (a.w[3] ^ b.w[3])) == 0;
}

/*
 * One limb of a subtraction: *out = a - b - borrow_in, returns the borrow out. Written with
 * __builtin_sub_overflow and unrolled by hand: GCC at -O2 keeps a 4-step loop as a loop,
 * which made sub and lt several times slower than add.
 */
static inline uint64_t u256_sub_limb(uint64_t a, uint64_t b, uint64_t borrow_in, uint64_t *out)
{
    uint64_t d;
    bool b1 = __builtin_sub_overflow(a, b, &d);
    bool b2 = __builtin_sub_overflow(d, borrow_in, out);
    return (uint64_t)(b1 | b2);
}

/* a < b: the borrow out of a - b, with no branches. */
static inline bool u256_lt(u256 a, u256 b)
{
    uint64_t unused;
    uint64_t borrow = u256_sub_limb(a.w[0], b.w[0], 0, &unused);
    borrow = u256_sub_limb(a.w[1], b.w[1], borrow, &unused);
    borrow = u256_sub_limb(a.w[2], b.w[2], borrow, &unused);
    borrow = u256_sub_limb(a.w[3], b.w[3], borrow, &unused);
    return borrow != 0;
}

static inline bool u256_gt(u256 a, u256 b) { return u256_lt(b, a); }

/* Signed a < b: flipping the sign bit of both maps two's complement order onto unsigned order. */
static inline bool u256_slt(u256 a, u256 b)
{
    a.w[3] ^= UINT64_C(1) << 63;
    b.w[3] ^= UINT64_C(1) << 63;
    return u256_lt(a, b);
}

static inline bool u256_sgt(u256 a, u256 b) { return u256_slt(b, a); }

/* ---- Arithmetic modulo 2^256. ---- */

static inline u256 u256_add(u256 a, u256 b)
{
    u256 r;
    u256_u128 t = (u256_u128)a.w[0] + b.w[0];
    r.w[0] = (uint64_t)t;
    t = (u256_u128)a.w[1] + b.w[1] + (uint64_t)(t >> 64);
    r.w[1] = (uint64_t)t;
    t = (u256_u128)a.w[2] + b.w[2] + (uint64_t)(t >> 64);
    r.w[2] = (uint64_t)t;
    r.w[3] = a.w[3] + b.w[3] + (uint64_t)(t >> 64);
    return r;
}

static inline u256 u256_sub(u256 a, u256 b)
{
    u256 r;
    uint64_t borrow = u256_sub_limb(a.w[0], b.w[0], 0, &r.w[0]);
    borrow = u256_sub_limb(a.w[1], b.w[1], borrow, &r.w[1]);
    borrow = u256_sub_limb(a.w[2], b.w[2], borrow, &r.w[2]);
    r.w[3] = a.w[3] - b.w[3] - borrow;
    return r;
}

/* Two's complement negation: 0 - a. */
static inline u256 u256_negate(u256 a) { return u256_sub(u256_zero(), a); }

/*
 * a * b mod 2^256: schoolbook on 64-bit limbs, skipping the products that land wholly at
 * or above 2^256 (6 full 64x64->128 products and 4 low halves instead of 16).
 */
static inline u256 u256_mul(u256 a, u256 b)
{
    u256 r;
    u256_u128 t;
    uint64_t carry;

    t = (u256_u128)a.w[0] * b.w[0];
    r.w[0] = (uint64_t)t;
    carry = (uint64_t)(t >> 64);
    t = (u256_u128)a.w[0] * b.w[1] + carry;
    r.w[1] = (uint64_t)t;
    carry = (uint64_t)(t >> 64);
    t = (u256_u128)a.w[0] * b.w[2] + carry;
    r.w[2] = (uint64_t)t;
    r.w[3] = (uint64_t)(t >> 64) + a.w[0] * b.w[3];

    t = (u256_u128)a.w[1] * b.w[0] + r.w[1];
    r.w[1] = (uint64_t)t;
    carry = (uint64_t)(t >> 64);
    t = (u256_u128)a.w[1] * b.w[1] + r.w[2] + carry;
    r.w[2] = (uint64_t)t;
    r.w[3] += (uint64_t)(t >> 64) + a.w[1] * b.w[2];

    t = (u256_u128)a.w[2] * b.w[0] + r.w[2];
    r.w[2] = (uint64_t)t;
    r.w[3] += (uint64_t)(t >> 64) + a.w[2] * b.w[1];

    r.w[3] += a.w[3] * b.w[0];
    return r;
}

/*
 * Sets *quotient and *remainder of a / b (both 0 when b is 0). Either pointer may be NULL
 * when the caller does not need that half. Knuth's algorithm D on 64-bit digits with
 * Moller-Granlund reciprocals instead of hardware division in the loop.
 */
void u256_divmod(u256 a, u256 b, u256 *quotient, u256 *remainder);

/* a / b, 0 when b is 0. Both operands below 2^64 is the common case and one machine division. */
static inline u256 u256_div(u256 a, u256 b)
{
    if (u256_fits_u64(a) && u256_fits_u64(b)) return u256_from_u64(b.w[0] != 0 ? a.w[0] / b.w[0] : 0);
    u256 q;
    u256_divmod(a, b, &q, NULL);
    return q;
}

/* a mod b, 0 when b is 0. */
static inline u256 u256_mod(u256 a, u256 b)
{
    if (u256_fits_u64(a) && u256_fits_u64(b)) return u256_from_u64(b.w[0] != 0 ? a.w[0] % b.w[0] : 0);
    u256 r;
    u256_divmod(a, b, NULL, &r);
    return r;
}

/* Signed division truncating toward zero; b = 0 gives 0 and sdiv(-2^255, -1) = -2^255. */
u256 u256_sdiv(u256 a, u256 b);
/* Signed remainder; its sign is the sign of a (or it is 0); b = 0 gives 0. */
u256 u256_smod(u256 a, u256 b);
/* (a + b) mod m and (a * b) mod m computed without overflow (512-bit intermediate); m = 0 gives 0. */
u256 u256_addmod(u256 a, u256 b, u256 m);
u256 u256_mulmod(u256 a, u256 b, u256 m);
/* base^exponent mod 2^256 by square-and-multiply; 0^0 = 1. */
u256 u256_exp(u256 base, u256 exponent);

/* ---- Bitwise and byte operations. ---- */

static inline u256 u256_and(u256 a, u256 b)
{
    return (u256){{a.w[0] & b.w[0], a.w[1] & b.w[1], a.w[2] & b.w[2], a.w[3] & b.w[3]}};
}

static inline u256 u256_or(u256 a, u256 b)
{
    return (u256){{a.w[0] | b.w[0], a.w[1] | b.w[1], a.w[2] | b.w[2], a.w[3] | b.w[3]}};
}

static inline u256 u256_xor(u256 a, u256 b)
{
    return (u256){{a.w[0] ^ b.w[0], a.w[1] ^ b.w[1], a.w[2] ^ b.w[2], a.w[3] ^ b.w[3]}};
}

static inline u256 u256_not(u256 a) { return (u256){{~a.w[0], ~a.w[1], ~a.w[2], ~a.w[3]}}; }

/*
 * The bits of hi:lo shifted left by bits (0..63) that land in hi's limb. The lower limb
 * goes right by 1 and then 63 - bits, because a single shift by 64 - bits would be a
 * shift by 64 when bits is 0, which C leaves undefined.
 */
static inline uint64_t u256_funnel_left(uint64_t hi, uint64_t lo, unsigned bits)
{
    return hi << bits | (lo >> 1) >> (63 - bits);
}

/* The bits of hi:lo shifted right by bits (0..63) that land in lo's limb. */
static inline uint64_t u256_funnel_right(uint64_t hi, uint64_t lo, unsigned bits)
{
    return lo >> bits | (hi << 1) << (63 - bits);
}

/* value << shift; 0 when shift >= 256. Whole limbs move first, then the bits within. */
static inline u256 u256_shl(u256 shift, u256 value)
{
    if (!u256_fits_u64(shift) || shift.w[0] >= 256) return u256_zero();
    unsigned bits = (unsigned)(shift.w[0] % 64);
    uint64_t *v = value.w;
    u256 x;
    switch (shift.w[0] / 64) {
    case 0: x = value; break;
    case 1: x = (u256){{0, v[0], v[1], v[2]}}; break;
    case 2: x = (u256){{0, 0, v[0], v[1]}}; break;
    default: x = (u256){{0, 0, 0, v[0]}}; break;
    }
    return (u256){{x.w[0] << bits, u256_funnel_left(x.w[1], x.w[0], bits), u256_funnel_left(x.w[2], x.w[1], bits),
                   u256_funnel_left(x.w[3], x.w[2], bits)}};
}

/* value >> shift (logical); 0 when shift >= 256. */
static inline u256 u256_shr(u256 shift, u256 value)
{
    if (!u256_fits_u64(shift) || shift.w[0] >= 256) return u256_zero();
    unsigned bits = (unsigned)(shift.w[0] % 64);
    uint64_t *v = value.w;
    u256 x;
    switch (shift.w[0] / 64) {
    case 0: x = value; break;
    case 1: x = (u256){{v[1], v[2], v[3], 0}}; break;
    case 2: x = (u256){{v[2], v[3], 0, 0}}; break;
    default: x = (u256){{v[3], 0, 0, 0}}; break;
    }
    return (u256){{u256_funnel_right(x.w[1], x.w[0], bits), u256_funnel_right(x.w[2], x.w[1], bits),
                   u256_funnel_right(x.w[3], x.w[2], bits), x.w[3] >> bits}};
}

/*
 * value >> shift (arithmetic); for shift >= 256, 0 or all ones by the sign. For a negative
 * x, sar(x) = ~shr(~x): the ones shifted in are the zeros shifted into ~x, inverted.
 */
static inline u256 u256_sar(u256 shift, u256 value)
{
    if (!u256_is_negative(value)) return u256_shr(shift, value);
    return u256_not(u256_shr(shift, u256_not(value)));
}

/* Byte index of value counting from the most significant (index 0); 0 when index >= 32. */
static inline u256 u256_byte(u256 index, u256 value)
{
    if (!u256_fits_u64(index) || index.w[0] >= 32) return u256_zero();
    unsigned from_low = 31 - (unsigned)index.w[0];
    return u256_from_u64((value.w[from_low / 8] >> (from_low % 8 * 8)) & 0xff);
}

/*
 * Extends the sign bit of byte byte_number (0 = least significant byte) over the bytes
 * above it; value unchanged when byte_number >= 31.
 */
static inline u256 u256_signextend(u256 byte_number, u256 value)
{
    if (!u256_fits_u64(byte_number) || byte_number.w[0] >= 31) return value;
    unsigned sign_bit = (unsigned)byte_number.w[0] * 8 + 7; /* 7..247 */
    unsigned limb = sign_bit / 64, bit = sign_bit % 64;
    uint64_t fill = (uint64_t)0 - ((value.w[limb] >> bit) & 1); /* all ones when negative */
    uint64_t keep = UINT64_MAX >> (63 - bit);                    /* bits 0..bit */
    u256 r;
    /* Unrolled by hand (see u256_sub_limb): limbs below the sign's keep, above it take fill. */
    r.w[0] = limb > 0 ? value.w[0] : (value.w[0] & keep) | (fill & ~keep);
    r.w[1] = limb > 1 ? value.w[1] : limb == 1 ? (value.w[1] & keep) | (fill & ~keep) : fill;
    r.w[2] = limb > 2 ? value.w[2] : limb == 2 ? (value.w[2] & keep) | (fill & ~keep) : fill;
    r.w[3] = limb == 3 ? (value.w[3] & keep) | (fill & ~keep) : fill;
    return r;
}

/* Number of significant bits (0 for 0) and bytes ((bits + 7) / 8), as EXP's gas needs. */
static inline unsigned u256_bit_length(u256 a)
{
    for (int i = 3; i >= 0; i--)
        if (a.w[i] != 0) return (unsigned)i * 64 + 64 - (unsigned)__builtin_clzll(a.w[i]);
    return 0;
}

static inline unsigned u256_byte_length(u256 a) { return (u256_bit_length(a) + 7) / 8; }

/* ---- Big-endian conversion: 32 bytes, and a shorter big-endian number as PUSHn reads. ---- */

static inline u256 u256_load_be(const uint8_t in[32])
{
    u256 r;
    for (int i = 0; i < 4; i++) {
        uint64_t limb;
        memcpy(&limb, in + 8 * (3 - i), 8);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        limb = __builtin_bswap64(limb);
#endif
        r.w[i] = limb;
    }
    return r;
}

static inline void u256_store_be(uint8_t out[32], u256 a)
{
    for (int i = 0; i < 4; i++) {
        uint64_t limb = a.w[i];
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        limb = __builtin_bswap64(limb);
#endif
        memcpy(out + 8 * (3 - i), &limb, 8);
    }
}

/*
 * Reads a big-endian number of len bytes (len <= 32, asserted in u256.c) as PUSHn does.
 * len = 0 gives 0.
 */
u256 u256_load_be_partial(const uint8_t *in, size_t len);

/* ---- Text. None of these keep text or out after they return. ---- */

/*
 * Parses a hex QUANTITY: "0x" then 1 to 64 digits of either case, no leading zeros
 * ("0x0" is zero). text must be NUL-terminated; at most 67 characters of it are read.
 * Returns 0 and sets *out, or a negative common_status with err filled and *out untouched:
 * COMMON_E_INVALID (no 0x prefix, no digits, a bad character), COMMON_E_NONCANONICAL
 * (a leading zero), COMMON_E_RANGE (more than 64 digits).
 */
int u256_from_hex(const char *text, u256 *out, struct cohort_error *err);
/* Writes the QUANTITY form (lowercase) and a NUL into out; out_cap must be >= 67 (asserted). Returns the length. */
size_t u256_to_hex(u256 a, char *out, size_t out_cap);
/*
 * Parses decimal text: 1 to 78 digits, nothing else, no leading zeros ("0" is zero), value
 * below 2^256. text must be NUL-terminated; at most 80 characters of it are read. Returns 0
 * and sets *out, or a negative common_status with err filled and *out untouched:
 * COMMON_E_INVALID (empty, a non-digit), COMMON_E_NONCANONICAL (a leading zero),
 * COMMON_E_RANGE (2^256 or more).
 */
int u256_from_dec(const char *text, u256 *out, struct cohort_error *err);
/* Writes the decimal form and a NUL into out; out_cap must be >= 79 (asserted). Returns the length. */
size_t u256_to_dec(u256 a, char *out, size_t out_cap);

#endif
