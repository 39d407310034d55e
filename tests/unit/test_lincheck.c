/*
 * test_lincheck.c - the linearizability checker of tests/unit/lincheck.h: hand-made
 * histories with known verdicts, unknown outcomes, many keys, histories generated from real
 * sequential executions (and then corrupted), a differential test against a brute-force
 * checker on small histories, the size it must handle quickly and its time budget.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lincheck.h"
#include "testutil.h"

/* ---- building histories ---- */

static struct lc_op mk(uint8_t kind, int client, int64_t call, int64_t ret, const char *key)
{
    struct lc_op op;
    memset(&op, 0, sizeof op);
    op.kind = kind;
    op.client = client;
    op.call_ns = call;
    op.return_ns = ret;
    snprintf(op.key, sizeof op.key, "%s", key);
    return op;
}

static struct lc_op put(int client, int64_t call, int64_t ret, const char *key, const char *value)
{
    struct lc_op op = mk(LC_PUT, client, call, ret, key);
    snprintf(op.value, sizeof op.value, "%s", value);
    return op;
}

/* value NULL: the key was read as absent. */
static struct lc_op get(int client, int64_t call, int64_t ret, const char *key, const char *value)
{
    struct lc_op op = mk(LC_GET, client, call, ret, key);
    op.present = value != NULL;
    if (value != NULL) snprintf(op.value, sizeof op.value, "%s", value);
    return op;
}

static struct lc_op del(int client, int64_t call, int64_t ret, const char *key)
{
    return mk(LC_DELETE, client, call, ret, key);
}

/* expect NULL: compares with absent. */
static struct lc_op cas(int client, int64_t call, int64_t ret, const char *key, const char *expect,
                        const char *value, bool ok)
{
    struct lc_op op = mk(LC_CAS, client, call, ret, key);
    op.expect_present = expect != NULL;
    if (expect != NULL) snprintf(op.expect, sizeof op.expect, "%s", expect);
    snprintf(op.value, sizeof op.value, "%s", value);
    op.ok = ok;
    return op;
}

/* The outcome was never learned: the return time is meaningless (set to garbage here). */
static struct lc_op unknown(struct lc_op op)
{
    op.unknown = true;
    op.return_ns = -12345;
    op.ok = false;
    return op;
}

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static char explain[8192];

static enum lc_verdict check(const struct lc_op *ops, size_t n)
{
    return lc_check(ops, n, 5000, explain, sizeof explain);
}

#define ASSERT_LIN(ops) ck_assert_msg(check(ops, N_OF(ops)) == LC_LINEARIZABLE, "expected linearizable: %s", explain)
#define ASSERT_NOT_LIN(ops) ck_assert_int_eq(check(ops, N_OF(ops)), LC_NOT_LINEARIZABLE)

/* ---- hand-made histories ---- */

START_TEST(empty_and_sequential)
{
    ck_assert_int_eq(lc_check(NULL, 0, 100, explain, sizeof explain), LC_LINEARIZABLE);
    struct lc_op seq[] = {
        get(1, 0, 1, "x", NULL),   put(1, 2, 3, "x", "a"),          get(2, 4, 5, "x", "a"),
        del(2, 6, 7, "x"),         get(1, 8, 9, "x", NULL),         cas(1, 10, 11, "x", NULL, "b", true),
        get(2, 12, 13, "x", "b"),  cas(2, 14, 15, "x", "a", "c", false), get(1, 16, 17, "x", "b"),
    };
    ASSERT_LIN(seq);
    /* A NULL explain is fine too. */
    ck_assert_int_eq(lc_check(seq, N_OF(seq), 100, NULL, 0), LC_LINEARIZABLE);
}
END_TEST

START_TEST(concurrent_puts_and_gets)
{
    /* Two overlapping puts; a read overlapping both may see either. */
    struct lc_op see_a[] = {put(1, 0, 10, "x", "a"), put(2, 5, 15, "x", "b"), get(3, 8, 20, "x", "a")};
    struct lc_op see_b[] = {put(1, 0, 10, "x", "a"), put(2, 5, 15, "x", "b"), get(3, 8, 20, "x", "b")};
    struct lc_op see_none[] = {put(1, 0, 10, "x", "a"), put(2, 5, 15, "x", "b"), get(3, 1, 4, "x", NULL)};
    ASSERT_LIN(see_a);
    ASSERT_LIN(see_b);
    ASSERT_LIN(see_none);
    /* After both returned, either order of the puts is possible, but then it is fixed. */
    struct lc_op after_a[] = {put(1, 0, 10, "x", "a"), put(2, 5, 15, "x", "b"), get(3, 16, 20, "x", "a"),
                              get(1, 21, 22, "x", "a")};
    ASSERT_LIN(after_a);
    struct lc_op flip[] = {put(1, 0, 10, "x", "a"), put(2, 5, 15, "x", "b"), get(3, 16, 20, "x", "a"),
                           get(1, 21, 22, "x", "b")};
    ASSERT_NOT_LIN(flip);
    /* Two readers concurrently see the two values in opposite orders: not linearizable. */
    struct lc_op opposite[] = {put(1, 0, 100, "x", "a"), put(2, 0, 100, "x", "b"), get(3, 10, 20, "x", "a"),
                               get(3, 30, 40, "x", "b"),  get(4, 10, 20, "x", "b"), get(4, 30, 40, "x", "a")};
    ASSERT_NOT_LIN(opposite);
}
END_TEST

