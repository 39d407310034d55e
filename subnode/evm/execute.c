/*
 * execute.c - evm_execute: runs a top-level message and all its nested messages on an
 * explicit stack of frames.
 *
 * The loop. begin_message() starts a message: it takes a journal snapshot, creates the
 * account (creations), touches the recipient, moves the value, and then either finishes at
 * once (a precompile, an account without code, empty init code) or pushes a frame. The
 * interpreter runs the top frame until it ends or asks for a child (vm->pending); a child
 * is begun the same way; an ended frame is finished (code deposit for creations, revert on
 * failure) and its outcome delivered to the frame below, which resumes. No C recursion:
 * the depth of the Ethereum call stack is the height of vm->frames, capped at 1025.
 *
 * The rules follow the execution specs' process_message, process_create_message,
 * generic_call and generic_create, including their order of effects.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "subnode/evm/evm_internal.h"

#define GAS_CODE_DEPOSIT_BYTE 200

/* The VM of this thread, created on first use (see evm_thread_release). */
static _Thread_local struct evm_vm *thread_vm;

/* What a finished message hands to its parent (or to evm_execute's caller). */
struct outcome {
    enum evm_status status;
    int64_t gas_left;
    int64_t gas_refund;
    const uint8_t *output; /* in the finished frame's memory or vm->scratch; copy at once */
    size_t output_size;
    bool is_create;
    uint8_t recipient[20];
};

enum begin_result { BEGIN_FRAME, BEGIN_DONE, BEGIN_ABORT };

const char *evm_strerror(int code)
{
    switch (code) {
    case EVM_OK: return "ok";
    case EVM_E_HOST: return "host operation failed";
    case EVM_E_NOMEM: return "out of memory";
    case EVM_E_UNSUPPORTED: return "revision not supported";
    case EVM_E_INVALID: return "malformed message";
    default: return "unknown evm error";
    }
}

const char *evm_status_name(enum evm_status status)
{
    static const char *const names[] = {
        [EVM_SUCCESS] = "success",
        [EVM_REVERT] = "revert",
        [EVM_OUT_OF_GAS] = "out of gas",
        [EVM_INVALID_INSTRUCTION] = "invalid instruction",
        [EVM_UNDEFINED_INSTRUCTION] = "undefined instruction",
        [EVM_STACK_OVERFLOW] = "stack overflow",
        [EVM_STACK_UNDERFLOW] = "stack underflow",
        [EVM_BAD_JUMP_DESTINATION] = "bad jump destination",
        [EVM_STATIC_MODE_VIOLATION] = "static mode violation",
        [EVM_INVALID_MEMORY_ACCESS] = "invalid memory access",
        [EVM_CALL_DEPTH_EXCEEDED] = "call depth exceeded",
        [EVM_INSUFFICIENT_BALANCE] = "insufficient balance",
        [EVM_CREATE_COLLISION] = "create collision",
        [EVM_CONTRACT_VALIDATION_FAILURE] = "contract validation failure",
        [EVM_NONCE_OVERFLOW] = "nonce overflow",
        [EVM_PRECOMPILE_FAILURE] = "precompile failure",
        [EVM_PRECOMPILE_NOT_IMPLEMENTED] = "precompile not implemented",
        [EVM_INITCODE_SIZE_EXCEEDED] = "init code size exceeded",
    };
    if ((unsigned)status < sizeof names / sizeof names[0] && names[status] != NULL) return names[status];
    return "unknown status";
}

const char *evm_revision_name(enum evm_revision revision)
{
    static const char *const names[EVM_REVISION_COUNT] = {
        [EVM_FRONTIER] = "Frontier",
        [EVM_HOMESTEAD] = "Homestead",
        [EVM_TANGERINE_WHISTLE] = "EIP150",
        [EVM_SPURIOUS_DRAGON] = "EIP158",
        [EVM_BYZANTIUM] = "Byzantium",
        [EVM_CONSTANTINOPLE] = "Constantinople",
        [EVM_PETERSBURG] = "ConstantinopleFix",
        [EVM_ISTANBUL] = "Istanbul",
        [EVM_BERLIN] = "Berlin",
        [EVM_LONDON] = "London",
        [EVM_PARIS] = "Paris",
        [EVM_SHANGHAI] = "Shanghai",
        [EVM_CANCUN] = "Cancun",
    };
    if ((unsigned)revision < EVM_REVISION_COUNT) return names[revision];
    return "unknown";
}

