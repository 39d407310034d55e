/*
 * mpt.c - the incremental Merkle Patricia trie over a path-keyed node store (see mpt.h).
 *
 * An update works in three steps, all without recursion:
 *
 *   1. Load on demand. The nodes a change's key passes through are read from the store
 *      (or decoded from their parent, when inline) into memory, once per update; each
 *      stored node read is checked against the hash its parent holds, so a stale or
 *      corrupt store is an error and never a wrong root.
 *   2. Apply. Each change walks down from the root with an explicit stack and edits the
 *      in-memory nodes: set a leaf's value, split a leaf or an extension into a branch,
 *      or remove a leaf and collapse a branch left with one child into its neighbours.
 *      Every node on the walked path is marked dirty when the change alters something.
 *   3. Commit. A post-order walk (explicit stack) over the dirty nodes encodes each one,
 *      hashes it when its RLP is 32 bytes or more (or it is the root) and writes it at its
 *      path. Nodes that were read from the store and then changed, moved or dropped leave
 *      their path; when no node was written there, the path's key is deleted.
 *
 * Why paths do not move under an untouched node: a node's path is the nibbles of the keys
 * below it up to where it starts. Branches sit where keys diverge, so they never move;
 * a leaf or an extension moves only when the branch above it appears or disappears, and
 * then its own nibbles change, so it was loaded and is dirty. A subtree that was not read
 * keeps its path and its store keys.
 *
 * Keys are 32 bytes (64 nibbles), so no key is a prefix of another: branches never hold
 * a value, and leaves end exactly at nibble 64. The decoder refuses nodes that break this.
 */
#include "mpt.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hex.h"
#include "common/keccak.h"
#include "common/rlp.h"

#define DOMAIN "state"
#define NIBBLES (2u * MPT_KEY_BYTES)
/* Nodes on one root-to-leaf path: at most 64 branches, an extension above each, a leaf. */
#define PATH_NODES_MAX (2u * NIBBLES + 2u)
/* A path's key without its namespace: the length byte and 32 packed bytes. */
#define PATH_KEY_BYTES (1u + NIBBLES / 2u)
/* Nodes are allocated in chunks that never move, so pointers to them stay valid. */
#define POOL_CHUNK_NODES 256u
/* The byte arena is indexed by uint32_t offsets. */
#define ARENA_MAX ((size_t)UINT32_MAX)

_Static_assert(MPT_STORE_KEY_MAX == MPT_NAMESPACE_MAX + PATH_KEY_BYTES, "store key layout");
_Static_assert(MPT_NODE_MAX >= 3 + 34 + 3 + MPT_VALUE_MAX, "a leaf with the largest value fits");
_Static_assert(MPT_NODE_MAX >= 3 + 16 * 33 + 1, "a branch of 16 hashes fits");

enum node_kind { KIND_LEAF = 1, KIND_EXTENSION, KIND_BRANCH };

struct node;

/*
 * A parent's reference to a child: none (len 0), a 32-byte hash, or an inline node (its
 * RLP, under 32 bytes), held in the arena at off as the parent's RLP had it; and the child
 * itself once it is in memory (then node->ref is what counts).
 */
struct child {
    struct node *node;
    uint32_t off;
    uint8_t len;
    bool is_hash;
};

struct node {
    uint8_t kind;
    bool dirty;      /* changed in this update: re-encode, and its old path may go */
    uint8_t seg_len; /* leaf, extension: nibbles this node covers */
    uint8_t ref_len; /* the reference a parent holds: 32 (hash) or the inline RLP's length */
    bool ref_is_hash;
    uint8_t seg[NIBBLES];
    uint8_t ref[32];
    uint32_t value_off; /* leaf: the value in the arena */
    uint32_t value_len;
    struct child child[16]; /* branch: by nibble; extension: child[0] */
};

struct pool_chunk {
    struct pool_chunk *next;
    struct node nodes[POOL_CHUNK_NODES];
};

/* A path in a fixed-size form that sorts and compares with memcmp (zero padded). */
struct path_key {
    uint8_t bytes[PATH_KEY_BYTES];
};

/* A node read from the store during this update, and where it was. */
struct loaded {
    struct path_key path;
    struct node *node;
};

/* One step of a walk: the slot holding a node, the node, and the nibbles above it. */
struct step {
    struct child *slot;
    struct node *node;
    unsigned depth;
};

/* One node of the commit walk: which children have been visited. */
struct frame {
    struct node *node;
    unsigned depth;
    unsigned next;
};

/*
 * One cached node: its store key, the hash it was stored under, its RLP. Only nodes up to
 * CACHE_NODE_MAX bytes are kept: every branch (at most 532 bytes) and extension, and
 * leaves with small values (accounts); larger leaves are read from the store.
 */
#define CACHE_NODE_MAX 536u
struct cache_slot {
    uint8_t key_len;
    uint16_t rlp_len;
    uint8_t key[MPT_STORE_KEY_MAX];
    uint8_t hash[32];
    uint8_t rlp[CACHE_NODE_MAX];
};

/*
 * A slot's summary, kept apart in a small array: a lookup or an eviction reads only the
 * tags of a set (they stay in the CPU cache) and touches a slot, far away in a large
 * array, only when its tag matches.
 */
struct cache_tag {
    uint32_t check; /* bits of the store key's hash not used to pick the set */
    uint8_t depth;  /* nibbles of the node's path: the deeper node is evicted first */
    uint8_t used;
};

/* Two slots per set: a key may live in either slot of the set its key hashes to. */
#define CACHE_WAYS 2u

struct mpt {
    struct cache_slot *cache; /* cache_sets * CACHE_WAYS slots, or NULL */
    struct cache_tag *cache_tags; /* one per slot */
    size_t cache_sets;
    uint8_t *cache_turn; /* per set: which slot a tie evicts next */

    struct pool_chunk *chunks; /* every chunk allocated, reused across updates */
    struct pool_chunk *chunk;  /* the chunk being filled */
    size_t chunk_used;

    uint8_t *arena; /* node RLP read from the store, values, hashes: by offset */
    size_t arena_len, arena_cap;

    struct loaded *loaded;
    size_t loaded_len, loaded_cap;
    struct path_key *written;
    size_t written_len, written_cap;

    struct child root;

    /* The call in progress. */
    const struct mpt_store *store;
    const uint8_t *ns;
    size_t ns_len;

    struct step steps[PATH_NODES_MAX];
    struct frame frames[PATH_NODES_MAX];
    uint8_t scratch[MPT_NODE_MAX];
};

struct mpt *mpt_new(void)
{
    return calloc(1, sizeof(struct mpt));
}

