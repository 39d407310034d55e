/*
 * frames.c - Docker's multiplexed stream framing (logs and attach of non-TTY containers):
 *
 *   byte 0: stream (0 stdin, 1 stdout, 2 stderr)   bytes 1-3: zero
 *   bytes 4-7: payload length, big-endian uint32   then the payload
 *
 * The decoder takes bytes in any split and calls back per whole frame. Frame payloads are
 * capped at 1 MiB and the whole stream at max_total.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define FRAME_MAX (1u << 20)

void docker_frame_decoder_init(struct docker_frame_decoder *d, size_t max_total,
                               void (*on_chunk)(void *ctx, int stream, const char *data, size_t len), void *ctx)
{
    memset(d, 0, sizeof *d);
    d->max_total = max_total;
    d->on_chunk = on_chunk;
    d->ctx = ctx;
}

void docker_frame_decoder_free(struct docker_frame_decoder *d)
{
    free(d->payload);
    d->payload = NULL;
}

int docker_frame_decoder_feed(struct docker_frame_decoder *d, const uint8_t *data, size_t len, struct cohort_error *err)
{
    while (len > 0) {
        if (d->header_len < 8) {
            size_t take = 8 - d->header_len < len ? 8 - d->header_len : len;
            memcpy(d->header + d->header_len, data, take);
            d->header_len += take;
            data += take;
            len -= take;
            if (d->header_len < 8) return 0;
            if (d->header[0] > 2 || d->header[1] || d->header[2] || d->header[3])
                return cohort_error_set(err, DOCKER_E_MALFORMED, DOMAIN,
                                        "log stream: bad frame header %02x %02x %02x %02x (a TTY container?)",
                                        d->header[0], d->header[1], d->header[2], d->header[3]);
            d->stream = d->header[0];
            d->payload_need = (size_t)d->header[4] << 24 | (size_t)d->header[5] << 16 | (size_t)d->header[6] << 8 | d->header[7];
            if (d->payload_need > FRAME_MAX)
                return cohort_error_set(err, DOCKER_E_TOO_LARGE, DOMAIN, "log stream: frame of %zu bytes over the %u cap",
                                        d->payload_need, FRAME_MAX);
            if (d->payload_need > d->max_total - d->total)
                return cohort_error_set(err, DOCKER_E_TOO_LARGE, DOMAIN, "log stream: more than %zu bytes", d->max_total);
            if (d->payload_need > d->payload_cap) {
                char *grown = realloc(d->payload, d->payload_need);
                if (grown == NULL) return cohort_error_set(err, DOCKER_E_NOMEM, DOMAIN, "log stream: out of memory");
                d->payload = grown;
                d->payload_cap = d->payload_need;
            }
            d->payload_len = 0;
            if (d->payload_need == 0) { /* an empty frame is whole with its header */
                if (d->on_chunk) d->on_chunk(d->ctx, d->stream, "", 0);
                d->header_len = 0;
                continue;
            }
        }
        size_t take = d->payload_need - d->payload_len < len ? d->payload_need - d->payload_len : len;
        if (take > 0) memcpy(d->payload + d->payload_len, data, take); /* an empty frame has no buffer yet */
        d->payload_len += take;
        data += take;
        len -= take;
        if (d->payload_len == d->payload_need) {
            d->total += d->payload_len;
            if (d->on_chunk) d->on_chunk(d->ctx, d->stream, d->payload ? d->payload : "", d->payload_len);
            d->header_len = 0;
        }
    }
    return 0;
}
