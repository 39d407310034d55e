/*
 * test_node_scale.c - cohort-core at the edges, with real processes: a node filled with
 * 128 small chains runs all 128 subnodes and the manager refuses a 129th; and a dockerd
 * that goes away and comes back is survived without help. The second case runs its own
 * private dockerd (socket and data under a temporary folder, no bridge, no iptables), so
 * the test stops only a daemon it started.
 */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/hex.h"
#include "common/secp.h"
#include "core/provision.h"
#include "manager-client/manager_client.h"
#include "testutil.h"

static char anvil_url[64], dir[64], image[128], docker_socket[108];
static int anvil_pid, dockerd_pid, core_pid, api_port;
static struct mc_rpc *rpc;
static struct mc_deployment deployment;
static uint8_t deployer[32], node_key[32];
static uint64_t node_id;
static uint16_t base_port;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void build_image(const char *socket_path) { testutil_build_subnode_image(socket_path, image, sizeof image); }

/* anvil, the manager, one registered node. */
static void setup_manager(void)
{
    anvil_pid = testutil_start_anvil(anvil_url, sizeof anvil_url, NULL);
    snprintf(dir, sizeof dir, "/tmp/cohort-scale-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    struct cohort_error err = {0};
    struct mc_rpc_options o = {.url = anvil_url};
    ck_assert_int_eq(mc_rpc_open(&rpc, &o, &err), 0);
    ck_assert_int_eq(hex_decode_exact("0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80", deployer, 32, &err), 0);
    ck_assert_int_eq(mc_manager_deploy(rpc, deployer, &deployment, &err), 0);
    char path[128];
    snprintf(path, sizeof path, "%s/manager.json", dir);
    ck_assert_int_eq(mc_deployment_save(path, &deployment, &err), 0);
    /* The deployer registers the node itself: one key is enough here. */
    memcpy(node_key, deployer, 32);
    base_port = TESTUTIL_PORTS_NODE_SCALE;
    uint8_t ip[4] = {127, 0, 0, 1};
    ck_assert_msg(mc_manager_register_node(rpc, node_key, &deployment, "scale", ip, base_port, "", &node_id, &err) == 0,
                  "%s", err.message);
    api_port = testutil_free_port();
}

static void start_core(const char *socket_path)
{
    char node[24], api[16], base[16], state[128], manager[128], log[128];
    snprintf(node, sizeof node, "%llu", (unsigned long long)node_id);
    snprintf(api, sizeof api, "%d", api_port);
    snprintf(base, sizeof base, "%u", (unsigned)base_port);
    snprintf(state, sizeof state, "%s/state", dir);
    snprintf(manager, sizeof manager, "%s/manager.json", dir);
    snprintf(log, sizeof log, "%s/core.log", dir);
    const char *args[] = {"--node-id", node, "--manager-rpc", anvil_url, "--manager-file", manager, "--state-dir",
                          state, "--api-port", api, "--base-port", base, "--image", image, "--confirmations", "0",
                          "--poll-ms", "200", "--memory-bytes", "17179869184", "--docker-socket",
                          socket_path ? socket_path : "/var/run/docker.sock", NULL};
    core_pid = testutil_start_core(args, log, api_port);
}

static void remove_node_objects(const char *socket_path)
{
    struct docker_client *docker;
    if (docker_open(&docker, socket_path, NULL) != 0) return;
    char node[24];
    snprintf(node, sizeof node, "%llu", (unsigned long long)node_id);
    char manager[43];
    hex_encode(deployment.address, 20, manager, sizeof manager);
    struct docker_label mine[2] = {{"cohort.manager", manager}, {"cohort.node", node}};
    testutil_docker_remove_labelled(docker, mine, 2);
    docker_close(docker);
}

static void teardown(void)
{
    testutil_stop_process(core_pid);
    core_pid = 0;
    remove_node_objects(dockerd_pid ? docker_socket : NULL);
    if (dockerd_pid) {
        char cmd[512];
        snprintf(cmd, sizeof cmd, "DOCKER_HOST=unix://%s docker rmi -f %s >/dev/null 2>&1", docker_socket, image);
        if (system(cmd) != 0) { /* the data root goes below anyway */
        }
        testutil_stop_process_within(dockerd_pid, 30000);
        dockerd_pid = 0;
    }
    testutil_stop_process(anvil_pid);
    mc_rpc_close(rpc);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
}

static int count_healthy(int n)
{
    int ready = 0;
    char body[256];
    for (int i = 0; i < n; i++) ready += testutil_http_get(base_port + i * 8, "/healthz", body, sizeof body) == 200;
    return ready;
}

START_TEST(full_node_of_small_chains)
{
    testutil_require_dockerd();
    build_image(NULL);
    setup_manager();
    remove_node_objects(NULL);
    start_core(NULL);
    struct cohort_error err = {0};
    double t0 = now_s();
    for (int i = 0; i < 128; i++) {
        char name[32];
        uint64_t id;
        snprintf(name, sizeof name, "full-%d-%d", (int)getpid(), i);
        ck_assert_msg(mc_manager_create_chain(rpc, deployer, &deployment, name, 1, 1, &id, &err) == 0, "chain %d: %s", i,
                      err.message);
    }
    double t1 = now_s();
    /* The node is full: the contract refuses a 129th assignment. */
    uint64_t id;
    ck_assert_int_eq(mc_manager_create_chain(rpc, deployer, &deployment, "one-too-many", 1, 1, &id, &err), MC_E_REVERTED);
    ck_assert_msg(strstr(err.message, "not enough capacity") != NULL, "%s", err.message);
    int ready = 0;
    while (ready < 128 && now_s() - t1 < 180) {
        ready = count_healthy(128);
        if (ready < 128) usleep(200000);
    }
    double t2 = now_s();
    fprintf(stderr, "scale: 128 chains created in %.1f s; all 128 subnodes healthy %.1f s after the last\n", t1 - t0, t2 - t1);
    ck_assert_int_eq(ready, 128);
    /* The API shows the last round's view of Docker: wait for a round after the last start. */
    static char body[1 << 18];
    int running = 0;
    for (int i = 0; i < 100 && running < 128; i++) {
        ck_assert_int_eq(testutil_http_get(api_port, "/api/v1/subnodes", body, sizeof body), 200);
        running = 0;
        for (char *p = body; (p = strstr(p, "\"state\":\"running\"")); p++) running++;
        if (running < 128) usleep(100000);
    }
    ck_assert_int_eq(running, 128);
}
END_TEST

START_TEST(survives_a_dockerd_restart)
{
    char docker_dir[128];
    setup_manager();
    snprintf(docker_dir, sizeof docker_dir, "%s/docker", dir);
    ck_assert_int_eq(mkdir(docker_dir, 0700), 0);
    dockerd_pid = testutil_start_private_dockerd(docker_dir, docker_socket, sizeof docker_socket);
    build_image(docker_socket);
    start_core(docker_socket);
    struct cohort_error err = {0};
    uint64_t id;
    ck_assert_int_eq(mc_manager_create_chain(rpc, deployer, &deployment, "restart", 1, 1, &id, &err), 0);
    char body[4096];
    bool up = false;
    for (int i = 0; i < 300 && !up; i++) {
        up = testutil_http_get(base_port, "/healthz", body, sizeof body) == 200;
        if (!up) usleep(50000);
    }
    ck_assert_msg(up, "the subnode did not come up");

    /* dockerd goes away (stopping its containers); cohort-core says so and waits. */
    testutil_stop_process_within(dockerd_pid, 30000);
    dockerd_pid = 0;
    bool degraded = false;
    for (int i = 0; i < 100 && !degraded; i++) {
        degraded = testutil_http_get(api_port, "/healthz", body, sizeof body) == 503 && strstr(body, "docker") != NULL;
        if (!degraded) usleep(100000);
    }
    ck_assert_msg(degraded, "healthz did not report dockerd missing: %s", body);

    /* dockerd comes back with the same data: cohort-core reconnects and starts the subnode. */
    dockerd_pid = testutil_start_private_dockerd(docker_dir, docker_socket, sizeof docker_socket);
    up = false;
    for (int i = 0; i < 600 && !up; i++) {
        up = testutil_http_get(base_port, "/healthz", body, sizeof body) == 200;
        if (!up) usleep(100000);
    }
    ck_assert_msg(up, "the subnode did not come back after dockerd restarted");
    bool healthy = false;
    for (int i = 0; i < 100 && !healthy; i++) {
        healthy = testutil_http_get(api_port, "/healthz", body, sizeof body) == 200;
        if (!healthy) usleep(100000);
    }
    ck_assert_msg(healthy, "cohort-core still degraded: %s", body);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("node-scale");
    TCase *tc = tcase_create("scale");
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_set_timeout(tc, 400);
    tcase_add_test(tc, full_node_of_small_chains);
    tcase_add_test(tc, survives_a_dockerd_restart);
    suite_add_tcase(s, tc);
    return testutil_run_suite(s, true);
}
