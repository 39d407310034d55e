/*
 * message.c - the BFT wire format (docs/bft.md "Byte layouts"): strict decoding with
 * caps, encoding with signatures, certificates and commit proofs.
 */
#include "bft/bft.h"

#include <assert.h>
#include <string.h>

#include "common/bytes.h"
#include "common/keccak.h"
#include "common/secp.h"

#define DOMAIN "bft"

#define DOMAIN_MESSAGE "cohort-bft-v1"
#define DOMAIN_BLOCK "cohort-bft-block"
#define CERT_ENTRY_BYTES 67 /* signer u16 + signature 65 */

_Static_assert(BFT_HEADER_BYTES == 8 + 8 + 8 + 32 + 32, "header layout");
/* The largest SYNC_BLOCK: envelope, block with the largest payload, a full certificate, the longest path, signature. */
_Static_assert(BFT_ENVELOPE_BYTES + 3 * 8 + BFT_HASH_BYTES + 4 + BFT_PAYLOAD_MAX + BFT_VOTE_BODY_BYTES + 2 +
                       BFT_MEMBERS_MAX * (2 + BFT_SIGNATURE_BYTES) + 2 + (size_t)BFT_PATH_MAX * BFT_HEADER_BYTES +
                       BFT_SIGNATURE_BYTES <=
                   BFT_MESSAGE_MAX,
               "a commit proof with the longest path fits in a message");
_Static_assert(BFT_VOTE_BODY_BYTES == 1 + 8 + 32, "vote layout");
_Static_assert(BFT_ENVELOPE_BYTES == 1 + 1 + 8 + 2 + 4, "envelope layout");
_Static_assert(BFT_MEMBERS_MAX <= 0xffff, "signer indexes are u16");
_Static_assert(BFT_SIGNATURE_BYTES == SECP_SIGNATURE_BYTES, "signature size");
_Static_assert(BFT_ADDRESS_BYTES == ADDRESS_BYTES, "address size");

const char *bft_strerror(int code)
{
    switch ((enum bft_status)code) {
    case BFT_OK: return "success";
    case BFT_E_INVALID: return "invalid input";
    case BFT_E_RANGE: return "length past its cap";
    case BFT_E_SIGNATURE: return "bad signature";
    case BFT_E_CERT: return "bad certificate";
    case BFT_E_CORRUPT: return "corrupt storage";
    case BFT_E_IO: return "system call failed";
    case BFT_E_NOMEM: return "out of memory";
    case BFT_E_FULL: return "no room";
    }
    return "unknown error";
}

uint32_t bft_quorum(uint32_t member_count)
{
    assert(member_count >= 1);
    assert(member_count <= BFT_MEMBERS_MAX);
    return member_count - (member_count - 1) / 3;
}

/* ---- The default signature scheme: secp256k1 through common/secp.h ---- */

static int secp_scheme_sign(const void *ctx, const uint8_t private_key[BFT_PRIVATE_KEY_BYTES],
                            const uint8_t hash[BFT_HASH_BYTES], uint8_t signature[BFT_SIGNATURE_BYTES])
{
    (void)ctx;
    struct cohort_error err;
    return secp_sign(private_key, hash, signature, &err) == 0 ? 0 : BFT_E_SIGNATURE;
}

static int secp_scheme_recover(const void *ctx, const uint8_t hash[BFT_HASH_BYTES],
                               const uint8_t signature[BFT_SIGNATURE_BYTES], uint8_t address[BFT_ADDRESS_BYTES])
{
    (void)ctx;
    struct cohort_error err;
    return secp_recover_address(hash, signature, SECP_S_LOW, address, &err) == 0 ? 0 : BFT_E_SIGNATURE;
}

const struct bft_scheme bft_scheme_secp = {secp_scheme_sign, secp_scheme_recover, NULL};

static const struct bft_scheme *scheme_or_default(const struct bft_scheme *scheme)
{
    return scheme != NULL ? scheme : &bft_scheme_secp;
}

/* ---- Byte writer and reader: big-endian, bounds-checked ---- */

struct reader {
    const uint8_t *in;
    size_t len;
    size_t pos;
    bool failed;
    const char *field; /* the first field that did not fit */
    size_t field_offset;
};

