/* rpc_testchain.c - a small chain in the real store for the RPC tests (see rpc_testchain.h). */
#include "rpc_testchain.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/hex.h"
#include "common/keccak.h"
#include "common/secp.h"

const uint8_t testchain_ret42[20] = {0xc0, [19] = 0x01};
const uint8_t testchain_boom[20] = {0xc0, [19] = 0x02};
const uint8_t testchain_custom[20] = {0xc0, [19] = 0x03};
const uint8_t testchain_logger[20] = {0xc0, [19] = 0x04};
const uint8_t testchain_panic[20] = {0xc0, [19] = 0x05};
const uint8_t testchain_topic[32] = {0x70, 0x1c, [31] = 0x99};
uint8_t testchain_custom_selector[4];

/* PUSH1 42 PUSH1 0 MSTORE PUSH1 32 PUSH1 0 RETURN */
static const uint8_t code_ret42[] = {0x60, 0x2a, 0x60, 0x00, 0x52, 0x60, 0x20, 0x60, 0x00, 0xf3};

/* PUSH1 len PUSH1 12 PUSH1 0 CODECOPY PUSH1 len PUSH1 0 REVERT, then len bytes of revert data. */
static size_t revert_code(uint8_t *out, const uint8_t *data, uint8_t len)
{
    const uint8_t head[12] = {0x60, len, 0x60, 12, 0x60, 0x00, 0x39, 0x60, len, 0x60, 0x00, 0xfd};
    memcpy(out, head, 12);
    memcpy(out + 12, data, len);
    return 12u + len;
}

static void word_u64(uint8_t out[32], uint64_t v)
{
    memset(out, 0, 32);
    for (int i = 0; i < 8; i++) out[31 - i] = (uint8_t)(v >> (8 * i));
}

static size_t boom_code(uint8_t *out)
{
    uint8_t data[100] = {0x08, 0xc3, 0x79, 0xa0};
    word_u64(data + 4, 32);
    word_u64(data + 36, 4);
    memcpy(data + 68, "boom", 4);
    return revert_code(out, data, sizeof data);
}

static size_t custom_code(uint8_t *out, uint8_t selector[4])
{
    const char *sig = "InsufficientBalance(uint256,uint256)";
    uint8_t h[32];
    keccak256(sig, strlen(sig), h);
    memcpy(selector, h, 4);
    uint8_t data[68];
    memcpy(data, h, 4);
    word_u64(data + 4, 0);
    word_u64(data + 36, 5);
    return revert_code(out, data, sizeof data);
}

static size_t panic_code(uint8_t *out)
{
    uint8_t data[36] = {0x4e, 0x48, 0x7b, 0x71};
    word_u64(data + 4, 0x11);
    return revert_code(out, data, sizeof data);
}

/*
 * PUSH1 0 CALLDATALOAD DUP1 PUSH1 0 SSTORE PUSH1 0 MSTORE CALLER PUSH32 T PUSH1 32 PUSH1 0
 * LOG2 STOP
 */
static size_t logger_code(uint8_t *out)
{
    size_t n = 0;
    const uint8_t a[] = {0x60, 0x00, 0x35, 0x80, 0x60, 0x00, 0x55, 0x60, 0x00, 0x52, 0x33, 0x7f};
    memcpy(out, a, sizeof a);
    n += sizeof a;
    memcpy(out + n, testchain_topic, 32);
    n += 32;
    const uint8_t b[] = {0x60, 0x20, 0x60, 0x00, 0xa2, 0x00};
    memcpy(out + n, b, sizeof b);
    return n + sizeof b;
}

static void block_hash_of(void *arg, uint64_t number, uint8_t out[32])
{
    struct store_txn *txn = arg;
    if (store_txn_block_hash(txn, number, out, NULL) != 1) memset(out, 0, 32);
}

