/*
 * test_metrics.c - the metrics library without servers: the cgroup and /proc parsers, a
 * container's usage from cgroup trees laid out as v1 and v2 kernels lay them out, the
 * subnode /status decoder, query strings, the in-memory ring, bucketing and metering,
 * the health checks, the Prometheus text (checked by promtool itself) and the engine
 * sampling a fake cgroup tree through core's callback, with its interval and retention
 * changed while it runs.
 */
#include <check.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "httpd/httpd.h"
#include "metrics/metrics.h"
#include "testutil.h"

#define ID_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define ID_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

/* ---- Files for fake trees ---- */

static void mkdirs(const char *path)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", path);
    ck_assert_int_eq(system(cmd), 0);
}

static void put(const char *dir, const char *name, const char *text)
{
    char path[1200];
    mkdirs(dir);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

static char tmp[64];

static void make_tmp(void)
{
    snprintf(tmp, sizeof tmp, "/tmp/cohort-metrics-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmp));
}

static void remove_tmp(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    ck_assert_int_eq(system(cmd), 0);
}

/* A v1 container as the cgroupfs driver lays it out, with the numbers the tests expect. */
static void fake_v1(const char *root, const char *id, const char *layout)
{
    char dir[600];
    snprintf(dir, sizeof dir, "%s/memory", root);
    mkdirs(dir);
    snprintf(dir, sizeof dir, "%s/cpuacct/%s", root, layout);
    put(dir, "cpuacct.usage", "2500000000\n");
    snprintf(dir, sizeof dir, "%s/memory/%s", root, layout);
    put(dir, "memory.usage_in_bytes", "104857600\n");
    put(dir, "memory.max_usage_in_bytes", "209715200\n");
    put(dir, "memory.limit_in_bytes", "536870912\n");
    put(dir, "memory.stat", "cache 1000\nrss 2000\ninactive_file 7\ntotal_cache 1000\ntotal_inactive_file 4194304\n");
    snprintf(dir, sizeof dir, "%s/pids/%s", root, layout);
    put(dir, "pids.current", "17\n");
    put(dir, "cgroup.procs", "");
    snprintf(dir, sizeof dir, "%s/blkio/%s", root, layout);
    put(dir, "blkio.throttle.io_service_bytes",
        "8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 0\n8:0 Async 12288\n8:0 Total 12288\n"
        "8:16 Read 1\n8:16 Write 2\n8:16 Total 3\nTotal 12291\n");
    (void)id;
}

/* ---- Parsers ---- */

START_TEST(parsers_of_cgroup_files)
{
    struct cohort_error err = {0};
    uint64_t v = 0, r = 0, w = 0;
    ck_assert_int_eq(metrics_parse_number("12345\n", 6, &v, &err), 0);
    ck_assert_uint_eq(v, 12345);
    ck_assert_int_eq(metrics_parse_number("max\n", 4, &v, &err), 0);
    ck_assert_uint_eq(v, 0);
    ck_assert_int_eq(metrics_parse_number("12a\n", 4, &v, &err), METRICS_E_MALFORMED);
    ck_assert_int_eq(metrics_parse_number("", 0, &v, &err), METRICS_E_MALFORMED);
    ck_assert_int_eq(metrics_parse_number("99999999999999999999", 20, &v, &err), METRICS_E_MALFORMED); /* > 2^64 */

    const char *stat = "usage_usec 123456\nuser_usec 100000\nsystem_usec 23456\n";
    ck_assert_int_eq(metrics_parse_keyed(stat, strlen(stat), "usage_usec", &v, &err), 0);
    ck_assert_uint_eq(v, 123456);
    ck_assert_int_eq(metrics_parse_keyed(stat, strlen(stat), "system_usec", &v, &err), 0);
    ck_assert_uint_eq(v, 23456);
    /* A key that is a prefix of another is not confused with it. */
    ck_assert_int_eq(metrics_parse_keyed(stat, strlen(stat), "usage", &v, &err), METRICS_E_NOT_FOUND);
    ck_assert_int_eq(metrics_parse_keyed("usage_usec x\n", 13, "usage_usec", &v, &err), METRICS_E_MALFORMED);

    const char *blkio = "8:0 Read 4096\n8:0 Write 100\n8:0 Total 4196\n253:1 Read 4\n253:1 Write 6\nTotal 4206\n";
    ck_assert_int_eq(metrics_parse_blkio_v1(blkio, strlen(blkio), &r, &w, &err), 0);
    ck_assert_uint_eq(r, 4100);
    ck_assert_uint_eq(w, 106);
    ck_assert_int_eq(metrics_parse_blkio_v1("Total 0\n", 8, &r, &w, &err), 0);
    ck_assert_uint_eq(r + w, 0);
    ck_assert_int_eq(metrics_parse_blkio_v1("8:0 Read\n", 9, &r, &w, &err), METRICS_E_MALFORMED);
    ck_assert_int_eq(metrics_parse_blkio_v1("garbage\n", 8, &r, &w, &err), METRICS_E_MALFORMED);

    const char *io = "259:0 rbytes=1000 wbytes=2000 rios=3 wios=4 dbytes=0 dios=0\n8:0 rbytes=1 wbytes=2 rios=0 wios=0\n";
    ck_assert_int_eq(metrics_parse_io_stat(io, strlen(io), &r, &w, &err), 0);
    ck_assert_uint_eq(r, 1001);
    ck_assert_uint_eq(w, 2002);
    ck_assert_int_eq(metrics_parse_io_stat("8:0 rbytes\n", 11, &r, &w, &err), METRICS_E_MALFORMED);

    const char *dev = "Inter-|   Receive                                                |  Transmit\n"
                      " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n"
                      "    lo:  999999      10    0    0    0     0          0         0   999999      10    0    0    0     0       0          0\n"
                      "  eth0:    5000      40    0    0    0     0          0         0     7000      50    0    0    0     0       0          0\n"
                      "  eth1:       1       1    0    0    0     0          0         0        2       1    0    0    0     0       0          0\n";
    ck_assert_int_eq(metrics_parse_net_dev(dev, strlen(dev), &r, &w, &err), 0);
    ck_assert_uint_eq(r, 5001);
    ck_assert_uint_eq(w, 7002);
    ck_assert_int_eq(metrics_parse_net_dev("eth0: 1 2\n", 10, &r, &w, &err), METRICS_E_MALFORMED);
}
END_TEST

START_TEST(parsers_of_proc)
{
    struct cohort_error err = {0};
    double seconds[8];
    const char *stat = "cpu  100 5 50 1000 20 1 2 3 0 0\ncpu0 50 2 25 500 10 0 1 1 0 0\nintr 1\n";
    ck_assert_int_eq(metrics_parse_proc_stat(stat, strlen(stat), 100, seconds, &err), 0);
    ck_assert(fabs(seconds[0] - 1.0) < 1e-9);   /* user */
    ck_assert(fabs(seconds[3] - 10.0) < 1e-9);  /* idle */
    ck_assert(fabs(seconds[7] - 0.03) < 1e-9);  /* steal */
    ck_assert_int_eq(metrics_parse_proc_stat("intr 1\n", 7, 100, seconds, &err), METRICS_E_MALFORMED);
    uint64_t total, available;
    const char *mem = "MemTotal:       24576000 kB\nMemFree:  100 kB\nMemAvailable:   20480000 kB\n";
    ck_assert_int_eq(metrics_parse_meminfo(mem, strlen(mem), &total, &available, &err), 0);
    ck_assert_uint_eq(total, 24576000ull * 1024);
    ck_assert_uint_eq(available, 20480000ull * 1024);
    ck_assert_int_eq(metrics_parse_meminfo("MemTotal: 1 kB\n", 15, &total, &available, &err), METRICS_E_MALFORMED);

    /* The real host files parse. */
    struct metrics_host host;
    ck_assert_msg(metrics_host_read(NULL, "/", &host, &err) == 0, "%s", err.message);
    ck_assert_uint_gt(host.memory_total_bytes, 0);
    ck_assert_uint_le(host.memory_available_bytes, host.memory_total_bytes);
    ck_assert_uint_gt(host.disk_total_bytes, 0);
    ck_assert(host.cpu_seconds[3] > 0);
}
END_TEST

/* ---- cgroup trees ---- */

START_TEST(cgroup_v1_tree)
{
    make_tmp();
    char root[128], layout[128];
    snprintf(root, sizeof root, "%s/v1", tmp);
    snprintf(layout, sizeof layout, "docker/%s", ID_A);
    fake_v1(root, ID_A, layout);
    struct metrics_cgroup cg;
    struct cohort_error err = {0};
    ck_assert_int_eq(metrics_cgroup_open(&cg, root, "/proc", &err), 0);
    ck_assert_int_eq(cg.version, METRICS_CGROUP_V1);
    struct metrics_container_usage u;
    ck_assert_msg(metrics_cgroup_read(&cg, ID_A, &u, &err) == 0, "%s", err.message);
    ck_assert_uint_eq(u.cpu_ns, 2500000000ull);
    ck_assert_uint_eq(u.memory_usage_bytes, 104857600);
    ck_assert_uint_eq(u.memory_working_set_bytes, 104857600 - 4194304); /* less total_inactive_file, not inactive_file */
    ck_assert(u.has_memory_peak);
    ck_assert_uint_eq(u.memory_peak_bytes, 209715200);
    ck_assert_uint_eq(u.memory_limit_bytes, 536870912);
    ck_assert_uint_eq(u.pids, 17);
    ck_assert_uint_eq(u.block_read_bytes, 4097);
    ck_assert_uint_eq(u.block_write_bytes, 8194);
    ck_assert(!u.has_network); /* no process: no namespace to read */

    /* The systemd driver's layout is found too; an unknown id is NOT_FOUND; a bad id INVALID. */
    snprintf(layout, sizeof layout, "system.slice/docker-%s.scope", ID_B);
    fake_v1(root, ID_B, layout);
    ck_assert_int_eq(metrics_cgroup_read(&cg, ID_B, &u, &err), 0);
    ck_assert_uint_eq(u.pids, 17);
    ck_assert_int_eq(metrics_cgroup_read(&cg, "cccccccccccc", &u, &err), METRICS_E_NOT_FOUND);
    ck_assert_int_eq(metrics_cgroup_read(&cg, "../../etc", &u, &err), METRICS_E_INVALID);

    /* No limit: v1 writes a huge number; it reads as 0 (none). A corrupt file names itself. */
    char dir[300];
    snprintf(dir, sizeof dir, "%s/memory/docker/%s", root, ID_A);
    put(dir, "memory.limit_in_bytes", "9223372036854771712\n");
    ck_assert_int_eq(metrics_cgroup_read(&cg, ID_A, &u, &err), 0);
    ck_assert_uint_eq(u.memory_limit_bytes, 0);
    put(dir, "memory.usage_in_bytes", "lots\n");
    ck_assert_int_eq(metrics_cgroup_read(&cg, ID_A, &u, &err), METRICS_E_MALFORMED);
    ck_assert_ptr_nonnull(strstr(err.message, "memory.usage_in_bytes"));
    remove_tmp();
}
END_TEST

START_TEST(cgroup_v2_tree)
{
    make_tmp();
    char root[128], dir[300];
    snprintf(root, sizeof root, "%s/v2", tmp);
    put(root, "cgroup.controllers", "cpuset cpu io memory pids\n");
    snprintf(dir, sizeof dir, "%s/system.slice/docker-%s.scope", root, ID_A);
    put(dir, "cpu.stat", "usage_usec 1500000\nuser_usec 1000000\nsystem_usec 500000\n");
    put(dir, "memory.current", "50000000\n");
    put(dir, "memory.max", "max\n");
    put(dir, "memory.stat", "anon 1\nfile 2\ninactive_file 10000000\nactive_file 3\n");
    put(dir, "pids.current", "3\n");
    put(dir, "io.stat", "8:0 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\n");
    put(dir, "cgroup.procs", "");
    struct metrics_cgroup cg;
    struct cohort_error err = {0};
    ck_assert_int_eq(metrics_cgroup_open(&cg, root, NULL, &err), 0);
    ck_assert_int_eq(cg.version, METRICS_CGROUP_V2);
    struct metrics_container_usage u;
    ck_assert_msg(metrics_cgroup_read(&cg, ID_A, &u, &err) == 0, "%s", err.message);
    ck_assert_uint_eq(u.cpu_ns, 1500000000ull);
    ck_assert_uint_eq(u.memory_working_set_bytes, 40000000);
    ck_assert(!u.has_memory_peak); /* no memory.peak before 5.19 */
    ck_assert_uint_eq(u.memory_limit_bytes, 0);
    ck_assert_uint_eq(u.pids, 3);
    ck_assert_uint_eq(u.block_read_bytes, 10);
    ck_assert_uint_eq(u.block_write_bytes, 20);
    put(dir, "memory.peak", "60000000\n");
    ck_assert_int_eq(metrics_cgroup_read(&cg, ID_A, &u, &err), 0);
    ck_assert(u.has_memory_peak);
    ck_assert_uint_eq(u.memory_peak_bytes, 60000000);

    /* Neither hierarchy: a clear error. */
    ck_assert_int_eq(metrics_cgroup_open(&cg, tmp, NULL, &err), METRICS_E_NOT_FOUND);
    ck_assert_ptr_nonnull(strstr(err.message, "no cgroup hierarchy"));
    remove_tmp();
}
END_TEST

/* ---- /status ---- */

START_TEST(subnode_status)
{
    struct metrics_subnode_status s;
    struct cohort_error err = {0};
    const char *older = "{\"health\":\"ok\",\"version\":\"0.1.0\",\"config_hash\":\"0xab\",\"chain\":\"demo\",\"slots\":1}";
    ck_assert_int_eq(metrics_parse_subnode_status(older, strlen(older), &s, &err), 0);
    ck_assert(s.health_ok);
    ck_assert_str_eq(s.config_hash, "0xab");
    ck_assert_uint_eq(s.present, 0);

    const char *newer = "{\"health\":\"ok\",\"chain\":\"demo\",\"chain\":{\"height\":12,\"last_block_timestamp_ms\":1733300000000,"
                        "\"gas_used_total\":123,\"transactions_total\":45,\"txpool_pending\":3,\"txpool_queued\":1,"
                        "\"peers_connected\":0,\"view\":12,\"consensus_members\":4,\"stalled\":true}}";
    ck_assert_int_eq(metrics_parse_subnode_status(newer, strlen(newer), &s, &err), 0);
    ck_assert_uint_eq(s.present, 0x3ff);
    ck_assert(s.stalled);
    ck_assert_uint_eq(s.consensus_members, 4);
    ck_assert_uint_eq(s.height, 12);
    ck_assert_uint_eq(s.last_block_timestamp_ms, 1733300000000ull);
    ck_assert_uint_eq(s.gas_used_total, 123);
    ck_assert_uint_eq(s.transactions_total, 45);
    ck_assert_uint_eq(s.txpool_pending, 3);
    ck_assert_uint_eq(s.txpool_queued, 1);
    ck_assert_uint_eq(s.peers_connected, 0);
    ck_assert_uint_eq(s.view, 12);

    /* Figures that are absent, negative, fractional or not numbers stay absent. */
    const char *odd = "{\"health\":\"refused\",\"chain\":{\"height\":-1,\"view\":1.5,\"peers_connected\":\"3\",\"gas_used_total\":7}}";
    ck_assert_int_eq(metrics_parse_subnode_status(odd, strlen(odd), &s, &err), 0);
    ck_assert(!s.health_ok);
    ck_assert_uint_eq(s.present, METRICS_CHAIN_GAS_USED);

    ck_assert_int_eq(metrics_parse_subnode_status("[1]", 3, &s, &err), METRICS_E_MALFORMED);
    ck_assert_int_eq(metrics_parse_subnode_status("{", 1, &s, &err), METRICS_E_MALFORMED);
    char deep[64] = "";
    for (int i = 0; i < 20; i++) strcat(deep, "[");
    ck_assert_int_eq(metrics_parse_subnode_status(deep, strlen(deep), &s, &err), METRICS_E_MALFORMED);
    ck_assert_ptr_nonnull(strstr(err.message, "nested"));
    /* Brackets inside strings do not count as nesting. */
    const char *quoted = "{\"health\":\"ok\",\"reason\":\"[[[[[[[[[[[[[[[[[[[[\"}";
    ck_assert_int_eq(metrics_parse_subnode_status(quoted, strlen(quoted), &s, &err), 0);
    char *huge = malloc(METRICS_STATUS_MAX_BYTES + 2);
    memset(huge, ' ', METRICS_STATUS_MAX_BYTES + 1);
    huge[METRICS_STATUS_MAX_BYTES + 1] = '\0';
    ck_assert_int_eq(metrics_parse_subnode_status(huge, METRICS_STATUS_MAX_BYTES + 1, &s, &err), METRICS_E_TOO_LARGE);
    free(huge);
}
END_TEST

/* ---- Queries ---- */

START_TEST(queries)
{
    struct metrics_query q;
    struct cohort_error err = {0};
    int64_t now = 1764842400000; /* 2025-12-04T10:00:00Z */
    ck_assert_int_eq(metrics_parse_query("", now, &q, &err), 0);
    ck_assert(!q.has_since && !q.has_until && !q.has_step && q.chain[0] == '\0');
    ck_assert_int_eq(metrics_parse_query("chain=demo&since=1h&step=60s", now, &q, &err), 0);
    ck_assert_str_eq(q.chain, "demo");
    ck_assert_int_eq(q.since_ms, now - 3600000);
    ck_assert_int_eq(q.step_ms, 60000);
    ck_assert_int_eq(metrics_parse_query("since=2025-12-04T09:00:00Z&until=2025-12-04T09:30:00.5Z", now, &q, &err), 0);
    ck_assert_int_eq(q.since_ms, now - 3600000);
    ck_assert_int_eq(q.until_ms, now - 1800000 + 500);
    ck_assert_int_eq(metrics_parse_query("since=1764838800&until=1764842400000", now, &q, &err), 0);
    ck_assert_int_eq(q.since_ms, now - 3600000);
    ck_assert_int_eq(q.until_ms, now);
    ck_assert_int_eq(metrics_parse_query("chain=my%20chain&since=7d", now, &q, &err), 0);
    ck_assert_str_eq(q.chain, "my chain");
    ck_assert_int_eq(q.since_ms, now - 7 * 86400000LL);
    ck_assert_int_eq(metrics_parse_query("since=2025-12-04T09:00:00%2B00:00", now, &q, &err), 0);
    ck_assert_int_eq(q.since_ms, now - 3600000);

    ck_assert_int_eq(metrics_parse_query("chian=demo", now, &q, &err), METRICS_E_MALFORMED);
    ck_assert_ptr_nonnull(strstr(err.message, "chian"));
    ck_assert_int_eq(metrics_parse_query("since=yesterday", now, &q, &err), METRICS_E_MALFORMED);
    ck_assert_ptr_nonnull(strstr(err.message, "since"));
    ck_assert_int_eq(metrics_parse_query("step=5x", now, &q, &err), METRICS_E_MALFORMED);
    ck_assert_int_eq(metrics_parse_query("since=1h&until=2h", now, &q, &err), METRICS_E_MALFORMED);
    ck_assert_int_eq(metrics_parse_query("chain=%zz", now, &q, &err), METRICS_E_MALFORMED);
    ck_assert_int_eq(metrics_parse_query("chain=%00", now, &q, &err), METRICS_E_MALFORMED);
    ck_assert_int_eq(metrics_parse_query("since=99999999999999999999", now, &q, &err), METRICS_E_MALFORMED);
    ck_assert_int_eq(metrics_parse_query("since=2025-13-04T09:00:00Z", now, &q, &err), METRICS_E_MALFORMED);
    char long_chain[200] = "chain=";
    memset(long_chain + 6, 'x', 100);
    ck_assert_int_eq(metrics_parse_query(long_chain, now, &q, &err), METRICS_E_MALFORMED);
    int64_t ms;
    ck_assert_int_eq(metrics_parse_duration("250ms", &ms, &err), 0);
    ck_assert_int_eq(ms, 250);
    ck_assert_int_eq(metrics_parse_duration("90", &ms, &err), 0);
    ck_assert_int_eq(ms, 90000);
    ck_assert_int_eq(metrics_parse_duration("-1s", &ms, &err), METRICS_E_MALFORMED);
}
END_TEST

/* ---- Ring, buckets, metering ---- */

static struct metrics_point point_with(double cpu, double ws, double height)
{
    struct metrics_point p;
    metrics_point_clear(&p);
    p.values[METRICS_cpu_seconds] = cpu;
    p.values[METRICS_memory_working_set_bytes] = ws;
    p.values[METRICS_height] = height;
    return p;
}

START_TEST(ring_keeps_the_newest)
{
    struct metrics_ring *r;
    struct cohort_error err = {0};
    ck_assert_int_eq(metrics_ring_new(5, &r, &err), 0);
    for (int i = 0; i < 8; i++) {
        struct metrics_point p = point_with(i, 100 * i, i);
        ck_assert_int_eq(metrics_ring_record(r, "demo", 1000 * i, &p), 0);
    }
    struct metrics_point p = point_with(1, 1, 1);
    ck_assert_int_eq(metrics_ring_record(r, "demo", 500, &p), 0); /* older than the newest: ignored */
    int64_t *times;
    struct metrics_point *points;
    size_t n;
    ck_assert_int_eq(metrics_ring_range(r, "demo", 0, 100000, &times, &points, &n, &err), 0);
    ck_assert_uint_eq(n, 5);
    ck_assert_int_eq(times[0], 3000);
    ck_assert_int_eq(times[4], 7000);
    ck_assert(points[4].values[METRICS_cpu_seconds] == 7);
    free(times);
    free(points);
    ck_assert_int_eq(metrics_ring_range(r, "demo", 4000, 6000, &times, &points, &n, &err), 0);
    ck_assert_uint_eq(n, 2);
    free(times);
    free(points);
    ck_assert_int_eq(metrics_ring_range(r, "other", 0, 100000, &times, &points, &n, &err), 0);
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(metrics_ring_oldest_ms(r), 3000);

    int64_t t;
    ck_assert(metrics_ring_lookup(r, "demo", 5500, &t, &p));
    ck_assert_int_eq(t, 5000);
    ck_assert(metrics_ring_lookup(r, "demo", 100, &t, &p)); /* before all: the oldest */
    ck_assert_int_eq(t, 3000);
    ck_assert(metrics_ring_lookup(r, "demo", 999999, &t, &p));
    ck_assert_int_eq(t, 7000);
    ck_assert(!metrics_ring_lookup(r, "none", 0, &t, &p));

    /* Past METRICS_MAX_CHAINS chains, the one recorded longest ago is forgotten. */
    for (int c = 0; c < METRICS_MAX_CHAINS; c++) {
        char name[32];
        snprintf(name, sizeof name, "c%d", c);
        ck_assert_int_eq(metrics_ring_record(r, name, 10000 + c, &p), 0);
    }
    ck_assert(!metrics_ring_lookup(r, "demo", 0, &t, &p));
    ck_assert(metrics_ring_lookup(r, "c0", 0, &t, &p));
    char names[METRICS_MAX_CHAINS][METRICS_CHAIN_MAX];
    ck_assert_uint_eq(metrics_ring_chains(r, names, METRICS_MAX_CHAINS), METRICS_MAX_CHAINS);
    metrics_ring_free(r);
}
END_TEST

/* The times a chain's ring holds, oldest first, into out (room for max); returns how many.
   With same_as_time, each point's cpu_seconds must be its time in seconds (as recorded). */
static size_t ring_times_checked(struct metrics_ring *r, const char *chain, int64_t *out, size_t max, bool same_as_time)
{
    int64_t *times;
    struct metrics_point *points;
    size_t n;
    struct cohort_error err = {0};
    ck_assert_msg(metrics_ring_range(r, chain, 0, INT64_MAX, &times, &points, &n, &err) == 0, "%s", err.message);
    ck_assert_uint_le(n, max);
    for (size_t i = 0; i < n; i++) {
        out[i] = times[i];
        if (same_as_time) ck_assert(points[i].values[METRICS_cpu_seconds] == (double)(times[i] / 1000)); /* moved with its time */
    }
    free(times);
    free(points);
    return n;
}

static size_t ring_times(struct metrics_ring *r, const char *chain, int64_t *out, size_t max)
{
    return ring_times_checked(r, chain, out, max, true);
}

START_TEST(ring_resizes_keeping_the_newest)
{
    struct metrics_ring *r;
    struct cohort_error err = {0};
    ck_assert_int_eq(metrics_ring_new(10, &r, &err), 0);
    /* demo wraps (13 points into 10: its head is not at 0), small has fewer than any capacity below. */
    for (int i = 0; i < 13; i++) {
        struct metrics_point p = point_with(i, 0, i);
        ck_assert_int_eq(metrics_ring_record(r, "demo", 1000 * i, &p), 0);
    }
    for (int i = 0; i < 2; i++) {
        struct metrics_point p = point_with(100 + i, 0, 0);
        ck_assert_int_eq(metrics_ring_record(r, "small", 1000 * (100 + i), &p), 0);
    }
    int64_t t[16];
    ck_assert_uint_eq(ring_times(r, "demo", t, 16), 10);
    ck_assert_int_eq(t[0], 3000);

    /* Shrink: the newest 4 of demo, both of small. */
    ck_assert_int_eq(metrics_ring_resize(r, 4, &err), 0);
    ck_assert_uint_eq(metrics_ring_capacity(r), 4);
    ck_assert_uint_eq(ring_times(r, "demo", t, 16), 4);
    for (int i = 0; i < 4; i++) ck_assert_int_eq(t[i], 1000 * (9 + i));
    ck_assert_uint_eq(ring_times(r, "small", t, 16), 2);
    ck_assert_int_eq(t[0], 100000);
    ck_assert_int_eq(t[1], 101000);
    /* It still turns as a ring of 4: one more pushes the oldest out. */
    struct metrics_point p = point_with(13, 0, 13);
    ck_assert_int_eq(metrics_ring_record(r, "demo", 13000, &p), 0);
    ck_assert_uint_eq(ring_times(r, "demo", t, 16), 4);
    ck_assert_int_eq(t[0], 10000);
    ck_assert_int_eq(t[3], 13000);
    int64_t at;
    ck_assert(metrics_ring_lookup(r, "demo", 11500, &at, &p));
    ck_assert_int_eq(at, 11000);
    ck_assert(p.values[METRICS_height] == 11);
    ck_assert_int_eq(metrics_ring_oldest_ms(r), 10000);

    /* Grow: the old points stay, and the room fills before any goes. */
    ck_assert_int_eq(metrics_ring_resize(r, 8, &err), 0);
    ck_assert_uint_eq(ring_times(r, "demo", t, 16), 4);
    ck_assert_int_eq(t[0], 10000);
    for (int i = 14; i < 18; i++) {
        p = point_with(i, 0, i);
        ck_assert_int_eq(metrics_ring_record(r, "demo", 1000 * i, &p), 0);
    }
    ck_assert_uint_eq(ring_times(r, "demo", t, 16), 8);
    for (int i = 0; i < 8; i++) ck_assert_int_eq(t[i], 1000 * (10 + i));
    p = point_with(18, 0, 18);
    ck_assert_int_eq(metrics_ring_record(r, "demo", 18000, &p), 0);
    ck_assert_uint_eq(ring_times(r, "demo", t, 16), 8);
    ck_assert_int_eq(t[0], 11000);
    /* A chain first recorded after the resize gets the new capacity. */
    for (int i = 0; i < 12; i++) {
        p = point_with(200 + i, 0, 0);
        ck_assert_int_eq(metrics_ring_record(r, "late", 1000 * (200 + i), &p), 0);
    }
    ck_assert_uint_eq(ring_times(r, "late", t, 16), 8);
    ck_assert_int_eq(t[0], 204000);

    /* Capacity 0 is refused and changes nothing; the same capacity is a no-op. */
    ck_assert_int_eq(metrics_ring_resize(r, 0, &err), METRICS_E_INVALID);
    ck_assert_uint_eq(metrics_ring_capacity(r), 8);
    ck_assert_int_eq(metrics_ring_resize(r, 8, &err), 0);
    ck_assert_uint_eq(ring_times(r, "demo", t, 16), 8);
    ck_assert_int_eq(t[0], 11000);
    /* Down to one point: the newest. */
    ck_assert_int_eq(metrics_ring_resize(r, 1, &err), 0);
    ck_assert_uint_eq(ring_times(r, "demo", t, 16), 1);
    ck_assert_int_eq(t[0], 18000);
    metrics_ring_free(r);
}
END_TEST

START_TEST(buckets_and_metering)
{
    int64_t times[6] = {0, 10000, 20000, 60000, 70000, 130000};
    struct metrics_point p[6] = {point_with(1, 100, 1), point_with(2, 200, 2), point_with(3, NAN, 3),
                                 point_with(0.5, 300, 4), point_with(1.5, 400, 5), point_with(2.5, 500, 6)};
    struct metrics_series_data d = {0};
    struct cohort_error err = {0};
    ck_assert_int_eq(metrics_downsample(times, p, 6, 60000, &d, &err), 0);
    ck_assert_uint_eq(d.n, 3);
    ck_assert_int_eq(d.times[1], 60000);
    ck_assert(d.points[0].values[METRICS_cpu_seconds] == 3);                 /* a counter: the last */
    ck_assert(d.points[0].values[METRICS_memory_working_set_bytes] == 150);  /* a gauge: the mean of what is there */
    ck_assert(d.points[1].values[METRICS_memory_working_set_bytes] == 350);
    ck_assert(isnan(d.points[0].values[METRICS_pids]));
    metrics_series_data_free(&d);
    ck_assert_int_eq(metrics_downsample(times, p, 6, 0, &d, &err), 0);
    ck_assert_uint_eq(d.n, 6);
    metrics_series_data_free(&d);

    /* cpu: 1 -> 2 -> 3 -> reset to 0.5 -> 1.5 -> 2.5: increases 1 + 1 + 0.5 + 1 + 1. */
    ck_assert(fabs(metrics_counter_increase(times, p, 6, 0, METRICS_cpu_seconds) - 4.5) < 1e-9);
    /* From 20000 on: the rise into 20000 counts (its previous value is before the window). */
    ck_assert(fabs(metrics_counter_increase(times, p, 6, 20000, METRICS_cpu_seconds) - 3.5) < 1e-9);
    ck_assert(isnan(metrics_counter_increase(times, p, 6, 0, METRICS_gas_used)));
    /* NaNs in between are skipped: the rise is from the previous value seen. */
    p[2].values[METRICS_cpu_seconds] = NAN;
    ck_assert(fabs(metrics_counter_increase(times, p, 6, 0, METRICS_cpu_seconds) - 3.5) < 1e-9);

    struct metrics_usage u = {0};
    metrics_usage_from_points(times, p, 6, 10000, &u);
    ck_assert_uint_eq(u.samples, 5);
    ck_assert(fabs(u.cpu_seconds - 3.5) < 1e-9); /* 1 (1->2), reset 0.5, 1, 1 */
    ck_assert(fabs(u.memory_average_bytes - 350) < 1e-9);
    ck_assert(u.memory_peak_bytes == 500);
    ck_assert(isnan(u.gas_used));
    ck_assert(isnan(u.network_bytes));
}
END_TEST

/* ---- Health ---- */

static void healthy_sample(struct metrics_sample *s, size_t n)
{
    memset(s, 0, sizeof *s);
    s->time_ms = 1764842400000;
    s->node_id = 7;
    s->node.slots_total = 128;
    s->node.docker_ok = true;
    s->node.manager_configured = true;
    s->node.manager_ok = true;
    s->node.manager_head_known = true;
    s->node.manager_head_block = 100;
    s->node.manager_watcher_block = 98;
    s->node.manager_head_timestamp_s = s->time_ms / 1000 - 5;
    s->nsubnodes = n;
    for (size_t i = 0; i < n; i++) {
        struct metrics_subnode_sample *sn = &s->subnodes[i];
        snprintf(sn->in.chain, sizeof sn->in.chain, "chain-%zu", i);
        snprintf(sn->in.container, sizeof sn->in.container, "cohort-x-n7-chain-%zu", i);
        snprintf(sn->in.container_id, sizeof sn->in.container_id, "%064zx", i + 1);
        snprintf(sn->in.state, sizeof sn->in.state, "running");
        sn->in.first_slot = (unsigned)i;
        sn->in.slots = 1;
        sn->in.rpc_port = (uint16_t)(10000 + 8 * i);
        sn->in.config_current = true;
        sn->in.volume_budget_bytes = 1 << 30;
        sn->in.volume_used_bytes = 1 << 20;
        sn->usage_ok = true;
        sn->usage.cpu_ns = 1000000000ull * (i + 1);
        sn->usage.memory_usage_bytes = 64 << 20;
        sn->usage.memory_working_set_bytes = 60 << 20;
        sn->usage.has_memory_peak = true;
        sn->usage.memory_peak_bytes = 70 << 20;
        sn->usage.memory_limit_bytes = 200 << 20;
        sn->usage.pids = 4;
        sn->status_ok = true;
        sn->status_seconds = 0.0012;
        sn->status.health_ok = true;
        sn->status.present = 0x1ff;
        sn->status.consensus_members = 4;
        sn->status.height = 50;
        sn->status.peers_connected = 3;
        sn->status.gas_used_total = 21000;
        sn->status.transactions_total = 1;
        sn->status.last_block_timestamp_ms = (uint64_t)s->time_ms - 1000;
    }
}

static const struct metrics_check *find_check(const struct metrics_check *c, size_t n, const char *name, const char *chain)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(c[i].name, name) == 0 && strcmp(c[i].chain, chain) == 0) return &c[i];
    ck_abort_msg("no check %s for '%s'", name, chain);
    return NULL;
}

