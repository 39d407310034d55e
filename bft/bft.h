/*
 * bft.h - the BFT replicated log: a Simplex protocol core (sans-IO), its message codec,
 * certificates, and its write-ahead log. docs/bft.md explains the protocol, why it is
 * safe and live, every byte layout, and what is persisted when; read it first.
 *
 * Three layers, each usable alone:
 *   - the codec (bft/message.c): messages, votes, blocks and certificates to and from
 *     bytes, signed with secp256k1 recoverable signatures over keccak256;
 *   - the core (bft/core.c): bft_core_step(core, event) -> actions; no clock, socket,
 *     randomness or allocation after bft_core_create;
 *   - the storage (bft/wal.c): an append-only, checksummed record file.
 *
 * Errors are BFT_E_* codes with domain "bft".
 */
#ifndef COHORT_BFT_BFT_H
#define COHORT_BFT_BFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

#define BFT_MEMBERS_MAX 32
#define BFT_HASH_BYTES 32
#define BFT_ADDRESS_BYTES 20
#define BFT_SIGNATURE_BYTES 65
#define BFT_PRIVATE_KEY_BYTES 32
#define BFT_MESSAGE_MAX (2u << 20)   /* hard cap on one encoded message */
#define BFT_PAYLOAD_MAX (1u << 20)   /* the largest payload_max_bytes a core accepts */
#define BFT_WINDOW_MAX 64            /* the largest window_heights a core accepts */
#define BFT_PATH_MAX 8192            /* headers in one commit proof: the window and the blocks kept below it */
#define BFT_HEADER_BYTES 88          /* an encoded block header */
#define BFT_MESSAGE_VERSION 1        /* the envelope's first byte */
#define BFT_ENVELOPE_BYTES 16        /* version, type, instance, sender, body_len */
#define BFT_VOTE_BODY_BYTES 41       /* kind, height, hash */
#define BFT_WAL_HEADER_BYTES 20
#define BFT_WAL_RECORD_MAX BFT_MESSAGE_MAX
#define BFT_VOTE_RECORD_BYTES 73

/* Codes of the bft library. Append only. */
enum bft_status {
    BFT_OK = 0,
    BFT_E_INVALID = -1,   /* malformed bytes or arguments */
    BFT_E_RANGE = -2,     /* a length or count past its cap */
    BFT_E_SIGNATURE = -3, /* a signature that does not recover to the expected member */
    BFT_E_CERT = -4,      /* a certificate without a quorum of valid distinct signers */
    BFT_E_CORRUPT = -5,   /* a storage record that is damaged, not merely torn */
    BFT_E_IO = -6,        /* a system call failed */
    BFT_E_NOMEM = -7,     /* allocation failed (only at create/open) */
    BFT_E_FULL = -8,      /* no room for a submitted entry: retry after the next commit */
};

/* Returns a static description of a bft_status code; never NULL. */
const char *bft_strerror(int code);

/* ---- Signatures ---- */

/*
 * How messages are signed and checked. bft_scheme_secp (the default, used wherever a
 * scheme pointer is NULL) signs with secp_sign and checks with secp_recover_address
 * (low s only). The simulator plugs in a cheaper scheme so thousands of seeded runs fit
 * in CI; the unit tests run the real one. Both functions return 0 or a negative code.
 */
struct bft_scheme {
    int (*sign)(const void *ctx, const uint8_t private_key[BFT_PRIVATE_KEY_BYTES], const uint8_t hash[BFT_HASH_BYTES],
                uint8_t signature[BFT_SIGNATURE_BYTES]);
    int (*recover_address)(const void *ctx, const uint8_t hash[BFT_HASH_BYTES],
                           const uint8_t signature[BFT_SIGNATURE_BYTES], uint8_t address[BFT_ADDRESS_BYTES]);
    const void *ctx;
};
extern const struct bft_scheme bft_scheme_secp;

/* The members of a log, in the order every member agrees on (the chain config's). */
struct bft_members {
    uint32_t count; /* n, 1..BFT_MEMBERS_MAX */
    uint8_t address[BFT_MEMBERS_MAX][BFT_ADDRESS_BYTES];
};

/* q = 2f+1 with f = floor((n-1)/3): the votes a certificate needs. */
uint32_t bft_quorum(uint32_t member_count);

/* ---- Blocks, votes, certificates, messages (layouts in docs/bft.md) ---- */

