/*
 * node.c - a running member (node.h, docs/bft.md "The node"): the sans-IO core driven by
 * a libuv loop on its own thread, its WAL on disk, and TCP links to the other members.
 *
 * Everything below runs on the node's loop thread except bft_node_start (before the thread
 * exists), bft_node_submit, bft_node_get_status and bft_node_stop, which touch only what
 * the lock guards (the submission queue, the status, the stop flag) and wake the loop with
 * uv_async_send. The core, the WAL, the links and the commit index belong to the loop.
 *
 * The node's parts live in node_link.c, node_drive.c, node_snapshot.c and node_transfer.c
 * (node_internal.h lists them); this file starts and stops it and runs its loop thread.
 *
 * This is the edge of the library (CONVENTIONS.md "System calls and sockets live at the
 * edge"): it allocates per frame and per link, because a frame's lifetime is that of a
 * socket write, which the core's step buffer cannot outlive. Every allocation is bounded:
 * frames by BFT_MESSAGE_MAX, a peer's queue by queue_max_bytes, links by INBOUND_MAX.
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

/* ---- Small helpers ---- */

/* splitmix64, seeded from getrandom at start: jitter must differ between members. */
uint64_t node_rnd(struct bft_node *node)
{
    uint64_t z = (node->rng += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* A keyed 64-bit fingerprint: eight bytes at a time through a multiply and a rotation,
   then splitmix64's finisher. */
static uint64_t entry_fingerprint(uint64_t seed, const uint8_t *p, size_t len)
{
    uint64_t h = seed ^ (len * 0x9e3779b97f4a7c15ull);
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdull;
        h = (h << 31) | (h >> 33);
    }
    uint64_t tail = 0;
    if (i < len) memcpy(&tail, p + i, len - i);
    h ^= tail;
    h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ull;
    h = (h ^ (h >> 27)) * 0x94d049bb133111ebull;
    h ^= h >> 31;
    return h ? h : 1; /* 0 marks an empty slot */
}

bool node_entry_seen(const struct bft_node *node, const uint8_t *entry, size_t len)
{
    uint64_t f = entry_fingerprint(node->seen_seed, entry, len);
    for (size_t i = 0; i < SEEN_ENTRIES; i++)
        if (node->seen[i] == f) return true;
    return false;
}

void node_entries_committed(struct bft_node *node, const uint8_t *payload, uint32_t len)
{
    uint32_t off = 0, entry_len;
    const uint8_t *entry;
    while (bft_payload_next(payload, len, &off, &entry, &entry_len, NULL) == 1) {
        node->seen[node->seen_next] = entry_fingerprint(node->seen_seed, entry, entry_len);
        node->seen_next = (node->seen_next + 1) % SEEN_ENTRIES;
    }
}

int node_random_bytes(uint8_t *out, size_t len)
{
    size_t done = 0;
    while (done < len) {
        ssize_t got = getrandom(out + done, len - done, 0);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) return -1;
        done += (size_t)got;
    }
    return 0;
}

void node_publish_status(struct bft_node *node)
{
    struct bft_core_status st;
    bft_core_get_status(node->core, &st);
    pthread_mutex_lock(&node->lock);
    node->status.core = st;
    node->status.leader = (uint32_t)(st.height % node->n);
    node->status.wal_bytes = bft_wal_size(node->wal);
    pthread_mutex_unlock(&node->lock);
}

void node_halt(struct bft_node *node, const struct cohort_error *err)
{
    /* A vote that cannot be made durable must not leave: stop stepping the core for good. */
    node->halted = true;
    for (int i = 0; i < BFT_TIMERS; i++) uv_timer_stop(&node->core_timer[i]);
    pthread_mutex_lock(&node->lock);
    node->status.halted = true;
    snprintf(node->status.halt_reason, sizeof node->status.halt_reason, "%s", err->message);
    pthread_mutex_unlock(&node->lock);
    log_error("bft node halted: its WAL failed; restart it", "member=%u error=\"%s\"", node->self, err->message);
}

/* ---- The commit index ---- */

