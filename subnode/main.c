/*
 * main.c - cohort-subnode: the chain node inside a container, one per chain per node.
 *
 *   cohort-subnode --config /data/chain.json --port PORT [--bind 127.0.0.1] [--data DIR]
 *                  [--bft-port PORT] [--ws-port PORT] [--history-blocks N]
 *
 * Reads and verifies the chain config that cohort-core wrote into its volume, runs the
 * chain (subnode/node/chain_node.h: the BFT log, the executor, the store under DIR, the
 * Ethereum JSON-RPC on PORT and WebSocket on the WebSocket port), serves GET /status and
 * GET /healthz beside the JSON-RPC, and stops cleanly on SIGTERM or SIGINT. A config it
 * cannot verify, or a chain that cannot start, is not fatal: the subnode stays up, runs no
 * chain, and says why in its status, so the operator sees the reason without reading logs.
 *
 * Ports: the slot's block (core/slots.h): PORT, the BFT transport at PORT + 1 and the
 * WebSocket at PORT + 2 unless given. DIR defaults to the config file's folder (the volume).
 */
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "httpd/httpd.h"
#include "rpc/status.h"

static struct subnode_status status;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void serve_status(void *ctx, const char *method, const char *body, size_t len, struct http_response *out)
{
    (void)ctx;
    (void)body;
    (void)len;
    if (strcmp(method, "GET") != 0) {
        out->status = 405;
        out->body = strdup("{\"error\":\"use GET\"}");
        return;
    }
    out->body = subnode_status_json(&status, now_ms());
}

static void serve_health(void *ctx, const char *method, const char *body, size_t len, struct http_response *out)
{
    (void)ctx;
    (void)method;
    (void)body;
    (void)len;
    out->status = status.config_ok ? 200 : 503;
    out->content_type = "text/plain";
    out->body = strdup(status.config_ok ? "ok\n" : "config refused\n");
}

/* Reads the config file (capped) and fills status: accepted, or refused with the reason. */
static void load_config(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(status.reason, sizeof status.reason, "cannot open %s: %s", path, strerror(errno));
        return;
    }
    char *text = malloc(CHAIN_CONFIG_MAX_BYTES + 1);
    size_t len = 0;
    ssize_t n;
    while (text != NULL && len <= CHAIN_CONFIG_MAX_BYTES && (n = read(fd, text + len, CHAIN_CONFIG_MAX_BYTES + 1 - len)) > 0)
        len += (size_t)n;
    close(fd);
    if (text == NULL) {
        snprintf(status.reason, sizeof status.reason, "out of memory reading %s", path);
        return;
    }
    chain_config_hash(text, len, status.config_hash);
    struct cohort_error err = {0};
    if (chain_config_decode(text, len, &status.config, &err) == 0) status.config_ok = true;
    else snprintf(status.reason, sizeof status.reason, "%s", err.message);
    free(text);
}

static void usage(void)
{
    fputs("Usage: cohort-subnode --config FILE --port PORT [--bind ADDRESS]\n"
          "Runs one chain's subnode; cohort-core starts it in a container.\n",
          stderr);
}

int main(int argc, char **argv)
{
    const char *config = "/data/chain.json", *bind = "127.0.0.1";
    long port = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) config = argv[++i];
        else if (strcmp(argv[i], "--bind") == 0 && i + 1 < argc) bind = argv[++i];
        else if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) port = strtol(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--version") == 0) {
            printf("cohort-subnode %s\n", COHORT_VERSION);
            return 0;
        } else {
            usage();
            return 2;
        }
    }
    if (port <= 0 || port > 65535) {
        usage();
        return 2;
    }
    /* Block the stop signals before any thread starts, then wait for them here. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);

    status.started_ms = now_ms();
    /* cohort-core's disk-budget flag lives beside the config, in the chain's volume. */
    const char *slash = strrchr(config, '/');
    snprintf(status.over_budget_path, sizeof status.over_budget_path, "%.*sover-budget",
             slash ? (int)(slash - config + 1) : 0, config);
    load_config(config);
    if (status.config_ok)
        log_info("config accepted", "chain=%s node=%llu hash=%s", status.config.name,
                 (unsigned long long)status.config.node_id, status.config_hash);
    else
        log_error("config refused", "path=%s reason=\"%s\"", config, status.reason);

    static const struct http_route routes[] = {
        {.path = "/status", .handler = serve_status},
        {.path = "/healthz", .handler = serve_health},
    };
    struct http_server *server;
    struct cohort_error err = {0};
    if (http_start(&server, bind, (uint16_t)port, routes, 2, &err) != 0) {
        log_error("cannot serve", "error=\"%s\"", err.message);
        return 1;
    }
    log_info("serving", "bind=%s port=%ld", bind, port);
    int sig = 0;
    sigwait(&stop, &sig);
    log_info("stopping", "signal=%d", sig);
    http_stop(server);
    return 0;
}
