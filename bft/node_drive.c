/*
 * node_drive.c - the node steps its core and performs the actions (docs/bft.md "The core"):
 * records go to the WAL, frames to the peers' queues, timers to libuv. The group commit
 * (one fdatasync on libuv's thread pool for every step of a loop turn) makes them durable;
 * then frames that waited leave and the application hears of its commits. Submissions
 * from the application's threads are handed to the core here too.
 */
#include "bft/node_internal.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>
#include <uv.h>

#include "common/bytes.h"
#include "common/keccak.h"
#include "common/log.h"
#include "common/secp.h"

/* ---- Driving the core ---- */

static void on_core_timer(uv_timer_t *timer);

static void serve_sync(struct bft_node *node, uint32_t peer, uint64_t from)
{
    struct cohort_error err;
    if (from <= node->base) {
        /* Compacted away: this member keeps only the blocks after base (docs/bft.md "Snapshots"). */
        COUNT(node, sync_too_old, 1);
        if (!node->too_old_logged)
            log_info("bft node: a member asks for blocks this member no longer keeps; offering it a snapshot",
                     "member=%u peer=%u from=%llu first_kept=%llu snapshot=%llu", node->self, peer,
                     (unsigned long long)from, (unsigned long long)node->base + 1,
                     (unsigned long long)node->snap.index);
        node->too_old_logged = true;
        node_send_offer(node, peer);
        return;
    }
    for (uint64_t i = from; i >= 1 && i <= node->committed && i < from + SYNC_SERVE_MAX; i++) {
        size_t len = 0;
        if (node_read_commit(node, i, &len, &err) < 0) {
            log_warn("bft node cannot read its WAL for sync", "member=%u error=\"%s\"", node->self, err.message);
            return;
        }
        size_t out_len = 0;
        if (bft_core_wrap_sync_block(node->core, node->record, len, node->send_buffer, BFT_MESSAGE_MAX, &out_len,
                                     &err) < 0) {
            log_warn("bft node cannot wrap a commit for sync", "member=%u index=%llu error=\"%s\"", node->self,
                     (unsigned long long)i, err.message);
            return;
        }
        if (!node_enqueue(node, peer, node->send_buffer, out_len, node->appended)) return; /* full: the peer asks again */
    }
}

/*
 * Byzantine test mode: a leader's proposal goes as it is to half of the peers, and a second
 * block at the same height (same parent, another payload), validly signed, to the other
 * half. Returns false when the second block could not be made (the caller broadcasts).
 */
static bool equivocate(struct bft_node *node, const uint8_t *bytes, size_t len)
{
    struct cohort_error err;
    struct bft_message *m = node->scratch;
    if (bft_message_decode(bytes, len, node->config.core.payload_max_bytes, m, &err) < 0) return false;
    if (m->type != BFT_MSG_PROPOSE) return false;
    uint32_t pl = m->commit.block.payload_len, max = node->config.core.payload_max_bytes;
    uint64_t x = node_rnd(node);
    if (pl + 12 > max) pl = 0; /* no room for one more entry: the other block holds only it */
    memcpy(node->alt_payload, m->commit.block.payload, pl);
    be_put(node->alt_payload + pl, 8, 4);
    memcpy(node->alt_payload + pl + 4, &x, 8);
    m->commit.block.payload = node->alt_payload;
    m->commit.block.payload_len = pl + 12;
    uint8_t hash[BFT_HASH_BYTES];
    bft_block_seal(node->config.core.instance, &m->commit.block, hash);
    size_t alt_len = 0;
    if (bft_message_encode(m, node->config.core.private_key, node->config.core.scheme, node->send_buffer,
                           BFT_MESSAGE_MAX, &alt_len, &err) < 0)
        return false;
    COUNT(node, proposals_equivocated, 1);
    uint32_t k = 0;
    for (uint32_t peer = 0; peer < node->n; peer++) {
        if (peer == node->self) continue;
        if (k++ % 2 == 1) node_enqueue(node, peer, node->send_buffer, alt_len, node->appended);
        else node_enqueue(node, peer, bytes, len, node->appended);
    }
    return true;
}

