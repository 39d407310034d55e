/*
 * node_snapshot.c - snapshots and the WAL's compaction around them (docs/bft.md
 * "Snapshots"): every snapshot_every blocks the application's state is written into a new
 * WAL beside the old one on libuv's thread pool, and the new file replaces the old.
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

/* ---- Snapshots and compaction (docs/bft.md "Snapshots") ---- */

uint32_t node_chunk_count(uint64_t len)
{
    return len == 0 ? 1 : (uint32_t)((len + SNAPSHOT_CHUNK_BYTES - 1) / SNAPSHOT_CHUNK_BYTES);
}

uint64_t node_chunk_len(const struct bft_snapshot_offer *info, uint32_t chunk)
{
    uint64_t at = (uint64_t)chunk * SNAPSHOT_CHUNK_BYTES;
    return info->len - at < SNAPSHOT_CHUNK_BYTES ? info->len - at : SNAPSHOT_CHUNK_BYTES;
}

/*
 * Appends the snapshot (info, bytes) to wal as SNAPSHOT records of at most
 * SNAPSHOT_CHUNK_BYTES each, noting each record's payload offset in offsets.
 */
static int append_snapshot(struct bft_wal *wal, const struct bft_snapshot_offer *info, const uint8_t *bytes,
                           uint8_t *scratch, uint64_t *offsets, struct cohort_error *err)
{
    uint32_t chunks = node_chunk_count(info->len);
    for (uint32_t c = 0; c < chunks; c++) {
        uint64_t at = (uint64_t)c * SNAPSHOT_CHUNK_BYTES, take = node_chunk_len(info, c);
        be_put(scratch, info->index, 8);
        be_put(scratch + 8, info->height, 8);
        memcpy(scratch + 16, info->hash, BFT_HASH_BYTES);
        be_put(scratch + 48, info->len, 8);
        be_put(scratch + 56, at, 8);
        if (take) memcpy(scratch + SNAPSHOT_HEADER_BYTES, bytes + at, take);
        offsets[c] = bft_wal_size(wal) + BFT_WAL_HEADER_BYTES;
        int rc = bft_wal_append(wal, BFT_RECORD_SNAPSHOT, scratch, SNAPSHOT_HEADER_BYTES + take, err);
        if (rc < 0) return rc;
    }
    return 0;
}


/* Logs a failed snapshot once until one succeeds again: the WAL keeps growing meanwhile. */
static void snapshot_failed(struct bft_node *node, uint64_t index, const char *why)
{
    if (!node->snapshot_failed_logged)
        log_warn("bft node: a snapshot failed; the WAL keeps growing until the next one",
                 "member=%u index=%llu error=\"%s\"", node->self, (unsigned long long)index, why);
    node->snapshot_failed_logged = true;
}

/*
 * A compaction (docs/bft.md "Snapshots"): a new WAL written beside the old one, then put in
 * its place. The bulk (a BASE record, the retained COMMIT records, the snapshot, the COMMIT
 * records after it, and this member's BLOCK and VOTE records above the committed height,
 * all as of the start) is written and synced on a thread of libuv's pool while the loop
 * goes on voting and committing into the old WAL; only the tail that the old WAL gained
 * meanwhile is copied on the loop thread, when no sync is in flight, before the rename.
 * With a config store under load the loop's stall for the rewrite went from 0.7-3 s to a few
 * ms (config_bench --soak, docs/PERFORMANCE.md); the application's snapshot itself is still
 * taken on the loop thread.
 */
struct compaction {
    uv_work_t req;
    struct bft_node *node;
    /* Captured on the loop thread at the start. */
    uint64_t new_base, base_height, last; /* the log kept: new_base + 1 .. last (committed at the start) */
    uint8_t base_hash[BFT_HASH_BYTES];
    struct bft_snapshot_offer info;
    bool digest_due;                 /* info.digest is for the worker to compute (a snapshot taken here) */
    bft_snapshot_seal_fn seal;       /* for the worker to run on bytes first (a snapshot taken here) */
    uint8_t *bytes;                  /* the snapshot (owned) */
    uint64_t *old_offset;            /* where COMMIT new_base + 1 + i is in the old WAL */
    uint32_t *old_len;
    uint8_t *own;                    /* own records: type u8 | len u32 | payload, one after another */
    size_t own_len, own_cap;
    uint64_t tail_from;              /* the old WAL's size at the start: the tail begins there */
    int read_fd;
    char tmp[sizeof ((struct bft_node_config *)0)->wal_path + 16];
    /* Written by the worker (then read by the loop thread only). */
    struct bft_wal *wal;
    uint64_t *offset;                /* the new commit index, by index - new_base */
    uint32_t *len;
    size_t keep;
    uint64_t *chunk_offset;
    uint32_t chunks;
    uint32_t delay_ms;               /* config.compaction_delay_ms (tests) */
    uint64_t us;                     /* the worker's time */
    int rc;
    struct cohort_error err;
};

