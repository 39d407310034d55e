/*
 * epochs.c - the epochs of the cluster's membership (docs/cohort-core.md "Membership",
 * docs/bft.md "Membership changes"): which epoch runs at start, how a change ends one
 * epoch and starts the next, and the change proofs this member gives the peers that are
 * still in an older one.
 *
 * On disk, under STATE_DIR/config/: epoch 0 (the cluster file's members) keeps its WAL in
 * bft.wal; epoch N >= 1 has a folder epoch-N/ with
 *   members  the admin-signed members document that started it (written last: a folder
 *            without it is a switch that did not finish, which the replay of the older
 *            epoch's WAL makes again);
 *   change   the proof that ended epoch N - 1: its BFT instance (u64 big-endian) and the
 *            change block's commit (bft_commit_encode), for peers still in N - 1;
 *   bft.wal  epoch N's WAL, seeded with the store's snapshot at the change (a member that
 *            learned of the change from another has none at first: it fetches the state).
 * The newest epoch with a members document runs; the WAL of the one before is removed once
 * the next one's document is down, unless the change removed this member: then the old
 * epoch's node lingers on it (docs/bft.md "The removed member lingers").
 */
#include "config/service_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/hex.h"
#include "common/log.h"

#define DOMAIN "core"
#define RETRY_MS 1000

int epochs_wal_path(const struct config_service *svc, uint32_t number, char *out, size_t size)
{
    int n = number == 0 ? snprintf(out, size, "%s/config/bft.wal", svc->state_dir)
                        : snprintf(out, size, "%s/config/epoch-%u/bft.wal", svc->state_dir, number);
    return n < 0 || (size_t)n >= size ? -1 : 0;
}

void epochs_mark_path(const struct config_service *svc, uint32_t number, char *out, size_t size)
{
    if (number == 0) snprintf(out, size, "%s/config-store.joined", svc->state_dir);
    else snprintf(out, size, "%s/config-store.joined-%u", svc->state_dir, number);
}

static void epoch_from_cluster(const struct config_service *svc, struct epoch *out)
{
    memset(out, 0, sizeof *out);
    out->instance = svc->cluster.instance;
    out->count = svc->cluster.count;
    memcpy(out->address, svc->cluster.address, sizeof out->address);
    memcpy(out->endpoint, svc->cluster.endpoint, sizeof out->endpoint);
    out->self = cluster_member_index(&svc->cluster, svc->address);
}

/* A members document this cluster's admins signed, for epoch `number`, as the epoch it starts. */
static int epoch_from_doc(const struct config_service *svc, const uint8_t *bytes, size_t len, uint32_t number,
                          struct epoch *out, struct cs_members_doc *doc, struct cohort_error *err)
{
    int rc = cs_members_decode(bytes, len, doc, err);
    if (rc == 0) rc = cs_members_check_cluster(doc, &svc->cluster, err);
    if (rc < 0) return rc;
    if (number != 0 && doc->epoch != number)
        return cohort_error_set(err, CS_E_INVALID, DOMAIN, "members document: for epoch %u, expected %u", doc->epoch,
                                number);
    memset(out, 0, sizeof *out);
    out->number = doc->epoch;
    out->instance = cs_epoch_instance(svc->cluster.instance, doc->hash);
    out->count = doc->count;
    memcpy(out->address, doc->address, sizeof out->address);
    memcpy(out->endpoint, doc->endpoint, sizeof out->endpoint);
    out->self = -1;
    for (uint32_t i = 0; i < doc->count; i++)
        if (memcmp(doc->address[i], svc->address, 20) == 0) out->self = (int)i;
    return 0;
}

