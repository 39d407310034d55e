/*
 * core.c - the Simplex protocol core (docs/bft.md "Protocol" and "The core").
 *
 * bft_core_step() takes one event and produces actions. Nothing here reads a clock, a
 * socket or randomness, and nothing allocates after bft_core_create(): every buffer
 * (height slots, block payloads, the action list, the bytes of outgoing messages) is sized
 * there from the config.
 *
 * Reading guide, in the order of docs/bft.md's rules:
 *   enter_height ........ rule 1 (enter, arm the timer, propose: try_propose)
 *   try_notarize ........ rule 2
 *   on_timer ............ rule 3 (nullify, re-send, ask for sync)
 *   try_finalize ........ rule 4
 *   forward_cert ........ rule 5
 *   try_commit .......... rule 6
 */
#include "bft/bft.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/bytes.h"

/* Bits of a slot's own_flags: what this member itself said at that height (persisted). */
enum {
    OWN_NOTARIZED = 1,
    OWN_NULLIFIED = 2,
    OWN_FINALIZED = 4,
    OWN_PROPOSED = 8,
    OWN_BASE = 16, /* alone in a VOTE record: the window's base was at its height (persist_base) */
};

#define SYNC_BATCH 16         /* COMMIT records one SYNC_SERVE asks the driver to send */
#define TIMEOUT_BACKOFF_MAX 3 /* the timeout doubles at most 3 times (8x) at one height */
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
    int forward_notarization; /* FORWARD_NONE, or the member it came from (-1: formed here): see forward_new_cert */

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
    uint8_t *payload; /* payload_max_bytes, allocated at create */
    uint32_t payload_len;
    bool notarized;   /* known notarized (a block restored from a BLOCK record may not be) */
    bool nullified;   /* known nullified: dead, extended by no honest member any more */
    bool block_persisted;
    bool has_nullification;
    struct bft_cert notarization;  /* when notarized */
    struct bft_cert nullification; /* when has_nullification */
};

/* A block held in a slot or kept: what the chain walks (try_commit) and the validity rules need. */
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
    bool sync_asked;           /* a far-ahead message asked for sync since the last timeout */
    uint32_t sync_rotation;    /* which peer the next timeout asks */
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
    struct kept *kept;         /* window of them; the first kept_count are in use, by height */
    uint32_t kept_count;
    struct bft_cert *passed;   /* window of them: nullifications of the latest heights the window slid past */
    uint32_t passed_next;      /* where the next one goes */
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
    struct bft_commit *commits;/* window + 1 */
    size_t commit_count;
    uint8_t *sync_payload;     /* the payload of a block committed from SYNC_BLOCK */

    struct bft_message in, out; /* decode and encode scratch */
    struct bft_core_status status;
};

static bool persist_block(struct bft_core *core, struct slot *s);
static bool persist_cert(struct bft_core *core, const struct bft_cert *cert);
static void persist_base(struct bft_core *core);

static uint32_t leader_of(const struct bft_core *core, uint64_t height)
{
    return (uint32_t)(height % core->n);
}

/*
 * The slot for height, cleared if it held another height, or NULL when height is outside
 * the window (base, base + window]. The ring has window + 1 slots so that the blocks
 * committed in a step stay intact while the step touches height base + window + 1 at most
 * (see try_commit).
 */
static struct slot *slot_at(struct bft_core *core, uint64_t height)
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
static struct slot *slot_if_held(struct bft_core *core, uint64_t height)
{
    if (height <= core->base || height > core->base + core->window) return NULL;
    struct slot *s = &core->slots[height % (core->window + 1)];
    return s->height == height ? s : NULL;
}

/* Nullified as far as this member knows: it holds a nullification, or a notarized block skips the height. */
static bool is_nullified(const struct slot *s)
{
    return s->nullified || s->skipped;
}

/* The block this member holds at s is the notarized one. */
static bool has_notarized_block(const struct slot *s)
{
    return s->notarized && s->has_block && memcmp(s->block_hash, s->notarization.vote.hash, BFT_HASH_BYTES) == 0;
}

/* ---- Kept blocks: notarized blocks below the window ---- */

static struct kept *kept_at(struct bft_core *core, uint64_t height)
{
    for (uint32_t i = 0; i < core->kept_count; i++)
        if (core->kept[i].height == height) return &core->kept[i];
    return NULL;
}

/*
 * Removes kept block i. Its payload buffer moves to the unused end of the array, intact
 * until a later step keeps another block there: a COMMIT action of this step may point at it.
 */
static void kept_remove(struct bft_core *core, uint32_t i)
{
    assert(i < core->kept_count);
    uint8_t *payload = core->kept[i].payload;
    memmove(&core->kept[i], &core->kept[i + 1], (core->kept_count - i - 1) * sizeof *core->kept);
    core->kept_count--;
    core->kept[core->kept_count].payload = payload;
}

/* Fills *out with the block at height with hash, held in a slot or kept; false if there is none. */
static bool find_block(struct bft_core *core, uint64_t height, const uint8_t hash[BFT_HASH_BYTES], struct bref *out)
{
    if (height > core->base) {
        struct slot *s = slot_if_held(core, height);
        if (s == NULL || !s->has_block || memcmp(s->block_hash, hash, BFT_HASH_BYTES) != 0) return false;
        *out = (struct bref){&s->header, s->block_hash, s->payload, s->payload_len};
        return true;
    }
    struct kept *k = kept_at(core, height);
    if (k == NULL || memcmp(k->block_hash, hash, BFT_HASH_BYTES) != 0) return false;
    *out = (struct bref){&k->header, k->block_hash, k->payload, k->payload_len};
    return true;
}

/* Marks needed[] for the kept ancestors of the block whose parent is (height, hash). */
static void mark_kept_ancestors(struct bft_core *core, uint64_t height, const uint8_t *hash, bool *needed)
{
    while (height > core->committed_height && height <= core->base) {
        struct kept *k = kept_at(core, height);
        if (k == NULL || memcmp(k->block_hash, hash, BFT_HASH_BYTES) != 0) return;
        needed[k - core->kept] = true;
        height = k->header.parent_height;
        hash = k->header.parent_hash;
    }
}

/*
 * Drops the kept blocks no later block can need: those at or below the committed height,
 * and the nullified ones that are no ancestor of a live notarized block (one not known
 * nullified, held or kept). A nullified block is extended by no honest member that knows
 * it (block_is_valid), so only a live block's chain can still be committed.
 */
static void kept_prune(struct bft_core *core)
{
    bool needed[BFT_WINDOW_MAX] = {false};
    for (uint64_t h = core->base + 1; h <= core->base + core->window; h++) {
        struct slot *s = slot_if_held(core, h);
        if (s != NULL && has_notarized_block(s) && !is_nullified(s))
            mark_kept_ancestors(core, s->header.parent_height, s->header.parent_hash, needed);
    }
    for (uint32_t i = core->kept_count; i-- > 0;) {
        struct kept *k = &core->kept[i];
        if (k->notarized && !k->nullified) needed[i] = true;
        if (needed[i]) mark_kept_ancestors(core, k->header.parent_height, k->header.parent_hash, needed);
    }
    for (uint32_t i = core->kept_count; i-- > 0;)
        if (!needed[i] || core->kept[i].height <= core->committed_height) kept_remove(core, i);
}

/*
 * Keeps the block of slot s, which the window is about to slide past; returns false when
 * the store is full of blocks that may still be committed (then the window stops).
 */
static bool keep_block(struct bft_core *core, const struct slot *s)
{
    assert(s->has_block);
    assert(core->kept_count == 0 || core->kept[core->kept_count - 1].height < s->height);
    if (core->kept_count == core->window) kept_prune(core);
    if (core->kept_count == core->window) return false;
    struct kept *k = &core->kept[core->kept_count++];
    k->height = s->height;
    k->header = s->header;
    memcpy(k->block_hash, s->block_hash, BFT_HASH_BYTES);
    memcpy(k->payload, s->payload, s->payload_len);
    k->payload_len = s->payload_len;
    k->notarized = has_notarized_block(s);
    k->nullified = is_nullified(s);
    k->block_persisted = s->block_persisted;
    if (k->notarized) k->notarization = s->notarization;
    k->has_nullification = s->nullified;
    if (s->nullified) k->nullification = s->nullification;
    return true;
}

/* Moves the committed tip; the window's base follows it when the tip passes it. */
static void set_committed(struct bft_core *core, uint64_t index, uint64_t height, const uint8_t hash[BFT_HASH_BYTES])
{
    if (index > core->committed_index) { /* progress */
        core->status.waiting_ms = 0;
        core->status.stalled = false;
    }
    core->committed_index = index;
    core->committed_height = height;
    memcpy(core->committed_hash, hash, BFT_HASH_BYTES);
    if (core->base <= height) {
        core->base = height;
        core->base_unknown = false;
    }
    while (core->kept_count > 0 && core->kept[0].height <= height) kept_remove(core, 0);
}

/*
 * May the notarized block at slot s still be committed? When it is not known nullified, or
 * when a live notarized block held above it (one not known nullified) descends from it.
 */
static bool block_needed(struct bft_core *core, const struct slot *s)
{
    if (!is_nullified(s)) return true;
    for (uint64_t h = s->height + 1; h <= core->base + core->window; h++) {
        struct slot *t = slot_if_held(core, h);
        if (t == NULL || !has_notarized_block(t) || is_nullified(t)) continue;
        struct bref b = {&t->header, t->block_hash, t->payload, t->payload_len};
        while (b.header->parent_height > s->height &&
               find_block(core, b.header->parent_height, b.header->parent_hash, &b)) {
        }
        if (b.header->parent_height == s->height && memcmp(b.header->parent_hash, s->block_hash, BFT_HASH_BYTES) == 0)
            return true;
    }
    return false;
}

/*
 * Slides the window's base past its lowest heights until cur + 1 fits in the window;
 * returns whether it does (docs/bft.md "Why it is live"). A height passes when it is
 * certified: nullified without a notarized block (nothing there can ever be committed), or
 * notarized with its block, which is then kept (keep_block) while it may still be
 * committed as the parent or an ancestor of a later block. A height not certified yet, or
 * a notarization whose block has not arrived, stops the slide; so does a full store of
 * kept blocks, which needs a chain of `window` notarized blocks none of which is finalized.
 */
