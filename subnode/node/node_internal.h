/*
 * node_internal.h - what the chain node's files share: chain_node.c (start, stop, status,
 * genesis), executor.c (committed blocks into Ethereum blocks), proposer.c (the pool and
 * the batches it feeds the log), node_rpc.c (what the JSON-RPC server asks of the chain).
 */
#ifndef COHORT_NODE_INTERNAL_H
#define COHORT_NODE_INTERNAL_H

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "bft/node.h"
#include "common/chain_config.h"
#include "subnode/chain/block.h"
#include "subnode/chain/tx.h"
#include "subnode/node/chain_node.h"
#include "common/chain_rotation.h"
#include "subnode/state/state.h"
#include "subnode/store/store.h"

/* The phases of building a block on the log's thread, timed for the status. */
enum cn_phase {
    CN_PHASE_TRANSACTIONS, /* block_execute: senders not known yet, the VM, the receipts */
    CN_PHASE_STATE,        /* store_txn_apply_state: the flat tables, history, the tries' roots */
    CN_PHASE_BLOCK,        /* the header, body, receipts and indexes into the store */
    CN_PHASE_COMMIT,       /* the store's commit: LMDB's pages out and its fsync */
    CN_PHASE_POOL,         /* the pool's update after the block and the next batch */
    CN_PHASES
};

struct txpool;
struct rpc;
struct rpc_server;

/* Batches a member has in flight at most (proposer.c): those waiting for a proposal and
   those a block carries that is not executed yet. */
#define CN_BATCHES_IN_FLIGHT 16

/* A batch in flight (proposer.c): submitted, and no executed block ended it yet. */
struct cn_batch {
    uint8_t *bytes;                   /* its signed bytes, submitted again while not committed */
    size_t len;
    uint8_t (*hashes)[32];            /* its transactions' */
    uint64_t gas;                     /* their gas limits, added up */
    size_t count;
    int64_t sent_ms;                  /* CLOCK_MONOTONIC: its last submission */
    int64_t made_ms;                  /* CLOCK_MONOTONIC: when it was made */
    bool held;                        /* a block carries it (not executed yet) */
};

struct chain_node {
    struct chain_config config;
    char data_dir[1024];
    char over_budget_path[1100];
    uint8_t member_address[CHAIN_CONFIG_MAX_MEMBERS][20]; /* each member node's address: the coinbase */
    u256 min_base_fee;                                     /* the base fee never falls below it */
    uint8_t key[32];            /* the subnode's key: signs its batches and its BFT messages */
    uint8_t self_address[20];   /* its address */
    uint8_t cert[65];           /* its node's signature vouching for it (subnode.cert) */
    /* Each member's cert as cn_vouches last accepted it: every batch carries its member's,
       and checking one costs an ECDSA recovery. Under vouch_lock (the BFT thread and the
       epochs' both ask). */
    pthread_mutex_t vouch_lock;
    struct cn_vouched {
        bool valid;
        uint8_t digest[32];       /* chain_subnode_cert_digest of (chain, node, subnode key) */
        uint8_t proof[65];
        uint8_t node_address[20]; /* the node whose signature it is */
    } vouched[CHAIN_CONFIG_MAX_MEMBERS];
    bool has_cert;              /* false only in a chain of one member started without cohort-core */
    uint32_t fault_tolerance;   /* f: (members - 1) / 3 */
    bool lie_about_head;        /* Byzantine tests only (chain_node_options) */
    /* The other members' keys learned so far (BFT thread; kept in members.json). */
    struct {
        bool known;
        uint8_t address[20];
        uint8_t proof[65];
    } learned[CHAIN_CONFIG_MAX_MEMBERS];
    uint64_t payload_max_bytes;                            /* the BFT block's cap: a batch's */

