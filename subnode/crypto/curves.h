/*
 * curves.h - the elliptic-curve precompiles of the EVM: bn254 (alt_bn128) ecAdd, ecMul and
 * ecPairing (EIP-196, EIP-197, gas from EIP-1108) and the KZG point evaluation of EIP-4844
 * (over BLS12-381).
 *
 * The functions take and produce bytes exactly as the precompiles do, so the interpreter only
 * charges gas and dispatches:
 *
 *   address  precompile         input                              output
 *   0x06     ecAdd              x1|y1|x2|y2 (4 x 32 bytes)         x|y (64 bytes)
 *   0x07     ecMul              x|y|s (3 x 32 bytes)               x|y (64 bytes)
 *   0x08     ecPairing          k x (G1 64 bytes | G2 128 bytes)   32 bytes: 0...01 or 0...00
 *   0x0a     point evaluation   versioned_hash|z|y|commitment|proof  4096 | BLS_MODULUS (64 bytes)
 *
 * All numbers are big-endian. A bn254 G1 point is x|y; (0, 0) is the point at infinity. A G2
 * point is x_im|x_re|y_im|y_re: each Fp2 coordinate a + b*i is written b (the coefficient of
 * i) first, as EIP-197 says; all zeros is the point at infinity. ecAdd and ecMul read their
 * input as if right-padded with zeros to 128 and 96 bytes and ignore bytes past that; ecPairing
 * needs a length that is a multiple of 192 (0 is allowed and gives 1).
 *
 * Failure: an execute function returns a negative curves_status when the input is invalid
 * (a coordinate not below the field modulus, a point not on its curve, a G2 point outside the
 * order-r subgroup, a bad length, a KZG proof that does not verify...). The precompile then
 * fails and consumes all the gas it was given; `out` is unspecified in that case. Every
 * failure of the EIPs fails here and nothing else does; the codes only help diagnostics.
 *
 * Constant time: NOT constant time, on purpose. The precompiles only ever see public data
 * (transaction inputs), so timing reveals nothing; the code branches on values to be fast.
 * Do not use these functions with secrets.
 *
 * Memory: nothing allocates; every function works on the caller's buffers and its own stack
 * (a few KB), keeps no pointer it was given, and is safe to call from several threads at once
 * (there is no mutable global state). Input sizes need no cap beyond the caller's gas: ecPairing
 * streams over its pairs in fixed-size batches.
 */
#ifndef COHORT_SUBNODE_CRYPTO_CURVES_H
#define COHORT_SUBNODE_CRYPTO_CURVES_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

/* Codes of the curves library. Append only. */
enum curves_status {
    CURVES_OK = 0,
    CURVES_E_LENGTH = COHORT_ERRORS_CURVES - 1,        /* input length not allowed by the precompile */
    CURVES_E_FIELD = COHORT_ERRORS_CURVES - 2,         /* a coordinate or field element not below its modulus */
    CURVES_E_NOT_ON_CURVE = COHORT_ERRORS_CURVES - 3,  /* the coordinates do not satisfy the curve equation */
    CURVES_E_SUBGROUP = COHORT_ERRORS_CURVES - 4,      /* a point outside the prime-order subgroup */
    CURVES_E_ENCODING = COHORT_ERRORS_CURVES - 5,      /* a malformed compressed point (flag bits) */
    CURVES_E_VERSIONED_HASH = COHORT_ERRORS_CURVES - 6, /* point evaluation: the commitment does not match the hash */
    CURVES_E_PROOF = COHORT_ERRORS_CURVES - 7,         /* point evaluation: the KZG proof does not verify */
};

/* Returns a static description of a curves_status code; never NULL. */
const char *curves_strerror(int code);

/* Sizes of the outputs. */
#define CURVES_BN254_ADD_OUTPUT 64
#define CURVES_BN254_MUL_OUTPUT 64
#define CURVES_BN254_PAIRING_OUTPUT 32
#define CURVES_POINT_EVALUATION_OUTPUT 64
#define CURVES_POINT_EVALUATION_INPUT 192
#define CURVES_BN254_PAIR_SIZE 192

/*
 * Gas of each precompile for an input of len bytes (Istanbul prices, EIP-1108; EIP-4844 for
 * point evaluation). Pure functions of the length: add 150, mul 6000, pairing
 * 45000 + 34000 * (len / 192) (the integer quotient, also for a length that then fails),
 * point evaluation 50000. `input` may be NULL; it is not read (the prices do not depend on
 * the bytes, but the parameter keeps one shape for every precompile in the dispatch table).
 */
uint64_t curves_bn254_add_gas(const uint8_t *input, size_t len);
uint64_t curves_bn254_mul_gas(const uint8_t *input, size_t len);
uint64_t curves_bn254_pairing_gas(const uint8_t *input, size_t len);
uint64_t curves_point_evaluation_gas(const uint8_t *input, size_t len);

/*
 * ecAdd (0x06): out = P1 + P2. input may be NULL when len is 0. Returns 0, or
 * CURVES_E_FIELD / CURVES_E_NOT_ON_CURVE for an invalid point.
 */
int curves_bn254_add(const uint8_t *input, size_t len, uint8_t out[CURVES_BN254_ADD_OUTPUT]);

/*
 * ecMul (0x07): out = [s]P with s any 256-bit number. Returns 0, or CURVES_E_FIELD /
 * CURVES_E_NOT_ON_CURVE for an invalid point.
 */
int curves_bn254_mul(const uint8_t *input, size_t len, uint8_t out[CURVES_BN254_MUL_OUTPUT]);

/*
 * ecPairing (0x08): out = 1 (as a 32-byte word) when the product of e(P_i, Q_i) over all pairs
 * is 1 in GT, else 0. Returns 0 in both cases; CURVES_E_LENGTH when len % 192 != 0, and
 * CURVES_E_FIELD / CURVES_E_NOT_ON_CURVE / CURVES_E_SUBGROUP for an invalid point (every point
 * is checked, also those paired with infinity).
 */
int curves_bn254_pairing(const uint8_t *input, size_t len, uint8_t out[CURVES_BN254_PAIRING_OUTPUT]);

/*
 * Point evaluation (0x0a, EIP-4844): checks that len == 192, that
 * kzg_to_versioned_hash(commitment) (sha256 with its first byte set to 0x01) equals
 * versioned_hash, that z and y are below the BLS12-381 scalar modulus, that commitment and
 * proof are valid compressed G1 points in the subgroup (or the point at infinity), and that
 * the proof verifies against the Ethereum KZG ceremony's [tau]G2:
 * e(commitment - [y]G1, -G2) * e(proof, [tau]G2 - [z]G2) == 1. On success writes
 * FIELD_ELEMENTS_PER_BLOB (4096) and BLS_MODULUS as two 32-byte big-endian words.
 */
int curves_point_evaluation(const uint8_t *input, size_t len, uint8_t out[CURVES_POINT_EVALUATION_OUTPUT]);

#endif
