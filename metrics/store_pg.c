/* store_pg.c - the history in PostgreSQL through libpq (schema and behaviour in metrics.h). */
#include <assert.h>
#include <libpq-fe.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "internal.h"

#define SCHEMA_VERSION 1
#define MIGRATION_LOCK 0x636f686f7274LL /* "cohort": the advisory lock of migrations and DDL */
#define BATCH_ROWS 4096
#define DAY_MS (86400 * INT64_C(1000))
#define MINUTE_MS (60 * INT64_C(1000))
#define HOUR_MS (3600 * INT64_C(1000))
#define MAINTENANCE_MS (60 * INT64_C(1000))
#define LOOKBACK_MS HOUR_MS /* how far back a counter's previous value is looked for */
#define MAX_SQL 32768

/* The three tables: their resolution and partition width. */
enum table { RAW = 0, MINUTE = 1, HOURLY = 2 };
static const struct {
    const char *name;
    const char *resolution; /* for the API and the rollup state */
    int64_t bucket_ms;      /* 0 for raw */
    int partition_days;
} tables[3] = {
    {"cohort_samples", "raw", 0, 1},
    {"cohort_samples_1m", "1m", MINUTE_MS, 7},
    {"cohort_samples_1h", "1h", HOUR_MS, 32},
};

struct row {
    uint64_t seq;
    int64_t time_ms;
    char chain[METRICS_CHAIN_MAX];
    struct metrics_point point;
};

struct metrics_store {
    struct metrics_store_options options; /* options.retention changes (metrics_store_set_retention): read it under lock */
    char url[1024];

    pthread_mutex_t lock; /* guards the queue, the stats, the flags and options.retention */
    pthread_cond_t wake, drained;
    struct row *queue;    /* ring of buffer_rows */
    size_t head, count;   /* the oldest row is at head */
    uint64_t next_seq;
    bool stopping;
    uint64_t maintenance_requested, maintenance_done; /* metrics_store_maintain's requests, served by the writer */
    int maintenance_rc;
    char maintenance_error[METRICS_REASON_MAX];
    struct metrics_history_stats stats;
    int64_t dirty_since_ms; /* the oldest row written since the last rollup (INT64_MAX: none) */

    pthread_t thread;
    bool thread_started;
    PGconn *writer;         /* the writer thread's own */
    bool migrated;
    int64_t partitions_known[3][64]; /* partition starts (ms) known to exist, per table */
    size_t npartitions_known[3];
    int64_t next_maintenance_ms;

    pthread_mutex_t reader_lock; /* the API's connection */
    PGconn *reader;
};

/* ---- SQL text helpers ---- */

struct sql {
    char text[MAX_SQL];
    size_t len;
};

static void sql_add(struct sql *q, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sql_add(struct sql *q, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(q->text + q->len, sizeof q->text - q->len, fmt, ap);
    va_end(ap);
    assert(n >= 0 && (size_t)n < sizeof q->text - q->len); /* our own statements: sized by the series list */
    q->len += (size_t)n;
}

/* A one-line message from libpq (it ends in newlines and may hold several lines). */
static void pq_message(PGconn *c, const PGresult *r, char *out, size_t size)
{
    const char *m = r ? PQresultErrorMessage(r) : NULL;
    if (m == NULL || m[0] == '\0') m = c ? PQerrorMessage(c) : "no connection";
    snprintf(out, size, "%s", m);
    for (char *p = out; *p; p++)
        if (*p == '\n' || *p == '\t') *p = ' ';
    size_t n = strlen(out);
    while (n > 0 && out[n - 1] == ' ') out[--n] = '\0';
}

/* Runs a statement without results. */
static int exec(PGconn *c, const char *sql, struct cohort_error *err)
{
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        char m[400];
        pq_message(c, r, m, sizeof m);
        PQclear(r);
        return cohort_error_set(err, PQstatus(c) == CONNECTION_OK ? METRICS_E_DATABASE : METRICS_E_UNAVAILABLE, DOMAIN,
                                "postgresql: %s", m);
    }
    PQclear(r);
    return 0;
}

/* ms since the epoch as an SQL timestamptz literal. */
static void timestamp_literal(int64_t ms, char *out, size_t size)
{
    snprintf(out, size, "to_timestamp(%lld.%03lld)", (long long)(ms / 1000), (long long)(ms % 1000 < 0 ? -(ms % 1000) : ms % 1000));
}

/* ---- Schema ---- */

static void migration_1(struct sql *q)
{
    sql_add(q, "CREATE TABLE cohort_samples (node_id bigint NOT NULL, chain text NOT NULL, time timestamptz NOT NULL");
    for (int i = 0; i < METRICS_NSERIES; i++) sql_add(q, ", %s double precision", metrics_series[i].name);
    sql_add(q, ") PARTITION BY RANGE (time);\n");
    sql_add(q, "CREATE INDEX cohort_samples_chain_time ON cohort_samples (node_id, chain, time);\n");
    for (int t = MINUTE; t <= HOURLY; t++) {
        sql_add(q, "CREATE TABLE %s (node_id bigint NOT NULL, chain text NOT NULL, time timestamptz NOT NULL, "
                   "samples integer NOT NULL", tables[t].name);
        for (int i = 0; i < METRICS_NSERIES; i++) {
            if (metrics_series[i].kind == METRICS_GAUGE)
                sql_add(q, ", %s_avg double precision, %s_max double precision", metrics_series[i].name, metrics_series[i].name);
            else
                sql_add(q, ", %s double precision, %s_increase double precision", metrics_series[i].name, metrics_series[i].name);
        }
        sql_add(q, ", PRIMARY KEY (node_id, chain, time)) PARTITION BY RANGE (time);\n");
    }
    sql_add(q, "CREATE TABLE cohort_metrics_rollup (node_id bigint NOT NULL, resolution text NOT NULL, "
               "done_until timestamptz NOT NULL, PRIMARY KEY (node_id, resolution));\n");
}

int metrics_store_schema_version(void) { return SCHEMA_VERSION; }

/* Applies the migrations this database lacks, under the advisory lock: a second cohort-core
   starting at the same moment waits, then finds them applied. */
static int migrate(PGconn *c, struct cohort_error *err)
{
    static struct sql q; /* only the writer thread migrates */
    char lock[160];
    int rc = exec(c, "BEGIN", err);
    if (rc < 0) return rc;
    snprintf(lock, sizeof lock, "SELECT pg_advisory_xact_lock(%lld)", MIGRATION_LOCK);
    if ((rc = exec(c, lock, err)) < 0 ||
        (rc = exec(c, "CREATE TABLE IF NOT EXISTS cohort_metrics_schema (version integer PRIMARY KEY, "
                      "applied_at timestamptz NOT NULL DEFAULT now())", err)) < 0)
        goto fail;
    PGresult *r = PQexec(c, "SELECT coalesce(max(version), 0) FROM cohort_metrics_schema");
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        char m[400];
        pq_message(c, r, m, sizeof m);
        PQclear(r);
        rc = cohort_error_set(err, METRICS_E_DATABASE, DOMAIN, "postgresql: reading the schema version: %s", m);
        goto fail;
    }
    int version = atoi(PQgetvalue(r, 0, 0));
    PQclear(r);
    if (version > SCHEMA_VERSION) {
        rc = cohort_error_set(err, METRICS_E_DATABASE, DOMAIN,
                              "the database's metrics schema is version %d, newer than this cohort-core's %d: upgrade cohort-core",
                              version, SCHEMA_VERSION);
        goto fail;
    }
    if (version < 1) {
        q.len = 0;
        migration_1(&q);
        sql_add(&q, "INSERT INTO cohort_metrics_schema (version) VALUES (1);");
        if ((rc = exec(c, q.text, err)) < 0) goto fail;
        log_info("metrics database migrated", "version=1");
    }
    return exec(c, "COMMIT", err);