/*
 * Steps the core with ev and performs its actions in order (docs/bft.md "The core"), as a
 * group commit: records are appended at once, but the fsync that makes them durable, the
 * frames that must wait for it and the application's on_commit wait for the barrier at the
 * end of the loop iteration, so every step of one iteration (all the frames read from all
 * links, a burst of submissions) shares one fsync. A frame records the append count it
 * must wait for; a proposal (unordered) waits for nothing.
 */
int node_drive(struct bft_node *node, const struct bft_event *ev, struct cohort_error *err)
{
    if (node->halted || node->closing) return 0; /* stopping: nothing after the final sync */
    const struct bft_action *actions;
    size_t count = 0;
    uint32_t pending_before = node->status.core.pending_bytes; /* this thread writes it */
    int rc = bft_core_step(node->core, ev, &actions, &count, err);
    if (rc < 0) return rc;
    bool committed = false;
    for (size_t i = 0; i < count && !node->halted; i++) {
        const struct bft_action *a = &actions[i];
        switch (a->type) {
        case BFT_ACTION_PERSIST:
            if (bft_wal_append(node->wal, a->record_type, a->bytes, a->len, err) < 0) node_halt(node, err);
            node->appended++;
            break;
        case BFT_ACTION_COMMIT: {
            size_t len = 0;
            uint64_t index = a->commit->block.header.index;
            uint64_t offset = bft_wal_size(node->wal) + BFT_WAL_HEADER_BYTES;
            if (bft_commit_encode(a->commit, node->record, BFT_WAL_RECORD_MAX, &len, err) < 0 ||
                bft_wal_append(node->wal, BFT_RECORD_COMMIT, node->record, len, err) < 0 ||
                node_remember_commit(node, index, offset, len, err) < 0) {
                node_halt(node, err);
                break;
            }
            node->appended++;
            node_entries_committed(node, a->commit->block.payload, a->commit->block.payload_len);
            node->commit_appended[index % COMMIT_TIMES].index = index;
            node->commit_appended[index % COMMIT_TIMES].us = uv_hrtime() / 1000;
            committed = true;
            break;
        }
        case BFT_ACTION_SEND:
        case BFT_ACTION_BROADCAST: {
            uint64_t needs = a->unordered ? 0 : node->appended;
            if (a->type == BFT_ACTION_SEND) node_enqueue(node, a->peer, a->bytes, a->len, needs);
            else if (!(node->config.equivocate && a->len > 1 && a->bytes[1] == BFT_MSG_PROPOSE &&
                       equivocate(node, a->bytes, a->len)))
                for (uint32_t peer = 0; peer < node->n; peer++)
                    if (peer != node->self) node_enqueue(node, peer, a->bytes, a->len, needs);
            break;
        }
        case BFT_ACTION_SYNC_SERVE: serve_sync(node, a->peer, a->from_index); break;
        case BFT_ACTION_SET_TIMER: {
            uint8_t which = a->timer < BFT_TIMERS ? a->timer : BFT_TIMER_HEIGHT;
            node->timer_height[which] = a->height;
            uv_timer_start(&node->core_timer[which], on_core_timer, a->delay_ms, 0); /* replaces that timer */
            break;
        }
        }
    }
    node_publish_status(node);
    if (committed && node->submit_blocked) {
        node->submit_blocked = false;
        node_drain_submissions(node);
    }
    if (node->config.held != NULL && !node->in_held && node->status.core.pending_bytes < pending_before) {
        /* A block took pending entries: the application may make its next one now, and it
           goes to the core and the peers' queues before the loop goes on (to a commit's
           execution, say), unless a drain runs already (it takes it next). */
        node->in_held = true;
        node->config.held(node->config.arg, node);
        node->in_held = false;
        node_drain_submissions(node);
    }
    return 0;
}

/*
 * Tells the application of the commits whose records are durable (read back from the WAL:
 * the core's step buffers are gone), taking a snapshot on every snapshot_every-th.
 */
