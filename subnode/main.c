/*
 * main.c - cohort-subnode: the chain node inside a container, one per chain per node.
 *
 *   cohort-subnode --config /data/chain.json --port PORT [--bind 127.0.0.1] [--data DIR]
 *                  [--bft-port PORT] [--history-blocks N] [--snapshot-every N] [--log-level LEVEL]
 *
 * Reads and verifies the chain config that cohort-core wrote into its volume, runs the
 * chain (subnode/node/chain_node.h: the BFT log, the executor, the store under DIR, the
 * Ethereum JSON-RPC over HTTP and WebSocket on PORT), serves GET /status and GET /healthz
 * beside the JSON-RPC, and stops cleanly on SIGTERM or SIGINT. A config it
 * cannot verify, or a chain that cannot start, is not fatal: the subnode stays up, runs no
 * chain, and says why in its status, so the operator sees the reason without reading logs.
 *
 * Ports: the slot's block (core/slots.h): PORT, and the BFT transport at PORT + 1 unless
 * given. DIR defaults to the config file's folder (the volume).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/secp.h"
#include "httpd/httpd.h"
#include "rpc/status.h"
#include "subnode/node/chain_node.h"

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
    bool ok = subnode_healthy(&status);
    out->status = ok ? 200 : 503;
    out->content_type = "text/plain";
    out->body = strdup(ok ? "ok\n" : !status.config_ok ? "config refused\n" : status.chain ? "chain halted\n"
                                                                                         : "chain not running\n");
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

static char *chain_json(void *chain) { return chain_node_status_json(chain); }
static bool chain_accepting(void *chain) { return chain_node_accepting(chain); }

static void usage(void)
{
    fputs("Usage: cohort-subnode --config FILE --port PORT [--bind ADDRESS] [--data DIR]\n"
          "                      [--bft-port PORT] [--history-blocks N] [--snapshot-every N]\n"
          "                      [--log-level debug|info|warn|error]\n"
          "Runs one chain's subnode; cohort-core starts it in a container. JSON-RPC (HTTP and\n"
          "WebSocket), GET /status and GET /healthz on PORT; the chain's BFT log on PORT + 1;\n"
          "state in DIR (default: the config file's folder).\n",
          stderr);
}

static long parse_port(const char *text)
{
    char *end;
    long v = strtol(text, &end, 10);
    return *end == '\0' && v > 0 && v <= 65535 ? v : -1;
}

int main(int argc, char **argv)
{
    const char *config = "/data/chain.json", *bind = "127.0.0.1", *data = NULL;
    long port = 0, bft_port = 0, history = 0, snapshot_every = 0;
    bool equivocate = false, lie_about_head = false, garbage = false;
    long switch_delay_ms = 0, transfer_delay_ms = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) config = argv[++i];
        else if (strcmp(argv[i], "--bind") == 0 && i + 1 < argc) bind = argv[++i];
        else if (strcmp(argv[i], "--data") == 0 && i + 1 < argc) data = argv[++i];
        else if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) port = parse_port(argv[++i]);
        else if (strcmp(argv[i], "--bft-port") == 0 && i + 1 < argc) bft_port = parse_port(argv[++i]);
        else if (strcmp(argv[i], "--history-blocks") == 0 && i + 1 < argc) history = strtol(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--snapshot-every") == 0 && i + 1 < argc) snapshot_every = strtol(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--log-level") == 0 && i + 1 < argc) {
            enum log_level level;
            if (log_parse_level(argv[++i], &level) != 0) {
                usage();
                return 2;
            }
            log_set_level(level);
        }
#ifdef COHORT_TEST_BYZANTINE
        else if (strcmp(argv[i], "--equivocate") == 0) equivocate = true;
        else if (strcmp(argv[i], "--lie-about-head") == 0) lie_about_head = true;
        else if (strcmp(argv[i], "--garbage") == 0) garbage = true;
        else if (strcmp(argv[i], "--switch-delay-ms") == 0 && i + 1 < argc) switch_delay_ms = strtol(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--transfer-delay-ms") == 0 && i + 1 < argc) transfer_delay_ms = strtol(argv[++i], NULL, 10);
#endif
        else if (strcmp(argv[i], "--version") == 0) {
            printf("cohort-subnode %s\n", COHORT_VERSION);
            return 0;
        } else {
            usage();
            return 2;
        }
    }
    if (port <= 0 || bft_port < 0 || history < 0 || history > 1000000 || snapshot_every < 0 ||
        snapshot_every > 1000000 || (bft_port == 0 && port >= 65535)) {
        usage();
        return 2;
    }
    if (bft_port == 0) bft_port = port + 1;
    /* Block the stop signals before any thread starts, then wait for them here. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);

    status.started_ms = now_ms();
    /* The volume: the config's folder, where cohort-core also puts its disk-budget flag. */
    char dir[3072];
    const char *slash = strrchr(config, '/');
    snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - config) : 1, slash ? config : ".");
    if (dir[0] == '\0') snprintf(dir, sizeof dir, "/");
    snprintf(status.over_budget_path, sizeof status.over_budget_path, "%s/over-budget", dir);
    load_config(config);

    static const struct http_route routes[] = {
        {.path = "/status", .handler = serve_status},
        {.path = "/healthz", .handler = serve_health},
    };
    struct cohort_error err = {0};
    struct chain_node *chain = NULL;
    if (status.config_ok) {
        log_info("config accepted", "chain=%s node=%llu hash=%s", status.config.name,
                 (unsigned long long)status.config.node_id, status.config_hash);
        struct chain_node_options o = {
            .config = &status.config,
            .data_dir = data ? data : dir,
            .bind_address = bind,
            .rpc_port = (uint16_t)port,
            .bft_port = (uint16_t)bft_port,
            .routes = routes,
            .route_count = 2,
            .history_blocks = (uint32_t)history,
            .snapshot_every = (uint32_t)snapshot_every,
            .over_budget_path = status.over_budget_path,
            .equivocate = equivocate,
            .lie_about_head = lie_about_head,
            .garbage = garbage,
            .switch_delay_ms = switch_delay_ms > 0 && switch_delay_ms < 3600000 ? (uint32_t)switch_delay_ms : 0,
            .transfer_delay_ms = transfer_delay_ms > 0 && transfer_delay_ms < 600000 ? (uint32_t)transfer_delay_ms : 0,
        };
        /* The chain's RPC server serves /status as soon as it starts, before chain_node_start
           returns and status.chain is set: until then the health says "starting". */
        status.starting = true;
        if (secp_init(&err) != 0 || chain_node_start(&o, &chain, &err) != 0) {
            snprintf(status.reason, sizeof status.reason, "the chain did not start: %.480s", err.message);
            log_error("chain not running", "reason=\"%s\"", status.reason);
            chain = NULL;
        } else {
            status.chain_json = chain_json;
            status.chain_accepting = chain_accepting;
            status.chain = chain;
        }
        status.starting = false;
    } else {
        log_error("config refused", "path=%s reason=\"%s\"", config, status.reason);
    }
    /* Without a chain, the status routes alone, so the operator sees why. */
    struct http_server *server = NULL;
    if (chain == NULL && http_start(&server, bind, (uint16_t)port, routes, 2, &err) != 0) {
        log_error("cannot serve", "error=\"%s\"", err.message);
        return 1;
    }
    log_info("serving", "bind=%s port=%ld bft_port=%ld", bind, port, bft_port);
    int sig = 0;
    sigwait(&stop, &sig);
    log_info("stopping", "signal=%d", sig);
    status.chain = NULL;
    chain_node_stop(chain);
    http_stop(server);
    return 0;
}