static bool slide(struct bft_core *core)
{
    uint64_t before = core->base;
    bool fits = true;
    while (fits && core->cur + 1 > core->base + core->window) {
        struct slot *s = slot_if_held(core, core->base + 1);
        fits = false;
        if (s == NULL) break;
        if (s->notarized && !(is_nullified(s) && has_notarized_block(s) && !block_needed(core, s))) {
            if (!has_notarized_block(s)) break; /* its block first */
            if (core->kept_count == core->window) kept_prune(core);
            if (core->kept_count == core->window) break;
            /* On disk first, so a restart still has it and knows it is not nullified: the
               block, its notarization, and its nullification if known. No room: next step. */
            if (!persist_block(core, s) || !persist_cert(core, &s->notarization) ||
                (s->nullified && !persist_cert(core, &s->nullification)))
                break;
            keep_block(core, s);
        } else if (!is_nullified(s)) {
            break;
        }
        if (s->nullified) /* kept a while, for a member that lags and still needs it (on_sync_request) */
            core->passed[core->passed_next++ % core->window] = s->nullification;
        core->base++;
        fits = true;
    }
    if (core->base != before) persist_base(core);
    return fits && core->cur + 1 <= core->base + core->window;
}

/* ---- Output ---- */

static struct bft_action *push_action(struct bft_core *core, enum bft_action_type type)
{
    bool is_send = type == BFT_ACTION_SEND || type == BFT_ACTION_BROADCAST || type == BFT_ACTION_SYNC_SERVE;
    if (is_send && core->action_count >= core->send_limit) {
        core->status.sends_dropped++;
        return NULL;
    }
    /* The room above send_limit is kept for persist, commit and timer actions. */
    assert(core->action_count < core->action_cap);
    struct bft_action *a = &core->actions[core->action_count++];
    memset(a, 0, sizeof *a);
    a->type = type;
    return a;
}

/*
 * Encodes and signs msg into the arena once and emits it to every member in the bit mask
 * `to` (never to self): one BROADCAST when that is every other member, else one SEND per
 * member. Does nothing for an empty mask.
 */
static void send_message_to(struct bft_core *core, uint32_t to, struct bft_message *msg)
{
    uint32_t others = (core->n >= 32 ? UINT32_MAX : (1u << core->n) - 1) & ~(1u << core->config.self);
    to &= others;
    if (to == 0) return;
    msg->instance = core->config.instance;
    msg->sender = (uint16_t)core->config.self;
    size_t len = 0;
    struct cohort_error err;
    if (bft_message_encode(msg, core->config.private_key, core->scheme, core->arena + core->arena_len,
                           core->arena_cap - core->arena_len, &len, &err) < 0) {
        core->status.sends_dropped++; /* the arena is full this step; a timeout re-sends */
        return;
    }
    const uint8_t *bytes = core->arena + core->arena_len;
    core->arena_len += len;
    for (uint32_t peer = 0; peer < core->n; peer++) {
        if (!(to & (1u << peer))) continue;
        struct bft_action *a = push_action(core, to == others ? BFT_ACTION_BROADCAST : BFT_ACTION_SEND);
        if (a == NULL) return;
        a->peer = peer;
        a->bytes = bytes;
        a->len = len;
        if (to == others) return;
    }
}

/* Encodes and signs msg into the arena and emits it to peer, or to all when peer < 0. */
static void send_message(struct bft_core *core, int peer, struct bft_message *msg)
{
    send_message_to(core, peer < 0 ? UINT32_MAX : 1u << peer, msg);
}

/* The VOTE record of this member's statements at slot s (layout in docs/bft.md "Storage"). */
static void vote_record(const struct slot *s, uint8_t p[BFT_VOTE_RECORD_BYTES])
{
    be_put(p, s->height, 8);
    p[8] = s->own_flags;
    memcpy(p + 9, s->own_notarize_hash, BFT_HASH_BYTES);
    memcpy(p + 41, s->own_finalize_hash, BFT_HASH_BYTES);
}

/*
 * Emits a PERSIST of a VOTE record that only says where the window's base is (OWN_BASE): every
 * height up to it is nullified but for the blocks kept there (each on disk as BLOCK and CERT
 * records before it). A restart restores the window there, so it never enters those heights
 * again (it may have voted there) and still knows they are nullified: a member that had
 * forgotten it refused every proposal across them, and with a lagging member no block could
 * be notarized any more (simulator seed 2000313 with a window of 6).
 */
static void persist_base(struct bft_core *core)
{
    assert(core->records_len + BFT_VOTE_RECORD_BYTES <= RECORDS_BYTES);
    uint8_t *p = core->records + core->records_len;
    memset(p, 0, BFT_VOTE_RECORD_BYTES);
    be_put(p, core->base, 8);
    p[8] = OWN_BASE;
    core->records_len += BFT_VOTE_RECORD_BYTES;
    struct bft_action *a = push_action(core, BFT_ACTION_PERSIST);
    a->record_type = BFT_RECORD_VOTE;
    a->bytes = p;
    a->len = BFT_VOTE_RECORD_BYTES;
}

/* Emits a PERSIST of slot's VOTE record; the driver makes it durable before later sends. */
static void persist_own(struct bft_core *core, const struct slot *s)
{
    assert(core->records_len + BFT_VOTE_RECORD_BYTES <= RECORDS_BYTES);
    uint8_t *p = core->records + core->records_len;
    vote_record(s, p);
    core->records_len += BFT_VOTE_RECORD_BYTES;
    struct bft_action *a = push_action(core, BFT_ACTION_PERSIST);
    a->record_type = BFT_RECORD_VOTE;
    a->bytes = p;
    a->len = BFT_VOTE_RECORD_BYTES;
}

/*
 * Emits a PERSIST of s's block as a BLOCK record, once per block, before this member's
 * first vote for it leaves: every member that voted for a block holds it after a restart,
 * so a notarized block cannot be lost by crashing every member that had it (its
 * notarization would then stop every later proposal, which must extend it). Returns false
 * when this step has no room left for the block: the caller does not vote yet, and the
 * next step tries again.
 */
static bool persist_block(struct bft_core *core, struct slot *s)
{
    assert(s->has_block);
    if (s->block_persisted) return true;
    size_t len = 0;
    struct bft_block block = {s->header, s->payload, s->payload_len};
    if (bft_block_encode(&block, core->block_records + core->block_records_len,
                         core->block_records_cap - core->block_records_len, &len, NULL) < 0)
        return false;
    struct bft_action *a = push_action(core, BFT_ACTION_PERSIST);
    a->record_type = BFT_RECORD_BLOCK;
    a->bytes = core->block_records + core->block_records_len;
    a->len = len;
    core->block_records_len += len;
    s->block_persisted = true;
    return true;
}

/*
 * Emits a PERSIST of the notarization at s as a CERT record, before the finalize vote that
 * relies on it: a member that finalized a height can never nullify it, so after a crash it
 * must still be able to show the others the notarization that lets everyone enter the next
 * height (rule 5). Without it, a notarization that only the crashed members held (made with
 * a Byzantine member's vote that is never sent again) was lost, and the height could be
 * neither finalized nor nullified nor notarized again: every member stopped there for good
 * (simulator seed 10051656). Returns false when this step has no room left: the caller does
 * not vote yet.
 */
static bool persist_cert(struct bft_core *core, const struct bft_cert *cert)
{
    size_t len = 0;
    if (bft_cert_encode(cert, core->records + core->records_len, RECORDS_BYTES - core->records_len, &len, NULL) < 0 ||
        core->records_len + len + RECORDS_VOTE_ROOM > RECORDS_BYTES)
        return false;
    struct bft_action *a = push_action(core, BFT_ACTION_PERSIST);
    a->record_type = BFT_RECORD_CERT;
    a->bytes = core->records + core->records_len;
    a->len = len;
    core->records_len += len;
    return true;
}

/* The timeout of cur: timeout_ms, doubling while it stays there; a sixteenth of that while
   cur's leader is unreachable (no proposal can come: nullify soon, and the next leader goes on). */
static uint32_t timeout_of_cur(const struct bft_core *core)
{
    uint32_t shift = core->timeouts_at_cur < TIMEOUT_BACKOFF_MAX ? core->timeouts_at_cur : TIMEOUT_BACKOFF_MAX;
    uint32_t base = core->config.timeout_ms;
    uint32_t leader = leader_of(core, core->cur);
    if (leader != core->config.self && (core->unreachable & (1u << leader))) base = base / 16 ? base / 16 : 1;
    return base << shift;
}

static void set_timer(struct bft_core *core)
{
    struct bft_action *a = push_action(core, BFT_ACTION_SET_TIMER);
    a->height = core->cur;
    a->delay_ms = timeout_of_cur(core);
    core->timer_armed = true;
    core->timer_delay_ms = a->delay_ms;
}

/* ---- Quiet: an idle log sends and writes nothing (docs/bft.md "Idle") ---- */

/* Someone wants cur to end: this member has entries to order, or another member spoke at cur or above. */
static bool busy(const struct bft_core *core)
{
    return core->pending_len > 0 || core->heard_height >= core->cur;
}

/*
 * The log has a tail to settle: a live notarized block above the committed tip (held or
 * kept), or a finalized block not committed yet (a block of its chain missing).
 */
static bool unsettled(struct bft_core *core)
{
    for (uint32_t i = 0; i < core->kept_count; i++)
        if (!core->kept[i].nullified) return true;
    for (uint64_t h = core->base + 1; h < core->cur; h++) {
        const struct slot *s = slot_if_held(core, h);
        if (s != NULL && (s->finalized || (s->notarized && !is_nullified(s)))) return true;
    }
    return false;
}

/*
 * Does cur need its timer? Always without an idle delay (the leader proposes at once, empty
 * or not, so the log never rests). With one, only while the member is busy or the log
 * unsettled: otherwise nothing is outstanding, and the member rests at cur with no timer,
 * proposes nothing and writes nothing until an entry or another member's message wakes it.
 */
static bool wanted(struct bft_core *core)
{
    return core->config.idle_delay_ms == 0 || busy(core) || unsettled(core);
}

static void set_idle_timer(struct bft_core *core, uint64_t height)
{
    struct bft_action *a = push_action(core, BFT_ACTION_SET_TIMER);
    a->timer = BFT_TIMER_IDLE;
    a->height = height;
    a->delay_ms = core->config.idle_delay_ms;
}

static void set_fill_timer(struct bft_core *core, uint64_t height)
{
    struct bft_action *a = push_action(core, BFT_ACTION_SET_TIMER);
    a->timer = BFT_TIMER_FILL;
    a->height = height;
    a->delay_ms = core->config.fill_wait_ms;
}

/* The offset of a framed entry equal to entry[0..len) in pending, or -1. */
static long pending_find(const struct bft_core *core, const uint8_t *entry, uint32_t len)
{
    for (uint32_t off = 0; off + 4 <= core->pending_len;) {
        const uint8_t *p = core->pending + off;
        uint32_t n = (uint32_t)be_get(p, 4);
        if (n == len && memcmp(p + 4, entry, len) == 0) return (long)off;
        off += 4 + n;
    }
    return -1;
}