int node_remember_commit(struct bft_node *node, uint64_t index, uint64_t offset, size_t len,
                           struct cohort_error *err)
{
    assert(index == node->committed + 1);
    assert(index > node->base);
    assert(len <= BFT_WAL_RECORD_MAX);
    uint64_t slot = index - node->base;
    if (slot >= node->commit_cap) {
        size_t cap = node->commit_cap ? node->commit_cap * 2 : 1024;
        while (cap <= slot) cap *= 2;
        uint64_t *offsets = realloc(node->commit_offset, cap * sizeof *offsets);
        if (offsets == NULL)
            return cohort_error_set(err, BFT_E_NOMEM, DOMAIN, "node: out of memory for the commit index");
        node->commit_offset = offsets;
        uint32_t *lens = realloc(node->commit_len, cap * sizeof *lens);
        if (lens == NULL)
            return cohort_error_set(err, BFT_E_NOMEM, DOMAIN, "node: out of memory for the commit index");
        node->commit_len = lens;
        node->commit_cap = cap;
    }
    node->commit_offset[slot] = offset;
    node->commit_len[slot] = (uint32_t)len;
    node->committed = index;
    return 0;
}

/* Reads len bytes at offset at of fd into buf: 0, or an errno (EIO for a file that ends first). */
int node_pread_all(int fd, uint8_t *buf, size_t len, uint64_t at)
{
    for (size_t done = 0; done < len;) {
        ssize_t got = pread(fd, buf + done, len - done, (off_t)(at + done));
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) return got < 0 ? errno : EIO;
        done += (size_t)got;
    }
    return 0;
}

/* Reads the COMMIT record payload of log index (base < index <= committed) into node->record. */
int node_read_commit(struct bft_node *node, uint64_t index, size_t *len, struct cohort_error *err)
{
    assert(index > node->base && index <= node->committed);
    uint64_t slot = index - node->base;
    int e = node_pread_all(node->read_fd, node->record, node->commit_len[slot], node->commit_offset[slot]);
    if (e != 0)
        return cohort_error_errno(err, BFT_E_IO, DOMAIN, e, "node: read commit %llu from %s", (unsigned long long)index,
                                  node->config.wal_path);
    *len = node->commit_len[slot];
    return 0;
}

/* Reads the COMMIT record of log index back from the WAL and decodes it into node->replay. */
int node_load_commit(struct bft_node *node, uint64_t index, struct cohort_error *err)
{
    size_t len = 0;
    int rc = node_read_commit(node, index, &len, err);
    if (rc < 0) return rc;
    rc = bft_commit_decode(node->record, len, node->config.core.instance, node->config.core.payload_max_bytes,
                           node->replay, err);
    if (rc < 0) return cohort_error_wrap(err, "%s: commit %llu", node->config.wal_path, (unsigned long long)index);
    return 0;
}

/* ---- The loop thread ---- */

static void handle_closed(uv_handle_t *handle)
{
    (void)handle; /* handles embedded in the node: nothing to free */
}

/* Closes every handle; uv_run returns once they have all closed. */
static void close_all(struct bft_node *node)
{
    if (node->closing) return;
    node->closing = true;
    for (uint32_t i = 0; i < node->n; i++) {
        if (i == node->self) continue;
        if (node->peers[i].link) node_link_close(node->peers[i].link, false, "stopping");
        uv_close((uv_handle_t *)&node->peers[i].reconnect_timer, handle_closed);
    }
    while (node->inbound) node_link_close(node->inbound, false, "stopping");
    uv_close((uv_handle_t *)&node->listener, handle_closed);
    for (int i = 0; i < BFT_TIMERS; i++) uv_close((uv_handle_t *)&node->core_timer[i], handle_closed);
    uv_close((uv_handle_t *)&node->batch_timer, handle_closed);
    uv_close((uv_handle_t *)&node->tick_timer, handle_closed);
    uv_close((uv_handle_t *)&node->barrier_before_poll, handle_closed);
    uv_close((uv_handle_t *)&node->fetch_timer, handle_closed);
    uv_close((uv_handle_t *)&node->barrier_after_poll, handle_closed);
    uv_close((uv_handle_t *)&node->wake, handle_closed);
}