static const uint8_t *get_bytes(struct reader *r, size_t len, const char *field)
{
    if (r->failed) return NULL;
    if (len > r->len - r->pos) {
        r->failed = true;
        r->field = field;
        r->field_offset = r->pos;
        return NULL;
    }
    const uint8_t *p = r->in + r->pos;
    r->pos += len;
    return p;
}

static uint8_t get_u8(struct reader *r, const char *field)
{
    const uint8_t *p = get_bytes(r, 1, field);
    return p ? p[0] : 0;
}

static uint16_t get_u16(struct reader *r, const char *field)
{
    const uint8_t *p = get_bytes(r, 2, field);
    return p ? (uint16_t)(p[0] << 8 | p[1]) : 0;
}

static uint32_t get_u32(struct reader *r, const char *field)
{
    const uint8_t *p = get_bytes(r, 4, field);
    return p ? (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3] : 0;
}

static uint64_t get_u64(struct reader *r, const char *field)
{
    const uint8_t *p = get_bytes(r, 8, field);
    uint64_t v = 0;
    if (p)
        for (int i = 0; i < 8; i++) v = v << 8 | p[i];
    return v;
}

static void get_into(struct reader *r, void *out, size_t len, const char *field)
{
    const uint8_t *p = get_bytes(r, len, field);
    if (p) memcpy(out, p, len);
    else memset(out, 0, len);
}

static int truncated(struct reader *r, struct cohort_error *err)
{
    assert(r->failed);
    return cohort_error_set(err, BFT_E_INVALID, DOMAIN, "message: %s at offset %zu is cut off (%zu bytes in all)",
                            r->field, r->field_offset, r->len);
}

/* ---- Pieces ---- */

static void put_header(struct byte_writer *w, const struct bft_block_header *h)
{
    bw_u64(w, h->height);
    bw_u64(w, h->index);
    bw_u64(w, h->parent_height);
    bw_bytes(w, h->parent_hash, BFT_HASH_BYTES);
    bw_bytes(w, h->payload_hash, BFT_HASH_BYTES);
}

static void get_header(struct reader *r, struct bft_block_header *h)
{
    h->height = get_u64(r, "header height");
    h->index = get_u64(r, "header index");
    h->parent_height = get_u64(r, "header parent height");
    get_into(r, h->parent_hash, BFT_HASH_BYTES, "header parent hash");
    get_into(r, h->payload_hash, BFT_HASH_BYTES, "header payload hash");
}

/* A block on the wire carries its payload, not the payload hash (the receiver computes it). */
static void put_block(struct byte_writer *w, const struct bft_block *b)
{
    bw_u64(w, b->header.height);
    bw_u64(w, b->header.index);
    bw_u64(w, b->header.parent_height);
    bw_bytes(w, b->header.parent_hash, BFT_HASH_BYTES);
    bw_u32(w, b->payload_len);
    bw_bytes(w, b->payload, b->payload_len);
}

static int get_block(struct reader *r, uint32_t payload_max, struct bft_block *b, struct cohort_error *err)
{
    b->header.height = get_u64(r, "block height");
    b->header.index = get_u64(r, "block index");
    b->header.parent_height = get_u64(r, "block parent height");
    get_into(r, b->header.parent_hash, BFT_HASH_BYTES, "block parent hash");
    size_t at = r->pos;
    b->payload_len = get_u32(r, "block payload length");
    if (r->failed) return truncated(r, err);
    if (b->payload_len > payload_max)
        return cohort_error_set(err, BFT_E_RANGE, DOMAIN, "message: block payload of %u bytes at offset %zu exceeds %u",
                                b->payload_len, at, payload_max);
    b->payload = get_bytes(r, b->payload_len, "block payload");
    if (r->failed) return truncated(r, err);
    if (b->header.height == 0 || b->header.index == 0 || b->header.parent_height >= b->header.height)
        return cohort_error_set(err, BFT_E_INVALID, DOMAIN,
                                "message: block at height %llu index %llu parent height %llu is impossible",
                                (unsigned long long)b->header.height, (unsigned long long)b->header.index,
                                (unsigned long long)b->header.parent_height);
    keccak256(b->payload, b->payload_len, b->header.payload_hash);
    return 0;
}

