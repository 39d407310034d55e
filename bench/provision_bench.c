/*
 * provision_bench.c - how long cohort-core's provisioner takes from an assignment to all of
 * the node's subnodes answering their status endpoint, for 1, 16 and 128 small chains, and
 * the memory of the process doing it (which holds the whole provisioner, like cohort-core).
 *
 *   bench/provision_bench IMAGE [COUNTS...]     (default counts: 1 16 128)
 *
 * Needs a running dockerd and the subnode image (scripts/build-subnode-image.sh). Every
 * container and volume carries cohort.node=<a bench node id> and is removed at the end.
 * Prints one line per count: `provision subnodes=N seconds=S rss_mib=M`.
 * The anchor: skale-admin polls the manager every 90 to 240 s before it starts anything.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "core/provision.h"

#define BENCH_MANAGER "0xbe7c000000000000000000000000000000000001" /* the bench's own namespace */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* GET /healthz on 127.0.0.1:port with a plain socket: 1 when it answers 200. */
#include <arpa/inet.h>
#include <sys/socket.h>
static int healthy(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK), .sin_port = htons((uint16_t)port)};
    int ok = 0;
    if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0) {
        const char req[] = "GET /healthz HTTP/1.0\r\n\r\n";
        char buf[64] = {0};
        if (write(fd, req, sizeof req - 1) == (ssize_t)(sizeof req - 1) && read(fd, buf, sizeof buf - 1) > 0)
            ok = strncmp(buf, "HTTP/1.1 200", 12) == 0 || strncmp(buf, "HTTP/1.0 200", 12) == 0;
    }
    close(fd);
    return ok;
}

static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1) break;
    if (f) fclose(f);
    return kib;
}

static void cleanup(struct docker_client *docker, uint64_t node_id)
{
    char node[24];
    snprintf(node, sizeof node, "%llu", (unsigned long long)node_id);
    struct docker_label mine[2] = {{"cohort.manager", BENCH_MANAGER}, {"cohort.node", node}};
    struct docker_container *list;
    struct docker_name *volumes;
    size_t n;
    if (docker_container_list(docker, mine, 2, &list, &n, NULL) == 0) {
        for (size_t i = 0; i < n; i++) docker_container_remove(docker, list[i].id, true, NULL);
        free(list);
    }
    if (docker_volume_list(docker, mine, 2, &volumes, &n, NULL) == 0) {
        for (size_t i = 0; i < n; i++) docker_volume_remove(docker, volumes[i].name, true, NULL);
        free(volumes);
    }
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s IMAGE [COUNTS...]\n", argv[0]);
        return 2;
    }
    int counts[8] = {1, 16, 128}, ncounts = 3;
    if (argc > 2) {
        ncounts = 0;
        for (int i = 2; i < argc && ncounts < 8; i++) counts[ncounts++] = atoi(argv[i]);
    }
    log_set_level(LOG_WARN);
    struct docker_client *docker;
    struct cohort_error err = {0};
    if (docker_open(&docker, NULL, &err) < 0) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    uint64_t node_id = 700000 + (uint64_t)getpid();
    const uint16_t base_port = 30000;
    static struct assignment assigned[128];
    for (int k = 0; k < ncounts; k++) {
        int n = counts[k];
        if (n < 1 || n > 128) continue;
        cleanup(docker, node_id);
        for (int i = 0; i < n; i++) {
            struct chain_config *c = &assigned[i].config;
            memset(c, 0, sizeof *c);
            c->version = 1;
            snprintf(c->name, sizeof c->name, "bench-%d", i);
            c->chain_id = (uint64_t)i + 1;
            c->evm_chain_id = 5000 + (uint64_t)i;
            c->slots = 1;
            c->node_id = node_id;
            c->nmembers = 1;
            c->members[0].node_id = node_id;
            snprintf(c->members[0].ip, sizeof c->members[0].ip, "127.0.0.1");
            c->members[0].base_port = base_port;
            c->members[0].first_slot = (unsigned)i;
            c->genesis_gas_limit = 30000000;
        }
        struct provision_options o = {.manager = BENCH_MANAGER, .node_id = node_id, .image = argv[1], .bind_address = "127.0.0.1",
                                      .base_port = base_port};
        o.resources.memory_bytes = 16ull << 30;
        struct provisioner p;
        provision_init(&p, &o, docker);
        double start = now_s();
        if (provision_set_assigned(&p, assigned, (size_t)n, &err) < 0) return 1;
        int64_t wake;
        if (provision_round(&p, 1, &wake, &err) < 0) {
            fprintf(stderr, "round: %s\n", err.message);
            return 1;
        }
        int ready = 0;
        while (ready < n && now_s() - start < 300) {
            ready = 0;
            for (int i = 0; i < n; i++) ready += healthy(base_port + i * 8);
            if (ready < n) usleep(10000);
        }
        double seconds = now_s() - start;
        printf("provision subnodes=%d seconds=%.2f rss_mib=%.1f ready=%d\n", n, seconds, rss_kib() / 1024.0, ready);
        fflush(stdout);
        provision_free(&p);
    }
    cleanup(docker, node_id);
    docker_close(docker);
    return 0;
}
