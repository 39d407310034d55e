/* cgroup.c - a container's usage from its cgroup files, v1 or v2 (see metrics.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "internal.h"

/* ---- Parsers: bounded, no allocation, text need not be NUL-terminated ---- */

/* Parses an unsigned decimal at *p (before end); advances *p. False when there is none or it overflows. */
static bool parse_u64(const char **p, const char *end, uint64_t *out)
{
    const char *s = *p;
    uint64_t v = 0;
    if (s >= end || *s < '0' || *s > '9') return false;
    while (s < end && *s >= '0' && *s <= '9') {
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10) return false;
        v = v * 10 + d;
        s++;
    }
    *p = s;
    *out = v;
    return true;
}

static const char *skip_spaces(const char *s, const char *end)
{
    while (s < end && (*s == ' ' || *s == '\t')) s++;
    return s;
}

static const char *line_end(const char *s, const char *end)
{
    const char *nl = memchr(s, '\n', (size_t)(end - s));
    return nl ? nl : end;
}

int metrics_parse_number(const char *text, size_t len, uint64_t *value, struct cohort_error *err)
{
    const char *s = text, *end = text + len;
    while (end > s && (end[-1] == '\n' || end[-1] == ' ')) end--;
    if ((size_t)(end - s) == 3 && memcmp(s, "max", 3) == 0) {
        *value = 0;
        return 0;
    }
    if (!parse_u64(&s, end, value) || s != end)
        return cohort_error_set(err, METRICS_E_MALFORMED, DOMAIN, "not a number: '%.*s'", (int)(len < 40 ? len : 40), text);
    return 0;
}

int metrics_parse_keyed(const char *text, size_t len, const char *key, uint64_t *value, struct cohort_error *err)
{
    size_t klen = strlen(key);
    const char *s = text, *end = text + len;
    while (s < end) {
        const char *eol = line_end(s, end);
        if ((size_t)(eol - s) > klen && memcmp(s, key, klen) == 0 && (s[klen] == ' ' || s[klen] == '\t')) {
            const char *v = skip_spaces(s + klen, eol);
            if (!parse_u64(&v, eol, value) || skip_spaces(v, eol) != eol)
                return cohort_error_set(err, METRICS_E_MALFORMED, DOMAIN, "the value of %s is not a number", key);
            return 0;
        }
        s = eol + 1;
    }
    return cohort_error_set(err, METRICS_E_NOT_FOUND, DOMAIN, "no %s line", key);
}

int metrics_parse_blkio_v1(const char *text, size_t len, uint64_t *read, uint64_t *write, struct cohort_error *err)
{
    /* "8:0 Read 4096\n8:0 Write 0\n...\nTotal 4096": per device and operation; the last line
       is the total of all operations, which we do not need. */
    uint64_t r = 0, w = 0;
    const char *s = text, *end = text + len;
    while (s < end) {
        const char *eol = line_end(s, end);
        const char *p = s;
        uint64_t major, minor, n;
        if (eol > s && parse_u64(&p, eol, &major) && p < eol && *p == ':' && (p++, parse_u64(&p, eol, &minor))) {
            p = skip_spaces(p, eol);
            const char *op = p;
            while (p < eol && *p != ' ') p++;
            size_t oplen = (size_t)(p - op);
            p = skip_spaces(p, eol);
            if (!parse_u64(&p, eol, &n) || skip_spaces(p, eol) != eol)
                return cohort_error_set(err, METRICS_E_MALFORMED, DOMAIN, "blkio: a device line without a count");
            if (oplen == 4 && memcmp(op, "Read", 4) == 0) {
                if (r > UINT64_MAX - n) return cohort_error_set(err, METRICS_E_MALFORMED, DOMAIN, "blkio: read bytes overflow");
                r += n;
            } else if (oplen == 5 && memcmp(op, "Write", 5) == 0) {
                if (w > UINT64_MAX - n) return cohort_error_set(err, METRICS_E_MALFORMED, DOMAIN, "blkio: write bytes overflow");
                w += n;
            }
        } else if (eol > s && !(eol - s >= 5 && memcmp(s, "Total", 5) == 0)) {
            return cohort_error_set(err, METRICS_E_MALFORMED, DOMAIN, "blkio: a line that is neither a device nor Total");
        }
        s = eol + 1;
    }
    *read = r;
    *write = w;
    return 0;
}

