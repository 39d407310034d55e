/*
 * test_provision.c - the provisioner against the real dockerd, with assignments given
 * directly (the manager's part is tested with anvil elsewhere): subnodes of several sizes
 * come up with their labels and limits and answer on their slot's port; a killed subnode
 * is restarted after its backoff and counted; a second provisioner (a restarted
 * cohort-core) adopts the containers instead of duplicating them; a new config version
 * replaces the container; limits change in place; a volume wiped whole comes back with
 * its key (kept in the state dir) and the mark to rejoin; an unassigned chain loses its
 * container but keeps its volume; a deleted chain loses both, and its key's copy. The node id is unique to the test, and every object it
 * makes carries it as cohort.node; the teardown removes exactly those.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/secp.h"
#include "core/provision.h"
#include "testutil.h"

/* A manager address of this test's own, so its objects never mix with a real network's. */
#define TEST_MANAGER "0x7e57000000000000000000000000000000000001"

static struct docker_client *client;
static char image[128];
static uint64_t node_id;
static uint16_t base_port;
static char state_dir[64]; /* cohort-core's: the copies of the subnode keys */
/* The node's key (--keystore): signs each subnode's cert; its public key is the member's in chain.json. */
static const uint8_t node_key[32] = {0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb,
                                     0xcc, 0xdd, 0xee, 0xf0, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
                                     0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x12};

static void cleanup_node(void)
{
    char node[24];
    snprintf(node, sizeof node, "%llu", (unsigned long long)node_id);
    struct docker_label mine[2] = {{"cohort.manager", TEST_MANAGER}, {"cohort.node", node}};
    testutil_docker_remove_labelled(client, mine, 2);
}

