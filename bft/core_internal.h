/*
 * core_internal.h - what the files of the BFT protocol core share (bft.h is the API; this is not).
 *
 * The core (docs/bft.md "Protocol" and "The core") is one state, struct bft_core, that
 * bft_core_step() changes one event at a time: nothing reads a clock, a socket or
 * randomness, and nothing allocates after bft_core_create(). Its files follow its parts:
 *
 *   core.c           the API: create and destroy, the WAL's restore, the step (one event
 *                    in, the actions out), the records a compaction copies, status, describe
 *   core_window.c    the window of heights and the notarized blocks kept below it: the
 *                    committed tip, sliding the window's base (rule 1's precondition)
 *   core_output.c    what a step emits: actions, signed messages, PERSIST records, timers;
 *                    whether the height timer is wanted (an idle log rests), the pending
 *                    entries of the next proposal, the sync request
 *   core_vote.c      votes and certificates: recording votes, forming certificates from a
 *                    quorum, casting this member's votes, forwarding certificates (rule 5)
 *   core_rules.c     the rules that move a height: propose and enter (rule 1), notarize
 *                    (2), finalize (4), commit (6), and the heights a notarized block skips
 *   core_handlers.c  the events from outside: messages (propose, vote, certificate, sync)
 *                    and the height timer (rule 3: nullify, re-send, ask for sync)
 *
 * Every file may read and change any field of struct bft_core, but only inside a step (or
 * a restore) on the caller's thread; the step's output buffers are filled only through
 * core_output.c. The functions below are named core_* and are not static only so that
 * these files can call each other; nothing outside bft/core*.c may use them. The small
 * accessors of the window (slot_at, slot_if_held, ...) are static inline here: they are
 * called in every loop over the window.
 */
#ifndef COHORT_BFT_CORE_INTERNAL_H
#define COHORT_BFT_CORE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "bft/bft.h"

/* Bits of a slot's own_flags: what this member itself said at that height (persisted). */
enum {
    OWN_NOTARIZED = 1,
    OWN_NULLIFIED = 2,
    OWN_FINALIZED = 4,
    OWN_PROPOSED = 8,
    OWN_BASE = 16, /* alone in a VOTE record: the window's base was at its height (core_persist_base) */
};

#define SYNC_BATCH 16         /* COMMIT records one SYNC_SERVE asks the driver to send */
#define TIMEOUT_BACKOFF_MAX 3 /* the timeout doubles at most 3 times (8x) at one height */
#define CATCH_UP_TIMEOUTS 6   /* timeouts a member asks for sync after a restart or a link that came back */
#define UNLINKED_ASK_HEIGHTS 8 /* heights between sync requests for a finalized block this member cannot commit */
#define RECORDS_BYTES (192u * 1024u)
#define RECORDS_VOTE_ROOM (16u * 1024u) /* records kept for VOTE records when a CERT record is added */
#define FORWARD_NONE (-2)
#define BLOCK_RECORD_OVERHEAD 60u /* an encoded block's bytes besides its payload (put_block) */
#define BLOCK_RECORDS_PER_STEP 2  /* BLOCK records one step can hold; more wait for the next step */

/* Everything known about one height of the window. */
struct slot {
    uint64_t height; /* the height held; another value means the slot is free */

    /* The block at this height: the leader's proposal, or the block of a notarization. */
    bool has_block;
    bool block_persisted; /* this block is in a BLOCK record of this member's WAL */
    struct bft_block_header header;
    uint8_t block_hash[BFT_HASH_BYTES];
    uint8_t *payload; /* payload_max_bytes, allocated at create, kept across reuse */
    uint32_t payload_len;

