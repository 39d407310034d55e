/*
 * cmd_metrics.c - `cohort status|health|metrics|usage`: the node's metrics through the local
 * cohort-core's API (metrics/metrics.h): the latest sample, the health checks, series over
 * time (a table, and a small text chart per series on a terminal) and per-chain metering.
 * With --json each prints the API's document as it came.
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd_common.h"
#include "commands.h"

#define DEFAULT_API "http://127.0.0.1:9100"
#define TIMEOUT_MS 15000L
#define CHART_WIDTH 48

/* GETs path; returns the parsed object (and *status), or NULL with the message printed and *code set.
   accept_503: a 503 carrying JSON is an answer (the health of an unhealthy node). */
static cJSON *get(struct cli_globals *g, const char *api, const char *path, bool accept_503, long *status, int *code)
{
    char url[1400];
    snprintf(url, sizeof url, "%s%s", api, path);
    char *text = api_call(url, NULL, TIMEOUT_MS, g, status, code);
    if (text == NULL) return NULL;
    cJSON *o = cJSON_Parse(text);
    free(text);
    const cJSON *error = cJSON_GetObjectItemCaseSensitive(o, "error");
    if (*status == 404 && !cJSON_IsString(error)) {
        *code = cli_fail(g, COHORT_EXIT_FAILURE, "cohort-core at %s has no %s: is it older than the metrics?", api, path);
    } else if (!cJSON_IsObject(o)) {
        *code = cli_fail(g, COHORT_EXIT_FAILURE, "cohort-core's answer from %s is not a JSON object (HTTP %ld)", url, *status);
    } else if (cJSON_IsString(error)) {
        *code = cli_fail(g, *status == 503 ? COHORT_EXIT_UNAVAILABLE : COHORT_EXIT_FAILURE, "%s (HTTP %ld)", error->valuestring,
                         *status);
    } else if (*status != 200 && !(accept_503 && *status == 503)) {
        *code = cli_fail(g, COHORT_EXIT_FAILURE, "cohort-core answered HTTP %ld for %s", *status, url);
    } else {
        return o;
    }
    cJSON_Delete(o);
    return NULL;
}

static double num(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static const char *str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Formats v with a unit for people: bytes as KiB/MiB/GiB, others plain. NULL (a "-" cell) for NaN. */
static const char *fmt_bytes(double v, char *buf, size_t size)
{
    if (isnan(v)) return NULL;
    const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (fabs(v) >= 1024 && u < 4) {
        v /= 1024;
        u++;
    }
    snprintf(buf, size, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
    return buf;
}

/* v with the given decimals, or NULL (a "-" cell) for NaN. */
static const char *fmt_number(double v, int decimals, char *buf, size_t size)
{
    if (isnan(v)) return NULL;
    snprintf(buf, size, "%.*f", decimals, v);
    return buf;
}

/* Percent-encodes a value for a query string. */
static void encode(const char *in, char *out, size_t size)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)in; *p && n + 4 < size; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' ||
            *p == '.' || *p == '~')
            out[n++] = (char)*p;
        else
            n += (size_t)snprintf(out + n, size - n, "%%%02X", *p);
    }
    out[n] = '\0';
}

/* ---- cohort status ---- */

