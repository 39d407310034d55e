/*
 * keccak.c - Keccak-256 (the pre-FIPS padding Ethereum uses), sponge over Keccak-f[1600].
 *
 * The state is 25 lanes of 64 bits, lane (x, y) at index x + 5y. Input is absorbed
 * little-endian, 136 bytes (17 lanes) per permutation; padding is 0x01 ... 0x80.
 */
#include "keccak.h"

#include <assert.h>
#include <string.h>

static const uint64_t round_constants[24] = {
    0x0000000000000001ULL, 0x0000000000008082ULL, 0x800000000000808aULL, 0x8000000080008000ULL,
    0x000000000000808bULL, 0x0000000080000001ULL, 0x8000000080008081ULL, 0x8000000000008009ULL,
    0x000000000000008aULL, 0x0000000000000088ULL, 0x0000000080008009ULL, 0x000000008000000aULL,
    0x000000008000808bULL, 0x800000000000008bULL, 0x8000000000008089ULL, 0x8000000000008003ULL,
    0x8000000000008002ULL, 0x8000000000000080ULL, 0x000000000000800aULL, 0x800000008000000aULL,
    0x8000000080008081ULL, 0x8000000000008080ULL, 0x0000000080000001ULL, 0x8000000080008008ULL,
};

static inline uint64_t rotl(uint64_t v, unsigned n) { return n == 0 ? v : (v << n) | (v >> (64 - n)); }

/* rho offsets and pi destinations, walked along the pi permutation's single cycle starting at lane 1. */
static const unsigned rho_offsets[24] = {1,  3,  6,  10, 15, 21, 28, 36, 45, 55, 2,  14,
                                         27, 41, 56, 8,  25, 43, 62, 18, 39, 61, 20, 44};
static const unsigned pi_lanes[24] = {10, 7, 11, 17, 18, 3, 5, 16, 8, 21, 24, 4,
                                      15, 23, 19, 13, 12, 2, 20, 14, 22, 9, 6, 1};

void keccak_f1600(uint64_t a[25])
{
    for (int round = 0; round < 24; round++) {
        uint64_t c[5], d;
        /* theta */
        for (int x = 0; x < 5; x++) c[x] = a[x] ^ a[x + 5] ^ a[x + 10] ^ a[x + 15] ^ a[x + 20];
        for (int x = 0; x < 5; x++) {
            d = c[(x + 4) % 5] ^ rotl(c[(x + 1) % 5], 1);
            for (int y = 0; y < 25; y += 5) a[y + x] ^= d;
        }
        /* rho and pi */
        uint64_t carry = a[1];
        for (int i = 0; i < 24; i++) {
            unsigned j = pi_lanes[i];
            uint64_t next = a[j];
            a[j] = rotl(carry, rho_offsets[i]);
            carry = next;
        }
        /* chi */
        for (int y = 0; y < 25; y += 5) {
            for (int x = 0; x < 5; x++) c[x] = a[y + x];
            for (int x = 0; x < 5; x++) a[y + x] = c[x] ^ (~c[(x + 1) % 5] & c[(x + 2) % 5]);
        }
        /* iota */
        a[0] ^= round_constants[round];
    }
}

static inline uint64_t load64_le(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8); /* x86-64 and every target we build for are little-endian */
    return v;
}

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "keccak.c assumes a little-endian host");

static void absorb_block(uint64_t state[25], const uint8_t *block)
{
    for (int i = 0; i < KECCAK256_RATE / 8; i++) state[i] ^= load64_le(block + 8 * i);
    keccak_f1600(state);
}

void keccak256_init(struct keccak256_ctx *ctx)
{
    memset(ctx, 0, sizeof *ctx);
}

void keccak256_update(struct keccak256_ctx *ctx, const void *data, size_t len)
{
    assert(ctx->buffered < KECCAK256_RATE);
    assert(data != NULL || len == 0);
    if (len == 0) return; /* nothing to absorb; and data may be NULL, which memcpy must not see */
    const uint8_t *p = data;
    if (ctx->buffered > 0) {
        size_t take = KECCAK256_RATE - ctx->buffered;
        if (take > len) take = len;
        memcpy(ctx->buffer + ctx->buffered, p, take);
        ctx->buffered += take;
        p += take;
        len -= take;
        if (ctx->buffered < KECCAK256_RATE) return;
        absorb_block(ctx->state, ctx->buffer);
        ctx->buffered = 0;
    }
    while (len >= KECCAK256_RATE) {
        absorb_block(ctx->state, p);
        p += KECCAK256_RATE;
        len -= KECCAK256_RATE;
    }
    if (len > 0) {
        memcpy(ctx->buffer, p, len);
        ctx->buffered = len;
    }
}

void keccak256_final(struct keccak256_ctx *ctx, uint8_t out[32])
{
    assert(ctx->buffered < KECCAK256_RATE);
    memset(ctx->buffer + ctx->buffered, 0, KECCAK256_RATE - ctx->buffered);
    ctx->buffer[ctx->buffered] ^= 0x01;
    ctx->buffer[KECCAK256_RATE - 1] ^= 0x80;
    absorb_block(ctx->state, ctx->buffer);
    memcpy(out, ctx->state, 32); /* little-endian lanes 0..3 are the digest bytes in order */
    ctx->buffered = 0;
}

void keccak256(const void *data, size_t len, uint8_t out[32])
{
    struct keccak256_ctx ctx;
    keccak256_init(&ctx);
    keccak256_update(&ctx, data, len);
    keccak256_final(&ctx, out);
}
