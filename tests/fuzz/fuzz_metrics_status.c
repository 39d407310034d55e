/*
 * fuzz_metrics_status.c - libFuzzer target for a subnode's GET /status body as the metrics
 * sampler decodes it: any bytes, deeply nested or not JSON at all, must decode or fail
 * cleanly, and what decodes keeps the decoder's promises.
 */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "metrics/metrics.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct metrics_subnode_status s;
    struct cohort_error err = {0};
    if (metrics_parse_subnode_status((const char *)data, size, &s, &err) == 0) {
        assert((s.present & ~0x3ffu) == 0);
        assert(strlen(s.config_hash) < sizeof s.config_hash);
        /* Figures are exact JSON integers. */
        if (s.present & METRICS_CHAIN_HEIGHT) assert(s.height <= (1ull << 53));
    } else {
        assert(err.message[0] != '\0');
    }
    return 0;
}
