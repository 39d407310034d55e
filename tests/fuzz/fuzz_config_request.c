/*
 * fuzz_config_request.c - libFuzzer target for the config store's request decoder and its
 * state machine.
 *
 * Any input is either refused with an error message or decodes to a request that
 * re-encodes to the same bytes up to the signature (the layout has one spelling per
 * request). Every input is also applied to a store as it is: it must be refused, or (a
 * seed, signed by the member key below) applied. A request that decodes is then re-signed
 * by a member for this cluster and applied to two stores, which must agree on the result
 * and the digest; one that deletes the members key, or writes it with anything but an
 * admin-signed document put alone, is refused by both and changes nothing. Applied once
 * more, an applied request is a duplicate. The seeds (tests/fuzz/seeds/fuzz_config_request/)
 * are requests signed with that member key, but delete_members_prefix, which the fuzzer
 * found: a prefix delete of "/c", signed by nobody.
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "common/secp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define INSTANCE 1

static uint8_t member_key[32], preload_key[32];
static uint8_t members[2][20];
static uint8_t preload[2][512];
static size_t preload_len[2];
static struct cs_request req, again_req;
static uint8_t again[CS_REQUEST_MAX];

struct seen {
    int calls;
    int status;
    uint64_t revision;
    bool succeeded;
    uint32_t deleted;
    size_t nkvs;
};

static void on_result(void *arg, const struct cs_result *r)
{
    struct seen *s = arg;
    s->calls++;
    s->status = r->status;
    s->revision = r->revision;
    s->succeeded = r->succeeded;
    s->deleted = r->deleted;
    s->nkvs = r->nkvs;
    assert(r->status == CS_OK || r->message != NULL);
    assert(r->status == CS_OK || r->nkvs == 0);
    for (int i = 1; i < CS_TXN_OPS_MAX; i++) assert(r->range_start[i - 1] <= r->range_start[i]);
    assert(r->range_start[CS_TXN_OPS_MAX - 1] <= r->nkvs);
    for (size_t i = 0; i < r->nkvs; i++) {
        assert(r->kvs[i].key_len >= 1);
        assert(r->kvs[i].version >= 1);
        assert(r->kvs[i].create_revision <= r->kvs[i].mod_revision);
        assert(r->kvs[i].mod_revision <= r->revision);
    }
}

static void setup(void)
{
    struct cohort_error err = {0};
    member_key[0] = 0x42;
    member_key[31] = 1;
    assert(secp_address_from_secret(member_key, members[0], &err) == 0);
    /* Another member writes the first keys, so their ids cannot be duplicates of the input's. */
    preload_key[0] = 0x42;
    preload_key[31] = 2;
    assert(secp_address_from_secret(preload_key, members[1], &err) == 0);
    /* Some keys to find: "a" (version 2), "a/b", "b". */
    struct cs_request r;
    memset(&r, 0, sizeof r);
    r.instance = INSTANCE;
    r.id[0] = 0xf1;
    r.nsuccess = 3;
    r.success[0] = (struct cs_op){CS_OP_PUT, false, (const uint8_t *)"a", 1, (const uint8_t *)"1", 1};
    r.success[1] = (struct cs_op){CS_OP_PUT, false, (const uint8_t *)"a/b", 3, (const uint8_t *)"2", 1};
    r.success[2] = (struct cs_op){CS_OP_PUT, false, (const uint8_t *)"b", 1, (const uint8_t *)"", 0};
    assert(cs_request_encode(&r, preload_key, preload[0], sizeof preload[0], &preload_len[0], &err) == 0);
    r.id[0] = 0xf2;
    r.nsuccess = 1;
    assert(cs_request_encode(&r, preload_key, preload[1], sizeof preload[1], &preload_len[1], &err) == 0);
}

static struct cs_store *new_store(void)
{
    struct cohort_error err = {0};
    struct cs_store *s = cs_store_create(INSTANCE, (const uint8_t(*)[20])members, 2, NULL, 0, &err);
    assert(s != NULL);
    for (int i = 0; i < 2; i++) assert(cs_store_apply(s, preload[i], preload_len[i], NULL, NULL) == CS_OK);
    assert(cs_store_revision(s) == 2);
    return s;
}

