/*
 * opcodes.c - the tables derived from the EVM_OPCODES X-macro: names, immediate sizes and
 * the per-revision instruction checks (static gas, stack bounds, defined or not).
 */
#include "subnode/evm/opcodes.h"

#include <assert.h>
#include <pthread.h>
#include <stddef.h>

static struct evm_opcode_info tables[EVM_REVISION_COUNT][256];
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

/* Fills every revision's table from the X-macro; runs once (pthread_once). */
static void build_tables(void)
{
    for (int rev = 0; rev < EVM_REVISION_COUNT; rev++) {
        for (int op = 0; op < 256; op++) tables[rev][op] = (struct evm_opcode_info){0, EVM_OPCODE_UNDEFINED, 0};
#define EVM_OPCODE_INFO(name, byte, gas, in, out, imm, since)                                               \
        if ((int)(since) <= rev)                                                                           \
            tables[rev][byte] = (struct evm_opcode_info){(gas), (in), (uint16_t)(EVM_STACK_LIMIT - ((out) > (in) ? (out) - (in) : 0))};
        EVM_OPCODES(EVM_OPCODE_INFO)
#undef EVM_OPCODE_INFO
    }
    /* Spot checks that the X-macro landed where the Yellow Paper puts things. */
    assert(tables[EVM_CANCUN][OP_PUSH32].stack_max == EVM_STACK_LIMIT - 1);
    assert(tables[EVM_BERLIN][OP_PUSH0].stack_in == EVM_OPCODE_UNDEFINED);
}

const struct evm_opcode_info *evm_opcode_table(enum evm_revision revision)
{
    assert((int)revision >= 0 && revision < EVM_REVISION_COUNT);
    int rc = pthread_once(&tables_once, build_tables);
    assert(rc == 0);
    (void)rc;
    return tables[revision];
}

static const char *const names[256] = {
#define EVM_OPCODE_NAME(name, byte, gas, in, out, imm, since) [byte] = #name,
    EVM_OPCODES(EVM_OPCODE_NAME)
#undef EVM_OPCODE_NAME
};

static const uint8_t immediate_sizes[256] = {
#define EVM_OPCODE_IMMEDIATE(name, byte, gas, in, out, imm, since) [byte] = (imm),
    EVM_OPCODES(EVM_OPCODE_IMMEDIATE)
#undef EVM_OPCODE_IMMEDIATE
};

_Static_assert(OP_PUSH32 == 0x7f && OP_DUP1 == 0x80 && OP_SWAP16 == 0x9f && OP_LOG4 == 0xa4,
               "the opcode X-macro keeps the Yellow Paper's numbering");

const char *evm_opcode_name(uint8_t opcode) { return names[opcode]; }

unsigned evm_opcode_immediate_size(uint8_t opcode) { return immediate_sizes[opcode]; }
