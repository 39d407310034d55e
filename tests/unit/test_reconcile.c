/* test_reconcile.c - the reconciler's rules, crash loops with backoff, and slot arithmetic. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/reconcile.h"
#include "core/slots.h"
#include "testutil.h"

static struct desired_subnode desired(const char *chain, const char *hash)
{
    struct desired_subnode d = {.first_slot = 0, .slot_count = 1};
    snprintf(d.chain, sizeof d.chain, "%s", chain);
    snprintf(d.config_hash, sizeof d.config_hash, "%s", hash);
    return d;
}

static struct observed_container observed(const char *id, const char *chain, const char *hash, enum observed_state s)
{
    struct observed_container c = {.state = s};
    snprintf(c.id, sizeof c.id, "%s", id);
    snprintf(c.chain, sizeof c.chain, "%s", chain);
    snprintf(c.config_hash, sizeof c.config_hash, "%s", hash);
    return c;
}

/* The plan as text, "kind:chain[:id][!]" joined by spaces, for exact comparisons. */
static const char *text(const struct reconcile_plan *p)
{
    static char buf[8192];
    size_t n = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < p->nactions && n < sizeof buf - 200; i++) {
        const struct action *a = &p->actions[i];
        n += (size_t)snprintf(buf + n, sizeof buf - n, "%s%s:%s%s%s%s", i ? " " : "", action_name(a->kind), a->chain,
                              a->container_id[0] ? ":" : "", a->container_id, a->is_restart ? "!" : "");
    }
    return buf;
}

static struct reconcile_state state;
static struct reconcile_plan plan;

static void setup(void) { memset(&state, 0, sizeof state); }

START_TEST(fresh_node)
{
    struct desired_subnode d[2] = {desired("alpha", "h1"), desired("beta", "h2")};
    struct chain_name volumes[1] = {{"beta"}};
    struct reconcile_input in = {.desired = d, .ndesired = 2, .volumes = volumes, .nvolumes = 1, .now_ms = 1000};
    reconcile(&in, &state, &plan);
    ck_assert_str_eq(text(&plan), "create-volume:alpha write-config:alpha create-container:alpha start:alpha "
                                  "write-config:beta create-container:beta start:beta");
}
END_TEST

START_TEST(steady_and_changed_config)
{
    struct desired_subnode d[2] = {desired("alpha", "h1"), desired("beta", "h2-new")};
    struct observed_container c[2] = {observed("c1", "alpha", "h1", OBSERVED_RUNNING),
                                      observed("c2", "beta", "h2-old", OBSERVED_RUNNING)};
    struct reconcile_input in = {.desired = d, .ndesired = 2, .containers = c, .ncontainers = 2, .now_ms = 5};
    reconcile(&in, &state, &plan);
    ck_assert_str_eq(text(&plan), "write-config:beta remove-container:beta:c2 create-container:beta start:beta");
    ck_assert_int_eq(reconcile_record(&state, "alpha")->running_since_ms, 5);

    struct observed_container created = observed("c3", "alpha", "h1", OBSERVED_CREATED);
    in.containers = &created;
    in.ndesired = 1;
    in.ncontainers = 1;
    reconcile(&in, &state, &plan);
    ck_assert_str_eq(text(&plan), "start:alpha:c3");
}
END_TEST

/* An upgrade (core/upgrade.h): a container of the current config is replaced when asked, and only that one. */
START_TEST(recreate_replaces_a_current_container)
{
    struct desired_subnode d[2] = {desired("alpha", "h1"), desired("beta", "h2")};
    d[1].recreate = true;
    struct observed_container c[2] = {observed("c1", "alpha", "h1", OBSERVED_RUNNING),
                                      observed("c2", "beta", "h2", OBSERVED_RUNNING)};
    struct reconcile_input in = {.desired = d, .ndesired = 2, .containers = c, .ncontainers = 2, .now_ms = 5};
    reconcile(&in, &state, &plan);
    ck_assert_str_eq(text(&plan), "write-config:beta remove-container:beta:c2 create-container:beta start:beta");
    d[1].recreate = false;
    reconcile(&in, &state, &plan);
    ck_assert_str_eq(text(&plan), "");
}
END_TEST

START_TEST(crash_loop_backs_off_and_recovers)
{
    struct desired_subnode d = desired("alpha", "h");
    struct observed_container dead = observed("c1", "alpha", "h", OBSERVED_EXITED);
    struct observed_container live = observed("c1", "alpha", "h", OBSERVED_RUNNING);
    struct reconcile_input in = {.desired = &d, .ndesired = 1, .containers = &dead, .ncontainers = 1,
                                 .backoff_base_ms = 1000, .backoff_max_ms = 8000, .stable_ms = 60000};
    int64_t t = 10000;
    int64_t expected_delays[] = {1000, 2000, 4000, 8000, 8000};
    for (int crash = 0; crash < 5; crash++) {
        in.now_ms = t;
        in.containers = &dead;
        reconcile(&in, &state, &plan);
        ck_assert_str_eq(text(&plan), ""); /* not yet */
        ck_assert_int_eq(plan.wake_at_ms, t + expected_delays[crash]);
        in.now_ms = t + expected_delays[crash] - 1;
        reconcile(&in, &state, &plan);
        ck_assert_str_eq(text(&plan), "");
        in.now_ms = t + expected_delays[crash];
        reconcile(&in, &state, &plan);
        ck_assert_str_eq(text(&plan), "start:alpha:c1!");
        /* It runs for a moment, then dies again. */
        in.now_ms += 10;
        in.containers = &live;
        reconcile(&in, &state, &plan);
        ck_assert_str_eq(text(&plan), "");
        t = in.now_ms + 100;
    }
    const struct restart_record *r = reconcile_record(&state, "alpha");
    ck_assert_uint_eq(r->restarts, 5);
    ck_assert_uint_eq(r->failures, 5);
    /* Running for a minute clears the failures; the next crash waits only the base delay. */
    in.containers = &live;
    in.now_ms = t + 60000;
    reconcile(&in, &state, &plan);
    ck_assert_uint_eq(reconcile_record(&state, "alpha")->failures, 0);
    in.containers = &dead;
    in.now_ms += 1;
    reconcile(&in, &state, &plan);
    ck_assert_int_eq(plan.wake_at_ms, in.now_ms + 1000);
    ck_assert_uint_eq(reconcile_record(&state, "alpha")->restarts, 5);
}
END_TEST

