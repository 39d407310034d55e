/*
 * opcodes.h - the EVM's instruction set as one X-macro (internal to subnode/evm).
 *
 * EVM_OPCODES(X) calls X once per defined opcode with:
 *
 *     X(NAME, byte, gas, stack_in, stack_out, immediate_bytes, since)
 *
 *   NAME            the mnemonic (OP_NAME in enum evm_opcode, "NAME" in the name table);
 *   byte            the opcode byte;
 *   gas             the static part of its cost from Berlin on (the warm access cost, 100,
 *                   for the instructions EIP-2929 splits into warm/cold; the rest of a
 *                   dynamic cost is charged in the instruction's body). LOGn's static
 *                   part includes 375 per topic;
 *   stack_in/out    words popped and pushed (DUPn pops n and pushes n+1, SWAPn n+1/n+1,
 *                   so the stack checks before the body are uniform);
 *   immediate_bytes bytes of PUSH data following the opcode;
 *   since           the first revision that defines it.
 *
 * The table feeds the enum below, evm_opcode_name(), and the per-revision instruction
 * tables the interpreter checks before every instruction (opcodes.c). Keeping the list in
 * one place means an opcode cannot be added to the enum and forgotten in the gas table.
 */
#ifndef COHORT_EVM_OPCODES_H
#define COHORT_EVM_OPCODES_H

#include <stdint.h>

#include "subnode/evm/evm.h"