void mpt_free(struct mpt *m)
{
    if (m == NULL) return;
    struct pool_chunk *c = m->chunks;
    while (c != NULL) {
        struct pool_chunk *next = c->next;
        free(c);
        c = next;
    }
    free(m->cache);
    free(m->cache_tags);
    free(m->cache_turn);
    free(m->arena);
    free(m->loaded);
    free(m->written);
    free(m);
}

/* ---- Paths and keys ---- */

static void pack_path(const uint8_t *path, size_t path_len, struct path_key *out)
{
    assert(path_len <= NIBBLES);
    memset(out, 0, sizeof *out);
    out->bytes[0] = (uint8_t)path_len;
    for (size_t i = 0; i < path_len; i++) {
        assert(path[i] < 16);
        out->bytes[1 + i / 2] |= (uint8_t)(i % 2 == 0 ? path[i] << 4 : path[i]);
    }
}

static size_t path_key_len(const struct path_key *p)
{
    return 1 + ((size_t)p->bytes[0] + 1) / 2;
}

size_t mpt_path_key(const uint8_t *ns, size_t ns_len, const uint8_t *path, size_t path_len,
                    uint8_t out[MPT_STORE_KEY_MAX])
{
    assert(ns_len <= MPT_NAMESPACE_MAX);
    assert(ns != NULL || ns_len == 0);
    struct path_key p;
    pack_path(path, path_len, &p);
    size_t n = path_key_len(&p);
    if (ns_len) memcpy(out, ns, ns_len);
    memcpy(out + ns_len, p.bytes, n);
    return ns_len + n;
}

static size_t store_key(const struct mpt *m, const struct path_key *p, uint8_t out[MPT_STORE_KEY_MAX])
{
    size_t n = path_key_len(p);
    if (m->ns_len) memcpy(out, m->ns, m->ns_len);
    memcpy(out + m->ns_len, p->bytes, n);
    return m->ns_len + n;
}

/* "0x..." of a store key, for messages. */
static void key_hex(const uint8_t *key, size_t len, char out[2 * MPT_STORE_KEY_MAX + 3])
{
    hex_encode(key, len, out, 2 * MPT_STORE_KEY_MAX + 3);
}

static void key_nibbles(const uint8_t key[MPT_KEY_BYTES], uint8_t out[NIBBLES])
{
    for (size_t i = 0; i < MPT_KEY_BYTES; i++) {
        out[2 * i] = key[i] >> 4;
        out[2 * i + 1] = key[i] & 0x0f;
    }
}

/* ---- The node cache ---- */

int mpt_set_cache_bytes(struct mpt *m, size_t cache_bytes, struct cohort_error *err)
{
    assert(m != NULL);
    free(m->cache);
    free(m->cache_tags);
    free(m->cache_turn);
    m->cache = NULL;
    m->cache_tags = NULL;
    m->cache_turn = NULL;
    m->cache_sets = 0;
    size_t sets = cache_bytes / (CACHE_WAYS * (sizeof(struct cache_slot) + sizeof(struct cache_tag)) + 1);
    if (sets == 0) return 0;
    m->cache = malloc(sets * CACHE_WAYS * sizeof *m->cache);
    m->cache_tags = calloc(sets * CACHE_WAYS, sizeof *m->cache_tags);
    m->cache_turn = calloc(sets, 1);
    if (m->cache == NULL || m->cache_tags == NULL || m->cache_turn == NULL) {
        free(m->cache);
        free(m->cache_tags);
        free(m->cache_turn);
        m->cache = NULL;
        m->cache_tags = NULL;
        m->cache_turn = NULL;
        return cohort_error_set(err, STATE_E_NOMEM, DOMAIN, "mpt: node cache of %zu bytes", cache_bytes);
    }
    m->cache_sets = sets;
    return 0;
}

/* The first slot of key's set, and the check bits its tag carries. */
static size_t cache_locate(const struct mpt *m, const uint8_t *key, size_t key_len, uint32_t *check)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < key_len; i++) h = (h ^ key[i]) * 1099511628211ull;
    *check = (uint32_t)(h >> 32);
    return (size_t)((h & 0xffffffffu) % m->cache_sets) * CACHE_WAYS;
}

static bool slot_holds(const struct mpt *m, size_t i, uint32_t check, const uint8_t *key, size_t key_len)
{
    const struct cache_tag *t = &m->cache_tags[i];
    const struct cache_slot *c = &m->cache[i];
    return t->used && t->check == check && c->key_len == key_len && memcmp(c->key, key, key_len) == 0;
}

/* The cached RLP of the node stored at key under hash, or NULL. */
static const struct cache_slot *cache_find(const struct mpt *m, const uint8_t *key, size_t key_len,
                                           const uint8_t hash[32])
{
    if (m->cache == NULL) return NULL;
    uint32_t check;
    size_t first = cache_locate(m, key, key_len, &check);
    for (size_t i = first; i < first + CACHE_WAYS; i++)
        if (slot_holds(m, i, check, key, key_len) && memcmp(m->cache[i].hash, hash, 32) == 0) return &m->cache[i];
    return NULL;
}

/* Remembers that the node stored at key (depth nibbles deep) under hash is rlp. */
static void cache_put(struct mpt *m, const uint8_t *key, size_t key_len, unsigned depth, const uint8_t hash[32],
                      const uint8_t *rlp, size_t rlp_len)
{
    if (m->cache == NULL || rlp_len > CACHE_NODE_MAX) return;
    assert(key_len <= MPT_STORE_KEY_MAX);
    uint32_t check;
    size_t first = cache_locate(m, key, key_len, &check);
    struct cache_tag *tags = &m->cache_tags[first];
    size_t victim = SIZE_MAX;
    for (size_t i = first; i < first + CACHE_WAYS && victim == SIZE_MAX; i++)
        if (slot_holds(m, i, check, key, key_len)) victim = i; /* a new version of the node */
    for (size_t w = 0; w < CACHE_WAYS && victim == SIZE_MAX; w++)
        if (!tags[w].used) victim = first + w;
    if (victim == SIZE_MAX) {
        /* Evict the deeper node: the shallow ones are on every block's paths. */
        _Static_assert(CACHE_WAYS == 2, "the eviction below picks one of two");
        size_t w;
        if (tags[0].depth != tags[1].depth) {
            w = tags[0].depth > tags[1].depth ? 0 : 1;
        } else {
            w = m->cache_turn[first / CACHE_WAYS] & 1u;
            m->cache_turn[first / CACHE_WAYS] ^= 1;
        }
        if (tags[w].depth < depth) return; /* both are nearer the root than the newcomer */
        victim = first + w;
    }
    struct cache_slot *c = &m->cache[victim];
    c->key_len = (uint8_t)key_len;
    c->rlp_len = (uint16_t)rlp_len;
    memcpy(c->key, key, key_len);
    memcpy(c->hash, hash, 32);
    memcpy(c->rlp, rlp, rlp_len);
    m->cache_tags[victim] = (struct cache_tag){.check = check, .depth = (uint8_t)depth, .used = 1};
}

