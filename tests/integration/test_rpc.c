/*
 * test_rpc.c - the JSON-RPC client against a real anvil, and against a test server that
 * answers with malformed, truncated, huge, slow and erroring responses.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/hex.h"
#include "manager-client/manager_client.h"
#include "testutil.h"

static char anvil_url[64];
static int anvil_pid;

/* anvil's first dev account. */
static const char *dev0 = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";

static struct mc_rpc *open_rpc(const char *url, long timeout_ms, unsigned retries)
{
    struct mc_rpc *rpc = NULL;
    struct cohort_error err = {0};
    struct mc_rpc_options o = {.url = url, .request_timeout_ms = timeout_ms, .connect_timeout_ms = 1000,
                               .max_retries = retries, .retry_base_ms = 20, .max_response_bytes = 1 << 20};
    ck_assert_msg(mc_rpc_open(&rpc, &o, &err) == 0, "%s", err.message);
    return rpc;
}

static void start_anvil(void) { anvil_pid = testutil_start_anvil(anvil_url, sizeof anvil_url, NULL); }
static void stop_anvil(void) { testutil_stop_process(anvil_pid); }

START_TEST(anvil_basics)
{
    struct mc_rpc *rpc = open_rpc(anvil_url, 5000, 2);
    struct cohort_error err = {0};
    uint64_t v;
    ck_assert_msg(mc_eth_chain_id(rpc, &v, &err) == 0, "%s", err.message);
    ck_assert_uint_eq(v, 31337);
    ck_assert_int_eq(mc_eth_block_number(rpc, &v, &err), 0);
    ck_assert_uint_eq(v, 0);

    uint8_t addr[20];
    ck_assert_int_eq(hex_decode_exact(dev0, addr, 20, &err), 0);
    u256 balance, expected;
    ck_assert_int_eq(mc_eth_get_balance(rpc, addr, MC_LATEST, &balance, &err), 0);
    ck_assert_int_eq(u256_from_dec("10000000000000000000000", &expected, &err), 0);
    ck_assert(u256_eq(balance, expected));
    ck_assert_int_eq(mc_eth_get_transaction_count(rpc, addr, MC_PENDING, &v, &err), 0);
    ck_assert_uint_eq(v, 0);

    struct mc_block block;
    ck_assert_msg(mc_eth_get_block_by_number(rpc, MC_BLOCK(0), &block, &err) == 0, "%s", err.message);
    ck_assert_uint_eq(block.number, 0);
    ck_assert(block.has_base_fee);
    ck_assert_int_eq(mc_eth_get_block_by_number(rpc, MC_BLOCK(1000), &block, &err), MC_E_NOT_FOUND);

    u256 price, next_base, reward;
    ck_assert_int_eq(mc_eth_gas_price(rpc, &price, &err), 0);
    ck_assert(!u256_is_zero(price));
    ck_assert_msg(mc_eth_fee_history(rpc, 1, MC_LATEST, 50.0, &next_base, &reward, &err) == 0, "%s", err.message);
    ck_assert(!u256_is_zero(next_base));

    /* A plain transfer costs exactly 21000 gas. */
    uint8_t to[20] = {0x11};
    struct mc_call transfer = {.from = addr, .to = to, .value = u256_from_u64(1)};
    ck_assert_msg(mc_eth_estimate_gas(rpc, &transfer, &v, &err) == 0, "%s", err.message);
    ck_assert_uint_eq(v, 21000);

    uint8_t hash[32] = {1};
    struct mc_receipt receipt;
    ck_assert_int_eq(mc_eth_get_transaction_receipt(rpc, hash, &receipt, &err), MC_E_NOT_FOUND);

    struct mc_log_list logs;
    struct mc_log_filter filter = {.from_block = 0, .to_block = 0};
    ck_assert_msg(mc_eth_get_logs(rpc, &filter, &logs, &err) == 0, "%s", err.message);
    ck_assert_uint_eq(logs.count, 0);
    mc_log_list_free(&logs);

    /* A raw transaction that is not RLP: the node's error, with its code, reaches us. */
    uint8_t junk[3] = {1, 2, 3};
    ck_assert_int_eq(mc_eth_send_raw_transaction(rpc, junk, sizeof junk, hash, &err), MC_E_RPC);
    ck_assert_int_ne(mc_rpc_last_error_code(rpc), 0);
    ck_assert_ptr_nonnull(strstr(err.message, "eth_sendRawTransaction"));
    mc_rpc_close(rpc);
}
END_TEST

