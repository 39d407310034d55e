/*
 * codec.c - the config store's requests and batches (config.h, part 1, "Request layout" and
 * "Batch layout"): strict decoding, encoding and signing. Pure code.
 */
#include "config/store_internal.h"

#include <assert.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/bytes.h"
#include "common/keccak.h"
#include "common/secp.h"

#define SIGNING_DOMAIN "cohort-config-v1"
#define MAGIC "CCR1"
#define BATCH_DOMAIN "cohort-config-batch-v1"
#define BATCH_MAGIC CS_BATCH_MAGIC
#define FLAG_PREFIX 1u

/* The fixed part of a request: magic, instance, id, three counts; then the signature. */
#define HEADER_BYTES (4 + 8 + CS_ID_BYTES + 3)

_Static_assert(CS_SIGNATURE_BYTES == SECP_SIGNATURE_BYTES, "signature size");
_Static_assert(CS_KEY_MAX <= UINT16_MAX, "key lengths are u16");
_Static_assert(CS_TXN_OPS_MAX <= UINT8_MAX, "counts are u8");
_Static_assert(sizeof(SIGNING_DOMAIN) - 1 == 16, "signing domain");
_Static_assert(HEADER_BYTES == 31, "request header layout");

const char *cs_strerror(int code)
{
    switch ((enum cs_status)code) {
    case CS_OK: return "success";
    case CS_E_INVALID: return "invalid request";
    case CS_E_RANGE: return "over a cap";
    case CS_E_UNAUTHORIZED: return "signer is neither a member nor an admin";
    case CS_E_FULL: return "store full";
    case CS_E_COMPACTED: return "revision compacted";
    case CS_E_NOMEM: return "out of memory";
    case CS_E_DUPLICATE: return "request already applied";
    case CS_E_INSTANCE: return "request for another cluster";
    case CS_E_EPOCH: return "the epoch ended at a membership change";
    }
    return "unknown error";
}

/* ---- Byte writer and reader: big-endian, bounds-checked ---- */

/*
 * Where in a request a field is, for messages: a section ("compare", "success op",
 * "failure op", or NULL for the header) with its index, and the field's name.
 */
struct place {
    const char *section;
    unsigned index;
};

static void describe(const struct place *at, const char *field, char *out, size_t size)
{
    if (at->section != NULL) snprintf(out, size, "%s %u %s", at->section, at->index, field);
    else snprintf(out, size, "%s", field);
}

struct reader {
    const uint8_t *in;
    size_t len;
    size_t pos;
    struct place at;
};

/* Takes len bytes, or fails naming the field (CS_E_INVALID: the request is cut off). */
static int get_bytes(struct reader *r, size_t len, const char *field, const uint8_t **out, struct cohort_error *err)
{
    if (len > r->len - r->pos) {
        char name[80];
        describe(&r->at, field, name, sizeof name);
        return cohort_error_set(err, CS_E_INVALID, DOMAIN,
                                "request: %s at offset %zu is cut off (%zu bytes needed, %zu left of %zu)", name,
                                r->pos, len, r->len - r->pos, r->len);
    }
    *out = r->in + r->pos;
    r->pos += len;
    return 0;
}

#define GET_UINT(r, n, field, var, err)                                                                               \
    do {                                                                                                               \
        const uint8_t *p_;                                                                                             \
        int rc_ = get_bytes((r), (n), (field), &p_, (err));                                                            \
        if (rc_ < 0) return rc_;                                                                                       \
        (var) = be_get(p_, (int)(n));                                                                                  \
    } while (0)

/* ---- Field checks, shared by encode and decode (offset: where the field starts) ---- */

static int field_error(struct cohort_error *err, int code, const struct place *at, const char *field, size_t offset,
                       const char *what)
{
    char name[80];
    describe(at, field, name, sizeof name);
    return cohort_error_set(err, code, DOMAIN, "request: %s at offset %zu %s", name, offset, what);
}

static int check_count(unsigned count, const char *field, size_t offset, struct cohort_error *err)
{
    static const struct place header = {NULL, 0};
    if (count <= CS_TXN_OPS_MAX) return 0;
    char what[64];
    snprintf(what, sizeof what, "is %u, over the cap of %d", count, CS_TXN_OPS_MAX);
    return field_error(err, CS_E_RANGE, &header, field, offset, what);
}

