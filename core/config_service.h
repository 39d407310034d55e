/*
 * config_service.h - cohort-core's config store service: the BFT node of the cluster's log
 * (bft/node.h), the store it feeds (config_store.h), and the local API that `cohort config`
 * talks to (docs/cohort-core.md "Config store").
 *
 * A write through the API is encoded as a request, signed with this member's key (or sent
 * as it came, when a client signed it with an admin key), submitted to the log, and
 * answered when this member applies it: the answer is what the state machine did with it,
 * so it is linearizable. A read is linearizable too (it goes through the log as a
 * read-only transaction) unless the client asks for a serializable read of the local copy.
 *
 * The API (JSON over HTTP POST on the local API's port):
 *   /api/v1/config/txn     {"compare":[...], "success":[...], "failure":[...]} or {"signed":"0x…"}
 *   /api/v1/config/range   {"key":"k", "prefix":false, "serializable":false, "limit":0}
 *   /api/v1/config/watch   {"prefix":"", "from_revision":N, "timeout_ms":10000, "limit":1000}
 *   /api/v1/config/status  (GET)
 * A compare is {"key":"k", "target":"value"|"mod_revision"|"create_revision"|"version",
 * "result":"="|"!="|"<"|">", "value":"v" or "number":N}; an operation is
 * {"op":"put", "key":"k", "value":"v"}, {"op":"delete", "key":"k", "prefix":bool} or
 * {"op":"range", "key":"k", "prefix":bool}. Keys and values are text.
 */
#ifndef COHORT_CORE_CONFIG_SERVICE_H
#define COHORT_CORE_CONFIG_SERVICE_H

#include <stdbool.h>
#include <stdint.h>

#include "cluster.h"
#include "common/error.h"
#include "httpd/httpd.h"

struct config_service_options {
    const struct cluster *cluster;  /* copied */
    const uint8_t *private_key;     /* 32 bytes, copied; must be a member's key */
    const char *state_dir;          /* the WAL lives in state_dir/config/ */
    uint32_t commit_timeout_ms;     /* how long a write waits for its commit (0: 15000) */
    bool equivocate;                /* Byzantine test build only (cohort-core-byzantine) */
};

struct config_service;

/*
 * Replays the WAL into a fresh store, then joins the cluster. Returns 0, or an error that
 * says what to fix (a key that is not a member's, a corrupt WAL, a port in use).
 */
int config_service_start(const struct config_service_options *options, struct config_service **out,
                         struct cohort_error *err);

/* Wakes every waiting request and watch (they answer at once); call before http_stop. */
void config_service_quiesce(struct config_service *svc);

/* Leaves the cluster, waking every waiting request (they answer 503), and frees svc. NULL is fine. */
void config_service_stop(struct config_service *svc);

/* The API's handlers; ctx is the service. */
void config_api_txn(void *ctx, const char *method, const char *body, size_t len, struct http_response *out);
void config_api_range(void *ctx, const char *method, const char *body, size_t len, struct http_response *out);
void config_api_watch(void *ctx, const char *method, const char *body, size_t len, struct http_response *out);
void config_api_status(void *ctx, const char *method, const char *body, size_t len, struct http_response *out);

#endif
