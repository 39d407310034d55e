/*
 * config.h - the cluster's config store (docs/cohort-core.md "Config store"): the whole API
 * of the config/ library, in three parts.
 *
 *   1. The store (store.c, codec.c, snapshot.c): an etcd-like key-value state machine that
 *      the BFT log's entries drive; pure code, with its request, batch and snapshot layouts.
 *   2. The cluster file (cluster.c): which node-cores share the store, their keys and BFT
 *      endpoints.
 *   3. The service (service.c): the store run on a BFT node (bft/node.h) inside cohort-core,
 *      and the local API that `cohort config` talks to.
 *
 * Error codes are enum cs_status, domain "config".
 */
#ifndef COHORT_CONFIG_CONFIG_H
#define COHORT_CONFIG_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bft/node.h"
#include "common/error.h"
#include "httpd/httpd.h"

/* ======== 1. The store ======== */

/*
 * The store: an etcd-like key-value state machine
 * applied to the entries of the BFT log (docs/cohort-core.md "Config store").
 *
 * Every member applies the same committed entries in the same order and so holds the same
 * store. An entry is one signed request: a transaction of up to CS_TXN_OPS_MAX compares
 * and two lists of operations (put, delete, range), the first list applied when every
 * compare holds, the second otherwise. A plain put is a transaction with no compares and
 * one put. The store has a global revision: each request that changes something bumps it
 * by one, and every key records the revision that created it, the revision that last
 * changed it, and its version (changes since creation), as etcd does.
 *
 * Requests are signed (secp256k1, recoverable) by a member of the cluster (of its current
 * epoch: "Membership changes" below) or by an admin key named in the cluster file; anything
 * else is refused when applied, and the refusal is
 * the request's result. A request carries a 16-byte id; a second request with an id seen in
 * the last CS_DEDUP_WINDOW applied requests is not applied again (a retried submit is
 * idempotent) and reports the first one's revision.
 *
 * Pure code: no IO, no clock, no threads. The caller serialises calls (cohort-core holds a
 * mutex around the store).
 *
 * Request layout (all integers big-endian; strict: no trailing bytes, every cap checked):
 *   magic "CCR1" 4 | instance u64 | id 16 | ncompare u8 | nsuccess u8 | nfailure u8
 *   ncompare x (key_len u16 | key | target u8 | result u8 |
 *               target VALUE: value_len u32 | value;  otherwise: number u64)
 *   (nsuccess + nfailure) x (type u8 | flags u8 (1: prefix) | key_len u16 | key |
 *               type PUT: value_len u32 | value)
 *   signature 65 = secp_sign(keccak256("cohort-config-v1" || every byte before it))
 *
 * Batch layout (cs_batch_encode): many requests under one signature, so that a member that
 * submits the requests of many clients at once pays one signature for them, and every
 * member one recovery (docs/cohort-core.md "Config store"):
 *   magic "CCB1" 4 | instance u64 | count u16 (1..CS_BATCH_MAX)
 *   count x (len u32 | a request as above, its signature field all zero)
 *   signature 65 = secp_sign(keccak256("cohort-config-batch-v1" || every byte before it))
 * Each request of a batch is applied in order as if the batch's signer had signed it (its
 * own result, its own id in the dedup window).
 *
 * Snapshot layout (cs_store_snapshot, cs_store_restore; all integers big-endian; strict: no
 * trailing bytes, every count and length checked against the bytes present and the caps):
 *   magic "CCS1" 4 | instance u64 | revision u64 | compact_revision u64 |
 *   nkeys u32 | nevents u32 | ndedup u32                                  (40 bytes)
 *   nkeys x   (key_len u16 | key | value_len u32 | value |
 *              create_revision u64 | mod_revision u64 | version u64)     keys in byte order
 *   nevents x (type u8 | key_len u16 | key | value_len u32 | value |
 *              revision u64 | create_revision u64 | version u64)         the watch history,
 *                                                                         oldest first
 *   ndedup x  (signer 20 | id 16 | revision u64 | succeeded u8)          the dedup window,
 *                                                                         oldest first
 *   checksum 32 = keccak256(every byte before it)
 * revision is at most CS_REVISION_MAX. A key is as cs_kv has it: 1 <= create_revision <=
 * mod_revision <= revision, and 1 <= version <= CS_TXN_OPS_MAX x (mod_revision -
 * create_revision + 1), since one request puts a key at most CS_TXN_OPS_MAX times. An event
 * is as cs_event has it, revision being its kv.mod_revision: a PUT's versions bounded the
 * same way, a DELETE with an empty value, create_revision 0 and version 0. compact_revision
 * is the newest revision evicted from the history (0: none; always before revision unless
 * both are 0), and the history holds every revision after it: its events' revisions run
 * from compact_revision + 1 to revision without a gap. It passes CS_HISTORY_MAX events only
 * when it is one revision. A dedup entry is a request applied within the window: its
 * signer's address, its id, and the revision and branch (succeeded 0 or 1) a duplicate of it
 * reports; each (signer, id) once, revisions never decreasing. What the store derives (its
 * byte count, the history's byte accounting, the dedup hash table) is rebuilt on restore.
 */

