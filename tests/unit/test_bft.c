/*
 * test_bft.c - the BFT log's codec (against the byte layouts of docs/bft.md, hashed here
 * independently), certificate verification, the write-ahead log's recovery, and the
 * core's promise never to vote twice after a restart. The seeded simulations are in
 * test_bft_sim.c.
 */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bft/bft.h"
#include "common/bytes.h"
#include "common/keccak.h"
#include "common/secp.h"
#include "testutil.h"

#define INSTANCE 0x0102030405060708ull

static uint8_t keys[4][32];
static struct bft_members members;

static void setup_keys(void)
{
    uint64_t rng = 7;
    members.count = 4;
    for (int i = 0; i < 4; i++) {
        do testutil_rand_bytes(&rng, keys[i], 32);
        while (secp_private_key_check(keys[i], NULL) != 0);
        ck_assert_int_eq(secp_address_from_secret(keys[i], members.address[i], NULL), 0);
    }
}

static void put_be(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++) p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

/* The vote digest as docs/bft.md spells it, built byte by byte here. */
static void spec_vote_digest(uint8_t kind, uint64_t height, const uint8_t hash[32], uint8_t out[32])
{
    uint8_t buf[13 + 1 + 1 + 8 + 41];
    memcpy(buf, "cohort-bft-v1", 13);
    buf[13] = 1; /* version */
    buf[14] = 2; /* VOTE */
    put_be(buf + 15, INSTANCE, 8);
    buf[23] = kind;
    put_be(buf + 24, height, 8);
    memcpy(buf + 32, hash, 32);
    keccak256(buf, sizeof buf, out);
}

START_TEST(hashes_follow_the_spec)
{
    struct bft_vote v = {BFT_VOTE_NOTARIZE, 77, {0}};
    memset(v.hash, 0xab, 32);
    uint8_t ours[32], spec[32];
    bft_vote_digest(INSTANCE, &v, ours);
    spec_vote_digest(1, 77, v.hash, spec);
    ck_assert_mem_eq(ours, spec, 32);

    struct bft_block_header h = {5, 3, 2, {0}, {0}};
    memset(h.parent_hash, 0x11, 32);
    keccak256("abc", 3, h.payload_hash);
    uint8_t buf[16 + 8 + 88];
    memcpy(buf, "cohort-bft-block", 16);
    put_be(buf + 16, INSTANCE, 8);
    put_be(buf + 24, 5, 8);
    put_be(buf + 32, 3, 8);
    put_be(buf + 40, 2, 8);
    memcpy(buf + 48, h.parent_hash, 32);
    memcpy(buf + 80, h.payload_hash, 32);
    keccak256(buf, sizeof buf, spec);
    bft_block_hash(INSTANCE, &h, ours);
    ck_assert_mem_eq(ours, spec, 32);
}
END_TEST

/* A VOTE message laid out by hand and signed with secp_sign decodes and verifies. */
START_TEST(vote_message_by_hand)
{
    setup_keys();
    uint8_t msg[16 + 41 + 65];
    msg[0] = 1;
    msg[1] = 2;
    put_be(msg + 2, INSTANCE, 8);
    put_be(msg + 10, 3, 2);
    put_be(msg + 12, 41, 4);
    msg[16] = 3; /* finalize */
    put_be(msg + 17, 9, 8);
    memset(msg + 25, 0x5c, 32);
    uint8_t digest[32];
    spec_vote_digest(3, 9, msg + 25, digest);
    ck_assert_int_eq(secp_sign(keys[3], digest, msg + 57, NULL), 0);

    struct bft_message *m = malloc(sizeof *m);
    struct cohort_error err = {0};
    ck_assert_int_eq(bft_message_decode(msg, sizeof msg, 1024, m, &err), 0);
    ck_assert_uint_eq(m->type, BFT_MSG_VOTE);
    ck_assert_uint_eq(m->sender, 3);
    ck_assert_uint_eq(m->vote.kind, BFT_VOTE_FINALIZE);
    ck_assert_uint_eq(m->vote.height, 9);
    ck_assert_int_eq(bft_message_check_sender(m, &members, NULL, &err), 0);

    /* Under another member's index the same bytes fail: the address does not match. */
    m->sender = 2;
    ck_assert_int_eq(bft_message_check_sender(m, &members, NULL, &err), BFT_E_SIGNATURE);
    m->sender = 9;
    ck_assert_int_eq(bft_message_check_sender(m, &members, NULL, &err), BFT_E_INVALID);

    /* Any flipped body byte breaks the signature (or the decoding). */
    for (size_t i = 16; i < 57; i++) {
        msg[i] ^= 0x01;
        int rc = bft_message_decode(msg, sizeof msg, 1024, m, &err);
        if (rc == 0) ck_assert_int_ne(bft_message_check_sender(m, &members, NULL, &err), 0);
        msg[i] ^= 0x01;
    }
    free(m);
}
END_TEST

static size_t encode(struct bft_message *m, uint8_t *out, size_t cap)
{
    size_t len = 0;
    struct cohort_error err = {0};
    ck_assert_msg(bft_message_encode(m, keys[m->sender], NULL, out, cap, &len, &err) == 0, "%s", err.message);
    return len;
}

START_TEST(round_trips_and_strictness)
{
    setup_keys();
    static uint8_t buf[8192];
    struct bft_message *m = calloc(1, sizeof *m), *d = calloc(1, sizeof *d);
    struct cohort_error err = {0};
    const uint8_t payload[] = {0, 0, 0, 3, 'a', 'b', 'c'};

    /* PROPOSE */
    m->type = BFT_MSG_PROPOSE;
    m->instance = INSTANCE;
    m->sender = 1;
    m->commit.block = (struct bft_block){{1, 1, 0, {0}, {0}}, payload, sizeof payload};
    size_t len = encode(m, buf, sizeof buf);
    ck_assert_uint_eq(len, 16 + 8 + 8 + 8 + 32 + 4 + sizeof payload + 65);
    ck_assert_int_eq(bft_message_decode(buf, len, 1024, d, &err), 0);
    ck_assert_int_eq(bft_message_check_sender(d, &members, NULL, &err), 0);
    ck_assert_uint_eq(d->commit.block.payload_len, sizeof payload);
    ck_assert_mem_eq(d->commit.block.payload, payload, sizeof payload);
    uint8_t expect[32];
    bft_block_seal(INSTANCE, &m->commit.block, expect);
    ck_assert_mem_eq(d->commit.hash, expect, 32);

    /* Every truncation and one trailing byte are refused; so is a payload past the cap. */
    for (size_t cut = 0; cut < len; cut++) ck_assert_int_ne(bft_message_decode(buf, cut, 1024, d, &err), 0);
    ck_assert_int_eq(bft_message_decode(buf, len, 6, d, &err), BFT_E_RANGE);
    buf[len] = 0;
    ck_assert_int_ne(bft_message_decode(buf, len + 1, 1024, d, &err), 0);
    ck_assert_int_eq(bft_message_decode(buf, BFT_MESSAGE_MAX + 1, 1024, d, &err), BFT_E_RANGE);
    buf[0] = 2;
    ck_assert_int_eq(bft_message_decode(buf, len, 1024, d, &err), BFT_E_INVALID);
    ck_assert_ptr_nonnull(strstr(err.message, "version"));
    buf[0] = 1;
    buf[1] = 9;
    ck_assert_int_eq(bft_message_decode(buf, len, 1024, d, &err), BFT_E_INVALID);
    ck_assert_ptr_nonnull(strstr(err.message, "type"));

    /* CERT with a block, and SYNC_REQUEST */
    memset(m, 0, sizeof *m);
    m->type = BFT_MSG_CERT;
    m->instance = INSTANCE;
    m->sender = 2;
    m->has_block = true;
    m->commit.block = (struct bft_block){{4, 2, 1, {0}, {0}}, payload, sizeof payload};
    m->commit.cert.vote.kind = BFT_VOTE_NOTARIZE;
    m->commit.cert.vote.height = 4;
    m->commit.cert.count = 2;
    m->commit.cert.signer[1] = 3;
    memset(m->commit.cert.vote.hash, 1, 32);
    len = encode(m, buf, sizeof buf);
    ck_assert_int_eq(bft_message_decode(buf, len, 1024, d, &err), 0);
    ck_assert(d->has_block);
    ck_assert_uint_eq(d->commit.cert.count, 2);
    ck_assert_uint_eq(d->commit.cert.signer[1], 3);
    ck_assert_uint_eq(d->commit.block.header.parent_height, 1);
    /* the has-block flag must be 0 or 1 */
    size_t flag_at = 16 + 41 + 2 + 2 * 67;
    ck_assert_uint_eq(buf[flag_at], 1);
    buf[flag_at] = 2;
    ck_assert_int_eq(bft_message_decode(buf, len, 1024, d, &err), BFT_E_INVALID);

    memset(m, 0, sizeof *m);
    m->type = BFT_MSG_SYNC_REQUEST;
    m->instance = INSTANCE;
    m->from_index = 12;
    m->from_height = 30;
    len = encode(m, buf, sizeof buf);
    ck_assert_uint_eq(len, 16 + 16 + 65);
    ck_assert_int_eq(bft_message_decode(buf, len, 1024, d, &err), 0);
    ck_assert_uint_eq(d->from_index, 12);
    ck_assert_uint_eq(d->from_height, 30);

    /* A nullify vote must carry a zero hash. */
    memset(m, 0, sizeof *m);
    m->type = BFT_MSG_VOTE;
    m->instance = INSTANCE;
    m->vote.kind = BFT_VOTE_NULLIFY;
    m->vote.height = 3;
    len = encode(m, buf, sizeof buf);
    ck_assert_int_eq(bft_message_decode(buf, len, 1024, d, &err), 0);
    buf[16 + 9 + 5] = 1;
    ck_assert_int_eq(bft_message_decode(buf, len, 1024, d, &err), BFT_E_INVALID);
    free(m);
    free(d);
}
END_TEST

static void sign_vote(int member, const struct bft_vote *v, uint8_t sig[65])
{
    uint8_t digest[32];
    spec_vote_digest(v->kind, v->height, v->hash, digest);
    ck_assert_int_eq(secp_sign(keys[member], digest, sig, NULL), 0);
}

