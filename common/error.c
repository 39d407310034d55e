/* error.c - the cohort_error value: fixed buffer, no allocation on the error path. */
#include "error.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *common_strerror(int code)
{
    switch ((enum common_status)code) {
    case COMMON_OK: return "success";
    case COMMON_E_INVALID: return "invalid input";
    case COMMON_E_RANGE: return "value out of range";
    case COMMON_E_TRUNCATED: return "input truncated";
    case COMMON_E_NONCANONICAL: return "non-canonical encoding";
    case COMMON_E_DEPTH: return "nesting too deep";
    case COMMON_E_NOMEM: return "out of memory";
    case COMMON_E_CRYPTO: return "cryptographic operation refused";
    case COMMON_E_IO: return "system call failed";
    }
    return "unknown error";
}

const char *cohort_error_library(int code)
{
    /* By block, in the order of enum cohort_error_base. */
    static const char *const names[COHORT_ERRORS_LIBRARIES] = {
        "bft",   "common", "abi",       "manager-client", "docker", "config", "curves",
        "evm",   "state",  "chain",     "statetest",      "store",  "rpc",    "metrics",
    };
    _Static_assert(COHORT_ERRORS_METRICS == -(COHORT_ERRORS_LIBRARIES - 1) * COHORT_ERRORS_BLOCK,
                   "names[] has one entry per block");
    if (code >= 0) return NULL;
    int block = (-code - 1) / COHORT_ERRORS_BLOCK;
    return block < COHORT_ERRORS_LIBRARIES ? names[block] : NULL;
}

__attribute__((format(printf, 4, 0))) static void vset(struct cohort_error *err, int code, const char *domain,
                                                   const char *fmt, va_list ap)
{
    err->code = code;
    err->domain = domain;
    vsnprintf(err->message, sizeof err->message, fmt, ap);
}

int cohort_error_set(struct cohort_error *err, int code, const char *domain, const char *fmt, ...)
{
    assert(code < 0);
    if (err == NULL) return code;
    va_list ap;
    va_start(ap, fmt);
    vset(err, code, domain, fmt, ap);
    va_end(ap);
    return code;
}

int cohort_error_errno(struct cohort_error *err, int code, const char *domain, int errnum,
                       const char *fmt, ...)
{
    assert(code < 0);
    if (err == NULL) return code;
    va_list ap;
    va_start(ap, fmt);
    vset(err, code, domain, fmt, ap);
    va_end(ap);
    size_t used = strlen(err->message);
    snprintf(err->message + used, sizeof err->message - used, ": %s", strerror(errnum));
    return code;
}

int cohort_error_wrap(struct cohort_error *err, const char *fmt, ...)
{
    if (err == NULL || err->code == 0) return 0;
    char context[COHORT_ERROR_MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(context, sizeof context, fmt, ap);
    va_end(ap);
    /* context ": " message, truncated to the buffer (memcpy: the compiler cannot prove
       snprintf's bound here and warnings are errors). */
    char joined[COHORT_ERROR_MESSAGE_MAX];
    size_t cap = sizeof joined - 1, n = 0;
    const char *parts[3] = {context, ": ", err->message};
    for (int i = 0; i < 3 && n < cap; i++) {
        size_t len = strlen(parts[i]);
        if (len > cap - n) len = cap - n;
        memcpy(joined + n, parts[i], len);
        n += len;
    }
    joined[n] = '\0';
    memcpy(err->message, joined, n + 1);
    return err->code;
}

void cohort_error_clear(struct cohort_error *err)
{
    if (err == NULL) return;
    err->code = 0;
    err->domain = NULL;
    err->message[0] = '\0';
}