/* ---- Memory ---- */

static void reset(struct mpt *m)
{
    m->chunk = m->chunks;
    m->chunk_used = 0;
    m->arena_len = 0;
    m->loaded_len = 0;
    m->written_len = 0;
    memset(&m->root, 0, sizeof m->root);
}

static int new_node(struct mpt *m, enum node_kind kind, struct node **out, struct cohort_error *err)
{
    if (m->chunk == NULL || m->chunk_used == POOL_CHUNK_NODES) {
        struct pool_chunk *next = m->chunk ? m->chunk->next : m->chunks;
        if (next == NULL) {
            next = malloc(sizeof *next);
            if (next == NULL)
                return cohort_error_set(err, STATE_E_NOMEM, DOMAIN, "mpt: a chunk of %u nodes", POOL_CHUNK_NODES);
            next->next = NULL;
            if (m->chunk)
                m->chunk->next = next;
            else
                m->chunks = next;
        }
        m->chunk = next;
        m->chunk_used = 0;
    }
    struct node *n = &m->chunk->nodes[m->chunk_used++];
    memset(n, 0, sizeof *n);
    n->kind = (uint8_t)kind;
    *out = n;
    return 0;
}

/* Appends len bytes to the arena; *off says where they went. */
static int arena_add(struct mpt *m, const uint8_t *data, size_t len, uint32_t *off, struct cohort_error *err)
{
    if (len > ARENA_MAX - m->arena_len)
        return cohort_error_set(err, STATE_E_RANGE, DOMAIN, "mpt: one update needs over %zu bytes of nodes and values",
                                ARENA_MAX);
    if (m->arena_len + len > m->arena_cap) {
        size_t cap = m->arena_cap ? m->arena_cap : 64 * 1024;
        while (cap < m->arena_len + len) cap = cap > ARENA_MAX / 2 ? ARENA_MAX : cap * 2;
        uint8_t *p = realloc(m->arena, cap);
        if (p == NULL) return cohort_error_set(err, STATE_E_NOMEM, DOMAIN, "mpt: arena of %zu bytes", cap);
        m->arena = p;
        m->arena_cap = cap;
    }
    if (len) memcpy(m->arena + m->arena_len, data, len);
    *off = (uint32_t)m->arena_len;
    m->arena_len += len;
    return 0;
}

/* ---- Decoding ---- */

/* A parsed node, pointing into the bytes it was parsed from (offsets from their start). */
struct view {
    enum node_kind kind;
    uint8_t seg_len;
    uint8_t seg[NIBBLES];
    size_t value_off, value_len;
    struct {
        size_t off;
        uint8_t len;
        bool is_hash;
    } child[16];
};

/* Reads one child reference of a branch or an extension: empty, a hash, or an inline node. */
static int parse_ref(const struct rlp_item *item, size_t base_len, size_t *off, uint8_t *len, bool *is_hash,
                     const char **why)
{
    assert(item->offset + item->encoded_len <= base_len);
    if (item->is_list) {
        if (item->encoded_len >= 32) {
            *why = "an embedded child node of 32 bytes or more (it must be referred to by hash)";
            return -1;
        }
        *off = item->offset;
        *len = (uint8_t)item->encoded_len;
        *is_hash = false;
        return 0;
    }
    if (item->payload_len == 0) {
        *len = 0;
        *is_hash = false;
        *off = 0;
        return 0;
    }
    if (item->payload_len != 32) {
        *why = "a child reference that is neither empty, a 32-byte hash nor an embedded node";
        return -1;
    }
    *off = item->offset + (item->encoded_len - item->payload_len);
    *len = 32;
    *is_hash = true;
    return 0;
}

/*
 * Parses the node RLP rlp[0..len) found at depth nibbles. On a malformed node returns
 * STATE_E_INVALID with a message naming where (the store key, or the inline node's path).
 */
