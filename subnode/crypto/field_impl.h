/*
 * field_impl.h - prime field, tower and short-Weierstrass point arithmetic, written once and
 * instantiated by bn254.c (4 limbs) and bls12_381.c (6 limbs). INTERNAL: not part of the
 * library's API; only those two files include it.
 *
 * Why a template header: both curves use the same tower (Fp2 = Fp[u]/(u^2+1),
 * Fp6 = Fp2[v]/(v^3 - xi), Fp12 = Fp6[w]/(w^2 - v)) and the same Montgomery arithmetic, and
 * differ only in the limb count and the constants. A runtime limb count would cost the bn254
 * pairing a factor of about two; two hand-copied towers would drift apart. Every function
 * here is static (one private copy per curve file), so the includer's symbols never clash.
 *
 * The includer defines, before including this file:
 *   FP_LIMBS          number of 64-bit limbs (4 or 6)
 *   FP_MODULUS_INIT   the modulus p, limbs least significant first
 *   FP_M0INV          -p^-1 mod 2^64 (Montgomery reduction constant)
 *   FP_R2_INIT        R^2 mod p with R = 2^(64*FP_LIMBS) (converts into Montgomery form)
 *   FP_ONE_INIT       R mod p (the Montgomery form of 1)
 * and after including it, defines fp2_mul_by_xi() (multiplication by the tower's xi) and the
 * table frob_gamma[3][6] = xi^(k(p^j - 1)/6) for j = 1..3, k = 0..5 in Montgomery form
 * (both are declared below).
 *
 * Elements are kept fully reduced (< p) in Montgomery form (a*R mod p). Nothing allocates.
 * NOT constant time: branches and loop lengths depend on the values. The precompiles that use
 * this code only ever see public data (see curves.h).
 *
 * Both moduli leave the top bit of the top limb clear (p < 2^254 and p < 2^381), which is what
 * the carry-free Montgomery multiplication below relies on; _Static_asserts cannot see limb
 * values, so fp_self_check() asserts it on every pairing and point evaluation call.
 */
#ifndef FP_LIMBS
#error "define FP_LIMBS and the FP_* constants before including field_impl.h"
#endif

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define FP_BYTES (FP_LIMBS * 8)
#define TPL static __attribute__((unused))

__extension__ typedef unsigned __int128 fp_u128;

typedef struct { uint64_t l[FP_LIMBS]; } fp;  /* Montgomery form, fully reduced */
typedef struct { fp c0, c1; } fp2;             /* c0 + c1*u, u^2 = -1 */
typedef struct { fp2 c0, c1, c2; } fp6;        /* c0 + c1*v + c2*v^2, v^3 = xi */
typedef struct { fp6 c0, c1; } fp12;           /* c0 + c1*w, w^2 = v */

static const fp fp_modulus = {{FP_MODULUS_INIT}};
static const fp fp_r2 = {{FP_R2_INIT}};
static const fp fp_one_mont = {{FP_ONE_INIT}};

/* Defined by the includer, after this file (see the header comment). */
static void fp2_mul_by_xi(fp2 *r, const fp2 *a);
static const fp2 frob_gamma[3][6];

/* ------------------------------------------------------------------ Fp */

TPL bool fp_is_zero(const fp *a)
{
    uint64_t acc = 0;
    for (int i = 0; i < FP_LIMBS; i++) acc |= a->l[i];
    return acc == 0;
}

TPL bool fp_eq(const fp *a, const fp *b)
{
    return memcmp(a->l, b->l, sizeof a->l) == 0;
}

TPL void fp_set_zero(fp *r) { memset(r, 0, sizeof *r); }
TPL void fp_set_one(fp *r) { *r = fp_one_mont; }

/* a < b as plain integers (limb arrays). */
TPL bool limbs_lt(const uint64_t *a, const uint64_t *b)
{
    for (int i = FP_LIMBS - 1; i >= 0; i--) {
        if (a[i] != b[i]) return a[i] < b[i];
    }
    return false;
}

/* r = a - b over FP_LIMBS limbs; returns the borrow out. */
TPL uint64_t limbs_sub(uint64_t *r, const uint64_t *a, const uint64_t *b)
{
    uint64_t borrow = 0;
    for (int i = 0; i < FP_LIMBS; i++) {
        uint64_t d;
        uint64_t b1 = __builtin_sub_overflow(a[i], b[i], &d);
        uint64_t b2 = __builtin_sub_overflow(d, borrow, &r[i]);
        borrow = b1 | b2;
    }
    return borrow;
}

