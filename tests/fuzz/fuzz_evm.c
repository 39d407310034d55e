/*
 * fuzz_evm.c - random code and calldata through the whole VM (interpreter, nested calls
 * and creates, precompiles) against the in-memory test host, with a gas cap.
 *
 * Input layout:
 *
 *   byte 0      flags: bits 0-1 the revision (Berlin, London, Shanghai, Cancun),
 *               bit 2 a creation (the code is init code) instead of a call,
 *               bit 3 a static call, bit 4 give the contract a balance
 *   bytes 1-2   calldata length (little-endian, cut to what is there)
 *   then        the calldata, then the code
 *
 * The code is also installed at a second address that the first can call (0xc1...02), so
 * CALL/DELEGATECALL/CREATE paths run with real code on both sides.
 *
 * Checked on every run: evm_execute returns 0 (or EVM_E_HOST when the small test host's
 * tables fill up), the gas left is within [0, gas given] and 0 for failures, refunds appear
 * only on success, the output of a failure other than REVERT is empty.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define TEST_HOST_ACCOUNTS 256
#define TEST_HOST_SLOTS 1024
#define TEST_HOST_LOGS 1024
#define TEST_HOST_ARENA ((size_t)8 << 20)
#include "../unit/evm_test_host.c"

#define GAS_CAP 300000

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3) return 0;
    static const enum evm_revision revisions[4] = {EVM_BERLIN, EVM_LONDON, EVM_SHANGHAI, EVM_CANCUN};
    uint8_t flags = data[0];
    enum evm_revision revision = revisions[flags & 3];
    bool create = (flags & 4) != 0;
    size_t calldata_size = (size_t)data[1] | (size_t)data[2] << 8;
    data += 3;
    size -= 3;
    if (calldata_size > size) calldata_size = size;
    const uint8_t *calldata = data;
    const uint8_t *code = data + calldata_size;
    size_t code_size = size - calldata_size;
    if (code_size > EVM_MAX_INITCODE_SIZE) code_size = EVM_MAX_INITCODE_SIZE;

    struct test_host *th = test_host_new();
    if (th == NULL) return 0;
    struct evm_host iface;
    test_host_interface(th, &iface);
    static const uint8_t origin[20] = {[0] = 0x10, [19] = 1};
    static const uint8_t contract[20] = {[0] = 0xc0, [19] = 1};
    static const uint8_t other[20] = {[0] = 0xc1, [19] = 2};
    test_host_put_account(th, origin, 1, u256_from_u64(1000000000), NULL, 0);
    test_host_put_account(th, other, 1, u256_from_u64(1000), code, code_size);

    struct evm_tx_context txc;
    memset(&txc, 0, sizeof txc);
    memcpy(txc.origin, origin, 20);
    txc.number = 1000;
    txc.gas_limit = 30000000;
    txc.chain_id = u256_from_u64(1);
    static const uint8_t blob_hash[32] = {1, 2, 3};
    txc.blob_hashes = blob_hash;
    txc.blob_hash_count = 1;

    struct evm_message m = {.gas = GAS_CAP, .is_static = !create && (flags & 8) != 0};
    memcpy(m.sender, origin, 20);
    if (create) {
        m.kind = EVM_CREATE;
        evm_create_address(origin, 1, m.recipient);
        m.input = code_size != 0 ? code : NULL;
        m.input_size = code_size;
        m.value = u256_from_u64(flags & 16 ? 7 : 0);
    } else {
        m.kind = EVM_CALL;
        memcpy(m.recipient, contract, 20);
        memcpy(m.code_address, contract, 20);
        test_host_put_account(th, contract, 1, u256_from_u64(flags & 16 ? 1000000 : 0), code, code_size);
        m.input = calldata_size != 0 ? calldata : NULL;
        m.input_size = calldata_size;
    }
    test_host_begin_tx(th, origin, m.recipient, revision);

    struct evm_result r;
    struct cohort_error err = {0};
    int rc = evm_execute(&iface, &txc, revision, &m, &r, &err);
    if (rc != 0 && rc != EVM_E_HOST) abort();
    if (rc == 0) {
        if (r.gas_left < 0 || r.gas_left > GAS_CAP) abort();
        if (r.status != EVM_SUCCESS && r.status != EVM_REVERT && r.gas_left != 0) abort();
        if (r.status != EVM_SUCCESS && r.gas_refund != 0) abort();
        if (r.status != EVM_SUCCESS && r.status != EVM_REVERT && r.output_size != 0) abort();
        if (r.output_size != 0 && r.output == NULL) abort();
        if (r.output_size != 0) {
            volatile uint8_t sink = r.output[r.output_size - 1]; /* the output is readable */
            (void)sink;
        }
    }
    test_host_free(th);
    return 0;
}
