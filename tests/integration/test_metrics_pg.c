/*
 * test_metrics_pg.c - the metrics history in a real PostgreSQL 15 (Debian's), started by
 * the test as the postgres user in a temporary folder, on 127.0.0.1 and a port of its own,
 * and stopped by its PID:
 *   - migrations: two stores opening a fresh database at the same moment apply the schema
 *     once; a third finds it there;
 *   - raw rows written with COPY read back as series, and the database's metering of them
 *     (SQL over raw rows) equals the library's metering of the same points in C, with
 *     counter resets and missing values in them;
 *   - rows three days old: rolled up into minutes and hours, metered from the minutes
 *     exactly as from the raw rows, then the raw partition is dropped by retention and the
 *     minutes stay;
 *   - the database stopped: rows queue (the overflow is dropped and counted), the store
 *     says why it is unhealthy, and once PostgreSQL is back the queued rows land;
 *   - a wrong password is a clear error (not fatal), a malformed URL is refused.
 */
#include <check.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/metrics.h"
#include "metrics_servers.h"
#include "testutil.h"

static struct test_postgres pg;

static void setup(void) { test_postgres_init(&pg); }
static void teardown(void) { test_postgres_destroy(&pg); }

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Step k of a synthetic history of two chains: alpha's CPU counter resets at step 20 (its
   container was replaced), its usage is missing at step 25 and its /status at step 30. */
static void make_sample(struct metrics_sample *s, int64_t t, int k)
{
    memset(s, 0, sizeof *s);
    s->time_ms = t;
    s->node_id = 42;
    s->nsubnodes = 2;
    for (int i = 0; i < 2; i++) {
        struct metrics_subnode_sample *sn = &s->subnodes[i];
        snprintf(sn->in.chain, sizeof sn->in.chain, i == 0 ? "alpha" : "beta");
        snprintf(sn->in.state, sizeof sn->in.state, "running");
        sn->in.slots = 1;
        sn->in.restarts = k >= 20 && i == 0 ? 1 : 0;
        sn->in.volume_used_bytes = 1000000 + 1000 * (uint64_t)k;
        sn->in.volume_budget_bytes = 1 << 30;
        sn->usage_ok = !(i == 0 && k == 25);
        sn->usage.cpu_ns = i == 0 ? (k < 20 ? 100000000ull * (uint64_t)k : 30000000ull * (uint64_t)(k - 19))
                                  : 5000000ull * (uint64_t)k;
        sn->usage.memory_working_set_bytes = (uint64_t)(50 + (k * 7 + i * 13) % 23) << 20;
        sn->usage.memory_usage_bytes = sn->usage.memory_working_set_bytes + (4u << 20);
        sn->usage.block_write_bytes = 4096ull * (uint64_t)k;
        sn->usage.pids = 3;
        sn->status_ok = !(i == 0 && k == 30);
        sn->status.present = METRICS_CHAIN_HEIGHT | METRICS_CHAIN_GAS_USED | METRICS_CHAIN_TRANSACTIONS;
        sn->status.height = (uint64_t)k;
        sn->status.gas_used_total = 21000ull * (uint64_t)k * (uint64_t)(i + 1);
        sn->status.transactions_total = (uint64_t)k * (uint64_t)(i + 1);
    }
}

#define STEPS 60
static struct metrics_sample sample;
static int64_t times[STEPS];
static struct metrics_point points[2][STEPS];

/* Writes STEPS samples 10 s apart from t0 through store, keeping their points. */
static void write_history(struct metrics_store *store, int64_t t0)
{
    for (int k = 0; k < STEPS; k++) {
        times[k] = t0 + 10000 * (int64_t)k;
        make_sample(&sample, times[k], k);
        for (int i = 0; i < 2; i++) metrics_point_from_sample(&sample.subnodes[i], &points[i][k]);
        metrics_store_enqueue(store, &sample);
    }
    ck_assert_int_eq(metrics_store_flush(store, 20000), 0);
}

static bool close_to(double a, double b)
{
    if (isnan(a) || isnan(b)) return isnan(a) && isnan(b);
    return fabs(a - b) <= 1e-6 * (fabs(a) + fabs(b) + 1);
}