static void on_wake(uv_async_t *async)
{
    struct bft_node *node = async->loop->data;
    pthread_mutex_lock(&node->lock);
    bool stop = node->stop_requested;
    pthread_mutex_unlock(&node->lock);
    if (stop) {
        node_final_sync(node); /* a clean stop: what was appended is synced, and the application hears of it */
        close_all(node);
        return;
    }
    if (node->submit_blocked) return; /* the next commit retries */
    if (node->config.batch_delay_us == 0) node_drain_submissions(node);
    else if (!uv_is_active((uv_handle_t *)&node->batch_timer))
        uv_timer_start(&node->batch_timer, node_on_batch_timer, (node->config.batch_delay_us + 999) / 1000, 0);
}

/*
 * Byzantine test mode: each peer gets two frames of random bytes, one raw and one that
 * starts like a message (version, a proposal or vote type), which the link tags as any
 * frame: what a member that lies in its messages, not in its links, can send.
 */
static void send_garbage(struct bft_node *node)
{
    uint8_t junk[512];
    for (uint32_t peer = 0; peer < node->n; peer++) {
        if (peer == node->self) continue;
        for (int k = 0; k < 2; k++) {
            size_t len = 16 + node_rnd(node) % (sizeof junk - 16);
            for (size_t i = 0; i < len; i += 8) {
                uint64_t x = node_rnd(node);
                memcpy(junk + i, &x, len - i < 8 ? len - i : 8);
            }
            if (k == 1) {
                junk[0] = BFT_MESSAGE_VERSION;
                junk[1] = node_rnd(node) % 2 ? BFT_MSG_PROPOSE : BFT_MSG_VOTE;
            }
            if (node_enqueue(node, peer, junk, len, node->appended)) COUNT(node, garbage_sent, 1);
        }
        node_flush(node, peer);
    }
}

static void on_tick(uv_timer_t *timer)
{
    struct bft_node *node = timer->loop->data;
    if (node->config.garbage) send_garbage(node);
    node->config.tick(node->config.arg);
}

static void *run(void *arg)
{
    struct bft_node *node = arg;
    struct cohort_error err;
    struct bft_event start = {.type = BFT_EVENT_START};
    if (node_drive(node, &start, &err) < 0)
        log_error("bft node: core refused START", "member=%u error=\"%s\"", node->self, err.message);
    for (uint32_t i = 0; i < node->n; i++)
        if (i != node->self) node_dial(node, i);
    node_drain_submissions(node);
    if (node->config.tick != NULL) {
        uint64_t every = node->config.tick_ms ? node->config.tick_ms : 1000;
        uv_timer_start(&node->tick_timer, on_tick, every, every);
    }
    uv_run(&node->loop, UV_RUN_DEFAULT);
    if (node->config.thread_exit != NULL) node->config.thread_exit(node->config.arg);
    return NULL;
}

/* ---- Start and stop ---- */

struct replay_ctx {
    struct bft_node *node;
    struct cohort_error *err;
};

/*
 * One WAL record at start. The core takes every record; the node indexes the COMMIT
 * records, notes the BASE, and reassembles the newest complete snapshot. The application
 * hears of it all after the scan (deliver_replay).
 */
