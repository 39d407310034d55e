/*
 * node_rpc.c - what the JSON-RPC server asks of the chain (struct rpc_chain in rpc.h):
 * admission to the pool, the pool's contents, fee suggestions, peers; and the server's
 * start and stop.
 */
#include "subnode/node/node_internal.h"

#include <string.h>

#include "common/log.h"
#include "subnode/chain/txpool.h"
#include "subnode/rpc/rpc.h"

#define DOMAIN "subnode"
/* eth_maxPriorityFeePerGas: what a wallet is told to tip (anvil and a new geth devnet say 1 gwei). */
#define SUGGESTED_TIP_WEI 1000000000u

static int send_raw_transaction(void *ctx, const uint8_t *raw, size_t raw_len, uint8_t hash[32],
                                struct cohort_error *err)
{
    struct chain_node *n = ctx;
    if (!cn_admission_open(n, err)) return err ? err->code : COMMON_E_INVALID;
    struct tx_signed *t;
    int rc = tx_decode(raw, raw_len, TX_RAW_MAX_BYTES, &t, err);
    if (rc != 0) return rc;
    if (tx_recover_sender(t, err) != 0) {
        tx_free(t);
        return cohort_error_set(err, CHAIN_E_INVALID, DOMAIN, "invalid sender");
    }
    memcpy(hash, t->hash, 32);
    rc = cn_pool_admit(n, t, err); /* takes t in every case */
    if (rc == 0) cn_propose(n);
    return rc;
}

static void pool_status(void *ctx, uint64_t *pending, uint64_t *queued)
{
    cn_pool_counts(ctx, pending, queued);
}

static u256 max_priority_fee(void *ctx)
{
    (void)ctx;
    return u256_from_u64(SUGGESTED_TIP_WEI);
}

static uint32_t peer_count(void *ctx)
{
    struct chain_node *n = ctx;
    struct bft_node_status s;
    cn_bft_status(n, &s);
    return s.peers_connected;
}

bool cn_sync_figures(uint64_t head, bool behind_known, uint64_t behind, bool transfer_running, uint64_t transfer_block,
                     uint64_t *since, uint64_t out[3])
{
    if (!transfer_running && !(behind_known && behind > CN_SYNC_BEHIND_MAX)) {
        *since = UINT64_MAX;
        return false;
    }
    if (*since == UINT64_MAX) *since = head;
    out[0] = *since;
    out[1] = head;
    out[2] = transfer_running ? (transfer_block > head ? transfer_block : head) : head + behind;
    return true;
}

/* eth_syncing: as geth while it syncs (cn_sync_figures). */
static int syncing(void *ctx, uint64_t *starting, uint64_t *current, uint64_t *highest)
{
    struct chain_node *n = ctx;
    struct bft_node_status s;
    cn_bft_status(n, &s);
    uint64_t figures[3] = {0};
    pthread_mutex_lock(&n->lock);
    bool on = cn_sync_figures(n->head_number, s.core.behind_known, s.core.behind, n->transfer.running, n->transfer.block,
                              &n->sync_since, figures);
    pthread_mutex_unlock(&n->lock);
    *starting = figures[0];
    *current = figures[1];
    *highest = figures[2];
    return on ? 1 : 0;
}

int cn_rpc_start(struct chain_node *n, const struct chain_node_options *o, struct cohort_error *err)
{
    struct rpc_chain chain = {
        .store = n->store,
        .chain_id = n->config.evm_chain_id,
        .block_gas_limit = n->config.genesis_gas_limit,
        .revision = EVM_CANCUN,
        .min_base_fee = n->min_base_fee,
        .ctx = n,
        .send_raw_transaction = send_raw_transaction,
        .pool_status = pool_status,
        .pool_for_each = cn_pool_for_each,
        .pool_find = cn_pool_find,
        .pool_pending_nonce = cn_pool_pending_nonce,
        .max_priority_fee = max_priority_fee,
        .peer_count = peer_count,
        .syncing = syncing,
    };
    int rc = rpc_new(&chain, NULL, &n->rpc, err);
    if (rc != 0) return rc;
    struct rpc_server_options so = {
        .bind_address = o->bind_address,
        .port = o->rpc_port,
        .routes = o->routes,
        .route_count = o->route_count,
    };
    rc = rpc_server_start(n->rpc, &so, &n->rpc_server, err);
    if (rc != 0) return cohort_error_wrap(err, "the chain's JSON-RPC on %s:%u", o->bind_address, (unsigned)o->rpc_port);
    return 0;
}

void cn_rpc_stop(struct chain_node *n)
{
    if (n->rpc_server) rpc_server_stop(n->rpc_server);
    n->rpc_server = NULL;
    if (n->rpc) rpc_free(n->rpc);
    n->rpc = NULL;
}
