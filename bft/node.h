/*
 * node.h - a running member of a BFT log: the sans-IO core (bft.h) driven by a libuv
 * loop on its own thread, with its write-ahead log on disk and TCP links to the other
 * members (docs/bft.md "The node"). cohort-core runs one for the cluster's config store;
 * the subnodes of a chain will run one each for the chain's blocks.
 *
 * Transport: every member listens on its endpoint and dials every other member; it sends
 * on the link it dialled and receives on the links it accepted. A link opens with a
 * handshake signed by the member key (HELLO, then AUTH over the other side's fresh nonce),
 * so a link is bound to one member before any frame is read from it. Frames are a u32
 * big-endian length and that many bytes, at most BFT_MESSAGE_MAX; a longer frame, a bad
 * handshake or a peer that sends before it is authenticated closes the link. A lost link
 * is re-dialled with exponential backoff (50 ms doubling to 2 s, with jitter). Each
 * peer's send queue is bounded (queue_max_bytes): when full, new messages to that peer are
 * dropped and counted (the protocol re-sends on its timeouts).
 *
 * Threads: every function here may be called from any thread, except on_commit, which the
 * node calls on its own loop thread.
 */
#ifndef COHORT_BFT_NODE_H
#define COHORT_BFT_NODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bft/bft.h"
#include "common/error.h"

#define BFT_ENDPOINT_MAX 64      /* "127.0.0.1:port" or "host:port", NUL included */
#define BFT_SUBMIT_QUEUE_MAX 4096 /* entries waiting to be handed to the core */
#define BFT_ENTRY_FRAME 0xE0      /* first byte of a frame that forwards a submitted entry (messages start with 1) */

/*
 * Called once per committed block, in log order, on the node's thread, after the block's
 * COMMIT record is durable. During bft_node_start it is also called for every block
 * already in the WAL (replaying = true), on the thread that called bft_node_start and
 * before the node talks to anyone, so the application rebuilds its state from the log.
 * The commit and its payload are valid for the call only. It must not call
 * bft_node_stop (the stop joins the thread it runs on); bft_node_submit,
 * bft_node_get_status and bft_node_set_vote_from are fine.
 */
typedef void (*bft_commit_fn)(void *arg, const struct bft_commit *commit, bool replaying);

/*
 * Snapshots (docs/bft.md "Snapshots"). bft_snapshot_fn gives the application's state after
 * the block at log index `index` (the last one on_commit delivered), as bytes in a malloc'd
 * buffer the node frees; it runs on the node's thread. Returns 0, or a negative code (the
 * node logs it and tries again after the next snapshot_every commits).
 *
 * bft_restore_fn replaces the application's state with a snapshot's: during bft_node_start
 * on the caller's thread, before on_commit(replaying = true) delivers the blocks after
 * index; and on the node's thread when the member was so far behind that it fetched a
 * snapshot from the others (f+1 of them vouched for its digest), before on_commit delivers
 * the blocks after it. The bytes are valid for the call. Returns 0, or a negative code with
 * err filled: the start fails with it (a snapshot the application cannot read is
 * corruption); a fetched snapshot is then not installed.
 */
typedef int (*bft_snapshot_fn)(void *arg, uint64_t index, uint8_t **bytes, size_t *len);
typedef int (*bft_restore_fn)(void *arg, uint64_t index, const uint8_t *bytes, size_t len, struct cohort_error *err);

/*
 * Optional: finishes the bytes bft_snapshot_fn gave (a checksum over them, say) on a thread
 * of libuv's pool, before anything reads them, so that work is not done on the node's
 * thread. It may touch nothing but the bytes (len as bft_snapshot_fn set it).
 */
typedef void (*bft_snapshot_seal_fn)(uint8_t *bytes, size_t len);

/*
 * Sealing: merges count (1..BFT_SEAL_MAX) entries submitted with bft_node_submit_unsealed
 * and queued together into one entry, on the node's thread, writing it into a malloc'd
 * buffer (*out, *out_len) the node frees. An application that signs its entries signs the
 * merged one once: under load many entries queue while the loop is busy, and each costs
 * every member one signature check instead of one each. The merged entry must be at most
 * the entries' bytes + 4 per entry + seal_overhead_bytes. Returns 0 or a negative code
 * (the entries are dropped; their submitter retries).
 */
