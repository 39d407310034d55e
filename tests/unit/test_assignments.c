/*
 * test_assignments.c - the manager's events to the chains a node runs (core/assignments.h),
 * through a rotation (docs/chain.md "Rotation"): what each node's config says, who vouches,
 * who signs the completion, who leaves and when, and the state file's round trip.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/assignments.h"
#include "testutil.h"

static struct mc_event ev(enum mc_event_kind kind, uint64_t block)
{
    struct mc_event e;
    memset(&e, 0, sizeof e);
    e.kind = kind;
    e.block_number = block;
    return e;
}

/* Nodes 1..6 registered; chain 7 'quad' (small) on nodes 1..4, each at slot 10 + node. */
static void history(struct assignments *a)
{
    for (uint64_t n = 1; n <= 6; n++) {
        struct mc_event e = ev(MC_EVENT_NODE_REGISTERED, n);
        e.node_id = n;
        e.ip[0] = 127, e.ip[3] = 1;
        e.port = (uint16_t)(10000 + 2048 * (n - 1));
        memset(e.public_key, (int)n, 64);
        assignments_apply(a, &e);
    }
    struct mc_event c = ev(MC_EVENT_CHAIN_CREATED, 10);
    c.chain_id = 7;
    c.size = 1;
    snprintf(c.name, sizeof c.name, "quad");
    c.nnodes = 4;
    for (unsigned m = 0; m < 4; m++) c.node_ids[m] = m + 1;
    assignments_apply(a, &c);
    for (uint64_t n = 1; n <= 4; n++) {
        struct mc_event e = ev(MC_EVENT_NODE_ASSIGNED, 11);
        e.chain_id = 7;
        e.node_id = n;
        e.first_slot = (unsigned)(10 + n);
        assignments_apply(a, &e);
    }
}

static struct mc_event started(void)
{
    struct mc_event e = ev(MC_EVENT_ROTATION_STARTED, 20);
    e.chain_id = 7;
    e.node_id = 4;         /* leaving */
    e.joining_node_id = 5; /* joining, at its slot 3 */
    e.epoch = 1;
    e.member_index = 3;
    e.first_slot = 3;
    e.reason = MC_ROTATION_EXIT;
    return e;
}

static struct mc_event completed(void)
{
    struct mc_event e = ev(MC_EVENT_ROTATION_COMPLETED, 30);
    e.chain_id = 7;
    e.node_id = 4;
    e.joining_node_id = 5;
    e.epoch = 1;
    e.height = 12;
    return e;
}

static const struct chain_config_params params = {.manager_chain_id = 31337, .disk_bytes_per_slot = 1 << 20};

/* Node `node`'s configs: returns how many; the first in *c and its rotation in *r. */
static size_t configs_of(const struct assignments *a, struct chain_config *c, struct chain_rotation *r)
{
    struct chain_config *configs = NULL;
    struct chain_rotation *rotations = NULL;
    size_t n = 0;
    struct cohort_error err = {0};
    ck_assert_msg(assignments_configs(a, &params, &configs, &rotations, &n, &err) == 0, "%s", err.message);
    if (n > 0) {
        *c = configs[0];
        *r = rotations[0];
    }
    free(configs);
    free(rotations);
    return n;
}

