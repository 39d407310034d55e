/*
 * test_bft_link.c - the byte layouts of a BFT node's links (bft/link.c, docs/bft.md "The
 * node"): the frame length prefix and its cap, HELLO encoding and its strict decoding,
 * the AUTH digest (checked against the layout built byte by byte here) with a real
 * secp256k1 signature, and endpoint parsing.
 */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "bft/node.h"
#include "bft/node_internal.h"
#include "common/keccak.h"
#include "common/secp.h"
#include "testutil.h"

#define INSTANCE 0x1122334455667788ull

static void put_be(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++) p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

START_TEST(frame_length_caps)
{
    struct cohort_error err = {0};
    uint8_t prefix[4];
    uint32_t len = 12345;

    put_be(prefix, 0, 4);
    ck_assert_int_eq(bft_frame_length(prefix, &len, &err), BFT_E_RANGE);
    ck_assert_uint_eq(len, 12345); /* untouched on error */
    ck_assert_ptr_nonnull(strstr(err.message, "empty"));

    put_be(prefix, 1, 4);
    ck_assert_int_eq(bft_frame_length(prefix, &len, NULL), 0);
    ck_assert_uint_eq(len, 1);

    put_be(prefix, BFT_MESSAGE_MAX, 4);
    ck_assert_int_eq(bft_frame_length(prefix, &len, NULL), 0);
    ck_assert_uint_eq(len, BFT_MESSAGE_MAX);

    put_be(prefix, BFT_MESSAGE_MAX + BFT_FRAME_TAG_BYTES, 4); /* a message at the cap, and its tag */
    ck_assert_int_eq(bft_frame_length(prefix, &len, NULL), 0);
    put_be(prefix, BFT_MESSAGE_MAX + BFT_FRAME_TAG_BYTES + 1, 4);
    ck_assert_int_eq(bft_frame_length(prefix, &len, &err), BFT_E_RANGE);
    ck_assert_ptr_nonnull(strstr(err.message, "exceeds"));

    memset(prefix, 0xff, 4);
    ck_assert_int_eq(bft_frame_length(prefix, &len, &err), BFT_E_RANGE);

    /* Big-endian: 0x00000100 is 256, not 65536. */
    const uint8_t be[4] = {0, 0, 1, 0};
    ck_assert_int_eq(bft_frame_length(be, &len, NULL), 0);
    ck_assert_uint_eq(len, 256);
}
END_TEST

START_TEST(hello_layout_and_round_trip)
{
    uint8_t nonce[32], hello[BFT_HELLO_BYTES], spec[BFT_HELLO_BYTES];
    for (int i = 0; i < 32; i++) nonce[i] = (uint8_t)(i * 7 + 1);
    bft_hello_encode(INSTANCE, 2, 5, nonce, hello);

    /* The layout of docs/bft.md, by hand. */
    memcpy(spec, "CBH1", 4);
    put_be(spec + 4, INSTANCE, 8);
    put_be(spec + 12, 2, 2);
    put_be(spec + 14, 5, 2);
    memcpy(spec + 16, nonce, 32);
    ck_assert_mem_eq(hello, spec, BFT_HELLO_BYTES);

    uint16_t from = 0;
    uint8_t got[32];
    struct cohort_error err = {0};
    ck_assert_int_eq(bft_hello_decode(hello, sizeof hello, INSTANCE, 5, 7, &from, got, &err), 0);
    ck_assert_uint_eq(from, 2);
    ck_assert_mem_eq(got, nonce, 32);
}
END_TEST

