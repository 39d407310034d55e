/* secp.c - secp256k1 keys, recoverable signatures and EIP-55 addresses over libsecp256k1. */
#include "secp.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <secp256k1.h>
#include <secp256k1_ecdh.h>
#include <secp256k1_recovery.h>
#include <string.h>
#include <sys/random.h>

#include "hex.h"
#include "keccak.h"

#define DOMAIN "common"

/* The group order n and n/2 (rounded down), big-endian, for range and low-s checks. */
static const uint8_t order_n[32] = {
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe,
    0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48, 0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36, 0x41, 0x41,
};
static const uint8_t half_n[32] = {
    0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0x5d, 0x57, 0x6e, 0x73, 0x57, 0xa4, 0x50, 0x1d, 0xdf, 0xe9, 0x2f, 0x46, 0x68, 0x1b, 0x20, 0xa0,
};

/* A key that getrandom gives is invalid with odds about 2^-128; more failures mean a broken RNG. */
#define KEY_GENERATE_ATTEMPTS_MAX 8

/*
 * The process-wide context. It is written once inside pthread_once and only read after, and
 * libsecp256k1 allows concurrent use of a context through its const API, so no lock.
 */
static pthread_once_t context_once = PTHREAD_ONCE_INIT;
static secp256k1_context *context;
static int context_status;
static int context_errno;

/* Fills out with len bytes from getrandom(2), across short reads and signals. */
static int random_bytes(uint8_t *out, size_t len, int *errnum)
{
    assert(out != NULL);
    assert(len <= 256); /* getrandom never returns short for <= 256 bytes; we loop anyway */
    size_t got = 0;
    while (got < len) {
        ssize_t n = getrandom(out + got, len - got, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            *errnum = errno;
            return -1;
        }
        got += (size_t)n;
    }
    return 0;
}

static void context_create(void)
{
    assert(context == NULL);
    secp256k1_context *ctx = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
    if (ctx == NULL) {
        context_status = COMMON_E_NOMEM;
        return;
    }
    /* Randomising blinds the signing and key computations against timing and power analysis. */
    uint8_t seed[32];
    if (random_bytes(seed, sizeof seed, &context_errno) != 0) {
        explicit_bzero(seed, sizeof seed);
        secp256k1_context_destroy(ctx);
        context_status = COMMON_E_IO;
        return;
    }
    int ok = secp256k1_context_randomize(ctx, seed);
    explicit_bzero(seed, sizeof seed);
    if (!ok) {
        secp256k1_context_destroy(ctx);
        context_status = COMMON_E_CRYPTO;
        return;
    }
    context = ctx;
    context_status = 0;
}

int secp_init(struct cohort_error *err)
{
    int rc = pthread_once(&context_once, context_create);
    assert(rc == 0);
    if (context_status == COMMON_E_IO)
        return cohort_error_errno(err, COMMON_E_IO, DOMAIN, context_errno,
                                  "secp: getrandom for the context seed failed");
    if (context_status == COMMON_E_NOMEM)
        return cohort_error_set(err, COMMON_E_NOMEM, DOMAIN, "secp: cannot allocate the libsecp256k1 context");
    if (context_status < 0)
        return cohort_error_set(err, COMMON_E_CRYPTO, DOMAIN, "secp: libsecp256k1 refused to randomise its context");
    assert(context != NULL);
    return 0;
}

/* Big-endian 32-byte helpers. memcmp orders equal-length big-endian numbers correctly. */
static bool is_zero32(const uint8_t x[32])
{
    uint8_t acc = 0;
    for (size_t i = 0; i < 32; i++) acc |= x[i];
    return acc == 0;
}

static bool is_scalar(const uint8_t x[32]) { return !is_zero32(x) && memcmp(x, order_n, 32) < 0; }

