/* httpd.c - a small route table over libmicrohttpd (see httpd.h). */
#include "httpd.h"

#include <arpa/inet.h>
#include <assert.h>
#include <microhttpd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DOMAIN "httpd"

struct http_server {
    struct MHD_Daemon *daemon;
    const struct http_route *routes;
    size_t nroutes;
    bool guarded;   /* http_start_api */
    char token[65];
};

/* Per-request state: the body collected so far, and the raw query string. */
struct request {
    char *body;
    size_t len;
    bool too_large;
    char *query;         /* after '?', percent-encoded; NULL when none */
    bool query_too_long;
    bool headers_seen;
};

/* MHD hands us the raw URI before it parses it: keep the query string, which it would
   otherwise give us only decoded and split. Its return value becomes the request state. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
    (void)cls;
    (void)c;
    struct request *req = calloc(1, sizeof *req);
    if (req == NULL) return NULL;
    const char *q = uri ? strchr(uri, '?') : NULL;
    if (q != NULL) {
        size_t n = strlen(q + 1);
        if (n > HTTP_MAX_QUERY) req->query_too_long = true;
        else req->query = strdup(q + 1);
    }
    return req;
}

static enum MHD_Result respond(struct MHD_Connection *c, unsigned status, char *body, const char *type)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
    if (r == NULL) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", type);
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

/* ---- The local API's checks (http_start_api) ---- */

/* host is "name" or "name:port" (IPv6 in brackets); true for an IP literal or localhost. */
static bool host_is_address(const char *host)
{
    size_t len = strlen(host);
    if (len == 0 || len > 255) return false;
    char name[256];
    if (host[0] == '[') { /* [v6]:port */
        const char *end = strchr(host, ']');
        if (end == NULL || (end[1] != '\0' && end[1] != ':')) return false;
        size_t n = (size_t)(end - host - 1);
        memcpy(name, host + 1, n);
        name[n] = '\0';
        struct in6_addr a6;
        return inet_pton(AF_INET6, name, &a6) == 1;
    }
    const char *colon = strchr(host, ':');
    size_t n = colon ? (size_t)(colon - host) : len;
    memcpy(name, host, n);
    name[n] = '\0';
    if (colon != NULL) { /* a port: digits only */
        if (colon[1] == '\0' || strlen(colon + 1) > 5) return false;
        for (const char *p = colon + 1; *p; p++)
            if (*p < '0' || *p > '9') return false;
    }
    struct in_addr a4;
    return strcmp(name, "localhost") == 0 || inet_pton(AF_INET, name, &a4) == 1;
}

unsigned http_api_check(const char *host, const char *origin, const char *authorization, bool needs_token,
                        const char *token, char *why, size_t why_cap)
{
    if (host != NULL && !host_is_address(host)) {
        snprintf(why, why_cap, "Host '%.100s' is not an address of this API: use http://127.0.0.1:PORT (names other "
                 "than localhost are refused against DNS rebinding)", host);
        return 403;
    }
    /* A browser names the page that sends a request; only the API's own pages may. */
    if (origin != NULL) {
        bool same = host != NULL && strncmp(origin, "http://", 7) == 0 && strcmp(origin + 7, host) == 0;
        if (!same) {
            snprintf(why, why_cap, "requests from the web page at '%.100s' are refused: this API serves its own "
                     "pages only", origin);
            return 403;
        }
    }
    if (needs_token) {
        const char *prefix = "Bearer ";
        size_t want = strlen(token);
        bool ok = authorization != NULL && strncmp(authorization, prefix, 7) == 0 && strlen(authorization + 7) == want;
        unsigned char diff = ok ? 0 : 1;
        for (size_t i = 0; ok && i < want; i++) diff |= (unsigned char)(authorization[7 + i] ^ token[i]);
        if (diff != 0) {
            snprintf(why, why_cap, "this route needs the API's token: send 'Authorization: Bearer TOKEN' with the "
                     "token in cohort-core's STATE_DIR/api.token (the cohort CLI reads it by itself)");
            return 401;
        }
    }
    return 0;
}

static enum MHD_Result respond_error(struct MHD_Connection *c, unsigned status, const char *why);

