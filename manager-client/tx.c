/* tx.c - legacy (EIP-155) and EIP-1559 transactions: encoding, signing, sending with replacement. */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/keccak.h"
#include "common/rlp.h"
#include "common/secp.h"
#include "manager_client.h"

#define DOMAIN "manager-client"
#define TX_MAX_BYTES (1u << 20) /* far above any manager call; nodes refuse 128 KiB+ anyway */

/* The fields both types share after the fees: gas, to, value, data. */
static void encode_body(struct rlp_buf *b, const struct mc_tx *tx)
{
    rlp_encode_u64(b, tx->gas_limit);
    rlp_encode_bytes(b, tx->has_to ? tx->to : NULL, tx->has_to ? 20 : 0);
    rlp_encode_u256(b, tx->value);
    rlp_encode_bytes(b, tx->data, tx->data_len);
}

static void encode_access_list(struct rlp_buf *b, const struct mc_tx *tx)
{
    size_t list = rlp_encode_list_begin(b);
    for (size_t i = 0; i < tx->naccess; i++) {
        size_t entry = rlp_encode_list_begin(b);
        rlp_encode_bytes(b, tx->access_list[i].address, 20);
        size_t keys = rlp_encode_list_begin(b);
        for (size_t k = 0; k < tx->access_list[i].nkeys; k++) rlp_encode_bytes(b, tx->access_list[i].keys[k], 32);
        rlp_encode_list_end(b, keys);
        rlp_encode_list_end(b, entry);
    }
    rlp_encode_list_end(b, list);
}

/* Encodes the transaction: unsigned (sig NULL: the signing payload) or signed. */
static int encode(const struct mc_tx *tx, const uint8_t *sig, struct rlp_buf *b, struct cohort_error *err)
{
    rlp_buf_init(b, TX_MAX_BYTES);
    if (tx->type == MC_TX_LEGACY) {
        size_t list = rlp_encode_list_begin(b);
        rlp_encode_u64(b, tx->nonce);
        rlp_encode_u256(b, tx->gas_price);
        encode_body(b, tx);
        if (sig == NULL) {
            rlp_encode_u64(b, tx->chain_id);
            rlp_encode_u64(b, 0);
            rlp_encode_u64(b, 0);
        } else {
            /* v = 35 + 2 * chainId + recid, computed in 256 bits: chain ids may be large. */
            u256 v = u256_add(u256_mul(u256_from_u64(tx->chain_id), u256_from_u64(2)), u256_from_u64(35u + sig[64]));
            rlp_encode_u256(b, v);
            rlp_encode_u256(b, u256_load_be(sig));
            rlp_encode_u256(b, u256_load_be(sig + 32));
        }
        rlp_encode_list_end(b, list);
    } else if (tx->type == MC_TX_EIP1559) {
        const uint8_t type = 0x02;
        rlp_encode_raw(b, &type, 1); /* the type byte precedes the RLP list */
        size_t list = rlp_encode_list_begin(b);
        rlp_encode_u64(b, tx->chain_id);
        rlp_encode_u64(b, tx->nonce);
        rlp_encode_u256(b, tx->max_priority_fee_per_gas);
        rlp_encode_u256(b, tx->max_fee_per_gas);
        encode_body(b, tx);
        encode_access_list(b, tx);
        if (sig != NULL) {
            rlp_encode_u64(b, sig[64]);
            rlp_encode_u256(b, u256_load_be(sig));
            rlp_encode_u256(b, u256_load_be(sig + 32));
        }
        rlp_encode_list_end(b, list);
    } else {
        return cohort_error_set(err, MC_E_INVALID, DOMAIN, "transaction type %d is not supported", (int)tx->type);
    }
    int rc = rlp_buf_check(b, err);
    if (rc < 0) {
        rlp_buf_free(b);
        return cohort_error_wrap(err, "encode transaction");
    }
    return 0;
}

int mc_tx_signing_hash(const struct mc_tx *tx, uint8_t hash[32], struct cohort_error *err)
{
    struct rlp_buf b;
    int rc = encode(tx, NULL, &b, err);
    if (rc < 0) return rc;
    keccak256(b.data, b.len, hash);
    rlp_buf_free(&b);
    return 0;
}

int mc_tx_sign(const struct mc_tx *tx, const uint8_t private_key[32], uint8_t **raw, size_t *raw_len, uint8_t hash[32],
               struct cohort_error *err)
{
    uint8_t signing_hash[32], sig[65];
    int rc = mc_tx_signing_hash(tx, signing_hash, err);
    if (rc < 0) return rc;
    if ((rc = secp_sign(private_key, signing_hash, sig, err)) < 0) return rc;
    assert(sig[64] <= 1);
    struct rlp_buf b;
    if ((rc = encode(tx, sig, &b, err)) < 0) return rc;
    keccak256(b.data, b.len, hash);
    *raw = b.data;
    *raw_len = b.len;
    return 0;
}

/* ---- Sending ---- */

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* fee * (1000 + permille) / 1000, rounded up. */
static u256 bump(u256 fee, unsigned permille)
{
    u256 scaled = u256_mul(fee, u256_from_u64(1000 + permille));
    return u256_div(u256_add(scaled, u256_from_u64(999)), u256_from_u64(1000));
}

#define MAX_VERSIONS 8

