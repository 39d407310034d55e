/*
 * fuzz_jsonrpc.c - libFuzzer target for the JSON-RPC server's decoding of request bodies:
 * the JSON tokenizer, the envelope, batches, every method's parameters (addresses,
 * quantities, block parameters, transaction arguments, overrides, log criteria), through
 * the dispatcher, against a small chain in the real store (rpc_testchain.h: three blocks
 * with logs, a creation, a legacy transfer). eth_sendRawTransaction's bytes go through
 * the transaction decoder and sender recovery.
 *
 * For any input: the dispatcher never crashes, and whatever it answers is one valid JSON
 * text (checked with the server's own strict tokenizer) that is an object or an array;
 * nothing is answered only when the input was valid JSON. Any breach aborts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/secp.h"
#include "rpc_testchain.h"
#include "subnode/rpc/rpc_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct testchain chain;
static struct rpc *rpc;

static int refuse_tx(void *ctx, const uint8_t *raw, size_t len, uint8_t hash[32], struct cohort_error *err)
{
    (void)ctx;
    (void)hash;
    struct tx_signed *t = NULL;
    if (tx_decode(raw, len, 0, &t, err) == 0 && tx_recover_sender(t, err) == 0)
        cohort_error_set(err, -1, "fuzz", "the fuzz chain's pool takes nothing");
    tx_free(t);
    return -1;
}

static void cleanup(void)
{
    rpc_free(rpc);
    testchain_close(&chain); /* removes the chain's temporary folder */
}

static void setup(void)
{
    if (secp_init(NULL) != 0 || testchain_open(&chain, 0) != 0) abort();
    atexit(cleanup);
    uint8_t word[32] = {0};
    word[31] = 7;
    struct tx_signed *b1[2] = {
        testchain_tx(&chain, 0, testchain_logger, u256_zero(), word, 32, 100000),
        testchain_legacy_tx(&chain, 1, chain.addresses[2], u256_from_u64(5), 21000, u256_from_u64(3000000000ull)),
    };
    if (b1[0] == NULL || b1[1] == NULL || testchain_block(&chain, b1, 2) != 0) abort();
    static const uint8_t init[] = {0x60, 0x0a, 0x60, 0x0c, 0x60, 0x00, 0x39, 0x60, 0x0a, 0x60, 0x00, 0xf3,
                                   0x60, 0x2a, 0x60, 0x00, 0x52, 0x60, 0x20, 0x60, 0x00, 0xf3};
    struct tx_signed *b2 = testchain_tx(&chain, 0, NULL, u256_zero(), init, sizeof init, 200000);
    if (b2 == NULL || testchain_block(&chain, &b2, 1) != 0) abort();
    struct tx_signed *b3 = testchain_tx(&chain, 3, chain.addresses[1], u256_from_u64(1), NULL, 0, 21000);
    if (b3 == NULL || testchain_block(&chain, &b3, 1) != 0) abort();
    struct rpc_chain c = {.store = chain.store,
                          .chain_id = TESTCHAIN_CHAIN_ID,
                          .block_gas_limit = TESTCHAIN_GAS_LIMIT,
                          .revision = EVM_CANCUN,
                          .send_raw_transaction = refuse_tx};
    /* A small gas cap keeps each eth_call / eth_estimateGas input quick. */
    struct rpc_limits l = {.gas_cap = 1000000, .logs_block_range = 100, .filters_total = 64};
    struct cohort_error err = {0};
    if (rpc_new(&c, &l, &rpc, &err) != 0) abort();
}

static void fail(const char *what, const uint8_t *data, size_t size, const char *response)
{
    fprintf(stderr, "fuzz_jsonrpc: %s\ninput: %.*s\nresponse: %s\n", what, (int)(size > 2000 ? 2000 : size),
            (const char *)data, response ? response : "(none)");
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (rpc == NULL) setup();
    size_t len = 0;
    char *response = rpc_handle(rpc, "127.0.0.1", (const char *)data, size, &len);
    struct rpc_json j;
    struct cohort_error err = {0};
    if (response == NULL) {
        /* Only notifications go unanswered: the input must have been valid JSON. */
        if (rpc_json_parse(&j, (const char *)data, size, RPC_JSON_DEPTH_MAX, 1u << 20, &err) != 0)
            fail("no response to invalid JSON", data, size, NULL);
        rpc_json_free(&j);
        return 0;
    }
    if (strlen(response) != len) fail("the response holds a NUL", data, size, response);
    if (rpc_json_parse(&j, response, len, RPC_JSON_DEPTH_MAX, 1u << 24, &err) != 0) fail(err.message, data, size, response);
    uint8_t type = j.tokens[0].type;
    if (type != RPC_JSON_OBJECT && type != RPC_JSON_ARRAY) fail("the response is not an object or array", data, size, response);
    uint32_t first = type == RPC_JSON_ARRAY ? 1 : 0;
    if (type == RPC_JSON_ARRAY && j.tokens[0].count == 0) fail("an empty response array", data, size, response);
    if (j.tokens[first].type != RPC_JSON_OBJECT || rpc_json_get(&j, first, "jsonrpc") < 0 || rpc_json_get(&j, first, "id") < 0)
        fail("a response without jsonrpc and id", data, size, response);
    bool has_result = rpc_json_get(&j, first, "result") >= 0, has_error = rpc_json_get(&j, first, "error") >= 0;
    if (has_result == has_error) fail("a response with both or neither of result and error", data, size, response);
    rpc_json_free(&j);
    free(response);
    return 0;
}
