/*
 * fuzz_curves.c - libFuzzer target for the input parsing of the four elliptic-curve
 * precompiles (subnode/crypto/curves.h). The first byte picks the precompile (mod 4), the rest
 * is its input. Besides "no crash, no sanitizer report", it checks what must hold for any
 * input:
 *   - ecAdd/ecMul: on success the output is a valid point (O + out = out);
 *   - ecPairing: a length not a multiple of 192 fails; success gives the word 0 or 1;
 *   - point evaluation: a length other than 192 fails; success gives the fixed output.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "subnode/crypto/curves.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) return 0;
    unsigned which = data[0] % 4;
    const uint8_t *input = data + 1;
    size_t len = size - 1;
    /* Bound the work per input: each pairing costs a Miller loop (gas keeps real calls bounded). */
    if (which == 2 && len > 16 * CURVES_BN254_PAIR_SIZE) len = 16 * CURVES_BN254_PAIR_SIZE;
    uint8_t out[64];
    int rc;
    switch (which) {
    case 0:
    case 1: {
        rc = which == 0 ? curves_bn254_add(len ? input : NULL, len, out) : curves_bn254_mul(len ? input : NULL, len, out);
        if (rc == 0) {
            uint8_t again[128] = {0}, out2[64];
            memcpy(again, out, 64);
            if (curves_bn254_add(again, sizeof again, out2) != 0 || memcmp(out, out2, 64) != 0) abort();
        } else if (rc > 0) {
            abort();
        }
        break;
    }
    case 2:
        rc = curves_bn254_pairing(len ? input : NULL, len, out);
        if (len % CURVES_BN254_PAIR_SIZE != 0 && rc != CURVES_E_LENGTH) abort();
        if (rc == 0) {
            for (int i = 0; i < 31; i++) {
                if (out[i] != 0) abort();
            }
            if (out[31] > 1) abort();
        }
        break;
    default:
        rc = curves_point_evaluation(len ? input : NULL, len, out);
        if (len != CURVES_POINT_EVALUATION_INPUT && rc != CURVES_E_LENGTH) abort();
        if (rc == 0 && (out[30] != 0x10 || out[32] != 0x73 || out[63] != 0x01)) abort();
        break;
    }
    return 0;
}
