/*
 * epochs.c - a chain's membership epochs: how a rotation that the manager recorded ends
 * one epoch of the chain's BFT log and starts the next (docs/chain.md "Rotation"), on the
 * pattern of the config store's (config/epochs.c).
 *
 *   cohort-core writes ROTATION_FILE (the record and its node's vouch) into the volume;
 *   the tick puts a VOUCH in the log; a member that saw f + 1 members vouch for the same
 *   record in committed blocks submits a CHANGE with their signatures; the first committed
 *   CHANGE for the next epoch ends the running one after its block (the whole block is
 *   applied; later blocks of the epoch are not, their transactions come again).
 *
 * Then the epoch thread switches: a member of the next epoch seeds that epoch's WAL at the
 * change block with the chain's descriptor (head number and hash: the state stays in the
 * store), writes the epoch's chain.json, stops the old BFT node and starts the new one with
 * the new members and instance. The member the rotation removes keeps its old node running
 * as an honest member of the old epoch, applying nothing (so the others can still finish
 * the change block; docs/bft.md "The removed member lingers"), and closes admission;
 * cohort-core removes its container. A member that missed the change is shown it by a
 * later member (the POINTER frame: the change block's commit, which the BFT node checks
 * against the old epoch's members) and switches without a seed: its new node is behind
 * every peer and installs the state by transfer. So does the joining node, which starts
 * with chain.json of the new epoch and an empty volume.
 *
 * On disk, in the volume's bft/ folder: epoch 0's WAL is bft/wal; epoch e >= 1 has
 * bft/epoch-e/ with
 *   change      the proof that ended epoch e - 1: its instance (u64 big-endian) and the
 *               change block's commit (bft_commit_encode); written by the executor at once;
 *   wal         epoch e's WAL (seeded, or empty for a member that learned by proof);
 *   chain.json  epoch e's chain config (written last: a folder without it, and without
 *               `left`, is a switch that did not finish, which the start finishes);
 *   left        instead of chain.json: the change removed this member.
 */
#include "subnode/node/node_internal.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/bytes.h"
#include "common/hex.h"
#include "common/log.h"
#include "common/secp.h"

#define DOMAIN "subnode"
#define RESUBMIT_MS 2000 /* a VOUCH or CHANGE goes again while the epoch has not changed */
#define RETRY_MS 1000    /* a switch that failed is tried again */

int cn_epoch_wal_path(const struct chain_node *n, uint32_t epoch, char *out, size_t size)
{
    int k = epoch == 0 ? snprintf(out, size, "%s/bft/wal", n->data_dir)
                       : snprintf(out, size, "%s/bft/epoch-%u/wal", n->data_dir, epoch);
    return k < 0 || (size_t)k >= size ? -1 : 0;
}

static void epoch_dir(const struct chain_node *n, uint32_t epoch, char *out, size_t size)
{
    snprintf(out, size, "%s/bft/epoch-%u", n->data_dir, epoch);
}

/* Reads a whole small file (at most cap bytes): 0, 1 when it does not exist, or an error. */
static int read_small(const char *path, uint8_t *buf, size_t cap, size_t *len, struct cohort_error *err)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) return 1;
        return cohort_error_errno(err, COMMON_E_IO, DOMAIN, errno, "cannot open %s", path);
    }
    size_t have = 0;
    for (;;) {
        ssize_t k = read(fd, buf + have, cap - have);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) {
            int e = errno;
            close(fd);
            return cohort_error_errno(err, COMMON_E_IO, DOMAIN, e, "cannot read %s", path);
        }
        if (k == 0) break;
        have += (size_t)k;
        if (have == cap) {
            uint8_t extra;
            k = read(fd, &extra, 1);
            close(fd);
            if (k != 0) return cohort_error_set(err, COMMON_E_RANGE, DOMAIN, "%s: over %zu bytes", path, cap);
            *len = have;
            return 0;
        }
    }
    close(fd);
    *len = have;
    return 0;
}

static bool exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

/* Keeps a copy of a change proof for peers still in the epoch of instance (under lock). */
static void keep_proof(struct chain_node *n, uint64_t instance, const uint8_t *bytes, size_t len)
{
    for (size_t i = 0; i < n->epochs.nproofs; i++)
        if (n->epochs.proofs[i].instance == instance) return;
    uint8_t *copy = malloc(len);
    if (copy == NULL) return;
    memcpy(copy, bytes, len);
    size_t cap = sizeof n->epochs.proofs / sizeof n->epochs.proofs[0];
    if (n->epochs.nproofs == cap) {
        free(n->epochs.proofs[0].bytes);
        memmove(&n->epochs.proofs[0], &n->epochs.proofs[1], (cap - 1) * sizeof n->epochs.proofs[0]);
        n->epochs.nproofs--;
    }
    n->epochs.proofs[n->epochs.nproofs++] = (struct change_proof){.instance = instance, .bytes = copy, .len = len};
}

/* The first valid CHANGE for the next epoch that a committed block carries. */
static bool block_change(const struct chain_node *n, const struct bft_block *block, struct rotation_change *out)
{
    uint32_t off = 0, len = 0;
    const uint8_t *entry;
    while (bft_payload_next(block->payload, block->payload_len, &off, &entry, &len, NULL) == 1) {
        struct cohort_error err = {0};
        if (rotation_change_decode(entry, len, out, &err) == 1 && rotation_change_check(&n->config, out, &err) == 0)
            return true;
    }
    return false;
}

/* ---- Loading at start ---- */

