/*
 * analysis.c - prepares code for the interpreter: a padded copy and the JUMPDEST bitmap.
 *
 * Padding: EVM_CODE_PADDING (33) zero bytes follow the code. A PUSHn whose data runs past
 * the end reads zeros, as the Yellow Paper defines, and the byte after any instruction is
 * a STOP (0x00), so the interpreter never tests pc against the code size.
 *
 * Bitmap: bit i is set when byte i is a JUMPDEST opcode that is an instruction, not PUSH
 * data. One linear pass, skipping each PUSH's immediate bytes.
 */
#include "subnode/evm/evm_internal.h"

#include <assert.h>
#include <string.h>

bool evm_analyze(struct evm_code_analysis *analysis, const uint8_t *code, size_t code_size)
{
    assert(analysis != NULL);
    assert(code != NULL || code_size == 0);
    size_t words = (code_size + 63) / 64 + 1;
    if (!evm_buffer_reserve(&analysis->code, code_size + EVM_CODE_PADDING) ||
        !evm_buffer_reserve(&analysis->jumpdests, words * sizeof(uint64_t)))
        return false;
    if (code_size != 0) memcpy(analysis->code.data, code, code_size);
    memset(analysis->code.data + code_size, 0, EVM_CODE_PADDING);
    analysis->code.size = code_size + EVM_CODE_PADDING;
    analysis->code_size = code_size;

    uint64_t *bits = (uint64_t *)(void *)analysis->jumpdests.data;
    memset(bits, 0, words * sizeof(uint64_t));
    analysis->jumpdests.size = words * sizeof(uint64_t);
    for (size_t i = 0; i < code_size; i++) {
        uint8_t op = code[i];
        if (op == OP_JUMPDEST)
            bits[i / 64] |= (uint64_t)1 << (i % 64);
        else if (op >= OP_PUSH1 && op <= OP_PUSH32)
            i += (size_t)(op - OP_PUSH1 + 1);
    }
    return true;
}