START_TEST(certificates)
{
    setup_keys();
    struct cohort_error err = {0};
    struct bft_cert c;
    memset(&c, 0, sizeof c);
    c.vote.kind = BFT_VOTE_NOTARIZE;
    c.vote.height = 12;
    memset(c.vote.hash, 0x42, 32);
    ck_assert_uint_eq(bft_quorum(4), 3);
    ck_assert_uint_eq(bft_quorum(7), 5);
    ck_assert_uint_eq(bft_quorum(1), 1);

    for (int i = 0; i < 3; i++) {
        c.signer[i] = (uint16_t)i;
        sign_vote(i, &c.vote, c.signature[i]);
    }
    c.count = 3;
    ck_assert_int_eq(bft_cert_verify(&c, INSTANCE, &members, NULL, &err), 0);

    /* Duplicates count once: members 0, 1, 1 are two signers, not three. */
    struct bft_cert dup = c;
    dup.signer[2] = 1;
    memcpy(dup.signature[2], c.signature[1], 65);
    ck_assert_int_eq(bft_cert_verify(&dup, INSTANCE, &members, NULL, &err), BFT_E_CERT);
    ck_assert_ptr_nonnull(strstr(err.message, "2 distinct signers, 3 needed"));
    /* The same signer three times is one. */
    for (int i = 0; i < 3; i++) {
        dup.signer[i] = 0;
        memcpy(dup.signature[i], c.signature[0], 65);
    }
    ck_assert_int_eq(bft_cert_verify(&dup, INSTANCE, &members, NULL, &err), BFT_E_CERT);
    /* A duplicate on top of a quorum does no harm. */
    dup = c;
    dup.signer[3] = 2;
    memcpy(dup.signature[3], c.signature[2], 65);
    dup.count = 4;
    ck_assert_int_eq(bft_cert_verify(&dup, INSTANCE, &members, NULL, &err), 0);

    /* A forged signature: random bytes. */
    struct bft_cert bad = c;
    uint64_t rng = 99;
    testutil_rand_bytes(&rng, bad.signature[1], 64);
    bad.signature[1][64] = 0;
    ck_assert_int_eq(bft_cert_verify(&bad, INSTANCE, &members, NULL, &err), BFT_E_CERT);
    /* Signatures the checker holds already: a listed one byte-equal to it is taken as
       checked (so the forged bytes pass when the caller says it checked exactly those)... */
    const uint8_t *known[BFT_MEMBERS_MAX] = {NULL};
    known[1] = bad.signature[1];
    ck_assert_int_eq(bft_cert_verify_known(&bad, INSTANCE, &members, NULL, known, &err), 0);
    /* ...and any other is checked as usual. */
    known[1] = c.signature[1];
    ck_assert_int_eq(bft_cert_verify_known(&bad, INSTANCE, &members, NULL, known, &err), BFT_E_CERT);
    known[1] = NULL;
    known[0] = c.signature[0];
    ck_assert_int_eq(bft_cert_verify_known(&c, INSTANCE, &members, NULL, known, &err), 0);
    ck_assert_int_eq(bft_cert_verify_known(&bad, INSTANCE, &members, NULL, known, &err), BFT_E_CERT);
    /* A real signature of member 3 listed as member 1's: the wrong member. */
    bad = c;
    sign_vote(3, &c.vote, bad.signature[1]);
    ck_assert_int_eq(bft_cert_verify(&bad, INSTANCE, &members, NULL, &err), BFT_E_CERT);
    ck_assert_ptr_nonnull(strstr(err.message, "member 1"));
    /* A signer that is not a member. */
    bad = c;
    bad.signer[2] = 4;
    ck_assert_int_eq(bft_cert_verify(&bad, INSTANCE, &members, NULL, &err), BFT_E_CERT);
    /* A signature over another height (a replay) does not count. */
    bad = c;
    struct bft_vote other = c.vote;
    other.height = 13;
    sign_vote(2, &other, bad.signature[2]);
    ck_assert_int_eq(bft_cert_verify(&bad, INSTANCE, &members, NULL, &err), BFT_E_CERT);
    /* Of another log instance neither. */
    ck_assert_int_eq(bft_cert_verify(&c, INSTANCE + 1, &members, NULL, &err), BFT_E_CERT);
    /* And the signature must not be malleated to high s (secp's low-s rule). */
    bad = c;
    bool changed = false;
    /* flip s to n - s by normalizing a copy made high: compute via the library's twin */
    uint8_t high[65];
    memcpy(high, c.signature[0], 65);
    static const uint8_t n_order[32] = {0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
                                        0xFF, 0xFF, 0xFF, 0xFF, 0xFE, 0xBA, 0xAE, 0xDC, 0xE6, 0xAF, 0x48,
                                        0xA0, 0x3B, 0xBF, 0xD2, 0x5E, 0x8C, 0xD0, 0x36, 0x41, 0x41};
    int borrow = 0;
    for (int i = 31; i >= 0; i--) {
        int v = n_order[i] - c.signature[0][32 + i] - borrow;
        borrow = v < 0;
        high[32 + i] = (uint8_t)(v + (borrow ? 256 : 0));
    }
    high[64] ^= 1;
    memcpy(bad.signature[0], high, 65);
    ck_assert_int_eq(bft_cert_verify(&bad, INSTANCE, &members, NULL, &err), BFT_E_CERT);
    ck_assert_int_eq(secp_signature_normalize_s(high, &changed, NULL), 0);
    ck_assert(changed);
    ck_assert_mem_eq(high, c.signature[0], 65); /* it was the same signature, high-s */
}
END_TEST

/* ---- Storage ---- */

struct counted {
    int records;
    uint64_t last_offset;
};

static int count_record(void *arg, uint8_t type, const uint8_t *payload, size_t len, uint64_t offset)
{
    struct counted *c = arg;
    ck_assert_uint_eq(type, BFT_RECORD_SNAPSHOT);
    ck_assert_uint_eq(len, 100);
    ck_assert_uint_eq(payload[0], (uint8_t)c->records);
    c->records++;
    c->last_offset = offset;
    return 0;
}

static char wal_path[256];

static void write_records(int count)
{
    char dir[] = "/tmp/cohort-bft-walXXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(wal_path, sizeof wal_path, "%s/log", dir);
    struct bft_wal *wal = NULL;
    struct cohort_error err = {0};
    ck_assert_int_eq(bft_wal_open(wal_path, NULL, NULL, &wal, &err), 0);
    for (int i = 0; i < count; i++) {
        uint8_t payload[100];
        memset(payload, 0x33, sizeof payload);
        payload[0] = (uint8_t)i;
        ck_assert_int_eq(bft_wal_append(wal, BFT_RECORD_SNAPSHOT, payload, sizeof payload, &err), 0);
    }
    ck_assert_int_eq(bft_wal_sync(wal, &err), 0);
    ck_assert_uint_eq(bft_wal_size(wal), (uint64_t)count * (20 + 100));
    bft_wal_close(wal);
}

static off_t file_size(const char *path)
{
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    return st.st_size;
}

static void poke(const char *path, off_t at, uint8_t x)
{
    int fd = open(path, O_RDWR);
    ck_assert_int_ge(fd, 0);
    uint8_t b;
    ck_assert_int_eq(pread(fd, &b, 1, at), 1);
    b ^= x;
    ck_assert_int_eq(pwrite(fd, &b, 1, at), 1);
    close(fd);
}

static int reopen(struct counted *c, struct cohort_error *err)
{
    memset(c, 0, sizeof *c);
    struct bft_wal *wal = NULL;
    int rc = bft_wal_open(wal_path, count_record, c, &wal, err);
    bft_wal_close(wal);
    return rc;
}

/*
 * A chain of BFT_PATH_MAX + 1 blocks committed at once (the window's gap, closed: docs/bft.md
 * "Why it is live"): the lowest block's proof path holds BFT_PATH_MAX headers. It encodes,
 * decodes into a path that points into the bytes, and verifies; a header changed anywhere
 * along it, or one header more, is refused.
 */
START_TEST(a_commit_proof_with_the_longest_path)
{
    setup_keys();
    struct cohort_error err = {0};
    size_t n = BFT_PATH_MAX;
    struct bft_block_header *chain = calloc(n + 1, sizeof *chain);
    uint8_t *path = malloc((n + 1) * BFT_HEADER_BYTES), hash[32];
    ck_assert_ptr_nonnull(chain);
    ck_assert_ptr_nonnull(path);
    static const uint8_t payload[] = "the lowest block";
    for (size_t i = 0; i <= n; i++) { /* heights 3, 5, 7, ...: each skips one */
        chain[i].height = 3 + 2 * i;
        chain[i].index = 1 + i;
        chain[i].parent_height = i == 0 ? 0 : chain[i - 1].height;
        if (i > 0) bft_block_hash(INSTANCE, &chain[i - 1], chain[i].parent_hash);
        else keccak256(payload, sizeof payload, chain[0].payload_hash);
        memset(chain[i].payload_hash, (int)(i & 0xff), i == 0 ? 0 : 32);
        if (i > 0) bft_header_encode(&chain[i], path + (i - 1) * BFT_HEADER_BYTES);
    }
    struct bft_commit *c = calloc(1, sizeof *c), *back = calloc(1, sizeof *back);
    c->block = (struct bft_block){chain[0], payload, sizeof payload};
    c->path_count = (uint16_t)n;
    c->path = path;
    c->cert.vote.kind = BFT_VOTE_FINALIZE;
    c->cert.vote.height = chain[n].height;
    bft_block_hash(INSTANCE, &chain[n], c->cert.vote.hash);
    for (int i = 0; i < 3; i++) {
        c->cert.signer[i] = (uint16_t)i;
        sign_vote(i, &c->cert.vote, c->cert.signature[i]);
    }
    c->cert.count = 3;
    ck_assert_int_eq(bft_commit_verify(c, INSTANCE, &members, NULL, &err), 0);
    bft_block_hash(INSTANCE, &chain[0], hash);
    ck_assert_mem_eq(c->hash, hash, 32);

    uint8_t *bytes = malloc(BFT_WAL_RECORD_MAX);
    size_t len = 0;
    ck_assert_int_eq(bft_commit_encode(c, bytes, BFT_WAL_RECORD_MAX, &len, &err), 0);
    ck_assert_uint_gt(len, n * BFT_HEADER_BYTES);
    ck_assert_int_eq(bft_commit_decode(bytes, len, INSTANCE, 1024, back, &err), 0);
    ck_assert_uint_eq(back->path_count, n);
    ck_assert(back->path >= bytes && back->path + n * BFT_HEADER_BYTES <= bytes + len); /* into the bytes */
    struct bft_block_header h;
    bft_commit_path_header(back, (uint32_t)n - 1, &h);
    ck_assert_uint_eq(h.height, chain[n].height);
    ck_assert_int_eq(bft_commit_verify(back, INSTANCE, &members, NULL, &err), 0);

    /* One header changed, deep in the path: its successor no longer follows. */
    size_t at = (size_t)(back->path - bytes) + 5000 * BFT_HEADER_BYTES + 60;
    bytes[at] ^= 1;
    ck_assert_int_eq(bft_commit_verify(back, INSTANCE, &members, NULL, &err), BFT_E_INVALID);
    ck_assert_ptr_nonnull(strstr(err.message, "path header 5001 does not follow"));
    bytes[at] ^= 1;
    /* The last header changed: the path no longer ends at the finalized block. */
    bytes[(size_t)(back->path - bytes) + (n - 1) * BFT_HEADER_BYTES + 70] ^= 1;
    ck_assert_int_eq(bft_commit_verify(back, INSTANCE, &members, NULL, &err), BFT_E_INVALID);
    ck_assert_ptr_nonnull(strstr(err.message, "does not end at the finalized block"));

    /* One header more than BFT_PATH_MAX (the encoder asserts; by hand): refused by the decoder, with the count. */
    size_t count_at = (size_t)(back->path - bytes) - 2;
    bytes[count_at] = (uint8_t)((n + 1) >> 8);
    bytes[count_at + 1] = (uint8_t)(n + 1);
    memcpy(bytes + len, path, BFT_HEADER_BYTES);
    len += BFT_HEADER_BYTES;
    ck_assert_int_eq(bft_commit_decode(bytes, len, INSTANCE, 1024, back, &err), BFT_E_RANGE);
    ck_assert_ptr_nonnull(strstr(err.message, "exceeds 8192"));
    free(bytes);
    free(c);
    free(back);
    free(path);
    free(chain);
}
END_TEST