int mc_send_transaction(struct mc_rpc *rpc, const uint8_t private_key[32], uint64_t expected_chain_id,
                        const struct mc_tx *request, const struct mc_send_options *options, struct mc_receipt *receipt,
                        struct cohort_error *err)
{
    struct mc_send_options o = options ? *options : (struct mc_send_options){0};
    if (o.receipt_timeout_ms == 0) o.receipt_timeout_ms = 30000;
    if (o.poll_ms == 0) o.poll_ms = 200;
    if (o.max_replacements == 0) o.max_replacements = 3;
    if (o.max_replacements > MAX_VERSIONS - 1) o.max_replacements = MAX_VERSIONS - 1;
    if (o.gas_margin_percent == 0) o.gas_margin_percent = 20;
    memset(receipt, 0, sizeof *receipt);

    uint8_t from[20];
    int rc = secp_address_from_secret(private_key, from, err);
    if (rc < 0) return rc;
    char from_text[43];
    address_to_checksum(from, from_text);
    uint64_t chain_id;
    if ((rc = mc_eth_chain_id(rpc, &chain_id, err)) < 0) return rc;
    if (expected_chain_id != 0 && chain_id != expected_chain_id)
        return cohort_error_set(err, MC_E_CHAIN, DOMAIN,
                                "the RPC serves chain %llu but the deployment is on chain %llu: check --rpc",
                                (unsigned long long)chain_id, (unsigned long long)expected_chain_id);

    struct mc_tx tx = *request;
    tx.type = MC_TX_EIP1559;
    tx.chain_id = chain_id;
    if ((rc = mc_eth_get_transaction_count(rpc, from, MC_PENDING, &tx.nonce, err)) < 0) return rc;

    struct mc_call call = {.from = from, .to = tx.has_to ? tx.to : NULL, .value = tx.value, .data = tx.data,
                           .data_len = tx.data_len};
    uint64_t gas;
    if ((rc = mc_eth_estimate_gas(rpc, &call, &gas, err)) < 0) return rc; /* a revert says why, before we pay */
    tx.gas_limit = gas + gas * o.gas_margin_percent / 100 + o.gas_extra;

    u256 base, priority;
    if ((rc = mc_eth_fee_history(rpc, 10, MC_LATEST, 50.0, &base, &priority, err)) < 0) return rc;
    if (u256_is_zero(priority) && mc_eth_max_priority_fee_per_gas(rpc, &priority, NULL) < 0)
        priority = u256_from_u64(1000000000); /* 1 gwei when the node offers no estimate */
    tx.max_priority_fee_per_gas = priority;
    tx.max_fee_per_gas = u256_add(u256_mul(base, u256_from_u64(2)), priority);

    u256 balance;
    if ((rc = mc_eth_get_balance(rpc, from, MC_PENDING, &balance, err)) < 0) return rc;
    u256 worst = u256_add(u256_mul(u256_from_u64(tx.gas_limit), bump(tx.max_fee_per_gas, 125 * o.max_replacements)), tx.value);
    if (u256_lt(balance, worst)) {
        char have[80], need[80];
        u256_to_dec(balance, have, sizeof have);
        u256_to_dec(worst, need, sizeof need);
        return cohort_error_set(err, MC_E_FUNDS, DOMAIN, "%s has %s wei; this transaction may cost up to %s wei: fund it first",
                                from_text, have, need);
    }

    uint8_t hashes[MAX_VERSIONS][32];
    unsigned versions = 0;
    for (unsigned attempt = 0;; attempt++) {
        uint8_t *raw = NULL, hash[32];
        size_t raw_len = 0;
        if ((rc = mc_tx_sign(&tx, private_key, &raw, &raw_len, hash, err)) < 0) return rc;
        uint8_t reported[32];
        rc = mc_eth_send_raw_transaction(rpc, raw, raw_len, reported, err);
        free(raw);
        if (rc == MC_E_RPC && versions > 0 && (strstr(err->message, "nonce too low") || strstr(err->message, "already known"))) {
            /* An earlier version was mined (or is known): keep waiting for it. */
        } else if (rc < 0) {
            return rc;
        } else {
            memcpy(hashes[versions++], hash, 32);
        }
        int64_t deadline = now_ms() + o.receipt_timeout_ms;
        while (now_ms() < deadline) {
            for (unsigned i = 0; i < versions; i++) {
                rc = mc_eth_get_transaction_receipt(rpc, hashes[i], receipt, err);
                if (rc == 0) {
                    if (!receipt->status)
                        return cohort_error_set(err, MC_E_REVERTED, DOMAIN, "transaction mined in block %llu but it reverted",
                                                (unsigned long long)receipt->block_number);
                    return 0;
                }
                if (rc != MC_E_NOT_FOUND) return rc;
            }
            sleep_ms(o.poll_ms);
        }
        if (attempt >= o.max_replacements)
            return cohort_error_set(err, MC_E_TIMEOUT, DOMAIN,
                                    "transaction nonce %llu from %s not mined after %u replacements; the network may be congested",
                                    (unsigned long long)tx.nonce, from_text, o.max_replacements);
        /* Stuck: the same nonce again, fees raised by 12.5%. */
        tx.max_priority_fee_per_gas = bump(tx.max_priority_fee_per_gas, 125);
        tx.max_fee_per_gas = bump(tx.max_fee_per_gas, 125);
    }
}
