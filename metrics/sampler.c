/* sampler.c - the engine: the sampling thread, the latest sample, history and health (see metrics.h). */
#include <assert.h>
#include <curl/curl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "internal.h"

struct metrics {
    struct metrics_options options; /* as started; the interval and retention in force are below */
    char database_url[1024], cgroup_root[256], proc_root[256], disk_path[1024], status_address[64];
    struct metrics_cgroup cgroup;
    bool cgroup_ok;
    char cgroup_error[METRICS_REASON_MAX];
    struct metrics_ring *ring;
    struct metrics_store *store;

    pthread_t thread;
    bool thread_started;
    pthread_mutex_t wake_lock;    /* guards stopping and interval_ms: what the thread waits on */
    pthread_cond_t wake;
    bool stopping;
    unsigned interval_ms;         /* in force (metrics_set_interval changes it) */

    /* Serialises metrics_set_interval and metrics_set_retention, so the ring's capacity and
       interval_ms change together, and guards retention. Taken before wake_lock, the ring's
       lock and the store's, never while one of them is held. */
    pthread_mutex_t settings_lock;
    struct metrics_retention retention; /* in force: the store's too, when there is one */

    pthread_mutex_t sample_lock;  /* serialises samples (the thread and metrics_sample_now) */
    struct metrics_sample *building;
    struct metrics_subnode_input *inputs;       /* METRICS_MAX_SUBNODES, for collect */
    struct metrics_health_history *history;     /* METRICS_MAX_SUBNODES */
    struct metrics_check *checks_building;      /* METRICS_MAX_CHECKS */
    int64_t last_wall_ms, last_monotonic_ms;

    pthread_mutex_t lock;         /* guards what follows: what the API reads */
    struct metrics_sample *latest;
    struct metrics_check *checks;
    size_t nchecks;
};

/* ---- GET /status of every subnode at once (libcurl multi) ---- */

struct fetch {
    CURL *easy;
    char *body;
    size_t len;
    bool too_large;
    struct metrics_subnode_sample *target;
};

static size_t on_body(char *data, size_t size, size_t nmemb, void *ctx)
{
    struct fetch *f = ctx;
    size_t n = size * nmemb;
    if (f->too_large || f->len + n > METRICS_STATUS_MAX_BYTES) {
        f->too_large = true;
        return 0; /* stops the transfer */
    }
    char *grown = realloc(f->body, f->len + n + 1);
    if (grown == NULL) return 0;
    f->body = grown;
    memcpy(f->body + f->len, data, n);
    f->len += n;
    f->body[f->len] = '\0';
    return n;
}

static void fetch_statuses(struct metrics *m, struct metrics_sample *s)
{
    struct fetch *fetches = calloc(s->nsubnodes ? s->nsubnodes : 1, sizeof *fetches);
    CURLM *multi = curl_multi_init();
    if (fetches == NULL || multi == NULL) {
        free(fetches);
        if (multi) curl_multi_cleanup(multi);
        return;
    }
    size_t n = 0;
    for (size_t i = 0; i < s->nsubnodes; i++) {
        struct metrics_subnode_sample *sn = &s->subnodes[i];
        if (sn->in.rpc_port == 0 || strcmp(sn->in.state, "running") != 0) {
            snprintf(sn->status_error, sizeof sn->status_error, "not asked: the container is %s", sn->in.state);
            continue;
        }
        struct fetch *f = &fetches[n];
        f->target = sn;
        f->easy = curl_easy_init();
        if (f->easy == NULL) continue;
        char url[128];
        snprintf(url, sizeof url, "http://%s:%u/status", m->status_address, (unsigned)sn->in.rpc_port);
        curl_easy_setopt(f->easy, CURLOPT_URL, url);
        curl_easy_setopt(f->easy, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(f->easy, CURLOPT_WRITEDATA, f);
        curl_easy_setopt(f->easy, CURLOPT_TIMEOUT_MS, m->options.status_timeout_ms);
        curl_easy_setopt(f->easy, CURLOPT_CONNECTTIMEOUT_MS, m->options.status_timeout_ms);
        curl_easy_setopt(f->easy, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(f->easy, CURLOPT_PROXY, ""); /* loopback: never through a proxy from the environment */
        curl_easy_setopt(f->easy, CURLOPT_PRIVATE, f);
        curl_multi_add_handle(multi, f->easy);
        n++;
    }
    int running = 1;
    while (running) {
        if (curl_multi_perform(multi, &running) != CURLM_OK) break;
        if (running) curl_multi_poll(multi, NULL, 0, 100, NULL);
    }
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(multi, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE) continue;
        struct fetch *f = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&f);
        struct metrics_subnode_sample *sn = f->target;
        double seconds = 0;
        long code = 0;
        curl_easy_getinfo(f->easy, CURLINFO_TOTAL_TIME, &seconds);
        curl_easy_getinfo(f->easy, CURLINFO_RESPONSE_CODE, &code);
        sn->status_seconds = seconds;
        struct cohort_error err = {0};
        if (f->too_large)
            snprintf(sn->status_error, sizeof sn->status_error, "the answer is larger than %u bytes", METRICS_STATUS_MAX_BYTES);
        else if (msg->data.result != CURLE_OK)
            snprintf(sn->status_error, sizeof sn->status_error, "%s", curl_easy_strerror(msg->data.result));
        else if (code != 200 && code != 503) /* 503: a refused config, still a status */
            snprintf(sn->status_error, sizeof sn->status_error, "HTTP %ld", code);
        else if (metrics_parse_subnode_status(f->body ? f->body : "", f->len, &sn->status, &err) < 0)
            snprintf(sn->status_error, sizeof sn->status_error, "%s", err.message);
        else
            sn->status_ok = true;
    }
    for (size_t i = 0; i < n; i++) {
        if (fetches[i].easy) {
            curl_multi_remove_handle(multi, fetches[i].easy);
            curl_easy_cleanup(fetches[i].easy);
        }
        free(fetches[i].body);
    }
    curl_multi_cleanup(multi);
    free(fetches);
}