/* Does any operation of either branch name CS_MEMBERS_KEY, or a prefix of it? */
static bool touches_members_key(const struct cs_request *r)
{
    static const uint8_t key[] = CS_MEMBERS_KEY;
    const size_t key_len = sizeof key - 1;
    const struct cs_op *branches[2] = {r->success, r->failure};
    const unsigned counts[2] = {r->nsuccess, r->nfailure};
    for (int b = 0; b < 2; b++)
        for (unsigned i = 0; i < counts[b]; i++) {
            const struct cs_op *op = &branches[b][i];
            if (op->type == CS_OP_RANGE) continue;
            if (op->key_len == key_len && memcmp(op->key, key, key_len) == 0) return true;
            if (op->prefix && op->key_len <= key_len && memcmp(op->key, key, op->key_len) == 0) return true;
        }
    return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool ready;
    if (!ready) {
        setup();
        ready = true;
    }
    struct cohort_error err = {0};
    bool decoded = cs_request_decode(data, size, &req, &err) == 0;
    if (decoded) {
        size_t len = 0;
        assert(cs_request_encode(&req, member_key, again, sizeof again, &len, &err) == 0);
        assert(len == size);
        assert(memcmp(again, data, size - CS_SIGNATURE_BYTES) == 0);
    } else {
        assert(err.code == CS_E_INVALID || err.code == CS_E_RANGE);
        assert(err.message[0] != '\0');
    }

    /* As it is: anything but a seed's signature is refused and changes nothing. A batch
       (CS_BATCH_MAGIC) is not a request: well framed, it is refused for its instance or its
       signer (nobody here signs one), not as malformed. */
    struct cs_store *a = new_store();
    uint8_t before[32], after[32];
    cs_store_digest(a, before);
    struct seen raw = {0};
    int rc = cs_store_apply(a, data, size, on_result, &raw);
    assert(raw.calls == 1 && raw.status == rc);
    bool batch = size >= 4 && memcmp(data, CS_BATCH_MAGIC, 4) == 0;
    if (batch) assert(rc == CS_E_INVALID || rc == CS_E_INSTANCE || rc == CS_E_UNAUTHORIZED);
    else if (!decoded) assert(rc == CS_E_INVALID);
    if (rc != CS_OK) {
        cs_store_digest(a, after);
        assert(memcmp(before, after, 32) == 0);
        assert(cs_store_revision(a) == 2);
    }
    cs_store_destroy(a);

    if (!decoded) return 0;
    /* Re-signed by a member for this cluster: two stores agree, and a retry is a duplicate. */
    again_req = req;
    again_req.instance = INSTANCE;
    size_t len = 0;
    assert(cs_request_encode(&again_req, member_key, again, sizeof again, &len, &err) == 0);
    a = new_store();
    struct cs_store *b = new_store();
    struct seen ra = {0}, rb = {0};
    int status = cs_store_apply(a, again, len, on_result, &ra);
    assert(cs_store_apply(b, again, len, on_result, &rb) == status);
    if (touches_members_key(&again_req)) {
        /* Only an admin-signed members document, put alone, may write it (config.h
           "Membership changes"); anything else on it is refused and changes nothing. */
        if (status != CS_OK) {
            uint8_t da[32], db[32];
            assert(status == CS_E_INVALID && ra.nkvs == 0);
            cs_store_digest(a, da);
            cs_store_digest(b, db);
            assert(memcmp(da, before, 32) == 0 && memcmp(db, before, 32) == 0);
            assert(cs_store_revision(a) == 2 && cs_store_revision(b) == 2);
            cs_store_destroy(a);
            cs_store_destroy(b);
            return 0;
        }
    }
    assert(status == CS_OK); /* a store this small is never full */
    assert(ra.revision == rb.revision && ra.succeeded == rb.succeeded && ra.deleted == rb.deleted &&
           ra.nkvs == rb.nkvs);
    uint8_t da[32], db[32];
    cs_store_digest(a, da);
    cs_store_digest(b, db);
    assert(memcmp(da, db, 32) == 0);
    assert(cs_store_revision(a) == ra.revision);
    assert(ra.revision == 2 || ra.revision == 3);
    struct seen retry = {0};
    rc = cs_store_apply(a, again, len, on_result, &retry);
    assert(rc == CS_E_DUPLICATE);
    assert(retry.revision == ra.revision);
    cs_store_digest(a, db);
    assert(memcmp(da, db, 32) == 0);

    /* The watch history holds what the request changed, and nothing before the store began. */
    uint64_t next = 0;
    int n = cs_store_watch(a, 0, NULL, 0, 0, NULL, NULL, &next, &err);
    assert(n >= 4);
    assert(next == ra.revision + 1);
    cs_store_destroy(a);
    cs_store_destroy(b);
    return 0;
}
