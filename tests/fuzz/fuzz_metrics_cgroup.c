/*
 * fuzz_metrics_cgroup.c - libFuzzer target for what the metrics sampler reads from the
 * kernel: cgroup files (a number, keyed memory.stat/cpu.stat, v1 blkio, v2 io.stat) and
 * /proc files (net/dev, stat, meminfo). The first byte picks the parser.
 */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "metrics/metrics.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    struct cohort_error err = {0};
    uint64_t a = 0, b = 0;
    double seconds[8];
    int rc = 0;
    switch (data[0] % 7) {
    case 0: rc = metrics_parse_number(text, len, &a, &err); break;
    case 1: rc = metrics_parse_keyed(text, len, "total_inactive_file", &a, &err); break;
    case 2: rc = metrics_parse_blkio_v1(text, len, &a, &b, &err); break;
    case 3: rc = metrics_parse_io_stat(text, len, &a, &b, &err); break;
    case 4: rc = metrics_parse_net_dev(text, len, &a, &b, &err); break;
    case 5: rc = metrics_parse_proc_stat(text, len, 100, seconds, &err); break;
    case 6: rc = metrics_parse_meminfo(text, len, &a, &b, &err); break;
    }
    /* An error always says something; success never leaves one. */
    assert(rc == 0 || (rc < 0 && err.message[0] != '\0'));
    return 0;
}
