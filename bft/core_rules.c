/*
 * core_rules.c - the rules that move a height (docs/bft.md "Protocol"):
 *
 *   core_enter_height .. rule 1 (enter, arm the timer, propose: try_propose)
 *   try_notarize ....... rule 2
 *   try_finalize ....... rule 4
 *   core_try_commit .... rule 6
 *
 * and core_progress, which applies them after each event until no height can be entered.
 * Rule 3 (the timer) and the messages are in core_handlers.c, rule 5 in core_vote.c. It
 * changes cur, the slots' own statements, the proposal's block, the committed tip (through
 * core_window.c) and the commits of a step.
 */
#include "bft/core_internal.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

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
        struct kept *p = core_kept_at(core, h->parent_height);
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
    if (s == NULL || !s->has_block || !may_sign_at(core, s->height)) return;
    if (s->own_flags & (OWN_NOTARIZED | OWN_NULLIFIED)) return;
    if (!block_is_valid(core, s) || !core_persist_block(core, s)) return;
    s->own_flags |= OWN_NOTARIZED;
    memcpy(s->own_notarize_hash, s->block_hash, BFT_HASH_BYTES);
    core_persist_own(core, s);
    core_cast_vote(core, s, BFT_VOTE_NOTARIZE, s->block_hash, -1);
}

/* Rule 4: finalize a notarized block at a height this member did not nullify. */
static void try_finalize(struct bft_core *core, struct slot *s)
{
    if (!s->notarized || (s->own_flags & (OWN_NULLIFIED | OWN_FINALIZED)) || !may_sign_at(core, s->height)) return;
    /* The notarized block, if this member has it, is on its disk before the vote leaves. */
    if (s->has_block && memcmp(s->block_hash, s->notarization.vote.hash, BFT_HASH_BYTES) == 0 &&
        !core_persist_block(core, s))
        return;
    if (!core_persist_cert(core, &s->notarization)) return;
    s->own_flags |= OWN_FINALIZED;
    memcpy(s->own_finalize_hash, s->notarization.vote.hash, BFT_HASH_BYTES);
    core_persist_own(core, s);
    core_cast_vote(core, s, BFT_VOTE_FINALIZE, s->own_finalize_hash, -1);
}

/* Rule 1, the leader's part: propose on the highest notarized block whose later heights are nullified. */
static void try_propose(struct bft_core *core)
{
    uint64_t h = core->cur;
    if (leader_of(core, h) != core->config.self || !may_sign_at(core, h)) return;
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
            core_set_idle_timer(core, h);
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
        core_set_fill_timer(core, h);
    }
    if (core->pending_len == 0 && core->config.idle_delay_ms > 0) {
        /* Nothing to order: wait a little for an entry before proposing an empty block. */
        if (core->idle_due_height != h) {
            if (core->idle_armed_height != h) {
                core->idle_armed_height = h;
                core_set_idle_timer(core, h);
            }
            return;
        }
        /* Then propose it only when something is outstanding: another member spoke at this
           height (it has entries this one lacks, or lags), or a notarized block waits to be
           finalized, which this block settles. With nothing outstanding the log rests. */
        if (!core_busy(core) && !core_unsettled(core)) return;
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
    core_send_message(core, -1, &core->out);
    if (core->action_count > before) core->actions[before].unordered = true;
    core_persist_own(core, s); /* no second proposal at this height unless a crash loses this record */
}

/* Rule 1: enter height cur: arm its timer, propose if leader, vote if a proposal waits. */
void core_enter_height(struct bft_core *core)
{
    core->timeouts_at_cur = 0;
    core->timer_armed = false;
    if (core_wanted(core)) core_set_timer(core); /* else armed when something wakes it (bft_core_step) */
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
void core_mark_skipped(struct bft_core *core, uint64_t parent_height, uint64_t height)
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
        core_mark_skipped(core, s->header.parent_height, h);
    }
}

/* Finalizes what can be, and enters every height whose predecessor is certified. */
void core_progress(struct bft_core *core)
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
        if (!core_slide(core)) break; /* the window is full of heights that may still matter: wait for a commit */
        core->cur++;
        core_enter_height(core);
    }
}

