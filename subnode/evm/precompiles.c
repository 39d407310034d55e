/*
 * precompiles.c - the precompiled contracts at 0x01-0x0a: which exist in a revision, their
 * gas, and their work (0x05 in modexp.c, 0x09 in blake2f.c).
 *
 *   0x01 ECRECOVER   3000             common/secp.h (libsecp256k1)
 *   0x02 SHA256      60 + 12/word     OpenSSL EVP
 *   0x03 RIPEMD160   600 + 120/word   OpenSSL EVP, output left-padded to 32 bytes
 *   0x04 IDENTITY    15 + 3/word
 *   0x05 MODEXP      EIP-2565
 *   0x06 ECADD       150 (EIP-1108; 500 before Istanbul)        subnode/crypto (bn254)
 *   0x07 ECMUL       6000 (40000 before Istanbul)               subnode/crypto (bn254)
 *   0x08 ECPAIRING   45000 + 34000/pair (100000 + 80000/pair)   subnode/crypto (bn254)
 *   0x09 BLAKE2F     1 per round, input exactly 213 bytes
 *   0x0a POINT EVALUATION (Cancun, EIP-4844) 50000              subnode/crypto (BLS12-381)
 *
 * A precompile that fails (too little gas, an input it refuses) consumes all the gas given
 * to it, like any exceptional halt.
 */
#include <assert.h>
#include <openssl/evp.h>
#include <string.h>

#include "common/secp.h"
#include "subnode/crypto/curves.h"
#include "subnode/evm/evm_internal.h"

enum precompile {
    PRECOMPILE_ECRECOVER = 1,
    PRECOMPILE_SHA256 = 2,
    PRECOMPILE_RIPEMD160 = 3,
    PRECOMPILE_IDENTITY = 4,
    PRECOMPILE_MODEXP = 5,
    PRECOMPILE_BN254_ADD = 6,
    PRECOMPILE_BN254_MUL = 7,
    PRECOMPILE_BN254_PAIRING = 8,
    PRECOMPILE_BLAKE2F = 9,
    PRECOMPILE_POINT_EVALUATION = 10,
};

_Static_assert(PRECOMPILE_POINT_EVALUATION == EVM_PRECOMPILE_LAST, "evm.h names the last precompile");

/* The precompile number of an address (1..10), or 0 when the address is not 0x00..0x0a. */
static unsigned precompile_number(const uint8_t address[20])
{
    for (int i = 0; i < 19; i++)
        if (address[i] != 0) return 0;
    return address[19] <= PRECOMPILE_POINT_EVALUATION ? address[19] : 0;
}

bool evm_is_precompile(const uint8_t address[20], enum evm_revision revision)
{
    assert(address != NULL);
    unsigned n = precompile_number(address);
    if (n == 0) return false;
    if (n == PRECOMPILE_POINT_EVALUATION) return revision >= EVM_CANCUN;
    if (n == PRECOMPILE_BLAKE2F) return revision >= EVM_ISTANBUL;
    if (n >= PRECOMPILE_MODEXP) return revision >= EVM_BYZANTIUM;
    return true;
}

bool evm_precompile_is_unimplemented(const uint8_t address[20], enum evm_revision revision)
{
    /* Every precompile through Cancun is implemented; kept so the runner's report stays honest. */
    (void)address;
    (void)revision;
    return false;
}

static int64_t words_of(size_t bytes) { return (int64_t)((bytes + 31) / 32); }

/* Reads input[offset..offset+len) into out, zero past the end of the input. */
static void read_padded(const uint8_t *input, size_t input_size, size_t offset, size_t len, uint8_t *out)
{
    for (size_t i = 0; i < len; i++) out[i] = offset + i < input_size ? input[offset + i] : 0;
}

/* ECRECOVER: hash, v (27 or 28 as a whole word), r, s; empty output when recovery fails. */
static bool ecrecover(const uint8_t *input, size_t input_size, struct evm_buffer *out)
{
    uint8_t padded[128];
    read_padded(input, input_size, 0, sizeof padded, padded);
    out->size = 0;
    for (int i = 32; i < 63; i++)
        if (padded[i] != 0) return true;
    if (padded[63] != 27 && padded[63] != 28) return true;
    uint8_t signature[65];
    memcpy(signature, padded + 64, 64);
    signature[64] = (uint8_t)(padded[63] - 27);
    uint8_t address[20];
    if (secp_recover_address(padded, signature, SECP_S_ANY, address, NULL) != 0) return true;
    if (!evm_buffer_reserve(out, 32)) return false;
    memset(out->data, 0, 12);
    memcpy(out->data + 12, address, 20);
    out->size = 32;
    return true;
}

/* SHA256 and RIPEMD160 through OpenSSL's one-shot EVP_Digest; false only on a library failure. */
static bool digest(const EVP_MD *md, const uint8_t *input, size_t input_size, uint8_t *digest_out)
{
    static const uint8_t empty = 0;
    unsigned len = 0;
    return md != NULL && EVP_Digest(input_size != 0 ? input : &empty, input_size, digest_out, &len, md, NULL) == 1;
}

