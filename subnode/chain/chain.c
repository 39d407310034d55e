/*
 * chain.c - transaction validation and execution (see chain.h), following the order of
 * checks and charges in Ethereum's execution specs (validate_transaction, check_transaction,
 * process_transaction) for Cancun and the forks before it.
 */
#include "chain.h"

#include <assert.h>
#include <string.h>

#include "common/keccak.h"
#include "subnode/state/host.h"

#define TX_BASE_GAS 21000u
#define TX_CREATE_GAS 53000u
#define TX_DATA_ZERO_GAS 4u
#define TX_DATA_NONZERO_GAS 16u
#define TX_ACCESS_ADDRESS_GAS 2400u
#define TX_ACCESS_KEY_GAS 1900u
#define INITCODE_WORD_GAS 2u
#define MAX_INITCODE_SIZE (2u * 24576u)
#define REFUND_QUOTIENT 5u /* EIP-3529: at most a fifth of the gas used comes back */
#define BLOB_VERSION_KZG 0x01
#define MIN_BLOB_BASE_FEE 1u
#define BLOB_BASE_FEE_UPDATE_FRACTION 3338477u

const char *chain_strerror(int code)
{
    switch (code) {
    case CHAIN_OK: return "ok";
    case CHAIN_E_REJECTED: return "transaction rejected";
    case CHAIN_E_INTERNAL: return "internal error";
    case CHAIN_E_INVALID: return "malformed input";
    case CHAIN_E_RANGE: return "size or count over its cap";
    case CHAIN_E_NOMEM: return "out of memory";
    default: return "unknown chain error";
    }
}

const char *chain_reject_name(enum chain_reject_reason reason)
{
    switch (reason) {
    case CHAIN_REJECT_NONE: return "NONE";
    case CHAIN_REJECT_NONCE_MISMATCH: return "NONCE_MISMATCH";
    case CHAIN_REJECT_NONCE_MAX: return "NONCE_IS_MAX";
    case CHAIN_REJECT_INSUFFICIENT_FUNDS: return "INSUFFICIENT_ACCOUNT_FUNDS";
    case CHAIN_REJECT_INTRINSIC_GAS: return "INTRINSIC_GAS_TOO_LOW";
    case CHAIN_REJECT_GAS_LIMIT_OVER_BLOCK: return "GAS_ALLOWANCE_EXCEEDED";
    case CHAIN_REJECT_FEE_BELOW_BASE_FEE: return "INSUFFICIENT_MAX_FEE_PER_GAS";
    case CHAIN_REJECT_PRIORITY_OVER_MAX_FEE: return "PRIORITY_GREATER_THAN_MAX_FEE_PER_GAS";
    case CHAIN_REJECT_SENDER_NOT_EOA: return "SENDER_NOT_EOA";
    case CHAIN_REJECT_INITCODE_SIZE: return "INITCODE_SIZE_EXCEEDED";
    case CHAIN_REJECT_BLOB_CREATE: return "TYPE_3_TX_CONTRACT_CREATION";
    case CHAIN_REJECT_BLOB_COUNT: return "TYPE_3_TX_BLOB_COUNT";
    case CHAIN_REJECT_BLOB_VERSION: return "TYPE_3_TX_INVALID_BLOB_VERSIONED_HASH";
    case CHAIN_REJECT_BLOB_FEE: return "INSUFFICIENT_MAX_FEE_PER_BLOB_GAS";
    case CHAIN_REJECT_TYPE_UNSUPPORTED: return "TYPE_NOT_SUPPORTED";
    case CHAIN_REJECT_VALUE_OVERFLOW: return "GASLIMIT_PRICE_PRODUCT_OVERFLOW";
    }
    return "UNKNOWN";
}

u256 chain_blob_base_fee(uint64_t excess_blob_gas)
{
    /*
     * fake_exponential(MIN_BLOB_BASE_FEE, excess, FRACTION): the Taylor series of
     * factor * e^(excess / fraction), in integers. The terms shrink once i passes
     * excess / fraction; the cap on steps only guards against absurd excess values.
     */
    u256 numerator = u256_from_u64(excess_blob_gas);
    u256 denominator = u256_from_u64(BLOB_BASE_FEE_UPDATE_FRACTION);
    u256 output = u256_zero();
    u256 accum = u256_mul(u256_from_u64(MIN_BLOB_BASE_FEE), denominator);
    for (uint64_t i = 1; !u256_is_zero(accum) && i < 100000; i++) {
        output = u256_add(output, accum);
        accum = u256_div(u256_mul(accum, numerator), u256_mul(denominator, u256_from_u64(i)));
    }
    return u256_div(output, denominator);
}