void node_compaction_free(struct compaction *c)
{
    if (c == NULL) return;
    if (c->wal != NULL) {
        bft_wal_close(c->wal);
        unlink(c->tmp); /* not renamed over the WAL: a failure or a stop */
    }
    free(c->bytes);
    free(c->old_offset);
    free(c->old_len);
    free(c->own);
    free(c->offset);
    free(c->len);
    free(c->chunk_offset);
    free(c);
}

/* bft_core_own_records' callback: frames each record into c->own. */
static int keep_own(void *arg, uint8_t type, const uint8_t *payload, size_t len, uint64_t offset)
{
    struct compaction *c = arg;
    (void)offset;
    if (c->own_len + 5 + len > c->own_cap) {
        size_t cap = (c->own_cap ? c->own_cap * 2 : 4096) + 5 + len;
        uint8_t *p = realloc(c->own, cap);
        if (p == NULL) return BFT_E_NOMEM;
        c->own = p;
        c->own_cap = cap;
    }
    c->own[c->own_len] = type;
    be_put(c->own + c->own_len + 1, len, 4);
    memcpy(c->own + c->own_len + 5, payload, len);
    c->own_len += 5 + len;
    return 0;
}

/*
 * Captures what a compaction around snapshot (info, bytes: taken over) keeping the log
 * after new_base needs from the loop thread's state. NULL (and *err) on failure; bytes are
 * freed then too.
 */
static struct compaction *compaction_new(struct bft_node *node, uint64_t new_base, uint64_t base_height,
                                         const uint8_t base_hash[BFT_HASH_BYTES], const struct bft_snapshot_offer *info,
                                         uint8_t *bytes, struct cohort_error *err)
{
    assert(new_base >= node->base && new_base <= info->index);
    assert(info->index == new_base || info->index <= node->committed);
    struct compaction *c = calloc(1, sizeof *c);
    if (c == NULL) {
        free(bytes);
        cohort_error_set(err, BFT_E_NOMEM, DOMAIN, "out of memory");
        return NULL;
    }
    c->node = node;
    c->req.data = c;
    c->new_base = new_base;
    c->base_height = base_height;
    memcpy(c->base_hash, base_hash, BFT_HASH_BYTES);
    c->info = *info;
    c->bytes = bytes;
    c->last = node->committed > info->index ? node->committed : info->index;
    c->tail_from = bft_wal_size(node->wal);
    c->read_fd = node->read_fd;
    snprintf(c->tmp, sizeof c->tmp, "%s.compact", node->config.wal_path);
    size_t kept = (size_t)(c->last - new_base);
    c->old_offset = malloc((kept + 1) * sizeof *c->old_offset);
    c->old_len = malloc((kept + 1) * sizeof *c->old_len);
    int rc = c->old_offset && c->old_len ? 0 : BFT_E_NOMEM;
    /* The commits kept that this WAL holds (after a fetched snapshot there are none). */
    for (uint64_t i = new_base + 1; rc == 0 && i <= node->committed && i > node->base; i++) {
        c->old_offset[i - new_base - 1] = node->commit_offset[i - node->base];
        c->old_len[i - new_base - 1] = node->commit_len[i - node->base];
    }
    if (rc == 0) rc = bft_core_own_records(node->core, keep_own, c);
    if (rc < 0) {
        node_compaction_free(c);
        cohort_error_set(err, BFT_E_NOMEM, DOMAIN, "out of memory for a compaction");
        return NULL;
    }
    return c;
}