int metrics_parse_io_stat(const char *text, size_t len, uint64_t *read, uint64_t *write, struct cohort_error *err)
{
    /* "259:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0" per device. */
    uint64_t r = 0, w = 0;
    const char *s = text, *end = text + len;
    while (s < end) {
        const char *eol = line_end(s, end);
        const char *p = s;
        uint64_t major, minor;
        if (eol == s) {
            s = eol + 1;
            continue;
        }
        if (!parse_u64(&p, eol, &major) || p >= eol || *p != ':' || (p++, !parse_u64(&p, eol, &minor)))
            return cohort_error_set(err, METRICS_E_MALFORMED, DOMAIN, "io.stat: a line without MAJ:MIN");
        while ((p = skip_spaces(p, eol)) < eol) {
            const char *key = p;
            while (p < eol && *p != '=' && *p != ' ') p++;
            if (p >= eol || *p != '=') return cohort_error_set(err, METRICS_E_MALFORMED, DOMAIN, "io.stat: a field without '='");
            size_t klen = (size_t)(p - key);
            p++;
            uint64_t n;
            if (!parse_u64(&p, eol, &n)) return cohort_error_set(err, METRICS_E_MALFORMED, DOMAIN, "io.stat: a field without a number");
            if (klen == 6 && memcmp(key, "rbytes", 6) == 0) {
                if (r > UINT64_MAX - n) return cohort_error_set(err, METRICS_E_MALFORMED, DOMAIN, "io.stat: overflow");
                r += n;
            } else if (klen == 6 && memcmp(key, "wbytes", 6) == 0) {
                if (w > UINT64_MAX - n) return cohort_error_set(err, METRICS_E_MALFORMED, DOMAIN, "io.stat: overflow");
                w += n;
            }
        }
        s = eol + 1;
    }
    *read = r;
    *write = w;
    return 0;
}

int metrics_parse_net_dev(const char *text, size_t len, uint64_t *rx, uint64_t *tx, struct cohort_error *err)
{
    /* Two header lines, then "  eth0: RXBYTES packets errs drop fifo frame compressed
       multicast TXBYTES ...": the 1st and 9th numbers after the colon. */
    uint64_t r = 0, t = 0;
    const char *s = text, *end = text + len;
    while (s < end) {
        const char *eol = line_end(s, end);
        const char *colon = memchr(s, ':', (size_t)(eol - s));
        if (colon != NULL && memchr(s, '|', (size_t)(eol - s)) == NULL) {
            const char *name = skip_spaces(s, colon);
            bool loopback = colon - name == 2 && memcmp(name, "lo", 2) == 0;
            const char *p = colon + 1;
            uint64_t fields[9];
            for (int i = 0; i < 9; i++) {
                p = skip_spaces(p, eol);
                if (!parse_u64(&p, eol, &fields[i]))
                    return cohort_error_set(err, METRICS_E_MALFORMED, DOMAIN, "net/dev: an interface line with too few numbers");
            }
            if (!loopback) {
                if (r > UINT64_MAX - fields[0] || t > UINT64_MAX - fields[8])
                    return cohort_error_set(err, METRICS_E_MALFORMED, DOMAIN, "net/dev: overflow");
                r += fields[0];
                t += fields[8];
            }
        }
        s = eol + 1;
    }
    *rx = r;
    *tx = t;
    return 0;
}

/* ---- Reading ---- */

int metrics_cgroup_open(struct metrics_cgroup *cg, const char *root, const char *proc_root, struct cohort_error *err)
{
    memset(cg, 0, sizeof *cg);
    snprintf(cg->root, sizeof cg->root, "%s", root ? root : "/sys/fs/cgroup");
    snprintf(cg->proc_root, sizeof cg->proc_root, "%s", proc_root ? proc_root : "/proc");
    char path[300];
    struct stat st;
    snprintf(path, sizeof path, "%s/cgroup.controllers", cg->root);
    if (stat(path, &st) == 0) {
        cg->version = METRICS_CGROUP_V2;
        return 0;
    }
    snprintf(path, sizeof path, "%s/memory", cg->root);
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        cg->version = METRICS_CGROUP_V1;
        return 0;
    }
    return cohort_error_set(err, METRICS_E_NOT_FOUND, DOMAIN,
                            "no cgroup hierarchy at %s (neither cgroup.controllers nor memory/): subnode usage cannot be read",
                            cg->root);
}

