/*
 * client.c - the Docker Engine API transport: HTTP over the unix socket with libcurl,
 * version negotiation, error mapping; and the small object families (ping, version,
 * volumes, images).
 */
#include <assert.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

const char *docker_strerror(int code)
{
    switch ((enum docker_status)code) {
    case DOCKER_OK: return "success";
    case DOCKER_E_INVALID: return "invalid argument";
    case DOCKER_E_UNAVAILABLE: return "docker daemon unavailable";
    case DOCKER_E_NOT_FOUND: return "no such object";
    case DOCKER_E_CONFLICT: return "conflict";
    case DOCKER_E_HTTP: return "HTTP error";
    case DOCKER_E_MALFORMED: return "malformed response";
    case DOCKER_E_TOO_LARGE: return "response too large";
    case DOCKER_E_NOMEM: return "out of memory";
    case DOCKER_E_IO: return "I/O error";
    case DOCKER_E_VERSION: return "daemon API too old";
    }
    return "unknown error";
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

int docker_check_name(const char *what, const char *name, struct cohort_error *err)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > 255) return cohort_error_set(err, DOCKER_E_INVALID, DOMAIN, "%s: empty or too long name", what);
    for (size_t i = 0; i < n; i++) {
        char ch = name[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
                  ch == '_' || ch == '.' || ch == ':' || ch == '/';
        if (!ok)
            return cohort_error_set(err, DOCKER_E_INVALID, DOMAIN, "%s: name '%.64s' has character '%c'", what, name, ch);
    }
    return 0;
}

struct sink {
    char *data;
    size_t len, cap, limit;
    bool too_large;
    stream_fn stream;
    void *stream_ctx;
    bool stopped;
    long *status;
    CURL *curl;
};

static size_t on_data(char *chunk, size_t size, size_t nmemb, void *userdata)
{
    struct sink *s = userdata;
    size_t n = size * nmemb;
    if (s->stream != NULL) {
        long status = 0;
        curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &status);
        if (status >= 200 && status < 300) {
            if (s->stream(s->stream_ctx, chunk, n) != 0) {
                s->stopped = true;
                return 0;
            }
            return n;
        }
    }
    if (n > s->limit - s->len) {
        s->too_large = true;
        return 0;
    }
    if (s->len + n + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 4096;
        while (cap < s->len + n + 1) cap *= 2;
        char *grown = realloc(s->data, cap);
        if (grown == NULL) return 0;
        s->data = grown;
        s->cap = cap;
    }
    memcpy(s->data + s->len, chunk, n);
    s->len += n;
    s->data[s->len] = '\0';
    return n;
}