#define EVM_OPCODES(X) \
    X(STOP,          0x00,     0,  0,  0,  0, EVM_FRONTIER) \
    X(ADD,           0x01,     3,  2,  1,  0, EVM_FRONTIER) \
    X(MUL,           0x02,     5,  2,  1,  0, EVM_FRONTIER) \
    X(SUB,           0x03,     3,  2,  1,  0, EVM_FRONTIER) \
    X(DIV,           0x04,     5,  2,  1,  0, EVM_FRONTIER) \
    X(SDIV,          0x05,     5,  2,  1,  0, EVM_FRONTIER) \
    X(MOD,           0x06,     5,  2,  1,  0, EVM_FRONTIER) \
    X(SMOD,          0x07,     5,  2,  1,  0, EVM_FRONTIER) \
    X(ADDMOD,        0x08,     8,  3,  1,  0, EVM_FRONTIER) \
    X(MULMOD,        0x09,     8,  3,  1,  0, EVM_FRONTIER) \
    X(EXP,           0x0a,    10,  2,  1,  0, EVM_FRONTIER) \
    X(SIGNEXTEND,    0x0b,     5,  2,  1,  0, EVM_FRONTIER) \
    X(LT,            0x10,     3,  2,  1,  0, EVM_FRONTIER) \
    X(GT,            0x11,     3,  2,  1,  0, EVM_FRONTIER) \
    X(SLT,           0x12,     3,  2,  1,  0, EVM_FRONTIER) \
    X(SGT,           0x13,     3,  2,  1,  0, EVM_FRONTIER) \
    X(EQ,            0x14,     3,  2,  1,  0, EVM_FRONTIER) \
    X(ISZERO,        0x15,     3,  1,  1,  0, EVM_FRONTIER) \
    X(AND,           0x16,     3,  2,  1,  0, EVM_FRONTIER) \
    X(OR,            0x17,     3,  2,  1,  0, EVM_FRONTIER) \
    X(XOR,           0x18,     3,  2,  1,  0, EVM_FRONTIER) \
    X(NOT,           0x19,     3,  1,  1,  0, EVM_FRONTIER) \
    X(BYTE,          0x1a,     3,  2,  1,  0, EVM_FRONTIER) \
    X(SHL,           0x1b,     3,  2,  1,  0, EVM_CONSTANTINOPLE) \
    X(SHR,           0x1c,     3,  2,  1,  0, EVM_CONSTANTINOPLE) \
    X(SAR,           0x1d,     3,  2,  1,  0, EVM_CONSTANTINOPLE) \
    X(KECCAK256,     0x20,    30,  2,  1,  0, EVM_FRONTIER) \
    X(ADDRESS,       0x30,     2,  0,  1,  0, EVM_FRONTIER) \
    X(BALANCE,       0x31,   100,  1,  1,  0, EVM_FRONTIER) \
    X(ORIGIN,        0x32,     2,  0,  1,  0, EVM_FRONTIER) \
    X(CALLER,        0x33,     2,  0,  1,  0, EVM_FRONTIER) \
    X(CALLVALUE,     0x34,     2,  0,  1,  0, EVM_FRONTIER) \
    X(CALLDATALOAD,  0x35,     3,  1,  1,  0, EVM_FRONTIER) \
    X(CALLDATASIZE,  0x36,     2,  0,  1,  0, EVM_FRONTIER) \
    X(CALLDATACOPY,  0x37,     3,  3,  0,  0, EVM_FRONTIER) \
    X(CODESIZE,      0x38,     2,  0,  1,  0, EVM_FRONTIER) \
    X(CODECOPY,      0x39,     3,  3,  0,  0, EVM_FRONTIER) \
    X(GASPRICE,      0x3a,     2,  0,  1,  0, EVM_FRONTIER) \
    X(EXTCODESIZE,   0x3b,   100,  1,  1,  0, EVM_FRONTIER) \
    X(EXTCODECOPY,   0x3c,   100,  4,  0,  0, EVM_FRONTIER) \
    X(RETURNDATASIZE, 0x3d,     2,  0,  1,  0, EVM_BYZANTIUM) \
    X(RETURNDATACOPY, 0x3e,     3,  3,  0,  0, EVM_BYZANTIUM) \
    X(EXTCODEHASH,   0x3f,   100,  1,  1,  0, EVM_CONSTANTINOPLE) \
    X(BLOCKHASH,     0x40,    20,  1,  1,  0, EVM_FRONTIER) \
    X(COINBASE,      0x41,     2,  0,  1,  0, EVM_FRONTIER) \
    X(TIMESTAMP,     0x42,     2,  0,  1,  0, EVM_FRONTIER) \
    X(NUMBER,        0x43,     2,  0,  1,  0, EVM_FRONTIER) \
    X(PREVRANDAO,    0x44,     2,  0,  1,  0, EVM_FRONTIER) \
    X(GASLIMIT,      0x45,     2,  0,  1,  0, EVM_FRONTIER) \
    X(CHAINID,       0x46,     2,  0,  1,  0, EVM_ISTANBUL) \
    X(SELFBALANCE,   0x47,     5,  0,  1,  0, EVM_ISTANBUL) \
    X(BASEFEE,       0x48,     2,  0,  1,  0, EVM_LONDON) \
    X(BLOBHASH,      0x49,     3,  1,  1,  0, EVM_CANCUN) \
    X(BLOBBASEFEE,   0x4a,     2,  0,  1,  0, EVM_CANCUN) \
    X(POP,           0x50,     2,  1,  0,  0, EVM_FRONTIER) \
    X(MLOAD,         0x51,     3,  1,  1,  0, EVM_FRONTIER) \
    X(MSTORE,        0x52,     3,  2,  0,  0, EVM_FRONTIER) \
    X(MSTORE8,       0x53,     3,  2,  0,  0, EVM_FRONTIER) \
    X(SLOAD,         0x54,   100,  1,  1,  0, EVM_FRONTIER) \
    X(SSTORE,        0x55,     0,  2,  0,  0, EVM_FRONTIER) \
    X(JUMP,          0x56,     8,  1,  0,  0, EVM_FRONTIER) \
    X(JUMPI,         0x57,    10,  2,  0,  0, EVM_FRONTIER) \
    X(PC,            0x58,     2,  0,  1,  0, EVM_FRONTIER) \
    X(MSIZE,         0x59,     2,  0,  1,  0, EVM_FRONTIER) \
    X(GAS,           0x5a,     2,  0,  1,  0, EVM_FRONTIER) \
    X(JUMPDEST,      0x5b,     1,  0,  0,  0, EVM_FRONTIER) \
    X(TLOAD,         0x5c,   100,  1,  1,  0, EVM_CANCUN) \
    X(TSTORE,        0x5d,   100,  2,  0,  0, EVM_CANCUN) \
    X(MCOPY,         0x5e,     3,  3,  0,  0, EVM_CANCUN) \
    X(PUSH0,         0x5f,     2,  0,  1,  0, EVM_SHANGHAI) \
    X(PUSH1,         0x60,     3,  0,  1,  1, EVM_FRONTIER) \
    X(PUSH2,         0x61,     3,  0,  1,  2, EVM_FRONTIER) \
    X(PUSH3,         0x62,     3,  0,  1,  3, EVM_FRONTIER) \
    X(PUSH4,         0x63,     3,  0,  1,  4, EVM_FRONTIER) \
    X(PUSH5,         0x64,     3,  0,  1,  5, EVM_FRONTIER) \
    X(PUSH6,         0x65,     3,  0,  1,  6, EVM_FRONTIER) \
    X(PUSH7,         0x66,     3,  0,  1,  7, EVM_FRONTIER) \
    X(PUSH8,         0x67,     3,  0,  1,  8, EVM_FRONTIER) \
    X(PUSH9,         0x68,     3,  0,  1,  9, EVM_FRONTIER) \
    X(PUSH10,        0x69,     3,  0,  1, 10, EVM_FRONTIER) \
    X(PUSH11,        0x6a,     3,  0,  1, 11, EVM_FRONTIER) \
    X(PUSH12,        0x6b,     3,  0,  1, 12, EVM_FRONTIER) \
    X(PUSH13,        0x6c,     3,  0,  1, 13, EVM_FRONTIER) \
    X(PUSH14,        0x6d,     3,  0,  1, 14, EVM_FRONTIER) \
    X(PUSH15,        0x6e,     3,  0,  1, 15, EVM_FRONTIER) \
    X(PUSH16,        0x6f,     3,  0,  1, 16, EVM_FRONTIER) \
    X(PUSH17,        0x70,     3,  0,  1, 17, EVM_FRONTIER) \
    X(PUSH18,        0x71,     3,  0,  1, 18, EVM_FRONTIER) \
    X(PUSH19,        0x72,     3,  0,  1, 19, EVM_FRONTIER) \
    X(PUSH20,        0x73,     3,  0,  1, 20, EVM_FRONTIER) \
    X(PUSH21,        0x74,     3,  0,  1, 21, EVM_FRONTIER) \
    X(PUSH22,        0x75,     3,  0,  1, 22, EVM_FRONTIER) \
    X(PUSH23,        0x76,     3,  0,  1, 23, EVM_FRONTIER) \
    X(PUSH24,        0x77,     3,  0,  1, 24, EVM_FRONTIER) \
    X(PUSH25,        0x78,     3,  0,  1, 25, EVM_FRONTIER) \
    X(PUSH26,        0x79,     3,  0,  1, 26, EVM_FRONTIER) \
    X(PUSH27,        0x7a,     3,  0,  1, 27, EVM_FRONTIER) \
    X(PUSH28,        0x7b,     3,  0,  1, 28, EVM_FRONTIER) \
    X(PUSH29,        0x7c,     3,  0,  1, 29, EVM_FRONTIER) \
    X(PUSH30,        0x7d,     3,  0,  1, 30, EVM_FRONTIER) \
    X(PUSH31,        0x7e,     3,  0,  1, 31, EVM_FRONTIER) \
    X(PUSH32,        0x7f,     3,  0,  1, 32, EVM_FRONTIER) \
    X(DUP1,          0x80,     3,  1,  2,  0, EVM_FRONTIER) \
    X(DUP2,          0x81,     3,  2,  3,  0, EVM_FRONTIER) \
    X(DUP3,          0x82,     3,  3,  4,  0, EVM_FRONTIER) \
    X(DUP4,          0x83,     3,  4,  5,  0, EVM_FRONTIER) \
    X(DUP5,          0x84,     3,  5,  6,  0, EVM_FRONTIER) \
    X(DUP6,          0x85,     3,  6,  7,  0, EVM_FRONTIER) \
    X(DUP7,          0x86,     3,  7,  8,  0, EVM_FRONTIER) \
    X(DUP8,          0x87,     3,  8,  9,  0, EVM_FRONTIER) \
    X(DUP9,          0x88,     3,  9, 10,  0, EVM_FRONTIER) \
    X(DUP10,         0x89,     3, 10, 11,  0, EVM_FRONTIER) \
    X(DUP11,         0x8a,     3, 11, 12,  0, EVM_FRONTIER) \
    X(DUP12,         0x8b,     3, 12, 13,  0, EVM_FRONTIER) \
    X(DUP13,         0x8c,     3, 13, 14,  0, EVM_FRONTIER) \
    X(DUP14,         0x8d,     3, 14, 15,  0, EVM_FRONTIER) \
    X(DUP15,         0x8e,     3, 15, 16,  0, EVM_FRONTIER) \
    X(DUP16,         0x8f,     3, 16, 17,  0, EVM_FRONTIER) \
    X(SWAP1,         0x90,     3,  2,  2,  0, EVM_FRONTIER) \
    X(SWAP2,         0x91,     3,  3,  3,  0, EVM_FRONTIER) \
    X(SWAP3,         0x92,     3,  4,  4,  0, EVM_FRONTIER) \
    X(SWAP4,         0x93,     3,  5,  5,  0, EVM_FRONTIER) \
    X(SWAP5,         0x94,     3,  6,  6,  0, EVM_FRONTIER) \
    X(SWAP6,         0x95,     3,  7,  7,  0, EVM_FRONTIER) \
    X(SWAP7,         0x96,     3,  8,  8,  0, EVM_FRONTIER) \
    X(SWAP8,         0x97,     3,  9,  9,  0, EVM_FRONTIER) \
    X(SWAP9,         0x98,     3, 10, 10,  0, EVM_FRONTIER) \
    X(SWAP10,        0x99,     3, 11, 11,  0, EVM_FRONTIER) \
    X(SWAP11,        0x9a,     3, 12, 12,  0, EVM_FRONTIER) \
    X(SWAP12,        0x9b,     3, 13, 13,  0, EVM_FRONTIER) \
    X(SWAP13,        0x9c,     3, 14, 14,  0, EVM_FRONTIER) \
    X(SWAP14,        0x9d,     3, 15, 15,  0, EVM_FRONTIER) \
    X(SWAP15,        0x9e,     3, 16, 16,  0, EVM_FRONTIER) \
    X(SWAP16,        0x9f,     3, 17, 17,  0, EVM_FRONTIER) \
    X(LOG0,          0xa0,   375,  2,  0,  0, EVM_FRONTIER) \
    X(LOG1,          0xa1,   750,  3,  0,  0, EVM_FRONTIER) \
    X(LOG2,          0xa2,  1125,  4,  0,  0, EVM_FRONTIER) \
    X(LOG3,          0xa3,  1500,  5,  0,  0, EVM_FRONTIER) \
    X(LOG4,          0xa4,  1875,  6,  0,  0, EVM_FRONTIER) \
    X(CREATE,        0xf0, 32000,  3,  1,  0, EVM_FRONTIER) \
    X(CALL,          0xf1,   100,  7,  1,  0, EVM_FRONTIER) \
    X(CALLCODE,      0xf2,   100,  7,  1,  0, EVM_FRONTIER) \
    X(RETURN,        0xf3,     0,  2,  0,  0, EVM_FRONTIER) \
    X(DELEGATECALL,  0xf4,   100,  6,  1,  0, EVM_HOMESTEAD) \
    X(CREATE2,       0xf5, 32000,  4,  1,  0, EVM_CONSTANTINOPLE) \
    X(STATICCALL,    0xfa,   100,  6,  1,  0, EVM_BYZANTIUM) \
    X(REVERT,        0xfd,     0,  2,  0,  0, EVM_BYZANTIUM) \
    X(INVALID,       0xfe,     0,  0,  0,  0, EVM_FRONTIER) \
    X(SELFDESTRUCT,  0xff,  5000,  1,  0,  0, EVM_FRONTIER)