/* Drops the pending entries that a block carries: someone else proposed them already. */
static void pending_drop(struct bft_core *core, const uint8_t *payload, uint32_t payload_len)
{
    uint32_t off = 0, len;
    const uint8_t *entry;
    while (core->pending_len > 0 && bft_payload_next(payload, payload_len, &off, &entry, &len, NULL) == 1) {
        long at = pending_find(core, entry, len);
        if (at < 0) continue;
        uint32_t cut = 4 + len, end = (uint32_t)at + cut;
        memmove(core->pending + at, core->pending + end, core->pending_len - end);
        core->pending_len -= cut;
    }
}

/*
 * Asks peer (or all, peer < 0) for the committed blocks after this member's log and for the
 * certificates from the lowest height it has not seen finalized: not only those of cur.
 * Certificates that were lost below cur (before the network healed) are otherwise never
 * sent again, and the members can stop at the window's edge, each lacking what another
 * holds (simulator seed 2000022 with a window of 6).
 */
static void send_sync_request(struct bft_core *core, int peer)
{
    memset(&core->out.vote, 0, sizeof core->out.vote);
    core->out.type = BFT_MSG_SYNC_REQUEST;
    core->out.has_block = false;
    core->out.from_index = core->committed_index + 1;
    uint64_t from = core->cur;
    for (uint32_t i = 0; i < core->kept_count && from == core->cur; i++)
        if (!core->kept[i].nullified) from = core->kept[i].height; /* live: it may turn out nullified */
    for (uint64_t h = core->base + 1; h < core->cur && from == core->cur; h++) {
        const struct slot *s = slot_if_held(core, h);
        bool settled = s != NULL && (s->finalized || (is_nullified(s) && (!s->notarized || has_notarized_block(s))));
        if (!settled) {
            from = h;
            break;
        }
    }
    core->out.from_height = from;
    send_message(core, peer, &core->out);
}

/* ---- Votes and certificates ---- */

/* Records member's vote in s; returns false for a duplicate or a second, different vote. */
static bool record_vote(struct bft_core *core, struct slot *s, uint32_t member, const struct bft_vote *v,
                        const uint8_t sig[BFT_SIGNATURE_BYTES])
{
    assert(member < core->n);
    assert(v->height == s->height);
    switch ((enum bft_vote_kind)v->kind) {
    case BFT_VOTE_NOTARIZE:
        if (s->has_notarize[member]) {
            if (memcmp(s->notarize_hash[member], v->hash, BFT_HASH_BYTES) != 0) core->status.equivocations_seen++;
            return false;
        }
        s->has_notarize[member] = true;
        memcpy(s->notarize_hash[member], v->hash, BFT_HASH_BYTES);
        memcpy(s->notarize_sig[member], sig, BFT_SIGNATURE_BYTES);
        return true;
    case BFT_VOTE_NULLIFY:
        if (s->has_nullify[member]) return false;
        s->has_nullify[member] = true;
        memcpy(s->nullify_sig[member], sig, BFT_SIGNATURE_BYTES);
        return true;
    case BFT_VOTE_FINALIZE:
        if (s->has_finalize[member]) {
            if (memcmp(s->finalize_hash[member], v->hash, BFT_HASH_BYTES) != 0) core->status.equivocations_seen++;
            return false;
        }
        s->has_finalize[member] = true;
        memcpy(s->finalize_hash[member], v->hash, BFT_HASH_BYTES);
        memcpy(s->finalize_sig[member], sig, BFT_SIGNATURE_BYTES);
        return true;
    }
    return false;
}

/*
 * Sends a certificate to the members in the mask `to`: a notarization with its block when
 * this member has it (block, or NULL).
 */
static void send_cert_block(struct bft_core *core, const struct bref *block, const struct bft_cert *cert, uint32_t to)
{
    core->out.type = BFT_MSG_CERT;
    core->out.commit.cert = *cert;
    core->out.has_block = cert->vote.kind == BFT_VOTE_NOTARIZE && block != NULL &&
                          memcmp(block->hash, cert->vote.hash, BFT_HASH_BYTES) == 0;
    if (core->out.has_block) {
        core->out.commit.block.header = *block->header;
        core->out.commit.block.payload = block->payload;
        core->out.commit.block.payload_len = block->payload_len;
    }
    send_message_to(core, to, &core->out);
}

static void send_cert(struct bft_core *core, struct slot *s, const struct bft_cert *cert, uint32_t to)
{
    struct bref b = {&s->header, s->block_hash, s->payload, s->payload_len};
    send_cert_block(core, s->has_block ? &b : NULL, cert, to);
}

static void forward_cert(struct bft_core *core, struct slot *s, const struct bft_cert *cert, int peer)
{
    send_cert(core, s, cert, peer < 0 ? UINT32_MAX : 1u << peer);
}

/*
 * Rule 5 on a certificate this member has just learnt: it goes to every other member but
 * the one it came from (sender, or -1). Sending it only to the members whose vote is missing
 * was tried: on lossy networks (the simulator's 14-24% loss) members then nullified heights
 * they would have finalized, and some seeds ran into the window's liveness gap. The
 * envelope of a CERT is not signed (message.c), so forwarding costs no signature.
 */
static void forward_new_cert(struct bft_core *core, struct slot *s, const struct bft_cert *cert, int sender)
{
    if (cert->vote.kind == BFT_VOTE_NOTARIZE) {
        s->forward_notarization = sender; /* at the end of the step: forward_notarizations */
        return;
    }
    send_cert(core, s, cert, sender < 0 ? UINT32_MAX : UINT32_MAX & ~(1u << sender));
}

/*
 * Sends the notarizations learnt in this step, after the step's rules ran: the finalize
 * vote this member casts on a new notarization is persisted by then, so the certificate
 * waits for the same sync as that vote and leaves with it, in one write per peer (one
 * wake-up there) instead of two. Only a member that missed the votes needs the
 * certificate; it gets it one fsync later.
 */
static void forward_notarizations(struct bft_core *core)
{
    for (uint64_t h = core->base + 1; h <= core->base + core->window; h++) {
        struct slot *s = slot_if_held(core, h);
        if (s == NULL || s->forward_notarization == FORWARD_NONE) continue;
        int sender = s->forward_notarization;
        s->forward_notarization = FORWARD_NONE;
        send_cert(core, s, &s->notarization, sender < 0 ? UINT32_MAX : UINT32_MAX & ~(1u << sender));
    }
}

/* Builds a certificate for (kind, hash) from the votes in s if q members agree. */
static bool gather(struct bft_core *core, struct slot *s, uint8_t kind, const uint8_t hash[BFT_HASH_BYTES],
                   struct bft_cert *cert)
{
    memset(cert, 0, sizeof *cert);
    cert->vote.kind = kind;
    cert->vote.height = s->height;
    if (hash != NULL) memcpy(cert->vote.hash, hash, BFT_HASH_BYTES);
    for (uint32_t m = 0; m < core->n; m++) {
        const uint8_t *sig = NULL;
        if (kind == BFT_VOTE_NOTARIZE && s->has_notarize[m] && memcmp(s->notarize_hash[m], hash, BFT_HASH_BYTES) == 0)
            sig = s->notarize_sig[m];
        if (kind == BFT_VOTE_NULLIFY && s->has_nullify[m]) sig = s->nullify_sig[m];
        if (kind == BFT_VOTE_FINALIZE && s->has_finalize[m] && memcmp(s->finalize_hash[m], hash, BFT_HASH_BYTES) == 0)
            sig = s->finalize_sig[m];
        if (sig == NULL) continue;
        cert->signer[cert->count] = (uint16_t)m;
        memcpy(cert->signature[cert->count], sig, BFT_SIGNATURE_BYTES);
        cert->count++;
    }
    return cert->count >= core->q;
}

/* Forms whatever certificates the votes in s now allow, and forwards each new one. */
static void check_quorums(struct bft_core *core, struct slot *s, const struct bft_vote *v)
{
    if (v->kind == BFT_VOTE_NOTARIZE && !s->notarized && gather(core, s, BFT_VOTE_NOTARIZE, v->hash, &s->notarization)) {
        s->notarized = true;
        forward_new_cert(core, s, &s->notarization, -1);
    }
    if (v->kind == BFT_VOTE_NULLIFY && !s->nullified && gather(core, s, BFT_VOTE_NULLIFY, NULL, &s->nullification)) {
        s->nullified = true;
        forward_new_cert(core, s, &s->nullification, -1);
    }
    if (v->kind == BFT_VOTE_FINALIZE && !s->finalized && gather(core, s, BFT_VOTE_FINALIZE, v->hash, &s->finalization)) {
        s->finalized = true;
        forward_new_cert(core, s, &s->finalization, -1);
    }
}

/* Signs and broadcasts this member's vote (kind, hash) at s, and counts it. The caller persisted it. */
static void cast_vote(struct bft_core *core, struct slot *s, uint8_t kind, const uint8_t *hash, int peer)
{
    core->out.type = BFT_MSG_VOTE;
    core->out.has_block = false;
    core->out.vote.kind = kind;
    core->out.vote.height = s->height;
    memset(core->out.vote.hash, 0, BFT_HASH_BYTES);
    if (hash != NULL) memcpy(core->out.vote.hash, hash, BFT_HASH_BYTES);
    size_t before = core->arena_len, before_actions = core->action_count;
    send_message(core, peer, &core->out);
    if (core->action_count == before_actions) return; /* dropped: the next timeout re-sends */
    /* The signature ends the message just written; our own vote counts like any other. */
    const uint8_t *sig = core->arena + core->arena_len - BFT_SIGNATURE_BYTES;
    assert(core->arena_len > before);
    struct bft_vote v = core->out.vote;
    if (record_vote(core, s, core->config.self, &v, sig)) check_quorums(core, s, &v);
}

/* ---- Rules ---- */