/* A change proof file: the instance it ended and the commit; fills the pending change. */
static int load_change(struct chain_node *n, const char *path, uint8_t *buf, size_t cap, bool *found,
                       struct cohort_error *err)
{
    size_t len = 0;
    *found = false;
    int rc = read_small(path, buf, cap, &len, err);
    if (rc == 1) return 0;
    if (rc < 0) return rc;
    if (len <= 8) return cohort_error_set(err, COMMON_E_INVALID, DOMAIN, "%s is damaged (%zu bytes)", path, len);
    uint64_t instance = be_get(buf, 8);
    struct bft_commit commit;
    if (bft_commit_decode(buf + 8, len - 8, instance, BFT_PAYLOAD_MAX, &commit, err) < 0)
        return cohort_error_wrap(err, "%s is damaged", path);
    keep_proof(n, instance, buf + 8, len - 8);
    if (instance != rotation_instance(n->config.name, n->config.epoch)) return 0; /* an older epoch's */
    if (!block_change(n, &commit.block, &n->epochs.found_change))
        return cohort_error_set(err, COMMON_E_INVALID, DOMAIN, "%s carries no change of epoch %u", path, n->config.epoch);
    n->epochs.index = commit.block.header.index;
    n->epochs.height = commit.block.header.height;
    memcpy(n->epochs.hash, commit.hash, 32);
    n->epochs.record = n->epochs.found_change.record;
    *found = true;
    return 0;
}

int cn_epochs_load(struct chain_node *n, struct cohort_error *err)
{
    size_t cap = BFT_MESSAGE_MAX + 8;
    uint8_t *buf = malloc(cap);
    if (buf == NULL) return cohort_error_set(err, COMMON_E_NOMEM, DOMAIN, "out of memory");
    int rc = 0;
    /* The proofs of the epochs before the configured one, for their laggards. */
    for (uint32_t e = 1; e <= n->config.epoch && rc == 0; e++) {
        char path[1300], dir[1200];
        epoch_dir(n, e, dir, sizeof dir);
        snprintf(path, sizeof path, "%s/change", dir);
        size_t len = 0;
        int r = read_small(path, buf, cap, &len, err);
        if (r == 0 && len > 8) keep_proof(n, be_get(buf, 8), buf + 8, len - 8);
        err->message[0] = '\0';
    }
    /* The epochs the volume went through after the configured one. */
    for (uint32_t e = n->config.epoch + 1; rc == 0; e++) {
        char dir[1200], path[1300];
        epoch_dir(n, e, dir, sizeof dir);
        snprintf(path, sizeof path, "%s/chain.json", dir);
        size_t len = 0;
        rc = read_small(path, buf, CHAIN_CONFIG_MAX_BYTES < cap ? CHAIN_CONFIG_MAX_BYTES : cap, &len, err);
        if (rc == 0) {
            struct chain_config next;
            memset(&next, 0, sizeof next);
            if ((rc = chain_config_decode((const char *)buf, len, &next, err)) < 0) {
                cohort_error_wrap(err, "%s", path);
                break;
            }
            if (next.epoch != e || next.chain_id != n->config.chain_id || strcmp(next.name, n->config.name) != 0 ||
                next.node_id != n->config.node_id) {
                rc = cohort_error_set(err, COMMON_E_INVALID, DOMAIN, "%s is not epoch %u of chain %s for node %llu", path,
                                      e, n->config.name, (unsigned long long)n->config.node_id);
                break;
            }
            bool found = false;
            snprintf(path, sizeof path, "%s/change", dir);
            if ((rc = load_change(n, path, buf, cap, &found, err)) < 0) break;
            n->config = next;
            n->epochs.current_known = found;
            n->epochs.current = n->epochs.record;
            n->epochs.first_block = 0;
            snprintf(path, sizeof path, "%s/first_block", dir);
            if (read_small(path, buf, 32, &len, err) == 0) {
                buf[len < 31 ? len : 31] = '\0';
                n->epochs.first_block = strtoull((const char *)buf, NULL, 10);
            }
            err->message[0] = '\0';
            continue;
        }
        if (rc < 0) break;
        rc = 0;
        snprintf(path, sizeof path, "%s/left", dir);
        if (exists(path)) {
            n->epochs.left = true;
            log_warn("this member left the chain at a rotation: its old epoch's node lingers, applying nothing, until "
                     "cohort-core removes it",
                     "chain=%s epoch=%u", n->config.name, e);
            break;
        }
        bool found = false;
        snprintf(path, sizeof path, "%s/change", dir);
        if ((rc = load_change(n, path, buf, cap, &found, err)) < 0) break;
        /* The switch did not finish. The old epoch's WAL replays up to the change block, which
           ends the epoch again (with the store at that block: a seed); if the WAL no longer
           reaches it, cn_epochs_started switches from the proof. */
        if (found) {
            n->epochs.unfinished = true;
            log_info("an epoch change was committed before the last stop; the switch goes on", "chain=%s epoch=%u",
                     n->config.name, e);
        }
        break;
    }
    free(buf);
    return rc;
}

/* ---- Entries ---- */

