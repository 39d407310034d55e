/*
 * test_abi.c - the Solidity ABI codec against ethers 6 (tests/vectors/abi_vectors.json,
 * made by gen_abi_vectors.mjs), and hand-written malformed inputs for every decoding rule.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/hex.h"
#include "common/keccak.h"
#include "common/u256.h"
#include "contracts-abi/abi.h"
#include "testutil.h"

#define ARENA_CAP (64u << 20)

static cJSON *vectors;

static void load_vectors(void)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/vectors/abi_vectors.json", testutil_source_dir());
    vectors = testutil_read_json(path);
}

static void free_vectors(void) { cJSON_Delete(vectors); }

/* Decodes 0x hex into a buffer in the arena; sets *len. */
static uint8_t *hex_in_arena(struct abi_arena *arena, const char *text, size_t *len)
{
    size_t cap = strlen(text) / 2 + 1;
    uint8_t *buf = abi_arena_alloc(arena, cap);
    ck_assert_ptr_nonnull(buf);
    struct cohort_error err = {0};
    ck_assert_msg(hex_decode(text, buf, cap, len, &err) == 0, "bad hex in vectors: %s", err.message);
    return buf;
}

/* Builds the value that JSON j (the vectors' form) describes for type t. */
static struct abi_value from_json(struct abi_arena *arena, const struct abi_type *t, const cJSON *j)
{
    struct cohort_error err = {0};
    size_t len;
    if (cJSON_IsObject(j)) {
        const cJSON *h = cJSON_GetObjectItemCaseSensitive(j, "hash");
        ck_assert_ptr_nonnull(h);
        uint8_t hash[32];
        ck_assert_int_eq(hex_decode_exact(h->valuestring, hash, 32, &err), 0);
        return abi_value_hash(hash);
    }
    switch (t->kind) {
    case ABI_KIND_UINT:
    case ABI_KIND_INT: {
        ck_assert(cJSON_IsString(j));
        const char *s = j->valuestring;
        bool negative = s[0] == '-';
        u256 v;
        ck_assert_msg(u256_from_dec(s + negative, &v, &err) == 0, "%s: %s", s, err.message);
        if (negative) v = u256_negate(v);
        return t->kind == ABI_KIND_UINT ? abi_value_uint(v) : abi_value_int(v);
    }
    case ABI_KIND_ADDRESS: {
        uint8_t a[20];
        ck_assert_int_eq(hex_decode_exact(j->valuestring, a, 20, &err), 0);
        return abi_value_address(a);
    }
    case ABI_KIND_BOOL: ck_assert(cJSON_IsBool(j)); return abi_value_bool(cJSON_IsTrue(j));
    case ABI_KIND_FIXED_BYTES: {
        uint8_t b[32];
        ck_assert_int_eq(hex_decode_exact(j->valuestring, b, t->bits, &err), 0);
        return abi_value_fixed_bytes(b, t->bits);
    }
    case ABI_KIND_BYTES: {
        uint8_t *b = hex_in_arena(arena, j->valuestring, &len);
        return abi_value_bytes(b, len);
    }
    case ABI_KIND_STRING: {
        uint8_t *b = hex_in_arena(arena, j->valuestring, &len);
        return abi_value_string_n((const char *)b, len);
    }
    default: break;
    }
    ck_assert(cJSON_IsArray(j));
    size_t n = (size_t)cJSON_GetArraySize(j);
    struct abi_value *items = abi_arena_alloc(arena, (n + 1) * sizeof *items);
    ck_assert_ptr_nonnull(items);
    size_t i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, j)
    {
        const struct abi_type *pt = t->kind == ABI_KIND_TUPLE ? t->components[i] : t->element;
        items[i++] = from_json(arena, pt, e);
    }
    return t->kind == ABI_KIND_TUPLE ? abi_value_tuple(items, n) : abi_value_array(items, n);
}

static const char *str_item(const cJSON *obj, const char *name)
{
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(obj, name);
    ck_assert_msg(cJSON_IsString(s), "vector field %s missing", name);
    return s->valuestring;
}

/* Every ethers case: our encoding equals ethers', we decode ethers' bytes to the same
 * values, and re-encoding what we decoded gives the same bytes again. */