    struct store *store;
    /* The BFT node of the running epoch: NULL while an epoch switch replaces it. Read it only
       under bft_lock (cn_bft_submit, cn_bft_status); the epoch thread swaps it under the write lock. */
    pthread_rwlock_t bft_lock;
    struct bft_node *bft;
    atomic_bool started;      /* bft is set: batches may be submitted (the WAL's replay runs before) */
    /* What the BFT node of each epoch is started with (chain_node_options). */
    char bind_address[46];     /* an IPv4 or IPv6 address text */
    uint16_t bft_port;
    uint32_t snapshot_every;
    uint32_t switch_delay_ms; /* tests only (chain_node_options) */
    uint32_t transfer_delay_ms; /* tests only (chain_node_options) */
    bool equivocate, garbage;
    struct rpc *rpc;
    struct rpc_server *rpc_server;
    struct state *exec_state; /* the executor's, reused block after block (the executing thread) */

    /* The head, written by the executing thread (executor.c) under lock; read by others under lock. */
    pthread_mutex_t lock;
    uint64_t head_number;
    uint8_t head_hash[32];
    struct block_header head_header;
    uint64_t applied_index;          /* the last BFT log index executed (the executing thread) */
    int64_t last_block_wall_ms;      /* when the head was written, CLOCK_REALTIME */
    uint64_t gas_used_total;         /* since start */
    uint64_t transactions_total;     /* since start */
    uint64_t transactions_dropped;   /* since start: in a batch but not executable */
    uint64_t execute_us;             /* since start: time spent building blocks from commits */
    uint64_t phase_us[CN_PHASES];    /* ... of which in each phase (build_block, cn_block_done) */
    /* ... by reason (enum chain_reject_reason; NONE: a bad signature or chain id) */
    uint64_t dropped_by_reason[CHAIN_REJECT_VALUE_OVERFLOW + 1];
    bool halted;
    char halt_reason[512];
    /* Members whose batches named another hash for one of our blocks (the executing thread):
       f+1 of them and this member is the one that diverged. */
    struct disagreement {
        uint64_t number;
        uint8_t hash[32];
        uint64_t members; /* a bit each */
    } disagreements[8];
    uint64_t batches_refused;         /* since start: a bad signature or cert, a stranger */
    uint64_t members_disagreeing;     /* a bit each: members seen naming another hash for a block */

    /* State transfers (state_sync.c): progress under lock, for the status. */
    struct {
        bool running;
        uint64_t block;          /* the block being (or last) installed */
        unsigned source;         /* the member it comes from */
        uint64_t accounts, slots, bytes;
        uint64_t done;           /* transfers finished since start */
        uint64_t attempts;       /* begun since start (the next starts at another member) */
        char error[512];         /* the last failure, "" after a success */
        uint64_t blocks_from;    /* the first block held whole (the backfill moves it down) */
    } transfer;
    /* The backfill of the blocks before an installed state (state_sync.c). */
    pthread_t backfill;
    bool backfill_started;           /* a thread was started and not joined (under lock) */
    bool backfill_closed;            /* the node stops: no more starts (under lock) */
    atomic_bool backfill_finished;   /* it returned */
    atomic_bool backfill_stop;       /* chain_node_stop asks it to return */

    /* The executor's thread (executor.c): a commit of batches is executed there while the
       log's thread goes on to the next height. One at a time: the log's thread waits at
       its next commit (and before a snapshot, a restore or its exit) until it is done. */
    pthread_t exec_thread;
    bool exec_started;
    pthread_mutex_t exec_lock;
    pthread_cond_t exec_cond;
    bool exec_full;                   /* exec_commit waits or is being executed */
    bool exec_stop;
    struct bft_commit exec_commit;    /* its block and hash; the payload points into exec_payload
                                         (no cert or path: executing reads neither) */
    uint8_t *exec_payload;
    size_t exec_payload_cap;

    /* The pool and the batches in flight (oldest first), under pool_lock. */
    pthread_mutex_t pool_lock;
    struct txpool *pool;
    struct cn_batch batches[CN_BATCHES_IN_FLIGHT];
    unsigned batches_in_flight;
    uint64_t batches_resubmitted;     /* since start */
    unsigned batch_share;             /* the last block: members whose batches carried transactions */
    uint64_t others_batch_gas;        /* ... and the gas the other members' batches carried */

