/*
 * cohort-statetest - runs Ethereum state-test fixtures through cohort's VM.
 *
 *     cohort-statetest [--fork Cancun] [--jobs N] PATH...
 *
 * Prints one line per failing case, then how many failures involve the precompiles
 * 0x06-0x08 and 0x0a, then "N passed, N failed". Exits 1 on any failure, 2 on bad usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/secp.h"
#include "subnode/statetest/statetest.h"

static void usage(FILE *f) { fprintf(f, "usage: cohort-statetest [--fork NAME] [--jobs N] PATH...\n"); }

int main(int argc, char **argv)
{
    struct statetest_options opts = {.fork = "Cancun", .jobs = 0};
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    opts.jobs = cpus > 0 ? (unsigned)cpus : 1;
    const char **paths = calloc((size_t)argc, sizeof *paths);
    size_t path_count = 0;
    if (paths == NULL) return 2;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--fork") == 0 && i + 1 < argc) {
            opts.fork = argv[++i];
        } else if (strcmp(argv[i], "--jobs") == 0 && i + 1 < argc) {
            char *end;
            long jobs = strtol(argv[++i], &end, 10);
            if (*end != '\0' || jobs < 1 || jobs > 64) {
                fprintf(stderr, "cohort-statetest: --jobs wants 1..64, not %s\n", argv[i]);
                return 2;
            }
            opts.jobs = (unsigned)jobs;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "cohort-statetest: unknown option %s\n", argv[i]);
            usage(stderr);
            return 2;
        } else {
            paths[path_count++] = argv[i];
        }
    }
    if (path_count == 0) {
        usage(stderr);
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    struct statetest_counts counts = {0};
    struct cohort_error err = {0};
    /* Senders come from secret keys: set the curve context up once, before the workers fork. */
    if (secp_init(&err) != 0) {
        fprintf(stderr, "cohort-statetest: %s\n", err.message);
        return 2;
    }
    int rc = statetest_run_paths(paths, path_count, &opts, &counts, stdout, &err);
    free(paths);
    if (rc != 0) {
        fprintf(stderr, "cohort-statetest: %s\n", err.message);
        return 2;
    }
    printf("%zu of the failures involve the precompiles 0x06-0x08, 0x0a\n", counts.failed_precompile);
    printf("%zu passed, %zu failed\n", counts.passed, counts.failed);
    return counts.failed == 0 ? 0 : 1;
}
