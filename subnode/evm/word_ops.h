/*
 * word_ops.h - 256-bit stack words worked on in place, through pointers, for the
 * interpreter's hot instructions (interpreter.c); the same arithmetic as common/u256.h's
 * by-value functions, which the slow paths call. test_u256 checks every one against GMP,
 * as it checks u256.c. Internal to the VM: static inline, so they compile into the loop.
 */
#ifndef COHORT_SUBNODE_EVM_WORD_OPS_H
#define COHORT_SUBNODE_EVM_WORD_OPS_H

#include <stdbool.h>
#include <stdint.h>

#include "common/u256.h"

/*
 * Stack words read and written in place, limb by limb. Inside evm_interpret GCC 12 keeps a
 * copy of every u256 passed by value in a stack slot: two loads and two stores of 16 bytes
 * per operand, never read, on each instruction that passes one (seen in the disassembly;
 * the switch build has few of them, so the computed goto's abnormal edges seem to stop the
 * scalar replacement of those aggregates). The hot instructions use these helpers, which
 * take pointers and work on 64-bit scalars, instead.
 */
static inline bool is_zero_at(const u256 *a) { return (a->w[0] | a->w[1] | a->w[2] | a->w[3]) == 0; }
static inline bool fits_u64_at(const u256 *a) { return (a->w[1] | a->w[2] | a->w[3]) == 0; }

static inline void set_u64_at(u256 *r, uint64_t v)
{
    r->w[0] = v;
    r->w[1] = 0;
    r->w[2] = 0;
    r->w[3] = 0;
}

/* *a < *b, unsigned. */
static inline bool lt_at(const u256 *a, const u256 *b)
{
    uint64_t unused;
    uint64_t borrow = u256_sub_limb(a->w[0], b->w[0], 0, &unused);
    borrow = u256_sub_limb(a->w[1], b->w[1], borrow, &unused);
    borrow = u256_sub_limb(a->w[2], b->w[2], borrow, &unused);
    borrow = u256_sub_limb(a->w[3], b->w[3], borrow, &unused);
    return borrow != 0;
}

/* Signed a < b: flipping both sign bits maps two's complement order onto unsigned order. */
static inline bool slt_at(const u256 *a, const u256 *b)
{
    uint64_t unused;
    uint64_t borrow = u256_sub_limb(a->w[0], b->w[0], 0, &unused);
    borrow = u256_sub_limb(a->w[1], b->w[1], borrow, &unused);
    borrow = u256_sub_limb(a->w[2], b->w[2], borrow, &unused);
    borrow = u256_sub_limb(a->w[3] ^ (UINT64_C(1) << 63), b->w[3] ^ (UINT64_C(1) << 63), borrow, &unused);
    return borrow != 0;
}

static inline bool eq_at(const u256 *a, const u256 *b)
{
    return ((a->w[0] ^ b->w[0]) | (a->w[1] ^ b->w[1]) | (a->w[2] ^ b->w[2]) | (a->w[3] ^ b->w[3])) == 0;
}

/*
 * One limb of an addition with carries in and out. u256_add's 128-bit sums are fine alone,
 * but inside evm_interpret GCC spilled each 128-bit temporary to the C stack (ADD took 30
 * instructions); 64-bit carries, as u256_sub uses, stay in registers.
 */
static inline uint64_t add_limb(uint64_t a, uint64_t b, uint64_t carry_in, uint64_t *out)
{
    uint64_t s;
    bool c1 = __builtin_add_overflow(a, b, &s);
    bool c2 = __builtin_add_overflow(s, carry_in, out);
    return (uint64_t)(c1 | c2);
}

/* *r = *a + *b (r may be b). */
static inline void add_at(u256 *r, const u256 *a, const u256 *b)
{
    uint64_t r0, r1, r2;
    uint64_t carry = add_limb(a->w[0], b->w[0], 0, &r0);
    carry = add_limb(a->w[1], b->w[1], carry, &r1);
    carry = add_limb(a->w[2], b->w[2], carry, &r2);
    r->w[3] = a->w[3] + b->w[3] + carry;
    r->w[0] = r0;
    r->w[1] = r1;
    r->w[2] = r2;
}

