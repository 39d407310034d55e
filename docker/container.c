/*
 * container.c - containers through the Engine API: create with a full HostConfig, start,
 * stop, kill, remove, update the limits in place, inspect, list by label, wait, one-shot stats, logs and events.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define STREAM_TIMEOUT_MS 30000

static int container_path(const char *verb, const char *name, const char *suffix, char *what, size_t what_size,
                          char *path, size_t path_size, struct cohort_error *err)
{
    snprintf(what, what_size, "%s container %s", verb, name);
    int rc = docker_check_name(what, name, err);
    if (rc < 0) return rc;
    snprintf(path, path_size, "/containers/%s%s", name, suffix);
    return 0;
}

static cJSON *string_array(const char *const *items)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; items && items[i]; i++) cJSON_AddItemToArray(a, cJSON_CreateString(items[i]));
    return a;
}

int docker_container_create(struct docker_client *c, const char *name, const struct docker_container_spec *s, char *id,
                            struct cohort_error *err)
{
    char what[320], path[340];
    snprintf(what, sizeof what, "create container %s", name);
    int rc = docker_check_name(what, name, err);
    if (rc < 0) return rc;
    if (s->image == NULL) return cohort_error_set(err, DOCKER_E_INVALID, DOMAIN, "%s: no image given", what);
    snprintf(path, sizeof path, "/containers/create?name=%s", name);

    cJSON *req = cJSON_CreateObject();
    cJSON_AddStringToObject(req, "Image", s->image);
    if (s->cmd) cJSON_AddItemToObject(req, "Cmd", string_array(s->cmd));
    if (s->env) cJSON_AddItemToObject(req, "Env", string_array(s->env));
    if (s->user) cJSON_AddStringToObject(req, "User", s->user);
    cJSON *labels = cJSON_AddObjectToObject(req, "Labels");
    for (size_t i = 0; i < s->nlabels; i++)
        cJSON_AddStringToObject(labels, s->labels[i].key, s->labels[i].value ? s->labels[i].value : "");
    if (s->stop_timeout_s > 0) cJSON_AddNumberToObject(req, "StopTimeout", (double)s->stop_timeout_s);

    cJSON *host = cJSON_AddObjectToObject(req, "HostConfig");
    if (s->network_host) cJSON_AddStringToObject(host, "NetworkMode", "host");
    cJSON_AddBoolToObject(host, "ReadonlyRootfs", s->read_only_rootfs);
    if (s->cap_drop_all) {
        const char *all[] = {"ALL", NULL};
        cJSON_AddItemToObject(host, "CapDrop", string_array(all));
    }
    if (s->no_new_privileges) {
        const char *opts[] = {"no-new-privileges", NULL};
        cJSON_AddItemToObject(host, "SecurityOpt", string_array(opts));
    }
    if (s->memory_bytes > 0) {
        cJSON_AddNumberToObject(host, "Memory", (double)s->memory_bytes);
        cJSON_AddNumberToObject(host, "MemorySwap", (double)s->memory_bytes); /* no swap beyond the limit */
    }
    if (s->cpu_shares > 0) cJSON_AddNumberToObject(host, "CpuShares", (double)s->cpu_shares);
    if (s->cpu_quota_us > 0) {
        cJSON_AddNumberToObject(host, "CpuQuota", (double)s->cpu_quota_us);
        cJSON_AddNumberToObject(host, "CpuPeriod", (double)(s->cpu_period_us > 0 ? s->cpu_period_us : 100000));
    }
    if (s->pids_limit > 0) cJSON_AddNumberToObject(host, "PidsLimit", (double)s->pids_limit);
    if (s->nofile_limit > 0) {
        cJSON *ulimits = cJSON_AddArrayToObject(host, "Ulimits");
        cJSON *u = cJSON_CreateObject();
        cJSON_AddStringToObject(u, "Name", "nofile");
        cJSON_AddNumberToObject(u, "Soft", (double)s->nofile_limit);
        cJSON_AddNumberToObject(u, "Hard", (double)s->nofile_limit);
        cJSON_AddItemToArray(ulimits, u);
    }
    if (s->nmounts > 0) {
        cJSON *mounts = cJSON_AddArrayToObject(host, "Mounts");
        for (size_t i = 0; i < s->nmounts; i++) {
            cJSON *m = cJSON_CreateObject();
            cJSON_AddStringToObject(m, "Type", "volume");
            cJSON_AddStringToObject(m, "Source", s->mounts[i].volume);
            cJSON_AddStringToObject(m, "Target", s->mounts[i].target);
            cJSON_AddBoolToObject(m, "ReadOnly", s->mounts[i].read_only);
            cJSON_AddItemToArray(mounts, m);
        }
    }
    cJSON *log = cJSON_AddObjectToObject(host, "LogConfig");
    cJSON_AddStringToObject(log, "Type", "json-file");
    cJSON *log_opts = cJSON_AddObjectToObject(log, "Config");
    if (s->log_max_size) cJSON_AddStringToObject(log_opts, "max-size", s->log_max_size);
    if (s->log_max_file) cJSON_AddStringToObject(log_opts, "max-file", s->log_max_file);
    /* No Docker restart policy: cohort-core restarts subnodes itself, with backoff and counts. */
    cJSON *restart = cJSON_AddObjectToObject(host, "RestartPolicy");
    cJSON_AddStringToObject(restart, "Name", "no");

    char *text = cJSON_PrintUnformatted(req);
    cJSON_Delete(req);
    if (text == NULL) return cohort_error_set(err, DOCKER_E_NOMEM, DOMAIN, "%s: out of memory", what);
    struct request_body body = {.data = text, .len = strlen(text)};
    char *answer = NULL;
    rc = docker_request(c, &(struct docker_request_options){.method = "POST", .path = path, .body = &body,
            .out = &answer, .what = what}, err);
    free(text);
    if (rc < 0) return rc;
    cJSON *j = cJSON_Parse(answer);
    free(answer);
    const cJSON *jid = cJSON_GetObjectItemCaseSensitive(j, "Id");
    if (!cJSON_IsString(jid)) rc = cohort_error_set(err, DOCKER_E_MALFORMED, DOMAIN, "%s: no Id in the answer", what);
    else if (id) snprintf(id, 80, "%s", jid->valuestring);
    cJSON_Delete(j);
    return rc;
}