static void tally_vouch(struct chain_node *n, const struct rotation_vouch *v)
{
    struct vouch_tally *t = NULL;
    for (size_t i = 0; i < sizeof n->epochs.tally / sizeof n->epochs.tally[0] && t == NULL; i++)
        if (n->epochs.tally[i].used && memcmp(n->epochs.tally[i].record, v->record_bytes, ROTATION_RECORD_BYTES) == 0)
            t = &n->epochs.tally[i];
    for (size_t i = 0; i < sizeof n->epochs.tally / sizeof n->epochs.tally[0] && t == NULL; i++)
        if (!n->epochs.tally[i].used) {
            t = &n->epochs.tally[i];
            memset(t, 0, sizeof *t);
            t->used = true;
            memcpy(t->record, v->record_bytes, ROTATION_RECORD_BYTES);
        }
    if (t == NULL) return; /* four different records for one epoch: the rest are Byzantine noise */
    t->vouchers |= 1ull << v->voucher;
    memcpy(t->signature[v->voucher], v->signature, ROTATION_SIGNATURE_BYTES);
    unsigned count = (unsigned)__builtin_popcountll(t->vouchers);
    pthread_mutex_lock(&n->lock);
    if (count > n->epochs.vouches_seen) n->epochs.vouches_seen = count;
    pthread_mutex_unlock(&n->lock);
    if (count < n->fault_tolerance + 1 || n->epochs.change_entry != NULL) return;
    struct rotation_change c;
    memset(&c, 0, sizeof c);
    memcpy(c.record_bytes, t->record, ROTATION_RECORD_BYTES);
    for (unsigned m = 0; m < n->config.nmembers; m++)
        if (t->vouchers & (1ull << m)) {
            c.voucher[c.count] = (uint16_t)m;
            memcpy(c.signature[c.count], t->signature[m], ROTATION_SIGNATURE_BYTES);
            c.count++;
        }
    uint8_t *entry = malloc(ROTATION_CHANGE_MAX_BYTES);
    if (entry == NULL) return;
    n->epochs.change_len = rotation_change_encode(&c, entry);
    n->epochs.change_entry = entry;
    n->epochs.change_sent_ms = 0;
    log_info("f+1 members vouched for the chain's next rotation: this member proposes the change", "chain=%s epoch=%u "
             "vouches=%u", n->config.name, v->record.epoch, count);
    cn_epochs_tick(n);
}

/* A member's DONE for the running epoch: kept when its node signed the manager's digest. */
static void done_entry(struct chain_node *n, const uint8_t *entry, size_t len)
{
    struct rotation_done d;
    struct cohort_error err = {0};
    if (rotation_done_decode(entry, len, &d, &err) != 1) {
        log_warn("a done entry is refused", "chain=%s error=\"%s\"", n->config.name, err.message);
        return;
    }
    pthread_mutex_lock(&n->lock);
    bool usable = d.epoch == n->config.epoch && n->epochs.current_known && n->epochs.current.epoch == d.epoch &&
                  (n->epochs.done_height == 0 || n->epochs.done_height == d.height) &&
                  !(n->epochs.done_members & (1ull << d.member));
    struct rotation_record current = n->epochs.current;
    pthread_mutex_unlock(&n->lock);
    if (!usable) return; /* another epoch's, a copy, or this member does not know the rotation */
    uint8_t digest[32];
    rotation_done_digest(&n->config, d.epoch, d.height, current.leaving_node_id, current.joining.node_id, digest);
    if (!rotation_statement_valid(&n->config, d.member, digest, d.signature)) {
        log_warn("a done entry is refused", "chain=%s member=%u error=\"not signed by that member's node\"",
                 n->config.name, d.member);
        return;
    }
    pthread_mutex_lock(&n->lock);
    n->epochs.done_height = d.height;
    n->epochs.done_members |= 1ull << d.member;
    memcpy(n->epochs.done_signature[d.member], d.signature, ROTATION_SIGNATURE_BYTES);
    unsigned count = (unsigned)__builtin_popcountll(n->epochs.done_members);
    pthread_mutex_unlock(&n->lock);
    if (count == n->fault_tolerance + 1)
        log_info("f+1 members signed that the rotation is done: a cohort-core can complete it on the manager",
                 "chain=%s epoch=%u height=%llu", n->config.name, d.epoch, (unsigned long long)d.height);
}

/* A member's ABSENT for the running epoch: kept when its node signed the manager's digest. */
static void absent_entry(struct chain_node *n, const uint8_t *entry, size_t len)
{
    struct rotation_absent a;
    struct cohort_error err = {0};
    if (rotation_absent_decode(entry, len, &a, &err) != 1) {
        log_warn("an absent entry is refused", "chain=%s error=\"%s\"", n->config.name, err.message);
        return;
    }
    if (a.epoch != n->config.epoch || a.signer >= n->config.nmembers || n->config.members[a.signer].node_id == a.node_id)
        return; /* another epoch's, or a member saying it is absent itself */
    bool member = false;
    for (unsigned i = 0; i < n->config.nmembers; i++) member |= n->config.members[i].node_id == a.node_id;
    uint8_t digest[32];
    rotation_absence_digest(&n->config, a.epoch, a.node_id, a.since, digest);
    if (!member || !rotation_statement_valid(&n->config, a.signer, digest, a.signature)) {
        log_warn("an absent entry is refused", "chain=%s signer=%u node=%llu error=\"%s\"", n->config.name, a.signer,
                 (unsigned long long)a.node_id, member ? "not signed by that member's node" : "no member of the chain");
        return;
    }
    pthread_mutex_lock(&n->lock);
    struct absence_tally *t = NULL;
    for (size_t i = 0; i < sizeof n->epochs.absences / sizeof n->epochs.absences[0] && t == NULL; i++)
        if (n->epochs.absences[i].used && n->epochs.absences[i].node_id == a.node_id && n->epochs.absences[i].since == a.since)
            t = &n->epochs.absences[i];
    if (t == NULL) { /* a free slot, or the one of the earliest since (superseded: members move to later ones) */
        t = &n->epochs.absences[0];
        for (size_t i = 0; i < sizeof n->epochs.absences / sizeof n->epochs.absences[0]; i++) {
            struct absence_tally *x = &n->epochs.absences[i];
            if (!x->used) {
                t = x;
                break;
            }
            if (x->since < t->since) t = x;
        }
        memset(t, 0, sizeof *t);
        t->used = true;
        t->node_id = a.node_id;
        t->since = a.since;
    }
    unsigned count = 0;
    {
        t->signers |= 1ull << a.signer;
        memcpy(t->signature[a.signer], a.signature, ROTATION_SIGNATURE_BYTES);
        count = (unsigned)__builtin_popcountll(t->signers);
    }
    pthread_mutex_unlock(&n->lock);
    if (count == 2 * n->fault_tolerance + 1)
        log_warn("2f+1 members signed that a member is absent: a cohort-core can report it to the manager",
                 "chain=%s node=%llu since=%llu", n->config.name, (unsigned long long)a.node_id, (unsigned long long)a.since);
}