START_TEST(cas_race)
{
    /* Both compare with "0"; exactly one wins. */
    struct lc_op one_wins[] = {put(0, 0, 1, "x", "0"), cas(1, 2, 10, "x", "0", "1", true),
                               cas(2, 3, 9, "x", "0", "2", false), get(3, 11, 12, "x", "1")};
    ASSERT_LIN(one_wins);
    struct lc_op other_wins[] = {put(0, 0, 1, "x", "0"), cas(1, 2, 10, "x", "0", "1", false),
                                 cas(2, 3, 9, "x", "0", "2", true), get(3, 11, 12, "x", "2")};
    ASSERT_LIN(other_wins);
    struct lc_op both_win[] = {put(0, 0, 1, "x", "0"), cas(1, 2, 10, "x", "0", "1", true),
                               cas(2, 3, 9, "x", "0", "2", true)};
    ASSERT_NOT_LIN(both_win);
    ck_assert_ptr_nonnull(strstr(explain, "key \"x\""));
    ck_assert_ptr_nonnull(strstr(explain, "Could not place: client"));
    struct lc_op none_wins[] = {put(0, 0, 1, "x", "0"), cas(1, 2, 10, "x", "0", "1", false),
                                cas(2, 3, 9, "x", "0", "2", false)};
    ASSERT_NOT_LIN(none_wins);
    /* The winner's value must be what is read afterwards. */
    struct lc_op wrong_read[] = {put(0, 0, 1, "x", "0"), cas(1, 2, 10, "x", "0", "1", true),
                                 cas(2, 3, 9, "x", "0", "2", false), get(3, 11, 12, "x", "2")};
    ASSERT_NOT_LIN(wrong_read);
    /* CAS from absent. */
    struct lc_op from_absent[] = {cas(1, 0, 5, "x", NULL, "a", true), cas(2, 1, 6, "x", NULL, "b", false),
                                  get(1, 7, 8, "x", "a")};
    ASSERT_LIN(from_absent);
}
END_TEST

START_TEST(stale_read)
{
    struct lc_op ops[] = {put(1, 0, 1, "x", "a"), put(1, 2, 3, "x", "b"), get(2, 4, 5, "x", "a")};
    ASSERT_NOT_LIN(ops);
    /* The explanation: the key, the prefix (both puts), the read that could not go. */
    ck_assert_ptr_nonnull(strstr(explain, "key \"x\""));
    ck_assert_ptr_nonnull(strstr(explain, "Longest linearizable prefix: 2 operations"));
    ck_assert_ptr_nonnull(strstr(explain, "PUT(\"b\")"));
    ck_assert_ptr_nonnull(strstr(explain, "State after it: \"b\""));
    ck_assert_ptr_nonnull(strstr(explain, "Could not place: client 2 GET -> \"a\" [4, 5]"));
    /* Overlapping the second put instead: fine. */
    struct lc_op ok[] = {put(1, 0, 1, "x", "a"), put(1, 2, 4, "x", "b"), get(2, 3, 5, "x", "a")};
    ASSERT_LIN(ok);
    /* A delete then a read of the old value. */
    struct lc_op deleted[] = {put(1, 0, 1, "x", "a"), del(1, 2, 3, "x"), get(2, 4, 5, "x", "a")};
    ASSERT_NOT_LIN(deleted);
    /* A read of absent after a completed put. */
    struct lc_op absent[] = {put(1, 0, 1, "x", "a"), get(2, 4, 5, "x", NULL)};
    ASSERT_NOT_LIN(absent);
}
END_TEST

START_TEST(value_never_written)
{
    struct lc_op ops[] = {put(1, 0, 10, "x", "a"), get(2, 1, 11, "x", "zzz")};
    ASSERT_NOT_LIN(ops);
    ck_assert_ptr_nonnull(strstr(explain, "GET -> \"zzz\""));
    /* ...or written only after the read returned. */
    struct lc_op future[] = {get(2, 0, 5, "x", "a"), put(1, 6, 10, "x", "a")};
    ASSERT_NOT_LIN(future);
    /* ...or written to another key. */
    struct lc_op other_key[] = {put(1, 0, 1, "y", "a"), get(2, 2, 3, "x", "a")};
    ASSERT_NOT_LIN(other_key);
}
END_TEST

