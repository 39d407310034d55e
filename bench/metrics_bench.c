/*
 * metrics_bench.c - what sampling a node's subnodes costs, and how fast /metrics is, with N
 * real subnodes (the subnode image, started by cohort-core's own provisioner):
 *
 *   cgroup        reading every subnode's cgroup files (what the sampler does), per sample
 *   sample        a whole sample as cohort-core takes it: cgroup files, every subnode's
 *                 GET /status at once, the host's /proc files (the sampler thread's CPU)
 *   docker_stats  Docker's stats API for the same containers, one request per container, in
 *                 the two modes it has: stream=false (what `docker stats --no-stream` does:
 *                 dockerd waits for a second reading, about a second) and one-shot=true (API
 *                 1.41); the CPU counted is this process's and dockerd's
 *   render        the Prometheus text of that N-subnode sample
 *   http          GET /metrics through the local API's HTTP server, end to end
 *
 *   bench/metrics_bench IMAGE [N] [DOCKER_STATS_N]     (default N 128, DOCKER_STATS_N 16)
 *
 * core_percent_at_10s is the CPU of one sample over the default 10 s interval, in percent
 * of one core: the goal is under 2 % for 128 subnodes. Needs a running dockerd and
 * the subnode image (scripts/build-subnode-image.sh). Every container and volume carries
 * this bench's cohort.manager and is removed at the end.
 */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "core/provision.h"
#include "httpd/httpd.h"
#include "metrics/metrics.h"

#define BENCH_MANAGER "0xbe7c000000000000000000000000000000000002" /* this bench's own namespace */
#define BASE_PORT 31100 /* below the ephemeral range; no test's block (tests/unit/testutil.h) */
#define ROUNDS 20

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double thread_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double process_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* dockerd's CPU seconds (utime + stime of /proc/PID/stat), from its pidfile. */
static double dockerd_cpu_s(void)
{
    FILE *f = fopen("/var/run/docker.pid", "r");
    int pid = 0;
    if (f == NULL || fscanf(f, "%d", &pid) != 1) {
        if (f) fclose(f);
        return -1;
    }
    fclose(f);
    char path[64], buf[2048];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    f = fopen(path, "r");
    if (f == NULL) return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')');
    unsigned long utime = 0, stime = 0;
    if (p == NULL || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) != 2) return -1;
    return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

static int compare(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, size_t n)
{
    qsort(v, n, sizeof *v, compare);
    return v[n / 2];
}

static double percentile(double *v, size_t n, double p)
{
    qsort(v, n, sizeof *v, compare);
    size_t i = (size_t)(p * (double)(n - 1));
    return v[i];
}

static int healthy(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK), .sin_port = htons((uint16_t)port)};
    int ok = 0;
    if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0) {
        const char req[] = "GET /healthz HTTP/1.0\r\n\r\n";
        char buf[64] = {0};
        if (write(fd, req, sizeof req - 1) == (ssize_t)(sizeof req - 1) && read(fd, buf, sizeof buf - 1) > 0)
            ok = strstr(buf, " 200") != NULL;
    }
    close(fd);
    return ok;
}

/* GET path on 127.0.0.1:port; returns the bytes received (0 on failure). */
static size_t http_get(int port, const char *path)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK), .sin_port = htons((uint16_t)port)};
    size_t total = 0;
    if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0) {
        char req[256], buf[65536];
        int n = snprintf(req, sizeof req, "GET %s HTTP/1.0\r\n\r\n", path);
        if (write(fd, req, (size_t)n) == n) {
            ssize_t r;
            while ((r = read(fd, buf, sizeof buf)) > 0) total += (size_t)r;
        }
    }
    close(fd);
    return total;
}