START_TEST(wal_round_trip_and_torn_tail)
{
    struct cohort_error err = {0};
    struct counted c;
    write_records(5);
    ck_assert_int_eq(reopen(&c, &err), 0);
    ck_assert_int_eq(c.records, 5);

    /* A write cut off in the payload of the last record: dropped, file truncated. */
    ck_assert_int_eq(truncate(wal_path, 4 * 120 + 70), 0);
    ck_assert_int_eq(reopen(&c, &err), 0);
    ck_assert_int_eq(c.records, 4);
    ck_assert_int_eq(file_size(wal_path), 4 * 120);

    /* A write cut off in the header. */
    write_records(5);
    ck_assert_int_eq(truncate(wal_path, 4 * 120 + 7), 0);
    ck_assert_int_eq(reopen(&c, &err), 0);
    ck_assert_int_eq(c.records, 4);
    ck_assert_int_eq(file_size(wal_path), 4 * 120);

    /* The last record whole but damaged: its checksum catches it. */
    write_records(5);
    poke(wal_path, 4 * 120 + 20 + 50, 0x80);
    ck_assert_int_eq(reopen(&c, &err), 0);
    ck_assert_int_eq(c.records, 4);
    ck_assert_int_eq(file_size(wal_path), 4 * 120);

    /* The last whole record damaged, then the first bytes of the next header: the next
       append cut off, after an earlier page of the last one was lost. Torn, not corruption. */
    write_records(5);
    poke(wal_path, 3 * 120 + 20 + 50, 0x80);
    ck_assert_int_eq(truncate(wal_path, 4 * 120 + 9), 0);
    ck_assert_int_eq(reopen(&c, &err), 0);
    ck_assert_int_eq(c.records, 3);
    ck_assert_int_eq(file_size(wal_path), 3 * 120);

    /* In preallocated space (zeros to the end of the file): the last record's payload half
       written, then its header half written. Both are torn writes, not corruption. */
    write_records(5);
    ck_assert_int_eq(truncate(wal_path, 1 << 20), 0);
    {
        int fd = open(wal_path, O_RDWR);
        ck_assert_int_ge(fd, 0);
        static const uint8_t zeros[60];
        ck_assert_int_eq(pwrite(fd, zeros, sizeof zeros, 4 * 120 + 20 + 40), (ssize_t)sizeof zeros);
        close(fd);
    }
    ck_assert_int_eq(reopen(&c, &err), 0);
    ck_assert_int_eq(c.records, 4);
    ck_assert_int_eq(file_size(wal_path), 4 * 120);
    write_records(5);
    ck_assert_int_eq(truncate(wal_path, 1 << 20), 0);
    {
        int fd = open(wal_path, O_RDWR);
        ck_assert_int_ge(fd, 0);
        static const uint8_t zeros[110];
        ck_assert_int_eq(pwrite(fd, zeros, sizeof zeros, 4 * 120 + 10), (ssize_t)sizeof zeros);
        close(fd);
    }
    ck_assert_int_eq(reopen(&c, &err), 0);
    ck_assert_int_eq(c.records, 4);
    ck_assert_int_eq(file_size(wal_path), 4 * 120);

    /* Zero bytes after the last record (space the file system allocated). */
    write_records(3);
    ck_assert_int_eq(truncate(wal_path, 3 * 120 + 4096), 0);
    ck_assert_int_eq(reopen(&c, &err), 0);
    ck_assert_int_eq(c.records, 3);
    ck_assert_int_eq(file_size(wal_path), 3 * 120);

    /* Appending after a recovery continues on a record boundary. */
    struct bft_wal *wal = NULL;
    ck_assert_int_eq(bft_wal_open(wal_path, NULL, NULL, &wal, &err), 0);
    uint8_t payload[100] = {3};
    ck_assert_int_eq(bft_wal_append(wal, BFT_RECORD_SNAPSHOT, payload, sizeof payload, &err), 0);
    ck_assert_int_eq(bft_wal_sync(wal, &err), 0);
    bft_wal_close(wal);
    ck_assert_int_eq(reopen(&c, &err), 0);
    ck_assert_int_eq(c.records, 4);
}
END_TEST

START_TEST(wal_corruption_in_the_middle)
{
    struct cohort_error err = {0};
    struct counted c;
    /* A damaged payload with records after it: an error naming the offset, nothing truncated. */
    write_records(5);
    off_t before = file_size(wal_path); /* the records and the space preallocated after them */
    ck_assert_int_ge(before, 5 * 120);
    poke(wal_path, 2 * 120 + 20 + 10, 0x01);
    ck_assert_int_eq(reopen(&c, &err), BFT_E_CORRUPT);
    ck_assert_ptr_nonnull(strstr(err.message, "offset 240"));
    ck_assert_int_eq(file_size(wal_path), before);
    /* A damaged header in the middle too. */
    write_records(5);
    poke(wal_path, 1 * 120 + 9, 0x04);
    ck_assert_int_eq(reopen(&c, &err), BFT_E_CORRUPT);
    ck_assert_ptr_nonnull(strstr(err.message, "offset 120"));
    /* crc32c's check value (RFC 3720): "123456789" -> 0xE3069283. */
    ck_assert_uint_eq(bft_crc32c((const uint8_t *)"123456789", 9), 0xE3069283u);
    /* Every length and alignment against the bitwise definition (the SSE4.2 path takes 8
       bytes at a time, then the tail). */
    uint8_t buf[300];
    for (size_t i = 0; i < sizeof buf; i++) buf[i] = (uint8_t)(i * 131 + 7);
    for (size_t off = 0; off < 8; off++)
        for (size_t len = 0; len + off <= sizeof buf; len += (len < 40 ? 1 : 37)) {
            uint32_t want = 0xFFFFFFFFu;
            for (size_t i = 0; i < len; i++) {
                want ^= buf[off + i];
                for (int k = 0; k < 8; k++) want = (want & 1) ? (want >> 1) ^ 0x82F63B78u : want >> 1;
            }
            ck_assert_uint_eq(bft_crc32c(buf + off, len), want ^ 0xFFFFFFFFu);
        }
}
END_TEST

/* ---- The core keeps its word across a restart ---- */

static struct bft_core *make_core_window(uint32_t self, uint32_t window, uint32_t idle_delay_ms, uint32_t fill_wait_ms)
{
    struct bft_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.instance = INSTANCE;
    cfg.members = members;
    cfg.self = self;
    memcpy(cfg.private_key, keys[self], 32);
    cfg.payload_max_bytes = 1024;
    cfg.window_heights = window;
    cfg.timeout_ms = 100;
    cfg.idle_delay_ms = idle_delay_ms;
    cfg.fill_wait_ms = fill_wait_ms;
    struct cohort_error err = {0};
    struct bft_core *core = bft_core_create(&cfg, &err);
    ck_assert_msg(core != NULL, "%s", err.message);
    return core;
}

static struct bft_core *make_core_waiting(uint32_t self, uint32_t idle_delay_ms, uint32_t fill_wait_ms)
{
    return make_core_window(self, 8, idle_delay_ms, fill_wait_ms);
}

static struct bft_core *make_core_idle(uint32_t self, uint32_t idle_delay_ms)
{
    return make_core_waiting(self, idle_delay_ms, 0);
}

static struct bft_core *make_core(uint32_t self)
{
    return make_core_idle(self, 0);
}

/* Records (a member's disk in a test, or what bft_core_own_records hands out), copied. */
struct records {
    int count;
    uint8_t type[256];
    size_t len[256];
    uint8_t *bytes[256];
};

static void records_add(struct records *d, uint8_t type, const uint8_t *bytes, size_t len)
{
    ck_assert_int_lt(d->count, 256);
    d->type[d->count] = type;
    d->len[d->count] = len;
    d->bytes[d->count] = malloc(len);
    memcpy(d->bytes[d->count], bytes, len);
    d->count++;
}

static void records_free(struct records *d)
{
    for (int i = 0; i < d->count; i++) free(d->bytes[i]);
    d->count = 0;
}

/* bft_core_own_records' callback into a struct records. */
static int collect_own(void *arg, uint8_t type, const uint8_t *payload, size_t len, uint64_t offset)
{
    ck_assert_uint_eq(offset, 0);
    records_add(arg, type, payload, len);
    return 0;
}

static int count_votes(const struct bft_action *a, size_t n, uint8_t kind)
{
    int votes = 0;
    struct bft_message *m = malloc(sizeof *m);
    for (size_t i = 0; i < n; i++) {
        if (a[i].type != BFT_ACTION_BROADCAST && a[i].type != BFT_ACTION_SEND) continue;
        if (bft_message_decode(a[i].bytes, a[i].len, 1024, m, NULL) == 0 && m->type == BFT_MSG_VOTE &&
            m->vote.kind == kind)
            votes++;
    }
    free(m);
    return votes;
}

START_TEST(core_never_votes_twice_after_restart)
{
    setup_keys();
    struct cohort_error err = {0};
    static uint8_t buf[4096];
    /* Member 1 leads height 1. Two different proposals for height 1. */
    struct bft_message *m = calloc(1, sizeof *m);
    m->type = BFT_MSG_PROPOSE;
    m->instance = INSTANCE;
    m->sender = 1;
    const uint8_t pa[] = {0, 0, 0, 1, 'a'}, pb[] = {0, 0, 0, 1, 'b'};
    m->commit.block = (struct bft_block){{1, 1, 0, {0}, {0}}, pa, sizeof pa};
    size_t len_a = encode(m, buf, sizeof buf);
    static uint8_t prop_a[4096];
    memcpy(prop_a, buf, len_a);
    m->commit.block.payload = pb;
    size_t len_b = encode(m, buf, sizeof buf);

    /* Member 2 votes for block a, persisting first. */
    struct bft_core *core = make_core(2);
    const struct bft_action *acts;
    size_t n = 0;
    struct bft_event start = {BFT_EVENT_START, NULL, 0, 0, 0, 0, false};
    ck_assert_int_eq(bft_core_step(core, &start, &acts, &n, &err), 0);
    struct bft_event ev = {BFT_EVENT_MESSAGE, prop_a, len_a, 0, 0, 0, false};
    ck_assert_int_eq(bft_core_step(core, &ev, &acts, &n, &err), 0);
    ck_assert_int_eq(count_votes(acts, n, BFT_VOTE_NOTARIZE), 1);
    /* The block's BLOCK record, then the VOTE record, both before the vote leaves. */
    size_t block_at = n, persist_at = n, vote_at = n, block_len = 0;
    static uint8_t record[BFT_VOTE_RECORD_BYTES], block_record[256];
    for (size_t i = 0; i < n; i++) {
        if (acts[i].type == BFT_ACTION_PERSIST && acts[i].record_type == BFT_RECORD_BLOCK && block_at == n) {
            block_at = i;
            ck_assert_uint_le(acts[i].len, sizeof block_record);
            block_len = acts[i].len;
            memcpy(block_record, acts[i].bytes, block_len);
        }
        if (acts[i].type == BFT_ACTION_PERSIST && acts[i].record_type == BFT_RECORD_VOTE && persist_at == n) {
            persist_at = i;
            ck_assert_uint_eq(acts[i].len, BFT_VOTE_RECORD_BYTES);
            memcpy(record, acts[i].bytes, BFT_VOTE_RECORD_BYTES);
        }
        if (acts[i].type == BFT_ACTION_BROADCAST && vote_at == n) vote_at = i;
    }
    ck_assert_uint_lt(block_at, persist_at);
    ck_assert_uint_lt(persist_at, vote_at);
    /* The BLOCK record is block a; cut off or with a byte more, it is refused. */
    struct bft_block got;
    uint8_t got_hash[32];
    ck_assert_int_eq(bft_block_decode(block_record, block_len, INSTANCE, 1024, &got, got_hash, &err), 0);
    ck_assert_uint_eq(got.header.height, 1);
    ck_assert_uint_eq(got.payload_len, sizeof pa);
    ck_assert_mem_eq(got.payload, pa, sizeof pa);
    ck_assert_int_eq(bft_block_decode(block_record, block_len - 1, INSTANCE, 1024, &got, got_hash, &err), BFT_E_INVALID);
    ck_assert_int_eq(bft_block_decode(block_record, block_len + 1, INSTANCE, 1024, &got, got_hash, &err), BFT_E_INVALID);
    ck_assert_int_eq(bft_block_decode(block_record, block_len, INSTANCE, 0, &got, got_hash, &err), BFT_E_RANGE);
    bft_core_destroy(core);

    /* Restarted from its records, it holds block a again: a compaction copies both records. */
    core = make_core(2);
    ck_assert_int_eq(bft_core_restore(core, BFT_RECORD_BLOCK, block_record, block_len, &err), 0);
    ck_assert_int_eq(bft_core_restore(core, BFT_RECORD_VOTE, record, sizeof record, &err), 0);
    struct records own = {0};
    ck_assert_int_eq(bft_core_own_records(core, collect_own, &own), 0);
    ck_assert_int_eq(own.count, 2);
    ck_assert_uint_eq(own.type[0], BFT_RECORD_BLOCK);
    ck_assert_uint_eq(own.len[0], block_len);
    ck_assert_mem_eq(own.bytes[0], block_record, block_len);
    ck_assert_uint_eq(own.type[1], BFT_RECORD_VOTE);
    ck_assert_mem_eq(own.bytes[1], record, sizeof record);
    records_free(&own);
    /* And it refuses to vote for block b at height 1. */
    ck_assert_int_eq(bft_core_step(core, &start, &acts, &n, &err), 0);
    struct bft_event evb = {BFT_EVENT_MESSAGE, buf, len_b, 0, 0, 0, false};
    ck_assert_int_eq(bft_core_step(core, &evb, &acts, &n, &err), 0);
    ck_assert_int_eq(count_votes(acts, n, BFT_VOTE_NOTARIZE), 0);
    /* Its timer re-sends the vote it did cast, for block a, and nullifies. */
    struct bft_event timer = {BFT_EVENT_TIMER, NULL, 0, 1, 0, 0, false};
    ck_assert_int_eq(bft_core_step(core, &timer, &acts, &n, &err), 0);
    ck_assert_int_eq(count_votes(acts, n, BFT_VOTE_NOTARIZE), 1);
    ck_assert_int_eq(count_votes(acts, n, BFT_VOTE_NULLIFY), 1);
    bft_core_destroy(core);

    /* A fresh member (no record) does vote for b: the refusal above came from the record. */
    core = make_core(2);
    ck_assert_int_eq(bft_core_step(core, &start, &acts, &n, &err), 0);
    ck_assert_int_eq(bft_core_step(core, &evb, &acts, &n, &err), 0);
    ck_assert_int_eq(count_votes(acts, n, BFT_VOTE_NOTARIZE), 1);
    bft_core_destroy(core);
    free(m);
}
END_TEST

