/*
 * test_rpc_server.c - the JSON-RPC server (subnode/rpc) driven with request strings
 * against a small chain in the real store (rpc_testchain.h): the envelope and every error
 * path (parse, invalid request, unknown method, invalid params, each limit naming itself),
 * the methods and their fields as geth gives them, eth_call / eth_estimateGas /
 * eth_createAccessList with overrides and reverts, logs, fee history, filters and
 * subscriptions. The pool is a tiny test double of rpc_chain's callbacks (the pool is the
 * node's, not the server's).
 */
#include <check.h>
#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/hex.h"
#include "common/keccak.h"
#include "common/secp.h"
#include "rpc_testchain.h"
#include "subnode/rpc/rpc_internal.h"
#include "testutil.h"

/* ---- A pool double: admits decodable, signed transactions with the chain's id ---- */

#define POOL_MAX 64

struct fake_pool {
    pthread_mutex_t lock;
    struct tx_signed *txs[POOL_MAX];
    size_t count;
    struct rpc *rpc;
};

static int pool_send(void *ctx, const uint8_t *raw, size_t len, uint8_t hash[32], struct cohort_error *err)
{
    struct fake_pool *p = ctx;
    struct tx_signed *t;
    if (tx_decode(raw, len, 0, &t, err) != 0) return -1;
    if (tx_recover_sender(t, err) != 0 || (t->has_chain_id && t->chain_id != TESTCHAIN_CHAIN_ID)) {
        if (t->has_chain_id && t->chain_id != TESTCHAIN_CHAIN_ID) cohort_error_set(err, -1, "test", "invalid chain id for signer");
        tx_free(t);
        return -1;
    }
    pthread_mutex_lock(&p->lock);
    if (p->count == POOL_MAX) {
        pthread_mutex_unlock(&p->lock);
        tx_free(t);
        return cohort_error_set(err, -1, "test", "txpool is full");
    }
    p->txs[p->count++] = t;
    pthread_mutex_unlock(&p->lock);
    memcpy(hash, t->hash, 32);
    if (p->rpc) rpc_publish_pending_tx(p->rpc, t);
    return 0;
}

static void pool_status(void *ctx, uint64_t *pending, uint64_t *queued)
{
    struct fake_pool *p = ctx;
    pthread_mutex_lock(&p->lock);
    *pending = p->count;
    *queued = 0;
    pthread_mutex_unlock(&p->lock);
}

static void pool_for_each(void *ctx, void (*fn)(void *, const struct tx_signed *, bool), void *arg)
{
    struct fake_pool *p = ctx;
    pthread_mutex_lock(&p->lock);
    for (size_t i = 0; i < p->count; i++) fn(arg, p->txs[i], true);
    pthread_mutex_unlock(&p->lock);
}

static int pool_find(void *ctx, const uint8_t hash[32], void (*fn)(void *, const struct tx_signed *), void *arg)
{
    struct fake_pool *p = ctx;
    int found = 0;
    pthread_mutex_lock(&p->lock);
    for (size_t i = 0; i < p->count && !found; i++) {
        if (memcmp(p->txs[i]->hash, hash, 32) == 0) {
            fn(arg, p->txs[i]);
            found = 1;
        }
    }
    pthread_mutex_unlock(&p->lock);
    return found;
}

static int pool_pending_nonce(void *ctx, const uint8_t sender[20], uint64_t *nonce)
{
    struct fake_pool *p = ctx;
    int found = 0;
    pthread_mutex_lock(&p->lock);
    for (size_t i = 0; i < p->count; i++) {
        if (memcmp(p->txs[i]->tx.sender, sender, 20) == 0 && (!found || p->txs[i]->tx.nonce + 1 > *nonce)) {
            *nonce = p->txs[i]->tx.nonce + 1;
            found = 1;
        }
    }
    pthread_mutex_unlock(&p->lock);
    return found;
}

static u256 tip_fee(void *ctx)
{
    (void)ctx;
    return u256_from_u64(1000000000);
}

static void pool_clear(struct fake_pool *p)
{
    for (size_t i = 0; i < p->count; i++) tx_free(p->txs[i]);
    p->count = 0;
}

/* ---- The fixture: a chain of 3 blocks ---- */

static struct testchain tc;
static struct fake_pool pool;
static struct rpc *rpc;
static uint8_t tx_logger7[32], tx_legacy[32], tx_create[32], tx_logger9[32];
static uint8_t created[20];
static uint64_t fake_now = 1000000;

static uint64_t fake_clock(void) { return fake_now; }

static u256 gwei(uint64_t n) { return u256_mul(u256_from_u64(n), u256_from_u64(1000000000)); }

static void word(uint8_t out[32], uint64_t v)
{
    memset(out, 0, 32);
    for (int i = 0; i < 8; i++) out[31 - i] = (uint8_t)(v >> (8 * i));
}

/* Init code that deploys the 10-byte ret42 runtime: CODECOPY it to memory and RETURN it. */
static const uint8_t init_ret42[] = {0x60, 0x0a, 0x60, 0x0c, 0x60, 0x00, 0x39, 0x60, 0x0a, 0x60, 0x00, 0xf3,
                                     0x60, 0x2a, 0x60, 0x00, 0x52, 0x60, 0x20, 0x60, 0x00, 0xf3};

static void build_chain(struct rpc_limits *limits, uint32_t history)
{
    ck_assert_int_eq(testchain_open(&tc, history), 0);
    uint8_t data[32];
    word(data, 7);
    struct tx_signed *b1[2];
    b1[0] = testchain_tx(&tc, 0, testchain_logger, u256_zero(), data, 32, 100000);
    b1[1] = testchain_legacy_tx(&tc, 1, tc.addresses[2], u256_from_u64(12345), 21000, gwei(3));
    ck_assert_ptr_nonnull(b1[0]);
    ck_assert_ptr_nonnull(b1[1]);
    memcpy(tx_logger7, b1[0]->hash, 32);
    memcpy(tx_legacy, b1[1]->hash, 32);
    ck_assert_int_eq(testchain_block(&tc, b1, 2), 0);
    word(data, 9);
    struct tx_signed *b2[2];
    b2[0] = testchain_tx(&tc, 0, NULL, u256_zero(), init_ret42, sizeof init_ret42, 200000);
    evm_create_address(tc.addresses[0], b2[0]->tx.nonce, created);
    b2[1] = testchain_tx(&tc, 0, testchain_logger, u256_zero(), data, 32, 100000);
    memcpy(tx_create, b2[0]->hash, 32);
    memcpy(tx_logger9, b2[1]->hash, 32);
    ck_assert_int_eq(testchain_block(&tc, b2, 2), 0);
    /* Block 3: a plain transfer, no logs. */
    struct tx_signed *b3 = testchain_tx(&tc, 3, tc.addresses[1], u256_from_u64(1), NULL, 0, 21000);
    ck_assert_int_eq(testchain_block(&tc, &b3, 1), 0);
    ck_assert_uint_eq(tc.head, 3);

    memset(&pool, 0, sizeof pool);
    pthread_mutex_init(&pool.lock, NULL);
    struct rpc_chain chain = {
        .store = tc.store,
        .chain_id = TESTCHAIN_CHAIN_ID,
        .block_gas_limit = TESTCHAIN_GAS_LIMIT,
        .revision = EVM_CANCUN,
        .min_base_fee = u256_from_u64(1000000000),
        .client_version = "cohort/v0.1.0-test",
        .ctx = &pool,
        .send_raw_transaction = pool_send,
        .pool_status = pool_status,
        .pool_for_each = pool_for_each,
        .pool_find = pool_find,
        .pool_pending_nonce = pool_pending_nonce,
        .max_priority_fee = tip_fee,
    };
    struct cohort_error err = {0};
    ck_assert_int_eq(rpc_new(&chain, limits, &rpc, &err), 0);
    rpc->now_ms = fake_clock;
    pool.rpc = rpc;
}

static void setup(void) { build_chain(NULL, 0); }

static void teardown(void)
{
    rpc_free(rpc);
    rpc = NULL;
    pool_clear(&pool);
    pthread_mutex_destroy(&pool.lock);
    testchain_close(&tc);
}

/* ---- Helpers ---- */

static char *hex_of(const uint8_t *data, size_t n)
{
    static char bufs[8][2 * 256 + 3];
    static int next;
    char *out = bufs[next++ % 8];
    ck_assert_uint_le(n, 256);
    hex_encode(data, n, out, sizeof bufs[0]);
    return out;
}

/* Sends the request text; returns the response (freed by the caller) or NULL. */
static char *send_text(const char *text)
{
    size_t len;
    return rpc_handle(rpc, "127.0.0.1", text, strlen(text), &len);
}

/* A request for method with params (a JSON array text), id 1. */
static char *call(const char *method, const char *params_fmt, ...) __attribute__((format(printf, 2, 3)));
static char *call(const char *method, const char *params_fmt, ...)
{
    char params[8192];
    va_list ap;
    va_start(ap, params_fmt);
    vsnprintf(params, sizeof params, params_fmt, ap);
    va_end(ap);
    char *text = malloc(strlen(params) + 256);
    sprintf(text, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"%s\",\"params\":%s}", method, params);
    char *out = send_text(text);
    free(text);
    ck_assert_ptr_nonnull(out);
    return out;
}

