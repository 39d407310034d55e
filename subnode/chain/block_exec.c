/*
 * block_exec.c - block_execute (see block.h): the EIP-4788 system call, every transaction
 * through chain_apply_tx with the block's gas and blob gas accounting, the receipts with
 * their logs copied out of the state, the withdrawals, and the ordered roots.
 *
 * Import and build differ in one place only: what happens to a transaction that cannot be
 * included (invalid against the state, or over the gas the block has left). Import refuses
 * the block; build drops the transaction and goes on. Everything else, and so every root
 * and receipt, is the same code.
 */
#include "block.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "subnode/evm/evm.h"
#include "subnode/state/host.h"

#define DOMAIN "chain"
#define GWEI 1000000000u

void block_exec_result_free(struct block_exec_result *result)
{
    if (result == NULL) return;
    if (result->receipts != NULL)
        for (size_t i = 0; i < result->included_count; i++) free(result->receipts[i].logs);
    free(result->receipts);
    free(result->included);
    free(result->dropped);
    memset(result, 0, sizeof *result);
}

static int nomem(struct cohort_error *err, const char *what)
{
    return cohort_error_set(err, CHAIN_E_NOMEM, DOMAIN, "block: out of memory for %s", what);
}

static int state_failure(struct cohort_error *err, const char *what)
{
    if (err != NULL) {
        cohort_error_wrap(err, "block: %s", what);
        err->code = CHAIN_E_INTERNAL;
        err->domain = DOMAIN;
    }
    return CHAIN_E_INTERNAL;
}

/*
 * EIP-4788: calls the beacon roots contract from the system address with the parent
 * beacon block root as input and 30M gas that nobody pays; the contract stores it by
 * timestamp. Not a transaction: no nonce, no fee, no gas counted in the block.
 */
static int beacon_root_call(struct state *st, const struct chain_block *blk, const uint8_t root[32],
                            struct cohort_error *err)
{
    state_tx_begin(st);
    size_t start = state_snapshot(st);
    struct evm_message msg;
    memset(&msg, 0, sizeof msg);
    msg.kind = EVM_CALL;
    msg.depth = 0;
    msg.gas = BLOCK_SYSTEM_CALL_GAS;
    memcpy(msg.sender, block_system_address, 20);
    memcpy(msg.recipient, block_beacon_roots_address, 20);
    memcpy(msg.code_address, block_beacon_roots_address, 20);
    msg.value = u256_zero();
    msg.input = root;
    msg.input_size = 32;

    struct evm_tx_context context;
    memset(&context, 0, sizeof context);
    memcpy(context.origin, block_system_address, 20);
    memcpy(context.coinbase, blk->coinbase, 20);
    context.number = blk->number;
    context.timestamp = blk->timestamp;
    context.gas_limit = blk->gas_limit;
    memcpy(context.prev_randao, blk->prev_randao, 32);
    context.chain_id = blk->chain_id;
    context.base_fee = blk->base_fee;
    context.blob_base_fee = chain_blob_base_fee(blk->excess_blob_gas);

    struct state_host host;
    struct evm_host iface;
    state_host_init(&host, st, blk->revision, &iface);
    host.block_hash = blk->block_hash;
    host.block_hash_arg = blk->block_hash_arg;
    struct evm_result res;
    if (state_warm_account(st, block_beacon_roots_address, NULL, err) != 0 ||
        evm_execute(&iface, &context, blk->revision, &msg, &res, err) != 0) {
        state_revert(st, start);
        state_tx_end(st);
        return state_failure(err, "EIP-4788 beacon roots call");
    }
    state_tx_end(st);
    return 0;
}

