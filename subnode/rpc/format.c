/*
 * format.c - chain objects as JSON, with the fields and the forms geth gives them
 * (internal/ethapi: RPCMarshalHeader, RPCMarshalBlock, newRPCTransaction, MarshalReceipt;
 * core/types' log): QUANTITYs without leading zeros, DATA as 0x-hex, null for what a
 * pending transaction does not have yet.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/keccak.h"
#include "rpc_internal.h"

static void field_hex(struct rpc_buf *b, const char *name, const uint8_t *data, size_t n)
{
    rpc_buf_printf(b, "\"%s\":", name);
    rpc_buf_hex(b, data, n);
}

static void field_quantity(struct rpc_buf *b, const char *name, uint64_t v)
{
    rpc_buf_printf(b, "\"%s\":", name);
    rpc_buf_quantity(b, v);
}

static void field_quantity256(struct rpc_buf *b, const char *name, u256 v)
{
    rpc_buf_printf(b, "\"%s\":", name);
    rpc_buf_quantity256(b, v);
}

/* ---- Transactions ---- */

static void access_list(struct rpc_buf *b, const struct chain_tx *tx)
{
    rpc_buf_puts(b, "[");
    for (size_t i = 0; i < tx->access_list_len; i++) {
        const struct chain_access_entry *e = &tx->access_list[i];
        if (i) rpc_buf_puts(b, ",");
        rpc_buf_puts(b, "{");
        field_hex(b, "address", e->address, 20);
        rpc_buf_puts(b, ",\"storageKeys\":[");
        for (size_t k = 0; k < e->key_count; k++) {
            if (k) rpc_buf_puts(b, ",");
            rpc_buf_hex(b, e->keys + 32 * k, 32);
        }
        rpc_buf_puts(b, "]}");
    }
    rpc_buf_puts(b, "]");
}

void rpc_format_tx(struct rpc_buf *b, const struct tx_signed *t, const struct rpc_tx_location *loc)
{
    assert(t->sender_known);
    const struct chain_tx *tx = &t->tx;
    rpc_buf_puts(b, "{");
    if (loc != NULL) {
        field_hex(b, "blockHash", loc->block_hash, 32);
        rpc_buf_puts(b, ",");
        field_quantity(b, "blockNumber", loc->block_number);
    } else {
        rpc_buf_puts(b, "\"blockHash\":null,\"blockNumber\":null");
    }
    rpc_buf_puts(b, ",");
    field_hex(b, "from", tx->sender, 20);
    rpc_buf_puts(b, ",");
    field_quantity(b, "gas", tx->gas_limit);
    rpc_buf_puts(b, ",");
    if (tx->type >= 2) {
        /* Mined: what the sender paid per gas; pending: the most it may pay (geth's choice). */
        u256 price = loc != NULL ? tx_effective_gas_price(tx, loc->base_fee) : tx->max_fee_per_gas;
        field_quantity256(b, "gasPrice", price);
        rpc_buf_puts(b, ",");
        field_quantity256(b, "maxFeePerGas", tx->max_fee_per_gas);
        rpc_buf_puts(b, ",");
        field_quantity256(b, "maxPriorityFeePerGas", tx->max_priority_fee_per_gas);
        if (tx->type == 3) {
            rpc_buf_puts(b, ",");
            field_quantity256(b, "maxFeePerBlobGas", tx->max_fee_per_blob_gas);
        }
    } else {
        field_quantity256(b, "gasPrice", tx->gas_price);
    }
    rpc_buf_puts(b, ",");
    field_hex(b, "hash", t->hash, 32);
    rpc_buf_puts(b, ",");
    field_hex(b, "input", tx->data, tx->data_len);
    rpc_buf_puts(b, ",");
    field_quantity(b, "nonce", tx->nonce);
    rpc_buf_puts(b, ",");
    if (tx->has_to) field_hex(b, "to", tx->to, 20);
    else rpc_buf_puts(b, "\"to\":null");
    rpc_buf_puts(b, ",");
    if (loc != NULL) field_quantity(b, "transactionIndex", loc->index);
    else rpc_buf_puts(b, "\"transactionIndex\":null");
    rpc_buf_puts(b, ",");
    field_quantity256(b, "value", tx->value);
    rpc_buf_puts(b, ",");
    field_quantity(b, "type", tx->type);
    if (tx->type >= 1) {
        rpc_buf_puts(b, ",\"accessList\":");
        access_list(b, tx);
    }
    if (t->has_chain_id) {
        rpc_buf_puts(b, ",");
        field_quantity(b, "chainId", t->chain_id);
    }
    if (tx->type == 3) {
        rpc_buf_puts(b, ",\"blobVersionedHashes\":[");
        for (size_t i = 0; i < tx->blob_count; i++) {
            if (i) rpc_buf_puts(b, ",");
            rpc_buf_hex(b, tx->blob_hashes + 32 * i, 32);
        }
        rpc_buf_puts(b, "]");
    }
    rpc_buf_puts(b, ",");
    field_quantity256(b, "v", tx->type == 0 ? t->v : u256_from_u64(t->y_parity));
    rpc_buf_puts(b, ",");
    field_quantity256(b, "r", t->r);
    rpc_buf_puts(b, ",");
    field_quantity256(b, "s", t->s);
    if (tx->type >= 1) {
        rpc_buf_puts(b, ",");
        field_quantity(b, "yParity", t->y_parity);
    }
    rpc_buf_puts(b, "}");
}