uint64_t chain_intrinsic_gas(const struct chain_tx *tx, enum evm_revision revision)
{
    assert(tx != NULL);
    assert(tx->data != NULL || tx->data_len == 0);
    uint64_t gas = tx->has_to ? TX_BASE_GAS : TX_CREATE_GAS;
    for (size_t i = 0; i < tx->data_len; i++) gas += tx->data[i] == 0 ? TX_DATA_ZERO_GAS : TX_DATA_NONZERO_GAS;
    if (!tx->has_to && revision >= EVM_SHANGHAI) gas += INITCODE_WORD_GAS * ((tx->data_len + 31) / 32);
    for (size_t i = 0; i < tx->access_list_len; i++)
        gas += TX_ACCESS_ADDRESS_GAS + TX_ACCESS_KEY_GAS * (uint64_t)tx->access_list[i].key_count;
    return gas;
}

static int reject(struct chain_tx_result *result, enum chain_reject_reason reason, struct cohort_error *err,
                  const char *detail)
{
    result->reason = reason;
    return cohort_error_set(err, CHAIN_E_REJECTED, "chain", "transaction rejected: %s: %s", chain_reject_name(reason),
                            detail);
}

/* a * b, or false when the product does not fit 256 bits. */
static bool mul_checked(u256 a, uint64_t b, u256 *out)
{
    if (b != 0 && u256_gt(a, u256_div(u256_max(), u256_from_u64(b)))) return false;
    *out = u256_mul(a, u256_from_u64(b));
    return true;
}

static bool add_checked(u256 a, u256 b, u256 *out)
{
    *out = u256_add(a, b);
    return !u256_lt(*out, a);
}

/*
 * The checks of validate_transaction and check_transaction, in their order. Sets the
 * effective gas price and the blob gas price the charge uses.
 */
static int validate(const struct state *st, const struct chain_block *block, const struct chain_tx *tx,
                    uint64_t intrinsic, u256 *effective_gas_price, u256 *blob_gas_price,
                    struct chain_tx_result *result, struct cohort_error *err)
{
    enum evm_revision rev = block->revision;
    if ((tx->type == 1 && rev < EVM_BERLIN) || (tx->type == 2 && rev < EVM_LONDON) ||
        (tx->type == 3 && rev < EVM_CANCUN) || tx->type > 3)
        return reject(result, CHAIN_REJECT_TYPE_UNSUPPORTED, err, "type not in this fork");
    if (intrinsic > tx->gas_limit) return reject(result, CHAIN_REJECT_INTRINSIC_GAS, err, "gas limit below intrinsic gas");
    if (tx->nonce == UINT64_MAX) return reject(result, CHAIN_REJECT_NONCE_MAX, err, "nonce 2^64-1");
    if (!tx->has_to && rev >= EVM_SHANGHAI && tx->data_len > MAX_INITCODE_SIZE)
        return reject(result, CHAIN_REJECT_INITCODE_SIZE, err, "init code over 49152 bytes");
    if (!block->call_mode && tx->gas_limit > block->gas_limit)
        return reject(result, CHAIN_REJECT_GAS_LIMIT_OVER_BLOCK, err, "gas limit over the block's");

