/*
 * sim.c - the deterministic simulator (see sim.h): virtual time, a seeded network, crashes
 * with lossy storage, and Byzantine members, around the production bft_core.
 *
 * Unlike the core, the simulator allocates freely (message copies, growing logs): it is a
 * test harness. Every random choice comes from one splitmix64 stream seeded by the seed,
 * and events at one virtual time run in the order they were scheduled, so a seed replays
 * exactly.
 */
#include "bft/sim.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bft/bft.h"
#include "common/keccak.h"
#include "common/secp.h"

#define MAX_NODES (BFT_MEMBERS_MAX + 1) /* the members, and one Twin */
#define PAYLOAD_MAX 4096
#define WINDOW BFT_WINDOW_MAX
#define CAPTURE_MAX 64
#define SEND_BUFFER (BFT_MESSAGE_MAX)

enum byzantine {
    HONEST = 0,
    EQUIVOCATE,  /* as leader, sends different blocks to different members */
    DOUBLE_VOTE, /* sends conflicting votes to different members */
    FORGER,      /* injects forged signatures, impersonations, bad certificates, replays, garbage */
    TWINS,       /* two copies of the member, same key, each talking to half the others */
    SILENT,      /* sends nothing at all */
    BYZANTINE_KINDS
};

static const char *const byzantine_names[] = {"honest", "equivocate", "double-vote", "forger", "twins", "silent"};

enum event_kind {
    EV_DELIVER, EV_TIMER, EV_SUBMIT, EV_CRASH, EV_RESTART, EV_PARTITION, EV_HEAL, EV_FORGE, EV_PEER, EV_MARK,
    EV_REJOIN, /* a member that lost its storage submits its rejoin entry again, while not committed */
    EV_CHANGE,  /* BFT_SIM_MIX_RECONFIGURE: the admin submits the change to epoch .height, again until it is made */
    EV_POINTER, /* a member of a later epoch answers a message of epoch .height with its change proof */
    EV_JOIN,    /* the newcomer starts in the epoch that adds it */
    EV_TIP,     /* node .len's height (a lie if it is Byzantine) reaches .node as a link opens (BFT_EVENT_TIP) */
};

/* BFT_SIM_MIX_RECONFIGURE (docs/bft.md "Membership changes"): epoch 1 adds the outsider's
   key as a member, epoch 2 removes one of the first members. A change is an entry; the block
   that carries it ends the epoch at every member, which starts the next one's core on a log
   that begins at that block (a BASE record). */
#define EPOCHS_MAX 3
#define CHANGE_ENTRY_BYTES 16 /* "change!" | epoch u8 | 8 random bytes */
#define CHANGE_EVERY_MS 30

struct sim_epoch {
    struct bft_config config;          /* instance and members (self and key set per node) */
    uint32_t key_of[BFT_MEMBERS_MAX];  /* each member's key index */
    bool ended;                        /* a member committed the change that ends it */
    uint64_t change_index, change_height;
    uint8_t change_hash[BFT_HASH_BYTES];
    uint8_t *proof;                    /* that block's commit record: what a later member points with */
    size_t proof_len;
};

#define REJOIN_ENTRY_BYTES 24 /* "rejoin" | member u8 | boot u8 | 16 random bytes */
#define REJOIN_EVERY_MS 40

#define IDLE_SETTLE_MS 5000 /* after the liveness goal, without submissions: time to settle */
#define IDLE_WINDOW_MS 10000 /* then this long without a record or a message */

struct event {
    uint64_t time, seq;
    enum event_kind kind;
    int node;
    uint64_t height;   /* TIMER */
    uint64_t token;    /* TIMER: the node's timer token when armed */
    uint8_t timer;     /* TIMER: enum bft_timer */
    uint8_t *bytes;    /* DELIVER: owned by the event */
    size_t len;
};

struct vote_history { /* what an honest member said at one height, across its crashes */
    bool notarized, nullified, finalized, proposed;
    uint32_t proposed_boot; /* the boot of the member that proposed: proposals are checked per boot */
    uint8_t notarize_hash[BFT_HASH_BYTES], proposal_hash[BFT_HASH_BYTES];
};

struct node {
    uint32_t member;       /* its index among the members of its epoch */
    uint32_t key;          /* its key's index in sim.keys: its identity across epochs */
    uint32_t epoch;        /* the epoch its core runs (RECONFIGURE; else 0) */
    bool retired;          /* no member of its epoch (removed): down for good */
    bool lingering;        /* removed by the change it committed: its old epoch's core stays up, applying
                              nothing, for the members still there (docs/bft.md "Membership changes") */
    bool waiting_to_join;  /* the newcomer, before the epoch that adds it */
    bool pointed;          /* a change proof is on its way to it */
    uint64_t base_index;   /* its storage begins after this index (the change block of its epoch's start) */
    enum byzantine kind;
    bool up;
    struct bft_core *core;
    uint64_t timer_token[BFT_TIMERS]; /* per enum bft_timer: a later SET_TIMER of that kind replaces the armed one */
    int side;              /* TWINS: which twin a member talks to (0 or 1) */
    int group;             /* partition group */
    bool crash_armed;      /* crash partway through the next step */
    uint32_t boots;        /* starts so far: a proposal may differ across a crash, never within a boot */
    /* storage: the bytes written, and how many of them a crash keeps for sure */
    uint8_t *disk;
    size_t disk_len, disk_cap, synced_len;
    bool dirty;
    /* the committed log as this node's storage holds it: record offsets and block hashes */
    size_t *commit_offset, *commit_len;
    uint8_t (*commit_hash)[BFT_HASH_BYTES];
    size_t commit_cap;
    uint64_t committed; /* entries committed and durable */
    uint64_t records, sends; /* WAL records appended and messages sent: an idle log adds none */
    /* Lost its storage (BFT_SIM_MIX_WIPE): signs nothing until a block carries this entry
       (docs/bft.md "Rejoining"), as the chain's subnodes do. */
    bool rejoining;
    uint8_t rejoin_entry[REJOIN_ENTRY_BYTES];
    uint32_t wipes;
};

struct sim {
    uint64_t rng;
    const struct bft_sim_options *options;
    struct bft_sim_result *result;
    uint32_t n, node_count;
    int twin; /* the node index of the second twin, or -1 */
    struct node nodes[MAX_NODES];
    uint8_t keys[BFT_MEMBERS_MAX + 1][BFT_PRIVATE_KEY_BYTES]; /* members, then one outsider */
    uint8_t fast_addresses[BFT_MEMBERS_MAX + 1][BFT_ADDRESS_BYTES]; /* fast_address of each key */
    struct bft_members members;
    struct bft_scheme scheme;
    bool use_scheme;
    struct bft_config config;

    struct event *heap;
    size_t heap_len, heap_cap;
    uint64_t now, seq;

    /* network */
    uint32_t delay_max_ms;
    uint32_t drop_percent, duplicate_percent;
    bool chaos;       /* before the heal */
    bool partitioned;
    bool submitting;  /* clients still submit entries (until the idle check) */

    /* checks */
    uint8_t (*global_hash)[BFT_HASH_BYTES];
    bool *global_known; /* an honest member committed that index, or a change proof vouched for it */
    size_t global_len, global_cap; /* global_len: 1 + the highest index known */
    struct vote_history *history[EPOCHS_MAX][BFT_MEMBERS_MAX + 1]; /* by epoch and key */
    size_t history_cap[EPOCHS_MAX][BFT_MEMBERS_MAX + 1];
    struct sim_epoch epochs[EPOCHS_MAX];
    uint32_t epochs_planned;  /* RECONFIGURE: 2; else 0 */
    int newcomer;             /* RECONFIGURE: the node of the outsider's key; else -1 */
    uint64_t switches;        /* epoch switches made (by the change block, or by a proof) */
    uint64_t switches_by_proof;
    bool failed;

    /* Byzantine material */
    uint8_t *captured[CAPTURE_MAX];
    size_t captured_len[CAPTURE_MAX];
    size_t capture_next;
    uint8_t *send_buffer;
    struct bft_message scratch;
    uint8_t payload[PAYLOAD_MAX];          /* an equivocating leader's second block */
    uint8_t record[PAYLOAD_MAX + 16384 + BFT_PATH_MAX * BFT_HEADER_BYTES]; /* a COMMIT record being written */
};

/* ---- Randomness and failure ---- */