START_TEST(ethers_cases)
{
    const cJSON *cases = cJSON_GetObjectItemCaseSensitive(vectors, "cases");
    size_t done = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, cases)
    {
        struct abi_arena arena;
        abi_arena_init(&arena, ARENA_CAP);
        struct cohort_error err = {0};
        const char *types = str_item(c, "types");
        const struct abi_type *t;
        ck_assert_msg(abi_type_parse(&arena, types, &t, &err) == 0, "%s: %s", types, err.message);
        char canonical[1024];
        ck_assert_int_ge(abi_type_canonical(t, canonical, sizeof canonical, &err), 0);
        if (strstr(types, "uint,") == NULL) ck_assert_str_eq(canonical, types); /* "(uint,int)" is an alias */

        struct abi_value built = from_json(&arena, t, cJSON_GetObjectItemCaseSensitive(c, "values"));
        size_t want_len;
        uint8_t *want = hex_in_arena(&arena, str_item(c, "encoded"), &want_len);

        size_t size = 0;
        ck_assert_msg(abi_encoded_size(t, &built, &size, &err) == 0, "%s: %s", types, err.message);
        ck_assert_uint_eq(size, want_len);
        uint8_t *got = abi_arena_alloc(&arena, want_len + 1);
        size_t got_len = 0;
        ck_assert_msg(abi_encode(t, &built, got, want_len, &got_len, &err) == 0, "%s: %s", types, err.message);
        ck_assert_uint_eq(got_len, want_len);
        ck_assert_msg(memcmp(got, want, want_len) == 0, "encoding of case %zu %s differs from ethers'", done, types);

        struct abi_value decoded;
        ck_assert_msg(abi_decode(&arena, t, want, want_len, NULL, &decoded, &err) == 0, "case %zu %s: %s", done,
                      types, err.message);
        ck_assert_msg(abi_value_equal(t, &decoded, &built), "decoded case %zu %s differs from ethers'", done, types);

        memset(got, 0xee, want_len);
        ck_assert_int_eq(abi_encode(t, &decoded, got, want_len, &got_len, &err), 0);
        ck_assert_int_eq(memcmp(got, want, want_len), 0);
        abi_arena_free(&arena);
        done++;
    }
    ck_assert_uint_ge(done, 400);
}
END_TEST

START_TEST(ethers_functions)
{
    const cJSON *fns = cJSON_GetObjectItemCaseSensitive(vectors, "functions");
    size_t calls = 0;
    const cJSON *f;
    cJSON_ArrayForEach(f, fns)
    {
        struct abi_arena arena;
        abi_arena_init(&arena, ARENA_CAP);
        struct cohort_error err = {0};
        struct abi_function fn;
        ck_assert_msg(abi_function_parse(&arena, str_item(f, "text"), &fn, &err) == 0, "%s", err.message);
        ck_assert_str_eq(fn.signature, str_item(f, "signature"));
        uint8_t selector[4];
        ck_assert_int_eq(hex_decode_exact(str_item(f, "selector"), selector, 4, &err), 0);
        ck_assert_int_eq(memcmp(fn.selector, selector, 4), 0);
        abi_selector(fn.signature, strlen(fn.signature), selector);
        ck_assert_int_eq(memcmp(fn.selector, selector, 4), 0);

        if (cJSON_GetObjectItemCaseSensitive(f, "data") != NULL) {
            struct abi_value args = from_json(&arena, fn.params, cJSON_GetObjectItemCaseSensitive(f, "values"));
            size_t want_len;
            uint8_t *want = hex_in_arena(&arena, str_item(f, "data"), &want_len);
            uint8_t *got = abi_arena_alloc(&arena, want_len);
            size_t got_len;
            ck_assert_msg(abi_encode_call(&fn, &args, got, want_len, &got_len, &err) == 0, "%s", err.message);
            ck_assert_uint_eq(got_len, want_len);
            ck_assert_int_eq(memcmp(got, want, want_len), 0);
            struct abi_value decoded;
            ck_assert_int_eq(abi_decode_call(&arena, &fn, want, want_len, NULL, &decoded, &err), 0);
            ck_assert(abi_value_equal(fn.params, &decoded, &args));
            /* One byte short of the arguments is refused; a wrong selector too. */
            ck_assert_int_eq(abi_encode_call(&fn, &args, got, want_len - 1, &got_len, &err), ABI_E_SPACE);
            if (want_len > 4) {
                ck_assert_int_eq(abi_decode_call(&arena, &fn, want, want_len - 1, NULL, &decoded, &err),
                                 ABI_E_TRUNCATED);
            }
            got[0] ^= 1;
            ck_assert_int_eq(abi_decode_call(&arena, &fn, got, want_len, NULL, &decoded, &err), ABI_E_SELECTOR);
            calls++;
        }
        abi_arena_free(&arena);
    }
    ck_assert_uint_ge(calls, 5);
}
END_TEST