/* The result of a response (freed with the returned root in *root). Fails on an error. */
static cJSON *result_of(char *response, cJSON **root)
{
    *root = cJSON_Parse(response);
    ck_assert_msg(*root != NULL, "not JSON: %s", response);
    cJSON *error = cJSON_GetObjectItem(*root, "error");
    ck_assert_msg(error == NULL, "an error: %s", response);
    cJSON *result = cJSON_GetObjectItem(*root, "result");
    ck_assert_msg(result != NULL, "no result: %s", response);
    ck_assert_str_eq(cJSON_GetObjectItem(*root, "jsonrpc")->valuestring, "2.0");
    free(response);
    return result;
}

/* Checks the response is error code with a message containing want; returns the error object's root. */
static void expect_error(char *response, int code, const char *want)
{
    cJSON *root = cJSON_Parse(response);
    ck_assert_msg(root != NULL, "not JSON: %s", response);
    cJSON *error = cJSON_GetObjectItem(root, "error");
    ck_assert_msg(error != NULL, "no error in %s", response);
    ck_assert_msg(cJSON_GetObjectItem(error, "code")->valueint == code, "code %d, want %d: %s",
                  cJSON_GetObjectItem(error, "code")->valueint, code, response);
    const char *message = cJSON_GetObjectItem(error, "message")->valuestring;
    ck_assert_msg(strstr(message, want) != NULL, "message '%s' lacks '%s'", message, want);
    cJSON_Delete(root);
    free(response);
}

static const char *str(cJSON *o, const char *key)
{
    cJSON *v = cJSON_GetObjectItem(o, key);
    ck_assert_msg(v != NULL && cJSON_IsString(v), "no string field %s", key);
    return v->valuestring;
}

static uint64_t qty(cJSON *o, const char *key)
{
    uint64_t v;
    ck_assert_msg(hex_decode_quantity_u64(str(o, key), &v, NULL) == 0, "%s is not a quantity: %s", key, str(o, key));
    return v;
}

/* The string result of method(params). */
static char *string_result(const char *method, const char *params)
{
    cJSON *root;
    cJSON *r = result_of(call(method, "%s", params), &root);
    ck_assert_msg(cJSON_IsString(r), "%s: not a string", method);
    char *s = strdup(r->valuestring);
    cJSON_Delete(root);
    return s;
}

/* ---- The JSON tokenizer ---- */

static int parse(const char *text, struct rpc_json *j)
{
    return rpc_json_parse(j, text, strlen(text), 8, 1000, NULL);
}

START_TEST(json_tokens)
{
    struct rpc_json j;
    const char *text = " {\"a\":[1,-2.5e+3,true,false,null,\"x\\n\\u00e9\"],\"b\":{},\"a\":0} ";
    ck_assert_int_eq(parse(text, &j), 0);
    ck_assert_uint_eq(j.count, 13);
    ck_assert_int_eq(j.tokens[0].type, RPC_JSON_OBJECT);
    ck_assert_uint_eq(j.tokens[0].count, 3);
    ck_assert_uint_eq(j.tokens[0].next, 13);
    ck_assert_int_eq(j.tokens[2].type, RPC_JSON_ARRAY);
    ck_assert_uint_eq(j.tokens[2].count, 6);
    ck_assert_uint_eq(j.tokens[2].next, 9);
    ck_assert_int_eq(j.tokens[4].type, RPC_JSON_NUMBER);
    ck_assert_int_eq(strncmp(text + j.tokens[4].start, "-2.5e+3", j.tokens[4].end - j.tokens[4].start), 0);
    /* A repeated key: the last one counts, as in Go. */
    int64_t a = rpc_json_get(&j, 0, "a");
    ck_assert_int_eq(j.tokens[a].type, RPC_JSON_NUMBER);
    ck_assert_int_eq(rpc_json_get(&j, 0, "b"), 10);
    ck_assert_int_eq(rpc_json_get(&j, 0, "c"), -1);
    ck_assert_int_eq(rpc_json_element(&j, 2, 5), 8);
    ck_assert_int_eq(rpc_json_element(&j, 2, 6), -1);
    rpc_json_free(&j);
    const char *bad[] = {"[1,2", "{\"a\" 1}", "[01]", "[1.]", "[-]", "\"\\x\"", "\"\\u12g4\"", "[1,]", "{,}", "\"\t\"",
                         "tru", "{\"a\":1,}", "[1 2]", "}", "{\"a\"}", "[\"a\":1]", "1e", "--1", "[[[[[[[[[1]]]]]]]]]",
                         "nul", "\"abc", "{1:2}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_msg(parse(bad[i], &j) != 0, "accepted %s", bad[i]);
        rpc_json_free(&j);
    }
    const char *good[] = {"0", "-0.5E-2", "\"\"", "[]", "{}", "[[[[[[[[1]]]]]]]]", "\"\\ud83d\\ude00 \\/\"", " null "};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        ck_assert_msg(parse(good[i], &j) == 0, "refused %s", good[i]);
        rpc_json_free(&j);
    }
    /* The token cap is a limit, not a crash. */
    struct cohort_error err = {0};
    ck_assert_int_eq(rpc_json_parse(&j, "[1,2,3,4]", 9, 8, 3, &err), COMMON_E_RANGE);
    ck_assert_ptr_nonnull(strstr(err.message, "more than 3 JSON values"));
    rpc_json_free(&j);
    /* Output: escapes and doubles. */
    struct rpc_buf b;
    rpc_buf_init(&b, 100);
    rpc_buf_string(&b, "a\"b\\c\n\x01", 7);
    ck_assert_str_eq(b.data, "\"a\\\"b\\\\c\\n\\u0001\"");
    rpc_buf_truncate(&b, 0);
    rpc_buf_double(&b, 0.1);
    ck_assert_str_eq(b.data, "0.1");
    rpc_buf_truncate(&b, 0);
    rpc_buf_double(&b, 1.0 / 3.0);
    ck_assert_double_eq(strtod(b.data, NULL), 1.0 / 3.0);
    rpc_buf_truncate(&b, 0);
    char big[200];
    memset(big, 'x', sizeof big);
    rpc_buf_put(&b, big, sizeof big);
    ck_assert(b.over);
    rpc_buf_free(&b);
}
END_TEST

/* ---- The envelope ---- */

START_TEST(envelope_errors)
{
    expect_error(send_text("{\"jsonrpc\":\"2.0\",\"id\":1,"), RPC_ERR_PARSE, "parse error");
    expect_error(send_text(""), RPC_ERR_PARSE, "empty input");
    expect_error(send_text("{\"a\":1} x"), RPC_ERR_PARSE, "trailing");
    expect_error(send_text("5"), RPC_ERR_INVALID_REQUEST, "invalid request");
    expect_error(send_text("{\"jsonrpc\":\"2.0\",\"id\":1}"), RPC_ERR_INVALID_REQUEST, "method");
    expect_error(send_text("{\"jsonrpc\":\"2.0\",\"id\":{},\"method\":\"eth_chainId\"}"), RPC_ERR_INVALID_REQUEST, "id");
    expect_error(call("eth_nonsense", "[]"), RPC_ERR_METHOD_NOT_FOUND, "the method eth_nonsense does not exist/is not available");
    expect_error(send_text("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"eth_getBalance\",\"params\":{\"a\":1}}"),
                 RPC_ERR_INVALID_PARAMS, "non-array args");
    expect_error(call("eth_chainId", "[1]"), RPC_ERR_INVALID_PARAMS, "too many arguments, want at most 0");
    expect_error(call("eth_getBalance", "[]"), RPC_ERR_INVALID_PARAMS, "missing value for required argument 0");
    expect_error(call("eth_getBlockByNumber", "[\"latest\"]"), RPC_ERR_INVALID_PARAMS, "missing value for required argument 1");
    /* Deep nesting is refused, not recursed into. */
    char deep[400];
    memset(deep, '[', 200);
    memset(deep + 200, ']', 199);
    deep[399] = 0;
    expect_error(send_text(deep), RPC_ERR_PARSE, "parse error");
    /* The parse error carries id null. */
    char *r = send_text("{bad");
    ck_assert_ptr_nonnull(strstr(r, "\"id\":null"));
    free(r);
}
END_TEST

START_TEST(ids_and_notifications)
{
    /* The id comes back byte for byte, even a number no double holds. */
    char *r = send_text("{\"jsonrpc\":\"2.0\",\"id\":123456789012345678901234567890,\"method\":\"eth_chainId\"}");
    ck_assert_str_eq(r, "{\"jsonrpc\":\"2.0\",\"id\":123456789012345678901234567890,\"result\":\"0x539\"}");
    free(r);
    r = send_text("{\"id\":\"a\\\"b\",\"jsonrpc\":\"2.0\",\"method\":\"eth_chainId\",\"params\":null}");
    ck_assert_str_eq(r, "{\"jsonrpc\":\"2.0\",\"id\":\"a\\\"b\",\"result\":\"0x539\"}");
    free(r);
    /* A notification gets no answer, a batch of notifications neither. */
    ck_assert_ptr_null(send_text("{\"jsonrpc\":\"2.0\",\"method\":\"eth_chainId\"}"));
    ck_assert_ptr_null(send_text("[{\"jsonrpc\":\"2.0\",\"method\":\"eth_chainId\"},{\"jsonrpc\":\"2.0\",\"method\":\"nope\"}]"));
}
END_TEST

