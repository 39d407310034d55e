/*
 * test_evm.c - the EVM interpreter against handcrafted bytecode on an in-memory host.
 *
 * Expected numbers come from outside this code base: gas by hand from the Yellow Paper's
 * fee schedule and the EIPs' formulas (each case shows its sum), the SSTORE table of
 * EIP-3529 (warm slots), CREATE/CREATE2 addresses from EIP-1014 and widely published
 * examples, digests from the algorithms' own test vectors (FIPS 180, the RIPEMD-160 paper,
 * RFC 7693 / Python's hashlib), and the MODEXP examples of EIP-198.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hex.h"
#include "subnode/evm/evm.h"
#include "testutil.h"

/* The test host is compiled into this binary (see evm_test_host.h). */
#include "evm_test_host.c"

static struct test_host *th;
static struct evm_host iface;
static struct evm_tx_context txc;
static const uint8_t ORIGIN[20] = {[0] = 0x10, [19] = 0x01};
static const uint8_t CONTRACT[20] = {[0] = 0xc0, [19] = 0x01};
static const uint8_t OTHER[20] = {[0] = 0xc1, [19] = 0x02};
static const uint8_t THIRD[20] = {[0] = 0xc2, [19] = 0x03};

static void setup(void)
{
    th = test_host_new();
    ck_assert_ptr_nonnull(th);
    test_host_interface(th, &iface);
    memset(&txc, 0, sizeof txc);
    memcpy(txc.origin, ORIGIN, 20);
    txc.number = 1000;
    txc.timestamp = 1700000000;
    txc.gas_limit = 30000000;
    txc.chain_id = u256_from_u64(1);
    txc.gas_price = u256_from_u64(10);
    test_host_put_account(th, ORIGIN, 1, u256_from_u64(1000000000), NULL, 0);
}

static void teardown(void)
{
    test_host_free(th);
    th = NULL;
}

