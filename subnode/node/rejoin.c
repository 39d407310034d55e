/*
 * rejoin.c - a member that lost its BFT WAL but not its key (docs/chain.md "Rejoining").
 *
 * A member signs its votes and proposals with its subnode key and keeps what it signed in
 * its WAL. One that lost the WAL (its volume wiped, cohort-core restoring the key, or its
 * bft/ folder gone) no longer knows which heights it signed at, and signing again there
 * could contradict itself: a second proposal, a nullify after a finalize, which with a
 * Byzantine member could fork the chain. So it follows the log without signing anything
 * (bft_config.vote_from) until it knows a height past all it may have signed:
 *
 *   it makes a random nonce and submits the entry REJOIN(member, nonce), which the BFT node
 *   forwards to every member, so the next leader proposes it; when a block carrying it is
 *   committed at BFT height h, it signs again from h + 1.
 *
 * Why h is past everything it signed before: let V be the highest height it signed at.
 * Every height below V was certified (notarized or nullified) before it lost the WAL
 * (entering V takes a certificate of V - 1). A block made after the loss cannot be
 * notarized at a height notarized for another block, nor at a nullified one (f+1 honest
 * members said so and will not vote for it); this member, abstaining, adds no vote. The
 * nonce's block was made after the loss, and was committed, so h >= V.
 *
 * When it applies: the file `rejoin` in the data folder (cohort-core writes it into a volume
 * it made again for a chain this node ran before), or the file `joined` (written at the
 * first start, or after a rejoin) with no WAL file at all. A chain's first
 * start has neither and signs at once. The nonce's commit removes `rejoin` and writes
 * `joined`. Until then the member counts as one of the f faulty ones: with another member
 * down, a four-member chain waits for it.
 */
#include "subnode/node/node_internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/bytes.h"
#include "common/log.h"

#define REJOIN_RESUBMIT_MS 2000 /* the entry goes again while not committed (a lost block drops it) */

static int64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool file_exists(const char *dir, const char *name)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    struct stat st;
    return lstat(path, &st) == 0;
}

bool cn_rejoin_needed(struct chain_node *n, const char *wal_path)
{
    if (n->config.nmembers < 2) { /* alone, it contradicts nobody: it signs at once */
        if (!file_exists(n->data_dir, CN_REJOIN_FILE)) return false;
        char path[1200];
        snprintf(path, sizeof path, "%s/%s", n->data_dir, CN_REJOIN_FILE);
        if (unlink(path) != 0)
            log_warn("the rejoin mark stays (harmless for a chain of one)", "path=%s errno=%d", path, errno);
        pthread_mutex_lock(&n->lock);
        n->rejoin.active = true; /* /status shows it came back: rejoined at once, signing from height 0 */
        n->rejoin.waiting = false;
        n->rejoin.vote_from = 0;
        pthread_mutex_unlock(&n->lock);
        log_info("this chain's only member lost what it signed; alone, it contradicts nobody and signs at once",
                 "chain=%s", n->config.name);
        return false;
    }
    /* Gone, not empty: a WAL that exists but holds nothing is one whose member never signed
       (what it signs is on disk before it is sent), and after a crash of every member at a
       chain's first start, all would otherwise wait for each other for good. */
    struct stat st;
    bool wal_gone = stat(wal_path, &st) != 0 && errno == ENOENT;
    bool marked = file_exists(n->data_dir, CN_REJOIN_FILE);
    if (!marked && !(wal_gone && file_exists(n->data_dir, CN_JOINED_FILE))) return false;
    bool nonce_ok = getrandom(n->rejoin.nonce, sizeof n->rejoin.nonce, 0) == (ssize_t)sizeof n->rejoin.nonce;
    if (!nonce_ok) /* without a fresh nonce nothing proves a block came after the loss: it never signs */
        log_error("rejoining without randomness: this member will not sign until restarted", "chain=%s errno=%d",
                  n->config.name, errno);
    pthread_mutex_lock(&n->lock);
    n->rejoin.nonce_ok = nonce_ok;
    n->rejoin.active = true;
    n->rejoin.waiting = true;
    pthread_mutex_unlock(&n->lock);
    log_warn("this member lost what it signed in the chain's BFT log: it follows the log without signing until a "
             "block carries its rejoin entry",
             "chain=%s member=%u reason=%s", n->config.name, n->config.member_index,
             marked ? "cohort-core made its volume again" : "its WAL is gone");
    return true;
}

