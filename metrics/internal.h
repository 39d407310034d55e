/* internal.h - helpers the metrics library's files share; not part of its API. */
#ifndef COHORT_METRICS_INTERNAL_H
#define COHORT_METRICS_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "metrics.h"

#define DOMAIN "metrics"
#define METRICS_FILE_MAX_BYTES (64u * 1024) /* the cap on any cgroup or /proc file read */

/*
 * Reads the file at path into buf (of size cap, NUL-terminated, so at most cap - 1 bytes).
 * METRICS_E_NOT_FOUND when it does not exist, METRICS_E_IO on other errors,
 * METRICS_E_TOO_LARGE when it holds cap - 1 bytes or more.
 */
int metrics_read_file(const char *path, char *buf, size_t cap, size_t *len, struct cohort_error *err);

/* Retention (store_pg.c): fills the days left 0 with the defaults (2, 30, 365); checks the
   bounds of metrics.h (METRICS_E_INVALID naming the field that is wrong and its range). */
void metrics_retention_defaults(struct metrics_retention *r);
int metrics_retention_check(const struct metrics_retention *r, struct cohort_error *err);

/* Wall clock and monotonic clock, in ms. */
int64_t metrics_wall_ms(void);
int64_t metrics_monotonic_ms(void);

/* A growing text buffer for renderers: appends stop (and `failed` is set) on allocation failure. */
struct metrics_buf {
    char *data;
    size_t len, cap;
    int failed;
};
void metrics_buf_printf(struct metrics_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void metrics_buf_append(struct metrics_buf *b, const char *text, size_t len);
/* A double as Prometheus and JSON expect it: integers without a fraction, others with %.17g. */
void metrics_buf_number(struct metrics_buf *b, double v);

#endif
