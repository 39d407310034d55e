/*
 * test_config_store.c - the config store (config/config.h): the request layout, built
 * here by hand from the header's diagram and checked against the encoder; strict decoding
 * (every truncation, every bad field, every cap); who may write; etcd's put, delete, range
 * and transaction semantics with revisions and versions; compare-and-swap; dedup of
 * request ids; the store's caps; watches and their compaction; batches. Snapshots are
 * tested in test_config_snapshot.c, determinism against a model in test_config_model.c.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/bytes.h"
#include "common/keccak.h"
#include "common/secp.h"
#include "common/hex.h"
#include "config/config.h"
#include "config_store_util.h"
#include "testutil.h"

/* ---- Encoding and decoding ---- */

START_TEST(layout_by_hand_matches_the_encoder)
{
    struct hand h;
    h_sample(&h, member_key[1]);
    struct cs_request r;
    sample_request(&r);
    size_t len = sign_into(&r, member_key[1], wire, sizeof wire);
    ck_assert_uint_eq(len, h.n);
    ck_assert_mem_eq(wire, h.b, len); /* RFC 6979: the same key and bytes give the same signature */

    struct cs_request d;
    struct cohort_error err = {0};
    ck_assert_int_eq(cs_request_decode(h.b, h.n, &d, &err), 0);
    ck_assert_uint_eq(d.instance, INSTANCE);
    ck_assert_mem_eq(d.id, r.id, 16);
    ck_assert_uint_eq(d.ncompare, 2);
    ck_assert_uint_eq(d.nsuccess, 1);
    ck_assert_uint_eq(d.nfailure, 2);
    ck_assert_uint_eq(d.compare[0].target, CS_TARGET_VERSION);
    ck_assert_uint_eq(d.compare[0].number, 0);
    ck_assert_uint_eq(d.compare[1].target, CS_TARGET_VALUE);
    ck_assert_uint_eq(d.compare[1].value_len, 1);
    ck_assert_mem_eq(d.compare[1].value, "v", 1);
    ck_assert_uint_eq(d.success[0].type, CS_OP_PUT);
    ck_assert_uint_eq(d.success[0].value_len, 2);
    ck_assert_mem_eq(d.success[0].value, "v1", 2);
    ck_assert_uint_eq(d.failure[0].type, CS_OP_DELETE);
    ck_assert(d.failure[0].prefix);
    ck_assert_uint_eq(d.failure[0].key_len, 2);
    ck_assert_uint_eq(d.failure[1].type, CS_OP_RANGE);
    ck_assert(!d.failure[1].prefix);
    ck_assert_ptr_eq(d.signed_bytes, h.b);
    ck_assert_uint_eq(d.signed_len, h.n - 65);
    ck_assert_mem_eq(d.signature, h.b + h.n - 65, 65);

    uint8_t signer[20];
    ck_assert_int_eq(cs_request_signer(&d, signer, &err), 0);
    ck_assert_mem_eq(signer, member_addr[1], 20);
}
END_TEST

START_TEST(round_trip_of_every_field)
{
    static uint8_t big_value[CS_VALUE_MAX];
    for (size_t i = 0; i < sizeof big_value; i++) big_value[i] = (uint8_t)(i * 7);
    char long_key[CS_KEY_MAX + 1];
    memset(long_key, 'x', CS_KEY_MAX);
    long_key[CS_KEY_MAX] = '\0';

    struct cs_request r;
    req_init(&r);
    r.instance = UINT64_MAX;
    for (uint8_t t = CS_TARGET_VALUE; t <= CS_TARGET_VERSION; t++)
        for (uint8_t res = CS_CMP_EQUAL; res <= CS_CMP_GREATER; res++)
            if (t == CS_TARGET_VALUE) add_compare_value(&r, "key", res, "");
            else add_compare_number(&r, long_key, t, res, UINT64_MAX - res);
    add_put_n(&r, false, long_key, big_value, sizeof big_value);
    add_put(&r, false, "empty", "");
    add_delete(&r, false, "a", false);
    add_delete(&r, false, "a", true);
    add_range(&r, false, "b", false);
    add_range(&r, false, "b", true);
    for (int i = 0; i < 12; i++) add_range(&r, true, "f", i % 2);
    size_t len = sign_into(&r, admin_key, wire, sizeof wire);

    struct cs_request d;
    struct cohort_error err = {0};
    ck_assert_msg(cs_request_decode(wire, len, &d, &err) == 0, "%s", err.message);
    ck_assert_uint_eq(d.instance, UINT64_MAX);
    ck_assert_mem_eq(d.id, r.id, 16);
    ck_assert_uint_eq(d.ncompare, 16);
    ck_assert_uint_eq(d.nsuccess, 6);
    ck_assert_uint_eq(d.nfailure, 12);
    for (int i = 0; i < 16; i++) {
        ck_assert_uint_eq(d.compare[i].key_len, r.compare[i].key_len);
        ck_assert_mem_eq(d.compare[i].key, r.compare[i].key, r.compare[i].key_len);
        ck_assert_uint_eq(d.compare[i].target, r.compare[i].target);
        ck_assert_uint_eq(d.compare[i].result, r.compare[i].result);
        if (d.compare[i].target == CS_TARGET_VALUE) ck_assert_uint_eq(d.compare[i].value_len, 0);
        else ck_assert_uint_eq(d.compare[i].number, r.compare[i].number);
    }
    for (int i = 0; i < 6; i++) {
        ck_assert_uint_eq(d.success[i].type, r.success[i].type);
        ck_assert_int_eq(d.success[i].prefix, r.success[i].prefix);
        ck_assert_uint_eq(d.success[i].key_len, r.success[i].key_len);
        ck_assert_mem_eq(d.success[i].key, r.success[i].key, r.success[i].key_len);
        ck_assert_uint_eq(d.success[i].value_len, r.success[i].value_len);
        if (r.success[i].value_len) ck_assert_mem_eq(d.success[i].value, r.success[i].value, r.success[i].value_len);
    }
    for (int i = 0; i < 12; i++) ck_assert_int_eq(d.failure[i].prefix, i % 2);
    uint8_t signer[20];
    ck_assert_int_eq(cs_request_signer(&d, signer, &err), 0);
    ck_assert_mem_eq(signer, admin_addr, 20);

    /* The decoded request encodes to the same bytes. */
    static uint8_t again[CS_REQUEST_MAX];
    size_t len2 = sign_into(&d, admin_key, again, sizeof again);
    ck_assert_uint_eq(len2, len);
    ck_assert_mem_eq(again, wire, len);

    /* Exactly enough room, and one byte short. */
    size_t exact = 0;
    ck_assert_int_eq(cs_request_encode(&r, admin_key, again, len, &exact, &err), 0);
    ck_assert_uint_eq(exact, len);
    ck_assert_int_eq(cs_request_encode(&r, admin_key, again, len - 1, &exact, &err), CS_E_RANGE);
    ck_assert_ptr_nonnull(strstr(err.message, "do not fit"));

    /* A request not decoded has no signer. */
    ck_assert_int_eq(cs_request_signer(&r, signer, &err), CS_E_INVALID);
}
END_TEST

START_TEST(every_truncation_fails_cleanly)
{
    struct cs_request r;
    sample_request(&r);
    size_t len = sign_into(&r, member_key[0], wire, sizeof wire);
    struct cs_request d;
    for (size_t cut = 0; cut < len; cut++) {
        /* A copy of exactly cut bytes, so the sanitizers see any read past the end. */
        uint8_t *copy = malloc(cut ? cut : 1);
        memcpy(copy, wire, cut);
        struct cohort_error err = {0};
        int rc = cs_request_decode(copy, cut, &d, &err);
        ck_assert_msg(rc == CS_E_INVALID, "cut at %zu: %d", cut, rc);
        ck_assert_int_eq(err.code, CS_E_INVALID);
        ck_assert_msg(strstr(err.message, "cut off") != NULL, "cut at %zu: %s", cut, err.message);
        ck_assert_str_eq(err.domain, "config");
        free(copy);
    }
    struct cohort_error err = {0};
    ck_assert_int_eq(cs_request_decode(wire, len, &d, &err), 0);
    /* The message names the field and where it starts. */
    ck_assert_int_eq(cs_request_decode(wire, 30, &d, &err), CS_E_INVALID);
    ck_assert_msg(strstr(err.message, "failure count at offset 30") != NULL, "%s", err.message);
    ck_assert_int_eq(cs_request_decode(wire, 33, &d, &err), CS_E_INVALID);
    ck_assert_msg(strstr(err.message, "compare 0 key at offset 33") != NULL, "%s", err.message);
    ck_assert_int_eq(cs_request_decode(wire, len - 1, &d, &err), CS_E_INVALID);
    ck_assert_msg(strstr(err.message, "signature at offset") != NULL, "%s", err.message);
}
END_TEST

