/*
 * manager_client.h - the manager-client library: talking to the manager chain.
 *
 * JSON-RPC (rpc.c): Ethereum JSON-RPC 2.0 over HTTP(S), with libcurl and cJSON.
 *
 * One `struct mc_rpc` is one endpoint and one reused curl handle (keep-alive); it is not
 * thread-safe: use one per thread. Every call has a connect timeout and a whole-request
 * timeout, a cap on the response size, and retries with exponential backoff for transient
 * failures only (connection refused or reset, timeouts, HTTP 429/502/503/504). Anything
 * the server says that is not a well-formed JSON-RPC 2.0 response with our id is an
 * error, never a crash; JSON-RPC error objects are reported with their code, message and,
 * for a reverted call, the decoded revert reason.
 */
#ifndef COHORT_MANAGER_CLIENT_H
#define COHORT_MANAGER_CLIENT_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/u256.h"

/* Codes of the manager-client library. Append only. */
enum mc_status {
    MC_OK = 0,
    MC_E_INVALID = COHORT_ERRORS_MC - 1,     /* a bad argument from our caller (a URL, an address) */
    MC_E_UNAVAILABLE = COHORT_ERRORS_MC - 2, /* could not connect, or timed out, after the retries */
    MC_E_HTTP = COHORT_ERRORS_MC - 3,        /* the server answered with an HTTP error status */
    MC_E_MALFORMED = COHORT_ERRORS_MC - 4,   /* the response is not a valid JSON-RPC response of the expected shape */
    MC_E_TOO_LARGE = COHORT_ERRORS_MC - 5,   /* the response exceeds max_response_bytes */
    MC_E_RPC = COHORT_ERRORS_MC - 6,         /* the server returned a JSON-RPC error object (rpc_code is set) */
    MC_E_REVERTED = COHORT_ERRORS_MC - 7,    /* an eth_call or estimate reverted; the reason is in the message */
    MC_E_NOMEM = COHORT_ERRORS_MC - 8,
    MC_E_NOT_FOUND = COHORT_ERRORS_MC - 9,   /* a receipt or block that does not exist (yet) */
    MC_E_INPUT = COHORT_ERRORS_MC - 10,      /* a file we were given is unusable: not a keystore, corrupt, unsupported */
    MC_E_PASSWORD = COHORT_ERRORS_MC - 11,   /* the keystore's MAC does not match: wrong password */
    MC_E_IO = COHORT_ERRORS_MC - 12,         /* reading or writing a file failed */
    MC_E_CHAIN = COHORT_ERRORS_MC - 13,      /* the RPC serves another chain than the one expected */
    MC_E_FUNDS = COHORT_ERRORS_MC - 14,      /* the sender cannot pay for the transaction */
    MC_E_TIMEOUT = COHORT_ERRORS_MC - 15,    /* a transaction was not mined in time, even after replacements */
};

/* Returns a static description of an mc_status code. */
const char *mc_strerror(int code);

struct mc_rpc_options {
    const char *url;               /* http://... or https://...; copied */
    long connect_timeout_ms;       /* default 3000 */
    long request_timeout_ms;       /* whole request, default 15000 */
    unsigned max_retries;          /* transient failures retried this many times, default 3 */
    long retry_base_ms;            /* first backoff, doubled each retry, default 200 */
    size_t max_response_bytes;     /* default 16 MiB */
};

struct mc_rpc;

/*
 * Opens a client for options->url. Fields left 0 take their defaults. *out is owned by the
 * caller and freed with mc_rpc_close. Nothing is sent until the first call.
 */
int mc_rpc_open(struct mc_rpc **out, const struct mc_rpc_options *options, struct cohort_error *err);
void mc_rpc_close(struct mc_rpc *rpc);

/* The JSON-RPC error code of the last MC_E_RPC or MC_E_REVERTED failure (0 if none). */
long mc_rpc_last_error_code(const struct mc_rpc *rpc);

/* The revert data of the last MC_E_REVERTED (len 0 if none); valid until the next call. */
const uint8_t *mc_rpc_last_revert_data(const struct mc_rpc *rpc, size_t *len);

