/* api.c - the local API's metrics endpoints and the web page (see metrics.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "httpd/httpd.h"
#include "internal.h"

#define DEFAULT_SERIES_WINDOW_MS (3600 * INT64_C(1000))
#define DEFAULT_USAGE_WINDOW_MS (86400 * INT64_C(1000))
#define MAX_POINTS_PER_SERIES 1500 /* without a step, a window is bucketed to about this many points */
#define LOOKBACK_MS (3600 * INT64_C(1000))

/* ---- JSON text ---- */

static void json_string(struct metrics_buf *b, const char *s)
{
    metrics_buf_append(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            char e[2] = {'\\', (char)*p};
            metrics_buf_append(b, e, 2);
        } else if (*p < 0x20) {
            metrics_buf_printf(b, "\\u%04x", *p);
        } else {
            metrics_buf_append(b, (const char *)p, 1);
        }
    }
    metrics_buf_append(b, "\"", 1);
}

/* A number, or null for NaN. */
static void json_number(struct metrics_buf *b, double v)
{
    if (isnan(v) || isinf(v)) metrics_buf_append(b, "null", 4);
    else metrics_buf_number(b, v);
}

static void key(struct metrics_buf *b, const char *k, bool *first)
{
    if (!*first) metrics_buf_append(b, ",", 1);
    *first = false;
    json_string(b, k);
    metrics_buf_append(b, ":", 1);
}

static void kv_string(struct metrics_buf *b, const char *k, const char *v, bool *first)
{
    key(b, k, first);
    json_string(b, v);
}

static void kv_number(struct metrics_buf *b, const char *k, double v, bool *first)
{
    key(b, k, first);
    json_number(b, v);
}

static void kv_bool(struct metrics_buf *b, const char *k, bool v, bool *first)
{
    key(b, k, first);
    metrics_buf_append(b, v ? "true" : "false", v ? 4 : 5);
}

static char *finish(struct metrics_buf *b)
{
    if (b->failed) {
        free(b->data);
        return NULL;
    }
    return b->data ? b->data : strdup("");
}

/* ---- The latest sample ---- */

char *metrics_sample_json(const struct metrics_sample *s) { return metrics_status_json(s, NULL); }