static int parse_node(const uint8_t *rlp, size_t len, unsigned depth, struct view *v, const uint8_t *where,
                      size_t where_len, bool inline_node, struct cohort_error *err)
{
    const char *why = NULL;
    char detail[200] = "";
    struct cohort_error rlp_err;
    struct rlp_item top, items[17];
    size_t count = 0;
    assert(depth <= NIBBLES);
    if (len > MPT_NODE_MAX) {
        why = "node over the size cap";
        goto bad;
    }
    if (rlp_decode_whole(rlp, len, &top, &rlp_err) != 0) {
        why = "not one RLP item";
        snprintf(detail, sizeof detail, " (%.180s)", rlp_err.message);
        goto bad;
    }
    if (!top.is_list) {
        why = "an RLP string, not a list";
        goto bad;
    }
    struct rlp_iter it;
    int rc = rlp_iter_init(&it, &top, &rlp_err);
    assert(rc == 0);
    for (;;) {
        struct rlp_item item;
        rc = rlp_iter_next(&it, &item, &rlp_err);
        if (rc < 0) {
            why = "a malformed item";
            snprintf(detail, sizeof detail, " (%.180s)", rlp_err.message);
            goto bad;
        }
        if (rc == 0) break;
        if (count == 17) {
            why = "a list of more than 17 items";
            goto bad;
        }
        items[count++] = item;
    }
    memset(v, 0, sizeof *v);
    if (count == 17) {
        v->kind = KIND_BRANCH;
        if (depth >= NIBBLES) {
            why = "a branch below the last nibble of a 32-byte key";
            goto bad;
        }
        unsigned children = 0;
        for (unsigned i = 0; i < 16; i++) {
            if (parse_ref(&items[i], len, &v->child[i].off, &v->child[i].len, &v->child[i].is_hash, &why) != 0) goto bad;
            if (v->child[i].len) children++;
        }
        if (items[16].is_list || items[16].payload_len != 0) {
            why = "a branch with a value (no 32-byte key ends at a branch)";
            goto bad;
        }
        if (children < 2) {
            why = "a branch with fewer than two children";
            goto bad;
        }
        return 0;
    }
    if (count != 2) {
        why = "a list of neither 2 nor 17 items";
        goto bad;
    }
    const struct rlp_item *path = &items[0];
    if (path->is_list || path->payload_len == 0 || path->payload_len > 1 + NIBBLES / 2) {
        why = "a path that is not a hex-prefix string of 1 to 33 bytes";
        goto bad;
    }
    uint8_t flag = path->payload[0] >> 4;
    if (flag > 3 || (flag % 2 == 0 && (path->payload[0] & 0x0f) != 0)) {
        why = "a bad hex-prefix flag";
        goto bad;
    }
    size_t nibbles = 2 * (path->payload_len - 1) + flag % 2;
    bool leaf = flag >= 2;
    if (leaf ? depth + nibbles != NIBBLES : (nibbles == 0 || depth + nibbles >= NIBBLES)) {
        why = leaf ? "a leaf whose path does not end at the 64th nibble"
                   : "an extension of no nibbles, or reaching the last nibble";
        goto bad;
    }
    v->seg_len = (uint8_t)nibbles;
    size_t n = 0;
    if (flag % 2) v->seg[n++] = path->payload[0] & 0x0f;
    for (size_t i = 1; i < path->payload_len; i++) {
        v->seg[n++] = path->payload[i] >> 4;
        v->seg[n++] = path->payload[i] & 0x0f;
    }
    assert(n == nibbles);
    if (leaf) {
        v->kind = KIND_LEAF;
        const struct rlp_item *value = &items[1];
        if (value->is_list || value->payload_len == 0 || value->payload_len > MPT_VALUE_MAX) {
            why = "a leaf value that is not a string of 1 to MPT_VALUE_MAX bytes";
            goto bad;
        }
        v->value_off = value->offset + (value->encoded_len - value->payload_len);
        v->value_len = value->payload_len;
        return 0;
    }
    v->kind = KIND_EXTENSION;
    if (parse_ref(&items[1], len, &v->child[0].off, &v->child[0].len, &v->child[0].is_hash, &why) != 0) goto bad;
    if (v->child[0].len == 0) {
        why = "an extension without a child";
        goto bad;
    }
    return 0;
bad:;
    char hex[2 * MPT_STORE_KEY_MAX + 3];
    key_hex(where, where_len, hex);
    return cohort_error_set(err, STATE_E_INVALID, DOMAIN, "mpt: %s at %s %s: %s%s; the node store is corrupt",
                            inline_node ? "embedded node" : "node", inline_node ? "path key" : "store key", hex, why,
                            detail);
}

/* ---- Loading ---- */

static int record_loaded(struct mpt *m, const struct path_key *pk, struct node *n, struct cohort_error *err)
{
    if (m->loaded_len == m->loaded_cap) {
        size_t cap = m->loaded_cap ? 2 * m->loaded_cap : 256;
        struct loaded *p = realloc(m->loaded, cap * sizeof *p);
        if (p == NULL) return cohort_error_set(err, STATE_E_NOMEM, DOMAIN, "mpt: list of %zu loaded nodes", cap);
        m->loaded = p;
        m->loaded_cap = cap;
    }
    m->loaded[m->loaded_len++] = (struct loaded){.path = *pk, .node = n};
    return 0;
}

/*
 * Makes the in-memory node for slot c from its RLP at arena[off..off+len) (read from the
 * store at key when c is a hash, else c's own inline bytes). want_branch: c is an
 * extension's child, which must be a branch.
 */
static int adopt(struct mpt *m, struct child *c, uint32_t off, size_t len, unsigned depth, bool want_branch,
                 const struct path_key *pk, const uint8_t *key, size_t key_len, struct cohort_error *err)
{
    struct view v;
    int rc = parse_node(m->arena + off, len, depth, &v, key, key_len, !c->is_hash, err);
    if (rc != 0) return rc;
    if (want_branch && v.kind != KIND_BRANCH) {
        char hex[2 * MPT_STORE_KEY_MAX + 3];
        key_hex(key, key_len, hex);
        return cohort_error_set(err, STATE_E_INVALID, DOMAIN,
                                "mpt: node at %s %s is the child of an extension but not a branch; the node store "
                                "is corrupt",
                                c->is_hash ? "store key" : "path key", hex);
    }
    struct node *n;
    rc = new_node(m, v.kind, &n, err);
    if (rc != 0) return rc;
    n->seg_len = v.seg_len;
    memcpy(n->seg, v.seg, v.seg_len);
    n->value_off = (uint32_t)(off + v.value_off);
    n->value_len = (uint32_t)v.value_len;
    for (unsigned i = 0; i < 16; i++) {
        if (v.child[i].len == 0) continue;
        n->child[i].off = (uint32_t)(off + v.child[i].off);
        n->child[i].len = v.child[i].len;
        n->child[i].is_hash = v.child[i].is_hash;
    }
    /* Until it changes, the node's reference is the one its parent holds. */
    n->ref_len = c->len;
    n->ref_is_hash = c->is_hash;
    memcpy(n->ref, m->arena + c->off, c->len);
    if (c->is_hash) {
        rc = record_loaded(m, pk, n, err);
        if (rc != 0) return rc;
    }
    c->node = n;
    return 0;
}

/* Reads the stored node at key into the arena (*off); STATE_E_INVALID when it is missing or too large. */
static int fetch(struct mpt *m, const uint8_t *key, size_t key_len, uint32_t *off, size_t *len,
                 struct cohort_error *err)
{
    const uint8_t *value = NULL;
    size_t value_len = 0;
    int rc = m->store->get(m->store->arg, key, key_len, &value, &value_len, err);
    if (rc < 0) return rc;
    if (rc == 0) {
        char hex[2 * MPT_STORE_KEY_MAX + 3];
        key_hex(key, key_len, hex);
        return cohort_error_set(err, STATE_E_INVALID, DOMAIN,
                                "mpt: node at store key %s is missing but its parent refers to it; the node "
                                "store is corrupt or incomplete",
                                hex);
    }
    if (value_len > MPT_NODE_MAX) {
        char hex[2 * MPT_STORE_KEY_MAX + 3];
        key_hex(key, key_len, hex);
        return cohort_error_set(err, STATE_E_INVALID, DOMAIN,
                                "mpt: node at store key %s: %zu bytes, over the %u-byte cap; the node store is "
                                "corrupt",
                                hex, value_len, MPT_NODE_MAX);
    }
    rc = arena_add(m, value, value_len, off, err);
    if (rc != 0) return rc;
    *len = value_len;
    return 0;
}

/*
 * Brings the child in slot c, at path[0..depth), into memory (or leaves *out NULL when
 * the slot is empty). A hashed child is read from the store and checked against its hash.
 * want_branch: the child of an extension, which must be a branch.
 */
