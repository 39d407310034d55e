/*
 * test_mpt.c - the incremental trie (mpt.h) against the all-at-once root (trie.h), over an
 * in-memory node store: random batches of inserts, updates and deletes on many seeds,
 * collapses, inline nodes, values at the cap, corrupt and failing stores, and the TrieTests
 * fixtures applied through mpt_update.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hex.h"
#include "common/keccak.h"
#include "subnode/state/mpt.h"
#include "subnode/state/trie.h"
#include "testutil.h"

#define TEST_STORE_FAIL_CODE (-99)

/* ---- A hash map of byte strings: the node store, and the reference set of pairs ---- */

struct map_entry {
    uint8_t *key;
    size_t key_len;
    uint8_t *value;
    size_t value_len;
    int state; /* 0 free, 1 live, 2 deleted */
};

struct map {
    struct map_entry *slots;
    size_t cap, live, used; /* used: live + deleted */
};

static uint64_t hash_bytes(const uint8_t *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

static void map_free(struct map *m)
{
    for (size_t i = 0; i < m->cap; i++) {
        free(m->slots[i].key);
        free(m->slots[i].value);
    }
    free(m->slots);
    memset(m, 0, sizeof *m);
}

static struct map_entry *map_find(const struct map *m, const uint8_t *key, size_t key_len)
{
    if (m->cap == 0) return NULL;
    size_t i = hash_bytes(key, key_len) & (m->cap - 1);
    for (;;) {
        struct map_entry *e = &m->slots[i];
        if (e->state == 0) return NULL;
        if (e->state == 1 && e->key_len == key_len && memcmp(e->key, key, key_len) == 0) return e;
        i = (i + 1) & (m->cap - 1);
    }
}

static void map_put(struct map *m, const uint8_t *key, size_t key_len, const uint8_t *value, size_t value_len);

static void map_grow(struct map *m)
{
    struct map old = *m;
    m->cap = old.cap ? old.cap * 2 : 64;
    while (old.live * 2 > m->cap) m->cap *= 2;
    m->slots = calloc(m->cap, sizeof *m->slots);
    ck_assert_ptr_nonnull(m->slots);
    m->live = m->used = 0;
    for (size_t i = 0; i < old.cap; i++) {
        if (old.slots[i].state == 1) map_put(m, old.slots[i].key, old.slots[i].key_len, old.slots[i].value,
                                             old.slots[i].value_len);
        free(old.slots[i].key);
        free(old.slots[i].value);
    }
    free(old.slots);
}

static void map_put(struct map *m, const uint8_t *key, size_t key_len, const uint8_t *value, size_t value_len)
{
    struct map_entry *e = map_find(m, key, key_len);
    if (e == NULL) {
        if ((m->used + 1) * 10 > m->cap * 7) map_grow(m);
        size_t i = hash_bytes(key, key_len) & (m->cap - 1);
        while (m->slots[i].state == 1) i = (i + 1) & (m->cap - 1);
        e = &m->slots[i];
        if (e->state == 0) m->used++;
        free(e->key);
        free(e->value);
        e->key = malloc(key_len ? key_len : 1);
        memcpy(e->key, key, key_len);
        e->key_len = key_len;
        e->value = NULL;
        e->state = 1;
        m->live++;
    }
    free(e->value);
    e->value = malloc(value_len ? value_len : 1);
    memcpy(e->value, value, value_len);
    e->value_len = value_len;
}

static bool map_del(struct map *m, const uint8_t *key, size_t key_len)
{
    struct map_entry *e = map_find(m, key, key_len);
    if (e == NULL) return false;
    e->state = 2;
    m->live--;
    return true;
}

/* ---- The node store over a map, with counters and a failure switch ---- */

struct test_store {
    struct map map;
    long fail_after; /* -1: never; else the number of calls that succeed before one fails */
    size_t gets, puts, dels;
};

static int store_fail(struct test_store *s, struct cohort_error *err)
{
    if (s->fail_after < 0) return 0;
    if (s->fail_after == 0) return cohort_error_set(err, TEST_STORE_FAIL_CODE, "test", "test store: disk on fire");
    s->fail_after--;
    return 0;
}

static int ts_get(void *arg, const uint8_t *key, size_t key_len, const uint8_t **value, size_t *value_len,
                  struct cohort_error *err)
{
    struct test_store *s = arg;
    int rc = store_fail(s, err);
    if (rc != 0) return rc;
    s->gets++;
    ck_assert_uint_le(key_len, MPT_STORE_KEY_MAX);
    struct map_entry *e = map_find(&s->map, key, key_len);
    if (e == NULL) return 0;
    *value = e->value;
    *value_len = e->value_len;
    return 1;
}

static int ts_put(void *arg, const uint8_t *key, size_t key_len, const uint8_t *value, size_t value_len,
                  struct cohort_error *err)
{
    struct test_store *s = arg;
    int rc = store_fail(s, err);
    if (rc != 0) return rc;
    s->puts++;
    ck_assert_uint_le(key_len, MPT_STORE_KEY_MAX);
    ck_assert_uint_le(value_len, MPT_NODE_MAX);
    ck_assert_uint_gt(value_len, 0);
    map_put(&s->map, key, key_len, value, value_len);
    return 0;
}

static int ts_del(void *arg, const uint8_t *key, size_t key_len, struct cohort_error *err)
{
    struct test_store *s = arg;
    int rc = store_fail(s, err);
    if (rc != 0) return rc;
    s->dels++;
    map_del(&s->map, key, key_len);
    return 0;
}

static int ts_delete_prefix(void *arg, const uint8_t *prefix, size_t prefix_len, struct cohort_error *err)
{
    struct test_store *s = arg;
    for (size_t i = 0; i < s->map.cap; i++) {
        struct map_entry *e = &s->map.slots[i];
        if (e->state == 1 && e->key_len >= prefix_len && memcmp(e->key, prefix, prefix_len) == 0) {
            e->state = 2;
            s->map.live--;
        }
    }
    return 0;
}

static void store_init(struct test_store *s, struct mpt_store *api)
{
    memset(s, 0, sizeof *s);
    s->fail_after = -1;
    *api = (struct mpt_store){.get = ts_get, .put = ts_put, .del = ts_del, .delete_prefix = ts_delete_prefix, .arg = s};
}

static void store_copy(struct test_store *dst, struct mpt_store *api, const struct test_store *src)
{
    store_init(dst, api);
    for (size_t i = 0; i < src->map.cap; i++) {
        const struct map_entry *e = &src->map.slots[i];
        if (e->state == 1) map_put(&dst->map, e->key, e->key_len, e->value, e->value_len);
    }
}

/* Live keys that start with prefix. */
static size_t store_count_prefix(const struct test_store *s, const uint8_t *prefix, size_t prefix_len)
{
    size_t n = 0;
    for (size_t i = 0; i < s->map.cap; i++) {
        const struct map_entry *e = &s->map.slots[i];
        if (e->state == 1 && e->key_len >= prefix_len && memcmp(e->key, prefix, prefix_len) == 0) n++;
    }
    return n;
}

/* The two stores hold exactly the same keys with the same values. */
static void assert_stores_equal(const struct test_store *a, const struct test_store *b)
{
    ck_assert_uint_eq(a->map.live, b->map.live);
    for (size_t i = 0; i < a->map.cap; i++) {
        const struct map_entry *e = &a->map.slots[i];
        if (e->state != 1) continue;
        const struct map_entry *f = map_find(&b->map, e->key, e->key_len);
        char hex[2 * MPT_STORE_KEY_MAX + 3];
        hex_encode(e->key, e->key_len, hex, sizeof hex);
        ck_assert_msg(f != NULL, "store key %s only in one store", hex);
        ck_assert_msg(f->value_len == e->value_len && memcmp(f->value, e->value, e->value_len) == 0,
                      "store key %s differs", hex);
    }
}

/* ---- The reference: trie_root over the pairs in a map ---- */

static void reference_root(const struct map *ref, uint8_t root[32])
{
    struct trie_entry *entries = malloc((ref->live + 1) * sizeof *entries);
    ck_assert_ptr_nonnull(entries);
    size_t n = 0;
    for (size_t i = 0; i < ref->cap; i++) {
        const struct map_entry *e = &ref->slots[i];
        if (e->state == 1) entries[n++] = (struct trie_entry){e->key, e->key_len, e->value, e->value_len};
    }
    struct cohort_error err;
    ck_assert_msg(trie_root(entries, n, root, &err) == 0, "%s", err.message);
    free(entries);
}

/* A random live key of the map (it must hold one). */
static const struct map_entry *random_live(const struct map *m, uint64_t *rng)
{
    ck_assert_uint_gt(m->live, 0);
    for (;;) {
        const struct map_entry *e = &m->slots[testutil_rand_next(rng) & (m->cap - 1)];
        if (e->state == 1) return e;
    }
}

/* ---- Random keys and values ---- */

enum key_mode {
    KEYS_UNIFORM,   /* hashed keys, as a secure trie has */
    KEYS_BOTTOM,    /* 56 zero nibbles, then 8 nibbles of 0..3: deep, with embedded nodes */
    KEYS_PREFIXES,  /* a random length of a few shared prefixes: extensions of every length */
    KEY_MODES
};

struct gen {
    uint64_t rng;
    enum key_mode mode;
    uint8_t prefixes[4][32];
    bool big_values;
};

static void gen_key(struct gen *g, uint8_t key[32])
{
    testutil_rand_bytes(&g->rng, key, 32);
    if (g->mode == KEYS_BOTTOM) {
        memset(key, 0, 28);
        for (int i = 28; i < 32; i++) key[i] &= 0x33;
    } else if (g->mode == KEYS_PREFIXES) {
        const uint8_t *p = g->prefixes[testutil_rand_next(&g->rng) % 4];
        unsigned nibbles = (unsigned)(testutil_rand_next(&g->rng) % 65);
        for (unsigned i = 0; i < nibbles; i++) {
            uint8_t nib = i % 2 == 0 ? p[i / 2] >> 4 : p[i / 2] & 0x0f;
            if (i % 2 == 0)
                key[i / 2] = (uint8_t)((key[i / 2] & 0x0f) | nib << 4);
            else
                key[i / 2] = (uint8_t)((key[i / 2] & 0xf0) | nib);
        }
    }
}

/* Mostly short values (1 byte gives embedded leaves deep down), some long, rarely the cap. */
static size_t gen_value(struct gen *g, uint8_t *out)
{
    uint64_t r = testutil_rand_next(&g->rng) % 100;
    size_t len;
    if (r < 40)
        len = 1;
    else if (r < 90)
        len = 1 + testutil_rand_next(&g->rng) % 80;
    else if (r < 99 || !g->big_values)
        len = 80 + testutil_rand_next(&g->rng) % 300;
    else
        len = MPT_VALUE_MAX - testutil_rand_next(&g->rng) % 2;
    testutil_rand_bytes(&g->rng, out, len);
    if (out[0] == 0 && len == 1) out[0] = 1;
    return len;
}

/* ---- Helpers ---- */

struct batch {
    struct mpt_change *changes;
    uint8_t (*values)[MPT_VALUE_MAX];
    size_t count, cap;
};

static void batch_init(struct batch *b, size_t cap)
{
    b->changes = calloc(cap, sizeof *b->changes);
    b->values = malloc(cap * sizeof *b->values);
    ck_assert_ptr_nonnull(b->changes);
    ck_assert_ptr_nonnull(b->values);
    b->count = 0;
    b->cap = cap;
}

static void batch_free(struct batch *b)
{
    free(b->changes);
    free(b->values);
}

/* Adds a change unless the batch already changes that key; true when added. */
static bool batch_add(struct batch *b, const uint8_t key[32], const uint8_t *value, size_t value_len)
{
    for (size_t i = 0; i < b->count; i++)
        if (memcmp(b->changes[i].key, key, 32) == 0) return false;
    ck_assert_uint_lt(b->count, b->cap);
    struct mpt_change *c = &b->changes[b->count];
    memcpy(c->key, key, 32);
    if (value_len) memcpy(b->values[b->count], value, value_len);
    c->value = b->values[b->count];
    c->value_len = value_len;
    b->count++;
    return true;
}

/* Applies a batch to the reference map too. */
static void batch_apply_reference(const struct batch *b, struct map *ref)
{
    for (size_t i = 0; i < b->count; i++) {
        if (b->changes[i].value_len == 0)
            map_del(ref, b->changes[i].key, 32);
        else
            map_put(ref, b->changes[i].key, 32, b->changes[i].value, b->changes[i].value_len);
    }
}

static void update_ok(struct mpt *m, const struct mpt_store *api, const uint8_t *ns, size_t ns_len,
                      struct batch *b, uint8_t root[32])
{
    struct cohort_error err;
    int rc = mpt_update(m, api, ns, ns_len, b->changes, b->count, root, &err);
    ck_assert_msg(rc == 0, "mpt_update: %s", rc ? err.message : "");
}

/* Every key of the reference reads back; a few random keys read as absent. */
static void check_gets(struct mpt *m, const struct mpt_store *api, const uint8_t *ns, size_t ns_len,
                       const struct map *ref, struct gen *g, size_t samples)
{
    struct cohort_error err;
    for (size_t i = 0; i < samples && ref->live > 0; i++) {
        const struct map_entry *e = random_live(ref, &g->rng);
        const uint8_t *v = NULL;
        size_t vlen = 0;
        int rc = mpt_get(m, api, ns, ns_len, e->key, &v, &vlen, &err);
        ck_assert_msg(rc == 1, "mpt_get of a present key: %d %s", rc, rc < 0 ? err.message : "");
        ck_assert_uint_eq(vlen, e->value_len);
        ck_assert_mem_eq(v, e->value, vlen);
    }
    for (size_t i = 0; i < samples; i++) {
        uint8_t key[32];
        gen_key(g, key);
        const uint8_t *v = NULL;
        size_t vlen = 0;
        int rc = mpt_get(m, api, ns, ns_len, key, &v, &vlen, &err);
        ck_assert_int_ge(rc, 0);
        const struct map_entry *e = map_find(ref, key, 32);
        ck_assert_int_eq(rc, e != NULL);
        if (e) ck_assert_mem_eq(v, e->value, vlen);
    }
}

/*
 * One differential run: random batches against the reference, then a rebuild of the
 * final set in one batch into a fresh store (it must hold exactly the same nodes: no stale
 * node survives and the layout depends only on the set), then everything deleted.
 */
static void differential_run(uint64_t seed, enum key_mode mode, size_t target_keys, size_t batches,
                             size_t batch_max, bool big_values, size_t cache_bytes)
{
    struct gen g = {.rng = seed * 0x9e3779b97f4a7c15ull + 1, .mode = mode, .big_values = big_values};
    for (int i = 0; i < 4; i++) testutil_rand_bytes(&g.rng, g.prefixes[i], 32);
    uint8_t ns[MPT_NAMESPACE_MAX];
    size_t ns_len = seed % 2 ? 0 : MPT_NAMESPACE_MAX;
    testutil_rand_bytes(&g.rng, ns, sizeof ns);

    struct test_store store;
    struct mpt_store api;
    store_init(&store, &api);
    struct map ref = {0};
    struct mpt *m = mpt_new();
    ck_assert_ptr_nonnull(m);
    struct cohort_error cache_err;
    ck_assert_int_eq(mpt_set_cache_bytes(m, cache_bytes, &cache_err), 0);
    struct batch b;
    batch_init(&b, batch_max + 1);
    uint8_t value[MPT_VALUE_MAX];
    uint8_t root[32], want[32];

    for (size_t round = 0; round < batches; round++) {
        b.count = 0;
        size_t n = 1 + testutil_rand_next(&g.rng) % batch_max;
        for (size_t i = 0; i < n; i++) {
            uint64_t op = testutil_rand_next(&g.rng) % 100;
            uint8_t key[32];
            /* Grow towards the target, then churn around it. */
            bool growing = ref.live < target_keys;
            if (ref.live == 0 || op < (growing ? 60u : 25u)) {
                gen_key(&g, key);
                batch_add(&b, key, value, gen_value(&g, value));
            } else if (op < (growing ? 80u : 55u)) {
                const struct map_entry *e = random_live(&ref, &g.rng);
                batch_add(&b, e->key, value, gen_value(&g, value));
            } else if (op < (growing ? 95u : 90u)) {
                batch_add(&b, random_live(&ref, &g.rng)->key, NULL, 0);
            } else if (op < 97) {
                gen_key(&g, key); /* most likely absent */
                batch_add(&b, key, NULL, 0);
            } else {
                const struct map_entry *e = random_live(&ref, &g.rng); /* the same value again */
                batch_add(&b, e->key, e->value, e->value_len);
            }
        }
        batch_apply_reference(&b, &ref);
        update_ok(m, &api, ns, ns_len, &b, root);
        reference_root(&ref, want);
        ck_assert_msg(memcmp(root, want, 32) == 0, "seed %llu mode %d round %zu: root differs (%zu keys)",
                      (unsigned long long)seed, (int)mode, round, ref.live);
        struct cohort_error err;
        uint8_t again[32];
        ck_assert_int_eq(mpt_root(m, &api, ns, ns_len, again, &err), 0);
        ck_assert_mem_eq(again, want, 32);
        if (round % 8 == 0) check_gets(m, &api, ns, ns_len, &ref, &g, 16);
    }

    /* The same set in one batch into an empty store: the same nodes at the same keys. */
    struct test_store fresh;
    struct mpt_store fresh_api;
    store_init(&fresh, &fresh_api);
    struct batch all;
    batch_init(&all, ref.live + 1);
    for (size_t i = 0; i < ref.cap; i++)
        if (ref.slots[i].state == 1) batch_add(&all, ref.slots[i].key, ref.slots[i].value, ref.slots[i].value_len);
    update_ok(m, &fresh_api, ns, ns_len, &all, root);
    ck_assert_mem_eq(root, want, 32);
    assert_stores_equal(&store, &fresh);
    batch_free(&all);
    map_free(&fresh.map);

    /* Delete everything in random batches: the namespace ends empty. */
    while (ref.live > 0) {
        b.count = 0;
        size_t n = 1 + testutil_rand_next(&g.rng) % batch_max;
        for (size_t i = 0; i < n && i < ref.live; i++) batch_add(&b, random_live(&ref, &g.rng)->key, NULL, 0);
        batch_apply_reference(&b, &ref);
        update_ok(m, &api, ns, ns_len, &b, root);
        reference_root(&ref, want);
        ck_assert_mem_eq(root, want, 32);
    }
    ck_assert_mem_eq(root, trie_empty_root, 32);
    ck_assert_uint_eq(store.map.live, 0);

    batch_free(&b);
    mpt_free(m);
    map_free(&ref);
    map_free(&store.map);
}

/* ---- Tests ---- */

START_TEST(differential_small_seeds)
{
    /*
     * 150 seeds of up to 300 keys, each key mode, batches of 1..40; every third with a
     * node cache of 20 sets, small enough that nodes keep evicting each other.
     */
    for (uint64_t seed = 1; seed <= 150; seed++)
        differential_run(seed, (enum key_mode)(seed % KEY_MODES), 300, 40, 40, seed % 10 == 0,
                         seed % 3 == 0 ? 40 * 640 : 0);
}
END_TEST

START_TEST(differential_single_changes)
{
    /* One change per update: every insert and delete path on its own. */
    for (uint64_t seed = 1000; seed < 1030; seed++)
        differential_run(seed, (enum key_mode)(seed % KEY_MODES), 120, 300, 1, false, seed % 2 ? 1 << 20 : 0);
}
END_TEST

START_TEST(differential_large)
{
    /* 20,000 keys grown in batches of up to 2,000, then churned; one seed per key mode, and a
       cached run. COHORT_TEST_SCALE divides the key count (the sanitizer run checks the same
       paths on fewer: scripts/test.sh). */
    const char *scale_text = getenv("COHORT_TEST_SCALE");
    size_t scale = scale_text ? strtoul(scale_text, NULL, 10) : 1;
    size_t keys = 20000 / (scale ? scale : 1);
    for (int mode = 0; mode < KEY_MODES; mode++)
        differential_run(7000 + (uint64_t)mode, (enum key_mode)mode, keys, 40, 2000, false, 0);
    differential_run(7100, KEYS_UNIFORM, keys, 40, 2000, false, 4 << 20);
}
END_TEST

START_TEST(empty_trie)
{
    struct test_store store;
    struct mpt_store api;
    store_init(&store, &api);
    struct mpt *m = mpt_new();
    uint8_t root[32];
    struct cohort_error err;
    ck_assert_int_eq(mpt_root(m, &api, NULL, 0, root, &err), 0);
    ck_assert_mem_eq(root, trie_empty_root, 32);
    memset(root, 0xaa, 32);
    ck_assert_int_eq(mpt_update(m, &api, NULL, 0, NULL, 0, root, &err), 0);
    ck_assert_mem_eq(root, trie_empty_root, 32);
    /* Deleting absent keys from an empty trie: still empty, nothing written. */
    struct mpt_change del[2] = {{.key = {1}}, {.key = {2}}};
    ck_assert_int_eq(mpt_update(m, &api, NULL, 0, del, 2, root, &err), 0);
    ck_assert_mem_eq(root, trie_empty_root, 32);
    ck_assert_uint_eq(store.puts, 0);
    ck_assert_uint_eq(store.map.live, 0);
    uint8_t key[32] = {0};
    const uint8_t *v;
    size_t vlen;
    ck_assert_int_eq(mpt_get(m, &api, NULL, 0, key, &v, &vlen, &err), 0);

    /* One key: a single leaf at the root, stored hashed; delete it and the store is empty. */
    uint8_t one = 0x01;
    struct mpt_change c = {.key = {0xab}, .value = &one, .value_len = 1};
    ck_assert_int_eq(mpt_update(m, &api, NULL, 0, &c, 1, root, &err), 0);
    struct trie_entry e = {c.key, 32, &one, 1};
    uint8_t want[32];
    ck_assert_int_eq(trie_root(&e, 1, want, &err), 0);
    ck_assert_mem_eq(root, want, 32);
    ck_assert_uint_eq(store.map.live, 1);
    ck_assert_int_eq(mpt_get(m, &api, NULL, 0, c.key, &v, &vlen, &err), 1);
    ck_assert_uint_eq(vlen, 1);
    ck_assert_uint_eq(v[0], 1);
    c.value_len = 0;
    ck_assert_int_eq(mpt_update(m, &api, NULL, 0, &c, 1, root, &err), 0);
    ck_assert_mem_eq(root, trie_empty_root, 32);
    ck_assert_uint_eq(store.map.live, 0);
    mpt_free(m);
    map_free(&store.map);
}
END_TEST

/* Builds keys from nibble strings ("0123..." padded with zeros to 64 nibbles). */
static void key_from_nibbles(const char *nibbles, uint8_t key[32])
{
    memset(key, 0, 32);
    for (size_t i = 0; nibbles[i] && i < 64; i++) {
        uint8_t n = (uint8_t)hex_digit_value(nibbles[i]);
        key[i / 2] |= (uint8_t)(i % 2 == 0 ? n << 4 : n);
    }
}

/* Roots of a given set computed by mpt (one key at a time) and by trie_root. */
static void check_sequence(struct mpt *m, const struct mpt_store *api, struct map *ref, const char *nibbles,
                           const char *value)
{
    struct batch b;
    batch_init(&b, 1);
    uint8_t key[32];
    key_from_nibbles(nibbles, key);
    batch_add(&b, key, (const uint8_t *)value, strlen(value));
    batch_apply_reference(&b, ref);
    uint8_t root[32], want[32];
    update_ok(m, api, NULL, 0, &b, root);
    reference_root(ref, want);
    ck_assert_msg(memcmp(root, want, 32) == 0, "after %s %s: root differs", value[0] ? "setting" : "deleting", nibbles);
    batch_free(&b);
}

START_TEST(collapses)
{
    /*
     * Hand-made shapes: a branch under an extension loses a child and folds into a leaf
     * that the extension absorbs; an extension is split at its first, middle and last
     * nibble; a branch whose last other child is a branch becomes a one-nibble extension,
     * which the extension above absorbs.
     */
    struct test_store store;
    struct mpt_store api;
    store_init(&store, &api);
    struct mpt *m = mpt_new();
    struct map ref = {0};
    const char *long_value = "a value long enough that the leaf holding it is stored by hash";
    check_sequence(m, &api, &ref, "1234500", long_value);
    check_sequence(m, &api, &ref, "1234511", long_value); /* extension 12345 over a branch */
    check_sequence(m, &api, &ref, "1234511", "");         /* branch folds: one leaf again */
    ck_assert_uint_eq(store.map.live, 1);
    check_sequence(m, &api, &ref, "1234511", long_value);
    check_sequence(m, &api, &ref, "1934500", long_value); /* split the extension after 1 nibble */
    check_sequence(m, &api, &ref, "1294500", long_value); /* in the middle */
    check_sequence(m, &api, &ref, "1234f00", long_value); /* at its last nibble */
    check_sequence(m, &api, &ref, "2", long_value);       /* a branch at the root */
    check_sequence(m, &api, &ref, "1234500", "");
    check_sequence(m, &api, &ref, "1234511", "");         /* the branch at 12345 is gone */
    check_sequence(m, &api, &ref, "1934500", "");
    check_sequence(m, &api, &ref, "1294500", "");
    check_sequence(m, &api, &ref, "2", "");
    ck_assert_uint_eq(store.map.live, 1);                 /* the one leaf left, at the root */
    check_sequence(m, &api, &ref, "1234f00", "");
    ck_assert_uint_eq(store.map.live, 0);

    /* Extension -> branch -> {branch, leaf}: deleting the leaf leaves ext(k+1) over the branch. */
    check_sequence(m, &api, &ref, "abcd10", long_value);
    check_sequence(m, &api, &ref, "abcd11", long_value);
    check_sequence(m, &api, &ref, "abce", long_value);
    check_sequence(m, &api, &ref, "f", long_value);
    check_sequence(m, &api, &ref, "abce", "");
    check_sequence(m, &api, &ref, "f", "");
    check_sequence(m, &api, &ref, "abcd10", "");
    check_sequence(m, &api, &ref, "abcd11", "");
    ck_assert_uint_eq(store.map.live, 0);

    /* Keys that differ only in the last nibble: a branch at nibble 63, leaves of no path. */
    check_sequence(m, &api, &ref, "000000000000000000000000000000000000000000000000000000000000000", "x");
    check_sequence(m, &api, &ref, "000000000000000000000000000000000000000000000000000000000000001", "y");
    check_sequence(m, &api, &ref, "000000000000000000000000000000000000000000000000000000000000002", long_value);
    check_sequence(m, &api, &ref, "000000000000000000000000000000000000000000000000000000000000011", "z");
    check_sequence(m, &api, &ref, "000000000000000000000000000000000000000000000000000000000000001", "");
    check_sequence(m, &api, &ref, "000000000000000000000000000000000000000000000000000000000000002", "");
    check_sequence(m, &api, &ref, "000000000000000000000000000000000000000000000000000000000000000", "");
    check_sequence(m, &api, &ref, "000000000000000000000000000000000000000000000000000000000000011", "");
    ck_assert_uint_eq(store.map.live, 0);
    mpt_free(m);
    map_free(&ref);
    map_free(&store.map);
}
END_TEST

START_TEST(inline_nodes)
{
    /*
     * 200 keys that differ only in their last 4 nibbles, with 1-byte values: the leaves
     * (and some branches) are under 32 bytes and live inside their parents, so the store
     * holds fewer nodes than there are keys.
     */
    struct test_store store;
    struct mpt_store api;
    store_init(&store, &api);
    struct mpt *m = mpt_new();
    struct map ref = {0};
    struct batch b;
    batch_init(&b, 200);
    uint64_t rng = 5;
    while (b.count < 200) {
        uint8_t key[32] = {0}, value = (uint8_t)(1 + testutil_rand_next(&rng) % 0x7f);
        key[30] = (uint8_t)testutil_rand_next(&rng);
        key[31] = (uint8_t)testutil_rand_next(&rng);
        batch_add(&b, key, &value, 1);
    }
    batch_apply_reference(&b, &ref);
    uint8_t root[32], want[32];
    update_ok(m, &api, NULL, 0, &b, root);
    reference_root(&ref, want);
    ck_assert_mem_eq(root, want, 32);
    ck_assert_uint_lt(store.map.live, 200);
    ck_assert_uint_gt(store.map.live, 0);
    /* Every key reads back through the embedded nodes. */
    struct cohort_error err;
    for (size_t i = 0; i < b.count; i++) {
        const uint8_t *v;
        size_t vlen;
        ck_assert_int_eq(mpt_get(m, &api, NULL, 0, b.changes[i].key, &v, &vlen, &err), 1);
        ck_assert_uint_eq(vlen, 1);
        ck_assert_uint_eq(v[0], b.changes[i].value[0]);
    }
    /* Growing one value past the inline size moves that leaf into the store, and back. */
    size_t before = store.map.live;
    uint8_t big[40];
    memset(big, 7, sizeof big);
    struct batch one;
    batch_init(&one, 1);
    batch_add(&one, b.changes[0].key, big, sizeof big);
    batch_apply_reference(&one, &ref);
    update_ok(m, &api, NULL, 0, &one, root);
    reference_root(&ref, want);
    ck_assert_mem_eq(root, want, 32);
    ck_assert_uint_gt(store.map.live, before);
    one.count = 0;
    batch_add(&one, b.changes[0].key, b.changes[0].value, 1);
    batch_apply_reference(&one, &ref);
    update_ok(m, &api, NULL, 0, &one, root);
    reference_root(&ref, want);
    ck_assert_mem_eq(root, want, 32);
    ck_assert_uint_eq(store.map.live, before);
    batch_free(&one);
    batch_free(&b);
    mpt_free(m);
    map_free(&ref);
    map_free(&store.map);
}
END_TEST

START_TEST(values_at_the_cap)
{
    struct test_store store;
    struct mpt_store api;
    store_init(&store, &api);
    struct mpt *m = mpt_new();
    struct map ref = {0};
    struct batch b;
    batch_init(&b, 8);
    static uint8_t big[MPT_VALUE_MAX + 1];
    memset(big, 0xee, sizeof big);
    uint64_t rng = 11;
    for (int i = 0; i < 8; i++) {
        uint8_t key[32];
        testutil_rand_bytes(&rng, key, 32);
        batch_add(&b, key, big, MPT_VALUE_MAX - (size_t)i);
    }
    batch_apply_reference(&b, &ref);
    uint8_t root[32], want[32];
    update_ok(m, &api, NULL, 0, &b, root);
    reference_root(&ref, want);
    ck_assert_mem_eq(root, want, 32);
    struct cohort_error err;
    const uint8_t *v;
    size_t vlen;
    ck_assert_int_eq(mpt_get(m, &api, NULL, 0, b.changes[0].key, &v, &vlen, &err), 1);
    ck_assert_uint_le(vlen, MPT_VALUE_MAX);
    ck_assert_uint_ge(vlen, MPT_VALUE_MAX - 7);

    /* One byte more is refused before anything is read or written. */
    size_t puts = store.puts;
    struct mpt_change over = {.key = {9}, .value = big, .value_len = MPT_VALUE_MAX + 1};
    ck_assert_int_eq(mpt_update(m, &api, NULL, 0, &over, 1, root, &err), STATE_E_RANGE);
    ck_assert_ptr_nonnull(strstr(err.message, "4097"));
    ck_assert_uint_eq(store.puts, puts);
    batch_free(&b);
    mpt_free(m);
    map_free(&ref);
    map_free(&store.map);
}
END_TEST

START_TEST(bad_arguments)
{
    struct test_store store;
    struct mpt_store api;
    store_init(&store, &api);
    struct mpt *m = mpt_new();
    uint8_t root[32], v1 = 1, v2 = 2;
    struct cohort_error err;
    struct mpt_change dup[2] = {{.key = {5}, .value = &v1, .value_len = 1}, {.key = {5}, .value = &v2, .value_len = 1}};
    ck_assert_int_eq(mpt_update(m, &api, NULL, 0, dup, 2, root, &err), STATE_E_INVALID);
    ck_assert_ptr_nonnull(strstr(err.message, "changed twice"));
    ck_assert_ptr_nonnull(strstr(err.message, "0x0500"));
    uint8_t ns[MPT_NAMESPACE_MAX + 1] = {0};
    ck_assert_int_eq(mpt_update(m, &api, ns, sizeof ns, dup, 1, root, &err), STATE_E_RANGE);
    ck_assert_int_eq(mpt_root(m, &api, ns, sizeof ns, root, &err), STATE_E_RANGE);
    ck_assert_uint_eq(store.puts + store.gets, 0);
    mpt_free(m);
    map_free(&store.map);
}
END_TEST

START_TEST(path_key_layout)
{
    uint8_t out[MPT_STORE_KEY_MAX];
    uint8_t ns[3] = {0xaa, 0xbb, 0xcc};
    uint8_t path[5] = {1, 2, 3, 4, 5};
    size_t n = mpt_path_key(ns, 3, path, 5, out);
    const uint8_t want[] = {0xaa, 0xbb, 0xcc, 5, 0x12, 0x34, 0x50};
    ck_assert_uint_eq(n, sizeof want);
    ck_assert_mem_eq(out, want, sizeof want);
    ck_assert_uint_eq(mpt_path_key(NULL, 0, NULL, 0, out), 1);
    ck_assert_uint_eq(out[0], 0);
    uint8_t full[64] = {0};
    ck_assert_uint_eq(mpt_path_key(ns, 3, full, 64, out), 3 + 1 + 32);
    ck_assert_uint_eq(out[3], 64);
}
END_TEST

/* A store with 300 random pairs, its mpt and reference; the caller frees. */
static void build_random(struct test_store *store, struct mpt_store *api, struct map *ref, size_t count, uint64_t seed)
{
    store_init(store, api);
    memset(ref, 0, sizeof *ref);
    struct mpt *m = mpt_new();
    struct batch b;
    batch_init(&b, count);
    struct gen g = {.rng = seed, .mode = KEYS_UNIFORM};
    uint8_t value[MPT_VALUE_MAX];
    while (b.count < count) {
        uint8_t key[32];
        gen_key(&g, key);
        size_t len = 40 + testutil_rand_next(&g.rng) % 40;
        testutil_rand_bytes(&g.rng, value, len);
        batch_add(&b, key, value, len);
    }
    batch_apply_reference(&b, ref);
    uint8_t root[32];
    update_ok(m, api, NULL, 0, &b, root);
    batch_free(&b);
    mpt_free(m);
}

/* The store key of the stored node on key's path at depth nibbles. */
static size_t path_store_key(const uint8_t key[32], size_t depth, uint8_t out[MPT_STORE_KEY_MAX])
{
    uint8_t nib[64];
    for (int i = 0; i < 32; i++) {
        nib[2 * i] = key[i] >> 4;
        nib[2 * i + 1] = key[i] & 0x0f;
    }
    return mpt_path_key(NULL, 0, nib, depth, out);
}

START_TEST(corrupt_nodes_named)
{
    struct test_store store;
    struct mpt_store api;
    struct map ref;
    build_random(&store, &api, &ref, 300, 77);
    const struct map_entry *victim = NULL;
    uint64_t rng = 3;
    victim = random_live(&ref, &rng);
    /* 300 uniform keys: branches at depth 0 and 1 on every path, so depth 1 holds a stored branch. */
    uint8_t key[MPT_STORE_KEY_MAX];
    size_t key_len = path_store_key(victim->key, 1, key);
    struct map_entry *node = map_find(&store.map, key, key_len);
    ck_assert_ptr_nonnull(node);
    char hex[2 * MPT_STORE_KEY_MAX + 3];
    hex_encode(key, key_len, hex, sizeof hex);

    struct mpt *m = mpt_new();
    struct cohort_error err;
    uint8_t root[32], newval = 0x42;
    const uint8_t *v;
    size_t vlen;
    struct mpt_change c = {.value = &newval, .value_len = 1};
    memcpy(c.key, victim->key, 32);

    /* A flipped byte: the node no longer matches its parent's hash. */
    node->value[node->value_len / 2] ^= 0x01;
    ck_assert_int_eq(mpt_update(m, &api, NULL, 0, &c, 1, root, &err), STATE_E_INVALID);
    ck_assert_msg(strstr(err.message, hex) != NULL, "message names the key: %s", err.message);
    ck_assert_ptr_nonnull(strstr(err.message, "does not match"));
    ck_assert_int_eq(mpt_get(m, &api, NULL, 0, victim->key, &v, &vlen, &err), STATE_E_INVALID);
    ck_assert_msg(strstr(err.message, hex) != NULL, "mpt_get names the key: %s", err.message);
    node->value[node->value_len / 2] ^= 0x01;
    ck_assert_int_eq(mpt_get(m, &api, NULL, 0, victim->key, &v, &vlen, &err), 1);

    /* A missing node. */
    uint8_t *saved = malloc(node->value_len);
    size_t saved_len = node->value_len;
    memcpy(saved, node->value, saved_len);
    map_del(&store.map, key, key_len);
    ck_assert_int_eq(mpt_update(m, &api, NULL, 0, &c, 1, root, &err), STATE_E_INVALID);
    ck_assert_msg(strstr(err.message, hex) != NULL && strstr(err.message, "missing") != NULL, "%s", err.message);
    map_put(&store.map, key, key_len, saved, saved_len);
    free(saved);

    /* The root (no parent hash to check) replaced by malformed RLP, and by a wrong shape. */
    uint8_t root_key[1] = {0};
    struct map_entry *root_node = map_find(&store.map, root_key, 1);
    ck_assert_ptr_nonnull(root_node);
    saved_len = root_node->value_len;
    saved = malloc(saved_len);
    memcpy(saved, root_node->value, saved_len);
    const uint8_t garbage[][8] = {{0xc3, 0x01, 0x02}, {0x83, 0x01, 0x02, 0x03}, {0xc2, 0x20, 0x01}};
    const size_t garbage_len[] = {3, 4, 3};
    for (int i = 0; i < 3; i++) {
        map_put(&store.map, root_key, 1, garbage[i], garbage_len[i]);
        ck_assert_int_eq(mpt_update(m, &api, NULL, 0, &c, 1, root, &err), STATE_E_INVALID);
        ck_assert_msg(strstr(err.message, "store key 0x00:") != NULL, "%s", err.message);
        ck_assert_int_eq(mpt_get(m, &api, NULL, 0, victim->key, &v, &vlen, &err), STATE_E_INVALID);
    }
    map_put(&store.map, root_key, 1, saved, saved_len);
    free(saved);
    ck_assert_int_eq(mpt_update(m, &api, NULL, 0, &c, 1, root, &err), 0);

    mpt_free(m);
    map_free(&ref);
    map_free(&store.map);
}
END_TEST

/* Hex to bytes for hand-written nodes ("" is empty). */
static size_t unhex(const char *text, uint8_t *out, size_t cap)
{
    char prefixed[512];
    snprintf(prefixed, sizeof prefixed, "0x%s", text);
    size_t n = 0;
    struct cohort_error err;
    ck_assert_msg(hex_decode(prefixed, out, cap, &n, &err) == 0, "%s", err.message);
    return n;
}

START_TEST(malformed_nodes_refused)
{
    /*
     * Hand-made root nodes that break one rule each. The root has no parent hash, so the
     * decoder's own checks are all that stand between them and a wrong root: each must be
     * refused as STATE_E_INVALID naming the root's store key and the rule.
     */
    static const struct {
        const char *hex;
        const char *why;
    } cases[] = {
        {"c28100", "malformed item"},                              /* 81 00: non-canonical */
        {"d2808080808080808080808080808080808080", "more than 17"}, /* 18 items */
        {"d180808080808080808080808080808080" "01", "branch with a value"},
        {"d18080808080808080808080808080808080", "fewer than two children"},
        {"c3808080", "neither 2 nor 17"},
        {"c2c001", "not a hex-prefix string"},
        {"c24101", "bad hex-prefix flag"},
        {"c20101", "bad hex-prefix flag"},                         /* even, pad nibble 1 */
        {"c22001", "does not end at the 64th nibble"},
        {"e3a120000000000000000000000000000000000000000000000000000000000000000080",
         "leaf value that is not"},
        {"c482001280", "extension without a child"},
        {"c9820012850102030405", "neither empty, a 32-byte hash"},
        {"e5820012e1a00000000000000000000000000000000000000000000000000000000000000000",
         "32 bytes or more"},
        {"e3a100000000000000000000000000000000000000000000000000000000000000000080",
         "extension of no nibbles, or reaching"},
        {"8401020304", "RLP string, not a list"},
        {"c401020304", "neither 2 nor 17"},
        {"f8", "not one RLP item"},
    };
    struct mpt *m = mpt_new();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct test_store store;
        struct mpt_store api;
        store_init(&store, &api);
        uint8_t node[128], root_key[1] = {0}, root[32], value = 1;
        size_t len = unhex(cases[i].hex, node, sizeof node);
        map_put(&store.map, root_key, 1, node, len);
        struct cohort_error err;
        struct mpt_change c = {.key = {0x12}, .value = &value, .value_len = 1};
        int rc = mpt_update(m, &api, NULL, 0, &c, 1, root, &err);
        ck_assert_msg(rc == STATE_E_INVALID, "case %zu (%s): rc %d", i, cases[i].hex, rc);
        ck_assert_msg(strstr(err.message, "store key 0x00:") != NULL && strstr(err.message, cases[i].why) != NULL,
                      "case %zu: %s", i, err.message);
        const uint8_t *v;
        size_t vlen;
        ck_assert_int_eq(mpt_get(m, &api, NULL, 0, c.key, &v, &vlen, &err), STATE_E_INVALID);
        ck_assert_uint_eq(store.puts + store.dels, 0);
        map_free(&store.map);
    }

    /* A node over the size cap, and an extension whose hashed child is a leaf. */
    struct test_store store;
    struct mpt_store api;
    store_init(&store, &api);
    static uint8_t huge[MPT_NODE_MAX + 1];
    uint8_t root_key[1] = {0}, root[32], value = 1;
    map_put(&store.map, root_key, 1, huge, sizeof huge);
    struct cohort_error err;
    struct mpt_change c = {.key = {0x12}, .value = &value, .value_len = 1};
    ck_assert_int_eq(mpt_update(m, &api, NULL, 0, &c, 1, root, &err), STATE_E_INVALID);
    ck_assert_msg(strstr(err.message, "over the") != NULL, "%s", err.message);
    /* leaf at path 1,2: 62 nibbles (hex-prefix 0x20 + 31 bytes) and a 40-byte value */
    uint8_t leaf[128], ext[64];
    size_t leaf_len = 0;
    leaf[leaf_len++] = 0xf8;
    leaf[leaf_len++] = 32 + 1 + 40 + 1;
    leaf[leaf_len++] = 0xa0;
    leaf[leaf_len++] = 0x20;
    memset(leaf + leaf_len, 0, 31);
    leaf_len += 31;
    leaf[leaf_len++] = 0xa8;
    memset(leaf + leaf_len, 0x77, 40);
    leaf_len += 40;
    size_t ext_len = unhex("e4820012a0", ext, sizeof ext);
    keccak256(leaf, leaf_len, ext + ext_len);
    ext_len += 32;
    map_put(&store.map, root_key, 1, ext, ext_len);
    uint8_t leaf_key[2] = {2, 0x12};
    map_put(&store.map, leaf_key, 2, leaf, leaf_len);
    ck_assert_int_eq(mpt_update(m, &api, NULL, 0, &c, 1, root, &err), STATE_E_INVALID);
    ck_assert_msg(strstr(err.message, "store key 0x0212 is the child of an extension but not a branch") != NULL, "%s",
                  err.message);
    const uint8_t *v;
    size_t vlen;
    ck_assert_int_eq(mpt_get(m, &api, NULL, 0, c.key, &v, &vlen, &err), STATE_E_INVALID);
    ck_assert_msg(strstr(err.message, "not a branch") != NULL, "%s", err.message);
    map_free(&store.map);
    mpt_free(m);
}
END_TEST