fail:
    exec(c, "ROLLBACK", NULL);
    return cohort_error_wrap(err, "migrating the metrics schema");
}

/* ---- Partitions ---- */

static int64_t partition_start(enum table t, int64_t time_ms)
{
    int64_t width = tables[t].partition_days * DAY_MS;
    int64_t start = time_ms / width * width;
    return start > time_ms ? start - width : start;
}

static void partition_name(enum table t, int64_t start_ms, char *out, size_t size)
{
    time_t secs = (time_t)(start_ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    snprintf(out, size, "%s_p%04d%02d%02d", tables[t].name, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
}

static bool partition_known(struct metrics_store *s, enum table t, int64_t start)
{
    for (size_t i = 0; i < s->npartitions_known[t]; i++)
        if (s->partitions_known[t][i] == start) return true;
    return false;
}

static int ensure_partition(struct metrics_store *s, enum table t, int64_t time_ms, struct cohort_error *err)
{
    int64_t start = partition_start(t, time_ms);
    if (partition_known(s, t, start)) return 0;
    char name[96], from[64], to[64], sql[600];
    partition_name(t, start, name, sizeof name);
    timestamp_literal(start, from, sizeof from);
    timestamp_literal(start + tables[t].partition_days * DAY_MS, to, sizeof to);
    /* Under the lock: CREATE ... IF NOT EXISTS can still collide when two run it at once. */
    snprintf(sql, sizeof sql,
             "BEGIN; SELECT pg_advisory_xact_lock(%lld); CREATE TABLE IF NOT EXISTS %s PARTITION OF %s "
             "FOR VALUES FROM (%s) TO (%s); COMMIT;",
             MIGRATION_LOCK, name, tables[t].name, from, to);
    int rc = exec(s->writer, sql, err);
    if (rc < 0) {
        exec(s->writer, "ROLLBACK", NULL);
        return cohort_error_wrap(err, "creating partition %s", name);
    }
    if (s->npartitions_known[t] == 64) s->npartitions_known[t] = 0; /* forget; CREATE IF NOT EXISTS is cheap */
    s->partitions_known[t][s->npartitions_known[t]++] = start;
    return 0;
}

static int rollup_done(PGconn *c, uint64_t node, const char *resolution, int64_t *done_ms, struct cohort_error *err);

/* The retention in force, copied under the lock (it may change on another thread). */
static struct metrics_retention retention_now(struct metrics_store *s)
{
    pthread_mutex_lock(&s->lock);
    struct metrics_retention r = s->options.retention;
    pthread_mutex_unlock(&s->lock);
    return r;
}

/* Drops partitions whose whole range is older than the table's retention. */
static int drop_old_partitions(struct metrics_store *s, enum table t, const struct metrics_retention *retention,
                               int64_t now_ms, struct cohort_error *err)
{
    unsigned days = t == RAW ? retention->raw_days : t == MINUTE ? retention->minute_days : retention->hour_days;
    int64_t keep_from = now_ms - (int64_t)days * DAY_MS;
    if (t != HOURLY) {
        /* Never drop rows the next resolution has not rolled up yet (a rollup that fell
           behind catches up over several rounds). */
        int64_t rolled;
        int rc = rollup_done(s->writer, s->options.node_id, tables[t + 1].resolution, &rolled, err);
        if (rc < 0) return rc;
        if (rolled < keep_from) keep_from = rolled;
    }
    char sql[400];
    snprintf(sql, sizeof sql,
             "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
             "WHERE i.inhparent = '%s'::regclass", tables[t].name);
    PGresult *r = PQexec(s->writer, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        char m[400];
        pq_message(s->writer, r, m, sizeof m);
        PQclear(r);
        return cohort_error_set(err, METRICS_E_DATABASE, DOMAIN, "postgresql: listing partitions: %s", m);
    }
    size_t prefix = strlen(tables[t].name) + 2; /* "<table>_p" */
    int rc = 0;
    for (int i = 0; i < PQntuples(r) && rc == 0; i++) {
        const char *name = PQgetvalue(r, i, 0);
        int y, mo, d;
        if (strlen(name) != prefix + 8 || sscanf(name + prefix, "%4d%2d%2d", &y, &mo, &d) != 3) continue;
        struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d};
        int64_t start = (int64_t)timegm(&tm) * 1000;
        if (start + tables[t].partition_days * DAY_MS > keep_from) continue;
        snprintf(sql, sizeof sql, "DROP TABLE IF EXISTS %s", name);
        if ((rc = exec(s->writer, sql, err)) == 0) {
            log_info("metrics partition dropped (retention)", "partition=%s", name);
            for (size_t k = 0; k < s->npartitions_known[t]; k++)
                if (s->partitions_known[t][k] == start) s->partitions_known[t][k] = s->partitions_known[t][--s->npartitions_known[t]];
            pthread_mutex_lock(&s->lock);
            s->stats.partitions_dropped++;
            pthread_mutex_unlock(&s->lock);
        }
    }
    PQclear(r);
    return rc;
}

/* ---- Rollups ----
 *
 * A counter's increase over a set of raw rows is the sum over each non-null value of its
 * rise from the previous non-null value of the chain (a drop counts the whole new value:
 * a reset). The previous value is looked for up to LOOKBACK_MS before the range. A gauge's
 * bucket is its average and maximum.
 */

/* Appends "WITH base AS (...), inc_<counter> AS (...) ..." over raw rows of node in [from - lookback, until). */
static void raw_with(struct sql *q, uint64_t node, const char *chain_filter, int64_t from_ms, int64_t until_ms,
                     int64_t bucket_ms)
{
    char lo[64], from[64], until[64];
    timestamp_literal(from_ms - LOOKBACK_MS, lo, sizeof lo);
    timestamp_literal(from_ms, from, sizeof from);
    timestamp_literal(until_ms, until, sizeof until);
    sql_add(q, "WITH base AS (SELECT chain, time");
    for (int i = 0; i < METRICS_NSERIES; i++) sql_add(q, ", %s", metrics_series[i].name);
    sql_add(q, " FROM cohort_samples WHERE node_id = %llu AND time >= %s AND time < %s%s)", (unsigned long long)node, lo,
            until, chain_filter);
    for (int i = 0; i < METRICS_NSERIES; i++) {
        if (metrics_series[i].kind != METRICS_COUNTER) continue;
        const char *n = metrics_series[i].name;
        sql_add(q,
                ", inc_%s AS (SELECT chain, date_bin('%lld milliseconds', time, TIMESTAMPTZ 'epoch') AS bucket, "
                "sum(CASE WHEN d IS NULL THEN 0 WHEN d >= 0 THEN d ELSE v END) AS inc FROM "
                "(SELECT chain, time, %s AS v, %s - lag(%s) OVER (PARTITION BY chain ORDER BY time) AS d FROM base "
                "WHERE %s IS NOT NULL) x WHERE time >= %s GROUP BY 1, 2)",
                n, (long long)bucket_ms, n, n, n, n, from);
    }
    sql_add(q, ", agg AS (SELECT chain, date_bin('%lld milliseconds', time, TIMESTAMPTZ 'epoch') AS bucket, count(*) AS samples",
            (long long)bucket_ms);
    for (int i = 0; i < METRICS_NSERIES; i++) {
        const char *n = metrics_series[i].name;
        if (metrics_series[i].kind == METRICS_GAUGE) sql_add(q, ", avg(%s) AS %s_avg, max(%s) AS %s_max", n, n, n, n);
        else sql_add(q, ", (array_agg(%s ORDER BY time DESC) FILTER (WHERE %s IS NOT NULL))[1] AS %s", n, n, n);
    }
    sql_add(q, " FROM base WHERE time >= %s GROUP BY 1, 2)", from);
}

/* Appends the joins of agg with every inc_<counter>. */
static void raw_joins(struct sql *q)
{
    sql_add(q, " FROM agg");
    for (int i = 0; i < METRICS_NSERIES; i++)
        if (metrics_series[i].kind == METRICS_COUNTER)
            sql_add(q, " LEFT JOIN inc_%s USING (chain, bucket)", metrics_series[i].name);
}

/* The column list of a rollup table after node_id, chain, time. */
static void rollup_columns(struct sql *q)
{
    sql_add(q, "samples");
    for (int i = 0; i < METRICS_NSERIES; i++) {
        const char *n = metrics_series[i].name;
        if (metrics_series[i].kind == METRICS_GAUGE) sql_add(q, ", %s_avg, %s_max", n, n);
        else sql_add(q, ", %s, %s_increase", n, n);
    }
}

static void rollup_upsert_tail(struct sql *q)
{
    sql_add(q, " ON CONFLICT (node_id, chain, time) DO UPDATE SET samples = EXCLUDED.samples");
    for (int i = 0; i < METRICS_NSERIES; i++) {
        const char *n = metrics_series[i].name;
        if (metrics_series[i].kind == METRICS_GAUGE) sql_add(q, ", %s_avg = EXCLUDED.%s_avg, %s_max = EXCLUDED.%s_max", n, n, n, n);
        else sql_add(q, ", %s = EXCLUDED.%s, %s_increase = EXCLUDED.%s_increase", n, n, n, n);
    }
}

/* Rolls raw rows of [from, until) up into 1-minute buckets. */
static void rollup_minute_sql(struct sql *q, uint64_t node, int64_t from_ms, int64_t until_ms)
{
    raw_with(q, node, "", from_ms, until_ms, MINUTE_MS);
    sql_add(q, " INSERT INTO cohort_samples_1m (node_id, chain, time, ");
    rollup_columns(q);
    sql_add(q, ") SELECT %llu, chain, bucket, samples", (unsigned long long)node);
    for (int i = 0; i < METRICS_NSERIES; i++) {
        const char *n = metrics_series[i].name;
        if (metrics_series[i].kind == METRICS_GAUGE) sql_add(q, ", %s_avg, %s_max", n, n);
        else sql_add(q, ", %s, inc_%s.inc", n, n);
    }
    raw_joins(q);
    rollup_upsert_tail(q);
}

/* Rolls 1-minute rows of [from, until) up into 1-hour buckets. */
static void rollup_hour_sql(struct sql *q, uint64_t node, int64_t from_ms, int64_t until_ms)
{
    char from[64], until[64];
    timestamp_literal(from_ms, from, sizeof from);
    timestamp_literal(until_ms, until, sizeof until);
    sql_add(q, "INSERT INTO cohort_samples_1h (node_id, chain, time, ");
    rollup_columns(q);
    sql_add(q, ") SELECT %llu, chain, date_bin('1 hour', time, TIMESTAMPTZ 'epoch'), sum(samples)", (unsigned long long)node);
    for (int i = 0; i < METRICS_NSERIES; i++) {
        const char *n = metrics_series[i].name;
        if (metrics_series[i].kind == METRICS_GAUGE)
            sql_add(q, ", sum(%s_avg * samples) / nullif(sum(samples) FILTER (WHERE %s_avg IS NOT NULL), 0), max(%s_max)", n, n, n);
        else
            sql_add(q, ", (array_agg(%s ORDER BY time DESC) FILTER (WHERE %s IS NOT NULL))[1], sum(%s_increase)", n, n, n);
    }
    sql_add(q, " FROM cohort_samples_1m WHERE node_id = %llu AND time >= %s AND time < %s GROUP BY 1, 2, 3",
            (unsigned long long)node, from, until);
    rollup_upsert_tail(q);
}

/* Reads done_until of a resolution (0 when never rolled up). */
static int rollup_done(PGconn *c, uint64_t node, const char *resolution, int64_t *done_ms, struct cohort_error *err)
{
    char sql[300];
    snprintf(sql, sizeof sql,
             "SELECT (extract(epoch FROM done_until) * 1000)::bigint FROM cohort_metrics_rollup "
             "WHERE node_id = %llu AND resolution = '%s'", (unsigned long long)node, resolution);
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        char m[400];
        pq_message(c, r, m, sizeof m);
        PQclear(r);
        return cohort_error_set(err, METRICS_E_DATABASE, DOMAIN, "postgresql: reading rollup state: %s", m);
    }
    *done_ms = PQntuples(r) == 1 ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : 0;
    PQclear(r);
    return 0;
}