enum bft_message_type {
    BFT_MSG_PROPOSE = 1,
    BFT_MSG_VOTE = 2,
    BFT_MSG_CERT = 3,
    BFT_MSG_SYNC_REQUEST = 4,
    BFT_MSG_SYNC_BLOCK = 5,
};

enum bft_vote_kind {
    BFT_VOTE_NOTARIZE = 1,
    BFT_VOTE_NULLIFY = 2,
    BFT_VOTE_FINALIZE = 3,
};

struct bft_block_header {
    uint64_t height;        /* the protocol height it was proposed at, >= 1 */
    uint64_t index;         /* its position in the log: parent's index + 1, >= 1 */
    uint64_t parent_height; /* 0 for the genesis parent */
    uint8_t parent_hash[BFT_HASH_BYTES];
    uint8_t payload_hash[BFT_HASH_BYTES]; /* keccak256(payload) */
};

/* A block: its header and its payload, which points into memory someone else owns. */
struct bft_block {
    struct bft_block_header header;
    const uint8_t *payload;
    uint32_t payload_len;
};

struct bft_vote {
    uint8_t kind; /* enum bft_vote_kind */
    uint64_t height;
    uint8_t hash[BFT_HASH_BYTES]; /* zero for nullify */
};

/* A certificate: the same vote by count members. Plain data. */
struct bft_cert {
    struct bft_vote vote;
    uint16_t count;
    uint16_t signer[BFT_MEMBERS_MAX];
    uint8_t signature[BFT_MEMBERS_MAX][BFT_SIGNATURE_BYTES];
};

/*
 * A commit: a block and its proof (a finalization of a block at or above it, and the
 * headers from the block's child up to that block). It is also the SYNC_BLOCK body and the
 * WAL's COMMIT record. The path is kept encoded (path_count headers of BFT_HEADER_BYTES,
 * the child first; bft_commit_path_header reads one), in memory someone else owns, as a
 * block's payload is: a chain of many blocks committed at once shares one run of headers.
 */
struct bft_commit {
    struct bft_block block;
    uint8_t hash[BFT_HASH_BYTES]; /* the block's hash */
    struct bft_cert cert;
    uint16_t path_count;
    const uint8_t *path; /* path_count * BFT_HEADER_BYTES bytes */
};

/*
 * A decoded message. Pointers (body, block payloads) point into the bytes it was decoded
 * from; it is valid while they are. The signed hash is computed only when the signature
 * is checked, so a duplicate costs no hashing of its body.
 */
struct bft_message {
    uint8_t type; /* enum bft_message_type */
    uint64_t instance;
    uint16_t sender;
    uint8_t signature[BFT_SIGNATURE_BYTES];
    const uint8_t *body; /* the signed body, set by decode */
    size_t body_len;
    struct bft_vote vote;       /* VOTE */
    bool has_block;             /* PROPOSE, SYNC_BLOCK: true; CERT: maybe */
    struct bft_commit commit;   /* PROPOSE/CERT/SYNC_BLOCK: commit.block; CERT, SYNC_BLOCK: commit.cert;
                                   SYNC_BLOCK: commit.path */
    uint64_t from_index;        /* SYNC_REQUEST */
    uint64_t from_height;       /* SYNC_REQUEST */
};

/* out = keccak256("cohort-bft-block" || instance || header). */
void bft_block_hash(uint64_t instance, const struct bft_block_header *header, uint8_t out[BFT_HASH_BYTES]);

/* Fills header->payload_hash from the block's payload, then out = the block's hash. */
void bft_block_seal(uint64_t instance, struct bft_block *block, uint8_t out[BFT_HASH_BYTES]);

/* The hash a member signs for vote (the signed hash of a VOTE message carrying it). */
void bft_vote_digest(uint64_t instance, const struct bft_vote *vote, uint8_t out[BFT_HASH_BYTES]);

/*
 * Decodes one message strictly (docs/bft.md "Byte layouts"): at most BFT_MESSAGE_MAX
 * bytes, payloads at most payload_max bytes, no trailing bytes. Does not check the
 * signature (that needs the members: bft_message_check_sender) nor certificates.
 * out is caller-owned; its block payload points into bytes. Returns 0, BFT_E_INVALID or
 * BFT_E_RANGE with the offending field and offset in err.
 */