START_TEST(store_failure_passed_up)
{
    /*
     * A batch of inserts, updates and deletes against a copy of a 300-key store whose
     * N-th call fails, for every N until the update needs no more calls: each failure comes
     * back with the store's own code and message.
     */
    struct test_store base;
    struct mpt_store base_api;
    struct map ref;
    build_random(&base, &base_api, &ref, 300, 99);
    struct batch b;
    batch_init(&b, 40);
    uint64_t rng = 8;
    uint8_t value[64];
    memset(value, 0x5a, sizeof value);
    for (int i = 0; i < 10; i++) batch_add(&b, random_live(&ref, &rng)->key, NULL, 0);
    for (int i = 0; i < 10; i++) batch_add(&b, random_live(&ref, &rng)->key, value, 40);
    for (int i = 0; i < 10; i++) {
        uint8_t key[32];
        testutil_rand_bytes(&rng, key, 32);
        batch_add(&b, key, value, 50);
    }
    struct mpt *m = mpt_new();
    struct cohort_error err;
    uint8_t root[32];
    long calls = 0;
    for (long n = 0;; n++) {
        struct test_store s;
        struct mpt_store api;
        store_copy(&s, &api, &base);
        s.fail_after = n;
        int rc = mpt_update(m, &api, NULL, 0, b.changes, b.count, root, &err);
        map_free(&s.map);
        if (rc == 0) {
            calls = n;
            break;
        }
        ck_assert_int_eq(rc, TEST_STORE_FAIL_CODE);
        ck_assert_str_eq(err.message, "test store: disk on fire");
        ck_assert_str_eq(err.domain, "test");
    }
    /* Reads, writes and deletes were all interrupted at some point. */
    ck_assert_int_gt(calls, 60);
    struct map copy = {0};
    for (size_t i = 0; i < ref.cap; i++)
        if (ref.slots[i].state == 1) map_put(&copy, ref.slots[i].key, 32, ref.slots[i].value, ref.slots[i].value_len);
    batch_apply_reference(&b, &copy);
    uint8_t want[32];
    reference_root(&copy, want);
    ck_assert_mem_eq(root, want, 32);
    map_free(&copy);
    batch_free(&b);
    mpt_free(m);
    map_free(&ref);
    map_free(&base.map);
}
END_TEST

