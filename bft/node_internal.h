/*
 * node_internal.h - what the files of the BFT node share (node.h is the API; this is not).
 *
 * The node is one state (struct bft_node) that only the loop thread touches, except what
 * its lock guards. Its files follow the node's parts, each a reader can hold at once:
 *
 *   node.c           start and stop, the WAL's replay, the loop thread, small helpers, and
 *                    the commit index (where each COMMIT record is in the WAL)
 *   node_link.c      TCP links: lifetime, the signed handshake, framing, per-peer queues
 *   node_drive.c     stepping the core and performing its actions, the group commit (the
 *                    fsync barrier), delivery to the application, submissions
 *   node_snapshot.c  snapshots and the WAL's compaction around them
 *   node_transfer.c  state transfer: offering, fetching and installing a snapshot
 *
 * The functions below are named node_* and are not static only so that these files can
 * call each other; nothing outside bft/node*.c may use them.
 */
#ifndef COHORT_BFT_NODE_INTERNAL_H
#define COHORT_BFT_NODE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "bft/node.h"
#include "common/error.h"

#define DOMAIN "bft" /* the domain of the node's errors */
#define READ_BUFFER_BYTES (64u * 1024u)  /* one shared read buffer: the loop reads one socket at a time */
#define FRAME_BUFFER_KEEP (256u * 1024u) /* a link keeps a reassembly buffer up to this size between frames */
#define WRITES_IN_FLIGHT 2               /* uv_writes outstanding per link */
#define WRITE_BUFS_MAX 64                /* frames coalesced into one uv_write */
#define WRITE_BYTES_MAX (1u << 20)       /* bytes coalesced into one uv_write (one frame may exceed it) */
#define HANDSHAKE_TIMEOUT_MS 5000
#define BACKOFF_MIN_MS 50
#define BACKOFF_MAX_MS 2000
#define INBOUND_MAX (2 * BFT_MEMBERS_MAX) /* accepted links, authenticated or not */
/* Accepted links still in their handshake: past this, the oldest of them is closed for a
   new one. With at most one authenticated link per member, strangers that connect and say
   nothing can never fill INBOUND_MAX and lock a member out, and a member's handshake (a
   few milliseconds) outlives all but the fastest flood. */
#define PREAUTH_MAX BFT_MEMBERS_MAX
/* Of them, from one address (an IPv4 address, an IPv6 /64): past this, that address's
   oldest handshake goes, not another's, so one flooding host churns only its own links. */
#define PREAUTH_PER_ADDRESS 8
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

_Static_assert(BFT_ENTRY_FRAME == 0xE0, "node frames: 0xE0 entry, 0xE1 offer, 0xE2 get, 0xE3 chunk, 0xE4 tip");
enum { FRAME_OFFER = BFT_OFFER_FRAME, FRAME_GET = 0xE2, FRAME_CHUNK = 0xE3, FRAME_TIP = 0xE4 };
#define TIP_BYTES 9 /* 0xE4 | height u64: the sender's current height, first on a link it dialled */

/* One queued frame: its length prefix and bytes, ready for the socket. */
struct frame {
    struct frame *next;
    uint64_t needs; /* it may leave once the WAL is synced up to this append (see barrier) */
    uint32_t size;  /* PREFIX_BYTES + message length + BFT_FRAME_TAG_BYTES (set when written) */
    uint8_t bytes[];
};

enum link_state {
    LINK_CONNECTING, /* outgoing: uv_tcp_connect in progress */
    LINK_HELLO,      /* waiting for the other side's HELLO */
    LINK_IDENT,      /* identities in use (config.vouch): waiting for the IDENT after the HELLO */
    LINK_AUTH,       /* our AUTH is sent; waiting for theirs */
    LINK_OPEN,       /* authenticated: carries frames */
    LINK_POINTING,   /* incoming from an older epoch: the change proof is being sent, then it closes */
    LINK_CLOSING,    /* uv_close called; freed when both handles have closed */
};