/* The timeout of a call whose caller gives one: 0 there means none. */
static long or_none(long timeout_ms) { return timeout_ms > 0 ? timeout_ms : DOCKER_NO_TIMEOUT; }

static int simple(struct docker_client *c, const char *method, const char *verb, const char *name, const char *suffix,
                  long timeout_ms, struct cohort_error *err)
{
    char what[320], path[400];
    int rc = container_path(verb, name, suffix, what, sizeof what, path, sizeof path, err);
    if (rc < 0) return rc;
    return docker_request(c, &(struct docker_request_options){.method = method, .path = path,
            .timeout_ms = or_none(timeout_ms), .what = what}, err);
}

int docker_container_start(struct docker_client *c, const char *name, struct cohort_error *err)
{
    return simple(c, "POST", "start", name, "/start", c->timeout_ms, err);
}

int docker_container_stop(struct docker_client *c, const char *name, long timeout_s, struct cohort_error *err)
{
    char suffix[48];
    snprintf(suffix, sizeof suffix, "/stop?t=%ld", timeout_s);
    /* The request lasts as long as the stop itself: allow the grace period and some. */
    return simple(c, "POST", "stop", name, suffix, (timeout_s + 30) * 1000, err); /* 304: already stopped, success */
}

int docker_container_kill(struct docker_client *c, const char *name, const char *signal, struct cohort_error *err)
{
    char suffix[64];
    snprintf(suffix, sizeof suffix, "/kill?signal=%s", signal ? signal : "KILL");
    return simple(c, "POST", "kill", name, suffix, c->timeout_ms, err);
}

int docker_container_remove(struct docker_client *c, const char *name, bool force, struct cohort_error *err)
{
    return simple(c, "DELETE", "remove", name, force ? "?force=1" : "", c->timeout_ms, err);
}