static int check_key_len(const struct place *at, size_t key_len, size_t offset, struct cohort_error *err)
{
    if (key_len == 0) return field_error(err, CS_E_INVALID, at, "key length", offset, "is 0 (keys are not empty)");
    if (key_len <= CS_KEY_MAX) return 0;
    char what[64];
    snprintf(what, sizeof what, "is %zu bytes, over the cap of %d", key_len, CS_KEY_MAX);
    return field_error(err, CS_E_RANGE, at, "key length", offset, what);
}

static int check_value_len(const struct place *at, size_t value_len, size_t offset, struct cohort_error *err)
{
    if (value_len <= CS_VALUE_MAX) return 0;
    char what[64];
    snprintf(what, sizeof what, "is %zu bytes, over the cap of %u", value_len, CS_VALUE_MAX);
    return field_error(err, CS_E_RANGE, at, "value length", offset, what);
}

static int check_enum(const struct place *at, const char *field, unsigned value, unsigned max, size_t offset,
                      struct cohort_error *err)
{
    if (value >= 1 && value <= max) return 0;
    char what[64];
    snprintf(what, sizeof what, "is %u, not one of 1..%u", value, max);
    return field_error(err, CS_E_INVALID, at, field, offset, what);
}

static int check_flags(const struct place *at, unsigned type, unsigned flags, size_t offset, struct cohort_error *err)
{
    char what[80];
    if (flags & ~FLAG_PREFIX) {
        snprintf(what, sizeof what, "is 0x%02x: only bit 0x01 (prefix) is defined", flags);
        return field_error(err, CS_E_INVALID, at, "flags", offset, what);
    }
    if (flags != 0 && type == CS_OP_PUT)
        return field_error(err, CS_E_INVALID, at, "flags", offset,
                           "set prefix on a put (only delete and range take it)");
    return 0;
}

static int check_branches(unsigned nsuccess, unsigned nfailure, size_t offset, struct cohort_error *err)
{
    if (nsuccess + nfailure >= 1) return 0;
    return cohort_error_set(err, CS_E_INVALID, DOMAIN,
                            "request: success and failure counts at offset %zu are both 0 (a request does something)",
                            offset);
}

/* ---- Encoding ---- */

static void signing_hash(const uint8_t *bytes, size_t len, uint8_t hash[32])
{
    struct keccak256_ctx ctx;
    keccak256_init(&ctx);
    keccak256_update(&ctx, SIGNING_DOMAIN, sizeof SIGNING_DOMAIN - 1);
    keccak256_update(&ctx, bytes, len);
    keccak256_final(&ctx, hash);
}

static int encode_op(struct byte_writer *w, const struct place *at, const struct cs_op *op, struct cohort_error *err)
{
    int rc;
    if ((rc = check_enum(at, "type", op->type, CS_OP_RANGE, w->len, err)) < 0) return rc;
    bw_u8(w, op->type);
    unsigned flags = op->prefix ? FLAG_PREFIX : 0;
    if ((rc = check_flags(at, op->type, flags, w->len, err)) < 0) return rc;
    bw_u8(w, (uint8_t)flags);
    if ((rc = check_key_len(at, op->key_len, w->len, err)) < 0) return rc;
    if (op->key == NULL) return field_error(err, CS_E_INVALID, at, "key", w->len, "is NULL");
    bw_u16(w, op->key_len);
    bw_bytes(w, op->key, op->key_len);
    if (op->type == CS_OP_PUT) {
        if ((rc = check_value_len(at, op->value_len, w->len, err)) < 0) return rc;
        if (op->value == NULL && op->value_len > 0)
            return field_error(err, CS_E_INVALID, at, "value", w->len, "is NULL");
        bw_u32(w, op->value_len);
        bw_bytes(w, op->value, op->value_len);
    }
    return 0;
}