/* Checks what every signature must satisfy before libsecp256k1 sees it, with clear messages. */
static int check_rs(const uint8_t signature[64], enum secp_s_rule rule, struct cohort_error *err)
{
    assert(signature != NULL);
    assert(rule == SECP_S_ANY || rule == SECP_S_LOW);
    if (is_zero32(signature)) return cohort_error_set(err, COMMON_E_CRYPTO, DOMAIN, "secp: signature r is zero");
    if (memcmp(signature, order_n, 32) >= 0)
        return cohort_error_set(err, COMMON_E_CRYPTO, DOMAIN, "secp: signature r is not below the group order n");
    if (is_zero32(signature + 32)) return cohort_error_set(err, COMMON_E_CRYPTO, DOMAIN, "secp: signature s is zero");
    if (memcmp(signature + 32, order_n, 32) >= 0)
        return cohort_error_set(err, COMMON_E_CRYPTO, DOMAIN, "secp: signature s is not below the group order n");
    if (rule == SECP_S_LOW && !secp_signature_is_low_s(signature))
        return cohort_error_set(err, COMMON_E_CRYPTO, DOMAIN,
                                "secp: signature s is above n/2, which Homestead's rule (EIP-2) refuses");
    return 0;
}

int secp_private_key_check(const uint8_t private_key[SECP_PRIVATE_KEY_BYTES], struct cohort_error *err)
{
    assert(private_key != NULL);
    if (!is_scalar(private_key))
        return cohort_error_set(err, COMMON_E_CRYPTO, DOMAIN, "secp: private key is zero or not below the group order n");
    return 0;
}

int secp_key_generate(uint8_t private_key[SECP_PRIVATE_KEY_BYTES], struct cohort_error *err)
{
    assert(private_key != NULL);
    int rc = secp_init(err);
    if (rc < 0) return rc;
    /* Drawn straight into the caller's buffer so no copy of the key is left on our stack. */
    for (int attempt = 0; attempt < KEY_GENERATE_ATTEMPTS_MAX; attempt++) {
        int errnum = 0;
        if (random_bytes(private_key, SECP_PRIVATE_KEY_BYTES, &errnum) != 0) {
            explicit_bzero(private_key, SECP_PRIVATE_KEY_BYTES);
            return cohort_error_errno(err, COMMON_E_IO, DOMAIN, errnum, "secp: getrandom for a new private key failed");
        }
        if (secp256k1_ec_seckey_verify(context, private_key)) {
            assert(is_scalar(private_key));
            return 0;
        }
    }
    explicit_bzero(private_key, SECP_PRIVATE_KEY_BYTES);
    return cohort_error_set(err, COMMON_E_IO, DOMAIN,
                            "secp: getrandom gave %d invalid private keys in a row; the system's RNG is broken",
                            KEY_GENERATE_ATTEMPTS_MAX);
}

/* Writes x || y of a parsed public key. */
static void serialize_pubkey(const secp256k1_pubkey *key, uint8_t public_key[SECP_PUBLIC_KEY_BYTES])
{
    uint8_t sec1[65];
    size_t len = sizeof sec1;
    int ok = secp256k1_ec_pubkey_serialize(context, sec1, &len, key, SECP256K1_EC_UNCOMPRESSED);
    assert(ok == 1);
    assert(len == 65 && sec1[0] == 0x04);
    memcpy(public_key, sec1 + 1, SECP_PUBLIC_KEY_BYTES);
}

/* Parses x || y into libsecp256k1's form; fails when the point is not on the curve. */
static int parse_pubkey(const uint8_t public_key[SECP_PUBLIC_KEY_BYTES], secp256k1_pubkey *key, struct cohort_error *err)
{
    uint8_t sec1[65];
    sec1[0] = 0x04;
    memcpy(sec1 + 1, public_key, SECP_PUBLIC_KEY_BYTES);
    if (!secp256k1_ec_pubkey_parse(context, key, sec1, sizeof sec1))
        return cohort_error_set(err, COMMON_E_CRYPTO, DOMAIN, "secp: public key is not a point on the curve");
    return 0;
}