static bool valid_id(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n > 64) return false;
    for (size_t i = 0; i < n; i++)
        if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f'))) return false;
    return true;
}

/* The container's folder under base (a controller's folder in v1, the root in v2), or false. */
static bool container_dir(const char *base, const char *id, char *out, size_t size)
{
    struct stat st;
    snprintf(out, size, "%s/docker/%s", base, id);
    if (stat(out, &st) == 0) return true;
    snprintf(out, size, "%s/system.slice/docker-%s.scope", base, id);
    return stat(out, &st) == 0;
}

struct reader {
    char buf[METRICS_FILE_MAX_BYTES];
    size_t len;
};

/* Reads dir/name into r. */
static int read_in(struct reader *r, const char *dir, const char *name, struct cohort_error *err)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return metrics_read_file(path, r->buf, sizeof r->buf, &r->len, err);
}

static int read_number(struct reader *r, const char *dir, const char *name, uint64_t *value, struct cohort_error *err)
{
    int rc = read_in(r, dir, name, err);
    if (rc == 0) rc = metrics_parse_number(r->buf, r->len, value, err);
    if (rc < 0) cohort_error_wrap(err, "%s/%s", dir, name);
    return rc;
}

static int read_keyed(struct reader *r, const char *dir, const char *name, const char *key, uint64_t *value,
                      struct cohort_error *err)
{
    int rc = read_in(r, dir, name, err);
    if (rc == 0) rc = metrics_parse_keyed(r->buf, r->len, key, value, err);
    if (rc < 0) cohort_error_wrap(err, "%s/%s", dir, name);
    return rc;
}

/* Network bytes of the container's own namespace, through its first process (see metrics.h). */
static void read_network(const struct metrics_cgroup *cg, struct reader *r, const char *procs_dir,
                         struct metrics_container_usage *out)
{
    uint64_t pid;
    const char *p = r->buf;
    if (read_in(r, procs_dir, "cgroup.procs", NULL) < 0) return;
    p = r->buf;
    if (!parse_u64(&p, r->buf + r->len, &pid) || pid == 0) return;
    char path[600], host_ns[600];
    struct stat mine, host;
    snprintf(path, sizeof path, "%s/%llu/ns/net", cg->proc_root, (unsigned long long)pid);
    snprintf(host_ns, sizeof host_ns, "%s/1/ns/net", cg->proc_root);
    if (stat(path, &mine) != 0 || stat(host_ns, &host) != 0) return;
    if (mine.st_ino == host.st_ino && mine.st_dev == host.st_dev) return; /* the host's network: nothing of its own */
    snprintf(path, sizeof path, "%s/%llu/net/dev", cg->proc_root, (unsigned long long)pid);
    if (metrics_read_file(path, r->buf, sizeof r->buf, &r->len, NULL) < 0) return;
    if (metrics_parse_net_dev(r->buf, r->len, &out->network_rx_bytes, &out->network_tx_bytes, NULL) == 0)
        out->has_network = true;
}

static int read_v1(const struct metrics_cgroup *cg, struct reader *r, const char *id, struct metrics_container_usage *out,
                   struct cohort_error *err)
{
    char dir[400], base[300];
    int rc;
    snprintf(base, sizeof base, "%s/cpuacct", cg->root);
    if (!container_dir(base, id, dir, sizeof dir))
        return cohort_error_set(err, METRICS_E_NOT_FOUND, DOMAIN, "container %.12s has no cgroup under %s", id, base);
    if ((rc = read_number(r, dir, "cpuacct.usage", &out->cpu_ns, err)) < 0) return rc;

