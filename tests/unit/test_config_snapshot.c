/*
 * test_config_snapshot.c - the config store's snapshots (config/config.h "Snapshot
 * layout"): the layout built by hand, round trips of busy and empty stores that then behave
 * the same, and strict refusal of damaged or inconsistent snapshots.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/bytes.h"
#include "common/keccak.h"
#include "common/secp.h"
#include "config/config.h"
#include "config_store_util.h"
#include "testutil.h"

START_TEST(snapshot_layout_by_hand_matches)
{
    struct cs_store *s = new_store();
    struct cs_request r1, r2;
    req_init(&r1);
    add_put(&r1, false, "a", "1");
    assert_ok(run(s, &r1), 1);
    req_init(&r2);
    add_put(&r2, false, "b", "22");
    add_delete(&r2, false, "a", false);
    assert_ok(run_as(s, &r2, admin_key), 2);

    struct hand h = {.n = 0};
    h_bytes(&h, "CCS1", 4);
    h_uint(&h, INSTANCE, 8);
    h_uint(&h, 2, 8), h_uint(&h, 0, 8);            /* revision, compact revision */
    h_uint(&h, 1, 4), h_uint(&h, 3, 4), h_uint(&h, 2, 4); /* keys, events, dedup entries */
    h_uint(&h, 1, 2), h_bytes(&h, "b", 1), h_uint(&h, 2, 4), h_bytes(&h, "22", 2);
    h_uint(&h, 2, 8), h_uint(&h, 2, 8), h_uint(&h, 1, 8);
    h_uint(&h, CS_OP_PUT, 1), h_uint(&h, 1, 2), h_bytes(&h, "a", 1), h_uint(&h, 1, 4), h_bytes(&h, "1", 1);
    h_uint(&h, 1, 8), h_uint(&h, 1, 8), h_uint(&h, 1, 8);
    h_uint(&h, CS_OP_PUT, 1), h_uint(&h, 1, 2), h_bytes(&h, "b", 1), h_uint(&h, 2, 4), h_bytes(&h, "22", 2);
    h_uint(&h, 2, 8), h_uint(&h, 2, 8), h_uint(&h, 1, 8);
    h_uint(&h, CS_OP_DELETE, 1), h_uint(&h, 1, 2), h_bytes(&h, "a", 1), h_uint(&h, 0, 4);
    h_uint(&h, 2, 8), h_uint(&h, 0, 8), h_uint(&h, 0, 8);
    h_bytes(&h, member_addr[0], 20), h_bytes(&h, r1.id, 16), h_uint(&h, 1, 8), h_uint(&h, 1, 1);
    h_bytes(&h, admin_addr, 20), h_bytes(&h, r2.id, 16), h_uint(&h, 2, 8), h_uint(&h, 1, 1);
    uint8_t checksum[32];
    keccak256(h.b, h.n, checksum);
    h_bytes(&h, checksum, 32);

    size_t len;
    uint8_t *bytes = snap(s, &len);
    ck_assert_uint_eq(len, h.n);
    ck_assert_int_eq(memcmp(bytes, h.b, len), 0);
    free(bytes);
    /* And the bytes by hand restore to the same store. */
    struct cs_store *t = new_store();
    restore_ok(t, h.b, h.n);
    assert_same_state(s, t);
    cs_store_destroy(s);
    cs_store_destroy(t);
}
END_TEST