int bft_message_decode(const uint8_t *bytes, size_t len, uint32_t payload_max, struct bft_message *out,
                       struct cohort_error *err);

/*
 * Encodes msg (type, instance, sender and the fields its type uses) and signs it with
 * private_key under scheme (NULL: secp). Writes at most cap bytes to out (caller-owned)
 * and sets *out_len. msg->signature and signed_hash are ignored (and not written).
 * Returns 0, BFT_E_RANGE if it does not fit, BFT_E_INVALID for a field out of its range,
 * BFT_E_SIGNATURE if signing failed.
 */
int bft_message_encode(const struct bft_message *msg, const uint8_t private_key[BFT_PRIVATE_KEY_BYTES],
                       const struct bft_scheme *scheme, uint8_t *out, size_t cap, size_t *out_len,
                       struct cohort_error *err);

/*
 * Checks that msg's signature recovers to the address of member msg->sender. Returns 0,
 * BFT_E_INVALID if sender is not a member, BFT_E_SIGNATURE otherwise.
 */
int bft_message_check_sender(const struct bft_message *msg, const struct bft_members *members,
                             const struct bft_scheme *scheme, struct cohort_error *err);

/*
 * Checks a certificate: every listed signature must recover to its signer's address
 * (signers must be members), and the distinct signers must reach bft_quorum(n). A
 * signer listed twice counts once. Returns 0, BFT_E_CERT (message says which signer or
 * how many), or BFT_E_INVALID for a malformed vote (nullify with a hash, unknown kind).
 */
int bft_cert_verify(const struct bft_cert *cert, uint64_t instance, const struct bft_members *members,
                    const struct bft_scheme *scheme, struct cohort_error *err);

/*
 * bft_cert_verify, for a checker that already holds some signers' checked votes on the
 * certified (kind, height, hash): known[i] is member i's checked signature, or NULL. A
 * listed signature byte-equal to the known one is not checked again (one recovery saved
 * each); any other is checked as usual.
 */
int bft_cert_verify_known(const struct bft_cert *cert, uint64_t instance, const struct bft_members *members,
                          const struct bft_scheme *scheme, const uint8_t *const known[BFT_MEMBERS_MAX],
                          struct cohort_error *err);

/* Decodes header i (< path_count) of commit's path into *out. */
void bft_commit_path_header(const struct bft_commit *commit, uint32_t i, struct bft_block_header *out);

/* Encodes header into out (BFT_HEADER_BYTES), as a commit's path holds it. */
void bft_header_encode(const struct bft_block_header *header, uint8_t out[BFT_HEADER_BYTES]);

/*
 * Checks a commit proof: the certificate is a valid finalization, and the hashes link the
 * block through path to the finalized hash. Fills commit->hash. Returns 0, BFT_E_CERT or
 * BFT_E_INVALID.
 */
int bft_commit_verify(struct bft_commit *commit, uint64_t instance, const struct bft_members *members,
                      const struct bft_scheme *scheme, struct cohort_error *err);

/*
 * Encodes a commit as the SYNC_BLOCK body / COMMIT record payload into out (cap bytes,
 * caller-owned). Returns 0 or BFT_E_RANGE.
 */
int bft_commit_encode(const struct bft_commit *commit, uint8_t *out, size_t cap, size_t *out_len,
                      struct cohort_error *err);

/*
 * Decodes a COMMIT record payload (a SYNC_BLOCK body), strictly. out's block payload
 * and path point into bytes; commit->hash is computed with instance. Returns 0, BFT_E_INVALID or
 * BFT_E_RANGE. Does not verify the certificate (bft_commit_verify does).
 */
int bft_commit_decode(const uint8_t *bytes, size_t len, uint64_t instance, uint32_t payload_max,
                      struct bft_commit *out, struct cohort_error *err);

/*
 * Encodes a certificate as CERT_BODY (docs/bft.md "Bodies"): the payload of the WAL's CERT
 * record. out (cap bytes) is caller-owned. Returns 0 or BFT_E_RANGE.
 */
int bft_cert_encode(const struct bft_cert *cert, uint8_t *out, size_t cap, size_t *out_len, struct cohort_error *err);

/*
 * Decodes a CERT_BODY of exactly len bytes into *out (caller-owned), strictly: a known kind,
 * a zero hash for a nullification, 1..BFT_MEMBERS_MAX signers, no trailing bytes. Does not
 * check the signatures (bft_cert_verify does). Returns 0, BFT_E_INVALID or BFT_E_RANGE.
 */