/* r = a + b over FP_LIMBS limbs; returns the carry out. */
TPL uint64_t limbs_add(uint64_t *r, const uint64_t *a, const uint64_t *b)
{
    uint64_t carry = 0;
    for (int i = 0; i < FP_LIMBS; i++) {
        fp_u128 t = (fp_u128)a[i] + b[i] + carry;
        r[i] = (uint64_t)t;
        carry = (uint64_t)(t >> 64);
    }
    return carry;
}

/*
 * The hot small operations are branch-free: on random field elements a data-dependent
 * "subtract p or not" branch is mispredicted half the time, which cost the pairing more than
 * the multiplications did. Inlined everywhere (HOT).
 */
#define HOT static inline __attribute__((always_inline, unused))

/* r = t - p if t >= p else t, for t < 2p held in FP_LIMBS limbs (plus a carry bit). */
HOT void reduce_once(uint64_t *r, const uint64_t *t, uint64_t carry)
{
    uint64_t s[FP_LIMBS];
    uint64_t borrow = 0;
#pragma GCC unroll 8
    for (int i = 0; i < FP_LIMBS; i++) {
        uint64_t d;
        uint64_t b1 = __builtin_sub_overflow(t[i], fp_modulus.l[i], &d);
        uint64_t b2 = __builtin_sub_overflow(d, borrow, &s[i]);
        borrow = b1 | b2;
    }
    /* Keep t when t < p: a borrow out of t - p that the carry does not cancel. */
    uint64_t keep = (uint64_t)0 - (borrow & (carry ^ 1));
#pragma GCC unroll 8
    for (int i = 0; i < FP_LIMBS; i++) r[i] = (t[i] & keep) | (s[i] & ~keep);
}

HOT void fp_add(fp *r, const fp *a, const fp *b)
{
    uint64_t t[FP_LIMBS];
    uint64_t carry = 0;
#pragma GCC unroll 8
    for (int i = 0; i < FP_LIMBS; i++) {
        fp_u128 v = (fp_u128)a->l[i] + b->l[i] + carry;
        t[i] = (uint64_t)v;
        carry = (uint64_t)(v >> 64);
    }
    reduce_once(r->l, t, carry);
}

HOT void fp_sub(fp *r, const fp *a, const fp *b)
{
    uint64_t t[FP_LIMBS];
    uint64_t borrow = 0;
#pragma GCC unroll 8
    for (int i = 0; i < FP_LIMBS; i++) {
        uint64_t d;
        uint64_t b1 = __builtin_sub_overflow(a->l[i], b->l[i], &d);
        uint64_t b2 = __builtin_sub_overflow(d, borrow, &t[i]);
        borrow = b1 | b2;
    }
    /* On a borrow, add p back. */
    uint64_t mask = (uint64_t)0 - borrow;
    uint64_t carry = 0;
#pragma GCC unroll 8
    for (int i = 0; i < FP_LIMBS; i++) {
        fp_u128 v = (fp_u128)t[i] + (fp_modulus.l[i] & mask) + carry;
        r->l[i] = (uint64_t)v;
        carry = (uint64_t)(v >> 64);
    }
}

HOT void fp_dbl(fp *r, const fp *a) { fp_add(r, a, a); }

TPL void fp_neg(fp *r, const fp *a)
{
    if (fp_is_zero(a)) {
        fp_set_zero(r);
    } else {
        limbs_sub(r->l, fp_modulus.l, a->l);
    }
}

/* r = a / 2 mod p: add p when a is odd (p is odd), then shift right one bit. */
TPL void fp_half(fp *r, const fp *a)
{
    uint64_t top = 0;
    fp t = *a;
    if (t.l[0] & 1) top = limbs_add(t.l, t.l, fp_modulus.l);
    for (int i = 0; i < FP_LIMBS - 1; i++) r->l[i] = (t.l[i] >> 1) | (t.l[i + 1] << 63);
    r->l[FP_LIMBS - 1] = (t.l[FP_LIMBS - 1] >> 1) | (top << 63);
}

/*
 * Montgomery multiplication r = a*b/R mod p, CIOS with the "no carry" shortcut: because the
 * top limb of p is below 2^63 - 1, the running value never needs an extra limb (the same
 * observation gnark-crypto documents). The result is < 2p before the final subtraction.
 */