int cmd_status(const struct cli_command *self, int argc, char **argv, struct cli_globals *g)
{
    (void)self;
    const char *api = DEFAULT_API;
    const struct cli_flag flags[] = {{.name = "api", .takes_value = true, .value = &api}, {.name = NULL}};
    int rc = cli_parse_flags(argc, argv, flags, NULL, 0, NULL, g);
    if (rc != 0) return rc;
    long status;
    cJSON *o = get(g, api, "/api/v1/status", false, &status, &rc);
    if (o == NULL) return rc;
    if (g->json) {
        print_json(g, o);
        cJSON_Delete(o);
        return COHORT_EXIT_OK;
    }
    const cJSON *node = cJSON_GetObjectItemCaseSensitive(o, "node");
    const cJSON *host = cJSON_GetObjectItemCaseSensitive(o, "host");
    char a[64], b[64], c[64], d[64];
    fprintf(g->out, "node %.0f  cohort %s  sampled in %.1f ms\n", num(o, "node_id"), str(o, "version") ? str(o, "version") : "?",
            num(o, "sample_seconds") * 1000);
    fprintf(g->out, "slots     %.0f used, %.0f free of %.0f\n", num(node, "slots_used"), num(node, "slots_free"),
            num(node, "slots_total"));
    const char *docker_error = str(node, "docker_error");
    fprintf(g->out, "dockerd   %s\n", cJSON_IsTrue(cJSON_GetObjectItem(node, "docker_ok")) ? "ok" : (docker_error ? docker_error : "down"));
    if (cJSON_IsTrue(cJSON_GetObjectItem(node, "manager_configured"))) {
        const char *manager_error = str(node, "manager_error");
        double head = num(node, "manager_head_block"), watcher = num(node, "manager_watcher_block");
        if (cJSON_IsTrue(cJSON_GetObjectItem(node, "manager_ok")))
            fprintf(g->out, "manager   head %.0f, watcher at %.0f (%.0f behind), %.0f chains assigned\n", head, watcher,
                    isnan(head) ? 0 : head - watcher, num(node, "assignments"));
        else
            fprintf(g->out, "manager   %s\n", manager_error && manager_error[0] ? manager_error : "not answering");
    } else {
        fprintf(g->out, "manager   not configured\n");
    }
    if (cJSON_IsTrue(cJSON_GetObjectItem(node, "config_store")))
        fprintf(g->out, "config    %s, %.0f of %.0f peers, committed index %.0f\n",
                cJSON_IsTrue(cJSON_GetObjectItem(node, "config_store_halted")) ? "HALTED (WAL failed)"
                : cJSON_IsTrue(cJSON_GetObjectItem(node, "config_store_leader")) ? "leader" : "member",
                num(node, "config_store_peers_connected"), num(node, "config_store_members") - 1,
                num(node, "config_store_committed_index"));
    fprintf(g->out, "reconcile %.0f rounds, %.0f actions, %.0f failed\n", num(node, "reconcile_rounds_total"),
            num(node, "reconcile_actions_total"), num(node, "reconcile_failures_total"));
    if (cJSON_IsObject(host))
        fprintf(g->out, "host      %.0f CPUs, load %.2f, memory %s available of %s, disk %s free of %s\n", num(host, "cpus"),
                num(host, "load1"), fmt_bytes(num(host, "memory_available_bytes"), a, sizeof a),
                fmt_bytes(num(host, "memory_total_bytes"), b, sizeof b), fmt_bytes(num(host, "disk_available_bytes"), c, sizeof c),
                fmt_bytes(num(host, "disk_total_bytes"), d, sizeof d));
    fprintf(g->out, "\n");
    const char *columns[] = {"chain", "state", "slots", "cpu_s", "memory", "limit", "disk", "height", "peers", "restarts", "status"};
    struct cli_table *t = cli_table_new(11, columns);
    for (size_t i = 2; i < 10; i++) cli_table_set_numeric(t, i);
    const cJSON *s;
    cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(o, "subnodes"))
    {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(s, "values");
        char slots[16], cpu[32], mem[32], limit[32], disk[32], height[32], peers[32], restarts[32];
        const char *status_text = cJSON_IsTrue(cJSON_GetObjectItem(s, "status_ok")) ? "ok" : str(s, "status_error");
        const char *row[11] = {
            str(s, "chain"), str(s, "state"), fmt_number(num(s, "slots"), 0, slots, sizeof slots),
            fmt_number(num(v, "cpu_seconds"), 1, cpu, sizeof cpu),
            fmt_bytes(num(v, "memory_working_set_bytes"), mem, sizeof mem),
            fmt_bytes(num(v, "memory_limit_bytes"), limit, sizeof limit), fmt_bytes(num(v, "volume_used_bytes"), disk, sizeof disk),
            fmt_number(num(v, "height"), 0, height, sizeof height),
            fmt_number(num(v, "peers_connected"), 0, peers, sizeof peers),
            fmt_number(num(v, "restarts"), 0, restarts, sizeof restarts), status_text};
        cli_table_add_row(t, row);
    }
    cli_table_print(t, g);
    cli_table_free(t);
    cJSON_Delete(o);
    return COHORT_EXIT_OK;
}

