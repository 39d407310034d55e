/*
 * bytes.h - big-endian integers in byte buffers, and a bounded writer for encoders.
 *
 * The writer never writes past cap: once something does not fit it sets overflow and
 * keeps counting len, so an encoder writes everything and checks once at the end
 * (overflow: the buffer was too small; len: the size it needed).
 */
#ifndef COHORT_COMMON_BYTES_H
#define COHORT_COMMON_BYTES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Stores the low n bytes of v at p, most significant first (n <= 8). */
static inline void be_put(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++) p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

/* Loads n bytes at p as a big-endian integer (n <= 8). */
static inline uint64_t be_get(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++) v = v << 8 | p[i];
    return v;
}

struct byte_writer {
    uint8_t *out;
    size_t cap;
    size_t len;
    bool overflow; /* set once anything did not fit; len keeps counting */
};

static inline void bw_bytes(struct byte_writer *w, const void *data, size_t len)
{
    if (w->overflow || len > w->cap - w->len) w->overflow = true;
    else if (len > 0) memcpy(w->out + w->len, data, len);
    w->len += len;
}

static inline void bw_uint(struct byte_writer *w, uint64_t v, int n)
{
    uint8_t b[8];
    be_put(b, v, n);
    bw_bytes(w, b, (size_t)n);
}

static inline void bw_u8(struct byte_writer *w, uint8_t v) { bw_bytes(w, &v, 1); }
static inline void bw_u16(struct byte_writer *w, uint16_t v) { bw_uint(w, v, 2); }
static inline void bw_u32(struct byte_writer *w, uint32_t v) { bw_uint(w, v, 4); }
static inline void bw_u64(struct byte_writer *w, uint64_t v) { bw_uint(w, v, 8); }

#endif