START_TEST(cache_survives_aborted_updates)
{
    /*
     * The chain node runs each update in a store transaction and aborts it on failure, while
     * the mpt (and its cache) lives on. Here the store is put back to its state before an
     * update (an abort) after the cache has seen that update's nodes; the next updates must
     * still give the reference root and leave exactly the nodes a fresh build has.
     */
    struct test_store store;
    struct mpt_store api;
    struct map ref;
    build_random(&store, &api, &ref, 2000, 31);
    struct mpt *m = mpt_new();
    struct cohort_error err;
    ck_assert_int_eq(mpt_set_cache_bytes(m, 8 << 20, &err), 0);
    struct gen g = {.rng = 4, .mode = KEYS_UNIFORM};
    uint8_t value[MPT_VALUE_MAX], root[32], want[32];
    for (int round = 0; round < 30; round++) {
        struct test_store before;
        struct mpt_store before_api;
        store_copy(&before, &before_api, &store);
        struct batch b;
        batch_init(&b, 200);
        for (int i = 0; i < 200; i++) {
            uint64_t op = testutil_rand_next(&g.rng) % 3;
            uint8_t key[32];
            if (op == 0) {
                gen_key(&g, key);
                batch_add(&b, key, value, gen_value(&g, value));
            } else if (op == 1) {
                batch_add(&b, random_live(&ref, &g.rng)->key, value, gen_value(&g, value));
            } else {
                batch_add(&b, random_live(&ref, &g.rng)->key, NULL, 0);
            }
        }
        update_ok(m, &api, NULL, 0, &b, root);
        if (round % 2 == 0) {
            /* Abort: the store goes back; the reference does not change. */
            map_free(&store.map);
            store = before;
            store.fail_after = -1;
            api.arg = &store;
        } else {
            batch_apply_reference(&b, &ref);
            map_free(&before.map);
        }
        ck_assert_int_eq(mpt_root(m, &api, NULL, 0, root, &err), 0);
        reference_root(&ref, want);
        ck_assert_mem_eq(root, want, 32);
        batch_free(&b);
    }
    struct test_store fresh;
    struct mpt_store fresh_api;
    store_init(&fresh, &fresh_api);
    struct batch all;
    batch_init(&all, ref.live + 1);
    for (size_t i = 0; i < ref.cap; i++)
        if (ref.slots[i].state == 1) batch_add(&all, ref.slots[i].key, ref.slots[i].value, ref.slots[i].value_len);
    struct mpt *plain = mpt_new();
    update_ok(plain, &fresh_api, NULL, 0, &all, root);
    assert_stores_equal(&store, &fresh);
    batch_free(&all);
    mpt_free(plain);
    map_free(&fresh.map);
    mpt_free(m);
    map_free(&ref);
    map_free(&store.map);
}
END_TEST

