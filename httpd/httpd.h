/*
 * httpd.h - the small HTTP server behind cohort-core's local API and the subnode's
 * endpoints (libmicrohttpd): routes of exact paths to handlers that return a status and a
 * body. http_start serves from one polling thread (handlers must not block);
 * http_start_blocking gives each connection its own thread, so a handler may block (the
 * config store's writes wait for their commit, its watches for a change). Request bodies are capped (HTTP_MAX_BODY);
 * a larger one is answered 413 without being kept.
 *
 * http_start_api adds what a local API that browsers can reach needs (docs/cohort-core.md
 * "The local API"): a Host header must be an IP address or localhost (a page whose name
 * was made to point at 127.0.0.1, DNS rebinding, is refused); an Origin header must be
 * the API's own (a foreign page's request is refused); and a route with needs_token takes
 * only requests that carry "Authorization: Bearer TOKEN" (compared in constant time).
 * Refusals are 403 and 401, with a JSON error that says what to do.
 */
#ifndef COHORT_HTTPD_H
#define COHORT_HTTPD_H

#include <stdbool.h>
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
    bool needs_token;                 /* http_start_api: only with the API's token */
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

/* Like http_start_blocking, with the checks of a local API (above); token: 64 hex digits. */
int http_start_api(struct http_server **out, const char *bind_address, uint16_t port, const struct http_route *routes,
                   size_t nroutes, const char *token, struct cohort_error *err);

/* The checks of http_start_api on one request's headers (NULL: absent), for tests and the
   fuzz target: 0 to serve it, else the HTTP status, with the reason in why. */
unsigned http_api_check(const char *host, const char *origin, const char *authorization, bool needs_token,
                        const char *token, char *why, size_t why_cap);

/* Stops accepting, finishes the requests in flight, frees the server. */
void http_stop(struct http_server *server);

#endif