/*
 * Snapshots at the core: a compacted WAL's BASE record sets the tip (only first), the own
 * votes a compaction copies come back, and a JUMP (a fetched snapshot) moves the tip only
 * forward.
 */
START_TEST(core_base_votes_and_jump)
{
    setup_keys();
    struct cohort_error err = {0};
    uint8_t hash[32];
    memset(hash, 0x5a, sizeof hash);
    uint8_t base[BFT_BASE_RECORD_BYTES];
    bft_base_encode(7, 12, hash, base);
    struct bft_core *core = make_core(2);
    ck_assert_int_eq(bft_core_restore(core, BFT_RECORD_BASE, base, sizeof base - 1, &err), BFT_E_CORRUPT);
    ck_assert_int_eq(bft_core_restore(core, BFT_RECORD_BASE, base, sizeof base, &err), 0);
    struct bft_core_status st;
    bft_core_get_status(core, &st);
    ck_assert_uint_eq(st.committed_index, 7);
    ck_assert_uint_eq(st.committed_height, 12);
    ck_assert_mem_eq(st.committed_hash, hash, 32);
    ck_assert_int_eq(bft_core_restore(core, BFT_RECORD_BASE, base, sizeof base, &err), BFT_E_CORRUPT);
    ck_assert_ptr_nonnull(strstr(err.message, "after the log began"));
    uint8_t bad[BFT_BASE_RECORD_BYTES];
    bft_base_encode(9, 3, hash, bad); /* a height below the index cannot be */
    struct bft_core *other = make_core(2);
    ck_assert_int_eq(bft_core_restore(other, BFT_RECORD_BASE, bad, sizeof bad, &err), BFT_E_CORRUPT);
    bft_core_destroy(other);

    /* Started above the base: its timer nullifies height 13, a vote own_records reports. */
    const struct bft_action *acts;
    size_t n = 0;
    struct bft_event start = {BFT_EVENT_START, NULL, 0, 0, 0, 0, false};
    ck_assert_int_eq(bft_core_step(core, &start, &acts, &n, &err), 0);
    struct bft_event timer = {BFT_EVENT_TIMER, NULL, 0, 13, 0, 0, false};
    ck_assert_int_eq(bft_core_step(core, &timer, &acts, &n, &err), 0);
    ck_assert_int_eq(count_votes(acts, n, BFT_VOTE_NULLIFY), 1);
    struct records own = {0};
    ck_assert_int_eq(bft_core_own_records(core, collect_own, &own), 0);
    ck_assert_int_eq(own.count, 1); /* no block was voted for */
    ck_assert_uint_eq(own.type[0], BFT_RECORD_VOTE);
    ck_assert_uint_eq(own.len[0], BFT_VOTE_RECORD_BYTES);
    ck_assert_uint_eq(be_get(own.bytes[0], 8), 13);
    ck_assert_uint_eq(own.bytes[0][8], 2); /* nullified */

    /* A restarted core with that vote record does not notarize at 13 (it nullified it). */
    struct bft_core *again = make_core(2);
    ck_assert_int_eq(bft_core_restore(again, BFT_RECORD_BASE, base, sizeof base, &err), 0);
    ck_assert_int_eq(bft_core_restore(again, BFT_RECORD_VOTE, own.bytes[0], BFT_VOTE_RECORD_BYTES, &err), 0);
    struct records again_own = {0};
    ck_assert_int_eq(bft_core_own_records(again, collect_own, &again_own), 0);
    ck_assert_int_eq(again_own.count, 1);
    ck_assert_mem_eq(again_own.bytes[0], own.bytes[0], BFT_VOTE_RECORD_BYTES);
    records_free(&own);
    records_free(&again_own);
    bft_core_destroy(again);

    /* JUMP: forward only, and a malformed one is refused. */
    uint8_t ahead[32];
    memset(ahead, 0x77, sizeof ahead);
    struct bft_event jump = {BFT_EVENT_JUMP, ahead, 32, 40, 0, 30, false};
    ck_assert_int_eq(bft_core_step(core, &jump, &acts, &n, &err), 0);
    bft_core_get_status(core, &st);
    ck_assert_uint_eq(st.committed_index, 30);
    ck_assert_uint_eq(st.committed_height, 40);
    ck_assert_uint_eq(st.height, 41);
    ck_assert_mem_eq(st.committed_hash, ahead, 32);
    bool asks = false; /* and it asks the others for the blocks after it */
    struct bft_message *m = malloc(sizeof *m);
    for (size_t i = 0; i < n; i++)
        if (acts[i].type == BFT_ACTION_BROADCAST && bft_message_decode(acts[i].bytes, acts[i].len, 1024, m, NULL) == 0 &&
            m->type == BFT_MSG_SYNC_REQUEST && m->from_index == 31)
            asks = true;
    free(m);
    ck_assert(asks);
    struct bft_event back = {BFT_EVENT_JUMP, hash, 32, 12, 0, 7, false};
    ck_assert_int_eq(bft_core_step(core, &back, &acts, &n, &err), 0);
    bft_core_get_status(core, &st);
    ck_assert_uint_eq(st.committed_index, 30);
    struct bft_event broken = {BFT_EVENT_JUMP, ahead, 31, 40, 0, 30, false};
    ck_assert_int_eq(bft_core_step(core, &broken, &acts, &n, &err), BFT_E_INVALID);
    bft_core_destroy(core);
}
END_TEST

/* An unreachable leader: the height's timer is cut to a sixteenth, and only for its heights. */
START_TEST(core_unreachable_leader_times_out_soon)
{
    setup_keys();
    struct cohort_error err = {0};
    struct bft_core *core = make_core(2);
    const struct bft_action *acts;
    size_t n = 0;
    struct bft_event down = {BFT_EVENT_PEER, NULL, 0, 0, 0, 1, false};
    ck_assert_int_eq(bft_core_step(core, &down, &acts, &n, &err), 0); /* before START: remembered */
    ck_assert_uint_eq(n, 0);
    struct bft_event start = {BFT_EVENT_START, NULL, 0, 0, 0, 0, false};
    ck_assert_int_eq(bft_core_step(core, &start, &acts, &n, &err), 0);
    uint32_t delay = 0;
    for (size_t i = 0; i < n; i++)
        if (acts[i].type == BFT_ACTION_SET_TIMER && acts[i].timer == BFT_TIMER_HEIGHT) delay = acts[i].delay_ms;
    ck_assert_uint_eq(delay, 100 / 16); /* height 1's leader is member 1, unreachable */
    struct bft_event up = {BFT_EVENT_PEER, NULL, 0, 0, 0, 1, true};
    ck_assert_int_eq(bft_core_step(core, &up, &acts, &n, &err), 0);
    struct bft_event timer = {BFT_EVENT_TIMER, NULL, 0, 1, 0, 0, false};
    ck_assert_int_eq(bft_core_step(core, &timer, &acts, &n, &err), 0);
    delay = 0;
    for (size_t i = 0; i < n; i++)
        if (acts[i].type == BFT_ACTION_SET_TIMER && acts[i].timer == BFT_TIMER_HEIGHT) delay = acts[i].delay_ms;
    ck_assert_uint_eq(delay, 200); /* reachable again: the full timeout, doubled after one firing */
    struct bft_event self = {BFT_EVENT_PEER, NULL, 0, 0, 0, 2, false}, other = {BFT_EVENT_PEER, NULL, 0, 0, 0, 9, false};
    ck_assert_int_eq(bft_core_step(core, &self, &acts, &n, &err), BFT_E_INVALID);
    ck_assert_int_eq(bft_core_step(core, &other, &acts, &n, &err), BFT_E_INVALID);
    bft_core_destroy(core);
}
END_TEST

/* A nullify vote of member at height, signed, stepped into core. */
static void step_vote(struct bft_core *core, uint16_t member, uint64_t height)
{
    struct bft_message *m = calloc(1, sizeof *m);
    m->type = BFT_MSG_VOTE;
    m->instance = INSTANCE;
    m->sender = member;
    m->vote.kind = BFT_VOTE_NULLIFY;
    m->vote.height = height;
    uint8_t bytes[512];
    size_t len = encode(m, bytes, sizeof bytes);
    free(m);
    const struct bft_action *acts;
    size_t n = 0;
    struct cohort_error err = {0};
    struct bft_event e = {BFT_EVENT_MESSAGE, bytes, len, 0, 0, 0, false};
    ck_assert_int_eq(bft_core_step(core, &e, &acts, &n, &err), 0);
}