static uint64_t rnd(struct sim *s)
{
    uint64_t z = (s->rng += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t rnd_below(struct sim *s, uint64_t bound)
{
    assert(bound > 0);
    return rnd(s) % bound;
}

__attribute__((format(printf, 2, 3))) static void fail(struct sim *s, const char *fmt, ...)
{
    if (s->failed) return;
    s->failed = true;
    int off = snprintf(s->result->failure, sizeof s->result->failure, "t=%llums: ", (unsigned long long)s->now);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->result->failure + off, sizeof s->result->failure - (size_t)off, fmt, ap);
    va_end(ap);
}

static void *xrealloc(void *p, size_t size)
{
    void *q = realloc(p, size);
    if (q == NULL) abort(); /* a test harness out of memory cannot go on */
    return q;
}

/* ---- The fast signature scheme: a keyed hash that names its signer ---- */

/*
 * signature = keccak256(key || hash) (32) || address (20) || 13 zero bytes. Recovery finds
 * the key of the named address among the simulation's keys and recomputes the hash, so
 * a signature verifies only if made with that key over that hash: the property the core
 * relies on, at a thousandth of the cost of secp256k1.
 */
static void fast_address(const uint8_t key[BFT_PRIVATE_KEY_BYTES], uint8_t address[BFT_ADDRESS_BYTES])
{
    uint8_t h[32];
    keccak256(key, BFT_PRIVATE_KEY_BYTES, h);
    memcpy(address, h + 12, BFT_ADDRESS_BYTES);
}

static void fast_mac(const uint8_t key[BFT_PRIVATE_KEY_BYTES], const uint8_t hash[32], uint8_t out[32])
{
    uint8_t buf[64];
    memcpy(buf, key, 32);
    memcpy(buf + 32, hash, 32);
    keccak256(buf, sizeof buf, out);
}

static int fast_sign(const void *ctx, const uint8_t key[BFT_PRIVATE_KEY_BYTES], const uint8_t hash[32],
                     uint8_t sig[BFT_SIGNATURE_BYTES])
{
    (void)ctx;
    memset(sig, 0, BFT_SIGNATURE_BYTES);
    fast_mac(key, hash, sig);
    fast_address(key, sig + 32);
    return 0;
}

static int fast_recover(const void *ctx, const uint8_t hash[32], const uint8_t sig[BFT_SIGNATURE_BYTES],
                        uint8_t address[BFT_ADDRESS_BYTES])
{
    const struct sim *s = ctx;
    for (int i = 52; i < BFT_SIGNATURE_BYTES; i++)
        if (sig[i] != 0) return BFT_E_SIGNATURE;
    for (uint32_t k = 0; k <= s->n; k++) {
        uint8_t mac[32];
        if (memcmp(s->fast_addresses[k], sig + 32, BFT_ADDRESS_BYTES) != 0) continue;
        fast_mac(s->keys[k], hash, mac);
        if (memcmp(mac, sig, 32) != 0) return BFT_E_SIGNATURE;
        memcpy(address, s->fast_addresses[k], BFT_ADDRESS_BYTES);
        return 0;
    }
    return BFT_E_SIGNATURE;
}

/* ---- Events ---- */

static bool before(const struct event *a, const struct event *b)
{
    return a->time != b->time ? a->time < b->time : a->seq < b->seq;
}

static void schedule(struct sim *s, struct event ev)
{
    if (s->heap_len == s->heap_cap) {
        s->heap_cap = s->heap_cap ? 2 * s->heap_cap : 1024;
        s->heap = xrealloc(s->heap, s->heap_cap * sizeof *s->heap);
    }
    ev.seq = s->seq++;
    size_t i = s->heap_len++;
    while (i > 0 && before(&ev, &s->heap[(i - 1) / 2])) {
        s->heap[i] = s->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    s->heap[i] = ev;
}

static struct event pop(struct sim *s)
{
    assert(s->heap_len > 0);
    struct event top = s->heap[0];
    struct event last = s->heap[--s->heap_len];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= s->heap_len) break;
        if (c + 1 < s->heap_len && before(&s->heap[c + 1], &s->heap[c])) c++;
        if (!before(&s->heap[c], &last)) break;
        s->heap[i] = s->heap[c];
        i = c;
    }
    if (s->heap_len > 0) s->heap[i] = last;
    return top;
}

/* ---- Network ---- */

/* Can a message go from node a to node b right now? */
static bool linked(const struct sim *s, int a, int b)
{
    const struct node *na = &s->nodes[a], *nb = &s->nodes[b];
    if (na->key == nb->key) return false;
    if (s->partitioned && na->group != nb->group) return false;
    /* A Twin talks only with its side: node twin with side 1, the original with side 0. */
    if (na->kind == TWINS) return nb->side == (a == s->twin ? 1 : 0);
    if (nb->kind == TWINS) return na->side == (b == s->twin ? 1 : 0);
    return true;
}

static void capture(struct sim *s, const uint8_t *bytes, size_t len)
{
    if (len > 8192 || rnd_below(s, 8) != 0) return;
    size_t i = s->capture_next++ % CAPTURE_MAX;
    free(s->captured[i]);
    s->captured[i] = xrealloc(NULL, len);
    memcpy(s->captured[i], bytes, len);
    s->captured_len[i] = len;
}

/* Puts one copy of bytes on the wire from node a to node b, with the network's whims. */
static void transmit(struct sim *s, int a, int b, const uint8_t *bytes, size_t len)
{
    if (!linked(s, a, b)) return;
    struct node *na = &s->nodes[a], *nb = &s->nodes[b];
    if (na->epoch != nb->epoch) {
        /* Another epoch's instance: the link's HELLO would say so. A member of a later epoch
           answers with the proof that ended the sender's (the node's pointer); an older one
           has nothing to say. */
        if (na->epoch < nb->epoch && nb->up && nb->kind != SILENT && !na->pointed && s->epochs[na->epoch].ended) {
            na->pointed = true;
            schedule(s, (struct event){.kind = EV_POINTER, .node = a, .height = na->epoch,
                                       .time = s->now + 1 + rnd_below(s, 2 * s->delay_max_ms)});
        }
        return;
    }
    if (s->chaos && rnd_below(s, 100) < s->drop_percent) return;
    int copies = (s->chaos && rnd_below(s, 100) < s->duplicate_percent) ? 2 : 1;
    for (int c = 0; c < copies; c++) {
        struct event ev = {0};
        ev.kind = EV_DELIVER;
        ev.node = b;
        ev.time = s->now + 1 + rnd_below(s, s->delay_max_ms);
        ev.bytes = xrealloc(NULL, len);
        memcpy(ev.bytes, bytes, len);
        ev.len = len;
        schedule(s, ev);
    }
    capture(s, bytes, len);
}

/* Sends from node a to member peer (every node of that member it is linked with). */
static void send_to_member(struct sim *s, int a, uint32_t peer, const uint8_t *bytes, size_t len)
{
    for (uint32_t b = 0; b < s->node_count; b++)
        if (s->nodes[b].member == peer && s->nodes[b].epoch == s->nodes[a].epoch) transmit(s, a, (int)b, bytes, len);
}

/* ---- Checks on what honest members say ---- */

/* What the node of key said at height in epoch (an epoch is another instance: its votes are others). */
static struct vote_history *history_at(struct sim *s, uint32_t epoch, uint32_t key, uint64_t height)
{
    struct vote_history **h = &s->history[epoch][key];
    size_t *have = &s->history_cap[epoch][key];
    if (height >= *have) {
        size_t cap = *have ? *have : 256;
        while (cap <= height) cap *= 2;
        *h = xrealloc(*h, cap * sizeof **h);
        memset(*h + *have, 0, (cap - *have) * sizeof **h);
        *have = cap;
    }
    return &(*h)[height];
}

/* An honest member's message leaves it: it must not contradict anything it said before. */
static void check_outgoing(struct sim *s, int a, const uint8_t *bytes, size_t len)
{
    struct node *nd = &s->nodes[a];
    if (nd->kind != HONEST) return;
    struct bft_message *m = &s->scratch;
    struct cohort_error err;
    if (bft_message_decode(bytes, len, PAYLOAD_MAX, m, &err) < 0) {
        fail(s, "member %u sent a message that does not decode: %s", nd->member, err.message);
        return;
    }
    if (m->type == BFT_MSG_PROPOSE) {
        struct vote_history *h = history_at(s, nd->epoch, nd->key, m->commit.block.header.height);
        /* A proposal leaves before its record is durable (it is no vote: docs/bft.md), so a
           member that crashed may propose anew at that height; within one boot, never. */
        if (h->proposed && h->proposed_boot == nd->boots &&
            memcmp(h->proposal_hash, m->commit.hash, BFT_HASH_BYTES) != 0)
            fail(s, "member %u proposed two blocks at height %llu", nd->member,
                 (unsigned long long)m->commit.block.header.height);
        h->proposed = true;
        h->proposed_boot = nd->boots;
        memcpy(h->proposal_hash, m->commit.hash, BFT_HASH_BYTES);
    }
    if (m->type != BFT_MSG_VOTE) return;
    struct vote_history *h = history_at(s, nd->epoch, nd->key, m->vote.height);
    switch (m->vote.kind) {
    case BFT_VOTE_NOTARIZE:
        if (h->notarized && memcmp(h->notarize_hash, m->vote.hash, BFT_HASH_BYTES) != 0)
            fail(s, "member %u voted for two blocks at height %llu", nd->member, (unsigned long long)m->vote.height);
        h->notarized = true;
        memcpy(h->notarize_hash, m->vote.hash, BFT_HASH_BYTES);
        break;
    case BFT_VOTE_NULLIFY:
        if (h->finalized) fail(s, "member %u nullified height %llu after finalizing it", nd->member,
                               (unsigned long long)m->vote.height);
        h->nullified = true;
        break;
    case BFT_VOTE_FINALIZE:
        if (h->nullified) fail(s, "member %u finalized height %llu after nullifying it", nd->member,
                               (unsigned long long)m->vote.height);
        h->finalized = true;
        break;
    }
}

/* ---- Storage ---- */

static void disk_append(struct node *nd, uint8_t type, const uint8_t *payload, size_t len)
{
    size_t need = nd->disk_len + BFT_WAL_HEADER_BYTES + len;
    if (need > nd->disk_cap) {
        nd->disk_cap = need * 2;
        nd->disk = xrealloc(nd->disk, nd->disk_cap);
    }
    bft_wal_record_header(type, payload, len, nd->disk + nd->disk_len);
    memcpy(nd->disk + nd->disk_len + BFT_WAL_HEADER_BYTES, payload, len);
    nd->disk_len = need;
    nd->dirty = true;
}