START_TEST(batches)
{
    char *r = send_text("[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"eth_chainId\"},"
                        "{\"jsonrpc\":\"2.0\",\"method\":\"eth_chainId\"},"
                        "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"nope\"},5]");
    cJSON *root = cJSON_Parse(r);
    ck_assert(cJSON_IsArray(root));
    ck_assert_int_eq(cJSON_GetArraySize(root), 3);
    ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(root, 0), "result")->valuestring, "0x539");
    ck_assert_int_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetArrayItem(root, 1), "error"), "code")->valueint,
                     RPC_ERR_METHOD_NOT_FOUND);
    ck_assert_int_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetArrayItem(root, 2), "error"), "code")->valueint,
                     RPC_ERR_INVALID_REQUEST);
    cJSON_Delete(root);
    free(r);
    expect_error(send_text("[]"), RPC_ERR_INVALID_REQUEST, "empty batch");
}
END_TEST

START_TEST(limits_name_themselves)
{
    teardown();
    struct rpc_limits l = {.batch_requests = 2, .body_bytes = 300, .response_bytes = 2000, .logs_block_range = 2,
                           .logs_results = 1, .filters_per_client = 2};
    build_chain(&l, 0);
    /* A batch over the limit: one error, with the first call's id. */
    char *r = send_text("[{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"eth_chainId\"},{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"eth_chainId\"},"
                        "{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"eth_chainId\"}]");
    cJSON *root = cJSON_Parse(r);
    ck_assert_int_eq(cJSON_GetArraySize(root), 1);
    cJSON *e = cJSON_GetArrayItem(root, 0);
    ck_assert_int_eq(cJSON_GetObjectItem(e, "id")->valueint, 7);
    ck_assert_int_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(e, "error"), "code")->valueint, RPC_ERR_INVALID_REQUEST);
    ck_assert_ptr_nonnull(strstr(cJSON_GetObjectItem(cJSON_GetObjectItem(e, "error"), "message")->valuestring,
                                 "batch too large: 3 requests, over the limit of 2 requests per batch"));
    cJSON_Delete(root);
    free(r);
    /* The body. */
    char big[400];
    memset(big, ' ', sizeof big - 1);
    big[sizeof big - 1] = 0;
    memcpy(big, "{\"id\":1}", 8);
    expect_error(send_text(big), RPC_ERR_LIMIT, "over the limit of 300 bytes per request");
    /* The response: a full block with its logsBloom is over 2000 bytes. */
    expect_error(call("eth_getBlockByNumber", "[\"0x1\",true]"), RPC_ERR_RESPONSE_TOO_LARGE,
                 "response too large: over the limit of 2000 bytes");
    /* eth_getLogs: the range and the count. */
    expect_error(call("eth_getLogs", "[{\"fromBlock\":\"0x0\",\"toBlock\":\"0x3\"}]"), RPC_ERR_LIMIT,
                 "over the limit of 2 blocks per eth_getLogs");
    expect_error(call("eth_getLogs", "[{\"fromBlock\":\"0x1\",\"toBlock\":\"0x2\"}]"), RPC_ERR_LIMIT,
                 "more than 1 results");
    /* Filters per client. */
    free(string_result("eth_newBlockFilter", "[]"));
    free(string_result("eth_newBlockFilter", "[]"));
    expect_error(call("eth_newBlockFilter", "[]"), RPC_ERR_LIMIT, "the limit per client is 2");
    /* Another client still may. */
    const char *other = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"eth_newBlockFilter\"}";
    r = rpc_handle(rpc, "10.0.0.2", other, strlen(other), &(size_t){0});
    ck_assert_ptr_nonnull(strstr(r, "\"result\":\"0x"));
    free(r);
}
END_TEST

START_TEST(invalid_params_name_the_argument)
{
    expect_error(call("eth_getBalance", "[\"0x1234\",\"latest\"]"), RPC_ERR_INVALID_PARAMS,
                 "invalid argument 0: hex string has length 4, want 40 for an address");
    expect_error(call("eth_getBalance", "[\"%s\",\"0x01\"]", hex_of(tc.addresses[0], 20)), RPC_ERR_INVALID_PARAMS,
                 "invalid argument 1: hex number with leading zero digits");
    expect_error(call("eth_getBalance", "[\"%s\",\"newest\"]", hex_of(tc.addresses[0], 20)), RPC_ERR_INVALID_PARAMS,
                 "invalid argument 1");
    expect_error(call("eth_getBalance", "[\"%s\",\"0x\"]", hex_of(tc.addresses[0], 20)), RPC_ERR_INVALID_PARAMS,
                 "hex string \"0x\"");
    expect_error(call("eth_getBalance", "[\"%s\",{\"blockHash\":\"%s\",\"blockNumber\":\"0x1\"}]", hex_of(tc.addresses[0], 20),
                      hex_of(tc.head_hash, 32)),
                 RPC_ERR_INVALID_PARAMS, "cannot specify both blockHash and blockNumber");
    expect_error(call("eth_getBalance", "[\"%s\",{}]", hex_of(tc.addresses[0], 20)), RPC_ERR_INVALID_PARAMS,
                 "either blockHash or blockNumber");
    expect_error(call("eth_getBalance", "[1,\"latest\"]"), RPC_ERR_INVALID_PARAMS, "want an address");
    expect_error(call("eth_getBlockByNumber", "[\"latest\",\"yes\"]"), RPC_ERR_INVALID_PARAMS, "invalid argument 1: want a boolean");
    expect_error(call("eth_call", "[{\"to\":\"%s\",\"gas\":\"0x01\"}]", hex_of(testchain_ret42, 20)), RPC_ERR_INVALID_PARAMS,
                 "invalid argument 0: field \"gas\": hex number with leading zero digits");
    expect_error(call("eth_call", "[{\"to\":\"%s\",\"data\":\"0x1\"}]", hex_of(testchain_ret42, 20)), RPC_ERR_INVALID_PARAMS,
                 "field \"data\": hex string of odd length");
    expect_error(call("eth_getLogs", "[{\"topics\":[null,null,null,null,null]}]"), RPC_ERR_INVALID_PARAMS, "exceed max topics");
    expect_error(call("eth_getLogs", "[{\"blockHash\":\"%s\",\"fromBlock\":\"0x1\"}]", hex_of(tc.head_hash, 32)),
                 RPC_ERR_INVALID_PARAMS, "cannot specify both BlockHash and FromBlock/ToBlock");
    expect_error(call("eth_feeHistory", "[\"0x2\",\"latest\",[50,10]]"), RPC_ERR_DEFAULT, "invalid reward percentile");
    expect_error(call("eth_feeHistory", "[\"0x2\",\"latest\",[101]]"), RPC_ERR_DEFAULT, "invalid reward percentile");
}
END_TEST

/* ---- Node methods ---- */

START_TEST(node_methods)
{
    char *s = string_result("eth_chainId", "[]");
    ck_assert_str_eq(s, "0x539");
    free(s);
    s = string_result("net_version", "[]");
    ck_assert_str_eq(s, "1337");
    free(s);
    s = string_result("web3_clientVersion", "[]");
    ck_assert_str_eq(s, "cohort/v0.1.0-test");
    free(s);
    s = string_result("web3_sha3", "[\"0x\"]");
    ck_assert_str_eq(s, "0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470");
    free(s);
    s = string_result("eth_blockNumber", "[]");
    ck_assert_str_eq(s, "0x3");
    free(s);
    s = string_result("eth_maxPriorityFeePerGas", "[]");
    ck_assert_str_eq(s, "0x3b9aca00");
    free(s);
    /* geth: the tip plus the head's base fee. */
    s = string_result("eth_gasPrice", "[]");
    u256 want = u256_add(tc.head_header.base_fee, u256_from_u64(1000000000));
    char text[70];
    u256_to_hex(want, text, sizeof text);
    ck_assert_str_eq(s, text);
    free(s);
    s = string_result("net_peerCount", "[]");
    ck_assert_str_eq(s, "0x0");
    free(s);
    char *r = call("eth_syncing", "[]");
    ck_assert_ptr_nonnull(strstr(r, "\"result\":false"));
    free(r);
    r = call("eth_accounts", "[]");
    ck_assert_ptr_nonnull(strstr(r, "\"result\":[]"));
    free(r);
    r = call("net_listening", "[]");
    ck_assert_ptr_nonnull(strstr(r, "\"result\":true"));
    free(r);
    r = call("eth_subscribe", "[\"newHeads\"]");
    expect_error(r, RPC_ERR_METHOD_NOT_FOUND, "notifications not supported");
}
END_TEST

/* ---- State reads ---- */