int secp_pubkey(const uint8_t private_key[SECP_PRIVATE_KEY_BYTES], uint8_t public_key[SECP_PUBLIC_KEY_BYTES],
                struct cohort_error *err)
{
    assert(private_key != NULL);
    assert(public_key != NULL);
    int rc = secp_init(err);
    if (rc < 0) return rc;
    if ((rc = secp_private_key_check(private_key, err)) < 0) return rc;
    secp256k1_pubkey key;
    if (!secp256k1_ec_pubkey_create(context, &key, private_key))
        return cohort_error_set(err, COMMON_E_CRYPTO, DOMAIN, "secp: libsecp256k1 refused the private key");
    serialize_pubkey(&key, public_key);
    return 0;
}

int secp_pubkey_check(const uint8_t public_key[SECP_PUBLIC_KEY_BYTES], struct cohort_error *err)
{
    assert(public_key != NULL);
    int rc = secp_init(err);
    if (rc < 0) return rc;
    secp256k1_pubkey key;
    return parse_pubkey(public_key, &key, err);
}

int secp_address_from_secret(const uint8_t private_key[SECP_PRIVATE_KEY_BYTES], uint8_t address[ADDRESS_BYTES],
                             struct cohort_error *err)
{
    assert(private_key != NULL);
    assert(address != NULL);
    uint8_t public_key[SECP_PUBLIC_KEY_BYTES];
    int rc = secp_pubkey(private_key, public_key, err);
    if (rc < 0) return rc;
    address_from_pubkey(public_key, address);
    return 0;
}

int secp_sign(const uint8_t private_key[SECP_PRIVATE_KEY_BYTES], const uint8_t hash[SECP_HASH_BYTES],
              uint8_t signature[SECP_SIGNATURE_BYTES], struct cohort_error *err)
{
    assert(private_key != NULL);
    assert(hash != NULL && signature != NULL);
    int rc = secp_init(err);
    if (rc < 0) return rc;
    if ((rc = secp_private_key_check(private_key, err)) < 0) return rc;
    /* A NULL nonce function is libsecp256k1's RFC 6979 one; it wipes the nonce itself. */
    secp256k1_ecdsa_recoverable_signature sig;
    if (!secp256k1_ecdsa_sign_recoverable(context, &sig, hash, private_key, NULL, NULL))
        return cohort_error_set(err, COMMON_E_CRYPTO, DOMAIN, "secp: libsecp256k1 refused to sign");
    int recid = -1;
    int ok = secp256k1_ecdsa_recoverable_signature_serialize_compact(context, signature, &recid, &sig);
    assert(ok == 1);
    assert(recid >= 0 && recid <= 3);
    signature[64] = (uint8_t)recid;
    /* libsecp256k1 documents that it signs low-s; Ethereum transactions depend on it. */
    assert(secp_signature_is_low_s(signature));
    assert(is_scalar(signature) && is_scalar(signature + 32));
    return 0;
}

int secp_recover(const uint8_t hash[SECP_HASH_BYTES], const uint8_t signature[SECP_SIGNATURE_BYTES],
                 enum secp_s_rule rule, uint8_t public_key[SECP_PUBLIC_KEY_BYTES], struct cohort_error *err)
{
    assert(hash != NULL && signature != NULL);
    assert(public_key != NULL);
    int rc = secp_init(err);
    if (rc < 0) return rc;
    if (signature[64] > 3)
        return cohort_error_set(err, COMMON_E_CRYPTO, DOMAIN, "secp: recovery id v = %u is not 0, 1, 2 or 3",
                                (unsigned)signature[64]);
    if ((rc = check_rs(signature, rule, err)) < 0) return rc;
    secp256k1_ecdsa_recoverable_signature sig;
    if (!secp256k1_ecdsa_recoverable_signature_parse_compact(context, &sig, signature, signature[64]))
        return cohort_error_set(err, COMMON_E_CRYPTO, DOMAIN, "secp: libsecp256k1 refused the signature's r and s");
    secp256k1_pubkey key;
    if (!secp256k1_ecdsa_recover(context, &key, &sig, hash))
        return cohort_error_set(err, COMMON_E_CRYPTO, DOMAIN,
                                "secp: no public key recovers from this signature (r with v = %u is not on the curve)",
                                (unsigned)signature[64]);
    serialize_pubkey(&key, public_key);
    return 0;
}

