/*
 * test_config_store.c - the config store (config/config.h): the request layout, built
 * here by hand from the header's diagram and checked against the encoder; strict decoding
 * (every truncation, every bad field, every cap); who may write; etcd's put, delete, range
 * and transaction semantics with revisions and versions; compare-and-swap; dedup of
 * request ids; the store's caps; watches and their compaction; determinism: two stores
 * fed the same 10,000 random requests agree, and agree with a reference model kept here;
 * and snapshots: the layout built by hand, round trips of busy, empty and random stores that
 * then behave the same, and strict refusal of damaged or inconsistent snapshots.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/bytes.h"
#include "common/keccak.h"
#include "common/secp.h"
#include "config/config.h"
#include "testutil.h"

#define INSTANCE 0x1122334455667788ull
#define NMEMBERS 4

static uint8_t member_key[NMEMBERS][32], admin_key[32], outsider_key[32];
static uint8_t member_addr[NMEMBERS][20], admin_addr[20], outsider_addr[20];

static void make_key(uint8_t key[32], uint8_t seed, uint8_t addr[20])
{
    memset(key, 0, 32);
    key[0] = 0x42;
    key[31] = seed;
    struct cohort_error err = {0};
    if (secp_address_from_secret(key, addr, &err) != 0) { /* before any test runs: no ck_assert */
        fprintf(stderr, "test key %u: %s\n", seed, err.message);
        abort();
    }
}

static void setup_keys(void)
{
    for (int i = 0; i < NMEMBERS; i++) make_key(member_key[i], (uint8_t)(i + 1), member_addr[i]);
    make_key(admin_key, 100, admin_addr);
    make_key(outsider_key, 200, outsider_addr);
}

static struct cs_store *new_store(void)
{
    struct cohort_error err = {0};
    struct cs_store *s = cs_store_create(INSTANCE, (const uint8_t(*)[20])member_addr, NMEMBERS,
                                         (const uint8_t(*)[20])admin_addr, 1, &err);
    ck_assert_msg(s != NULL, "%s", err.message);
    return s;
}

/* ---- Building requests ---- */

static uint64_t id_counter = 1;

static void req_init(struct cs_request *r)
{
    memset(r, 0, sizeof *r);
    r->instance = INSTANCE;
    uint64_t n = id_counter++;
    for (int i = 0; i < 8; i++) r->id[15 - i] = (uint8_t)(n >> (8 * i));
    r->id[0] = 0xc5;
}

static struct cs_op *new_op(struct cs_request *r, bool failure)
{
    if (failure) {
        ck_assert_uint_lt(r->nfailure, CS_TXN_OPS_MAX);
        return &r->failure[r->nfailure++];
    }
    ck_assert_uint_lt(r->nsuccess, CS_TXN_OPS_MAX);
    return &r->success[r->nsuccess++];
}

static void add_put_n(struct cs_request *r, bool failure, const char *key, const void *value, size_t value_len)
{
    struct cs_op *op = new_op(r, failure);
    *op = (struct cs_op){CS_OP_PUT, false, (const uint8_t *)key, (uint16_t)strlen(key), value, (uint32_t)value_len};
}

static void add_put(struct cs_request *r, bool failure, const char *key, const char *value)
{
    add_put_n(r, failure, key, value, strlen(value));
}

static void add_delete(struct cs_request *r, bool failure, const char *key, bool prefix)
{
    struct cs_op *op = new_op(r, failure);
    *op = (struct cs_op){CS_OP_DELETE, prefix, (const uint8_t *)key, (uint16_t)strlen(key), NULL, 0};
}

static void add_range(struct cs_request *r, bool failure, const char *key, bool prefix)
{
    struct cs_op *op = new_op(r, failure);
    *op = (struct cs_op){CS_OP_RANGE, prefix, (const uint8_t *)key, (uint16_t)strlen(key), NULL, 0};
}

static void add_compare_value(struct cs_request *r, const char *key, uint8_t result, const char *value)
{
    ck_assert_uint_lt(r->ncompare, CS_TXN_OPS_MAX);
    r->compare[r->ncompare++] = (struct cs_compare){(const uint8_t *)key, (uint16_t)strlen(key), CS_TARGET_VALUE,
                                                    result, (const uint8_t *)value, (uint32_t)strlen(value), 0};
}

static void add_compare_number(struct cs_request *r, const char *key, uint8_t target, uint8_t result, uint64_t number)
{
    ck_assert_uint_lt(r->ncompare, CS_TXN_OPS_MAX);
    r->compare[r->ncompare++] =
        (struct cs_compare){(const uint8_t *)key, (uint16_t)strlen(key), target, result, NULL, 0, number};
}

static uint8_t wire[CS_REQUEST_MAX];

static size_t sign_into(const struct cs_request *r, const uint8_t key[32], uint8_t *out, size_t cap)
{
    size_t len = 0;
    struct cohort_error err = {0};
    int rc = cs_request_encode(r, key, out, cap, &len, &err);
    ck_assert_msg(rc == 0, "encode: %s", err.message);
    ck_assert_uint_gt(len, 0);
    return len;
}

/* ---- Applying and capturing results ---- */

#define GOT_KVS 256
#define GOT_TEXT 64

struct got_kv {
    char key[GOT_TEXT];
    char value[GOT_TEXT]; /* the first bytes of the value, NUL-terminated */
    uint32_t value_len;
    uint64_t create_revision, mod_revision, version;
};

struct got {
    int calls;
    int status;
    bool has_id;
    uint8_t id[CS_ID_BYTES];
    uint8_t signer[20];
    uint64_t revision;
    bool succeeded;
    uint32_t deleted;
    size_t nkvs;
    struct got_kv kvs[GOT_KVS];
    size_t range_start[CS_TXN_OPS_MAX];
    bool has_message;
};

static void copy_kv(struct got_kv *g, const struct cs_kv *kv)
{
    size_t n = kv->key_len < GOT_TEXT - 1 ? kv->key_len : GOT_TEXT - 1;
    memcpy(g->key, kv->key, n);
    g->key[n] = '\0';
    n = kv->value_len < GOT_TEXT - 1 ? kv->value_len : GOT_TEXT - 1;
    memcpy(g->value, kv->value, n);
    g->value[n] = '\0';
    g->value_len = kv->value_len;
    g->create_revision = kv->create_revision;
    g->mod_revision = kv->mod_revision;
    g->version = kv->version;
}

static void on_result(void *arg, const struct cs_result *r)
{
    struct got *g = arg;
    g->calls++;
    g->status = r->status;
    g->has_id = r->id != NULL;
    if (r->id) memcpy(g->id, r->id, CS_ID_BYTES);
    memcpy(g->signer, r->signer, 20);
    g->revision = r->revision;
    g->succeeded = r->succeeded;
    g->deleted = r->deleted;
    g->nkvs = r->nkvs;
    for (size_t i = 0; i < r->nkvs && i < GOT_KVS; i++) copy_kv(&g->kvs[i], &r->kvs[i]);
    memcpy(g->range_start, r->range_start, sizeof g->range_start);
    g->has_message = r->message != NULL && r->message[0] != '\0';
    ck_assert_int_eq(r->status == CS_OK, r->message == NULL || !g->has_message);
}

static struct got *apply_bytes(struct cs_store *s, const uint8_t *bytes, size_t len)
{
    static struct got g;
    memset(&g, 0, sizeof g);
    int rc = cs_store_apply(s, bytes, len, on_result, &g);
    ck_assert_int_eq(g.calls, 1);
    ck_assert_int_eq(rc, g.status);
    return &g;
}

static struct got *run_as(struct cs_store *s, const struct cs_request *r, const uint8_t key[32])
{
    size_t len = sign_into(r, key, wire, sizeof wire);
    return apply_bytes(s, wire, len);
}

static struct got *run(struct cs_store *s, const struct cs_request *r) { return run_as(s, r, member_key[0]); }

static struct got *put(struct cs_store *s, const char *key, const char *value)
{
    struct cs_request r;
    req_init(&r);
    add_put(&r, false, key, value);
    return run(s, &r);
}

static struct got *del(struct cs_store *s, const char *key, bool prefix)
{
    struct cs_request r;
    req_init(&r);
    add_delete(&r, false, key, prefix);
    return run(s, &r);
}

struct collected {
    size_t n;
    struct got_kv kv[GOT_KVS];
};

static void collect_kv(void *arg, const struct cs_kv *kv)
{
    struct collected *c = arg;
    if (c->n < GOT_KVS) copy_kv(&c->kv[c->n], kv);
    c->n++;
}

/* The key as the store holds it now; false when absent. */
static bool get(const struct cs_store *s, const char *key, struct got_kv *out)
{
    struct collected c = {0};
    size_t n = cs_store_range(s, (const uint8_t *)key, strlen(key), false, 0, collect_kv, &c);
    ck_assert_uint_eq(n, c.n);
    ck_assert_uint_le(n, 1);
    if (n == 1 && out) *out = c.kv[0];
    return n == 1;
}

static void assert_kv(const struct got_kv *kv, const char *key, const char *value, uint64_t create, uint64_t mod,
                      uint64_t version)
{
    ck_assert_str_eq(kv->key, key);
    ck_assert_str_eq(kv->value, value);
    ck_assert_uint_eq(kv->value_len, strlen(value));
    ck_assert_uint_eq(kv->create_revision, create);
    ck_assert_uint_eq(kv->mod_revision, mod);
    ck_assert_uint_eq(kv->version, version);
}

static void assert_ok(const struct got *g, uint64_t revision)
{
    ck_assert_int_eq(g->status, CS_OK);
    ck_assert_uint_eq(g->revision, revision);
}

/* ---- A request built by hand from the header's diagram ---- */

struct hand {
    uint8_t b[4096];
    size_t n;
};

static void h_bytes(struct hand *h, const void *p, size_t n)
{
    ck_assert_uint_le(h->n + n, sizeof h->b);
    memcpy(h->b + h->n, p, n);
    h->n += n;
}

static void h_uint(struct hand *h, uint64_t v, int bytes)
{
    for (int i = bytes - 1; i >= 0; i--) {
        uint8_t b = (uint8_t)(v >> (8 * i));
        h_bytes(h, &b, 1);
    }
}

static void h_sign(struct hand *h, const uint8_t key[32])
{
    uint8_t hash[32], sig[65];
    struct keccak256_ctx ctx;
    keccak256_init(&ctx);
    keccak256_update(&ctx, "cohort-config-v1", 16);
    keccak256_update(&ctx, h->b, h->n);
    keccak256_final(&ctx, hash);
    struct cohort_error err = {0};
    ck_assert_int_eq(secp_sign(key, hash, sig, &err), 0);
    h_bytes(h, sig, 65);
}

/* magic, instance, id 0x01..0x10, the three counts. */
static void h_header(struct hand *h, uint64_t instance, int ncompare, int nsuccess, int nfailure)
{
    h->n = 0;
    h_bytes(h, "CCR1", 4);
    h_uint(h, instance, 8);
    for (int i = 1; i <= 16; i++) h_uint(h, (uint64_t)i, 1);
    h_uint(h, (uint64_t)ncompare, 1);
    h_uint(h, (uint64_t)nsuccess, 1);
    h_uint(h, (uint64_t)nfailure, 1);
}

/*
 * One compare of key "k" on version (= 0), one compare of "k" on value (= "v"), a put of
 * "k" = "v1" on success, a prefix delete of "p/" and a range of "k" on failure.
 */
static void h_sample(struct hand *h, const uint8_t key[32])
{
    h_header(h, INSTANCE, 2, 1, 2);
    h_uint(h, 1, 2), h_bytes(h, "k", 1), h_uint(h, CS_TARGET_VERSION, 1), h_uint(h, CS_CMP_EQUAL, 1), h_uint(h, 0, 8);
    h_uint(h, 1, 2), h_bytes(h, "k", 1), h_uint(h, CS_TARGET_VALUE, 1), h_uint(h, CS_CMP_EQUAL, 1);
    h_uint(h, 1, 4), h_bytes(h, "v", 1);
    h_uint(h, CS_OP_PUT, 1), h_uint(h, 0, 1), h_uint(h, 1, 2), h_bytes(h, "k", 1), h_uint(h, 2, 4), h_bytes(h, "v1", 2);
    h_uint(h, CS_OP_DELETE, 1), h_uint(h, 1, 1), h_uint(h, 2, 2), h_bytes(h, "p/", 2);
    h_uint(h, CS_OP_RANGE, 1), h_uint(h, 0, 1), h_uint(h, 1, 2), h_bytes(h, "k", 1);
    if (key) h_sign(h, key);
}

static void sample_request(struct cs_request *r)
{
    memset(r, 0, sizeof *r);
    r->instance = INSTANCE;
    for (int i = 0; i < 16; i++) r->id[i] = (uint8_t)(i + 1);
    add_compare_number(r, "k", CS_TARGET_VERSION, CS_CMP_EQUAL, 0);
    add_compare_value(r, "k", CS_CMP_EQUAL, "v");
    add_put(r, false, "k", "v1");
    add_delete(r, true, "p/", true);
    add_range(r, true, "k", false);
}

/* ---- Encoding and decoding ---- */

START_TEST(layout_by_hand_matches_the_encoder)
{
    struct hand h;
    h_sample(&h, member_key[1]);
    struct cs_request r;
    sample_request(&r);
    size_t len = sign_into(&r, member_key[1], wire, sizeof wire);
    ck_assert_uint_eq(len, h.n);
    ck_assert_mem_eq(wire, h.b, len); /* RFC 6979: the same key and bytes give the same signature */

    struct cs_request d;
    struct cohort_error err = {0};
    ck_assert_int_eq(cs_request_decode(h.b, h.n, &d, &err), 0);
    ck_assert_uint_eq(d.instance, INSTANCE);
    ck_assert_mem_eq(d.id, r.id, 16);
    ck_assert_uint_eq(d.ncompare, 2);
    ck_assert_uint_eq(d.nsuccess, 1);
    ck_assert_uint_eq(d.nfailure, 2);
    ck_assert_uint_eq(d.compare[0].target, CS_TARGET_VERSION);
    ck_assert_uint_eq(d.compare[0].number, 0);
    ck_assert_uint_eq(d.compare[1].target, CS_TARGET_VALUE);
    ck_assert_uint_eq(d.compare[1].value_len, 1);
    ck_assert_mem_eq(d.compare[1].value, "v", 1);
    ck_assert_uint_eq(d.success[0].type, CS_OP_PUT);
    ck_assert_uint_eq(d.success[0].value_len, 2);
    ck_assert_mem_eq(d.success[0].value, "v1", 2);
    ck_assert_uint_eq(d.failure[0].type, CS_OP_DELETE);
    ck_assert(d.failure[0].prefix);
    ck_assert_uint_eq(d.failure[0].key_len, 2);
    ck_assert_uint_eq(d.failure[1].type, CS_OP_RANGE);
    ck_assert(!d.failure[1].prefix);
    ck_assert_ptr_eq(d.signed_bytes, h.b);
    ck_assert_uint_eq(d.signed_len, h.n - 65);
    ck_assert_mem_eq(d.signature, h.b + h.n - 65, 65);

    uint8_t signer[20];
    ck_assert_int_eq(cs_request_signer(&d, signer, &err), 0);
    ck_assert_mem_eq(signer, member_addr[1], 20);
}
END_TEST