static void expect_refused(const struct hand *h, int code, const char *words)
{
    struct cs_request d;
    struct cohort_error err = {0};
    int rc = cs_request_decode(h->b, h->n, &d, &err);
    ck_assert_msg(rc == code, "expected %d (%s), got %d: %s", code, words, rc, err.message);
    ck_assert_msg(strstr(err.message, words) != NULL, "message \"%s\" lacks \"%s\"", err.message, words);
    /* And the store refuses it as its result, with nothing changed. */
    struct cs_store *s = new_store();
    struct got *g = apply_bytes(s, h->b, h->n);
    ck_assert_int_eq(g->status, CS_E_INVALID);
    ck_assert(!g->has_id);
    ck_assert(g->has_message);
    ck_assert_uint_eq(cs_store_revision(s), 0);
    cs_store_destroy(s);
}

/* A request with one put of key (key_len bytes of 'k') and a value of value_len bytes. */
static void h_put(struct hand *h, uint64_t key_len, uint64_t value_len, uint8_t flags)
{
    static uint8_t filler[CS_KEY_MAX + 2];
    memset(filler, 'k', sizeof filler);
    h_header(h, INSTANCE, 0, 1, 0);
    h_uint(h, CS_OP_PUT, 1), h_uint(h, flags, 1), h_uint(h, key_len, 2);
    h_bytes(h, filler, key_len < sizeof filler ? key_len : 0);
    h_uint(h, value_len, 4);
    h_bytes(h, filler, value_len < 100 ? value_len : 0);
    h_sign(h, member_key[0]);
}

START_TEST(each_decode_error)
{
    struct hand h;
    h_sample(&h, member_key[0]);
    expect_refused(&(struct hand){{0}, 0}, CS_E_INVALID, "magic at offset 0 is cut off");

    struct hand t = h;
    t.b[t.n++] = 0;
    expect_refused(&t, CS_E_INVALID, "1 trailing bytes at offset");

    t = h;
    t.b[3] = '2';
    expect_refused(&t, CS_E_INVALID, "magic");

    h_header(&t, INSTANCE, 17, 1, 0);
    expect_refused(&t, CS_E_RANGE, "compare count at offset 28 is 17");
    h_header(&t, INSTANCE, 0, 17, 0);
    expect_refused(&t, CS_E_RANGE, "success count at offset 29 is 17");
    h_header(&t, INSTANCE, 0, 1, 255);
    expect_refused(&t, CS_E_RANGE, "failure count at offset 30 is 255");
    h_header(&t, INSTANCE, 1, 0, 0);
    expect_refused(&t, CS_E_INVALID, "both 0");

    /* Keys: empty, and one byte over the cap; the cap itself is fine. */
    h_put(&t, 0, 1, 0);
    expect_refused(&t, CS_E_INVALID, "success op 0 key length at offset 33 is 0");
    h_put(&t, CS_KEY_MAX + 1, 1, 0);
    expect_refused(&t, CS_E_RANGE, "success op 0 key length at offset 33 is 513 bytes");
    h_put(&t, CS_KEY_MAX, 1, 0);
    struct cs_request d;
    struct cohort_error err = {0};
    ck_assert_msg(cs_request_decode(t.b, t.n, &d, &err) == 0, "%s", err.message);

    /* A value one byte over the cap is refused before its bytes are looked for. */
    h_put(&t, 1, CS_VALUE_MAX + 1, 0);
    expect_refused(&t, CS_E_RANGE, "success op 0 value length at offset 36 is 65537 bytes");
    h_put(&t, 1, UINT32_MAX, 0);
    expect_refused(&t, CS_E_RANGE, "value length");

    /* Flags: only prefix, and only on delete and range. */
    h_put(&t, 1, 1, 1);
    expect_refused(&t, CS_E_INVALID, "success op 0 flags at offset 32 set prefix on a put");
    t = h;
    t.b[t.n - 65 - 1 - 2 - 1] = 3; /* the range's flags */
    expect_refused(&t, CS_E_INVALID, "failure op 1 flags");

    /* Unknown enum values. */
    t = h;
    t.b[31 + 2 + 1] = 5; /* compare 0 target */
    expect_refused(&t, CS_E_INVALID, "compare 0 target at offset 34 is 5");
    t = h;
    t.b[31 + 2 + 1] = 0;
    expect_refused(&t, CS_E_INVALID, "compare 0 target");
    t = h;
    t.b[31 + 2 + 2] = 5; /* compare 0 result */
    expect_refused(&t, CS_E_INVALID, "compare 0 result at offset 35 is 5");
    t = h;
    size_t op0 = 31 + (2 + 1 + 1 + 1 + 8) + (2 + 1 + 1 + 1 + 4 + 1);
    t.b[op0] = 4;
    expect_refused(&t, CS_E_INVALID, "success op 0 type");
    t.b[op0] = 0;
    expect_refused(&t, CS_E_INVALID, "success op 0 type");

    /* A compare's value over the cap. */
    h_header(&t, INSTANCE, 1, 1, 0);
    h_uint(&t, 1, 2), h_bytes(&t, "k", 1), h_uint(&t, CS_TARGET_VALUE, 1), h_uint(&t, CS_CMP_LESS, 1);
    h_uint(&t, CS_VALUE_MAX + 1, 4);
    expect_refused(&t, CS_E_RANGE, "compare 0 value length at offset 36");

    /* The whole request over CS_REQUEST_MAX: refused before anything is read. */
    static uint8_t huge[CS_REQUEST_MAX + 1];
    memcpy(huge, h.b, h.n);
    ck_assert_int_eq(cs_request_decode(huge, sizeof huge, &d, &err), CS_E_RANGE);
    ck_assert_ptr_nonnull(strstr(err.message, "1048577 bytes"));
    struct cs_store *s = new_store();
    ck_assert_int_eq(cs_store_apply(s, huge, sizeof huge, NULL, NULL), CS_E_INVALID);
    cs_store_destroy(s);
}
END_TEST

START_TEST(encode_checks_the_caps)
{
    static uint8_t value[CS_VALUE_MAX + 1];
    struct cs_request r;
    struct cohort_error err = {0};
    size_t len;
    req_init(&r);
    add_put_n(&r, false, "k", value, CS_VALUE_MAX + 1);
    ck_assert_int_eq(cs_request_encode(&r, member_key[0], wire, sizeof wire, &len, &err), CS_E_RANGE);
    ck_assert_ptr_nonnull(strstr(err.message, "success op 0 value length"));

    /* Sixteen puts of the largest value pass the request cap. */
    req_init(&r);
    char keys[16][4];
    for (int i = 0; i < 16; i++) {
        snprintf(keys[i], sizeof keys[i], "k%d", i);
        add_put_n(&r, false, keys[i], value, CS_VALUE_MAX);
    }
    ck_assert_int_eq(cs_request_encode(&r, member_key[0], wire, sizeof wire, &len, &err), CS_E_RANGE);
    ck_assert_ptr_nonnull(strstr(err.message, "over the cap of 1048576"));
    r.nsuccess = 15;
    ck_assert_int_eq(cs_request_encode(&r, member_key[0], wire, sizeof wire, &len, &err), 0);

    req_init(&r);
    add_put(&r, false, "", "v");
    ck_assert_int_eq(cs_request_encode(&r, member_key[0], wire, sizeof wire, &len, &err), CS_E_INVALID);
    req_init(&r);
    add_put(&r, false, "k", "v");
    r.success[0].prefix = true;
    ck_assert_int_eq(cs_request_encode(&r, member_key[0], wire, sizeof wire, &len, &err), CS_E_INVALID);
    req_init(&r);
    ck_assert_int_eq(cs_request_encode(&r, member_key[0], wire, sizeof wire, &len, &err), CS_E_INVALID);
    req_init(&r);
    add_range(&r, false, "k", false);
    r.ncompare = 17;
    ck_assert_int_eq(cs_request_encode(&r, member_key[0], wire, sizeof wire, &len, &err), CS_E_RANGE);
    r.ncompare = 0;
    r.success[0].type = 9;
    ck_assert_int_eq(cs_request_encode(&r, member_key[0], wire, sizeof wire, &len, &err), CS_E_INVALID);
    r.success[0].type = CS_OP_RANGE;
    uint8_t zero_key[32] = {0};
    ck_assert_int_eq(cs_request_encode(&r, zero_key, wire, sizeof wire, &len, &err), CS_E_INVALID);
    ck_assert_int_eq(cs_request_encode(&r, member_key[0], NULL, 0, &len, &err), CS_E_RANGE);
}
END_TEST

/* ---- Who may write ---- */