TPL void fp_mul(fp *r, const fp *a, const fp *b)
{
    uint64_t t[FP_LIMBS] = {0};
    const uint64_t *p = fp_modulus.l;
#pragma GCC unroll 8
    for (int i = 0; i < FP_LIMBS; i++) {
        fp_u128 acc = (fp_u128)a->l[0] * b->l[i] + t[0];
        uint64_t carry_a = (uint64_t)(acc >> 64);
        uint64_t t0 = (uint64_t)acc;
        uint64_t m = t0 * FP_M0INV;
        fp_u128 red = (fp_u128)m * p[0] + t0;
        uint64_t carry_m = (uint64_t)(red >> 64);
#pragma GCC unroll 8
        for (int j = 1; j < FP_LIMBS; j++) {
            acc = (fp_u128)a->l[j] * b->l[i] + t[j] + carry_a;
            carry_a = (uint64_t)(acc >> 64);
            red = (fp_u128)m * p[j] + (uint64_t)acc + carry_m;
            carry_m = (uint64_t)(red >> 64);
            t[j - 1] = (uint64_t)red;
        }
        t[FP_LIMBS - 1] = carry_m + carry_a;
    }
    reduce_once(r->l, t, 0);
}

TPL void fp_sqr(fp *r, const fp *a) { fp_mul(r, a, a); }

/* r = a^e for a plain (non-Montgomery) exponent given as FP_LIMBS limbs. */
TPL void fp_pow_limbs(fp *r, const fp *a, const uint64_t *e)
{
    fp acc = fp_one_mont;
    fp base = *a;
    int top = FP_LIMBS * 64 - 1;
    while (top >= 0 && ((e[top / 64] >> (top % 64)) & 1) == 0) top--;
    for (int i = top; i >= 0; i--) {
        fp_sqr(&acc, &acc);
        if ((e[i / 64] >> (i % 64)) & 1) fp_mul(&acc, &acc, &base);
    }
    *r = acc;
}

/* r = a^-1 by Fermat (a^(p-2)); the inverse of 0 is 0, which callers never rely on. */
TPL void fp_inv(fp *r, const fp *a)
{
    uint64_t e[FP_LIMBS];
    static const uint64_t two[FP_LIMBS] = {2};
    limbs_sub(e, fp_modulus.l, two);
    fp_pow_limbs(r, a, e);
}

/* Converts a plain integer below p (limbs) into Montgomery form. */
TPL void fp_from_limbs(fp *r, const uint64_t *plain)
{
    fp t;
    memcpy(t.l, plain, sizeof t.l);
    assert(limbs_lt(t.l, fp_modulus.l));
    fp_mul(r, &t, &fp_r2);
}

/* Converts out of Montgomery form into plain limbs. */
TPL void fp_to_limbs(uint64_t *plain, const fp *a)
{
    fp one_plain = {{1}};
    fp t;
    fp_mul(&t, a, &one_plain);
    memcpy(plain, t.l, sizeof t.l);
}

/*
 * Reads FP_BYTES big-endian bytes. Returns false (and leaves r unspecified) when the value is
 * not below p: the EIPs reject such coordinates rather than reducing them.
 */
TPL bool fp_from_bytes(fp *r, const uint8_t *in)
{
    uint64_t plain[FP_LIMBS];
    for (int i = 0; i < FP_LIMBS; i++) {
        uint64_t v = 0;
        for (int k = 0; k < 8; k++) v = (v << 8) | in[(FP_LIMBS - 1 - i) * 8 + k];
        plain[i] = v;
    }
    if (!limbs_lt(plain, fp_modulus.l)) return false;
    fp_from_limbs(r, plain);
    return true;
}

/* Writes FP_BYTES big-endian bytes. */
TPL void fp_to_bytes(uint8_t *out, const fp *a)
{
    uint64_t plain[FP_LIMBS];
    fp_to_limbs(plain, a);
    assert(limbs_lt(plain, fp_modulus.l));
    for (int i = 0; i < FP_LIMBS; i++) {
        for (int k = 0; k < 8; k++) out[(FP_LIMBS - 1 - i) * 8 + k] = (uint8_t)(plain[i] >> (56 - 8 * k));
    }
}

