/*
 * core_output.c - what a step of the core emits (docs/bft.md "The core", "Storage", "Idle").
 *
 * Actions, the signed bytes of outgoing messages (the arena), PERSIST records and timers
 * are all built here, in the buffers bft_core_create() sized: nothing else writes them.
 * Also here: whether cur needs its height timer (an idle log rests and writes nothing),
 * the pending entries of this member's next proposal, and the sync request. It reads the
 * window (core_internal.h's accessors) and changes only the output buffers, the timer and
 * catch-up fields, and pending.
 */
#include "bft/core_internal.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "common/bytes.h"

struct bft_action *core_push_action(struct bft_core *core, enum bft_action_type type)
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
 * Room for `more` actions past this step's, `commits` of them COMMIT actions with their
 * commits. The arrays move (new ones, copied): the COMMIT actions of this step are pointed
 * at the moved commits, and bft_core_step hands out the moved actions. Nothing else holds
 * a pointer into either across this call. The room above send_limit stays as large.
 */
bool core_reserve_commits(struct bft_core *core, size_t more, size_t commits)
{
    size_t need = core->commit_count + commits;
    if (need > core->commits_cap) {
        size_t cap = need + need / 2;
        struct bft_commit *c = malloc(cap * sizeof *c);
        if (c == NULL) return false;
        if (core->commit_count > 0) memcpy(c, core->commits, core->commit_count * sizeof *c);
        for (size_t i = 0; i < core->action_count; i++) {
            struct bft_action *a = &core->actions[i];
            if (a->type == BFT_ACTION_COMMIT && a->commit != NULL) a->commit = c + (a->commit - core->commits);
        }
        free(core->commits);
        core->commits = c;
        core->commits_cap = cap;
    }
    need = core->action_count + more + (core->action_cap - core->send_limit);
    if (need > core->action_cap) {
        size_t reserve = core->action_cap - core->send_limit;
        struct bft_action *a = malloc(need * sizeof *a);
        if (a == NULL) return false;
        if (core->action_count > 0) memcpy(a, core->actions, core->action_count * sizeof *a);
        free(core->actions);
        core->actions = a;
        core->action_cap = need;
        core->send_limit = need - reserve;
    }
    return true;
}

/*
 * Encodes and signs msg into the arena once and emits it to every member in the bit mask
 * `to` (never to self): one BROADCAST when that is every other member, else one SEND per
 * member. Does nothing for an empty mask, except in a log of one member, where there is
 * nobody to send to but the message is still signed (its signature is the member's own
 * vote in the certificates). Returns true when the message was signed into the arena.
 */
bool core_send_message_to(struct bft_core *core, uint32_t to, struct bft_message *msg)
{
    uint32_t others = (core->n >= 32 ? UINT32_MAX : (1u << core->n) - 1) & ~(1u << core->config.self);
    to &= others;
    if (to == 0 && core->n > 1) return false;
    msg->instance = core->config.instance;
    msg->sender = (uint16_t)core->config.self;
    size_t len = 0;
    struct cohort_error err;
    if (bft_message_encode(msg, core->config.private_key, core->scheme, core->arena + core->arena_len,
                           core->arena_cap - core->arena_len, &len, &err) < 0) {
        core->status.sends_dropped++; /* the arena is full this step; a timeout re-sends */
        return false;
    }
    const uint8_t *bytes = core->arena + core->arena_len;
    core->arena_len += len;
    for (uint32_t peer = 0; peer < core->n; peer++) {
        if (!(to & (1u << peer))) continue;
        struct bft_action *a = core_push_action(core, to == others ? BFT_ACTION_BROADCAST : BFT_ACTION_SEND);
        if (a == NULL) return false;
        a->peer = peer;
        a->bytes = bytes;
        a->len = len;
        if (to == others) return true;
    }
    return true;
}

/* Encodes and signs msg into the arena and emits it to peer, or to all when peer < 0. */
bool core_send_message(struct bft_core *core, int peer, struct bft_message *msg)
{
    return core_send_message_to(core, peer < 0 ? UINT32_MAX : 1u << peer, msg);
}

/* The VOTE record of this member's statements at slot s (layout in docs/bft.md "Storage"). */
void core_vote_record(const struct slot *s, uint8_t p[BFT_VOTE_RECORD_BYTES])
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
void core_persist_base(struct bft_core *core)
{
    assert(core->records_len + BFT_VOTE_RECORD_BYTES <= RECORDS_BYTES);
    uint8_t *p = core->records + core->records_len;
    memset(p, 0, BFT_VOTE_RECORD_BYTES);
    be_put(p, core->base, 8);
    p[8] = OWN_BASE;
    core->records_len += BFT_VOTE_RECORD_BYTES;
    struct bft_action *a = core_push_action(core, BFT_ACTION_PERSIST);
    a->record_type = BFT_RECORD_VOTE;
    a->bytes = p;
    a->len = BFT_VOTE_RECORD_BYTES;
}

