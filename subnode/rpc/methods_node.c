/*
 * methods_node.c - the methods about the node and its pool: web3_*, net_*, eth_chainId,
 * eth_syncing, fee suggestions, eth_accounts and friends, eth_sendRawTransaction,
 * txpool_status, txpool_content.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/keccak.h"
#include "rpc_internal.h"

int rpc_m_web3_clientVersion(struct rpc_call *c)
{
    const char *v = c->rpc->chain.client_version ? c->rpc->chain.client_version : "cohort/v" COHORT_VERSION;
    rpc_buf_string(c->out, v, strlen(v));
    return 0;
}

int rpc_m_web3_sha3(struct rpc_call *c)
{
    uint8_t *data;
    size_t len;
    if (rpc_param_bytes(c, 0, c->rpc->limits.body_bytes, &data, &len) != 0) return -1;
    uint8_t hash[32];
    keccak256(data, len, hash);
    free(data);
    rpc_buf_hex(c->out, hash, 32);
    return 0;
}

int rpc_m_net_version(struct rpc_call *c)
{
    rpc_buf_printf(c->out, "\"%llu\"", (unsigned long long)c->rpc->chain.chain_id);
    return 0;
}

int rpc_m_net_listening(struct rpc_call *c)
{
    rpc_buf_puts(c->out, "true");
    return 0;
}

int rpc_m_net_peerCount(struct rpc_call *c)
{
    const struct rpc_chain *ch = &c->rpc->chain;
    rpc_buf_quantity(c->out, ch->peer_count ? ch->peer_count(ch->ctx) : 0);
    return 0;
}

int rpc_m_eth_chainId(struct rpc_call *c)
{
    rpc_buf_quantity(c->out, c->rpc->chain.chain_id);
    return 0;
}

int rpc_m_eth_syncing(struct rpc_call *c)
{
    const struct rpc_chain *ch = &c->rpc->chain;
    uint64_t starting = 0, current = 0, highest = 0;
    if (ch->syncing == NULL || ch->syncing(ch->ctx, &starting, &current, &highest) != 1) {
        rpc_buf_puts(c->out, "false");
        return 0;
    }
    rpc_buf_puts(c->out, "{\"startingBlock\":");
    rpc_buf_quantity(c->out, starting);
    rpc_buf_puts(c->out, ",\"currentBlock\":");
    rpc_buf_quantity(c->out, current);
    rpc_buf_puts(c->out, ",\"highestBlock\":");
    rpc_buf_quantity(c->out, highest);
    rpc_buf_puts(c->out, "}");
    return 0;
}

int rpc_m_eth_accounts(struct rpc_call *c)
{
    rpc_buf_puts(c->out, "[]"); /* the node holds no user keys */
    return 0;
}

int rpc_m_eth_mining(struct rpc_call *c)
{
    rpc_buf_puts(c->out, "false");
    return 0;
}

int rpc_m_eth_hashrate(struct rpc_call *c)
{
    rpc_buf_puts(c->out, "\"0x0\"");
    return 0;
}

static u256 priority_fee(struct rpc_call *c)
{
    const struct rpc_chain *ch = &c->rpc->chain;
    return ch->max_priority_fee ? ch->max_priority_fee(ch->ctx) : u256_zero();
}

int rpc_m_eth_maxPriorityFeePerGas(struct rpc_call *c)
{
    rpc_buf_quantity256(c->out, priority_fee(c));
    return 0;
}

/* The head's header: 1, 0 on an empty store, -1 (error set). */
static int head_header(struct rpc_call *c, struct block_header *h)
{
    struct rpc_block_ref latest = {.kind = RPC_REF_TAG, .tag = RPC_TAG_LATEST};
    uint64_t number;
    return rpc_resolve_block(c, &latest, &number, h, NULL);
}

int rpc_m_eth_gasPrice(struct rpc_call *c)
{
    const struct rpc_chain *ch = &c->rpc->chain;
    if (ch->gas_price != NULL) {
        rpc_buf_quantity256(c->out, ch->gas_price(ch->ctx));
        return 0;
    }
    /* geth: the suggested tip plus the head's base fee. */
    struct block_header h;
    int rc = head_header(c, &h);
    if (rc < 0) return -1;
    u256 price = priority_fee(c);
    if (rc == 1 && h.has_base_fee) price = u256_add(price, h.base_fee);
    rpc_buf_quantity256(c->out, price);
    return 0;
}

int rpc_m_eth_blobBaseFee(struct rpc_call *c)
{
    struct block_header h;
    int rc = head_header(c, &h);
    if (rc < 0) return -1;
    uint64_t excess = rc == 1 ? block_next_excess_blob_gas(h.excess_blob_gas, h.blob_gas_used) : 0;
    rpc_buf_quantity256(c->out, chain_blob_base_fee(excess));
    return 0;
}