START_TEST(a_rotation_as_each_node_sees_it)
{
    struct assignments a[6];
    for (uint64_t n = 1; n <= 6; n++) {
        assignments_init(&a[n - 1], n);
        history(&a[n - 1]);
    }
    struct chain_config c;
    struct chain_rotation r;
    /* Before: nodes 1..4 run it at epoch 0; 5 and 6 do not (they still keep its events). */
    ck_assert_uint_eq(configs_of(&a[0], &c, &r), 1);
    ck_assert_uint_eq(c.epoch, 0);
    ck_assert(!r.open);
    ck_assert_uint_eq(configs_of(&a[4], &c, &r), 0);
    ck_assert_uint_gt(a[4].nevents, 6);
    /* Started: node 5 runs it at epoch 1, at member 3 with its slot 3; the others keep
       their epoch-0 configs (no container is recreated); the members before vouch, the
       members after sign the completion. */
    for (int n = 0; n < 6; n++) {
        struct mc_event e = started();
        ck_assert(assignments_apply(&a[n], &e));
    }
    ck_assert_uint_eq(configs_of(&a[4], &c, &r), 1);
    ck_assert_uint_eq(c.epoch, 1);
    ck_assert_uint_eq(c.member_index, 3);
    ck_assert_uint_eq(c.members[3].node_id, 5);
    ck_assert_uint_eq(c.members[3].first_slot, 3);
    ck_assert_uint_eq(c.members[0].first_slot, 11);
    ck_assert(r.open && !r.vouch && r.member_after);
    ck_assert_uint_eq(configs_of(&a[0], &c, &r), 1);
    ck_assert_uint_eq(c.epoch, 0);
    ck_assert_uint_eq(c.members[3].node_id, 4);
    ck_assert(r.open && r.vouch && r.member_after);
    struct rotation_record rec;
    struct cohort_error err = {0};
    ck_assert_int_eq(rotation_record_decode(r.record, &rec, &err), 0);
    ck_assert_uint_eq(rec.epoch, 1);
    ck_assert_uint_eq(rec.leaving_node_id, 4);
    ck_assert_uint_eq(rec.joining.node_id, 5);
    ck_assert_uint_eq(rec.joining.first_slot, 3);
    ck_assert_uint_eq(rec.joining.base_port, 10000 + 2048 * 4);
    ck_assert_uint_eq(configs_of(&a[3], &c, &r), 1); /* the leaving node runs it until the completion */
    ck_assert(r.open && r.vouch && !r.member_after);
    ck_assert_uint_eq(configs_of(&a[5], &c, &r), 0);
    /* Completed: node 4 runs it no more (its volume goes later), the rest run on. */
    for (int n = 0; n < 6; n++) {
        struct mc_event e = completed();
        ck_assert(assignments_apply(&a[n], &e));
    }
    ck_assert_uint_eq(configs_of(&a[3], &c, &r), 0);
    struct chain_name left[4];
    ck_assert_uint_eq(assignments_left(&a[3], left, 4), 1);
    ck_assert_str_eq(left[0].name, "quad");
    ck_assert_uint_eq(assignments_left(&a[0], left, 4), 0);
    ck_assert_uint_eq(configs_of(&a[0], &c, &r), 1);
    ck_assert(!r.open);
    ck_assert_uint_eq(configs_of(&a[4], &c, &r), 1);
    ck_assert_uint_eq(c.epoch, 1);
    /* Deleted: only a node that was a member removes a volume for it. */
    struct mc_event del = ev(MC_EVENT_CHAIN_DELETED, 40);
    del.chain_id = 7;
    snprintf(del.name, sizeof del.name, "quad");
    for (int n = 0; n < 6; n++) assignments_apply(&a[n], &del);
    ck_assert_uint_eq(assignments_deleted(&a[4], left, 4), 1);
    ck_assert_uint_eq(assignments_deleted(&a[5], left, 4), 0);
    for (int n = 0; n < 6; n++) assignments_free(&a[n]);
}
END_TEST

START_TEST(rotations_survive_the_state_file)
{
    struct assignments a, b;
    assignments_init(&a, 5);
    history(&a);
    struct mc_event e = started();
    assignments_apply(&a, &e);
    char *text = assignments_to_json(&a);
    ck_assert_ptr_nonnull(text);
    assignments_init(&b, 5);
    struct cohort_error err = {0};
    ck_assert_msg(assignments_from_json(&b, text, strlen(text), &err) == 0, "%s", err.message);
    ck_assert_uint_eq(b.nevents, a.nevents);
    const struct mc_event *x = &b.events[b.nevents - 1];
    ck_assert_int_eq(x->kind, MC_EVENT_ROTATION_STARTED);
    ck_assert_uint_eq(x->joining_node_id, 5);
    ck_assert_uint_eq(x->epoch, 1);
    ck_assert_uint_eq(x->member_index, 3);
    ck_assert_int_eq(x->reason, MC_ROTATION_EXIT);
    struct chain_config c;
    struct chain_rotation r;
    ck_assert_uint_eq(configs_of(&b, &c, &r), 1);
    ck_assert_uint_eq(c.epoch, 1);
    free(text);
    assignments_free(&a);
    assignments_free(&b);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("assignments");
    TCase *tc = tcase_create("rotation");
    tcase_add_test(tc, a_rotation_as_each_node_sees_it);
    tcase_add_test(tc, rotations_survive_the_state_file);
    suite_add_tcase(s, tc);
    return testutil_run_suite(s, false);
}
