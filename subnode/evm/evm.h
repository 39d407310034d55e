/*
 * evm.h - cohort's metered VM: an Ethereum Virtual Machine interpreter with its gas
 * schedule and precompiles. The whole public API of subnode/evm is here.
 *
 * What the VM does and what it leaves to its caller
 * -------------------------------------------------
 * evm_execute() runs one top-level message (a transaction's call or contract creation)
 * to the end, INCLUDING every nested CALL/CALLCODE/DELEGATECALL/STATICCALL/CREATE/CREATE2.
 * Nested messages run on an explicit stack of frames (at most 1025 frames: depth 0 to
 * 1024), never by C recursion. The VM keeps no world state: every account, balance,
 * storage slot, log and journal entry lives behind the host interface (struct evm_host)
 * that the state library implements.
 *
 * Transaction-level work is NOT done here. Before calling evm_execute for a transaction
 * the caller must have:
 *   1. begun the transaction in its state (the host's journal accepts snapshots);
 *   2. validated the transaction and charged the sender the upfront gas fee;
 *   3. INCREMENTED the sender's nonce (for calls and creations alike);
 *   4. NOT transferred the value: evm_execute moves message->value from sender to
 *      recipient itself, inside the message's snapshot, so a failed message undoes it.
 *      The caller has checked that the sender can afford it (evm_execute checks it again
 *      and fails the message with EVM_INSUFFICIENT_BALANCE if not, consuming no gas);
 *   5. marked warm (EIP-2929) the origin, the recipient (the called address, or for a
 *      creation the new contract's address), every precompile of the revision
 *      (evm_is_precompile), the coinbase from Shanghai on (EIP-3651), and the access
 *      list's addresses and slots (EIP-2930);
 *   6. subtracted the intrinsic gas: message->gas is what the code may use.
 * For a top-level CREATE the caller also sets message->recipient to the new address,
 * evm_create_address(sender, nonce BEFORE the increment); evm_execute then does the
 * collision check, the snapshot, the account creation (nonce 1), the value transfer, the
 * init code run and the code deposit (EIP-170 size limit 24576, EIP-3541 no 0xEF first
 * byte, 200 gas per byte), exactly as for a nested CREATE.
 * After evm_execute the caller applies the refund cap (result->gas_refund is the raw
 * counter), refunds the sender, pays the coinbase and ends the transaction.
 *
 * Host failures. A host operation that changes state may fail (out of memory). The VM then
 * stops at once and evm_execute returns EVM_E_HOST with the error the host reported; the
 * state is then in an unknown part of the transaction and the caller must discard it.
 * VM outcomes (out of gas, revert, invalid opcode...) are never errors: they are
 * result->status values with evm_execute returning 0.
 *
 * Threads: each thread may run evm_execute on its own host. The VM's working memory
 * (frames with their 1024-entry stacks, memory buffers, the return buffer) is kept per
 * thread between calls so the hot path does not allocate; evm_thread_release() frees it.
 *
 * Addresses are 20 bytes and hashes/words 32 bytes, big-endian, as plain arrays.
 * Supported revisions: EVM_BERLIN through EVM_CANCUN; earlier ones are refused
 * (EVM_E_UNSUPPORTED) until they are implemented.
 */
#ifndef COHORT_EVM_EVM_H
#define COHORT_EVM_EVM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/u256.h"

/* ---- Limits ---- */

#define EVM_MAX_DEPTH 1024            /* a message at depth 1024 may not call or create further */
#define EVM_STACK_LIMIT 1024          /* words on one frame's stack */
#define EVM_MAX_CODE_SIZE 24576       /* EIP-170: largest deployed code */
#define EVM_MAX_INITCODE_SIZE 49152   /* EIP-3860: largest init code (Shanghai on) */
#define EVM_MAX_LOG_TOPICS 4
/*
 * The largest memory one frame may use, in bytes. Gas bounds memory far below this for any
 * real gas limit (4 MiB costs about 35 million gas); a frame that would grow past it (only
 * possible with absurd gas limits) ends out of gas instead of exhausting the machine.
 */
#define EVM_MEMORY_MAX ((uint64_t)1 << 30)