static int resolve(struct mpt *m, struct child *c, const uint8_t *path, unsigned depth, bool want_branch,
                   struct node **out, struct cohort_error *err)
{
    *out = c->node;
    if (c->node != NULL || c->len == 0) return 0;
    struct path_key pk;
    pack_path(path, depth, &pk);
    uint8_t key[MPT_STORE_KEY_MAX];
    size_t key_len = store_key(m, &pk, key);
    uint32_t off = c->off;
    size_t len = c->len;
    int rc;
    const struct cache_slot *cached = c->is_hash ? cache_find(m, key, key_len, m->arena + c->off) : NULL;
    if (cached != NULL) {
        rc = arena_add(m, cached->rlp, cached->rlp_len, &off, err);
        if (rc != 0) return rc;
        len = cached->rlp_len;
    } else if (c->is_hash) {
        rc = fetch(m, key, key_len, &off, &len, err);
        if (rc != 0) return rc;
        uint8_t hash[32];
        keccak256(m->arena + off, len, hash);
        if (memcmp(hash, m->arena + c->off, 32) != 0) {
            char hex[2 * MPT_STORE_KEY_MAX + 3];
            key_hex(key, key_len, hex);
            return cohort_error_set(err, STATE_E_INVALID, DOMAIN,
                                    "mpt: node at store key %s does not match the hash its parent holds; the node "
                                    "store is corrupt",
                                    hex);
        }
        cache_put(m, key, key_len, depth, hash, m->arena + off, len);
    }
    rc = adopt(m, c, off, len, depth, want_branch, &pk, key, key_len, err);
    if (rc != 0) return rc;
    *out = c->node;
    return 0;
}

/* Reads the root node, if any, into m->root. */
static int load_root(struct mpt *m, struct cohort_error *err)
{
    struct path_key pk;
    pack_path(NULL, 0, &pk);
    uint8_t key[MPT_STORE_KEY_MAX];
    size_t key_len = store_key(m, &pk, key);
    const uint8_t *value = NULL;
    size_t value_len = 0;
    int rc = m->store->get(m->store->arg, key, key_len, &value, &value_len, err);
    if (rc < 0) return rc;
    if (rc == 0) return 0; /* the empty trie */
    if (value_len > MPT_NODE_MAX) {
        char hex[2 * MPT_STORE_KEY_MAX + 3];
        key_hex(key, key_len, hex);
        return cohort_error_set(err, STATE_E_INVALID, DOMAIN,
                                "mpt: node at store key %s: %zu bytes, over the %u-byte cap; the node store is "
                                "corrupt",
                                hex, value_len, MPT_NODE_MAX);
    }
    /* The root is always stored hashed: its hash, kept in the arena, is its reference. */
    uint8_t hash[32];
    keccak256(value, value_len, hash);
    uint32_t off;
    rc = arena_add(m, value, value_len, &off, err);
    if (rc != 0) return rc;
    rc = arena_add(m, hash, 32, &m->root.off, err);
    if (rc != 0) return rc;
    m->root.len = 32;
    m->root.is_hash = true;
    return adopt(m, &m->root, off, value_len, 0, false, &pk, key, key_len, err);
}

/* ---- Applying changes ---- */

static void mark_dirty(struct mpt *m, size_t steps)
{
    for (size_t i = 0; i < steps; i++) m->steps[i].node->dirty = true;
}

static size_t common_prefix(const uint8_t *a, const uint8_t *b, size_t len)
{
    size_t i = 0;
    while (i < len && a[i] == b[i]) i++;
    return i;
}

static int new_leaf(struct mpt *m, const uint8_t *nibbles, unsigned depth, uint32_t value_off, uint32_t value_len,
                    struct node **out, struct cohort_error *err)
{
    int rc = new_node(m, KIND_LEAF, out, err);
    if (rc != 0) return rc;
    (*out)->dirty = true;
    (*out)->seg_len = (uint8_t)(NIBBLES - depth);
    memcpy((*out)->seg, nibbles + depth, NIBBLES - depth);
    (*out)->value_off = value_off;
    (*out)->value_len = value_len;
    return 0;
}

/* Drops the first k nibbles of n's segment. */
static void seg_drop(struct node *n, unsigned k)
{
    assert(k <= n->seg_len);
    memmove(n->seg, n->seg + k, n->seg_len - k);
    n->seg_len = (uint8_t)(n->seg_len - k);
}

/* Puts prefix[0..k) in front of n's segment. */
static void seg_prepend(struct node *n, const uint8_t *prefix, unsigned k)
{
    assert(n->seg_len + k <= NIBBLES);
    memmove(n->seg + k, n->seg, n->seg_len);
    memcpy(n->seg, prefix, k);
    n->seg_len = (uint8_t)(n->seg_len + k);
}

static int apply_set(struct mpt *m, const uint8_t nib[NIBBLES], const uint8_t *value, size_t value_len,
                     struct cohort_error *err)
{
    struct child *slot = &m->root;
    unsigned depth = 0;
    size_t steps = 0;
    uint32_t value_off;
    int rc;
    for (;;) {
        struct node *n;
        rc = resolve(m, slot, nib, depth, steps > 0 && m->steps[steps - 1].node->kind == KIND_EXTENSION, &n, err);
        if (rc != 0) return rc;
        if (n == NULL) {
            /* An empty slot: the root of an empty trie, or a free branch child. */
            rc = arena_add(m, value, value_len, &value_off, err);
            if (rc != 0) return rc;
            rc = new_leaf(m, nib, depth, value_off, (uint32_t)value_len, &slot->node, err);
            if (rc != 0) return rc;
            mark_dirty(m, steps);
            return 0;
        }
        assert(steps < PATH_NODES_MAX);
        m->steps[steps++] = (struct step){.slot = slot, .node = n, .depth = depth};
        if (n->kind == KIND_BRANCH) {
            assert(depth < NIBBLES);
            slot = &n->child[nib[depth]];
            depth++;
            continue;
        }
        size_t common = common_prefix(n->seg, nib + depth, n->seg_len);
        if (n->kind == KIND_LEAF && common == n->seg_len) {
            assert(depth + common == NIBBLES);
            if (n->value_len == value_len && memcmp(m->arena + n->value_off, value, value_len) == 0)
                return 0; /* the same value: nothing changes */
            rc = arena_add(m, value, value_len, &value_off, err);
            if (rc != 0) return rc;
            n->value_off = value_off;
            n->value_len = (uint32_t)value_len;
            mark_dirty(m, steps);
            return 0;
        }
        if (n->kind == KIND_EXTENSION && common == n->seg_len) {
            slot = &n->child[0];
            depth += n->seg_len;
            continue;
        }
        /*
         * The key leaves n's segment after `common` nibbles: a branch goes there, with n's
         * rest on one side and a new leaf on the other, under an extension of the common
         * nibbles when there are any.
         */
        assert(common < n->seg_len);
        assert(depth + common < NIBBLES);
        struct node *branch, *leaf;
        rc = new_node(m, KIND_BRANCH, &branch, err);
        if (rc != 0) return rc;
        branch->dirty = true;
        unsigned old_slot = n->seg[common], new_slot = nib[depth + common];
        assert(old_slot != new_slot);
        if (n->kind == KIND_EXTENSION && common + 1 == n->seg_len) {
            /* Nothing of the extension is left below the branch: its child hangs there. */
            branch->child[old_slot] = n->child[0];
        } else {
            seg_drop(n, (unsigned)common + 1);
            branch->child[old_slot] = (struct child){.node = n};
        }
        rc = arena_add(m, value, value_len, &value_off, err);
        if (rc != 0) return rc;
        rc = new_leaf(m, nib, depth + (unsigned)common + 1, value_off, (uint32_t)value_len, &leaf, err);
        if (rc != 0) return rc;
        branch->child[new_slot] = (struct child){.node = leaf};
        if (common > 0) {
            struct node *ext;
            rc = new_node(m, KIND_EXTENSION, &ext, err);
            if (rc != 0) return rc;
            ext->dirty = true;
            ext->seg_len = (uint8_t)common;
            memcpy(ext->seg, nib + depth, common);
            ext->child[0] = (struct child){.node = branch};
            slot->node = ext;
        } else {
            slot->node = branch;
        }
        mark_dirty(m, steps); /* n too: it moved or is gone */
        return 0;
    }
}