/*
 * Calls method with params (a JSON array; NULL means []; the caller keeps ownership).
 * On success *result is the response's "result" member, detached: the caller frees it with
 * cJSON_Delete. On failure *result is NULL and err names the method, the URL and what
 * went wrong.
 */
int mc_rpc_call(struct mc_rpc *rpc, const char *method, const cJSON *params, cJSON **result,
                struct cohort_error *err);

/* ---- Typed wrappers for the methods cohort uses ---- */

/* A block tag or number: "latest", "pending", "safe", "finalized", "earliest", or a number. */
struct mc_block_ref {
    const char *tag; /* NULL to use number */
    uint64_t number;
};
#define MC_LATEST ((struct mc_block_ref){.tag = "latest"})
#define MC_PENDING ((struct mc_block_ref){.tag = "pending"})
#define MC_BLOCK(n) ((struct mc_block_ref){.tag = NULL, .number = (n)})

int mc_eth_chain_id(struct mc_rpc *rpc, uint64_t *chain_id, struct cohort_error *err);
int mc_eth_block_number(struct mc_rpc *rpc, uint64_t *number, struct cohort_error *err);
int mc_eth_get_balance(struct mc_rpc *rpc, const uint8_t address[20], struct mc_block_ref block, u256 *balance,
                       struct cohort_error *err);
int mc_eth_get_transaction_count(struct mc_rpc *rpc, const uint8_t address[20], struct mc_block_ref block,
                                 uint64_t *nonce, struct cohort_error *err);
int mc_eth_gas_price(struct mc_rpc *rpc, u256 *price, struct cohort_error *err);
int mc_eth_max_priority_fee_per_gas(struct mc_rpc *rpc, u256 *fee, struct cohort_error *err);
int mc_eth_get_code_size(struct mc_rpc *rpc, const uint8_t address[20], struct mc_block_ref block, size_t *size,
                         struct cohort_error *err);

/* A block header: what the watcher and the fee logic need. */
struct mc_block {
    uint64_t number;
    uint8_t hash[32];
    uint8_t parent_hash[32];
    uint64_t timestamp;
    uint64_t gas_limit;
    bool has_base_fee;
    u256 base_fee_per_gas;
};
/* MC_E_NOT_FOUND when the block does not exist. */
int mc_eth_get_block_by_number(struct mc_rpc *rpc, struct mc_block_ref block, struct mc_block *out,
                               struct cohort_error *err);

/* eth_feeHistory over block_count blocks ending at newest: the next block's base fee and
   the median of the given reward percentile over those blocks. */
int mc_eth_fee_history(struct mc_rpc *rpc, unsigned block_count, struct mc_block_ref newest, double percentile,
                       u256 *next_base_fee, u256 *median_reward, struct cohort_error *err);

/* A call or gas estimate: to (NULL for a deployment), from (may be NULL), value, data. */
struct mc_call {
    const uint8_t *from; /* 20 bytes or NULL */
    const uint8_t *to;   /* 20 bytes or NULL */
    u256 value;
    const uint8_t *data;
    size_t data_len;
    uint64_t gas; /* 0: let the node choose */
};

/*
 * eth_call: *output is malloc'd (caller frees), *output_len its size (capped by the response
 * cap). A revert is MC_E_REVERTED with the decoded reason in err.
 */
int mc_eth_call(struct mc_rpc *rpc, const struct mc_call *call, struct mc_block_ref block, uint8_t **output,
                size_t *output_len, struct cohort_error *err);
int mc_eth_estimate_gas(struct mc_rpc *rpc, const struct mc_call *call, uint64_t *gas, struct cohort_error *err);

/* eth_sendRawTransaction: returns the transaction hash the node reports. */
int mc_eth_send_raw_transaction(struct mc_rpc *rpc, const uint8_t *raw, size_t raw_len, uint8_t hash[32],
                                struct cohort_error *err);