/* Copies the logs of the transaction just ended out of the state into r (one allocation). */
static int copy_logs(const struct state *st, struct block_receipt *r, struct cohort_error *err)
{
    size_t count = 0;
    const struct state_log *logs = state_logs(st, &count);
    r->logs = NULL;
    r->log_count = 0;
    if (count == 0) return 0;
    size_t data_bytes = 0;
    for (size_t i = 0; i < count; i++) {
        if (logs[i].data_len > SIZE_MAX - data_bytes) return nomem(err, "logs");
        data_bytes += logs[i].data_len;
    }
    if (count > (SIZE_MAX - data_bytes) / sizeof(struct block_log)) return nomem(err, "logs");
    struct block_log *out = malloc(count * sizeof *out + data_bytes);
    if (out == NULL) return nomem(err, "logs");
    uint8_t *data = (uint8_t *)(out + count);
    for (size_t i = 0; i < count; i++) {
        assert(logs[i].topic_count <= 4);
        memcpy(out[i].address, logs[i].address, 20);
        out[i].topic_count = logs[i].topic_count;
        memcpy(out[i].topics, logs[i].topics, 32 * (size_t)logs[i].topic_count);
        out[i].data = data;
        out[i].data_len = logs[i].data_len;
        if (logs[i].data_len != 0) memcpy(data, logs[i].data, logs[i].data_len);
        data += logs[i].data_len;
    }
    r->logs = out;
    r->log_count = count;
    return 0;
}

/* Adds amount_gwei * 10^9 wei to each address; a withdrawal that leaves an empty account removes it. */
static int apply_withdrawals(struct state *st, const struct block_withdrawal *w, size_t count, struct cohort_error *err)
{
    for (size_t i = 0; i < count; i++) {
        state_tx_begin(st);
        u256 amount = u256_mul(u256_from_u64(w[i].amount_gwei), u256_from_u64(GWEI));
        /* The touch makes a zero withdrawal to an absent or empty account leave nothing behind (EIP-161). */
        if (state_add_balance(st, w[i].address, amount, err) != 0 || state_touch(st, w[i].address, err) != 0) {
            state_tx_end(st);
            return state_failure(err, "withdrawal");
        }
        state_tx_end(st);
    }
    return 0;
}

static int compute_roots(const struct block_exec_input *in, struct block_exec_result *out, struct cohort_error *err)
{
    size_t n = out->included_count;
    size_t slots = n > in->withdrawal_count ? n : in->withdrawal_count;
    const uint8_t **items = NULL;
    size_t *lens = NULL;
    struct rlp_buf *bufs = NULL;
    int rc = 0;
    if (slots > 0) {
        items = calloc(slots, sizeof *items);
        lens = calloc(slots, sizeof *lens);
        bufs = calloc(slots, sizeof *bufs);
        if (items == NULL || lens == NULL || bufs == NULL) {
            rc = nomem(err, "roots");
            goto done;
        }
    }
    for (size_t i = 0; i < n; i++) {
        const struct tx_signed *t = in->txs[out->included[i]];
        items[i] = t->raw;
        lens[i] = t->raw_len;
    }
    if ((rc = block_ordered_root(items, lens, n, out->transactions_root, err)) != 0) goto done;
    for (size_t i = 0; i < n; i++) {
        rlp_buf_init(&bufs[i], 0);
        block_receipt_encode(&out->receipts[i], &bufs[i]);
        if (rlp_buf_check(&bufs[i], err) != 0) {
            rc = nomem(err, "a receipt");
            goto done;
        }
        items[i] = bufs[i].data;
        lens[i] = bufs[i].len;
    }
    if ((rc = block_ordered_root(items, lens, n, out->receipts_root, err)) != 0) goto done;
    for (size_t i = 0; i < n; i++) rlp_buf_free(&bufs[i]);
    for (size_t i = 0; i < in->withdrawal_count; i++) {
        rlp_buf_init(&bufs[i], 0);
        block_withdrawal_encode(&in->withdrawals[i], &bufs[i]);
        if (rlp_buf_check(&bufs[i], err) != 0) {
            rc = nomem(err, "a withdrawal");
            goto done;
        }
        items[i] = bufs[i].data;
        lens[i] = bufs[i].len;
    }
    rc = block_ordered_root(items, lens, in->withdrawal_count, out->withdrawals_root, err);
done:
    if (bufs != NULL)
        for (size_t i = 0; i < slots; i++) rlp_buf_free(&bufs[i]);
    free(bufs);
    free(lens);
    free(items);
    return rc;
}

