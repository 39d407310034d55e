/*
 * test_config_model.c - the config store's determinism: two stores fed the same 10,000
 * random requests agree, and agree with a reference model kept here; the dedup window
 * forgets the oldest ids; snapshots of random stores restore to equal stores.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/bytes.h"
#include "common/keccak.h"
#include "common/secp.h"
#include "config/config.h"
#include "config_store_util.h"
#include "testutil.h"

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
        if (c->target == CS_TARGET_VALUE && mk == NULL) {
            ok = false; /* etcd: a missing key's value compare always fails */
            break;
        }
        if (c->target == CS_TARGET_VALUE) {
            cmp = compare_bytes(mk->value, c->value, c->value_len);
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

int main(void)
{
    setup_keys();
    Suite *suite = suite_create("config_model");
    TCase *tc = tcase_create("config_model");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, two_stores_agree_with_each_other_and_a_model);
    tcase_add_test(tc, dedup_window_forgets_the_oldest);
    tcase_add_test(tc, snapshots_of_random_stores_restore_to_equal_stores);
    suite_add_tcase(suite, tc);
    return testutil_run_suite(suite, false);
}
