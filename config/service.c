/* service.c - the config store service (config.h, part 3). */
#include "config/service_internal.h"

#include <assert.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bft/node.h"
#include "common/hex.h"
#include "common/keccak.h"
#include "common/log.h"
#include "common/secp.h"

#define DOMAIN "core"
#define WATCH_TIMEOUT_MAX_MS 60000
#define WATCH_LIMIT_DEFAULT 1000
#define RANGE_LIMIT_DEFAULT 10000
/* What one answer carries at most (docs/cohort-core.md): past either cap it says "more". The
   keys and values are copied under the store's lock; the JSON is built after it. */
#define ANSWER_KEYS_MAX 10000
#define ANSWER_BYTES_MAX (4u << 20) /* of keys and values */
#define READY_BEHIND_MAX 16 /* heights behind the cluster past which requests are refused */
#define READY_WAIT_MS 250   /* how long a request to a member just started waits to learn whether it is behind */

/* ---- Rejoining (docs/bft.md and docs/chain.md "Rejoining") ----
 *
 * A member that lost its WAL (STATE_DIR/config/) but kept its key must not sign at heights
 * it may have signed at: it follows the log without signing (bft vote_from) until a block
 * carrying its entry REJOIN(member, random nonce) is committed at height h, then signs from
 * h + 1. The mark next to the WAL's folder says the member has signed before; a first
 * start has none. Losing the whole state dir loses the mark too: not detected. */

#define REJOIN_MAGIC 'R'
#define REJOIN_VERSION 1
#define REJOIN_ENTRY_BYTES 36 /* 'R' | version | member u16 | nonce 32 */

static void rejoin_submit(struct config_service *svc)
{
    uint32_t self = (uint32_t)svc->epoch.self;
    uint8_t entry[REJOIN_ENTRY_BYTES] = {REJOIN_MAGIC, REJOIN_VERSION, (uint8_t)(self >> 8), (uint8_t)self};
    pthread_mutex_lock(&svc->lock);
    bool waiting = svc->rejoin.waiting;
    memcpy(entry + 4, svc->rejoin.nonce, 32);
    pthread_mutex_unlock(&svc->lock);
    struct cohort_error err = {0};
    if (waiting && bft_node_submit(svc->node, entry, sizeof entry, &err) != 0)
        log_warn("config store: rejoin entry not submitted; retrying", "error=\"%s\"", err.message);
}

