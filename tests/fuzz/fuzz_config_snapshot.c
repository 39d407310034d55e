/*
 * fuzz_config_snapshot.c - libFuzzer target for the config store's snapshot decoder
 * (cs_store_restore) and the stores it restores.
 *
 * Any input is either refused with an error message, leaving the store it was restored into
 * as it was, or restores a state that snapshots again to exactly the input (the layout has
 * one spelling per state). Almost every mutation breaks the trailing checksum, so each input
 * is also tried with its checksum made right, which lets the fuzzer reach the fields behind
 * it. A restored store must also work as one: a watch over its whole history runs, a
 * delete and a put apply to it, and the store after them snapshots and restores to the same
 * digest. The
 * seeds (tests/fuzz/seeds/fuzz_config_snapshot/) are snapshots of instance-1 stores.
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/keccak.h"
#include "common/secp.h"
#include "config/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define INSTANCE 1
#define CHECKSUM_BYTES 32
#define MIN_SNAPSHOT (40 + CHECKSUM_BYTES)

static uint8_t member_key[32];
static uint8_t members[1][20];
static uint8_t preload[512], later[512];
static size_t preload_len, later_len;
/* A store's state to restore into: its keys and history, but an empty dedup window, so
 * that setting it up per input neither checks a signature nor allocates the dedup table. */
static uint8_t *baseline;
static size_t baseline_len;

static struct cs_store *new_store(void);

static void setup(void)
{
    struct cohort_error err = {0};
    member_key[0] = 0x42;
    member_key[31] = 1;
    assert(secp_address_from_secret(member_key, members[0], &err) == 0);
    struct cs_request r;
    memset(&r, 0, sizeof r);
    r.instance = INSTANCE;
    r.id[0] = 0xa1;
    r.nsuccess = 1;
    r.success[0] = (struct cs_op){CS_OP_PUT, false, (const uint8_t *)"pre", 3, (const uint8_t *)"1", 1};
    assert(cs_request_encode(&r, member_key, preload, sizeof preload, &preload_len, &err) == 0);
    /* Later: a delete of whatever starts with "a" (often nothing), then a put. */
    r.id[0] = 0xa2;
    r.nsuccess = 2;
    r.success[0] = (struct cs_op){CS_OP_DELETE, true, (const uint8_t *)"a", 1, NULL, 0};
    r.success[1] = (struct cs_op){CS_OP_PUT, false, (const uint8_t *)"a", 1, (const uint8_t *)"later", 5};
    assert(cs_request_encode(&r, member_key, later, sizeof later, &later_len, &err) == 0);

    struct cs_store *s = new_store();
    assert(cs_store_apply(s, preload, preload_len, NULL, NULL) == CS_OK);
    assert(cs_store_snapshot(s, &baseline, &baseline_len, &err) == 0);
    cs_store_destroy(s);
    /* Drop its one dedup entry (the last 45 bytes before the checksum) and count. */
    assert(baseline[39] == 1);
    baseline[39] = 0;
    baseline_len -= 45;
    keccak256(baseline, baseline_len - CHECKSUM_BYTES, baseline + baseline_len - CHECKSUM_BYTES);
}

static struct cs_store *new_store(void)
{
    struct cohort_error err = {0};
    struct cs_store *s = cs_store_create(INSTANCE, (const uint8_t(*)[20])members, 1, NULL, 0, &err);
    assert(s != NULL);
    return s;
}

static void count_event(void *arg, const struct cs_event *e)
{
    size_t *n = arg;
    assert(e->type == CS_OP_PUT || e->type == CS_OP_DELETE);
    assert(e->kv.key_len >= 1);
    (*n)++;
}

static void check(const uint8_t *data, size_t size)
{
    /* A store with something in it, so that "unchanged" means something. */
    struct cs_store *s = new_store();
    struct cohort_error err = {0};
    assert(cs_store_restore(s, baseline, baseline_len, &err) == 0);
    assert(cs_store_revision(s) == 1);
    uint8_t *before = NULL, *again = NULL;
    size_t before_len = 0, again_len = 0;
    assert(cs_store_snapshot(s, &before, &before_len, &err) == 0);

    int rc = cs_store_restore(s, data, size, &err);
    if (rc != 0) {
        assert(rc == CS_E_INVALID || rc == CS_E_RANGE || rc == CS_E_INSTANCE || rc == CS_E_NOMEM);
        assert(err.code == rc);
        assert(strncmp(err.message, "snapshot: ", 10) == 0);
        assert(cs_store_snapshot(s, &again, &again_len, &err) == 0);
        assert(again_len == before_len);
        assert(memcmp(again, before, before_len) == 0);
        free(before);
        free(again);
        cs_store_destroy(s);
        return;
    }
    free(before);

    /* One spelling per state: the snapshot of what was restored is the input. */
    assert(cs_store_snapshot(s, &again, &again_len, &err) == 0);
    assert(again_len == size);
    assert(memcmp(again, data, size) == 0);
    free(again);

    /* It works as a store: its whole history can be watched, and a put applies. */
    uint64_t revision = cs_store_revision(s), next = 0;
    size_t events = 0;
    for (uint64_t from = 0;; from = next) {
        size_t got = 0;
        int n = cs_store_watch(s, from, NULL, 0, 3, count_event, &got, &next, &err);
        if (n == CS_E_COMPACTED) {
            assert(from == 0);
            assert(strstr(err.message, "starts at revision ") != NULL);
            next = strtoull(strstr(err.message, "starts at revision ") + strlen("starts at revision "), NULL, 10);
            assert(next >= 2 && next <= revision);
            continue;
        }
        assert(n >= 0);
        assert((size_t)n == got);
        events += got;
        if (n == 0) break;
        assert(next > from);
    }
    assert(next == revision + 1 || (revision == 0 && next == 1));
    assert((events == 0) == (revision == 0));

    rc = cs_store_apply(s, later, later_len, NULL, NULL);
    assert(rc == CS_OK || rc == CS_E_DUPLICATE || rc == CS_E_FULL);
    if (rc == CS_OK) assert(cs_store_revision(s) == revision + 1);
    else assert(cs_store_revision(s) == revision);

    /* The store after the put is one a snapshot can hold (unless the put passed the cap on
     * revisions, which only a snapshot made up at the cap can bring about). */
    if (cs_store_revision(s) <= CS_REVISION_MAX) {
        assert(cs_store_snapshot(s, &again, &again_len, &err) == 0);
        struct cs_store *t = new_store();
        assert(cs_store_restore(t, again, again_len, &err) == 0);
        uint8_t ds[32], dt[32];
        cs_store_digest(s, ds);
        cs_store_digest(t, dt);
        assert(memcmp(ds, dt, 32) == 0);
        assert(cs_store_apply(t, later, later_len, NULL, NULL) == CS_E_DUPLICATE || rc != CS_OK);
        free(again);
        cs_store_destroy(t);
    }
    cs_store_destroy(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool ready;
    if (!ready) {
        setup();
        ready = true;
    }
    check(data, size);
    if (size < MIN_SNAPSHOT) return 0;
    /* The same bytes with a checksum that matches them. */
    uint8_t *fixed = malloc(size);
    assert(fixed != NULL);
    memcpy(fixed, data, size);
    keccak256(fixed, size - CHECKSUM_BYTES, fixed + size - CHECKSUM_BYTES);
    if (memcmp(fixed + size - CHECKSUM_BYTES, data + size - CHECKSUM_BYTES, CHECKSUM_BYTES) != 0) check(fixed, size);
    free(fixed);
    return 0;
}