    u256 max_gas_fee;
    if (tx->type >= 2) {
        if (u256_lt(tx->max_fee_per_gas, tx->max_priority_fee_per_gas))
            return reject(result, CHAIN_REJECT_PRIORITY_OVER_MAX_FEE, err, "priority fee over max fee");
        if (u256_lt(tx->max_fee_per_gas, block->base_fee))
            return reject(result, CHAIN_REJECT_FEE_BELOW_BASE_FEE, err, "max fee below the base fee");
        u256 tip = u256_sub(tx->max_fee_per_gas, block->base_fee);
        if (u256_lt(tx->max_priority_fee_per_gas, tip)) tip = tx->max_priority_fee_per_gas;
        *effective_gas_price = u256_add(tip, block->base_fee);
        if (!mul_checked(tx->max_fee_per_gas, tx->gas_limit, &max_gas_fee))
            return reject(result, CHAIN_REJECT_INSUFFICIENT_FUNDS, err, "gas limit * max fee overflows");
    } else {
        if (rev >= EVM_LONDON && u256_lt(tx->gas_price, block->base_fee))
            return reject(result, CHAIN_REJECT_FEE_BELOW_BASE_FEE, err, "gas price below the base fee");
        *effective_gas_price = tx->gas_price;
        if (!mul_checked(tx->gas_price, tx->gas_limit, &max_gas_fee))
            return reject(result, CHAIN_REJECT_INSUFFICIENT_FUNDS, err, "gas limit * gas price overflows");
    }
    *blob_gas_price = u256_zero();
    if (tx->type == 3) {
        if (!tx->has_to) return reject(result, CHAIN_REJECT_BLOB_CREATE, err, "blob transaction without to");
        if (tx->blob_count == 0 || tx->blob_count > CHAIN_MAX_BLOBS_PER_BLOCK)
            return reject(result, CHAIN_REJECT_BLOB_COUNT, err, "blob count not in 1..6");
        for (size_t i = 0; i < tx->blob_count; i++)
            if (tx->blob_hashes[32 * i] != BLOB_VERSION_KZG)
                return reject(result, CHAIN_REJECT_BLOB_VERSION, err, "versioned hash without version 0x01");
        *blob_gas_price = chain_blob_base_fee(block->excess_blob_gas);
        if (u256_lt(tx->max_fee_per_blob_gas, *blob_gas_price))
            return reject(result, CHAIN_REJECT_BLOB_FEE, err, "max fee per blob gas below the blob base fee");
        u256 blob_fee;
        if (!mul_checked(tx->max_fee_per_blob_gas, CHAIN_GAS_PER_BLOB * (uint64_t)tx->blob_count, &blob_fee) ||
            !add_checked(max_gas_fee, blob_fee, &max_gas_fee))
            return reject(result, CHAIN_REJECT_INSUFFICIENT_FUNDS, err, "blob fee overflows");
    }
    u256 needed;
    if (!add_checked(max_gas_fee, tx->value, &needed) || u256_lt(state_balance(st, tx->sender), needed))
        return reject(result, CHAIN_REJECT_INSUFFICIENT_FUNDS, err, "balance below gas * price + value");
    if (block->call_mode) return 0; /* eth_call: no nonce or EOA check (see chain_block) */
    if (state_nonce(st, tx->sender) != tx->nonce)
        return reject(result, CHAIN_REJECT_NONCE_MISMATCH, err, "nonce differs from the sender's");
    size_t code_len = 0;
    state_code(st, tx->sender, &code_len);
    if (code_len != 0) return reject(result, CHAIN_REJECT_SENDER_NOT_EOA, err, "sender has code (EIP-3607)");
    return 0;
}

static int internal(struct cohort_error *err)
{
    cohort_error_wrap(err, "chain: apply transaction");
    if (err != NULL) err->code = CHAIN_E_INTERNAL;
    return CHAIN_E_INTERNAL;
}

/*
 * EIP-2929 and EIP-2930: the origin, the recipient (or the new contract), the precompiles,
 * the coinbase (EIP-3651, Shanghai on) and the access list start warm.
 */
static int warm_up(struct state *st, const struct chain_block *block, const struct chain_tx *tx,
                   const uint8_t recipient[20], struct cohort_error *err)
{
    if (state_warm_account(st, tx->sender, NULL, err) != 0 || state_warm_account(st, recipient, NULL, err) != 0)
        return -1;
    for (unsigned i = 1; i <= EVM_PRECOMPILE_LAST; i++) {
        uint8_t address[20] = {0};
        address[19] = (uint8_t)i;
        if (!evm_is_precompile(address, block->revision)) continue;
        if (state_warm_account(st, address, NULL, err) != 0) return -1;
    }
    if (block->revision >= EVM_SHANGHAI && state_warm_account(st, block->coinbase, NULL, err) != 0) return -1;
    for (size_t i = 0; i < tx->access_list_len; i++) {
        const struct chain_access_entry *e = &tx->access_list[i];
        if (state_warm_account(st, e->address, NULL, err) != 0) return -1;
        for (size_t k = 0; k < e->key_count; k++)
            if (state_warm_slot(st, e->address, u256_load_be(e->keys + 32 * k), NULL, err) != 0) return -1;
    }
    return 0;
}

int chain_apply_tx(struct state *st, const struct chain_block *block, const struct chain_tx *tx,
                   struct chain_tx_result *result, struct cohort_error *err)
{
    assert(st != NULL && block != NULL && tx != NULL && result != NULL);
    assert(tx->access_list != NULL || tx->access_list_len == 0);
    memset(result, 0, sizeof *result);
    uint64_t intrinsic = chain_intrinsic_gas(tx, block->revision);
    u256 gas_price = u256_zero(), blob_gas_price = u256_zero();
    int rc = validate(st, block, tx, intrinsic, &gas_price, &blob_gas_price, result, err);
    if (rc != 0) return rc;