static void setup(void)
{
    testutil_require_dockerd();
    struct cohort_error err = {0};
    ck_assert_msg(docker_open(&client, NULL, &err) == 0, "%s", err.message);
    testutil_build_subnode_image(NULL, image, sizeof image);
    node_id = 900000 + (uint64_t)getpid();
    /* 128 slots * 8 ports above the base: find a free-looking block high up. */
    base_port = TESTUTIL_PORTS_PROVISION;
    snprintf(state_dir, sizeof state_dir, "/tmp/cohort-provision-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(state_dir));
}

static void teardown(void)
{
    cleanup_node();
    docker_close(client);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", state_dir);
    if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", state_dir);
}

static struct assignment chain(const char *name, unsigned first_slot, unsigned slots, uint64_t gas_limit)
{
    struct assignment a;
    memset(&a, 0, sizeof a);
    struct chain_config *c = &a.config;
    c->version = 1;
    snprintf(c->name, sizeof c->name, "%s", name);
    c->chain_id = first_slot + 1;
    c->evm_chain_id = 1000 + first_slot;
    c->slots = slots;
    c->node_id = node_id;
    c->nmembers = 1;
    c->members[0].node_id = node_id;
    snprintf(c->members[0].ip, sizeof c->members[0].ip, "127.0.0.1");
    c->members[0].base_port = base_port;
    c->members[0].first_slot = first_slot;
    ck_assert_int_eq(secp_pubkey(node_key, c->members[0].public_key, NULL), 0);
    c->genesis_gas_limit = gas_limit;
    c->disk_bytes = 1ull << 30;
    return a;
}

static struct provision_options options(void)
{
    struct provision_options o = {.manager = TEST_MANAGER, .node_id = node_id, .image = image, .bind_address = "127.0.0.1",
                                  .base_port = base_port, .backoff_base_ms = 2000, .backoff_max_ms = 60000,
                                  .state_dir = state_dir, .node_key = node_key};
    o.resources.memory_bytes = 8ull << 30;
    o.resources.disk_bytes = 128ull << 30;
    return o;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void round_ok(struct provisioner *p, int64_t at)
{
    struct cohort_error err = {0};
    int64_t wake;
    ck_assert_msg(provision_round(p, at, &wake, &err) == 0, "%s", err.message);
}

/* Names as the provisioner makes them (initialising one does no I/O). */
static struct provisioner naming;

static void inspect(const char *chain, struct docker_container *c)
{
    char name[DOCKER_NAME_MAX];
    provision_container_name(&naming, chain, name, sizeof name);
    struct cohort_error err = {0};
    ck_assert_msg(docker_container_inspect(client, name, c, &err) == 0, "%s", err.message);
}

static void wait_status(uint16_t port, const char *expect)
{
    char body[8192];
    int status = -1;
    for (int i = 0; i < 200; i++) {
        status = testutil_http_get(port, "/status", body, sizeof body);
        if (status == 200 && strstr(body, expect) != NULL) return;
        usleep(20000);
    }
    ck_abort_msg("port %u: status %d, body %s (wanted %s)", port, status, body, expect);
}

START_TEST(lifecycle)
{
    cleanup_node();
    struct provisioner p;
    struct provision_options o = options();
    provision_init(&p, &o, client);
    provision_init(&naming, &o, client);
    struct assignment assigned[3] = {chain("alpha", 0, 1, 30000000), chain("beta", 16, 16, 30000000),
                                     chain("gamma", 1, 1, 30000000)};
    struct cohort_error err = {0};
    ck_assert_int_eq(provision_set_assigned(&p, assigned, 3, &err), 0);
    int64_t t = now_ms();
    round_ok(&p, t);

    /* Labels, limits and the kernel's view. */
    struct docker_container a, b;
    inspect("alpha", &a);
    inspect("beta", &b);
    char node[24];
    snprintf(node, sizeof node, "%llu", (unsigned long long)node_id);
    ck_assert_str_eq(docker_container_label(&a, "cohort.node"), node);
    ck_assert_str_eq(docker_container_label(&b, "cohort.chain"), "beta");
    ck_assert_str_eq(docker_container_label(&b, "cohort.slot"), "16");
    ck_assert_uint_eq(strlen(docker_container_label(&b, "cohort.config-hash")), 66);
    ck_assert_int_eq(a.cpu_shares, 8);    /* 1024 * 1/128 */
    ck_assert_int_eq(b.cpu_shares, 128);  /* 1024 * 16/128 */
    ck_assert_int_eq(b.memory_bytes, (int64_t)((8ull << 30) * 0.8 * 16 / 128) & ~4095);
    ck_assert_int_eq(b.pids_limit, 64 * 16);
    ck_assert(a.network_host && a.read_only_rootfs && a.cap_drop_all && a.no_new_privileges);
    ck_assert_str_eq(a.user, "65534:65534");
    ck_assert_str_eq(a.restart_policy, "no");
    wait_status(base_port + 0 * 8, "\"chain_name\":\"alpha\"");
    wait_status(base_port + 16 * 8, "\"chain_name\":\"beta\"");
    wait_status(base_port + 1 * 8, "\"chain_name\":\"gamma\"");

    /* A crash: restarted only after the backoff, and counted. */
    char name[DOCKER_NAME_MAX];
    provision_container_name(&naming, "gamma", name, sizeof name);
    ck_assert_int_eq(docker_container_kill(client, name, "KILL", &err), 0);
    int code;
    ck_assert_int_eq(docker_container_wait(client, name, 10000, &code, &err), 0);
    t = now_ms();
    round_ok(&p, t);
    struct docker_container g;
    inspect("gamma", &g);
    ck_assert(!g.running);
    round_ok(&p, t + 1999);
    inspect("gamma", &g);
    ck_assert(!g.running);
    round_ok(&p, t + 2000);
    inspect("gamma", &g);
    ck_assert(g.running);
    ck_assert_uint_eq(reconcile_record(&p.reconcile, "gamma")->restarts, 1);
    char *json = provision_subnodes_json(&p);
    ck_assert_ptr_nonnull(strstr(json, "\"chain\":\"gamma\""));
    ck_assert_ptr_nonnull(strstr(json, "\"restarts\":1"));
    free(json);

    /* A restarted cohort-core adopts what runs: same containers, no duplicates. */
    struct provisioner q;
    provision_init(&q, &o, client);
    ck_assert_int_eq(provision_set_assigned(&q, assigned, 3, &err), 0);
    round_ok(&q, now_ms());
    struct docker_container a2;
    inspect("alpha", &a2);
    ck_assert_str_eq(a2.id, a.id);
    struct docker_label mine[2] = {{"cohort.manager", TEST_MANAGER}, {"cohort.node", node}};
    struct docker_container *list;
    size_t n;
    ck_assert_int_eq(docker_container_list(client, mine, 2, &list, &n, &err), 0);
    ck_assert_uint_eq(n, 3);
    free(list);

    /* The cluster's settings change the limits: the running containers take them in place
       (the same container, started at the same time), and say so; then back, quota lifted. */
    ck_assert(provision_set_resources(&q, 0.5, 400));
    ck_assert(!provision_set_resources(&q, 0.5, 400));
    round_ok(&q, now_ms());
    struct docker_container b2;
    inspect("beta", &b2);
    ck_assert_str_eq(b2.id, b.id);
    ck_assert_str_eq(b2.started_at, b.started_at);
    ck_assert(b2.running);
    ck_assert_int_eq(b2.memory_bytes, (int64_t)((8ull << 30) * 0.5 * 16 / 128) & ~4095);
    ck_assert_int_eq(b2.cpu_quota_us, 400 * 1000 * 16 / 128);
    ck_assert_int_eq(b2.cpu_period_us, 100000);
    ck_assert_int_eq(b2.cpu_shares, 128);
    json = provision_subnodes_json(&q);
    ck_assert_ptr_null(strstr(json, "\"limits_applied\":false"));
    ck_assert_ptr_nonnull(strstr(json, "\"cpu_quota_us\":50000"));
    free(json);
    ck_assert(provision_set_resources(&q, 0.8, 0));
    round_ok(&q, now_ms());
    inspect("beta", &b2);
    ck_assert_str_eq(b2.id, b.id);
    ck_assert_str_eq(b2.started_at, b.started_at);
    ck_assert_int_eq(b2.memory_bytes, b.memory_bytes);
    ck_assert_int_le(b2.cpu_quota_us, 0);
    wait_status(base_port + 16 * 8, "\"chain_name\":\"beta\"");

    /* A volume wiped whole (container and volume removed by hand): made again with the same
       key, from the state dir's copy, and the mark that makes its subnode rejoin. */
    char volume_b[DOCKER_NAME_MAX], mount[1024], key_before[160], key_after[160], mark[16];
    provision_volume_name(&naming, "beta", volume_b, sizeof volume_b);
    ck_assert_int_eq(docker_volume_inspect(client, volume_b, mount, sizeof mount, &err), 0);
    ck_assert_int_eq(provision_read_volume_file(mount, "subnode.key", key_before, sizeof key_before, &err), 1);
    ck_assert_int_eq(provision_read_volume_file(mount, "rejoin", mark, sizeof mark, &err), 0);
    char keys[128];
    snprintf(keys, sizeof keys, "%s/subnode-keys", state_dir);
    ck_assert_int_eq(provision_read_volume_file(keys, "beta.key", key_after, sizeof key_after, &err), 1);
    ck_assert_str_eq(key_after, key_before);
    char name_b[DOCKER_NAME_MAX];
    provision_container_name(&naming, "beta", name_b, sizeof name_b);
    ck_assert_int_eq(docker_container_remove(client, name_b, true, &err), 0);
    ck_assert_int_eq(docker_volume_remove(client, volume_b, true, &err), 0);
    round_ok(&q, now_ms());
    ck_assert_int_eq(docker_volume_inspect(client, volume_b, mount, sizeof mount, &err), 0);
    ck_assert_int_eq(provision_read_volume_file(mount, "subnode.key", key_after, sizeof key_after, &err), 1);
    ck_assert_str_eq(key_after, key_before);
    /* The mark is read and removed as the subnode starts (a chain of one signs at once):
       its status says it saw it. */
    wait_status(base_port + 16 * 8, "\"chain_name\":\"beta\"");
    wait_status(base_port + 16 * 8, "\"rejoin\":{\"waiting\":false,\"vote_from\":0}");

    /* A new config version: a new container with the new hash. */
    assigned[0] = chain("alpha", 0, 1, 40000000);
    ck_assert_int_eq(provision_set_assigned(&q, assigned, 3, &err), 0);
    round_ok(&q, now_ms());
    inspect("alpha", &a2);
    ck_assert_str_ne(a2.id, a.id);
    ck_assert_str_ne(docker_container_label(&a2, "cohort.config-hash"), docker_container_label(&a, "cohort.config-hash"));
    wait_status(base_port, "\"chain_name\":\"alpha\"");

    /* Unassigned: the container goes, the volume stays. Deleted: the volume goes too. */
    ck_assert_int_eq(provision_set_assigned(&q, assigned, 2, &err), 0);
    round_ok(&q, now_ms());
    ck_assert_int_eq(docker_container_inspect(client, name, &g, &err), DOCKER_E_NOT_FOUND);
    char volume[DOCKER_NAME_MAX];
    provision_volume_name(&naming, "gamma", volume, sizeof volume);
    ck_assert_int_eq(docker_volume_inspect(client, volume, NULL, 0, &err), 0);
    ck_assert_int_eq(provision_read_volume_file(keys, "gamma.key", key_after, sizeof key_after, &err), 1);
    provision_mark_deleted(&q, "gamma");
    round_ok(&q, now_ms());
    ck_assert_int_eq(docker_volume_inspect(client, volume, NULL, 0, &err), DOCKER_E_NOT_FOUND);
    /* Its key's copy went with it. */
    ck_assert_int_eq(provision_read_volume_file(keys, "gamma.key", key_after, sizeof key_after, &err), 0);

    provision_free(&p);
    provision_free(&q);
    provision_free(&naming);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("provision");
    TCase *tc = tcase_create("provision");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, lifecycle);
    suite_add_tcase(s, tc);
    return testutil_run_suite(s, true);
}
