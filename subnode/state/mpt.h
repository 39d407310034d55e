/*
 * mpt.h - an incremental Merkle Patricia trie whose nodes live in a key-value store (LMDB
 * in the chain node, memory in tests), so a block that changes k keys of an n-key trie
 * re-hashes only the O(k log n) nodes on the changed paths instead of all n pairs
 * (trie.h builds a root from all pairs at once; this keeps the trie between blocks).
 *
 * Node storage is keyed by path (as geth's path scheme): a node's store key is the
 * namespace the caller gives (empty for the account trie, the 32-byte keccak of the
 * address for a storage trie) followed by the node's nibble path from the root
 * (mpt_path_key gives the exact layout). The chain node keeps the account trie and the
 * storage tries in two separate LMDB databases: an account-trie key (empty namespace) can
 * be as long as a storage-trie key and start with the same bytes, so in one key space
 * the two namespaces could collide, and delete_prefix over the empty namespace would
 * remove everything. Within one database every namespace has the same length, so no
 * key of one is a prefix of another's. Only the latest version of each node is kept;
 * history (reads at older blocks) is the store's business, not the trie's. The value stored
 * is the node's RLP as the root hash covers it, with children of 32 bytes or more referred
 * to by hash, so re-hashing a path needs only the nodes on it.
 *
 * Keys given to the trie are the already-hashed 32-byte keys of a secure trie; values are
 * the leaf values (an account's RLP, a slot's RLP-encoded value). An empty value deletes.
 *
 * Determinism: the root depends only on the set of pairs, never on the order or the
 * batching of updates (tests check this against trie_root).
 */
#ifndef COHORT_STATE_MPT_H
#define COHORT_STATE_MPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "subnode/state/trie.h"

#define MPT_NAMESPACE_MAX 32u
#define MPT_KEY_BYTES 32u
/* The longest store key: namespace, one length byte, 64 nibbles packed in 32 bytes. */
#define MPT_STORE_KEY_MAX (MPT_NAMESPACE_MAX + 1u + 32u)
/* The largest leaf value (an account's RLP is about 110 bytes, a slot's at most 33). */
#define MPT_VALUE_MAX 4096u
/*
 * The largest node RLP: a leaf with the largest value (3-byte list header, 34-byte path,
 * 3-byte value header); a branch of 16 hashes is 532 bytes. A stored node past this is
 * refused as corrupt.
 */
#define MPT_NODE_MAX (MPT_VALUE_MAX + 64u)

/*
 * The store the trie reads and writes its nodes through. Each function returns 0 (or, for
 * get, 1 = found and 0 = absent) or a negative code with err filled; the trie passes the
 * failure up unchanged. get's *value stays valid until the next call on the store. put
 * copies the value (the trie reuses its buffer). del of an absent key returns 0.
 * delete_prefix removes every key that starts with prefix (a whole storage trie when an
 * account is deleted); the trie itself never calls it.
 *
 * Every stored node the trie reads is checked against the hash its parent holds (the root
 * has no parent: it is taken as it is), so a stale or corrupt store gives STATE_E_INVALID,
 * never a wrong root.
 */
struct mpt_store {
    int (*get)(void *arg, const uint8_t *key, size_t key_len, const uint8_t **value, size_t *value_len,
               struct cohort_error *err);
    int (*put)(void *arg, const uint8_t *key, size_t key_len, const uint8_t *value, size_t value_len,
               struct cohort_error *err);
    int (*del)(void *arg, const uint8_t *key, size_t key_len, struct cohort_error *err);
    int (*delete_prefix)(void *arg, const uint8_t *prefix, size_t prefix_len, struct cohort_error *err);
    void *arg;
};

/* One change: a hashed key and its new value (value_len 0 deletes the key). */
struct mpt_change {
    uint8_t key[MPT_KEY_BYTES];
    const uint8_t *value; /* owned by the caller; read during mpt_update only */
    size_t value_len;     /* <= MPT_VALUE_MAX */
};

/*
 * Reusable working memory for updates (node buffers, the path stack) and an optional node
 * cache. Not thread-safe: one per thread that updates or reads tries.
 */
struct mpt;

/* Allocates working memory without a cache; NULL when out of memory. Free with mpt_free. */
struct mpt *mpt_new(void);
void mpt_free(struct mpt *m);

/*
 * Keeps up to cache_bytes of nodes m has read or written (their RLP, by store key and
 * hash) between calls, so the top levels of a large trie, which every block reads back
 * and rewrites, are neither read from the store nor hashed again to be checked. A cached
 * node is used only where its parent holds its very hash, so the cache cannot go stale: an
 * aborted store transaction or another writer can only make it miss. Nodes nearer the root
 * are kept in preference. 0 turns the cache off (as mpt_new leaves it). Replaces any
 * earlier cache. Returns 0 or STATE_E_NOMEM.
 */
int mpt_set_cache_bytes(struct mpt *m, size_t cache_bytes, struct cohort_error *err);

/*
 * Applies changes (sorted here in place; a key may appear once) to the trie stored under
 * namespace ns (ns_len <= MPT_NAMESPACE_MAX) in store, writes the changed nodes back,
 * deletes the nodes that no longer exist, and gives the new root hash (trie_empty_root
 * when the trie becomes empty). Returns 0, STATE_E_INVALID (a duplicate key, a corrupt
 * node read from the store: the message names its store key), STATE_E_RANGE, STATE_E_NOMEM,
 * or the store's own code. On failure the store may hold part of the update: the caller
 * runs updates inside a store transaction and aborts it.
 */
int mpt_update(struct mpt *m, const struct mpt_store *store, const uint8_t *ns, size_t ns_len,
               struct mpt_change *changes, size_t count, uint8_t root[32], struct cohort_error *err);

/* The current root of the trie under ns (trie_empty_root when it holds nothing). */
int mpt_root(struct mpt *m, const struct mpt_store *store, const uint8_t *ns, size_t ns_len, uint8_t root[32],
             struct cohort_error *err);

/*
 * Reads the value at a hashed key: returns 1 and sets *value and *value_len (valid until the
 * next store call), 0 when absent, or a negative code.
 */
int mpt_get(struct mpt *m, const struct mpt_store *store, const uint8_t *ns, size_t ns_len,
            const uint8_t key[MPT_KEY_BYTES], const uint8_t **value, size_t *value_len, struct cohort_error *err);

/*
 * Writes the store key of the node at nibble path (path_len nibbles, one per byte, 0..15)
 * under ns into out (MPT_STORE_KEY_MAX bytes): ns, then path_len as one byte, then the
 * nibbles packed two per byte, high first. Returns its length. Exposed for the store's
 * tools and tests.
 */
size_t mpt_path_key(const uint8_t *ns, size_t ns_len, const uint8_t *path, size_t path_len,
                    uint8_t out[MPT_STORE_KEY_MAX]);

#endif