/* ---- cohort health ---- */

int cmd_health(const struct cli_command *self, int argc, char **argv, struct cli_globals *g)
{
    (void)self;
    const char *api = DEFAULT_API;
    const struct cli_flag flags[] = {{.name = "api", .takes_value = true, .value = &api}, {.name = NULL}};
    int rc = cli_parse_flags(argc, argv, flags, NULL, 0, NULL, g);
    if (rc != 0) return rc;
    long status;
    cJSON *o = get(g, api, "/api/v1/health", true, &status, &rc);
    if (o == NULL) return rc;
    bool ok = cJSON_IsTrue(cJSON_GetObjectItem(o, "ok"));
    if (g->json) {
        print_json(g, o);
    } else {
        const char *columns[] = {"check", "chain", "status", "reason"};
        struct cli_table *t = cli_table_new(4, columns);
        const cJSON *c;
        unsigned failed = 0;
        cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(o, "checks"))
        {
            const char *chain = str(c, "chain");
            const char *row[4] = {str(c, "check"), chain && chain[0] ? chain : NULL, str(c, "status"), str(c, "reason")};
            failed += row[2] && strcmp(row[2], "fail") == 0;
            cli_table_add_row(t, row);
        }
        cli_table_print(t, g);
        cli_table_free(t);
        if (failed) fprintf(g->err, "cohort: %u health check%s failed\n", failed, failed == 1 ? "" : "s");
    }
    cJSON_Delete(o);
    return ok ? COHORT_EXIT_OK : COHORT_EXIT_FAILURE;
}

/* ---- cohort metrics ---- */

/* One line of block characters for values (NaN: a space), scaled between their min and max. */
static void sparkline(FILE *out, const double *values, size_t n)
{
    static const char *blocks[8] = {"\u2581", "\u2582", "\u2583", "\u2584", "\u2585", "\u2586", "\u2587", "\u2588"};
    double lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < n; i++)
        if (!isnan(values[i])) {
            if (values[i] < lo) lo = values[i];
            if (values[i] > hi) hi = values[i];
        }
    for (size_t i = 0; i < n; i++) {
        if (isnan(values[i])) fputc(' ', out);
        else {
            int level = hi > lo ? (int)((values[i] - lo) / (hi - lo) * 7.0 + 0.5) : 0;
            fputs(blocks[level < 0 ? 0 : level > 7 ? 7 : level], out);
        }
    }
}

/* The values of series key of a chain object, as doubles (NaN for null); *n set. Caller frees. */
static double *values_of(const cJSON *chain, const char *key, size_t *n)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(chain, "series"), key);
    *n = (size_t)cJSON_GetArraySize(a);
    double *v = calloc(*n ? *n : 1, sizeof *v);
    size_t i = 0;
    const cJSON *x;
    cJSON_ArrayForEach(x, a) v[i++] = cJSON_IsNumber(x) ? x->valuedouble : NAN;
    return v;
}

/* A counter's rate per second between consecutive points (resets count the new value), NaN where unknown. */
static double *rates_of(const cJSON *chain, const char *key, size_t *n)
{
    double *v = values_of(chain, key, n);
    const cJSON *times = cJSON_GetObjectItemCaseSensitive(chain, "times");
    double *r = calloc(*n ? *n : 1, sizeof *r);
    double prev = NAN, prev_t = NAN;
    for (size_t i = 0; i < *n; i++) {
        double t = cJSON_GetArrayItem(times, (int)i)->valuedouble;
        r[i] = NAN;
        if (!isnan(v[i]) && !isnan(prev) && t > prev_t) r[i] = (v[i] >= prev ? v[i] - prev : v[i]) / ((t - prev_t) / 1000.0);
        if (!isnan(v[i])) {
            prev = v[i];
            prev_t = t;
        }
    }
    free(v);
    return r;
}

/* Resamples n values to width columns (the last value of each column's span). */
static void resample(const double *in, size_t n, double *out, size_t width)
{
    for (size_t c = 0; c < width; c++) {
        out[c] = NAN;
        size_t from = c * n / width, to = (c + 1) * n / width;
        for (size_t i = from; i < to && i < n; i++)
            if (!isnan(in[i])) out[c] = in[i];
    }
}

