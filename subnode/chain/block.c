/*
 * block.c - block headers (codec, hash, validation against the parent), the base fee and
 * blob gas rules, the logs bloom, receipts, withdrawals, ordered roots and whole blocks
 * (see block.h). Execution is in block_exec.c.
 */
#include "block.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/keccak.h"
#include "subnode/state/trie.h"

#define DOMAIN "chain"

/* EIP-1559 */
#define ELASTICITY_MULTIPLIER 2u
#define BASE_FEE_MAX_CHANGE_DENOMINATOR 8u
/* Gas limit moves (yellow paper, geth's VerifyGaslimit) */
#define GAS_LIMIT_BOUND_DIVISOR 1024u
#define MIN_GAS_LIMIT 5000u
/* EIP-4844: the target is 3 blobs a block */
#define TARGET_BLOB_GAS_PER_BLOCK (3u * CHAIN_GAS_PER_BLOB)

/* Header field counts: 15 before London, then the fields each fork appends. */
#define HEADER_FIELDS_FRONTIER 15u
#define HEADER_FIELDS_LONDON 16u
#define HEADER_FIELDS_SHANGHAI 17u
#define HEADER_FIELDS_CANCUN_BLOB 19u
#define HEADER_FIELDS_CANCUN 20u
#define BLOCK_RLP_DEPTH 4u /* block, transactions, a legacy transaction, (its lists: refused by tx_decode) */

const uint8_t block_empty_ommers_hash[32] = {0x1d, 0xcc, 0x4d, 0xe8, 0xde, 0xc7, 0x5d, 0x7a, 0xab, 0x85, 0xb5,
                                             0x67, 0xb6, 0xcc, 0xd4, 0x1a, 0xd3, 0x12, 0x45, 0x1b, 0x94, 0x8a,
                                             0x74, 0x13, 0xf0, 0xa1, 0x42, 0xfd, 0x40, 0xd4, 0x93, 0x47};

/* 0x000F3df6D732807Ef1319fB7B8bB8522d0Beac02 and 0xff..fe (EIP-4788). */
const uint8_t block_beacon_roots_address[20] = {0x00, 0x0f, 0x3d, 0xf6, 0xd7, 0x32, 0x80, 0x7e, 0xf1, 0x31,
                                                0x9f, 0xb7, 0xb8, 0xbb, 0x85, 0x22, 0xd0, 0xbe, 0xac, 0x02};
const uint8_t block_system_address[20] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                          0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe};

/* Any decode error becomes CHAIN_E_INVALID (or keeps CHAIN_E_RANGE/NOMEM) with context. */
static int wrap(struct cohort_error *err, int fallback, const char *what)
{
    if (err == NULL) return fallback;
    int code = err->code == CHAIN_E_RANGE || err->code == CHAIN_E_NOMEM ? err->code : fallback;
    cohort_error_wrap(err, "%s", what);
    err->code = code;
    err->domain = DOMAIN;
    return code;
}

/* ---- The header ---- */

void block_header_encode(const struct block_header *h, struct rlp_buf *out)
{
    assert(h != NULL && out != NULL);
    assert(h->extra_data_len <= BLOCK_EXTRA_DATA_MAX);
    size_t list = rlp_encode_list_begin(out);
    rlp_encode_bytes(out, h->parent_hash, 32);
    rlp_encode_bytes(out, h->ommers_hash, 32);
    rlp_encode_bytes(out, h->coinbase, 20);
    rlp_encode_bytes(out, h->state_root, 32);
    rlp_encode_bytes(out, h->transactions_root, 32);
    rlp_encode_bytes(out, h->receipts_root, 32);
    rlp_encode_bytes(out, h->logs_bloom, BLOCK_BLOOM_BYTES);
    rlp_encode_u256(out, h->difficulty);
    rlp_encode_u64(out, h->number);
    rlp_encode_u64(out, h->gas_limit);
    rlp_encode_u64(out, h->gas_used);
    rlp_encode_u64(out, h->timestamp);
    rlp_encode_bytes(out, h->extra_data, h->extra_data_len);
    rlp_encode_bytes(out, h->mix_hash, 32);
    rlp_encode_bytes(out, h->nonce, 8);
    /* The optional fields nest: each fork's needs the one before (asserted, a programmer error). */
    if (h->has_base_fee) rlp_encode_u256(out, h->base_fee);
    assert(!h->has_withdrawals_root || h->has_base_fee);
    if (h->has_withdrawals_root) rlp_encode_bytes(out, h->withdrawals_root, 32);
    assert(!h->has_blob_gas || h->has_withdrawals_root);
    if (h->has_blob_gas) {
        rlp_encode_u64(out, h->blob_gas_used);
        rlp_encode_u64(out, h->excess_blob_gas);
    }
    assert(!h->has_parent_beacon_root || h->has_blob_gas);
    if (h->has_parent_beacon_root) rlp_encode_bytes(out, h->parent_beacon_root, 32);
    rlp_encode_list_end(out, list);
}

