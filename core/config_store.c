/*
 * config_store.c - the cluster's configuration store (config_store.h): strict request
 * decoding and signing, and the etcd-like state machine the BFT log's entries drive.
 *
 * Decisions the header leaves open, made here:
 *
 * - Keys live in one array sorted by bytes (shorter first on a common prefix), each key and
 *   value in its own allocation. Lookups are binary searches; inserts and deletes memmove
 *   the tail, which at CS_KEYS_MAX entries of 48 bytes is a few megabytes at worst.
 *
 * - Applying is all or nothing. The caps (CS_KEYS_MAX, CS_STORE_BYTES_MAX) are checked on
 *   the final state of the branch taken, before anything is changed, by a dry run over the
 *   branch (check_caps). An allocation that fails while applying aborts the process: a
 *   member that refused an entry every other member applied would silently diverge, and
 *   a restarted member catches up from the log; so CS_E_NOMEM is never a result.
 *
 * - Dedup: the window holds the (signer, id) pairs of the last CS_DEDUP_WINDOW requests
 *   that were applied (status CS_OK, whichever branch ran). Refused requests (malformed,
 *   bad signature, other instance, unauthorized, full, duplicate) change nothing, not even
 *   the window, so a client may retry them with the same id. The signer is part of the
 *   key so that one writer cannot shadow another writer's pending request by copying its id.
 *
 * - A decode failure or a signature that recovers no address is reported by
 *   cs_store_apply as CS_E_INVALID (cs_request_decode itself also says CS_E_RANGE for caps);
 *   result.signer is then all zeros.
 *
 * - Puts and deletes in one branch apply in order, each seeing the ones before it: a key
 *   put twice gets version + 2; a key deleted and put again is created anew. Delete events
 *   carry create_revision 0 and version 0, as etcd's do.
 *
 * - Snapshots store only what cannot be derived (config_store.h draws the layout); a restore
 *   rebuilds the byte counts, the history's byte accounting and the dedup hash table, and
 *   lays both rings out oldest first from slot 0, so later evictions happen in the same
 *   order. A restore checks the checksum before any field after the magic, then every
 *   invariant the code below keeps (keys in order, revisions in range, the history holding
 *   every revision after the compact one, no request twice in the window), so that a
 *   restored store is one the log could have built. It builds the new state in fresh allocations and
 *   frees the old one only when everything decoded; unlike applying, it may fail for memory
 *   (CS_E_NOMEM), since nothing has to agree with other members until it succeeds.
 *
 * - Watch history is kept to CS_HISTORY_MAX events and HISTORY_BYTES_MAX bytes of keys and
 *   values, evicting whole revisions, oldest first, and never the newest revision (which
 *   may alone pass the caps: a prefix delete of every key is one revision). A watch never
 *   splits a revision either; see cs_store_watch.
 */
#include "core/config_store.h"

#include <assert.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/bytes.h"
#include "common/keccak.h"
#include "common/secp.h"

#define DOMAIN "config"
#define SIGNING_DOMAIN "cohort-config-v1"
#define MAGIC "CCR1"
#define BATCH_DOMAIN "cohort-config-batch-v1"
#define BATCH_MAGIC CS_BATCH_MAGIC
#define FLAG_PREFIX 1u

/* Keys and values kept in the watch history; every event also counts EVENT_OVERHEAD. */
#define HISTORY_BYTES_MAX (64u << 20)
#define EVENT_OVERHEAD 64u

/* The dedup window's hash set: open addressing, linear probing, load at most 0.39. */
#define DEDUP_TABLE_SLOTS (1u << 18)
#define DEDUP_KEY_BYTES (ADDRESS_BYTES + CS_ID_BYTES)

/* The fixed part of a request: magic, instance, id, three counts; then the signature. */
#define HEADER_BYTES (4 + 8 + CS_ID_BYTES + 3)

_Static_assert(CS_SIGNATURE_BYTES == SECP_SIGNATURE_BYTES, "signature size");
_Static_assert(CS_KEY_MAX <= UINT16_MAX, "key lengths are u16");
_Static_assert(CS_TXN_OPS_MAX <= UINT8_MAX, "counts are u8");
_Static_assert(DEDUP_TABLE_SLOTS > 2 * CS_DEDUP_WINDOW, "dedup table load");
_Static_assert((DEDUP_TABLE_SLOTS & (DEDUP_TABLE_SLOTS - 1)) == 0, "dedup table is a power of two");
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
    }
    return "unknown error";
}

/* ---- Allocation while applying: failure stops the process (see the top of the file) ---- */

static void *must_realloc(void *p, size_t size)
{
    void *q = realloc(p, size ? size : 1);
    if (q == NULL) {
        fputs("config store: out of memory while applying a log entry; stopping, since a member that "
              "skipped the entry would diverge from the others\n",
              stderr);
        abort();
    }
    return q;
}

/* Grows *array (of elem bytes each, *cap of them) to hold at least need. */
static void reserve(void **array, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return;
    size_t grown = *cap ? *cap : 16;
    while (grown < need) grown *= 2;
    *array = must_realloc(*array, grown * elem);
    *cap = grown;
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

static uint64_t be_uint(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) v = v << 8 | p[i];
    return v;
}

