/*
 * test_rlp.c - RLP against Ethereum's RLPTests (every file in the folder), the strictness
 * rules one by one, the depth cap, the encoder's edges and errors, and seeded random round trips.
 *
 * Expected encodings written here come from the Yellow Paper and the Ethereum wiki's RLP
 * page, or are built byte by byte from the format's rules; none are outputs of rlp.c.
 */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/hex.h"
#include "common/rlp.h"
#include "common/u256.h"
#include "testutil.h"

/*
 * The NOMEM test asks malloc for petabytes. AddressSanitizer aborts on such a request unless
 * told to return NULL like libc does; this hook (read by ASan at start-up, ignored otherwise)
 * tells it to, so the test checks the same thing in sanitized and plain builds.
 */
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "allocator_may_return_null=1"; }

/* ---- Helpers ---- */

/* Parses hex with or without 0x (the fixtures use both) into a malloc'd buffer. */
static uint8_t *from_hex(const char *text, size_t *len)
{
    size_t n = strlen(text);
    char *prefixed = malloc(n + 3);
    ck_assert_ptr_nonnull(prefixed);
    if (n >= 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X'))
        memcpy(prefixed, text, n + 1);
    else {
        prefixed[0] = '0';
        prefixed[1] = 'x';
        memcpy(prefixed + 2, text, n + 1);
    }
    uint8_t *out = malloc(n / 2 + 1);
    ck_assert_ptr_nonnull(out);
    struct cohort_error err = {0};
    if (hex_decode(prefixed, out, n / 2 + 1, len, &err) != 0) ck_abort_msg("bad hex in test data: %s", err.message);
    free(prefixed);
    return out;
}

/* Decimal digits to minimal big-endian bytes (zero: no bytes), independent of u256.c. */
static size_t decimal_to_be(const char *digits, uint8_t *out, size_t cap)
{
    uint8_t num[64] = {0};
    ck_assert_uint_le(cap, sizeof num);
    ck_assert(digits[0] != '\0');
    for (const char *p = digits; *p != '\0'; p++) {
        ck_assert(*p >= '0' && *p <= '9');
        unsigned carry = (unsigned)(*p - '0');
        for (size_t i = sizeof num; i > 0; i--) {
            unsigned v = num[i - 1] * 10u + carry;
            num[i - 1] = (uint8_t)v;
            carry = v >> 8;
        }
        ck_assert_uint_eq(carry, 0);
    }
    size_t skip = 0;
    while (skip < sizeof num && num[skip] == 0)
        skip++;
    size_t n = sizeof num - skip;
    ck_assert_uint_le(n, cap);
    memcpy(out, num + skip, n);
    return n;
}

static void assert_bytes(const uint8_t *got, size_t got_len, const uint8_t *want, size_t want_len, const char *what)
{
    if (got_len != want_len || (want_len > 0 && memcmp(got, want, want_len) != 0)) {
        char g[200], w[200];
        hex_encode(got, got_len > 90 ? 90 : got_len, g, sizeof g);
        hex_encode(want, want_len > 90 ? 90 : want_len, w, sizeof w);
        ck_abort_msg("%s: got %zu bytes %s..., want %zu bytes %s...", what, got_len, g, want_len, w);
    }
}

/* Checks that buf holds no error and exactly the bytes of want_hex. */
static void assert_buf_hex(const struct rlp_buf *buf, const char *want_hex, const char *what)
{
    struct cohort_error err = {0};
    ck_assert_msg(rlp_buf_check(buf, &err) == 0, "%s: %s", what, err.message);
    size_t want_len;
    uint8_t *want = from_hex(want_hex, &want_len);
    assert_bytes(buf->data, buf->len, want, want_len, what);
    free(want);
}

/*
 * cJSON ends strings at the first NUL, so "\u0000" reads as "". This finds the raw literal
 * of member `key` of case `name` in the file's text and decodes its escapes itself, so a
 * string with NUL bytes keeps its true length. Returns the length; out must hold it.
 */
static size_t raw_json_string(const char *text, const char *name, const char *key, uint8_t *out, size_t cap)
{
    char quoted[256];
    snprintf(quoted, sizeof quoted, "\"%s\"", name);
    const char *p = strstr(text, quoted);
    ck_assert_msg(p != NULL, "case %s not found in the raw text", name);
    snprintf(quoted, sizeof quoted, "\"%s\"", key);
    p = strstr(p, quoted);
    ck_assert_msg(p != NULL, "member %s of case %s not found in the raw text", key, name);
    p += strlen(quoted);
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == ':')
        p++;
    ck_assert_msg(*p == '"', "case %s: %s is not a string literal", name, key);
    p++;
    size_t n = 0;
    while (*p != '"') {
        ck_assert_msg(*p != '\0', "case %s: unterminated string", name);
        ck_assert_uint_lt(n + 4, cap);
        if (*p != '\\') {
            out[n++] = (uint8_t)*p++;
            continue;
        }
        p++;
        char c = *p++;
        switch (c) {
        case '"': case '\\': case '/': out[n++] = (uint8_t)c; break;
        case 'b': out[n++] = '\b'; break;
        case 'f': out[n++] = '\f'; break;
        case 'n': out[n++] = '\n'; break;
        case 'r': out[n++] = '\r'; break;
        case 't': out[n++] = '\t'; break;
        case 'u': {
            unsigned cp = 0;
            for (int i = 0; i < 4; i++) {
                int d = hex_digit_value(*p++);
                ck_assert_int_ge(d, 0);
                cp = cp << 4 | (unsigned)d;
            }
            if (cp >= 0xd800 && cp < 0xdc00) { /* a surrogate pair */
                ck_assert(p[0] == '\\' && p[1] == 'u');
                p += 2;
                unsigned lo = 0;
                for (int i = 0; i < 4; i++) {
                    int d = hex_digit_value(*p++);
                    ck_assert_int_ge(d, 0);
                    lo = lo << 4 | (unsigned)d;
                }
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            }
            if (cp < 0x80) out[n++] = (uint8_t)cp;
            else if (cp < 0x800) {
                out[n++] = (uint8_t)(0xc0 | cp >> 6);
                out[n++] = (uint8_t)(0x80 | (cp & 0x3f));
            } else if (cp < 0x10000) {
                out[n++] = (uint8_t)(0xe0 | cp >> 12);
                out[n++] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
                out[n++] = (uint8_t)(0x80 | (cp & 0x3f));
            } else {
                out[n++] = (uint8_t)(0xf0 | cp >> 18);
                out[n++] = (uint8_t)(0x80 | (cp >> 12 & 0x3f));
                out[n++] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
                out[n++] = (uint8_t)(0x80 | (cp & 0x3f));
            }
            break;
        }
        default: ck_abort_msg("case %s: bad escape \\%c", name, c);
        }
    }
    return n;
}