static void deliver_durable(struct bft_node *node)
{
    struct cohort_error err;
    while (!node->halted && node->applied < node->durable_committed) {
        uint64_t i = node->applied + 1;
        if (node_load_commit(node, i, &err) < 0) {
            node_halt(node, &err);
            return;
        }
        node->applied = i;
        if (node->config.on_commit) node->config.on_commit(node->config.arg, node->replay, false);
        if (node->commit_appended[i % COMMIT_TIMES].index == i) { /* (not one installed from a snapshot) */
            uint64_t appended = node->commit_appended[i % COMMIT_TIMES].us, now = uv_hrtime() / 1000;
            pthread_mutex_lock(&node->lock);
            node->status.commits_delivered++;
            node->status.commit_wait_us += now > appended ? now - appended : 0;
            pthread_mutex_unlock(&node->lock);
        }
        uint32_t every = node->config.snapshot_every ? node->config.snapshot_every : SNAPSHOT_EVERY_DEFAULT;
        if (node->config.snapshot != NULL && i % every == 0) {
            uint8_t hash[BFT_HASH_BYTES];
            memcpy(hash, node->replay->hash, BFT_HASH_BYTES);
            node_take_snapshot(node, i, node->replay->block.header.height, hash);
        }
    }
}

/* Marks everything up to target synced: frames that waited go, and commits are delivered. */
void node_synced_up_to(struct bft_node *node, uint64_t target, uint64_t committed)
{
    if (target > node->synced) node->synced = target;
    if (committed > node->durable_committed) node->durable_committed = committed;
    for (uint32_t peer = 0; peer < node->n; peer++)
        if (peer != node->self) node_flush(node, peer);
    deliver_durable(node);
}


/* On a thread of libuv's pool: the fdatasync. Only the descriptor is shared with the loop. */
static void sync_work(uv_work_t *req)
{
    struct wal_sync *w = req->data;
    uint64_t t = uv_hrtime();
    w->rc = bft_wal_sync(w->node->wal, &w->err);
    w->us = (uv_hrtime() - t) / 1000;
    atomic_store_explicit(&w->finished, true, memory_order_release);
    atomic_store_explicit(&w->node->sync_finished, true, memory_order_release);
}

/* Acts on a finished sync (failed: status < 0): frames that waited for it go, commits are delivered. */
static void harvest(struct bft_node *node, struct wal_sync *w, int status)
{
    assert(w->busy && !w->harvested);
    w->harvested = true;
    node->sync_in_flight--;
    if (node->halted) return;
    if (status < 0 || w->rc < 0) {
        if (status < 0) cohort_error_set(&w->err, BFT_E_IO, DOMAIN, "node: the WAL sync did not run");
        node_halt(node, &w->err);
        return;
    }
    pthread_mutex_lock(&node->lock);
    node->status.wal_syncs++;
    node->status.wal_sync_us += w->us;
    pthread_mutex_unlock(&node->lock);
    node_synced_up_to(node, w->target, w->committed);
    /* No worker holds the WAL's descriptor any more: what waited for that may run. */
    if (node->swap_waiting && node->sync_in_flight == 0) node_compaction_swap(node);
    node_install_if_waiting(node);
}

/* Harvests the syncs that finished, if any did since the last look: one atomic load when none. */
void node_harvest_syncs(struct bft_node *node)
{
    if (!atomic_exchange_explicit(&node->sync_finished, false, memory_order_acq_rel)) return;
    for (size_t i = 0; i < 2 * SYNCS_IN_FLIGHT; i++) {
        struct wal_sync *w = &node->syncs[i];
        if (w->busy && !w->harvested && atomic_load_explicit(&w->finished, memory_order_acquire))
            harvest(node, w, 0);
    }
}

static void sync_done(uv_work_t *req, int status)
{
    struct wal_sync *w = req->data;
    struct bft_node *node = w->node;
    if (!w->harvested) harvest(node, w, status);
    w->busy = false;
    node_barrier(node); /* what was appended meanwhile goes in the next sync */
}