/* The oldest row's time of node in table (0 when empty). */
static int oldest_row(PGconn *c, uint64_t node, const char *table, int64_t *oldest_ms, struct cohort_error *err)
{
    char sql[300];
    snprintf(sql, sizeof sql, "SELECT (extract(epoch FROM min(time)) * 1000)::bigint FROM %s WHERE node_id = %llu", table,
             (unsigned long long)node);
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        char m[400];
        pq_message(c, r, m, sizeof m);
        PQclear(r);
        return cohort_error_set(err, METRICS_E_DATABASE, DOMAIN, "postgresql: %s", m);
    }
    *oldest_ms = PQntuples(r) == 1 && !PQgetisnull(r, 0, 0) ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : 0;
    PQclear(r);
    return 0;
}

static int64_t floor_to(int64_t t, int64_t step) { return t / step * step - (t % step < 0 ? step : 0); }

/* One resolution: from where it stopped (or the oldest late row) to the last whole bucket before settle_ms. */
static int rollup(struct metrics_store *s, enum table t, int64_t now_ms, int64_t dirty_since_ms, struct cohort_error *err)
{
    uint64_t node = s->options.node_id;
    int64_t step = tables[t].bucket_ms, done;
    int rc = rollup_done(s->writer, node, tables[t].resolution, &done, err);
    if (rc < 0) return rc;
    if (done == 0) {
        int64_t oldest = 0;
        if ((rc = oldest_row(s->writer, node, tables[t - 1].name, &oldest, err)) < 0) return rc;
        if (oldest == 0) return 0; /* nothing to roll up yet */
        done = floor_to(oldest, step);
    }
    int64_t from = done;
    if (dirty_since_ms < from) from = floor_to(dirty_since_ms, step);
    /* A bucket is rolled up once its rows are in: 30 s after its end for minutes, 2 min for hours. */
    int64_t until = floor_to(now_ms - (t == MINUTE ? 30000 : 120000), step);
    if (until <= from) return 0;
    if (t == HOURLY) {
        /* Only hours whose minutes are all rolled up. */
        int64_t minutes_done;
        if ((rc = rollup_done(s->writer, node, tables[MINUTE].resolution, &minutes_done, err)) < 0) return rc;
        if (floor_to(minutes_done, step) < until) until = floor_to(minutes_done, step);
        if (until <= from) return 0;
    }
    /* Bound one statement's work: a long outage is caught up over several maintenance rounds. */
    int64_t max_span = t == MINUTE ? 6 * HOUR_MS : 7 * DAY_MS;
    if (until - from > max_span) until = from + max_span;
    for (int64_t p = partition_start(t, from); p < until; p += tables[t].partition_days * DAY_MS)
        if ((rc = ensure_partition(s, t, p, err)) < 0) return rc;
    static struct sql q; /* the writer thread's */
    q.len = 0;
    sql_add(&q, "BEGIN; ");
    if (t == MINUTE) rollup_minute_sql(&q, node, from, until);
    else rollup_hour_sql(&q, node, from, until);
    char until_text[64];
    timestamp_literal(until, until_text, sizeof until_text);
    sql_add(&q, "; INSERT INTO cohort_metrics_rollup (node_id, resolution, done_until) VALUES (%llu, '%s', %s) "
                "ON CONFLICT (node_id, resolution) DO UPDATE SET done_until = GREATEST(cohort_metrics_rollup.done_until, EXCLUDED.done_until); COMMIT;",
            (unsigned long long)node, tables[t].resolution, until_text);
    rc = exec(s->writer, q.text, err);
    if (rc < 0) {
        exec(s->writer, "ROLLBACK", NULL);
        return cohort_error_wrap(err, "rolling up %s", tables[t].resolution);
    }
    pthread_mutex_lock(&s->lock);
    s->stats.rollups++;
    pthread_mutex_unlock(&s->lock);
    return 0;
}

