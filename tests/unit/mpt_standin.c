/*
 * mpt_standin.c - stands in for subnode/state/mpt.c (the incremental trie, another
 * helper's work) until it is on this branch, so tests that need the store can link. Its
 * roots are NOT Ethereum's: a hash of the changes, good for tests that read the store
 * through the RPC and never compare a state root. tests/CMakeLists.txt adds it only while
 * mpt.c is missing.
 */
#include <stdlib.h>
#include <string.h>

#include "common/keccak.h"
#include "subnode/state/mpt.h"

struct mpt {
    uint8_t root[32];
};

struct mpt *mpt_new(void) { return calloc(1, sizeof(struct mpt)); }

void mpt_free(struct mpt *m) { free(m); }

int mpt_update(struct mpt *m, const struct mpt_store *store, const uint8_t *ns, size_t ns_len,
               struct mpt_change *changes, size_t count, uint8_t root[32], struct cohort_error *err)
{
    (void)store;
    (void)err;
    struct keccak256_ctx k;
    keccak256_init(&k);
    keccak256_update(&k, m->root, 32);
    if (ns_len) keccak256_update(&k, ns, ns_len);
    for (size_t i = 0; i < count; i++) {
        keccak256_update(&k, changes[i].key, MPT_KEY_BYTES);
        if (changes[i].value_len) keccak256_update(&k, changes[i].value, changes[i].value_len);
    }
    keccak256_final(&k, m->root);
    memcpy(root, m->root, 32);
    return 0;
}

int mpt_root(struct mpt *m, const struct mpt_store *store, const uint8_t *ns, size_t ns_len, uint8_t root[32],
             struct cohort_error *err)
{
    (void)m;
    (void)store;
    (void)ns;
    (void)ns_len;
    (void)err;
    memcpy(root, trie_empty_root, 32);
    return 0;
}