static void disk_sync(struct node *nd)
{
    nd->synced_len = nd->disk_len;
    nd->dirty = false;
}

static void remember_commit(struct sim *s, struct node *nd, uint64_t index, size_t offset, size_t len,
                            const uint8_t hash[BFT_HASH_BYTES])
{
    if (index >= nd->commit_cap) {
        size_t cap = nd->commit_cap ? nd->commit_cap * 2 : 256;
        while (cap <= index) cap *= 2;
        nd->commit_offset = xrealloc(nd->commit_offset, cap * sizeof *nd->commit_offset);
        nd->commit_len = xrealloc(nd->commit_len, cap * sizeof *nd->commit_len);
        nd->commit_hash = xrealloc(nd->commit_hash, cap * sizeof *nd->commit_hash);
        nd->commit_cap = cap;
    }
    nd->commit_offset[index] = offset;
    nd->commit_len[index] = len;
    memcpy(nd->commit_hash[index], hash, BFT_HASH_BYTES);
    (void)s;
}

/*
 * Safety: this index must hold the same block at every honest member. An honest member
 * commits index i only after i - 1 is known (someone committed it), or right after the
 * block its storage begins at (its epoch's start); vouched: a change proof's block, which a
 * member that missed the change takes as its epoch's start.
 */
static void check_commit_at(struct sim *s, struct node *nd, uint64_t index, const uint8_t hash[BFT_HASH_BYTES],
                            bool vouched)
{
    if (nd->kind != HONEST) return;
    if (index >= s->global_cap) {
        size_t cap = s->global_cap ? s->global_cap * 2 : 256;
        while (cap <= index) cap *= 2;
        s->global_hash = xrealloc(s->global_hash, cap * sizeof *s->global_hash);
        s->global_known = xrealloc(s->global_known, cap * sizeof *s->global_known);
        memset(s->global_known + s->global_cap, 0, (cap - s->global_cap) * sizeof *s->global_known);
        s->global_cap = cap;
    }
    if (s->global_known[index]) {
        if (memcmp(s->global_hash[index], hash, BFT_HASH_BYTES) != 0)
            fail(s, "SAFETY: member %u committed a different block at index %llu", nd->member,
                 (unsigned long long)index);
        return;
    }
    if (!vouched && index > 1 && !s->global_known[index - 1] && index - 1 != nd->base_index) {
        fail(s, "member %u committed index %llu past the known log end %zu", nd->member, (unsigned long long)index,
             s->global_len);
        return;
    }
    memcpy(s->global_hash[index], hash, BFT_HASH_BYTES);
    s->global_known[index] = true;
    if (index >= s->global_len) s->global_len = index + 1;
}

static void check_commit(struct sim *s, struct node *nd, uint64_t index, const uint8_t hash[BFT_HASH_BYTES])
{
    check_commit_at(s, nd, index, hash, false);
}

/* ---- Nodes ---- */

static void config_for(struct sim *s, const struct node *nd, struct bft_config *c)
{
    *c = s->epochs[nd->epoch].config;
    c->self = nd->member;
    memcpy(c->private_key, s->keys[nd->key], BFT_PRIVATE_KEY_BYTES);
}

struct restore_ctx {
    struct sim *s;
    struct node *nd;
    int rc;
    struct cohort_error err;
};

static int restore_record(void *arg, uint8_t type, const uint8_t *payload, size_t len, uint64_t offset)
{
    struct restore_ctx *r = arg;
    int rc = bft_core_restore(r->nd->core, type, payload, len, &r->err);
    if (rc < 0) return rc;
    if (type == BFT_RECORD_COMMIT) {
        struct bft_core_status st;
        bft_core_get_status(r->nd->core, &st);
        remember_commit(r->s, r->nd, st.committed_index, offset + BFT_WAL_HEADER_BYTES, len, st.committed_hash);
    }
    return 0;
}

static void step(struct sim *s, int a, const struct bft_event *ev);
static void tell_peers(struct sim *s, int a, bool reachable);
static void switch_epoch(struct sim *s, int a);

/* Is node a no member of the epoch after its own (removed by its epoch's change)? */
static bool removed_next(const struct sim *s, const struct node *nd)
{
    if (nd->epoch >= s->epochs_planned) return false;
    const struct sim_epoch *next = &s->epochs[nd->epoch + 1];
    for (uint32_t i = 0; i < next->config.members.count; i++)
        if (next->key_of[i] == nd->key) return false;
    return true;
}

/*
 * Node a committed the change that removes it: it stays in its epoch, as an honest member
 * of it, but applies nothing more of it, so that the members still there can sync the
 * change block from it and make quorums with it (the config store's removed member does
 * the same: config/epochs.c).
 */
static void linger(struct sim *s, int a)
{
    s->nodes[a].lingering = true;
}

/* Starts (or restarts) node a from what its storage kept. */
static void boot(struct sim *s, int a)
{
    struct node *nd = &s->nodes[a];
    struct bft_config c;
    config_for(s, nd, &c);
    struct cohort_error err;
    nd->core = bft_core_create(&c, &err);
    if (nd->core == NULL) {
        fail(s, "create member %u: %s", nd->member, err.message);
        return;
    }
    uint64_t before_crash = nd->committed;
    struct restore_ctx r = {s, nd, 0, {0}};
    size_t valid = 0;
    if (bft_wal_scan(nd->disk, nd->disk_len, restore_record, &r, &valid, &r.err) < 0) {
        fail(s, "member %u cannot recover its storage: %s", nd->member, r.err.message);
        return;
    }
    nd->disk_len = nd->synced_len = valid; /* the torn tail is cut off */
    struct bft_core_status st;
    bft_core_get_status(nd->core, &st);
    if (st.committed_index < before_crash)
        fail(s, "member %u lost committed entries in a crash: had %llu, storage has %llu", nd->member,
             (unsigned long long)before_crash, (unsigned long long)st.committed_index);
    nd->committed = st.committed_index;
    const struct sim_epoch *ep = &s->epochs[nd->epoch];
    if (nd->epoch < s->epochs_planned && ep->ended && nd->committed >= ep->change_index) {
        if (removed_next(s, nd)) {
            linger(s, a); /* removed: it lingers again, from its storage */
        } else {
            /* It crashed after the change block was durable and before its next epoch began:
               the replay ends at the same change, and the switch is made now. */
            bft_core_destroy(nd->core);
            nd->core = NULL;
            switch_epoch(s, a);
            return;
        }
    }
    nd->boots++;
    if (nd->boots > 1) tell_peers(s, a, true);
    nd->up = true;
    nd->crash_armed = false;
    if (nd->rejoining) { /* what it signed is lost: nothing signed until its entry is committed */
        bft_core_set_vote_from(nd->core, UINT64_MAX);
        memcpy(nd->rejoin_entry, "rejoin", 6);
        nd->rejoin_entry[6] = (uint8_t)nd->member;
        nd->rejoin_entry[7] = (uint8_t)nd->boots;
        for (int i = 8; i < REJOIN_ENTRY_BYTES; i++) nd->rejoin_entry[i] = (uint8_t)rnd(s);
        schedule(s, (struct event){.kind = EV_REJOIN, .node = a, .time = s->now + 1});
    }
    struct bft_event start = {BFT_EVENT_START, NULL, 0, 0, 0, 0, false};
    step(s, a, &start);
}

/* The loss of everything a member wrote, at its crash: its WAL, so every vote and commit. */
static void wipe(struct sim *s, int a)
{
    struct node *nd = &s->nodes[a];
    nd->disk_len = nd->synced_len = 0;
    nd->committed = 0;
    if (!nd->rejoining) s->result->wipes++; /* (lost again before it rejoined: one rejoin to come) */
    nd->rejoining = true;
    nd->wipes++;
}

/* The others notice a crash or a restart as a node's links do: a little later (BFT_EVENT_PEER). */
static void tell_peers(struct sim *s, int a, bool reachable)
{
    for (uint32_t b = 0; b < s->node_count; b++) {
        if ((int)b == a || s->nodes[b].key == s->nodes[a].key || s->nodes[b].epoch != s->nodes[a].epoch) continue;
        struct event t = {0};
        t.kind = EV_PEER;
        t.node = (int)b;
        t.height = s->nodes[a].member;
        t.token = s->nodes[a].epoch; /* a member index of that epoch: told only to its members */
        t.timer = reachable;
        t.time = s->now + 2; /* the same delay for both: a restart is never seen before its crash */
        schedule(s, t);
        if (reachable) { /* the links open with TIPs, both ways: a dialled b, and b dials a back */
            schedule(s, (struct event){.kind = EV_TIP, .node = (int)b, .len = (size_t)a, .token = t.token,
                                       .time = s->now + 2 + rnd_below(s, 3)});
            schedule(s, (struct event){.kind = EV_TIP, .node = a, .len = b, .token = t.token,
                                       .time = s->now + 2 + rnd_below(s, 3)});
        }
    }
}