#define GET_UINT(r, n, field, var, err)                                                                               \
    do {                                                                                                               \
        const uint8_t *p_;                                                                                             \
        int rc_ = get_bytes((r), (n), (field), &p_, (err));                                                            \
        if (rc_ < 0) return rc_;                                                                                       \
        (var) = be_uint(p_, (n));                                                                                      \
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

static void batch_hash(const uint8_t *bytes, size_t len, uint8_t hash[32])
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
    batch_hash(out, w.len, hash);
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

/* ---- The store ---- */

struct entry {
    uint8_t *key;
    uint8_t *value; /* NULL when value_len is 0 */
    uint32_t value_len;
    uint16_t key_len;
    uint64_t create_revision, mod_revision, version;
};

/* A change kept for watches: key and value copied into bytes (one allocation). */
struct history_event {
    uint8_t *bytes;
    uint16_t key_len;
    uint8_t type;
    uint32_t value_len;
    uint64_t revision, create_revision, version;
};

struct dedup_entry {
    uint8_t key[DEDUP_KEY_BYTES]; /* signer || id */
    uint64_t hash;
    uint64_t revision;
    bool succeeded;
};

struct cs_store {
    uint64_t instance;
    uint8_t writers[CS_MEMBERS_MAX + CS_ADMINS_MAX][ADDRESS_BYTES];
    size_t nwriters;
    uint64_t revision;

    struct entry *entries; /* sorted by key */
    size_t nentries, entries_cap;
    uint64_t bytes; /* keys and values */

    struct history_event *history; /* a ring, oldest at history_head */
    size_t history_head, history_count, history_cap;
    uint64_t history_bytes;
    uint64_t compact_revision; /* the newest revision evicted; 0 if none */

    struct dedup_entry *dedup; /* a ring: linear while it grows, then oldest at dedup_head */
    size_t dedup_head, dedup_count, dedup_cap;
    uint32_t *dedup_table; /* DEDUP_TABLE_SLOTS of (ring slot + 1), 0 = empty; allocated on first use */

    /* Scratch of one apply, kept between calls so applying does not allocate per op. */
    struct cs_request request;
    struct cs_kv *kvs;
    size_t nkvs, kvs_cap;
    void **graveyard; /* buffers replaced or deleted, freed after the result callback */
    size_t ngraveyard, graveyard_cap;
};

struct cs_store *cs_store_create(uint64_t instance, const uint8_t (*members)[20], size_t nmembers,
                                 const uint8_t (*admins)[20], size_t nadmins, struct cohort_error *err)
{
    if (nmembers > CS_MEMBERS_MAX || nadmins > CS_ADMINS_MAX) {
        cohort_error_set(err, CS_E_INVALID, DOMAIN, "store: %zu members and %zu admins, over the caps of %d and %d",
                         nmembers, nadmins, CS_MEMBERS_MAX, CS_ADMINS_MAX);
        return NULL;
    }
    if ((members == NULL && nmembers > 0) || (admins == NULL && nadmins > 0)) {
        cohort_error_set(err, CS_E_INVALID, DOMAIN, "store: NULL member or admin list");
        return NULL;
    }
    struct cs_store *s = calloc(1, sizeof *s);
    if (s == NULL) {
        cohort_error_set(err, CS_E_NOMEM, DOMAIN, "store: out of memory");
        return NULL;
    }
    s->instance = instance;
    for (size_t i = 0; i < nmembers; i++) memcpy(s->writers[s->nwriters++], members[i], ADDRESS_BYTES);
    for (size_t i = 0; i < nadmins; i++) memcpy(s->writers[s->nwriters++], admins[i], ADDRESS_BYTES);
    return s;
}

static void free_graveyard(struct cs_store *s)
{
    for (size_t i = 0; i < s->ngraveyard; i++) free(s->graveyard[i]);
    s->ngraveyard = 0;
}

/* Frees the keys, the history and the dedup window (the state a snapshot holds). */
static void free_state(struct cs_store *s)
{
    for (size_t i = 0; i < s->nentries; i++) {
        free(s->entries[i].key);
        free(s->entries[i].value);
    }
    free(s->entries);
    for (size_t i = 0; i < s->history_count; i++) free(s->history[(s->history_head + i) % s->history_cap].bytes);
    free(s->history);
    free(s->dedup);
    free(s->dedup_table);
}

void cs_store_destroy(struct cs_store *s)
{
    if (s == NULL) return;
    free_state(s);
    free(s->kvs);
    free_graveyard(s);
    free(s->graveyard);
    free(s);
}

uint64_t cs_store_revision(const struct cs_store *s) { return s->revision; }

/* Byte order, a shorter key first when one is a prefix of the other. */
static int key_compare(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    size_t n = alen < blen ? alen : blen;
    int c = n ? memcmp(a, b, n) : 0;
    if (c != 0) return c;
    return alen < blen ? -1 : alen > blen ? 1 : 0;
}

static bool has_prefix(const uint8_t *key, size_t key_len, const uint8_t *prefix, size_t prefix_len)
{
    return key_len >= prefix_len && (prefix_len == 0 || memcmp(key, prefix, prefix_len) == 0);
}

/* The index of the first entry >= key. */
static size_t lower_bound(const struct cs_store *s, const uint8_t *key, size_t key_len)
{
    size_t lo = 0, hi = s->nentries;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (key_compare(s->entries[mid].key, s->entries[mid].key_len, key, key_len) < 0) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

static struct entry *lookup(const struct cs_store *s, const uint8_t *key, size_t key_len)
{
    size_t i = lower_bound(s, key, key_len);
    if (i < s->nentries && key_compare(s->entries[i].key, s->entries[i].key_len, key, key_len) == 0)
        return &s->entries[i];
    return NULL;
}

static struct cs_kv kv_of(const struct entry *e)
{
    static const uint8_t empty[1] = {0};
    return (struct cs_kv){e->key, e->key_len, e->value ? e->value : empty, e->value_len,
                          e->create_revision, e->mod_revision, e->version};
}

size_t cs_store_range(const struct cs_store *s, const uint8_t *key, size_t key_len, bool prefix, size_t limit,
                      void (*fn)(void *arg, const struct cs_kv *kv), void *arg)
{
    if (key == NULL && key_len > 0) return 0;
    size_t count = 0;
    for (size_t i = lower_bound(s, key, key_len); i < s->nentries; i++) {
        const struct entry *e = &s->entries[i];
        if (prefix ? !has_prefix(e->key, e->key_len, key, key_len)
                   : key_compare(e->key, e->key_len, key, key_len) != 0)
            break;
        if (limit != 0 && count == limit) break;
        if (fn != NULL) {
            struct cs_kv kv = kv_of(e);
            fn(arg, &kv);
        }
        count++;
    }
    return count;
}

void cs_store_digest(const struct cs_store *s, uint8_t out[32])
{
    struct keccak256_ctx ctx;
    keccak256_init(&ctx);
    uint8_t buf[8 * 3];
    struct byte_writer w = {buf, sizeof buf, 0, false};
    bw_u64(&w, s->revision);
    bw_u64(&w, s->nentries);
    keccak256_update(&ctx, buf, w.len);
    for (size_t i = 0; i < s->nentries; i++) {
        const struct entry *e = &s->entries[i];
        w.len = 0;
        bw_u16(&w, e->key_len);
        keccak256_update(&ctx, buf, w.len);
        keccak256_update(&ctx, e->key, e->key_len);
        w.len = 0;
        bw_u32(&w, e->value_len);
        keccak256_update(&ctx, buf, w.len);
        keccak256_update(&ctx, e->value, e->value_len);
        w.len = 0;
        bw_u64(&w, e->create_revision);
        bw_u64(&w, e->mod_revision);
        bw_u64(&w, e->version);
        assert(!w.overflow);
        keccak256_update(&ctx, buf, w.len);
    }
    keccak256_final(&ctx, out);
}

/* ---- Watch history ---- */

static struct history_event *history_at(const struct cs_store *s, size_t i)
{
    assert(i < s->history_count);
    return &s->history[(s->history_head + i) % s->history_cap];
}

static void history_push(struct cs_store *s, uint8_t type, const uint8_t *key, uint16_t key_len, const uint8_t *value,
                         uint32_t value_len, uint64_t revision, uint64_t create_revision, uint64_t version)
{
    if (s->history_count == s->history_cap) {
        /* Grow and straighten the ring. */
        size_t cap = s->history_cap ? s->history_cap * 2 : 256;
        struct history_event *grown = must_realloc(NULL, cap * sizeof *grown);
        for (size_t i = 0; i < s->history_count; i++) grown[i] = *history_at(s, i);
        free(s->history);
        s->history = grown;
        s->history_cap = cap;
        s->history_head = 0;
    }
    struct history_event *ev = &s->history[(s->history_head + s->history_count) % s->history_cap];
    ev->bytes = must_realloc(NULL, (size_t)key_len + value_len);
    memcpy(ev->bytes, key, key_len);
    if (value_len > 0) memcpy(ev->bytes + key_len, value, value_len);
    ev->key_len = key_len;
    ev->value_len = value_len;
    ev->type = type;
    ev->revision = revision;
    ev->create_revision = create_revision;
    ev->version = version;
    s->history_count++;
    s->history_bytes += (uint64_t)key_len + value_len + EVENT_OVERHEAD;
}

/* Evicts whole revisions, oldest first, while a cap is passed; never the newest revision. */
static void history_evict(struct cs_store *s)
{
    while (s->history_count > 0 && (s->history_count > CS_HISTORY_MAX || s->history_bytes > HISTORY_BYTES_MAX)) {
        uint64_t oldest = history_at(s, 0)->revision;
        if (oldest == s->revision) break;
        while (s->history_count > 0 && history_at(s, 0)->revision == oldest) {
            struct history_event *ev = history_at(s, 0);
            s->history_bytes -= (uint64_t)ev->key_len + ev->value_len + EVENT_OVERHEAD;
            free(ev->bytes);
            ev->bytes = NULL;
            s->history_head = (s->history_head + 1) % s->history_cap;
            s->history_count--;
        }
        assert(oldest > s->compact_revision);
        s->compact_revision = oldest;
    }
}

int cs_store_watch(const struct cs_store *s, uint64_t from_revision, const uint8_t *prefix, size_t prefix_len,
                   size_t limit, void (*fn)(void *arg, const struct cs_event *event), void *arg,
                   uint64_t *next_revision, struct cohort_error *err)
{
    if (prefix == NULL && prefix_len > 0)
        return cohort_error_set(err, CS_E_INVALID, DOMAIN, "watch: NULL prefix of %zu bytes", prefix_len);
    if (from_revision == 0) from_revision = 1;
    if (s->compact_revision > 0 && from_revision <= s->compact_revision)
        return cohort_error_set(err, CS_E_COMPACTED, DOMAIN,
                                "watch from revision %llu: the history kept starts at revision %llu; read the "
                                "keys afresh and watch from the revision of that read + 1",
                                (unsigned long long)from_revision, (unsigned long long)s->compact_revision + 1);
    /* Find the first event at from_revision or later. */
    size_t lo = 0, hi = s->history_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (history_at(s, mid)->revision < from_revision) lo = mid + 1;
        else hi = mid;
    }
    /*
     * Whole revisions only: stop before a revision whose matching events do not all fit
     * in what limit leaves, unless it is the first one delivered, which goes out whole
     * whatever limit says (else a revision larger than limit could never be delivered).
     */
    size_t count = 0;
    uint64_t next = s->revision + 1;
    size_t i = lo;
    while (i < s->history_count) {
        uint64_t rev = history_at(s, i)->revision;
        size_t end = i, matching = 0;
        while (end < s->history_count && history_at(s, end)->revision == rev) {
            const struct history_event *ev = history_at(s, end);
            matching += has_prefix(ev->bytes, ev->key_len, prefix, prefix_len);
            end++;
        }
        if (limit != 0 && count > 0 && count + matching > limit) {
            next = rev;
            break;
        }
        for (size_t j = i; j < end; j++) {
            const struct history_event *ev = history_at(s, j);
            if (!has_prefix(ev->bytes, ev->key_len, prefix, prefix_len)) continue;
            struct cs_event out = {ev->type,
                                   {ev->bytes, ev->key_len, ev->bytes + ev->key_len, ev->value_len,
                                    ev->create_revision, ev->revision, ev->version}};
            if (fn != NULL) fn(arg, &out);
        }
        count += matching;
        i = end;
        if (limit != 0 && count >= limit) {
            next = i < s->history_count ? history_at(s, i)->revision : s->revision + 1;
            break;
        }
    }
    if (next < from_revision) next = from_revision;
    if (next_revision != NULL) *next_revision = next;
    return count > INT_MAX ? INT_MAX : (int)count;
}

/* ---- Dedup window ---- */

static uint64_t dedup_hash(const uint8_t key[DEDUP_KEY_BYTES])
{
    /* Keccak, so that ids chosen to collide cannot slow the table down. */
    uint8_t digest[32];
    keccak256(key, DEDUP_KEY_BYTES, digest);
    uint64_t h = 0;
    for (int i = 0; i < 8; i++) h = h << 8 | digest[i];
    return h;
}

/* The entry of ring that table finds for key, or NULL. (A restore checks its new table too.) */
static const struct dedup_entry *table_find(const uint32_t *table, const struct dedup_entry *ring,
                                            const uint8_t key[DEDUP_KEY_BYTES], uint64_t hash)
{
    for (size_t i = hash & (DEDUP_TABLE_SLOTS - 1);; i = (i + 1) & (DEDUP_TABLE_SLOTS - 1)) {
        uint32_t slot = table[i];
        if (slot == 0) return NULL;
        const struct dedup_entry *e = &ring[slot - 1];
        if (e->hash == hash && memcmp(e->key, key, DEDUP_KEY_BYTES) == 0) return e;
    }
}

/* Adds ring slot, whose entry hashes to hash, to table. */
static void table_insert(uint32_t *table, uint64_t hash, size_t slot)
{
    assert(slot < CS_DEDUP_WINDOW);
    size_t i = hash & (DEDUP_TABLE_SLOTS - 1);
    while (table[i] != 0) i = (i + 1) & (DEDUP_TABLE_SLOTS - 1);
    table[i] = (uint32_t)(slot + 1);
}

static const struct dedup_entry *dedup_find(const struct cs_store *s, const uint8_t key[DEDUP_KEY_BYTES], uint64_t hash)
{
    if (s->dedup_table == NULL) return NULL;
    return table_find(s->dedup_table, s->dedup, key, hash);
}

/* Removes ring slot from the table, shifting later entries of its probe run back. */
static void dedup_table_remove(struct cs_store *s, size_t slot)
{
    const size_t mask = DEDUP_TABLE_SLOTS - 1;
    size_t hole = s->dedup[slot].hash & mask;
    while (s->dedup_table[hole] != slot + 1) {
        assert(s->dedup_table[hole] != 0);
        hole = (hole + 1) & mask;
    }
    s->dedup_table[hole] = 0;
    for (size_t j = (hole + 1) & mask; s->dedup_table[j] != 0; j = (j + 1) & mask) {
        size_t home = s->dedup[s->dedup_table[j] - 1].hash & mask;
        /* The entry at j may move to the hole unless its home lies cyclically in (hole, j]. */
        bool stays = hole < j ? (home > hole && home <= j) : (home > hole || home <= j);
        if (stays) continue;
        s->dedup_table[hole] = s->dedup_table[j];
        s->dedup_table[j] = 0;
        hole = j;
    }
}

static void dedup_record(struct cs_store *s, const uint8_t key[DEDUP_KEY_BYTES], uint64_t hash, uint64_t revision,
                         bool succeeded)
{
    if (s->dedup_table == NULL) {
        s->dedup_table = must_realloc(NULL, DEDUP_TABLE_SLOTS * sizeof *s->dedup_table);
        memset(s->dedup_table, 0, DEDUP_TABLE_SLOTS * sizeof *s->dedup_table);
    }
    size_t slot;
    if (s->dedup_count < CS_DEDUP_WINDOW) {
        /* Still growing: the ring is linear (head 0), so realloc keeps slot numbers. */
        assert(s->dedup_head == 0);
        if (s->dedup_count == s->dedup_cap) {
            size_t cap = s->dedup_cap ? s->dedup_cap * 2 : 256;
            if (cap > CS_DEDUP_WINDOW) cap = CS_DEDUP_WINDOW;
            s->dedup = must_realloc(s->dedup, cap * sizeof *s->dedup);
            s->dedup_cap = cap;
        }
        slot = s->dedup_count++;
    } else {
        assert(s->dedup_cap == CS_DEDUP_WINDOW);
        slot = s->dedup_head;
        dedup_table_remove(s, slot);
        s->dedup_head = (s->dedup_head + 1) % CS_DEDUP_WINDOW;
    }
    struct dedup_entry *e = &s->dedup[slot];
    memcpy(e->key, key, DEDUP_KEY_BYTES);
    e->hash = hash;
    e->revision = revision;
    e->succeeded = succeeded;
    table_insert(s->dedup_table, hash, slot);
}

/* ---- Applying a transaction ---- */

static bool compare_holds(const struct cs_store *s, const struct cs_compare *c)
{
    const struct entry *e = lookup(s, c->key, c->key_len);
    int cmp;
    if (c->target == CS_TARGET_VALUE) {
        /* A missing key's value is "" (config_store.h). */
        cmp = e ? key_compare(e->value, e->value_len, c->value, c->value_len)
                : key_compare(NULL, 0, c->value, c->value_len);
    } else {
        uint64_t have = 0;
        if (e != NULL) {
            switch (c->target) {
            case CS_TARGET_MOD_REVISION: have = e->mod_revision; break;
            case CS_TARGET_CREATE_REVISION: have = e->create_revision; break;
            case CS_TARGET_VERSION: have = e->version; break;
            default: assert(!"unknown target survived decoding");
            }
        }
        cmp = have < c->number ? -1 : have > c->number ? 1 : 0;
    }
    switch (c->result) {
    case CS_CMP_EQUAL: return cmp == 0;
    case CS_CMP_NOT_EQUAL: return cmp != 0;
    case CS_CMP_LESS: return cmp < 0;
    case CS_CMP_GREATER: return cmp > 0;
    }
    assert(!"unknown result survived decoding");
    return false;
}

static bool op_covers(const struct cs_op *op, const uint8_t *key, size_t key_len)
{
    if (op->prefix) return has_prefix(key, key_len, op->key, op->key_len);
    return key_compare(key, key_len, op->key, op->key_len) == 0;
}

/*
 * A dry run of the branch: would its final state pass CS_KEYS_MAX or CS_STORE_BYTES_MAX?
 * The keys it puts are followed through every later op; every other key it touches is a
 * key that was in the store and is deleted (counted once, by the first delete that covers it).
 */
static bool over_caps(const struct cs_store *s, const struct cs_op *ops, unsigned n)
{
    struct {
        const uint8_t *key;
        uint16_t key_len;
        bool present;
        uint32_t value_len;
    } put[CS_TXN_OPS_MAX];
    unsigned nput = 0;
    for (unsigned i = 0; i < n; i++) {
        const struct cs_op *op = &ops[i];
        if (op->type == CS_OP_PUT) {
            unsigned k = 0;
            while (k < nput && key_compare(put[k].key, put[k].key_len, op->key, op->key_len) != 0) k++;
            if (k == nput) {
                put[nput].key = op->key;
                put[nput].key_len = op->key_len;
                nput++;
            }
            put[k].present = true;
            put[k].value_len = op->value_len;
        } else if (op->type == CS_OP_DELETE) {
            for (unsigned k = 0; k < nput; k++)
                if (op_covers(op, put[k].key, put[k].key_len)) put[k].present = false;
        }
    }
    if (nput == 0) return false; /* deletes and reads only shrink the store */

    int64_t keys = (int64_t)s->nentries;
    int64_t bytes = (int64_t)s->bytes;
    for (unsigned k = 0; k < nput; k++) {
        const struct entry *e = lookup(s, put[k].key, put[k].key_len);
        if (e != NULL) {
            keys -= 1;
            bytes -= (int64_t)e->key_len + e->value_len;
        }
        if (put[k].present) {
            keys += 1;
            bytes += (int64_t)put[k].key_len + put[k].value_len;
        }
    }
    for (unsigned i = 0; i < n; i++) {
        const struct cs_op *op = &ops[i];
        if (op->type != CS_OP_DELETE) continue;
        for (size_t j = lower_bound(s, op->key, op->key_len); j < s->nentries; j++) {
            const struct entry *e = &s->entries[j];
            if (!op_covers(op, e->key, e->key_len)) break;
            bool counted = false;
            for (unsigned k = 0; k < nput && !counted; k++)
                counted = key_compare(put[k].key, put[k].key_len, e->key, e->key_len) == 0;
            for (unsigned earlier = 0; earlier < i && !counted; earlier++)
                counted = ops[earlier].type == CS_OP_DELETE && op_covers(&ops[earlier], e->key, e->key_len);
            if (counted) continue;
            keys -= 1;
            bytes -= (int64_t)e->key_len + e->value_len;
        }
    }
    assert(keys >= 0);
    assert(bytes >= 0);
    return keys > CS_KEYS_MAX || (uint64_t)bytes > CS_STORE_BYTES_MAX;
}

static void bury(struct cs_store *s, void *buffer)
{
    if (buffer == NULL) return;
    reserve((void **)&s->graveyard, &s->graveyard_cap, s->ngraveyard + 1, sizeof *s->graveyard);
    s->graveyard[s->ngraveyard++] = buffer;
}

static void do_put(struct cs_store *s, const struct cs_op *op, uint64_t revision)
{
    size_t i = lower_bound(s, op->key, op->key_len);
    struct entry *e;
    if (i < s->nentries && key_compare(s->entries[i].key, s->entries[i].key_len, op->key, op->key_len) == 0) {
        e = &s->entries[i];
        bury(s, e->value); /* an earlier range of this request may still point at it */
        s->bytes -= e->value_len;
        e->version++;
    } else {
        reserve((void **)&s->entries, &s->entries_cap, s->nentries + 1, sizeof *s->entries);
        memmove(&s->entries[i + 1], &s->entries[i], (s->nentries - i) * sizeof *s->entries);
        s->nentries++;
        e = &s->entries[i];
        e->key = must_realloc(NULL, op->key_len);
        memcpy(e->key, op->key, op->key_len);
        e->key_len = op->key_len;
        e->create_revision = revision;
        e->version = 1;
        s->bytes += op->key_len;
    }
    e->value = NULL;
    if (op->value_len > 0) {
        e->value = must_realloc(NULL, op->value_len);
        memcpy(e->value, op->value, op->value_len);
    }
    e->value_len = op->value_len;
    e->mod_revision = revision;
    s->bytes += op->value_len;
    assert(e->version >= 1);
    history_push(s, CS_OP_PUT, e->key, e->key_len, e->value, e->value_len, revision, e->create_revision, e->version);
}

/* Deletes the keys op covers; returns how many. */
static uint32_t do_delete(struct cs_store *s, const struct cs_op *op, uint64_t revision)
{
    size_t first = lower_bound(s, op->key, op->key_len);
    size_t end = first;
    while (end < s->nentries && op_covers(op, s->entries[end].key, s->entries[end].key_len)) {
        struct entry *e = &s->entries[end];
        history_push(s, CS_OP_DELETE, e->key, e->key_len, NULL, 0, revision, 0, 0);
        s->bytes -= (uint64_t)e->key_len + e->value_len;
        bury(s, e->key);
        bury(s, e->value);
        end++;
    }
    /* Only when something went: entries is NULL in a store that has never held a key (a new
     * one, or one restored from a snapshot without keys), and &NULL[0] is undefined. */
    if (end > first) {
        memmove(&s->entries[first], &s->entries[end], (s->nentries - end) * sizeof *s->entries);
        s->nentries -= end - first;
    }
    assert(end - first <= CS_KEYS_MAX + CS_TXN_OPS_MAX);
    return (uint32_t)(end - first);
}

static void do_range(struct cs_store *s, const struct cs_op *op)
{
    for (size_t i = lower_bound(s, op->key, op->key_len); i < s->nentries; i++) {
        const struct entry *e = &s->entries[i];
        if (!op_covers(op, e->key, e->key_len)) break;
        reserve((void **)&s->kvs, &s->kvs_cap, s->nkvs + 1, sizeof *s->kvs);
        s->kvs[s->nkvs++] = kv_of(e);
    }
}

static int finish(struct cs_store *s, struct cs_result *res, int status, const char *message, cs_result_fn fn,
                  void *arg)
{
    res->status = status;
    res->message = status == CS_OK ? NULL : message;
    if (status != CS_OK) s->nkvs = 0;
    res->kvs = s->kvs;
    res->nkvs = s->nkvs;
    if (fn != NULL) fn(arg, res);
    free_graveyard(s);
    s->nkvs = 0;
    return status;
}

/*
 * Applies one request. batch_signer NULL: the request carries its own signature, which
 * names its signer; else it came in a batch that batch_signer signed, and its own
 * signature field must be all zero.
 */
static int apply_request(struct cs_store *s, const uint8_t *entry, size_t len, const uint8_t *batch_signer,
                         cs_result_fn fn, void *arg)
{
    struct cs_result res;
    memset(&res, 0, sizeof res);
    res.revision = s->revision;
    s->nkvs = 0;
    struct cohort_error err;
    struct cs_request *req = &s->request;
    int rc = cs_request_decode(entry, len, req, &err);
    if (rc < 0)
        return finish(s, &res, CS_E_INVALID,
                      rc == CS_E_RANGE ? "the request has a field over its cap" : "the request is malformed", fn,
                      arg);
    res.id = req->id;
    if (batch_signer != NULL) {
        static const uint8_t zero[CS_SIGNATURE_BYTES];
        memcpy(res.signer, batch_signer, ADDRESS_BYTES);
        if (memcmp(req->signature, zero, CS_SIGNATURE_BYTES) != 0)
            return finish(s, &res, CS_E_INVALID, "a request in a batch carries a signature of its own", fn, arg);
    } else if (cs_request_signer(req, res.signer, &err) < 0) {
        memset(res.signer, 0, sizeof res.signer);
        return finish(s, &res, CS_E_INVALID, "the request's signature recovers no signer", fn, arg);
    }
    if (req->instance != s->instance)
        return finish(s, &res, CS_E_INSTANCE, "the request is for another cluster instance", fn, arg);
    bool writer = false;
    for (size_t i = 0; i < s->nwriters && !writer; i++) writer = memcmp(s->writers[i], res.signer, ADDRESS_BYTES) == 0;
    if (!writer)
        return finish(s, &res, CS_E_UNAUTHORIZED, "the request is signed by neither a member nor an admin", fn, arg);

    uint8_t dedup_key[DEDUP_KEY_BYTES];
    memcpy(dedup_key, res.signer, ADDRESS_BYTES);
    memcpy(dedup_key + ADDRESS_BYTES, req->id, CS_ID_BYTES);
    uint64_t hash = dedup_hash(dedup_key);
    const struct dedup_entry *seen = dedup_find(s, dedup_key, hash);
    if (seen != NULL) {
        res.revision = seen->revision;
        res.succeeded = seen->succeeded;
        return finish(s, &res, CS_E_DUPLICATE, "the request id was applied already", fn, arg);
    }

    bool succeeded = true;
    for (unsigned i = 0; i < req->ncompare && succeeded; i++) succeeded = compare_holds(s, &req->compare[i]);
    const struct cs_op *ops = succeeded ? req->success : req->failure;
    unsigned nops = succeeded ? req->nsuccess : req->nfailure;
    res.succeeded = succeeded;
    if (over_caps(s, ops, nops))
        return finish(s, &res, CS_E_FULL, "the request would pass the store's cap on keys or bytes", fn, arg);

    uint64_t revision = s->revision + 1;
    bool changed = false;
    for (unsigned i = 0; i < nops; i++) {
        res.range_start[i] = s->nkvs;
        switch (ops[i].type) {
        case CS_OP_PUT:
            do_put(s, &ops[i], revision);
            changed = true;
            break;
        case CS_OP_DELETE: {
            uint32_t n = do_delete(s, &ops[i], revision);
            res.deleted += n;
            changed = changed || n > 0;
            break;
        }
        case CS_OP_RANGE: do_range(s, &ops[i]); break;
        default: assert(!"unknown op type survived decoding");
        }
    }
    for (unsigned i = nops; i < CS_TXN_OPS_MAX; i++) res.range_start[i] = s->nkvs;
    if (changed) {
        s->revision = revision;
        history_evict(s);
    }
    assert(s->nentries <= CS_KEYS_MAX);
    assert(s->bytes <= CS_STORE_BYTES_MAX);
    res.revision = s->revision;
    dedup_record(s, dedup_key, hash, s->revision, succeeded);
    return finish(s, &res, CS_OK, NULL, fn, arg);
}

/*
 * A batch (layout in config_store.h): its framing and signature are checked first; a
 * batch that fails them is one refused result (id NULL), and none of its requests is
 * looked at, since nothing vouches for them. Then each request is applied in order as if
 * the batch's signer had signed it.
 */
/* A request's length in a batch's framing (u32 big-endian). */
static size_t batch_len_at(const uint8_t *p)
{
    return (size_t)p[0] << 24 | (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3];
}

static int apply_batch(struct cs_store *s, const uint8_t *entry, size_t len, const uint8_t *known_signer,
                       cs_result_fn fn, void *arg)
{
    struct cs_result res;
    memset(&res, 0, sizeof res);
    res.revision = s->revision;
    s->nkvs = 0;
    if (len < CS_BATCH_HEADER_BYTES + CS_SIGNATURE_BYTES || len > CS_BATCH_BYTES_MAX)
        return finish(s, &res, CS_E_INVALID, "the batch is too short or too long", fn, arg);
    uint64_t instance = 0;
    for (int i = 0; i < 8; i++) instance = instance << 8 | entry[4 + i];
    size_t count = (size_t)entry[12] << 8 | entry[13];
    if (count < 1 || count > CS_BATCH_MAX)
        return finish(s, &res, CS_E_INVALID, "the batch's request count is out of range", fn, arg);
    /* Walk the framing: every length within the bytes, nothing left before the signature. */
    size_t pos = CS_BATCH_HEADER_BYTES, end = len - CS_SIGNATURE_BYTES;
    for (size_t i = 0; i < count; i++) {
        if (end - pos < 4) return finish(s, &res, CS_E_INVALID, "the batch's framing is cut off", fn, arg);
        size_t n = batch_len_at(entry + pos);
        pos += 4;
        if (n > end - pos || n > CS_REQUEST_MAX)
            return finish(s, &res, CS_E_INVALID, "a request in the batch runs past its end", fn, arg);
        pos += n;
    }
    if (pos != end) return finish(s, &res, CS_E_INVALID, "the batch has bytes after its requests", fn, arg);
    if (known_signer != NULL) {
        memcpy(res.signer, known_signer, ADDRESS_BYTES); /* the caller sealed it: no recovery */
    } else {
        uint8_t hash[32];
        batch_hash(entry, end, hash);
        struct cohort_error err;
        if (secp_recover_address(hash, entry + end, SECP_S_LOW, res.signer, &err) < 0) {
            memset(res.signer, 0, sizeof res.signer);
            return finish(s, &res, CS_E_INVALID, "the batch's signature recovers no signer", fn, arg);
        }
    }
    if (instance != s->instance)
        return finish(s, &res, CS_E_INSTANCE, "the batch is for another cluster instance", fn, arg);
    bool writer = false;
    for (size_t i = 0; i < s->nwriters && !writer; i++) writer = memcmp(s->writers[i], res.signer, ADDRESS_BYTES) == 0;
    if (!writer)
        return finish(s, &res, CS_E_UNAUTHORIZED, "the batch is signed by neither a member nor an admin", fn, arg);
    uint8_t signer[ADDRESS_BYTES];
    memcpy(signer, res.signer, ADDRESS_BYTES);
    int last = CS_OK;
    pos = CS_BATCH_HEADER_BYTES;
    for (size_t i = 0; i < count; i++) {
        size_t n = batch_len_at(entry + pos);
        pos += 4;
        last = apply_request(s, entry + pos, n, signer, fn, arg);
        pos += n;
    }
    return last;
}

int cs_store_apply(struct cs_store *s, const uint8_t *entry, size_t len, cs_result_fn fn, void *arg)
{
    if (len >= 4 && memcmp(entry, BATCH_MAGIC, 4) == 0) return apply_batch(s, entry, len, NULL, fn, arg);
    return apply_request(s, entry, len, NULL, fn, arg);
}

int cs_store_apply_sealed(struct cs_store *s, const uint8_t *entry, size_t len, const uint8_t signer[20],
                          cs_result_fn fn, void *arg)
{
    assert(signer != NULL);
    if (len >= 4 && memcmp(entry, BATCH_MAGIC, 4) == 0) return apply_batch(s, entry, len, signer, fn, arg);
    return apply_request(s, entry, len, NULL, fn, arg);
}

/* ---- Snapshots ---- */

#define SNAPSHOT_MAGIC "CCS1"
#define SNAPSHOT_HEADER_BYTES (4 + 8 + 8 + 8 + 4 + 4 + 4)
#define SNAPSHOT_CHECKSUM_BYTES 32
#define SNAPSHOT_KEY_FIXED (2 + 4 + 3 * 8)       /* a key's record but its key and value */
#define SNAPSHOT_EVENT_FIXED (1 + 2 + 4 + 3 * 8) /* an event's record but its key and value */
#define SNAPSHOT_DEDUP_BYTES (DEDUP_KEY_BYTES + 8 + 1)

/*
 * The most events the history can hold: CS_HISTORY_MAX, or one revision that alone passes
 * it (history_evict never evicts the newest). One request's events are at most every key
 * that was in the store deleted, plus one event for each put and one for deleting that put.
 */
#define ONE_REVISION_EVENTS_MAX (CS_KEYS_MAX + 2 * CS_TXN_OPS_MAX)
#define HISTORY_EVENTS_MAX (CS_HISTORY_MAX > ONE_REVISION_EVENTS_MAX ? CS_HISTORY_MAX : ONE_REVISION_EVENTS_MAX)

_Static_assert(SNAPSHOT_HEADER_BYTES == 40, "snapshot header layout");
_Static_assert(SNAPSHOT_DEDUP_BYTES == 45, "snapshot dedup entry layout");
_Static_assert(CS_KEYS_MAX <= UINT32_MAX && HISTORY_EVENTS_MAX <= UINT32_MAX && CS_DEDUP_WINDOW <= UINT32_MAX,
               "snapshot counts are u32");
/*
 * The largest snapshot a store within its caps can have fits CS_SNAPSHOT_MAX: the keys; the
 * history as the larger of its two cases added together (64 MiB of keys, values and
 * EVENT_OVERHEAD, whose framing is less than EVENT_OVERHEAD; or one revision: the framing
 * of its events, every key of the store deleted, and each op's put of a key and a value);
 * the dedup window.
 */
_Static_assert(SNAPSHOT_HEADER_BYTES + (unsigned long long)CS_KEYS_MAX * SNAPSHOT_KEY_FIXED + CS_STORE_BYTES_MAX +
                       HISTORY_BYTES_MAX + (unsigned long long)HISTORY_EVENTS_MAX * SNAPSHOT_EVENT_FIXED +
                       CS_STORE_BYTES_MAX + 2ull * CS_TXN_OPS_MAX * (CS_KEY_MAX + CS_VALUE_MAX) +
                       (unsigned long long)CS_DEDUP_WINDOW * SNAPSHOT_DEDUP_BYTES + SNAPSHOT_CHECKSUM_BYTES <=
                   CS_SNAPSHOT_MAX,
               "CS_SNAPSHOT_MAX holds the largest snapshot");
_Static_assert(SNAPSHOT_EVENT_FIXED <= EVENT_OVERHEAD, "an event's framing is within its accounted overhead");
_Static_assert(CS_REVISION_MAX <= UINT64_MAX / CS_TXN_OPS_MAX / 2, "versions of revisions up to the cap do not wrap");

static const struct dedup_entry *dedup_at(const struct cs_store *s, size_t i)
{
    assert(i < s->dedup_count);
    return &s->dedup[(s->dedup_head + i) % s->dedup_cap];
}

int cs_store_snapshot(const struct cs_store *s, uint8_t **out, size_t *out_len, struct cohort_error *err)
{
    int rc = cs_store_snapshot_unsealed(s, out, out_len, err);
    if (rc == 0) cs_snapshot_seal(*out, *out_len);
    return rc;
}

void cs_snapshot_seal(uint8_t *bytes, size_t len)
{
    assert(bytes != NULL && len >= SNAPSHOT_HEADER_BYTES + SNAPSHOT_CHECKSUM_BYTES);
    keccak256(bytes, len - SNAPSHOT_CHECKSUM_BYTES, bytes + len - SNAPSHOT_CHECKSUM_BYTES);
}

int cs_store_snapshot_unsealed(const struct cs_store *s, uint8_t **out, size_t *out_len, struct cohort_error *err)
{
    assert(s != NULL);
    assert(out != NULL);
    assert(out_len != NULL);
    *out = NULL;
    *out_len = 0;
    uint64_t size = SNAPSHOT_HEADER_BYTES + SNAPSHOT_CHECKSUM_BYTES;
    size += (uint64_t)s->nentries * SNAPSHOT_KEY_FIXED + s->bytes;
    for (size_t i = 0; i < s->history_count; i++) {
        const struct history_event *ev = history_at(s, i);
        size += SNAPSHOT_EVENT_FIXED + (uint64_t)ev->key_len + ev->value_len;
    }
    size += (uint64_t)s->dedup_count * SNAPSHOT_DEDUP_BYTES;
    if (size > CS_SNAPSHOT_MAX)
        return cohort_error_set(err, CS_E_RANGE, DOMAIN, "snapshot: %llu bytes, over the cap of %u",
                                (unsigned long long)size, CS_SNAPSHOT_MAX);
    uint8_t *buf = malloc((size_t)size);
    if (buf == NULL)
        return cohort_error_set(err, CS_E_NOMEM, DOMAIN, "snapshot: out of memory for %llu bytes",
                                (unsigned long long)size);

    const size_t body = (size_t)size - SNAPSHOT_CHECKSUM_BYTES;
    struct byte_writer w = {buf, body, 0, false};
    bw_bytes(&w, SNAPSHOT_MAGIC, 4);
    bw_u64(&w, s->instance);
    bw_u64(&w, s->revision);
    bw_u64(&w, s->compact_revision);
    assert(s->nentries <= CS_KEYS_MAX);
    assert(s->history_count <= HISTORY_EVENTS_MAX);
    assert(s->dedup_count <= CS_DEDUP_WINDOW);
    bw_u32(&w, (uint32_t)s->nentries);
    bw_u32(&w, (uint32_t)s->history_count);
    bw_u32(&w, (uint32_t)s->dedup_count);
    for (size_t i = 0; i < s->nentries; i++) {
        const struct entry *e = &s->entries[i];
        bw_u16(&w, e->key_len);
        bw_bytes(&w, e->key, e->key_len);
        bw_u32(&w, e->value_len);
        bw_bytes(&w, e->value, e->value_len);
        bw_u64(&w, e->create_revision);
        bw_u64(&w, e->mod_revision);
        bw_u64(&w, e->version);
    }
    for (size_t i = 0; i < s->history_count; i++) {
        const struct history_event *ev = history_at(s, i);
        bw_u8(&w, ev->type);
        bw_u16(&w, ev->key_len);
        bw_bytes(&w, ev->bytes, ev->key_len);
        bw_u32(&w, ev->value_len);
        bw_bytes(&w, ev->bytes + ev->key_len, ev->value_len);
        bw_u64(&w, ev->revision);
        bw_u64(&w, ev->create_revision);
        bw_u64(&w, ev->version);
    }
    for (size_t i = 0; i < s->dedup_count; i++) {
        const struct dedup_entry *e = dedup_at(s, i);
        bw_bytes(&w, e->key, DEDUP_KEY_BYTES);
        bw_u64(&w, e->revision);
        bw_u8(&w, e->succeeded ? 1 : 0);
    }
    assert(!w.overflow);
    assert(w.len == body);
    memset(buf + body, 0, SNAPSHOT_CHECKSUM_BYTES); /* cs_snapshot_seal's */
    *out = buf;
    *out_len = (size_t)size;
    return 0;
}

/* Reads a snapshot's body (the bytes before its checksum). section names the record read. */
struct snapshot_reader {
    const uint8_t *in;
    size_t len;
    size_t pos;
    const char *section; /* "key", "event", "dedup entry", or NULL in the header */
    size_t index;
};

/* "snapshot: <section> <index> <field> at offset <offset>: <what>"; field may be NULL. */
static int snapshot_error(struct cohort_error *err, const struct snapshot_reader *r, int code, const char *field,
                          size_t offset, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static int snapshot_error(struct cohort_error *err, const struct snapshot_reader *r, int code, const char *field,
                          size_t offset, const char *fmt, ...)
{
    char name[96], what[256];
    if (r->section != NULL && field != NULL) snprintf(name, sizeof name, "%s %zu %s", r->section, r->index, field);
    else if (r->section != NULL) snprintf(name, sizeof name, "%s %zu", r->section, r->index);
    else snprintf(name, sizeof name, "%s", field != NULL ? field : "header");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return cohort_error_set(err, code, DOMAIN, "snapshot: %s at offset %zu: %s", name, offset, what);
}

static int snapshot_get(struct snapshot_reader *r, size_t len, const char *field, const uint8_t **out,
                        struct cohort_error *err)
{
    if (len > r->len - r->pos)
        return snapshot_error(err, r, CS_E_INVALID, field, r->pos,
                              "cut off (%zu bytes needed, %zu left before the checksum)", len, r->len - r->pos);
    *out = r->in + r->pos;
    r->pos += len;
    return 0;
}

static int snapshot_uint(struct snapshot_reader *r, size_t n, const char *field, uint64_t *out,
                         struct cohort_error *err)
{
    const uint8_t *p = NULL;
    int rc = snapshot_get(r, n, field, &p, err);
    if (rc < 0) return rc;
    *out = be_uint(p, n);
    return 0;
}

#define SNAPSHOT_UINT(r, n, field, var, err)                                                                           \
    do {                                                                                                               \
        uint64_t v_;                                                                                                   \
        int rc_ = snapshot_uint((r), (n), (field), &v_, (err));                                                        \
        if (rc_ < 0) return rc_;                                                                                       \
        (var) = v_;                                                                                                    \
    } while (0)

/* A key or value length and its bytes (key: 1..CS_KEY_MAX bytes; value: 0..CS_VALUE_MAX). */
static int snapshot_field(struct snapshot_reader *r, bool key, const uint8_t **out, size_t *out_len,
                          struct cohort_error *err)
{
    size_t at = r->pos;
    uint64_t len;
    if (key) {
        SNAPSHOT_UINT(r, 2, "key length", len, err);
        if (len == 0) return snapshot_error(err, r, CS_E_INVALID, "key length", at, "is 0 (keys are not empty)");
        if (len > CS_KEY_MAX)
            return snapshot_error(err, r, CS_E_RANGE, "key length", at, "is %llu bytes, over the cap of %d",
                                  (unsigned long long)len, CS_KEY_MAX);
    } else {
        SNAPSHOT_UINT(r, 4, "value length", len, err);
        if (len > CS_VALUE_MAX)
            return snapshot_error(err, r, CS_E_RANGE, "value length", at, "is %llu bytes, over the cap of %u",
                                  (unsigned long long)len, CS_VALUE_MAX);
    }
    *out_len = (size_t)len;
    return snapshot_get(r, (size_t)len, key ? "key" : "value", out, err);
}

/* A copy of len bytes (len > 0), or NULL when memory is short. */
static void *copy_of(const uint8_t *bytes, size_t len)
{
    assert(len > 0);
    void *p = malloc(len);
    if (p != NULL) memcpy(p, bytes, len);
    return p;
}

/* The state a snapshot holds, built apart from the store and swapped in only when whole. */
struct snapshot_state {
    uint64_t revision, compact_revision;
    struct entry *entries; /* nentries of them, zeroed before they are filled */
    size_t nentries;
    uint64_t bytes;
    struct history_event *history; /* history_count of them, oldest first, zeroed before */
    size_t history_count;
    uint64_t history_bytes;
    struct dedup_entry *dedup; /* dedup_count of them, oldest first */
    size_t dedup_count;
    uint32_t *dedup_table; /* NULL when dedup_count is 0 */
};

static void snapshot_state_free(struct snapshot_state *st)
{
    for (size_t i = 0; i < st->nentries && st->entries != NULL; i++) {
        free(st->entries[i].key);
        free(st->entries[i].value);
    }
    free(st->entries);
    for (size_t i = 0; i < st->history_count && st->history != NULL; i++) free(st->history[i].bytes);
    free(st->history);
    free(st->dedup);
    free(st->dedup_table);
}

static int out_of_memory(struct cohort_error *err, const char *what, size_t count)
{
    return cohort_error_set(err, CS_E_NOMEM, DOMAIN, "snapshot: out of memory for %zu %s", count, what);
}

/*
 * A key's version counts its puts since it was created (create <= mod <= CS_REVISION_MAX,
 * checked before): at least one, and at most one an op in each revision from its creation to
 * its last change.
 */
static int check_version(const struct snapshot_reader *r, uint64_t version, uint64_t create, uint64_t mod,
                         size_t offset, struct cohort_error *err)
{
    assert(create <= mod);
    if (version == 0) return snapshot_error(err, r, CS_E_INVALID, "version", offset, "is 0");
    if ((version - 1) / CS_TXN_OPS_MAX > mod - create)
        return snapshot_error(err, r, CS_E_INVALID, "version", offset,
                              "is %llu, more puts than revisions %llu to %llu can hold (%d a revision)",
                              (unsigned long long)version, (unsigned long long)create, (unsigned long long)mod,
                              CS_TXN_OPS_MAX);
    return 0;
}

static int decode_keys(struct snapshot_reader *r, struct snapshot_state *st, struct cohort_error *err)
{
    r->section = "key";
    for (size_t i = 0; i < st->nentries; i++) {
        r->index = i;
        size_t at = r->pos;
        const uint8_t *key = NULL, *value = NULL;
        size_t key_len = 0, value_len = 0;
        int rc;
        if ((rc = snapshot_field(r, true, &key, &key_len, err)) < 0) return rc;
        if ((rc = snapshot_field(r, false, &value, &value_len, err)) < 0) return rc;
        struct entry *e = &st->entries[i];
        size_t numbers_at = r->pos;
        SNAPSHOT_UINT(r, 8, "create revision", e->create_revision, err);
        SNAPSHOT_UINT(r, 8, "mod revision", e->mod_revision, err);
        SNAPSHOT_UINT(r, 8, "version", e->version, err);
        if (i > 0 && key_compare(st->entries[i - 1].key, st->entries[i - 1].key_len, key, key_len) >= 0)
            return snapshot_error(err, r, CS_E_INVALID, NULL, at, "not after the key before it (keys are in byte "
                                                                  "order, each once)");
        if (e->create_revision == 0)
            return snapshot_error(err, r, CS_E_INVALID, "create revision", numbers_at, "is 0");
        if (e->create_revision > e->mod_revision)
            return snapshot_error(err, r, CS_E_INVALID, "create revision", numbers_at,
                                  "%llu is after the mod revision %llu", (unsigned long long)e->create_revision,
                                  (unsigned long long)e->mod_revision);
        if (e->mod_revision > st->revision)
            return snapshot_error(err, r, CS_E_INVALID, "mod revision", numbers_at + 8,
                                  "%llu is after the store's revision %llu", (unsigned long long)e->mod_revision,
                                  (unsigned long long)st->revision);
        if ((rc = check_version(r, e->version, e->create_revision, e->mod_revision, numbers_at + 16, err)) < 0)
            return rc;
        st->bytes += (uint64_t)key_len + value_len;
        if (st->bytes > CS_STORE_BYTES_MAX)
            return snapshot_error(err, r, CS_E_RANGE, NULL, at,
                                  "the keys and values up to it are %llu bytes, over the store's cap of %u",
                                  (unsigned long long)st->bytes, CS_STORE_BYTES_MAX);
        e->key_len = (uint16_t)key_len;
        e->value_len = (uint32_t)value_len;
        e->key = copy_of(key, key_len);
        if (e->key == NULL) return out_of_memory(err, "keys", st->nentries);
        if (value_len > 0 && (e->value = copy_of(value, value_len)) == NULL)
            return out_of_memory(err, "values", st->nentries);
    }
    return 0;
}

static int decode_history(struct snapshot_reader *r, struct snapshot_state *st, struct cohort_error *err)
{
    r->section = "event";
    for (size_t i = 0; i < st->history_count; i++) {
        r->index = i;
        size_t at = r->pos;
        uint64_t type;
        SNAPSHOT_UINT(r, 1, "type", type, err);
        if (type != CS_OP_PUT && type != CS_OP_DELETE)
            return snapshot_error(err, r, CS_E_INVALID, "type", at, "is %llu, neither put (%d) nor delete (%d)",
                                  (unsigned long long)type, CS_OP_PUT, CS_OP_DELETE);
        const uint8_t *key = NULL, *value = NULL;
        size_t key_len = 0, value_len = 0;
        int rc;
        if ((rc = snapshot_field(r, true, &key, &key_len, err)) < 0) return rc;
        size_t value_at = r->pos;
        if ((rc = snapshot_field(r, false, &value, &value_len, err)) < 0) return rc;
        struct history_event *ev = &st->history[i];
        size_t numbers_at = r->pos;
        SNAPSHOT_UINT(r, 8, "revision", ev->revision, err);
        SNAPSHOT_UINT(r, 8, "create revision", ev->create_revision, err);
        SNAPSHOT_UINT(r, 8, "version", ev->version, err);
        /* The history holds every revision after the compact revision, in order, without a gap. */
        uint64_t expected = i == 0 ? st->compact_revision + 1 : st->history[i - 1].revision;
        if (ev->revision != expected && (i == 0 || ev->revision != expected + 1))
            return snapshot_error(err, r, CS_E_INVALID, "revision", numbers_at,
                                  "is %llu, not %s%llu (events run from the compact revision + 1, %llu, to the "
                                  "store's revision, %llu, without a gap)",
                                  (unsigned long long)ev->revision, i == 0 ? "" : "the one before it or ",
                                  (unsigned long long)expected, (unsigned long long)st->compact_revision + 1,
                                  (unsigned long long)st->revision);
        if (ev->revision > st->revision)
            return snapshot_error(err, r, CS_E_INVALID, "revision", numbers_at,
                                  "%llu is after the store's revision %llu", (unsigned long long)ev->revision,
                                  (unsigned long long)st->revision);
        if (type == CS_OP_PUT) {
            if (ev->create_revision == 0 || ev->create_revision > ev->revision)
                return snapshot_error(err, r, CS_E_INVALID, "create revision", numbers_at + 8,
                                      "is %llu, not in 1..%llu (the put's revision)",
                                      (unsigned long long)ev->create_revision, (unsigned long long)ev->revision);
            if ((rc = check_version(r, ev->version, ev->create_revision, ev->revision, numbers_at + 16, err)) < 0)
                return rc;
        } else {
            if (value_len != 0)
                return snapshot_error(err, r, CS_E_INVALID, "value length", value_at,
                                      "is %zu, but a delete's value is empty", value_len);
            if (ev->create_revision != 0 || ev->version != 0)
                return snapshot_error(err, r, CS_E_INVALID, "create revision", numbers_at + 8,
                                      "and version are %llu and %llu, but a delete's are 0",
                                      (unsigned long long)ev->create_revision, (unsigned long long)ev->version);
        }
        ev->type = (uint8_t)type;
        ev->key_len = (uint16_t)key_len;
        ev->value_len = (uint32_t)value_len;
        ev->bytes = malloc(key_len + value_len);
        if (ev->bytes == NULL) return out_of_memory(err, "events", st->history_count);
        memcpy(ev->bytes, key, key_len);
        if (value_len > 0) memcpy(ev->bytes + key_len, value, value_len);
        st->history_bytes += (uint64_t)key_len + value_len + EVENT_OVERHEAD;
    }
    r->section = NULL;
    uint64_t newest = st->history_count > 0 ? st->history[st->history_count - 1].revision : st->compact_revision;
    if (newest != st->revision)
        return snapshot_error(err, r, CS_E_INVALID, "history", r->pos,
                              "ends at revision %llu, but the store is at revision %llu (the history keeps the "
                              "newest revision)",
                              (unsigned long long)newest, (unsigned long long)st->revision);
    /* Past a cap only when the newest revision alone passes it: history_evict took the rest. */
    bool over = st->history_count > CS_HISTORY_MAX || st->history_bytes > HISTORY_BYTES_MAX;
    if (over && st->history[0].revision != st->revision)
        return snapshot_error(err, r, CS_E_INVALID, "history", r->pos,
                              "%zu events of %llu bytes pass the caps of %d events and %u bytes, yet hold "
                              "revisions %llu to %llu (only the newest revision may pass them alone)",
                              st->history_count, (unsigned long long)st->history_bytes, CS_HISTORY_MAX,
                              HISTORY_BYTES_MAX, (unsigned long long)st->history[0].revision,
                              (unsigned long long)st->revision);
    return 0;
}

static int decode_dedup(struct snapshot_reader *r, struct snapshot_state *st, struct cohort_error *err)
{
    r->section = "dedup entry";
    for (size_t i = 0; i < st->dedup_count; i++) {
        r->index = i;
        size_t at = r->pos;
        struct dedup_entry *e = &st->dedup[i];
        const uint8_t *key = NULL;
        int rc;
        if ((rc = snapshot_get(r, DEDUP_KEY_BYTES, "signer and id", &key, err)) < 0) return rc;
        memcpy(e->key, key, DEDUP_KEY_BYTES);
        size_t revision_at = r->pos;
        SNAPSHOT_UINT(r, 8, "revision", e->revision, err);
        size_t succeeded_at = r->pos;
        uint64_t succeeded;
        SNAPSHOT_UINT(r, 1, "succeeded", succeeded, err);
        if (e->revision > st->revision)
            return snapshot_error(err, r, CS_E_INVALID, "revision", revision_at,
                                  "%llu is after the store's revision %llu", (unsigned long long)e->revision,
                                  (unsigned long long)st->revision);
        if (i > 0 && e->revision < st->dedup[i - 1].revision)
            return snapshot_error(err, r, CS_E_INVALID, "revision", revision_at,
                                  "%llu is before the revision %llu of the entry before it (entries are oldest "
                                  "first)",
                                  (unsigned long long)e->revision, (unsigned long long)st->dedup[i - 1].revision);
        if (succeeded > 1)
            return snapshot_error(err, r, CS_E_INVALID, "succeeded", succeeded_at, "is %llu, not 0 or 1",
                                  (unsigned long long)succeeded);
        e->succeeded = succeeded == 1;
        e->hash = dedup_hash(e->key);
        if (table_find(st->dedup_table, st->dedup, e->key, e->hash) != NULL)
            return snapshot_error(err, r, CS_E_INVALID, "signer and id", at,
                                  "are those of an entry before it (the window holds each request once)");
        table_insert(st->dedup_table, e->hash, i);
    }
    r->section = NULL;
    return 0;
}

/* Frees the store's state and takes st's in its place; st is left empty. */
static void snapshot_state_install(struct cs_store *s, struct snapshot_state *st)
{
    free_state(s);
    s->revision = st->revision;
    s->compact_revision = st->compact_revision;
    s->entries = st->entries;
    s->nentries = s->entries_cap = st->nentries;
    s->bytes = st->bytes;
    s->history = st->history;
    s->history_head = 0;
    s->history_count = s->history_cap = st->history_count;
    s->history_bytes = st->history_bytes;
    s->dedup = st->dedup;
    s->dedup_head = 0; /* oldest first: linear, as the ring is while it grows */
    s->dedup_count = s->dedup_cap = st->dedup_count;
    s->dedup_table = st->dedup_table;
    memset(st, 0, sizeof *st);
}

int cs_store_restore(struct cs_store *s, const uint8_t *bytes, size_t len, struct cohort_error *err)
{
    assert(s != NULL);
    assert(s->ngraveyard == 0); /* not called from a result callback */
    if (bytes == NULL && len > 0) return cohort_error_set(err, CS_E_INVALID, DOMAIN, "snapshot: NULL bytes");
    if (len > CS_SNAPSHOT_MAX)
        return cohort_error_set(err, CS_E_RANGE, DOMAIN, "snapshot: %zu bytes, over the cap of %u", len,
                                CS_SNAPSHOT_MAX);
    if (len >= 4 && memcmp(bytes, SNAPSHOT_MAGIC, 4) != 0)
        return cohort_error_set(err, CS_E_INVALID, DOMAIN,
                                "snapshot: magic at offset 0 is %02x%02x%02x%02x, not \"" SNAPSHOT_MAGIC
                                "\" (not a config store snapshot)",
                                bytes[0], bytes[1], bytes[2], bytes[3]);
    if (len < SNAPSHOT_HEADER_BYTES + SNAPSHOT_CHECKSUM_BYTES)
        return cohort_error_set(err, CS_E_INVALID, DOMAIN,
                                "snapshot: %zu bytes, cut off before the end of a header and checksum (%d bytes)",
                                len, SNAPSHOT_HEADER_BYTES + SNAPSHOT_CHECKSUM_BYTES);
    /* The checksum first: a damaged snapshot is reported as damaged, whatever byte it hit. */
    const size_t body = len - SNAPSHOT_CHECKSUM_BYTES;
    uint8_t checksum[32];
    keccak256(bytes, body, checksum);
    if (memcmp(checksum, bytes + body, SNAPSHOT_CHECKSUM_BYTES) != 0)
        return cohort_error_set(err, CS_E_INVALID, DOMAIN,
                                "snapshot: checksum at offset %zu does not match the %zu bytes before it (the "
                                "snapshot is damaged or cut off; take another)",
                                body, body);

    struct snapshot_reader r = {bytes, body, 4, NULL, 0};
    uint64_t instance, nkeys, nevents, ndedup;
    struct snapshot_state st;
    memset(&st, 0, sizeof st);
    SNAPSHOT_UINT(&r, 8, "instance", instance, err);
    if (instance != s->instance)
        return cohort_error_set(err, CS_E_INSTANCE, DOMAIN,
                                "snapshot: instance at offset 4 is %llu (0x%llx), but this store is of instance "
                                "%llu (0x%llx): a snapshot of another cluster",
                                (unsigned long long)instance, (unsigned long long)instance,
                                (unsigned long long)s->instance, (unsigned long long)s->instance);
    SNAPSHOT_UINT(&r, 8, "revision", st.revision, err);
    if (st.revision > CS_REVISION_MAX)
        return snapshot_error(err, &r, CS_E_RANGE, "revision", 12, "is %llu, over the cap of %llu",
                              (unsigned long long)st.revision, (unsigned long long)CS_REVISION_MAX);
    SNAPSHOT_UINT(&r, 8, "compact revision", st.compact_revision, err);
    if (st.compact_revision > st.revision || (st.compact_revision == st.revision && st.revision != 0))
        return snapshot_error(err, &r, CS_E_INVALID, "compact revision", 20,
                              "%llu is not before the revision %llu (the newest revision is never compacted)",
                              (unsigned long long)st.compact_revision, (unsigned long long)st.revision);
    SNAPSHOT_UINT(&r, 4, "key count", nkeys, err);
    SNAPSHOT_UINT(&r, 4, "event count", nevents, err);
    SNAPSHOT_UINT(&r, 4, "dedup count", ndedup, err);
    if (nkeys > CS_KEYS_MAX)
        return snapshot_error(err, &r, CS_E_RANGE, "key count", 28, "is %llu, over the cap of %d",
                              (unsigned long long)nkeys, CS_KEYS_MAX);
    if (nevents > HISTORY_EVENTS_MAX)
        return snapshot_error(err, &r, CS_E_RANGE, "event count", 32, "is %llu, over the cap of %d",
                              (unsigned long long)nevents, HISTORY_EVENTS_MAX);
    if (ndedup > CS_DEDUP_WINDOW)
        return snapshot_error(err, &r, CS_E_RANGE, "dedup count", 36, "is %llu, over the cap of %d",
                              (unsigned long long)ndedup, CS_DEDUP_WINDOW);
    /* Before allocating for the counts: do the bytes present hold that many records? */
    uint64_t least = nkeys * (SNAPSHOT_KEY_FIXED + 1) + nevents * (SNAPSHOT_EVENT_FIXED + 1) +
                     ndedup * SNAPSHOT_DEDUP_BYTES;
    if (least > body - r.pos)
        return snapshot_error(err, &r, CS_E_INVALID, "counts", 28,
                              "%llu keys, %llu events and %llu dedup entries take at least %llu bytes, but %zu are "
                              "left before the checksum",
                              (unsigned long long)nkeys, (unsigned long long)nevents, (unsigned long long)ndedup,
                              (unsigned long long)least, body - r.pos);

    int rc = CS_E_NOMEM;
    st.nentries = (size_t)nkeys;
    st.history_count = (size_t)nevents;
    st.dedup_count = (size_t)ndedup;
    if (nkeys > 0 && (st.entries = calloc(st.nentries, sizeof *st.entries)) == NULL) {
        out_of_memory(err, "keys", st.nentries);
        goto fail;
    }
    if (nevents > 0 && (st.history = calloc(st.history_count, sizeof *st.history)) == NULL) {
        out_of_memory(err, "events", st.history_count);
        goto fail;
    }
    if (ndedup > 0) {
        st.dedup = calloc(st.dedup_count, sizeof *st.dedup);
        st.dedup_table = calloc(DEDUP_TABLE_SLOTS, sizeof *st.dedup_table);
        if (st.dedup == NULL || st.dedup_table == NULL) {
            out_of_memory(err, "dedup entries", st.dedup_count);
            goto fail;
        }
    }
    if ((rc = decode_keys(&r, &st, err)) < 0) goto fail;
    if ((rc = decode_history(&r, &st, err)) < 0) goto fail;
    if ((rc = decode_dedup(&r, &st, err)) < 0) goto fail;
    if (r.pos != r.len) {
        rc = snapshot_error(err, &r, CS_E_INVALID, "end", r.pos, "%zu trailing bytes before the checksum",
                            r.len - r.pos);
        goto fail;
    }
    assert(st.nentries <= CS_KEYS_MAX);
    assert(st.bytes <= CS_STORE_BYTES_MAX);
    snapshot_state_install(s, &st);
    s->nkvs = 0;
    return 0;

fail:
    assert(rc < 0);
    snapshot_state_free(&st);
    return rc;
}