int docker_container_update(struct docker_client *c, const char *name, const struct docker_resources *r,
                            struct cohort_error *err)
{
    char what[320], path[400];
    int rc = container_path("update", name, "/update", what, sizeof what, path, sizeof path, err);
    if (rc < 0) return rc;
    if (r->memory_bytes <= 0 || r->cpu_shares <= 0)
        return cohort_error_set(err, DOCKER_E_INVALID, DOMAIN, "%s: memory and CPU shares must be set", what);
    cJSON *req = cJSON_CreateObject();
    cJSON_AddNumberToObject(req, "Memory", (double)r->memory_bytes);
    cJSON_AddNumberToObject(req, "MemorySwap", (double)r->memory_bytes); /* no swap beyond the limit, as at create */
    cJSON_AddNumberToObject(req, "CpuShares", (double)r->cpu_shares);
    /* In an update 0 means "leave as it is": -1 lifts a quota the container had. */
    cJSON_AddNumberToObject(req, "CpuQuota", r->cpu_quota_us > 0 ? (double)r->cpu_quota_us : -1.0);
    if (r->cpu_quota_us > 0)
        cJSON_AddNumberToObject(req, "CpuPeriod", (double)(r->cpu_period_us > 0 ? r->cpu_period_us : 100000));
    if (r->pids_limit > 0) cJSON_AddNumberToObject(req, "PidsLimit", (double)r->pids_limit);
    char *text = cJSON_PrintUnformatted(req);
    cJSON_Delete(req);
    if (text == NULL) return cohort_error_set(err, DOCKER_E_NOMEM, DOMAIN, "%s: out of memory", what);
    struct request_body body = {.data = text, .len = strlen(text)};
    rc = docker_request(c, &(struct docker_request_options){.method = "POST", .path = path, .body = &body,
            .what = what}, err);
    free(text);
    return rc;
}

static int64_t number(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsNumber(v) ? (int64_t)v->valuedouble : 0;
}

static void copy(const cJSON *obj, const char *key, char *out, size_t size)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    snprintf(out, size, "%s", cJSON_IsString(v) ? v->valuestring : "");
}

static bool array_has(const cJSON *array, const char *value)
{
    const cJSON *v;
    cJSON_ArrayForEach(v, array) if (cJSON_IsString(v) && strcmp(v->valuestring, value) == 0) return true;
    return false;
}

/* Fills out from an inspect object or a list entry (their shapes differ; both are read). */
static int parse_container_object(const cJSON *j, struct docker_container *out, struct cohort_error *err)
{
    memset(out, 0, sizeof *out);
    if (!cJSON_IsObject(j)) return cohort_error_set(err, DOCKER_E_MALFORMED, DOMAIN, "container: not a JSON object");
    copy(j, "Id", out->id, sizeof out->id);
    if (out->id[0] == '\0') return cohort_error_set(err, DOCKER_E_MALFORMED, DOMAIN, "container: no Id");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(j, "Name");
    const cJSON *names = cJSON_GetObjectItemCaseSensitive(j, "Names");
    const char *n = cJSON_IsString(name) ? name->valuestring
                    : cJSON_IsString(cJSON_GetArrayItem(names, 0)) ? cJSON_GetArrayItem(names, 0)->valuestring
                                                                    : "";
    snprintf(out->name, sizeof out->name, "%s", n[0] == '/' ? n + 1 : n);
    const cJSON *state = cJSON_GetObjectItemCaseSensitive(j, "State");
    if (cJSON_IsObject(state)) { /* inspect */
        copy(state, "Status", out->state, sizeof out->state);
        out->running = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(state, "Running"));
        out->exit_code = (int)number(state, "ExitCode");
        out->pid = (int)number(state, "Pid");
        out->oom_killed = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(state, "OOMKilled"));
        copy(state, "StartedAt", out->started_at, sizeof out->started_at);
        copy(state, "FinishedAt", out->finished_at, sizeof out->finished_at);
    } else { /* list */
        copy(j, "State", out->state, sizeof out->state);
        out->running = strcmp(out->state, "running") == 0;
    }
    const cJSON *config = cJSON_GetObjectItemCaseSensitive(j, "Config");
    copy(cJSON_IsObject(config) ? config : j, "Image", out->image, sizeof out->image);
    copy(j, cJSON_IsObject(config) ? "Image" : "ImageID", out->image_id, sizeof out->image_id);
    if (cJSON_IsObject(config)) copy(config, "User", out->user, sizeof out->user);
    const cJSON *labels = cJSON_GetObjectItemCaseSensitive(cJSON_IsObject(config) ? config : j, "Labels");
    const cJSON *l;
    cJSON_ArrayForEach(l, labels)
    {
        if (out->nlabels == DOCKER_MAX_LABELS || !cJSON_IsString(l) || l->string == NULL) continue;
        snprintf(out->label_keys[out->nlabels], sizeof out->label_keys[0], "%s", l->string);
        snprintf(out->label_values[out->nlabels], sizeof out->label_values[0], "%s", l->valuestring);
        out->nlabels++;
    }
    const cJSON *host = cJSON_GetObjectItemCaseSensitive(j, "HostConfig");
    if (cJSON_IsObject(host)) {
        out->memory_bytes = number(host, "Memory");
        out->cpu_shares = number(host, "CpuShares");
        out->cpu_quota_us = number(host, "CpuQuota");
        out->cpu_period_us = number(host, "CpuPeriod");
        out->pids_limit = number(host, "PidsLimit");
        const cJSON *mode = cJSON_GetObjectItemCaseSensitive(host, "NetworkMode");
        out->network_host = cJSON_IsString(mode) && strcmp(mode->valuestring, "host") == 0;
        out->read_only_rootfs = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(host, "ReadonlyRootfs"));
        out->no_new_privileges = array_has(cJSON_GetObjectItemCaseSensitive(host, "SecurityOpt"), "no-new-privileges");
        out->cap_drop_all = array_has(cJSON_GetObjectItemCaseSensitive(host, "CapDrop"), "ALL");
        const cJSON *restart = cJSON_GetObjectItemCaseSensitive(host, "RestartPolicy");
        copy(restart, "Name", out->restart_policy, sizeof out->restart_policy);
        const cJSON *u;
        cJSON_ArrayForEach(u, cJSON_GetObjectItemCaseSensitive(host, "Ulimits"))
        {
            const cJSON *un = cJSON_GetObjectItemCaseSensitive(u, "Name");
            if (cJSON_IsString(un) && strcmp(un->valuestring, "nofile") == 0) out->nofile_limit = number(u, "Hard");
        }
    }
    return 0;
}