bool evm_precompile_run(const uint8_t address[20], enum evm_revision revision, const uint8_t *input,
                        size_t input_size, int64_t gas, enum evm_status *status, int64_t *gas_left,
                        struct evm_buffer *out)
{
    assert(evm_is_precompile(address, revision));
    assert(gas >= 0 && (input != NULL || input_size == 0));
    unsigned n = precompile_number(address);
    int64_t cost;
    switch (n) {
    case PRECOMPILE_ECRECOVER: cost = 3000; break;
    case PRECOMPILE_SHA256: cost = 60 + 12 * words_of(input_size); break;
    case PRECOMPILE_RIPEMD160: cost = 600 + 120 * words_of(input_size); break;
    case PRECOMPILE_IDENTITY: cost = 15 + 3 * words_of(input_size); break;
    case PRECOMPILE_MODEXP: cost = evm_modexp_gas(input, input_size); break;
    case PRECOMPILE_BLAKE2F: cost = input_size == 213 ? (int64_t)evm_blake2f_rounds(input) : 0; break;
    case PRECOMPILE_BN254_ADD: cost = revision >= EVM_ISTANBUL ? (int64_t)curves_bn254_add_gas(input, input_size) : 500; break;
    case PRECOMPILE_BN254_MUL:
        cost = revision >= EVM_ISTANBUL ? (int64_t)curves_bn254_mul_gas(input, input_size) : 40000;
        break;
    case PRECOMPILE_BN254_PAIRING:
        cost = revision >= EVM_ISTANBUL ? (int64_t)curves_bn254_pairing_gas(input, input_size)
                                        : 100000 + 80000 * (int64_t)(input_size / 192);
        break;
    case PRECOMPILE_POINT_EVALUATION: cost = (int64_t)curves_point_evaluation_gas(input, input_size); break;
    default: assert(0 && "unreachable"); return true;
    }
    out->size = 0;
    if (cost > gas) {
        *status = EVM_OUT_OF_GAS;
        *gas_left = 0;
        return true;
    }
    *status = EVM_SUCCESS;
    *gas_left = gas - cost;
    switch (n) {
    case PRECOMPILE_ECRECOVER: return ecrecover(input, input_size, out);
    case PRECOMPILE_SHA256:
    case PRECOMPILE_RIPEMD160: {
        if (!evm_buffer_reserve(out, 32)) return false;
        uint8_t hash[EVP_MAX_MD_SIZE];
        bool sha = n == PRECOMPILE_SHA256;
        if (!digest(sha ? EVP_sha256() : EVP_ripemd160(), input, input_size, hash)) {
            /* OpenSSL without the digest (a provider missing): the call fails rather than lies. */
            *status = EVM_PRECOMPILE_FAILURE;
            *gas_left = 0;
            return true;
        }
        memset(out->data, 0, 32);
        if (sha)
            memcpy(out->data, hash, 32);
        else
            memcpy(out->data + 12, hash, 20);
        out->size = 32;
        return true;
    }
    case PRECOMPILE_IDENTITY: return evm_buffer_assign(out, input, input_size);
    case PRECOMPILE_MODEXP: return evm_modexp_run(input, input_size, out);
    case PRECOMPILE_BLAKE2F:
        if (!evm_buffer_reserve(out, 64)) return false;
        if (input_size != 213 || !evm_blake2f(input, out->data)) {
            *status = EVM_PRECOMPILE_FAILURE;
            *gas_left = 0;
        } else {
            out->size = 64;
        }
        return true;
    case PRECOMPILE_BN254_ADD:
    case PRECOMPILE_BN254_MUL:
    case PRECOMPILE_BN254_PAIRING:
    case PRECOMPILE_POINT_EVALUATION: {
        size_t size = n == PRECOMPILE_BN254_PAIRING ? CURVES_BN254_PAIRING_OUTPUT
                      : n == PRECOMPILE_POINT_EVALUATION ? CURVES_POINT_EVALUATION_OUTPUT
                                                         : CURVES_BN254_ADD_OUTPUT;
        if (!evm_buffer_reserve(out, size)) return false;
        int rc = n == PRECOMPILE_BN254_ADD       ? curves_bn254_add(input, input_size, out->data)
                 : n == PRECOMPILE_BN254_MUL     ? curves_bn254_mul(input, input_size, out->data)
                 : n == PRECOMPILE_BN254_PAIRING ? curves_bn254_pairing(input, input_size, out->data)
                                                 : curves_point_evaluation(input, input_size, out->data);
        if (rc != 0) { /* an input the EIP refuses: the call fails, all its gas consumed */
            *status = EVM_PRECOMPILE_FAILURE;
            *gas_left = 0;
        } else {
            out->size = size;
        }
        return true;
    }
    default: assert(0 && "unreachable"); return true;
    }
}