int testchain_open(struct testchain *t, uint32_t history_blocks)
{
    memset(t, 0, sizeof *t);
    snprintf(t->dir, sizeof t->dir, "/tmp/cohort-rpc-chain-XXXXXX");
    if (mkdtemp(t->dir) == NULL) return -1;
    struct cohort_error err = {0};
    struct store_options o = {.dir = t->dir, .map_bytes = 256u << 20, .history_blocks = history_blocks};
    if (store_open(&o, &t->store, &err) != 0) {
        fprintf(stderr, "testchain: %s\n", err.message);
        return -1;
    }
    t->exec = state_new();
    struct state *genesis = state_new();
    if (t->exec == NULL || genesis == NULL) return -1;
    for (int i = 0; i < TESTCHAIN_KEYS; i++) {
        memset(t->keys[i], 0, 32);
        t->keys[i][31] = (uint8_t)(i + 1);
        t->keys[i][0] = 0x11;
        if (secp_address_from_secret(t->keys[i], t->addresses[i], &err) != 0) return -1;
        u256 balance = u256_mul(u256_from_u64(1000), u256_from_u64(1000000000000000000ull));
        if (state_put_account(genesis, t->addresses[i], 0, balance, NULL, 0, &err) != 0) return -1;
    }
    uint8_t code[256];
    size_t n;
    if (state_put_account(genesis, testchain_ret42, 1, u256_zero(), code_ret42, sizeof code_ret42, &err) != 0) return -1;
    n = boom_code(code);
    if (state_put_account(genesis, testchain_boom, 1, u256_zero(), code, n, &err) != 0) return -1;
    n = custom_code(code, testchain_custom_selector);
    if (state_put_account(genesis, testchain_custom, 1, u256_zero(), code, n, &err) != 0) return -1;
    n = logger_code(code);
    if (state_put_account(genesis, testchain_logger, 1, u256_zero(), code, n, &err) != 0) return -1;
    n = panic_code(code);
    if (state_put_account(genesis, testchain_panic, 1, u256_zero(), code, n, &err) != 0) return -1;
    /* EIP-4788's beacon roots contract, as on Ethereum: every block's system call writes
       its slots, so no block leaves the store without a storage change. */
    static const char beacon_hex[] =
        "0x3373fffffffffffffffffffffffffffffffffffffffe14604d57602036146024575f5ffd5b5f35801560495762001fff810690815414"
        "603c575f5ffd5b62001fff01545f5260205ff35b5f5ffd5b62001fff42064281555f359062001fff015500";
    uint8_t beacon[128];
    size_t beacon_len;
    if (hex_decode(beacon_hex, beacon, sizeof beacon, &beacon_len, &err) != 0 ||
        state_put_account(genesis, block_beacon_roots_address, 1, u256_zero(), beacon, beacon_len, &err) != 0)
        return -1;
    /* A genesis slot too (the logger's slot 1, which it never uses). */
    if (state_put_storage(genesis, testchain_logger, u256_from_u64(1), u256_from_u64(1), &err) != 0) return -1;
    memset(t->coinbase, 0xcb, 20);

    struct store_txn *txn;
    if (store_write_begin(t->store, &txn, &err) != 0) return -1;
    struct block_header *h = &t->head_header;
    memset(h, 0, sizeof *h);
    if (store_txn_apply_state(txn, genesis, 0, h->state_root, &err) != 0) {
        fprintf(stderr, "testchain: genesis: %s\n", err.message);
        store_write_abort(txn);
        return -1;
    }
    state_free(genesis);
    memcpy(h->ommers_hash, block_empty_ommers_hash, 32);
    h->gas_limit = TESTCHAIN_GAS_LIMIT;
    h->timestamp = 1700000000;
    h->has_base_fee = true;
    h->base_fee = u256_from_u64(1000000000);
    h->has_withdrawals_root = true;
    memcpy(h->withdrawals_root, trie_empty_root, 32);
    memcpy(h->transactions_root, trie_empty_root, 32);
    memcpy(h->receipts_root, trie_empty_root, 32);
    h->has_blob_gas = true;
    h->has_parent_beacon_root = true;
    block_header_hash(h, t->head_hash);
    struct store_block b = {.header = h, .hash = t->head_hash};
    if (store_txn_put_block(txn, &b, &err) != 0 || store_txn_bind_chain(txn, t->head_hash, TESTCHAIN_CHAIN_ID, &err) != 0 ||
        store_write_commit(txn, &err) != 0) {
        fprintf(stderr, "testchain: genesis block: %s\n", err.message);
        return -1;
    }
    t->head = 0;
    return 0;
}

