/*
 * test_curves.c - the elliptic-curve precompiles (subnode/crypto/curves.h) against vectors
 * nobody here computed: @noble/curves (tests/vectors/curves_vectors.json, made by
 * gen_curves_vectors.mjs), the execution-spec-tests point evaluation vectors (go-kzg-4844's
 * verify_kzg_proof cases) and the ethereum/tests ecpairing inputs, both read from the fixtures
 * folder; plus algebraic properties checked with seeded random scalars.
 */
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "subnode/crypto/curves.h"
#include "testutil.h"

#define MAX_INPUT (64 * 1024)

static int nibble(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Decodes hex (with or without 0x) into out; returns the length. Fails the test on bad hex. */
static size_t unhex(const char *text, uint8_t *out, size_t cap)
{
    if (text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) text += 2;
    size_t n = strlen(text);
    ck_assert_msg(n % 2 == 0, "odd hex length");
    ck_assert_msg(n / 2 <= cap, "hex too long for the buffer");
    for (size_t i = 0; i < n / 2; i++) {
        int hi = nibble(text[2 * i]), lo = nibble(text[2 * i + 1]);
        ck_assert_msg(hi >= 0 && lo >= 0, "bad hex digit");
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return n / 2;
}

static void tohex(const uint8_t *data, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[data[i] >> 4];
        out[2 * i + 1] = digits[data[i] & 15];
    }
    out[2 * len] = '\0';
}

typedef int (*precompile_fn)(const uint8_t *input, size_t len, uint8_t *out);

static int call_add(const uint8_t *in, size_t len, uint8_t *out) { return curves_bn254_add(in, len, out); }
static int call_mul(const uint8_t *in, size_t len, uint8_t *out) { return curves_bn254_mul(in, len, out); }
static int call_pairing(const uint8_t *in, size_t len, uint8_t *out) { return curves_bn254_pairing(in, len, out); }
static int call_eval(const uint8_t *in, size_t len, uint8_t *out) { return curves_point_evaluation(in, len, out); }

/* Runs every case of one section of curves_vectors.json; returns how many were checked. */
static int run_section(const char *section, precompile_fn fn, size_t out_len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/vectors/curves_vectors.json", testutil_source_dir());
    cJSON *root = testutil_read_json(path);
    cJSON *cases = cJSON_GetObjectItem(root, section);
    ck_assert_ptr_nonnull(cases);
    static uint8_t input[MAX_INPUT];
    int checked = 0;
    cJSON *c;
    cJSON_ArrayForEach(c, cases)
    {
        const char *name = cJSON_GetObjectItem(c, "name")->valuestring;
        size_t len = unhex(cJSON_GetObjectItem(c, "input")->valuestring, input, sizeof input);
        cJSON *want = cJSON_GetObjectItem(c, "output");
        uint8_t out[64];
        char got[129];
        memset(out, 0xee, sizeof out);
        int rc = fn(len ? input : NULL, len, out);
        if (cJSON_IsNull(want)) {
            ck_assert_msg(rc < 0, "%s: %s: expected a failure, got success", section, name);
            ck_assert_str_ne(curves_strerror(rc), "unknown curves error");
        } else {
            ck_assert_msg(rc == 0, "%s: %s: failed with %d (%s)", section, name, rc, curves_strerror(rc));
            tohex(out, out_len, got);
            ck_assert_msg(strcmp(got, want->valuestring) == 0, "%s: %s:\n got  %s\n want %s", section, name, got,
                          want->valuestring);
        }
        checked++;
    }
    cJSON_Delete(root);
    return checked;
}

START_TEST(noble_ecadd)
{
    ck_assert_int_ge(run_section("bn254_add", call_add, 64), 30);
}
END_TEST

START_TEST(noble_ecmul)
{
    ck_assert_int_ge(run_section("bn254_mul", call_mul, 64), 30);
}
END_TEST

START_TEST(noble_ecpairing)
{
    ck_assert_int_ge(run_section("bn254_pairing", call_pairing, 32), 30);
}
END_TEST

START_TEST(noble_point_evaluation)
{
    ck_assert_int_ge(run_section("point_evaluation", call_eval, 64), 25);
}
END_TEST

START_TEST(published_values)
{
    /* 2 * (1, 2) on alt_bn128, as published with EIP-196 implementations (e.g. py_ecc's double(G1)). */
    uint8_t in[128] = {0}, out[64];
    char got[129];
    in[31] = 1;
    in[63] = 2;
    in[95] = 1;
    in[127] = 2;
    ck_assert_int_eq(curves_bn254_add(in, sizeof in, out), 0);
    tohex(out, 64, got);
    ck_assert_str_eq(got, "030644e72e131a029b85045b68181585d97816a916871ca8d3c208c16d87cfd3"
                          "15ed738c0e0a7c92e7845f96b2ae9c0a68a6a449e3538fc7ff3ebf7a5a18a2c4");
    /* The point evaluation output: FIELD_ELEMENTS_PER_BLOB and BLS_MODULUS (EIP-4844). */
    ck_assert_int_eq(CURVES_POINT_EVALUATION_OUTPUT, 64);
}
END_TEST

START_TEST(gas_prices)
{
    /* EIP-1108 (Istanbul) and EIP-4844. */
    ck_assert_uint_eq(curves_bn254_add_gas(NULL, 0), 150);
    ck_assert_uint_eq(curves_bn254_add_gas(NULL, 1000), 150);
    ck_assert_uint_eq(curves_bn254_mul_gas(NULL, 96), 6000);
    ck_assert_uint_eq(curves_bn254_pairing_gas(NULL, 0), 45000);
    ck_assert_uint_eq(curves_bn254_pairing_gas(NULL, 192), 79000);
    ck_assert_uint_eq(curves_bn254_pairing_gas(NULL, 384), 113000);
    ck_assert_uint_eq(curves_bn254_pairing_gas(NULL, 191), 45000);
    ck_assert_uint_eq(curves_bn254_pairing_gas(NULL, 193), 79000);
    ck_assert_uint_eq(curves_point_evaluation_gas(NULL, 192), 50000);
}
END_TEST

/* ---- algebraic properties with seeded random scalars ---- */

static void mul_g(const uint8_t scalar[32], uint8_t out[64])
{
    uint8_t in[96] = {0};
    in[31] = 1;
    in[63] = 2;
    memcpy(in + 64, scalar, 32);
    ck_assert_int_eq(curves_bn254_mul(in, sizeof in, out), 0);
}

/* Big-endian 32-byte a + b for a, b < 2^128 (no overflow). */
static void add_be(const uint8_t *a, const uint8_t *b, uint8_t *r)
{
    unsigned carry = 0;
    for (int i = 31; i >= 0; i--) {
        unsigned s = (unsigned)a[i] + b[i] + carry;
        r[i] = (uint8_t)s;
        carry = s >> 8;
    }
    ck_assert_uint_eq(carry, 0);
}

/* Big-endian 32-byte a * b for a, b < 2^128 (schoolbook on bytes). */
static void mul_be(const uint8_t *a, const uint8_t *b, uint8_t *r)
{
    unsigned acc[64] = {0};
    for (int i = 0; i < 32; i++) {
        for (int j = 0; j < 32; j++) acc[(31 - i) + (31 - j)] += (unsigned)a[i] * b[j];
    }
    unsigned carry = 0;
    for (int k = 0; k < 64; k++) {
        unsigned v = acc[k] + carry;
        acc[k] = v & 0xff;
        carry = v >> 8;
    }
    for (int k = 32; k < 64; k++) ck_assert_uint_eq(acc[k], 0);
    for (int k = 0; k < 32; k++) r[31 - k] = (uint8_t)acc[k];
}

START_TEST(add_and_mul_agree)
{
    uint64_t rng = 0x5eed;
    for (int round = 0; round < 20; round++) {
        uint8_t a[32] = {0}, b[32] = {0}, s[32], p[32];
        testutil_rand_bytes(&rng, a + 16, 16);
        testutil_rand_bytes(&rng, b + 16, 16);
        add_be(a, b, s);
        mul_be(a, b, p);
        uint8_t ga[64], gb[64], gs[64], in[128], sum[64];
        mul_g(a, ga);
        mul_g(b, gb);
        mul_g(s, gs);
        /* [a]G + [b]G == [a + b]G */
        memcpy(in, ga, 64);
        memcpy(in + 64, gb, 64);
        ck_assert_int_eq(curves_bn254_add(in, 128, sum), 0);
        ck_assert_mem_eq(sum, gs, 64);
        /* [a]([b]G) == [ab]G */
        uint8_t min[96], gab[64], gp[64];
        memcpy(min, gb, 64);
        memcpy(min + 64, a, 32);
        ck_assert_int_eq(curves_bn254_mul(min, 96, gab), 0);
        mul_g(p, gp);
        ck_assert_mem_eq(gab, gp, 64);
    }
}
END_TEST

/* ---- fixtures: execution-spec-tests point evaluation vectors ---- */

/* Calls fn for each (name, calldata) of a state test file's transactions. */
static int each_fixture_tx(const char *path, void (*fn)(const char *name, const uint8_t *data, size_t len, void *arg),
                           void *arg)
{
    cJSON *root = testutil_read_json(path);
    static uint8_t data[MAX_INPUT];
    int n = 0;
    cJSON *test;
    cJSON_ArrayForEach(test, root)
    {
        cJSON *datas = cJSON_GetObjectItem(cJSON_GetObjectItem(test, "transaction"), "data");
        ck_assert_ptr_nonnull(datas);
        cJSON *d;
        cJSON_ArrayForEach(d, datas)
        {
            size_t len = unhex(d->valuestring, data, sizeof data);
            fn(test->string, data, len, arg);
            n++;
        }
    }
    cJSON_Delete(root);
    return n;
}

struct eval_counts {
    int valid, invalid;
};

static void check_external_vector(const char *name, const uint8_t *data, size_t len, void *arg)
{
    struct eval_counts *counts = arg;
    /* The test names say what the vector is: "..._case_correct_proof_..." must verify. */
    const char *tag = strstr(name, "verify_kzg_proof_case_");
    ck_assert_ptr_nonnull(tag);
    bool want_ok = strncmp(tag + strlen("verify_kzg_proof_case_"), "correct_proof", 13) == 0;
    uint8_t out[64];
    int rc = curves_point_evaluation(data, len, out);
    if (want_ok) {
        ck_assert_msg(rc == 0, "%s: failed with %d (%s)", name, rc, curves_strerror(rc));
        char got[129];
        tohex(out, 64, got);
        ck_assert_str_eq(got, "0000000000000000000000000000000000000000000000000000000000001000"
                              "73eda753299d7d483339d80809a1d80553bda402fffe5bfeffffffff00000001");
        counts->valid++;
    } else {
        ck_assert_msg(rc < 0, "%s: expected a failure", name);
        counts->invalid++;
    }
}

START_TEST(fixture_point_evaluation_external_vectors)
{
    char path[4096];
    snprintf(path, sizeof path,
             "%s/ethereum-tests/GeneralStateTests/Pyspecs/cancun/eip4844_blobs/"
             "point_evaluation_precompile_external_vectors.json",
             testutil_fixtures_dir());
    struct eval_counts counts = {0, 0};
    int n = each_fixture_tx(path, check_external_vector, &counts);
    ck_assert_int_ge(n, 100);
    ck_assert_int_ge(counts.valid, 40);
    ck_assert_int_ge(counts.invalid, 40);
}
END_TEST

struct flip_state {
    int valid_inputs, flips;
};

/* Every single-bit change of a valid input must make the precompile fail. */
static void flip_bits(const char *name, const uint8_t *data, size_t len, void *arg)
{
    struct flip_state *st = arg;
    if (!strstr(name, "case_correct_proof_") || len != 192) return;
    /* With the commitment or the proof at infinity (0xc0...), some changes of z or y keep the
       equation true (e.g. p = 0 with proof O verifies for every z); skip those vectors. */
    if (data[96] == 0xc0 || data[144] == 0xc0) return;
    if (st->valid_inputs >= 2) return;
    st->valid_inputs++;
    uint8_t in[192], out[64];
    for (size_t byte = 0; byte < 192; byte++) {
        memcpy(in, data, 192);
        in[byte] ^= (uint8_t)(1u << (byte % 8));
        ck_assert_msg(curves_point_evaluation(in, 192, out) < 0, "%s: flipped byte %zu still verifies", name, byte);
        st->flips++;
    }
}

START_TEST(point_evaluation_bit_flips_fail)
{
    char path[4096];
    snprintf(path, sizeof path,
             "%s/ethereum-tests/GeneralStateTests/Pyspecs/cancun/eip4844_blobs/"
             "point_evaluation_precompile_external_vectors.json",
             testutil_fixtures_dir());
    struct flip_state st = {0, 0};
    each_fixture_tx(path, flip_bits, &st);
    ck_assert_int_eq(st.valid_inputs, 2);
    ck_assert_int_eq(st.flips, 2 * 192);
}
END_TEST

/* ---- fixtures: ethereum/tests ecpairing inputs (ABI-wrapped bytes in the calldata) ---- */

struct pairing_expect {
    const char *file;
    int want; /* 1 or 0: the output word; -1: the precompile fails */
};

static void check_pairing_fixture(const char *name, const uint8_t *data, size_t len, void *arg)
{
    const struct pairing_expect *e = arg;
    /* calldata = selector | offset (32) | length (32) | bytes */
    ck_assert_uint_ge(len, 4 + 64);
    size_t off = 0, n = 0;
    for (int i = 0; i < 32; i++) off = off << 8 | data[4 + i];
    ck_assert_uint_eq(off, 32);
    for (int i = 0; i < 32; i++) n = n << 8 | data[4 + 32 + i];
    ck_assert_uint_le(4 + 64 + n, len);
    uint8_t out[32];
    int rc = curves_bn254_pairing(data + 4 + 64, n, out);
    if (e->want < 0) {
        ck_assert_msg(rc < 0, "%s: expected a failure", e->file);
    } else {
        ck_assert_msg(rc == 0, "%s: failed with %d", e->file, rc);
        ck_assert_msg(out[31] == e->want, "%s: got %d", e->file, out[31]);
    }
}

START_TEST(fixture_ecpairing)
{
    /* Expected results from the test names (match: 1, fail: 0, perturbed or bad length: error). */
    static const struct pairing_expect cases[] = {
        {"ecpairing_two_point_match_1", 1},
        {"ecpairing_two_point_match_2", 1},
        {"ecpairing_two_point_match_3", 1},
        {"ecpairing_two_point_fail_1", 0},
        {"ecpairing_two_point_fail_2", 0},
        {"ecpairing_three_point_fail_1", 0},
        {"ecpairing_one_point_fail", 0},
        {"ecpairing_one_point_with_g1_zero", 1},
        {"ecpairing_one_point_with_g2_zero", 1},
        {"ecpairing_bad_length_193", -1},
        {"ecpairing_one_point_not_in_subgroup", -1},
        {"ecpairing_perturb_g2_by_curve_order", -1},
        {"ecpairing_perturb_g2_by_field_modulus_again", -1},
        {"ecpairing_perturb_g2_by_one", -1},
        {"ecpairing_perturb_zeropoint_by_field_modulus", -1},
        {"ecpairing_perturb_zeropoint_by_one", -1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/ethereum-tests/GeneralStateTests/stZeroKnowledge/%s.json",
                 testutil_fixtures_dir(), cases[i].file);
        ck_assert_int_ge(each_fixture_tx(path, check_pairing_fixture, (void *)&cases[i]), 1);
    }
}
END_TEST

START_TEST(pairing_bit_flips_never_give_one)
{
    /* A valid two-pair input with product 1 (ecpairing_two_point_match_2 style, from noble):
       any single-bit change must fail or give 0. */
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/vectors/curves_vectors.json", testutil_source_dir());
    cJSON *root = testutil_read_json(path);
    cJSON *c;
    static uint8_t input[MAX_INPUT];
    size_t len = 0;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(root, "bn254_pairing"))
    {
        if (strcmp(cJSON_GetObjectItem(c, "name")->valuestring, "e(aP, bQ) e(-abP, Q) 0") == 0) {
            len = unhex(cJSON_GetObjectItem(c, "input")->valuestring, input, sizeof input);
        }
    }
    cJSON_Delete(root);
    ck_assert_uint_eq(len, 384);
    uint8_t out[32];
    ck_assert_int_eq(curves_bn254_pairing(input, len, out), 0);
    ck_assert_uint_eq(out[31], 1);
    uint64_t rng = 7;
    for (int k = 0; k < 48; k++) {
        size_t bit = (size_t)(testutil_rand_next(&rng) % (len * 8));
        input[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        int rc = curves_bn254_pairing(input, len, out);
        ck_assert_msg(rc < 0 || out[31] == 0, "bit %zu flipped still gives 1", bit);
        input[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
}
END_TEST

START_TEST(null_and_short_inputs)
{
    uint8_t out[64];
    ck_assert_int_eq(curves_bn254_add(NULL, 0, out), 0);
    for (int i = 0; i < 64; i++) ck_assert_uint_eq(out[i], 0);
    ck_assert_int_eq(curves_bn254_mul(NULL, 0, out), 0);
    for (int i = 0; i < 64; i++) ck_assert_uint_eq(out[i], 0);
    ck_assert_int_eq(curves_bn254_pairing(NULL, 0, out), 0);
    ck_assert_uint_eq(out[31], 1);
    ck_assert_int_eq(curves_point_evaluation(NULL, 0, out), CURVES_E_LENGTH);
    uint8_t zeros[192] = {0};
    ck_assert_int_eq(curves_bn254_pairing(zeros, 191, out), CURVES_E_LENGTH);
    /* All-zero pair: e(O, O) = 1. */
    ck_assert_int_eq(curves_bn254_pairing(zeros, 192, out), 0);
    ck_assert_uint_eq(out[31], 1);
    /* All-zero point evaluation input: the versioned hash of 48 zero bytes does not match. */
    ck_assert_int_eq(curves_point_evaluation(zeros, 192, out), CURVES_E_VERSIONED_HASH);
}
END_TEST

static Suite *curves_suite(void)
{
    Suite *s = suite_create("curves");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, noble_ecadd);
    tcase_add_test(tc, noble_ecmul);
    tcase_add_test(tc, noble_ecpairing);
    tcase_add_test(tc, noble_point_evaluation);
    tcase_add_test(tc, published_values);
    tcase_add_test(tc, gas_prices);
    tcase_add_test(tc, add_and_mul_agree);
    tcase_add_test(tc, fixture_point_evaluation_external_vectors);
    tcase_add_test(tc, point_evaluation_bit_flips_fail);
    tcase_add_test(tc, fixture_ecpairing);
    tcase_add_test(tc, pairing_bit_flips_never_give_one);
    tcase_add_test(tc, null_and_short_inputs);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return testutil_run_suite(curves_suite(), false);
}