    /* Rejoining after losing the WAL (rejoin.c), under lock. */
    struct {
        bool active;          /* this start rejoins */
        bool waiting;         /* signing nothing until a block carries the entry */
        bool nonce_ok;
        uint8_t nonce[32];
        int64_t sent_ms;      /* CLOCK_MONOTONIC: the entry's last submission */
        uint64_t vote_from;   /* the BFT height it signs from, once rejoined */
    } rejoin;
    uint64_t sync_since;      /* eth_syncing's startingBlock while syncing, else UINT64_MAX (under lock) */

    /* Membership epochs (epochs.c, docs/chain.md "Rotation"). */
    struct {
        /* BFT thread only: the vouches seen committed for the next epoch, by record. */
        struct vouch_tally {
            bool used;
            uint8_t record[ROTATION_RECORD_BYTES];
            uint64_t vouchers; /* a bit each */
            uint8_t signature[CHAIN_CONFIG_MAX_MEMBERS][ROTATION_SIGNATURE_BYTES];
        } tally[4];
        uint8_t *change_entry;   /* the CHANGE this member submits once f+1 vouched (malloc'd) */
        size_t change_len;
        int64_t change_sent_ms;
        uint64_t vouch_sequence;
        int64_t vouch_sent_ms;
        char vouch_file_error[256]; /* the last complaint about ROTATION_FILE, logged once */
        bool found;              /* the block being read carries a valid CHANGE */
        struct rotation_change found_change;
        /* Under lock. */
        bool pending;            /* a change ended the epoch: commits after it are not applied */
        int64_t pending_ms;      /* CLOCK_MONOTONIC: since when */
        bool unfinished;         /* the volume holds a change whose switch did not finish (load) */
        bool from_pointer;       /* learned from a later member's proof: the state comes by transfer */
        uint64_t index, height;  /* the change block's */
        uint8_t hash[32];
        struct rotation_record record;
        bool left;               /* the change removed this member: its node lingers, applying nothing */
        uint64_t switches;       /* since start */
        uint64_t vouches_seen;   /* for the next epoch, the most for one record */
        char switch_error[512];
        /* The rotation that started the running epoch (known to a member that switched by
           the change, also after a restart) and the epoch's first block (0: unknown). */
        bool current_known;
        struct rotation_record current;
        uint64_t first_block;
        /* Completion: the DONE statements committed for the running epoch, by member. */
        uint64_t done_members;   /* a bit each */
        uint64_t done_height;
        uint8_t done_signature[CHAIN_CONFIG_MAX_MEMBERS][ROTATION_SIGNATURE_BYTES];
        int64_t done_sent_ms;    /* BFT thread: this member's DONE, submitted again while not committed */
        /* Absence: the ABSENT statements committed in the running epoch, by (node, since). */
        struct absence_tally {
            bool used;
            uint64_t node_id, since;
            uint64_t signers; /* a bit each */
            uint8_t signature[CHAIN_CONFIG_MAX_MEMBERS][ROTATION_SIGNATURE_BYTES];
        } absences[4];
        int64_t absent_sent_ms;  /* BFT thread: this member's ABSENT, submitted again while not committed */
        int64_t node_started_ms; /* CLOCK_REALTIME: the running epoch's BFT node started (peers not heard since: then) */
        struct change_proof {
            uint64_t instance;   /* the epoch it ended */
            uint8_t *bytes;      /* bft_commit_encode of the change block */
            size_t len;
        } proofs[4];
        size_t nproofs;
        /* The epoch thread: does the switch (a BFT node cannot stop itself). */
        pthread_t thread;
        bool thread_started, stopping;
        pthread_cond_t cond;
    } epochs;
};