START_TEST(read_back_in_time)
{
    /* r1 sees the new value while the write is still running; a later r2 sees the old one. */
    struct lc_op ops[] = {put(1, 0, 1, "x", "old"), put(1, 2, 20, "x", "new"), get(2, 3, 5, "x", "new"),
                          get(3, 6, 8, "x", "old")};
    ASSERT_NOT_LIN(ops);
    ck_assert_ptr_nonnull(strstr(explain, "Could not place: client 3 GET -> \"old\""));
    /* Each read alone is fine; and overlapping reads may disagree. */
    struct lc_op r1[] = {put(1, 0, 1, "x", "old"), put(1, 2, 20, "x", "new"), get(2, 3, 5, "x", "new")};
    struct lc_op r2[] = {put(1, 0, 1, "x", "old"), put(1, 2, 20, "x", "new"), get(3, 6, 8, "x", "old")};
    struct lc_op overlap[] = {put(1, 0, 1, "x", "old"), put(1, 2, 20, "x", "new"), get(2, 3, 7, "x", "new"),
                              get(3, 6, 8, "x", "old")};
    ASSERT_LIN(r1);
    ASSERT_LIN(r2);
    ASSERT_LIN(overlap);
}
END_TEST

START_TEST(equal_times_are_concurrent)
{
    /* A return at t and a call at the same t overlap: the read may precede the put. */
    struct lc_op touch[] = {put(1, 0, 5, "x", "a"), get(2, 5, 6, "x", NULL)};
    ASSERT_LIN(touch);
    /* One nanosecond later they are ordered. */
    struct lc_op after[] = {put(1, 0, 5, "x", "a"), get(2, 6, 7, "x", NULL)};
    ASSERT_NOT_LIN(after);
    /* Zero-length operations at one instant. */
    struct lc_op instant[] = {put(1, 3, 3, "x", "a"), get(2, 3, 3, "x", NULL), get(3, 3, 3, "x", "a")};
    ASSERT_LIN(instant);
}
END_TEST

START_TEST(unknown_outcomes)
{
    /* A put that timed out, whose value is read later: it happened. */
    struct lc_op read_later[] = {put(1, 0, 1, "x", "a"), unknown(put(2, 2, 0, "x", "b")), get(3, 10, 11, "x", "b")};
    ASSERT_LIN(read_later);
    /* Never read: it may not have happened. */
    struct lc_op never_read[] = {put(1, 0, 1, "x", "a"), unknown(put(2, 2, 0, "x", "b")), get(3, 10, 11, "x", "a")};
    ASSERT_LIN(never_read);
    struct lc_op alone[] = {unknown(put(2, 2, 0, "x", "b"))};
    ASSERT_LIN(alone);
    /* It happened (seen) and then cannot un-happen. */
    struct lc_op undone[] = {put(1, 0, 1, "x", "a"), unknown(put(2, 2, 0, "x", "b")), get(3, 10, 11, "x", "b"),
                             get(3, 12, 13, "x", "a")};
    ASSERT_NOT_LIN(undone);
    /* It may take effect long after the client gave up (its return is infinite). */
    struct lc_op late[] = {put(1, 0, 1, "x", "a"), unknown(put(2, 2, 0, "x", "b")), get(3, 10, 11, "x", "a"),
                           get(3, 100, 101, "x", "b")};
    ASSERT_LIN(late);
    /* ...but not before it was called. */
    struct lc_op early[] = {put(1, 0, 1, "x", "a"), get(3, 2, 3, "x", "b"), unknown(put(2, 5, 0, "x", "b"))};
    ASSERT_NOT_LIN(early);
    /* An unknown CAS may or may not have swapped. */
    struct lc_op cas_yes[] = {put(1, 0, 1, "x", "0"), unknown(cas(2, 2, 0, "x", "0", "1", false)),
                              get(3, 5, 6, "x", "1")};
    struct lc_op cas_no[] = {put(1, 0, 1, "x", "0"), unknown(cas(2, 2, 0, "x", "0", "1", false)),
                             get(3, 5, 6, "x", "0"), put(1, 7, 8, "x", "2"), get(3, 9, 10, "x", "2")};
    struct lc_op cas_cannot[] = {put(1, 0, 1, "x", "9"), unknown(cas(2, 2, 0, "x", "0", "1", false)),
                                 get(3, 5, 6, "x", "1")};
    ASSERT_LIN(cas_yes);
    ASSERT_LIN(cas_no);
    ASSERT_NOT_LIN(cas_cannot);
    /* Two unknown CAS from the same value cannot both have swapped. */
    struct lc_op cas_two[] = {put(1, 0, 1, "x", "0"), unknown(cas(2, 2, 0, "x", "0", "1", false)),
                              unknown(cas(3, 2, 0, "x", "0", "2", false)), get(4, 5, 6, "x", "1"),
                              get(4, 7, 8, "x", "2")};
    ASSERT_NOT_LIN(cas_two);
    /* An unknown GET is never checked, whatever it says. */
    struct lc_op get_any[] = {put(1, 0, 1, "x", "a"), unknown(get(2, 2, 0, "x", "nonsense"))};
    ASSERT_LIN(get_any);
    /* Unknown deletes. */
    struct lc_op del_maybe[] = {put(1, 0, 1, "x", "a"), unknown(del(2, 2, 0, "x")), get(3, 5, 6, "x", NULL),
                                put(1, 7, 8, "x", "b"), get(3, 9, 10, "x", "b")};
    ASSERT_LIN(del_maybe);
    /* Many unknown puts, none observed. */
    struct lc_op many[40];
    many[0] = put(0, 0, 1, "x", "base");
    for (int i = 1; i < 39; i++) {
        char v[16];
        snprintf(v, sizeof v, "u%d", i);
        many[i] = unknown(put(i, 2 + i, 0, "x", v));
    }
    many[39] = get(99, 0, 1, "x", "base");
    ASSERT_LIN(many);
}
END_TEST

