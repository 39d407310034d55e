/*
 * txpool_util.h - what the transaction pool's unit tests (test_txpool.c,
 * test_txpool_model.c) share: NKEYS test keys and their addresses, real signed test
 * transactions (manager-client's signer, decoded with tx_decode and their sender
 * recovered), a pool with the tests' config, and a chain the pool reads nonces and
 * balances from (txpool_block's callback). Linked into those two tests only
 * (tests/CMakeLists.txt); the helpers assert with check.
 */
#ifndef COHORT_TESTS_TXPOOL_UTIL_H
#define COHORT_TESTS_TXPOOL_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/u256.h"
#include "subnode/chain/txpool.h"

#define CHAIN_ID 7777u
#define GWEI 1000000000ull
#define BLOCK_GAS 30000000ull
#define NKEYS 1000

/* Set by keys_init. */
extern uint8_t keys[NKEYS][32];
extern uint8_t addrs[NKEYS][20];

/* What a test transaction is: fees in wei. type 0 is legacy with EIP-155, 2 is EIP-1559. */
struct spec {
    int key;
    unsigned type;
    uint64_t nonce;
    uint64_t tip;   /* type 2: max priority fee; type 0: unused */
    uint64_t fee;   /* type 2: max fee; type 0: gas price */
    uint64_t gas;   /* 0: 21000 + what the data needs */
    uint64_t value;
    size_t data_len; /* non-zero bytes */
    bool create;
    uint64_t chain_id; /* 0: CHAIN_ID */
    u256 fee_wide;     /* when not zero: the fee cap (gas price) as a u256 */
};

/* A chain the tests keep: nonce and balance per key, read by txpool_block's callback. */
struct chain {
    uint64_t nonce[NKEYS];
    u256 balance[NKEYS];
    int reads;
    int fail_key; /* -1: none */
};

/* The fee floor the tests admit with: 1 gwei. */
extern const u256 floor_fee;

/* Makes the NKEYS keys and their addresses, once. */
void keys_init(void);
/* Decodes raw (and recovers its sender when recover); fails the test when it cannot. */
struct tx_signed *decode_recover(const uint8_t *raw, size_t len, bool recover);
/* A transaction signed by manager-client's signer as sp says, decoded and its sender recovered. */
struct tx_signed *make(const struct spec *sp);
/* An EIP-1559 transaction of key at nonce with tip and fee cap in gwei (hundredths allowed via wei helpers). */
struct tx_signed *tx2(int key, uint64_t nonce, uint64_t tip_wei, uint64_t fee_wei);
/* The tests' pool config: CHAIN_ID, Cancun, BLOCK_GAS, a fixed hash seed. */
struct txpool_config config(void);
/* A new pool of config c; fails the test when it cannot. */
struct txpool *pool_new(const struct txpool_config *c);
/* Checks the pool's invariants (txpool_check); fails the test with its words. */
void check_pool(const struct txpool *p);
/* An account at nonce with the largest balance. */
struct txpool_account rich(uint64_t nonce);
/* The pool holds pending ready and queued future transactions. */
void expect_stats(const struct txpool *p, uint64_t pending, uint64_t queued);
/* txpool_block's callback over a struct chain (arg): the account of address. */
int chain_read(void *arg, const uint8_t address[20], struct txpool_account *out, struct cohort_error *err);
/* Every key at nonce 0 with the largest balance, no failing read. */
void chain_init(struct chain *c);
/* The test key that signed t, or -1. */
int key_of(const struct tx_signed *t);

#endif
