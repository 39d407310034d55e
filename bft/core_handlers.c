/*
 * core_handlers.c - the events from outside the core: a message from another member, and
 * the height timer (rule 3: nullify, re-send, ask for sync; docs/bft.md "Protocol").
 *
 * Each message is refused unless it decodes, comes from a member and is signed (a
 * certificate's signatures are checked instead); what it says nothing new about is
 * dropped first, before the signature check that costs far more. The handlers record
 * what they accept in the slots and the kept blocks and leave the rules to
 * core_progress (core_rules.c); they emit through core_output.c and core_vote.c.
 */
#include "bft/core_internal.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "common/bytes.h"

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
    core_slot_take_block(core, s, b, m->commit.hash);
}

static void on_vote(struct bft_core *core, const struct bft_message *m)
{
    struct slot *s = slot_at(core, m->vote.height);
    if (s == NULL) return;
    if (core_record_vote(core, s, m->sender, &m->vote, m->signature)) core_check_quorums(core, s, &m->vote);
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
        core_slot_take_block(core, s, &m->commit.block, m->commit.hash);
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
    core_forward_new_cert(core, s, dst, m->sender);
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
    core_mark_skipped(core, h->parent_height, h->height);
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
    struct kept *k = core_kept_at(core, c->vote.height);
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
        struct bft_action *a = core_push_action(core, BFT_ACTION_SYNC_SERVE);
        if (a != NULL) {
            a->peer = m->sender;
            a->from_index = m->from_index;
        }
    }
    /* And the certificates of the heights the asker is at or above, so it can enter them:
       the notarizations of the blocks kept below the window (which also tell which heights
       they skip, learn_skipped), then those held in the window. */
    for (uint32_t i = 0; i < core->kept_count && core->action_count < core->send_limit; i++) {
        const struct kept *k = &core->kept[i];
        if (k->height < m->from_height || !k->notarized) continue;
        struct bref b = {&k->header, k->block_hash, k->payload, k->payload_len};
        core_send_cert_block(core, &b, &k->notarization, 1u << m->sender);
        if (k->has_nullification) core_send_cert_block(core, NULL, &k->nullification, 1u << m->sender);
    }
    for (uint32_t i = 0; i < core->passed_count && core->action_count < core->send_limit; i++) {
        const struct bft_cert *c = &core->passed[i];
        if (c->vote.height >= m->from_height && c->vote.height > core->committed_height && c->vote.height <= core->base)
            core_send_cert_block(core, NULL, c, 1u << m->sender);
    }
    uint64_t from = m->from_height > core->base ? m->from_height : core->base + 1;
    for (uint64_t h = from; h <= core->cur && h <= core->base + core->window; h++) {
        struct slot *s = slot_if_held(core, h);
        if (s == NULL) continue;
        if (s->notarized) core_forward_cert(core, s, &s->notarization, m->sender);
        if (s->nullified) core_forward_cert(core, s, &s->nullification, m->sender);
        if (s->finalized) core_forward_cert(core, s, &s->finalization, m->sender);
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
    /* The event's bytes are only borrowed: the committed block and its path are copied out of them. */
    size_t path_bytes = (size_t)c->path_count * BFT_HEADER_BYTES;
    if (path_bytes > core->sync_path_cap) {
        uint8_t *p = realloc(core->sync_path, path_bytes);
        if (p == NULL) return; /* out of memory: the next sync brings it again */
        core->sync_path = p;
        core->sync_path_cap = path_bytes;
    }
    struct bft_commit *out = &core->commits[core->commit_count++];
    *out = *c;
    memcpy(core->sync_payload, c->block.payload, c->block.payload_len);
    out->block.payload = core->sync_payload;
    if (path_bytes > 0) memcpy(core->sync_path, c->path, path_bytes);
    out->path = core->sync_path;
    struct bft_action *a = core_push_action(core, BFT_ACTION_COMMIT);
    a->commit = out;
    core_set_committed(core, h->index, h->height, c->hash);
    core_catch_up(core); /* synced a block: there may be more */
    if (core->cur <= h->height) {
        core->cur = h->height + 1;
        core_enter_height(core);
    }
    if (core->committed_index % (SYNC_BATCH / 2) == 0 && c->cert.vote.height > h->height)
        core_send_sync_request(core, m->sender); /* more to fetch: ask before this batch runs out */
}

/*
 * Stall detection: a height timer of fired_ms ran out. While something is outstanding
 * (wanted) and no commit came, the wait adds up; past stall_ms, with a quorum of members
 * reachable (as the driver reports them: BFT_EVENT_PEER), the member says it is stalled.
 */