static int replay_record(void *arg, uint8_t type, const uint8_t *payload, size_t len, uint64_t offset)
{
    struct replay_ctx *r = arg;
    struct bft_node *node = r->node;
    int rc = bft_core_restore(node->core, type, payload, len, r->err);
    if (rc < 0) return cohort_error_wrap(r->err, "record at offset %llu", (unsigned long long)offset);
    switch (type) {
    case BFT_RECORD_BASE:
        node->base = be_get(payload, 8);
        node->base_height = be_get(payload + 8, 8);
        memcpy(node->base_hash, payload + 16, BFT_HASH_BYTES);
        node->committed = node->base;
        return 0;
    case BFT_RECORD_COMMIT:
        rc = bft_commit_decode(payload, len, node->config.core.instance, node->config.core.payload_max_bytes,
                               node->replay, r->err);
        if (rc < 0) return cohort_error_wrap(r->err, "record at offset %llu", (unsigned long long)offset);
        return node_remember_commit(node, node->replay->block.header.index, offset + BFT_WAL_HEADER_BYTES, len, r->err);
    case BFT_RECORD_SNAPSHOT: {
        if (len < SNAPSHOT_HEADER_BYTES)
            return cohort_error_set(r->err, BFT_E_CORRUPT, DOMAIN, "snapshot record at offset %llu: %zu bytes",
                                    (unsigned long long)offset, len);
        struct bft_snapshot_offer info = {.index = be_get(payload, 8), .height = be_get(payload + 8, 8),
                                     .len = be_get(payload + 48, 8)};
        memcpy(info.hash, payload + 16, BFT_HASH_BYTES);
        uint64_t at = be_get(payload + 56, 8);
        size_t chunk = len - SNAPSHOT_HEADER_BYTES;
        if (at == 0) { /* the first chunk of a snapshot: start reading it */
            free(node->reading_snapshot);
            free(node->reading_chunk);
            node->reading_snapshot = NULL;
            node->reading_chunk = NULL;
            if (info.index != node->committed || info.len > BFT_SNAPSHOT_MAX_BYTES)
                return cohort_error_set(r->err, BFT_E_CORRUPT, DOMAIN,
                                        "snapshot record at offset %llu: index %llu (the log is at %llu), %llu bytes",
                                        (unsigned long long)offset, (unsigned long long)info.index,
                                        (unsigned long long)node->committed, (unsigned long long)info.len);
            node->reading_snapshot = malloc(info.len ? info.len : 1);
            node->reading_chunk = malloc(node_chunk_count(info.len) * sizeof *node->reading_chunk);
            if (node->reading_snapshot == NULL || node->reading_chunk == NULL)
                return cohort_error_set(r->err, BFT_E_NOMEM, DOMAIN, "out of memory for a snapshot of %llu bytes",
                                        (unsigned long long)info.len);
            node->reading = info;
            node->reading_have = 0;
            node->reading_chunks = 0;
        }
        if (node->reading_snapshot == NULL || info.index != node->reading.index ||
            info.height != node->reading.height || memcmp(info.hash, node->reading.hash, BFT_HASH_BYTES) != 0 ||
            info.len != node->reading.len || at != node->reading_have || at % SNAPSHOT_CHUNK_BYTES != 0 ||
            chunk != node_chunk_len(&info, node->reading_chunks))
            return cohort_error_set(r->err, BFT_E_CORRUPT, DOMAIN,
                                    "snapshot record at offset %llu does not continue the snapshot before it",
                                    (unsigned long long)offset);
        memcpy(node->reading_snapshot + at, payload + SNAPSHOT_HEADER_BYTES, chunk);
        node->reading_chunk[node->reading_chunks++] = offset + BFT_WAL_HEADER_BYTES;
        node->reading_have += chunk;
        if (node->reading_chunks == node_chunk_count(info.len)) { /* complete: the newest snapshot */
            free(node->replay_snapshot);
            free(node->snap_chunk);
            node->replay_snapshot = node->reading_snapshot;
            node->snap_chunk = node->reading_chunk;
            node->snap_chunks = node->reading_chunks;
            node->snap = node->reading;
            keccak256(node->replay_snapshot, node->snap.len, node->snap.digest);
            node->reading_snapshot = NULL;
            node->reading_chunk = NULL;
        }
        return 0;
    }
    default: return 0;
    }
}

/*
 * After the scan: the application gets the newest snapshot (restore), then every block
 * after it (on_commit, replaying = true), read back from the WAL.
 */
static int deliver_replay(struct bft_node *node, struct cohort_error *err)
{
    uint64_t from = node->base + 1;
    if (node->snap.index > 0 || node->base > 0) {
        if (node->snap.index == 0)
            return cohort_error_set(err, BFT_E_CORRUPT, DOMAIN,
                                    "%s: compacted (its log starts after block %llu) but holds no whole snapshot; "
                                    "restore this member",
                                    node->config.wal_path, (unsigned long long)node->base);
        if (node->config.restore == NULL)
            return cohort_error_set(err, BFT_E_INVALID, DOMAIN, "%s holds a snapshot, and the node has no restore function",
                                    node->config.wal_path);
        int rc = node->config.restore(node->config.arg, node->snap.index, node->replay_snapshot,
                                      (size_t)node->snap.len, err);
        if (rc < 0) return cohort_error_wrap(err, "%s: snapshot at block %llu", node->config.wal_path,
                                             (unsigned long long)node->snap.index);
        from = node->snap.index + 1;
    }
    free(node->replay_snapshot);
    node->replay_snapshot = NULL;
    for (uint64_t i = from; i <= node->committed; i++) {
        int rc = node_load_commit(node, i, err);
        if (rc < 0) return rc;
        if (node->config.on_commit) node->config.on_commit(node->config.arg, node->replay, true);
    }
    return 0;
}

