/*
 * link.c - the byte layouts of a node's TCP links (docs/bft.md "The node"): the frame
 * length prefix, the HELLO and the AUTH digest of the handshake, and endpoint text. Pure
 * functions, so the unit tests and the fuzz target reach them without a socket.
 *
 *   frame:  length u32 BE (1..BFT_MESSAGE_MAX) | length bytes
 *   HELLO:  "CBH1" | instance u64 | from u16 | to u16 | nonce 32              (48 bytes)
 *   AUTH:   "CBA1" | signature 65 over bft_auth_digest(instance, from, to, their nonce)
 *   IDENT:  "CBI1" | address 20 | proof length u16 | proof       (26..26+BFT_PROOF_MAX bytes)
 */
#include "bft/node.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "common/bytes.h"
#include "common/keccak.h"

#define DOMAIN "bft"

_Static_assert(BFT_HELLO_BYTES == 4 + 8 + 2 + 2 + 32, "HELLO layout");
_Static_assert(BFT_AUTH_BYTES == 4 + BFT_SIGNATURE_BYTES, "AUTH layout");
_Static_assert(BFT_MESSAGE_MAX <= UINT32_MAX, "a frame length fits its u32 prefix");

static const uint8_t hello_magic[4] = {'C', 'B', 'H', '1'};
static const uint8_t ident_magic[4] = {'C', 'B', 'I', '1'};

size_t bft_ident_encode(const uint8_t address[BFT_ADDRESS_BYTES], const uint8_t *proof, size_t proof_len,
                        uint8_t out[BFT_IDENT_MAX_BYTES])
{
    assert(proof_len <= BFT_PROOF_MAX);
    memcpy(out, ident_magic, 4);
    memcpy(out + 4, address, BFT_ADDRESS_BYTES);
    be_put(out + 24, proof_len, 2);
    if (proof_len) memcpy(out + BFT_IDENT_MIN_BYTES, proof, proof_len);
    return BFT_IDENT_MIN_BYTES + proof_len;
}

int bft_ident_decode(const uint8_t *bytes, size_t len, uint8_t address[BFT_ADDRESS_BYTES], const uint8_t **proof,
                     size_t *proof_len, struct cohort_error *err)
{
    if (len < BFT_IDENT_MIN_BYTES || len > BFT_IDENT_MAX_BYTES)
        return cohort_error_set(err, BFT_E_INVALID, DOMAIN, "link: IDENT of %zu bytes (%d..%d)", len,
                                BFT_IDENT_MIN_BYTES, BFT_IDENT_MAX_BYTES);
    if (memcmp(bytes, ident_magic, 4) != 0) return cohort_error_set(err, BFT_E_INVALID, DOMAIN, "link: IDENT magic");
    size_t n = (size_t)be_get(bytes + 24, 2);
    if (n != len - BFT_IDENT_MIN_BYTES)
        return cohort_error_set(err, BFT_E_INVALID, DOMAIN, "link: IDENT proof of %zu bytes in a frame with %zu", n,
                                len - BFT_IDENT_MIN_BYTES);
    memcpy(address, bytes + 4, BFT_ADDRESS_BYTES);
    *proof = bytes + BFT_IDENT_MIN_BYTES;
    *proof_len = n;
    return 0;
}

int bft_frame_length(const uint8_t prefix[4], uint32_t *len, struct cohort_error *err)
{
    assert(prefix != NULL && len != NULL);
    uint32_t v = (uint32_t)be_get(prefix, 4);
    if (v == 0) return cohort_error_set(err, BFT_E_RANGE, DOMAIN, "link: empty frame");
    if (v > BFT_MESSAGE_MAX + BFT_FRAME_TAG_BYTES)
        return cohort_error_set(err, BFT_E_RANGE, DOMAIN, "link: frame of %u bytes exceeds %u", v,
                                BFT_MESSAGE_MAX + BFT_FRAME_TAG_BYTES);
    *len = v;
    return 0;
}

void bft_frame_key(const uint8_t ecdh_secret[32], uint64_t instance, uint16_t dialler, uint16_t acceptor,
                   const uint8_t dialler_nonce[32], const uint8_t acceptor_nonce[32], uint8_t key[32])
{
    uint8_t head[4 + 32 + 8 + 2 + 2] = {'C', 'B', 'K', '1'};
    memcpy(head + 4, ecdh_secret, 32);
    be_put(head + 36, instance, 8);
    be_put(head + 44, dialler, 2);
    be_put(head + 46, acceptor, 2);
    struct keccak256_ctx ctx;
    keccak256_init(&ctx);
    keccak256_update(&ctx, head, sizeof head);
    keccak256_update(&ctx, dialler_nonce, 32);
    keccak256_update(&ctx, acceptor_nonce, 32);
    keccak256_final(&ctx, key);
    explicit_bzero(head, sizeof head);
}