/* ---- The writer ---- */

static void set_error(struct metrics_store *s, const char *message)
{
    pthread_mutex_lock(&s->lock);
    snprintf(s->stats.last_error, sizeof s->stats.last_error, "%s", message);
    pthread_mutex_unlock(&s->lock);
}

static PGconn *connect_to(const struct metrics_store *s, struct cohort_error *err)
{
    char timeout[16], options[96];
    snprintf(timeout, sizeof timeout, "%ld", s->options.connect_timeout_s);
    snprintf(options, sizeof options, "-c statement_timeout=%ld -c client_min_messages=warning",
             s->options.statement_timeout_ms);
    /* The URL first, then what cohort sets on top of it (expand_dbname parses the URL). */
    const char *keys[] = {"dbname", "connect_timeout", "application_name", "options", NULL};
    const char *values[] = {s->url, timeout, "cohort-core", options, NULL};
    PGconn *c = PQconnectdbParams(keys, values, 1);
    if (c == NULL) {
        cohort_error_set(err, METRICS_E_NOMEM, DOMAIN, "postgresql: out of memory");
        return NULL;
    }
    if (PQstatus(c) != CONNECTION_OK) {
        char m[400];
        pq_message(c, NULL, m, sizeof m);
        PQfinish(c);
        cohort_error_set(err, METRICS_E_UNAVAILABLE, DOMAIN, "postgresql: %s", m);
        return NULL;
    }
    return c;
}

/* Connects the writer and migrates. */
static int writer_connect(struct metrics_store *s, struct cohort_error *err)
{
    PGconn *c = connect_to(s, err);
    if (c == NULL) return err ? err->code : METRICS_E_UNAVAILABLE;
    s->writer = c;
    int rc = s->migrated ? 0 : migrate(c, err);
    if (rc < 0) {
        PQfinish(c);
        s->writer = NULL;
        return rc;
    }
    s->migrated = true;
    s->npartitions_known[0] = s->npartitions_known[1] = s->npartitions_known[2] = 0;
    return 0;
}