/* A JSON number that must be a non-negative integer a double holds exactly. */
static uint64_t json_uint(const cJSON *v)
{
    ck_assert(cJSON_IsNumber(v));
    double d = v->valuedouble;
    ck_assert_msg(d >= 0 && d < 9007199254740992.0 && d == (double)(uint64_t)d, "integer %f out of test range", d);
    return (uint64_t)d;
}

#define LEAF_MAX 4096
#define JSON_DEPTH_MAX 64

/*
 * A leaf of a fixture's "in": its bytes, and whether it is an integer (number or "#digits").
 * Nested strings are read with strlen: the fixtures' nested strings hold no NUL, and one
 * that did would fail the comparison with "out", not pass silently.
 */
struct leaf {
    uint8_t bytes[LEAF_MAX];
    size_t len;
    bool is_int;
    bool is_big;      /* "#digits" */
    uint64_t small;   /* the value of a JSON number */
};

static void read_leaf(const cJSON *v, const uint8_t *raw, size_t raw_len, struct leaf *leaf)
{
    memset(leaf, 0, sizeof *leaf);
    if (cJSON_IsNumber(v)) {
        leaf->is_int = true;
        leaf->small = json_uint(v);
        for (int shift = 56; shift >= 0; shift -= 8) {
            uint8_t b = (uint8_t)(leaf->small >> shift);
            if (leaf->len == 0 && b == 0) continue;
            leaf->bytes[leaf->len++] = b;
        }
        return;
    }
    ck_assert_msg(cJSON_IsString(v), "unexpected JSON type in a fixture");
    if (v->valuestring[0] == '#') {
        leaf->is_int = leaf->is_big = true;
        leaf->len = decimal_to_be(v->valuestring + 1, leaf->bytes, 64);
        return;
    }
    size_t n = strlen(v->valuestring);
    if (raw != NULL) {
        /* The raw literal must agree with cJSON up to cJSON's first NUL. */
        ck_assert_uint_le(n, raw_len);
        ck_assert(memcmp(raw, v->valuestring, n) == 0);
        ck_assert(n == raw_len || raw[n] == 0);
        n = raw_len;
        memcpy(leaf->bytes, raw, n);
    } else {
        ck_assert_uint_le(n, LEAF_MAX);
        memcpy(leaf->bytes, v->valuestring, n);
    }
    leaf->len = n;
}

static void encode_leaf(struct rlp_buf *buf, const struct leaf *leaf, const cJSON *v)
{
    if (leaf->is_int && !leaf->is_big) {
        rlp_encode_u64(buf, leaf->small);
    } else if (leaf->is_big && leaf->len <= 32) {
        /* Through u256, so the fixtures' big integers test rlp_encode_u256 too. */
        u256 value;
        struct cohort_error err = {0};
        ck_assert_msg(u256_from_dec(v->valuestring + 1, &value, &err) == 0, "%s", err.message);
        rlp_encode_u256(buf, value);
    } else {
        rlp_encode_bytes(buf, leaf->bytes, leaf->len);
    }
}

/* Checks that a decoded string item holds what the JSON leaf says, through every reader that applies. */
static void compare_leaf(const struct rlp_item *item, const struct leaf *leaf, const char *name)
{
    struct cohort_error err = {0};
    ck_assert_msg(!item->is_list, "%s: decoded a list where the fixture has a string", name);
    static uint8_t copy[LEAF_MAX];
    size_t copy_len = 0;
    ck_assert_int_eq(rlp_item_to_bytes(item, copy, sizeof copy, &copy_len, &err), 0);
    assert_bytes(copy, copy_len, leaf->bytes, leaf->len, name);
    if (!leaf->is_int) return;
    if (leaf->len <= 8) {
        uint64_t v = 0;
        ck_assert_msg(rlp_item_to_u64(item, &v, &err) == 0, "%s: %s", name, err.message);
        if (!leaf->is_big) ck_assert_uint_eq(v, leaf->small);
    }
    u256 big;
    if (leaf->len <= 32) {
        ck_assert_msg(rlp_item_to_u256(item, &big, &err) == 0, "%s: %s", name, err.message);
        uint8_t be[32];
        u256_store_be(be, big);
        ck_assert(memcmp(be + 32 - leaf->len, leaf->bytes, leaf->len) == 0);
        for (size_t i = 0; i < 32 - leaf->len; i++)
            ck_assert_uint_eq(be[i], 0);
    } else {
        ck_assert_int_eq(rlp_item_to_u256(item, &big, &err), COMMON_E_RANGE);
    }
}

/* Encodes a fixture's "in" (any nesting) without recursion. raw: the top string's true bytes, or NULL. */
static void encode_json(struct rlp_buf *buf, const cJSON *value, const uint8_t *raw, size_t raw_len)
{
    struct {
        const cJSON *node;
        size_t marker;
    } stack[JSON_DEPTH_MAX];
    size_t depth = 0;
    static struct leaf leaf;
    const cJSON *cur = value;
    for (;;) {
        if (cJSON_IsArray(cur)) {
            ck_assert_uint_lt(depth, JSON_DEPTH_MAX);
            stack[depth].node = cur;
            stack[depth].marker = rlp_encode_list_begin(buf);
            depth++;
            if (cur->child != NULL) {
                cur = cur->child;
                continue;
            }
            depth--; /* an empty list ends at once */
            rlp_encode_list_end(buf, stack[depth].marker);
        } else {
            read_leaf(cur, depth == 0 ? raw : NULL, raw_len, &leaf);
            encode_leaf(buf, &leaf, cur);
        }
        /* cur is done: move to its next sibling, closing the lists it finished. */
        for (;;) {
            if (depth == 0) return;
            if (cur->next != NULL) {
                cur = cur->next;
                break;
            }
            depth--;
            rlp_encode_list_end(buf, stack[depth].marker);
            cur = stack[depth].node;
        }
    }
}