START_TEST(many_unknown_ops)
{
    /* 30 writes that timed out, then 20 writes each read back, then a stale read. Each
     * unknown write could have taken effect between any read and the next write, unseen:
     * without pruning those equivalent placements the search is exponential. */
    struct lc_op ops[100];
    size_t n = 0;
    ops[n++] = put(0, 0, 1, "x", "base");
    for (int i = 0; i < 30; i++) {
        char v[16];
        snprintf(v, sizeof v, "u%d", i);
        ops[n++] = unknown(put(100 + i, 2 + i, 0, "x", v));
    }
    for (int j = 0; j < 20; j++) {
        char v[16];
        snprintf(v, sizeof v, "p%d", j);
        ops[n++] = put(1, 100 + 10 * j, 105 + 10 * j, "x", v);
        ops[n++] = get(2, 106 + 10 * j, 108 + 10 * j, "x", v);
    }
    ops[n++] = get(3, 400, 401, "x", "u7"); /* the last unknown write may land here */
    ck_assert_msg(lc_check(ops, n, 5000, explain, sizeof explain) == LC_LINEARIZABLE, "%s", explain);
    ops[n - 1] = get(3, 400, 401, "x", "p3"); /* stale */
    ck_assert_int_eq(lc_check(ops, n, 5000, explain, sizeof explain), LC_NOT_LINEARIZABLE);
    ck_assert_ptr_nonnull(strstr(explain, "Could not place: client 3 GET -> \"p3\""));
    /* The same with unknown CAS that may have swapped each read value for another. */
    n = 0;
    ops[n++] = put(0, 0, 1, "x", "p0");
    for (int j = 0; j < 20; j++) {
        char v[16], w[16];
        snprintf(v, sizeof v, "p%d", j);
        snprintf(w, sizeof w, "q%d", j);
        ops[n++] = unknown(cas(100 + j, 10 * j + 2, 0, "x", v, w, false));
        ops[n++] = get(2, 10 * j + 3, 10 * j + 4, "x", v);
        snprintf(v, sizeof v, "p%d", j + 1);
        ops[n++] = put(1, 10 * j + 5, 10 * j + 6, "x", v);
    }
    ops[n++] = get(3, 400, 401, "x", "q5");
    ck_assert_int_eq(lc_check(ops, n, 5000, explain, sizeof explain), LC_NOT_LINEARIZABLE);
    ops[n - 1] = get(3, 400, 401, "x", "p20");
    ck_assert_msg(lc_check(ops, n, 5000, explain, sizeof explain) == LC_LINEARIZABLE, "%s", explain);
}
END_TEST