START_TEST(ethers_events)
{
    const cJSON *events = cJSON_GetObjectItemCaseSensitive(vectors, "events");
    size_t logs = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, events)
    {
        struct abi_arena arena;
        abi_arena_init(&arena, ARENA_CAP);
        struct cohort_error err = {0};
        struct abi_event ev;
        ck_assert_msg(abi_event_parse(&arena, str_item(e, "text"), &ev, &err) == 0, "%s", err.message);
        ck_assert_str_eq(ev.signature, str_item(e, "signature"));
        uint8_t topic0[32];
        ck_assert_int_eq(hex_decode_exact(str_item(e, "topic0"), topic0, 32, &err), 0);
        ck_assert_int_eq(memcmp(ev.topic0, topic0, 32), 0);

        const cJSON *log;
        cJSON_ArrayForEach(log, cJSON_GetObjectItemCaseSensitive(e, "logs"))
        {
            struct abi_value values = from_json(&arena, ev.params, cJSON_GetObjectItemCaseSensitive(log, "values"));
            uint8_t want_topics[ABI_MAX_TOPICS][32];
            size_t want_count = 0;
            const cJSON *tj;
            cJSON_ArrayForEach(tj, cJSON_GetObjectItemCaseSensitive(log, "topics"))
            {
                ck_assert_uint_lt(want_count, ABI_MAX_TOPICS);
                ck_assert_int_eq(hex_decode_exact(tj->valuestring, want_topics[want_count++], 32, &err), 0);
            }
            size_t data_len;
            uint8_t *data = hex_in_arena(&arena, str_item(log, "data"), &data_len);

            /* Encoding: the values with the dynamic indexed ones as the strings and bytes
             * themselves would need their preimages, so the vectors give hashes; both work. */
            uint8_t topics[ABI_MAX_TOPICS][32];
            size_t topic_count = 0, got_len = 0;
            uint8_t *got = abi_arena_alloc(&arena, data_len + 1);
            ck_assert_msg(abi_event_encode(&ev, &values, topics, &topic_count, got, data_len, &got_len, &err) == 0,
                          "%s", err.message);
            ck_assert_uint_eq(topic_count, want_count);
            ck_assert_int_eq(memcmp(topics, want_topics, 32 * want_count), 0);
            ck_assert_uint_eq(got_len, data_len);
            ck_assert_int_eq(memcmp(got, data, data_len), 0);

            struct abi_value decoded;
            ck_assert_msg(abi_event_decode(&arena, &ev, (const uint8_t(*)[32])want_topics, want_count, data,
                                           data_len, NULL, &decoded, &err) == 0,
                          "%s", err.message);
            ck_assert(abi_value_equal(ev.params, &decoded, &values));

            /* Wrong topic count and wrong topic 0. */
            ck_assert_int_eq(abi_event_decode(&arena, &ev, (const uint8_t(*)[32])want_topics, want_count - 1, data,
                                              data_len, NULL, &decoded, &err),
                             ABI_E_TOPICS);
            want_topics[0][5] ^= 1;
            ck_assert_int_eq(abi_event_decode(&arena, &ev, (const uint8_t(*)[32])want_topics, want_count, data,
                                              data_len, NULL, &decoded, &err),
                             ABI_E_SELECTOR);
            logs++;
        }
        abi_arena_free(&arena);
    }
    ck_assert_uint_ge(logs, 7);
}
END_TEST

/* An indexed string is logged as the keccak256 of its bytes, which we compute ourselves. */
START_TEST(event_indexed_string_hashed)
{
    struct abi_arena arena;
    abi_arena_init(&arena, 1 << 20);
    struct cohort_error err = {0};
    struct abi_event ev;
    ck_assert_int_eq(abi_event_parse(&arena, "event ChainCreated(string indexed name, bytes32 indexed chainId, "
                                             "uint8 size, uint256[] nodeIds)",
                                     &ev, &err),
                     0);
    ck_assert_uint_eq(ev.indexed_count, 2);
    /* The first log of this event in the vectors has name "chain-one". */
    const cJSON *e = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(vectors, "events"), 2);
    ck_assert_str_eq(str_item(e, "signature"), ev.signature);
    const cJSON *log = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(e, "logs"), 0);
    uint8_t want[32];
    ck_assert_int_eq(
        hex_decode_exact(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(log, "topics"), 1)->valuestring, want,
                         32, &err),
        0);
    uint8_t chain_id[32] = {0};
    struct abi_value ids[1] = {abi_value_uint64(1)};
    struct abi_value args[4] = {abi_value_string("chain-one"), abi_value_fixed_bytes(chain_id, 32),
                                abi_value_uint64(16), abi_value_array(ids, 1)};
    struct abi_value values = abi_value_tuple(args, 4);
    uint8_t topics[ABI_MAX_TOPICS][32], data[512];
    size_t n_topics, n_data;
    ck_assert_int_eq(abi_event_encode(&ev, &values, topics, &n_topics, data, sizeof data, &n_data, &err), 0);
    ck_assert_uint_eq(n_topics, 3);
    ck_assert_int_eq(memcmp(topics[1], want, 32), 0);

    /* An indexed address topic with dirty high bytes is refused, naming the argument. */
    struct abi_event tr;
    ck_assert_int_eq(abi_event_parse(&arena, "Transfer(address indexed from,address indexed to,uint256 value)", &tr,
                                     &err),
                     0);
    uint8_t t3[3][32] = {{0}};
    memcpy(t3[0], tr.topic0, 32);
    t3[2][0] = 1;
    uint8_t word[32] = {0};
    struct abi_value out;
    ck_assert_int_eq(abi_event_decode(&arena, &tr, (const uint8_t(*)[32])t3, 3, word, 32, NULL, &out, &err),
                     ABI_E_RANGE);
    ck_assert_msg(strstr(err.message, "arg 1: address") != NULL, "%s", err.message);
    /* An indexed array is logged as a hash the caller must give: computing it is not done. */
    struct abi_event arr;
    ck_assert_int_eq(abi_event_parse(&arena, "Ids(uint8[] indexed ids)", &arr, &err), 0);
    struct abi_value one[1] = {abi_value_uint64(1)};
    struct abi_value list[1] = {abi_value_array(one, 1)};
    struct abi_value arr_values = abi_value_tuple(list, 1);
    ck_assert_int_eq(abi_event_encode(&arr, &arr_values, topics, &n_topics, data, sizeof data, &n_data, &err),
                     ABI_E_UNSUPPORTED);
    ck_assert_msg(strstr(err.message, "arg 0: an indexed array or tuple must be given as its hash") != NULL, "%s",
                  err.message);
    list[0] = abi_value_hash(want);
    ck_assert_int_eq(abi_event_encode(&arr, &arr_values, topics, &n_topics, data, sizeof data, &n_data, &err), 0);
    ck_assert_uint_eq(n_topics, 2);
    ck_assert_int_eq(memcmp(topics[1], want, 32), 0);
    ck_assert_uint_eq(n_data, 0);
    /* Four indexed parameters are more than a log can carry. */
    ck_assert_int_eq(abi_event_parse(&arena, "E(uint8 indexed a,uint8 indexed b,uint8 indexed c,uint8 indexed d)",
                                     &tr, &err),
                     ABI_E_TYPE);
    abi_arena_free(&arena);
}
END_TEST

