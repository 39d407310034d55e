/*
 * core_window.c - the window of heights and the blocks kept below it (docs/bft.md "Why it
 * is live").
 *
 * The slots hold the heights (base, base + window]; a notarized block the window slides
 * past is kept while a later block may still commit it. This file moves the committed tip
 * and the window's base, and keeps and prunes the kept blocks. It touches the window's
 * fields of struct bft_core (slots, kept, passed, base, committed_*); what it emits (the
 * records of a slide) goes through core_output.c.
 */
#include "bft/core_internal.h"

#include <assert.h>
#include <string.h>

struct kept *core_kept_at(struct bft_core *core, uint64_t height)
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
bool core_find_block(struct bft_core *core, uint64_t height, const uint8_t hash[BFT_HASH_BYTES], struct bref *out)
{
    if (height > core->base) {
        struct slot *s = slot_if_held(core, height);
        if (s == NULL || !s->has_block || memcmp(s->block_hash, hash, BFT_HASH_BYTES) != 0) return false;
        *out = (struct bref){&s->header, s->block_hash, s->payload, s->payload_len};
        return true;
    }
    struct kept *k = core_kept_at(core, height);
    if (k == NULL || memcmp(k->block_hash, hash, BFT_HASH_BYTES) != 0) return false;
    *out = (struct bref){&k->header, k->block_hash, k->payload, k->payload_len};
    return true;
}

/* Marks needed[] for the kept ancestors of the block whose parent is (height, hash). */
static void mark_kept_ancestors(struct bft_core *core, uint64_t height, const uint8_t *hash, bool *needed)
{
    while (height > core->committed_height && height <= core->base) {
        struct kept *k = core_kept_at(core, height);
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
bool core_keep_block(struct bft_core *core, const struct slot *s)
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
void core_set_committed(struct bft_core *core, uint64_t index, uint64_t height, const uint8_t hash[BFT_HASH_BYTES])
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
               core_find_block(core, b.header->parent_height, b.header->parent_hash, &b)) {
        }
        if (b.header->parent_height == s->height && memcmp(b.header->parent_hash, s->block_hash, BFT_HASH_BYTES) == 0)
            return true;
    }
    return false;
}

void core_pass_nullification(struct bft_core *core, const struct bft_cert *cert)
{
    for (uint32_t i = 0; i < core->window; i++)
        if (core->passed[i].count > 0 && core->passed[i].vote.height == cert->vote.height) return;
    core->passed[core->passed_next++ % core->window] = *cert;
}

/*
 * Slides the window's base past its lowest heights until cur + 1 fits in the window;
 * returns whether it does (docs/bft.md "Why it is live"). A height passes when it is
 * certified: nullified without a notarized block (nothing there can ever be committed), or
 * notarized with its block, which is then kept (core_keep_block) while it may still be
 * committed as the parent or an ancestor of a later block. A height not certified yet, or
 * a notarization whose block has not arrived, stops the slide; so does a full store of
 * kept blocks, which needs a chain of `window` notarized blocks none of which is finalized.
 */
bool core_slide(struct bft_core *core)
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
            if (!core_persist_block(core, s) || !core_persist_cert(core, &s->notarization) ||
                (s->nullified && !core_persist_cert(core, &s->nullification)))
                break;
            core_keep_block(core, s);
        } else if (!is_nullified(s)) {
            break;
        } else if (s->nullified && !core_persist_cert(core, &s->nullification)) {
            break; /* on disk first (below): no room this step */
        }
        /* Kept a while, for a member that lags and still needs it (on_sync_request); on disk,
           so that a restart can still show it: a member whose peers had all slid past a
           height it lacked the nullification of, and restarted, waited for it for good
           (simulator seed 840632937500, window 6). */
        if (s->nullified) core_pass_nullification(core, &s->nullification);
        core->base++;
        fits = true;
    }
    if (core->base != before) core_persist_base(core);
    return fits && core->cur + 1 <= core->base + core->window;
}