int secp_recover_address(const uint8_t hash[SECP_HASH_BYTES], const uint8_t signature[SECP_SIGNATURE_BYTES],
                         enum secp_s_rule rule, uint8_t address[ADDRESS_BYTES], struct cohort_error *err)
{
    assert(address != NULL);
    uint8_t public_key[SECP_PUBLIC_KEY_BYTES];
    int rc = secp_recover(hash, signature, rule, public_key, err);
    if (rc < 0) return rc;
    address_from_pubkey(public_key, address);
    return 0;
}

int secp_verify(const uint8_t public_key[SECP_PUBLIC_KEY_BYTES], const uint8_t hash[SECP_HASH_BYTES],
                const uint8_t signature[64], enum secp_s_rule rule, struct cohort_error *err)
{
    assert(public_key != NULL && hash != NULL);
    assert(signature != NULL);
    int rc = secp_init(err);
    if (rc < 0) return rc;
    if ((rc = check_rs(signature, rule, err)) < 0) return rc;
    secp256k1_pubkey key;
    if ((rc = parse_pubkey(public_key, &key, err)) < 0) return rc;
    secp256k1_ecdsa_signature sig;
    if (!secp256k1_ecdsa_signature_parse_compact(context, &sig, signature))
        return cohort_error_set(err, COMMON_E_CRYPTO, DOMAIN, "secp: libsecp256k1 refused the signature's r and s");
    /* libsecp256k1 verifies low-s only; SECP_S_ANY gets there through the equivalent low-s form. */
    if (rule == SECP_S_ANY) secp256k1_ecdsa_signature_normalize(context, &sig, &sig);
    if (!secp256k1_ecdsa_verify(context, &sig, hash, &key))
        return cohort_error_set(err, COMMON_E_CRYPTO, DOMAIN, "secp: signature does not match the public key and hash");
    return 0;
}

bool secp_signature_is_low_s(const uint8_t signature[64])
{
    assert(signature != NULL);
    return memcmp(signature + 32, half_n, 32) <= 0;
}

int secp_signature_normalize_s(uint8_t signature[SECP_SIGNATURE_BYTES], bool *changed, struct cohort_error *err)
{
    assert(signature != NULL);
    if (changed != NULL) *changed = false;
    if (signature[64] > 3)
        return cohort_error_set(err, COMMON_E_CRYPTO, DOMAIN, "secp: recovery id v = %u is not 0, 1, 2 or 3",
                                (unsigned)signature[64]);
    int rc = check_rs(signature, SECP_S_ANY, err);
    if (rc < 0) return rc;
    if (secp_signature_is_low_s(signature)) return 0;
    /* s = n - s, big-endian, from the last byte up. n > s, so no borrow leaves the top byte. */
    uint8_t *s = signature + 32;
    unsigned borrow = 0;
    for (size_t i = 32; i-- > 0;) {
        unsigned diff = (unsigned)order_n[i] - s[i] - borrow;
        s[i] = (uint8_t)diff;
        borrow = (diff >> 8) & 1u;
    }
    assert(borrow == 0);
    /* Negating s mirrors R's y coordinate, which is what bit 0 of the recovery id encodes. */
    signature[64] ^= 1u;
    assert(secp_signature_is_low_s(signature) && !is_zero32(s));
    if (changed != NULL) *changed = true;
    return 0;
}

void address_from_pubkey(const uint8_t public_key[SECP_PUBLIC_KEY_BYTES], uint8_t address[ADDRESS_BYTES])
{
    assert(public_key != NULL);
    assert(address != NULL);
    uint8_t hash[32];
    keccak256(public_key, SECP_PUBLIC_KEY_BYTES, hash);
    memcpy(address, hash + 12, ADDRESS_BYTES);
}

/*
 * EIP-55: hash the 40 lowercase hex digits (as ASCII, without "0x"); a letter digit is
 * uppercase when the matching nibble of the hash is 8 or more. Writes 40 digits into out.
 */
