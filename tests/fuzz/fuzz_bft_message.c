/*
 * fuzz_bft_message.c - libFuzzer target for the BFT message decoder and the commit-record
 * decoder: any input is either refused with an error message or decodes to a message that
 * re-encodes to the same bytes up to the signature (the layout has one spelling per
 * message). Also feeds the bytes to a core, which must never crash on them.
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bft/bft.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PAYLOAD_MAX 4096

static struct bft_message msg;
static uint8_t again[BFT_MESSAGE_MAX];
static struct bft_core *core;

/* A scheme that signs with zeros and recovers nothing: the fuzzer explores decoding, not ECDSA. */
static int null_sign(const void *ctx, const uint8_t key[32], const uint8_t hash[32], uint8_t sig[65])
{
    (void)ctx, (void)key, (void)hash;
    memset(sig, 0, 65);
    return 0;
}

static int null_recover(const void *ctx, const uint8_t hash[32], const uint8_t sig[65], uint8_t address[20])
{
    (void)ctx, (void)hash;
    memcpy(address, sig, 20); /* "signed" by whoever the first bytes name */
    return 0;
}

static const struct bft_scheme null_scheme = {null_sign, null_recover, NULL};

static void make_core(void)
{
    struct bft_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.instance = 1;
    cfg.members.count = 4;
    for (int i = 0; i < 4; i++) memset(cfg.members.address[i], i + 1, 20);
    cfg.self = 0;
    cfg.private_key[31] = 1;
    cfg.scheme = &null_scheme;
    cfg.payload_max_bytes = PAYLOAD_MAX;
    cfg.window_heights = 8;
    cfg.timeout_ms = 10;
    core = bft_core_create(&cfg, NULL);
    assert(core != NULL);
    const struct bft_action *a;
    size_t n;
    struct bft_event start = {BFT_EVENT_START, NULL, 0, 0, 0, 0, false};
    assert(bft_core_step(core, &start, &a, &n, NULL) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (core == NULL) make_core();
    struct cohort_error err = {0};
    if (bft_message_decode(data, size, PAYLOAD_MAX, &msg, &err) == 0) {
        size_t len = 0;
        uint8_t key[32] = {0};
        key[31] = 1;
        int rc = bft_message_encode(&msg, key, &null_scheme, again, sizeof again, &len, &err);
        assert(rc == 0);
        assert(len == size);
        assert(memcmp(again, data, size - BFT_SIGNATURE_BYTES) == 0);
    } else {
        assert(err.code < 0);
        assert(err.message[0] != '\0');
    }

    struct bft_commit *c = &msg.commit;
    if (bft_commit_decode(data, size, 1, PAYLOAD_MAX, c, &err) == 0) {
        size_t len = 0;
        assert(bft_commit_encode(c, again, sizeof again, &len, &err) == 0);
        assert(len == size && memcmp(again, data, size) == 0);
    }

    /* A BLOCK record (the WAL's, so outside data after a disk fault) round-trips too. */
    struct bft_block block;
    uint8_t hash[BFT_HASH_BYTES];
    if (bft_block_decode(data, size, 1, PAYLOAD_MAX, &block, hash, &err) == 0) {
        size_t len = 0;
        assert(block.payload_len <= PAYLOAD_MAX);
        assert(bft_block_encode(&block, again, sizeof again, &len, &err) == 0);
        assert(len == size && memcmp(again, data, size) == 0);
    }

    /* A CERT record (the WAL's: the notarization a finalize vote relies on) round-trips too. */
    struct bft_cert cert;
    if (bft_cert_decode(data, size, &cert, &err) == 0) {
        size_t len = 0;
        assert(cert.count >= 1 && cert.count <= BFT_MEMBERS_MAX);
        assert(bft_cert_encode(&cert, again, sizeof again, &len, &err) == 0);
        assert(len == size && memcmp(again, data, size) == 0);
    }

    /* The core takes anything from the network without failing. */
    const struct bft_action *a;
    size_t n;
    struct bft_event ev = {BFT_EVENT_MESSAGE, data, size, 0, 0, 0, false};
    assert(bft_core_step(core, &ev, &a, &n, &err) == 0);
    return 0;
}
