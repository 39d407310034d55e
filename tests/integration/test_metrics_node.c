/*
 * test_metrics_node.c - issue 18 end to end with real servers: a real anvil with the
 * manager deployed, a registered node whose cohort-core (the real binary) runs two chains'
 * subnodes on a private dockerd the test starts (so it can stop it), a real PostgreSQL 15
 * for the history and a real Prometheus scraping the node. Every server is started by the
 * test in a temporary folder on 127.0.0.1 and stopped by its PID; the containers carry this
 * test's manager and node labels and are removed at the end.
 *
 *   metrics:  /metrics passes `promtool check metrics`; the cgroup figures agree with
 *             Docker's stats API for the same containers; Prometheus scrapes cohort-core and
 *             a PromQL query returns each subnode's CPU series;
 *   history:  samples land in PostgreSQL and come back through /api/v1/metrics; a restart
 *             of cohort-core keeps them; PostgreSQL stopped for 30 s under sampling:
 *             cohort-core keeps serving fast, health says why, the outage is counted, and
 *             the samples taken meanwhile land once it is back; /api/v1/usage meters it;
 *   health:   a subnode killed, dockerd stopped, the manager's RPC pointed at nothing: the
 *             right check fails with a clear reason, and recovers;
 *   the CLI:  cohort status, health, metrics, usage against the node;
 *   the page: headless Chromium loads /, with no console errors, one panel per chain whose
 *             chart holds the recorded points; a screenshot stays in the build folder.
 */
#include <check.h>
#include <cjson/cJSON.h>
#include <math.h>
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
#include "core/node_state.h"
#include "core/provision.h"
#include "docker/docker.h"
#include "manager-client/manager_client.h"
#include "metrics_servers.h"
#include "testutil.h"

#define NODE_MEMORY "34359738368"
#define CHAINS 2

static char anvil_url[64], dir[64], image[128], docker_dir[64], docker_socket[108], manager_hex[43];
static int anvil_pid, dockerd_pid, api_port;
static pid_t core_pid;
static struct mc_rpc *rpc;
static struct mc_deployment deployment;
static struct docker_client *docker;
static uint8_t deployer[32], node_key[32];
static uint64_t node_id;
static struct test_postgres pg;
static struct test_prometheus prom;
static char chains[CHAINS][32];

static const char *dev0 = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static double monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void start_core(const char *manager_rpc)
{
    char node[24], api[16], base[16], state[128], manager[128], log[128];
    snprintf(node, sizeof node, "%llu", (unsigned long long)node_id);
    snprintf(api, sizeof api, "%d", api_port);
    snprintf(base, sizeof base, "%d", TESTUTIL_PORTS_METRICS_NODE);
    snprintf(state, sizeof state, "%s/state", dir);
    snprintf(manager, sizeof manager, "%s/manager.json", dir);
    snprintf(log, sizeof log, "%s/core.log", dir);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        FILE *f = freopen(log, "a", stderr);
        (void)f;
        char bin[1100];
        snprintf(bin, sizeof bin, "%s/bin/cohort-core", getenv("COHORT_BUILD_DIR"));
        execl(bin, bin, "--node-id", node, "--manager-rpc", manager_rpc, "--manager-file", manager, "--state-dir", state,
              "--api-port", api, "--base-port", base, "--image", image, "--confirmations", "0", "--poll-ms", "200",
              "--memory-bytes", NODE_MEMORY, "--disk-bytes", "137438953472", "--docker-socket", docker_socket,
              "--metrics-interval-ms", "1000", "--metrics-database", pg.url, (char *)NULL);
        _exit(127);
    }
    core_pid = pid;
    ck_assert_int_eq(testutil_wait_port(api_port, 10000), 0);
}

static void stop_core(void)
{
    if (core_pid > 0) testutil_stop_process(core_pid);
    core_pid = 0;
}

static void cleanup_docker(void)
{
    if (docker == NULL) return;
    char node[24];
    snprintf(node, sizeof node, "%llu", (unsigned long long)node_id);
    struct docker_label mine[2] = {{"cohort.manager", manager_hex}, {"cohort.node", node}};
    testutil_docker_remove_labelled(docker, mine, 2);
}