    /* Votes received, at most one of each kind per member (the first one). */
    bool has_notarize[BFT_MEMBERS_MAX];
    uint8_t notarize_hash[BFT_MEMBERS_MAX][BFT_HASH_BYTES];
    uint8_t notarize_sig[BFT_MEMBERS_MAX][BFT_SIGNATURE_BYTES];
    bool has_nullify[BFT_MEMBERS_MAX];
    uint8_t nullify_sig[BFT_MEMBERS_MAX][BFT_SIGNATURE_BYTES];
    bool has_finalize[BFT_MEMBERS_MAX];
    uint8_t finalize_hash[BFT_MEMBERS_MAX][BFT_HASH_BYTES];
    uint8_t finalize_sig[BFT_MEMBERS_MAX][BFT_SIGNATURE_BYTES];

    /* Certificates, formed from votes or received. */
    bool notarized, nullified, finalized;
    struct bft_cert notarization, nullification, finalization;
    /* Known nullified without holding the certificate: a notarized block skips over this
       height (learn_skipped). Counts as nullified wherever the certificate is not sent. */
    bool skipped;
    bool skips_learnt; /* this notarized block's skipped heights are marked */
    int forward_notarization; /* FORWARD_NONE, or the member it came from (-1: formed here): core_forward_new_cert */

    /* This member's own statements at this height (a VOTE record). */
    uint8_t own_flags;
    uint8_t own_notarize_hash[BFT_HASH_BYTES];
    uint8_t own_finalize_hash[BFT_HASH_BYTES];
};

/*
 * A notarized block at a height the window slid past (docs/bft.md "Why it is live"): kept
 * while it may still be committed, as the parent or an ancestor of a block that is yet to
 * be finalized. Every height in (committed_height, base] that has no kept block, or whose
 * kept block is nullified, is nullified.
 */
struct kept {
    uint64_t height;
    struct bft_block_header header;
    uint8_t block_hash[BFT_HASH_BYTES];
    uint8_t *payload; /* payload_cap bytes, grown on demand; kept with the entry when it is removed */
    uint32_t payload_len, payload_cap;
    bool notarized;   /* known notarized (a block restored from a BLOCK record may not be) */
    bool nullified;   /* known nullified: dead, extended by no honest member any more */
    bool block_persisted;
    bool has_nullification;
    struct bft_cert notarization;  /* when notarized */
    struct bft_cert nullification; /* when has_nullification */
};

/* A block held in a slot or kept: what the chain walks (core_try_commit) and the validity rules need. */
struct bref {
    const struct bft_block_header *header;
    const uint8_t *hash;
    const uint8_t *payload;
    uint32_t payload_len;
};

struct bft_core {
    struct bft_config config;
    uint32_t n, q, window;
    const struct bft_scheme *scheme;
    bool started;

    uint64_t cur;              /* the current height */
    uint32_t timeouts_at_cur;  /* consecutive timer firings at cur */
    bool timer_armed;          /* the height timer runs for cur (a quiet member has none: see wanted) */
    uint32_t timer_delay_ms;   /* the delay it was armed with: stall detection counts it when it fires */
    uint64_t heard_height;     /* the highest height of a proposal, vote or certificate another member sent */
    uint64_t spoke_height[BFT_MEMBERS_MAX]; /* each member's highest signed proposal or vote, any height */
    uint64_t spoken_by_f1;     /* the (f+1)-th highest of the others' spoke_height: status.behind */
    uint32_t heard;            /* others that sent a signed message or a TIP since start, a bit each */
    uint32_t catch_up_left;    /* timeouts left to ask for sync (catching up: see wanted) */
    bool sync_asked;           /* a far-ahead message asked for sync since the last timeout */
    uint32_t sync_rotation;    /* which peer the next timeout asks */
    uint64_t unlinked_asked;   /* the finalized height a missing block of whose chain this member last asked for */
    uint32_t unreachable;      /* members the driver reports unreachable (BFT_EVENT_PEER), a bit each */

    /* The committed tip: the last block of the log. */
    uint64_t committed_index, committed_height;
    uint8_t committed_hash[BFT_HASH_BYTES];