/* ---- The per-thread VM and its frames ---- */

static void free_frame(struct evm_frame *f)
{
    if (f == NULL) return;
    evm_buffer_free(&f->analysis.code);
    evm_buffer_free(&f->analysis.jumpdests);
    evm_buffer_free(&f->memory);
    evm_buffer_free(&f->return_data);
    free(f);
}

void evm_thread_release(void)
{
    struct evm_vm *vm = thread_vm;
    if (vm == NULL) return;
    for (int i = 0; i <= EVM_MAX_DEPTH; i++) free_frame(vm->frames[i]);
    evm_buffer_free(&vm->scratch);
    evm_buffer_free(&vm->output);
    free(vm);
    thread_vm = NULL;
}

/* The frame for the next message (depth vm->frame_count), allocated on first use. */
static struct evm_frame *next_frame(struct evm_vm *vm)
{
    assert(vm->frame_count >= 0 && vm->frame_count <= EVM_MAX_DEPTH);
    struct evm_frame *f = vm->frames[vm->frame_count];
    if (f == NULL) {
        f = calloc(1, sizeof *f);
        if (f == NULL) return NULL;
        vm->frames[vm->frame_count] = f;
    }
    return f;
}

/* ---- Messages ---- */

static bool transfers_value(enum evm_call_kind kind)
{
    return kind == EVM_CALL || kind == EVM_CALLCODE || kind == EVM_CREATE || kind == EVM_CREATE2;
}

static bool is_create_kind(enum evm_call_kind kind) { return kind == EVM_CREATE || kind == EVM_CREATE2; }

/*
 * Starts message m: snapshot, account creation, touch, value transfer; then runs it to the
 * end at once (precompile, no code) and fills *out (BEGIN_DONE), or pushes a frame
 * (BEGIN_FRAME). The caller checked depth, balance, nonce and collision.
 */
static enum begin_result begin_message(struct evm_vm *vm, const struct evm_message *m, struct outcome *out)
{
    assert(m->depth >= 0 && m->depth <= EVM_MAX_DEPTH);
    assert(m->gas >= 0);
    const struct evm_host *host = vm->host;
    void *hctx = host->ctx;
    bool is_create = is_create_kind(m->kind);
    size_t snapshot = host->snapshot(hctx);

    if (is_create) {
        if (host->create_account(hctx, m->recipient) < 0) return (evm_host_failed(vm, "create_account"), BEGIN_ABORT);
        if (host->set_nonce(hctx, m->recipient, 1) < 0) return (evm_host_failed(vm, "set_nonce"), BEGIN_ABORT);
    }
    if (host->touch_account(hctx, m->recipient) < 0) return (evm_host_failed(vm, "touch_account"), BEGIN_ABORT);
    if (transfers_value(m->kind) && !u256_is_zero(m->value) &&
        host->transfer(hctx, m->sender, m->recipient, m->value) < 0)
        return (evm_host_failed(vm, "transfer"), BEGIN_ABORT);

    *out = (struct outcome){.status = EVM_SUCCESS, .gas_left = m->gas, .is_create = is_create};
    memcpy(out->recipient, m->recipient, 20);

    const uint8_t *code = NULL;
    size_t code_size = 0;
    const struct evm_code_analysis *analysed = NULL; /* set when the code comes analysed */
    if (is_create) {
        code = m->input;
        code_size = m->input_size;
    } else {
        if (evm_is_precompile(m->code_address, vm->revision)) {
            if (evm_precompile_is_unimplemented(m->code_address, vm->revision)) vm->flags |= EVM_FLAG_UNIMPLEMENTED_PRECOMPILE;
            if (!evm_precompile_run(m->code_address, vm->revision, m->input, m->input_size, m->gas, &out->status,
                                    &out->gas_left, &vm->scratch))
                return (evm_out_of_memory(vm, "precompile output"), BEGIN_ABORT);
            if (out->status == EVM_SUCCESS) {
                out->output = vm->scratch.data;
                out->output_size = vm->scratch.size;
            } else {
                host->revert_to(hctx, snapshot);
                out->gas_left = 0;
            }
            return BEGIN_DONE;
        }
        if (vm->top_code != NULL && m->depth == 0) {
            /* evm_execute_analyzed: the caller analysed the top-level code once for many runs. */
            analysed = vm->top_code;
            code_size = analysed->code_size;
        } else {
            code = host->get_code(hctx, m->code_address, &code_size);
        }
    }
    if (code_size == 0) return BEGIN_DONE; /* nothing to run; a creation deploys empty code */

