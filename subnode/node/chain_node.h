/*
 * chain_node.h - one member of a chain: its BFT log, its executor, its store, its pool and
 * its JSON-RPC server (docs/chain.md).
 *
 *   transactions -> pool -> batches -> BFT log -> on_commit -> block_execute -> LMDB
 *
 * The BFT node's thread is the only writer of the store: each committed BFT block that
 * holds a batch becomes one Ethereum block, written whole in one LMDB transaction with
 * the log index it came from. At start the store says which log index it holds; the BFT
 * WAL replays the commits after it, so a crash between the WAL and the store loses
 * nothing. A member whose execution fails (the disk budget, a store error, a state root or
 * block hash that differs from the proposer's) halts the chain on itself: it stops
 * executing and admitting, and says why in its status and log.
 */
#ifndef COHORT_NODE_CHAIN_NODE_H
#define COHORT_NODE_CHAIN_NODE_H

#include <stdbool.h>
#include <stdint.h>

#include "common/chain_config.h"
#include "common/error.h"
#include "httpd/httpd.h"

/* BFT commits between two snapshots of a chain's log (4x as many are kept for lagging members). */
#define CHAIN_SNAPSHOT_EVERY 256u

struct chain_node_options {
    const struct chain_config *config; /* copied */
    const char *data_dir;       /* the volume: store in data_dir/chain, WAL in data_dir/bft, key data_dir/subnode.key */
    const char *bind_address;   /* where the RPC and BFT ports listen (127.0.0.1 in tests) */
    uint16_t rpc_port;          /* JSON-RPC over HTTP and WebSocket, and the routes below */
    uint16_t bft_port;          /* the chain's BFT transport */
    const struct http_route *routes; /* served beside JSON-RPC on rpc_port (GET /status...); borrowed */
    size_t route_count;
    uint32_t history_blocks;    /* state kept for reads at older blocks; 0: the store's default */
    uint32_t snapshot_every;    /* BFT commits between snapshots; 0: CHAIN_SNAPSHOT_EVERY */
    const char *over_budget_path; /* cohort-core's over-budget flag file, or NULL */
    /* Byzantine tests only (cohort-subnode-byzantine): as leader, send a different block to
       half the members; name a wrong hash for its head in its batches. */
    bool equivocate;
    bool lie_about_head;
    bool garbage; /* and send frames of random bytes to every peer each second (bft_node_config.garbage) */
    uint32_t switch_delay_ms; /* tests only: an epoch switch waits this long after its change (docs/chain.md "Rotation") */
    uint32_t transfer_delay_ms; /* tests only: a state transfer waits this long before each chunk */
};

struct chain_node;

/*
 * Opens the store (making the genesis block on first start), starts the BFT node (which
 * replays its WAL through the executor) and the RPC server. Returns 0 or a negative code
 * with err naming what failed; *out is owned by the caller (chain_node_stop).
 */
int chain_node_start(const struct chain_node_options *options, struct chain_node **out, struct cohort_error *err);

/* Stops the RPC server, the BFT node and closes the store. NULL is fine. */
void chain_node_stop(struct chain_node *node);

/* The chain's part of GET /status, as a JSON object text (malloc'd). */
char *chain_node_status_json(struct chain_node *node);

/* True while the chain runs and takes transactions (not halted, under its disk budget). */
bool chain_node_accepting(struct chain_node *node);

#endif