/* How far behind a member is: what f+1 members signed at, not what one member claims. */
START_TEST(a_member_behind_the_others_says_so)
{
    setup_keys();
    struct bft_core *core = make_core(0);
    const struct bft_action *acts;
    size_t n = 0;
    struct cohort_error err = {0};
    struct bft_event start = {BFT_EVENT_START, NULL, 0, 0, 0, 0, false};
    ck_assert_int_eq(bft_core_step(core, &start, &acts, &n, &err), 0);
    struct bft_core_status st;
    bft_core_get_status(core, &st);
    ck_assert_uint_eq(st.behind, 0);
    step_vote(core, 3, 5000); /* one member alone (it may lie): not enough */
    bft_core_get_status(core, &st);
    ck_assert_uint_eq(st.behind, 0);
    step_vote(core, 2, 400); /* two (f + 1): one of them is honest, at 400 or above */
    bft_core_get_status(core, &st);
    ck_assert_uint_eq(st.behind, 400 - st.height);
    step_vote(core, 1, 4000);
    bft_core_get_status(core, &st);
    ck_assert_uint_eq(st.behind, 4000 - st.height);
    bft_core_destroy(core);
}
END_TEST

/* Four cores on a perfect network commit the same entries, with proofs anyone can check. */
/* A FIFO of the messages in flight between four test cores. */
enum { QMAX = 4096 };
struct netq {
    uint8_t *bytes[QMAX];
    size_t len[QMAX];
    int to[QMAX];
    size_t head, tail;
};

/* Queues action a (any type; only SEND and BROADCAST send) of core who for its recipients. */
static void netq_send(struct netq *q, int who, const struct bft_action *a)
{
    if (a->type != BFT_ACTION_SEND && a->type != BFT_ACTION_BROADCAST) return;
    for (int to = 0; to < 4; to++) {
        if (to == who || (a->type == BFT_ACTION_SEND && (uint32_t)to != a->peer)) continue;
        ck_assert_uint_lt(q->tail - q->head, QMAX);
        q->bytes[q->tail % QMAX] = malloc(a->len);
        memcpy(q->bytes[q->tail % QMAX], a->bytes, a->len);
        q->len[q->tail % QMAX] = a->len;
        q->to[q->tail % QMAX] = to;
        q->tail++;
    }
}

/* Takes the oldest message: its recipient, and a MESSAGE event whose bytes the caller frees. */
static int netq_take(struct netq *q, struct bft_event *ev)
{
    ck_assert_uint_ne(q->head, q->tail);
    size_t at = q->head++ % QMAX;
    *ev = (struct bft_event){BFT_EVENT_MESSAGE, q->bytes[at], q->len[at], 0, 0, 0, false};
    return q->to[at];
}

static void netq_clear(struct netq *q)
{
    while (q->head != q->tail) free(q->bytes[q->head++ % QMAX]);
}

START_TEST(four_cores_commit)
{
    setup_keys();
    struct bft_core *cores[4];
    for (uint32_t i = 0; i < 4; i++) cores[i] = make_core(i);
    struct cohort_error err = {0};
    static struct netq q;
    uint64_t committed[4] = {0};
    static uint8_t hashes[4][64][32];
    struct bft_commit *check = malloc(sizeof *check);
    for (int step = 0; step < 20000 && (committed[0] < 10 || committed[1] < 10 || committed[2] < 10 || committed[3] < 10);
         step++) {
        int who;
        struct bft_event ev;
        if (step < 4) {
            who = step;
            ev = (struct bft_event){BFT_EVENT_START, NULL, 0, 0, 0, 0, false};
            const char entry[] = "entry";
            struct bft_event sub = {BFT_EVENT_SUBMIT, (const uint8_t *)entry, 5, 0, 0, 0, false};
            const struct bft_action *a;
            size_t n;
            ck_assert_int_eq(bft_core_step(cores[who], &sub, &a, &n, &err), 0);
        } else {
            who = netq_take(&q, &ev);
        }
        const struct bft_action *a;
        size_t n;
        ck_assert_int_eq(bft_core_step(cores[who], &ev, &a, &n, &err), 0);
        if (ev.type == BFT_EVENT_MESSAGE) free((void *)ev.bytes);
        for (size_t i = 0; i < n; i++) {
            if (a[i].type == BFT_ACTION_COMMIT) {
                uint64_t index = a[i].commit->block.header.index;
                ck_assert_uint_eq(index, committed[who] + 1);
                ck_assert_uint_lt(index, 64);
                memcpy(check, a[i].commit, sizeof *check);
                ck_assert_msg(bft_commit_verify(check, INSTANCE, &members, NULL, &err) == 0, "%s", err.message);
                memcpy(hashes[who][index], a[i].commit->hash, 32);
                committed[who] = index;
            }
            netq_send(&q, who, &a[i]);
        }
    }
    for (int i = 0; i < 4; i++) {
        ck_assert_uint_ge(committed[i], 10);
        for (uint64_t k = 1; k <= 10; k++) ck_assert_mem_eq(hashes[i][k], hashes[0][k], 32);
        struct bft_core_status st;
        bft_core_get_status(cores[i], &st);
        ck_assert_uint_eq(st.messages_refused, 0);
        bft_core_destroy(cores[i]);
    }
    netq_clear(&q);
    free(check);
}
END_TEST

/* How many of the entries of a committed block's payload are `want`. */
static int entries_equal(const struct bft_commit *c, const char *want)
{
    uint32_t off = 0, len;
    const uint8_t *e;
    int count = 0;
    while (bft_payload_next(c->block.payload, c->block.payload_len, &off, &e, &len, NULL) == 1)
        count += len == strlen(want) && memcmp(e, want, len) == 0;
    return count;
}

/* Steps core `who` with ev and queues what it sends. */
static void step_and_queue(struct bft_core **cores, int who, const struct bft_event *ev, struct netq *q)
{
    const struct bft_action *a;
    size_t n;
    struct cohort_error err = {0};
    ck_assert_msg(bft_core_step(cores[who], ev, &a, &n, &err) == 0, "%s", err.message);
    for (size_t k = 0; k < n; k++) netq_send(q, who, &a[k]);
}

/* Four cores whose leaders wait 50 ms for entries, started; returns the first height's leader. */
static int start_four_idle_cores(struct bft_core *cores[4], struct netq *q)
{
    setup_keys();
    for (uint32_t i = 0; i < 4; i++) cores[i] = make_core_idle(i, 50);
    for (int i = 0; i < 4; i++) {
        struct bft_event start = {BFT_EVENT_START, NULL, 0, 0, 0, 0, false};
        step_and_queue(cores, i, &start, q);
    }
    struct bft_core_status st;
    bft_core_get_status(cores[0], &st);
    return (int)(st.height % 4);
}

/*
 * A copy of an entry that comes to a member after the proposal that carries it (a forwarded
 * entry that was late) is not proposed again by that member: the log holds it once.
 */
START_TEST(a_copy_of_a_proposed_entry_is_not_proposed_again)
{
    struct bft_core *cores[4];
    struct cohort_error err = {0};
    static struct netq q;
    const struct bft_action *a;
    size_t n;
    int leader = start_four_idle_cores(cores, &q), other = (leader + 1) % 4;
    struct bft_core_status st;
    struct bft_event late = {BFT_EVENT_SUBMIT, (const uint8_t *)"late", 4, 0, 0, 0, false};
    struct bft_event next = {BFT_EVENT_SUBMIT, (const uint8_t *)"next", 4, 0, 0, 0, false};
    step_and_queue(cores, leader, &late, &q);
    bool copied = false;
    int late_seen[4] = {0}, next_seen[4] = {0};
    for (int step = 0; step < 20000 && q.head != q.tail; step++) {
        struct bft_event ev;
        int who = netq_take(&q, &ev);
        bool proposal = ev.len > 1 && ev.bytes[1] == BFT_MSG_PROPOSE;
        ck_assert_int_eq(bft_core_step(cores[who], &ev, &a, &n, &err), 0);
        free((void *)ev.bytes);
        for (size_t k = 0; k < n; k++) {
            if (a[k].type == BFT_ACTION_COMMIT) {
                late_seen[who] += entries_equal(a[k].commit, "late");
                next_seen[who] += entries_equal(a[k].commit, "next");
            }
            netq_send(&q, who, &a[k]);
        }
        if (!copied && proposal && who == other) {
            /* The copy comes now, and one more entry, so that this member leads on. */
            copied = true;
            step_and_queue(cores, other, &late, &q);
            bft_core_get_status(cores[other], &st);
            ck_assert_uint_eq(st.entries_in_held_blocks, 1);
            step_and_queue(cores, other, &next, &q);
        }
    }
    ck_assert(copied);
    for (int i = 0; i < 4; i++) {
        ck_assert_msg(late_seen[i] == 1 && next_seen[i] == 1, "member %d committed late %d times, next %d times", i,
                      late_seen[i], next_seen[i]);
        bft_core_destroy(cores[i]);
    }
    netq_clear(&q);
}
END_TEST

/*
 * An entry pending at the next leader, whose block came to it inside a certificate and not
 * as the proposal (under load a member reads its links in any order, and the certificate
 * can come first), is not proposed again: before the fix the next leader proposed it on top
 * of the block that carried it, and a chain executed its batches twice.
 */
START_TEST(an_entry_of_a_block_taken_from_a_certificate_is_not_proposed_again)
{
    struct bft_core *cores[4];
    struct cohort_error err = {0};
    static struct netq q;
    const struct bft_action *a;
    size_t n;
    int leader = start_four_idle_cores(cores, &q), next_leader = (leader + 1) % 4;
    struct bft_event entry = {BFT_EVENT_SUBMIT, (const uint8_t *)"entry", 5, 0, 0, 0, false};
    struct bft_event more = {BFT_EVENT_SUBMIT, (const uint8_t *)"more", 4, 0, 0, 0, false};
    /* The next leader holds the entry too (forwarded to it), and one of its own. */
    step_and_queue(cores, next_leader, &entry, &q);
    step_and_queue(cores, next_leader, &more, &q);
    step_and_queue(cores, leader, &entry, &q);
    bool withheld = false;
    int entry_seen[4] = {0}, more_seen[4] = {0};
    for (int step = 0; step < 20000 && q.head != q.tail; step++) {
        struct bft_event ev;
        int who = netq_take(&q, &ev);
        if (!withheld && who == next_leader && ev.len > 1 && ev.bytes[1] == BFT_MSG_PROPOSE) {
            withheld = true; /* lost: the block comes with its notarization */
            free((void *)ev.bytes);
            continue;
        }
        ck_assert_int_eq(bft_core_step(cores[who], &ev, &a, &n, &err), 0);
        free((void *)ev.bytes);
        for (size_t k = 0; k < n; k++) {
            if (a[k].type == BFT_ACTION_COMMIT) {
                entry_seen[who] += entries_equal(a[k].commit, "entry");
                more_seen[who] += entries_equal(a[k].commit, "more");
            }
            netq_send(&q, who, &a[k]);
        }
    }
    ck_assert(withheld);
    for (int i = 0; i < 4; i++) {
        ck_assert_msg(entry_seen[i] == 1 && more_seen[i] == 1, "member %d committed the entry %d times, the other %d times",
                      i, entry_seen[i], more_seen[i]);
        bft_core_destroy(cores[i]);
    }
    netq_clear(&q);
}
END_TEST

/*
 * Four cores on a reliable network with entries always pending; counts the proposals, and
 * those whose parent the proposer had not committed when it proposed (a parent only
 * notarized). Timers never fire, so with pacing every proposal waits for its parent's
 * finalization, which always comes here.
 */