/* A log as eth_getLogs and receipts return it. Owned by the array it is in. */
#define MC_MAX_TOPICS 4
struct mc_log {
    uint8_t address[20];
    uint8_t topics[MC_MAX_TOPICS][32];
    unsigned ntopics;
    uint8_t *data; /* malloc'd */
    size_t data_len;
    uint64_t block_number;
    uint8_t block_hash[32];
    uint8_t transaction_hash[32];
    uint64_t transaction_index;
    uint64_t log_index;
    bool removed;
};

struct mc_log_list {
    struct mc_log *logs;
    size_t count;
};
void mc_log_list_free(struct mc_log_list *list);

/* A transaction receipt. */
struct mc_receipt {
    uint8_t transaction_hash[32];
    uint64_t block_number;
    uint8_t block_hash[32];
    bool status;             /* true: success */
    uint64_t gas_used;
    u256 effective_gas_price;
    bool has_contract_address;
    uint8_t contract_address[20];
    struct mc_log_list logs;
};
/* MC_E_NOT_FOUND while the transaction is not mined. Free with mc_receipt_free. */
int mc_eth_get_transaction_receipt(struct mc_rpc *rpc, const uint8_t hash[32], struct mc_receipt *out,
                                   struct cohort_error *err);
void mc_receipt_free(struct mc_receipt *receipt);

/* A log filter over [from_block, to_block] for one address, topic0 one of topic0s (any if none). */
struct mc_log_filter {
    const uint8_t *address; /* 20 bytes, or NULL for any */
    uint64_t from_block, to_block;
    const uint8_t (*topic0s)[32];
    size_t ntopic0s;
};

/*
 * eth_getLogs over the filter's range. When the server refuses a range as too large (or
 * the answer would exceed the response cap) the range is halved and both halves fetched,
 * down to single blocks. Logs come back in (block, log index) order. Free with
 * mc_log_list_free.
 */
int mc_eth_get_logs(struct mc_rpc *rpc, const struct mc_log_filter *filter, struct mc_log_list *out,
                    struct cohort_error *err);

/*
 * Decodes the revert data of a failed call into text: Error(string) as its string,
 * Panic(uint256) as "panic 0x11 (arithmetic overflow)", a custom error as its selector,
 * empty data as "no reason given". Writes a NUL-terminated string into out.
 */
void mc_decode_revert(const uint8_t *data, size_t len, char *out, size_t out_size);

/* ---- Transactions (tx.c): building and signing ----
 *
 * legacy (EIP-155):  rlp([nonce, gasPrice, gas, to, value, data, v, r, s])
 *                    signed over keccak(rlp([nonce, gasPrice, gas, to, value, data, chainId, 0, 0])),
 *                    v = 35 + 2 * chainId + recovery id
 * EIP-1559 (type 2): 0x02 || rlp([chainId, nonce, maxPriorityFee, maxFee, gas, to, value, data,
 *                    accessList, yParity, r, s]), signed over keccak(0x02 || rlp(the first nine))
 * `to` is the empty string for a contract creation; numbers are minimal big-endian.
 */

enum mc_tx_type { MC_TX_LEGACY = 0, MC_TX_EIP1559 = 2 };

struct mc_access_entry {
    uint8_t address[20];
    const uint8_t (*keys)[32];
    size_t nkeys;
};

struct mc_tx {
    enum mc_tx_type type;
    uint64_t chain_id;
    uint64_t nonce;
    uint64_t gas_limit;
    u256 gas_price;                /* legacy */
    u256 max_priority_fee_per_gas; /* EIP-1559 */
    u256 max_fee_per_gas;          /* EIP-1559 */
    bool has_to;                   /* false: a contract creation */
    uint8_t to[20];
    u256 value;
    const uint8_t *data;
    size_t data_len;
    const struct mc_access_entry *access_list; /* EIP-1559 only */
    size_t naccess;
};

/* The hash that is signed. */
int mc_tx_signing_hash(const struct mc_tx *tx, uint8_t hash[32], struct cohort_error *err);

/*
 * Signs tx with private_key: *raw (malloc'd, caller frees) is what eth_sendRawTransaction
 * takes, hash its transaction hash (keccak of raw).
 */