typedef int (*bft_seal_fn)(void *arg, const uint8_t *const *entries, const size_t *lens, size_t count, uint8_t **out,
                           size_t *out_len);
#define BFT_SEAL_MAX 1024

/*
 * Identities (optional). When members' addresses are not all known in advance (a chain's
 * subnodes each make their own key, and their nodes vouch for them: docs/chain.md "Members
 * and keys"), each side of a link follows its HELLO with an IDENT frame: the member's
 * address and a proof (at most BFT_PROOF_MAX bytes, the application's format) that the
 * member's node vouches for it. bft_vouch_fn checks a proof: 0 when it shows that address
 * speaks for member, negative otherwise (the link is refused). A member whose address in
 * config.core.members is all zeros takes the vouched one from then on, and bft_learned_fn
 * tells the application (on the node's thread), which may keep it for its next start; a
 * member whose address is known must present the same one. Without vouch no IDENT is sent
 * or expected (cohort-core's config store, whose members are known).
 */
#define BFT_PROOF_MAX 128
typedef int (*bft_vouch_fn)(void *arg, uint32_t member, const uint8_t address[BFT_ADDRESS_BYTES],
                            const uint8_t *proof, size_t proof_len);
typedef void (*bft_learned_fn)(void *arg, uint32_t member, const uint8_t address[BFT_ADDRESS_BYTES],
                               const uint8_t *proof, size_t proof_len);

struct bft_node;

struct bft_node_config {
    struct bft_config core;                      /* instance, members, self, key, sizes, timeout */
    char endpoint[BFT_MEMBERS_MAX][BFT_ENDPOINT_MAX]; /* each member's "ip:port" (IPv4) */
    char wal_path[1024];                         /* the WAL file; created with its directory's fsync */
    uint32_t queue_max_bytes;                    /* per peer; 0: 16 MiB */
    uint32_t batch_delay_us;                     /* how long a leader waits for more entries; 0: none */
    bft_commit_fn on_commit;
    bft_snapshot_fn snapshot;                    /* NULL: the WAL is never compacted */
    bft_restore_fn restore;                      /* needed with snapshot */
    bft_snapshot_seal_fn snapshot_seal;          /* NULL: snapshot's bytes are final */
    bft_seal_fn seal;                            /* needed for bft_node_submit_unsealed */
    uint32_t seal_overhead_bytes;                /* what sealing adds besides 4 bytes an entry */
    uint32_t snapshot_every;                     /* commits between snapshots; 0: 8192 */
    uint32_t retain_commits;                     /* commits kept before a snapshot, for peers that
                                                    lag; 0: 4 x snapshot_every */
    void *arg;
    uint32_t compaction_delay_ms; /* tests only: a compaction's worker waits this long before it
                                     writes, so the WAL's tail (what is appended meanwhile) grows */
    bool equivocate; /* Byzantine tests only: as leader, send a different block to half the
                        members (cohort-core sets it only in its test build) */
    bool garbage;    /* Byzantine tests only: at every tick, send each peer frames of random
                        bytes on the open link (tagged, so only the message is garbage) */
    bft_vouch_fn vouch;                  /* NULL: every member's address is given, no IDENT */
    bft_learned_fn learned;              /* optional, with vouch */
    uint8_t proof[BFT_PROOF_MAX];        /* this member's proof, sent in its IDENT */
    uint32_t proof_len;
    /* Optional: called every tick_ms on the node's thread, from the start until the stop.
       The application's retries go here: an entry whose block was not committed is lost
       (bft_node_submit), and a submitter that only acts on commits and on new work would
       never send it again once the log rests (docs/chain.md "Batches"). It may call
       bft_node_submit and bft_node_get_status, nothing else of the node's. */
    void (*tick)(void *arg);
    uint32_t tick_ms; /* with tick; 0: 1000 */
    /* Optional: epochs (docs/bft.md "Membership changes"), both on the node's thread.
       pointer: a peer's HELLO names instance, not this epoch's. Returns the length of the
       change proof that ended that epoch (bft_commit_encode of the block that carried the
       change, as that epoch's instance hashes it), and writes it into out when it fits in
       cap bytes (the node asks with cap 0 first); 0 when instance is no older epoch of
       this log (the link is refused as before). The node sends it as a POINTER frame
       ("CBP1" || proof), at most 8 at a time, and closes the link.
       pointed: this node dialled a member that answered its HELLO so. The node decodes the
       proof and verifies it against this epoch's members (a quorum of them finalized that
       block) before it calls pointed, then closes the link; it is called again at every
       re-dial until the application moves on. The application checks that the block ends
       the epoch and what comes next. */
    size_t (*pointer)(void *arg, uint64_t instance, uint8_t *out, size_t cap);
    void (*pointed)(void *arg, const struct bft_commit *commit);
    /* Optional: called last on the node's thread, as it ends (bft_node_stop): what the
       application's callbacks kept per thread goes here (the chain's VM). */
    void (*thread_exit)(void *arg);
    /* Optional, on the node's thread: a step took entries out of this member's pending ones
       (a block carries them: a proposal, its own or a leader's, or a certificate's block).
       An application that bounds what it has waiting for a block can send more now: a
       block is proposed when the one before it is finalized, and an entry made only after
       that block's commit would miss the next one too (docs/chain.md "Batches"). It may call
       bft_node_entry_held with node, bft_node_submit and bft_node_get_status; what it
       submits is handed to the core and queued for the peers before the loop goes on. */
    void (*held)(void *arg, struct bft_node *node);
};