static void rejoin_mark(struct config_service *svc)
{
    int fd = open(svc->rejoin.mark, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    bool ok = fd >= 0 && write(fd, "1\n", 2) == 2 && fsync(fd) == 0;
    if (fd >= 0) close(fd);
    if (!ok)
        log_warn("config store: the joined mark is not kept: a later loss of the WAL would go unnoticed",
                 "path=%s errno=%d", svc->rejoin.mark, errno);
}

/* A committed rejoin entry (BFT thread, under lock): true when entry is one. */
static bool rejoin_entry(struct config_service *svc, const struct bft_commit *commit, const uint8_t *entry, size_t len,
                         bool replaying)
{
    if (len != REJOIN_ENTRY_BYTES || entry[0] != REJOIN_MAGIC || entry[1] != REJOIN_VERSION) return false;
    uint32_t member = (uint32_t)entry[2] << 8 | entry[3];
    if (replaying || !svc->rejoin.waiting || (int)member != svc->epoch.self ||
        memcmp(entry + 4, svc->rejoin.nonce, 32) != 0)
        return true;
    svc->rejoin.waiting = false;
    svc->rejoin.vote_from = commit->block.header.height + 1;
    bft_node_set_vote_from(svc->node, svc->rejoin.vote_from);
    rejoin_mark(svc);
    log_info("config store rejoined: a block carries this member's rejoin entry; it signs again from the next height",
             "member=%d bft_height=%llu vote_from=%llu", svc->epoch.self, (unsigned long long)commit->block.header.height,
             (unsigned long long)svc->rejoin.vote_from);
    return true;
}

/* The BFT node's tick (its thread): the entry again while no block carries it. */
static void on_tick(void *arg)
{
    struct config_service *svc = arg;
    pthread_mutex_lock(&svc->lock);
    bool member = svc->epoch.self >= 0; /* else: the lingering node's tick (service_internal.h) */
    pthread_mutex_unlock(&svc->lock);
    if (member) rejoin_submit(svc);
}

/* ---- Applying the log ---- */

/*
 * Keys and values copied out of the store (which may change once its lock is let go),
 * at most ANSWER_KEYS_MAX of them and ANSWER_BYTES_MAX bytes: past that, cut says so.
 * kv[i]'s key and value point into bytes.
 */
struct kv_copy {
    struct cs_kv *kv;
    uint8_t *type; /* per kv: a watch's event (CS_OP_PUT, CS_OP_DELETE), 0 for a range */
    size_t count, cap;
    uint8_t *bytes;
    size_t used, bytes_cap;
    bool cut;
    uint64_t cut_revision; /* a watch cut here: the revision to watch from next */
};

/* Frees what the copy holds (not c itself). */
static void kv_copy_release(struct kv_copy *c)
{
    free(c->kv);
    free(c->type);
    free(c->bytes);
}

static void kv_copy_free(struct kv_copy *c)
{
    if (c == NULL) return;
    kv_copy_release(c);
    free(c);
}

/* Appends kv (and its event type, watch: type > 0); false once the copy is cut. A watch
   is cut only between revisions, so that it can go on from the next one. */
static bool kv_copy_add(struct kv_copy *c, const struct cs_kv *kv, uint8_t type)
{
    if (c->cut) return false;
    size_t need = (size_t)kv->key_len + kv->value_len;
    bool full = c->count == ANSWER_KEYS_MAX || c->used + need > ANSWER_BYTES_MAX;
    bool same_revision = type > 0 && c->count > 0 && c->kv[c->count - 1].mod_revision == kv->mod_revision;
    if (full && !same_revision) {
        c->cut = true;
        c->cut_revision = kv->mod_revision;
        return false;
    }
    if (c->count == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        struct cs_kv *grown = realloc(c->kv, cap * sizeof *grown);
        if (grown == NULL) goto out_of_memory;
        c->kv = grown;
        uint8_t *types = realloc(c->type, cap);
        if (types == NULL) goto out_of_memory;
        c->type = types;
        c->cap = cap;
    }
    /* The bytes grow by doubling; the pointers into them are set when the copy is done. */
    size_t room = c->bytes_cap;
    if (c->used + need > room) {
        size_t size = room ? room * 2 : 4096;
        while (size < c->used + need) size *= 2;
        uint8_t *grown = realloc(c->bytes, size);
        if (grown == NULL) goto out_of_memory;
        c->bytes = grown;
        c->bytes_cap = size;
    }
    struct cs_kv *k = &c->kv[c->count];
    *k = *kv;
    memcpy(c->bytes + c->used, kv->key, kv->key_len);
    memcpy(c->bytes + c->used + kv->key_len, kv->value, kv->value_len);
    k->key = (const uint8_t *)(uintptr_t)c->used; /* offsets until kv_copy_done */
    k->value = (const uint8_t *)(uintptr_t)(c->used + kv->key_len);
    c->used += need;
    c->type[c->count++] = type;
    return true;
out_of_memory:
    c->cut = true; /* what fits is answered; the client asks again from where it ends */
    c->cut_revision = kv->mod_revision;
    return false;
}

/* Turns the offsets into pointers: the copy is read from here on. */
static void kv_copy_done(struct kv_copy *c)
{
    for (size_t i = 0; i < c->count; i++) {
        c->kv[i].key = c->bytes + (uintptr_t)c->kv[i].key;
        c->kv[i].value = c->bytes + (uintptr_t)c->kv[i].value;
    }
}

static cJSON *kv_json(const struct cs_kv *kv)
{
    cJSON *o = cJSON_CreateObject();
    /* Keys and values are text; copy with their lengths (they are not NUL-terminated). */
    char *k = strndup((const char *)kv->key, kv->key_len), *v = strndup((const char *)kv->value, kv->value_len);
    cJSON_AddStringToObject(o, "key", k ? k : "");
    cJSON_AddStringToObject(o, "value", v ? v : "");
    free(k);
    free(v);
    cJSON_AddNumberToObject(o, "create_revision", (double)kv->create_revision);
    cJSON_AddNumberToObject(o, "mod_revision", (double)kv->mod_revision);
    cJSON_AddNumberToObject(o, "version", (double)kv->version);
    return o;
}

/*
 * The answer to a request: nops holds its success and failure branches' lengths; kvs the
 * keys its ranges read, copied (NULL: none). A range cut by the caps says "more": true,
 * and so do the ranges after it.
 */
static char *result_json(const struct cs_result *r, const uint8_t nops_of[2], const struct kv_copy *kvs)
{
    cJSON *o = cJSON_CreateObject();
    char signer[43];
    hex_encode(r->signer, 20, signer, sizeof signer);
    cJSON_AddNumberToObject(o, "revision", (double)r->revision);
    if (r->status == CS_E_DUPLICATE) cJSON_AddTrueToObject(o, "duplicate");
    cJSON_AddBoolToObject(o, "succeeded", r->succeeded);
    cJSON_AddNumberToObject(o, "deleted", r->deleted);
    cJSON_AddStringToObject(o, "signer", signer);
    if (r->status != CS_OK && r->status != CS_E_DUPLICATE)
        cJSON_AddStringToObject(o, "error", r->message ? r->message : cs_strerror(r->status));
    size_t nops = nops_of[r->succeeded ? 0 : 1], have = kvs ? kvs->count : 0;
    if (r->status == CS_OK && nops > 0) {
        cJSON *responses = cJSON_AddArrayToObject(o, "responses");
        for (size_t i = 0; i < nops; i++) {
            size_t start = r->range_start[i], end = i + 1 < nops ? r->range_start[i + 1] : r->nkvs;
            cJSON *resp = cJSON_CreateObject();
            cJSON *array = cJSON_AddArrayToObject(resp, "kvs");
            for (size_t j = start; j < end && j < have; j++) cJSON_AddItemToArray(array, kv_json(&kvs->kv[j]));
            if (end > have) cJSON_AddTrueToObject(resp, "more");
            cJSON_AddItemToArray(responses, resp);
        }
    }
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return text;
}

/* Called by the store with the lock held, for each entry of a committed block. */
static void on_result(void *arg, const struct cs_result *r)
{
    struct config_service *svc = arg;
    if (r->status == CS_E_EPOCH) { /* after a membership change: its waiter resubmits to the next epoch */
        svc->entries_dropped++;
        return;
    }
    if (r->status == CS_OK || r->status == CS_E_DUPLICATE) svc->entries_applied++;
    else svc->entries_refused++;
    if (r->id == NULL) return;
    for (size_t i = 0; i < svc->waiters_seen; i++) {
        struct waiter *w = &svc->waiters[i];
        if (!w->used || w->done || memcmp(w->id, r->id, CS_ID_BYTES) != 0) continue;
        /* The keys point into the store: copied now (within the caps), turned into JSON by
           the waiting thread, off the BFT node's thread and outside the lock. */
        w->result = *r;
        w->result.id = NULL;
        w->result.kvs = NULL;
        w->kvs = NULL;
        if (r->nkvs > 0 && (w->kvs = calloc(1, sizeof *w->kvs)) != NULL) {
            for (size_t k = 0; k < r->nkvs && kv_copy_add(w->kvs, &r->kvs[k], 0);) k++;
            kv_copy_done(w->kvs);
        }
        w->status = r->status;
        w->done = true;
        pthread_cond_signal(&w->cond);
        return;
    }
}

/* The BFT node's commit callback, on its thread. */
static void on_commit(void *arg, const struct bft_commit *commit, bool replaying)
{
    struct config_service *svc = arg;
    pthread_mutex_lock(&svc->lock);
    if (svc->epoch.self < 0) { /* the lingering node of the epoch that removed this member: nothing applies */
        pthread_mutex_unlock(&svc->lock);
        return;
    }
    uint32_t offset = 0;
    const uint8_t *entry;
    uint32_t len;
    struct cohort_error err = {0};
    int rc;
    while ((rc = bft_payload_next(commit->block.payload, commit->block.payload_len, &offset, &entry, &len, &err)) ==
           1) {
        bool ours = false;
        if (!replaying && len > 4 && memcmp(entry, CS_BATCH_MAGIC, 4) == 0) {
            uint8_t hash[32];
            keccak256(entry, len, hash);
            for (size_t i = 0; i < SEALED_KEPT && !ours; i++) ours = memcmp(svc->sealed[i], hash, 32) == 0;
        }
        if (rejoin_entry(svc, commit, entry, len, replaying)) continue; /* a member rejoining: no request */
        if (ours) cs_store_apply_sealed(svc->store, entry, len, svc->address, on_result, svc);
        else cs_store_apply(svc->store, entry, len, replaying ? NULL : on_result, svc);
    }
    if (rc < 0) log_error("config store: a committed block is not well framed", "error=\"%s\"", err.message);
    svc->blocks_applied++;
    epochs_on_block(svc, commit); /* a membership change ends the epoch here */
    pthread_mutex_unlock(&svc->lock);
    pthread_cond_broadcast(&svc->changed);
}

/* The BFT node's seal callback, on its thread: the requests of this member's clients queued
   together become one batch under this member's signature (config.h "Batch layout"). */
static int on_seal(void *arg, const uint8_t *const *entries, const size_t *lens, size_t count, uint8_t **out,
                   size_t *out_len)
{
    struct config_service *svc = arg;
    size_t total = 0;
    for (size_t i = 0; i < count; i++) total += lens[i];
    size_t cap = cs_batch_bytes(count, total);
    *out = malloc(cap);
    if (*out == NULL) return COMMON_E_NOMEM;
    struct cohort_error err = {0};
    int rc = cs_batch_encode(svc->cluster.instance, entries, lens, count, svc->key, *out, cap, out_len, &err);
    if (rc < 0) {
        log_warn("config store: cannot seal a batch", "requests=%zu error=\"%s\"", count, err.message);
        return rc;
    }
    keccak256(*out, *out_len, svc->sealed[svc->sealed_next++ % SEALED_KEPT]);
    return 0;
}

/* The BFT node's snapshot callback, on its thread: the whole store after block index, its
   checksum left to snapshot_seal (cs_snapshot_seal) on libuv's pool. */
static int on_snapshot(void *arg, uint64_t index, uint8_t **bytes, size_t *len)
{
    struct config_service *svc = arg;
    struct cohort_error err = {0};
    pthread_mutex_lock(&svc->lock);
    bool ended = false;
    cs_store_epoch(svc->store, &ended);
    if (ended) { /* the epoch ended at a change: no snapshot of it may hold what came after */
        pthread_mutex_unlock(&svc->lock);
        return CS_E_EPOCH;
    }
    int rc = cs_store_snapshot_unsealed(svc->store, bytes, len, &err); /* sealed on the pool: snapshot_seal */
    uint64_t revision = cs_store_revision(svc->store);
    pthread_mutex_unlock(&svc->lock);
    if (rc < 0) log_warn("config store: no snapshot", "index=%llu error=\"%s\"", (unsigned long long)index, err.message);
    else log_debug("config store snapshot", "index=%llu revision=%llu bytes=%zu", (unsigned long long)index,
                   (unsigned long long)revision, *len);
    return rc;
}

/* The BFT node's restore callback, at start or after a snapshot was fetched from the others:
   the store becomes the snapshot's. */
static int on_restore(void *arg, uint64_t index, const uint8_t *bytes, size_t len, struct cohort_error *err)
{
    struct config_service *svc = arg;
    pthread_mutex_lock(&svc->lock);
    /* (The lingering node of a removed member too: at its restart, the snapshot its WAL
       begins with becomes the member's copy of the store, which it keeps for reads.) */
    int rc = cs_store_restore(svc->store, bytes, len, err);
    pthread_mutex_unlock(&svc->lock);
    if (rc < 0) return cohort_error_wrap(err, "config store snapshot at block %llu", (unsigned long long)index);
    log_info("config store restored from a snapshot", "index=%llu revision=%llu", (unsigned long long)index,
             (unsigned long long)cs_store_revision(svc->store));
    return 0;
}

/* ---- Start and stop ---- */

/* The node config of epoch e for this member (its WAL's path in nc->wal_path). */
static int node_config(struct config_service *svc, const struct epoch *e, struct bft_node_config *out,
                       struct cohort_error *err)
{
    struct bft_node_config nc;
    memset(&nc, 0, sizeof nc);
    if (epochs_wal_path(svc, e->number, nc.wal_path, sizeof nc.wal_path) < 0)
        return cohort_error_set(err, COMMON_E_RANGE, DOMAIN, "config store: state dir %s is too long", svc->state_dir);
    nc.core.instance = e->instance;
    nc.core.members.count = e->count;
    memcpy(nc.core.members.address, e->address, sizeof nc.core.members.address);
    nc.core.self = (uint32_t)e->self;
    memcpy(nc.core.private_key, svc->key, 32);
    nc.core.payload_max_bytes = BFT_PAYLOAD_MAX;
    nc.core.window_heights = BFT_WINDOW_MAX;
    nc.core.timeout_ms = svc->cluster.timeout_ms;
    /* An idle cluster makes an empty block about every timeout/6, not at network speed. */
    nc.core.idle_delay_ms = svc->cluster.timeout_ms / 6 > 10 ? svc->cluster.timeout_ms / 6 : 10;
    nc.core.fill_wait_ms = svc->cluster.fill_wait_ms;
    for (uint32_t i = 0; i < e->count; i++) snprintf(nc.endpoint[i], sizeof nc.endpoint[i], "%s", e->endpoint[i]);
    nc.on_commit = on_commit;
    nc.snapshot = on_snapshot;
    nc.snapshot_seal = cs_snapshot_seal;
    nc.seal = on_seal;
    nc.seal_overhead_bytes = CS_BATCH_HEADER_BYTES + CS_SIGNATURE_BYTES;
    nc.restore = on_restore;
    nc.snapshot_every = svc->cluster.snapshot_every;
    nc.arg = svc;
    nc.equivocate = svc->equivocate;
    nc.tick = on_tick;
    nc.pointer = epochs_pointer;
    nc.pointed = epochs_pointed;
    *out = nc;
    explicit_bzero(nc.core.private_key, sizeof nc.core.private_key);
    return 0;
}

int service_start_lingering(struct config_service *svc, struct cohort_error *err)
{
    assert(svc->lingering == NULL && svc->left.self >= 0);
    struct bft_node_config nc;
    int rc = node_config(svc, &svc->left, &nc, err);
    struct stat st;
    if (rc == 0 && stat(nc.wal_path, &st) == 0) {
        rc = bft_node_start(&nc, &svc->lingering, err);
        if (rc < 0) svc->lingering = NULL;
        else
            log_info("config store: this removed member's node of its last epoch lingers, applying nothing, for the "
                     "members still there",
                     "epoch=%u member=%d", svc->left.number, svc->left.self);
    }
    explicit_bzero(nc.core.private_key, sizeof nc.core.private_key);
    return rc < 0 ? cohort_error_wrap(err, "config store: the lingering node of epoch %u", svc->left.number) : 0;
}

int service_start_node(struct config_service *svc, struct cohort_error *err)
{
    const struct epoch *e = &svc->epoch;
    assert(e->self >= 0 && svc->node == NULL);
    struct bft_node_config nc;
    int rc = node_config(svc, e, &nc, err);
    if (rc < 0) return rc;
    /* Signed in this epoch's log before (the mark) and the WAL is gone: rejoin, signing
       nothing until then. A member that joins an epoch it never ran has no mark for it. */
    pthread_mutex_lock(&svc->lock);
    memset(&svc->rejoin, 0, sizeof svc->rejoin);
    epochs_mark_path(svc, e->number, svc->rejoin.mark, sizeof svc->rejoin.mark);
    pthread_mutex_unlock(&svc->lock);
    struct stat st;
    bool wal_gone = stat(nc.wal_path, &st) != 0 && errno == ENOENT;
    if (e->count > 1 && wal_gone && stat(svc->rejoin.mark, &st) == 0) {
        if (getrandom(svc->rejoin.nonce, 32, 0) != 32)
            return cohort_error_errno(err, COMMON_E_IO, DOMAIN, errno, "config store: no randomness to rejoin with");
        svc->rejoin.active = svc->rejoin.waiting = true;
        nc.core.vote_from = UINT64_MAX;
        log_warn("config store: this member's WAL is gone but it signed in the cluster's log before: it follows the "
                 "log without signing until a block carries its rejoin entry",
                 "member=%d epoch=%u wal=%s", e->self, e->number, nc.wal_path);
    }
    rc = bft_node_start(&nc, &svc->node, err);
    explicit_bzero(nc.core.private_key, sizeof nc.core.private_key);
    if (rc < 0) {
        svc->node = NULL;
        return cohort_error_wrap(err, "config store");
    }
    if (svc->rejoin.waiting) rejoin_submit(svc);
    else if (e->count > 1 && stat(svc->rejoin.mark, &st) != 0) rejoin_mark(svc);
    log_info("config store joined the cluster", "member=%d of=%u epoch=%u endpoint=%s revision=%llu", e->self,
             (unsigned)e->count, e->number, e->endpoint[e->self], (unsigned long long)cs_store_revision(svc->store));
    return 0;
}

int config_service_start(const struct config_service_options *o, struct config_service **out, struct cohort_error *err)
{
    *out = NULL;
    uint8_t address[20];
    if (secp_address_from_secret(o->private_key, address, err) < 0) return cohort_error_wrap(err, "config store key");
    if (strlen(o->state_dir) >= sizeof ((struct config_service *)0)->state_dir)
        return cohort_error_set(err, COMMON_E_RANGE, DOMAIN, "config store: state dir %s is too long", o->state_dir);
    struct config_service *svc = calloc(1, sizeof *svc);
    if (svc == NULL) return cohort_error_set(err, COMMON_E_NOMEM, DOMAIN, "config store: out of memory");
    svc->cluster = *o->cluster;
    memcpy(svc->address, address, 20);
    memcpy(svc->key, o->private_key, 32);
    snprintf(svc->state_dir, sizeof svc->state_dir, "%s", o->state_dir);
    svc->equivocate = o->equivocate;
    svc->commit_timeout_ms = o->commit_timeout_ms ? o->commit_timeout_ms : 15000;
    pthread_mutex_init(&svc->lock, NULL);
    pthread_rwlock_init(&svc->node_lock, NULL);
    pthread_cond_init(&svc->changed, NULL);
    pthread_cond_init(&svc->epoch_cond, NULL);
    for (size_t i = 0; i < WAITERS_MAX; i++) pthread_cond_init(&svc->waiters[i].cond, NULL);
    svc->store = cs_store_create(o->cluster->instance, (const uint8_t(*)[20])o->cluster->address, o->cluster->count,
                                 (const uint8_t(*)[20])o->cluster->admin, o->cluster->nadmins, err);
    if (svc->store == NULL) {
        config_service_stop(svc);
        return cohort_error_wrap(err, "config store");
    }
    char dir[1100];
    snprintf(dir, sizeof dir, "%s/config", o->state_dir);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        config_service_stop(svc);
        return cohort_error_errno(err, COMMON_E_IO, DOMAIN, errno, "config store: cannot make %s", dir);
    }
    int rc = epochs_load(svc, err);
    if (rc < 0) {
        config_service_stop(svc);
        return cohort_error_wrap(err, "config store");
    }
    if (svc->epoch.self < 0 && svc->epoch.number == 0) {
        char text[43];
        hex_encode(address, 20, text, sizeof text);
        config_service_stop(svc);
        return cohort_error_set(err, COMMON_E_INVALID, DOMAIN,
                                "config store: this node's key (address %s) is not a member in the cluster file; "
                                "add it there, give the right --keystore, or join a running cluster with "
                                "`cohort cluster join` and the members document an admin made",
                                text);
    }
    if (svc->epoch.self < 0) {
        log_warn("config store: this node is no member of the cluster's current epoch (an admin removed it); it "
                 "keeps its copy of the store but orders nothing",
                 "epoch=%u", svc->epoch.number);
        if (svc->left.self >= 0 && (rc = service_start_lingering(svc, err)) < 0) {
            config_service_stop(svc);
            return rc;
        }
    } else if ((rc = service_start_node(svc, err)) < 0) {
        config_service_stop(svc);
        return rc;
    }
    if ((rc = epochs_thread_start(svc, err)) < 0) {
        config_service_stop(svc);
        return rc;
    }
    *out = svc;
    return 0;
}

