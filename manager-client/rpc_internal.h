/*
 * rpc_internal.h - the decoders of manager-client that read what a JSON-RPC server sends,
 * exposed to the library's own files and to its fuzz targets. Not part of the API.
 */
#ifndef COHORT_MANAGER_CLIENT_RPC_INTERNAL_H
#define COHORT_MANAGER_CLIENT_RPC_INTERNAL_H

#include "manager_client.h"

/*
 * Checks a response body against the JSON-RPC 2.0 shape for request `id` and returns its
 * detached "result" in *result (caller frees), or the decoded error object as an error.
 */
int mc_rpc_parse_response(struct mc_rpc *rpc, const char *method, uint64_t id, const char *body, size_t len,
                          cJSON **result, struct cohort_error *err);

/* Parses a JSON array of logs as eth_getLogs returns them. Free with mc_log_list_free. */
int mc_parse_logs(const char *json, size_t len, struct mc_log_list *out, struct cohort_error *err);

#endif