/* SIGKILL: the core vanishes; storage keeps what was synced and maybe part of the rest, torn. */
static void crash(struct sim *s, int a)
{
    struct node *nd = &s->nodes[a];
    if (!nd->up) return;
    tell_peers(s, a, false);
    s->result->crashes++;
    bft_core_destroy(nd->core);
    nd->core = NULL;
    nd->up = false;
    for (int i = 0; i < BFT_TIMERS; i++) nd->timer_token[i]++;
    size_t unsynced = nd->disk_len - nd->synced_len;
    size_t kept = nd->synced_len + (unsynced ? (size_t)rnd_below(s, unsynced + 1) : 0);
    if (kept > nd->synced_len && rnd_below(s, 3) == 0) {
        /* Damage a byte of the last record kept, past its header: a torn write the checksum must catch. */
        size_t r = nd->synced_len, last = nd->synced_len;
        while (r + BFT_WAL_HEADER_BYTES <= kept) {
            const uint8_t *h = nd->disk + r;
            size_t len = (size_t)h[8] << 24 | (size_t)h[9] << 16 | (size_t)h[10] << 8 | h[11];
            last = r;
            r += BFT_WAL_HEADER_BYTES + len;
        }
        if (kept > last + BFT_WAL_HEADER_BYTES) nd->disk[last + BFT_WAL_HEADER_BYTES + rnd_below(s, kept - last - BFT_WAL_HEADER_BYTES)] ^= 0x5a;
    }
    nd->disk_len = kept;
}

/* ---- Epochs (BFT_SIM_MIX_RECONFIGURE; docs/bft.md "Membership changes") ---- */

/* Does the block carry the change to epoch `to`? */
static bool carries_change(const struct bft_block *block, uint32_t to)
{
    uint32_t off = 0, len = 0;
    const uint8_t *e;
    while (bft_payload_next(block->payload, block->payload_len, &off, &e, &len, NULL) == 1)
        if (len == CHANGE_ENTRY_BYTES && memcmp(e, "change!", 7) == 0 && e[7] == to) return true;
    return false;
}

/*
 * Node a leaves its epoch at the change that ended it and starts the next one's core on a
 * log that begins at the change block (a BASE record), as every member seeds its WAL. What
 * it had not committed itself up to there, the change proof vouches for (a member that
 * learned of the change from a proof fetches that state).
 */
static void switch_epoch(struct sim *s, int a)
{
    struct node *nd = &s->nodes[a];
    const struct sim_epoch *old = &s->epochs[nd->epoch];
    assert(old->ended && nd->epoch < s->epochs_planned && !nd->up);
    for (int i = 0; i < BFT_TIMERS; i++) nd->timer_token[i]++;
    /* (Recorded with no bytes: its storage never held them, and the final check passes them;
       the change block itself is checked here.) */
    static const uint8_t unknown[BFT_HASH_BYTES];
    for (uint64_t i = nd->committed + 1; i < old->change_index; i++)
        remember_commit(s, nd, i, 0, 0, i < s->global_cap && s->global_known[i] ? s->global_hash[i] : unknown);
    if (nd->committed < old->change_index) {
        remember_commit(s, nd, old->change_index, 0, 0, old->change_hash);
        check_commit_at(s, nd, old->change_index, old->change_hash, true);
    }
    nd->epoch++;
    nd->pointed = false;
    s->switches++;
    const struct sim_epoch *next = &s->epochs[nd->epoch];
    int member = -1;
    for (uint32_t i = 0; i < next->config.members.count; i++)
        if (next->key_of[i] == nd->key) member = (int)i;
    nd->disk_len = nd->synced_len = 0;
    nd->committed = old->change_index;
    nd->base_index = old->change_index;
    if (member < 0) { /* removed: it orders nothing from here on */
        nd->retired = true;
        return;
    }
    nd->member = (uint32_t)member;
    uint8_t base[BFT_BASE_RECORD_BYTES];
    bft_base_encode(old->change_index, old->change_height, old->change_hash, base);
    disk_append(nd, BFT_RECORD_BASE, base, sizeof base);
    disk_sync(nd);
    boot(s, a);
}

/* Node a committed the block that carries its epoch's change: the epoch ends there. */
static void epoch_ends(struct sim *s, int a, const struct bft_commit *commit, const uint8_t *record, size_t len)
{
    struct node *nd = &s->nodes[a];
    struct sim_epoch *e = &s->epochs[nd->epoch];
    if (e->ended) {
        if (e->change_index != commit->block.header.index || memcmp(e->change_hash, commit->hash, BFT_HASH_BYTES) != 0)
            fail(s, "SAFETY: member %u ended epoch %u at index %llu, another member at %llu", nd->member, nd->epoch,
                 (unsigned long long)commit->block.header.index, (unsigned long long)e->change_index);
        return;
    }
    e->ended = true;
    e->change_index = commit->block.header.index;
    e->change_height = commit->block.header.height;
    memcpy(e->change_hash, commit->hash, BFT_HASH_BYTES);
    e->proof = xrealloc(NULL, len);
    memcpy(e->proof, record, len);
    e->proof_len = len;
    uint32_t next = nd->epoch + 1;
    if (next < s->epochs_planned) /* the next change, a little later */
        schedule(s, (struct event){.kind = EV_CHANGE, .height = next + 1, .node = -1,
                                   .time = s->now + 1 + rnd_below(s, 300)});
    if (s->newcomer >= 0 && s->nodes[s->newcomer].waiting_to_join && next == 1) /* the epoch that adds it */
        schedule(s, (struct event){.kind = EV_JOIN, .node = s->newcomer, .time = s->now + 1 + rnd_below(s, 200)});
    if (s->chaos) { /* a crash partway through someone's next step, around the switch */
        uint32_t who = (uint32_t)rnd_below(s, s->node_count);
        if (s->nodes[who].up && (int)who != a) s->nodes[who].crash_armed = true;
        schedule(s, (struct event){.kind = EV_RESTART, .node = (int)who, .time = s->now + 1 + rnd_below(s, 100)});
    }
}

/* A change proof reached node a (EV_POINTER): checked against its epoch's members, then followed. */
static void follow_pointer(struct sim *s, int a)
{
    struct node *nd = &s->nodes[a];
    const struct sim_epoch *e = &s->epochs[nd->epoch];
    struct bft_commit *c = xrealloc(NULL, sizeof *c);
    struct cohort_error err;
    if (bft_commit_decode(e->proof, e->proof_len, e->config.instance, PAYLOAD_MAX, c, &err) < 0 ||
        bft_commit_verify(c, e->config.instance, &e->config.members, s->use_scheme ? &s->scheme : NULL, &err) < 0) {
        fail(s, "member %u cannot verify the change proof of epoch %u: %s", nd->member, nd->epoch, err.message);
    } else if (!carries_change(&c->block, nd->epoch + 1) || memcmp(c->hash, e->change_hash, BFT_HASH_BYTES) != 0) {
        fail(s, "the change proof of epoch %u does not carry its change", nd->epoch);
    } else {
        if (nd->up) {
            bft_core_destroy(nd->core);
            nd->core = NULL;
            nd->up = false;
        }
        s->switches_by_proof++;
        switch_epoch(s, a);
    }
    free(c);
}

static void serve_sync(struct sim *s, int a, uint32_t peer, uint64_t from)
{
    struct node *nd = &s->nodes[a];
    if (from <= nd->base_index) from = nd->base_index + 1; /* its storage begins after its epoch's start */
    for (uint64_t i = from; i <= nd->committed && i < from + 16; i++) {
        size_t len = 0;
        struct cohort_error err;
        if (bft_core_wrap_sync_block(nd->core, nd->disk + nd->commit_offset[i], nd->commit_len[i], s->send_buffer,
                                     SEND_BUFFER, &len, &err) < 0) {
            fail(s, "member %u cannot wrap its commit %llu: %s", nd->member, (unsigned long long)i, err.message);
            return;
        }
        send_to_member(s, a, peer, s->send_buffer, len);
    }
}

/* ---- Byzantine behaviour: rewriting what a Byzantine node's (honest) core sends ---- */

