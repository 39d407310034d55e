/*
 * u256.c - the out-of-line half of u256.h: division (Knuth's algorithm D), the signed and
 * modular operations, exp, and the text conversions.
 *
 * Division follows Knuth, TAOCP vol. 2, 4.3.1, algorithm D, on 64-bit digits, with the
 * quotient digits computed as in Moller and Granlund, "Improved division by invariant
 * integers" (IEEE Trans. Computers, 2011): the normalised divisor's reciprocal is computed
 * once, and each step then costs a few multiplications instead of a hardware 128/64
 * division (tens of cycles on most x86 cores, and a libgcc call when written in C).
 *
 *   - a one-limb divisor uses the 2-by-1 step (their algorithm 4) per dividend limb;
 *   - a longer divisor uses the 3-by-2 step (their algorithm 5) on the top three limbs of
 *     the running remainder against the top two of the divisor. That estimate is exact or
 *     one too large, and the multiply-and-subtract of the remaining divisor limbs finds
 *     out which (Knuth's step D6, "add back", taken with probability about 2/2^64).
 *
 * Numbers here are little-endian arrays of 64-bit limbs, as in u256. Every array is on the
 * stack with a fixed size: the largest dividend is mulmod's 512-bit product (8 limbs).
 */
#include "u256.h"

#include <assert.h>
#include <string.h>

#define DOMAIN "common"

typedef u256_u128 u128;

enum {
    DIVIDEND_LIMBS_MAX = 8, /* mulmod's 512-bit product */
    DIVISOR_LIMBS_MAX = 4,
    HEX_TEXT_MAX = 2 + 64,  /* "0x" and 64 digits */
    DEC_DIGITS_MAX = 78,    /* 2^256 - 1 has 78 decimal digits */
};

/* 10^19, the largest power of ten below 2^64: decimal text is handled in 19-digit chunks. */
#define TEN_POW_19 UINT64_C(10000000000000000000)

/* Number of significant limbs of the n-limb number x (0 for zero). */
static int significant_limbs(const uint64_t *x, int n)
{
    while (n > 0 && x[n - 1] == 0) n--;
    return n;
}

/*
 * The reciprocal of a normalised (top bit set) d: floor((2^128 - 1) / d) - 2^64. The
 * numerator is written (2^64 - 1 - d) * 2^64 + (2^64 - 1); its high word is below d, so the
 * quotient fits in 64 bits and the compiler's 128/64 division cannot fault. It runs once
 * per division, not once per digit.
 */
static uint64_t reciprocal_2by1(uint64_t d)
{
    assert((d >> 63) != 0);
    u128 numerator = ((u128)~d << 64) | UINT64_MAX;
    uint64_t v = (uint64_t)(numerator / d);
    assert(v == (uint64_t)(numerator / d)); /* the quotient fits: ~d < d */
    return v;
}

/*
 * Divides the two-limb number (u1, u0) by the normalised d with u1 < d, given
 * v = reciprocal_2by1(d). Returns the quotient and stores the remainder in *r.
 * Moller-Granlund algorithm 4: the estimate q1 is exact, one too small (the second
 * correction) or one too large (the first).
 */
static inline uint64_t div_2by1(uint64_t u1, uint64_t u0, uint64_t d, uint64_t v, uint64_t *r)
{
    u128 q = (u128)v * u1 + (((u128)u1 << 64) | u0);
    uint64_t q1 = (uint64_t)(q >> 64) + 1;
    uint64_t q0 = (uint64_t)q;
    uint64_t rem = u0 - q1 * d;
    /* The first correction goes either way about equally often: masks, not a branch. */
    uint64_t mask = (uint64_t)0 - (uint64_t)(rem > q0);
    q1 += mask;
    rem += mask & d;
    if (rem >= d) { /* rare */
        q1++;
        rem -= d;
    }
    *r = rem;
    return q1;
}