START_TEST(snapshot_round_trip_of_a_busy_store)
{
    /* Puts, deletes and transactions; the history past its byte cap (64 KiB values); the
     * dedup window wrapped around; the last entries a failed transaction and a put. */
    static uint8_t big[CS_VALUE_MAX];
    memset(big, 'x', sizeof big);
    struct cs_store *a = new_store();
    assert_ok(put(a, "cfg/a", "1"), 1);
    assert_ok(put(a, "cfg/b", "2"), 2);
    assert_ok(put(a, "cfg/a", "3"), 3);
    assert_ok(del(a, "cfg/b", false), 4);
    put_many(a, "big/", 2, 0, 15, big, sizeof big, 15);
    const uint64_t first_big = cs_store_revision(a);
    for (int i = 0; i < 70; i++) put_many(a, "big/", 2, 0, 15, big, sizeof big, 15);
    uint64_t next;
    ck_assert_ptr_null(watch(a, 1, NULL, 0, &next, CS_E_COMPACTED));
    struct cs_request r;
    req_init(&r);
    add_compare_value(&r, "cfg/a", CS_CMP_EQUAL, "3");
    add_put(&r, false, "cfg/c", "");
    add_delete(&r, false, "big/0", true);
    add_range(&r, false, "cfg/", true);
    add_put(&r, true, "never", "1");
    struct got *g = run(a, &r);
    ck_assert_int_eq(g->status, CS_OK);
    ck_assert(g->succeeded);
    ck_assert_uint_eq(g->deleted, 10);

    enum { EXTRA = 10, EARLY = EXTRA + 4 };
    static uint8_t early[EARLY][256];
    static size_t early_len[EARLY];
    for (uint32_t i = 0; i < CS_DEDUP_WINDOW + EXTRA; i++) {
        req_init(&r);
        add_range(&r, false, "cfg/a", false);
        size_t len = sign_into(&r, member_key[i % NMEMBERS], wire, sizeof wire);
        if (i < EARLY) {
            memcpy(early[i], wire, len);
            early_len[i] = len;
        }
        ck_assert_int_eq(cs_store_apply(a, wire, len, NULL, NULL), CS_OK);
    }
    /* The last two applied: a failed transaction, then a put. */
    static uint8_t failed[512], last[512];
    req_init(&r);
    add_compare_number(&r, "cfg/a", CS_TARGET_VERSION, CS_CMP_GREATER, 5);
    add_put(&r, false, "no", "1");
    add_put(&r, true, "cfg/d", "failed");
    size_t failed_len = sign_into(&r, member_key[1], failed, sizeof failed);
    g = apply_bytes(a, failed, failed_len);
    ck_assert_int_eq(g->status, CS_OK);
    ck_assert(!g->succeeded);
    const uint64_t failed_revision = g->revision;
    req_init(&r);
    add_put(&r, false, "cfg/e", "last");
    size_t last_len = sign_into(&r, admin_key, last, sizeof last);
    assert_ok(apply_bytes(a, last, last_len), failed_revision + 1);
    const uint64_t revision = cs_store_revision(a);

    /* Into a fresh store: the same state. */
    size_t len;
    uint8_t *bytes = snap(a, &len);
    ck_assert_uint_le(len, CS_SNAPSHOT_MAX);
    struct cs_store *b = new_store();
    restore_ok(b, bytes, len);
    free(bytes);
    assert_same_state(a, b);
    ck_assert_uint_eq(cs_store_revision(b), revision);
    struct collected ca = {0}, cb = {0};
    ck_assert_uint_eq(cs_store_range(a, NULL, 0, true, 0, collect_kv, &ca),
                      cs_store_range(b, NULL, 0, true, 0, collect_kv, &cb));
    ck_assert_uint_eq(ca.n, 9); /* big/10..14, cfg/a, cfg/c, cfg/d, cfg/e */
    for (size_t i = 0; i < ca.n; i++) assert_same_kv(&ca.kv[i], &cb.kv[i]);

    /* The same watches, from before the history, at its start, inside it, at its end, after. */
    struct cohort_error err = {0};
    ck_assert_int_eq(cs_store_watch(b, 0, NULL, 0, 0, NULL, NULL, &next, &err), CS_E_COMPACTED);
    ck_assert_int_eq(assert_same_watch(a, b, 1, NULL, 0), CS_E_COMPACTED);
    ck_assert_int_eq(assert_same_watch(a, b, first_big, NULL, 0), CS_E_COMPACTED);
    /* The oldest revision kept: the error of the one before it names it. */
    const char *starts = strstr(err.message, "starts at revision ");
    ck_assert_ptr_nonnull(starts);
    uint64_t oldest = strtoull(starts + strlen("starts at revision "), NULL, 10);
    ck_assert_uint_gt(oldest, first_big);
    ck_assert_int_eq(assert_same_watch(a, b, oldest - 1, NULL, 0), CS_E_COMPACTED);
    ck_assert_int_gt(assert_same_watch(a, b, oldest, NULL, 0), 900);
    ck_assert_int_gt(assert_same_watch(a, b, oldest + 7, "big/1", 0), 0);
    ck_assert_int_gt(assert_same_watch(a, b, oldest + 3, NULL, 20), 0);
    ck_assert_int_eq(assert_same_watch(a, b, failed_revision, "cfg/", 0), 2); /* cfg/d, then cfg/e */
    ck_assert_int_eq(assert_same_watch(a, b, revision, NULL, 0), 1);
    ck_assert_int_eq(assert_same_watch(a, b, revision + 1, NULL, 0), 0);

    /* Duplicates report what they did on both: the failed transaction, the put. */
    struct got ga;
    ck_assert_int_eq(apply_both(a, b, failed, failed_len, &ga), CS_E_DUPLICATE);
    ck_assert_uint_eq(ga.revision, failed_revision);
    ck_assert(!ga.succeeded);
    ck_assert_int_eq(apply_both(a, b, last, last_len, &ga), CS_E_DUPLICATE);
    ck_assert_uint_eq(ga.revision, revision);

    /* The window forgets in the same order: it holds the range requests from EXTRA + 2 on
     * (the failed transaction and the put pushed out two more), oldest first. */
    ck_assert_int_eq(apply_both(a, b, early[EXTRA + 2], early_len[EXTRA + 2], NULL), CS_E_DUPLICATE);
    /* early[0] was forgotten: it applies, and the window forgets its oldest, EXTRA + 2, */
    ck_assert_int_eq(apply_both(a, b, early[0], early_len[0], NULL), CS_OK);
    /* which applies again in turn, forgetting EXTRA + 3, */
    ck_assert_int_eq(apply_both(a, b, early[EXTRA + 2], early_len[EXTRA + 2], NULL), CS_OK);
    ck_assert_int_eq(apply_both(a, b, early[EXTRA + 3], early_len[EXTRA + 3], NULL), CS_OK);
    /* while early[0] is remembered now, and EXTRA + 1 was forgotten from the start. */
    ck_assert_int_eq(apply_both(a, b, early[0], early_len[0], NULL), CS_E_DUPLICATE);
    ck_assert_int_eq(apply_both(a, b, early[EXTRA + 1], early_len[EXTRA + 1], NULL), CS_OK);

    /* The same further entries: the same results and digests, evicting the same history. */
    for (int i = 0; i < 20; i++) {
        req_init(&r);
        char key[16];
        snprintf(key, sizeof key, "big/%02d", i % 15);
        add_put_n(&r, false, key, big, sizeof big);
        add_put(&r, false, "cfg/a", i % 2 ? "odd" : "even");
        if (i % 5 == 0) add_delete(&r, false, "cfg/", true);
        ck_assert_int_eq(run_both(a, b, &r, member_key[i % NMEMBERS]), CS_OK);
    }
    req_init(&r);
    add_compare_value(&r, "cfg/a", CS_CMP_EQUAL, "odd");
    add_range(&r, false, "big/", true);
    add_delete(&r, true, "big/", true);
    ck_assert_int_eq(run_both(a, b, &r, admin_key), CS_OK);
    assert_same_state(a, b);
    ck_assert_int_eq(assert_same_watch(a, b, oldest, NULL, 0), CS_E_COMPACTED);
    ck_assert_int_gt(assert_same_watch(a, b, cs_store_revision(a) - 15, NULL, 0), 0);
    cs_store_destroy(a);
    cs_store_destroy(b);
}
END_TEST