/* The decoded transactions of one BFT block's batches, in order (executor.c). */
struct block_input {
    struct tx_signed **txs;
    size_t count, cap;
    uint64_t timestamp_ms; /* the latest batch's */
    size_t batches;
    uint64_t members_with_transactions; /* a bit each: members whose batches carried some */
    uint64_t others_gas;   /* the gas limits of the transactions other members' batches carried */
    size_t malformed;      /* transactions that did not decode (a bad signature: block_execute drops it) */
    /* The batches in flight it holds (cn_pool_block ends them): which (their bytes, the
       key cn_batch_in_flight gave) and where their transactions are in txs. */
    unsigned own_batches;
    struct {
        const uint8_t *bytes;
        size_t first, end;
    } own[CN_BATCHES_IN_FLIGHT];
};

/* One block built by the executor, for the pool and the subscribers. */
struct executed_block {
    struct block_header header;
    uint8_t hash[32];
    struct block_exec_result result;
    const uint8_t **raws;
    size_t *lens;
    uint8_t (*hashes)[32];
    int64_t phase_us[CN_PHASES]; /* how long each phase took */
};

/* ---- rejoin.c (docs/chain.md "Rejoining") ---- */

#define CN_REJOIN_FILE "rejoin"   /* cohort-core made this volume again for a chain its node ran */
#define CN_JOINED_FILE "joined"   /* this member signed in the log: a new WAL means it lost it */
#define CN_REJOIN_MAGIC 'R'
#define CN_REJOIN_VERSION 1
#define CN_REJOIN_ENTRY_BYTES 36  /* 'R' | version | member u16 | nonce 32 */

/* Before the BFT node starts: must this member rejoin (wal_path: its WAL)? Then it signs
   nothing (the caller sets vote_from to UINT64_MAX) until its entry is committed. */
bool cn_rejoin_needed(struct chain_node *n, const char *wal_path);
/* After the BFT node started: submits the entry, or marks a member that signs as joined. */
void cn_rejoin_started(struct chain_node *n);
/* From the tick: the entry again while it is not committed. */
void cn_rejoin_tick(struct chain_node *n);
/* A committed entry: true if it is a rejoin entry (this member's, with its nonce, lets it
   sign from the next height); false if it is something else. BFT thread. */
bool cn_rejoin_entry(struct chain_node *n, const struct bft_commit *commit, const uint8_t *entry, size_t len);

/* Writes a file in the volume that nothing can swap or half-write (chain_node.c). */
int cn_write_file(const char *path, const char *text, size_t len, struct cohort_error *err);

/* ---- epochs.c: rotations (docs/chain.md "Rotation") ---- */

/* The WAL of epoch e: data_dir/bft/wal for 0, data_dir/bft/epoch-e/wal after. */
int cn_epoch_wal_path(const struct chain_node *n, uint32_t epoch, char *out, size_t size);
/* Before the BFT node starts: the epoch the volume reached (its config replaces n->config),
   a change that did not finish switching, a member that left, the change proofs kept. */
int cn_epochs_load(struct chain_node *n, struct cohort_error *err);
int cn_epochs_thread_start(struct chain_node *n, struct cohort_error *err);
/* After the BFT node's first start (its WAL replayed): an unfinished switch the replay did
   not make pending again goes on from the change's proof. */
void cn_epochs_started(struct chain_node *n);
void cn_epochs_stop(struct chain_node *n);
/* What the epochs keep (the change entry, the proofs): after the BFT node stopped. */
void cn_epochs_free(struct chain_node *n);
/* A committed VOUCH, CHANGE, DONE or ABSENT (read_batches): true if it is one, whatever it says. BFT thread. */
bool cn_epochs_entry(struct chain_node *n, const struct bft_commit *commit, const uint8_t *entry, size_t len);
/* After a committed block was applied: a CHANGE in it ends the epoch here. BFT thread. */
void cn_epochs_after_block(struct chain_node *n, const struct bft_commit *commit);
/* A commit at or below the applied index (the WAL's replay): a CHANGE there ends the epoch. */
void cn_epochs_replayed(struct chain_node *n, const struct bft_commit *commit);
/* The epoch ended (a change pending, or this member left): commits are not applied. */
bool cn_epochs_closed(struct chain_node *n);
/* From the tick: this node's vouch (ROTATION_FILE), the CHANGE, this node's DONE
   (ROTATION_DONE_FILE) and ABSENT (ROTATION_ABSENT_FILE), submitted while due. */