START_TEST(many_keys)
{
    struct lc_op ops[200];
    size_t n = 0;
    for (int k = 0; k < 20; k++) {
        char key[16];
        snprintf(key, sizeof key, "k%d", k);
        int64_t t = 3 * k; /* keys interleave in time */
        ops[n++] = put(1, t, t + 100, key, "a");
        ops[n++] = put(2, t + 50, t + 150, key, "b");
        ops[n++] = get(3, t + 120, t + 140, key, "b");
        ops[n++] = get(4, t + 160, t + 170, key, k == 7 ? "a" : "b"); /* k7: a stale read */
        ops[n++] = cas(5, t + 180, t + 190, key, "b", "c", true);
    }
    ck_assert_int_eq(lc_check(ops, n, 5000, explain, sizeof explain), LC_NOT_LINEARIZABLE);
    ck_assert_ptr_nonnull(strstr(explain, "key \"k7\""));
    ck_assert_ptr_nonnull(strstr(explain, "Could not place: client 4 GET -> \"a\""));
    ops[7 * 5 + 3] = get(4, 7 * 3 + 160, 7 * 3 + 170, "k7", "b");
    ck_assert_msg(lc_check(ops, n, 5000, explain, sizeof explain) == LC_LINEARIZABLE, "%s", explain);
    /* The same value under another key does not help. */
    ops[7 * 5 + 3] = get(4, 7 * 3 + 160, 7 * 3 + 170, "k7", "c");
    ck_assert_int_eq(lc_check(ops, n, 5000, explain, sizeof explain), LC_NOT_LINEARIZABLE);
    ck_assert_ptr_nonnull(strstr(explain, "key \"k7\""));
}
END_TEST

/* ---- generated histories ---- */

struct gen_params {
    int clients, per_client, keys;
    int nvals;       /* > 0: values drawn from v0..v(nvals-1); 0: every write unique */
    int unknown_pct; /* chance that an operation's outcome is unknown */
};

struct gen_op {
    struct lc_op op;
    int64_t lin; /* its linearization point */
    bool happened;
};

static int gen_lin_cmp(const void *pa, const void *pb)
{
    const struct gen_op *a = pa, *b = pb;
    if (a->lin != b->lin) return a->lin < b->lin ? -1 : 1;
    return a->op.client - b->op.client;
}

static uint64_t rnd(uint64_t *rng, uint64_t n)
{
    return testutil_rand_next(rng) % n;
}

/*
 * A history of a real sequential execution: each client's operations follow one another,
 * each takes effect at a random point inside [call, return] (an unknown one at a random
 * point after its call, or never), and outputs come from executing them in that order.
 * Returns the count, the operations shuffled into out.
 */
static size_t gen_history(uint64_t *rng, const struct gen_params *p, struct lc_op *out)
{
    size_t n = (size_t)p->clients * (size_t)p->per_client;
    struct gen_op *g = calloc(n, sizeof *g);
    ck_assert_ptr_nonnull(g);
    size_t m = 0;
    for (int c = 0; c < p->clients; c++) {
        int64_t t = (int64_t)rnd(rng, 10);
        for (int i = 0; i < p->per_client; i++) {
            struct gen_op *o = &g[m++];
            char key[16];
            snprintf(key, sizeof key, "k%d", (int)rnd(rng, (uint64_t)p->keys));
            unsigned r = (unsigned)rnd(rng, 100);
            uint8_t kind = r < 35 ? LC_PUT : r < 70 ? LC_GET : r < 80 ? LC_DELETE : LC_CAS;
            int64_t call = t, lin = call + (int64_t)rnd(rng, 30), ret = lin + (int64_t)rnd(rng, 30);
            o->op = mk(kind, c, call, ret, key);
            o->lin = lin;
            o->happened = true;
            if ((int)rnd(rng, 100) < p->unknown_pct) {
                o->op.unknown = true;
                o->op.return_ns = 0;
                o->happened = rnd(rng, 2) == 0;
                o->lin = call + (int64_t)rnd(rng, 300); /* may be long after the client gave up */
            }
            t = ret + (int64_t)rnd(rng, 15); /* may equal ret: touching operations */
        }
    }
    qsort(g, n, sizeof *g, gen_lin_cmp);
    /* Execute in linearization order. */
    bool present[64] = {false};
    char value[64][LC_STR_MAX];
    memset(value, 0, sizeof value);
    int counter = 0;
    for (size_t i = 0; i < n; i++) {
        struct lc_op *op = &g[i].op;
        int k = atoi(op->key + 1);
        if (op->kind == LC_PUT || op->kind == LC_CAS) {
            if (p->nvals > 0) snprintf(op->value, sizeof op->value, "v%d", (int)rnd(rng, (uint64_t)p->nvals));
            else snprintf(op->value, sizeof op->value, "c%d-%d", op->client, counter++);
        }
        if (op->kind == LC_CAS) {
            unsigned r = (unsigned)rnd(rng, 10);
            if (r < 6) { /* the current value: likely to swap */
                op->expect_present = present[k];
                if (present[k]) memcpy(op->expect, value[k], LC_STR_MAX);
            } else if (r < 7) {
                op->expect_present = false;
            } else {
                op->expect_present = true;
                snprintf(op->expect, sizeof op->expect, "v%d", (int)rnd(rng, 4));
            }
        }
        if (!g[i].happened) continue;
        switch (op->kind) {
        case LC_PUT:
            present[k] = true;
            memcpy(value[k], op->value, LC_STR_MAX);
            break;
        case LC_DELETE: present[k] = false; break;
        case LC_GET:
            op->present = present[k];
            if (present[k]) memcpy(op->value, value[k], LC_STR_MAX);
            break;
        case LC_CAS:
            op->ok = op->expect_present == present[k] && (!present[k] || strcmp(op->expect, value[k]) == 0);
            if (op->ok) memcpy(value[k], op->value, LC_STR_MAX);
            if (op->ok) present[k] = true;
            break;
        default: break;
        }
        if (op->unknown) op->ok = false; /* never learned */
    }
    for (size_t i = 0; i < n; i++) out[i] = g[i].op;
    free(g);
    for (size_t i = n; i > 1; i--) { /* any order */
        size_t j = (size_t)rnd(rng, i);
        struct lc_op tmp = out[i - 1];
        out[i - 1] = out[j];
        out[j] = tmp;
    }
    return n;
}

