/*
 * node.c - a running member (node.h, docs/bft.md "The node"): the sans-IO core driven by
 * a libuv loop on its own thread, its WAL on disk, and TCP links to the other members.
 *
 * Everything below runs on the node's loop thread except bft_node_start (before the thread
 * exists), bft_node_submit, bft_node_get_status and bft_node_stop, which touch only what
 * the lock guards (the submission queue, the status, the stop flag) and wake the loop with
 * uv_async_send. The core, the WAL, the links and the commit index belong to the loop.
 *
 * This is the edge of the library (CONVENTIONS.md "System calls and sockets live at the
 * edge"): it allocates per frame and per link, because a frame's lifetime is that of a
 * socket write, which the core's step buffer cannot outlive. Every allocation is bounded:
 * frames by BFT_MESSAGE_MAX, a peer's queue by queue_max_bytes, links by INBOUND_MAX.
 */
#include "bft/node.h"

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

#define READ_BUFFER_BYTES (64u * 1024u)  /* one shared read buffer: the loop reads one socket at a time */
#define FRAME_BUFFER_KEEP (256u * 1024u) /* a link keeps a reassembly buffer up to this size between frames */
#define WRITES_IN_FLIGHT 2               /* uv_writes outstanding per link */
#define WRITE_BUFS_MAX 64                /* frames coalesced into one uv_write */
#define WRITE_BYTES_MAX (1u << 20)       /* bytes coalesced into one uv_write (one frame may exceed it) */
#define HANDSHAKE_TIMEOUT_MS 5000
#define BACKOFF_MIN_MS 50
#define BACKOFF_MAX_MS 2000
#define INBOUND_MAX (2 * BFT_MEMBERS_MAX) /* accepted links, authenticated or not */
#define SYNC_SERVE_MAX 256                /* blocks sent for one SYNC_SERVE */
#define QUEUE_DEFAULT_BYTES (16u << 20)
#define QUEUE_WHILE_DOWN_MS 1000          /* frames for a peer whose link is down are kept this long */
#define PREFIX_BYTES 4
#define SNAPSHOT_CHUNK_BYTES (1u << 20)   /* application bytes in one SNAPSHOT record */
#define SNAPSHOT_HEADER_BYTES 64          /* index u64 | height u64 | hash 32 | total u64 | offset u64 */
#define GET_BYTES 13                      /* 0xE2 | index u64 | chunk u32 */
#define CHUNK_HEADER_BYTES 13             /* 0xE3 | index u64 | chunk u32, then the chunk's bytes */
#define FETCH_STALL_MS 5000               /* a snapshot source that sends nothing this long is replaced */
#define SNAPSHOT_EVERY_DEFAULT 8192

_Static_assert(BFT_AUTH_BYTES > BFT_HELLO_BYTES, "the largest handshake frame is AUTH");
_Static_assert(BFT_TIMER_HEIGHT == 0 && BFT_TIMER_IDLE == 1 && BFT_TIMER_FILL == 2 && BFT_TIMERS == 3,
               "core_timer[] is indexed by enum bft_timer");

static const uint8_t auth_magic[4] = {'C', 'B', 'A', '1'};

_Static_assert(BFT_ENTRY_FRAME == 0xE0, "node frames: 0xE0 entry, 0xE1 offer, 0xE2 get, 0xE3 chunk");
enum { FRAME_OFFER = BFT_OFFER_FRAME, FRAME_GET = 0xE2, FRAME_CHUNK = 0xE3 };


/* One queued frame: its length prefix and bytes, ready for the socket. */
struct frame {
    struct frame *next;
    uint64_t needs; /* it may leave once the WAL is synced up to this append (see barrier) */
    uint32_t size;  /* PREFIX_BYTES + message length */
    uint8_t bytes[];
};

enum link_state {
    LINK_CONNECTING, /* outgoing: uv_tcp_connect in progress */
    LINK_HELLO,      /* waiting for the other side's HELLO */
    LINK_AUTH,       /* our AUTH is sent; waiting for theirs */
    LINK_OPEN,       /* authenticated: carries frames */
    LINK_CLOSING,    /* uv_close called; freed when both handles have closed */
};

struct link {
    struct bft_node *node;
    uv_tcp_t tcp;
    uv_timer_t handshake_timer;
    uv_connect_t connect;
    int handles_open;
    bool outgoing;
    enum link_state state;
    uint32_t peer;                  /* outgoing: the member dialled; incoming: from its HELLO */
    uint8_t nonce[32];              /* ours, fresh per link */
    uint8_t their_nonce[32];
    uint32_t writes_in_flight;
    /* Reassembly of a frame that spans reads. */
    uint8_t prefix[PREFIX_BYTES];
    uint32_t prefix_have;
    bool in_frame;
    uint32_t frame_len, frame_have, frame_cap;
    uint8_t *frame;
    struct link *prev, *next; /* the node's list of accepted links */
};

/* A coalesced write: the frames it carries are freed when libuv is done with them. */
struct write_req {
    uv_write_t req;
    struct link *link;
    struct frame *frames;
    uint32_t count;
    size_t bytes;
    uv_buf_t bufs[WRITE_BUFS_MAX];
};

/* A handshake write (HELLO and/or AUTH), owning its bytes. */
struct handshake_write {
    uv_write_t req;
    uint8_t bytes[2 * PREFIX_BYTES + BFT_HELLO_BYTES + BFT_AUTH_BYTES];
};

/* What this member keeps for each other member. */
struct peer {
    struct sockaddr_in address;
    struct link *link;    /* the outgoing link (dialled), or NULL while waiting to re-dial */
    struct link *inbound; /* the authenticated accepted link from this member, if any */
    uv_timer_t reconnect_timer;
    uint32_t backoff_ms;
    struct frame *head, *tail; /* frames waiting for the socket */
    size_t queued_bytes;       /* queued and in flight, counted against queue_max_bytes */
    uint64_t down_since_ms;    /* uv_now when the outgoing link went down (or the node started); 0: up */
    bool told_down;            /* the core was told it is unreachable (BFT_EVENT_PEER) */
};

struct submission {
    uint8_t *bytes;
    size_t len;
    bool seal; /* handed to config.seal with the other unsealed entries queued with it */
};

/*
 * One fdatasync on libuv's thread pool. Up to SYNCS_IN_FLIGHT run at once: records appended
 * while one runs start the next at once instead of waiting for it (an fdatasync makes
 * durable everything written before it was called, so they may finish in any order).
 * The loop harvests a finished one between two frames (harvest_syncs) instead of only
 * when libuv hands it back after the batch of callbacks it is in; the slot stays busy
 * until then, so there are twice as many slots as syncs that may run.
 */
#define SYNCS_IN_FLIGHT 2
struct wal_sync {
    uv_work_t req;
    struct bft_node *node;
    bool busy;                  /* queued, running, or harvested but not yet handed back */
    bool harvested;             /* the loop has acted on its result */
    atomic_bool finished;       /* set by the worker once rc, us and err are written */
    uint64_t target, committed; /* what it makes durable: appends, and commits among them */
    int rc;                     /* written by the worker, read after it */
    uint64_t us;                /* how long the fdatasync took, written by the worker */
    struct cohort_error err;
};

/* Append times of the latest commits, by index modulo this, for status.commit_wait_us. */
#define COMMIT_TIMES 256

struct bft_node {
    struct bft_node_config config;
    uint32_t n, self;
    size_t queue_max_bytes;
    struct bft_core *core;
    struct bft_wal *wal;
    int read_fd; /* the WAL opened again, read-only, for SYNC_SERVE */

    uv_loop_t loop;
    uv_async_t wake;
    uv_timer_t core_timer[BFT_TIMERS]; /* per enum bft_timer: the height timeout, the idle and fill waits */
    uv_timer_t batch_timer;
    uv_prepare_t barrier_before_poll; /* the group commit, before the loop waits for I/O ... */
    uv_check_t barrier_after_poll;    /* ... and after the I/O callbacks of an iteration ran */
    uv_tcp_t listener;
    pthread_t thread;
    uint64_t timer_height[BFT_TIMERS];

    struct peer peers[BFT_MEMBERS_MAX];
    struct link *inbound; /* accepted links */
    uint32_t inbound_count;
    bool closing;         /* the loop is shutting down: no re-dials */
    bool halted;          /* the WAL failed: the core is not stepped again */
    bool submit_blocked;  /* the core's next block is full: retry after a commit */
    bool unflushed;       /* frames were queued this loop turn: flush_turn writes them */
    uint64_t rng;