static struct metrics_sample sample_buf;
static struct metrics_check checks_buf[METRICS_MAX_CHECKS];

START_TEST(health_checks)
{
    struct metrics_sample *s = &sample_buf;
    healthy_sample(s, 2);
    struct metrics_health_history h[2] = {0};
    for (int i = 0; i < 2; i++) {
        h[i].has_height_before = true;
        h[i].height_before = 40;
        h[i].height_before_ms = s->time_ms - 130000;
        h[i].has_restarts_hour_ago = true;
    }
    struct metrics_health_input in = {.sample = s, .history = h, .database_configured = true, .database_ok = true};
    size_t n = metrics_health_evaluate(&in, checks_buf);
    ck_assert_uint_eq(n, 7 + 7 * 2);
    for (size_t i = 0; i < n; i++) {
        bool skipped_ok = strcmp(checks_buf[i].name, "keystore_readable") == 0 || strcmp(checks_buf[i].name, "config_store_healthy") == 0;
        ck_assert_msg(checks_buf[i].status == (skipped_ok ? METRICS_CHECK_SKIPPED : METRICS_CHECK_OK), "%s %s: %s",
                      checks_buf[i].name, checks_buf[i].chain, checks_buf[i].reason);
    }

    /* Each failure names its cause. */
    snprintf(s->subnodes[0].in.state, sizeof s->subnodes[0].in.state, "exited");
    s->subnodes[0].status_ok = false;
    snprintf(s->subnodes[0].status_error, sizeof s->subnodes[0].status_error, "Couldn't connect to server");
    s->subnodes[1].status.height = 40; /* unchanged for 130 s with transactions waiting: stalled */
    s->subnodes[1].status.txpool_pending = 5;
    s->subnodes[1].in.restarts = 5;
    s->subnodes[1].in.config_current = false;
    s->subnodes[1].in.volume_used_bytes = (1u << 30) + 1;
    s->subnodes[1].status.peers_connected = 0;
    s->node.docker_ok = false;
    snprintf(s->node.docker_error, sizeof s->node.docker_error, "docker: no daemon at /var/run/docker.sock");
    s->node.manager_watcher_block = 10;
    s->node.config_store = true;
    s->node.config_store_halted = true;
    s->node.keystore_configured = true;
    s->node.keystore_ok = false;
    snprintf(s->node.keystore_error, sizeof s->node.keystore_error, "the keystore's key is not node 7's registered key");
    in.database_ok = false;
    snprintf(in.database_error, sizeof in.database_error, "postgresql: connection refused");
    n = metrics_health_evaluate(&in, checks_buf);
    const struct metrics_check *c;
    c = find_check(checks_buf, n, "container_running", "chain-0");
    ck_assert_int_eq(c->status, METRICS_CHECK_FAIL);
    ck_assert_ptr_nonnull(strstr(c->reason, "exited"));
    c = find_check(checks_buf, n, "rpc_answering", "chain-0");
    ck_assert_int_eq(c->status, METRICS_CHECK_FAIL);
    ck_assert_ptr_nonnull(strstr(c->reason, "Couldn't connect"));
    c = find_check(checks_buf, n, "blocks_advancing", "chain-1");
    ck_assert_int_eq(c->status, METRICS_CHECK_FAIL);
    ck_assert_ptr_nonnull(strstr(c->reason, "has not moved for 130 s"));
    ck_assert_int_eq(find_check(checks_buf, n, "restarts_last_hour", "chain-1")->status, METRICS_CHECK_FAIL);
    ck_assert_int_eq(find_check(checks_buf, n, "config_current", "chain-1")->status, METRICS_CHECK_FAIL);
    ck_assert_int_eq(find_check(checks_buf, n, "volume_under_budget", "chain-1")->status, METRICS_CHECK_FAIL);
    ck_assert_int_eq(find_check(checks_buf, n, "peers_connected", "chain-1")->status, METRICS_CHECK_FAIL);
    s->subnodes[1].status.consensus_members = 1; /* the chain's only member has no one to connect to */
    ck_assert_int_eq(find_check(checks_buf, metrics_health_evaluate(&in, checks_buf), "peers_connected", "chain-1")->status,
                     METRICS_CHECK_OK);
    s->subnodes[1].status.consensus_members = 4;
    n = metrics_health_evaluate(&in, checks_buf);
    c = find_check(checks_buf, n, "dockerd_reachable", "");
    ck_assert_int_eq(c->status, METRICS_CHECK_FAIL);
    ck_assert_ptr_nonnull(strstr(c->reason, "no daemon"));
    c = find_check(checks_buf, n, "manager_in_sync", "");
    ck_assert_int_eq(c->status, METRICS_CHECK_FAIL);
    ck_assert_ptr_nonnull(strstr(c->reason, "90 blocks behind"));
    ck_assert_int_eq(find_check(checks_buf, n, "config_store_healthy", "")->status, METRICS_CHECK_FAIL);
    ck_assert_int_eq(find_check(checks_buf, n, "keystore_readable", "")->status, METRICS_CHECK_FAIL);
    ck_assert_int_eq(find_check(checks_buf, n, "history_database", "")->status, METRICS_CHECK_FAIL);

    /* A stall shorter than the limit passes; a subnode without heights is skipped, not failed. */
    h[1].height_before_ms = s->time_ms - 30000;
    n = metrics_health_evaluate(&in, checks_buf);
    ck_assert_int_eq(find_check(checks_buf, n, "blocks_advancing", "chain-1")->status, METRICS_CHECK_OK);
    /* Idle (nothing waits) passes however long the height stays; the log's own stall fails at once. */
    h[1].height_before_ms = s->time_ms - 600000;
    s->subnodes[1].status.txpool_pending = 0;
    n = metrics_health_evaluate(&in, checks_buf);
    c = find_check(checks_buf, n, "blocks_advancing", "chain-1");
    ck_assert_int_eq(c->status, METRICS_CHECK_OK);
    ck_assert_ptr_nonnull(strstr(c->reason, "idle"));
    s->subnodes[1].status.stalled = true;
    s->subnodes[1].status.present |= METRICS_CHAIN_STALLED;
    n = metrics_health_evaluate(&in, checks_buf);
    c = find_check(checks_buf, n, "blocks_advancing", "chain-1");
    ck_assert_int_eq(c->status, METRICS_CHECK_FAIL);
    ck_assert_ptr_nonnull(strstr(c->reason, "stalled"));
    s->subnodes[1].status.stalled = false;
    s->subnodes[1].status.present = 0;
    n = metrics_health_evaluate(&in, checks_buf);
    ck_assert_int_eq(find_check(checks_buf, n, "blocks_advancing", "chain-1")->status, METRICS_CHECK_SKIPPED);
    ck_assert_int_eq(find_check(checks_buf, n, "peers_connected", "chain-1")->status, METRICS_CHECK_SKIPPED);

    /* The clock: a manager block 5 minutes ahead, or a jump, fails it. */
    s->node.manager_head_timestamp_s = s->time_ms / 1000 + 300;
    n = metrics_health_evaluate(&in, checks_buf);
    c = find_check(checks_buf, n, "clock_sane", "");
    ck_assert_int_eq(c->status, METRICS_CHECK_FAIL);
    ck_assert_ptr_nonnull(strstr(c->reason, "300 s ahead"));
    s->node.manager_head_timestamp_s = s->time_ms / 1000;
    in.monotonic_jump_ms = -3600000;
    n = metrics_health_evaluate(&in, checks_buf);
    ck_assert_int_eq(find_check(checks_buf, n, "clock_sane", "")->status, METRICS_CHECK_FAIL);

    /* No manager configured: its checks are skipped. */
    s->node.manager_configured = false;
    n = metrics_health_evaluate(&in, checks_buf);
    ck_assert_int_eq(find_check(checks_buf, n, "manager_reachable", "")->status, METRICS_CHECK_SKIPPED);
}
END_TEST