/*
 * The reciprocal of the normalised two-limb divisor (d1, d0) for div_3by2:
 * floor((2^192 - 1) / (d1 * 2^64 + d0)) - 2^64. Moller-Granlund algorithm 6: start from
 * d1's reciprocal and correct it by at most three for the low limb d0.
 */
static uint64_t reciprocal_3by2(uint64_t d1, uint64_t d0)
{
    assert((d1 >> 63) != 0);
    uint64_t v = reciprocal_2by1(d1);
    uint64_t p = d1 * v + d0;
    if (p < d0) {
        v--;
        if (p >= d1) {
            v--;
            p -= d1;
        }
        p -= d1;
    }
    u128 t = (u128)v * d0;
    uint64_t t1 = (uint64_t)(t >> 64), t0 = (uint64_t)t;
    p += t1;
    if (p < t1) {
        v--;
        if (p > d1 || (p == d1 && t0 >= d0)) v--;
    }
    return v;
}

/*
 * Divides the three-limb number (u2, u1, u0) by the normalised (d1, d0), where
 * (u2, u1) < (d1, d0) so the quotient fits in one limb; v = reciprocal_3by2(d1, d0).
 * Returns the quotient and stores the two-limb remainder in *r1, *r0.
 * Moller-Granlund algorithm 5.
 */
static inline uint64_t div_3by2(uint64_t u2, uint64_t u1, uint64_t u0, uint64_t d1, uint64_t d0, uint64_t v,
                                uint64_t *r1, uint64_t *r0)
{
    u128 q = (u128)v * u2 + (((u128)u2 << 64) | u1);
    uint64_t q1 = (uint64_t)(q >> 64), q0 = (uint64_t)q;
    u128 d = ((u128)d1 << 64) | d0;
    uint64_t rhigh = u1 - q1 * d1;
    u128 r = (((u128)rhigh << 64) | u0) - (u128)d0 * q1 - d;
    q1++;
    uint64_t mask = (uint64_t)0 - (uint64_t)((uint64_t)(r >> 64) >= q0); /* unpredictable: no branch */
    q1 += mask;
    r += d & (((u128)mask << 64) | mask);
    if (r >= d) { /* rare */
        q1++;
        r -= d;
    }
    *r1 = (uint64_t)(r >> 64);
    *r0 = (uint64_t)r;
    return q1;
}

/* x[0..n) -= y[0..n) * q; returns the limb borrowed out of the top. */
static uint64_t submul(uint64_t *x, const uint64_t *y, int n, uint64_t q)
{
    uint64_t borrow = 0;
    for (int i = 0; i < n; i++) {
        u128 p = (u128)y[i] * q + borrow;
        uint64_t lo = (uint64_t)p;
        borrow = (uint64_t)(p >> 64) + (x[i] < lo);
        x[i] -= lo;
    }
    return borrow;
}

/* x[0..n) += y[0..n); returns the carry out of the top. */
static uint64_t add_limbs(uint64_t *x, const uint64_t *y, int n)
{
    uint64_t carry = 0;
    for (int i = 0; i < n; i++) {
        u128 s = (u128)x[i] + y[i] + carry;
        x[i] = (uint64_t)s;
        carry = (uint64_t)(s >> 64);
    }
    return carry;
}

/*
 * Short division: u (un limbs, 1..8) by the one-limb d != 0. Writes un quotient limbs to q
 * and returns the remainder. The dividend is normalised limb by limb as it is read, so
 * nothing is copied.
 */
static uint64_t divide_by_limb(const uint64_t *u, int un, uint64_t d, uint64_t *q)
{
    assert(d != 0);
    assert(un >= 1 && un <= DIVIDEND_LIMBS_MAX);
    unsigned shift = (unsigned)__builtin_clzll(d);
    uint64_t dd = d << shift, v = reciprocal_2by1(dd);
    /* The bits shifted out of the top limb start the remainder; (x >> 1) >> (63 - shift)
       is x >> (64 - shift) without the undefined shift by 64 when shift is 0 (as in
       u256_funnel_left). */
    uint64_t rem = (u[un - 1] >> 1) >> (63 - shift);
    for (int i = un - 1; i > 0; i--) q[i] = div_2by1(rem, u256_funnel_left(u[i], u[i - 1], shift), dd, v, &rem);
    q[0] = div_2by1(rem, u[0] << shift, dd, v, &rem);
    assert((rem & ((UINT64_C(1) << shift) - 1)) == 0); /* the low bits shifted in were zeros */
    return rem >> shift;
}

