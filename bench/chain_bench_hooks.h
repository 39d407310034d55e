/*
 * chain_bench_hooks.h - the timing wrappers of bench/chain_bench.c (chain_bench_hooks.c):
 * the linker's --wrap sends the store's calls into LMDB, keccak256, evm_execute and
 * block_ordered_root through them (bench/CMakeLists.txt), and fdatasync, fsync, pwrite
 * and writev are interposed on libc's; each charges its time to the phase the bench says
 * is running (hook.phase). Only chain_bench links them.
 */
#ifndef COHORT_BENCH_CHAIN_BENCH_HOOKS_H
#define COHORT_BENCH_CHAIN_BENCH_HOOKS_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

/* The splits' clock: the TSC on x86-64, CLOCK_MONOTONIC elsewhere (chain_bench.c converts ticks). */
#if defined(__x86_64__)
#include <x86intrin.h>
static inline uint64_t tick_now(void) { return __rdtsc(); }
#else
static inline uint64_t tick_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
#endif

/* LMDB hands out table handles (dbi) from 0 up; the store opens 16 tables after LMDB's 2. */
#define TABLES_MAX 64u
extern char table_names[TABLES_MAX][24]; /* recorded as the store opens them */

/* Which phase the wrapped calls are charged to. */
enum hook_phase { HP_NONE, HP_ADMIT, HP_EXECUTE, HP_APPLY, HP_WRITE, HP_COMMIT, HP_POOL, HP_COUNT };
extern const char *const hook_names[HP_COUNT];

/* What the wrappers measured, in ticks (tick_now); chain_bench.c sets on and phase. */
struct bench_hook {
    bool on;                     /* --no-split turns it off: the wrappers only forward */
    enum hook_phase phase;
    uint64_t lmdb[HP_COUNT];     /* ticks in LMDB calls, per phase */
    uint64_t lmdb_calls[HP_COUNT];
    uint64_t table[HP_COUNT][TABLES_MAX];       /* the same, per table (dbi) */
    uint64_t table_calls[HP_COUNT][TABLES_MAX];
    uint64_t keccak;             /* ticks hashing during apply */
    uint64_t keccak_calls;
    uint64_t vm;                 /* ticks in evm_execute during execute, LMDB reads excluded */
    int vm_depth;
    uint64_t roots;              /* ticks in block_ordered_root */
    uint64_t roots_calls;
    uint64_t fsync;              /* ticks in fdatasync / fsync during commit */
    uint64_t fsync_calls;
    uint64_t written;            /* bytes LMDB wrote (pwrite, writev) during commit */
};
extern struct bench_hook hook;

#endif