bool cn_epochs_entry(struct chain_node *n, const struct bft_commit *commit, const uint8_t *entry, size_t len)
{
    (void)commit;
    if (len == 0) return false;
    if (entry[0] == ROTATION_DONE_MAGIC) {
        done_entry(n, entry, len);
        return true;
    }
    if (entry[0] == ROTATION_ABSENT_MAGIC) {
        absent_entry(n, entry, len);
        return true;
    }
    if (entry[0] != ROTATION_VOUCH_MAGIC && entry[0] != ROTATION_CHANGE_MAGIC) return false;
    struct cohort_error err = {0};
    if (entry[0] == ROTATION_VOUCH_MAGIC) {
        struct rotation_vouch v;
        int rc = rotation_vouch_decode(entry, len, &v, &err);
        if (rc == 1 && v.record.epoch <= n->config.epoch) return true; /* late: that rotation is done */
        if (rc != 1 || rotation_record_check(&n->config, &v.record, &err) != 0 ||
            !rotation_vouch_valid(&n->config, v.voucher, v.record_bytes, v.signature)) {
            if (err.message[0] == '\0') snprintf(err.message, sizeof err.message, "not signed by member %u's node", v.voucher);
            log_warn("a vouch entry is refused", "chain=%s error=\"%s\"", n->config.name, err.message);
            return true;
        }
        tally_vouch(n, &v);
        return true;
    }
    if (n->epochs.found) return true; /* the block's first change counts */
    int rc = rotation_change_decode(entry, len, &n->epochs.found_change, &err);
    if (rc == 1 && n->epochs.found_change.record.epoch <= n->config.epoch) return true; /* a copy, too late */
    if (rc != 1 || rotation_change_check(&n->config, &n->epochs.found_change, &err) != 0) {
        log_warn("a change entry is refused", "chain=%s error=\"%s\"", n->config.name, err.message);
        return true;
    }
    n->epochs.found = true;
    return true;
}

/* The change block is committed: keep its proof, close the epoch, wake the epoch thread. */
static void change_committed(struct chain_node *n, const struct bft_commit *commit, bool from_pointer)
{
    uint32_t next = n->epochs.found_change.record.epoch;
    uint64_t instance = rotation_instance(n->config.name, n->config.epoch);
    char dir[1200], path[1300];
    epoch_dir(n, next, dir, sizeof dir);
    snprintf(path, sizeof path, "%s/change", dir);
    uint8_t *proof = malloc(8 + BFT_MESSAGE_MAX);
    size_t len = 0;
    struct cohort_error err = {0};
    int rc = proof == NULL ? cohort_error_set(&err, COMMON_E_NOMEM, DOMAIN, "out of memory")
                           : bft_commit_encode(commit, proof + 8, BFT_MESSAGE_MAX, &len, &err);
    if (rc == 0 && mkdir(dir, 0700) != 0 && errno != EEXIST)
        rc = cohort_error_errno(&err, COMMON_E_IO, DOMAIN, errno, "cannot make %s", dir);
    if (rc == 0) {
        be_put(proof, instance, 8);
        rc = cn_write_file(path, (const char *)proof, 8 + len, &err);
    }
    pthread_mutex_lock(&n->lock);
    if (rc == 0) keep_proof(n, instance, proof + 8, len);
    n->epochs.pending = true;
    n->epochs.pending_ms = cn_monotonic_ms();
    n->epochs.from_pointer = from_pointer;
    n->epochs.index = commit->block.header.index;
    n->epochs.height = commit->block.header.height;
    memcpy(n->epochs.hash, commit->hash, 32);
    n->epochs.record = n->epochs.found_change.record;
    pthread_cond_signal(&n->epochs.cond);
    pthread_mutex_unlock(&n->lock);
    free(proof);
    if (rc != 0) /* the switch still happens; a restart before it ends would replay the old WAL */
        log_error("the change's proof is not kept", "chain=%s path=%s error=\"%s\"", n->config.name, path, err.message);
    log_info(from_pointer ? "a later member showed this member the change that ended its epoch"
                          : "a committed change ends the chain's epoch after this block",
             "chain=%s epoch=%u member_index=%u leaving_node=%llu joining_node=%llu bft_index=%llu", n->config.name, next,
             n->epochs.record.member_index, (unsigned long long)n->epochs.record.leaving_node_id,
             (unsigned long long)n->epochs.record.joining.node_id, (unsigned long long)commit->block.header.index);
}

void cn_epochs_after_block(struct chain_node *n, const struct bft_commit *commit)
{
    if (!n->epochs.found) return;
    n->epochs.found = false;
    if (n->halted) return;
    change_committed(n, commit, false);
}

void cn_epochs_replayed(struct chain_node *n, const struct bft_commit *commit)
{
    if (cn_epochs_closed(n) || !block_change(n, &commit->block, &n->epochs.found_change)) return;
    change_committed(n, commit, false);
}