    /* The group commit: records appended and synced so far (counts of appends). The
       fdatasync runs on libuv's thread pool (sync_work), one at a time. */
    uint64_t appended, synced;
    uint64_t applied;           /* log index the application has heard of (on_commit) */
    uint64_t durable_committed; /* log index whose COMMIT record is synced */
    struct wal_sync syncs[2 * SYNCS_IN_FLIGHT];
    unsigned sync_in_flight; /* how many of syncs are queued or running (not harvested) */
    atomic_bool sync_finished; /* a worker finished a sync: harvest_syncs has work */
    uint64_t sync_started;   /* the highest target of a sync started */
    struct {
        uint64_t index, us;
    } commit_appended[COMMIT_TIMES]; /* the monotonic time of each recent COMMIT's append */
    bool install_waiting;                 /* a fetched snapshot waits for the syncs in flight and a compaction */

    /* The committed log: where each COMMIT record's payload is in the WAL, by log index
       minus base (the WAL holds the COMMIT records of base + 1 .. committed). */
    uint64_t committed;
    uint64_t base, base_height;
    uint8_t base_hash[BFT_HASH_BYTES];
    uint64_t *commit_offset;
    uint32_t *commit_len;
    size_t commit_cap;
    struct bft_snapshot_offer snap; /* the newest snapshot in the WAL (index 0: none), offered to
                                       members that lag behind base */
    uint64_t *snap_chunk;      /* the WAL offset of each of its SNAPSHOT records' payloads */
    uint32_t snap_chunks;
    bool snapshot_failed_logged;
    struct compaction *compacting; /* the compaction under way, if any */
    bool swap_waiting;             /* it is written and waits for the syncs in flight to swap */
    bool too_old_logged;

    /* Replay of a snapshot, during start only: the newest complete one, and one being read. */
    uint8_t *replay_snapshot, *reading_snapshot;
    struct bft_snapshot_offer reading;
    uint64_t reading_have;
    uint64_t *reading_chunk;
    uint32_t reading_chunks;

    /* State transfer (docs/bft.md "Snapshots"): what each member offered, and a fetch. */
    bool offered[BFT_MEMBERS_MAX];
    struct bft_snapshot_offer offer[BFT_MEMBERS_MAX];
    bool fetching;
    struct bft_snapshot_offer fetch;
    uint8_t *fetch_bytes;
    uint32_t fetch_source, fetch_next, fetch_chunks;
    uint32_t fetch_refused; /* members whose bytes did not match the digest: not asked again */
    uv_timer_t fetch_timer;

    /* Scratch, allocated at start. */
    uint8_t *read_buffer;      /* READ_BUFFER_BYTES */
    uint8_t *record;           /* BFT_WAL_RECORD_MAX: a COMMIT record being written or read back */
    uint8_t *send_buffer;      /* BFT_MESSAGE_MAX: a SYNC_BLOCK or an equivocating proposal */
    uint8_t *alt_payload;      /* payload_max_bytes: an equivocating leader's second payload */
    struct bft_commit *replay; /* a COMMIT record decoded for on_commit during replay */
    struct bft_message *scratch;

    /* Guarded by lock: shared with the caller's threads. */
    pthread_mutex_t lock;
    bool stop_requested;
    struct submission *queue; /* ring of BFT_SUBMIT_QUEUE_MAX */
    size_t queue_head, queue_count;
    struct bft_node_status status;
};

/* ---- Small helpers ---- */