/* One row as a COPY text line: tabs between fields, \N for NULL. */
static void copy_line(struct metrics_buf *b, uint64_t node, const struct row *r)
{
    char ts[64];
    time_t secs = (time_t)(r->time_ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    snprintf(ts, sizeof ts, "%04d-%02d-%02d %02d:%02d:%02d.%03d+00", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(r->time_ms % 1000));
    metrics_buf_printf(b, "%llu\t", (unsigned long long)node);
    for (const char *p = r->chain; *p; p++) { /* COPY text escapes */
        if (*p == '\\') metrics_buf_append(b, "\\\\", 2);
        else if (*p == '\t') metrics_buf_append(b, "\\t", 2);
        else if (*p == '\n') metrics_buf_append(b, "\\n", 2);
        else if (*p == '\r') metrics_buf_append(b, "\\r", 2);
        else metrics_buf_append(b, p, 1);
    }
    metrics_buf_printf(b, "\t%s", ts);
    for (int i = 0; i < METRICS_NSERIES; i++) {
        double v = r->point.values[i];
        if (isnan(v) || isinf(v)) metrics_buf_append(b, "\t\\N", 3);
        else {
            metrics_buf_append(b, "\t", 1);
            metrics_buf_number(b, v);
        }
    }
    metrics_buf_append(b, "\n", 1);
}

/* Writes rows with COPY. */
static int copy_rows(struct metrics_store *s, const struct row *rows, size_t n, struct cohort_error *err)
{
    int rc;
    for (size_t i = 0; i < n; i++)
        if ((rc = ensure_partition(s, RAW, rows[i].time_ms, err)) < 0) return rc;
    static struct sql q; /* the writer thread's */
    q.len = 0;
    sql_add(&q, "COPY cohort_samples (node_id, chain, time");
    for (int i = 0; i < METRICS_NSERIES; i++) sql_add(&q, ", %s", metrics_series[i].name);
    sql_add(&q, ") FROM STDIN");
    PGresult *r = PQexec(s->writer, q.text);
    if (PQresultStatus(r) != PGRES_COPY_IN) {
        char m[400];
        pq_message(s->writer, r, m, sizeof m);
        PQclear(r);
        return cohort_error_set(err, PQstatus(s->writer) == CONNECTION_OK ? METRICS_E_DATABASE : METRICS_E_UNAVAILABLE,
                                DOMAIN, "postgresql: COPY: %s", m);
    }
    PQclear(r);
    struct metrics_buf b = {0};
    for (size_t i = 0; i < n; i++) copy_line(&b, s->options.node_id, &rows[i]);
    bool sent = !b.failed && PQputCopyData(s->writer, b.data, (int)b.len) == 1;
    free(b.data);
    if (PQputCopyEnd(s->writer, sent ? NULL : "out of memory") != 1) sent = false;
    r = PQgetResult(s->writer);
    rc = 0;
    if (!sent || PQresultStatus(r) != PGRES_COMMAND_OK) {
        char m[400];
        pq_message(s->writer, r, m, sizeof m);
        rc = cohort_error_set(err, PQstatus(s->writer) == CONNECTION_OK ? METRICS_E_DATABASE : METRICS_E_UNAVAILABLE,
                              DOMAIN, "postgresql: COPY: %s", m);
    }
    PQclear(r);
    while ((r = PQgetResult(s->writer)) != NULL) PQclear(r);
    return rc;
}

static int maintain(struct metrics_store *s, int64_t now_ms, struct cohort_error *err)
{
    int rc;
    /* Partitions ahead, so a write at midnight does not wait for DDL. */
    for (int t = RAW; t <= HOURLY; t++) {
        if ((rc = ensure_partition(s, (enum table)t, now_ms, err)) < 0) return rc;
        if ((rc = ensure_partition(s, (enum table)t, now_ms + tables[t].partition_days * DAY_MS, err)) < 0) return rc;
    }
    pthread_mutex_lock(&s->lock);
    int64_t dirty = s->dirty_since_ms;
    s->dirty_since_ms = INT64_MAX;
    pthread_mutex_unlock(&s->lock);
    if ((rc = rollup(s, MINUTE, now_ms, dirty, err)) < 0 || (rc = rollup(s, HOURLY, now_ms, dirty, err)) < 0) {
        pthread_mutex_lock(&s->lock);
        if (dirty < s->dirty_since_ms) s->dirty_since_ms = dirty; /* again next time */
        pthread_mutex_unlock(&s->lock);
        return rc;
    }
    /* One copy for the three tables, so a change made meanwhile applies to all of them next round. */
    struct metrics_retention retention = retention_now(s);
    for (int t = RAW; t <= HOURLY; t++)
        if ((rc = drop_old_partitions(s, (enum table)t, &retention, now_ms, err)) < 0) return rc;
    return 0;
}

static void disconnect_writer(struct metrics_store *s, const char *why)
{
    if (s->writer) PQfinish(s->writer);
    s->writer = NULL;
    pthread_mutex_lock(&s->lock);
    s->stats.connected = false;
    snprintf(s->stats.last_error, sizeof s->stats.last_error, "%s", why);
    pthread_mutex_unlock(&s->lock);
}

static void *writer_main(void *arg)
{
    struct metrics_store *s = arg;
    int64_t backoff_ms = 1000, next_connect_ms = 0;
    struct row *batch = malloc(BATCH_ROWS * sizeof *batch);
    bool ever_connected = s->writer != NULL;
    pthread_mutex_lock(&s->lock);
    while (batch != NULL) {
        int64_t now = metrics_monotonic_ms();
        bool want_write = s->count > 0 && (s->writer != NULL || now >= next_connect_ms);
        bool want_maintenance = s->writer != NULL && ((s->options.maintenance_interval_ms > 0 &&
                                                       metrics_wall_ms() >= s->next_maintenance_ms) ||
                                                      s->maintenance_requested > s->maintenance_done);
        if (s->stopping && (s->count == 0 || s->writer == NULL)) break;
        if (!want_write && !want_maintenance && !s->stopping) {
            if (s->count == 0) pthread_cond_broadcast(&s->drained);
            struct timespec until;
            clock_gettime(CLOCK_MONOTONIC, &until);
            until.tv_sec += 1;
            pthread_cond_timedwait(&s->wake, &s->lock, &until);
            continue;
        }
        pthread_mutex_unlock(&s->lock);
        struct cohort_error err = {0};
        if (s->writer == NULL) {
            if (now < next_connect_ms) {
                pthread_mutex_lock(&s->lock);
                if (s->stopping) break;
                continue;
            }
            if (writer_connect(s, &err) < 0) {
                if (strcmp(err.message, s->stats.last_error) != 0)
                    log_warn("metrics database unavailable; samples queue in memory", "error=\"%s\" retry_ms=%lld",
                             err.message, (long long)backoff_ms);
                set_error(s, err.message);
                next_connect_ms = metrics_monotonic_ms() + backoff_ms;
                backoff_ms = backoff_ms < 30000 ? backoff_ms * 2 : 30000;
                pthread_mutex_lock(&s->lock);
                if (s->stopping) break;
                continue;
            }
            backoff_ms = 1000;
            pthread_mutex_lock(&s->lock);
            if (ever_connected) s->stats.reconnects++;
            s->stats.connected = true;
            s->stats.last_error[0] = '\0';
            pthread_mutex_unlock(&s->lock);
            if (ever_connected) log_info("metrics database reconnected", NULL);
            ever_connected = true;
            s->next_maintenance_ms = 0;
        }
        /* Take a batch (copied: the queue may drop its oldest while we write). */
        pthread_mutex_lock(&s->lock);
        size_t n = s->count < BATCH_ROWS ? s->count : BATCH_ROWS;
        size_t cap = s->options.buffer_rows;
        for (size_t i = 0; i < n; i++) batch[i] = s->queue[(s->head + i) % cap];
        pthread_mutex_unlock(&s->lock);
        int rc = 0;
        if (n > 0) {
            double t0 = (double)metrics_monotonic_ms();
            rc = copy_rows(s, batch, n, &err);
            pthread_mutex_lock(&s->lock);
            if (rc == 0) {
                /* Remove what was written (rows dropped meanwhile are gone already). */
                uint64_t last = batch[n - 1].seq;
                while (s->count > 0 && s->queue[s->head].seq <= last) {
                    s->head = (s->head + 1) % cap;
                    s->count--;
                }
                s->stats.rows_written += n;
                s->stats.last_write_seconds = ((double)metrics_monotonic_ms() - t0) / 1000.0;
                for (size_t i = 0; i < n; i++)
                    if (batch[i].time_ms < s->dirty_since_ms) s->dirty_since_ms = batch[i].time_ms;
            } else {
                s->stats.write_errors++;
            }
            pthread_mutex_unlock(&s->lock);
        }
        pthread_mutex_lock(&s->lock);
        uint64_t requested = s->maintenance_requested;
        pthread_mutex_unlock(&s->lock);
        bool due = s->options.maintenance_interval_ms > 0 && metrics_wall_ms() >= s->next_maintenance_ms;
        if (rc == 0 && (due || requested > s->maintenance_done)) {
            int64_t wall = metrics_wall_ms();
            int mrc = maintain(s, wall, &err);
            if (mrc < 0) {
                log_warn("metrics database maintenance failed", "error=\"%s\"", err.message);
                rc = err.code == METRICS_E_UNAVAILABLE || PQstatus(s->writer) != CONNECTION_OK ? err.code : 0;
            }
            s->next_maintenance_ms = wall + s->options.maintenance_interval_ms;
            pthread_mutex_lock(&s->lock);
            s->maintenance_rc = mrc;
            snprintf(s->maintenance_error, sizeof s->maintenance_error, "%s", mrc < 0 ? err.message : "");
            s->maintenance_done = requested;
            pthread_cond_broadcast(&s->drained);
            pthread_mutex_unlock(&s->lock);
        }
        if (rc < 0) {
            if (PQstatus(s->writer) != CONNECTION_OK || rc == METRICS_E_UNAVAILABLE) {
                log_warn("metrics database connection lost; samples queue in memory", "error=\"%s\"", err.message);
                disconnect_writer(s, err.message);
                next_connect_ms = metrics_monotonic_ms() + backoff_ms;
            } else {
                /* The database refused the rows themselves: drop the batch rather than retry it forever. */
                log_error("metrics database refused a batch; dropped", "rows=%zu error=\"%s\"", n, err.message);
                set_error(s, err.message);
                pthread_mutex_lock(&s->lock);
                uint64_t last = batch[n ? n - 1 : 0].seq;
                while (n > 0 && s->count > 0 && s->queue[s->head].seq <= last) {
                    s->head = (s->head + 1) % cap;
                    s->count--;
                    s->stats.rows_dropped++;
                }
                pthread_mutex_unlock(&s->lock);
            }
        }
        pthread_mutex_lock(&s->lock);
    }
    s->stats.rows_queued = s->count;
    pthread_cond_broadcast(&s->drained);
    pthread_mutex_unlock(&s->lock);
    free(batch);
    return NULL;
}

/* ---- API ---- */

int metrics_store_open(const struct metrics_store_options *options, struct metrics_store **out, struct cohort_error *err)
{
    *out = NULL;
    char *parse_error = NULL;
    PQconninfoOption *parsed = PQconninfoParse(options->url, &parse_error);
    if (parsed == NULL) {
        char m[300];
        snprintf(m, sizeof m, "%s", parse_error ? parse_error : "out of memory");
        for (char *p = m; *p; p++)
            if (*p == '\n') *p = ' ';
        PQfreemem(parse_error);
        return cohort_error_set(err, METRICS_E_INVALID, DOMAIN,
                                "database URL: %s; give a libpq URL such as postgresql://cohort:PASSWORD@127.0.0.1:5432/cohort",
                                m);
    }
    PQconninfoFree(parsed);
    if (strlen(options->url) >= sizeof((struct metrics_store *)0)->url)
        return cohort_error_set(err, METRICS_E_INVALID, DOMAIN, "database URL: longer than 1023 bytes");
    struct metrics_store *s = calloc(1, sizeof *s);
    if (s == NULL) return cohort_error_set(err, METRICS_E_NOMEM, DOMAIN, "out of memory");
    s->options = *options;
    snprintf(s->url, sizeof s->url, "%s", options->url);
    s->options.url = s->url;
    metrics_retention_defaults(&s->options.retention);
    int rc = metrics_retention_check(&s->options.retention, err);
    if (rc < 0) {
        free(s);
        return rc;
    }
    if (s->options.buffer_rows == 0) s->options.buffer_rows = 65536;
    if (s->options.connect_timeout_s <= 0) s->options.connect_timeout_s = 5;
    if (s->options.statement_timeout_ms <= 0) s->options.statement_timeout_ms = 10000;
    if (s->options.maintenance_interval_ms == 0) s->options.maintenance_interval_ms = MAINTENANCE_MS;
    s->queue = malloc(s->options.buffer_rows * sizeof *s->queue);
    if (s->queue == NULL) {
        free(s);
        return cohort_error_set(err, METRICS_E_NOMEM, DOMAIN, "out of memory for a queue of %zu rows", options->buffer_rows);
    }
    s->dirty_since_ms = INT64_MAX;
    s->stats.configured = true;
    pthread_mutex_init(&s->lock, NULL);
    pthread_mutex_init(&s->reader_lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&s->wake, &attr);
    pthread_cond_init(&s->drained, &attr);
    pthread_condattr_destroy(&attr);
    /* A first attempt now, so a wrong password or host is said at start. */
    struct cohort_error cerr = {0};
    if (writer_connect(s, &cerr) == 0) {
        s->stats.connected = true;
        log_info("metrics database connected", "schema_version=%d", SCHEMA_VERSION);
    } else {
        log_error("metrics database unavailable at start; history stays in memory until it answers", "error=\"%s\"",
                  cerr.message);
        snprintf(s->stats.last_error, sizeof s->stats.last_error, "%s", cerr.message);
    }
    if (pthread_create(&s->thread, NULL, writer_main, s) != 0) {
        metrics_store_close(s);
        return cohort_error_set(err, METRICS_E_NOMEM, DOMAIN, "cannot start the database writer thread");
    }
    s->thread_started = true;
    *out = s;
    return 0;
}

void metrics_store_close(struct metrics_store *s)
{
    if (s == NULL) return;
    if (s->thread_started) {
        metrics_store_flush(s, 2000);
        pthread_mutex_lock(&s->lock);
        s->stopping = true;
        pthread_cond_broadcast(&s->wake);
        pthread_mutex_unlock(&s->lock);
        pthread_join(s->thread, NULL);
    }
    if (s->writer) PQfinish(s->writer);
    if (s->reader) PQfinish(s->reader);
    pthread_cond_destroy(&s->wake);
    pthread_cond_destroy(&s->drained);
    pthread_mutex_destroy(&s->lock);
    pthread_mutex_destroy(&s->reader_lock);
    free(s->queue);
    free(s);
}

void metrics_store_enqueue(struct metrics_store *s, const struct metrics_sample *sample)
{
    size_t cap = s->options.buffer_rows;
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < sample->nsubnodes; i++) {
        if (s->count == cap) { /* full: the oldest row goes */
            s->head = (s->head + 1) % cap;
            s->count--;
            s->stats.rows_dropped++;
        }
        struct row *r = &s->queue[(s->head + s->count) % cap];
        r->seq = ++s->next_seq;
        r->time_ms = sample->time_ms;
        snprintf(r->chain, sizeof r->chain, "%s", sample->subnodes[i].in.chain);
        metrics_point_from_sample(&sample->subnodes[i], &r->point);
        s->count++;
    }
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->lock);
}