START_TEST(members_and_admins_write_others_are_refused)
{
    struct cs_store *s = new_store();
    struct cs_request r;
    for (int i = 0; i < NMEMBERS; i++) {
        req_init(&r);
        add_put(&r, false, "by", "member");
        struct got *g = run_as(s, &r, member_key[i]);
        assert_ok(g, (uint64_t)i + 1);
        ck_assert_mem_eq(g->signer, member_addr[i], 20);
        ck_assert(g->has_id);
        ck_assert_mem_eq(g->id, r.id, 16);
        ck_assert(g->succeeded);
    }
    req_init(&r);
    add_put(&r, false, "by", "admin");
    struct got *g = run_as(s, &r, admin_key);
    assert_ok(g, 5);
    ck_assert_mem_eq(g->signer, admin_addr, 20);

    uint8_t before[32], after[32];
    cs_store_digest(s, before);
    req_init(&r);
    add_put(&r, false, "by", "outsider");
    g = run_as(s, &r, outsider_key);
    ck_assert_int_eq(g->status, CS_E_UNAUTHORIZED);
    ck_assert_mem_eq(g->signer, outsider_addr, 20);
    ck_assert_uint_eq(g->revision, 5);
    ck_assert(g->has_message);

    /* Another cluster's request, even from a member. */
    req_init(&r);
    r.instance = INSTANCE + 1;
    add_put(&r, false, "by", "elsewhere");
    g = run_as(s, &r, member_key[0]);
    ck_assert_int_eq(g->status, CS_E_INSTANCE);
    ck_assert_mem_eq(g->signer, member_addr[0], 20);
    ck_assert_uint_eq(g->revision, 5);

    /* A byte changed under the signature: another signer (refused) or none (invalid). */
    req_init(&r);
    add_put(&r, false, "by", "tampered");
    size_t len = sign_into(&r, member_key[0], wire, sizeof wire);
    wire[len - 66] ^= 1;
    g = apply_bytes(s, wire, len);
    ck_assert(g->status == CS_E_UNAUTHORIZED || g->status == CS_E_INVALID);
    wire[len - 66] ^= 1;
    wire[len - 1] = 7; /* v out of range */
    g = apply_bytes(s, wire, len);
    ck_assert_int_eq(g->status, CS_E_INVALID);
    ck_assert(g->has_id);
    memset(wire + len - 65, 0, 65);
    g = apply_bytes(s, wire, len);
    ck_assert_int_eq(g->status, CS_E_INVALID);

    cs_store_digest(s, after);
    ck_assert_mem_eq(before, after, 32);
    struct got_kv kv;
    ck_assert(get(s, "by", &kv));
    assert_kv(&kv, "by", "admin", 1, 5, 5);
    /* The refused requests are not remembered: the same id, re-signed by a member, applies. */
    g = run_as(s, &r, member_key[2]);
    assert_ok(g, 6);

    /* Caps on the writer lists. */
    struct cohort_error err = {0};
    static uint8_t many[CS_MEMBERS_MAX + 1][20];
    ck_assert_ptr_null(cs_store_create(1, (const uint8_t(*)[20])many, CS_MEMBERS_MAX + 1, NULL, 0, &err));
    ck_assert_int_eq(err.code, CS_E_INVALID);
    ck_assert_ptr_null(cs_store_create(1, NULL, 1, NULL, 0, &err));
    struct cs_store *full = cs_store_create(1, (const uint8_t(*)[20])many, CS_MEMBERS_MAX,
                                            (const uint8_t(*)[20])many, CS_ADMINS_MAX, &err);
    ck_assert_ptr_nonnull(full);
    cs_store_destroy(full);
    cs_store_destroy(s);
}
END_TEST

/* ---- Membership changes (config.h "Membership changes") ---- */

/* The members of epoch `epoch`: the first n of addrs, endpoints 127.0.0.1:(7000 + i), signed by key, as hex. */
static char *members_value(uint64_t instance, uint32_t epoch, uint8_t (*addrs)[20], uint32_t n,
                           const uint8_t key[32])
{
    struct cs_members_doc d;
    memset(&d, 0, sizeof d);
    d.instance = instance;
    d.epoch = epoch;
    d.count = n;
    for (uint32_t i = 0; i < n; i++) {
        memcpy(d.address[i], addrs[i], 20);
        snprintf(d.endpoint[i], sizeof d.endpoint[i], "127.0.0.1:%u", 7000 + i);
    }
    static uint8_t bytes[CS_MEMBERS_DOC_MAX];
    static char text[2 * CS_MEMBERS_DOC_MAX + 3];
    size_t len = 0;
    struct cohort_error err = {0};
    ck_assert_msg(cs_members_encode(&d, key, bytes, sizeof bytes, &len, &err) == 0, "%s", err.message);
    struct cs_members_doc back;
    ck_assert_msg(cs_members_decode(bytes, len, &back, &err) == 0, "%s", err.message);
    ck_assert_uint_eq(back.count, n);
    ck_assert_str_eq(back.endpoint[n - 1], d.endpoint[n - 1]);
    hex_encode(bytes, len, text, sizeof text);
    return text;
}

static struct got *put_members(struct cs_store *s, const char *value, const uint8_t key[32])
{
    struct cs_request r;
    req_init(&r);
    add_put(&r, false, CS_MEMBERS_KEY, value);
    return run_as(s, &r, key);
}

START_TEST(membership_changes_through_the_members_key)
{
    struct cs_store *s = new_store();
    uint8_t five[NMEMBERS + 1][20];
    memcpy(five, member_addr, sizeof member_addr);
    memcpy(five[NMEMBERS], outsider_addr, 20);
    ck_assert_uint_eq(cs_store_epoch(s, NULL), 0);
    assert_ok(put(s, "a", "1"), 1);
    ck_assert_int_eq(put_members(s, "x", admin_key)->status, CS_E_INVALID); /* not a document */
    ck_assert_int_eq(put_members(s, members_value(INSTANCE, 1, five, 5, member_key[0]), member_key[0])->status,
                     CS_E_INVALID); /* a member signed the document, not an admin */
    ck_assert_int_eq(put_members(s, members_value(INSTANCE + 1, 1, five, 5, admin_key), admin_key)->status,
                     CS_E_INVALID); /* another cluster */
    ck_assert_int_eq(put_members(s, members_value(INSTANCE, 2, five, 5, admin_key), admin_key)->status,
                     CS_E_INVALID); /* not the next epoch */
    uint8_t swapped[NMEMBERS + 1][20];
    memcpy(swapped, five, sizeof five);
    memcpy(swapped[0], five[1], 20);
    memcpy(swapped[1], five[0], 20);
    ck_assert_int_eq(put_members(s, members_value(INSTANCE, 1, swapped, 5, admin_key), admin_key)->status,
                     CS_E_INVALID); /* the kept members reordered */
    struct cs_request r;
    req_init(&r);
    add_compare_number(&r, "a", CS_TARGET_VERSION, CS_CMP_EQUAL, 1);
    add_put(&r, false, CS_MEMBERS_KEY, members_value(INSTANCE, 1, five, 5, admin_key));
    ck_assert_int_eq(run(s, &r)->status, CS_E_INVALID); /* not a put alone */
    ck_assert_int_eq(del(s, "/cohort/", true)->status, CS_E_INVALID); /* the key is never deleted */
    req_init(&r);
    add_put(&r, false, "by", "outsider");
    ck_assert_int_eq(run_as(s, &r, outsider_key)->status, CS_E_UNAUTHORIZED);
    ck_assert_uint_eq(cs_store_revision(s), 1);

    /* Epoch 1 adds the outsider; a member may submit the admin's document. */
    assert_ok(put_members(s, members_value(INSTANCE, 1, five, 5, admin_key), member_key[2]), 2);
    bool ended = false;
    ck_assert_uint_eq(cs_store_epoch(s, &ended), 1);
    ck_assert(ended);
    struct got *g = put(s, "after", "dropped");
    ck_assert_int_eq(g->status, CS_E_EPOCH);
    ck_assert(g->has_id);
    ck_assert_uint_eq(cs_store_revision(s), 2);

    /* The next epoch starts from the snapshot at the change. */
    size_t len = 0;
    uint8_t *bytes = snap(s, &len);
    struct cs_store *e1 = new_store();
    restore_ok(e1, bytes, len);
    free(bytes);
    ck_assert_uint_eq(cs_store_epoch(e1, &ended), 1);
    ck_assert(!ended);
    req_init(&r);
    add_put(&r, false, "by", "the new member");
    assert_ok(run_as(e1, &r, outsider_key), 3);
    /* Epoch 2 removes member 1: its requests are refused from then on. */
    uint8_t without1[NMEMBERS][20];
    memcpy(without1[0], five[0], 20);
    memcpy(without1[1], five[2], 20);
    memcpy(without1[2], five[3], 20);
    memcpy(without1[3], five[4], 20);
    assert_ok(put_members(e1, members_value(INSTANCE, 2, without1, 4, admin_key), admin_key), 4);
    bytes = snap(e1, &len);
    struct cs_store *e2 = new_store();
    restore_ok(e2, bytes, len);
    free(bytes);
    ck_assert_uint_eq(cs_store_epoch(e2, NULL), 2);
    req_init(&r);
    add_put(&r, false, "by", "removed");
    ck_assert_int_eq(run_as(e2, &r, member_key[1])->status, CS_E_UNAUTHORIZED);
    req_init(&r);
    add_put(&r, false, "by", "member 2");
    assert_ok(run_as(e2, &r, member_key[2]), 5);

    /* A snapshot whose members document no admin of this cluster signed is refused. */
    struct cohort_error err = {0};
    struct cs_store *other = cs_store_create(INSTANCE, (const uint8_t(*)[20])member_addr, NMEMBERS,
                                             (const uint8_t(*)[20])outsider_addr, 1, &err);
    ck_assert_ptr_nonnull(other);
    assert_ok(put_members(other, members_value(INSTANCE, 1, five, 5, outsider_key), outsider_key), 1);
    bytes = snap(other, &len);
    struct cs_store *victim = new_store();
    ck_assert_int_eq(cs_store_restore(victim, bytes, len, &err), CS_E_INVALID);
    ck_assert_ptr_nonnull(strstr(err.message, "not signed by an admin"));
    ck_assert_uint_eq(cs_store_epoch(victim, NULL), 0);
    free(bytes);
    cs_store_destroy(victim);
    cs_store_destroy(other);
    cs_store_destroy(e2);
    cs_store_destroy(e1);
    cs_store_destroy(s);
}
END_TEST