void bft_frame_tag(const uint8_t key[32], uint64_t number, const uint8_t *message, size_t len,
                   uint8_t tag[BFT_FRAME_TAG_BYTES])
{
    uint8_t n[8], out[32];
    be_put(n, number, 8);
    struct keccak256_ctx ctx;
    keccak256_init(&ctx);
    keccak256_update(&ctx, key, 32); /* keccak is a sponge: a secret prefix makes a MAC */
    keccak256_update(&ctx, n, 8);
    keccak256_update(&ctx, message, len);
    keccak256_final(&ctx, out);
    memcpy(tag, out, BFT_FRAME_TAG_BYTES);
}

void bft_hello_encode(uint64_t instance, uint16_t from, uint16_t to, const uint8_t nonce[32],
                      uint8_t out[BFT_HELLO_BYTES])
{
    assert(nonce != NULL && out != NULL);
    assert(from != to);
    memcpy(out, hello_magic, 4);
    be_put(out + 4, instance, 8);
    be_put(out + 12, from, 2);
    be_put(out + 14, to, 2);
    memcpy(out + 16, nonce, 32);
}

int bft_hello_decode(const uint8_t *bytes, size_t len, uint64_t instance, uint16_t self, uint32_t member_count,
                     uint16_t *from, uint8_t nonce[32], struct cohort_error *err)
{
    assert(bytes != NULL || len == 0);
    assert(from != NULL && nonce != NULL);
    if (len != BFT_HELLO_BYTES)
        return cohort_error_set(err, BFT_E_INVALID, DOMAIN, "link: HELLO of %zu bytes, expected %d", len,
                                BFT_HELLO_BYTES);
    if (memcmp(bytes, hello_magic, 4) != 0) return cohort_error_set(err, BFT_E_INVALID, DOMAIN, "link: HELLO magic");
    uint64_t their_instance = be_get(bytes + 4, 8);
    if (their_instance != instance)
        return cohort_error_set(err, BFT_E_INVALID, DOMAIN, "link: HELLO for instance %llu, this log is %llu",
                                (unsigned long long)their_instance, (unsigned long long)instance);
    uint16_t f = (uint16_t)be_get(bytes + 12, 2), t = (uint16_t)be_get(bytes + 14, 2);
    if (t != self)
        return cohort_error_set(err, BFT_E_INVALID, DOMAIN, "link: HELLO addressed to member %u, this is member %u", t,
                                self);
    if (f >= member_count)
        return cohort_error_set(err, BFT_E_INVALID, DOMAIN, "link: HELLO from member %u of %u", f, member_count);
    if (f == self) return cohort_error_set(err, BFT_E_INVALID, DOMAIN, "link: HELLO from this member itself (%u)", f);
    *from = f;
    memcpy(nonce, bytes + 16, 32);
    return 0;
}

void bft_auth_digest(uint64_t instance, uint16_t from, uint16_t to, const uint8_t their_nonce[32],
                     uint8_t out[BFT_HASH_BYTES])
{
    static const char domain[] = "cohort-bft-link-v1"; /* 18 bytes, no NUL */
    uint8_t buf[sizeof domain - 1 + 8 + 2 + 2 + 32];
    memcpy(buf, domain, sizeof domain - 1);
    uint8_t *p = buf + sizeof domain - 1;
    be_put(p, instance, 8);
    be_put(p + 8, from, 2);
    be_put(p + 10, to, 2);
    memcpy(p + 12, their_nonce, 32);
    keccak256(buf, sizeof buf, out);
}

/* Parses 1..max_digits decimal digits (no sign, no leading zero unless the number is 0). */
static const char *parse_decimal(const char *s, int max_digits, uint32_t *out)
{
    if (*s < '0' || *s > '9') return NULL;
    if (s[0] == '0' && s[1] >= '0' && s[1] <= '9') return NULL;
    uint32_t v = 0;
    int digits = 0;
    while (*s >= '0' && *s <= '9') {
        if (++digits > max_digits) return NULL;
        v = v * 10 + (uint32_t)(*s - '0');
        s++;
    }
    *out = v;
    return s;
}

