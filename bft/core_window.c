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
#include <stdlib.h>
#include <string.h>

/* The kept blocks are in height order: a binary search (a chain of thousands may be kept). */
struct kept *core_kept_at(struct bft_core *core, uint64_t height)
{
    uint32_t lo = 0, hi = core->kept_count;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (core->kept[mid].height < height) lo = mid + 1;
        else hi = mid;
    }
    return lo < core->kept_count && core->kept[lo].height == height ? &core->kept[lo] : NULL;
}

/*
 * Removes the kept blocks that keep[i] (or, keep NULL, a height above the committed one)
 * does not keep, in one pass: the others move down in order, and each removed one swaps
 * places with them, so its payload buffer ends in the unused end of the array, intact
 * until a later step keeps another block there: a COMMIT action of this step may point at
 * it. Linear in the kept blocks, of which there may be thousands.
 */
static void kept_compact(struct bft_core *core, const bool *keep)
{
    uint32_t w = 0;
    for (uint32_t i = 0; i < core->kept_count; i++) {
        bool stays = keep != NULL ? keep[i] : core->kept[i].height > core->committed_height;
        if (!stays) continue;
        if (w != i) {
            struct kept t = core->kept[w];
            core->kept[w] = core->kept[i];
            core->kept[i] = t;
        }
        w++;
    }
    core->kept_count = w;
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

/*
 * Marks needed[] for the kept ancestors of the block whose parent is (height, hash). It
 * stops at one already marked, whose ancestors were marked with it: linear in the kept
 * blocks over a whole prune, however long their chain.
 */
static void mark_kept_ancestors(struct bft_core *core, uint64_t height, const uint8_t *hash, bool *needed)
{
    while (height > core->committed_height && height <= core->base) {
        struct kept *k = core_kept_at(core, height);
        if (k == NULL || memcmp(k->block_hash, hash, BFT_HASH_BYTES) != 0 || needed[k - core->kept]) return;
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
    bool *needed = core->kept_needed;
    if (core->kept_count > 0) memset(needed, 0, core->kept_count * sizeof *needed);
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
    for (uint32_t i = 0; i < core->kept_count; i++)
        if (core->kept[i].height <= core->committed_height) needed[i] = false;
    kept_compact(core, needed);
}

/* The most blocks kept at once: with the window's heights, the longest chain a commit proof's path holds. */
static uint32_t kept_max(const struct bft_core *core)
{
    return BFT_PATH_MAX - core->window;
}

/* Room for one more kept entry in the array (grown by half, up to kept_max); false: none. */
static bool kept_grow(struct bft_core *core)
{
    if (core->kept_count < core->kept_cap) return true;
    uint32_t cap = core->kept_cap + core->kept_cap / 2 + 8;
    if (cap > kept_max(core)) cap = kept_max(core);
    if (cap <= core->kept_cap) return false;
    struct kept *kept = realloc(core->kept, cap * sizeof *kept);
    if (kept == NULL) return false;
    core->kept = kept;
    memset(&kept[core->kept_cap], 0, (cap - core->kept_cap) * sizeof *kept);
    bool *needed = realloc(core->kept_needed, cap * sizeof *needed);
    if (needed == NULL) { /* the entries stay (zeroed, unused); kept_cap is unchanged */
        return false;
    }
    core->kept_needed = needed;
    core->kept_cap = cap;
    return true;
}

/*
 * Whether a block of payload_len bytes can be kept now: the store has fewer than kept_max
 * blocks and room in kept_bytes_max for its payload (pruning first when it has not). The
 * window's size does not bound it (docs/bft.md "Why it is live": the window's gap).
 */
bool core_kept_room(struct bft_core *core, uint32_t payload_len)
{
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1) kept_prune(core);
        if (core->kept_count >= kept_max(core)) continue;
        /* The entry it would take keeps its buffer; the unused entries' buffers can be given back. */
        size_t have = core->kept_count < core->kept_cap ? core->kept[core->kept_count].payload_cap : 0;
        if (have >= payload_len || core->kept_bytes - have + payload_len <= core->kept_bytes_max) return true;
        for (uint32_t i = core->kept_count + 1; i < core->kept_cap; i++) {
            core->kept_bytes -= core->kept[i].payload_cap;
            free(core->kept[i].payload);
            core->kept[i].payload = NULL;
            core->kept[i].payload_cap = 0;
        }
        if (core->kept_bytes - have + payload_len <= core->kept_bytes_max) return true;
    }
    return false;
}

/*
 * Keeps the block of slot s, which the window is about to slide past; returns false when
 * the store is full of blocks that may still be committed (then the window stops), or out
 * of memory.
 */