int docker_request(struct docker_client *c, const struct docker_request_options *r, struct cohort_error *err)
{
    const char *method = r->method, *path = r->path, *what = r->what;
    const struct request_body *body = r->body;
    stream_fn stream = r->stream;
    long timeout_ms = r->timeout_ms == 0 ? c->timeout_ms : r->timeout_ms;
    assert(method != NULL && what != NULL);
    assert(path[0] == '/');
    bool raw_path = r->raw_path;
    char url[4096];
    if (snprintf(url, sizeof url, raw_path ? "http://localhost%s%s" : "http://localhost/v%s%s",
                 raw_path ? "" : c->api_version, path) >= (int)sizeof url)
        return cohort_error_set(err, DOCKER_E_INVALID, DOMAIN, "%s: request path too long", what);
    struct sink s = {.limit = RESPONSE_MAX, .stream = stream, .stream_ctx = r->stream_ctx, .curl = c->curl};
    struct curl_slist *headers = NULL;
    CURL *h = c->curl;
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, c->socket_path);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 3000L);
    if (timeout_ms > 0) curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
    if (body != NULL) {
        char type[128];
        snprintf(type, sizeof type, "Content-Type: %s", body->content_type ? body->content_type : "application/json");
        headers = curl_slist_append(headers, type);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body->data);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body->len);
    } else if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, 0L);
    }
    headers = curl_slist_append(headers, "Expect:"); /* no 100-continue round trip for bodies */
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    CURLcode rc = curl_easy_perform(h);
    curl_slist_free_all(headers);
    long code = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    if (r->status) *r->status = code;

    int result = 0;
    if (s.stopped && code >= 200 && code < 300) {
        result = 0; /* the stream consumer asked to stop */
    } else if (rc == CURLE_OPERATION_TIMEDOUT && stream != NULL && code >= 200 && code < 300) {
        result = 0; /* a stream read for its whole time budget */
    } else if (s.too_large) {
        result = cohort_error_set(err, DOCKER_E_TOO_LARGE, DOMAIN, "%s: response larger than %u bytes", what, RESPONSE_MAX);
    } else if (rc == CURLE_COULDNT_CONNECT || (rc != CURLE_OK && code == 0)) {
        result = cohort_error_set(err, DOCKER_E_UNAVAILABLE, DOMAIN,
                                  "%s: cannot talk to dockerd at %s (%s); is it running? Start it with "
                                  "'systemctl start docker' or 'dockerd &'",
                                  what, c->socket_path, curl_easy_strerror(rc));
    } else if (rc != CURLE_OK) {
        result = cohort_error_set(err, DOCKER_E_UNAVAILABLE, DOMAIN, "%s: %s", what, curl_easy_strerror(rc));
    } else if (code >= 300 && code != 304) {
        const char *message = s.data ? s.data : "";
        cJSON *j = s.data ? cJSON_ParseWithLength(s.data, s.len) : NULL;
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "message");
        if (cJSON_IsString(m)) message = m->valuestring;
        int kind = code == 404 ? DOCKER_E_NOT_FOUND : code == 409 ? DOCKER_E_CONFLICT : DOCKER_E_HTTP;
        result = cohort_error_set(err, kind, DOMAIN, "%s: HTTP %ld: %.300s", what, code, message);
        cJSON_Delete(j);
    }
    if (result == 0 && r->out != NULL) {
        *r->out = s.data ? s.data : strdup("");
        if (r->out_len) *r->out_len = s.len;
        if (*r->out == NULL) return cohort_error_set(err, DOCKER_E_NOMEM, DOMAIN, "%s: out of memory", what);
        return 0;
    }
    free(s.data);
    return result;
}

/* "1.41" < "1.9"? Compares dotted versions numerically. */
static int compare_versions(const char *a, const char *b)
{
    while (*a || *b) {
        long x = strtol(a, (char **)&a, 10), y = strtol(b, (char **)&b, 10);
        if (x != y) return x < y ? -1 : 1;
        if (*a == '.') a++;
        if (*b == '.') b++;
        if (!*a && !*b) break;
    }
    return 0;
}

