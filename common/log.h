/*
 * log.h - structured logging to stderr: one line per event, logfmt style.
 *
 *     2026-11-23T07:21:10.123Z level=info msg="container started" chain=c7 slot=3
 *
 * The message is quoted; fields are key=value pairs the caller formats (values holding a
 * space or a quote should go through log_quote()). Lines are written with one write(2)
 * so concurrent threads do not interleave within a line. Messages below the current
 * level are dropped before formatting.
 */
#ifndef COHORT_COMMON_LOG_H
#define COHORT_COMMON_LOG_H

#include <stddef.h>

enum log_level { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERROR = 3, LOG_OFF = 4 };

/* Sets the lowest level that is written. Default LOG_INFO. Thread-safe (atomic). */
void log_set_level(enum log_level level);
enum log_level log_get_level(void);

/* Parses "debug", "info", "warn", "error" or "off"; returns 0, or -1 for anything else. */
int log_parse_level(const char *name, enum log_level *out);

/* Redirects output to fd (default 2). */
void log_set_fd(int fd);

/*
 * Writes one line: timestamp, level, msg (quoted) and, if fields_fmt is not NULL, the
 * printf-formatted fields. Lines longer than 4 KiB are truncated, ending in "...".
 */
void log_write(enum log_level level, const char *msg, const char *fields_fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Writes into out (of size out_size) a logfmt-safe rendering of value: unchanged when it
 * has no space, quote, '=' or control character, otherwise in double quotes with '"', '\\'
 * and control characters escaped. Returns out.
 */
const char *log_quote(const char *value, char *out, size_t out_size);

#define log_debug(...) log_write(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_write(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_write(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_write(LOG_ERROR, __VA_ARGS__)

#endif