/* The manager call built by hand in C, compared with ethers' encodeFunctionData. */
START_TEST(build_create_chain_call)
{
    struct abi_arena arena;
    abi_arena_init(&arena, 1 << 20);
    struct cohort_error err = {0};
    struct abi_function fn;
    ck_assert_int_eq(abi_function_parse(&arena, "function createChain(string name, uint8 size, uint16 nodes)", &fn,
                                        &err),
                     0);
    struct abi_value args[3] = {abi_value_string("chain-7"), abi_value_uint64(1), abi_value_uint64(16)};
    struct abi_value tuple = abi_value_tuple(args, 3);
    uint8_t out[256];
    size_t len;
    ck_assert_int_eq(abi_encode_call(&fn, &tuple, out, sizeof out, &len, &err), 0);
    const cJSON *f = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(vectors, "functions"), 3);
    ck_assert_str_eq(str_item(f, "signature"), "createChain(string,uint8,uint16)");
    uint8_t want[256];
    size_t want_len;
    ck_assert_int_eq(hex_decode(str_item(f, "data"), want, sizeof want, &want_len, &err), 0);
    ck_assert_uint_eq(len, want_len);
    ck_assert_int_eq(memcmp(out, want, len), 0);

    /* Reading it back: plain fields of the value tree. */
    struct abi_value back;
    ck_assert_int_eq(abi_decode_call(&arena, &fn, out, len, NULL, &back, &err), 0);
    ck_assert_int_eq(back.kind, ABI_KIND_TUPLE);
    ck_assert_uint_eq(back.as.list.count, 3);
    ck_assert_str_eq((const char *)back.as.list.items[0].as.bytes.data, "chain-7");
    ck_assert_uint_eq(back.as.list.items[2].as.word.w[0], 16);

    /* Out of range for uint8: an error naming the argument, nothing written. */
    args[1] = abi_value_uint64(256);
    ck_assert_int_eq(abi_encode_call(&fn, &tuple, out, sizeof out, &len, &err), ABI_E_RANGE);
    ck_assert_msg(strstr(err.message, "arg 1: value out of range for uint8") != NULL, "%s", err.message);
    abi_arena_free(&arena);
}
END_TEST

START_TEST(type_parser)
{
    struct abi_arena arena;
    abi_arena_init(&arena, 1 << 20);
    struct cohort_error err = {0};
    const struct abi_type *t;
    char text[256];
    ck_assert_int_eq(abi_type_parse(&arena, "( uint , string name , bytes4[2][] ,(int,address)[3] x)", &t, &err), 0);
    ck_assert_int_ge(abi_type_canonical(t, text, sizeof text, &err), 0);
    ck_assert_str_eq(text, "(uint256,string,bytes4[2][],(int256,address)[3])");
    ck_assert_str_eq(t->names[1], "name");
    ck_assert_str_eq(t->names[0], "");
    ck_assert(t->dynamic);
    ck_assert_uint_eq(t->components[3]->head_bytes, 3 * 64);
    ck_assert_int_eq(abi_type_canonical(t, text, 10, &err), ABI_E_SPACE);

    static const char *const bad[] = {
        "uint7", "uint264", "uint0", "uint08", "int9", "bytes33", "bytes0", "bytes01", "foo", "(uint256",
        "uint256[0]", "uint256[", "uint256[1", "((),uint8)", "(uint256,)", "(,)", "uint256 x", "address payable",
        "(uint256 indexed a)", "uint256[65537]", "uint256[99999999999]", "(uint256)x", "",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err.code = 0;
        ck_assert_msg(abi_type_parse(&arena, bad[i], &t, &err) == ABI_E_TYPE, "accepted %s", bad[i]);
        ck_assert_int_eq(err.code, ABI_E_TYPE);
        ck_assert_ptr_nonnull(strstr(err.message, "type \""));
    }
    /* Depth: 16 levels are fine, 17 are refused, for arrays and for tuples alike. */
    char deep[512] = "uint8";
    for (int i = 1; i < ABI_MAX_DEPTH; i++) strcat(deep, "[]");
    ck_assert_int_eq(abi_type_parse(&arena, deep, &t, &err), 0);
    ck_assert_uint_eq(t->depth, ABI_MAX_DEPTH);
    strcat(deep, "[]");
    ck_assert_int_eq(abi_type_parse(&arena, deep, &t, &err), ABI_E_TYPE);
    ck_assert_ptr_nonnull(strstr(err.message, "deeper"));
    deep[0] = '\0';
    for (int i = 0; i < 40; i++) strcat(deep, "(");
    strcat(deep, "bool");
    for (int i = 0; i < 40; i++) strcat(deep, ")");
    ck_assert_int_eq(abi_type_parse(&arena, deep, &t, &err), ABI_E_TYPE);
    /* A static type larger than its cap. */
    ck_assert_int_eq(abi_type_parse(&arena, "uint256[65536][65536]", &t, &err), ABI_E_TYPE);
    /* A tiny arena runs out: an error, not a crash. */
    struct abi_arena small;
    abi_arena_init(&small, 64);
    ck_assert_int_eq(abi_type_parse(&small, "(uint256,string,bytes4[2][])", &t, &err), ABI_E_NOMEM);
    abi_arena_free(&small);
    abi_arena_free(&arena);
}
END_TEST