int cs_request_encode(const struct cs_request *req, const uint8_t private_key[32], uint8_t *out, size_t cap,
                      size_t *out_len, struct cohort_error *err)
{
    assert(req != NULL);
    assert(out_len != NULL);
    *out_len = 0;
    struct byte_writer w = {out, out ? cap : 0, 0, false};
    int rc;
    bw_bytes(&w, MAGIC, 4);
    bw_u64(&w, req->instance);
    bw_bytes(&w, req->id, CS_ID_BYTES);
    if ((rc = check_count(req->ncompare, "compare count", w.len, err)) < 0) return rc;
    if ((rc = check_count(req->nsuccess, "success count", w.len + 1, err)) < 0) return rc;
    if ((rc = check_count(req->nfailure, "failure count", w.len + 2, err)) < 0) return rc;
    if ((rc = check_branches(req->nsuccess, req->nfailure, w.len + 1, err)) < 0) return rc;
    bw_u8(&w, req->ncompare);
    bw_u8(&w, req->nsuccess);
    bw_u8(&w, req->nfailure);
    for (unsigned i = 0; i < req->ncompare; i++) {
        const struct cs_compare *c = &req->compare[i];
        struct place at = {"compare", i};
        if ((rc = check_key_len(&at, c->key_len, w.len, err)) < 0) return rc;
        if (c->key == NULL) return field_error(err, CS_E_INVALID, &at, "key", w.len, "is NULL");
        bw_u16(&w, c->key_len);
        bw_bytes(&w, c->key, c->key_len);
        if ((rc = check_enum(&at, "target", c->target, CS_TARGET_VERSION, w.len, err)) < 0) return rc;
        bw_u8(&w, c->target);
        if ((rc = check_enum(&at, "result", c->result, CS_CMP_GREATER, w.len, err)) < 0) return rc;
        bw_u8(&w, c->result);
        if (c->target == CS_TARGET_VALUE) {
            if ((rc = check_value_len(&at, c->value_len, w.len, err)) < 0) return rc;
            if (c->value == NULL && c->value_len > 0)
                return field_error(err, CS_E_INVALID, &at, "value", w.len, "is NULL");
            bw_u32(&w, c->value_len);
            bw_bytes(&w, c->value, c->value_len);
        } else {
            bw_u64(&w, c->number);
        }
    }
    for (unsigned i = 0; i < req->nsuccess; i++) {
        struct place at = {"success op", i};
        if ((rc = encode_op(&w, &at, &req->success[i], err)) < 0) return rc;
    }
    for (unsigned i = 0; i < req->nfailure; i++) {
        struct place at = {"failure op", i};
        if ((rc = encode_op(&w, &at, &req->failure[i], err)) < 0) return rc;
    }
    size_t total = w.len + CS_SIGNATURE_BYTES;
    if (total > CS_REQUEST_MAX)
        return cohort_error_set(err, CS_E_RANGE, DOMAIN, "request: %zu bytes encoded, over the cap of %u", total,
                                CS_REQUEST_MAX);
    if (w.overflow || total > w.cap)
        return cohort_error_set(err, CS_E_RANGE, DOMAIN, "request: %zu bytes do not fit the %zu-byte buffer", total,
                                cap);
    if (private_key == NULL) { /* for a batch, whose one signature covers it */
        memset(out + w.len, 0, CS_SIGNATURE_BYTES);
        *out_len = total;
        return 0;
    }
    uint8_t hash[32];
    signing_hash(out, w.len, hash);
    struct cohort_error sign_err;
    if (secp_sign(private_key, hash, out + w.len, &sign_err) < 0)
        return cohort_error_set(err, CS_E_INVALID, DOMAIN, "request: sign: %s", sign_err.message);
    *out_len = total;
    return 0;
}

/* ---- Batches ---- */

void store_batch_hash(const uint8_t *bytes, size_t len, uint8_t hash[32])
{
    struct keccak256_ctx ctx;
    keccak256_init(&ctx);
    keccak256_update(&ctx, BATCH_DOMAIN, sizeof BATCH_DOMAIN - 1);
    keccak256_update(&ctx, bytes, len);
    keccak256_final(&ctx, hash);
}

size_t cs_batch_bytes(size_t count, size_t requests_len)
{
    return CS_BATCH_HEADER_BYTES + 4 * count + requests_len + CS_SIGNATURE_BYTES;
}