/* Checks what fp_mul's shortcut relies on (see the header comment). */
TPL void fp_self_check(void)
{
    assert(fp_modulus.l[FP_LIMBS - 1] < (UINT64_C(1) << 63) - 1);
    assert((fp_modulus.l[0] * FP_M0INV) == UINT64_MAX); /* p * (-p^-1) = -1 mod 2^64 */
}

/* ------------------------------------------------------------------ Fp2 */

TPL void fp2_set_zero(fp2 *r) { fp_set_zero(&r->c0); fp_set_zero(&r->c1); }
TPL void fp2_set_one(fp2 *r) { fp_set_one(&r->c0); fp_set_zero(&r->c1); }
TPL bool fp2_is_zero(const fp2 *a) { return fp_is_zero(&a->c0) && fp_is_zero(&a->c1); }
TPL bool fp2_eq(const fp2 *a, const fp2 *b) { return fp_eq(&a->c0, &b->c0) && fp_eq(&a->c1, &b->c1); }

HOT void fp2_add(fp2 *r, const fp2 *a, const fp2 *b)
{
    fp_add(&r->c0, &a->c0, &b->c0);
    fp_add(&r->c1, &a->c1, &b->c1);
}

HOT void fp2_sub(fp2 *r, const fp2 *a, const fp2 *b)
{
    fp_sub(&r->c0, &a->c0, &b->c0);
    fp_sub(&r->c1, &a->c1, &b->c1);
}

HOT void fp2_dbl(fp2 *r, const fp2 *a) { fp2_add(r, a, a); }

TPL void fp2_neg(fp2 *r, const fp2 *a)
{
    fp_neg(&r->c0, &a->c0);
    fp_neg(&r->c1, &a->c1);
}

/* The conjugate a0 - a1*u, which is also the Frobenius map a^p on Fp2. */
TPL void fp2_conj(fp2 *r, const fp2 *a)
{
    r->c0 = a->c0;
    fp_neg(&r->c1, &a->c1);
}

/* Karatsuba: 3 base multiplications. */
TPL void fp2_mul(fp2 *r, const fp2 *a, const fp2 *b)
{
    fp t0, t1, s, t;
    fp_mul(&t0, &a->c0, &b->c0);
    fp_mul(&t1, &a->c1, &b->c1);
    fp_add(&s, &a->c0, &a->c1);
    fp_add(&t, &b->c0, &b->c1);
    fp_mul(&s, &s, &t);
    fp_sub(&r->c0, &t0, &t1);
    fp_sub(&s, &s, &t0);
    fp_sub(&r->c1, &s, &t1);
}

/* (a0 + a1 u)^2 = (a0 + a1)(a0 - a1) + 2 a0 a1 u: 2 base multiplications. */
TPL void fp2_sqr(fp2 *r, const fp2 *a)
{
    fp s, d, m;
    fp_add(&s, &a->c0, &a->c1);
    fp_sub(&d, &a->c0, &a->c1);
    fp_mul(&m, &a->c0, &a->c1);
    fp_mul(&r->c0, &s, &d);
    fp_dbl(&r->c1, &m);
}

TPL void fp2_mul_fp(fp2 *r, const fp2 *a, const fp *b)
{
    fp_mul(&r->c0, &a->c0, b);
    fp_mul(&r->c1, &a->c1, b);
}

TPL void fp2_half(fp2 *r, const fp2 *a)
{
    fp_half(&r->c0, &a->c0);
    fp_half(&r->c1, &a->c1);
}

/* 1/(a0 + a1 u) = (a0 - a1 u)/(a0^2 + a1^2). */
TPL void fp2_inv(fp2 *r, const fp2 *a)
{
    fp t0, t1;
    fp_sqr(&t0, &a->c0);
    fp_sqr(&t1, &a->c1);
    fp_add(&t0, &t0, &t1);
    fp_inv(&t1, &t0);
    fp_mul(&r->c0, &a->c0, &t1);
    fp_mul(&t0, &a->c1, &t1);
    fp_neg(&r->c1, &t0);
}

/* ------------------------------------------------------------------ Fp6 */

TPL void fp6_set_zero(fp6 *r) { fp2_set_zero(&r->c0); fp2_set_zero(&r->c1); fp2_set_zero(&r->c2); }
TPL void fp6_set_one(fp6 *r) { fp2_set_one(&r->c0); fp2_set_zero(&r->c1); fp2_set_zero(&r->c2); }