struct bft_node_status {
    struct bft_core_status core;
    uint32_t self;
    uint32_t leader;                   /* leader(core.height) */
    uint32_t peers_connected;          /* authenticated outgoing links */
    uint64_t frames_sent, frames_received;
    uint64_t frames_dropped;           /* send queues full */
    uint64_t links_refused;            /* failed handshakes, oversized frames */
    uint64_t submits_pending;          /* entries not yet handed to the core */
    uint64_t entries_already_committed; /* submitted or forwarded copies of an entry committed
                                           already (late frames, resubmissions): not proposed */
    uint64_t proposals_equivocated;    /* equivocate mode only: second blocks sent */
    uint64_t garbage_sent;             /* garbage mode only: frames of random bytes sent */
    uint64_t snapshots;                /* snapshots taken (compactions) since start */
    uint64_t snapshot_index;           /* the log index of the newest snapshot in the WAL (0: none) */
    uint64_t first_index;              /* the oldest COMMIT the WAL holds, which sync can serve */
    uint64_t wal_bytes;                /* the WAL's records */
    uint64_t sync_too_old;             /* sync requests for blocks before first_index: a snapshot offered */
    uint64_t snapshots_installed;      /* snapshots fetched from other members (state transfer) */
    uint64_t pointers_sent;            /* change proofs sent to peers of older epochs */
    uint64_t pointers_received;        /* verified change proofs from members of later epochs */
    uint64_t compaction_us;            /* the last compaction: its time on the thread pool, */
    uint64_t compaction_swap_us;       /* ... its time on the loop thread at the end (the stall), */
    uint64_t compaction_tail_bytes;    /* ... and the records appended meanwhile, copied at the end */
    uint64_t wal_syncs;                /* fdatasyncs of the WAL done (group commits) */
    uint64_t wal_sync_us;              /* their total time in fdatasync, microseconds */
    int64_t peer_heard_ms[BFT_MEMBERS_MAX]; /* CLOCK_REALTIME ms of each peer's last frame on its
                                               authenticated link; 0: none since start */
    uint64_t commits_delivered;        /* blocks committed here and handed to on_commit since start */
    uint64_t commit_wait_us;           /* their total time from the COMMIT record's append to
                                          on_commit: the WAL sync and the hand-back to the loop */
    bool halted;                       /* the WAL failed: the node no longer votes; restart it */
    char halt_reason[COHORT_ERROR_MESSAGE_MAX]; /* when halted: the WAL's error ("wal: write ...: No space left") */
};

/*
 * Opens the WAL (replaying it into the core and through on_commit), binds the member's
 * endpoint, and starts the node's thread. The caller owns *out and stops it with
 * bft_node_stop. Returns 0, BFT_E_INVALID (config), BFT_E_IO (the port is taken, the WAL
 * cannot be written), BFT_E_CORRUPT (a damaged WAL: the message names the offset) or
 * BFT_E_NOMEM.
 */
