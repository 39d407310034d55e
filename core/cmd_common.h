/*
 * cmd_common.h - what the manager-facing commands share: the signer (keystore and
 * password), the RPC client and the deployment file, with their flags and errors.
 */
#ifndef COHORT_CORE_CMD_COMMON_H
#define COHORT_CORE_CMD_COMMON_H

#include "cli.h"
#include "manager-client/manager_client.h"

/* Flags every manager command may take; a handler lists the ones it uses. */
struct manager_flags {
    const char *rpc;           /* --rpc URL, or $COHORT_RPC */
    const char *manager;       /* --manager FILE, or $COHORT_MANAGER_FILE, or ~/.cohort/manager.json */
    const char *keystore;      /* --keystore FILE */
    const char *password_file; /* --password-file FILE */
};

#define MANAGER_FLAGS(f)                                                                                              \
    {.name = "rpc", .takes_value = true, .value = &(f).rpc},                                                          \
        {.name = "manager", .takes_value = true, .value = &(f).manager},                                              \
        {.name = "keystore", .takes_value = true, .value = &(f).keystore},                                            \
        {.name = "password-file", .takes_value = true, .value = &(f).password_file}

/* The exit code for a manager-client error code. */
int exit_code_of(int mc_code);

/* Opens the RPC client (--rpc required). Returns 0 or an exit code with the message printed. */
int open_rpc(struct cli_globals *g, struct manager_flags *f, struct mc_rpc **rpc);

/* Loads the deployment file. Returns 0 or an exit code. */
int load_deployment(struct cli_globals *g, struct manager_flags *f, struct mc_deployment *d);

/* Default path of the deployment file (static buffer). */
const char *default_manager_file(void);

/*
 * Reads the password (--password-file, else a prompt on the terminal; confirm asks twice)
 * into out. Returns 0 or an exit code.
 */
int read_password(struct cli_globals *g, const struct manager_flags *f, bool confirm, char *out, size_t size,
                  size_t *len);

/* Loads the signing key from --keystore with the password. Returns 0 or an exit code. */
int load_signer(struct cli_globals *g, struct manager_flags *f, uint8_t key[32], uint8_t address[20]);

/*
 * Calls cohort-core's local API: GET url, or POST body (JSON) when body is not NULL.
 * Returns the answer's body (malloc'd, at most 16 MiB) and sets *status to its HTTP
 * status, or returns NULL with the message printed and *code set (cohort-core not
 * reachable: COHORT_EXIT_UNAVAILABLE).
 */
char *api_call(const char *url, const char *body, long timeout_ms, struct cli_globals *g, long *status, int *code);

/* Prints a key=value result (one line each for people, one JSON object with --json). */
void print_fields(struct cli_globals *g, const char *const *keys, const char *const *values, size_t n);

#endif