START_TEST(snapshot_of_an_empty_store)
{
    struct cs_store *empty = new_store();
    size_t len;
    uint8_t *bytes = snap(empty, &len);
    ck_assert_uint_eq(len, 40 + 32);
    ck_assert_int_eq(memcmp(bytes, "CCS1", 4), 0);
    /* Restored over a store with keys, history and dedup entries: all of it goes. */
    struct cs_store *s = new_store();
    assert_ok(put(s, "a", "1"), 1);
    assert_ok(put(s, "b", "2"), 2);
    restore_ok(s, bytes, len);
    free(bytes);
    assert_same_state(empty, s);
    ck_assert_uint_eq(cs_store_revision(s), 0);
    ck_assert(!get(s, "a", NULL));
    uint64_t next;
    ck_assert_uint_eq(watch(s, 0, NULL, 0, &next, 0)->n, 0);
    ck_assert_uint_eq(next, 1);
    /* The same request applies to both, and the next one too. */
    struct cs_request r;
    req_init(&r);
    add_put(&r, false, "a", "1");
    ck_assert_int_eq(run_both(empty, s, &r, member_key[0]), CS_OK);
    ck_assert_int_eq(run_both(empty, s, &r, member_key[0]), CS_E_DUPLICATE);
    assert_same_state(empty, s);
    ck_assert_int_eq(assert_same_watch(empty, s, 0, NULL, 0), 1);
    cs_store_destroy(empty);
    cs_store_destroy(s);
}
END_TEST

/* A small store with a key of an empty value, a deleted key, and a failed transaction. */
static struct cs_store *small_store(void)
{
    struct cs_store *s = new_store();
    assert_ok(put(s, "a", "1"), 1);
    assert_ok(put(s, "b", ""), 2);
    assert_ok(put(s, "c", "3"), 3);
    assert_ok(del(s, "a", false), 4);
    struct cs_request r;
    req_init(&r);
    add_compare_value(&r, "c", CS_CMP_EQUAL, "no");
    add_put(&r, true, "c", "4");
    ck_assert_int_eq(run(s, &r)->status, CS_OK);
    return s;
}