/* Is the block in s (at height cur) a valid proposal for this member? docs/bft.md "valid". */
static bool block_is_valid(struct bft_core *core, struct slot *s)
{
    const struct bft_block_header *h = &s->header;
    assert(h->height == s->height);
    if (h->parent_height < core->committed_height || h->parent_height >= h->height) return false;
    if (h->parent_height == core->committed_height) {
        if (memcmp(h->parent_hash, core->committed_hash, BFT_HASH_BYTES) != 0) return false;
        if (h->index != core->committed_index + 1) return false;
    } else if (h->parent_height > core->base) {
        /* The parent is notarized, and not known nullified: a nullified block is dead (no
           later block extends it, docs/bft.md "Protocol"), so the window can let it go. */
        struct slot *p = slot_if_held(core, h->parent_height);
        if (p == NULL || !has_notarized_block(p) || is_nullified(p)) return false;
        if (memcmp(p->block_hash, h->parent_hash, BFT_HASH_BYTES) != 0) return false;
        if (h->index != p->header.index + 1) return false;
    } else {
        struct kept *p = kept_at(core, h->parent_height);
        if (core->base_unknown || p == NULL || !p->notarized || p->nullified) return false;
        if (memcmp(p->block_hash, h->parent_hash, BFT_HASH_BYTES) != 0) return false;
        if (h->index != p->header.index + 1) return false;
    }
    /* Every height between is nullified: below the base, unless a live block is kept there. */
    if (h->parent_height + 1 <= core->base && h->parent_height + 1 < h->height) {
        if (core->base_unknown) return false;
        for (uint32_t i = 0; i < core->kept_count; i++) {
            const struct kept *k = &core->kept[i];
            if (k->height > h->parent_height && k->height < h->height && !k->nullified) return false;
        }
    }
    for (uint64_t q = h->parent_height + 1 > core->base + 1 ? h->parent_height + 1 : core->base + 1; q < h->height;
         q++) {
        struct slot *m = slot_if_held(core, q);
        if (m == NULL || !is_nullified(m)) return false;
    }
    /* The payload must be well framed, so every committed payload can be walked. */
    uint32_t off = 0, len;
    const uint8_t *e;
    int rc;
    while ((rc = bft_payload_next(s->payload, s->payload_len, &off, &e, &len, NULL)) == 1) {
    }
    return rc == 0;
}

/* Rule 2: vote for the leader's block at cur, once, unless this member nullified cur. */
static void try_notarize(struct bft_core *core)
{
    struct slot *s = slot_at(core, core->cur);
    if (s == NULL || !s->has_block) return;
    if (s->own_flags & (OWN_NOTARIZED | OWN_NULLIFIED)) return;
    if (!block_is_valid(core, s) || !persist_block(core, s)) return;
    s->own_flags |= OWN_NOTARIZED;
    memcpy(s->own_notarize_hash, s->block_hash, BFT_HASH_BYTES);
    persist_own(core, s);
    cast_vote(core, s, BFT_VOTE_NOTARIZE, s->block_hash, -1);
}

/* Rule 4: finalize a notarized block at a height this member did not nullify. */
static void try_finalize(struct bft_core *core, struct slot *s)
{
    if (!s->notarized || (s->own_flags & (OWN_NULLIFIED | OWN_FINALIZED))) return;
    /* The notarized block, if this member has it, is on its disk before the vote leaves. */
    if (s->has_block && memcmp(s->block_hash, s->notarization.vote.hash, BFT_HASH_BYTES) == 0 &&
        !persist_block(core, s))
        return;
    if (!persist_cert(core, &s->notarization)) return;
    s->own_flags |= OWN_FINALIZED;
    memcpy(s->own_finalize_hash, s->notarization.vote.hash, BFT_HASH_BYTES);
    persist_own(core, s);
    cast_vote(core, s, BFT_VOTE_FINALIZE, s->own_finalize_hash, -1);
}

/* Rule 1, the leader's part: propose on the highest notarized block whose later heights are nullified. */
static void try_propose(struct bft_core *core)
{
    uint64_t h = core->cur;
    if (leader_of(core, h) != core->config.self) return;
    struct slot *s = slot_at(core, h);
    if (s == NULL || s->has_block || (s->own_flags & (OWN_PROPOSED | OWN_NULLIFIED))) return;
    struct bft_block_header header;
    memset(&header, 0, sizeof header);
    header.height = h;
    uint64_t q = h - 1;
    bool parent_final = true;       /* the parent is finalized (the committed tip is) */
    uint32_t parent_bytes = 0;      /* its payload's size */
    for (; q > core->committed_height; q--) {
        if (q <= core->base) {
            /* Slid past: nullified, but for the live blocks kept there; the highest one is the parent. */
            if (core->base_unknown) return;
            const struct kept *k = NULL;
            for (uint32_t i = core->kept_count; i-- > 0 && k == NULL;)
                if (core->kept[i].height <= q && !core->kept[i].nullified) k = &core->kept[i];
            if (k == NULL) {
                q = core->committed_height;
                break;
            }
            if (!k->notarized) return; /* restored, not known notarized: nothing to extend yet */
            q = k->height;
            header.parent_height = q;
            header.index = k->header.index + 1;
            memcpy(header.parent_hash, k->block_hash, BFT_HASH_BYTES);
            parent_final = false;
            parent_bytes = k->payload_len;
            break;
        }
        struct slot *p = slot_if_held(core, q);
        if (p == NULL) return;
        if (p->notarized && !is_nullified(p)) { /* a nullified one is dead: skip it */
            if (!has_notarized_block(p)) return; /* its block first */
            header.parent_height = q;
            header.index = p->header.index + 1;
            memcpy(header.parent_hash, p->block_hash, BFT_HASH_BYTES);
            parent_final = p->finalized;
            parent_bytes = p->payload_len;
            break;
        }
        if (!is_nullified(p)) return; /* nothing to extend yet */
    }
    if (!parent_final && core->config.idle_delay_ms > 0 && core->idle_due_height != h) {
        /*
         * Pacing: the parent is notarized but not finalized yet. Wait for its finalization
         * (usually one round), or for the idle delay if it never comes (a height that some
         * honest members nullified). The entries that arrive meanwhile ride in this block:
         * when the members' CPUs are the bottleneck, fewer blocks carry more entries each,
         * and a block's cost (votes, signatures, fsyncs) is paid less often (docs/bft.md
         * "Pacing").
         */
        if (core->idle_armed_height != h) {
            core->idle_armed_height = h;
            set_idle_timer(core, h);
        }
        return;
    }
    bool filling = core->config.fill_wait_ms > 0 && core->fill_due_height != h;
    if (filling && core->fill_armed_height != h) {
        /*
         * Filling: the parent is finalized (or was never waited for). Under a closed loop of
         * clients, the clients answered by the parent's commit send their next writes a
         * moment after the finalization; proposing at once would leave them for the block
         * after, and the clients would split into two groups in alternate blocks of half
         * the size. So wait, at most fill_wait_ms, until the block carries 3/4 of the
         * parent's bytes beyond what is pending now (docs/bft.md "Filling").
         */
        uint64_t target = (uint64_t)core->pending_len + parent_bytes * 3 / 4;
        core->fill_armed_height = h;
        core->fill_target = target < core->config.payload_max_bytes ? (uint32_t)target : core->config.payload_max_bytes;
        /* Armed even when the target is met already: entries that another block carries
           may leave pending meanwhile, and the wait must still end. */
        set_fill_timer(core, h);
    }
    if (core->pending_len == 0 && core->config.idle_delay_ms > 0) {
        /* Nothing to order: wait a little for an entry before proposing an empty block. */
        if (core->idle_due_height != h) {
            if (core->idle_armed_height != h) {
                core->idle_armed_height = h;
                set_idle_timer(core, h);
            }
            return;
        }
        /* Then propose it only when something is outstanding: another member spoke at this
           height (it has entries this one lacks, or lags), or a notarized block waits to be
           finalized, which this block settles. With nothing outstanding the log rests. */
        if (!busy(core) && !unsettled(core)) return;
    }
    if (filling && core->pending_len < core->fill_target) return;
    if (q == core->committed_height) {
        header.parent_height = core->committed_height;
        header.index = core->committed_index + 1;
        memcpy(header.parent_hash, core->committed_hash, BFT_HASH_BYTES);
    }
    assert(core->pending_len <= core->config.payload_max_bytes);
    memcpy(s->payload, core->pending, core->pending_len);
    s->payload_len = core->pending_len;
    core->pending_len = 0; /* entries of a proposal that fails are dropped; clients retry */
    struct bft_block block = {header, s->payload, s->payload_len};
    bft_block_seal(core->config.instance, &block, s->block_hash);
    s->header = block.header;
    s->has_block = true;
    s->block_persisted = false;
    s->own_flags |= OWN_PROPOSED;

    /*
     * The proposal leaves before its record is durable: a proposal is not a vote, and the
     * safety argument counts only votes. A leader that crashes before the record is on disk
     * may propose another block at this height after its restart, which looks to the others
     * like an equivocating leader (tolerated); its own notarize vote, persisted below by
     * try_notarize before it leaves, is still cast once. This takes one fsync off the
     * critical path of every write (docs/bft.md "Storage").
     */
    core->out.type = BFT_MSG_PROPOSE;
    core->out.has_block = true;
    core->out.commit.block = block;
    size_t before = core->action_count;
    send_message(core, -1, &core->out);
    if (core->action_count > before) core->actions[before].unordered = true;
    persist_own(core, s); /* no second proposal at this height unless a crash loses this record */
}

/* Rule 1: enter height cur: arm its timer, propose if leader, vote if a proposal waits. */
static void enter_height(struct bft_core *core)
{
    core->timeouts_at_cur = 0;
    core->timer_armed = false;
    if (wanted(core)) set_timer(core); /* else armed when something wakes it (bft_core_step) */
    try_propose(core);
    try_notarize(core);
}

/*
 * A notarized block at h with its parent at p tells that every height in (p, h) is
 * nullified: at least f+1 honest members voted for the block, and an honest member votes
 * only for a block whose skipped heights it holds nullifications of (so, by induction, a
 * nullification of each exists). Marks those heights `skipped`. This lets a member that
 * missed those nullifications, and cannot get them any more because every other member's
 * window slid past them, enter the heights after them (simulator seeds 2000002 and
 * 2000391 with a window of 6: a member stopped below the others for good).
 */
static void mark_skipped(struct bft_core *core, uint64_t parent_height, uint64_t height)
{
    for (uint32_t i = 0; i < core->kept_count; i++)
        if (core->kept[i].height > parent_height && core->kept[i].height < height) core->kept[i].nullified = true;
    uint64_t k = parent_height + 1 > core->base + 1 ? parent_height + 1 : core->base + 1;
    for (; k < height && k <= core->base + core->window; k++) {
        struct slot *m = slot_at(core, k);
        if (!m->finalized) m->skipped = true; /* finalized and nullified: impossible (safety) */
    }
}

static void learn_skipped(struct bft_core *core)
{
    for (uint64_t h = core->base + 1; h <= core->base + core->window; h++) {
        struct slot *s = slot_if_held(core, h);
        if (s == NULL || s->skips_learnt || !has_notarized_block(s)) continue;
        s->skips_learnt = true;
        mark_skipped(core, s->header.parent_height, h);
    }
}