/* Room in core->chain and core->path for a walk of `most` blocks; false: out of memory. */
static bool grow_walk(struct bft_core *core, size_t most)
{
    if (most > core->chain_cap) {
        struct bref *c = realloc(core->chain, (most + 16) * sizeof *c);
        if (c == NULL) return false;
        core->chain = c;
        core->chain_cap = most + 16;
    }
    if (most * BFT_HEADER_BYTES > core->path_cap) {
        uint8_t *p = realloc(core->path, (most + 16) * BFT_HEADER_BYTES);
        if (p == NULL) return false;
        core->path = p;
        core->path_cap = (most + 16) * BFT_HEADER_BYTES;
    }
    return true;
}

/*
 * Rule 6: commits the highest finalized block whose chain down to the committed tip is
 * all here, with every block between, oldest first. Runs last in a step: the COMMIT
 * actions point at slot payloads, which stay intact because nothing after this touches
 * a slot other than the one of height committed_height + 1 (see slot_at).
 */
void core_try_commit(struct bft_core *core)
{
    uint64_t top = core->base + core->window, unlinked = 0;
    for (uint64_t f = top; f > core->base; f--) {
        struct slot *fs = slot_if_held(core, f);
        if (fs == NULL || !fs->finalized || !fs->has_block) continue;
        if (memcmp(fs->block_hash, fs->finalization.vote.hash, BFT_HASH_BYTES) != 0) continue;

        /* Walk the parents down to the tip, through held and kept blocks; chain[0] is the finalized
           block. One block per height above the committed one: at most the window's and the kept. */
        size_t most = (size_t)core->window + core->kept_count + 1;
        if (!grow_walk(core, most)) return; /* out of memory: a later step tries again */
        struct bref *chain = core->chain;
        size_t len = 0;
        struct bref b = {&fs->header, fs->block_hash, fs->payload, fs->payload_len};
        bool linked = false;
        while (len < most) {
            chain[len++] = b;
            const struct bft_block_header *h = b.header;
            if (h->parent_height == core->committed_height) {
                linked = memcmp(h->parent_hash, core->committed_hash, BFT_HASH_BYTES) == 0 &&
                         h->index == core->committed_index + 1;
                break;
            }
            if (h->parent_height < core->committed_height || h->parent_height >= h->height ||
                !core_find_block(core, h->parent_height, h->parent_hash, &b) || b.header->index + 1 != h->index)
                break;
        }
        if (!linked) {
            if (unlinked == 0) unlinked = f;
            continue;
        }
        assert(len <= BFT_PATH_MAX + 1); /* kept_count <= BFT_PATH_MAX - window: each path fits */
        if (!core_reserve_commits(core, len, len)) return;

        /* The headers once, the oldest first: block chain[i]'s path, the headers of chain[i-1] ..
           chain[0], is the last i of them. */
        for (size_t i = 0; i < len; i++) bft_header_encode(chain[len - 1 - i].header, core->path + i * BFT_HEADER_BYTES);
        for (size_t i = len; i-- > 0;) {
            struct bft_commit *c = &core->commits[core->commit_count++];
            c->block.header = *chain[i].header;
            c->block.payload = chain[i].payload;
            c->block.payload_len = chain[i].payload_len;
            memcpy(c->hash, chain[i].hash, BFT_HASH_BYTES);
            c->cert = fs->finalization;
            c->path_count = (uint16_t)i;
            c->path = core->path + (len - i) * BFT_HEADER_BYTES;
            struct bft_action *a = core_push_action(core, BFT_ACTION_COMMIT);
            a->commit = c;
            core_pending_drop(core, c->block.payload, c->block.payload_len);
        }
        core_set_committed(core, fs->header.index, f, fs->block_hash);
        core->catch_up_left = 0; /* committing with the others: caught up */
        if (core->cur <= f) {
            core->cur = f + 1;
            core_enter_height(core); /* touches only height f + 1 */
        }
        return;
    }
    /*
     * A finalized block whose chain misses a block here: this member passed a height whose
     * block it judged dead (nullified, nothing live above it yet) before a block extending
     * it came, or never got it. The others committed it; ask one of them for the blocks,
     * again every few heights while it lasts. A member that keeps up with the others'
     * heights times out nowhere, so nothing else would ask (simulator seed 52009419, window 2).
     */
    if (unlinked != 0 && core->n > 1 && unlinked >= core->unlinked_asked + UNLINKED_ASK_HEIGHTS) {
        core->unlinked_asked = unlinked;
        uint32_t peer = (core->config.self + 1 + core->sync_rotation++ % (core->n - 1)) % core->n;
        core_send_sync_request(core, (int)peer);
    }
}