/*
 * Whether read r (known, on key r->key) provably cannot have read value v, which exactly one
 * operation w of the history writes: w was called after r returned, or some known write x of
 * another value (a PUT, a DELETE, a CAS that swapped) lies strictly between w and r in real
 * time, so every linearization puts x between them.
 */
static bool read_impossible(const struct lc_op *ops, size_t n, const struct lc_op *r, const struct lc_op *w)
{
    if (r->return_ns < w->call_ns) return true;
    if (w->unknown) return false;
    for (size_t i = 0; i < n; i++) {
        const struct lc_op *x = &ops[i];
        if (x == w || x->unknown || strcmp(x->key, r->key) != 0) continue;
        bool writes = x->kind == LC_PUT || x->kind == LC_DELETE || (x->kind == LC_CAS && x->ok);
        if (writes && w->return_ns < x->call_ns && x->return_ns < r->call_ns) return true;
    }
    return false;
}

START_TEST(random_histories)
{
    uint64_t rng = 0x11c4ec4u;
    const struct gen_params params[] = {
        {.clients = 3, .per_client = 30, .keys = 2, .nvals = 0, .unknown_pct = 0},
        {.clients = 4, .per_client = 40, .keys = 3, .nvals = 0, .unknown_pct = 5},
        {.clients = 5, .per_client = 30, .keys = 1, .nvals = 0, .unknown_pct = 10},
        {.clients = 4, .per_client = 40, .keys = 2, .nvals = 3, .unknown_pct = 5},
    };
    struct lc_op ops[200];
    int corrupted = 0, skipped = 0;
    for (int round = 0; round < 300; round++) {
        const struct gen_params *p = &params[round % (int)N_OF(params)];
        size_t n = gen_history(&rng, p, ops);
        enum lc_verdict v = lc_check(ops, n, 5000, explain, sizeof explain);
        ck_assert_msg(v == LC_LINEARIZABLE, "round %d: %d %s", round, v, explain);
        if (p->nvals != 0) continue;
        /* Corrupt one read: another value written to that key, when provably impossible. */
        size_t reads[200], nr = 0;
        for (size_t i = 0; i < n; i++)
            if (ops[i].kind == LC_GET && !ops[i].unknown) reads[nr++] = i;
        if (nr == 0) continue;
        struct lc_op *r = &ops[reads[rnd(&rng, nr)]];
        size_t writes[200], nw = 0;
        for (size_t i = 0; i < n; i++)
            if ((ops[i].kind == LC_PUT || ops[i].kind == LC_CAS) && strcmp(ops[i].key, r->key) == 0 &&
                !(r->present && strcmp(ops[i].value, r->value) == 0))
                writes[nw++] = i;
        if (nw == 0) {
            skipped++;
            continue;
        }
        const struct lc_op *w = &ops[writes[rnd(&rng, nw)]];
        if (!read_impossible(ops, n, r, w)) {
            skipped++;
            continue;
        }
        struct lc_op saved = *r;
        r->present = true;
        memcpy(r->value, w->value, LC_STR_MAX);
        v = lc_check(ops, n, 5000, explain, sizeof explain);
        ck_assert_msg(v == LC_NOT_LINEARIZABLE, "round %d: corrupted read accepted (%d)", round, v);
        char want[128];
        snprintf(want, sizeof want, "key \"%s\"", r->key);
        ck_assert_ptr_nonnull(strstr(explain, want));
        *r = saved;
        corrupted++;
    }
    ck_assert_int_ge(corrupted, 60); /* most corruptions are checkable */
    fprintf(stderr, "random_histories: %d corrupted reads rejected, %d skipped\n", corrupted, skipped);
}
END_TEST