    /*
     * The window's base, >= committed_height: the slots hold heights (base, base + window].
     * Every height in (committed_height, base] was nullified and held no notarized block when
     * the window slid past it (slide), so a block there can only extend the committed tip.
     * After a restore that had to slide past its own votes, base_unknown says that is not
     * known for those heights: proposals across them are refused until a commit passes them.
     */
    uint64_t base;
    bool base_unknown;

    struct slot *slots;        /* window + 1 of them, indexed by height mod (window + 1) */
    struct kept *kept;         /* kept_cap of them, grown on demand; the first kept_count are in use, by height */
    uint32_t kept_count, kept_cap;
    size_t kept_bytes;         /* payload_cap summed over kept[0 .. kept_cap): at most kept_bytes_max */
    size_t kept_bytes_max;     /* BFT_WINDOW_MAX x payload_max_bytes: what the store of kept blocks may hold */
    bool *kept_needed;         /* kept_cap of them: kept_prune's scratch */
    struct bft_cert *passed;   /* nullifications of the heights in (committed_height, base] the window slid past, */
    uint32_t passed_count, passed_cap; /* by height; passed_cap grows up to BFT_PATH_MAX */
    uint8_t *pending;          /* entries for this member's next proposal, framed */
    uint32_t pending_len;
    uint64_t idle_armed_height;/* the height the idle timer was armed for */
    uint64_t idle_due_height;  /* the height whose idle delay has passed */
    uint64_t fill_armed_height;/* the height the fill wait began for */
    uint64_t fill_due_height;  /* the height whose fill wait has passed */
    uint32_t fill_target;      /* pending bytes that end the fill wait of fill_armed_height */

    /* Output of one step. */
    struct bft_action *actions;
    size_t action_count, action_cap, send_limit;
    uint8_t *arena;            /* message bytes */
    size_t arena_len, arena_cap;
    uint8_t *records;          /* PERSIST record bytes, never dropped */
    size_t records_len;
    uint8_t *block_records;    /* BLOCK record bytes of this step */
    size_t block_records_len, block_records_cap;
    struct bft_commit *commits;/* commits_cap of them, grown by core_try_commit for a long chain */
    size_t commit_count, commits_cap;
    struct bref *chain;        /* chain_cap of them: core_try_commit's walk, the finalized block first */
    size_t chain_cap;
    uint8_t *path;             /* path_cap bytes: the encoded headers of that chain, the oldest first */
    size_t path_cap;
    uint8_t *sync_payload;     /* the payload of a block committed from SYNC_BLOCK */
    uint8_t *sync_path;        /* its path, sync_path_cap bytes */
    size_t sync_path_cap;

    struct bft_message in, out; /* decode and encode scratch */
    struct bft_core_status status;
};

/* ---- The window's accessors ---- */

static inline uint32_t leader_of(const struct bft_core *core, uint64_t height)
{
    return (uint32_t)(height % core->n);
}

/*
 * The slot for height, cleared if it held another height, or NULL when height is outside
 * the window (base, base + window]. The ring has window + 1 slots so that the blocks
 * committed in a step stay intact while the step touches height base + window + 1 at most
 * (see core_try_commit).
 */
static inline struct slot *slot_at(struct bft_core *core, uint64_t height)
{
    if (height <= core->base || height > core->base + core->window) return NULL;
    struct slot *s = &core->slots[height % (core->window + 1)];
    if (s->height != height) {
        uint8_t *payload = s->payload;
        memset(s, 0, sizeof *s);
        s->payload = payload;
        s->height = height;
        s->forward_notarization = FORWARD_NONE;
    }
    return s;
}

/* Like slot_at, but never clears: NULL unless the slot already holds height. */
static inline struct slot *slot_if_held(struct bft_core *core, uint64_t height)
{
    if (height <= core->base || height > core->base + core->window) return NULL;
    struct slot *s = &core->slots[height % (core->window + 1)];
    return s->height == height ? s : NULL;
}

/* May this member sign a proposal or a vote at height (config.vote_from)? */
static inline bool may_sign_at(const struct bft_core *core, uint64_t height)
{
    return height >= core->config.vote_from;
}