/* Finalizes what can be, and enters every height whose predecessor is certified. */
static void progress(struct bft_core *core)
{
    /* What arrived may have completed what cur's proposal or vote was waiting for. */
    try_propose(core);
    try_notarize(core);
    for (;;) {
        learn_skipped(core);
        for (uint64_t h = core->base + 1; h <= core->cur; h++) {
            struct slot *s = slot_if_held(core, h);
            if (s != NULL) try_finalize(core, s);
        }
        struct slot *s = slot_if_held(core, core->cur);
        if (s == NULL || !(s->notarized || is_nullified(s))) break;
        if (!slide(core)) break; /* the window is full of heights that may still matter: wait for a commit */
        core->cur++;
        enter_height(core);
    }
}

/*
 * Rule 6: commits the highest finalized block whose chain down to the committed tip is
 * all here, with every block between, oldest first. Runs last in a step: the COMMIT
 * actions point at slot payloads, which stay intact because nothing after this touches
 * a slot other than the one of height committed_height + 1 (see slot_at).
 */
static void try_commit(struct bft_core *core)
{
    uint64_t top = core->base + core->window;
    for (uint64_t f = top; f > core->base; f--) {
        struct slot *fs = slot_if_held(core, f);
        if (fs == NULL || !fs->finalized || !fs->has_block) continue;
        if (memcmp(fs->block_hash, fs->finalization.vote.hash, BFT_HASH_BYTES) != 0) continue;

        /* Walk the parents down to the tip, through held and kept blocks; chain[0] is the finalized block. */
        struct bref chain[BFT_PATH_MAX + 1];
        size_t len = 0;
        struct bref b = {&fs->header, fs->block_hash, fs->payload, fs->payload_len};
        bool linked = false;
        while (len <= BFT_PATH_MAX) {
            chain[len++] = b;
            const struct bft_block_header *h = b.header;
            if (h->parent_height == core->committed_height) {
                linked = memcmp(h->parent_hash, core->committed_hash, BFT_HASH_BYTES) == 0 &&
                         h->index == core->committed_index + 1;
                break;
            }
            if (h->parent_height < core->committed_height || h->parent_height >= h->height ||
                !find_block(core, h->parent_height, h->parent_hash, &b) || b.header->index + 1 != h->index)
                break;
        }
        if (!linked) continue;

        /* The window's heights and the kept blocks below it: at most 2 x window, BFT_PATH_MAX + 1. */
        assert(len <= BFT_PATH_MAX + 1);
        /* Oldest first; block chain[i]'s path is the headers of chain[i-1] .. chain[0]. */
        for (size_t i = len; i-- > 0;) {
            struct bft_commit *c = &core->commits[core->commit_count++];
            c->block.header = *chain[i].header;
            c->block.payload = chain[i].payload;
            c->block.payload_len = chain[i].payload_len;
            memcpy(c->hash, chain[i].hash, BFT_HASH_BYTES);
            c->cert = fs->finalization;
            c->path_count = (uint16_t)i;
            for (size_t k = 0; k < i; k++) c->path[k] = *chain[i - 1 - k].header;
            struct bft_action *a = push_action(core, BFT_ACTION_COMMIT);
            a->commit = c;
            pending_drop(core, c->block.payload, c->block.payload_len);
        }
        set_committed(core, fs->header.index, f, fs->block_hash);
        if (core->cur <= f) {
            core->cur = f + 1;
            enter_height(core); /* touches only height f + 1 */
        }
        return;
    }
}

/* ---- Handlers ---- */

static void on_propose(struct bft_core *core, const struct bft_message *m)
{
    const struct bft_block *b = &m->commit.block;
    if (m->sender != leader_of(core, b->header.height)) {
        core->status.messages_refused++;
        return;
    }
    struct slot *s = slot_at(core, b->header.height);
    if (s == NULL) return;
    if (s->has_block) {
        if (memcmp(s->block_hash, m->commit.hash, BFT_HASH_BYTES) != 0) core->status.equivocations_seen++;
        return;
    }
    s->has_block = true;
    s->block_persisted = false;
    s->header = b->header;
    memcpy(s->block_hash, m->commit.hash, BFT_HASH_BYTES);
    memcpy(s->payload, b->payload, b->payload_len);
    s->payload_len = b->payload_len;
    pending_drop(core, b->payload, b->payload_len);
}

static void on_vote(struct bft_core *core, const struct bft_message *m)
{
    struct slot *s = slot_at(core, m->vote.height);
    if (s == NULL) return;
    if (record_vote(core, s, m->sender, &m->vote, m->signature)) check_quorums(core, s, &m->vote);
}

static void on_cert(struct bft_core *core, const struct bft_message *m, struct slot *s)
{
    const struct bft_cert *c = &m->commit.cert;
    struct cohort_error err;
    /* The votes on this (kind, height, hash) that this member checked already need no second look. */
    const uint8_t *known[BFT_MEMBERS_MAX] = {NULL};
    for (uint32_t i = 0; i < core->n; i++) {
        if (c->vote.kind == BFT_VOTE_NOTARIZE && s->has_notarize[i] &&
            memcmp(s->notarize_hash[i], c->vote.hash, BFT_HASH_BYTES) == 0)
            known[i] = s->notarize_sig[i];
        else if (c->vote.kind == BFT_VOTE_NULLIFY && s->has_nullify[i])
            known[i] = s->nullify_sig[i];
        else if (c->vote.kind == BFT_VOTE_FINALIZE && s->has_finalize[i] &&
                 memcmp(s->finalize_hash[i], c->vote.hash, BFT_HASH_BYTES) == 0)
            known[i] = s->finalize_sig[i];
    }
    if (bft_cert_verify_known(c, core->config.instance, &core->config.members, core->scheme, known, &err) < 0 ||
        (m->has_block && memcmp(m->commit.hash, c->vote.hash, BFT_HASH_BYTES) != 0) ||
        (m->has_block && m->commit.block.header.height != c->vote.height)) {
        core->status.messages_refused++;
        return;
    }
    if (m->has_block && !(s->has_block && memcmp(s->block_hash, c->vote.hash, BFT_HASH_BYTES) == 0)) {
        /* The certified block wins over a different proposal an equivocating leader sent us. */
        s->has_block = true;
        s->block_persisted = false;
        s->header = m->commit.block.header;
        memcpy(s->block_hash, m->commit.hash, BFT_HASH_BYTES);
        memcpy(s->payload, m->commit.block.payload, m->commit.block.payload_len);
        s->payload_len = m->commit.block.payload_len;
    }
    bool *flag = c->vote.kind == BFT_VOTE_NOTARIZE ? &s->notarized
                 : c->vote.kind == BFT_VOTE_NULLIFY ? &s->nullified
                                                    : &s->finalized;
    struct bft_cert *dst = c->vote.kind == BFT_VOTE_NOTARIZE ? &s->notarization
                           : c->vote.kind == BFT_VOTE_NULLIFY ? &s->nullification
                                                              : &s->finalization;
    if (*flag) return;
    *flag = true;
    *dst = *c;
    if (c->vote.height > core->heard_height) core->heard_height = c->vote.height;
    forward_new_cert(core, s, dst, m->sender);
}

/*
 * A notarized block above the window whose parent is below its top: the heights between are
 * nullified (learn_skipped), which lets a member that lags behind every other member's
 * window enter them (simulator seed 3000051 with a window of 2). Checked like any
 * certificate; the block is not kept (it does not fit), a later sync brings it again.
 */
static void learn_skipped_above(struct bft_core *core, const struct bft_message *m)
{
    const struct bft_cert *c = &m->commit.cert;
    const struct bft_block_header *h = &m->commit.block.header;
    if (h->height != c->vote.height || h->parent_height >= core->base + core->window ||
        h->parent_height < core->committed_height || memcmp(m->commit.hash, c->vote.hash, BFT_HASH_BYTES) != 0)
        return;
    struct cohort_error err;
    if (bft_cert_verify(c, core->config.instance, &core->config.members, core->scheme, &err) < 0) {
        core->status.messages_refused++;
        return;
    }
    mark_skipped(core, h->parent_height, h->height);
}

/*
 * A nullification of a height below the window where a live block is kept: that block is
 * dead now (nothing extends it any more), so the window need not keep it for later blocks.
 */
static void on_kept_cert(struct bft_core *core, const struct bft_message *m)
{
    const struct bft_cert *c = &m->commit.cert;
    if (c->vote.kind == BFT_VOTE_NOTARIZE && m->has_block && c->vote.height > core->base + core->window) {
        learn_skipped_above(core, m);
        return;
    }
    if (c->vote.kind != BFT_VOTE_NULLIFY || c->vote.height <= core->committed_height || c->vote.height > core->base)
        return;
    struct kept *k = kept_at(core, c->vote.height);
    if (k == NULL || k->has_nullification) return;
    struct cohort_error err;
    if (bft_cert_verify(c, core->config.instance, &core->config.members, core->scheme, &err) < 0) {
        core->status.messages_refused++;
        return;
    }
    k->nullified = true;
    k->has_nullification = true;
    k->nullification = *c;
}

static void on_sync_request(struct bft_core *core, const struct bft_message *m)
{
    if (m->from_index >= 1 && m->from_index <= core->committed_index) {
        struct bft_action *a = push_action(core, BFT_ACTION_SYNC_SERVE);
        if (a != NULL) {
            a->peer = m->sender;
            a->from_index = m->from_index;
        }
    }
    /* And the certificates of the heights the asker is at or above, so it can enter them:
       the notarizations of the blocks kept below the window (which also tell which heights
       they skip, learn_skipped), then those held in the window. */
    for (uint32_t i = 0; i < core->kept_count; i++) {
        const struct kept *k = &core->kept[i];
        if (k->height < m->from_height || !k->notarized) continue;
        struct bref b = {&k->header, k->block_hash, k->payload, k->payload_len};
        send_cert_block(core, &b, &k->notarization, 1u << m->sender);
        if (k->has_nullification) send_cert_block(core, NULL, &k->nullification, 1u << m->sender);
    }
    for (uint32_t i = 0; i < core->window; i++) {
        const struct bft_cert *c = &core->passed[i];
        if (c->count > 0 && c->vote.height >= m->from_height && c->vote.height > core->committed_height &&
            c->vote.height <= core->base)
            send_cert_block(core, NULL, c, 1u << m->sender);
    }
    uint64_t from = m->from_height > core->base ? m->from_height : core->base + 1;
    for (uint64_t h = from; h <= core->cur && h <= core->base + core->window; h++) {
        struct slot *s = slot_if_held(core, h);
        if (s == NULL) continue;
        if (s->notarized) forward_cert(core, s, &s->notarization, m->sender);
        if (s->nullified) forward_cert(core, s, &s->nullification, m->sender);
        if (s->finalized) forward_cert(core, s, &s->finalization, m->sender);
    }
}

