/*
 * interpreter.c - the instruction loop of one frame.
 *
 * Shape (evmone's baseline interpreter). Before every instruction, one table lookup for
 * the revision gives its static gas and stack bounds; the checks run before the body, so a
 * body can read and write the stack without testing it. Undefined opcodes carry an
 * impossible stack requirement, so they fall out of the same test. The code is padded
 * (analysis.c), so the loop never compares pc with the code size.
 *
 * Dispatch. With GCC or clang the loop uses computed goto and every instruction ends with
 * its own copy of the fetch-and-jump (one indirect branch per instruction site, which the
 * branch predictor learns per opcode); elsewhere, or with EVM_NO_COMPUTED_GOTO defined, the
 * same bodies sit in a switch. The macros are Lua's (lvm.c: vmdispatch, vmcase, vmbreak).
 *
 * State. The hot values live in locals (pc as a pointer into the padded code, sp one past
 * the top of the stack, gas as a signed count) and are written back to the frame only
 * when the frame ends or suspends for a nested message. Nested messages are not run from
 * here: CALL-family and CREATE instructions do their checks and gas accounting, describe
 * the child in vm->pending and return EVM_EXIT_CALL; execute.c runs the child and resumes
 * this frame (no C recursion).
 *
 * Gas rules follow the execution specs (ethereum/execution-specs) from Berlin on:
 * EIP-2929 cold/warm access, EIP-2200/3529 SSTORE, EIP-150's 63/64 rule, EIP-3860 init
 * code, EIP-1153 transient storage, EIP-5656 MCOPY, EIP-6780 SELFDESTRUCT.
 */
#include <assert.h>
#include <string.h>

#include "common/keccak.h"
#include "subnode/evm/evm_internal.h"

#if defined(__GNUC__) && !defined(EVM_NO_COMPUTED_GOTO)
#define EVM_COMPUTED_GOTO 1
#else
#define EVM_COMPUTED_GOTO 0
#endif

/* Gas constants (names as in the execution specs). */
#define GAS_COLD_ACCOUNT_EXTRA 2500 /* 2600 cold minus the 100 warm already in the table */
#define GAS_COLD_SLOAD_EXTRA 2000   /* 2100 cold minus the 100 warm */
#define GAS_COLD_SLOAD 2100
#define GAS_WARM_ACCESS 100
#define GAS_STORAGE_SET 20000
#define GAS_STORAGE_UPDATE 5000
#define GAS_CALL_STIPEND 2300
#define GAS_CALL_VALUE 9000
#define GAS_NEW_ACCOUNT 25000
#define GAS_SELF_DESTRUCT_NEW_ACCOUNT 25000
#define GAS_COPY_WORD 3
#define GAS_KECCAK_WORD 6
#define GAS_LOG_DATA_BYTE 8
#define GAS_EXP_BYTE 50
#define GAS_INITCODE_WORD 2
#define REFUND_SELFDESTRUCT_BERLIN 24000

static inline uint64_t words_of(uint64_t bytes) { return (bytes + 31) / 32; }

/* Memory cost of a size in words: 3 per word plus words^2 / 512 (Yellow Paper C_mem). */
static inline int64_t memory_cost(uint64_t words) { return (int64_t)(3 * words + words * words / 512); }

enum memory_outcome { MEMORY_OK = 0, MEMORY_OUT_OF_GAS = 1, MEMORY_NOMEM = 2 };

/* Grows f's memory to cover end bytes (end > size), charging the expansion. */
static enum memory_outcome grow_memory(struct evm_frame *f, int64_t *gas, uint64_t end)
{
    assert(end > f->memory.size);
    if (end > EVM_MEMORY_MAX) return MEMORY_OUT_OF_GAS;
    uint64_t new_words = words_of(end);
    uint64_t old_words = f->memory.size / 32;
    int64_t cost = memory_cost(new_words) - memory_cost(old_words);
    if ((*gas -= cost) < 0) return MEMORY_OUT_OF_GAS;
    if (!evm_buffer_reserve(&f->memory, new_words * 32)) return MEMORY_NOMEM;
    memset(f->memory.data + f->memory.size, 0, new_words * 32 - f->memory.size);
    f->memory.size = new_words * 32;
    assert(f->memory.size % 32 == 0);
    return MEMORY_OK;
}

/*
 * Checks the memory region [offset, offset + size) taken from the stack and grows memory
 * over it. A zero size touches no memory whatever the offset (and yields offset 0).
 */
static inline enum memory_outcome memory_region(struct evm_frame *f, int64_t *gas, u256 offset, u256 size,
                                                uint64_t *offset_out, uint64_t *size_out)
{
    if (u256_is_zero(size)) {
        *offset_out = 0;
        *size_out = 0;
        return MEMORY_OK;
    }
    if (!u256_fits_u64(offset) || !u256_fits_u64(size) || offset.w[0] > EVM_MEMORY_MAX || size.w[0] > EVM_MEMORY_MAX)
        return MEMORY_OUT_OF_GAS;
    *offset_out = offset.w[0];
    *size_out = size.w[0];
    uint64_t end = offset.w[0] + size.w[0];
    if (end > f->memory.size) return grow_memory(f, gas, end);
    return MEMORY_OK;
}

