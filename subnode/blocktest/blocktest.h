/*
 * blocktest.h - runs Ethereum's blockchain tests (ethereum/tests BlockchainTests format)
 * through cohort's block import: block.h's decoding, header validation and block_execute.
 *
 * A fixture file maps test names to {network, pre, genesisBlockHeader, genesisRLP, blocks,
 * lastblockhash, postState or postStateHash}. Each entry of `blocks` has the block's `rlp`
 * and, when the block must be refused, `expectException`. A test passes when: the genesis
 * RLP hashes to genesisBlockHeader.hash and its state root is that of `pre`; every block
 * without expectException imports (its parent is known, its header is valid against the
 * parent, it executes, and gas used, blob gas used, bloom, state, transactions, receipts
 * and withdrawals roots all equal its header's); every block with expectException is
 * refused (the chain goes on from the blocks before it); the last imported block's hash is
 * lastblockhash; and the state after it is postState (compared by state root) or has the
 * root postStateHash. Only tests whose network this runner knows (Cancun) run; the others
 * are counted as skipped.
 *
 * Blocks may build on any known block (a side chain). The state is kept for the block last
 * imported; a block on another parent, or after a refused block, rebuilds the state by
 * replaying its ancestors from `pre` (the in-memory state cannot be copied).
 */
#ifndef COHORT_BLOCKTEST_BLOCKTEST_H
#define COHORT_BLOCKTEST_BLOCKTEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "common/error.h"

/* A fixture file larger than this is refused. */
#define BLOCKTEST_FILE_MAX ((size_t)64 << 20)
/* The most blocks one test may list. */
#define BLOCKTEST_BLOCKS_MAX 100000u

struct blocktest_counts {
    size_t passed;
    size_t failed;
    size_t skipped; /* tests of another network */
    size_t blocks;  /* blocks imported or refused as expected, over all tests */
    size_t files;
    size_t file_errors; /* files that could not be read or parsed (also counted in failed) */
};

struct blocktest_options {
    unsigned jobs; /* worker processes; 0 or 1 runs in this process */
    bool verbose;  /* also print a line for each block refused as expected, with why */
};

/*
 * Runs every test of one fixture file, adding to *counts, and writes one line per failing
 * test to out: "file test: block N: what (expected X, got Y)". Returns 0, or a negative
 * statetest_status (err filled) when the file cannot be read or parsed; such a file also
 * counts as one failure. Senders are recovered from signatures: the caller has run
 * secp_init() (before forking workers).
 */
int blocktest_run_file(const char *path, const struct blocktest_options *opts, struct blocktest_counts *counts,
                       FILE *out, struct cohort_error *err);

/*
 * Runs every *.json file under each of paths (files or folders, in sorted order) on
 * opts->jobs worker processes. Returns 0, or a negative statetest_status (err filled) when
 * a path cannot be walked or the workers cannot start.
 */
int blocktest_run_paths(const char *const *paths, size_t path_count, const struct blocktest_options *opts,
                        struct blocktest_counts *counts, FILE *out, struct cohort_error *err);

#endif
