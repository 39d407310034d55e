/* test_trie.c - Merkle Patricia trie roots against ethereum/tests TrieTests. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hex.h"
#include "common/keccak.h"
#include "subnode/state/trie.h"
#include "testutil.h"

#define MAX_PAIRS 256
#define MAX_BYTES 256

/* A key/value map applied in the fixture's order: last write wins, an empty value deletes. */
struct pair_map {
    size_t count;
    uint8_t keys[MAX_PAIRS][MAX_BYTES];
    size_t key_lens[MAX_PAIRS];
    uint8_t values[MAX_PAIRS][MAX_BYTES];
    size_t value_lens[MAX_PAIRS];
};

/* Fixture strings: "0x..." is hex, anything else is the raw bytes; null is empty. */
static size_t fixture_bytes(const cJSON *item, uint8_t out[MAX_BYTES])
{
    if (item == NULL || cJSON_IsNull(item)) return 0;
    ck_assert(cJSON_IsString(item));
    const char *s = item->valuestring;
    size_t len = strlen(s);
    if (len >= 2 && s[0] == '0' && s[1] == 'x') {
        size_t n = 0;
        struct cohort_error err;
        ck_assert_msg(hex_decode(s, out, MAX_BYTES, &n, &err) == 0, "%s", err.message);
        return n;
    }
    ck_assert_uint_le(len, MAX_BYTES);
    memcpy(out, s, len);
    return len;
}

static void map_put(struct pair_map *m, const uint8_t *key, size_t key_len, const uint8_t *value, size_t value_len)
{
    size_t i = 0;
    while (i < m->count && !(m->key_lens[i] == key_len && memcmp(m->keys[i], key, key_len) == 0)) i++;
    if (i == m->count) {
        ck_assert_uint_lt(m->count, MAX_PAIRS);
        m->count++;
        memcpy(m->keys[i], key, key_len);
        m->key_lens[i] = key_len;
    }
    memcpy(m->values[i], value, value_len);
    m->value_lens[i] = value_len;
}

static void map_add_json(struct pair_map *m, const cJSON *key_item, const cJSON *value_item, int secure)
{
    uint8_t key[MAX_BYTES], value[MAX_BYTES];
    size_t key_len = fixture_bytes(key_item, key);
    size_t value_len = fixture_bytes(value_item, value);
    if (secure) {
        uint8_t hashed[32];
        keccak256(key, key_len, hashed);
        memcpy(key, hashed, 32);
        key_len = 32;
    }
    map_put(m, key, key_len, value, value_len);
}

static void map_root(struct pair_map *m, uint8_t root[32])
{
    struct trie_entry entries[MAX_PAIRS];
    for (size_t i = 0; i < m->count; i++)
        entries[i] = (struct trie_entry){m->keys[i], m->key_lens[i], m->values[i], m->value_lens[i]};
    struct cohort_error err;
    ck_assert_msg(trie_root(entries, m->count, root, &err) == 0, "%s", err.message);
}

/* Runs every case of one TrieTests file; returns how many ran. */
static int run_root_file(const char *name, int secure)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/ethereum-tests/TrieTests/%s", testutil_fixtures_dir(), name);
    cJSON *doc = testutil_read_json(path);
    int ran = 0;
    const cJSON *tc;
    cJSON_ArrayForEach(tc, doc)
    {
        static struct pair_map m;
        memset(&m, 0, sizeof m);
        const cJSON *in = cJSON_GetObjectItem(tc, "in");
        const cJSON *item;
        if (cJSON_IsArray(in)) {
            cJSON_ArrayForEach(item, in)
            {
                ck_assert_int_eq(cJSON_GetArraySize(item), 2);
                map_add_json(&m, cJSON_GetArrayItem(item, 0), cJSON_GetArrayItem(item, 1), secure);
            }
        } else {
            ck_assert(cJSON_IsObject(in));
            cJSON_ArrayForEach(item, in)
            {
                cJSON key = {0};
                key.type = cJSON_String;
                key.valuestring = item->string;
                map_add_json(&m, &key, item, secure);
            }
        }
        uint8_t root[32];
        char got[67];
        map_root(&m, root);
        hex_encode(root, 32, got, sizeof got);
        const char *want = cJSON_GetObjectItem(tc, "root")->valuestring;
        ck_assert_msg(strcmp(got, want) == 0, "%s %s: root %s, want %s", name, tc->string, got, want);
        ran++;
    }
    cJSON_Delete(doc);
    return ran;
}

START_TEST(trie_tests_roots)
{
    int ran = 0;
    ran += run_root_file("trietest.json", 0);
    ran += run_root_file("trieanyorder.json", 0);
    ran += run_root_file("trietest_secureTrie.json", 1);
    ran += run_root_file("trieanyorder_secureTrie.json", 1);
    ran += run_root_file("hex_encoded_securetrie_test.json", 1);
    /* 5 + 7 + 3 + 7 + 3 cases in the fixture files. */
    ck_assert_int_eq(ran, 25);
}
END_TEST