enum evm_opcode {
#define EVM_OPCODE_ENUM(name, byte, gas, in, out, imm, since) OP_##name = byte,
    EVM_OPCODES(EVM_OPCODE_ENUM)
#undef EVM_OPCODE_ENUM
};

/*
 * What the interpreter checks before an instruction's body, for one revision. An opcode
 * the revision does not define has stack_in = EVM_OPCODE_UNDEFINED, which no stack height
 * reaches, so the one "stack too small" test also catches undefined opcodes; the slow path
 * then tells them apart.
 */
#define EVM_OPCODE_UNDEFINED 0xFFFFu
struct evm_opcode_info {
    int32_t gas;         /* static gas */
    uint16_t stack_in;   /* required stack height, or EVM_OPCODE_UNDEFINED */
    uint16_t stack_max;  /* largest stack height before the instruction that does not overflow */
};

/* The 256-entry table for revision (built once, immutable; never NULL for a valid revision). */
const struct evm_opcode_info *evm_opcode_table(enum evm_revision revision);

/* The mnemonic of an opcode byte, or NULL when no revision defines it. Static strings. */
const char *evm_opcode_name(uint8_t opcode);

/* Bytes of immediate data after the opcode (PUSHn: n; everything else 0). */
unsigned evm_opcode_immediate_size(uint8_t opcode);

#endif