/* Copies the COMMIT records from .. to of the old WAL into the new one, noting their new offsets. */
static int copy_commits(struct compaction *c, uint8_t *buf, uint64_t from, uint64_t to)
{
    for (uint64_t i = from; i <= to; i++) {
        size_t want = c->old_len[i - c->new_base - 1];
        int e = node_pread_all(c->read_fd, buf, want, c->old_offset[i - c->new_base - 1]);
        if (e != 0)
            return cohort_error_errno(&c->err, BFT_E_IO, DOMAIN, e, "node: read commit %llu for a compaction",
                                      (unsigned long long)i);
        c->offset[i - c->new_base] = bft_wal_size(c->wal) + BFT_WAL_HEADER_BYTES;
        c->len[i - c->new_base] = (uint32_t)want;
        int rc = bft_wal_append(c->wal, BFT_RECORD_COMMIT, buf, want, &c->err);
        if (rc < 0) return rc;
    }
    return 0;
}

/* The bulk of a compaction, on any thread: writes and syncs the new file. Sets c->rc. */
static void compaction_write(struct compaction *c)
{
    uint8_t *scratch = malloc(SNAPSHOT_HEADER_BYTES + SNAPSHOT_CHUNK_BYTES), *record = malloc(BFT_WAL_RECORD_MAX);
    c->keep = (size_t)(c->last - c->new_base) + 1024;
    c->chunks = node_chunk_count(c->info.len);
    c->offset = malloc(c->keep * sizeof *c->offset);
    c->len = malloc(c->keep * sizeof *c->len);
    c->chunk_offset = malloc(c->chunks * sizeof *c->chunk_offset);
    int rc = 0;
    if (!scratch || !record || !c->offset || !c->len || !c->chunk_offset) {
        rc = cohort_error_set(&c->err, BFT_E_NOMEM, DOMAIN, "out of memory for a compaction");
        goto out;
    }
    if (c->seal != NULL && c->bytes != NULL) c->seal(c->bytes, c->info.len);
    if (c->digest_due) keccak256(c->bytes ? c->bytes : (const uint8_t *)"", c->info.len, c->info.digest);
    unlink(c->tmp);
    if ((rc = bft_wal_open(c->tmp, NULL, NULL, &c->wal, &c->err)) < 0) goto out;
    if (c->new_base > 0) {
        uint8_t base[BFT_BASE_RECORD_BYTES];
        bft_base_encode(c->new_base, c->base_height, c->base_hash, base);
        if ((rc = bft_wal_append(c->wal, BFT_RECORD_BASE, base, sizeof base, &c->err)) < 0) goto out;
    }
    if (c->info.index > c->new_base && (rc = copy_commits(c, record, c->new_base + 1, c->info.index)) < 0) goto out;
    if ((rc = append_snapshot(c->wal, &c->info, c->bytes, scratch, c->chunk_offset, &c->err)) < 0) goto out;
    if (c->last > c->info.index && (rc = copy_commits(c, record, c->info.index + 1, c->last)) < 0) goto out;
    for (size_t at = 0; at < c->own_len;) {
        size_t len = (size_t)be_get(c->own + at + 1, 4);
        if ((rc = bft_wal_append(c->wal, c->own[at], c->own + at + 5, len, &c->err)) < 0) goto out;
        at += 5 + len;
    }
    rc = bft_wal_sync(c->wal, &c->err);
out:
    free(scratch);
    free(record);
    c->rc = rc;
}

/* bft_wal_scan's callback over the old WAL's tail: each record goes into the new WAL. */
static int copy_tail_record(void *arg, uint8_t type, const uint8_t *payload, size_t len, uint64_t offset)
{
    struct compaction *c = arg;
    (void)offset;
    uint64_t at = bft_wal_size(c->wal) + BFT_WAL_HEADER_BYTES;
    int rc = bft_wal_append(c->wal, type, payload, len, &c->err);
    if (rc < 0 || type != BFT_RECORD_COMMIT) return rc;
    c->last++; /* the tail's COMMIT records continue the log, in order */
    if (c->last - c->new_base >= c->keep) {
        size_t keep = c->keep * 2;
        uint64_t *o = realloc(c->offset, keep * sizeof *o);
        if (o != NULL) c->offset = o;
        uint32_t *l = o != NULL ? realloc(c->len, keep * sizeof *l) : NULL;
        if (l == NULL) return cohort_error_set(&c->err, BFT_E_NOMEM, DOMAIN, "out of memory for a compaction");
        c->len = l;
        c->keep = keep;
    }
    c->offset[c->last - c->new_base] = at;
    c->len[c->last - c->new_base] = (uint32_t)len;
    return 0;
}

/* The old WAL's descriptors, closed on the thread pool: the rename unlinked that file, and
   its last close frees its blocks, which took 75-210 ms here with 19 MB under load. */