START_TEST(round_trip_of_every_field)
{
    static uint8_t big_value[CS_VALUE_MAX];
    for (size_t i = 0; i < sizeof big_value; i++) big_value[i] = (uint8_t)(i * 7);
    char long_key[CS_KEY_MAX + 1];
    memset(long_key, 'x', CS_KEY_MAX);
    long_key[CS_KEY_MAX] = '\0';

    struct cs_request r;
    req_init(&r);
    r.instance = UINT64_MAX;
    for (uint8_t t = CS_TARGET_VALUE; t <= CS_TARGET_VERSION; t++)
        for (uint8_t res = CS_CMP_EQUAL; res <= CS_CMP_GREATER; res++)
            if (t == CS_TARGET_VALUE) add_compare_value(&r, "key", res, "");
            else add_compare_number(&r, long_key, t, res, UINT64_MAX - res);
    add_put_n(&r, false, long_key, big_value, sizeof big_value);
    add_put(&r, false, "empty", "");
    add_delete(&r, false, "a", false);
    add_delete(&r, false, "a", true);
    add_range(&r, false, "b", false);
    add_range(&r, false, "b", true);
    for (int i = 0; i < 12; i++) add_range(&r, true, "f", i % 2);
    size_t len = sign_into(&r, admin_key, wire, sizeof wire);

    struct cs_request d;
    struct cohort_error err = {0};
    ck_assert_msg(cs_request_decode(wire, len, &d, &err) == 0, "%s", err.message);
    ck_assert_uint_eq(d.instance, UINT64_MAX);
    ck_assert_mem_eq(d.id, r.id, 16);
    ck_assert_uint_eq(d.ncompare, 16);
    ck_assert_uint_eq(d.nsuccess, 6);
    ck_assert_uint_eq(d.nfailure, 12);
    for (int i = 0; i < 16; i++) {
        ck_assert_uint_eq(d.compare[i].key_len, r.compare[i].key_len);
        ck_assert_mem_eq(d.compare[i].key, r.compare[i].key, r.compare[i].key_len);
        ck_assert_uint_eq(d.compare[i].target, r.compare[i].target);
        ck_assert_uint_eq(d.compare[i].result, r.compare[i].result);
        if (d.compare[i].target == CS_TARGET_VALUE) ck_assert_uint_eq(d.compare[i].value_len, 0);
        else ck_assert_uint_eq(d.compare[i].number, r.compare[i].number);
    }
    for (int i = 0; i < 6; i++) {
        ck_assert_uint_eq(d.success[i].type, r.success[i].type);
        ck_assert_int_eq(d.success[i].prefix, r.success[i].prefix);
        ck_assert_uint_eq(d.success[i].key_len, r.success[i].key_len);
        ck_assert_mem_eq(d.success[i].key, r.success[i].key, r.success[i].key_len);
        ck_assert_uint_eq(d.success[i].value_len, r.success[i].value_len);
        if (r.success[i].value_len) ck_assert_mem_eq(d.success[i].value, r.success[i].value, r.success[i].value_len);
    }
    for (int i = 0; i < 12; i++) ck_assert_int_eq(d.failure[i].prefix, i % 2);
    uint8_t signer[20];
    ck_assert_int_eq(cs_request_signer(&d, signer, &err), 0);
    ck_assert_mem_eq(signer, admin_addr, 20);

    /* The decoded request encodes to the same bytes. */
    static uint8_t again[CS_REQUEST_MAX];
    size_t len2 = sign_into(&d, admin_key, again, sizeof again);
    ck_assert_uint_eq(len2, len);
    ck_assert_mem_eq(again, wire, len);

    /* Exactly enough room, and one byte short. */
    size_t exact = 0;
    ck_assert_int_eq(cs_request_encode(&r, admin_key, again, len, &exact, &err), 0);
    ck_assert_uint_eq(exact, len);
    ck_assert_int_eq(cs_request_encode(&r, admin_key, again, len - 1, &exact, &err), CS_E_RANGE);
    ck_assert_ptr_nonnull(strstr(err.message, "do not fit"));

    /* A request not decoded has no signer. */
    ck_assert_int_eq(cs_request_signer(&r, signer, &err), CS_E_INVALID);
}
END_TEST

START_TEST(every_truncation_fails_cleanly)
{
    struct cs_request r;
    sample_request(&r);
    size_t len = sign_into(&r, member_key[0], wire, sizeof wire);
    struct cs_request d;
    for (size_t cut = 0; cut < len; cut++) {
        /* A copy of exactly cut bytes, so the sanitizers see any read past the end. */
        uint8_t *copy = malloc(cut ? cut : 1);
        memcpy(copy, wire, cut);
        struct cohort_error err = {0};
        int rc = cs_request_decode(copy, cut, &d, &err);
        ck_assert_msg(rc == CS_E_INVALID, "cut at %zu: %d", cut, rc);
        ck_assert_int_eq(err.code, CS_E_INVALID);
        ck_assert_msg(strstr(err.message, "cut off") != NULL, "cut at %zu: %s", cut, err.message);
        ck_assert_str_eq(err.domain, "config");
        free(copy);
    }
    struct cohort_error err = {0};
    ck_assert_int_eq(cs_request_decode(wire, len, &d, &err), 0);
    /* The message names the field and where it starts. */
    ck_assert_int_eq(cs_request_decode(wire, 30, &d, &err), CS_E_INVALID);
    ck_assert_msg(strstr(err.message, "failure count at offset 30") != NULL, "%s", err.message);
    ck_assert_int_eq(cs_request_decode(wire, 33, &d, &err), CS_E_INVALID);
    ck_assert_msg(strstr(err.message, "compare 0 key at offset 33") != NULL, "%s", err.message);
    ck_assert_int_eq(cs_request_decode(wire, len - 1, &d, &err), CS_E_INVALID);
    ck_assert_msg(strstr(err.message, "signature at offset") != NULL, "%s", err.message);
}
END_TEST

static void expect_refused(const struct hand *h, int code, const char *words)
{
    struct cs_request d;
    struct cohort_error err = {0};
    int rc = cs_request_decode(h->b, h->n, &d, &err);
    ck_assert_msg(rc == code, "expected %d (%s), got %d: %s", code, words, rc, err.message);
    ck_assert_msg(strstr(err.message, words) != NULL, "message \"%s\" lacks \"%s\"", err.message, words);
    /* And the store refuses it as its result, with nothing changed. */
    struct cs_store *s = new_store();
    struct got *g = apply_bytes(s, h->b, h->n);
    ck_assert_int_eq(g->status, CS_E_INVALID);
    ck_assert(!g->has_id);
    ck_assert(g->has_message);
    ck_assert_uint_eq(cs_store_revision(s), 0);
    cs_store_destroy(s);
}

/* A request with one put of key (key_len bytes of 'k') and a value of value_len bytes. */
static void h_put(struct hand *h, uint64_t key_len, uint64_t value_len, uint8_t flags)
{
    static uint8_t filler[CS_KEY_MAX + 2];
    memset(filler, 'k', sizeof filler);
    h_header(h, INSTANCE, 0, 1, 0);
    h_uint(h, CS_OP_PUT, 1), h_uint(h, flags, 1), h_uint(h, key_len, 2);
    h_bytes(h, filler, key_len < sizeof filler ? key_len : 0);
    h_uint(h, value_len, 4);
    h_bytes(h, filler, value_len < 100 ? value_len : 0);
    h_sign(h, member_key[0]);
}

START_TEST(each_decode_error)
{
    struct hand h;
    h_sample(&h, member_key[0]);
    expect_refused(&(struct hand){{0}, 0}, CS_E_INVALID, "magic at offset 0 is cut off");

    struct hand t = h;
    t.b[t.n++] = 0;
    expect_refused(&t, CS_E_INVALID, "1 trailing bytes at offset");

    t = h;
    t.b[3] = '2';
    expect_refused(&t, CS_E_INVALID, "magic");

    h_header(&t, INSTANCE, 17, 1, 0);
    expect_refused(&t, CS_E_RANGE, "compare count at offset 28 is 17");
    h_header(&t, INSTANCE, 0, 17, 0);
    expect_refused(&t, CS_E_RANGE, "success count at offset 29 is 17");
    h_header(&t, INSTANCE, 0, 1, 255);
    expect_refused(&t, CS_E_RANGE, "failure count at offset 30 is 255");
    h_header(&t, INSTANCE, 1, 0, 0);
    expect_refused(&t, CS_E_INVALID, "both 0");

    /* Keys: empty, and one byte over the cap; the cap itself is fine. */
    h_put(&t, 0, 1, 0);
    expect_refused(&t, CS_E_INVALID, "success op 0 key length at offset 33 is 0");
    h_put(&t, CS_KEY_MAX + 1, 1, 0);
    expect_refused(&t, CS_E_RANGE, "success op 0 key length at offset 33 is 513 bytes");
    h_put(&t, CS_KEY_MAX, 1, 0);
    struct cs_request d;
    struct cohort_error err = {0};
    ck_assert_msg(cs_request_decode(t.b, t.n, &d, &err) == 0, "%s", err.message);

    /* A value one byte over the cap is refused before its bytes are looked for. */
    h_put(&t, 1, CS_VALUE_MAX + 1, 0);
    expect_refused(&t, CS_E_RANGE, "success op 0 value length at offset 36 is 65537 bytes");
    h_put(&t, 1, UINT32_MAX, 0);
    expect_refused(&t, CS_E_RANGE, "value length");

    /* Flags: only prefix, and only on delete and range. */
    h_put(&t, 1, 1, 1);
    expect_refused(&t, CS_E_INVALID, "success op 0 flags at offset 32 set prefix on a put");
    t = h;
    t.b[t.n - 65 - 1 - 2 - 1] = 3; /* the range's flags */
    expect_refused(&t, CS_E_INVALID, "failure op 1 flags");

    /* Unknown enum values. */
    t = h;
    t.b[31 + 2 + 1] = 5; /* compare 0 target */
    expect_refused(&t, CS_E_INVALID, "compare 0 target at offset 34 is 5");
    t = h;
    t.b[31 + 2 + 1] = 0;
    expect_refused(&t, CS_E_INVALID, "compare 0 target");
    t = h;
    t.b[31 + 2 + 2] = 5; /* compare 0 result */
    expect_refused(&t, CS_E_INVALID, "compare 0 result at offset 35 is 5");
    t = h;
    size_t op0 = 31 + (2 + 1 + 1 + 1 + 8) + (2 + 1 + 1 + 1 + 4 + 1);
    t.b[op0] = 4;
    expect_refused(&t, CS_E_INVALID, "success op 0 type");
    t.b[op0] = 0;
    expect_refused(&t, CS_E_INVALID, "success op 0 type");

    /* A compare's value over the cap. */
    h_header(&t, INSTANCE, 1, 1, 0);
    h_uint(&t, 1, 2), h_bytes(&t, "k", 1), h_uint(&t, CS_TARGET_VALUE, 1), h_uint(&t, CS_CMP_LESS, 1);
    h_uint(&t, CS_VALUE_MAX + 1, 4);
    expect_refused(&t, CS_E_RANGE, "compare 0 value length at offset 36");

    /* The whole request over CS_REQUEST_MAX: refused before anything is read. */
    static uint8_t huge[CS_REQUEST_MAX + 1];
    memcpy(huge, h.b, h.n);
    ck_assert_int_eq(cs_request_decode(huge, sizeof huge, &d, &err), CS_E_RANGE);
    ck_assert_ptr_nonnull(strstr(err.message, "1048577 bytes"));
    struct cs_store *s = new_store();
    ck_assert_int_eq(cs_store_apply(s, huge, sizeof huge, NULL, NULL), CS_E_INVALID);
    cs_store_destroy(s);
}
END_TEST

START_TEST(encode_checks_the_caps)
{
    static uint8_t value[CS_VALUE_MAX + 1];
    struct cs_request r;
    struct cohort_error err = {0};
    size_t len;
    req_init(&r);
    add_put_n(&r, false, "k", value, CS_VALUE_MAX + 1);
    ck_assert_int_eq(cs_request_encode(&r, member_key[0], wire, sizeof wire, &len, &err), CS_E_RANGE);
    ck_assert_ptr_nonnull(strstr(err.message, "success op 0 value length"));

    /* Sixteen puts of the largest value pass the request cap. */
    req_init(&r);
    char keys[16][4];
    for (int i = 0; i < 16; i++) {
        snprintf(keys[i], sizeof keys[i], "k%d", i);
        add_put_n(&r, false, keys[i], value, CS_VALUE_MAX);
    }
    ck_assert_int_eq(cs_request_encode(&r, member_key[0], wire, sizeof wire, &len, &err), CS_E_RANGE);
    ck_assert_ptr_nonnull(strstr(err.message, "over the cap of 1048576"));
    r.nsuccess = 15;
    ck_assert_int_eq(cs_request_encode(&r, member_key[0], wire, sizeof wire, &len, &err), 0);

    req_init(&r);
    add_put(&r, false, "", "v");
    ck_assert_int_eq(cs_request_encode(&r, member_key[0], wire, sizeof wire, &len, &err), CS_E_INVALID);
    req_init(&r);
    add_put(&r, false, "k", "v");
    r.success[0].prefix = true;
    ck_assert_int_eq(cs_request_encode(&r, member_key[0], wire, sizeof wire, &len, &err), CS_E_INVALID);
    req_init(&r);
    ck_assert_int_eq(cs_request_encode(&r, member_key[0], wire, sizeof wire, &len, &err), CS_E_INVALID);
    req_init(&r);
    add_range(&r, false, "k", false);
    r.ncompare = 17;
    ck_assert_int_eq(cs_request_encode(&r, member_key[0], wire, sizeof wire, &len, &err), CS_E_RANGE);
    r.ncompare = 0;
    r.success[0].type = 9;
    ck_assert_int_eq(cs_request_encode(&r, member_key[0], wire, sizeof wire, &len, &err), CS_E_INVALID);
    r.success[0].type = CS_OP_RANGE;
    uint8_t zero_key[32] = {0};
    ck_assert_int_eq(cs_request_encode(&r, zero_key, wire, sizeof wire, &len, &err), CS_E_INVALID);
    ck_assert_int_eq(cs_request_encode(&r, member_key[0], NULL, 0, &len, &err), CS_E_RANGE);
}
END_TEST

/* ---- Who may write ---- */

START_TEST(members_and_admins_write_others_are_refused)
{
    struct cs_store *s = new_store();
    struct cs_request r;
    for (int i = 0; i < NMEMBERS; i++) {
        req_init(&r);
        add_put(&r, false, "by", "member");
        struct got *g = run_as(s, &r, member_key[i]);
        assert_ok(g, (uint64_t)i + 1);
        ck_assert_mem_eq(g->signer, member_addr[i], 20);
        ck_assert(g->has_id);
        ck_assert_mem_eq(g->id, r.id, 16);
        ck_assert(g->succeeded);
    }
    req_init(&r);
    add_put(&r, false, "by", "admin");
    struct got *g = run_as(s, &r, admin_key);
    assert_ok(g, 5);
    ck_assert_mem_eq(g->signer, admin_addr, 20);

    uint8_t before[32], after[32];
    cs_store_digest(s, before);
    req_init(&r);
    add_put(&r, false, "by", "outsider");
    g = run_as(s, &r, outsider_key);
    ck_assert_int_eq(g->status, CS_E_UNAUTHORIZED);
    ck_assert_mem_eq(g->signer, outsider_addr, 20);
    ck_assert_uint_eq(g->revision, 5);
    ck_assert(g->has_message);

    /* Another cluster's request, even from a member. */
    req_init(&r);
    r.instance = INSTANCE + 1;
    add_put(&r, false, "by", "elsewhere");
    g = run_as(s, &r, member_key[0]);
    ck_assert_int_eq(g->status, CS_E_INSTANCE);
    ck_assert_mem_eq(g->signer, member_addr[0], 20);
    ck_assert_uint_eq(g->revision, 5);

    /* A byte changed under the signature: another signer (refused) or none (invalid). */
    req_init(&r);
    add_put(&r, false, "by", "tampered");
    size_t len = sign_into(&r, member_key[0], wire, sizeof wire);
    wire[len - 66] ^= 1;
    g = apply_bytes(s, wire, len);
    ck_assert(g->status == CS_E_UNAUTHORIZED || g->status == CS_E_INVALID);
    wire[len - 66] ^= 1;
    wire[len - 1] = 7; /* v out of range */
    g = apply_bytes(s, wire, len);
    ck_assert_int_eq(g->status, CS_E_INVALID);
    ck_assert(g->has_id);
    memset(wire + len - 65, 0, 65);
    g = apply_bytes(s, wire, len);
    ck_assert_int_eq(g->status, CS_E_INVALID);

    cs_store_digest(s, after);
    ck_assert_mem_eq(before, after, 32);
    struct got_kv kv;
    ck_assert(get(s, "by", &kv));
    assert_kv(&kv, "by", "admin", 1, 5, 5);
    /* The refused requests are not remembered: the same id, re-signed by a member, applies. */
    g = run_as(s, &r, member_key[2]);
    assert_ok(g, 6);

    /* Caps on the writer lists. */
    struct cohort_error err = {0};
    static uint8_t many[CS_MEMBERS_MAX + 1][20];
    ck_assert_ptr_null(cs_store_create(1, (const uint8_t(*)[20])many, CS_MEMBERS_MAX + 1, NULL, 0, &err));
    ck_assert_int_eq(err.code, CS_E_INVALID);
    ck_assert_ptr_null(cs_store_create(1, NULL, 1, NULL, 0, &err));
    struct cs_store *full = cs_store_create(1, (const uint8_t(*)[20])many, CS_MEMBERS_MAX,
                                            (const uint8_t(*)[20])many, CS_ADMINS_MAX, &err);
    ck_assert_ptr_nonnull(full);
    cs_store_destroy(full);
    cs_store_destroy(s);
}
END_TEST

/* ---- etcd's semantics ---- */