void config_service_quiesce(struct config_service *svc)
{
    if (svc == NULL) return;
    pthread_mutex_lock(&svc->lock);
    svc->stopping = true;
    for (size_t i = 0; i < WAITERS_MAX; i++) pthread_cond_broadcast(&svc->waiters[i].cond);
    pthread_cond_broadcast(&svc->changed);
    pthread_mutex_unlock(&svc->lock);
}

void config_service_stop(struct config_service *svc)
{
    if (svc == NULL) return;
    config_service_quiesce(svc);
    epochs_thread_stop(svc); /* no switch runs from here on */
    bft_node_stop(svc->node); /* after this no commit callback runs */
    svc->node = NULL;
    bft_node_stop(svc->lingering);
    svc->lingering = NULL;
    /* API threads still waiting see stopping and leave; http_stop ran before us and waited
       for them, so nobody uses a waiter now. */
    for (size_t i = 0; i < WAITERS_MAX; i++) {
        kv_copy_free(svc->waiters[i].kvs);
        pthread_cond_destroy(&svc->waiters[i].cond);
    }
    epochs_free(svc);
    cs_store_destroy(svc->store);
    pthread_cond_destroy(&svc->epoch_cond);
    pthread_cond_destroy(&svc->changed);
    pthread_rwlock_destroy(&svc->node_lock);
    pthread_mutex_destroy(&svc->lock);
    explicit_bzero(svc->key, sizeof svc->key);
    free(svc);
}