/* ---- Prometheus text ---- */

/* Pipes text through `promtool check metrics`; returns its exit status and output. */
static int promtool(const char *text, char *output, size_t size)
{
    char in[128], cmd[400];
    snprintf(in, sizeof in, "/tmp/cohort-metrics-prom-%d.txt", (int)getpid());
    FILE *f = fopen(in, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "promtool check metrics < %s 2>&1", in);
    FILE *p = popen(cmd, "r");
    ck_assert_msg(p != NULL, "promtool (Debian's prometheus package, installed by scripts/setup.sh) is needed");
    size_t n = fread(output, 1, size - 1, p);
    output[n] = '\0';
    int status = pclose(p);
    unlink(in);
    return WEXITSTATUS(status);
}

START_TEST(prometheus_text)
{
    struct metrics_sample *s = &sample_buf;
    healthy_sample(s, 128);
    snprintf(s->subnodes[3].in.chain, sizeof s->subnodes[3].in.chain, "odd\"name\\x");
    s->subnodes[5].usage_ok = false; /* no usage: its lines are absent, not zero */
    s->host_ok = true;
    ck_assert_int_eq(metrics_host_read(NULL, "/", &s->host, NULL), 0);
    s->node.config_store = true;
    s->node.config_store_members = 4;
    s->node.config_store_peers_connected = 3;
    struct metrics_health_input in = {.sample = s};
    size_t nchecks = metrics_health_evaluate(&in, checks_buf);
    struct metrics_history_stats history = {.configured = true, .connected = true, .rows_written = 10};
    char *text;
    size_t len;
    struct cohort_error err = {0};
    /* The best of five renders against a generous bound (a loaded CI machine, and ten times
       it for the sanitizer build); bench/metrics_bench measures it properly. */
    double ms = 1e9;
    for (int i = 0; i < 5; i++) {
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        ck_assert_int_eq(metrics_render_prometheus(s, checks_buf, nchecks, &history, &text, &len, &err), 0);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double took = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
        if (took < ms) ms = took;
        if (i < 4) free(text);
    }
    ck_assert_uint_eq(strlen(text), len);
#if defined(__SANITIZE_ADDRESS__) || defined(__has_feature)
#if defined(__SANITIZE_ADDRESS__) || __has_feature(address_sanitizer)
#define RENDER_BOUND_MS 500
#endif
#endif
#ifndef RENDER_BOUND_MS
#define RENDER_BOUND_MS 50
#endif
    ck_assert_msg(ms < RENDER_BOUND_MS, "rendering 128 subnodes took %.2f ms at best", ms);

    ck_assert_ptr_nonnull(strstr(text, "cohort_subnode_cpu_usage_seconds_total{node=\"7\",chain=\"chain-0\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(text, "cohort_subnode_cpu_usage_seconds_total{node=\"7\",chain=\"chain-127\"} 128\n"));
    ck_assert_ptr_nonnull(strstr(text, "chain=\"odd\\\"name\\\\x\""));
    ck_assert_ptr_null(strstr(text, "cohort_subnode_cpu_usage_seconds_total{node=\"7\",chain=\"chain-5\"}"));
    ck_assert_ptr_nonnull(strstr(text, "cohort_subnode_up{node=\"7\",chain=\"chain-5\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(text, "cohort_chain_height{node=\"7\",chain=\"chain-9\"} 50\n"));
    ck_assert_ptr_nonnull(strstr(text, "cohort_node_slots_used{node=\"7\"} 128\n"));
    ck_assert_ptr_nonnull(strstr(text, "cohort_health_check{node=\"7\",check=\"rpc_answering\",chain=\"chain-1\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(text, "# TYPE cohort_host_cpu_seconds_total counter\n"));
    ck_assert_ptr_nonnull(strstr(text, "cohort_history_rows_written_total{node=\"7\"} 10\n"));
    ck_assert_ptr_null(strstr(text, "NaN"));
    /* Every counter family ends in _total, every family has HELP and TYPE. */
    for (const char *p = text; (p = strstr(p, "# TYPE ")) != NULL; p++) {
        char name[128], type[16];
        ck_assert_int_eq(sscanf(p, "# TYPE %127s %15s", name, type), 2);
        if (strcmp(type, "counter") == 0) ck_assert_msg(strstr(name, "_total") != NULL, "%s", name);
        char help[160];
        snprintf(help, sizeof help, "# HELP %s ", name);
        ck_assert_msg(strstr(text, help) != NULL, "no HELP for %s", name);
    }
    char output[8192];
    int rc = promtool(text, output, sizeof output);
    ck_assert_msg(rc == 0 && output[0] == '\0', "promtool check metrics: exit %d: %s", rc, output);
    free(text);

    /* An empty node renders and checks too. */
    healthy_sample(s, 0);
    ck_assert_int_eq(metrics_render_prometheus(s, NULL, 0, NULL, &text, &len, &err), 0);
    rc = promtool(text, output, sizeof output);
    ck_assert_msg(rc == 0 && output[0] == '\0', "promtool check metrics: exit %d: %s", rc, output);
    free(text);
}
END_TEST

START_TEST(json_documents)
{
    struct metrics_sample *s = &sample_buf;
    healthy_sample(s, 3);
    snprintf(s->subnodes[0].in.last_error, sizeof s->subnodes[0].in.last_error, "a \"quoted\"\nerror");
    char *text = metrics_sample_json(s);
    cJSON *j = cJSON_Parse(text);
    ck_assert_msg(j != NULL, "%s", text);
    cJSON *subnodes = cJSON_GetObjectItem(j, "subnodes");
    ck_assert_int_eq(cJSON_GetArraySize(subnodes), 3);
    cJSON *first = cJSON_GetArrayItem(subnodes, 0);
    ck_assert_str_eq(cJSON_GetObjectItem(first, "last_error")->valuestring, "a \"quoted\"\nerror");
    cJSON *values = cJSON_GetObjectItem(first, "values");
    ck_assert(cJSON_GetObjectItem(values, "cpu_seconds")->valuedouble == 1);
    ck_assert(cJSON_IsNull(cJSON_GetObjectItem(values, "network_receive_bytes")));
    ck_assert(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "node"), "slots_used")->valuedouble == 3);
    cJSON_Delete(j);
    free(text);

    struct metrics_health_input in = {.sample = s};
    size_t n = metrics_health_evaluate(&in, checks_buf);
    text = metrics_checks_json(checks_buf, n);
    j = cJSON_Parse(text);
    ck_assert_ptr_nonnull(j);
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(j, "ok")));
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "checks")), (int)n);
    cJSON_Delete(j);
    free(text);
}
END_TEST