/* Decodes hex (no 0x) into a static buffer; returns its length. */
static size_t unhex(const char *hex, uint8_t *out, size_t cap)
{
    size_t n = strlen(hex);
    ck_assert_msg(n % 2 == 0 && n / 2 <= cap, "bad test hex %s", hex);
    for (size_t i = 0; i < n / 2; i++) {
        int hi = hex_digit_value(hex[2 * i]), lo = hex_digit_value(hex[2 * i + 1]);
        ck_assert_msg(hi >= 0 && lo >= 0, "bad test hex %s", hex);
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return n / 2;
}

static u256 word(uint64_t v) { return u256_from_u64(v); }

static u256 address_word(const uint8_t address[20])
{
    uint8_t w[32] = {0};
    memcpy(w + 12, address, 20);
    return u256_load_be(w);
}

/* Runs a CALL from ORIGIN to `to` with gas and input under Cancun; asserts evm_execute ran. */
static struct evm_result call_to(const uint8_t to[20], int64_t gas, const uint8_t *input, size_t input_size,
                                 bool is_static)
{
    test_host_begin_tx(th, ORIGIN, to, EVM_CANCUN);
    struct evm_message m = {.kind = EVM_CALL, .is_static = is_static, .depth = 0, .gas = gas,
                            .input = input, .input_size = input_size};
    memcpy(m.sender, ORIGIN, 20);
    memcpy(m.recipient, to, 20);
    memcpy(m.code_address, to, 20);
    struct evm_result r;
    struct cohort_error err = {0};
    int rc = evm_execute(&iface, &txc, EVM_CANCUN, &m, &r, &err);
    ck_assert_msg(rc == 0, "evm_execute: %s", err.message);
    return r;
}

/* Deploys code at CONTRACT and calls it. */
static struct evm_result run_hex(const char *code_hex, int64_t gas)
{
    uint8_t code[4096];
    size_t n = unhex(code_hex, code, sizeof code);
    test_host_put_account(th, CONTRACT, 1, u256_zero(), code, n);
    return call_to(CONTRACT, gas, NULL, 0, false);
}

static u256 output_word(const struct evm_result *r)
{
    ck_assert_uint_eq(r->output_size, 32);
    return u256_load_be(r->output);
}

/* ---- Arithmetic and basic gas ---- */

START_TEST(test_arithmetic_and_gas)
{
    /* PUSH1 3 PUSH1 4 ADD PUSH1 5 MUL PUSH1 0 MSTORE PUSH1 32 PUSH1 0 RETURN
     * gas: 3+3+3(ADD)+3+5(MUL)+3+3(MSTORE)+3(memory: 1 word)+3+3+0 = 32 */
    struct evm_result r = run_hex("600360040160050260005260206000f3", 100000);
    ck_assert_int_eq(r.status, EVM_SUCCESS);
    ck_assert(u256_eq(output_word(&r), word(35)));
    ck_assert_int_eq(100000 - r.gas_left, 32);
}
END_TEST

START_TEST(test_execute_analyzed_matches_execute)
{
    /* The benchmark's entry point (code analysed once, then run) gives the same result and
       gas as evm_execute, run after run; and it refuses a creation. */
    static const char *code_hex = "600360040160050260005260206000f3";
    uint8_t code[64];
    size_t n = unhex(code_hex, code, sizeof code);
    struct evm_result plain = run_hex(code_hex, 100000);
    struct evm_code *analyzed = NULL;
    struct cohort_error err = {0};
    ck_assert_int_eq(evm_code_new(code, n, &analyzed, &err), 0);
    for (int i = 0; i < 3; i++) {
        test_host_begin_tx(th, ORIGIN, CONTRACT, EVM_CANCUN);
        struct evm_message m = {.kind = EVM_CALL, .gas = 100000};
        memcpy(m.sender, ORIGIN, 20);
        memcpy(m.recipient, CONTRACT, 20);
        memcpy(m.code_address, CONTRACT, 20);
        struct evm_result r;
        ck_assert_msg(evm_execute_analyzed(&iface, &txc, EVM_CANCUN, &m, analyzed, &r, &err) == 0, "%s", err.message);
        ck_assert_int_eq(r.status, plain.status);
        ck_assert_int_eq(r.gas_left, plain.gas_left);
        ck_assert(u256_eq(output_word(&r), word(35)));
    }
    struct evm_message create = {.kind = EVM_CREATE, .gas = 100000};
    struct evm_result r;
    ck_assert_int_ne(evm_execute_analyzed(&iface, &txc, EVM_CANCUN, &create, analyzed, &r, &err), 0);
    evm_code_free(analyzed);
}
END_TEST

START_TEST(test_signed_and_exp)
{
    /* SDIV(-8, 3) = -2: PUSH1 3 PUSH1 8 PUSH1 0 SUB SDIV, store and return. */
    struct evm_result r = run_hex("60036008600003056000526020" "6000f3", 100000);
    ck_assert_int_eq(r.status, EVM_SUCCESS);
    ck_assert(u256_eq(output_word(&r), u256_negate(word(2))));
    /* EXP(2, 256) = 0 mod 2^256; gas of EXP = 10 + 50 * 2 exponent bytes = 110.
     * PUSH2 0x0100 PUSH1 2 EXP PUSH1 0 MSTORE PUSH1 32 PUSH1 0 RETURN:
     * 3+3+110+3+3+3+3+3 = 131 */
    r = run_hex("61010060020a60005260206000f3", 100000);
    ck_assert_int_eq(r.status, EVM_SUCCESS);
    ck_assert(u256_is_zero(output_word(&r)));
    ck_assert_int_eq(100000 - r.gas_left, 131);
}
END_TEST

START_TEST(test_stack_errors)
{
    /* ADD on an empty stack. */
    struct evm_result r = run_hex("01", 100000);
    ck_assert_int_eq(r.status, EVM_STACK_UNDERFLOW);
    ck_assert_int_eq(r.gas_left, 0);
    /* JUMPDEST PUSH0 PUSH1 0 JUMP: one more word per loop until the 1025th push overflows. */
    r = run_hex("5b5f600056", 10000000);
    ck_assert_int_eq(r.status, EVM_STACK_OVERFLOW);
    /* 0x0c is not an opcode; 0xfe is the designated INVALID. */
    r = run_hex("0c", 1000);
    ck_assert_int_eq(r.status, EVM_UNDEFINED_INSTRUCTION);
    r = run_hex("fe", 1000);
    ck_assert_int_eq(r.status, EVM_INVALID_INSTRUCTION);
    ck_assert_int_eq(r.gas_left, 0);
    /* Out of gas: PUSH1 PUSH1 ADD needs 9. */
    r = run_hex("6001600101", 8);
    ck_assert_int_eq(r.status, EVM_OUT_OF_GAS);
}
END_TEST

/* ---- Jumps ---- */

START_TEST(test_jumps)
{
    /* PUSH1 4 JUMP INVALID JUMPDEST PUSH1 1 ... return 1: a valid jump over INVALID. */
    struct evm_result r = run_hex("600456fe5b600160005260206000f3", 100000);
    ck_assert_int_eq(r.status, EVM_SUCCESS);
    ck_assert(u256_eq(output_word(&r), word(1)));
    /* Jump to offset 3, a 0x5b that is PUSH1's data: PUSH1 3 JUMP PUSH1 0x5b */
    r = run_hex("600456605b", 100000);
    ck_assert_int_eq(r.status, EVM_BAD_JUMP_DESTINATION);
    /* Jump past the code. */
    r = run_hex("60ff56", 100000);
    ck_assert_int_eq(r.status, EVM_BAD_JUMP_DESTINATION);
    /* JUMPI not taken with a bad destination is fine: PUSH1 0 PUSH1 0xff JUMPI STOP */
    r = run_hex("600060ff5700", 100000);
    ck_assert_int_eq(r.status, EVM_SUCCESS);
    /* PUSH32 cut by the end of the code reads zeros and stops: gas 3. */
    r = run_hex("7f0102", 100000);
    ck_assert_int_eq(r.status, EVM_SUCCESS);
    ck_assert_int_eq(100000 - r.gas_left, 3);
}
END_TEST

/* ---- Memory ---- */

START_TEST(test_memory_expansion_gas)
{
    /* MSTORE8 at 65536: memory grows to 2049 words; C_mem = 3*2049 + 2049^2/512 = 6147 + 8200.
     * PUSH1 0 PUSH3 0x010000 MSTORE8 MSIZE PUSH1 0 MSTORE ... the MSTORE at 0 costs no more.
     * gas: 3 + 3 + 3 + 14347 + 2(MSIZE) + 3 + 3 + 3 + 3 + 0 = 14370 */
    struct evm_result r = run_hex("600062010000535960005260206000f3", 1000000);
    ck_assert_int_eq(r.status, EVM_SUCCESS);
    ck_assert(u256_eq(output_word(&r), word(65568)));
    ck_assert_int_eq(1000000 - r.gas_left, 14370);
    /* An offset of 2^64 can never be paid for. */
    r = run_hex("600068010000000000000000" "52", 1000000);
    ck_assert_int_eq(r.status, EVM_OUT_OF_GAS);
    /* Size 0 at a huge offset touches no memory: KECCAK256(2^200, 0) (PUSH26) = keccak("") */
    r = run_hex("6000" "790100000000000000000000000000000000000000000000000000" "20" "60005260206000f3", 1000000);
    ck_assert_int_eq(r.status, EVM_SUCCESS);
    uint8_t empty_hash[32];
    unhex("c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470", empty_hash, 32);
    ck_assert_mem_eq(r.output, empty_hash, 32);
}
END_TEST

START_TEST(test_mcopy)
{
    /* EIP-5656 example: memory 0..31 = 0x00..1f pattern; MCOPY(dst 0, src 1, 8) shifts left.
     * Simpler: MSTORE(0, 0x0102...), MCOPY(32, 0, 32), return 32..64. Gas: MCOPY 3 + 3 copy + 3 memory. */
    struct evm_result r = run_hex("7f0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20"
                                  "600052" "6020600060205e" "60206020f3",
                                  100000);
    ck_assert_int_eq(r.status, EVM_SUCCESS);
    uint8_t expected[32];
    unhex("0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20", expected, 32);
    ck_assert_mem_eq(r.output, expected, 32);
    /* PUSH32 3, PUSH1 0, MSTORE 6 (3 + 3 memory), PUSH1 x3 9, MCOPY 3 + 3 + 3, PUSH1 x2 6, RETURN 0 */
    ck_assert_int_eq(100000 - r.gas_left, 3 + 3 + 6 + 9 + 9 + 6);
}
END_TEST

/* ---- SSTORE: EIP-3529's table (warm slot; used gas excludes the transaction's 21000) ---- */

struct sstore_case {
    const char *code;
    uint64_t original;
    int64_t used;
    int64_t refund;
};

static const struct sstore_case sstore_cases[] = {
    {"60006000556000600055", 0, 212, 0},
    {"60006000556001600055", 0, 20112, 0},
    {"60016000556000600055", 0, 20112, 19900},
    {"60016000556002600055", 0, 20112, 0},
    {"60016000556001600055", 0, 20112, 0},
    {"60006000556000600055", 1, 3012, 4800},
    {"60006000556001600055", 1, 3012, 2800},
    {"60006000556002600055", 1, 3012, 0},
    {"60026000556000600055", 1, 3012, 4800},
    {"60026000556003600055", 1, 3012, 0},
    {"60026000556001600055", 1, 3012, 2800},
    {"60026000556002600055", 1, 3012, 0},
    {"60016000556000600055", 1, 3012, 4800},
    {"60016000556002600055", 1, 3012, 0},
    {"60016000556001600055", 1, 212, 0},
    {"600160005560006000556001600055", 0, 40118, 19900},
    {"600060005560016000556000600055", 1, 5918, 7600},
};

START_TEST(test_sstore_eip3529)
{
    const struct sstore_case *c = &sstore_cases[_i];
    uint8_t code[64];
    size_t n = unhex(c->code, code, sizeof code);
    test_host_put_account(th, CONTRACT, 1, u256_zero(), code, n);
    test_host_put_storage(th, CONTRACT, u256_zero(), word(c->original));
    test_host_begin_tx(th, ORIGIN, CONTRACT, EVM_CANCUN);
    /* Warm the slot as an access list would. */
    ck_assert_int_eq(iface.access_storage(th, CONTRACT, u256_zero()), 1);
    struct evm_message m = {.kind = EVM_CALL, .gas = 100000};
    memcpy(m.sender, ORIGIN, 20);
    memcpy(m.recipient, CONTRACT, 20);
    memcpy(m.code_address, CONTRACT, 20);
    struct evm_result r;
    ck_assert_int_eq(evm_execute(&iface, &txc, EVM_CANCUN, &m, &r, NULL), 0);
    ck_assert_int_eq(r.status, EVM_SUCCESS);
    ck_assert_int_eq(100000 - r.gas_left, c->used);
    ck_assert_int_eq(r.gas_refund, c->refund);
}
END_TEST

START_TEST(test_sstore_cold_and_sentry)
{
    /* Cold slot: PUSH1 1 PUSH1 0 SSTORE = 3 + 3 + 2100 + 20000 */
    struct evm_result r = run_hex("6001600055", 100000);
    ck_assert_int_eq(r.status, EVM_SUCCESS);
    ck_assert_int_eq(100000 - r.gas_left, 22106);
    ck_assert(u256_eq(test_host_storage(th, CONTRACT, u256_zero()), word(1)));
    /* EIP-2200 sentry: with 2300 gas left at SSTORE it fails even for a no-op store. */
    r = run_hex("6001600055", 2306);
    ck_assert_int_eq(r.status, EVM_OUT_OF_GAS);
}
END_TEST

/* ---- Nested calls, creates, reverts ---- */

START_TEST(test_call_revert_effects)
{
    /* OTHER: SSTORE(0, 0x2a), then REVERT with 32 bytes of memory holding 7. */
    uint8_t other[64];
    size_t n = unhex("602a600055" "6007600052" "60206000fd", other, sizeof other);
    test_host_put_account(th, OTHER, 1, u256_zero(), other, n);
    /* CONTRACT: CALL(gas, OTHER, 0, 0, 0, 0, 32) -> result; store the result+1 at slot 1,
     * RETURNDATASIZE at slot 2, memory word 0 (the revert data copied back) at slot 3. */
    char code_hex[512];
    snprintf(code_hex, sizeof code_hex,
             "6020600060006000600073%s5af1" /* CALL with out size 32 at 0 */
             "600101600155" "3d600255" "600051600355" "00",
             "c100000000000000000000000000000000000002");
    struct evm_result r = run_hex(code_hex, 1000000);
    ck_assert_int_eq(r.status, EVM_SUCCESS);
    ck_assert(u256_is_zero(test_host_storage(th, OTHER, u256_zero())));        /* reverted */
    ck_assert(u256_eq(test_host_storage(th, CONTRACT, word(1)), word(1)));    /* call returned 0 */
    ck_assert(u256_eq(test_host_storage(th, CONTRACT, word(2)), word(32)));   /* revert data size */
    ck_assert(u256_eq(test_host_storage(th, CONTRACT, word(3)), word(7)));    /* revert data copied */
}
END_TEST

START_TEST(test_create_and_call_created)
{
    /* Init code: returns runtime code 0x602a60005260206000f3 (returns 42), 10 bytes:
     * PUSH10 <runtime> PUSH1 0 MSTORE PUSH1 10 PUSH1 22 RETURN */
    const char *init = "69602a60005260206000f3" "600052" "600a6016f3";
    uint8_t init_bytes[64];
    size_t init_len = unhex(init, init_bytes, sizeof init_bytes);
    /* CONTRACT: CALLDATACOPY(0, 0, size) the init code, CREATE(0, 0, size), store address at 0. */
    char code_hex[256];
    /* CREATE pops value, offset, size: push size (CALLDATASIZE), offset 0, value 0. */
    snprintf(code_hex, sizeof code_hex, "366000600037" "36" "6000" "6000" "f0" "600055" "00");
    uint8_t code[128];
    size_t n = unhex(code_hex, code, sizeof code);
    test_host_put_account(th, CONTRACT, 1, u256_zero(), code, n);
    struct evm_result r = call_to(CONTRACT, 1000000, init_bytes, init_len, false);
    ck_assert_int_eq(r.status, EVM_SUCCESS);
    uint8_t expected[20];
    evm_create_address(CONTRACT, 1, expected);
    u256 stored = test_host_storage(th, CONTRACT, u256_zero());
    ck_assert(u256_eq(stored, address_word(expected)));
    ck_assert_uint_eq(test_host_nonce(th, CONTRACT), 2);
    ck_assert_uint_eq(test_host_nonce(th, expected), 1);
    size_t deployed_size = 0;
    const uint8_t *deployed = test_host_code(th, expected, &deployed_size);
    ck_assert_uint_eq(deployed_size, 10);
    ck_assert_mem_eq(deployed, init_bytes + 1, 10);
    /* The created contract answers 42. */
    r = call_to(expected, 100000, NULL, 0, false);
    ck_assert_int_eq(r.status, EVM_SUCCESS);
    ck_assert(u256_eq(output_word(&r), word(42)));
}
END_TEST

START_TEST(test_create_addresses)
{
    /* The classic example: sender 0x6ac7ea33f8831ea9dcc53393aaa88b25a785dbf0. */
    uint8_t sender[20], out[20], expected[20];
    unhex("6ac7ea33f8831ea9dcc53393aaa88b25a785dbf0", sender, 20);
    evm_create_address(sender, 0, out);
    unhex("cd234a471b72ba2f1ccf0a70fcaba648a5eecd8d", expected, 20);
    ck_assert_mem_eq(out, expected, 20);
    evm_create_address(sender, 1, out);
    unhex("343c43a37d37dff08ae8c4a11544c718abb4fcf8", expected, 20);
    ck_assert_mem_eq(out, expected, 20);
    /* EIP-1014 example 1 and 2: salt 0, init code 0x00. */
    uint8_t salt[32] = {0}, code_hash[32], zero_byte = 0;
    keccak256(&zero_byte, 1, code_hash);
    memset(sender, 0, 20);
    evm_create2_address(sender, salt, code_hash, out);
    unhex("4d1a2e2bb4f88f0250f26ffff098b0b30b26bf38", expected, 20);
    ck_assert_mem_eq(out, expected, 20);
    unhex("deadbeef00000000000000000000000000000000", sender, 20);
    evm_create2_address(sender, salt, code_hash, out);
    unhex("b928f69bb1d91cd65274e3c79d8986362984fda3", expected, 20);
    ck_assert_mem_eq(out, expected, 20);
}
END_TEST

START_TEST(test_depth_limit)
{
    /* Each frame increments slot 0, then calls itself with all gas: 1025 frames run
     * (depths 0..1024); the call made at depth 1024 fails without running. */
    struct evm_result r = run_hex("600054600101600055" "6000600060006000600030" "5a" "f1" "00", INT64_C(1) << 40);
    ck_assert_int_eq(r.status, EVM_SUCCESS);
    ck_assert(u256_eq(test_host_storage(th, CONTRACT, u256_zero()), word(1025)));
}
END_TEST

START_TEST(test_static_violation)
{
    /* Top-level static call doing LOG0: a violation. */
    uint8_t code[16];
    size_t n = unhex("60006000a0", code, sizeof code);
    test_host_put_account(th, CONTRACT, 1, u256_zero(), code, n);
    struct evm_result r = call_to(CONTRACT, 100000, NULL, 0, true);
    ck_assert_int_eq(r.status, EVM_STATIC_MODE_VIOLATION);
    ck_assert_int_eq(r.gas_left, 0);
    /* Nested: CONTRACT STATICCALLs OTHER, which SSTOREs; result + 1 stored at slot 1. */
    n = unhex("6001600055", code, sizeof code);
    test_host_put_account(th, OTHER, 1, u256_zero(), code, n);
    char code_hex[256];
    /* STATICCALL with 100000 gas, so the failed child leaves enough for the SSTORE after it. */
    snprintf(code_hex, sizeof code_hex, "600060006000600073%s620186a0fa" "600101600155" "00",
             "c100000000000000000000000000000000000002");
    r = run_hex(code_hex, 1000000);
    ck_assert_int_eq(r.status, EVM_SUCCESS);
    ck_assert(u256_eq(test_host_storage(th, CONTRACT, word(1)), word(1)));
    ck_assert(u256_is_zero(test_host_storage(th, OTHER, u256_zero())));
}
END_TEST

START_TEST(test_value_transfer_and_selfdestruct)
{
    /* CONTRACT has 1000 wei and sends 100 to THIRD (a new account): 9000 + 25000 + cold 2600. */
    uint8_t code[128];
    char code_hex[256];
    snprintf(code_hex, sizeof code_hex, "6000600060006000606473%s6000f1" "00", "c200000000000000000000000000000000000003");
    size_t n = unhex(code_hex, code, sizeof code);
    test_host_put_account(th, CONTRACT, 1, u256_from_u64(1000), code, n);
    struct evm_result r = call_to(CONTRACT, 100000, NULL, 0, false);
    ck_assert_int_eq(r.status, EVM_SUCCESS);
    ck_assert(u256_eq(test_host_balance(th, THIRD), word(100)));
    ck_assert(u256_eq(test_host_balance(th, CONTRACT), word(900)));
    /* gas: 7 pushes 21 + CALL 100 + 2500 cold + 9000 + 25000; the child gets 0 requested + the
     * 2300 stipend, which comes back unused (the stipend is not charged to the caller). */
    ck_assert_int_eq(100000 - r.gas_left, 21 + 100 + 2500 + 9000 + 25000 - 2300);

    /* A contract not created in this transaction self-destructs: balance moves, code stays (EIP-6780). */
    snprintf(code_hex, sizeof code_hex, "73%sff", "c200000000000000000000000000000000000003");
    n = unhex(code_hex, code, sizeof code);
    test_host_put_account(th, OTHER, 1, u256_from_u64(50), code, n);
    r = call_to(OTHER, 100000, NULL, 0, false);
    ck_assert_int_eq(r.status, EVM_SUCCESS);
    ck_assert(u256_eq(test_host_balance(th, THIRD), word(150)));
    ck_assert(!test_host_destructed(th, OTHER));
    /* 3 + 5000 + 2600 cold (THIRD exists and is not empty: no 25000) */
    ck_assert_int_eq(100000 - r.gas_left, 3 + 5000 + 2600);
}
END_TEST

START_TEST(test_insufficient_balance_keeps_gas)
{
    /* CONTRACT (balance 0) calls THIRD with value 1: the call fails, the caller keeps the gas
     * given to it, and pays 100 + 2500 + 9000 + 25000 plus the pushes. Result stored at slot 0 + 1. */
    char code_hex[256];
    snprintf(code_hex, sizeof code_hex, "6000600060006000600173%s61fffff1" "600101600055" "00",
             "c200000000000000000000000000000000000003");
    struct evm_result r = run_hex(code_hex, 200000);
    ck_assert_int_eq(r.status, EVM_SUCCESS);
    ck_assert(u256_eq(test_host_storage(th, CONTRACT, u256_zero()), word(1)));
    /* The execution specs give back sub_call gas, which includes the 2300 stipend. */
    ck_assert_int_eq(200000 - r.gas_left, 21 + 100 + 2500 + 9000 + 25000 - 2300 + 3 + 3 + 3 + 2100 + 20000);
}
END_TEST

START_TEST(test_transient_and_logs)
{
    /* TSTORE(1, 5) TLOAD(1) -> LOG1 with topic = loaded value and 0 bytes of data. */
    struct evm_result r = run_hex("600560015d" "60015c" "60006000a1" "00", 100000);
    ck_assert_int_eq(r.status, EVM_SUCCESS);
    ck_assert_uint_eq(test_host_log_count(th), 1);
    const struct test_log *log = test_host_log(th, 0);
    ck_assert_uint_eq(log->topic_count, 1);
    ck_assert(u256_eq(u256_load_be(log->topics[0]), word(5)));
    /* 3+3+100 + 3+100 + 3+3+375+375 */
    ck_assert_int_eq(100000 - r.gas_left, 3 + 3 + 100 + 3 + 100 + 3 + 3 + 750);
}
END_TEST

/* ---- Precompiles ---- */

static struct evm_result call_precompile(uint8_t number, const uint8_t *input, size_t input_size, int64_t gas)
{
    uint8_t address[20] = {0};
    address[19] = number;
    return call_to(address, gas, input, input_size, false);
}

START_TEST(test_precompile_hashes)
{
    const uint8_t abc[3] = {'a', 'b', 'c'};
    uint8_t expected[32];
    struct evm_result r = call_precompile(2, abc, 3, 1000);
    ck_assert_int_eq(r.status, EVM_SUCCESS);
    ck_assert_int_eq(1000 - r.gas_left, 72);
    unhex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", expected, 32);
    ck_assert_uint_eq(r.output_size, 32);
    ck_assert_mem_eq(r.output, expected, 32);

    r = call_precompile(3, abc, 3, 1000);
    ck_assert_int_eq(r.status, EVM_SUCCESS);
    ck_assert_int_eq(1000 - r.gas_left, 720);
    unhex("0000000000000000000000008eb208f7e05d987a9b044a8e98c6b087f15a0bfc", expected, 32);
    ck_assert_mem_eq(r.output, expected, 32);

    r = call_precompile(4, abc, 3, 1000);
    ck_assert_int_eq(r.status, EVM_SUCCESS);
    ck_assert_int_eq(1000 - r.gas_left, 18);
    ck_assert_uint_eq(r.output_size, 3);
    ck_assert_mem_eq(r.output, abc, 3);

    /* Too little gas: all of it is consumed. */
    r = call_precompile(2, abc, 3, 71);
    ck_assert_int_eq(r.status, EVM_OUT_OF_GAS);
    ck_assert_int_eq(r.gas_left, 0);
}
END_TEST

/* BLAKE2b-512("abc") as one compression: RFC 7693 appendix A's example (also hashlib's). */
static void blake2_abc_input(uint8_t input[213], uint32_t rounds, uint8_t final_flag)
{
    static const uint64_t iv[8] = {
        0x6a09e667f3bcc908ULL, 0xbb67ae8584caa73bULL, 0x3c6ef372fe94f82bULL, 0xa54ff53a5f1d36f1ULL,
        0x510e527fade682d1ULL, 0x9b05688c2b3e6c1fULL, 0x1f83d9abfb41bd6bULL, 0x5be0cd19137e2179ULL,
    };
    memset(input, 0, 213);
    input[0] = (uint8_t)(rounds >> 24);
    input[1] = (uint8_t)(rounds >> 16);
    input[2] = (uint8_t)(rounds >> 8);
    input[3] = (uint8_t)rounds;
    for (int i = 0; i < 8; i++) {
        uint64_t h = iv[i] ^ (i == 0 ? 0x01010040ULL : 0); /* digest length 64, no key */
        for (int b = 0; b < 8; b++) input[4 + 8 * i + b] = (uint8_t)(h >> (8 * b));
    }
    input[68] = 'a';
    input[69] = 'b';
    input[70] = 'c';
    input[196] = 3; /* t = 3 bytes */
    input[212] = final_flag;
}

START_TEST(test_precompile_blake2f)
{
    uint8_t input[213], expected[64];
    blake2_abc_input(input, 12, 1);
    /* EIP-152 vector 4: the input starts 0000000c48c9bdf267e6096a. */
    uint8_t head[12];
    unhex("0000000c48c9bdf267e6096a", head, 12);
    ck_assert_mem_eq(input, head, 12);
    struct evm_result r = call_precompile(9, input, 213, 1000);
    ck_assert_int_eq(r.status, EVM_SUCCESS);
    ck_assert_int_eq(1000 - r.gas_left, 12);
    unhex("ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d1"
          "7d87c5392aab792dc252d5de4533cc9518d38aa8dbf1925ab92386edd4009923",
          expected, 64);
    ck_assert_uint_eq(r.output_size, 64);
    ck_assert_mem_eq(r.output, expected, 64);
    /* EIP-152 vector 3: 0 rounds. */
    blake2_abc_input(input, 0, 1);
    r = call_precompile(9, input, 213, 1000);
    ck_assert_int_eq(r.status, EVM_SUCCESS);
    unhex("08c9bcf367e6096a3ba7ca8485ae67bb2bf894fe72f36e3cf1361d5f3af54fa5"
          "d282e6ad7f520e511f6c3e2b8c68059b9442be0454267ce079217e1319cde05b",
          expected, 64);
    ck_assert_mem_eq(r.output, expected, 64);
    /* Vector 2 (final flag 2) and vector 0/1 (length 212, 214) fail. */
    blake2_abc_input(input, 12, 2);
    r = call_precompile(9, input, 213, 1000);
    ck_assert_int_eq(r.status, EVM_PRECOMPILE_FAILURE);
    ck_assert_int_eq(r.gas_left, 0);
    r = call_precompile(9, input, 212, 1000);
    ck_assert_int_eq(r.status, EVM_PRECOMPILE_FAILURE);
}
END_TEST

START_TEST(test_precompile_modexp)
{
    /* EIP-198 example 1: 3^(p-1) mod p = 1 for the secp256k1 field prime p (Fermat). */
    uint8_t input[256];
    size_t n = unhex("0000000000000000000000000000000000000000000000000000000000000001"
                     "0000000000000000000000000000000000000000000000000000000000000020"
                     "0000000000000000000000000000000000000000000000000000000000000020"
                     "03"
                     "fffffffffffffffffffffffffffffffffffffffffffffffffffffffefffffc2e"
                     "fffffffffffffffffffffffffffffffffffffffffffffffffffffffefffffc2f",
                     input, sizeof input);
    struct evm_result r = call_precompile(5, input, n, 100000);
    ck_assert_int_eq(r.status, EVM_SUCCESS);
    ck_assert(u256_eq(output_word(&r), word(1)));
    /* EIP-2565: complexity ceil(32/8)^2 = 16, iterations 255 (bit length 256 - 1): 16*255/3 = 1360. */
    ck_assert_int_eq(100000 - r.gas_left, 1360);
    /* EIP-198 example 2: base length 0, so 0^(p-2) mod p = 0. */
    n = unhex("0000000000000000000000000000000000000000000000000000000000000000"
              "0000000000000000000000000000000000000000000000000000000000000020"
              "0000000000000000000000000000000000000000000000000000000000000020"
              "fffffffffffffffffffffffffffffffffffffffffffffffffffffffefffffc2e"
              "fffffffffffffffffffffffffffffffffffffffffffffffffffffffefffffc2f",
              input, sizeof input);
    r = call_precompile(5, input, n, 100000);
    ck_assert_int_eq(r.status, EVM_SUCCESS);
    ck_assert(u256_is_zero(output_word(&r)));
    /* A small case checked by hand: 5^3 mod 13 = 125 mod 13 = 8; gas is the floor of 200. */
    n = unhex("0000000000000000000000000000000000000000000000000000000000000001"
              "0000000000000000000000000000000000000000000000000000000000000001"
              "0000000000000000000000000000000000000000000000000000000000000001"
              "05" "03" "0d",
              input, sizeof input);
    r = call_precompile(5, input, n, 100000);
    ck_assert_int_eq(r.status, EVM_SUCCESS);
    ck_assert_uint_eq(r.output_size, 1);
    ck_assert_uint_eq(r.output[0], 8);
    ck_assert_int_eq(100000 - r.gas_left, 200);
    /* Huge declared lengths with a zero modulus length: 200 gas, empty output (no overflow). */
    n = unhex("0000000000000000000000000000000000000000000000000000000000000000"
              "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
              "0000000000000000000000000000000000000000000000000000000000000000",
              input, sizeof input);
    r = call_precompile(5, input, n, 100000);
    ck_assert_int_eq(r.status, EVM_SUCCESS);
    ck_assert_uint_eq(r.output_size, 0);
    /* Huge base length with a modulus: gas saturates, the call runs out of gas. */
    n = unhex("ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
              "0000000000000000000000000000000000000000000000000000000000000001"
              "0000000000000000000000000000000000000000000000000000000000000001",
              input, sizeof input);
    r = call_precompile(5, input, n, 100000);
    ck_assert_int_eq(r.status, EVM_OUT_OF_GAS);
}
END_TEST

START_TEST(test_precompile_curves)
{
    /* ecAdd through the interpreter's precompile path: G + G = 2G (values from EIP-196's
       curve: 2*(1,2) is the published doubling), at Istanbul's 150 gas. */
    uint8_t input[128] = {0};
    input[31] = 1;
    input[63] = 2;
    input[95] = 1;
    input[127] = 2;
    struct evm_result r = call_precompile(6, input, 128, 10000);
    ck_assert_int_eq(r.status, EVM_SUCCESS);
    ck_assert_int_eq(r.gas_left, 10000 - 150);
    ck_assert_uint_eq(r.output_size, 64);
    uint8_t two_g[64];
    ck_assert_uint_eq(unhex("030644e72e131a029b85045b68181585d97816a916871ca8d3c208c16d87cfd3"
                            "15ed738c0e0a7c92e7845f96b2ae9c0a68a6a449e3538fc7ff3ebf7a5a18a2c4",
                            two_g, sizeof two_g),
                      64);
    ck_assert_mem_eq(r.output, two_g, 64);
    /* (1, 3) is not on the curve: the call fails and consumes all its gas. */
    input[63] = 3;
    r = call_precompile(6, input, 128, 10000);
    ck_assert_int_eq(r.status, EVM_PRECOMPILE_FAILURE);
    ck_assert_int_eq(r.gas_left, 0);
    /* The point evaluation wants exactly 192 bytes. */
    r = call_precompile(10, input, 128, 100000);
    ck_assert_int_eq(r.status, EVM_PRECOMPILE_FAILURE);
    ck_assert_int_eq(r.gas_left, 0);
    /* Too little gas for a pairing of one pair (45000 + 34000). */
    uint8_t pair[192] = {0};
    r = call_precompile(8, pair, 192, 79000 - 1);
    ck_assert_int_eq(r.status, EVM_OUT_OF_GAS);
    uint8_t address[20] = {0};
    for (int n = 1; n <= 10; n++) {
        address[19] = (uint8_t)n;
        ck_assert(!evm_precompile_is_unimplemented(address, EVM_CANCUN));
    }
    address[19] = 10;
    ck_assert(!evm_is_precompile(address, EVM_SHANGHAI));
}
END_TEST

START_TEST(test_top_level_create)
{
    /* A creation transaction: init code returning the 1-byte code 0x00. Deposit 200 gas. */
    uint8_t init[16];
    size_t n = unhex("6000600053" "60016000f3", init, sizeof init);            /* MSTORE8(0, 0); RETURN(0, 1) */
    uint8_t address[20];
    evm_create_address(ORIGIN, 1, address);
    test_host_begin_tx(th, ORIGIN, address, EVM_CANCUN);
    struct evm_message m = {.kind = EVM_CREATE, .gas = 100000, .value = word(5), .input = init, .input_size = n};
    memcpy(m.sender, ORIGIN, 20);
    memcpy(m.recipient, address, 20);
    struct evm_result r;
    ck_assert_int_eq(evm_execute(&iface, &txc, EVM_CANCUN, &m, &r, NULL), 0);
    ck_assert_int_eq(r.status, EVM_SUCCESS);
    ck_assert_mem_eq(r.created_address, address, 20);
    ck_assert(u256_eq(test_host_balance(th, address), word(5)));
    /* 3 + 3 + 3 + 3(memory) + 3 + 3 + 0 + 200 deposit */
    ck_assert_int_eq(100000 - r.gas_left, 18 + 200);
    /* The same address again collides: all gas consumed. */
    test_host_begin_tx(th, ORIGIN, address, EVM_CANCUN);
    ck_assert_int_eq(evm_execute(&iface, &txc, EVM_CANCUN, &m, &r, NULL), 0);
    ck_assert_int_eq(r.status, EVM_CREATE_COLLISION);
    ck_assert_int_eq(r.gas_left, 0);
    /* Code starting with 0xEF is refused (EIP-3541). */
    n = unhex("60ef600053" "60016000f3", init, sizeof init);
    evm_create_address(ORIGIN, 2, address);
    memcpy(m.recipient, address, 20);
    m.input_size = n;
    test_host_begin_tx(th, ORIGIN, address, EVM_CANCUN);
    ck_assert_int_eq(evm_execute(&iface, &txc, EVM_CANCUN, &m, &r, NULL), 0);
    ck_assert_int_eq(r.status, EVM_CONTRACT_VALIDATION_FAILURE);
    ck_assert(!test_host_exists(th, address));
}
END_TEST

START_TEST(test_unsupported_revision)
{
    struct evm_message m = {.kind = EVM_CALL, .gas = 100};
    struct evm_result r;
    struct cohort_error err = {0};
    ck_assert_int_eq(evm_execute(&iface, &txc, EVM_ISTANBUL, &m, &r, &err), EVM_E_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(err.message, "Istanbul"));
}
END_TEST

static Suite *evm_suite(void)
{
    Suite *s = suite_create("evm");
    TCase *tc = tcase_create("interpreter");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_arithmetic_and_gas);
    tcase_add_test(tc, test_signed_and_exp);
    tcase_add_test(tc, test_execute_analyzed_matches_execute);
    tcase_add_test(tc, test_stack_errors);
    tcase_add_test(tc, test_jumps);
    tcase_add_test(tc, test_memory_expansion_gas);
    tcase_add_test(tc, test_mcopy);
    tcase_add_loop_test(tc, test_sstore_eip3529, 0, (int)(sizeof sstore_cases / sizeof sstore_cases[0]));
    tcase_add_test(tc, test_sstore_cold_and_sentry);
    tcase_add_test(tc, test_call_revert_effects);
    tcase_add_test(tc, test_create_and_call_created);
    tcase_add_test(tc, test_create_addresses);
    tcase_add_test(tc, test_depth_limit);
    tcase_add_test(tc, test_static_violation);
    tcase_add_test(tc, test_value_transfer_and_selfdestruct);
    tcase_add_test(tc, test_insufficient_balance_keeps_gas);
    tcase_add_test(tc, test_transient_and_logs);
    tcase_add_test(tc, test_precompile_hashes);
    tcase_add_test(tc, test_precompile_blake2f);
    tcase_add_test(tc, test_precompile_modexp);
    tcase_add_test(tc, test_precompile_curves);
    tcase_add_test(tc, test_top_level_create);
    tcase_add_test(tc, test_unsupported_revision);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return testutil_run_suite(evm_suite(), false);
}