START_TEST(members_documents_decode_strictly)
{
    uint8_t five[NMEMBERS + 1][20];
    memcpy(five, member_addr, sizeof member_addr);
    memcpy(five[NMEMBERS], outsider_addr, 20);
    const char *text = members_value(INSTANCE, 1, five, 5, admin_key);
    uint8_t bytes[CS_MEMBERS_DOC_MAX];
    size_t len = 0;
    struct cohort_error err = {0};
    ck_assert_int_eq(hex_decode(text, bytes, sizeof bytes, &len, &err), 0);
    struct cs_members_doc d;
    ck_assert_int_eq(cs_members_decode(bytes, len, &d, &err), 0);
    ck_assert_mem_eq(d.signer, admin_addr, 20);
    uint8_t h[32];
    keccak256(bytes, len, h);
    ck_assert_mem_eq(d.hash, h, 32);
    ck_assert_uint_ne(cs_epoch_instance(INSTANCE, d.hash), INSTANCE);
    /* Against a cluster file: its instance, and one of its admins. */
    struct cluster cluster;
    memset(&cluster, 0, sizeof cluster);
    cluster.instance = INSTANCE;
    cluster.nadmins = 1;
    memcpy(cluster.admin[0], admin_addr, 20);
    ck_assert_int_eq(cs_members_check_cluster(&d, &cluster, &err), 0);
    memcpy(cluster.admin[0], member_addr[0], 20);
    ck_assert_int_eq(cs_members_check_cluster(&d, &cluster, &err), CS_E_UNAUTHORIZED);
    memcpy(cluster.admin[0], admin_addr, 20);
    cluster.instance = INSTANCE + 1;
    ck_assert_int_eq(cs_members_check_cluster(&d, &cluster, &err), CS_E_INVALID);
    ck_assert_ptr_nonnull(strstr(err.message, "instance"));
    ck_assert_uint_ge(cs_epoch_instance(INSTANCE, d.hash), UINT64_C(1) << 53);
    /* Every cut is an error, none a crash. */
    for (size_t n = 0; n < len; n++) ck_assert_int_ne(cs_members_decode(bytes, n, &d, &err), 0);
    bytes[16] = 33; /* over the member cap */
    ck_assert_int_eq(cs_members_decode(bytes, len, &d, &err), CS_E_INVALID);
    ck_assert_ptr_nonnull(strstr(err.message, "over the cap"));
    bytes[16] = 5;
    bytes[17 + 20] = 0; /* an empty endpoint */
    ck_assert_int_eq(cs_members_decode(bytes, len, &d, &err), CS_E_INVALID);
    ck_assert_ptr_nonnull(strstr(err.message, "endpoint length"));
    /* The encoder keeps the rules: fewer than four members, a duplicate, a bad endpoint. */
    memset(&d, 0, sizeof d);
    d.instance = INSTANCE;
    d.epoch = 1;
    d.count = 4;
    for (int i = 0; i < 4; i++) {
        memcpy(d.address[i], five[i], 20);
        snprintf(d.endpoint[i], sizeof d.endpoint[i], "127.0.0.1:%d", 7000 + i);
    }
    ck_assert_int_eq(cs_members_encode(&d, admin_key, bytes, sizeof bytes, &len, &err), 0);
    d.count = 3;
    ck_assert_int_eq(cs_members_encode(&d, admin_key, bytes, sizeof bytes, &len, &err), CS_E_INVALID);
    d.count = 4;
    memcpy(d.address[3], d.address[0], 20);
    ck_assert_int_eq(cs_members_encode(&d, admin_key, bytes, sizeof bytes, &len, &err), CS_E_INVALID);
    memcpy(d.address[3], five[3], 20);
    snprintf(d.endpoint[3], sizeof d.endpoint[3], "localhost:1");
    ck_assert_int_eq(cs_members_encode(&d, admin_key, bytes, sizeof bytes, &len, &err), CS_E_INVALID);
}
END_TEST

/* ---- etcd's semantics ---- */

START_TEST(put_get_delete_and_revisions)
{
    struct cs_store *s = new_store();
    ck_assert_uint_eq(cs_store_revision(s), 0);
    struct got_kv kv;
    ck_assert(!get(s, "a", NULL));

    assert_ok(put(s, "a", "1"), 1);
    ck_assert(get(s, "a", &kv));
    assert_kv(&kv, "a", "1", 1, 1, 1);
    assert_ok(put(s, "a", "2"), 2);
    ck_assert(get(s, "a", &kv));
    assert_kv(&kv, "a", "2", 1, 2, 2);
    assert_ok(put(s, "a", "2"), 3); /* the same value again is still a change, as in etcd */
    ck_assert(get(s, "a", &kv));
    assert_kv(&kv, "a", "2", 1, 3, 3);
    assert_ok(put(s, "b", ""), 4);
    ck_assert(get(s, "b", &kv));
    assert_kv(&kv, "b", "", 4, 4, 1);

    /* Deleting a missing key changes nothing, not even the revision. */
    struct got *g = del(s, "zz", false);
    assert_ok(g, 4);
    ck_assert_uint_eq(g->deleted, 0);
    g = del(s, "a", false);
    assert_ok(g, 5);
    ck_assert_uint_eq(g->deleted, 1);
    ck_assert(!get(s, "a", NULL));
    /* Created anew: a new create revision and version 1. */
    assert_ok(put(s, "a", "3"), 6);
    ck_assert(get(s, "a", &kv));
    assert_kv(&kv, "a", "3", 6, 6, 1);

    /* Prefix ranges and deletes in byte order; "a" is a prefix of "a/x" and "ab". */
    assert_ok(put(s, "a/x", "4"), 7);
    assert_ok(put(s, "ab", "5"), 8);
    assert_ok(put(s, "a/y", "6"), 9);
    struct collected c = {0};
    ck_assert_uint_eq(cs_store_range(s, (const uint8_t *)"a", 1, true, 0, collect_kv, &c), 4);
    ck_assert_str_eq(c.kv[0].key, "a");
    ck_assert_str_eq(c.kv[1].key, "a/x");
    ck_assert_str_eq(c.kv[2].key, "a/y");
    ck_assert_str_eq(c.kv[3].key, "ab");
    c.n = 0;
    ck_assert_uint_eq(cs_store_range(s, (const uint8_t *)"a/", 2, true, 1, collect_kv, &c), 1);
    ck_assert_str_eq(c.kv[0].key, "a/x");
    ck_assert_uint_eq(cs_store_range(s, NULL, 0, true, 0, NULL, NULL), 5);
    ck_assert_uint_eq(cs_store_range(s, NULL, 0, false, 0, NULL, NULL), 0);
    ck_assert_uint_eq(cs_store_range(s, (const uint8_t *)"a/", 2, false, 0, NULL, NULL), 0);

    g = del(s, "a/", true);
    assert_ok(g, 10);
    ck_assert_uint_eq(g->deleted, 2);
    ck_assert_uint_eq(cs_store_range(s, NULL, 0, true, 0, NULL, NULL), 3);
    g = del(s, "a/", true);
    assert_ok(g, 10);
    ck_assert_uint_eq(g->deleted, 0);

    /* One request, several changes: they share one revision. */
    struct cs_request r;
    req_init(&r);
    add_put(&r, false, "m1", "x");
    add_put(&r, false, "m2", "y");
    add_put(&r, false, "m1", "z");
    add_delete(&r, false, "b", false);
    g = run(s, &r);
    assert_ok(g, 11);
    ck_assert_uint_eq(g->deleted, 1);
    ck_assert(get(s, "m1", &kv));
    assert_kv(&kv, "m1", "z", 11, 11, 2);
    ck_assert(get(s, "m2", &kv));
    assert_kv(&kv, "m2", "y", 11, 11, 1);

    /* Reads do not bump the revision. */
    req_init(&r);
    add_range(&r, false, "m", true);
    g = run(s, &r);
    assert_ok(g, 11);
    ck_assert_uint_eq(g->nkvs, 2);
    assert_kv(&g->kvs[0], "m1", "z", 11, 11, 2);
    cs_store_destroy(s);
}
END_TEST