int metrics_store_flush(struct metrics_store *s, long timeout_ms)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (timeout_ms % 1000) * 1000000;
    if (until.tv_nsec >= 1000000000) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&s->lock);
    pthread_cond_signal(&s->wake);
    int rc = 0;
    while (s->count > 0 && !s->stopping && rc == 0) rc = pthread_cond_timedwait(&s->drained, &s->lock, &until);
    int left = s->count > 0;
    pthread_mutex_unlock(&s->lock);
    return left ? METRICS_E_UNAVAILABLE : 0;
}

void metrics_store_stats(struct metrics_store *s, struct metrics_history_stats *out)
{
    pthread_mutex_lock(&s->lock);
    *out = s->stats;
    out->rows_queued = s->count;
    pthread_mutex_unlock(&s->lock);
}

void metrics_retention_defaults(struct metrics_retention *r)
{
    if (r->raw_days == 0) r->raw_days = 2;
    if (r->minute_days == 0) r->minute_days = 30;
    if (r->hour_days == 0) r->hour_days = 365;
}

int metrics_retention_check(const struct metrics_retention *r, struct cohort_error *err)
{
    if (r->raw_days < 1 || r->raw_days > METRICS_RETENTION_MAX_DAYS)
        return cohort_error_set(err, METRICS_E_INVALID, DOMAIN, "metrics retention: raw_days %u is not in 1..%u",
                                r->raw_days, METRICS_RETENTION_MAX_DAYS);
    if (r->minute_days < r->raw_days || r->minute_days > METRICS_RETENTION_MAX_DAYS)
        return cohort_error_set(err, METRICS_E_INVALID, DOMAIN,
                                "metrics retention: minute_days %u is not in raw_days (%u)..%u: the 1-minute rollups "
                                "must be kept at least as long as the raw samples",
                                r->minute_days, r->raw_days, METRICS_RETENTION_MAX_DAYS);
    if (r->hour_days < r->minute_days || r->hour_days > METRICS_RETENTION_MAX_DAYS)
        return cohort_error_set(err, METRICS_E_INVALID, DOMAIN,
                                "metrics retention: hour_days %u is not in minute_days (%u)..%u: the 1-hour rollups "
                                "must be kept at least as long as the 1-minute ones",
                                r->hour_days, r->minute_days, METRICS_RETENTION_MAX_DAYS);
    return 0;
}