struct link {
    struct bft_node *node;
    uv_tcp_t tcp;
    uv_timer_t handshake_timer;
    uv_connect_t connect;
    int handles_open;
    bool outgoing;
    bool preauth; /* accepted, handshake not done: counted in node->preauth_count */
    uint8_t from[8];              /* accepted: the remote address (IPv4, or an IPv6 /64) */
    enum link_state state;
    uint32_t peer;                  /* outgoing: the member dialled; incoming: from its HELLO */
    uint8_t nonce[32];              /* ours, fresh per link */
    uint8_t their_nonce[32];
    uint8_t key[32];                /* open: the frames' tag key (bft_frame_key) */
    uint64_t frame_number;          /* open: frames tagged (the dialler) or checked (the acceptor) */
    uint32_t writes_in_flight;
    /* Reassembly of a frame that spans reads. */
    uint8_t prefix[PREFIX_BYTES];
    uint32_t prefix_have;
    bool in_frame;
    uint32_t frame_len, frame_have, frame_cap;
    uint8_t *frame;
    struct link *prev, *next; /* the node's list of accepted links */
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
#define SEEN_ENTRIES 4096 /* committed entries remembered for node_entry_seen (32 KiB) */

struct compaction;

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
    uv_timer_t tick_timer; /* config.tick's */
    uv_prepare_t barrier_before_poll; /* the group commit, before the loop waits for I/O ... */
    uv_check_t barrier_after_poll;    /* ... and after the I/O callbacks of an iteration ran */
    uv_tcp_t listener;
    pthread_t thread;
    uint64_t timer_height[BFT_TIMERS];