int docker_open(struct docker_client **out, const char *socket_path, struct cohort_error *err)
{
    *out = NULL;
    const char *path = socket_path;
    const char *env = getenv("DOCKER_HOST");
    if (path == NULL && env != NULL && strncmp(env, "unix://", 7) == 0) path = env + 7;
    if (path == NULL) path = "/var/run/docker.sock";
    if (env != NULL && socket_path == NULL && strncmp(env, "unix://", 7) != 0 && env[0] != '\0')
        return cohort_error_set(err, DOCKER_E_INVALID, DOMAIN,
                                "DOCKER_HOST=%s: only unix:// sockets are supported (cohort-core runs beside dockerd)", env);
    pthread_once(&curl_once, curl_init_once);
    struct docker_client *c = calloc(1, sizeof *c);
    if (c == NULL) return cohort_error_set(err, DOCKER_E_NOMEM, DOMAIN, "out of memory");
    if (strlen(path) >= sizeof c->socket_path) {
        free(c);
        return cohort_error_set(err, DOCKER_E_INVALID, DOMAIN, "socket path %s is too long", path);
    }
    snprintf(c->socket_path, sizeof c->socket_path, "%s", path);
    c->curl = curl_easy_init();
    c->timeout_ms = 30000;
    if (c->curl == NULL) {
        free(c);
        return cohort_error_set(err, DOCKER_E_NOMEM, DOMAIN, "cannot initialise libcurl");
    }
    /* Negotiate: /version without a version prefix answers on every API version. */
    char *body = NULL;
    int rc = docker_request(c, &(struct docker_request_options){.method = "GET", .path = "/version", .raw_path = true,
            .timeout_ms = 5000, .out = &body, .what = "version"}, err);
    if (rc < 0) {
        docker_close(c);
        return rc;
    }
    cJSON *j = cJSON_Parse(body);
    free(body);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "ApiVersion");
    if (!cJSON_IsString(v) || strlen(v->valuestring) >= sizeof c->api_version) {
        cJSON_Delete(j);
        docker_close(c);
        return cohort_error_set(err, DOCKER_E_MALFORMED, DOMAIN, "version: no ApiVersion in the daemon's answer");
    }
    if (compare_versions(v->valuestring, DOCKER_MIN_API_VERSION) < 0) {
        rc = cohort_error_set(err, DOCKER_E_VERSION, DOMAIN, "dockerd speaks API %s; cohort needs %s or newer",
                              v->valuestring, DOCKER_MIN_API_VERSION);
        cJSON_Delete(j);
        docker_close(c);
        return rc;
    }
    snprintf(c->api_version, sizeof c->api_version, "%s",
             compare_versions(v->valuestring, DOCKER_MAX_API_VERSION) < 0 ? v->valuestring : DOCKER_MAX_API_VERSION);
    cJSON_Delete(j);
    *out = c;
    return 0;
}

void docker_close(struct docker_client *c)
{
    if (c == NULL) return;
    if (c->curl) curl_easy_cleanup(c->curl);
    free(c);
}

const char *docker_api_version(const struct docker_client *c) { return c->api_version; }
void docker_set_timeout(struct docker_client *c, long timeout_ms) { c->timeout_ms = timeout_ms; }

int docker_ping(struct docker_client *c, struct cohort_error *err)
{
    char *body = NULL;
    int rc = docker_request(c, &(struct docker_request_options){.method = "GET", .path = "/_ping", .out = &body,
            .what = "ping"}, err);
    if (rc == 0 && strcmp(body, "OK") != 0) rc = cohort_error_set(err, DOCKER_E_MALFORMED, DOMAIN, "ping: answer '%.20s'", body);
    free(body);
    return rc;
}

static void copy_string(const cJSON *obj, const char *key, char *out, size_t size)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    snprintf(out, size, "%s", cJSON_IsString(v) ? v->valuestring : "");
}

int docker_version(struct docker_client *c, struct docker_version *out, struct cohort_error *err)
{
    memset(out, 0, sizeof *out);
    char *body = NULL;
    int rc = docker_request(c, &(struct docker_request_options){.method = "GET", .path = "/version", .out = &body,
            .what = "version"}, err);
    if (rc < 0) return rc;
    cJSON *j = cJSON_Parse(body);
    free(body);
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return cohort_error_set(err, DOCKER_E_MALFORMED, DOMAIN, "version: answer is not a JSON object");
    }
    copy_string(j, "Version", out->version, sizeof out->version);
    copy_string(j, "ApiVersion", out->api_version, sizeof out->api_version);
    copy_string(j, "Os", out->os, sizeof out->os);
    copy_string(j, "Arch", out->arch, sizeof out->arch);
    cJSON_Delete(j);
    rc = docker_request(c, &(struct docker_request_options){.method = "GET", .path = "/info", .out = &body,
            .what = "info"}, err);
    if (rc < 0) return rc;
    j = cJSON_Parse(body);
    free(body);
    const cJSON *ncpu = cJSON_GetObjectItemCaseSensitive(j, "NCPU"), *mem = cJSON_GetObjectItemCaseSensitive(j, "MemTotal");
    if (cJSON_IsNumber(ncpu)) out->ncpu = ncpu->valueint;
    if (cJSON_IsNumber(mem) && mem->valuedouble > 0) out->memory_bytes = (uint64_t)mem->valuedouble;
    cJSON_Delete(j);
    return 0;
}