/* Nullified as far as this member knows: it holds a nullification, or a notarized block skips the height. */
static inline bool is_nullified(const struct slot *s)
{
    return s->nullified || s->skipped;
}

/* The block this member holds at s is the notarized one. */
static inline bool has_notarized_block(const struct slot *s)
{
    return s->notarized && s->has_block && memcmp(s->block_hash, s->notarization.vote.hash, BFT_HASH_BYTES) == 0;
}

/* ---- core_window.c: the window and the kept blocks ---- */

/* The kept block at height, or NULL. */
struct kept *core_kept_at(struct bft_core *core, uint64_t height);
/* Fills *out with the block at height with hash, held in a slot or kept; false if there is none. */
bool core_find_block(struct bft_core *core, uint64_t height, const uint8_t hash[BFT_HASH_BYTES], struct bref *out);
/* Whether a block of payload_len bytes can be kept now (pruning the kept blocks when needed). */
bool core_kept_room(struct bft_core *core, uint32_t payload_len);
/* Keeps the block of slot s, which the window is about to slide past; false: the store is full. */
bool core_keep_block(struct bft_core *core, const struct slot *s);
/* Moves the committed tip; the window's base follows it when the tip passes it. */
void core_set_committed(struct bft_core *core, uint64_t index, uint64_t height, const uint8_t hash[BFT_HASH_BYTES]);
/* Keeps the nullification of a height the window passed, for a member that lags (once per height). */
void core_pass_nullification(struct bft_core *core, const struct bft_cert *cert);
/* Slides the window's base until cur + 1 fits in the window; returns whether it does. */
bool core_slide(struct bft_core *core);

/* ---- core_output.c: actions, messages, records, timers, pending entries ---- */

/* Room for `more` actions, of them `commits` COMMIT actions with their commits, past what this step used; false: out of memory. */
bool core_reserve_commits(struct bft_core *core, size_t more, size_t commits);

/* The next action of this step, cleared; NULL for a send past send_limit (counted as dropped). */
struct bft_action *core_push_action(struct bft_core *core, enum bft_action_type type);
/* Signs msg into the arena once and emits it to the members in the bit mask `to`; true: signed. */
bool core_send_message_to(struct bft_core *core, uint32_t to, struct bft_message *msg);
/* Signs msg into the arena and emits it to peer, or to all when peer < 0. */
bool core_send_message(struct bft_core *core, int peer, struct bft_message *msg);
/* The VOTE record of this member's statements at slot s (layout in docs/bft.md "Storage"). */
void core_vote_record(const struct slot *s, uint8_t p[BFT_VOTE_RECORD_BYTES]);
/* Emits a PERSIST of a VOTE record that only says where the window's base is (OWN_BASE). */
void core_persist_base(struct bft_core *core);
/* Emits a PERSIST of slot's VOTE record; the driver makes it durable before later sends. */
void core_persist_own(struct bft_core *core, const struct slot *s);
/* Emits a PERSIST of s's block as a BLOCK record, once per block; false: no room this step. */
bool core_persist_block(struct bft_core *core, struct slot *s);
/* Emits a PERSIST of a notarization as a CERT record; false: no room this step. */
bool core_persist_cert(struct bft_core *core, const struct bft_cert *cert);
/* Arms the height timer of cur. */
void core_set_timer(struct bft_core *core);
/* Someone wants cur to end: entries to order, or another member spoke at cur or above. */
bool core_busy(const struct bft_core *core);
/* The log has a tail to settle: a live notarized block above the tip, or a finalized one not committed. */
bool core_unsettled(struct bft_core *core);
/* Does cur need its timer? (An idle log rests with none.) */
bool core_wanted(struct bft_core *core);
/* Starts catching up: a few timeouts that ask for sync without nullifying anything. */
void core_catch_up(struct bft_core *core);

/* Member `sender` is at `height` or above (signed, or said on its authenticated link): behind. */
void core_note_height(struct bft_core *core, uint32_t sender, uint64_t height);