/* Restoring bytes into s fails with code and a message holding words; s is unchanged. */
static void expect_snapshot_refused(struct cs_store *s, const uint8_t *bytes, size_t len, int code, const char *words)
{
    size_t before_len, after_len;
    uint8_t *before = snap(s, &before_len);
    struct cohort_error err = {0};
    int rc = cs_store_restore(s, bytes, len, &err);
    ck_assert_msg(rc == code, "expected %d (%s), got %d: %s", code, words ? words : "", rc, err.message);
    ck_assert_int_eq(err.code, code);
    ck_assert_str_eq(err.domain, "config");
    ck_assert_msg(strncmp(err.message, "snapshot: ", 10) == 0, "%s", err.message);
    if (words) ck_assert_msg(strstr(err.message, words) != NULL, "message \"%s\" lacks \"%s\"", err.message, words);
    uint8_t *after = snap(s, &after_len);
    ck_assert_uint_eq(before_len, after_len);
    ck_assert_int_eq(memcmp(before, after, before_len), 0);
    free(before);
    free(after);
}

/* A snapshot built by hand from the header's diagram (struct hand is 4 KiB: small ones). */
static void s_header(struct hand *h, uint64_t instance, uint64_t revision, uint64_t compact, uint64_t nkeys,
                     uint64_t nevents, uint64_t ndedup)
{
    h->n = 0;
    h_bytes(h, "CCS1", 4);
    h_uint(h, instance, 8), h_uint(h, revision, 8), h_uint(h, compact, 8);
    h_uint(h, nkeys, 4), h_uint(h, nevents, 4), h_uint(h, ndedup, 4);
}

static void s_key(struct hand *h, const char *key, const char *value, uint64_t create, uint64_t mod, uint64_t version)
{
    h_uint(h, strlen(key), 2), h_bytes(h, key, strlen(key));
    h_uint(h, strlen(value), 4), h_bytes(h, value, strlen(value));
    h_uint(h, create, 8), h_uint(h, mod, 8), h_uint(h, version, 8);
}

static void s_event(struct hand *h, uint8_t type, const char *key, const char *value, uint64_t revision,
                    uint64_t create, uint64_t version)
{
    h_uint(h, type, 1);
    h_uint(h, strlen(key), 2), h_bytes(h, key, strlen(key));
    h_uint(h, strlen(value), 4), h_bytes(h, value, strlen(value));
    h_uint(h, revision, 8), h_uint(h, create, 8), h_uint(h, version, 8);
}

static void s_dedup(struct hand *h, uint8_t id, uint64_t revision, uint8_t succeeded)
{
    uint8_t key[36] = {0};
    key[35] = id;
    h_bytes(h, key, 36), h_uint(h, revision, 8), h_uint(h, succeeded, 1);
}

static void s_finish(struct hand *h)
{
    uint8_t checksum[32];
    keccak256(h->b, h->n, checksum);
    h_bytes(h, checksum, 32);
}

/* Revision 2: "a" put at 1, "b" at 2; two dedup entries. Valid: the base of the bad ones. */
static void s_valid(struct hand *h)
{
    s_header(h, INSTANCE, 2, 0, 2, 2, 2);
    s_key(h, "a", "1", 1, 1, 1);
    s_key(h, "b", "2", 2, 2, 1);
    s_event(h, CS_OP_PUT, "a", "1", 1, 1, 1);
    s_event(h, CS_OP_PUT, "b", "2", 2, 2, 1);
    s_dedup(h, 1, 1, 1);
    s_dedup(h, 2, 2, 1);
    s_finish(h);
}