/* Decodes `out` and compares it with the fixture's "in", walking both without recursion. */
static void decode_and_compare(const uint8_t *out, size_t out_len, const cJSON *value, const uint8_t *raw,
                               size_t raw_len, const char *name)
{
    struct cohort_error err = {0};
    struct rlp_item item;
    ck_assert_msg(rlp_decode_whole(out, out_len, &item, &err) == 0, "%s: %s", name, err.message);
    struct {
        struct rlp_iter it;
        const cJSON *next;
    } stack[JSON_DEPTH_MAX];
    size_t depth = 0;
    static struct leaf leaf;
    const cJSON *cur = value;
    for (;;) {
        if (cJSON_IsArray(cur)) {
            ck_assert_msg(item.is_list, "%s: decoded a string where the fixture has a list", name);
            size_t count = 0;
            ck_assert_int_eq(rlp_list_count(&item, &count, &err), 0);
            ck_assert_uint_eq(count, (size_t)cJSON_GetArraySize(cur));
            ck_assert_uint_lt(depth, JSON_DEPTH_MAX);
            ck_assert_int_eq(rlp_iter_init(&stack[depth].it, &item, &err), 0);
            stack[depth].next = cur->child;
            depth++;
        } else {
            read_leaf(cur, depth == 0 ? raw : NULL, raw_len, &leaf);
            compare_leaf(&item, &leaf, name);
        }
        for (;;) {
            if (depth == 0) return;
            int rc = rlp_iter_next(&stack[depth - 1].it, &item, &err);
            if (stack[depth - 1].next != NULL) {
                ck_assert_msg(rc == 1, "%s: list ended early (%d: %s)", name, rc, err.message);
                cur = stack[depth - 1].next;
                stack[depth - 1].next = cur->next;
                break;
            }
            ck_assert_msg(rc == 0, "%s: list has more items than the fixture (%d)", name, rc);
            depth--;
        }
    }
}

/*
 * Decodes in[0..len) with the iterator and re-encodes every item with the encoder, without
 * recursion. Returns the first error, so a caller can compare it with rlp_validate's verdict.
 */
static int reencode(const uint8_t *in, size_t len, unsigned max_depth, struct rlp_buf *out, struct cohort_error *err)
{
    struct {
        struct rlp_iter it;
        size_t marker;
    } stack[RLP_DEPTH_LIMIT];
    ck_assert_uint_le(max_depth, RLP_DEPTH_LIMIT);
    unsigned depth = 0;
    struct rlp_item item;
    int rc = rlp_decode_whole(in, len, &item, err);
    if (rc != 0) return rc;
    for (;;) {
        if (item.is_list) {
            if (depth >= max_depth) return cohort_error_set(err, COMMON_E_DEPTH, "test", "too deep");
            rc = rlp_iter_init(&stack[depth].it, &item, err);
            ck_assert_int_eq(rc, 0);
            stack[depth].marker = rlp_encode_list_begin(out);
            depth++;
        } else {
            rlp_encode_bytes(out, item.payload, item.payload_len);
        }
        for (;;) {
            if (depth == 0) return 0;
            rc = rlp_iter_next(&stack[depth - 1].it, &item, err);
            if (rc < 0) return rc;
            if (rc == 1) break;
            depth--;
            rlp_encode_list_end(out, stack[depth].marker);
        }
    }
}

/* ---- Ethereum's RLPTests ---- */

struct fixture_counts {
    size_t files;
    size_t cases;
    size_t encoded;  /* valid cases encoded from "in" and compared */
    size_t refused;  /* "INVALID" cases refused */
    size_t accepted; /* "VALID" cases accepted */
};

static void run_fixture_file(const char *path, void *arg)
{
    struct fixture_counts *counts = arg;
    cJSON *root = testutil_read_json(path);
    char *text = testutil_read_file(path, NULL);
    ck_assert_msg(cJSON_IsObject(root), "%s: not a JSON object", path);
    counts->files++;
    static uint8_t raw[LEAF_MAX];
    for (const cJSON *c = root->child; c != NULL; c = c->next) {
        char name[300];
        snprintf(name, sizeof name, "%s: %s", path, c->string);
        const cJSON *in = cJSON_GetObjectItemCaseSensitive(c, "in");
        const cJSON *out_json = cJSON_GetObjectItemCaseSensitive(c, "out");
        ck_assert_msg(in != NULL && cJSON_IsString(out_json), "%s: needs in and a string out", name);
        size_t out_len;
        uint8_t *out = from_hex(out_json->valuestring, &out_len);
        struct cohort_error err = {0};
        counts->cases++;
        if (cJSON_IsString(in) && strcmp(in->valuestring, "INVALID") == 0) {
            int rc = rlp_validate(out, out_len, RLP_MAX_DEPTH, &err);
            ck_assert_msg(rc < 0, "%s: the strict decoder accepted an invalid encoding", name);
            ck_assert_msg(strstr(err.message, "rlp: offset ") != NULL, "%s: message lacks an offset: %s", name,
                          err.message);
            counts->refused++;
        } else if (cJSON_IsString(in) && strcmp(in->valuestring, "VALID") == 0) {
            ck_assert_msg(rlp_validate(out, out_len, RLP_MAX_DEPTH, &err) == 0, "%s: %s", name, err.message);
            struct rlp_buf again;
            rlp_buf_init(&again, 0);
            ck_assert_msg(reencode(out, out_len, RLP_MAX_DEPTH, &again, &err) == 0, "%s: %s", name, err.message);
            assert_bytes(again.data, again.len, out, out_len, name);
            rlp_buf_free(&again);
            counts->accepted++;
        } else {
            size_t raw_len = 0;
            const uint8_t *top_raw = NULL;
            if (cJSON_IsString(in) && in->valuestring[0] != '#') {
                raw_len = raw_json_string(text, c->string, "in", raw, sizeof raw);
                top_raw = raw;
            }
            struct rlp_buf buf;
            rlp_buf_init(&buf, 0);
            encode_json(&buf, in, top_raw, raw_len);
            ck_assert_msg(rlp_buf_check(&buf, &err) == 0, "%s: %s", name, err.message);
            assert_bytes(buf.data, buf.len, out, out_len, name);
            rlp_buf_free(&buf);
            ck_assert_msg(rlp_validate(out, out_len, RLP_MAX_DEPTH, &err) == 0, "%s: %s", name, err.message);
            decode_and_compare(out, out_len, in, top_raw, raw_len, name);
            counts->encoded++;
        }
        free(out);
    }
    free(text);
    cJSON_Delete(root);
}

