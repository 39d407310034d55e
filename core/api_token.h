/*
 * api_token.h - the credential of cohort-core's local API (docs/cohort-core.md "The local
 * API"): 32 random bytes, hex, in STATE_DIR/api.token, readable by the operator alone.
 * The routes that write or read the cluster's configuration need it (sent as
 * "Authorization: Bearer TOKEN"); cohort-core makes the file at its first start and keeps
 * it; the CLI finds it by itself (api_token_path).
 */
#ifndef COHORT_CORE_API_TOKEN_H
#define COHORT_CORE_API_TOKEN_H

#include <stddef.h>

#include "common/error.h"

#define API_TOKEN_HEX 64
#define API_TOKEN_FILE "api.token"

/*
 * cohort-core: reads state_dir/api.token, or makes it (mode 0600, never through a link,
 * never over a file another made meanwhile). A file that is not 64 hex digits, or that
 * others than its owner may read, is refused with a message that says what to do.
 */
int api_token_load_or_make(const char *state_dir, char token[API_TOKEN_HEX + 1], struct cohort_error *err);

/* The CLI: the token file it reads: explicit (--token-file) if given, else
   COHORT_API_TOKEN_FILE, else $COHORT_STATE_DIR/api.token, else /var/lib/cohort/api.token. */
void api_token_path(const char *explicit_path, char *out, size_t cap);

/* Reads the token at path (not through a link). */
int api_token_read(const char *path, char token[API_TOKEN_HEX + 1], struct cohort_error *err);

#endif
