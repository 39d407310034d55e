/* host.c - the host's CPU, memory, load and disk, from /proc and statvfs (as node_exporter reads them). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "internal.h"

static const char *next_line(const char *s, const char *end)
{
    const char *nl = memchr(s, '\n', (size_t)(end - s));
    return nl ? nl + 1 : end;
}

int metrics_parse_proc_stat(const char *text, size_t len, double ticks_per_second, double seconds[8],
                            struct cohort_error *err)
{
    /* "cpu  user nice system idle iowait irq softirq steal guest guest_nice" in ticks. */
    if (len < 4 || memcmp(text, "cpu ", 4) != 0 || ticks_per_second <= 0)
        return cohort_error_set(err, METRICS_E_MALFORMED, DOMAIN, "/proc/stat does not start with a 'cpu ' line");
    const char *p = text + 4, *end = next_line(text, text + len);
    for (int i = 0; i < 8; i++) {
        while (p < end && *p == ' ') p++;
        if (p >= end || *p < '0' || *p > '9') {
            if (i >= 4) { /* very old kernels stop after idle/iowait */
                for (; i < 8; i++) seconds[i] = 0;
                return 0;
            }
            return cohort_error_set(err, METRICS_E_MALFORMED, DOMAIN, "/proc/stat: the cpu line has %d numbers", i);
        }
        unsigned long long v = 0;
        while (p < end && *p >= '0' && *p <= '9') {
            unsigned d = (unsigned)(*p - '0');
            if (v > (~0ULL - d) / 10) return cohort_error_set(err, METRICS_E_MALFORMED, DOMAIN, "/proc/stat: overflow");
            v = v * 10 + d;
            p++;
        }
        seconds[i] = (double)v / ticks_per_second;
    }
    return 0;
}

/* The value in kB of a "Key:   123 kB" line of meminfo, in bytes. */
static bool meminfo_value(const char *text, const char *end, const char *key, uint64_t *out)
{
    size_t klen = strlen(key);
    for (const char *s = text; s < end; s = next_line(s, end)) {
        if ((size_t)(end - s) > klen && memcmp(s, key, klen) == 0 && s[klen] == ':') {
            const char *p = s + klen + 1;
            while (p < end && *p == ' ') p++;
            uint64_t v = 0;
            if (p >= end || *p < '0' || *p > '9') return false;
            while (p < end && *p >= '0' && *p <= '9') {
                unsigned d = (unsigned)(*p - '0');
                if (v > (UINT64_MAX / 1024 - d) / 10) return false;
                v = v * 10 + d;
                p++;
            }
            *out = v * 1024;
            return true;
        }
    }
    return false;
}

int metrics_parse_meminfo(const char *text, size_t len, uint64_t *total, uint64_t *available, struct cohort_error *err)
{
    if (!meminfo_value(text, text + len, "MemTotal", total))
        return cohort_error_set(err, METRICS_E_MALFORMED, DOMAIN, "meminfo: no MemTotal");
    if (!meminfo_value(text, text + len, "MemAvailable", available))
        return cohort_error_set(err, METRICS_E_MALFORMED, DOMAIN, "meminfo: no MemAvailable");
    return 0;
}

int metrics_host_read(const char *proc_root, const char *disk_path, struct metrics_host *out, struct cohort_error *err)
{
    memset(out, 0, sizeof *out);
    if (proc_root == NULL) proc_root = "/proc";
    char path[300], buf[8192];
    size_t len;
    int rc;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    out->cpus = cpus > 0 ? (unsigned)cpus : 1;
    /* Only the first line of /proc/stat is needed: read a prefix (the file grows with CPUs). */
    snprintf(path, sizeof path, "%s/stat", proc_root);
    FILE *f = fopen(path, "r");
    if (f == NULL) return cohort_error_errno(err, METRICS_E_IO, DOMAIN, errno, "open %s", path);
    len = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[len] = '\0';
    long ticks = sysconf(_SC_CLK_TCK);
    if ((rc = metrics_parse_proc_stat(buf, len, ticks > 0 ? (double)ticks : 100.0, out->cpu_seconds, err)) < 0)
        return rc;
    snprintf(path, sizeof path, "%s/meminfo", proc_root);
    if ((rc = metrics_read_file(path, buf, sizeof buf, &len, err)) < 0) return rc;
    if ((rc = metrics_parse_meminfo(buf, len, &out->memory_total_bytes, &out->memory_available_bytes, err)) < 0)
        return rc;
    snprintf(path, sizeof path, "%s/loadavg", proc_root);
    if (metrics_read_file(path, buf, sizeof buf, &len, NULL) == 0) out->load1 = strtod(buf, NULL);
    struct statvfs fs;
    if (disk_path && statvfs(disk_path, &fs) == 0) {
        out->disk_total_bytes = (uint64_t)fs.f_blocks * fs.f_frsize;
        out->disk_available_bytes = (uint64_t)fs.f_bavail * fs.f_frsize;
    }
    return 0;
}