START_TEST(encoder_errors)
{
    struct abi_arena arena;
    abi_arena_init(&arena, 1 << 20);
    struct cohort_error err = {0};
    const struct abi_type *t;
    ck_assert_int_eq(abi_type_parse(&arena, "(int8,bytes4,uint16[2],(string s,bool b)[])", &t, &err), 0);
    uint8_t ip[4] = {127, 0, 0, 1};
    struct abi_value pair[2] = {abi_value_uint64(1), abi_value_uint64(2)};
    struct abi_value field[2] = {abi_value_string("x"), abi_value_bool(true)};
    struct abi_value rec[1] = {abi_value_tuple(field, 2)};
    struct abi_value args[4] = {abi_value_int64(-128), abi_value_fixed_bytes(ip, 4), abi_value_array(pair, 2),
                                abi_value_array(rec, 1)};
    struct abi_value v = abi_value_tuple(args, 4);
    uint8_t out[1024];
    size_t len;
    ck_assert_int_eq(abi_encode(t, &v, out, sizeof out, &len, &err), 0);
    ck_assert_int_eq(abi_encode(t, &v, out, len - 1, &len, &err), ABI_E_SPACE);

    args[0] = abi_value_int64(128);
    ck_assert_int_eq(abi_encode(t, &v, out, sizeof out, &len, &err), ABI_E_RANGE);
    ck_assert_msg(strstr(err.message, "arg 0: value out of range for int8") != NULL, "%s", err.message);
    args[0] = abi_value_int64(-129);
    ck_assert_int_eq(abi_encode(t, &v, out, sizeof out, &len, &err), ABI_E_RANGE);
    args[0] = abi_value_uint64(1);
    ck_assert_int_eq(abi_encode(t, &v, out, sizeof out, &len, &err), ABI_E_MISMATCH);
    args[0] = abi_value_int64(127);
    args[1] = abi_value_fixed_bytes(ip, 3);
    ck_assert_int_eq(abi_encode(t, &v, out, sizeof out, &len, &err), ABI_E_MISMATCH);
    args[1] = abi_value_fixed_bytes(ip, 4);
    args[2] = abi_value_array(pair, 1);
    ck_assert_int_eq(abi_encode(t, &v, out, sizeof out, &len, &err), ABI_E_MISMATCH);
    ck_assert_msg(strstr(err.message, "arg 2: 1 elements given for an array of 2") != NULL, "%s", err.message);
    args[2] = abi_value_array(pair, 2);
    pair[1] = abi_value_uint64(65536);
    ck_assert_int_eq(abi_encode(t, &v, out, sizeof out, &len, &err), ABI_E_RANGE);
    ck_assert_msg(strstr(err.message, "arg 2 [1]: value out of range for uint16") != NULL, "%s", err.message);
    pair[1] = abi_value_uint64(65535);
    field[1] = abi_value_string("not a bool");
    ck_assert_int_eq(abi_encode(t, &v, out, sizeof out, &len, &err), ABI_E_MISMATCH);
    ck_assert_msg(strstr(err.message, "arg 3 [0].b: expected a bool value, got a string") != NULL, "%s",
                  err.message);
    field[1] = abi_value_bool(false);
    ck_assert_int_eq(abi_encode(t, &v, out, sizeof out, &len, &err), 0);
    abi_arena_free(&arena);
}
END_TEST

/* ---- Malformed data: one test per decoding rule. ---- */

struct fixture {
    struct abi_arena arena;
    const struct abi_type *type;
    uint8_t data[4096];
    size_t len;
    struct abi_value out;
    struct cohort_error err;
};

static void setup_type(struct fixture *f, const char *types)
{
    memset(f, 0, sizeof *f);
    abi_arena_init(&f->arena, 16 << 20);
    ck_assert_int_eq(abi_type_parse(&f->arena, types, &f->type, &f->err), 0);
}

/* Appends a word whose last 8 bytes are v. */
static void word_u64(struct fixture *f, uint64_t v)
{
    ck_assert_uint_le(f->len + 32, sizeof f->data);
    memset(f->data + f->len, 0, 32);
    for (int i = 0; i < 8; i++) f->data[f->len + 31 - (size_t)i] = (uint8_t)(v >> (8 * i));
    f->len += 32;
}

