/*
 * test_bft_node.c - four real BFT nodes (bft/node.h) in one process on 127.0.0.1, with
 * real secp256k1 keys, WALs on disk and TCP links: they commit the same log; a stopped
 * member restarts from its WAL (replaying its commits) and catches up; the cluster lives
 * through the loss of its leader; strangers that send garbage, oversized frames, a HELLO
 * of another instance or nothing at all are disconnected and counted; and an equivocating
 * leader does not split the honest members' logs. An application that keeps one entry
 * waiting makes its next when a block carries the last (config.held).
 *
 * Ports: 19000-19109 belong to this test; each case takes its own block of ten (the new
 * epoch's case two).
 * Every wait is bounded (polls every 10 ms up to WAIT_MS), so the test always ends.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "bft/node.h"
#include "common/secp.h"
#include "testutil.h"

#define N 4
#define INSTANCE 0xB0DE0001ull
#define WAIT_MS 20000
#define ENTRY_MAX 48
#define RESUBMIT_MS 2500

/* What one member's application saw through on_commit. Guarded by lock. */
struct member {
    pthread_mutex_t lock;
    struct bft_node *node;
    struct bft_node_config config;
    uint64_t blocks;                 /* last log index seen */
    uint8_t (*hash)[32];             /* by log index */
    size_t hash_cap;
    char (*entries)[ENTRY_MAX];      /* every entry, in commit order */
    size_t entry_count, entry_cap;
    uint64_t replayed;               /* blocks seen with replaying = true */
    uint64_t live_after_replay_error;/* a replayed block after a live one */
    uint64_t order_errors;           /* an index that is not the previous + 1 */
    bool saw_live;
    uint64_t snapshots_made;         /* snapshot callbacks */
    uint64_t restored_index;         /* the snapshot the last start restored (0: none) */
    uint64_t height;                 /* the height of the last block seen */
    uint8_t parent_after_restore[32];/* the parent hash of the first block after the restored one */
    uint64_t parent_height_after_restore;
    uint8_t last_commit[16384];      /* the last block's commit proof (bft_commit_encode) */
    size_t last_commit_len;
    uint64_t pointed;                /* verified change proofs received (config.pointed) */
    uint8_t pointed_hash[32];        /* the block the last one finalized */
};

struct cluster {
    char dir[64];
    struct member m[N];
};

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void on_commit(void *arg, const struct bft_commit *commit, bool replaying)
{
    struct member *m = arg;
    pthread_mutex_lock(&m->lock);
    uint64_t index = commit->block.header.index;
    if (index != m->blocks + 1) m->order_errors++;
    if (replaying && m->saw_live) m->live_after_replay_error++;
    if (replaying) m->replayed++;
    else m->saw_live = true;
    if (index >= m->hash_cap) {
        size_t cap = m->hash_cap ? m->hash_cap * 2 : 256;
        while (cap <= index) cap *= 2;
        m->hash = realloc(m->hash, cap * sizeof *m->hash);
        ck_assert_ptr_nonnull(m->hash);
        m->hash_cap = cap;
    }
    memcpy(m->hash[index], commit->hash, 32);
    if (bft_commit_encode(commit, m->last_commit, sizeof m->last_commit, &m->last_commit_len, NULL) < 0)
        m->last_commit_len = 0;
    m->blocks = index;
    m->height = commit->block.header.height;
    if (m->restored_index != 0 && index == m->restored_index + 1) {
        memcpy(m->parent_after_restore, commit->block.header.parent_hash, 32);
        m->parent_height_after_restore = commit->block.header.parent_height;
    }
    uint32_t off = 0, len = 0;
    const uint8_t *entry;
    while (bft_payload_next(commit->block.payload, commit->block.payload_len, &off, &entry, &len, NULL) == 1) {
        if (m->entry_count == m->entry_cap) {
            m->entry_cap = m->entry_cap ? m->entry_cap * 2 : 256;
            m->entries = realloc(m->entries, m->entry_cap * sizeof *m->entries);
            ck_assert_ptr_nonnull(m->entries);
        }
        size_t n = len < ENTRY_MAX - 1 ? len : ENTRY_MAX - 1;
        memset(m->entries[m->entry_count], 0, ENTRY_MAX); /* snapshots hold whole slots: same bytes everywhere */
        memcpy(m->entries[m->entry_count], entry, n);
        m->entries[m->entry_count][n] = '\0';
        m->entry_count++;
    }
    pthread_mutex_unlock(&m->lock);
}

/* Threads that ran on_snapshot (a node's), and the seals run on one of them (none should). */
static _Thread_local bool on_node_thread;
static atomic_uint seals_made, seals_on_node_thread;

/* A checksum the seal writes in the last 8 bytes (FNV-1a 64) and on_restore checks. */
static uint64_t fnv64(const uint8_t *p, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < len; i++) h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

static void on_snapshot_seal(uint8_t *bytes, size_t len)
{
    atomic_fetch_add(&seals_made, 1);
    if (on_node_thread) atomic_fetch_add(&seals_on_node_thread, 1);
    uint64_t h = fnv64(bytes, len - 8);
    memcpy(bytes + len - 8, &h, 8);
}

/*
 * The test application's snapshot: its whole state (blocks, their hashes, the entries),
 * so that a member restarted from a compacted WAL sees the same log as one that replayed
 * everything; its last 8 bytes are for on_snapshot_seal.
 */
static int on_snapshot(void *arg, uint64_t index, uint8_t **bytes, size_t *len)
{
    struct member *m = arg;
    on_node_thread = true;
    pthread_mutex_lock(&m->lock);
    ck_assert_uint_eq(index, m->blocks);
    size_t n = 16 + (size_t)m->blocks * 32 + m->entry_count * ENTRY_MAX + 8;
    uint8_t *b = malloc(n);
    ck_assert_ptr_nonnull(b);
    memcpy(b, &m->blocks, 8);
    memcpy(b + 8, &m->entry_count, 8);
    memcpy(b + 16, m->hash + 1, (size_t)m->blocks * 32);
    memcpy(b + 16 + m->blocks * 32, m->entries, m->entry_count * ENTRY_MAX);
    memset(b + n - 8, 0, 8);
    m->snapshots_made++;
    pthread_mutex_unlock(&m->lock);
    *bytes = b;
    *len = n;
    return 0;
}

static int on_restore(void *arg, uint64_t index, const uint8_t *bytes, size_t len, struct cohort_error *err)
{
    struct member *m = arg;
    uint64_t blocks, count;
    ck_assert_uint_ge(len, 16);
    memcpy(&blocks, bytes, 8);
    memcpy(&count, bytes + 8, 8);
    ck_assert_uint_eq(blocks, index);
    ck_assert_uint_eq(len, 16 + blocks * 32 + count * ENTRY_MAX + 8);
    uint64_t sealed;
    memcpy(&sealed, bytes + len - 8, 8);
    ck_assert_msg(sealed == fnv64(bytes, len - 8), "a snapshot restored without its seal");
    (void)err;
    pthread_mutex_lock(&m->lock);
    if (blocks >= m->hash_cap) {
        m->hash_cap = blocks + 256;
        m->hash = realloc(m->hash, m->hash_cap * sizeof *m->hash);
    }
    if (count > m->entry_cap) {
        m->entry_cap = count + 256;
        m->entries = realloc(m->entries, m->entry_cap * sizeof *m->entries);
    }
    memcpy(m->hash + 1, bytes + 16, blocks * 32);
    memcpy(m->entries, bytes + 16 + blocks * 32, count * ENTRY_MAX);
    m->blocks = blocks;
    m->entry_count = count;
    m->restored_index = index;
    pthread_mutex_unlock(&m->lock);
    return 0;
}