static void count_file(const char *path, void *arg)
{
    (void)path;
    (*(size_t *)arg)++;
}

START_TEST(ethereum_rlp_tests)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/ethereum-tests/RLPTests", testutil_fixtures_dir());
    struct fixture_counts counts = {0};
    size_t all_files = 0;
    testutil_walk(dir, "", count_file, &all_files);
    size_t visited = testutil_walk(dir, ".json", run_fixture_file, &counts);
    /* Every file in the folder is a JSON case file we ran: nothing is silently ignored. */
    ck_assert_uint_eq(visited, all_files);
    ck_assert_uint_eq(visited, counts.files);
    /* The folder as shipped: rlptest.json, invalidRLPTest.json, RandomRLPTests/example.json. */
    ck_assert_uint_ge(counts.files, 3);
    ck_assert_uint_eq(counts.cases, counts.encoded + counts.refused + counts.accepted);
    ck_assert_uint_ge(counts.encoded, 28);
    ck_assert_uint_ge(counts.refused, 26);
    ck_assert_uint_ge(counts.accepted, 1);
    fprintf(stderr, "test_rlp: RLPTests: %zu files, %zu cases (%zu encoded and decoded, %zu refused, %zu accepted)\n",
            counts.files, counts.cases, counts.encoded, counts.refused, counts.accepted);
}
END_TEST

/* ---- Strictness, rule by rule ---- */

/* Expects rlp_validate (and the shallow decoder when shallow_too) to refuse hex with code and a message naming offset. */
static void expect_refused(const char *hex, int code, size_t offset, bool shallow_too)
{
    size_t len;
    uint8_t *in = from_hex(hex, &len);
    struct cohort_error err = {0};
    int rc = rlp_validate(in, len, RLP_MAX_DEPTH, &err);
    ck_assert_msg(rc == code, "%s: validate returned %d (%s), want %d", hex, rc, err.message, code);
    char want[64];
    snprintf(want, sizeof want, "rlp: offset %zu:", offset);
    ck_assert_msg(strstr(err.message, want) != NULL, "%s: message \"%s\" lacks \"%s\"", hex, err.message, want);
    if (shallow_too) {
        struct rlp_item item = {0};
        cohort_error_clear(&err);
        ck_assert_int_eq(rlp_decode_item(in, len, &item, &err), code);
        ck_assert_ptr_null(item.payload); /* untouched on error */
    }
    free(in);
}

static void expect_valid(const char *hex)
{
    size_t len;
    uint8_t *in = from_hex(hex, &len);
    struct cohort_error err = {0};
    ck_assert_msg(rlp_validate(in, len, RLP_MAX_DEPTH, &err) == 0, "%s: %s", hex, err.message);
    free(in);
}

/* A hex string of n bytes 0x61 ('a') after a header. */
static char *hex_with_filler(const char *header, size_t n)
{
    size_t h = strlen(header);
    char *s = malloc(h + 2 * n + 1);
    ck_assert_ptr_nonnull(s);
    memcpy(s, header, h);
    for (size_t i = 0; i < n; i++)
        memcpy(s + h + 2 * i, "61", 2);
    s[h + 2 * n] = '\0';
    return s;
}

START_TEST(non_minimal_lengths)
{
    /* Long form for lengths under 56. */
    char *s = hex_with_filler("0xb805", 5);
    expect_refused(s, COMMON_E_NONCANONICAL, 0, true);
    free(s);
    s = hex_with_filler("0xb837", 55);
    expect_refused(s, COMMON_E_NONCANONICAL, 0, true);
    free(s);
    s = hex_with_filler("0xb838", 56); /* the first length that needs the long form */
    expect_valid(s);
    free(s);
    s = hex_with_filler("0xb7", 55); /* the last that takes the short form */
    expect_valid(s);
    free(s);
    expect_refused("0xf80180", COMMON_E_NONCANONICAL, 0, true);
    expect_refused("0xf800", COMMON_E_NONCANONICAL, 0, true);
    /* Leading zero bytes in a length. */
    s = hex_with_filler("0xb90038", 56);
    expect_refused(s, COMMON_E_NONCANONICAL, 0, true);
    free(s);
    expect_refused("0xf90000", COMMON_E_NONCANONICAL, 0, true);
    /* A single byte below 0x80 wrapped as a one-byte string; 0x80 itself needs the wrapper. */
    expect_refused("0x8100", COMMON_E_NONCANONICAL, 0, true);
    expect_refused("0x817f", COMMON_E_NONCANONICAL, 0, true);
    expect_valid("0x8180");
    expect_valid("0x81ff");
    expect_valid("0x820001"); /* two bytes starting with zero are a fine string */
    /* Deep inside: offsets count from the start of the input. c3 [c2 [81 00]]: the bad item is at 2. */
    expect_refused("0xc3c28100", COMMON_E_NONCANONICAL, 2, false);
    expect_refused("0xc58080c28105", COMMON_E_NONCANONICAL, 4, false);
}
END_TEST

START_TEST(lengths_past_the_end)
{
    expect_refused("0x", COMMON_E_TRUNCATED, 0, true);
    expect_refused("0x836162", COMMON_E_TRUNCATED, 0, true);
    expect_refused("0x81", COMMON_E_TRUNCATED, 0, true);
    expect_refused("0xb8", COMMON_E_TRUNCATED, 0, true);
    expect_refused("0xb90100", COMMON_E_TRUNCATED, 0, true);
    expect_refused("0xbf0f000000000000021111", COMMON_E_TRUNCATED, 0, true);
    expect_refused("0xc3", COMMON_E_TRUNCATED, 0, true);
    /* A child that runs past its list's end, though not past the input's: c2 [83 61] 62. */
    size_t len;
    uint8_t *in = from_hex("0xc2836162", &len);
    struct rlp_item top, child;
    struct cohort_error err = {0};
    ck_assert_int_eq(rlp_decode_item(in, len, &top, &err), 0);
    ck_assert_uint_eq(top.encoded_len, 3);
    struct rlp_iter it;
    ck_assert_int_eq(rlp_iter_init(&it, &top, &err), 0);
    ck_assert_int_eq(rlp_iter_next(&it, &child, &err), COMMON_E_TRUNCATED);
    ck_assert_ptr_nonnull(strstr(err.message, "offset 1:"));
    ck_assert_uint_eq(it.left, 2); /* the iterator did not move */
    free(in);
    expect_refused("0xc2836162", COMMON_E_INVALID, 3, false); /* as a whole input: the 62 trails */
    expect_refused("0xc3836162", COMMON_E_TRUNCATED, 1, false); /* c3 [83 61 62]: the child needs 4 of 3 bytes */
}
END_TEST

