/*
 * methods_chain.c - blocks, transactions, receipts, logs and fee history: what the store
 * holds, as geth shows it. A block that does not exist is null, as in geth; a state read
 * at one is an error (methods_state.c).
 */
#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rpc_internal.h"

int rpc_m_eth_blockNumber(struct rpc_call *c)
{
    struct store_view *v = rpc_view(c);
    if (v == NULL) return -1;
    uint64_t head = 0;
    store_view_head(v, &head, NULL);
    rpc_buf_quantity(c->out, head);
    return 0;
}

/* ---- Blocks ---- */

static int block_by_ref(struct rpc_call *c, const struct rpc_block_ref *ref)
{
    bool full;
    if (rpc_param_bool(c, 1, &full) != 0) return -1;
    uint64_t number;
    int rc = rpc_resolve_block(c, ref, &number, NULL, NULL);
    if (rc < 0) return -1;
    if (rc == 0) {
        rpc_buf_puts(c->out, "null");
        return 0;
    }
    return rpc_format_block(c, number, full);
}

int rpc_m_eth_getBlockByNumber(struct rpc_call *c)
{
    struct rpc_block_ref ref;
    if (rpc_param_block(c, 0, &ref) != 0) return -1;
    return block_by_ref(c, &ref);
}

int rpc_m_eth_getBlockByHash(struct rpc_call *c)
{
    struct rpc_block_ref ref = {.kind = RPC_REF_HASH};
    if (rpc_param_hash(c, 0, ref.hash) != 0) return -1;
    return block_by_ref(c, &ref);
}

static int tx_count(struct rpc_call *c, const struct rpc_block_ref *ref)
{
    uint64_t number;
    int rc = rpc_resolve_block(c, ref, &number, NULL, NULL);
    if (rc < 0) return -1;
    if (rc == 0) {
        rpc_buf_puts(c->out, "null");
        return 0;
    }
    uint32_t count = 0;
    struct cohort_error err = {0};
    if (store_block_tx_count(c->view, number, &count, &err) < 0) return rpc_fail_store(c, RPC_ERR_INTERNAL, &err);
    rpc_buf_quantity(c->out, count);
    return 0;
}

int rpc_m_eth_getBlockTransactionCountByHash(struct rpc_call *c)
{
    struct rpc_block_ref ref = {.kind = RPC_REF_HASH};
    if (rpc_param_hash(c, 0, ref.hash) != 0) return -1;
    return tx_count(c, &ref);
}

int rpc_m_eth_getBlockTransactionCountByNumber(struct rpc_call *c)
{
    struct rpc_block_ref ref;
    if (rpc_param_block(c, 0, &ref) != 0) return -1;
    return tx_count(c, &ref);
}

/* No block here has uncles: the count is 0 for a block that exists, null otherwise. */
static int uncle_count(struct rpc_call *c, const struct rpc_block_ref *ref)
{
    uint64_t number;
    int rc = rpc_resolve_block(c, ref, &number, NULL, NULL);
    if (rc < 0) return -1;
    rpc_buf_puts(c->out, rc == 1 ? "\"0x0\"" : "null");
    return 0;
}

int rpc_m_eth_getUncleCountByBlockHash(struct rpc_call *c)
{
    struct rpc_block_ref ref = {.kind = RPC_REF_HASH};
    if (rpc_param_hash(c, 0, ref.hash) != 0) return -1;
    return uncle_count(c, &ref);
}

int rpc_m_eth_getUncleCountByBlockNumber(struct rpc_call *c)
{
    struct rpc_block_ref ref;
    if (rpc_param_block(c, 0, &ref) != 0) return -1;
    return uncle_count(c, &ref);
}

int rpc_m_eth_getUncleByBlockHashAndIndex(struct rpc_call *c)
{
    uint8_t hash[32];
    uint64_t index;
    if (rpc_param_hash(c, 0, hash) != 0 || rpc_param_u64(c, 1, &index) != 0) return -1;
    rpc_buf_puts(c->out, "null");
    return 0;
}

int rpc_m_eth_getUncleByBlockNumberAndIndex(struct rpc_call *c)
{
    struct rpc_block_ref ref;
    uint64_t index;
    if (rpc_param_block(c, 0, &ref) != 0 || rpc_param_u64(c, 1, &index) != 0) return -1;
    rpc_buf_puts(c->out, "null");
    return 0;
}