char *metrics_status_json(const struct metrics_sample *s, const struct metrics_settings *settings)
{
    struct metrics_buf b = {0};
    bool f = true;
    metrics_buf_append(&b, "{", 1);
    kv_number(&b, "time_ms", (double)s->time_ms, &f);
    kv_number(&b, "node_id", (double)s->node_id, &f);
    kv_string(&b, "version", COHORT_VERSION, &f);
    kv_number(&b, "sample_seconds", s->sample_seconds, &f);
    kv_number(&b, "sample_cpu_seconds", s->sample_cpu_seconds, &f);
    if (settings) {
        /* The settings in force now, not the sample's: a change shows here at once. */
        key(&b, "metrics", &f);
        bool g = true;
        metrics_buf_append(&b, "{", 1);
        kv_number(&b, "interval_ms", settings->interval_ms, &g);
        kv_number(&b, "memory_hours", settings->memory_hours, &g);
        kv_number(&b, "memory_points", (double)settings->memory_points, &g);
        kv_bool(&b, "database", settings->database, &g);
        key(&b, "retention", &g);
        bool h = true;
        metrics_buf_append(&b, "{", 1);
        kv_number(&b, "raw_days", settings->retention.raw_days, &h);
        kv_number(&b, "minute_days", settings->retention.minute_days, &h);
        kv_number(&b, "hour_days", settings->retention.hour_days, &h);
        metrics_buf_append(&b, "}}", 2);
    }
    const struct metrics_node_input *n = &s->node;
    unsigned used = 0;
    for (size_t i = 0; i < s->nsubnodes; i++) used += s->subnodes[i].in.slots;
    key(&b, "node", &f);
    bool g = true;
    metrics_buf_append(&b, "{", 1);
    kv_number(&b, "slots_total", n->slots_total, &g);
    kv_number(&b, "slots_used", used, &g);
    kv_number(&b, "slots_free", n->slots_total > used ? n->slots_total - used : 0, &g);
    kv_bool(&b, "docker_ok", n->docker_ok, &g);
    kv_string(&b, "docker_error", n->docker_error, &g);
    kv_bool(&b, "manager_configured", n->manager_configured, &g);
    kv_bool(&b, "manager_ok", n->manager_ok, &g);
    kv_string(&b, "manager_error", n->manager_error, &g);
    if (n->manager_head_known) kv_number(&b, "manager_head_block", (double)n->manager_head_block, &g);
    kv_number(&b, "manager_watcher_block", (double)n->manager_watcher_block, &g);
    kv_number(&b, "assignments", (double)n->assignments, &g);
    kv_number(&b, "reconcile_rounds_total", (double)n->reconcile_rounds_total, &g);
    kv_number(&b, "reconcile_actions_total", (double)n->reconcile_actions_total, &g);
    kv_number(&b, "reconcile_failures_total", (double)n->reconcile_failures_total, &g);
    kv_bool(&b, "keystore_configured", n->keystore_configured, &g);
    kv_bool(&b, "keystore_ok", n->keystore_ok, &g);
    kv_bool(&b, "config_store", n->config_store, &g);
    if (n->config_store) {
        kv_bool(&b, "config_store_halted", n->config_store_halted, &g);
        kv_bool(&b, "config_store_leader", n->config_store_leader, &g);
        kv_number(&b, "config_store_members", (double)n->config_store_members, &g);
        kv_number(&b, "config_store_peers_connected", (double)n->config_store_peers_connected, &g);
        kv_number(&b, "config_store_committed_index", (double)n->config_store_committed_index, &g);
    }
    metrics_buf_append(&b, "}", 1);
    if (s->host_ok) {
        key(&b, "host", &f);
        g = true;
        metrics_buf_append(&b, "{", 1);
        kv_number(&b, "cpus", s->host.cpus, &g);
        double busy = 0, all = 0;
        for (int i = 0; i < 8; i++) {
            all += s->host.cpu_seconds[i];
            if (i != 3 && i != 4) busy += s->host.cpu_seconds[i]; /* all but idle and iowait */
        }
        kv_number(&b, "cpu_busy_seconds_total", busy, &g);
        kv_number(&b, "cpu_seconds_total", all, &g);
        kv_number(&b, "load1", s->host.load1, &g);
        kv_number(&b, "memory_total_bytes", (double)s->host.memory_total_bytes, &g);
        kv_number(&b, "memory_available_bytes", (double)s->host.memory_available_bytes, &g);
        kv_number(&b, "disk_total_bytes", (double)s->host.disk_total_bytes, &g);
        kv_number(&b, "disk_available_bytes", (double)s->host.disk_available_bytes, &g);
        metrics_buf_append(&b, "}", 1);
    }
    key(&b, "subnodes", &f);
    metrics_buf_append(&b, "[", 1);
    for (size_t i = 0; i < s->nsubnodes; i++) {
        const struct metrics_subnode_sample *sn = &s->subnodes[i];
        if (i) metrics_buf_append(&b, ",", 1);
        metrics_buf_append(&b, "{", 1);
        g = true;
        kv_string(&b, "chain", sn->in.chain, &g);
        kv_string(&b, "container", sn->in.container, &g);
        kv_string(&b, "state", sn->in.state, &g);
        kv_number(&b, "first_slot", sn->in.first_slot, &g);
        kv_number(&b, "slots", sn->in.slots, &g);
        kv_number(&b, "rpc_port", sn->in.rpc_port, &g);
        kv_bool(&b, "config_current", sn->in.config_current, &g);
        kv_bool(&b, "over_budget", sn->in.over_budget, &g);
        kv_string(&b, "last_error", sn->in.last_error, &g);
        kv_bool(&b, "usage_ok", sn->usage_ok, &g);
        if (!sn->usage_ok) kv_string(&b, "usage_error", sn->usage_error, &g);
        kv_bool(&b, "status_ok", sn->status_ok, &g);
        if (!sn->status_ok) kv_string(&b, "status_error", sn->status_error, &g);
        key(&b, "values", &g);
        struct metrics_point p;
        metrics_point_from_sample(sn, &p);
        metrics_buf_append(&b, "{", 1);
        bool h = true;
        for (int k = 0; k < METRICS_NSERIES; k++) kv_number(&b, metrics_series[k].name, p.values[k], &h);
        metrics_buf_append(&b, "}}", 2);
    }
    metrics_buf_append(&b, "]}", 2);
    return finish(&b);
}