struct retired {
    uv_work_t req;
    struct bft_wal *wal;
    int fd;
};

static void retired_work(uv_work_t *req)
{
    struct retired *r = req->data;
    bft_wal_close(r->wal);
    close(r->fd);
}

static void retired_done(uv_work_t *req, int status)
{
    (void)status;
    free(req->data);
}

static void retire(struct bft_node *node, struct bft_wal *wal, int fd)
{
    struct retired *r = malloc(sizeof *r);
    if (r != NULL) {
        *r = (struct retired){.wal = wal, .fd = fd};
        r->req.data = r;
        if (uv_queue_work(&node->loop, &r->req, retired_work, retired_done) == 0) return;
        free(r);
    }
    bft_wal_close(wal); /* no pool: here and now */
    close(fd);
}

/*
 * The end of a compaction, on the loop thread with no sync in flight (a worker would hold
 * the old WAL's descriptor): the old WAL's tail since the start goes into the new one,
 * which is synced, renamed over the old one, and used from then on. Everything appended
 * so far is then durable. On failure the old WAL stays in use and *err says why.
 */
static int compaction_finish(struct bft_node *node, struct compaction *c, struct cohort_error *err)
{
    assert(node->sync_in_flight == 0 && c->rc == 0);
    uint64_t end = bft_wal_size(node->wal);
    assert(end >= c->tail_from);
    size_t n = (size_t)(end - c->tail_from), valid = 0;
    uint8_t *tail = malloc(n ? n : 1);
    int rc = tail ? 0 : cohort_error_set(err, BFT_E_NOMEM, DOMAIN, "out of memory for a compaction's tail");
    int e = rc == 0 ? node_pread_all(node->read_fd, tail, n, c->tail_from) : 0;
    if (e != 0) rc = cohort_error_errno(err, BFT_E_IO, DOMAIN, e, "node: read the WAL's tail for a compaction");
    uint64_t committed_before = c->last;
    if (rc == 0 && (rc = bft_wal_scan(tail, n, copy_tail_record, c, &valid, err)) < 0 && c->err.code != 0)
        *err = c->err; /* the callback's: an append to the new file failed */
    free(tail);
    if (rc == 0 && (valid != n || c->last != node->committed))
        rc = cohort_error_set(err, BFT_E_CORRUPT, DOMAIN,
                              "node: the WAL's tail (%zu bytes, %zu valid, commits %llu..%llu) does not continue "
                              "the log at %llu",
                              n, valid, (unsigned long long)committed_before, (unsigned long long)c->last,
                              (unsigned long long)node->committed);
    if (rc == 0) rc = bft_wal_sync(c->wal, err);
    if (rc == 0 && (rc = bft_wal_rename(c->wal, node->config.wal_path, err)) < 0 && access(c->tmp, F_OK) != 0) {
        /* Renamed, but the directory did not sync: a crash may leave either file, and the
           old one would miss what is appended from now on. Stop voting; a restart is safe. */
        node_halt(node, err);
        return rc;
    }
    if (rc < 0) return rc;

    /* The new WAL is the member's now. */
    int fd = open(node->config.wal_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = cohort_error_errno(err, BFT_E_IO, DOMAIN, errno, "node: open %s for reading", node->config.wal_path);
        node_halt(node, err); /* it cannot read its own WAL: stop voting */
        return rc;
    }
    retire(node, node->wal, node->read_fd);
    node->read_fd = fd;
    node->wal = c->wal;
    c->wal = NULL;
    node->base = c->new_base;
    node->base_height = c->base_height;
    memcpy(node->base_hash, c->base_hash, BFT_HASH_BYTES);
    free(node->commit_offset);
    free(node->commit_len);
    node->commit_offset = c->offset;
    node->commit_len = c->len;
    node->commit_cap = c->keep;
    c->offset = NULL;
    c->len = NULL;
    free(node->snap_chunk);
    node->snap_chunk = c->chunk_offset;
    node->snap_chunks = c->chunks;
    c->chunk_offset = NULL;
    node->snap = c->info;
    pthread_mutex_lock(&node->lock);
    node->status.snapshot_index = c->info.index;
    node->status.first_index = c->new_base + 1;
    node->status.wal_bytes = bft_wal_size(node->wal);
    node->status.compaction_us = c->us;
    node->status.compaction_tail_bytes = n;
    pthread_mutex_unlock(&node->lock);
    node->sync_started = node->appended; /* the new file is synced whole: nothing for a sync */
    node_synced_up_to(node, node->appended, node->committed);
    return 0;
}