int mc_tx_sign(const struct mc_tx *tx, const uint8_t private_key[32], uint8_t **raw, size_t *raw_len, uint8_t hash[32],
               struct cohort_error *err);

/* How mc_send_transaction chooses fees and waits. Zero fields take the defaults. */
struct mc_send_options {
    unsigned receipt_timeout_ms; /* wait this long for a receipt before replacing: 30000 */
    unsigned poll_ms;            /* receipt polling interval: 200 */
    unsigned max_replacements;   /* fee bumps of a stuck transaction: 3 */
    unsigned gas_margin_percent; /* added to eth_estimateGas: 20 */
    uint64_t gas_extra;          /* added on top, for calls whose gas depends on the block (createChain) */
};

/*
 * Sends a transaction from the key's address and waits for its receipt: checks the chain
 * id, takes the pending nonce, estimates gas (a revert is reported with its reason before
 * anything is sent), sets EIP-1559 fees from eth_feeHistory (max fee = 2 * next base fee +
 * priority fee), checks the balance covers gas * max fee + value, signs, sends. When no
 * receipt comes in time, it sends a replacement with the same nonce and fees raised by
 * 12.5% (above the 10% nodes require), up to max_replacements times, and accepts whichever
 * of the sent versions is mined. `tx` gives to, value and data (type, nonce, fees and gas
 * are filled here). Fills receipt (free with mc_receipt_free); a mined but failed
 * transaction is MC_E_REVERTED.
 */
int mc_send_transaction(struct mc_rpc *rpc, const uint8_t private_key[32], uint64_t expected_chain_id,
                        const struct mc_tx *tx, const struct mc_send_options *options, struct mc_receipt *receipt,
                        struct cohort_error *err);

/* ---- The manager contract (manager.c): deployment, calls, getters, events ----
 *
 * Typed bindings of contracts-abi/contracts/CohortManager.sol over the ABI codec. Reverts
 * are decoded with the contract's own custom errors (from the embedded artifact) and turned
 * into plain sentences where cohort knows them: "the node name 'n1' is taken (node 3)".
 */

#define MC_NAME_MAX 64
#define MC_DOMAIN_MAX 254
#define MC_CHAIN_MAX_NODES 16

/* The deployment file `cohort manager deploy` writes and every other command reads. */
struct mc_deployment {
    uint64_t chain_id;      /* of the manager chain */
    uint8_t address[20];    /* of CohortManager */
    uint64_t block;         /* its deployment block: the watcher starts there */
};
int mc_deployment_load(const char *path, struct mc_deployment *out, struct cohort_error *err);
int mc_deployment_save(const char *path, const struct mc_deployment *deployment, struct cohort_error *err);

enum mc_node_status { MC_NODE_NONE = 0, MC_NODE_ACTIVE = 1, MC_NODE_LEAVING = 2, MC_NODE_LEFT = 3 };
const char *mc_node_status_name(enum mc_node_status status);

struct mc_node_info {
    uint64_t id;
    char name[MC_NAME_MAX];
    uint8_t ip[4];
    uint16_t port;
    uint8_t public_key[64];
    char domain[MC_DOMAIN_MAX];
    uint8_t owner[20];
    enum mc_node_status status;
    unsigned free_slots;
    uint64_t registered_block;
};

struct mc_chain_info {
    uint64_t id;
    char name[MC_NAME_MAX];
    uint8_t owner[20];
    unsigned size;          /* slots per node: 1, 16, 128 */
    uint64_t evm_chain_id;
    uint64_t created_block;
    unsigned nnodes;
    uint64_t node_ids[MC_CHAIN_MAX_NODES];
    unsigned first_slots[MC_CHAIN_MAX_NODES];
};

/* Deploys CohortManager (the embedded bytecode) from private_key; fills deployment. */
int mc_manager_deploy(struct mc_rpc *rpc, const uint8_t private_key[32], struct mc_deployment *deployment,
                      struct cohort_error *err);

