/*
 * fixture.h - what the runners of Ethereum's JSON fixtures share (cohort-statetest,
 * cohort-blocktest): reading a fixture file under a cap, the fixtures' number and byte
 * fields, building a pre-state from a `pre` (or `postState`) object, collecting the .json
 * files under paths, and running files on worker processes with shared counters.
 *
 * Errors use the state-test runner's codes (statetest.h: STATETEST_E_*).
 */
#ifndef COHORT_STATETEST_FIXTURE_H
#define COHORT_STATETEST_FIXTURE_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/error.h"
#include "common/u256.h"
#include "subnode/state/state.h"

/* The most files one run collects. */
#define FIXTURE_PATHS_MAX 100000
/* The most worker processes. */
#define FIXTURE_JOBS_MAX 64

/* The string value of obj[name], or NULL when absent or not a string. Owned by obj. */
const char *fixture_string(const cJSON *obj, const char *name);

/*
 * A fixture number: "0x" and hex digits, leading zeros allowed ("0x01"), "0x" alone is 0.
 * Returns 0; STATETEST_E_FORMAT (not 0x-hex, or NULL); STATETEST_E_RANGE (over 256 bits).
 */
int fixture_parse_u256(const char *text, u256 *out, struct cohort_error *err);

/* A u64 field; values past 2^64 - 1 saturate to UINT64_MAX (callers refuse them later). */
int fixture_parse_u64_saturating(const char *text, uint64_t *out, struct cohort_error *err);

/* Hex bytes ("0x..." of even length) into out (cap bytes); *len set. */
int fixture_parse_bytes(const char *text, uint8_t *out, size_t cap, size_t *len, struct cohort_error *err);

/*
 * Reads the whole file at path (at most cap bytes) into a malloc'd NUL-terminated buffer the
 * caller frees. NULL on failure with err filled (STATETEST_E_IO, _RANGE, _NOMEM).
 */
char *fixture_read_file(const char *path, size_t cap, struct cohort_error *err);

/*
 * Puts the accounts of a fixture's account map ({address: {balance, nonce, code, storage}},
 * the `pre` of state and blockchain tests, or a `postState`) into st with state_put_account
 * and state_put_storage. Zero storage values are skipped. Returns 0 or a negative status.
 */
int fixture_load_accounts(struct state *st, const cJSON *accounts, struct cohort_error *err);

/* A growable list of malloc'd paths. */
struct fixture_paths {
    char **items;
    size_t count, cap;
};

/*
 * Adds every *.json file under each of paths (a file is taken as it is; folders are walked
 * with an explicit list, not recursion) to *files, then sorts them. Returns 0 or
 * STATETEST_E_IO / _RANGE / _NOMEM. Free with fixture_paths_free even on failure.
 */
int fixture_collect(const char *const *paths, size_t path_count, struct fixture_paths *files, struct cohort_error *err);
void fixture_paths_free(struct fixture_paths *files);

/*
 * Runs one file: adds its results to counts (a caller-defined struct of counts_size bytes)
 * and writes failure lines to out.
 */
typedef void (*fixture_file_fn)(void *arg, const char *path, void *counts, FILE *out);
/* Adds part's counts into total. */
typedef void (*fixture_merge_fn)(void *total, const void *part);
/* Counts one failure in total: a worker that died while running path (NULL when unknown). */
typedef void (*fixture_crash_fn)(void *total, const char *path);

/*
 * Runs fn over files on `jobs` worker processes (1: in this process; at most
 * FIXTURE_JOBS_MAX). Each worker takes the next file from a shared counter, so a slow file
 * does not hold up the rest; each worker's counts live in shared memory (zeroed, counts_size
 * bytes) and are merged into *counts at the end. A worker that dies is reported on out with
 * the file it held and counted with crashed. Returns 0, or STATETEST_E_IO / _NOMEM when no
 * worker could be started or the shared memory could not be mapped.
 */
int fixture_run_files(char *const *files, size_t file_count, unsigned jobs, fixture_file_fn fn, void *arg, void *counts,
                      size_t counts_size, fixture_merge_fn merge, fixture_crash_fn crashed, FILE *out,
                      struct cohort_error *err);

#endif