int cs_batch_encode(uint64_t instance, const uint8_t *const *requests, const size_t *lens, size_t count,
                    const uint8_t private_key[32], uint8_t *out, size_t cap, size_t *out_len, struct cohort_error *err)
{
    assert(requests != NULL && lens != NULL && private_key != NULL && out_len != NULL);
    *out_len = 0;
    if (count < 1 || count > CS_BATCH_MAX)
        return cohort_error_set(err, CS_E_RANGE, DOMAIN, "batch: %zu requests (1..%d)", count, CS_BATCH_MAX);
    size_t total = CS_BATCH_HEADER_BYTES + CS_SIGNATURE_BYTES;
    for (size_t i = 0; i < count; i++) {
        if (lens[i] > CS_REQUEST_MAX)
            return cohort_error_set(err, CS_E_RANGE, DOMAIN, "batch: request %zu is %zu bytes", i, lens[i]);
        total += 4 + lens[i];
    }
    if (total > cap) return cohort_error_set(err, CS_E_RANGE, DOMAIN, "batch: %zu bytes do not fit %zu", total, cap);
    struct byte_writer w = {out, cap, 0, false};
    bw_bytes(&w, BATCH_MAGIC, 4);
    bw_u64(&w, instance);
    bw_u16(&w, (uint16_t)count);
    for (size_t i = 0; i < count; i++) {
        bw_u32(&w, (uint32_t)lens[i]);
        bw_bytes(&w, requests[i], lens[i]);
    }
    assert(!w.overflow && w.len + CS_SIGNATURE_BYTES == total);
    uint8_t hash[32];
    store_batch_hash(out, w.len, hash);
    struct cohort_error sign_err;
    if (secp_sign(private_key, hash, out + w.len, &sign_err) < 0)
        return cohort_error_set(err, CS_E_INVALID, DOMAIN, "batch: sign: %s", sign_err.message);
    *out_len = total;
    return 0;
}

/* ---- Decoding ---- */

static int decode_op(struct reader *r, struct cs_op *op, struct cohort_error *err)
{
    int rc;
    uint64_t v;
    size_t at = r->pos;
    GET_UINT(r, 1, "type", v, err);
    if ((rc = check_enum(&r->at, "type", (unsigned)v, CS_OP_RANGE, at, err)) < 0) return rc;
    op->type = (uint8_t)v;
    at = r->pos;
    GET_UINT(r, 1, "flags", v, err);
    if ((rc = check_flags(&r->at, op->type, (unsigned)v, at, err)) < 0) return rc;
    op->prefix = v != 0;
    at = r->pos;
    GET_UINT(r, 2, "key length", v, err);
    if ((rc = check_key_len(&r->at, v, at, err)) < 0) return rc;
    op->key_len = (uint16_t)v;
    if ((rc = get_bytes(r, op->key_len, "key", &op->key, err)) < 0) return rc;
    op->value = NULL;
    op->value_len = 0;
    if (op->type == CS_OP_PUT) {
        at = r->pos;
        GET_UINT(r, 4, "value length", v, err);
        if ((rc = check_value_len(&r->at, v, at, err)) < 0) return rc;
        op->value_len = (uint32_t)v;
        if ((rc = get_bytes(r, op->value_len, "value", &op->value, err)) < 0) return rc;
    }
    return 0;
}