#define CS_KEY_MAX 512                 /* bytes in a key (keys are non-empty) */
#define CS_VALUE_MAX (64u * 1024)      /* bytes in a value */
#define CS_TXN_OPS_MAX 16              /* compares, and operations in each branch */
#define CS_REQUEST_MAX (1u << 20)      /* an encoded request */
#define CS_KEYS_MAX 100000             /* live keys in the store */
#define CS_STORE_BYTES_MAX (256u << 20) /* keys and values in the store */
#define CS_HISTORY_MAX 100000          /* change events kept for watches */
#define CS_DEDUP_WINDOW 100000         /* request ids remembered */
#define CS_ADMINS_MAX 8
#define CS_MEMBERS_MAX 32
#define CS_ID_BYTES 16
#define CS_SIGNATURE_BYTES 65
#define CS_BATCH_MAGIC "CCB1"            /* the first 4 bytes of a batch */
#define CS_BATCH_MAX 1024                /* requests in one batch */
#define CS_BATCH_HEADER_BYTES 14         /* magic, instance, count */
#define CS_BATCH_BYTES_MAX (2u << 20)    /* an encoded batch */
/*
 * A snapshot's bytes. The largest a store can have: its keys (CS_STORE_BYTES_MAX plus 30
 * bytes of framing each: 259 MiB); its history (at most 64 MiB of keys and values, or one
 * revision that alone passes that, such as a delete of every key: 260 MiB); its dedup
 * window (45 bytes an entry: 4.3 MiB); under 530 MiB in all (snapshot.c checks the sum).
 */
#define CS_SNAPSHOT_MAX (768u << 20)
/*
 * The highest revision a snapshot may hold, so that nothing derived from one (the next
 * revision, a version) can wrap around. A store applying a million entries a second would
 * reach it after 9,000 years.
 */
#define CS_REVISION_MAX (UINT64_C(1) << 58)

/* Codes of the config store. Append only. Domain "config". */
enum cs_status {
    CS_OK = 0,
    CS_E_INVALID = COHORT_ERRORS_CONFIG - 1,      /* a malformed request or argument */
    CS_E_RANGE = COHORT_ERRORS_CONFIG - 2,        /* a key, value, count or request over its cap */
    CS_E_UNAUTHORIZED = COHORT_ERRORS_CONFIG - 3, /* signed by a key that is neither a member nor an admin */
    CS_E_FULL = COHORT_ERRORS_CONFIG - 4,         /* the store's key or byte cap would be passed */
    CS_E_COMPACTED = COHORT_ERRORS_CONFIG - 5,    /* a watch from a revision older than the history kept */
    CS_E_NOMEM = COHORT_ERRORS_CONFIG - 6,
    CS_E_DUPLICATE = COHORT_ERRORS_CONFIG - 7,    /* a request id already applied (result.revision: the first's) */
    CS_E_INSTANCE = COHORT_ERRORS_CONFIG - 8,     /* a request for another cluster */
    CS_E_EPOCH = COHORT_ERRORS_CONFIG - 9,        /* the epoch ended at a membership change: resubmit */
};

const char *cs_strerror(int code);

enum cs_op_type { CS_OP_PUT = 1, CS_OP_DELETE = 2, CS_OP_RANGE = 3 };
enum cs_target { CS_TARGET_VALUE = 1, CS_TARGET_MOD_REVISION = 2, CS_TARGET_CREATE_REVISION = 3, CS_TARGET_VERSION = 4 };
enum cs_compare_result { CS_CMP_EQUAL = 1, CS_CMP_NOT_EQUAL = 2, CS_CMP_LESS = 3, CS_CMP_GREATER = 4 };