void block_header_hash(const struct block_header *header, uint8_t out[32])
{
    /* A header's RLP is under 1 KiB: a stack buffer would do, but rlp_buf grows on its own. */
    struct rlp_buf buf;
    rlp_buf_init(&buf, BLOCK_HEADER_MAX_BYTES);
    block_header_encode(header, &buf);
    int rc = rlp_buf_check(&buf, NULL);
    assert(rc == 0); /* a header's fields are bounded far below the cap; only out of memory can fail */
    (void)rc;
    keccak256(buf.data, buf.len, out);
    rlp_buf_free(&buf);
}

static const char *const header_field_names[HEADER_FIELDS_CANCUN] = {
    "parentHash",    "ommersHash",      "coinbase",    "stateRoot",     "transactionsRoot",
    "receiptsRoot",  "logsBloom",       "difficulty",  "number",        "gasLimit",
    "gasUsed",       "timestamp",       "extraData",   "mixHash",       "nonce",
    "baseFeePerGas", "withdrawalsRoot", "blobGasUsed", "excessBlobGas", "parentBeaconBlockRoot",
};

static int header_field(const struct rlp_item *item, size_t i, struct block_header *h, struct cohort_error *err)
{
    int rc = 0;
    switch (i) {
    case 0: rc = rlp_item_to_fixed(item, h->parent_hash, 32, err); break;
    case 1: rc = rlp_item_to_fixed(item, h->ommers_hash, 32, err); break;
    case 2: rc = rlp_item_to_address(item, h->coinbase, err); break;
    case 3: rc = rlp_item_to_fixed(item, h->state_root, 32, err); break;
    case 4: rc = rlp_item_to_fixed(item, h->transactions_root, 32, err); break;
    case 5: rc = rlp_item_to_fixed(item, h->receipts_root, 32, err); break;
    case 6: rc = rlp_item_to_fixed(item, h->logs_bloom, BLOCK_BLOOM_BYTES, err); break;
    case 7: rc = rlp_item_to_u256(item, &h->difficulty, err); break;
    case 8: rc = rlp_item_to_u64(item, &h->number, err); break;
    case 9: rc = rlp_item_to_u64(item, &h->gas_limit, err); break;
    case 10: rc = rlp_item_to_u64(item, &h->gas_used, err); break;
    case 11: rc = rlp_item_to_u64(item, &h->timestamp, err); break;
    case 12:
        if (!item->is_list && item->payload_len > BLOCK_EXTRA_DATA_MAX)
            return cohort_error_set(err, CHAIN_E_RANGE, DOMAIN, "block header: extraData of %zu bytes, over %d",
                                    item->payload_len, BLOCK_EXTRA_DATA_MAX);
        rc = rlp_item_to_bytes(item, h->extra_data, sizeof h->extra_data, &h->extra_data_len, err);
        break;
    case 13: rc = rlp_item_to_fixed(item, h->mix_hash, 32, err); break;
    case 14: rc = rlp_item_to_fixed(item, h->nonce, 8, err); break;
    case 15: rc = rlp_item_to_u256(item, &h->base_fee, err); break;
    case 16: rc = rlp_item_to_fixed(item, h->withdrawals_root, 32, err); break;
    case 17: rc = rlp_item_to_u64(item, &h->blob_gas_used, err); break;
    case 18: rc = rlp_item_to_u64(item, &h->excess_blob_gas, err); break;
    case 19: rc = rlp_item_to_fixed(item, h->parent_beacon_root, 32, err); break;
    default: assert(0);
    }
    if (rc == 0) return 0;
    if (err != NULL) {
        cohort_error_wrap(err, "block header: field %zu (%s)", i, header_field_names[i]);
        err->code = CHAIN_E_INVALID;
        err->domain = DOMAIN;
    }
    return CHAIN_E_INVALID;
}