START_TEST(put_get_delete_and_revisions)
{
    struct cs_store *s = new_store();
    ck_assert_uint_eq(cs_store_revision(s), 0);
    struct got_kv kv;
    ck_assert(!get(s, "a", NULL));

    assert_ok(put(s, "a", "1"), 1);
    ck_assert(get(s, "a", &kv));
    assert_kv(&kv, "a", "1", 1, 1, 1);
    assert_ok(put(s, "a", "2"), 2);
    ck_assert(get(s, "a", &kv));
    assert_kv(&kv, "a", "2", 1, 2, 2);
    assert_ok(put(s, "a", "2"), 3); /* the same value again is still a change, as in etcd */
    ck_assert(get(s, "a", &kv));
    assert_kv(&kv, "a", "2", 1, 3, 3);
    assert_ok(put(s, "b", ""), 4);
    ck_assert(get(s, "b", &kv));
    assert_kv(&kv, "b", "", 4, 4, 1);

    /* Deleting a missing key changes nothing, not even the revision. */
    struct got *g = del(s, "zz", false);
    assert_ok(g, 4);
    ck_assert_uint_eq(g->deleted, 0);
    g = del(s, "a", false);
    assert_ok(g, 5);
    ck_assert_uint_eq(g->deleted, 1);
    ck_assert(!get(s, "a", NULL));
    /* Created anew: a new create revision and version 1. */
    assert_ok(put(s, "a", "3"), 6);
    ck_assert(get(s, "a", &kv));
    assert_kv(&kv, "a", "3", 6, 6, 1);

    /* Prefix ranges and deletes in byte order; "a" is a prefix of "a/x" and "ab". */
    assert_ok(put(s, "a/x", "4"), 7);
    assert_ok(put(s, "ab", "5"), 8);
    assert_ok(put(s, "a/y", "6"), 9);
    struct collected c = {0};
    ck_assert_uint_eq(cs_store_range(s, (const uint8_t *)"a", 1, true, 0, collect_kv, &c), 4);
    ck_assert_str_eq(c.kv[0].key, "a");
    ck_assert_str_eq(c.kv[1].key, "a/x");
    ck_assert_str_eq(c.kv[2].key, "a/y");
    ck_assert_str_eq(c.kv[3].key, "ab");
    c.n = 0;
    ck_assert_uint_eq(cs_store_range(s, (const uint8_t *)"a/", 2, true, 1, collect_kv, &c), 1);
    ck_assert_str_eq(c.kv[0].key, "a/x");
    ck_assert_uint_eq(cs_store_range(s, NULL, 0, true, 0, NULL, NULL), 5);
    ck_assert_uint_eq(cs_store_range(s, NULL, 0, false, 0, NULL, NULL), 0);
    ck_assert_uint_eq(cs_store_range(s, (const uint8_t *)"a/", 2, false, 0, NULL, NULL), 0);

    g = del(s, "a/", true);
    assert_ok(g, 10);
    ck_assert_uint_eq(g->deleted, 2);
    ck_assert_uint_eq(cs_store_range(s, NULL, 0, true, 0, NULL, NULL), 3);
    g = del(s, "a/", true);
    assert_ok(g, 10);
    ck_assert_uint_eq(g->deleted, 0);

    /* One request, several changes: they share one revision. */
    struct cs_request r;
    req_init(&r);
    add_put(&r, false, "m1", "x");
    add_put(&r, false, "m2", "y");
    add_put(&r, false, "m1", "z");
    add_delete(&r, false, "b", false);
    g = run(s, &r);
    assert_ok(g, 11);
    ck_assert_uint_eq(g->deleted, 1);
    ck_assert(get(s, "m1", &kv));
    assert_kv(&kv, "m1", "z", 11, 11, 2);
    ck_assert(get(s, "m2", &kv));
    assert_kv(&kv, "m2", "y", 11, 11, 1);

    /* Reads do not bump the revision. */
    req_init(&r);
    add_range(&r, false, "m", true);
    g = run(s, &r);
    assert_ok(g, 11);
    ck_assert_uint_eq(g->nkvs, 2);
    assert_kv(&g->kvs[0], "m1", "z", 11, 11, 2);
    cs_store_destroy(s);
}
END_TEST

START_TEST(ranges_read_the_state_at_their_point_in_the_request)
{
    struct cs_store *s = new_store();
    assert_ok(put(s, "a", "old"), 1);
    assert_ok(put(s, "a/1", "one"), 2);
    struct cs_request r;
    req_init(&r);
    add_range(&r, false, "a", false);   /* op 0: "a" = old */
    add_put(&r, false, "a", "new");     /* op 1 */
    add_range(&r, false, "a", true);    /* op 2: a = new, a/1 */
    add_delete(&r, false, "a/", true);  /* op 3 */
    add_range(&r, false, "a", true);    /* op 4: a = new */
    add_delete(&r, false, "a", false);  /* op 5 */
    add_range(&r, false, "a", true);    /* op 6: nothing */
    add_range(&r, false, "nope", false); /* op 7: nothing */
    struct got *g = run(s, &r);
    assert_ok(g, 3);
    ck_assert_uint_eq(g->deleted, 2);
    ck_assert_uint_eq(g->nkvs, 4);
    /* The value read before it was replaced is still the old one while the callback runs. */
    assert_kv(&g->kvs[0], "a", "old", 1, 1, 1);
    assert_kv(&g->kvs[1], "a", "new", 1, 3, 2);
    assert_kv(&g->kvs[2], "a/1", "one", 2, 2, 1);
    assert_kv(&g->kvs[3], "a", "new", 1, 3, 2);
    size_t want[CS_TXN_OPS_MAX] = {0, 1, 1, 3, 3, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4};
    for (int i = 0; i < CS_TXN_OPS_MAX; i++) ck_assert_uint_eq(g->range_start[i], want[i]);
    ck_assert_uint_eq(cs_store_range(s, NULL, 0, true, 0, NULL, NULL), 0);

    /* Delete then put in one request: created anew at this revision. */
    assert_ok(put(s, "k", "1"), 4);
    assert_ok(put(s, "k", "2"), 5);
    req_init(&r);
    add_delete(&r, false, "k", false);
    add_put(&r, false, "k", "3");
    assert_ok(run(s, &r), 6);
    struct got_kv kv;
    ck_assert(get(s, "k", &kv));
    assert_kv(&kv, "k", "3", 6, 6, 1);
    cs_store_destroy(s);
}
END_TEST

/* Runs a request with one compare and a put of "hit" on success, "miss" on failure. */
static bool compare_holds(struct cs_store *s, const struct cs_compare *c)
{
    struct cs_request r;
    req_init(&r);
    r.compare[r.ncompare++] = *c;
    add_range(&r, false, "t", false);
    add_range(&r, true, "t", false);
    struct got *g = run(s, &r);
    ck_assert_int_eq(g->status, CS_OK);
    return g->succeeded;
}

START_TEST(transaction_compares)
{
    struct cs_store *s = new_store();
    assert_ok(put(s, "t", "m"), 1);
    assert_ok(put(s, "other", "x"), 2);
    assert_ok(put(s, "t", "m"), 3); /* t: create 1, mod 3, version 2, value "m" */

    const uint64_t have[] = {0, 0, 3, 1, 2}; /* by target: -, value, mod, create, version */
    for (uint8_t target = CS_TARGET_MOD_REVISION; target <= CS_TARGET_VERSION; target++) {
        for (int64_t delta = -1; delta <= 1; delta++) {
            uint64_t number = (uint64_t)((int64_t)have[target] + delta);
            struct cs_compare c = {(const uint8_t *)"t", 1, target, CS_CMP_EQUAL, NULL, 0, number};
            ck_assert_int_eq(compare_holds(s, &c), delta == 0);
            c.result = CS_CMP_NOT_EQUAL;
            ck_assert_int_eq(compare_holds(s, &c), delta != 0);
            c.result = CS_CMP_LESS; /* the key's field < number */
            ck_assert_int_eq(compare_holds(s, &c), delta > 0);
            c.result = CS_CMP_GREATER;
            ck_assert_int_eq(compare_holds(s, &c), delta < 0);
        }
    }
    const char *values[] = {"l", "m", "ma", "n", ""};
    for (int i = 0; i < 5; i++) {
        int cmp = strcmp("m", values[i]);
        struct cs_compare c = {(const uint8_t *)"t", 1, CS_TARGET_VALUE, CS_CMP_EQUAL, (const uint8_t *)values[i],
                               (uint32_t)strlen(values[i]), 0};
        ck_assert_int_eq(compare_holds(s, &c), cmp == 0);
        c.result = CS_CMP_NOT_EQUAL;
        ck_assert_int_eq(compare_holds(s, &c), cmp != 0);
        c.result = CS_CMP_LESS;
        ck_assert_int_eq(compare_holds(s, &c), cmp < 0);
        c.result = CS_CMP_GREATER;
        ck_assert_int_eq(compare_holds(s, &c), cmp > 0);
    }
    /* A missing key: revisions and version 0, value "". */
    for (uint8_t target = CS_TARGET_MOD_REVISION; target <= CS_TARGET_VERSION; target++) {
        struct cs_compare c = {(const uint8_t *)"missing", 7, target, CS_CMP_EQUAL, NULL, 0, 0};
        ck_assert(compare_holds(s, &c));
        c.result = CS_CMP_GREATER;
        ck_assert(!compare_holds(s, &c));
    }
    struct cs_compare c = {(const uint8_t *)"missing", 7, CS_TARGET_VALUE, CS_CMP_EQUAL, (const uint8_t *)"", 0, 0};
    ck_assert(compare_holds(s, &c));
    c.result = CS_CMP_LESS;
    c.value = (const uint8_t *)"a";
    c.value_len = 1;
    ck_assert(compare_holds(s, &c));
    ck_assert_uint_eq(cs_store_revision(s), 3);

    /* Every compare must hold; then the branches and their results. */
    struct cs_request r;
    req_init(&r);
    add_compare_value(&r, "t", CS_CMP_EQUAL, "m");
    add_compare_number(&r, "other", CS_TARGET_VERSION, CS_CMP_EQUAL, 2); /* it is 1 */
    add_put(&r, false, "t", "success");
    add_put(&r, true, "t", "failure");
    add_range(&r, true, "t", false);
    struct got *g = run(s, &r);
    assert_ok(g, 4);
    ck_assert(!g->succeeded);
    ck_assert_uint_eq(g->nkvs, 1);
    assert_kv(&g->kvs[0], "t", "failure", 1, 4, 3);
    ck_assert_uint_eq(g->range_start[0], 0);
    ck_assert_uint_eq(g->range_start[1], 0);

    req_init(&r);
    add_compare_value(&r, "t", CS_CMP_EQUAL, "failure");
    add_compare_number(&r, "other", CS_TARGET_VERSION, CS_CMP_EQUAL, 1);
    add_delete(&r, false, "t", false);
    add_range(&r, false, "other", false);
    add_put(&r, true, "never", "x");
    g = run(s, &r);
    assert_ok(g, 5);
    ck_assert(g->succeeded);
    ck_assert_uint_eq(g->deleted, 1);
    ck_assert_uint_eq(g->nkvs, 1);
    ck_assert_uint_eq(g->range_start[0], 0);
    ck_assert_uint_eq(g->range_start[1], 0);
    assert_kv(&g->kvs[0], "other", "x", 2, 2, 1);
    ck_assert(!get(s, "t", NULL));
    ck_assert(!get(s, "never", NULL));

    /* A failure branch with no ops: nothing happens, and that is a result. */
    req_init(&r);
    add_compare_number(&r, "t", CS_TARGET_VERSION, CS_CMP_GREATER, 0);
    add_put(&r, false, "t", "again");
    g = run(s, &r);
    assert_ok(g, 5);
    ck_assert(!g->succeeded);
    /* Compares only, ops only on failure: an "if absent, create" in etcd's style. */
    req_init(&r);
    add_compare_number(&r, "t", CS_TARGET_CREATE_REVISION, CS_CMP_GREATER, 0);
    add_put(&r, true, "t", "created");
    g = run(s, &r);
    assert_ok(g, 6);
    ck_assert(!g->succeeded);
    struct got_kv kv;
    ck_assert(get(s, "t", &kv));
    assert_kv(&kv, "t", "created", 6, 6, 1);
    cs_store_destroy(s);
}
END_TEST

START_TEST(compare_and_swap_loop)
{
    /* Three clients increment one counter with compare-and-swap on mod_revision, each
     * building its request from what it last saw, all three submitting every round. */
    struct cs_store *s = new_store();
    enum { CLIENTS = 3, TARGET = 60 };
    uint64_t seen_mod[CLIENTS] = {0};
    long seen_value[CLIENTS] = {0};
    long successes = 0;
    int rounds = 0;
    char values[CLIENTS][24], seen_text[CLIENTS][24];
    while (successes < TARGET) {
        ck_assert_int_lt(++rounds, 10 * TARGET);
        uint64_t before = cs_store_revision(s);
        int won = 0;
        for (int c = 0; c < CLIENTS && successes < TARGET; c++) {
            struct cs_request r;
            req_init(&r);
            snprintf(values[c], sizeof values[c], "%ld", seen_value[c] + 1);
            snprintf(seen_text[c], sizeof seen_text[c], "%ld", seen_value[c]);
            add_compare_number(&r, "ctr", CS_TARGET_MOD_REVISION, CS_CMP_EQUAL, seen_mod[c]);
            add_put(&r, false, "ctr", values[c]);
            add_range(&r, false, "ctr", false);
            add_range(&r, true, "ctr", false);
            struct got *g = run_as(s, &r, member_key[c]);
            ck_assert_int_eq(g->status, CS_OK);
            ck_assert_uint_eq(g->nkvs, 1);
            if (g->succeeded) {
                successes++;
                won++;
                ck_assert_str_eq(g->kvs[0].value, values[c]);
            }
            seen_mod[c] = g->kvs[0].mod_revision;
            seen_value[c] = strtol(g->kvs[0].value, NULL, 10);
        }
        /* Exactly one client wins each round: the others compared an old mod_revision. */
        ck_assert_int_eq(won, 1);
        ck_assert_uint_eq(cs_store_revision(s), before + 1);
    }
    struct got_kv kv;
    ck_assert(get(s, "ctr", &kv));
    ck_assert_int_eq(strtol(kv.value, NULL, 10), TARGET);
    ck_assert_uint_eq(kv.version, TARGET);
    ck_assert_uint_eq(kv.mod_revision, TARGET);
    ck_assert_uint_eq(kv.create_revision, 1);
    cs_store_destroy(s);
}
END_TEST

START_TEST(dedup_of_request_ids)
{
    struct cs_store *s = new_store();
    struct cs_request r;
    req_init(&r);
    add_put(&r, false, "k", "1");
    static uint8_t first[4096];
    size_t first_len = sign_into(&r, member_key[0], first, sizeof first);
    assert_ok(apply_bytes(s, first, first_len), 1);

    uint8_t before[32], after[32];
    cs_store_digest(s, before);
    struct got *g = apply_bytes(s, first, first_len);
    ck_assert_int_eq(g->status, CS_E_DUPLICATE);
    ck_assert_uint_eq(g->revision, 1);
    ck_assert(g->succeeded);
    ck_assert(g->has_id);
    ck_assert_mem_eq(g->id, r.id, 16);
    ck_assert_uint_eq(cs_store_revision(s), 1);
    cs_store_digest(s, after);
    ck_assert_mem_eq(before, after, 32);

    /* Later: the duplicate still reports the first's revision, and changes nothing. */
    assert_ok(put(s, "k", "2"), 2);
    assert_ok(put(s, "k", "3"), 3);
    g = apply_bytes(s, first, first_len);
    ck_assert_int_eq(g->status, CS_E_DUPLICATE);
    ck_assert_uint_eq(g->revision, 1);
    ck_assert_uint_eq(cs_store_revision(s), 3);
    struct got_kv kv;
    ck_assert(get(s, "k", &kv));
    assert_kv(&kv, "k", "3", 1, 3, 3);

    /* The same id re-signed by the same member, with other ops: still a duplicate. */
    struct cs_request same = r;
    same.success[0].value = (const uint8_t *)"9";
    g = run_as(s, &same, member_key[0]);
    ck_assert_int_eq(g->status, CS_E_DUPLICATE);
    ck_assert(get(s, "k", &kv));
    ck_assert_str_eq(kv.value, "3");
    /* The same id from another writer is another request. */
    g = run_as(s, &same, member_key[1]);
    assert_ok(g, 4);
    g = run_as(s, &same, admin_key);
    assert_ok(g, 5);

    /* A failed transaction and a read are remembered too, with their outcome. */
    req_init(&r);
    add_compare_value(&r, "k", CS_CMP_EQUAL, "nope");
    add_put(&r, false, "k", "x");
    add_range(&r, true, "k", false);
    size_t len = sign_into(&r, member_key[3], first, sizeof first);
    g = apply_bytes(s, first, len);
    assert_ok(g, 5);
    ck_assert(!g->succeeded);
    ck_assert_uint_eq(g->nkvs, 1);
    assert_ok(put(s, "k", "nope"), 6);
    g = apply_bytes(s, first, len);
    ck_assert_int_eq(g->status, CS_E_DUPLICATE);
    ck_assert(!g->succeeded);
    ck_assert_uint_eq(g->revision, 5);
    ck_assert_uint_eq(g->nkvs, 0);
    ck_assert(get(s, "k", &kv));
    ck_assert_str_eq(kv.value, "nope");
    cs_store_destroy(s);
}
END_TEST