/*
 * The general division: u (un limbs, 1..8) by d (dn limbs, 1..4), both without leading
 * zero limbs, un >= dn. Writes the quotient's un - dn + 1 limbs to q (the top ones may be
 * zero; u below d simply gives 0) and the remainder's dn limbs to r.
 */
static void divide_limbs(const uint64_t *u, int un, const uint64_t *d, int dn, uint64_t *q, uint64_t *r)
{
    assert(dn >= 1 && dn <= DIVISOR_LIMBS_MAX && d[dn - 1] != 0);
    assert(un >= dn && un <= DIVIDEND_LIMBS_MAX && u[un - 1] != 0);
    if (dn == 1) {
        r[0] = divide_by_limb(u, un, d[0], q);
        return;
    }

    /* D1: shift both so the divisor's top bit is set; u gains one limb for the overflow. */
    unsigned shift = (unsigned)__builtin_clzll(d[dn - 1]);
    uint64_t dnorm[DIVISOR_LIMBS_MAX];
    uint64_t unorm[DIVIDEND_LIMBS_MAX + 1];
    /* No branch on shift == 0 and no memcpy: both cost more than these few shifts. */
    for (int i = dn - 1; i > 0; i--) dnorm[i] = u256_funnel_left(d[i], d[i - 1], shift);
    dnorm[0] = d[0] << shift;
    unorm[un] = (u[un - 1] >> 1) >> (63 - shift);
    for (int i = un - 1; i > 0; i--) unorm[i] = u256_funnel_left(u[i], u[i - 1], shift);
    unorm[0] = u[0] << shift;

    uint64_t d1 = dnorm[dn - 1], d0 = dnorm[dn - 2];
    uint64_t v = reciprocal_3by2(d1, d0);
    /*
     * D2-D7: one quotient digit per step. The invariant (Knuth's) is that the dn + 1 limbs
     * unorm[j .. j+dn] are below dnorm * 2^64, so their top two limbs are at most (d1, d0).
     */
    for (int j = un - dn; j >= 0; j--) {
        uint64_t *window = unorm + j; /* dn + 1 limbs: the running remainder's top */
        uint64_t u2 = window[dn], u1 = window[dn - 1], u0 = window[dn - 2];
        uint64_t qhat;
        if (u2 == d1 && u1 == d0) {
            /*
             * div_3by2 needs (u2, u1) < (d1, d0). Equality means the true digit is
             * 2^64 - 1: the window is at least (d1, d0) * 2^(64 (dn - 1)), which is more
             * than (2^64 - 1) * dnorm, and below dnorm * 2^64. So no correction can follow
             * and the subtraction clears the top limb.
             */
            qhat = UINT64_MAX;
            uint64_t borrow = submul(window, dnorm, dn, qhat);
            assert(borrow == u2);
            window[dn] = 0;
        } else {
            uint64_t r1, r0;
            qhat = div_3by2(u2, u1, u0, d1, d0, v, &r1, &r0);
            /* The top three limbs are done; subtract qhat times the rest of the divisor. */
            uint64_t borrow = submul(window, dnorm, dn - 2, qhat);
            uint64_t borrow0 = r0 < borrow;
            r0 -= borrow;
            uint64_t borrow1 = r1 < borrow0;
            r1 -= borrow0;
            window[dn - 2] = r0;
            window[dn - 1] = r1;
            window[dn] = 0;
            if (borrow1 != 0) {
                /* D6: the estimate was one too large; add the divisor back (the carry cancels the borrow). */
                qhat--;
                uint64_t carry = add_limbs(window, dnorm, dn);
                assert(carry == 1);
            }
        }
        q[j] = qhat;
    }

    /* D8: the remainder is the low dn limbs, shifted back. */
    for (int i = 0; i < dn - 1; i++) r[i] = u256_funnel_right(unorm[i + 1], unorm[i], shift);
    r[dn - 1] = unorm[dn - 1] >> shift;
    assert(unorm[dn] == 0);
}