/*
 * Copies size bytes from source[offset..] (source_size bytes long) to dest, with zeros
 * past the end of the source: the rule of CALLDATACOPY, CODECOPY, EXTCODECOPY.
 */
static void copy_padded(uint8_t *dest, const uint8_t *source, size_t source_size, u256 offset, uint64_t size)
{
    uint64_t available = 0;
    if (u256_fits_u64(offset) && offset.w[0] < source_size) available = source_size - offset.w[0];
    uint64_t copied = available < size ? available : size;
    if (copied != 0) memcpy(dest, source + offset.w[0], copied);
    if (copied < size) memset(dest + copied, 0, size - copied);
}

enum evm_frame_exit evm_host_failed(struct evm_vm *vm, const char *operation)
{
    assert(vm != NULL && operation != NULL);
    if (vm->host->host_error != NULL) vm->host->host_error(vm->host->ctx, vm->err);
    if (vm->err != NULL && vm->err->code != 0)
        cohort_error_wrap(vm->err, "evm: host %s", operation);
    else
        cohort_error_set(vm->err, EVM_E_HOST, "evm", "evm: host %s failed", operation);
    if (vm->err != NULL) {
        vm->err->code = EVM_E_HOST;
        vm->err->domain = "evm";
    }
    vm->abort_code = EVM_E_HOST;
    return EVM_EXIT_ABORT;
}

enum evm_frame_exit evm_out_of_memory(struct evm_vm *vm, const char *what)
{
    assert(vm != NULL && what != NULL);
    cohort_error_set(vm->err, EVM_E_NOMEM, "evm", "evm: out of memory for %s", what);
    vm->abort_code = EVM_E_NOMEM;
    return EVM_EXIT_ABORT;
}

/* EIP-161: an account is alive when it exists and is not empty. */
static inline bool account_alive(const struct evm_host *host, const uint8_t address[20])
{
    return host->account_exists(host->ctx, address) && !host->account_is_empty(host->ctx, address);
}

/* The EIP-2200/2929/3529 SSTORE cost and refund change for one store. */
static int64_t sstore_cost(enum evm_revision revision, u256 original, u256 current, u256 value, bool cold,
                           int64_t *refund)
{
    int64_t clear_refund = revision >= EVM_LONDON ? 4800 : 15000;
    int64_t cost = cold ? GAS_COLD_SLOAD : 0;
    if (u256_eq(original, current) && !u256_eq(current, value))
        cost += u256_is_zero(original) ? GAS_STORAGE_SET : GAS_STORAGE_UPDATE - GAS_COLD_SLOAD;
    else
        cost += GAS_WARM_ACCESS;
    if (!u256_eq(current, value)) {
        if (!u256_is_zero(original) && !u256_is_zero(current) && u256_is_zero(value)) *refund += clear_refund;
        if (!u256_is_zero(original) && u256_is_zero(current)) *refund -= clear_refund;
        if (u256_eq(original, value))
            *refund += u256_is_zero(original) ? GAS_STORAGE_SET - GAS_WARM_ACCESS
                                              : GAS_STORAGE_UPDATE - GAS_COLD_SLOAD - GAS_WARM_ACCESS;
    }
    return cost;
}

#if EVM_COMPUTED_GOTO
/* Labels as values and `goto *` are GNU C; this function is the one place that uses them. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpedantic"
#define vmdispatch(o) goto *dispatch_table[o];
#define vmcase(l) L_##l:
#define vmbreak \
    FETCH();    \
    vmdispatch(op)
#else
#define vmdispatch(o) switch (o)
#define vmcase(l) case l:
#define vmbreak break
#endif

enum evm_frame_exit evm_interpret(struct evm_vm *vm, struct evm_frame *f)
{
    assert(vm != NULL && f != NULL);
    assert(f->analysis.code.size == f->analysis.code_size + EVM_CODE_PADDING);
#if EVM_COMPUTED_GOTO
    static const void *const dispatch_table[256] = {
#define EVM_OPCODE_LABEL(name, byte, gas, in, out, imm, since) [byte] = &&L_OP_##name,
        EVM_OPCODES(EVM_OPCODE_LABEL)
#undef EVM_OPCODE_LABEL
    };
#endif
    const struct evm_host *host = vm->host;
    void *hctx = host->ctx;
    const struct evm_tx_context *tx = vm->context;
    const struct evm_opcode_info *table = vm->table;
    const uint8_t *code = f->analysis.code.data;
    const uint8_t *pc = code + f->pc;
    u256 *const stack = f->stack;
    u256 *sp = stack + f->stack_size;
    int64_t gas = f->gas_left;
    const struct evm_message *msg = &f->message;
    enum evm_status status = EVM_SUCCESS;
    const char *failed_operation = "operation";
    uint8_t op;
    struct evm_opcode_info info;
    int rc;

    /* The checks every instruction passes before its body. */