START_TEST(lengths_that_overflow)
{
    /* 2^64 - 1 bytes: no header plus payload of that size fits in size_t. */
    expect_refused("0xbfffffffffffffffff", COMMON_E_RANGE, 0, true);
    expect_refused("0xffffffffffffffffff0001020304050607", COMMON_E_RANGE, 0, true);
    expect_refused("0xc9ffffffffffffffffff", COMMON_E_RANGE, 1, false);
}
END_TEST

START_TEST(trailing_bytes)
{
    size_t len;
    uint8_t *in = from_hex("0x8361626380", &len);
    struct rlp_item item;
    struct cohort_error err = {0};
    /* As a prefix the first item is fine and says where it ends... */
    ck_assert_int_eq(rlp_decode_item(in, len, &item, &err), 0);
    ck_assert_uint_eq(item.encoded_len, 4);
    ck_assert_uint_eq(item.payload_len, 3);
    ck_assert(memcmp(item.payload, "abc", 3) == 0);
    ck_assert_ptr_eq(item.payload, in + 1); /* zero-copy */
    /* ...but as a whole input the extra byte is refused. */
    ck_assert_int_eq(rlp_decode_whole(in, len, &item, &err), COMMON_E_INVALID);
    ck_assert_ptr_nonnull(strstr(err.message, "offset 4:"));
    ck_assert_int_eq(rlp_validate(in, len, RLP_MAX_DEPTH, &err), COMMON_E_INVALID);
    ck_assert_int_eq(rlp_decode_whole(in, 4, &item, &err), 0);
    free(in);
    expect_refused("0xc0c0", COMMON_E_INVALID, 1, false);
}
END_TEST

/* Builds `levels` nested lists around an empty list by hand, from the inside out. */
static uint8_t *nested_lists(size_t levels, size_t *out_len)
{
    size_t cap = levels * 9 + 1;
    uint8_t *buf = malloc(cap);
    ck_assert_ptr_nonnull(buf);
    size_t start = cap - 1;
    buf[start] = 0xc0;
    for (size_t i = 1; i < levels; i++) {
        size_t payload = cap - start;
        if (payload <= 55) {
            buf[--start] = (uint8_t)(0xc0 + payload);
        } else {
            size_t n = 0;
            for (size_t v = payload; v != 0; v >>= 8)
                buf[--start] = (uint8_t)v, n++;
            buf[--start] = (uint8_t)(0xf7 + n);
        }
    }
    *out_len = cap - start;
    memmove(buf, buf + start, *out_len);
    return buf;
}

START_TEST(depth_cap)
{
    struct cohort_error err = {0};
    size_t len;
    uint8_t *in = nested_lists(RLP_MAX_DEPTH, &len);
    ck_assert_int_eq(rlp_validate(in, len, RLP_MAX_DEPTH, &err), 0);
    ck_assert_int_eq(rlp_validate(in, len, RLP_MAX_DEPTH - 1, &err), COMMON_E_DEPTH);
    free(in);
    in = nested_lists(RLP_MAX_DEPTH + 1, &len);
    ck_assert_int_eq(rlp_validate(in, len, RLP_MAX_DEPTH, &err), COMMON_E_DEPTH);
    ck_assert_ptr_nonnull(strstr(err.message, "cap of 64"));
    ck_assert_int_eq(rlp_validate(in, len, RLP_MAX_DEPTH + 1, &err), 0);
    free(in);
    /* A million levels: refused at the cap, without recursion (this would blow a recursive decoder's stack). */
    in = nested_lists(1000000, &len);
    ck_assert_int_eq(rlp_validate(in, len, RLP_MAX_DEPTH, &err), COMMON_E_DEPTH);
    ck_assert_int_eq(rlp_validate(in, len, RLP_DEPTH_LIMIT, &err), COMMON_E_DEPTH);
    free(in);
    /* max_depth 0: strings only. */
    uint8_t empty_list = 0xc0, empty_string = 0x80;
    ck_assert_int_eq(rlp_validate(&empty_list, 1, 0, &err), COMMON_E_DEPTH);
    ck_assert_int_eq(rlp_validate(&empty_string, 1, 0, &err), 0);
    /* Siblings do not add depth: [[],[],[[]]] is 3 deep, and the list that passes the cap is named. */
    uint8_t wide[] = {0xc4, 0xc0, 0xc0, 0xc1, 0xc0};
    ck_assert_int_eq(rlp_validate(wide, sizeof wide, 3, &err), 0);
    ck_assert_int_eq(rlp_validate(wide, sizeof wide, 2, &err), COMMON_E_DEPTH);
    ck_assert_ptr_nonnull(strstr(err.message, "offset 4:"));
    ck_assert_int_eq(rlp_validate(wide, sizeof wide, 1, &err), COMMON_E_DEPTH);
    ck_assert_ptr_nonnull(strstr(err.message, "offset 1:"));
}
END_TEST