void u256_divmod(u256 a, u256 b, u256 *quotient, u256 *remainder)
{
    u256 q = u256_zero(), r = u256_zero();
    int dn = significant_limbs(b.w, 4);
    int un = significant_limbs(a.w, 4);
    if (dn == 0) {
        /* EVM: division by zero gives 0 for both. */
    } else if (un <= 1) {
        /* a < 2^64: one machine division when b is that small too, else b > a. */
        if (dn == 1) {
            q.w[0] = a.w[0] / b.w[0];
            r.w[0] = a.w[0] % b.w[0];
        } else {
            r = a;
        }
    } else if (u256_lt(a, b)) {
        r = a;
    } else {
        divide_limbs(a.w, un, b.w, dn, q.w, r.w);
        assert(u256_lt(r, b));
    }
    if (quotient != NULL) *quotient = q;
    if (remainder != NULL) *remainder = r;
}

static u256 absolute(u256 a) { return u256_is_negative(a) ? u256_negate(a) : a; }

u256 u256_sdiv(u256 a, u256 b)
{
    /*
     * Divide magnitudes, then fix the sign. -2^255 has no positive counterpart, but its
     * magnitude 2^255 is still correct read unsigned, and sdiv(-2^255, -1) comes out as
     * 2^255, which is -2^255 again: the EVM's answer, with no special case.
     */
    u256 q;
    u256_divmod(absolute(a), absolute(b), &q, NULL);
    return u256_is_negative(a) != u256_is_negative(b) ? u256_negate(q) : q;
}

u256 u256_smod(u256 a, u256 b)
{
    u256 r;
    u256_divmod(absolute(a), absolute(b), NULL, &r);
    /* absolute(-2^255) is 2^255 read unsigned, so the bound holds for every nonzero b. */
    assert(u256_is_zero(b) || u256_lt(r, absolute(b)));
    return u256_is_negative(a) ? u256_negate(r) : r;
}

u256 u256_addmod(u256 a, u256 b, u256 m)
{
    if (u256_is_zero(m)) return u256_zero();
    u256 sum = u256_add(a, b);
    bool carry = u256_lt(sum, a); /* the 257th bit */
    if (u256_lt(a, m) && u256_lt(b, m)) {
        /* Reduced operands (the usual case in field arithmetic): one subtraction at most. */
        if (carry || !u256_lt(sum, m)) sum = u256_sub(sum, m);
        assert(u256_lt(sum, m));
        return sum;
    }
    if (!carry) return u256_mod(sum, m);
    uint64_t u[5] = {sum.w[0], sum.w[1], sum.w[2], sum.w[3], 1};
    uint64_t q[5];
    u256 r = u256_zero();
    divide_limbs(u, 5, m.w, significant_limbs(m.w, 4), q, r.w);
    assert(u256_lt(r, m));
    return r;
}

/* The full 512-bit product of a and b, into p[0..8). */
static void mul_wide(u256 a, u256 b, uint64_t p[8])
{
    memset(p, 0, 8 * sizeof p[0]);
    for (int i = 0; i < 4; i++) {
        uint64_t carry = 0;
        for (int j = 0; j < 4; j++) {
            u128 t = (u128)a.w[i] * b.w[j] + p[i + j] + carry;
            p[i + j] = (uint64_t)t;
            carry = (uint64_t)(t >> 64);
        }
        p[i + 4] = carry;
    }
}