START_TEST(ranges_read_the_state_at_their_point_in_the_request)
{
    struct cs_store *s = new_store();
    assert_ok(put(s, "a", "old"), 1);
    assert_ok(put(s, "a/1", "one"), 2);
    struct cs_request r;
    req_init(&r);
    add_range(&r, false, "a", false);   /* op 0: "a" = old */
    add_put(&r, false, "a", "new");     /* op 1 */
    add_range(&r, false, "a", true);    /* op 2: a = new, a/1 */
    add_delete(&r, false, "a/", true);  /* op 3 */
    add_range(&r, false, "a", true);    /* op 4: a = new */
    add_delete(&r, false, "a", false);  /* op 5 */
    add_range(&r, false, "a", true);    /* op 6: nothing */
    add_range(&r, false, "nope", false); /* op 7: nothing */
    struct got *g = run(s, &r);
    assert_ok(g, 3);
    ck_assert_uint_eq(g->deleted, 2);
    ck_assert_uint_eq(g->nkvs, 4);
    /* The value read before it was replaced is still the old one while the callback runs. */
    assert_kv(&g->kvs[0], "a", "old", 1, 1, 1);
    assert_kv(&g->kvs[1], "a", "new", 1, 3, 2);
    assert_kv(&g->kvs[2], "a/1", "one", 2, 2, 1);
    assert_kv(&g->kvs[3], "a", "new", 1, 3, 2);
    size_t want[CS_TXN_OPS_MAX] = {0, 1, 1, 3, 3, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4};
    for (int i = 0; i < CS_TXN_OPS_MAX; i++) ck_assert_uint_eq(g->range_start[i], want[i]);
    ck_assert_uint_eq(cs_store_range(s, NULL, 0, true, 0, NULL, NULL), 0);

    /* Delete then put in one request: created anew at this revision. */
    assert_ok(put(s, "k", "1"), 4);
    assert_ok(put(s, "k", "2"), 5);
    req_init(&r);
    add_delete(&r, false, "k", false);
    add_put(&r, false, "k", "3");
    assert_ok(run(s, &r), 6);
    struct got_kv kv;
    ck_assert(get(s, "k", &kv));
    assert_kv(&kv, "k", "3", 6, 6, 1);
    cs_store_destroy(s);
}
END_TEST

/* Runs a request with one compare and a put of "hit" on success, "miss" on failure. */
static bool compare_holds(struct cs_store *s, const struct cs_compare *c)
{
    struct cs_request r;
    req_init(&r);
    r.compare[r.ncompare++] = *c;
    add_range(&r, false, "t", false);
    add_range(&r, true, "t", false);
    struct got *g = run(s, &r);
    ck_assert_int_eq(g->status, CS_OK);
    return g->succeeded;
}

START_TEST(transaction_compares)
{
    struct cs_store *s = new_store();
    assert_ok(put(s, "t", "m"), 1);
    assert_ok(put(s, "other", "x"), 2);
    assert_ok(put(s, "t", "m"), 3); /* t: create 1, mod 3, version 2, value "m" */

    const uint64_t have[] = {0, 0, 3, 1, 2}; /* by target: -, value, mod, create, version */
    for (uint8_t target = CS_TARGET_MOD_REVISION; target <= CS_TARGET_VERSION; target++) {
        for (int64_t delta = -1; delta <= 1; delta++) {
            uint64_t number = (uint64_t)((int64_t)have[target] + delta);
            struct cs_compare c = {(const uint8_t *)"t", 1, target, CS_CMP_EQUAL, NULL, 0, number};
            ck_assert_int_eq(compare_holds(s, &c), delta == 0);
            c.result = CS_CMP_NOT_EQUAL;
            ck_assert_int_eq(compare_holds(s, &c), delta != 0);
            c.result = CS_CMP_LESS; /* the key's field < number */
            ck_assert_int_eq(compare_holds(s, &c), delta > 0);
            c.result = CS_CMP_GREATER;
            ck_assert_int_eq(compare_holds(s, &c), delta < 0);
        }
    }
    const char *values[] = {"l", "m", "ma", "n", ""};
    for (int i = 0; i < 5; i++) {
        int cmp = strcmp("m", values[i]);
        struct cs_compare c = {(const uint8_t *)"t", 1, CS_TARGET_VALUE, CS_CMP_EQUAL, (const uint8_t *)values[i],
                               (uint32_t)strlen(values[i]), 0};
        ck_assert_int_eq(compare_holds(s, &c), cmp == 0);
        c.result = CS_CMP_NOT_EQUAL;
        ck_assert_int_eq(compare_holds(s, &c), cmp != 0);
        c.result = CS_CMP_LESS;
        ck_assert_int_eq(compare_holds(s, &c), cmp < 0);
        c.result = CS_CMP_GREATER;
        ck_assert_int_eq(compare_holds(s, &c), cmp > 0);
    }
    /* A missing key: revisions and version 0; a value compare fails whatever it asks (etcd). */
    for (uint8_t target = CS_TARGET_MOD_REVISION; target <= CS_TARGET_VERSION; target++) {
        struct cs_compare c = {(const uint8_t *)"missing", 7, target, CS_CMP_EQUAL, NULL, 0, 0};
        ck_assert(compare_holds(s, &c));
        c.result = CS_CMP_GREATER;
        ck_assert(!compare_holds(s, &c));
    }
    struct cs_compare c = {(const uint8_t *)"missing", 7, CS_TARGET_VALUE, CS_CMP_EQUAL, (const uint8_t *)"", 0, 0};
    ck_assert(!compare_holds(s, &c));
    c.value = (const uint8_t *)"a";
    c.value_len = 1;
    for (uint8_t result = CS_CMP_EQUAL; result <= CS_CMP_GREATER; result++) {
        c.result = result;
        ck_assert(!compare_holds(s, &c));
    }
    ck_assert_uint_eq(cs_store_revision(s), 3);

    /* Every compare must hold; then the branches and their results. */
    struct cs_request r;
    req_init(&r);
    add_compare_value(&r, "t", CS_CMP_EQUAL, "m");
    add_compare_number(&r, "other", CS_TARGET_VERSION, CS_CMP_EQUAL, 2); /* it is 1 */
    add_put(&r, false, "t", "success");
    add_put(&r, true, "t", "failure");
    add_range(&r, true, "t", false);
    struct got *g = run(s, &r);
    assert_ok(g, 4);
    ck_assert(!g->succeeded);
    ck_assert_uint_eq(g->nkvs, 1);
    assert_kv(&g->kvs[0], "t", "failure", 1, 4, 3);
    ck_assert_uint_eq(g->range_start[0], 0);
    ck_assert_uint_eq(g->range_start[1], 0);

    req_init(&r);
    add_compare_value(&r, "t", CS_CMP_EQUAL, "failure");
    add_compare_number(&r, "other", CS_TARGET_VERSION, CS_CMP_EQUAL, 1);
    add_delete(&r, false, "t", false);
    add_range(&r, false, "other", false);
    add_put(&r, true, "never", "x");
    g = run(s, &r);
    assert_ok(g, 5);
    ck_assert(g->succeeded);
    ck_assert_uint_eq(g->deleted, 1);
    ck_assert_uint_eq(g->nkvs, 1);
    ck_assert_uint_eq(g->range_start[0], 0);
    ck_assert_uint_eq(g->range_start[1], 0);
    assert_kv(&g->kvs[0], "other", "x", 2, 2, 1);
    ck_assert(!get(s, "t", NULL));
    ck_assert(!get(s, "never", NULL));

    /* A failure branch with no ops: nothing happens, and that is a result. */
    req_init(&r);
    add_compare_number(&r, "t", CS_TARGET_VERSION, CS_CMP_GREATER, 0);
    add_put(&r, false, "t", "again");
    g = run(s, &r);
    assert_ok(g, 5);
    ck_assert(!g->succeeded);
    /* Compares only, ops only on failure: an "if absent, create" in etcd's style. */
    req_init(&r);
    add_compare_number(&r, "t", CS_TARGET_CREATE_REVISION, CS_CMP_GREATER, 0);
    add_put(&r, true, "t", "created");
    g = run(s, &r);
    assert_ok(g, 6);
    ck_assert(!g->succeeded);
    struct got_kv kv;
    ck_assert(get(s, "t", &kv));
    assert_kv(&kv, "t", "created", 6, 6, 1);
    cs_store_destroy(s);
}
END_TEST