START_TEST(integers)
{
    struct cohort_error err = {0};
    struct rlp_item item;
    uint64_t v = 42;
    u256 big;
    size_t len;
    uint8_t *in;

    in = from_hex("0x80", &len); /* zero */
    ck_assert_int_eq(rlp_decode_whole(in, len, &item, &err), 0);
    ck_assert_int_eq(rlp_item_to_u64(&item, &v, &err), 0);
    ck_assert_uint_eq(v, 0);
    ck_assert_int_eq(rlp_item_to_u256(&item, &big, &err), 0);
    ck_assert(u256_is_zero(big));
    free(in);

    in = from_hex("0x00", &len); /* a valid string, but not a valid integer */
    ck_assert_int_eq(rlp_decode_whole(in, len, &item, &err), 0);
    v = 42;
    ck_assert_int_eq(rlp_item_to_u64(&item, &v, &err), COMMON_E_NONCANONICAL);
    ck_assert_uint_eq(v, 42);
    ck_assert_ptr_nonnull(strstr(err.message, "leading zero"));
    ck_assert_int_eq(rlp_item_to_u256(&item, &big, &err), COMMON_E_NONCANONICAL);
    free(in);

    in = from_hex("0x820001", &len);
    ck_assert_int_eq(rlp_decode_whole(in, len, &item, &err), 0);
    ck_assert_int_eq(rlp_item_to_u64(&item, &v, &err), COMMON_E_NONCANONICAL);
    free(in);

    in = from_hex("0x820400", &len);
    ck_assert_int_eq(rlp_decode_whole(in, len, &item, &err), 0);
    ck_assert_int_eq(rlp_item_to_u64(&item, &v, &err), 0);
    ck_assert_uint_eq(v, 1024);
    free(in);

    in = from_hex("0x88ffffffffffffffff", &len);
    ck_assert_int_eq(rlp_decode_whole(in, len, &item, &err), 0);
    ck_assert_int_eq(rlp_item_to_u64(&item, &v, &err), 0);
    ck_assert_uint_eq(v, UINT64_MAX);
    free(in);

    in = from_hex("0x89010000000000000000", &len); /* 2^64 */
    ck_assert_int_eq(rlp_decode_whole(in, len, &item, &err), 0);
    ck_assert_int_eq(rlp_item_to_u64(&item, &v, &err), COMMON_E_RANGE);
    ck_assert_ptr_nonnull(strstr(err.message, "9 bytes"));
    ck_assert_int_eq(rlp_item_to_u256(&item, &big, &err), 0);
    ck_assert(u256_eq(big, (u256){{0, 1, 0, 0}}));
    free(in);

    in = from_hex("0xa0ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", &len);
    ck_assert_int_eq(rlp_decode_whole(in, len, &item, &err), 0);
    ck_assert_int_eq(rlp_item_to_u256(&item, &big, &err), 0);
    ck_assert(u256_eq(big, u256_max()));
    free(in);

    in = from_hex("0xa1010000000000000000000000000000000000000000000000000000000000000000", &len);
    ck_assert_int_eq(rlp_decode_whole(in, len, &item, &err), 0);
    ck_assert_int_eq(rlp_item_to_u256(&item, &big, &err), COMMON_E_RANGE);
    free(in);

    in = from_hex("0xc180", &len);
    ck_assert_int_eq(rlp_decode_whole(in, len, &item, &err), 0);
    ck_assert_int_eq(rlp_item_to_u64(&item, &v, &err), COMMON_E_INVALID);
    ck_assert_int_eq(rlp_item_to_u256(&item, &big, &err), COMMON_E_INVALID);
    free(in);
}
END_TEST

START_TEST(bytes_and_addresses)
{
    struct cohort_error err = {0};
    struct rlp_item item, child;
    size_t len, got = 0;
    uint8_t addr[20], small[4];
    /* [address, 19 bytes, "dog"]: 21 + 20 + 4 = 45 bytes of items, header 0xc0 + 45 */
    uint8_t *in = from_hex("0xed"
                           "94000102030405060708090a0b0c0d0e0f10111213"
                           "93000102030405060708090a0b0c0d0e0f101112"
                           "83646f67",
                           &len);
    ck_assert_int_eq(rlp_validate(in, len, RLP_MAX_DEPTH, &err), 0);
    ck_assert_int_eq(rlp_decode_whole(in, len, &item, &err), 0);
    size_t count = 0;
    ck_assert_int_eq(rlp_list_count(&item, &count, &err), 0);
    ck_assert_uint_eq(count, 3);
    struct rlp_iter it;
    ck_assert_int_eq(rlp_iter_init(&it, &item, &err), 0);
    ck_assert_int_eq(rlp_iter_next(&it, &child, &err), 1);
    ck_assert_uint_eq(child.offset, 1);
    ck_assert_int_eq(rlp_item_to_address(&child, addr, &err), 0);
    ck_assert_uint_eq(addr[0], 0x00);
    ck_assert_uint_eq(addr[19], 0x13);
    ck_assert_int_eq(rlp_iter_next(&it, &child, &err), 1);
    ck_assert_uint_eq(child.offset, 22);
    memset(addr, 0xee, sizeof addr);
    ck_assert_int_eq(rlp_item_to_address(&child, addr, &err), COMMON_E_RANGE);
    ck_assert_ptr_nonnull(strstr(err.message, "offset 22:"));
    ck_assert_uint_eq(addr[0], 0xee); /* nothing written */
    ck_assert_int_eq(rlp_iter_next(&it, &child, &err), 1);
    ck_assert_int_eq(rlp_item_to_bytes(&child, small, 3, &got, &err), 0);
    ck_assert_uint_eq(got, 3);
    ck_assert(memcmp(small, "dog", 3) == 0);
    ck_assert_int_eq(rlp_item_to_bytes(&child, small, 2, &got, &err), COMMON_E_RANGE);
    ck_assert_int_eq(rlp_iter_next(&it, &child, &err), 0);
    ck_assert_int_eq(rlp_iter_next(&it, &child, &err), 0);
    /* Strings are not lists, lists are not strings. */
    ck_assert_int_eq(rlp_item_to_bytes(&item, small, sizeof small, &got, &err), COMMON_E_INVALID);
    ck_assert_int_eq(rlp_item_to_address(&item, addr, &err), COMMON_E_INVALID);
    ck_assert_int_eq(rlp_iter_init(&it, &child, &err), COMMON_E_INVALID);
    ck_assert_int_eq(rlp_list_count(&child, &count, &err), COMMON_E_INVALID);
    free(in);
}
END_TEST

/* ---- Encoder ---- */