void testchain_close(struct testchain *t)
{
    store_close(t->store);
    state_free(t->exec);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", t->dir);
    if (system(cmd) != 0) fprintf(stderr, "testchain: could not remove %s\n", t->dir);
}

/* Signs t->tx's fields: encodes with a placeholder signature for the signing hash, then for real. */
static struct tx_signed *sign(struct tx_signed *draft, const uint8_t key[32])
{
    struct cohort_error err = {0};
    draft->r = u256_from_u64(1);
    draft->s = u256_from_u64(1);
    draft->v = u256_from_u64(draft->tx.type == 0 ? draft->chain_id * 2 + 35 : 0);
    struct rlp_buf buf;
    rlp_buf_init(&buf, 0);
    tx_encode(draft, &buf);
    struct tx_signed *first = NULL;
    if (rlp_buf_check(&buf, &err) != 0 || tx_decode(buf.data, buf.len, 0, &first, &err) != 0) {
        fprintf(stderr, "testchain: draft: %s\n", err.message);
        rlp_buf_free(&buf);
        return NULL;
    }
    uint8_t sig[65];
    if (secp_sign(key, first->signing_hash, sig, &err) != 0) return NULL;
    tx_free(first);
    draft->r = u256_load_be(sig);
    draft->s = u256_load_be(sig + 32);
    draft->y_parity = sig[64];
    if (draft->tx.type == 0) draft->v = u256_from_u64(draft->chain_id * 2 + 35 + sig[64]);
    else draft->v = u256_from_u64(sig[64]);
    rlp_buf_reset(&buf);
    tx_encode(draft, &buf);
    struct tx_signed *out = NULL;
    if (rlp_buf_check(&buf, &err) != 0 || tx_decode(buf.data, buf.len, 0, &out, &err) != 0 ||
        tx_recover_sender(out, &err) != 0) {
        fprintf(stderr, "testchain: signed: %s\n", err.message);
        tx_free(out);
        out = NULL;
    }
    rlp_buf_free(&buf);
    return out;
}

struct tx_signed *testchain_tx_fees(struct testchain *t, int key, const uint8_t *to, u256 value, const uint8_t *data,
                                    size_t data_len, uint64_t gas, u256 max_fee, u256 tip)
{
    struct tx_signed draft;
    memset(&draft, 0, sizeof draft);
    draft.tx.type = 2;
    draft.has_chain_id = true;
    draft.chain_id = TESTCHAIN_CHAIN_ID;
    draft.tx.nonce = t->nonces[key]++;
    draft.tx.gas_limit = gas;
    draft.tx.max_fee_per_gas = u256_is_zero(max_fee) ? u256_from_u64(4000000000ull) : max_fee;
    draft.tx.max_priority_fee_per_gas = u256_is_zero(tip) ? u256_from_u64(1000000000ull) : tip;
    draft.tx.has_to = to != NULL;
    if (to) memcpy(draft.tx.to, to, 20);
    draft.tx.value = value;
    draft.tx.data = data;
    draft.tx.data_len = data_len;
    return sign(&draft, t->keys[key]);
}

struct tx_signed *testchain_tx(struct testchain *t, int key, const uint8_t *to, u256 value, const uint8_t *data,
                               size_t data_len, uint64_t gas)
{
    return testchain_tx_fees(t, key, to, value, data, data_len, gas, u256_zero(), u256_zero());
}

struct tx_signed *testchain_legacy_tx(struct testchain *t, int key, const uint8_t *to, u256 value, uint64_t gas,
                                      u256 gas_price)
{
    struct tx_signed draft;
    memset(&draft, 0, sizeof draft);
    draft.tx.type = 0;
    draft.has_chain_id = true;
    draft.chain_id = TESTCHAIN_CHAIN_ID;
    draft.tx.nonce = t->nonces[key]++;
    draft.tx.gas_limit = gas;
    draft.tx.gas_price = gas_price;
    draft.tx.has_to = to != NULL;
    if (to) memcpy(draft.tx.to, to, 20);
    draft.tx.value = value;
    return sign(&draft, t->keys[key]);
}

