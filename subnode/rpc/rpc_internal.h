/*
 * rpc_internal.h - what the files of subnode/rpc share: the server object, one call's
 * context, parameter decoding (params.c), JSON output of chain objects (format.c), the
 * method table (dispatch.c) and the methods (methods_*.c), calls on a state (exec.c), and
 * the registry of filters and subscriptions (filters.c). Tests include it to drive the
 * dispatcher and the registry without sockets.
 */
#ifndef COHORT_RPC_INTERNAL_H
#define COHORT_RPC_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "subnode/chain/block.h"
#include "subnode/rpc/json.h"
#include "subnode/rpc/rpc.h"
#include "subnode/store/store.h"

/* JSON-RPC and EIP-1474 error codes, as geth gives them. */
#define RPC_ERR_PARSE -32700
#define RPC_ERR_INVALID_REQUEST -32600
#define RPC_ERR_METHOD_NOT_FOUND -32601
#define RPC_ERR_INVALID_PARAMS -32602
#define RPC_ERR_INTERNAL -32603
#define RPC_ERR_DEFAULT -32000         /* geth's code for everything a method refuses */
#define RPC_ERR_LIMIT -32005           /* EIP-1474 "limit exceeded" */
#define RPC_ERR_RESPONSE_TOO_LARGE -32003
#define RPC_ERR_REVERTED 3             /* execution reverted: data holds the revert data */

#define RPC_PARAMS_MAX 8u
#define RPC_JSON_DEPTH_MAX 64u
#define RPC_MESSAGE_MAX 1024u
#define RPC_CLIENT_MAX 64u             /* a client's key: its IP address as text */
#define RPC_FILTER_ID_LEN 34u          /* "0x" and 32 hex digits */

/* ---- Push channels: where subscription notifications go ---- */

/*
 * A connection that can receive notifications: a WebSocket connection in the server, a
 * collecting sink in tests. push is called with the registry's lock held, from any thread:
 * it must append and return at once (no I/O, no call into the server).
 */
struct rpc_conn {
    void (*push)(struct rpc_conn *conn, const char *json, size_t len);
    uint32_t subscriptions; /* under the registry's lock */
};

/* Who is calling: the client's key (for per-client limits) and its push channel, if any. */
struct rpc_client {
    const char *address;
    struct rpc_conn *conn; /* NULL over HTTP: eth_subscribe is refused */
};

/* ---- The block parameter ---- */

enum rpc_block_tag { RPC_TAG_LATEST, RPC_TAG_PENDING, RPC_TAG_EARLIEST, RPC_TAG_SAFE, RPC_TAG_FINALIZED };

struct rpc_block_ref {
    enum { RPC_REF_TAG, RPC_REF_NUMBER, RPC_REF_HASH } kind;
    enum rpc_block_tag tag;
    uint64_t number;
    uint8_t hash[32];
};

/* ---- Log criteria (eth_getLogs, eth_newFilter, the logs subscription) ---- */

#define RPC_LOG_TOPICS 4

struct rpc_log_criteria {
    bool has_block_hash;
    uint8_t block_hash[32];
    bool has_from, has_to;
    struct rpc_block_ref from, to;
    uint8_t (*addresses)[20];              /* malloc'd */
    size_t address_count;
    uint8_t (*topics[RPC_LOG_TOPICS])[32]; /* malloc'd; count 0 at a position: any topic */
    size_t topic_count[RPC_LOG_TOPICS];
    size_t topic_positions;                /* how many positions the query listed (<= 4) */
};

void rpc_log_criteria_free(struct rpc_log_criteria *c);
/* True when log matches the addresses and topics of c (not the block range). */
bool rpc_log_matches(const struct rpc_log_criteria *c, const struct block_log *log);

/* ---- The server ---- */

enum rpc_filter_kind { RPC_FILTER_BLOCKS, RPC_FILTER_PENDING, RPC_FILTER_LOGS };

/* An installed filter (HTTP polling) or a subscription (WebSocket push). */
struct rpc_filter {
    char id[RPC_FILTER_ID_LEN + 1];
    enum rpc_filter_kind kind;
    struct rpc_conn *conn;            /* subscriptions: where to push; NULL for filters */
    char client[RPC_CLIENT_MAX];
    uint64_t last_poll_ms;
    uint64_t next_block;              /* blocks and logs filters: the first block not yet reported */
    struct rpc_log_criteria criteria; /* logs */
    uint64_t to_block;                /* logs filters: the last block it covers (UINT64_MAX: open) */
    bool full_tx;                     /* newPendingTransactions with full objects */
    bool active;                      /* subscriptions: notified only once the subscribe response is queued */
    uint8_t (*hashes)[32];            /* pending filters: hashes not yet polled */
    size_t hash_count, hash_cap;
    struct rpc_filter *next;
};

