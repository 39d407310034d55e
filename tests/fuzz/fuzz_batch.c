/* fuzz_batch.c - libFuzzer target: any bytes as a chain batch entry from the BFT log; what
   decodes walks to exactly its count of transactions, each within the entry and the cap. */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "subnode/node/batch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct batch_header h;
    struct cohort_error err = {0};
    if (batch_decode(data, size, 4096, &h, &err) != 0) {
        assert(err.message[0] != '\0');
        return 0;
    }
    size_t at = 0, count = 0;
    const uint8_t *tx;
    size_t len;
    while (batch_next_tx(data, size, &at, &tx, &len) == 1) {
        assert(tx >= data && tx + len <= data + size);
        assert(len > 0 && len <= 4096);
        count++;
    }
    assert(count == h.count);
    assert(at == size);
    /* The header encodes back to the same bytes. */
    uint8_t again[BATCH_HEADER_BYTES];
    batch_header_encode(&h, again);
    assert(memcmp(again, data, BATCH_HEADER_BYTES) == 0);
    return 0;
}