TPL bool fp6_eq(const fp6 *a, const fp6 *b)
{
    return fp2_eq(&a->c0, &b->c0) && fp2_eq(&a->c1, &b->c1) && fp2_eq(&a->c2, &b->c2);
}

TPL void fp6_add(fp6 *r, const fp6 *a, const fp6 *b)
{
    fp2_add(&r->c0, &a->c0, &b->c0);
    fp2_add(&r->c1, &a->c1, &b->c1);
    fp2_add(&r->c2, &a->c2, &b->c2);
}

TPL void fp6_sub(fp6 *r, const fp6 *a, const fp6 *b)
{
    fp2_sub(&r->c0, &a->c0, &b->c0);
    fp2_sub(&r->c1, &a->c1, &b->c1);
    fp2_sub(&r->c2, &a->c2, &b->c2);
}

TPL void fp6_neg(fp6 *r, const fp6 *a)
{
    fp2_neg(&r->c0, &a->c0);
    fp2_neg(&r->c1, &a->c1);
    fp2_neg(&r->c2, &a->c2);
}

/* (a0 + a1 v + a2 v^2) * v = xi a2 + a0 v + a1 v^2. */
TPL void fp6_mul_by_v(fp6 *r, const fp6 *a)
{
    fp2 t;
    fp2_mul_by_xi(&t, &a->c2);
    r->c2 = a->c1;
    r->c1 = a->c0;
    r->c0 = t;
}

/* Karatsuba over three coefficients: 6 Fp2 multiplications. */
TPL void fp6_mul(fp6 *r, const fp6 *a, const fp6 *b)
{
    fp2 t0, t1, t2, s, t, c0, c1, c2;
    fp2_mul(&t0, &a->c0, &b->c0);
    fp2_mul(&t1, &a->c1, &b->c1);
    fp2_mul(&t2, &a->c2, &b->c2);

    fp2_add(&s, &a->c1, &a->c2);
    fp2_add(&t, &b->c1, &b->c2);
    fp2_mul(&s, &s, &t);
    fp2_sub(&s, &s, &t1);
    fp2_sub(&s, &s, &t2);
    fp2_mul_by_xi(&s, &s);
    fp2_add(&c0, &s, &t0);

    fp2_add(&s, &a->c0, &a->c1);
    fp2_add(&t, &b->c0, &b->c1);
    fp2_mul(&s, &s, &t);
    fp2_sub(&s, &s, &t0);
    fp2_sub(&s, &s, &t1);
    fp2_mul_by_xi(&t, &t2);
    fp2_add(&c1, &s, &t);

    fp2_add(&s, &a->c0, &a->c2);
    fp2_add(&t, &b->c0, &b->c2);
    fp2_mul(&s, &s, &t);
    fp2_sub(&s, &s, &t0);
    fp2_sub(&s, &s, &t2);
    fp2_add(&c2, &s, &t1);

    r->c0 = c0;
    r->c1 = c1;
    r->c2 = c2;
}

/* a * (b0 + b1 v): 5 Fp2 multiplications (the shape of a line function's halves). */
TPL void fp6_mul_by_01(fp6 *r, const fp6 *a, const fp2 *b0, const fp2 *b1)
{
    fp2 t0, t1, s, t, c0, c1, c2;
    fp2_mul(&t0, &a->c0, b0);
    fp2_mul(&t1, &a->c1, b1);

    /* c0 = t0 + xi * a2 * b1 */
    fp2_mul(&s, &a->c2, b1);
    fp2_mul_by_xi(&s, &s);
    fp2_add(&c0, &s, &t0);
    /* c1 = (a0 + a1)(b0 + b1) - t0 - t1 */
    fp2_add(&s, &a->c0, &a->c1);
    fp2_add(&t, b0, b1);
    fp2_mul(&s, &s, &t);
    fp2_sub(&s, &s, &t0);
    fp2_sub(&c1, &s, &t1);
    /* c2 = a2 b0 + t1 */
    fp2_mul(&s, &a->c2, b0);
    fp2_add(&c2, &s, &t1);

    r->c0 = c0;
    r->c1 = c1;
    r->c2 = c2;
}