/* ---- The API ---- */

static void answer(struct http_response *out, unsigned status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void answer(struct http_response *out, unsigned status, const char *fmt, ...)
{
    char message[COHORT_ERROR_MESSAGE_MAX + 64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "error", message);
    out->status = status;
    out->body = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
}

static int64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void deadline_after(struct timespec *ts, int64_t ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (ms % 1000) * 1000000;
    if (ts->tv_nsec >= 1000000000) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000;
    }
}

static unsigned http_status_of(int status)
{
    switch (status) {
    case CS_OK:
    case CS_E_DUPLICATE: return 200;
    case CS_E_UNAUTHORIZED: return 403;
    case CS_E_FULL: return 507;
    case CS_E_RANGE: return 413;
    default: return 400;
    }
}

/* The running node's status, for API threads: false (and *s zeroed) when no node runs here
   (this node is no member of the current epoch, or the epoch's node is starting). */
static bool node_status(struct config_service *svc, struct bft_node_status *s)
{
    pthread_rwlock_rdlock(&svc->node_lock);
    bool have = svc->node != NULL;
    if (have) bft_node_get_status(svc->node, s);
    else memset(s, 0, sizeof *s);
    pthread_rwlock_unlock(&svc->node_lock);
    return have;
}

static int node_submit(struct config_service *svc, const uint8_t *bytes, size_t len, bool unsealed,
                       struct cohort_error *err)
{
    pthread_rwlock_rdlock(&svc->node_lock);
    int rc = svc->node == NULL ? cohort_error_set(err, BFT_E_INVALID, DOMAIN, "no node of the current epoch runs here")
             : unsealed        ? bft_node_submit_unsealed(svc->node, bytes, len, err)
                               : bft_node_submit(svc->node, bytes, len, err);
    pthread_rwlock_unlock(&svc->node_lock);
    return rc;
}

/*
 * Submits the encoded request and waits for its result; fills out. The request is
 * resubmitted while it is not committed (a proposal that did not commit drops its entries;
 * the store ignores a second copy by id).
 */