void cn_epochs_started(struct chain_node *n)
{
    pthread_mutex_lock(&n->lock);
    if (n->epochs.unfinished && !n->epochs.pending && !n->epochs.left) {
        n->epochs.pending = true;
        n->epochs.from_pointer = n->applied_index < n->epochs.index;
        n->epochs.pending_ms = cn_monotonic_ms();
    }
    n->epochs.unfinished = false;
    pthread_cond_signal(&n->epochs.cond);
    pthread_mutex_unlock(&n->lock);
}

bool cn_epochs_closed(struct chain_node *n)
{
    pthread_mutex_lock(&n->lock);
    bool closed = n->epochs.pending || n->epochs.left;
    pthread_mutex_unlock(&n->lock);
    return closed;
}

/* ---- The vouch from the volume, and the change, into the log ---- */

static void vouch_file_complaint(struct chain_node *n, const char *message)
{
    if (strcmp(n->epochs.vouch_file_error, message) == 0) return;
    snprintf(n->epochs.vouch_file_error, sizeof n->epochs.vouch_file_error, "%s", message);
    if (message[0]) log_warn("the rotation vouch in the volume is not used", "chain=%s file=" ROTATION_FILE " error=\"%s\"",
                             n->config.name, message);
}

/* A file cohort-core wrote into the volume: one line of hex of exactly len bytes (at most
   ROTATION_FILE_MAX_BYTES of text). 0 with out filled, 1 when it is not there, or an error. */
static int read_hex_file(const struct chain_node *n, const char *name, uint8_t *out, size_t len, struct cohort_error *err)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", n->data_dir, name);
    uint8_t text[ROTATION_FILE_MAX_BYTES + 1];
    size_t have = 0;
    int rc = read_small(path, text, ROTATION_FILE_MAX_BYTES, &have, err);
    if (rc != 0) return rc;
    while (have > 0 && (text[have - 1] == '\n' || text[have - 1] == '\r')) have--;
    text[have] = '\0';
    rc = hex_decode_exact((const char *)text, out, len, err);
    return rc != 0 ? cohort_error_wrap(err, "%s", path) : 0;
}

/* ROTATION_FILE, when it holds this node's vouch for the chain's next rotation. */
static bool read_vouch_file(struct chain_node *n, uint8_t record[ROTATION_RECORD_BYTES],
                            uint8_t signature[ROTATION_SIGNATURE_BYTES])
{
    uint8_t bytes[ROTATION_RECORD_BYTES + ROTATION_SIGNATURE_BYTES];
    struct rotation_record r;
    struct cohort_error err = {0};
    int rc = read_hex_file(n, ROTATION_FILE, bytes, sizeof bytes, &err);
    if (rc == 1) return false;
    if (rc != 0 || rotation_record_decode(bytes, &r, &err) != 0) {
        vouch_file_complaint(n, err.message);
        return false;
    }
    if (r.epoch <= n->config.epoch) return false; /* done: cohort-core removes it */
    if (rotation_record_check(&n->config, &r, &err) != 0) {
        vouch_file_complaint(n, err.message);
        return false;
    }
    if (!rotation_vouch_valid(&n->config, (uint16_t)n->config.member_index, bytes, bytes + ROTATION_RECORD_BYTES)) {
        vouch_file_complaint(n, "not signed by this member's node key");
        return false;
    }
    vouch_file_complaint(n, "");
    memcpy(record, bytes, ROTATION_RECORD_BYTES);
    memcpy(signature, bytes + ROTATION_RECORD_BYTES, ROTATION_SIGNATURE_BYTES);
    return true;
}

/* ROTATION_DONE_FILE, when it holds this node's signature for the running epoch's first block. */
static bool read_done_file(struct chain_node *n, struct rotation_done *d)
{
    uint8_t bytes[4 + 8 + ROTATION_SIGNATURE_BYTES];
    struct cohort_error err = {0};
    if (read_hex_file(n, ROTATION_DONE_FILE, bytes, sizeof bytes, &err) != 0) return false;
    d->member = (uint16_t)n->config.member_index;
    d->epoch = (uint32_t)be_get(bytes, 4);
    d->height = be_get(bytes + 4, 8);
    memcpy(d->signature, bytes + 12, ROTATION_SIGNATURE_BYTES);
    pthread_mutex_lock(&n->lock);
    bool ok = d->epoch == n->config.epoch && n->epochs.first_block != 0 && d->height == n->epochs.first_block &&
              !(n->epochs.done_members & (1ull << d->member));
    pthread_mutex_unlock(&n->lock);
    return ok;
}

/* ROTATION_ABSENT_FILE, when it holds this node's statement for the running epoch that the log does not carry yet. */
static bool read_absent_file(struct chain_node *n, struct rotation_absent *a)
{
    uint8_t bytes[8 + 8 + 4 + ROTATION_SIGNATURE_BYTES];
    struct cohort_error err = {0};
    if (read_hex_file(n, ROTATION_ABSENT_FILE, bytes, sizeof bytes, &err) != 0) return false;
    a->signer = (uint16_t)n->config.member_index;
    a->node_id = be_get(bytes, 8);
    a->since = be_get(bytes + 8, 8);
    a->epoch = (uint32_t)be_get(bytes + 16, 4);
    memcpy(a->signature, bytes + 20, ROTATION_SIGNATURE_BYTES);
    if (a->epoch != n->config.epoch) return false;
    bool carried = false;
    pthread_mutex_lock(&n->lock);
    for (size_t i = 0; i < sizeof n->epochs.absences / sizeof n->epochs.absences[0]; i++) {
        const struct absence_tally *t = &n->epochs.absences[i];
        carried |= t->used && t->node_id == a->node_id && t->since == a->since && (t->signers & (1ull << a->signer));
    }
    pthread_mutex_unlock(&n->lock);
    return !carried;
}