/* Pending-transaction hashes a filter keeps between polls; more are dropped until it is polled. */
#define RPC_PENDING_HASHES_MAX 16384u
/* Block hashes one eth_getFilterChanges returns at most; the rest come with the next poll. */
#define RPC_FILTER_BLOCKS_MAX 10000u

struct rpc {
    struct rpc_chain chain;
    struct rpc_limits limits;
    uint64_t (*now_ms)(void); /* CLOCK_MONOTONIC in ms; tests replace it */

    pthread_mutex_t lock;     /* the registry below */
    struct rpc_filter *filters;
    uint32_t filter_count;    /* filters and subscriptions */

    /* The notifier: publishes newHeads and logs for blocks up to `target`. */
    pthread_t notifier;
    bool notifier_running;
    pthread_cond_t wake;
    bool stopping;
    bool has_target;
    uint64_t target;          /* the last block the node published */
    bool has_published;
    uint64_t published;       /* the last block notified */
};

/* The defaults of struct rpc_limits, filled into the zero fields of l. */
void rpc_limits_defaults(struct rpc_limits *l);

/* Answers body for client as rpc_handle does (conn for WebSocket calls). */
char *rpc_handle_client(struct rpc *rpc, const struct rpc_client *client, const char *body, size_t body_len,
                        size_t *response_len);

/* Notifies subscribers of block `number` (and marks it published): the notifier's step, exposed for tests. */
void rpc_notify_block(struct rpc *rpc, uint64_t number);

/* Lets conn's new subscriptions receive notifications: after the subscribe response is queued. */
void rpc_activate_subscriptions(struct rpc *rpc, struct rpc_conn *conn);

/* Removes every subscription pushing to conn (the connection is closing). */
void rpc_drop_connection(struct rpc *rpc, struct rpc_conn *conn);

/* Removes filters not polled within the timeout. Takes the lock. */
void rpc_expire_filters(struct rpc *rpc);

/* ---- One call ---- */

struct rpc_call {
    struct rpc *rpc;
    const struct rpc_json *json;
    const struct rpc_client *client;
    uint32_t nparams;
    uint32_t param[RPC_PARAMS_MAX]; /* token of each positional parameter */
    struct rpc_buf *out;            /* the method writes its result here */
    struct store_view *view;        /* opened on first use (rpc_view), ended after the call */
    /* The error, when the method returns -1. */
    int code;
    char message[RPC_MESSAGE_MAX];
    uint8_t *data;                  /* malloc'd; written as "data": "0x..." */
    size_t data_len;
};