START_TEST(snapshot_refuses_bad_input)
{
    struct cs_store *s = small_store();
    size_t len;
    uint8_t *good = snap(s, &len);
    struct cs_store *fresh = new_store();
    restore_ok(fresh, good, len);
    assert_same_state(s, fresh);

    /* Every prefix, each in a buffer of exactly its length, so the sanitizers see overreads. */
    for (size_t cut = 0; cut < len; cut++) {
        uint8_t *copy = malloc(cut ? cut : 1);
        memcpy(copy, good, cut);
        expect_snapshot_refused(s, copy, cut, CS_E_INVALID, cut < 72 ? "cut off" : "checksum");
        free(copy);
    }
    /* Every prefix of the body with its own checksum: cut off, never read past. */
    for (size_t cut = 40; cut < len - 32; cut++) {
        uint8_t *copy = malloc(cut + 32);
        memcpy(copy, good, cut);
        keccak256(copy, cut, copy + cut);
        /* "cut off" where a field starts past the end, "counts" while too few bytes are left
         * for the records the header counts. */
        expect_snapshot_refused(s, copy, cut + 32, CS_E_INVALID, NULL);
        free(copy);
    }
    /* A byte appended to the body, re-checksummed: trailing. */
    uint8_t *longer = malloc(len + 1);
    memcpy(longer, good, len - 32);
    longer[len - 32] = 0;
    keccak256(longer, len - 31, longer + len - 31);
    expect_snapshot_refused(s, longer, len + 1, CS_E_INVALID, "1 trailing bytes");
    free(longer);
    /* A flipped bit anywhere: the checksum (or, in the magic, the magic). */
    for (size_t i = 0; i < len; i++) {
        good[i] ^= (uint8_t)(1u << (i % 8));
        expect_snapshot_refused(s, good, len, CS_E_INVALID, i < 4 ? "magic" : "checksum");
        good[i] ^= (uint8_t)(1u << (i % 8));
    }
    expect_snapshot_refused(s, NULL, 5, CS_E_INVALID, "NULL");
    /* The length is checked before any byte is read (good is far shorter than this). */
    expect_snapshot_refused(s, good, (size_t)CS_SNAPSHOT_MAX + 1, CS_E_RANGE, "over the cap");

    /* Another cluster's snapshot: both instances named. */
    struct cohort_error err = {0};
    struct cs_store *other = cs_store_create(INSTANCE + 1, (const uint8_t(*)[20])member_addr, NMEMBERS, NULL, 0, &err);
    ck_assert_ptr_nonnull(other);
    size_t other_len;
    uint8_t *theirs = snap(other, &other_len);
    expect_snapshot_refused(s, theirs, other_len, CS_E_INSTANCE, "0x1122334455667789");
    expect_snapshot_refused(s, theirs, other_len, CS_E_INSTANCE, "0x1122334455667788");
    free(theirs);
    cs_store_destroy(other);

    /* By hand: the valid base, then one thing wrong in each. */
    struct hand h;
    s_valid(&h);
    struct cs_store *t = new_store();
    restore_ok(t, h.b, h.n);
    ck_assert_uint_eq(cs_store_revision(t), 2);
    cs_store_destroy(t);

    h.n = 0, h_bytes(&h, "CCR1", 4), h_uint(&h, INSTANCE, 8);
    expect_snapshot_refused(s, h.b, h.n, CS_E_INVALID, "not \"CCS1\"");
    /* Keys out of order, or twice. Key 0 is 32 bytes from offset 40. */
    s_header(&h, INSTANCE, 2, 0, 2, 2, 0);
    s_key(&h, "b", "2", 2, 2, 1);
    s_key(&h, "a", "1", 1, 1, 1);
    s_event(&h, CS_OP_PUT, "a", "1", 1, 1, 1);
    s_event(&h, CS_OP_PUT, "b", "2", 2, 2, 1);
    s_finish(&h);
    expect_snapshot_refused(s, h.b, h.n, CS_E_INVALID, "snapshot: key 1 at offset 72: not after the key before it");
    s_header(&h, INSTANCE, 2, 0, 2, 2, 0);
    s_key(&h, "a", "2", 2, 2, 1);
    s_key(&h, "a", "1", 1, 1, 1);
    s_event(&h, CS_OP_PUT, "a", "1", 1, 1, 1);
    s_event(&h, CS_OP_PUT, "b", "2", 2, 2, 1);
    s_finish(&h);
    expect_snapshot_refused(s, h.b, h.n, CS_E_INVALID, "key 1 at offset 72: not after");
    /* "a/" sorts after "a" (a shorter key first). */
    s_header(&h, INSTANCE, 2, 0, 2, 2, 0);
    s_key(&h, "a/", "2", 2, 2, 1);
    s_key(&h, "a", "1", 1, 1, 1);
    s_event(&h, CS_OP_PUT, "a", "1", 1, 1, 1);
    s_event(&h, CS_OP_PUT, "a/", "2", 2, 2, 1);
    s_finish(&h);
    expect_snapshot_refused(s, h.b, h.n, CS_E_INVALID, "key 1 at offset 73: not after");

    /* Counts over their caps, and counts the bytes cannot hold. */
    s_header(&h, INSTANCE, 2, 0, CS_KEYS_MAX + 1, 0, 0), s_finish(&h);
    expect_snapshot_refused(s, h.b, h.n, CS_E_RANGE, "key count at offset 28: is 100001, over the cap");
    s_header(&h, INSTANCE, 2, 0, 0, 0xffffffffu, 0), s_finish(&h);
    expect_snapshot_refused(s, h.b, h.n, CS_E_RANGE, "event count at offset 32");
    s_header(&h, INSTANCE, 2, 0, 0, 0, CS_DEDUP_WINDOW + 1), s_finish(&h);
    expect_snapshot_refused(s, h.b, h.n, CS_E_RANGE, "dedup count at offset 36: is 100001, over the cap");
    s_header(&h, INSTANCE, 2, 0, CS_KEYS_MAX, 0, 0), s_finish(&h);
    expect_snapshot_refused(s, h.b, h.n, CS_E_INVALID, "counts at offset 28");

    /* Lengths. */
    s_header(&h, INSTANCE, 1, 0, 1, 1, 0);
    h_uint(&h, 0, 2), h_uint(&h, 0, 4), h_uint(&h, 1, 8), h_uint(&h, 1, 8), h_uint(&h, 1, 8);
    s_event(&h, CS_OP_PUT, "a", "1", 1, 1, 1); /* 63 bytes: as many as the counts need at least */
    s_finish(&h);
    expect_snapshot_refused(s, h.b, h.n, CS_E_INVALID, "key 0 key length at offset 40: is 0");
    s_header(&h, INSTANCE, 1, 0, 1, 1, 0);
    h_uint(&h, CS_KEY_MAX + 1, 2);
    for (int i = 0; i < CS_KEY_MAX + 1; i++) h_bytes(&h, "k", 1);
    h_uint(&h, 0, 4), h_uint(&h, 1, 8), h_uint(&h, 1, 8), h_uint(&h, 1, 8);
    s_event(&h, CS_OP_PUT, "a", "", 1, 1, 1);
    s_finish(&h);
    expect_snapshot_refused(s, h.b, h.n, CS_E_RANGE, "key 0 key length at offset 40: is 513 bytes, over the cap");
    s_header(&h, INSTANCE, 1, 0, 1, 1, 0);
    h_uint(&h, 1, 2), h_bytes(&h, "a", 1), h_uint(&h, CS_VALUE_MAX + 1, 4);
    for (int i = 0; i < 16; i++) h_uint(&h, 0, 8);
    s_finish(&h);
    expect_snapshot_refused(s, h.b, h.n, CS_E_RANGE, "key 0 value length at offset 43: is 65537 bytes");
    s_header(&h, INSTANCE, 1, 0, 1, 1, 0);
    h_uint(&h, 1, 2), h_bytes(&h, "a", 1), h_uint(&h, 1000, 4);
    for (int i = 0; i < 16; i++) h_uint(&h, 0, 8);
    s_finish(&h);
    expect_snapshot_refused(s, h.b, h.n, CS_E_INVALID, "key 0 value at offset 47: cut off");

    /* Revisions of keys. */
    const struct {
        uint64_t create, mod, version;
        const char *words;
    } bad_keys[] = {
        {0, 1, 1, "key 0 create revision at offset 48: is 0"},
        {2, 1, 1, "create revision at offset 48: 2 is after the mod revision 1"},
        {1, 3, 1, "mod revision at offset 56: 3 is after the store's revision 2"},
        {1, 1, 0, "key 0 version at offset 64: is 0"},
        {1, 1, 17, "key 0 version at offset 64: is 17, more puts than revisions 1 to 1 can hold"},
        {1, 2, 33, "key 0 version at offset 64: is 33, more puts than revisions 1 to 2"},
    };
    for (size_t i = 0; i < sizeof bad_keys / sizeof bad_keys[0]; i++) {
        s_header(&h, INSTANCE, 2, 0, 1, 2, 0);
        s_key(&h, "a", "1", bad_keys[i].create, bad_keys[i].mod, bad_keys[i].version);
        s_event(&h, CS_OP_PUT, "a", "1", 1, 1, 1);
        s_event(&h, CS_OP_DELETE, "b", "", 2, 0, 0);
        s_finish(&h);
        expect_snapshot_refused(s, h.b, h.n, CS_E_INVALID, bad_keys[i].words);
    }
    /* 16 puts a revision is the most: version 32 over revisions 1 and 2 restores. */
    s_header(&h, INSTANCE, 2, 0, 1, 2, 0);
    s_key(&h, "a", "1", 1, 2, 32);
    s_event(&h, CS_OP_PUT, "a", "1", 1, 1, 16);
    s_event(&h, CS_OP_PUT, "a", "1", 2, 1, 32);
    s_finish(&h);
    t = new_store();
    restore_ok(t, h.b, h.n);
    cs_store_destroy(t);
    s_header(&h, INSTANCE, 2, 0, 0, 2, 0);
    s_event(&h, CS_OP_PUT, "a", "1", 1, 1, 16);
    s_event(&h, CS_OP_PUT, "a", "1", 2, 1, 33);
    s_finish(&h);
    expect_snapshot_refused(s, h.b, h.n, CS_E_INVALID, "event 1 version at offset 98: is 33, more puts");
    /* Revisions up to CS_REVISION_MAX, so that none wraps. */
    s_header(&h, INSTANCE, CS_REVISION_MAX + 1, CS_REVISION_MAX, 0, 1, 0);
    s_event(&h, CS_OP_DELETE, "a", "", CS_REVISION_MAX + 1, 0, 0);
    s_finish(&h);
    expect_snapshot_refused(s, h.b, h.n, CS_E_RANGE, "revision at offset 12: is 288230376151711745, over the cap");
    s_header(&h, INSTANCE, CS_REVISION_MAX, CS_REVISION_MAX - 1, 0, 1, 0);
    s_event(&h, CS_OP_DELETE, "a", "", CS_REVISION_MAX, 0, 0);
    s_finish(&h);
    t = new_store();
    restore_ok(t, h.b, h.n);
    ck_assert_uint_eq(cs_store_revision(t), CS_REVISION_MAX);
    cs_store_destroy(t);

    s_header(&h, INSTANCE, 2, 2, 0, 0, 0), s_finish(&h);
    expect_snapshot_refused(s, h.b, h.n, CS_E_INVALID, "compact revision at offset 20: 2 is not before the revision 2");
    s_header(&h, INSTANCE, 2, 3, 0, 0, 0), s_finish(&h);
    expect_snapshot_refused(s, h.b, h.n, CS_E_INVALID, "compact revision at offset 20: 3 is not before");

    /* The history: every revision after the compact one, in order, no gap; well-formed events.
     * Events start at offset 40 (no keys), 33 bytes each with a one-byte key and value. */
    const struct {
        uint64_t compact;
        uint8_t type[2];
        const char *value[2];
        uint64_t revision[2], create[2], version[2];
        const char *words;
    } bad_events[] = {
        {0, {CS_OP_PUT, CS_OP_PUT}, {"1", "2"}, {2, 2}, {1, 1}, {1, 2},
         "event 0 revision at offset 49: is 2, not 1"},
        {1, {CS_OP_PUT, CS_OP_PUT}, {"1", "2"}, {1, 2}, {1, 1}, {1, 2},
         "event 0 revision at offset 49: is 1, not 2"},
        {0, {CS_OP_PUT, CS_OP_PUT}, {"1", "2"}, {1, 3}, {1, 1}, {1, 2},
         "event 1 revision at offset 82: is 3, not the one before it or 1"},
        {0, {CS_OP_PUT, CS_OP_PUT}, {"1", "2"}, {1, 1}, {1, 1}, {1, 2},
         "history at offset 106: ends at revision 1, but the store is at revision 2"},
        {0, {CS_OP_PUT, 3}, {"1", "2"}, {1, 2}, {1, 1}, {1, 2},
         "event 1 type at offset 73: is 3"},
        {0, {CS_OP_PUT, CS_OP_PUT}, {"1", "2"}, {1, 2}, {0, 1}, {1, 2},
         "event 0 create revision at offset 57: is 0, not in 1..1"},
        {0, {CS_OP_PUT, CS_OP_PUT}, {"1", "2"}, {1, 2}, {1, 3}, {1, 2},
         "event 1 create revision at offset 90: is 3, not in 1..2"},
        {0, {CS_OP_PUT, CS_OP_PUT}, {"1", "2"}, {1, 2}, {1, 1}, {1, 0},
         "event 1 version at offset 98: is 0"},
        {0, {CS_OP_PUT, CS_OP_DELETE}, {"1", "2"}, {1, 2}, {1, 0}, {1, 0},
         "event 1 value length at offset 77: is 1, but a delete's value is empty"},
        {0, {CS_OP_PUT, CS_OP_DELETE}, {"1", ""}, {1, 2}, {1, 1}, {1, 0},
         "event 1 create revision at offset 89: and version are 1 and 0, but a delete's are 0"},
    };
    for (size_t i = 0; i < sizeof bad_events / sizeof bad_events[0]; i++) {
        s_header(&h, INSTANCE, 2, bad_events[i].compact, 0, 2, 0);
        for (int k = 0; k < 2; k++)
            s_event(&h, bad_events[i].type[k], "a", bad_events[i].value[k], bad_events[i].revision[k],
                    bad_events[i].create[k], bad_events[i].version[k]);
        s_finish(&h);
        expect_snapshot_refused(s, h.b, h.n, CS_E_INVALID, bad_events[i].words);
    }
    s_header(&h, INSTANCE, 2, 0, 0, 0, 0), s_finish(&h);
    expect_snapshot_refused(s, h.b, h.n, CS_E_INVALID,
                            "history at offset 40: ends at revision 0, but the store is at revision 2");

    /* The dedup window: oldest first, each request once, revisions up to the store's. */
    const struct {
        uint8_t id[2];
        uint64_t revision[2];
        uint8_t succeeded[2];
        const char *words;
    } bad_dedup[] = {
        {{1, 1}, {1, 2}, {1, 1}, "dedup entry 1 signer and id at offset 117: are those of an entry before it"},
        {{1, 2}, {2, 1}, {1, 1}, "dedup entry 1 revision at offset 153: 1 is before the revision 2"},
        {{1, 2}, {1, 3}, {1, 1}, "dedup entry 1 revision at offset 153: 3 is after the store's revision 2"},
        {{1, 2}, {1, 2}, {1, 2}, "dedup entry 1 succeeded at offset 161: is 2, not 0 or 1"},
    };
    for (size_t i = 0; i < sizeof bad_dedup / sizeof bad_dedup[0]; i++) {
        s_header(&h, INSTANCE, 2, 1, 0, 1, 2);
        s_event(&h, CS_OP_DELETE, "a", "", 2, 0, 0);
        for (int k = 0; k < 2; k++)
            s_dedup(&h, bad_dedup[i].id[k], bad_dedup[i].revision[k], bad_dedup[i].succeeded[k]);
        s_finish(&h);
        expect_snapshot_refused(s, h.b, h.n, CS_E_INVALID, bad_dedup[i].words);
    }
    /* A store that refused all of these still works, and matches one that refused none. */
    uint8_t d1[32], d2[32];
    cs_store_digest(s, d1);
    cs_store_digest(fresh, d2);
    ck_assert_mem_eq(d1, d2, 32);
    assert_same_state(s, fresh);
    free(good);
    cs_store_destroy(fresh);
    cs_store_destroy(s);
}
END_TEST