#define FETCH()                                                                        \
    do {                                                                               \
        op = *pc;                                                                      \
        info = table[op];                                                              \
        size_t height_ = (size_t)(sp - stack);                                         \
        if (EVM_UNLIKELY(height_ < info.stack_in)) goto stack_underflow_or_undefined;  \
        if (EVM_UNLIKELY(height_ > info.stack_max)) goto stack_overflow;               \
        if (EVM_UNLIKELY((gas -= info.gas) < 0)) goto out_of_gas;                      \
    } while (0)
#define HALT(s)           \
    do {                  \
        status = (s);     \
        goto halt;        \
    } while (0)
#define CHARGE(amount)                                      \
    do {                                                    \
        if (EVM_UNLIKELY((gas -= (int64_t)(amount)) < 0))    \
            goto out_of_gas;                                \
    } while (0)
#define MEMORY(offset, size, offset_out, size_out)                                          \
    do {                                                                                    \
        enum memory_outcome mo_ = memory_region(f, &gas, (offset), (size), &(offset_out),  \
                                                &(size_out));                               \
        if (EVM_UNLIKELY(mo_ != MEMORY_OK)) {                                               \
            if (mo_ == MEMORY_OUT_OF_GAS) goto out_of_gas;                                  \
            goto nomem;                                                                     \
        }                                                                                   \
    } while (0)
#define HOST(call, name)                   \
    do {                                   \
        if (EVM_UNLIKELY((call) < 0)) {    \
            failed_operation = (name);     \
            goto host_error;               \
        }                                  \
    } while (0)
#define STATIC_CHECK()                                         \
    do {                                                       \
        if (EVM_UNLIKELY(msg->is_static))                      \
            HALT(EVM_STATIC_MODE_VIOLATION);                   \
    } while (0)
#define BINARY(fn)                       \
    do {                                 \
        sp[-2] = fn(sp[-1], sp[-2]);     \
        sp--;                            \
        pc++;                            \
    } while (0)