int block_header_decode_item(const struct rlp_item *list, struct block_header *out, struct cohort_error *err)
{
    assert(list != NULL && out != NULL);
    if (!list->is_list) return cohort_error_set(err, CHAIN_E_INVALID, DOMAIN, "block header: not an RLP list");
    if (list->encoded_len > BLOCK_HEADER_MAX_BYTES)
        return cohort_error_set(err, CHAIN_E_RANGE, DOMAIN, "block header: %zu bytes, over the %d-byte cap",
                                list->encoded_len, BLOCK_HEADER_MAX_BYTES);
    struct block_header h;
    memset(&h, 0, sizeof h);
    struct rlp_iter it;
    struct rlp_item item;
    if (rlp_iter_init(&it, list, err) != 0) return wrap(err, CHAIN_E_INVALID, "block header");
    size_t count = 0;
    int rc;
    while ((rc = rlp_iter_next(&it, &item, err)) == 1) {
        if (count == HEADER_FIELDS_CANCUN)
            return cohort_error_set(err, CHAIN_E_INVALID, DOMAIN, "block header: more than %u fields",
                                    HEADER_FIELDS_CANCUN);
        if ((rc = header_field(&item, count, &h, err)) != 0) return rc;
        count++;
    }
    if (rc < 0) return wrap(err, CHAIN_E_INVALID, "block header");
    if (count < HEADER_FIELDS_FRONTIER || count == HEADER_FIELDS_CANCUN_BLOB - 1)
        return cohort_error_set(err, CHAIN_E_INVALID, DOMAIN,
                                "block header: %zu fields, want 15, 16 (London), 17 (Shanghai), 19 or 20 (Cancun)",
                                count);
    h.has_base_fee = count >= HEADER_FIELDS_LONDON;
    h.has_withdrawals_root = count >= HEADER_FIELDS_SHANGHAI;
    h.has_blob_gas = count >= HEADER_FIELDS_CANCUN_BLOB;
    h.has_parent_beacon_root = count >= HEADER_FIELDS_CANCUN;
    *out = h;
    return 0;
}

int block_header_decode(const uint8_t *rlp, size_t len, struct block_header *out, struct cohort_error *err)
{
    assert(rlp != NULL || len == 0);
    if (len > BLOCK_HEADER_MAX_BYTES)
        return cohort_error_set(err, CHAIN_E_RANGE, DOMAIN, "block header: %zu bytes, over the %d-byte cap", len,
                                BLOCK_HEADER_MAX_BYTES);
    struct rlp_item list;
    if (rlp_validate(rlp, len, 1, err) != 0 || rlp_decode_whole(rlp, len, &list, err) != 0)
        return wrap(err, CHAIN_E_INVALID, "block header");
    return block_header_decode_item(&list, out, err);
}

/* ---- Base fee and blob gas ---- */

u256 block_next_base_fee(uint64_t parent_gas_used, uint64_t parent_gas_limit, u256 parent_base_fee)
{
    uint64_t target = parent_gas_limit / ELASTICITY_MULTIPLIER;
    if (target == 0 || parent_gas_used == target) return parent_base_fee;
    if (parent_gas_used > target) {
        u256 delta = u256_div(
            u256_div(u256_mul(parent_base_fee, u256_from_u64(parent_gas_used - target)), u256_from_u64(target)),
            u256_from_u64(BASE_FEE_MAX_CHANGE_DENOMINATOR));
        if (u256_is_zero(delta)) delta = u256_from_u64(1);
        return u256_add(parent_base_fee, delta);
    }
    u256 delta =
        u256_div(u256_div(u256_mul(parent_base_fee, u256_from_u64(target - parent_gas_used)), u256_from_u64(target)),
                 u256_from_u64(BASE_FEE_MAX_CHANGE_DENOMINATOR));
    return u256_sub(parent_base_fee, delta);
}