/*
 * A compare on one key. A missing key has mod/create revision 0 and version 0, as in
 * etcd: "mod_revision = 0" means "the key does not exist". And, as in etcd, every compare
 * of a missing key's value fails, = "" and != "x" included: a value compare never passes
 * for a key that is not there (compare its mod_revision with 0 for that).
 */
struct cs_compare {
    const uint8_t *key;
    uint16_t key_len;
    uint8_t target; /* enum cs_target */
    uint8_t result; /* enum cs_compare_result */
    const uint8_t *value; /* VALUE */
    uint32_t value_len;
    uint64_t number; /* the revisions and VERSION */
};

struct cs_op {
    uint8_t type;  /* enum cs_op_type */
    bool prefix;   /* DELETE, RANGE: every key that starts with key */
    const uint8_t *key;
    uint16_t key_len;
    const uint8_t *value; /* PUT */
    uint32_t value_len;
};

/* A request, decoded or to be encoded. Pointers point into the bytes it came from. */
struct cs_request {
    uint64_t instance;
    uint8_t id[CS_ID_BYTES];
    uint8_t ncompare, nsuccess, nfailure;
    struct cs_compare compare[CS_TXN_OPS_MAX];
    struct cs_op success[CS_TXN_OPS_MAX];
    struct cs_op failure[CS_TXN_OPS_MAX];
    uint8_t signature[CS_SIGNATURE_BYTES];
    const uint8_t *signed_bytes; /* decode: the bytes the signature covers */
    size_t signed_len;
};

/*
 * Encodes req and signs it with private_key into out (cap bytes, caller-owned); with a NULL
 * private_key the signature field is all zero, for a batch (cs_batch_encode) to cover.
 * Returns 0 and sets *out_len, CS_E_RANGE (a cap, or out too small), CS_E_INVALID.
 */
int cs_request_encode(const struct cs_request *req, const uint8_t private_key[32], uint8_t *out, size_t cap,
                      size_t *out_len, struct cohort_error *err);

/*
 * Decodes a request strictly (layout above, at most CS_REQUEST_MAX bytes). Does not check
 * the signature. out points into bytes. Returns 0, CS_E_INVALID or CS_E_RANGE with the
 * field and offset in err.
 */
int cs_request_decode(const uint8_t *bytes, size_t len, struct cs_request *out, struct cohort_error *err);

/* The bytes of a batch of count requests whose encodings add up to requests_len bytes. */
size_t cs_batch_bytes(size_t count, size_t requests_len);

/*
 * Encodes a batch (layout above) of count requests, each already encoded by
 * cs_request_encode with a NULL key (an all-zero signature), and signs it with
 * private_key, into out (cap bytes, caller-owned). Returns 0 and sets *out_len, CS_E_RANGE
 * (a count or length over its cap, or out too small) or CS_E_INVALID (signing failed).
 */
int cs_batch_encode(uint64_t instance, const uint8_t *const *requests, const size_t *lens, size_t count,
                    const uint8_t private_key[32], uint8_t *out, size_t cap, size_t *out_len,
                    struct cohort_error *err);

/* Recovers the address that signed a decoded request. Returns 0 or CS_E_INVALID. */
int cs_request_signer(const struct cs_request *req, uint8_t address[20], struct cohort_error *err);

/* One key as the store holds it. Pointers are valid until the next change to the store. */
struct cs_kv {
    const uint8_t *key;
    uint16_t key_len;
    const uint8_t *value;
    uint32_t value_len;
    uint64_t create_revision, mod_revision, version;
};

/* One change, for watches. */
struct cs_event {
    uint8_t type; /* CS_OP_PUT or CS_OP_DELETE */
    struct cs_kv kv; /* DELETE: the key, value empty, mod_revision = the deleting revision */
};

/*
 * What applying one request did, handed to the apply callback. Range results list the
 * keys read by each RANGE op of the branch taken, in op order (range_start[i] is where op
 * i's keys begin in kvs; op i of the branch, whatever its type).
 */