/* Emits a PERSIST of slot's VOTE record; the driver makes it durable before later sends. */
void core_persist_own(struct bft_core *core, const struct slot *s)
{
    assert(core->records_len + BFT_VOTE_RECORD_BYTES <= RECORDS_BYTES);
    uint8_t *p = core->records + core->records_len;
    core_vote_record(s, p);
    core->records_len += BFT_VOTE_RECORD_BYTES;
    struct bft_action *a = core_push_action(core, BFT_ACTION_PERSIST);
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
bool core_persist_block(struct bft_core *core, struct slot *s)
{
    assert(s->has_block);
    if (s->block_persisted) return true;
    size_t len = 0;
    struct bft_block block = {s->header, s->payload, s->payload_len};
    if (bft_block_encode(&block, core->block_records + core->block_records_len,
                         core->block_records_cap - core->block_records_len, &len, NULL) < 0)
        return false;
    struct bft_action *a = core_push_action(core, BFT_ACTION_PERSIST);
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
bool core_persist_cert(struct bft_core *core, const struct bft_cert *cert)
{
    size_t len = 0;
    if (bft_cert_encode(cert, core->records + core->records_len, RECORDS_BYTES - core->records_len, &len, NULL) < 0 ||
        core->records_len + len + RECORDS_VOTE_ROOM > RECORDS_BYTES)
        return false;
    struct bft_action *a = core_push_action(core, BFT_ACTION_PERSIST);
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

void core_set_timer(struct bft_core *core)
{
    struct bft_action *a = core_push_action(core, BFT_ACTION_SET_TIMER);
    a->height = core->cur;
    a->delay_ms = timeout_of_cur(core);
    core->timer_armed = true;
    core->timer_delay_ms = a->delay_ms;
}

/* ---- Quiet: an idle log sends and writes nothing (docs/bft.md "Idle") ---- */

/* Someone wants cur to end: this member has entries to order, or another member spoke at cur or above. */
bool core_busy(const struct bft_core *core)
{
    return core->pending_len > 0 || core->heard_height >= core->cur;
}

/*
 * The log has a tail to settle: a live notarized block above the committed tip (held or
 * kept), or a finalized block not committed yet (a block of its chain missing).
 */
bool core_unsettled(struct bft_core *core)
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
bool core_wanted(struct bft_core *core)
{
    return core->config.idle_delay_ms == 0 || core_busy(core) || core_unsettled(core) || core->catch_up_left > 0;
}

/*
 * Catching up: after a restart, a jump, a block synced, or a link that came back, the
 * member may be behind members that rest and send nothing by themselves. Its first sync
 * request can be lost too (a peer's link to it not back yet: its frames are dropped). So
 * for a few timeouts it keeps asking, one peer after the other, without nullifying anything
 * (test_bft_node's restarted member, behind every peer's log, got no snapshot offer
 * otherwise). A block synced starts the count again; a block finalized with the others
 * ends it.
 */
void core_catch_up(struct bft_core *core)
{
    core->catch_up_left = CATCH_UP_TIMEOUTS;
}

void core_set_idle_timer(struct bft_core *core, uint64_t height)
{
    struct bft_action *a = core_push_action(core, BFT_ACTION_SET_TIMER);
    a->timer = BFT_TIMER_IDLE;
    a->height = height;
    a->delay_ms = core->config.idle_delay_ms;
}

void core_set_fill_timer(struct bft_core *core, uint64_t height)
{
    struct bft_action *a = core_push_action(core, BFT_ACTION_SET_TIMER);
    a->timer = BFT_TIMER_FILL;
    a->height = height;
    a->delay_ms = core->config.fill_wait_ms;
}

/* The offset of a framed entry equal to entry[0..len) in pending, or -1. */
long core_pending_find(const struct bft_core *core, const uint8_t *entry, uint32_t len)
{
    for (uint32_t off = 0; off + 4 <= core->pending_len;) {
        const uint8_t *p = core->pending + off;
        uint32_t n = (uint32_t)be_get(p, 4);
        if (n == len && memcmp(p + 4, entry, len) == 0) return (long)off;
        off += 4 + n;
    }
    return -1;
}

bool core_held_block_carries(struct bft_core *core, const uint8_t *entry, uint32_t len)
{
    uint64_t from = (core->committed_height > core->base ? core->committed_height : core->base) + 1;
    for (uint64_t h = from; h <= core->base + core->window; h++) {
        const struct slot *s = slot_if_held(core, h);
        if (s == NULL || !s->has_block || is_nullified(s)) continue;
        uint32_t off = 0, n;
        const uint8_t *e;
        while (bft_payload_next(s->payload, s->payload_len, &off, &e, &n, NULL) == 1)
            if (n == len && memcmp(e, entry, len) == 0) return true;
    }
    return false;
}

void core_slot_take_block(struct bft_core *core, struct slot *s, const struct bft_block *block,
                          const uint8_t hash[BFT_HASH_BYTES])
{
    s->has_block = true;
    s->block_persisted = false;
    s->header = block->header;
    memcpy(s->block_hash, hash, BFT_HASH_BYTES);
    memcpy(s->payload, block->payload, block->payload_len);
    s->payload_len = block->payload_len;
    core_pending_drop(core, block->payload, block->payload_len);
}

/* Drops the pending entries that a block carries: someone else proposed them already. */
void core_pending_drop(struct bft_core *core, const uint8_t *payload, uint32_t payload_len)
{
    uint32_t off = 0, len;
    const uint8_t *entry;
    while (core->pending_len > 0 && bft_payload_next(payload, payload_len, &off, &entry, &len, NULL) == 1) {
        long at = core_pending_find(core, entry, len);
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
void core_send_sync_request(struct bft_core *core, int peer)
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
    core_send_message(core, peer, &core->out);
}