/* Rewrites the WAL around (info, bytes: taken over) at once, on the loop thread: state transfer. */
int node_rewrite_wal(struct bft_node *node, uint64_t new_base, uint64_t base_height,
                       const uint8_t base_hash[BFT_HASH_BYTES], const struct bft_snapshot_offer *info, uint8_t *bytes,
                       struct cohort_error *err)
{
    assert(node->sync_in_flight == 0 && node->compacting == NULL);
    struct compaction *c = compaction_new(node, new_base, base_height, base_hash, info, bytes, err);
    if (c == NULL) return BFT_E_NOMEM;
    compaction_write(c);
    int rc = c->rc;
    if (rc < 0) *err = c->err;
    else rc = compaction_finish(node, c, err);
    node_compaction_free(c);
    return rc;
}


int bft_node_seed_wal(const char *path, uint64_t index, uint64_t height, const uint8_t hash[BFT_HASH_BYTES],
                      const uint8_t *bytes, size_t len, struct cohort_error *err)
{
    assert(path != NULL && hash != NULL && (bytes != NULL || len == 0));
    if (index == 0 || height < index || len > BFT_SNAPSHOT_MAX_BYTES)
        return cohort_error_set(err, BFT_E_INVALID, DOMAIN,
                                "seeding %s: a tip needs an index >= 1 and a height >= it, and a snapshot of at most "
                                "%llu bytes (index %llu, height %llu, %zu bytes)",
                                path, (unsigned long long)BFT_SNAPSHOT_MAX_BYTES, (unsigned long long)index,
                                (unsigned long long)height, len);
    if (access(path, F_OK) == 0 || errno != ENOENT)
        return cohort_error_set(err, BFT_E_INVALID, DOMAIN,
                                "seeding %s: the file exists (or cannot be checked): a WAL is seeded only once", path);
    struct bft_snapshot_offer info = {.index = index, .height = height, .len = len};
    memcpy(info.hash, hash, BFT_HASH_BYTES);
    uint8_t *scratch = malloc(SNAPSHOT_HEADER_BYTES + SNAPSHOT_CHUNK_BYTES);
    uint64_t *offsets = malloc(node_chunk_count(len) * sizeof *offsets);
    struct bft_wal *wal = NULL;
    int rc = scratch && offsets ? 0 : cohort_error_set(err, BFT_E_NOMEM, DOMAIN, "seeding %s: out of memory", path);
    uint8_t base[BFT_BASE_RECORD_BYTES];
    bft_base_encode(index, height, hash, base);
    if (rc == 0) rc = bft_wal_open(path, NULL, NULL, &wal, err);
    if (rc == 0) rc = bft_wal_append(wal, BFT_RECORD_BASE, base, sizeof base, err);
    if (rc == 0) rc = append_snapshot(wal, &info, bytes, scratch, offsets, err);
    if (rc == 0) rc = bft_wal_sync(wal, err);
    bft_wal_close(wal);
    free(scratch);
    free(offsets);
    if (rc < 0) {
        if (wal != NULL) unlink(path); /* half a seed is no WAL: the next try starts again */
        return cohort_error_wrap(err, "seeding the WAL %s", path);
    }
    return 0;
}

/* Installs a fetched snapshot that waited, once nothing holds or rewrites the WAL any more. */
void node_install_if_waiting(struct bft_node *node)
{
    if (!node->install_waiting || node->sync_in_flight > 0 || node->compacting != NULL || node->halted ||
        node->closing)
        return;
    node->install_waiting = false;
    node_fetch_install(node);
}

/* A written compaction's swap, once no sync is in flight; then what waited for it. */
void node_compaction_swap(struct bft_node *node)
{
    struct compaction *c = node->compacting;
    assert(c != NULL && node->swap_waiting && node->sync_in_flight == 0);
    node->swap_waiting = false;
    node->compacting = NULL;
    struct cohort_error err = {0};
    uint64_t t = uv_hrtime();
    if (compaction_finish(node, c, &err) == 0) {
        COUNT(node, snapshots, 1);
        pthread_mutex_lock(&node->lock);
        node->status.compaction_swap_us = (uv_hrtime() - t) / 1000;
        pthread_mutex_unlock(&node->lock);
        log_info("bft node took a snapshot and compacted its WAL",
                 "member=%u index=%llu bytes=%llu first_index=%llu wal_bytes=%llu worker_us=%llu swap_us=%llu",
                 node->self, (unsigned long long)c->info.index, (unsigned long long)c->info.len,
                 (unsigned long long)c->new_base + 1, (unsigned long long)bft_wal_size(node->wal),
                 (unsigned long long)c->us, (unsigned long long)((uv_hrtime() - t) / 1000));
        node->snapshot_failed_logged = false;
    } else {
        snapshot_failed(node, c->info.index, err.message);
    }
    node_compaction_free(c);
    node_install_if_waiting(node);
    node_barrier(node); /* syncs were held back for the swap */
}

