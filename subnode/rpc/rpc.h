/*
 * rpc.h - a subnode's Ethereum JSON-RPC server: JSON-RPC 2.0 over HTTP POST (single and
 * batch) and over WebSocket (RFC 6455, eth_subscribe) on one port, beside the node's own
 * routes (/status, /healthz). geth is the reference for every method, field and error, so
 * that ethers, cast, viem and wallets cannot tell a cohort chain from Ethereum.
 *
 * The server reads the chain from the store (store.h: read views; state at a block;
 * logs) and asks the node for the rest through struct rpc_chain: admission to the pool,
 * the pool's contents, fee suggestions, sync status, peers. The node tells the server what
 * happened (rpc_publish_block after each block commit, rpc_publish_pending_tx after each
 * admission); the server turns that into subscription notifications and filter changes.
 *
 * Methods (docs/chain.md lists them for dapp developers): web3_clientVersion, web3_sha3,
 * net_version, net_listening, net_peerCount, eth_chainId, eth_blockNumber, eth_syncing,
 * eth_gasPrice, eth_maxPriorityFeePerGas, eth_feeHistory, eth_blobBaseFee, eth_getBalance,
 * eth_getCode, eth_getStorageAt, eth_getTransactionCount, eth_call, eth_estimateGas,
 * eth_createAccessList, eth_sendRawTransaction, eth_getTransactionByHash,
 * eth_getTransactionByBlockHashAndIndex, eth_getTransactionByBlockNumberAndIndex,
 * eth_getTransactionReceipt, eth_getBlockByNumber, eth_getBlockByHash,
 * eth_getBlockTransactionCountByHash, eth_getBlockTransactionCountByNumber,
 * eth_getBlockReceipts, eth_getUncleCountByBlockHash/Number, eth_getUncleByBlock*AndIndex,
 * eth_getLogs, eth_newFilter, eth_newBlockFilter, eth_newPendingTransactionFilter,
 * eth_getFilterChanges, eth_getFilterLogs, eth_uninstallFilter, eth_accounts, eth_mining,
 * eth_hashrate, txpool_status, txpool_content, eth_subscribe and eth_unsubscribe
 * (WebSocket only: newHeads, logs, newPendingTransactions).
 *
 * The block parameter: "latest", "safe", "finalized" (the same block: BFT finality is
 * immediate), "pending" (latest; the pool counts where it matters: the nonce), "earliest",
 * a number, a block hash, or EIP-1898's {blockHash, requireCanonical} / {blockNumber}.
 * State older than the store keeps is refused with an error that says so.
 *
 * Threads. HTTP requests are served on a pool of threads (rpc_server_options.threads),
 * each WebSocket connection on a thread of its own, and notifications on one thread of
 * the server's; so every rpc_chain callback may be called from several threads at once.
 * rpc_publish_* are called from the node's threads and never block on a client: they
 * hand work to the server's notifier thread or append to bounded per-connection queues.
 */
#ifndef COHORT_RPC_RPC_H
#define COHORT_RPC_RPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/u256.h"
#include "httpd/httpd.h"
#include "subnode/chain/tx.h"
#include "subnode/evm/evm.h"

struct store;

/* Codes of the rpc library. Append only. */
enum rpc_status {
    RPC_OK = 0,
    RPC_E_INVALID = COHORT_ERRORS_RPC - 1, /* a bad argument (options) */
    RPC_E_IO = COHORT_ERRORS_RPC - 2,      /* a socket, a thread: the message has the system's words */
    RPC_E_NOMEM = COHORT_ERRORS_RPC - 3,
};

const char *rpc_strerror(int code);

/*
 * What the server needs from the chain node. Everything is borrowed and must outlive the
 * server. Every callback is optional (NULL gives the behaviour named); each may be called
 * from several threads at once and must not call back into the server, except that
 * send_raw_transaction may call rpc_publish_pending_tx.
 */
struct rpc_chain {
    struct store *store;          /* the chain's store: blocks, receipts, state, logs */
    uint64_t chain_id;            /* the EVM chain id (eth_chainId; net_version in decimal) */
    uint64_t block_gas_limit;     /* chain.json's: the most eth_estimateGas tries when the head has none */
    enum evm_revision revision;   /* the revision the chain executes (EVM_CANCUN) */
    u256 min_base_fee;            /* the chain's floor under EIP-1559's base fee (eth_feeHistory's next fee) */
    const char *client_version;   /* web3_clientVersion; NULL: "cohort/v<version>" */
    void *ctx;                    /* the first argument of every callback */

