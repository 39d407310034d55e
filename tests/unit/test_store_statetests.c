/*
 * test_store_statetests.c - Ethereum's state tests through the chain's disk path: each
 * case's pre-state is written into an LMDB store as a genesis, the transaction runs on a
 * state that loads from the store (the executor's backend), its changes are written back
 * with their history, and the store's incremental trie must give the fixture's state root.
 * This checks the state's backend and change list, the store and the trie against roots
 * computed by other clients, case by case (the in-memory path is cohort-statetest's).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/hex.h"
#include "common/secp.h"
#include "subnode/chain/chain.h"
#include "subnode/statetest/statetest.h"
#include "subnode/store/store.h"
#include "testutil.h"

struct run {
    struct store *store;
    size_t passed, failed, files;
    char first_failure[1024];
};

static int run_case(void *arg, const struct statetest_case *c)
{
    struct run *r = arg;
    struct cohort_error err = {0};
    struct store_txn *t;
    ck_assert_int_eq(store_write_begin(r->store, &t, &err), 0);
    struct state *pre = state_new(), *work = state_new();
    ck_assert_ptr_nonnull(pre);
    ck_assert_ptr_nonnull(work);
    uint8_t root[32];
    char got[67] = "";
    bool ok = false;
    if (statetest_case_load_pre(c, pre, &err) != 0 || store_txn_apply_state(t, pre, 0, root, &err) != 0) {
        snprintf(r->first_failure, sizeof r->first_failure, "%s %s: pre-state: %s", c->path, c->test_name, err.message);
        goto done;
    }
    struct state_backend be;
    store_txn_backend(t, &be);
    state_set_backend(work, &be);
    struct chain_tx_result result;
    int rc = chain_apply_tx(work, &c->block, &c->tx, &result, &err);
    if (rc == CHAIN_E_INTERNAL || state_backend_error(work) != NULL) {
        snprintf(r->first_failure, sizeof r->first_failure, "%s %s: %s", c->path, c->test_name,
                 state_backend_error(work) ? state_backend_error(work)->message : err.message);
        goto done;
    }
    if (store_txn_apply_state(t, work, 1, root, &err) != 0) {
        snprintf(r->first_failure, sizeof r->first_failure, "%s %s: write: %s", c->path, c->test_name, err.message);
        goto done;
    }
    hex_encode(root, 32, got, sizeof got);
    ok = c->expected_hash != NULL && strcasecmp(c->expected_hash, got) == 0;
    if (!ok && r->first_failure[0] == '\0')
        snprintf(r->first_failure, sizeof r->first_failure, "%s %s d=%zu g=%zu v=%zu: root %s, want %s", c->path,
                 c->test_name, c->data_index, c->gas_index, c->value_index, got,
                 c->expected_hash ? c->expected_hash : "(none)");
done:
    if (ok) r->passed++;
    else r->failed++;
    store_write_abort(t);
    state_free(pre);
    state_free(work);
    return 0;
}

static void run_file(const char *path, void *arg)
{
    struct run *r = arg;
    /* stTimeConsuming's cases run the VM for minutes each (CALLBlake2f_MaxRounds) and
       touch a handful of accounts: cohort-statetest runs them; they add nothing here. */
    if (strstr(path, "/stTimeConsuming/") != NULL) return;
    struct cohort_error err = {0};
    r->files++;
    if (statetest_for_each_case(path, "Cancun", run_case, r, &err) < 0) {
        r->failed++;
        if (r->first_failure[0] == '\0')
            snprintf(r->first_failure, sizeof r->first_failure, "%s: %s", path, err.message);
    }
}

START_TEST(every_state_test_root_through_the_store)
{
    struct cohort_error err = {0};
    ck_assert_int_eq(secp_init(&err), 0);
    char dir[] = "/tmp/cohort-test-store-st-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    struct run r = {0};
    struct store_options o = {.dir = dir, .map_bytes = 1ull << 30};
    ck_assert_int_eq(store_open(&o, &r.store, &err), 0);
    char tests[1024];
    snprintf(tests, sizeof tests, "%s/ethereum-tests/GeneralStateTests", testutil_fixtures_dir());
    size_t files = testutil_walk(tests, ".json", run_file, &r);
    store_close(r.store);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
    printf("state tests through the store: %zu files, %zu passed, %zu failed\n", files, r.passed, r.failed);
    /* The fixtures are there and hold the Cancun cases: 18,445 when last counted, 5,190 of
       them in stTimeConsuming, and one whose transaction cannot be encoded. */
    ck_assert_uint_gt(files, 1000);
    ck_assert_uint_ge(r.passed, 13254);
    ck_assert_msg(r.failed == 0, "%zu failed; the first: %s", r.failed, r.first_failure);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("store_statetests");
    TCase *tc = tcase_create("all");
    tcase_set_timeout(tc, 900);
    tcase_add_test(tc, every_state_test_root_through_the_store);
    suite_add_tcase(s, tc);
    return testutil_run_suite(s, false);
}
