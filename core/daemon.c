/* daemon.c - cohort-core's loop (see daemon.h). */
#include "daemon.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "docker/docker.h"
#include "httpd/httpd.h"
#include "provision.h"

#define DOMAIN "core"

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct daemon {
    const struct daemon_config *config;
    struct provisioner provisioner;
    bool provisioner_ready;
    struct docker_client *docker;
    int64_t started_ms;
    char docker_error[COHORT_ERROR_MESSAGE_MAX];
    pthread_mutex_t lock; /* guards docker_error for the API */
};

static void api_health(void *ctx, const char *method, const char *body, size_t len, struct http_response *out)
{
    (void)method;
    (void)body;
    (void)len;
    struct daemon *d = ctx;
    pthread_mutex_lock(&d->lock);
    bool docker_ok = d->docker_error[0] == '\0';
    char *text = malloc(COHORT_ERROR_MESSAGE_MAX + 64);
    if (text) snprintf(text, COHORT_ERROR_MESSAGE_MAX + 64, docker_ok ? "ok\n" : "degraded: %s\n", d->docker_error);
    pthread_mutex_unlock(&d->lock);
    out->status = docker_ok ? 200 : 503;
    out->content_type = "text/plain";
    out->body = text;
}

static void api_subnodes(void *ctx, const char *method, const char *body, size_t len, struct http_response *out)
{
    (void)body;
    (void)len;
    struct daemon *d = ctx;
    if (strcmp(method, "GET") != 0) {
        out->status = 405;
        out->body = strdup("{\"error\":\"use GET\"}");
        return;
    }
    out->body = d->provisioner_ready ? provision_subnodes_json(&d->provisioner) : strdup("[]");
}

/* Node resources: configured, or read from the host (RAM) and the state dir's disk. */
static void resources(const struct daemon_config *c, struct node_resources *r)
{
    memset(r, 0, sizeof *r);
    r->memory_factor = c->memory_factor;
    r->cpu_quota_percent = c->cpu_quota_percent;
    r->memory_bytes = c->memory_bytes;
    if (r->memory_bytes == 0) {
        long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
        if (pages > 0 && page > 0) r->memory_bytes = (uint64_t)pages * (uint64_t)page;
    }
    r->disk_bytes = c->disk_bytes;
    struct statvfs fs;
    if (r->disk_bytes == 0 && statvfs(c->state_dir, &fs) == 0) r->disk_bytes = (uint64_t)fs.f_bavail * fs.f_frsize;
}

static int64_t wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Docker events are the loop's sleep: a subnode's death wakes it at once. ctx points at
   the time of the newest event seen, so the next stream starts after it. */
static int on_event(void *ctx, const struct docker_event *e)
{
    int64_t *last_ns = ctx;
    if (e->time_ns > *last_ns) *last_ns = e->time_ns;
    return strcmp(e->action, "die") == 0 || strcmp(e->action, "destroy") == 0 || strcmp(e->action, "oom") == 0;
}

static void set_docker_error(struct daemon *d, const char *message)
{
    pthread_mutex_lock(&d->lock);
    snprintf(d->docker_error, sizeof d->docker_error, "%s", message);
    pthread_mutex_unlock(&d->lock);
}

int daemon_run(const struct daemon_config *config, volatile sig_atomic_t *stop, struct cohort_error *err)
{
    static struct daemon d;
    memset(&d, 0, sizeof d);
    d.config = config;
    d.started_ms = now_ms();
    pthread_mutex_init(&d.lock, NULL);
    if (mkdir(config->state_dir, 0700) != 0 && errno != EEXIST)
        return cohort_error_errno(err, COMMON_E_IO, DOMAIN, errno, "state dir %s", config->state_dir);

    struct http_route routes[] = {
        {.path = "/healthz", .handler = api_health, .ctx = &d},
        {.path = "/api/v1/subnodes", .handler = api_subnodes, .ctx = &d},
    };
    struct http_server *api;
    int rc = http_start(&api, config->api_address, config->api_port, routes, sizeof routes / sizeof routes[0], err);
    if (rc < 0) return cohort_error_wrap(err, "local API");
    log_info("cohort-core started", "node=%llu api=%s:%u state_dir=%s", (unsigned long long)config->node_id,
             config->api_address, (unsigned)config->api_port, config->state_dir);

    struct provision_options options = {.node_id = config->node_id, .image = config->image,
                                        .bind_address = config->bind_address, .base_port = config->base_port,
                                        .docker_socket = config->docker_socket};
    resources(config, &options.resources);
    char node[24];
    snprintf(node, sizeof node, "%llu", (unsigned long long)config->node_id);
    struct docker_label mine = {"cohort.node", node};
    int64_t retry_ms = 500, next_round = 0, wake = 0, events_since_ns = wall_ns();

    while (!*stop) {
        int64_t now = now_ms();
        if (d.docker == NULL) {
            struct cohort_error derr = {0};
            if (docker_open(&d.docker, config->docker_socket, &derr) < 0) {
                set_docker_error(&d, derr.message);
                log_warn("dockerd unavailable; retrying", "error=\"%s\" retry_ms=%lld", derr.message, (long long)retry_ms);
                for (int64_t slept = 0; slept < retry_ms && !*stop; slept += 100) usleep(100000);
                retry_ms = retry_ms < 30000 ? retry_ms * 2 : 30000;
                continue;
            }
            retry_ms = 500;
            set_docker_error(&d, "");
            if (!d.provisioner_ready) {
                provision_init(&d.provisioner, &options, d.docker);
                d.provisioner_ready = true;
            } else {
                d.provisioner.docker = d.docker;
            }
            log_info("dockerd connected", "api=%s", docker_api_version(d.docker));
            next_round = 0;
        }
        if (now >= next_round || (wake > 0 && now >= wake)) {
            struct cohort_error perr = {0};
            if (provision_round(&d.provisioner, now, &wake, &perr) < 0) {
                log_warn("round failed; keeping what runs", "error=\"%s\"", perr.message);
                set_docker_error(&d, perr.message);
                if (perr.code == DOCKER_E_UNAVAILABLE) {
                    docker_close(d.docker);
                    d.docker = NULL;
                    continue;
                }
            } else {
                set_docker_error(&d, "");
            }
            next_round = now + 10 * (int64_t)config->poll_ms; /* a full look now and then, even without events */
        }
        /* Sleep on Docker's event stream until poll_ms passes or a subnode dies. */
        long timeout = (long)config->poll_ms;
        if (wake > 0 && wake - now < timeout) timeout = wake - now > 10 ? (long)(wake - now) : 10;
        struct cohort_error eerr = {0};
        int64_t last_event_ns = 0;
        int erc = docker_events(d.docker, &mine, 1, events_since_ns, timeout, on_event, &last_event_ns, &eerr);
        if (last_event_ns > 0) events_since_ns = last_event_ns + 1;
        if (erc == 0 && now_ms() - now < timeout - 5) next_round = 0; /* a death came: look again now */
        if (erc == DOCKER_E_UNAVAILABLE) {
            log_warn("dockerd went away", "error=\"%s\"", eerr.message);
            set_docker_error(&d, eerr.message);
            docker_close(d.docker);
            d.docker = NULL;
        }
    }
    log_info("cohort-core stopping; subnodes keep running", NULL);
    http_stop(api);
    if (d.provisioner_ready) provision_free(&d.provisioner);
    docker_close(d.docker);
    pthread_mutex_destroy(&d.lock);
    return 0;
}