void cn_epochs_tick(struct chain_node *n);
/* bft_node_config.pointer and .pointed. */
size_t cn_epochs_pointer(void *arg, uint64_t instance, uint8_t *out, size_t cap);
void cn_epochs_pointed(void *arg, const struct bft_commit *commit);
/* The "epoch" object of the status and "members_heard" (json: a cJSON object; bs: the
   running BFT node's status). */
void cn_epochs_status_json(struct chain_node *n, const struct bft_node_status *bs, void *json);

/* ---- The BFT node of the running epoch (chain_node.c) ---- */

/* Starts the BFT node of n->config's epoch (its WAL replays through the executor) and sets
   n->bft. fresh: the epoch was just entered (this member never signed in it: no rejoin). */
int cn_bft_start(struct chain_node *n, bool fresh, struct cohort_error *err);
/* bft_node_submit and bft_node_get_status on the running epoch's node; without one, the
   submit fails and the status is zeros. */
int cn_bft_submit(struct chain_node *n, const uint8_t *entry, size_t len, struct cohort_error *err);
void cn_bft_status(struct chain_node *n, struct bft_node_status *out);
/* Keeps the members' keys learned so far in the volume (members.json). */
void cn_learned_save(struct chain_node *n);

/* ---- executor.c ---- */

/* bft_commit_fn (the BFT thread): executes a committed block, or hands a block of batches
   to the executor's thread once the one before is done. */
void cn_on_commit(void *arg, const struct bft_commit *commit, bool replaying);

/* Starts the executor's thread (before the BFT node: the WAL's replay executes inline). */
int cn_exec_start(struct chain_node *n, struct cohort_error *err);
/* Waits until the executor's thread has executed what it was handed (any thread but it). */
void cn_exec_drain(struct chain_node *n);
/* Drains and ends it (after the BFT node stopped). */
void cn_exec_stop(struct chain_node *n);

