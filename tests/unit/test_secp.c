/*
 * test_secp.c - secp256k1 keys, signatures and addresses against @noble/curves and ethers
 * (tests/vectors/secp_vectors.json, made by gen_secp_vectors.mjs), the EIP-55 examples from
 * the EIP itself and anvil's well-known account 0; plus the refusals: bad v, r or s out of
 * range, high s under Homestead's rule, keys out of range, malformed address text.
 */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hex.h"
#include "common/secp.h"
#include "testutil.h"

/* n, written here from SEC 2 (section 2.4.1), not taken from the code under test. */
static const char order_n_hex[] = "0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141";

/* Decodes exactly len bytes of hex that may or may not carry a 0x prefix. */
static void unhex(const char *text, uint8_t *out, size_t len)
{
    char buf[256];
    struct cohort_error err = {0};
    ck_assert_uint_lt(strlen(text), sizeof buf - 3);
    snprintf(buf, sizeof buf, "%s%s", strncmp(text, "0x", 2) == 0 ? "" : "0x", text);
    ck_assert_msg(hex_decode_exact(buf, out, len, &err) == 0, "bad hex in test data %s: %s", text, err.message);
}

static const char *field(const cJSON *obj, const char *name)
{
    const cJSON *item = cJSON_GetObjectItem(obj, name);
    ck_assert_msg(cJSON_IsString(item), "vector field %s missing", name);
    return item->valuestring;
}

static int int_field(const cJSON *obj, const char *name)
{
    const cJSON *item = cJSON_GetObjectItem(obj, name);
    ck_assert_msg(cJSON_IsNumber(item), "vector field %s missing", name);
    return item->valueint;
}

static cJSON *load_vectors(void)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/vectors/secp_vectors.json", testutil_source_dir());
    return testutil_read_json(path);
}

static void assert_error_says(const struct cohort_error *err, int rc, int code, const char *words)
{
    ck_assert_int_eq(rc, code);
    ck_assert_int_eq(err->code, code);
    ck_assert_msg(strstr(err->message, words) != NULL, "message \"%s\" lacks \"%s\"", err->message, words);
}

static void lower_text(const char *text, char *out)
{
    size_t i = 0;
    for (; text[i]; i++) out[i] = (text[i] >= 'A' && text[i] <= 'F') ? (char)(text[i] - 'A' + 'a') : text[i];
    out[i] = '\0';
}

static void upper_digits(const char *text, char *out)
{
    size_t i = 0;
    for (; text[i]; i++) out[i] = (i >= 2 && text[i] >= 'a' && text[i] <= 'f') ? (char)(text[i] - 'a' + 'A') : text[i];
    out[i] = '\0';
}

/* Every key: its public key, address and EIP-55 text, as noble and ethers computed them. */
START_TEST(keys_and_addresses_match_noble_and_ethers)
{
    cJSON *root = load_vectors();
    cJSON *keys = cJSON_GetObjectItem(root, "keys");
    ck_assert_int_ge(cJSON_GetArraySize(keys), 50);
    int checked = 0;
    const cJSON *k;
    cJSON_ArrayForEach(k, keys)
    {
        uint8_t priv[32], want_pub[64], want_addr[20], pub[64], addr[20], parsed[20];
        struct cohort_error err = {0};
        unhex(field(k, "private_key"), priv, 32);
        unhex(field(k, "public_key"), want_pub, 64);
        unhex(field(k, "address"), want_addr, 20);
        const char *checksum = field(k, "checksum");

        ck_assert_int_eq(secp_private_key_check(priv, &err), 0);
        ck_assert_int_eq(secp_pubkey(priv, pub, &err), 0);
        ck_assert_msg(memcmp(pub, want_pub, 64) == 0, "public key of %s", field(k, "private_key"));
        ck_assert_int_eq(secp_pubkey_check(pub, &err), 0);
        address_from_pubkey(pub, addr);
        ck_assert(memcmp(addr, want_addr, 20) == 0);
        memset(addr, 0, sizeof addr);
        ck_assert_int_eq(secp_address_from_secret(priv, addr, &err), 0);
        ck_assert(memcmp(addr, want_addr, 20) == 0);

        char text[ADDRESS_TEXT_BYTES];
        ck_assert_uint_eq(address_to_checksum(addr, text), 42);
        ck_assert_str_eq(text, checksum);

        /* The checksum form, all lowercase and all uppercase all parse to the same bytes. */
        char variant[ADDRESS_TEXT_BYTES];
        ck_assert_int_eq(address_parse(checksum, parsed, &err), 0);
        ck_assert(memcmp(parsed, want_addr, 20) == 0);
        lower_text(checksum, variant);
        memset(parsed, 0, sizeof parsed);
        ck_assert_int_eq(address_parse(variant, parsed, &err), 0);
        ck_assert(memcmp(parsed, want_addr, 20) == 0);
        upper_digits(checksum, variant);
        memset(parsed, 0, sizeof parsed);
        ck_assert_int_eq(address_parse(variant, parsed, &err), 0);
        ck_assert(memcmp(parsed, want_addr, 20) == 0);
        checked++;
    }
    ck_assert_int_eq(checked, cJSON_GetArraySize(keys));
    cJSON_Delete(root);
}
END_TEST

