/*
 * test_block.c - blocks (subnode/chain/block.h): the base fee and blob gas rules worked by
 * hand from EIP-1559 and EIP-4844, the bloom, headers and blocks decoded from a fixture
 * and re-encoded byte for byte, header validation rule by rule, and block_execute in
 * BLOCK_BUILD mode: what it drops, its receipts and logs, the EIP-4788 call, withdrawals,
 * and that the block it builds imports (BLOCK_IMPORT on a fresh state gives the same roots).
 * The full import path is checked against ethereum/tests by the blocktest_* ctest entries.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hex.h"
#include "common/keccak.h"
#include "common/secp.h"
#include "manager-client/manager_client.h"
#include "subnode/chain/block.h"
#include "subnode/state/state.h"
#include "subnode/state/trie.h"
#include "testutil.h"

#define CHAIN_ID 1u

static const uint8_t KEY[32] = {0x45, 0xa9, 0x15, 0xe4, 0xd0, 0x60, 0x14, 0x9e, 0xb4, 0x36, 0x59,
                                0x60, 0xe6, 0xa7, 0xa4, 0x5f, 0x33, 0x43, 0x93, 0x09, 0x30, 0x61,
                                0x11, 0x6b, 0x19, 0x7e, 0x32, 0x40, 0x06, 0x5f, 0xf2, 0xd8};
static const uint8_t COINBASE[20] = {0xc0, 0x1b};
static const uint8_t TO[20] = {0x70, 0x70};
static const uint8_t WITHDRAW_TO[20] = {0xd0, 0x01};
static const uint8_t WITHDRAW_ZERO[20] = {0xd0, 0x02};
/* The EIP-4788 contract's code, as the Cancun fixtures deploy it. */
static const char *BEACON_CODE = "0x3373fffffffffffffffffffffffffffffffffffffffe14604d57602036146024575f5ffd5b5f3580156"
                                 "0495762001fff810690815414603c5"
                                 "75f5ffd5b62001fff01545f5260205ff35b5f5ffd5b62001fff42064281555f359062001fff015500";

/* ---- Rules by hand ---- */

START_TEST(base_fee_by_eip1559)
{
    u256 gwei = u256_from_u64(1000000000);
    /* At the target (half the limit) the fee stays. */
    ck_assert(u256_eq(block_next_base_fee(15000000, 30000000, gwei), gwei));
    /* A full block raises it by 1/8, an empty one lowers it by 1/8. */
    ck_assert(u256_eq(block_next_base_fee(30000000, 30000000, gwei), u256_from_u64(1125000000)));
    ck_assert(u256_eq(block_next_base_fee(0, 30000000, gwei), u256_from_u64(875000000)));
    /* Just over the target: 1e9 * 1 / 15e6 / 8 = 8 wei; at 100 wei it would round to 0: at least 1. */
    ck_assert(u256_eq(block_next_base_fee(15000001, 30000000, gwei), u256_from_u64(1000000008)));
    ck_assert(u256_eq(block_next_base_fee(15000001, 30000000, u256_from_u64(100)), u256_from_u64(101)));
    /* Just under: the decrease rounds down to 0. */
    ck_assert(u256_eq(block_next_base_fee(14999999, 30000000, u256_from_u64(1000)), u256_from_u64(1000)));
    /* The fixtures' example: 1000 wei after an empty parent is 875. */
    ck_assert(u256_eq(block_next_base_fee(0, 30000000, u256_from_u64(1000)), u256_from_u64(875)));
    /* A limit of 0 or 1 has no target: the fee stays (no division by zero). */
    ck_assert(u256_eq(block_next_base_fee(1, 1, gwei), gwei));
}
END_TEST

START_TEST(excess_blob_gas_by_eip4844)
{
    const uint64_t blob = CHAIN_GAS_PER_BLOB;
    ck_assert_uint_eq(block_next_excess_blob_gas(0, 0), 0);
    ck_assert_uint_eq(block_next_excess_blob_gas(0, 3 * blob), 0);
    ck_assert_uint_eq(block_next_excess_blob_gas(0, 6 * blob), 3 * blob);
    ck_assert_uint_eq(block_next_excess_blob_gas(3 * blob, 0), 0);
    ck_assert_uint_eq(block_next_excess_blob_gas(3 * blob, 4 * blob), 4 * blob);
    ck_assert_uint_eq(block_next_excess_blob_gas(UINT64_MAX, 6 * blob), UINT64_MAX - 3 * blob);
}
END_TEST