    state_tx_begin(st);
    /* Everything below is undone if the VM's host fails: a transaction is all or nothing. */
    size_t start = state_snapshot(st);
    /* The upfront charge: all the gas at the effective price, and the blob gas at its price. */
    u256 gas_fee = u256_mul(gas_price, u256_from_u64(tx->gas_limit));
    u256 blob_fee = u256_mul(blob_gas_price, u256_from_u64(CHAIN_GAS_PER_BLOB * (uint64_t)tx->blob_count));
    if (state_sub_balance(st, tx->sender, u256_add(gas_fee, blob_fee), err) != 0 ||
        state_set_nonce(st, tx->sender, tx->nonce + 1, err) != 0)
        goto fail;

    struct evm_message msg;
    memset(&msg, 0, sizeof msg);
    msg.depth = 0;
    msg.gas = (int64_t)(tx->gas_limit - intrinsic);
    memcpy(msg.sender, tx->sender, 20);
    msg.value = tx->value;
    msg.input = tx->data;
    msg.input_size = tx->data_len;
    if (tx->has_to) {
        msg.kind = EVM_CALL;
        memcpy(msg.recipient, tx->to, 20);
        memcpy(msg.code_address, tx->to, 20);
    } else {
        msg.kind = EVM_CREATE;
        evm_create_address(tx->sender, tx->nonce, msg.recipient);
        memcpy(msg.code_address, msg.recipient, 20);
    }
    if (warm_up(st, block, tx, msg.recipient, err) != 0) goto fail;

    struct evm_tx_context context;
    memset(&context, 0, sizeof context);
    memcpy(context.origin, tx->sender, 20);
    context.gas_price = gas_price;
    memcpy(context.coinbase, block->coinbase, 20);
    context.number = block->number;
    context.timestamp = block->timestamp;
    context.gas_limit = block->gas_limit;
    if (block->revision >= EVM_PARIS)
        memcpy(context.prev_randao, block->prev_randao, 32);
    else
        u256_store_be(context.prev_randao, block->difficulty);
    context.chain_id = block->chain_id;
    context.base_fee = block->base_fee;
    context.blob_base_fee = chain_blob_base_fee(block->excess_blob_gas);
    context.blob_hashes = tx->blob_hashes;
    context.blob_hash_count = tx->blob_count;

    struct state_host host;
    struct evm_host iface;
    state_host_init(&host, st, block->revision, &iface);
    host.block_hash = block->block_hash;
    host.block_hash_arg = block->block_hash_arg;
    struct evm_result res;
    if (evm_execute(&iface, &context, block->revision, &msg, &res, err) != 0) goto fail;
    result->status = res.status;
    result->output = res.output_size != 0 ? res.output : NULL;
    result->output_size = res.output_size;
    result->unimplemented_precompile = (res.flags & EVM_FLAG_UNIMPLEMENTED_PRECOMPILE) != 0;
    uint64_t gas_left =
        (res.status == EVM_SUCCESS || res.status == EVM_REVERT) && res.gas_left > 0 ? (uint64_t)res.gas_left : 0;
    int64_t refund = res.status == EVM_SUCCESS ? res.gas_refund : 0;
    bool success = res.status == EVM_SUCCESS;

    /* Refund: at most a fifth of the gas used (EIP-3529; a half before London). */
    uint64_t gas_used = tx->gas_limit - gas_left;
    uint64_t cap = gas_used / (block->revision >= EVM_LONDON ? REFUND_QUOTIENT : 2u);
    uint64_t refunded = refund > 0 ? ((uint64_t)refund < cap ? (uint64_t)refund : cap) : 0;
    gas_left += refunded;
    gas_used -= refunded;
    if (state_add_balance(st, tx->sender, u256_mul(gas_price, u256_from_u64(gas_left)), err) != 0) goto fail;
    /* The priority fee goes to the coinbase, which is touched even for zero (EIP-161); the base fee burns. */
    u256 priority = block->revision >= EVM_LONDON ? u256_sub(gas_price, block->base_fee) : gas_price;
    if (state_add_balance(st, block->coinbase, u256_mul(priority, u256_from_u64(gas_used)), err) != 0 ||
        state_touch(st, block->coinbase, err) != 0)
        goto fail;
    state_tx_end(st);
    result->success = success;
    result->gas_used = gas_used;
    return 0;
fail:
    state_revert(st, start);
    state_tx_end(st);
    return internal(err);
}