static void member_forget(struct member *m)
{
    pthread_mutex_lock(&m->lock);
    m->blocks = 0;
    m->entry_count = 0;
    m->replayed = 0;
    m->saw_live = false;
    pthread_mutex_unlock(&m->lock);
}

static void cluster_init(struct cluster *c, int base_port, uint64_t seed)
{
    memset(c, 0, sizeof *c);
    snprintf(c->dir, sizeof c->dir, "/tmp/cohort-bft-node-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(c->dir));
    uint8_t keys[N][32];
    struct bft_members members = {.count = N};
    for (int i = 0; i < N; i++) {
        do testutil_rand_bytes(&seed, keys[i], 32);
        while (secp_private_key_check(keys[i], NULL) != 0);
        ck_assert_int_eq(secp_address_from_secret(keys[i], members.address[i], NULL), 0);
    }
    for (int i = 0; i < N; i++) {
        struct member *m = &c->m[i];
        pthread_mutex_init(&m->lock, NULL);
        struct bft_node_config *cfg = &m->config;
        cfg->core.instance = INSTANCE;
        cfg->core.members = members;
        cfg->core.self = (uint32_t)i;
        memcpy(cfg->core.private_key, keys[i], 32);
        cfg->core.payload_max_bytes = 64 * 1024;
        cfg->core.window_heights = 32;
        cfg->core.timeout_ms = 300;
        cfg->core.idle_delay_ms = 40; /* a leader waits for entries; with none, the log rests */
        for (int k = 0; k < N; k++) snprintf(cfg->endpoint[k], BFT_ENDPOINT_MAX, "127.0.0.1:%d", base_port + k);
        snprintf(cfg->wal_path, sizeof cfg->wal_path, "%s/member-%d.wal", c->dir, i);
        cfg->on_commit = on_commit;
        cfg->arg = m;
    }
    explicit_bzero(keys, sizeof keys);
}

static void member_start(struct cluster *c, int i)
{
    struct cohort_error err = {0};
    ck_assert_ptr_null(c->m[i].node);
    int rc = bft_node_start(&c->m[i].config, &c->m[i].node, &err);
    ck_assert_msg(rc == 0, "start member %d: %s", i, err.message);
}

static void member_stop(struct cluster *c, int i)
{
    bft_node_stop(c->m[i].node);
    c->m[i].node = NULL;
}

static void cluster_free(struct cluster *c)
{
    for (int i = 0; i < N; i++) {
        if (c->m[i].node) member_stop(c, i);
        free(c->m[i].hash);
        free(c->m[i].entries);
        pthread_mutex_destroy(&c->m[i].lock);
        char path[1100];
        snprintf(path, sizeof path, "%s/member-%d.wal", c->dir, i);
        unlink(path);
    }
    ck_assert_int_eq(rmdir(c->dir), 0);
}

/* How many of the count entries "<prefix>-<k>" member i has committed (each counted once). */
static int committed_of(struct member *m, const char *prefix, int count, bool *seen)
{
    memset(seen, 0, (size_t)count);
    size_t plen = strlen(prefix);
    int have = 0;
    pthread_mutex_lock(&m->lock);
    for (size_t e = 0; e < m->entry_count; e++) {
        const char *s = m->entries[e];
        if (strncmp(s, prefix, plen) != 0 || s[plen] != '-') continue;
        int k = atoi(s + plen + 1);
        if (k >= 0 && k < count && !seen[k]) {
            seen[k] = true;
            have++;
        }
    }
    pthread_mutex_unlock(&m->lock);
    return have;
}

static int submit_one(struct member *m, const char *prefix, int k)
{
    char entry[ENTRY_MAX];
    int len = snprintf(entry, sizeof entry, "%s-%d", prefix, k);
    struct cohort_error err = {0};
    int rc = bft_node_submit(m->node, (const uint8_t *)entry, (size_t)len, &err);
    ck_assert_msg(rc == 0 || rc == BFT_E_FULL, "submit: %s", err.message);
    return rc;
}

/* How many times each member's log holds "<prefix>-<k>", for k < count (at most 10). */
static void copies_of(struct cluster *c, const char *prefix, int count, int out[N][10])
{
    for (int i = 0; i < N; i++) {
        pthread_mutex_lock(&c->m[i].lock);
        for (int k = 0; k < count; k++) {
            char want[ENTRY_MAX];
            snprintf(want, sizeof want, "%s-%d", prefix, k);
            out[i][k] = 0;
            for (size_t e = 0; e < c->m[i].entry_count; e++) out[i][k] += strcmp(c->m[i].entries[e], want) == 0;
        }
        pthread_mutex_unlock(&c->m[i].lock);
    }
}

/*
 * Submits count entries "<prefix>-<k>", entry k to member submitters[k % nsub], and waits
 * until every member in watch (a bit mask) has committed all of them. An entry in a block
 * that is not committed is dropped (docs/bft.md), so what the first watcher lacks is
 * submitted again every RESUBMIT_MS, as a client would. nsub = 0 only waits. Returns the milliseconds it took,
 * or fails the test after WAIT_MS.
 */
static uint64_t commit_entries(struct cluster *c, const char *prefix, int count, const int *submitters, int nsub,
                               unsigned watch)
{
    bool *seen = calloc((size_t)count, 1);
    ck_assert_ptr_nonnull(seen);
    int first = __builtin_ctz(watch);
    uint64_t start = now_ms(), last_submit = 0;
    for (;;) {
        uint64_t t = now_ms();
        if (nsub > 0 && (last_submit == 0 || t - last_submit >= RESUBMIT_MS)) {
            committed_of(&c->m[first], prefix, count, seen);
            for (int k = 0; k < count; k++)
                if (!seen[k]) submit_one(&c->m[submitters[k % nsub]], prefix, k);
            last_submit = t;
        }
        bool all = true;
        for (int i = 0; i < N && all; i++)
            if (watch & (1u << i)) all = committed_of(&c->m[i], prefix, count, seen) == count;
        if (all) break;
        if (t - start > WAIT_MS) {
            char have[128] = "";
            for (int i = 0; i < N; i++) {
                struct bft_node_status st = {0};
                if (c->m[i].node) bft_node_get_status(c->m[i].node, &st);
                size_t off = strlen(have);
                snprintf(have + off, sizeof have - off, " [%d: %d entries, h=%llu c=%llu peers=%u]", i,
                         committed_of(&c->m[i], prefix, count, seen), (unsigned long long)st.core.height,
                         (unsigned long long)st.core.committed_index, st.peers_connected);
            }
            free(seen);
            ck_abort_msg("%s: not every member committed %d entries within %d ms:%s", prefix, count, WAIT_MS, have);
        }
        sleep_ms(10);
    }
    free(seen);
    uint64_t took = now_ms() - start;
    fprintf(stderr, "test_bft_node: %d entries \"%s-*\" committed by members 0x%x in %llu ms\n", count, prefix, watch,
            (unsigned long long)took);
    return took;
}

/* Every two members of mask hold the same blocks and the same entries, in the same order, as far as both go. */
static void check_logs_agree(struct cluster *c, unsigned mask)
{
    for (int a = 0; a < N; a++) {
        if (!(mask & (1u << a))) continue;
        struct member *ma = &c->m[a];
        pthread_mutex_lock(&ma->lock);
        ck_assert_uint_eq(ma->order_errors, 0);
        ck_assert_uint_eq(ma->live_after_replay_error, 0);
        pthread_mutex_unlock(&ma->lock);
        for (int b = a + 1; b < N; b++) {
            if (!(mask & (1u << b))) continue;
            struct member *mb = &c->m[b];
            pthread_mutex_lock(&ma->lock);
            pthread_mutex_lock(&mb->lock);
            uint64_t blocks = ma->blocks < mb->blocks ? ma->blocks : mb->blocks;
            for (uint64_t k = 1; k <= blocks; k++)
                ck_assert_msg(memcmp(ma->hash[k], mb->hash[k], 32) == 0, "members %d and %d differ at index %llu", a,
                              b, (unsigned long long)k);
            size_t entries = ma->entry_count < mb->entry_count ? ma->entry_count : mb->entry_count;
            for (size_t k = 0; k < entries; k++)
                ck_assert_msg(strcmp(ma->entries[k], mb->entries[k]) == 0, "members %d and %d: entry %zu is %s / %s",
                              a, b, k, ma->entries[k], mb->entries[k]);
            pthread_mutex_unlock(&mb->lock);
            pthread_mutex_unlock(&ma->lock);
        }
    }
}

/* Waits until every member of mask has at least `blocks` blocks, then checks the logs agree. */
static void settle_and_check(struct cluster *c, unsigned mask)
{
    uint64_t target = 0;
    for (int i = 0; i < N; i++) {
        if (!(mask & (1u << i))) continue;
        pthread_mutex_lock(&c->m[i].lock);
        if (c->m[i].blocks > target) target = c->m[i].blocks;
        pthread_mutex_unlock(&c->m[i].lock);
    }
    uint64_t start = now_ms();
    for (int i = 0; i < N; i++) {
        if (!(mask & (1u << i))) continue;
        for (;;) {
            pthread_mutex_lock(&c->m[i].lock);
            uint64_t have = c->m[i].blocks;
            pthread_mutex_unlock(&c->m[i].lock);
            if (have >= target) break;
            ck_assert_msg(now_ms() - start < WAIT_MS, "member %d stuck at %llu of %llu blocks", i,
                          (unsigned long long)have, (unsigned long long)target);
            sleep_ms(10);
        }
    }
    check_logs_agree(c, mask);
}

static const int all_members[] = {0, 1, 2, 3};

/*
 * An idle log rests (docs/bft.md "Idle"): once the last entries are committed, no member
 * commits a block, syncs its WAL or sends a frame while nothing is submitted.
 */
static void check_idle_rests(struct cluster *c)
{
    struct bft_node_status before[N], after[N];
    uint64_t start = now_ms();
    for (;;) { /* let the last block settle everywhere */
        for (int i = 0; i < N; i++) bft_node_get_status(c->m[i].node, &before[i]);
        sleep_ms(500);
        bool still = true;
        for (int i = 0; i < N; i++) {
            bft_node_get_status(c->m[i].node, &after[i]);
            still = still && after[i].wal_syncs == before[i].wal_syncs && after[i].frames_sent == before[i].frames_sent;
        }
        if (still) break;
        ck_assert_msg(now_ms() - start < 5000, "the log does not come to rest: member 0 at %llu syncs, %llu frames",
                      (unsigned long long)after[0].wal_syncs, (unsigned long long)after[0].frames_sent);
    }
    sleep_ms(2000);
    for (int i = 0; i < N; i++) {
        bft_node_get_status(c->m[i].node, &after[i]);
        ck_assert_uint_eq(after[i].core.committed_index, before[i].core.committed_index);
        ck_assert_uint_eq(after[i].wal_syncs, before[i].wal_syncs);
        ck_assert_uint_eq(after[i].frames_sent, before[i].frames_sent);
    }
}

/* Keeps the log busy while a test waits for blocks: one entry more at member `who`. */
static void keep_busy(struct cluster *c, int who, int *k)
{
    submit_one(&c->m[who], "busy", (*k)++);
}

START_TEST(four_members_commit_one_log)
{
    struct cluster *c = calloc(1, sizeof *c);
    cluster_init(c, 19000, 1);
    /* Small blocks, so a burst fills a leader's next block and the node holds the rest back. */
    for (int i = 0; i < N; i++) c->m[i].config.core.payload_max_bytes = 256;
    for (int i = 0; i < N; i++) member_start(c, i);
    commit_entries(c, "a", 40, all_members, 4, 0xf);
    /* Copies of committed entries (a client's resubmission after its block made it) are not
       proposed again: no member's log holds one more "a-k" than before (docs/bft.md
       "Copies of entries"; commit_entries itself may have put some in twice, hence the
       count before). */
    int before[N][10];
    copies_of(c, "a", 10, before);
    for (int k = 0; k < 10; k++) ck_assert_int_eq(submit_one(&c->m[0], "a", k), 0);
    commit_entries(c, "after", 10, all_members, 4, 0xf);
    struct bft_node_status st0;
    bft_node_get_status(c->m[0].node, &st0);
    ck_assert_uint_ge(st0.entries_already_committed, 10);
    int after[N][10];
    copies_of(c, "a", 10, after);
    for (int i = 0; i < N; i++)
        for (int k = 0; k < 10; k++)
            ck_assert_msg(after[i][k] == before[i][k], "member %d committed a-%d %d times, %d before its copy was sent", i,
                          k, after[i][k], before[i][k]);
    commit_entries(c, "burst", 800, all_members, 4, 0xf);
    settle_and_check(c, 0xf);
    check_idle_rests(c);
    for (int i = 0; i < N; i++) {
        struct bft_node_status st;
        bft_node_get_status(c->m[i].node, &st);
        ck_assert_uint_eq(st.self, (uint32_t)i);
        ck_assert_uint_eq(st.peers_connected, N - 1);
        ck_assert_uint_eq(st.leader, st.core.height % N);
        ck_assert_uint_gt(st.frames_sent, 0);
        ck_assert_uint_gt(st.frames_received, 0);
        ck_assert_uint_eq(st.links_refused, 0);
        ck_assert_uint_eq(st.frames_dropped, 0);
        /* Every block committed here was delivered once, after a sync of the WAL. */
        ck_assert_uint_gt(st.wal_syncs, 0);
        ck_assert_uint_gt(st.commits_delivered, 0);
        ck_assert_uint_le(st.commits_delivered, st.core.committed_index);
        ck_assert(!st.halted);
    }
    cluster_free(c);
    free(c);
}
END_TEST

START_TEST(a_member_restarts_from_its_wal)
{
    struct cluster *c = calloc(1, sizeof *c);
    cluster_init(c, 19010, 2);
    for (int i = 0; i < N; i++) member_start(c, i);
    commit_entries(c, "before", 12, all_members, 4, 0xf);

    member_stop(c, 3);
    struct member *m = &c->m[3];
    uint64_t had = m->blocks;
    size_t had_entries = m->entry_count;
    uint8_t(*hashes)[32] = malloc((had + 1) * 32);
    memcpy(hashes, m->hash, (had + 1) * 32);
    ck_assert_uint_gt(had, 0);

    static const int three[] = {0, 1, 2};
    commit_entries(c, "while-down", 12, three, 3, 0x7);

    /* Restart, into a cluster at rest: the WAL comes back through on_commit(replaying = true)
       before start returns. */
    sleep_ms(1000);
    member_forget(m);
    member_start(c, 3);
    pthread_mutex_lock(&m->lock);
    ck_assert_uint_eq(m->replayed, had);
    ck_assert_uint_ge(m->blocks, had);
    ck_assert_uint_ge(m->entry_count, had_entries);
    for (uint64_t k = 1; k <= had; k++) ck_assert_mem_eq(m->hash[k], hashes[k], 32);
    pthread_mutex_unlock(&m->lock);
    free(hashes);

    /* The others rest (nothing submitted), so no vote tells it where they are: the TIPs
       their links open with do (docs/bft.md "Behind"). Without them it never knew. */
    struct bft_node_status st = {0}, st0 = {0};
    for (uint64_t start = now_ms();; sleep_ms(10)) {
        bft_node_get_status(m->node, &st);
        bft_node_get_status(c->m[0].node, &st0);
        if (st.core.behind_known && st.core.behind == 0 && st.core.committed_index == st0.core.committed_index) break;
        ck_assert_msg(now_ms() - start < 5000,
                      "the restarted member heard from %u members (known: %d), %llu heights behind, at index %llu of %llu",
                      st.core.peers_heard, st.core.behind_known, (unsigned long long)st.core.behind,
                      (unsigned long long)st.core.committed_index, (unsigned long long)st0.core.committed_index);
    }
    ck_assert_uint_eq(st.core.peers_heard, N - 1);

    /* It catches up with what it missed, and goes on with the others. */
    commit_entries(c, "while-down", 12, NULL, 0, 0x8);
    commit_entries(c, "after", 8, all_members, 4, 0xf);
    settle_and_check(c, 0xf);
    pthread_mutex_lock(&m->lock);
    ck_assert_uint_eq(m->replayed, had);
    pthread_mutex_unlock(&m->lock);
    cluster_free(c);
    free(c);
}
END_TEST

/*
 * Snapshots: with a snapshot every 16 commits and 32 kept before it, every member compacts
 * its WAL; a member restarted from it gets the snapshot through restore and only the blocks
 * after it through on_commit, and its log equals the others'. A member stopped while the
 * others commit more blocks than they keep fetches a snapshot from them (state transfer)
 * and goes on from there with the same store as theirs.
 */
START_TEST(the_wal_is_compacted)
{
    struct cluster *c = calloc(1, sizeof *c);
    cluster_init(c, 19060, 7);
    for (int i = 0; i < N; i++) {
        c->m[i].config.snapshot = on_snapshot;
        c->m[i].config.snapshot_seal = on_snapshot_seal;
        c->m[i].config.restore = on_restore;
        c->m[i].config.snapshot_every = 16;
        c->m[i].config.retain_commits = 32;
        c->m[i].config.core.idle_delay_ms = 10;
        c->m[i].config.compaction_delay_ms = 25; /* blocks keep coming meanwhile: a tail to copy */
        member_start(c, i);
    }
    commit_entries(c, "early", 40, all_members, 4, 0xf);
    /* More blocks, for a few compactions (an idle log makes none). */
    int busy = 0;
    for (uint64_t t0 = now_ms();;) {
        struct bft_node_status st = {0};
        bft_node_get_status(c->m[3].node, &st);
        if (st.snapshots >= 3 && st.first_index > 1) break;
        keep_busy(c, 0, &busy);
        ck_assert_msg(now_ms() - t0 < WAIT_MS, "member 3 made %llu snapshots, first index %llu",
                      (unsigned long long)st.snapshots, (unsigned long long)st.first_index);
        sleep_ms(10);
    }
    struct bft_node_status before = {0};
    bft_node_get_status(c->m[3].node, &before);
    ck_assert_uint_gt(before.snapshot_index, 0);
    ck_assert_uint_ge(before.snapshot_index + 64, before.core.committed_index); /* a recent one */
    /* The compaction ran beside the loop: what the loop appended meanwhile was copied after it. */
    ck_assert_uint_gt(before.compaction_tail_bytes, 0);
    ck_assert_uint_ge(before.compaction_us, 1);
    member_stop(c, 3);
    struct member *m = &c->m[3];
    uint64_t had = m->blocks;
    ck_assert_uint_ge(had, before.snapshot_index);

    /* Restart: the snapshot comes back through restore, then only the blocks after it. */
    member_forget(m);
    member_start(c, 3);
    pthread_mutex_lock(&m->lock);
    ck_assert_uint_ge(m->restored_index, before.snapshot_index);
    ck_assert_uint_eq(m->replayed, had - m->restored_index);
    ck_assert_uint_eq(m->blocks, had);
    pthread_mutex_unlock(&m->lock);

    /* It goes on with the others. Then member 2 stops while the others commit far more
       blocks than they keep: on restart it is behind every peer's log. */
    commit_entries(c, "later", 20, all_members, 4, 0xf);
    member_stop(c, 2);
    uint64_t stopped_at = c->m[2].blocks;
    static const int three[] = {0, 1, 3};
    commit_entries(c, "while-2-down", 10, three, 3, 0xb);
    for (uint64_t t0 = now_ms();;) {
        bool gone = true; /* no member keeps the block after the ones member 2 has */
        for (int i = 0; i < 3; i++) {
            struct bft_node_status st = {0};
            bft_node_get_status(c->m[three[i]].node, &st);
            gone = gone && st.first_index > stopped_at + 1 && st.snapshot_index > stopped_at;
        }
        if (gone) break;
        keep_busy(c, 0, &busy);
        ck_assert_msg(now_ms() - t0 < WAIT_MS, "the members still keep block %llu", (unsigned long long)stopped_at + 1);
        sleep_ms(10);
    }
    /* Down long enough that the others keep no frames for it (QUEUE_WHILE_DOWN_MS, 1 s): it
       cannot catch up from certificates queued for it either. */
    sleep_ms(1500);
    member_forget(&c->m[2]);
    member_start(c, 2); /* from its own WAL first: a snapshot of its own, then the blocks after it */
    commit_entries(c, "while-2-down", 10, NULL, 0, 0x4);
    commit_entries(c, "last", 10, all_members, 4, 0xf);
    settle_and_check(c, 0xf);
    struct bft_node_status st2 = {0};
    bft_node_get_status(c->m[2].node, &st2);
    ck_assert_msg(st2.snapshots_installed >= 1, "member 2 installed no snapshot: stopped at %llu, restored %llu, "
                  "snapshot %llu, first %llu, committed %llu", (unsigned long long)stopped_at,
                  (unsigned long long)c->m[2].restored_index, (unsigned long long)st2.snapshot_index,
                  (unsigned long long)st2.first_index, (unsigned long long)st2.core.committed_index);
    pthread_mutex_lock(&c->m[2].lock);
    ck_assert_uint_gt(c->m[2].restored_index, stopped_at);
    pthread_mutex_unlock(&c->m[2].lock);
    for (int i = 0; i < N; i++) {
        struct bft_node_status st = {0};
        bft_node_get_status(c->m[i].node, &st);
        ck_assert_uint_gt(c->m[i].snapshots_made, 0);
        ck_assert_uint_eq(st.core.messages_refused, 0);
    }
    /* Every snapshot taken was sealed, on the pool, never on a node's thread. */
    uint64_t made = 0;
    for (int i = 0; i < N; i++) made += c->m[i].snapshots_made;
    ck_assert_uint_ge(atomic_load(&seals_made), made - N); /* the last of each may still be being written */
    ck_assert_uint_gt(atomic_load(&seals_made), 0);
    ck_assert_uint_eq(atomic_load(&seals_on_node_thread), 0);
    uint64_t too_old = 0;
    for (int i = 0; i < 3; i++) {
        bft_node_get_status(c->m[three[i]].node, &st2);
        too_old += st2.sync_too_old;
    }
    ck_assert_uint_ge(too_old, 2); /* member 2 asked for blocks nobody had, and got offers */
    cluster_free(c);
    free(c);
}
END_TEST

/*
 * A compaction that cannot write its new file (the path is taken by a directory) fails:
 * the member logs it, keeps its WAL and goes on committing with the others, and a restart
 * replays that WAL whole.
 */
START_TEST(a_failed_compaction_keeps_the_wal)
{
    struct cluster *c = calloc(1, sizeof *c);
    cluster_init(c, 19070, 8);
    char taken[1100];
    snprintf(taken, sizeof taken, "%s.compact", c->m[1].config.wal_path);
    ck_assert_int_eq(mkdir(taken, 0700), 0);
    for (int i = 0; i < N; i++) {
        c->m[i].config.snapshot = on_snapshot;
        c->m[i].config.snapshot_seal = on_snapshot_seal;
        c->m[i].config.restore = on_restore;
        c->m[i].config.snapshot_every = 16;
        c->m[i].config.core.idle_delay_ms = 10;
        member_start(c, i);
    }
    commit_entries(c, "before", 40, all_members, 4, 0xf);
    int busy = 0;
    for (uint64_t t0 = now_ms();;) { /* the others compact a few times meanwhile */
        struct bft_node_status st = {0};
        bft_node_get_status(c->m[0].node, &st);
        if (st.snapshots >= 2) break;
        keep_busy(c, 0, &busy);
        ck_assert_msg(now_ms() - t0 < WAIT_MS, "member 0 made %llu snapshots", (unsigned long long)st.snapshots);
        sleep_ms(10);
    }
    struct bft_node_status st = {0};
    bft_node_get_status(c->m[1].node, &st);
    ck_assert_uint_eq(st.snapshots, 0);
    ck_assert_uint_eq(st.first_index, 1); /* every block since the start is still in its WAL */
    ck_assert(!st.halted);
    member_stop(c, 1);
    uint64_t had = c->m[1].blocks;
    ck_assert_uint_ge(had, 32);
    ck_assert_uint_gt(c->m[1].snapshots_made, 0); /* the application was asked: the rewrite failed */
    member_forget(&c->m[1]);
    member_start(c, 1);
    pthread_mutex_lock(&c->m[1].lock);
    ck_assert_uint_eq(c->m[1].restored_index, 0);
    ck_assert_uint_eq(c->m[1].replayed, had);
    pthread_mutex_unlock(&c->m[1].lock);
    commit_entries(c, "after", 10, all_members, 4, 0xf);
    settle_and_check(c, 0xf);
    ck_assert_int_eq(rmdir(taken), 0);
    cluster_free(c);
    free(c);
}
END_TEST

START_TEST(the_leader_stops)
{
    struct cluster *c = calloc(1, sizeof *c);
    cluster_init(c, 19020, 3);
    for (int i = 0; i < N; i++) member_start(c, i);
    commit_entries(c, "first", 8, all_members, 4, 0xf);

    struct bft_node_status st;
    bft_node_get_status(c->m[0].node, &st);
    int leader = (int)st.leader;
    member_stop(c, leader);
    int rest[3], k = 0;
    unsigned mask = 0;
    for (int i = 0; i < N; i++)
        if (i != leader) rest[k++] = i, mask |= 1u << i;
    uint64_t took = commit_entries(c, "without-leader", 12, rest, 3, mask);
    ck_assert_msg(took < 10000, "commits took %llu ms after the leader stopped", (unsigned long long)took);
    settle_and_check(c, mask);
    cluster_free(c);
    free(c);
}
END_TEST

/* ---- A stranger on a member's port ---- */

static int dial_raw(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    struct timeval tv = {8, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

/* Sends bytes, then reads until the member closes the link; fails if it does not within 8 s. */
static void expect_disconnect(int port, const uint8_t *bytes, size_t len, const char *what)
{
    int fd = dial_raw(port);
    if (len > 0) ck_assert_int_eq(send(fd, bytes, len, MSG_NOSIGNAL), (ssize_t)len);
    uint8_t buf[512];
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n == 0 || (n < 0 && errno == ECONNRESET)) break;
        ck_assert_msg(n > 0, "%s: the link stayed open (%s)", what, strerror(errno));
    }
    close(fd);
}

static size_t frame(uint8_t *out, const uint8_t *bytes, uint32_t len)
{
    out[0] = (uint8_t)(len >> 24), out[1] = (uint8_t)(len >> 16), out[2] = (uint8_t)(len >> 8), out[3] = (uint8_t)len;
    memcpy(out + 4, bytes, len);
    return 4 + (size_t)len;
}

/* Reads exactly len bytes from fd (within its receive timeout). */
static void read_exactly(int fd, uint8_t *out, size_t len)
{
    for (size_t have = 0; have < len;) {
        ssize_t n = recv(fd, out + have, len - have, 0);
        ck_assert_msg(n > 0, "the member closed the link during the handshake (%s)", n < 0 ? strerror(errno) : "EOF");
        have += (size_t)n;
    }
}

/* True when the member closed fd within ms. */
static bool closed_within(int fd, unsigned ms)
{
    struct timeval tv = {ms / 1000, (long)(ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    uint8_t b;
    ssize_t n = recv(fd, &b, 1, 0);
    return n == 0 || (n < 0 && errno == ECONNRESET);
}

/*
 * A frame after the handshake carries its tag: with member 3 down, the test dials member 0
 * as member 3 (it holds member 3's key), completes the handshake, and sends a frame of junk
 * with the right tag (the core refuses the junk; the link stays), then the same frame again
 * (a replay: its number is past) and one with a flipped byte: each closes the link.
 */
static void frames_need_their_tags(struct cluster *c, int port)
{
    const uint8_t *key3 = c->m[3].config.core.private_key, *key0 = c->m[0].config.core.private_key;
    uint8_t pub0[64], secret[32], key[32], nonce[32], their_nonce[32], buf[256], junk[20];
    struct cohort_error err = {0};
    ck_assert_int_eq(secp_pubkey(key0, pub0, &err), 0);
    ck_assert_int_eq(secp_ecdh(key3, pub0, secret, &err), 0);
    memset(junk, 0x5a, sizeof junk);
    for (int attempt = 0; attempt < 2; attempt++) {
        int fd = dial_raw(port);
        memset(nonce, 0x30 + attempt, sizeof nonce);
        uint8_t hello[BFT_HELLO_BYTES];
        bft_hello_encode(INSTANCE, 3, 0, nonce, hello);
        size_t len = frame(buf, hello, sizeof hello);
        ck_assert_int_eq(send(fd, buf, len, MSG_NOSIGNAL), (ssize_t)len);
        read_exactly(fd, buf, 4 + BFT_HELLO_BYTES + 4 + BFT_AUTH_BYTES); /* its HELLO and AUTH */
        uint16_t from = 99;
        ck_assert_int_eq(bft_hello_decode(buf + 4, BFT_HELLO_BYTES, INSTANCE, 3, N, &from, their_nonce, &err), 0);
        ck_assert_uint_eq(from, 0);
        uint8_t digest[32], auth[BFT_AUTH_BYTES] = {'C', 'B', 'A', '1'};
        bft_auth_digest(INSTANCE, 3, 0, their_nonce, digest);
        ck_assert_int_eq(secp_sign(key3, digest, auth + 4, &err), 0);
        len = frame(buf, auth, sizeof auth);
        ck_assert_int_eq(send(fd, buf, len, MSG_NOSIGNAL), (ssize_t)len);
        bft_frame_key(secret, INSTANCE, 3, 0, nonce, their_nonce, key);
        /* Frame 0, tagged right: taken (and the junk refused by the core), the link stays. */
        uint8_t tagged[sizeof junk + BFT_FRAME_TAG_BYTES];
        memcpy(tagged, junk, sizeof junk);
        bft_frame_tag(key, 0, junk, sizeof junk, tagged + sizeof junk);
        len = frame(buf, tagged, sizeof tagged);
        ck_assert_int_eq(send(fd, buf, len, MSG_NOSIGNAL), (ssize_t)len);
        ck_assert_msg(!closed_within(fd, 300), "a frame with its right tag closed the link");
        /* Then the same frame again (attempt 0), or frame 1 with a flipped byte (attempt 1). */
        if (attempt == 1) {
            bft_frame_tag(key, 1, junk, sizeof junk, tagged + sizeof junk);
            tagged[3] ^= 0x01;
            len = frame(buf, tagged, sizeof tagged);
        }
        ck_assert_int_eq(send(fd, buf, len, MSG_NOSIGNAL), (ssize_t)len);
        ck_assert_msg(closed_within(fd, 3000), "a %s frame left the link open", attempt ? "tampered" : "replayed");
        close(fd);
    }
    explicit_bzero(secret, sizeof secret);
    explicit_bzero(key, sizeof key);
}

/*
 * With member 3 down, a stranger listens on its port: a member dials it and says HELLO,
 * and the stranger answers with a POINTER frame carrying a real commit proof of this log.
 * These nodes take no pointer (config.pointed is NULL): the dialler refuses the frame as a
 * bad HELLO and closes the link, and goes on.
 */
static void a_pointer_nobody_asked_for(struct cluster *c, int port3)
{
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(lfd, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port3)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(lfd, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(listen(lfd, 8), 0);
    struct pollfd p = {.fd = lfd, .events = POLLIN};
    ck_assert_msg(poll(&p, 1, 5000) == 1, "no member dialled member 3's port within 5 s");
    int fd = accept(lfd, NULL, NULL);
    ck_assert_int_ge(fd, 0);
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    uint8_t buf[256], their_nonce[32];
    read_exactly(fd, buf, 4 + BFT_HELLO_BYTES);
    uint16_t from = 99;
    struct cohort_error err = {0};
    ck_assert_int_eq(bft_hello_decode(buf + 4, BFT_HELLO_BYTES, INSTANCE, 3, N, &from, their_nonce, &err), 0);
    struct bft_node_status st;
    bft_node_get_status(c->m[from].node, &st);
    uint64_t refused = st.links_refused;
    /* A real commit proof of this log (member 0's last block): it would verify. */
    static uint8_t pointer[4 + sizeof c->m[0].last_commit], framed[4 + sizeof pointer];
    memcpy(pointer, "CBP1", 4);
    pthread_mutex_lock(&c->m[0].lock);
    size_t proof_len = c->m[0].last_commit_len;
    memcpy(pointer + 4, c->m[0].last_commit, proof_len);
    pthread_mutex_unlock(&c->m[0].lock);
    ck_assert_uint_gt(proof_len, 0);
    size_t len = frame(framed, pointer, 4 + proof_len);
    ck_assert_int_eq(send(fd, framed, len, MSG_NOSIGNAL), (ssize_t)len);
    ck_assert_msg(closed_within(fd, 3000), "member %u kept a link that answered its HELLO with a POINTER", from);
    close(fd);
    close(lfd);
    bft_node_get_status(c->m[from].node, &st);
    ck_assert_uint_gt(st.links_refused, refused);
    ck_assert_uint_eq(st.pointers_received, 0);
}

START_TEST(strangers_are_refused)
{
    struct cluster *c = calloc(1, sizeof *c);
    cluster_init(c, 19030, 4);
    for (int i = 0; i < N; i++) member_start(c, i);
    commit_entries(c, "warm", 4, all_members, 4, 0xf);
    struct bft_node_status st;
    bft_node_get_status(c->m[0].node, &st);
    uint64_t refused = st.links_refused;
    int port = 19030;
    uint8_t buf[256], nonce[32] = {9};
    int attempts = 0;

    /* Garbage: "GET / HTTP/1.1" reads as a frame of 1.2 GB. */
    static const char http[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    expect_disconnect(port, (const uint8_t *)http, sizeof http - 1, "HTTP request"), attempts++;
    /* Garbage in a well-sized frame. */
    static const uint8_t junk[20] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    expect_disconnect(port, buf, frame(buf, junk, sizeof junk), "junk frame"), attempts++;
    /* Oversized frame lengths: the cap, plus one; and the largest u32. */
    uint8_t big[4] = {0, 0x20, 0, 1}; /* BFT_MESSAGE_MAX + 1 */
    expect_disconnect(port, big, 4, "frame over the cap"), attempts++;
    memset(big, 0xff, 4);
    expect_disconnect(port, big, 4, "frame of 4 GB"), attempts++;
    /* A zero-length frame. */
    memset(big, 0, 4);
    expect_disconnect(port, big, 4, "empty frame"), attempts++;
    /* A HELLO of another instance. */
    uint8_t hello[BFT_HELLO_BYTES];
    bft_hello_encode(INSTANCE + 1, 1, 0, nonce, hello);
    expect_disconnect(port, buf, frame(buf, hello, sizeof hello), "HELLO of another instance"), attempts++;
    /* A proper HELLO claiming member 1, then an AUTH it cannot sign with member 1's key. */
    bft_hello_encode(INSTANCE, 1, 0, nonce, hello);
    size_t len = frame(buf, hello, sizeof hello);
    uint8_t auth[BFT_AUTH_BYTES] = {'C', 'B', 'A', '1'};
    memset(auth + 4, 0x11, 65);
    len += frame(buf + len, auth, sizeof auth);
    expect_disconnect(port, buf, len, "forged AUTH"), attempts++;
    /* A proper HELLO, then a message instead of the AUTH. */
    len = frame(buf, hello, sizeof hello);
    static const uint8_t message[100];
    len += frame(buf + len, message, sizeof message);
    expect_disconnect(port, buf, len, "a frame before AUTH"), attempts++;
    /* Silence: the member closes the link after 5 s. */
    uint64_t t = now_ms();
    expect_disconnect(port, NULL, 0, "silent stranger"), attempts++;
    ck_assert_uint_ge(now_ms() - t, 4000);

    bft_node_get_status(c->m[0].node, &st);
    ck_assert_uint_ge(st.links_refused, refused + (uint64_t)attempts);

    /* A flood of silent strangers, more than the member's whole room for accepted links
       (64): past 8 links in their handshake from one address (all are 127.0.0.1 here) the
       oldest of that address goes at once, not after the 5 s handshake timeout; and a member
       that restarts meanwhile still gets in. */
    enum { FLOOD = 256 + 8 };
    int *fds = malloc(FLOOD * sizeof *fds);
    t = now_ms();
    for (int k = 0; k < FLOOD; k++) fds[k] = dial_raw(port);
    for (int k = 0; k < 8; k++) {
        uint8_t b;
        ssize_t n = recv(fds[k], &b, 1, 0);
        ck_assert_msg(n == 0 || (n < 0 && errno == ECONNRESET), "stranger %d: the link stayed open", k);
    }
    ck_assert_uint_lt(now_ms() - t, 3000);
    member_stop(c, 1);
    member_forget(&c->m[1]);
    member_start(c, 1);
    bool in = false;
    while (!in && now_ms() - t < 4000) { /* before the flood's handshakes time out */
        bft_node_get_status(c->m[1].node, &st);
        in = st.peers_connected == N - 1;
        if (!in) usleep(20000);
    }
    ck_assert_msg(in, "member 1 could not connect to every member during the flood (%u peers)", st.peers_connected);
    for (int k = 0; k < FLOOD; k++) close(fds[k]);
    free(fds);

    /* Frames of an open link need their tags (member 3 is impersonated while it is down). */
    member_stop(c, 3);
    frames_need_their_tags(c, port);
    a_pointer_nobody_asked_for(c, port + 3);
    member_forget(&c->m[3]);
    member_start(c, 3);

    /* And the cluster goes on. */
    commit_entries(c, "after-strangers", 8, all_members, 4, 0xf);
    settle_and_check(c, 0xf);
    /* Every member linked to every other again (a dialler whose peer was down for a while
       waits out its backoff, at most 2 s, before it dials again). */
    for (int i = 0; i < N; i++) {
        uint64_t t0 = now_ms();
        do {
            bft_node_get_status(c->m[i].node, &st);
            if (st.peers_connected != N - 1) sleep_ms(50);
        } while (st.peers_connected != N - 1 && now_ms() - t0 < 5000);
        ck_assert_msg(st.peers_connected == N - 1, "member %d is linked to %u members", i, st.peers_connected);
    }
    cluster_free(c);
    free(c);
}
END_TEST

START_TEST(an_equivocating_leader)
{
    struct cluster *c = calloc(1, sizeof *c);
    cluster_init(c, 19040, 5);
    c->m[1].config.equivocate = true;
    for (int i = 0; i < N; i++) member_start(c, i);
    static const int honest[] = {0, 2, 3};
    commit_entries(c, "honest", 30, honest, 3, 0xd);
    /* Let member 1 lead (and equivocate) at a dozen heights, then check the log goes on. */
    struct bft_node_status st;
    uint64_t start = now_ms();
    int busy = 0;
    do {
        ck_assert_msg(now_ms() - start < WAIT_MS, "member 1 never equivocated");
        keep_busy(c, 0, &busy); /* heights go by only with entries */
        sleep_ms(10);
        bft_node_get_status(c->m[1].node, &st);
    } while (st.proposals_equivocated < 12);
    commit_entries(c, "more", 10, all_members, 4, 0xd);
    settle_and_check(c, 0xd);
    cluster_free(c);
    free(c);
}
END_TEST

/*
 * A new epoch (docs/bft.md "Membership changes"): four members commit, then every member of
 * the next epoch, one of them a new key in place of member 3, seeds a new WAL with the
 * tip and the state where the last epoch ended (bft_node_seed_wal) and starts with another
 * instance. The log goes on from that tip: the first block's parent is it, the indexes
 * continue, and the new member holds everything the old epoch committed.
 */
/* Epoch 0's change proof, which epoch 1's members give a peer that says HELLO with epoch 0's instance. */
static uint8_t change_proof[16384];
static size_t change_proof_len;
static struct member *lying_member; /* gives a proof with one byte changed */

static size_t on_pointer(void *arg, uint64_t instance, uint8_t *out, size_t cap)
{
    if (instance != INSTANCE || change_proof_len == 0) return 0;
    if (change_proof_len > cap) return change_proof_len; /* the node asks for the length first */
    memcpy(out, change_proof, change_proof_len);
    if (arg == lying_member) out[change_proof_len / 2] ^= 0x40;
    return change_proof_len;
}

static void on_pointed(void *arg, const struct bft_commit *commit)
{
    struct member *m = arg;
    pthread_mutex_lock(&m->lock);
    m->pointed++;
    memcpy(m->pointed_hash, commit->hash, 32);
    pthread_mutex_unlock(&m->lock);
}

START_TEST(a_new_epoch_goes_on_from_a_seeded_wal)
{
    struct cluster *c = calloc(1, sizeof *c);
    cluster_init(c, 19080, 9);
    for (int i = 0; i < N; i++) member_start(c, i);
    commit_entries(c, "epoch0", 30, all_members, 4, 0xf);
    settle_and_check(c, 0xf);
    for (int i = 0; i < N; i++) member_stop(c, i);
    /* Where epoch 0 ends: member 0's committed tip and its state there. */
    struct member *m0 = &c->m[0];
    uint64_t index = m0->blocks, height = m0->height;
    uint8_t tip[32], *bytes = NULL;
    memcpy(tip, m0->hash[index], 32);
    size_t len = 0;
    ck_assert_int_eq(on_snapshot(m0, index, &bytes, &len), 0);
    on_snapshot_seal(bytes, len);
    on_node_thread = false; /* (this is the test's thread, not a node's) */
    ck_assert_uint_ge(index, 2);
    ck_assert_uint_ge(height, index);
    ck_assert_uint_gt(m0->last_commit_len, 0);
    memcpy(change_proof, m0->last_commit, m0->last_commit_len);
    change_proof_len = m0->last_commit_len;
    /* Member 3 of epoch 0, which will not be in epoch 1: it comes back later, as of epoch 0. */
    static struct member late;
    memset(&late, 0, sizeof late);
    pthread_mutex_init(&late.lock, NULL);
    late.config = c->m[3].config;
    late.config.arg = &late;
    late.config.pointed = on_pointed;
    snprintf(late.config.wal_path, sizeof late.config.wal_path, "%s/late.wal", c->dir);
    for (int k = 0; k < N - 1; k++) snprintf(late.config.endpoint[k], BFT_ENDPOINT_MAX, "127.0.0.1:%d", 19090 + k);

    uint8_t key[32];
    uint64_t seed = 0xE90C;
    do testutil_rand_bytes(&seed, key, 32);
    while (secp_private_key_check(key, NULL) != 0);
    uint8_t address[20];
    ck_assert_int_eq(secp_address_from_secret(key, address, NULL), 0);
    struct cohort_error err = {0};
    for (int i = 0; i < N; i++) {
        struct bft_node_config *cfg = &c->m[i].config;
        cfg->core.instance = INSTANCE + 1;
        memcpy(cfg->core.members.address[3], address, 20);
        if (i == 3) memcpy(cfg->core.private_key, key, 32);
        for (int k = 0; k < N; k++) snprintf(cfg->endpoint[k], BFT_ENDPOINT_MAX, "127.0.0.1:%d", 19090 + k);
        snprintf(cfg->wal_path, sizeof cfg->wal_path, "%s/member-%d-epoch1.wal", c->dir, i);
        cfg->snapshot = on_snapshot; /* the seed is a snapshot: the node restores it */
        cfg->snapshot_seal = on_snapshot_seal;
        cfg->restore = on_restore;
        cfg->pointer = on_pointer;
        ck_assert_msg(bft_node_seed_wal(cfg->wal_path, index, height, tip, bytes, len, &err) == 0, "%s", err.message);
        member_forget(&c->m[i]); /* the state comes from the seed */
    }
    explicit_bzero(key, sizeof key);
    /* A WAL is seeded once; a bad tip is refused. */
    ck_assert_int_eq(bft_node_seed_wal(c->m[0].config.wal_path, index, height, tip, bytes, len, &err), BFT_E_INVALID);
    ck_assert_ptr_nonnull(strstr(err.message, "member-0-epoch1.wal"));
    char other[1100];
    snprintf(other, sizeof other, "%s/unused.wal", c->dir);
    ck_assert_int_eq(bft_node_seed_wal(other, index, index - 1, tip, bytes, len, &err), BFT_E_INVALID);
    ck_assert_int_eq(access(other, F_OK), -1);
    free(bytes);

    for (int i = 0; i < N; i++) {
        member_start(c, i);
        ck_assert_uint_eq(c->m[i].restored_index, index);
        ck_assert_uint_eq(c->m[i].blocks, index);
    }
    commit_entries(c, "epoch1", 30, all_members, 4, 0xf);
    settle_and_check(c, 0xf);
    bool seen[30];
    for (int i = 0; i < N; i++) {
        struct member *m = &c->m[i];
        ck_assert_int_eq(committed_of(m, "epoch0", 30, seen), 30); /* the new member too: from the seed */
        pthread_mutex_lock(&m->lock);
        ck_assert_uint_gt(m->blocks, index);
        ck_assert_msg(memcmp(m->parent_after_restore, tip, 32) == 0, "member %d: the first block of the epoch does "
                      "not extend the tip", i);
        ck_assert_uint_eq(m->parent_height_after_restore, height);
        ck_assert_uint_eq(m->order_errors, 0);
        pthread_mutex_unlock(&m->lock);
        struct bft_node_status st;
        for (uint64_t t0 = now_ms();; sleep_ms(10)) { /* links made while the others started come up with retries */
            bft_node_get_status(m->node, &st);
            if (st.peers_connected == N - 1 || now_ms() - t0 > WAIT_MS) break;
        }
        ck_assert_uint_eq(st.peers_connected, N - 1);
        ck_assert_uint_eq(st.links_refused, 0);
        ck_assert(!st.halted);
    }
    /* The member left behind dials epoch 1's members with epoch 0's HELLO: they answer with
       the change proof, which it verifies against epoch 0's members; member 2's copy has a
       byte changed, which it refuses. */
    lying_member = &c->m[2];
    struct bft_node *late_node = NULL;
    ck_assert_msg(bft_node_start(&late.config, &late_node, &err) == 0, "%s", err.message);
    struct bft_node_status lst;
    for (uint64_t t0 = now_ms();; sleep_ms(10)) {
        bft_node_get_status(late_node, &lst);
        pthread_mutex_lock(&late.lock);
        uint64_t pointed = late.pointed;
        pthread_mutex_unlock(&late.lock);
        if ((pointed >= 2 && lst.links_refused >= 1) || now_ms() - t0 > WAIT_MS) break;
    }
    bft_node_stop(late_node);
    ck_assert_uint_ge(late.pointed, 2);
    ck_assert_uint_ge(lst.pointers_received, 2);
    ck_assert_uint_ge(lst.links_refused, 1);
    ck_assert_mem_eq(late.pointed_hash, tip, 32);
    uint64_t sent = 0;
    for (int i = 0; i < N - 1; i++) {
        struct bft_node_status st;
        bft_node_get_status(c->m[i].node, &st);
        sent += st.pointers_sent;
    }
    ck_assert_uint_ge(sent, 3);
    unlink(late.config.wal_path);
    free(late.hash);
    free(late.entries);
    pthread_mutex_destroy(&late.lock);
    lying_member = NULL;
    change_proof_len = 0;
    for (int i = 0; i < N; i++) {
        member_stop(c, i);
        unlink(c->m[i].config.wal_path);
    }
    cluster_free(c);
    free(c);
}
END_TEST

/* ---- An application that keeps one entry waiting at a time (config.held) ---- */

#define CHAIN_ENTRIES 30

/* Member 1's application: it submits "next-<k+1>" as soon as a block carries "next-<k>",
   from config.held, before that block is committed. Under member 1's lock. */
static struct {
    int submitted;               /* "next-0" .. "next-<submitted - 1>" */
    int held_calls;
    int before_commit;           /* submissions made before their predecessor was committed here */
    bool stranger_held;          /* bft_node_entry_held said yes for an entry nobody submitted */
} chain;

static bool committed_here(struct member *m, const char *entry)
{
    for (size_t e = 0; e < m->entry_count; e++)
        if (strcmp(m->entries[e], entry) == 0) return true;
    return false;
}

static void on_held(void *arg, struct bft_node *node)
{
    struct member *m = arg;
    pthread_mutex_lock(&m->lock);
    chain.held_calls++;
    char entry[ENTRY_MAX];
    int len = snprintf(entry, sizeof entry, "next-%d", CHAIN_ENTRIES + 1);
    if (bft_node_entry_held(node, (const uint8_t *)entry, (size_t)len)) chain.stranger_held = true;
    len = snprintf(entry, sizeof entry, "next-%d", chain.submitted - 1);
    if (chain.submitted < CHAIN_ENTRIES && bft_node_entry_held(node, (const uint8_t *)entry, (size_t)len)) {
        if (!committed_here(m, entry)) chain.before_commit++;
        len = snprintf(entry, sizeof entry, "next-%d", chain.submitted);
        struct cohort_error err = {0};
        if (bft_node_submit(node, (const uint8_t *)entry, (size_t)len, &err) == 0) chain.submitted++;
    }
    pthread_mutex_unlock(&m->lock);
}

START_TEST(the_next_entry_goes_when_a_block_carries_the_last)
{
    struct cluster *c = calloc(1, sizeof *c);
    cluster_init(c, 19100, 10);
    c->m[1].config.held = on_held;
    for (int i = 0; i < N; i++) member_start(c, i);
    commit_entries(c, "warm", 4, all_members, 4, 0xf); /* every link is up */
    pthread_mutex_lock(&c->m[1].lock);
    chain.submitted = 1;
    ck_assert_int_eq(submit_one(&c->m[1], "next", 0), 0);
    pthread_mutex_unlock(&c->m[1].lock);
    uint64_t start = now_ms();
    for (;;) {
        pthread_mutex_lock(&c->m[1].lock);
        int submitted = chain.submitted;
        pthread_mutex_unlock(&c->m[1].lock);
        if (submitted == CHAIN_ENTRIES) break;
        ck_assert_msg(now_ms() - start < WAIT_MS, "config.held submitted %d of %d entries within %d ms", submitted,
                      CHAIN_ENTRIES, WAIT_MS);
        sleep_ms(10);
    }
    /* All of them commit everywhere (a block that was not committed loses its entry: the
       waiter submits again what member 1 lacks). */
    commit_entries(c, "next", CHAIN_ENTRIES, (const int[]){1}, 1, 0xf);
    settle_and_check(c, 0xf);
    pthread_mutex_lock(&c->m[1].lock);
    /* Every entry after the first went while a block carried the one before it and before
       that block was committed: the hook ran between the two. */
    ck_assert_int_eq(chain.before_commit, CHAIN_ENTRIES - 1);
    ck_assert_int_ge(chain.held_calls, CHAIN_ENTRIES - 1);
    ck_assert(!chain.stranger_held);
    pthread_mutex_unlock(&c->m[1].lock);
    /* Its submissions were handed to the core at once: none waits in the queue. */
    struct bft_node_status st;
    bft_node_get_status(c->m[1].node, &st);
    ck_assert_uint_eq(st.submits_pending, 0);
    cluster_free(c);
    free(c);
}
END_TEST

START_TEST(stop_right_after_start)
{
    struct cluster *c = calloc(1, sizeof *c);
    cluster_init(c, 19050, 6);
    for (int round = 0; round < 3; round++) {
        member_start(c, 0);
        if (round == 1) submit_one(&c->m[0], "x", 1);
        member_stop(c, 0);
    }
    /* The port is free again and another start binds it. */
    member_start(c, 0);
    struct bft_node *second = NULL;
    struct cohort_error err = {0};
    ck_assert_int_eq(bft_node_start(&c->m[0].config, &second, &err), BFT_E_IO);
    ck_assert_ptr_nonnull(strstr(err.message, "127.0.0.1:19050"));
    cluster_free(c);
    free(c);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("bft_node");
    TCase *tc = tcase_create("bft_node");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, four_members_commit_one_log);
    tcase_add_test(tc, a_member_restarts_from_its_wal);
    tcase_add_test(tc, the_leader_stops);
    tcase_add_test(tc, the_wal_is_compacted);
    tcase_add_test(tc, a_failed_compaction_keeps_the_wal);
    tcase_add_test(tc, strangers_are_refused);
    tcase_add_test(tc, an_equivocating_leader);
    tcase_add_test(tc, stop_right_after_start);
    tcase_add_test(tc, a_new_epoch_goes_on_from_a_seeded_wal);
    tcase_add_test(tc, the_next_entry_goes_when_a_block_carries_the_last);
    suite_add_tcase(s, tc);
    return testutil_run_suite(s, false);
}
