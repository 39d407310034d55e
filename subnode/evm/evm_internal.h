/*
 * evm_internal.h - the VM's internal structures, shared by the files of subnode/evm and
 * by nothing else: the per-thread VM with its frame stack, a frame, code analysis, the
 * interpreter's entry and the precompiles.
 *
 * Frames. Frame i (0 = the top-level message) is allocated the first time a message runs
 * at depth i and kept, with its buffers, for later messages at that depth: a transaction
 * that calls 1024 deep allocates 1025 frames once per thread, and the next transactions
 * reuse them without allocating. A suspended frame (waiting for its child) keeps its stack,
 * memory and pc; the child reads its calldata straight from the parent's memory, which
 * cannot move while the parent is suspended.
 */
#ifndef COHORT_EVM_INTERNAL_H
#define COHORT_EVM_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "subnode/evm/evm.h"
#include "subnode/evm/opcodes.h"

#if defined(__GNUC__)
#define EVM_LIKELY(x) __builtin_expect(!!(x), 1)
#define EVM_UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define EVM_LIKELY(x) (x)
#define EVM_UNLIKELY(x) (x)
#endif

/* Zero bytes after the code: a PUSH32 at the last byte reads zeros, then a STOP. */
#define EVM_CODE_PADDING 33

/* A growable byte buffer; grows by doubling, never shrinks while the thread runs. */
struct evm_buffer {
    uint8_t *data;
    size_t size;
    size_t capacity;
};

/* Makes room for at least capacity bytes (contents kept). false when out of memory. */
bool evm_buffer_reserve(struct evm_buffer *buffer, size_t capacity);
/* Sets the contents to a copy of data[0..size). false when out of memory. */
bool evm_buffer_assign(struct evm_buffer *buffer, const uint8_t *data, size_t size);
void evm_buffer_free(struct evm_buffer *buffer);

/*
 * Copies code into analysis->code with EVM_CODE_PADDING zero bytes after it and marks the
 * JUMPDEST bytes that are instructions (not PUSH data) in analysis->jumpdests, one bit per
 * code byte. false when out of memory.
 */
struct evm_code_analysis {
    struct evm_buffer code;      /* code_size + padding bytes */
    struct evm_buffer jumpdests; /* (code_size + 63) / 64 uint64_t words */
    size_t code_size;
};
bool evm_analyze(struct evm_code_analysis *analysis, const uint8_t *code, size_t code_size);

/* evm.h's opaque pre-analysed code: an analysis that no frame owns. */
struct evm_code {
    struct evm_code_analysis analysis;
};

/* True when dest is a JUMPDEST instruction of the analysed code. */
static inline bool evm_is_jumpdest(const struct evm_code_analysis *analysis, uint64_t dest)
{
    if (dest >= analysis->code_size) return false;
    const uint64_t *bits = (const uint64_t *)(const void *)analysis->jumpdests.data;
    return (bits[dest / 64] >> (dest % 64)) & 1;
}

/* How the interpreter left a frame. */
enum evm_frame_exit {
    EVM_EXIT_DONE = 0,   /* the frame ended: status, output and gas are in the frame */
    EVM_EXIT_CALL,       /* the frame made a nested message (vm->pending); resume after it */
    EVM_EXIT_ABORT,      /* a host operation or an allocation failed (vm->err filled): abandon it all */
};

struct evm_frame {
    u256 stack[EVM_STACK_LIMIT];
    size_t stack_size; /* while suspended or after it ended */

    struct evm_message message;
    struct evm_code_analysis analysis; /* the frame's own copy of its code, reused between messages */
    /*
     * The code the frame runs: &analysis, or for the top-level message of
     * evm_execute_analyzed the caller's struct evm_code (read only, outlives the frame).
     */
    const struct evm_code_analysis *code;
    size_t pc;
    int64_t gas_left;
    int64_t gas_refund; /* may go negative inside a frame (EIP-2200); summed on success */
    size_t snapshot;    /* the host journal position the frame reverts to */