static void start_dockerd(void)
{
    dockerd_pid = testutil_start_private_dockerd(docker_dir, docker_socket, sizeof docker_socket);
    struct cohort_error err = {0};
    if (docker) docker_close(docker);
    ck_assert_msg(docker_open(&docker, docker_socket, &err) == 0, "%s", err.message);
}

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/cohort-metrics-node-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(docker_dir, sizeof docker_dir, "/tmp/cohort-mdocker-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(docker_dir));
    start_dockerd();
    testutil_build_subnode_image(docker_socket, image, sizeof image);
    test_postgres_init(&pg);

    anvil_pid = testutil_start_anvil(anvil_url, sizeof anvil_url, NULL);
    struct mc_rpc_options o = {.url = anvil_url};
    struct cohort_error err = {0};
    ck_assert_int_eq(mc_rpc_open(&rpc, &o, &err), 0);
    ck_assert_int_eq(hex_decode_exact(dev0, deployer, 32, &err), 0);
    /* The node's key, funded before the deployment: the deployer's nonce is then 1, so this
       manager's address (and the namespace of its containers) differs from the other node
       tests' on a fresh anvil, and they may run beside this one. */
    uint8_t address[20];
    ck_assert_int_eq(secp_key_generate(node_key, &err), 0);
    ck_assert_int_eq(secp_address_from_secret(node_key, address, &err), 0);
    testutil_fund(anvil_url, address);
    ck_assert_msg(mc_manager_deploy(rpc, deployer, &deployment, &err) == 0, "%s", err.message);
    char path[128];
    snprintf(path, sizeof path, "%s/manager.json", dir);
    ck_assert_int_eq(mc_deployment_save(path, &deployment, &err), 0);
    hex_encode(deployment.address, 20, manager_hex, sizeof manager_hex);
    uint8_t ip[4] = {127, 0, 0, 1};
    char name[32];
    snprintf(name, sizeof name, "metrics-%d", (int)getpid());
    ck_assert_msg(mc_manager_register_node(rpc, node_key, &deployment, name, ip, TESTUTIL_PORTS_METRICS_NODE, "",
                                           &node_id, &err) == 0, "%s", err.message);
    api_port = testutil_free_port();
    cleanup_docker();
    start_core(anvil_url);
}

