/* config_store_util.c - the config store tests' shared helpers (config_store_util.h). */
#include "config_store_util.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/secp.h"

uint8_t member_key[NMEMBERS][32], admin_key[32], outsider_key[32];
uint8_t member_addr[NMEMBERS][20], admin_addr[20], outsider_addr[20];

void make_key(uint8_t key[32], uint8_t seed, uint8_t addr[20])
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

void setup_keys(void)
{
    for (int i = 0; i < NMEMBERS; i++) make_key(member_key[i], (uint8_t)(i + 1), member_addr[i]);
    make_key(admin_key, 100, admin_addr);
    make_key(outsider_key, 200, outsider_addr);
}

struct cs_store *new_store(void)
{
    struct cohort_error err = {0};
    struct cs_store *s = cs_store_create(INSTANCE, (const uint8_t(*)[20])member_addr, NMEMBERS,
                                         (const uint8_t(*)[20])admin_addr, 1, &err);
    ck_assert_msg(s != NULL, "%s", err.message);
    return s;
}

/* ---- Building requests ---- */

uint64_t id_counter = 1;

void req_init(struct cs_request *r)
{
    memset(r, 0, sizeof *r);
    r->instance = INSTANCE;
    uint64_t n = id_counter++;
    for (int i = 0; i < 8; i++) r->id[15 - i] = (uint8_t)(n >> (8 * i));
    r->id[0] = 0xc5;
}

struct cs_op *new_op(struct cs_request *r, bool failure)
{
    if (failure) {
        ck_assert_uint_lt(r->nfailure, CS_TXN_OPS_MAX);
        return &r->failure[r->nfailure++];
    }
    ck_assert_uint_lt(r->nsuccess, CS_TXN_OPS_MAX);
    return &r->success[r->nsuccess++];
}

void add_put_n(struct cs_request *r, bool failure, const char *key, const void *value, size_t value_len)
{
    struct cs_op *op = new_op(r, failure);
    *op = (struct cs_op){CS_OP_PUT, false, (const uint8_t *)key, (uint16_t)strlen(key), value, (uint32_t)value_len};
}

void add_put(struct cs_request *r, bool failure, const char *key, const char *value)
{
    add_put_n(r, failure, key, value, strlen(value));
}

void add_delete(struct cs_request *r, bool failure, const char *key, bool prefix)
{
    struct cs_op *op = new_op(r, failure);
    *op = (struct cs_op){CS_OP_DELETE, prefix, (const uint8_t *)key, (uint16_t)strlen(key), NULL, 0};
}

void add_range(struct cs_request *r, bool failure, const char *key, bool prefix)
{
    struct cs_op *op = new_op(r, failure);
    *op = (struct cs_op){CS_OP_RANGE, prefix, (const uint8_t *)key, (uint16_t)strlen(key), NULL, 0};
}

void add_compare_value(struct cs_request *r, const char *key, uint8_t result, const char *value)
{
    ck_assert_uint_lt(r->ncompare, CS_TXN_OPS_MAX);
    r->compare[r->ncompare++] = (struct cs_compare){(const uint8_t *)key, (uint16_t)strlen(key), CS_TARGET_VALUE,
                                                    result, (const uint8_t *)value, (uint32_t)strlen(value), 0};
}

void add_compare_number(struct cs_request *r, const char *key, uint8_t target, uint8_t result, uint64_t number)
{
    ck_assert_uint_lt(r->ncompare, CS_TXN_OPS_MAX);
    r->compare[r->ncompare++] =
        (struct cs_compare){(const uint8_t *)key, (uint16_t)strlen(key), target, result, NULL, 0, number};
}

uint8_t wire[CS_REQUEST_MAX];

size_t sign_into(const struct cs_request *r, const uint8_t key[32], uint8_t *out, size_t cap)
{
    size_t len = 0;
    struct cohort_error err = {0};
    int rc = cs_request_encode(r, key, out, cap, &len, &err);
    ck_assert_msg(rc == 0, "encode: %s", err.message);
    ck_assert_uint_gt(len, 0);
    return len;
}

/* ---- Applying and capturing results ---- */

void copy_kv(struct got_kv *g, const struct cs_kv *kv)
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

void on_result(void *arg, const struct cs_result *r)
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

struct got *apply_bytes(struct cs_store *s, const uint8_t *bytes, size_t len)
{
    static struct got g;
    memset(&g, 0, sizeof g);
    int rc = cs_store_apply(s, bytes, len, on_result, &g);
    ck_assert_int_eq(g.calls, 1);
    ck_assert_int_eq(rc, g.status);
    return &g;
}

struct got *run_as(struct cs_store *s, const struct cs_request *r, const uint8_t key[32])
{
    size_t len = sign_into(r, key, wire, sizeof wire);
    return apply_bytes(s, wire, len);
}

struct got *run(struct cs_store *s, const struct cs_request *r) { return run_as(s, r, member_key[0]); }

