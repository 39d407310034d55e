/*
 * config_bench.c - the config store on four cohort-core processes on loopback, fsync on
 * (docs/PERFORMANCE.md "Config store"): sequential put latency (p50, p99), throughput
 * with 16 and 64 concurrent clients, the stall after the leader is SIGKILLed, and the time
 * for a node setting written once to be followed by every member (core/settings.h).
 * Clients keep their HTTP connections open, as etcd clients keep their gRPC connection.
 * The anchor is etcd 3.4 with 3 members on this hardware (p50 1.1 ms, p99 3 ms; 2,300
 * puts/s with 16 clients, 3,400 with 64; 1-2 s to the first write after the leader dies).
 *
 *   COHORT_BUILD_DIR=build build/bench/config_bench [--seconds N] [--puts N] [--soak N] [--etcd]
 *                                                   [--fill-wait MS]
 *
 * --fill-wait MS sets the cluster file's fill_wait_ms (docs/bft.md "Filling"; default 4, 0:
 * none), to compare leaders that wait for their blocks to fill with leaders that do not.
 * --etcd runs the same phases, with the same clients, on three etcd members instead
 * (Debian's etcd-server, fsync on, puts through its JSON gateway /v3/kv/put): the anchor
 * measured on the machine and in the hour of the comparison. The gateway is etcd's own
 * HTTP/JSON front of its gRPC API, the transport cohort's clients use too; etcd's gRPC
 * benchmark tool is not packaged by Debian.
 *
 * --soak N adds a phase of N seconds with 16 clients, long enough for the members to take
 * snapshots and compact their WALs (every snapshot_every = 8192 blocks, the default), and
 * reports the put latency's p99, p99.9 and maximum over it and the snapshots taken.
 *
 * Prints one "config_bench key=value ..." line per measurement.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cluster_util.h"

#define PORT_BASE 27300

static struct tcluster cl;
static volatile int stop;
static volatile int64_t last_ok_ns;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

struct worker {
    int id, member;
    unsigned ok, failed;
    int64_t *lat; /* the latency of each answered put, when the phase records them */
    size_t nlat, cap;
    struct tc_client client; /* its own kept-alive connections, as an etcd client's */
    pthread_t thread;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    char key[32], value[32];
    for (unsigned n = 0; !stop; n++) {
        snprintf(key, sizeof key, "bench/%d/%u", w->id, n % 64);
        snprintf(value, sizeof value, "v%u", n);
        int64_t t = now_ns();
        long status = tc_client_put(&w->client, &cl, w->member, key, value);
        if (status == 200) {
            w->ok++;
            last_ok_ns = now_ns();
            if (w->nlat < w->cap) w->lat[w->nlat++] = last_ok_ns - t;
        } else {
            w->failed++;
            w->member = (w->member + 1) % cl.members; /* that member is gone: use another */
        }
    }
    tc_client_free(&w->client);
    return NULL;
}

/* Runs clients for seconds; returns puts per second. With lat, also every put's latency
   (malloc'd, *nlat of them, sorted). */
static double throughput(int clients, int seconds, unsigned *failed, int64_t **lat, size_t *nlat)
{
    struct worker *w = calloc((size_t)clients, sizeof *w);
    stop = 0;
    int64_t t0 = now_ns();
    for (int i = 0; i < clients; i++) {
        w[i] = (struct worker){.id = i, .member = i % cl.members};
        if (lat != NULL) {
            w[i].cap = (size_t)seconds * 2000 + 1000; /* a client answers well under 2,000 puts a second */
            w[i].lat = malloc(w[i].cap * sizeof *w[i].lat);
        }
        pthread_create(&w[i].thread, NULL, worker_main, &w[i]);
    }
    sleep((unsigned)seconds);
    stop = 1;
    unsigned ok = 0;
    *failed = 0;
    size_t total = 0;
    for (int i = 0; i < clients; i++) {
        pthread_join(w[i].thread, NULL);
        ok += w[i].ok;
        *failed += w[i].failed;
        total += w[i].nlat;
    }
    double elapsed = (double)(now_ns() - t0) / 1e9;
    if (lat != NULL) {
        *lat = malloc((total ? total : 1) * sizeof **lat);
        *nlat = 0;
        for (int i = 0; i < clients; i++) {
            memcpy(*lat + *nlat, w[i].lat, w[i].nlat * sizeof **lat);
            *nlat += w[i].nlat;
            free(w[i].lat);
        }
        qsort(*lat, *nlat, sizeof **lat, cmp_i64);
    }
    free(w);
    return ok / elapsed;
}

/* The counters of member i's status that a phase reports the change of. */
struct counters {
    double blocks, syncs, sync_us, delivered, wait_us;
};