/* a * (b1 v): 3 Fp2 multiplications. */
TPL void fp6_mul_by_1(fp6 *r, const fp6 *a, const fp2 *b1)
{
    fp2 c0, c1, c2;
    fp2_mul(&c0, &a->c2, b1);
    fp2_mul_by_xi(&c0, &c0);
    fp2_mul(&c1, &a->c0, b1);
    fp2_mul(&c2, &a->c1, b1);
    r->c0 = c0;
    r->c1 = c1;
    r->c2 = c2;
}

TPL void fp6_mul_fp2(fp6 *r, const fp6 *a, const fp2 *b)
{
    fp2_mul(&r->c0, &a->c0, b);
    fp2_mul(&r->c1, &a->c1, b);
    fp2_mul(&r->c2, &a->c2, b);
}

TPL void fp6_sqr(fp6 *r, const fp6 *a) { fp6_mul(r, a, a); }

TPL void fp6_inv(fp6 *r, const fp6 *a)
{
    fp2 c0, c1, c2, t, s;
    /* c0 = a0^2 - xi a1 a2 */
    fp2_sqr(&c0, &a->c0);
    fp2_mul(&t, &a->c1, &a->c2);
    fp2_mul_by_xi(&t, &t);
    fp2_sub(&c0, &c0, &t);
    /* c1 = xi a2^2 - a0 a1 */
    fp2_sqr(&c1, &a->c2);
    fp2_mul_by_xi(&c1, &c1);
    fp2_mul(&t, &a->c0, &a->c1);
    fp2_sub(&c1, &c1, &t);
    /* c2 = a1^2 - a0 a2 */
    fp2_sqr(&c2, &a->c1);
    fp2_mul(&t, &a->c0, &a->c2);
    fp2_sub(&c2, &c2, &t);
    /* norm = a0 c0 + xi (a2 c1 + a1 c2) */
    fp2_mul(&t, &a->c2, &c1);
    fp2_mul(&s, &a->c1, &c2);
    fp2_add(&t, &t, &s);
    fp2_mul_by_xi(&t, &t);
    fp2_mul(&s, &a->c0, &c0);
    fp2_add(&t, &t, &s);
    fp2_inv(&t, &t);
    fp2_mul(&r->c0, &c0, &t);
    fp2_mul(&r->c1, &c1, &t);
    fp2_mul(&r->c2, &c2, &t);
}

/* ------------------------------------------------------------------ Fp12 */

TPL void fp12_set_one(fp12 *r) { fp6_set_one(&r->c0); fp6_set_zero(&r->c1); }

TPL bool fp12_eq(const fp12 *a, const fp12 *b) { return fp6_eq(&a->c0, &b->c0) && fp6_eq(&a->c1, &b->c1); }

TPL bool fp12_is_one(const fp12 *a)
{
    fp12 one;
    fp12_set_one(&one);
    return fp12_eq(a, &one);
}

TPL void fp12_mul(fp12 *r, const fp12 *a, const fp12 *b)
{
    fp6 t0, t1, s, t;
    fp6_mul(&t0, &a->c0, &b->c0);
    fp6_mul(&t1, &a->c1, &b->c1);
    fp6_add(&s, &a->c0, &a->c1);
    fp6_add(&t, &b->c0, &b->c1);
    fp6_mul(&s, &s, &t);
    fp6_sub(&s, &s, &t0);
    fp6_sub(&r->c1, &s, &t1);
    fp6_mul_by_v(&t1, &t1);
    fp6_add(&r->c0, &t0, &t1);
}

/* Complex squaring: (a0 + a1 w)^2 = (a0 + a1)(a0 + v a1) - t - v t + 2t w, t = a0 a1. */
TPL void fp12_sqr(fp12 *r, const fp12 *a)
{
    fp6 t, s, u, vt;
    fp6_mul(&t, &a->c0, &a->c1);
    fp6_add(&s, &a->c0, &a->c1);
    fp6_mul_by_v(&u, &a->c1);
    fp6_add(&u, &u, &a->c0);
    fp6_mul(&s, &s, &u);
    fp6_sub(&s, &s, &t);
    fp6_mul_by_v(&vt, &t);
    fp6_sub(&r->c0, &s, &vt);
    fp6_add(&r->c1, &t, &t);
}

/* The conjugate a0 - a1 w = a^(p^6); on the cyclotomic subgroup it is the inverse. */
TPL void fp12_conj(fp12 *r, const fp12 *a)
{
    r->c0 = a->c0;
    fp6_neg(&r->c1, &a->c1);
}