/* ---- One sample ---- */

static double thread_cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double monotonic_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Fills the history the health checks compare against, from the ring. */
static void health_history(struct metrics *m, const struct metrics_sample *s, struct metrics_health_history *h)
{
    int64_t stalled = m->options.health.blocks_stalled_ms > 0 ? m->options.health.blocks_stalled_ms : 120000;
    for (size_t i = 0; i < s->nsubnodes; i++) {
        memset(&h[i], 0, sizeof h[i]);
        snprintf(h[i].chain, sizeof h[i].chain, "%s", s->subnodes[i].in.chain);
        int64_t t;
        struct metrics_point p;
        if (metrics_ring_lookup(m->ring, h[i].chain, s->time_ms - stalled, &t, &p) && t < s->time_ms &&
            !isnan(p.values[METRICS_height])) {
            h[i].has_height_before = true;
            h[i].height_before = (uint64_t)p.values[METRICS_height];
            h[i].height_before_ms = t;
        }
        if (metrics_ring_lookup(m->ring, h[i].chain, s->time_ms - 3600 * 1000, &t, &p) &&
            !isnan(p.values[METRICS_restarts])) {
            h[i].has_restarts_hour_ago = true;
            h[i].restarts_hour_ago = (uint64_t)p.values[METRICS_restarts];
        }
    }
}

void metrics_sample_now(struct metrics *m)
{
    pthread_mutex_lock(&m->sample_lock);
    double wall0 = monotonic_seconds(), cpu0 = thread_cpu_seconds();
    struct metrics_sample *s = m->building;
    memset(s, 0, sizeof *s);
    s->time_ms = metrics_wall_ms();
    int64_t mono = metrics_monotonic_ms();
    int64_t jump = m->last_wall_ms ? (s->time_ms - m->last_wall_ms) - (mono - m->last_monotonic_ms) : 0;
    m->last_wall_ms = s->time_ms;
    m->last_monotonic_ms = mono;
    s->node_id = m->options.node_id;

    struct metrics_subnode_input *inputs = m->inputs;
    size_t n = 0;
    if (m->options.collect) m->options.collect(m->options.collect_ctx, &s->node, inputs, METRICS_MAX_SUBNODES, &n);
    assert(n <= METRICS_MAX_SUBNODES);
    s->nsubnodes = n;
    struct cohort_error err = {0};
    s->host_ok = metrics_host_read(m->proc_root, m->disk_path[0] ? m->disk_path : NULL, &s->host, &err) == 0;
    for (size_t i = 0; i < n; i++) {
        struct metrics_subnode_sample *sn = &s->subnodes[i];
        sn->in = inputs[i];
        if (!m->cgroup_ok) {
            snprintf(sn->usage_error, sizeof sn->usage_error, "%s", m->cgroup_error);
            continue;
        }
        if (sn->in.container_id[0] == '\0' || strcmp(sn->in.state, "running") != 0) {
            snprintf(sn->usage_error, sizeof sn->usage_error, "the container is %s", sn->in.state);
            continue;
        }
        cohort_error_clear(&err);
        if (metrics_cgroup_read(&m->cgroup, sn->in.container_id, &sn->usage, &err) == 0) sn->usage_ok = true;
        else snprintf(sn->usage_error, sizeof sn->usage_error, "%s", err.message);
    }
    fetch_statuses(m, s);
    s->sample_seconds = monotonic_seconds() - wall0;
    s->sample_cpu_seconds = thread_cpu_seconds() - cpu0;

    /* Health compares against the past before this sample joins it; then the history takes
       it: the ring always, the database when configured. */
    struct metrics_health_history *history = m->history;
    health_history(m, s, history);
    for (size_t i = 0; i < n; i++) {
        struct metrics_point p;
        metrics_point_from_sample(&s->subnodes[i], &p);
        metrics_ring_record(m->ring, s->subnodes[i].in.chain, s->time_ms, &p);
    }
    struct metrics_history_stats stats = {0};
    if (m->store) {
        metrics_store_enqueue(m->store, s);
        metrics_store_stats(m->store, &stats);
    }
    struct metrics_health_input hin = {.sample = s, .history = history, .monotonic_jump_ms = jump,
                                       .database_configured = m->store != NULL, .database_ok = stats.connected,
                                       .options = &m->options.health};
    snprintf(hin.database_error, sizeof hin.database_error, "%s", stats.last_error);
    struct metrics_check *checks = m->checks_building;
    size_t nchecks = metrics_health_evaluate(&hin, checks);

    pthread_mutex_lock(&m->lock);
    m->building = m->latest;
    m->latest = s;
    m->checks_building = m->checks;
    m->checks = checks;
    m->nchecks = nchecks;
    pthread_mutex_unlock(&m->lock);
    pthread_mutex_unlock(&m->sample_lock);
}

