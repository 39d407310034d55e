/*
 * fuzz_keystore.c - libFuzzer target for V3 keystore decoding: hostile JSON is refused
 * with a message, never a crash. Inputs asking for large KDF work (any number of more than
 * five digits) are skipped so each run stays fast; the caps on that work are unit-tested.
 */
#include <assert.h>
#include <ctype.h>
#include <stdint.h>
#include <string.h>

#include "manager-client/manager_client.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 8192) return 0;
    size_t run = 0;
    for (size_t i = 0; i < size; i++) {
        run = isdigit(data[i]) ? run + 1 : 0;
        if (run > 5) return 0;
    }
    uint8_t key[32], address[20];
    struct cohort_error err = {0};
    int rc = mc_keystore_decrypt((const char *)data, size, "password", 8, key, address, &err);
    if (rc != 0) assert(err.message[0] != '\0');
    return 0;
}