/* A snapshot of n events (n > 1): a put of "a" at revision 1, then deletes of it at revision last. */
static uint8_t *many_events(uint64_t n, uint64_t last, size_t *len)
{
    const size_t event = 1 + 2 + 1 + 4 + 24;
    *len = 40 + n * event + 32;
    uint8_t *b = malloc(*len);
    ck_assert_ptr_nonnull(b);
    struct byte_writer w = {b, *len, 0, false};
    bw_bytes(&w, "CCS1", 4);
    bw_u64(&w, INSTANCE), bw_u64(&w, last), bw_u64(&w, 0);
    bw_u32(&w, 0), bw_u32(&w, (uint32_t)n), bw_u32(&w, 0);
    bw_u8(&w, CS_OP_PUT), bw_u16(&w, 1), bw_bytes(&w, "a", 1), bw_u32(&w, 0);
    bw_u64(&w, 1), bw_u64(&w, 1), bw_u64(&w, 1);
    for (uint64_t i = 1; i < n; i++) {
        bw_u8(&w, CS_OP_DELETE), bw_u16(&w, 1), bw_bytes(&w, "a", 1), bw_u32(&w, 0);
        bw_u64(&w, last), bw_u64(&w, 0), bw_u64(&w, 0);
    }
    keccak256(b, w.len, b + w.len);
    w.len += 32;
    ck_assert(!w.overflow);
    ck_assert_uint_eq(w.len, *len);
    return b;
}