int docker_label_filter(struct docker_client *c, const struct docker_label *labels, size_t nlabels, char *out,
                        size_t out_size, struct cohort_error *err)
{
    cJSON *filters = cJSON_CreateObject();
    cJSON *list = cJSON_AddArrayToObject(filters, "label");
    for (size_t i = 0; i < nlabels; i++) {
        char kv[512];
        if (labels[i].value) snprintf(kv, sizeof kv, "%s=%s", labels[i].key, labels[i].value);
        else snprintf(kv, sizeof kv, "%s", labels[i].key);
        cJSON_AddItemToArray(list, cJSON_CreateString(kv));
    }
    char *text = cJSON_PrintUnformatted(filters);
    cJSON_Delete(filters);
    char *escaped = text ? curl_easy_escape(c->curl, text, 0) : NULL;
    free(text);
    if (escaped == NULL) return cohort_error_set(err, DOCKER_E_NOMEM, DOMAIN, "label filter: out of memory");
    int rc = 0;
    if (snprintf(out, out_size, "%s", escaped) >= (int)out_size)
        rc = cohort_error_set(err, DOCKER_E_INVALID, DOMAIN, "label filter: too many labels");
    curl_free(escaped);
    return rc;
}

/* ---- Volumes ---- */

static cJSON *labels_object(const struct docker_label *labels, size_t nlabels)
{
    cJSON *o = cJSON_CreateObject();
    for (size_t i = 0; i < nlabels; i++) cJSON_AddStringToObject(o, labels[i].key, labels[i].value ? labels[i].value : "");
    return o;
}

static int post_json(struct docker_client *c, const char *path, cJSON *json, char **out, const char *what,
                     struct cohort_error *err)
{
    char *text = cJSON_PrintUnformatted(json);
    cJSON_Delete(json);
    if (text == NULL) return cohort_error_set(err, DOCKER_E_NOMEM, DOMAIN, "%s: out of memory", what);
    struct request_body body = {.data = text, .len = strlen(text)};
    int rc = docker_request(c, &(struct docker_request_options){.method = "POST", .path = path, .body = &body,
            .out = out, .what = what}, err);
    free(text);
    return rc;
}

int docker_volume_create(struct docker_client *c, const char *name, const struct docker_label *labels, size_t nlabels,
                         struct cohort_error *err)
{
    char what[320];
    snprintf(what, sizeof what, "create volume %s", name);
    int rc = docker_check_name(what, name, err);
    if (rc < 0) return rc;
    cJSON *req = cJSON_CreateObject();
    cJSON_AddStringToObject(req, "Name", name);
    cJSON_AddStringToObject(req, "Driver", "local");
    cJSON_AddItemToObject(req, "Labels", labels_object(labels, nlabels));
    return post_json(c, "/volumes/create", req, NULL, what, err);
}

int docker_volume_inspect(struct docker_client *c, const char *name, char *mountpoint, size_t mountpoint_size,
                          struct cohort_error *err)
{
    char what[320], path[320];
    snprintf(what, sizeof what, "inspect volume %s", name);
    int rc = docker_check_name(what, name, err);
    if (rc < 0) return rc;
    snprintf(path, sizeof path, "/volumes/%s", name);
    char *body = NULL;
    if ((rc = docker_request(c, &(struct docker_request_options){.method = "GET", .path = path, .out = &body,
            .what = what}, err)) < 0)
        return rc;
    cJSON *j = cJSON_Parse(body);
    free(body);
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "Mountpoint");
    if (!cJSON_IsString(m)) rc = cohort_error_set(err, DOCKER_E_MALFORMED, DOMAIN, "%s: no Mountpoint", what);
    else if (mountpoint) snprintf(mountpoint, mountpoint_size, "%s", m->valuestring);
    cJSON_Delete(j);
    return rc;
}

