/*
 * fuzz_bft_link.c - libFuzzer target for the link codec of a BFT node (bft/link.c): the
 * frame length prefix, the HELLO and IDENT decoders and the snapshot OFFER decoder. Any input is either
 * refused with an error message or decodes to fields that encode back to the same bytes
 * (HELLO and OFFER have one spelling). The first bytes also go through the frame parser, at
 * every offset.
 */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "bft/node.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define INSTANCE 0x0102030405060708ull

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cohort_error err = {0};

    /* Frame prefixes: each 4-byte window is a length that is either within the cap or refused. */
    for (size_t i = 0; i + 4 <= size && i < 64; i++) {
        uint32_t len = 0;
        if (bft_frame_length(data + i, &len, &err) == 0) {
            assert(len >= 1 && len <= BFT_MESSAGE_MAX + BFT_FRAME_TAG_BYTES);
        } else {
            assert(err.code == BFT_E_RANGE);
            assert(err.message[0] != '\0');
        }
    }

    /* HELLO: decoded for member self of member_count, both taken from the input's first byte. */
    uint16_t self = size > 0 ? (uint16_t)(data[0] % 8) : 0;
    uint32_t member_count = size > 0 ? 1u + (uint32_t)(data[0] >> 3) % BFT_MEMBERS_MAX : 4;
    uint16_t from = 0;
    uint8_t nonce[32];
    if (bft_hello_decode(data, size, INSTANCE, self, member_count, &from, nonce, &err) == 0) {
        assert(size == BFT_HELLO_BYTES);
        assert(from < member_count && from != self);
        uint8_t again[BFT_HELLO_BYTES];
        bft_hello_encode(INSTANCE, from, self, nonce, again);
        assert(memcmp(again, data, BFT_HELLO_BYTES) == 0);
    } else {
        assert(err.code == BFT_E_INVALID);
        assert(err.message[0] != '\0');
    }

    /* IDENT: what decodes encodes back to the same bytes. */
    {
        uint8_t address[20];
        const uint8_t *proof = NULL;
        size_t proof_len = 0;
        if (bft_ident_decode(data, size, address, &proof, &proof_len, &err) == 0) {
            assert(proof_len <= BFT_PROOF_MAX && proof == data + BFT_IDENT_MIN_BYTES);
            uint8_t again[BFT_IDENT_MAX_BYTES];
            assert(bft_ident_encode(address, proof, proof_len, again) == size);
            assert(memcmp(again, data, size) == 0);
        } else {
            assert(err.code == BFT_E_INVALID && err.message[0] != '\0');
        }
    }

    /* OFFER: the input as it is, and with the marker and the instance put right, so the
       field checks are reached. */
    for (int pass = 0; pass < 2; pass++) {
        uint8_t frame[BFT_OFFER_BYTES];
        size_t flen = size < sizeof frame ? size : sizeof frame;
        memcpy(frame, data, flen);
        if (pass == 1) {
            if (flen != BFT_OFFER_BYTES) break;
            frame[0] = BFT_OFFER_FRAME;
            for (int i = 0; i < 8; i++) frame[1 + i] = (uint8_t)(INSTANCE >> (56 - 8 * i));
        }
        struct bft_snapshot_offer offer;
        uint8_t signature[BFT_SIGNATURE_BYTES];
        const uint8_t *in = pass == 0 ? data : frame;
        size_t in_len = pass == 0 ? size : flen;
        if (bft_offer_decode(in, in_len, INSTANCE, &offer, signature, &err) == 0) {
            assert(in_len == BFT_OFFER_BYTES);
            assert(offer.index >= 1 && offer.height >= offer.index && offer.len <= BFT_SNAPSHOT_MAX_BYTES);
            uint8_t again[BFT_OFFER_BYTES];
            bft_offer_encode(INSTANCE, &offer, signature, again);
            assert(memcmp(again, in, BFT_OFFER_BYTES) == 0);
        } else {
            assert(err.code == BFT_E_INVALID);
            assert(err.message[0] != '\0');
        }
    }

    /* Endpoint text (NUL-terminated copy of at most BFT_ENDPOINT_MAX + 8 bytes). */
    char text[BFT_ENDPOINT_MAX + 8];
    size_t n = size < sizeof text - 1 ? size : sizeof text - 1;
    memcpy(text, data, n);
    text[n] = '\0';
    char ip[16];
    uint16_t port = 0;
    if (bft_endpoint_parse(text, ip, &port, &err) == 0) assert(port > 0 && strlen(ip) >= 7);
    return 0;
}