int rpc_m_eth_sendRawTransaction(struct rpc_call *c)
{
    uint8_t *raw;
    size_t len;
    if (rpc_param_bytes(c, 0, c->rpc->limits.body_bytes, &raw, &len) != 0) return -1;
    if (len > TX_RAW_MAX_BYTES) {
        free(raw);
        return rpc_fail(c, RPC_ERR_DEFAULT, "oversized data: transaction size %zu, limit %u", len, TX_RAW_MAX_BYTES);
    }
    const struct rpc_chain *ch = &c->rpc->chain;
    if (ch->send_raw_transaction == NULL) {
        free(raw);
        return rpc_fail(c, RPC_ERR_DEFAULT, "transaction pool not available");
    }
    uint8_t hash[32];
    struct cohort_error err = {0};
    int rc = ch->send_raw_transaction(ch->ctx, raw, len, hash, &err);
    free(raw);
    if (rc != 0) return rpc_fail(c, RPC_ERR_DEFAULT, "%s", err.message[0] ? err.message : "transaction refused");
    rpc_buf_hex(c->out, hash, 32);
    return 0;
}

int rpc_m_txpool_status(struct rpc_call *c)
{
    const struct rpc_chain *ch = &c->rpc->chain;
    uint64_t pending = 0, queued = 0;
    if (ch->pool_status) ch->pool_status(ch->ctx, &pending, &queued);
    rpc_buf_puts(c->out, "{\"pending\":");
    rpc_buf_quantity(c->out, pending);
    rpc_buf_puts(c->out, ",\"queued\":");
    rpc_buf_quantity(c->out, queued);
    rpc_buf_puts(c->out, "}");
    return 0;
}

/* txpool_content groups by pool part, then sender, then nonce: the pool lends transactions one at a time, in its own order. */
struct pool_entry {
    bool queued;
    uint8_t sender[20];
    uint64_t nonce;
    char *json;
    size_t json_len;
};

struct pool_collect {
    struct pool_entry *entries;
    size_t count, cap;
    size_t bytes, max_bytes;
    bool failed;
};

static void collect(void *arg, const struct tx_signed *tx, bool pending)
{
    struct pool_collect *p = arg;
    if (p->failed) return;
    if (p->count == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 64;
        struct pool_entry *grown = realloc(p->entries, cap * sizeof *grown);
        if (grown == NULL) {
            p->failed = true;
            return;
        }
        p->entries = grown;
        p->cap = cap;
    }
    struct rpc_buf b;
    rpc_buf_init(&b, p->max_bytes);
    rpc_format_tx(&b, tx, NULL);
    if (b.over) {
        rpc_buf_free(&b);
        p->failed = true;
        return;
    }
    struct pool_entry *e = &p->entries[p->count++];
    e->queued = !pending;
    memcpy(e->sender, tx->tx.sender, 20);
    e->nonce = tx->tx.nonce;
    e->json = rpc_buf_take(&b, &e->json_len);
    p->bytes += e->json_len;
    if (p->bytes > p->max_bytes) p->failed = true;
}

static int entry_order(const void *a, const void *b)
{
    const struct pool_entry *x = a, *y = b;
    if (x->queued != y->queued) return x->queued ? 1 : -1;
    int cmp = memcmp(x->sender, y->sender, 20);
    if (cmp != 0) return cmp;
    return x->nonce < y->nonce ? -1 : x->nonce > y->nonce;
}

int rpc_m_txpool_content(struct rpc_call *c)
{
    const struct rpc_chain *ch = &c->rpc->chain;
    struct pool_collect p = {.max_bytes = c->rpc->limits.response_bytes};
    if (ch->pool_for_each) ch->pool_for_each(ch->ctx, collect, &p);
    int rc = 0;
    if (p.failed) {
        rc = rpc_fail(c, RPC_ERR_RESPONSE_TOO_LARGE, "response too large: the pool's content is over the limit of %zu bytes per response",
                      c->rpc->limits.response_bytes);
    } else {
        qsort(p.entries, p.count, sizeof *p.entries, entry_order);
        struct rpc_buf *b = c->out;
        rpc_buf_puts(b, "{\"pending\":{");
        size_t i = 0;
        for (int part = 0; part < 2; part++) {
            if (part == 1) rpc_buf_puts(b, "},\"queued\":{");
            bool first_sender = true;
            while (i < p.count && p.entries[i].queued == (part == 1)) {
                const uint8_t *sender = p.entries[i].sender;
                if (!first_sender) rpc_buf_puts(b, ",");
                first_sender = false;
                rpc_buf_hex(b, sender, 20);
                rpc_buf_puts(b, ":{");
                bool first = true;
                while (i < p.count && p.entries[i].queued == (part == 1) && memcmp(p.entries[i].sender, sender, 20) == 0) {
                    rpc_buf_printf(b, "%s\"%llu\":", first ? "" : ",", (unsigned long long)p.entries[i].nonce);
                    rpc_buf_put(b, p.entries[i].json, p.entries[i].json_len);
                    first = false;
                    i++;
                }
                rpc_buf_puts(b, "}");
            }
        }
        rpc_buf_puts(b, "}}");
    }
    for (size_t i = 0; i < p.count; i++) free(p.entries[i].json);
    free(p.entries);
    return rc;
}
