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
 * - Watch history is kept to CS_HISTORY_MAX events and HISTORY_BYTES_MAX bytes of keys and
 *   values, evicting whole revisions, oldest first, and never the newest revision (which
 *   may alone pass the caps: a prefix delete of every key is one revision). A watch never
 *   splits a revision either; see cs_store_watch.
 */
#include "core/config_store.h"

#include <assert.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/bytes.h"
#include "common/keccak.h"
#include "common/secp.h"

#define DOMAIN "config"
#define SIGNING_DOMAIN "cohort-config-v1"
#define MAGIC "CCR1"
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
    uint8_t hash[32];
    signing_hash(out, w.len, hash);
    struct cohort_error sign_err;
    if (secp_sign(private_key, hash, out + w.len, &sign_err) < 0)
        return cohort_error_set(err, CS_E_INVALID, DOMAIN, "request: sign: %s", sign_err.message);
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

void cs_store_destroy(struct cs_store *s)
{
    if (s == NULL) return;
    for (size_t i = 0; i < s->nentries; i++) {
        free(s->entries[i].key);
        free(s->entries[i].value);
    }
    free(s->entries);
    for (size_t i = 0; i < s->history_count; i++) free(s->history[(s->history_head + i) % s->history_cap].bytes);
    free(s->history);
    free(s->dedup);
    free(s->dedup_table);
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

static const struct dedup_entry *dedup_find(const struct cs_store *s, const uint8_t key[DEDUP_KEY_BYTES], uint64_t hash)
{
    if (s->dedup_table == NULL) return NULL;
    for (size_t i = hash & (DEDUP_TABLE_SLOTS - 1);; i = (i + 1) & (DEDUP_TABLE_SLOTS - 1)) {
        uint32_t slot = s->dedup_table[i];
        if (slot == 0) return NULL;
        const struct dedup_entry *e = &s->dedup[slot - 1];
        if (e->hash == hash && memcmp(e->key, key, DEDUP_KEY_BYTES) == 0) return e;
    }
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
    size_t i = hash & (DEDUP_TABLE_SLOTS - 1);
    while (s->dedup_table[i] != 0) i = (i + 1) & (DEDUP_TABLE_SLOTS - 1);
    s->dedup_table[i] = (uint32_t)(slot + 1);
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
    memmove(&s->entries[first], &s->entries[end], (s->nentries - end) * sizeof *s->entries);
    s->nentries -= end - first;
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

int cs_store_apply(struct cs_store *s, const uint8_t *entry, size_t len, cs_result_fn fn, void *arg)
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
    if (cs_request_signer(req, res.signer, &err) < 0) {
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
