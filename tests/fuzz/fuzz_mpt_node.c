/*
 * fuzz_mpt_node.c - libFuzzer target for the trie's node decoder (mpt.c), which reads
 * nodes back from the node store: a disk the node does not fully trust.
 *
 * The input is stored as the root node of an otherwise empty store (the root is the one
 * node with no parent hash to check, so every byte reaches the decoder; embedded children
 * nest inside it). Then mpt_root, mpt_get and mpt_update run on it. They must return
 * STATE_E_INVALID with an "mpt: " message, or succeed; when an update succeeds, the key it
 * set reads back with its value and the key it deleted reads as absent. Anything else
 * aborts, which libFuzzer reports as a crash.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/keccak.h"
#include "subnode/state/mpt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ENTRIES_MAX 512

struct entry {
    uint8_t key[MPT_STORE_KEY_MAX];
    size_t key_len;
    uint8_t value[MPT_NODE_MAX + 64];
    size_t value_len;
};

/* A tiny store: a list searched from the start. */
struct fuzz_store {
    struct entry *entries;
    size_t count;
};

static struct entry *find(struct fuzz_store *s, const uint8_t *key, size_t key_len)
{
    for (size_t i = 0; i < s->count; i++)
        if (s->entries[i].key_len == key_len && memcmp(s->entries[i].key, key, key_len) == 0) return &s->entries[i];
    return NULL;
}

static int fs_get(void *arg, const uint8_t *key, size_t key_len, const uint8_t **value, size_t *value_len,
                  struct cohort_error *err)
{
    struct entry *e = find(arg, key, key_len);
    if (e == NULL) return 0;
    *value = e->value;
    *value_len = e->value_len;
    return 1;
}

static int fs_put(void *arg, const uint8_t *key, size_t key_len, const uint8_t *value, size_t value_len,
                  struct cohort_error *err)
{
    struct fuzz_store *s = arg;
    if (key_len > MPT_STORE_KEY_MAX || value_len == 0 || value_len > MPT_NODE_MAX) abort();
    struct entry *e = find(s, key, key_len);
    if (e == NULL) {
        if (s->count == ENTRIES_MAX) return cohort_error_set(err, -100, "fuzz", "fuzz store full");
        e = &s->entries[s->count++];
        memcpy(e->key, key, key_len);
        e->key_len = key_len;
    }
    memcpy(e->value, value, value_len);
    e->value_len = value_len;
    return 0;
}

static int fs_del(void *arg, const uint8_t *key, size_t key_len, struct cohort_error *err)
{
    struct fuzz_store *s = arg;
    struct entry *e = find(s, key, key_len);
    if (e != NULL) *e = s->entries[--s->count];
    return 0;
}

static int fs_delete_prefix(void *arg, const uint8_t *prefix, size_t prefix_len, struct cohort_error *err)
{
    abort(); /* the trie never calls it */
}

static void check_rc(int rc, const struct cohort_error *err, const char *what)
{
    if (rc >= 0) return;
    if (rc != STATE_E_INVALID || strncmp(err->message, "mpt: ", 5) != 0) {
        fprintf(stderr, "fuzz_mpt_node: %s: rc %d: %s\n", what, rc, err->message);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > MPT_NODE_MAX + 64) return 0;
    static struct entry entries[ENTRIES_MAX];
    struct fuzz_store s = {.entries = entries, .count = 1};
    entries[0].key[0] = 0; /* the root's store key: no namespace, path length 0 */
    entries[0].key_len = 1;
    memcpy(entries[0].value, data, size);
    entries[0].value_len = size;
    struct mpt_store api = {.get = fs_get, .put = fs_put, .del = fs_del, .delete_prefix = fs_delete_prefix, .arg = &s};

    static struct mpt *m;
    if (m == NULL) m = mpt_new();
    if (m == NULL) abort();
    struct cohort_error err = {0};
    uint8_t root[32];
    check_rc(mpt_root(m, &api, NULL, 0, root, &err), &err, "mpt_root");

    /* Keys to probe: all zeros, the input's hash, and the input's first 32 bytes. */
    uint8_t keys[3][32] = {{0}};
    keccak256(data, size, keys[1]);
    memcpy(keys[2], data, size < 32 ? size : 32);
    for (int i = 0; i < 3; i++) {
        const uint8_t *v;
        size_t vlen;
        int rc = mpt_get(m, &api, NULL, 0, keys[i], &v, &vlen, &err);
        check_rc(rc, &err, "mpt_get");
        if (rc == 1 && (vlen == 0 || vlen > MPT_VALUE_MAX)) abort();
    }

    /* Set the hash key, delete the all-zero key (when they differ). */
    uint8_t value[3] = {0xaa, 0xbb, 0xcc};
    struct mpt_change changes[2] = {{.value = value, .value_len = sizeof value}, {.value_len = 0}};
    memcpy(changes[0].key, keys[1], 32);
    memcpy(changes[1].key, keys[0], 32);
    int rc = mpt_update(m, &api, NULL, 0, changes, 2, root, &err);
    check_rc(rc, &err, "mpt_update");
    if (rc == 0) {
        const uint8_t *v;
        size_t vlen;
        rc = mpt_get(m, &api, NULL, 0, keys[1], &v, &vlen, &err);
        if (rc != 1 || vlen != sizeof value || memcmp(v, value, vlen) != 0) {
            fprintf(stderr, "fuzz_mpt_node: the key just set does not read back (rc %d %s)\n", rc, err.message);
            abort();
        }
        rc = mpt_get(m, &api, NULL, 0, keys[0], &v, &vlen, &err);
        if (rc != 0) {
            fprintf(stderr, "fuzz_mpt_node: the key just deleted reads back (rc %d %s)\n", rc, err.message);
            abort();
        }
        uint8_t again[32];
        if (mpt_root(m, &api, NULL, 0, again, &err) != 0 || memcmp(again, root, 32) != 0) abort();
    }
    return 0;
}