static int decode(struct fixture *f, const struct abi_limits *limits)
{
    f->err.code = 0;
    f->err.message[0] = '\0';
    return abi_decode(&f->arena, f->type, f->data, f->len, limits, &f->out, &f->err);
}

#define EXPECT(f, limits, code, text)                                                                      \
    do {                                                                                                     \
        ck_assert_int_eq(decode(f, limits), code);                                                           \
        ck_assert_msg(strstr((f)->err.message, text) != NULL, "message \"%s\" lacks \"%s\"", (f)->err.message, \
                      text);                                                                                 \
    } while (0)

START_TEST(bad_offsets)
{
    struct fixture f;
    setup_type(&f, "(string)");
    word_u64(&f, 0x1e0);
    word_u64(&f, 0);
    EXPECT(&f, NULL, ABI_E_TRUNCATED, "arg 0: offset 0x1e0 past end of data (64 bytes)");
    f.data[0] = 1; /* a 256-bit offset */
    EXPECT(&f, NULL, ABI_E_TRUNCATED, "arg 0: offset 0x1");
    f.len = 0;
    word_u64(&f, 0); /* points at itself: into the head */
    word_u64(&f, 0);
    EXPECT(&f, NULL, ABI_E_OFFSET, "arg 0: offset 0x0 points into its head (32 bytes)");
    f.len = 0;
    word_u64(&f, 0x20);
    EXPECT(&f, NULL, ABI_E_TRUNCATED, "arg 0: offset 0x20 past end of data (32 bytes)");
    f.len = 0;
    word_u64(&f, 0x40); /* a gap before the tail is allowed */
    word_u64(&f, 0x1234);
    word_u64(&f, 0);
    ck_assert_int_eq(decode(&f, NULL), 0);
    ck_assert_uint_eq(f.out.as.list.items[0].as.bytes.len, 0);
    abi_arena_free(&f.arena);

    /* The path of the brief's example: a nested field's offset. */
    setup_type(&f, "(uint256,uint256,(string name,uint8 x)[])");
    struct abi_value recs[4], fields[4][2];
    for (int i = 0; i < 4; i++) {
        fields[i][0] = abi_value_string("node");
        fields[i][1] = abi_value_uint64((uint64_t)i);
        recs[i] = abi_value_tuple(fields[i], 2);
    }
    struct abi_value args[3] = {abi_value_uint64(1), abi_value_uint64(2), abi_value_array(recs, 4)};
    struct abi_value v = abi_value_tuple(args, 3);
    ck_assert_int_eq(abi_encode(f.type, &v, f.data, sizeof f.data, &f.len, &f.err), 0);
    ck_assert_int_eq(decode(&f, NULL), 0);
    /* Layout: 3 heads, the array at 0x60 (length), its element offsets from 0x80; element
     * 3's offset is at 0x80 + 3*32, and its first word is the offset of .name. */
    size_t elem3 = 0x80 + ((size_t)f.data[0x80 + 3 * 32 + 30] << 8 | f.data[0x80 + 3 * 32 + 31]);
    ck_assert_uint_lt(elem3 + 32, f.len);
    f.data[elem3 + 30] = 0x01;
    f.data[elem3 + 31] = 0xe0;
    char want[128];
    snprintf(want, sizeof want, "arg 2 [3].name: offset 0x1e0 past end of data (%zu bytes)", f.len);
    EXPECT(&f, NULL, ABI_E_TRUNCATED, want);
    abi_arena_free(&f.arena);
}
END_TEST

START_TEST(bad_lengths)
{
    struct fixture f;
    setup_type(&f, "(bytes)");
    word_u64(&f, 0x20);
    word_u64(&f, 0x40); /* 64 bytes declared, none present */
    EXPECT(&f, NULL, ABI_E_TRUNCATED, "arg 0: length 0x40 at 0x20 past end of data (64 bytes)");
    f.data[32] = 0x80; /* 2^255 */
    EXPECT(&f, NULL, ABI_E_TRUNCATED, "arg 0: length 0x80");
    f.len = 0;
    word_u64(&f, 0x20);
    word_u64(&f, 3);
    word_u64(&f, 0); /* content 3 bytes, then padding */
    f.data[64] = 'a';
    ck_assert_int_eq(decode(&f, NULL), 0);
    f.data[64 + 3] = 1; /* dirty padding */
    EXPECT(&f, NULL, ABI_E_RANGE, "arg 0: bytes of 3 bytes with non-zero padding");
    f.data[64 + 3] = 0;
    f.len = 64 + 3; /* the padding itself missing */
    EXPECT(&f, NULL, ABI_E_TRUNCATED, "past end of data (67 bytes)");
    abi_arena_free(&f.arena);

    /* A dynamic array whose length does not fit the data, or passes the value cap. */
    setup_type(&f, "(uint8[])");
    word_u64(&f, 0x20);
    word_u64(&f, 3);
    word_u64(&f, 1);
    word_u64(&f, 2);
    EXPECT(&f, NULL, ABI_E_TRUNCATED, "arg 0: array length 0x3 at 0x20 past end of data (128 bytes)");
    f.data[32] = 0xff;
    EXPECT(&f, NULL, ABI_E_TRUNCATED, "arg 0: array length 0xff");
    f.data[32] = 0;
    f.data[63] = 2;
    ck_assert_int_eq(decode(&f, NULL), 0);
    struct abi_limits few = {.max_data_bytes = 1 << 20, .max_values = 3};
    EXPECT(&f, &few, ABI_E_LIMIT, "arg 0: more values than the cap");
    struct abi_limits small = {.max_data_bytes = 96, .max_values = 1000};
    EXPECT(&f, &small, ABI_E_LIMIT, "data of 128 bytes, more than the cap of 96");
    /* A head that does not fit. */
    f.len = 16;
    EXPECT(&f, NULL, ABI_E_TRUNCATED, "head of 32 bytes at 0x0 past end of data (16 bytes)");
    abi_arena_free(&f.arena);
}
END_TEST

