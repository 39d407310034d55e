/*
 * fuzz_metrics_query.c - libFuzzer target for the query strings of the local API's metrics
 * endpoints (/api/v1/metrics, /api/v1/usage): chain, since, until, step, percent-encoded.
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/metrics.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (text == NULL) return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    struct metrics_query q;
    struct cohort_error err = {0};
    if (metrics_parse_query(text, 1764842400000, &q, &err) == 0) {
        assert(strlen(q.chain) < sizeof q.chain);
        if (q.has_since && q.has_until) assert(q.since_ms <= q.until_ms);
        if (q.has_step) assert(q.step_ms >= 0);
    } else {
        assert(err.message[0] != '\0');
    }
    int64_t ms;
    if (metrics_parse_duration(text, &ms, &err) == 0) assert(ms >= 0);
    free(text);
    return 0;
}