static void submit_and_wait(struct config_service *svc, const uint8_t *bytes, size_t len, const struct cs_request *req,
                            bool unsealed, struct http_response *out)
{
    pthread_mutex_lock(&svc->lock);
    struct waiter *w = NULL;
    for (size_t i = 0; i < WAITERS_MAX && w == NULL && !svc->stopping; i++)
        if (!svc->waiters[i].used) w = &svc->waiters[i];
    if (w == NULL) {
        pthread_mutex_unlock(&svc->lock);
        answer(out, 503, svc->stopping ? "cohort-core is stopping" : "%d requests in flight: retry shortly", WAITERS_MAX);
        return;
    }
    w->used = true;
    w->done = false;
    w->kvs = NULL;
    if ((size_t)(w - svc->waiters) + 1 > svc->waiters_seen) svc->waiters_seen = (size_t)(w - svc->waiters) + 1;
    memcpy(w->id, req->id, CS_ID_BYTES);
    w->nops[0] = req->nsuccess;
    w->nops[1] = req->nfailure;
    pthread_mutex_unlock(&svc->lock);

    int64_t start = monotonic_ms(), deadline = start + svc->commit_timeout_ms;
    int64_t resubmit_every = 10 * (int64_t)svc->cluster.timeout_ms;
    int64_t next_submit = start;
    struct cohort_error err = {0};
    pthread_mutex_lock(&svc->lock);
    uint64_t epoch_starts = svc->epoch_starts;
    bool member = true;
    while (!w->done && !svc->stopping) {
        int64_t now = monotonic_ms();
        if (now >= deadline) break;
        if (svc->epoch_starts != epoch_starts) { /* a new epoch's node: the old one dropped what it had */
            epoch_starts = svc->epoch_starts;
            next_submit = now;
        }
        if (now >= next_submit) {
            pthread_mutex_unlock(&svc->lock);
            int rc = node_submit(svc, bytes, len, unsealed, &err);
            pthread_mutex_lock(&svc->lock);
            if (rc == BFT_E_RANGE) break;
            if (rc == BFT_E_INVALID && svc->epoch.self < 0) {
                member = false;
                break;
            }
            next_submit = now + (rc == BFT_E_FULL || rc == BFT_E_INVALID ? 50 : resubmit_every);
        }
        int64_t until = next_submit < deadline ? next_submit : deadline;
        struct timespec ts;
        deadline_after(&ts, until - monotonic_ms() > 0 ? until - monotonic_ms() : 1);
        if (!w->done && !svc->stopping) pthread_cond_timedwait(&w->cond, &svc->lock, &ts);
    }
    bool to_answer = false;
    struct cs_result result;
    struct kv_copy *kvs = NULL;
    uint8_t nops[2];
    if (w->done) { /* answered below, outside the lock */
        out->status = http_status_of(w->status);
        to_answer = true;
        result = w->result;
        kvs = w->kvs;
        w->kvs = NULL;
        memcpy(nops, w->nops, sizeof nops);
    } else if (svc->stopping) {
        answer(out, 503, "cohort-core is stopping; the request may still be committed by the cluster");
    } else if (!member) {
        answer(out, 503, "this node is no member of the cluster since epoch %u (an admin removed it): ask a member",
               svc->epoch.number);
    } else if (err.code == BFT_E_RANGE) {
        answer(out, 413, "the request does not fit in a block: %s", err.message);
    } else {
        answer(out, 504,
               "not committed within %u ms (is a quorum of the cluster up? see /api/v1/config/status); "
               "it may still be committed: read before retrying",
               svc->commit_timeout_ms);
    }
    w->used = false;
    pthread_mutex_unlock(&svc->lock);
    if (to_answer) out->body = result_json(&result, nops, kvs);
    kv_copy_free(kvs);
}

static const char *string_of(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static bool bool_of(const cJSON *o, const char *name)
{
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, name));
}

/* Reads one operation; returns NULL or a message saying what is wrong. */
static const char *parse_op(const cJSON *j, struct cs_op *op)
{
    memset(op, 0, sizeof *op);
    const char *kind = string_of(j, "op"), *key = string_of(j, "key"), *value = string_of(j, "value");
    if (kind == NULL) return "an operation needs \"op\": put, delete or range";
    if (key == NULL || key[0] == '\0') return "an operation needs a non-empty \"key\"";
    if (strlen(key) > CS_KEY_MAX) return "a key is longer than 512 bytes";
    op->key = (const uint8_t *)key;
    op->key_len = (uint16_t)strlen(key);
    op->prefix = bool_of(j, "prefix");
    if (strcmp(kind, "put") == 0) {
        if (value == NULL) return "a put needs a string \"value\"";
        if (strlen(value) > CS_VALUE_MAX) return "a value is longer than 65536 bytes";
        if (op->prefix) return "a put has no \"prefix\"";
        op->type = CS_OP_PUT;
        op->value = (const uint8_t *)value;
        op->value_len = (uint32_t)strlen(value);
    } else if (strcmp(kind, "delete") == 0) {
        op->type = CS_OP_DELETE;
    } else if (strcmp(kind, "range") == 0) {
        op->type = CS_OP_RANGE;
    } else {
        return "\"op\" must be put, delete or range";
    }
    return NULL;
}

static const char *parse_compare(const cJSON *j, struct cs_compare *c)
{
    memset(c, 0, sizeof *c);
    const char *key = string_of(j, "key"), *target = string_of(j, "target"), *result = string_of(j, "result");
    if (key == NULL || key[0] == '\0' || strlen(key) > CS_KEY_MAX) return "a compare needs a \"key\" of 1 to 512 bytes";
    c->key = (const uint8_t *)key;
    c->key_len = (uint16_t)strlen(key);
    if (target == NULL) return "a compare needs \"target\": value, mod_revision, create_revision or version";
    if (strcmp(target, "value") == 0) c->target = CS_TARGET_VALUE;
    else if (strcmp(target, "mod_revision") == 0) c->target = CS_TARGET_MOD_REVISION;
    else if (strcmp(target, "create_revision") == 0) c->target = CS_TARGET_CREATE_REVISION;
    else if (strcmp(target, "version") == 0) c->target = CS_TARGET_VERSION;
    else return "\"target\" must be value, mod_revision, create_revision or version";
    if (result == NULL) return "a compare needs \"result\": =, !=, < or >";
    if (strcmp(result, "=") == 0) c->result = CS_CMP_EQUAL;
    else if (strcmp(result, "!=") == 0) c->result = CS_CMP_NOT_EQUAL;
    else if (strcmp(result, "<") == 0) c->result = CS_CMP_LESS;
    else if (strcmp(result, ">") == 0) c->result = CS_CMP_GREATER;
    else return "\"result\" must be =, !=, < or >";
    if (c->target == CS_TARGET_VALUE) {
        const char *value = string_of(j, "value");
        if (value == NULL) return "a compare on value needs a string \"value\"";
        if (strlen(value) > CS_VALUE_MAX) return "a value is longer than 65536 bytes";
        c->value = (const uint8_t *)value;
        c->value_len = (uint32_t)strlen(value);
    } else {
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(j, "number");
        if (!cJSON_IsNumber(n) || n->valuedouble < 0 || n->valuedouble > 9007199254740992.0 ||
            n->valuedouble != (double)(uint64_t)n->valuedouble)
            return "a compare on a revision or version needs a whole \"number\"";
        c->number = (uint64_t)n->valuedouble;
    }
    return NULL;
}