/* Frees what start made; the loop must have no open handles (or never have been made). */
static void node_free(struct bft_node *node, bool loop_made)
{
    if (loop_made) {
        int rc = uv_loop_close(&node->loop);
        assert(rc == 0); /* every handle was closed */
        (void)rc;
    }
    bft_wal_close(node->wal);
    if (node->read_fd >= 0) close(node->read_fd);
    bft_core_destroy(node->core);
    node_compaction_free(node->compacting); /* a compaction the stop overtook (its work has run) */
    for (uint32_t i = 0; i < node->n; i++) node_free_frames(node->peers[i].head);
    if (node->queue != NULL)
        for (size_t i = 0; i < node->queue_count; i++)
            free(node->queue[(node->queue_head + i) % BFT_SUBMIT_QUEUE_MAX].bytes);
    free(node->queue);
    free(node->commit_offset);
    free(node->commit_len);
    free(node->replay_snapshot);
    free(node->reading_snapshot);
    free(node->reading_chunk);
    free(node->snap_chunk);
    free(node->fetch_bytes);
    free(node->read_buffer);
    free(node->record);
    free(node->send_buffer);
    free(node->alt_payload);
    free(node->replay);
    free(node->scratch);
    pthread_mutex_destroy(&node->lock);
    explicit_bzero(node->config.core.private_key, sizeof node->config.core.private_key);
    free(node);
}

