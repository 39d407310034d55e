/*
 * address.c - the addresses CREATE and CREATE2 give new contracts.
 *
 * CREATE hashes the RLP list [sender, nonce]. Both items are short, so the encoding is
 * written here by hand rather than through a general RLP encoder:
 *
 *   0xc0+L | 0x94 sender(20) | nonce
 *
 * where L is the payload length (21 + the nonce's length) and the nonce is a byte string:
 * 0x80 for zero, the byte itself for 1..127, else 0x80+n followed by its n big-endian
 * bytes without leading zeros (n <= 8). L is at most 30, below the long-list limit of 55.
 */
#include <assert.h>
#include <string.h>

#include "common/keccak.h"
#include "subnode/evm/evm.h"

void evm_create_address(const uint8_t sender[20], uint64_t nonce, uint8_t out[20])
{
    assert(sender != NULL && out != NULL);
    uint8_t rlp[1 + 21 + 9];
    size_t n = 1;
    rlp[n++] = 0x80 + 20;
    memcpy(rlp + n, sender, 20);
    n += 20;
    if (nonce == 0) {
        rlp[n++] = 0x80;
    } else if (nonce < 0x80) {
        rlp[n++] = (uint8_t)nonce;
    } else {
        unsigned len = 0;
        for (uint64_t v = nonce; v != 0; v >>= 8) len++;
        rlp[n++] = (uint8_t)(0x80 + len);
        for (unsigned i = 0; i < len; i++) rlp[n++] = (uint8_t)(nonce >> (8 * (len - 1 - i)));
    }
    assert(n <= sizeof rlp && n - 1 <= 55);
    rlp[0] = (uint8_t)(0xc0 + (n - 1));
    uint8_t hash[32];
    keccak256(rlp, n, hash);
    memcpy(out, hash + 12, 20);
}

void evm_create2_address(const uint8_t sender[20], const uint8_t salt[32], const uint8_t init_code_hash[32],
                         uint8_t out[20])
{
    assert(sender != NULL && salt != NULL);
    assert(init_code_hash != NULL && out != NULL);
    uint8_t preimage[1 + 20 + 32 + 32];
    preimage[0] = 0xff;
    memcpy(preimage + 1, sender, 20);
    memcpy(preimage + 21, salt, 32);
    memcpy(preimage + 53, init_code_hash, 32);
    uint8_t hash[32];
    keccak256(preimage, sizeof preimage, hash);
    memcpy(out, hash + 12, 20);
}