static void byzantine_broadcast(struct sim *s, int a, const uint8_t *bytes, size_t len)
{
    struct node *nd = &s->nodes[a];
    struct bft_message *m = &s->scratch;
    struct cohort_error err;
    bool twisted = false;
    size_t alt_len = 0;
    if (bft_message_decode(bytes, len, PAYLOAD_MAX, m, &err) == 0) {
        if (nd->kind == EQUIVOCATE && m->type == BFT_MSG_PROPOSE) {
            /* A second block for the same height: same parent, another payload. */
            uint8_t *payload = s->payload;
            uint32_t pl = m->commit.block.payload_len;
            memcpy(payload, m->commit.block.payload, pl);
            if (pl + 12 <= PAYLOAD_MAX) {
                payload[pl] = 0, payload[pl + 1] = 0, payload[pl + 2] = 0, payload[pl + 3] = 8;
                uint64_t x = rnd(s);
                memcpy(payload + pl + 4, &x, 8);
                pl += 12;
            }
            m->commit.block.payload = payload;
            m->commit.block.payload_len = pl;
            uint8_t hash[BFT_HASH_BYTES];
            bft_block_seal(s->epochs[nd->epoch].config.instance, &m->commit.block, hash);
            twisted = bft_message_encode(m, s->keys[nd->key], s->use_scheme ? &s->scheme : NULL, s->send_buffer,
                                         SEND_BUFFER, &alt_len, &err) == 0;
            /* and its own vote for the other block, to the members that get it */
            if (twisted) {
                for (uint32_t b = 0; b < s->node_count; b++) {
                    if (s->nodes[b].key == nd->key) continue;
                    bool other = s->nodes[b].member % 2 == 0;
                    transmit(s, a, (int)b, other ? s->send_buffer : bytes, other ? alt_len : len);
                }
                struct bft_message v = {0};
                v.type = BFT_MSG_VOTE;
                v.instance = s->epochs[nd->epoch].config.instance;
                v.sender = (uint16_t)nd->member;
                v.vote.kind = BFT_VOTE_NOTARIZE;
                v.vote.height = m->commit.block.header.height;
                memcpy(v.vote.hash, hash, BFT_HASH_BYTES);
                if (bft_message_encode(&v, s->keys[nd->key], s->use_scheme ? &s->scheme : NULL, s->send_buffer,
                                       SEND_BUFFER, &alt_len, &err) == 0)
                    for (uint32_t b = 0; b < s->node_count; b++)
                        if (s->nodes[b].key != nd->key && s->nodes[b].member % 2 == 0)
                            transmit(s, a, (int)b, s->send_buffer, alt_len);
                return;
            }
        }
        if (nd->kind == DOUBLE_VOTE && m->type == BFT_MSG_VOTE) {
            /* To each member, at random: the real vote, a vote for another block, or its opposite. */
            for (uint32_t b = 0; b < s->node_count; b++) {
                if (s->nodes[b].key == nd->key) continue;
                struct bft_message v = *m;
                uint64_t pick = rnd_below(s, 3);
                if (pick == 1) {
                    v.vote.kind = BFT_VOTE_NOTARIZE;
                    for (int i = 0; i < BFT_HASH_BYTES; i++) v.vote.hash[i] = (uint8_t)rnd(s);
                } else if (pick == 2) {
                    v.vote.kind = m->vote.kind == BFT_VOTE_NULLIFY ? BFT_VOTE_FINALIZE : BFT_VOTE_NULLIFY;
                    if (v.vote.kind == BFT_VOTE_NULLIFY) memset(v.vote.hash, 0, BFT_HASH_BYTES);
                    else if (m->vote.kind == BFT_VOTE_NULLIFY) v.vote.hash[0] = 1;
                }
                if (bft_message_encode(&v, s->keys[nd->key], s->use_scheme ? &s->scheme : NULL, s->send_buffer,
                                       SEND_BUFFER, &alt_len, &err) == 0)
                    transmit(s, a, (int)b, s->send_buffer, alt_len);
            }
            return;
        }
    }
    for (uint32_t b = 0; b < s->node_count; b++)
        if (s->nodes[b].key != nd->key) transmit(s, a, (int)b, bytes, len);
}

/* A forger's injection: one bad message of a random sort to a random member. */
static void forge(struct sim *s, int a)
{
    struct node *nd = &s->nodes[a];
    if (!nd->up) return;
    struct bft_core_status st;
    bft_core_get_status(nd->core, &st);
    uint32_t victim = (uint32_t)rnd_below(s, s->n);
    if (victim == nd->member) victim = (victim + 1) % s->n;
    struct bft_message m = {0};
    m.instance = s->config.instance;
    m.sender = (uint16_t)nd->member;
    m.type = BFT_MSG_VOTE;
    m.vote.kind = BFT_VOTE_NOTARIZE;
    m.vote.height = st.height + rnd_below(s, 3);
    for (int i = 0; i < BFT_HASH_BYTES; i++) m.vote.hash[i] = (uint8_t)rnd(s);
    const struct bft_scheme *scheme = s->use_scheme ? &s->scheme : NULL;
    const uint8_t *key = s->keys[nd->key];
    size_t len = 0;
    struct cohort_error err;
    switch (rnd_below(s, 6)) {
    case 0: /* impersonation: claims another member, signed with the forger's key */
        m.sender = (uint16_t)rnd_below(s, s->n);
        break;
    case 1: /* signed by a key outside the members, under a member's index */
        m.sender = (uint16_t)victim;
        key = s->keys[s->n];
        break;
    case 2: /* a certificate of notarization whose signatures are the forger's, under others' indexes */
        m.type = BFT_MSG_CERT;
        m.commit.cert.vote = m.vote;
        m.commit.cert.count = (uint16_t)bft_quorum(s->n);
        for (uint16_t i = 0; i < m.commit.cert.count; i++) {
            uint8_t digest[BFT_HASH_BYTES];
            bft_vote_digest(s->config.instance, &m.vote, digest);
            m.commit.cert.signer[i] = (uint16_t)(i == 0 ? nd->member : (nd->member + i) % s->n);
            (scheme ? scheme : &bft_scheme_secp)->sign(scheme ? scheme->ctx : NULL, s->keys[nd->key], digest,
                                                       m.commit.cert.signature[i]);
        }
        break;
    case 3: /* a certificate listing the forger q times: duplicates count once */
        m.type = BFT_MSG_CERT;
        m.commit.cert.vote = m.vote;
        m.commit.cert.count = (uint16_t)bft_quorum(s->n);
        for (uint16_t i = 0; i < m.commit.cert.count; i++) {
            uint8_t digest[BFT_HASH_BYTES];
            bft_vote_digest(s->config.instance, &m.vote, digest);
            m.commit.cert.signer[i] = (uint16_t)nd->member;
            (scheme ? scheme : &bft_scheme_secp)->sign(scheme ? scheme->ctx : NULL, s->keys[nd->key], digest,
                                                       m.commit.cert.signature[i]);
        }
        break;
    case 4: { /* replay a captured message, or a bit-flipped copy of one */
        size_t i = (size_t)rnd_below(s, CAPTURE_MAX);
        if (s->captured[i] == NULL) return;
        memcpy(s->send_buffer, s->captured[i], s->captured_len[i]);
        len = s->captured_len[i];
        if (rnd_below(s, 2)) s->send_buffer[rnd_below(s, len)] ^= (uint8_t)(1 + rnd_below(s, 255));
        send_to_member(s, a, victim, s->send_buffer, len);
        return;
    }
    default: { /* garbage */
        len = 1 + (size_t)rnd_below(s, 200);
        for (size_t i = 0; i < len; i++) s->send_buffer[i] = (uint8_t)rnd(s);
        send_to_member(s, a, victim, s->send_buffer, len);
        return;
    }
    }
    if (bft_message_encode(&m, key, scheme, s->send_buffer, SEND_BUFFER, &len, &err) == 0)
        send_to_member(s, a, victim, s->send_buffer, len);
}

/* ---- The driver: performs a step's actions in order, as a real node would ---- */

static void step(struct sim *s, int a, const struct bft_event *ev)
{
    struct node *nd = &s->nodes[a];
    assert(nd->up);
    const struct bft_action *actions;
    size_t count = 0;
    struct cohort_error err;
    int rc = bft_core_step(nd->core, ev, &actions, &count, &err);
    if (rc < 0 && ev->type != BFT_EVENT_SUBMIT) {
        fail(s, "member %u step refused event %d: %s", nd->member, ev->type, err.message);
        return;
    }
    /* SIGKILL partway: perform only the first crash_at actions. */
    size_t crash_at = nd->crash_armed ? (size_t)rnd_below(s, count + 1) : SIZE_MAX;
    for (size_t i = 0; i < count && !s->failed; i++) {
        if (i == crash_at) {
            crash(s, a);
            return;
        }
        const struct bft_action *act = &actions[i];
        switch (act->type) {
        case BFT_ACTION_PERSIST:
            disk_append(nd, act->record_type, act->bytes, act->len);
            nd->records++;
            break;
        case BFT_ACTION_COMMIT: {
            if (nd->lingering) break; /* removed: what its old epoch commits after the change is not applied */
            if (act->commit->path_count > s->result->longest_path) s->result->longest_path = act->commit->path_count;
            uint8_t *record = s->record;
            size_t len = 0;
            if (bft_commit_encode(act->commit, record, sizeof s->record, &len, &err) < 0) {
                fail(s, "member %u commit record: %s", nd->member, err.message);
                return;
            }
            uint64_t index = act->commit->block.header.index;
            if (index != nd->committed + 1)
                fail(s, "member %u committed index %llu after %llu", nd->member, (unsigned long long)index,
                     (unsigned long long)nd->committed);
            struct bft_commit check;
            memcpy(&check, act->commit, sizeof check);
            const struct bft_config *ec = &s->epochs[nd->epoch].config;
            if (bft_commit_verify(&check, ec->instance, &ec->members, s->use_scheme ? &s->scheme : NULL, &err) < 0)
                fail(s, "member %u committed index %llu with a bad proof: %s", nd->member, (unsigned long long)index,
                     err.message);
            size_t offset = nd->disk_len + BFT_WAL_HEADER_BYTES;
            disk_append(nd, BFT_RECORD_COMMIT, record, len);
            nd->records++;
            disk_sync(nd); /* durable before the application hears of it */
            remember_commit(s, nd, index, offset, len, act->commit->hash);
            nd->committed = index;
            check_commit(s, nd, index, act->commit->hash);
            if (nd->epoch < s->epochs_planned && carries_change(&act->commit->block, nd->epoch + 1)) {
                /* The epoch ends with this block: nothing more of it is done. A crash may
                   come before the switch; the replay then ends at the same block (boot). */
                epoch_ends(s, a, act->commit, record, len);
                if (crash_at == i + 1) {
                    crash(s, a);
                    return;
                }
                if (removed_next(s, nd)) { /* it lingers: the step goes on, in its old epoch */
                    linger(s, a);
                    break;
                }
                bft_core_destroy(nd->core);
                nd->core = NULL;
                nd->up = false;
                if (!s->failed) switch_epoch(s, a);
                return;
            }
            if (nd->rejoining) { /* its entry in this block: it signs again above the block's height */
                uint32_t off = 0, elen;
                const uint8_t *e;
                while (bft_payload_next(act->commit->block.payload, act->commit->block.payload_len, &off, &e, &elen,
                                        NULL) == 1)
                    if (elen == REJOIN_ENTRY_BYTES && memcmp(e, nd->rejoin_entry, REJOIN_ENTRY_BYTES) == 0) {
                        bft_core_set_vote_from(nd->core, act->commit->block.header.height + 1);
                        nd->rejoining = false;
                        s->result->rejoins++;
                        break;
                    }
            }
            break;
        }
        case BFT_ACTION_SEND:
        case BFT_ACTION_BROADCAST:
            if (nd->dirty && !act->unordered) disk_sync(nd); /* a vote is durable before it leaves */
            check_outgoing(s, a, act->bytes, act->len);
            nd->sends++;
            if (nd->kind == SILENT) break;
            if (act->type == BFT_ACTION_SEND) send_to_member(s, a, act->peer, act->bytes, act->len);
            else if (nd->kind == EQUIVOCATE || nd->kind == DOUBLE_VOTE) byzantine_broadcast(s, a, act->bytes, act->len);
            else
                for (uint32_t b = 0; b < s->node_count; b++) transmit(s, a, (int)b, act->bytes, act->len);
            break;
        case BFT_ACTION_SET_TIMER: {
            struct event t = {0};
            t.kind = EV_TIMER;
            t.node = a;
            t.height = act->height;
            t.timer = act->timer;
            t.token = ++nd->timer_token[act->timer % BFT_TIMERS];
            t.time = s->now + act->delay_ms;
            schedule(s, t);
            break;
        }
        case BFT_ACTION_SYNC_SERVE:
            nd->sends++;
            if (nd->dirty) disk_sync(nd);
            if (nd->kind != SILENT) serve_sync(s, a, act->peer, act->from_index);
            break;
        }
    }
    if (crash_at == count) {
        crash(s, a);
        return;
    }
    if (nd->dirty) disk_sync(nd);
}