/* Reads a whole small file (at most cap bytes). Returns 0, 1 when it does not exist, or an error. */
static int read_small(const char *path, uint8_t *buf, size_t cap, size_t *len, struct cohort_error *err)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) return 1;
        return cohort_error_errno(err, COMMON_E_IO, DOMAIN, errno, "cannot open %s", path);
    }
    size_t have = 0;
    for (;;) {
        ssize_t n = read(fd, buf + have, cap - have);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            int e = errno;
            close(fd);
            return cohort_error_errno(err, COMMON_E_IO, DOMAIN, e, "cannot read %s", path);
        }
        if (n == 0) break;
        have += (size_t)n;
        if (have == cap) {
            uint8_t extra;
            n = read(fd, &extra, 1);
            close(fd);
            if (n != 0) return cohort_error_set(err, COMMON_E_RANGE, DOMAIN, "%s: over %zu bytes", path, cap);
            *len = have;
            return 0;
        }
    }
    close(fd);
    *len = have;
    return 0;
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

/* Writes dir/name through a temporary file, synced, then renamed over it. */
static int write_atomic(const char *dir, const char *name, const uint8_t *head, size_t head_len, const uint8_t *bytes,
                        size_t len, struct cohort_error *err)
{
    char path[1200], tmp[1210];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    unlink(tmp);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) return cohort_error_errno(err, COMMON_E_IO, DOMAIN, errno, "cannot create %s", tmp);
    bool ok = (head_len == 0 || write(fd, head, head_len) == (ssize_t)head_len) &&
              write(fd, bytes, len) == (ssize_t)len && fsync(fd) == 0;
    int e = errno;
    close(fd);
    if (!ok || rename(tmp, path) != 0 || fsync_dir(dir) != 0) {
        if (ok) e = errno;
        unlink(tmp);
        return cohort_error_errno(err, COMMON_E_IO, DOMAIN, e, "cannot write %s (a full disk?)", path);
    }
    return 0;
}

/* Keeps a copy of a change proof for peers of the epoch of instance (under lock). */
static void keep_proof(struct config_service *svc, uint64_t instance, const uint8_t *bytes, size_t len)
{
    for (size_t i = 0; i < svc->nproofs; i++)
        if (svc->proofs[i].instance == instance) return;
    uint8_t *copy = malloc(len);
    if (copy == NULL) return;
    memcpy(copy, bytes, len);
    if (svc->nproofs == EPOCHS_KEPT) {
        free(svc->proofs[0].bytes);
        memmove(&svc->proofs[0], &svc->proofs[1], (EPOCHS_KEPT - 1) * sizeof svc->proofs[0]);
        svc->nproofs--;
    }
    svc->proofs[svc->nproofs++] = (struct change_proof){.instance = instance, .bytes = copy, .len = len};
}

int epochs_load(struct config_service *svc, struct cohort_error *err)
{
    epoch_from_cluster(svc, &svc->epoch);
    svc->left.self = -1;
    struct epoch before = svc->epoch; /* the newest epoch before the one that runs */
    char dir[1100];
    snprintf(dir, sizeof dir, "%s/config", svc->state_dir);
    DIR *d = opendir(dir);
    if (d == NULL) return errno == ENOENT ? 0 : cohort_error_errno(err, COMMON_E_IO, DOMAIN, errno, "cannot read %s", dir);
    size_t proof_cap = BFT_MESSAGE_MAX + 8;
    uint8_t *proof_buf = malloc(proof_cap);
    if (proof_buf == NULL) {
        closedir(d);
        return cohort_error_set(err, COMMON_E_NOMEM, DOMAIN, "config store: out of memory reading %s", dir);
    }
    int rc = 0;
    struct dirent *ent;
    while (rc == 0 && (ent = readdir(d)) != NULL) {
        unsigned number = 0;
        char tail = 0;
        if (sscanf(ent->d_name, "epoch-%u%c", &number, &tail) != 1 || number == 0) continue;
        char path[1300];
        uint8_t doc_bytes[CS_MEMBERS_DOC_MAX];
        size_t len = 0;
        snprintf(path, sizeof path, "%s/epoch-%u/members", dir, number);
        rc = read_small(path, doc_bytes, sizeof doc_bytes, &len, err);
        if (rc == 1) { /* a switch that did not finish: the older epoch's replay makes it again */
            rc = 0;
            continue;
        }
        struct epoch e;
        struct cs_members_doc doc;
        if (rc == 0 && (rc = epoch_from_doc(svc, doc_bytes, len, number, &e, &doc, err)) < 0)
            cohort_error_wrap(err, "%s (remove the folder %s/epoch-%u to follow the log from the epoch before)", path, dir,
                              number);
        if (rc < 0) break;
        if (e.number > svc->epoch.number) {
            before = svc->epoch;
            svc->epoch = e;
        } else if (e.number > before.number) {
            before = e;
        }
        snprintf(path, sizeof path, "%s/epoch-%u/change", dir, number);
        int prc = read_small(path, proof_buf, proof_cap, &len, err);
        if (prc == 0 && len > 8) {
            uint64_t instance = 0;
            for (int i = 0; i < 8; i++) instance = instance << 8 | proof_buf[i];
            keep_proof(svc, instance, proof_buf + 8, len - 8);
        } else if (prc < 0) {
            log_warn("config store: a change proof is not readable; peers of that epoch get it from another member",
                     "error=\"%s\"", err->message);
        }
    }
    closedir(d);
    free(proof_buf);
    /* Removed by the change that ended `before`: its node lingers (service_start_lingering, if
       its WAL is still there). */
    if (rc == 0 && svc->epoch.self < 0 && before.self >= 0 && before.number + 1 == svc->epoch.number)
        svc->left = before;
    return rc;
}