START_TEST(namespaces_apart)
{
    /* Two storage tries in one store: emptying one leaves the other's nodes and root alone. */
    struct test_store store;
    struct mpt_store api;
    store_init(&store, &api);
    struct mpt *m = mpt_new();
    uint8_t ns_a[32], ns_b[32];
    memset(ns_a, 0xa0, 32);
    memset(ns_b, 0xa0, 32);
    ns_b[31] = 0xa1;
    struct batch b;
    batch_init(&b, 100);
    uint64_t rng = 21;
    while (b.count < 100) {
        uint8_t key[32], value[3] = {1, 2, 3};
        testutil_rand_bytes(&rng, key, 32);
        batch_add(&b, key, value, 3);
    }
    uint8_t root_a[32], root_b[32], root[32];
    update_ok(m, &api, ns_a, 32, &b, root_a);
    update_ok(m, &api, ns_b, 32, &b, root_b);
    ck_assert_mem_eq(root_a, root_b, 32);
    size_t in_b = store_count_prefix(&store, ns_b, 32);
    ck_assert_uint_gt(in_b, 0);
    ck_assert_uint_eq(store_count_prefix(&store, ns_a, 32), in_b);
    for (size_t i = 0; i < b.count; i++) b.changes[i].value_len = 0;
    update_ok(m, &api, ns_a, 32, &b, root);
    ck_assert_mem_eq(root, trie_empty_root, 32);
    ck_assert_uint_eq(store_count_prefix(&store, ns_a, 32), 0);
    ck_assert_uint_eq(store_count_prefix(&store, ns_b, 32), in_b);
    struct cohort_error err;
    ck_assert_int_eq(mpt_root(m, &api, ns_b, 32, root, &err), 0);
    ck_assert_mem_eq(root, root_b, 32);
    batch_free(&b);
    mpt_free(m);
    map_free(&store.map);
}
END_TEST