START_TEST(encoder_examples)
{
    struct rlp_buf b;
    rlp_buf_init(&b, 0);
    rlp_encode_bytes(&b, (const uint8_t *)"dog", 3);
    assert_buf_hex(&b, "0x83646f67", "dog");
    rlp_buf_reset(&b);
    size_t m = rlp_encode_list_begin(&b);
    rlp_encode_bytes(&b, (const uint8_t *)"cat", 3);
    rlp_encode_bytes(&b, (const uint8_t *)"dog", 3);
    rlp_encode_list_end(&b, m);
    assert_buf_hex(&b, "0xc88363617483646f67", "[cat, dog]");
    rlp_buf_reset(&b);
    rlp_encode_bytes(&b, NULL, 0);
    m = rlp_encode_list_begin(&b);
    rlp_encode_list_end(&b, m);
    uint8_t byte = 0x0f, high = 0x80;
    rlp_encode_bytes(&b, &byte, 1);
    rlp_encode_bytes(&b, &high, 1);
    assert_buf_hex(&b, "0x80c00f8180", "empty string, empty list, 0x0f, 0x80");
    rlp_buf_reset(&b);
    const uint64_t ints[] = {0, 1, 15, 127, 128, 255, 256, 1024, 0xffffff, UINT64_MAX};
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
        rlp_encode_u64(&b, ints[i]);
    assert_buf_hex(&b, "0x80010f7f818081ff820100820400" "83ffffff" "88ffffffffffffffff", "integers");
    rlp_buf_reset(&b);
    rlp_encode_u256(&b, u256_zero());
    rlp_encode_u256(&b, u256_from_u64(0x7f));
    rlp_encode_u256(&b, (u256){{0, 1, 0, 0}});
    rlp_encode_u256(&b, u256_max());
    assert_buf_hex(&b,
                   "0x807f89010000000000000000"
                   "a0ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
                   "u256");
    /* The set-theoretic representation of three: [ [], [[]], [ [], [[]] ] ]. */
    rlp_buf_reset(&b);
    size_t outer = rlp_encode_list_begin(&b);
    m = rlp_encode_list_begin(&b);
    rlp_encode_list_end(&b, m);
    m = rlp_encode_list_begin(&b);
    size_t inner = rlp_encode_list_begin(&b);
    rlp_encode_list_end(&b, inner);
    rlp_encode_list_end(&b, m);
    m = rlp_encode_list_begin(&b);
    inner = rlp_encode_list_begin(&b);
    rlp_encode_list_end(&b, inner);
    inner = rlp_encode_list_begin(&b);
    size_t innermost = rlp_encode_list_begin(&b);
    rlp_encode_list_end(&b, innermost);
    rlp_encode_list_end(&b, inner);
    rlp_encode_list_end(&b, m);
    rlp_encode_list_end(&b, outer);
    assert_buf_hex(&b, "0xc7c0c1c0c3c0c1c0", "three");
    /* Raw pre-encoded items inside a list. */
    rlp_buf_reset(&b);
    m = rlp_encode_list_begin(&b);
    rlp_encode_raw(&b, (const uint8_t *)"\x83" "dog", 4);
    rlp_encode_raw(&b, (const uint8_t *)"\xc0", 1);
    rlp_encode_list_end(&b, m);
    assert_buf_hex(&b, "0xc583646f67c0", "raw");
    rlp_buf_free(&b);
    ck_assert_ptr_null(b.data);
    ck_assert_uint_eq(b.len, 0);
}
END_TEST

START_TEST(encoder_long_forms)
{
    struct rlp_buf b;
    rlp_buf_init(&b, 0);
    uint8_t data[1024];
    memset(data, 'a', sizeof data);
    rlp_encode_bytes(&b, data, 55);
    char *want = hex_with_filler("0xb7", 55);
    assert_buf_hex(&b, want, "55 bytes");
    free(want);
    rlp_buf_reset(&b);
    rlp_encode_bytes(&b, data, 56);
    want = hex_with_filler("0xb838", 56);
    assert_buf_hex(&b, want, "56 bytes");
    free(want);
    rlp_buf_reset(&b);
    rlp_encode_bytes(&b, data, 1024);
    want = hex_with_filler("0xb90400", 1024);
    assert_buf_hex(&b, want, "1024 bytes");
    free(want);
    /* Lists at the 55/56 boundary, nested so an inner header insert moves an outer's items. */
    rlp_buf_reset(&b);
    size_t outer = rlp_encode_list_begin(&b);
    size_t m = rlp_encode_list_begin(&b);
    rlp_encode_bytes(&b, data, 53); /* 54 bytes of items: the inner list is short */
    rlp_encode_list_end(&b, m);
    rlp_encode_list_end(&b, outer); /* 55 bytes of items: still short */
    want = hex_with_filler("0xf7f6b5", 53);
    assert_buf_hex(&b, want, "short lists at 55");
    free(want);
    rlp_buf_reset(&b);
    outer = rlp_encode_list_begin(&b);
    m = rlp_encode_list_begin(&b);
    rlp_encode_bytes(&b, data, 54); /* inner list 55: short; outer payload 56: long */
    rlp_encode_list_end(&b, m);
    rlp_encode_bytes(&b, data, 1);
    rlp_encode_list_end(&b, outer);
    want = hex_with_filler("0xf839f7b6", 54);
    char *full = malloc(strlen(want) + 3);
    ck_assert_ptr_nonnull(full);
    sprintf(full, "%s61", want);
    assert_buf_hex(&b, full, "long outer list");
    free(full);
    free(want);
    rlp_buf_free(&b);
}
END_TEST

START_TEST(encoder_cap_and_failure)
{
    struct cohort_error err = {0};
    struct rlp_buf b;
    rlp_buf_init(&b, 4);
    rlp_encode_bytes(&b, (const uint8_t *)"dog", 3);
    ck_assert_int_eq(rlp_buf_check(&b, &err), 0);
    ck_assert_uint_eq(b.len, 4);
    rlp_encode_u64(&b, 1);
    ck_assert_int_eq(b.failed, COMMON_E_RANGE);
    ck_assert_int_eq(rlp_buf_check(&b, &err), COMMON_E_RANGE);
    ck_assert_ptr_nonnull(strstr(err.message, "cap of 4 bytes"));
    rlp_encode_u64(&b, 0); /* sticky: nothing happens after a failure */
    ck_assert_uint_eq(b.len, 4);
    rlp_buf_reset(&b);
    ck_assert_int_eq(rlp_buf_check(&b, &err), 0);
    /* A list whose header no longer fits. */
    size_t m = rlp_encode_list_begin(&b);
    rlp_encode_u64(&b, 0x010203);
    rlp_encode_list_end(&b, m);
    ck_assert_int_eq(b.failed, COMMON_E_RANGE);
    rlp_buf_free(&b);
    ck_assert_uint_eq(b.max_len, 4);

    /* Out of memory: 4 PiB cannot be mapped, so realloc returns NULL; the encoder must flag it. */
    rlp_buf_init(&b, SIZE_MAX);
    rlp_encode_bytes(&b, (const uint8_t *)"dog", 3);
    ck_assert_int_eq(rlp_buf_check(&b, &err), 0);
    uint8_t one = 0;
    rlp_encode_bytes(&b, &one, (size_t)1 << 52); /* never read: the reservation fails first */
    ck_assert_int_eq(b.failed, COMMON_E_NOMEM);
    ck_assert_int_eq(rlp_buf_check(&b, &err), COMMON_E_NOMEM);
    ck_assert_ptr_nonnull(strstr(err.message, "out of memory"));
    ck_assert_uint_eq(b.len, 4);
    ck_assert(memcmp(b.data, "\x83" "dog", 4) == 0); /* earlier output intact */
    rlp_buf_free(&b);
}
END_TEST