/* registerNode: the key's 64-byte public key is sent; *node_id from the NodeRegistered event. */
int mc_manager_register_node(struct mc_rpc *rpc, const uint8_t private_key[32], const struct mc_deployment *d,
                             const char *name, const uint8_t ip[4], uint16_t port, const char *domain,
                             uint64_t *node_id, struct cohort_error *err);
struct mc_rotation_events; /* below, after struct mc_event */
/* Gas added to the estimate per rotation a call may start (docs/manager-contracts.md "Gas"). */
#define MC_ROTATION_GAS_EXTRA 100000ull
#define MC_EXIT_ROTATIONS 4 /* the contract's MAX_EXIT_ROTATIONS */

/* initExit: the node gets no new chains and up to 4 of its chains start rotating (rotations may be NULL). */
int mc_manager_init_exit(struct mc_rpc *rpc, const uint8_t private_key[32], const struct mc_deployment *d,
                         uint64_t node_id, struct mc_rotation_events *rotations, struct cohort_error *err);
/* rotateMember (the chain's owner replaces a member) and rotateLeaving (anyone: one more chain
   off a Leaving member). */
int mc_manager_rotate_member(struct mc_rpc *rpc, const uint8_t private_key[32], const struct mc_deployment *d,
                             uint64_t chain_id, uint64_t node_id, struct mc_rotation_events *rotations,
                             struct cohort_error *err);
int mc_manager_rotate_leaving(struct mc_rpc *rpc, const uint8_t private_key[32], const struct mc_deployment *d,
                              uint64_t chain_id, uint64_t node_id, struct mc_rotation_events *rotations,
                              struct cohort_error *err);
int mc_manager_complete_exit(struct mc_rpc *rpc, const uint8_t private_key[32], const struct mc_deployment *d,
                             uint64_t node_id, struct cohort_error *err);
/* createChain: *chain_id from the ChainCreated event. */
int mc_manager_create_chain(struct mc_rpc *rpc, const uint8_t private_key[32], const struct mc_deployment *d,
                            const char *name, unsigned size, unsigned node_count, uint64_t *chain_id,
                            struct cohort_error *err);
int mc_manager_delete_chain(struct mc_rpc *rpc, const uint8_t private_key[32], const struct mc_deployment *d,
                            uint64_t chain_id, struct cohort_error *err);

/* Getters (eth_call at the latest block). A missing node or chain is MC_E_NOT_FOUND. */
int mc_manager_get_node(struct mc_rpc *rpc, const struct mc_deployment *d, uint64_t node_id, struct mc_node_info *out,
                        struct cohort_error *err);
/* 0 when no node has that name. */
int mc_manager_node_id_by_name(struct mc_rpc *rpc, const struct mc_deployment *d, const char *name, uint64_t *node_id,
                               struct cohort_error *err);
int mc_manager_node_count(struct mc_rpc *rpc, const struct mc_deployment *d, uint64_t *count, struct cohort_error *err);
int mc_manager_chain_count(struct mc_rpc *rpc, const struct mc_deployment *d, uint64_t *count, struct cohort_error *err);
int mc_manager_get_chain(struct mc_rpc *rpc, const struct mc_deployment *d, uint64_t chain_id,
                         struct mc_chain_info *out, struct cohort_error *err);
int mc_manager_get_chain_by_name(struct mc_rpc *rpc, const struct mc_deployment *d, const char *name,
                                 struct mc_chain_info *out, struct cohort_error *err);
enum mc_rotation_reason { MC_ROTATION_NONE = 0, MC_ROTATION_EXIT, MC_ROTATION_OWNER, MC_ROTATION_ABSENT };

/* getRotation: a chain's epoch and its rotation in flight (pending), if any. */
struct mc_rotation_info {
    uint32_t epoch;
    bool pending;
    uint64_t leaving_node_id, joining_node_id;
    unsigned joining_first_slot, member_index;
    enum mc_rotation_reason reason;
    uint64_t started_block;
};
int mc_manager_get_rotation(struct mc_rpc *rpc, const struct mc_deployment *d, uint64_t chain_id,
                            struct mc_rotation_info *out, struct cohort_error *err);