/* ---- Headers and blocks ---- */

void rpc_format_header_fields(struct rpc_buf *b, const struct block_header *h, const uint8_t hash[32])
{
    field_quantity(b, "number", h->number);
    rpc_buf_puts(b, ",");
    field_hex(b, "hash", hash, 32);
    rpc_buf_puts(b, ",");
    field_hex(b, "parentHash", h->parent_hash, 32);
    rpc_buf_puts(b, ",");
    field_hex(b, "nonce", h->nonce, 8);
    rpc_buf_puts(b, ",");
    field_hex(b, "mixHash", h->mix_hash, 32);
    rpc_buf_puts(b, ",");
    field_hex(b, "sha3Uncles", h->ommers_hash, 32);
    rpc_buf_puts(b, ",");
    field_hex(b, "logsBloom", h->logs_bloom, BLOCK_BLOOM_BYTES);
    rpc_buf_puts(b, ",");
    field_hex(b, "stateRoot", h->state_root, 32);
    rpc_buf_puts(b, ",");
    field_hex(b, "miner", h->coinbase, 20);
    rpc_buf_puts(b, ",");
    field_quantity256(b, "difficulty", h->difficulty);
    rpc_buf_puts(b, ",");
    field_hex(b, "extraData", h->extra_data, h->extra_data_len);
    rpc_buf_puts(b, ",");
    field_quantity(b, "gasLimit", h->gas_limit);
    rpc_buf_puts(b, ",");
    field_quantity(b, "gasUsed", h->gas_used);
    rpc_buf_puts(b, ",");
    field_quantity(b, "timestamp", h->timestamp);
    rpc_buf_puts(b, ",");
    field_hex(b, "transactionsRoot", h->transactions_root, 32);
    rpc_buf_puts(b, ",");
    field_hex(b, "receiptsRoot", h->receipts_root, 32);
    if (h->has_base_fee) {
        rpc_buf_puts(b, ",");
        field_quantity256(b, "baseFeePerGas", h->base_fee);
    }
    if (h->has_withdrawals_root) {
        rpc_buf_puts(b, ",");
        field_hex(b, "withdrawalsRoot", h->withdrawals_root, 32);
    }
    if (h->has_blob_gas) {
        rpc_buf_puts(b, ",");
        field_quantity(b, "blobGasUsed", h->blob_gas_used);
        rpc_buf_puts(b, ",");
        field_quantity(b, "excessBlobGas", h->excess_blob_gas);
    }
    if (h->has_parent_beacon_root) {
        rpc_buf_puts(b, ",");
        field_hex(b, "parentBeaconBlockRoot", h->parent_beacon_root, 32);
    }
}

void rpc_format_header(struct rpc_buf *b, const struct block_header *h, const uint8_t hash[32])
{
    rpc_buf_puts(b, "{");
    rpc_format_header_fields(b, h, hash);
    rpc_buf_puts(b, "}");
}

/* The bytes an RLP header takes before a payload of n bytes. */
static size_t rlp_prefix(size_t n)
{
    if (n < 56) return 1;
    size_t bytes = 0;
    for (size_t v = n; v != 0; v >>= 8) bytes++;
    return 1 + bytes;
}

