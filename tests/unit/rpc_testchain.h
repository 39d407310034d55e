/*
 * rpc_testchain.h - a small chain in the real store (LMDB in a temporary folder) for the
 * RPC tests and the JSON-RPC fuzz target: a genesis with funded keys and a few hand-
 * assembled contracts, and blocks built from signed transactions the way the node's
 * executor builds them (block_execute in BLOCK_BUILD mode on a state backed by the store,
 * one write transaction per block).
 */
#ifndef COHORT_TEST_RPC_TESTCHAIN_H
#define COHORT_TEST_RPC_TESTCHAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "subnode/chain/block.h"
#include "subnode/chain/tx.h"
#include "subnode/state/state.h"
#include "subnode/store/store.h"

#define TESTCHAIN_KEYS 4
#define TESTCHAIN_CHAIN_ID 1337u
#define TESTCHAIN_GAS_LIMIT 30000000u

/* Contracts in the genesis (runtime code at fixed addresses). */
extern const uint8_t testchain_ret42[20];     /* returns the word 42 */
extern const uint8_t testchain_boom[20];      /* reverts with Error("boom") */
extern const uint8_t testchain_custom[20];    /* reverts with InsufficientBalance(uint256 0, uint256 5) */
extern const uint8_t testchain_logger[20];    /* stores calldata word 0 in slot 0 and emits LOG2(T, caller) with it */
extern const uint8_t testchain_panic[20];     /* reverts with Panic(0x11) */
extern const uint8_t testchain_topic[32];     /* the logger's topic T */
/* InsufficientBalance(uint256,uint256)'s selector. */
extern uint8_t testchain_custom_selector[4];

struct testchain {
    char dir[64];
    struct store *store;
    struct state *exec;
    uint64_t head;
    uint8_t head_hash[32];
    struct block_header head_header;
    uint8_t keys[TESTCHAIN_KEYS][32];
    uint8_t addresses[TESTCHAIN_KEYS][20];
    uint64_t nonces[TESTCHAIN_KEYS];
    uint8_t coinbase[20];
};

/* Opens a fresh chain (genesis block 0) keeping history_blocks of state (0: the store's default). 0 or -1. */
int testchain_open(struct testchain *t, uint32_t history_blocks);
/* Closes the store and removes the folder. */
void testchain_close(struct testchain *t);

/*
 * A signed type-2 transaction from key (its next nonce, counted here), to (NULL: a
 * creation), with value, data, gas, max fee and tip (0: 2 gwei and 1 gwei).
 */
struct tx_signed *testchain_tx(struct testchain *t, int key, const uint8_t *to, u256 value, const uint8_t *data,
                               size_t data_len, uint64_t gas);
/* The same with the fee fields given (tip 0 and fee 0 mean the defaults). */
struct tx_signed *testchain_tx_fees(struct testchain *t, int key, const uint8_t *to, u256 value, const uint8_t *data,
                                    size_t data_len, uint64_t gas, u256 max_fee, u256 tip);
/* A signed legacy transaction (EIP-155) from key. */
struct tx_signed *testchain_legacy_tx(struct testchain *t, int key, const uint8_t *to, u256 value, uint64_t gas,
                                      u256 gas_price);

/*
 * Builds and writes the next block from txs (freed here); returns 0 or -1. Give every
 * block at least one transaction: the store's write of a block without account changes
 * trips UBSan (qsort of an empty, NULL array in store_txn_apply_state), and the node never
 * writes one either.
 */
int testchain_block(struct testchain *t, struct tx_signed **txs, size_t count);

#endif