/* ---- TrieTests through mpt_update ---- */

static size_t fixture_bytes(const char *s, uint8_t *out, size_t cap)
{
    size_t len = strlen(s);
    if (len >= 2 && s[0] == '0' && s[1] == 'x') {
        size_t n = 0;
        struct cohort_error err;
        ck_assert_msg(hex_decode(s, out, cap, &n, &err) == 0, "%s", err.message);
        return n;
    }
    ck_assert_uint_le(len, cap);
    memcpy(out, s, len);
    return len;
}

/* Deletes every key of pairs through m: the root is empty and so is the store. */
static void delete_all(struct mpt *m, const struct mpt_store *api, struct test_store *store, const struct map *pairs)
{
    struct batch b;
    batch_init(&b, pairs->live + 1);
    for (size_t i = 0; i < pairs->cap; i++)
        if (pairs->slots[i].state == 1) batch_add(&b, pairs->slots[i].key, NULL, 0);
    uint8_t root[32];
    update_ok(m, api, NULL, 0, &b, root);
    ck_assert_mem_eq(root, trie_empty_root, 32);
    ck_assert_uint_eq(store->map.live, 0);
    batch_free(&b);
}

/*
 * Runs a secure TrieTests file three ways: the pairs in the fixture's order, one
 * mpt_update each (a null value deletes); the final set in one batch; the final set one
 * pair per update, in the opposite order. Each must give the fixture's root, and deleting
 * every key must leave the store empty.
 */