static void teardown(void)
{
    stop_core();
    test_prometheus_stop(&prom);
    cleanup_docker();
    docker_close(docker);
    docker = NULL;
    if (dockerd_pid > 0) testutil_stop_process_within(dockerd_pid, 20000);
    dockerd_pid = 0;
    testutil_stop_process(anvil_pid);
    mc_rpc_close(rpc);
    test_postgres_destroy(&pg);
    char cmd[256];
    if (getenv("COHORT_TEST_KEEP") != NULL) {
        fprintf(stderr, "kept %s and %s\n", dir, docker_dir);
        return;
    }
    /* The private dockerd leaves its network namespace file mounted in its exec root. */
    snprintf(cmd, sizeof cmd, "awk '$2 ~ \"^%s/\" {print $2}' /proc/mounts | xargs -r -n1 umount", docker_dir);
    ck_assert_int_eq(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s'", dir, docker_dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* ---- Helpers ---- */

static char body[1 << 20];

/* GET on cohort-core's API; returns the status, the body in `body`. */
static int api(const char *path) { return testutil_http_get(api_port, path, body, sizeof body); }

static cJSON *api_json(const char *path, int expect_status)
{
    int status = api(path);
    ck_assert_msg(status == expect_status, "%s: HTTP %d: %.300s", path, status, body);
    cJSON *j = cJSON_Parse(body);
    ck_assert_msg(j != NULL, "%s: not JSON: %.300s", path, body);
    return j;
}

/* The subnode object of chain in /api/v1/status, or NULL (the caller frees status). */
static cJSON *subnode_of(cJSON *status, const char *chain)
{
    cJSON *s;
    cJSON_ArrayForEach(s, cJSON_GetObjectItem(status, "subnodes"))
    if (strcmp(cJSON_GetObjectItem(s, "chain")->valuestring, chain) == 0) return s;
    return NULL;
}

/* Every chain's subnode running, its usage read and its /status answered. */
static bool all_sampled(void)
{
    if (api("/api/v1/status") != 200) return false;
    cJSON *j = cJSON_Parse(body);
    bool ok = j != NULL;
    for (int i = 0; ok && i < CHAINS; i++) {
        cJSON *s = subnode_of(j, chains[i]);
        ok = s && cJSON_IsTrue(cJSON_GetObjectItem(s, "usage_ok")) && cJSON_IsTrue(cJSON_GetObjectItem(s, "status_ok"));
    }
    cJSON_Delete(j);
    return ok;
}

static void wait_all_sampled(int seconds)
{
    for (int i = 0; i < seconds * 10 && !all_sampled(); i++) usleep(100000);
    ck_assert_msg(all_sampled(), "not every subnode sampled within %d s: %.600s", seconds, body);
}

/* The check `name` of chain ("" for the node) in /api/v1/health: its status; its reason into reason. */
static const char *check_status(const char *name, const char *chain, char *reason, size_t size)
{
    static char status[16];
    snprintf(status, sizeof status, "absent");
    int code = api("/api/v1/health");
    if (code != 200 && code != 503) return status;
    cJSON *j = cJSON_Parse(body);
    cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(j, "checks"))
    {
        if (strcmp(cJSON_GetObjectItem(c, "check")->valuestring, name) == 0 &&
            strcmp(cJSON_GetObjectItem(c, "chain")->valuestring, chain) == 0) {
            snprintf(status, sizeof status, "%s", cJSON_GetObjectItem(c, "status")->valuestring);
            if (reason) snprintf(reason, size, "%s", cJSON_GetObjectItem(c, "reason")->valuestring);
        }
    }
    cJSON_Delete(j);
    return status;
}

/* Waits until the check has the status wanted; returns its reason then. */
static void wait_check(const char *name, const char *chain, const char *want, int seconds, char *reason, size_t size)
{
    char r[1024] = "";
    const char *got = "";
    for (int i = 0; i < seconds * 20; i++) {
        got = check_status(name, chain, r, sizeof r);
        if (strcmp(got, want) == 0) break;
        usleep(50000);
    }
    ck_assert_msg(strcmp(got, want) == 0, "check %s '%s': %s, not %s, after %d s (%s)", name, chain, got, want, seconds, r);
    if (reason) snprintf(reason, size, "%s", r);
}

/* A value from the Prometheus text: the first line starting with `prefix`. NAN when absent. */
static double metric(const char *text, const char *prefix)
{
    const char *p = strstr(text, prefix);
    return p ? strtod(p + strlen(prefix), NULL) : NAN;
}

static int promtool_check(const char *text, char *output, size_t size)
{
    char in[128], cmd[300];
    snprintf(in, sizeof in, "%s/metrics.txt", dir);
    FILE *f = fopen(in, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "promtool check metrics < %s 2>&1", in);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    size_t n = fread(output, 1, size - 1, p);
    output[n] = '\0';
    return WEXITSTATUS(pclose(p));
}

/* The container's name as cohort-core makes it, with its install id (from its state dir). */
static void container_of(const char *chain, char *name)
{
    char state[128];
    snprintf(state, sizeof state, "%s/state", dir);
    struct node_state ns;
    struct cohort_error err = {0};
    ck_assert_msg(node_state_read(state, &ns, &err) == 0, "%s", err.message);
    struct provisioner p;
    struct provision_options o = {.manager = manager_hex, .node_id = node_id, .install_id = ns.install_id, .image = "x"};
    provision_init(&p, &o, NULL);
    provision_container_name(&p, chain, name, DOCKER_NAME_MAX);
    provision_free(&p);
}

/* ---- The test ---- */

static void metrics_and_prometheus(void)
{
    char prefix[160], output[8192];
    /* /metrics is valid exposition text with each subnode's figures. */
    ck_assert_int_eq(api("/metrics"), 200);
    static char text[1 << 20];
    snprintf(text, sizeof text, "%s", body);
    int rc = promtool_check(text, output, sizeof output);
    ck_assert_msg(rc == 0 && output[0] == '\0', "promtool check metrics: %d: %s", rc, output);
    for (int i = 0; i < CHAINS; i++) {
        snprintf(prefix, sizeof prefix, "cohort_subnode_cpu_usage_seconds_total{node=\"%llu\",chain=\"%s\"} ",
                 (unsigned long long)node_id, chains[i]);
        ck_assert_msg(metric(text, prefix) > 0, "no CPU for %s", chains[i]);
        snprintf(prefix, sizeof prefix, "cohort_subnode_spec_memory_limit_bytes{node=\"%llu\",chain=\"%s\"} ",
                 (unsigned long long)node_id, chains[i]);
        /* A small chain: RAM * 0.8 / 128, page-aligned, as test_node_e2e checks against Docker. */
        ck_assert_msg(metric(text, prefix) == (double)((int64_t)(34359738368.0 * 0.8 / 128) & ~4095), "%g", metric(text, prefix));
        snprintf(prefix, sizeof prefix, "cohort_subnode_status_up{node=\"%llu\",chain=\"%s\"} ", (unsigned long long)node_id,
                 chains[i]);
        ck_assert(metric(text, prefix) == 1);
    }
    snprintf(prefix, sizeof prefix, "cohort_node_slots_used{node=\"%llu\"} ", (unsigned long long)node_id);
    ck_assert(metric(text, prefix) == CHAINS);

    /* The cgroup figures against Docker's own stats API for the same container. */
    char name[DOCKER_NAME_MAX];
    container_of(chains[0], name);
    struct docker_stats stats;
    struct cohort_error err = {0};
    ck_assert_msg(docker_container_stats(docker, name, &stats, &err) == 0, "%s", err.message);
    cJSON *status = api_json("/api/v1/status", 200);
    cJSON *values = cJSON_GetObjectItem(subnode_of(status, chains[0]), "values");
    double cpu = cJSON_GetObjectItem(values, "cpu_seconds")->valuedouble;
    double pids = cJSON_GetObjectItem(values, "pids")->valuedouble;
    double usage = cJSON_GetObjectItem(values, "memory_usage_bytes")->valuedouble;
    ck_assert_msg(fabs(cpu - (double)stats.cpu_total_ns / 1e9) < 1.0, "cgroup %g s, Docker %g s", cpu, (double)stats.cpu_total_ns / 1e9);
    ck_assert_msg(pids == (double)stats.pids, "pids: cgroup %g, Docker %llu", pids, (unsigned long long)stats.pids);
    ck_assert_msg(usage > 0 && stats.memory_usage_bytes <= (uint64_t)usage * 2 + (1 << 20), "memory: cgroup %g, Docker %llu",
                  usage, (unsigned long long)stats.memory_usage_bytes);
    ck_assert(cJSON_IsNull(cJSON_GetObjectItem(values, "network_receive_bytes"))); /* host network: none of its own */
    cJSON_Delete(status);

    /* A real Prometheus scrapes cohort-core; PromQL returns each subnode's CPU series. */
    test_prometheus_start(&prom, api_port);
    char query[256], pbody[65536];
    snprintf(query, sizeof query, "/api/v1/query?query=cohort_subnode_cpu_usage_seconds_total%%7Bnode%%3D%%22%llu%%22%%7D",
             (unsigned long long)node_id);
    int found = 0;
    for (int i = 0; i < 300 && found < CHAINS; i++) {
        found = 0;
        if (testutil_http_get(prom.port, query, pbody, sizeof pbody) == 200) {
            cJSON *j = cJSON_Parse(pbody);
            cJSON *r;
            cJSON_ArrayForEach(r, cJSON_GetObjectItem(cJSON_GetObjectItem(j, "data"), "result"))
            {
                const char *chain = cJSON_GetObjectItem(cJSON_GetObjectItem(r, "metric"), "chain")->valuestring;
                double v = atof(cJSON_GetArrayItem(cJSON_GetObjectItem(r, "value"), 1)->valuestring);
                for (int k = 0; k < CHAINS; k++) found += strcmp(chain, chains[k]) == 0 && v > 0;
            }
            cJSON_Delete(j);
        }
        if (found < CHAINS) usleep(100000);
    }
    ck_assert_msg(found == CHAINS, "Prometheus has %d of %d CPU series: %.500s", found, CHAINS, pbody);
    /* Its target is up, and a rate over the series is computed (the series is a counter over time). */
    snprintf(query, sizeof query, "/api/v1/query?query=up%%7Bjob%%3D%%22cohort%%22%%7D");
    ck_assert_int_eq(testutil_http_get(prom.port, query, pbody, sizeof pbody), 200);
    ck_assert_msg(strstr(pbody, "\"1\"]") != NULL, "%s", pbody);
    test_prometheus_stop(&prom);
}

/* The number of points of chain in /api/v1/metrics?chain=&since=, and the source. */
static size_t points_of(const char *chain, const char *since, char *source, size_t size, int64_t *first_ms)
{
    char path[256];
    snprintf(path, sizeof path, "/api/v1/metrics?chain=%s&since=%s", chain, since);
    cJSON *j = api_json(path, 200);
    snprintf(source, size, "%s", cJSON_GetObjectItem(j, "source")->valuestring);
    cJSON *c = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "chains"), 0);
    cJSON *times = cJSON_GetObjectItem(c, "times");
    size_t n = (size_t)cJSON_GetArraySize(times);
    if (first_ms) *first_ms = n ? (int64_t)cJSON_GetArrayItem(times, 0)->valuedouble : 0;
    /* Each point holds the CPU of a running subnode. */
    cJSON *cpu = cJSON_GetObjectItem(cJSON_GetObjectItem(c, "series"), "cpu_seconds");
    ck_assert_int_eq(cJSON_GetArraySize(cpu), (int)n);
    cJSON_Delete(j);
    return n;
}

