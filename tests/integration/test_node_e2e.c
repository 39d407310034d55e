/*
 * test_node_e2e.c - issue 5 end to end with real processes: a real anvil with the manager
 * deployed, two registered nodes, each with its own cohort-core process (real binary) on
 * the real dockerd. Chains of each size are created on the manager; each node's subnodes
 * come up with the expected labels and limits (read back from docker inspect and the
 * container's cgroup files) and answer on their slot's port. Then: docker kill of a
 * subnode (restarted, counted), SIGKILL of a cohort-core and a restart with the default
 * disk budget (the running subnodes are adopted, not recreated, and the log says so),
 * deletion of a chain (container and volume go), and a cohort-core whose node id the
 * manager does not know (unhealthy, saying why). Everything this test makes carries its
 * nodes' ids as cohort.node and is removed at the end.
 */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/hex.h"
#include "common/secp.h"
#include "core/node_state.h"
#include "core/provision.h"
#include "manager-client/manager_client.h"
#include "testutil.h"

#define NODES 2
/* The RAM cohort-core divides: 32 GiB gives a small chain 204 MiB, room even for a
   sanitizer-built subnode (the sanitizer run builds the image from instrumented binaries). */
#define NODE_MEMORY "34359738368"

static char anvil_url[64], dir[64], image[128];
static int anvil_pid;
static struct mc_rpc *rpc;
static struct mc_deployment deployment;
static struct docker_client *docker;
static uint8_t deployer[32];
static uint8_t node_keys[NODES][32];
static uint64_t node_ids[NODES];
static uint16_t base_ports[NODES + 1]; /* [NODES]: a cohort-core with a node id the manager does not know */
static int api_ports[NODES + 1];
static pid_t cores[NODES + 1];
static char manager_hex[43]; /* the deployment's address: cohort-core's cohort.manager label */

static const char *dev0 = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

static void fund(const uint8_t address[20]) { testutil_fund(anvil_url, address); }

/* Starts cohort-core for node i, or with a node id the manager does not know when i == NODES. */
static void start_core(int i)
{
    char node[24], api[16], base[16], state[128], manager[128], log[128];
    snprintf(node, sizeof node, "%llu", i < NODES ? (unsigned long long)node_ids[i] : 999ull);
    snprintf(api, sizeof api, "%d", api_ports[i]);
    snprintf(base, sizeof base, "%u", (unsigned)base_ports[i]);
    snprintf(state, sizeof state, "%s/state%d", dir, i);
    snprintf(manager, sizeof manager, "%s/manager.json", dir);
    snprintf(log, sizeof log, "%s/core%d.log", dir, i);
    /* Node 0 lists a dead endpoint first (it must switch to anvil) and its own keystore;
       node 1 is given node 0's keystore, which its health must report. */
    char rpcs[200], keystore[128], password[128];
    snprintf(rpcs, sizeof rpcs, "%s%s", i == 0 ? "http://127.0.0.1:9," : "", anvil_url);
    snprintf(keystore, sizeof keystore, "%s/node0.json", dir);
    snprintf(password, sizeof password, "%s/password", dir);
    const char *args[] = {"--node-id", node, "--manager-rpc", rpcs, "--manager-file", manager, "--state-dir", state,
                          "--api-port", api, "--base-port", base, "--image", image, "--confirmations", "0",
                          "--poll-ms", "200", "--memory-bytes", NODE_MEMORY, "--keystore", keystore,
                          "--password-file", password, NULL};
    cores[i] = testutil_start_core(args, log, api_ports[i]);
}

static void cleanup_docker(void)
{
    for (int i = 0; i < NODES; i++) {
        char node[24];
        snprintf(node, sizeof node, "%llu", (unsigned long long)node_ids[i]);
        struct docker_label mine[2] = {{"cohort.manager", manager_hex}, {"cohort.node", node}};
        testutil_docker_remove_labelled(docker, mine, 2);
    }
}