    struct peer peers[BFT_MEMBERS_MAX];
    struct link *inbound; /* accepted links */
    uint32_t inbound_count;
    uint32_t preauth_count; /* accepted links in their handshake (PREAUTH_MAX) */
    uint32_t pointing;      /* change proofs being written to peers of older epochs (POINTING_MAX) */
    bool closing;         /* the loop is shutting down: no re-dials */
    bool halted;          /* the WAL failed: the core is not stepped again */
    bool submit_blocked;  /* the core's next block is full: retry after a commit */
    bool draining;        /* node_drain_submissions runs: config.held's submissions wait for it */
    bool in_held;         /* config.held runs: a step inside it calls it no more */
    bool unflushed;       /* frames were queued this loop turn: flush_turn writes them */
    uint64_t rng;
    /* Fingerprints of the entries of the last commits (a ring; node_entry_seen), so that a
       copy that comes after its block committed (a forwarded frame that was late, a
       resubmission whose first copy made it after all) is not proposed a second time. */
    uint64_t seen_seed;
    uint64_t seen[SEEN_ENTRIES];
    uint32_t seen_next;

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
#define COUNT(node, field, delta)                                                                                    \
    do {                                                                                                             \
        pthread_mutex_lock(&(node)->lock);                                                                           \
        (node)->status.field += (delta);                                                                             \
        pthread_mutex_unlock(&(node)->lock);                                                                         \
    } while (0)

/* ---- node.c: small helpers and the commit index ---- */

/* splitmix64, seeded from getrandom at start: jitter must differ between members. */
uint64_t node_rnd(struct bft_node *node);
/* Whether an entry with these bytes was committed in the last SEEN_ENTRIES entries (by a
   64-bit fingerprint under a seed drawn at start, so a collision is chance: 2^-52 per entry). */
bool node_entry_seen(const struct bft_node *node, const uint8_t *entry, size_t len);
/* Records the entries of a committed block's payload for node_entry_seen. */
void node_entries_committed(struct bft_node *node, const uint8_t *payload, uint32_t len);
/* Fills out with len bytes from getrandom: 0, or -1 with errno set. */
int node_random_bytes(uint8_t *out, size_t len);
/* Copies the core's status into the node's status (under the lock). */
void node_publish_status(struct bft_node *node);
/* Stops stepping the core for good after a WAL failure; logs err. */
void node_halt(struct bft_node *node, const struct cohort_error *err);
/* Notes where the COMMIT record of index (committed + 1) is in the WAL. */
int node_remember_commit(struct bft_node *node, uint64_t index, uint64_t offset, size_t len,
                         struct cohort_error *err);
/* Reads len bytes at offset at of fd into buf: 0, or an errno (EIO for a file that ends first). */
int node_pread_all(int fd, uint8_t *buf, size_t len, uint64_t at);
/* Reads the COMMIT record payload of log index (base < index <= committed) into node->record. */
int node_read_commit(struct bft_node *node, uint64_t index, size_t *len, struct cohort_error *err);
/* Reads the COMMIT record of log index back from the WAL and decodes it into node->replay. */
int node_load_commit(struct bft_node *node, uint64_t index, struct cohort_error *err);

/* ---- node_link.c: links ---- */

/* Dials peer (an outgoing link); a failure re-dials after the peer's backoff. */
void node_dial(struct bft_node *node, uint32_t peer);
/* libuv's callback for the listener: accepts a link, which must then say HELLO. */
void node_on_connection(uv_stream_t *server, int status);
/*
 * Which accepted link in its handshake to close for a new one from `from` (links: newest
 * first, as node->inbound): that address's oldest once it has PREAUTH_PER_ADDRESS, else the
 * oldest of all once there are PREAUTH_MAX, else none (NULL).
 */
struct link *node_preauth_victim(struct link *links, uint32_t preauth_count, const uint8_t from[8]);
/* Closes a link; refused: it broke the rules, which the status counts. */
void node_link_close(struct link *link, bool refused, const char *why);
/* Frees a list of frames. */
void node_free_frames(struct frame *f);
/* Moves queued frames of peer that may leave into coalesced writes. */
void node_flush(struct bft_node *node, uint32_t peer);
/* Queues one message for peer, to leave once the WAL is synced up to append needs; false: dropped. */
bool node_enqueue(struct bft_node *node, uint32_t peer, const uint8_t *bytes, size_t len, uint64_t needs);
/* Writes what this loop turn queued, one coalesced write per peer. */
void node_flush_turn(struct bft_node *node);

/* ---- node_drive.c: the core, the group commit, submissions ---- */

/* Steps the core with ev and performs its actions. */
int node_drive(struct bft_node *node, const struct bft_event *ev, struct cohort_error *err);
/* Tells the core that peer's link broke (or could not be made), or is back. */
void node_tell_core_peer(struct bft_node *node, uint32_t peer, bool reachable);
/* Marks everything up to append target synced: frames that waited go, commits are delivered. */
void node_synced_up_to(struct bft_node *node, uint64_t target, uint64_t committed);
/* Acts on the syncs that finished since the last look. */
void node_harvest_syncs(struct bft_node *node);
/* The group commit's barrier: starts an fdatasync for what was appended since the last one. */
void node_barrier(struct bft_node *node);
/* A clean stop: syncs what was appended here and now; the application hears of it. */
void node_final_sync(struct bft_node *node);
void node_on_barrier_before_poll(uv_prepare_t *handle);
void node_on_barrier_after_poll(uv_check_t *handle);
/* Hands queued submissions to the core until it says its next block is full. */
void node_drain_submissions(struct bft_node *node);
void node_on_batch_timer(uv_timer_t *timer);

/* ---- node_snapshot.c: snapshots and compaction ---- */

/* How many SNAPSHOT records a snapshot of len bytes takes, and the length of one of them. */
uint32_t node_chunk_count(uint64_t len);
uint64_t node_chunk_len(const struct bft_snapshot_offer *info, uint32_t chunk);
/* Takes a snapshot after block index (just delivered) and starts a compaction around it. */
void node_take_snapshot(struct bft_node *node, uint64_t index, uint64_t height, const uint8_t hash[BFT_HASH_BYTES]);
/* Rewrites the WAL around (info, bytes: taken over) at once, on the loop thread: state transfer. */
int node_rewrite_wal(struct bft_node *node, uint64_t new_base, uint64_t base_height,
                     const uint8_t base_hash[BFT_HASH_BYTES], const struct bft_snapshot_offer *info, uint8_t *bytes,
                     struct cohort_error *err);
/* A written compaction's swap, once no sync is in flight; then what waited for it. */
void node_compaction_swap(struct bft_node *node);
/* Installs a fetched snapshot that waited, once nothing holds or rewrites the WAL any more. */
void node_install_if_waiting(struct bft_node *node);
/* Frees a compaction (NULL: nothing), removing its unfinished file. */
void node_compaction_free(struct compaction *c);

/* ---- node_transfer.c: state transfer ---- */

/* Tells peer, which asked for blocks before base, about this member's snapshot (signed). */
void node_send_offer(struct bft_node *node, uint32_t peer);
/* The state-transfer frames from peer: OFFER, GET, CHUNK. */
void node_on_offer(struct bft_node *node, uint32_t peer, const uint8_t *f, uint32_t len);
void node_on_get(struct bft_node *node, uint32_t peer, const uint8_t *f, uint32_t len);
void node_on_chunk(struct bft_node *node, uint32_t peer, const uint8_t *f, uint32_t len);
/* Installs the fetched snapshot: the application, the WAL, then the core jumps to it. */
void node_fetch_install(struct bft_node *node);

#endif