/* ---- The thread ---- */

static void *run(void *arg)
{
    struct metrics *m = arg;
    /* slot: when the last sample was due (metrics_start took one just now). The next is due
       one interval later, by the interval in force when it is computed: each turn of the
       loop computes it again, so metrics_set_interval (which wakes us) takes effect from
       the next sample, and a shorter interval does not wait out the longer one. */
    pthread_mutex_lock(&m->wake_lock);
    int64_t slot = metrics_monotonic_ms();
    while (!m->stopping) {
        int64_t next = slot + m->interval_ms;
        int64_t now = metrics_monotonic_ms();
        if (now < next) {
            /* The condition variable runs on CLOCK_MONOTONIC (set in metrics_start). */
            struct timespec until;
            clock_gettime(CLOCK_MONOTONIC, &until);
            int64_t wait_ms = next - now;
            until.tv_sec += wait_ms / 1000;
            until.tv_nsec += (wait_ms % 1000) * 1000000;
            if (until.tv_nsec >= 1000000000) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000;
            }
            pthread_cond_timedwait(&m->wake, &m->wake_lock, &until);
            continue;
        }
        pthread_mutex_unlock(&m->wake_lock);
        metrics_sample_now(m);
        pthread_mutex_lock(&m->wake_lock);
        /* The next on the grid; a sample that overran skips the slots it missed. */
        slot = next;
        int64_t after = metrics_monotonic_ms();
        if (slot + m->interval_ms <= after) slot = after;
    }
    pthread_mutex_unlock(&m->wake_lock);
    return NULL;
}

/* Points per chain that keep memory_hours of samples at interval_ms (and the newest one). */
static size_t ring_capacity(unsigned memory_hours, unsigned interval_ms)
{
    return (size_t)memory_hours * 3600u * 1000u / interval_ms + 1;
}

static int check_interval(unsigned interval_ms, struct cohort_error *err)
{
    if (interval_ms >= METRICS_INTERVAL_MIN_MS && interval_ms <= METRICS_INTERVAL_MAX_MS) return 0;
    return cohort_error_set(err, METRICS_E_INVALID, DOMAIN, "metrics interval of %u ms: give %u..%u ms", interval_ms,
                            METRICS_INTERVAL_MIN_MS, METRICS_INTERVAL_MAX_MS);
}

