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
 *   - a restarted member has every entry it had committed before the crash (unless the
 *     crash lost its storage: BFT_SIM_MIX_WIPE; then it signs nothing until it rejoins, and
 *     must never contradict what it signed before the loss);
 *   - after the chaos ends (every partition healed, every member restarted, no more drops)
 *     every honest member commits target_commits more entries, before a deadline (and, in
 *     BFT_SIM_MIX_RECONFIGURE, is in the last epoch: one log across epochs, each epoch's
 *     signatures its own);
 *   - then, with idle leaders (idle_delay_ms) and no Byzantine member but silent ones, the
 *     clients stop: after a few
 *     seconds to settle, the honest members write, send and commit nothing for 10 s.
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
    uint32_t mix;            /* the fault mix (enum bft_sim_mix); 0: everything drawn at random */
};

/*
 * Fault mixes: each makes one kind of fault certain, on top of what the seed draws (the
 * network, the other faults). BFT_SIM_MIX_RANDOM draws everything, as seeds always did.
 */
enum bft_sim_mix {
    BFT_SIM_MIX_RANDOM = 0,
    BFT_SIM_MIX_EQUIVOCATE = 1,   /* f members equivocate when they lead */
    BFT_SIM_MIX_SILENT = 2,       /* f members send nothing */
    BFT_SIM_MIX_FORGE = 3,        /* f members forge, replay and garble */
    BFT_SIM_MIX_LEADER_CRASH = 4, /* 1-3 crashes, each of the leader of the moment, at any point of a step */
    BFT_SIM_MIX_PARTITION = 5,    /* 1-2 partitions, each healed at a random moment */
    BFT_SIM_MIX_ALL = 6,          /* f members equivocating or silent, leader crashes and partitions together */
    BFT_SIM_MIX_WIPE = 7,         /* 1-2 crashes that lose the member's storage: it rejoins without signing
                                     until a block carries its entry (vote_from); f - 1 equivocators beside it */
    BFT_SIM_MIX_RECONFIGURE = 8,  /* membership changes (docs/bft.md "Membership changes"): a change entry
                                     ends epoch 0 (n members), epoch 1 adds a new member, a second change
                                     ends it, epoch 2 removes one of the first; each epoch another instance,
                                     begun on a log at the change block; members that missed a change get
                                     the proof from a later member, check it, and follow; crashes around
                                     the switch; up to f members equivocate or stay silent throughout */
    BFT_SIM_MIXES = 9,
};

/* A short name of a mix ("random", "equivocate", ...), for reports. */
const char *bft_sim_mix_name(uint32_t mix);

struct bft_sim_result {
    bool ok;
    bool liveness_only;      /* the one failure is the liveness goal: no safety check failed */
    char failure[1024];      /* what failed, at which virtual time; empty when ok */
    char scenario[256];      /* what the seed chose */
    char detail[16384];      /* a liveness failure: each member's window (bft_core_describe), a line each */
    uint64_t events;         /* events processed */
    uint64_t messages;       /* messages delivered */
    uint64_t crashes;
    uint64_t tips;           /* TIPs delivered as links came back (lies from Byzantine members) */
    uint64_t longest_path;   /* the longest commit proof path committed: a chain of unfinalized blocks, window and kept */
    uint64_t wipes, rejoins;  /* BFT_SIM_MIX_WIPE: storage lost at a crash, and rejoins completed */
    uint64_t switches;       /* BFT_SIM_MIX_RECONFIGURE: members' moves to a next epoch (every one must) */
    uint64_t switches_by_proof; /* of them, by a change proof a later member sent (it missed the change) */
    uint64_t min_committed;  /* the lowest committed index among honest members at the end */
    uint64_t end_ms;         /* virtual time at the end */
    bool idle_checked;       /* the run checked that the log, left without entries, came to rest:
                                no record, message or block for 10 s after 5 s to settle (seeds
                                whose leaders wait for entries, with no Byzantine member but
                                silent ones) */
};

/* Runs one seeded simulation and fills *result. Returns 0 when every check passed, -1 if not. */
int bft_sim_run(const struct bft_sim_options *options, struct bft_sim_result *result);

#endif
