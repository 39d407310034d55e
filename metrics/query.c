/* query.c - the local API's query strings: chain, since, until, step (see metrics.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

#define VALUE_MAX 128

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Percent-decodes [s, end) into out (size VALUE_MAX); '+' is a space. False when malformed or too long. */
static bool decode(const char *s, const char *end, char *out)
{
    size_t n = 0;
    while (s < end) {
        char c = *s++;
        if (c == '%') {
            if (end - s < 2) return false;
            int hi = hex_digit(s[0]), lo = hex_digit(s[1]);
            if (hi < 0 || lo < 0) return false;
            c = (char)(hi * 16 + lo);
            s += 2;
            if (c == '\0') return false;
        } else if (c == '+') {
            c = ' ';
        }
        if (n + 1 >= VALUE_MAX) return false;
        out[n++] = c;
    }
    out[n] = '\0';
    return true;
}

int metrics_parse_duration(const char *text, int64_t *ms, struct cohort_error *err)
{
    const char *p = text;
    if (*p < '0' || *p > '9') return cohort_error_set(err, METRICS_E_MALFORMED, DOMAIN, "'%.40s' is not a duration (10s, 5m, 24h, 7d)", text);
    int64_t v = 0;
    while (*p >= '0' && *p <= '9') {
        if (v > (INT64_MAX / 1000 / 86400 - 9) / 10)
            return cohort_error_set(err, METRICS_E_MALFORMED, DOMAIN, "duration '%.40s' is too long", text);
        v = v * 10 + (*p++ - '0');
    }
    int64_t unit;
    if (strcmp(p, "ms") == 0) unit = 1;
    else if (strcmp(p, "s") == 0 || *p == '\0') unit = 1000;
    else if (strcmp(p, "m") == 0) unit = 60 * 1000;
    else if (strcmp(p, "h") == 0) unit = 3600 * 1000;
    else if (strcmp(p, "d") == 0) unit = 86400 * 1000;
    else return cohort_error_set(err, METRICS_E_MALFORMED, DOMAIN, "'%.40s': unknown unit (ms, s, m, h, d)", text);
    *ms = v * unit;
    return 0;
}

/* "2026-12-04T10:00:00Z" or with ".123" and "Z" or "+00:00". */
static bool parse_rfc3339(const char *s, int64_t *ms)
{
    int year, month, day, hour, minute, second, used = 0;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &year, &month, &day, &hour, &minute, &second, &used) != 6 || used != 19)
        return false;
    if (year < 1970 || year > 9999 || month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 ||
        second > 60)
        return false;
    const char *p = s + used;
    int64_t frac_ms = 0;
    if (*p == '.') {
        p++;
        int digits = 0;
        while (*p >= '0' && *p <= '9') {
            if (digits < 3) frac_ms = frac_ms * 10 + (*p - '0');
            digits++;
            p++;
        }
        if (digits == 0) return false;
        for (; digits < 3; digits++) frac_ms *= 10;
    }
    if (strcmp(p, "Z") != 0 && strcmp(p, "+00:00") != 0) return false;
    struct tm tm = {.tm_year = year - 1900, .tm_mon = month - 1, .tm_mday = day, .tm_hour = hour, .tm_min = minute,
                    .tm_sec = second};
    time_t t = timegm(&tm);
    if (t == (time_t)-1) return false;
    *ms = (int64_t)t * 1000 + frac_ms;
    return true;
}

/* A point in time: a duration before now, UNIX seconds or ms, or RFC 3339. */
static int parse_time(const char *key, const char *text, int64_t now_ms, int64_t *out, struct cohort_error *err)
{
    if (strcmp(text, "now") == 0) {
        *out = now_ms;
        return 0;
    }
    size_t digits = strspn(text, "0123456789");
    if (digits > 0 && text[digits] == '\0') {
        if (digits > 16) return cohort_error_set(err, METRICS_E_MALFORMED, DOMAIN, "%s: '%s' is too large", key, text);
        int64_t v = strtoll(text, NULL, 10);
        *out = digits > 12 ? v : v * 1000; /* 13 digits or more: milliseconds */
        return 0;
    }
    if (parse_rfc3339(text, out)) return 0;
    int64_t ago;
    if (metrics_parse_duration(text, &ago, NULL) == 0) {
        *out = now_ms - ago;
        return 0;
    }
    return cohort_error_set(err, METRICS_E_MALFORMED, DOMAIN,
                            "%s: '%.60s' is neither a duration before now (1h), UNIX seconds nor RFC 3339 time", key, text);
}

int metrics_parse_query(const char *query, int64_t now_ms, struct metrics_query *out, struct cohort_error *err)
{
    memset(out, 0, sizeof *out);
    if (query == NULL) return 0;
    size_t len = strlen(query);
    if (len > METRICS_QUERY_MAX_BYTES)
        return cohort_error_set(err, METRICS_E_TOO_LARGE, DOMAIN, "query of %zu bytes; at most %u", len, METRICS_QUERY_MAX_BYTES);
    const char *s = query, *end = query + len;
    while (s < end) {
        const char *amp = memchr(s, '&', (size_t)(end - s));
        const char *pair_end = amp ? amp : end;
        if (pair_end == s) {
            s = pair_end + 1;
            continue;
        }
        const char *eq = memchr(s, '=', (size_t)(pair_end - s));
        char key[VALUE_MAX], value[VALUE_MAX];
        if (!decode(s, eq ? eq : pair_end, key) || !decode(eq ? eq + 1 : pair_end, pair_end, value))
            return cohort_error_set(err, METRICS_E_MALFORMED, DOMAIN, "query: a malformed or too long parameter");
        int rc = 0;
        if (strcmp(key, "chain") == 0) {
            if (strlen(value) >= sizeof out->chain)
                return cohort_error_set(err, METRICS_E_MALFORMED, DOMAIN, "chain: a name of at most %d bytes",
                                        METRICS_CHAIN_MAX - 1);
            strcpy(out->chain, value);
        } else if (strcmp(key, "since") == 0) {
            rc = parse_time("since", value, now_ms, &out->since_ms, err);
            out->has_since = rc == 0;
        } else if (strcmp(key, "until") == 0) {
            rc = parse_time("until", value, now_ms, &out->until_ms, err);
            out->has_until = rc == 0;
        } else if (strcmp(key, "step") == 0) {
            rc = metrics_parse_duration(value, &out->step_ms, err);
            if (rc < 0) cohort_error_wrap(err, "step");
            out->has_step = rc == 0;
        } else {
            return cohort_error_set(err, METRICS_E_MALFORMED, DOMAIN, "unknown query parameter '%s' (chain, since, until, step)",
                                    key);
        }
        if (rc < 0) return rc;
        s = pair_end + 1;
    }
    if (out->has_since && out->has_until && out->until_ms < out->since_ms)
        return cohort_error_set(err, METRICS_E_MALFORMED, DOMAIN, "until is before since");
    return 0;
}