int bft_node_start(const struct bft_node_config *config, struct bft_node **out, struct cohort_error *err)
{
    assert(config != NULL && out != NULL);
    *out = NULL;
    const struct bft_config *core = &config->core;
    if (core->members.count < 1 || core->members.count > BFT_MEMBERS_MAX || core->self >= core->members.count)
        return cohort_error_set(err, BFT_E_INVALID, DOMAIN, "node: member %u of %u members", core->self,
                                core->members.count);
    if (config->wal_path[0] == '\0' || memchr(config->wal_path, '\0', sizeof config->wal_path) == NULL)
        return cohort_error_set(err, BFT_E_INVALID, DOMAIN, "node: wal_path is empty or not terminated");
    char ips[BFT_MEMBERS_MAX][16];
    uint16_t ports[BFT_MEMBERS_MAX];
    for (uint32_t i = 0; i < core->members.count; i++)
        if (bft_endpoint_parse(config->endpoint[i], ips[i], &ports[i], err) < 0)
            return cohort_error_wrap(err, "node: member %u", i);

    struct bft_node *node = calloc(1, sizeof *node);
    if (node == NULL) return cohort_error_set(err, BFT_E_NOMEM, DOMAIN, "node: out of memory");
    node->config = *config;
    node->n = core->members.count;
    node->self = core->self;
    node->read_fd = -1;
    node->queue_max_bytes = config->queue_max_bytes ? config->queue_max_bytes : QUEUE_DEFAULT_BYTES;
    pthread_mutex_init(&node->lock, NULL);
    node->status.self = node->self;
    uint8_t seed[8];
    if (node_random_bytes(seed, sizeof seed) < 0) {
        node_free(node, false);
        return cohort_error_errno(err, BFT_E_IO, DOMAIN, errno, "node: getrandom");
    }
    memcpy(&node->rng, seed, sizeof seed);
    node->seen_seed = node_rnd(node);
    node->queue = calloc(BFT_SUBMIT_QUEUE_MAX, sizeof *node->queue);
    node->read_buffer = malloc(READ_BUFFER_BYTES);
    node->record = malloc(BFT_WAL_RECORD_MAX);
    node->send_buffer = malloc(BFT_MESSAGE_MAX);
    node->alt_payload = malloc(core->payload_max_bytes > 64 ? core->payload_max_bytes : 64);
    node->replay = malloc(sizeof *node->replay);
    node->scratch = malloc(sizeof *node->scratch);
    if (!node->queue || !node->read_buffer || !node->record || !node->send_buffer || !node->alt_payload ||
        !node->replay || !node->scratch) {
        node_free(node, false);
        return cohort_error_set(err, BFT_E_NOMEM, DOMAIN, "node: out of memory");
    }
    node->core = bft_core_create(core, err);
    if (node->core == NULL) {
        int rc = err ? err->code : BFT_E_INVALID;
        node_free(node, false);
        return rc;
    }

    /* The WAL: replay it into the core and through on_commit, before any link exists. */
    struct replay_ctx r = {node, err};
    int rc = bft_wal_open(config->wal_path, replay_record, &r, &node->wal, err);
    if (rc < 0) {
        node_free(node, false);
        return rc;
    }
    node->read_fd = open(config->wal_path, O_RDONLY | O_CLOEXEC);
    if (node->read_fd < 0) {
        rc = cohort_error_errno(err, BFT_E_IO, DOMAIN, errno, "node: open %s for reading", config->wal_path);
        node_free(node, false);
        return rc;
    }
    free(node->reading_snapshot); /* a snapshot cut off by a crash: the one before it counts */
    free(node->reading_chunk);
    node->reading_snapshot = NULL;
    node->reading_chunk = NULL;
    rc = deliver_replay(node, err);
    if (rc < 0) {
        node_free(node, false);
        return rc;
    }
    node->applied = node->durable_committed = node->committed; /* the application has heard of every commit */
    {
        node->status.snapshot_index = node->snap.index;
        node->status.first_index = node->base + 1;
        node->status.wal_bytes = bft_wal_size(node->wal);
    }
    if (config->snapshot != NULL && config->restore == NULL) {
        node_free(node, false);
        return cohort_error_set(err, BFT_E_INVALID, DOMAIN, "node: a snapshot function needs a restore function");
    }
    node_publish_status(node);

    /* The loop and its handles. From here on a failure closes them through the loop. */
    if (uv_loop_init(&node->loop) < 0) {
        node_free(node, false);
        return cohort_error_set(err, BFT_E_IO, DOMAIN, "node: uv_loop_init failed");
    }
    node->loop.data = node;
    rc = uv_async_init(&node->loop, &node->wake, on_wake);
    if (rc < 0) {
        uv_loop_close(&node->loop);
        node_free(node, false);
        return cohort_error_set(err, BFT_E_IO, DOMAIN, "node: uv_async_init: %s", uv_strerror(rc));
    }
    for (uintptr_t i = 0; i < BFT_TIMERS; i++) {
        uv_timer_init(&node->loop, &node->core_timer[i]);
        node->core_timer[i].data = (void *)i;
    }
    uv_timer_init(&node->loop, &node->batch_timer);
    uv_timer_init(&node->loop, &node->tick_timer);
    uv_timer_init(&node->loop, &node->fetch_timer);
    uv_prepare_init(&node->loop, &node->barrier_before_poll);
    uv_prepare_start(&node->barrier_before_poll, node_on_barrier_before_poll);
    uv_check_init(&node->loop, &node->barrier_after_poll);
    uv_check_start(&node->barrier_after_poll, node_on_barrier_after_poll);
    uv_tcp_init(&node->loop, &node->listener);
    for (uint32_t i = 0; i < node->n; i++) {
        struct peer *p = &node->peers[i];
        uv_ip4_addr(ips[i], ports[i], &p->address);
        p->backoff_ms = BACKOFF_MIN_MS;
        p->down_since_ms = uv_now(&node->loop); /* frames wait for the first connection, briefly */
        if (i == node->self) continue;
        uv_timer_init(&node->loop, &p->reconnect_timer);
        p->reconnect_timer.data = (void *)(uintptr_t)i;
    }
    struct sockaddr_in *self_address = &node->peers[node->self].address;
    rc = uv_tcp_bind(&node->listener, (const struct sockaddr *)self_address, 0);
    if (rc == 0) rc = uv_listen((uv_stream_t *)&node->listener, 128, node_on_connection);
    if (rc < 0) {
        cohort_error_set(err, BFT_E_IO, DOMAIN, "node: listen on %s: %s (is another process using the port?)",
                         config->endpoint[node->self], uv_strerror(rc));
        goto fail_loop;
    }
    /*
     * libuv writes with write(2): a peer that has gone would raise SIGPIPE and kill the
     * process that hosts the node. The loop thread starts with SIGPIPE blocked (it
     * inherits this mask), so the write fails with EPIPE instead; the caller's mask is
     * restored at once.
     */
    sigset_t pipe_only, saved;
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_only, &saved);
    *out = node; /* before the thread: its callbacks (tick) may use the caller's copy of the pointer */
    rc = pthread_create(&node->thread, NULL, run, node);
    pthread_sigmask(SIG_SETMASK, &saved, NULL);
    if (rc != 0) {
        *out = NULL;
        cohort_error_errno(err, BFT_E_IO, DOMAIN, rc, "node: pthread_create");
        goto fail_loop;
    }
    return 0;