START_TEST(hello_decode_is_strict)
{
    uint8_t nonce[32] = {1, 2, 3}, hello[BFT_HELLO_BYTES + 1], bad[BFT_HELLO_BYTES + 1];
    bft_hello_encode(INSTANCE, 1, 0, nonce, hello);
    uint16_t from = 99;
    uint8_t got[32];
    struct cohort_error err = {0};

    /* wrong magic */
    memcpy(bad, hello, BFT_HELLO_BYTES);
    bad[3] = '2';
    ck_assert_int_eq(bft_hello_decode(bad, BFT_HELLO_BYTES, INSTANCE, 0, 4, &from, got, &err), BFT_E_INVALID);
    ck_assert_ptr_nonnull(strstr(err.message, "magic"));
    /* an AUTH where a HELLO belongs */
    memcpy(bad, "CBA1", 4);
    ck_assert_int_eq(bft_hello_decode(bad, BFT_HELLO_BYTES, INSTANCE, 0, 4, &from, got, &err), BFT_E_INVALID);

    /* another instance */
    ck_assert_int_eq(bft_hello_decode(hello, BFT_HELLO_BYTES, INSTANCE + 1, 0, 4, &from, got, &err), BFT_E_INVALID);
    ck_assert_ptr_nonnull(strstr(err.message, "instance"));

    /* addressed to another member */
    ck_assert_int_eq(bft_hello_decode(hello, BFT_HELLO_BYTES, INSTANCE, 2, 4, &from, got, &err), BFT_E_INVALID);
    ck_assert_ptr_nonnull(strstr(err.message, "addressed to member 0"));

    /* from == self */
    bft_hello_encode(INSTANCE, 1, 0, nonce, bad);
    put_be(bad + 14, 1, 2); /* to = 1 = from (encode refuses to build it, so patch it) */
    ck_assert_int_eq(bft_hello_decode(bad, BFT_HELLO_BYTES, INSTANCE, 1, 4, &from, got, &err), BFT_E_INVALID);
    ck_assert_ptr_nonnull(strstr(err.message, "itself"));

    /* from >= n, and the largest u16 */
    bft_hello_encode(INSTANCE, 4, 0, nonce, bad);
    ck_assert_int_eq(bft_hello_decode(bad, BFT_HELLO_BYTES, INSTANCE, 0, 4, &from, got, &err), BFT_E_INVALID);
    ck_assert_ptr_nonnull(strstr(err.message, "from member 4 of 4"));
    bft_hello_encode(INSTANCE, 0xffff, 0, nonce, bad);
    ck_assert_int_eq(bft_hello_decode(bad, BFT_HELLO_BYTES, INSTANCE, 0, BFT_MEMBERS_MAX, &from, got, &err),
                     BFT_E_INVALID);
    bft_hello_encode(INSTANCE, 3, 0, nonce, bad);
    ck_assert_int_eq(bft_hello_decode(bad, BFT_HELLO_BYTES, INSTANCE, 0, 4, &from, got, &err), 0);
    ck_assert_uint_eq(from, 3);

    /* bad lengths: short, long, empty */
    from = 99;
    ck_assert_int_eq(bft_hello_decode(hello, BFT_HELLO_BYTES - 1, INSTANCE, 0, 4, &from, got, &err), BFT_E_INVALID);
    ck_assert_ptr_nonnull(strstr(err.message, "47 bytes"));
    hello[BFT_HELLO_BYTES] = 0;
    ck_assert_int_eq(bft_hello_decode(hello, BFT_HELLO_BYTES + 1, INSTANCE, 0, 4, &from, got, &err), BFT_E_INVALID);
    ck_assert_int_eq(bft_hello_decode(NULL, 0, INSTANCE, 0, 4, &from, got, &err), BFT_E_INVALID);
    ck_assert_uint_eq(from, 99); /* outputs untouched on error */

    /* every single-bit flip of the header fields is refused or changes what decodes */
    for (int bit = 0; bit < 16 * 8; bit++) {
        memcpy(bad, hello, BFT_HELLO_BYTES);
        bad[bit / 8] ^= (uint8_t)(1 << (bit % 8));
        int rc = bft_hello_decode(bad, BFT_HELLO_BYTES, INSTANCE, 0, 4, &from, got, &err);
        ck_assert_msg(rc == BFT_E_INVALID || from != 1, "bit %d", bit);
    }
}
END_TEST

