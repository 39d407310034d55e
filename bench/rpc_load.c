/*
 * rpc_load.c - the timed part of bench/rpc_bench.mjs in C: sends transactions signed in
 * advance with eth_sendRawTransaction on keep-alive lanes, and watches one URL for the
 * blocks that carry them. The JavaScript client cost about 0.5 ms of CPU per transfer,
 * as much as four members' recoveries (docs/PERFORMANCE.md "End to end over JSON-RPC"),
 * on the same two cores as the chain it measured; this one costs a small part of that.
 *
 *   rpc_load --jobs FILE --watch URL --out FILE [--rate R] [--timeout-s S]
 *
 * FILE has one job a line: "LANE URL RAW_HEX HASH_HEX" (URL http://HOST:PORT[/PATH]).
 * The jobs of one lane go out one at a time on one connection, in file order (a sender's
 * transfers in nonce order). With --rate R, job k (its line number, from 0) is due at k/R
 * seconds and its latency counts from then, even when its lane sends it late; without, it
 * counts from its send. A watcher polls the watch URL every 20 ms for new blocks and notes
 * when each job's hash first appears in one. Writes to --out one line a job, "SENT_MS
 * SEEN_MS" (milliseconds from the start; SEEN_MS -1: never seen), and prints one line:
 *   rpc_load jobs=N seen=N refused=N late_100ms=N blocks=N send_s=S cpu_busy=P cpu_steal=Q
 * where P is the share of the machine's CPU time (all cores, /proc/stat) that was not idle
 * from the first send until the last transaction was seen: the chain's, this client's and
 * anything else's; Q the share the hypervisor gave other guests (counted in P), which
 * tells a slow machine from a slow chain.
 * Exit status 0, or 1 with a message naming what failed.
 */
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define RESPONSE_MAX (256u << 20) /* a batch of 200 blocks of hashes: far below */
#define LANES_MAX 256
#define BATCH_BLOCKS 200

struct job {
    int lane;
    char *url;
    char *raw;             /* 0x... */
    uint8_t hash[32];
    double sent_ms, seen_ms; /* seen_ms < 0: not yet */
};

struct conn {
    char host[64];
    int port;
    char path[128];
    int fd;
    char *buf; /* the response */
    size_t cap;
};

static struct job *jobs;
static size_t njobs;
static size_t *by_hash; /* job indexes sorted by hash */
static double rate;
static struct timespec t0;
static atomic_size_t seen_count, refused, late;
static atomic_bool sending_done;
static size_t blocks;
static pthread_t lane_threads[LANES_MAX];
static int lane_count;
static double send_end_ms;

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0.tv_sec) * 1e3 + (double)(t.tv_nsec - t0.tv_nsec) / 1e6;
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("rpc_load: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* "0x" and 64 hex digits into out; false if it is not that. */
static bool parse_hash(const char *s, uint8_t out[32])
{
    if (s == NULL || s[0] != '0' || (s[1] != 'x' && s[1] != 'X') || strlen(s) != 66) return false;
    for (int i = 0; i < 32; i++) {
        int hi = hexval(s[2 + 2 * i]), lo = hexval(s[3 + 2 * i]);
        if (hi < 0 || lo < 0) return false;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return true;
}

static int by_hash_cmp(const void *a, const void *b)
{
    return memcmp(jobs[*(const size_t *)a].hash, jobs[*(const size_t *)b].hash, 32);
}

static long find_job(const uint8_t hash[32])
{
    size_t lo = 0, hi = njobs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = memcmp(jobs[by_hash[mid]].hash, hash, 32);
        if (c == 0) return (long)by_hash[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return -1;
}

/* http://HOST:PORT[/PATH], HOST an IPv4 address (the benchmark's targets are on loopback). */
static void conn_init(struct conn *c, const char *url)
{
    memset(c, 0, sizeof *c);
    c->fd = -1;
    const char *p = strncmp(url, "http://", 7) == 0 ? url + 7 : NULL;
    const char *colon = p ? strchr(p, ':') : NULL;
    if (colon == NULL || (size_t)(colon - p) >= sizeof c->host) die("URL %s is not http://IPV4:PORT[/PATH]", url);
    memcpy(c->host, p, (size_t)(colon - p));
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (port <= 0 || port > 65535 || (*end != '\0' && *end != '/')) die("URL %s: bad port", url);
    c->port = (int)port;
    snprintf(c->path, sizeof c->path, "%s", *end == '/' ? end : "/");
}

static bool conn_open(struct conn *c)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)c->port)};
    if (inet_pton(AF_INET, c->host, &a.sin_addr) != 1) die("%s is not an IPv4 address", c->host);
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0) die("socket: %s", strerror(errno));
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(c->fd, (struct sockaddr *)&a, sizeof a) < 0) {
        close(c->fd);
        c->fd = -1;
        return false;
    }
    return true;
}