static struct counters counters_of(int i)
{
    struct counters c = {0};
    if (cl.etcd) return c; /* etcd's status has none of these */
    cJSON *st = tc_status(&cl, i);
    if (st != NULL) {
        c.blocks = cJSON_GetNumberValue(cJSON_GetObjectItem(st, "committed_index"));
        c.syncs = cJSON_GetNumberValue(cJSON_GetObjectItem(st, "wal_syncs"));
        c.sync_us = cJSON_GetNumberValue(cJSON_GetObjectItem(st, "wal_sync_us"));
        c.delivered = cJSON_GetNumberValue(cJSON_GetObjectItem(st, "commits_delivered"));
        c.wait_us = cJSON_GetNumberValue(cJSON_GetObjectItem(st, "commit_wait_us"));
    }
    cJSON_Delete(st);
    return c;
}

int main(int argc, char **argv)
{
    int seconds = 10, puts = 2000, soak = 0, fill_wait = -1;
    bool etcd = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--etcd") == 0) etcd = true;
        else if (i + 1 < argc && strcmp(argv[i], "--seconds") == 0) seconds = atoi(argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--puts") == 0) puts = atoi(argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--soak") == 0) soak = atoi(argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--fill-wait") == 0) fill_wait = atoi(argv[++i]);
        else {
            fprintf(stderr, "config_bench: unknown argument %s (see the comment at the top of bench/config_bench.c)\n",
                    argv[i]);
            return 2;
        }
    }
    if (etcd) tc_make_etcd(&cl, PORT_BASE + 100);
    else {
        char options[64] = "";
        if (fill_wait >= 0) snprintf(options, sizeof options, "\"fill_wait_ms\":%d,", fill_wait);
        tc_make_with(&cl, PORT_BASE, 300, options);
    }
    tc_start_all(&cl, -1);
    /* Warm up, and wait until every member answers a put (etcd's members elect a leader first). */
    for (int i = 0; i < 20 * cl.members; i++) {
        struct tc_client warm = {0};
        long status = tc_client_put(&warm, &cl, i % cl.members, "warm", "up");
        tc_client_free(&warm);
        if (status != 200) usleep(100000);
    }
    char fill[16] = "default";
    if (etcd) snprintf(fill, sizeof fill, "-");
    else if (fill_wait >= 0) snprintf(fill, sizeof fill, "%d", fill_wait);
    printf("config_bench system=%s members=%d fill_wait_ms=%s\n", etcd ? "etcd" : "cohort", cl.members, fill);

    /* Sequential latency: one client, puts through member 0 on one kept-alive connection. */
    int64_t *lat = calloc((size_t)puts, sizeof *lat);
    int done = 0;
    struct tc_client seq = {0};
    for (int i = 0; i < puts; i++) {
        char key[32];
        snprintf(key, sizeof key, "seq/%d", i % 100);
        int64_t t = now_ns();
        if (tc_client_put(&seq, &cl, 0, key, "value") == 200) lat[done++] = now_ns() - t;
    }
    tc_client_free(&seq);
    qsort(lat, (size_t)done, sizeof *lat, cmp_i64);
    printf("config_bench sequential_puts=%d p50_ms=%.2f p99_ms=%.2f max_ms=%.2f\n", done,
           done ? (double)lat[done / 2] / 1e6 : 0, done ? (double)lat[done * 99 / 100] / 1e6 : 0,
           done ? (double)lat[done - 1] / 1e6 : 0);
    free(lat);

    if (!cl.etcd) {
        /* A setting written through member 0 until every member's cohort-core follows it
           (GET /api/v1/settings shows the value): the put's commit, then each member's copy
           and its follower thread. Polled every 0.5 ms. */
        enum { ROUNDS = 20 };
        int64_t reach[ROUNDS];
        int nreach = 0;
        for (int r = 0; r < ROUNDS; r++) {
            char value[16], want[64];
            snprintf(value, sizeof value, "%d", 1000 + r);
            snprintf(want, sizeof want, "%s", value);
            int64_t t0 = now_ns();
            if (tc_put(&cl, 0, "cohort/settings/poll_ms", value) != 200) continue;
            bool all = false;
            while (!all && now_ns() - t0 < 5000000000ll) {
                all = true;
                for (int m = 0; m < cl.members && all; m++) {
                    cJSON *a = NULL;
                    tc_api(&cl, m, "/api/v1/settings", NULL, &a, 2000);
                    const cJSON *v = cJSON_GetObjectItem(
                        cJSON_GetObjectItem(cJSON_GetObjectItem(a, "settings"), "poll_ms"), "value");
                    all = cJSON_IsString(v) && strcmp(v->valuestring, want) == 0;
                    cJSON_Delete(a);
                }
                if (!all) usleep(500);
            }
            if (all) reach[nreach++] = now_ns() - t0;
        }
        qsort(reach, (size_t)nreach, sizeof *reach, cmp_i64);
        printf("config_bench setting_reaches_all_members rounds=%d p50_ms=%.2f max_ms=%.2f\n", nreach,
               nreach ? (double)reach[nreach / 2] / 1e6 : 0, nreach ? (double)reach[nreach - 1] / 1e6 : 0);
    }

    int sizes[] = {16, 64};
    for (size_t s = 0; s < 2; s++) {
        unsigned failed;
        struct counters c0 = counters_of(0);
        int64_t t0 = now_ns();
        double rate = throughput(sizes[s], seconds, &failed, NULL, NULL);
        struct counters c1 = counters_of(0);
        double blocks_per_s = (c1.blocks - c0.blocks) / ((double)(now_ns() - t0) / 1e9);
        double syncs = c1.syncs - c0.syncs, delivered = c1.delivered - c0.delivered;
        if (cl.etcd) {
            printf("config_bench clients=%d seconds=%d puts_per_s=%.0f failed=%u\n", sizes[s], seconds, rate, failed);
            continue;
        }
        /* Member 0's disk: the mean fdatasync, and the mean wait of a commit for its sync. */
        printf("config_bench clients=%d seconds=%d puts_per_s=%.0f failed=%u blocks_per_s=%.0f puts_per_block=%.1f "
               "fdatasync_ms=%.3f commit_wait_ms=%.3f\n",
               sizes[s], seconds, rate, failed, blocks_per_s, blocks_per_s > 0 ? rate / blocks_per_s : 0,
               syncs > 0 ? (c1.sync_us - c0.sync_us) / syncs / 1000 : 0,
               delivered > 0 ? (c1.wait_us - c0.wait_us) / delivered / 1000 : 0);
    }

    if (soak > 0 && !cl.etcd) {
        /* 16 clients for a long while: the put latency's tail, and the snapshots taken meanwhile. */
        cJSON *st0 = tc_status(&cl, 0);
        double snaps0 = st0 ? cJSON_GetNumberValue(cJSON_GetObjectItem(st0, "snapshots")) : 0;
        cJSON_Delete(st0);
        unsigned failed;
        int64_t *sl = NULL;
        size_t n = 0;
        double rate = throughput(16, soak, &failed, &sl, &n);
        cJSON *st1 = tc_status(&cl, 0);
        double snaps1 = st1 ? cJSON_GetNumberValue(cJSON_GetObjectItem(st1, "snapshots")) : 0;
        double index = st1 ? cJSON_GetNumberValue(cJSON_GetObjectItem(st1, "committed_index")) : 0;
        cJSON_Delete(st1);
        printf("config_bench soak_clients=16 seconds=%d puts_per_s=%.0f failed=%u p99_ms=%.2f p999_ms=%.2f max_ms=%.2f "
               "snapshots=%.0f committed_index=%.0f\n",
               soak, rate, failed, n ? (double)sl[n * 99 / 100] / 1e6 : 0, n ? (double)sl[n * 999 / 1000] / 1e6 : 0,
               n ? (double)sl[n - 1] / 1e6 : 0, snaps1 - snaps0, index);
        free(sl);
    }

    /* The stall: 16 clients running, SIGKILL the current leader, time to the next answered put. */
    struct worker w[16];
    stop = 0;
    for (int i = 0; i < 16; i++) {
        w[i] = (struct worker){.id = i, .member = i % cl.members};
        pthread_create(&w[i].thread, NULL, worker_main, &w[i]);
    }
    sleep(2);
    int leader = tc_leader(&cl);
    if (leader < 0) leader = 1;
    last_ok_ns = 0;
    int64_t killed = now_ns();
    tc_kill(&cl, leader);
    int64_t mark = killed;
    last_ok_ns = 0;
    while (last_ok_ns == 0 && now_ns() - killed < 20000000000ll) usleep(1000);
    int64_t first = last_ok_ns;
    /* The longest gap between answers in the 3 s after the kill (a member's next turn to lead). */
    int64_t prev = first, gap = first ? first - mark : 0;
    while (now_ns() - killed < 3000000000ll) {
        int64_t t = last_ok_ns;
        if (t - prev > gap) gap = t - prev;
        prev = t;
        usleep(1000);
        if (now_ns() - last_ok_ns > gap) gap = now_ns() - last_ok_ns;
    }
    stop = 1;
    for (int i = 0; i < 16; i++) pthread_join(w[i].thread, NULL);
    printf("config_bench leader_killed=%d first_put_after_ms=%.0f longest_gap_ms=%.0f\n", leader,
           first ? (double)(first - killed) / 1e6 : -1, (double)gap / 1e6);
    tc_destroy(&cl);
    return 0;
}