/* ---- Transactions and receipts ---- */

/* Writes transaction index of block number (null when out of range). */
static int tx_in_block(struct rpc_call *c, uint64_t number, uint64_t index)
{
    struct cohort_error err = {0};
    struct block_header h;
    uint8_t hash[32];
    int rc = store_header(c->view, number, &h, hash, &err);
    if (rc < 0) return rpc_fail_store(c, RPC_ERR_INTERNAL, &err);
    uint32_t count = 0;
    if (rc == 1 && store_block_tx_count(c->view, number, &count, &err) < 0) return rpc_fail_store(c, RPC_ERR_INTERNAL, &err);
    if (rc == 0 || index >= count) {
        rpc_buf_puts(c->out, "null");
        return 0;
    }
    struct tx_signed *t;
    if (rpc_load_tx(c, number, (uint32_t)index, &t) != 0) return -1;
    struct rpc_tx_location loc = {.block_number = number, .index = (uint32_t)index, .base_fee = h.base_fee};
    memcpy(loc.block_hash, hash, 32);
    rpc_format_tx(c->out, t, &loc);
    tx_free(t);
    return 0;
}

struct pending_lookup {
    struct rpc_buf *out;
    bool found;
};

static void write_pending(void *arg, const struct tx_signed *tx)
{
    struct pending_lookup *p = arg;
    p->found = true;
    rpc_format_tx(p->out, tx, NULL);
}

int rpc_m_eth_getTransactionByHash(struct rpc_call *c)
{
    uint8_t hash[32];
    if (rpc_param_hash(c, 0, hash) != 0) return -1;
    struct store_view *v = rpc_view(c);
    if (v == NULL) return -1;
    uint64_t number;
    uint32_t index;
    struct cohort_error err = {0};
    int rc = store_tx_location(v, hash, &number, &index, &err);
    if (rc < 0) return rpc_fail_store(c, RPC_ERR_INTERNAL, &err);
    if (rc == 1) return tx_in_block(c, number, index);
    const struct rpc_chain *ch = &c->rpc->chain;
    struct pending_lookup p = {.out = c->out};
    if (ch->pool_find != NULL && ch->pool_find(ch->ctx, hash, write_pending, &p) == 1 && p.found) return 0;
    rpc_buf_puts(c->out, "null");
    return 0;
}

int rpc_m_eth_getTransactionByBlockHashAndIndex(struct rpc_call *c)
{
    struct rpc_block_ref ref = {.kind = RPC_REF_HASH};
    uint64_t index, number;
    if (rpc_param_hash(c, 0, ref.hash) != 0 || rpc_param_u64(c, 1, &index) != 0) return -1;
    int rc = rpc_resolve_block(c, &ref, &number, NULL, NULL);
    if (rc < 0) return -1;
    if (rc == 0) {
        rpc_buf_puts(c->out, "null");
        return 0;
    }
    return tx_in_block(c, number, index);
}

int rpc_m_eth_getTransactionByBlockNumberAndIndex(struct rpc_call *c)
{
    struct rpc_block_ref ref;
    uint64_t index, number;
    if (rpc_param_block(c, 0, &ref) != 0 || rpc_param_u64(c, 1, &index) != 0) return -1;
    int rc = rpc_resolve_block(c, &ref, &number, NULL, NULL);
    if (rc < 0) return -1;
    if (rc == 0) {
        rpc_buf_puts(c->out, "null");
        return 0;
    }
    return tx_in_block(c, number, index);
}

int rpc_m_eth_getTransactionReceipt(struct rpc_call *c)
{
    uint8_t hash[32];
    if (rpc_param_hash(c, 0, hash) != 0) return -1;
    struct store_view *v = rpc_view(c);
    if (v == NULL) return -1;
    uint64_t number;
    uint32_t index;
    struct cohort_error err = {0};
    int rc = store_tx_location(v, hash, &number, &index, &err);
    if (rc < 0) return rpc_fail_store(c, RPC_ERR_INTERNAL, &err);
    if (rc == 0) {
        rpc_buf_puts(c->out, "null");
        return 0;
    }
    struct block_header h;
    uint8_t block_hash[32];
    rc = store_header(v, number, &h, block_hash, &err);
    if (rc != 1) return rc < 0 ? rpc_fail_store(c, RPC_ERR_INTERNAL, &err) : rpc_fail(c, RPC_ERR_INTERNAL, "internal error: header %llu missing", (unsigned long long)number);
    return rpc_format_receipt(c, number, block_hash, &h, index);
}