struct got *put(struct cs_store *s, const char *key, const char *value)
{
    struct cs_request r;
    req_init(&r);
    add_put(&r, false, key, value);
    return run(s, &r);
}

struct got *del(struct cs_store *s, const char *key, bool prefix)
{
    struct cs_request r;
    req_init(&r);
    add_delete(&r, false, key, prefix);
    return run(s, &r);
}

void collect_kv(void *arg, const struct cs_kv *kv)
{
    struct collected *c = arg;
    if (c->n < GOT_KVS) copy_kv(&c->kv[c->n], kv);
    c->n++;
}

/* The key as the store holds it now; false when absent. */
bool get(const struct cs_store *s, const char *key, struct got_kv *out)
{
    struct collected c = {0};
    size_t n = cs_store_range(s, (const uint8_t *)key, strlen(key), false, 0, collect_kv, &c);
    ck_assert_uint_eq(n, c.n);
    ck_assert_uint_le(n, 1);
    if (n == 1 && out) *out = c.kv[0];
    return n == 1;
}

void assert_kv(const struct got_kv *kv, const char *key, const char *value, uint64_t create, uint64_t mod,
               uint64_t version)
{
    ck_assert_str_eq(kv->key, key);
    ck_assert_str_eq(kv->value, value);
    ck_assert_uint_eq(kv->value_len, strlen(value));
    ck_assert_uint_eq(kv->create_revision, create);
    ck_assert_uint_eq(kv->mod_revision, mod);
    ck_assert_uint_eq(kv->version, version);
}

void assert_ok(const struct got *g, uint64_t revision)
{
    ck_assert_int_eq(g->status, CS_OK);
    ck_assert_uint_eq(g->revision, revision);
}

/* ---- A request built by hand from the header's diagram ---- */

void h_bytes(struct hand *h, const void *p, size_t n)
{
    ck_assert_uint_le(h->n + n, sizeof h->b);
    memcpy(h->b + h->n, p, n);
    h->n += n;
}

void h_uint(struct hand *h, uint64_t v, int bytes)
{
    for (int i = bytes - 1; i >= 0; i--) {
        uint8_t b = (uint8_t)(v >> (8 * i));
        h_bytes(h, &b, 1);
    }
}

void h_sign(struct hand *h, const uint8_t key[32])
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
void h_header(struct hand *h, uint64_t instance, int ncompare, int nsuccess, int nfailure)
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
void h_sample(struct hand *h, const uint8_t key[32])
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

void sample_request(struct cs_request *r)
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

/* Puts keys prefix + (first .. first + n - 1 in digits digits), per_request to a request. */
void put_many(struct cs_store *s, const char *prefix, int digits, size_t first, size_t n, const uint8_t *value,
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

void on_event(void *arg, const struct cs_event *e)
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

struct watched *watch(const struct cs_store *s, uint64_t from, const char *prefix, size_t limit, uint64_t *next,
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
uint8_t *snap(const struct cs_store *s, size_t *len)
{
    uint8_t *bytes = NULL;
    struct cohort_error err = {0};
    int rc = cs_store_snapshot(s, &bytes, len, &err);
    ck_assert_msg(rc == 0, "snapshot: %s", err.message);
    ck_assert_ptr_nonnull(bytes);
    ck_assert_uint_ge(*len, 72);
    return bytes;
}

void restore_ok(struct cs_store *s, const uint8_t *bytes, size_t len)
{
    struct cohort_error err = {0};
    int rc = cs_store_restore(s, bytes, len, &err);
    ck_assert_msg(rc == 0, "restore: %s", err.message);
}

/* a and b hold the same state: the same digest, revision and snapshot bytes. */
void assert_same_state(const struct cs_store *a, const struct cs_store *b)
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

void assert_same_kv(const struct got_kv *x, const struct got_kv *y)
{
    ck_assert_str_eq(x->key, y->key);
    ck_assert_str_eq(x->value, y->value);
    ck_assert_uint_eq(x->value_len, y->value_len);
    ck_assert_uint_eq(x->create_revision, y->create_revision);
    ck_assert_uint_eq(x->mod_revision, y->mod_revision);
    ck_assert_uint_eq(x->version, y->version);
}

/* Applies one entry to a and b: the same status and result on both. Returns the status. */
int apply_both(struct cs_store *a, struct cs_store *b, const uint8_t *bytes, size_t len, struct got *out)
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

int run_both(struct cs_store *a, struct cs_store *b, const struct cs_request *r, const uint8_t key[32])
{
    static uint8_t bytes[CS_REQUEST_MAX];
    size_t len = sign_into(r, key, bytes, sizeof bytes);
    return apply_both(a, b, bytes, len, NULL);
}

void hash_event(void *arg, const struct cs_event *e)
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
int assert_same_watch(const struct cs_store *a, const struct cs_store *b, uint64_t from, const char *prefix,
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