int config_join_epoch(const char *state_dir, const struct cluster *cluster, const uint8_t *bytes, size_t len,
                      struct cs_members_doc *doc, char *path, size_t path_size, struct cohort_error *err)
{
    int rc = cs_members_decode(bytes, len, doc, err);
    if (rc == 0) rc = cs_members_check_cluster(doc, cluster, err);
    if (rc < 0) return rc;
    char dir[1100];
    const char *levels[] = {"", "/config", NULL};
    for (int i = 0; i < 3; i++) {
        if (levels[i] != NULL) snprintf(dir, sizeof dir, "%s%s", state_dir, levels[i]);
        else snprintf(dir, sizeof dir, "%s/config/epoch-%u", state_dir, doc->epoch);
        if (mkdir(dir, 0700) != 0 && errno != EEXIST)
            return cohort_error_errno(err, COMMON_E_IO, DOMAIN, errno, "cannot make %s", dir);
    }
    if ((rc = write_atomic(dir, "members", NULL, 0, bytes, len, err)) < 0) return rc;
    snprintf(path, path_size, "%s/members", dir);
    return 0;
}

/* ---- Finding a change ---- */

struct doc_copy {
    uint8_t *doc;
    size_t len;
};

static void copy_doc(void *arg, const struct cs_kv *kv)
{
    struct doc_copy *c = arg;
    struct cohort_error err = {0};
    if (hex_decode_n((const char *)kv->value, kv->value_len, c->doc, CS_MEMBERS_DOC_MAX, &c->len, &err) < 0) c->len = 0;
}

static void signal_change(struct config_service *svc, const struct bft_commit *commit, bool from_pointer)
{
    uint8_t *proof = malloc(BFT_MESSAGE_MAX);
    size_t len = 0;
    struct cohort_error err = {0};
    if (proof == NULL || bft_commit_encode(commit, proof, BFT_MESSAGE_MAX, &len, &err) < 0) {
        log_error("config store: cannot keep the change block's proof", "error=\"%s\"", err.message);
        free(proof);
        proof = NULL;
        len = 0;
    }
    free(svc->change.proof);
    svc->change.proof = proof;
    svc->change.proof_len = len;
    svc->change.index = commit->block.header.index;
    svc->change.height = commit->block.header.height;
    memcpy(svc->change.hash, commit->hash, 32);
    svc->change.from_pointer = from_pointer;
    svc->change.pending = true;
    pthread_cond_signal(&svc->epoch_cond);
}