    struct evm_frame *f = next_frame(vm);
    if (f == NULL) return (evm_out_of_memory(vm, "a frame"), BEGIN_ABORT);
    if (analysed == NULL) {
        if (!evm_analyze(&f->analysis, code, code_size)) return (evm_out_of_memory(vm, "a frame"), BEGIN_ABORT);
        analysed = &f->analysis;
    }
    assert(analysed->code_size == code_size);
    f->code = analysed;
    f->message = *m;
    if (is_create) {
        /* Init code runs with empty calldata; the code itself is the frame's analysed copy. */
        f->message.input = NULL;
        f->message.input_size = 0;
    }
    f->stack_size = 0;
    f->pc = 0;
    f->gas_left = m->gas;
    f->gas_refund = 0;
    f->snapshot = snapshot;
    f->memory.size = 0;
    f->return_data.size = 0;
    f->status = EVM_SUCCESS;
    f->output_offset = 0;
    f->output_size = 0;
    vm->frame_count++;
    return BEGIN_FRAME;
}

/*
 * Ends the top frame, which the interpreter left with EVM_EXIT_DONE: deposits a created
 * contract's code, reverts a failed frame's changes, and fills *out. Pops the frame.
 */
static bool finish_frame(struct evm_vm *vm, struct outcome *out)
{
    assert(vm->frame_count > 0);
    struct evm_frame *f = vm->frames[vm->frame_count - 1];
    const struct evm_host *host = vm->host;
    const struct evm_message *m = &f->message;
    *out = (struct outcome){.status = f->status, .gas_left = f->gas_left, .gas_refund = f->gas_refund,
                            .is_create = is_create_kind(m->kind)};
    memcpy(out->recipient, m->recipient, 20);
    if (f->output_size != 0) {
        out->output = f->memory.data + f->output_offset;
        out->output_size = f->output_size;
    }
    if (out->is_create && out->status == EVM_SUCCESS) {
        /* The code deposit: EIP-3541 prefix, 200 gas per byte, EIP-170 size. */
        int64_t cost = GAS_CODE_DEPOSIT_BYTE * (int64_t)out->output_size;
        if (vm->revision >= EVM_LONDON && out->output_size != 0 && out->output[0] == 0xEF)
            out->status = EVM_CONTRACT_VALIDATION_FAILURE;
        else if (cost > out->gas_left)
            out->status = EVM_OUT_OF_GAS;
        else if (out->output_size > EVM_MAX_CODE_SIZE)
            out->status = EVM_CONTRACT_VALIDATION_FAILURE;
        if (out->status == EVM_SUCCESS) {
            out->gas_left -= cost;
            if (host->set_code(host->ctx, m->recipient, out->output, out->output_size) < 0) {
                evm_host_failed(vm, "set_code");
                return false;
            }
        } else {
            out->gas_left = 0;
        }
        /* A successful creation returns no data to its creator. */
        out->output = NULL;
        out->output_size = 0;
    }
    if (out->status != EVM_SUCCESS) {
        host->revert_to(host->ctx, f->snapshot);
        out->gas_refund = 0;
        if (out->status != EVM_REVERT) {
            out->gas_left = 0;
            out->output = NULL;
            out->output_size = 0;
        }
    }
    vm->frame_count--;
    return true;
}

/* The address of the RIPEMD-160 precompile, which keeps a touch even when its call fails. */
static const uint8_t ripemd160_address[20] = {[19] = 3};