/* Every family /metrics can show is in docs/metrics.md, and every cohort_ name the alert
   rules and the Grafana dashboard use is one /metrics shows: the docs cannot drift. */
START_TEST(docs_name_every_metric)
{
    struct metrics_sample *s = &sample_buf;
    healthy_sample(s, 2);
    s->host_ok = true;
    ck_assert_int_eq(metrics_host_read(NULL, "/", &s->host, NULL), 0);
    s->node.keystore_configured = s->node.keystore_ok = true;
    s->node.config_store = true;
    s->subnodes[0].usage.has_network = true; /* a container with its own network namespace */
    struct metrics_health_input in = {.sample = s, .database_configured = true};
    size_t nchecks = metrics_health_evaluate(&in, checks_buf);
    struct metrics_history_stats history = {.configured = true};
    char *text;
    size_t len;
    ck_assert_int_eq(metrics_render_prometheus(s, checks_buf, nchecks, &history, &text, &len, NULL), 0);
    char path[1024];
    snprintf(path, sizeof path, "%s/docs/metrics.md", testutil_source_dir());
    char *doc = testutil_read_file(path, NULL);
    static char families[128][96];
    size_t nfamilies = 0;
    for (const char *p = text; (p = strstr(p, "# TYPE ")) != NULL; p++) {
        char name[96];
        ck_assert_int_eq(sscanf(p, "# TYPE %95s", name), 1);
        char quoted[110];
        snprintf(quoted, sizeof quoted, "`%s`", name);
        ck_assert_msg(strstr(doc, quoted) != NULL, "docs/metrics.md does not describe %s", name);
        ck_assert_uint_lt(nfamilies, 128);
        strcpy(families[nfamilies++], name);
    }
    ck_assert_uint_ge(nfamilies, 60);
    free(doc);
    free(text);
    const char *files[] = {"docs/metrics/alerts.yml", "docs/metrics/grafana-dashboard.json"};
    for (int f = 0; f < 2; f++) {
        snprintf(path, sizeof path, "%s/%s", testutil_source_dir(), files[f]);
        char *body = testutil_read_file(path, NULL);
        int used = 0;
        for (const char *p = body; (p = strstr(p, "cohort_")) != NULL;) {
            char name[96];
            size_t n = strspn(p, "abcdefghijklmnopqrstuvwxyz0123456789_");
            snprintf(name, sizeof name, "%.*s", (int)(n < 95 ? n : 95), p);
            p += n;
            if (p[-1] == '_' || strcmp(name, "cohort_node") == 0) continue; /* a uid, not a metric */
            bool known = false;
            for (size_t i = 0; i < nfamilies && !known; i++) known = strcmp(families[i], name) == 0;
            ck_assert_msg(known, "%s uses %s, which /metrics does not have", files[f], name);
            used++;
        }
        ck_assert_int_ge(used, 10);
        free(body);
    }
}
END_TEST