char *metrics_checks_json(const struct metrics_check *checks, size_t n)
{
    struct metrics_buf b = {0};
    bool ok = true;
    for (size_t i = 0; i < n; i++) ok = ok && checks[i].status != METRICS_CHECK_FAIL;
    metrics_buf_printf(&b, "{\"ok\":%s,\"checks\":[", ok ? "true" : "false");
    for (size_t i = 0; i < n; i++) {
        if (i) metrics_buf_append(&b, ",", 1);
        bool f = true;
        metrics_buf_append(&b, "{", 1);
        kv_string(&b, "check", checks[i].name, &f);
        kv_string(&b, "chain", checks[i].chain, &f);
        kv_string(&b, "status", metrics_check_status_name(checks[i].status), &f);
        kv_string(&b, "reason", checks[i].reason, &f);
        metrics_buf_append(&b, "}", 1);
    }
    metrics_buf_append(&b, "]}", 2);
    return finish(&b);
}

/* ---- Handlers ---- */

static void error_answer(struct http_response *out, unsigned status, const char *message)
{
    struct metrics_buf b = {0};
    metrics_buf_append(&b, "{\"error\":", 9);
    json_string(&b, message);
    metrics_buf_append(&b, "}", 1);
    out->status = status;
    out->content_type = "application/json";
    out->body = finish(&b);
}

static bool get_only(const char *method, struct http_response *out)
{
    if (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0) return true;
    error_answer(out, 405, "use GET");
    return false;
}

void metrics_api_prometheus(void *ctx, const char *method, const char *query, const char *body, size_t len,
                            struct http_response *out)
{
    (void)query, (void)body, (void)len;
    if (!get_only(method, out)) return;
    size_t n;
    out->body = metrics_prometheus_text(ctx, &n);
    if (out->body == NULL) {
        error_answer(out, 500, "out of memory rendering the metrics");
        return;
    }
    out->content_type = "text/plain; version=0.0.4; charset=utf-8";
}

void metrics_api_status(void *ctx, const char *method, const char *query, const char *body, size_t len,
                        struct http_response *out)
{
    (void)query, (void)body, (void)len;
    if (!get_only(method, out)) return;
    struct metrics_sample *s = metrics_latest(ctx);
    if (s == NULL) {
        error_answer(out, 503, "no sample taken yet");
        return;
    }
    struct metrics_settings settings;
    metrics_get_settings(ctx, &settings);
    out->body = metrics_status_json(s, &settings);
    free(s);
    if (out->body == NULL) error_answer(out, 500, "out of memory");
}

void metrics_api_health(void *ctx, const char *method, const char *query, const char *body, size_t len,
                        struct http_response *out)
{
    (void)query, (void)body, (void)len;
    if (!get_only(method, out)) return;
    struct metrics_check *checks = malloc(METRICS_MAX_CHECKS * sizeof *checks);
    if (checks == NULL) {
        error_answer(out, 500, "out of memory");
        return;
    }
    size_t n = metrics_latest_checks(ctx, checks, METRICS_MAX_CHECKS);
    bool ok = true;
    for (size_t i = 0; i < n; i++) ok = ok && checks[i].status != METRICS_CHECK_FAIL;
    out->body = metrics_checks_json(checks, n);
    free(checks);
    out->status = ok ? 200 : 503;
    if (out->body == NULL) error_answer(out, 500, "out of memory");
}

/* The chains to answer for: the one asked, or those the ring and the database know in the window. */
static size_t chains_of(struct metrics *m, const struct metrics_query *q, int64_t since, int64_t until,
                        char (*names)[METRICS_CHAIN_MAX])
{
    if (q->chain[0]) {
        strcpy(names[0], q->chain);
        return 1;
    }
    size_t n = metrics_ring_chains(metrics_get_ring(m), names, METRICS_MAX_CHAINS);
    struct metrics_store *store = metrics_get_store(m);
    if (store) {
        static __thread char more[METRICS_MAX_CHAINS][METRICS_CHAIN_MAX];
        size_t nmore = 0;
        if (metrics_store_chains(store, since, until, more, METRICS_MAX_CHAINS, &nmore, NULL) == 0)
            for (size_t i = 0; i < nmore && n < METRICS_MAX_CHAINS; i++) {
                bool seen = false;
                for (size_t k = 0; k < n && !seen; k++) seen = strcmp(names[k], more[i]) == 0;
                if (!seen) strcpy(names[n++], more[i]);
            }
    }
    /* In name order, so the page and the CLI list chains the same way each time. */
    for (size_t i = 1; i < n; i++)
        for (size_t k = i; k > 0 && strcmp(names[k - 1], names[k]) > 0; k--) {
            char t[METRICS_CHAIN_MAX];
            strcpy(t, names[k]);
            strcpy(names[k], names[k - 1]);
            strcpy(names[k - 1], t);
        }
    return n;
}