START_TEST(compare_and_swap_loop)
{
    /* Three clients increment one counter with compare-and-swap on mod_revision, each
     * building its request from what it last saw, all three submitting every round. */
    struct cs_store *s = new_store();
    enum { CLIENTS = 3, TARGET = 60 };
    uint64_t seen_mod[CLIENTS] = {0};
    long seen_value[CLIENTS] = {0};
    long successes = 0;
    int rounds = 0;
    char values[CLIENTS][24], seen_text[CLIENTS][24];
    while (successes < TARGET) {
        ck_assert_int_lt(++rounds, 10 * TARGET);
        uint64_t before = cs_store_revision(s);
        int won = 0;
        for (int c = 0; c < CLIENTS && successes < TARGET; c++) {
            struct cs_request r;
            req_init(&r);
            snprintf(values[c], sizeof values[c], "%ld", seen_value[c] + 1);
            snprintf(seen_text[c], sizeof seen_text[c], "%ld", seen_value[c]);
            add_compare_number(&r, "ctr", CS_TARGET_MOD_REVISION, CS_CMP_EQUAL, seen_mod[c]);
            add_put(&r, false, "ctr", values[c]);
            add_range(&r, false, "ctr", false);
            add_range(&r, true, "ctr", false);
            struct got *g = run_as(s, &r, member_key[c]);
            ck_assert_int_eq(g->status, CS_OK);
            ck_assert_uint_eq(g->nkvs, 1);
            if (g->succeeded) {
                successes++;
                won++;
                ck_assert_str_eq(g->kvs[0].value, values[c]);
            }
            seen_mod[c] = g->kvs[0].mod_revision;
            seen_value[c] = strtol(g->kvs[0].value, NULL, 10);
        }
        /* Exactly one client wins each round: the others compared an old mod_revision. */
        ck_assert_int_eq(won, 1);
        ck_assert_uint_eq(cs_store_revision(s), before + 1);
    }
    struct got_kv kv;
    ck_assert(get(s, "ctr", &kv));
    ck_assert_int_eq(strtol(kv.value, NULL, 10), TARGET);
    ck_assert_uint_eq(kv.version, TARGET);
    ck_assert_uint_eq(kv.mod_revision, TARGET);
    ck_assert_uint_eq(kv.create_revision, 1);
    cs_store_destroy(s);
}
END_TEST

START_TEST(dedup_of_request_ids)
{
    struct cs_store *s = new_store();
    struct cs_request r;
    req_init(&r);
    add_put(&r, false, "k", "1");
    static uint8_t first[4096];
    size_t first_len = sign_into(&r, member_key[0], first, sizeof first);
    assert_ok(apply_bytes(s, first, first_len), 1);

    uint8_t before[32], after[32];
    cs_store_digest(s, before);
    struct got *g = apply_bytes(s, first, first_len);
    ck_assert_int_eq(g->status, CS_E_DUPLICATE);
    ck_assert_uint_eq(g->revision, 1);
    ck_assert(g->succeeded);
    ck_assert(g->has_id);
    ck_assert_mem_eq(g->id, r.id, 16);
    ck_assert_uint_eq(cs_store_revision(s), 1);
    cs_store_digest(s, after);
    ck_assert_mem_eq(before, after, 32);

    /* Later: the duplicate still reports the first's revision, and changes nothing. */
    assert_ok(put(s, "k", "2"), 2);
    assert_ok(put(s, "k", "3"), 3);
    g = apply_bytes(s, first, first_len);
    ck_assert_int_eq(g->status, CS_E_DUPLICATE);
    ck_assert_uint_eq(g->revision, 1);
    ck_assert_uint_eq(cs_store_revision(s), 3);
    struct got_kv kv;
    ck_assert(get(s, "k", &kv));
    assert_kv(&kv, "k", "3", 1, 3, 3);

    /* The same id re-signed by the same member, with other ops: still a duplicate. */
    struct cs_request same = r;
    same.success[0].value = (const uint8_t *)"9";
    g = run_as(s, &same, member_key[0]);
    ck_assert_int_eq(g->status, CS_E_DUPLICATE);
    ck_assert(get(s, "k", &kv));
    ck_assert_str_eq(kv.value, "3");
    /* The same id from another writer is another request. */
    g = run_as(s, &same, member_key[1]);
    assert_ok(g, 4);
    g = run_as(s, &same, admin_key);
    assert_ok(g, 5);

    /* A failed transaction and a read are remembered too, with their outcome. */
    req_init(&r);
    add_compare_value(&r, "k", CS_CMP_EQUAL, "nope");
    add_put(&r, false, "k", "x");
    add_range(&r, true, "k", false);
    size_t len = sign_into(&r, member_key[3], first, sizeof first);
    g = apply_bytes(s, first, len);
    assert_ok(g, 5);
    ck_assert(!g->succeeded);
    ck_assert_uint_eq(g->nkvs, 1);
    assert_ok(put(s, "k", "nope"), 6);
    g = apply_bytes(s, first, len);
    ck_assert_int_eq(g->status, CS_E_DUPLICATE);
    ck_assert(!g->succeeded);
    ck_assert_uint_eq(g->revision, 5);
    ck_assert_uint_eq(g->nkvs, 0);
    ck_assert(get(s, "k", &kv));
    ck_assert_str_eq(kv.value, "nope");
    cs_store_destroy(s);
}
END_TEST

START_TEST(many_keys_fill_the_store_and_compact_the_history)
{
    struct cs_store *s = new_store();
    put_many(s, "k/", 6, 0, CS_KEYS_MAX, (const uint8_t *)"v", 1, CS_TXN_OPS_MAX);
    const uint64_t filled = CS_KEYS_MAX / CS_TXN_OPS_MAX;
    ck_assert_uint_eq(cs_store_revision(s), filled);
    ck_assert_uint_eq(cs_store_range(s, (const uint8_t *)"k/", 2, true, 0, NULL, NULL), CS_KEYS_MAX);

    /* Exactly CS_HISTORY_MAX events: nothing evicted yet. */
    uint64_t next;
    struct watched *w = watch(s, 0, NULL, 0, &next, 0);
    ck_assert_uint_eq(w->n, CS_HISTORY_MAX);
    ck_assert_uint_eq(next, filled + 1);
    ck_assert_str_eq(w->keys[0], "k/000000");
    ck_assert_uint_eq(w->revisions[16], 2);

    /* A new key passes the cap: refused whole, nothing changes. */
    uint8_t before[32], after[32];
    cs_store_digest(s, before);
    struct cs_request r;
    req_init(&r);
    add_put(&r, false, "k/000000", "changed");
    add_put(&r, false, "new", "x");
    struct got *g = run(s, &r);
    ck_assert_int_eq(g->status, CS_E_FULL);
    ck_assert_uint_eq(g->revision, filled);
    ck_assert(g->has_message);
    cs_store_digest(s, after);
    ck_assert_mem_eq(before, after, 32);
    ck_assert_uint_eq(watch(s, 1, NULL, 0, &next, 0)->n, CS_HISTORY_MAX);
    /* Refused for FULL is not remembered: the same request applies once there is room. */
    static uint8_t refused[4096];
    size_t refused_len = sign_into(&r, member_key[0], refused, sizeof refused);

    /* Changing a key that exists is fine; the history now passes its cap by one event and
     * evicts the whole of revision 1. */
    assert_ok(put(s, "k/000000", "w"), filled + 1);
    watch(s, 1, NULL, 0, &next, CS_E_COMPACTED);
    struct cohort_error err = {0};
    ck_assert_int_eq(cs_store_watch(s, 0, NULL, 0, 0, NULL, NULL, &next, &err), CS_E_COMPACTED);
    ck_assert_msg(strstr(err.message, "starts at revision 2") != NULL, "%s", err.message);
    w = watch(s, 2, NULL, 0, &next, 0);
    ck_assert_uint_eq(w->n, CS_HISTORY_MAX - CS_TXN_OPS_MAX + 1);
    ck_assert_uint_eq(w->first_revision, 2);

    /* Delete one, add one, in one request. */
    req_init(&r);
    add_delete(&r, false, "k/000001", false);
    add_put(&r, false, "k/zzz", "x");
    assert_ok(run(s, &r), filled + 2);
    /* Ten deleted by a prefix, one of them named again (counted once): ten new keys fit, eleven do not. */
    static char names[16][8];
    req_init(&r);
    add_delete(&r, false, "k/00002", true);
    add_delete(&r, false, "k/000025", false);
    for (int i = 0; i < 10; i++) {
        snprintf(names[i], sizeof names[i], "n/%d", i);
        add_put(&r, false, names[i], "n");
    }
    g = run(s, &r);
    assert_ok(g, filled + 3);
    ck_assert_uint_eq(g->deleted, 10);
    req_init(&r);
    add_delete(&r, false, "k/00003", true);
    add_delete(&r, false, "k/000035", false);
    for (int i = 0; i < 11; i++) {
        snprintf(names[i], sizeof names[i], "o/%d", i);
        add_put(&r, false, names[i], "o");
    }
    ck_assert_int_eq(run(s, &r)->status, CS_E_FULL);
    /* A key put and deleted again within a request leaves the count as it was. */
    req_init(&r);
    add_put(&r, false, "p", "1");
    add_put(&r, false, "p", "2");
    add_delete(&r, false, "p", true);
    g = run(s, &r);
    assert_ok(g, filled + 4);
    ck_assert_uint_eq(g->deleted, 1);
    ck_assert_uint_eq(cs_store_range(s, NULL, 0, true, 0, NULL, NULL), CS_KEYS_MAX);
    ck_assert_int_eq(apply_bytes(s, refused, refused_len)->status, CS_E_FULL);

    /* One revision with more events than the history holds (every key deleted, 14 put):
     * every older revision goes, and it stays, whole. */
    static char again[14][16];
    req_init(&r);
    add_delete(&r, false, "k/", true);
    add_delete(&r, false, "n/", true);
    for (int i = 0; i < 14; i++) {
        snprintf(again[i], sizeof again[i], "k/%06d", i);
        add_put(&r, false, again[i], "z");
    }
    g = run(s, &r);
    const uint64_t wipe = filled + 5;
    assert_ok(g, wipe);
    ck_assert_uint_eq(g->deleted, CS_KEYS_MAX);
    w = watch(s, wipe, NULL, 5, &next, 0); /* a revision is never split, whatever the limit */
    ck_assert_uint_eq(w->n, CS_KEYS_MAX + 14);
    ck_assert_uint_gt(w->n, CS_HISTORY_MAX);
    ck_assert_uint_eq(w->types[0], CS_OP_DELETE);
    ck_assert_str_eq(w->keys[0], "k/000000");
    ck_assert_uint_eq(w->revisions[0], wipe);
    ck_assert_uint_eq(w->creates[0], 0);
    ck_assert_uint_eq(w->versions[0], 0);
    ck_assert_str_eq(w->values[0], "");
    ck_assert_uint_eq(next, wipe + 1);
    watch(s, wipe - 1, NULL, 0, &next, CS_E_COMPACTED);
    w = watch(s, wipe, "n/", 0, &next, 0);
    ck_assert_uint_eq(w->n, 10);
    w = watch(s, wipe, "k/00000", 0, &next, 0);
    ck_assert_uint_eq(w->n, 10 + 9); /* k/000001 was gone already */
    ck_assert_uint_eq(w->types[10 + 9 - 1], CS_OP_PUT);
    ck_assert_uint_eq(cs_store_range(s, NULL, 0, true, 0, NULL, NULL), 14);
    /* A snapshot of it, a history past its caps in one revision, restores to the same store. */
    size_t snapshot_len;
    uint8_t *snapshot = snap(s, &snapshot_len);
    struct cs_store *restored = new_store();
    restore_ok(restored, snapshot, snapshot_len);
    free(snapshot);
    assert_same_state(s, restored);
    ck_assert_int_eq(assert_same_watch(s, restored, wipe, NULL, 0), CS_KEYS_MAX + 14);
    ck_assert_int_eq(assert_same_watch(s, restored, wipe - 1, NULL, 0), CS_E_COMPACTED);
    cs_store_destroy(restored);
    /* The next revision pushes it out. */
    assert_ok(put(s, "after", "1"), wipe + 1);
    watch(s, wipe, NULL, 0, &next, CS_E_COMPACTED);
    ck_assert_uint_eq(watch(s, wipe + 1, NULL, 0, &next, 0)->n, 1);

    /* Now there is room: the refused request applies. */
    g = apply_bytes(s, refused, refused_len);
    assert_ok(g, wipe + 2);
    ck_assert_int_eq(apply_bytes(s, refused, refused_len)->status, CS_E_DUPLICATE);
    cs_store_destroy(s);
}
END_TEST