    /*
     * eth_sendRawTransaction: decode raw (raw_len bytes, at most TX_RAW_MAX_BYTES),
     * recover the sender, admit it to the pool. Returns 0 with hash filled, or negative
     * with err->message set to the words Ethereum clients know: "nonce too low",
     * "insufficient funds for gas * price + value", "replacement transaction
     * underpriced", "transaction type not supported", "rlp: ...". The message is
     * returned to the client as is (code -32000). NULL: every transaction is refused
     * with "transaction pool not available".
     */
    int (*send_raw_transaction)(void *ctx, const uint8_t *raw, size_t raw_len, uint8_t hash[32],
                                struct cohort_error *err);
    /* txpool_status: transactions ready to execute and waiting for a nonce gap. NULL: 0 and 0. */
    void (*pool_status)(void *ctx, uint64_t *pending, uint64_t *queued);
    /*
     * txpool_content: calls fn for each transaction in the pool (its sender known;
     * pending = ready). The transaction is lent for the call only. NULL: an empty pool.
     */
    void (*pool_for_each)(void *ctx, void (*fn)(void *arg, const struct tx_signed *tx, bool pending), void *arg);
    /*
     * eth_getTransactionByHash for a transaction not yet in a block: when the pool holds
     * it, calls fn with it (lent for the call; sender known) and returns 1; else 0.
     */
    int (*pool_find)(void *ctx, const uint8_t hash[32], void (*fn)(void *arg, const struct tx_signed *tx), void *arg);
    /*
     * eth_getTransactionCount(address, "pending"): 1 with *nonce set to the nonce after
     * the sender's last ready transaction when the pool holds any; 0 otherwise (the
     * state's nonce answers). NULL: always 0.
     */
    int (*pool_pending_nonce)(void *ctx, const uint8_t sender[20], uint64_t *nonce);
    /* eth_maxPriorityFeePerGas. NULL: 0. */
    u256 (*max_priority_fee)(void *ctx);
    /* eth_gasPrice. NULL: the head's base fee plus max_priority_fee (geth's rule). */
    u256 (*gas_price)(void *ctx);
    /* eth_syncing: 1 with the three figures while catching up, 0 when in sync. NULL: 0. */
    int (*syncing)(void *ctx, uint64_t *starting, uint64_t *current, uint64_t *highest);
    /* net_peerCount. NULL: 0. */
    uint32_t (*peer_count)(void *ctx);
};

/*
 * Limits. Zero in a field means its default (in parentheses). Each refusal names the
 * limit and its value, so a client's author knows what to change.
 */
struct rpc_limits {
    size_t body_bytes;                 /* an HTTP body or a WebSocket message (5 MiB) */
    size_t response_bytes;             /* one response, a batch's all together (25 MiB) */
    uint32_t batch_requests;           /* requests in one batch (1000) */
    uint64_t logs_block_range;         /* blocks one eth_getLogs may span (10000) */
    uint32_t logs_results;             /* logs one eth_getLogs may return (10000) */
    uint32_t filters_per_client;       /* installed filters per client address (100) */
    uint32_t filters_total;            /* installed filters in all (10000) */
    uint64_t filter_timeout_ms;        /* a filter not polled this long is removed (300000: 5 minutes) */
    uint32_t connections_per_client;   /* open HTTP and WebSocket connections per client address (64) */
    uint32_t connections_total;        /* all of them (1024) */
    uint32_t subscriptions_per_connection; /* eth_subscribe per WebSocket connection (100) */
    size_t ws_backlog_bytes;           /* notifications queued for a slow WebSocket client (16 MiB) */
    uint64_t gas_cap;                  /* the gas of eth_call / eth_estimateGas at most (50,000,000) */
    uint32_t fee_history_blocks;       /* eth_feeHistory's blockCount at most (1024) */
};

struct rpc;

/*
 * Creates a server for chain (copied; what it points to is borrowed) with limits (copied;
 * NULL: the defaults), and starts its notifier thread. Returns 0, RPC_E_INVALID (no store),
 * RPC_E_NOMEM or RPC_E_IO (the thread). Free with rpc_free after rpc_server_stop.
 */
int rpc_new(const struct rpc_chain *chain, const struct rpc_limits *limits, struct rpc **out, struct cohort_error *err);
void rpc_free(struct rpc *rpc);

/*
 * Answers one JSON-RPC text (a request or a batch) as the HTTP transport does: client
 * names the caller for the per-client limits (its IP address). Returns the response
 * (malloc'd, the caller frees it; *response_len its length), or NULL when there is
 * nothing to answer (notifications only). Thread-safe.
 */
char *rpc_handle(struct rpc *rpc, const char *client, const char *body, size_t body_len, size_t *response_len);

/*
 * The node calls this after block `number` is committed to the store (any thread; it
 * returns at once). The notifier thread then sends newHeads and logs notifications for
 * every block since the last one published, in order.
 */
void rpc_publish_block(struct rpc *rpc, uint64_t number);

/*
 * The node calls this after tx (sender known; lent for the call) entered the pool, from
 * any thread, not holding a lock that a rpc_chain callback takes. Adds its hash to
 * pending-transaction filters and sends it to newPendingTransactions subscribers.
 */
void rpc_publish_pending_tx(struct rpc *rpc, const struct tx_signed *tx);

/* ---- The transport ---- */

struct rpc_server_options {
    const char *bind_address;          /* IPv4 ("127.0.0.1") */
    uint16_t port;
    const struct http_route *routes;   /* served beside JSON-RPC (GET /status...); borrowed */
    size_t route_count;
    unsigned threads;                  /* HTTP worker threads (0: 4) */
};

struct rpc_server;

/*
 * Serves rpc on bind_address:port: POST / answers JSON-RPC; GET / with a WebSocket
 * upgrade opens a WebSocket; OPTIONS answers CORS preflights (any origin may call, as
 * with geth --http.corsdomain '*'); the routes answer their paths. Returns 0 or RPC_E_IO
 * (the port). Stop with rpc_server_stop before rpc_free.
 */
int rpc_server_start(struct rpc *rpc, const struct rpc_server_options *options, struct rpc_server **out,
                     struct cohort_error *err);

/* The port the server listens on (the one chosen by the system when options->port was 0). */
uint16_t rpc_server_port(const struct rpc_server *server);

/* Closes every connection (WebSockets with 1001 "going away"), stops the threads, frees. */
void rpc_server_stop(struct rpc_server *server);

#endif