static void note_wait(struct bft_core *core, uint32_t fired_ms)
{
    if (core->config.idle_delay_ms > 0 && !core_busy(core) && !core_unsettled(core)) { /* nothing outstanding */
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
void core_on_timer(struct bft_core *core, uint64_t height)
{
    if (height != core->cur || !core->timer_armed) return; /* a timer of a height already left */
    core->timer_armed = false;
    uint32_t fired_ms = core->timer_delay_ms;
    struct slot *s = slot_at(core, core->cur);
    assert(s != NULL);
    /* Resting with only a tail to settle: the first timeout re-sends and asks (below); a
       height is nullified only when that did not settle it, or when someone is busy. */
    bool nullify =
        core->config.idle_delay_ms == 0 || core_busy(core) || (core_unsettled(core) && core->timeouts_at_cur > 0);
    if (core->catch_up_left > 0) core->catch_up_left--;
    if (nullify && !(s->own_flags & (OWN_NULLIFIED | OWN_FINALIZED)) && may_sign_at(core, s->height)) {
        s->own_flags |= OWN_NULLIFIED;
        core_persist_own(core, s);
    }
    /* Re-send everything this member said at cur (the same signed bytes: signing is deterministic). */
    if ((s->own_flags & OWN_PROPOSED) && s->has_block) {
        core->out.type = BFT_MSG_PROPOSE;
        core->out.has_block = true;
        core->out.commit.block.header = s->header;
        core->out.commit.block.payload = s->payload;
        core->out.commit.block.payload_len = s->payload_len;
        core_send_message(core, -1, &core->out);
    }
    if (s->own_flags & OWN_NOTARIZED) core_cast_vote(core, s, BFT_VOTE_NOTARIZE, s->own_notarize_hash, -1);
    if (s->own_flags & OWN_NULLIFIED) core_cast_vote(core, s, BFT_VOTE_NULLIFY, NULL, -1);
    if (s->own_flags & OWN_FINALIZED) core_cast_vote(core, s, BFT_VOTE_FINALIZE, s->own_finalize_hash, -1);
    /* And its finalize votes below cur that have not made a finalization yet: a vote lost
       there is otherwise never sent again (simulator seed 2000022 with a window of 6). */
    for (uint64_t h = core->base + 1; h < core->cur; h++) {
        struct slot *b = slot_if_held(core, h);
        if (b != NULL && (b->own_flags & OWN_FINALIZED) && !b->finalized)
            core_cast_vote(core, b, BFT_VOTE_FINALIZE, b->own_finalize_hash, -1);
    }
    struct slot *prev = slot_if_held(core, core->cur - 1);
    if (prev != NULL && prev->notarized) core_forward_cert(core, prev, &prev->notarization, -1);
    if (prev != NULL && prev->nullified) core_forward_cert(core, prev, &prev->nullification, -1);
    /* Ask one peer, a different one each time, for what this member may have missed. */
    if (core->n > 1) {
        uint32_t peer = (core->config.self + 1 + core->sync_rotation++ % (core->n - 1)) % core->n;
        core_send_sync_request(core, (int)peer);
    }
    core->sync_asked = false;
    core->timeouts_at_cur++;
    if (core_wanted(core)) core_set_timer(core);
    note_wait(core, fired_ms);
}

static int descending(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

/*
 * The (f+1)-th highest height the others signed at (or told on their links): at least one
 * honest member is there, so no f members alone can make this one look behind. Computed
 * when a member's height rises (about once per member and height), not at every status read.
 */
void core_note_height(struct bft_core *core, uint32_t sender, uint64_t height)
{
    core->heard |= 1u << sender;
    if (height <= core->spoke_height[sender]) return;
    core->spoke_height[sender] = height;
    uint64_t others[BFT_MEMBERS_MAX];
    uint32_t count = 0, f = (core->n - 1) / 3;
    for (uint32_t i = 0; i < core->n; i++)
        if (i != core->config.self) others[count++] = core->spoke_height[i];
    qsort(others, count, sizeof others[0], descending);
    core->spoken_by_f1 = f < count ? others[f] : 0;
}

/* A message about a height above the window: this member is behind; ask the sender, once per timeout. */
static void behind(struct bft_core *core, uint64_t height, uint16_t sender)
{
    if (height <= core->base + core->window || core->sync_asked) return;
    core->sync_asked = true;
    core_send_sync_request(core, sender);
}

void core_on_tip(struct bft_core *core, uint32_t sender, uint64_t height)
{
    core_note_height(core, sender, height);
    if (core->started) behind(core, height, sender);
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
            m->commit.block.header.height == s->height)
            core_slot_take_block(core, s, &m->commit.block, m->commit.hash);
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

void core_on_message(struct bft_core *core, const uint8_t *bytes, size_t len)
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
    if (spoke > 0) core_note_height(core, m->sender, spoke); /* signed: checked above */
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