START_TEST(bloom_bits)
{
    uint8_t bloom[BLOCK_BLOOM_BYTES] = {0};
    uint8_t a[20] = {1}, b[20] = {2};
    block_bloom_add(bloom, a, 20);
    size_t set = 0;
    for (size_t i = 0; i < BLOCK_BLOOM_BYTES; i++) set += (size_t)__builtin_popcount(bloom[i]);
    ck_assert_uint_ge(set, 1);
    ck_assert_uint_le(set, 3);
    ck_assert(block_bloom_may_contain(bloom, a, 20));
    ck_assert(!block_bloom_may_contain(bloom, b, 20));
    /* M3:2048 by hand: keccak256(a)'s first byte pair picks bit (h0 << 8 | h1) & 2047. */
    uint8_t h[32];
    keccak256(a, 20, h);
    unsigned bit = ((unsigned)h[0] << 8 | h[1]) & 2047u;
    ck_assert(bloom[BLOCK_BLOOM_BYTES - 1 - bit / 8] & (1u << (bit % 8)));
    /* bloom_of_logs adds the address and every topic. */
    struct block_log log = {.topic_count = 2};
    memcpy(log.address, b, 20);
    memset(log.topics[0], 0x11, 32);
    memset(log.topics[1], 0x22, 32);
    uint8_t from_logs[BLOCK_BLOOM_BYTES] = {0}, by_hand[BLOCK_BLOOM_BYTES] = {0};
    block_bloom_of_logs(from_logs, &log, 1);
    block_bloom_add(by_hand, b, 20);
    block_bloom_add(by_hand, log.topics[0], 32);
    block_bloom_add(by_hand, log.topics[1], 32);
    ck_assert_mem_eq(from_logs, by_hand, BLOCK_BLOOM_BYTES);
}
END_TEST

/* ---- Headers and blocks from a fixture ---- */

static uint8_t *fixture_bytes(const cJSON *obj, const char *name, size_t *len)
{
    const char *text = cJSON_GetStringValue(cJSON_GetObjectItem(obj, name));
    ck_assert_ptr_nonnull(text);
    uint8_t *out = malloc(strlen(text) / 2 + 1);
    ck_assert_ptr_nonnull(out);
    ck_assert_int_eq(hex_decode(text, out, strlen(text) / 2 + 1, len, NULL), 0);
    return out;
}

static cJSON *example_fixture(const cJSON **test)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/ethereum-tests/BlockchainTests/ValidBlocks/bcExample/basefeeExample.json",
             testutil_fixtures_dir());
    cJSON *doc = testutil_read_json(path);
    *test = doc->child;
    ck_assert_ptr_nonnull(*test);
    return doc;
}

/* obj[name], a "0x..." hash, as bytes. */
static void hash_of(const cJSON *obj, const char *name, uint8_t out[32])
{
    ck_assert_int_eq(hex_decode_exact(cJSON_GetStringValue(cJSON_GetObjectItem(obj, name)), out, 32, NULL), 0);
}

