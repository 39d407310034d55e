/* fuzz_cluster_file.c - libFuzzer target: any bytes as a cluster file; what parses keeps the file's rules. */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "config/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct cluster c;
    struct cohort_error err = {0};
    if (cluster_parse((const char *)data, size, &c, &err) != 0) {
        assert(err.message[0] != '\0');
        return 0;
    }
    assert(size <= CLUSTER_FILE_MAX_BYTES);
    assert(c.count >= 4 && c.count <= BFT_MEMBERS_MAX);
    assert(c.timeout_ms >= 20 && c.snapshot_every >= 16);
    assert(c.fill_wait_ms <= c.timeout_ms / 10);
    assert(c.nadmins <= CLUSTER_ADMINS_MAX);
    for (uint32_t i = 0; i < c.count; i++)
        for (uint32_t j = 0; j < i; j++) {
            assert(memcmp(c.address[i], c.address[j], 20) != 0);
            assert(strcmp(c.endpoint[i], c.endpoint[j]) != 0);
        }
    return 0;
}
