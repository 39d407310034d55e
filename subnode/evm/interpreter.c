/*
 * interpreter.c - the instruction loop of one frame.
 *
 * Shape (evmone's baseline interpreter). Each instruction starts with its own checks
 * (CHECKS: stack bounds and static gas as compile-time constants from the opcode X-macro,
 * plus, for opcodes newer than Berlin, whether the revision defines them), so a body can
 * read and write the stack without testing it. Bytes no revision defines dispatch straight
 * to the undefined-instruction exit. The code is padded (analysis.c), so the loop never
 * compares pc with the code size.
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
#include "subnode/evm/word_ops.h"

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

/*
 * The memory functions take the gas left by value and return it, charged, or one of these
 * negative outcomes. Passing the interpreter's gas by address instead would make it an
 * address-taken variable that lives in memory, and every instruction's gas check would be
 * a load and a store on one stack slot (a store-to-load dependency from each instruction
 * to the next); by value it stays in a register.
 */
#define MEMORY_OUT_OF_GAS ((int64_t)-1)
#define MEMORY_NOMEM ((int64_t)-2)

/* Grows f's memory to cover end bytes (end > size): the gas left after the expansion. */
static int64_t grow_memory(struct evm_frame *f, int64_t gas, uint64_t end)
{
    assert(end > f->memory.size);
    assert(gas >= 0);
    if (end > EVM_MEMORY_MAX) return MEMORY_OUT_OF_GAS;
    uint64_t new_words = words_of(end);
    uint64_t old_words = f->memory.size / 32;
    int64_t cost = memory_cost(new_words) - memory_cost(old_words);
    if ((gas -= cost) < 0) return MEMORY_OUT_OF_GAS;
    if (!evm_buffer_reserve(&f->memory, new_words * 32)) return MEMORY_NOMEM;
    memset(f->memory.data + f->memory.size, 0, new_words * 32 - f->memory.size);
    f->memory.size = new_words * 32;
    assert(f->memory.size % 32 == 0);
    return gas;
}

/*
 * Checks the memory region [offset, offset + size) taken from the stack and grows memory
 * over it: the gas left, or a negative outcome. A zero size touches no memory whatever the
 * offset (and yields offset 0).
 */
static inline int64_t memory_region(struct evm_frame *f, int64_t gas, u256 offset, u256 size, uint64_t *offset_out,
                                    uint64_t *size_out)
{
    if (u256_is_zero(size)) {
        *offset_out = 0;
        *size_out = 0;
        return gas;
    }
    if (!u256_fits_u64(offset) || !u256_fits_u64(size) || offset.w[0] > EVM_MEMORY_MAX || size.w[0] > EVM_MEMORY_MAX)
        return MEMORY_OUT_OF_GAS;
    *offset_out = offset.w[0];
    *size_out = size.w[0];
    uint64_t end = offset.w[0] + size.w[0];
    if (end > f->memory.size) return grow_memory(f, gas, end);
    return gas;
}

/*
 * MLOAD, MSTORE, MSTORE8: the region [offset, offset + size) for a small constant size,
 * grown like memory_region's (the same checks, without building a u256 for the size).
 */
static inline int64_t memory_fixed(struct evm_frame *f, int64_t gas, const u256 *offset, uint64_t size,
                                   uint64_t *offset_out)
{
    if (EVM_UNLIKELY(!fits_u64_at(offset) || offset->w[0] > EVM_MEMORY_MAX)) return MEMORY_OUT_OF_GAS;
    *offset_out = offset->w[0];
    uint64_t end = offset->w[0] + size;
    if (EVM_UNLIKELY(end > f->memory.size)) return grow_memory(f, gas, end);
    return gas;
}

/*
 * Big-endian words in straight-line code. u256.h's u256_load_be/u256_store_be walk the
 * limbs in a loop that GCC -O2 keeps, through a stack temporary whose 8-byte stores are
 * then read back as 16-byte loads: a store-forwarding stall on every MLOAD, MSTORE and
 * PUSH32. Four byte-swapped 8-byte moves keep the limbs in registers.
 */
