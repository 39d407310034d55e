/*
 * curves_bench.c - time per call of the elliptic-curve precompiles (subnode/crypto/curves.h):
 * ecPairing with 2 pairs, ecMul with a full 256-bit scalar, ecAdd, and EIP-4844's point
 * evaluation with a real proof.
 *
 *   bench/curves_bench [FIXTURES_DIR]
 *
 * FIXTURES_DIR (default: $COHORT_FIXTURES, else the build's fixtures path) must hold the
 * execution-spec-tests point evaluation vectors; the point evaluation input is the first valid
 * proof there whose commitment and proof are not the point at infinity, so that both pairs of
 * the check are computed. Prints one line per operation:
 *   `curves op=NAME iterations=N us_per_op=T cpu_us_per_op=C`
 * (wall time and this process's CPU time per call; on a busy machine compare C).
 * Anchors: evmone and geth spend well under a millisecond per bn254 pairing check with 2 pairs.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "subnode/crypto/curves.h"

#ifndef COHORT_BENCH_FIXTURES
#define COHORT_BENCH_FIXTURES "../shared/fixtures"
#endif

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double now_s(void) { return clock_s(CLOCK_MONOTONIC); }

/* CPU time of this process: on a shared machine it moves far less than wall time. */
static double cpu_s(void) { return clock_s(CLOCK_PROCESS_CPUTIME_ID); }

static int nibble(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Decodes hex (optionally 0x-prefixed) into out; returns the length or -1. */
static long unhex(const char *text, uint8_t *out, size_t cap)
{
    if (text[0] == '0' && text[1] == 'x') text += 2;
    size_t n = strlen(text);
    if (n % 2 != 0 || n / 2 > cap) return -1;
    for (size_t i = 0; i < n / 2; i++) {
        int hi = nibble(text[2 * i]), lo = nibble(text[2 * i + 1]);
        if (hi < 0 || lo < 0) return -1;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return (long)(n / 2);
}

typedef int (*precompile_fn)(const uint8_t *input, size_t len, uint8_t *out);

/* Runs fn for at least min_seconds (and at least 3 calls) and prints the time per call. */
static int bench(const char *name, precompile_fn fn, const uint8_t *input, size_t len, double min_seconds)
{
    uint8_t out[64];
    if (fn(input, len, out) != 0) {
        fprintf(stderr, "curves_bench: %s: the input does not pass the precompile\n", name);
        return -1;
    }
    long iterations = 0;
    double start = now_s(), cpu_start = cpu_s(), elapsed = 0;
    do {
        for (int k = 0; k < 4; k++) {
            if (fn(input, len, out) != 0) return -1;
        }
        iterations += 4;
        elapsed = now_s() - start;
    } while (elapsed < min_seconds);
    double cpu = cpu_s() - cpu_start;
    printf("curves op=%s iterations=%ld us_per_op=%.1f cpu_us_per_op=%.1f\n", name, iterations,
           elapsed * 1e6 / (double)iterations, cpu * 1e6 / (double)iterations);
    return 0;
}

static int call_add(const uint8_t *in, size_t len, uint8_t *out) { return curves_bn254_add(in, len, out); }
static int call_mul(const uint8_t *in, size_t len, uint8_t *out) { return curves_bn254_mul(in, len, out); }
static int call_pairing(const uint8_t *in, size_t len, uint8_t *out) { return curves_bn254_pairing(in, len, out); }
static int call_eval(const uint8_t *in, size_t len, uint8_t *out) { return curves_point_evaluation(in, len, out); }

/* Finds a valid point evaluation input with finite commitment and proof in the fixtures. */
static int load_point_evaluation(const char *fixtures, uint8_t input[192])
{
    char path[4096];
    snprintf(path, sizeof path,
             "%s/ethereum-tests/GeneralStateTests/Pyspecs/cancun/eip4844_blobs/"
             "point_evaluation_precompile_external_vectors.json",
             fixtures);
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "curves_bench: cannot open %s\n", path);
        return -1;
    }
    /* The file is about 600 KB; 16 MB is a hard cap against a wrong path. */
    enum { CAP = 16 << 20 };
    char *text = malloc(CAP + 1);
    size_t n = text ? fread(text, 1, CAP, f) : 0;
    fclose(f);
    if (text == NULL || n == 0 || n == CAP) {
        free(text);
        return -1;
    }
    text[n] = '\0';
    cJSON *root = cJSON_Parse(text);
    free(text);
    int found = -1;
    cJSON *test;
    cJSON_ArrayForEach(test, root)
    {
        if (found == 0) break;
        if (!strstr(test->string, "case_correct_proof_")) continue;
        cJSON *data = cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(test, "transaction"), "data"), 0);
        if (!cJSON_IsString(data) || unhex(data->valuestring, input, 192) != 192) continue;
        if (input[96] == 0xc0 || input[144] == 0xc0) continue;
        found = 0;
    }
    cJSON_Delete(root);
    return found;
}

int main(int argc, char **argv)
{
    const char *fixtures = argc > 1 ? argv[1] : getenv("COHORT_FIXTURES");
    if (fixtures == NULL) fixtures = COHORT_BENCH_FIXTURES;

    /* e(G1, G2) * e(-G1, G2) = 1: G1 = (1, 2), -G1 = (1, p - 2), G2 the EIP-197 generator. */
    static const char *const g2 =
        "198e9393920d483a7260bfb731fb5d25f1aa493335a9e71297e485b7aef312c2"
        "1800deef121f1e76426a00665e5c4479674322d4f75edadd46debd5cd992f6ed"
        "090689d0585ff075ec9e99ad690c3395bc4b313370b38ef355acdadcd122975b"
        "12c85ea5db8c6deb4aab71808dcb408fe3d1e7690c43d37b4ce6cc0166fa7daa";
    uint8_t pairing[384] = {0};
    pairing[31] = 1;
    pairing[63] = 2;
    unhex(g2, pairing + 64, 128);
    pairing[192 + 31] = 1;
    unhex("30644e72e131a029b85045b68181585d97816a916871ca8d3c208c16d87cfd45", pairing + 192 + 32, 32);
    unhex(g2, pairing + 192 + 64, 128);

    /* [s]G1 with a 256-bit scalar that has about half its bits set. */
    uint8_t mul[96] = {0};
    mul[31] = 1;
    mul[63] = 2;
    for (int i = 0; i < 32; i++) mul[64 + i] = (uint8_t)(0xa5 ^ (i * 29));

    uint8_t add[128] = {0};
    if (call_mul(mul, sizeof mul, add) != 0) return 1;
    add[64 + 31] = 1;
    add[64 + 63] = 2;

    int rc = 0;
    rc |= bench("bn254_pairing_2_pairs", call_pairing, pairing, sizeof pairing, 2.0);
    rc |= bench("bn254_mul", call_mul, mul, sizeof mul, 1.0);
    rc |= bench("bn254_add", call_add, add, sizeof add, 0.5);
    uint8_t eval[192];
    if (load_point_evaluation(fixtures, eval) != 0) {
        fprintf(stderr, "curves_bench: no point evaluation vector found under %s\n", fixtures);
        return 1;
    }
    rc |= bench("point_evaluation", call_eval, eval, sizeof eval, 2.0);
    return rc == 0 ? 0 : 1;
}