static void put_vote(struct byte_writer *w, const struct bft_vote *v)
{
    bw_u8(w, v->kind);
    bw_u64(w, v->height);
    bw_bytes(w, v->hash, BFT_HASH_BYTES);
}

static bool hash_is_zero(const uint8_t hash[BFT_HASH_BYTES])
{
    uint8_t any = 0;
    for (size_t i = 0; i < BFT_HASH_BYTES; i++) any |= hash[i];
    return any == 0;
}

static int check_vote(const struct bft_vote *v, struct cohort_error *err)
{
    if (v->kind < BFT_VOTE_NOTARIZE || v->kind > BFT_VOTE_FINALIZE)
        return cohort_error_set(err, BFT_E_INVALID, DOMAIN, "message: unknown vote kind %u", v->kind);
    if (v->height == 0) return cohort_error_set(err, BFT_E_INVALID, DOMAIN, "message: vote at height 0");
    if ((v->kind == BFT_VOTE_NULLIFY) != hash_is_zero(v->hash))
        return cohort_error_set(err, BFT_E_INVALID, DOMAIN, "message: a %s vote with %s hash",
                                v->kind == BFT_VOTE_NULLIFY ? "nullify" : "block",
                                v->kind == BFT_VOTE_NULLIFY ? "a" : "a zero");
    return 0;
}

static int get_vote(struct reader *r, struct bft_vote *v, struct cohort_error *err)
{
    v->kind = get_u8(r, "vote kind");
    v->height = get_u64(r, "vote height");
    get_into(r, v->hash, BFT_HASH_BYTES, "vote hash");
    if (r->failed) return truncated(r, err);
    return check_vote(v, err);
}

static void put_cert(struct byte_writer *w, const struct bft_cert *c)
{
    put_vote(w, &c->vote);
    bw_u16(w, c->count);
    for (uint16_t i = 0; i < c->count && i < BFT_MEMBERS_MAX; i++) {
        bw_u16(w, c->signer[i]);
        bw_bytes(w, c->signature[i], BFT_SIGNATURE_BYTES);
    }
}

static int get_cert(struct reader *r, struct bft_cert *c, struct cohort_error *err)
{
    int rc = get_vote(r, &c->vote, err);
    if (rc < 0) return rc;
    size_t at = r->pos;
    c->count = get_u16(r, "certificate count");
    if (r->failed) return truncated(r, err);
    if (c->count == 0 || c->count > BFT_MEMBERS_MAX)
        return cohort_error_set(err, BFT_E_RANGE, DOMAIN, "message: certificate count %u at offset %zu not in 1..%d",
                                c->count, at, BFT_MEMBERS_MAX);
    for (uint16_t i = 0; i < c->count; i++) {
        c->signer[i] = get_u16(r, "certificate signer");
        get_into(r, c->signature[i], BFT_SIGNATURE_BYTES, "certificate signature");
    }
    if (r->failed) return truncated(r, err);
    return 0;
}

static void put_commit_body(struct byte_writer *w, const struct bft_commit *c)
{
    put_block(w, &c->block);
    put_cert(w, &c->cert);
    bw_u16(w, c->path_count);
    bw_bytes(w, c->path, (size_t)c->path_count * BFT_HEADER_BYTES);
}

static int get_commit_body(struct reader *r, uint32_t payload_max, struct bft_commit *c, struct cohort_error *err)
{
    int rc = get_block(r, payload_max, &c->block, err);
    if (rc < 0) return rc;
    rc = get_cert(r, &c->cert, err);
    if (rc < 0) return rc;
    if (c->cert.vote.kind != BFT_VOTE_FINALIZE)
        return cohort_error_set(err, BFT_E_INVALID, DOMAIN, "message: commit proof is not a finalization");
    size_t at = r->pos;
    c->path_count = get_u16(r, "path count");
    if (r->failed) return truncated(r, err);
    if (c->path_count > BFT_PATH_MAX)
        return cohort_error_set(err, BFT_E_RANGE, DOMAIN, "message: path of %u headers at offset %zu exceeds %d",
                                c->path_count, at, BFT_PATH_MAX);
    c->path = get_bytes(r, (size_t)c->path_count * BFT_HEADER_BYTES, "path headers");
    if (r->failed) return truncated(r, err);
    return 0;
}