struct cs_result {
    int status;          /* CS_OK, or the reason it was not applied (CS_E_*) */
    const uint8_t *id;   /* the request's id (CS_ID_BYTES); NULL if it did not decode */
    uint8_t signer[20];  /* valid when status is not CS_E_INVALID */
    uint64_t revision;   /* the store's revision after the request (DUPLICATE: the first's) */
    bool succeeded;      /* every compare held: the success branch ran */
    uint32_t deleted;    /* keys deleted */
    const struct cs_kv *kvs;
    size_t nkvs;
    size_t range_start[CS_TXN_OPS_MAX];
    const char *message; /* static; why, when status is not CS_OK */
};

typedef void (*cs_result_fn)(void *arg, const struct cs_result *result);

struct cs_store;

/*
 * Creates an empty store for the cluster instance, whose writers are the members and the
 * admins (addresses, copied). Returns NULL and fills err on CS_E_INVALID / CS_E_NOMEM.
 */
struct cs_store *cs_store_create(uint64_t instance, const uint8_t (*members)[20], size_t nmembers,
                                 const uint8_t (*admins)[20], size_t nadmins, struct cohort_error *err);

void cs_store_destroy(struct cs_store *store);

/*
 * Applies one log entry: a request's bytes, or a batch of requests (each applied in turn).
 * Deterministic: the same entries in the same order give the same store on every member,
 * including for entries that are refused (a refused entry changes nothing, not even the
 * revision). Calls fn (if not NULL) once per request with its result, pointers valid
 * during the call; a batch whose framing or signature fails is one refused result with id
 * NULL. Returns the (last) result's status.
 */
int cs_store_apply(struct cs_store *store, const uint8_t *entry, size_t len, cs_result_fn fn, void *arg);

/*
 * Like cs_store_apply, for a batch the caller sealed itself with cs_batch_encode and the key
 * of signer: its signature is not recovered again (the caller knows whose it is), which
 * saves a member the check of its own batches. The result is the same as cs_store_apply's
 * for that batch. An entry that is not a batch is applied as cs_store_apply does.
 */
int cs_store_apply_sealed(struct cs_store *store, const uint8_t *entry, size_t len, const uint8_t signer[20],
                          cs_result_fn fn, void *arg);

/* The current revision (0 for an empty store). */
uint64_t cs_store_revision(const struct cs_store *store);

/* The store's epoch (0 until the first membership change); *ended (may be NULL): a change
   applied and the store takes nothing more of this epoch (config.h "Membership changes"). */
uint32_t cs_store_epoch(const struct cs_store *store, bool *ended);

/*
 * Reads the current store, without the log (a serializable read: it may lag a write
 * another member has committed). A key, or with prefix every key starting with it, in
 * byte order; at most limit (0: no limit). Calls fn for each. Returns the count.
 */
size_t cs_store_range(const struct cs_store *store, const uint8_t *key, size_t key_len, bool prefix, size_t limit,
                      void (*fn)(void *arg, const struct cs_kv *kv), void *arg);

/*
 * The changes with revision >= from_revision to keys starting with prefix (prefix_len 0:
 * all keys), oldest first, at most limit (0: no limit), through fn. Sets *next_revision to
 * the revision to watch from next time. Returns the count, or CS_E_COMPACTED (err says
 * the oldest revision kept) if from_revision is older than the history.
 */
int cs_store_watch(const struct cs_store *store, uint64_t from_revision, const uint8_t *prefix, size_t prefix_len,
                   size_t limit, void (*fn)(void *arg, const struct cs_event *event), void *arg,
                   uint64_t *next_revision, struct cohort_error *err);

/*
 * A digest of the whole store (every key with its metadata, and the revision) that is
 * equal on two members iff they hold the same store. For tests and the status page.
 */
void cs_store_digest(const struct cs_store *store, uint8_t out[32]);

/*
 * Serializes the whole state of store (layout above) so that a member can restart from it
 * instead of replaying its log: restored into a store of the same instance and admins, it
 * gives a store that behaves exactly as this one does (the same results, watches, dedup and
 * digest for every entry applied after). Does not change store.
 *   store:   the store to snapshot.
 *   out:     set to a malloc'd buffer of the snapshot's bytes, which the caller frees; NULL
 *            on error.
 *   out_len: set to its length (at most CS_SNAPSHOT_MAX); 0 on error.
 *   err:     filled on error (may be NULL).
 * Returns 0, or CS_E_NOMEM (out of memory) or CS_E_RANGE (over CS_SNAPSHOT_MAX, which a
 * store within its caps never is).
 */