static int apply_delete(struct mpt *m, const uint8_t nib[NIBBLES], struct cohort_error *err)
{
    struct child *slot = &m->root;
    unsigned depth = 0;
    size_t steps = 0;
    int rc;
    for (;;) {
        struct node *n;
        rc = resolve(m, slot, nib, depth, steps > 0 && m->steps[steps - 1].node->kind == KIND_EXTENSION, &n, err);
        if (rc != 0) return rc;
        if (n == NULL) return 0; /* absent */
        assert(steps < PATH_NODES_MAX);
        m->steps[steps++] = (struct step){.slot = slot, .node = n, .depth = depth};
        if (n->kind == KIND_BRANCH) {
            slot = &n->child[nib[depth]];
            depth++;
            continue;
        }
        size_t common = common_prefix(n->seg, nib + depth, n->seg_len);
        if (common < n->seg_len) return 0; /* absent */
        if (n->kind == KIND_EXTENSION) {
            slot = &n->child[0];
            depth += n->seg_len;
            continue;
        }
        break; /* the leaf */
    }
    mark_dirty(m, steps);
    struct step *leaf = &m->steps[steps - 1];
    *leaf->slot = (struct child){0};
    if (steps == 1) return 0; /* the trie is empty now */
    /* A leaf's parent is a branch: extensions lead only to branches. */
    struct step *b = &m->steps[steps - 2];
    assert(b->node->kind == KIND_BRANCH);
    unsigned remaining = 0, last = 16;
    for (unsigned i = 0; i < 16; i++) {
        if (b->node->child[i].node != NULL || b->node->child[i].len != 0) {
            remaining++;
            last = i;
        }
    }
    assert(remaining >= 1);
    if (remaining >= 2) return 0;
    /* One child left: the branch folds into it. Load it to see what it is. */
    uint8_t path[NIBBLES];
    memcpy(path, nib, b->depth);
    path[b->depth] = (uint8_t)last;
    struct node *c;
    rc = resolve(m, &b->node->child[last], path, b->depth + 1, false, &c, err);
    if (rc != 0) return rc;
    assert(c != NULL);
    uint8_t nibble = (uint8_t)last;
    struct node *replacement;
    if (c->kind == KIND_BRANCH) {
        /* The branch stays at its path; an extension of one nibble leads to it. */
        rc = new_node(m, KIND_EXTENSION, &replacement, err);
        if (rc != 0) return rc;
        replacement->dirty = true;
        replacement->seg_len = 1;
        replacement->seg[0] = nibble;
        replacement->child[0] = b->node->child[last];
    } else {
        /* A leaf or an extension moves up one nibble: it changes, and its old path goes. */
        seg_prepend(c, &nibble, 1);
        c->dirty = true;
        replacement = c;
    }
    b->slot->node = replacement;
    if (steps >= 3 && m->steps[steps - 3].node->kind == KIND_EXTENSION) {
        /* An extension above the old branch absorbs the replacement's nibbles. */
        struct step *e = &m->steps[steps - 3];
        seg_prepend(replacement, e->node->seg, e->node->seg_len);
        e->slot->node = replacement;
    }
    return 0;
}

/* ---- Committing ---- */

static uint8_t *write_header(uint8_t *out, size_t len, uint8_t short_base)
{
    if (len <= 55) {
        *out++ = (uint8_t)(short_base + len);
        return out;
    }
    if (len <= 0xff) {
        *out++ = (uint8_t)(short_base + 56);
        *out++ = (uint8_t)len;
        return out;
    }
    assert(len <= 0xffff);
    *out++ = (uint8_t)(short_base + 57);
    *out++ = (uint8_t)(len >> 8);
    *out++ = (uint8_t)len;
    return out;
}

static size_t string_size(const uint8_t *data, size_t len)
{
    if (len == 1 && data[0] < 0x80) return 1;
    return (len <= 55 ? 1 : len <= 0xff ? 2 : 3) + len;
}

static uint8_t *write_string(uint8_t *out, const uint8_t *data, size_t len)
{
    if (len == 1 && data[0] < 0x80) {
        *out++ = data[0];
        return out;
    }
    out = write_header(out, len, 0x80);
    if (len) memcpy(out, data, len);
    return out + len;
}

/* The bytes a parent holds for child c: a hash string, an inline node, or 0x80. */
static size_t child_ref(const struct mpt *m, const struct child *c, const uint8_t **bytes, bool *is_hash)
{
    if (c->node != NULL) {
        *bytes = c->node->ref;
        *is_hash = c->node->ref_is_hash;
        return c->node->ref_len;
    }
    *bytes = m->arena + c->off;
    *is_hash = c->is_hash;
    return c->len;
}

static size_t ref_size(size_t len, bool is_hash)
{
    if (is_hash) return 33;
    return len == 0 ? 1 : len;
}