START_TEST(snapshot_history_past_its_caps_is_one_revision)
{
    struct cs_store *s = small_store();
    /* CS_HISTORY_MAX + 1 events over two revisions: history_evict would have taken the first. */
    size_t len;
    uint8_t *bytes = many_events(CS_HISTORY_MAX + 1, 2, &len);
    expect_snapshot_refused(s, bytes, len, CS_E_INVALID, "pass the caps of 100000 events");
    free(bytes);
    /* Exactly CS_HISTORY_MAX over two revisions is within the caps. */
    bytes = many_events(CS_HISTORY_MAX, 2, &len);
    struct cs_store *t = new_store();
    restore_ok(t, bytes, len);
    free(bytes);
    uint64_t next;
    ck_assert_uint_eq(watch(t, 1, NULL, 1, &next, 0)->n, 1);
    ck_assert_uint_eq(next, 2);
    /* One revision alone may pass them: it stays until the next revision evicts it whole. */
    bytes = many_events(CS_HISTORY_MAX + 1, 1, &len);
    restore_ok(t, bytes, len);
    free(bytes);
    ck_assert_uint_eq(watch(t, 1, NULL, 1, &next, 0)->n, CS_HISTORY_MAX + 1);
    assert_ok(put(t, "x", "1"), 2);
    watch(t, 1, NULL, 0, &next, CS_E_COMPACTED);
    ck_assert_uint_eq(watch(t, 2, NULL, 0, &next, 0)->n, 1);
    /* And no more events than one request can make. */
    bytes = many_events(CS_KEYS_MAX + 2 * CS_TXN_OPS_MAX + 1, 1, &len);
    expect_snapshot_refused(s, bytes, len, CS_E_RANGE, "event count at offset 32: is 100033, over the cap of 100032");
    free(bytes);
    cs_store_destroy(t);
    cs_store_destroy(s);
}
END_TEST

int main(void)
{
    setup_keys();
    Suite *suite = suite_create("config_snapshot");
    TCase *tc = tcase_create("config_snapshot");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, snapshot_layout_by_hand_matches);
    tcase_add_test(tc, snapshot_of_an_empty_store);
    tcase_add_test(tc, snapshot_refuses_bad_input);
    tcase_add_test(tc, snapshot_history_past_its_caps_is_one_revision);
    tcase_add_test(tc, snapshot_round_trip_of_a_busy_store);
    suite_add_tcase(suite, tc);
    return testutil_run_suite(suite, false);
}