int cs_store_snapshot(const struct cs_store *store, uint8_t **out, size_t *out_len, struct cohort_error *err);

/*
 * cs_store_snapshot in two parts, so that the checksum (a keccak256 over the whole
 * snapshot, 25-30 ms for a 5.8 MB store) can be computed off the thread that holds the
 * store: cs_store_snapshot_unsealed leaves the checksum's 32 bytes zero, and
 * cs_snapshot_seal, which touches nothing but the bytes, fills them in. Same arguments and
 * results as cs_store_snapshot.
 */
int cs_store_snapshot_unsealed(const struct cs_store *store, uint8_t **out, size_t *out_len, struct cohort_error *err);
void cs_snapshot_seal(uint8_t *bytes, size_t len);

/*
 * Replaces the whole state of store (keys, revision, compact revision, watch history, the
 * dedup window of request ids) with a snapshot's; store keeps its instance and admins, and
 * takes its members and epoch from the snapshot's CS_MEMBERS_KEY (or the cluster file's
 * members when it has none; a document there that is not an admin's is refused). The
 * bytes are untrusted: they are decoded strictly (layout above, at most CS_SNAPSHOT_MAX),
 * the checksum is checked before any field after the magic, and a state no store could
 * have reached (keys out of order, a revision after the store's, a gap in the history, a
 * cap passed) is refused. On any error the store is left unchanged.
 *   store: the store to replace the state of; pointers it handed out (cs_kv, cs_event) are
 *          invalid after a restore that succeeds.
 *   bytes: the snapshot, len bytes; the caller keeps them, the store copies what it needs.
 *   err:   filled on error with the field and its offset (may be NULL).
 * Returns 0; CS_E_INVALID (malformed, damaged or inconsistent), CS_E_RANGE (a count or
 * length over its cap), CS_E_INSTANCE (a snapshot of another cluster instance: err names
 * both) or CS_E_NOMEM.
 */
int cs_store_restore(struct cs_store *store, const uint8_t *bytes, size_t len, struct cohort_error *err);

/* ======== 1b. Membership changes (members.c) ======== */

/*
 * The cluster's membership changes through its own log (docs/bft.md "Membership
 * changes"): an admin signs a members document, and a plain put of it (its bytes as "0x"
 * hex text) to the key CS_MEMBERS_KEY is the change. The store applies that put only when
 * the document is for the store's instance, signed by one of its admins, for epoch (the
 * store's epoch + 1), and adds exactly one member (last) or removes exactly one (the rest
 * in order); anything else that would touch the key (a put in a transaction with compares
 * or other operations, a delete that covers it) is refused. Once a change applies, the
 * store applies nothing more of its epoch: every later entry is refused with CS_E_EPOCH
 * (the service starts the next epoch's node on the store's snapshot at the change, and
 * clients resubmit there). Epoch e's BFT instance is cs_epoch_instance(instance, the hash
 * of e's document); epoch 0 is the cluster file's.
 *
 * Document layout (all integers big-endian; strict):
 *   magic "CCM1" 4 | instance u64 | epoch u32 (>= 1) | count u8 (CS_MEMBERS_MIN..CS_MEMBERS_MAX)
 *   count x (address 20 | endpoint_len u8 (1..63) | endpoint "a.b.c.d:port")
 *   signature 65 = secp_sign(keccak256("cohort-config-members-v1" || every byte before it))
 */
#define CS_MEMBERS_KEY "/cohort/cluster/members"
#define CS_MEMBERS_MIN 4
#define CS_MEMBERS_DOC_MAX (17 + CS_MEMBERS_MAX * (21 + BFT_ENDPOINT_MAX - 1) + CS_SIGNATURE_BYTES)

struct cs_members_doc {
    uint64_t instance; /* the cluster's (the cluster file's) */
    uint32_t epoch;
    uint32_t count;
    uint8_t address[CS_MEMBERS_MAX][20];
    char endpoint[CS_MEMBERS_MAX][BFT_ENDPOINT_MAX];
    uint8_t signer[20]; /* decode: the key that signed it */
    uint8_t hash[32];   /* decode: keccak256 of the whole document */
};

