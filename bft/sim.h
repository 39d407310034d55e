/*
 * sim.h - the deterministic simulator of the BFT log (for tests; not used by nodes).
 *
 * One seed decides everything: the number of members, which are Byzantine and how
 * (equivocating leader, double votes, forged and replayed signatures, Twins, silence),
 * the network (delays, drops, duplicates, reordering, partitions and heals), crashes at
 * any point of a step with restarts from simulated storage that loses unsynced writes
 * (and may keep a torn record), and the entries clients submit. The simulator drives the
 * same bft_core that nodes run, with virtual time, and checks as it goes:
 *   - no two honest members commit different blocks at one index, and each commits the
 *     indexes in order (so their logs are identical);
 *   - an honest member never sends two different notarize votes, or a nullify and a
 *     finalize vote, or two proposals, at one height, across its crashes;
 *   - a restarted member has every entry it had committed before the crash;
 *   - after the chaos ends (every partition healed, every member restarted, no more drops)
 *     every honest member commits target_commits more entries, before a deadline.
 */
#ifndef COHORT_BFT_SIM_H
#define COHORT_BFT_SIM_H

#include <stdbool.h>
#include <stdint.h>

struct bft_sim_options {
    uint64_t seed;
    bool real_crypto;        /* secp256k1 (slow) instead of the simulator's keyed-hash scheme */
    uint32_t target_commits; /* entries every honest member commits after the heal; 0: 5 */
    uint32_t window_heights; /* the cores' window (2..BFT_WINDOW_MAX); 0: BFT_WINDOW_MAX. A small
                                one brings the window's edge, and its sliding, into every run */
};

struct bft_sim_result {
    bool ok;
    bool liveness_only;      /* the one failure is the liveness goal: no safety check failed */
    char failure[1024];      /* what failed, at which virtual time; empty when ok */
    char scenario[256];      /* what the seed chose */
    char detail[16384];      /* a liveness failure: each member's window (bft_core_describe), a line each */
    uint64_t events;         /* events processed */
    uint64_t messages;       /* messages delivered */
    uint64_t crashes;
    uint64_t min_committed;  /* the lowest committed index among honest members at the end */
    uint64_t end_ms;         /* virtual time at the end */
};

/* Runs one seeded simulation and fills *result. Returns 0 when every check passed, -1 if not. */
int bft_sim_run(const struct bft_sim_options *options, struct bft_sim_result *result);

#endif