/* splitmix64, seeded from getrandom at start: jitter must differ between members. */
static uint64_t rnd(struct bft_node *node)
{
    uint64_t z = (node->rng += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static int random_bytes(uint8_t *out, size_t len)
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

#define COUNT(node, field, delta)                                                                                    \
    do {                                                                                                             \
        pthread_mutex_lock(&(node)->lock);                                                                           \
        (node)->status.field += (delta);                                                                             \
        pthread_mutex_unlock(&(node)->lock);                                                                         \
    } while (0)

static void publish_core_status(struct bft_node *node)
{
    struct bft_core_status st;
    bft_core_get_status(node->core, &st);
    pthread_mutex_lock(&node->lock);
    node->status.core = st;
    node->status.leader = (uint32_t)(st.height % node->n);
    node->status.wal_bytes = bft_wal_size(node->wal);
    pthread_mutex_unlock(&node->lock);
}

static void halt(struct bft_node *node, const struct cohort_error *err)
{
    /* A vote that cannot be made durable must not leave: stop stepping the core for good. */
    node->halted = true;
    for (int i = 0; i < BFT_TIMERS; i++) uv_timer_stop(&node->core_timer[i]);
    pthread_mutex_lock(&node->lock);
    node->status.halted = true;
    pthread_mutex_unlock(&node->lock);
    log_error("bft node halted: its WAL failed; restart it", "member=%u error=\"%s\"", node->self, err->message);
}

/* ---- The commit index ---- */

static int remember_commit(struct bft_node *node, uint64_t index, uint64_t offset, size_t len,
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
            return cohort_error_set(err, BFT_E_NOMEM, "bft", "node: out of memory for the commit index");
        node->commit_offset = offsets;
        uint32_t *lens = realloc(node->commit_len, cap * sizeof *lens);
        if (lens == NULL)
            return cohort_error_set(err, BFT_E_NOMEM, "bft", "node: out of memory for the commit index");
        node->commit_len = lens;
        node->commit_cap = cap;
    }
    node->commit_offset[slot] = offset;
    node->commit_len[slot] = (uint32_t)len;
    node->committed = index;
    return 0;
}

/* Reads len bytes at offset at of fd into buf: 0, or an errno (EIO for a file that ends first). */
static int pread_all(int fd, uint8_t *buf, size_t len, uint64_t at)
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
static int read_commit(struct bft_node *node, uint64_t index, size_t *len, struct cohort_error *err)
{
    assert(index > node->base && index <= node->committed);
    uint64_t slot = index - node->base;
    int e = pread_all(node->read_fd, node->record, node->commit_len[slot], node->commit_offset[slot]);
    if (e != 0)
        return cohort_error_errno(err, BFT_E_IO, "bft", e, "node: read commit %llu from %s", (unsigned long long)index,
                                  node->config.wal_path);
    *len = node->commit_len[slot];
    return 0;
}

/* Reads the COMMIT record of log index back from the WAL and decodes it into node->replay. */
static int load_commit(struct bft_node *node, uint64_t index, struct cohort_error *err)
{
    size_t len = 0;
    int rc = read_commit(node, index, &len, err);
    if (rc < 0) return rc;
    rc = bft_commit_decode(node->record, len, node->config.core.instance, node->config.core.payload_max_bytes,
                           node->replay, err);
    if (rc < 0) return cohort_error_wrap(err, "%s: commit %llu", node->config.wal_path, (unsigned long long)index);
    return 0;
}

/* ---- Links: lifetime ---- */

static void dial(struct bft_node *node, uint32_t peer);
static void flush(struct bft_node *node, uint32_t peer);
static void tell_core_peer(struct bft_node *node, uint32_t peer, bool reachable);
static void link_handle_closed(uv_handle_t *handle)
{
    struct link *link = handle->data;
    assert(link->handles_open > 0);
    if (--link->handles_open > 0) return;
    assert(link->writes_in_flight == 0);
    free(link->frame);
    free(link);
}

static void on_handshake_timeout(uv_timer_t *timer);

static struct link *link_new(struct bft_node *node, bool outgoing, uint32_t peer)
{
    struct link *link = calloc(1, sizeof *link);
    if (link == NULL) return NULL;
    link->node = node;
    link->outgoing = outgoing;
    link->peer = peer;
    if (random_bytes(link->nonce, sizeof link->nonce) < 0) {
        free(link);
        return NULL;
    }
    if (uv_tcp_init(&node->loop, &link->tcp) < 0) {
        free(link);
        return NULL;
    }
    link->tcp.data = link;
    int rc = uv_timer_init(&node->loop, &link->handshake_timer);
    assert(rc == 0); /* uv_timer_init cannot fail */
    (void)rc;
    link->handshake_timer.data = link;
    link->handles_open = 2;
    uv_timer_start(&link->handshake_timer, on_handshake_timeout, HANDSHAKE_TIMEOUT_MS, 0);
    return link;
}

static void on_reconnect_timer(uv_timer_t *timer)
{
    struct bft_node *node = timer->loop->data;
    uint32_t peer = (uint32_t)(uintptr_t)timer->data;
    if (!node->closing && node->peers[peer].link == NULL) dial(node, peer);
}

/*
 * Closes a link. refused: it broke the rules (bad frame or handshake, silence), which the
 * status counts. An outgoing link is re-dialled after the peer's backoff, with jitter.
 */
static void link_close(struct link *link, bool refused, const char *why)
{
    if (link->state == LINK_CLOSING) return;
    struct bft_node *node = link->node;
    bool was_open = link->state == LINK_OPEN;
    link->state = LINK_CLOSING;
    if (refused) {
        COUNT(node, links_refused, 1);
        log_debug("bft link refused", "member=%u peer=%d outgoing=%d why=\"%s\"", node->self,
                  link->peer == UINT32_MAX ? -1 : (int)link->peer, link->outgoing, why);
    }
    if (link->outgoing) {
        struct peer *p = &node->peers[link->peer];
        assert(p->link == link);
        p->link = NULL;
        if (p->down_since_ms == 0) p->down_since_ms = uv_now(&node->loop); /* not again at each failed re-dial */
        if (!node->closing && !p->told_down) tell_core_peer(node, link->peer, false);
        if (was_open) {
            pthread_mutex_lock(&node->lock);
            node->status.peers_connected--;
            pthread_mutex_unlock(&node->lock);
        }
        if (!node->closing) {
            uint32_t b = p->backoff_ms;
            uint64_t delay = b / 2 + rnd(node) % (b / 2 + 1); /* "equal jitter": between b/2 and b */
            p->backoff_ms = b * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : b * 2;
            uv_timer_start(&p->reconnect_timer, on_reconnect_timer, delay, 0);
        }
    } else {
        if (link->prev) link->prev->next = link->next;
        else node->inbound = link->next;
        if (link->next) link->next->prev = link->prev;
        node->inbound_count--;
        if (link->peer != UINT32_MAX && node->peers[link->peer].inbound == link) node->peers[link->peer].inbound = NULL;
    }
    uv_close((uv_handle_t *)&link->handshake_timer, link_handle_closed);
    uv_close((uv_handle_t *)&link->tcp, link_handle_closed);
}

static void on_handshake_timeout(uv_timer_t *timer)
{
    struct link *link = timer->data;
    if (link->state == LINK_CONNECTING) link_close(link, false, "connect timed out");
    else if (link->state != LINK_OPEN) link_close(link, true, "no handshake within 5 s");
}

/* ---- Links: writing ---- */

static void handshake_written(uv_write_t *req, int status)
{
    struct link *link = req->handle->data;
    free(req);
    if (status < 0) link_close(link, false, "handshake write failed");
}

/* Sends HELLO and/or AUTH, each framed, in one write. AUTH needs the other side's nonce. */
static int send_handshake(struct link *link, bool with_hello, bool with_auth)
{
    struct bft_node *node = link->node;
    struct handshake_write *w = malloc(sizeof *w);
    if (w == NULL) return -1;
    uint8_t *p = w->bytes;
    if (with_hello) {
        be_put(p, BFT_HELLO_BYTES, 4);
        bft_hello_encode(node->config.core.instance, (uint16_t)node->self, (uint16_t)link->peer, link->nonce,
                         p + PREFIX_BYTES);
        p += PREFIX_BYTES + BFT_HELLO_BYTES;
    }
    if (with_auth) {
        /* We hold their nonce: AUTH = "CBA1" || our signature over it, bound to (from, to). */
        uint8_t digest[BFT_HASH_BYTES];
        bft_auth_digest(node->config.core.instance, (uint16_t)node->self, (uint16_t)link->peer, link->their_nonce,
                        digest);
        be_put(p, BFT_AUTH_BYTES, 4);
        memcpy(p + PREFIX_BYTES, auth_magic, 4);
        if (secp_sign(node->config.core.private_key, digest, p + PREFIX_BYTES + 4, NULL) < 0) {
            free(w);
            return -1;
        }
        p += PREFIX_BYTES + BFT_AUTH_BYTES;
    }
    uv_buf_t buf = uv_buf_init((char *)w->bytes, (unsigned)(p - w->bytes));
    if (uv_write(&w->req, (uv_stream_t *)&link->tcp, &buf, 1, handshake_written) < 0) {
        free(w);
        return -1;
    }
    return 0;
}

static void free_frames(struct frame *f)
{
    while (f != NULL) {
        struct frame *next = f->next;
        free(f);
        f = next;
    }
}

static void frames_written(uv_write_t *req, int status)
{
    struct write_req *w = (struct write_req *)req;
    struct link *link = w->link;
    struct bft_node *node = link->node;
    struct peer *p = &node->peers[link->peer];
    assert(link->writes_in_flight > 0);
    link->writes_in_flight--;
    assert(p->queued_bytes >= w->bytes);
    p->queued_bytes -= w->bytes;
    if (status == 0) COUNT(node, frames_sent, w->count);
    free_frames(w->frames);
    free(w);
    if (status < 0) link_close(link, false, "write failed");
    else if (p->link == link) flush(node, link->peer);
}

/* Moves queued frames of peer into coalesced uv_writes, keeping WRITES_IN_FLIGHT at most. */
static void flush(struct bft_node *node, uint32_t peer)
{
    struct peer *p = &node->peers[peer];
    struct link *link = p->link;
    if (link == NULL || link->state != LINK_OPEN) return;
    while (p->head != NULL && p->head->needs <= node->synced && link->writes_in_flight < WRITES_IN_FLIGHT) {
        struct write_req *w = calloc(1, sizeof *w);
        if (w == NULL) return; /* the frames stay queued: the next write completion retries */
        w->link = link;
        struct frame **tail = &w->frames;
        while (p->head != NULL && p->head->needs <= node->synced && w->count < WRITE_BUFS_MAX &&
               (w->count == 0 || w->bytes + p->head->size <= WRITE_BYTES_MAX)) {
            struct frame *f = p->head;
            p->head = f->next;
            f->next = NULL;
            *tail = f;
            tail = &f->next;
            w->bufs[w->count++] = uv_buf_init((char *)f->bytes, f->size);
            w->bytes += f->size;
        }
        if (p->head == NULL) p->tail = NULL;
        if (uv_write(&w->req, (uv_stream_t *)&link->tcp, w->bufs, w->count, frames_written) < 0) {
            p->queued_bytes -= w->bytes;
            free_frames(w->frames);
            free(w);
            link_close(link, false, "write failed");
            return;
        }
        link->writes_in_flight++;
    }
}

/*
 * Queues one message for peer; drops it (and counts) when the peer's queue is full. It is
 * written once the WAL is synced up to append number needs (0: at once).
 */
static bool enqueue(struct bft_node *node, uint32_t peer, const uint8_t *bytes, size_t len, uint64_t needs)
{
    assert(peer < node->n && peer != node->self);
    assert(len > 0 && len <= BFT_MESSAGE_MAX);
    struct peer *p = &node->peers[peer];
    if (p->down_since_ms != 0 && uv_now(&node->loop) - p->down_since_ms > QUEUE_WHILE_DOWN_MS) {
        /* Down for a while: what it missed is stale when it returns, and it syncs instead
           (docs/bft.md "Queues"). Keep nothing for it, so memory stays flat. */
        if (p->head != NULL) {
            size_t dropped = 0;
            for (struct frame *f = p->head; f != NULL; f = f->next) {
                dropped++;
                p->queued_bytes -= f->size; /* writes still in flight on the closed link count theirs */
            }
            COUNT(node, frames_dropped, dropped);
            free_frames(p->head);
            p->head = p->tail = NULL;
        }
        COUNT(node, frames_dropped, 1);
        return false;
    }
    size_t size = PREFIX_BYTES + len;
    struct frame *f = p->queued_bytes + size <= node->queue_max_bytes ? malloc(sizeof *f + size) : NULL;
    if (f == NULL) {
        COUNT(node, frames_dropped, 1);
        return false;
    }
    f->next = NULL;
    f->needs = needs;
    f->size = (uint32_t)size;
    be_put(f->bytes, (uint32_t)len, 4);
    memcpy(f->bytes + PREFIX_BYTES, bytes, len);
    if (needs <= node->synced && p->head != NULL && p->tail->needs > node->synced) {
        /* It may go now, but frames that wait for the disk are queued: go ahead of them (the
           protocol does not care about order; a proposal need not wait for the votes). */
        struct frame **at = &p->head;
        while (*at != NULL && (*at)->needs <= node->synced) at = &(*at)->next;
        f->next = *at;
        *at = f;
    } else {
        if (p->tail) p->tail->next = f;
        else p->head = f;
        p->tail = f;
    }
    p->queued_bytes += size;
    node->unflushed = true; /* written at the end of this loop turn, with the turn's other frames */
    return true;
}

/*
 * Writes what this loop turn queued, one coalesced write per peer: the frames a turn makes
 * for one peer (votes, certificates, a proposal, entries) leave in one writev and arrive
 * in one read, instead of a system call and a wake-up each. Runs before the loop waits
 * for I/O and after each iteration's I/O callbacks, like the barrier.
 */
static void flush_turn(struct bft_node *node)
{
    if (!node->unflushed) return;
    node->unflushed = false;
    for (uint32_t peer = 0; peer < node->n; peer++)
        if (peer != node->self) flush(node, peer);
}

/* ---- Driving the core ---- */

static void drain_submissions(struct bft_node *node);
static void on_core_timer(uv_timer_t *timer);
static void send_offer(struct bft_node *node, uint32_t peer);

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
        send_offer(node, peer);
        return;
    }
    for (uint64_t i = from; i >= 1 && i <= node->committed && i < from + SYNC_SERVE_MAX; i++) {
        size_t len = 0;
        if (read_commit(node, i, &len, &err) < 0) {
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
        if (!enqueue(node, peer, node->send_buffer, out_len, node->appended)) return; /* full: the peer asks again */
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
    uint64_t x = rnd(node);
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
        if (k++ % 2 == 1) enqueue(node, peer, node->send_buffer, alt_len, node->appended);
        else enqueue(node, peer, bytes, len, node->appended);
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
static int drive(struct bft_node *node, const struct bft_event *ev, struct cohort_error *err)
{
    if (node->halted || node->closing) return 0; /* stopping: nothing after the final sync */
    const struct bft_action *actions;
    size_t count = 0;
    int rc = bft_core_step(node->core, ev, &actions, &count, err);
    if (rc < 0) return rc;
    bool committed = false;
    for (size_t i = 0; i < count && !node->halted; i++) {
        const struct bft_action *a = &actions[i];
        switch (a->type) {
        case BFT_ACTION_PERSIST:
            if (bft_wal_append(node->wal, a->record_type, a->bytes, a->len, err) < 0) halt(node, err);
            node->appended++;
            break;
        case BFT_ACTION_COMMIT: {
            size_t len = 0;
            uint64_t index = a->commit->block.header.index;
            uint64_t offset = bft_wal_size(node->wal) + BFT_WAL_HEADER_BYTES;
            if (bft_commit_encode(a->commit, node->record, BFT_WAL_RECORD_MAX, &len, err) < 0 ||
                bft_wal_append(node->wal, BFT_RECORD_COMMIT, node->record, len, err) < 0 ||
                remember_commit(node, index, offset, len, err) < 0) {
                halt(node, err);
                break;
            }
            node->appended++;
            node->commit_appended[index % COMMIT_TIMES].index = index;
            node->commit_appended[index % COMMIT_TIMES].us = uv_hrtime() / 1000;
            committed = true;
            break;
        }
        case BFT_ACTION_SEND:
        case BFT_ACTION_BROADCAST: {
            uint64_t needs = a->unordered ? 0 : node->appended;
            if (a->type == BFT_ACTION_SEND) enqueue(node, a->peer, a->bytes, a->len, needs);
            else if (!(node->config.equivocate && a->len > 1 && a->bytes[1] == BFT_MSG_PROPOSE &&
                       equivocate(node, a->bytes, a->len)))
                for (uint32_t peer = 0; peer < node->n; peer++)
                    if (peer != node->self) enqueue(node, peer, a->bytes, a->len, needs);
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
    publish_core_status(node);
    if (committed && node->submit_blocked) {
        node->submit_blocked = false;
        drain_submissions(node);
    }
    return 0;
}

/* ---- Snapshots and compaction (docs/bft.md "Snapshots") ---- */

static uint32_t chunk_count(uint64_t len)
{
    return len == 0 ? 1 : (uint32_t)((len + SNAPSHOT_CHUNK_BYTES - 1) / SNAPSHOT_CHUNK_BYTES);
}

static uint64_t chunk_len(const struct bft_snapshot_offer *info, uint32_t chunk)
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
    uint32_t chunks = chunk_count(info->len);
    for (uint32_t c = 0; c < chunks; c++) {
        uint64_t at = (uint64_t)c * SNAPSHOT_CHUNK_BYTES, take = chunk_len(info, c);
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

static void synced_up_to(struct bft_node *node, uint64_t target, uint64_t committed);
static void barrier(struct bft_node *node);

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

static void compaction_free(struct compaction *c)
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
        cohort_error_set(err, BFT_E_NOMEM, "bft", "out of memory");
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
        compaction_free(c);
        cohort_error_set(err, BFT_E_NOMEM, "bft", "out of memory for a compaction");
        return NULL;
    }
    return c;
}

/* Copies the COMMIT records from .. to of the old WAL into the new one, noting their new offsets. */
static int copy_commits(struct compaction *c, uint8_t *buf, uint64_t from, uint64_t to)
{
    for (uint64_t i = from; i <= to; i++) {
        size_t want = c->old_len[i - c->new_base - 1];
        int e = pread_all(c->read_fd, buf, want, c->old_offset[i - c->new_base - 1]);
        if (e != 0)
            return cohort_error_errno(&c->err, BFT_E_IO, "bft", e, "node: read commit %llu for a compaction",
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
    c->chunks = chunk_count(c->info.len);
    c->offset = malloc(c->keep * sizeof *c->offset);
    c->len = malloc(c->keep * sizeof *c->len);
    c->chunk_offset = malloc(c->chunks * sizeof *c->chunk_offset);
    int rc = 0;
    if (!scratch || !record || !c->offset || !c->len || !c->chunk_offset) {
        rc = cohort_error_set(&c->err, BFT_E_NOMEM, "bft", "out of memory for a compaction");
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
        if (l == NULL) return cohort_error_set(&c->err, BFT_E_NOMEM, "bft", "out of memory for a compaction");
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
    int rc = tail ? 0 : cohort_error_set(err, BFT_E_NOMEM, "bft", "out of memory for a compaction's tail");
    int e = rc == 0 ? pread_all(node->read_fd, tail, n, c->tail_from) : 0;
    if (e != 0) rc = cohort_error_errno(err, BFT_E_IO, "bft", e, "node: read the WAL's tail for a compaction");
    uint64_t committed_before = c->last;
    if (rc == 0 && (rc = bft_wal_scan(tail, n, copy_tail_record, c, &valid, err)) < 0 && c->err.code != 0)
        *err = c->err; /* the callback's: an append to the new file failed */
    free(tail);
    if (rc == 0 && (valid != n || c->last != node->committed))
        rc = cohort_error_set(err, BFT_E_CORRUPT, "bft",
                              "node: the WAL's tail (%zu bytes, %zu valid, commits %llu..%llu) does not continue "
                              "the log at %llu",
                              n, valid, (unsigned long long)committed_before, (unsigned long long)c->last,
                              (unsigned long long)node->committed);
    if (rc == 0) rc = bft_wal_sync(c->wal, err);
    if (rc == 0 && (rc = bft_wal_rename(c->wal, node->config.wal_path, err)) < 0 && access(c->tmp, F_OK) != 0) {
        /* Renamed, but the directory did not sync: a crash may leave either file, and the
           old one would miss what is appended from now on. Stop voting; a restart is safe. */
        halt(node, err);
        return rc;
    }
    if (rc < 0) return rc;

    /* The new WAL is the member's now. */
    int fd = open(node->config.wal_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = cohort_error_errno(err, BFT_E_IO, "bft", errno, "node: open %s for reading", node->config.wal_path);
        halt(node, err); /* it cannot read its own WAL: stop voting */
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
    synced_up_to(node, node->appended, node->committed);
    return 0;
}

/* Rewrites the WAL around (info, bytes: taken over) at once, on the loop thread: state transfer. */
static int rewrite_wal(struct bft_node *node, uint64_t new_base, uint64_t base_height,
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
    compaction_free(c);
    return rc;
}

static void fetch_install(struct bft_node *node);

/* Installs a fetched snapshot that waited, once nothing holds or rewrites the WAL any more. */
static void install_if_waiting(struct bft_node *node)
{
    if (!node->install_waiting || node->sync_in_flight > 0 || node->compacting != NULL || node->halted ||
        node->closing)
        return;
    node->install_waiting = false;
    fetch_install(node);
}

/* A written compaction's swap, once no sync is in flight; then what waited for it. */
static void compaction_swap(struct bft_node *node)
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
    compaction_free(c);
    install_if_waiting(node);
    barrier(node); /* syncs were held back for the swap */
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
    if (status < 0 && c->rc == 0) c->rc = cohort_error_set(&c->err, BFT_E_IO, "bft", "node: the compaction did not run");
    if (node->halted || node->closing || c->rc < 0) {
        if (c->rc < 0) snapshot_failed(node, c->info.index, c->err.message);
        node->compacting = NULL;
        compaction_free(c);
        install_if_waiting(node);
        return;
    }
    node->swap_waiting = true; /* barrier starts no sync now */
    if (node->sync_in_flight == 0) compaction_swap(node);
}

/*
 * Takes a snapshot of the application's state after block index (just delivered) and
 * starts compacting the WAL around it, keeping retain_commits blocks before it for members
 * that lag a little. Snapshots fall on multiples of snapshot_every, so every member's
 * snapshot of an index is the same bytes, which state transfer relies on. One compaction
 * at a time: a snapshot due while one runs is skipped.
 */
static void take_snapshot(struct bft_node *node, uint64_t index, uint64_t height, const uint8_t hash[BFT_HASH_BYTES])
{
    if (node->compacting != NULL) return;
    uint8_t *bytes = NULL;
    size_t len = 0;
    int rc = node->config.snapshot(node->config.arg, index, &bytes, &len);
    struct cohort_error err = {0};
    if (rc < 0 || (bytes == NULL && len > 0) || len > BFT_SNAPSHOT_MAX_BYTES) {
        cohort_error_set(&err, BFT_E_INVALID, "bft", "the application gave no snapshot (code %d, %zu bytes)", rc, len);
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
        if (load_commit(node, new_base, &err) < 0) {
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
        compaction_free(c);
        cohort_error_set(&err, BFT_E_IO, "bft", "node: no thread for a compaction");
        goto fail;
    }
    node->compacting = c;
    return;
fail:
    snapshot_failed(node, index, err.message);
}

/* ---- State transfer: a member behind every peer's retained log fetches a snapshot ---- */

/* Tells peer, which asked for blocks before base, about this member's snapshot (signed). */
static void send_offer(struct bft_node *node, uint32_t peer)
{
    if (node->snap.index == 0) return;
    uint8_t f[BFT_OFFER_BYTES], digest[BFT_HASH_BYTES], signature[BFT_SIGNATURE_BYTES];
    bft_offer_digest(node->config.core.instance, &node->snap, digest);
    if (secp_sign(node->config.core.private_key, digest, signature, NULL) < 0) return;
    bft_offer_encode(node->config.core.instance, &node->snap, signature, f);
    enqueue(node, peer, f, sizeof f, 0);
}

static void send_get(struct bft_node *node)
{
    uint8_t f[GET_BYTES];
    f[0] = FRAME_GET;
    be_put(f + 1, node->fetch.index, 8);
    be_put(f + 9, node->fetch_next, 4);
    enqueue(node, node->fetch_source, f, sizeof f, 0);
}

static void fetch_stop(struct bft_node *node)
{
    node->fetching = false;
    free(node->fetch_bytes);
    node->fetch_bytes = NULL;
    uv_timer_stop(&node->fetch_timer);
}

/*
 * Starts (or moves) a fetch of a snapshot that f+1 members offered identically (so at
 * least one honest member holds it), from one of them that has not sent bad bytes.
 */
static void fetch_maybe_start(struct bft_node *node);

static void on_fetch_stalled(uv_timer_t *timer)
{
    struct bft_node *node = timer->loop->data;
    if (!node->fetching) return;
    log_warn("bft node: a snapshot source stalled; trying another member", "member=%u source=%u index=%llu",
             node->self, node->fetch_source, (unsigned long long)node->fetch.index);
    node->offered[node->fetch_source] = false; /* it must offer again to be used */
    fetch_stop(node);
    fetch_maybe_start(node);
}

static void fetch_maybe_start(struct bft_node *node)
{
    if (node->fetching || node->halted || node->config.restore == NULL) return;
    uint32_t f = (node->n - 1) / 3;
    for (uint32_t a = 0; a < node->n; a++) {
        if (!node->offered[a] || node->offer[a].index <= node->committed) continue;
        uint32_t same = 0;
        for (uint32_t b = 0; b < node->n; b++)
            if (node->offered[b] && memcmp(&node->offer[a], &node->offer[b], sizeof node->offer[a]) == 0) same++;
        if (same < f + 1) continue;
        /* Vouched for: fetch it from one of those members that has not failed us. */
        for (uint32_t src = 0; src < node->n; src++) {
            if (!node->offered[src] || (node->fetch_refused & (1u << src)) ||
                memcmp(&node->offer[a], &node->offer[src], sizeof node->offer[a]) != 0)
                continue;
            node->fetch = node->offer[a];
            node->fetch_bytes = malloc(node->fetch.len ? node->fetch.len : 1);
            if (node->fetch_bytes == NULL) return;
            node->fetching = true;
            node->fetch_source = src;
            node->fetch_next = 0;
            node->fetch_chunks = chunk_count(node->fetch.len);
            log_info("bft node is behind every peer's log: fetching a snapshot", "member=%u index=%llu bytes=%llu "
                     "source=%u vouched_by=%u",
                     node->self, (unsigned long long)node->fetch.index, (unsigned long long)node->fetch.len, src,
                     same);
            send_get(node);
            uv_timer_start(&node->fetch_timer, on_fetch_stalled, FETCH_STALL_MS, 0);
            return;
        }
    }
}

/* An OFFER from peer: checked (bft_offer_decode, then its signature) and remembered. */
static void on_offer(struct bft_node *node, uint32_t peer, const uint8_t *f, uint32_t len)
{
    struct bft_snapshot_offer info;
    uint8_t signature[BFT_SIGNATURE_BYTES], digest[BFT_HASH_BYTES], address[BFT_ADDRESS_BYTES];
    struct cohort_error err;
    if (bft_offer_decode(f, len, node->config.core.instance, &info, signature, &err) < 0) return;
    bft_offer_digest(node->config.core.instance, &info, digest);
    if (secp_recover_address(digest, signature, SECP_S_LOW, address, NULL) < 0 ||
        memcmp(address, node->config.core.members.address[peer], BFT_ADDRESS_BYTES) != 0)
        return;
    node->offered[peer] = true;
    node->offer[peer] = info;
    fetch_maybe_start(node);
}

/* A GET from peer: one chunk of this member's snapshot, read from the WAL. */
static void on_get(struct bft_node *node, uint32_t peer, const uint8_t *f, uint32_t len)
{
    if (len != GET_BYTES || node->snap.index == 0 || be_get(f + 1, 8) != node->snap.index) return;
    uint32_t chunk = (uint32_t)be_get(f + 9, 4);
    if (chunk >= node->snap_chunks) return;
    uint64_t n = chunk_len(&node->snap, chunk), done = 0;
    uint8_t *out = node->send_buffer;
    out[0] = FRAME_CHUNK;
    be_put(out + 1, node->snap.index, 8);
    be_put(out + 9, chunk, 4);
    while (done < n) {
        ssize_t got = pread(node->read_fd, out + CHUNK_HEADER_BYTES + done, n - done,
                            (off_t)(node->snap_chunk[chunk] + SNAPSHOT_HEADER_BYTES + done));
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) return;
        done += (uint64_t)got;
    }
    enqueue(node, peer, out, CHUNK_HEADER_BYTES + n, 0);
}

/* Installs the fetched snapshot: the application, the WAL, then the core jumps to it. */
static void fetch_install(struct bft_node *node)
{
    struct cohort_error err = {0};
    struct bft_snapshot_offer info = node->fetch;
    uint8_t *bytes = node->fetch_bytes;
    node->fetch_bytes = NULL;
    fetch_stop(node);
    if (info.index <= node->committed) {
        free(bytes);
        return;
    }
    /* The application first: a snapshot it cannot read is not installed. */
    if (node->config.restore(node->config.arg, info.index, bytes, (size_t)info.len, &err) < 0) {
        log_error("bft node: the application refused a snapshot that f+1 members vouched for", "member=%u index=%llu "
                  "error=\"%s\"",
                  node->self, (unsigned long long)info.index, err.message);
        free(bytes);
        return;
    }
    /* The WAL restarts at the snapshot; the blocks before it are gone for good. */
    node->committed = node->applied = node->durable_committed = info.index; /* the WAL starts after it */
    if (rewrite_wal(node, info.index, info.height, info.hash, &info, bytes, &err) < 0) {
        halt(node, &err); /* the application moved on and the WAL could not follow: restart */
        return;
    }
    memset(node->offered, 0, sizeof node->offered);
    COUNT(node, snapshots_installed, 1);
    log_info("bft node installed a snapshot", "member=%u index=%llu", node->self, (unsigned long long)info.index);
    struct bft_event ev = {.type = BFT_EVENT_JUMP, .bytes = info.hash, .len = BFT_HASH_BYTES, .height = info.height,
                           .index = info.index};
    if (drive(node, &ev, &err) < 0)
        log_error("bft node: the core refused the snapshot's tip", "member=%u error=\"%s\"", node->self, err.message);
}

/* A CHUNK from peer: the next piece of the snapshot being fetched from it. */
static void on_chunk(struct bft_node *node, uint32_t peer, const uint8_t *f, uint32_t len)
{
    if (!node->fetching || peer != node->fetch_source || len < CHUNK_HEADER_BYTES) return;
    if (be_get(f + 1, 8) != node->fetch.index || be_get(f + 9, 4) != node->fetch_next) return;
    uint64_t n = chunk_len(&node->fetch, node->fetch_next);
    if (len - CHUNK_HEADER_BYTES != n) return;
    memcpy(node->fetch_bytes + (uint64_t)node->fetch_next * SNAPSHOT_CHUNK_BYTES, f + CHUNK_HEADER_BYTES, n);
    node->fetch_next++;
    uv_timer_start(&node->fetch_timer, on_fetch_stalled, FETCH_STALL_MS, 0);
    if (node->fetch_next < node->fetch_chunks) {
        send_get(node);
        uv_timer_start(&node->fetch_timer, on_fetch_stalled, FETCH_STALL_MS, 0);
        return;
    }
    uint8_t digest[BFT_HASH_BYTES];
    keccak256(node->fetch_bytes, node->fetch.len, digest);
    if (memcmp(digest, node->fetch.digest, BFT_HASH_BYTES) != 0) {
        log_warn("bft node: a snapshot's bytes do not match the digest its members vouched for; trying another",
                 "member=%u source=%u index=%llu", node->self, peer, (unsigned long long)node->fetch.index);
        node->fetch_refused |= 1u << peer;
        fetch_stop(node);
        fetch_maybe_start(node);
        return;
    }
    uv_timer_stop(&node->fetch_timer);
    /* It rewrites the WAL: after the syncs in flight and a compaction under way. */
    if (node->sync_in_flight || node->compacting != NULL) node->install_waiting = true;
    else fetch_install(node);
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
        if (load_commit(node, i, &err) < 0) {
            halt(node, &err);
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
            take_snapshot(node, i, node->replay->block.header.height, hash);
        }
    }
}

/* Marks everything up to target synced: frames that waited go, and commits are delivered. */
static void synced_up_to(struct bft_node *node, uint64_t target, uint64_t committed)
{
    if (target > node->synced) node->synced = target;
    if (committed > node->durable_committed) node->durable_committed = committed;
    for (uint32_t peer = 0; peer < node->n; peer++)
        if (peer != node->self) flush(node, peer);
    deliver_durable(node);
}

static void barrier(struct bft_node *node);

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
        if (status < 0) cohort_error_set(&w->err, BFT_E_IO, "bft", "node: the WAL sync did not run");
        halt(node, &w->err);
        return;
    }
    pthread_mutex_lock(&node->lock);
    node->status.wal_syncs++;
    node->status.wal_sync_us += w->us;
    pthread_mutex_unlock(&node->lock);
    synced_up_to(node, w->target, w->committed);
    /* No worker holds the WAL's descriptor any more: what waited for that may run. */
    if (node->swap_waiting && node->sync_in_flight == 0) compaction_swap(node);
    install_if_waiting(node);
}

/* Harvests the syncs that finished, if any did since the last look: one atomic load when none. */
static void harvest_syncs(struct bft_node *node)
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
    barrier(node); /* what was appended meanwhile goes in the next sync */
}

/*
 * The barrier of the group commit: when records were appended since the last sync started
 * and fewer than SYNCS_IN_FLIGHT run, one fdatasync starts on the thread pool for all of
 * them; the loop goes on meanwhile (votes that need the disk wait in their queues,
 * signatures get checked). When it is done, the frames that waited for it are written and
 * the application hears of the commits it made durable. Runs before the loop waits for
 * I/O, after each iteration's I/O callbacks, and when a sync completes.
 */
static void barrier(struct bft_node *node)
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
            halt(node, &err);
            return;
        }
        synced_up_to(node, w->target, w->committed);
    }
}

