/*
 * core.c - the Simplex protocol core (docs/bft.md "Protocol" and "The core"): its API.
 *
 * bft_core_step() takes one event and produces actions. Nothing in the core reads a clock,
 * a socket or randomness, and nothing allocates after bft_core_create(): every buffer
 * (height slots, block payloads, the action list, the bytes of outgoing messages) is sized
 * there from the config. This file holds the API of bft.h: create and destroy, restoring
 * from the WAL's records, the step, the records a compaction copies, status and describe.
 * The protocol itself is in the other core*.c files (core_internal.h lists them).
 *
 * Reading guide, in the order of docs/bft.md's rules:
 *   core_enter_height .... rule 1 (enter, arm the timer, propose: try_propose; core_rules.c)
 *   try_notarize ......... rule 2 (core_rules.c)
 *   core_on_timer ........ rule 3 (nullify, re-send, ask for sync; core_handlers.c)
 *   try_finalize ......... rule 4 (core_rules.c)
 *   core_forward_cert .... rule 5 (core_vote.c)
 *   core_try_commit ...... rule 6 (core_rules.c)
 */
#include "bft/core_internal.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/bytes.h"

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
    core->commits_cap = 2 * (size_t)core->window + 2; /* a chain and a synced block; more for a longer chain */
    core->commits = calloc(core->commits_cap, sizeof *core->commits);
    core->kept_bytes_max = (size_t)BFT_WINDOW_MAX * config->payload_max_bytes; /* the kept blocks grow on demand */
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
        !core->records || !core->block_records)
        goto nomem;
    for (uint32_t i = 0; i <= core->window; i++) {
        core->slots[i].payload = malloc(config->payload_max_bytes);
        if (core->slots[i].payload == NULL) goto nomem;
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
    for (uint32_t i = 0; i < core->kept_cap; i++) free(core->kept[i].payload);
    free(core->kept);
    free(core->kept_needed);
    free(core->chain);
    free(core->path);
    free(core->sync_path);
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
        if (s != NULL && s->has_block && (!known || has_notarized_block(s))) (void)core_keep_block(core, s);
        if (s != NULL && s->nullified) core_pass_nullification(core, &s->nullification);
    }
    core->base = new_base;
    core->base_unknown = !known;
}

