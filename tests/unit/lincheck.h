/*
 * lincheck.h - a linearizability checker for histories of key-value operations, used by
 * the tests of the config store (tests/integration/test_config_cluster.c).
 *
 * Wing and Gong's algorithm with Lowe's memoisation of (linearized set, state), as
 * Porcupine does for etcd: the history is split per key (a key-value store is
 * linearizable iff each key's sub-history is), and each key's sub-history is searched
 * depth first for an order of the operations that respects real time (an operation that
 * returned before another was called comes first) and the sequential specification of one
 * register:
 *   PUT(v)          -> ok                    value := v
 *   DELETE          -> ok                    value := absent
 *   GET             -> v or absent           value unchanged
 *   CAS(expect, v)  -> true  if value == expect (expect may be absent), then value := v
 *                   -> false otherwise, value unchanged
 * An operation whose outcome the client never learned (a timeout, a dropped connection)
 * has unknown = true: it may have taken effect at any point after its call, or never; its
 * return time is treated as infinite and its output is not checked.
 */
#ifndef COHORT_TESTS_LINCHECK_H
#define COHORT_TESTS_LINCHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LC_STR_MAX 64 /* keys and values, NUL included */

enum lc_kind { LC_PUT = 1, LC_GET = 2, LC_DELETE = 3, LC_CAS = 4 };

struct lc_op {
    int client;
    int64_t call_ns, return_ns; /* any monotonic clock; return_ns ignored when unknown */
    uint8_t kind;               /* enum lc_kind */
    char key[LC_STR_MAX];
    char value[LC_STR_MAX];     /* PUT, CAS: the value written; GET: the value read */
    bool present;               /* GET: a value was read (false: the key was absent) */
    char expect[LC_STR_MAX];    /* CAS: the value compared with */
    bool expect_present;        /* CAS: false compares with "absent" */
    bool ok;                    /* CAS: the swap happened */
    bool unknown;               /* no answer: may or may not have happened */
};

enum lc_verdict { LC_LINEARIZABLE = 1, LC_NOT_LINEARIZABLE = 0, LC_TIMEOUT = -1 };

/*
 * Checks ops[0..n) (any order). Gives up after budget_ms of search (LC_TIMEOUT). For
 * LC_NOT_LINEARIZABLE, writes into explain (if not NULL) the key and the operations of the
 * longest prefix it could linearize and the operation it could not place.
 */
enum lc_verdict lc_check(const struct lc_op *ops, size_t n, int64_t budget_ms, char *explain, size_t explain_len);

#endif