static void cleanup(struct docker_client *docker)
{
    struct docker_label mine[1] = {{"cohort.manager", BENCH_MANAGER}};
    struct docker_container *list;
    struct docker_name *volumes;
    size_t n;
    if (docker_container_list(docker, mine, 1, &list, &n, NULL) == 0) {
        for (size_t i = 0; i < n; i++) docker_container_remove(docker, list[i].id, true, NULL);
        free(list);
    }
    if (docker_volume_list(docker, mine, 1, &volumes, &n, NULL) == 0) {
        for (size_t i = 0; i < n; i++) docker_volume_remove(docker, volumes[i].name, true, NULL);
        free(volumes);
    }
}

/* The engine's view of the subnodes: the provisioner's, as cohort-core gives it. */
static struct provisioner prov;
static void collect(void *ctx, struct metrics_node_input *node, struct metrics_subnode_input *out, size_t max, size_t *n)
{
    (void)ctx;
    node->slots_total = 128;
    node->docker_ok = true;
    *n = 0;
    pthread_mutex_lock(&prov.lock);
    for (size_t i = 0; i < prov.nviews && *n < max; i++) {
        const struct subnode_view *v = &prov.views[i];
        struct metrics_subnode_input *in = &out[(*n)++];
        memset(in, 0, sizeof *in);
        snprintf(in->chain, sizeof in->chain, "%s", v->chain);
        snprintf(in->container, sizeof in->container, "%s", v->container);
        snprintf(in->container_id, sizeof in->container_id, "%s", v->container_id);
        snprintf(in->state, sizeof in->state, "%s", v->state);
        in->slots = v->slots;
        in->first_slot = v->first_slot;
        in->rpc_port = v->rpc_port;
        in->restarts = v->restarts;
        in->volume_used_bytes = v->disk_used_bytes;
        in->volume_budget_bytes = v->limits.disk_bytes;
        in->config_current = v->config_current;
    }
    pthread_mutex_unlock(&prov.lock);
}

static size_t discard(char *data, size_t size, size_t nmemb, void *ctx)
{
    (void)data, (void)ctx;
    return size * nmemb;
}