/* Puts keys prefix + (first .. first + n - 1 in digits digits), per_request to a request. */
static void put_many(struct cs_store *s, const char *prefix, int digits, size_t first, size_t n, const uint8_t *value,
                     size_t value_len, size_t per_request)
{
    static char keys[CS_TXN_OPS_MAX][32];
    for (size_t done = 0; done < n;) {
        struct cs_request r;
        req_init(&r);
        for (size_t k = 0; k < per_request && done < n; k++, done++) {
            snprintf(keys[k], sizeof keys[k], "%s%0*zu", prefix, digits, first + done);
            add_put_n(&r, false, keys[k], value, value_len);
        }
        struct got *g = run(s, &r);
        ck_assert_msg(g->status == CS_OK, "put_many at %zu: %d", done, g->status);
    }
}

struct watched {
    size_t n;
    uint64_t first_revision, last_revision;
    char keys[GOT_KVS][GOT_TEXT];
    uint8_t types[GOT_KVS];
    uint64_t revisions[GOT_KVS], creates[GOT_KVS], versions[GOT_KVS];
    char values[GOT_KVS][GOT_TEXT];
};

static void on_event(void *arg, const struct cs_event *e)
{
    struct watched *w = arg;
    if (w->n == 0) w->first_revision = e->kv.mod_revision;
    ck_assert_uint_ge(e->kv.mod_revision, w->last_revision); /* oldest first */
    w->last_revision = e->kv.mod_revision;
    if (w->n < GOT_KVS) {
        struct got_kv kv;
        copy_kv(&kv, &e->kv);
        memcpy(w->keys[w->n], kv.key, GOT_TEXT);
        memcpy(w->values[w->n], kv.value, GOT_TEXT);
        w->types[w->n] = e->type;
        w->revisions[w->n] = e->kv.mod_revision;
        w->creates[w->n] = e->kv.create_revision;
        w->versions[w->n] = e->kv.version;
    }
    w->n++;
}

static struct watched *watch(const struct cs_store *s, uint64_t from, const char *prefix, size_t limit, uint64_t *next,
                             int expect)
{
    static struct watched w;
    memset(&w, 0, sizeof w);
    struct cohort_error err = {0};
    *next = 12345;
    int n = cs_store_watch(s, from, (const uint8_t *)prefix, prefix ? strlen(prefix) : 0, limit, on_event, &w, next,
                           &err);
    if (expect < 0) {
        ck_assert_int_eq(n, expect);
        ck_assert_int_eq(err.code, expect);
        return NULL;
    }
    ck_assert_msg(n >= 0, "%s", err.message);
    ck_assert_uint_eq((size_t)n, w.n);
    return &w;
}

/* ---- Snapshots ---- */

/* The snapshot of s, in a malloc'd buffer the test frees. */
static uint8_t *snap(const struct cs_store *s, size_t *len)
{
    uint8_t *bytes = NULL;
    struct cohort_error err = {0};
    int rc = cs_store_snapshot(s, &bytes, len, &err);
    ck_assert_msg(rc == 0, "snapshot: %s", err.message);
    ck_assert_ptr_nonnull(bytes);
    ck_assert_uint_ge(*len, 72);
    return bytes;
}

static void restore_ok(struct cs_store *s, const uint8_t *bytes, size_t len)
{
    struct cohort_error err = {0};
    int rc = cs_store_restore(s, bytes, len, &err);
    ck_assert_msg(rc == 0, "restore: %s", err.message);
}

/* a and b hold the same state: the same digest, revision and snapshot bytes. */
static void assert_same_state(const struct cs_store *a, const struct cs_store *b)
{
    uint8_t da[32], db[32];
    cs_store_digest(a, da);
    cs_store_digest(b, db);
    ck_assert_mem_eq(da, db, 32);
    ck_assert_uint_eq(cs_store_revision(a), cs_store_revision(b));
    size_t la, lb;
    uint8_t *sa = snap(a, &la), *sb = snap(b, &lb);
    ck_assert_uint_eq(la, lb);
    ck_assert_int_eq(memcmp(sa, sb, la), 0);
    free(sa);
    free(sb);
}

static void assert_same_kv(const struct got_kv *x, const struct got_kv *y)
{
    ck_assert_str_eq(x->key, y->key);
    ck_assert_str_eq(x->value, y->value);
    ck_assert_uint_eq(x->value_len, y->value_len);
    ck_assert_uint_eq(x->create_revision, y->create_revision);
    ck_assert_uint_eq(x->mod_revision, y->mod_revision);
    ck_assert_uint_eq(x->version, y->version);
}

/* Applies one entry to a and b: the same status and result on both. Returns the status. */
static int apply_both(struct cs_store *a, struct cs_store *b, const uint8_t *bytes, size_t len, struct got *out)
{
    static struct got ga;
    ga = *apply_bytes(a, bytes, len);
    struct got *gb = apply_bytes(b, bytes, len);
    ck_assert_int_eq(ga.status, gb->status);
    ck_assert_uint_eq(ga.revision, gb->revision);
    ck_assert_int_eq(ga.succeeded, gb->succeeded);
    ck_assert_uint_eq(ga.deleted, gb->deleted);
    ck_assert_uint_eq(ga.nkvs, gb->nkvs);
    for (size_t i = 0; i < ga.nkvs && i < GOT_KVS; i++) assert_same_kv(&ga.kvs[i], &gb->kvs[i]);
    ck_assert_int_eq(memcmp(ga.range_start, gb->range_start, sizeof ga.range_start), 0);
    if (out) *out = ga;
    return ga.status;
}

static int run_both(struct cs_store *a, struct cs_store *b, const struct cs_request *r, const uint8_t key[32])
{
    static uint8_t bytes[CS_REQUEST_MAX];
    size_t len = sign_into(r, key, bytes, sizeof bytes);
    return apply_both(a, b, bytes, len, NULL);
}

/* Every event a watch delivers, hashed in order with its kv. */
struct event_hash {
    struct keccak256_ctx ctx;
    size_t n;
};

static void hash_event(void *arg, const struct cs_event *e)
{
    struct event_hash *h = arg;
    uint8_t fixed[1 + 2 + 4 + 24];
    fixed[0] = e->type;
    fixed[1] = (uint8_t)(e->kv.key_len >> 8), fixed[2] = (uint8_t)e->kv.key_len;
    for (int i = 0; i < 4; i++) fixed[3 + i] = (uint8_t)(e->kv.value_len >> (24 - 8 * i));
    const uint64_t n[3] = {e->kv.create_revision, e->kv.mod_revision, e->kv.version};
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < 8; i++) fixed[7 + 8 * k + i] = (uint8_t)(n[k] >> (56 - 8 * i));
    keccak256_update(&h->ctx, fixed, sizeof fixed);
    keccak256_update(&h->ctx, e->kv.key, e->kv.key_len);
    keccak256_update(&h->ctx, e->kv.value, e->kv.value_len);
    h->n++;
}

/* The same watch on a and b gives the same events, count, next revision and error. Returns the count. */
static int assert_same_watch(const struct cs_store *a, const struct cs_store *b, uint64_t from, const char *prefix,
                             size_t limit)
{
    struct event_hash ha, hb;
    uint8_t da[32], db[32];
    memset(&ha, 0, sizeof ha);
    memset(&hb, 0, sizeof hb);
    keccak256_init(&ha.ctx);
    keccak256_init(&hb.ctx);
    uint64_t na = 0, nb = 0;
    struct cohort_error ea = {0}, eb = {0};
    size_t plen = prefix ? strlen(prefix) : 0;
    int ra = cs_store_watch(a, from, (const uint8_t *)prefix, plen, limit, hash_event, &ha, &na, &ea);
    int rb = cs_store_watch(b, from, (const uint8_t *)prefix, plen, limit, hash_event, &hb, &nb, &eb);
    ck_assert_int_eq(ra, rb);
    if (ra < 0) {
        ck_assert_str_eq(ea.message, eb.message);
        return ra;
    }
    ck_assert_uint_eq(na, nb);
    ck_assert_uint_eq(ha.n, hb.n);
    ck_assert_uint_eq(ha.n, (size_t)ra);
    keccak256_final(&ha.ctx, da);
    keccak256_final(&hb.ctx, db);
    ck_assert_mem_eq(da, db, 32);
    return ra;
}

START_TEST(snapshot_layout_by_hand_matches)
{
    struct cs_store *s = new_store();
    struct cs_request r1, r2;
    req_init(&r1);
    add_put(&r1, false, "a", "1");
    assert_ok(run(s, &r1), 1);
    req_init(&r2);
    add_put(&r2, false, "b", "22");
    add_delete(&r2, false, "a", false);
    assert_ok(run_as(s, &r2, admin_key), 2);

    struct hand h = {.n = 0};
    h_bytes(&h, "CCS1", 4);
    h_uint(&h, INSTANCE, 8);
    h_uint(&h, 2, 8), h_uint(&h, 0, 8);            /* revision, compact revision */
    h_uint(&h, 1, 4), h_uint(&h, 3, 4), h_uint(&h, 2, 4); /* keys, events, dedup entries */
    h_uint(&h, 1, 2), h_bytes(&h, "b", 1), h_uint(&h, 2, 4), h_bytes(&h, "22", 2);
    h_uint(&h, 2, 8), h_uint(&h, 2, 8), h_uint(&h, 1, 8);
    h_uint(&h, CS_OP_PUT, 1), h_uint(&h, 1, 2), h_bytes(&h, "a", 1), h_uint(&h, 1, 4), h_bytes(&h, "1", 1);
    h_uint(&h, 1, 8), h_uint(&h, 1, 8), h_uint(&h, 1, 8);
    h_uint(&h, CS_OP_PUT, 1), h_uint(&h, 1, 2), h_bytes(&h, "b", 1), h_uint(&h, 2, 4), h_bytes(&h, "22", 2);
    h_uint(&h, 2, 8), h_uint(&h, 2, 8), h_uint(&h, 1, 8);
    h_uint(&h, CS_OP_DELETE, 1), h_uint(&h, 1, 2), h_bytes(&h, "a", 1), h_uint(&h, 0, 4);
    h_uint(&h, 2, 8), h_uint(&h, 0, 8), h_uint(&h, 0, 8);
    h_bytes(&h, member_addr[0], 20), h_bytes(&h, r1.id, 16), h_uint(&h, 1, 8), h_uint(&h, 1, 1);
    h_bytes(&h, admin_addr, 20), h_bytes(&h, r2.id, 16), h_uint(&h, 2, 8), h_uint(&h, 1, 1);
    uint8_t checksum[32];
    keccak256(h.b, h.n, checksum);
    h_bytes(&h, checksum, 32);

    size_t len;
    uint8_t *bytes = snap(s, &len);
    ck_assert_uint_eq(len, h.n);
    ck_assert_int_eq(memcmp(bytes, h.b, len), 0);
    free(bytes);
    /* And the bytes by hand restore to the same store. */
    struct cs_store *t = new_store();
    restore_ok(t, h.b, h.n);
    assert_same_state(s, t);
    cs_store_destroy(s);
    cs_store_destroy(t);
}
END_TEST

START_TEST(snapshot_round_trip_of_a_busy_store)
{
    /* Puts, deletes and transactions; the history past its byte cap (64 KiB values); the
     * dedup window wrapped around; the last entries a failed transaction and a put. */
    static uint8_t big[CS_VALUE_MAX];
    memset(big, 'x', sizeof big);
    struct cs_store *a = new_store();
    assert_ok(put(a, "cfg/a", "1"), 1);
    assert_ok(put(a, "cfg/b", "2"), 2);
    assert_ok(put(a, "cfg/a", "3"), 3);
    assert_ok(del(a, "cfg/b", false), 4);
    put_many(a, "big/", 2, 0, 15, big, sizeof big, 15);
    const uint64_t first_big = cs_store_revision(a);
    for (int i = 0; i < 70; i++) put_many(a, "big/", 2, 0, 15, big, sizeof big, 15);
    uint64_t next;
    ck_assert_ptr_null(watch(a, 1, NULL, 0, &next, CS_E_COMPACTED));
    struct cs_request r;
    req_init(&r);
    add_compare_value(&r, "cfg/a", CS_CMP_EQUAL, "3");
    add_put(&r, false, "cfg/c", "");
    add_delete(&r, false, "big/0", true);
    add_range(&r, false, "cfg/", true);
    add_put(&r, true, "never", "1");
    struct got *g = run(a, &r);
    ck_assert_int_eq(g->status, CS_OK);
    ck_assert(g->succeeded);
    ck_assert_uint_eq(g->deleted, 10);

    enum { EXTRA = 10, EARLY = EXTRA + 4 };
    static uint8_t early[EARLY][256];
    static size_t early_len[EARLY];
    for (uint32_t i = 0; i < CS_DEDUP_WINDOW + EXTRA; i++) {
        req_init(&r);
        add_range(&r, false, "cfg/a", false);
        size_t len = sign_into(&r, member_key[i % NMEMBERS], wire, sizeof wire);
        if (i < EARLY) {
            memcpy(early[i], wire, len);
            early_len[i] = len;
        }
        ck_assert_int_eq(cs_store_apply(a, wire, len, NULL, NULL), CS_OK);
    }
    /* The last two applied: a failed transaction, then a put. */
    static uint8_t failed[512], last[512];
    req_init(&r);
    add_compare_number(&r, "cfg/a", CS_TARGET_VERSION, CS_CMP_GREATER, 5);
    add_put(&r, false, "no", "1");
    add_put(&r, true, "cfg/d", "failed");
    size_t failed_len = sign_into(&r, member_key[1], failed, sizeof failed);
    g = apply_bytes(a, failed, failed_len);
    ck_assert_int_eq(g->status, CS_OK);
    ck_assert(!g->succeeded);
    const uint64_t failed_revision = g->revision;
    req_init(&r);
    add_put(&r, false, "cfg/e", "last");
    size_t last_len = sign_into(&r, admin_key, last, sizeof last);
    assert_ok(apply_bytes(a, last, last_len), failed_revision + 1);
    const uint64_t revision = cs_store_revision(a);

    /* Into a fresh store: the same state. */
    size_t len;
    uint8_t *bytes = snap(a, &len);
    ck_assert_uint_le(len, CS_SNAPSHOT_MAX);
    struct cs_store *b = new_store();
    restore_ok(b, bytes, len);
    free(bytes);
    assert_same_state(a, b);
    ck_assert_uint_eq(cs_store_revision(b), revision);
    struct collected ca = {0}, cb = {0};
    ck_assert_uint_eq(cs_store_range(a, NULL, 0, true, 0, collect_kv, &ca),
                      cs_store_range(b, NULL, 0, true, 0, collect_kv, &cb));
    ck_assert_uint_eq(ca.n, 9); /* big/10..14, cfg/a, cfg/c, cfg/d, cfg/e */
    for (size_t i = 0; i < ca.n; i++) assert_same_kv(&ca.kv[i], &cb.kv[i]);

    /* The same watches, from before the history, at its start, inside it, at its end, after. */
    struct cohort_error err = {0};
    ck_assert_int_eq(cs_store_watch(b, 0, NULL, 0, 0, NULL, NULL, &next, &err), CS_E_COMPACTED);
    ck_assert_int_eq(assert_same_watch(a, b, 1, NULL, 0), CS_E_COMPACTED);
    ck_assert_int_eq(assert_same_watch(a, b, first_big, NULL, 0), CS_E_COMPACTED);
    /* The oldest revision kept: the error of the one before it names it. */
    const char *starts = strstr(err.message, "starts at revision ");
    ck_assert_ptr_nonnull(starts);
    uint64_t oldest = strtoull(starts + strlen("starts at revision "), NULL, 10);
    ck_assert_uint_gt(oldest, first_big);
    ck_assert_int_eq(assert_same_watch(a, b, oldest - 1, NULL, 0), CS_E_COMPACTED);
    ck_assert_int_gt(assert_same_watch(a, b, oldest, NULL, 0), 900);
    ck_assert_int_gt(assert_same_watch(a, b, oldest + 7, "big/1", 0), 0);
    ck_assert_int_gt(assert_same_watch(a, b, oldest + 3, NULL, 20), 0);
    ck_assert_int_eq(assert_same_watch(a, b, failed_revision, "cfg/", 0), 2); /* cfg/d, then cfg/e */
    ck_assert_int_eq(assert_same_watch(a, b, revision, NULL, 0), 1);
    ck_assert_int_eq(assert_same_watch(a, b, revision + 1, NULL, 0), 0);

    /* Duplicates report what they did on both: the failed transaction, the put. */
    struct got ga;
    ck_assert_int_eq(apply_both(a, b, failed, failed_len, &ga), CS_E_DUPLICATE);
    ck_assert_uint_eq(ga.revision, failed_revision);
    ck_assert(!ga.succeeded);
    ck_assert_int_eq(apply_both(a, b, last, last_len, &ga), CS_E_DUPLICATE);
    ck_assert_uint_eq(ga.revision, revision);

    /* The window forgets in the same order: it holds the range requests from EXTRA + 2 on
     * (the failed transaction and the put pushed out two more), oldest first. */
    ck_assert_int_eq(apply_both(a, b, early[EXTRA + 2], early_len[EXTRA + 2], NULL), CS_E_DUPLICATE);
    /* early[0] was forgotten: it applies, and the window forgets its oldest, EXTRA + 2, */
    ck_assert_int_eq(apply_both(a, b, early[0], early_len[0], NULL), CS_OK);
    /* which applies again in turn, forgetting EXTRA + 3, */
    ck_assert_int_eq(apply_both(a, b, early[EXTRA + 2], early_len[EXTRA + 2], NULL), CS_OK);
    ck_assert_int_eq(apply_both(a, b, early[EXTRA + 3], early_len[EXTRA + 3], NULL), CS_OK);
    /* while early[0] is remembered now, and EXTRA + 1 was forgotten from the start. */
    ck_assert_int_eq(apply_both(a, b, early[0], early_len[0], NULL), CS_E_DUPLICATE);
    ck_assert_int_eq(apply_both(a, b, early[EXTRA + 1], early_len[EXTRA + 1], NULL), CS_OK);

    /* The same further entries: the same results and digests, evicting the same history. */
    for (int i = 0; i < 20; i++) {
        req_init(&r);
        char key[16];
        snprintf(key, sizeof key, "big/%02d", i % 15);
        add_put_n(&r, false, key, big, sizeof big);
        add_put(&r, false, "cfg/a", i % 2 ? "odd" : "even");
        if (i % 5 == 0) add_delete(&r, false, "cfg/", true);
        ck_assert_int_eq(run_both(a, b, &r, member_key[i % NMEMBERS]), CS_OK);
    }
    req_init(&r);
    add_compare_value(&r, "cfg/a", CS_CMP_EQUAL, "odd");
    add_range(&r, false, "big/", true);
    add_delete(&r, true, "big/", true);
    ck_assert_int_eq(run_both(a, b, &r, admin_key), CS_OK);
    assert_same_state(a, b);
    ck_assert_int_eq(assert_same_watch(a, b, oldest, NULL, 0), CS_E_COMPACTED);
    ck_assert_int_gt(assert_same_watch(a, b, cs_store_revision(a) - 15, NULL, 0), 0);
    cs_store_destroy(a);
    cs_store_destroy(b);
}
END_TEST