static void run_proposals(uint32_t idle_delay_ms, int *proposals, int *on_uncommitted)
{
    struct bft_core *cores[4];
    for (uint32_t i = 0; i < 4; i++) cores[i] = make_core_idle(i, idle_delay_ms);
    struct cohort_error err = {0};
    static struct netq q;
    struct bft_message *m = malloc(sizeof *m);
    *proposals = *on_uncommitted = 0;
    for (int step = 0; step < 6000; step++) {
        int who;
        struct bft_event ev;
        if (step < 4) {
            who = step;
            ev = (struct bft_event){BFT_EVENT_START, NULL, 0, 0, 0, 0, false};
        } else {
            who = netq_take(&q, &ev);
        }
        if (step % 3 == 0) { /* a fresh entry at every member, now and then */
            char entry[32];
            int n = snprintf(entry, sizeof entry, "e%d", step);
            for (int i = 0; i < 4; i++) {
                struct bft_event sub = {BFT_EVENT_SUBMIT, (const uint8_t *)entry, (size_t)n, 0, 0, 0, false};
                const struct bft_action *a;
                size_t count;
                int rc = bft_core_step(cores[i], &sub, &a, &count, &err);
                ck_assert(rc == 0 || rc == BFT_E_FULL);
                for (size_t k = 0; k < count; k++) netq_send(&q, i, &a[k]);
            }
        }
        const struct bft_action *a;
        size_t n = 0;
        ck_assert_int_eq(bft_core_step(cores[who], &ev, &a, &n, &err), 0);
        if (ev.type == BFT_EVENT_MESSAGE) free((void *)ev.bytes);
        struct bft_core_status st;
        bft_core_get_status(cores[who], &st);
        for (size_t i = 0; i < n; i++) {
            if (a[i].type == BFT_ACTION_BROADCAST && bft_message_decode(a[i].bytes, a[i].len, 1024, m, NULL) == 0 &&
                m->type == BFT_MSG_PROPOSE) {
                (*proposals)++;
                if (m->commit.block.header.index > st.committed_index + 1) (*on_uncommitted)++;
            }
            netq_send(&q, who, &a[i]);
        }
    }
    netq_clear(&q);
    free(m);
    for (int i = 0; i < 4; i++) bft_core_destroy(cores[i]);
}

/* Pacing (docs/bft.md): a leader proposes on a finalized parent, unless its idle delay passes. */
/* The next event of a run of four cores: START for each first, then the queue; -1 once it is empty. */
static int next_event(int step, struct netq *q, struct bft_event *ev)
{
    if (step < 4) {
        *ev = (struct bft_event){BFT_EVENT_START, NULL, 0, 0, 0, 0, false};
        return step;
    }
    return q->head != q->tail ? netq_take(q, ev) : -1;
}

/* Is this message a finalize vote? */
static bool is_finalize_vote(const uint8_t *bytes, size_t len)
{
    struct bft_message *m = malloc(sizeof *m);
    bool yes = bft_message_decode(bytes, len, 1024, m, NULL) == 0 && m->type == BFT_MSG_VOTE &&
               m->vote.kind == BFT_VOTE_FINALIZE;
    free(m);
    return yes;
}

/* Four cores with a window of 2 heights and 1 KiB payloads, started by the caller. */
static void make_window_of_two(struct bft_core *cores[4])
{
    for (uint32_t i = 0; i < 4; i++) cores[i] = make_core_window(i, 2, 0, 0);
}

/*
 * The window's gap, closed (docs/bft.md "Why it is live"): four members with a window of 2
 * heights notarize 150 blocks in a row while every finalize vote is lost, so none is
 * finalized and none nullified (no timer runs). The window slides on, keeping each block
 * below it; with a store as small as the window it stopped at the window's edge. Then the
 * finalize votes go through again: one finalization commits the whole chain at once, each
 * block with a proof whose path runs up to the finalized block.
 */
START_TEST(a_chain_longer_than_the_window_commits_at_once)
{
    setup_keys();
    struct bft_core *cores[4];
    make_window_of_two(cores);
    struct cohort_error err = {0};
    static struct netq q;
    struct bft_commit *check = malloc(sizeof *check);
    uint64_t committed[4] = {0}, most_at_once[4] = {0}, longest_path = 0;
    bool drop_finalize = true;
    uint64_t dropped = 0;
    for (int step = 0; step < 200000; step++) {
        struct bft_event ev;
        int who = next_event(step, &q, &ev);
        if (who < 0) break;
        if (drop_finalize && is_finalize_vote(ev.bytes, ev.len)) {
            free((void *)ev.bytes);
            dropped++;
            continue;
        }
        const struct bft_action *a;
        size_t n;
        ck_assert_int_eq(bft_core_step(cores[who], &ev, &a, &n, &err), 0);
        if (ev.type == BFT_EVENT_MESSAGE) free((void *)ev.bytes);
        uint64_t commits = 0;
        for (size_t i = 0; i < n; i++) {
            if (a[i].type == BFT_ACTION_COMMIT) {
                ck_assert(!drop_finalize);
                uint64_t index = a[i].commit->block.header.index;
                ck_assert_uint_eq(index, committed[who] + 1);
                memcpy(check, a[i].commit, sizeof *check);
                ck_assert_msg(bft_commit_verify(check, INSTANCE, &members, NULL, &err) == 0, "%s", err.message);
                if (check->path_count > longest_path) longest_path = check->path_count;
                committed[who] = index;
                commits++;
            }
            netq_send(&q, who, &a[i]);
        }
        if (commits > most_at_once[who]) most_at_once[who] = commits;
        struct bft_core_status st;
        bft_core_get_status(cores[0], &st);
        if (drop_finalize && st.height > 150) {
            /* 150 heights, none finalized: every member keeps the chain below its window. */
            for (int i = 0; i < 4; i++) {
                bft_core_get_status(cores[i], &st);
                ck_assert_uint_eq(st.committed_index, 0);
                ck_assert_uint_ge(st.kept_blocks, 140);
            }
            drop_finalize = false;
        }
        if (!drop_finalize && committed[0] > 150 && committed[1] > 150 && committed[2] > 150 && committed[3] > 150) break;
    }
    ck_assert(!drop_finalize);
    ck_assert_uint_gt(dropped, 300);
    for (int i = 0; i < 4; i++) {
        ck_assert_uint_gt(committed[i], 150);
        ck_assert_uint_ge(most_at_once[i], 140); /* the chain, in one step */
        struct bft_core_status st;
        bft_core_get_status(cores[i], &st);
        ck_assert_uint_eq(st.messages_refused, 0);
        ck_assert_uint_lt(st.kept_blocks, 4);
        bft_core_destroy(cores[i]);
    }
    ck_assert_uint_ge(longest_path, 140);
    netq_clear(&q);
    free(check);
}
END_TEST

/*
 * The store of kept blocks is bounded in bytes (BFT_WINDOW_MAX x payload_max_bytes: 64 KiB
 * here): four members with a window of 2 whose blocks each carry a 700-byte entry, with
 * every finalize vote lost, stop once the store is full (nothing committed, no crash, no
 * unbounded growth). When their height timers fire and the votes go through again, the
 * finalizations come, the chain commits, and the window slides on.
 */
START_TEST(a_full_store_of_kept_blocks_waits_for_a_commit)
{
    setup_keys();
    struct bft_core *cores[4];
    make_window_of_two(cores);
    struct cohort_error err = {0};
    static struct netq q;
    uint64_t committed[4] = {0}, entry_no = 0;
    bool drop_finalize = true;
    uint8_t entry[700];
    for (int step = 0; step < 100000; step++) {
        struct bft_event ev;
        int who = next_event(step, &q, &ev);
        if (who >= 0 && drop_finalize && is_finalize_vote(ev.bytes, ev.len)) {
            free((void *)ev.bytes);
            continue;
        }
        if (who < 0 && drop_finalize) {
            /* Everyone stopped: the store is full. Check, then let the votes through and fire
               every member's height timer (re-sending its finalize votes below cur). */
            for (int i = 0; i < 4; i++) {
                struct bft_core_status st;
                bft_core_get_status(cores[i], &st);
                ck_assert_uint_eq(st.committed_index, 0);
                /* As many blocks of one framed entry (704 bytes) as 64 KiB holds: the byte bound. */
                ck_assert_uint_eq(st.kept_blocks, BFT_WINDOW_MAX * 1024 / (4 + sizeof entry));
                ck_assert_uint_lt(st.height, 100);
            }
            drop_finalize = false;
            for (int i = 0; i < 4; i++) {
                struct bft_core_status st;
                bft_core_get_status(cores[i], &st);
                struct bft_event t = {BFT_EVENT_TIMER, NULL, 0, st.height, BFT_TIMER_HEIGHT, 0, false};
                const struct bft_action *a;
                size_t n;
                ck_assert_int_eq(bft_core_step(cores[i], &t, &a, &n, &err), 0);
                for (size_t k = 0; k < n; k++) netq_send(&q, i, &a[k]);
            }
            continue;
        }
        if (who < 0) break;
        /* Each member has a fresh 700-byte entry pending: every block is nearly full. */
        memset(entry, 0, sizeof entry);
        be_put(entry, ++entry_no, 8);
        struct bft_event sub = {BFT_EVENT_SUBMIT, entry, sizeof entry, 0, 0, 0, false};
        const struct bft_action *a;
        size_t n;
        (void)bft_core_step(cores[who], &sub, &a, &n, &err); /* BFT_E_FULL: one is pending already */
        for (size_t i = 0; i < n; i++) netq_send(&q, who, &a[i]);
        ck_assert_int_eq(bft_core_step(cores[who], &ev, &a, &n, &err), 0);
        if (ev.type == BFT_EVENT_MESSAGE) free((void *)ev.bytes);
        for (size_t i = 0; i < n; i++) {
            if (a[i].type == BFT_ACTION_COMMIT) {
                ck_assert(!drop_finalize);
                ck_assert_uint_eq(a[i].commit->block.header.index, committed[who] + 1);
                committed[who]++;
            }
            netq_send(&q, who, &a[i]);
        }
        if (!drop_finalize && committed[0] > 100 && committed[1] > 100 && committed[2] > 100 && committed[3] > 100) break;
    }
    ck_assert(!drop_finalize);
    for (int i = 0; i < 4; i++) {
        ck_assert_uint_gt(committed[i], 100); /* past the stop: the window slid on after the commit */
        bft_core_destroy(cores[i]);
    }
    netq_clear(&q);
}
END_TEST

START_TEST(leaders_pace_proposals_on_a_finalized_parent)
{
    setup_keys();
    int proposals, early;
    run_proposals(50, &proposals, &early);
    ck_assert_int_ge(proposals, 20);
    ck_assert_int_eq(early, 0);
    /* Without an idle delay there is no pacing: some leaders propose on a parent only notarized. */
    run_proposals(0, &proposals, &early);
    ck_assert_int_ge(proposals, 20);
    ck_assert_int_gt(early, 0);
}
END_TEST

/* What fill_steps saw: the proposals (height, entries) and the fill timers armed. */
struct fill_seen {
    int proposals;
    uint64_t height[64];
    int entries[64];
    int fill_timers;
};