START_TEST(fixture_blocks_round_trip)
{
    const cJSON *test;
    cJSON *doc = example_fixture(&test);
    size_t genesis_len, len;
    uint8_t *genesis_rlp = fixture_bytes(test, "genesisRLP", &genesis_len);
    struct cohort_error err = {0};
    struct block *genesis = NULL, *b1 = NULL;
    ck_assert_msg(block_decode(genesis_rlp, genesis_len, 0, &genesis, &err) == 0, "%s", err.message);
    uint8_t hash[32], want[32];
    block_header_hash(&genesis->header, hash);
    hash_of(cJSON_GetObjectItem(test, "genesisBlockHeader"), "hash", want);
    ck_assert_mem_eq(hash, want, 32);
    ck_assert(genesis->header.has_parent_beacon_root && genesis->has_withdrawals);
    ck_assert_uint_eq(genesis->tx_count, 0);
    ck_assert_uint_eq(genesis->ommer_count, 0);

    const cJSON *block1 = cJSON_GetArrayItem(cJSON_GetObjectItem(test, "blocks"), 0);
    uint8_t *rlp = fixture_bytes(block1, "rlp", &len);
    ck_assert_msg(block_decode(rlp, len, 0, &b1, &err) == 0, "%s", err.message);
    ck_assert_uint_eq(b1->tx_count, 1);
    block_header_hash(&b1->header, hash);
    hash_of(cJSON_GetObjectItem(block1, "blockHeader"), "hash", want);
    ck_assert_mem_eq(hash, want, 32);

    /* The whole block re-encodes to its bytes; the header alone decodes to the same hash. */
    struct rlp_buf buf;
    rlp_buf_init(&buf, 0);
    block_encode(&b1->header, b1->txs, b1->tx_count, b1->has_withdrawals, b1->withdrawals, b1->withdrawal_count, &buf);
    ck_assert_int_eq(rlp_buf_check(&buf, NULL), 0);
    ck_assert_uint_eq(buf.len, len);
    ck_assert_mem_eq(buf.data, rlp, len);
    rlp_buf_reset(&buf);
    block_header_encode(&b1->header, &buf);
    struct block_header again;
    ck_assert_int_eq(block_header_decode(buf.data, buf.len, &again, &err), 0);
    block_header_hash(&again, hash);
    ck_assert_mem_eq(hash, want, 32);

    /* The transactions root over the raw transaction. */
    uint8_t root[32];
    const uint8_t *items[1] = {b1->txs[0]->raw};
    size_t lens[1] = {b1->txs[0]->raw_len};
    ck_assert_int_eq(block_ordered_root(items, lens, 1, root, &err), 0);
    ck_assert_mem_eq(root, b1->header.transactions_root, 32);
    ck_assert_int_eq(block_ordered_root(NULL, NULL, 0, root, &err), 0);
    ck_assert_mem_eq(root, trie_empty_root, 32);

    /* A Shanghai header (17 fields) and a London one (16) decode with the flags they have. */
    struct block_header old = b1->header;
    old.has_blob_gas = old.has_parent_beacon_root = false;
    rlp_buf_reset(&buf);
    block_header_encode(&old, &buf);
    ck_assert_int_eq(block_header_decode(buf.data, buf.len, &again, &err), 0);
    ck_assert(again.has_withdrawals_root && !again.has_blob_gas && !again.has_parent_beacon_root);
    /* 18 fields (blobGasUsed without excessBlobGas) is no fork's header. */
    struct rlp_item list;
    ck_assert_int_eq(rlp_decode_whole(buf.data, buf.len, &list, NULL), 0);
    struct rlp_buf odd;
    rlp_buf_init(&odd, 0);
    size_t marker = rlp_encode_list_begin(&odd);
    rlp_encode_raw(&odd, list.payload, list.payload_len);
    rlp_encode_u64(&odd, 0);
    rlp_encode_list_end(&odd, marker);
    ck_assert_int_eq(block_header_decode(odd.data, odd.len, &again, &err), CHAIN_E_INVALID);
    ck_assert_msg(strstr(err.message, "18 fields") != NULL, "%s", err.message);
    rlp_buf_free(&odd);
    rlp_buf_free(&buf);

    /* Header validation: the real pair passes; each broken rule is refused and named. */
    const struct block_header *parent = &genesis->header;
    ck_assert_msg(block_validate_header(&b1->header, parent, false, &err) == 0, "%s", err.message);
    struct {
        const char *rule;
        void (*unused)(void);
    } cases[] = {{"number", NULL},    {"parentHash", NULL},      {"gas limit", NULL}, {"gas used", NULL},
                 {"timestamp", NULL}, {"difficulty", NULL},      {"nonce", NULL},     {"ommers hash", NULL},
                 {"base fee", NULL},  {"excess blob gas", NULL}, {"multiple", NULL},  {"optional fields", NULL},
                 {"minimum", NULL}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct block_header h = b1->header;
        switch (i) {
        case 0: h.number = 2; break;
        case 1: h.parent_hash[5] ^= 1; break;
        case 2: h.gas_limit = parent->gas_limit + parent->gas_limit / 1024; break;
        case 3: h.gas_used = h.gas_limit + 1; break;
        case 4: h.timestamp = parent->timestamp; break;
        case 5: h.difficulty = u256_from_u64(1); break;
        case 6: h.nonce[7] = 1; break;
        case 7: h.ommers_hash[0] ^= 1; break;
        case 8: h.base_fee = u256_add(h.base_fee, u256_from_u64(1)); break;
        case 9: h.excess_blob_gas = CHAIN_GAS_PER_BLOB; break;
        case 10: h.blob_gas_used = 1; break;
        case 11: h.has_parent_beacon_root = false; break;
        case 12: h.gas_limit = 4999; break;
        }
        ck_assert_int_eq(block_validate_header(&h, parent, false, &err), CHAIN_E_INVALID);
        ck_assert_msg(strstr(err.message, cases[i].rule) != NULL, "case %zu: %s", i, err.message);
    }
    /* A cohort chain may make two blocks in one second. */
    struct block_header same_second = b1->header;
    same_second.timestamp = parent->timestamp;
    ck_assert_int_eq(block_validate_header(&same_second, parent, true, &err), 0);

    /* Truncated, trailing and oversized blocks are refused; nothing leaks (ASan build). */
    struct block *bad = NULL;
    ck_assert_int_eq(block_decode(rlp, len - 1, 0, &bad, &err), CHAIN_E_INVALID);
    ck_assert_int_eq(block_decode(rlp, len, len - 1, &bad, &err), CHAIN_E_RANGE);
    ck_assert_ptr_null(bad);
    free(rlp);
    free(genesis_rlp);
    block_free(b1);
    block_free(genesis);
    cJSON_Delete(doc);
}
END_TEST