static void assert_usage_equal(const struct metrics_usage *db, const struct metrics_usage *c)
{
    ck_assert_msg(close_to(db->cpu_seconds, c->cpu_seconds), "cpu %g vs %g", db->cpu_seconds, c->cpu_seconds);
    ck_assert_msg(close_to(db->memory_average_bytes, c->memory_average_bytes), "memory avg %g vs %g",
                  db->memory_average_bytes, c->memory_average_bytes);
    ck_assert_msg(close_to(db->memory_peak_bytes, c->memory_peak_bytes), "peak %g vs %g", db->memory_peak_bytes,
                  c->memory_peak_bytes);
    ck_assert_msg(close_to(db->disk_bytes, c->disk_bytes), "disk %g vs %g", db->disk_bytes, c->disk_bytes);
    ck_assert_msg(close_to(db->fs_bytes, c->fs_bytes), "fs %g vs %g", db->fs_bytes, c->fs_bytes);
    ck_assert_msg(close_to(db->gas_used, c->gas_used), "gas %g vs %g", db->gas_used, c->gas_used);
    ck_assert_msg(close_to(db->transactions, c->transactions), "tx %g vs %g", db->transactions, c->transactions);
    ck_assert_msg(close_to(db->network_bytes, c->network_bytes), "net %g vs %g", db->network_bytes, c->network_bytes);
}

struct opener {
    struct metrics_store *store;
    int rc;
};

static void *open_store(void *arg)
{
    struct opener *o = arg;
    struct metrics_store_options so = {.url = pg.url, .node_id = 42};
    struct cohort_error err = {0};
    o->rc = metrics_store_open(&so, &o->store, &err);
    return NULL;
}

START_TEST(migrations_once_and_concurrent)
{
    struct opener a = {0}, b = {0};
    pthread_t ta, tb;
    pthread_create(&ta, NULL, open_store, &a);
    pthread_create(&tb, NULL, open_store, &b);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    ck_assert_int_eq(a.rc, 0);
    ck_assert_int_eq(b.rc, 0);
    struct metrics_history_stats sa, sb;
    metrics_store_stats(a.store, &sa);
    metrics_store_stats(b.store, &sb);
    ck_assert_msg(sa.connected && sb.connected, "%s / %s", sa.last_error, sb.last_error);
    ck_assert_str_eq(test_psql(&pg, "SELECT count(*) || ':' || max(version) FROM cohort_metrics_schema"), "1:1");
    metrics_store_close(a.store);
    metrics_store_close(b.store);
    open_store(&a);
    ck_assert_int_eq(a.rc, 0);
    ck_assert_str_eq(test_psql(&pg, "SELECT count(*) FROM cohort_metrics_schema"), "1");
    /* The three tables are partitioned; today's partitions exist ahead of the first write. */
    ck_assert_str_eq(test_psql(&pg, "SELECT count(*) FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid "
                                    "WHERE c.relname LIKE 'cohort_samples%'"),
                     "3");
    metrics_store_close(a.store);
}
END_TEST

START_TEST(raw_rows_read_back_and_meter_as_in_memory)
{
    struct metrics_store *store;
    struct metrics_store_options so = {.url = pg.url, .node_id = 42, .maintenance_interval_ms = -1};
    struct cohort_error err = {0};
    ck_assert_int_eq(metrics_store_open(&so, &store, &err), 0);
    int64_t now = wall_ms(), t0 = now - STEPS * 10000 - 5000;
    write_history(store, t0);
    struct metrics_history_stats st;
    metrics_store_stats(store, &st);
    ck_assert_uint_eq(st.rows_written, 2 * STEPS);
    ck_assert_uint_eq(st.rows_dropped, 0);
    ck_assert_str_eq(test_psql(&pg, "SELECT count(*) FROM cohort_samples WHERE node_id = 42"), "120");

    /* Series: every raw row, NaNs as NULLs and back. */
    struct metrics_series_data d;
    ck_assert_msg(metrics_store_series(store, "alpha", t0, now + 1, 0, now, &d, &err) == 0, "%s", err.message);
    ck_assert_str_eq(d.resolution, "raw");
    ck_assert_uint_eq(d.n, STEPS);
    for (int k = 0; k < STEPS; k++) {
        ck_assert_int_eq(d.times[k], times[k]);
        for (int s = 0; s < METRICS_NSERIES; s++)
            ck_assert_msg(close_to(d.points[k].values[s], points[0][k].values[s]), "step %d %s: %g vs %g", k,
                          metrics_series[s].name, d.points[k].values[s], points[0][k].values[s]);
    }
    metrics_series_data_free(&d);
    /* Bucketed by a minute: the database's buckets are the library's. */
    ck_assert_int_eq(metrics_store_series(store, "alpha", t0, now + 1, 60000, now, &d, &err), 0);
    struct metrics_series_data c;
    ck_assert_int_eq(metrics_downsample(times, points[0], STEPS, 60000, &c, &err), 0);
    ck_assert_uint_eq(d.n, c.n);
    for (size_t k = 0; k < d.n; k++) {
        ck_assert_int_eq(d.times[k], c.times[k]);
        for (int s = 0; s < METRICS_NSERIES; s++)
            ck_assert_msg(close_to(d.points[k].values[s], c.points[k].values[s]), "bucket %zu %s: %g vs %g", k,
                          metrics_series[s].name, d.points[k].values[s], c.points[k].values[s]);
    }
    metrics_series_data_free(&d);
    metrics_series_data_free(&c);

    /* Metering: SQL over the raw rows equals C over the points, for windows that start
       before, at, and inside the history (the previous value comes from before the window). */
    int64_t windows[3] = {t0 - 60000, t0, t0 + 155000};
    for (int w = 0; w < 3; w++)
        for (int i = 0; i < 2; i++) {
            struct metrics_usage db, mem = {0};
            ck_assert_msg(metrics_store_usage(store, i == 0 ? "alpha" : "beta", windows[w], now + 1, now, &db, &err) == 0,
                          "%s", err.message);
            ck_assert_str_eq(db.resolution, "raw");
            metrics_usage_from_points(times, points[i], STEPS, windows[w], &mem);
            ck_assert_uint_eq(db.samples, mem.samples);
            assert_usage_equal(&db, &mem);
        }
    struct metrics_usage u;
    ck_assert_int_eq(metrics_store_usage(store, "alpha", t0, now + 1, now, &u, &err), 0);
    /* alpha: 0.1 s a step for 19 steps, a reset to 0.03 (counted whole), then 0.03 a step to 1.2 (step 25 missing: skipped). */
    ck_assert_msg(close_to(u.cpu_seconds, 1.9 + 0.03 * 40), "%g", u.cpu_seconds);
    ck_assert_msg(close_to(u.gas_used, 21000.0 * (STEPS - 1)), "%g", u.gas_used);

    char names[8][METRICS_CHAIN_MAX];
    size_t n;
    ck_assert_int_eq(metrics_store_chains(store, t0, now + 1, names, 8, &n, &err), 0);
    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(names[0], "alpha");
    metrics_store_close(store);
}
END_TEST