static void history_in_postgresql(void)
{
    char source[32], sql[256];
    /* Samples reach PostgreSQL and come back through the API. */
    for (int i = 0; i < 100; i++) {
        snprintf(sql, sizeof sql, "SELECT count(*) FROM cohort_samples WHERE node_id = %llu AND chain = '%s'",
                 (unsigned long long)node_id, chains[0]);
        if (atoi(test_psql(&pg, sql)) >= 3) break;
        usleep(100000);
    }
    ck_assert_int_ge(atoi(test_psql(&pg, sql)), 3);
    size_t n = points_of(chains[0], "10m", source, sizeof source, NULL);
    ck_assert_str_eq(source, "postgresql");
    ck_assert_uint_ge(n, 3);

    /* A restart of cohort-core keeps it: what was there before comes back after. */
    int64_t before_ms = wall_ms();
    int64_t first_before;
    points_of(chains[0], "10m", source, sizeof source, &first_before);
    stop_core();
    start_core(anvil_url);
    wait_all_sampled(30);
    int64_t first_after;
    size_t after = points_of(chains[0], "10m", source, sizeof source, &first_after);
    ck_assert_str_eq(source, "postgresql");
    ck_assert_int_eq(first_after, first_before);
    ck_assert_uint_gt(after, n);
    ck_assert_int_lt(first_after, before_ms);

    /* PostgreSQL away for 30 s under sampling. */
    test_postgres_stop(&pg);
    int64_t outage_from = wall_ms();
    char reason[1024];
    wait_check("history_database", "", "fail", 10, reason, sizeof reason);
    ck_assert_msg(strstr(reason, "postgresql") != NULL, "%s", reason);
    double slowest = 0;
    while (wall_ms() - outage_from < 30000) {
        double t0 = monotonic_ms();
        ck_assert_int_eq(api("/metrics"), 200);
        double took = monotonic_ms() - t0;
        if (took > slowest) slowest = took;
        ck_assert_int_eq(api("/api/v1/status"), 200);
        usleep(250000);
    }
    /* /metrics stayed fast, and the series still answer (from memory, saying so). */
    ck_assert_msg(slowest < 250, "/metrics took up to %.0f ms while the database was away", slowest);
    cJSON *j = api_json("/api/v1/metrics?since=1m", 200);
    ck_assert_str_eq(cJSON_GetObjectItem(j, "source")->valuestring, "memory");
    ck_assert_ptr_nonnull(cJSON_GetObjectItem(j, "warning"));
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "chains")), CHAINS);
    cJSON_Delete(j);
    ck_assert_int_eq(api("/metrics"), 200);
    char prefix[128];
    snprintf(prefix, sizeof prefix, "cohort_history_database_up{node=\"%llu\"} ", (unsigned long long)node_id);
    ck_assert(metric(body, prefix) == 0);
    snprintf(prefix, sizeof prefix, "cohort_history_rows_queued{node=\"%llu\"} ", (unsigned long long)node_id);
    ck_assert_msg(metric(body, prefix) >= 2 * 25, "queued %g", metric(body, prefix));
    int64_t outage_until = wall_ms();

    test_postgres_start(&pg);
    wait_check("history_database", "", "ok", 60, NULL, 0);
    for (int i = 0; i < 100; i++) {
        ck_assert_int_eq(api("/metrics"), 200);
        if (metric(body, prefix) == 0) break;
        usleep(100000);
    }
    ck_assert(metric(body, prefix) == 0);
    snprintf(prefix, sizeof prefix, "cohort_history_reconnects_total{node=\"%llu\"} ", (unsigned long long)node_id);
    ck_assert(metric(body, prefix) >= 1);
    snprintf(prefix, sizeof prefix, "cohort_history_write_errors_total{node=\"%llu\"} ", (unsigned long long)node_id);
    ck_assert(metric(body, prefix) >= 1);
    /* The samples taken during the outage landed: about one a second per chain. */
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM cohort_samples WHERE node_id = %llu AND chain = '%s' AND time >= to_timestamp(%lld) "
             "AND time < to_timestamp(%lld)",
             (unsigned long long)node_id, chains[0], (long long)(outage_from / 1000 + 1), (long long)(outage_until / 1000));
    int during = atoi(test_psql(&pg, sql));
    ck_assert_msg(during >= 25, "%d samples of the outage's 30 s in PostgreSQL", during);

    /* Metering from the history. */
    char path[200];
    snprintf(path, sizeof path, "/api/v1/usage?chain=%s&since=10m", chains[0]);
    j = api_json(path, 200);
    cJSON *u = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "chains"), 0);
    ck_assert_str_eq(cJSON_GetObjectItem(j, "source")->valuestring, "postgresql");
    ck_assert_str_eq(cJSON_GetObjectItem(u, "resolution")->valuestring, "raw");
    ck_assert_int_ge(cJSON_GetObjectItem(u, "samples")->valuedouble, 30);
    ck_assert(cJSON_GetObjectItem(u, "cpu_seconds")->valuedouble >= 0);
    ck_assert(cJSON_GetObjectItem(u, "memory_average_bytes")->valuedouble > 0);
    ck_assert(cJSON_GetObjectItem(u, "memory_peak_bytes")->valuedouble >= cJSON_GetObjectItem(u, "memory_average_bytes")->valuedouble);
    cJSON_Delete(j);
    ck_assert_int_eq(api("/api/v1/usage?chain=nosuchchain&since=10m"), 404);
    ck_assert_int_eq(api("/api/v1/usage?step=1m"), 400);
}