static void compaction_work(uv_work_t *req)
{
    struct compaction *c = req->data;
    if (c->delay_ms) usleep(c->delay_ms * 1000u);
    uint64_t t = uv_hrtime();
    compaction_write(c);
    c->us = (uv_hrtime() - t) / 1000;
}

static void compaction_done(uv_work_t *req, int status)
{
    struct compaction *c = req->data;
    struct bft_node *node = c->node;
    if (status < 0 && c->rc == 0) c->rc = cohort_error_set(&c->err, BFT_E_IO, DOMAIN, "node: the compaction did not run");
    if (node->halted || node->closing || c->rc < 0) {
        if (c->rc < 0) snapshot_failed(node, c->info.index, c->err.message);
        node->compacting = NULL;
        node_compaction_free(c);
        node_install_if_waiting(node);
        return;
    }
    node->swap_waiting = true; /* barrier starts no sync now */
    if (node->sync_in_flight == 0) node_compaction_swap(node);
}

/*
 * Takes a snapshot of the application's state after block index (just delivered) and
 * starts compacting the WAL around it, keeping retain_commits blocks before it for members
 * that lag a little. Snapshots fall on multiples of snapshot_every, so every member's
 * snapshot of an index is the same bytes, which state transfer relies on. One compaction
 * at a time: a snapshot due while one runs is skipped.
 */
void node_take_snapshot(struct bft_node *node, uint64_t index, uint64_t height, const uint8_t hash[BFT_HASH_BYTES])
{
    if (node->compacting != NULL) return;
    uint8_t *bytes = NULL;
    size_t len = 0;
    int rc = node->config.snapshot(node->config.arg, index, &bytes, &len);
    struct cohort_error err = {0};
    if (rc < 0 || (bytes == NULL && len > 0) || len > BFT_SNAPSHOT_MAX_BYTES) {
        cohort_error_set(&err, BFT_E_INVALID, DOMAIN, "the application gave no snapshot (code %d, %zu bytes)", rc, len);
        free(bytes);
        goto fail;
    }
    struct bft_snapshot_offer info = {.index = index, .height = height, .len = len}; /* digest: by the worker */
    memcpy(info.hash, hash, BFT_HASH_BYTES);
    uint32_t every = node->config.snapshot_every ? node->config.snapshot_every : SNAPSHOT_EVERY_DEFAULT;
    uint64_t retain = node->config.retain_commits ? node->config.retain_commits : 4 * (uint64_t)every;
    uint64_t new_base = index > retain ? index - retain : 0;
    if (new_base < node->base) new_base = node->base;
    uint64_t base_height = node->base_height;
    uint8_t base_hash[BFT_HASH_BYTES];
    memcpy(base_hash, node->base_hash, BFT_HASH_BYTES);
    if (new_base > node->base) { /* the tip before the first kept block: block new_base itself */
        if (node_load_commit(node, new_base, &err) < 0) {
            free(bytes);
            goto fail;
        }
        base_height = node->replay->block.header.height;
        memcpy(base_hash, node->replay->hash, BFT_HASH_BYTES);
    }
    struct compaction *c = compaction_new(node, new_base, base_height, base_hash, &info, bytes, &err);
    if (c == NULL) goto fail;
    c->digest_due = true;
    c->seal = node->config.snapshot_seal;
    c->delay_ms = node->config.compaction_delay_ms;
    if (uv_queue_work(&node->loop, &c->req, compaction_work, compaction_done) < 0) {
        node_compaction_free(c);
        cohort_error_set(&err, BFT_E_IO, DOMAIN, "node: no thread for a compaction");
        goto fail;
    }
    node->compacting = c;
    return;
fail:
    snapshot_failed(node, index, err.message);
}