/* ---- The engine ---- */

static char engine_root[160];
static atomic_int collects; /* written on the sampler's thread, read on the test's */

static void collect(void *ctx, struct metrics_node_input *node, struct metrics_subnode_input *subnodes, size_t max,
                    size_t *n)
{
    (void)ctx;
    ck_assert_uint_ge(max, 2);
    collects++;
    node->slots_total = 128;
    node->docker_ok = true;
    memset(subnodes, 0, 2 * sizeof *subnodes);
    snprintf(subnodes[0].chain, sizeof subnodes[0].chain, "alpha");
    snprintf(subnodes[0].container_id, sizeof subnodes[0].container_id, "%s", ID_A);
    snprintf(subnodes[0].state, sizeof subnodes[0].state, "running");
    subnodes[0].slots = 1;
    subnodes[0].rpc_port = 1; /* nothing answers there */
    subnodes[0].config_current = true;
    snprintf(subnodes[1].chain, sizeof subnodes[1].chain, "beta");
    snprintf(subnodes[1].state, sizeof subnodes[1].state, "exited");
    subnodes[1].slots = 16;
    *n = 2;
}

START_TEST(engine_samples_through_core)
{
    make_tmp();
    snprintf(engine_root, sizeof engine_root, "%s/cg", tmp);
    char layout[100];
    snprintf(layout, sizeof layout, "docker/%s", ID_A);
    fake_v1(engine_root, ID_A, layout);
    struct metrics_options o = {.node_id = 3, .interval_ms = 100, .memory_hours = 1, .cgroup_root = engine_root,
                                .disk_path = "/", .status_timeout_ms = 200, .collect = collect};
    struct metrics *m;
    struct cohort_error err = {0};
    collects = 0;
    ck_assert_msg(metrics_start(&o, &m, &err) == 0, "%s", err.message);
    ck_assert_int_ge(collects, 1); /* a first sample at start */
    usleep(450000);
    ck_assert_int_ge(collects, 3);
    size_t len;
    char *text = metrics_prometheus_text(m, &len);
    ck_assert_ptr_nonnull(strstr(text, "cohort_subnode_cpu_usage_seconds_total{node=\"3\",chain=\"alpha\"} 2.5\n"));
    ck_assert_ptr_nonnull(strstr(text, "cohort_subnode_status_up{node=\"3\",chain=\"alpha\"} 0\n"));
    ck_assert_ptr_nonnull(strstr(text, "cohort_subnode_up{node=\"3\",chain=\"beta\"} 0\n"));
    ck_assert_ptr_nonnull(strstr(text, "cohort_health_check{node=\"3\",check=\"container_running\",chain=\"beta\"} 0\n"));
    ck_assert_ptr_nonnull(strstr(text, "cohort_node_slots_free{node=\"3\"} 111\n"));
    free(text);
    struct metrics_sample *s = metrics_latest(m);
    ck_assert_ptr_nonnull(s);
    ck_assert(s->subnodes[0].usage_ok);
    ck_assert(!s->subnodes[0].status_ok);
    ck_assert(!s->subnodes[1].usage_ok);
    ck_assert(s->sample_seconds < 1.0);
    free(s);
    int64_t *times;
    struct metrics_point *points;
    size_t n;
    ck_assert_int_eq(metrics_ring_range(metrics_get_ring(m), "alpha", 0, INT64_MAX, &times, &points, &n, &err), 0);
    ck_assert_uint_ge(n, 3);
    ck_assert(points[n - 1].values[METRICS_cpu_seconds] == 2.5);
    for (size_t i = 1; i < n; i++) ck_assert_int_gt(times[i], times[i - 1]);
    free(times);
    free(points);
    ck_assert_ptr_null(metrics_get_store(m));
    metrics_stop(m);
    remove_tmp();

    /* A bad database URL is refused at start, saying what to give. */
    o.database_url = "postgresql://[::1:5432/x";
    ck_assert_int_eq(metrics_start(&o, &m, &err), METRICS_E_INVALID);
    ck_assert_ptr_nonnull(strstr(err.message, "postgresql://"));
}
END_TEST