#define COMPARE(fn)                                          \
    do {                                                     \
        sp[-2] = u256_from_u64(fn(sp[-1], sp[-2]) ? 1 : 0);  \
        sp--;                                                \
        pc++;                                                \
    } while (0)

    for (;;) {
        FETCH();
        vmdispatch(op)
        {
            vmcase(OP_STOP)
            {
                f->output_size = 0;
                HALT(EVM_SUCCESS);
            }
            vmcase(OP_ADD) { BINARY(u256_add); vmbreak; }
            vmcase(OP_MUL) { BINARY(u256_mul); vmbreak; }
            vmcase(OP_SUB) { BINARY(u256_sub); vmbreak; }
            vmcase(OP_DIV) { BINARY(u256_div); vmbreak; }
            vmcase(OP_SDIV) { BINARY(u256_sdiv); vmbreak; }
            vmcase(OP_MOD) { BINARY(u256_mod); vmbreak; }
            vmcase(OP_SMOD) { BINARY(u256_smod); vmbreak; }
            vmcase(OP_ADDMOD)
            {
                sp[-3] = u256_addmod(sp[-1], sp[-2], sp[-3]);
                sp -= 2;
                pc++;
                vmbreak;
            }
            vmcase(OP_MULMOD)
            {
                sp[-3] = u256_mulmod(sp[-1], sp[-2], sp[-3]);
                sp -= 2;
                pc++;
                vmbreak;
            }
            vmcase(OP_EXP)
            {
                CHARGE(GAS_EXP_BYTE * (int64_t)u256_byte_length(sp[-2]));
                BINARY(u256_exp);
                vmbreak;
            }
            vmcase(OP_SIGNEXTEND) { BINARY(u256_signextend); vmbreak; }
            vmcase(OP_LT) { COMPARE(u256_lt); vmbreak; }
            vmcase(OP_GT) { COMPARE(u256_gt); vmbreak; }
            vmcase(OP_SLT) { COMPARE(u256_slt); vmbreak; }
            vmcase(OP_SGT) { COMPARE(u256_sgt); vmbreak; }
            vmcase(OP_EQ) { COMPARE(u256_eq); vmbreak; }
            vmcase(OP_ISZERO)
            {
                sp[-1] = u256_from_u64(u256_is_zero(sp[-1]) ? 1 : 0);
                pc++;
                vmbreak;
            }
            vmcase(OP_AND) { BINARY(u256_and); vmbreak; }
            vmcase(OP_OR) { BINARY(u256_or); vmbreak; }
            vmcase(OP_XOR) { BINARY(u256_xor); vmbreak; }
            vmcase(OP_NOT)
            {
                sp[-1] = u256_not(sp[-1]);
                pc++;
                vmbreak;
            }
            vmcase(OP_BYTE) { BINARY(u256_byte); vmbreak; }
            vmcase(OP_SHL) { BINARY(u256_shl); vmbreak; }
            vmcase(OP_SHR) { BINARY(u256_shr); vmbreak; }
            vmcase(OP_SAR) { BINARY(u256_sar); vmbreak; }
            vmcase(OP_KECCAK256)
            {
                uint64_t offset, size;
                MEMORY(sp[-1], sp[-2], offset, size);
                CHARGE(GAS_KECCAK_WORD * words_of(size));
                uint8_t hash[32];
                keccak256(size != 0 ? f->memory.data + offset : NULL, size, hash);
                sp[-2] = u256_load_be(hash);
                sp--;
                pc++;
                vmbreak;
            }
            vmcase(OP_ADDRESS)
            {
                *sp++ = evm_address_to_word(msg->recipient);
                pc++;
                vmbreak;
            }
            vmcase(OP_BALANCE)
            {
                uint8_t address[20];
                evm_word_to_address(sp[-1], address);
                HOST(rc = host->access_account(hctx, address), "access_account");
                if (rc > 0) CHARGE(GAS_COLD_ACCOUNT_EXTRA);
                sp[-1] = host->get_balance(hctx, address);
                pc++;
                vmbreak;
            }
            vmcase(OP_ORIGIN)
            {
                *sp++ = evm_address_to_word(tx->origin);
                pc++;
                vmbreak;
            }
            vmcase(OP_CALLER)
            {
                *sp++ = evm_address_to_word(msg->sender);
                pc++;
                vmbreak;
            }
            vmcase(OP_CALLVALUE)
            {
                *sp++ = msg->value;
                pc++;
                vmbreak;
            }
            vmcase(OP_CALLDATALOAD)
            {
                uint8_t word[32];
                copy_padded(word, msg->input, msg->input_size, sp[-1], 32);
                sp[-1] = u256_load_be(word);
                pc++;
                vmbreak;
            }
            vmcase(OP_CALLDATASIZE)
            {
                *sp++ = u256_from_u64(msg->input_size);
                pc++;
                vmbreak;
            }
            vmcase(OP_CALLDATACOPY)
            {
                uint64_t offset, size;
                MEMORY(sp[-1], sp[-3], offset, size);
                CHARGE(GAS_COPY_WORD * words_of(size));
                if (size != 0) copy_padded(f->memory.data + offset, msg->input, msg->input_size, sp[-2], size);
                sp -= 3;
                pc++;
                vmbreak;
            }
            vmcase(OP_CODESIZE)
            {
                *sp++ = u256_from_u64(f->analysis.code_size);
                pc++;
                vmbreak;
            }
            vmcase(OP_CODECOPY)
            {
                uint64_t offset, size;
                MEMORY(sp[-1], sp[-3], offset, size);
                CHARGE(GAS_COPY_WORD * words_of(size));
                if (size != 0) copy_padded(f->memory.data + offset, code, f->analysis.code_size, sp[-2], size);
                sp -= 3;
                pc++;
                vmbreak;
            }
            vmcase(OP_GASPRICE)
            {
                *sp++ = tx->gas_price;
                pc++;
                vmbreak;
            }
            vmcase(OP_EXTCODESIZE)
            {
                uint8_t address[20];
                evm_word_to_address(sp[-1], address);
                HOST(rc = host->access_account(hctx, address), "access_account");
                if (rc > 0) CHARGE(GAS_COLD_ACCOUNT_EXTRA);
                size_t size = 0;
                host->get_code(hctx, address, &size);
                sp[-1] = u256_from_u64(size);
                pc++;
                vmbreak;
            }
            vmcase(OP_EXTCODECOPY)
            {
                uint8_t address[20];
                evm_word_to_address(sp[-1], address);
                uint64_t offset, size;
                MEMORY(sp[-2], sp[-4], offset, size);
                CHARGE(GAS_COPY_WORD * words_of(size));
                HOST(rc = host->access_account(hctx, address), "access_account");
                if (rc > 0) CHARGE(GAS_COLD_ACCOUNT_EXTRA);
                if (size != 0) {
                    size_t code_size = 0;
                    const uint8_t *ext = host->get_code(hctx, address, &code_size);
                    copy_padded(f->memory.data + offset, ext, code_size, sp[-3], size);
                }
                sp -= 4;
                pc++;
                vmbreak;
            }
            vmcase(OP_RETURNDATASIZE)
            {
                *sp++ = u256_from_u64(f->return_data.size);
                pc++;
                vmbreak;
            }
            vmcase(OP_RETURNDATACOPY)
            {
                uint64_t offset, size;
                MEMORY(sp[-1], sp[-3], offset, size);
                CHARGE(GAS_COPY_WORD * words_of(size));
                u256 source = sp[-2];
                /* Reading past the return data is an exceptional halt, even for size 0. */
                if (!u256_fits_u64(source) || source.w[0] > f->return_data.size ||
                    f->return_data.size - source.w[0] < size)
                    HALT(EVM_INVALID_MEMORY_ACCESS);
                if (size != 0) memcpy(f->memory.data + offset, f->return_data.data + source.w[0], size);
                sp -= 3;
                pc++;
                vmbreak;
            }
            vmcase(OP_EXTCODEHASH)
            {
                uint8_t address[20];
                evm_word_to_address(sp[-1], address);
                HOST(rc = host->access_account(hctx, address), "access_account");
                if (rc > 0) CHARGE(GAS_COLD_ACCOUNT_EXTRA);
                uint8_t hash[32];
                host->get_code_hash(hctx, address, hash);
                sp[-1] = u256_load_be(hash);
                pc++;
                vmbreak;
            }
            vmcase(OP_BLOCKHASH)
            {
                u256 number = sp[-1];
                u256 result = u256_zero();
                if (u256_fits_u64(number) && number.w[0] < tx->number && tx->number - number.w[0] <= 256) {
                    uint8_t hash[32];
                    host->get_block_hash(hctx, number.w[0], hash);
                    result = u256_load_be(hash);
                }
                sp[-1] = result;
                pc++;
                vmbreak;
            }
            vmcase(OP_COINBASE)
            {
                *sp++ = evm_address_to_word(tx->coinbase);
                pc++;
                vmbreak;
            }
            vmcase(OP_TIMESTAMP)
            {
                *sp++ = u256_from_u64(tx->timestamp);
                pc++;
                vmbreak;
            }
            vmcase(OP_NUMBER)
            {
                *sp++ = u256_from_u64(tx->number);
                pc++;
                vmbreak;
            }
            vmcase(OP_PREVRANDAO)
            {
                *sp++ = u256_load_be(tx->prev_randao);
                pc++;
                vmbreak;
            }
            vmcase(OP_GASLIMIT)
            {
                *sp++ = u256_from_u64(tx->gas_limit);
                pc++;
                vmbreak;
            }
            vmcase(OP_CHAINID)
            {
                *sp++ = tx->chain_id;
                pc++;
                vmbreak;
            }
            vmcase(OP_SELFBALANCE)
            {
                *sp++ = host->get_balance(hctx, msg->recipient);
                pc++;
                vmbreak;
            }
            vmcase(OP_BASEFEE)
            {
                *sp++ = tx->base_fee;
                pc++;
                vmbreak;
            }
            vmcase(OP_BLOBHASH)
            {
                u256 index = sp[-1];
                if (u256_fits_u64(index) && index.w[0] < tx->blob_hash_count)
                    sp[-1] = u256_load_be(tx->blob_hashes + 32 * index.w[0]);
                else
                    sp[-1] = u256_zero();
                pc++;
                vmbreak;
            }
            vmcase(OP_BLOBBASEFEE)
            {
                *sp++ = tx->blob_base_fee;
                pc++;
                vmbreak;
            }
            vmcase(OP_POP)
            {
                sp--;
                pc++;
                vmbreak;
            }
            vmcase(OP_MLOAD)
            {
                uint64_t offset, size;
                MEMORY(sp[-1], u256_from_u64(32), offset, size);
                sp[-1] = u256_load_be(f->memory.data + offset);
                pc++;
                vmbreak;
            }
            vmcase(OP_MSTORE)
            {
                uint64_t offset, size;
                MEMORY(sp[-1], u256_from_u64(32), offset, size);
                u256_store_be(f->memory.data + offset, sp[-2]);
                sp -= 2;
                pc++;
                vmbreak;
            }
            vmcase(OP_MSTORE8)
            {
                uint64_t offset, size;
                MEMORY(sp[-1], u256_from_u64(1), offset, size);
                f->memory.data[offset] = (uint8_t)sp[-2].w[0];
                sp -= 2;
                pc++;
                vmbreak;
            }
            vmcase(OP_SLOAD)
            {
                HOST(rc = host->access_storage(hctx, msg->recipient, sp[-1]), "access_storage");
                if (rc > 0) CHARGE(GAS_COLD_SLOAD_EXTRA);
                sp[-1] = host->get_storage(hctx, msg->recipient, sp[-1]);
                pc++;
                vmbreak;
            }
            vmcase(OP_SSTORE)
            {
                /* EIP-2200's sentry: SSTORE needs more than a call stipend left. */
                if (gas <= GAS_CALL_STIPEND) goto out_of_gas;
                STATIC_CHECK();
                u256 key = sp[-1], value = sp[-2];
                HOST(rc = host->access_storage(hctx, msg->recipient, key), "access_storage");
                u256 current = host->get_storage(hctx, msg->recipient, key);
                u256 original = host->get_committed_storage(hctx, msg->recipient, key);
                int64_t refund = f->gas_refund;
                CHARGE(sstore_cost(vm->revision, original, current, value, rc > 0, &refund));
                f->gas_refund = refund;
                if (!u256_eq(current, value)) HOST(host->set_storage(hctx, msg->recipient, key, value), "set_storage");
                sp -= 2;
                pc++;
                vmbreak;
            }
            vmcase(OP_JUMP)
            {
                u256 dest = sp[-1];
                if (!u256_fits_u64(dest) || !evm_is_jumpdest(&f->analysis, dest.w[0])) HALT(EVM_BAD_JUMP_DESTINATION);
                sp--;
                pc = code + dest.w[0];
                vmbreak;
            }
            vmcase(OP_JUMPI)
            {
                if (!u256_is_zero(sp[-2])) {
                    u256 dest = sp[-1];
                    if (!u256_fits_u64(dest) || !evm_is_jumpdest(&f->analysis, dest.w[0]))
                        HALT(EVM_BAD_JUMP_DESTINATION);
                    pc = code + dest.w[0];
                } else {
                    pc++;
                }
                sp -= 2;
                vmbreak;
            }
            vmcase(OP_PC)
            {
                *sp++ = u256_from_u64((uint64_t)(pc - code));
                pc++;
                vmbreak;
            }
            vmcase(OP_MSIZE)
            {
                *sp++ = u256_from_u64(f->memory.size);
                pc++;
                vmbreak;
            }
            vmcase(OP_GAS)
            {
                *sp++ = u256_from_u64((uint64_t)gas);
                pc++;
                vmbreak;
            }
            vmcase(OP_JUMPDEST)
            {
                pc++;
                vmbreak;
            }
            vmcase(OP_TLOAD)
            {
                sp[-1] = host->get_transient(hctx, msg->recipient, sp[-1]);
                pc++;
                vmbreak;
            }
            vmcase(OP_TSTORE)
            {
                STATIC_CHECK();
                HOST(host->set_transient(hctx, msg->recipient, sp[-1], sp[-2]), "set_transient");
                sp -= 2;
                pc++;
                vmbreak;
            }
            vmcase(OP_MCOPY)
            {
                /* Memory must cover both regions: the larger end decides the expansion. */
                u256 dest = sp[-1], source = sp[-2], size_word = sp[-3];
                u256 far = u256_lt(dest, source) ? source : dest;
                uint64_t far_offset, size;
                MEMORY(far, size_word, far_offset, size);
                (void)far_offset;
                CHARGE(GAS_COPY_WORD * words_of(size));
                if (size != 0) memmove(f->memory.data + dest.w[0], f->memory.data + source.w[0], size);
                sp -= 3;
                pc++;
                vmbreak;
            }
            vmcase(OP_PUSH0)
            {
                *sp++ = u256_zero();
                pc++;
                vmbreak;
            }
            vmcase(OP_PUSH1)
            {
                *sp++ = u256_from_u64(pc[1]);
                pc += 2;
                vmbreak;
            }
            vmcase(OP_PUSH2) vmcase(OP_PUSH3) vmcase(OP_PUSH4) vmcase(OP_PUSH5) vmcase(OP_PUSH6)
            vmcase(OP_PUSH7) vmcase(OP_PUSH8)
            {
                /* Up to 8 bytes fit one limb: no call into u256.c. */
                unsigned n = (unsigned)(op - OP_PUSH1 + 1);
                uint64_t v = 0;
                for (unsigned i = 1; i <= n; i++) v = v << 8 | pc[i];
                *sp++ = u256_from_u64(v);
                pc += 1 + n;
                vmbreak;
            }
            vmcase(OP_PUSH9) vmcase(OP_PUSH10) vmcase(OP_PUSH11) vmcase(OP_PUSH12) vmcase(OP_PUSH13)
            vmcase(OP_PUSH14) vmcase(OP_PUSH15) vmcase(OP_PUSH16) vmcase(OP_PUSH17) vmcase(OP_PUSH18)
            vmcase(OP_PUSH19) vmcase(OP_PUSH20) vmcase(OP_PUSH21) vmcase(OP_PUSH22) vmcase(OP_PUSH23)
            vmcase(OP_PUSH24) vmcase(OP_PUSH25) vmcase(OP_PUSH26) vmcase(OP_PUSH27) vmcase(OP_PUSH28)
            vmcase(OP_PUSH29) vmcase(OP_PUSH30) vmcase(OP_PUSH31)
            {
                size_t n = (size_t)(op - OP_PUSH1 + 1);
                *sp++ = u256_load_be_partial(pc + 1, n);
                pc += 1 + n;
                vmbreak;
            }
            vmcase(OP_PUSH32)
            {
                *sp++ = u256_load_be(pc + 1);
                pc += 33;
                vmbreak;
            }
            vmcase(OP_DUP1) vmcase(OP_DUP2) vmcase(OP_DUP3) vmcase(OP_DUP4) vmcase(OP_DUP5) vmcase(OP_DUP6)
            vmcase(OP_DUP7) vmcase(OP_DUP8) vmcase(OP_DUP9) vmcase(OP_DUP10) vmcase(OP_DUP11) vmcase(OP_DUP12)
            vmcase(OP_DUP13) vmcase(OP_DUP14) vmcase(OP_DUP15) vmcase(OP_DUP16)
            {
                unsigned n = (unsigned)(op - OP_DUP1 + 1);
                *sp = sp[-(ptrdiff_t)n];
                sp++;
                pc++;
                vmbreak;
            }
            vmcase(OP_SWAP1) vmcase(OP_SWAP2) vmcase(OP_SWAP3) vmcase(OP_SWAP4) vmcase(OP_SWAP5)
            vmcase(OP_SWAP6) vmcase(OP_SWAP7) vmcase(OP_SWAP8) vmcase(OP_SWAP9) vmcase(OP_SWAP10)
            vmcase(OP_SWAP11) vmcase(OP_SWAP12) vmcase(OP_SWAP13) vmcase(OP_SWAP14) vmcase(OP_SWAP15)
            vmcase(OP_SWAP16)
            {
                unsigned n = (unsigned)(op - OP_SWAP1 + 1);
                u256 top = sp[-1];
                sp[-1] = sp[-1 - (ptrdiff_t)n];
                sp[-1 - (ptrdiff_t)n] = top;
                pc++;
                vmbreak;
            }
            vmcase(OP_LOG0) vmcase(OP_LOG1) vmcase(OP_LOG2) vmcase(OP_LOG3) vmcase(OP_LOG4)
            {
                STATIC_CHECK();
                unsigned topic_count = (unsigned)(op - OP_LOG0);
                uint64_t offset, size;
                MEMORY(sp[-1], sp[-2], offset, size);
                CHARGE(GAS_LOG_DATA_BYTE * size);
                uint8_t topics[EVM_MAX_LOG_TOPICS * 32];
                for (unsigned i = 0; i < topic_count; i++) u256_store_be(topics + 32 * i, sp[-3 - (ptrdiff_t)i]);
                HOST(host->emit_log(hctx, msg->recipient, topics, topic_count, size != 0 ? f->memory.data + offset : NULL,
                                    size),
                     "emit_log");
                sp -= 2 + topic_count;
                pc++;
                vmbreak;
            }
            vmcase(OP_CREATE) vmcase(OP_CREATE2)
            {
                STATIC_CHECK();
                bool is_create2 = op == OP_CREATE2;
                u256 value = sp[-1];
                uint64_t offset, size;
                MEMORY(sp[-2], sp[-3], offset, size);
                if (vm->revision >= EVM_SHANGHAI) {
                    if (size > EVM_MAX_INITCODE_SIZE) goto out_of_gas; /* EIP-3860 */
                    CHARGE(GAS_INITCODE_WORD * words_of(size));
                }
                if (is_create2) CHARGE(GAS_KECCAK_WORD * words_of(size));
                uint8_t salt[32] = {0};
                if (is_create2) u256_store_be(salt, sp[-4]);
                sp -= is_create2 ? 4 : 3;
                pc++;
                f->return_data.size = 0;

                int64_t child_gas = gas - gas / 64; /* EIP-150: all but one 64th */
                uint64_t nonce = host->get_nonce(hctx, msg->recipient);
                uint8_t address[20];
                const uint8_t *init_code = size != 0 ? f->memory.data + offset : NULL;
                if (is_create2) {
                    uint8_t code_hash[32];
                    keccak256(init_code, size, code_hash);
                    evm_create2_address(msg->recipient, salt, code_hash, address);
                } else {
                    evm_create_address(msg->recipient, nonce, address);
                }
                HOST(host->access_account(hctx, address), "access_account");
                if (msg->depth >= EVM_MAX_DEPTH || nonce == UINT64_MAX ||
                    u256_lt(host->get_balance(hctx, msg->recipient), value)) {
                    /* The create fails before it starts: the caller keeps the gas. */
                    *sp++ = u256_zero();
                    vmbreak;
                }
                gas -= child_gas;
                HOST(host->set_nonce(hctx, msg->recipient, nonce + 1), "set_nonce");
                size_t existing_code = 0;
                host->get_code(hctx, address, &existing_code);
                if (host->get_nonce(hctx, address) != 0 || existing_code != 0 || host->account_has_storage(hctx, address)) {
                    /* A collision: the gas given to the create is lost. */
                    *sp++ = u256_zero();
                    vmbreak;
                }
                struct evm_message *child = &vm->pending;
                child->kind = is_create2 ? EVM_CREATE2 : EVM_CREATE;
                child->is_static = false;
                child->depth = msg->depth + 1;
                child->gas = child_gas;
                memcpy(child->sender, msg->recipient, 20);
                memcpy(child->recipient, address, 20);
                memcpy(child->code_address, address, 20);
                child->value = value;
                child->input = init_code;
                child->input_size = size;
                memcpy(child->salt, salt, 32);
                f->call_output_offset = 0;
                f->call_output_size = 0;
                goto suspend;
            }
            vmcase(OP_CALL) vmcase(OP_CALLCODE) vmcase(OP_DELEGATECALL) vmcase(OP_STATICCALL)
            {
                bool has_value_argument = op == OP_CALL || op == OP_CALLCODE;
                u256 requested = sp[-1];
                uint8_t to[20];
                evm_word_to_address(sp[-2], to);
                u256 value = has_value_argument ? sp[-3] : u256_zero();
                u256 *args = has_value_argument ? sp - 4 : sp - 3; /* args[0] = in offset, downwards */
                uint64_t in_offset, in_size, out_offset, out_size;
                MEMORY(args[0], args[-1], in_offset, in_size);
                MEMORY(args[-2], args[-3], out_offset, out_size);
                sp = args - 3;
                pc++;

                HOST(rc = host->access_account(hctx, to), "access_account");
                int64_t extra = rc > 0 ? GAS_COLD_ACCOUNT_EXTRA : 0;
                bool has_value = !u256_is_zero(value);
                if (has_value) {
                    extra += GAS_CALL_VALUE;
                    if (op == OP_CALL && !account_alive(host, to)) extra += GAS_NEW_ACCOUNT;
                }
                CHARGE(extra);
                if (op == OP_CALL && has_value) STATIC_CHECK();
                int64_t available = gas - gas / 64; /* EIP-150 */
                int64_t child_gas = (u256_fits_u64(requested) && requested.w[0] < (uint64_t)available)
                                        ? (int64_t)requested.w[0]
                                        : available;
                gas -= child_gas;
                if (has_value) child_gas += GAS_CALL_STIPEND;
                f->return_data.size = 0;
                if (msg->depth >= EVM_MAX_DEPTH ||
                    (has_value && u256_lt(host->get_balance(hctx, msg->recipient), value))) {
                    /* The call fails before it starts: the caller gets the gas back, stipend included. */
                    gas += child_gas;
                    *sp++ = u256_zero();
                    vmbreak;
                }
                struct evm_message *child = &vm->pending;
                child->is_static = msg->is_static || op == OP_STATICCALL;
                child->depth = msg->depth + 1;
                child->gas = child_gas;
                child->input = in_size != 0 ? f->memory.data + in_offset : NULL;
                child->input_size = in_size;
                memcpy(child->code_address, to, 20);
                switch (op) {
                case OP_CALL:
                    child->kind = EVM_CALL;
                    memcpy(child->sender, msg->recipient, 20);
                    memcpy(child->recipient, to, 20);
                    child->value = value;
                    break;
                case OP_CALLCODE:
                    child->kind = EVM_CALLCODE;
                    memcpy(child->sender, msg->recipient, 20);
                    memcpy(child->recipient, msg->recipient, 20);
                    child->value = value;
                    break;
                case OP_DELEGATECALL:
                    child->kind = EVM_DELEGATECALL;
                    memcpy(child->sender, msg->sender, 20);
                    memcpy(child->recipient, msg->recipient, 20);
                    child->value = msg->value;
                    break;
                default:
                    child->kind = EVM_STATICCALL;
                    memcpy(child->sender, msg->recipient, 20);
                    memcpy(child->recipient, to, 20);
                    child->value = u256_zero();
                    break;
                }
                f->call_output_offset = out_offset;
                f->call_output_size = out_size;
                goto suspend;
            }
            vmcase(OP_RETURN) vmcase(OP_REVERT)
            {
                uint64_t offset, size;
                MEMORY(sp[-1], sp[-2], offset, size);
                f->output_offset = offset;
                f->output_size = size;
                sp -= 2;
                HALT(op == OP_RETURN ? EVM_SUCCESS : EVM_REVERT);
            }
            vmcase(OP_INVALID) { HALT(EVM_INVALID_INSTRUCTION); }
            vmcase(OP_SELFDESTRUCT)
            {
                STATIC_CHECK();
                uint8_t beneficiary[20];
                evm_word_to_address(sp[-1], beneficiary);
                sp--;
                HOST(rc = host->access_account(hctx, beneficiary), "access_account");
                int64_t extra = rc > 0 ? GAS_COLD_ACCOUNT_EXTRA + GAS_WARM_ACCESS : 0; /* cold: 2600 */
                if (!account_alive(host, beneficiary) && !u256_is_zero(host->get_balance(hctx, msg->recipient)))
                    extra += GAS_SELF_DESTRUCT_NEW_ACCOUNT;
                CHARGE(extra);
                HOST(rc = host->selfdestruct(hctx, msg->recipient, beneficiary), "selfdestruct");
                if (vm->revision < EVM_LONDON && rc == 1) f->gas_refund += REFUND_SELFDESTRUCT_BERLIN;
                HOST(host->touch_account(hctx, beneficiary), "touch_account");
                f->output_size = 0;
                HALT(EVM_SUCCESS);
            }
#if !EVM_COMPUTED_GOTO
        default:
            /* FETCH() sends every opcode the revision does not define to the slow path. */
            assert(0 && "undefined opcode reached dispatch");
            HALT(EVM_UNDEFINED_INSTRUCTION);
#endif
        }
    }