void epochs_on_block(struct config_service *svc, const struct bft_commit *commit)
{
    bool ended = false;
    uint32_t number = cs_store_epoch(svc->store, &ended);
    if (!ended || svc->change.pending || number != svc->epoch.number + 1) return;
    static const char key[] = CS_MEMBERS_KEY;
    struct doc_copy c = {.doc = svc->change.doc};
    cs_store_range(svc->store, (const uint8_t *)key, sizeof key - 1, false, 1, copy_doc, &c);
    if (c.len == 0) {
        log_error("config store: the store changed epoch but its members key does not decode", "epoch=%u", number);
        return;
    }
    svc->change.doc_len = c.len;
    signal_change(svc, commit, false);
    log_info("config store: a membership change committed; the next epoch starts after its block", "epoch=%u index=%llu",
             number, (unsigned long long)commit->block.header.index);
}

size_t epochs_pointer(void *arg, uint64_t instance, uint8_t *out, size_t cap)
{
    struct config_service *svc = arg;
    size_t n = 0;
    pthread_mutex_lock(&svc->lock);
    for (size_t i = 0; i < svc->nproofs; i++) {
        if (svc->proofs[i].instance != instance) continue;
        n = svc->proofs[i].len;
        if (n <= cap) memcpy(out, svc->proofs[i].bytes, n);
    }
    pthread_mutex_unlock(&svc->lock);
    return n;
}

/* One request: a plain put of a members document that changes the running epoch (config.h
   "Membership changes"); copies the document into svc->change.doc. */
static bool request_changes(struct config_service *svc, const uint8_t *bytes, size_t len, struct cs_request *req)
{
    static const char key[] = CS_MEMBERS_KEY;
    struct cohort_error err = {0};
    if (cs_request_decode(bytes, len, req, &err) < 0 || req->instance != svc->cluster.instance || req->ncompare != 0 ||
        req->nsuccess != 1 || req->success[0].type != CS_OP_PUT || req->success[0].key_len != sizeof key - 1 ||
        memcmp(req->success[0].key, key, sizeof key - 1) != 0)
        return false;
    size_t n = 0;
    if (hex_decode_n((const char *)req->success[0].value, req->success[0].value_len, svc->change.doc,
                     sizeof svc->change.doc, &n, &err) < 0)
        return false;
    struct epoch next;
    struct cs_members_doc doc;
    if (epoch_from_doc(svc, svc->change.doc, n, svc->epoch.number + 1, &next, &doc, &err) < 0 ||
        cs_members_check_change((const uint8_t(*)[20])svc->epoch.address, svc->epoch.count, &doc, &err) < 0)
        return false;
    svc->change.doc_len = n;
    return true;
}

/* The first change of the running epoch that the block's entries carry (single requests or batches). */
static bool block_changes(struct config_service *svc, const struct bft_block *block)
{
    struct cs_request *req = malloc(sizeof *req);
    if (req == NULL) return false;
    uint32_t off = 0, len = 0;
    const uint8_t *entry;
    bool found = false;
    while (!found && bft_payload_next(block->payload, block->payload_len, &off, &entry, &len, NULL) == 1) {
        if (len < CS_BATCH_HEADER_BYTES + CS_SIGNATURE_BYTES || memcmp(entry, CS_BATCH_MAGIC, 4) != 0) {
            found = request_changes(svc, entry, len, req);
            continue;
        }
        size_t count = (size_t)entry[12] << 8 | entry[13], pos = CS_BATCH_HEADER_BYTES, end = len - CS_SIGNATURE_BYTES;
        for (size_t i = 0; i < count && !found && end - pos >= 4; i++) {
            size_t n = (size_t)entry[pos] << 24 | (size_t)entry[pos + 1] << 16 | (size_t)entry[pos + 2] << 8 | entry[pos + 3];
            pos += 4;
            if (n > end - pos) break;
            found = request_changes(svc, entry + pos, n, req);
            pos += n;
        }
    }
    free(req);
    return found;
}

void epochs_pointed(void *arg, const struct bft_commit *commit)
{
    struct config_service *svc = arg;
    pthread_mutex_lock(&svc->lock);
    if (svc->epoch.self >= 0 && !svc->change.pending && block_changes(svc, &commit->block)) {
        signal_change(svc, commit, true);
        log_info("config store: the cluster changed its members while this member was away; it moves to the next "
                 "epoch and fetches the state there",
                 "epoch=%u index=%llu", svc->epoch.number + 1, (unsigned long long)commit->block.header.index);
    }
    pthread_mutex_unlock(&svc->lock);
}