/*
 * The statements members sign with their node key (docs/manager-contracts.md "Rotation"):
 * a rotation done (f + 1 members of the new epoch) and a member absent (2f + 1 of the
 * others). The digests bind the deployment (its chain id and address); signatures are
 * r || s || v with v 27 or 28 and a low s, as the contract wants them.
 */
#define MC_STATEMENT_SIGNATURE_BYTES 65
void mc_rotation_digest(const struct mc_deployment *d, uint64_t chain_id, uint32_t epoch, uint64_t height,
                        uint64_t leaving_node_id, uint64_t joining_node_id, uint8_t out[32]);
void mc_absence_digest(const struct mc_deployment *d, uint64_t chain_id, uint32_t epoch, uint64_t node_id,
                       uint64_t since, uint8_t out[32]);
int mc_sign_statement(const uint8_t private_key[32], const uint8_t digest[32],
                      uint8_t signature[MC_STATEMENT_SIGNATURE_BYTES], struct cohort_error *err);
/* completeRotation and reportAbsent, anyone's key paying (rotations may be NULL). */
int mc_manager_complete_rotation(struct mc_rpc *rpc, const uint8_t private_key[32], const struct mc_deployment *d,
                                 uint64_t chain_id, uint32_t epoch, uint64_t height,
                                 const uint8_t (*signatures)[MC_STATEMENT_SIGNATURE_BYTES], size_t nsignatures,
                                 struct mc_rotation_events *rotations, struct cohort_error *err);
int mc_manager_report_absent(struct mc_rpc *rpc, const uint8_t private_key[32], const struct mc_deployment *d,
                             uint64_t chain_id, uint64_t node_id, uint64_t since,
                             const uint8_t (*signatures)[MC_STATEMENT_SIGNATURE_BYTES], size_t nsignatures,
                             struct mc_rotation_events *rotations, struct cohort_error *err);

/* The EVM chain id of a chain name: the low 53 bits of keccak256(name) (computed here, no call). */
uint64_t mc_evm_chain_id_of(const char *name);

/* A decoded manager event. */
enum mc_event_kind {
    MC_EVENT_NONE = 0,
    MC_EVENT_NODE_REGISTERED,
    MC_EVENT_NODE_EXIT_INITIATED,
    MC_EVENT_NODE_EXITED,
    MC_EVENT_CHAIN_CREATED,
    MC_EVENT_NODE_ASSIGNED,
    MC_EVENT_NODE_RELEASED,
    MC_EVENT_CHAIN_DELETED,
    MC_EVENT_ROTATION_STARTED,
    MC_EVENT_ROTATION_WAITING,
    MC_EVENT_ROTATION_COMPLETED,
};

struct mc_event {
    enum mc_event_kind kind;
    uint64_t block_number;
    uint64_t log_index;
    uint64_t node_id;       /* NODE_* and NODE_ASSIGNED / NODE_RELEASED */
    uint64_t chain_id;      /* CHAIN_* and NODE_ASSIGNED / NODE_RELEASED */
    unsigned first_slot;    /* NODE_ASSIGNED / NODE_RELEASED */
    unsigned size;          /* CHAIN_CREATED */
    uint8_t owner[20];      /* NODE_REGISTERED, NODE_EXIT*, CHAIN_CREATED, CHAIN_DELETED */
    char name[MC_NAME_MAX]; /* NODE_REGISTERED, CHAIN_CREATED, CHAIN_DELETED */
    uint8_t ip[4];          /* NODE_REGISTERED */
    uint16_t port;
    uint8_t public_key[64];
    char domain[MC_DOMAIN_MAX];
    unsigned nnodes;        /* CHAIN_CREATED */
    uint64_t node_ids[MC_CHAIN_MAX_NODES];
    /* ROTATION_*: node_id is the leaving node, chain_id the chain; ROTATION_STARTED's
       first_slot is the joining node's. */
    uint64_t joining_node_id; /* ROTATION_STARTED, ROTATION_COMPLETED */
    uint32_t epoch;           /* ROTATION_STARTED (the one it leads to), ROTATION_COMPLETED */
    unsigned member_index;    /* ROTATION_STARTED */
    enum mc_rotation_reason reason; /* ROTATION_STARTED */
    uint64_t height;          /* ROTATION_COMPLETED: the chain's first block in the epoch */
};