    struct evm_buffer memory;    /* memory.size is the EVM's MSIZE, a multiple of 32 */
    struct evm_buffer return_data; /* the last child's output (RETURNDATASIZE) */

    /* Set when suspended by a CALL-family instruction: where the child's output goes. */
    uint64_t call_output_offset;
    uint64_t call_output_size;

    /* Set when the frame ended (EVM_EXIT_DONE). */
    enum evm_status status;
    uint64_t output_offset; /* RETURN/REVERT data in memory */
    uint64_t output_size;
};

struct evm_vm {
    struct evm_frame *frames[EVM_MAX_DEPTH + 1];
    int frame_count; /* frames in use: frames[frame_count - 1] runs */

    /* The current execution (valid during evm_execute only). */
    const struct evm_host *host;
    const struct evm_tx_context *context;
    enum evm_revision revision;
    const struct evm_opcode_info *table;
    struct cohort_error *err;
    int abort_code; /* EVM_E_HOST or EVM_E_NOMEM after EVM_EXIT_ABORT */
    unsigned flags;

    struct evm_message pending; /* the nested message a frame asked for (EVM_EXIT_CALL) */
    const struct evm_code_analysis *top_code; /* evm_execute_analyzed's code, else NULL */
    struct evm_buffer scratch;  /* precompile output */
    struct evm_buffer output;   /* the top-level result's output */
};

/*
 * Runs frame f (the top of vm's frame stack) from f->pc until it ends or asks for a nested
 * message. The frame's code is analysed, its gas and message set.
 */
enum evm_frame_exit evm_interpret(struct evm_vm *vm, struct evm_frame *f);

/*
 * Records a host failure in vm->err (through host->host_error when the host has one) and
 * returns EVM_EXIT_ABORT.
 */
enum evm_frame_exit evm_host_failed(struct evm_vm *vm, const char *operation);
/* Records an allocation failure of the VM itself in vm->err; returns EVM_EXIT_ABORT. */
enum evm_frame_exit evm_out_of_memory(struct evm_vm *vm, const char *what);

/* Addresses as stack words: the low 20 bytes of the big-endian word. */
static inline u256 evm_address_to_word(const uint8_t address[20])
{
    uint8_t word[32] = {0};
    for (int i = 0; i < 20; i++) word[12 + i] = address[i];
    return u256_load_be(word);
}

static inline void evm_word_to_address(u256 value, uint8_t address[20])
{
    uint8_t word[32];
    u256_store_be(word, value);
    for (int i = 0; i < 20; i++) address[i] = word[12 + i];
}

/* ---- Precompiles (precompiles.c, modexp.c, blake2f.c) ---- */

/*
 * Runs the precompile at address (evm_is_precompile(address, revision) must hold) on
 * input with gas. Sets *status and *gas_left (0 unless success) and writes the output to
 * out (replacing its contents). Returns false only when out could not grow (out of memory).
 */
bool evm_precompile_run(const uint8_t address[20], enum evm_revision revision, const uint8_t *input,
                        size_t input_size, int64_t gas, enum evm_status *status, int64_t *gas_left,
                        struct evm_buffer *out);

/* EIP-2565 gas of a MODEXP input (saturates at INT64_MAX), and the operation itself. */
int64_t evm_modexp_gas(const uint8_t *input, size_t input_size);
bool evm_modexp_run(const uint8_t *input, size_t input_size, struct evm_buffer *out);

/*
 * EIP-152's BLAKE2b compression F. input must be exactly 213 bytes; returns false when the
 * final flag is not 0 or 1 (the caller checked the length). out receives 64 bytes.
 */
uint32_t evm_blake2f_rounds(const uint8_t input[213]);
bool evm_blake2f(const uint8_t input[213], uint8_t out[64]);

#endif