int testchain_block(struct testchain *t, struct tx_signed **txs, size_t count)
{
    struct cohort_error err = {0};
    struct block_header h;
    const struct block_header *parent = &t->head_header;
    memset(&h, 0, sizeof h);
    memcpy(h.parent_hash, t->head_hash, 32);
    memcpy(h.ommers_hash, block_empty_ommers_hash, 32);
    memcpy(h.coinbase, t->coinbase, 20);
    h.number = t->head + 1;
    h.gas_limit = TESTCHAIN_GAS_LIMIT;
    h.timestamp = parent->timestamp + 1;
    memcpy(h.extra_data, "cohort", 6);
    h.extra_data_len = 6;
    keccak256(&h.number, sizeof h.number, h.mix_hash);
    h.has_base_fee = true;
    h.base_fee = block_next_base_fee(parent->gas_used, parent->gas_limit, parent->base_fee);
    if (u256_lt(h.base_fee, u256_from_u64(1000000000))) h.base_fee = u256_from_u64(1000000000);
    h.has_withdrawals_root = true;
    h.has_blob_gas = true;
    h.excess_blob_gas = block_next_excess_blob_gas(parent->excess_blob_gas, parent->blob_gas_used);
    h.has_parent_beacon_root = true;
    memcpy(h.parent_beacon_root, h.mix_hash, 32);
    struct store_txn *txn;
    if (store_write_begin(t->store, &txn, &err) != 0) return -1;
    struct state_backend backend;
    store_txn_backend(txn, &backend);
    state_reset(t->exec);
    state_set_backend(t->exec, &backend);
    struct block_exec_input in = {
        .header = &h,
        .revision = EVM_CANCUN,
        .chain_id = u256_from_u64(TESTCHAIN_CHAIN_ID),
        .txs = txs,
        .tx_count = count,
        .mode = BLOCK_BUILD,
        .block_hash = block_hash_of,
        .block_hash_arg = txn,
    };
    struct block_exec_result r;
    int rc = block_execute(t->exec, &in, &r, &err);
    if (rc == 0 && state_backend_error(t->exec) != NULL) rc = -1;
    if (rc == 0) rc = store_txn_apply_state(txn, t->exec, h.number, h.state_root, &err);
    const uint8_t **raws = calloc(count + 1, sizeof *raws);
    size_t *lens = calloc(count + 1, sizeof *lens);
    uint8_t(*hashes)[32] = calloc(count + 1, 32);
    if (rc == 0 && (raws == NULL || lens == NULL || hashes == NULL)) rc = -1;
    if (rc == 0) {
        h.gas_used = r.gas_used;
        h.blob_gas_used = r.blob_gas_used;
        memcpy(h.logs_bloom, r.logs_bloom, BLOCK_BLOOM_BYTES);
        memcpy(h.transactions_root, r.transactions_root, 32);
        memcpy(h.receipts_root, r.receipts_root, 32);
        memcpy(h.withdrawals_root, r.withdrawals_root, 32);
        uint8_t hash[32];
        block_header_hash(&h, hash);
        for (size_t i = 0; i < r.included_count; i++) {
            const struct tx_signed *tx = txs[r.included[i]];
            raws[i] = tx->raw;
            lens[i] = tx->raw_len;
            memcpy(hashes[i], tx->hash, 32);
        }
        struct store_block b = {.header = &h,
                                .hash = hash,
                                .txs = raws,
                                .tx_lens = lens,
                                .tx_hashes = (const uint8_t(*)[32])hashes,
                                .receipts = r.receipts,
                                .tx_count = r.included_count};
        rc = store_txn_put_block(txn, &b, &err);
        if (rc == 0) rc = store_write_commit(txn, &err);
        else store_write_abort(txn);
        if (rc == 0) {
            t->head = h.number;
            memcpy(t->head_hash, hash, 32);
            t->head_header = h;
        }
    } else {
        store_write_abort(txn);
    }
    if (rc != 0) fprintf(stderr, "testchain: block %llu: %s\n", (unsigned long long)h.number, err.message);
    if (rc == 0 && r.dropped_count > 0)
        fprintf(stderr, "testchain: block %llu dropped %zu transactions\n", (unsigned long long)h.number, r.dropped_count);
    block_exec_result_free(&r);
    free(raws);
    free(lens);
    free(hashes);
    for (size_t i = 0; i < count; i++) tx_free(txs[i]);
    return rc == 0 ? 0 : -1;
}