static void on_sync_block(struct bft_core *core, struct bft_message *m)
{
    struct bft_commit *c = &m->commit;
    const struct bft_block_header *h = &c->block.header;
    if (h->index != core->committed_index + 1) return; /* not the next one: old, or ahead of a gap */
    struct cohort_error err;
    if (h->parent_height != core->committed_height ||
        memcmp(h->parent_hash, core->committed_hash, BFT_HASH_BYTES) != 0 ||
        bft_commit_verify(c, core->config.instance, &core->config.members, core->scheme, &err) < 0) {
        core->status.messages_refused++;
        return;
    }
    /* The event's bytes are only borrowed: the committed block is copied out of them. */
    struct bft_commit *out = &core->commits[core->commit_count++];
    *out = *c;
    memcpy(core->sync_payload, c->block.payload, c->block.payload_len);
    out->block.payload = core->sync_payload;
    struct bft_action *a = push_action(core, BFT_ACTION_COMMIT);
    a->commit = out;
    set_committed(core, h->index, h->height, c->hash);
    if (core->cur <= h->height) {
        core->cur = h->height + 1;
        enter_height(core);
    }
    if (core->committed_index % (SYNC_BATCH / 2) == 0 && c->cert.vote.height > h->height)
        send_sync_request(core, m->sender); /* more to fetch: ask before this batch runs out */
}

/*
 * Stall detection: a height timer of fired_ms ran out. While something is outstanding
 * (wanted) and no commit came, the wait adds up; past stall_ms, with a quorum of members
 * reachable (as the driver reports them: BFT_EVENT_PEER), the member says it is stalled.
 */
static void note_wait(struct bft_core *core, uint32_t fired_ms)
{
    if (!wanted(core)) {
        core->status.waiting_ms = 0;
        core->status.stalled = false;
        return;
    }
    core->status.waiting_ms += fired_ms;
    uint32_t reachable = core->n - (uint32_t)__builtin_popcount(core->unreachable);
    uint64_t limit = core->config.stall_ms ? core->config.stall_ms : 30 * (uint64_t)core->config.timeout_ms;
    bool stalled = core->status.waiting_ms >= limit && reachable >= core->q;
    if (stalled && !core->status.stalled) core->status.stalls++;
    core->status.stalled = stalled;
}

/* Rule 3, and the re-sends that make up for a lossy network. */
static void on_timer(struct bft_core *core, uint64_t height)
{
    if (height != core->cur || !core->timer_armed) return; /* a timer of a height already left */
    core->timer_armed = false;
    uint32_t fired_ms = core->timer_delay_ms;
    struct slot *s = slot_at(core, core->cur);
    assert(s != NULL);
    /* Resting with only a tail to settle: the first timeout re-sends and asks (below); a
       height is nullified only when that did not settle it, or when someone is busy. */
    bool nullify = core->config.idle_delay_ms == 0 || busy(core) || core->timeouts_at_cur > 0;
    if (nullify && !(s->own_flags & (OWN_NULLIFIED | OWN_FINALIZED))) {
        s->own_flags |= OWN_NULLIFIED;
        persist_own(core, s);
    }
    /* Re-send everything this member said at cur (the same signed bytes: signing is deterministic). */
    if ((s->own_flags & OWN_PROPOSED) && s->has_block) {
        core->out.type = BFT_MSG_PROPOSE;
        core->out.has_block = true;
        core->out.commit.block.header = s->header;
        core->out.commit.block.payload = s->payload;
        core->out.commit.block.payload_len = s->payload_len;
        send_message(core, -1, &core->out);
    }
    if (s->own_flags & OWN_NOTARIZED) cast_vote(core, s, BFT_VOTE_NOTARIZE, s->own_notarize_hash, -1);
    if (s->own_flags & OWN_NULLIFIED) cast_vote(core, s, BFT_VOTE_NULLIFY, NULL, -1);
    if (s->own_flags & OWN_FINALIZED) cast_vote(core, s, BFT_VOTE_FINALIZE, s->own_finalize_hash, -1);
    /* And its finalize votes below cur that have not made a finalization yet: a vote lost
       there is otherwise never sent again (simulator seed 2000022 with a window of 6). */
    for (uint64_t h = core->base + 1; h < core->cur; h++) {
        struct slot *b = slot_if_held(core, h);
        if (b != NULL && (b->own_flags & OWN_FINALIZED) && !b->finalized)
            cast_vote(core, b, BFT_VOTE_FINALIZE, b->own_finalize_hash, -1);
    }
    struct slot *prev = slot_if_held(core, core->cur - 1);
    if (prev != NULL && prev->notarized) forward_cert(core, prev, &prev->notarization, -1);
    if (prev != NULL && prev->nullified) forward_cert(core, prev, &prev->nullification, -1);
    /* Ask one peer, a different one each time, for what this member may have missed. */
    if (core->n > 1) {
        uint32_t peer = (core->config.self + 1 + core->sync_rotation++ % (core->n - 1)) % core->n;
        send_sync_request(core, (int)peer);
    }
    core->sync_asked = false;
    core->timeouts_at_cur++;
    if (wanted(core)) set_timer(core);
    note_wait(core, fired_ms);
}

/* A message about a height above the window: this member is behind; ask the sender, once per timeout. */
static void behind(struct bft_core *core, uint64_t height, uint16_t sender)
{
    if (height <= core->base + core->window || core->sync_asked) return;
    core->sync_asked = true;
    send_sync_request(core, sender);
}

/* True if m says nothing new (checked before its signature, which costs far more). */
static bool is_duplicate(struct bft_core *core, const struct bft_message *m)
{
    switch ((enum bft_message_type)m->type) {
    case BFT_MSG_PROPOSE: {
        struct slot *s = slot_if_held(core, m->commit.block.header.height);
        return s != NULL && s->has_block && memcmp(s->block_hash, m->commit.hash, BFT_HASH_BYTES) == 0;
    }
    case BFT_MSG_VOTE: {
        /* A vote of a kind whose certificate this member holds already adds nothing (one
           notarization per height, by safety): not checking it saves n - q signature checks
           of each kind per height. */
        struct slot *s = slot_if_held(core, m->vote.height);
        if (s == NULL || m->sender >= core->n) return false;
        if (m->vote.kind == BFT_VOTE_NOTARIZE) return s->notarized || s->has_notarize[m->sender];
        if (m->vote.kind == BFT_VOTE_NULLIFY) return s->nullified || s->has_nullify[m->sender];
        return s->finalized || s->has_finalize[m->sender];
    }
    case BFT_MSG_CERT: {
        struct slot *s = slot_if_held(core, m->commit.cert.vote.height);
        if (s == NULL) return false;
        const struct bft_cert *c = &m->commit.cert;
        if (c->vote.kind == BFT_VOTE_NULLIFY) return s->nullified;
        if (c->vote.kind == BFT_VOTE_FINALIZE) return s->finalized;
        if (!s->notarized) return false;
        /* A notarization we hold, but a block we lack: take the block, no signature needed,
           since its hash is the certified one. */
        if (m->has_block && !(s->has_block && memcmp(s->block_hash, s->notarization.vote.hash, BFT_HASH_BYTES) == 0) &&
            memcmp(m->commit.hash, s->notarization.vote.hash, BFT_HASH_BYTES) == 0 &&
            m->commit.block.header.height == s->height) {
            s->has_block = true;
            s->block_persisted = false;
            s->header = m->commit.block.header;
            memcpy(s->block_hash, m->commit.hash, BFT_HASH_BYTES);
            memcpy(s->payload, m->commit.block.payload, m->commit.block.payload_len);
            s->payload_len = m->commit.block.payload_len;
        }
        return true;
    }
    case BFT_MSG_SYNC_BLOCK: return m->commit.block.header.index != core->committed_index + 1;
    case BFT_MSG_SYNC_REQUEST: return false;
    }
    return false;
}

/*
 * A certificate of a kind this member holds already, recognised from its first bytes (the
 * envelope and the certified vote) before the message is decoded: decoding would hash the
 * block a notarization carries, and every member forwards every certificate it forms, so
 * most arrive as duplicates. Anything this does not recognise is decoded as usual (and a
 * malformed message refused there).
 */
static bool is_held_cert(const struct bft_core *core, const uint8_t *bytes, size_t len)
{
    if (len < BFT_ENVELOPE_BYTES + BFT_VOTE_BODY_BYTES || bytes[0] != BFT_MESSAGE_VERSION ||
        bytes[1] != BFT_MSG_CERT || be_get(bytes + 2, 8) != core->config.instance || be_get(bytes + 10, 2) >= core->n)
        return false;
    const uint8_t *vote = bytes + BFT_ENVELOPE_BYTES;
    const struct slot *s = slot_if_held((struct bft_core *)core, be_get(vote + 1, 8));
    if (s == NULL) return false;
    switch (vote[0]) {
    case BFT_VOTE_NULLIFY: return s->nullified;
    case BFT_VOTE_FINALIZE: return s->finalized && memcmp(s->finalization.vote.hash, vote + 9, BFT_HASH_BYTES) == 0;
    case BFT_VOTE_NOTARIZE:
        /* Only with the block as well: a notarization may bring the block this member lacks. */
        return s->notarized && memcmp(s->notarization.vote.hash, vote + 9, BFT_HASH_BYTES) == 0 && s->has_block &&
               memcmp(s->block_hash, s->notarization.vote.hash, BFT_HASH_BYTES) == 0;
    default: return false;
    }
}

static void on_message(struct bft_core *core, const uint8_t *bytes, size_t len)
{
    struct bft_message *m = &core->in;
    struct cohort_error err;
    if (is_held_cert(core, bytes, len)) return;
    if (bft_message_decode(bytes, len, core->config.payload_max_bytes, m, &err) < 0 ||
        m->instance != core->config.instance || m->sender >= core->n) {
        core->status.messages_refused++;
        return;
    }
    if (m->sender == core->config.self) return;
    if (is_duplicate(core, m)) return;
    /* A CERT's envelope is unsigned: the certificate inside is checked by on_cert. */
    if (m->type != BFT_MSG_CERT && bft_message_check_sender(m, &core->config.members, core->scheme, &err) < 0) {
        core->status.messages_refused++;
        return;
    }
    /* Another member speaks at this height: a resting member wakes (busy). A certificate is
       checked later, so it counts only once accepted (on_cert). */
    uint64_t spoke = m->type == BFT_MSG_PROPOSE ? m->commit.block.header.height
                     : m->type == BFT_MSG_VOTE  ? m->vote.height
                                                : 0;
    if (spoke > core->heard_height && spoke <= core->base + core->window) core->heard_height = spoke;
    switch ((enum bft_message_type)m->type) {
    case BFT_MSG_PROPOSE:
        behind(core, m->commit.block.header.height, m->sender);
        on_propose(core, m);
        break;
    case BFT_MSG_VOTE:
        behind(core, m->vote.height, m->sender);
        on_vote(core, m);
        break;
    case BFT_MSG_CERT: {
        behind(core, m->commit.cert.vote.height, m->sender);
        struct slot *s = slot_at(core, m->commit.cert.vote.height);
        if (s != NULL) on_cert(core, m, s);
        else on_kept_cert(core, m);
        break;
    }
    case BFT_MSG_SYNC_REQUEST: on_sync_request(core, m); break;
    case BFT_MSG_SYNC_BLOCK: on_sync_block(core, m); break;
    }
}