/* ---- The switch ---- */

static void wake_waiters(struct config_service *svc)
{
    pthread_mutex_lock(&svc->lock);
    svc->epoch_starts++;
    for (size_t i = 0; i < WAITERS_MAX; i++) pthread_cond_broadcast(&svc->waiters[i].cond);
    pthread_cond_broadcast(&svc->changed);
    pthread_mutex_unlock(&svc->lock);
}

/* Ends the running epoch at the pending change and starts the next one (the epoch thread). */
static int switch_epoch(struct config_service *svc, struct cohort_error *err)
{
    uint8_t doc[CS_MEMBERS_DOC_MAX], *snapshot = NULL;
    size_t doc_len, snapshot_len = 0;
    pthread_mutex_lock(&svc->lock);
    bool from_pointer = svc->change.from_pointer;
    uint64_t index = svc->change.index, height = svc->change.height, old_instance = svc->epoch.instance;
    uint32_t old_number = svc->epoch.number;
    uint8_t hash[32];
    memcpy(hash, svc->change.hash, 32);
    memcpy(doc, svc->change.doc, svc->change.doc_len);
    doc_len = svc->change.doc_len;
    int rc = from_pointer ? 0 : cs_store_snapshot(svc->store, &snapshot, &snapshot_len, err);
    pthread_mutex_unlock(&svc->lock);
    if (rc < 0) return cohort_error_wrap(err, "config store: the snapshot a new epoch starts from");
    struct epoch next;
    struct cs_members_doc d;
    if ((rc = epoch_from_doc(svc, doc, doc_len, old_number + 1, &next, &d, err)) < 0) goto out;
    char dir[1100], wal[1100];
    snprintf(dir, sizeof dir, "%s/config/epoch-%u", svc->state_dir, next.number);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        rc = cohort_error_errno(err, COMMON_E_IO, DOMAIN, errno, "cannot make %s", dir);
        goto out;
    }
    if (epochs_wal_path(svc, next.number, wal, sizeof wal) < 0) {
        rc = cohort_error_set(err, COMMON_E_RANGE, DOMAIN, "config store: state dir %s is too long", svc->state_dir);
        goto out;
    }
    struct stat st;
    if (!from_pointer && stat(wal, &st) != 0) { /* seeded once: a WAL from an earlier try is whole (renamed) */
        char tmp[1110];
        snprintf(tmp, sizeof tmp, "%s.tmp", wal);
        unlink(tmp);
        if ((rc = bft_node_seed_wal(tmp, index, height, hash, snapshot, snapshot_len, err)) < 0) goto out;
        if (rename(tmp, wal) != 0 || fsync_dir(dir) != 0) {
            rc = cohort_error_errno(err, COMMON_E_IO, DOMAIN, errno, "cannot rename %s", tmp);
            unlink(tmp);
            goto out;
        }
    }
    pthread_mutex_lock(&svc->lock);
    uint8_t *proof = svc->change.proof;
    size_t proof_len = svc->change.proof_len;
    svc->change.proof = NULL;
    pthread_mutex_unlock(&svc->lock);
    uint8_t head[8];
    for (int i = 0; i < 8; i++) head[i] = (uint8_t)(old_instance >> (56 - 8 * i));
    if (proof != NULL) {
        rc = write_atomic(dir, "change", head, 8, proof, proof_len, err);
        if (rc == 0) {
            pthread_mutex_lock(&svc->lock);
            keep_proof(svc, old_instance, proof, proof_len);
            pthread_mutex_unlock(&svc->lock);
        }
        free(proof);
        if (rc < 0) goto out;
    }
    if ((rc = write_atomic(dir, "members", NULL, 0, doc, doc_len, err)) < 0) goto out;

    char old_wal[1100];
    int have_old = epochs_wal_path(svc, old_number, old_wal, sizeof old_wal);
    pthread_rwlock_wrlock(&svc->node_lock);
    bft_node_stop(svc->lingering); /* (a member removed before and now back: it lingers no more) */
    struct bft_node *old_node = svc->node;
    if (next.self >= 0) { /* a member of the next epoch; a removed one's node lingers (docs/bft.md "The removed member lingers") */
        bft_node_stop(old_node);
        old_node = NULL;
    }
    pthread_mutex_lock(&svc->lock);
    svc->node = NULL;
    svc->lingering = old_node;
    if (old_node != NULL) svc->left = svc->epoch;
    else svc->left.self = -1;
    svc->epoch = next;
    svc->change.pending = false;
    svc->switches++;
    if (from_pointer) svc->switches_by_proof++;
    pthread_mutex_unlock(&svc->lock);
    /* The new epoch's folder holds everything from here on; a removed member keeps the old
       WAL, which its lingering node runs on (again after a restart: epochs_load). */
    if (have_old == 0 && old_node == NULL) unlink(old_wal);
    if (next.self >= 0) rc = service_start_node(svc, err);
    pthread_rwlock_unlock(&svc->node_lock);
    log_info(next.self >= 0 ? "config store: a new epoch of the cluster's membership runs"
                            : "config store: this node is no member of the cluster's new epoch; it stops ordering "
                              "(its old epoch's node lingers, applying nothing, for the members still there)",
             "epoch=%u members=%u self=%d from=%s", next.number, next.count, next.self,
             from_pointer ? "a later member's proof (the state comes by transfer)" : "the change's block");
    wake_waiters(svc);
