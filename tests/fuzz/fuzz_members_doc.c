/*
 * fuzz_members_doc.c - libFuzzer target for the members document (cs_members_decode):
 * anyone who can write the store or talk to a member can send one. Whatever the bytes, the
 * decode returns 0 only for a document within the caps whose endpoints parse and whose
 * signature recovers; it never reads past the bytes, nor crashes.
 */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "common/secp.h"
#include "config/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    struct cohort_error err = {0};
    if (!ready) {
        if (secp_init(&err) < 0) return 0;
        ready = 1;
    }
    struct cs_members_doc doc;
    int rc = cs_members_decode(data, size, &doc, &err);
    assert(rc == 0 || rc == CS_E_INVALID || rc == CS_E_RANGE);
    if (rc == 0) {
        assert(size <= CS_MEMBERS_DOC_MAX);
        assert(doc.count >= CS_MEMBERS_MIN && doc.count <= CS_MEMBERS_MAX && doc.epoch >= 1);
        for (uint32_t i = 0; i < doc.count; i++) assert(strlen(doc.endpoint[i]) < BFT_ENDPOINT_MAX);
        struct cs_members_doc again;
        assert(cs_members_decode(data, size, &again, &err) == 0 && memcmp(&doc, &again, sizeof doc) == 0);
    } else {
        assert(err.message[0] != '\0');
    }
    return 0;
}