int rpc_m_eth_getBlockReceipts(struct rpc_call *c)
{
    struct rpc_block_ref ref;
    if (rpc_param_block(c, 0, &ref) != 0) return -1;
    uint64_t number;
    struct block_header h;
    uint8_t hash[32];
    int rc = rpc_resolve_block(c, &ref, &number, &h, hash);
    if (rc < 0) return -1;
    if (rc == 0) {
        rpc_buf_puts(c->out, "null");
        return 0;
    }
    uint32_t count = 0;
    struct cohort_error err = {0};
    if (store_block_tx_count(c->view, number, &count, &err) < 0) return rpc_fail_store(c, RPC_ERR_INTERNAL, &err);
    rpc_buf_puts(c->out, "[");
    for (uint32_t i = 0; i < count && !c->out->over; i++) {
        if (i) rpc_buf_puts(c->out, ",");
        if (rpc_format_receipt(c, number, hash, &h, i) != 0) return -1;
    }
    rpc_buf_puts(c->out, "]");
    return 0;
}

/* ---- Logs ---- */

struct log_writer {
    struct rpc_call *call;
    const struct rpc_log_criteria *criteria;
    uint32_t limit;
    uint32_t count;
    bool over;
};

static int write_log(void *arg, const struct store_log_match *m, struct cohort_error *err)
{
    (void)err;
    struct log_writer *w = arg;
    /* The store's index may be looser than geth's topic rule (see rpc_log_matches): check again. */
    if (!rpc_log_matches(w->criteria, m->log)) return 0;
    if (w->count == w->limit) {
        w->over = true;
        return 1;
    }
    if (w->count > 0) rpc_buf_puts(w->call->out, ",");
    rpc_format_log(w->call->out, m->log, m->block_hash, m->block_number, m->tx_hash, m->tx_index, m->log_index);
    w->count++;
    return w->call->out->over ? 1 : 0;
}

/* A log range's end for a tag or a number, clamped to the head. */
static uint64_t range_end(const struct rpc_block_ref *ref, uint64_t head)
{
    if (ref->kind == RPC_REF_TAG) return ref->tag == RPC_TAG_EARLIEST ? 0 : head;
    return ref->number;
}

int rpc_logs_query(struct rpc_call *c, const struct rpc_log_criteria *crit, uint64_t from, uint64_t to)
{
    const struct rpc_limits *l = &c->rpc->limits;
    if (to - from >= l->logs_block_range)
        return rpc_fail(c, RPC_ERR_LIMIT,
                        "block range too large: %llu blocks (%llu to %llu), over the limit of %llu blocks per eth_getLogs; "
                        "query a shorter range",
                        (unsigned long long)(to - from + 1), (unsigned long long)from, (unsigned long long)to,
                        (unsigned long long)l->logs_block_range);
    struct store_log_filter f;
    memset(&f, 0, sizeof f);
    f.from = from;
    f.to = to;
    f.addresses = (const uint8_t(*)[20])crit->addresses;
    f.address_count = crit->address_count;
    for (int p = 0; p < RPC_LOG_TOPICS; p++) {
        f.topics[p] = (const uint8_t(*)[32])crit->topics[p];
        f.topic_count[p] = crit->topic_count[p];
    }
    struct log_writer w = {.call = c, .criteria = crit, .limit = l->logs_results};
    size_t start = c->out->len;
    rpc_buf_puts(c->out, "[");
    struct cohort_error err = {0};
    if (store_logs(c->view, &f, write_log, &w, &err) != 0) {
        rpc_buf_truncate(c->out, start);
        return rpc_fail_store(c, RPC_ERR_INTERNAL, &err);
    }
    if (w.over) {
        rpc_buf_truncate(c->out, start);
        return rpc_fail(c, RPC_ERR_LIMIT,
                        "query returned more than %u results (the limit of logs per eth_getLogs); query a shorter "
                        "range or a narrower filter",
                        l->logs_results);
    }
    rpc_buf_puts(c->out, "]");
    return 0;
}