START_TEST(state_reads_at_blocks)
{
    const char *a2 = hex_of(tc.addresses[2], 20);
    /* The legacy transfer of 12345 wei landed in block 1. */
    cJSON *root;
    u256 base = u256_mul(u256_from_u64(1000), u256_from_u64(1000000000000000000ull));
    char want[70];
    u256_to_hex(u256_add(base, u256_from_u64(12345)), want, sizeof want);
    char *s;
    char params[300];
    snprintf(params, sizeof params, "[\"%s\",\"latest\"]", a2);
    s = string_result("eth_getBalance", params);
    ck_assert_str_eq(s, want);
    free(s);
    snprintf(params, sizeof params, "[\"%s\",\"earliest\"]", a2);
    s = string_result("eth_getBalance", params);
    u256_to_hex(base, want, sizeof want);
    ck_assert_str_eq(s, want);
    free(s);
    /* EIP-1898: by the hash of block 0, and {blockNumber}. */
    struct store_view *v;
    ck_assert_int_eq(store_view_begin(tc.store, &v, NULL), 0);
    uint8_t hash0[32], hash1[32];
    ck_assert_int_eq(store_header(v, 0, NULL, hash0, NULL), 1);
    ck_assert_int_eq(store_header(v, 1, NULL, hash1, NULL), 1);
    store_view_end(v);
    snprintf(params, sizeof params, "[\"%s\",{\"blockHash\":\"%s\",\"requireCanonical\":true}]", a2, hex_of(hash0, 32));
    s = string_result("eth_getBalance", params);
    ck_assert_str_eq(s, want);
    free(s);
    snprintf(params, sizeof params, "[\"%s\",\"%s\"]", a2, hex_of(hash0, 32));
    s = string_result("eth_getBalance", params);
    ck_assert_str_eq(s, want);
    free(s);
    snprintf(params, sizeof params, "[\"%s\",{\"blockNumber\":\"0x0\"}]", a2);
    s = string_result("eth_getBalance", params);
    ck_assert_str_eq(s, want);
    free(s);
    /* The logger's slot 0: 7 after block 1, 9 after block 2. */
    snprintf(params, sizeof params, "[\"%s\",\"0x0\",\"0x1\"]", hex_of(testchain_logger, 20));
    s = string_result("eth_getStorageAt", params);
    ck_assert_str_eq(s, "0x0000000000000000000000000000000000000000000000000000000000000007");
    free(s);
    snprintf(params, sizeof params, "[\"%s\",\"0x0000000000000000000000000000000000000000000000000000000000000000\",\"latest\"]",
             hex_of(testchain_logger, 20));
    s = string_result("eth_getStorageAt", params);
    ck_assert_str_eq(s, "0x0000000000000000000000000000000000000000000000000000000000000009");
    free(s);
    /* Code, and an account without any. */
    snprintf(params, sizeof params, "[\"%s\",\"latest\"]", hex_of(testchain_ret42, 20));
    s = string_result("eth_getCode", params);
    ck_assert_str_eq(s, "0x602a60005260206000f3");
    free(s);
    snprintf(params, sizeof params, "[\"%s\",\"0x1\"]", hex_of(created, 20));
    s = string_result("eth_getCode", params);
    ck_assert_str_eq(s, "0x");
    free(s);
    snprintf(params, sizeof params, "[\"%s\",\"0x2\"]", hex_of(created, 20));
    s = string_result("eth_getCode", params);
    ck_assert_str_eq(s, "0x602a60005260206000f3");
    free(s);
    /* Nonces: latest, an old block, pending through the pool. */
    snprintf(params, sizeof params, "[\"%s\",\"latest\"]", hex_of(tc.addresses[0], 20));
    s = string_result("eth_getTransactionCount", params);
    ck_assert_str_eq(s, "0x3");
    free(s);
    snprintf(params, sizeof params, "[\"%s\",\"0x1\"]", hex_of(tc.addresses[0], 20));
    s = string_result("eth_getTransactionCount", params);
    ck_assert_str_eq(s, "0x1");
    free(s);
    struct tx_signed *p = testchain_tx(&tc, 0, tc.addresses[3], u256_from_u64(1), NULL, 0, 21000);
    snprintf(params, sizeof params, "[\"%s\"]", hex_of(p->raw, p->raw_len));
    tx_free(p);
    s = string_result("eth_sendRawTransaction", params);
    free(s);
    snprintf(params, sizeof params, "[\"%s\",\"pending\"]", hex_of(tc.addresses[0], 20));
    s = string_result("eth_getTransactionCount", params);
    ck_assert_str_eq(s, "0x4");
    free(s);
    (void)root;
}
END_TEST

START_TEST(missing_and_future_blocks)
{
    const char *a = hex_of(tc.addresses[0], 20);
    expect_error(call("eth_getBalance", "[\"%s\",\"0x99\"]", a), RPC_ERR_DEFAULT, "header not found");
    uint8_t nowhere[32];
    memset(nowhere, 0x5a, 32);
    expect_error(call("eth_getBalance", "[\"%s\",{\"blockHash\":\"%s\"}]", a, hex_of(nowhere, 32)), RPC_ERR_DEFAULT,
                 "header for hash not found");
    char *r = call("eth_getBlockByNumber", "[\"0x99\",false]");
    ck_assert_ptr_nonnull(strstr(r, "\"result\":null"));
    free(r);
    r = call("eth_getBlockByHash", "[\"%s\",false]", hex_of(nowhere, 32));
    ck_assert_ptr_nonnull(strstr(r, "\"result\":null"));
    free(r);
    r = call("eth_getTransactionByHash", "[\"%s\"]", hex_of(nowhere, 32));
    ck_assert_ptr_nonnull(strstr(r, "\"result\":null"));
    free(r);
    r = call("eth_getTransactionReceipt", "[\"%s\"]", hex_of(nowhere, 32));
    ck_assert_ptr_nonnull(strstr(r, "\"result\":null"));
    free(r);
    r = call("eth_getBlockTransactionCountByNumber", "[\"0x99\"]");
    ck_assert_ptr_nonnull(strstr(r, "\"result\":null"));
    free(r);
    r = call("eth_getTransactionByBlockNumberAndIndex", "[\"0x1\",\"0x7\"]");
    ck_assert_ptr_nonnull(strstr(r, "\"result\":null"));
    free(r);
}
END_TEST

START_TEST(pruned_state_says_so)
{
    teardown();
    build_chain(NULL, 1);
    const char *a = hex_of(tc.addresses[0], 20);
    expect_error(call("eth_getBalance", "[\"%s\",\"0x0\"]", a), RPC_ERR_DEFAULT,
                 "historical state of block 0 is not available");
    expect_error(call("eth_call", "[{\"to\":\"%s\"},\"0x1\"]", hex_of(testchain_ret42, 20)), RPC_ERR_DEFAULT,
                 "(the oldest kept is 2)");
    /* Blocks themselves are kept. */
    char *r = call("eth_getBlockByNumber", "[\"0x0\",false]");
    ck_assert_ptr_nonnull(strstr(r, "\"number\":\"0x0\""));
    free(r);
    char *s = string_result("eth_getBalance", "[\"0x0000000000000000000000000000000000000000\",\"0x2\"]");
    free(s);
    (void)a;
}
END_TEST

/* ---- Blocks, transactions, receipts ---- */

START_TEST(block_fields)
{
    cJSON *root;
    cJSON *b = result_of(call("eth_getBlockByNumber", "[\"0x1\",false]"), &root);
    const char *fields[] = {"number", "hash", "parentHash", "nonce", "mixHash", "sha3Uncles", "logsBloom", "stateRoot",
                            "miner", "difficulty", "extraData", "gasLimit", "gasUsed", "timestamp", "transactionsRoot",
                            "receiptsRoot", "baseFeePerGas", "withdrawalsRoot", "blobGasUsed", "excessBlobGas",
                            "parentBeaconBlockRoot", "size", "totalDifficulty"};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) str(b, fields[i]);
    ck_assert_str_eq(str(b, "totalDifficulty"), "0x0");
    ck_assert_str_eq(str(b, "difficulty"), "0x0");
    ck_assert_str_eq(str(b, "nonce"), "0x0000000000000000");
    ck_assert_str_eq(str(b, "extraData"), "0x636f686f7274");
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(b, "uncles")), 0);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(b, "withdrawals")), 0);
    cJSON *txs = cJSON_GetObjectItem(b, "transactions");
    ck_assert_int_eq(cJSON_GetArraySize(txs), 2);
    ck_assert_str_eq(cJSON_GetArrayItem(txs, 0)->valuestring, hex_of(tx_logger7, 32));
    ck_assert_str_eq(cJSON_GetArrayItem(txs, 1)->valuestring, hex_of(tx_legacy, 32));
    /* size: the length of the block's RLP, computed here independently with block_encode. */
    struct store_view *v;
    ck_assert_int_eq(store_view_begin(tc.store, &v, NULL), 0);
    struct block_header h;
    uint8_t hash[32];
    ck_assert_int_eq(store_header(v, 1, &h, hash, NULL), 1);
    ck_assert_str_eq(str(b, "hash"), hex_of(hash, 32));
    struct tx_signed *t[2];
    for (uint32_t i = 0; i < 2; i++) {
        const uint8_t *raw;
        size_t len;
        ck_assert_int_eq(store_block_tx(v, 1, i, &raw, &len, NULL), 1);
        ck_assert_int_eq(tx_decode(raw, len, 0, &t[i], NULL), 0);
    }
    store_view_end(v);
    struct rlp_buf enc;
    rlp_buf_init(&enc, 0);
    block_encode(&h, t, 2, true, NULL, 0, &enc);
    ck_assert_uint_eq(qty(b, "size"), enc.len);
    rlp_buf_free(&enc);
    tx_free(t[0]);
    tx_free(t[1]);
    char hash_text[67];
    snprintf(hash_text, sizeof hash_text, "%s", str(b, "hash"));
    cJSON_Delete(root);

    /* By hash, with full transactions. */
    b = result_of(call("eth_getBlockByHash", "[\"%s\",true]", hash_text), &root);
    ck_assert_uint_eq(qty(b, "number"), 1);
    txs = cJSON_GetObjectItem(b, "transactions");
    cJSON *t2 = cJSON_GetArrayItem(txs, 0), *t0 = cJSON_GetArrayItem(txs, 1);
    /* A type-2 transaction: geth's fields. */
    const char *f2[] = {"blockHash", "blockNumber", "from", "gas", "gasPrice", "maxFeePerGas", "maxPriorityFeePerGas", "hash",
                        "input", "nonce", "to", "transactionIndex", "value", "type", "chainId", "v", "r", "s", "yParity"};
    for (size_t i = 0; i < sizeof f2 / sizeof f2[0]; i++) str(t2, f2[i]);
    ck_assert(cJSON_IsArray(cJSON_GetObjectItem(t2, "accessList")));
    ck_assert_str_eq(str(t2, "type"), "0x2");
    ck_assert_str_eq(str(t2, "from"), hex_of(tc.addresses[0], 20));
    ck_assert_str_eq(str(t2, "blockHash"), hash_text);
    ck_assert_str_eq(str(t2, "chainId"), "0x539");
    /* Mined: gasPrice is what was paid, base fee + tip (the cap is higher). */
    ck_assert_uint_eq(qty(t2, "gasPrice"), h.base_fee.w[0] + 1000000000);
    /* A legacy EIP-155 transaction: v = chainId * 2 + 35/36, no yParity, no accessList. */
    ck_assert_str_eq(str(t0, "type"), "0x0");
    uint64_t v0 = qty(t0, "v");
    ck_assert(v0 == TESTCHAIN_CHAIN_ID * 2 + 35 || v0 == TESTCHAIN_CHAIN_ID * 2 + 36);
    ck_assert_ptr_null(cJSON_GetObjectItem(t0, "yParity"));
    ck_assert_ptr_null(cJSON_GetObjectItem(t0, "accessList"));
    ck_assert_str_eq(str(t0, "transactionIndex"), "0x1");
    cJSON_Delete(root);

    char *r = call("eth_getBlockTransactionCountByHash", "[\"0x0000000000000000000000000000000000000000000000000000000000000000\"]");
    ck_assert_ptr_nonnull(strstr(r, "\"result\":null"));
    free(r);
    r = call("eth_getBlockTransactionCountByNumber", "[\"0x2\"]");
    ck_assert_ptr_nonnull(strstr(r, "\"result\":\"0x2\""));
    free(r);
    r = call("eth_getUncleCountByBlockNumber", "[\"0x2\"]");
    ck_assert_ptr_nonnull(strstr(r, "\"result\":\"0x0\""));
    free(r);
    r = call("eth_getUncleByBlockNumberAndIndex", "[\"0x2\",\"0x0\"]");
    ck_assert_ptr_nonnull(strstr(r, "\"result\":null"));
    free(r);
}
END_TEST