/* A clean stop: what was appended is synced here and now, and the application hears of it. */
static void final_sync(struct bft_node *node)
{
    if (node->halted) return;
    struct cohort_error err;
    uint64_t target = node->appended, committed = node->committed;
    if (node->synced < target && bft_wal_sync(node->wal, &err) < 0) {
        halt(node, &err);
        return;
    }
    synced_up_to(node, target, committed);
}

static void on_barrier_before_poll(uv_prepare_t *handle)
{
    barrier(handle->loop->data);
    flush_turn(handle->loop->data);
}

static void on_barrier_after_poll(uv_check_t *handle)
{
    barrier(handle->loop->data);
    flush_turn(handle->loop->data);
}

/* Tells the core that peer's link broke (or could not be made), or is back. */
static void tell_core_peer(struct bft_node *node, uint32_t peer, bool reachable)
{
    node->peers[peer].told_down = !reachable;
    struct bft_event ev = {.type = BFT_EVENT_PEER, .index = peer, .reachable = reachable};
    struct cohort_error err;
    if (drive(node, &ev, &err) < 0)
        log_warn("bft node: core refused a peer event", "member=%u error=\"%s\"", node->self, err.message);
}

static void on_core_timer(uv_timer_t *timer)
{
    struct bft_node *node = timer->loop->data;
    uint8_t which = (uint8_t)(uintptr_t)timer->data;
    struct bft_event ev = {.type = BFT_EVENT_TIMER, .height = node->timer_height[which], .timer = which};
    struct cohort_error err;
    if (drive(node, &ev, &err) < 0)
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
        if (peer != node->self) enqueue(node, peer, node->send_buffer, len + 1, 0);
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
static void drain_submissions(struct bft_node *node)
{
    while (!node->halted) {
        pthread_mutex_lock(&node->lock);
        struct submission s = {NULL, 0, false};
        if (node->queue_count > 0) s = node->queue[node->queue_head];
        pthread_mutex_unlock(&node->lock);
        if (s.bytes == NULL) return;
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
        int rc = drive(node, &ev, &err);
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

static void on_batch_timer(uv_timer_t *timer)
{
    drain_submissions(timer->loop->data);
}

/* ---- Links: reading and the handshake ---- */

static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    struct bft_node *node = handle->loop->data;
    /* One buffer for all links: each read is consumed before the loop reads again. */
    *buf = uv_buf_init((char *)node->read_buffer, READ_BUFFER_BYTES);
}

static void open_link(struct link *link)
{
    struct bft_node *node = link->node;
    link->state = LINK_OPEN;
    uv_timer_stop(&link->handshake_timer);
    struct peer *p = &node->peers[link->peer];
    if (link->outgoing) {
        p->backoff_ms = BACKOFF_MIN_MS;
        p->down_since_ms = 0;
        if (p->told_down) tell_core_peer(node, link->peer, true);
        COUNT(node, peers_connected, 1);
        flush(node, link->peer);
    } else {
        /* One accepted link per member: a newer one (the member restarted) replaces the old. */
        if (p->inbound != NULL && p->inbound != link) link_close(p->inbound, false, "replaced");
        p->inbound = link;
    }
}

/* One whole frame from link: a handshake step or, once open, a message for the core. */
static void deliver(struct link *link, const uint8_t *bytes, uint32_t len)
{
    struct bft_node *node = link->node;
    struct cohort_error err;
    uint64_t instance = node->config.core.instance;
    switch (link->state) {
    case LINK_HELLO: {
        uint16_t from = 0;
        if (bft_hello_decode(bytes, len, instance, (uint16_t)node->self, node->n, &from, link->their_nonce, &err) < 0) {
            link_close(link, true, err.message);
            return;
        }
        if (link->outgoing && from != link->peer) {
            link_close(link, true, "HELLO from another member than the one dialled");
            return;
        }
        link->peer = from;
        /* The dialler sent its HELLO on connect; the acceptor answers with both. */
        if (send_handshake(link, !link->outgoing, true) < 0) {
            link_close(link, false, "cannot send the handshake");
            return;
        }
        link->state = LINK_AUTH;
        return;
    }
    case LINK_AUTH: {
        uint8_t digest[BFT_HASH_BYTES], address[BFT_ADDRESS_BYTES];
        if (len != BFT_AUTH_BYTES || memcmp(bytes, auth_magic, 4) != 0) {
            link_close(link, true, "not an AUTH");
            return;
        }
        bft_auth_digest(instance, (uint16_t)link->peer, (uint16_t)node->self, link->nonce, digest);
        if (secp_recover_address(digest, bytes + 4, SECP_S_LOW, address, NULL) < 0 ||
            memcmp(address, node->config.core.members.address[link->peer], BFT_ADDRESS_BYTES) != 0) {
            link_close(link, true, "AUTH not signed by the member's key");
            return;
        }
        open_link(link);
        return;
    }
    case LINK_OPEN: {
        if (link->outgoing) {
            /* Messages travel on the sender's dialled link: ours carries nothing back. */
            link_close(link, true, "a frame on a dialled link");
            return;
        }
        COUNT(node, frames_received, 1);
        if (bytes[0] == FRAME_OFFER) {
            on_offer(node, link->peer, bytes, len);
            return;
        }
        if (bytes[0] == FRAME_GET) {
            on_get(node, link->peer, bytes, len);
            return;
        }
        if (bytes[0] == FRAME_CHUNK) {
            on_chunk(node, link->peer, bytes, len);
            return;
        }
        if (bytes[0] == BFT_ENTRY_FRAME) {
            /* An entry a member forwarded: pending here too, not forwarded again. A full
               next block drops it (the member that took it from a client retries). */
            struct bft_event ev = {.type = BFT_EVENT_SUBMIT, .bytes = bytes + 1, .len = len - 1};
            (void)drive(node, &ev, &err);
            return;
        }
        harvest_syncs(node); /* votes that waited for the disk go before this frame is worked on */
        struct bft_event ev = {.type = BFT_EVENT_MESSAGE, .bytes = bytes, .len = len};
        if (drive(node, &ev, &err) < 0)
            log_warn("bft node: core refused a message event", "member=%u error=\"%s\"", node->self, err.message);
        return;
    }
    case LINK_CONNECTING:
    case LINK_CLOSING: return;
    }
}

/* Splits what was read into frames: the u32 BE prefix, then that many bytes. */
static void consume(struct link *link, const uint8_t *data, size_t n)
{
    struct cohort_error err;
    while (n > 0 && link->state != LINK_CLOSING) {
        if (!link->in_frame) {
            uint32_t take = PREFIX_BYTES - link->prefix_have;
            if (take > n) take = (uint32_t)n;
            memcpy(link->prefix + link->prefix_have, data, take);
            link->prefix_have += take;
            data += take;
            n -= take;
            if (link->prefix_have < PREFIX_BYTES) return;
            link->prefix_have = 0;
            uint32_t len = 0;
            if (bft_frame_length(link->prefix, &len, &err) < 0) {
                link_close(link, true, err.message);
                return;
            }
            if (link->state != LINK_OPEN && len > BFT_AUTH_BYTES) {
                link_close(link, true, "a handshake frame longer than AUTH");
                return;
            }
            if (n >= len) { /* the whole frame is in this read: no copy */
                deliver(link, data, len);
                data += len;
                n -= len;
                continue;
            }
            if (len > link->frame_cap) {
                uint8_t *buf = realloc(link->frame, len);
                if (buf == NULL) {
                    link_close(link, false, "out of memory for a frame");
                    return;
                }
                link->frame = buf;
                link->frame_cap = len;
            }
            link->in_frame = true;
            link->frame_len = len;
            link->frame_have = 0;
        }
        uint32_t take = link->frame_len - link->frame_have;
        if (take > n) take = (uint32_t)n;
        memcpy(link->frame + link->frame_have, data, take);
        link->frame_have += take;
        data += take;
        n -= take;
        if (link->frame_have < link->frame_len) return;
        link->in_frame = false;
        deliver(link, link->frame, link->frame_len);
        if (link->frame_cap > FRAME_BUFFER_KEEP && link->state != LINK_CLOSING) {
            free(link->frame); /* a large sync block passed: give its buffer back */
            link->frame = NULL;
            link->frame_cap = 0;
        }
    }
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    struct link *link = stream->data;
    if (nread < 0) {
        link_close(link, false, nread == UV_EOF ? "closed by the other side" : uv_strerror((int)nread));
        return;
    }
    if (nread > 0) consume(link, (const uint8_t *)buf->base, (size_t)nread);
}

static void on_connect(uv_connect_t *req, int status)
{
    struct link *link = req->data;
    if (link->state == LINK_CLOSING) return; /* cancelled by a close */
    if (status < 0) {
        link_close(link, false, uv_strerror(status));
        return;
    }
    uv_tcp_nodelay(&link->tcp, 1);
    uv_tcp_keepalive(&link->tcp, 1, 10);
    link->state = LINK_HELLO;
    if (uv_read_start((uv_stream_t *)&link->tcp, on_alloc, on_read) < 0 || send_handshake(link, true, false) < 0)
        link_close(link, false, "cannot start the handshake");
}

static void dial(struct bft_node *node, uint32_t peer)
{
    struct peer *p = &node->peers[peer];
    assert(p->link == NULL);
    struct link *link = link_new(node, true, peer);
    if (link == NULL) {
        uv_timer_start(&p->reconnect_timer, on_reconnect_timer, p->backoff_ms, 0);
        return;
    }
    p->link = link;
    link->state = LINK_CONNECTING;
    link->connect.data = link;
    if (uv_tcp_connect(&link->connect, &link->tcp, (const struct sockaddr *)&p->address, on_connect) < 0)
        link_close(link, false, "connect failed");
}

static void on_connection(uv_stream_t *server, int status)
{
    struct bft_node *node = server->loop->data;
    if (status < 0 || node->closing) return;
    struct link *link = link_new(node, false, UINT32_MAX);
    if (link == NULL) return;
    link->state = LINK_HELLO;
    link->next = node->inbound;
    if (node->inbound) node->inbound->prev = link;
    node->inbound = link;
    node->inbound_count++;
    if (uv_accept(server, (uv_stream_t *)&link->tcp) < 0) {
        link_close(link, false, "accept failed");
        return;
    }
    if (node->inbound_count > INBOUND_MAX) {
        link_close(link, true, "too many accepted links");
        return;
    }
    uv_tcp_nodelay(&link->tcp, 1);
    uv_tcp_keepalive(&link->tcp, 1, 10);
    if (uv_read_start((uv_stream_t *)&link->tcp, on_alloc, on_read) < 0) link_close(link, false, "read failed");
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
        if (node->peers[i].link) link_close(node->peers[i].link, false, "stopping");
        uv_close((uv_handle_t *)&node->peers[i].reconnect_timer, handle_closed);
    }
    while (node->inbound) link_close(node->inbound, false, "stopping");
    uv_close((uv_handle_t *)&node->listener, handle_closed);
    for (int i = 0; i < BFT_TIMERS; i++) uv_close((uv_handle_t *)&node->core_timer[i], handle_closed);
    uv_close((uv_handle_t *)&node->batch_timer, handle_closed);
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
        final_sync(node); /* a clean stop: what was appended is synced, and the application hears of it */
        close_all(node);
        return;
    }
    if (node->submit_blocked) return; /* the next commit retries */
    if (node->config.batch_delay_us == 0) drain_submissions(node);
    else if (!uv_is_active((uv_handle_t *)&node->batch_timer))
        uv_timer_start(&node->batch_timer, on_batch_timer, (node->config.batch_delay_us + 999) / 1000, 0);
}