/* ---- block_execute: build a block, then import it ---- */

struct built {
    uint8_t *raw[8];
    size_t raw_len[8];
    struct tx_signed *txs[8];
    size_t count;
};

static void add_tx(struct built *b, const struct mc_tx *tx)
{
    ck_assert_uint_lt(b->count, 8);
    uint8_t hash[32];
    struct cohort_error err = {0};
    ck_assert_msg(mc_tx_sign(tx, KEY, &b->raw[b->count], &b->raw_len[b->count], hash, &err) == 0, "%s", err.message);
    ck_assert_int_eq(tx_decode(b->raw[b->count], b->raw_len[b->count], 0, &b->txs[b->count], &err), 0);
    b->count++;
}

static void built_free(struct built *b)
{
    for (size_t i = 0; i < b->count; i++) {
        free(b->raw[i]);
        tx_free(b->txs[i]);
    }
}

static struct state *pre_state(const uint8_t sender[20])
{
    static uint8_t code[256];
    size_t code_len = 0;
    ck_assert_int_eq(hex_decode(BEACON_CODE, code, sizeof code, &code_len, NULL), 0);
    struct state *st = state_new();
    ck_assert_ptr_nonnull(st);
    u256 ether = u256_from_u64(1000000000000000000ull);
    ck_assert_int_eq(state_put_account(st, sender, 0, ether, NULL, 0, NULL), 0);
    ck_assert_int_eq(state_put_account(st, block_beacon_roots_address, 1, u256_zero(), code, code_len, NULL), 0);
    return st;
}

static struct block_header genesis_header(struct state *st)
{
    struct block_header g;
    memset(&g, 0, sizeof g);
    memcpy(g.ommers_hash, block_empty_ommers_hash, 32);
    ck_assert_int_eq(state_root(st, g.state_root, NULL), 0);
    memcpy(g.transactions_root, trie_empty_root, 32);
    memcpy(g.receipts_root, trie_empty_root, 32);
    g.gas_limit = 30000000;
    g.timestamp = 1000;
    g.has_base_fee = true;
    g.base_fee = u256_from_u64(7);
    g.has_withdrawals_root = true;
    memcpy(g.withdrawals_root, trie_empty_root, 32);
    g.has_blob_gas = true;
    g.has_parent_beacon_root = true;
    return g;
}

