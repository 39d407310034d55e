/*
 * fuzz_cluster_image.c - libFuzzer target for the image document cohort-core reads from
 * the cluster's store (cluster_image_parse): anyone who can write the store can write the
 * key. Whatever it holds, the parse returns 0 only for a document that recovers to the one
 * admin below; it never reads past the value, nor crashes.
 */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "common/secp.h"
#include "core/cluster_image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t admin[1][20];
    static int ready;
    struct cohort_error err = {0};
    if (!ready) {
        uint8_t key[32] = {0};
        key[31] = 7;
        if (secp_init(&err) < 0 || secp_address_from_secret(key, admin[0], &err) < 0) return 0;
        ready = 1;
    }
    struct cluster_image img;
    int rc = cluster_image_parse((const char *)data, size, 5, (const uint8_t(*)[20])admin, 1, &img, &err);
    assert(rc == 0 || rc == COMMON_E_INVALID || rc == COMMON_E_RANGE);
    if (rc == 0) {
        assert(memcmp(img.signer, admin[0], 20) == 0);
        assert(img.serial >= 1 && img.serial <= CLUSTER_IMAGE_SERIAL_MAX);
        assert(cluster_image_check_digest(img.digest, strlen(img.digest), &err) == 0);
    } else {
        assert(err.message[0] != '\0');
    }
    return 0;
}