int bft_cert_decode(const uint8_t *bytes, size_t len, struct bft_cert *out, struct cohort_error *err);

/*
 * Encodes a block (header fields and payload, as in a PROPOSE message) into out: the
 * payload of the WAL's BLOCK record (docs/bft.md "Storage"). Returns 0 or BFT_E_RANGE.
 */
int bft_block_encode(const struct bft_block *block, uint8_t *out, size_t cap, size_t *out_len, struct cohort_error *err);

/*
 * Decodes a BLOCK record payload of at most BFT_WAL_RECORD_MAX bytes into *out, whose
 * payload points into bytes, and sets hash to the block's hash. Returns 0, BFT_E_RANGE
 * (too long, or a payload over payload_max) or BFT_E_INVALID (cut off, trailing bytes,
 * impossible header).
 */
int bft_block_decode(const uint8_t *bytes, size_t len, uint64_t instance, uint32_t payload_max, struct bft_block *out,
                     uint8_t hash[BFT_HASH_BYTES], struct cohort_error *err);

/*
 * Block payloads are a sequence of entries, each a u32 big-endian length and its bytes.
 * Walks the entries of payload: *offset (start at 0) moves past the entry returned in
 * *entry / *entry_len. Returns 1 for an entry, 0 at the end, BFT_E_INVALID if the payload
 * is not well framed.
 */
int bft_payload_next(const uint8_t *payload, uint32_t payload_len, uint32_t *offset, const uint8_t **entry,
                     uint32_t *entry_len, struct cohort_error *err);

/* ---- The protocol core ---- */

struct bft_config {
    uint64_t instance;          /* which log: keeps messages of different logs apart */
    struct bft_members members;
    uint32_t self;              /* this member's index */
    uint8_t private_key[BFT_PRIVATE_KEY_BYTES]; /* copied into the core, wiped at destroy */
    const struct bft_scheme *scheme; /* NULL: secp256k1 */
    uint32_t payload_max_bytes; /* the largest block payload, <= BFT_PAYLOAD_MAX */
    uint32_t window_heights;    /* heights kept above the committed one, 2..BFT_WINDOW_MAX */
    uint32_t timeout_ms;        /* the base height timeout: about 3x the network delay */
    uint32_t idle_delay_ms;     /* 0: a leader proposes at once, an empty block if it has no
                                   entries, so the log never rests. Otherwise a leader with no
                                   entries waits for one; after this delay it proposes an empty
                                   block only when something is outstanding (another member spoke
                                   at its height, or a notarized block waits to be finalized), and
                                   with nothing outstanding the log rests: no timer, message or
                                   write (docs/bft.md "Idle"). It also bounds pacing: a leader
                                   whose parent is not finalized yet waits for that, at most this
                                   long (docs/bft.md "Pacing"). Keep it under timeout_ms / 2. */
    uint32_t fill_wait_ms;      /* a leader whose parent is finalized waits at most this long for
                                   entries until its block carries about as many bytes as the
                                   parent did, besides what was pending when it began to wait
                                   (0: no wait; docs/bft.md "Filling"). Under timeout_ms; keep it well
                                   under idle_delay_ms. */
    uint32_t stall_ms;          /* a member that waited this long for a commit while something was
                                   outstanding and a quorum of members was reachable says it is
                                   stalled (status.stalled; 0: 30 x timeout_ms; docs/bft.md "Stalls") */
    uint64_t vote_from;         /* the lowest height this member signs a proposal or a vote at: 0
                                   for any. A member that lost its WAL but not its key may have
                                   signed at the heights the log was at; it follows the log
                                   without signing until it knows a height past them
                                   (bft_core_set_vote_from; docs/bft.md "Rejoining") */
};

/* The core's three timers: a SET_TIMER action and a TIMER event say which one. */
enum bft_timer {
    BFT_TIMER_HEIGHT = 0, /* the height timeout (rule 3) */
    BFT_TIMER_IDLE = 1,   /* the idle leader's proposal delay */
    BFT_TIMER_FILL = 2,   /* the leader's wait for its block to fill (fill_wait_ms) */
};
#define BFT_TIMERS 3