static double last_of(const double *v, size_t n)
{
    for (size_t i = n; i > 0; i--)
        if (!isnan(v[i - 1])) return v[i - 1];
    return NAN;
}

static double mean_of(const double *v, size_t n)
{
    double sum = 0;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (!isnan(v[i])) {
            sum += v[i];
            k++;
        }
    return k ? sum / (double)k : NAN;
}

int cmd_metrics(const struct cli_command *self, int argc, char **argv, struct cli_globals *g)
{
    (void)self;
    const char *api = DEFAULT_API, *chain = NULL, *since = "1h", *until = NULL, *step = NULL;
    bool chart = false, no_chart = false;
    const struct cli_flag flags[] = {{.name = "api", .takes_value = true, .value = &api},
                                     {.name = "chain", .takes_value = true, .value = &chain},
                                     {.name = "since", .takes_value = true, .value = &since},
                                     {.name = "until", .takes_value = true, .value = &until},
                                     {.name = "step", .takes_value = true, .value = &step},
                                     {.name = "chart", .present = &chart},
                                     {.name = "no-chart", .present = &no_chart},
                                     {.name = NULL}};
    int rc = cli_parse_flags(argc, argv, flags, NULL, 0, NULL, g);
    if (rc != 0) return rc;
    char path[1024], enc[200];
    int n = snprintf(path, sizeof path, "/api/v1/metrics?");
    encode(since, enc, sizeof enc);
    n += snprintf(path + n, sizeof path - (size_t)n, "since=%s", enc);
    if (chain) {
        encode(chain, enc, sizeof enc);
        n += snprintf(path + n, sizeof path - (size_t)n, "&chain=%s", enc);
    }
    if (until) {
        encode(until, enc, sizeof enc);
        n += snprintf(path + n, sizeof path - (size_t)n, "&until=%s", enc);
    }
    if (step) {
        encode(step, enc, sizeof enc);
        snprintf(path + n, sizeof path - (size_t)n, "&step=%s", enc);
    }
    long status;
    cJSON *o = get(g, api, path, false, &status, &rc);
    if (o == NULL) return rc;
    if (g->json) {
        print_json(g, o);
        cJSON_Delete(o);
        return COHORT_EXIT_OK;
    }
    const char *columns[] = {"chain", "points", "cpu_percent", "memory", "disk", "height", "tx_per_s", "resolution"};
    struct cli_table *t = cli_table_new(8, columns);
    for (size_t i = 1; i < 7; i++) cli_table_set_numeric(t, i);
    const cJSON *c;
    size_t nchains = 0;
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(o, "chains"))
    {
        size_t np;
        double *cpu = rates_of(c, "cpu_seconds", &np), *tx = rates_of(c, "transactions", &np);
        double *mem = values_of(c, "memory_working_set_bytes", &np), *disk = values_of(c, "volume_used_bytes", &np);
        double *height = values_of(c, "height", &np);
        char points[24], cpu_text[32], mem_text[32], disk_text[32], height_text[32], tx_text[32];
        const char *row[8] = {str(c, "chain"), fmt_number((double)np, 0, points, sizeof points),
                              fmt_number(mean_of(cpu, np) * 100, 2, cpu_text, sizeof cpu_text),
                              fmt_bytes(last_of(mem, np), mem_text, sizeof mem_text),
                              fmt_bytes(last_of(disk, np), disk_text, sizeof disk_text),
                              fmt_number(last_of(height, np), 0, height_text, sizeof height_text),
                              fmt_number(mean_of(tx, np), 2, tx_text, sizeof tx_text), str(c, "resolution")};
        cli_table_add_row(t, row);
        free(cpu);
        free(tx);
        free(mem);
        free(disk);
        free(height);
        nchains++;
    }
    cli_table_print(t, g);
    cli_table_free(t);
    const char *warning = str(o, "warning");
    if (warning) fprintf(g->err, "cohort: %s\n", warning);
    /* Charts: on a terminal (or --chart), one line per series per chain. */
    if ((chart || isatty(fileno(g->out))) && !no_chart) {
        static const struct {
            const char *label, *key;
            bool rate;
        } charts[] = {{"cpu /s", "cpu_seconds", true},        {"memory", "memory_working_set_bytes", false},
                      {"disk", "volume_used_bytes", false},    {"height", "height", false},
                      {"tx /s", "transactions", true}};
        cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(o, "chains"))
        {
            fprintf(g->out, "\n%s (since %s)\n", str(c, "chain"), since);
            for (size_t k = 0; k < sizeof charts / sizeof charts[0]; k++) {
                size_t np;
                double *v = charts[k].rate ? rates_of(c, charts[k].key, &np) : values_of(c, charts[k].key, &np);
                double cols[CHART_WIDTH];
                size_t width = np < CHART_WIDTH ? np : CHART_WIDTH;
                resample(v, np, cols, width);
                fprintf(g->out, "  %-7s ", charts[k].label);
                if (isnan(last_of(v, np))) fprintf(g->out, "(not reported)");
                else sparkline(g->out, cols, width);
                fprintf(g->out, "\n");
                free(v);
            }
        }
    }
    cJSON_Delete(o);
    if (chain && nchains == 0) return cli_fail(g, COHORT_EXIT_FAILURE, "no such chain: %s", chain);
    return COHORT_EXIT_OK;
}