int rpc_load_tx(struct rpc_call *c, uint64_t number, uint32_t index, struct tx_signed **out)
{
    struct cohort_error err = {0};
    const uint8_t *raw;
    size_t raw_len;
    int rc = store_block_tx(c->view, number, index, &raw, &raw_len, &err);
    if (rc < 0) return rpc_fail_store(c, RPC_ERR_INTERNAL, &err);
    if (rc == 0)
        return rpc_fail(c, RPC_ERR_INTERNAL, "internal error: transaction %u of block %llu is missing", index,
                        (unsigned long long)number);
    /* The store keeps transactions as they were included; a failure here is corruption. */
    if (tx_decode(raw, raw_len, raw_len, out, &err) != 0 || tx_recover_sender(*out, &err) != 0) {
        tx_free(*out);
        *out = NULL;
        return rpc_fail(c, RPC_ERR_INTERNAL, "internal error: transaction %u of block %llu: %s", index,
                        (unsigned long long)number, err.message);
    }
    return 0;
}

int rpc_format_block(struct rpc_call *c, uint64_t number, bool full)
{
    struct store_view *v = rpc_view(c);
    if (v == NULL) return -1;
    struct cohort_error err = {0};
    struct block_header h;
    uint8_t hash[32];
    int rc = store_header(v, number, &h, hash, &err);
    if (rc < 0) return rpc_fail_store(c, RPC_ERR_INTERNAL, &err);
    if (rc == 0) {
        rpc_buf_puts(c->out, "null");
        return 0;
    }
    uint32_t count = 0;
    if (store_block_tx_count(v, number, &count, &err) < 0) return rpc_fail_store(c, RPC_ERR_INTERNAL, &err);
    /* size: the RLP of [header, [txs], [], [withdrawals]] as geth's Block.Size gives it. */
    struct rlp_buf hb;
    rlp_buf_init(&hb, BLOCK_HEADER_MAX_BYTES * 2);
    block_header_encode(&h, &hb);
    size_t header_len = hb.len;
    rlp_buf_free(&hb);
    size_t txs_payload = 0;
    for (uint32_t i = 0; i < count; i++) {
        const uint8_t *raw;
        size_t raw_len;
        rc = store_block_tx(v, number, i, &raw, &raw_len, &err);
        if (rc < 0) return rpc_fail_store(c, RPC_ERR_INTERNAL, &err);
        if (rc == 0) return rpc_fail(c, RPC_ERR_INTERNAL, "internal error: block %llu lacks transaction %u", (unsigned long long)number, i);
        bool legacy = raw_len > 0 && raw[0] >= 0xc0;
        txs_payload += legacy ? raw_len : rlp_prefix(raw_len) + raw_len;
    }
    size_t payload = header_len + rlp_prefix(txs_payload) + txs_payload + 1 /* ommers [] */;
    if (h.has_withdrawals_root) payload += 1; /* withdrawals [] */
    size_t size = rlp_prefix(payload) + payload;

    struct rpc_buf *b = c->out;
    rpc_buf_puts(b, "{");
    rpc_format_header_fields(b, &h, hash);
    rpc_buf_puts(b, ",");
    field_quantity(b, "size", size);
    /* Proof of stake and BFT: no difficulty ever accrued (geth reports 0 after the merge). */
    rpc_buf_puts(b, ",\"totalDifficulty\":\"0x0\",\"uncles\":[],\"transactions\":[");
    struct rpc_tx_location loc = {.block_number = number, .base_fee = h.base_fee};
    memcpy(loc.block_hash, hash, 32);
    for (uint32_t i = 0; i < count && !b->over; i++) {
        if (i) rpc_buf_puts(b, ",");
        if (full) {
            struct tx_signed *t;
            if (rpc_load_tx(c, number, i, &t) != 0) return -1;
            loc.index = i;
            rpc_format_tx(b, t, &loc);
            tx_free(t);
        } else {
            const uint8_t *raw;
            size_t raw_len;
            if (store_block_tx(v, number, i, &raw, &raw_len, &err) != 1) return rpc_fail_store(c, RPC_ERR_INTERNAL, &err);
            uint8_t th[32];
            keccak256(raw, raw_len, th);
            rpc_buf_hex(b, th, 32);
        }
    }
    rpc_buf_puts(b, "]");
    if (h.has_withdrawals_root) rpc_buf_puts(b, ",\"withdrawals\":[]");
    rpc_buf_puts(b, "}");
    return 0;
}

/* ---- Logs and receipts ---- */

