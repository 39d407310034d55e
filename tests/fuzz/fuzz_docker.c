/*
 * fuzz_docker.c - libFuzzer target for what cohort reads from dockerd: the multiplexed log
 * stream (fed in two pieces split at a point chosen by the input) and container JSON.
 */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "docker/docker.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t seen;
static void on_chunk(void *ctx, int stream, const char *bytes, size_t len)
{
    (void)ctx;
    (void)bytes;
    assert(stream >= 0 && stream <= 2);
    seen += len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    size_t split = data[0] % (size);
    struct docker_frame_decoder d;
    struct cohort_error err = {0};
    seen = 0;
    docker_frame_decoder_init(&d, 1 << 16, on_chunk, NULL);
    if (docker_frame_decoder_feed(&d, data + 1, split, &err) == 0)
        (void)docker_frame_decoder_feed(&d, data + 1 + split, size - 1 - split, &err);
    docker_frame_decoder_free(&d);
    assert(seen <= size);

    struct docker_container c;
    if (docker_parse_container((const char *)data, size, &c, &err) == 0) {
        assert(c.id[0] != '\0');
        assert(c.nlabels <= DOCKER_MAX_LABELS);
    }
    return 0;
}