int cs_request_decode(const uint8_t *bytes, size_t len, struct cs_request *out, struct cohort_error *err)
{
    assert(out != NULL);
    memset(out, 0, sizeof *out);
    if (len > CS_REQUEST_MAX)
        return cohort_error_set(err, CS_E_RANGE, DOMAIN, "request: %zu bytes, over the cap of %u", len,
                                CS_REQUEST_MAX);
    if (bytes == NULL && len > 0) return cohort_error_set(err, CS_E_INVALID, DOMAIN, "request: NULL bytes");
    struct reader r = {bytes, len, 0, {NULL, 0}};
    const uint8_t *p;
    uint64_t v;
    int rc;
    if ((rc = get_bytes(&r, 4, "magic", &p, err)) < 0) return rc;
    if (memcmp(p, MAGIC, 4) != 0)
        return cohort_error_set(err, CS_E_INVALID, DOMAIN,
                                "request: magic at offset 0 is %02x%02x%02x%02x, not \"" MAGIC "\"", p[0], p[1], p[2],
                                p[3]);
    GET_UINT(&r, 8, "instance", out->instance, err);
    if ((rc = get_bytes(&r, CS_ID_BYTES, "id", &p, err)) < 0) return rc;
    memcpy(out->id, p, CS_ID_BYTES);
    size_t counts_at = r.pos;
    GET_UINT(&r, 1, "compare count", v, err);
    if ((rc = check_count((unsigned)v, "compare count", counts_at, err)) < 0) return rc;
    out->ncompare = (uint8_t)v;
    GET_UINT(&r, 1, "success count", v, err);
    if ((rc = check_count((unsigned)v, "success count", counts_at + 1, err)) < 0) return rc;
    out->nsuccess = (uint8_t)v;
    GET_UINT(&r, 1, "failure count", v, err);
    if ((rc = check_count((unsigned)v, "failure count", counts_at + 2, err)) < 0) return rc;
    out->nfailure = (uint8_t)v;
    if ((rc = check_branches(out->nsuccess, out->nfailure, counts_at + 1, err)) < 0) return rc;

    for (unsigned i = 0; i < out->ncompare; i++) {
        struct cs_compare *c = &out->compare[i];
        r.at = (struct place){"compare", i};
        size_t at = r.pos;
        GET_UINT(&r, 2, "key length", v, err);
        if ((rc = check_key_len(&r.at, v, at, err)) < 0) return rc;
        c->key_len = (uint16_t)v;
        if ((rc = get_bytes(&r, c->key_len, "key", &c->key, err)) < 0) return rc;
        at = r.pos;
        GET_UINT(&r, 1, "target", v, err);
        if ((rc = check_enum(&r.at, "target", (unsigned)v, CS_TARGET_VERSION, at, err)) < 0) return rc;
        c->target = (uint8_t)v;
        at = r.pos;
        GET_UINT(&r, 1, "result", v, err);
        if ((rc = check_enum(&r.at, "result", (unsigned)v, CS_CMP_GREATER, at, err)) < 0) return rc;
        c->result = (uint8_t)v;
        if (c->target == CS_TARGET_VALUE) {
            at = r.pos;
            GET_UINT(&r, 4, "value length", v, err);
            if ((rc = check_value_len(&r.at, v, at, err)) < 0) return rc;
            c->value_len = (uint32_t)v;
            if ((rc = get_bytes(&r, c->value_len, "value", &c->value, err)) < 0) return rc;
        } else {
            GET_UINT(&r, 8, "number", c->number, err);
        }
    }
    for (unsigned i = 0; i < out->nsuccess; i++) {
        r.at = (struct place){"success op", i};
        if ((rc = decode_op(&r, &out->success[i], err)) < 0) return rc;
    }
    for (unsigned i = 0; i < out->nfailure; i++) {
        r.at = (struct place){"failure op", i};
        if ((rc = decode_op(&r, &out->failure[i], err)) < 0) return rc;
    }
    r.at = (struct place){NULL, 0};
    size_t signed_len = r.pos;
    if ((rc = get_bytes(&r, CS_SIGNATURE_BYTES, "signature", &p, err)) < 0) return rc;
    memcpy(out->signature, p, CS_SIGNATURE_BYTES);
    if (r.pos != len)
        return cohort_error_set(err, CS_E_INVALID, DOMAIN,
                                "request: %zu trailing bytes at offset %zu after the signature", len - r.pos, r.pos);
    out->signed_bytes = bytes;
    out->signed_len = signed_len;
    return 0;
}

int cs_request_signer(const struct cs_request *req, uint8_t address[20], struct cohort_error *err)
{
    if (req->signed_bytes == NULL)
        return cohort_error_set(err, CS_E_INVALID, DOMAIN,
                                "request: no signed bytes (only a decoded request has a signer)");
    uint8_t hash[32];
    signing_hash(req->signed_bytes, req->signed_len, hash);
    struct cohort_error recover_err;
    if (secp_recover_address(hash, req->signature, SECP_S_LOW, address, &recover_err) < 0)
        return cohort_error_set(err, CS_E_INVALID, DOMAIN, "request: signature: %s", recover_err.message);
    return 0;
}