START_TEST(transactions_and_receipts)
{
    cJSON *root;
    cJSON *t = result_of(call("eth_getTransactionByHash", "[\"%s\"]", hex_of(tx_logger9, 32)), &root);
    ck_assert_str_eq(str(t, "blockNumber"), "0x2");
    ck_assert_str_eq(str(t, "transactionIndex"), "0x1");
    ck_assert_str_eq(str(t, "to"), hex_of(testchain_logger, 20));
    ck_assert_str_eq(str(t, "input"), "0x0000000000000000000000000000000000000000000000000000000000000009");
    cJSON_Delete(root);

    cJSON *r = result_of(call("eth_getTransactionReceipt", "[\"%s\"]", hex_of(tx_logger9, 32)), &root);
    const char *fields[] = {"blockHash", "blockNumber", "transactionHash", "transactionIndex", "from", "to", "gasUsed",
                            "cumulativeGasUsed", "logsBloom", "type", "effectiveGasPrice", "status"};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) str(r, fields[i]);
    ck_assert(cJSON_IsNull(cJSON_GetObjectItem(r, "contractAddress")));
    ck_assert_str_eq(str(r, "status"), "0x1");
    ck_assert_str_eq(str(r, "type"), "0x2");
    ck_assert_uint_gt(qty(r, "cumulativeGasUsed"), qty(r, "gasUsed"));
    cJSON *logs = cJSON_GetObjectItem(r, "logs");
    ck_assert_int_eq(cJSON_GetArraySize(logs), 1);
    cJSON *log = cJSON_GetArrayItem(logs, 0);
    ck_assert_str_eq(str(log, "address"), hex_of(testchain_logger, 20));
    ck_assert_str_eq(str(log, "logIndex"), "0x0");
    ck_assert_str_eq(str(log, "transactionIndex"), "0x1");
    ck_assert(cJSON_IsFalse(cJSON_GetObjectItem(log, "removed")));
    cJSON *topics = cJSON_GetObjectItem(log, "topics");
    ck_assert_int_eq(cJSON_GetArraySize(topics), 2);
    ck_assert_str_eq(cJSON_GetArrayItem(topics, 0)->valuestring, hex_of(testchain_topic, 32));
    cJSON_Delete(root);

    /* The creation's receipt names the contract. */
    r = result_of(call("eth_getTransactionReceipt", "[\"%s\"]", hex_of(tx_create, 32)), &root);
    ck_assert_str_eq(str(r, "contractAddress"), hex_of(created, 20));
    ck_assert(cJSON_IsNull(cJSON_GetObjectItem(r, "to")));
    cJSON_Delete(root);

    cJSON *all = result_of(call("eth_getBlockReceipts", "[\"0x2\"]"), &root);
    ck_assert_int_eq(cJSON_GetArraySize(all), 2);
    cJSON_Delete(root);

    t = result_of(call("eth_getTransactionByBlockNumberAndIndex", "[\"0x1\",\"0x1\"]"), &root);
    ck_assert_str_eq(str(t, "hash"), hex_of(tx_legacy, 32));
    cJSON_Delete(root);

    /* A pending transaction comes from the pool, with nulls for its place. */
    struct tx_signed *p = testchain_tx(&tc, 3, tc.addresses[1], u256_from_u64(5), NULL, 0, 21000);
    uint8_t ph[32];
    memcpy(ph, p->hash, 32);
    char *hash;
    char params[1024];
    snprintf(params, sizeof params, "[\"%s\"]", hex_of(p->raw, p->raw_len));
    tx_free(p);
    hash = string_result("eth_sendRawTransaction", params);
    ck_assert_str_eq(hash, hex_of(ph, 32));
    free(hash);
    t = result_of(call("eth_getTransactionByHash", "[\"%s\"]", hex_of(ph, 32)), &root);
    ck_assert(cJSON_IsNull(cJSON_GetObjectItem(t, "blockHash")));
    ck_assert(cJSON_IsNull(cJSON_GetObjectItem(t, "transactionIndex")));
    ck_assert_str_eq(str(t, "from"), hex_of(tc.addresses[3], 20));
    cJSON_Delete(root);
    cJSON *status = result_of(call("txpool_status", "[]"), &root);
    ck_assert_str_eq(str(status, "pending"), "0x1");
    cJSON_Delete(root);
    cJSON *content = result_of(call("txpool_content", "[]"), &root);
    cJSON *by_sender = cJSON_GetObjectItem(cJSON_GetObjectItem(content, "pending"), hex_of(tc.addresses[3], 20));
    ck_assert_ptr_nonnull(by_sender);
    ck_assert_ptr_nonnull(cJSON_GetObjectItem(by_sender, "1")); /* key 3 sent nonce 0 in block 3 */
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(content, "queued")), 0);
    cJSON_Delete(root);
}
END_TEST

START_TEST(send_raw_errors)
{
    expect_error(call("eth_sendRawTransaction", "[\"0x0102\"]"), RPC_ERR_DEFAULT, "tx:");
    /* Over the 128 KiB cap: geth's words. */
    size_t n = TX_RAW_MAX_BYTES + 1;
    char *big = malloc(2 * n + 256);
    strcpy(big, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"eth_sendRawTransaction\",\"params\":[\"0x");
    size_t at = strlen(big);
    memset(big + at, 'a', 2 * n);
    strcpy(big + at + 2 * n, "\"]}");
    expect_error(send_text(big), RPC_ERR_DEFAULT, "oversized data: transaction size 131073, limit 131072");
    free(big);
    /* Another chain's transaction is the pool's refusal, passed through. */
    struct tx_signed *t = testchain_legacy_tx(&tc, 0, tc.addresses[1], u256_from_u64(1), 21000, gwei(3));
    ck_assert_ptr_nonnull(t);
    tx_free(t);
}
END_TEST

/* ---- eth_call, eth_estimateGas, eth_createAccessList ---- */