static void *run(void *arg)
{
    struct bft_node *node = arg;
    struct cohort_error err;
    struct bft_event start = {.type = BFT_EVENT_START};
    if (drive(node, &start, &err) < 0)
        log_error("bft node: core refused START", "member=%u error=\"%s\"", node->self, err.message);
    for (uint32_t i = 0; i < node->n; i++)
        if (i != node->self) dial(node, i);
    drain_submissions(node);
    uv_run(&node->loop, UV_RUN_DEFAULT);
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
        return remember_commit(node, node->replay->block.header.index, offset + BFT_WAL_HEADER_BYTES, len, r->err);
    case BFT_RECORD_SNAPSHOT: {
        if (len < SNAPSHOT_HEADER_BYTES)
            return cohort_error_set(r->err, BFT_E_CORRUPT, "bft", "snapshot record at offset %llu: %zu bytes",
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
                return cohort_error_set(r->err, BFT_E_CORRUPT, "bft",
                                        "snapshot record at offset %llu: index %llu (the log is at %llu), %llu bytes",
                                        (unsigned long long)offset, (unsigned long long)info.index,
                                        (unsigned long long)node->committed, (unsigned long long)info.len);
            node->reading_snapshot = malloc(info.len ? info.len : 1);
            node->reading_chunk = malloc(chunk_count(info.len) * sizeof *node->reading_chunk);
            if (node->reading_snapshot == NULL || node->reading_chunk == NULL)
                return cohort_error_set(r->err, BFT_E_NOMEM, "bft", "out of memory for a snapshot of %llu bytes",
                                        (unsigned long long)info.len);
            node->reading = info;
            node->reading_have = 0;
            node->reading_chunks = 0;
        }
        if (node->reading_snapshot == NULL || info.index != node->reading.index ||
            info.height != node->reading.height || memcmp(info.hash, node->reading.hash, BFT_HASH_BYTES) != 0 ||
            info.len != node->reading.len || at != node->reading_have || at % SNAPSHOT_CHUNK_BYTES != 0 ||
            chunk != chunk_len(&info, node->reading_chunks))
            return cohort_error_set(r->err, BFT_E_CORRUPT, "bft",
                                    "snapshot record at offset %llu does not continue the snapshot before it",
                                    (unsigned long long)offset);
        memcpy(node->reading_snapshot + at, payload + SNAPSHOT_HEADER_BYTES, chunk);
        node->reading_chunk[node->reading_chunks++] = offset + BFT_WAL_HEADER_BYTES;
        node->reading_have += chunk;
        if (node->reading_chunks == chunk_count(info.len)) { /* complete: the newest snapshot */
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
            return cohort_error_set(err, BFT_E_CORRUPT, "bft",
                                    "%s: compacted (its log starts after block %llu) but holds no whole snapshot; "
                                    "restore this member",
                                    node->config.wal_path, (unsigned long long)node->base);
        if (node->config.restore == NULL)
            return cohort_error_set(err, BFT_E_INVALID, "bft", "%s holds a snapshot, and the node has no restore function",
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
        int rc = load_commit(node, i, err);
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
    compaction_free(node->compacting); /* a compaction the stop overtook (its work has run) */
    for (uint32_t i = 0; i < node->n; i++) free_frames(node->peers[i].head);
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
        return cohort_error_set(err, BFT_E_INVALID, "bft", "node: member %u of %u members", core->self,
                                core->members.count);
    if (config->wal_path[0] == '\0' || memchr(config->wal_path, '\0', sizeof config->wal_path) == NULL)
        return cohort_error_set(err, BFT_E_INVALID, "bft", "node: wal_path is empty or not terminated");
    char ips[BFT_MEMBERS_MAX][16];
    uint16_t ports[BFT_MEMBERS_MAX];
    for (uint32_t i = 0; i < core->members.count; i++)
        if (bft_endpoint_parse(config->endpoint[i], ips[i], &ports[i], err) < 0)
            return cohort_error_wrap(err, "node: member %u", i);

    struct bft_node *node = calloc(1, sizeof *node);
    if (node == NULL) return cohort_error_set(err, BFT_E_NOMEM, "bft", "node: out of memory");
    node->config = *config;
    node->n = core->members.count;
    node->self = core->self;
    node->read_fd = -1;
    node->queue_max_bytes = config->queue_max_bytes ? config->queue_max_bytes : QUEUE_DEFAULT_BYTES;
    pthread_mutex_init(&node->lock, NULL);
    node->status.self = node->self;
    uint8_t seed[8];
    if (random_bytes(seed, sizeof seed) < 0) {
        node_free(node, false);
        return cohort_error_errno(err, BFT_E_IO, "bft", errno, "node: getrandom");
    }
    memcpy(&node->rng, seed, sizeof seed);
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
        return cohort_error_set(err, BFT_E_NOMEM, "bft", "node: out of memory");
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
        rc = cohort_error_errno(err, BFT_E_IO, "bft", errno, "node: open %s for reading", config->wal_path);
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
        return cohort_error_set(err, BFT_E_INVALID, "bft", "node: a snapshot function needs a restore function");
    }
    publish_core_status(node);

    /* The loop and its handles. From here on a failure closes them through the loop. */
    if (uv_loop_init(&node->loop) < 0) {
        node_free(node, false);
        return cohort_error_set(err, BFT_E_IO, "bft", "node: uv_loop_init failed");
    }
    node->loop.data = node;
    rc = uv_async_init(&node->loop, &node->wake, on_wake);
    if (rc < 0) {
        uv_loop_close(&node->loop);
        node_free(node, false);
        return cohort_error_set(err, BFT_E_IO, "bft", "node: uv_async_init: %s", uv_strerror(rc));
    }
    for (uintptr_t i = 0; i < BFT_TIMERS; i++) {
        uv_timer_init(&node->loop, &node->core_timer[i]);
        node->core_timer[i].data = (void *)i;
    }
    uv_timer_init(&node->loop, &node->batch_timer);
    uv_timer_init(&node->loop, &node->fetch_timer);
    uv_prepare_init(&node->loop, &node->barrier_before_poll);
    uv_prepare_start(&node->barrier_before_poll, on_barrier_before_poll);
    uv_check_init(&node->loop, &node->barrier_after_poll);
    uv_check_start(&node->barrier_after_poll, on_barrier_after_poll);
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
    if (rc == 0) rc = uv_listen((uv_stream_t *)&node->listener, 128, on_connection);
    if (rc < 0) {
        cohort_error_set(err, BFT_E_IO, "bft", "node: listen on %s: %s (is another process using the port?)",
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
    rc = pthread_create(&node->thread, NULL, run, node);
    pthread_sigmask(SIG_SETMASK, &saved, NULL);
    if (rc != 0) {
        cohort_error_errno(err, BFT_E_IO, "bft", rc, "node: pthread_create");
        goto fail_loop;
    }
    *out = node;
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
        return cohort_error_set(err, BFT_E_RANGE, "bft", "node: entry of %zu bytes exceeds the payload cap of %zu",
                                len, cap);
    uint8_t *copy = malloc(len ? len : 1);
    if (copy == NULL) return cohort_error_set(err, BFT_E_FULL, "bft", "node: out of memory for an entry: retry later");
    if (len) memcpy(copy, entry, len);
    pthread_mutex_lock(&node->lock);
    if (node->stop_requested || node->queue_count == BFT_SUBMIT_QUEUE_MAX) {
        bool stopping = node->stop_requested;
        pthread_mutex_unlock(&node->lock);
        free(copy);
        return stopping ? cohort_error_set(err, BFT_E_INVALID, "bft", "node: stopping")
                        : cohort_error_set(err, BFT_E_FULL, "bft", "node: %d entries waiting: retry later",
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