static int64_t latest_time_ms(struct metrics *m)
{
    struct metrics_sample *s = metrics_latest(m);
    ck_assert_ptr_nonnull(s);
    int64_t t = s->time_ms;
    free(s);
    return t;
}

static int64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Samples taken after start_ms (wall clock), by the ring of chain alpha. */
static size_t alpha_points_after(struct metrics *m, int64_t start_ms)
{
    int64_t *times;
    struct metrics_point *points;
    size_t n;
    struct cohort_error err = {0};
    ck_assert_int_eq(metrics_ring_range(metrics_get_ring(m), "alpha", start_ms + 1, INT64_MAX, &times, &points, &n, &err), 0);
    free(times);
    free(points);
    return n;
}

START_TEST(engine_interval_changes_while_running)
{
    make_tmp();
    snprintf(engine_root, sizeof engine_root, "%s/cg", tmp);
    char layout[100];
    snprintf(layout, sizeof layout, "docker/%s", ID_A);
    fake_v1(engine_root, ID_A, layout);
    /* A minute between samples: after the first at start, none for the length of this test
       unless the new interval takes effect at once. */
    struct metrics_options o = {.node_id = 3, .interval_ms = 60000, .memory_hours = 1, .cgroup_root = engine_root,
                                .disk_path = "/", .status_timeout_ms = 200, .collect = collect};
    struct metrics *m;
    struct cohort_error err = {0};
    ck_assert_msg(metrics_start(&o, &m, &err) == 0, "%s", err.message);
    struct metrics_settings st;
    metrics_get_settings(m, &st);
    ck_assert_uint_eq(st.interval_ms, 60000);
    ck_assert_uint_eq(st.memory_points, 61); /* an hour at a minute, and the newest */
    ck_assert_uint_eq(metrics_ring_capacity(metrics_get_ring(m)), 61);
    int64_t first = latest_time_ms(m);
    usleep(300000);
    ck_assert_int_eq(latest_time_ms(m), first); /* still waiting out its minute */

    ck_assert_msg(metrics_set_interval(m, 100, &err) == 0, "%s", err.message);
    metrics_get_settings(m, &st);
    ck_assert_uint_eq(st.interval_ms, 100);
    ck_assert_uint_eq(st.memory_points, 36001);
    ck_assert_uint_eq(metrics_ring_capacity(metrics_get_ring(m)), 36001);
    /* The next sample within about a second (the thread was woken), then every 100 ms. */
    int64_t t0 = monotonic_ms(), waited = 0;
    while (latest_time_ms(m) == first && (waited = monotonic_ms() - t0) < 3000) usleep(10000);
    ck_assert_msg(latest_time_ms(m) != first, "no sample 3 s after the interval went from 60 s to 100 ms");
    ck_assert_msg(waited < 1000, "the first sample at the new interval came after %lld ms", (long long)waited);
    while (alpha_points_after(m, first) < 5 && monotonic_ms() - t0 < 5000) usleep(20000);
    ck_assert_uint_ge(alpha_points_after(m, first), 5);
    /* The point from the start survived the growth of the ring. */
    int64_t at;
    struct metrics_point p;
    ck_assert(metrics_ring_lookup(metrics_get_ring(m), "alpha", first, &at, &p));
    ck_assert_int_eq(at, first);

    /* Back to an hour: the rings shrink to 2 points, the newest ones, and sampling stops. */
    ck_assert_msg(metrics_set_interval(m, 3600000, &err) == 0, "%s", err.message);
    metrics_get_settings(m, &st);
    ck_assert_uint_eq(st.interval_ms, 3600000);
    ck_assert_uint_eq(st.memory_points, 2);
    int64_t last = latest_time_ms(m), times[4];
    ck_assert_uint_eq(ring_times_checked(metrics_get_ring(m), "alpha", times, 4, false), 2);
    ck_assert_int_eq(times[1], last);
    ck_assert_int_gt(times[0], first);
    usleep(300000);
    ck_assert_int_eq(latest_time_ms(m), last);
    /* Stopping does not wait for the hour. */
    t0 = monotonic_ms();
    metrics_stop(m);
    ck_assert_int_lt(monotonic_ms() - t0, 2000);
    remove_tmp();
}
END_TEST