START_TEST(snapshot_of_an_empty_store)
{
    struct cs_store *empty = new_store();
    size_t len;
    uint8_t *bytes = snap(empty, &len);
    ck_assert_uint_eq(len, 40 + 32);
    ck_assert_int_eq(memcmp(bytes, "CCS1", 4), 0);
    /* Restored over a store with keys, history and dedup entries: all of it goes. */
    struct cs_store *s = new_store();
    assert_ok(put(s, "a", "1"), 1);
    assert_ok(put(s, "b", "2"), 2);
    restore_ok(s, bytes, len);
    free(bytes);
    assert_same_state(empty, s);
    ck_assert_uint_eq(cs_store_revision(s), 0);
    ck_assert(!get(s, "a", NULL));
    uint64_t next;
    ck_assert_uint_eq(watch(s, 0, NULL, 0, &next, 0)->n, 0);
    ck_assert_uint_eq(next, 1);
    /* The same request applies to both, and the next one too. */
    struct cs_request r;
    req_init(&r);
    add_put(&r, false, "a", "1");
    ck_assert_int_eq(run_both(empty, s, &r, member_key[0]), CS_OK);
    ck_assert_int_eq(run_both(empty, s, &r, member_key[0]), CS_E_DUPLICATE);
    assert_same_state(empty, s);
    ck_assert_int_eq(assert_same_watch(empty, s, 0, NULL, 0), 1);
    cs_store_destroy(empty);
    cs_store_destroy(s);
}
END_TEST

/* A small store with a key of an empty value, a deleted key, and a failed transaction. */
static struct cs_store *small_store(void)
{
    struct cs_store *s = new_store();
    assert_ok(put(s, "a", "1"), 1);
    assert_ok(put(s, "b", ""), 2);
    assert_ok(put(s, "c", "3"), 3);
    assert_ok(del(s, "a", false), 4);
    struct cs_request r;
    req_init(&r);
    add_compare_value(&r, "c", CS_CMP_EQUAL, "no");
    add_put(&r, true, "c", "4");
    ck_assert_int_eq(run(s, &r)->status, CS_OK);
    return s;
}

/* Restoring bytes into s fails with code and a message holding words; s is unchanged. */
static void expect_snapshot_refused(struct cs_store *s, const uint8_t *bytes, size_t len, int code, const char *words)
{
    size_t before_len, after_len;
    uint8_t *before = snap(s, &before_len);
    struct cohort_error err = {0};
    int rc = cs_store_restore(s, bytes, len, &err);
    ck_assert_msg(rc == code, "expected %d (%s), got %d: %s", code, words ? words : "", rc, err.message);
    ck_assert_int_eq(err.code, code);
    ck_assert_str_eq(err.domain, "config");
    ck_assert_msg(strncmp(err.message, "snapshot: ", 10) == 0, "%s", err.message);
    if (words) ck_assert_msg(strstr(err.message, words) != NULL, "message \"%s\" lacks \"%s\"", err.message, words);
    uint8_t *after = snap(s, &after_len);
    ck_assert_uint_eq(before_len, after_len);
    ck_assert_int_eq(memcmp(before, after, before_len), 0);
    free(before);
    free(after);
}

/* A snapshot built by hand from the header's diagram (struct hand is 4 KiB: small ones). */
static void s_header(struct hand *h, uint64_t instance, uint64_t revision, uint64_t compact, uint64_t nkeys,
                     uint64_t nevents, uint64_t ndedup)
{
    h->n = 0;
    h_bytes(h, "CCS1", 4);
    h_uint(h, instance, 8), h_uint(h, revision, 8), h_uint(h, compact, 8);
    h_uint(h, nkeys, 4), h_uint(h, nevents, 4), h_uint(h, ndedup, 4);
}

static void s_key(struct hand *h, const char *key, const char *value, uint64_t create, uint64_t mod, uint64_t version)
{
    h_uint(h, strlen(key), 2), h_bytes(h, key, strlen(key));
    h_uint(h, strlen(value), 4), h_bytes(h, value, strlen(value));
    h_uint(h, create, 8), h_uint(h, mod, 8), h_uint(h, version, 8);
}

static void s_event(struct hand *h, uint8_t type, const char *key, const char *value, uint64_t revision,
                    uint64_t create, uint64_t version)
{
    h_uint(h, type, 1);
    h_uint(h, strlen(key), 2), h_bytes(h, key, strlen(key));
    h_uint(h, strlen(value), 4), h_bytes(h, value, strlen(value));
    h_uint(h, revision, 8), h_uint(h, create, 8), h_uint(h, version, 8);
}

static void s_dedup(struct hand *h, uint8_t id, uint64_t revision, uint8_t succeeded)
{
    uint8_t key[36] = {0};
    key[35] = id;
    h_bytes(h, key, 36), h_uint(h, revision, 8), h_uint(h, succeeded, 1);
}

static void s_finish(struct hand *h)
{
    uint8_t checksum[32];
    keccak256(h->b, h->n, checksum);
    h_bytes(h, checksum, 32);
}

/* Revision 2: "a" put at 1, "b" at 2; two dedup entries. Valid: the base of the bad ones. */
static void s_valid(struct hand *h)
{
    s_header(h, INSTANCE, 2, 0, 2, 2, 2);
    s_key(h, "a", "1", 1, 1, 1);
    s_key(h, "b", "2", 2, 2, 1);
    s_event(h, CS_OP_PUT, "a", "1", 1, 1, 1);
    s_event(h, CS_OP_PUT, "b", "2", 2, 2, 1);
    s_dedup(h, 1, 1, 1);
    s_dedup(h, 2, 2, 1);
    s_finish(h);
}

START_TEST(snapshot_refuses_bad_input)
{
    struct cs_store *s = small_store();
    size_t len;
    uint8_t *good = snap(s, &len);
    struct cs_store *fresh = new_store();
    restore_ok(fresh, good, len);
    assert_same_state(s, fresh);

    /* Every prefix, each in a buffer of exactly its length, so the sanitizers see overreads. */
    for (size_t cut = 0; cut < len; cut++) {
        uint8_t *copy = malloc(cut ? cut : 1);
        memcpy(copy, good, cut);
        expect_snapshot_refused(s, copy, cut, CS_E_INVALID, cut < 72 ? "cut off" : "checksum");
        free(copy);
    }
    /* Every prefix of the body with its own checksum: cut off, never read past. */
    for (size_t cut = 40; cut < len - 32; cut++) {
        uint8_t *copy = malloc(cut + 32);
        memcpy(copy, good, cut);
        keccak256(copy, cut, copy + cut);
        /* "cut off" where a field starts past the end, "counts" while too few bytes are left
         * for the records the header counts. */
        expect_snapshot_refused(s, copy, cut + 32, CS_E_INVALID, NULL);
        free(copy);
    }
    /* A byte appended to the body, re-checksummed: trailing. */
    uint8_t *longer = malloc(len + 1);
    memcpy(longer, good, len - 32);
    longer[len - 32] = 0;
    keccak256(longer, len - 31, longer + len - 31);
    expect_snapshot_refused(s, longer, len + 1, CS_E_INVALID, "1 trailing bytes");
    free(longer);
    /* A flipped bit anywhere: the checksum (or, in the magic, the magic). */
    for (size_t i = 0; i < len; i++) {
        good[i] ^= (uint8_t)(1u << (i % 8));
        expect_snapshot_refused(s, good, len, CS_E_INVALID, i < 4 ? "magic" : "checksum");
        good[i] ^= (uint8_t)(1u << (i % 8));
    }
    expect_snapshot_refused(s, NULL, 5, CS_E_INVALID, "NULL");
    /* The length is checked before any byte is read (good is far shorter than this). */
    expect_snapshot_refused(s, good, (size_t)CS_SNAPSHOT_MAX + 1, CS_E_RANGE, "over the cap");

    /* Another cluster's snapshot: both instances named. */
    struct cohort_error err = {0};
    struct cs_store *other = cs_store_create(INSTANCE + 1, (const uint8_t(*)[20])member_addr, NMEMBERS, NULL, 0, &err);
    ck_assert_ptr_nonnull(other);
    size_t other_len;
    uint8_t *theirs = snap(other, &other_len);
    expect_snapshot_refused(s, theirs, other_len, CS_E_INSTANCE, "0x1122334455667789");
    expect_snapshot_refused(s, theirs, other_len, CS_E_INSTANCE, "0x1122334455667788");
    free(theirs);
    cs_store_destroy(other);

    /* By hand: the valid base, then one thing wrong in each. */
    struct hand h;
    s_valid(&h);
    struct cs_store *t = new_store();
    restore_ok(t, h.b, h.n);
    ck_assert_uint_eq(cs_store_revision(t), 2);
    cs_store_destroy(t);

    h.n = 0, h_bytes(&h, "CCR1", 4), h_uint(&h, INSTANCE, 8);
    expect_snapshot_refused(s, h.b, h.n, CS_E_INVALID, "not \"CCS1\"");
    /* Keys out of order, or twice. Key 0 is 32 bytes from offset 40. */
    s_header(&h, INSTANCE, 2, 0, 2, 2, 0);
    s_key(&h, "b", "2", 2, 2, 1);
    s_key(&h, "a", "1", 1, 1, 1);
    s_event(&h, CS_OP_PUT, "a", "1", 1, 1, 1);
    s_event(&h, CS_OP_PUT, "b", "2", 2, 2, 1);
    s_finish(&h);
    expect_snapshot_refused(s, h.b, h.n, CS_E_INVALID, "snapshot: key 1 at offset 72: not after the key before it");
    s_header(&h, INSTANCE, 2, 0, 2, 2, 0);
    s_key(&h, "a", "2", 2, 2, 1);
    s_key(&h, "a", "1", 1, 1, 1);
    s_event(&h, CS_OP_PUT, "a", "1", 1, 1, 1);
    s_event(&h, CS_OP_PUT, "b", "2", 2, 2, 1);
    s_finish(&h);
    expect_snapshot_refused(s, h.b, h.n, CS_E_INVALID, "key 1 at offset 72: not after");
    /* "a/" sorts after "a" (a shorter key first). */
    s_header(&h, INSTANCE, 2, 0, 2, 2, 0);
    s_key(&h, "a/", "2", 2, 2, 1);
    s_key(&h, "a", "1", 1, 1, 1);
    s_event(&h, CS_OP_PUT, "a", "1", 1, 1, 1);
    s_event(&h, CS_OP_PUT, "a/", "2", 2, 2, 1);
    s_finish(&h);
    expect_snapshot_refused(s, h.b, h.n, CS_E_INVALID, "key 1 at offset 73: not after");

    /* Counts over their caps, and counts the bytes cannot hold. */
    s_header(&h, INSTANCE, 2, 0, CS_KEYS_MAX + 1, 0, 0), s_finish(&h);
    expect_snapshot_refused(s, h.b, h.n, CS_E_RANGE, "key count at offset 28: is 100001, over the cap");
    s_header(&h, INSTANCE, 2, 0, 0, 0xffffffffu, 0), s_finish(&h);
    expect_snapshot_refused(s, h.b, h.n, CS_E_RANGE, "event count at offset 32");
    s_header(&h, INSTANCE, 2, 0, 0, 0, CS_DEDUP_WINDOW + 1), s_finish(&h);
    expect_snapshot_refused(s, h.b, h.n, CS_E_RANGE, "dedup count at offset 36: is 100001, over the cap");
    s_header(&h, INSTANCE, 2, 0, CS_KEYS_MAX, 0, 0), s_finish(&h);
    expect_snapshot_refused(s, h.b, h.n, CS_E_INVALID, "counts at offset 28");

    /* Lengths. */
    s_header(&h, INSTANCE, 1, 0, 1, 1, 0);
    h_uint(&h, 0, 2), h_uint(&h, 0, 4), h_uint(&h, 1, 8), h_uint(&h, 1, 8), h_uint(&h, 1, 8);
    s_event(&h, CS_OP_PUT, "a", "1", 1, 1, 1); /* 63 bytes: as many as the counts need at least */
    s_finish(&h);
    expect_snapshot_refused(s, h.b, h.n, CS_E_INVALID, "key 0 key length at offset 40: is 0");
    s_header(&h, INSTANCE, 1, 0, 1, 1, 0);
    h_uint(&h, CS_KEY_MAX + 1, 2);
    for (int i = 0; i < CS_KEY_MAX + 1; i++) h_bytes(&h, "k", 1);
    h_uint(&h, 0, 4), h_uint(&h, 1, 8), h_uint(&h, 1, 8), h_uint(&h, 1, 8);
    s_event(&h, CS_OP_PUT, "a", "", 1, 1, 1);
    s_finish(&h);
    expect_snapshot_refused(s, h.b, h.n, CS_E_RANGE, "key 0 key length at offset 40: is 513 bytes, over the cap");
    s_header(&h, INSTANCE, 1, 0, 1, 1, 0);
    h_uint(&h, 1, 2), h_bytes(&h, "a", 1), h_uint(&h, CS_VALUE_MAX + 1, 4);
    for (int i = 0; i < 16; i++) h_uint(&h, 0, 8);
    s_finish(&h);
    expect_snapshot_refused(s, h.b, h.n, CS_E_RANGE, "key 0 value length at offset 43: is 65537 bytes");
    s_header(&h, INSTANCE, 1, 0, 1, 1, 0);
    h_uint(&h, 1, 2), h_bytes(&h, "a", 1), h_uint(&h, 1000, 4);
    for (int i = 0; i < 16; i++) h_uint(&h, 0, 8);
    s_finish(&h);
    expect_snapshot_refused(s, h.b, h.n, CS_E_INVALID, "key 0 value at offset 47: cut off");

    /* Revisions of keys. */
    const struct {
        uint64_t create, mod, version;
        const char *words;
    } bad_keys[] = {
        {0, 1, 1, "key 0 create revision at offset 48: is 0"},
        {2, 1, 1, "create revision at offset 48: 2 is after the mod revision 1"},
        {1, 3, 1, "mod revision at offset 56: 3 is after the store's revision 2"},
        {1, 1, 0, "key 0 version at offset 64: is 0"},
        {1, 1, 17, "key 0 version at offset 64: is 17, more puts than revisions 1 to 1 can hold"},
        {1, 2, 33, "key 0 version at offset 64: is 33, more puts than revisions 1 to 2"},
    };
    for (size_t i = 0; i < sizeof bad_keys / sizeof bad_keys[0]; i++) {
        s_header(&h, INSTANCE, 2, 0, 1, 2, 0);
        s_key(&h, "a", "1", bad_keys[i].create, bad_keys[i].mod, bad_keys[i].version);
        s_event(&h, CS_OP_PUT, "a", "1", 1, 1, 1);
        s_event(&h, CS_OP_DELETE, "b", "", 2, 0, 0);
        s_finish(&h);
        expect_snapshot_refused(s, h.b, h.n, CS_E_INVALID, bad_keys[i].words);
    }
    /* 16 puts a revision is the most: version 32 over revisions 1 and 2 restores. */
    s_header(&h, INSTANCE, 2, 0, 1, 2, 0);
    s_key(&h, "a", "1", 1, 2, 32);
    s_event(&h, CS_OP_PUT, "a", "1", 1, 1, 16);
    s_event(&h, CS_OP_PUT, "a", "1", 2, 1, 32);
    s_finish(&h);
    t = new_store();
    restore_ok(t, h.b, h.n);
    cs_store_destroy(t);
    s_header(&h, INSTANCE, 2, 0, 0, 2, 0);
    s_event(&h, CS_OP_PUT, "a", "1", 1, 1, 16);
    s_event(&h, CS_OP_PUT, "a", "1", 2, 1, 33);
    s_finish(&h);
    expect_snapshot_refused(s, h.b, h.n, CS_E_INVALID, "event 1 version at offset 98: is 33, more puts");
    /* Revisions up to CS_REVISION_MAX, so that none wraps. */
    s_header(&h, INSTANCE, CS_REVISION_MAX + 1, CS_REVISION_MAX, 0, 1, 0);
    s_event(&h, CS_OP_DELETE, "a", "", CS_REVISION_MAX + 1, 0, 0);
    s_finish(&h);
    expect_snapshot_refused(s, h.b, h.n, CS_E_RANGE, "revision at offset 12: is 288230376151711745, over the cap");
    s_header(&h, INSTANCE, CS_REVISION_MAX, CS_REVISION_MAX - 1, 0, 1, 0);
    s_event(&h, CS_OP_DELETE, "a", "", CS_REVISION_MAX, 0, 0);
    s_finish(&h);
    t = new_store();
    restore_ok(t, h.b, h.n);
    ck_assert_uint_eq(cs_store_revision(t), CS_REVISION_MAX);
    cs_store_destroy(t);

    s_header(&h, INSTANCE, 2, 2, 0, 0, 0), s_finish(&h);
    expect_snapshot_refused(s, h.b, h.n, CS_E_INVALID, "compact revision at offset 20: 2 is not before the revision 2");
    s_header(&h, INSTANCE, 2, 3, 0, 0, 0), s_finish(&h);
    expect_snapshot_refused(s, h.b, h.n, CS_E_INVALID, "compact revision at offset 20: 3 is not before");

    /* The history: every revision after the compact one, in order, no gap; well-formed events.
     * Events start at offset 40 (no keys), 33 bytes each with a one-byte key and value. */
    const struct {
        uint64_t compact;
        uint8_t type[2];
        const char *value[2];
        uint64_t revision[2], create[2], version[2];
        const char *words;
    } bad_events[] = {
        {0, {CS_OP_PUT, CS_OP_PUT}, {"1", "2"}, {2, 2}, {1, 1}, {1, 2},
         "event 0 revision at offset 49: is 2, not 1"},
        {1, {CS_OP_PUT, CS_OP_PUT}, {"1", "2"}, {1, 2}, {1, 1}, {1, 2},
         "event 0 revision at offset 49: is 1, not 2"},
        {0, {CS_OP_PUT, CS_OP_PUT}, {"1", "2"}, {1, 3}, {1, 1}, {1, 2},
         "event 1 revision at offset 82: is 3, not the one before it or 1"},
        {0, {CS_OP_PUT, CS_OP_PUT}, {"1", "2"}, {1, 1}, {1, 1}, {1, 2},
         "history at offset 106: ends at revision 1, but the store is at revision 2"},
        {0, {CS_OP_PUT, 3}, {"1", "2"}, {1, 2}, {1, 1}, {1, 2},
         "event 1 type at offset 73: is 3"},
        {0, {CS_OP_PUT, CS_OP_PUT}, {"1", "2"}, {1, 2}, {0, 1}, {1, 2},
         "event 0 create revision at offset 57: is 0, not in 1..1"},
        {0, {CS_OP_PUT, CS_OP_PUT}, {"1", "2"}, {1, 2}, {1, 3}, {1, 2},
         "event 1 create revision at offset 90: is 3, not in 1..2"},
        {0, {CS_OP_PUT, CS_OP_PUT}, {"1", "2"}, {1, 2}, {1, 1}, {1, 0},
         "event 1 version at offset 98: is 0"},
        {0, {CS_OP_PUT, CS_OP_DELETE}, {"1", "2"}, {1, 2}, {1, 0}, {1, 0},
         "event 1 value length at offset 77: is 1, but a delete's value is empty"},
        {0, {CS_OP_PUT, CS_OP_DELETE}, {"1", ""}, {1, 2}, {1, 1}, {1, 0},
         "event 1 create revision at offset 89: and version are 1 and 0, but a delete's are 0"},
    };
    for (size_t i = 0; i < sizeof bad_events / sizeof bad_events[0]; i++) {
        s_header(&h, INSTANCE, 2, bad_events[i].compact, 0, 2, 0);
        for (int k = 0; k < 2; k++)
            s_event(&h, bad_events[i].type[k], "a", bad_events[i].value[k], bad_events[i].revision[k],
                    bad_events[i].create[k], bad_events[i].version[k]);
        s_finish(&h);
        expect_snapshot_refused(s, h.b, h.n, CS_E_INVALID, bad_events[i].words);
    }
    s_header(&h, INSTANCE, 2, 0, 0, 0, 0), s_finish(&h);
    expect_snapshot_refused(s, h.b, h.n, CS_E_INVALID,
                            "history at offset 40: ends at revision 0, but the store is at revision 2");

    /* The dedup window: oldest first, each request once, revisions up to the store's. */
    const struct {
        uint8_t id[2];
        uint64_t revision[2];
        uint8_t succeeded[2];
        const char *words;
    } bad_dedup[] = {
        {{1, 1}, {1, 2}, {1, 1}, "dedup entry 1 signer and id at offset 117: are those of an entry before it"},
        {{1, 2}, {2, 1}, {1, 1}, "dedup entry 1 revision at offset 153: 1 is before the revision 2"},
        {{1, 2}, {1, 3}, {1, 1}, "dedup entry 1 revision at offset 153: 3 is after the store's revision 2"},
        {{1, 2}, {1, 2}, {1, 2}, "dedup entry 1 succeeded at offset 161: is 2, not 0 or 1"},
    };
    for (size_t i = 0; i < sizeof bad_dedup / sizeof bad_dedup[0]; i++) {
        s_header(&h, INSTANCE, 2, 1, 0, 1, 2);
        s_event(&h, CS_OP_DELETE, "a", "", 2, 0, 0);
        for (int k = 0; k < 2; k++)
            s_dedup(&h, bad_dedup[i].id[k], bad_dedup[i].revision[k], bad_dedup[i].succeeded[k]);
        s_finish(&h);
        expect_snapshot_refused(s, h.b, h.n, CS_E_INVALID, bad_dedup[i].words);
    }
    /* A store that refused all of these still works, and matches one that refused none. */
    uint8_t d1[32], d2[32];
    cs_store_digest(s, d1);
    cs_store_digest(fresh, d2);
    ck_assert_mem_eq(d1, d2, 32);
    assert_same_state(s, fresh);
    free(good);
    cs_store_destroy(fresh);
    cs_store_destroy(s);
}
END_TEST