/* ---- The run ---- */

static const char *const mix_names[BFT_SIM_MIXES] = {"random", "equivocate", "silent", "forge", "leader-crash",
                                                      "partition", "all", "wipe", "reconfigure"};

const char *bft_sim_mix_name(uint32_t mix)
{
    return mix < BFT_SIM_MIXES ? mix_names[mix] : "?";
}

static void describe(struct sim *s, uint32_t chaos_ms)
{
    int off = snprintf(s->result->scenario, sizeof s->result->scenario,
                       "n=%u delay<=%ums drop=%u%% dup=%u%% chaos=%ums%s%s%s window=%u idle=%ums byzantine:", s->n,
                       s->delay_max_ms, s->drop_percent, s->duplicate_percent, chaos_ms,
                       s->use_scheme ? "" : " secp256k1", s->options->mix ? " mix=" : "",
                       s->options->mix ? bft_sim_mix_name(s->options->mix) : "", s->config.window_heights,
                       s->config.idle_delay_ms);
    for (uint32_t i = 0; i < s->n && off < (int)sizeof s->result->scenario; i++)
        if (s->nodes[i].kind != HONEST && off < (int)sizeof s->result->scenario)
            off += snprintf(s->result->scenario + off, sizeof s->result->scenario - (size_t)off, " %u=%s", i,
                            byzantine_names[s->nodes[i].kind]);
}

/* Each member's window (bft_core_describe), a line each, into result->detail. */
static void describe_windows(struct sim *s)
{
    size_t dl = 0;
    for (uint32_t i = 0; i < s->node_count && dl + 64 < sizeof s->result->detail; i++) {
        if (!s->nodes[i].up) continue;
        dl += (size_t)snprintf(s->result->detail + dl, sizeof s->result->detail - dl, "member %u %s, epoch %u: ",
                               s->nodes[i].member, byzantine_names[s->nodes[i].kind], s->nodes[i].epoch);
        dl += bft_core_describe(s->nodes[i].core, s->result->detail + dl, sizeof s->result->detail - dl - 1);
        s->result->detail[dl++] = '\n';
        s->result->detail[dl] = '\0';
    }
}

static uint64_t min_honest_committed(struct sim *s)
{
    uint64_t low = UINT64_MAX;
    for (uint32_t i = 0; i < s->node_count; i++)
        if (s->nodes[i].kind == HONEST && !s->nodes[i].retired && !s->nodes[i].lingering &&
            !s->nodes[i].waiting_to_join && s->nodes[i].committed < low)
            low = s->nodes[i].committed;
    return low;
}

