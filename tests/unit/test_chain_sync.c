/*
 * test_chain_sync.c - what eth_syncing says (cn_sync_figures, subnode/node/node_rpc.c):
 * false while the member is in step with the others, or does not know yet where they are;
 * geth's three figures while it is known to be far behind or installs the state, the
 * starting block kept for the whole sync.
 */
#include <check.h>
#include <stdint.h>

#include "subnode/node/node_internal.h"
#include "testutil.h"

START_TEST(syncing_while_far_behind_or_installing)
{
    uint64_t since = UINT64_MAX, f[3] = {0};
    /* In step, a little behind, or not knowing yet: not syncing. */
    ck_assert(!cn_sync_figures(100, true, 0, false, 0, &since, f));
    ck_assert(!cn_sync_figures(100, true, CN_SYNC_BEHIND_MAX, false, 0, &since, f));
    ck_assert(!cn_sync_figures(100, false, 5000, false, 0, &since, f));
    ck_assert_uint_eq(since, UINT64_MAX);
    /* Far behind: from the head it had when it learned it, toward head + behind. */
    ck_assert(cn_sync_figures(100, true, 500, false, 0, &since, f));
    ck_assert_uint_eq(f[0], 100);
    ck_assert_uint_eq(f[1], 100);
    ck_assert_uint_eq(f[2], 600);
    ck_assert(cn_sync_figures(350, true, 240, false, 0, &since, f));
    ck_assert_uint_eq(f[0], 100); /* the same sync: its start stays */
    ck_assert_uint_eq(f[1], 350);
    ck_assert_uint_eq(f[2], 590);
    /* Caught up: false, and the next sync starts afresh. */
    ck_assert(!cn_sync_figures(600, true, 2, false, 0, &since, f));
    ck_assert_uint_eq(since, UINT64_MAX);
    /* Installing the state at block 9000 (the head is still the old one). */
    ck_assert(cn_sync_figures(600, false, 0, true, 9000, &since, f));
    ck_assert_uint_eq(f[0], 600);
    ck_assert_uint_eq(f[1], 600);
    ck_assert_uint_eq(f[2], 9000);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("chain_sync");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, syncing_while_far_behind_or_installing);
    suite_add_tcase(s, tc);
    return testutil_run_suite(s, false);
}