/* A snapshot of n events (n > 1): a put of "a" at revision 1, then deletes of it at revision last. */
static uint8_t *many_events(uint64_t n, uint64_t last, size_t *len)
{
    const size_t event = 1 + 2 + 1 + 4 + 24;
    *len = 40 + n * event + 32;
    uint8_t *b = malloc(*len);
    ck_assert_ptr_nonnull(b);
    struct byte_writer w = {b, *len, 0, false};
    bw_bytes(&w, "CCS1", 4);
    bw_u64(&w, INSTANCE), bw_u64(&w, last), bw_u64(&w, 0);
    bw_u32(&w, 0), bw_u32(&w, (uint32_t)n), bw_u32(&w, 0);
    bw_u8(&w, CS_OP_PUT), bw_u16(&w, 1), bw_bytes(&w, "a", 1), bw_u32(&w, 0);
    bw_u64(&w, 1), bw_u64(&w, 1), bw_u64(&w, 1);
    for (uint64_t i = 1; i < n; i++) {
        bw_u8(&w, CS_OP_DELETE), bw_u16(&w, 1), bw_bytes(&w, "a", 1), bw_u32(&w, 0);
        bw_u64(&w, last), bw_u64(&w, 0), bw_u64(&w, 0);
    }
    keccak256(b, w.len, b + w.len);
    w.len += 32;
    ck_assert(!w.overflow);
    ck_assert_uint_eq(w.len, *len);
    return b;
}

START_TEST(snapshot_history_past_its_caps_is_one_revision)
{
    struct cs_store *s = small_store();
    /* CS_HISTORY_MAX + 1 events over two revisions: history_evict would have taken the first. */
    size_t len;
    uint8_t *bytes = many_events(CS_HISTORY_MAX + 1, 2, &len);
    expect_snapshot_refused(s, bytes, len, CS_E_INVALID, "pass the caps of 100000 events");
    free(bytes);
    /* Exactly CS_HISTORY_MAX over two revisions is within the caps. */
    bytes = many_events(CS_HISTORY_MAX, 2, &len);
    struct cs_store *t = new_store();
    restore_ok(t, bytes, len);
    free(bytes);
    uint64_t next;
    ck_assert_uint_eq(watch(t, 1, NULL, 1, &next, 0)->n, 1);
    ck_assert_uint_eq(next, 2);
    /* One revision alone may pass them: it stays until the next revision evicts it whole. */
    bytes = many_events(CS_HISTORY_MAX + 1, 1, &len);
    restore_ok(t, bytes, len);
    free(bytes);
    ck_assert_uint_eq(watch(t, 1, NULL, 1, &next, 0)->n, CS_HISTORY_MAX + 1);
    assert_ok(put(t, "x", "1"), 2);
    watch(t, 1, NULL, 0, &next, CS_E_COMPACTED);
    ck_assert_uint_eq(watch(t, 2, NULL, 0, &next, 0)->n, 1);
    /* And no more events than one request can make. */
    bytes = many_events(CS_KEYS_MAX + 2 * CS_TXN_OPS_MAX + 1, 1, &len);
    expect_snapshot_refused(s, bytes, len, CS_E_RANGE, "event count at offset 32: is 100033, over the cap of 100032");
    free(bytes);
    cs_store_destroy(t);
    cs_store_destroy(s);
}
END_TEST

START_TEST(many_keys_fill_the_store_and_compact_the_history)
{
    struct cs_store *s = new_store();
    put_many(s, "k/", 6, 0, CS_KEYS_MAX, (const uint8_t *)"v", 1, CS_TXN_OPS_MAX);
    const uint64_t filled = CS_KEYS_MAX / CS_TXN_OPS_MAX;
    ck_assert_uint_eq(cs_store_revision(s), filled);
    ck_assert_uint_eq(cs_store_range(s, (const uint8_t *)"k/", 2, true, 0, NULL, NULL), CS_KEYS_MAX);

    /* Exactly CS_HISTORY_MAX events: nothing evicted yet. */
    uint64_t next;
    struct watched *w = watch(s, 0, NULL, 0, &next, 0);
    ck_assert_uint_eq(w->n, CS_HISTORY_MAX);
    ck_assert_uint_eq(next, filled + 1);
    ck_assert_str_eq(w->keys[0], "k/000000");
    ck_assert_uint_eq(w->revisions[16], 2);

    /* A new key passes the cap: refused whole, nothing changes. */
    uint8_t before[32], after[32];
    cs_store_digest(s, before);
    struct cs_request r;
    req_init(&r);
    add_put(&r, false, "k/000000", "changed");
    add_put(&r, false, "new", "x");
    struct got *g = run(s, &r);
    ck_assert_int_eq(g->status, CS_E_FULL);
    ck_assert_uint_eq(g->revision, filled);
    ck_assert(g->has_message);
    cs_store_digest(s, after);
    ck_assert_mem_eq(before, after, 32);
    ck_assert_uint_eq(watch(s, 1, NULL, 0, &next, 0)->n, CS_HISTORY_MAX);
    /* Refused for FULL is not remembered: the same request applies once there is room. */
    static uint8_t refused[4096];
    size_t refused_len = sign_into(&r, member_key[0], refused, sizeof refused);

    /* Changing a key that exists is fine; the history now passes its cap by one event and
     * evicts the whole of revision 1. */
    assert_ok(put(s, "k/000000", "w"), filled + 1);
    watch(s, 1, NULL, 0, &next, CS_E_COMPACTED);
    struct cohort_error err = {0};
    ck_assert_int_eq(cs_store_watch(s, 0, NULL, 0, 0, NULL, NULL, &next, &err), CS_E_COMPACTED);
    ck_assert_msg(strstr(err.message, "starts at revision 2") != NULL, "%s", err.message);
    w = watch(s, 2, NULL, 0, &next, 0);
    ck_assert_uint_eq(w->n, CS_HISTORY_MAX - CS_TXN_OPS_MAX + 1);
    ck_assert_uint_eq(w->first_revision, 2);

    /* Delete one, add one, in one request. */
    req_init(&r);
    add_delete(&r, false, "k/000001", false);
    add_put(&r, false, "k/zzz", "x");
    assert_ok(run(s, &r), filled + 2);
    /* Ten deleted by a prefix, one of them named again (counted once): ten new keys fit, eleven do not. */
    static char names[16][8];
    req_init(&r);
    add_delete(&r, false, "k/00002", true);
    add_delete(&r, false, "k/000025", false);
    for (int i = 0; i < 10; i++) {
        snprintf(names[i], sizeof names[i], "n/%d", i);
        add_put(&r, false, names[i], "n");
    }
    g = run(s, &r);
    assert_ok(g, filled + 3);
    ck_assert_uint_eq(g->deleted, 10);
    req_init(&r);
    add_delete(&r, false, "k/00003", true);
    add_delete(&r, false, "k/000035", false);
    for (int i = 0; i < 11; i++) {
        snprintf(names[i], sizeof names[i], "o/%d", i);
        add_put(&r, false, names[i], "o");
    }
    ck_assert_int_eq(run(s, &r)->status, CS_E_FULL);
    /* A key put and deleted again within a request leaves the count as it was. */
    req_init(&r);
    add_put(&r, false, "p", "1");
    add_put(&r, false, "p", "2");
    add_delete(&r, false, "p", true);
    g = run(s, &r);
    assert_ok(g, filled + 4);
    ck_assert_uint_eq(g->deleted, 1);
    ck_assert_uint_eq(cs_store_range(s, NULL, 0, true, 0, NULL, NULL), CS_KEYS_MAX);
    ck_assert_int_eq(apply_bytes(s, refused, refused_len)->status, CS_E_FULL);

    /* One revision with more events than the history holds (every key deleted, 14 put):
     * every older revision goes, and it stays, whole. */
    static char again[14][16];
    req_init(&r);
    add_delete(&r, false, "k/", true);
    add_delete(&r, false, "n/", true);
    for (int i = 0; i < 14; i++) {
        snprintf(again[i], sizeof again[i], "k/%06d", i);
        add_put(&r, false, again[i], "z");
    }
    g = run(s, &r);
    const uint64_t wipe = filled + 5;
    assert_ok(g, wipe);
    ck_assert_uint_eq(g->deleted, CS_KEYS_MAX);
    w = watch(s, wipe, NULL, 5, &next, 0); /* a revision is never split, whatever the limit */
    ck_assert_uint_eq(w->n, CS_KEYS_MAX + 14);
    ck_assert_uint_gt(w->n, CS_HISTORY_MAX);
    ck_assert_uint_eq(w->types[0], CS_OP_DELETE);
    ck_assert_str_eq(w->keys[0], "k/000000");
    ck_assert_uint_eq(w->revisions[0], wipe);
    ck_assert_uint_eq(w->creates[0], 0);
    ck_assert_uint_eq(w->versions[0], 0);
    ck_assert_str_eq(w->values[0], "");
    ck_assert_uint_eq(next, wipe + 1);
    watch(s, wipe - 1, NULL, 0, &next, CS_E_COMPACTED);
    w = watch(s, wipe, "n/", 0, &next, 0);
    ck_assert_uint_eq(w->n, 10);
    w = watch(s, wipe, "k/00000", 0, &next, 0);
    ck_assert_uint_eq(w->n, 10 + 9); /* k/000001 was gone already */
    ck_assert_uint_eq(w->types[10 + 9 - 1], CS_OP_PUT);
    ck_assert_uint_eq(cs_store_range(s, NULL, 0, true, 0, NULL, NULL), 14);
    /* A snapshot of it, a history past its caps in one revision, restores to the same store. */
    size_t snapshot_len;
    uint8_t *snapshot = snap(s, &snapshot_len);
    struct cs_store *restored = new_store();
    restore_ok(restored, snapshot, snapshot_len);
    free(snapshot);
    assert_same_state(s, restored);
    ck_assert_int_eq(assert_same_watch(s, restored, wipe, NULL, 0), CS_KEYS_MAX + 14);
    ck_assert_int_eq(assert_same_watch(s, restored, wipe - 1, NULL, 0), CS_E_COMPACTED);
    cs_store_destroy(restored);
    /* The next revision pushes it out. */
    assert_ok(put(s, "after", "1"), wipe + 1);
    watch(s, wipe, NULL, 0, &next, CS_E_COMPACTED);
    ck_assert_uint_eq(watch(s, wipe + 1, NULL, 0, &next, 0)->n, 1);

    /* Now there is room: the refused request applies. */
    g = apply_bytes(s, refused, refused_len);
    assert_ok(g, wipe + 2);
    ck_assert_int_eq(apply_bytes(s, refused, refused_len)->status, CS_E_DUPLICATE);
    cs_store_destroy(s);
}
END_TEST