int docker_volume_remove(struct docker_client *c, const char *name, bool force, struct cohort_error *err)
{
    char what[320], path[340];
    snprintf(what, sizeof what, "remove volume %s", name);
    int rc = docker_check_name(what, name, err);
    if (rc < 0) return rc;
    snprintf(path, sizeof path, "/volumes/%s%s", name, force ? "?force=1" : "");
    return docker_request(c, &(struct docker_request_options){.method = "DELETE", .path = path, .what = what}, err);
}

int docker_volume_list(struct docker_client *c, const struct docker_label *labels, size_t nlabels,
                       struct docker_name **out, size_t *count, struct cohort_error *err)
{
    *out = NULL;
    *count = 0;
    char filter[2048], path[2200];
    int rc = docker_label_filter(c, labels, nlabels, filter, sizeof filter, err);
    if (rc < 0) return rc;
    snprintf(path, sizeof path, "/volumes?filters=%s", filter);
    char *body = NULL;
    size_t len = 0;
    if ((rc = docker_request(c, &(struct docker_request_options){.method = "GET", .path = path, .out = &body,
            .out_len = &len, .what = "list volumes"}, err)) < 0)
        return rc;
    cJSON *j = cJSON_ParseWithLength(body, len);
    free(body);
    const cJSON *volumes = cJSON_GetObjectItemCaseSensitive(j, "Volumes");
    if (!cJSON_IsArray(volumes) && !cJSON_IsNull(volumes)) {
        cJSON_Delete(j);
        return cohort_error_set(err, DOCKER_E_MALFORMED, DOMAIN, "list volumes: no Volumes array in the answer");
    }
    size_t n = cJSON_IsArray(volumes) ? (size_t)cJSON_GetArraySize(volumes) : 0;
    struct docker_name *names = calloc(n ? n : 1, sizeof *names);
    if (names == NULL) {
        cJSON_Delete(j);
        return cohort_error_set(err, DOCKER_E_NOMEM, DOMAIN, "list volumes: out of memory");
    }
    size_t i = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, volumes)
    {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(v, "Name");
        if (cJSON_IsString(name)) snprintf(names[i++].name, DOCKER_NAME_MAX, "%s", name->valuestring);
    }
    cJSON_Delete(j);
    *out = names;
    *count = i;
    return 0;
}

/* ---- Images ---- */

int docker_image_inspect(struct docker_client *c, const char *name, struct docker_image *out, struct cohort_error *err)
{
    char what[320], path[340];
    snprintf(what, sizeof what, "inspect image %s", name);
    int rc = docker_check_name(what, name, err);
    if (rc < 0) return rc;
    snprintf(path, sizeof path, "/images/%s/json", name);
    char *body = NULL;
    if ((rc = docker_request(c, &(struct docker_request_options){.method = "GET", .path = path, .out = &body,
            .what = what}, err)) < 0)
        return rc;
    cJSON *j = cJSON_Parse(body);
    free(body);
    memset(out, 0, sizeof *out);
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "Id"), *size = cJSON_GetObjectItemCaseSensitive(j, "Size");
    if (!cJSON_IsString(id)) rc = cohort_error_set(err, DOCKER_E_MALFORMED, DOMAIN, "%s: no Id", what);
    else snprintf(out->id, sizeof out->id, "%s", id->valuestring);
    if (cJSON_IsNumber(size)) out->size_bytes = (int64_t)size->valuedouble;
    cJSON_Delete(j);
    return rc;
}

int docker_image_remove(struct docker_client *c, const char *name, bool force, struct cohort_error *err)
{
    char what[320], path[340];
    snprintf(what, sizeof what, "remove image %s", name);
    int rc = docker_check_name(what, name, err);
    if (rc < 0) return rc;
    snprintf(path, sizeof path, "/images/%s%s", name, force ? "?force=1" : "");
    return docker_request(c, &(struct docker_request_options){.method = "DELETE", .path = path, .what = what}, err);
}