int bft_sim_run(const struct bft_sim_options *options, struct bft_sim_result *result)
{
    struct sim *s = calloc(1, sizeof *s);
    if (s == NULL) abort();
    memset(result, 0, sizeof *result);
    s->options = options;
    s->result = result;
    s->rng = options->seed * 0x2545F4914F6CDD1Dull + 1;
    s->twin = -1;
    s->send_buffer = xrealloc(NULL, SEND_BUFFER);
    s->global_len = 1; /* indexes start at 1 */
    uint32_t target = options->target_commits ? options->target_commits : 5;

    /* The members, their keys, the network and the faults: all from the seed. */
    static const uint32_t sizes[] = {4, 4, 4, 5, 7};
    s->n = sizes[rnd_below(s, 5)];
    s->node_count = s->n;
    uint32_t f = (s->n - 1) / 3;
    s->use_scheme = !options->real_crypto;
    s->scheme = (struct bft_scheme){fast_sign, fast_recover, s};
    for (uint32_t k = 0; k <= s->n; k++) {
        do {
            for (int i = 0; i < BFT_PRIVATE_KEY_BYTES; i++) s->keys[k][i] = (uint8_t)rnd(s);
        } while (secp_private_key_check(s->keys[k], NULL) != 0);
        fast_address(s->keys[k], s->fast_addresses[k]);
    }
    s->members.count = s->n;
    for (uint32_t k = 0; k < s->n; k++) {
        if (s->use_scheme) memcpy(s->members.address[k], s->fast_addresses[k], BFT_ADDRESS_BYTES);
        else secp_address_from_secret(s->keys[k], s->members.address[k], NULL);
    }
    s->delay_max_ms = 2 + (uint32_t)rnd_below(s, 20);
    s->drop_percent = (uint32_t)rnd_below(s, 25);
    s->duplicate_percent = (uint32_t)rnd_below(s, 10);
    s->config = (struct bft_config){0};
    s->config.instance = 0xC0 + rnd_below(s, 1000);
    s->config.members = s->members;
    s->config.scheme = s->use_scheme ? &s->scheme : NULL;
    s->config.payload_max_bytes = PAYLOAD_MAX;
    uint32_t w = s->options->window_heights;
    s->config.window_heights = w >= 2 && w <= WINDOW ? w : WINDOW;
    s->config.timeout_ms = 3 * s->delay_max_ms + 5;
    /* Half the seeds run idle leaders that wait for entries before proposing empty blocks. */
    s->config.idle_delay_ms = rnd_below(s, 2) ? s->delay_max_ms / 4 + 1 : 0;
    /* Half of those also let leaders wait for their blocks to fill (about a network delay). */
    s->config.fill_wait_ms = s->config.idle_delay_ms && rnd_below(s, 2) ? s->delay_max_ms / 8 + 1 : 0;

    for (uint32_t i = 0; i < s->n; i++) {
        s->nodes[i].member = i;
        s->nodes[i].key = i;
        s->nodes[i].side = (int)rnd_below(s, 2);
    }
    s->newcomer = -1;
    uint32_t byzantine = (uint32_t)rnd_below(s, f + 1);
    for (uint32_t b = 0; b < byzantine; b++) {
        uint32_t who = (uint32_t)rnd_below(s, s->n);
        if (s->nodes[who].kind != HONEST) continue;
        enum byzantine kind = (enum byzantine)(1 + rnd_below(s, BYZANTINE_KINDS - 1));
        if (kind == TWINS && s->twin >= 0) kind = SILENT;
        s->nodes[who].kind = kind;
        if (kind == TWINS) {
            s->twin = (int)s->node_count++;
            s->nodes[s->twin] = s->nodes[who];
        }
    }
    uint32_t mix = options->mix < BFT_SIM_MIXES ? options->mix : BFT_SIM_MIX_RANDOM;
    if (mix == BFT_SIM_MIX_EQUIVOCATE || mix == BFT_SIM_MIX_SILENT || mix == BFT_SIM_MIX_FORGE || mix == BFT_SIM_MIX_ALL) {
        /* Exactly f Byzantine members of the mix's kind, instead of what was drawn. */
        for (uint32_t i = 0; i < s->n; i++) s->nodes[i].kind = HONEST;
        s->node_count = s->n;
        s->twin = -1;
        for (uint32_t b = 0; b < f;) {
            uint32_t who = (uint32_t)rnd_below(s, s->n);
            if (s->nodes[who].kind != HONEST) continue;
            s->nodes[who].kind = mix == BFT_SIM_MIX_EQUIVOCATE ? EQUIVOCATE
                                 : mix == BFT_SIM_MIX_SILENT  ? SILENT
                                 : mix == BFT_SIM_MIX_FORGE   ? FORGER
                                 : rnd_below(s, 2)            ? EQUIVOCATE
                                                              : SILENT;
            b++;
        }
    }
    if (mix == BFT_SIM_MIX_WIPE) {
        /* A member that lost its storage counts as one of the f until it rejoins: f - 1
           equivocators beside it at most, and one such member at a time. */
        for (uint32_t i = 0; i < s->n; i++) s->nodes[i].kind = HONEST;
        s->node_count = s->n;
        s->twin = -1;
        for (uint32_t b = 0; f > 0 && b < f - 1;) {
            uint32_t who = (uint32_t)rnd_below(s, s->n);
            if (s->nodes[who].kind != HONEST) continue;
            s->nodes[who].kind = EQUIVOCATE;
            b++;
        }
    }
    s->epochs[0].config = s->config;
    for (uint32_t i = 0; i < s->n; i++) s->epochs[0].key_of[i] = i;
    if (mix == BFT_SIM_MIX_RECONFIGURE) {
        /* Up to f members equivocate or stay silent, in every epoch; epoch 1 adds the
           outsider's key (a new node), epoch 2 removes one of the first members. */
        for (uint32_t i = 0; i < s->n; i++) s->nodes[i].kind = HONEST;
        s->node_count = s->n;
        s->twin = -1;
        for (uint32_t b = (uint32_t)rnd_below(s, f + 1); b > 0;) {
            uint32_t who = (uint32_t)rnd_below(s, s->n);
            if (s->nodes[who].kind != HONEST) continue;
            s->nodes[who].kind = rnd_below(s, 2) ? EQUIVOCATE : SILENT;
            b--;
        }
        s->newcomer = (int)s->node_count++;
        struct node *nc = &s->nodes[s->newcomer];
        memset(nc, 0, sizeof *nc); /* (the slot of a Twin drawn above, before the mix cleared them) */
        nc->side = (int)rnd_below(s, 2);
        nc->key = s->n;
        nc->member = UINT32_MAX;
        nc->waiting_to_join = true;
        struct sim_epoch *e1 = &s->epochs[1], *e2 = &s->epochs[2];
        e1->config = s->config;
        e1->config.instance = s->config.instance + 1000;
        memcpy(e1->key_of, s->epochs[0].key_of, sizeof e1->key_of);
        e1->key_of[s->n] = s->n;
        e1->config.members.count = s->n + 1;
        if (s->use_scheme) memcpy(e1->config.members.address[s->n], s->fast_addresses[s->n], BFT_ADDRESS_BYTES);
        else secp_address_from_secret(s->keys[s->n], e1->config.members.address[s->n], NULL);
        uint32_t removed = (uint32_t)rnd_below(s, s->n);
        e2->config = e1->config;
        e2->config.instance = s->config.instance + 2000;
        e2->config.members.count = 0;
        for (uint32_t i = 0; i <= s->n; i++) {
            if (e1->key_of[i] == removed) continue;
            e2->key_of[e2->config.members.count] = e1->key_of[i];
            memcpy(e2->config.members.address[e2->config.members.count++], e1->config.members.address[i],
                   BFT_ADDRESS_BYTES);
        }
        s->epochs_planned = 2;
    }
    uint32_t chaos_ms = 300 + (uint32_t)rnd_below(s, 1500);
    describe(s, chaos_ms);
    if (mix == BFT_SIM_MIX_RECONFIGURE)
        schedule(s, (struct event){.kind = EV_CHANGE, .height = 1, .node = -1, .time = rnd_below(s, chaos_ms)});
    s->chaos = true;
    s->submitting = true;
    /* The idle check: leaders wait for entries (a quiet log), and the members are honest or
       silent. A Byzantine member that speaks can always make the others work (a Twin whose
       copies disagree asks for sync without end, and is answered). */
    bool idle_check = s->config.idle_delay_ms > 0;
    for (uint32_t i = 0; i < s->node_count; i++)
        if (s->nodes[i].kind != HONEST && s->nodes[i].kind != SILENT) idle_check = false;
    uint64_t idle_records = 0, idle_sends = 0, idle_commits = 0;

    for (uint32_t i = 0; i < s->node_count; i++)
        if (!s->nodes[i].waiting_to_join) boot(s, (int)i);

    /* The chaos: crashes and restarts, partitions and heals, submissions, forgeries. */
    for (uint32_t c = (uint32_t)rnd_below(s, 4); c > 0; c--) {
        uint32_t who = (uint32_t)rnd_below(s, s->node_count);
        uint64_t at = rnd_below(s, chaos_ms);
        schedule(s, (struct event){.kind = EV_CRASH, .node = (int)who, .time = at});
        schedule(s, (struct event){.kind = EV_RESTART, .node = (int)who, .time = at + 1 + rnd_below(s, chaos_ms - at + 1)});
    }
    if (mix == BFT_SIM_MIX_LEADER_CRASH || mix == BFT_SIM_MIX_ALL)
        for (uint32_t c = 1 + (uint32_t)rnd_below(s, 3); c > 0; c--) /* node -1: whoever leads then */
            schedule(s, (struct event){.kind = EV_CRASH, .node = -1, .time = rnd_below(s, chaos_ms)});
    if (mix == BFT_SIM_MIX_PARTITION || mix == BFT_SIM_MIX_ALL)
        for (uint32_t p = 1 + (uint32_t)rnd_below(s, 2); p > 0; p--) {
            uint64_t at = rnd_below(s, chaos_ms);
            schedule(s, (struct event){.kind = EV_PARTITION, .time = at});
            schedule(s, (struct event){.kind = EV_HEAL, .time = at + rnd_below(s, chaos_ms - at + 1)});
        }
    for (uint32_t p = (uint32_t)rnd_below(s, 3); p > 0; p--) {
        uint64_t at = rnd_below(s, chaos_ms);
        schedule(s, (struct event){.kind = EV_PARTITION, .time = at});
        schedule(s, (struct event){.kind = EV_HEAL, .time = at + rnd_below(s, chaos_ms - at + 1)});
    }
    if (mix == BFT_SIM_MIX_WIPE)
        for (uint32_t c = 1 + (uint32_t)rnd_below(s, 2); c > 0; c--) { /* .height 1: the crash loses the storage */
            uint32_t who = (uint32_t)rnd_below(s, s->n);
            if (s->nodes[who].kind != HONEST) continue;
            uint64_t at = rnd_below(s, chaos_ms);
            schedule(s, (struct event){.kind = EV_CRASH, .node = (int)who, .height = 1, .time = at});
            schedule(s, (struct event){.kind = EV_RESTART, .node = (int)who,
                                       .time = at + 1 + rnd_below(s, chaos_ms - at + 1)});
        }
    for (uint64_t t = 0; t < chaos_ms + 20000; t += 1 + rnd_below(s, 40))
        schedule(s, (struct event){.kind = EV_SUBMIT, .node = (int)rnd_below(s, s->node_count), .time = t});
    for (uint32_t i = 0; i < s->node_count; i++)
        if (s->nodes[i].kind == FORGER)
            for (uint64_t t = 0; t < chaos_ms + 20000; t += 5 + rnd_below(s, 50))
                schedule(s, (struct event){.kind = EV_FORGE, .node = (int)i, .time = t});

    uint64_t goal = UINT64_MAX, deadline = UINT64_MAX;
    while (!s->failed && s->heap_len > 0) {
        struct event ev = pop(s);
        s->now = ev.time;
        result->events++;
        if (s->chaos && s->now >= chaos_ms) {
            /* The heal: every partition gone, every member up, no more drops or duplicates. */
            s->chaos = false;
            s->partitioned = false;
            for (uint32_t i = 0; i < s->node_count && !s->failed; i++) {
                s->nodes[i].crash_armed = false;
                if (!s->nodes[i].up && !s->nodes[i].retired && !s->nodes[i].waiting_to_join) boot(s, (int)i);
            }
            goal = (s->global_len - 1) + target; /* every honest member gets here */
            deadline = s->now + 20000;
        }
        struct node *nd = ev.node >= 0 && (uint32_t)ev.node < s->node_count ? &s->nodes[ev.node] : NULL;
        switch (ev.kind) {
        case EV_DELIVER:
            if (nd->up) {
                result->messages++;
                struct bft_event e = {BFT_EVENT_MESSAGE, ev.bytes, ev.len, 0, 0, 0, false};
                step(s, ev.node, &e);
            }
            free(ev.bytes);
            break;
        case EV_TIMER:
            if (nd->up && ev.token == nd->timer_token[ev.timer % BFT_TIMERS]) {
                struct bft_event e = {BFT_EVENT_TIMER, NULL, 0, ev.height, ev.timer, 0, false};
                step(s, ev.node, &e);
            }
            break;
        case EV_PEER:
            if (nd->up && nd->epoch == ev.token) {
                struct bft_event e = {BFT_EVENT_PEER, NULL, 0, 0, 0, ev.height, ev.timer != 0};
                step(s, ev.node, &e);
            }
            break;
        case EV_TIP: {
            const struct node *from = &s->nodes[ev.len];
            if (nd->up && from->up && nd->epoch == ev.token && from->epoch == ev.token) {
                uint64_t height;
                if (from->kind != HONEST) { /* a lie: far ahead, or far behind */
                    height = rnd_below(s, 2) ? rnd(s) : rnd_below(s, 4);
                } else {
                    struct bft_core_status st;
                    bft_core_get_status(from->core, &st);
                    height = st.height;
                }
                struct bft_event e = {BFT_EVENT_TIP, NULL, 0, height, 0, from->member, false};
                step(s, ev.node, &e);
                s->result->tips++;
            }
            break;
        }
        case EV_SUBMIT:
            if (nd->up && s->submitting) {
                uint8_t entry[48];
                size_t len = 8 + (size_t)rnd_below(s, 40);
                for (size_t i = 0; i < len; i++) entry[i] = (uint8_t)rnd(s);
                struct bft_event e = {BFT_EVENT_SUBMIT, entry, len, 0, 0, 0, false};
                step(s, ev.node, &e);
            }
            break;
        case EV_CRASH:
            if (!s->chaos) break;
            if (ev.node < 0) { /* the leader of the highest height an honest member is at */
                uint64_t top = 0;
                for (uint32_t i = 0; i < s->node_count; i++) {
                    struct bft_core_status st;
                    if (!s->nodes[i].up || s->nodes[i].kind != HONEST) continue;
                    bft_core_get_status(s->nodes[i].core, &st);
                    if (st.height > top) top = st.height;
                }
                ev.node = (int)(top % s->n); /* the member's first node (a Twin's other copy is node_count - 1) */
                nd = &s->nodes[ev.node];
                if (!nd->up) break;
                schedule(s, (struct event){.kind = EV_RESTART, .node = ev.node,
                                           .time = s->now + 1 + rnd_below(s, chaos_ms - s->now + 1)});
            }
            if (ev.height == 1) { /* a wipe: at once, and only one member rejoining at a time */
                bool another = false;
                for (uint32_t i = 0; i < s->node_count; i++) another |= (int)i != ev.node && s->nodes[i].rejoining;
                crash(s, ev.node);
                if (!another && !nd->up) wipe(s, ev.node);
                break;
            }
            if (rnd_below(s, 2)) crash(s, ev.node);
            else nd->crash_armed = true; /* partway through its next step */
            break;
        case EV_RESTART:
            if (!s->chaos) break;
            if (nd->up && nd->crash_armed) crash(s, ev.node);
            if (!nd->up && !nd->retired && !nd->waiting_to_join) boot(s, ev.node);
            break;
        case EV_CHANGE: {
            /* The admin's change, to a member of the epoch it ends, again until it is made. */
            uint32_t to = (uint32_t)ev.height;
            if (s->epochs[to - 1].ended) break;
            uint32_t who = (uint32_t)rnd_below(s, s->node_count);
            if (s->nodes[who].up && s->nodes[who].epoch == to - 1) {
                uint8_t entry[CHANGE_ENTRY_BYTES];
                memcpy(entry, "change!", 7);
                entry[7] = (uint8_t)to;
                for (int i = 8; i < CHANGE_ENTRY_BYTES; i++) entry[i] = (uint8_t)rnd(s);
                struct bft_event e = {BFT_EVENT_SUBMIT, entry, sizeof entry, 0, 0, 0, false};
                step(s, (int)who, &e);
            }
            schedule(s, (struct event){.kind = EV_CHANGE, .height = to, .node = -1, .time = s->now + CHANGE_EVERY_MS});
            break;
        }
        case EV_POINTER:
            nd->pointed = false;
            if (!nd->retired && !nd->lingering && nd->epoch == ev.height && nd->epoch < s->epochs_planned)
                follow_pointer(s, ev.node);
            break;
        case EV_JOIN:
            nd->waiting_to_join = false; /* `cohort cluster join`: its epoch's document, and the state by transfer */
            switch_epoch(s, ev.node);
            break;
        case EV_PARTITION:
            if (!s->chaos) break;
            s->partitioned = true;
            for (uint32_t i = 0; i < s->node_count; i++) s->nodes[i].group = (int)rnd_below(s, 2);
            break;
        case EV_HEAL: s->partitioned = false; break;
        case EV_FORGE: forge(s, ev.node); break;
        case EV_REJOIN:
            /* Its entry to every member that is up, as the node's forwarding does; again later
               while it is not committed (a block that is not committed drops its entries). */
            if (!nd->up || !nd->rejoining) break;
            for (uint32_t i = 0; i < s->node_count && !s->failed; i++)
                if (s->nodes[i].up) {
                    struct bft_event e = {BFT_EVENT_SUBMIT, nd->rejoin_entry, REJOIN_ENTRY_BYTES, 0, 0, 0, false};
                    step(s, (int)i, &e);
                }
            schedule(s, (struct event){.kind = EV_REJOIN, .node = ev.node, .time = s->now + REJOIN_EVERY_MS});
            break;
        case EV_MARK: {
            /* The idle check: once settled, a log without entries must not write or send. */
            uint64_t records = 0, sends = 0;
            for (uint32_t i = 0; i < s->node_count; i++)
                if (s->nodes[i].kind == HONEST && !s->nodes[i].lingering) /* (a removed member may still ask) */
                    records += s->nodes[i].records, sends += s->nodes[i].sends;
            if (ev.height == 1) {
                idle_records = records, idle_sends = sends, idle_commits = s->global_len;
                schedule(s, (struct event){.kind = EV_MARK, .node = -1, .height = 2, .time = s->now + IDLE_WINDOW_MS});
            } else if (records != idle_records || sends != idle_sends || s->global_len != idle_commits) {
                describe_windows(s);
                fail(s, "IDLE: with no entries for %u ms, the honest members appended %llu records, sent %llu "
                     "messages and committed %llu blocks in the last %u ms",
                     IDLE_SETTLE_MS + IDLE_WINDOW_MS, (unsigned long long)(records - idle_records),
                     (unsigned long long)(sends - idle_sends), (unsigned long long)(s->global_len - idle_commits),
                     IDLE_WINDOW_MS);
            } else {
                result->idle_checked = true;
            }
            break;
        }
        }
        bool rejoining = false; /* a member that lost its storage must rejoin too */
        for (uint32_t i = 0; i < s->node_count; i++) rejoining |= s->nodes[i].rejoining;
        for (uint32_t i = 0; i < s->node_count; i++) /* and every honest member is in the last epoch */
            rejoining |= s->nodes[i].kind == HONEST && !s->nodes[i].retired && !s->nodes[i].lingering &&
                         s->nodes[i].epoch < s->epochs_planned;
        if (!s->chaos && s->submitting && min_honest_committed(s) >= goal && !rejoining) {
            if (!idle_check) break;
            /* Live: now the clients stop, and the log must come to rest. */
            s->submitting = false;
            deadline = UINT64_MAX;
            schedule(s, (struct event){.kind = EV_MARK, .node = -1, .height = 1, .time = s->now + IDLE_SETTLE_MS});
        }
        if (result->idle_checked) break;
        if (s->heap_len > 1000000 || result->events > 20000000) {
            /* A bounded harness: a message storm is a bug to report, not a machine to exhaust. */
            fail(s, "message storm: %zu events pending, %llu processed", s->heap_len,
                 (unsigned long long)result->events);
            break;
        }
        if (s->now > deadline) {
            char nodes[512];
            int off = 0;
            for (uint32_t i = 0; i < s->node_count && off < (int)sizeof nodes; i++) {
                struct bft_core_status st = {0};
                if (s->nodes[i].up) bft_core_get_status(s->nodes[i].core, &st);
                off += snprintf(nodes + off, sizeof nodes - (size_t)off, " [%u %s h=%llu c=%llu@%llu]",
                                s->nodes[i].member, byzantine_names[s->nodes[i].kind], (unsigned long long)st.height,
                                (unsigned long long)st.committed_index, (unsigned long long)st.committed_height);
            }
            describe_windows(s);
            if (!s->failed) s->result->liveness_only = true;
            fail(s, "LIVENESS: %llu ms after the heal, an honest member has %llu of %llu entries;%s",
                 (unsigned long long)(s->now - chaos_ms), (unsigned long long)min_honest_committed(s),
                 (unsigned long long)goal, nodes);
        }
    }
    if (!s->failed && s->chaos) fail(s, "the simulation ran out of events during the chaos");

    /* Logs identical: every honest member's log is a prefix of the global one. */
    for (uint32_t i = 0; i < s->node_count && !s->failed; i++) {
        struct node *nd = &s->nodes[i];
        if (nd->kind != HONEST) continue;
        for (uint64_t k = 1; k <= nd->committed; k++)
            if (nd->commit_len[k] > 0 && memcmp(nd->commit_hash[k], s->global_hash[k], BFT_HASH_BYTES) != 0)
                fail(s, "member %u's log differs at index %llu", nd->member, (unsigned long long)k);
    }
    result->min_committed = min_honest_committed(s);
    result->end_ms = s->now;
    result->ok = !s->failed;

    while (s->heap_len > 0) free(pop(s).bytes);
    free(s->heap);
    for (uint32_t i = 0; i < s->node_count; i++) {
        bft_core_destroy(s->nodes[i].core);
        free(s->nodes[i].disk);
        free(s->nodes[i].commit_offset);
        free(s->nodes[i].commit_len);
        free(s->nodes[i].commit_hash);
    }
    for (uint32_t e = 0; e < EPOCHS_MAX; e++) {
        free(s->epochs[e].proof);
        for (uint32_t i = 0; i <= BFT_MEMBERS_MAX; i++) free(s->history[e][i]);
    }
    result->switches = s->switches;
    result->switches_by_proof = s->switches_by_proof;
    for (size_t i = 0; i < CAPTURE_MAX; i++) free(s->captured[i]);
    free(s->global_hash);
    free(s->global_known);
    free(s->send_buffer);
    free(s);
    return result->ok ? 0 : -1;
}