/* The rotations a transaction started or left waiting (its RotationStarted and RotationWaiting events). */
#define MC_ROTATION_EVENTS_MAX 8
struct mc_rotation_events {
    size_t n;
    struct mc_event events[MC_ROTATION_EVENTS_MAX];
};

/* The topic0 of every event above, for a watcher filter. Static, count in *n. */
const uint8_t (*mc_manager_event_topics(size_t *n))[32];

/*
 * Decodes one log of the manager. A log of another event or contract is MC_E_NOT_FOUND; a
 * malformed one MC_E_MALFORMED with the field named.
 */
int mc_manager_decode_event(const struct mc_log *log, struct mc_event *out, struct cohort_error *err);

/*
 * Rewrites err (a revert from the manager, with the RPC's last revert data) into the
 * contract's error in plain words. Does nothing for other errors.
 */
void mc_manager_explain_revert(struct mc_rpc *rpc, struct cohort_error *err);

/* ---- The event watcher (watcher.c) ----
 *
 * Follows a contract's logs from a start block, `confirmations` blocks behind the head,
 * and hands them to a sink in (block, log index) order, a block range at a time, with the
 * cursor to resume from. It notices reorgs by block hash (the cursor's block is no longer
 * canonical, or a log's block hash differs from the canonical header) and then tells the
 * sink to rewind to the newest block it delivered that is still canonical.
 *
 * Exactly once across restarts: the watcher keeps no file of its own. The sink stores each
 * batch's effect and the cursor together, atomically (one file, or one database
 * transaction), and the watcher is restarted from that stored cursor. A crash before the
 * sink's write redelivers the batch; after it, nothing is repeated.
 */

#define MC_CURSOR_HISTORY 32 /* recent (block, hash) pairs kept to find a fork point */

struct mc_block_id {
    uint64_t number;
    uint8_t hash[32];
};

/* Where the watcher stands: every block up to and including `last` was delivered. */
struct mc_cursor {
    bool started;                /* false: nothing delivered yet; start at the start block */
    struct mc_block_id last;     /* valid when started */
    struct mc_block_id history[MC_CURSOR_HISTORY]; /* delivered range ends, oldest first */
    unsigned history_len;
};

/* The cursor as JSON text (malloc'd, caller frees) and back (strict; size-capped). */
char *mc_cursor_to_json(const struct mc_cursor *cursor);
int mc_cursor_from_json(const char *text, size_t len, struct mc_cursor *cursor, struct cohort_error *err);

/*
 * Writes a file atomically with the given mode: temporary file, fsync, rename, fsync of
 * the folder. Readers see the old file or the new one, never a part; after a crash, one of
 * the two is there.
 */
int mc_write_file_atomic(const char *path, const char *data, size_t len, unsigned mode, struct cohort_error *err);

struct mc_watcher_config {
    uint8_t address[20];        /* the contract whose logs are followed */
    uint64_t start_block;       /* first block to read (the deployment block) */
    unsigned confirmations;     /* blocks behind the head; 0 follows the head itself */
    uint64_t max_range;         /* blocks per eth_getLogs call (default 2000) */
    const uint8_t (*topic0s)[32]; /* event signatures to follow; none: every log */
    size_t ntopic0s;
};

struct mc_watcher_sink {
    /*
     * Receives the logs of blocks (cursor before, after.last] in order (count may be 0 when
     * only the cursor moves). Store their effect and `after` together, then return 0; a
     * negative return stops the poll with that error, and the batch comes again.
     */
    int (*deliver)(void *ctx, const struct mc_log *logs, size_t count, const struct mc_cursor *after,
                   struct cohort_error *err);
    /*
     * A reorg: drop the effect of everything delivered after `to` (to.started false: drop
     * everything), store `to`, return 0.
     */
    int (*rewind)(void *ctx, const struct mc_cursor *to, struct cohort_error *err);
    void *ctx;
};