/* Runs `cohort ARGS --api <this node>`; returns its exit status, stdout and stderr in out. */
static int cli(const char *args, char *out, size_t size)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s/bin/cohort %s --api http://127.0.0.1:%d 2>&1", getenv("COHORT_BUILD_DIR"), args, api_port);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    size_t n = fread(out, 1, size - 1, p);
    out[n] = '\0';
    return WEXITSTATUS(pclose(p));
}

/* The restarts cohort-core counted for chain, from /api/v1/status. */
static double restarts_of(const char *chain)
{
    cJSON *j = api_json("/api/v1/status", 200);
    cJSON *s = subnode_of(j, chain);
    double r = s ? cJSON_GetObjectItem(cJSON_GetObjectItem(s, "values"), "restarts")->valuedouble : -1;
    cJSON_Delete(j);
    return r;
}

static void health_fails_and_recovers(void)
{
    char reason[1024], name[DOCKER_NAME_MAX];
    struct cohort_error err = {0};
    for (int i = 0; i < CHAINS; i++) {
        wait_check("container_running", chains[i], "ok", 30, NULL, 0);
        wait_check("rpc_answering", chains[i], "ok", 30, NULL, 0);
    }
    wait_check("dockerd_reachable", "", "ok", 30, NULL, 0);
    wait_check("manager_in_sync", "", "ok", 30, NULL, 0);

    /* A subnode killed twice: the second restart waits 2 s, so a sample sees it down. */
    container_of(chains[1], name);
    double restarts = restarts_of(chains[1]);
    ck_assert_int_eq(docker_container_kill(docker, name, "KILL", &err), 0);
    for (int i = 0; i < 300 && restarts_of(chains[1]) <= restarts; i++) usleep(100000);
    ck_assert_msg(restarts_of(chains[1]) > restarts, "no restart counted");
    struct docker_container c = {0};
    for (int i = 0; i < 300 && !(docker_container_inspect(docker, name, &c, NULL) == 0 && c.running); i++) usleep(100000);
    ck_assert(c.running);
    ck_assert_int_eq(docker_container_kill(docker, name, "KILL", &err), 0);
    wait_check("container_running", chains[1], "fail", 10, reason, sizeof reason);
    ck_assert_msg(strstr(reason, "exited") != NULL, "%s", reason);
    ck_assert_str_eq(check_status("container_running", chains[0], NULL, 0), "ok"); /* the other one is fine */
    wait_check("container_running", chains[1], "ok", 30, NULL, 0);
    wait_check("rpc_answering", chains[1], "ok", 30, NULL, 0);

    /* dockerd stopped: the node check fails naming the socket; back, it recovers. */
    docker_close(docker);
    docker = NULL;
    testutil_stop_process_within(dockerd_pid, 20000);
    dockerd_pid = 0;
    wait_check("dockerd_reachable", "", "fail", 30, reason, sizeof reason);
    ck_assert_msg(strstr(reason, docker_socket) != NULL, "%s", reason);
    ck_assert_int_eq(api("/metrics"), 200); /* still serving */
    static char out[65536];
    ck_assert_int_eq(cli("health", out, sizeof out), 1); /* `cohort health` fails, naming the check */
    ck_assert_msg(strstr(out, "dockerd_reachable") && strstr(out, "fail") && strstr(out, "failed"), "%s", out);
    start_dockerd();
    wait_check("dockerd_reachable", "", "ok", 60, NULL, 0);
    for (int i = 0; i < CHAINS; i++) wait_check("rpc_answering", chains[i], "ok", 60, NULL, 0);

    /* The manager's RPC pointed at nothing: reachable and in sync fail, saying so. */
    stop_core();
    char dead[64];
    snprintf(dead, sizeof dead, "http://127.0.0.1:%d", testutil_free_port());
    start_core(dead);
    wait_check("manager_reachable", "", "fail", 30, reason, sizeof reason);
    ck_assert_msg(strstr(reason, "127.0.0.1") != NULL, "%s", reason);
    wait_check("manager_in_sync", "", "fail", 30, NULL, 0);
    ck_assert_str_eq(check_status("container_running", chains[0], NULL, 0), "ok"); /* it keeps what runs */
    stop_core();
    start_core(anvil_url);
    wait_check("manager_reachable", "", "ok", 30, NULL, 0);
    wait_check("manager_in_sync", "", "ok", 30, NULL, 0);
}