void bft_commit_path_header(const struct bft_commit *commit, uint32_t i, struct bft_block_header *out)
{
    assert(commit != NULL && out != NULL);
    assert(i < commit->path_count && commit->path != NULL);
    struct reader r = {commit->path + (size_t)i * BFT_HEADER_BYTES, BFT_HEADER_BYTES, 0, false, NULL, 0};
    get_header(&r, out);
    assert(!r.failed);
}

void bft_header_encode(const struct bft_block_header *header, uint8_t out[BFT_HEADER_BYTES])
{
    assert(header != NULL && out != NULL);
    struct byte_writer w = {out, BFT_HEADER_BYTES, 0, false};
    put_header(&w, header);
    assert(!w.overflow && w.len == BFT_HEADER_BYTES);
}

/* ---- Hashes ---- */

void bft_block_hash(uint64_t instance, const struct bft_block_header *header, uint8_t out[BFT_HASH_BYTES])
{
    assert(header != NULL);
    assert(out != NULL);
    uint8_t buf[sizeof DOMAIN_BLOCK - 1 + 8 + BFT_HEADER_BYTES];
    struct byte_writer w = {buf, sizeof buf, 0, false};
    bw_bytes(&w, DOMAIN_BLOCK, sizeof DOMAIN_BLOCK - 1);
    bw_u64(&w, instance);
    put_header(&w, header);
    assert(!w.overflow && w.len == sizeof buf);
    keccak256(buf, w.len, out);
}

void bft_block_seal(uint64_t instance, struct bft_block *block, uint8_t out[BFT_HASH_BYTES])
{
    assert(block->payload != NULL || block->payload_len == 0);
    keccak256(block->payload, block->payload_len, block->header.payload_hash);
    bft_block_hash(instance, &block->header, out);
}

/* Starts the hash every message signs: the domain, then version, type and instance. */
static void signed_hash_begin(struct keccak256_ctx *ctx, uint8_t type, uint64_t instance)
{
    uint8_t prefix[sizeof DOMAIN_MESSAGE - 1 + 1 + 1 + 8];
    struct byte_writer w = {prefix, sizeof prefix, 0, false};
    bw_bytes(&w, DOMAIN_MESSAGE, sizeof DOMAIN_MESSAGE - 1);
    bw_u8(&w, BFT_MESSAGE_VERSION);
    bw_u8(&w, type);
    bw_u64(&w, instance);
    assert(!w.overflow && w.len == sizeof prefix);
    keccak256_init(ctx);
    keccak256_update(ctx, prefix, w.len);
}

void bft_vote_digest(uint64_t instance, const struct bft_vote *vote, uint8_t out[BFT_HASH_BYTES])
{
    uint8_t body[BFT_VOTE_BODY_BYTES];
    struct byte_writer w = {body, sizeof body, 0, false};
    put_vote(&w, vote);
    assert(!w.overflow && w.len == sizeof body);
    struct keccak256_ctx ctx;
    signed_hash_begin(&ctx, BFT_MSG_VOTE, instance);
    keccak256_update(&ctx, body, w.len);
    keccak256_final(&ctx, out);
}

/* ---- Messages ---- */