/*
 * Every signature: ours is byte-for-byte noble's (both RFC 6979), low-s, recovers and
 * verifies; its high-s twin recovers and verifies only under SECP_S_ANY, and normalises
 * back to ours.
 */
START_TEST(signatures_match_noble)
{
    cJSON *root = load_vectors();
    cJSON *keys = cJSON_GetObjectItem(root, "keys");
    int checked = 0, high_seen = 0;
    const cJSON *k;
    cJSON_ArrayForEach(k, keys)
    {
        uint8_t priv[32], pub[64];
        unhex(field(k, "private_key"), priv, 32);
        unhex(field(k, "public_key"), pub, 64);
        const cJSON *s;
        cJSON_ArrayForEach(s, cJSON_GetObjectItem(k, "signatures"))
        {
            struct cohort_error err = {0};
            uint8_t hash[32], want[65], high[65], sig[65], got_pub[64], got_addr[20], want_addr[20];
            unhex(field(s, "hash"), hash, 32);
            unhex(field(s, "r"), want, 32);
            unhex(field(s, "s"), want + 32, 32);
            want[64] = (uint8_t)int_field(s, "v");
            memcpy(high, want, 32);
            unhex(field(s, "high_s"), high + 32, 32);
            high[64] = (uint8_t)int_field(s, "high_v");

            ck_assert_int_eq(secp_sign(priv, hash, sig, &err), 0);
            ck_assert_msg(memcmp(sig, want, 65) == 0, "signature of %s by %s differs from noble's", field(s, "hash"),
                          field(k, "private_key"));
            ck_assert(secp_signature_is_low_s(sig));
            ck_assert_uint_le(sig[64], 1);

            for (int rule = SECP_S_ANY; rule <= SECP_S_LOW; rule++) {
                memset(got_pub, 0, sizeof got_pub);
                ck_assert_int_eq(secp_recover(hash, sig, (enum secp_s_rule)rule, got_pub, &err), 0);
                ck_assert(memcmp(got_pub, pub, 64) == 0);
                ck_assert_int_eq(secp_verify(pub, hash, sig, (enum secp_s_rule)rule, &err), 0);
            }
            ck_assert_int_eq(secp_recover_address(hash, sig, SECP_S_LOW, got_addr, &err), 0);
            unhex(field(k, "address"), want_addr, 20);
            ck_assert(memcmp(got_addr, want_addr, 20) == 0);

            /* The other recovery id gives another key (or none), never this one. */
            sig[64] ^= 1;
            int rc = secp_recover(hash, sig, SECP_S_ANY, got_pub, &err);
            ck_assert(rc != 0 || memcmp(got_pub, pub, 64) != 0);
            sig[64] ^= 1;

            /* A different hash must not verify. */
            hash[31] ^= 0x01;
            assert_error_says(&err, secp_verify(pub, hash, sig, SECP_S_ANY, &err), COMMON_E_CRYPTO, "does not match");
            hash[31] ^= 0x01;

            /* The high-s twin. */
            ck_assert(!secp_signature_is_low_s(high));
            memset(got_pub, 0, sizeof got_pub);
            ck_assert_int_eq(secp_recover(hash, high, SECP_S_ANY, got_pub, &err), 0);
            ck_assert(memcmp(got_pub, pub, 64) == 0);
            assert_error_says(&err, secp_recover(hash, high, SECP_S_LOW, got_pub, &err), COMMON_E_CRYPTO, "EIP-2");
            ck_assert_int_eq(secp_verify(pub, hash, high, SECP_S_ANY, &err), 0);
            assert_error_says(&err, secp_verify(pub, hash, high, SECP_S_LOW, &err), COMMON_E_CRYPTO, "EIP-2");
            bool changed = false;
            ck_assert_int_eq(secp_signature_normalize_s(high, &changed, &err), 0);
            ck_assert(changed);
            ck_assert(memcmp(high, want, 65) == 0);
            ck_assert_int_eq(secp_signature_normalize_s(high, &changed, &err), 0);
            ck_assert(!changed);
            ck_assert(memcmp(high, want, 65) == 0);
            high_seen++;
            checked++;
        }
    }
    ck_assert_int_ge(checked, 100);
    ck_assert_int_eq(high_seen, checked);
    cJSON_Delete(root);
}
END_TEST