/*
 * The barrier of the group commit: when records were appended since the last sync started
 * and fewer than SYNCS_IN_FLIGHT run, one fdatasync starts on the thread pool for all of
 * them; the loop goes on meanwhile (votes that need the disk wait in their queues,
 * signatures get checked). When it is done, the frames that waited for it are written and
 * the application hears of the commits it made durable. Runs before the loop waits for
 * I/O, after each iteration's I/O callbacks, and when a sync completes.
 */
void node_barrier(struct bft_node *node)
{
    /* A waiting installation holds syncs back only once no compaction runs: until then the
       votes must go on (it waits for the compaction's end, which may take a while). */
    bool install_holds = node->install_waiting && node->compacting == NULL;
    if (node->halted || node->closing || node->sync_in_flight == SYNCS_IN_FLIGHT ||
        node->sync_started >= node->appended || install_holds || node->swap_waiting)
        return;
    struct wal_sync *w = node->syncs, *end = node->syncs + 2 * SYNCS_IN_FLIGHT;
    while (w < end && w->busy) w++;
    if (w == end) return; /* every slot waits for libuv to hand it back: sync_done calls again */
    w->node = node;
    w->busy = true;
    w->harvested = false;
    atomic_store_explicit(&w->finished, false, memory_order_relaxed);
    w->target = node->appended;
    w->committed = node->committed;
    w->req.data = w;
    node->sync_started = w->target;
    node->sync_in_flight++;
    int rc = uv_queue_work(&node->loop, &w->req, sync_work, sync_done);
    if (rc < 0) { /* no thread pool: sync here */
        w->busy = false;
        node->sync_in_flight--;
        struct cohort_error err;
        if (bft_wal_sync(node->wal, &err) < 0) {
            node_halt(node, &err);
            return;
        }
        node_synced_up_to(node, w->target, w->committed);
    }
}

/* A clean stop: what was appended is synced here and now, and the application hears of it. */
void node_final_sync(struct bft_node *node)
{
    if (node->halted) return;
    struct cohort_error err;
    uint64_t target = node->appended, committed = node->committed;
    if (node->synced < target && bft_wal_sync(node->wal, &err) < 0) {
        node_halt(node, &err);
        return;
    }
    node_synced_up_to(node, target, committed);
}

void node_on_barrier_before_poll(uv_prepare_t *handle)
{
    node_barrier(handle->loop->data);
    node_flush_turn(handle->loop->data);
}

void node_on_barrier_after_poll(uv_check_t *handle)
{
    node_barrier(handle->loop->data);
    node_flush_turn(handle->loop->data);
}

/* Tells the core that peer's link broke (or could not be made), or is back. */
void node_tell_core_peer(struct bft_node *node, uint32_t peer, bool reachable)
{
    node->peers[peer].told_down = !reachable;
    struct bft_event ev = {.type = BFT_EVENT_PEER, .index = peer, .reachable = reachable};
    struct cohort_error err;
    if (node_drive(node, &ev, &err) < 0)
        log_warn("bft node: core refused a peer event", "member=%u error=\"%s\"", node->self, err.message);
}

static void on_core_timer(uv_timer_t *timer)
{
    struct bft_node *node = timer->loop->data;
    uint8_t which = (uint8_t)(uintptr_t)timer->data;
    struct bft_event ev = {.type = BFT_EVENT_TIMER, .height = node->timer_height[which], .timer = which};
    struct cohort_error err;
    if (node_drive(node, &ev, &err) < 0)
        log_warn("bft node: core refused a timer", "member=%u error=\"%s\"", node->self, err.message);
}

/*
 * Sends an entry submitted here to every other member (an ENTRY frame: the marker byte, then
 * the entry), so whichever member leads next proposes it: a write waits for one height, not
 * for this member's turn to lead. The core drops pending entries that another member's
 * proposal or a commit carries, and the application makes entries idempotent.
 */
static void forward_entry(struct bft_node *node, const uint8_t *entry, size_t len)
{
    if (len + 1 > BFT_MESSAGE_MAX) return;
    node->send_buffer[0] = BFT_ENTRY_FRAME;
    memcpy(node->send_buffer + 1, entry, len);
    for (uint32_t peer = 0; peer < node->n; peer++)
        if (peer != node->self) node_enqueue(node, peer, node->send_buffer, len + 1, 0);
}