START_TEST(anvil_revert_reason)
{
    /* Init code that reverts with Error("nope"): CODECOPY the 100-byte payload after the
       12 code bytes into memory, then REVERT(0, 100). */
    static const char *code = "0x6064600c600039606460" "00fd"
                              "08c379a0"
                              "0000000000000000000000000000000000000000000000000000000000000020"
                              "0000000000000000000000000000000000000000000000000000000000000004"
                              "6e6f706500000000000000000000000000000000000000000000000000000000";
    uint8_t data[256];
    size_t len;
    struct cohort_error err = {0};
    ck_assert_int_eq(hex_decode(code, data, sizeof data, &len, &err), 0);
    struct mc_rpc *rpc = open_rpc(anvil_url, 5000, 0);
    uint8_t *out = NULL;
    size_t out_len;
    struct mc_call c = {.data = data, .data_len = len};
    ck_assert_int_eq(mc_eth_call(rpc, &c, MC_LATEST, &out, &out_len, &err), MC_E_REVERTED);
    ck_assert_msg(strstr(err.message, "execution reverted: nope") != NULL, "%s", err.message);
    uint64_t gas;
    ck_assert_int_eq(mc_eth_estimate_gas(rpc, &c, &gas, &err), MC_E_REVERTED);
    ck_assert_msg(strstr(err.message, "nope") != NULL, "%s", err.message);
    mc_rpc_close(rpc);
}
END_TEST

static const char *ok_header = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n";

static char *response_with(const char *header, const char *body)
{
    static char buf[8192];
    snprintf(buf, sizeof buf, "%sContent-Length: %zu\r\n\r\n%s", header, strlen(body), body);
    return buf;
}