/* The build answers a stream of JSON objects, one per line: {"stream": text} for output,
   {"aux": {"ID": ...}} for the image id, {"error": text} when the build fails (with HTTP 200). */
struct build_state {
    char line[65536];
    size_t len;
    char error[512];
    char image_id[80];
    void (*on_line)(void *ctx, const char *line);
    void *ctx;
};

static void build_message(struct build_state *b, const char *text, size_t len)
{
    cJSON *j = cJSON_ParseWithLength(text, len);
    const cJSON *stream = cJSON_GetObjectItemCaseSensitive(j, "stream");
    const cJSON *error = cJSON_GetObjectItemCaseSensitive(j, "error");
    const cJSON *aux = cJSON_GetObjectItemCaseSensitive(j, "aux");
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(aux, "ID");
    if (cJSON_IsString(stream) && b->on_line) b->on_line(b->ctx, stream->valuestring);
    if (cJSON_IsString(error)) snprintf(b->error, sizeof b->error, "%s", error->valuestring);
    if (cJSON_IsString(id)) snprintf(b->image_id, sizeof b->image_id, "%s", id->valuestring);
    cJSON_Delete(j);
}

static int on_build_bytes(void *ctx, const char *data, size_t len)
{
    struct build_state *b = ctx;
    for (size_t i = 0; i < len; i++) {
        if (data[i] == '\n') {
            if (b->len > 0) build_message(b, b->line, b->len);
            b->len = 0;
        } else if (b->len < sizeof b->line - 1) {
            b->line[b->len++] = data[i];
        }
    }
    return 0;
}

int docker_image_build(struct docker_client *c, const char *context_dir, const char *tag,
                       const struct docker_label *labels, size_t nlabels, void (*on_line)(void *ctx, const char *line),
                       void *ctx, char *image_id, struct cohort_error *err)
{
    char what[400];
    snprintf(what, sizeof what, "build image %s from %s", tag, context_dir);
    int rc = docker_check_name(what, tag, err);
    if (rc < 0) return rc;
    char *tar = NULL;
    size_t tar_len = 0;
    if ((rc = docker_tar_directory(context_dir, 512u << 20, &tar, &tar_len, err)) < 0) return cohort_error_wrap(err, "%s", what);

    cJSON *l = labels_object(labels, nlabels);
    char *labels_json = cJSON_PrintUnformatted(l);
    cJSON_Delete(l);
    char *labels_escaped = labels_json ? curl_easy_escape(c->curl, labels_json, 0) : NULL;
    free(labels_json);
    char *path = malloc(strlen(tag) + (labels_escaped ? strlen(labels_escaped) : 0) + 64);
    if (path == NULL || labels_escaped == NULL) {
        free(path);
        curl_free(labels_escaped);
        free(tar);
        return cohort_error_set(err, DOCKER_E_NOMEM, DOMAIN, "%s: out of memory", what);
    }
    sprintf(path, "/build?t=%s&rm=1&forcerm=1&labels=%s", tag, labels_escaped);
    curl_free(labels_escaped);
    struct build_state *b = calloc(1, sizeof *b);
    b->on_line = on_line;
    b->ctx = ctx;
    struct request_body body = {.data = tar, .len = tar_len, .content_type = "application/x-tar"};
    rc = docker_request(c, &(struct docker_request_options){.method = "POST", .path = path, .body = &body,
            .timeout_ms = 600000, .stream = on_build_bytes, .stream_ctx = b, .what = what}, err);
    if (rc == 0 && b->len > 0) build_message(b, b->line, b->len);
    if (rc == 0 && b->error[0]) rc = cohort_error_set(err, DOCKER_E_HTTP, DOMAIN, "%s: %s", what, b->error);
    if (rc == 0 && image_id) snprintf(image_id, 80, "%s", b->image_id);
    free(b);
    free(path);
    free(tar);
    return rc;
}