uint64_t block_next_excess_blob_gas(uint64_t parent_excess_blob_gas, uint64_t parent_blob_gas_used)
{
    /* Saturating: both come from a validated parent, far below 2^63, but stay safe. */
    uint64_t sum = parent_excess_blob_gas + parent_blob_gas_used;
    if (sum < parent_excess_blob_gas) sum = UINT64_MAX;
    return sum < TARGET_BLOB_GAS_PER_BLOCK ? 0 : sum - TARGET_BLOB_GAS_PER_BLOCK;
}

/* ---- Bloom ---- */

/* The three bits of M3:2048: the low 11 bits of the first three byte pairs of keccak256. */
static void bloom_bits(const uint8_t *bytes, size_t len, unsigned bits[3])
{
    uint8_t h[32];
    keccak256(bytes, len, h);
    for (unsigned i = 0; i < 3; i++) bits[i] = ((unsigned)h[2 * i] << 8 | h[2 * i + 1]) & 2047u;
}

void block_bloom_add(uint8_t bloom[BLOCK_BLOOM_BYTES], const uint8_t *bytes, size_t len)
{
    unsigned bits[3];
    bloom_bits(bytes, len, bits);
    /* Bit b counts from the low end of the 2048-bit big-endian number. */
    for (unsigned i = 0; i < 3; i++) bloom[BLOCK_BLOOM_BYTES - 1 - bits[i] / 8] |= (uint8_t)(1u << (bits[i] % 8));
}

bool block_bloom_may_contain(const uint8_t bloom[BLOCK_BLOOM_BYTES], const uint8_t *bytes, size_t len)
{
    unsigned bits[3];
    bloom_bits(bytes, len, bits);
    for (unsigned i = 0; i < 3; i++)
        if ((bloom[BLOCK_BLOOM_BYTES - 1 - bits[i] / 8] & (1u << (bits[i] % 8))) == 0) return false;
    return true;
}

void block_bloom_of_logs(uint8_t bloom[BLOCK_BLOOM_BYTES], const struct block_log *logs, size_t count)
{
    assert(logs != NULL || count == 0);
    for (size_t i = 0; i < count; i++) {
        assert(logs[i].topic_count <= 4);
        block_bloom_add(bloom, logs[i].address, 20);
        for (unsigned t = 0; t < logs[i].topic_count; t++) block_bloom_add(bloom, logs[i].topics[t], 32);
    }
}

/* ---- Receipts, withdrawals ---- */

void block_receipt_encode(const struct block_receipt *r, struct rlp_buf *out)
{
    assert(r != NULL && out != NULL);
    assert(r->logs != NULL || r->log_count == 0);
    if (r->type != 0) rlp_encode_raw(out, &r->type, 1);
    size_t list = rlp_encode_list_begin(out);
    rlp_encode_u64(out, r->success ? 1 : 0);
    rlp_encode_u64(out, r->cumulative_gas_used);
    rlp_encode_bytes(out, r->bloom, BLOCK_BLOOM_BYTES);
    size_t logs = rlp_encode_list_begin(out);
    for (size_t i = 0; i < r->log_count; i++) {
        const struct block_log *log = &r->logs[i];
        size_t entry = rlp_encode_list_begin(out);
        rlp_encode_bytes(out, log->address, 20);
        size_t topics = rlp_encode_list_begin(out);
        for (unsigned t = 0; t < log->topic_count; t++) rlp_encode_bytes(out, log->topics[t], 32);
        rlp_encode_list_end(out, topics);
        rlp_encode_bytes(out, log->data, log->data_len);
        rlp_encode_list_end(out, entry);
    }
    rlp_encode_list_end(out, logs);
    rlp_encode_list_end(out, list);
}