static void series_json(struct metrics_buf *b, const struct metrics_series_data *d)
{
    bool f = true;
    metrics_buf_append(b, "{", 1);
    kv_string(b, "chain", d->chain, &f);
    kv_string(b, "resolution", d->resolution, &f);
    kv_number(b, "step_ms", (double)d->step_ms, &f);
    key(b, "times", &f);
    metrics_buf_append(b, "[", 1);
    for (size_t i = 0; i < d->n; i++) {
        if (i) metrics_buf_append(b, ",", 1);
        metrics_buf_number(b, (double)d->times[i]);
    }
    metrics_buf_append(b, "]", 1);
    key(b, "series", &f);
    metrics_buf_append(b, "{", 1);
    for (int k = 0; k < METRICS_NSERIES; k++) {
        if (k) metrics_buf_append(b, ",", 1);
        json_string(b, metrics_series[k].name);
        metrics_buf_append(b, ":[", 2);
        for (size_t i = 0; i < d->n; i++) {
            if (i) metrics_buf_append(b, ",", 1);
            json_number(b, d->points[i].values[k]);
        }
        metrics_buf_append(b, "]", 1);
    }
    metrics_buf_append(b, "}}", 2);
}

void metrics_api_series(void *ctx, const char *method, const char *query, const char *body, size_t len,
                        struct http_response *out)
{
    (void)body, (void)len;
    if (!get_only(method, out)) return;
    struct metrics *m = ctx;
    int64_t now = metrics_wall_ms();
    struct metrics_query q;
    struct cohort_error err = {0};
    if (metrics_parse_query(query, now, &q, &err) < 0) {
        error_answer(out, 400, err.message);
        return;
    }
    int64_t until = q.has_until ? q.until_ms : now + 1;
    int64_t since = q.has_since ? q.since_ms : until - DEFAULT_SERIES_WINDOW_MS;
    int64_t step = q.has_step ? q.step_ms : 0;
    if (!q.has_step && (until - since) / MAX_POINTS_PER_SERIES > 0) {
        /* Few enough points for a chart; raw samples when the window is short. */
        step = (until - since) / MAX_POINTS_PER_SERIES;
        if (step < 1000) step = 0;
    }
    if (q.has_step && step < 1000) {
        error_answer(out, 400, "step: at least 1s");
        return;
    }
    char (*names)[METRICS_CHAIN_MAX] = malloc(METRICS_MAX_CHAINS * sizeof *names);
    if (names == NULL) {
        error_answer(out, 500, "out of memory");
        return;
    }
    size_t nchains = chains_of(m, &q, since, until, names);
    struct metrics_store *store = metrics_get_store(m);
    struct metrics_buf b = {0};
    char warning[METRICS_REASON_MAX] = "";
    bool from_store = store != NULL;
    size_t total = 0;
    metrics_buf_printf(&b, "{\"since\":%lld,\"until\":%lld,\"step_ms\":%lld,\"chains\":[", (long long)since,
                       (long long)until, (long long)step);
    for (size_t i = 0; i < nchains; i++) {
        struct metrics_series_data d = {0};
        int rc = -1;
        if (from_store) {
            rc = metrics_store_series(store, names[i], since, until, step, now, &d, &err);
            if (rc < 0) {
                /* The database is away: what the memory holds, said so. */
                snprintf(warning, sizeof warning, "%.400s; answered from memory", err.message);
                from_store = false;
            }
        }
        if (rc < 0) {
            int64_t *times = NULL;
            struct metrics_point *points = NULL;
            size_t n = 0;
            if (metrics_ring_range(metrics_get_ring(m), names[i], since, until, &times, &points, &n, &err) == 0)
                rc = metrics_downsample(times, points, n, step, &d, &err);
            free(times);
            free(points);
            snprintf(d.chain, sizeof d.chain, "%s", names[i]);
            d.resolution = "memory";
        }
        if (rc < 0) {
            free(b.data);
            free(names);
            error_answer(out, 500, err.message);
            return;
        }
        if (i) metrics_buf_append(&b, ",", 1);
        series_json(&b, &d);
        total += d.n;
        metrics_series_data_free(&d);
    }
    metrics_buf_append(&b, "]", 1);
    bool f = false;
    kv_string(&b, "source", from_store ? "postgresql" : "memory", &f);
    if (warning[0]) kv_string(&b, "warning", warning, &f);
    metrics_buf_append(&b, "}", 1);
    free(names);
    if (q.chain[0] && total == 0) {
        free(b.data);
        char message[200];
        snprintf(message, sizeof message, "no samples of chain '%s' in that window", q.chain);
        error_answer(out, 404, message);
        return;
    }
    out->body = finish(&b);
    if (out->body == NULL) error_answer(out, 500, "out of memory");
}