static void the_cli(void)
{
    static char out[65536];
    ck_assert_msg(cli("status", out, sizeof out) == 0, "%s", out);
    ck_assert_msg(strstr(out, "slots") && strstr(out, chains[0]) && strstr(out, chains[1]) && strstr(out, "running"), "%s", out);
    ck_assert_msg(cli("health", out, sizeof out) == 0, "%s", out);
    ck_assert_msg(strstr(out, "dockerd_reachable") && strstr(out, "rpc_answering"), "%s", out);
    ck_assert_int_eq(cli("--json health", out, sizeof out), 0);
    cJSON *j = cJSON_Parse(out);
    ck_assert_msg(j && cJSON_IsTrue(cJSON_GetObjectItem(j, "ok")), "%s", out);
    cJSON_Delete(j);
    char args[200];
    snprintf(args, sizeof args, "metrics --chain %s --since 10m --chart", chains[0]);
    ck_assert_msg(cli(args, out, sizeof out) == 0, "%s", out);
    /* The table, then a chart line per series with block characters. */
    ck_assert_msg(strstr(out, chains[0]) && strstr(out, "CPU_PERCENT") && strstr(out, "memory ") && strstr(out, "\u2581"), "%s", out);
    ck_assert_msg(strstr(out, chains[1]) == NULL, "%s", out);
    ck_assert_int_ne(cli("metrics --chain nosuchchain --since 10m", out, sizeof out), 0);
    ck_assert_msg(cli("usage --since 10m", out, sizeof out) == 0, "%s", out);
    ck_assert_msg(strstr(out, chains[0]) && strstr(out, chains[1]) && strstr(out, "CPU_SECONDS"), "%s", out);
    ck_assert_int_eq(cli("--json usage --since 10m", out, sizeof out), 0);
    j = cJSON_Parse(out);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "chains")), CHAINS);
    cJSON_Delete(j);
    ck_assert_int_eq(cli("usage --since yesterday", out, sizeof out), 1);
    ck_assert_msg(strstr(out, "since") != NULL, "%s", out);
}