int bft_node_start(const struct bft_node_config *config, struct bft_node **out, struct cohort_error *err);

/*
 * Queues one entry (copied) for a block this member proposes. It is committed, or lost if
 * the block it went into is not committed (the caller retries and must make entries
 * idempotent). Returns 0, BFT_E_RANGE (larger than the payload cap) or BFT_E_FULL (too
 * many entries waiting: retry later).
 */
int bft_node_submit(struct bft_node *node, const uint8_t *entry, size_t len, struct cohort_error *err);

/*
 * Like bft_node_submit, for an entry that config.seal merges with the other unsealed
 * entries queued at the same time before it goes to the core. BFT_E_RANGE past the payload
 * cap less what sealing adds.
 */
int bft_node_submit_unsealed(struct bft_node *node, const uint8_t *entry, size_t len, struct cohort_error *err);

/* Fills *status (a consistent snapshot taken under the node's lock). */
void bft_node_get_status(struct bft_node *node, struct bft_node_status *status);

/*
 * Whether a block carries entry: one the core holds above its last commit, or one of the
 * last committed (node_entry_seen's). On the node's thread only (config.held).
 */
bool bft_node_entry_held(struct bft_node *node, const uint8_t *entry, size_t len);

/*
 * Lets this member sign proposals and votes from height on (config.core.vote_from): a
 * member that lost its WAL signs again once it knows a height past everything it may
 * have signed before (docs/bft.md "Rejoining"). On the node's thread only: from on_commit
 * or tick.
 */
void bft_node_set_vote_from(struct bft_node *node, uint64_t height);

/*
 * Writes a new WAL at path (which must not exist) that begins at a snapshot: the log's tip
 * is block `index` at `height` with hash `hash`, and the application's state there is
 * (bytes, len), as its bft_snapshot_fn would give it (sealed). A node started on it
 * restores the application from the snapshot and goes on with the block after that tip.
 * This is how a log begins an epoch with other members (docs/bft.md "Membership
 * changes"): every member of the new epoch seeds its WAL with the same tip and state and
 * starts with the new epoch's instance and members. Returns 0, or a negative code with
 * err naming the file.
 */
int bft_node_seed_wal(const char *path, uint64_t index, uint64_t height, const uint8_t hash[BFT_HASH_BYTES],
                      const uint8_t *bytes, size_t len, struct cohort_error *err);

/*
 * Stops the thread, closes the links and the WAL, wipes the key, frees node. NULL is fine.
 * Entries still queued are dropped. No other call on node may run concurrently with or
 * after it (a bft_node_submit racing with it returns BFT_E_INVALID until node is freed).
 */
void bft_node_stop(struct bft_node *node);

/*
 * Parses "a.b.c.d:port" (IPv4 only) into its parts. Returns 0 or BFT_E_INVALID with a
 * message that names the endpoint.
 */
int bft_endpoint_parse(const char *endpoint, char ip[16], uint16_t *port, struct cohort_error *err);

/* ---- The link handshake, exposed for tests and the fuzz target ---- */

#define BFT_HELLO_BYTES 48 /* magic "CBH1" 4 | instance u64 | from u16 | to u16 | nonce 32 */
#define BFT_AUTH_BYTES 69  /* magic "CBA1" 4 | signature 65 */
#define BFT_IDENT_MIN_BYTES 26 /* magic "CBI1" 4 | address 20 | proof length u16 | proof */
#define BFT_POINTER_MAGIC "CBP1" /* a POINTER frame: magic 4 | a change proof (config.pointer) */
#define BFT_IDENT_MAX_BYTES (BFT_IDENT_MIN_BYTES + BFT_PROOF_MAX)

/* Writes an IDENT frame body (without the length prefix) into out; returns its length. */
size_t bft_ident_encode(const uint8_t address[BFT_ADDRESS_BYTES], const uint8_t *proof, size_t proof_len,
                        uint8_t out[BFT_IDENT_MAX_BYTES]);

/*
 * Decodes an IDENT strictly (magic, a proof length within the frame and BFT_PROOF_MAX, no
 * trailing bytes). *proof points into bytes. Returns 0 or BFT_E_INVALID naming the field.
 */