static void conn_close(struct conn *c)
{
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
}

static bool write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

static bool grow(struct conn *c, size_t need)
{
    if (need <= c->cap) return true;
    if (need > RESPONSE_MAX) return false;
    size_t cap = c->cap ? c->cap : 65536;
    while (cap < need) cap *= 2;
    char *b = realloc(c->buf, cap + 1);
    if (b == NULL) return false;
    c->buf = b;
    c->cap = cap;
    return true;
}

/*
 * POSTs body and reads the response's body into c->buf (NUL-terminated), on the lane's
 * keep-alive connection (opened again once if the server closed it). Content-Length
 * responses only (the subnode's and anvil's). Returns the body's length, or -1 with why.
 */
static long post(struct conn *c, const char *body, size_t len, const char **why)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        if (c->fd < 0 && !conn_open(c)) {
            *why = "cannot connect";
            return -1;
        }
        char head[512];
        int hl = snprintf(head, sizeof head,
                          "POST %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                          c->path, c->host, c->port, len);
        if (!write_all(c->fd, head, (size_t)hl) || !write_all(c->fd, body, len)) {
            conn_close(c);
            continue;
        }
        size_t have = 0, body_at = 0, want = 0;
        bool headers = false;
        for (;;) {
            if (!grow(c, have + 65536)) {
                *why = "response too large";
                conn_close(c);
                return -1;
            }
            ssize_t r = recv(c->fd, c->buf + have, c->cap - have, 0);
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) break;
            have += (size_t)r;
            c->buf[have] = '\0';
            if (!headers) {
                char *e = strstr(c->buf, "\r\n\r\n");
                if (e == NULL) continue;
                headers = true;
                body_at = (size_t)(e - c->buf) + 4;
                const char *cl = strcasestr(c->buf, "\r\ncontent-length:");
                if (cl == NULL || cl > e) {
                    *why = "a response without Content-Length";
                    conn_close(c);
                    return -1;
                }
                want = strtoul(cl + 17, NULL, 10);
                if (!grow(c, body_at + want)) {
                    *why = "response too large";
                    conn_close(c);
                    return -1;
                }
            }
            if (headers && have >= body_at + want) {
                memmove(c->buf, c->buf + body_at, want);
                c->buf[want] = '\0';
                if (have > body_at + want) conn_close(c); /* more than asked for: start clean */
                return (long)want;
            }
        }
        conn_close(c); /* closed before a whole response: a pooled connection the server dropped */
        if (have > 0) {
            *why = "the connection closed in the middle of a response";
            return -1;
        }
    }
    *why = "the connection closed";
    return -1;
}

static void sleep_ms(double ms)
{
    if (ms <= 0) return;
    struct timespec t = {(time_t)(ms / 1000), (long)((ms - (double)(time_t)(ms / 1000) * 1000) * 1e6)};
    while (nanosleep(&t, &t) < 0 && errno == EINTR) {
    }
}

static void *lane_main(void *arg)
{
    int lane = (int)(intptr_t)arg;
    struct conn c = {.fd = -1};
    const char *url = NULL;
    char *body = NULL;
    size_t body_cap = 0;
    for (size_t k = 0; k < njobs; k++) {
        struct job *j = &jobs[k];
        if (j->lane != lane) continue;
        if (url == NULL || strcmp(url, j->url) != 0) { /* a lane talks to one URL; set up once */
            conn_close(&c);
            free(c.buf);
            conn_init(&c, j->url);
            url = j->url;
        }
        if (rate > 0) {
            double due = (double)k * 1000.0 / rate, wait = due - now_ms();
            if (wait > 0) sleep_ms(wait);
            else if (wait < -100) atomic_fetch_add(&late, 1);
            j->sent_ms = due;
        } else {
            j->sent_ms = now_ms();
        }
        size_t need = strlen(j->raw) + 128;
        if (need > body_cap) {
            body_cap = need;
            body = realloc(body, body_cap);
            if (body == NULL) die("out of memory");
        }
        int n = snprintf(body, body_cap, "{\"jsonrpc\":\"2.0\",\"id\":%zu,\"method\":\"eth_sendRawTransaction\",\"params\":[\"%s\"]}",
                         k, j->raw);
        const char *why = NULL;
        long len = post(&c, body, (size_t)n, &why);
        if (len < 0 || strstr(c.buf, "\"error\"") != NULL) {
            size_t r = atomic_fetch_add(&refused, 1);
            if (r < 3) fprintf(stderr, "rpc_load: job %zu refused: %s\n", k, len < 0 ? why : c.buf);
        }
    }
    conn_close(&c);
    free(c.buf);
    free(body);
    return NULL;
}