/* ---- Public ---- */

struct bft_core *bft_core_create(const struct bft_config *config, struct cohort_error *err)
{
    assert(config != NULL);
    if (config->members.count < 1 || config->members.count > BFT_MEMBERS_MAX || config->self >= config->members.count)
        return cohort_error_set(err, BFT_E_INVALID, "bft", "core: %u members (1..%d), self %u", config->members.count,
                                BFT_MEMBERS_MAX, config->self),
               NULL;
    if (config->payload_max_bytes < 64 || config->payload_max_bytes > BFT_PAYLOAD_MAX || config->window_heights < 2 ||
        config->window_heights > BFT_WINDOW_MAX || config->timeout_ms == 0 || config->timeout_ms > (1u << 24) ||
        config->fill_wait_ms >= config->timeout_ms)
        return cohort_error_set(err, BFT_E_INVALID, "bft",
                                "core: payload_max_bytes %u (64..%u), window_heights %u (2..%d), timeout_ms %u, "
                                "fill_wait_ms %u (under timeout_ms)",
                                config->payload_max_bytes, BFT_PAYLOAD_MAX, config->window_heights, BFT_WINDOW_MAX,
                                config->timeout_ms, config->fill_wait_ms),
               NULL;
    struct bft_core *core = calloc(1, sizeof *core);
    if (core == NULL) goto nomem;
    core->config = *config;
    core->n = config->members.count;
    core->q = bft_quorum(core->n);
    core->window = config->window_heights;
    core->scheme = config->scheme != NULL ? config->scheme : &bft_scheme_secp;
    core->slots = calloc(core->window + 1, sizeof *core->slots);
    core->pending = malloc(config->payload_max_bytes);
    core->commits = calloc(2 * (size_t)core->window + 2, sizeof *core->commits); /* a chain and a synced block */
    core->kept = calloc(core->window, sizeof *core->kept);
    core->passed = calloc(core->window, sizeof *core->passed);
    core->sync_payload = malloc(config->payload_max_bytes);
    /* Actions of one step: a few per height of the window, plus room kept for persist and commit. */
    core->action_cap = 12 * (size_t)core->window + 4 * core->n + 160;
    core->send_limit = core->action_cap - 6 * (size_t)core->window - 64;
    core->actions = calloc(core->action_cap, sizeof *core->actions);
    core->arena_cap = 4 * ((size_t)config->payload_max_bytes + 8192) + 256 * 1024;
    core->arena = malloc(core->arena_cap);
    core->records = malloc(RECORDS_BYTES);
    core->block_records_cap = BLOCK_RECORDS_PER_STEP * ((size_t)config->payload_max_bytes + BLOCK_RECORD_OVERHEAD);
    core->block_records = malloc(core->block_records_cap);
    if (!core->slots || !core->pending || !core->commits || !core->sync_payload || !core->actions || !core->arena ||
        !core->records || !core->block_records || !core->kept || !core->passed)
        goto nomem;
    for (uint32_t i = 0; i <= core->window; i++) {
        core->slots[i].payload = malloc(config->payload_max_bytes);
        if (core->slots[i].payload == NULL) goto nomem;
    }
    for (uint32_t i = 0; i < core->window; i++) {
        core->kept[i].payload = malloc(config->payload_max_bytes);
        if (core->kept[i].payload == NULL) goto nomem;
    }
    return core;
nomem:
    bft_core_destroy(core);
    cohort_error_set(err, BFT_E_NOMEM, "bft", "core: out of memory for a window of %u heights of %u bytes",
                     config->window_heights, config->payload_max_bytes);
    return NULL;
}

void bft_core_destroy(struct bft_core *core)
{
    if (core == NULL) return;
    if (core->slots != NULL)
        for (uint32_t i = 0; i <= core->window; i++) free(core->slots[i].payload);
    free(core->slots);
    if (core->kept != NULL)
        for (uint32_t i = 0; i < core->window; i++) free(core->kept[i].payload);
    free(core->kept);
    free(core->passed);
    free(core->pending);
    free(core->commits);
    free(core->sync_payload);
    free(core->actions);
    free(core->arena);
    free(core->records);
    free(core->block_records);
    explicit_bzero(core->config.private_key, sizeof core->config.private_key);
    free(core);
}

/*
 * The slot a VOTE or BLOCK record of height h restores into (what: which), or NULL in
 * *out for a height the log or the window passed.
 */
/*
 * While restoring: the window had slid to at least new_base. Its base moves there; the
 * blocks it passes are kept (they may be ancestors of what is committed next), and the
 * heights it passes are not known to be nullified (base_unknown).
 */
static void restore_slide(struct bft_core *core, uint64_t new_base, bool known)
{
    if (new_base <= core->base) return;
    for (uint64_t h = core->base + 1; h <= new_base && h <= core->base + core->window; h++) {
        struct slot *s = slot_if_held(core, h);
        /* With a base record (known), the kept blocks are the notarized ones; without, any
           block this member voted for may be needed. A full store loses one: sync brings it. */
        if (s != NULL && s->has_block && (!known || has_notarized_block(s))) (void)keep_block(core, s);
    }
    core->base = new_base;
    core->base_unknown = !known;
}

static int restore_slot(struct bft_core *core, uint64_t h, const char *what, struct slot **out,
                        struct cohort_error *err)
{
    *out = NULL;
    if (h <= core->committed_height || h <= core->base) return 0; /* a height the log (or the window) passed */
    /* Voted past the window the commits allow: the window had slid. Slide it here too. */
    if (h > core->base + core->window) restore_slide(core, h - core->window, false);
    *out = slot_at(core, h);
    if (*out == NULL)
        return cohort_error_set(err, BFT_E_CORRUPT, "bft", "restore: %s at height %llu is beyond the window", what,
                                (unsigned long long)h);
    return 0;
}

int bft_core_restore(struct bft_core *core, uint8_t record_type, const uint8_t *payload, size_t len,
                     struct cohort_error *err)
{
    assert(core != NULL && !core->started);
    assert(payload != NULL || len == 0);
    if (record_type == BFT_RECORD_SNAPSHOT) return 0;
    if (record_type == BFT_RECORD_BASE) {
        if (len != BFT_BASE_RECORD_BYTES)
            return cohort_error_set(err, BFT_E_CORRUPT, "bft", "restore: base record of %zu bytes", len);
        if (core->committed_index != 0 || core->committed_height != 0)
            return cohort_error_set(err, BFT_E_CORRUPT, "bft", "restore: a base record after the log began");
        uint64_t index = be_get(payload, 8), height = be_get(payload + 8, 8);
        if (index == 0 || height < index)
            return cohort_error_set(err, BFT_E_CORRUPT, "bft", "restore: base at index %llu, height %llu",
                                    (unsigned long long)index, (unsigned long long)height);
        set_committed(core, index, height, payload + 16);
        return 0;
    }
    if (record_type == BFT_RECORD_VOTE) {
        if (len != BFT_VOTE_RECORD_BYTES)
            return cohort_error_set(err, BFT_E_CORRUPT, "bft", "restore: vote record of %zu bytes", len);
        if (payload[8] & OWN_BASE) { /* a compacted WAL: the window's base was here */
            if (be_get(payload, 8) > core->committed_height) restore_slide(core, be_get(payload, 8), true);
            return 0;
        }
        struct slot *s;
        int rc = restore_slot(core, be_get(payload, 8), "vote", &s, err);
        if (rc < 0 || s == NULL) return rc;
        /* Flags only grow: a later record of a height includes what an earlier one said. */
        s->own_flags |= payload[8];
        memcpy(s->own_notarize_hash, payload + 9, BFT_HASH_BYTES);
        memcpy(s->own_finalize_hash, payload + 41, BFT_HASH_BYTES);
        return 0;
    }
    if (record_type == BFT_RECORD_CERT) {
        struct bft_cert cert;
        int rc = bft_cert_decode(payload, len, &cert, err);
        if (rc < 0) return cohort_error_wrap(err, "restore: cert record");
        if (cert.vote.kind != BFT_VOTE_NOTARIZE && cert.vote.kind != BFT_VOTE_NULLIFY)
            return cohort_error_set(err, BFT_E_CORRUPT, "bft", "restore: cert record of kind %u", cert.vote.kind);
        if (cert.vote.kind == BFT_VOTE_NULLIFY && cert.vote.height > core->committed_height &&
            cert.vote.height <= core->base) {
            struct kept *k = kept_at(core, cert.vote.height);
            if (k != NULL) k->nullified = true;
            return 0;
        }
        struct slot *s;
        if ((rc = restore_slot(core, cert.vote.height, "cert", &s, err)) < 0 || s == NULL) return rc;
        if (cert.vote.kind == BFT_VOTE_NOTARIZE) {
            s->notarized = true;
            s->notarization = cert;
        } else {
            s->nullified = true;
            s->nullification = cert;
        }
        return 0;
    }
    if (record_type == BFT_RECORD_BLOCK) {
        struct bft_block b;
        uint8_t hash[BFT_HASH_BYTES];
        int rc = bft_block_decode(payload, len, core->config.instance, core->config.payload_max_bytes, &b, hash, err);
        if (rc < 0) return cohort_error_wrap(err, "restore: block record");
        struct slot *s;
        if ((rc = restore_slot(core, b.header.height, "block", &s, err)) < 0 || s == NULL) return rc;
        s->has_block = true;
        s->block_persisted = true;
        s->header = b.header;
        memcpy(s->block_hash, hash, BFT_HASH_BYTES);
        memcpy(s->payload, b.payload, b.payload_len);
        s->payload_len = b.payload_len;
        return 0;
    }
    if (record_type != BFT_RECORD_COMMIT)
        return cohort_error_set(err, BFT_E_CORRUPT, "bft", "restore: unknown record type %u", record_type);
    struct bft_commit *c = &core->commits[0];
    int rc = bft_commit_decode(payload, len, core->config.instance, core->config.payload_max_bytes, c, err);
    if (rc < 0) return rc;
    const struct bft_block_header *h = &c->block.header;
    if (h->index != core->committed_index + 1 || h->parent_height != core->committed_height ||
        memcmp(h->parent_hash, core->committed_hash, BFT_HASH_BYTES) != 0)
        return cohort_error_set(err, BFT_E_CORRUPT, "bft",
                                "restore: commit of index %llu does not follow index %llu",
                                (unsigned long long)h->index, (unsigned long long)core->committed_index);
    set_committed(core, h->index, h->height, c->hash);
    return 0;
}