static uint8_t *write_ref(uint8_t *out, const uint8_t *bytes, size_t len, bool is_hash)
{
    if (is_hash) return write_string(out, bytes, 32);
    if (len == 0) {
        *out++ = 0x80;
        return out;
    }
    memcpy(out, bytes, len);
    return out + len;
}

static size_t hex_prefix(const struct node *n, bool leaf, uint8_t out[1 + NIBBLES / 2])
{
    unsigned flag = (leaf ? 2u : 0u) + n->seg_len % 2u;
    size_t len = 0, i = 0;
    if (n->seg_len % 2) {
        out[len++] = (uint8_t)(flag << 4 | n->seg[0]);
        i = 1;
    } else {
        out[len++] = (uint8_t)(flag << 4);
    }
    for (; i < n->seg_len; i += 2) out[len++] = (uint8_t)(n->seg[i] << 4 | n->seg[i + 1]);
    return len;
}

/* Encodes n's RLP into m->scratch; returns its length. */
static size_t encode(struct mpt *m, const struct node *n)
{
    uint8_t *out = m->scratch;
    const uint8_t *ref = NULL;
    bool is_hash = false;
    size_t ref_len = 0;
    if (n->kind == KIND_BRANCH) {
        size_t payload = 1; /* the empty value */
        for (unsigned i = 0; i < 16; i++) {
            ref_len = child_ref(m, &n->child[i], &ref, &is_hash);
            payload += ref_size(ref_len, is_hash);
        }
        out = write_header(out, payload, 0xc0);
        for (unsigned i = 0; i < 16; i++) {
            ref_len = child_ref(m, &n->child[i], &ref, &is_hash);
            out = write_ref(out, ref, ref_len, is_hash);
        }
        *out++ = 0x80;
    } else {
        uint8_t path[1 + NIBBLES / 2];
        bool leaf = n->kind == KIND_LEAF;
        size_t path_len = hex_prefix(n, leaf, path);
        size_t payload = string_size(path, path_len);
        if (leaf) {
            payload += string_size(m->arena + n->value_off, n->value_len);
        } else {
            ref_len = child_ref(m, &n->child[0], &ref, &is_hash);
            assert(ref_len > 0);
            payload += ref_size(ref_len, is_hash);
        }
        out = write_header(out, payload, 0xc0);
        out = write_string(out, path, path_len);
        if (leaf)
            out = write_string(out, m->arena + n->value_off, n->value_len);
        else
            out = write_ref(out, ref, ref_len, is_hash);
    }
    size_t len = (size_t)(out - m->scratch);
    assert(len <= MPT_NODE_MAX);
    return len;
}

static int path_key_compare(const void *a, const void *b)
{
    return memcmp(a, b, sizeof(struct path_key));
}

/* Encodes, hashes and writes every dirty node; then deletes the paths that lost their node. */
static int commit(struct mpt *m, uint8_t root[32], struct cohort_error *err)
{
    int rc;
    uint8_t path[NIBBLES];
    uint8_t key[MPT_STORE_KEY_MAX];
    if (m->root.node == NULL) {
        assert(m->root.len == 0); /* the root is always loaded or made */
        memcpy(root, trie_empty_root, 32);
    } else if (!m->root.node->dirty) {
        assert(m->root.node->ref_is_hash);
        memcpy(root, m->root.node->ref, 32);
    } else {
        size_t top = 0;
        m->frames[top++] = (struct frame){.node = m->root.node, .depth = 0, .next = 0};
        while (top > 0) {
            struct frame *f = &m->frames[top - 1];
            struct node *n = f->node;
            assert(n->dirty);
            if (n->kind == KIND_BRANCH && f->next < 16) {
                unsigned i = f->next++;
                struct node *c = n->child[i].node;
                if (c != NULL && c->dirty) {
                    assert(top < PATH_NODES_MAX);
                    path[f->depth] = (uint8_t)i;
                    m->frames[top++] = (struct frame){.node = c, .depth = f->depth + 1, .next = 0};
                }
                continue;
            }
            if (n->kind == KIND_EXTENSION && f->next == 0) {
                f->next = 1;
                struct node *c = n->child[0].node;
                if (c != NULL && c->dirty) {
                    assert(top < PATH_NODES_MAX);
                    assert(c->kind == KIND_BRANCH);
                    memcpy(path + f->depth, n->seg, n->seg_len);
                    m->frames[top++] = (struct frame){.node = c, .depth = f->depth + n->seg_len, .next = 0};
                }
                continue;
            }
            assert(n->kind != KIND_LEAF || f->depth + n->seg_len == NIBBLES);
            size_t len = encode(m, n);
            if (top == 1 || len >= 32) {
                keccak256(m->scratch, len, n->ref);
                n->ref_len = 32;
                n->ref_is_hash = true;
                if (m->written_len == m->written_cap) {
                    size_t cap = m->written_cap ? 2 * m->written_cap : 256;
                    struct path_key *p = realloc(m->written, cap * sizeof *p);
                    if (p == NULL)
                        return cohort_error_set(err, STATE_E_NOMEM, DOMAIN, "mpt: list of %zu written paths", cap);
                    m->written = p;
                    m->written_cap = cap;
                }
                struct path_key *pk = &m->written[m->written_len++];
                pack_path(path, f->depth, pk);
                size_t key_len = store_key(m, pk, key);
                rc = m->store->put(m->store->arg, key, key_len, m->scratch, len, err);
                if (rc < 0) return rc;
                /* The root is never looked up by hash (it has no parent): no need to keep it. */
                if (top > 1) cache_put(m, key, key_len, f->depth, n->ref, m->scratch, len);
            } else {
                memcpy(n->ref, m->scratch, len);
                n->ref_len = (uint8_t)len;
                n->ref_is_hash = false;
            }
            top--;
        }
        memcpy(root, m->root.node->ref, 32);
    }
    /*
     * A node read from the store and changed (edited, moved or dropped) may have left its
     * path. Its key goes unless a node was just written there.
     */
    if (m->written_len > 1) qsort(m->written, m->written_len, sizeof *m->written, path_key_compare);
    for (size_t i = 0; i < m->loaded_len; i++) {
        const struct loaded *l = &m->loaded[i];
        if (!l->node->dirty) continue;
        if (m->written_len > 0 &&
            bsearch(&l->path, m->written, m->written_len, sizeof *m->written, path_key_compare) != NULL)
            continue;
        size_t key_len = store_key(m, &l->path, key);
        rc = m->store->del(m->store->arg, key, key_len, err);
        if (rc < 0) return rc;
    }
    return 0;
}

/* ---- Public ---- */