START_TEST(bad_words)
{
    struct fixture f;
    setup_type(&f, "(address,bool,uint16,int16,bytes4,uint256,int256)");
    for (int i = 0; i < 7; i++) word_u64(&f, 0);
    ck_assert_int_eq(decode(&f, NULL), 0);

    f.data[11] = 1;
    EXPECT(&f, NULL, ABI_E_RANGE, "arg 0: address 0x1");
    ck_assert_ptr_nonnull(strstr(f.err.message, "0 has non-zero high bytes"));
    f.data[11] = 0;
    f.data[12] = 0xff; /* the top byte of the address itself is fine */
    ck_assert_int_eq(decode(&f, NULL), 0);

    f.data[32 + 31] = 2;
    EXPECT(&f, NULL, ABI_E_RANGE, "arg 1: bool 0x2 is neither 0 nor 1");
    f.data[32 + 31] = 1;
    f.data[32] = 1;
    EXPECT(&f, NULL, ABI_E_RANGE, "arg 1: bool");
    f.data[32] = 0;
    ck_assert_int_eq(decode(&f, NULL), 0);
    ck_assert(f.out.as.list.items[1].as.boolean);

    f.data[64 + 29] = 1; /* 65536 in a uint16 */
    EXPECT(&f, NULL, ABI_E_RANGE, "arg 2: value 0x10000 out of range for uint16");
    f.data[64 + 29] = 0;
    f.data[64 + 30] = 0xff;
    f.data[64 + 31] = 0xff;
    ck_assert_int_eq(decode(&f, NULL), 0);
    ck_assert_uint_eq(f.out.as.list.items[2].as.word.w[0], 65535);

    f.data[96 + 30] = 0x80; /* 0x8000 not sign-extended: not an int16 */
    EXPECT(&f, NULL, ABI_E_RANGE, "arg 3: value 0x8000 out of range for int16");
    memset(f.data + 96, 0xff, 30); /* sign-extended: -32768 */
    ck_assert_int_eq(decode(&f, NULL), 0);
    ck_assert(u256_eq(f.out.as.list.items[3].as.word, abi_value_int64(-32768).as.word));
    f.data[96 + 30] = 0x7f; /* ff..ff7fxx: -32769 and below, sign bit of int16 clear */
    EXPECT(&f, NULL, ABI_E_RANGE, "arg 3: value 0xffff");
    memset(f.data + 96, 0, 32);

    memset(f.data + 128, 0xab, 4);
    ck_assert_int_eq(decode(&f, NULL), 0);
    f.data[128 + 4] = 1;
    EXPECT(&f, NULL, ABI_E_RANGE, "arg 4: bytes4 with non-zero padding");
    f.data[128 + 4] = 0;
    f.data[128 + 31] = 1;
    EXPECT(&f, NULL, ABI_E_RANGE, "arg 4: bytes4 with non-zero padding");
    f.data[128 + 31] = 0;

    memset(f.data + 160, 0xff, 64); /* uint256 max and int256 -1 are both fine */
    ck_assert_int_eq(decode(&f, NULL), 0);
    abi_arena_free(&f.arena);
}
END_TEST

/* Offsets that alias one content many times over: small data, huge decode. Refused by the
 * value cap and by the copy budget, and neither needs more memory than the caps allow. */