START_TEST(bytes_cap)
{
    static uint8_t value[CS_VALUE_MAX];
    memset(value, 'v', sizeof value);
    struct cs_store *s = new_store();
    /* 4095 keys "b/NNNNN" of 7 bytes with 64 KiB values, 15 to a request (16 pass 1 MiB). */
    const size_t nkeys = 4095, per_key = 7 + CS_VALUE_MAX;
    put_many(s, "b/", 5, 0, nkeys, value, sizeof value, 15);
    ck_assert_uint_le(nkeys * per_key, CS_STORE_BYTES_MAX);
    const size_t room = CS_STORE_BYTES_MAX - nkeys * per_key;
    ck_assert_uint_lt(room, per_key);
    uint64_t rev = cs_store_revision(s);

    struct cs_request r;
    req_init(&r);
    add_put_n(&r, false, "b/x", value, sizeof value);
    ck_assert_int_eq(run(s, &r)->status, CS_E_FULL);
    req_init(&r);
    add_put_n(&r, false, "b/x", value, room - 3); /* exactly at the cap */
    assert_ok(run(s, &r), rev + 1);
    req_init(&r);
    add_put(&r, false, "b/y", "");
    ck_assert_int_eq(run(s, &r)->status, CS_E_FULL);
    /* Growing a value is a change of bytes too. */
    req_init(&r);
    add_put_n(&r, false, "b/x", value, room - 2);
    ck_assert_int_eq(run(s, &r)->status, CS_E_FULL);
    req_init(&r);
    add_delete(&r, false, "b/00000", false);
    add_put(&r, false, "b/y", "");
    assert_ok(run(s, &r), rev + 2);
    req_init(&r);
    add_put(&r, false, "b/00001", "short");
    add_put_n(&r, false, "b/z", value, 1000);
    assert_ok(run(s, &r), rev + 3);
    cs_store_destroy(s);
}
END_TEST

START_TEST(watches)
{
    struct cs_store *s = new_store();
    uint64_t next;
    struct watched *w = watch(s, 0, NULL, 0, &next, 0);
    ck_assert_uint_eq(w->n, 0);
    ck_assert_uint_eq(next, 1);
    w = watch(s, 1, NULL, 0, &next, 0);
    ck_assert_uint_eq(next, 1);

    assert_ok(put(s, "a", "1"), 1);
    assert_ok(put(s, "b", "1"), 2);
    struct cs_request r;
    req_init(&r);
    add_put(&r, false, "a", "2");
    add_put(&r, false, "a/x", "1");
    add_delete(&r, false, "b", false);
    add_range(&r, false, "a", true);
    assert_ok(run(s, &r), 3);
    assert_ok(del(s, "a", true), 4);
    assert_ok(del(s, "a", true), 4); /* nothing to delete: no revision, no event */

    w = watch(s, 0, NULL, 0, &next, 0);
    ck_assert_uint_eq(w->n, 7);
    ck_assert_uint_eq(next, 5);
    const char *keys[] = {"a", "b", "a", "a/x", "b", "a", "a/x"};
    const uint8_t types[] = {CS_OP_PUT, CS_OP_PUT, CS_OP_PUT, CS_OP_PUT, CS_OP_DELETE, CS_OP_DELETE, CS_OP_DELETE};
    const uint64_t revs[] = {1, 2, 3, 3, 3, 4, 4};
    const uint64_t versions[] = {1, 1, 2, 1, 0, 0, 0};
    const uint64_t creates[] = {1, 2, 1, 3, 0, 0, 0};
    const char *values[] = {"1", "1", "2", "1", "", "", ""};
    for (int i = 0; i < 7; i++) {
        ck_assert_str_eq(w->keys[i], keys[i]);
        ck_assert_uint_eq(w->types[i], types[i]);
        ck_assert_uint_eq(w->revisions[i], revs[i]);
        ck_assert_uint_eq(w->versions[i], versions[i]);
        ck_assert_uint_eq(w->creates[i], creates[i]);
        ck_assert_str_eq(w->values[i], values[i]);
    }
    w = watch(s, 0, "a", 0, &next, 0);
    ck_assert_uint_eq(w->n, 5);
    w = watch(s, 3, "a/", 0, &next, 0);
    ck_assert_uint_eq(w->n, 2);
    ck_assert_uint_eq(w->revisions[0], 3);
    ck_assert_uint_eq(w->types[1], CS_OP_DELETE);
    ck_assert_uint_eq(next, 5);
    w = watch(s, 3, "zz", 0, &next, 0);
    ck_assert_uint_eq(w->n, 0);
    ck_assert_uint_eq(next, 5);

    /* Limits: whole revisions only; a first revision larger than the limit goes out whole. */
    w = watch(s, 1, NULL, 1, &next, 0);
    ck_assert_uint_eq(w->n, 1);
    ck_assert_uint_eq(next, 2);
    w = watch(s, 3, NULL, 2, &next, 0);
    ck_assert_uint_eq(w->n, 3);
    ck_assert_uint_eq(next, 4);
    w = watch(s, 1, NULL, 4, &next, 0);
    ck_assert_uint_eq(w->n, 2);
    ck_assert_uint_eq(next, 3);
    w = watch(s, 1, "b", 3, &next, 0);
    ck_assert_uint_eq(w->n, 2);
    ck_assert_uint_eq(next, 5);
    w = watch(s, 1, "b", 1, &next, 0);
    ck_assert_uint_eq(w->n, 1);
    ck_assert_uint_eq(next, 3);

    /* From the future: nothing yet, and the next watch starts there. */
    w = watch(s, 5, NULL, 0, &next, 0);
    ck_assert_uint_eq(w->n, 0);
    ck_assert_uint_eq(next, 5);
    w = watch(s, 9, NULL, 0, &next, 0);
    ck_assert_uint_eq(next, 9);
    struct cohort_error err = {0};
    ck_assert_int_eq(cs_store_watch(s, 1, NULL, 3, 0, NULL, NULL, &next, &err), CS_E_INVALID);
    cs_store_destroy(s);
}
END_TEST