u256 u256_mulmod(u256 a, u256 b, u256 m)
{
    if (u256_is_zero(m)) return u256_zero();
    if (u256_fits_u64(a) && u256_fits_u64(b) && u256_fits_u64(m))
        return u256_from_u64((uint64_t)((u128)a.w[0] * b.w[0] % m.w[0]));
    uint64_t p[8];
    mul_wide(a, b, p);
    int pn = significant_limbs(p, 8), mn = significant_limbs(m.w, 4);
    if (pn <= 4) return u256_mod((u256){{p[0], p[1], p[2], p[3]}}, m); /* the product fits in 256 bits */
    assert(pn >= mn);
    uint64_t q[DIVIDEND_LIMBS_MAX];
    u256 r = u256_zero();
    divide_limbs(p, pn, m.w, mn, q, r.w);
    assert(u256_lt(r, m));
    return r;
}

u256 u256_exp(u256 base, u256 exponent)
{
    /* Right-to-left square-and-multiply: at most 256 squarings and 256 multiplications. */
    unsigned bits = u256_bit_length(exponent);
    assert(bits <= 256);
    if (u256_eq(base, u256_from_u64(2))) /* a common case in contracts: 2**n is 1 << n */
        return u256_shl(exponent, u256_from_u64(1));
    u256 result = u256_from_u64(1);
    for (unsigned i = 0; i < bits; i++) {
        if ((exponent.w[i / 64] >> (i % 64)) & 1) result = u256_mul(result, base);
        if (i + 1 < bits) base = u256_mul(base, base);
    }
    return result;
}

u256 u256_load_be_partial(const uint8_t *in, size_t len)
{
    assert(len <= 32);
    assert(in != NULL || len == 0);
    uint8_t padded[32] = {0};
    if (len != 0) memcpy(padded + 32 - len, in, len);
    return u256_load_be(padded);
}

/* ---- Text ---- */

static const char hex_digits[] = "0123456789abcdef";

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int u256_from_hex(const char *text, u256 *out, struct cohort_error *err)
{
    assert(text != NULL);
    assert(out != NULL);
    /* Read at most one character past the longest valid text, so a huge input costs nothing. */
    size_t len = strnlen(text, HEX_TEXT_MAX + 1);
    int shown = len > 40 ? 40 : (int)len;
    if (len < 2 || text[0] != '0' || (text[1] != 'x' && text[1] != 'X'))
        return cohort_error_set(err, COMMON_E_INVALID, DOMAIN, "u256 hex: \"%.*s\" lacks the 0x prefix", shown,
                                text);
    size_t ndigits = len - 2;
    if (ndigits == 0) return cohort_error_set(err, COMMON_E_INVALID, DOMAIN, "u256 hex: no digits after 0x");
    if (ndigits > 64)
        return cohort_error_set(err, COMMON_E_RANGE, DOMAIN, "u256 hex: more than 64 digits (\"%.*s...\")", shown,
                                text);
    u256 r = u256_zero();
    for (size_t i = 0; i < ndigits; i++) {
        char c = text[len - 1 - i]; /* i-th digit from the least significant */
        int value = hex_value(c);
        if (value < 0)
            return cohort_error_set(err, COMMON_E_INVALID, DOMAIN, "u256 hex: bad character 0x%02x at position %zu",
                                    (unsigned char)c, len - 1 - i);
        r.w[i / 16] |= (uint64_t)value << (i % 16 * 4);
    }
    /* Checked after the characters, so "0x0g" reports the bad character, not a leading zero. */
    if (ndigits > 1 && text[2] == '0')
        return cohort_error_set(err, COMMON_E_NONCANONICAL, DOMAIN, "u256 hex: leading zero in \"%.*s\"", shown,
                                text);
    *out = r;
    return 0;
}

size_t u256_to_hex(u256 a, char *out, size_t out_cap)
{
    assert(out != NULL);
    assert(out_cap >= HEX_TEXT_MAX + 1);
    unsigned ndigits = (u256_bit_length(a) + 3) / 4;
    if (ndigits == 0) ndigits = 1; /* "0x0" */
    out[0] = '0';
    out[1] = 'x';
    for (unsigned i = 0; i < ndigits; i++) out[2 + ndigits - 1 - i] = hex_digits[(a.w[i / 16] >> (i % 16 * 4)) & 15];
    out[2 + ndigits] = '\0';
    return 2 + ndigits;
}

