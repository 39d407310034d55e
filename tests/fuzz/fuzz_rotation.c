/* fuzz_rotation.c - libFuzzer target: any bytes as a VOUCH, CHANGE, DONE or ABSENT entry from the chain's
   BFT log (common/chain_rotation.h); what decodes encodes back to the same bytes. */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "common/chain_rotation.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cohort_error err = {0};
    struct rotation_vouch v;
    int rc = rotation_vouch_decode(data, size, &v, &err);
    if (rc == 1) {
        uint8_t again[ROTATION_VOUCH_BYTES];
        assert(size == ROTATION_VOUCH_BYTES);
        rotation_vouch_encode(v.voucher, v.sequence, v.record_bytes, v.signature, again);
        assert(memcmp(again, data, size) == 0);
        uint8_t record[ROTATION_RECORD_BYTES];
        rotation_record_encode(&v.record, record);
        assert(memcmp(record, v.record_bytes, sizeof record) == 0);
    } else if (rc < 0) {
        assert(err.message[0] != '\0');
    }
    static struct rotation_change c;
    err.message[0] = '\0';
    rc = rotation_change_decode(data, size, &c, &err);
    if (rc == 1) {
        static uint8_t again[ROTATION_CHANGE_MAX_BYTES];
        assert(size <= ROTATION_CHANGE_MAX_BYTES);
        assert(rotation_change_encode(&c, again) == size);
        assert(memcmp(again, data, size) == 0);
    } else if (rc < 0) {
        assert(err.message[0] != '\0');
    }
    struct rotation_absent a;
    err.message[0] = '\0';
    rc = rotation_absent_decode(data, size, &a, &err);
    if (rc == 1) {
        uint8_t again[ROTATION_ABSENT_BYTES];
        assert(size == ROTATION_ABSENT_BYTES);
        rotation_absent_encode(&a, again);
        assert(memcmp(again, data, size) == 0);
    } else if (rc < 0) {
        assert(err.message[0] != '\0');
    }
    struct rotation_done d;
    err.message[0] = '\0';
    rc = rotation_done_decode(data, size, &d, &err);
    if (rc == 1) {
        uint8_t again[ROTATION_DONE_BYTES];
        assert(size == ROTATION_DONE_BYTES);
        rotation_done_encode(&d, again);
        assert(memcmp(again, data, size) == 0);
    } else if (rc < 0) {
        assert(err.message[0] != '\0');
    }
    return 0;
}