START_TEST(bytes_cap)
{
    static uint8_t value[CS_VALUE_MAX];
    memset(value, 'v', sizeof value);
    struct cs_store *s = new_store();
    /* 4095 keys "b/NNNNN" of 7 bytes with 64 KiB values, 15 to a request (16 pass 1 MiB). */
    const size_t nkeys = 4095, per_key = 7 + CS_VALUE_MAX;
    put_many(s, "b/", 5, 0, nkeys, value, sizeof value, 15);
    ck_assert_uint_le(nkeys * per_key, CS_STORE_BYTES_MAX);
    const size_t room = CS_STORE_BYTES_MAX - nkeys * per_key;
    ck_assert_uint_lt(room, per_key);
    uint64_t rev = cs_store_revision(s);

    struct cs_request r;
    req_init(&r);
    add_put_n(&r, false, "b/x", value, sizeof value);
    ck_assert_int_eq(run(s, &r)->status, CS_E_FULL);
    req_init(&r);
    add_put_n(&r, false, "b/x", value, room - 3); /* exactly at the cap */
    assert_ok(run(s, &r), rev + 1);
    req_init(&r);
    add_put(&r, false, "b/y", "");
    ck_assert_int_eq(run(s, &r)->status, CS_E_FULL);
    /* Growing a value is a change of bytes too. */
    req_init(&r);
    add_put_n(&r, false, "b/x", value, room - 2);
    ck_assert_int_eq(run(s, &r)->status, CS_E_FULL);
    req_init(&r);
    add_delete(&r, false, "b/00000", false);
    add_put(&r, false, "b/y", "");
    assert_ok(run(s, &r), rev + 2);
    req_init(&r);
    add_put(&r, false, "b/00001", "short");
    add_put_n(&r, false, "b/z", value, 1000);
    assert_ok(run(s, &r), rev + 3);
    cs_store_destroy(s);
}
END_TEST

START_TEST(watches)
{
    struct cs_store *s = new_store();
    uint64_t next;
    struct watched *w = watch(s, 0, NULL, 0, &next, 0);
    ck_assert_uint_eq(w->n, 0);
    ck_assert_uint_eq(next, 1);
    w = watch(s, 1, NULL, 0, &next, 0);
    ck_assert_uint_eq(next, 1);

    assert_ok(put(s, "a", "1"), 1);
    assert_ok(put(s, "b", "1"), 2);
    struct cs_request r;
    req_init(&r);
    add_put(&r, false, "a", "2");
    add_put(&r, false, "a/x", "1");
    add_delete(&r, false, "b", false);
    add_range(&r, false, "a", true);
    assert_ok(run(s, &r), 3);
    assert_ok(del(s, "a", true), 4);
    assert_ok(del(s, "a", true), 4); /* nothing to delete: no revision, no event */

    w = watch(s, 0, NULL, 0, &next, 0);
    ck_assert_uint_eq(w->n, 7);
    ck_assert_uint_eq(next, 5);
    const char *keys[] = {"a", "b", "a", "a/x", "b", "a", "a/x"};
    const uint8_t types[] = {CS_OP_PUT, CS_OP_PUT, CS_OP_PUT, CS_OP_PUT, CS_OP_DELETE, CS_OP_DELETE, CS_OP_DELETE};
    const uint64_t revs[] = {1, 2, 3, 3, 3, 4, 4};
    const uint64_t versions[] = {1, 1, 2, 1, 0, 0, 0};
    const uint64_t creates[] = {1, 2, 1, 3, 0, 0, 0};
    const char *values[] = {"1", "1", "2", "1", "", "", ""};
    for (int i = 0; i < 7; i++) {
        ck_assert_str_eq(w->keys[i], keys[i]);
        ck_assert_uint_eq(w->types[i], types[i]);
        ck_assert_uint_eq(w->revisions[i], revs[i]);
        ck_assert_uint_eq(w->versions[i], versions[i]);
        ck_assert_uint_eq(w->creates[i], creates[i]);
        ck_assert_str_eq(w->values[i], values[i]);
    }
    w = watch(s, 0, "a", 0, &next, 0);
    ck_assert_uint_eq(w->n, 5);
    w = watch(s, 3, "a/", 0, &next, 0);
    ck_assert_uint_eq(w->n, 2);
    ck_assert_uint_eq(w->revisions[0], 3);
    ck_assert_uint_eq(w->types[1], CS_OP_DELETE);
    ck_assert_uint_eq(next, 5);
    w = watch(s, 3, "zz", 0, &next, 0);
    ck_assert_uint_eq(w->n, 0);
    ck_assert_uint_eq(next, 5);

    /* Limits: whole revisions only; a first revision larger than the limit goes out whole. */
    w = watch(s, 1, NULL, 1, &next, 0);
    ck_assert_uint_eq(w->n, 1);
    ck_assert_uint_eq(next, 2);
    w = watch(s, 3, NULL, 2, &next, 0);
    ck_assert_uint_eq(w->n, 3);
    ck_assert_uint_eq(next, 4);
    w = watch(s, 1, NULL, 4, &next, 0);
    ck_assert_uint_eq(w->n, 2);
    ck_assert_uint_eq(next, 3);
    w = watch(s, 1, "b", 3, &next, 0);
    ck_assert_uint_eq(w->n, 2);
    ck_assert_uint_eq(next, 5);
    w = watch(s, 1, "b", 1, &next, 0);
    ck_assert_uint_eq(w->n, 1);
    ck_assert_uint_eq(next, 3);

    /* From the future: nothing yet, and the next watch starts there. */
    w = watch(s, 5, NULL, 0, &next, 0);
    ck_assert_uint_eq(w->n, 0);
    ck_assert_uint_eq(next, 5);
    w = watch(s, 9, NULL, 0, &next, 0);
    ck_assert_uint_eq(next, 9);
    struct cohort_error err = {0};
    ck_assert_int_eq(cs_store_watch(s, 1, NULL, 3, 0, NULL, NULL, &next, &err), CS_E_INVALID);
    cs_store_destroy(s);
}
END_TEST

/* ---- Determinism, and a reference model ---- */

/* Keys in byte order, with prefixes of one another. */
static const char *const model_keys[] = {"a", "a/1", "a/2", "a/2/x", "ab", "b", "b/1", "c", "c/", "d"};
#define MODEL_KEYS (sizeof model_keys / sizeof model_keys[0])
/* What ops and compares name: the keys and prefixes that are not keys. */
static const char *const model_names[] = {"a", "a/1", "a/2", "a/2/x", "ab", "b", "b/1",
                                          "c", "c/",  "d",   "a/",    "b/", "x", "a/2/"};
#define MODEL_NAMES (sizeof model_names / sizeof model_names[0])
static const char *const model_values[] = {"", "0", "1", "2", "v", "vv", "w"};
#define MODEL_VALUES (sizeof model_values / sizeof model_values[0])

struct model_key {
    bool present;
    const char *value;
    uint64_t create_revision, mod_revision, version;
};

struct model_event {
    uint8_t type;
    size_t key;
    const char *value;
    uint64_t revision, create_revision, version;
};

struct model {
    struct model_key key[MODEL_KEYS];
    uint64_t revision;
    struct model_event *events;
    size_t nevents, events_cap;
};

/* A request the generator made, kept to be sent again. */
struct sent {
    struct cs_request req;
    int signer; /* 0..NMEMBERS-1 member, NMEMBERS admin, NMEMBERS + 1 outsider */
    uint8_t bytes[2048];
    size_t len;
    bool applied;
    uint64_t revision;
    bool succeeded;
};

static bool model_covers(const struct cs_op *op, const char *key)
{
    size_t n = strlen(key);
    if (op->prefix) return n >= op->key_len && memcmp(key, op->key, op->key_len) == 0;
    return n == op->key_len && memcmp(key, op->key, n) == 0;
}

static int model_index(const uint8_t *key, size_t len)
{
    for (size_t i = 0; i < MODEL_KEYS; i++)
        if (strlen(model_keys[i]) == len && memcmp(model_keys[i], key, len) == 0) return (int)i;
    return -1;
}

static int compare_bytes(const char *a, const uint8_t *b, size_t blen)
{
    size_t alen = strlen(a), n = alen < blen ? alen : blen;
    int c = n ? memcmp(a, b, n) : 0;
    if (c) return c;
    return alen < blen ? -1 : alen > blen;
}

static void model_event_add(struct model *m, uint8_t type, size_t key, const char *value, uint64_t create,
                            uint64_t version)
{
    if (m->nevents == m->events_cap) {
        m->events_cap = m->events_cap ? m->events_cap * 2 : 1024;
        m->events = realloc(m->events, m->events_cap * sizeof *m->events);
        ck_assert_ptr_nonnull(m->events);
    }
    m->events[m->nevents++] = (struct model_event){type, key, value, m->revision + 1, create, version};
}

/* Applies an authorized, new request to the model; checks the store's result against it. */
static void model_apply(struct model *m, const struct cs_request *req, const struct got *g)
{
    bool ok = true;
    for (unsigned i = 0; i < req->ncompare && ok; i++) {
        const struct cs_compare *c = &req->compare[i];
        int k = model_index(c->key, c->key_len);
        const struct model_key *mk = k >= 0 && m->key[k].present ? &m->key[k] : NULL;
        int cmp;
        if (c->target == CS_TARGET_VALUE) {
            cmp = compare_bytes(mk ? mk->value : "", c->value, c->value_len);
        } else {
            uint64_t have = !mk ? 0
                            : c->target == CS_TARGET_MOD_REVISION    ? mk->mod_revision
                            : c->target == CS_TARGET_CREATE_REVISION ? mk->create_revision
                                                                     : mk->version;
            cmp = have < c->number ? -1 : have > c->number;
        }
        ok = c->result == CS_CMP_EQUAL       ? cmp == 0
             : c->result == CS_CMP_NOT_EQUAL ? cmp != 0
             : c->result == CS_CMP_LESS      ? cmp < 0
                                             : cmp > 0;
    }
    ck_assert_int_eq(g->succeeded, ok);
    const struct cs_op *ops = ok ? req->success : req->failure;
    unsigned n = ok ? req->nsuccess : req->nfailure;
    bool changed = false;
    uint32_t deleted = 0;
    size_t nkvs = 0;
    for (unsigned i = 0; i < n; i++) {
        const struct cs_op *op = &ops[i];
        ck_assert_uint_eq(g->range_start[i], nkvs);
        if (op->type == CS_OP_PUT) {
            int k = model_index(op->key, op->key_len);
            ck_assert_int_ge(k, 0);
            struct model_key *mk = &m->key[k];
            if (!mk->present) {
                mk->present = true;
                mk->create_revision = m->revision + 1;
                mk->version = 0;
            }
            mk->version++;
            mk->mod_revision = m->revision + 1;
            for (size_t v = 0; v < MODEL_VALUES; v++)
                if (strlen(model_values[v]) == op->value_len && memcmp(model_values[v], op->value, op->value_len) == 0)
                    mk->value = model_values[v];
            model_event_add(m, CS_OP_PUT, (size_t)k, mk->value, mk->create_revision, mk->version);
            changed = true;
        } else {
            for (size_t k = 0; k < MODEL_KEYS; k++) {
                struct model_key *mk = &m->key[k];
                if (!mk->present || !model_covers(op, model_keys[k])) continue;
                if (op->type == CS_OP_DELETE) {
                    mk->present = false;
                    model_event_add(m, CS_OP_DELETE, k, "", 0, 0);
                    deleted++;
                    changed = true;
                } else {
                    ck_assert_uint_lt(nkvs, g->nkvs);
                    assert_kv(&g->kvs[nkvs], model_keys[k], mk->value, mk->create_revision, mk->mod_revision,
                              mk->version);
                    nkvs++;
                }
            }
        }
    }
    if (changed) m->revision++;
    ck_assert_uint_eq(g->nkvs, nkvs);
    ck_assert_uint_eq(g->deleted, deleted);
    ck_assert_uint_eq(g->revision, m->revision);
}

static void model_check_state(const struct model *m, const struct cs_store *s)
{
    struct collected c = {0};
    cs_store_range(s, NULL, 0, true, 0, collect_kv, &c);
    size_t j = 0;
    for (size_t k = 0; k < MODEL_KEYS; k++) {
        const struct model_key *mk = &m->key[k];
        if (!mk->present) continue;
        ck_assert_uint_lt(j, c.n);
        assert_kv(&c.kv[j], model_keys[k], mk->value, mk->create_revision, mk->mod_revision, mk->version);
        j++;
    }
    ck_assert_uint_eq(j, c.n);
    ck_assert_uint_eq(cs_store_revision(s), m->revision);
}

static struct cs_op random_op(uint64_t *rng, bool *has_put)
{
    struct cs_op op = {0};
    uint64_t kind = testutil_rand_next(rng) % 20;
    if (kind < 9) {
        const char *key = model_keys[testutil_rand_next(rng) % MODEL_KEYS];
        const char *value = model_values[testutil_rand_next(rng) % MODEL_VALUES];
        op = (struct cs_op){CS_OP_PUT, false, (const uint8_t *)key, (uint16_t)strlen(key), (const uint8_t *)value,
                            (uint32_t)strlen(value)};
        *has_put = true;
    } else {
        const char *key = model_names[testutil_rand_next(rng) % MODEL_NAMES];
        op = (struct cs_op){kind < 14 ? CS_OP_DELETE : CS_OP_RANGE, testutil_rand_next(rng) % 2 == 0,
                            (const uint8_t *)key, (uint16_t)strlen(key), NULL, 0};
    }
    return op;
}

static void random_request(uint64_t *rng, const struct model *m, struct sent *out)
{
    struct cs_request *r = &out->req;
    req_init(r);
    uint64_t roll = testutil_rand_next(rng) % 100;
    out->signer = roll < 85 ? (int)(roll % NMEMBERS) : roll < 95 ? NMEMBERS : NMEMBERS + 1;
    if (testutil_rand_next(rng) % 40 == 0) r->instance = INSTANCE ^ 1;
    r->ncompare = (uint8_t)(testutil_rand_next(rng) % 4);
    for (unsigned i = 0; i < r->ncompare; i++) {
        const char *key = model_names[testutil_rand_next(rng) % MODEL_NAMES];
        uint8_t target = (uint8_t)(1 + testutil_rand_next(rng) % 4);
        uint8_t result = (uint8_t)(1 + testutil_rand_next(rng) % 4);
        const char *value = model_values[testutil_rand_next(rng) % MODEL_VALUES];
        uint64_t number = target == CS_TARGET_VERSION ? testutil_rand_next(rng) % 4
                                                      : testutil_rand_next(rng) % (m->revision + 2);
        r->compare[i] = (struct cs_compare){(const uint8_t *)key, (uint16_t)strlen(key), target, result,
                                            (const uint8_t *)value, (uint32_t)strlen(value), number};
        if (target != CS_TARGET_VALUE) {
            r->compare[i].value = NULL;
            r->compare[i].value_len = 0;
        }
    }
    bool has_put = false;
    do {
        r->nsuccess = (uint8_t)(testutil_rand_next(rng) % 5);
        r->nfailure = (uint8_t)(testutil_rand_next(rng) % 4);
    } while (r->nsuccess + r->nfailure == 0);
    for (unsigned i = 0; i < r->nsuccess; i++) r->success[i] = random_op(rng, &has_put);
    for (unsigned i = 0; i < r->nfailure; i++) r->failure[i] = random_op(rng, &has_put);
    const uint8_t *key = out->signer < NMEMBERS    ? member_key[out->signer]
                         : out->signer == NMEMBERS ? admin_key
                                                   : outsider_key;
    out->len = sign_into(r, key, out->bytes, sizeof out->bytes);
    out->applied = false;
}

struct history_check {
    const struct model *m;
    size_t n;
};