int metrics_start(const struct metrics_options *options, struct metrics **out, struct cohort_error *err)
{
    *out = NULL;
    struct metrics *m = calloc(1, sizeof *m);
    if (m == NULL) return cohort_error_set(err, METRICS_E_NOMEM, DOMAIN, "out of memory");
    m->options = *options;
    if (m->options.interval_ms == 0) m->options.interval_ms = 10000;
    metrics_retention_defaults(&m->options.retention);
    int rc = check_interval(m->options.interval_ms, err);
    if (rc == 0) rc = metrics_retention_check(&m->options.retention, err);
    if (rc < 0) {
        free(m);
        return rc;
    }
    m->interval_ms = m->options.interval_ms;
    m->retention = m->options.retention;
    if (m->options.memory_hours == 0) m->options.memory_hours = 3;
    if (m->options.status_timeout_ms <= 0) m->options.status_timeout_ms = 1000;
    snprintf(m->database_url, sizeof m->database_url, "%s", options->database_url ? options->database_url : "");
    snprintf(m->cgroup_root, sizeof m->cgroup_root, "%s", options->cgroup_root ? options->cgroup_root : "/sys/fs/cgroup");
    snprintf(m->proc_root, sizeof m->proc_root, "%s", options->proc_root ? options->proc_root : "/proc");
    snprintf(m->disk_path, sizeof m->disk_path, "%s", options->disk_path ? options->disk_path : "");
    snprintf(m->status_address, sizeof m->status_address, "%s", options->status_address ? options->status_address : "127.0.0.1");
    m->options.database_url = m->database_url;
    m->options.cgroup_root = m->cgroup_root;
    m->options.proc_root = m->proc_root;
    m->options.disk_path = m->disk_path;
    m->options.status_address = m->status_address;

    struct cohort_error cerr = {0};
    m->cgroup_ok = metrics_cgroup_open(&m->cgroup, m->cgroup_root, m->proc_root, &cerr) == 0;
    if (!m->cgroup_ok) {
        snprintf(m->cgroup_error, sizeof m->cgroup_error, "%s", cerr.message);
        log_warn("subnode usage will not be sampled", "error=\"%s\"", cerr.message);
    }
    size_t capacity = ring_capacity(m->options.memory_hours, m->options.interval_ms);
    m->building = calloc(1, sizeof *m->building);
    m->latest = calloc(1, sizeof *m->latest);
    m->checks = calloc(METRICS_MAX_CHECKS, sizeof *m->checks);
    m->checks_building = calloc(METRICS_MAX_CHECKS, sizeof *m->checks_building);
    m->inputs = calloc(METRICS_MAX_SUBNODES, sizeof *m->inputs);
    m->history = calloc(METRICS_MAX_SUBNODES, sizeof *m->history);
    if (m->building == NULL || m->latest == NULL || m->checks == NULL || m->checks_building == NULL ||
        m->inputs == NULL || m->history == NULL)
        rc = cohort_error_set(err, METRICS_E_NOMEM, DOMAIN, "out of memory");
    if (rc == 0) rc = metrics_ring_new(capacity, &m->ring, err);
    if (rc == 0 && m->database_url[0]) {
        struct metrics_store_options so = {.url = m->database_url, .node_id = m->options.node_id,
                                           .retention = m->options.retention, .buffer_rows = m->options.buffer_rows};
        rc = metrics_store_open(&so, &m->store, err);
        if (rc < 0) cohort_error_wrap(err, "metrics database");
    }
    if (rc < 0) {
        metrics_ring_free(m->ring);
        free(m->building);
        free(m->latest);
        free(m->checks);
        free(m->checks_building);
        free(m->inputs);
        free(m->history);
        free(m);
        return rc;
    }
    pthread_mutex_init(&m->lock, NULL);
    pthread_mutex_init(&m->sample_lock, NULL);
    pthread_mutex_init(&m->wake_lock, NULL);
    pthread_mutex_init(&m->settings_lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&m->wake, &attr);
    pthread_condattr_destroy(&attr);
    m->latest->time_ms = 0; /* no sample yet */
    metrics_sample_now(m);
    if (pthread_create(&m->thread, NULL, run, m) != 0) {
        metrics_stop(m);
        return cohort_error_set(err, METRICS_E_NOMEM, DOMAIN, "cannot start the sampler thread");
    }
    m->thread_started = true;
    log_info("metrics sampling", "interval_ms=%u memory_hours=%u cgroup=%s database=%s", m->options.interval_ms,
             m->options.memory_hours,
             !m->cgroup_ok ? "none" : m->cgroup.version == METRICS_CGROUP_V2 ? "v2" : "v1",
             m->store ? "postgresql" : "none");
    *out = m;
    return 0;
}

void metrics_stop(struct metrics *m)
{
    if (m == NULL) return;
    if (m->thread_started) {
        pthread_mutex_lock(&m->wake_lock);
        m->stopping = true;
        pthread_cond_signal(&m->wake);
        pthread_mutex_unlock(&m->wake_lock);
        pthread_join(m->thread, NULL);
    }
    metrics_store_close(m->store);
    metrics_ring_free(m->ring);
    pthread_cond_destroy(&m->wake);
    pthread_mutex_destroy(&m->wake_lock);
    pthread_mutex_destroy(&m->settings_lock);
    pthread_mutex_destroy(&m->sample_lock);
    pthread_mutex_destroy(&m->lock);
    free(m->building);
    free(m->latest);
    free(m->checks);
    free(m->checks_building);
    free(m->inputs);
    free(m->history);
    free(m);
}