    snprintf(base, sizeof base, "%s/memory", cg->root);
    if (!container_dir(base, id, dir, sizeof dir))
        return cohort_error_set(err, METRICS_E_NOT_FOUND, DOMAIN, "container %.12s has no cgroup under %s", id, base);
    if ((rc = read_number(r, dir, "memory.usage_in_bytes", &out->memory_usage_bytes, err)) < 0) return rc;
    if ((rc = read_number(r, dir, "memory.max_usage_in_bytes", &out->memory_peak_bytes, err)) < 0) return rc;
    out->has_memory_peak = true;
    if ((rc = read_number(r, dir, "memory.limit_in_bytes", &out->memory_limit_bytes, err)) < 0) return rc;
    /* v1 says "no limit" with a huge page-aligned number (LONG_MAX rounded down). */
    if (out->memory_limit_bytes >= (UINT64_C(1) << 62)) out->memory_limit_bytes = 0;
    uint64_t inactive = 0;
    if ((rc = read_keyed(r, dir, "memory.stat", "total_inactive_file", &inactive, err)) < 0) return rc;
    out->memory_working_set_bytes = out->memory_usage_bytes > inactive ? out->memory_usage_bytes - inactive : 0;

    snprintf(base, sizeof base, "%s/pids", cg->root);
    if (container_dir(base, id, dir, sizeof dir) && (rc = read_number(r, dir, "pids.current", &out->pids, err)) < 0)
        return rc;
    snprintf(base, sizeof base, "%s/blkio", cg->root);
    if (container_dir(base, id, dir, sizeof dir)) {
        if ((rc = read_in(r, dir, "blkio.throttle.io_service_bytes", err)) < 0 ||
            (rc = metrics_parse_blkio_v1(r->buf, r->len, &out->block_read_bytes, &out->block_write_bytes, err)) < 0)
            return cohort_error_wrap(err, "%s", dir);
    }
    snprintf(base, sizeof base, "%s/pids", cg->root);
    if (container_dir(base, id, dir, sizeof dir)) read_network(cg, r, dir, out);
    return 0;
}

static int read_v2(const struct metrics_cgroup *cg, struct reader *r, const char *id, struct metrics_container_usage *out,
                   struct cohort_error *err)
{
    char dir[400];
    int rc;
    if (!container_dir(cg->root, id, dir, sizeof dir))
        return cohort_error_set(err, METRICS_E_NOT_FOUND, DOMAIN, "container %.12s has no cgroup under %s", id, cg->root);
    uint64_t usec = 0;
    if ((rc = read_keyed(r, dir, "cpu.stat", "usage_usec", &usec, err)) < 0) return rc;
    out->cpu_ns = usec * 1000;
    if ((rc = read_number(r, dir, "memory.current", &out->memory_usage_bytes, err)) < 0) return rc;
    out->has_memory_peak = read_number(r, dir, "memory.peak", &out->memory_peak_bytes, NULL) == 0;
    if ((rc = read_number(r, dir, "memory.max", &out->memory_limit_bytes, err)) < 0) return rc;
    uint64_t inactive = 0;
    if ((rc = read_keyed(r, dir, "memory.stat", "inactive_file", &inactive, err)) < 0) return rc;
    out->memory_working_set_bytes = out->memory_usage_bytes > inactive ? out->memory_usage_bytes - inactive : 0;
    if ((rc = read_number(r, dir, "pids.current", &out->pids, err)) < 0) return rc;
    if (read_in(r, dir, "io.stat", NULL) == 0 &&
        (rc = metrics_parse_io_stat(r->buf, r->len, &out->block_read_bytes, &out->block_write_bytes, err)) < 0)
        return cohort_error_wrap(err, "%s", dir);
    read_network(cg, r, dir, out);
    return 0;
}

int metrics_cgroup_read(const struct metrics_cgroup *cg, const char *container_id, struct metrics_container_usage *out,
                        struct cohort_error *err)
{
    memset(out, 0, sizeof *out);
    if (!valid_id(container_id))
        return cohort_error_set(err, METRICS_E_INVALID, DOMAIN, "'%.80s' is not a container id (up to 64 hex digits)",
                                container_id);
    /* One buffer per call on the heap: 64 KiB is too much for a thread's stack to take lightly. */
    struct reader *r = malloc(sizeof *r);
    if (r == NULL) return cohort_error_set(err, METRICS_E_NOMEM, DOMAIN, "out of memory");
    int rc;
    if (cg->version == METRICS_CGROUP_V1) rc = read_v1(cg, r, container_id, out, err);
    else if (cg->version == METRICS_CGROUP_V2) rc = read_v2(cg, r, container_id, out, err);
    else rc = cohort_error_set(err, METRICS_E_INVALID, DOMAIN, "no cgroup hierarchy opened");
    free(r);
    return rc;
}