/* ---- Errors (the library's codes; VM outcomes are enum evm_status, not errors) ---- */

enum evm_error_code {
    EVM_OK = 0,
    EVM_E_HOST = COHORT_ERRORS_EVM - 1,        /* a host operation failed (its error is in err) */
    EVM_E_NOMEM = COHORT_ERRORS_EVM - 2,       /* the VM could not allocate its frames or memory */
    EVM_E_UNSUPPORTED = COHORT_ERRORS_EVM - 3, /* a revision not implemented yet */
    EVM_E_INVALID = COHORT_ERRORS_EVM - 4,     /* a malformed message (bad kind, depth, negative gas) */
};

/* A static description of an evm_error_code; never NULL. */
const char *evm_strerror(int code);

/* ---- Revisions (forks), in order: comparisons like `rev >= EVM_LONDON` are meaningful ---- */

enum evm_revision {
    EVM_FRONTIER = 0,
    EVM_HOMESTEAD,
    EVM_TANGERINE_WHISTLE,
    EVM_SPURIOUS_DRAGON,
    EVM_BYZANTIUM,
    EVM_CONSTANTINOPLE,
    EVM_PETERSBURG,
    EVM_ISTANBUL,
    EVM_BERLIN,
    EVM_LONDON,
    EVM_PARIS, /* the merge: DIFFICULTY becomes PREVRANDAO */
    EVM_SHANGHAI,
    EVM_CANCUN,
};
#define EVM_REVISION_COUNT (EVM_CANCUN + 1)
#define EVM_REVISION_LATEST EVM_CANCUN

/* The fork's name as the state tests spell it ("Cancun", "Berlin"...); static, never NULL. */
const char *evm_revision_name(enum evm_revision revision);

/* ---- Messages and results ---- */

enum evm_call_kind {
    EVM_CALL = 0,
    EVM_CALLCODE,
    EVM_DELEGATECALL,
    EVM_STATICCALL,
    EVM_CREATE,
    EVM_CREATE2,
};

/*
 * One message: a call or a creation. For the top-level message the caller fills it; the
 * VM builds the nested ones.
 *   kind:         what kind of message.
 *   is_static:    no state changes allowed (inside a STATICCALL); false at top level.
 *   depth:        0 for the top-level message.
 *   gas:          the gas the message may use (>= 0).
 *   sender:       CALLER inside the code run.
 *   recipient:    the account whose storage and balance the code acts on (ADDRESS); for
 *                 CREATE/CREATE2 the new contract's address (see the top of this file).
 *   code_address: the account whose code runs (differs from recipient for CALLCODE and
 *                 DELEGATECALL); ignored for creations.
 *   value:        moved from sender to recipient for CALL and CREATE/CREATE2; for
 *                 DELEGATECALL it is the caller's CALLVALUE, shown but not moved.
 *   input:        calldata, or the init code for creations (input_size bytes; owned by the
 *                 caller, read during evm_execute only). NULL allowed when input_size is 0.
 *   salt:         CREATE2's salt (big-endian 32 bytes); unused otherwise.
 */
struct evm_message {
    enum evm_call_kind kind;
    bool is_static;
    int32_t depth;
    int64_t gas;
    uint8_t sender[20];
    uint8_t recipient[20];
    uint8_t code_address[20];
    u256 value;
    const uint8_t *input;
    size_t input_size;
    uint8_t salt[32];
};