/* BFT_EVENT_TIP: sender is at height; past the window, this member asks it for the blocks. */
void core_on_tip(struct bft_core *core, uint32_t sender, uint64_t height);
/* Arms the idle timer, or the fill timer, of height. */
void core_set_idle_timer(struct bft_core *core, uint64_t height);
void core_set_fill_timer(struct bft_core *core, uint64_t height);
/* The offset of a framed entry equal to entry[0..len) in pending, or -1. */
long core_pending_find(const struct bft_core *core, const uint8_t *entry, uint32_t len);
/* Drops the pending entries that a block carries: someone else proposed them already. */
void core_pending_drop(struct bft_core *core, const uint8_t *payload, uint32_t payload_len);
/* Whether a block held in the window, not nullified, carries entry[0..len): proposed, not yet
   committed. A copy submitted now (a forwarded frame that came after the proposal) would be
   proposed again on top of it and go into the log twice. */
bool core_held_block_carries(struct bft_core *core, const uint8_t *entry, uint32_t len);
/* Takes a block into slot s, from its proposal or from a certificate that carries it; the
   pending entries it carries leave them (proposed already: proposing them again on top of
   it would put them into the log twice). */
void core_slot_take_block(struct bft_core *core, struct slot *s, const struct bft_block *block,
                          const uint8_t hash[BFT_HASH_BYTES]);
/* Asks peer (or all, peer < 0) for the blocks after the log and the certificates it may lack. */
void core_send_sync_request(struct bft_core *core, int peer);

/* ---- core_vote.c: votes and certificates ---- */

/* Records member's vote in s; returns false for a duplicate or a second, different vote. */
bool core_record_vote(struct bft_core *core, struct slot *s, uint32_t member, const struct bft_vote *v,
                      const uint8_t sig[BFT_SIGNATURE_BYTES]);
/* Sends a certificate to the members in the mask `to`, a notarization with its block (or NULL). */
void core_send_cert_block(struct bft_core *core, const struct bref *block, const struct bft_cert *cert, uint32_t to);
/* Sends the certificate at s to peer, or to all when peer < 0. */
void core_forward_cert(struct bft_core *core, struct slot *s, const struct bft_cert *cert, int peer);
/* Rule 5 on a certificate just learnt: to every other member but sender (or -1). */
void core_forward_new_cert(struct bft_core *core, struct slot *s, const struct bft_cert *cert, int sender);
/* Sends the notarizations learnt in this step, after the step's rules ran. */
void core_forward_notarizations(struct bft_core *core);
/* Forms whatever certificates the votes in s now allow, and forwards each new one. */
void core_check_quorums(struct bft_core *core, struct slot *s, const struct bft_vote *v);
/* Signs and broadcasts this member's vote (kind, hash) at s, and counts it. The caller persisted it. */
void core_cast_vote(struct bft_core *core, struct slot *s, uint8_t kind, const uint8_t *hash, int peer);

/* ---- core_rules.c: the rules ---- */

/* Rule 1: enter height cur: arm its timer, propose if leader, vote if a proposal waits. */
void core_enter_height(struct bft_core *core);
/* Marks the heights in (parent_height, height) skipped: a notarized block there skips them. */
void core_mark_skipped(struct bft_core *core, uint64_t parent_height, uint64_t height);
/* Finalizes what can be, and enters every height whose predecessor is certified. */
void core_progress(struct bft_core *core);
/* Rule 6: commits the highest finalized block whose chain down to the tip is all here. Last in a step. */
void core_try_commit(struct bft_core *core);

/* ---- core_handlers.c: messages and the height timer ---- */

/* Rule 3, and the re-sends that make up for a lossy network. */
void core_on_timer(struct bft_core *core, uint64_t height);
/* Takes one message from another member (bytes borrowed for the step). */
void core_on_message(struct bft_core *core, const uint8_t *bytes, size_t len);

#endif
