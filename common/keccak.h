/*
 * keccak.h - Keccak-256 as Ethereum uses it: the original Keccak padding (0x01), not
 * FIPS 202 SHA3-256 (0x06). Written here because Debian's OpenSSL 3.0 has no Keccak.
 */
#ifndef COHORT_COMMON_KECCAK_H
#define COHORT_COMMON_KECCAK_H

#include <stddef.h>
#include <stdint.h>

#define KECCAK256_RATE 136 /* bytes absorbed per permutation: 1600/8 - 2*32 */

/* Incremental state. Plain data: copy it to fork a hash, no cleanup needed. */
struct keccak256_ctx {
    uint64_t state[25];
    uint8_t buffer[KECCAK256_RATE];
    size_t buffered;
};

void keccak256_init(struct keccak256_ctx *ctx);
/* Absorbs len bytes of data (data may be NULL when len is 0). */
void keccak256_update(struct keccak256_ctx *ctx, const void *data, size_t len);
/* Writes the 32-byte digest to out. ctx must be re-initialised before reuse. */
void keccak256_final(struct keccak256_ctx *ctx, uint8_t out[32]);

/* One-shot: out = keccak256(data[0..len)). */
void keccak256(const void *data, size_t len, uint8_t out[32]);

/* The Keccak-f[1600] permutation, exposed for tests and for callers that absorb themselves. */
void keccak_f1600(uint64_t state[25]);

#endif