void cn_epochs_tick(struct chain_node *n)
{
    if (cn_epochs_closed(n) || !atomic_load(&n->started)) return;
    int64_t now = cn_monotonic_ms();
    struct cohort_error err = {0};
    struct rotation_absent absent;
    if (now - n->epochs.absent_sent_ms >= RESUBMIT_MS && read_absent_file(n, &absent)) {
        n->epochs.absent_sent_ms = now;
        uint8_t entry[ROTATION_ABSENT_BYTES];
        rotation_absent_encode(&absent, entry);
        if (cn_bft_submit(n, entry, sizeof entry, &err) != 0)
            log_warn("absent entry not submitted; retrying", "chain=%s error=\"%s\"", n->config.name, err.message);
    }
    struct rotation_done done;
    if (n->config.epoch != 0 && now - n->epochs.done_sent_ms >= RESUBMIT_MS && read_done_file(n, &done)) {
        n->epochs.done_sent_ms = now;
        uint8_t entry[ROTATION_DONE_BYTES];
        rotation_done_encode(&done, entry);
        if (cn_bft_submit(n, entry, sizeof entry, &err) != 0)
            log_warn("done entry not submitted; retrying", "chain=%s error=\"%s\"", n->config.name, err.message);
    }
    if (n->epochs.change_entry != NULL) {
        if (now - n->epochs.change_sent_ms >= RESUBMIT_MS) {
            n->epochs.change_sent_ms = now;
            if (cn_bft_submit(n, n->epochs.change_entry, n->epochs.change_len, &err) != 0)
                log_warn("change entry not submitted; retrying", "chain=%s error=\"%s\"", n->config.name, err.message);
        }
        return;
    }
    if (now - n->epochs.vouch_sent_ms < RESUBMIT_MS) return;
    uint8_t record[ROTATION_RECORD_BYTES], signature[ROTATION_SIGNATURE_BYTES];
    if (!read_vouch_file(n, record, signature)) return;
    /* Once the log carried ours, the others' are awaited, not ours again. */
    for (size_t i = 0; i < sizeof n->epochs.tally / sizeof n->epochs.tally[0]; i++)
        if (n->epochs.tally[i].used && memcmp(n->epochs.tally[i].record, record, sizeof record) == 0 &&
            (n->epochs.tally[i].vouchers & (1ull << n->config.member_index)))
            return;
    n->epochs.vouch_sent_ms = now;
    uint8_t entry[ROTATION_VOUCH_BYTES];
    rotation_vouch_encode((uint16_t)n->config.member_index, ++n->epochs.vouch_sequence, record, signature, entry);
    if (cn_bft_submit(n, entry, sizeof entry, &err) != 0)
        log_warn("vouch entry not submitted; retrying", "chain=%s error=\"%s\"", n->config.name, err.message);
    else if (n->epochs.vouch_sequence == 1)
        log_info("this member's node vouches for the chain's next rotation", "chain=%s", n->config.name);
}

/* ---- Change proofs for members of an older epoch ---- */

size_t cn_epochs_pointer(void *arg, uint64_t instance, uint8_t *out, size_t cap)
{
    struct chain_node *n = arg;
    size_t len = 0;
    pthread_mutex_lock(&n->lock);
    for (size_t i = 0; i < n->epochs.nproofs; i++) {
        if (n->epochs.proofs[i].instance != instance) continue;
        len = n->epochs.proofs[i].len;
        if (len <= cap) memcpy(out, n->epochs.proofs[i].bytes, len);
    }
    pthread_mutex_unlock(&n->lock);
    return len;
}

void cn_epochs_pointed(void *arg, const struct bft_commit *commit)
{
    struct chain_node *n = arg;
    if (cn_epochs_closed(n) || !block_change(n, &commit->block, &n->epochs.found_change)) return;
    change_committed(n, commit, true);
}

/* ---- The switch ---- */

/* Writes dir/wal seeded at the change block with the chain's descriptor, once. */
static int seed_wal(struct chain_node *n, uint32_t epoch, uint64_t index, uint64_t height, const uint8_t hash[32],
                    struct cohort_error *err)
{
    char wal[1200], tmp[1300];
    if (cn_epoch_wal_path(n, epoch, wal, sizeof wal) != 0)
        return cohort_error_set(err, COMMON_E_RANGE, DOMAIN, "data folder %s is too long", n->data_dir);
    if (exists(wal)) return 0; /* seeded by an earlier try (renamed whole) */
    snprintf(tmp, sizeof tmp, "%s.tmp", wal);
    unlink(tmp);
    uint8_t snapshot[41];
    snapshot[0] = 1;
    pthread_mutex_lock(&n->lock);
    be_put(snapshot + 1, n->head_number, 8);
    memcpy(snapshot + 9, n->head_hash, 32);
    pthread_mutex_unlock(&n->lock);
    int rc = bft_node_seed_wal(tmp, index, height, hash, snapshot, sizeof snapshot, err);
    if (rc == 0 && rename(tmp, wal) != 0) {
        rc = cohort_error_errno(err, COMMON_E_IO, DOMAIN, errno, "cannot rename %s", tmp);
        unlink(tmp);
    }
    return rc;
}

