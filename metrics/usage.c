/* usage.c - bucketing series and metering a window from raw points (see metrics.h). */
#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

void metrics_series_data_free(struct metrics_series_data *s)
{
    free(s->times);
    free(s->points);
    s->times = NULL;
    s->points = NULL;
    s->n = 0;
}

/* The start of the bucket that holds t (floor, also for negative t). */
static int64_t bucket_of(int64_t t, int64_t step)
{
    int64_t b = t / step * step;
    return b > t ? b - step : b;
}

int metrics_downsample(const int64_t *times, const struct metrics_point *points, size_t n, int64_t step_ms,
                       struct metrics_series_data *out, struct cohort_error *err)
{
    out->n = 0;
    out->times = NULL;
    out->points = NULL;
    out->step_ms = step_ms > 0 ? step_ms : 0;
    if (n == 0) return 0;
    out->times = malloc(n * sizeof *out->times);
    out->points = malloc(n * sizeof *out->points);
    if (out->times == NULL || out->points == NULL) {
        metrics_series_data_free(out);
        return cohort_error_set(err, METRICS_E_NOMEM, DOMAIN, "out of memory bucketing %zu points", n);
    }
    if (step_ms <= 0) {
        memcpy(out->times, times, n * sizeof *times);
        memcpy(out->points, points, n * sizeof *points);
        out->n = n;
        return 0;
    }
    size_t i = 0;
    while (i < n) {
        int64_t bucket = bucket_of(times[i], step_ms);
        double sum[METRICS_NSERIES] = {0};
        unsigned count[METRICS_NSERIES] = {0};
        struct metrics_point *o = &out->points[out->n];
        metrics_point_clear(o);
        for (; i < n && bucket_of(times[i], step_ms) == bucket; i++) {
            for (int s = 0; s < METRICS_NSERIES; s++) {
                double v = points[i].values[s];
                if (isnan(v)) continue;
                if (metrics_series[s].kind == METRICS_COUNTER) o->values[s] = v; /* the last one */
                else {
                    sum[s] += v;
                    count[s]++;
                }
            }
        }
        for (int s = 0; s < METRICS_NSERIES; s++)
            if (metrics_series[s].kind == METRICS_GAUGE && count[s] > 0) o->values[s] = sum[s] / count[s];
        out->times[out->n++] = bucket;
    }
    return 0;
}

double metrics_counter_increase(const int64_t *times, const struct metrics_point *points, size_t n, int64_t since_ms,
                                enum metrics_series_id id)
{
    double total = 0, previous = NAN;
    bool any = false;
    for (size_t i = 0; i < n; i++) {
        double v = points[i].values[id];
        if (isnan(v)) continue;
        if (times[i] >= since_ms) {
            any = true;
            /* A drop is a reset (the container was replaced): what was counted since is v. */
            if (!isnan(previous)) total += v >= previous ? v - previous : v;
        }
        previous = v;
    }
    return any ? total : NAN;
}

void metrics_usage_from_points(const int64_t *times, const struct metrics_point *points, size_t n, int64_t since_ms,
                               struct metrics_usage *out)
{
    out->cpu_seconds = metrics_counter_increase(times, points, n, since_ms, METRICS_cpu_seconds);
    double rx = metrics_counter_increase(times, points, n, since_ms, METRICS_network_receive_bytes);
    double tx = metrics_counter_increase(times, points, n, since_ms, METRICS_network_transmit_bytes);
    out->network_bytes = rx + tx; /* NaN when not measured, as SQL's NULL + NULL */
    double fr = metrics_counter_increase(times, points, n, since_ms, METRICS_fs_read_bytes);
    double fw = metrics_counter_increase(times, points, n, since_ms, METRICS_fs_write_bytes);
    out->fs_bytes = fr + fw;
    out->gas_used = metrics_counter_increase(times, points, n, since_ms, METRICS_gas_used);
    out->transactions = metrics_counter_increase(times, points, n, since_ms, METRICS_transactions);
    double sum = 0, peak = NAN, disk = NAN, disk_peak = NAN;
    unsigned count = 0;
    out->samples = 0;
    for (size_t i = 0; i < n; i++) {
        if (times[i] < since_ms) continue;
        out->samples++;
        const double *v = points[i].values;
        double ws = v[METRICS_memory_working_set_bytes];
        if (!isnan(ws)) {
            sum += ws;
            count++;
            if (isnan(peak) || ws > peak) peak = ws;
        }
        double d = v[METRICS_volume_used_bytes];
        if (!isnan(d)) {
            disk = d;
            if (isnan(disk_peak) || d > disk_peak) disk_peak = d;
        }
    }
    out->memory_average_bytes = count ? sum / count : NAN;
    out->memory_peak_bytes = peak;
    out->disk_bytes = disk;
    out->disk_peak_bytes = disk_peak;
}