/* How a message ended. Only EVM_SUCCESS keeps its state changes. Append only. */
enum evm_status {
    EVM_SUCCESS = 0,
    EVM_REVERT,                  /* REVERT: state undone, gas left returned, output kept */
    EVM_OUT_OF_GAS,
    EVM_INVALID_INSTRUCTION,     /* the designated INVALID opcode 0xFE */
    EVM_UNDEFINED_INSTRUCTION,   /* an opcode not defined in this revision */
    EVM_STACK_OVERFLOW,
    EVM_STACK_UNDERFLOW,
    EVM_BAD_JUMP_DESTINATION,
    EVM_STATIC_MODE_VIOLATION,   /* a state change inside a static call */
    EVM_INVALID_MEMORY_ACCESS,   /* RETURNDATACOPY past the return data */
    EVM_CALL_DEPTH_EXCEEDED,     /* a call or create at depth 1024: no gas consumed */
    EVM_INSUFFICIENT_BALANCE,    /* the sender cannot pay the value: no gas consumed */
    EVM_CREATE_COLLISION,        /* the new address has code, a nonce or storage */
    EVM_CONTRACT_VALIDATION_FAILURE, /* deposited code too large or starting with 0xEF */
    EVM_NONCE_OVERFLOW,          /* the creator's nonce is 2^64 - 1: no gas consumed */
    EVM_PRECOMPILE_FAILURE,      /* a precompile refused its input: all gas consumed */
    EVM_PRECOMPILE_NOT_IMPLEMENTED, /* 0x06-0x08 or 0x0a, not written yet: all gas consumed */
    EVM_INITCODE_SIZE_EXCEEDED,  /* EIP-3860: init code over 49152 bytes */
};

/* A static name for a status ("success", "out of gas"...); never NULL. */
const char *evm_status_name(enum evm_status status);

/* Bits of evm_result.flags: facts about the whole execution, nested messages included. */
#define EVM_FLAG_UNIMPLEMENTED_PRECOMPILE 1u /* some message called 0x06-0x08 or 0x0a */

/*
 * The outcome of a message.
 *   status:          how it ended.
 *   gas_left:        gas not used (0 for every status but SUCCESS and REVERT).
 *   gas_refund:      the refund counter of the whole execution (SSTORE clears, EIP-3529);
 *                    0 unless SUCCESS: a failed frame's refunds are discarded with it. Not
 *                    capped: the caller applies the cap.
 *   output:          RETURN or REVERT data (output_size bytes). Owned by the VM: valid
 *                    until the next evm_execute on the same thread or evm_thread_release().
 *                    NULL when output_size is 0.
 *   created_address: for CREATE/CREATE2 that succeeded, the new contract's address.
 *   flags:           EVM_FLAG_* bits.
 */
struct evm_result {
    enum evm_status status;
    int64_t gas_left;
    int64_t gas_refund;
    const uint8_t *output;
    size_t output_size;
    uint8_t created_address[20];
    unsigned flags;
};

/* ---- The block and transaction context (read-only during evm_execute) ---- */

/*
 * Fields the environment opcodes read. prev_randao is PREVRANDAO from Paris on; before it
 * the caller stores the block's difficulty there (big-endian), which DIFFICULTY returns.
 * blob_hashes: blob_hash_count versioned hashes of 32 bytes back to back, owned by the
 * caller (BLOBHASH, Cancun). block_hash is not here: the host answers it.
 */
struct evm_tx_context {
    uint8_t origin[20];
    u256 gas_price; /* the effective gas price the sender pays (GASPRICE) */
    uint8_t coinbase[20];
    uint64_t number;
    uint64_t timestamp;
    uint64_t gas_limit; /* the block's */
    uint8_t prev_randao[32];
    u256 chain_id;
    u256 base_fee;      /* London on */
    u256 blob_base_fee; /* Cancun on */
    const uint8_t *blob_hashes;
    size_t blob_hash_count;
};

/* ---- The host: the world state as the VM sees it ---- */

/*
 * Every operation takes the host's ctx first. Addresses are 20 bytes. All changes go
 * through the host's journal, so revert_to(snapshot) undoes them (balances, nonces, code,
 * storage, transient storage, created/destructed marks, warm marks, touches, logs).
 *
 * Operations returning int return 0 on success or a negative value when the host failed
 * (out of memory); the host keeps its own error and the VM returns EVM_E_HOST (see
 * host_error below). Reads cannot fail. Pointers handed out (code) are owned by the host.
 *
 * The VM asks only what it needs: an implementation may assume the VM has checked
 * balances before transfer and the collision rules before create_account.
 */
struct evm_host {
    void *ctx;