enum bft_event_type {
    BFT_EVENT_START = 1,   /* after restoring: arms the timer, proposes if leader */
    BFT_EVENT_MESSAGE = 2, /* bytes from the network */
    BFT_EVENT_TIMER = 3,   /* the timer armed for height fired */
    BFT_EVENT_SUBMIT = 4,  /* bytes: one entry for the next block this member proposes; an entry
                              already pending is not added twice, and pending entries that show up
                              in another member's proposal or a commit are dropped */
    BFT_EVENT_JUMP = 5,    /* the driver installed a snapshot of the log up to block `index` at
                              `height` with hash `bytes` (32), which f+1 members vouched for: the
                              committed tip moves there (only forward) and the core goes on after it */
    BFT_EVENT_PEER = 6,    /* member `index` became unreachable (reachable = false: its link broke
                              or cannot be made) or reachable again. A height whose leader is
                              unreachable times out after timeout_ms / 16, not timeout_ms: a hint
                              that only shortens a wait, which safety never depends on */
    BFT_EVENT_TIP = 7,     /* member `index` says, on its authenticated link, that it is at `height`
                              (the driver's TIP frame when the link opens): counts toward `behind`
                              and `peers_heard` as a signed message at that height would */
};

struct bft_event {
    enum bft_event_type type;
    const uint8_t *bytes; /* MESSAGE, SUBMIT; borrowed for the call */
    size_t len;
    uint64_t height;      /* TIMER, JUMP, TIP */
    uint8_t timer;        /* TIMER: enum bft_timer */
    uint64_t index;       /* JUMP; PEER, TIP: the member */
    bool reachable;       /* PEER */
};

enum bft_action_type {
    BFT_ACTION_PERSIST = 1,    /* append record (record_type, bytes) to the WAL; durable before later sends */
    BFT_ACTION_COMMIT = 2,     /* append commit as a COMMIT record, durable; then apply it */
    BFT_ACTION_SEND = 3,       /* send bytes to member peer */
    BFT_ACTION_BROADCAST = 4,  /* send bytes to every other member */
    BFT_ACTION_SET_TIMER = 5,  /* deliver TIMER(timer, height) after delay_ms, replacing that timer */
    BFT_ACTION_SYNC_SERVE = 6, /* send peer our COMMIT records from from_index on (bft_core_wrap_sync_block) */
};

enum bft_record_type {
    BFT_RECORD_VOTE = 1,
    BFT_RECORD_COMMIT = 2,
    BFT_RECORD_SNAPSHOT = 3,
    BFT_RECORD_BASE = 4, /* the first record of a compacted WAL: the tip before its first COMMIT */
    BFT_RECORD_BLOCK = 5, /* a block this member votes for, before its VOTE record: no notarized block is lost */
    BFT_RECORD_CERT = 6,  /* the notarization a finalize vote relies on, before its VOTE record */
};

#define BFT_BASE_RECORD_BYTES 48 /* index u64 | height u64 | hash 32 */

/* One action. Every pointer points into the core and is valid until the next call on it. */
struct bft_action {
    enum bft_action_type type;
    uint32_t peer;              /* SEND, SYNC_SERVE */
    const uint8_t *bytes;       /* SEND, BROADCAST: a message; PERSIST: the record payload */
    size_t len;
    uint8_t record_type;        /* PERSIST: enum bft_record_type */
    uint64_t height;            /* SET_TIMER */
    uint32_t delay_ms;          /* SET_TIMER */
    uint8_t timer;              /* SET_TIMER: enum bft_timer */
    bool unordered;             /* BROADCAST: may leave before the records persisted before it are
                                   durable (a proposal, which is no vote: docs/bft.md "Storage") */
    uint64_t from_index;        /* SYNC_SERVE */
    const struct bft_commit *commit; /* COMMIT */
};