TPL void fp12_inv(fp12 *r, const fp12 *a)
{
    fp6 t0, t1;
    fp6_sqr(&t0, &a->c0);
    fp6_sqr(&t1, &a->c1);
    fp6_mul_by_v(&t1, &t1);
    fp6_sub(&t0, &t0, &t1);
    fp6_inv(&t0, &t0);
    fp6_mul(&r->c0, &a->c0, &t0);
    fp6_mul(&t1, &a->c1, &t0);
    fp6_neg(&r->c1, &t1);
}

/*
 * f *= l for a line with non-zero coefficients at 1, w and v*w only ("034"; D-type twist,
 * bn254): l = (a, 0, 0) + (b, c, 0) w. 15 Fp2 multiplications instead of 18.
 */
TPL void fp12_mul_by_034(fp12 *f, const fp2 *a, const fp2 *b, const fp2 *c)
{
    fp6 t0, t1, s;
    fp2 ab;
    fp6_mul_fp2(&t0, &f->c0, a);
    fp6_mul_by_01(&t1, &f->c1, b, c);
    fp6_add(&s, &f->c0, &f->c1);
    fp2_add(&ab, a, b);
    fp6_mul_by_01(&s, &s, &ab, c);
    fp6_sub(&s, &s, &t0);
    fp6_sub(&f->c1, &s, &t1);
    fp6_mul_by_v(&t1, &t1);
    fp6_add(&f->c0, &t0, &t1);
}

/*
 * f *= l for a line with non-zero coefficients at 1, v and v*w only ("014"; M-type twist,
 * bls12-381): l = (a, b, 0) + (0, c, 0) w.
 */
TPL void fp12_mul_by_014(fp12 *f, const fp2 *a, const fp2 *b, const fp2 *c)
{
    fp6 t0, t1, s;
    fp2 bc;
    fp6_mul_by_01(&t0, &f->c0, a, b);
    fp6_mul_by_1(&t1, &f->c1, c);
    fp6_add(&s, &f->c0, &f->c1);
    fp2_add(&bc, b, c);
    fp6_mul_by_01(&s, &s, a, &bc);
    fp6_sub(&s, &s, &t0);
    fp6_sub(&f->c1, &s, &t1);
    fp6_mul_by_v(&t1, &t1);
    fp6_add(&f->c0, &t0, &t1);
}

/*
 * r = a^(p^power), power 1..3. Seen as sum_k a_k w^k over Fp2 (w^6 = xi), the map sends
 * a_k w^k to conj^power(a_k) * xi^(k(p^power - 1)/6) w^k. In this tower
 * c0 = (w^0, w^2, w^4) and c1 = (w^1, w^3, w^5).
 */
TPL void fp12_frobenius(fp12 *r, const fp12 *a, int power)
{
    assert(power >= 1 && power <= 3);
    const fp2 *g = frob_gamma[power - 1];
    fp2 *out[6] = {&r->c0.c0, &r->c1.c0, &r->c0.c1, &r->c1.c1, &r->c0.c2, &r->c1.c2};
    const fp2 *in[6] = {&a->c0.c0, &a->c1.c0, &a->c0.c1, &a->c1.c1, &a->c0.c2, &a->c1.c2};
    fp2 tmp[6];
    for (int k = 0; k < 6; k++) {
        if (power & 1) {
            fp2_conj(&tmp[k], in[k]);
        } else {
            tmp[k] = *in[k];
        }
        if (k != 0) fp2_mul(&tmp[k], &tmp[k], &g[k]);
    }
    for (int k = 0; k < 6; k++) *out[k] = tmp[k];
}

/*
 * Granger-Scott squaring for elements of the cyclotomic subgroup (after the easy part of the
 * final exponentiation), seen as Fp4^3 with Fp4 = Fp2[s]/(s^2 - xi): the pairs
 * (g0, g4 ... ) below follow "Faster Squaring in the Cyclotomic Subgroup of Sixth Degree
 * Extensions" (2010), section 3.1.
 */