START_TEST(build_drops_then_import_agrees)
{
    uint8_t sender[20];
    ck_assert_int_eq(secp_address_from_secret(KEY, sender, NULL), 0);
    struct state *st = pre_state(sender);
    struct block_header g = genesis_header(st);
    uint8_t g_hash[32];
    block_header_hash(&g, g_hash);

    /* The block: number 1 on g, with the header fields known before execution. */
    struct block_header h;
    memset(&h, 0, sizeof h);
    memcpy(h.parent_hash, g_hash, 32);
    memcpy(h.ommers_hash, block_empty_ommers_hash, 32);
    memcpy(h.coinbase, COINBASE, 20);
    h.number = 1;
    h.gas_limit = 30000000;
    h.timestamp = 1012;
    memset(h.mix_hash, 0x42, 32);
    h.has_base_fee = h.has_withdrawals_root = h.has_blob_gas = h.has_parent_beacon_root = true;
    h.base_fee = block_next_base_fee(g.gas_used, g.gas_limit, g.base_fee);
    h.excess_blob_gas = block_next_excess_blob_gas(g.excess_blob_gas, g.blob_gas_used);
    memset(h.parent_beacon_root, 0xbe, 32);

    /*
     * 0: a transfer (included); 1: nonce 5, a gap (dropped: NONCE_MISMATCH); 2: a creation
     * whose init code logs 42 under one topic (included, a contract address, one log);
     * 3: gas limit of the whole block, more than it has left (dropped); 4: a transfer
     * signed for chain 2 (dropped); 5: a legacy transfer (included).
     */
    static const uint8_t init_code[] = {
        0x60, 0x2a, 0x60, 0x00, 0x52, /* mstore(0, 42) */
        0x7f, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11,
        0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, /* push32 topic
                                                                                                         */
        0x60, 0x20, 0x60, 0x00, 0xa1, /* log1(0, 32, topic) */
        0x00,                         /* stop: empty code */
    };
    struct built b = {0};
    struct mc_tx tx = {.type = MC_TX_EIP1559, .chain_id = CHAIN_ID, .nonce = 0, .gas_limit = 21000, .has_to = true};
    tx.max_fee_per_gas = u256_from_u64(100);
    tx.max_priority_fee_per_gas = u256_from_u64(3);
    tx.value = u256_from_u64(1234);
    memcpy(tx.to, TO, 20);
    add_tx(&b, &tx);
    tx.nonce = 5;
    add_tx(&b, &tx);
    struct mc_tx create = tx;
    create.nonce = 1;
    create.has_to = false;
    create.gas_limit = 200000;
    create.value = u256_zero();
    create.data = init_code;
    create.data_len = sizeof init_code;
    add_tx(&b, &create);
    tx.nonce = 2;
    tx.gas_limit = 30000000;
    add_tx(&b, &tx);
    tx.gas_limit = 21000;
    tx.chain_id = 2;
    add_tx(&b, &tx);
    struct mc_tx legacy = {.type = MC_TX_LEGACY, .chain_id = CHAIN_ID, .nonce = 2, .gas_limit = 21000, .has_to = true};
    legacy.gas_price = u256_from_u64(50);
    legacy.value = u256_from_u64(1);
    memcpy(legacy.to, TO, 20);
    add_tx(&b, &legacy);

    struct block_withdrawal w[2] = {{.index = 0, .validator_index = 9, .amount_gwei = 5},
                                    {.index = 1, .validator_index = 9, .amount_gwei = 0}};
    memcpy(w[0].address, WITHDRAW_TO, 20);
    memcpy(w[1].address, WITHDRAW_ZERO, 20);

    struct block_exec_input in = {.header = &h,
                                  .revision = EVM_CANCUN,
                                  .chain_id = u256_from_u64(CHAIN_ID),
                                  .txs = b.txs,
                                  .tx_count = b.count,
                                  .withdrawals = w,
                                  .withdrawal_count = 2,
                                  .mode = BLOCK_BUILD};
    struct block_exec_result res;
    struct cohort_error err = {0};
    ck_assert_msg(block_execute(st, &in, &res, &err) == 0, "%s", err.message);
    ck_assert_uint_eq(res.included_count, 3);
    ck_assert_uint_eq(res.included[0], 0);
    ck_assert_uint_eq(res.included[1], 2);
    ck_assert_uint_eq(res.included[2], 5);
    ck_assert_uint_eq(res.dropped_count, 3);
    ck_assert_uint_eq(res.dropped[0].index, 1);
    ck_assert_int_eq(res.dropped[0].reason, CHAIN_REJECT_NONCE_MISMATCH);
    ck_assert_uint_eq(res.dropped[1].index, 3);
    ck_assert_int_eq(res.dropped[1].reason, CHAIN_REJECT_GAS_LIMIT_OVER_BLOCK);
    /* Dropped for the block's gas before its sender was recovered (no curve operation); the
       others were recovered as they were executed. */
    ck_assert(!b.txs[3]->sender_known);
    ck_assert(b.txs[0]->sender_known && b.txs[1]->sender_known && b.txs[5]->sender_known);
    ck_assert_uint_eq(res.dropped[2].index, 4);
    ck_assert(!res.dropped[2].bad_signature);

    /* Receipts: cumulative gas, per-transaction gas, prices, the creation's address and log. */
    const struct block_receipt *r = res.receipts;
    ck_assert_uint_eq(r[0].gas_used, 21000);
    ck_assert_uint_eq(r[0].cumulative_gas_used, 21000);
    ck_assert(u256_eq(r[0].effective_gas_price, u256_add(h.base_fee, u256_from_u64(3))));
    ck_assert(!r[0].has_contract_address);
    ck_assert(r[1].success);
    ck_assert(r[1].has_contract_address);
    uint8_t created[20];
    evm_create_address(sender, 1, created);
    ck_assert_mem_eq(r[1].contract_address, created, 20);
    ck_assert_uint_eq(r[1].log_count, 1);
    ck_assert_mem_eq(r[1].logs[0].address, created, 20);
    ck_assert_uint_eq(r[1].logs[0].topic_count, 1);
    ck_assert_uint_eq(r[1].logs[0].topics[0][31], 0x11);
    ck_assert_uint_eq(r[1].logs[0].data_len, 32);
    ck_assert_uint_eq(r[1].logs[0].data[31], 42);
    ck_assert(block_bloom_may_contain(res.logs_bloom, created, 20));
    ck_assert(block_bloom_may_contain(r[1].bloom, r[1].logs[0].topics[0], 32));
    ck_assert_uint_eq(r[1].cumulative_gas_used, 21000 + r[1].gas_used);
    ck_assert_uint_eq(r[2].type, 0);
    ck_assert(u256_eq(r[2].effective_gas_price, u256_from_u64(50)));
    ck_assert_uint_eq(r[2].cumulative_gas_used, res.gas_used);
    ck_assert_uint_eq(res.gas_used, 21000 + r[1].gas_used + 21000);

    /* State: nonces, the priority fee to the coinbase, the EIP-4788 slots, the withdrawals. */
    ck_assert_uint_eq(state_nonce(st, sender), 3);
    u256 tips = u256_add(u256_mul(u256_from_u64(3), u256_from_u64(21000 + r[1].gas_used)),
                         u256_mul(u256_sub(u256_from_u64(50), h.base_fee), u256_from_u64(21000)));
    ck_assert(u256_eq(state_balance(st, COINBASE), tips));
    ck_assert(u256_eq(state_storage(st, block_beacon_roots_address, u256_from_u64(h.timestamp % 8191)),
                      u256_from_u64(h.timestamp)));
    ck_assert(u256_eq(state_storage(st, block_beacon_roots_address, u256_from_u64(h.timestamp % 8191 + 8191)),
                      u256_load_be(h.parent_beacon_root)));
    ck_assert(u256_eq(state_balance(st, WITHDRAW_TO), u256_from_u64(5000000000ull)));
    ck_assert(!state_exists(st, WITHDRAW_ZERO));

    /* Finish the header, encode the block as a proposer would, and import it on a fresh pre-state. */
    ck_assert_int_eq(state_root(st, h.state_root, NULL), 0);
    memcpy(h.transactions_root, res.transactions_root, 32);
    memcpy(h.receipts_root, res.receipts_root, 32);
    memcpy(h.withdrawals_root, res.withdrawals_root, 32);
    memcpy(h.logs_bloom, res.logs_bloom, BLOCK_BLOOM_BYTES);
    h.gas_used = res.gas_used;
    h.blob_gas_used = res.blob_gas_used;
    ck_assert_msg(block_validate_header(&h, &g, false, &err) == 0, "%s", err.message);
    struct tx_signed *included[3];
    for (size_t i = 0; i < 3; i++) included[i] = b.txs[res.included[i]];
    struct rlp_buf buf;
    rlp_buf_init(&buf, 0);
    block_encode(&h, included, 3, true, w, 2, &buf);
    ck_assert_int_eq(rlp_buf_check(&buf, NULL), 0);
    struct block *imported = NULL;
    ck_assert_msg(block_decode(buf.data, buf.len, 0, &imported, &err) == 0, "%s", err.message);
    ck_assert_uint_eq(imported->tx_count, 3);
    ck_assert_uint_eq(imported->withdrawal_count, 2);

    struct state *st2 = pre_state(sender);
    struct block_exec_input in2 = {.header = &imported->header,
                                   .revision = EVM_CANCUN,
                                   .chain_id = u256_from_u64(CHAIN_ID),
                                   .txs = imported->txs,
                                   .tx_count = imported->tx_count,
                                   .withdrawals = imported->withdrawals,
                                   .withdrawal_count = imported->withdrawal_count,
                                   .mode = BLOCK_IMPORT};
    struct block_exec_result res2;
    ck_assert_msg(block_execute(st2, &in2, &res2, &err) == 0, "%s", err.message);
    uint8_t root2[32];
    ck_assert_int_eq(state_root(st2, root2, NULL), 0);
    ck_assert_mem_eq(root2, h.state_root, 32);
    ck_assert_mem_eq(res2.transactions_root, h.transactions_root, 32);
    ck_assert_mem_eq(res2.receipts_root, h.receipts_root, 32);
    ck_assert_mem_eq(res2.withdrawals_root, h.withdrawals_root, 32);
    ck_assert_mem_eq(res2.logs_bloom, h.logs_bloom, BLOCK_BLOOM_BYTES);
    ck_assert_uint_eq(res2.gas_used, h.gas_used);
    ck_assert_uint_eq(res2.dropped_count, 0);
    block_exec_result_free(&res2);
    state_free(st2);

    /* Importing the batch as it came (with the invalid ones) refuses the block at transaction 1. */
    struct state *st3 = pre_state(sender);
    in.mode = BLOCK_IMPORT;
    ck_assert_int_eq(block_execute(st3, &in, &res2, &err), CHAIN_E_REJECTED);
    ck_assert_msg(strstr(err.message, "transaction 1") != NULL && strstr(err.message, "NONCE_MISMATCH") != NULL, "%s",
                  err.message);
    ck_assert_uint_eq(res2.dropped_count, 1);
    ck_assert_uint_eq(res2.dropped[0].index, 1);
    block_exec_result_free(&res2);
    state_free(st3);

    block_free(imported);
    rlp_buf_free(&buf);
    block_exec_result_free(&res);
    state_free(st);
    built_free(&b);
}
END_TEST