int bft_ident_decode(const uint8_t *bytes, size_t len, uint8_t address[BFT_ADDRESS_BYTES], const uint8_t **proof,
                     size_t *proof_len, struct cohort_error *err);

/*
 * Checks a frame's u32 length prefix: returns 0 and sets *len, or BFT_E_RANGE if it is
 * zero or over BFT_MESSAGE_MAX.
 */
int bft_frame_length(const uint8_t prefix[4], uint32_t *len, struct cohort_error *err);

/*
 * Frames after the handshake carry a tag (docs/bft.md "Links"): the first BFT_FRAME_TAG_BYTES
 * of keccak256(key || frame number u64 BE || message), where key comes from the two
 * members' ECDH secret and both handshake nonces (bft_frame_key), and frames are numbered
 * from 0 on each link. A frame whose tag does not match closes the link.
 */
#define BFT_FRAME_TAG_BYTES 16
void bft_frame_key(const uint8_t ecdh_secret[32], uint64_t instance, uint16_t dialler, uint16_t acceptor,
                   const uint8_t dialler_nonce[32], const uint8_t acceptor_nonce[32], uint8_t key[32]);
void bft_frame_tag(const uint8_t key[32], uint64_t number, const uint8_t *message, size_t len,
                   uint8_t tag[BFT_FRAME_TAG_BYTES]);

/* Builds a HELLO for the link from -> to with nonce. */
void bft_hello_encode(uint64_t instance, uint16_t from, uint16_t to, const uint8_t nonce[32],
                      uint8_t out[BFT_HELLO_BYTES]);

/*
 * Decodes a HELLO strictly: the magic, the instance, to == self, from a member other than
 * self. Returns 0 and sets *from and nonce, or BFT_E_INVALID naming the field.
 */
int bft_hello_decode(const uint8_t *bytes, size_t len, uint64_t instance, uint16_t self, uint32_t member_count,
                     uint16_t *from, uint8_t nonce[32], struct cohort_error *err);

/*
 * A snapshot a member offers to a member that asks for blocks it no longer keeps (docs/bft.md
 * "State transfer"): the application's state after block `index` (at `height`, with hash
 * `hash`), `len` bytes whose keccak256 is `digest`.
 */
struct bft_snapshot_offer {
    uint64_t index, height;
    uint8_t hash[BFT_HASH_BYTES];
    uint64_t len;
    uint8_t digest[BFT_HASH_BYTES];
};

#define BFT_OFFER_BYTES 162                  /* 0xE1 | instance u64 | index u64 | height u64 | hash 32 |
                                                len u64 | digest 32 | signature 65 */
#define BFT_OFFER_FRAME 0xE1
#define BFT_SNAPSHOT_MAX_BYTES (1ull << 30)  /* the largest snapshot a member takes or accepts */

/* The hash an OFFER's signature covers: keccak256("cohort-bft-snapshot-v1" || instance || the fields). */
void bft_offer_digest(uint64_t instance, const struct bft_snapshot_offer *offer, uint8_t out[BFT_HASH_BYTES]);

/* Writes the OFFER frame for offer, signed with signature (over bft_offer_digest). */
void bft_offer_encode(uint64_t instance, const struct bft_snapshot_offer *offer,
                      const uint8_t signature[BFT_SIGNATURE_BYTES], uint8_t out[BFT_OFFER_BYTES]);

/*
 * Decodes an OFFER frame strictly: exactly BFT_OFFER_BYTES, the marker, the instance, an
 * index >= 1, a height >= index, a length <= BFT_SNAPSHOT_MAX_BYTES. Does not check the
 * signature (the caller knows the sender's address). Returns 0, or BFT_E_INVALID naming the
 * field.
 */
int bft_offer_decode(const uint8_t *bytes, size_t len, uint64_t instance, struct bft_snapshot_offer *out,
                     uint8_t signature[BFT_SIGNATURE_BYTES], struct cohort_error *err);

/* The hash an AUTH signs: keccak256("cohort-bft-link-v1" || instance || from || to || their_nonce). */
void bft_auth_digest(uint64_t instance, uint16_t from, uint16_t to, const uint8_t their_nonce[32],
                     uint8_t out[BFT_HASH_BYTES]);

#endif
