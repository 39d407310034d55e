/*
 * trie.c - Merkle Patricia trie roots from sorted key/value pairs (see trie.h for the node
 * formats and the hex-prefix encoding).
 *
 * The builder walks the sorted pairs top-down with an explicit stack of frames, one per
 * node under construction, and finishes nodes bottom-up as their children complete. A
 * range of pairs that share their first `depth` nibbles becomes:
 *   - one pair:                          a leaf holding the rest of its key;
 *   - pairs sharing p > 0 more nibbles:  an extension of those p nibbles over a branch;
 *   - otherwise:                         a branch; the pair whose key ends here (at most
 *                                         one, and it sorts first) is the branch's value,
 *                                         the others group by their next nibble.
 * Every frame is deeper than its parent by at least one nibble, so the stack never holds
 * more than 2 * TRIE_KEY_MAX + 2 frames, whatever the data.
 */
#include "trie.h"

#include <assert.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/keccak.h"

/* keccak256(0x80), the root of the empty trie. */
const uint8_t trie_empty_root[32] = {0x56, 0xe8, 0x1f, 0x17, 0x1b, 0xcc, 0x55, 0xa6, 0xff, 0x83, 0x45,
                                     0xe6, 0x92, 0xc0, 0xf8, 0x6e, 0x5b, 0x48, 0xe0, 0x1b, 0x99, 0x6c,
                                     0xad, 0xc0, 0x01, 0x62, 0x2f, 0xb5, 0xe3, 0x63, 0xb4, 0x21};

/* A value larger than this is refused, so length arithmetic below cannot overflow. */
#define TRIE_VALUE_MAX ((size_t)1 << 28)
#define TRIE_FRAMES_MAX (2 * TRIE_KEY_MAX + 2)

const char *state_strerror(int code)
{
    switch (code) {
    case STATE_OK: return "ok";
    case STATE_E_INVALID: return "invalid input";
    case STATE_E_RANGE: return "value out of range";
    case STATE_E_NOMEM: return "out of memory";
    default: return "unknown state error";
    }
}

/* A reference to a child node: nothing (len 0), an inlined RLP under 32 bytes, or a hash. */
struct node_ref {
    uint8_t len;
    bool is_hash;
    uint8_t bytes[32];
};

enum frame_kind { FRAME_NEW, FRAME_EXTENSION, FRAME_BRANCH };

struct frame {
    size_t lo, hi;          /* entries [lo, hi) share their first `depth` nibbles */
    size_t cursor;          /* branch: next entry to group into a child */
    unsigned depth;         /* nibbles consumed above this node */
    unsigned shared;        /* extension: nibbles it covers */
    enum frame_kind kind;
    int waiting_slot;       /* branch: which child the frame on top of it will fill */
    const struct trie_entry *value; /* branch: the entry whose key ends here, or NULL */
    const struct trie_entry *path_entry; /* extension: an entry whose key holds the path */
    struct node_ref children[16];   /* branch: children; extension: children[0] */
};

struct trie_builder {
    struct frame frames[TRIE_FRAMES_MAX];
    uint8_t *scratch; /* one node's RLP at a time */
    size_t scratch_cap;
};

struct trie_builder *trie_builder_new(void)
{
    struct trie_builder *b = calloc(1, sizeof *b);
    return b;
}

void trie_builder_free(struct trie_builder *builder)
{
    if (builder == NULL) return;
    free(builder->scratch);
    free(builder);
}

int trie_key_compare(const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len)
{
    size_t n = a_len < b_len ? a_len : b_len;
    int c = n ? memcmp(a, b, n) : 0;
    if (c != 0) return c;
    return (a_len > b_len) - (a_len < b_len);
}

static int entry_compare(const void *pa, const void *pb)
{
    const struct trie_entry *a = pa, *b = pb;
    return trie_key_compare(a->key, a->key_len, b->key, b->key_len);
}