/* An API thread's reads, in a loop, while the interval (and so the rings) changes under it:
   run under the sanitizers, a resize that freed what a reader still used would show. */
struct reader {
    struct metrics *m;
    atomic_bool stop;
    atomic_int rounds;
};

static void *read_while_resized(void *arg)
{
    struct reader *rd = arg;
    while (!atomic_load(&rd->stop)) {
        int64_t *times;
        struct metrics_point *points;
        size_t n;
        if (metrics_ring_range(metrics_get_ring(rd->m), "alpha", 0, INT64_MAX, &times, &points, &n, NULL) == 0) {
            for (size_t i = 1; i < n; i++)
                if (times[i] <= times[i - 1]) abort(); /* the order survives every resize */
            free(times);
            free(points);
        }
        int64_t t;
        struct metrics_point p;
        (void)metrics_ring_lookup(metrics_get_ring(rd->m), "alpha", 0, &t, &p);
        struct metrics_settings st;
        metrics_get_settings(rd->m, &st);
        if (st.memory_points != (size_t)st.memory_hours * 3600000u / st.interval_ms + 1) abort(); /* changed together */
        struct http_response r = {.status = 200};
        metrics_api_status(rd->m, "GET", "", "", 0, &r);
        free(r.body);
        atomic_fetch_add(&rd->rounds, 1);
    }
    return NULL;
}

