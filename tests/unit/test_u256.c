/*
 * test_u256.c - 256-bit EVM arithmetic: hand-picked edge cases whose answers follow from
 * the EVM's rules or from arithmetic done on paper, and a differential test of every
 * operation against GMP over seeded random operands.
 *
 * Environment:
 *   COHORT_TEST_SEED   base seed of the random tests (decimal or 0x-hex); a failure prints
 *                      the seed and case number that reproduce it.
 *   COHORT_TEST_SCALE  divides the number of random cases (default 1: 1,000,000 per
 *                      operation); for slow sanitizer builds.
 */
#include <check.h>
#include <gmp.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/u256.h"
#include "testutil.h"

#define DEFAULT_SEED UINT64_C(0x75323536c0ffee01)
#define CASES_PER_OP 1000000

static u256 U(uint64_t w3, uint64_t w2, uint64_t w1, uint64_t w0) { return (u256){{w0, w1, w2, w3}}; }
static u256 pow2(unsigned k) { return u256_shl(u256_from_u64(k), u256_from_u64(1)); }

#define TOP_BIT (UINT64_C(1) << 63)
#define MINUS(v) u256_negate(u256_from_u64(v))

/* Formats a as 64 hex digits without relying on the code under test. */
static const char *show(u256 a, char buf[80])
{
    snprintf(buf, 80, "0x%016" PRIx64 "%016" PRIx64 "%016" PRIx64 "%016" PRIx64, a.w[3], a.w[2], a.w[1], a.w[0]);
    return buf;
}