static const char *parse_list(const cJSON *root, const char *name, struct cs_op *ops, uint8_t *n)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(root, name);
    *n = 0;
    if (a == NULL) return NULL;
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) > CS_TXN_OPS_MAX) return "success and failure are arrays of at most 16 operations";
    const cJSON *j;
    cJSON_ArrayForEach(j, a)
    {
        const char *why = parse_op(j, &ops[*n]);
        if (why) return why;
        (*n)++;
    }
    return NULL;
}

/* Encodes req with a fresh id and this member's key, then submits it. */
static void sign_and_submit(struct config_service *svc, struct cs_request *req, struct http_response *out)
{
    req->instance = svc->cluster.instance;
    if (getrandom(req->id, CS_ID_BYTES, 0) != CS_ID_BYTES) {
        answer(out, 500, "getrandom failed: %s", strerror(errno));
        return;
    }
    uint8_t *bytes = malloc(CS_REQUEST_MAX);
    size_t len = 0;
    struct cohort_error err = {0};
    if (bytes == NULL) {
        answer(out, 500, "out of memory");
        return;
    }
    /* Unsigned here: the BFT node seals it with the requests queued beside it into one batch
       this member signs once (on_seal). */
    if (cs_request_encode(req, NULL, bytes, CS_REQUEST_MAX, &len, &err) < 0)
        answer(out, err.code == CS_E_RANGE ? 413 : 400, "%s", err.message);
    else submit_and_wait(svc, bytes, len, req, true, out);
    free(bytes);
}

/* The JSON object a POST handler takes, or NULL with the answer made (405, or 400 saying what is expected). */
static cJSON *post_body(const char *method, const char *body, size_t len, const char *expected,
                        struct http_response *out)
{
    if (strcmp(method, "POST") != 0) {
        answer(out, 405, "use POST");
        return NULL;
    }
    cJSON *root = cJSON_ParseWithLength(body, len);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        answer(out, 400, "%s", expected);
        return NULL;
    }
    return root;
}

/*
 * Whether the running node may serve clients (docs/cohort-core.md "Readiness"): not while
 * it is more than READY_BEHIND_MAX heights behind the cluster, nor just after it started,
 * until f+1 others have told it where they are (the TIP their links open with, or a vote):
 * until then it cannot know whether it is behind. False with why filled when not ready.
 */
static bool ready(const struct bft_node_status *s, char *why, size_t size)
{
    uint32_t n = s->core.peers_heard;
    if (!s->core.behind_known)
        snprintf(why, size, "started, and heard from %u other member%s so far, too few to tell whether it is caught up",
                 n, n == 1 ? "" : "s");
    else if (s->core.behind > READY_BEHIND_MAX)
        snprintf(why, size, "catching up, %llu heights behind the cluster", (unsigned long long)s->core.behind);
    else return true;
    return false;
}

/*
 * A member far behind the others (restarted, or back from a partition) would hold its
 * clients until it has caught up, seconds with thousands of blocks to fetch: it answers
 * at once instead, 503, so they go to another member. Just after a start it waits up to
 * READY_WAIT_MS for its peers' links to say where they are.
 */
static bool refuse_if_behind(struct config_service *svc, struct http_response *out)
{
    struct bft_node_status s;
    char why[160];
    for (int waited = 0;; waited += 5) {
        if (!node_status(svc, &s)) {
            pthread_mutex_lock(&svc->lock);
            int self = svc->epoch.self;
            uint32_t number = svc->epoch.number;
            pthread_mutex_unlock(&svc->lock);
            if (self < 0)
                answer(out, 503, "this node is no member of the cluster since epoch %u (an admin removed it): ask a member",
                       number);
            else
                answer(out, 503, "this member is starting the node of the cluster's epoch %u: retry shortly", number);
            return true;
        }
        if (ready(&s, why, sizeof why)) return false;
        if (s.core.behind_known || waited >= READY_WAIT_MS) break;
        usleep(5000);
    }
    answer(out, 503, "this member is %s: ask another member, or retry shortly", why);
    return true;
}

void config_api_txn(void *ctx, const char *method, const char *body, size_t len, struct http_response *out)
{
    struct config_service *svc = ctx;
    if (strcmp(method, "POST") == 0 && refuse_if_behind(svc, out)) return;
    cJSON *root = post_body(method, body, len, "the body must be a JSON object", out);
    if (root == NULL) return;
    struct cs_request *req = calloc(1, sizeof *req);
    const char *why = NULL;
    const char *signed_hex = string_of(root, "signed");
    if (req == NULL) {
        why = "out of memory";
    } else if (signed_hex) {
        /* A request a client signed (an admin key): pass it on as it is, after checking it. */
        size_t n = strlen(signed_hex) / 2 + 1, got = 0;
        uint8_t *bytes = n <= CS_REQUEST_MAX + 1 ? malloc(n) : NULL;
        struct cohort_error err = {0};
        uint8_t signer[20];
        if (bytes == NULL) {
            answer(out, 413, "a signed request is at most %u bytes", CS_REQUEST_MAX);
        } else if (hex_decode(signed_hex, bytes, n, &got, &err) < 0 || cs_request_decode(bytes, got, req, &err) < 0 ||
                   cs_request_signer(req, signer, &err) < 0) {
            answer(out, 400, "signed: %s", err.message);
        } else if (req->instance != svc->cluster.instance) {
            answer(out, 400, "signed: the request is for cluster instance %llu, this is %llu",
                   (unsigned long long)req->instance, (unsigned long long)svc->cluster.instance);
        } else {
            submit_and_wait(svc, bytes, got, req, false, out);
        }
        free(bytes);
        free(req);
        cJSON_Delete(root);
        return;
    } else {
        const cJSON *compares = cJSON_GetObjectItemCaseSensitive(root, "compare");
        if (compares && (!cJSON_IsArray(compares) || cJSON_GetArraySize(compares) > CS_TXN_OPS_MAX)) {
            why = "compare is an array of at most 16 compares";
        } else if (compares) {
            const cJSON *j;
            cJSON_ArrayForEach(j, compares)
            {
                if ((why = parse_compare(j, &req->compare[req->ncompare])) != NULL) break;
                req->ncompare++;
            }
        }
        if (why == NULL) why = parse_list(root, "success", req->success, &req->nsuccess);
        if (why == NULL) why = parse_list(root, "failure", req->failure, &req->nfailure);
        if (why == NULL && req->nsuccess + req->nfailure == 0) why = "a transaction needs at least one operation";
    }
    if (why) answer(out, 400, "%s", why);
    else sign_and_submit(svc, req, out);
    free(req);
    cJSON_Delete(root); /* after the submit: the request points into it */
}

static void on_range_kv(void *arg, const struct cs_kv *kv)
{
    kv_copy_add(arg, kv, 0);
}

