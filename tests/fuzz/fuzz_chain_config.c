/* fuzz_chain_config.c - libFuzzer target: any bytes as a chain config; what decodes re-encodes and decodes the same. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/chain_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct chain_config c, back;
    struct cohort_error err = {0};
    if (chain_config_decode((const char *)data, size, &c, &err) != 0) {
        assert(err.message[0] != '\0');
        return 0;
    }
    char *json = NULL;
    assert(chain_config_encode(&c, &json, &err) == 0);
    assert(chain_config_decode(json, strlen(json), &back, &err) == 0);
    assert(memcmp(&c, &back, sizeof c) == 0);
    free(json);
    return 0;
}