static inline uint64_t load64_be(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

static inline void store64_be(uint8_t *p, uint64_t v)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    memcpy(p, &v, 8);
}

static inline u256 word_load(const uint8_t *p)
{
    return (u256){{load64_be(p + 24), load64_be(p + 16), load64_be(p + 8), load64_be(p)}};
}

static inline void word_store(uint8_t *p, u256 v)
{
    store64_be(p, v.w[3]);
    store64_be(p + 8, v.w[2]);
    store64_be(p + 16, v.w[1]);
    store64_be(p + 24, v.w[0]);
}

/*
 * PUSHn's immediate: the n (1..32) big-endian bytes at data. Called with a constant n, so
 * it folds to at most four loads. The top limb holds k = 1..8 bytes: it is read as 8 bytes
 * from data and shifted down. No read goes past data + max(n, 8), which the 33 bytes of
 * zero padding after the code (analysis.c) cover wherever the PUSH sits.
 */
static inline u256 push_value(const uint8_t *data, unsigned n)
{
    unsigned limbs = (n + 7) / 8;
    unsigned k = n - 8 * (limbs - 1);
    u256 r = u256_zero();
    r.w[limbs - 1] = load64_be(data) >> (64 - 8 * k);
    const uint8_t *rest = data + k;
    if (limbs >= 2) r.w[limbs - 2] = load64_be(rest);
    if (limbs >= 3) r.w[limbs - 3] = load64_be(rest + 8);
    if (limbs >= 4) r.w[0] = load64_be(rest + 16);
    return r;
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

/*
 * Per-opcode constants from the X-macro for the checks at the start of each instruction:
 * STACK_IN_OP_X words needed, STACK_GROWTH_OP_X words added (0 when the stack does not
 * grow), STATIC_GAS_OP_X its static gas, SINCE_OP_X the first revision that defines it.
 * Stack effects are the same in every revision, and so is the static gas from Berlin on
 * (opcodes.h: one gas column, which opcodes.c copies into every revision's table;
 * table_gas_is_static() checks that), so they are compile-time constants in each
 * instruction's own check, as evmone's baseline does with its instruction traits. Only
 * whether an opcode newer than Berlin is defined comes from the revision's table.
 */
enum {
#define EVM_OPCODE_CONSTANTS(name, byte, gas, in, out, imm, since)                                                \
    STACK_IN_OP_##name = (in), STACK_GROWTH_OP_##name = (out) > (in) ? (out) - (in) : 0, STATIC_GAS_OP_##name = (gas), \
    SINCE_OP_##name = (since),
    EVM_OPCODES(EVM_OPCODE_CONSTANTS)
#undef EVM_OPCODE_CONSTANTS
};

/* True when table charges the X-macro's static gas for every opcode it defines. */
static bool table_gas_is_static(const struct evm_opcode_info *table)
{
#define EVM_OPCODE_GAS_CHECK(name, byte, static_gas, in, out, imm, since) \
    if (table[byte].stack_in != EVM_OPCODE_UNDEFINED && table[byte].gas != (static_gas)) return false;
    EVM_OPCODES(EVM_OPCODE_GAS_CHECK)
#undef EVM_OPCODE_GAS_CHECK
    return true;
}

/* Bit r set: revision r's table passed table_gas_is_static (checked once per process). */
static unsigned gas_tables_checked;

/*
 * vmcase(OP_X) is the entry of instruction OP_X: its label, then its checks (CHECKS,
 * defined in evm_interpret). vmbreak fetches the next opcode and dispatches to it. Two
 * vmcases never share a body by falling through, since each runs its own checks: shared
 * bodies are reached with a goto after the checks.
 */
#if EVM_COMPUTED_GOTO
/* Labels as values and `goto *` are GNU C; this function is the one place that uses them. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpedantic"
/* The dispatch table lists every byte as undefined first, then the opcodes over that. */
#if defined(__clang__)
#pragma GCC diagnostic ignored "-Winitializer-overrides"
#else
#pragma GCC diagnostic ignored "-Woverride-init"
#endif
#define vmdispatch(o) goto *dispatch_table[o];
#define vmcase(l) \
    L_##l:        \
    CHECKS(l);
#define vmbreak vmdispatch(*pc)
#else
#define vmdispatch(o) switch (o)
#define vmcase(l) \
    case l:       \
        CHECKS(l);
#define vmbreak break
#endif

enum evm_frame_exit evm_interpret(struct evm_vm *vm, struct evm_frame *f)
{
    assert(vm != NULL && f != NULL);
    assert(f->code != NULL);
    assert(f->code->code.size == f->code->code_size + EVM_CODE_PADDING);
#if EVM_COMPUTED_GOTO
    static const void *const dispatch_table[256] = {
        [0 ... 255] = &&undefined,
#define EVM_OPCODE_LABEL(name, byte, gas, in, out, imm, since) [byte] = &&L_OP_##name,
        EVM_OPCODES(EVM_OPCODE_LABEL)
#undef EVM_OPCODE_LABEL
    };
#endif
    const struct evm_host *host = vm->host;
    void *hctx = host->ctx;
    const struct evm_tx_context *tx = vm->context;
    const struct evm_opcode_info *table = vm->table;
    const struct evm_code_analysis *analysis = f->code;
    const uint8_t *code = analysis->code.data;
    const uint8_t *pc = code + f->pc;
    u256 *const stack = f->stack;
    u256 *sp = stack + f->stack_size;
    int64_t gas = f->gas_left;
    const struct evm_message *msg = &f->message;
    enum evm_status status = EVM_SUCCESS;
    const char *failed_operation = "operation";
    int rc;
    assert(vm->revision >= EVM_BERLIN); /* CHECKS looks up only the opcodes added after Berlin */
    unsigned revision_bit = 1u << vm->revision;
    if (EVM_UNLIKELY((__atomic_load_n(&gas_tables_checked, __ATOMIC_RELAXED) & revision_bit) == 0)) {
        bool static_gas = table_gas_is_static(table); /* CHECKS charges the constants, not the table */
        assert(static_gas);
        (void)static_gas;
        __atomic_fetch_or(&gas_tables_checked, revision_bit, __ATOMIC_RELAXED);
    }

    /*
     * The checks instruction l passes before its body, in this order: defined in this
     * revision (only opcodes newer than Berlin can fail it), enough stack, room on the
     * stack, static gas. Bounds and gas are constants: a pointer compare each (or none)
     * and a subtraction of an immediate.
     */
#define CHECKS(l)                                                                                       \
    do {                                                                                                \
        if ((int)SINCE_##l > (int)EVM_BERLIN && EVM_UNLIKELY(table[l].stack_in == EVM_OPCODE_UNDEFINED)) \
            goto undefined;                                                                             \
        if (STACK_IN_##l > 0 && EVM_UNLIKELY(sp < stack + STACK_IN_##l)) goto stack_underflow;          \
        if (STACK_GROWTH_##l > 0 && EVM_UNLIKELY(sp > stack + (EVM_STACK_LIMIT - STACK_GROWTH_##l)))    \
            goto stack_overflow;                                                                        \
        if (STATIC_GAS_##l != 0 && EVM_UNLIKELY((gas -= STATIC_GAS_##l) < 0)) goto out_of_gas;         \
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
#define MEMORY_FIXED(offset, size, offset_out)                                               \
    do {                                                                                    \
        int64_t gas_ = memory_fixed(f, gas, (offset), (size), &(offset_out));               \
        if (EVM_UNLIKELY(gas_ < 0)) {                                                       \
            if (gas_ == MEMORY_OUT_OF_GAS) goto out_of_gas;                                 \
            goto nomem;                                                                     \
        }                                                                                   \
        gas = gas_;                                                                         \
    } while (0)
#define MEMORY(offset, size, offset_out, size_out)                                          \
    do {                                                                                    \
        int64_t gas_ = memory_region(f, gas, (offset), (size), &(offset_out), &(size_out)); \
        if (EVM_UNLIKELY(gas_ < 0)) {                                                       \
            if (gas_ == MEMORY_OUT_OF_GAS) goto out_of_gas;                                 \
            goto nomem;                                                                     \
        }                                                                                   \
        gas = gas_;                                                                         \
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
/*
 * The bitwise operations limb by limb through sp. Written as u256 values (BINARY), GCC
 * kept dead copies of both operands in stack slots: four extra loads and four stores per
 * AND in this large function.
 */
#define BITWISE(operator)                                     \
    do {                                                      \
        for (int i_ = 0; i_ < 4; i_++)                        \
            sp[-2].w[i_] = sp[-1].w[i_] operator sp[-2].w[i_]; \
        sp--;                                                 \
        pc++;                                                 \
    } while (0)
/* An operation that writes its result into sp[-2] in place, then pops one word. */
#define IN_PLACE(operation) \
    do {                    \
        operation;          \
        sp--;               \
        pc++;               \
    } while (0)
#define COMPARE(fn)                                          \
    do {                                                     \
        sp[-2] = u256_from_u64(fn(sp[-1], sp[-2]) ? 1 : 0);  \
        sp--;                                                \
        pc++;                                                \
    } while (0)

    for (;;) {
        /* The opcode is read again from *pc where a shared body needs it, so no register holds it. */
        vmdispatch(*pc)
        {
            vmcase(OP_STOP)
            {
                f->output_size = 0;
                HALT(EVM_SUCCESS);
            }
            vmcase(OP_ADD) { IN_PLACE(add_at(&sp[-2], &sp[-1], &sp[-2])); vmbreak; }
            vmcase(OP_MUL) { IN_PLACE(mul_at(&sp[-2], &sp[-1], &sp[-2])); vmbreak; }
            vmcase(OP_SUB) { IN_PLACE(sub_at(&sp[-2], &sp[-1], &sp[-2])); vmbreak; }
            vmcase(OP_DIV) { BINARY(divide); vmbreak; }
            vmcase(OP_SDIV) { IN_PLACE(sdiv_at(&sp[-2], &sp[-1], &sp[-2])); vmbreak; }
            vmcase(OP_MOD) { BINARY(modulo); vmbreak; }
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
            vmcase(OP_LT) { IN_PLACE(set_u64_at(&sp[-2], lt_at(&sp[-1], &sp[-2]))); vmbreak; }
            vmcase(OP_GT) { IN_PLACE(set_u64_at(&sp[-2], lt_at(&sp[-2], &sp[-1]))); vmbreak; }
            vmcase(OP_SLT) { IN_PLACE(set_u64_at(&sp[-2], slt_at(&sp[-1], &sp[-2]))); vmbreak; }
            vmcase(OP_SGT) { IN_PLACE(set_u64_at(&sp[-2], slt_at(&sp[-2], &sp[-1]))); vmbreak; }
            vmcase(OP_EQ) { IN_PLACE(set_u64_at(&sp[-2], eq_at(&sp[-1], &sp[-2]))); vmbreak; }
            vmcase(OP_ISZERO)
            {
                set_u64_at(&sp[-1], is_zero_at(&sp[-1]));
                pc++;
                vmbreak;
            }
            vmcase(OP_AND) { BITWISE(&); vmbreak; }
            vmcase(OP_OR) { BITWISE(|); vmbreak; }
            vmcase(OP_XOR) { BITWISE(^); vmbreak; }
            vmcase(OP_NOT)
            {
                for (int i = 0; i < 4; i++) sp[-1].w[i] = ~sp[-1].w[i];
                pc++;
                vmbreak;
            }
            vmcase(OP_BYTE) { BINARY(u256_byte); vmbreak; }
            vmcase(OP_SHL) { IN_PLACE(shl_at(&sp[-2], &sp[-1])); vmbreak; }
            vmcase(OP_SHR) { IN_PLACE(shr_at(&sp[-2], &sp[-1])); vmbreak; }
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
                *sp++ = u256_from_u64(analysis->code_size);
                pc++;
                vmbreak;
            }
            vmcase(OP_CODECOPY)
            {
                uint64_t offset, size;
                MEMORY(sp[-1], sp[-3], offset, size);
                CHARGE(GAS_COPY_WORD * words_of(size));
                if (size != 0) copy_padded(f->memory.data + offset, code, analysis->code_size, sp[-2], size);
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
                uint64_t offset;
                MEMORY_FIXED(&sp[-1], 32, offset);
                sp[-1] = word_load(f->memory.data + offset);
                pc++;
                vmbreak;
            }
            vmcase(OP_MSTORE)
            {
                uint64_t offset;
                MEMORY_FIXED(&sp[-1], 32, offset);
                word_store(f->memory.data + offset, sp[-2]);
                sp -= 2;
                pc++;
                vmbreak;
            }
            vmcase(OP_MSTORE8)
            {
                uint64_t offset;
                MEMORY_FIXED(&sp[-1], 1, offset);
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
                const u256 *dest = &sp[-1];
                if (!fits_u64_at(dest) || !evm_is_jumpdest(analysis, dest->w[0])) HALT(EVM_BAD_JUMP_DESTINATION);
                sp--;
                pc = code + dest->w[0];
                vmbreak;
            }
            vmcase(OP_JUMPI)
            {
                if (!is_zero_at(&sp[-2])) {
                    const u256 *dest = &sp[-1];
                    if (!fits_u64_at(dest) || !evm_is_jumpdest(analysis, dest->w[0]))
                        HALT(EVM_BAD_JUMP_DESTINATION);
                    pc = code + dest->w[0];
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
            /*
             * One body per PUSHn, each with its constant n, so push_value folds to a few
             * loads (one shared body with a variable n was a call into u256.c).
             */
#define PUSH_BODY(n)                          \
    {                                         \
        *sp++ = push_value(pc + 1, (n));      \
        pc += 1 + (n);                        \
        vmbreak;                              \
    }
            vmcase(OP_PUSH2) PUSH_BODY(2)   vmcase(OP_PUSH3) PUSH_BODY(3)   vmcase(OP_PUSH4) PUSH_BODY(4)
            vmcase(OP_PUSH5) PUSH_BODY(5)   vmcase(OP_PUSH6) PUSH_BODY(6)   vmcase(OP_PUSH7) PUSH_BODY(7)
            vmcase(OP_PUSH8) PUSH_BODY(8)   vmcase(OP_PUSH9) PUSH_BODY(9)   vmcase(OP_PUSH10) PUSH_BODY(10)
            vmcase(OP_PUSH11) PUSH_BODY(11) vmcase(OP_PUSH12) PUSH_BODY(12) vmcase(OP_PUSH13) PUSH_BODY(13)
            vmcase(OP_PUSH14) PUSH_BODY(14) vmcase(OP_PUSH15) PUSH_BODY(15) vmcase(OP_PUSH16) PUSH_BODY(16)
            vmcase(OP_PUSH17) PUSH_BODY(17) vmcase(OP_PUSH18) PUSH_BODY(18) vmcase(OP_PUSH19) PUSH_BODY(19)
            vmcase(OP_PUSH20) PUSH_BODY(20) vmcase(OP_PUSH21) PUSH_BODY(21) vmcase(OP_PUSH22) PUSH_BODY(22)
            vmcase(OP_PUSH23) PUSH_BODY(23) vmcase(OP_PUSH24) PUSH_BODY(24) vmcase(OP_PUSH25) PUSH_BODY(25)
            vmcase(OP_PUSH26) PUSH_BODY(26) vmcase(OP_PUSH27) PUSH_BODY(27) vmcase(OP_PUSH28) PUSH_BODY(28)
            vmcase(OP_PUSH29) PUSH_BODY(29) vmcase(OP_PUSH30) PUSH_BODY(30) vmcase(OP_PUSH31) PUSH_BODY(31)
            vmcase(OP_PUSH32) PUSH_BODY(32)
#undef PUSH_BODY
#define DUP_BODY(n)               \
    {                             \
        *sp = sp[-(n)];           \
        sp++;                     \
        pc++;                     \
        vmbreak;                  \
    }
#define SWAP_BODY(n)                           \
    {                                          \
        for (int i_ = 0; i_ < 4; i_++) {       \
            uint64_t top_ = sp[-1].w[i_];      \
            sp[-1].w[i_] = sp[-1 - (n)].w[i_]; \
            sp[-1 - (n)].w[i_] = top_;         \
        }                                      \
        pc++;                                  \
        vmbreak;                               \
    }
            vmcase(OP_DUP1) DUP_BODY(1)   vmcase(OP_DUP2) DUP_BODY(2)   vmcase(OP_DUP3) DUP_BODY(3)
            vmcase(OP_DUP4) DUP_BODY(4)   vmcase(OP_DUP5) DUP_BODY(5)   vmcase(OP_DUP6) DUP_BODY(6)
            vmcase(OP_DUP7) DUP_BODY(7)   vmcase(OP_DUP8) DUP_BODY(8)   vmcase(OP_DUP9) DUP_BODY(9)
            vmcase(OP_DUP10) DUP_BODY(10) vmcase(OP_DUP11) DUP_BODY(11) vmcase(OP_DUP12) DUP_BODY(12)
            vmcase(OP_DUP13) DUP_BODY(13) vmcase(OP_DUP14) DUP_BODY(14) vmcase(OP_DUP15) DUP_BODY(15)
            vmcase(OP_DUP16) DUP_BODY(16)
            vmcase(OP_SWAP1) SWAP_BODY(1)   vmcase(OP_SWAP2) SWAP_BODY(2)   vmcase(OP_SWAP3) SWAP_BODY(3)
            vmcase(OP_SWAP4) SWAP_BODY(4)   vmcase(OP_SWAP5) SWAP_BODY(5)   vmcase(OP_SWAP6) SWAP_BODY(6)
            vmcase(OP_SWAP7) SWAP_BODY(7)   vmcase(OP_SWAP8) SWAP_BODY(8)   vmcase(OP_SWAP9) SWAP_BODY(9)
            vmcase(OP_SWAP10) SWAP_BODY(10) vmcase(OP_SWAP11) SWAP_BODY(11) vmcase(OP_SWAP12) SWAP_BODY(12)
            vmcase(OP_SWAP13) SWAP_BODY(13) vmcase(OP_SWAP14) SWAP_BODY(14) vmcase(OP_SWAP15) SWAP_BODY(15)
            vmcase(OP_SWAP16) SWAP_BODY(16)
#undef DUP_BODY
#undef SWAP_BODY
            vmcase(OP_LOG0) goto log;
            vmcase(OP_LOG1) goto log;
            vmcase(OP_LOG2) goto log;
            vmcase(OP_LOG3) goto log;
            vmcase(OP_LOG4)
            log:
            {
                STATIC_CHECK();
                unsigned topic_count = (unsigned)(*pc - OP_LOG0);
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
            vmcase(OP_CREATE) goto create;
            vmcase(OP_CREATE2)
            create:
            {
                STATIC_CHECK();
                bool is_create2 = *pc == OP_CREATE2;
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
            vmcase(OP_CALL) goto call;
            vmcase(OP_CALLCODE) goto call;
            vmcase(OP_DELEGATECALL) goto call;
            vmcase(OP_STATICCALL)
            call:
            {
                const uint8_t op = *pc; /* which of the four */
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
            vmcase(OP_RETURN) goto return_or_revert;
            vmcase(OP_REVERT)
            return_or_revert:
            {
                const uint8_t op = *pc;
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
            /* A byte no revision defines (the computed-goto table sends those to `undefined`). */
            goto undefined;
#endif
        }
    }

undefined:
    status = EVM_UNDEFINED_INSTRUCTION;
    goto halt;
stack_underflow:
    status = EVM_STACK_UNDERFLOW;
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

#undef CHECKS
#undef HALT
#undef CHARGE
#undef MEMORY
#undef MEMORY_FIXED
#undef HOST
#undef STATIC_CHECK
#undef BINARY
#undef COMPARE
#undef BITWISE
#undef IN_PLACE
}

#if EVM_COMPUTED_GOTO
#pragma GCC diagnostic pop
#endif