    /* True when the account is in the state (even if empty). */
    bool (*account_exists)(void *ctx, const uint8_t address[20]);
    /* True when the account exists and has nonce 0, balance 0 and no code (EIP-161). */
    bool (*account_is_empty)(void *ctx, const uint8_t address[20]);
    /* True when the account has any non-zero storage value (EIP-7610 collision rule). */
    bool (*account_has_storage)(void *ctx, const uint8_t address[20]);

    /*
     * EIP-2929: marks the address (or the slot of the address) warm for the rest of the
     * transaction (journaled: a reverted frame makes it cold again). Returns 1 when it was
     * cold, 0 when it was already warm, negative on failure.
     */
    int (*access_account)(void *ctx, const uint8_t address[20]);
    int (*access_storage)(void *ctx, const uint8_t address[20], u256 key);

    u256 (*get_balance)(void *ctx, const uint8_t address[20]);
    uint64_t (*get_nonce)(void *ctx, const uint8_t address[20]);
    int (*set_nonce)(void *ctx, const uint8_t address[20], uint64_t nonce);
    /*
     * The account's code and its size in *size (NULL and 0 when it has none). The
     * pointer is owned by the host and valid until the next state change.
     */
    const uint8_t *(*get_code)(void *ctx, const uint8_t address[20], size_t *size);
    /* keccak256 of the code; all zeros for an absent or EIP-161-empty account (EXTCODEHASH). */
    void (*get_code_hash)(void *ctx, const uint8_t address[20], uint8_t out[32]);
    /* Copies code (size <= EVM_MAX_CODE_SIZE) into the account: a deployment. */
    int (*set_code)(void *ctx, const uint8_t address[20], const uint8_t *code, size_t size);

    /* Current storage value (0 when unset). */
    u256 (*get_storage)(void *ctx, const uint8_t address[20], u256 key);
    /* The value at the start of the transaction (EIP-2200's "original"). */
    u256 (*get_committed_storage)(void *ctx, const uint8_t address[20], u256 key);
    int (*set_storage)(void *ctx, const uint8_t address[20], u256 key, u256 value);
    /* EIP-1153 transient storage; cleared by the host at the end of the transaction. */
    u256 (*get_transient)(void *ctx, const uint8_t address[20], u256 key);
    int (*set_transient)(void *ctx, const uint8_t address[20], u256 key, u256 value);

    /* Moves value from one account to the other (the VM checked the balance; value may be 0). */
    int (*transfer)(void *ctx, const uint8_t from[20], const uint8_t to[20], u256 value);
    /*
     * EIP-161 touch: the account counts as touched in this transaction (deleted at its end
     * if then empty). The VM touches each message's recipient and a SELFDESTRUCT's
     * beneficiary.
     */
    int (*touch_account)(void *ctx, const uint8_t address[20]);
    /*
     * For CREATE/CREATE2: makes the account exist, keeping any balance it has, and marks it
     * created in this transaction (EIP-6780). The VM then sets its nonce to 1 with
     * set_nonce (a host may also do it here; setting it twice is harmless).
     */
    int (*create_account)(void *ctx, const uint8_t address[20]);
    /*
     * SELFDESTRUCT as EIP-6780 defines it: moves the whole balance of address to
     * beneficiary; then, only if address was created in this transaction, sets its balance
     * to 0 (burning it when beneficiary == address) and marks it for deletion at the end
     * of the transaction. The VM charged the gas and checked static mode.
     */
    int (*selfdestruct)(void *ctx, const uint8_t address[20], const uint8_t beneficiary[20]);
    /* Appends a log; copies topics (topic_count <= 4 words of 32 bytes, back to back) and data. */
    int (*emit_log)(void *ctx, const uint8_t address[20], const uint8_t *topics, unsigned topic_count,
                    const uint8_t *data, size_t data_size);

    /* A journal position; revert_to undoes every change made after it. */
    size_t (*snapshot)(void *ctx);
    void (*revert_to)(void *ctx, size_t snapshot);

    /*
     * The hash of block `number`. The VM asks only for the 256 blocks before the current
     * one (BLOCKHASH answers 0 for others itself).
     */
    void (*get_block_hash)(void *ctx, uint64_t number, uint8_t out[32]);