/* Counters and position, for status pages and tests. */
struct bft_core_status {
    uint64_t height;            /* the current height */
    uint64_t committed_index;   /* log entries committed (0: none) */
    uint64_t committed_height;
    uint8_t committed_hash[BFT_HASH_BYTES];
    uint64_t messages_refused;  /* malformed, wrong instance, bad signature or certificate */
    uint64_t equivocations_seen;/* two different signed statements from one member at one height */
    uint64_t sends_dropped;     /* sends left out because the step's buffer was full */
    uint64_t entries_in_held_blocks; /* submitted entries not taken: a proposed block carries them */
    uint32_t pending_bytes;     /* entries waiting for a block of this member's (framed) */
    /*
     * Stall detection (docs/bft.md "Stalls"). The core has no clock: it counts the time its
     * height timer ran while something was outstanding (entries to order, another member at
     * this height or above, a notarized block to settle) since the last commit. A resting log
     * waits for nothing and never stalls.
     */
    uint64_t waiting_ms;        /* that time, 0 after each commit or while resting */
    bool stalled;               /* waiting_ms >= stall_ms while a quorum of members (this one
                                   included) was reachable: the log is not making progress when it
                                   could; worth an alert */
    uint64_t stalls;            /* times `stalled` became true since start */
    uint32_t kept_blocks;       /* notarized blocks kept below the window (docs/bft.md "Why it is live") */
    /* How far behind the others this member is: the highest height that f+1 members (one
       honest at least) signed a proposal or a vote at, or told as their links opened (a
       TIP: BFT_EVENT_TIP), less height; 0 when not behind. A
       member that restarted, or came back, catches up while this is large. */
    uint64_t behind;
    /* The others heard from since start (a signed message, or a TIP as its link opened),
       and whether they are enough to tell `behind`: f+1 of them (all, with fewer than four
       members). Until then a member just started cannot know whether it is behind. */
    uint32_t peers_heard;
    bool behind_known;
    uint64_t vote_from;         /* config.vote_from as set now: no proposal or vote below it */
};

struct bft_core;

/*
 * Whether a block the core holds above its last commit (a proposal, its own or a leader's,
 * or a certificate's block) carries entry, byte for byte. Between steps.
 */
bool bft_core_entry_held(struct bft_core *core, const uint8_t *entry, uint32_t len);

/* Sets the lowest height the core signs at (see bft_config.vote_from). Between steps. */
void bft_core_set_vote_from(struct bft_core *core, uint64_t height);

/*
 * Creates a core from config (copied). Allocates every buffer the core will ever use.
 * The caller owns the result and frees it with bft_core_destroy. Returns NULL and fills
 * err (BFT_E_INVALID for a bad config, BFT_E_NOMEM).
 */
struct bft_core *bft_core_create(const struct bft_config *config, struct cohort_error *err);

/* Wipes the private key and frees the core. NULL is fine. */
void bft_core_destroy(struct bft_core *core);

/*
 * Replays one WAL record (in file order) into a core that has not started yet: a BASE
 * record (only as the first record) and COMMIT records restore the committed log position,
 * VOTE records the votes above it, so the core never votes twice. SNAPSHOT records are
 * ignored (they are the application's). Returns 0, or BFT_E_INVALID / BFT_E_CORRUPT for a
 * record that does not decode or does not follow the one before.
 */
int bft_core_restore(struct bft_core *core, uint8_t record_type, const uint8_t *payload, size_t len,
                     struct cohort_error *err);

/*
 * Takes one event and sets *actions / *count to what the driver must do, in order
 * (docs/bft.md "The core"). The actions are owned by the core and valid until the next
 * call on it. Bad network input is not an error: it is dropped and counted. Returns 0,
 * or BFT_E_FULL / BFT_E_RANGE for a submitted entry that does not fit, BFT_E_INVALID for
 * an event the driver should not have sent (an unknown type, START twice).
 */
int bft_core_step(struct bft_core *core, const struct bft_event *event, const struct bft_action **actions,
                  size_t *count, struct cohort_error *err);

/*
 * Wraps a COMMIT record payload (from this member's WAL) in a signed SYNC_BLOCK message
 * for SYNC_SERVE. out (cap bytes, caller-owned); sets *out_len. Returns 0 or BFT_E_RANGE.
 */
int bft_core_wrap_sync_block(struct bft_core *core, const uint8_t *record, size_t record_len, uint8_t *out,
                             size_t cap, size_t *out_len, struct cohort_error *err);

/* Fills *status. */
void bft_core_get_status(const struct bft_core *core, struct bft_core_status *status);

/*
 * Teaches the core the address of member `member`, whose address in config.members was all
 * zeros (not known when the core was made: a chain's subnodes make their own keys, and a
 * member learns each one when its node vouches for it, docs/chain.md "Members and keys").
 * Until then nothing signed by that member counts. Returns 0 (also when the same address
 * is already known), or BFT_E_INVALID when the member is self, out of range, or already
 * has another address.
 */
