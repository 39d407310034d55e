/*
 * cohort-blocktest - runs Ethereum blockchain-test fixtures through cohort's block import.
 *
 *     cohort-blocktest [--jobs N] [--verbose] FILE|DIR...
 *
 * Prints one line per failing test (with --verbose also one per block refused as expected,
 * with the reason beside the fixture's), then how many tests were skipped (another network)
 * and "N passed, N failed" last. Exits 1 when a test fails or none ran, 2 on bad usage or
 * when a path cannot be read.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/secp.h"
#include "subnode/blocktest/blocktest.h"

static void usage(FILE *f) { fprintf(f, "usage: cohort-blocktest [--jobs N] [--verbose] FILE|DIR...\n"); }

int main(int argc, char **argv)
{
    struct blocktest_options opts = {.jobs = 1};
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    opts.jobs = cpus > 0 ? (unsigned)cpus : 1;
    const char **paths = calloc((size_t)argc, sizeof *paths);
    size_t path_count = 0;
    if (paths == NULL) return 2;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--jobs") == 0 && i + 1 < argc) {
            char *end;
            long jobs = strtol(argv[++i], &end, 10);
            if (*end != '\0' || jobs < 1 || jobs > 64) {
                fprintf(stderr, "cohort-blocktest: --jobs wants 1..64, not %s\n", argv[i]);
                free(paths);
                return 2;
            }
            opts.jobs = (unsigned)jobs;
        } else if (strcmp(argv[i], "--verbose") == 0 || strcmp(argv[i], "-v") == 0) {
            opts.verbose = true;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            free(paths);
            return 0;
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "cohort-blocktest: unknown option %s\n", argv[i]);
            usage(stderr);
            free(paths);
            return 2;
        } else {
            paths[path_count++] = argv[i];
        }
    }
    if (path_count == 0) {
        usage(stderr);
        free(paths);
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    struct blocktest_counts counts = {0};
    struct cohort_error err = {0};
    /* Senders are recovered from signatures: set the curve context up once, before the workers fork. */
    if (secp_init(&err) != 0) {
        fprintf(stderr, "cohort-blocktest: %s\n", err.message);
        free(paths);
        return 2;
    }
    int rc = blocktest_run_paths(paths, path_count, &opts, &counts, stdout, &err);
    free(paths);
    if (rc != 0) {
        fprintf(stderr, "cohort-blocktest: %s\n", err.message);
        return 2;
    }
    printf("%zu files, %zu blocks, %zu tests skipped (not Cancun)\n", counts.files, counts.blocks, counts.skipped);
    printf("%zu passed, %zu failed\n", counts.passed, counts.failed);
    if (counts.passed + counts.failed == 0) {
        fprintf(stderr, "cohort-blocktest: no test ran (no Cancun tests under the paths given)\n");
        return 1;
    }
    return counts.failed == 0 ? 0 : 1;
}