START_TEST(aliasing_bombs)
{
    struct fixture *f = malloc(sizeof *f);
    ck_assert_ptr_nonnull(f);
    setup_type(f, "(uint256[][])");
    const uint64_t n = 60;
    word_u64(f, 0x20);
    word_u64(f, n);
    for (uint64_t i = 0; i < n; i++) word_u64(f, n * 32); /* every element: the same inner array */
    word_u64(f, n);
    for (uint64_t i = 0; i < n; i++) word_u64(f, i);
    ck_assert_int_eq(decode(f, NULL), 0); /* 60 * 60 values: under the default cap */
    struct abi_limits limits = {.max_data_bytes = 1 << 20, .max_values = 1000};
    EXPECT(f, &limits, ABI_E_LIMIT, "more values than the cap");
    abi_arena_free(&f->arena);

    setup_type(f, "(string[])");
    word_u64(f, 0x20);
    word_u64(f, 40);
    for (uint64_t i = 0; i < 40; i++) word_u64(f, 40 * 32);
    word_u64(f, 1000);
    memset(f->data + f->len, 'a', 1000);
    f->len += 1024;
    EXPECT(f, NULL, ABI_E_LIMIT, "contents overlap");
    ck_assert_ptr_nonnull(strstr(f->err.message, "arg 0 [2]")); /* two copies fit in 2.3 KiB of data */
    abi_arena_free(&f->arena);

    /* An arena smaller than the decode needs: ABI_E_NOMEM, not a crash. */
    setup_type(f, "(uint256[])");
    word_u64(f, 0x20);
    word_u64(f, 100);
    for (int i = 0; i < 100; i++) word_u64(f, 7);
    struct abi_arena tiny;
    abi_arena_init(&tiny, 1024);
    ck_assert_int_eq(abi_decode(&tiny, f->type, f->data, f->len, NULL, &f->out, &f->err), ABI_E_NOMEM);
    abi_arena_free(&tiny);
    abi_arena_free(&f->arena);
    free(f);
}
END_TEST

/* Every ethers encoding, mutated at random: the decoder accepts or refuses with a message,
 * and what it accepts re-encodes and decodes to the same value. Seeded, so repeatable. */
START_TEST(mutated_vectors)
{
    uint64_t rng = 0xabcdef12345ull;
    const cJSON *c;
    size_t accepted = 0, refused = 0;
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(vectors, "cases"))
    {
        struct abi_arena arena;
        abi_arena_init(&arena, ARENA_CAP);
        struct cohort_error err = {0};
        const struct abi_type *t;
        ck_assert_int_eq(abi_type_parse(&arena, str_item(c, "types"), &t, &err), 0);
        size_t len;
        uint8_t *data = hex_in_arena(&arena, str_item(c, "encoded"), &len);
        uint8_t *copy = malloc(len + 1);
        uint8_t *again = malloc(len * 2 + 64);
        for (int round = 0; round < 8; round++) {
            memcpy(copy, data, len);
            size_t n = len;
            uint64_t r = testutil_rand_next(&rng);
            if (r % 4 == 0) n = (size_t)(testutil_rand_next(&rng) % (len + 1));
            for (int k = 0; k < 1 + (int)(r % 3); k++) {
                if (n == 0) break;
                size_t at = (size_t)(testutil_rand_next(&rng) % n);
                copy[at] = (uint8_t)(r >> 8 * (k + 1)) | 1;
            }
            struct abi_value v;
            err.code = 0;
            if (abi_decode(&arena, t, copy, n, NULL, &v, &err) == 0) {
                size_t size, m;
                ck_assert_int_eq(abi_encoded_size(t, &v, &size, &err), 0);
                uint8_t *buf = size <= len * 2 + 64 ? again : malloc(size);
                ck_assert_int_eq(abi_encode(t, &v, buf, size, &m, &err), 0);
                struct abi_value w;
                ck_assert_int_eq(abi_decode(&arena, t, buf, m, NULL, &w, &err), 0);
                ck_assert(abi_value_equal(t, &v, &w));
                if (buf != again) free(buf);
                accepted++;
            } else {
                ck_assert_int_lt(err.code, 0);
                ck_assert_uint_gt(strlen(err.message), 0);
                refused++;
            }
        }
        free(copy);
        free(again);
        abi_arena_free(&arena);
    }
    ck_assert_uint_gt(accepted, 0);
    ck_assert_uint_gt(refused, 0);
}
END_TEST

START_TEST(strerror_names)
{
    ck_assert_str_eq(abi_strerror(ABI_OK), "success");
    for (int code = ABI_E_TYPE; code >= ABI_E_UNSUPPORTED; code--) { /* the block's codes (common/error.h) */
        ck_assert_ptr_nonnull(abi_strerror(code));
        ck_assert_str_ne(abi_strerror(code), "unknown abi error");
    }
    ck_assert_str_eq(abi_strerror(-100), "unknown abi error");
}
END_TEST

static Suite *abi_suite(void)
{
    Suite *s = suite_create("abi");
    TCase *tc = tcase_create("ethers");
    tcase_add_unchecked_fixture(tc, load_vectors, free_vectors);
    tcase_add_test(tc, ethers_cases);
    tcase_add_test(tc, ethers_functions);
    tcase_add_test(tc, ethers_events);
    tcase_add_test(tc, event_indexed_string_hashed);
    tcase_add_test(tc, build_create_chain_call);
    tcase_add_test(tc, mutated_vectors);
    suite_add_tcase(s, tc);
    TCase *tm = tcase_create("malformed");
    tcase_add_test(tm, type_parser);
    tcase_add_test(tm, encoder_errors);
    tcase_add_test(tm, bad_offsets);
    tcase_add_test(tm, bad_lengths);
    tcase_add_test(tm, bad_words);
    tcase_add_test(tm, aliasing_bombs);
    tcase_add_test(tm, strerror_names);
    suite_add_tcase(s, tm);
    return s;
}

int main(void)
{
    return testutil_run_suite(abi_suite(), false);
}