int rpc_m_eth_getLogs(struct rpc_call *c)
{
    struct rpc_log_criteria crit;
    if (rpc_param_log_criteria(c, 0, true, &crit) != 0) return -1;
    int rc = -1;
    struct store_view *v = rpc_view(c);
    if (v == NULL) goto done;
    uint64_t head;
    if (!store_view_head(v, &head, NULL)) {
        rpc_buf_puts(c->out, "[]");
        rc = 0;
        goto done;
    }
    uint64_t from, to;
    if (crit.has_block_hash) {
        struct cohort_error err = {0};
        int found = store_block_number(v, crit.block_hash, &from, &err);
        if (found < 0) {
            rpc_fail_store(c, RPC_ERR_INTERNAL, &err);
            goto done;
        }
        if (found == 0) {
            rpc_fail(c, RPC_ERR_DEFAULT, "unknown block");
            goto done;
        }
        to = from;
    } else {
        struct rpc_block_ref latest = {.kind = RPC_REF_TAG, .tag = RPC_TAG_LATEST};
        from = range_end(crit.has_from ? &crit.from : &latest, head);
        to = range_end(crit.has_to ? &crit.to : &latest, head);
        if (from > to) {
            rpc_fail(c, RPC_ERR_DEFAULT, "invalid block range params: fromBlock %llu is after toBlock %llu",
                     (unsigned long long)from, (unsigned long long)to);
            goto done;
        }
        if (from > head) { /* nothing there yet: pollers ask for the block after the head */
            rpc_buf_puts(c->out, "[]");
            rc = 0;
            goto done;
        }
        if (to > head) to = head;
    }
    rc = rpc_logs_query(c, &crit, from, to);
done:
    rpc_log_criteria_free(&crit);
    return rc;
}

/* ---- Fee history ---- */

#define PERCENTILES_MAX 100u

/* blockCount: a hex quantity, a decimal string or a number (geth's math.HexOrDecimal64). */
static int block_count_param(struct rpc_call *c, uint64_t *out)
{
    const struct rpc_json *j = c->json;
    uint32_t t = c->param[0];
    const struct rpc_json_token *tok = &j->tokens[t];
    if (tok->type == RPC_JSON_STRING) {
        size_t n;
        const char *s = rpc_json_string(j, t, &n);
        if (n >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) return rpc_param_u64(c, 0, out);
        if (n == 0 || n > 19) return rpc_fail(c, RPC_ERR_INVALID_PARAMS, "invalid argument 0: want a block count");
        uint64_t v = 0;
        for (size_t i = 0; i < n; i++) {
            if (s[i] < '0' || s[i] > '9') return rpc_fail(c, RPC_ERR_INVALID_PARAMS, "invalid argument 0: want a block count");
            v = v * 10 + (uint64_t)(s[i] - '0');
        }
        *out = v;
        return 0;
    }
    if (tok->type == RPC_JSON_NUMBER) {
        size_t n = tok->end - tok->start;
        const char *s = j->text + tok->start;
        if (n > 19) return rpc_fail(c, RPC_ERR_INVALID_PARAMS, "invalid argument 0: block count too large");
        uint64_t v = 0;
        for (size_t i = 0; i < n; i++) {
            if (s[i] < '0' || s[i] > '9') return rpc_fail(c, RPC_ERR_INVALID_PARAMS, "invalid argument 0: want a whole block count");
            v = v * 10 + (uint64_t)(s[i] - '0');
        }
        *out = v;
        return 0;
    }
    return rpc_fail(c, RPC_ERR_INVALID_PARAMS, "invalid argument 0: want a block count (a hex quantity or a number)");
}