static void usage_json(struct metrics_buf *b, const struct metrics_usage *u)
{
    bool f = true;
    metrics_buf_append(b, "{", 1);
    kv_string(b, "chain", u->chain, &f);
    kv_string(b, "resolution", u->resolution ? u->resolution : "memory", &f);
    kv_number(b, "samples", (double)u->samples, &f);
    kv_number(b, "cpu_seconds", u->cpu_seconds, &f);
    kv_number(b, "memory_average_bytes", u->memory_average_bytes, &f);
    kv_number(b, "memory_peak_bytes", u->memory_peak_bytes, &f);
    kv_number(b, "disk_bytes", u->disk_bytes, &f);
    kv_number(b, "disk_peak_bytes", u->disk_peak_bytes, &f);
    kv_number(b, "network_bytes", u->network_bytes, &f);
    kv_number(b, "fs_bytes", u->fs_bytes, &f);
    kv_number(b, "gas_used", u->gas_used, &f);
    kv_number(b, "transactions", u->transactions, &f);
    metrics_buf_append(b, "}", 1);
}

void metrics_api_usage(void *ctx, const char *method, const char *query, const char *body, size_t len,
                       struct http_response *out)
{
    (void)body, (void)len;
    if (!get_only(method, out)) return;
    struct metrics *m = ctx;
    int64_t now = metrics_wall_ms();
    struct metrics_query q;
    struct cohort_error err = {0};
    if (metrics_parse_query(query, now, &q, &err) < 0) {
        error_answer(out, 400, err.message);
        return;
    }
    if (q.has_step) {
        error_answer(out, 400, "step: usage takes chain, since and until");
        return;
    }
    int64_t until = q.has_until ? q.until_ms : now + 1;
    int64_t since = q.has_since ? q.since_ms : until - DEFAULT_USAGE_WINDOW_MS;
    char (*names)[METRICS_CHAIN_MAX] = malloc(METRICS_MAX_CHAINS * sizeof *names);
    if (names == NULL) {
        error_answer(out, 500, "out of memory");
        return;
    }
    size_t nchains = chains_of(m, &q, since, until, names);
    struct metrics_store *store = metrics_get_store(m);
    bool from_store = store != NULL;
    char warning[METRICS_REASON_MAX] = "";
    struct metrics_buf b = {0};
    metrics_buf_printf(&b, "{\"since\":%lld,\"until\":%lld,\"chains\":[", (long long)since, (long long)until);
    size_t with_samples = 0;
    for (size_t i = 0; i < nchains; i++) {
        struct metrics_usage u = {0};
        int rc = -1;
        if (from_store) {
            rc = metrics_store_usage(store, names[i], since, until, now, &u, &err);
            if (rc < 0) {
                snprintf(warning, sizeof warning, "%.400s; answered from memory", err.message);
                from_store = false;
            }
        }
        if (rc < 0) {
            int64_t *times = NULL;
            struct metrics_point *points = NULL;
            size_t n = 0;
            memset(&u, 0, sizeof u);
            metrics_ring_range(metrics_get_ring(m), names[i], since - LOOKBACK_MS, until, &times, &points, &n, NULL);
            metrics_usage_from_points(times, points, n, since, &u);
            free(times);
            free(points);
            snprintf(u.chain, sizeof u.chain, "%s", names[i]);
            u.resolution = "memory";
        }
        with_samples += u.samples > 0;
        if (i) metrics_buf_append(&b, ",", 1);
        usage_json(&b, &u);
    }
    metrics_buf_append(&b, "]", 1);
    bool f = false;
    kv_string(&b, "source", from_store ? "postgresql" : "memory", &f);
    if (warning[0]) kv_string(&b, "warning", warning, &f);
    metrics_buf_append(&b, "}", 1);
    free(names);
    if (q.chain[0] && with_samples == 0) {
        free(b.data);
        char m2[200];
        snprintf(m2, sizeof m2, "no samples of chain '%s' in that window", q.chain);
        error_answer(out, 404, m2);
        return;
    }
    out->body = finish(&b);
    if (out->body == NULL) error_answer(out, 500, "out of memory");
}

void metrics_api_page(void *ctx, const char *method, const char *query, const char *body, size_t len,
                      struct http_response *out)
{
    (void)ctx, (void)query, (void)body, (void)len;
    if (!get_only(method, out)) return;
    out->body = strdup(metrics_web_page);
    out->content_type = "text/html; charset=utf-8";
    if (out->body == NULL) error_answer(out, 500, "out of memory");
}