/* One JSON-RPC call (or batch) on the watcher's connection; the parsed reply, or NULL. */
static cJSON *call(struct conn *c, const char *body)
{
    const char *why = NULL;
    long len = post(c, body, strlen(body), &why);
    if (len < 0) {
        fprintf(stderr, "rpc_load: watcher: %s\n", why);
        return NULL;
    }
    cJSON *r = cJSON_ParseWithLength(c->buf, (size_t)len);
    if (r == NULL) fprintf(stderr, "rpc_load: watcher: a reply that is not JSON: %.200s\n", c->buf);
    return r;
}

static long block_number(struct conn *c)
{
    cJSON *r = call(c, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"eth_blockNumber\",\"params\":[]}");
    const cJSON *res = cJSON_GetObjectItemCaseSensitive(r, "result");
    long n = cJSON_IsString(res) ? strtol(res->valuestring, NULL, 16) : -1;
    cJSON_Delete(r);
    return n;
}

/* Polls for new blocks every 20 ms until every job is seen, or the deadline after the sends. */
static void watch(const char *url, double timeout_ms, long head)
{
    struct conn c;
    conn_init(&c, url);
    size_t errors = 0;
    double deadline = -1;
    char *batch = malloc(BATCH_BLOCKS * 128 + 16);
    if (batch == NULL) die("out of memory");
    while (atomic_load(&seen_count) < njobs) {
        if (deadline < 0 && atomic_load(&sending_done)) deadline = now_ms() + timeout_ms;
        if (deadline >= 0 && now_ms() > deadline) break;
        long top = block_number(&c);
        if (top < 0 && ++errors > 50) die("the watcher's eth_blockNumber failed 50 times");
        while (top > head) {
            long last = top < head + BATCH_BLOCKS ? top : head + BATCH_BLOCKS;
            size_t off = 0;
            batch[off++] = '[';
            for (long n = head + 1; n <= last; n++)
                off += (size_t)sprintf(batch + off, "%s{\"jsonrpc\":\"2.0\",\"id\":%ld,\"method\":\"eth_getBlockByNumber\",\"params\":[\"0x%lx\",false]}",
                                       n > head + 1 ? "," : "", n, (unsigned long)n);
            batch[off++] = ']';
            batch[off] = '\0';
            cJSON *r = call(&c, batch);
            double t = now_ms();
            if (!cJSON_IsArray(r) || cJSON_GetArraySize(r) != (int)(last - head)) {
                cJSON_Delete(r);
                if (++errors > 50) die("the watcher's eth_getBlockByNumber failed 50 times");
                break;
            }
            const cJSON *reply;
            cJSON_ArrayForEach(reply, r)
            {
                const cJSON *res = cJSON_GetObjectItemCaseSensitive(reply, "result");
                const cJSON *txs = cJSON_GetObjectItemCaseSensitive(res, "transactions");
                if (!cJSON_IsArray(txs)) die("block without a transactions array: %.200s", c.buf);
                size_t mine = 0;
                const cJSON *h;
                cJSON_ArrayForEach(h, txs)
                {
                    uint8_t hash[32];
                    if (!cJSON_IsString(h) || !parse_hash(h->valuestring, hash)) continue;
                    long k = find_job(hash);
                    if (k >= 0 && jobs[k].seen_ms < 0) {
                        jobs[k].seen_ms = t;
                        atomic_fetch_add(&seen_count, 1);
                        mine++;
                    }
                }
                if (mine > 0) blocks++;
            }
            cJSON_Delete(r);
            head = last;
        }
        sleep_ms(20);
    }
    conn_close(&c);
    free(c.buf);
    free(batch);
}

/* Joins the lanes, notes when the last send ended, and tells the watcher its deadline runs. */
static void *join_lanes(void *arg)
{
    (void)arg;
    for (int l = 0; l < lane_count; l++) pthread_join(lane_threads[l], NULL);
    send_end_ms = now_ms();
    atomic_store(&sending_done, true);
    return NULL;
}