void config_api_range(void *ctx, const char *method, const char *body, size_t len, struct http_response *out)
{
    struct config_service *svc = ctx;
    if (strcmp(method, "POST") != 0) {
        answer(out, 405, "use POST");
        return;
    }
    if (refuse_if_behind(svc, out)) return;
    cJSON *root = cJSON_ParseWithLength(body, len);
    const char *key = root ? string_of(root, "key") : NULL;
    if (!cJSON_IsObject(root) || key == NULL || key[0] == '\0' || strlen(key) > CS_KEY_MAX) {
        cJSON_Delete(root);
        answer(out, 400, "the body must be {\"key\": \"...\"} with a key of 1 to 512 bytes");
        return;
    }
    bool prefix = bool_of(root, "prefix");
    const cJSON *limit = cJSON_GetObjectItemCaseSensitive(root, "limit");
    size_t max = cJSON_IsNumber(limit) && limit->valuedouble >= 1 ? (size_t)limit->valuedouble : RANGE_LIMIT_DEFAULT;
    if (max > ANSWER_KEYS_MAX) max = ANSWER_KEYS_MAX;
    if (bool_of(root, "serializable")) {
        /* The local copy: fast, and possibly behind what the cluster has committed. One key
           more than asked for tells whether there is more. */
        struct kv_copy copy = {0};
        pthread_mutex_lock(&svc->lock);
        uint64_t revision = cs_store_revision(svc->store);
        size_t found = cs_store_range(svc->store, (const uint8_t *)key, strlen(key), prefix, max + 1, on_range_kv, &copy);
        pthread_mutex_unlock(&svc->lock);
        kv_copy_done(&copy);
        bool more = copy.cut || found > max;
        if (copy.count > max) copy.count = max;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "revision", (double)revision);
        cJSON *responses = cJSON_AddArrayToObject(o, "responses"), *resp = cJSON_CreateObject();
        cJSON *kvs = cJSON_AddArrayToObject(resp, "kvs");
        for (size_t i = 0; i < copy.count; i++) cJSON_AddItemToArray(kvs, kv_json(&copy.kv[i]));
        if (more) cJSON_AddTrueToObject(resp, "more");
        cJSON_AddItemToArray(responses, resp);
        out->body = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        kv_copy_release(&copy);
    } else {
        /* Through the log: a read-only transaction, answered where it is ordered. */
        struct cs_request req;
        memset(&req, 0, sizeof req);
        req.nsuccess = 1;
        req.success[0] = (struct cs_op){.type = CS_OP_RANGE, .prefix = prefix, .key = (const uint8_t *)key,
                                        .key_len = (uint16_t)strlen(key)};
        sign_and_submit(svc, &req, out);
    }
    cJSON_Delete(root);
}

static void on_event(void *arg, const struct cs_event *e)
{
    kv_copy_add(arg, &e->kv, e->type);
}

void config_api_watch(void *ctx, const char *method, const char *body, size_t len, struct http_response *out)
{
    struct config_service *svc = ctx;
    cJSON *root =
        post_body(method, body, len, "the body must be a JSON object: {\"prefix\": \"\", \"from_revision\": N}", out);
    if (root == NULL) return;
    const char *prefix = string_of(root, "prefix");
    if (prefix == NULL) prefix = "";
    const cJSON *from = cJSON_GetObjectItemCaseSensitive(root, "from_revision");
    const cJSON *timeout = cJSON_GetObjectItemCaseSensitive(root, "timeout_ms");
    const cJSON *limit = cJSON_GetObjectItemCaseSensitive(root, "limit");
    int64_t wait_ms = cJSON_IsNumber(timeout) && timeout->valuedouble >= 0 ? (int64_t)timeout->valuedouble : 10000;
    if (wait_ms > WATCH_TIMEOUT_MAX_MS) wait_ms = WATCH_TIMEOUT_MAX_MS;
    size_t max = cJSON_IsNumber(limit) && limit->valuedouble >= 1 ? (size_t)limit->valuedouble : WATCH_LIMIT_DEFAULT;
    if (max > ANSWER_KEYS_MAX) max = ANSWER_KEYS_MAX;
    int64_t deadline = monotonic_ms() + wait_ms;

    /* The events are copied under the lock (within the caps, cut between revisions) and
       turned into JSON after it. */
    struct kv_copy copy = {0};
    uint64_t next = 0, revision = 0;
    int n;
    struct cohort_error err = {0};
    pthread_mutex_lock(&svc->lock);
    uint64_t start = cJSON_IsNumber(from) && from->valuedouble >= 1 ? (uint64_t)from->valuedouble
                                                                     : cs_store_revision(svc->store) + 1;
    for (;;) {
        next = start;
        n = cs_store_watch(svc->store, start, (const uint8_t *)prefix, strlen(prefix), max, on_event, &copy, &next, &err);
        int64_t left = deadline - monotonic_ms();
        revision = cs_store_revision(svc->store);
        if (n != 0 || left <= 0 || svc->stopping) break;
        struct timespec ts;
        deadline_after(&ts, left);
        pthread_cond_timedwait(&svc->changed, &svc->lock, &ts);
    }
    pthread_mutex_unlock(&svc->lock);
    kv_copy_done(&copy);
    if (n < 0) {
        answer(out, n == CS_E_COMPACTED ? 410 : 400, "%s", err.message);
    } else {
        if (copy.cut) next = copy.cut_revision; /* the rest from the first revision left out */
        cJSON *o = cJSON_CreateObject(), *events = cJSON_AddArrayToObject(o, "events");
        for (size_t i = 0; i < copy.count; i++) {
            cJSON *e = kv_json(&copy.kv[i]);
            cJSON_AddStringToObject(e, "type", copy.type[i] == CS_OP_PUT ? "put" : "delete");
            cJSON_AddItemToArray(events, e);
        }
        cJSON_AddNumberToObject(o, "next_revision", (double)next);
        cJSON_AddNumberToObject(o, "revision", (double)revision);
        if (copy.cut) cJSON_AddTrueToObject(o, "more");
        out->body = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
    }
    kv_copy_release(&copy);
    cJSON_Delete(root);
}