START_TEST(calls_and_reverts)
{
    char *s = string_result("eth_call", "[{\"to\":\"0xc000000000000000000000000000000000000001\"},\"latest\"]");
    ck_assert_str_eq(s, "0x000000000000000000000000000000000000000000000000000000000000002a");
    free(s);
    /* No block parameter: latest. An old block works too. */
    s = string_result("eth_call", "[{\"to\":\"0xc000000000000000000000000000000000000001\"}]");
    free(s);
    s = string_result("eth_call", "[{\"to\":\"0xc000000000000000000000000000000000000001\",\"input\":\"0x\"},\"0x0\"]");
    free(s);
    /* Error(string): code 3, the reason in the message, the revert data in data. */
    char *r = call("eth_call", "[{\"to\":\"%s\"}]", hex_of(testchain_boom, 20));
    ck_assert_ptr_nonnull(strstr(r, "\"data\":\"0x08c379a0"));
    expect_error(r, RPC_ERR_REVERTED, "execution reverted: boom");
    /* A custom error: "execution reverted" and the data, for ethers to decode. */
    r = call("eth_call", "[{\"to\":\"%s\"}]", hex_of(testchain_custom, 20));
    char want[32];
    snprintf(want, sizeof want, "\"data\":\"0x%02x%02x%02x%02x", testchain_custom_selector[0], testchain_custom_selector[1],
             testchain_custom_selector[2], testchain_custom_selector[3]);
    ck_assert_ptr_nonnull(strstr(r, want));
    cJSON *root = cJSON_Parse(r);
    ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(root, "error"), "message")->valuestring, "execution reverted");
    cJSON_Delete(root);
    free(r);
    expect_error(call("eth_call", "[{\"to\":\"%s\"}]", hex_of(testchain_panic, 20)), RPC_ERR_REVERTED,
                 "execution reverted: arithmetic underflow or overflow");
    /* Out of gas is -32000 with geth's words. */
    expect_error(call("eth_call", "[{\"to\":\"%s\",\"gas\":\"0x5300\",\"input\":\"0x%064x\"}]", hex_of(testchain_logger, 20), 5),
                 RPC_ERR_DEFAULT, "out of gas");
    expect_error(call("eth_call", "[{\"to\":\"%s\",\"gas\":\"0x100\"}]", hex_of(testchain_ret42, 20)), RPC_ERR_DEFAULT,
                 "intrinsic gas too low: have 256, want 21000");
    /* A price below the base fee, a price with too little balance. */
    expect_error(call("eth_call", "[{\"to\":\"%s\",\"maxFeePerGas\":\"0x1\"}]", hex_of(testchain_ret42, 20)), RPC_ERR_DEFAULT,
                 "max fee per gas less than block base fee");
    expect_error(call("eth_call", "[{\"from\":\"0x00000000000000000000000000000000000000aa\",\"to\":\"%s\",\"gasPrice\":\"0x1000000000\"}]",
                      hex_of(testchain_ret42, 20)),
                 RPC_ERR_DEFAULT, "insufficient funds for gas * price + value");
    expect_error(call("eth_call", "[{\"to\":\"%s\",\"gasPrice\":\"0x1\",\"maxFeePerGas\":\"0x1\"}]", hex_of(testchain_ret42, 20)),
                 RPC_ERR_DEFAULT, "both gasPrice and (maxFeePerGas or maxPriorityFeePerGas) specified");
    expect_error(call("eth_call", "[{\"to\":\"%s\",\"chainId\":\"0x1\"}]", hex_of(testchain_ret42, 20)), RPC_ERR_DEFAULT,
                 "chainId does not match node's (have=1, want=1337)");
    expect_error(call("eth_call", "[{\"to\":\"%s\",\"data\":\"0x01\",\"input\":\"0x02\"}]", hex_of(testchain_ret42, 20)),
                 RPC_ERR_DEFAULT, "both \"data\" and \"input\" are set and not equal");
    /* A sender without funds may still call when no price is given (geth's eth_call). */
    s = string_result("eth_call", "[{\"from\":\"0x00000000000000000000000000000000000000aa\",\"to\":\"0xc000000000000000000000000000000000000001\"}]");
    free(s);
    /* A creation returns the deployed code. */
    s = string_result("eth_call", "[{\"input\":\"0x600a600c600039600a6000f3602a60005260206000f3\"}]");
    ck_assert_str_eq(s, "0x602a60005260206000f3");
    free(s);
}
END_TEST

START_TEST(state_overrides)
{
    /* Code that returns SLOAD(0): at the logger's address via overrides. */
    const char *sload = "0x60005460005260206000f3";
    char *s = string_result("eth_call", "[{\"to\":\"0xc000000000000000000000000000000000000004\"},\"0x1\","
                                        "{\"0xc000000000000000000000000000000000000004\":{\"code\":\"0x60005460005260206000f3\"}}]");
    ck_assert_str_eq(s, "0x0000000000000000000000000000000000000000000000000000000000000007");
    free(s);
    /* stateDiff changes one slot; state replaces them all. */
    s = string_result("eth_call", "[{\"to\":\"0xc000000000000000000000000000000000000004\"},\"latest\","
                                  "{\"0xc000000000000000000000000000000000000004\":{\"code\":\"0x60005460005260206000f3\","
                                  "\"stateDiff\":{\"0x0\":\"0x0000000000000000000000000000000000000000000000000000000000000005\"}}}]");
    ck_assert_str_eq(s, "0x0000000000000000000000000000000000000000000000000000000000000005");
    free(s);
    s = string_result("eth_call", "[{\"to\":\"0xc000000000000000000000000000000000000004\"},\"latest\","
                                  "{\"0xc000000000000000000000000000000000000004\":{\"code\":\"0x60005460005260206000f3\","
                                  "\"state\":{\"0x1\":\"0x01\"}}}]");
    ck_assert_str_eq(s, "0x0000000000000000000000000000000000000000000000000000000000000000");
    free(s);
    /* A balance override lets a poor sender pay for a priced call. BALANCE(caller) code: */
    s = string_result("eth_call", "[{\"from\":\"0x00000000000000000000000000000000000000aa\",\"to\":\"0x00000000000000000000000000000000000000bb\","
                                  "\"gasPrice\":\"0x77359400\",\"gas\":\"0x10000\"},\"latest\","
                                  "{\"0x00000000000000000000000000000000000000aa\":{\"balance\":\"0xde0b6b3a7640000\"},"
                                  "\"0x00000000000000000000000000000000000000bb\":{\"code\":\"0x333160005260206000f3\"}}]");
    /* 1 ether minus the upfront charge of 0x10000 gas at 2 gwei. */
    u256 want = u256_sub(u256_from_u64(1000000000000000000ull), u256_from_u64(0x10000ull * 2000000000ull));
    uint8_t w[32];
    u256_store_be(w, want);
    ck_assert_str_eq(s, hex_of(w, 32));
    free(s);
    expect_error(call("eth_call", "[{\"to\":\"0xc000000000000000000000000000000000000004\"},\"latest\","
                                  "{\"0xc000000000000000000000000000000000000004\":{\"state\":{},\"stateDiff\":{}}}]"),
                 RPC_ERR_DEFAULT, "has both 'state' and 'stateDiff'");
    expect_error(call("eth_call", "[{\"to\":\"0xc000000000000000000000000000000000000004\"},\"latest\",{\"0x12\":{}}]"),
                 RPC_ERR_INVALID_PARAMS, "invalid argument 2");
    /* Block overrides: NUMBER reads the override. */
    s = string_result("eth_call", "[{\"to\":\"0x00000000000000000000000000000000000000bb\"},\"latest\","
                                  "{\"0x00000000000000000000000000000000000000bb\":{\"code\":\"0x4360005260206000f3\"}},{\"number\":\"0x1234\"}]");
    ck_assert_str_eq(s, "0x0000000000000000000000000000000000000000000000000000000000001234");
    free(s);
    (void)sload;
}
END_TEST

START_TEST(estimate_gas)
{
    char *s = string_result("eth_estimateGas", "[{\"from\":\"0x00000000000000000000000000000000000000aa\",\"to\":\"0x00000000000000000000000000000000000000bb\"}]");
    ck_assert_str_eq(s, "0x5208");
    free(s);
    /* The logger storing a new non-zero value: estimate, then spend exactly that gas in a block. */
    uint8_t data[32];
    word(data, 11);
    char params[512];
    snprintf(params, sizeof params, "[{\"from\":\"%s\",\"to\":\"%s\",\"input\":\"0x%s\"}]", hex_of(tc.addresses[1], 20),
             hex_of(testchain_logger, 20), hex_of(data, 32) + 2);
    s = string_result("eth_estimateGas", params);
    uint64_t estimate;
    ck_assert_int_eq(hex_decode_quantity_u64(s, &estimate, NULL), 0);
    free(s);
    struct tx_signed *t = testchain_tx(&tc, 1, testchain_logger, u256_zero(), data, 32, estimate);
    uint8_t hash[32];
    memcpy(hash, t->hash, 32);
    ck_assert_int_eq(testchain_block(&tc, &t, 1), 0);
    cJSON *root;
    cJSON *r = result_of(call("eth_getTransactionReceipt", "[\"%s\"]", hex_of(hash, 32)), &root);
    ck_assert_str_eq(str(r, "status"), "0x1");
    uint64_t used = qty(r, "gasUsed");
    cJSON_Delete(root);
    ck_assert_msg(estimate >= used && (estimate - used) * 100 <= used, "estimate %llu, used %llu",
                  (unsigned long long)estimate, (unsigned long long)used);
    /* One gas less than the estimate fails: the estimate is the least that works (within 0.1%). */
    ck_assert_uint_le(estimate - used, used / 1000 + 1);
    /* A revert is code 3 with its data; too little gas allowed is geth's message. */
    expect_error(call("eth_estimateGas", "[{\"to\":\"%s\"}]", hex_of(testchain_boom, 20)), RPC_ERR_REVERTED,
                 "execution reverted: boom");
    expect_error(call("eth_estimateGas", "[{\"to\":\"%s\",\"gas\":\"0x5300\",\"input\":\"0x%s\"}]", hex_of(testchain_logger, 20),
                      hex_of(data, 32) + 2),
                 RPC_ERR_DEFAULT, "gas required exceeds allowance (21248)");
    expect_error(call("eth_estimateGas", "[{\"from\":\"0x00000000000000000000000000000000000000aa\",\"to\":\"%s\",\"value\":\"0x1\",\"gasPrice\":\"0x77359400\"}]",
                      hex_of(testchain_ret42, 20)),
                 RPC_ERR_DEFAULT, "insufficient funds for transfer");
}
END_TEST