int bft_core_step(struct bft_core *core, const struct bft_event *event, const struct bft_action **actions,
                  size_t *count, struct cohort_error *err)
{
    assert(core != NULL && event != NULL);
    assert(actions != NULL && count != NULL);
    core->action_count = 0;
    core->arena_len = 0;
    core->records_len = 0;
    core->block_records_len = 0;
    core->commit_count = 0;
    *actions = core->actions;
    *count = 0;
    if (!core->started && event->type != BFT_EVENT_START && event->type != BFT_EVENT_SUBMIT &&
        event->type != BFT_EVENT_PEER)
        return cohort_error_set(err, BFT_E_INVALID, "bft", "core: event %d before START", event->type);

    switch (event->type) {
    case BFT_EVENT_START:
        if (core->started) return cohort_error_set(err, BFT_E_INVALID, "bft", "core: START twice");
        core->started = true;
        core->cur = (core->base > core->committed_height ? core->base : core->committed_height) + 1;
        enter_height(core);
        send_sync_request(core, -1); /* after a restart, learn where the others are */
        break;
    case BFT_EVENT_MESSAGE: on_message(core, event->bytes, event->len); break;
    case BFT_EVENT_TIMER:
        if (event->timer == BFT_TIMER_IDLE) {
            if (event->height == core->cur) core->idle_due_height = event->height;
        } else if (event->timer == BFT_TIMER_FILL) {
            if (event->height == core->cur) core->fill_due_height = event->height;
        } else {
            on_timer(core, event->height);
        }
        break;
    case BFT_EVENT_JUMP:
        if (event->len != BFT_HASH_BYTES || event->bytes == NULL || event->index == 0 || event->height < event->index)
            return cohort_error_set(err, BFT_E_INVALID, "bft", "core: a jump needs an index, a height and a hash");
        if (event->index <= core->committed_index) break; /* not forward: nothing to do */
        set_committed(core, event->index, event->height, event->bytes);
        if (core->cur <= event->height) {
            core->cur = event->height + 1;
            enter_height(core);
        }
        send_sync_request(core, -1); /* and fetch the blocks after it */
        break;
    case BFT_EVENT_PEER: {
        if (event->index >= core->n || event->index == core->config.self)
            return cohort_error_set(err, BFT_E_INVALID, "bft", "core: peer event for member %llu",
                                    (unsigned long long)event->index);
        uint32_t bit = 1u << event->index, before = core->unreachable;
        core->unreachable = event->reachable ? before & ~bit : before | bit;
        /* cur's leader just went: shorten the wait for its proposal now. */
        if (core->started && core->unreachable != before && leader_of(core, core->cur) == event->index &&
            !event->reachable) {
            struct slot *s = slot_if_held(core, core->cur);
            if ((s == NULL || !s->has_block) && wanted(core)) set_timer(core);
        }
        if (!core->started) return 0;
        break;
    }
    case BFT_EVENT_SUBMIT:
        if (event->len > core->config.payload_max_bytes - 4)
            return cohort_error_set(err, BFT_E_RANGE, "bft", "core: entry of %zu bytes exceeds the block payload of %u",
                                    event->len, core->config.payload_max_bytes);
        if (core->pending_len + 4 + event->len > core->config.payload_max_bytes)
            return cohort_error_set(err, BFT_E_FULL, "bft", "core: the next block is full; retry after a commit");
        if (pending_find(core, event->bytes, (uint32_t)event->len) >= 0) return 0; /* already pending */
        uint8_t *p = core->pending + core->pending_len;
        p[0] = (uint8_t)(event->len >> 24);
        p[1] = (uint8_t)(event->len >> 16);
        p[2] = (uint8_t)(event->len >> 8);
        p[3] = (uint8_t)event->len;
        if (event->len > 0) memcpy(p + 4, event->bytes, event->len);
        core->pending_len += 4 + (uint32_t)event->len;
        if (!core->started) return 0;
        break; /* an idle leader proposes it now */
    default: return cohort_error_set(err, BFT_E_INVALID, "bft", "core: unknown event type %d", event->type);
    }
    progress(core);
    forward_notarizations(core);
    try_commit(core);
    if (core->started && !core->timer_armed && wanted(core)) set_timer(core); /* woken */
    *count = core->action_count;
    return 0;
}

int bft_core_wrap_sync_block(struct bft_core *core, const uint8_t *record, size_t record_len, uint8_t *out,
                             size_t cap, size_t *out_len, struct cohort_error *err)
{
    assert(core != NULL && record != NULL);
    assert(out != NULL && out_len != NULL);
    struct bft_message *m = &core->out;
    int rc = bft_commit_decode(record, record_len, core->config.instance, core->config.payload_max_bytes, &m->commit,
                               err);
    if (rc < 0) return rc;
    m->type = BFT_MSG_SYNC_BLOCK;
    m->has_block = true;
    m->instance = core->config.instance;
    m->sender = (uint16_t)core->config.self;
    return bft_message_encode(m, core->config.private_key, core->scheme, out, cap, out_len, err);
}

int bft_core_own_records(struct bft_core *core, bft_wal_record_fn fn, void *arg)
{
    assert(core != NULL && fn != NULL);
    int rc;
    /* The blocks kept below the window, each with its notarization when known. */
    for (uint32_t i = 0; i < core->kept_count; i++) {
        const struct kept *k = &core->kept[i];
        size_t len = 0;
        struct bft_block block = {k->header, k->payload, k->payload_len};
        rc = bft_block_encode(&block, core->block_records, core->block_records_cap, &len, NULL);
        assert(rc == 0);
        if ((rc = fn(arg, BFT_RECORD_BLOCK, core->block_records, len, 0)) < 0) return rc;
        if (k->notarized) {
            rc = bft_cert_encode(&k->notarization, core->records, RECORDS_BYTES, &len, NULL);
            assert(rc == 0);
            if ((rc = fn(arg, BFT_RECORD_CERT, core->records, len, 0)) < 0) return rc;
        }
    }
    /* Where the window's base is: this member may have voted at every height up to it, and
       the VOTE records of those heights are not copied. A restart must not enter them again. */
    if (core->base > core->committed_height) {
        uint8_t vote[BFT_VOTE_RECORD_BYTES] = {0};
        be_put(vote, core->base, 8);
        vote[8] = OWN_BASE;
        if ((rc = fn(arg, BFT_RECORD_VOTE, vote, sizeof vote, 0)) < 0) return rc;
    }
    for (uint64_t h = core->base + 1; h <= core->base + core->window; h++) {
        struct slot *s = &core->slots[h % (core->window + 1)];
        if (s->height != h) continue;
        if (s->has_block && s->block_persisted) {
            size_t len = 0;
            struct bft_block block = {s->header, s->payload, s->payload_len};
            rc = bft_block_encode(&block, core->block_records, core->block_records_cap, &len, NULL);
            assert(rc == 0); /* the buffer holds BLOCK_RECORDS_PER_STEP blocks of payload_max */
            if ((rc = fn(arg, BFT_RECORD_BLOCK, core->block_records, len, 0)) < 0) return rc;
        }
        if ((s->own_flags & OWN_FINALIZED) && s->notarized) {
            size_t len = 0;
            rc = bft_cert_encode(&s->notarization, core->records, RECORDS_BYTES, &len, NULL);
            assert(rc == 0); /* a certificate is at most a few KiB */
            if ((rc = fn(arg, BFT_RECORD_CERT, core->records, len, 0)) < 0) return rc;
        }
        if (s->own_flags != 0) {
            uint8_t vote[BFT_VOTE_RECORD_BYTES];
            vote_record(s, vote);
            if ((rc = fn(arg, BFT_RECORD_VOTE, vote, sizeof vote, 0)) < 0) return rc;
        }
    }
    return 0;
}

void bft_base_encode(uint64_t index, uint64_t height, const uint8_t hash[BFT_HASH_BYTES],
                     uint8_t out[BFT_BASE_RECORD_BYTES])
{
    be_put(out, index, 8);
    be_put(out + 8, height, 8);
    memcpy(out + 16, hash, BFT_HASH_BYTES);
}

void bft_core_get_status(const struct bft_core *core, struct bft_core_status *status)
{
    assert(core != NULL && status != NULL);
    *status = core->status;
    status->height = core->cur;
    status->committed_index = core->committed_index;
    status->committed_height = core->committed_height;
    memcpy(status->committed_hash, core->committed_hash, BFT_HASH_BYTES);
    status->kept_blocks = core->kept_count;
}

size_t bft_core_describe(const struct bft_core *core, char *out, size_t cap)
{
    assert(core != NULL && out != NULL && cap > 0);
    size_t len = 0;
    out[0] = '\0';
#define PUT(...)                                                                                     \
    do {                                                                                             \
        int w_ = snprintf(out + len, cap - len, __VA_ARGS__);                                        \
        if (w_ < 0 || (size_t)w_ >= cap - len) return len;                                           \
        len += (size_t)w_;                                                                           \
    } while (0)
    PUT("cur %llu base %llu%s committed %llu@%llu;", (unsigned long long)core->cur, (unsigned long long)core->base,
        core->base_unknown ? "?" : "", (unsigned long long)core->committed_index,
        (unsigned long long)core->committed_height);
    for (uint32_t i = 0; i < core->kept_count; i++)
        PUT(" k%llu:%s%s<%llu", (unsigned long long)core->kept[i].height, core->kept[i].notarized ? "N" : "",
            core->kept[i].nullified ? "X" : "", (unsigned long long)core->kept[i].header.parent_height);
    for (uint64_t h = core->base + 1; h <= core->base + core->window; h++) {
        const struct slot *s = &core->slots[h % (core->window + 1)];
        if (s->height != h) continue;
        PUT(" %llu:%s%s%s", (unsigned long long)h, s->notarized ? "N" : "", s->nullified ? "X" : "",
            s->finalized ? "F" : "");
        if (s->has_block) PUT("<%llu", (unsigned long long)s->header.parent_height);
        if (s->notarized && !(s->has_block && memcmp(s->block_hash, s->notarization.vote.hash, BFT_HASH_BYTES) == 0))
            PUT("!");
        if (s->own_flags) PUT("/%s%s%s%s", s->own_flags & OWN_PROPOSED ? "p" : "", s->own_flags & OWN_NOTARIZED ? "n" : "",
                              s->own_flags & OWN_NULLIFIED ? "x" : "", s->own_flags & OWN_FINALIZED ? "f" : "");
    }
#undef PUT
    return len;
}