/* Steps core who with ev, routes what it sends, and notes proposals and fill timers. */
static void fill_step(struct bft_core **cores, int who, const struct bft_event *ev, struct netq *q,
                      struct fill_seen *seen)
{
    struct cohort_error err = {0};
    struct bft_message *m = malloc(sizeof *m);
    const struct bft_action *a;
    size_t n = 0;
    int rc = bft_core_step(cores[who], ev, &a, &n, &err);
    ck_assert_msg(rc == 0, "%s", err.message);
    for (size_t i = 0; i < n; i++) {
        if (a[i].type == BFT_ACTION_SET_TIMER && a[i].timer == BFT_TIMER_FILL) seen->fill_timers++;
        if (a[i].type == BFT_ACTION_BROADCAST && bft_message_decode(a[i].bytes, a[i].len, 1024, m, NULL) == 0 &&
            m->type == BFT_MSG_PROPOSE && seen->proposals < 64) {
            uint32_t off = 0, len;
            const uint8_t *entry;
            int count = 0;
            while (bft_payload_next(m->commit.block.payload, m->commit.block.payload_len, &off, &entry, &len, NULL) == 1)
                count++;
            seen->height[seen->proposals] = m->commit.block.header.height;
            seen->entries[seen->proposals++] = count;
        }
        netq_send(q, who, &a[i]);
    }
    free(m);
}

/* Delivers every message until the network is quiet (timers never fire). */
static void fill_drain(struct bft_core **cores, struct netq *q, struct fill_seen *seen)
{
    while (q->head != q->tail) {
        struct bft_event ev;
        int who = netq_take(q, &ev);
        fill_step(cores, who, &ev, q, seen);
        free((void *)ev.bytes);
    }
}

/* Submits count entries of 40 bytes, tagged tag, at every member. */
static void fill_submit(struct bft_core **cores, struct netq *q, struct fill_seen *seen, char tag, int count)
{
    for (int k = 0; k < count; k++) {
        char entry[41];
        snprintf(entry, sizeof entry, "%c%039d", tag, k);
        struct bft_event sub = {BFT_EVENT_SUBMIT, (const uint8_t *)entry, 40, 0, 0, 0, false};
        for (int i = 0; i < 4; i++) fill_step(cores, i, &sub, q, seen);
    }
}

/* The entries of the proposal at height h, or -1 if none was seen. */
static int fill_proposed(const struct fill_seen *seen, uint64_t h)
{
    for (int i = 0; i < seen->proposals; i++)
        if (seen->height[i] == h) return seen->entries[i];
    return -1;
}

/*
 * Filling (docs/bft.md "Pacing"): a leader whose parent is finalized waits, up to its fill
 * timer, until its block carries about as many bytes as the parent (3/4 of them), beyond
 * what was pending when it began to wait. Leaders are h mod 4; timers fire only when told.
 */
START_TEST(a_leader_waits_for_its_block_to_fill)
{
    setup_keys();
    for (int fill = 0; fill < 2; fill++) {
        struct bft_core *cores[4];
        for (uint32_t i = 0; i < 4; i++) cores[i] = make_core_waiting(i, 50, fill ? 5 : 0);
        static struct netq q;
        struct fill_seen seen = {0};
        /* Height 1 (no parent block to match): 8 entries submitted before the start. */
        fill_submit(cores, &q, &seen, 'a', 8);
        for (int i = 0; i < 4; i++) {
            struct bft_event start = {BFT_EVENT_START, NULL, 0, 0, 0, 0, false};
            fill_step(cores, i, &start, &q, &seen);
        }
        fill_drain(cores, &q, &seen);
        int first = fill_proposed(&seen, 1);
        ck_assert_int_eq(first, 8);
        struct bft_core_status st;
        bft_core_get_status(cores[2], &st);
        ck_assert_uint_eq(st.committed_index, 1);

        /* Height 2: its parent carried `first` entries; two arrive. */
        fill_submit(cores, &q, &seen, 'b', 2);
        fill_drain(cores, &q, &seen);
        if (!fill) { /* no wait: proposed at the first entry */
            ck_assert_int_eq(fill_proposed(&seen, 2), 1);
            ck_assert_int_eq(seen.fill_timers, 0);
        } else {
            ck_assert_int_eq(fill_proposed(&seen, 2), -1); /* 2 of 8 entries' bytes: under 3/4 */
            ck_assert_int_ge(seen.fill_timers, 1);
            /* More: proposed once it reaches 3/4 of the parent, the rest left for height 3. */
            fill_submit(cores, &q, &seen, 'c', first);
            fill_drain(cores, &q, &seen);
            int second = fill_proposed(&seen, 2);
            ck_assert_int_eq(second, first * 3 / 4);
            /* Height 3: one more entry, under 3/4 of its parent beyond the rest, until the
               fill timer fires; then proposed with everything pending. */
            fill_submit(cores, &q, &seen, 'd', 1);
            fill_drain(cores, &q, &seen);
            ck_assert_int_eq(fill_proposed(&seen, 3), -1);
            struct bft_event fired = {BFT_EVENT_TIMER, NULL, 0, 3, BFT_TIMER_FILL, 0, false};
            fill_step(cores, 3, &fired, &q, &seen);
            fill_drain(cores, &q, &seen);
            ck_assert_int_eq(fill_proposed(&seen, 3), 2 + first + 1 - second);
        }
        netq_clear(&q);
        for (int i = 0; i < 4; i++) bft_core_destroy(cores[i]);
    }
}
END_TEST

/*
 * Every member crashes after a block is notarized everywhere and before any member saw
 * it finalized (the finalize votes were lost with the crash). Restarted from their WALs,
 * the members must still commit it: each voted for it, so each holds it in a BLOCK record.
 * Before BLOCK records existed, nobody held the block after the restart, its notarization
 * (durable in the votes) made every later proposal extend it, and the log stopped for good.
 */
START_TEST(four_cores_keep_a_notarized_block_through_a_crash_of_all)
{
    setup_keys();
    struct cohort_error err = {0};
    struct bft_core *cores[4];
    static struct records disks[4];
    static struct netq q;
    uint64_t timer_at[4] = {0}, committed[4] = {0}, fired = 0;
    uint8_t first_hash[4][32];
    const struct bft_event start = {BFT_EVENT_START, NULL, 0, 0, 0, 0, false};

    for (int boot = 0; boot < 2; boot++) {
        for (uint32_t i = 0; i < 4; i++) {
            cores[i] = make_core(i);
            for (int r = 0; r < disks[i].count; r++)
                ck_assert_int_eq(bft_core_restore(cores[i], disks[i].type[r], disks[i].bytes[r], disks[i].len[r], &err),
                                 0);
        }
        for (int step = 0; step < 20000; step++) {
            int who;
            struct bft_event ev;
            if (step < 4) {
                who = step;
                ev = start;
                if (boot == 0) {
                    const char entry[] = "entry";
                    struct bft_event sub = {BFT_EVENT_SUBMIT, (const uint8_t *)entry, 5, 0, 0, 0, false};
                    const struct bft_action *a;
                    size_t n;
                    ck_assert_int_eq(bft_core_step(cores[who], &sub, &a, &n, &err), 0);
                }
            } else if (q.head != q.tail) {
                who = netq_take(&q, &ev);
            } else {
                ck_assert_int_eq(boot, 1); /* the first boot stops before its messages run out */
                who = (int)(fired++ % 4); /* a quiet network: the members' timers fire, in turn */
                ev = (struct bft_event){BFT_EVENT_TIMER, NULL, 0, timer_at[who], BFT_TIMER_HEIGHT, 0, false};
            }
            const struct bft_action *a;
            size_t n;
            ck_assert_int_eq(bft_core_step(cores[who], &ev, &a, &n, &err), 0);
            if (ev.type == BFT_EVENT_MESSAGE) free((void *)ev.bytes);
            for (size_t i = 0; i < n; i++) {
                if (a[i].type == BFT_ACTION_PERSIST) records_add(&disks[who], a[i].record_type, a[i].bytes, a[i].len);
                if (a[i].type == BFT_ACTION_SET_TIMER && a[i].timer == BFT_TIMER_HEIGHT) timer_at[who] = a[i].height;
                if (a[i].type == BFT_ACTION_COMMIT) {
                    ck_assert_int_eq(boot, 1);
                    committed[who] = a[i].commit->block.header.index;
                    if (committed[who] == 1) memcpy(first_hash[who], a[i].commit->hash, 32);
                }
                /* The first boot loses every finalize vote in transit. */
                bool sends = a[i].type == BFT_ACTION_SEND || a[i].type == BFT_ACTION_BROADCAST;
                if (boot == 0 && sends && is_finalize_vote(a[i].bytes, a[i].len)) continue;
                netq_send(&q, who, &a[i]);
            }
            if (boot == 0) {
                /* Crash everyone once every member holds height 1's notarization. */
                bool all = true;
                for (int i = 0; i < 4; i++) {
                    struct bft_core_status st;
                    bft_core_get_status(cores[i], &st);
                    all = all && st.height >= 2;
                    ck_assert_uint_eq(st.committed_index, 0);
                }
                if (all) break;
            } else if (committed[0] >= 1 && committed[1] >= 1 && committed[2] >= 1 && committed[3] >= 1) {
                break;
            }
        }
        netq_clear(&q); /* lost in the crash */
        for (int i = 0; i < 4; i++) bft_core_destroy(cores[i]);
    }
    for (int i = 0; i < 4; i++) {
        ck_assert_msg(committed[i] >= 1, "member %d committed nothing after the restart", i);
        ck_assert_mem_eq(first_hash[i], first_hash[0], 32);
        bool had_block = false;
        for (int r = 0; r < disks[i].count; r++) had_block = had_block || disks[i].type[r] == BFT_RECORD_BLOCK;
        ck_assert(had_block);
        records_free(&disks[i]);
    }
}
END_TEST

/* ---- An idle log rests (docs/bft.md "Idle") ---- */

/* A tiny timed driver for four cores: messages take 1 ms, timers fire when due. */
enum { TQ_MAX = 8192 };
struct timed_event {
    uint64_t at;
    int to;
    struct bft_event ev;
    uint8_t *bytes;
};
struct timed {
    struct bft_core *cores[4];
    struct timed_event q[TQ_MAX];
    size_t count;
    uint64_t now;
    uint64_t timer_token[4][BFT_TIMERS], token_of[TQ_MAX];
    /* what the cores did: */
    uint64_t records, sends, commits, timers;
    uint64_t committed[4];
    unsigned cut; /* members whose messages are lost, both ways */
    int watch;    /* a member whose signed proposals and votes are noted (-1: none) */
    uint64_t watch_low, watch_high; /* the lowest and highest height it signed one at */
};

/* Notes the height of a proposal or vote that member who signed (t->watch). */
static void timed_watch(struct timed *t, int who, const uint8_t *bytes, size_t len)
{
    if (who != t->watch) return;
    struct bft_message *m = malloc(sizeof *m);
    if (bft_message_decode(bytes, len, 1024, m, NULL) == 0 && m->sender == who &&
        (m->type == BFT_MSG_PROPOSE || m->type == BFT_MSG_VOTE)) {
        uint64_t h = m->type == BFT_MSG_VOTE ? m->vote.height : m->commit.block.header.height;
        if (h < t->watch_low) t->watch_low = h;
        if (h > t->watch_high) t->watch_high = h;
    }
    free(m);
}

static void timed_push(struct timed *t, uint64_t at, int to, struct bft_event ev, uint8_t *bytes, uint64_t token)
{
    ck_assert_uint_lt(t->count, TQ_MAX);
    size_t i = t->count++;
    while (i > 0 && t->q[i - 1].at > at) { /* sorted by time, stable */
        t->q[i] = t->q[i - 1];
        t->token_of[i] = t->token_of[i - 1];
        i--;
    }
    t->q[i] = (struct timed_event){at, to, ev, bytes};
    t->token_of[i] = token;
}

