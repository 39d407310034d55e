/* test_state.c - the in-memory world state: journal, end-of-transaction rules, roots. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hex.h"
#include "common/keccak.h"
#include "common/u256.h"
#include "subnode/state/state.h"
#include "testutil.h"

static const uint8_t A[20] = {0xaa, 1};
static const uint8_t B[20] = {0xbb, 2};
static const uint8_t C[20] = {0xcc, 3};

/* Fixture quantities may carry leading zeros ("0x01"); u256_from_hex refuses them. */
static u256 fixture_u256(const char *text)
{
    ck_assert(text[0] == '0' && text[1] == 'x');
    const char *p = text + 2;
    while (*p == '0' && p[1] != '\0') p++;
    char buf[80];
    snprintf(buf, sizeof buf, "0x%s", *p ? p : "0");
    u256 v;
    struct cohort_error err;
    ck_assert_msg(u256_from_hex(buf, &v, &err) == 0, "%s: %s", text, err.message);
    return v;
}

START_TEST(revert_restores_everything)
{
    struct state *st = state_new();
    struct cohort_error err;
    ck_assert_int_eq(state_put_account(st, A, 5, u256_from_u64(1000), (const uint8_t *)"\x60\x00", 2, &err), 0);
    ck_assert_int_eq(state_put_storage(st, A, u256_from_u64(1), u256_from_u64(11), &err), 0);
    state_tx_begin(st);
    size_t snap = state_snapshot(st);
    ck_assert_int_eq(state_set_nonce(st, A, 6, &err), 0);
    ck_assert_int_eq(state_sub_balance(st, A, u256_from_u64(300), &err), 0);
    ck_assert_int_eq(state_add_balance(st, B, u256_from_u64(300), &err), 0);
    ck_assert_int_eq(state_set_storage(st, A, u256_from_u64(1), u256_from_u64(22), &err), 0);
    ck_assert_int_eq(state_set_transient(st, A, u256_from_u64(1), u256_from_u64(33), &err), 0);
    ck_assert_int_eq(state_set_code(st, C, (const uint8_t *)"\x01\x02\x03", 3, &err), 0);
    bool was = true;
    ck_assert_int_eq(state_warm_account(st, C, &was, &err), 0);
    ck_assert(!was);
    ck_assert_int_eq(state_warm_slot(st, A, u256_from_u64(9), &was, &err), 0);
    ck_assert(!was);
    uint8_t topic[32] = {7};
    ck_assert_int_eq(state_add_log(st, A, topic, 1, (const uint8_t *)"hi", 2, &err), 0);
    /* The changes are visible... */
    ck_assert_uint_eq(state_nonce(st, A), 6);
    ck_assert(u256_eq(state_balance(st, B), u256_from_u64(300)));
    ck_assert(u256_eq(state_storage(st, A, u256_from_u64(1)), u256_from_u64(22)));
    ck_assert(u256_eq(state_storage_original(st, A, u256_from_u64(1)), u256_from_u64(11)));
    ck_assert(u256_eq(state_transient(st, A, u256_from_u64(1)), u256_from_u64(33)));
    ck_assert(state_is_warm(st, C));
    size_t nlogs;
    state_logs(st, &nlogs);
    ck_assert_uint_eq(nlogs, 1);
    /* ...and all of them go away on revert. */
    state_revert(st, snap);
    ck_assert_uint_eq(state_nonce(st, A), 5);
    ck_assert(u256_eq(state_balance(st, A), u256_from_u64(1000)));
    ck_assert(u256_is_zero(state_balance(st, B)));
    ck_assert(u256_eq(state_storage(st, A, u256_from_u64(1)), u256_from_u64(11)));
    ck_assert(u256_is_zero(state_transient(st, A, u256_from_u64(1))));
    size_t code_len = 99;
    state_code(st, C, &code_len);
    ck_assert_uint_eq(code_len, 0);
    ck_assert(!state_is_warm(st, C));
    ck_assert_int_eq(state_warm_slot(st, A, u256_from_u64(9), &was, &err), 0);
    ck_assert(!was);
    state_logs(st, &nlogs);
    ck_assert_uint_eq(nlogs, 0);
    state_tx_end(st);
    state_free(st);
}
END_TEST