/*
 * One round of watching: reads the head, checks the cursor is still canonical (rewinding
 * if not), fetches and delivers at most one range. *progress is set when something was
 * delivered or rewound (call again at once), clear when caught up (wait for a new block).
 * Errors from the RPC leave the cursor where it was; the next call retries.
 */
int mc_watcher_poll(const struct mc_watcher_config *config, struct mc_cursor *cursor, struct mc_rpc *rpc,
                    const struct mc_watcher_sink *sink, bool *progress, struct cohort_error *err);

/* ---- Keystores (keystore.c): Ethereum V3 keystore files, as geth, ethers and cast write them ----
 *
 * {"version":3, "id":UUID, "address":"<40 hex>",
 *  "crypto":{"cipher":"aes-128-ctr", "cipherparams":{"iv":"<32 hex>"}, "ciphertext":"<64 hex>",
 *            "kdf":"scrypt", "kdfparams":{"n","r","p","dklen":32,"salt"}   (or "pbkdf2": {"c","prf":"hmac-sha256","dklen","salt"}),
 *            "mac":"<64 hex>"}}
 * derived = KDF(password, salt); ciphertext = AES-128-CTR(key = derived[0..16), iv, private key);
 * mac = keccak256(derived[16..32) || ciphertext). A wrong password shows as a MAC mismatch.
 */

#define MC_KEYSTORE_MAX_BYTES (64u * 1024)  /* a keystore file larger than this is refused */
#define MC_PASSWORD_MAX_BYTES 1024

enum mc_kdf { MC_KDF_SCRYPT = 0, MC_KDF_PBKDF2 = 1 };

struct mc_keystore_params {
    enum mc_kdf kdf;
    unsigned scrypt_log2_n; /* default 17 (n = 131072, as ethers writes); r = 8, p = 1 */
    unsigned pbkdf2_iterations; /* default 262144 */
};

/*
 * Encrypts a private key with password into V3 keystore JSON. params may be NULL (scrypt,
 * ethers' defaults). *json is malloc'd; the caller frees it. The salt, IV and id come from
 * getrandom(2).
 */
int mc_keystore_encrypt(const uint8_t private_key[32], const char *password, size_t password_len,
                        const struct mc_keystore_params *params, char **json, struct cohort_error *err);

/*
 * Decrypts V3 keystore JSON. Checks the MAC (a mismatch is MC_E_PASSWORD: "wrong
 * password") and, when the file names an address, that the key derives to it. KDF
 * parameters past sane caps (scrypt n > 2^20, r > 32, p > 16; pbkdf2 c > 10^7) are refused
 * before any work. Writes the key to private_key and its address to address (may be NULL).
 */
int mc_keystore_decrypt(const char *json, size_t json_len, const char *password, size_t password_len,
                        uint8_t private_key[32], uint8_t address[20], struct cohort_error *err);

/* Reads a keystore file (at most MC_KEYSTORE_MAX_BYTES) and decrypts it. */
int mc_keystore_load(const char *path, const char *password, size_t password_len, uint8_t private_key[32],
                     uint8_t address[20], struct cohort_error *err);

/*
 * Writes json to path with mode 0600, atomically (temporary file, fsync, rename, fsync of the
 * folder). Refuses to replace an existing file: keys are never overwritten by accident.
 */
int mc_keystore_write_file(const char *path, const char *json, struct cohort_error *err);

/*
 * Reads a password from a file: its first line, without the line ending. The file must be
 * at most MC_PASSWORD_MAX_BYTES. *len receives the length. Never logged.
 */
int mc_password_from_file(const char *path, char *out, size_t out_size, size_t *len, struct cohort_error *err);

/*
 * Prompts on the controlling terminal (/dev/tty) with echo off; with confirm, asks twice and
 * refuses a mismatch. Fails with MC_E_INVALID when there is no terminal (say: use
 * --password-file).
 */
int mc_password_prompt(const char *prompt, bool confirm, char *out, size_t out_size, size_t *len,
                       struct cohort_error *err);

#endif