START_TEST(bad_servers)
{
    struct cohort_error err = {0};
    uint64_t v;
    struct testutil_http_server *s = testutil_http_start(response_with(ok_header, "not json{"), 0, 0);
    struct mc_rpc *rpc = open_rpc(testutil_http_url(s), 500, 2);

    ck_assert_int_eq(mc_eth_chain_id(rpc, &v, &err), MC_E_MALFORMED);
    ck_assert_ptr_nonnull(strstr(err.message, "not JSON"));
    ck_assert_ptr_nonnull(strstr(testutil_http_last_request(s), "\"method\":\"eth_chainId\""));

    testutil_http_set(s, response_with(ok_header, "[1,2]"), 0, 0);
    ck_assert_int_eq(mc_eth_chain_id(rpc, &v, &err), MC_E_MALFORMED);
    ck_assert_ptr_nonnull(strstr(err.message, "not a JSON-RPC 2.0 response"));

    testutil_http_set(s, response_with(ok_header, "{\"jsonrpc\":\"2.0\",\"id\":999,\"result\":\"0x1\"}"), 0, 0);
    ck_assert_int_eq(mc_eth_chain_id(rpc, &v, &err), MC_E_MALFORMED);
    ck_assert_ptr_nonnull(strstr(err.message, "id does not match"));

    /* The id of the next request is known: requests so far used ids 1..3. */
    testutil_http_set(s, response_with(ok_header, "{\"jsonrpc\":\"2.0\",\"id\":4,\"result\":12}"), 0, 0);
    ck_assert_int_eq(mc_eth_chain_id(rpc, &v, &err), MC_E_MALFORMED);
    ck_assert_ptr_nonnull(strstr(err.message, "not a hex string"));

    testutil_http_set(s, response_with(ok_header, "{\"jsonrpc\":\"2.0\",\"id\":5,\"result\":\"0x01\"}"), 0, 0);
    ck_assert_int_eq(mc_eth_chain_id(rpc, &v, &err), MC_E_MALFORMED);
    ck_assert_ptr_nonnull(strstr(err.message, "leading zero"));

    testutil_http_set(s, response_with(ok_header, "{\"jsonrpc\":\"2.0\",\"id\":6,\"error\":{\"code\":-32601,"
                                                  "\"message\":\"method not found\"}}"), 0, 0);
    ck_assert_int_eq(mc_eth_chain_id(rpc, &v, &err), MC_E_RPC);
    ck_assert_int_eq(mc_rpc_last_error_code(rpc), -32601);
    ck_assert_ptr_nonnull(strstr(err.message, "method not found"));

    testutil_http_set(s, response_with(ok_header, "{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":\"0x7a69\"}"), 0, 0);
    ck_assert_int_eq(mc_eth_chain_id(rpc, &v, &err), 0);
    ck_assert_uint_eq(v, 31337);

    /* A body cut short of its Content-Length: retried, then reported. */
    testutil_http_set(s, "HTTP/1.1 200 OK\r\nContent-Length: 500\r\nConnection: close\r\n\r\n{\"jsonrpc\"", 0, 0);
    ck_assert_int_eq(mc_eth_chain_id(rpc, &v, &err), MC_E_UNAVAILABLE);
    ck_assert_int_eq(testutil_http_requests(s), 3);

    /* A huge body: stopped at the cap, not retried. */
    testutil_http_set(s, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", 0, 8u << 20);
    ck_assert_int_eq(mc_eth_chain_id(rpc, &v, &err), MC_E_TOO_LARGE);
    ck_assert_int_eq(testutil_http_requests(s), 1);

    /* Server errors: 503 is transient (retried), 500 is not. */
    testutil_http_set(s, "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\nConnection: close\r\n\r\nbusy", 0, 0);
    ck_assert_int_eq(mc_eth_chain_id(rpc, &v, &err), MC_E_HTTP);
    ck_assert_int_eq(testutil_http_requests(s), 3);
    ck_assert_ptr_nonnull(strstr(err.message, "HTTP 503: busy"));
    testutil_http_set(s, "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", 0, 0);
    ck_assert_int_eq(mc_eth_chain_id(rpc, &v, &err), MC_E_HTTP);
    ck_assert_int_eq(testutil_http_requests(s), 1);

    /* A slow server: the request timeout fires, retries with backoff, then gives up. */
    testutil_http_set(s, response_with(ok_header, "{}"), 2000, 0);
    time_t start = time(NULL);
    ck_assert_int_eq(mc_eth_chain_id(rpc, &v, &err), MC_E_UNAVAILABLE);
    ck_assert_ptr_nonnull(strstr(err.message, "after 3 attempts"));
    ck_assert_int_le(time(NULL) - start, 5);
    mc_rpc_close(rpc);
    testutil_http_stop(s);

    /* Nobody listening: connection refused, with a hint. */
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", testutil_free_port());
    rpc = open_rpc(url, 500, 1);
    ck_assert_int_eq(mc_eth_chain_id(rpc, &v, &err), MC_E_UNAVAILABLE);
    ck_assert_ptr_nonnull(strstr(err.message, "is the node running"));
    mc_rpc_close(rpc);

    struct mc_rpc_options o = {.url = "ftp://x"};
    ck_assert_int_eq(mc_rpc_open(&rpc, &o, &err), MC_E_INVALID);
}
END_TEST

START_TEST(get_logs_splits_refused_ranges)
{
    /* A server that refuses every range as too large: the client halves [0, 7] down to a
       single block before it gives up, and says which blocks. */
    struct testutil_http_server *s = testutil_http_start(
        response_with(ok_header, "{\"jsonrpc\":\"2.0\",\"id\":@ID@,\"error\":{\"code\":-32005,"
                                 "\"message\":\"query returned more than 10000 results\"}}"),
        0, 0);
    struct mc_rpc *rpc = open_rpc(testutil_http_url(s), 2000, 0);
    struct mc_log_list logs;
    struct mc_log_filter f = {.from_block = 0, .to_block = 7};
    struct cohort_error err = {0};
    int rc = mc_eth_get_logs(rpc, &f, &logs, &err);
    ck_assert_int_eq(rc, MC_E_RPC);
    /* [0, 7], [0, 3], [0, 1], [0, 0]: a single block cannot be split, so that refusal stands. */
    ck_assert_int_eq(testutil_http_requests(s), 4);
    ck_assert_msg(strstr(err.message, "blocks 0..0") != NULL, "%s", err.message);
    ck_assert_ptr_nonnull(strstr(testutil_http_last_request(s), "\"toBlock\":\"0x0\""));
    mc_rpc_close(rpc);
    testutil_http_stop(s);
}
END_TEST

START_TEST(revert_decoding)
{
    char out[128];
    mc_decode_revert(NULL, 0, out, sizeof out);
    ck_assert_str_eq(out, "no reason given");
    uint8_t panic[36] = {0x4e, 0x48, 0x7b, 0x71};
    panic[35] = 0x11;
    mc_decode_revert(panic, sizeof panic, out, sizeof out);
    ck_assert_str_eq(out, "panic 0x11 (arithmetic overflow)");
    uint8_t custom[8] = {0xde, 0xad, 0xbe, 0xef};
    mc_decode_revert(custom, sizeof custom, out, sizeof out);
    ck_assert_str_eq(out, "custom error 0xdeadbeef (8 bytes of data)");
    /* Error(string) whose length runs past the data: refused, not read. */
    uint8_t bad[4 + 64] = {0x08, 0xc3, 0x79, 0xa0};
    bad[4 + 31] = 0x20;
    bad[4 + 63] = 0xff;
    mc_decode_revert(bad, sizeof bad, out, sizeof out);
    ck_assert_str_eq(out, "malformed Error(string) revert data");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("rpc");
    TCase *tc = tcase_create("anvil");
    tcase_add_unchecked_fixture(tc, start_anvil, stop_anvil);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, anvil_basics);
    tcase_add_test(tc, anvil_revert_reason);
    suite_add_tcase(s, tc);
    TCase *bad = tcase_create("bad servers");
    tcase_set_timeout(bad, 60);
    tcase_add_test(bad, bad_servers);
    tcase_add_test(bad, revert_decoding);
    tcase_add_test(bad, get_logs_splits_refused_ranges);
    suite_add_tcase(s, bad);
    return testutil_run_suite(s, true);
}
