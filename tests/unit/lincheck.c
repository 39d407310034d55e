/*
 * lincheck.c - the linearizability checker of lincheck.h.
 *
 * The method (Wing & Gong 1993, with Lowe's memoisation, 2017; the same idea as the Go tool
 * Porcupine):
 *
 *  - P-compositionality: a history of a key-value store is linearizable iff each key's
 *    sub-history is, so the operations are grouped by key and each group is checked alone
 *    (keys in strcmp order, so the key reported is deterministic).
 *
 *  - Each group becomes a list of entries, one "call" and one "return" per operation,
 *    sorted by time. Ties: at equal times calls come before returns. Operation A must be
 *    linearized before B only if A returned STRICTLY before B was called (A.return_ns <
 *    B.call_ns); if A returned at t and B was called at the same t they count as
 *    concurrent, which is the cautious reading of timestamps taken on different threads
 *    (it can only accept more orders, never reject a real execution). A return earlier
 *    than its call (a clock glitch) is taken as equal to the call.
 *
 *  - The search walks the list from its head. At a call entry it tries to linearize that
 *    operation now: the register model must accept it in the current state (a GET must
 *    read the current value, a CAS's outcome must match the comparison); if so, and the
 *    pair (set of linearized operations, new state) was not visited before, the call and
 *    its return are unlinked ("lifted") from the list, pushed on a stack, and the walk
 *    restarts at the head. Otherwise it moves on to the next entry. Reaching a return
 *    entry means that operation had to be linearized already and could not be: the last
 *    lifted operation is popped, relinked ("unlifted") and the walk continues after it.
 *    An empty stack at that point means no linearization exists.
 *
 *  - The visited set (Lowe) is a hash set of (bitset of linearized operations, state): a
 *    configuration seen before is not searched again. The bitset's hash is kept
 *    incrementally (Zobrist: a random word per operation, XORed in and out) and bitsets
 *    live in one growing arena. With unknown operations (below) it prunes by dominance
 *    rather than equality: see struct lc_node.
 *
 *  - The state of one key is "absent" or one value; values are interned per key to small
 *    integers (0 is absent), so states compare and hash as integers.
 *
 *  - Unknown operations (no answer) have no return entry (return time +infinity): they may
 *    be linearized at any point after their call, with their effect computed from the
 *    state (a CAS swaps iff the value equals its expectation), and the search succeeds as
 *    soon as every KNOWN operation is linearized: the unknown ones left over are the ones
 *    that never happened (or, equally, happened after everything else, unobserved). An
 *    unknown CAS that did not swap has no effect, the same as never happening, so the two
 *    outcomes are covered. An unknown GET has no effect at all and is dropped up front.
 *    Unknown operations that may land anywhere unseen make the search exponential unless
 *    equivalent placements are cut, so (each rule keeps some shortest linearization):
 *      . an unknown operation is linearized only where it changes the state;
 *      . an unknown PUT or DELETE never directly follows another unknown operation (it
 *        would wipe that one's effect unseen: the order without it does the same);
 *      . among the operations that may go next, the known ones are tried first;
 *      . the visited set rejects a configuration when one with the same state, the same
 *        known operations and a SUBSET of its unknown operations was visited.
 *
 *  - budget_ms bounds the whole check (clock_gettime(CLOCK_MONOTONIC), looked at every
 *    few thousand steps); budget_ms <= 0 means no limit. The search also gives up
 *    (LC_TIMEOUT) when its visited set passes LC_MEMORY_CAP bytes.
 */
#include "lincheck.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LC_MEMORY_CAP ((size_t)1 << 30)
#define LC_CLOCK_EVERY 4096u
#define LC_EXPLAIN_TAIL 20 /* operations of the longest prefix shown in an explanation */

/* ---- small helpers ---- */

static void *lc_alloc(size_t n, size_t size)
{
    void *p = calloc(n == 0 ? 1 : n, size == 0 ? 1 : size);
    if (p == NULL) {
        fprintf(stderr, "lincheck: out of memory\n");
        abort();
    }
    return p;
}

static void *lc_grow(void *p, size_t n, size_t size)
{
    void *q = realloc(p, n * size);
    if (q == NULL) {
        fprintf(stderr, "lincheck: out of memory\n");
        abort();
    }
    return q;
}