/* trietestnextprev.json: for each probe key, the previous and next key in trie order. */
START_TEST(trie_tests_next_prev)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/ethereum-tests/TrieTests/trietestnextprev.json", testutil_fixtures_dir());
    cJSON *doc = testutil_read_json(path);
    int ran = 0;
    const cJSON *tc;
    cJSON_ArrayForEach(tc, doc)
    {
        const cJSON *in = cJSON_GetObjectItem(tc, "in");
        struct trie_entry entries[MAX_PAIRS];
        size_t n = 0;
        const cJSON *item;
        cJSON_ArrayForEach(item, in)
        {
            ck_assert_uint_lt(n, MAX_PAIRS);
            entries[n++] = (struct trie_entry){(const uint8_t *)item->valuestring, strlen(item->valuestring),
                                               (const uint8_t *)"x", 1};
        }
        trie_sort(entries, n);
        const cJSON *probe;
        cJSON_ArrayForEach(probe, cJSON_GetObjectItem(tc, "tests"))
        {
            const char *key = cJSON_GetArrayItem(probe, 0)->valuestring;
            const char *want_prev = cJSON_GetArrayItem(probe, 1)->valuestring;
            const char *want_next = cJSON_GetArrayItem(probe, 2)->valuestring;
            size_t key_len = strlen(key);
            size_t at = trie_lower_bound(entries, n, (const uint8_t *)key, key_len);
            /* prev: the last key strictly before; next: the first key strictly after. */
            char prev[MAX_BYTES + 1] = "", next[MAX_BYTES + 1] = "";
            if (at > 0) snprintf(prev, sizeof prev, "%.*s", (int)entries[at - 1].key_len, (const char *)entries[at - 1].key);
            size_t after = at;
            if (after < n && trie_key_compare(entries[after].key, entries[after].key_len, (const uint8_t *)key, key_len) == 0)
                after++;
            if (after < n) snprintf(next, sizeof next, "%.*s", (int)entries[after].key_len, (const char *)entries[after].key);
            ck_assert_msg(strcmp(prev, want_prev) == 0, "prev of %s: %s, want %s", key, prev, want_prev);
            ck_assert_msg(strcmp(next, want_next) == 0, "next of %s: %s, want %s", key, next, want_next);
            ran++;
        }
    }
    cJSON_Delete(doc);
    ck_assert_int_eq(ran, 12);
}
END_TEST

START_TEST(empty_trie_root)
{
    uint8_t root[32], want[32];
    uint8_t rlp_empty = 0x80;
    keccak256(&rlp_empty, 1, want);
    struct cohort_error err;
    ck_assert_int_eq(trie_root(NULL, 0, root, &err), 0);
    ck_assert_mem_eq(root, want, 32);
    ck_assert_mem_eq(trie_empty_root, want, 32);
    /* Only empty values: also the empty trie. */
    struct trie_entry e = {(const uint8_t *)"k", 1, (const uint8_t *)"", 0};
    ck_assert_int_eq(trie_root(&e, 1, root, &err), 0);
    ck_assert_mem_eq(root, want, 32);
}
END_TEST

START_TEST(bad_inputs_refused)
{
    uint8_t root[32];
    struct cohort_error err;
    struct trie_entry dup[2] = {{(const uint8_t *)"ab", 2, (const uint8_t *)"1", 1},
                                {(const uint8_t *)"ab", 2, (const uint8_t *)"2", 1}};
    ck_assert_int_eq(trie_root(dup, 2, root, &err), STATE_E_INVALID);
    uint8_t long_key[TRIE_KEY_MAX + 1] = {0};
    struct trie_entry big = {long_key, sizeof long_key, (const uint8_t *)"v", 1};
    ck_assert_int_eq(trie_root(&big, 1, root, &err), STATE_E_RANGE);
}
END_TEST

/* The root depends on the set, not the order the pairs are given in; many random sets. */
START_TEST(order_independent_and_sensitive)
{
    uint64_t rng = 7;
    static uint8_t keys[200][32], values[200][40];
    struct trie_entry a[200], b[200];
    struct trie_builder *builder = trie_builder_new();
    ck_assert_ptr_nonnull(builder);
    for (int round = 0; round < 50; round++) {
        size_t n = 1 + testutil_rand_next(&rng) % 200;
        for (size_t i = 0; i < n; i++) {
            testutil_rand_bytes(&rng, keys[i], 32);
            keys[i][0] = (uint8_t)(keys[i][0] & 0x11); /* shared prefixes make extensions */
            size_t vl = 1 + testutil_rand_next(&rng) % 40;
            testutil_rand_bytes(&rng, values[i], vl);
            a[i] = (struct trie_entry){keys[i], 32, values[i], vl};
        }
        for (size_t i = 0; i < n; i++) b[i] = a[n - 1 - i];
        uint8_t ra[32], rb[32];
        struct cohort_error err;
        ck_assert_int_eq(trie_builder_root(builder, a, n, ra, &err), 0);
        ck_assert_int_eq(trie_builder_root(builder, b, n, rb, &err), 0);
        ck_assert_mem_eq(ra, rb, 32);
        /* Changing one value changes the root. */
        values[0][0] ^= 1;
        ck_assert_int_eq(trie_builder_root(builder, b, n, rb, &err), 0);
        ck_assert(memcmp(ra, rb, 32) != 0);
    }
    trie_builder_free(builder);
}
END_TEST

static Suite *trie_suite(void)
{
    Suite *s = suite_create("trie");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, trie_tests_roots);
    tcase_add_test(tc, trie_tests_next_prev);
    tcase_add_test(tc, empty_trie_root);
    tcase_add_test(tc, bad_inputs_refused);
    tcase_add_test(tc, order_independent_and_sensitive);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return testutil_run_suite(trie_suite(), false);
}