int bft_message_decode(const uint8_t *bytes, size_t len, uint32_t payload_max, struct bft_message *out,
                       struct cohort_error *err)
{
    assert(bytes != NULL || len == 0);
    assert(out != NULL);
    if (len > BFT_MESSAGE_MAX)
        return cohort_error_set(err, BFT_E_RANGE, DOMAIN, "message: %zu bytes exceed the cap of %u", len,
                                BFT_MESSAGE_MAX);
    if (len < BFT_ENVELOPE_BYTES + BFT_SIGNATURE_BYTES)
        return cohort_error_set(err, BFT_E_INVALID, DOMAIN, "message: %zu bytes are too short for an envelope", len);
    struct reader r = {bytes, len, 0, false, NULL, 0};
    uint8_t version = get_u8(&r, "version");
    out->type = get_u8(&r, "type");
    out->instance = get_u64(&r, "instance");
    out->sender = get_u16(&r, "sender");
    uint32_t body_len = get_u32(&r, "body length");
    assert(!r.failed);
    if (version != BFT_MESSAGE_VERSION)
        return cohort_error_set(err, BFT_E_INVALID, DOMAIN, "message: version %u, expected %u", version,
                                BFT_MESSAGE_VERSION);
    if (out->type < BFT_MSG_PROPOSE || out->type > BFT_MSG_SYNC_BLOCK)
        return cohort_error_set(err, BFT_E_INVALID, DOMAIN, "message: unknown type %u", out->type);
    if ((size_t)body_len != len - BFT_ENVELOPE_BYTES - BFT_SIGNATURE_BYTES)
        return cohort_error_set(err, BFT_E_INVALID, DOMAIN, "message: body length %u, but %zu bytes follow the envelope",
                                body_len, len - BFT_ENVELOPE_BYTES);
    memcpy(out->signature, bytes + len - BFT_SIGNATURE_BYTES, BFT_SIGNATURE_BYTES);

    /* The body is read through a reader that ends where the signature starts. */
    struct reader b = {bytes, BFT_ENVELOPE_BYTES + (size_t)body_len, BFT_ENVELOPE_BYTES, false, NULL, 0};
    int rc = 0;
    out->has_block = false;
    out->commit.path_count = 0;
    switch ((enum bft_message_type)out->type) {
    case BFT_MSG_PROPOSE:
        out->has_block = true;
        rc = get_block(&b, payload_max, &out->commit.block, err);
        break;
    case BFT_MSG_VOTE: rc = get_vote(&b, &out->vote, err); break;
    case BFT_MSG_CERT: {
        rc = get_cert(&b, &out->commit.cert, err);
        if (rc < 0) break;
        uint8_t flag = get_u8(&b, "has block");
        if (b.failed) return truncated(&b, err);
        if (flag > 1) return cohort_error_set(err, BFT_E_INVALID, DOMAIN, "message: has-block flag %u", flag);
        if (flag == 1 && out->commit.cert.vote.kind != BFT_VOTE_NOTARIZE)
            return cohort_error_set(err, BFT_E_INVALID, DOMAIN, "message: a block with a non-notarization");
        out->has_block = flag == 1;
        if (out->has_block) rc = get_block(&b, payload_max, &out->commit.block, err);
        break;
    }
    case BFT_MSG_SYNC_REQUEST:
        out->from_index = get_u64(&b, "from index");
        out->from_height = get_u64(&b, "from height");
        if (b.failed) return truncated(&b, err);
        break;
    case BFT_MSG_SYNC_BLOCK:
        out->has_block = true;
        rc = get_commit_body(&b, payload_max, &out->commit, err);
        break;
    }
    if (rc < 0) return rc;
    if (b.pos != b.len)
        return cohort_error_set(err, BFT_E_INVALID, DOMAIN, "message: %zu bytes after the body at offset %zu",
                                b.len - b.pos, b.pos);
    if (out->has_block) bft_block_hash(out->instance, &out->commit.block.header, out->commit.hash);
    out->body = bytes + BFT_ENVELOPE_BYTES;
    out->body_len = body_len;
    return 0;
}