/* Hands a finished child's outcome to the frame that made it, which then resumes. */
static bool resume_parent(struct evm_vm *vm, const struct outcome *child)
{
    assert(vm->frame_count > 0);
    struct evm_frame *f = vm->frames[vm->frame_count - 1];
    assert(f->stack_size < EVM_STACK_LIMIT);
    bool ok = child->status == EVM_SUCCESS;
    f->gas_left += child->gas_left;
    if (ok) f->gas_refund += child->gas_refund;
    if (child->is_create) {
        f->stack[f->stack_size++] = ok ? evm_address_to_word(child->recipient) : u256_zero();
        if (!evm_buffer_assign(&f->return_data, child->status == EVM_REVERT ? child->output : NULL,
                               child->status == EVM_REVERT ? child->output_size : 0))
            return (evm_out_of_memory(vm, "return data"), false);
    } else {
        f->stack[f->stack_size++] = u256_from_u64(ok ? 1 : 0);
        if (!evm_buffer_assign(&f->return_data, child->output, child->output_size))
            return (evm_out_of_memory(vm, "return data"), false);
        uint64_t copied = child->output_size < f->call_output_size ? child->output_size : f->call_output_size;
        if (copied != 0) memcpy(f->memory.data + f->call_output_offset, f->return_data.data, copied);
        /*
         * The execution specs keep a touch of RIPEMD-160 even when the call to it fails (a
         * mainnet accident of block 2675119, kept for consensus).
         */
        if (!ok && memcmp(child->recipient, ripemd160_address, 20) == 0) {
            const struct evm_host *host = vm->host;
            if (host->account_exists(host->ctx, ripemd160_address) &&
                host->account_is_empty(host->ctx, ripemd160_address) &&
                host->touch_account(host->ctx, ripemd160_address) < 0)
                return (evm_host_failed(vm, "touch_account"), false);
        }
    }
    return true;
}

/* Runs message and everything it calls; *out is the top-level outcome. false: aborted. */
static bool run(struct evm_vm *vm, const struct evm_message *message, struct outcome *out)
{
    enum begin_result begun = begin_message(vm, message, out);
    for (;;) {
        if (begun == BEGIN_ABORT) return false;
        if (begun == BEGIN_FRAME) {
            struct evm_frame *f = vm->frames[vm->frame_count - 1];
            enum evm_frame_exit exit = evm_interpret(vm, f);
            if (exit == EVM_EXIT_ABORT) return false;
            if (exit == EVM_EXIT_CALL) {
                begun = begin_message(vm, &vm->pending, out);
                continue;
            }
            assert(exit == EVM_EXIT_DONE);
            if (!finish_frame(vm, out)) return false;
        }
        /* *out holds a finished message: the top-level one, or a child to hand down. */
        if (vm->frame_count == 0) return true;
        if (!resume_parent(vm, out)) return false;
        begun = BEGIN_FRAME;
    }
}

/* Clears *result for an execution that did not run; returns code for the caller to pass on. */
static int fail(struct evm_result *result, int code)
{
    *result = (struct evm_result){.status = EVM_OUT_OF_GAS};
    return code;
}

/* evm_execute and evm_execute_analyzed: top_code, when not NULL, is the top-level message's code. */
static int execute(const struct evm_host *host, const struct evm_tx_context *context, enum evm_revision revision,
                   const struct evm_message *message, const struct evm_code_analysis *top_code,
                   struct evm_result *result, struct cohort_error *err)
{
    assert(host != NULL && context != NULL);
    assert(message != NULL && result != NULL);
    if ((int)revision < EVM_BERLIN || revision > EVM_REVISION_LATEST)
        return fail(result, cohort_error_set(err, EVM_E_UNSUPPORTED, "evm",
                                             "evm: revision %s is not supported (Berlin to Cancun are)",
                                             evm_revision_name(revision)));
    if (message->depth != 0 || message->gas < 0 || (unsigned)message->kind > EVM_CREATE2 ||
        (message->input == NULL && message->input_size != 0))
        return fail(result, cohort_error_set(err, EVM_E_INVALID, "evm",
                                             "evm: top-level message needs depth 0, gas >= 0, a known kind and "
                                             "its input (depth %d, gas %lld)",
                                             (int)message->depth, (long long)message->gas));

    if (thread_vm == NULL) {
        thread_vm = calloc(1, sizeof *thread_vm);
        if (thread_vm == NULL)
            return fail(result, cohort_error_set(err, EVM_E_NOMEM, "evm", "evm: out of memory for the VM"));
    }
    struct evm_vm *vm = thread_vm;
    vm->host = host;
    vm->context = context;
    vm->revision = revision;
    vm->table = evm_opcode_table(revision);
    vm->err = err;
    vm->flags = 0;
    vm->frame_count = 0;
    vm->top_code = top_code;
    vm->output.size = 0;
    *result = (struct evm_result){.status = EVM_SUCCESS, .gas_left = message->gas};