int docker_parse_container(const char *json, size_t len, struct docker_container *out, struct cohort_error *err)
{
    if (len > RESPONSE_MAX) return cohort_error_set(err, DOCKER_E_TOO_LARGE, DOMAIN, "container: %zu bytes", len);
    cJSON *j = cJSON_ParseWithLength(json, len);
    if (j == NULL) return cohort_error_set(err, DOCKER_E_MALFORMED, DOMAIN, "container: not valid JSON");
    int rc = parse_container_object(j, out, err);
    cJSON_Delete(j);
    return rc;
}

const char *docker_container_label(const struct docker_container *c, const char *key)
{
    for (size_t i = 0; i < c->nlabels; i++)
        if (strcmp(c->label_keys[i], key) == 0) return c->label_values[i];
    return NULL;
}

int docker_container_inspect(struct docker_client *c, const char *name, struct docker_container *out,
                             struct cohort_error *err)
{
    char what[320], path[400];
    int rc = container_path("inspect", name, "/json", what, sizeof what, path, sizeof path, err);
    if (rc < 0) return rc;
    char *body = NULL;
    size_t len = 0;
    if ((rc = docker_request(c, &(struct docker_request_options){.method = "GET", .path = path, .out = &body,
            .out_len = &len, .what = what}, err)) < 0)
        return rc;
    rc = docker_parse_container(body, len, out, err);
    free(body);
    if (rc < 0) cohort_error_wrap(err, "%s", what);
    return rc;
}

int docker_container_list(struct docker_client *c, const struct docker_label *labels, size_t nlabels,
                          struct docker_container **out, size_t *count, struct cohort_error *err)
{
    *out = NULL;
    *count = 0;
    cJSON *j = NULL;
    int rc = docker_list_labelled(c, "/containers/json?all=1&", labels, nlabels, "list containers", &j, err);
    if (rc < 0) return rc;
    if (!cJSON_IsArray(j)) {
        cJSON_Delete(j);
        return cohort_error_set(err, DOCKER_E_MALFORMED, DOMAIN, "list containers: answer is not a JSON array");
    }
    size_t n = (size_t)cJSON_GetArraySize(j);
    struct docker_container *list = calloc(n ? n : 1, sizeof *list);
    if (list == NULL) {
        cJSON_Delete(j);
        return cohort_error_set(err, DOCKER_E_NOMEM, DOMAIN, "list containers: out of memory");
    }
    size_t i = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, j)
    {
        if ((rc = parse_container_object(item, &list[i], err)) < 0) break;
        i++;
    }
    cJSON_Delete(j);
    if (rc < 0) {
        free(list);
        return cohort_error_wrap(err, "list containers");
    }
    *out = list;
    *count = i;
    return 0;
}