START_TEST(access_lists)
{
    uint8_t data[32];
    word(data, 3);
    cJSON *root;
    cJSON *r = result_of(call("eth_createAccessList", "[{\"from\":\"%s\",\"to\":\"%s\",\"input\":\"0x%s\"}]",
                              hex_of(tc.addresses[1], 20), hex_of(testchain_logger, 20), hex_of(data, 32) + 2),
                         &root);
    cJSON *list = cJSON_GetObjectItem(r, "accessList");
    ck_assert_int_eq(cJSON_GetArraySize(list), 1);
    cJSON *entry = cJSON_GetArrayItem(list, 0);
    ck_assert_str_eq(str(entry, "address"), hex_of(testchain_logger, 20));
    cJSON *keys = cJSON_GetObjectItem(entry, "storageKeys");
    ck_assert_int_eq(cJSON_GetArraySize(keys), 1);
    ck_assert_str_eq(cJSON_GetArrayItem(keys, 0)->valuestring, "0x0000000000000000000000000000000000000000000000000000000000000000");
    ck_assert_uint_gt(qty(r, "gasUsed"), 21000);
    ck_assert_ptr_null(cJSON_GetObjectItem(r, "error"));
    cJSON_Delete(root);
    /* A reverting call still gives its list, and says why it failed. */
    r = result_of(call("eth_createAccessList", "[{\"to\":\"%s\"}]", hex_of(testchain_boom, 20)), &root);
    ck_assert_str_eq(str(r, "error"), "execution reverted");
    cJSON_Delete(root);
}
END_TEST

/* ---- Logs and fee history ---- */

START_TEST(log_queries)
{
    cJSON *root;
    cJSON *logs = result_of(call("eth_getLogs", "[{\"fromBlock\":\"0x0\",\"toBlock\":\"latest\",\"address\":\"%s\"}]",
                                 hex_of(testchain_logger, 20)),
                            &root);
    ck_assert_int_eq(cJSON_GetArraySize(logs), 2);
    ck_assert_str_eq(str(cJSON_GetArrayItem(logs, 0), "blockNumber"), "0x1");
    ck_assert_str_eq(str(cJSON_GetArrayItem(logs, 1), "blockNumber"), "0x2");
    ck_assert_str_eq(str(cJSON_GetArrayItem(logs, 1), "transactionHash"), hex_of(tx_logger9, 32));
    cJSON_Delete(root);
    /* Topic position 1 is the caller: key 0 sent both. Options in a position; null is any. */
    uint8_t caller[32] = {0};
    memcpy(caller + 12, tc.addresses[0], 20);
    uint8_t other[32] = {0};
    memcpy(other + 12, tc.addresses[3], 20);
    logs = result_of(call("eth_getLogs", "[{\"fromBlock\":\"0x1\",\"topics\":[null,[\"%s\",\"%s\"]]}]", hex_of(other, 32),
                          hex_of(caller, 32)),
                     &root);
    ck_assert_int_eq(cJSON_GetArraySize(logs), 2);
    cJSON_Delete(root);
    logs = result_of(call("eth_getLogs", "[{\"fromBlock\":\"0x1\",\"topics\":[null,\"%s\"]}]", hex_of(other, 32)), &root);
    ck_assert_int_eq(cJSON_GetArraySize(logs), 0);
    cJSON_Delete(root);
    /* geth: more positions than the log has topics never match. */
    logs = result_of(call("eth_getLogs", "[{\"fromBlock\":\"0x1\",\"topics\":[\"%s\",null,null]}]", hex_of(testchain_topic, 32)),
                     &root);
    ck_assert_int_eq(cJSON_GetArraySize(logs), 0);
    cJSON_Delete(root);
    /* One block by hash; default range (latest only: block 3 has no logs). */
    struct store_view *v;
    ck_assert_int_eq(store_view_begin(tc.store, &v, NULL), 0);
    uint8_t hash2[32];
    ck_assert_int_eq(store_header(v, 2, NULL, hash2, NULL), 1);
    store_view_end(v);
    logs = result_of(call("eth_getLogs", "[{\"blockHash\":\"%s\"}]", hex_of(hash2, 32)), &root);
    ck_assert_int_eq(cJSON_GetArraySize(logs), 1);
    cJSON_Delete(root);
    logs = result_of(call("eth_getLogs", "[{}]"), &root);
    ck_assert_int_eq(cJSON_GetArraySize(logs), 0);
    cJSON_Delete(root);
    logs = result_of(call("eth_getLogs", "[{\"fromBlock\":\"0x9\",\"toBlock\":\"0x10\"}]"), &root);
    ck_assert_int_eq(cJSON_GetArraySize(logs), 0);
    cJSON_Delete(root);
    expect_error(call("eth_getLogs", "[{\"fromBlock\":\"0x2\",\"toBlock\":\"0x1\"}]"), RPC_ERR_DEFAULT, "invalid block range params");
    uint8_t nowhere[32];
    memset(nowhere, 0x5a, 32);
    expect_error(call("eth_getLogs", "[{\"blockHash\":\"%s\"}]", hex_of(nowhere, 32)), RPC_ERR_DEFAULT, "unknown block");
}
END_TEST

START_TEST(fee_history)
{
    cJSON *root;
    cJSON *r = result_of(call("eth_feeHistory", "[\"0x2\",\"0x2\",[25,75.5]]"), &root);
    ck_assert_str_eq(str(r, "oldestBlock"), "0x1");
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(r, "baseFeePerGas")), 3);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(r, "gasUsedRatio")), 2);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(r, "baseFeePerBlobGas")), 3);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(r, "blobGasUsedRatio")), 2);
    cJSON *reward = cJSON_GetObjectItem(r, "reward");
    ck_assert_int_eq(cJSON_GetArraySize(reward), 2);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetArrayItem(reward, 0)), 2);
    /* Block 1: the type-2 tip is 1 gwei; the legacy one pays 3 gwei - base fee. */
    ck_assert_str_eq(cJSON_GetArrayItem(cJSON_GetArrayItem(reward, 1), 0)->valuestring, "0x3b9aca00");
    double ratio = cJSON_GetArrayItem(cJSON_GetObjectItem(r, "gasUsedRatio"), 0)->valuedouble;
    ck_assert(ratio > 0 && ratio < 0.01);
    cJSON_Delete(root);
    /* A count past the head is cut to the chain; a decimal count works; beyond the head is an error. */
    r = result_of(call("eth_feeHistory", "[10,\"latest\"]"), &root);
    ck_assert_str_eq(str(r, "oldestBlock"), "0x0");
    ck_assert_ptr_null(cJSON_GetObjectItem(r, "reward"));
    cJSON_Delete(root);
    expect_error(call("eth_feeHistory", "[\"0x1\",\"0x9\"]"), RPC_ERR_DEFAULT, "request beyond head block");
}
END_TEST

/* ---- Filters ---- */

START_TEST(filters)
{
    char *blocks = string_result("eth_newBlockFilter", "[]");
    char params[512];
    snprintf(params, sizeof params, "[{\"address\":\"%s\",\"fromBlock\":\"latest\"}]", hex_of(testchain_logger, 20));
    char *logs = string_result("eth_newFilter", params);
    char *pending = string_result("eth_newPendingTransactionFilter", "[]");
    cJSON *root;
    cJSON *r = result_of(call("eth_getFilterChanges", "[\"%s\"]", blocks), &root);
    ck_assert_int_eq(cJSON_GetArraySize(r), 0);
    cJSON_Delete(root);
    /* A block with a log. */
    uint8_t data[32];
    word(data, 21);
    struct tx_signed *t = testchain_tx(&tc, 2, testchain_logger, u256_zero(), data, 32, 100000);
    char raw_params[1024];
    snprintf(raw_params, sizeof raw_params, "[\"%s\"]", hex_of(t->raw, t->raw_len));
    free(string_result("eth_sendRawTransaction", raw_params)); /* the pending filter sees it */
    ck_assert_int_eq(testchain_block(&tc, &t, 1), 0);
    r = result_of(call("eth_getFilterChanges", "[\"%s\"]", blocks), &root);
    ck_assert_int_eq(cJSON_GetArraySize(r), 1);
    ck_assert_str_eq(cJSON_GetArrayItem(r, 0)->valuestring, hex_of(tc.head_hash, 32));
    cJSON_Delete(root);
    r = result_of(call("eth_getFilterChanges", "[\"%s\"]", blocks), &root);
    ck_assert_int_eq(cJSON_GetArraySize(r), 0);
    cJSON_Delete(root);
    r = result_of(call("eth_getFilterChanges", "[\"%s\"]", logs), &root);
    ck_assert_int_eq(cJSON_GetArraySize(r), 1);
    ck_assert_str_eq(str(cJSON_GetArrayItem(r, 0), "blockNumber"), "0x4");
    cJSON_Delete(root);
    r = result_of(call("eth_getFilterChanges", "[\"%s\"]", pending), &root);
    ck_assert_int_eq(cJSON_GetArraySize(r), 1);
    cJSON_Delete(root);
    /* eth_getFilterLogs: the whole range again ("latest" now is block 4). */
    r = result_of(call("eth_getFilterLogs", "[\"%s\"]", logs), &root);
    ck_assert_int_eq(cJSON_GetArraySize(r), 1);
    cJSON_Delete(root);
    expect_error(call("eth_getFilterLogs", "[\"%s\"]", blocks), RPC_ERR_DEFAULT, "filter not found");
    /* Uninstall once; the second time there is nothing to remove. */
    char *out = call("eth_uninstallFilter", "[\"%s\"]", logs);
    ck_assert_ptr_nonnull(strstr(out, "\"result\":true"));
    free(out);
    out = call("eth_uninstallFilter", "[\"%s\"]", logs);
    ck_assert_ptr_nonnull(strstr(out, "\"result\":false"));
    free(out);
    expect_error(call("eth_getFilterChanges", "[\"%s\"]", logs), RPC_ERR_DEFAULT, "filter not found");
    expect_error(call("eth_getFilterChanges", "[\"0xnope\"]"), RPC_ERR_DEFAULT, "filter not found");
    /* Not polled for 5 minutes: gone. Polled in time: kept. */
    fake_now += 4 * 60 * 1000;
    free(call("eth_getFilterChanges", "[\"%s\"]", blocks));
    fake_now += 4 * 60 * 1000;
    r = result_of(call("eth_getFilterChanges", "[\"%s\"]", blocks), &root);
    cJSON_Delete(root);
    expect_error(call("eth_getFilterChanges", "[\"%s\"]", pending), RPC_ERR_DEFAULT, "filter not found");
    free(blocks);
    free(logs);
    free(pending);
}
END_TEST