START_TEST(nested_snapshots)
{
    struct state *st = state_new();
    struct cohort_error err;
    ck_assert_int_eq(state_put_account(st, A, 0, u256_from_u64(10), NULL, 0, &err), 0);
    state_tx_begin(st);
    ck_assert_int_eq(state_add_balance(st, A, u256_from_u64(1), &err), 0);
    size_t outer = state_snapshot(st);
    ck_assert_int_eq(state_add_balance(st, A, u256_from_u64(10), &err), 0);
    size_t inner = state_snapshot(st);
    ck_assert_int_eq(state_add_balance(st, A, u256_from_u64(100), &err), 0);
    state_revert(st, inner);
    ck_assert(u256_eq(state_balance(st, A), u256_from_u64(21)));
    state_revert(st, outer);
    ck_assert(u256_eq(state_balance(st, A), u256_from_u64(11)));
    state_tx_end(st);
    ck_assert(u256_eq(state_balance(st, A), u256_from_u64(11)));
    state_free(st);
}
END_TEST

START_TEST(end_of_transaction_rules)
{
    struct state *st = state_new();
    struct cohort_error err;
    ck_assert_int_eq(state_put_account(st, A, 1, u256_from_u64(10), NULL, 0, &err), 0);
    ck_assert_int_eq(state_put_account(st, B, 0, u256_zero(), NULL, 0, &err), 0); /* empty, untouched */
    ck_assert_int_eq(state_put_account(st, C, 0, u256_zero(), NULL, 0, &err), 0); /* empty, touched below */
    state_tx_begin(st);
    uint8_t D[20] = {0xdd}, E[20] = {0xee}, F[20] = {0xff};
    /* Touching an empty account or an absent one deletes it at the end (EIP-161). */
    ck_assert_int_eq(state_touch(st, C, &err), 0);
    ck_assert_int_eq(state_touch(st, D, &err), 0);
    ck_assert(state_exists(st, D));
    /* Created and self-destructed in the same transaction: deleted with its storage. */
    ck_assert_int_eq(state_create_account(st, E, &err), 0);
    ck_assert_int_eq(state_set_nonce(st, E, 1, &err), 0);
    ck_assert_int_eq(state_set_storage(st, E, u256_from_u64(1), u256_from_u64(5), &err), 0);
    ck_assert_int_eq(state_mark_destructed(st, E, &err), 0);
    /* A self-destruct marked and then reverted leaves the account. */
    size_t snap = state_snapshot(st);
    ck_assert_int_eq(state_mark_destructed(st, A, &err), 0);
    state_revert(st, snap);
    /* Storage written here becomes the original after the transaction. */
    ck_assert_int_eq(state_create_account(st, F, &err), 0);
    ck_assert_int_eq(state_set_nonce(st, F, 1, &err), 0);
    ck_assert_int_eq(state_set_storage(st, F, u256_from_u64(2), u256_from_u64(7), &err), 0);
    ck_assert_int_eq(state_set_transient(st, F, u256_from_u64(2), u256_from_u64(8), &err), 0);
    ck_assert_int_eq(state_warm_account(st, F, NULL, &err), 0);
    ck_assert(state_created_in_tx(st, F));
    state_tx_end(st);

    ck_assert(state_exists(st, A));
    ck_assert(state_exists(st, B));
    ck_assert(!state_exists(st, C));
    ck_assert(!state_exists(st, D));
    ck_assert(!state_exists(st, E));
    ck_assert(u256_is_zero(state_storage(st, E, u256_from_u64(1))));
    ck_assert(state_exists(st, F));
    ck_assert(!state_created_in_tx(st, F));
    ck_assert(!state_is_warm(st, F));
    ck_assert(u256_eq(state_storage_original(st, F, u256_from_u64(2)), u256_from_u64(7)));
    ck_assert(u256_is_zero(state_transient(st, F, u256_from_u64(2))));
    state_free(st);
}
END_TEST