/* *r = *a - *b (r may be b). */
static inline void sub_at(u256 *r, const u256 *a, const u256 *b)
{
    uint64_t r0, r1, r2;
    uint64_t borrow = u256_sub_limb(a->w[0], b->w[0], 0, &r0);
    borrow = u256_sub_limb(a->w[1], b->w[1], borrow, &r1);
    borrow = u256_sub_limb(a->w[2], b->w[2], borrow, &r2);
    r->w[3] = a->w[3] - b->w[3] - borrow;
    r->w[0] = r0;
    r->w[1] = r1;
    r->w[2] = r2;
}

/*
 * *r = *a * *b mod 2^256 (r may be b): u256_mul's schoolbook on 64-bit limbs, the products
 * that land at or above 2^256 skipped, read through pointers into scalars.
 */
static inline void mul_at(u256 *r, const u256 *a, const u256 *b)
{
    uint64_t a0 = a->w[0], a1 = a->w[1], a2 = a->w[2], a3 = a->w[3];
    uint64_t b0 = b->w[0], b1 = b->w[1], b2 = b->w[2], b3 = b->w[3];
    u256_u128 t = (u256_u128)a0 * b0;
    uint64_t r0 = (uint64_t)t;
    t = (u256_u128)a0 * b1 + (uint64_t)(t >> 64);
    uint64_t r1 = (uint64_t)t;
    t = (u256_u128)a0 * b2 + (uint64_t)(t >> 64);
    uint64_t r2 = (uint64_t)t;
    uint64_t r3 = (uint64_t)(t >> 64) + a0 * b3;

    t = (u256_u128)a1 * b0 + r1;
    r1 = (uint64_t)t;
    t = (u256_u128)a1 * b1 + r2 + (uint64_t)(t >> 64);
    r2 = (uint64_t)t;
    r3 += (uint64_t)(t >> 64) + a1 * b2;

    t = (u256_u128)a2 * b0 + r2;
    r2 = (uint64_t)t;
    r3 += (uint64_t)(t >> 64) + a2 * b1;

    r3 += a3 * b0;
    r->w[0] = r0;
    r->w[1] = r1;
    r->w[2] = r2;
    r->w[3] = r3;
}

/* *value <<= *shift (SHL) in place; 0 when the shift is 256 or more. */
static inline void shl_at(u256 *value, const u256 *shift)
{
    if (!fits_u64_at(shift) || shift->w[0] >= 256) {
        set_u64_at(value, 0);
        return;
    }
    unsigned bits = (unsigned)(shift->w[0] % 64);
    uint64_t x0 = value->w[0], x1 = value->w[1], x2 = value->w[2], x3 = value->w[3];
    switch (shift->w[0] / 64) { /* whole limbs first */
    case 0: break;
    case 1: x3 = x2; x2 = x1; x1 = x0; x0 = 0; break;
    case 2: x3 = x1; x2 = x0; x1 = 0; x0 = 0; break;
    default: x3 = x0; x2 = 0; x1 = 0; x0 = 0; break;
    }
    value->w[3] = u256_funnel_left(x3, x2, bits);
    value->w[2] = u256_funnel_left(x2, x1, bits);
    value->w[1] = u256_funnel_left(x1, x0, bits);
    value->w[0] = x0 << bits;
}

/* *value >>= *shift (SHR, logical) in place; 0 when the shift is 256 or more. */
static inline void shr_at(u256 *value, const u256 *shift)
{
    if (!fits_u64_at(shift) || shift->w[0] >= 256) {
        set_u64_at(value, 0);
        return;
    }
    unsigned bits = (unsigned)(shift->w[0] % 64);
    uint64_t x0 = value->w[0], x1 = value->w[1], x2 = value->w[2], x3 = value->w[3];
    switch (shift->w[0] / 64) {
    case 0: break;
    case 1: x0 = x1; x1 = x2; x2 = x3; x3 = 0; break;
    case 2: x0 = x2; x1 = x3; x2 = 0; x3 = 0; break;
    default: x0 = x3; x1 = 0; x2 = 0; x3 = 0; break;
    }
    value->w[0] = u256_funnel_right(x1, x0, bits);
    value->w[1] = u256_funnel_right(x2, x1, bits);
    value->w[2] = u256_funnel_right(x3, x2, bits);
    value->w[3] = x3 >> bits;
}