static int change_compare(const void *a, const void *b)
{
    return memcmp(((const struct mpt_change *)a)->key, ((const struct mpt_change *)b)->key, MPT_KEY_BYTES);
}

static void begin(struct mpt *m, const struct mpt_store *store, const uint8_t *ns, size_t ns_len)
{
    reset(m);
    m->store = store;
    m->ns = ns;
    m->ns_len = ns_len;
}

static int check_ns(size_t ns_len, struct cohort_error *err)
{
    if (ns_len > MPT_NAMESPACE_MAX)
        return cohort_error_set(err, STATE_E_RANGE, DOMAIN, "mpt: namespace of %zu bytes (cap %u)", ns_len,
                                MPT_NAMESPACE_MAX);
    return 0;
}

int mpt_update(struct mpt *m, const struct mpt_store *store, const uint8_t *ns, size_t ns_len,
               struct mpt_change *changes, size_t count, uint8_t root[32], struct cohort_error *err)
{
    assert(m != NULL);
    assert(store != NULL);
    assert(changes != NULL || count == 0);
    assert(ns != NULL || ns_len == 0);
    int rc = check_ns(ns_len, err);
    if (rc != 0) return rc;
    for (size_t i = 0; i < count; i++)
        if (changes[i].value_len > MPT_VALUE_MAX)
            return cohort_error_set(err, STATE_E_RANGE, DOMAIN, "mpt: value of %zu bytes (cap %u)", changes[i].value_len,
                                    MPT_VALUE_MAX);
    if (count > 1) qsort(changes, count, sizeof *changes, change_compare);
    for (size_t i = 1; i < count; i++) {
        if (memcmp(changes[i - 1].key, changes[i].key, MPT_KEY_BYTES) == 0) {
            char hex[2 * MPT_KEY_BYTES + 3];
            hex_encode(changes[i].key, MPT_KEY_BYTES, hex, sizeof hex);
            return cohort_error_set(err, STATE_E_INVALID, DOMAIN, "mpt: key %s changed twice in one update", hex);
        }
    }
    begin(m, store, ns, ns_len);
    rc = load_root(m, err);
    if (rc != 0) return rc;
    for (size_t i = 0; i < count; i++) {
        uint8_t nib[NIBBLES];
        key_nibbles(changes[i].key, nib);
        if (changes[i].value_len == 0)
            rc = apply_delete(m, nib, err);
        else
            rc = apply_set(m, nib, changes[i].value, changes[i].value_len, err);
        if (rc != 0) return rc;
    }
    return commit(m, root, err);
}

int mpt_root(struct mpt *m, const struct mpt_store *store, const uint8_t *ns, size_t ns_len, uint8_t root[32],
             struct cohort_error *err)
{
    assert(m != NULL);
    assert(store != NULL);
    int rc = check_ns(ns_len, err);
    if (rc != 0) return rc;
    begin(m, store, ns, ns_len);
    rc = load_root(m, err);
    if (rc != 0) return rc;
    if (m->root.node == NULL)
        memcpy(root, trie_empty_root, 32);
    else
        memcpy(root, m->root.node->ref, 32);
    return 0;
}

int mpt_get(struct mpt *m, const struct mpt_store *store, const uint8_t *ns, size_t ns_len,
            const uint8_t key[MPT_KEY_BYTES], const uint8_t **value, size_t *value_len, struct cohort_error *err)
{
    assert(m != NULL);
    assert(store != NULL);
    int rc = check_ns(ns_len, err);
    if (rc != 0) return rc;
    begin(m, store, ns, ns_len);
    uint8_t nib[NIBBLES];
    key_nibbles(key, nib);
    struct path_key pk;
    uint8_t skey[MPT_STORE_KEY_MAX];
    pack_path(nib, 0, &pk);
    size_t skey_len = store_key(m, &pk, skey);
    const uint8_t *buf = NULL; /* the last stored node read: valid until the next store call */
    size_t buf_len = 0;
    rc = store->get(store->arg, skey, skey_len, &buf, &buf_len, err);
    if (rc <= 0) return rc;
    size_t off = 0, len = buf_len; /* the node being read: buf[off..off+len) */
    bool inline_node = false, want_branch = false;
    unsigned depth = 0;
    for (;;) {
        struct view v;
        rc = parse_node(buf + off, len, depth, &v, skey, skey_len, inline_node, err);
        if (rc != 0) return rc;
        if (want_branch && v.kind != KIND_BRANCH) {
            char hex[2 * MPT_STORE_KEY_MAX + 3];
            key_hex(skey, skey_len, hex);
            return cohort_error_set(err, STATE_E_INVALID, DOMAIN,
                                    "mpt: node at %s %s is the child of an extension but not a branch; the node "
                                    "store is corrupt",
                                    inline_node ? "path key" : "store key", hex);
        }
        size_t ci = 0;
        if (v.kind == KIND_BRANCH) {
            ci = nib[depth];
            depth++;
        } else {
            if (memcmp(v.seg, nib + depth, v.seg_len) != 0) return 0;
            depth += v.seg_len;
            if (v.kind == KIND_LEAF) {
                *value = buf + off + v.value_off;
                *value_len = v.value_len;
                return 1;
            }
        }
        if (v.child[ci].len == 0) return 0;
        want_branch = v.kind == KIND_EXTENSION;
        pack_path(nib, depth, &pk);
        skey_len = store_key(m, &pk, skey);
        if (!v.child[ci].is_hash) {
            off += v.child[ci].off;
            len = v.child[ci].len;
            inline_node = true;
            continue;
        }
        uint8_t want[32];
        memcpy(want, buf + off + v.child[ci].off, 32); /* buf goes at the next get */
        rc = store->get(store->arg, skey, skey_len, &buf, &buf_len, err);
        if (rc < 0) return rc;
        char hex[2 * MPT_STORE_KEY_MAX + 3];
        if (rc == 0) {
            key_hex(skey, skey_len, hex);
            return cohort_error_set(err, STATE_E_INVALID, DOMAIN,
                                    "mpt: node at store key %s is missing but its parent refers to it; the node "
                                    "store is corrupt or incomplete",
                                    hex);
        }
        uint8_t got[32];
        keccak256(buf, buf_len, got);
        if (memcmp(got, want, 32) != 0) {
            key_hex(skey, skey_len, hex);
            return cohort_error_set(err, STATE_E_INVALID, DOMAIN,
                                    "mpt: node at store key %s does not match the hash its parent holds; the node "
                                    "store is corrupt",
                                    hex);
        }
        off = 0;
        len = buf_len;
        inline_node = false;
    }
}