void trie_sort(struct trie_entry *entries, size_t count)
{
    assert(entries != NULL || count == 0);
    if (count > 1) qsort(entries, count, sizeof *entries, entry_compare);
}

size_t trie_lower_bound(const struct trie_entry *entries, size_t count, const uint8_t *key, size_t key_len)
{
    assert(entries != NULL || count == 0);
    size_t lo = 0, hi = count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (trie_key_compare(entries[mid].key, entries[mid].key_len, key, key_len) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static unsigned nibble_at(const struct trie_entry *e, unsigned i)
{
    assert(i < 2 * e->key_len);
    uint8_t byte = e->key[i / 2];
    return i % 2 == 0 ? byte >> 4 : byte & 0x0f;
}

/* ---- RLP writing, just what nodes need: strings and one list header. ---- */

static size_t length_of_length(size_t len)
{
    size_t n = 0;
    while (len > 0) {
        n++;
        len >>= 8;
    }
    return n;
}

static size_t rlp_string_size(const uint8_t *data, size_t len)
{
    if (len == 1 && data[0] < 0x80) return 1;
    if (len <= 55) return 1 + len;
    return 1 + length_of_length(len) + len;
}

static uint8_t *write_header(uint8_t *out, size_t len, uint8_t short_base)
{
    if (len <= 55) {
        *out++ = (uint8_t)(short_base + len);
        return out;
    }
    size_t lol = length_of_length(len);
    *out++ = (uint8_t)(short_base + 55 + lol);
    for (size_t i = lol; i > 0; i--) *out++ = (uint8_t)(len >> (8 * (i - 1)));
    return out;
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

static size_t ref_size(const struct node_ref *r)
{
    if (r->is_hash) return 33;
    return r->len == 0 ? 1 : r->len;
}

static uint8_t *write_ref(uint8_t *out, const struct node_ref *r)
{
    if (r->is_hash) return write_string(out, r->bytes, 32);
    if (r->len == 0) {
        *out++ = 0x80;
        return out;
    }
    memcpy(out, r->bytes, r->len);
    return out + r->len;
}

/* Hex-prefix encodes nibbles [from, to) of e's key with the leaf flag; returns the byte count. */
static size_t hex_prefix(const struct trie_entry *e, unsigned from, unsigned to, bool leaf, uint8_t out[TRIE_KEY_MAX + 1])
{
    assert(from <= to);
    assert(to <= 2 * e->key_len);
    unsigned n = to - from;
    unsigned flag = (leaf ? 2u : 0u) + (n % 2);
    size_t len = 0;
    unsigned i = from;
    if (n % 2 == 1) {
        out[len++] = (uint8_t)(flag << 4 | nibble_at(e, i));
        i++;
    } else {
        out[len++] = (uint8_t)(flag << 4);
    }
    for (; i < to; i += 2) out[len++] = (uint8_t)(nibble_at(e, i) << 4 | nibble_at(e, i + 1));
    assert(len <= TRIE_KEY_MAX + 1);
    return len;
}

static int ensure_scratch(struct trie_builder *b, size_t need, struct cohort_error *err)
{
    if (need <= b->scratch_cap) return 0;
    size_t cap = b->scratch_cap ? b->scratch_cap : 1024;
    while (cap < need) cap *= 2;
    uint8_t *p = realloc(b->scratch, cap);
    if (p == NULL) return cohort_error_set(err, STATE_E_NOMEM, "state", "trie: scratch of %zu bytes", cap);
    b->scratch = p;
    b->scratch_cap = cap;
    return 0;
}

/* Turns the node RLP in scratch[0..len) into a reference (inline under 32 bytes, else hash). */
static void make_ref(const uint8_t *rlp, size_t len, struct node_ref *out)
{
    memset(out, 0, sizeof *out);
    if (len < 32) {
        memcpy(out->bytes, rlp, len);
        out->len = (uint8_t)len;
    } else {
        keccak256(rlp, len, out->bytes);
        out->len = 32;
        out->is_hash = true;
    }
}

static size_t encode_leaf(struct trie_builder *b, const struct trie_entry *e, unsigned depth)
{
    uint8_t path[TRIE_KEY_MAX + 1];
    size_t path_len = hex_prefix(e, depth, (unsigned)(2 * e->key_len), true, path);
    size_t payload = rlp_string_size(path, path_len) + rlp_string_size(e->value, e->value_len);
    uint8_t *out = write_header(b->scratch, payload, 0xc0);
    out = write_string(out, path, path_len);
    out = write_string(out, e->value, e->value_len);
    return (size_t)(out - b->scratch);
}

static size_t encode_extension(struct trie_builder *b, const struct frame *f)
{
    uint8_t path[TRIE_KEY_MAX + 1];
    size_t path_len = hex_prefix(f->path_entry, f->depth, f->depth + f->shared, false, path);
    size_t payload = rlp_string_size(path, path_len) + ref_size(&f->children[0]);
    uint8_t *out = write_header(b->scratch, payload, 0xc0);
    out = write_string(out, path, path_len);
    out = write_ref(out, &f->children[0]);
    return (size_t)(out - b->scratch);
}

static size_t encode_branch(struct trie_builder *b, const struct frame *f)
{
    size_t payload = 0;
    for (int i = 0; i < 16; i++) payload += ref_size(&f->children[i]);
    payload += f->value ? rlp_string_size(f->value->value, f->value->value_len) : 1;
    uint8_t *out = write_header(b->scratch, payload, 0xc0);
    for (int i = 0; i < 16; i++) out = write_ref(out, &f->children[i]);
    if (f->value)
        out = write_string(out, f->value->value, f->value->value_len);
    else
        *out++ = 0x80;
    return (size_t)(out - b->scratch);
}

/* Nibbles that entries lo and hi-1 (and so all between, being sorted) share after depth. */
static unsigned shared_nibbles(const struct trie_entry *first, const struct trie_entry *last, unsigned depth)
{
    unsigned a_len = (unsigned)(2 * first->key_len), b_len = (unsigned)(2 * last->key_len);
    unsigned i = depth;
    while (i < a_len && i < b_len && nibble_at(first, i) == nibble_at(last, i)) i++;
    return i - depth;
}

/*
 * Validates and compacts: non-empty entries first, sorted, no duplicate keys. Sets *live to
 * their number and *largest_value to the longest value.
 */
static int prepare(struct trie_entry *entries, size_t count, size_t *live, size_t *largest_value,
                   struct cohort_error *err)
{
    size_t n = 0, largest = 0;
    for (size_t i = 0; i < count; i++) {
        if (entries[i].value_len == 0) continue;
        if (entries[i].key_len > TRIE_KEY_MAX)
            return cohort_error_set(err, STATE_E_RANGE, "state", "trie: key of %zu bytes (cap %d)",
                                    entries[i].key_len, TRIE_KEY_MAX);
        if (entries[i].value_len > TRIE_VALUE_MAX)
            return cohort_error_set(err, STATE_E_RANGE, "state", "trie: value of %zu bytes (cap %zu)",
                                    entries[i].value_len, TRIE_VALUE_MAX);
        if (entries[i].value_len > largest) largest = entries[i].value_len;
        struct trie_entry keep = entries[i];
        entries[i] = entries[n];
        entries[n++] = keep;
    }
    trie_sort(entries, n);
    for (size_t i = 1; i < n; i++)
        if (trie_key_compare(entries[i - 1].key, entries[i - 1].key_len, entries[i].key, entries[i].key_len) == 0)
            return cohort_error_set(err, STATE_E_INVALID, "state", "trie: key of %zu bytes given twice",
                                    entries[i].key_len);
    *live = n;
    *largest_value = largest;
    return 0;
}

int trie_builder_root(struct trie_builder *b, struct trie_entry *entries, size_t count, uint8_t root[32],
                      struct cohort_error *err)
{
    assert(b != NULL);
    assert(entries != NULL || count == 0);
    size_t n = 0, largest = 0;
    int rc = prepare(entries, count, &n, &largest, err);
    if (rc != 0) return rc;
    if (n == 0) {
        memcpy(root, trie_empty_root, 32);
        return 0;
    }
    /* The largest node: a branch (16 hashes, headers) plus the largest value and its header. */
    rc = ensure_scratch(b, 16 * 33 + 2 * (TRIE_KEY_MAX + 8) + largest + 32, err);
    if (rc != 0) return rc;

    size_t top = 0;
    struct frame *f = &b->frames[0];
    memset(f, 0, sizeof *f);
    f->lo = 0;
    f->hi = n;
    f->kind = FRAME_NEW;

    for (;;) {
        f = &b->frames[top];
        size_t rlp_len = 0;
        bool done = false;
        if (f->kind == FRAME_NEW) {
            if (f->hi - f->lo == 1) {
                rlp_len = encode_leaf(b, &entries[f->lo], f->depth);
                done = true;
            } else {
                unsigned shared = shared_nibbles(&entries[f->lo], &entries[f->hi - 1], f->depth);
                memset(f->children, 0, sizeof f->children);
                f->cursor = f->lo;
                f->value = NULL;
                if (shared == 0) {
                    f->kind = FRAME_BRANCH;
                    /* The one key that ends here sorts first: it is the branch's value. */
                    if (2 * entries[f->lo].key_len == f->depth) f->value = &entries[f->cursor++];
                    continue; /* the branch state below pushes its children one by one */
                }
                f->kind = FRAME_EXTENSION;
                f->shared = shared;
                f->path_entry = &entries[f->lo]; /* any entry of the range: they share the path */
                assert(top + 1 < TRIE_FRAMES_MAX);
                struct frame *child = &b->frames[top + 1];
                child->kind = FRAME_NEW;
                child->depth = f->depth + shared;
                child->lo = f->lo;
                child->hi = f->hi;
                top++;
                continue;
            }
        } else if (f->kind == FRAME_EXTENSION) {
            rlp_len = encode_extension(b, f);
            done = true;
        } else {
            assert(f->kind == FRAME_BRANCH);
            if (f->cursor == f->hi) {
                rlp_len = encode_branch(b, f);
                done = true;
            } else {
                assert(top + 1 < TRIE_FRAMES_MAX);
                struct frame *child = &b->frames[top + 1];
                size_t end = f->cursor + 1;
                unsigned slot = nibble_at(&entries[f->cursor], f->depth);
                while (end < f->hi && nibble_at(&entries[end], f->depth) == slot) end++;
                child->kind = FRAME_NEW;
                child->depth = f->depth + 1;
                child->lo = f->cursor;
                child->hi = end;
                f->waiting_slot = (int)slot;
                f->cursor = end;
                top++;
                continue;
            }
        }
        assert(done);
        if (top == 0) {
            keccak256(b->scratch, rlp_len, root); /* the root is hashed even when short */
            return 0;
        }
        struct frame *parent = &b->frames[top - 1];
        if (parent->kind == FRAME_EXTENSION) {
            make_ref(b->scratch, rlp_len, &parent->children[0]);
        } else {
            assert(parent->kind == FRAME_BRANCH);
            assert(parent->waiting_slot >= 0 && parent->waiting_slot < 16);
            make_ref(b->scratch, rlp_len, &parent->children[parent->waiting_slot]);
        }
        top--;
    }
}

int trie_root(struct trie_entry *entries, size_t count, uint8_t root[32], struct cohort_error *err)
{
    struct trie_builder *b = trie_builder_new();
    if (b == NULL) return cohort_error_set(err, STATE_E_NOMEM, "state", "trie: builder");
    int rc = trie_builder_root(b, entries, count, root, err);
    trie_builder_free(b);
    return rc;
}