    /*
     * Optional (may be NULL): after an operation returned negative, the VM calls this to
     * copy the host's error into evm_execute's err.
     */
    void (*host_error)(void *ctx, struct cohort_error *err);
};

/* ---- Entry point ---- */

/*
 * Runs message (a top-level message: depth 0, see the top of this file for what the caller
 * must have done) and every nested message it makes, under revision, with the block and
 * transaction context, against host. Fills *result (output owned by the VM, see struct
 * evm_result).
 * Returns 0 when the message ran (whatever its status), or a negative evm_error_code with
 * err filled: EVM_E_HOST (a host operation failed; discard the transaction's state),
 * EVM_E_NOMEM, EVM_E_UNSUPPORTED (revision before Berlin), EVM_E_INVALID (a malformed
 * message). On error *result has status EVM_OUT_OF_GAS and no gas left.
 * None of host, context or message is kept after the call.
 */
int evm_execute(const struct evm_host *host, const struct evm_tx_context *context, enum evm_revision revision,
                const struct evm_message *message, struct evm_result *result, struct cohort_error *err);

/* Frees this thread's VM working memory (frames, memory buffers, output). Harmless when none. */
void evm_thread_release(void);

/* ---- Pre-analysed code: one code run many times (benchmarks, tools) ---- */

/*
 * Code prepared once for the interpreter: a padded copy and its JUMPDEST bitmap, the work
 * evm_execute otherwise repeats for every message. Opaque; immutable once made, so several
 * threads may run the same one.
 */
struct evm_code;

/* The largest code evm_code_new accepts (the state accepts genesis code up to 1 MiB). */
#define EVM_CODE_ANALYZE_MAX ((size_t)1 << 20)

/*
 * Copies and analyses code[0..code_size) (code is not kept). Returns 0 and sets *out (owned
 * by the caller: evm_code_free), or EVM_E_INVALID (over EVM_CODE_ANALYZE_MAX) or
 * EVM_E_NOMEM with err filled and *out NULL.
 */
int evm_code_new(const uint8_t *code, size_t code_size, struct evm_code **out, struct cohort_error *err);
/* Frees code; NULL is harmless. */
void evm_code_free(struct evm_code *code);

/*
 * evm_execute for a top-level call (kind EVM_CALL...EVM_STATICCALL, not a creation) whose
 * code is given analysed instead of read from host->get_code(message->code_address); the
 * caller makes sure it is the code it wants run (normally that account's code). Everything
 * else is as evm_execute: the same preconditions, nested messages read their code from the
 * host, the same results and errors, plus EVM_E_INVALID for a creation or a NULL code.
 * code is read during the call only.
 */
int evm_execute_analyzed(const struct evm_host *host, const struct evm_tx_context *context,
                         enum evm_revision revision, const struct evm_message *message, const struct evm_code *code,
                         struct evm_result *result, struct cohort_error *err);

/* ---- Addresses and precompiles ---- */

/* CREATE's address: the last 20 bytes of keccak256(rlp([sender, nonce])). */
void evm_create_address(const uint8_t sender[20], uint64_t nonce, uint8_t out[20]);
/* CREATE2's address: the last 20 bytes of keccak256(0xff ++ sender ++ salt ++ keccak256(init_code)). */
void evm_create2_address(const uint8_t sender[20], const uint8_t salt[32], const uint8_t init_code_hash[32],
                         uint8_t out[20]);

/* The highest precompile address of any revision: 0x0a (point evaluation, Cancun). */
#define EVM_PRECOMPILE_LAST 0x0a

/* True when address is a precompile in revision (0x01-0x09 from Istanbul, plus 0x0a in Cancun). */
bool evm_is_precompile(const uint8_t address[20], enum evm_revision revision);
/*
 * True when address is a precompile of revision that this VM does not implement yet
 * (bn254 0x06-0x08 and the KZG point evaluation 0x0a): calling it fails with
 * EVM_PRECOMPILE_NOT_IMPLEMENTED, consuming all the gas given to the call, and sets
 * EVM_FLAG_UNIMPLEMENTED_PRECOMPILE in the result.
 */
bool evm_precompile_is_unimplemented(const uint8_t address[20], enum evm_revision revision);

#endif
