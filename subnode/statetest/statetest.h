/*
 * statetest.h - runs Ethereum state-test fixtures (ethereum/tests GeneralStateTests format)
 * through cohort's state, transaction execution and VM.
 *
 * A fixture file maps test names to {env, pre, transaction, post}. `transaction` lists
 * arrays of data, gasLimit and value (and accessLists per data); each entry of post[fork]
 * picks one of each by its indexes and gives the expected state root (`hash`), the hash of
 * the RLP list of logs (`logs`) and, for a transaction that must be rejected,
 * `expectException`. Every entry runs on a fresh copy of the pre-state.
 */
#ifndef COHORT_STATETEST_STATETEST_H
#define COHORT_STATETEST_STATETEST_H

#include <stddef.h>
#include <stdio.h>

#include "common/error.h"
#include "subnode/chain/chain.h"
#include "subnode/state/state.h"

/* A fixture file larger than this is refused (the largest upstream file is about 4 MiB). */
#define STATETEST_FILE_MAX ((size_t)64 << 20)

/* Codes of the state-test runner. Append only. */
enum statetest_status {
    STATETEST_OK = 0,
    STATETEST_E_IO = COHORT_ERRORS_STATETEST - 1,      /* a file or folder could not be read */
    STATETEST_E_FORMAT = COHORT_ERRORS_STATETEST - 2,  /* a fixture is not what the format says */
    STATETEST_E_RANGE = COHORT_ERRORS_STATETEST - 3,   /* a file or field over its cap */
    STATETEST_E_NOMEM = COHORT_ERRORS_STATETEST - 4,
    STATETEST_E_USAGE = COHORT_ERRORS_STATETEST - 5,   /* a bad option: an unknown fork */
};

const char *statetest_strerror(int code);

struct statetest_counts {
    size_t passed;
    size_t failed;
    size_t failed_precompile; /* failures whose transaction touched 0x06-0x08 or 0x0a */
    size_t files;
    size_t file_errors;       /* files that could not be read or parsed (also counted in failed) */
};

struct statetest_options {
    const char *fork; /* "Cancun" (default), "Shanghai", ... */
    unsigned jobs;    /* worker processes; 0 or 1 runs in this process */
};

/*
 * Runs every post entry of opts->fork in one fixture file, adding to *counts, and writes
 * one line per failing case to out: "file test d=D g=G v=V: what (expected X, got Y)".
 * Returns 0, or a negative status (err filled) when the file cannot be read or parsed;
 * such a file also counts as one failure.
 */
int statetest_run_file(const char *path, const struct statetest_options *opts, struct statetest_counts *counts,
                       FILE *out, struct cohort_error *err);

/*
 * Runs every *.json file under each of paths (files or folders, walked in sorted order),
 * spread over opts->jobs worker processes. Failure lines go to out.
 * Returns 0, or STATETEST_E_IO / STATETEST_E_NOMEM / STATETEST_E_USAGE (err filled).
 */
int statetest_run_paths(const char *const *paths, size_t path_count, const struct statetest_options *opts,
                        struct statetest_counts *counts, FILE *out, struct cohort_error *err);

/* ---- Loading cases for other programs (bench/evm_bench.c) ---- */

/*
 * One post entry of a fixture file, decoded, as statetest_for_each_case() hands it to its
 * callback. Every pointer (the strings, tx's data and access list, pre) is owned by the
 * loader and valid only during the callback.
 *   label:            the file's _info.labels entry for the data index (the names the
 *                     evm-benchmarks give their inputs: "5311", "8415nulls"), or NULL.
 *   expected_hash:    the post entry's state root ("0x..."), or NULL.
 *   expected_logs:    the hash of the RLP of the logs ("0x..."), or NULL.
 *   expect_exception: NULL when the transaction must be included.
 *   block, tx:        the env and the transaction, ready for chain_apply_tx.
 *   pre:              the fixture's pre-state (opaque): statetest_case_load_pre() builds it.
 */
struct statetest_case {
    const char *path;
    const char *test_name;
    const char *label;
    size_t data_index, gas_index, value_index;
    const char *expected_hash;
    const char *expected_logs;
    const char *expect_exception;
    struct chain_block block;
    struct chain_tx tx;
    const void *pre;
};

/* A callback of statetest_for_each_case: 0 to go on, anything else stops the walk. */
typedef int (*statetest_case_fn)(void *arg, const struct statetest_case *test_case);

/*
 * Reads the fixture file at path and calls fn(arg, case) for every entry of post[fork]
 * ("London", "Cancun"...), in file order. Senders come from secret keys: the caller has run
 * secp_init(). Cases whose transaction has a field no transaction can encode and that expect
 * the rejection are skipped. Returns 0, the first non-zero value fn returned, or a negative
 * statetest_status (err filled) when the file cannot be read or an entry cannot be decoded.
 */
int statetest_for_each_case(const char *path, const char *fork, statetest_case_fn fn, void *arg,
                            struct cohort_error *err);

/*
 * Puts the case's pre-state into st (a fresh state from state_new(); the accounts are
 * added to what st holds). May be called any number of times during the callback, to build
 * one fresh state per run. Returns 0 or a negative status (err filled).
 */
int statetest_case_load_pre(const struct statetest_case *test_case, struct state *st, struct cohort_error *err);

#endif