/* A signature by one key does not verify against another key. */
START_TEST(verify_refuses_other_key)
{
    cJSON *root = load_vectors();
    cJSON *keys = cJSON_GetObjectItem(root, "keys");
    int n = cJSON_GetArraySize(keys);
    for (int i = 0; i < n; i++) {
        const cJSON *k = cJSON_GetArrayItem(keys, i), *other = cJSON_GetArrayItem(keys, (i + 1) % n);
        const cJSON *s = cJSON_GetArrayItem(cJSON_GetObjectItem(k, "signatures"), 0);
        uint8_t pub[64], hash[32], sig[64];
        struct cohort_error err = {0};
        unhex(field(other, "public_key"), pub, 64);
        unhex(field(s, "hash"), hash, 32);
        unhex(field(s, "r"), sig, 32);
        unhex(field(s, "s"), sig + 32, 32);
        assert_error_says(&err, secp_verify(pub, hash, sig, SECP_S_ANY, &err), COMMON_E_CRYPTO, "does not match");
    }
    cJSON_Delete(root);
}
END_TEST

/* Recovery ids 2 and 3 (x = r + n) are allowed and recover what noble recovers. */
START_TEST(recovery_ids_2_and_3)
{
    cJSON *root = load_vectors();
    const cJSON *c;
    int checked = 0;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(root, "recover_v23"))
    {
        uint8_t hash[32], sig[65], want[64], got[64];
        struct cohort_error err = {0};
        unhex(field(c, "hash"), hash, 32);
        unhex(field(c, "r"), sig, 32);
        unhex(field(c, "s"), sig + 32, 32);
        sig[64] = (uint8_t)int_field(c, "v");
        unhex(field(c, "public_key"), want, 64);
        ck_assert_uint_ge(sig[64], 2);
        ck_assert_int_eq(secp_recover(hash, sig, SECP_S_ANY, got, &err), 0);
        ck_assert(memcmp(got, want, 64) == 0);
        checked++;
    }
    ck_assert_int_ge(checked, 2);
    cJSON_Delete(root);
}
END_TEST

/* Signatures from which noble recovers no key: ours refuses them too, without writing. */
START_TEST(unrecoverable_signatures)
{
    cJSON *root = load_vectors();
    const cJSON *c;
    int checked = 0;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(root, "unrecoverable"))
    {
        uint8_t hash[32], sig[65], got[64], untouched[64];
        struct cohort_error err = {0};
        unhex(field(c, "hash"), hash, 32);
        unhex(field(c, "r"), sig, 32);
        unhex(field(c, "s"), sig + 32, 32);
        sig[64] = (uint8_t)int_field(c, "v");
        memset(got, 0xa5, sizeof got);
        memset(untouched, 0xa5, sizeof untouched);
        assert_error_says(&err, secp_recover(hash, sig, SECP_S_ANY, got, &err), COMMON_E_CRYPTO, "no public key");
        ck_assert(memcmp(got, untouched, 64) == 0);
        checked++;
    }
    ck_assert_int_ge(checked, 2);
    cJSON_Delete(root);
}
END_TEST