int metrics_store_set_retention(struct metrics_store *s, const struct metrics_retention *retention,
                                struct cohort_error *err)
{
    int rc = metrics_retention_check(retention, err);
    if (rc < 0) return rc;
    pthread_mutex_lock(&s->lock);
    const struct metrics_retention *old = &s->options.retention;
    bool lowered = retention->raw_days < old->raw_days || retention->minute_days < old->minute_days ||
                   retention->hour_days < old->hour_days;
    s->options.retention = *retention;
    if (lowered) {
        /* A maintenance round now rather than at the next minute's: the operator lowered it
           to free disk. Nobody waits for this ticket; the writer serves it like any other. */
        s->maintenance_requested++;
        pthread_cond_signal(&s->wake);
    }
    pthread_mutex_unlock(&s->lock);
    return 0;
}

void metrics_store_get_retention(struct metrics_store *s, struct metrics_retention *out) { *out = retention_now(s); }

int metrics_store_maintain(struct metrics_store *s, int64_t now_ms, struct cohort_error *err)
{
    /* The writer thread owns the connection and the rollup state: ask it, and wait. now_ms is
       the writer's own clock (the wall clock); the parameter documents the caller's intent. */
    (void)now_ms;
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += 60;
    pthread_mutex_lock(&s->lock);
    uint64_t ticket = ++s->maintenance_requested;
    pthread_cond_signal(&s->wake);
    int wait = 0;
    while (s->maintenance_done < ticket && !s->stopping && wait == 0)
        wait = pthread_cond_timedwait(&s->drained, &s->lock, &until);
    int rc = s->maintenance_done >= ticket ? s->maintenance_rc : METRICS_E_UNAVAILABLE;
    if (rc < 0)
        cohort_error_set(err, rc, DOMAIN, "%s", s->maintenance_done >= ticket ? s->maintenance_error
                                                                              : "the database did not answer within 60 s");
    pthread_mutex_unlock(&s->lock);
    return rc;
}

/* ---- Reading (the API's connection) ---- */

/* Runs a query on the reader connection (connecting if needed). Called with reader_lock held. */
static PGresult *reader_query(struct metrics_store *s, const char *sql, struct cohort_error *err)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        if (s->reader == NULL || PQstatus(s->reader) != CONNECTION_OK) {
            if (s->reader) PQfinish(s->reader);
            s->reader = connect_to(s, err);
            if (s->reader == NULL) return NULL;
        }
        PGresult *r = PQexec(s->reader, sql);
        if (PQresultStatus(r) == PGRES_TUPLES_OK) return r;
        char m[400];
        pq_message(s->reader, r, m, sizeof m);
        PQclear(r);
        if (PQstatus(s->reader) == CONNECTION_OK) {
            cohort_error_set(err, METRICS_E_DATABASE, DOMAIN, "postgresql: %s", m);
            return NULL;
        }
        cohort_error_set(err, METRICS_E_UNAVAILABLE, DOMAIN, "postgresql: %s", m);
        /* A connection that died since the last query: once more on a fresh one. */
    }
    return NULL;
}

/* The finest table whose retention covers since_ms (by the retention in force now). */
static enum table table_for(struct metrics_store *s, int64_t since_ms, int64_t now_ms)
{
    struct metrics_retention r = retention_now(s);
    if (since_ms >= now_ms - (int64_t)r.raw_days * DAY_MS) return RAW;
    if (since_ms >= now_ms - (int64_t)r.minute_days * DAY_MS) return MINUTE;
    return HOURLY;
}

/* A chain name as an SQL literal ('' doubled). */
static void chain_literal(const char *chain, char *out, size_t size)
{
    size_t n = 0;
    out[n++] = '\'';
    for (const char *p = chain; *p && n + 3 < size; p++) {
        if (*p == '\'') out[n++] = '\'';
        out[n++] = *p;
    }
    out[n++] = '\'';
    out[n] = '\0';
}

static double value_at(PGresult *r, int row, int column)
{
    return PQgetisnull(r, row, column) ? NAN : strtod(PQgetvalue(r, row, column), NULL);
}

int metrics_store_series(struct metrics_store *s, const char *chain, int64_t since_ms, int64_t until_ms,
                         int64_t step_ms, int64_t now_ms, struct metrics_series_data *out, struct cohort_error *err)
{
    memset(out, 0, sizeof *out);
    snprintf(out->chain, sizeof out->chain, "%s", chain);
    enum table t = table_for(s, since_ms, now_ms);
    out->resolution = tables[t].resolution;
    if (step_ms > 0 && step_ms < tables[t].bucket_ms) step_ms = tables[t].bucket_ms;
    out->step_ms = step_ms;
    char lit[2 * METRICS_CHAIN_MAX + 4], from[64], until[64];
    chain_literal(chain, lit, sizeof lit);
    timestamp_literal(since_ms, from, sizeof from);
    timestamp_literal(until_ms, until, sizeof until);
    static __thread struct sql q;
    q.len = 0;
    const char *time_expr = "time";
    char bucket[96];
    if (step_ms > 0) {
        snprintf(bucket, sizeof bucket, "date_bin('%lld milliseconds', time, TIMESTAMPTZ 'epoch')", (long long)step_ms);
        time_expr = bucket;
    }
    sql_add(&q, "SELECT (extract(epoch FROM %s) * 1000)::bigint AS t", time_expr);
    for (int i = 0; i < METRICS_NSERIES; i++) {
        const char *n = metrics_series[i].name;
        bool gauge = metrics_series[i].kind == METRICS_GAUGE;
        if (t == RAW && step_ms == 0) sql_add(&q, ", %s", n);
        else if (t == RAW) {
            if (gauge) sql_add(&q, ", avg(%s)", n);
            else sql_add(&q, ", (array_agg(%s ORDER BY time DESC) FILTER (WHERE %s IS NOT NULL))[1]", n, n);
        } else if (step_ms == 0) {
            sql_add(&q, gauge ? ", %s_avg" : ", %s", n);
        } else {
            if (gauge) sql_add(&q, ", sum(%s_avg * samples) / nullif(sum(samples) FILTER (WHERE %s_avg IS NOT NULL), 0)", n, n);
            else sql_add(&q, ", (array_agg(%s ORDER BY time DESC) FILTER (WHERE %s IS NOT NULL))[1]", n, n);
        }
    }
    sql_add(&q, " FROM %s WHERE node_id = %llu AND chain = %s AND time >= %s AND time < %s", tables[t].name,
            (unsigned long long)s->options.node_id, lit, from, until);
    if (step_ms > 0) sql_add(&q, " GROUP BY 1");
    sql_add(&q, " ORDER BY 1 LIMIT 100000");
    pthread_mutex_lock(&s->reader_lock);
    PGresult *r = reader_query(s, q.text, err);
    pthread_mutex_unlock(&s->reader_lock);
    if (r == NULL) return cohort_error_wrap(err, "series of %s", chain);
    int rows = PQntuples(r);
    if (rows > 0) {
        out->times = malloc((size_t)rows * sizeof *out->times);
        out->points = malloc((size_t)rows * sizeof *out->points);
        if (out->times == NULL || out->points == NULL) {
            PQclear(r);
            metrics_series_data_free(out);
            return cohort_error_set(err, METRICS_E_NOMEM, DOMAIN, "out of memory for %d points", rows);
        }
    }
    for (int i = 0; i < rows; i++) {
        out->times[i] = strtoll(PQgetvalue(r, i, 0), NULL, 10);
        for (int k = 0; k < METRICS_NSERIES; k++) out->points[i].values[k] = value_at(r, i, k + 1);
    }
    out->n = (size_t)rows;
    PQclear(r);
    return 0;
}

