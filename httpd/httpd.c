/* httpd.c - a small route table over libmicrohttpd (see httpd.h). */
#include "httpd.h"

#include <arpa/inet.h>
#include <assert.h>
#include <microhttpd.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define DOMAIN "httpd"

struct http_server {
    struct MHD_Daemon *daemon;
    const struct http_route *routes;
    size_t nroutes;
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
                 size_t nroutes, unsigned flags, struct cohort_error *err)
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
                 MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG, err);
}

int http_start_blocking(struct http_server **out, const char *bind_address, uint16_t port,
                        const struct http_route *routes, size_t nroutes, struct cohort_error *err)
{
    return start(out, bind_address, port, routes, nroutes,
                 MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL | MHD_USE_ERROR_LOG,
                 err);
}

void http_stop(struct http_server *s)
{
    if (s == NULL) return;
    MHD_stop_daemon(s->daemon);
    free(s);
}