START_TEST(rollups_and_retention)
{
    struct metrics_store *store;
    /* No maintenance of the writer's own: the test runs it when it means to. */
    struct metrics_store_options so = {.url = pg.url, .node_id = 42, .maintenance_interval_ms = -1};
    struct cohort_error err = {0};
    ck_assert_int_eq(metrics_store_open(&so, &store, &err), 0);
    int64_t now = wall_ms();
    int64_t t0 = (now - 3 * 86400000LL) / 3600000 * 3600000; /* three days ago, on the hour */
    write_history(store, t0);
    ck_assert_str_eq(test_psql(&pg, "SELECT count(*) FROM cohort_samples WHERE node_id = 42"), "120");
    /* Catch up: each round rolls up at most 6 hours of minutes. */
    for (int i = 0; i < 20; i++) ck_assert_msg(metrics_store_maintain(store, now, &err) == 0, "%s", err.message);
    ck_assert_str_eq(test_psql(&pg, "SELECT count(*) FROM cohort_samples_1m WHERE node_id = 42 AND chain = 'alpha'"), "10");
    ck_assert_str_eq(test_psql(&pg, "SELECT sum(samples) FROM cohort_samples_1m WHERE node_id = 42"), "120");
    ck_assert_str_eq(test_psql(&pg, "SELECT count(*) || ':' || sum(samples) FROM cohort_samples_1h WHERE node_id = 42"), "2:120");
    /* Retention: the raw rows are older than 2 days and rolled up: their partition is gone. */
    ck_assert_str_eq(test_psql(&pg, "SELECT count(*) FROM cohort_samples WHERE node_id = 42"), "0");
    struct metrics_history_stats st;
    metrics_store_stats(store, &st);
    ck_assert_uint_ge(st.partitions_dropped, 1);
    ck_assert_uint_ge(st.rollups, 2);

    /* The window is older than the raw retention: metered from the minutes, equal to the raw metering. */
    for (int i = 0; i < 2; i++) {
        struct metrics_usage db, mem = {0};
        ck_assert_int_eq(metrics_store_usage(store, i == 0 ? "alpha" : "beta", t0, t0 + 600000, now, &db, &err), 0);
        ck_assert_str_eq(db.resolution, "1m");
        metrics_usage_from_points(times, points[i], STEPS, t0, &mem);
        ck_assert_uint_eq(db.samples, mem.samples);
        ck_assert_msg(close_to(db.cpu_seconds, mem.cpu_seconds), "cpu %g vs %g", db.cpu_seconds, mem.cpu_seconds);
        ck_assert_msg(close_to(db.gas_used, mem.gas_used), "gas %g vs %g", db.gas_used, mem.gas_used);
        ck_assert_msg(close_to(db.transactions, mem.transactions), "tx");
        /* Rollups weight each bucket's average by its samples: exact where no value is missing
           (beta), within a few percent where one is (alpha's step 25). */
        if (i == 1)
            ck_assert_msg(close_to(db.memory_average_bytes, mem.memory_average_bytes), "avg %g vs %g",
                          db.memory_average_bytes, mem.memory_average_bytes);
        else
            ck_assert_msg(fabs(db.memory_average_bytes - mem.memory_average_bytes) < 0.02 * mem.memory_average_bytes,
                          "avg %g vs %g", db.memory_average_bytes, mem.memory_average_bytes);
        ck_assert_msg(close_to(db.memory_peak_bytes, mem.memory_peak_bytes), "peak");
        ck_assert_msg(close_to(db.disk_bytes, mem.disk_bytes), "disk");
    }
    /* Series from the minutes, and from the hours a year back. */
    struct metrics_series_data d;
    ck_assert_int_eq(metrics_store_series(store, "alpha", t0, t0 + 600000, 0, now, &d, &err), 0);
    ck_assert_str_eq(d.resolution, "1m");
    ck_assert_uint_eq(d.n, 10);
    ck_assert(close_to(d.points[9].values[METRICS_height], 56.5)); /* the average of heights 54..59 */
    metrics_series_data_free(&d);
    ck_assert_int_eq(metrics_store_series(store, "alpha", now - 300 * 86400000LL, now, 0, now, &d, &err), 0);
    ck_assert_str_eq(d.resolution, "1h");
    ck_assert_uint_eq(d.n, 1);
    metrics_series_data_free(&d);
    metrics_store_close(store);
}
END_TEST