START_TEST(engine_interval_changes_under_readers)
{
    struct metrics_options o = {.node_id = 3, .interval_ms = 100, .memory_hours = 1, .cgroup_root = "/nonexistent",
                                .disk_path = "/", .status_timeout_ms = 200, .collect = collect};
    struct metrics *m;
    struct cohort_error err = {0};
    ck_assert_msg(metrics_start(&o, &m, &err) == 0, "%s", err.message);
    struct reader rd = {.m = m};
    pthread_t readers[2];
    for (int i = 0; i < 2; i++) ck_assert_int_eq(pthread_create(&readers[i], NULL, read_while_resized, &rd), 0);
    unsigned intervals[] = {100, 250, 3600000, 100, 1000, 100};
    for (int k = 0; k < 3; k++)
        for (size_t i = 0; i < sizeof intervals / sizeof intervals[0]; i++) {
            ck_assert_msg(metrics_set_interval(m, intervals[i], &err) == 0, "%s", err.message);
            usleep(30000);
        }
    atomic_store(&rd.stop, true);
    for (int i = 0; i < 2; i++) pthread_join(readers[i], NULL);
    ck_assert_int_gt(atomic_load(&rd.rounds), 10);
    metrics_stop(m);
}
END_TEST

static cJSON *status_document(struct metrics *m)
{
    struct http_response r = {.status = 200};
    metrics_api_status(m, "GET", "", "", 0, &r);
    ck_assert_uint_eq(r.status, 200);
    ck_assert_ptr_nonnull(r.body);
    cJSON *j = cJSON_Parse(r.body);
    ck_assert_msg(j != NULL, "%s", r.body);
    free(r.body);
    return j;
}

static double json_at(cJSON *j, const char *a, const char *b)
{
    cJSON *v = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "metrics"), a);
    if (b) v = cJSON_GetObjectItem(v, b);
    ck_assert_msg(cJSON_IsNumber(v), "metrics.%s%s%s is not a number", a, b ? "." : "", b ? b : "");
    return v->valuedouble;
}

START_TEST(engine_settings_refused_and_reported)
{
    struct metrics_options o = {.node_id = 3, .interval_ms = 60000, .memory_hours = 2, .cgroup_root = "/nonexistent",
                                .disk_path = "/", .collect = collect};
    struct metrics *m;
    struct cohort_error err = {0};
    ck_assert_msg(metrics_start(&o, &m, &err) == 0, "%s", err.message);
    struct metrics_settings st, before;
    metrics_get_settings(m, &before);
    ck_assert_uint_eq(before.interval_ms, 60000);
    ck_assert_uint_eq(before.memory_hours, 2);
    ck_assert(!before.database);
    ck_assert_uint_eq(before.retention.raw_days, 2); /* the defaults, as the database would use them */
    ck_assert_uint_eq(before.retention.minute_days, 30);
    ck_assert_uint_eq(before.retention.hour_days, 365);

    /* Intervals out of range: refused, saying the range, and nothing changes. */
    unsigned bad_intervals[] = {0, 99, 3600001, 4294967295u};
    for (size_t i = 0; i < sizeof bad_intervals / sizeof bad_intervals[0]; i++) {
        cohort_error_clear(&err);
        ck_assert_int_eq(metrics_set_interval(m, bad_intervals[i], &err), METRICS_E_INVALID);
        ck_assert_msg(strstr(err.message, "100..3600000") != NULL, "%s", err.message);
        ck_assert_int_eq(metrics_set_interval(m, bad_intervals[i], NULL), METRICS_E_INVALID);
    }
    /* Retentions out of order or range: refused, naming the field, and nothing changes. */
    struct {
        struct metrics_retention r;
        const char *named;
    } bad[] = {
        {{0, 30, 365}, "raw_days 0"},        {{31, 30, 365}, "minute_days 30"}, {{2, 30, 29}, "hour_days 29"},
        {{2, 30, 36501}, "hour_days 36501"}, {{0, 0, 0}, "raw_days 0"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cohort_error_clear(&err);
        ck_assert_int_eq(metrics_set_retention(m, &bad[i].r, &err), METRICS_E_INVALID);
        ck_assert_msg(strstr(err.message, bad[i].named) != NULL, "%s", err.message);
    }
    metrics_get_settings(m, &st);
    ck_assert_uint_eq(st.interval_ms, before.interval_ms);
    ck_assert_uint_eq(st.memory_points, before.memory_points);
    ck_assert_mem_eq(&st.retention, &before.retention, sizeof st.retention);
    ck_assert_uint_eq(metrics_ring_capacity(metrics_get_ring(m)), before.memory_points);

    /* Accepted: reported at once, by the getter and by /api/v1/status, without a database. */
    struct metrics_retention r = {.raw_days = 1, .minute_days = 7, .hour_days = 36500};
    ck_assert_msg(metrics_set_retention(m, &r, &err) == 0, "%s", err.message);
    ck_assert_msg(metrics_set_interval(m, 30000, &err) == 0, "%s", err.message);
    metrics_get_settings(m, &st);
    ck_assert_uint_eq(st.retention.raw_days, 1);
    ck_assert_uint_eq(st.retention.minute_days, 7);
    ck_assert_uint_eq(st.retention.hour_days, 36500);
    ck_assert_uint_eq(st.interval_ms, 30000);
    ck_assert_uint_eq(st.memory_points, 2 * 120 + 1);
    cJSON *j = status_document(m);
    ck_assert(json_at(j, "interval_ms", NULL) == 30000);
    ck_assert(json_at(j, "memory_hours", NULL) == 2);
    ck_assert(json_at(j, "memory_points", NULL) == 241);
    ck_assert(json_at(j, "retention", "raw_days") == 1);
    ck_assert(json_at(j, "retention", "minute_days") == 7);
    ck_assert(json_at(j, "retention", "hour_days") == 36500);
    ck_assert(cJSON_IsFalse(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "metrics"), "database")));
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "subnodes")), 2); /* still the sample's document */
    cJSON_Delete(j);
    metrics_stop(m);

    /* The same bounds at start. */
    o.interval_ms = 3600001;
    ck_assert_int_eq(metrics_start(&o, &m, &err), METRICS_E_INVALID);
    o.interval_ms = 60000;
    o.retention = (struct metrics_retention){.raw_days = 40}; /* past the default 30 days of minutes */
    ck_assert_int_eq(metrics_start(&o, &m, &err), METRICS_E_INVALID);
    ck_assert_msg(strstr(err.message, "minute_days 30") != NULL, "%s", err.message);
}
END_TEST

/* The store's retention, without a server: a database that is not there still takes it
   (it applies once the writer connects). */
START_TEST(store_retention_changes)
{
    struct metrics_store_options so = {.url = "host=/nonexistent/cohort-metrics-test dbname=cohort", .node_id = 3,
                                       .connect_timeout_s = 1, .retention = {.raw_days = 3}};
    struct metrics_store *store;
    struct cohort_error err = {0};
    ck_assert_msg(metrics_store_open(&so, &store, &err) == 0, "%s", err.message);
    struct metrics_retention r;
    metrics_store_get_retention(store, &r);
    ck_assert_uint_eq(r.raw_days, 3);
    ck_assert_uint_eq(r.minute_days, 30);
    ck_assert_uint_eq(r.hour_days, 365);
    struct metrics_retention bad = {.raw_days = 3, .minute_days = 2, .hour_days = 365};
    ck_assert_int_eq(metrics_store_set_retention(store, &bad, &err), METRICS_E_INVALID);
    ck_assert_msg(strstr(err.message, "minute_days 2") != NULL, "%s", err.message);
    metrics_store_get_retention(store, &r);
    ck_assert_uint_eq(r.minute_days, 30);
    struct metrics_retention good = {.raw_days = 1, .minute_days = 2, .hour_days = 3};
    ck_assert_int_eq(metrics_store_set_retention(store, &good, &err), 0);
    metrics_store_get_retention(store, &r);
    ck_assert_mem_eq(&r, &good, sizeof r);
    metrics_store_close(store);
    /* And at open. */
    so.retention = bad;
    ck_assert_int_eq(metrics_store_open(&so, &store, &err), METRICS_E_INVALID);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("metrics");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, parsers_of_cgroup_files);
    tcase_add_test(tc, parsers_of_proc);
    tcase_add_test(tc, cgroup_v1_tree);
    tcase_add_test(tc, cgroup_v2_tree);
    tcase_add_test(tc, subnode_status);
    tcase_add_test(tc, queries);
    tcase_add_test(tc, ring_keeps_the_newest);
    tcase_add_test(tc, ring_resizes_keeping_the_newest);
    tcase_add_test(tc, buckets_and_metering);
    tcase_add_test(tc, health_checks);
    tcase_add_test(tc, prometheus_text);
    tcase_add_test(tc, json_documents);
    tcase_add_test(tc, docs_name_every_metric);
    tcase_add_test(tc, engine_samples_through_core);
    tcase_add_test(tc, engine_interval_changes_while_running);
    tcase_add_test(tc, engine_interval_changes_under_readers);
    tcase_add_test(tc, engine_settings_refused_and_reported);
    tcase_add_test(tc, store_retention_changes);
    suite_add_tcase(s, tc);
    return testutil_run_suite(s, false);
}
