/*
 * test_bft_single.c - a log of one member (a chain on one node, before its other members
 * join): the member's own votes make every certificate, so a submitted entry commits at
 * once, and an idle member proposes nothing.
 */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "bft/bft.h"
#include "common/secp.h"
#include "testutil.h"

static struct bft_core *make_core(void)
{
    struct cohort_error err = {0};
    ck_assert_int_eq(secp_init(&err), 0);
    struct bft_config cfg;
    memset(&cfg, 0, sizeof cfg);
    uint8_t key[32];
    ck_assert_int_eq(secp_key_generate(key, &err), 0);
    cfg.instance = 42;
    cfg.members.count = 1;
    ck_assert_int_eq(secp_address_from_secret(key, cfg.members.address[0], &err), 0);
    memcpy(cfg.private_key, key, 32);
    cfg.payload_max_bytes = BFT_PAYLOAD_MAX;
    cfg.window_heights = BFT_WINDOW_MAX;
    cfg.timeout_ms = 1000;
    cfg.idle_delay_ms = 100;
    struct bft_core *core = bft_core_create(&cfg, &err);
    ck_assert_msg(core != NULL, "%s", err.message);
    return core;
}

/* Steps the core; returns how many COMMIT actions came out, and whether a proposal was persisted. */
static size_t step(struct bft_core *core, const struct bft_event *e, size_t *persists)
{
    const struct bft_action *a;
    size_t n = 0, commits = 0;
    struct cohort_error err = {0};
    ck_assert_int_eq(bft_core_step(core, e, &a, &n, &err), 0);
    for (size_t i = 0; i < n; i++) {
        if (a[i].type == BFT_ACTION_COMMIT) commits++;
        if (a[i].type == BFT_ACTION_PERSIST && persists) (*persists)++;
    }
    return commits;
}

START_TEST(one_member_commits_what_it_is_given)
{
    struct bft_core *core = make_core();
    struct bft_event start = {.type = BFT_EVENT_START};
    ck_assert_uint_eq(step(core, &start, NULL), 0);
    for (int i = 0; i < 5; i++) {
        char entry[16];
        snprintf(entry, sizeof entry, "entry %d", i);
        struct bft_event submit = {.type = BFT_EVENT_SUBMIT, .bytes = (const uint8_t *)entry, .len = strlen(entry)};
        ck_assert_uint_eq(step(core, &submit, NULL), 1);
        struct bft_core_status st;
        bft_core_get_status(core, &st);
        ck_assert_uint_eq(st.committed_index, (uint64_t)i + 1);
    }
    bft_core_destroy(core);
}
END_TEST

START_TEST(an_idle_member_proposes_nothing)
{
    struct bft_core *core = make_core();
    struct bft_event start = {.type = BFT_EVENT_START};
    step(core, &start, NULL);
    struct bft_core_status st;
    bft_core_get_status(core, &st);
    /* Every timer it may have armed fires, many times over: no block, nothing written. */
    size_t persists = 0, commits = 0;
    for (int i = 0; i < 50; i++) {
        for (uint8_t timer = 0; timer < BFT_TIMERS; timer++) {
            struct bft_event t = {.type = BFT_EVENT_TIMER, .height = st.height, .timer = timer};
            commits += step(core, &t, &persists);
        }
    }
    bft_core_get_status(core, &st);
    ck_assert_uint_eq(commits, 0);
    ck_assert_uint_eq(st.committed_index, 0);
    ck_assert_uint_eq(persists, 0);
    bft_core_destroy(core);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("bft_single");
    TCase *tc = tcase_create("one member");
    tcase_add_test(tc, one_member_commits_what_it_is_given);
    tcase_add_test(tc, an_idle_member_proposes_nothing);
    suite_add_tcase(s, tc);
    return testutil_run_suite(s, false);
}
