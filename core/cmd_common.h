/*
 * cmd_common.h - what the commands share: the manager session (the deployment file, the
 * RPC client, the signer) with its flags, exit codes and error reports, the local API's
 * client, and printing results.
 */
#ifndef COHORT_CORE_CMD_COMMON_H
#define COHORT_CORE_CMD_COMMON_H

#include <cjson/cJSON.h>
#include <stdbool.h>

#include "cli.h"
#include "manager-client/manager_client.h"

/* Flags every manager command may take; a handler lists the ones it uses. */
struct manager_flags {
    const char *rpc;           /* --rpc URL, or $COHORT_MANAGER_RPC ($COHORT_RPC, deprecated) */
    const char *manager;       /* --manager FILE, or $COHORT_MANAGER_FILE, or ~/.cohort/manager.json */
    const char *keystore;      /* --keystore FILE */
    const char *password_file; /* --password-file FILE */
};

#define MANAGER_FLAGS(f)                                                                                              \
    {.name = "rpc", .takes_value = true, .value = &(f).rpc},                                                          \
        {.name = "manager", .takes_value = true, .value = &(f).manager},                                              \
        {.name = "keystore", .takes_value = true, .value = &(f).keystore},                                            \
        {.name = "password-file", .takes_value = true, .value = &(f).password_file}

/*
 * Parses a manager command's argv: the manager flags (MANAGER_FLAGS) and extra, the
 * command's own (a list ended by {.name = NULL}, at most MANAGER_EXTRA_FLAGS_MAX; may be
 * NULL), and exactly npositional positional arguments into positional (usage is the message
 * when the count is wrong). Returns 0, or COHORT_EXIT_USAGE with the message printed.
 */
#define MANAGER_EXTRA_FLAGS_MAX 8
int manager_parse(struct cli_globals *g, int argc, char **argv, struct manager_flags *f, const struct cli_flag *extra,
                  const char **positional, size_t npositional, const char *usage);

/*
 * The exit code for an error code of any library (common/error.h: codes are unique): a
 * service that did not answer is COHORT_EXIT_UNAVAILABLE, an unusable file, key or value
 * given (a wrong password, a key the curve refuses) COHORT_EXIT_INPUT, a bad argument
 * COHORT_EXIT_USAGE, anything else COHORT_EXIT_FAILURE.
 */
int exit_code_of(int code);

/*
 * Reports a library error and returns its exit code: the message on g->err as cli_fail
 * prints it and, with --json, also {"error": message, "code": N, "library": "...",
 * "kind": "..."} on g->out, the shape the local API answers errors in.
 */
int cli_fail_error(struct cli_globals *g, const struct cohort_error *err);

/*
 * What a manager command holds while it runs: the deployment file, the RPC client and,
 * once manager_sign ran, the signing key. Every field is owned by the session;
 * manager_close releases them (and wipes the key).
 */
struct manager_session {
    char manager_file[1024]; /* the default deployment file's path, when --manager is not given */
    bool has_deployment;
    struct mc_deployment deployment;
    struct mc_rpc *rpc;
    bool signed_in;
    uint8_t key[32];
    uint8_t address[20];
};

/*
 * The steps every manager command takes after parsing its flags: manager_open loads the
 * deployment file (unless need_deployment is false: `manager deploy` writes it) and opens
 * the RPC; manager_sign loads the key from --keystore with the password and, with a
 * deployment, checks that the RPC serves the deployment's chain. Each returns 0, or an exit
 * code with the message printed. After manager_open, call manager_close whatever happens.
 */
int manager_open(struct cli_globals *g, struct manager_flags *f, bool need_deployment, struct manager_session *s);
int manager_sign(struct cli_globals *g, struct manager_flags *f, struct manager_session *s);
void manager_close(struct manager_session *s);

/* Default path of the deployment file (from $COHORT_MANAGER_FILE or $HOME; into buf). */
const char *default_manager_file(char *buf, size_t size);

/*
 * Reads the password (--password-file, else a prompt on the terminal; confirm asks twice)
 * into out. Returns 0 or an exit code.
 */
int read_password(struct cli_globals *g, const struct manager_flags *f, bool confirm, char *out, size_t size,
                  size_t *len);

/*
 * Calls cohort-core's local API: GET url, or POST body (JSON) when body is not NULL.
 * Returns the answer's body (malloc'd, at most 16 MiB) and sets *status to its HTTP
 * status, or returns NULL with the message printed and *code set (cohort-core not
 * reachable: COHORT_EXIT_UNAVAILABLE).
 */
char *api_call(const char *url, const char *body, long timeout_ms, struct cli_globals *g, long *status, int *code);

/* Like api_call, with "Authorization: Bearer token" (NULL: none) for the routes that need
   the API's token (core/api_token.h). */
char *api_call_token(const char *url, const char *body, const char *token, long timeout_ms, struct cli_globals *g,
                     long *status, int *code);

/*
 * GETs url (http only, at most 16 MiB, within timeout_ms). Returns the body (malloc'd) with
 * *status its HTTP status, or NULL with why in error (curl's words): for reaching servers
 * whose absence is an answer (a subnode that is down), not a failure of the command.
 */
char *http_fetch(const char *url, long timeout_ms, long *status, char *error, size_t error_size);

/* Prints a key=value result (one line each for people, one JSON object with --json). */
void print_fields(struct cli_globals *g, const char *const *keys, const char *const *values, size_t n);

/* Prints a JSON value as it is (pretty, one value) on g->out: --json output that is the API's answer. */
void print_json(struct cli_globals *g, const cJSON *value);

#endif