START_TEST(empty_logs_hash)
{
    struct state *st = state_new();
    uint8_t h[32], want[32];
    struct cohort_error err;
    ck_assert_int_eq(state_logs_hash(st, h, &err), 0);
    /* keccak256(RLP([])) = keccak256(0xc0), the well-known empty-list hash. */
    ck_assert_int_eq(hex_decode_exact("0x1dcc4de8dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347", want, 32, &err), 0);
    ck_assert_mem_eq(h, want, 32);
    state_free(st);
}
END_TEST

/* Loads a state test's pre section into st. */
static void load_pre(struct state *st, const cJSON *pre)
{
    const cJSON *acc;
    cJSON_ArrayForEach(acc, pre)
    {
        uint8_t address[20];
        struct cohort_error err;
        ck_assert_int_eq(hex_decode_exact(acc->string, address, 20, &err), 0);
        static uint8_t code[1 << 17];
        size_t code_len = 0;
        ck_assert_int_eq(hex_decode(cJSON_GetObjectItem(acc, "code")->valuestring, code, sizeof code, &code_len, &err), 0);
        u256 nonce = fixture_u256(cJSON_GetObjectItem(acc, "nonce")->valuestring);
        u256 balance = fixture_u256(cJSON_GetObjectItem(acc, "balance")->valuestring);
        ck_assert_int_eq(state_put_account(st, address, nonce.w[0], balance, code, code_len, &err), 0);
        const cJSON *slot;
        cJSON_ArrayForEach(slot, cJSON_GetObjectItem(acc, "storage"))
        {
            ck_assert_int_eq(state_put_storage(st, address, fixture_u256(slot->string), fixture_u256(slot->valuestring), &err), 0);
        }
    }
}

/*
 * A rejected transaction leaves the state as it was, so the post root of a case with
 * expectException is the root of the pre-state: that checks the account RLP and the
 * storage tries against roots that Ethereum clients computed.
 */
START_TEST(pre_state_roots_match_rejected_cases)
{
    static const char *files[] = {
        "stEIP1559/tipTooHigh.json",        "stEIP1559/lowFeeCap.json",
        "stEIP1559/outOfFunds.json",        "stTransactionTest/NoSrcAccount.json",
        "stTransactionTest/HighGasPriceParis.json", "stExample/invalidTr.json",
    };
    int checked = 0;
    for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/ethereum-tests/GeneralStateTests/%s", testutil_fixtures_dir(), files[f]);
        cJSON *doc = testutil_read_json(path);
        const cJSON *test;
        cJSON_ArrayForEach(test, doc)
        {
            struct state *st = state_new();
            load_pre(st, cJSON_GetObjectItem(test, "pre"));
            uint8_t root[32];
            char got[67];
            struct cohort_error err;
            ck_assert_int_eq(state_root(st, root, &err), 0);
            hex_encode(root, 32, got, sizeof got);
            const cJSON *post;
            cJSON_ArrayForEach(post, cJSON_GetObjectItem(cJSON_GetObjectItem(test, "post"), "Cancun"))
            {
                if (cJSON_GetObjectItem(post, "expectException") == NULL) continue;
                ck_assert_msg(strcmp(got, cJSON_GetObjectItem(post, "hash")->valuestring) == 0, "%s %s: %s vs %s",
                              files[f], test->string, got, cJSON_GetObjectItem(post, "hash")->valuestring);
                checked++;
            }
            state_free(st);
        }
        cJSON_Delete(doc);
    }
    ck_assert_int_ge(checked, 6);
}
END_TEST

static Suite *state_suite(void)
{
    Suite *s = suite_create("state");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, revert_restores_everything);
    tcase_add_test(tc, nested_snapshots);
    tcase_add_test(tc, end_of_transaction_rules);
    tcase_add_test(tc, empty_logs_hash);
    tcase_add_test(tc, pre_state_roots_match_rejected_cases);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return testutil_run_suite(state_suite(), false);
}