/* Runs headless Chromium on the page; returns its stderr's CONSOLE lines (console output and
   uncaught errors) in console. what: --dump-dom or --screenshot=FILE. */
static void chromium(const char *what, const char *stdout_file, char *console, size_t size)
{
    char cmd[1400], err_file[128];
    snprintf(err_file, sizeof err_file, "%s/chromium.err", dir);
    snprintf(cmd, sizeof cmd,
             "timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-background-networking "
             "--disable-component-update --disable-sync --no-first-run --user-data-dir=%s/chromium --enable-logging=stderr "
             "--v=0 --window-size=1280,1800 --virtual-time-budget=8000 %s http://127.0.0.1:%d/ >%s 2>%s",
             dir, what, api_port, stdout_file, err_file);
    ck_assert_msg(system(cmd) == 0, "%s failed: see %s", cmd, err_file);
    snprintf(cmd, sizeof cmd, "grep ':CONSOLE' %s", err_file);
    FILE *p = popen(cmd, "r");
    size_t n = fread(console, 1, size - 1, p);
    console[n] = '\0';
    pclose(p);
}

/* The value of the first attribute `name` after `from` in text, as a number (-1 when absent). */
static long attribute_after(const char *from, const char *name)
{
    const char *p = from ? strstr(from, name) : NULL;
    return p ? atol(p + strlen(name)) : -1;
}