stack_underflow_or_undefined:
    status = info.stack_in == EVM_OPCODE_UNDEFINED ? EVM_UNDEFINED_INSTRUCTION : EVM_STACK_UNDERFLOW;
    goto halt;
stack_overflow:
    status = EVM_STACK_OVERFLOW;
    goto halt;
out_of_gas:
    status = EVM_OUT_OF_GAS;
    goto halt;
halt:
    f->status = status;
    if (status != EVM_SUCCESS && status != EVM_REVERT) {
        gas = 0;
        f->output_size = 0;
    }
    f->gas_left = gas;
    f->stack_size = (size_t)(sp - stack);
    f->pc = (size_t)(pc - code);
    return EVM_EXIT_DONE;
suspend:
    assert(gas >= 0);
    f->gas_left = gas;
    f->stack_size = (size_t)(sp - stack);
    f->pc = (size_t)(pc - code);
    return EVM_EXIT_CALL;
nomem:
    return evm_out_of_memory(vm, "EVM memory");
host_error:
    return evm_host_failed(vm, failed_operation);

#undef FETCH
#undef HALT
#undef CHARGE
#undef MEMORY
#undef HOST
#undef STATIC_CHECK
#undef BINARY
#undef COMPARE
}

#if EVM_COMPUTED_GOTO
#pragma GCC diagnostic pop
#endif
