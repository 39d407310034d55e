/*
 * trie.h - the root hash of Ethereum's Merkle Patricia trie, built from a set of key/value
 * pairs, and the error codes of the state library.
 *
 * The trie (Ethereum yellow paper, appendix D) maps byte keys, read as nibbles (4-bit
 * digits, high nibble first), to byte values. It has three kinds of node, each stored as
 * an RLP list:
 *
 *     leaf       [hex_prefix(rest of key, leaf=1), value]
 *     extension  [hex_prefix(shared nibbles, leaf=0), child]
 *     branch     [child_0, ..., child_15, value or ""]
 *
 * Hex-prefix encoding packs a nibble path and the leaf flag into bytes: the first nibble is
 * 2*leaf + (odd length), then one padding 0 nibble when the length is even, then the path:
 *
 *     flag nibble:  0 = extension, even   1 = extension, odd
 *                   2 = leaf, even        3 = leaf, odd
 *
 * A child is referenced by the keccak-256 of its RLP when that RLP is 32 bytes or more, and
 * is inlined (its RLP embedded in the parent) when shorter. The root is always hashed; the
 * root of the empty trie is keccak256(RLP("")) = keccak256(0x80).
 *
 * This module does not keep a trie in memory: consensus needs only the root, so it sorts
 * the pairs and builds the nodes bottom-up in one pass with an explicit stack (no recursion
 * on the data; the depth is bounded by TRIE_KEY_MAX). A "secure" trie (the state and
 * storage tries) is the same thing over keccak256(key); the caller hashes the keys.
 */
#ifndef COHORT_STATE_TRIE_H
#define COHORT_STATE_TRIE_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

/* Codes of the state library (trie, state, host adapter). Append only. */
enum state_status {
    STATE_OK = 0,
    STATE_E_INVALID = COHORT_ERRORS_STATE - 1,   /* malformed input: a duplicate key, a bad value */
    STATE_E_RANGE = COHORT_ERRORS_STATE - 2,     /* a key or value past its cap */
    STATE_E_NOMEM = COHORT_ERRORS_STATE - 3,     /* allocation failed */
};

/* Returns a static description of a state_status code; never NULL. */
const char *state_strerror(int code);

/* Longest key accepted, in bytes: secure tries use 32; plain tries (the tests, RLP(index)) less. */
#define TRIE_KEY_MAX 64

/* Root of the empty trie: keccak256(0x80). */
extern const uint8_t trie_empty_root[32];

/*
 * One key/value pair. The trie functions only read through the pointers and keep none of
 * them after they return. An empty value (value_len 0) means "absent": it is skipped.
 */
struct trie_entry {
    const uint8_t *key;
    size_t key_len;
    const uint8_t *value;
    size_t value_len;
};

/*
 * Sorts entries in place into trie order: bytewise, a key before every longer key it is a
 * prefix of. This is also the order of a trie walk, so it answers next/previous queries.
 */
void trie_sort(struct trie_entry *entries, size_t count);

/*
 * In entries sorted by trie_sort, the index of the first entry whose key is not less than
 * key (count when every key is less). For next/previous lookups.
 */
size_t trie_lower_bound(const struct trie_entry *entries, size_t count, const uint8_t *key, size_t key_len);

/* Compares two keys in trie order: negative, 0 or positive. */
int trie_key_compare(const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len);

/*
 * A reusable root builder: holds the node stack and a scratch buffer, so computing many
 * roots (one storage trie per account) does not allocate per root once warmed up.
 */
struct trie_builder;

/* Allocates a builder; NULL when out of memory. Free it with trie_builder_free. */
struct trie_builder *trie_builder_new(void);
void trie_builder_free(struct trie_builder *builder);

/*
 * Computes the root hash of the trie holding entries into root. Sorts entries in place
 * (trie_sort). Entries with empty values are skipped. Errors: STATE_E_RANGE (a key longer
 * than TRIE_KEY_MAX), STATE_E_INVALID (two entries with the same key and non-empty values),
 * STATE_E_NOMEM. root is written only on success.
 */
int trie_builder_root(struct trie_builder *builder, struct trie_entry *entries, size_t count, uint8_t root[32],
                      struct cohort_error *err);

/* The same with a temporary builder. */
int trie_root(struct trie_entry *entries, size_t count, uint8_t root[32], struct cohort_error *err);

#endif