START_TEST(ident_round_trip_and_strict_decode)
{
    uint8_t address[20], proof[BFT_PROOF_MAX], out[BFT_IDENT_MAX_BYTES], back[20];
    for (int i = 0; i < 20; i++) address[i] = (uint8_t)(0xa0 + i);
    for (int i = 0; i < BFT_PROOF_MAX; i++) proof[i] = (uint8_t)i;
    struct cohort_error err = {0};
    const uint8_t *p;
    size_t plen;
    static const size_t sizes[] = {0, 1, 65, BFT_PROOF_MAX};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        size_t n = sizes[k];
        size_t len = bft_ident_encode(address, proof, n, out);
        ck_assert_uint_eq(len, BFT_IDENT_MIN_BYTES + n);
        ck_assert_int_eq(bft_ident_decode(out, len, back, &p, &plen, &err), 0);
        ck_assert_mem_eq(back, address, 20);
        ck_assert_uint_eq(plen, n);
        if (n) ck_assert_mem_eq(p, proof, n);
        /* One byte short, one byte long: the proof length no longer matches the frame. */
        ck_assert_int_eq(bft_ident_decode(out, len - 1, back, &p, &plen, &err), BFT_E_INVALID);
        if (len < BFT_IDENT_MAX_BYTES) {
            out[len] = 0;
            ck_assert_int_eq(bft_ident_decode(out, len + 1, back, &p, &plen, &err), BFT_E_INVALID);
        }
    }
    size_t len = bft_ident_encode(address, proof, 10, out);
    out[0] = 'X';
    ck_assert_int_eq(bft_ident_decode(out, len, back, &p, &plen, &err), BFT_E_INVALID);
    ck_assert_ptr_nonnull(strstr(err.message, "IDENT"));
}
END_TEST

START_TEST(auth_digest_sign_and_verify)
{
    uint8_t key[2][32], address[2][20];
    uint64_t rng = 42;
    for (int i = 0; i < 2; i++) {
        do testutil_rand_bytes(&rng, key[i], 32);
        while (secp_private_key_check(key[i], NULL) != 0);
        ck_assert_int_eq(secp_address_from_secret(key[i], address[i], NULL), 0);
    }
    uint8_t nonce[32];
    testutil_rand_bytes(&rng, nonce, 32);

    /* keccak256("cohort-bft-link-v1" || instance u64 || from u16 || to u16 || nonce), by hand */
    uint8_t buf[18 + 8 + 2 + 2 + 32], spec[32], digest[32];
    memcpy(buf, "cohort-bft-link-v1", 18);
    put_be(buf + 18, INSTANCE, 8);
    put_be(buf + 26, 0, 2);
    put_be(buf + 28, 1, 2);
    memcpy(buf + 30, nonce, 32);
    keccak256(buf, sizeof buf, spec);
    bft_auth_digest(INSTANCE, 0, 1, nonce, digest);
    ck_assert_mem_eq(digest, spec, 32);

    /* Member 0 signs; member 1 recovers member 0's address from it. */
    uint8_t sig[65], got[20];
    ck_assert_int_eq(secp_sign(key[0], digest, sig, NULL), 0);
    ck_assert_int_eq(secp_recover_address(digest, sig, SECP_S_LOW, got, NULL), 0);
    ck_assert_mem_eq(got, address[0], 20);

    /* The same signature says nothing for another direction, instance or nonce. */
    uint8_t other[32];
    bft_auth_digest(INSTANCE, 1, 0, nonce, other);
    ck_assert_mem_ne(other, digest, 32);
    if (secp_recover_address(other, sig, SECP_S_LOW, got, NULL) == 0) ck_assert_mem_ne(got, address[0], 20);
    bft_auth_digest(INSTANCE + 1, 0, 1, nonce, other);
    if (secp_recover_address(other, sig, SECP_S_LOW, got, NULL) == 0) ck_assert_mem_ne(got, address[0], 20);
    nonce[0] ^= 1;
    bft_auth_digest(INSTANCE, 0, 1, nonce, other);
    if (secp_recover_address(other, sig, SECP_S_LOW, got, NULL) == 0) ck_assert_mem_ne(got, address[0], 20);

    /* Another member's key does not pass for member 0. */
    ck_assert_int_eq(secp_sign(key[1], digest, sig, NULL), 0);
    ck_assert_int_eq(secp_recover_address(digest, sig, SECP_S_LOW, got, NULL), 0);
    ck_assert_mem_ne(got, address[0], 20);
}
END_TEST

/* The frames' key: the same from both ends (ECDH), new with every nonce; the tag: changed
   by the key, the frame's number and every byte. */