fail_loop:
    close_all(node);
    uv_run(&node->loop, UV_RUN_DEFAULT);
    node_free(node, true);
    return err ? err->code : BFT_E_IO;
}

static int submit(struct bft_node *node, const uint8_t *entry, size_t len, bool seal, struct cohort_error *err)
{
    assert(node != NULL);
    assert(entry != NULL || len == 0);
    size_t cap = node->config.core.payload_max_bytes - 4 - (seal ? node->config.seal_overhead_bytes + 4 : 0);
    if (len > cap)
        return cohort_error_set(err, BFT_E_RANGE, DOMAIN, "node: entry of %zu bytes exceeds the payload cap of %zu",
                                len, cap);
    uint8_t *copy = malloc(len ? len : 1);
    if (copy == NULL) return cohort_error_set(err, BFT_E_FULL, DOMAIN, "node: out of memory for an entry: retry later");
    if (len) memcpy(copy, entry, len);
    pthread_mutex_lock(&node->lock);
    if (node->stop_requested || node->queue_count == BFT_SUBMIT_QUEUE_MAX) {
        bool stopping = node->stop_requested;
        pthread_mutex_unlock(&node->lock);
        free(copy);
        return stopping ? cohort_error_set(err, BFT_E_INVALID, DOMAIN, "node: stopping")
                        : cohort_error_set(err, BFT_E_FULL, DOMAIN, "node: %d entries waiting: retry later",
                                           BFT_SUBMIT_QUEUE_MAX);
    }
    node->queue[(node->queue_head + node->queue_count) % BFT_SUBMIT_QUEUE_MAX] = (struct submission){copy, len, seal};
    node->queue_count++;
    node->status.submits_pending = node->queue_count;
    uv_async_send(&node->wake); /* under the lock: stop cannot close the handle meanwhile */
    pthread_mutex_unlock(&node->lock);
    return 0;
}

int bft_node_submit(struct bft_node *node, const uint8_t *entry, size_t len, struct cohort_error *err)
{
    return submit(node, entry, len, false, err);
}

int bft_node_submit_unsealed(struct bft_node *node, const uint8_t *entry, size_t len, struct cohort_error *err)
{
    assert(node->config.seal != NULL);
    return submit(node, entry, len, true, err);
}

void bft_node_get_status(struct bft_node *node, struct bft_node_status *status)
{
    assert(node != NULL && status != NULL);
    pthread_mutex_lock(&node->lock);
    *status = node->status;
    pthread_mutex_unlock(&node->lock);
}

bool bft_node_entry_held(struct bft_node *node, const uint8_t *entry, size_t len)
{
    assert(node != NULL);
    if (len > UINT32_MAX) return false;
    return bft_core_entry_held(node->core, entry, (uint32_t)len) || node_entry_seen(node, entry, len);
}

void bft_node_set_vote_from(struct bft_node *node, uint64_t height)
{
    assert(node != NULL);
    bft_core_set_vote_from(node->core, height);
}

void bft_node_stop(struct bft_node *node)
{
    if (node == NULL) return;
    pthread_mutex_lock(&node->lock);
    node->stop_requested = true;
    uv_async_send(&node->wake);
    pthread_mutex_unlock(&node->lock);
    int rc = pthread_join(node->thread, NULL);
    assert(rc == 0);
    (void)rc;
    node_free(node, true);
}