int docker_container_wait(struct docker_client *c, const char *name, long timeout_ms, int *exit_code,
                          struct cohort_error *err)
{
    char what[320], path[400];
    int rc = container_path("wait for", name, "/wait?condition=not-running", what, sizeof what, path, sizeof path, err);
    if (rc < 0) return rc;
    char *body = NULL;
    if ((rc = docker_request(c, &(struct docker_request_options){.method = "POST", .path = path,
            .timeout_ms = or_none(timeout_ms), .out = &body, .what = what}, err)) < 0)
        return rc;
    cJSON *j = cJSON_Parse(body);
    free(body);
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(j, "StatusCode");
    if (!cJSON_IsNumber(code)) rc = cohort_error_set(err, DOCKER_E_MALFORMED, DOMAIN, "%s: no StatusCode", what);
    else if (exit_code) *exit_code = code->valueint;
    cJSON_Delete(j);
    return rc;
}

static uint64_t unumber(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsNumber(v) && v->valuedouble > 0 ? (uint64_t)v->valuedouble : 0;
}

int docker_container_stats(struct docker_client *c, const char *name, struct docker_stats *out, struct cohort_error *err)
{
    char what[320], path[400];
    int rc = container_path("stats of", name, "/stats?stream=false", what, sizeof what, path, sizeof path, err);
    if (rc < 0) return rc;
    char *body = NULL;
    if ((rc = docker_request(c, &(struct docker_request_options){.method = "GET", .path = path, .out = &body,
            .what = what}, err)) < 0)
        return rc;
    cJSON *j = cJSON_Parse(body);
    free(body);
    memset(out, 0, sizeof *out);
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return cohort_error_set(err, DOCKER_E_MALFORMED, DOMAIN, "%s: not a JSON object", what);
    }
    const cJSON *cpu = cJSON_GetObjectItemCaseSensitive(j, "cpu_stats");
    const cJSON *pre = cJSON_GetObjectItemCaseSensitive(j, "precpu_stats");
    out->cpu_total_ns = unumber(cJSON_GetObjectItemCaseSensitive(cpu, "cpu_usage"), "total_usage");
    out->system_cpu_ns = unumber(cpu, "system_cpu_usage");
    out->online_cpus = (unsigned)unumber(cpu, "online_cpus");
    out->precpu_total_ns = unumber(cJSON_GetObjectItemCaseSensitive(pre, "cpu_usage"), "total_usage");
    out->presystem_cpu_ns = unumber(pre, "system_cpu_usage");
    /* As the docker CLI computes it: the container's share of the host's CPU time between the samples. */
    if (out->system_cpu_ns > out->presystem_cpu_ns && out->cpu_total_ns >= out->precpu_total_ns)
        out->cpu_percent = (double)(out->cpu_total_ns - out->precpu_total_ns) /
                           (double)(out->system_cpu_ns - out->presystem_cpu_ns) * (out->online_cpus ? out->online_cpus : 1) *
                           100.0;
    const cJSON *mem = cJSON_GetObjectItemCaseSensitive(j, "memory_stats");
    out->memory_usage_bytes = unumber(mem, "usage");
    out->memory_limit_bytes = unumber(mem, "limit");
    const cJSON *net;
    cJSON_ArrayForEach(net, cJSON_GetObjectItemCaseSensitive(j, "networks"))
    {
        out->network_rx_bytes += unumber(net, "rx_bytes");
        out->network_tx_bytes += unumber(net, "tx_bytes");
    }
    const cJSON *io;
    cJSON_ArrayForEach(io, cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "blkio_stats"),
                                                            "io_service_bytes_recursive"))
    {
        const cJSON *op = cJSON_GetObjectItemCaseSensitive(io, "op");
        if (!cJSON_IsString(op)) continue;
        if (strcasecmp(op->valuestring, "read") == 0) out->block_read_bytes += unumber(io, "value");
        if (strcasecmp(op->valuestring, "write") == 0) out->block_write_bytes += unumber(io, "value");
    }
    out->pids = unumber(cJSON_GetObjectItemCaseSensitive(j, "pids_stats"), "current");
    cJSON_Delete(j);
    return 0;
}