START_TEST(frame_keys_and_tags)
{
    struct cohort_error err = {0};
    uint8_t a[32], b[32], c[32], pa[64], pb[64], pc[64];
    ck_assert_int_eq(secp_key_generate(a, &err), 0);
    ck_assert_int_eq(secp_key_generate(b, &err), 0);
    ck_assert_int_eq(secp_key_generate(c, &err), 0);
    ck_assert_int_eq(secp_pubkey(a, pa, &err), 0);
    ck_assert_int_eq(secp_pubkey(b, pb, &err), 0);
    ck_assert_int_eq(secp_pubkey(c, pc, &err), 0);
    uint8_t sab[32], sba[32], sac[32];
    ck_assert_int_eq(secp_ecdh(a, pb, sab, &err), 0);
    ck_assert_int_eq(secp_ecdh(b, pa, sba, &err), 0);
    ck_assert_int_eq(secp_ecdh(a, pc, sac, &err), 0);
    ck_assert_mem_eq(sab, sba, 32);
    ck_assert_int_ne(memcmp(sab, sac, 32), 0); /* a third member cannot make it */
    uint8_t bad[64];
    memset(bad, 0x01, sizeof bad);
    ck_assert_int_eq(secp_ecdh(a, bad, sab, &err), COMMON_E_CRYPTO); /* off the curve */
    ck_assert_int_eq(secp_ecdh(a, pb, sab, &err), 0);

    uint8_t n1[32] = {1}, n2[32] = {2}, n3[32] = {3}, k1[32], k2[32], k3[32], k4[32];
    bft_frame_key(sab, 7, 0, 1, n1, n2, k1);
    bft_frame_key(sba, 7, 0, 1, n1, n2, k2);
    ck_assert_mem_eq(k1, k2, 32);
    bft_frame_key(sab, 7, 0, 1, n1, n3, k3); /* another link: another key */
    ck_assert_int_ne(memcmp(k1, k3, 32), 0);
    bft_frame_key(sab, 7, 1, 0, n1, n2, k4); /* the other direction */
    ck_assert_int_ne(memcmp(k1, k4, 32), 0);

    uint8_t message[300], t1[BFT_FRAME_TAG_BYTES], t2[BFT_FRAME_TAG_BYTES];
    for (size_t i = 0; i < sizeof message; i++) message[i] = (uint8_t)i;
    bft_frame_tag(k1, 5, message, sizeof message, t1);
    bft_frame_tag(k2, 5, message, sizeof message, t2);
    ck_assert_mem_eq(t1, t2, BFT_FRAME_TAG_BYTES);
    bft_frame_tag(k1, 6, message, sizeof message, t2); /* replayed as another frame */
    ck_assert_int_ne(memcmp(t1, t2, BFT_FRAME_TAG_BYTES), 0);
    bft_frame_tag(k3, 5, message, sizeof message, t2);
    ck_assert_int_ne(memcmp(t1, t2, BFT_FRAME_TAG_BYTES), 0);
    for (size_t i = 0; i < sizeof message; i += 37) {
        message[i] ^= 0x80;
        bft_frame_tag(k1, 5, message, sizeof message, t2);
        ck_assert_int_ne(memcmp(t1, t2, BFT_FRAME_TAG_BYTES), 0);
        message[i] ^= 0x80;
    }
    bft_frame_tag(k1, 5, message, sizeof message - 1, t2); /* cut short */
    ck_assert_int_ne(memcmp(t1, t2, BFT_FRAME_TAG_BYTES), 0);
}
END_TEST