static int switch_epoch(struct chain_node *n, struct cohort_error *err)
{
    pthread_mutex_lock(&n->lock);
    bool from_pointer = n->epochs.from_pointer;
    uint64_t index = n->epochs.index, height = n->epochs.height;
    uint8_t hash[32];
    memcpy(hash, n->epochs.hash, 32);
    struct rotation_record record = n->epochs.record;
    pthread_mutex_unlock(&n->lock);
    struct chain_config next;
    rotation_apply(&n->config, &record, &next);
    bool member = next.member_index < next.nmembers;
    char dir[1200], path[1300];
    epoch_dir(n, record.epoch, dir, sizeof dir);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return cohort_error_errno(err, COMMON_E_IO, DOMAIN, errno, "cannot make %s", dir);
    if (!member) {
        snprintf(path, sizeof path, "%s/left", dir);
        int rc = cn_write_file(path, "1\n", 2, err);
        if (rc != 0) return rc;
        atomic_store(&n->started, false); /* nothing more goes into the old epoch */
        pthread_mutex_lock(&n->lock);
        n->epochs.left = true;
        n->epochs.pending = false;
        n->epochs.switches++;
        pthread_mutex_unlock(&n->lock);
        log_warn("this member is no member of the chain's next epoch: it stops ordering and takes no transactions; its "
                 "old epoch's node lingers, applying nothing, for the members still there",
                 "chain=%s epoch=%u", n->config.name, record.epoch);
        return 0;
    }
    int rc = from_pointer ? 0 : seed_wal(n, record.epoch, index, height, hash, err);
    if (rc != 0) return rc;
    /* The epoch's first block: the one after the change block's head (known by the change). */
    uint64_t first_block = 0;
    if (!from_pointer) {
        pthread_mutex_lock(&n->lock);
        first_block = n->head_number + 1;
        pthread_mutex_unlock(&n->lock);
        char text[32];
        int k = snprintf(text, sizeof text, "%llu\n", (unsigned long long)first_block);
        snprintf(path, sizeof path, "%s/first_block", dir);
        if ((rc = cn_write_file(path, text, (size_t)k, err)) != 0) return rc;
    }
    char *json = NULL;
    if ((rc = chain_config_encode(&next, &json, err)) != 0) return rc;
    snprintf(path, sizeof path, "%s/chain.json", dir);
    rc = cn_write_file(path, json, strlen(json), err);
    free(json);
    if (rc != 0) return rc;

    /* The old epoch's node stops (its thread is the executor: nothing applies meanwhile). */
    atomic_store(&n->started, false);
    pthread_rwlock_wrlock(&n->bft_lock);
    struct bft_node *old = n->bft;
    n->bft = NULL;
    pthread_rwlock_unlock(&n->bft_lock);
    bft_node_stop(old);
    uint32_t old_epoch = n->config.epoch;
    pthread_mutex_lock(&n->lock);
    n->config = next;
    unsigned i = record.member_index;
    address_from_pubkey(next.members[i].public_key, n->member_address[i]);
    n->fault_tolerance = (next.nmembers - 1) / 3;
    memset(&n->learned[i], 0, sizeof n->learned[i]); /* the leaving member's key */
    n->members_disagreeing &= ~(1ull << i);
    n->epochs.pending = false;
    n->epochs.switches++;
    n->epochs.current = record;
    n->epochs.current_known = true;
    n->epochs.first_block = first_block;
    n->epochs.done_members = 0;
    n->epochs.done_height = 0;
    memset(n->epochs.absences, 0, sizeof n->epochs.absences);
    pthread_mutex_unlock(&n->lock);
    /* Tallies and the change were the old epoch's. */
    memset(n->epochs.tally, 0, sizeof n->epochs.tally);
    free(n->epochs.change_entry);
    n->epochs.change_entry = NULL;
    n->epochs.vouch_sent_ms = 0;
    pthread_mutex_lock(&n->lock);
    n->epochs.vouches_seen = 0;
    pthread_mutex_unlock(&n->lock);
    cn_learned_save(n);
    rc = cn_bft_start(n, true, err);
    if (rc == 0) {
        char old_wal[1200];
        if (cn_epoch_wal_path(n, old_epoch, old_wal, sizeof old_wal) == 0) unlink(old_wal);
        log_info("the chain's next epoch runs", "chain=%s epoch=%u members=%u self=%u from=%s", n->config.name,
                 n->config.epoch, n->config.nmembers, n->config.member_index,
                 from_pointer ? "a later member's proof (the state comes by transfer)" : "the change's block");
    }
    return rc;
}

static void *epoch_main(void *arg)
{
    struct chain_node *n = arg;
    pthread_mutex_lock(&n->lock);
    while (!n->epochs.stopping) {
        bool need_node = false;
        if (!n->epochs.pending) {
            pthread_mutex_unlock(&n->lock);
            pthread_rwlock_rdlock(&n->bft_lock);
            need_node = n->bft == NULL; /* a switch that stopped the old node and could not start the new */
            pthread_rwlock_unlock(&n->bft_lock);
            pthread_mutex_lock(&n->lock);
            if (!need_node && !n->epochs.pending && !n->epochs.stopping) {
                pthread_cond_wait(&n->epochs.cond, &n->lock);
                continue;
            }
            if (n->epochs.stopping) break;
        }
        /* Tests only (--switch-delay-ms): the switch waits, so a test can crash a member
           between the change and its switch. */
        int64_t wait_ms = n->epochs.pending ? n->epochs.pending_ms + n->switch_delay_ms - cn_monotonic_ms() : 0;
        if (wait_ms > 0) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += wait_ms / 1000 + 1;
            pthread_cond_timedwait(&n->epochs.cond, &n->lock, &ts);
            continue;
        }
        pthread_mutex_unlock(&n->lock);
        struct cohort_error err = {0};
        int rc = need_node ? cn_bft_start(n, true, &err) : switch_epoch(n, &err);
        pthread_mutex_lock(&n->lock);
        if (rc != 0) {
            snprintf(n->epochs.switch_error, sizeof n->epochs.switch_error, "%s", err.message);
            log_error("the chain's epoch switch failed; retrying in a second", "chain=%s error=\"%s\"", n->config.name,
                      err.message);
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += RETRY_MS / 1000;
            if (!n->epochs.stopping) pthread_cond_timedwait(&n->epochs.cond, &n->lock, &ts);
        } else {
            n->epochs.switch_error[0] = '\0';
        }
    }
    pthread_mutex_unlock(&n->lock);
    return NULL;
}