/* Sets the call's error (code, printf message); returns -1. */
int rpc_fail(struct rpc_call *c, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Copies data as the error's data (revert data). */
void rpc_fail_data(struct rpc_call *c, const uint8_t *data, size_t len);
/* A store failure as an error: STORE_E_PRUNED says the state is not kept; others -32000 or -32603. */
int rpc_fail_store(struct rpc_call *c, int code, const struct cohort_error *err);

/* The call's view, opened on first use; NULL (and the error set) when it cannot be opened. */
struct store_view *rpc_view(struct rpc_call *c);

/* ---- Parameters (params.c). Each returns 0 or -1 with the call's error set (-32602
 * naming the argument). A missing or null optional parameter is reported by
 * rpc_param_given. ---- */

bool rpc_param_given(const struct rpc_call *c, uint32_t index);
int rpc_param_address(struct rpc_call *c, uint32_t index, uint8_t out[20]);
int rpc_param_hash(struct rpc_call *c, uint32_t index, uint8_t out[32]);
int rpc_param_u64(struct rpc_call *c, uint32_t index, uint64_t *out);
int rpc_param_bool(struct rpc_call *c, uint32_t index, bool *out);
/* DATA of at most max bytes, malloc'd into *out (free it). */
int rpc_param_bytes(struct rpc_call *c, uint32_t index, size_t max, uint8_t **out, size_t *len);
/* A storage slot: a hex string of up to 64 digits (geth accepts "0x0" as well as 32 bytes). */
int rpc_param_slot(struct rpc_call *c, uint32_t index, u256 *out);
/* The block parameter; absent or null gives "latest". */
int rpc_param_block(struct rpc_call *c, uint32_t index, struct rpc_block_ref *out);
/* A filter id string. */
int rpc_param_filter_id(struct rpc_call *c, uint32_t index, char out[RPC_FILTER_ID_LEN + 1]);
/* Log criteria (eth_getLogs, eth_newFilter; logs subscription with allow_range false). */
int rpc_param_log_criteria(struct rpc_call *c, uint32_t index, bool allow_range, struct rpc_log_criteria *out);

/* Transaction arguments (eth_call, eth_estimateGas, eth_createAccessList). */
struct rpc_tx_args {
    bool has_from, has_to, has_gas, has_gas_price, has_max_fee, has_max_priority, has_nonce, has_access_list;
    uint8_t from[20], to[20];
    uint64_t gas, nonce;
    u256 gas_price, max_fee, max_priority, value;
    uint8_t *data;                       /* malloc'd */
    size_t data_len;
    struct chain_access_entry *access_list; /* malloc'd, keys in access_keys */
    size_t access_count;
    uint8_t *access_keys;                /* malloc'd */
};
void rpc_tx_args_free(struct rpc_tx_args *a);
int rpc_param_tx_args(struct rpc_call *c, uint32_t index, struct rpc_tx_args *out);

/* eth_call's state overrides (4th: block overrides). */
struct rpc_slot_value {
    u256 key, value;
};
struct rpc_account_override {
    uint8_t address[20];
    bool has_balance, has_nonce, has_code;
    u256 balance;
    uint64_t nonce;
    uint8_t *code;                       /* malloc'd */
    size_t code_len;
    enum { RPC_STORAGE_KEEP, RPC_STORAGE_REPLACE, RPC_STORAGE_DIFF } storage;
    struct rpc_slot_value *slots;        /* malloc'd */
    size_t slot_count;
};
struct rpc_overrides {
    struct rpc_account_override *accounts; /* malloc'd */
    size_t count;
};
void rpc_overrides_free(struct rpc_overrides *o);
int rpc_param_overrides(struct rpc_call *c, uint32_t index, struct rpc_overrides *out);

struct rpc_block_overrides {
    bool has_number, has_time, has_gas_limit, has_coinbase, has_random, has_base_fee;
    uint64_t number, time, gas_limit;
    uint8_t coinbase[20], random[32];
    u256 base_fee;
};
int rpc_param_block_overrides(struct rpc_call *c, uint32_t index, struct rpc_block_overrides *out);

/*
 * Resolves ref against the call's view: *number (and header and hash when not NULL).
 * Returns 1 (found), 0 (no such block) or -1 (error set).
 */
int rpc_resolve_block(struct rpc_call *c, const struct rpc_block_ref *ref, uint64_t *number,
                      struct block_header *header, uint8_t hash[32]);
/* Like rpc_resolve_block for a state read: no such block is the error "header not found"; a pruned one says so. */
int rpc_resolve_state_block(struct rpc_call *c, const struct rpc_block_ref *ref, uint64_t *number,
                            struct block_header *header, uint8_t hash[32]);

/* ---- JSON of chain objects (format.c) ---- */

/* Where a mined transaction is. */
struct rpc_tx_location {
    uint8_t block_hash[32];
    uint64_t block_number;
    uint32_t index;
    u256 base_fee;
};

/* A transaction as geth's RPCTransaction; loc NULL for a pending one. t's sender must be known. */
void rpc_format_tx(struct rpc_buf *b, const struct tx_signed *t, const struct rpc_tx_location *loc);
/* The header fields of a block object (without the braces' close), as geth writes them. */
void rpc_format_header_fields(struct rpc_buf *b, const struct block_header *h, const uint8_t hash[32]);
/* A whole header object (newHeads). */
void rpc_format_header(struct rpc_buf *b, const struct block_header *h, const uint8_t hash[32]);
/* A log as eth_getLogs returns it. */
void rpc_format_log(struct rpc_buf *b, const struct block_log *log, const uint8_t block_hash[32], uint64_t number,
                    const uint8_t tx_hash[32], uint32_t tx_index, uint32_t log_index);
/*
 * Writes block `number` (header, size, transactions as hashes or objects, uncles,
 * withdrawals). Returns 0 or -1 (error set).
 */
int rpc_format_block(struct rpc_call *c, uint64_t number, bool full);
/* Writes the receipt of transaction index of block number. Returns 0 or -1. */
int rpc_format_receipt(struct rpc_call *c, uint64_t number, const uint8_t block_hash[32], const struct block_header *h,
                       uint32_t index);
/* Decodes transaction index of block number from the store and recovers its sender (*out: tx_free it). */
int rpc_load_tx(struct rpc_call *c, uint64_t number, uint32_t index, struct tx_signed **out);

/* The geth words for a VM outcome ("out of gas", "invalid jump destination"...). */
const char *rpc_vm_error(enum evm_status status);
/*
 * Sets the call's error for a reverted execution: code 3, "execution reverted" or
 * "execution reverted: <reason>" (Error(string), Panic(uint256)), data = the revert data.
 */
int rpc_fail_revert(struct rpc_call *c, const uint8_t *data, size_t len);

/* Writes the logs of [from, to] (from <= to <= head) matching crit as a JSON array, or fails naming the limit reached. */
int rpc_logs_query(struct rpc_call *c, const struct rpc_log_criteria *crit, uint64_t from, uint64_t to);

/* ---- Calls on a state (exec.c) ---- */

int rpc_exec_call(struct rpc_call *c);          /* eth_call */
int rpc_exec_estimate(struct rpc_call *c);      /* eth_estimateGas */
int rpc_exec_access_list(struct rpc_call *c);   /* eth_createAccessList */

/* ---- Methods ---- */

typedef int (*rpc_method_fn)(struct rpc_call *c);

struct rpc_method {
    const char *name;
    rpc_method_fn fn;
    uint8_t min_params, max_params;
};

/* The method named name[0..len), or NULL. */
const struct rpc_method *rpc_method_find(const char *name, size_t len);

#define RPC_METHODS(X)                                 \
    X(eth_accounts, 0, 0)                              \
    X(eth_blobBaseFee, 0, 0)                           \
    X(eth_blockNumber, 0, 0)                           \
    X(eth_call, 1, 4)                                  \
    X(eth_chainId, 0, 0)                               \
    X(eth_createAccessList, 1, 3)                      \
    X(eth_estimateGas, 1, 3)                           \
    X(eth_feeHistory, 2, 3)                            \
    X(eth_gasPrice, 0, 0)                              \
    X(eth_getBalance, 2, 2)                            \
    X(eth_getBlockByHash, 2, 2)                        \
    X(eth_getBlockByNumber, 2, 2)                      \
    X(eth_getBlockReceipts, 1, 1)                      \
    X(eth_getBlockTransactionCountByHash, 1, 1)        \
    X(eth_getBlockTransactionCountByNumber, 1, 1)      \
    X(eth_getCode, 2, 2)                               \
    X(eth_getFilterChanges, 1, 1)                      \
    X(eth_getFilterLogs, 1, 1)                         \
    X(eth_getLogs, 1, 1)                               \
    X(eth_getStorageAt, 3, 3)                          \
    X(eth_getTransactionByBlockHashAndIndex, 2, 2)     \
    X(eth_getTransactionByBlockNumberAndIndex, 2, 2)   \
    X(eth_getTransactionByHash, 1, 1)                  \
    X(eth_getTransactionCount, 2, 2)                   \
    X(eth_getTransactionReceipt, 1, 1)                 \
    X(eth_getUncleByBlockHashAndIndex, 2, 2)           \
    X(eth_getUncleByBlockNumberAndIndex, 2, 2)         \
    X(eth_getUncleCountByBlockHash, 1, 1)              \
    X(eth_getUncleCountByBlockNumber, 1, 1)            \
    X(eth_hashrate, 0, 0)                              \
    X(eth_maxPriorityFeePerGas, 0, 0)                  \
    X(eth_mining, 0, 0)                                \
    X(eth_newBlockFilter, 0, 0)                        \
    X(eth_newFilter, 1, 1)                             \
    X(eth_newPendingTransactionFilter, 0, 1)           \
    X(eth_sendRawTransaction, 1, 1)                    \
    X(eth_subscribe, 1, 2)                             \
    X(eth_syncing, 0, 0)                               \
    X(eth_uninstallFilter, 1, 1)                       \
    X(eth_unsubscribe, 1, 1)                           \
    X(net_listening, 0, 0)                             \
    X(net_peerCount, 0, 0)                             \
    X(net_version, 0, 0)                               \
    X(txpool_content, 0, 0)                            \
    X(txpool_status, 0, 0)                             \
    X(web3_clientVersion, 0, 0)                        \
    X(web3_sha3, 1, 1)

#define RPC_DECLARE_METHOD(name, min, max) int rpc_m_##name(struct rpc_call *c);
RPC_METHODS(RPC_DECLARE_METHOD)
#undef RPC_DECLARE_METHOD

/*
 * snapshot.c: the answer to GET /chain/snapshot/blocks or /chain/snapshot/state (url),
 * with the query's number, cursor and headers (NULL when absent): the HTTP status, a
 * malloc'd body of *len bytes and its content type.
 */
int rpc_snapshot_answer(struct rpc *rpc, const char *url, const char *number_text, const char *cursor_text,
                        const char *headers_text, uint8_t **body, size_t *len, const char **type);

#endif