int metrics_store_chains(struct metrics_store *s, int64_t since_ms, int64_t until_ms, char (*out)[METRICS_CHAIN_MAX],
                         size_t max, size_t *n, struct cohort_error *err)
{
    *n = 0;
    int64_t now = metrics_wall_ms();
    enum table t = table_for(s, since_ms, now);
    char from[64], until[64], sql[400];
    timestamp_literal(since_ms, from, sizeof from);
    timestamp_literal(until_ms, until, sizeof until);
    snprintf(sql, sizeof sql, "SELECT DISTINCT chain FROM %s WHERE node_id = %llu AND time >= %s AND time < %s ORDER BY 1",
             tables[t].name, (unsigned long long)s->options.node_id, from, until);
    pthread_mutex_lock(&s->reader_lock);
    PGresult *r = reader_query(s, sql, err);
    pthread_mutex_unlock(&s->reader_lock);
    if (r == NULL) return cohort_error_wrap(err, "listing chains");
    for (int i = 0; i < PQntuples(r) && *n < max; i++) snprintf(out[(*n)++], METRICS_CHAIN_MAX, "%s", PQgetvalue(r, i, 0));
    PQclear(r);
    return 0;
}

int metrics_store_usage(struct metrics_store *s, const char *chain, int64_t since_ms, int64_t until_ms, int64_t now_ms,
                        struct metrics_usage *out, struct cohort_error *err)
{
    memset(out, 0, sizeof *out);
    snprintf(out->chain, sizeof out->chain, "%s", chain);
    out->since_ms = since_ms;
    out->until_ms = until_ms;
    enum table t = table_for(s, since_ms, now_ms);
    out->resolution = tables[t].resolution;
    char lit[2 * METRICS_CHAIN_MAX + 4], from[64], until[64], filter[2 * METRICS_CHAIN_MAX + 32];
    chain_literal(chain, lit, sizeof lit);
    timestamp_literal(since_ms, from, sizeof from);
    timestamp_literal(until_ms, until, sizeof until);
    static __thread struct sql q;
    q.len = 0;
    if (t == RAW) {
        /* Over the raw rows: one bucket spanning the window, so raw_with's increases are the window's. */
        snprintf(filter, sizeof filter, " AND chain = %s", lit);
        raw_with(&q, s->options.node_id, filter, since_ms, until_ms, INT64_C(1) << 50);
        sql_add(&q, " SELECT (SELECT count(*) FROM base WHERE time >= %s)", from);
        sql_add(&q, ", (SELECT sum(inc) FROM inc_cpu_seconds), (SELECT avg(memory_working_set_bytes) FROM base WHERE time >= %s)", from);
        sql_add(&q, ", (SELECT max(memory_working_set_bytes) FROM base WHERE time >= %s)", from);
        sql_add(&q, ", (SELECT volume_used_bytes FROM base WHERE time >= %s AND volume_used_bytes IS NOT NULL ORDER BY time DESC LIMIT 1)", from);
        sql_add(&q, ", (SELECT max(volume_used_bytes) FROM base WHERE time >= %s)", from);
        sql_add(&q, ", (SELECT sum(inc) FROM inc_network_receive_bytes) + (SELECT sum(inc) FROM inc_network_transmit_bytes)");
        sql_add(&q, ", (SELECT sum(inc) FROM inc_fs_read_bytes) + (SELECT sum(inc) FROM inc_fs_write_bytes)");
        sql_add(&q, ", (SELECT sum(inc) FROM inc_gas_used), (SELECT sum(inc) FROM inc_transactions)");
    } else {
        sql_add(&q, "SELECT sum(samples), sum(cpu_seconds_increase), "
                    "sum(memory_working_set_bytes_avg * samples) / nullif(sum(samples) FILTER (WHERE memory_working_set_bytes_avg IS NOT NULL), 0), "
                    "max(memory_working_set_bytes_max), "
                    "(array_agg(volume_used_bytes_max ORDER BY time DESC) FILTER (WHERE volume_used_bytes_max IS NOT NULL))[1], "
                    "max(volume_used_bytes_max), "
                    "sum(network_receive_bytes_increase) + sum(network_transmit_bytes_increase), "
                    "sum(fs_read_bytes_increase) + sum(fs_write_bytes_increase), sum(gas_used_increase), sum(transactions_increase) "
                    "FROM %s WHERE node_id = %llu AND chain = %s AND time >= %s AND time < %s",
                tables[t].name, (unsigned long long)s->options.node_id, lit, from, until);
    }
    pthread_mutex_lock(&s->reader_lock);
    PGresult *r = reader_query(s, q.text, err);
    pthread_mutex_unlock(&s->reader_lock);
    if (r == NULL) return cohort_error_wrap(err, "usage of %s", chain);
    if (PQntuples(r) != 1 || PQnfields(r) != 10) {
        PQclear(r);
        return cohort_error_set(err, METRICS_E_DATABASE, DOMAIN, "postgresql: usage of %s: unexpected result shape", chain);
    }
    double samples = value_at(r, 0, 0);
    out->samples = isnan(samples) ? 0 : (uint64_t)samples;
    out->cpu_seconds = value_at(r, 0, 1);
    out->memory_average_bytes = value_at(r, 0, 2);
    out->memory_peak_bytes = value_at(r, 0, 3);
    out->disk_bytes = value_at(r, 0, 4);
    out->disk_peak_bytes = value_at(r, 0, 5);
    out->network_bytes = value_at(r, 0, 6);
    out->fs_bytes = value_at(r, 0, 7);
    out->gas_used = value_at(r, 0, 8);
    out->transactions = value_at(r, 0, 9);
    PQclear(r);
    return 0;
}