START_TEST(unassigned_deleted_and_duplicates)
{
    struct desired_subnode d = desired("keep", "h");
    struct observed_container c[4] = {
        observed("k1", "keep", "h", OBSERVED_EXITED), observed("k2", "keep", "h", OBSERVED_RUNNING),
        observed("m1", "moved", "h", OBSERVED_RUNNING), observed("x1", "gone", "h", OBSERVED_EXITED)};
    struct chain_name volumes[3] = {{"keep"}, {"moved"}, {"gone"}};
    struct chain_name deleted[1] = {{"gone"}};
    struct reconcile_input in = {.desired = &d, .ndesired = 1, .containers = c, .ncontainers = 4, .volumes = volumes,
                                 .nvolumes = 3, .deleted = deleted, .ndeleted = 1, .now_ms = 1};
    reconcile(&in, &state, &plan);
    ck_assert_str_eq(text(&plan), "remove-container:keep:k1 remove-container:moved:m1 remove-container:gone:x1 "
                                  "remove-volume:gone");
}
END_TEST

START_TEST(a_full_node)
{
    static struct desired_subnode d[128];
    for (int i = 0; i < 128; i++) {
        char name[16];
        snprintf(name, sizeof name, "chain-%d", i);
        d[i] = desired(name, "h");
        d[i].first_slot = (unsigned)i;
    }
    struct reconcile_input in = {.desired = d, .ndesired = 128, .now_ms = 1};
    reconcile(&in, &state, &plan);
    ck_assert_uint_eq(plan.nactions, 128 * 4);
    ck_assert_str_eq(plan.actions[511].chain, "chain-127");
}
END_TEST

START_TEST(slots_and_limits)
{
    ck_assert_uint_eq(slots_of_size_name("medium"), 16);
    ck_assert_uint_eq(slots_of_size_name("huge"), 0);
    ck_assert_str_eq(size_name_of_slots(128), "large");
    struct slot_ports p;
    ck_assert(slot_ports(10000, 3, 1, &p));
    ck_assert_uint_eq(p.rpc, 10024);
    ck_assert_uint_eq(p.bft, 10025);
    ck_assert_uint_eq(p.last, 10031);
    ck_assert(slot_ports(10000, 112, 16, &p));
    ck_assert_uint_eq(p.last, 10000 + 128 * 8 - 1);
    ck_assert(!slot_ports(10000, 120, 16, &p)); /* past slot 127 */
    ck_assert(!slot_ports(65000, 127, 1, &p));  /* past port 65535 */

    struct node_resources node = {.memory_bytes = 16ull << 30, .disk_bytes = 128ull << 30};
    struct subnode_limits l;
    slot_limits(&node, 1, &l);
    ck_assert_int_eq(l.cpu_shares, 8);
    ck_assert_int_eq(l.memory_bytes, (int64_t)((16ull << 30) * 0.8 / 128) & ~4095);
    ck_assert_uint_eq(l.disk_bytes, 1ull << 30);
    ck_assert_int_eq(l.cpu_quota_us, 0);
    slot_limits(&node, 16, &l);
    ck_assert_int_eq(l.cpu_shares, 128);
    ck_assert_int_eq(l.pids, 64 * 16);
    node.cpu_quota_percent = 200; /* a 2-CPU node: large gets 2 CPUs, small 1/128 of them */
    slot_limits(&node, 128, &l);
    ck_assert_int_eq(l.cpu_shares, 1024);
    ck_assert_int_eq(l.nofile, 16384); /* capped: 128 * 1024 would pass dockerd's hard limit */
    ck_assert_int_eq(l.cpu_quota_us, 200000);
    ck_assert_int_eq(l.cpu_period_us, 100000);
    slot_limits(&node, 1, &l);
    ck_assert_int_eq(l.cpu_quota_us, 1562);
    node.memory_bytes = 100 << 20; /* tiny host: the 6 MiB Docker minimum holds */
    slot_limits(&node, 1, &l);
    ck_assert_int_eq(l.memory_bytes, 6 << 20);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("reconcile");
    TCase *tc = tcase_create("reconcile");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, fresh_node);
    tcase_add_test(tc, steady_and_changed_config);
    tcase_add_test(tc, recreate_replaces_a_current_container);
    tcase_add_test(tc, crash_loop_backs_off_and_recovers);
    tcase_add_test(tc, unassigned_deleted_and_duplicates);
    tcase_add_test(tc, a_full_node);
    tcase_add_test(tc, slots_and_limits);
    suite_add_tcase(s, tc);
    return testutil_run_suite(s, false);
}
