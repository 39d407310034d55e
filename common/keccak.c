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

static inline uint64_t rotl(uint64_t v, unsigned n) { return (v << n) | (v >> (64 - n)); }

void keccak_f1600(uint64_t s[25])
{
    /* Unrolled, the 25 lanes in locals so the compiler keeps them in registers: the
       permutation is the cost of every hash (the trie, KECCAK256, every BFT signature). Lane
       (x, y) is s[x + 5y]; rotations r[x][y] are the Keccak reference's rho offsets. */
    uint64_t a0 = s[0], a1 = s[1], a2 = s[2], a3 = s[3], a4 = s[4], a5 = s[5], a6 = s[6], a7 = s[7], a8 = s[8], a9 = s[9], a10 = s[10], a11 = s[11], a12 = s[12], a13 = s[13], a14 = s[14], a15 = s[15], a16 = s[16], a17 = s[17], a18 = s[18], a19 = s[19], a20 = s[20], a21 = s[21], a22 = s[22], a23 = s[23], a24 = s[24];
    for (int round = 0; round < 24; round++) {
        /* theta: column parities c, then d[x] = c[x-1] ^ rot(c[x+1], 1) */
        const uint64_t c0 = a0 ^ a5 ^ a10 ^ a15 ^ a20;
        const uint64_t c1 = a1 ^ a6 ^ a11 ^ a16 ^ a21;
        const uint64_t c2 = a2 ^ a7 ^ a12 ^ a17 ^ a22;
        const uint64_t c3 = a3 ^ a8 ^ a13 ^ a18 ^ a23;
        const uint64_t c4 = a4 ^ a9 ^ a14 ^ a19 ^ a24;
        const uint64_t d0 = c4 ^ rotl(c1, 1);
        const uint64_t d1 = c0 ^ rotl(c2, 1);
        const uint64_t d2 = c1 ^ rotl(c3, 1);
        const uint64_t d3 = c2 ^ rotl(c4, 1);
        const uint64_t d4 = c3 ^ rotl(c0, 1);
        /* rho and pi: b[y][2x+3y] = rot(a[x][y] ^ d[x], r[x][y]) */
        const uint64_t b0 = (a0 ^ d0);
        const uint64_t b16 = rotl(a5 ^ d0, 36);
        const uint64_t b7 = rotl(a10 ^ d0, 3);
        const uint64_t b23 = rotl(a15 ^ d0, 41);
        const uint64_t b14 = rotl(a20 ^ d0, 18);
        const uint64_t b10 = rotl(a1 ^ d1, 1);
        const uint64_t b1 = rotl(a6 ^ d1, 44);
        const uint64_t b17 = rotl(a11 ^ d1, 10);
        const uint64_t b8 = rotl(a16 ^ d1, 45);
        const uint64_t b24 = rotl(a21 ^ d1, 2);
        const uint64_t b20 = rotl(a2 ^ d2, 62);
        const uint64_t b11 = rotl(a7 ^ d2, 6);
        const uint64_t b2 = rotl(a12 ^ d2, 43);
        const uint64_t b18 = rotl(a17 ^ d2, 15);
        const uint64_t b9 = rotl(a22 ^ d2, 61);
        const uint64_t b5 = rotl(a3 ^ d3, 28);
        const uint64_t b21 = rotl(a8 ^ d3, 55);
        const uint64_t b12 = rotl(a13 ^ d3, 25);
        const uint64_t b3 = rotl(a18 ^ d3, 21);
        const uint64_t b19 = rotl(a23 ^ d3, 56);
        const uint64_t b15 = rotl(a4 ^ d4, 27);
        const uint64_t b6 = rotl(a9 ^ d4, 20);
        const uint64_t b22 = rotl(a14 ^ d4, 39);
        const uint64_t b13 = rotl(a19 ^ d4, 8);
        const uint64_t b4 = rotl(a24 ^ d4, 14);
        /* chi: a[x][y] = b[x][y] ^ (~b[x+1][y] & b[x+2][y]) */
        a0 = b0 ^ (~b1 & b2);
        a1 = b1 ^ (~b2 & b3);
        a2 = b2 ^ (~b3 & b4);
        a3 = b3 ^ (~b4 & b0);
        a4 = b4 ^ (~b0 & b1);
        a5 = b5 ^ (~b6 & b7);
        a6 = b6 ^ (~b7 & b8);
        a7 = b7 ^ (~b8 & b9);
        a8 = b8 ^ (~b9 & b5);
        a9 = b9 ^ (~b5 & b6);
        a10 = b10 ^ (~b11 & b12);
        a11 = b11 ^ (~b12 & b13);
        a12 = b12 ^ (~b13 & b14);
        a13 = b13 ^ (~b14 & b10);
        a14 = b14 ^ (~b10 & b11);
        a15 = b15 ^ (~b16 & b17);
        a16 = b16 ^ (~b17 & b18);
        a17 = b17 ^ (~b18 & b19);
        a18 = b18 ^ (~b19 & b15);
        a19 = b19 ^ (~b15 & b16);
        a20 = b20 ^ (~b21 & b22);
        a21 = b21 ^ (~b22 & b23);
        a22 = b22 ^ (~b23 & b24);
        a23 = b23 ^ (~b24 & b20);
        a24 = b24 ^ (~b20 & b21);
        /* iota */
        a0 ^= round_constants[round];
    }
    s[0] = a0;
    s[1] = a1;
    s[2] = a2;
    s[3] = a3;
    s[4] = a4;
    s[5] = a5;
    s[6] = a6;
    s[7] = a7;
    s[8] = a8;
    s[9] = a9;
    s[10] = a10;
    s[11] = a11;
    s[12] = a12;
    s[13] = a13;
    s[14] = a14;
    s[15] = a15;
    s[16] = a16;
    s[17] = a17;
    s[18] = a18;
    s[19] = a19;
    s[20] = a20;
    s[21] = a21;
    s[22] = a22;
    s[23] = a23;
    s[24] = a24;
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