static void on_model_event(void *arg, const struct cs_event *ev)
{
    struct history_check *hc = arg;
    ck_assert_uint_lt(hc->n, hc->m->nevents);
    const struct model_event *want = &hc->m->events[hc->n++];
    ck_assert_uint_eq(ev->type, want->type);
    ck_assert_int_eq(model_index(ev->kv.key, ev->kv.key_len), (int)want->key);
    ck_assert_int_eq(compare_bytes(want->value, ev->kv.value, ev->kv.value_len), 0);
    ck_assert_uint_eq(ev->kv.mod_revision, want->revision);
    ck_assert_uint_eq(ev->kv.create_revision, want->create_revision);
    ck_assert_uint_eq(ev->kv.version, want->version);
}

START_TEST(two_stores_agree_with_each_other_and_a_model)
{
    enum { REQUESTS = 10000, KEEP = 64 };
    uint64_t rng = 20260517;
    struct cs_store *a = new_store(), *b = new_store();
    struct model m;
    memset(&m, 0, sizeof m);
    static struct sent sent[KEEP];
    size_t nsent = 0;
    size_t counts[4] = {0}; /* applied, duplicate, refused, succeeded */
    for (int i = 0; i < REQUESTS; i++) {
        struct sent *e;
        bool again = nsent > 0 && testutil_rand_next(&rng) % 16 == 0;
        if (again) {
            e = &sent[testutil_rand_next(&rng) % (nsent < KEEP ? nsent : KEEP)];
        } else {
            e = &sent[nsent++ % KEEP];
            random_request(&rng, &m, e);
        }
        struct got *g = apply_bytes(a, e->bytes, e->len);
        int status = g->status;
        ck_assert_int_eq(cs_store_apply(b, e->bytes, e->len, NULL, NULL), status);
        ck_assert(g->has_id);
        ck_assert_mem_eq(g->id, e->req.id, CS_ID_BYTES);

        if (e->req.instance != INSTANCE) {
            ck_assert_int_eq(status, CS_E_INSTANCE); /* checked before the signer's rights */
        } else if (e->signer == NMEMBERS + 1) {
            ck_assert_int_eq(status, CS_E_UNAUTHORIZED);
        } else if (e->applied) {
            ck_assert_int_eq(status, CS_E_DUPLICATE);
            ck_assert_uint_eq(g->revision, e->revision);
            ck_assert_int_eq(g->succeeded, e->succeeded);
        } else {
            ck_assert_msg(status == CS_OK, "request %d: %d", i, status);
            model_apply(&m, &e->req, g);
            e->applied = true;
            e->revision = g->revision;
            e->succeeded = g->succeeded;
        }
        if (status != CS_OK) ck_assert_uint_eq(cs_store_revision(a), m.revision);
        counts[status == CS_OK ? 0 : status == CS_E_DUPLICATE ? 1 : 2]++;
        counts[3] += status == CS_OK && g->succeeded;
        if (i % 500 == 499) {
            model_check_state(&m, a);
            model_check_state(&m, b);
            uint8_t da[32], db[32];
            cs_store_digest(a, da);
            cs_store_digest(b, db);
            ck_assert_mem_eq(da, db, 32);
        }
    }
    /* Every path was taken often. */
    ck_assert_uint_gt(counts[0], REQUESTS / 2);
    ck_assert_uint_gt(counts[1], 200);
    ck_assert_uint_gt(counts[2], 500);
    ck_assert_uint_gt(counts[3], counts[0] / 4);
    ck_assert_uint_lt(counts[3], counts[0]);
    ck_assert_uint_gt(m.revision, REQUESTS / 4);

    /* The whole history, as the model saw it. */
    ck_assert_uint_lt(m.nevents, CS_HISTORY_MAX);
    struct history_check hc = {&m, 0};
    uint64_t next = 0;
    struct cohort_error err = {0};
    int n = cs_store_watch(a, 1, NULL, 0, 0, on_model_event, &hc, &next, &err);
    ck_assert_int_eq(n, (int)m.nevents);
    ck_assert_uint_eq(hc.n, m.nevents);
    ck_assert_uint_eq(next, m.revision + 1);

    /* Equal stores, equal digests; one more change, another digest. */
    uint8_t da[32], db[32];
    cs_store_digest(a, da);
    cs_store_digest(b, db);
    ck_assert_mem_eq(da, db, 32);
    put(a, "a", "digest");
    cs_store_digest(a, da);
    ck_assert_mem_ne(da, db, 32);
    free(m.events);
    cs_store_destroy(a);
    cs_store_destroy(b);
}
END_TEST


START_TEST(dedup_window_forgets_the_oldest)
{
    /* CS_DEDUP_WINDOW reads, then the first ones are forgotten one by one while the rest
     * (which the table has to find past the slots freed by eviction) are still known. */
    struct cs_store *s = new_store();
    assert_ok(put(s, "k", "v"), 1);
    enum { EXTRA = 300 };
    static uint8_t early[EXTRA][128];
    static size_t early_len[EXTRA];
    for (uint32_t i = 0; i < CS_DEDUP_WINDOW - 1 + EXTRA; i++) {
        struct cs_request r;
        req_init(&r);
        add_range(&r, false, "k", false);
        size_t len = sign_into(&r, member_key[i % NMEMBERS], wire, sizeof wire);
        if (i < EXTRA) {
            memcpy(early[i], wire, len);
            early_len[i] = len;
        }
        int rc = cs_store_apply(s, wire, len, NULL, NULL);
        ck_assert_int_eq(rc, CS_OK);
    }
    /* The put and the first EXTRA - 1 reads are forgotten; the rest are remembered. */
    for (int i = EXTRA - 1; i < EXTRA; i++)
        ck_assert_int_eq(cs_store_apply(s, early[i], early_len[i], NULL, NULL), CS_E_DUPLICATE);
    for (int i = 0; i < EXTRA - 1; i++) {
        /* Sending a forgotten one again applies it, which forgets the oldest remembered one. */
        ck_assert_int_eq(cs_store_apply(s, early[i], early_len[i], NULL, NULL), CS_OK);
        ck_assert_int_eq(cs_store_apply(s, early[i], early_len[i], NULL, NULL), CS_E_DUPLICATE);
    }
    ck_assert_uint_eq(cs_store_revision(s), 1);
    cs_store_destroy(s);
}
END_TEST

START_TEST(snapshots_of_random_stores_restore_to_equal_stores)
{
    /* Random requests (reads, puts, prefix deletes, transactions, retries) to a; every so
     * often a's snapshot replaces b's state, and between snapshots both take the same
     * entries with the same results. Every state reached must snapshot and restore. */
    enum { REQUESTS = 3000, EVERY = 150, KEEP = 64 };
    uint64_t rng = 20260601;
    struct cs_store *a = new_store(), *b = new_store();
    struct model m;
    memset(&m, 0, sizeof m);
    static struct sent sent[KEEP];
    size_t nsent = 0, ok = 0, duplicate = 0;
    for (int i = 0; i < REQUESTS; i++) {
        if (i % EVERY == 0) {
            size_t len;
            uint8_t *bytes = snap(a, &len);
            restore_ok(b, bytes, len);
            free(bytes);
            assert_same_state(a, b);
        }
        struct sent *e;
        if (nsent > 0 && testutil_rand_next(&rng) % 8 == 0) {
            e = &sent[testutil_rand_next(&rng) % (nsent < KEEP ? nsent : KEEP)];
        } else {
            e = &sent[nsent++ % KEEP];
            m.revision = cs_store_revision(a);
            random_request(&rng, &m, e);
        }
        int status = apply_both(a, b, e->bytes, e->len, NULL);
        ok += status == CS_OK;
        duplicate += status == CS_E_DUPLICATE;
    }
    ck_assert_uint_gt(ok, REQUESTS / 2);
    ck_assert_uint_gt(duplicate, 100);
    ck_assert_uint_gt(cs_store_revision(a), REQUESTS / 5);
    assert_same_state(a, b);
    ck_assert_int_gt(assert_same_watch(a, b, 0, NULL, 0), REQUESTS / 5);
    ck_assert_int_gt(assert_same_watch(a, b, cs_store_revision(a) / 2, "a", 7), 0);
    cs_store_destroy(a);
    cs_store_destroy(b);
}
END_TEST


/* ---- Batches ---- */

/* Counts results, and keeps the statuses and revisions in order. */
struct batch_results {
    int calls;
    int status[8];
    uint64_t revision[8];
    bool has_id[8];
    uint8_t signer[8][20];
};

static void on_batch_result(void *arg, const struct cs_result *r)
{
    struct batch_results *b = arg;
    ck_assert_int_lt(b->calls, 8);
    b->status[b->calls] = r->status;
    b->revision[b->calls] = r->revision;
    b->has_id[b->calls] = r->id != NULL;
    memcpy(b->signer[b->calls], r->signer, 20);
    b->calls++;
}

static uint8_t unsigned_req[3][4096];
static size_t unsigned_len[3];
static uint8_t batch_wire[16384];

/* Three unsigned puts a, b, c (the second a duplicate id of the first when dup), sealed by key. */
static size_t make_batch(const uint8_t key[32], bool dup, uint64_t instance)
{
    struct cs_request r;
    struct cohort_error err = {0};
    const char *keys[3] = {"batch/a", "batch/b", "batch/c"};
    uint8_t first_id[CS_ID_BYTES];
    for (int i = 0; i < 3; i++) {
        req_init(&r);
        if (i == 0) memcpy(first_id, r.id, CS_ID_BYTES);
        if (i == 1 && dup) memcpy(r.id, first_id, CS_ID_BYTES);
        add_put(&r, false, keys[i], "v");
        ck_assert_int_eq(cs_request_encode(&r, NULL, unsigned_req[i], sizeof unsigned_req[i], &unsigned_len[i], &err), 0);
        for (int k = 0; k < CS_SIGNATURE_BYTES; k++) ck_assert_uint_eq(unsigned_req[i][unsigned_len[i] - 1 - k], 0);
    }
    const uint8_t *reqs[3] = {unsigned_req[0], unsigned_req[1], unsigned_req[2]};
    size_t len = 0;
    ck_assert_int_eq(cs_batch_encode(instance, reqs, unsigned_len, 3, key, batch_wire, sizeof batch_wire, &len, &err),
                     0);
    ck_assert_uint_eq(len, cs_batch_bytes(3, unsigned_len[0] + unsigned_len[1] + unsigned_len[2]));
    return len;
}

START_TEST(batches_apply_each_request_under_one_signature)
{
    setup_keys();
    struct cohort_error err = {0};
    /* A member's batch: three results in order, three revisions, the member as signer. */
    size_t len = make_batch(member_key[2], false, INSTANCE);
    struct cs_store *a = new_store(), *b = new_store();
    struct batch_results ra = {0}, rb = {0};
    ck_assert_int_eq(cs_store_apply(a, batch_wire, len, on_batch_result, &ra), CS_OK);
    ck_assert_int_eq(ra.calls, 3);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(ra.status[i], CS_OK);
        ck_assert_uint_eq(ra.revision[i], (uint64_t)i + 1);
        ck_assert_mem_eq(ra.signer[i], member_addr[2], 20);
    }
    /* Applied as sealed by its own member: the same results and the same store. */
    ck_assert_int_eq(cs_store_apply_sealed(b, batch_wire, len, member_addr[2], on_batch_result, &rb), CS_OK);
    ck_assert_int_eq(rb.calls, 3);
    ck_assert_mem_eq(ra.revision, rb.revision, sizeof ra.revision);
    uint8_t da[32], db[32];
    cs_store_digest(a, da);
    cs_store_digest(b, db);
    ck_assert_mem_eq(da, db, 32);
    /* Again: every request is a duplicate of itself. */
    memset(&ra, 0, sizeof ra);
    cs_store_apply(a, batch_wire, len, on_batch_result, &ra);
    for (int i = 0; i < 3; i++) ck_assert_int_eq(ra.status[i], CS_E_DUPLICATE);
    cs_store_destroy(b);

    /* A duplicate id inside one batch: the second is reported as the first's. */
    len = make_batch(member_key[0], true, INSTANCE);
    memset(&ra, 0, sizeof ra);
    cs_store_apply(a, batch_wire, len, on_batch_result, &ra);
    ck_assert_int_eq(ra.status[0], CS_OK);
    ck_assert_int_eq(ra.status[1], CS_E_DUPLICATE);
    ck_assert_uint_eq(ra.revision[1], ra.revision[0]);
    ck_assert_int_eq(ra.status[2], CS_OK);

    /* Refused whole, with one result and no id: an outsider's batch, a flipped byte, another
       instance, a truncation. The store does not change. */
    uint8_t before[32], after[32];
    cs_store_digest(a, before);
    len = make_batch(outsider_key, false, INSTANCE);
    memset(&ra, 0, sizeof ra);
    ck_assert_int_eq(cs_store_apply(a, batch_wire, len, on_batch_result, &ra), CS_E_UNAUTHORIZED);
    ck_assert_int_eq(ra.calls, 1);
    ck_assert(!ra.has_id[0]);
    len = make_batch(member_key[1], false, INSTANCE + 1);
    memset(&ra, 0, sizeof ra);
    ck_assert_int_eq(cs_store_apply(a, batch_wire, len, on_batch_result, &ra), CS_E_INSTANCE);
    len = make_batch(member_key[1], false, INSTANCE);
    for (size_t cut = 0; cut < len; cut += 7) {
        memset(&ra, 0, sizeof ra);
        ck_assert_int_ne(cs_store_apply(a, batch_wire, cut, on_batch_result, &ra), CS_OK);
        ck_assert_int_eq(ra.calls, 1);
    }
    batch_wire[40] ^= 1; /* inside the first request: the signature no longer matches the member */
    memset(&ra, 0, sizeof ra);
    int rc = cs_store_apply(a, batch_wire, len, on_batch_result, &ra);
    ck_assert(rc == CS_E_INVALID || rc == CS_E_UNAUTHORIZED);
    ck_assert_int_eq(ra.calls, 1);
    cs_store_digest(a, after);
    ck_assert_mem_eq(before, after, 32);

    /* A request in a batch that carries a signature of its own is refused, alone. */
    struct cs_request r;
    req_init(&r);
    add_put(&r, false, "batch/signed", "v");
    size_t n = sign_into(&r, member_key[0], unsigned_req[0], sizeof unsigned_req[0]);
    const uint8_t *one[1] = {unsigned_req[0]};
    size_t lens[1] = {n};
    ck_assert_int_eq(cs_batch_encode(INSTANCE, one, lens, 1, member_key[0], batch_wire, sizeof batch_wire, &len, &err),
                     0);
    memset(&ra, 0, sizeof ra);
    ck_assert_int_eq(cs_store_apply(a, batch_wire, len, on_batch_result, &ra), CS_E_INVALID);
    ck_assert(ra.has_id[0]);
    /* Caps: no request, or more than CS_BATCH_MAX. */
    ck_assert_int_eq(cs_batch_encode(INSTANCE, one, lens, 0, member_key[0], batch_wire, sizeof batch_wire, &len, &err),
                     CS_E_RANGE);
    ck_assert_int_eq(cs_batch_encode(INSTANCE, one, lens, CS_BATCH_MAX + 1, member_key[0], batch_wire,
                                     sizeof batch_wire, &len, &err),
                     CS_E_RANGE);
    cs_store_destroy(a);
}
END_TEST
int main(void)
{
    setup_keys();
    Suite *suite = suite_create("config_store");
    TCase *tc = tcase_create("config_store");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, batches_apply_each_request_under_one_signature);
    tcase_add_test(tc, layout_by_hand_matches_the_encoder);
    tcase_add_test(tc, round_trip_of_every_field);
    tcase_add_test(tc, every_truncation_fails_cleanly);
    tcase_add_test(tc, each_decode_error);
    tcase_add_test(tc, encode_checks_the_caps);
    tcase_add_test(tc, members_and_admins_write_others_are_refused);
    tcase_add_test(tc, put_get_delete_and_revisions);
    tcase_add_test(tc, ranges_read_the_state_at_their_point_in_the_request);
    tcase_add_test(tc, transaction_compares);
    tcase_add_test(tc, compare_and_swap_loop);
    tcase_add_test(tc, dedup_of_request_ids);
    tcase_add_test(tc, watches);
    tcase_add_test(tc, two_stores_agree_with_each_other_and_a_model);
    tcase_add_test(tc, many_keys_fill_the_store_and_compact_the_history);
    tcase_add_test(tc, bytes_cap);
    tcase_add_test(tc, dedup_window_forgets_the_oldest);
    tcase_add_test(tc, snapshot_layout_by_hand_matches);
    tcase_add_test(tc, snapshot_of_an_empty_store);
    tcase_add_test(tc, snapshot_refuses_bad_input);
    tcase_add_test(tc, snapshot_history_past_its_caps_is_one_revision);
    tcase_add_test(tc, snapshot_round_trip_of_a_busy_store);
    tcase_add_test(tc, snapshots_of_random_stores_restore_to_equal_stores);
    suite_add_tcase(suite, tc);
    return testutil_run_suite(suite, false);
}