/*
 * A transaction that cannot be included: in BLOCK_BUILD it is dropped (and the block goes
 * on, rc 0); in BLOCK_IMPORT the block is invalid (CHAIN_E_REJECTED). Either way it is
 * listed in out->dropped. err already says why (or gets detail here).
 */
static int cannot_include(const struct block_exec_input *in, struct block_exec_result *out, size_t index,
                          enum chain_reject_reason reason, bool bad_signature, struct cohort_error *err)
{
    out->dropped[out->dropped_count++] =
        (struct block_tx_drop){.index = index, .reason = reason, .bad_signature = bad_signature};
    if (in->mode == BLOCK_BUILD) {
        cohort_error_clear(err);
        return 0;
    }
    if (err != NULL) {
        cohort_error_wrap(err, "block: transaction %zu", index);
        err->code = CHAIN_E_REJECTED;
        err->domain = DOMAIN;
    }
    return CHAIN_E_REJECTED;
}

int block_execute(struct state *st, const struct block_exec_input *in, struct block_exec_result *out,
                  struct cohort_error *err)
{
    assert(st != NULL && in != NULL && out != NULL);
    assert(in->header != NULL);
    assert(in->txs != NULL || in->tx_count == 0);
    assert(in->withdrawals != NULL || in->withdrawal_count == 0);
    memset(out, 0, sizeof *out);
    const struct block_header *h = in->header;
    if (in->tx_count > 0) {
        out->included = calloc(in->tx_count, sizeof *out->included);
        out->receipts = calloc(in->tx_count, sizeof *out->receipts);
        out->dropped = calloc(in->tx_count, sizeof *out->dropped);
        if (out->included == NULL || out->receipts == NULL || out->dropped == NULL) return nomem(err, "receipts");
    }

    struct chain_block blk;
    memset(&blk, 0, sizeof blk);
    blk.revision = in->revision;
    memcpy(blk.coinbase, h->coinbase, 20);
    blk.number = h->number;
    blk.timestamp = h->timestamp;
    blk.gas_limit = h->gas_limit;
    blk.base_fee = h->has_base_fee ? h->base_fee : u256_zero();
    blk.difficulty = h->difficulty;
    memcpy(blk.prev_randao, h->mix_hash, 32);
    blk.excess_blob_gas = h->has_blob_gas ? h->excess_blob_gas : 0;
    blk.chain_id = in->chain_id;
    blk.block_hash = in->block_hash;
    blk.block_hash_arg = in->block_hash_arg;

    int rc;
    if (in->revision >= EVM_CANCUN && h->has_parent_beacon_root) {
        size_t code_len = 0;
        state_code(st, block_beacon_roots_address, &code_len);
        if (code_len > 0 && (rc = beacon_root_call(st, &blk, h->parent_beacon_root, err)) != 0) return rc;
    }