/* The examples printed in EIP-55 itself: formatting gives them back exactly. */
START_TEST(eip55_examples)
{
    static const char *const examples[] = {
        /* All caps */
        "0x52908400098527886E0F7030069857D2E4169EE7",
        "0x8617E340B3D01FA5F11F306F4090FD50E238070D",
        /* All lower */
        "0xde709f2102306220921060314715629080e2fb77",
        "0x27b1fdb04752bbc536007a920d24acb045561c26",
        /* Normal */
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
        "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
        "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
        "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
    };
    for (size_t i = 0; i < sizeof examples / sizeof examples[0]; i++) {
        uint8_t addr[20], want[20];
        char text[ADDRESS_TEXT_BYTES];
        struct cohort_error err = {0};
        ck_assert_msg(address_parse(examples[i], addr, &err) == 0, "%s: %s", examples[i], err.message);
        unhex(examples[i], want, 20);
        ck_assert(memcmp(addr, want, 20) == 0);
        ck_assert_uint_eq(address_to_checksum(addr, text), 42);
        ck_assert_str_eq(text, examples[i]);
    }
}
END_TEST

/* anvil's (and hardhat's) account 0, which every Ethereum developer has seen. */
START_TEST(anvil_account_zero)
{
    uint8_t priv[32], addr[20], pub[64], sig[65], hash[32] = {0}, recovered[20];
    char text[ADDRESS_TEXT_BYTES];
    struct cohort_error err = {0};
    unhex("0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80", priv, 32);
    ck_assert_int_eq(secp_address_from_secret(priv, addr, &err), 0);
    address_to_checksum(addr, text);
    ck_assert_str_eq(text, "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266");
    ck_assert_int_eq(secp_pubkey(priv, pub, &err), 0);
    hash[0] = 0x42;
    ck_assert_int_eq(secp_sign(priv, hash, sig, &err), 0);
    ck_assert_int_eq(secp_recover_address(hash, sig, SECP_S_LOW, recovered, &err), 0);
    ck_assert(memcmp(recovered, addr, 20) == 0);
}
END_TEST

/* A signature with the given r, s, v, as 65 bytes. */
static void make_sig(uint8_t sig[65], const char *r, const char *s, uint8_t v)
{
    unhex(r, sig, 32);
    unhex(s, sig + 32, 32);
    sig[64] = v;
}