void config_api_status(void *ctx, const char *method, const char *body, size_t len, struct http_response *out)
{
    (void)body;
    (void)len;
    struct config_service *svc = ctx;
    if (strcmp(method, "GET") != 0) {
        answer(out, 405, "use GET");
        return;
    }
    struct bft_node_status s;
    bool running = node_status(svc, &s);
    uint8_t digest[32];
    char digest_hex[67], hash_hex[67];
    cJSON *o = cJSON_CreateObject();
    pthread_mutex_lock(&svc->lock);
    cs_store_digest(svc->store, digest);
    cJSON_AddNumberToObject(o, "instance", (double)svc->cluster.instance);
    cJSON_AddNumberToObject(o, "revision", (double)cs_store_revision(svc->store));
    cJSON_AddNumberToObject(o, "entries_applied", (double)svc->entries_applied);
    cJSON_AddNumberToObject(o, "entries_refused", (double)svc->entries_refused);
    cJSON_AddNumberToObject(o, "entries_dropped", (double)svc->entries_dropped); /* after a membership change */
    cJSON *ep = cJSON_AddObjectToObject(o, "epoch"); /* docs/cohort-core.md "Membership" */
    cJSON_AddNumberToObject(ep, "number", svc->epoch.number);
    char text[43];
    snprintf(text, sizeof text, "0x%016llx", (unsigned long long)svc->epoch.instance); /* past 2^53: not a JSON number */
    cJSON_AddStringToObject(ep, "bft_instance", text);
    cJSON_AddBoolToObject(ep, "member", svc->epoch.self >= 0);
    cJSON_AddBoolToObject(ep, "lingering", svc->lingering != NULL); /* removed: the old epoch's node still answers */
    cJSON_AddBoolToObject(ep, "running", running);
    cJSON *list = cJSON_AddArrayToObject(ep, "members");
    for (uint32_t i = 0; i < svc->epoch.count; i++) {
        cJSON *m = cJSON_CreateObject();
        hex_encode(svc->epoch.address[i], 20, text, sizeof text);
        cJSON_AddStringToObject(m, "address", text);
        cJSON_AddStringToObject(m, "endpoint", svc->epoch.endpoint[i]);
        cJSON_AddItemToArray(list, m);
    }
    cJSON_AddNumberToObject(ep, "switches", (double)svc->switches);
    cJSON_AddNumberToObject(ep, "switches_by_proof", (double)svc->switches_by_proof);
    if (svc->change.pending) cJSON_AddTrueToObject(ep, "switching");
    if (svc->switch_error[0]) cJSON_AddStringToObject(ep, "switch_error", svc->switch_error);
    uint32_t members = svc->epoch.count;
    pthread_mutex_unlock(&svc->lock);
    hex_encode(digest, 32, digest_hex, sizeof digest_hex);
    hex_encode(s.core.committed_hash, 32, hash_hex, sizeof hash_hex);
    cJSON_AddStringToObject(o, "digest", digest_hex);
    if (running) cJSON_AddNumberToObject(o, "self", s.self);
    cJSON_AddNumberToObject(o, "members", members);
    cJSON_AddNumberToObject(o, "leader", s.leader);
    cJSON_AddNumberToObject(o, "height", (double)s.core.height);
    cJSON_AddNumberToObject(o, "committed_index", (double)s.core.committed_index);
    cJSON_AddNumberToObject(o, "committed_height", (double)s.core.committed_height);
    cJSON_AddStringToObject(o, "committed_hash", hash_hex);
    cJSON_AddNumberToObject(o, "peers_connected", s.peers_connected);
    cJSON_AddNumberToObject(o, "messages_refused", (double)s.core.messages_refused);
    cJSON_AddNumberToObject(o, "equivocations_seen", (double)s.core.equivocations_seen);
    cJSON_AddBoolToObject(o, "stalled", s.core.stalled); /* no progress while peers are there: docs/bft.md "Stalls" */
    cJSON_AddNumberToObject(o, "waiting_ms", (double)s.core.waiting_ms);
    cJSON_AddNumberToObject(o, "frames_sent", (double)s.frames_sent);
    cJSON_AddNumberToObject(o, "frames_received", (double)s.frames_received);
    cJSON_AddNumberToObject(o, "frames_dropped", (double)s.frames_dropped);
    cJSON_AddNumberToObject(o, "links_refused", (double)s.links_refused);
    cJSON_AddNumberToObject(o, "snapshots", (double)s.snapshots);
    cJSON_AddNumberToObject(o, "snapshot_index", (double)s.snapshot_index);
    cJSON_AddNumberToObject(o, "compaction_us", (double)s.compaction_us);
    cJSON_AddNumberToObject(o, "compaction_swap_us", (double)s.compaction_swap_us);
    cJSON_AddNumberToObject(o, "first_index", (double)s.first_index);
    cJSON_AddNumberToObject(o, "wal_bytes", (double)s.wal_bytes);
    cJSON_AddNumberToObject(o, "sync_too_old", (double)s.sync_too_old);
    cJSON_AddNumberToObject(o, "snapshots_installed", (double)s.snapshots_installed); /* state transfers */
    cJSON_AddNumberToObject(o, "submits_pending", (double)s.submits_pending);
    cJSON_AddNumberToObject(o, "entries_already_committed", (double)s.entries_already_committed);
    cJSON_AddNumberToObject(o, "wal_syncs", (double)s.wal_syncs);
    cJSON_AddNumberToObject(o, "wal_sync_us", (double)s.wal_sync_us);
    cJSON_AddNumberToObject(o, "commits_delivered", (double)s.commits_delivered);
    cJSON_AddNumberToObject(o, "commit_wait_us", (double)s.commit_wait_us);
    cJSON_AddBoolToObject(o, "halted", s.halted); /* the WAL failed: this member no longer votes */
    if (s.halted) cJSON_AddStringToObject(o, "halt_reason", s.halt_reason);
    cJSON_AddNumberToObject(o, "behind", (double)s.core.behind);
    cJSON_AddNumberToObject(o, "peers_heard", s.core.peers_heard);
    char why[160];
    bool is_ready = running && !s.halted && ready(&s, why, sizeof why);
    cJSON_AddBoolToObject(o, "ready", is_ready);
    if (running && !s.halted && !is_ready) cJSON_AddStringToObject(o, "not_ready", why);
    pthread_mutex_lock(&svc->lock);
    if (svc->rejoin.active) { /* its WAL was lost: docs/cohort-core.md "Rejoining" */
        cJSON *r = cJSON_AddObjectToObject(o, "rejoin");
        cJSON_AddBoolToObject(r, "waiting", svc->rejoin.waiting);
        if (!svc->rejoin.waiting) cJSON_AddNumberToObject(r, "vote_from", (double)svc->rejoin.vote_from);
    }
    pthread_mutex_unlock(&svc->lock);
    if (s.proposals_equivocated) cJSON_AddNumberToObject(o, "proposals_equivocated", (double)s.proposals_equivocated);
    if (s.halted) out->status = 503; /* a load balancer or a probe sees it without reading the body */
    out->body = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
}

bool config_service_halted(struct config_service *svc, char *reason, size_t size)
{
    struct bft_node_status s;
    node_status(svc, &s);
    if (s.halted && reason != NULL && size > 0) snprintf(reason, size, "%s", s.halt_reason);
    return s.halted;
}

bool config_service_unready(struct config_service *svc, char *why, size_t size)
{
    struct bft_node_status s;
    return node_status(svc, &s) && !s.halted && !ready(&s, why, size);
}

uint64_t config_service_local_range(struct config_service *svc, const char *prefix, size_t max,
                                    void (*fn)(void *arg, const struct cs_kv *kv), void *arg)
{
    pthread_mutex_lock(&svc->lock);
    uint64_t revision = cs_store_revision(svc->store);
    cs_store_range(svc->store, (const uint8_t *)prefix, strlen(prefix), true, max, fn, arg);
    pthread_mutex_unlock(&svc->lock);
    return revision;
}

bool config_service_wait(struct config_service *svc, uint64_t after, int timeout_ms)
{
    int64_t deadline = monotonic_ms() + timeout_ms;
    pthread_mutex_lock(&svc->lock);
    while (!svc->stopping && cs_store_revision(svc->store) <= after) {
        int64_t left = deadline - monotonic_ms();
        if (left <= 0) break;
        struct timespec ts;
        deadline_after(&ts, left);
        pthread_cond_timedwait(&svc->changed, &svc->lock, &ts);
    }
    bool stopping = svc->stopping;
    pthread_mutex_unlock(&svc->lock);
    return !stopping;
}