int bft_message_encode(const struct bft_message *msg, const uint8_t private_key[BFT_PRIVATE_KEY_BYTES],
                       const struct bft_scheme *scheme, uint8_t *out, size_t cap, size_t *out_len,
                       struct cohort_error *err)
{
    assert(msg != NULL);
    assert(out != NULL && out_len != NULL);
    struct byte_writer w = {out, cap, 0, false};
    bw_u8(&w, BFT_MESSAGE_VERSION);
    bw_u8(&w, msg->type);
    bw_u64(&w, msg->instance);
    bw_u16(&w, msg->sender);
    bw_u32(&w, 0); /* body length, patched below */
    switch ((enum bft_message_type)msg->type) {
    case BFT_MSG_PROPOSE: put_block(&w, &msg->commit.block); break;
    case BFT_MSG_VOTE: put_vote(&w, &msg->vote); break;
    case BFT_MSG_CERT:
        put_cert(&w, &msg->commit.cert);
        bw_u8(&w, msg->has_block ? 1 : 0);
        if (msg->has_block) put_block(&w, &msg->commit.block);
        break;
    case BFT_MSG_SYNC_REQUEST:
        bw_u64(&w, msg->from_index);
        bw_u64(&w, msg->from_height);
        break;
    case BFT_MSG_SYNC_BLOCK: put_commit_body(&w, &msg->commit); break;
    default: return cohort_error_set(err, BFT_E_INVALID, DOMAIN, "message: cannot encode type %u", msg->type);
    }
    size_t body_len = w.len - BFT_ENVELOPE_BYTES;
    if (w.overflow || w.len + BFT_SIGNATURE_BYTES > cap || w.len + BFT_SIGNATURE_BYTES > BFT_MESSAGE_MAX)
        return cohort_error_set(err, BFT_E_RANGE, DOMAIN, "message: %zu bytes do not fit in %zu",
                                w.len + BFT_SIGNATURE_BYTES, cap < BFT_MESSAGE_MAX ? cap : (size_t)BFT_MESSAGE_MAX);
    out[12] = (uint8_t)(body_len >> 24);
    out[13] = (uint8_t)(body_len >> 16);
    out[14] = (uint8_t)(body_len >> 8);
    out[15] = (uint8_t)body_len;

    if (msg->type == BFT_MSG_CERT) {
        /* A certificate proves itself (q member signatures): its envelope is not signed
           (docs/bft.md "Envelope"), which saves a signature per certificate forwarded. */
        memset(out + w.len, 0, BFT_SIGNATURE_BYTES);
        *out_len = w.len + BFT_SIGNATURE_BYTES;
        return 0;
    }
    uint8_t hash[BFT_HASH_BYTES];
    struct keccak256_ctx ctx;
    signed_hash_begin(&ctx, msg->type, msg->instance);
    keccak256_update(&ctx, out + BFT_ENVELOPE_BYTES, body_len);
    keccak256_final(&ctx, hash);
    const struct bft_scheme *s = scheme_or_default(scheme);
    if (s->sign(s->ctx, private_key, hash, out + w.len) < 0)
        return cohort_error_set(err, BFT_E_SIGNATURE, DOMAIN, "message: signing failed (bad private key?)");
    *out_len = w.len + BFT_SIGNATURE_BYTES;
    return 0;
}

/* 0 if signature over hash recovers to member's address. */
static int check_signature(const struct bft_scheme *scheme, const uint8_t hash[BFT_HASH_BYTES],
                           const uint8_t signature[BFT_SIGNATURE_BYTES], const uint8_t address[BFT_ADDRESS_BYTES])
{
    uint8_t got[BFT_ADDRESS_BYTES];
    const struct bft_scheme *s = scheme_or_default(scheme);
    if (s->recover_address(s->ctx, hash, signature, got) < 0) return BFT_E_SIGNATURE;
    return memcmp(got, address, BFT_ADDRESS_BYTES) == 0 ? 0 : BFT_E_SIGNATURE;
}

int bft_message_check_sender(const struct bft_message *msg, const struct bft_members *members,
                             const struct bft_scheme *scheme, struct cohort_error *err)
{
    assert(msg != NULL && members != NULL);
    assert(members->count >= 1 && members->count <= BFT_MEMBERS_MAX);
    if (msg->sender >= members->count)
        return cohort_error_set(err, BFT_E_INVALID, DOMAIN, "message: sender %u is not one of %u members", msg->sender,
                                members->count);
    assert(msg->body != NULL || msg->body_len == 0);
    uint8_t hash[BFT_HASH_BYTES];
    struct keccak256_ctx ctx;
    signed_hash_begin(&ctx, msg->type, msg->instance);
    keccak256_update(&ctx, msg->body, msg->body_len);
    keccak256_final(&ctx, hash);
    if (check_signature(scheme, hash, msg->signature, members->address[msg->sender]) < 0)
        return cohort_error_set(err, BFT_E_SIGNATURE, DOMAIN,
                                "message: signature does not recover to member %u's address", msg->sender);
    return 0;
}

int bft_cert_verify(const struct bft_cert *cert, uint64_t instance, const struct bft_members *members,
                    const struct bft_scheme *scheme, struct cohort_error *err)
{
    return bft_cert_verify_known(cert, instance, members, scheme, NULL, err);
}