void rpc_format_log(struct rpc_buf *b, const struct block_log *log, const uint8_t block_hash[32], uint64_t number,
                    const uint8_t tx_hash[32], uint32_t tx_index, uint32_t log_index)
{
    rpc_buf_puts(b, "{");
    field_hex(b, "address", log->address, 20);
    rpc_buf_puts(b, ",\"topics\":[");
    for (unsigned i = 0; i < log->topic_count; i++) {
        if (i) rpc_buf_puts(b, ",");
        rpc_buf_hex(b, log->topics[i], 32);
    }
    rpc_buf_puts(b, "],");
    field_hex(b, "data", log->data, log->data_len);
    rpc_buf_puts(b, ",");
    field_quantity(b, "blockNumber", number);
    rpc_buf_puts(b, ",");
    field_hex(b, "transactionHash", tx_hash, 32);
    rpc_buf_puts(b, ",");
    field_quantity(b, "transactionIndex", tx_index);
    rpc_buf_puts(b, ",");
    field_hex(b, "blockHash", block_hash, 32);
    rpc_buf_puts(b, ",");
    field_quantity(b, "logIndex", log_index);
    rpc_buf_puts(b, ",\"removed\":false}");
}

int rpc_format_receipt(struct rpc_call *c, uint64_t number, const uint8_t block_hash[32], const struct block_header *h,
                       uint32_t index)
{
    struct cohort_error err = {0};
    struct tx_signed *t;
    if (rpc_load_tx(c, number, index, &t) != 0) return -1;
    struct block_receipt r;
    uint32_t first_log = 0;
    int rc = store_receipt(c->view, number, index, &r, &first_log, &err);
    if (rc != 1) {
        tx_free(t);
        if (rc < 0) return rpc_fail_store(c, RPC_ERR_INTERNAL, &err);
        return rpc_fail(c, RPC_ERR_INTERNAL, "internal error: block %llu lacks receipt %u", (unsigned long long)number, index);
    }
    struct rpc_buf *b = c->out;
    rpc_buf_puts(b, "{");
    field_hex(b, "blockHash", block_hash, 32);
    rpc_buf_puts(b, ",");
    field_quantity(b, "blockNumber", number);
    rpc_buf_puts(b, ",");
    field_hex(b, "transactionHash", t->hash, 32);
    rpc_buf_puts(b, ",");
    field_quantity(b, "transactionIndex", index);
    rpc_buf_puts(b, ",");
    field_hex(b, "from", t->tx.sender, 20);
    rpc_buf_puts(b, ",");
    if (t->tx.has_to) field_hex(b, "to", t->tx.to, 20);
    else rpc_buf_puts(b, "\"to\":null");
    rpc_buf_puts(b, ",");
    field_quantity(b, "gasUsed", r.gas_used);
    rpc_buf_puts(b, ",");
    field_quantity(b, "cumulativeGasUsed", r.cumulative_gas_used);
    rpc_buf_puts(b, ",");
    if (r.has_contract_address) field_hex(b, "contractAddress", r.contract_address, 20);
    else rpc_buf_puts(b, "\"contractAddress\":null");
    rpc_buf_puts(b, ",\"logs\":[");
    for (size_t i = 0; i < r.log_count; i++) {
        if (i) rpc_buf_puts(b, ",");
        rpc_format_log(b, &r.logs[i], block_hash, number, t->hash, index, first_log + (uint32_t)i);
    }
    rpc_buf_puts(b, "],");
    field_hex(b, "logsBloom", r.bloom, BLOCK_BLOOM_BYTES);
    rpc_buf_puts(b, ",");
    field_quantity(b, "type", r.type);
    rpc_buf_puts(b, ",");
    field_quantity256(b, "effectiveGasPrice", r.effective_gas_price);
    if (r.type == 3) {
        rpc_buf_puts(b, ",");
        field_quantity(b, "blobGasUsed", (uint64_t)CHAIN_GAS_PER_BLOB * t->tx.blob_count);
        rpc_buf_puts(b, ",");
        field_quantity256(b, "blobGasPrice", chain_blob_base_fee(h->excess_blob_gas));
    }
    rpc_buf_puts(b, ",");
    field_quantity(b, "status", r.success ? 1 : 0);
    rpc_buf_puts(b, "}");
    store_receipt_free(&r);
    tx_free(t);
    return 0;
}

/* ---- VM outcomes ---- */