struct log_stream {
    struct docker_frame_decoder decoder;
    struct cohort_error *err;
    int rc;
};

static int on_log_bytes(void *ctx, const char *data, size_t len)
{
    struct log_stream *s = ctx;
    s->rc = docker_frame_decoder_feed(&s->decoder, (const uint8_t *)data, len, s->err);
    return s->rc != 0;
}

int docker_container_logs(struct docker_client *c, const char *name, unsigned tail, size_t max_bytes,
                          void (*on_chunk)(void *ctx, int stream, const char *data, size_t len), void *ctx,
                          struct cohort_error *err)
{
    char what[320], path[400], suffix[96];
    if (tail) snprintf(suffix, sizeof suffix, "/logs?stdout=1&stderr=1&tail=%u", tail);
    else snprintf(suffix, sizeof suffix, "/logs?stdout=1&stderr=1");
    int rc = container_path("logs of", name, suffix, what, sizeof what, path, sizeof path, err);
    if (rc < 0) return rc;
    struct log_stream s = {.err = err};
    docker_frame_decoder_init(&s.decoder, max_bytes, on_chunk, ctx);
    rc = docker_request(c, &(struct docker_request_options){.method = "GET", .path = path,
            .timeout_ms = STREAM_TIMEOUT_MS, .stream = on_log_bytes, .stream_ctx = &s, .what = what}, err);
    docker_frame_decoder_free(&s.decoder);
    if (s.rc < 0) return cohort_error_wrap(err, "%s", what);
    return rc;
}

/* /events answers one JSON object per line. */
struct event_stream {
    char line[16384];
    size_t len;
    bool overflow;
    int (*on_event)(void *ctx, const struct docker_event *event);
    void *ctx;
};

static int event_line(struct event_stream *s)
{
    cJSON *j = cJSON_ParseWithLength(s->line, s->len);
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return 0; /* not an event: skip, the stream goes on */
    }
    struct docker_event e = {.exit_code = -1};
    copy(j, "Type", e.type, sizeof e.type);
    copy(j, "Action", e.action, sizeof e.action);
    const cJSON *actor = cJSON_GetObjectItemCaseSensitive(j, "Actor");
    copy(actor, "ID", e.id, sizeof e.id);
    const cJSON *attrs = cJSON_GetObjectItemCaseSensitive(actor, "Attributes");
    copy(attrs, "name", e.name, sizeof e.name);
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(attrs, "exitCode");
    if (cJSON_IsString(code)) e.exit_code = atoi(code->valuestring);
    e.time_ns = number(j, "timeNano");
    cJSON_Delete(j);
    return s->on_event(s->ctx, &e);
}

static int on_event_bytes(void *ctx, const char *data, size_t len)
{
    struct event_stream *s = ctx;
    for (size_t i = 0; i < len; i++) {
        if (data[i] == '\n') {
            int stop = s->overflow ? 0 : event_line(s);
            s->len = 0;
            s->overflow = false;
            if (stop) return 1;
        } else if (s->len < sizeof s->line) {
            s->line[s->len++] = data[i];
        } else {
            s->overflow = true; /* an event past 16 KiB: dropped, never a crash */
        }
    }
    return 0;
}

int docker_events(struct docker_client *c, const struct docker_label *labels, size_t nlabels, int64_t since_ns,
                  long timeout_ms, int (*on_event)(void *ctx, const struct docker_event *event), void *ctx,
                  struct cohort_error *err)
{
    char filter[2048], path[2300];
    int rc = docker_label_filter(c, labels, nlabels, filter, sizeof filter, err);
    if (rc < 0) return rc;
    if (since_ns > 0)
        snprintf(path, sizeof path, "/events?filters=%s&since=%lld.%09lld", filter, (long long)(since_ns / 1000000000),
                 (long long)(since_ns % 1000000000));
    else snprintf(path, sizeof path, "/events?filters=%s", filter);
    struct event_stream *s = calloc(1, sizeof *s);
    if (s == NULL) return cohort_error_set(err, DOCKER_E_NOMEM, DOMAIN, "events: out of memory");
    s->on_event = on_event;
    s->ctx = ctx;
    rc = docker_request(c, &(struct docker_request_options){.method = "GET", .path = path,
            .timeout_ms = or_none(timeout_ms), .stream = on_event_bytes, .stream_ctx = s, .what = "events"}, err);
    free(s);
    return rc;
}