static int percentiles_param(struct rpc_call *c, double *out, uint32_t *count)
{
    *count = 0;
    if (!rpc_param_given(c, 2)) return 0;
    const struct rpc_json *j = c->json;
    uint32_t t = c->param[2];
    if (j->tokens[t].type != RPC_JSON_ARRAY)
        return rpc_fail(c, RPC_ERR_INVALID_PARAMS, "invalid argument 2: want an array of reward percentiles");
    uint32_t n = j->tokens[t].count;
    if (n > PERCENTILES_MAX)
        return rpc_fail(c, RPC_ERR_DEFAULT, "invalid reward percentile: %u percentiles, over the query limit %u", n,
                        PERCENTILES_MAX);
    for (uint32_t e = t + 1, i = 0; i < n; i++, e = j->tokens[e].next) {
        const struct rpc_json_token *tok = &j->tokens[e];
        if (tok->type != RPC_JSON_NUMBER)
            return rpc_fail(c, RPC_ERR_INVALID_PARAMS, "invalid argument 2: percentile %u is not a number", i);
        char text[64];
        size_t len = tok->end - tok->start;
        if (len >= sizeof text) return rpc_fail(c, RPC_ERR_INVALID_PARAMS, "invalid argument 2: percentile %u is too long", i);
        memcpy(text, j->text + tok->start, len);
        text[len] = '\0';
        double p = strtod(text, NULL);
        if (!(p >= 0 && p <= 100)) return rpc_fail(c, RPC_ERR_DEFAULT, "invalid reward percentile: %f", p);
        if (i > 0 && p < out[i - 1])
            return rpc_fail(c, RPC_ERR_DEFAULT, "invalid reward percentile: #%u:%f > #%u:%f", i - 1, out[i - 1], i, p);
        out[i] = p;
    }
    *count = n;
    return 0;
}

struct tip_gas {
    u256 tip;
    uint64_t gas;
};

static int tip_order(const void *a, const void *b)
{
    const struct tip_gas *x = a, *y = b;
    return u256_lt(x->tip, y->tip) ? -1 : u256_gt(x->tip, y->tip) ? 1 : 0;
}

/* The block's rewards at the percentiles, geth's way: tips sorted, weighted by gas used. */
static int block_rewards(struct rpc_call *c, uint64_t number, const struct block_header *h, const double *pct,
                         uint32_t npct, u256 *rewards)
{
    for (uint32_t i = 0; i < npct; i++) rewards[i] = u256_zero();
    struct cohort_error err = {0};
    uint32_t count = 0;
    if (store_block_tx_count(c->view, number, &count, &err) < 0) return rpc_fail_store(c, RPC_ERR_INTERNAL, &err);
    if (count == 0 || npct == 0) return 0;
    struct tip_gas *txs = calloc(count, sizeof *txs);
    if (txs == NULL) return rpc_fail(c, RPC_ERR_INTERNAL, "out of memory");
    for (uint32_t i = 0; i < count; i++) {
        const uint8_t *raw;
        size_t raw_len;
        struct tx_signed *t = NULL;
        struct block_receipt r;
        uint32_t first;
        if (store_block_tx(c->view, number, i, &raw, &raw_len, &err) != 1 || tx_decode(raw, raw_len, raw_len, &t, &err) != 0 ||
            store_receipt(c->view, number, i, &r, &first, &err) != 1) {
            tx_free(t);
            free(txs);
            return rpc_fail(c, RPC_ERR_INTERNAL, "internal error: block %llu transaction %u: %s", (unsigned long long)number, i,
                            err.message);
        }
        txs[i].tip = tx_effective_tip(&t->tx, h->base_fee);
        txs[i].gas = r.gas_used;
        store_receipt_free(&r);
        tx_free(t);
    }
    qsort(txs, count, sizeof *txs, tip_order);
    uint32_t index = 0;
    uint64_t sum = txs[0].gas;
    for (uint32_t p = 0; p < npct; p++) {
        uint64_t threshold = (uint64_t)((double)h->gas_used * pct[p] / 100.0);
        while (sum < threshold && index < count - 1) {
            index++;
            sum += txs[index].gas;
        }
        rewards[p] = txs[index].tip;
    }
    free(txs);
    return 0;
}