    void *hctx = host->ctx;
    bool is_create = is_create_kind(message->kind);
    if (is_create) {
        if (revision >= EVM_SHANGHAI && message->input_size > EVM_MAX_INITCODE_SIZE) {
            *result = (struct evm_result){.status = EVM_INITCODE_SIZE_EXCEEDED};
            return 0;
        }
        size_t code_size = 0;
        host->get_code(hctx, message->recipient, &code_size);
        if (host->get_nonce(hctx, message->recipient) != 0 || code_size != 0 ||
            host->account_has_storage(hctx, message->recipient)) {
            *result = (struct evm_result){.status = EVM_CREATE_COLLISION};
            return 0;
        }
    }
    if (transfers_value(message->kind) && u256_lt(host->get_balance(hctx, message->sender), message->value)) {
        result->status = EVM_INSUFFICIENT_BALANCE;
        return 0;
    }

    struct outcome out;
    bool ran = run(vm, message, &out);
    vm->top_code = NULL; /* the caller's code is not kept past this call */
    if (!ran) {
        vm->frame_count = 0;
        return fail(result, vm->abort_code);
    }
    assert(vm->frame_count == 0);
    if (!evm_buffer_assign(&vm->output, out.output, out.output_size))
        return fail(result, cohort_error_set(err, EVM_E_NOMEM, "evm", "evm: out of memory for the output"));
    result->status = out.status;
    result->gas_left = out.gas_left;
    result->gas_refund = out.status == EVM_SUCCESS ? out.gas_refund : 0;
    result->output = vm->output.size != 0 ? vm->output.data : NULL;
    result->output_size = vm->output.size;
    if (is_create && out.status == EVM_SUCCESS) memcpy(result->created_address, message->recipient, 20);
    result->flags = vm->flags;
    /* The execution specs touch a called account that exists and is empty even when the call fails. */
    if (!is_create && out.status != EVM_SUCCESS && host->account_exists(hctx, message->recipient) &&
        host->account_is_empty(hctx, message->recipient) && host->touch_account(hctx, message->recipient) < 0) {
        evm_host_failed(vm, "touch_account");
        return fail(result, EVM_E_HOST);
    }
    return 0;
}

int evm_execute(const struct evm_host *host, const struct evm_tx_context *context, enum evm_revision revision,
                const struct evm_message *message, struct evm_result *result, struct cohort_error *err)
{
    return execute(host, context, revision, message, NULL, result, err);
}

int evm_execute_analyzed(const struct evm_host *host, const struct evm_tx_context *context,
                         enum evm_revision revision, const struct evm_message *message, const struct evm_code *code,
                         struct evm_result *result, struct cohort_error *err)
{
    assert(message != NULL && result != NULL);
    if (code == NULL || message->kind == EVM_CREATE || message->kind == EVM_CREATE2)
        return fail(result, cohort_error_set(err, EVM_E_INVALID, "evm",
                                             "evm: evm_execute_analyzed needs code and a call (kind %d)",
                                             (int)message->kind));
    assert(code->analysis.code.size == code->analysis.code_size + EVM_CODE_PADDING);
    return execute(host, context, revision, message, &code->analysis, result, err);
}

int evm_code_new(const uint8_t *code, size_t code_size, struct evm_code **out, struct cohort_error *err)
{
    assert(out != NULL);
    assert(code != NULL || code_size == 0);
    *out = NULL;
    if (code_size > EVM_CODE_ANALYZE_MAX)
        return cohort_error_set(err, EVM_E_INVALID, "evm", "evm: code of %zu bytes, over the cap of %zu", code_size,
                                (size_t)EVM_CODE_ANALYZE_MAX);
    struct evm_code *c = calloc(1, sizeof *c);
    if (c == NULL || !evm_analyze(&c->analysis, code, code_size)) {
        evm_code_free(c);
        return cohort_error_set(err, EVM_E_NOMEM, "evm", "evm: out of memory analysing %zu bytes of code", code_size);
    }
    *out = c;
    return 0;
}

void evm_code_free(struct evm_code *code)
{
    if (code == NULL) return;
    evm_buffer_free(&code->analysis.code);
    evm_buffer_free(&code->analysis.jumpdests);
    free(code);
}
