/*
 * test_tx_anvil.c - sending transactions to a real anvil: a plain send is mined and its
 * receipt read; a transaction stuck in the pool (anvil with mining off) is replaced with
 * the same nonce and higher fees, and the replacement is the one mined; a sender without
 * funds is refused before anything is sent.
 */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/hex.h"
#include "common/secp.h"
#include "manager-client/manager_client.h"
#include "testutil.h"

static char url[64];
static int anvil_pid;
static uint8_t dev0[32];

static struct mc_rpc *open_rpc(void)
{
    struct mc_rpc *rpc;
    struct mc_rpc_options o = {.url = url};
    ck_assert_int_eq(mc_rpc_open(&rpc, &o, NULL), 0);
    return rpc;
}

static void *mine_later(void *arg)
{
    (void)arg;
    usleep(1800000);
    struct mc_rpc *rpc = open_rpc();
    cJSON *params = cJSON_CreateArray(), *result = NULL;
    mc_rpc_call(rpc, "evm_mine", params, &result, NULL);
    cJSON_Delete(params);
    cJSON_Delete(result);
    mc_rpc_close(rpc);
    return NULL;
}

START_TEST(stuck_transaction_is_replaced)
{
    const char *args[] = {"--no-mining", NULL};
    anvil_pid = testutil_start_anvil(url, sizeof url, args);
    ck_assert_int_eq(hex_decode_exact("0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80", dev0, 32, NULL), 0);
    struct mc_rpc *rpc = open_rpc();
    uint8_t to[20] = {0x42};
    struct mc_tx tx = {.has_to = true, .value = u256_from_u64(12345)};
    memcpy(tx.to, to, 20);
    pthread_t miner;
    ck_assert_int_eq(pthread_create(&miner, NULL, mine_later, NULL), 0);
    struct mc_send_options o = {.receipt_timeout_ms = 600, .poll_ms = 50, .max_replacements = 5};
    struct mc_receipt receipt;
    struct cohort_error err = {0};
    ck_assert_msg(mc_send_transaction(rpc, dev0, 31337, &tx, &o, &receipt, &err) == 0, "%s", err.message);
    pthread_join(miner, NULL);
    /* The mined version is a replacement: its priority fee is above the first one's 1 gwei. */
    char hash[67];
    hex_encode(receipt.transaction_hash, 32, hash, sizeof hash);
    cJSON *params = cJSON_CreateArray(), *mined = NULL;
    cJSON_AddItemToArray(params, cJSON_CreateString(hash));
    ck_assert_int_eq(mc_rpc_call(rpc, "eth_getTransactionByHash", params, &mined, &err), 0);
    cJSON_Delete(params);
    u256 priority;
    ck_assert_int_eq(u256_from_hex(cJSON_GetObjectItem(mined, "maxPriorityFeePerGas")->valuestring, &priority, &err), 0);
    ck_assert(u256_gt(priority, u256_from_u64(1000000000)));
    cJSON_Delete(mined);
    /* Exactly one version was mined: the nonce moved by one, the value arrived once. */
    uint8_t from[20];
    ck_assert_int_eq(secp_address_from_secret(dev0, from, NULL), 0);
    uint64_t nonce;
    ck_assert_int_eq(mc_eth_get_transaction_count(rpc, from, MC_LATEST, &nonce, &err), 0);
    ck_assert_uint_eq(nonce, 1);
    u256 balance;
    ck_assert_int_eq(mc_eth_get_balance(rpc, to, MC_LATEST, &balance, &err), 0);
    ck_assert(u256_eq(balance, u256_from_u64(12345)));
    mc_receipt_free(&receipt);
    mc_rpc_close(rpc);
    testutil_stop_process(anvil_pid);
}
END_TEST

START_TEST(no_funds_refused_before_sending)
{
    anvil_pid = testutil_start_anvil(url, sizeof url, NULL);
    struct mc_rpc *rpc = open_rpc();
    uint8_t key[32], to[20] = {1};
    ck_assert_int_eq(secp_key_generate(key, NULL), 0);
    struct mc_tx tx = {.has_to = true, .value = u256_from_u64(1)};
    memcpy(tx.to, to, 20);
    struct mc_receipt receipt;
    struct cohort_error err = {0};
    int rc = mc_send_transaction(rpc, key, 31337, &tx, NULL, &receipt, &err);
    ck_assert_msg(rc == MC_E_FUNDS || rc == MC_E_RPC, "%d %s", rc, err.message);
    ck_assert_msg(strstr(err.message, "fund") != NULL || strstr(err.message, "insufficient") != NULL, "%s", err.message);
    /* And the wrong chain id is named before anything is signed. */
    ck_assert_int_eq(mc_send_transaction(rpc, key, 1, &tx, NULL, &receipt, &err), MC_E_CHAIN);
    ck_assert_ptr_nonnull(strstr(err.message, "serves chain 31337"));
    mc_rpc_close(rpc);
    testutil_stop_process(anvil_pid);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tx-anvil");
    TCase *tc = tcase_create("tx");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, stuck_transaction_is_replaced);
    tcase_add_test(tc, no_funds_refused_before_sending);
    suite_add_tcase(s, tc);
    return testutil_run_suite(s, false);
}
