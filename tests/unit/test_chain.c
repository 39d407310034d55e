/*
 * test_chain.c - transaction validation and fees. Expected values come from the EIPs' rules
 * worked by hand (EIP-1559 fee split, EIP-2028/2930/3860 intrinsic gas, EIP-4844's
 * MIN_BLOB_BASE_FEE); the full behaviour is checked against ethereum/tests by the
 * statetest_* ctest entries.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "common/u256.h"
#include "subnode/chain/chain.h"
#include "subnode/state/state.h"
#include "testutil.h"

static const uint8_t SENDER[20] = {0x5e, 0x4d};
static const uint8_t TO[20] = {0x70};
static const uint8_t COINBASE[20] = {0xc0, 0x1b};

static struct chain_block cancun_block(void)
{
    struct chain_block b;
    memset(&b, 0, sizeof b);
    b.revision = EVM_CANCUN;
    memcpy(b.coinbase, COINBASE, 20);
    b.number = 1;
    b.timestamp = 1000;
    b.gas_limit = 30000000;
    b.base_fee = u256_from_u64(7);
    b.chain_id = u256_from_u64(1);
    return b;
}

static struct chain_tx transfer_tx(void)
{
    struct chain_tx tx;
    memset(&tx, 0, sizeof tx);
    tx.type = 2;
    memcpy(tx.sender, SENDER, 20);
    tx.nonce = 3;
    tx.gas_limit = 50000;
    tx.max_fee_per_gas = u256_from_u64(20);
    tx.max_priority_fee_per_gas = u256_from_u64(2);
    tx.has_to = true;
    memcpy(tx.to, TO, 20);
    tx.value = u256_from_u64(1000);
    return tx;
}

static struct state *funded_state(uint64_t balance)
{
    struct state *st = state_new();
    ck_assert_ptr_nonnull(st);
    struct cohort_error err;
    ck_assert_int_eq(state_put_account(st, SENDER, 3, u256_from_u64(balance), NULL, 0, &err), 0);
    return st;
}

START_TEST(intrinsic_gas_by_the_rules)
{
    uint8_t data[5] = {0, 0, 1, 2, 0}; /* 3 zero bytes, 2 others */
    uint8_t keys[2 * 32] = {0};
    struct chain_access_entry access = {{0xaa}, keys, 2};
    struct chain_tx tx = transfer_tx();
    tx.data = data;
    tx.data_len = sizeof data;
    ck_assert_uint_eq(chain_intrinsic_gas(&tx, EVM_CANCUN), 21000 + 3 * 4 + 2 * 16);
    tx.access_list = &access;
    tx.access_list_len = 1;
    ck_assert_uint_eq(chain_intrinsic_gas(&tx, EVM_CANCUN), 21000 + 3 * 4 + 2 * 16 + 2400 + 2 * 1900);
    /* A creation: 53000, and from Shanghai 2 gas per 32-byte word of init code (EIP-3860). */
    static uint8_t initcode[33];
    tx.access_list_len = 0;
    tx.has_to = false;
    tx.data = initcode;
    tx.data_len = sizeof initcode;
    ck_assert_uint_eq(chain_intrinsic_gas(&tx, EVM_CANCUN), 53000 + 33 * 4 + 2 * 2);
    ck_assert_uint_eq(chain_intrinsic_gas(&tx, EVM_LONDON), 53000 + 33 * 4);
}
END_TEST

START_TEST(blob_base_fee_minimum)
{
    /* EIP-4844: with no excess blob gas the blob base fee is MIN_BLOB_BASE_FEE = 1. */
    ck_assert(u256_eq(chain_blob_base_fee(0), u256_from_u64(1)));
    /* It never falls with more excess. */
    u256 previous = chain_blob_base_fee(0);
    for (uint64_t excess = 131072; excess < 131072 * 200; excess += 131072 * 7) {
        u256 fee = chain_blob_base_fee(excess);
        ck_assert(!u256_lt(fee, previous));
        previous = fee;
    }
    ck_assert(u256_gt(previous, u256_from_u64(1)));
}
END_TEST

START_TEST(transfer_pays_fees_as_eip1559_says)
{
    struct state *st = funded_state(10000000);
    struct chain_block block = cancun_block();
    struct chain_tx tx = transfer_tx();
    struct chain_tx_result result;
    struct cohort_error err;
    ck_assert_int_eq(chain_apply_tx(st, &block, &tx, &result, &err), 0);
    ck_assert(result.success);
    ck_assert_uint_eq(result.gas_used, 21000);
    /* Effective price min(20, 7 + 2) = 9: the sender pays 21000 * 9 + value. */
    ck_assert(u256_eq(state_balance(st, SENDER), u256_from_u64(10000000 - 21000 * 9 - 1000)));
    ck_assert_uint_eq(state_nonce(st, SENDER), 4);
    ck_assert(u256_eq(state_balance(st, TO), u256_from_u64(1000)));
    /* The coinbase gets the priority fee only; the base fee (21000 * 7) burns. */
    ck_assert(u256_eq(state_balance(st, COINBASE), u256_from_u64(21000 * 2)));
    state_free(st);
}
END_TEST