/* ---- a brute-force reference for small histories ---- */

struct bf {
    const struct lc_op *ops;
    size_t n;
    bool placed[16];
    bool present[8];
    char value[8][LC_STR_MAX];
};

static int bf_key(const struct lc_op *op)
{
    return atoi(op->key + 1);
}

/* Tries every order of the remaining operations that real time allows; unknown ones may also
 * never happen, and an unknown CAS may or may not swap. */
static bool bf_search(struct bf *b, size_t known_left)
{
    if (known_left == 0) return true;
    for (size_t i = 0; i < b->n; i++) {
        if (b->placed[i]) continue;
        const struct lc_op *op = &b->ops[i];
        bool allowed = true;
        for (size_t j = 0; j < b->n && allowed; j++)
            if (j != i && !b->placed[j] && !b->ops[j].unknown && b->ops[j].return_ns < op->call_ns) allowed = false;
        if (!allowed) continue;
        int k = bf_key(op);
        bool old_present = b->present[k];
        char old_value[LC_STR_MAX];
        memcpy(old_value, b->value[k], LC_STR_MAX);
        bool matches = op->kind == LC_CAS && op->expect_present == b->present[k] &&
                       (!b->present[k] || strcmp(op->expect, b->value[k]) == 0);
        for (int variant = 0; variant < 2; variant++) {
            bool ok = true;
            switch (op->kind) {
            case LC_PUT:
                if (variant) continue;
                b->present[k] = true;
                memcpy(b->value[k], op->value, LC_STR_MAX);
                break;
            case LC_DELETE:
                if (variant) continue;
                b->present[k] = false;
                break;
            case LC_GET:
                if (variant) continue;
                if (!op->unknown)
                    ok = op->present == b->present[k] && (!op->present || strcmp(op->value, b->value[k]) == 0);
                break;
            case LC_CAS: {
                bool swap = op->unknown ? variant == 0 : op->ok;
                if (!op->unknown && variant) continue;
                if (op->unknown && swap && !matches) continue;
                if (!op->unknown) ok = op->ok == matches;
                if (ok && swap) {
                    b->present[k] = true;
                    memcpy(b->value[k], op->value, LC_STR_MAX);
                }
                break;
            }
            default: ok = false;
            }
            if (ok) {
                b->placed[i] = true;
                bool found = bf_search(b, known_left - (op->unknown ? 0 : 1));
                b->placed[i] = false;
                if (found) {
                    b->present[k] = old_present;
                    memcpy(b->value[k], old_value, LC_STR_MAX);
                    return true;
                }
            }
            b->present[k] = old_present;
            memcpy(b->value[k], old_value, LC_STR_MAX);
        }
    }
    return false;
}

static bool bf_linearizable(const struct lc_op *ops, size_t n)
{
    struct bf b;
    memset(&b, 0, sizeof b);
    b.ops = ops;
    b.n = n;
    size_t known = 0;
    for (size_t i = 0; i < n; i++) known += !ops[i].unknown;
    return bf_search(&b, known);
}

START_TEST(against_brute_force)
{
    uint64_t rng = 0xb27eu;
    struct lc_op ops[16];
    int agree_lin = 0, agree_not = 0;
    for (int round = 0; round < 3000; round++) {
        size_t n;
        if (round % 2 == 0) {
            /* A real execution, then maybe one output changed at random. */
            const struct gen_params p = {.clients = 3, .per_client = 3, .keys = 2, .nvals = 3, .unknown_pct = 15};
            n = gen_history(&rng, &p, ops);
            ck_assert_int_eq(lc_check(ops, n, 5000, explain, sizeof explain), LC_LINEARIZABLE);
            ck_assert(bf_linearizable(ops, n));
            struct lc_op *o = &ops[rnd(&rng, n)];
            if (o->kind == LC_GET) {
                o->present = rnd(&rng, 4) != 0;
                snprintf(o->value, sizeof o->value, "v%d", (int)rnd(&rng, 3));
            } else if (o->kind == LC_CAS) {
                o->ok = !o->ok;
            }
        } else {
            /* Pure noise: random operations, outputs and overlapping times. */
            n = 2 + (size_t)rnd(&rng, 7);
            for (size_t i = 0; i < n; i++) {
                int64_t call = (int64_t)rnd(&rng, 20), ret = call + (int64_t)rnd(&rng, 10);
                char key[8], v[8], e[8];
                snprintf(key, sizeof key, "k%d", (int)rnd(&rng, 2));
                snprintf(v, sizeof v, "v%d", (int)rnd(&rng, 3));
                snprintf(e, sizeof e, "v%d", (int)rnd(&rng, 3));
                switch (rnd(&rng, 4)) {
                case 0: ops[i] = put((int)i, call, ret, key, v); break;
                case 1: ops[i] = get((int)i, call, ret, key, rnd(&rng, 4) ? v : NULL); break;
                case 2: ops[i] = del((int)i, call, ret, key); break;
                default: ops[i] = cas((int)i, call, ret, key, rnd(&rng, 4) ? e : NULL, v, rnd(&rng, 2)); break;
                }
                if (rnd(&rng, 8) == 0) ops[i] = unknown(ops[i]);
            }
        }
        bool want = bf_linearizable(ops, n);
        enum lc_verdict got = lc_check(ops, n, 5000, explain, sizeof explain);
        ck_assert_msg(got == (want ? LC_LINEARIZABLE : LC_NOT_LINEARIZABLE), "round %d: checker %d, brute force %d",
                      round, got, want);
        if (want) agree_lin++;
        else agree_not++;
    }
    ck_assert_int_ge(agree_lin, 300);
    ck_assert_int_ge(agree_not, 300);
}
END_TEST