int bft_cert_verify_known(const struct bft_cert *cert, uint64_t instance, const struct bft_members *members,
                          const struct bft_scheme *scheme, const uint8_t *const known[BFT_MEMBERS_MAX],
                          struct cohort_error *err)
{
    assert(cert != NULL && members != NULL);
    assert(members->count >= 1 && members->count <= BFT_MEMBERS_MAX);
    int rc = check_vote(&cert->vote, err);
    if (rc < 0) return rc;
    if (cert->count > BFT_MEMBERS_MAX)
        return cohort_error_set(err, BFT_E_CERT, DOMAIN, "certificate: %u signers exceed %d", cert->count,
                                BFT_MEMBERS_MAX);
    uint8_t digest[BFT_HASH_BYTES];
    bft_vote_digest(instance, &cert->vote, digest);
    bool seen[BFT_MEMBERS_MAX] = {false};
    uint32_t distinct = 0;
    for (uint16_t i = 0; i < cert->count; i++) {
        uint16_t signer = cert->signer[i];
        if (signer >= members->count)
            return cohort_error_set(err, BFT_E_CERT, DOMAIN, "certificate: signer %u is not one of %u members", signer,
                                    members->count);
        if (seen[signer]) continue; /* a duplicate counts once, and need not be checked again */
        bool checked = known != NULL && known[signer] != NULL &&
                       memcmp(known[signer], cert->signature[i], BFT_SIGNATURE_BYTES) == 0;
        if (!checked && check_signature(scheme, digest, cert->signature[i], members->address[signer]) < 0)
            return cohort_error_set(err, BFT_E_CERT, DOMAIN,
                                    "certificate: signature %u does not recover to member %u's address", i, signer);
        seen[signer] = true;
        distinct++;
    }
    uint32_t q = bft_quorum(members->count);
    if (distinct < q)
        return cohort_error_set(err, BFT_E_CERT, DOMAIN, "certificate: %u distinct signers, %u needed", distinct, q);
    return 0;
}

int bft_commit_verify(struct bft_commit *commit, uint64_t instance, const struct bft_members *members,
                      const struct bft_scheme *scheme, struct cohort_error *err)
{
    assert(commit != NULL);
    assert(commit->path_count <= BFT_PATH_MAX);
    if (commit->cert.vote.kind != BFT_VOTE_FINALIZE)
        return cohort_error_set(err, BFT_E_CERT, DOMAIN, "commit proof: the certificate is not a finalization");
    bft_block_hash(instance, &commit->block.header, commit->hash);
    uint8_t hash[BFT_HASH_BYTES];
    memcpy(hash, commit->hash, BFT_HASH_BYTES);
    struct bft_block_header prev = commit->block.header, h;
    for (uint16_t i = 0; i < commit->path_count; i++) {
        bft_commit_path_header(commit, i, &h);
        if (memcmp(h.parent_hash, hash, BFT_HASH_BYTES) != 0 || h.parent_height != prev.height ||
            h.index != prev.index + 1 || h.height <= prev.height)
            return cohort_error_set(err, BFT_E_INVALID, DOMAIN, "commit proof: path header %u does not follow", i);
        bft_block_hash(instance, &h, hash);
        prev = h;
    }
    if (memcmp(hash, commit->cert.vote.hash, BFT_HASH_BYTES) != 0 || commit->cert.vote.height != prev.height)
        return cohort_error_set(err, BFT_E_INVALID, DOMAIN, "commit proof: the path does not end at the finalized block");
    return bft_cert_verify(&commit->cert, instance, members, scheme, err);
}

int bft_commit_encode(const struct bft_commit *commit, uint8_t *out, size_t cap, size_t *out_len,
                      struct cohort_error *err)
{
    assert(commit != NULL && out_len != NULL);
    assert(commit->path_count <= BFT_PATH_MAX);
    struct byte_writer w = {out, cap, 0, false};
    put_commit_body(&w, commit);
    if (w.overflow) return cohort_error_set(err, BFT_E_RANGE, DOMAIN, "commit: %zu bytes do not fit in %zu", w.len, cap);
    *out_len = w.len;
    return 0;
}

