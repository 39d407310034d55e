/*
 * bench_state.h - a store filled with many accounts for the benchmarks that move a chain's
 * state (state_transfer_bench, rotation_prep): ACCOUNTS accounts, every 100th a contract
 * with 16 storage slots, BENCH_STATE_PER_BLOCK to a block, the same bytes on every run.
 */
#ifndef COHORT_BENCH_STATE_H
#define COHORT_BENCH_STATE_H

#include <stdbool.h>
#include <stdint.h>

#include "subnode/store/store.h"

#define BENCH_STATE_PER_BLOCK 20000u

/*
 * Writes the accounts into s, one block of BENCH_STATE_PER_BLOCK at a time. An empty store
 * gets them from block 0 on; with on_head, they go in blocks after the store's head (a
 * chain's genesis), which each name the block before as parent and keep its timestamp and
 * base fee. Returns the last block's number; *slots counts the storage slots written.
 * Exits the program with a message on any store error.
 */
uint64_t bench_state_fill(struct store *s, uint64_t accounts, bool on_head, uint64_t *slots);

#endif
