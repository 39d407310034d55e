/*
 * httpd.h - the small HTTP server behind cohort-core's local API and the subnode's
 * endpoints (libmicrohttpd): routes of exact paths to handlers that return a status and a
 * body. http_start serves from one polling thread (handlers must not block);
 * http_start_blocking gives each connection its own thread, so a handler may block (the
 * config store's writes wait for their commit, its watches for a change). Request bodies are capped (HTTP_MAX_BODY);
 * a larger one is answered 413 without being kept.
 */
#ifndef COHORT_HTTPD_H
#define COHORT_HTTPD_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

#define HTTP_MAX_BODY (5u << 20)

struct http_response {
    unsigned status;
    char *body;              /* malloc'd; the server frees it */
    const char *content_type; /* static */
};

/* A handler: method ("GET"), the request body (NUL-terminated, may be empty). Fills out. */
typedef void (*http_handler)(void *ctx, const char *method, const char *body, size_t body_len,
                             struct http_response *out);

/* A handler that also gets the request's raw query string: what follows '?' in the URL,
   still percent-encoded, "" when there is none (at most HTTP_MAX_QUERY bytes; longer is 414). */
typedef void (*http_query_handler)(void *ctx, const char *method, const char *query, const char *body,
                                   size_t body_len, struct http_response *out);

#define HTTP_MAX_QUERY 4096

struct http_route {
    const char *path;
    http_handler handler;
    void *ctx;
    http_query_handler query_handler; /* when set, called instead of handler */
};

struct http_server;

/*
 * Starts serving routes (an array of nroutes, kept by reference: it must outlive the
 * server) on bind_address:port. The subnode binds only its own slot's ports.
 */
int http_start(struct http_server **out, const char *bind_address, uint16_t port, const struct http_route *routes,
               size_t nroutes, struct cohort_error *err);

/* Like http_start, with a thread per connection: for handlers that block. */
int http_start_blocking(struct http_server **out, const char *bind_address, uint16_t port,
                        const struct http_route *routes, size_t nroutes, struct cohort_error *err);

/* Stops accepting, finishes the requests in flight, frees the server. */
void http_stop(struct http_server *server);

#endif
