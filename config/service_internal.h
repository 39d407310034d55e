/*
 * service_internal.h - what service.c (the store on a BFT node, and the local API) and
 * epochs.c (the node of each epoch of the cluster's membership: docs/cohort-core.md
 * "Membership") share: the service's state. Nothing outside config/ includes it.
 */
#ifndef COHORT_CONFIG_SERVICE_INTERNAL_H
#define COHORT_CONFIG_SERVICE_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "config/config.h"

#define WAITERS_MAX 1024
#define SEALED_KEPT 256 /* hashes of the batches this member sealed last, checked at apply */
#define EPOCHS_KEPT 64  /* change proofs kept for peers of older epochs (the oldest go first) */

struct kv_copy;

/* A request waiting for its commit: the API thread sleeps on cond until done. */
struct waiter {
    bool used, done;
    uint8_t id[CS_ID_BYTES];
    uint8_t nops[2]; /* success, failure branch lengths: how to split range results */
    struct kv_copy *kvs;     /* the result's keys, copied by the applier (NULL: none) */
    struct cs_result result; /* the result, answered by the API thread (its kvs: in kvs) */
    int status;      /* the result's cs_status */
    pthread_cond_t cond;
};

/* One epoch of the cluster's membership: epoch 0 is the cluster file's. */
struct epoch {
    uint32_t number;
    uint64_t instance; /* its BFT instance (cs_epoch_instance; epoch 0: the cluster's) */
    uint32_t count;
    uint8_t address[CS_MEMBERS_MAX][20];
    char endpoint[CS_MEMBERS_MAX][BFT_ENDPOINT_MAX];
    int self; /* this node's place among its members; -1: not a member */
};

/* The proof that ended the epoch whose BFT instance is instance: its change block's commit. */
struct change_proof {
    uint64_t instance;
    uint8_t *bytes;
    size_t len;
};

struct config_service {
    struct cluster cluster;
    uint8_t key[32];
    uint8_t address[20];
    char state_dir[1024];
    bool equivocate;
    uint32_t commit_timeout_ms;
    struct cs_store *store;
    /* The running epoch's node (NULL when this node is no member of it). API threads use it
       under node_lock's read side; an epoch switch replaces it under the write side. The
       node's own callbacks use it without (it lives while they run). */
    struct bft_node *node;
    /* The node of the epoch whose change removed this member (NULL if none): it lingers in
       that epoch, applying nothing, so the members still there can sync the change block and
       its proof from it, and make quorums with it (docs/bft.md "Membership changes"). Its
       callbacks see epoch.self < 0 and do nothing; it stops with the service, and starts
       again with it (service_start_lingering). */
    struct bft_node *lingering;
    pthread_rwlock_t node_lock;
    pthread_mutex_t lock;   /* guards what follows but `sealed`, and store */
    pthread_cond_t changed; /* broadcast after each applied block: watchers */
    bool stopping;
    uint64_t blocks_applied, entries_applied, entries_refused, entries_dropped;
    /* The BFT node's thread only: the batches this member sealed lately, by keccak256, so
       applying them needs no signature check (cs_store_apply_sealed). */
    uint8_t sealed[SEALED_KEPT][32];
    size_t sealed_next;
    struct waiter waiters[WAITERS_MAX];
    size_t waiters_seen; /* 1 + the highest waiter slot ever used: where on_result's search ends */
    /* Rejoining after losing the WAL (docs/cohort-core.md "Rejoining"), set at each node's start. */
    struct {
        bool active, waiting;
        uint8_t nonce[32];
        uint64_t vote_from;
        char mark[1100]; /* STATE_DIR/config-store.joined[-EPOCH]: this member signed in that epoch */
    } rejoin;
    /* Epochs (epochs.c). */
    struct epoch epoch; /* the running one; the switch writes it under lock and node_lock */
    struct epoch left;  /* the epoch whose change removed this member (number 0 and self -1: none), which
                           its lingering node runs (epochs_load finds it again at a restart) */
    struct {
        bool pending;      /* a change to make: the epoch thread's work */
        bool from_pointer; /* learned from a later epoch's member: no snapshot here, state transfer there */
        uint64_t index, height;
        uint8_t hash[32];  /* the change block, when it committed here */
        uint8_t *proof;    /* its commit proof (bft_commit_encode), malloc'd */
        size_t proof_len;
        uint8_t doc[CS_MEMBERS_DOC_MAX]; /* the next epoch's members document */
        size_t doc_len;
    } change;
    uint64_t epoch_starts;   /* bumped when an epoch's node starts: waiting writes resubmit at once */
    uint64_t switches, switches_by_proof; /* epoch switches since start; of them, learned from a later member */
    char switch_error[COHORT_ERROR_MESSAGE_MAX]; /* the last switch that failed ("" if none) */
    struct change_proof proofs[EPOCHS_KEPT];
    size_t nproofs;
    pthread_t epoch_thread;
    bool epoch_thread_started;
    pthread_cond_t epoch_cond; /* the epoch thread waits on it (with lock) */
};

/* service.c: starts the node of svc->epoch (this node must be a member of it) on that
   epoch's WAL. The caller holds node_lock's write side, or is the start. */
int service_start_node(struct config_service *svc, struct cohort_error *err);
/* Starts the lingering node of svc->left (a removed member's old epoch), if its WAL is there. */
int service_start_lingering(struct config_service *svc, struct cohort_error *err);

/* epochs.c */
/* The running epoch at start: the newest epoch folder's members document, or the cluster
   file's; with the change proofs kept beside them. */
int epochs_load(struct config_service *svc, struct cohort_error *err);
/* The WAL of epoch number (config/bft.wal for 0, config/epoch-N/bft.wal) and its joined mark. */
int epochs_wal_path(const struct config_service *svc, uint32_t number, char *out, size_t size);
void epochs_mark_path(const struct config_service *svc, uint32_t number, char *out, size_t size);
/* After a block is applied (node thread, under lock): a change it made is handed to the epoch thread. */
void epochs_on_block(struct config_service *svc, const struct bft_commit *commit);
/* bft_node_config.pointer and .pointed (arg: svc). */
size_t epochs_pointer(void *arg, uint64_t instance, uint8_t *out, size_t cap);
void epochs_pointed(void *arg, const struct bft_commit *commit);
/* The thread that switches epochs; stopped after the service is quiesced. */
int epochs_thread_start(struct config_service *svc, struct cohort_error *err);
void epochs_thread_stop(struct config_service *svc);
void epochs_free(struct config_service *svc);

#endif