    for (size_t i = 0; i < in->tx_count; i++) {
        struct tx_signed *t = in->txs[i];
        assert(t != NULL);
        /* Building, a transaction the block has no gas left for, or whose fee is below the
           block's base fee, is dropped before its sender is recovered (a curve operation):
           under load a block's batches hold more than it takes, the base fee climbs past
           some of them, and they come again in a later block. chain_apply_tx would drop them
           too (the same included set, so the same block). Importing keeps Ethereum's order. */
        if (in->mode == BLOCK_BUILD && t->tx.gas_limit > h->gas_limit - out->gas_used) {
            if ((rc = cannot_include(in, out, i, CHAIN_REJECT_GAS_LIMIT_OVER_BLOCK, false, err)) != 0) return rc;
            continue;
        }
        if (in->mode == BLOCK_BUILD && in->revision >= EVM_LONDON &&
            u256_lt(t->tx.type >= 2 ? t->tx.max_fee_per_gas : t->tx.gas_price, blk.base_fee)) {
            if ((rc = cannot_include(in, out, i, CHAIN_REJECT_FEE_BELOW_BASE_FEE, false, err)) != 0) return rc;
            continue;
        }
        if (!t->sender_known && tx_recover_sender(t, err) != 0) {
            if ((rc = cannot_include(in, out, i, CHAIN_REJECT_NONE, true, err)) != 0) return rc;
            continue;
        }
        /* EIP-155: a transaction signed for another chain is not valid here. */
        if (t->has_chain_id && !u256_eq(u256_from_u64(t->chain_id), in->chain_id)) {
            cohort_error_set(err, CHAIN_E_REJECTED, DOMAIN, "transaction rejected: chain id %llu is not this chain's",
                             (unsigned long long)t->chain_id);
            if ((rc = cannot_include(in, out, i, CHAIN_REJECT_NONE, false, err)) != 0) return rc;
            continue;
        }
        /* The block's gas left (chain_apply_tx checks only the block's whole limit). */
        if (t->tx.gas_limit > h->gas_limit - out->gas_used) {
            cohort_error_set(err, CHAIN_E_REJECTED, DOMAIN,
                             "transaction rejected: %s: gas limit %llu over the %llu the block has left",
                             chain_reject_name(CHAIN_REJECT_GAS_LIMIT_OVER_BLOCK), (unsigned long long)t->tx.gas_limit,
                             (unsigned long long)(h->gas_limit - out->gas_used));
            if ((rc = cannot_include(in, out, i, CHAIN_REJECT_GAS_LIMIT_OVER_BLOCK, false, err)) != 0) return rc;
            continue;
        }
        uint64_t blob_gas = CHAIN_GAS_PER_BLOB * (uint64_t)t->tx.blob_count;
        if (t->tx.blob_count > CHAIN_MAX_BLOBS_PER_BLOCK || blob_gas > BLOCK_MAX_BLOB_GAS - out->blob_gas_used) {
            cohort_error_set(err, CHAIN_E_REJECTED, DOMAIN, "transaction rejected: %s: blob gas over the block's cap",
                             chain_reject_name(CHAIN_REJECT_BLOB_COUNT));
            if ((rc = cannot_include(in, out, i, CHAIN_REJECT_BLOB_COUNT, false, err)) != 0) return rc;
            continue;
        }
        struct chain_tx_result res;
        rc = chain_apply_tx(st, &blk, &t->tx, &res, err);
        if (rc == CHAIN_E_REJECTED) {
            if ((rc = cannot_include(in, out, i, res.reason, false, err)) != 0) return rc;
            continue;
        }
        if (rc != 0) return rc;

        out->gas_used += res.gas_used;
        out->blob_gas_used += blob_gas;
        size_t k = out->included_count;
        struct block_receipt *r = &out->receipts[k];
        memset(r, 0, sizeof *r);
        r->type = (uint8_t)t->tx.type;
        r->success = res.success;
        r->cumulative_gas_used = out->gas_used;
        r->gas_used = res.gas_used;
        r->effective_gas_price =
            in->revision >= EVM_LONDON ? tx_effective_gas_price(&t->tx, blk.base_fee) : t->tx.gas_price;
        if (!t->tx.has_to) {
            r->has_contract_address = true;
            evm_create_address(t->tx.sender, t->tx.nonce, r->contract_address);
        }
        out->included[k] = i;
        out->included_count++; /* from here block_exec_result_free frees r->logs */
        if ((rc = copy_logs(st, r, err)) != 0) return rc;
        block_bloom_of_logs(r->bloom, r->logs, r->log_count);
        for (size_t b = 0; b < BLOCK_BLOOM_BYTES; b++) out->logs_bloom[b] |= r->bloom[b];
    }

    if (in->revision >= EVM_SHANGHAI && (rc = apply_withdrawals(st, in->withdrawals, in->withdrawal_count, err)) != 0)
        return rc;
    return compute_roots(in, out, err);
}