void block_withdrawal_encode(const struct block_withdrawal *w, struct rlp_buf *out)
{
    assert(w != NULL && out != NULL);
    size_t list = rlp_encode_list_begin(out);
    rlp_encode_u64(out, w->index);
    rlp_encode_u64(out, w->validator_index);
    rlp_encode_bytes(out, w->address, 20);
    rlp_encode_u64(out, w->amount_gwei);
    rlp_encode_list_end(out, list);
}

static int withdrawal_decode(const struct rlp_item *item, struct block_withdrawal *w, struct cohort_error *err)
{
    size_t count = 0;
    if (!item->is_list || rlp_list_count(item, &count, err) != 0 || count != 4)
        return cohort_error_set(err, CHAIN_E_INVALID, DOMAIN,
                                "not a list of 4 fields [index, validatorIndex, address, amount]");
    struct rlp_iter it;
    struct rlp_item f[4];
    int rc = rlp_iter_init(&it, item, err);
    for (size_t i = 0; rc == 0 && i < 4; i++) rc = rlp_iter_next(&it, &f[i], err) == 1 ? 0 : -1;
    if (rc != 0 || rlp_item_to_u64(&f[0], &w->index, err) != 0 ||
        rlp_item_to_u64(&f[1], &w->validator_index, err) != 0 || rlp_item_to_address(&f[2], w->address, err) != 0 ||
        rlp_item_to_u64(&f[3], &w->amount_gwei, err) != 0)
        return wrap(err, CHAIN_E_INVALID, "field");
    return 0;
}

/* ---- Roots ---- */

int block_ordered_root(const uint8_t *const *items, const size_t *lens, size_t count, uint8_t root[32],
                       struct cohort_error *err)
{
    assert(items != NULL || count == 0);
    assert(lens != NULL || count == 0);
    if (count == 0) {
        memcpy(root, trie_empty_root, 32);
        return 0;
    }
    /* Keys are rlp(i): at most 9 bytes each. */
    if (count > SIZE_MAX / (sizeof(struct trie_entry) + 9))
        return cohort_error_set(err, CHAIN_E_RANGE, DOMAIN, "ordered root: %zu items", count);
    struct trie_entry *entries = malloc(count * (sizeof *entries + 9));
    if (entries == NULL) return cohort_error_set(err, CHAIN_E_NOMEM, DOMAIN, "ordered root: %zu items", count);
    uint8_t *keys = (uint8_t *)(entries + count);
    for (size_t i = 0; i < count; i++) {
        assert(items[i] != NULL && lens[i] > 0);
        uint8_t *key = keys + 9 * i;
        /* rlp(i) written by hand: the encoder would allocate per key. */
        size_t key_len;
        if (i == 0) {
            key[0] = 0x80;
            key_len = 1;
        } else if (i < 0x80) {
            key[0] = (uint8_t)i;
            key_len = 1;
        } else {
            size_t n = 0;
            for (size_t v = i; v != 0; v >>= 8) n++;
            key[0] = (uint8_t)(0x80 + n);
            for (size_t b = 0; b < n; b++) key[1 + b] = (uint8_t)(i >> (8 * (n - 1 - b)));
            key_len = 1 + n;
        }
        entries[i] = (struct trie_entry){.key = key, .key_len = key_len, .value = items[i], .value_len = lens[i]};
    }
    int rc = trie_root(entries, count, root, err);
    free(entries);
    return rc == 0 ? 0 : wrap(err, rc == STATE_E_NOMEM ? CHAIN_E_NOMEM : CHAIN_E_INTERNAL, "ordered root");
}

/* ---- Whole blocks ---- */

void block_free(struct block *block)
{
    if (block == NULL) return;
    for (size_t i = 0; i < block->tx_count; i++) tx_free(block->txs[i]);
    free(block->txs);
    free(block->withdrawals);
    free(block);
}