/* Stops the chain on this member, once, with the reason in its status and log. */
void cn_halt(struct chain_node *n, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The base fee of the block after parent: EIP-1559's rule, never under min_base_fee. */
u256 cn_next_base_fee(const struct chain_node *n, const struct block_header *parent);

/* ---- state_sync.c ---- */

/*
 * Installs the chain's state at block `number` (hash: vouched for by f+1 members through
 * the BFT snapshot at log `index`) from the other members, replacing the store's content;
 * then this member's head is that block and its applied index `index`. BFT thread or start.
 */
int cn_state_transfer(struct chain_node *n, uint64_t index, uint64_t number, const uint8_t hash[32],
                      struct cohort_error *err);

/*
 * Starts (or restarts, once the last one returned) the thread that fetches the blocks
 * before the store's base from the other members, newest first, until block 0: a member
 * that installed the state then serves the chain's whole history. No-op when the store
 * holds every block.
 */
void cn_backfill_start(struct chain_node *n);
/* Stops and joins it (chain_node_stop). */
void cn_backfill_stop(struct chain_node *n);

/* ---- chain_node.c ---- */

/* Whether proof (65 bytes) is member's node vouching that address is its subnode key. */
bool cn_vouches(struct chain_node *n, uint32_t member, const uint8_t address[20], const uint8_t *proof,
                size_t proof_len);

/* The hash of block `number` from the store: 1, 0 when absent, negative on failure. */
int cn_block_hash(struct chain_node *n, uint64_t number, uint8_t out[32]);

/* After a block is written (BFT thread): the head moves, the pool and the subscribers learn it. */
void cn_block_done(struct chain_node *n, uint64_t index, const struct block_input *input,
                     const struct executed_block *block, bool replaying);

/* CLOCK_MONOTONIC and CLOCK_REALTIME in milliseconds; CLOCK_MONOTONIC in microseconds. */
int64_t cn_monotonic_ms(void);
int64_t cn_monotonic_us(void);
int64_t cn_wall_ms(void);

/* ---- proposer.c: the pool and the batches it feeds the log ---- */

int cn_pool_create(struct chain_node *n, struct cohort_error *err);
void cn_pool_free(struct chain_node *n);

/*
 * Whether the chain takes transactions now: not halted, the store under its disk budget,
 * cohort-core's over-budget flag absent. When not, and err is given, err says why.
 */
bool cn_admission_open(struct chain_node *n, struct cohort_error *err);

/* Admits t (its sender recovered) to the pool against the head's state; takes t always. */
int cn_pool_admit(struct chain_node *n, struct tx_signed *t, struct cohort_error *err);

/* True and the sender when the pool holds the transaction with this hash. */
bool cn_pool_sender(struct chain_node *n, const uint8_t hash[32], uint8_t sender[20]);

/*
 * After a block: what it included leaves the pool, its senders are re-checked against the
 * new state. A batch in flight ends if the block holds it, or if BATCH_HOLD_MS passed
 * since it was made; then what it carried and no block took is offered again.
 */
void cn_pool_block(struct chain_node *n, const struct block_input *input, const struct executed_block *block);
/* The bytes of the batch in flight that entry is (a key for block_input.own), or NULL. */
const uint8_t *cn_batch_in_flight(struct chain_node *n, const uint8_t *entry, size_t len);

/* Offers the log the next batch from the pool when none waits for a proposal, or the newest
   waiting one is BATCH_INTERVAL_MS old and their gas leaves room in this member's share (at
   most CN_BATCHES_IN_FLIGHT in flight), and a batch in flight again when it is overdue
   (any thread). */
void cn_propose(struct chain_node *n);

/* bft_node_config.held (the BFT thread): a block took pending entries; if it carries this
   member's batch, the next is made now. */
void cn_on_held(void *arg, struct bft_node *node);

/* The BFT node's tick (bft_node_config.tick, every second): cn_propose, so that a batch the
   log dropped is sent again even when no transaction or block comes to do it. */
void cn_tick(void *arg);

/* For the RPC server (rpc.h struct rpc_chain) and the status. */
void cn_pool_counts(struct chain_node *n, uint64_t *pending, uint64_t *queued);
void cn_pool_for_each(void *ctx, void (*fn)(void *arg, const struct tx_signed *tx, bool pending), void *arg);
int cn_pool_find(void *ctx, const uint8_t hash[32], void (*fn)(void *arg, const struct tx_signed *tx), void *arg);
int cn_pool_pending_nonce(void *ctx, const uint8_t sender[20], uint64_t *nonce);
void cn_pool_status_json(struct chain_node *n, void *json_object);

/* ---- node_rpc.c ---- */

#define CN_SYNC_BEHIND_MAX 16 /* heights behind the others past which a member says it syncs */

/*
 * eth_syncing's figures (node_rpc.c; docs/dapp-developers.md), from the member's position:
 * syncing while a state transfer runs, or while it is known to be more than
 * CN_SYNC_BEHIND_MAX heights behind f+1 others. Then out = {startingBlock (the head when
 * this sync began, kept in *since), currentBlock (the head), highestBlock (the block being
 * installed, or the head plus the heights behind: an estimate from above, since a height
 * makes one block at most)} and true; else *since = UINT64_MAX and false.
 */
bool cn_sync_figures(uint64_t head, bool behind_known, uint64_t behind, bool transfer_running, uint64_t transfer_block,
                     uint64_t *since, uint64_t out[3]);

int cn_rpc_start(struct chain_node *n, const struct chain_node_options *o, struct cohort_error *err);
void cn_rpc_stop(struct chain_node *n);

#endif
