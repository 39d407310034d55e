/* log.c - logfmt lines to stderr with one write(2) each. */
#include "log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LINE_MAX_BYTES 4096

static _Atomic int current_level = LOG_INFO;
static _Atomic int current_fd = 2;

static const char *const level_names[] = {"debug", "info", "warn", "error", "off"};
_Static_assert(sizeof level_names / sizeof level_names[0] == LOG_OFF + 1, "one name per level");

void log_set_level(enum log_level level) { atomic_store(&current_level, (int)level); }
enum log_level log_get_level(void) { return (enum log_level)atomic_load(&current_level); }
void log_set_fd(int fd) { atomic_store(&current_fd, fd); }

int log_parse_level(const char *name, enum log_level *out)
{
    for (int i = 0; i <= LOG_OFF; i++) {
        if (strcmp(name, level_names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    return -1;
}

const char *log_quote(const char *value, char *out, size_t out_size)
{
    if (out_size == 0) return out;
    int plain = value[0] != '\0';
    for (const char *p = value; *p; p++)
        if (*p == ' ' || *p == '"' || *p == '=' || *p == '\\' || (unsigned char)*p < 0x20) plain = 0;
    if (plain) {
        snprintf(out, out_size, "%s", value);
        return out;
    }
    size_t n = 0;
    out[n++] = '"';
    for (const char *p = value; *p && n + 4 < out_size; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"' || c == '\\') {
            out[n++] = '\\';
            out[n++] = (char)c;
        } else if (c == '\n') {
            out[n++] = '\\';
            out[n++] = 'n';
        } else if (c < 0x20) {
            out[n++] = '?';
        } else {
            out[n++] = (char)c;
        }
    }
    if (n < out_size - 1) out[n++] = '"';
    out[n] = '\0';
    return out;
}

void log_write(enum log_level level, const char *msg, const char *fields_fmt, ...)
{
    if ((int)level < atomic_load(&current_level) || level >= LOG_OFF) return;

    char line[LINE_MAX_BYTES];
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct tm tm;
    gmtime_r(&now.tv_sec, &tm);
    size_t n = strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%S", &tm);
    char quoted[1024];
    n += (size_t)snprintf(line + n, sizeof line - n, ".%03ldZ level=%s msg=%s", now.tv_nsec / 1000000L,
                          level_names[level], log_quote(msg, quoted, sizeof quoted));
    if (fields_fmt != NULL && n < sizeof line - 1) {
        line[n++] = ' ';
        va_list ap;
        va_start(ap, fields_fmt);
        int w = vsnprintf(line + n, sizeof line - n, fields_fmt, ap);
        va_end(ap);
        if (w > 0) n += (size_t)w;
    }
    if (n >= sizeof line - 1) {
        n = sizeof line - 1;
        memcpy(line + n - 4, "...", 3);
        n -= 1;
    }
    line[n++] = '\n';
    ssize_t unused = write(atomic_load(&current_fd), line, n);
    (void)unused;
}