/* Encodes and signs doc with an admin's key into out (cap bytes). Returns 0, CS_E_INVALID
   (a rule above) or CS_E_RANGE. */
int cs_members_encode(const struct cs_members_doc *doc, const uint8_t admin_key[32], uint8_t *out, size_t cap,
                      size_t *out_len, struct cohort_error *err);

/* Decodes a document strictly (at most CS_MEMBERS_DOC_MAX bytes), recovering its signer
   (whether the signer is an admin is the caller's check). Returns 0, CS_E_INVALID or
   CS_E_RANGE with the field and offset in err. */
int cs_members_decode(const uint8_t *bytes, size_t len, struct cs_members_doc *out, struct cohort_error *err);

/* The BFT instance of the epoch a document starts (never one a cluster file can name). */
uint64_t cs_epoch_instance(uint64_t instance, const uint8_t doc_hash[32]);

/* 0 when to adds exactly one member to from (last) or removes exactly one (the rest in
   order); CS_E_INVALID saying what is wrong otherwise. */
int cs_members_check_change(const uint8_t (*from)[20], size_t nfrom, const struct cs_members_doc *to,
                            struct cohort_error *err);

/* ======== 2. The cluster file ======== */

/*
 * The cluster file: the node-cores that share the config store, their keys and
 * BFT endpoints, and the admin keys that may also write (docs/cohort-core.md "Config store").
 *
 *   {
 *     "instance": 1,                 the log's instance: keeps two clusters' messages apart
 *     "timeout_ms": 300,             the BFT height timeout (optional; 300)
 *     "snapshot_every": 8192,        log blocks between snapshots of the store, which compact
 *                                    the WAL (optional; 8192, at least 16)
 *     "fill_wait_ms": 4,             how long a leader may wait for its block to fill (optional;
 *                                    4; 0: no wait; at most timeout_ms / 10; docs/bft.md "Filling")
 *     "members": [                   4 to 32 node-cores, in the order every member uses
 *       {"address": "0x…", "endpoint": "127.0.0.1:19500"}, …
 *     ],
 *     "admins": ["0x…"]              keys that may write besides the members (optional, <= 8)
 *   }
 *
 * Every member reads the same file. A cohort-core finds its own place in it by the address
 * of its keystore's key.
 */

#define CLUSTER_FILE_MAX_BYTES (64u * 1024)
#define CLUSTER_ADMINS_MAX 8
#define CLUSTER_SNAPSHOT_EVERY_DEFAULT 8192
#define CLUSTER_FILL_WAIT_MS_DEFAULT 4

struct cluster {
    uint64_t instance;
    uint32_t timeout_ms;
    uint32_t snapshot_every;
    uint32_t fill_wait_ms;
    uint32_t count;
    uint8_t address[BFT_MEMBERS_MAX][20];
    char endpoint[BFT_MEMBERS_MAX][BFT_ENDPOINT_MAX];
    uint32_t nadmins;
    uint8_t admin[CLUSTER_ADMINS_MAX][20];
};

/*
 * Parses a cluster file's text strictly: unknown keys, duplicate addresses or endpoints,
 * fewer than 4 or more than 32 members, a bad address or endpoint are errors that name the
 * member and the field. Returns 0 or COMMON_E_INVALID / COMMON_E_RANGE.
 */
int cluster_parse(const char *text, size_t len, struct cluster *out, struct cohort_error *err);

/* Reads and parses the file at path (at most CLUSTER_FILE_MAX_BYTES). */
int cluster_load(const char *path, struct cluster *out, struct cohort_error *err);

/* The index of address among the members, or -1. */
int cluster_member_index(const struct cluster *cluster, const uint8_t address[20]);

/* 0 when a decoded members document is for this cluster's instance and one of its admins
   signed it; CS_E_INVALID or CS_E_UNAUTHORIZED saying which is not (members.c). */
int cs_members_check_cluster(const struct cs_members_doc *doc, const struct cluster *cluster,
                             struct cohort_error *err);

/* ======== 3. The service ======== */