/* ---- cohort usage ---- */

int cmd_usage(const struct cli_command *self, int argc, char **argv, struct cli_globals *g)
{
    (void)self;
    const char *api = DEFAULT_API, *chain = NULL, *since = "24h", *until = NULL;
    const struct cli_flag flags[] = {{.name = "api", .takes_value = true, .value = &api},
                                     {.name = "chain", .takes_value = true, .value = &chain},
                                     {.name = "since", .takes_value = true, .value = &since},
                                     {.name = "until", .takes_value = true, .value = &until},
                                     {.name = NULL}};
    int rc = cli_parse_flags(argc, argv, flags, NULL, 0, NULL, g);
    if (rc != 0) return rc;
    char path[1024], enc[200];
    int n = snprintf(path, sizeof path, "/api/v1/usage?");
    encode(since, enc, sizeof enc);
    n += snprintf(path + n, sizeof path - (size_t)n, "since=%s", enc);
    if (chain) {
        encode(chain, enc, sizeof enc);
        n += snprintf(path + n, sizeof path - (size_t)n, "&chain=%s", enc);
    }
    if (until) {
        encode(until, enc, sizeof enc);
        snprintf(path + n, sizeof path - (size_t)n, "&until=%s", enc);
    }
    long status;
    cJSON *o = get(g, api, path, false, &status, &rc);
    if (o == NULL) return rc;
    if (g->json) {
        print_json(g, o);
        cJSON_Delete(o);
        return COHORT_EXIT_OK;
    }
    const char *columns[] = {"chain", "samples", "cpu_seconds", "memory_avg", "memory_peak", "disk", "network", "block_io",
                             "gas_used", "transactions", "from"};
    struct cli_table *t = cli_table_new(11, columns);
    for (size_t i = 1; i < 10; i++) cli_table_set_numeric(t, i);
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(o, "chains"))
    {
        char samples[24], cpu[32], avg[32], peak[32], disk[32], net[32], io[32], gas[32], tx[32];
        const char *row[11] = {str(c, "chain"), fmt_number(num(c, "samples"), 0, samples, sizeof samples),
                               fmt_number(num(c, "cpu_seconds"), 2, cpu, sizeof cpu),
                               fmt_bytes(num(c, "memory_average_bytes"), avg, sizeof avg),
                               fmt_bytes(num(c, "memory_peak_bytes"), peak, sizeof peak),
                               fmt_bytes(num(c, "disk_bytes"), disk, sizeof disk),
                               fmt_bytes(num(c, "network_bytes"), net, sizeof net),
                               fmt_bytes(num(c, "fs_bytes"), io, sizeof io),
                               fmt_number(num(c, "gas_used"), 0, gas, sizeof gas),
                               fmt_number(num(c, "transactions"), 0, tx, sizeof tx), str(c, "resolution")};
        cli_table_add_row(t, row);
    }
    cli_table_print(t, g);
    cli_table_free(t);
    const char *warning = str(o, "warning");
    if (warning) fprintf(g->err, "cohort: %s\n", warning);
    cJSON_Delete(o);
    return COHORT_EXIT_OK;
}