static int decode_transactions(const struct rlp_item *list, size_t max_bytes, struct block *b, struct cohort_error *err)
{
    if (!list->is_list) return cohort_error_set(err, CHAIN_E_INVALID, DOMAIN, "block: transactions are not a list");
    size_t count = 0;
    if (rlp_list_count(list, &count, err) != 0) return wrap(err, CHAIN_E_INVALID, "block: transactions");
    if (count > BLOCK_TXS_MAX)
        return cohort_error_set(err, CHAIN_E_RANGE, DOMAIN, "block: %zu transactions, over %u", count, BLOCK_TXS_MAX);
    if (count == 0) return 0;
    b->txs = calloc(count, sizeof *b->txs);
    if (b->txs == NULL) return cohort_error_set(err, CHAIN_E_NOMEM, DOMAIN, "block: %zu transactions", count);
    struct rlp_iter it;
    struct rlp_item item;
    int rc = rlp_iter_init(&it, list, err);
    assert(rc == 0);
    while (rlp_iter_next(&it, &item, err) == 1) {
        /* Legacy: the RLP list itself. Typed: a string holding type || rlp(...). */
        const uint8_t *raw;
        size_t raw_len;
        if (item.is_list) {
            raw = item.payload - (item.encoded_len - item.payload_len);
            raw_len = item.encoded_len;
        } else {
            raw = item.payload;
            raw_len = item.payload_len;
            if (raw_len == 0 || raw[0] > 0x7f)
                return cohort_error_set(err, CHAIN_E_INVALID, DOMAIN,
                                        "block: transaction %zu: a string that is not a typed transaction",
                                        b->tx_count);
        }
        if ((rc = tx_decode(raw, raw_len, max_bytes, &b->txs[b->tx_count], err)) != 0) {
            cohort_error_wrap(err, "block: transaction %zu", b->tx_count);
            return rc;
        }
        b->tx_count++;
    }
    assert(b->tx_count == count);
    return 0;
}

static int decode_withdrawals(const struct rlp_item *list, struct block *b, struct cohort_error *err)
{
    if (!list->is_list) return cohort_error_set(err, CHAIN_E_INVALID, DOMAIN, "block: withdrawals are not a list");
    size_t count = 0;
    if (rlp_list_count(list, &count, err) != 0) return wrap(err, CHAIN_E_INVALID, "block: withdrawals");
    if (count > BLOCK_WITHDRAWALS_MAX)
        return cohort_error_set(err, CHAIN_E_RANGE, DOMAIN, "block: %zu withdrawals, over %u", count,
                                BLOCK_WITHDRAWALS_MAX);
    b->has_withdrawals = true;
    if (count == 0) return 0;
    b->withdrawals = calloc(count, sizeof *b->withdrawals);
    if (b->withdrawals == NULL) return cohort_error_set(err, CHAIN_E_NOMEM, DOMAIN, "block: %zu withdrawals", count);
    struct rlp_iter it;
    struct rlp_item item;
    int rc = rlp_iter_init(&it, list, err);
    assert(rc == 0);
    while (rlp_iter_next(&it, &item, err) == 1) {
        if ((rc = withdrawal_decode(&item, &b->withdrawals[b->withdrawal_count], err)) != 0) {
            cohort_error_wrap(err, "block: withdrawal %zu", b->withdrawal_count);
            return rc;
        }
        b->withdrawal_count++;
    }
    return 0;
}