int bft_commit_decode(const uint8_t *bytes, size_t len, uint64_t instance, uint32_t payload_max,
                      struct bft_commit *out, struct cohort_error *err)
{
    assert(bytes != NULL || len == 0);
    assert(out != NULL);
    if (len > BFT_WAL_RECORD_MAX)
        return cohort_error_set(err, BFT_E_RANGE, DOMAIN, "commit: %zu bytes exceed %u", len, BFT_WAL_RECORD_MAX);
    struct reader r = {bytes, len, 0, false, NULL, 0};
    int rc = get_commit_body(&r, payload_max, out, err);
    if (rc < 0) return rc;
    if (r.pos != len) return cohort_error_set(err, BFT_E_INVALID, DOMAIN, "commit: %zu bytes after the body", len - r.pos);
    bft_block_hash(instance, &out->block.header, out->hash);
    return 0;
}

int bft_cert_encode(const struct bft_cert *cert, uint8_t *out, size_t cap, size_t *out_len, struct cohort_error *err)
{
    assert(cert != NULL && out_len != NULL);
    struct byte_writer w = {out, cap, 0, false};
    put_cert(&w, cert);
    if (w.overflow)
        return cohort_error_set(err, BFT_E_RANGE, "bft", "certificate: %zu bytes do not fit in %zu", w.len, cap);
    *out_len = w.len;
    return 0;
}

int bft_cert_decode(const uint8_t *bytes, size_t len, struct bft_cert *out, struct cohort_error *err)
{
    assert(bytes != NULL || len == 0);
    assert(out != NULL);
    memset(out, 0, sizeof *out);
    struct reader r = {bytes, len, 0, false, NULL, 0};
    int rc = get_cert(&r, out, err);
    if (rc < 0) return rc;
    if (r.pos != len)
        return cohort_error_set(err, BFT_E_INVALID, "bft", "certificate: %zu bytes after the body", len - r.pos);
    return 0;
}

int bft_block_encode(const struct bft_block *block, uint8_t *out, size_t cap, size_t *out_len, struct cohort_error *err)
{
    assert(block != NULL && out_len != NULL);
    struct byte_writer w = {out, cap, 0, false};
    put_block(&w, block);
    if (w.overflow) return cohort_error_set(err, BFT_E_RANGE, DOMAIN, "block: %zu bytes do not fit in %zu", w.len, cap);
    *out_len = w.len;
    return 0;
}

int bft_block_decode(const uint8_t *bytes, size_t len, uint64_t instance, uint32_t payload_max, struct bft_block *out,
                     uint8_t hash[BFT_HASH_BYTES], struct cohort_error *err)
{
    assert(bytes != NULL || len == 0);
    assert(out != NULL && hash != NULL);
    if (len > BFT_WAL_RECORD_MAX)
        return cohort_error_set(err, BFT_E_RANGE, DOMAIN, "block: %zu bytes exceed %u", len, BFT_WAL_RECORD_MAX);
    struct reader r = {bytes, len, 0, false, NULL, 0};
    int rc = get_block(&r, payload_max, out, err);
    if (rc < 0) return rc;
    if (r.pos != len) return cohort_error_set(err, BFT_E_INVALID, DOMAIN, "block: %zu bytes after the block", len - r.pos);
    bft_block_hash(instance, &out->header, hash);
    return 0;
}

int bft_payload_next(const uint8_t *payload, uint32_t payload_len, uint32_t *offset, const uint8_t **entry,
                     uint32_t *entry_len, struct cohort_error *err)
{
    assert(offset != NULL && *offset <= payload_len);
    assert(entry != NULL && entry_len != NULL);
    if (*offset == payload_len) return 0;
    struct reader r = {payload, payload_len, *offset, false, NULL, 0};
    uint32_t n = get_u32(&r, "entry length");
    const uint8_t *p = get_bytes(&r, n, "entry");
    if (r.failed)
        return cohort_error_set(err, BFT_E_INVALID, DOMAIN, "payload: %s at offset %zu is cut off", r.field,
                                r.field_offset);
    *entry = p;
    *entry_len = n;
    *offset = (uint32_t)r.pos;
    return 1;
}