/*
 * The slot a VOTE or BLOCK record of height h restores into (what: which), or NULL in
 * *out for a height the log or the window passed.
 */
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
        core_set_committed(core, index, height, payload + 16);
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
            struct kept *k = core_kept_at(core, cert.vote.height);
            if (k != NULL) k->nullified = true;
            core_pass_nullification(core, &cert);
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
    core_set_committed(core, h->index, h->height, c->hash);
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
        event->type != BFT_EVENT_PEER && event->type != BFT_EVENT_TIP)
        return cohort_error_set(err, BFT_E_INVALID, "bft", "core: event %d before START", event->type);

    switch (event->type) {
    case BFT_EVENT_START:
        if (core->started) return cohort_error_set(err, BFT_E_INVALID, "bft", "core: START twice");
        core->started = true;
        core->cur = (core->base > core->committed_height ? core->base : core->committed_height) + 1;
        core_catch_up(core);
        core_enter_height(core);
        core_send_sync_request(core, -1); /* after a restart, learn where the others are */
        break;
    case BFT_EVENT_MESSAGE: core_on_message(core, event->bytes, event->len); break;
    case BFT_EVENT_TIMER:
        if (event->timer == BFT_TIMER_IDLE) {
            if (event->height == core->cur) core->idle_due_height = event->height;
        } else if (event->timer == BFT_TIMER_FILL) {
            if (event->height == core->cur) core->fill_due_height = event->height;
        } else {
            core_on_timer(core, event->height);
        }
        break;
    case BFT_EVENT_JUMP:
        if (event->len != BFT_HASH_BYTES || event->bytes == NULL || event->index == 0 || event->height < event->index)
            return cohort_error_set(err, BFT_E_INVALID, "bft", "core: a jump needs an index, a height and a hash");
        if (event->index <= core->committed_index) break; /* not forward: nothing to do */
        core_set_committed(core, event->index, event->height, event->bytes);
        if (core->cur <= event->height) {
            core->cur = event->height + 1;
            core_enter_height(core);
        }
        core_catch_up(core);
        core_send_sync_request(core, -1); /* and fetch the blocks after it */
        break;
    case BFT_EVENT_PEER: {
        if (event->index >= core->n || event->index == core->config.self)
            return cohort_error_set(err, BFT_E_INVALID, "bft", "core: peer event for member %llu",
                                    (unsigned long long)event->index);
        uint32_t bit = 1u << event->index, before = core->unreachable;
        core->unreachable = event->reachable ? before & ~bit : before | bit;
        if (event->reachable && (before & bit)) core_catch_up(core); /* back: it may know more, or need to */
        /* cur's leader just went: shorten the wait for its proposal now. */
        if (core->started && core->unreachable != before && leader_of(core, core->cur) == event->index &&
            !event->reachable) {
            struct slot *s = slot_if_held(core, core->cur);
            if ((s == NULL || !s->has_block) && core_wanted(core)) core_set_timer(core);
        }
        if (!core->started) return 0;
        break;
    }
    case BFT_EVENT_TIP:
        if (event->index >= core->n || event->index == core->config.self)
            return cohort_error_set(err, BFT_E_INVALID, "bft", "core: tip event for member %llu",
                                    (unsigned long long)event->index);
        core_on_tip(core, (uint32_t)event->index, event->height);
        if (!core->started) return 0;
        break;
    case BFT_EVENT_SUBMIT:
        if (event->len > core->config.payload_max_bytes - 4)
            return cohort_error_set(err, BFT_E_RANGE, "bft", "core: entry of %zu bytes exceeds the block payload of %u",
                                    event->len, core->config.payload_max_bytes);
        if (core->pending_len + 4 + event->len > core->config.payload_max_bytes)
            return cohort_error_set(err, BFT_E_FULL, "bft", "core: the next block is full; retry after a commit");
        if (core_pending_find(core, event->bytes, (uint32_t)event->len) >= 0) return 0; /* already pending */
        /* Already in a proposed block: as if it had come before that proposal (which drops
           pending entries it carries). Should that block be nullified, the submitter sends it
           again, as for any entry of a block that is not committed. */
        if (core_held_block_carries(core, event->bytes, (uint32_t)event->len)) {
            core->status.entries_in_held_blocks++;
            return 0;
        }
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
    core_progress(core);
    core_forward_notarizations(core);
    core_try_commit(core);
    if (core->started && !core->timer_armed && core_wanted(core)) core_set_timer(core); /* woken */
    *actions = core->actions; /* a long chain's commits may have moved them (core_reserve_commits) */
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
    /* The nullifications of the heights the window passed, kept for a member that lags
       (after the base record: restored, they fall below the window, into passed). */
    for (uint32_t i = 0; i < core->passed_count; i++) {
        const struct bft_cert *c = &core->passed[i];
        if (c->vote.height <= core->committed_height || c->vote.height > core->base) continue;
        size_t len = 0;
        rc = bft_cert_encode(c, core->records, RECORDS_BYTES, &len, NULL);
        assert(rc == 0);
        if ((rc = fn(arg, BFT_RECORD_CERT, core->records, len, 0)) < 0) return rc;
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
            core_vote_record(s, vote);
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

int bft_core_learn_member(struct bft_core *core, uint32_t member, const uint8_t address[BFT_ADDRESS_BYTES],
                          struct cohort_error *err)
{
    static const uint8_t zero[BFT_ADDRESS_BYTES];
    if (member >= core->n || member == core->config.self)
        return cohort_error_set(err, BFT_E_INVALID, "bft", "core: cannot learn member %u (self %u of %u)", member,
                                core->config.self, core->n);
    uint8_t *known = core->config.members.address[member];
    if (memcmp(known, address, BFT_ADDRESS_BYTES) == 0) return 0;
    if (memcmp(known, zero, BFT_ADDRESS_BYTES) != 0)
        return cohort_error_set(err, BFT_E_INVALID, "bft", "core: member %u already has another address", member);
    memcpy(known, address, BFT_ADDRESS_BYTES);
    return 0;
}

void bft_core_set_vote_from(struct bft_core *core, uint64_t height)
{
    assert(core != NULL);
    core->config.vote_from = height;
}

bool bft_core_entry_held(struct bft_core *core, const uint8_t *entry, uint32_t len)
{
    assert(core != NULL && (entry != NULL || len == 0));
    return core_held_block_carries(core, entry, len);
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
    status->vote_from = core->config.vote_from;
    status->pending_bytes = core->pending_len;
    /* Behind the height f+1 others signed at or told (core_note_height, core_handlers.c). */
    status->behind = core->spoken_by_f1 > core->cur ? core->spoken_by_f1 - core->cur : 0;
    uint32_t f = (core->n - 1) / 3, others = core->n - 1;
    status->peers_heard = (uint32_t)__builtin_popcount(core->heard);
    status->behind_known = status->peers_heard >= (f + 1 < others ? f + 1 : others);
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