START_TEST(outage_queues_drops_and_recovers)
{
    struct metrics_store *store;
    struct metrics_store_options so = {.url = pg.url, .node_id = 42, .buffer_rows = 50};
    struct cohort_error err = {0};
    ck_assert_int_eq(metrics_store_open(&so, &store, &err), 0);
    int64_t t0 = wall_ms() - 600000;
    make_sample(&sample, t0, 1);
    metrics_store_enqueue(store, &sample);
    ck_assert_int_eq(metrics_store_flush(store, 10000), 0);

    test_postgres_stop(&pg);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int k = 2; k < 52; k++) { /* 100 rows into a queue of 50 */
        make_sample(&sample, t0 + 1000 * k, k);
        metrics_store_enqueue(store, &sample);
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    /* Enqueueing never waits for the database. */
    ck_assert((b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000 < 100);
    ck_assert_int_eq(metrics_store_flush(store, 3000), METRICS_E_UNAVAILABLE);
    struct metrics_history_stats st;
    metrics_store_stats(store, &st);
    ck_assert(!st.connected);
    ck_assert_msg(strstr(st.last_error, "postgresql") != NULL, "%s", st.last_error);
    ck_assert_uint_eq(st.rows_queued, 50);
    ck_assert_uint_ge(st.rows_dropped, 50);
    ck_assert_uint_ge(st.write_errors, 1);

    test_postgres_start(&pg);
    ck_assert_int_eq(metrics_store_flush(store, 60000), 0);
    metrics_store_stats(store, &st);
    ck_assert(st.connected);
    ck_assert_uint_eq(st.rows_queued, 0);
    ck_assert_uint_ge(st.reconnects, 1);
    /* The first row and the newest 50 are there: steps 27..51 of both chains. */
    ck_assert_str_eq(test_psql(&pg, "SELECT count(*) FROM cohort_samples WHERE node_id = 42"), "52");
    ck_assert_str_eq(test_psql(&pg, "SELECT min(height) || '-' || max(height) FROM cohort_samples WHERE height > 1"), "27-51");
    metrics_store_close(store);
}
END_TEST

START_TEST(bad_password_and_url)
{
    char url[300];
    snprintf(url, sizeof url, "postgresql://postgres:wrong@127.0.0.1:%d/postgres", pg.port);
    struct metrics_store *store;
    struct metrics_store_options so = {.url = url, .node_id = 42};
    struct cohort_error err = {0};
    ck_assert_int_eq(metrics_store_open(&so, &store, &err), 0); /* not fatal: history stays in memory */
    struct metrics_history_stats st;
    metrics_store_stats(store, &st);
    ck_assert(!st.connected);
    ck_assert_msg(strstr(st.last_error, "password authentication failed") != NULL, "%s", st.last_error);
    metrics_store_close(store);

    so.url = "postgresql://[::1:5432/db";
    ck_assert_int_eq(metrics_store_open(&so, &store, &err), METRICS_E_INVALID);
    ck_assert_msg(strstr(err.message, "database URL") != NULL, "%s", err.message);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("metrics-pg");
    TCase *tc = tcase_create("postgresql");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, migrations_once_and_concurrent);
    tcase_add_test(tc, raw_rows_read_back_and_meter_as_in_memory);
    tcase_add_test(tc, rollups_and_retention);
    tcase_add_test(tc, outage_queues_drops_and_recovers);
    tcase_add_test(tc, bad_password_and_url);
    suite_add_tcase(s, tc);
    return testutil_run_suite(s, true);
}