/* ---- size and budget ---- */

static double elapsed_ms(const struct timespec *a)
{
    struct timespec b;
    clock_gettime(CLOCK_MONOTONIC, &b);
    return (double)(b.tv_sec - a->tv_sec) * 1e3 + (double)(b.tv_nsec - a->tv_nsec) / 1e6;
}

START_TEST(size_4x500)
{
    uint64_t rng = 0x5123u;
    const struct gen_params p = {.clients = 4, .per_client = 500, .keys = 10, .nvals = 0, .unknown_pct = 2};
    struct lc_op *ops = calloc(2000, sizeof *ops);
    ck_assert_ptr_nonnull(ops);
    double worst = 0;
    for (int round = 0; round < 5; round++) {
        size_t n = gen_history(&rng, &p, ops);
        ck_assert_uint_eq(n, 2000);
        struct timespec t0;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        enum lc_verdict v = lc_check(ops, n, 5000, explain, sizeof explain);
        double ms = elapsed_ms(&t0);
        ck_assert_msg(v == LC_LINEARIZABLE, "%s", explain);
        if (ms > worst) worst = ms;
    }
    /* One key, all 2000 operations on it. */
    const struct gen_params one = {.clients = 4, .per_client = 500, .keys = 1, .nvals = 0, .unknown_pct = 2};
    size_t n = gen_history(&rng, &one, ops);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ck_assert_int_eq(lc_check(ops, n, 5000, explain, sizeof explain), LC_LINEARIZABLE);
    double one_ms = elapsed_ms(&t0);
    fprintf(stderr, "size_4x500: worst %.1f ms over 10 keys, %.1f ms on one key\n", worst, one_ms);
    ck_assert_msg(worst < 1000 && one_ms < 1000, "too slow: %.1f ms, %.1f ms", worst, one_ms);
    free(ops);
}
END_TEST

START_TEST(time_budget)
{
    /* 20 concurrent puts, 19 concurrent reads of them and one read of a value no one wrote:
     * the search can only fail after trying a vast number of orders. */
    struct lc_op ops[40];
    for (int i = 0; i < 20; i++) {
        char v[16];
        snprintf(v, sizeof v, "v%d", i);
        ops[i] = put(i, i, 1000 + i, "x", v);
        ops[20 + i] = get(20 + i, 20 + i, 1000 + i, "x", i == 19 ? "never" : v);
    }
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    enum lc_verdict v = lc_check(ops, 40, 100, explain, sizeof explain);
    double ms = elapsed_ms(&t0);
    ck_assert_int_eq(v, LC_TIMEOUT);
    ck_assert_ptr_nonnull(strstr(explain, "gave up"));
    ck_assert_msg(ms < 2000, "budget of 100 ms took %.1f ms", ms);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("lincheck");
    TCase *tc = tcase_create("lincheck");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, empty_and_sequential);
    tcase_add_test(tc, concurrent_puts_and_gets);
    tcase_add_test(tc, cas_race);
    tcase_add_test(tc, stale_read);
    tcase_add_test(tc, value_never_written);
    tcase_add_test(tc, read_back_in_time);
    tcase_add_test(tc, equal_times_are_concurrent);
    tcase_add_test(tc, unknown_outcomes);
    tcase_add_test(tc, many_unknown_ops);
    tcase_add_test(tc, many_keys);
    tcase_add_test(tc, random_histories);
    tcase_add_test(tc, against_brute_force);
    tcase_add_test(tc, size_4x500);
    tcase_add_test(tc, time_budget);
    suite_add_tcase(s, tc);
    return testutil_run_suite(s, false);
}