out:
    free(snapshot);
    return rc;
}

static void *epoch_main(void *arg)
{
    struct config_service *svc = arg;
    pthread_mutex_lock(&svc->lock);
    while (!svc->stopping) {
        bool need_node = svc->node == NULL && svc->epoch.self >= 0;
        if (!svc->change.pending && !need_node) {
            pthread_cond_wait(&svc->epoch_cond, &svc->lock);
            continue;
        }
        pthread_mutex_unlock(&svc->lock);
        struct cohort_error err = {0};
        int rc;
        if (need_node) {
            pthread_rwlock_wrlock(&svc->node_lock);
            rc = svc->node == NULL ? service_start_node(svc, &err) : 0;
            pthread_rwlock_unlock(&svc->node_lock);
            if (rc == 0) wake_waiters(svc);
        } else {
            rc = switch_epoch(svc, &err);
        }
        pthread_mutex_lock(&svc->lock);
        if (rc < 0) {
            snprintf(svc->switch_error, sizeof svc->switch_error, "%s", err.message);
            log_error("config store: the epoch switch failed; retrying in a second", "error=\"%s\"", err.message);
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += RETRY_MS / 1000;
            if (!svc->stopping) pthread_cond_timedwait(&svc->epoch_cond, &svc->lock, &ts);
        } else {
            svc->switch_error[0] = '\0';
        }
    }
    pthread_mutex_unlock(&svc->lock);
    return NULL;
}

int epochs_thread_start(struct config_service *svc, struct cohort_error *err)
{
    int rc = pthread_create(&svc->epoch_thread, NULL, epoch_main, svc);
    if (rc != 0) return cohort_error_errno(err, COMMON_E_IO, DOMAIN, rc, "config store: pthread_create");
    svc->epoch_thread_started = true;
    return 0;
}

void epochs_thread_stop(struct config_service *svc)
{
    if (!svc->epoch_thread_started) return;
    pthread_mutex_lock(&svc->lock);
    svc->stopping = true;
    pthread_cond_broadcast(&svc->epoch_cond);
    pthread_mutex_unlock(&svc->lock);
    pthread_join(svc->epoch_thread, NULL);
    svc->epoch_thread_started = false;
}

void epochs_free(struct config_service *svc)
{
    free(svc->change.proof);
    svc->change.proof = NULL;
    for (size_t i = 0; i < svc->nproofs; i++) free(svc->proofs[i].bytes);
    svc->nproofs = 0;
}