/*
 * The service: cohort-core's config store service: the BFT node of the cluster's log
 * (bft/node.h), the store it feeds (above), and the local API that `cohort config`
 * talks to (docs/cohort-core.md "Config store").
 *
 * A write through the API is encoded as a request, signed with this member's key (or sent
 * as it came, when a client signed it with an admin key), submitted to the log, and
 * answered when this member applies it: the answer is what the state machine did with it,
 * so it is linearizable. A read is linearizable too (it goes through the log as a
 * read-only transaction) unless the client asks for a serializable read of the local copy.
 *
 * The API (JSON over HTTP POST on the local API's port):
 *   /api/v1/config/txn     {"compare":[...], "success":[...], "failure":[...]} or {"signed":"0x…"}
 *   /api/v1/config/range   {"key":"k", "prefix":false, "serializable":false, "limit":0}
 *   /api/v1/config/watch   {"prefix":"", "from_revision":N, "timeout_ms":10000, "limit":1000}
 *   /api/v1/config/status  (GET)
 * A compare is {"key":"k", "target":"value"|"mod_revision"|"create_revision"|"version",
 * "result":"="|"!="|"<"|">", "value":"v" or "number":N}; an operation is
 * {"op":"put", "key":"k", "value":"v"}, {"op":"delete", "key":"k", "prefix":bool} or
 * {"op":"range", "key":"k", "prefix":bool}. Keys and values are text.
 */

struct config_service_options {
    const struct cluster *cluster;  /* copied */
    const uint8_t *private_key;     /* 32 bytes, copied; must be a member's key */
    const char *state_dir;          /* the WAL lives in state_dir/config/ */
    uint32_t commit_timeout_ms;     /* how long a write waits for its commit (0: 15000) */
    bool equivocate;                /* Byzantine test build only (cohort-core-byzantine) */
};

struct config_service;

/*
 * Replays the WAL into a fresh store, then joins the cluster. Returns 0, or an error that
 * says what to fix (a key that is not a member's, a corrupt WAL, a port in use).
 */
int config_service_start(const struct config_service_options *options, struct config_service **out,
                         struct cohort_error *err);

/* Wakes every waiting request and watch (they answer at once); call before http_stop. */
void config_service_quiesce(struct config_service *svc);

/* Leaves the cluster, waking every waiting request (they answer 503), and frees svc. NULL is fine. */
void config_service_stop(struct config_service *svc);

/* True when the log's WAL failed and this member stopped voting (restart cohort-core);
   then reason (may be NULL) gets the WAL's error. */
bool config_service_halted(struct config_service *svc, char *reason, size_t size);

/*
 * `cohort cluster join`: decodes a members document (bytes, len), checks it against the
 * cluster file (cs_members_check_cluster), and writes it as STATE_DIR/config/epoch-N/
 * members through a synced temporary file, so that cohort-core starts in epoch N and
 * fetches the store from its members (epochs.c). Fills *doc and path (the file written).
 * Returns 0, or an error that names what is wrong.
 */
int config_join_epoch(const char *state_dir, const struct cluster *cluster, const uint8_t *bytes, size_t len,
                      struct cs_members_doc *doc, char *path, size_t path_size, struct cohort_error *err);

/* True, with why filled ("catching up, N heights behind the cluster", or just started and
   not yet sure), while this member's node runs but answers requests 503 (not ready). */
bool config_service_unready(struct config_service *svc, char *why, size_t size);

/*
 * For cohort-core's own readers of the store (its settings): the local copy's keys under
 * prefix, at most max, through fn under the store's lock (fn copies what it keeps).
 * Returns the store's revision they were read at.
 */
uint64_t config_service_local_range(struct config_service *svc, const char *prefix, size_t max,
                                    void (*fn)(void *arg, const struct cs_kv *kv), void *arg);

/* Waits until the local copy's revision is past after, timeout_ms pass, or the service is
   stopping (config_service_quiesce). Returns false when it is stopping. */
bool config_service_wait(struct config_service *svc, uint64_t after, int timeout_ms);

/* The API's handlers; ctx is the service. The status answers 503 (with its object) when halted. */
void config_api_txn(void *ctx, const char *method, const char *body, size_t len, struct http_response *out);
void config_api_range(void *ctx, const char *method, const char *body, size_t len, struct http_response *out);
void config_api_watch(void *ctx, const char *method, const char *body, size_t len, struct http_response *out);
void config_api_status(void *ctx, const char *method, const char *body, size_t len, struct http_response *out);

#endif