bool core_keep_block(struct bft_core *core, const struct slot *s)
{
    assert(s->has_block);
    assert(core->kept_count == 0 || core->kept[core->kept_count - 1].height < s->height);
    if (!core_kept_room(core, s->payload_len) || !kept_grow(core)) return false;
    struct kept *k = &core->kept[core->kept_count];
    if (k->payload_cap < s->payload_len) {
        uint8_t *p = realloc(k->payload, s->payload_len);
        if (p == NULL) return false;
        core->kept_bytes += s->payload_len - k->payload_cap;
        k->payload = p;
        k->payload_cap = s->payload_len;
    }
    core->kept_count++;
    k->height = s->height;
    k->header = s->header;
    memcpy(k->block_hash, s->block_hash, BFT_HASH_BYTES);
    if (s->payload_len > 0) memcpy(k->payload, s->payload, s->payload_len);
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
    if (core->kept_count > 0 && core->kept[0].height <= height) kept_compact(core, NULL);
    uint32_t gone = 0;
    while (gone < core->passed_count && core->passed[gone].vote.height <= height) gone++;
    if (gone > 0) {
        memmove(&core->passed[0], &core->passed[gone], (core->passed_count - gone) * sizeof *core->passed);
        core->passed_count -= gone;
    }
}

/*
 * May the notarized block at slot s still be committed? When it is not known nullified, or
 * when a live notarized block held above it (one not known nullified) descends from it.
 */
static bool block_needed(struct bft_core *core, const struct slot *s)
{
    if (!is_nullified(s)) return true;
    /* The notarized block's hash: its own, or, while it has not come, the notarization's. */
    const uint8_t *hash = has_notarized_block(s) ? s->block_hash : s->notarization.vote.hash;
    for (uint64_t h = s->height + 1; h <= core->base + core->window; h++) {
        struct slot *t = slot_if_held(core, h);
        if (t == NULL || !has_notarized_block(t) || is_nullified(t)) continue;
        struct bref b = {&t->header, t->block_hash, t->payload, t->payload_len};
        while (b.header->parent_height > s->height &&
               core_find_block(core, b.header->parent_height, b.header->parent_hash, &b)) {
        }
        if (b.header->parent_height == s->height && memcmp(b.header->parent_hash, hash, BFT_HASH_BYTES) == 0)
            return true;
        /* Without the block, a chain that breaks above it may still lead to it: wait for it. */
        if (!has_notarized_block(s) && b.header->parent_height > s->height) return true;
    }
    return false;
}

/*
 * A lagging member needs every one of them from its height up to enter the next, so all
 * are kept until a commit passes them: while members stop being certified together (before
 * GST) they can slide past any number of nullified heights. At most BFT_PATH_MAX (then the
 * oldest goes: a member that far behind waits for a commit).
 */
void core_pass_nullification(struct bft_core *core, const struct bft_cert *cert)
{
    uint64_t h = cert->vote.height;
    if (h <= core->committed_height) return;
    uint32_t at = core->passed_count;
    while (at > 0 && core->passed[at - 1].vote.height >= h) at--;
    if (at < core->passed_count && core->passed[at].vote.height == h) return;
    if (core->passed_count == core->passed_cap) {
        uint32_t cap = core->passed_cap + core->passed_cap / 2 + 8;
        if (cap > BFT_PATH_MAX) cap = BFT_PATH_MAX;
        struct bft_cert *p = cap > core->passed_cap ? realloc(core->passed, cap * sizeof *p) : NULL;
        if (p != NULL) {
            core->passed = p;
            core->passed_cap = cap;
        } else { /* full: the oldest goes */
            if (at == 0) return;
            memmove(&core->passed[0], &core->passed[1], (core->passed_count - 1) * sizeof *core->passed);
            core->passed_count--;
            at--;
        }
    }
    memmove(&core->passed[at + 1], &core->passed[at], (core->passed_count - at) * sizeof *core->passed);
    core->passed[at] = *cert;
    core->passed_count++;
}

/*
 * Slides the window's base past its lowest heights until cur + 1 fits in the window;
 * returns whether it does (docs/bft.md "Why it is live"). A height passes when it is
 * certified: nullified without a notarized block (nothing there can ever be committed), or
 * notarized with its block, which is then kept (core_keep_block) while it may still be
 * committed as the parent or an ancestor of a later block; notarized and nullified, with
 * no live block above that needs its block, it passes as nullified, its block here or not.
 * A height not certified yet, or a notarization whose block has not arrived and may be
 * needed, stops the slide; so does a full store of
 * kept blocks, which needs a chain of BFT_PATH_MAX - window notarized blocks none of which
 * is finalized, or more payload bytes in one than kept_bytes_max.
 */
bool core_slide(struct bft_core *core)
{
    uint64_t before = core->base;
    bool fits = true;
    while (fits && core->cur + 1 > core->base + core->window) {
        struct slot *s = slot_if_held(core, core->base + 1);
        fits = false;
        if (s == NULL) break;
        /* A notarized and nullified height whose block no live block above needs passes as
           nullified, its block here or not: one that never comes must not stop the slide
           (simulator seed 1103012125, window 2). */
        if (s->notarized && !(is_nullified(s) && !block_needed(core, s))) {
            if (!has_notarized_block(s)) break; /* its block first */
            if (!core_kept_room(core, s->payload_len)) break;
            /* On disk first, so a restart still has it and knows it is not nullified: the
               block, its notarization, and its nullification if known. No room: next step. */
            if (!core_persist_block(core, s) || !core_persist_cert(core, &s->notarization) ||
                (s->nullified && !core_persist_cert(core, &s->nullification)))
                break;
            if (!core_keep_block(core, s)) break; /* out of memory: next step */
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