static void timed_step(struct timed *t, int who, const struct bft_event *ev)
{
    const struct bft_action *a;
    size_t n = 0;
    struct cohort_error err = {0};
    int rc = bft_core_step(t->cores[who], ev, &a, &n, &err);
    ck_assert_msg(rc == 0, "%s", err.message);
    for (size_t i = 0; i < n; i++) {
        switch (a[i].type) {
        case BFT_ACTION_PERSIST: t->records++; break;
        case BFT_ACTION_COMMIT:
            t->records++;
            t->commits++;
            ck_assert_uint_eq(a[i].commit->block.header.index, t->committed[who] + 1);
            t->committed[who]++;
            break;
        case BFT_ACTION_SET_TIMER: {
            t->timers++;
            struct bft_event te = {BFT_EVENT_TIMER, NULL, 0, a[i].height, a[i].timer, 0, false};
            timed_push(t, t->now + a[i].delay_ms, who, te, NULL, ++t->timer_token[who][a[i].timer]);
            break;
        }
        case BFT_ACTION_SEND:
        case BFT_ACTION_BROADCAST:
        case BFT_ACTION_SYNC_SERVE:
            t->sends++;
            if (a[i].type == BFT_ACTION_SYNC_SERVE) break; /* nothing committed is missing here */
            timed_watch(t, who, a[i].bytes, a[i].len);
            for (int to = 0; to < 4; to++) {
                if (to == who || (a[i].type == BFT_ACTION_SEND && (uint32_t)to != a[i].peer)) continue;
                if ((t->cut >> to & 1) || (t->cut >> who & 1)) continue;
                uint8_t *copy = malloc(a[i].len);
                memcpy(copy, a[i].bytes, a[i].len);
                struct bft_event me = {BFT_EVENT_MESSAGE, copy, a[i].len, 0, 0, 0, false};
                timed_push(t, t->now + 1, to, me, copy, 0);
            }
            break;
        }
    }
}

/* Runs every event due up to `until` (ms, not before now). */
static void timed_run(struct timed *t, uint64_t until)
{
    ck_assert_uint_ge(until, t->now);
    while (t->count > 0 && t->q[0].at <= until) {
        struct timed_event e = t->q[0];
        uint64_t token = t->token_of[0];
        t->count--;
        memmove(&t->q[0], &t->q[1], t->count * sizeof t->q[0]);
        memmove(&t->token_of[0], &t->token_of[1], t->count * sizeof t->token_of[0]);
        t->now = e.at;
        bool stale = e.ev.type == BFT_EVENT_TIMER && token != t->timer_token[e.to][e.ev.timer];
        if (!stale) timed_step(t, e.to, &e.ev);
        free(e.bytes);
    }
    t->now = until;
}

/* An entry submitted at every member, as a node's entry forwarding does. */
static void timed_submit(struct timed *t, const char *entry)
{
    struct bft_event sub = {BFT_EVENT_SUBMIT, (const uint8_t *)entry, strlen(entry), 0, 0, 0, false};
    for (int i = 0; i < 4; i++) timed_step(t, i, &sub);
}

static struct timed *timed_start(uint32_t idle_delay_ms)
{
    struct timed *t = calloc(1, sizeof *t);
    t->watch = -1;
    t->watch_low = UINT64_MAX;
    for (uint32_t i = 0; i < 4; i++) t->cores[i] = make_core_idle(i, idle_delay_ms);
    struct bft_event start = {BFT_EVENT_START, NULL, 0, 0, 0, 0, false};
    for (int i = 0; i < 4; i++) timed_step(t, i, &start);
    return t;
}

static void timed_free(struct timed *t)
{
    for (size_t i = 0; i < t->count; i++) free(t->q[i].bytes);
    for (int i = 0; i < 4; i++) bft_core_destroy(t->cores[i]);
    free(t);
}

/*
 * With an idle delay, a log with nothing to order rests: after its last entries are
 * committed it proposes nothing, arms no timer, sends nothing and writes nothing, for as
 * long as no entry comes; an entry wakes it and is committed. Without an idle delay the
 * leaders propose empty blocks at once, and the log never rests (what a config cluster did
 * before: 96 blocks and as many fsyncs in 5 s without a write).
 */
static bool timed_stalled(struct timed *t, int who, uint64_t *waiting)
{
    struct bft_core_status st;
    bft_core_get_status(t->cores[who], &st);
    if (waiting) *waiting = st.waiting_ms;
    return st.stalled;
}

/*
 * A member with entries to order and no commit says it is stalled once it has waited
 * stall_ms (30 x timeout_ms here: 3 s) while a quorum of members is reachable; not while the
 * driver reports too few members reachable (no quorum: waiting is expected), and no longer
 * after the next commit.
 */
START_TEST(a_stalled_member_says_so)
{
    setup_keys();
    struct timed *t = timed_start(10);
    timed_submit(t, "first");
    timed_run(t, 1000);
    ck_assert_uint_eq(t->committed[0], 1);
    t->cut = 0xc; /* members 2 and 3 are cut off, unbeknownst to the others: no quorum forms */
    timed_submit(t, "second");
    timed_run(t, t->now + 2000);
    uint64_t waiting = 0;
    ck_assert(!timed_stalled(t, 0, &waiting));
    ck_assert_uint_gt(waiting, 0);
    ck_assert_uint_lt(waiting, 3000);
    timed_run(t, t->now + 3000);
    ck_assert(timed_stalled(t, 0, &waiting));
    ck_assert(timed_stalled(t, 1, NULL));
    ck_assert_uint_ge(waiting, 3000);
    /* The driver learns that the links to 2 and 3 are down: too few members to stall. */
    for (int i = 0; i < 2; i++)
        for (uint64_t m = 2; m < 4; m++) {
            struct bft_event peer = {BFT_EVENT_PEER, NULL, 0, 0, 0, m, false};
            timed_step(t, i, &peer);
        }
    timed_run(t, t->now + 2000);
    ck_assert(!timed_stalled(t, 0, NULL));
    /* They are back: the entry commits, and the wait is over. */
    t->cut = 0;
    for (int i = 0; i < 2; i++)
        for (uint64_t m = 2; m < 4; m++) {
            struct bft_event peer = {BFT_EVENT_PEER, NULL, 0, 0, 0, m, true};
            timed_step(t, i, &peer);
        }
    timed_run(t, t->now + 5000);
    for (int i = 0; i < 4; i++) {
        ck_assert_uint_eq(t->committed[i], 2);
        ck_assert(!timed_stalled(t, i, &waiting));
        ck_assert_uint_eq(waiting, 0);
    }
    struct bft_core_status st;
    bft_core_get_status(t->cores[0], &st);
    ck_assert_uint_ge(st.stalls, 1); /* (again when the links came back, before the commit) */
    timed_free(t);
}
END_TEST

/*
 * A member that lost its WAL but kept its key (docs/bft.md "Rejoining") follows the log
 * without signing anything below vote_from, so it cannot contradict what it signed before;
 * the other three go on without it (its turns as leader time out), and once the log passes
 * vote_from it proposes and votes again.
 */
START_TEST(a_member_signs_nothing_below_vote_from)
{
    setup_keys();
    struct timed *t = timed_start(10);
    bft_core_set_vote_from(t->cores[3], 9);
    t->watch = 3;
    static char entries[16][16];
    for (int k = 0; k < 16; k++) {
        snprintf(entries[k], sizeof entries[k], "entry-%d", k);
        timed_submit(t, entries[k]);
        timed_run(t, t->now + 500);
    }
    for (int i = 0; i < 4; i++) ck_assert_uint_eq(t->committed[i], t->committed[0]);
    ck_assert_uint_ge(t->committed[0], 10);
    ck_assert_uint_ge(t->watch_low, 9);
    ck_assert_uint_ne(t->watch_high, 0); /* it signs again past vote_from */
    struct bft_core_status st;
    bft_core_get_status(t->cores[3], &st);
    ck_assert_uint_eq(st.vote_from, 9);
    ck_assert_uint_gt(st.height, 9);
    timed_free(t);
}
END_TEST

START_TEST(an_idle_log_rests)
{
    setup_keys();
    struct timed *t = timed_start(10);
    timed_run(t, 10000); /* started with nothing to order: a few requests for sync, then nothing */
    ck_assert_uint_eq(t->commits, 0);
    ck_assert_uint_eq(t->records, 0);
    ck_assert_uint_eq(t->count, 0);
    for (int i = 0; i < 5; i++) {
        char entry[16];
        snprintf(entry, sizeof entry, "write %d", i);
        timed_submit(t, entry);
        timed_run(t, t->now + 30);
    }
    timed_run(t, t->now + 2000);
    for (int i = 0; i < 4; i++) ck_assert_uint_ge(t->committed[i], 1);
    uint64_t records = t->records, sends = t->sends, commits = t->commits, timers = t->timers;
    timed_run(t, t->now + 60000); /* a minute of nothing */
    ck_assert_uint_eq(t->records, records);
    ck_assert_uint_eq(t->sends, sends);
    ck_assert_uint_eq(t->commits, commits);
    ck_assert_uint_eq(t->timers, timers);
    ck_assert_uint_eq(t->count, 0); /* no timer armed, nothing in flight */
    /* An entry wakes it: committed at every member, and the log rests again. */
    uint64_t before = t->committed[0];
    timed_submit(t, "wake up");
    timed_run(t, t->now + 2000);
    for (int i = 0; i < 4; i++) ck_assert_uint_eq(t->committed[i], before + 1);
    records = t->records;
    timed_run(t, t->now + 60000);
    ck_assert_uint_eq(t->records, records);
    for (int i = 0; i < 4; i++) { /* resting is no stall */
        struct bft_core_status st;
        bft_core_get_status(t->cores[i], &st);
        ck_assert(!st.stalled);
        ck_assert_uint_eq(st.waiting_ms, 0);
        ck_assert_uint_eq(st.stalls, 0);
    }
    timed_free(t);

    /* Without an idle delay, empty blocks follow each other at network speed. */
    t = timed_start(0);
    timed_run(t, 2000);
    ck_assert_uint_gt(t->commits, 100);
    timed_free(t);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("bft");
    TCase *tc = tcase_create("bft");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, hashes_follow_the_spec);
    tcase_add_test(tc, vote_message_by_hand);
    tcase_add_test(tc, round_trips_and_strictness);
    tcase_add_test(tc, certificates);
    tcase_add_test(tc, a_commit_proof_with_the_longest_path);
    tcase_add_test(tc, wal_round_trip_and_torn_tail);
    tcase_add_test(tc, wal_corruption_in_the_middle);
    tcase_add_test(tc, core_never_votes_twice_after_restart);
    tcase_add_test(tc, core_base_votes_and_jump);
    tcase_add_test(tc, core_unreachable_leader_times_out_soon);
    tcase_add_test(tc, a_member_behind_the_others_says_so);
    tcase_add_test(tc, four_cores_commit);
    tcase_add_test(tc, a_copy_of_a_proposed_entry_is_not_proposed_again);
    tcase_add_test(tc, an_entry_of_a_block_taken_from_a_certificate_is_not_proposed_again);
    tcase_add_test(tc, a_chain_longer_than_the_window_commits_at_once);
    tcase_add_test(tc, a_full_store_of_kept_blocks_waits_for_a_commit);
    tcase_add_test(tc, four_cores_keep_a_notarized_block_through_a_crash_of_all);
    tcase_add_test(tc, leaders_pace_proposals_on_a_finalized_parent);
    tcase_add_test(tc, a_leader_waits_for_its_block_to_fill);
    tcase_add_test(tc, an_idle_log_rests);
    tcase_add_test(tc, a_stalled_member_says_so);
    tcase_add_test(tc, a_member_signs_nothing_below_vote_from);
    suite_add_tcase(s, tc);
    return testutil_run_suite(s, false);
}