static void checksum_digits(const uint8_t address[ADDRESS_BYTES], char out[40])
{
    char lower[ADDRESS_TEXT_BYTES];
    size_t len = hex_encode(address, ADDRESS_BYTES, lower, sizeof lower);
    assert(len == ADDRESS_TEXT_LENGTH);
    uint8_t hash[32];
    keccak256(lower + 2, 40, hash);
    for (size_t i = 0; i < 40; i++) {
        unsigned nibble = (i % 2 == 0) ? hash[i / 2] >> 4 : hash[i / 2] & 15u;
        char c = lower[2 + i];
        out[i] = (c >= 'a' && c <= 'f' && nibble >= 8) ? (char)(c - 'a' + 'A') : c;
    }
}

size_t address_to_checksum(const uint8_t address[ADDRESS_BYTES], char out[ADDRESS_TEXT_BYTES])
{
    assert(address != NULL);
    assert(out != NULL);
    out[0] = '0';
    out[1] = 'x';
    checksum_digits(address, out + 2);
    out[ADDRESS_TEXT_LENGTH] = '\0';
    return ADDRESS_TEXT_LENGTH;
}

int address_parse_n(const char *text, size_t text_len, uint8_t address[ADDRESS_BYTES], struct cohort_error *err)
{
    assert(text != NULL);
    assert(address != NULL);
    if (text_len != ADDRESS_TEXT_LENGTH)
        return cohort_error_set(err, COMMON_E_INVALID, DOMAIN,
                                "address: expected 42 characters (0x and 40 hex digits), got %s%zu",
                                text_len > ADDRESS_TEXT_LENGTH ? "at least " : "", text_len);
    if (text[0] != '0' || text[1] != 'x')
        return cohort_error_set(err, COMMON_E_INVALID, DOMAIN, "address: does not start with 0x");
    uint8_t bytes[ADDRESS_BYTES];
    size_t upper = 0, lower = 0;
    for (size_t i = 2; i < ADDRESS_TEXT_LENGTH; i++) {
        char c = text[i];
        int value = hex_digit_value(c);
        if (value < 0)
            return cohort_error_set(err, COMMON_E_INVALID, DOMAIN,
                                    "address: bad character 0x%02x at position %zu (hex digits only)",
                                    (unsigned char)c, i);
        if (c >= 'a' && c <= 'f') lower++;
        if (c >= 'A' && c <= 'F') upper++;
        size_t at = (i - 2) / 2;
        bytes[at] = (i % 2 == 0) ? (uint8_t)(value << 4) : (uint8_t)(bytes[at] | value);
    }
    /* One case only means "no checksum" under EIP-55; mixed case must be the checksum. */
    if (upper > 0 && lower > 0) {
        char want[40];
        checksum_digits(bytes, want);
        if (memcmp(want, text + 2, 40) != 0)
            return cohort_error_set(err, COMMON_E_INVALID, DOMAIN,
                                    "address: %.42s has a wrong EIP-55 checksum (its mixed case does not match); "
                                    "check it for a typo",
                                    text);
    }
    memcpy(address, bytes, ADDRESS_BYTES);
    return 0;
}

int address_parse(const char *text, uint8_t address[ADDRESS_BYTES], struct cohort_error *err)
{
    assert(text != NULL);
    /* Read at most one character past a valid address, so a huge string costs nothing. */
    return address_parse_n(text, strnlen(text, ADDRESS_TEXT_BYTES), address, err);
}

int secp_ecdh(const uint8_t private_key[SECP_PRIVATE_KEY_BYTES], const uint8_t public_key[SECP_PUBLIC_KEY_BYTES],
              uint8_t secret[32], struct cohort_error *err)
{
    assert(private_key != NULL && public_key != NULL && secret != NULL);
    int rc = secp_init(err);
    if (rc < 0) return rc;
    secp256k1_pubkey key;
    if ((rc = parse_pubkey(public_key, &key, err)) < 0) return rc;
    if (!secp256k1_ecdh(context, secret, &key, private_key, NULL, NULL))
        return cohort_error_set(err, COMMON_E_CRYPTO, DOMAIN, "secp: ECDH refused the private key");
    return 0;
}