/* Docker's stats API for the first n containers, one after the other. */
static void docker_stats(const char *mode, const char *query, size_t n)
{
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, "/var/run/docker.sock");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    double wall0 = now_s(), cpu0 = process_cpu_s(), dockerd0 = dockerd_cpu_s();
    size_t done = 0;
    for (size_t i = 0; i < n && i < prov.nviews; i++) {
        char url[256];
        snprintf(url, sizeof url, "http://localhost/v1.41/containers/%s/stats?%s", prov.views[i].container_id, query);
        curl_easy_setopt(c, CURLOPT_URL, url);
        long code = 0;
        if (curl_easy_perform(c) == CURLE_OK && curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code) == CURLE_OK && code == 200)
            done++;
    }
    double wall = now_s() - wall0, cpu = process_cpu_s() - cpu0, dockerd = dockerd_cpu_s() - dockerd0;
    curl_easy_cleanup(c);
    double per_wall = wall / (double)done, per_cpu = (cpu + dockerd) / (double)done;
    printf("metrics docker_stats mode=%s containers=%zu wall_ms_per_container=%.1f client_cpu_ms=%.1f dockerd_cpu_ms=%.1f "
           "sequential_128_wall_s=%.1f cpu_128_core_percent_at_10s=%.2f\n",
           mode, done, per_wall * 1000, cpu * 1000, dockerd * 1000, per_wall * 128, per_cpu * 128 / 10.0 * 100);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s IMAGE [N] [DOCKER_STATS_N]\n", argv[0]);
        return 2;
    }
    int n = argc > 2 ? atoi(argv[2]) : 128;
    size_t stats_n = argc > 3 ? (size_t)atoi(argv[3]) : 16;
    if (n < 1 || n > 128) return 2;
    log_set_level(LOG_WARN);
    curl_global_init(CURL_GLOBAL_ALL);
    struct docker_client *docker;
    struct cohort_error err = {0};
    if (docker_open(&docker, NULL, &err) < 0) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    cleanup(docker);

    /* N small chains, started by the provisioner as cohort-core starts them. */
    uint64_t node_id = 800000 + (uint64_t)getpid();
    static struct assignment assigned[128];
    for (int i = 0; i < n; i++) {
        struct chain_config *c = &assigned[i].config;
        memset(c, 0, sizeof *c);
        c->version = 1;
        snprintf(c->name, sizeof c->name, "mbench-%d", i);
        c->chain_id = (uint64_t)i + 1;
        c->evm_chain_id = 6000 + (uint64_t)i;
        c->slots = 1;
        c->node_id = node_id;
        c->nmembers = 1;
        c->members[0].node_id = node_id;
        snprintf(c->members[0].ip, sizeof c->members[0].ip, "127.0.0.1");
        c->members[0].base_port = BASE_PORT;
        c->members[0].first_slot = (unsigned)i;
        c->genesis_gas_limit = 30000000;
    }
    struct provision_options o = {.manager = BENCH_MANAGER, .node_id = node_id, .image = argv[1], .bind_address = "127.0.0.1",
                                  .base_port = BASE_PORT};
    o.resources.memory_bytes = 16ull << 30;
    provision_init(&prov, &o, docker);
    int64_t wake;
    if (provision_set_assigned(&prov, assigned, (size_t)n, &err) < 0 || provision_round(&prov, 1, &wake, &err) < 0) {
        fprintf(stderr, "provisioning: %s\n", err.message);
        cleanup(docker);
        return 1;
    }
    int ready = 0;
    for (double start = now_s(); ready < n && now_s() - start < 300; usleep(20000)) {
        ready = 0;
        for (int i = 0; i < n; i++) ready += healthy(BASE_PORT + i * 8);
    }
    provision_round(&prov, 2, &wake, &err); /* the views: every container running, with its id */
    fprintf(stderr, "metrics_bench: %d of %d subnodes answer\n", ready, n);

    /* cgroup files alone. */
    struct metrics_cgroup cg;
    if (metrics_cgroup_open(&cg, NULL, NULL, &err) < 0) {
        fprintf(stderr, "%s\n", err.message);
        cleanup(docker);
        return 1;
    }
    double wall[ROUNDS], cpu[ROUNDS];
    size_t read_ok = 0;
    for (int r = 0; r < ROUNDS; r++) {
        double w0 = now_s(), c0 = thread_cpu_s();
        read_ok = 0;
        for (size_t i = 0; i < prov.nviews; i++) {
            struct metrics_container_usage u;
            read_ok += metrics_cgroup_read(&cg, prov.views[i].container_id, &u, NULL) == 0;
        }
        wall[r] = now_s() - w0;
        cpu[r] = thread_cpu_s() - c0;
    }
    double cg_cpu = median(cpu, ROUNDS);
    printf("metrics cgroup subnodes=%zu read=%zu wall_ms=%.2f cpu_ms=%.2f cpu_us_per_subnode=%.1f core_percent_at_10s=%.3f\n",
           prov.nviews, read_ok, median(wall, ROUNDS) * 1000, cg_cpu * 1000, cg_cpu * 1e6 / (double)prov.nviews,
           cg_cpu / 10.0 * 100);
    fflush(stdout);

    /* Whole samples through the engine (its thread idle: an interval of an hour). */
    struct metrics_options mo = {.node_id = node_id, .interval_ms = 3600000, .memory_hours = 1, .disk_path = "/",
                                 .collect = collect};
    struct metrics *m;
    if (metrics_start(&mo, &m, &err) < 0) {
        fprintf(stderr, "%s\n", err.message);
        cleanup(docker);
        return 1;
    }
    size_t status_ok = 0, usage_ok = 0;
    for (int r = 0; r < ROUNDS; r++) {
        metrics_sample_now(m);
        struct metrics_sample *s = metrics_latest(m);
        wall[r] = s->sample_seconds;
        cpu[r] = s->sample_cpu_seconds;
        status_ok = usage_ok = 0;
        for (size_t i = 0; i < s->nsubnodes; i++) {
            status_ok += s->subnodes[i].status_ok;
            usage_ok += s->subnodes[i].usage_ok;
        }
        free(s);
    }
    /* What an idle subnode costs: its container's memory (working set, as the OOM killer
       sees it) from a last sample, and the image it runs. */
    {
        struct metrics_sample *s = metrics_latest(m);
        static double ws[128];
        size_t k = 0;
        double max_ws = 0;
        for (size_t i = 0; i < s->nsubnodes && k < 128; i++)
            if (s->subnodes[i].usage_ok) {
                ws[k] = (double)s->subnodes[i].usage.memory_working_set_bytes / (1 << 20);
                if (ws[k] > max_ws) max_ws = ws[k];
                k++;
            }
        free(s);
        /* And each subnode process's own RSS (its container's main process, from /proc). */
        static double rss[128];
        size_t nr = 0;
        for (size_t i = 0; i < prov.nviews && nr < 128; i++) {
            struct docker_container info;
            if (docker_container_inspect(docker, prov.views[i].container_id, &info, &err) < 0 || info.pid <= 0) continue;
            char path[64], line[256];
            snprintf(path, sizeof path, "/proc/%d/status", info.pid);
            FILE *f = fopen(path, "r");
            if (f == NULL) continue;
            while (fgets(line, sizeof line, f))
                if (strncmp(line, "VmRSS:", 6) == 0) rss[nr++] = strtod(line + 6, NULL) / 1024;
            fclose(f);
        }
        struct docker_image image = {0};
        if (docker_image_inspect(docker, argv[1], &image, &err) < 0) image.size_bytes = -1;
        printf("metrics subnode_footprint subnodes=%zu working_set_median_mib=%.1f working_set_max_mib=%.1f "
               "process_rss_median_mib=%.1f image_mib=%.1f\n",
               k, k ? median(ws, k) : 0.0, max_ws, nr ? median(rss, nr) : 0.0, (double)image.size_bytes / (1 << 20));
        fflush(stdout);
    }
    double sample_cpu = median(cpu, ROUNDS);
    printf("metrics sample subnodes=%zu usage_ok=%zu status_ok=%zu wall_ms=%.2f cpu_ms=%.2f core_percent_at_10s=%.3f\n",
           prov.nviews, usage_ok, status_ok, median(wall, ROUNDS) * 1000, sample_cpu * 1000, sample_cpu / 10.0 * 100);
    fflush(stdout);

    /* The Prometheus text of that sample, and through HTTP. */
    double render[1000];
    size_t bytes = 0;
    for (int r = 0; r < 1000; r++) {
        double t0 = now_s();
        char *text = metrics_prometheus_text(m, &bytes);
        render[r] = now_s() - t0;
        free(text);
    }
    printf("metrics render subnodes=%zu bytes=%zu median_us=%.0f p99_us=%.0f\n", prov.nviews, bytes,
           median(render, 1000) * 1e6, percentile(render, 1000, 0.99) * 1e6);
    struct http_route routes[] = {{.path = "/metrics", .query_handler = metrics_api_prometheus, .ctx = m}};
    struct http_server *server;
    int port = 0;
    for (int attempt = 0; attempt < 20; attempt++) {
        port = 32200 + attempt;
        if (http_start_blocking(&server, "127.0.0.1", (uint16_t)port, routes, 1, NULL) == 0) break;
        port = 0;
    }
    if (port) {
        double http[200];
        size_t got = 0;
        for (int r = 0; r < 200; r++) {
            double t0 = now_s();
            got = http_get(port, "/metrics");
            http[r] = now_s() - t0;
        }
        printf("metrics http subnodes=%zu bytes=%zu median_ms=%.2f p99_ms=%.2f\n", prov.nviews, got, median(http, 200) * 1000,
               percentile(http, 200, 0.99) * 1000);
        http_stop(server);
    }
    fflush(stdout);
    metrics_stop(m);

    /* Docker's stats API for the same containers. */
    docker_stats("one_shot", "stream=false&one-shot=true", (size_t)n);
    docker_stats("stream_false", "stream=false", stats_n);

    provision_free(&prov);
    cleanup(docker);
    docker_close(docker);
    curl_global_cleanup();
    return 0;
}