START_TEST(recover_refusals)
{
    cJSON *root = load_vectors();
    const cJSON *k = cJSON_GetArrayItem(cJSON_GetObjectItem(root, "keys"), 7);
    const cJSON *s = cJSON_GetArrayItem(cJSON_GetObjectItem(k, "signatures"), 0);
    uint8_t hash[32], good[65], sig[65], pub[64], untouched[64];
    struct cohort_error err = {0};
    unhex(field(s, "hash"), hash, 32);
    make_sig(good, field(s, "r"), field(s, "s"), (uint8_t)int_field(s, "v"));
    ck_assert_int_eq(secp_recover(hash, good, SECP_S_LOW, pub, &err), 0);

    /* v must be 0..3: 27/28 and EIP-155 values are the caller's to map. */
    static const uint8_t bad_v[] = {4, 27, 28, 37, 255};
    for (size_t i = 0; i < sizeof bad_v; i++) {
        memcpy(sig, good, 65);
        sig[64] = bad_v[i];
        memset(pub, 0x5a, sizeof pub);
        memset(untouched, 0x5a, sizeof untouched);
        assert_error_says(&err, secp_recover(hash, sig, SECP_S_ANY, pub, &err), COMMON_E_CRYPTO, "recovery id");
        ck_assert(memcmp(pub, untouched, 64) == 0);
        assert_error_says(&err, secp_signature_normalize_s(sig, NULL, &err), COMMON_E_CRYPTO, "recovery id");
    }

    const char *zero = "0x0000000000000000000000000000000000000000000000000000000000000000";
    const char *above_n = "0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364142";
    const char *all_ff = "0xffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff";
    const char *r = field(s, "r"), *sv = field(s, "s");
    struct {
        const char *r, *s, *words;
    } cases[] = {
        {zero, sv, "r is zero"},           {r, zero, "s is zero"},
        {order_n_hex, sv, "r is not below"}, {above_n, sv, "r is not below"},
        {all_ff, sv, "r is not below"},     {r, order_n_hex, "s is not below"},
        {r, above_n, "s is not below"},     {r, all_ff, "s is not below"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        make_sig(sig, cases[i].r, cases[i].s, 0);
        for (int rule = SECP_S_ANY; rule <= SECP_S_LOW; rule++) {
            assert_error_says(&err, secp_recover(hash, sig, (enum secp_s_rule)rule, pub, &err), COMMON_E_CRYPTO,
                              cases[i].words);
            assert_error_says(&err, secp_verify(pub, hash, sig, (enum secp_s_rule)rule, &err), COMMON_E_CRYPTO,
                              cases[i].words);
        }
        assert_error_says(&err, secp_signature_normalize_s(sig, NULL, &err), COMMON_E_CRYPTO, cases[i].words);
    }

    /* s = n/2 is the largest low s; n/2 + 1 is the smallest high one (values from SEC 2's n). */
    make_sig(sig, r, "0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0", 0);
    ck_assert(secp_signature_is_low_s(sig));
    make_sig(sig, r, "0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a1", 0);
    ck_assert(!secp_signature_is_low_s(sig));
    assert_error_says(&err, secp_recover(hash, sig, SECP_S_LOW, pub, &err), COMMON_E_CRYPTO, "EIP-2");
    /* Its twin n - s = n/2 with v ^ 1. */
    ck_assert_int_eq(secp_signature_normalize_s(sig, NULL, &err), 0);
    ck_assert(sig[64] == 1);
    uint8_t want_s[32];
    unhex("0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0", want_s, 32);
    ck_assert(memcmp(sig + 32, want_s, 32) == 0);
    /* s = n - 1 normalises to 1. */
    make_sig(sig, r, "0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364140", 3);
    ck_assert_int_eq(secp_signature_normalize_s(sig, NULL, &err), 0);
    unhex("0x0000000000000000000000000000000000000000000000000000000000000001", want_s, 32);
    ck_assert(memcmp(sig + 32, want_s, 32) == 0);
    ck_assert(sig[64] == 2);
    cJSON_Delete(root);
}
END_TEST

START_TEST(private_key_refusals)
{
    static const char *const bad[] = {
        "0x0000000000000000000000000000000000000000000000000000000000000000",
        order_n_hex,
        "0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364142",
        "0xffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint8_t priv[32], pub[64], addr[20], sig[65], hash[32] = {1};
        struct cohort_error err = {0};
        unhex(bad[i], priv, 32);
        assert_error_says(&err, secp_private_key_check(priv, &err), COMMON_E_CRYPTO, "private key");
        assert_error_says(&err, secp_pubkey(priv, pub, &err), COMMON_E_CRYPTO, "private key");
        assert_error_says(&err, secp_address_from_secret(priv, addr, &err), COMMON_E_CRYPTO, "private key");
        assert_error_says(&err, secp_sign(priv, hash, sig, &err), COMMON_E_CRYPTO, "private key");
    }
}
END_TEST

START_TEST(public_key_refusals)
{
    uint8_t pub[64], hash[32] = {0}, sig[64];
    struct cohort_error err = {0};
    cJSON *root = load_vectors();
    const cJSON *k = cJSON_GetArrayItem(cJSON_GetObjectItem(root, "keys"), 3);
    const cJSON *s = cJSON_GetArrayItem(cJSON_GetObjectItem(k, "signatures"), 0);
    unhex(field(k, "public_key"), pub, 64);
    unhex(field(s, "hash"), hash, 32);
    unhex(field(s, "r"), sig, 32);
    unhex(field(s, "s"), sig + 32, 32);
    ck_assert_int_eq(secp_verify(pub, hash, sig, SECP_S_LOW, &err), 0);
    /* Change y: the point leaves the curve (y^2 = x^3 + 7 holds for at most two y). */
    pub[63] ^= 0x01;
    assert_error_says(&err, secp_pubkey_check(pub, &err), COMMON_E_CRYPTO, "not a point");
    assert_error_says(&err, secp_verify(pub, hash, sig, SECP_S_LOW, &err), COMMON_E_CRYPTO, "not a point");
    memset(pub, 0, sizeof pub);
    assert_error_says(&err, secp_pubkey_check(pub, &err), COMMON_E_CRYPTO, "not a point");
    cJSON_Delete(root);
}
END_TEST

/* Flips the case of the letter at position at; returns false if it is a digit. */
static bool flip_case(char *text, size_t at)
{
    char c = text[at];
    if (c >= 'a' && c <= 'f') text[at] = (char)(c - 'a' + 'A');
    else if (c >= 'A' && c <= 'F') text[at] = (char)(c - 'A' + 'a');
    else return false;
    return true;
}

static bool mixed_case(const char *text)
{
    bool upper = false, lower = false;
    for (size_t i = 2; text[i]; i++) {
        upper |= text[i] >= 'A' && text[i] <= 'F';
        lower |= text[i] >= 'a' && text[i] <= 'f';
    }
    return upper && lower;
}

/* One letter with the wrong case breaks an EIP-55 checksum; the message must say so. */
START_TEST(address_wrong_checksum)
{
    cJSON *root = load_vectors();
    const cJSON *k;
    int refused = 0;
    const char *eip[] = {"0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
                         "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB", "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
                         "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"};
    for (size_t e = 0; e < sizeof eip / sizeof eip[0]; e++) {
        for (size_t at = 2; at < 42; at++) {
            char text[ADDRESS_TEXT_BYTES];
            uint8_t addr[20], untouched[20];
            struct cohort_error err = {0};
            memcpy(text, eip[e], sizeof text);
            if (!flip_case(text, at) || !mixed_case(text)) continue;
            memset(addr, 0x33, sizeof addr);
            memset(untouched, 0x33, sizeof untouched);
            assert_error_says(&err, address_parse(text, addr, &err), COMMON_E_INVALID, "checksum");
            ck_assert(memcmp(addr, untouched, 20) == 0);
            refused++;
        }
    }
    cJSON_ArrayForEach(k, cJSON_GetObjectItem(root, "keys"))
    {
        char text[ADDRESS_TEXT_BYTES];
        uint8_t addr[20];
        struct cohort_error err = {0};
        memcpy(text, field(k, "checksum"), sizeof text);
        for (size_t at = 2; at < 42; at++) {
            if (!flip_case(text, at)) continue;
            if (mixed_case(text)) {
                assert_error_says(&err, address_parse(text, addr, &err), COMMON_E_INVALID, "checksum");
                refused++;
            }
            flip_case(text, at);
        }
    }
    ck_assert_int_ge(refused, 500);
    cJSON_Delete(root);
}
END_TEST

START_TEST(address_malformed_text)
{
    uint8_t addr[20];
    struct cohort_error err = {0};
    const char *good = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed";
    ck_assert_int_eq(address_parse(good, addr, &err), 0);

    assert_error_says(&err, address_parse("", addr, &err), COMMON_E_INVALID, "42 characters");
    assert_error_says(&err, address_parse("0x", addr, &err), COMMON_E_INVALID, "42 characters");
    /* One digit short, one too many, a 20-byte hash's worth more. */
    assert_error_says(&err, address_parse("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAe", addr, &err), COMMON_E_INVALID,
                      "got 41");
    assert_error_says(&err, address_parse("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed0", addr, &err),
                      COMMON_E_INVALID, "42 characters");
    char huge[4096];
    memset(huge, 'a', sizeof huge - 1);
    huge[0] = '0';
    huge[1] = 'x';
    huge[sizeof huge - 1] = '\0';
    assert_error_says(&err, address_parse(huge, addr, &err), COMMON_E_INVALID, "42 characters");
    /* Without the prefix, the 40 digits alone, or with a capital X. */
    assert_error_says(&err, address_parse("5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", addr, &err), COMMON_E_INVALID,
                      "42 characters");
    assert_error_says(&err, address_parse("005aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", addr, &err),
                      COMMON_E_INVALID, "0x");
    assert_error_says(&err, address_parse("0X5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", addr, &err),
                      COMMON_E_INVALID, "0x");
    /* Characters that are not hex digits, at the start, middle and end. */
    assert_error_says(&err, address_parse("0xgaAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", addr, &err),
                      COMMON_E_INVALID, "position 2");
    assert_error_says(&err, address_parse("0x5aAeb6053F3E94C9b9A0 f33669435E7Ef1BeAed", addr, &err),
                      COMMON_E_INVALID, "bad character 0x20");
    assert_error_says(&err, address_parse("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAe-", addr, &err),
                      COMMON_E_INVALID, "position 41");
    /* An embedded NUL inside a counted string is a bad character, not an end. */
    char with_nul[42];
    memcpy(with_nul, good, 42);
    with_nul[20] = '\0';
    assert_error_says(&err, address_parse_n(with_nul, 42, addr, &err), COMMON_E_INVALID, "position 20");
    ck_assert_int_eq(address_parse_n(good, 42, addr, &err), 0);
}
END_TEST

/* Fresh keys: valid, distinct, and they sign, recover and verify with random hashes. */
START_TEST(generated_keys_round_trip)
{
    uint64_t rng = 0x5ec9256b1ULL;
    uint8_t keys[32][32];
    for (size_t i = 0; i < 32; i++) {
        struct cohort_error err = {0};
        uint8_t pub[64], hash[32], sig[65], got[64];
        ck_assert_int_eq(secp_key_generate(keys[i], &err), 0);
        ck_assert_int_eq(secp_private_key_check(keys[i], &err), 0);
        for (size_t j = 0; j < i; j++) ck_assert(memcmp(keys[i], keys[j], 32) != 0);
        ck_assert_int_eq(secp_pubkey(keys[i], pub, &err), 0);
        testutil_rand_bytes(&rng, hash, sizeof hash);
        ck_assert_int_eq(secp_sign(keys[i], hash, sig, &err), 0);
        ck_assert(secp_signature_is_low_s(sig));
        ck_assert_int_eq(secp_recover(hash, sig, SECP_S_LOW, got, &err), 0);
        ck_assert(memcmp(got, pub, 64) == 0);
        ck_assert_int_eq(secp_verify(pub, hash, sig, SECP_S_LOW, &err), 0);
    }
    explicit_bzero(keys, sizeof keys);
}
END_TEST

/* The context is created on first use; threads that race to it must all get a working one. */
static void *race(void *arg)
{
    uint8_t priv[32], hash[32] = {0}, sig[65], pub[64], got[64];
    struct cohort_error err = {0};
    long ok = secp_key_generate(priv, &err) == 0 && secp_pubkey(priv, pub, &err) == 0 &&
              secp_sign(priv, hash, sig, &err) == 0 && secp_recover(hash, sig, SECP_S_LOW, got, &err) == 0 &&
              memcmp(pub, got, 64) == 0;
    explicit_bzero(priv, sizeof priv);
    (void)arg;
    return (void *)ok;
}

START_TEST(first_use_from_many_threads)
{
    pthread_t threads[8];
    for (size_t i = 0; i < 8; i++) ck_assert_int_eq(pthread_create(&threads[i], NULL, race, NULL), 0);
    for (size_t i = 0; i < 8; i++) {
        void *result = NULL;
        ck_assert_int_eq(pthread_join(threads[i], &result), 0);
        ck_assert_msg(result == (void *)1, "thread %zu failed", i);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("secp");
    TCase *tc = tcase_create("secp");
    tcase_add_test(tc, first_use_from_many_threads); /* first, so the context is not made yet when forking is off */
    tcase_add_test(tc, keys_and_addresses_match_noble_and_ethers);
    tcase_add_test(tc, signatures_match_noble);
    tcase_add_test(tc, verify_refuses_other_key);
    tcase_add_test(tc, recovery_ids_2_and_3);
    tcase_add_test(tc, unrecoverable_signatures);
    tcase_add_test(tc, eip55_examples);
    tcase_add_test(tc, anvil_account_zero);
    tcase_add_test(tc, recover_refusals);
    tcase_add_test(tc, private_key_refusals);
    tcase_add_test(tc, public_key_refusals);
    tcase_add_test(tc, address_wrong_checksum);
    tcase_add_test(tc, address_malformed_text);
    tcase_add_test(tc, generated_keys_round_trip);
    suite_add_tcase(s, tc);
    return testutil_run_suite(s, false);
}
