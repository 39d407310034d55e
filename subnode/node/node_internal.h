/*
 * node_internal.h - what the chain node's files share: chain_node.c (start, stop, status,
 * genesis), executor.c (committed blocks into Ethereum blocks), proposer.c (the pool and
 * the batches it feeds the log), node_rpc.c (what the JSON-RPC server asks of the chain).
 */
#ifndef COHORT_NODE_INTERNAL_H
#define COHORT_NODE_INTERNAL_H

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#include "bft/node.h"
#include "common/chain_config.h"
#include "subnode/chain/block.h"
#include "subnode/chain/tx.h"
#include "subnode/node/chain_node.h"
#include "subnode/state/state.h"
#include "subnode/store/store.h"

struct txpool;
struct rpc_server;

struct chain_node {
    struct chain_config config;
    char data_dir[1024];
    char over_budget_path[1100];
    uint8_t member_address[CHAIN_CONFIG_MAX_MEMBERS][20]; /* each member node's address: the coinbase */
    u256 min_base_fee;                                     /* the base fee never falls below it */
    uint64_t payload_max_bytes;                            /* the BFT block's cap: a batch's */

    struct store *store;
    struct bft_node *bft;
    struct rpc_server *rpc;
    struct state *exec_state; /* the executor's, reused block after block (BFT thread only) */

    /* The head, written by the BFT thread under lock; read by others under lock. */
    pthread_mutex_t lock;
    uint64_t head_number;
    uint8_t head_hash[32];
    struct block_header head_header;
    uint64_t applied_index;          /* the last BFT log index executed (BFT thread) */
    int64_t last_block_wall_ms;      /* when the head was written, CLOCK_REALTIME */
    uint64_t gas_used_total;         /* since start */
    uint64_t transactions_total;     /* since start */
    uint64_t transactions_dropped;   /* since start: in a batch but not executable */
    bool halted;
    char halt_reason[512];

    /* The pool and the batch in flight, under pool_lock. */
    pthread_mutex_t pool_lock;
    struct txpool *pool;
    bool batch_in_flight;
    int64_t batch_sent_ms;            /* CLOCK_MONOTONIC */
};

/* One block built by the executor, for the pool and the subscribers. */
struct executed_block {
    struct block_header header;
    uint8_t hash[32];
    struct block_exec_result result;
    const uint8_t **raws;
    size_t *lens;
    uint8_t (*hashes)[32];
};

/* ---- executor.c ---- */

/* bft_commit_fn: executes a committed block (BFT thread). */
void node_on_commit(void *arg, const struct bft_commit *commit, bool replaying);

/* Stops the chain on this member, once, with the reason in its status and log. */
void node_halt(struct chain_node *n, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The base fee of the block after parent: EIP-1559's rule, never under min_base_fee. */
u256 node_next_base_fee(const struct chain_node *n, const struct block_header *parent);

/* ---- chain_node.c ---- */

/* The hash of block `number` from the store: 1, 0 when absent, negative on failure. */
int node_block_hash(struct chain_node *n, uint64_t number, uint8_t out[32]);

/* After a block is written (BFT thread): the head moves, the pool and the subscribers learn it. */
void node_block_done(struct chain_node *n, uint64_t index, const void *input, const struct executed_block *block,
                     bool replaying);

/* CLOCK_MONOTONIC and CLOCK_REALTIME in milliseconds. */
int64_t node_monotonic_ms(void);
int64_t node_wall_ms(void);

/* ---- proposer.c ---- */

/* True and the sender when the pool holds the transaction with this hash. */
bool node_pool_sender(struct chain_node *n, const uint8_t hash[32], uint8_t sender[20]);

/* Offers the log the next batch from the pool when none is in flight (any thread). */
void node_propose(struct chain_node *n);

#endif