/* ---- Subscriptions, through a collecting connection ---- */

struct sink {
    struct rpc_conn base;
    char *messages[32];
    size_t count;
};

static void sink_push(struct rpc_conn *conn, const char *json, size_t len)
{
    struct sink *s = (struct sink *)conn;
    if (s->count < 32) s->messages[s->count++] = strndup(json, len);
}

static char *sink_call(struct sink *s, const char *text)
{
    struct rpc_client client = {.address = "127.0.0.1", .conn = &s->base};
    size_t len;
    char *r = rpc_handle_client(rpc, &client, text, strlen(text), &len);
    rpc_activate_subscriptions(rpc, &s->base);
    return r;
}

static char *subscription_id(char *response)
{
    cJSON *root;
    cJSON *r = result_of(response, &root);
    char *id = strdup(r->valuestring);
    cJSON_Delete(root);
    return id;
}

START_TEST(subscriptions)
{
    struct sink s = {.base = {.push = sink_push}};
    char *heads = subscription_id(sink_call(&s, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"eth_subscribe\",\"params\":[\"newHeads\"]}"));
    char text[512];
    snprintf(text, sizeof text,
             "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"eth_subscribe\",\"params\":[\"logs\",{\"address\":[\"%s\"],\"topics\":[\"%s\"]}]}",
             hex_of(testchain_logger, 20), hex_of(testchain_topic, 32));
    char *logs = subscription_id(sink_call(&s, text));
    char *pending = subscription_id(sink_call(&s, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"eth_subscribe\",\"params\":[\"newPendingTransactions\"]}"));
    ck_assert_uint_eq(s.base.subscriptions, 3);
    expect_error(sink_call(&s, "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"eth_subscribe\",\"params\":[\"syncingz\"]}"),
                 RPC_ERR_METHOD_NOT_FOUND, "no \"syncingz\" subscription in eth namespace");

    /* Block 2 holds one logger log: a header and a log. */
    rpc_notify_block(rpc, 2);
    ck_assert_uint_eq(s.count, 2);
    cJSON *m = cJSON_Parse(s.messages[0]);
    ck_assert_str_eq(str(m, "method"), "eth_subscription");
    cJSON *params = cJSON_GetObjectItem(m, "params");
    ck_assert_str_eq(str(params, "subscription"), heads);
    ck_assert_str_eq(str(cJSON_GetObjectItem(params, "result"), "number"), "0x2");
    cJSON_Delete(m);
    m = cJSON_Parse(s.messages[1]);
    params = cJSON_GetObjectItem(m, "params");
    ck_assert_str_eq(str(params, "subscription"), logs);
    ck_assert_str_eq(str(cJSON_GetObjectItem(params, "result"), "transactionHash"), hex_of(tx_logger9, 32));
    cJSON_Delete(m);
    /* A pending transaction. */
    struct tx_signed *t = testchain_tx(&tc, 2, tc.addresses[1], u256_from_u64(1), NULL, 0, 21000);
    rpc_publish_pending_tx(rpc, t);
    ck_assert_uint_eq(s.count, 3);
    ck_assert_ptr_nonnull(strstr(s.messages[2], pending));
    ck_assert_ptr_nonnull(strstr(s.messages[2], hex_of(t->hash, 32)));
    tx_free(t);
    /* Unsubscribed: no more. Unknown: an error. */
    snprintf(text, sizeof text, "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"eth_unsubscribe\",\"params\":[\"%s\"]}", heads);
    char *r = sink_call(&s, text);
    ck_assert_ptr_nonnull(strstr(r, "\"result\":true"));
    free(r);
    expect_error(sink_call(&s, text), RPC_ERR_DEFAULT, "subscription not found");
    rpc_notify_block(rpc, 3); /* no logs, and nobody wants heads now */
    ck_assert_uint_eq(s.count, 3);
    /* The node publishes; the notifier thread delivers, in order. */
    rpc_drop_connection(rpc, &s.base);
    ck_assert_uint_eq(s.base.subscriptions, 0);
    for (size_t i = 0; i < s.count; i++) free(s.messages[i]);
    free(heads);
    free(logs);
    free(pending);
}
END_TEST

START_TEST(subscription_caps_and_activation)
{
    teardown();
    struct rpc_limits l = {.subscriptions_per_connection = 1};
    build_chain(&l, 0);
    struct sink s = {.base = {.push = sink_push}};
    struct rpc_client client = {.address = "127.0.0.1", .conn = &s.base};
    size_t len;
    const char *sub = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"eth_subscribe\",\"params\":[\"newHeads\"]}";
    char *r = rpc_handle_client(rpc, &client, sub, strlen(sub), &len);
    free(subscription_id(r));
    /* Not yet activated (its id is not out yet): no notification. */
    rpc_notify_block(rpc, 1);
    ck_assert_uint_eq(s.count, 0);
    rpc_activate_subscriptions(rpc, &s.base);
    rpc_notify_block(rpc, 1);
    ck_assert_uint_eq(s.count, 1);
    expect_error(rpc_handle_client(rpc, &client, sub, strlen(sub), &len), RPC_ERR_LIMIT, "the limit per connection is 1");
    /* rpc_publish_block hands the work to the notifier thread. */
    rpc_publish_block(rpc, 3);
    for (int i = 0; i < 500 && s.count < 2; i++) usleep(10000);
    usleep(50000); /* nothing more may come */
    /* The first publish starts at the number published: 3 only. */
    ck_assert_uint_eq(s.count, 2);
    ck_assert_ptr_nonnull(strstr(s.messages[1], "\"number\":\"0x3\""));
    rpc_drop_connection(rpc, &s.base);
    for (size_t i = 0; i < s.count; i++) free(s.messages[i]);
}
END_TEST

int main(void)
{
    if (secp_init(NULL) != 0) return 1;
    Suite *s = suite_create("rpc_server");
    TCase *tc_json = tcase_create("json");
    tcase_add_test(tc_json, json_tokens);
    suite_add_tcase(s, tc_json);
    TCase *tc_envelope = tcase_create("envelope");
    tcase_add_checked_fixture(tc_envelope, setup, teardown);
    tcase_add_test(tc_envelope, envelope_errors);
    tcase_add_test(tc_envelope, ids_and_notifications);
    tcase_add_test(tc_envelope, batches);
    tcase_add_test(tc_envelope, limits_name_themselves);
    tcase_add_test(tc_envelope, invalid_params_name_the_argument);
    suite_add_tcase(s, tc_envelope);
    TCase *tc_methods = tcase_create("methods");
    tcase_add_checked_fixture(tc_methods, setup, teardown);
    tcase_set_timeout(tc_methods, 120);
    tcase_add_test(tc_methods, node_methods);
    tcase_add_test(tc_methods, state_reads_at_blocks);
    tcase_add_test(tc_methods, missing_and_future_blocks);
    tcase_add_test(tc_methods, pruned_state_says_so);
    tcase_add_test(tc_methods, block_fields);
    tcase_add_test(tc_methods, transactions_and_receipts);
    tcase_add_test(tc_methods, send_raw_errors);
    tcase_add_test(tc_methods, calls_and_reverts);
    tcase_add_test(tc_methods, state_overrides);
    tcase_add_test(tc_methods, estimate_gas);
    tcase_add_test(tc_methods, access_lists);
    tcase_add_test(tc_methods, log_queries);
    tcase_add_test(tc_methods, fee_history);
    tcase_add_test(tc_methods, filters);
    tcase_add_test(tc_methods, subscriptions);
    tcase_add_test(tc_methods, subscription_caps_and_activation);
    suite_add_tcase(s, tc_methods);
    return testutil_run_suite(s, false);
}