/* r = r * m + add; returns the limb carried out of the top (nonzero means overflow). */
static uint64_t mul_add_small(u256 *r, uint64_t m, uint64_t add)
{
    uint64_t carry = add;
    for (int i = 0; i < 4; i++) {
        u128 t = (u128)r->w[i] * m + carry;
        r->w[i] = (uint64_t)t;
        carry = (uint64_t)(t >> 64);
    }
    return carry;
}

int u256_from_dec(const char *text, u256 *out, struct cohort_error *err)
{
    assert(text != NULL);
    assert(out != NULL);
    size_t len = strnlen(text, DEC_DIGITS_MAX + 2);
    int shown = len > 40 ? 40 : (int)len;
    if (len == 0) return cohort_error_set(err, COMMON_E_INVALID, DOMAIN, "u256 decimal: empty text");
    for (size_t i = 0; i < len; i++)
        if (text[i] < '0' || text[i] > '9')
            return cohort_error_set(err, COMMON_E_INVALID, DOMAIN,
                                    "u256 decimal: bad character 0x%02x at position %zu", (unsigned char)text[i], i);
    if (len > 1 && text[0] == '0')
        return cohort_error_set(err, COMMON_E_NONCANONICAL, DOMAIN, "u256 decimal: leading zero in \"%.*s\"", shown,
                                text);
    if (len > DEC_DIGITS_MAX)
        return cohort_error_set(err, COMMON_E_RANGE, DOMAIN, "u256 decimal: \"%.*s...\" is 2^256 or more", shown,
                                text);
    /* Chunks of up to 19 digits: the first takes the remainder so the rest are full. */
    u256 r = u256_zero();
    size_t pos = 0;
    while (pos < len) {
        size_t chunk = pos == 0 && len % 19 != 0 ? len % 19 : 19;
        uint64_t value = 0, scale = 1;
        for (size_t i = 0; i < chunk; i++) {
            value = value * 10 + (uint64_t)(text[pos + i] - '0');
            scale *= 10;
        }
        if (mul_add_small(&r, scale, value) != 0)
            return cohort_error_set(err, COMMON_E_RANGE, DOMAIN, "u256 decimal: \"%.*s%s\" is 2^256 or more", shown,
                                    text, len > 40 ? "..." : "");
        pos += chunk;
    }
    assert(pos == len);
    *out = r;
    return 0;
}

size_t u256_to_dec(u256 a, char *out, size_t out_cap)
{
    assert(out != NULL);
    assert(out_cap >= DEC_DIGITS_MAX + 1);
    /* Peel off 19 digits at a time, least significant first, by short division by 10^19. */
    uint64_t chunks[5];
    int nchunks = 0;
    const uint64_t ten19 = TEN_POW_19;
    do {
        u256 q;
        int n = significant_limbs(a.w, 4);
        if (n <= 1) {
            chunks[nchunks++] = a.w[0] % ten19;
            q = u256_from_u64(a.w[0] / ten19);
        } else {
            q = u256_zero();
            chunks[nchunks++] = divide_by_limb(a.w, n, ten19, q.w);
        }
        a = q;
    } while (!u256_is_zero(a));
    assert(nchunks <= 5);

    size_t len = 0;
    for (int c = nchunks - 1; c >= 0; c--) {
        char tmp[19];
        uint64_t value = chunks[c];
        int n = 0;
        do {
            tmp[n++] = (char)('0' + value % 10);
            value /= 10;
        } while (value != 0);
        /* Every chunk but the most significant is zero-padded to 19 digits. */
        if (c != nchunks - 1)
            while (n < 19) tmp[n++] = '0';
        while (n > 0) out[len++] = tmp[--n];
    }
    out[len] = '\0';
    assert(len <= DEC_DIGITS_MAX);
    return len;
}