static void the_page(void)
{
    char dom_file[128], console[4096], shot[1200];
    snprintf(dom_file, sizeof dom_file, "%s/dom.html", dir);
    chromium("--dump-dom", dom_file, console, sizeof console);
    ck_assert_msg(console[0] == '\0', "console output from the page: %s", console);
    size_t len;
    char *dom = testutil_read_file(dom_file, &len);
    ck_assert_msg(strstr(dom, "data-ready=\"1\" data-errors=\"0\"") != NULL, "the page did not finish cleanly: %.2000s", dom);
    for (int i = 0; i < CHAINS; i++) {
        char panel[128], path[200], source[32];
        snprintf(panel, sizeof panel, "data-chain=\"%s\" data-state=\"running\"", chains[i]);
        const char *at = strstr(dom, panel);
        ck_assert_msg(at != NULL, "no panel for %s", chains[i]);
        /* The memory chart holds the points the API has for the same hour (a few may have come since). */
        const char *memory = strstr(at, "data-series=\"memory\"");
        long drawn = attribute_after(memory, "data-points=\"");
        snprintf(path, sizeof path, "1h");
        size_t recorded = points_of(chains[i], path, source, sizeof source, NULL);
        ck_assert_msg(drawn >= 10 && labs(drawn - (long)recorded) <= 5, "%s: the chart drew %ld points of %zu", chains[i], drawn,
                      recorded);
        long cpu = attribute_after(strstr(at, "data-series=\"cpu\""), "data-points=\"");
        ck_assert_msg(cpu >= drawn - 6, "%s: the CPU chart drew %ld points", chains[i], cpu);
    }
    free(dom);
    /* The screenshot stays in the build folder, for people to look at. */
    snprintf(shot, sizeof shot, "%s/test-artifacts", getenv("COHORT_BUILD_DIR"));
    mkdir(shot, 0755);
    snprintf(shot, sizeof shot, "--screenshot=%s/test-artifacts/metrics-page.png", getenv("COHORT_BUILD_DIR"));
    char png_out[128];
    snprintf(png_out, sizeof png_out, "%s/screenshot.out", dir);
    chromium(shot, png_out, console, sizeof console);
    snprintf(shot, sizeof shot, "%s/test-artifacts/metrics-page.png", getenv("COHORT_BUILD_DIR"));
    size_t png_len;
    char *png = testutil_read_file(shot, &png_len);
    ck_assert_msg(png_len > 20000 && memcmp(png, "\x89PNG", 4) == 0, "%s: %zu bytes", shot, png_len);
    free(png);
}

START_TEST(node_metrics_end_to_end)
{
    struct cohort_error err = {0};
    for (int i = 0; i < CHAINS; i++) {
        snprintf(chains[i], sizeof chains[i], "m%d-%d", (int)getpid(), i);
        uint64_t id;
        ck_assert_msg(mc_manager_create_chain(rpc, deployer, &deployment, chains[i], 1, 1, &id, &err) == 0, "%s", err.message);
    }
    wait_all_sampled(60);
    metrics_and_prometheus();
    history_in_postgresql();
    the_cli();
    the_page();
    health_fails_and_recovers();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("metrics-node");
    TCase *tc = tcase_create("node");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, node_metrics_end_to_end);
    suite_add_tcase(s, tc);
    return testutil_run_suite(s, true);
}
