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
 * Each library has its own append-only enum of codes and a *_strerror() for them; the
 * codes of different libraries may overlap, so `domain` says whose code it is.
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

/* Codes of the common library. Append only. */
enum common_status {
    COMMON_OK = 0,
    COMMON_E_INVALID = -1,   /* malformed input: bad characters, bad encoding */
    COMMON_E_RANGE = -2,     /* a value too long or too large for its target */
    COMMON_E_TRUNCATED = -3, /* input ends before a length it declares */
    COMMON_E_NONCANONICAL = -4, /* a valid but non-minimal encoding, refused */
    COMMON_E_DEPTH = -5,     /* nesting past a cap */
    COMMON_E_NOMEM = -6,     /* allocation failed */
    COMMON_E_CRYPTO = -7,    /* a key, signature or recovery was refused */
    COMMON_E_IO = -8,        /* a system call failed; errno is in the message */
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