int block_decode(const uint8_t *rlp, size_t len, size_t max_bytes, struct block **out, struct cohort_error *err)
{
    assert(out != NULL);
    assert(rlp != NULL || len == 0);
    *out = NULL;
    size_t cap = max_bytes != 0 ? max_bytes : BLOCK_RLP_MAX_BYTES;
    if (len > cap)
        return cohort_error_set(err, CHAIN_E_RANGE, DOMAIN, "block: %zu bytes is over the %zu-byte cap", len, cap);
    struct rlp_item list;
    if (rlp_validate(rlp, len, BLOCK_RLP_DEPTH, err) != 0 || rlp_decode_whole(rlp, len, &list, err) != 0)
        return wrap(err, CHAIN_E_INVALID, "block");
    if (!list.is_list) return cohort_error_set(err, CHAIN_E_INVALID, DOMAIN, "block: not an RLP list");
    struct rlp_item parts[4];
    size_t count = 0;
    struct rlp_iter it;
    struct rlp_item item;
    int rc = rlp_iter_init(&it, &list, err);
    assert(rc == 0);
    while (rlp_iter_next(&it, &item, err) == 1) {
        if (count == 4) return cohort_error_set(err, CHAIN_E_INVALID, DOMAIN, "block: more than 4 parts");
        parts[count++] = item;
    }
    if (count < 3)
        return cohort_error_set(err, CHAIN_E_INVALID, DOMAIN,
                                "block: %zu parts, want [header, transactions, ommers(, withdrawals)]", count);
    struct block *b = calloc(1, sizeof *b);
    if (b == NULL) return cohort_error_set(err, CHAIN_E_NOMEM, DOMAIN, "block");
    rc = block_header_decode_item(&parts[0], &b->header, err);
    if (rc == 0) rc = decode_transactions(&parts[1], cap, b, err);
    if (rc == 0) {
        if (!parts[2].is_list || rlp_list_count(&parts[2], &b->ommer_count, err) != 0)
            rc = cohort_error_set(err, CHAIN_E_INVALID, DOMAIN, "block: ommers are not a list");
        /* Each ommer is a header: a list (after the merge there must be none at all). */
        struct rlp_iter oit;
        struct rlp_item ommer;
        if (rc == 0 && rlp_iter_init(&oit, &parts[2], err) == 0)
            while (rc == 0 && rlp_iter_next(&oit, &ommer, err) == 1)
                if (!ommer.is_list)
                    rc = cohort_error_set(err, CHAIN_E_INVALID, DOMAIN, "block: an ommer is not a list");
    }
    if (rc == 0 && count == 4) rc = decode_withdrawals(&parts[3], b, err);
    /* The withdrawals list is there exactly when the header has its root. */
    if (rc == 0 && b->has_withdrawals != b->header.has_withdrawals_root)
        rc = cohort_error_set(err, CHAIN_E_INVALID, DOMAIN, "block: %s",
                              b->has_withdrawals ? "a withdrawals list without withdrawalsRoot in the header"
                                                 : "no withdrawals list, but the header has withdrawalsRoot");
    if (rc != 0) {
        block_free(b);
        return rc;
    }
    *out = b;
    return 0;
}

void block_encode(const struct block_header *header, struct tx_signed *const *txs, size_t tx_count,
                  bool has_withdrawals, const struct block_withdrawal *withdrawals, size_t withdrawal_count,
                  struct rlp_buf *out)
{
    assert(header != NULL && out != NULL);
    assert(txs != NULL || tx_count == 0);
    assert(withdrawals != NULL || withdrawal_count == 0);
    size_t list = rlp_encode_list_begin(out);
    block_header_encode(header, out);
    size_t tl = rlp_encode_list_begin(out);
    for (size_t i = 0; i < tx_count; i++) {
        if (txs[i]->tx.type == 0)
            rlp_encode_raw(out, txs[i]->raw, txs[i]->raw_len);
        else
            rlp_encode_bytes(out, txs[i]->raw, txs[i]->raw_len);
    }
    rlp_encode_list_end(out, tl);
    rlp_encode_list_end(out, rlp_encode_list_begin(out)); /* no ommers after the merge */
    if (has_withdrawals) {
        size_t wl = rlp_encode_list_begin(out);
        for (size_t i = 0; i < withdrawal_count; i++) block_withdrawal_encode(&withdrawals[i], out);
        rlp_encode_list_end(out, wl);
    }
    rlp_encode_list_end(out, list);
}

/* ---- Validation against the parent ---- */