/*
 * When divisor is a power of two, sets *log2 and returns true. Contracts compiled before
 * EIP-145 (sha1_divs, much of Solidity's packing) shift by dividing and taking remainders
 * by 2^k; a shift and a mask then replace the long division.
 */
static inline bool power_of_two(u256 divisor, unsigned *log2)
{
    unsigned nonzero = (divisor.w[0] != 0) + (divisor.w[1] != 0) + (divisor.w[2] != 0) + (divisor.w[3] != 0);
    if (nonzero != 1) return false;
    unsigned limb = divisor.w[0] != 0 ? 0 : divisor.w[1] != 0 ? 1 : divisor.w[2] != 0 ? 2 : 3;
    uint64_t v = divisor.w[limb];
    if ((v & (v - 1)) != 0) return false;
    *log2 = 64 * limb + (unsigned)__builtin_ctzll(v);
    return true;
}

/*
 * The magnitude of a (two's complement) when it is below 2^128: sets *hi and *lo and returns
 * true. -2^255, whose magnitude does not fit, returns false like every other large value.
 */
static inline bool magnitude_128(const u256 *a, uint64_t *hi, uint64_t *lo)
{
    uint64_t w0 = a->w[0], w1 = a->w[1], w2 = a->w[2], w3 = a->w[3];
    if ((w3 >> 63) != 0) { /* negative: ~a + 1 */
        uint64_t carry = add_limb(~w0, 1, 0, &w0);
        carry = add_limb(~w1, 0, carry, &w1);
        carry = add_limb(~w2, 0, carry, &w2);
        w3 = ~w3 + carry;
    }
    if ((w2 | w3) != 0) return false;
    *hi = w1;
    *lo = w0;
    return true;
}

/*
 * SDIV. snailtracer's fixed-point arithmetic divides numbers whose magnitudes fit 128 bits
 * by ones that fit 64 (92% of its SDIVs): one machine division of the magnitudes, then the
 * sign, instead of u256.c's general long division. Everything else (and division by zero,
 * and -2^255) goes to u256_sdiv.
 */
static inline void sdiv_at(u256 *r, const u256 *a, const u256 *b)
{
    uint64_t a_hi, a_lo, b_hi, b_lo;
    if (!magnitude_128(a, &a_hi, &a_lo) || !magnitude_128(b, &b_hi, &b_lo) || b_hi != 0 || b_lo == 0) {
        *r = u256_sdiv(*a, *b);
        return;
    }
    uint64_t q0, q1 = 0;
    if (a_hi == 0) {
        q0 = a_lo / b_lo;
    } else {
        u256_u128 q = (((u256_u128)a_hi << 64) | a_lo) / b_lo;
        q0 = (uint64_t)q;
        q1 = (uint64_t)(q >> 64);
    }
    if ((a->w[3] >> 63) != (b->w[3] >> 63)) { /* signs differ: the quotient is negated */
        uint64_t borrow = u256_sub_limb(0, q0, 0, &q0);
        borrow = u256_sub_limb(0, q1, borrow, &q1);
        r->w[2] = r->w[3] = (uint64_t)0 - borrow; /* all ones unless the quotient was 0 */
    } else {
        r->w[2] = r->w[3] = 0;
    }
    r->w[0] = q0;
    r->w[1] = q1;
}

static inline u256 divide(u256 a, u256 b)
{
    unsigned log2;
    if (!u256_fits_u64(a) && power_of_two(b, &log2)) return u256_shr(u256_from_u64(log2), a);
    return u256_div(a, b);
}

static inline u256 modulo(u256 a, u256 b)
{
    unsigned log2;
    if (!u256_fits_u64(a) && power_of_two(b, &log2)) return u256_and(a, u256_sub(b, u256_from_u64(1)));
    return u256_mod(a, b);
}

#endif