START_TEST(rejections_leave_state_unchanged)
{
    struct chain_block block = cancun_block();
    struct state *st = funded_state(10000000);
    uint8_t before[32], after[32];
    struct cohort_error err;
    ck_assert_int_eq(state_root(st, before, &err), 0);
    struct chain_tx_result result;

    struct chain_tx tx = transfer_tx();
    tx.nonce = 4;
    ck_assert_int_eq(chain_apply_tx(st, &block, &tx, &result, &err), CHAIN_E_REJECTED);
    ck_assert_int_eq(result.reason, CHAIN_REJECT_NONCE_MISMATCH);

    tx = transfer_tx();
    tx.gas_limit = 20999;
    ck_assert_int_eq(chain_apply_tx(st, &block, &tx, &result, &err), CHAIN_E_REJECTED);
    ck_assert_int_eq(result.reason, CHAIN_REJECT_INTRINSIC_GAS);

    tx = transfer_tx();
    tx.max_fee_per_gas = u256_from_u64(6); /* below the base fee of 7 */
    tx.max_priority_fee_per_gas = u256_from_u64(1);
    ck_assert_int_eq(chain_apply_tx(st, &block, &tx, &result, &err), CHAIN_E_REJECTED);
    ck_assert_int_eq(result.reason, CHAIN_REJECT_FEE_BELOW_BASE_FEE);

    tx = transfer_tx();
    tx.max_priority_fee_per_gas = u256_from_u64(21);
    ck_assert_int_eq(chain_apply_tx(st, &block, &tx, &result, &err), CHAIN_E_REJECTED);
    ck_assert_int_eq(result.reason, CHAIN_REJECT_PRIORITY_OVER_MAX_FEE);

    tx = transfer_tx();
    tx.value = u256_from_u64(10000000); /* gas * max fee + value is over the balance */
    ck_assert_int_eq(chain_apply_tx(st, &block, &tx, &result, &err), CHAIN_E_REJECTED);
    ck_assert_int_eq(result.reason, CHAIN_REJECT_INSUFFICIENT_FUNDS);

    tx = transfer_tx();
    tx.gas_limit = block.gas_limit + 1;
    ck_assert_int_eq(chain_apply_tx(st, &block, &tx, &result, &err), CHAIN_E_REJECTED);
    ck_assert_int_eq(result.reason, CHAIN_REJECT_GAS_LIMIT_OVER_BLOCK);

    tx = transfer_tx();
    tx.type = 3; /* a blob transaction without blobs */
    tx.max_fee_per_blob_gas = u256_from_u64(1);
    ck_assert_int_eq(chain_apply_tx(st, &block, &tx, &result, &err), CHAIN_E_REJECTED);
    ck_assert_int_eq(result.reason, CHAIN_REJECT_BLOB_COUNT);

    uint8_t hashes[32] = {0x02}; /* version 2 is not KZG */
    tx.blob_hashes = hashes;
    tx.blob_count = 1;
    ck_assert_int_eq(chain_apply_tx(st, &block, &tx, &result, &err), CHAIN_E_REJECTED);
    ck_assert_int_eq(result.reason, CHAIN_REJECT_BLOB_VERSION);

    ck_assert_int_eq(state_root(st, after, &err), 0);
    ck_assert_mem_eq(before, after, 32);
    state_free(st);
}
END_TEST

START_TEST(sender_with_code_is_rejected)
{
    struct state *st = state_new();
    struct cohort_error err;
    ck_assert_int_eq(state_put_account(st, SENDER, 3, u256_from_u64(10000000), (const uint8_t *)"\x00", 1, &err), 0);
    struct chain_block block = cancun_block();
    struct chain_tx tx = transfer_tx();
    struct chain_tx_result result;
    ck_assert_int_eq(chain_apply_tx(st, &block, &tx, &result, &err), CHAIN_E_REJECTED);
    ck_assert_int_eq(result.reason, CHAIN_REJECT_SENDER_NOT_EOA);
    state_free(st);
}
END_TEST

static Suite *chain_suite(void)
{
    Suite *s = suite_create("chain");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, intrinsic_gas_by_the_rules);
    tcase_add_test(tc, blob_base_fee_minimum);
    tcase_add_test(tc, transfer_pays_fees_as_eip1559_says);
    tcase_add_test(tc, rejections_leave_state_unchanged);
    tcase_add_test(tc, sender_with_code_is_rejected);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return testutil_run_suite(chain_suite(), false);
}