/* ---- Batches ---- */

/* Counts results, and keeps the statuses and revisions in order. */
struct batch_results {
    int calls;
    int status[8];
    uint64_t revision[8];
    bool has_id[8];
    uint8_t signer[8][20];
};

static void on_batch_result(void *arg, const struct cs_result *r)
{
    struct batch_results *b = arg;
    ck_assert_int_lt(b->calls, 8);
    b->status[b->calls] = r->status;
    b->revision[b->calls] = r->revision;
    b->has_id[b->calls] = r->id != NULL;
    memcpy(b->signer[b->calls], r->signer, 20);
    b->calls++;
}

static uint8_t unsigned_req[3][4096];
static size_t unsigned_len[3];
static uint8_t batch_wire[16384];

/* Three unsigned puts a, b, c (the second a duplicate id of the first when dup), sealed by key. */
static size_t make_batch(const uint8_t key[32], bool dup, uint64_t instance)
{
    struct cs_request r;
    struct cohort_error err = {0};
    const char *keys[3] = {"batch/a", "batch/b", "batch/c"};
    uint8_t first_id[CS_ID_BYTES];
    for (int i = 0; i < 3; i++) {
        req_init(&r);
        if (i == 0) memcpy(first_id, r.id, CS_ID_BYTES);
        if (i == 1 && dup) memcpy(r.id, first_id, CS_ID_BYTES);
        add_put(&r, false, keys[i], "v");
        ck_assert_int_eq(cs_request_encode(&r, NULL, unsigned_req[i], sizeof unsigned_req[i], &unsigned_len[i], &err), 0);
        for (int k = 0; k < CS_SIGNATURE_BYTES; k++) ck_assert_uint_eq(unsigned_req[i][unsigned_len[i] - 1 - k], 0);
    }
    const uint8_t *reqs[3] = {unsigned_req[0], unsigned_req[1], unsigned_req[2]};
    size_t len = 0;
    ck_assert_int_eq(cs_batch_encode(instance, reqs, unsigned_len, 3, key, batch_wire, sizeof batch_wire, &len, &err),
                     0);
    ck_assert_uint_eq(len, cs_batch_bytes(3, unsigned_len[0] + unsigned_len[1] + unsigned_len[2]));
    return len;
}

START_TEST(batches_apply_each_request_under_one_signature)
{
    setup_keys();
    struct cohort_error err = {0};
    /* A member's batch: three results in order, three revisions, the member as signer. */
    size_t len = make_batch(member_key[2], false, INSTANCE);
    struct cs_store *a = new_store(), *b = new_store();
    struct batch_results ra = {0}, rb = {0};
    ck_assert_int_eq(cs_store_apply(a, batch_wire, len, on_batch_result, &ra), CS_OK);
    ck_assert_int_eq(ra.calls, 3);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(ra.status[i], CS_OK);
        ck_assert_uint_eq(ra.revision[i], (uint64_t)i + 1);
        ck_assert_mem_eq(ra.signer[i], member_addr[2], 20);
    }
    /* Applied as sealed by its own member: the same results and the same store. */
    ck_assert_int_eq(cs_store_apply_sealed(b, batch_wire, len, member_addr[2], on_batch_result, &rb), CS_OK);
    ck_assert_int_eq(rb.calls, 3);
    ck_assert_mem_eq(ra.revision, rb.revision, sizeof ra.revision);
    uint8_t da[32], db[32];
    cs_store_digest(a, da);
    cs_store_digest(b, db);
    ck_assert_mem_eq(da, db, 32);
    /* Again: every request is a duplicate of itself. */
    memset(&ra, 0, sizeof ra);
    cs_store_apply(a, batch_wire, len, on_batch_result, &ra);
    for (int i = 0; i < 3; i++) ck_assert_int_eq(ra.status[i], CS_E_DUPLICATE);
    cs_store_destroy(b);

    /* A duplicate id inside one batch: the second is reported as the first's. */
    len = make_batch(member_key[0], true, INSTANCE);
    memset(&ra, 0, sizeof ra);
    cs_store_apply(a, batch_wire, len, on_batch_result, &ra);
    ck_assert_int_eq(ra.status[0], CS_OK);
    ck_assert_int_eq(ra.status[1], CS_E_DUPLICATE);
    ck_assert_uint_eq(ra.revision[1], ra.revision[0]);
    ck_assert_int_eq(ra.status[2], CS_OK);

    /* Refused whole, with one result and no id: an outsider's batch, a flipped byte, another
       instance, a truncation. The store does not change. */
    uint8_t before[32], after[32];
    cs_store_digest(a, before);
    len = make_batch(outsider_key, false, INSTANCE);
    memset(&ra, 0, sizeof ra);
    ck_assert_int_eq(cs_store_apply(a, batch_wire, len, on_batch_result, &ra), CS_E_UNAUTHORIZED);
    ck_assert_int_eq(ra.calls, 1);
    ck_assert(!ra.has_id[0]);
    len = make_batch(member_key[1], false, INSTANCE + 1);
    memset(&ra, 0, sizeof ra);
    ck_assert_int_eq(cs_store_apply(a, batch_wire, len, on_batch_result, &ra), CS_E_INSTANCE);
    len = make_batch(member_key[1], false, INSTANCE);
    for (size_t cut = 0; cut < len; cut += 7) {
        memset(&ra, 0, sizeof ra);
        ck_assert_int_ne(cs_store_apply(a, batch_wire, cut, on_batch_result, &ra), CS_OK);
        ck_assert_int_eq(ra.calls, 1);
    }
    batch_wire[40] ^= 1; /* inside the first request: the signature no longer matches the member */
    memset(&ra, 0, sizeof ra);
    int rc = cs_store_apply(a, batch_wire, len, on_batch_result, &ra);
    ck_assert(rc == CS_E_INVALID || rc == CS_E_UNAUTHORIZED);
    ck_assert_int_eq(ra.calls, 1);
    cs_store_digest(a, after);
    ck_assert_mem_eq(before, after, 32);

    /* A request in a batch that carries a signature of its own is refused, alone. */
    struct cs_request r;
    req_init(&r);
    add_put(&r, false, "batch/signed", "v");
    size_t n = sign_into(&r, member_key[0], unsigned_req[0], sizeof unsigned_req[0]);
    const uint8_t *one[1] = {unsigned_req[0]};
    size_t lens[1] = {n};
    ck_assert_int_eq(cs_batch_encode(INSTANCE, one, lens, 1, member_key[0], batch_wire, sizeof batch_wire, &len, &err),
                     0);
    memset(&ra, 0, sizeof ra);
    ck_assert_int_eq(cs_store_apply(a, batch_wire, len, on_batch_result, &ra), CS_E_INVALID);
    ck_assert(ra.has_id[0]);
    /* Caps: no request, or more than CS_BATCH_MAX. */
    ck_assert_int_eq(cs_batch_encode(INSTANCE, one, lens, 0, member_key[0], batch_wire, sizeof batch_wire, &len, &err),
                     CS_E_RANGE);
    ck_assert_int_eq(cs_batch_encode(INSTANCE, one, lens, CS_BATCH_MAX + 1, member_key[0], batch_wire,
                                     sizeof batch_wire, &len, &err),
                     CS_E_RANGE);
    cs_store_destroy(a);
}
END_TEST

int main(void)
{
    setup_keys();
    Suite *suite = suite_create("config_store");
    TCase *tc = tcase_create("config_store");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, batches_apply_each_request_under_one_signature);
    tcase_add_test(tc, layout_by_hand_matches_the_encoder);
    tcase_add_test(tc, round_trip_of_every_field);
    tcase_add_test(tc, every_truncation_fails_cleanly);
    tcase_add_test(tc, each_decode_error);
    tcase_add_test(tc, encode_checks_the_caps);
    tcase_add_test(tc, members_and_admins_write_others_are_refused);
    tcase_add_test(tc, membership_changes_through_the_members_key);
    tcase_add_test(tc, members_documents_decode_strictly);
    tcase_add_test(tc, put_get_delete_and_revisions);
    tcase_add_test(tc, ranges_read_the_state_at_their_point_in_the_request);
    tcase_add_test(tc, transaction_compares);
    tcase_add_test(tc, compare_and_swap_loop);
    tcase_add_test(tc, dedup_of_request_ids);
    tcase_add_test(tc, watches);
    tcase_add_test(tc, many_keys_fill_the_store_and_compact_the_history);
    tcase_add_test(tc, bytes_cap);
    suite_add_tcase(suite, tc);
    return testutil_run_suite(suite, false);
}