/* Without the beacon roots contract nothing is called, and an empty block still has roots. */
START_TEST(empty_block_without_beacon_contract)
{
    struct state *st = state_new();
    ck_assert_ptr_nonnull(st);
    struct block_header h;
    memset(&h, 0, sizeof h);
    h.number = 1;
    h.gas_limit = 30000000;
    h.has_base_fee = h.has_withdrawals_root = h.has_blob_gas = h.has_parent_beacon_root = true;
    memset(h.parent_beacon_root, 1, 32);
    struct block_exec_input in = {
        .header = &h, .revision = EVM_CANCUN, .chain_id = u256_from_u64(1), .mode = BLOCK_BUILD};
    struct block_exec_result res;
    struct cohort_error err = {0};
    ck_assert_int_eq(block_execute(st, &in, &res, &err), 0);
    ck_assert_uint_eq(res.included_count, 0);
    ck_assert_uint_eq(res.gas_used, 0);
    ck_assert_mem_eq(res.transactions_root, trie_empty_root, 32);
    ck_assert_mem_eq(res.receipts_root, trie_empty_root, 32);
    ck_assert_mem_eq(res.withdrawals_root, trie_empty_root, 32);
    uint8_t root[32];
    ck_assert_int_eq(state_root(st, root, NULL), 0);
    ck_assert_mem_eq(root, trie_empty_root, 32);
    ck_assert(!state_exists(st, block_system_address));
    block_exec_result_free(&res);
    block_exec_result_free(&res); /* twice is harmless: it zeroes the result */
    state_free(st);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("block");
    TCase *tc = tcase_create("block");
    tcase_add_test(tc, base_fee_by_eip1559);
    tcase_add_test(tc, excess_blob_gas_by_eip4844);
    tcase_add_test(tc, bloom_bits);
    tcase_add_test(tc, fixture_blocks_round_trip);
    tcase_add_test(tc, build_drops_then_import_agrees);
    tcase_add_test(tc, empty_block_without_beacon_contract);
    suite_add_tcase(s, tc);
    return testutil_run_suite(s, false);
}