int bft_core_learn_member(struct bft_core *core, uint32_t member, const uint8_t address[BFT_ADDRESS_BYTES],
                          struct cohort_error *err);

/*
 * Writes a one-line picture of the core's window into out (cap bytes, caller-owned, always
 * terminated), for logs and the simulator's failure reports: the current height, the base,
 * the committed tip, then each held height as "h:" with its certificates (N notarized, X
 * nullified, F finalized), "<p" when it holds a block whose parent is at height p, "!" for a
 * notarization without its block, and "/" with this member's own statements (p proposed,
 * n notarize, x nullify, f finalize). Returns the length written (cut at cap - 1).
 */
size_t bft_core_describe(const struct bft_core *core, char *out, size_t cap);

/* Encodes a BASE record payload (index, height, hash of the tip) into out. */
void bft_base_encode(uint64_t index, uint64_t height, const uint8_t hash[BFT_HASH_BYTES],
                     uint8_t out[BFT_BASE_RECORD_BYTES]);

/* ---- Storage: the write-ahead log (layout in docs/bft.md "Storage") ---- */

/*
 * Writes the 20-byte record header for (type, payload) into header. The record is the
 * header followed by the payload. len <= BFT_WAL_RECORD_MAX (asserted).
 */
void bft_wal_record_header(uint8_t type, const uint8_t *payload, size_t len, uint8_t header[BFT_WAL_HEADER_BYTES]);

/* Called for each valid record by bft_wal_scan; a negative return stops the scan with it. */
typedef int (*bft_wal_record_fn)(void *arg, uint8_t type, const uint8_t *payload, size_t len, uint64_t offset);

/*
 * Calls fn (offset 0) with the records a compacted WAL must carry for every height above
 * the committed one, oldest first: a height's BLOCK record if this member persisted its
 * block, its CERT record (the notarization) if it finalized there, then its VOTE record if
 * it said something there. So after compaction the member
 * still never votes twice and still holds the blocks it voted for. Returns 0 or fn's
 * first negative return. The payloads are valid during the call only.
 */
int bft_core_own_records(struct bft_core *core, bft_wal_record_fn fn, void *arg);

/*
 * Scans the records in data[0..len): calls fn (if not NULL) for each valid one, in order,
 * and sets *valid_len to the end of the last one. A torn tail (docs/bft.md) ends the scan
 * without error: the caller truncates to *valid_len. Returns 0, BFT_E_CORRUPT with the
 * offset of a damaged record in the middle, or what fn returned.
 */
int bft_wal_scan(const uint8_t *data, size_t len, bft_wal_record_fn fn, void *arg, size_t *valid_len,
                 struct cohort_error *err);

struct bft_wal;

/*
 * Opens (creating it, and fsyncing its directory, if missing) the WAL file at path,
 * replays it through fn, truncates a torn tail and fsyncs. The caller owns *out and
 * closes it with bft_wal_close. Returns 0, BFT_E_IO, BFT_E_CORRUPT, BFT_E_NOMEM, or fn's
 * error.
 */
int bft_wal_open(const char *path, bft_wal_record_fn fn, void *arg, struct bft_wal **out, struct cohort_error *err);

/* Appends one record (not yet durable). Returns 0 or BFT_E_IO. */
int bft_wal_append(struct bft_wal *wal, uint8_t type, const uint8_t *payload, size_t len, struct cohort_error *err);

/* Makes everything appended so far durable (fdatasync). Returns 0 or BFT_E_IO. */
int bft_wal_sync(struct bft_wal *wal, struct cohort_error *err);

/* The end of the last record: where the next one goes (the file may be longer: preallocated). */
uint64_t bft_wal_size(const struct bft_wal *wal);

/*
 * Renames wal's file to path, replacing what is there, and fsyncs the directory: the
 * last step of a compaction (write the new WAL beside the old, sync it, rename it over).
 * wal keeps its descriptor and takes the new path. Returns 0 or BFT_E_IO.
 */
int bft_wal_rename(struct bft_wal *wal, const char *path, struct cohort_error *err);

/* Closes the file and frees wal. NULL is fine. */
void bft_wal_close(struct bft_wal *wal);

/* CRC-32C (Castagnoli) of data, as the WAL uses it. */
uint32_t bft_crc32c(const uint8_t *data, size_t len);

#endif
