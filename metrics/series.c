/* series.c - the per-chain series table (METRICS_SERIES), points, and shared helpers. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

const struct metrics_series_info metrics_series[METRICS_NSERIES] = {
#define METRICS_X_INFO(name, kind, unit, help) {#name, METRICS_##kind, unit, help},
    METRICS_SERIES(METRICS_X_INFO)
#undef METRICS_X_INFO
};

_Static_assert(sizeof metrics_series / sizeof metrics_series[0] == METRICS_NSERIES, "one entry per series");

enum metrics_series_id metrics_series_find(const char *name)
{
    for (int i = 0; i < METRICS_NSERIES; i++)
        if (strcmp(metrics_series[i].name, name) == 0) return (enum metrics_series_id)i;
    return METRICS_NSERIES;
}

void metrics_point_clear(struct metrics_point *p)
{
    for (int i = 0; i < METRICS_NSERIES; i++) p->values[i] = NAN;
}

const char *metrics_strerror(int code)
{
    switch (code) {
    case METRICS_OK: return "ok";
    case METRICS_E_INVALID: return "invalid argument";
    case METRICS_E_MALFORMED: return "malformed input";
    case METRICS_E_IO: return "I/O error";
    case METRICS_E_NOMEM: return "out of memory";
    case METRICS_E_DATABASE: return "database error";
    case METRICS_E_UNAVAILABLE: return "unavailable";
    case METRICS_E_TOO_LARGE: return "too large";
    case METRICS_E_NOT_FOUND: return "not found";
    default: return "unknown metrics error";
    }
}

int metrics_read_file(const char *path, char *buf, size_t cap, size_t *len, struct cohort_error *err)
{
    *len = 0;
    buf[0] = '\0';
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return cohort_error_set(err, METRICS_E_NOT_FOUND, DOMAIN, "%s does not exist", path);
        return cohort_error_errno(err, METRICS_E_IO, DOMAIN, errno, "open %s", path);
    }
    size_t got = 0;
    for (;;) {
        if (got == cap - 1) {
            close(fd);
            return cohort_error_set(err, METRICS_E_TOO_LARGE, DOMAIN, "%s is larger than %zu bytes", path, cap - 1);
        }
        ssize_t n = read(fd, buf + got, cap - 1 - got);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            int e = errno;
            close(fd);
            return cohort_error_errno(err, METRICS_E_IO, DOMAIN, e, "read %s", path);
        }
        if (n == 0) break;
        got += (size_t)n;
    }
    close(fd);
    buf[got] = '\0';
    *len = got;
    return 0;
}

int64_t metrics_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t metrics_monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void reserve(struct metrics_buf *b, size_t more)
{
    if (b->failed || b->len + more + 1 <= b->cap) return;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + more + 1) cap *= 2;
    char *grown = realloc(b->data, cap);
    if (grown == NULL) {
        b->failed = 1;
        return;
    }
    b->data = grown;
    b->cap = cap;
}

void metrics_buf_append(struct metrics_buf *b, const char *text, size_t len)
{
    reserve(b, len);
    if (b->failed) return;
    memcpy(b->data + b->len, text, len);
    b->len += len;
    b->data[b->len] = '\0';
}

void metrics_buf_printf(struct metrics_buf *b, const char *fmt, ...)
{
    char small[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = 1;
        return;
    }
    if ((size_t)n < sizeof small) {
        metrics_buf_append(b, small, (size_t)n);
        return;
    }
    reserve(b, (size_t)n);
    if (b->failed) return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void metrics_buf_number(struct metrics_buf *b, double v)
{
    char text[40];
    int n;
    if (isnan(v)) n = snprintf(text, sizeof text, "NaN");
    else if (isinf(v)) n = snprintf(text, sizeof text, v > 0 ? "+Inf" : "-Inf");
    else if (v == floor(v) && fabs(v) < 9.007199254740992e15) n = snprintf(text, sizeof text, "%.0f", v);
    else {
        /* The shortest of 15 or 17 digits that reads back the same. */
        n = snprintf(text, sizeof text, "%.15g", v);
        if (strtod(text, NULL) != v) n = snprintf(text, sizeof text, "%.17g", v);
    }
    metrics_buf_append(b, text, (size_t)n);
}

void metrics_point_from_sample(const struct metrics_subnode_sample *s, struct metrics_point *out)
{
    metrics_point_clear(out);
    double *v = out->values;
    const struct metrics_container_usage *u = &s->usage;
    if (s->usage_ok) {
        v[METRICS_cpu_seconds] = (double)u->cpu_ns / 1e9;
        v[METRICS_memory_working_set_bytes] = (double)u->memory_working_set_bytes;
        v[METRICS_memory_usage_bytes] = (double)u->memory_usage_bytes;
        if (u->has_memory_peak) v[METRICS_memory_peak_bytes] = (double)u->memory_peak_bytes;
        if (u->memory_limit_bytes) v[METRICS_memory_limit_bytes] = (double)u->memory_limit_bytes;
        v[METRICS_pids] = (double)u->pids;
        if (u->has_network) {
            v[METRICS_network_receive_bytes] = (double)u->network_rx_bytes;
            v[METRICS_network_transmit_bytes] = (double)u->network_tx_bytes;
        }
        v[METRICS_fs_read_bytes] = (double)u->block_read_bytes;
        v[METRICS_fs_write_bytes] = (double)u->block_write_bytes;
    }
    v[METRICS_restarts] = (double)s->in.restarts;
    v[METRICS_volume_used_bytes] = (double)s->in.volume_used_bytes;
    if (s->in.volume_budget_bytes) v[METRICS_volume_budget_bytes] = (double)s->in.volume_budget_bytes;
    v[METRICS_running] = strcmp(s->in.state, "running") == 0;
    v[METRICS_rpc_up] = s->status_ok;
    if (s->status_ok) {
        const struct metrics_subnode_status *st = &s->status;
        if (st->present & METRICS_CHAIN_HEIGHT) v[METRICS_height] = (double)st->height;
        if (st->present & METRICS_CHAIN_LAST_BLOCK_TIMESTAMP)
            v[METRICS_last_block_timestamp_seconds] = (double)st->last_block_timestamp_ms / 1000.0;
        if (st->present & METRICS_CHAIN_GAS_USED) v[METRICS_gas_used] = (double)st->gas_used_total;
        if (st->present & METRICS_CHAIN_TRANSACTIONS) v[METRICS_transactions] = (double)st->transactions_total;
        if (st->present & METRICS_CHAIN_TXPOOL_PENDING) v[METRICS_txpool_pending] = (double)st->txpool_pending;
        if (st->present & METRICS_CHAIN_TXPOOL_QUEUED) v[METRICS_txpool_queued] = (double)st->txpool_queued;
        if (st->present & METRICS_CHAIN_PEERS) v[METRICS_peers_connected] = (double)st->peers_connected;
        if (st->present & METRICS_CHAIN_VIEW) v[METRICS_consensus_view] = (double)st->view;
    }
}