static void load_jobs(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) die("cannot open %s: %s", path, strerror(errno));
    size_t cap = 0;
    char *line = NULL;
    size_t line_cap = 0;
    ssize_t n;
    while ((n = getline(&line, &line_cap, f)) > 0) {
        if (njobs == cap) {
            cap = cap ? cap * 2 : 1024;
            jobs = realloc(jobs, cap * sizeof *jobs);
            if (jobs == NULL) die("out of memory");
        }
        char *save = NULL, *lane = strtok_r(line, " \n", &save), *url = strtok_r(NULL, " \n", &save),
             *raw = strtok_r(NULL, " \n", &save), *hash = strtok_r(NULL, " \n", &save);
        struct job *j = &jobs[njobs];
        if (lane == NULL || hash == NULL || !parse_hash(hash, j->hash)) die("%s line %zu: not LANE URL RAW HASH", path, njobs + 1);
        j->lane = atoi(lane);
        if (j->lane < 0 || j->lane >= LANES_MAX) die("%s line %zu: lane %d not in 0..%d", path, njobs + 1, j->lane, LANES_MAX - 1);
        j->url = strdup(url);
        j->raw = strdup(raw);
        j->seen_ms = -1;
        njobs++;
    }
    free(line);
    fclose(f);
    if (njobs == 0) die("%s has no jobs", path);
    by_hash = malloc(njobs * sizeof *by_hash);
    if (by_hash == NULL) die("out of memory");
    for (size_t k = 0; k < njobs; k++) by_hash[k] = k;
    qsort(by_hash, njobs, sizeof *by_hash, by_hash_cmp);
}

/* Busy, stolen and total CPU ticks of all cores so far (/proc/stat's first line; busy
   counts the stolen ones: time the hypervisor gave another guest); false if unreadable. */
static bool cpu_ticks(unsigned long long *busy, unsigned long long *steal, unsigned long long *total)
{
    FILE *f = fopen("/proc/stat", "r");
    if (f == NULL) return false;
    unsigned long long v[8] = {0};
    int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6],
                   &v[7]);
    fclose(f);
    if (n < 5) return false;
    *total = 0;
    for (int i = 0; i < 8; i++) *total += v[i];
    *busy = *total - v[3] - v[4]; /* less idle and iowait */
    *steal = v[7];
    return true;
}

int main(int argc, char **argv)
{
    const char *jobs_path = NULL, *watch_url = NULL, *out_path = NULL;
    double timeout_s = 180;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--jobs") == 0) jobs_path = argv[i + 1];
        else if (strcmp(argv[i], "--watch") == 0) watch_url = argv[i + 1];
        else if (strcmp(argv[i], "--out") == 0) out_path = argv[i + 1];
        else if (strcmp(argv[i], "--rate") == 0) rate = atof(argv[i + 1]);
        else if (strcmp(argv[i], "--timeout-s") == 0) timeout_s = atof(argv[i + 1]);
        else die("unknown option %s", argv[i]);
    }
    if (jobs_path == NULL || watch_url == NULL || out_path == NULL)
        die("usage: rpc_load --jobs FILE --watch URL --out FILE [--rate R] [--timeout-s S]");
    load_jobs(jobs_path);
    for (size_t k = 0; k < njobs; k++)
        if (jobs[k].lane + 1 > lane_count) lane_count = jobs[k].lane + 1;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    struct conn probe;
    conn_init(&probe, watch_url);
    long head = block_number(&probe);
    conn_close(&probe);
    free(probe.buf);
    if (head < 0) die("eth_blockNumber at %s failed", watch_url);

    unsigned long long busy0 = 0, steal0 = 0, total0 = 0, busy1 = 0, steal1 = 0, total1 = 0;
    bool have_cpu = cpu_ticks(&busy0, &steal0, &total0);
    clock_gettime(CLOCK_MONOTONIC, &t0); /* the clock starts with the first send */
    for (int l = 0; l < lane_count; l++)
        if (pthread_create(&lane_threads[l], NULL, lane_main, (void *)(intptr_t)l) != 0) die("pthread_create failed");
    pthread_t joiner;
    if (pthread_create(&joiner, NULL, join_lanes, NULL) != 0) die("pthread_create failed");
    watch(watch_url, timeout_s * 1000, head);
    have_cpu = have_cpu && cpu_ticks(&busy1, &steal1, &total1) && total1 > total0;
    pthread_join(joiner, NULL);

    FILE *out = fopen(out_path, "w");
    if (out == NULL) die("cannot write %s: %s", out_path, strerror(errno));
    for (size_t k = 0; k < njobs; k++) fprintf(out, "%.3f %.3f\n", jobs[k].sent_ms, jobs[k].seen_ms);
    if (fclose(out) != 0) die("cannot write %s", out_path);
    printf("rpc_load jobs=%zu seen=%zu refused=%zu late_100ms=%zu blocks=%zu send_s=%.2f cpu_busy=%.1f "
           "cpu_steal=%.1f\n",
           njobs, atomic_load(&seen_count), atomic_load(&refused), atomic_load(&late), blocks, send_end_ms / 1000,
           have_cpu ? 100.0 * (double)(busy1 - busy0) / (double)(total1 - total0) : -1.0,
           have_cpu ? 100.0 * (double)(steal1 - steal0) / (double)(total1 - total0) : -1.0);
    return 0;
}