START_TEST(endpoint_parse)
{
    char ip[16];
    uint16_t port = 0;
    struct cohort_error err = {0};
    ck_assert_int_eq(bft_endpoint_parse("127.0.0.1:19000", ip, &port, &err), 0);
    ck_assert_str_eq(ip, "127.0.0.1");
    ck_assert_uint_eq(port, 19000);
    ck_assert_int_eq(bft_endpoint_parse("255.255.255.255:65535", ip, &port, &err), 0);
    ck_assert_str_eq(ip, "255.255.255.255");
    ck_assert_uint_eq(port, 65535);
    ck_assert_int_eq(bft_endpoint_parse("0.0.0.0:1", ip, &port, &err), 0);
    ck_assert_uint_eq(port, 1);

    static const char *const bad[] = {
        "",                     /* empty */
        "127.0.0.1",            /* no port */
        "127.0.0.1:",           /* empty port */
        "127.0.0.1:0",          /* port 0 */
        "127.0.0.1:65536",      /* port too large */
        "127.0.0.1:123456",     /* too many digits */
        "127.0.0.1:80x",        /* trailing bytes */
        "127.0.0.1:+80",        /* sign */
        "127.0.0.1:080",        /* leading zero */
        "127.0.0:80",           /* three octets */
        "127.0.0.1.5:80",       /* five octets */
        "256.0.0.1:80",         /* octet too large */
        "1277.0.0.1:80",        /* four digits */
        "127.00.0.1:80",        /* leading zero in an octet */
        "127..0.1:80",          /* empty octet */
        "-1.0.0.1:80",          /* sign */
        "localhost:80",         /* names are not resolved */
        "[::1]:80",             /* IPv6 */
        " 127.0.0.1:80",        /* space */
        "127.0.0.1:80 ",        /* space */
        "127.0.0.1:8 0",        /* space */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        memset(&err, 0, sizeof err);
        port = 7;
        ck_assert_msg(bft_endpoint_parse(bad[i], ip, &port, &err) == BFT_E_INVALID, "accepted \"%s\"", bad[i]);
        ck_assert_uint_eq(port, 7);
        ck_assert_int_eq(err.code, BFT_E_INVALID);
        ck_assert_msg(strstr(err.message, "endpoint") != NULL, "message for \"%s\": %s", bad[i], err.message);
    }
    ck_assert_int_eq(bft_endpoint_parse(NULL, ip, &port, &err), BFT_E_INVALID);

    /* Longer than BFT_ENDPOINT_MAX - 1 characters, even if it would parse. */
    char longer[BFT_ENDPOINT_MAX + 8];
    memset(longer, '0', sizeof longer);
    memcpy(longer, "1.1.1.1:", 8);
    longer[sizeof longer - 1] = '\0';
    ck_assert_int_eq(bft_endpoint_parse(longer, ip, &port, &err), BFT_E_INVALID);
    ck_assert_ptr_nonnull(strstr(err.message, "longer"));
}
END_TEST

/* Which handshake goes for a new accepted link (node_preauth_victim): a flooding address
   loses its own oldest, and only past the total cap does anyone else's go. */
START_TEST(preauth_victims_per_address)
{
    enum { LINKS = PREAUTH_MAX + 4 };
    static struct link links[LINKS];
    memset(links, 0, sizeof links);
    static const uint8_t flooder[8] = {10, 0, 0, 9}, member[8] = {10, 0, 0, 2}, other[8] = {10, 0, 0, 3};
    /* Newest first: links[0] is the newest. The member's handshake is the oldest of all. */
    int count = 0;
    for (int i = 0; i < PREAUTH_PER_ADDRESS; i++) {
        links[count].preauth = true;
        memcpy(links[count].from, flooder, 8);
        count++;
    }
    links[count].preauth = true;
    memcpy(links[count].from, member, 8);
    count++;
    for (int i = 0; i + 1 < count; i++) links[i].next = &links[i + 1];
    /* One more from the flooder: its own oldest goes, not the member's. */
    ck_assert_ptr_eq(node_preauth_victim(&links[0], (uint32_t)count, flooder), &links[PREAUTH_PER_ADDRESS - 1]);
    /* From another address, with room: nobody goes. */
    ck_assert_ptr_null(node_preauth_victim(&links[0], (uint32_t)count, other));
    /* Authenticated links do not count. */
    links[0].preauth = false;
    ck_assert_ptr_null(node_preauth_victim(&links[0], (uint32_t)count - 1, flooder));
    links[0].preauth = true;
    /* Many addresses, PREAUTH_MAX handshakes in all: the oldest of all goes. */
    count = 0;
    memset(links, 0, sizeof links);
    for (int i = 0; i < PREAUTH_MAX; i++) {
        links[count].preauth = true;
        links[count].from[0] = (uint8_t)(i + 1);
        if (count > 0) links[count - 1].next = &links[count];
        count++;
    }
    ck_assert_ptr_eq(node_preauth_victim(&links[0], (uint32_t)count, other), &links[PREAUTH_MAX - 1]);
    ck_assert_ptr_null(node_preauth_victim(&links[0], (uint32_t)count - 1, other));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("bft_link");
    TCase *tc = tcase_create("bft_link");
    tcase_add_test(tc, frame_length_caps);
    tcase_add_test(tc, hello_layout_and_round_trip);
    tcase_add_test(tc, hello_decode_is_strict);
    tcase_add_test(tc, ident_round_trip_and_strict_decode);
    tcase_add_test(tc, auth_digest_sign_and_verify);
    tcase_add_test(tc, frame_keys_and_tags);
    tcase_add_test(tc, endpoint_parse);
    tcase_add_test(tc, preauth_victims_per_address);
    suite_add_tcase(s, tc);
    return testutil_run_suite(s, false);
}