int metrics_set_interval(struct metrics *m, unsigned interval_ms, struct cohort_error *err)
{
    int rc = check_interval(interval_ms, err);
    if (rc < 0) return rc;
    pthread_mutex_lock(&m->settings_lock);
    pthread_mutex_lock(&m->wake_lock);
    unsigned was_ms = m->interval_ms;
    pthread_mutex_unlock(&m->wake_lock);
    /* The rings first: when they cannot grow, the interval stays, so the history still
       covers memory_hours (a shorter interval with the old rings would cover less). */
    size_t capacity = ring_capacity(m->options.memory_hours, interval_ms);
    rc = metrics_ring_resize(m->ring, capacity, err);
    if (rc < 0) {
        pthread_mutex_unlock(&m->settings_lock);
        cohort_error_wrap(err, "metrics interval of %u ms: the sampler keeps %u ms", interval_ms, was_ms);
        return rc; /* not wrap's: it answers 0 when err is NULL */
    }
    pthread_mutex_lock(&m->wake_lock);
    m->interval_ms = interval_ms;
    pthread_cond_signal(&m->wake); /* the thread computes its next sample again */
    pthread_mutex_unlock(&m->wake_lock);
    pthread_mutex_unlock(&m->settings_lock);
    if (was_ms != interval_ms)
        log_info("metrics interval changed", "interval_ms=%u was_ms=%u memory_points=%zu", interval_ms, was_ms, capacity);
    return 0;
}

int metrics_set_retention(struct metrics *m, const struct metrics_retention *retention, struct cohort_error *err)
{
    int rc = metrics_retention_check(retention, err);
    if (rc < 0) return rc;
    pthread_mutex_lock(&m->settings_lock);
    struct metrics_retention was = m->retention;
    if (m->store) rc = metrics_store_set_retention(m->store, retention, err);
    if (rc == 0) m->retention = *retention;
    pthread_mutex_unlock(&m->settings_lock);
    if (rc < 0) return rc;
    if (memcmp(&was, retention, sizeof was) != 0)
        log_info("metrics retention changed", "raw_days=%u minute_days=%u hour_days=%u was=%u/%u/%u database=%s",
                 retention->raw_days, retention->minute_days, retention->hour_days, was.raw_days, was.minute_days,
                 was.hour_days, m->store ? "postgresql" : "none");
    return 0;
}

void metrics_get_settings(struct metrics *m, struct metrics_settings *out)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&m->settings_lock);
    pthread_mutex_lock(&m->wake_lock);
    out->interval_ms = m->interval_ms;
    pthread_mutex_unlock(&m->wake_lock);
    out->memory_hours = m->options.memory_hours;
    out->memory_points = metrics_ring_capacity(m->ring);
    out->database = m->store != NULL;
    out->retention = m->retention;
    pthread_mutex_unlock(&m->settings_lock);
}

struct metrics_sample *metrics_latest(struct metrics *m)
{
    struct metrics_sample *copy = malloc(sizeof *copy);
    if (copy == NULL) return NULL;
    pthread_mutex_lock(&m->lock);
    bool any = m->latest->time_ms != 0;
    if (any) memcpy(copy, m->latest, sizeof *copy);
    pthread_mutex_unlock(&m->lock);
    if (!any) {
        free(copy);
        return NULL;
    }
    return copy;
}

size_t metrics_latest_checks(struct metrics *m, struct metrics_check *out, size_t max)
{
    pthread_mutex_lock(&m->lock);
    size_t n = m->nchecks;
    memcpy(out, m->checks, (n < max ? n : max) * sizeof *out);
    pthread_mutex_unlock(&m->lock);
    return n;
}

char *metrics_prometheus_text(struct metrics *m, size_t *len)
{
    struct metrics_history_stats stats = {0};
    if (m->store) metrics_store_stats(m->store, &stats);
    char *text = NULL;
    struct cohort_error err = {0};
    /* Rendered under the lock instead of copying a sample of a few hundred kB: it takes well under a ms. */
    pthread_mutex_lock(&m->lock);
    int rc = metrics_render_prometheus(m->latest, m->checks, m->nchecks, &stats, &text, len, &err);
    pthread_mutex_unlock(&m->lock);
    return rc == 0 ? text : NULL;
}

struct metrics_store *metrics_get_store(struct metrics *m) { return m->store; }
struct metrics_ring *metrics_get_ring(struct metrics *m) { return m->ring; }
