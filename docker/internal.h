/* internal.h - what the files of the docker library share; not part of its API. */
#ifndef COHORT_DOCKER_INTERNAL_H
#define COHORT_DOCKER_INTERNAL_H

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "docker.h"

#define DOMAIN "docker"
#define RESPONSE_MAX (8u << 20) /* any non-streamed answer: container lists of thousands fit */

struct docker_client {
    CURL *curl;
    char socket_path[108]; /* sun_path's size */
    char api_version[16];
    long timeout_ms;
};

/* A request body: JSON text, or raw bytes with a content type (a tar for builds). */
struct request_body {
    const char *data;
    size_t len;
    const char *content_type;
};

/* Receives streamed response bytes; return non-zero to stop the transfer. */
typedef int (*stream_fn)(void *ctx, const char *data, size_t len);

/* A request's timeout_ms that means "none" (a stream read until its consumer stops it). */
#define DOCKER_NO_TIMEOUT (-1L)

/*
 * One request to dockerd, built with designated initialisers; what is left out is zero:
 * no body, the client's timeout, no status wanted, the answer discarded.
 */
struct docker_request_options {
    const char *method;              /* "GET", "POST", "DELETE" */
    const char *path;                /* starts with '/'; sent as /v{api}/path unless raw_path */
    bool raw_path;                   /* versionless (the version negotiation's own request) */
    const struct request_body *body; /* NULL: none (a POST then sends an empty body) */
    long timeout_ms;                 /* 0: the client's (docker_set_timeout); DOCKER_NO_TIMEOUT: none */
    long *status;                    /* if not NULL: set to the HTTP status */
    char **out;                      /* if not NULL: the body of a success, malloc'd, NUL-terminated */
    size_t *out_len;                 /* if not NULL (with out): its length */
    stream_fn stream;                /* if not NULL: a success's body bytes go here instead of out */
    void *stream_ctx;
    const char *what;                /* names the request in errors: "create container x" */
};

/*
 * Performs the request r. On HTTP success (2xx, 304) returns 0 with *r->status set and,
 * when r->out is not NULL, the body in a malloc'd NUL-terminated *r->out the caller frees
 * (capped at RESPONSE_MAX). When r->stream is not NULL, body bytes of a success go to it
 * instead. On failure err names r->what (e.g. "create container x"), the status and
 * Docker's message.
 */
int docker_request(struct docker_client *c, const struct docker_request_options *r, struct cohort_error *err);

/* URL-encodes a label filter {"label":["k=v",...]} into out. Returns 0 or an error. */
int docker_label_filter(struct docker_client *c, const struct docker_label *labels, size_t nlabels, char *out,
                        size_t out_size, struct cohort_error *err);

/* Builds an uncompressed tar of dir's files and folders in memory (at most max bytes). */
int docker_tar_directory(const char *dir, size_t max, char **out, size_t *out_len, struct cohort_error *err);

/* Checks a container or image name/tag for characters that need no URL escaping. */
int docker_check_name(const char *what, const char *name, struct cohort_error *err);

#endif