int bft_endpoint_parse(const char *endpoint, char ip[16], uint16_t *port, struct cohort_error *err)
{
    assert(ip != NULL && port != NULL);
    if (endpoint == NULL) return cohort_error_set(err, BFT_E_INVALID, DOMAIN, "endpoint: missing");
    size_t len = strnlen(endpoint, BFT_ENDPOINT_MAX);
    if (len == 0 || len >= BFT_ENDPOINT_MAX)
        return cohort_error_set(err, BFT_E_INVALID, DOMAIN, "endpoint: empty or longer than %d characters",
                                BFT_ENDPOINT_MAX - 1);
    const char *s = endpoint;
    uint32_t octet[4];
    for (int i = 0; i < 4; i++) {
        s = parse_decimal(s, 3, &octet[i]);
        if (s == NULL || octet[i] > 255 || *s != (i < 3 ? '.' : ':'))
            return cohort_error_set(err, BFT_E_INVALID, DOMAIN,
                                    "endpoint \"%.63s\": expected an IPv4 address a.b.c.d:port", endpoint);
        s++;
    }
    uint32_t p = 0;
    s = parse_decimal(s, 5, &p);
    if (s == NULL || *s != '\0' || p == 0 || p > 65535)
        return cohort_error_set(err, BFT_E_INVALID, DOMAIN, "endpoint \"%.63s\": expected a port 1..65535 after ':'",
                                endpoint);
    snprintf(ip, 16, "%u.%u.%u.%u", octet[0], octet[1], octet[2], octet[3]);
    *port = (uint16_t)p;
    return 0;
}

/* ---- The snapshot OFFER (docs/bft.md "State transfer") ---- */

#define OFFER_FIELDS_BYTES 96 /* instance u64 | index u64 | height u64 | hash 32 | len u64 | digest 32 */

/* The fields an OFFER carries and signs, in the order of both. */
static void put_offer_fields(uint8_t *p, uint64_t instance, const struct bft_snapshot_offer *offer)
{
    be_put(p, instance, 8);
    be_put(p + 8, offer->index, 8);
    be_put(p + 16, offer->height, 8);
    memcpy(p + 24, offer->hash, 32);
    be_put(p + 56, offer->len, 8);
    memcpy(p + 64, offer->digest, 32);
}

_Static_assert(BFT_OFFER_BYTES == 1 + OFFER_FIELDS_BYTES + BFT_SIGNATURE_BYTES, "OFFER layout");

void bft_offer_digest(uint64_t instance, const struct bft_snapshot_offer *offer, uint8_t out[BFT_HASH_BYTES])
{
    uint8_t buf[22 + OFFER_FIELDS_BYTES];
    memcpy(buf, "cohort-bft-snapshot-v1", 22);
    put_offer_fields(buf + 22, instance, offer);
    keccak256(buf, sizeof buf, out);
}

void bft_offer_encode(uint64_t instance, const struct bft_snapshot_offer *offer,
                      const uint8_t signature[BFT_SIGNATURE_BYTES], uint8_t out[BFT_OFFER_BYTES])
{
    out[0] = BFT_OFFER_FRAME;
    put_offer_fields(out + 1, instance, offer);
    memcpy(out + 1 + OFFER_FIELDS_BYTES, signature, BFT_SIGNATURE_BYTES);
}

int bft_offer_decode(const uint8_t *bytes, size_t len, uint64_t instance, struct bft_snapshot_offer *out,
                     uint8_t signature[BFT_SIGNATURE_BYTES], struct cohort_error *err)
{
    if (len != BFT_OFFER_BYTES)
        return cohort_error_set(err, BFT_E_INVALID, DOMAIN, "offer: %zu bytes, not %d", len, BFT_OFFER_BYTES);
    if (bytes[0] != BFT_OFFER_FRAME) return cohort_error_set(err, BFT_E_INVALID, DOMAIN, "offer: marker 0x%02x", bytes[0]);
    if (be_get(bytes + 1, 8) != instance)
        return cohort_error_set(err, BFT_E_INVALID, DOMAIN, "offer: for instance %llu, this is %llu",
                                (unsigned long long)be_get(bytes + 1, 8), (unsigned long long)instance);
    memset(out, 0, sizeof *out);
    out->index = be_get(bytes + 9, 8);
    out->height = be_get(bytes + 17, 8);
    memcpy(out->hash, bytes + 25, 32);
    out->len = be_get(bytes + 57, 8);
    memcpy(out->digest, bytes + 65, 32);
    memcpy(signature, bytes + 97, BFT_SIGNATURE_BYTES);
    if (out->index == 0 || out->height < out->index)
        return cohort_error_set(err, BFT_E_INVALID, DOMAIN, "offer: block %llu at height %llu",
                                (unsigned long long)out->index, (unsigned long long)out->height);
    if (out->len > BFT_SNAPSHOT_MAX_BYTES)
        return cohort_error_set(err, BFT_E_INVALID, DOMAIN, "offer: a snapshot of %llu bytes, over the cap of %llu",
                                (unsigned long long)out->len, (unsigned long long)BFT_SNAPSHOT_MAX_BYTES);
    return 0;
}