static int64_t lc_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static uint64_t lc_mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static int lc_strcmp(const char *a, const char *b)
{
    return strncmp(a, b, LC_STR_MAX);
}

/* Appends to a bounded buffer, always NUL-terminated, silently truncating. */
struct lc_text {
    char *buf;
    size_t size, used;
};

__attribute__((format(printf, 2, 3))) static void lc_printf(struct lc_text *t, const char *fmt, ...)
{
    if (t->buf == NULL || t->size == 0 || t->used + 1 >= t->size) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(t->buf + t->used, t->size - t->used, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    t->used += (size_t)n;
    if (t->used >= t->size) t->used = t->size - 1;
}

static const char *lc_kind_name(uint8_t kind)
{
    switch (kind) {
    case LC_PUT: return "PUT";
    case LC_GET: return "GET";
    case LC_DELETE: return "DELETE";
    case LC_CAS: return "CAS";
    default: return "?";
    }
}

static void lc_describe(struct lc_text *t, const struct lc_op *op)
{
    int vl = (int)strnlen(op->value, LC_STR_MAX), el = (int)strnlen(op->expect, LC_STR_MAX);
    lc_printf(t, "client %d %s", op->client, lc_kind_name(op->kind));
    switch (op->kind) {
    case LC_PUT: lc_printf(t, "(\"%.*s\")", vl, op->value); break;
    case LC_GET:
        if (op->unknown) break;
        if (op->present) lc_printf(t, " -> \"%.*s\"", vl, op->value);
        else lc_printf(t, " -> absent");
        break;
    case LC_CAS:
        if (op->expect_present) lc_printf(t, "(\"%.*s\" => \"%.*s\")", el, op->expect, vl, op->value);
        else lc_printf(t, "(absent => \"%.*s\")", vl, op->value);
        if (!op->unknown) lc_printf(t, " -> %s", op->ok ? "swapped" : "not swapped");
        break;
    default: break;
    }
    if (op->unknown) lc_printf(t, " [%lld, ?] (outcome unknown)", (long long)op->call_ns);
    else lc_printf(t, " [%lld, %lld]", (long long)op->call_ns, (long long)op->return_ns);
}

/* ---- one key's search ---- */

struct lc_kop { /* one operation of the key, with its strings interned */
    const struct lc_op *op;
    int32_t val; /* PUT/CAS: the value written; GET: the value read (0: absent) */
    int32_t exp; /* CAS: the expectation (0: absent) */
    uint64_t zobrist;
};

struct lc_entry {
    struct lc_entry *prev, *next;
    struct lc_entry *match; /* a call's return (NULL when unknown); a return's call */
    uint32_t id;            /* index into the key's operations */
    bool is_call;
};

struct lc_frame { /* one lifted operation */
    struct lc_entry *e;
    int32_t state; /* the state before it */
    uint8_t pass;
};

struct lc_sort_item {
    int64_t time;
    uint32_t id;
    bool is_call;
};

static int lc_sort_cmp(const void *pa, const void *pb)
{
    const struct lc_sort_item *a = pa, *b = pb;
    if (a->time != b->time) return a->time < b->time ? -1 : 1;
    if (a->is_call != b->is_call) return a->is_call ? -1 : 1; /* calls first at equal times */
    return a->id < b->id ? -1 : a->id > b->id ? 1 : 0;
}

/*
 * The visited set, with dominance: an entry is (bitset of linearized operations, state),
 * hashed on the state and the KNOWN operations' bits only. A new configuration is
 * rejected when an entry has the same state, the same known operations, and a subset of
 * its unknown operations: the futures of the new one are futures of the old one (which
 * operations may go next depends only on the known operations linearized, and leftover
 * unknown operations can be left out), so it was, or will be, explored from there. With no
 * unknown operations this is exactly Lowe's cache.
 */
struct lc_node {
    uint64_t hash;
    size_t off;  /* the bitset's first word in the arena */
    size_t next; /* the next node of the bucket, plus one; 0 ends it */
    int32_t state; /* -1: dominated by a later entry, never matches */
};

struct lc_cache {
    size_t *buckets; /* first node plus one; 0: empty */
    size_t cap;      /* a power of two */
    struct lc_node *nodes;
    size_t count, nodes_cap;
    uint64_t *arena;
    size_t arena_cap, arena_used;
    size_t words;
    const uint64_t *known_mask;
};

static size_t lc_cache_bytes(const struct lc_cache *c)
{
    return c->cap * sizeof *c->buckets + c->nodes_cap * sizeof *c->nodes + c->arena_cap * sizeof *c->arena;
}

static void lc_cache_init(struct lc_cache *c, size_t words, const uint64_t *known_mask)
{
    c->cap = 1024;
    c->buckets = lc_alloc(c->cap, sizeof *c->buckets);
    c->nodes_cap = 1024;
    c->nodes = lc_alloc(c->nodes_cap, sizeof *c->nodes);
    c->count = 0;
    c->words = words;
    c->arena_cap = 1024 * words;
    c->arena = lc_alloc(c->arena_cap, sizeof *c->arena);
    c->arena_used = 0;
    c->known_mask = known_mask;
}

static void lc_cache_free(struct lc_cache *c)
{
    free(c->buckets);
    free(c->nodes);
    free(c->arena);
}

/* Adds (bits, state) unless an entry dominates it. Returns true when it was added. */
static bool lc_cache_add(struct lc_cache *c, const uint64_t *bits, int32_t state, uint64_t hash)
{
    const uint64_t *km = c->known_mask;
    for (size_t i = c->buckets[hash & (c->cap - 1)]; i != 0; i = c->nodes[i - 1].next) {
        struct lc_node *node = &c->nodes[i - 1];
        if (node->hash != hash || node->state != state) continue;
        const uint64_t *old = c->arena + node->off;
        bool same_known = true, old_subset = true, new_subset = true;
        for (size_t w = 0; w < c->words && same_known; w++) {
            uint64_t diff = old[w] ^ bits[w];
            if (diff & km[w]) same_known = false;
            if (old[w] & ~bits[w] & ~km[w]) old_subset = false;
            if (bits[w] & ~old[w] & ~km[w]) new_subset = false;
        }
        if (!same_known) continue;
        if (old_subset) return false;
        if (new_subset) node->state = -1; /* the new entry dominates it */
    }
    if (c->arena_used + c->words > c->arena_cap) {
        c->arena_cap *= 2;
        c->arena = lc_grow(c->arena, c->arena_cap, sizeof *c->arena);
    }
    if (c->count == c->nodes_cap) {
        c->nodes_cap *= 2;
        c->nodes = lc_grow(c->nodes, c->nodes_cap, sizeof *c->nodes);
    }
    if (c->count + 1 > c->cap) { /* grow the buckets to keep chains short */
        size_t ncap = c->cap * 2;
        size_t *nb = lc_alloc(ncap, sizeof *nb);
        for (size_t j = 0; j < c->count; j++) {
            size_t b = c->nodes[j].hash & (ncap - 1);
            c->nodes[j].next = nb[b];
            nb[b] = j + 1;
        }
        free(c->buckets);
        c->buckets = nb;
        c->cap = ncap;
    }
    size_t off = c->arena_used;
    memcpy(c->arena + off, bits, c->words * sizeof *bits);
    c->arena_used += c->words;
    size_t b = hash & (c->cap - 1);
    c->nodes[c->count] = (struct lc_node){.hash = hash, .off = off, .next = c->buckets[b], .state = state};
    c->buckets[b] = ++c->count;
    return true;
}
/* The register model: can op be linearized in state s, and the state after it. */
static bool lc_step(const struct lc_kop *k, int32_t s, int32_t *next)
{
    const struct lc_op *op = k->op;
    switch (op->kind) {
    case LC_PUT: *next = k->val; return true;
    case LC_DELETE: *next = 0; return true;
    case LC_GET: *next = s; return op->unknown || s == k->val;
    case LC_CAS:
        if (op->unknown) {
            *next = s == k->exp ? k->val : s;
            return true;
        }
        if (op->ok) {
            *next = k->val;
            return s == k->exp;
        }
        *next = s;
        return s != k->exp;
    default: return false;
    }
}

struct lc_strtab {
    const char **strs;
    size_t n;
};

static int lc_strp_cmp(const void *pa, const void *pb)
{
    return lc_strcmp(*(const char *const *)pa, *(const char *const *)pb);
}

/* The id of s: 1 + its index in the sorted, deduplicated table. */
static int32_t lc_intern(const struct lc_strtab *t, const char *s)
{
    const char **hit = bsearch(&s, t->strs, t->n, sizeof *t->strs, lc_strp_cmp);
    if (hit == NULL) abort(); /* every string was put in the table */
    return (int32_t)(hit - t->strs) + 1;
}

static void lc_explain_failure(struct lc_text *t, const char *key, const struct lc_kop *kops, size_t n,
                               const uint32_t *best, size_t best_len, int32_t best_state, const struct lc_strtab *tab,
                               int64_t blocker)
{
    lc_printf(t, "key \"%.*s\": not linearizable (%zu operations on it).\n", (int)strnlen(key, LC_STR_MAX), key, n);
    lc_printf(t, "Longest linearizable prefix: %zu operations", best_len);
    size_t from = 0;
    if (best_len > LC_EXPLAIN_TAIL) {
        from = best_len - LC_EXPLAIN_TAIL;
        lc_printf(t, " (the first %zu left out)", from);
    }
    lc_printf(t, ":\n");
    for (size_t i = from; i < best_len; i++) {
        lc_printf(t, "  %zu. ", i + 1);
        lc_describe(t, kops[best[i]].op);
        lc_printf(t, "\n");
    }
    if (best_state == 0) lc_printf(t, "State after it: absent.\n");
    else {
        const char *v = tab->strs[best_state - 1];
        lc_printf(t, "State after it: \"%.*s\".\n", (int)strnlen(v, LC_STR_MAX), v);
    }
    if (blocker >= 0) {
        lc_printf(t, "Could not place: ");
        lc_describe(t, kops[blocker].op);
        lc_printf(t, "\n");
    }
}

/*
 * Checks one key's operations (pointers into the caller's array, none an unknown GET).
 * Returns the verdict; on LC_NOT_LINEARIZABLE writes the explanation into t.
 */
static enum lc_verdict lc_check_key(const struct lc_op *const *ops, size_t n, int64_t deadline_ns, struct lc_text *t)
{
    if (n == 0) return LC_LINEARIZABLE;
    enum lc_verdict verdict = LC_TIMEOUT;

    /* Intern the strings: values written and read, expectations. */
    struct lc_strtab tab = {.strs = lc_alloc(2 * n, sizeof(const char *)), .n = 0};
    for (size_t i = 0; i < n; i++) {
        const struct lc_op *op = ops[i];
        if (op->kind == LC_PUT || op->kind == LC_CAS || (op->kind == LC_GET && op->present))
            tab.strs[tab.n++] = op->value;
        if (op->kind == LC_CAS && op->expect_present) tab.strs[tab.n++] = op->expect;
    }
    qsort(tab.strs, tab.n, sizeof *tab.strs, lc_strp_cmp);
    size_t uniq = 0;
    for (size_t i = 0; i < tab.n; i++)
        if (uniq == 0 || lc_strcmp(tab.strs[uniq - 1], tab.strs[i]) != 0) tab.strs[uniq++] = tab.strs[i];
    tab.n = uniq;

    struct lc_kop *kops = lc_alloc(n, sizeof *kops);
    size_t known = 0;
    for (size_t i = 0; i < n; i++) {
        const struct lc_op *op = ops[i];
        kops[i].op = op;
        kops[i].val = 0;
        kops[i].exp = 0;
        if (op->kind == LC_PUT || op->kind == LC_CAS || (op->kind == LC_GET && op->present))
            kops[i].val = lc_intern(&tab, op->value);
        if (op->kind == LC_CAS && op->expect_present) kops[i].exp = lc_intern(&tab, op->expect);
        kops[i].zobrist = lc_mix((uint64_t)i * 0x2545f4914f6cdd1dULL + 0x1234567ULL);
        if (!op->unknown) known++;
    }

    /* The entry list, sorted (see the top of the file for the order at equal times). */
    struct lc_sort_item *items = lc_alloc(2 * n, sizeof *items);
    size_t n_items = 0;
    for (size_t i = 0; i < n; i++) {
        const struct lc_op *op = ops[i];
        items[n_items++] = (struct lc_sort_item){.time = op->call_ns, .id = (uint32_t)i, .is_call = true};
        if (!op->unknown) {
            int64_t ret = op->return_ns < op->call_ns ? op->call_ns : op->return_ns;
            items[n_items++] = (struct lc_sort_item){.time = ret, .id = (uint32_t)i, .is_call = false};
        }
    }
    qsort(items, n_items, sizeof *items, lc_sort_cmp);
    struct lc_entry *entries = lc_alloc(n_items + 1, sizeof *entries);
    struct lc_entry *head = &entries[n_items]; /* sentinel */
    struct lc_entry **call_of = lc_alloc(n, sizeof *call_of);
    struct lc_entry *prev = head;
    head->prev = NULL;
    for (size_t i = 0; i < n_items; i++) {
        struct lc_entry *e = &entries[i];
        e->id = items[i].id;
        e->is_call = items[i].is_call;
        e->match = NULL;
        e->prev = prev;
        e->next = NULL;
        prev->next = e;
        prev = e;
        if (e->is_call) call_of[e->id] = e;
        else {
            e->match = call_of[e->id]; /* the call sorts first: its time is not later */
            call_of[e->id]->match = e;
        }
    }
    if (n_items == 0) head->next = NULL;
    free(items);

    size_t words = (n + 63) / 64;
    uint64_t *bits = lc_alloc(words, sizeof *bits);
    uint64_t *known_mask = lc_alloc(words, sizeof *known_mask);
    for (size_t i = 0; i < n; i++)
        if (!kops[i].op->unknown) known_mask[i / 64] |= (uint64_t)1 << (i % 64);
    struct lc_cache cache;
    lc_cache_init(&cache, words, known_mask);
    struct lc_frame *stack = lc_alloc(n, sizeof *stack);
    uint32_t *best = lc_alloc(n, sizeof *best);
    size_t depth = 0, best_len = 0, known_left = known;
    int32_t state = 0, best_state = 0;
    bool best_fresh = true; /* the stack still holds the longest prefix, as recorded */
    int64_t blocker = -1;
    uint64_t hash = 0; /* Zobrist hash of the known operations linearized */
    unsigned tick = 0;
    uint8_t pass = 0; /* 0: trying known operations, 1: unknown ones */

    struct lc_entry *e = head->next;
    for (;;) {
        if (known_left == 0) {
            verdict = LC_LINEARIZABLE;
            break;
        }
        if (++tick == LC_CLOCK_EVERY) {
            tick = 0;
            if ((deadline_ns != INT64_MAX && lc_now_ns() >= deadline_ns) || lc_cache_bytes(&cache) > LC_MEMORY_CAP) {
                verdict = LC_TIMEOUT;
                break;
            }
        }
        if (e != NULL && e->is_call) {
            const struct lc_kop *k = &kops[e->id];
            int32_t next;
            /* Pass 0 tries the known operations, pass 1 the unknown ones. An unknown one
             * that would not change the state is the same as leaving it out; an unknown PUT
             * or DELETE right after another unknown operation wipes that one's effect
             * unseen, so the same order without the other one covers it. */
            bool blind = k->op->unknown && (k->op->kind == LC_PUT || k->op->kind == LC_DELETE) && depth > 0 &&
                         kops[stack[depth - 1].e->id].op->unknown;
            if (k->op->unknown == (pass == 1) && !blind && lc_step(k, state, &next) &&
                !(k->op->unknown && next == state)) {
                bits[e->id / 64] |= (uint64_t)1 << (e->id % 64);
                uint64_t h = k->op->unknown ? hash : hash ^ k->zobrist;
                if (lc_cache_add(&cache, bits, next, h ^ lc_mix((uint64_t)(uint32_t)next))) {
                    /* Lift: unlink the call and its return, and restart at the head. */
                    stack[depth++] = (struct lc_frame){.e = e, .state = state, .pass = pass};
                    state = next;
                    hash = h;
                    e->prev->next = e->next;
                    if (e->next != NULL) e->next->prev = e->prev;
                    if (e->match != NULL) {
                        struct lc_entry *r = e->match;
                        r->prev->next = r->next;
                        if (r->next != NULL) r->next->prev = r->prev;
                    }
                    if (!k->op->unknown) known_left--;
                    if (depth > best_len) {
                        best_len = depth;
                        for (size_t i = 0; i < depth; i++) best[i] = stack[i].e->id;
                        best_state = state;
                        best_fresh = true;
                        blocker = -1;
                    }
                    pass = 0;
                    e = head->next;
                    continue;
                }
                bits[e->id / 64] &= ~((uint64_t)1 << (e->id % 64));
            }
            e = e->next;
            continue;
        }
        /* A return (or the end): the operations that may go next were all tried. */
        if (pass == 0) {
            pass = 1;
            e = head->next;
            continue;
        }
        if (e != NULL && best_fresh && depth == best_len && blocker < 0) blocker = e->id;
        if (depth == 0) {
            verdict = LC_NOT_LINEARIZABLE;
            break;
        }
        /* Unlift the last operation (return first, then call: the reverse of lifting). */
        struct lc_frame f = stack[--depth];
        best_fresh = false;
        e = f.e;
        state = f.state;
        pass = f.pass;
        const struct lc_kop *k = &kops[e->id];
        if (!k->op->unknown) {
            hash ^= k->zobrist;
            known_left++;
        }
        bits[e->id / 64] &= ~((uint64_t)1 << (e->id % 64));
        if (e->match != NULL) {
            struct lc_entry *r = e->match;
            r->prev->next = r;
            if (r->next != NULL) r->next->prev = r;
        }
        e->prev->next = e;
        if (e->next != NULL) e->next->prev = e;
        e = e->next;
    }
    if (verdict == LC_NOT_LINEARIZABLE)
        lc_explain_failure(t, ops[0]->key, kops, n, best, best_len, best_state, &tab, blocker);

    free(best);
    free(stack);
    free(known_mask);
    lc_cache_free(&cache);
    free(bits);
    free(call_of);
    free(entries);
    free(kops);
    free(tab.strs);
    return verdict;
}

/* ---- the whole history ---- */

static int lc_key_cmp(const void *pa, const void *pb)
{
    const struct lc_op *a = *(const struct lc_op *const *)pa, *b = *(const struct lc_op *const *)pb;
    int c = lc_strcmp(a->key, b->key);
    if (c != 0) return c;
    return a < b ? -1 : a > b ? 1 : 0; /* keep the caller's order within a key */
}

enum lc_verdict lc_check(const struct lc_op *ops, size_t n, int64_t budget_ms, char *explain, size_t explain_len)
{
    struct lc_text t = {.buf = explain, .size = explain_len, .used = 0};
    if (explain != NULL && explain_len > 0) explain[0] = '\0';
    int64_t deadline = INT64_MAX;
    if (budget_ms > 0 && budget_ms < INT64_MAX / 4000000) deadline = lc_now_ns() + budget_ms * 1000000;

    const struct lc_op **sorted = lc_alloc(n, sizeof *sorted);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        const struct lc_op *op = &ops[i];
        if (op->kind < LC_PUT || op->kind > LC_CAS) {
            lc_printf(&t, "operation %zu has an invalid kind %u\n", i, (unsigned)op->kind);
            free(sorted);
            return LC_NOT_LINEARIZABLE;
        }
        if (op->kind == LC_GET && op->unknown) continue; /* no effect, nothing to check */
        sorted[m++] = op;
    }
    qsort(sorted, m, sizeof *sorted, lc_key_cmp);

    enum lc_verdict verdict = LC_LINEARIZABLE;
    for (size_t i = 0; i < m;) {
        size_t j = i + 1;
        while (j < m && lc_strcmp(sorted[i]->key, sorted[j]->key) == 0) j++;
        enum lc_verdict v = lc_check_key(sorted + i, j - i, deadline, &t);
        if (v != LC_LINEARIZABLE) {
            verdict = v;
            if (v == LC_TIMEOUT) {
                const char *key = sorted[i]->key;
                lc_printf(&t, "key \"%.*s\": gave up (time budget of %lld ms or memory cap reached)\n", (int)strnlen(key, LC_STR_MAX), key,
                          (long long)budget_ms);
            }
            break;
        }
        i = j;
    }
    free(sorted);
    return verdict;
}