TPL void fp12_cyclotomic_sqr(fp12 *r, const fp12 *a)
{
    /* The three Fp4 elements: (z0, z1) = (c0.c0, c1.c1), (z2, z3) = (c1.c0, c0.c2),
       (z4, z5) = (c0.c1, c1.c2): each pair is x + y s with s^2 = xi (s = w^3). */
    fp2 z0 = a->c0.c0, z1 = a->c1.c1;
    fp2 z2 = a->c1.c0, z3 = a->c0.c2;
    fp2 z4 = a->c0.c1, z5 = a->c1.c2;
    fp2 t0, t1, t2, t3, tmp;

    /* (x + y s)^2 = x^2 + xi y^2 + 2xy s for each pair. */
    fp2 a0, a1, b0, b1, c0, c1;
    fp2_sqr(&t0, &z0);
    fp2_sqr(&t1, &z1);
    fp2_mul_by_xi(&tmp, &t1);
    fp2_add(&a0, &t0, &tmp);
    fp2_add(&tmp, &z0, &z1);
    fp2_sqr(&tmp, &tmp);
    fp2_sub(&tmp, &tmp, &t0);
    fp2_sub(&a1, &tmp, &t1);

    fp2_sqr(&t2, &z2);
    fp2_sqr(&t3, &z3);
    fp2_mul_by_xi(&tmp, &t3);
    fp2_add(&b0, &t2, &tmp);
    fp2_add(&tmp, &z2, &z3);
    fp2_sqr(&tmp, &tmp);
    fp2_sub(&tmp, &tmp, &t2);
    fp2_sub(&b1, &tmp, &t3);

    fp2_sqr(&t0, &z4);
    fp2_sqr(&t1, &z5);
    fp2_mul_by_xi(&tmp, &t1);
    fp2_add(&c0, &t0, &tmp);
    fp2_add(&tmp, &z4, &z5);
    fp2_sqr(&tmp, &tmp);
    fp2_sub(&tmp, &tmp, &t0);
    fp2_sub(&c1, &tmp, &t1);

    /* z0' = 3 a0 - 2 z0, z1' = 3 a1 + 2 z1 */
    fp2_sub(&tmp, &a0, &z0);
    fp2_dbl(&tmp, &tmp);
    fp2_add(&z0, &tmp, &a0);
    fp2_add(&tmp, &a1, &z1);
    fp2_dbl(&tmp, &tmp);
    fp2_add(&z1, &tmp, &a1);

    /* z2' = 3 xi c1 + 2 z2, z3' = 3 c0 - 2 z3 */
    fp2_mul_by_xi(&t0, &c1);
    fp2_add(&tmp, &t0, &z2);
    fp2_dbl(&tmp, &tmp);
    fp2_add(&z2, &tmp, &t0);
    fp2_sub(&tmp, &c0, &z3);
    fp2_dbl(&tmp, &tmp);
    fp2_add(&z3, &tmp, &c0);

    /* z4' = 3 b0 - 2 z4, z5' = 3 b1 + 2 z5 */
    fp2_sub(&tmp, &b0, &z4);
    fp2_dbl(&tmp, &tmp);
    fp2_add(&z4, &tmp, &b0);
    fp2_add(&tmp, &b1, &z5);
    fp2_dbl(&tmp, &tmp);
    fp2_add(&z5, &tmp, &b1);

    r->c0.c0 = z0;
    r->c1.c1 = z1;
    r->c1.c0 = z2;
    r->c0.c2 = z3;
    r->c0.c1 = z4;
    r->c1.c2 = z5;
}

/* r = a^e for a in the cyclotomic subgroup and a 64-bit exponent. */
TPL void fp12_cyclotomic_pow_u64(fp12 *r, const fp12 *a, uint64_t e)
{
    fp12 acc, base = *a;
    fp12_set_one(&acc);
    bool started = false;
    for (int i = 63; i >= 0; i--) {
        if (started) fp12_cyclotomic_sqr(&acc, &acc);
        if ((e >> i) & 1) {
            if (started) {
                fp12_mul(&acc, &acc, &base);
            } else {
                acc = base;
                started = true;
            }
        }
    }
    *r = acc;
}

/* The easy part of the final exponentiation: f^((p^6 - 1)(p^2 + 1)). f must be non-zero. */
TPL void final_exp_easy(fp12 *r, const fp12 *f)
{
    fp12 t, inv;
    fp12_inv(&inv, f);
    fp12_conj(&t, f);
    fp12_mul(&t, &t, &inv);     /* f^(p^6 - 1) */
    fp12_frobenius(r, &t, 2);
    fp12_mul(r, r, &t);         /* ^(p^2 + 1) */
}