static int rule(struct cohort_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A broken rule: CHAIN_E_INVALID with "block header: " and the formatted detail. */
static int rule(struct cohort_error *err, const char *fmt, ...)
{
    char detail[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    return cohort_error_set(err, CHAIN_E_INVALID, DOMAIN, "block header: %s", detail);
}

#define ULL(x) ((unsigned long long)(x))

int block_validate_header(const struct block_header *header, const struct block_header *parent,
                          bool allow_equal_timestamp, struct cohort_error *err)
{
    assert(header != NULL && parent != NULL);
    const struct block_header *h = header;
    if (parent->number == UINT64_MAX || h->number != parent->number + 1)
        return rule(err, "number %llu does not follow the parent's %llu", ULL(h->number), ULL(parent->number));
    uint8_t parent_hash[32];
    block_header_hash(parent, parent_hash);
    if (memcmp(parent_hash, h->parent_hash, 32) != 0)
        return cohort_error_set(err, CHAIN_E_INVALID, DOMAIN, "block header: parentHash is not the parent's hash");
    if (h->has_base_fee != parent->has_base_fee || h->has_withdrawals_root != parent->has_withdrawals_root ||
        h->has_blob_gas != parent->has_blob_gas || h->has_parent_beacon_root != parent->has_parent_beacon_root)
        return cohort_error_set(err, CHAIN_E_INVALID, DOMAIN,
                                "block header: its optional fields differ from the parent's");
    if (h->gas_limit < MIN_GAS_LIMIT)
        return rule(err, "gas limit %llu below the minimum %llu", ULL(h->gas_limit), ULL(MIN_GAS_LIMIT));
    uint64_t diff =
        h->gas_limit > parent->gas_limit ? h->gas_limit - parent->gas_limit : parent->gas_limit - h->gas_limit;
    if (diff >= parent->gas_limit / GAS_LIMIT_BOUND_DIVISOR)
        return rule(err, "gas limit %llu moves too far from the parent's %llu (by parent / 1024 at most)",
                    ULL(h->gas_limit), ULL(parent->gas_limit));
    if (h->gas_used > h->gas_limit)
        return rule(err, "gas used %llu over the gas limit %llu", ULL(h->gas_used), ULL(h->gas_limit));
    if (h->timestamp < parent->timestamp || (h->timestamp == parent->timestamp && !allow_equal_timestamp))
        return rule(err, "timestamp %llu is not after the parent's %llu", ULL(h->timestamp), ULL(parent->timestamp));
    if (h->extra_data_len > BLOCK_EXTRA_DATA_MAX)
        return rule(err, "extra data of %llu bytes, over %llu", ULL(h->extra_data_len), ULL(BLOCK_EXTRA_DATA_MAX));
    if (!u256_is_zero(h->difficulty))
        return cohort_error_set(err, CHAIN_E_INVALID, DOMAIN, "block header: difficulty is not 0 after the merge");
    static const uint8_t zero_nonce[8] = {0};
    if (memcmp(h->nonce, zero_nonce, 8) != 0)
        return cohort_error_set(err, CHAIN_E_INVALID, DOMAIN, "block header: nonce is not 0 after the merge");
    if (memcmp(h->ommers_hash, block_empty_ommers_hash, 32) != 0)
        return cohort_error_set(err, CHAIN_E_INVALID, DOMAIN, "block header: ommers hash is not that of an empty list");
    if (h->has_base_fee) {
        u256 want = block_next_base_fee(parent->gas_used, parent->gas_limit, parent->base_fee);
        if (!u256_eq(want, h->base_fee)) {
            char got_text[80], want_text[80];
            u256_to_dec(h->base_fee, got_text, sizeof got_text);
            u256_to_dec(want, want_text, sizeof want_text);
            return cohort_error_set(err, CHAIN_E_INVALID, DOMAIN, "block header: base fee %s, want %s", got_text,
                                    want_text);
        }
    }
    if (h->has_blob_gas) {
        if (h->blob_gas_used > BLOCK_MAX_BLOB_GAS)
            return rule(err, "blob gas used %llu over the cap %llu", ULL(h->blob_gas_used), ULL(BLOCK_MAX_BLOB_GAS));
        if (h->blob_gas_used % CHAIN_GAS_PER_BLOB != 0)
            return rule(err, "blob gas used %llu is not a multiple of %llu", ULL(h->blob_gas_used),
                        ULL(CHAIN_GAS_PER_BLOB));
        uint64_t want = block_next_excess_blob_gas(parent->excess_blob_gas, parent->blob_gas_used);
        if (h->excess_blob_gas != want)
            return rule(err, "excess blob gas %llu, want %llu", ULL(h->excess_blob_gas), ULL(want));
    }
    return 0;
}