int cn_epochs_thread_start(struct chain_node *n, struct cohort_error *err)
{
    int rc = pthread_create(&n->epochs.thread, NULL, epoch_main, n);
    if (rc != 0) return cohort_error_errno(err, COMMON_E_IO, DOMAIN, rc, "cannot start the epoch thread");
    n->epochs.thread_started = true;
    return 0;
}

void cn_epochs_stop(struct chain_node *n)
{
    if (n->epochs.thread_started) {
        pthread_mutex_lock(&n->lock);
        n->epochs.stopping = true;
        pthread_cond_broadcast(&n->epochs.cond);
        pthread_mutex_unlock(&n->lock);
        pthread_join(n->epochs.thread, NULL);
        n->epochs.thread_started = false;
    }
}

void cn_epochs_free(struct chain_node *n)
{
    free(n->epochs.change_entry);
    n->epochs.change_entry = NULL;
    for (size_t i = 0; i < n->epochs.nproofs; i++) free(n->epochs.proofs[i].bytes);
    n->epochs.nproofs = 0;
}

/* "signatures": [{"member": i, "signature": "0x.."}, ...] of the members in bits, into parent. */
static void add_signatures(cJSON *parent, uint64_t bits, const uint8_t (*signature)[ROTATION_SIGNATURE_BYTES])
{
    cJSON *list = cJSON_AddArrayToObject(parent, "signatures");
    for (unsigned m = 0; m < CHAIN_CONFIG_MAX_MEMBERS; m++) {
        if (!(bits & (1ull << m))) continue;
        char hex[2 * ROTATION_SIGNATURE_BYTES + 3];
        hex_encode(signature[m], ROTATION_SIGNATURE_BYTES, hex, sizeof hex);
        cJSON *item = cJSON_CreateObject();
        cJSON_AddNumberToObject(item, "member", m);
        cJSON_AddStringToObject(item, "signature", hex);
        cJSON_AddItemToArray(list, item);
    }
}

void cn_epochs_status_json(struct chain_node *n, const struct bft_node_status *bs, void *json)
{
    /* The running epoch's members by index (their node ids) and when each was last heard
       (wall clock, ms): this member now; a peer not heard since the running epoch's node
       started, that start (a lower bound of its silence). */
    cJSON *heard = cJSON_AddArrayToObject(json, "members_heard");
    int64_t now = cn_wall_ms();
    pthread_mutex_lock(&n->lock);
    for (unsigned i = 0; i < n->config.nmembers; i++) {
        int64_t t = i == n->config.member_index ? now : bs->peer_heard_ms[i];
        if (t == 0) t = n->epochs.node_started_ms;
        cJSON *m = cJSON_CreateObject();
        cJSON_AddNumberToObject(m, "node", (double)n->config.members[i].node_id);
        cJSON_AddNumberToObject(m, "heard_ms", (double)t);
        cJSON_AddItemToArray(heard, m);
    }
    pthread_mutex_unlock(&n->lock);
    cJSON *e = cJSON_AddObjectToObject(json, "epoch");
    pthread_mutex_lock(&n->lock);
    cJSON_AddNumberToObject(e, "number", n->config.epoch);
    cJSON_AddNumberToObject(e, "members", n->config.nmembers);
    cJSON_AddNumberToObject(e, "switches", (double)n->epochs.switches);
    /* The most members seen vouching for one record of the next rotation. */
    cJSON_AddNumberToObject(e, "next_vouches", (double)n->epochs.vouches_seen);
    cJSON_AddBoolToObject(e, "change_pending", n->epochs.pending);
    if (n->epochs.pending) cJSON_AddNumberToObject(e, "change_index", (double)n->epochs.index);
    /* Removed by the last rotation: no member of the chain any more. */
    cJSON_AddBoolToObject(e, "left", n->epochs.left);
    if (n->epochs.switch_error[0]) cJSON_AddStringToObject(e, "switch_error", n->epochs.switch_error);
    /* The running epoch's first block, once known, and the members' DONE statements. */
    if (n->epochs.first_block) cJSON_AddNumberToObject(e, "first_block", (double)n->epochs.first_block);
    if (n->epochs.done_members) {
        cJSON *done = cJSON_AddObjectToObject(e, "done");
        cJSON_AddNumberToObject(done, "height", (double)n->epochs.done_height);
        add_signatures(done, n->epochs.done_members, (const uint8_t(*)[ROTATION_SIGNATURE_BYTES])n->epochs.done_signature);
    }
    /* Absence statements of this epoch: who signed that a member was not heard since when. */
    cJSON *absence = NULL;
    for (size_t i = 0; i < sizeof n->epochs.absences / sizeof n->epochs.absences[0]; i++) {
        const struct absence_tally *t = &n->epochs.absences[i];
        if (!t->used) continue;
        if (absence == NULL) absence = cJSON_AddArrayToObject(e, "absence");
        cJSON *item = cJSON_CreateObject();
        cJSON_AddNumberToObject(item, "node", (double)t->node_id);
        cJSON_AddNumberToObject(item, "since", (double)t->since);
        add_signatures(item, t->signers, (const uint8_t(*)[ROTATION_SIGNATURE_BYTES])t->signature);
        cJSON_AddItemToArray(absence, item);
    }
    pthread_mutex_unlock(&n->lock);
}