#define ck_assert_u256_eq(got, want)                                                                       \
    do {                                                                                                   \
        u256 got_ = (got), want_ = (want);                                                                 \
        char g_[80], w_[80];                                                                               \
        if (memcmp(&got_, &want_, sizeof got_) != 0)                                                       \
            ck_abort_msg("%s: got %s, want %s", #got, show(got_, g_), show(want_, w_));                    \
    } while (0)

/* ---------------------------------------------------------------- hand cases */

START_TEST(division_edges)
{
    u256 seven = u256_from_u64(7), three = u256_from_u64(3), q, r;
    /* Division by zero is 0, for every flavour. */
    ck_assert_u256_eq(u256_div(seven, u256_zero()), u256_zero());
    ck_assert_u256_eq(u256_mod(seven, u256_zero()), u256_zero());
    ck_assert_u256_eq(u256_div(u256_max(), u256_zero()), u256_zero());
    ck_assert_u256_eq(u256_mod(u256_max(), u256_zero()), u256_zero());
    ck_assert_u256_eq(u256_sdiv(MINUS(7), u256_zero()), u256_zero());
    ck_assert_u256_eq(u256_smod(MINUS(7), u256_zero()), u256_zero());
    q = r = u256_max();
    u256_divmod(u256_max(), u256_zero(), &q, &r);
    ck_assert_u256_eq(q, u256_zero());
    ck_assert_u256_eq(r, u256_zero());

    /* -2^255 / -1 overflows back to -2^255; its remainder is 0. */
    ck_assert_u256_eq(u256_sdiv(pow2(255), u256_max()), pow2(255));
    ck_assert_u256_eq(u256_smod(pow2(255), u256_max()), u256_zero());
    ck_assert_u256_eq(u256_sdiv(pow2(255), u256_from_u64(1)), pow2(255));
    ck_assert_u256_eq(u256_sdiv(pow2(255), pow2(255)), u256_from_u64(1));

    /* Truncation toward zero; the remainder takes the dividend's sign. */
    ck_assert_u256_eq(u256_sdiv(MINUS(7), three), MINUS(2));
    ck_assert_u256_eq(u256_sdiv(seven, MINUS(3)), MINUS(2));
    ck_assert_u256_eq(u256_sdiv(MINUS(7), MINUS(3)), u256_from_u64(2));
    ck_assert_u256_eq(u256_smod(MINUS(7), three), MINUS(1));
    ck_assert_u256_eq(u256_smod(seven, MINUS(3)), u256_from_u64(1));
    ck_assert_u256_eq(u256_smod(MINUS(7), MINUS(3)), MINUS(1));
    ck_assert_u256_eq(u256_smod(MINUS(6), three), u256_zero());
    ck_assert_u256_eq(u256_smod(pow2(255), three), MINUS(2)); /* -2^255 = -(3k + 2) */

    /* Unsigned: 2^256 - 1 = 3 * 5 * 17 * 257 * 641 * 65537 * ..., so 3 divides it. */
    ck_assert_u256_eq(u256_mod(u256_max(), three), u256_zero());
    ck_assert_u256_eq(u256_mul(u256_div(u256_max(), three), three), u256_max());
    ck_assert_u256_eq(u256_div(u256_max(), u256_max()), u256_from_u64(1));
    ck_assert_u256_eq(u256_div(seven, u256_max()), u256_zero());
    ck_assert_u256_eq(u256_mod(seven, u256_max()), seven);

    /*
     * V = 2^191 + 5, U = 2^255 + 2^65 + 7. Normalised, U's top two limbs equal V's, so the
     * digit estimate cannot be used (the quotient digit is 2^64 - 1), and the digit before
     * it overestimates and must add the divisor back. On paper: U = (2^64 - 1) V + R with
     * R = 2^191 - 3 * 2^64 + 12.
     */
    u256 big_v = U(0, TOP_BIT, 0, 5), big_u = U(TOP_BIT, 0, 2, 7);
    u256_divmod(big_u, big_v, &q, &r);
    ck_assert_u256_eq(q, u256_from_u64(UINT64_MAX));
    ck_assert_u256_eq(r, U(0, 0x7fffffffffffffff, 0xfffffffffffffffd, 12));

    /*
     * Add-back with a two-limb-tail divisor: V = 2^191 + 2^64 - 1 (limbs 2^63, 0, max) and
     * U = k V - 1 for a 64-bit k. The top three limbs of U are k (d1, d0) + k - 1, so the
     * 3-by-2 estimate is k, one too many: U = (k - 1) V + (V - 1).
     */
    uint64_t k = 0x123456789abcdefULL;
    u256 v3 = U(0, TOP_BIT, 0, UINT64_MAX);
    u256 u3 = u256_sub(u256_mul(v3, u256_from_u64(k)), u256_from_u64(1));
    u256_divmod(u3, v3, &q, &r);
    ck_assert_u256_eq(q, u256_from_u64(k - 1));
    ck_assert_u256_eq(r, u256_sub(v3, u256_from_u64(1)));
}
END_TEST

START_TEST(shift_edges)
{
    u256 x = U(0x0123456789abcdef, 0xfedcba9876543210, 0x0f1e2d3c4b5a6978, 0x8796a5b4c3d2e1f0);
    u256 huge = u256_max(), two64 = U(0, 0, 1, 0);
    /* Shift 0 is the identity for all three. */
    ck_assert_u256_eq(u256_shl(u256_zero(), x), x);
    ck_assert_u256_eq(u256_shr(u256_zero(), x), x);
    ck_assert_u256_eq(u256_sar(u256_zero(), x), x);
    ck_assert_u256_eq(u256_sar(u256_zero(), u256_not(x)), u256_not(x));
    /* 255 keeps one bit. */
    ck_assert_u256_eq(u256_shl(u256_from_u64(255), u256_from_u64(1)), pow2(255));
    ck_assert_u256_eq(u256_shl(u256_from_u64(255), u256_from_u64(2)), u256_zero());
    ck_assert_u256_eq(u256_shr(u256_from_u64(255), u256_max()), u256_from_u64(1));
    ck_assert_u256_eq(u256_shr(u256_from_u64(255), x), u256_zero());
    ck_assert_u256_eq(u256_sar(u256_from_u64(255), pow2(255)), u256_max());
    ck_assert_u256_eq(u256_sar(u256_from_u64(255), u256_sub(pow2(255), u256_from_u64(1))), u256_zero());
    /* 256, 2^64 (only the second limb set: a low-limb-only check would shift by 0) and max give 0 or the sign. */
    u256 big_shifts[] = {u256_from_u64(256), u256_from_u64(257), two64, U(1, 0, 0, 0), huge,
                         U(0, 0, 1, 3)};
    for (size_t i = 0; i < sizeof big_shifts / sizeof big_shifts[0]; i++) {
        ck_assert_u256_eq(u256_shl(big_shifts[i], u256_max()), u256_zero());
        ck_assert_u256_eq(u256_shr(big_shifts[i], u256_max()), u256_zero());
        ck_assert_u256_eq(u256_sar(big_shifts[i], u256_max()), u256_max());
        ck_assert_u256_eq(u256_sar(big_shifts[i], pow2(255)), u256_max());
        ck_assert_u256_eq(u256_sar(big_shifts[i], u256_sub(pow2(255), u256_from_u64(1))), u256_zero());
    }
    /* Whole-limb and cross-limb moves. */
    ck_assert_u256_eq(u256_shl(u256_from_u64(64), x), U(x.w[2], x.w[1], x.w[0], 0));
    ck_assert_u256_eq(u256_shr(u256_from_u64(128), x), U(0, 0, x.w[3], x.w[2]));
    ck_assert_u256_eq(u256_shl(u256_from_u64(4), U(0, 0, 0, 0xf000000000000000)), U(0, 0, 0xf, 0));
    ck_assert_u256_eq(u256_sar(u256_from_u64(4), pow2(255)), U(0xf800000000000000, 0, 0, 0));
    ck_assert_u256_eq(u256_sar(u256_from_u64(68), U(TOP_BIT, 0, 0, 0)), U(UINT64_MAX, 0xf800000000000000, 0, 0));
}
END_TEST

START_TEST(byte_and_signextend_edges)
{
    u256 x = U(0xa1a2a3a4a5a6a7a8, 0xb1b2b3b4b5b6b7b8, 0xc1c2c3c4c5c6c7c8, 0xd1d2d3d4d5d6d7d8);
    ck_assert_u256_eq(u256_byte(u256_zero(), x), u256_from_u64(0xa1));
    ck_assert_u256_eq(u256_byte(u256_from_u64(7), x), u256_from_u64(0xa8));
    ck_assert_u256_eq(u256_byte(u256_from_u64(8), x), u256_from_u64(0xb1));
    ck_assert_u256_eq(u256_byte(u256_from_u64(31), x), u256_from_u64(0xd8));
    ck_assert_u256_eq(u256_byte(u256_from_u64(32), x), u256_zero());
    ck_assert_u256_eq(u256_byte(U(0, 0, 1, 0), x), u256_zero()); /* 2^64: low limb 0 */
    ck_assert_u256_eq(u256_byte(u256_max(), x), u256_zero());

    /* Byte 0: 0xff extends to -1, 0x7f stays. */
    ck_assert_u256_eq(u256_signextend(u256_zero(), u256_from_u64(0xff)), u256_max());
    ck_assert_u256_eq(u256_signextend(u256_zero(), u256_from_u64(0x7f)), u256_from_u64(0x7f));
    ck_assert_u256_eq(u256_signextend(u256_zero(), U(5, 5, 5, 0x1234567f)), u256_from_u64(0x7f));
    ck_assert_u256_eq(u256_signextend(u256_zero(), u256_from_u64(0x180)), MINUS(0x80));
    /* Byte 7: the sign bit is a limb's top bit. */
    ck_assert_u256_eq(u256_signextend(u256_from_u64(7), U(1, 2, 3, TOP_BIT)),
                      U(UINT64_MAX, UINT64_MAX, UINT64_MAX, TOP_BIT));
    /* Byte 30: only the top byte is rewritten. */
    ck_assert_u256_eq(u256_signextend(u256_from_u64(30), U(0x0080000000000000, 0, 0, 1)),
                      U(0xff80000000000000, 0, 0, 1));
    ck_assert_u256_eq(u256_signextend(u256_from_u64(30), U(0xab7f000000000000, 7, 7, 7)),
                      U(0x007f000000000000, 7, 7, 7));
    /* Byte 31 and beyond: unchanged. */
    ck_assert_u256_eq(u256_signextend(u256_from_u64(31), x), x);
    ck_assert_u256_eq(u256_signextend(u256_from_u64(32), x), x);
    ck_assert_u256_eq(u256_signextend(U(0, 0, 1, 0), x), x);
    ck_assert_u256_eq(u256_signextend(u256_max(), x), x);
}
END_TEST

START_TEST(modular_edges)
{
    u256 max = u256_max();
    /* m = 0 gives 0; m = 1 gives 0. */
    ck_assert_u256_eq(u256_addmod(max, max, u256_zero()), u256_zero());
    ck_assert_u256_eq(u256_mulmod(max, max, u256_zero()), u256_zero());
    ck_assert_u256_eq(u256_addmod(max, max, u256_from_u64(1)), u256_zero());
    ck_assert_u256_eq(u256_mulmod(max, max, u256_from_u64(1)), u256_zero());
    ck_assert_u256_eq(u256_mulmod(u256_from_u64(3), u256_from_u64(5), u256_from_u64(1)), u256_zero());
    /* Sums past 2^256: 2^256 = ...936, so 2^256 mod 10 = 6; 2^257 - 2 mod 7 = 4 - 2 (2^3 = 1 mod 7). */
    ck_assert_u256_eq(u256_addmod(max, u256_from_u64(1), u256_from_u64(10)), u256_from_u64(6));
    ck_assert_u256_eq(u256_addmod(max, max, u256_from_u64(7)), u256_from_u64(2));
    ck_assert_u256_eq(u256_addmod(max, max, max), u256_zero());
    /* (2^256 - 1) + (2^256 - 1) = 2 (2^256 - 2) + 2. */
    ck_assert_u256_eq(u256_addmod(max, max, u256_sub(max, u256_from_u64(1))), u256_from_u64(2));
    /* Reduced operands whose sum carries out of 256 bits: (m - 1) + (m - 1) = m + (m - 2). */
    u256 m = u256_sub(max, u256_from_u64(4));
    ck_assert_u256_eq(u256_addmod(u256_sub(m, u256_from_u64(1)), u256_sub(m, u256_from_u64(1)), m),
                      u256_sub(m, u256_from_u64(2)));
    /* Products past 2^256: (2^256 - 1)^2 mod (2^256 - 2) = 1^2; mod 2^256 - 1 it is 0. */
    ck_assert_u256_eq(u256_mulmod(max, max, u256_sub(max, u256_from_u64(1))), u256_from_u64(1));
    ck_assert_u256_eq(u256_mulmod(max, max, max), u256_zero());
    /* 2^128 * 2^128 = 2^256 = 6 mod 10, and mod 2^255 it is 0; (2^255)^2 mod 3 = 1. */
    ck_assert_u256_eq(u256_mulmod(pow2(128), pow2(128), u256_from_u64(10)), u256_from_u64(6));
    ck_assert_u256_eq(u256_mulmod(pow2(128), pow2(128), pow2(255)), u256_zero());
    ck_assert_u256_eq(u256_mulmod(pow2(255), pow2(255), u256_from_u64(3)), u256_from_u64(1));
    /* Below 2^64 the fast path: (2^64 - 1)^2 mod (2^64 - 2) = 1. */
    ck_assert_u256_eq(u256_mulmod(u256_from_u64(UINT64_MAX), u256_from_u64(UINT64_MAX), u256_from_u64(UINT64_MAX - 1)),
                      u256_from_u64(1));
}
END_TEST

START_TEST(exp_edges)
{
    ck_assert_u256_eq(u256_exp(u256_zero(), u256_zero()), u256_from_u64(1));
    ck_assert_u256_eq(u256_exp(u256_zero(), u256_from_u64(1)), u256_zero());
    ck_assert_u256_eq(u256_exp(u256_zero(), u256_max()), u256_zero());
    ck_assert_u256_eq(u256_exp(u256_max(), u256_zero()), u256_from_u64(1));
    ck_assert_u256_eq(u256_exp(u256_from_u64(2), u256_from_u64(255)), pow2(255));
    ck_assert_u256_eq(u256_exp(u256_from_u64(2), u256_from_u64(256)), u256_zero());
    ck_assert_u256_eq(u256_exp(u256_from_u64(2), U(0, 0, 1, 0)), u256_zero());
    ck_assert_u256_eq(u256_exp(u256_from_u64(4), u256_from_u64(127)), pow2(254));
    ck_assert_u256_eq(u256_exp(u256_from_u64(4), u256_from_u64(128)), u256_zero());
    ck_assert_u256_eq(u256_exp(u256_from_u64(10), u256_from_u64(18)), u256_from_u64(1000000000000000000ULL));
    ck_assert_u256_eq(u256_exp(u256_max(), u256_from_u64(2)), u256_from_u64(1)); /* (-1)^2 */
    ck_assert_u256_eq(u256_exp(u256_max(), u256_from_u64(3)), u256_max());
    /*
     * 3 has order 2^254 in the odd residues mod 2^256, and 3^(2^253) = 2^255 + 1 (for k >= 3,
     * 3^(2^(k-3)) = 1 + 2^(k-1) mod 2^k). Exponents with many bits set exercise every step.
     */
    ck_assert_u256_eq(u256_exp(u256_from_u64(3), pow2(254)), u256_from_u64(1));
    ck_assert_u256_eq(u256_exp(u256_from_u64(3), pow2(253)), u256_add(pow2(255), u256_from_u64(1)));
    u256 e = u256_sub(pow2(254), u256_from_u64(1)); /* 3^e is 3's inverse */
    ck_assert_u256_eq(u256_mul(u256_exp(u256_from_u64(3), e), u256_from_u64(3)), u256_from_u64(1));
    ck_assert_u256_eq(u256_exp(u256_from_u64(3), u256_add(pow2(254), u256_from_u64(5))), u256_from_u64(243));
}
END_TEST

START_TEST(bytes_and_lengths)
{
    uint8_t be[32];
    for (int i = 0; i < 32; i++) be[i] = (uint8_t)(i + 1);
    u256 x = u256_load_be(be);
    ck_assert_u256_eq(x, U(0x0102030405060708, 0x090a0b0c0d0e0f10, 0x1112131415161718, 0x191a1b1c1d1e1f20));
    uint8_t out[32];
    u256_store_be(out, x);
    ck_assert_mem_eq(out, be, 32);
    ck_assert_u256_eq(u256_load_be_partial(be, 0), u256_zero());
    ck_assert_u256_eq(u256_load_be_partial(NULL, 0), u256_zero());
    ck_assert_u256_eq(u256_load_be_partial(be, 1), u256_from_u64(1));
    ck_assert_u256_eq(u256_load_be_partial(be, 3), u256_from_u64(0x010203));
    ck_assert_u256_eq(u256_load_be_partial(be, 9), U(0, 0, 0x01, 0x0203040506070809));
    ck_assert_u256_eq(u256_load_be_partial(be, 32), x);

    ck_assert_uint_eq(u256_bit_length(u256_zero()), 0);
    ck_assert_uint_eq(u256_byte_length(u256_zero()), 0);
    ck_assert_uint_eq(u256_bit_length(u256_from_u64(1)), 1);
    ck_assert_uint_eq(u256_byte_length(u256_from_u64(1)), 1);
    ck_assert_uint_eq(u256_bit_length(u256_from_u64(256)), 9);
    ck_assert_uint_eq(u256_byte_length(u256_from_u64(256)), 2);
    ck_assert_uint_eq(u256_bit_length(U(0, 0, 1, 0)), 65);
    ck_assert_uint_eq(u256_bit_length(u256_max()), 256);
    ck_assert_uint_eq(u256_byte_length(u256_max()), 32);

    ck_assert(u256_slt(u256_max(), u256_zero()));
    ck_assert(!u256_lt(u256_max(), u256_zero()));
    ck_assert(u256_slt(pow2(255), u256_max()));
    ck_assert(u256_sgt(u256_sub(pow2(255), u256_from_u64(1)), pow2(255)));
    ck_assert(!u256_lt(x, x));
    ck_assert(u256_eq(x, x));
    ck_assert(!u256_eq(x, u256_add(x, pow2(200))));
}
END_TEST

START_TEST(hex_text)
{
    struct cohort_error err = {0};
    u256 v = u256_from_u64(99);
    char text[67];
    ck_assert_int_eq(u256_from_hex("0x0", &v, &err), 0);
    ck_assert_u256_eq(v, u256_zero());
    ck_assert_uint_eq(u256_to_hex(v, text, sizeof text), 3);
    ck_assert_str_eq(text, "0x0");
    ck_assert_int_eq(u256_from_hex("0x1F", &v, &err), 0);
    ck_assert_u256_eq(v, u256_from_u64(31));
    ck_assert_int_eq(u256_from_hex("0x10000000000000000", &v, &err), 0); /* 17 digits: 2^64 */
    ck_assert_u256_eq(v, U(0, 0, 1, 0));
    ck_assert_uint_eq(u256_to_hex(v, text, sizeof text), 19);
    ck_assert_str_eq(text, "0x10000000000000000");
    const char *max_text = "0xffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff";
    ck_assert_int_eq(u256_from_hex(max_text, &v, &err), 0);
    ck_assert_u256_eq(v, u256_max());
    ck_assert_uint_eq(u256_to_hex(v, text, sizeof text), 66);
    ck_assert_str_eq(text, max_text);
    ck_assert_int_eq(u256_from_hex("0x8000000000000000000000000000000000000000000000000000000000000000", &v, &err), 0);
    ck_assert_u256_eq(v, pow2(255));

    /* Strict errors leave *out alone. */
    v = u256_from_u64(42);
    ck_assert_int_eq(u256_from_hex("0x", &v, &err), COMMON_E_INVALID);
    ck_assert_ptr_nonnull(strstr(err.message, "no digits"));
    ck_assert_int_eq(u256_from_hex("0x01", &v, &err), COMMON_E_NONCANONICAL);
    ck_assert_ptr_nonnull(strstr(err.message, "leading zero"));
    ck_assert_int_eq(u256_from_hex("0x00", &v, &err), COMMON_E_NONCANONICAL);
    ck_assert_int_eq(u256_from_hex("0x1ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", &v, &err),
                     COMMON_E_RANGE); /* 65 digits */
    ck_assert_int_eq(u256_from_hex("0x00000000000000000000000000000000000000000000000000000000000000001", &v, &err),
                     COMMON_E_RANGE);
    ck_assert_int_eq(u256_from_hex("0x1g", &v, &err), COMMON_E_INVALID);
    ck_assert_ptr_nonnull(strstr(err.message, "position 3"));
    ck_assert_int_eq(u256_from_hex("0x 1", &v, &err), COMMON_E_INVALID);
    ck_assert_int_eq(u256_from_hex("0x1 ", &v, &err), COMMON_E_INVALID);
    ck_assert_int_eq(u256_from_hex("0x-1", &v, &err), COMMON_E_INVALID);
    ck_assert_int_eq(u256_from_hex("1f", &v, &err), COMMON_E_INVALID);
    ck_assert_ptr_nonnull(strstr(err.message, "prefix"));
    ck_assert_int_eq(u256_from_hex("", &v, &err), COMMON_E_INVALID);
    ck_assert_int_eq(u256_from_hex("x1", &v, &err), COMMON_E_INVALID);
    ck_assert_int_eq(u256_from_hex("00x1", &v, &err), COMMON_E_INVALID);
    ck_assert_u256_eq(v, u256_from_u64(42));
    /* A huge input is refused after reading a bounded prefix of it. */
    char long_text[4096];
    memset(long_text, 'f', sizeof long_text - 1);
    long_text[0] = '0';
    long_text[1] = 'x';
    long_text[sizeof long_text - 1] = '\0';
    ck_assert_int_eq(u256_from_hex(long_text, &v, NULL), COMMON_E_RANGE);
}
END_TEST

START_TEST(decimal_text)
{
    struct cohort_error err = {0};
    u256 v;
    char text[79];
    const char *max_dec = "115792089237316195423570985008687907853269984665640564039457584007913129639935";
    ck_assert_int_eq(u256_from_dec("0", &v, &err), 0);
    ck_assert_u256_eq(v, u256_zero());
    ck_assert_uint_eq(u256_to_dec(v, text, sizeof text), 1);
    ck_assert_str_eq(text, "0");
    ck_assert_int_eq(u256_from_dec("1000000000000000000", &v, &err), 0); /* 19 digits: one chunk */
    ck_assert_u256_eq(v, u256_from_u64(1000000000000000000ULL));
    ck_assert_int_eq(u256_from_dec("18446744073709551616", &v, &err), 0); /* 2^64 */
    ck_assert_u256_eq(v, U(0, 0, 1, 0));
    ck_assert_uint_eq(u256_to_dec(v, text, sizeof text), 20);
    ck_assert_str_eq(text, "18446744073709551616");
    ck_assert_int_eq(u256_from_dec("10000000000000000000", &v, &err), 0); /* 10^19: a zero-padded chunk */
    ck_assert_uint_eq(u256_to_dec(v, text, sizeof text), 20);
    ck_assert_str_eq(text, "10000000000000000000");
    ck_assert_int_eq(u256_from_dec(max_dec, &v, &err), 0);
    ck_assert_u256_eq(v, u256_max());
    ck_assert_uint_eq(u256_to_dec(v, text, sizeof text), 78);
    ck_assert_str_eq(text, max_dec);
    ck_assert_int_eq(u256_from_dec("57896044618658097711785492504343953926634992332820282019728792003956564819968", &v, &err), 0);
    ck_assert_u256_eq(v, pow2(255));

    v = u256_from_u64(42);
    /* 2^256, and 2^256 - 1 with a digit more: overflow. */
    ck_assert_int_eq(u256_from_dec("115792089237316195423570985008687907853269984665640564039457584007913129639936", &v, &err),
                     COMMON_E_RANGE);
    ck_assert_ptr_nonnull(strstr(err.message, "2^256"));
    ck_assert_int_eq(u256_from_dec("999999999999999999999999999999999999999999999999999999999999999999999999999999", &v, &err),
                     COMMON_E_RANGE);
    ck_assert_int_eq(u256_from_dec("1157920892373161954235709850086879078532699846656405640394575840079131296399350", &v, &err),
                     COMMON_E_RANGE);
    ck_assert_int_eq(u256_from_dec("", &v, &err), COMMON_E_INVALID);
    ck_assert_int_eq(u256_from_dec("01", &v, &err), COMMON_E_NONCANONICAL);
    ck_assert_int_eq(u256_from_dec("12a", &v, &err), COMMON_E_INVALID);
    ck_assert_ptr_nonnull(strstr(err.message, "position 2"));
    ck_assert_int_eq(u256_from_dec("-1", &v, &err), COMMON_E_INVALID);
    ck_assert_int_eq(u256_from_dec("+1", &v, &err), COMMON_E_INVALID);
    ck_assert_int_eq(u256_from_dec(" 1", &v, &err), COMMON_E_INVALID);
    ck_assert_int_eq(u256_from_dec("0x10", &v, &err), COMMON_E_INVALID);
    ck_assert_u256_eq(v, u256_from_u64(42));
}
END_TEST

/* ---------------------------------------------------------------- differential test against GMP */

enum op {
    OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_MOD, OP_SDIV, OP_SMOD, OP_ADDMOD, OP_MULMOD, OP_EXP, OP_SIGNEXTEND,
    OP_SHL, OP_SHR, OP_SAR, OP_BYTE, OP_LT, OP_GT, OP_SLT, OP_SGT, OP_EQ, OP_AND, OP_OR, OP_XOR, OP_NOT,
    OP_COUNT
};

static const char *const op_names[OP_COUNT] = {
    "add", "sub", "mul", "div", "mod", "sdiv", "smod", "addmod", "mulmod", "exp", "signextend", "shl",
    "shr", "sar", "byte", "lt", "gt", "slt", "sgt", "eq", "and", "or", "xor", "not",
};

static uint64_t env_u64(const char *name, uint64_t fallback)
{
    const char *text = getenv(name);
    if (text == NULL || text[0] == '\0') return fallback;
    return strtoull(text, NULL, 0);
}

static uint64_t case_count(void)
{
    uint64_t scale = env_u64("COHORT_TEST_SCALE", 1);
    if (scale == 0) scale = 1;
    uint64_t n = CASES_PER_OP / scale;
    return n == 0 ? 1 : n;
}

/* Uniform over 256 bits, then cut to a random bit length so every size of operand appears. */
static u256 random_u256(uint64_t *rng)
{
    return U(testutil_rand_next(rng), testutil_rand_next(rng), testutil_rand_next(rng), testutil_rand_next(rng));
}

/*
 * An operand from a mix of distributions, each aimed at a path: carries through every
 * limb, the 64-bit fast paths, each divisor length and normalisation shift, the
 * digit-estimate corrections (limbs of all ones and lone top bits), signs.
 */
static u256 draw(uint64_t *rng)
{
    uint64_t pick = testutil_rand_next(rng);
    switch (pick % 10) {
    case 0:
    case 1: return random_u256(rng);
    case 2: return u256_from_u64(testutil_rand_next(rng) >> (testutil_rand_next(rng) % 64)); /* below 2^64 */
    case 3: {                                                                                /* random bit length */
        unsigned bits = (unsigned)(testutil_rand_next(rng) % 257);
        return bits == 0 ? u256_zero() : u256_shr(u256_from_u64(256 - bits), random_u256(rng));
    }
    case 4: { /* 2^k - 1, 2^k, 2^k + 1 */
        u256 p = pow2((unsigned)(testutil_rand_next(rng) % 256));
        uint64_t d = testutil_rand_next(rng) % 3;
        return d == 0 ? u256_sub(p, u256_from_u64(1)) : d == 1 ? p : u256_add(p, u256_from_u64(1));
    }
    case 5: { /* the values every implementation gets wrong first */
        static const uint64_t specials[][4] = {
            {0, 0, 0, 0}, {1, 0, 0, 0}, {UINT64_MAX, UINT64_MAX, UINT64_MAX, UINT64_MAX},
            {0, 0, 0, TOP_BIT}, {UINT64_MAX, UINT64_MAX, UINT64_MAX, TOP_BIT - 1}, {1, 0, 0, TOP_BIT},
            {UINT64_MAX - 1, UINT64_MAX, UINT64_MAX, UINT64_MAX}, {0, 1, 0, 0}, {UINT64_MAX, 0, 0, 0},
            {0, 0, 1, 0}, {0, 0, 0, 1}, {2, 0, 0, 0}, {UINT64_MAX, UINT64_MAX, 0, 0},
        };
        const uint64_t *s = specials[testutil_rand_next(rng) % (sizeof specials / sizeof specials[0])];
        return (u256){{s[0], s[1], s[2], s[3]}};
    }
    case 6:
    case 7: { /* each limb from a small set of patterns: hits equal top limbs and add-back */
        static const uint64_t limbs[] = {0, 0, 1, UINT64_MAX, UINT64_MAX, TOP_BIT, TOP_BIT - 1, TOP_BIT + 1,
                                         UINT64_MAX - 1};
        u256 r;
        for (int i = 0; i < 4; i++) {
            uint64_t c = testutil_rand_next(rng) % 10;
            r.w[i] = c < 9 ? limbs[c] : testutil_rand_next(rng);
        }
        return r;
    }
    case 8: return u256_negate(u256_from_u64(testutil_rand_next(rng) >> (testutil_rand_next(rng) % 64)));
    default: { /* negative of a random bit length */
        unsigned bits = (unsigned)(testutil_rand_next(rng) % 257);
        u256 m = bits == 0 ? u256_zero() : u256_shr(u256_from_u64(256 - bits), random_u256(rng));
        return u256_negate(m);
    }
    }
}

/* A shift, byte index or byte number: mostly near the interesting range, sometimes anything. */
static u256 draw_small_operand(uint64_t *rng, uint64_t range)
{
    uint64_t pick = testutil_rand_next(rng);
    if (pick % 4 == 0) return draw(rng);
    return u256_from_u64(testutil_rand_next(rng) % range);
}

/* A dividend built as b * k + delta: quotients of every length, remainders near 0 and b. */
static u256 draw_near_multiple(uint64_t *rng, u256 b)
{
    u256 k = draw(rng);
    uint64_t delta = testutil_rand_next(rng) % 5;
    return u256_sub(u256_add(u256_mul(b, k), u256_from_u64(2)), u256_from_u64(delta));
}

struct gmp_state {
    mpz_t a, b, m, r, t, two256;
};

static void to_mpz(mpz_t z, u256 a) { mpz_import(z, 4, -1, sizeof(uint64_t), 0, 0, a.w); }

/* Two's complement reading: values with bit 255 set are x - 2^256. */
static void to_mpz_signed(mpz_t z, u256 a, const mpz_t two256)
{
    to_mpz(z, a);
    if (mpz_tstbit(z, 255)) mpz_sub(z, z, two256);
}

/* z mod 2^256 (any sign) as a u256. */
static u256 from_mpz(mpz_t z)
{
    mpz_fdiv_r_2exp(z, z, 256);
    u256 r = u256_zero();
    size_t count = 0;
    mpz_export(r.w, &count, -1, sizeof(uint64_t), 0, 0, z);
    /* Not ck_assert: on success it reports a mark point to the parent through a pipe, a
       system call per case that dominated the run time. */
    if (count > 4) ck_abort_msg("GMP exported %zu limbs", count);
    return r;
}

static u256 from_bool(bool b) { return u256_from_u64(b ? 1 : 0); }

/* The expected result of op, computed by GMP from the EVM's definition of op. */
static u256 reference(struct gmp_state *g, enum op op, u256 a, u256 b, u256 c)
{
    switch (op) {
    case OP_ADD: to_mpz(g->a, a); to_mpz(g->b, b); mpz_add(g->r, g->a, g->b); return from_mpz(g->r);
    case OP_SUB: to_mpz(g->a, a); to_mpz(g->b, b); mpz_sub(g->r, g->a, g->b); return from_mpz(g->r);
    case OP_MUL: to_mpz(g->a, a); to_mpz(g->b, b); mpz_mul(g->r, g->a, g->b); return from_mpz(g->r);
    case OP_DIV:
    case OP_MOD:
        to_mpz(g->a, a);
        to_mpz(g->b, b);
        if (mpz_sgn(g->b) == 0) return u256_zero();
        if (op == OP_DIV) mpz_tdiv_q(g->r, g->a, g->b);
        else mpz_tdiv_r(g->r, g->a, g->b);
        return from_mpz(g->r);
    case OP_SDIV:
    case OP_SMOD:
        to_mpz_signed(g->a, a, g->two256);
        to_mpz_signed(g->b, b, g->two256);
        if (mpz_sgn(g->b) == 0) return u256_zero();
        /* tdiv truncates toward zero and its remainder has the dividend's sign, as the EVM says. */
        if (op == OP_SDIV) mpz_tdiv_q(g->r, g->a, g->b);
        else mpz_tdiv_r(g->r, g->a, g->b);
        return from_mpz(g->r);
    case OP_ADDMOD:
    case OP_MULMOD:
        to_mpz(g->a, a);
        to_mpz(g->b, b);
        to_mpz(g->m, c);
        if (mpz_sgn(g->m) == 0) return u256_zero();
        if (op == OP_ADDMOD) mpz_add(g->t, g->a, g->b);
        else mpz_mul(g->t, g->a, g->b);
        mpz_mod(g->r, g->t, g->m);
        return from_mpz(g->r);
    case OP_EXP:
        to_mpz(g->a, a);
        to_mpz(g->b, b);
        mpz_powm(g->r, g->a, g->b, g->two256);
        return from_mpz(g->r);
    case OP_SIGNEXTEND: {
        to_mpz(g->b, b);
        if (!u256_fits_u64(a) || a.w[0] >= 31) return b;
        unsigned width = (unsigned)a.w[0] * 8 + 8;
        mpz_fdiv_r_2exp(g->r, g->b, width);
        if (mpz_tstbit(g->r, width - 1)) {
            mpz_set_ui(g->t, 1);
            mpz_mul_2exp(g->t, g->t, width);
            mpz_sub(g->r, g->r, g->t);
        }
        return from_mpz(g->r);
    }
    case OP_SHL:
        if (!u256_fits_u64(a) || a.w[0] >= 256) return u256_zero();
        to_mpz(g->b, b);
        mpz_mul_2exp(g->r, g->b, a.w[0]);
        return from_mpz(g->r);
    case OP_SHR:
        if (!u256_fits_u64(a) || a.w[0] >= 256) return u256_zero();
        to_mpz(g->b, b);
        mpz_fdiv_q_2exp(g->r, g->b, a.w[0]);
        return from_mpz(g->r);
    case OP_SAR: {
        /* Floor division by 2^s is the arithmetic shift; s = 256 already gives 0 or -1. */
        uint64_t s = !u256_fits_u64(a) || a.w[0] >= 256 ? 256 : a.w[0];
        to_mpz_signed(g->b, b, g->two256);
        mpz_fdiv_q_2exp(g->r, g->b, s);
        return from_mpz(g->r);
    }
    case OP_BYTE:
        if (!u256_fits_u64(a) || a.w[0] >= 32) return u256_zero();
        to_mpz(g->b, b);
        mpz_fdiv_q_2exp(g->r, g->b, 8 * (31 - a.w[0]));
        mpz_fdiv_r_2exp(g->r, g->r, 8);
        return from_mpz(g->r);
    case OP_LT:
    case OP_GT:
    case OP_EQ:
        to_mpz(g->a, a);
        to_mpz(g->b, b);
        return from_bool(op == OP_LT ? mpz_cmp(g->a, g->b) < 0
                         : op == OP_GT ? mpz_cmp(g->a, g->b) > 0
                                       : mpz_cmp(g->a, g->b) == 0);
    case OP_SLT:
    case OP_SGT:
        to_mpz_signed(g->a, a, g->two256);
        to_mpz_signed(g->b, b, g->two256);
        return from_bool(op == OP_SLT ? mpz_cmp(g->a, g->b) < 0 : mpz_cmp(g->a, g->b) > 0);
    case OP_AND: to_mpz(g->a, a); to_mpz(g->b, b); mpz_and(g->r, g->a, g->b); return from_mpz(g->r);
    case OP_OR: to_mpz(g->a, a); to_mpz(g->b, b); mpz_ior(g->r, g->a, g->b); return from_mpz(g->r);
    case OP_XOR: to_mpz(g->a, a); to_mpz(g->b, b); mpz_xor(g->r, g->a, g->b); return from_mpz(g->r);
    case OP_NOT: to_mpz(g->a, a); mpz_com(g->r, g->a); return from_mpz(g->r); /* -a - 1 mod 2^256 */
    case OP_COUNT: break;
    }
    ck_abort_msg("unknown op %d", (int)op);
    return u256_zero();
}

static u256 evaluate(enum op op, u256 a, u256 b, u256 c)
{
    switch (op) {
    case OP_ADD: return u256_add(a, b);
    case OP_SUB: return u256_sub(a, b);
    case OP_MUL: return u256_mul(a, b);
    case OP_DIV: return u256_div(a, b);
    case OP_MOD: return u256_mod(a, b);
    case OP_SDIV: return u256_sdiv(a, b);
    case OP_SMOD: return u256_smod(a, b);
    case OP_ADDMOD: return u256_addmod(a, b, c);
    case OP_MULMOD: return u256_mulmod(a, b, c);
    case OP_EXP: return u256_exp(a, b);
    case OP_SIGNEXTEND: return u256_signextend(a, b);
    case OP_SHL: return u256_shl(a, b);
    case OP_SHR: return u256_shr(a, b);
    case OP_SAR: return u256_sar(a, b);
    case OP_BYTE: return u256_byte(a, b);
    case OP_LT: return from_bool(u256_lt(a, b));
    case OP_GT: return from_bool(u256_gt(a, b));
    case OP_SLT: return from_bool(u256_slt(a, b));
    case OP_SGT: return from_bool(u256_sgt(a, b));
    case OP_EQ: return from_bool(u256_eq(a, b));
    case OP_AND: return u256_and(a, b);
    case OP_OR: return u256_or(a, b);
    case OP_XOR: return u256_xor(a, b);
    case OP_NOT: return u256_not(a);
    case OP_COUNT: break;
    }
    ck_abort_msg("unknown op %d", (int)op);
    return u256_zero();
}

/* Each op gets its own stream, so one op's failure replays without running the others. */
static uint64_t op_seed(uint64_t base, int op) { return base ^ (UINT64_C(0x9e3779b97f4a7c15) * (uint64_t)(op + 1)); }

START_TEST(differential)
{
    enum op op = (enum op)_i;
    uint64_t base = env_u64("COHORT_TEST_SEED", DEFAULT_SEED);
    uint64_t rng = op_seed(base, _i);
    uint64_t n = case_count();
    struct gmp_state g;
    mpz_inits(g.a, g.b, g.m, g.r, g.t, g.two256, NULL);
    mpz_set_ui(g.two256, 1);
    mpz_mul_2exp(g.two256, g.two256, 256);

    uint64_t checked = 0, nonzero_b = 0;
    for (uint64_t i = 0; i < n; i++) {
        u256 a, b, c = u256_zero();
        switch (op) {
        case OP_SIGNEXTEND: a = draw_small_operand(&rng, 40); b = draw(&rng); break;
        case OP_BYTE: a = draw_small_operand(&rng, 40); b = draw(&rng); break;
        case OP_SHL:
        case OP_SHR:
        case OP_SAR: a = draw_small_operand(&rng, 300); b = draw(&rng); break;
        case OP_DIV:
        case OP_MOD:
        case OP_SDIV:
        case OP_SMOD:
            b = draw(&rng);
            a = testutil_rand_next(&rng) % 4 == 0 ? draw_near_multiple(&rng, b) : draw(&rng);
            break;
        case OP_EQ:
            a = draw(&rng);
            b = testutil_rand_next(&rng) % 2 ? a : draw(&rng); /* equal half the time */
            if (testutil_rand_next(&rng) % 4 == 0) b.w[testutil_rand_next(&rng) % 4] ^= UINT64_C(1) << (i % 64);
            break;
        case OP_ADDMOD:
        case OP_MULMOD:
            a = draw(&rng);
            b = draw(&rng);
            c = draw(&rng);
            if (testutil_rand_next(&rng) % 4 == 0) { /* reduced operands: the fast path of addmod */
                a = u256_mod(a, c);
                b = u256_mod(b, c);
            }
            break;
        case OP_EXP:
            /* Half the exponents below 2^64, as contracts mostly use; the other half from the
               full mix keeps about 500,000 exponents of up to 256 bits (GMP's powm is the
               slow side of this comparison, so all-large exponents would dominate the run). */
            a = draw(&rng);
            b = testutil_rand_next(&rng) % 2 ? draw(&rng)
                                               : u256_from_u64(testutil_rand_next(&rng) >> (testutil_rand_next(&rng) % 64));
            break;
        default: a = draw(&rng); b = draw(&rng); break;
        }
        if (op == OP_LT || op == OP_GT || op == OP_SLT || op == OP_SGT) {
            if (testutil_rand_next(&rng) % 4 == 0) b = a; /* ties */
        }
        u256 got = evaluate(op, a, b, c);
        u256 want = reference(&g, op, a, b, c);
        if (memcmp(&got, &want, sizeof got) != 0) {
            char sa[80], sb[80], sc[80], sg[80], sw[80];
            ck_abort_msg("%s mismatch at case %" PRIu64 " (replay: COHORT_TEST_SEED=0x%" PRIx64
                         "): a=%s b=%s c=%s got %s want %s",
                         op_names[op], i, base, show(a, sa), show(b, sb), show(c, sc), show(got, sg), show(want, sw));
        }
        checked++;
        nonzero_b += !u256_is_zero(b);
    }
    mpz_clears(g.a, g.b, g.m, g.r, g.t, g.two256, NULL);
    ck_assert_uint_eq(checked, n);
    ck_assert_uint_gt(nonzero_b, n / 2); /* the distributions are not degenerate */
}
END_TEST

/* Printing agrees with GMP's, and parsing inverts printing. */
START_TEST(text_differential)
{
    uint64_t base = env_u64("COHORT_TEST_SEED", DEFAULT_SEED);
    uint64_t rng = op_seed(base, 1000);
    uint64_t n = case_count() / 4;
    mpz_t z;
    mpz_init(z);
    char mine[80], gmp[80], sa[80];
    struct cohort_error err = {0};
    for (uint64_t i = 0; i < n; i++) {
        u256 a = draw(&rng), back = u256_zero();
        to_mpz(z, a);

        size_t len = u256_to_hex(a, mine, sizeof mine);
        gmp[0] = '0';
        gmp[1] = 'x';
        mpz_get_str(gmp + 2, 16, z);
        if (strcmp(mine, gmp) != 0 || len != strlen(gmp))
            ck_abort_msg("to_hex(%s) = %s, GMP %s (COHORT_TEST_SEED=0x%" PRIx64 ", case %" PRIu64 ")", show(a, sa),
                         mine, gmp, base, i);
        if (u256_from_hex(mine, &back, &err) != 0 || !u256_eq(back, a))
            ck_abort_msg("from_hex(%s) failed: %s (COHORT_TEST_SEED=0x%" PRIx64 ")", mine, err.message, base);

        len = u256_to_dec(a, mine, sizeof mine);
        mpz_get_str(gmp, 10, z);
        if (strcmp(mine, gmp) != 0 || len != strlen(gmp))
            ck_abort_msg("to_dec(%s) = %s, GMP %s (COHORT_TEST_SEED=0x%" PRIx64 ", case %" PRIu64 ")", show(a, sa),
                         mine, gmp, base, i);
        back = u256_zero();
        if (u256_from_dec(mine, &back, &err) != 0 || !u256_eq(back, a))
            ck_abort_msg("from_dec(%s) failed: %s (COHORT_TEST_SEED=0x%" PRIx64 ")", mine, err.message, base);

        /* Upper-case digits parse to the same value. */
        u256_to_hex(a, mine, sizeof mine);
        for (char *p = mine + 2; *p != '\0'; p++)
            if (*p >= 'a' && *p <= 'f') *p = (char)(*p - 'a' + 'A');
        back = u256_zero();
        if (u256_from_hex(mine, &back, &err) != 0 || !u256_eq(back, a))
            ck_abort_msg("from_hex(%s) failed: %s (COHORT_TEST_SEED=0x%" PRIx64 ")", mine, err.message, base);
    }
    mpz_clear(z);
}
END_TEST

static Suite *u256_suite(void)
{
    Suite *s = suite_create("u256");
    TCase *edges = tcase_create("edges");
    tcase_add_test(edges, division_edges);
    tcase_add_test(edges, shift_edges);
    tcase_add_test(edges, byte_and_signextend_edges);
    tcase_add_test(edges, modular_edges);
    tcase_add_test(edges, exp_edges);
    tcase_add_test(edges, bytes_and_lengths);
    tcase_add_test(edges, hex_text);
    tcase_add_test(edges, decimal_text);
    suite_add_tcase(s, edges);

    TCase *gmp = tcase_create("gmp");
    tcase_set_timeout(gmp, 600);
    tcase_add_loop_test(gmp, differential, 0, OP_COUNT);
    tcase_add_test(gmp, text_differential);
    suite_add_tcase(s, gmp);
    return s;
}

int main(void)
{
    return testutil_run_suite(u256_suite(), false);
}