const char *rpc_vm_error(enum evm_status status)
{
    switch (status) {
    case EVM_SUCCESS: return "";
    case EVM_REVERT: return "execution reverted";
    case EVM_OUT_OF_GAS: return "out of gas";
    case EVM_INVALID_INSTRUCTION: return "invalid opcode: INVALID";
    case EVM_UNDEFINED_INSTRUCTION: return "invalid opcode: opcode not defined";
    case EVM_STACK_OVERFLOW: return "stack limit reached 1024";
    case EVM_STACK_UNDERFLOW: return "stack underflow";
    case EVM_BAD_JUMP_DESTINATION: return "invalid jump destination";
    case EVM_STATIC_MODE_VIOLATION: return "write protection";
    case EVM_INVALID_MEMORY_ACCESS: return "return data out of bounds";
    case EVM_CALL_DEPTH_EXCEEDED: return "max call depth exceeded";
    case EVM_INSUFFICIENT_BALANCE: return "insufficient balance for transfer";
    case EVM_CREATE_COLLISION: return "contract address collision";
    case EVM_CONTRACT_VALIDATION_FAILURE: return "max code size exceeded or invalid code: must not begin with 0xef";
    case EVM_NONCE_OVERFLOW: return "nonce uint64 overflow";
    case EVM_PRECOMPILE_FAILURE: return "precompiled contract failed";
    case EVM_PRECOMPILE_NOT_IMPLEMENTED: return "precompiled contract not available on this chain";
    case EVM_INITCODE_SIZE_EXCEEDED: return "max initcode size exceeded";
    }
    return "execution failed";
}

/* Solidity's Panic(uint256) codes, as geth's abi.UnpackRevert names them. */
static const char *panic_reason(u256 code)
{
    if (!u256_fits_u64(code)) return NULL;
    switch (code.w[0]) {
    case 0x00: return "generic panic";
    case 0x01: return "assert(false)";
    case 0x11: return "arithmetic underflow or overflow";
    case 0x12: return "division or modulo by zero";
    case 0x21: return "enum overflow";
    case 0x22: return "invalid encoded storage byte array accessed";
    case 0x31: return "out-of-bounds array access; popping on an empty array";
    case 0x32: return "out-of-bounds access of an array or bytesN";
    case 0x41: return "out of memory";
    case 0x51: return "uninitialized function";
    default: return NULL;
    }
}

/* A 32-byte ABI word that must fit in size_t, or false. */
static bool abi_offset(const uint8_t *word, size_t *out)
{
    for (int i = 0; i < 24; i++)
        if (word[i] != 0) return false;
    uint64_t v = 0;
    for (int i = 24; i < 32; i++) v = v << 8 | word[i];
    if (v > SIZE_MAX / 2) return false;
    *out = (size_t)v;
    return true;
}

int rpc_fail_revert(struct rpc_call *c, const uint8_t *data, size_t len)
{
    static const uint8_t error_selector[4] = {0x08, 0xc3, 0x79, 0xa0}; /* Error(string) */
    static const uint8_t panic_selector[4] = {0x4e, 0x48, 0x7b, 0x71}; /* Panic(uint256) */
    rpc_fail(c, RPC_ERR_REVERTED, "execution reverted");
    if (len >= 4 + 32 && memcmp(data, panic_selector, 4) == 0) {
        u256 code = u256_load_be(data + 4);
        const char *reason = panic_reason(code);
        if (reason != NULL) {
            rpc_fail(c, RPC_ERR_REVERTED, "execution reverted: %s", reason);
        } else {
            char hex[70];
            u256_to_hex(code, hex, sizeof hex);
            rpc_fail(c, RPC_ERR_REVERTED, "execution reverted: unknown panic code: %s", hex);
        }
    } else if (len >= 4 + 64 && memcmp(data, error_selector, 4) == 0) {
        const uint8_t *args = data + 4;
        size_t args_len = len - 4, offset, n;
        if (abi_offset(args, &offset) && offset <= args_len - 32 && abi_offset(args + offset, &n) &&
            n <= args_len - offset - 32) {
            /* The reason is shown as geth shows it; JSON escaping happens when it is written. */
            int shown = n > RPC_MESSAGE_MAX - 32 ? (int)(RPC_MESSAGE_MAX - 32) : (int)n;
            rpc_fail(c, RPC_ERR_REVERTED, "execution reverted: %.*s", shown, (const char *)(args + offset + 32));
            /* A NUL inside the reason would cut the message short: keep what precedes it. */
        }
    }
    rpc_fail_data(c, data, len);
    return -1;
}