static int run_secure_file(const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/ethereum-tests/TrieTests/%s", testutil_fixtures_dir(), name);
    cJSON *doc = testutil_read_json(path);
    int ran = 0;
    const cJSON *tc;
    cJSON_ArrayForEach(tc, doc)
    {
        const cJSON *in = cJSON_GetObjectItem(tc, "in");
        uint8_t want[32], root[32];
        struct cohort_error err;
        ck_assert_int_eq(hex_decode_exact(cJSON_GetObjectItem(tc, "root")->valuestring, want, 32, &err), 0);
        size_t n = (size_t)cJSON_GetArraySize(in);
        struct batch ops; /* the fixture's pairs in order, keys hashed */
        batch_init(&ops, n + 1);
        struct map pairs = {0}; /* the final set */
        const cJSON *item;
        cJSON_ArrayForEach(item, in)
        {
            const char *k = cJSON_IsArray(in) ? cJSON_GetArrayItem(item, 0)->valuestring : item->string;
            const cJSON *vj = cJSON_IsArray(in) ? cJSON_GetArrayItem(item, 1) : item;
            uint8_t raw[256], value[MPT_VALUE_MAX], key[32];
            size_t raw_len = fixture_bytes(k, raw, sizeof raw);
            size_t value_len = cJSON_IsNull(vj) ? 0 : fixture_bytes(vj->valuestring, value, sizeof value);
            keccak256(raw, raw_len, key);
            /* batch_add refuses a key twice: keep every op by clearing the duplicate check. */
            ck_assert_uint_lt(ops.count, ops.cap);
            memcpy(ops.changes[ops.count].key, key, 32);
            memcpy(ops.values[ops.count], value, value_len);
            ops.changes[ops.count].value = ops.values[ops.count];
            ops.changes[ops.count].value_len = value_len;
            ops.count++;
            if (value_len)
                map_put(&pairs, key, 32, value, value_len);
            else
                map_del(&pairs, key, 32);
        }
        char got[67], wanted[67];
        hex_encode(want, 32, wanted, sizeof wanted);
        for (int way = 0; way < 3; way++) {
            struct test_store store;
            struct mpt_store api;
            store_init(&store, &api);
            struct mpt *m = mpt_new();
            struct batch b;
            batch_init(&b, n + 1);
            memcpy(root, trie_empty_root, 32);
            if (way == 0) {
                for (size_t i = 0; i < ops.count; i++) {
                    b.count = 0;
                    batch_add(&b, ops.changes[i].key, ops.changes[i].value, ops.changes[i].value_len);
                    update_ok(m, &api, NULL, 0, &b, root);
                }
            } else {
                for (size_t i = 0; i < pairs.cap; i++) {
                    size_t at = way == 1 ? i : pairs.cap - 1 - i;
                    const struct map_entry *e = &pairs.slots[at];
                    if (e->state != 1) continue;
                    if (way == 2) b.count = 0;
                    batch_add(&b, e->key, e->value, e->value_len);
                    if (way == 2) update_ok(m, &api, NULL, 0, &b, root);
                }
                if (way == 1) update_ok(m, &api, NULL, 0, &b, root);
            }
            hex_encode(root, 32, got, sizeof got);
            ck_assert_msg(memcmp(root, want, 32) == 0, "%s %s way %d: root %s, want %s", name, tc->string, way, got,
                          wanted);
            delete_all(m, &api, &store, &pairs);
            batch_free(&b);
            mpt_free(m);
            map_free(&store.map);
        }
        map_free(&pairs);
        batch_free(&ops);
        ran++;
    }
    cJSON_Delete(doc);
    return ran;
}

START_TEST(trie_tests_fixtures)
{
    int ran = 0;
    ran += run_secure_file("trietest_secureTrie.json");
    ran += run_secure_file("trieanyorder_secureTrie.json");
    ran += run_secure_file("hex_encoded_securetrie_test.json");
    ck_assert_int_eq(ran, 3 + 7 + 3);
}
END_TEST

static Suite *mpt_suite(void)
{
    Suite *s = suite_create("mpt");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, empty_trie);
    tcase_add_test(tc, path_key_layout);
    tcase_add_test(tc, collapses);
    tcase_add_test(tc, inline_nodes);
    tcase_add_test(tc, values_at_the_cap);
    tcase_add_test(tc, bad_arguments);
    tcase_add_test(tc, corrupt_nodes_named);
    tcase_add_test(tc, malformed_nodes_refused);
    tcase_add_test(tc, store_failure_passed_up);
    tcase_add_test(tc, namespaces_apart);
    tcase_add_test(tc, cache_survives_aborted_updates);
    tcase_add_test(tc, trie_tests_fixtures);
    tcase_add_test(tc, differential_single_changes);
    tcase_add_test(tc, differential_small_seeds);
    tcase_add_test(tc, differential_large);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return testutil_run_suite(mpt_suite(), false);
}