/* Pops count submissions off the queue and frees them. */
static void pop_submissions(struct bft_node *node, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        pthread_mutex_lock(&node->lock);
        struct submission s = node->queue[node->queue_head];
        node->queue_head = (node->queue_head + 1) % BFT_SUBMIT_QUEUE_MAX;
        node->queue_count--;
        node->status.submits_pending = node->queue_count;
        pthread_mutex_unlock(&node->lock);
        free(s.bytes);
    }
}

/*
 * Seals the unsealed submissions at the head of the queue (at most BFT_SEAL_MAX, within a
 * block's payload) into one entry through config.seal. Returns how many it took (0 when
 * the head is not unsealed) and sets *out / *out_len to the entry (malloc'd), or NULL when
 * sealing failed (the entries are then dropped: their submitter retries).
 */
static size_t seal_head(struct bft_node *node, uint8_t **out, size_t *out_len)
{
    const uint8_t *entries[BFT_SEAL_MAX];
    size_t lens[BFT_SEAL_MAX], count = 0;
    size_t budget = node->config.core.payload_max_bytes - 4 - node->config.seal_overhead_bytes, used = 0;
    pthread_mutex_lock(&node->lock);
    for (size_t i = 0; i < node->queue_count && count < BFT_SEAL_MAX; i++) {
        const struct submission *s = &node->queue[(node->queue_head + i) % BFT_SUBMIT_QUEUE_MAX];
        if (!s->seal || (count > 0 && used + 4 + s->len > budget)) break;
        entries[count] = s->bytes; /* the bytes stay put until this thread pops them */
        lens[count++] = s->len;
        used += 4 + s->len;
    }
    pthread_mutex_unlock(&node->lock);
    *out = NULL;
    *out_len = 0;
    if (count == 0) return 0;
    if (node->config.seal(node->config.arg, entries, lens, count, out, out_len) < 0 || *out == NULL) {
        free(*out);
        *out = NULL;
        log_warn("bft node: the application could not seal entries; they are dropped and retried by their submitters",
                 "member=%u entries=%zu", node->self, count);
    }
    return count;
}

/* Hands queued submissions to the core until it says its next block is full. */
static void drain(struct bft_node *node)
{
    while (!node->halted) {
        pthread_mutex_lock(&node->lock);
        struct submission s = {NULL, 0, false};
        if (node->queue_count > 0) s = node->queue[node->queue_head];
        pthread_mutex_unlock(&node->lock);
        if (s.bytes == NULL) return;
        if (!s.seal && node_entry_seen(node, s.bytes, s.len)) {
            /* A resubmission whose first copy was committed meanwhile: taken already. */
            COUNT(node, entries_already_committed, 1);
            pop_submissions(node, 1);
            continue;
        }
        size_t taken = 1;
        uint8_t *sealed = NULL;
        if (s.seal) {
            size_t len = 0;
            taken = seal_head(node, &sealed, &len);
            if (sealed == NULL) {
                pop_submissions(node, taken);
                continue;
            }
            s.bytes = sealed;
            s.len = len;
        }
        struct bft_event ev = {.type = BFT_EVENT_SUBMIT, .bytes = s.bytes, .len = s.len};
        struct cohort_error err;
        int rc = node_drive(node, &ev, &err);
        if (rc == BFT_E_FULL) {
            free(sealed); /* sealed again, maybe with more, after the next commit */
            node->submit_blocked = true;
            return;
        }
        if (rc == 0) forward_entry(node, s.bytes, s.len);
        /* Taken (or refused as too large, which bft_node_submit already checks): pop it. */
        free(sealed);
        pop_submissions(node, taken);
    }
}

void node_drain_submissions(struct bft_node *node)
{
    if (node->draining) return; /* the drain that runs takes what was queued meanwhile */
    node->draining = true;
    drain(node);
    node->draining = false;
}

void node_on_batch_timer(uv_timer_t *timer)
{
    node_drain_submissions(timer->loop->data);
}