void cn_rejoin_started(struct chain_node *n)
{
    pthread_mutex_lock(&n->lock);
    bool waiting = n->rejoin.waiting;
    pthread_mutex_unlock(&n->lock);
    if (waiting) {
        cn_rejoin_tick(n);
        return;
    }
    if (n->config.nmembers < 2 || file_exists(n->data_dir, CN_JOINED_FILE)) return;
    char path[1200];
    struct cohort_error err = {0};
    snprintf(path, sizeof path, "%s/%s", n->data_dir, CN_JOINED_FILE);
    if (cn_write_file(path, "1\n", 2, &err) != 0)
        log_warn("the joined mark is not kept: a later loss of the WAL would go unnoticed", "path=%s error=\"%s\"", path,
                 err.message);
}

void cn_rejoin_tick(struct chain_node *n)
{
    pthread_mutex_lock(&n->lock);
    bool due = n->rejoin.waiting && n->rejoin.nonce_ok && monotonic_ms() - n->rejoin.sent_ms >= REJOIN_RESUBMIT_MS;
    if (due) n->rejoin.sent_ms = monotonic_ms();
    pthread_mutex_unlock(&n->lock);
    if (!due || !atomic_load(&n->started)) return;
    uint8_t entry[CN_REJOIN_ENTRY_BYTES];
    entry[0] = CN_REJOIN_MAGIC;
    entry[1] = CN_REJOIN_VERSION;
    be_put(entry + 2, n->config.member_index, 2);
    memcpy(entry + 4, n->rejoin.nonce, 32);
    struct cohort_error err = {0};
    if (cn_bft_submit(n, entry, sizeof entry, &err) != 0)
        log_warn("rejoin entry not submitted; retrying", "chain=%s error=\"%s\"", n->config.name, err.message);
}

bool cn_rejoin_entry(struct chain_node *n, const struct bft_commit *commit, const uint8_t *entry, size_t len)
{
    if (len != CN_REJOIN_ENTRY_BYTES || entry[0] != CN_REJOIN_MAGIC || entry[1] != CN_REJOIN_VERSION) return false;
    uint64_t member = be_get(entry + 2, 2);
    pthread_mutex_lock(&n->lock);
    bool mine = n->rejoin.waiting && n->rejoin.nonce_ok && atomic_load(&n->started) && member == n->config.member_index &&
                memcmp(entry + 4, n->rejoin.nonce, 32) == 0;
    uint64_t from = commit->block.header.height + 1;
    if (mine) {
        n->rejoin.waiting = false;
        n->rejoin.vote_from = from;
    }
    pthread_mutex_unlock(&n->lock);
    if (!mine) return true; /* another member's, or an older one of ours: nothing to do */
    pthread_rwlock_rdlock(&n->bft_lock);
    if (n->bft != NULL) bft_node_set_vote_from(n->bft, from);
    pthread_rwlock_unlock(&n->bft_lock);
    /* The COMMIT record is durable (on_commit's promise): the marks can follow. */
    char path[1200];
    struct cohort_error err = {0};
    snprintf(path, sizeof path, "%s/%s", n->data_dir, CN_JOINED_FILE);
    if (cn_write_file(path, "1\n", 2, &err) != 0)
        log_warn("the joined mark is not kept", "path=%s error=\"%s\"", path, err.message);
    snprintf(path, sizeof path, "%s/%s", n->data_dir, CN_REJOIN_FILE);
    if (unlink(path) != 0 && errno != ENOENT)
        log_warn("the rejoin mark stays: the next start rejoins again", "path=%s errno=%d", path, errno);
    log_info("rejoined: a block carries this member's rejoin entry; it signs again from the next height", "chain=%s "
             "member=%u bft_height=%llu vote_from=%llu", n->config.name, n->config.member_index,
             (unsigned long long)commit->block.header.height, (unsigned long long)from);
    return true;
}
