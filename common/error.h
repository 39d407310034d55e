/*
 * error.h - the error value every fallible function in cohort fills.
 *
 * A fallible function returns an int status: 0 on success, a negative code from its
 * library's enum on failure. It also fills a caller-owned `struct cohort_error` with that
 * code and a message that names what failed, with which input, and, where it helps, what to
 * do about it:
 *
 *     docker: create container cohort-chain-7: HTTP 409: name already in use
 *
 * Like crun's libcrun_error_t, but the message lives in a fixed buffer inside the value,
 * so the error path never allocates and an error can be reported when memory is short.
 * Callers add context on the way up with cohort_error_wrap(), which prepends.
 *
 * Each library has its own append-only enum of codes and a *_strerror() for them. The
 * codes are unique across cohort: each library's lie in a block of its own (below), so a
 * code alone says which library's it is and what it means, and a reader of a code (an exit
 * code, a retry decision) cannot mistake one library's failure for another's. test_errors
 * fails when two libraries' codes collide or a code leaves its block. `domain` names who
 * made the message, for logs; every file writes it as a per-file DOMAIN constant.
 */
#ifndef COHORT_COMMON_ERROR_H
#define COHORT_COMMON_ERROR_H

#include <stddef.h>

#define COHORT_ERROR_MESSAGE_MAX 512

struct cohort_error {
    int code;                               /* negative library code; 0 when clear */
    const char *domain;                     /* static string: "common", "docker", ... */
    char message[COHORT_ERROR_MESSAGE_MAX]; /* NUL-terminated, truncated if longer */
};

/*
 * The blocks of codes: library L's codes are L's base - 1 down to L's base - 99. bft keeps
 * the codes it was written with (-1 .. -8); the others moved to blocks of their own.
 */
#define COHORT_ERRORS_BLOCK 100
enum cohort_error_base {
    COHORT_ERRORS_BFT = 0,          /* bft/bft.h */
    COHORT_ERRORS_COMMON = -100,    /* common/error.h */
    COHORT_ERRORS_ABI = -200,       /* contracts-abi/abi.h */
    COHORT_ERRORS_MC = -300,        /* manager-client/manager_client.h */
    COHORT_ERRORS_DOCKER = -400,    /* docker/docker.h */
    COHORT_ERRORS_CONFIG = -500,    /* config/config.h */
    COHORT_ERRORS_CURVES = -600,    /* subnode/crypto/curves.h */
    COHORT_ERRORS_EVM = -700,       /* subnode/evm/evm.h */
    COHORT_ERRORS_STATE = -800,     /* subnode/state/trie.h */
    COHORT_ERRORS_CHAIN = -900,     /* subnode/chain/chain.h */
    COHORT_ERRORS_STATETEST = -1000, /* subnode/statetest/statetest.h */
    COHORT_ERRORS_STORE = -1100,     /* subnode/store/store.h */
    COHORT_ERRORS_RPC = -1200,       /* subnode/rpc/rpc.h */
    COHORT_ERRORS_METRICS = -1300    /* metrics/metrics.h */
};
#define COHORT_ERRORS_LIBRARIES 14

/*
 * The library whose block holds code ("common", "manager-client", ...: the names the
 * libraries use as their domain), or NULL for 0, a positive number or a code past the
 * last block. The string is static.
 */
const char *cohort_error_library(int code);

/* Codes of the common library. Append only. */
enum common_status {
    COMMON_OK = 0,
    COMMON_E_INVALID = COHORT_ERRORS_COMMON - 1,     /* malformed input: bad characters, bad encoding */
    COMMON_E_RANGE = COHORT_ERRORS_COMMON - 2,       /* a value too long or too large for its target */
    COMMON_E_TRUNCATED = COHORT_ERRORS_COMMON - 3,   /* input ends before a length it declares */
    COMMON_E_NONCANONICAL = COHORT_ERRORS_COMMON - 4, /* a valid but non-minimal encoding, refused */
    COMMON_E_DEPTH = COHORT_ERRORS_COMMON - 5,       /* nesting past a cap */
    COMMON_E_NOMEM = COHORT_ERRORS_COMMON - 6,       /* allocation failed */
    COMMON_E_CRYPTO = COHORT_ERRORS_COMMON - 7,      /* a key, signature or recovery was refused */
    COMMON_E_IO = COHORT_ERRORS_COMMON - 8,          /* a system call failed; errno is in the message */
};

/* Returns a static description of a common_status code; never NULL. */
const char *common_strerror(int code);

/*
 * Sets err (if not NULL) to code and the printf-style message, and returns code so a
 * caller can write `return cohort_error_set(err, COMMON_E_INVALID, "common", "...")`.
 */
int cohort_error_set(struct cohort_error *err, int code, const char *domain, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Like cohort_error_set, and appends ": " and strerror(errnum). */
int cohort_error_errno(struct cohort_error *err, int code, const char *domain, int errnum,
                       const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/*
 * Prepends the formatted context and ": " to err's message, keeping its code and domain.
 * Returns err->code. Does nothing but return 0 when err is NULL or clear.
 */
int cohort_error_wrap(struct cohort_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Clears err to code 0 and an empty message. */
void cohort_error_clear(struct cohort_error *err);

#endif