int rpc_m_eth_feeHistory(struct rpc_call *c)
{
    uint64_t requested;
    if (block_count_param(c, &requested) != 0) return -1;
    struct rpc_block_ref ref;
    if (rpc_param_block(c, 1, &ref) != 0) return -1;
    double pct[PERCENTILES_MAX];
    uint32_t npct;
    if (percentiles_param(c, pct, &npct) != 0) return -1;
    struct store_view *v = rpc_view(c);
    if (v == NULL) return -1;
    uint64_t head;
    if (!store_view_head(v, &head, NULL)) return rpc_fail(c, RPC_ERR_DEFAULT, "header not found");
    uint64_t newest;
    if (ref.kind == RPC_REF_NUMBER && ref.number > head)
        return rpc_fail(c, RPC_ERR_DEFAULT, "request beyond head block: requested %llu, head %llu",
                        (unsigned long long)ref.number, (unsigned long long)head);
    int rc = rpc_resolve_block(c, &ref, &newest, NULL, NULL);
    if (rc < 0) return -1;
    if (rc == 0) return rpc_fail(c, RPC_ERR_DEFAULT, "header not found");
    /* geth clamps the count to its history window rather than refusing. */
    uint64_t blocks = requested;
    if (blocks > c->rpc->limits.fee_history_blocks) blocks = c->rpc->limits.fee_history_blocks;
    if (blocks > newest + 1) blocks = newest + 1;
    struct rpc_buf *b = c->out;
    if (blocks == 0) {
        rpc_buf_puts(b, "{\"oldestBlock\":\"0x0\",\"baseFeePerGas\":[],\"gasUsedRatio\":[]}");
        return 0;
    }
    uint64_t oldest = newest - blocks + 1;
    struct block_header *headers = calloc((size_t)blocks, sizeof *headers);
    u256 *rewards = calloc((size_t)blocks * (npct ? npct : 1), sizeof *rewards);
    if (headers == NULL || rewards == NULL) {
        free(headers);
        free(rewards);
        return rpc_fail(c, RPC_ERR_INTERNAL, "out of memory");
    }
    struct cohort_error err = {0};
    for (uint64_t i = 0; i < blocks; i++) {
        rc = store_header(v, oldest + i, &headers[i], NULL, &err);
        if (rc == 1 && npct > 0) rc = block_rewards(c, oldest + i, &headers[i], pct, npct, rewards + i * npct) == 0 ? 1 : -2;
        if (rc != 1) {
            free(headers);
            free(rewards);
            if (rc == -2) return -1;
            return rc < 0 ? rpc_fail_store(c, RPC_ERR_INTERNAL, &err) : rpc_fail(c, RPC_ERR_INTERNAL, "internal error: header missing");
        }
    }
    rpc_buf_puts(b, "{\"oldestBlock\":");
    rpc_buf_quantity(b, oldest);
    if (npct > 0) {
        rpc_buf_puts(b, ",\"reward\":[");
        for (uint64_t i = 0; i < blocks; i++) {
            rpc_buf_puts(b, i ? ",[" : "[");
            for (uint32_t p = 0; p < npct; p++) {
                if (p) rpc_buf_puts(b, ",");
                rpc_buf_quantity256(b, rewards[i * npct + p]);
            }
            rpc_buf_puts(b, "]");
        }
        rpc_buf_puts(b, "]");
    }
    rpc_buf_puts(b, ",\"baseFeePerGas\":[");
    for (uint64_t i = 0; i < blocks; i++) {
        rpc_buf_quantity256(b, headers[i].base_fee);
        rpc_buf_puts(b, ",");
    }
    const struct block_header *last = &headers[blocks - 1];
    u256 next = block_next_base_fee(last->gas_used, last->gas_limit, last->base_fee);
    if (u256_lt(next, c->rpc->chain.min_base_fee)) next = c->rpc->chain.min_base_fee;
    rpc_buf_quantity256(b, next);
    rpc_buf_puts(b, "],\"gasUsedRatio\":[");
    for (uint64_t i = 0; i < blocks; i++) {
        if (i) rpc_buf_puts(b, ",");
        rpc_buf_double(b, headers[i].gas_limit ? (double)headers[i].gas_used / (double)headers[i].gas_limit : 0);
    }
    rpc_buf_puts(b, "],\"baseFeePerBlobGas\":[");
    for (uint64_t i = 0; i < blocks; i++) {
        rpc_buf_quantity256(b, chain_blob_base_fee(headers[i].excess_blob_gas));
        rpc_buf_puts(b, ",");
    }
    rpc_buf_quantity256(b, chain_blob_base_fee(block_next_excess_blob_gas(last->excess_blob_gas, last->blob_gas_used)));
    rpc_buf_puts(b, "],\"blobGasUsedRatio\":[");
    for (uint64_t i = 0; i < blocks; i++) {
        if (i) rpc_buf_puts(b, ",");
        rpc_buf_double(b, (double)headers[i].blob_gas_used / (double)BLOCK_MAX_BLOB_GAS);
    }
    rpc_buf_puts(b, "]}");
    free(headers);
    free(rewards);
    return 0;
}