/* ---- Seeded random round trips ---- */

static uint64_t seed_from_env(void)
{
    const char *s = getenv("COHORT_TEST_SEED");
    return s != NULL ? strtoull(s, NULL, 0) : 0x726c70u;
}

/* Builds a random tree with the encoder: strings of 0..300 bytes, integers, lists up to depth 8. */
static void random_tree(uint64_t *rng, struct rlp_buf *b)
{
    size_t markers[8];
    size_t remaining[8];
    size_t depth = 0;
    size_t budget = 1 + testutil_rand_next(rng) % 60;
    uint8_t data[300];
    for (;;) {
        uint64_t r = testutil_rand_next(rng);
        bool top_done = depth == 0 && b->len > 0;
        if (top_done) return;
        if (depth > 0 && remaining[depth - 1] == 0) {
            depth--;
            rlp_encode_list_end(b, markers[depth]);
            continue;
        }
        if (depth > 0) remaining[depth - 1]--;
        unsigned kind = (unsigned)(r % 5);
        if (budget > 0 && depth < 8 && (kind == 0 || depth == 0)) {
            budget--;
            markers[depth] = rlp_encode_list_begin(b);
            remaining[depth] = testutil_rand_next(rng) % 6;
            depth++;
            continue;
        }
        if (kind == 1) {
            rlp_encode_u64(b, testutil_rand_next(rng) >> (testutil_rand_next(rng) % 64));
        } else if (kind == 2) {
            u256 v = {{testutil_rand_next(rng), testutil_rand_next(rng), testutil_rand_next(rng), 0}};
            v.w[3] = testutil_rand_next(rng) >> (testutil_rand_next(rng) % 64);
            rlp_encode_u256(b, v);
        } else {
            size_t n = (r >> 8) % 4 == 0 ? (size_t)((r >> 16) % 300) : (size_t)((r >> 16) % 3);
            testutil_rand_bytes(rng, data, n);
            rlp_encode_bytes(b, data, n);
        }
        if (depth == 0) return;
    }
}

START_TEST(random_round_trips)
{
    uint64_t seed = seed_from_env();
    uint64_t rng = seed;
    struct rlp_buf b, again;
    rlp_buf_init(&b, 0);
    rlp_buf_init(&again, 0);
    struct cohort_error err = {0};
    size_t mutated_accepted = 0, mutated_refused = 0;
    for (int round = 0; round < 3000; round++) {
        rlp_buf_reset(&b);
        rlp_buf_reset(&again);
        random_tree(&rng, &b);
        ck_assert_int_eq(rlp_buf_check(&b, &err), 0);
        ck_assert_msg(rlp_validate(b.data, b.len, RLP_MAX_DEPTH, &err) == 0, "round %d: %s (COHORT_TEST_SEED=0x%" PRIx64 ")",
                      round, err.message, seed);
        ck_assert_int_eq(reencode(b.data, b.len, RLP_MAX_DEPTH, &again, &err), 0);
        assert_bytes(again.data, again.len, b.data, b.len, "re-encoded");
        /* Flip one byte: the strict validator and the iterator walk must agree on the verdict. */
        size_t at = (size_t)(testutil_rand_next(&rng) % b.len);
        b.data[at] ^= (uint8_t)(1 + testutil_rand_next(&rng) % 255);
        int rc_validate = rlp_validate(b.data, b.len, RLP_MAX_DEPTH, &err);
        rlp_buf_reset(&again);
        int rc_walk = reencode(b.data, b.len, RLP_MAX_DEPTH, &again, &err);
        ck_assert_msg((rc_validate == 0) == (rc_walk == 0), "round %d: validate %d, walk %d (COHORT_TEST_SEED=0x%" PRIx64 ")",
                      round, rc_validate, rc_walk, seed);
        if (rc_validate == 0) {
            /* Canonical means one encoding per value: what decodes re-encodes to the same bytes. */
            assert_bytes(again.data, again.len, b.data, b.len, "mutated and re-encoded");
            mutated_accepted++;
        } else {
            mutated_refused++;
        }
    }
    ck_assert_uint_gt(mutated_refused, 0);
    ck_assert_uint_gt(mutated_accepted, 0);
    rlp_buf_free(&b);
    rlp_buf_free(&again);
}
END_TEST

static Suite *rlp_suite(void)
{
    Suite *s = suite_create("rlp");
    TCase *fixtures = tcase_create("fixtures");
    tcase_add_test(fixtures, ethereum_rlp_tests);
    suite_add_tcase(s, fixtures);
    TCase *strict = tcase_create("strict");
    tcase_add_test(strict, non_minimal_lengths);
    tcase_add_test(strict, lengths_past_the_end);
    tcase_add_test(strict, lengths_that_overflow);
    tcase_add_test(strict, trailing_bytes);
    tcase_add_test(strict, depth_cap);
    tcase_add_test(strict, integers);
    tcase_add_test(strict, bytes_and_addresses);
    suite_add_tcase(s, strict);
    TCase *encoder = tcase_create("encoder");
    tcase_add_test(encoder, encoder_examples);
    tcase_add_test(encoder, encoder_long_forms);
    tcase_add_test(encoder, encoder_cap_and_failure);
    suite_add_tcase(s, encoder);
    TCase *random = tcase_create("random");
    tcase_set_timeout(random, 120);
    tcase_add_test(random, random_round_trips);
    suite_add_tcase(s, random);
    return s;
}

int main(void)
{
    return testutil_run_suite(rlp_suite(), false);
}