/* {"error": why} with status; why holds no character JSON must escape but quotes (replaced). */
static enum MHD_Result respond_error(struct MHD_Connection *c, unsigned status, const char *why)
{
    size_t n = strlen(why);
    char *body = malloc(n + 16);
    if (body == NULL) return MHD_NO;
    size_t at = (size_t)sprintf(body, "{\"error\":\"");
    for (size_t i = 0; i < n; i++) body[at++] = why[i] == '"' || why[i] == '\\' || (unsigned char)why[i] < 0x20 ? '\'' : why[i];
    strcpy(body + at, "\"}");
    return respond(c, status, body, "application/json");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **state)
{
    (void)version;
    struct http_server *s = cls;
    struct request *req = *state;
    if (req == NULL) return MHD_NO; /* on_uri could not allocate it */
    if (!req->headers_seen) { /* headers arrived: read the body in the next calls */
        req->headers_seen = true;
        return MHD_YES;
    }
    if (*upload_size > 0) {
        if (req->too_large || *upload_size > HTTP_MAX_BODY - req->len) {
            req->too_large = true;
        } else {
            char *grown = realloc(req->body, req->len + *upload_size + 1);
            if (grown == NULL) return MHD_NO;
            req->body = grown;
            memcpy(req->body + req->len, upload, *upload_size);
            req->len += *upload_size;
            req->body[req->len] = '\0';
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (req->too_large) return respond(c, 413, strdup("{\"error\":\"request body too large\"}"), "application/json");
    for (size_t i = 0; i < s->nroutes; i++) {
        if (strcmp(s->routes[i].path, url) != 0) continue;
        if (s->guarded) {
            char why[400];
            unsigned refused =
                http_api_check(MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Host"),
                               MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin"),
                               MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization"),
                               s->routes[i].needs_token, s->token, why, sizeof why);
            if (refused) return respond_error(c, refused, why);
        }
        struct http_response out = {.status = 200, .content_type = "application/json"};
        if (s->routes[i].query_handler != NULL) {
            if (req->query_too_long) return respond(c, 414, strdup("{\"error\":\"query string too long\"}"), "application/json");
            s->routes[i].query_handler(s->routes[i].ctx, method, req->query ? req->query : "", req->body ? req->body : "",
                                       req->len, &out);
        } else {
            s->routes[i].handler(s->routes[i].ctx, method, req->body ? req->body : "", req->len, &out);
        }
        if (out.body == NULL) out.body = strdup("");
        return respond(c, out.status, out.body, out.content_type);
    }
    return respond(c, 404, strdup("{\"error\":\"not found\"}"), "application/json");
}

static void on_completed(void *cls, struct MHD_Connection *c, void **state, enum MHD_RequestTerminationCode code)
{
    (void)cls;
    (void)c;
    (void)code;
    struct request *req = *state;
    if (req != NULL) {
        free(req->body);
        free(req->query);
        free(req);
        *state = NULL;
    }
}

static int start(struct http_server **out, const char *bind_address, uint16_t port, const struct http_route *routes,
                 size_t nroutes, unsigned flags, const char *token, struct cohort_error *err)
{
    assert(out != NULL && routes != NULL);
    *out = NULL;
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port)};
    if (inet_pton(AF_INET, bind_address, &addr.sin_addr) != 1)
        return cohort_error_set(err, COMMON_E_INVALID, DOMAIN, "http: bind address '%s' is not an IPv4 address", bind_address);
    struct http_server *s = calloc(1, sizeof *s);
    if (s == NULL) return cohort_error_set(err, COMMON_E_NOMEM, DOMAIN, "http: out of memory");
    s->routes = routes;
    s->nroutes = nroutes;
    if (token != NULL) {
        s->guarded = true;
        snprintf(s->token, sizeof s->token, "%s", token);
    }
    s->daemon = MHD_start_daemon(flags, port, NULL, NULL,
                                 on_request, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
                                 MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_URI_LOG_CALLBACK, on_uri,
                                 NULL, MHD_OPTION_CONNECTION_LIMIT,
                                 (unsigned)256, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30, MHD_OPTION_END);
    if (s->daemon == NULL) {
        free(s);
        return cohort_error_set(err, COMMON_E_IO, DOMAIN, "http: cannot listen on %s:%u (port in use, or not ours?)",
                                bind_address, (unsigned)port);
    }
    *out = s;
    return 0;
}

int http_start(struct http_server **out, const char *bind_address, uint16_t port, const struct http_route *routes,
               size_t nroutes, struct cohort_error *err)
{
    return start(out, bind_address, port, routes, nroutes,
                 MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG, NULL, err);
}

int http_start_blocking(struct http_server **out, const char *bind_address, uint16_t port,
                        const struct http_route *routes, size_t nroutes, struct cohort_error *err)
{
    return start(out, bind_address, port, routes, nroutes,
                 MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL | MHD_USE_ERROR_LOG,
                 NULL, err);
}

int http_start_api(struct http_server **out, const char *bind_address, uint16_t port, const struct http_route *routes,
                   size_t nroutes, const char *token, struct cohort_error *err)
{
    assert(token != NULL && strlen(token) == 64);
    return start(out, bind_address, port, routes, nroutes,
                 MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL | MHD_USE_ERROR_LOG,
                 token, err);
}

void http_stop(struct http_server *s)
{
    if (s == NULL) return;
    MHD_stop_daemon(s->daemon);
    free(s);
}