static void setup(void)
{
    testutil_require_dockerd();
    struct cohort_error err = {0};
    ck_assert_int_eq(docker_open(&docker, NULL, &err), 0);
    testutil_build_subnode_image(NULL, image, sizeof image);

    anvil_pid = testutil_start_anvil(anvil_url, sizeof anvil_url, NULL);
    snprintf(dir, sizeof dir, "/tmp/cohort-e2e-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    struct mc_rpc_options o = {.url = anvil_url};
    ck_assert_int_eq(mc_rpc_open(&rpc, &o, &err), 0);
    ck_assert_int_eq(hex_decode_exact(dev0, deployer, 32, &err), 0);
    ck_assert_msg(mc_manager_deploy(rpc, deployer, &deployment, &err) == 0, "%s", err.message);
    char path[128];
    snprintf(path, sizeof path, "%s/manager.json", dir);
    ck_assert_int_eq(mc_deployment_save(path, &deployment, &err), 0);
    hex_encode(deployment.address, 20, manager_hex, sizeof manager_hex);

    /* Node ids on a shared anvil are 1 and 2; to keep Docker objects apart from other runs
       the test's containers are found by these ids plus the fresh chain names below. */
    for (int i = 0; i < NODES; i++) {
        uint8_t address[20];
        ck_assert_int_eq(secp_key_generate(node_keys[i], &err), 0);
        ck_assert_int_eq(secp_address_from_secret(node_keys[i], address, &err), 0);
        fund(address);
        base_ports[i] = (uint16_t)(TESTUTIL_PORTS_NODE_E2E + 1100 * i); /* a large chain spans 1024 ports */
        uint8_t ip[4] = {127, 0, 0, 1};
        char name[32];
        snprintf(name, sizeof name, "e2e-%d-%d", (int)getpid(), i);
        ck_assert_msg(mc_manager_register_node(rpc, node_keys[i], &deployment, name, ip, base_ports[i], "", &node_ids[i],
                                               &err) == 0, "%s", err.message);
        api_ports[i] = testutil_free_port();
    }
    /* Node 0's keystore (light scrypt: a test) and the password file. */
    struct mc_keystore_params light = {.kdf = MC_KDF_SCRYPT, .scrypt_log2_n = 10};
    char *json, keystore[128], password[128];
    ck_assert_int_eq(mc_keystore_encrypt(node_keys[0], "pw", 2, &light, &json, &err), 0);
    snprintf(keystore, sizeof keystore, "%s/node0.json", dir);
    ck_assert_int_eq(mc_keystore_write_file(keystore, json, &err), 0);
    free(json);
    snprintf(password, sizeof password, "%s/password", dir);
    FILE *pw = fopen(password, "w");
    fputs("pw\n", pw);
    fclose(pw);
    cleanup_docker();
    for (int i = 0; i < NODES; i++) start_core(i);
}

static void teardown(void)
{
    for (int i = 0; i <= NODES; i++)
        if (cores[i] > 0) testutil_stop_process(cores[i]);
    cleanup_docker();
    testutil_stop_process(anvil_pid);
    mc_rpc_close(rpc);
    docker_close(docker);
    char cmd[256];
    /* COHORT_TEST_KEEP=1 keeps the folder (cohort-core's logs) for a post-mortem. */
    if (getenv("COHORT_TEST_KEEP") != NULL) {
        fprintf(stderr, "kept %s\n", dir);
        return;
    }
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

static uint64_t create_chain(const char *name, unsigned size)
{
    uint64_t id = 0;
    struct cohort_error err = {0};
    ck_assert_msg(mc_manager_create_chain(rpc, deployer, &deployment, name, size, 1, &id, &err) == 0, "%s", err.message);
    return id;
}

/* Which node runs a chain, and its first slot there, from the manager. */
static int member_of(const char *chain, unsigned *first_slot)
{
    struct mc_chain_info c;
    struct cohort_error err = {0};
    ck_assert_int_eq(mc_manager_get_chain_by_name(rpc, &deployment, chain, &c, &err), 0);
    for (int i = 0; i < NODES; i++)
        if (c.node_ids[0] == node_ids[i]) {
            *first_slot = c.first_slots[0];
            return i;
        }
    ck_abort_msg("chain %s on an unknown node", chain);
    return -1;
}

static bool wait_for(int port, const char *path, const char *expect, int seconds)
{
    char body[8192];
    for (int i = 0; i < seconds * 20; i++) {
        if (testutil_http_get(port, path, body, sizeof body) == 200 && (expect == NULL || strstr(body, expect))) return true;
        usleep(50000);
    }
    return false;
}

/* Names as cohort-core makes them, with its install id (a provisioner initialised for naming does no I/O). */
static void names(int node, const char *chain, char *container, char *volume)
{
    char state[128];
    snprintf(state, sizeof state, "%s/state%d", dir, node);
    struct node_state ns;
    struct cohort_error err = {0};
    ck_assert_msg(node_state_read(state, &ns, &err) == 0, "%s", err.message);
    struct provisioner p;
    struct provision_options o = {.manager = manager_hex, .node_id = node_ids[node], .install_id = ns.install_id,
                                  .image = "x"};
    provision_init(&p, &o, NULL);
    if (container) provision_container_name(&p, chain, container, DOCKER_NAME_MAX);
    if (volume) provision_volume_name(&p, chain, volume, DOCKER_NAME_MAX);
    provision_free(&p);
}

static bool inspect(int node, const char *chain, struct docker_container *c)
{
    char name[DOCKER_NAME_MAX];
    names(node, chain, name, NULL);
    return docker_container_inspect(docker, name, c, NULL) == 0;
}

static long cgroup_value(const char *controller, const char *id, const char *file)
{
    char path[512], buf[64] = {0};
    snprintf(path, sizeof path, "/sys/fs/cgroup/%s/docker/%s/%s", controller, id, file);
    FILE *f = fopen(path, "r");
    if (f == NULL) return -2;
    if (fgets(buf, sizeof buf, f) == NULL) buf[0] = '\0';
    fclose(f);
    return atol(buf);
}

START_TEST(chains_come_up_and_stay_up)
{
    char small[64], medium[64], large[64];
    snprintf(small, sizeof small, "s%d", (int)getpid());
    snprintf(medium, sizeof medium, "m%d", (int)getpid());
    snprintf(large, sizeof large, "l%d", (int)getpid());
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    /* The large chain first: it takes a whole node, so the other two must go to the other one
       (created after, the manager's random pick could spread them and leave no empty node). */
    create_chain(large, 128);
    create_chain(small, 1);
    create_chain(medium, 16);

    const char *chains[3] = {small, medium, large};
    const unsigned sizes[3] = {1, 16, 128};
    for (int k = 0; k < 3; k++) {
        unsigned first;
        int node = member_of(chains[k], &first);
        int port = base_ports[node] + (int)first * 8;
        char expect[96];
        snprintf(expect, sizeof expect, "\"chain_name\":\"%s\"", chains[k]);
        ck_assert_msg(wait_for(port, "/status", expect, 30), "chain %s did not answer on port %d", chains[k], port);
        struct docker_container c;
        ck_assert(inspect(node, chains[k], &c));
        char node_label[24], slot_label[8];
        snprintf(node_label, sizeof node_label, "%llu", (unsigned long long)node_ids[node]);
        snprintf(slot_label, sizeof slot_label, "%u", first);
        ck_assert_str_eq(docker_container_label(&c, "cohort.node"), node_label);
        ck_assert_str_eq(docker_container_label(&c, "cohort.chain"), chains[k]);
        ck_assert_str_eq(docker_container_label(&c, "cohort.slot"), slot_label);
        ck_assert_int_eq(c.cpu_shares, 1024 * (int64_t)sizes[k] / 128 < 2 ? 2 : 1024 * (int64_t)sizes[k] / 128);
        int64_t memory = (int64_t)(34359738368.0 * 0.8 * sizes[k] / 128) & ~4095;
        ck_assert_int_eq(c.memory_bytes, memory);
        ck_assert_int_eq(cgroup_value("memory", c.id, "memory.limit_in_bytes"), memory);
        ck_assert_int_eq(cgroup_value("cpu", c.id, "cpu.shares"), c.cpu_shares);
        ck_assert_int_eq(cgroup_value("pids", c.id, "pids.max"), 64 * (long)sizes[k]);
        ck_assert(c.read_only_rootfs && c.network_host && c.cap_drop_all && c.no_new_privileges);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    /* Node 0 got there through its second RPC endpoint, with the right key: healthy. Node 1
       was given node 0's keystore: it runs its chains but reports the wrong key. */
    ck_assert(wait_for(api_ports[0], "/healthz", "ok", 10));
    char health[2048];
    ck_assert_int_eq(testutil_http_get(api_ports[1], "/healthz", health, sizeof health), 503);
    ck_assert_msg(strstr(health, "not node") != NULL && strstr(health, "registered key") != NULL, "%s", health);
    fprintf(stderr, "e2e: three chains created and answering in %.2f s\n",
            (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);

    /* docker kill: cohort-core restarts it (after the first backoff) and counts it. */
    unsigned first;
    int node = member_of(small, &first);
    char name[DOCKER_NAME_MAX];
    names(node, small, name, NULL);
    struct cohort_error err = {0};
    ck_assert_int_eq(docker_container_kill(docker, name, "KILL", &err), 0);
    bool restarted = false;
    for (int i = 0; i < 600 && !restarted; i++) {
        char body[8192];
        const char *r;
        if (testutil_http_get(api_ports[node], "/api/v1/subnodes", body, sizeof body) == 200 &&
            (r = strstr(body, "\"restarts\":")) != NULL)
            restarted = atoi(r + 11) >= 1;
        if (!restarted) usleep(50000);
    }
    ck_assert_msg(restarted, "no restart counted in 30 s");
    ck_assert(wait_for(base_ports[node] + (int)first * 8, "/status", small, 30));

    /* SIGKILL cohort-core and start it again with the default disk budget (the state dir's
       free space, which has changed meanwhile): it adopts, recreates nothing, and says so. */
    struct docker_container before, after;
    ck_assert(inspect(node, small, &before));
    kill(cores[node], SIGKILL);
    waitpid(cores[node], NULL, 0);
    start_core(node);
    ck_assert(wait_for(api_ports[node], "/api/v1/subnodes", small, 30));
    sleep(1); /* a few rounds */
    ck_assert(inspect(node, small, &after));
    ck_assert_str_eq(after.id, before.id);
    char node_label[24];
    snprintf(node_label, sizeof node_label, "%llu", (unsigned long long)node_ids[node]);
    struct docker_label mine[2] = {{"cohort.manager", manager_hex}, {"cohort.node", node_label}};
    struct docker_container *list;
    size_t n;
    ck_assert_int_eq(docker_container_list(docker, mine, 2, &list, &n, &err), 0);
    size_t expected = 0;
    for (int k = 0; k < 3; k++) {
        unsigned f;
        expected += member_of(chains[k], &f) == node;
    }
    ck_assert_uint_eq(n, expected);
    free(list);
    char log_path[128], log[1 << 16] = "";
    snprintf(log_path, sizeof log_path, "%s/core%d.log", dir, node);
    FILE *lf = fopen(log_path, "r");
    ck_assert_ptr_nonnull(lf);
    log[fread(log, 1, sizeof log - 1, lf)] = '\0';
    fclose(lf);
    char adopted[128];
    snprintf(adopted, sizeof adopted, "chain=%s container=%.12s", small, before.id);
    ck_assert_msg(strstr(log, "adopted running subnode") != NULL && strstr(log, adopted) != NULL, "%s", log);
    ck_assert_msg(strstr(log, "recreating") == NULL, "%s", log);

    /* Delete a chain: its container and its volume go. */
    struct mc_chain_info info;
    ck_assert_int_eq(mc_manager_get_chain_by_name(rpc, &deployment, small, &info, &err), 0);
    ck_assert_int_eq(mc_manager_delete_chain(rpc, deployer, &deployment, info.id, &err), 0);
    char volume[DOCKER_NAME_MAX];
    names(node, small, NULL, volume);
    bool gone = false;
    for (int i = 0; i < 300 && !gone; i++) {
        gone = !inspect(node, small, &after) && docker_volume_inspect(docker, volume, NULL, 0, NULL) == DOCKER_E_NOT_FOUND;
        if (!gone) usleep(50000);
    }
    ck_assert_msg(gone, "the deleted chain's container or volume is still there");

    /* A node id the manager does not know: the daemon runs, unhealthy, and says why. */
    api_ports[NODES] = testutil_free_port();
    base_ports[NODES] = (uint16_t)(TESTUTIL_PORTS_NODE_E2E + 1100 * NODES);
    start_core(NODES);
    health[0] = '\0';
    bool told = false;
    for (int i = 0; i < 200 && !told; i++) {
        told = testutil_http_get(api_ports[NODES], "/healthz", health, sizeof health) == 503 &&
               strstr(health, "node 999 is not registered") != NULL;
        if (!told) usleep(50000);
    }
    ck_assert_msg(told, "healthz: %s", health);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("node-e2e");
    TCase *tc = tcase_create("e2e");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, chains_come_up_and_stay_up);
    suite_add_tcase(s, tc);
    return testutil_run_suite(s, true);
}
