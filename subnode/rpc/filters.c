/*
 * filters.c - the server object, and what it keeps between calls: installed filters
 * (eth_newFilter, eth_newBlockFilter, eth_newPendingTransactionFilter, polled with
 * eth_getFilterChanges), WebSocket subscriptions (eth_subscribe), and the notifier thread
 * that turns the node's rpc_publish_block into newHeads and logs notifications.
 *
 * Filters read what changed from the store when polled: a blocks or logs filter remembers
 * the first block it has not reported, so nothing is buffered for it between polls; a
 * pending-transactions filter buffers hashes (at most RPC_PENDING_HASHES_MAX; more are
 * dropped until it is polled). A filter not polled for limits.filter_timeout_ms is removed
 * (geth's 5 minutes). Subscriptions are pushed to their connection's queue.
 *
 * One lock (rpc->lock) guards the registry. Lock order: the registry, then a connection's
 * own lock inside its push function; nothing calls into the chain's callbacks while
 * holding the registry lock.
 */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "common/hex.h"
#include "rpc_internal.h"

#define DOMAIN "rpc"
/* The notifier catches up at most this many blocks behind the head; older ones are skipped. */
#define NOTIFY_CATCH_UP_MAX 1024u
/* How often the notifier sweeps expired filters when nothing else wakes it. */
#define SWEEP_INTERVAL_MS 10000u

const char *rpc_strerror(int code)
{
    switch (code) {
    case RPC_OK: return "ok";
    case RPC_E_INVALID: return "invalid argument";
    case RPC_E_IO: return "input/output error";
    case RPC_E_NOMEM: return "out of memory";
    default: return "unknown rpc error";
    }
}

void rpc_limits_defaults(struct rpc_limits *l)
{
    if (l->body_bytes == 0) l->body_bytes = (size_t)5 << 20;
    if (l->response_bytes == 0) l->response_bytes = (size_t)25 << 20;
    if (l->batch_requests == 0) l->batch_requests = 1000;
    if (l->logs_block_range == 0) l->logs_block_range = 10000;
    if (l->logs_results == 0) l->logs_results = 10000;
    if (l->filters_per_client == 0) l->filters_per_client = 100;
    if (l->filters_total == 0) l->filters_total = 10000;
    if (l->filter_timeout_ms == 0) l->filter_timeout_ms = 5 * 60 * 1000;
    if (l->connections_per_client == 0) l->connections_per_client = 64;
    if (l->connections_total == 0) l->connections_total = 1024;
    if (l->subscriptions_per_connection == 0) l->subscriptions_per_connection = 100;
    if (l->ws_backlog_bytes == 0) l->ws_backlog_bytes = (size_t)16 << 20;
    if (l->gas_cap == 0) l->gas_cap = 50000000;
    if (l->fee_history_blocks == 0) l->fee_history_blocks = 1024;
}

static uint64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- The registry ---- */

static void filter_free(struct rpc_filter *f)
{
    rpc_log_criteria_free(&f->criteria);
    free(f->hashes);
    free(f);
}

/* Unlinks and frees the filter after prev (NULL: the head). Lock held. */
static void unlink_filter(struct rpc *rpc, struct rpc_filter *prev, struct rpc_filter *f)
{
    if (prev) prev->next = f->next;
    else rpc->filters = f->next;
    if (f->conn != NULL) {
        assert(f->conn->subscriptions > 0);
        f->conn->subscriptions--;
    }
    assert(rpc->filter_count > 0);
    rpc->filter_count--;
    filter_free(f);
}

static void expire_locked(struct rpc *rpc)
{
    uint64_t now = rpc->now_ms();
    struct rpc_filter *prev = NULL, *f = rpc->filters;
    while (f != NULL) {
        struct rpc_filter *next = f->next;
        if (f->conn == NULL && now - f->last_poll_ms > rpc->limits.filter_timeout_ms) unlink_filter(rpc, prev, f);
        else prev = f;
        f = next;
    }
}

void rpc_expire_filters(struct rpc *rpc)
{
    pthread_mutex_lock(&rpc->lock);
    expire_locked(rpc);
    pthread_mutex_unlock(&rpc->lock);
}

/* A filter's id: "0x" and 32 hex digits from the kernel's random source. */
static void new_id(char out[RPC_FILTER_ID_LEN + 1])
{
    uint8_t bytes[16];
    size_t got = 0;
    while (got < sizeof bytes) {
        ssize_t n = getrandom(bytes + got, sizeof bytes - got, 0);
        if (n < 0 && errno == EINTR) continue;
        assert(n > 0); /* getrandom does not fail once the pool is initialised */
        got += (size_t)n;
    }
    hex_encode(bytes, sizeof bytes, out, RPC_FILTER_ID_LEN + 1);
}

static struct rpc_filter *find_locked(struct rpc *rpc, const char *id, struct rpc_filter **prev_out)
{
    struct rpc_filter *prev = NULL;
    for (struct rpc_filter *f = rpc->filters; f != NULL; prev = f, f = f->next) {
        if (strcmp(f->id, id) == 0) {
            if (prev_out) *prev_out = prev;
            return f;
        }
    }
    return NULL;
}

/* Adds f (filled but for id) under the caps; returns 0, or -1 with the call's error naming the cap. Lock held. */
static int add_locked(struct rpc_call *c, struct rpc_filter *f)
{
    struct rpc *rpc = c->rpc;
    expire_locked(rpc);
    if (f->conn == NULL) {
        uint32_t mine = 0;
        for (struct rpc_filter *g = rpc->filters; g != NULL; g = g->next)
            if (g->conn == NULL && strcmp(g->client, f->client) == 0) mine++;
        if (mine >= rpc->limits.filters_per_client)
            return rpc_fail(c, RPC_ERR_LIMIT,
                            "too many filters: %s has %u installed, the limit per client is %u; uninstall some "
                            "(eth_uninstallFilter) or let them expire (%llu s unpolled)",
                            f->client, mine, rpc->limits.filters_per_client,
                            (unsigned long long)(rpc->limits.filter_timeout_ms / 1000));
    } else if (f->conn->subscriptions >= rpc->limits.subscriptions_per_connection) {
        return rpc_fail(c, RPC_ERR_LIMIT,
                        "too many subscriptions: this connection has %u, the limit per connection is %u; "
                        "eth_unsubscribe some",
                        f->conn->subscriptions, rpc->limits.subscriptions_per_connection);
    }
    if (rpc->filter_count >= rpc->limits.filters_total)
        return rpc_fail(c, RPC_ERR_LIMIT, "too many filters and subscriptions on this node: the limit is %u in all",
                        rpc->limits.filters_total);
    do {
        new_id(f->id);
    } while (find_locked(rpc, f->id, NULL) != NULL);
    f->last_poll_ms = rpc->now_ms();
    f->next = rpc->filters;
    rpc->filters = f;
    rpc->filter_count++;
    if (f->conn != NULL) f->conn->subscriptions++;
    return 0;
}

/* The head (0 on an empty store) as the call's view sees it. */
static int view_head(struct rpc_call *c, uint64_t *head, bool *has)
{
    struct store_view *v = rpc_view(c);
    if (v == NULL) return -1;
    *head = 0;
    *has = store_view_head(v, head, NULL);
    return 0;
}

static struct rpc_filter *new_filter(struct rpc_call *c, enum rpc_filter_kind kind)
{
    struct rpc_filter *f = calloc(1, sizeof *f);
    if (f == NULL) {
        rpc_fail(c, RPC_ERR_INTERNAL, "out of memory");
        return NULL;
    }
    f->kind = kind;
    f->to_block = UINT64_MAX;
    snprintf(f->client, sizeof f->client, "%s", c->client->address);
    return f;
}

static int install(struct rpc_call *c, struct rpc_filter *f)
{
    pthread_mutex_lock(&c->rpc->lock);
    int rc = add_locked(c, f);
    char id[RPC_FILTER_ID_LEN + 1];
    memcpy(id, f->id, sizeof id);
    pthread_mutex_unlock(&c->rpc->lock);
    if (rc != 0) {
        filter_free(f);
        return -1;
    }
    rpc_buf_printf(c->out, "\"%s\"", id);
    return 0;
}

int rpc_m_eth_newBlockFilter(struct rpc_call *c)
{
    uint64_t head;
    bool has;
    if (view_head(c, &head, &has) != 0) return -1;
    struct rpc_filter *f = new_filter(c, RPC_FILTER_BLOCKS);
    if (f == NULL) return -1;
    f->next_block = has ? head + 1 : 0;
    return install(c, f);
}

int rpc_m_eth_newPendingTransactionFilter(struct rpc_call *c)
{
    bool full = false;
    if (rpc_param_given(c, 0) && rpc_param_bool(c, 0, &full) != 0) return -1;
    struct rpc_filter *f = new_filter(c, RPC_FILTER_PENDING);
    if (f == NULL) return -1;
    f->full_tx = full;
    return install(c, f);
}

int rpc_m_eth_newFilter(struct rpc_call *c)
{
    struct rpc_log_criteria crit;
    if (rpc_param_log_criteria(c, 0, true, &crit) != 0) return -1;
    uint64_t head;
    bool has;
    if (view_head(c, &head, &has) != 0) {
        rpc_log_criteria_free(&crit);
        return -1;
    }
    struct rpc_filter *f = new_filter(c, RPC_FILTER_LOGS);
    if (f == NULL) {
        rpc_log_criteria_free(&crit);
        return -1;
    }
    f->criteria = crit;
    /* Like geth: changes are the logs of blocks made after the filter, within its range. */
    f->next_block = has ? head + 1 : 0;
    if (crit.has_from && crit.from.kind == RPC_REF_NUMBER && crit.from.number > f->next_block) f->next_block = crit.from.number;
    if (crit.has_to && crit.to.kind == RPC_REF_NUMBER) f->to_block = crit.to.number;
    if (crit.has_to && crit.to.kind == RPC_REF_TAG && crit.to.tag == RPC_TAG_EARLIEST) f->to_block = 0;
    return install(c, f);
}

int rpc_m_eth_uninstallFilter(struct rpc_call *c)
{
    char id[RPC_FILTER_ID_LEN + 1];
    if (rpc_param_filter_id(c, 0, id) != 0) return -1;
    pthread_mutex_lock(&c->rpc->lock);
    struct rpc_filter *prev = NULL;
    struct rpc_filter *f = find_locked(c->rpc, id, &prev);
    bool removed = f != NULL && f->conn == NULL;
    if (removed) unlink_filter(c->rpc, prev, f);
    pthread_mutex_unlock(&c->rpc->lock);
    rpc_buf_puts(c->out, removed ? "true" : "false");
    return 0;
}

/* ---- Changes ---- */

struct change_writer {
    struct rpc_call *call;
    const struct rpc_log_criteria *criteria;
    uint32_t limit;
    uint32_t count;
    bool has_last;
    uint64_t last_block;
    bool stopped;
    uint64_t stop_block;
};

/* Writes logs whole blocks at a time: past the limit, the next block waits for the next poll. */
static int write_change(void *arg, const struct store_log_match *m, struct cohort_error *err)
{
    (void)err;
    struct change_writer *w = arg;
    if (!rpc_log_matches(w->criteria, m->log)) return 0;
    if (w->count >= w->limit && (!w->has_last || m->block_number != w->last_block)) {
        w->stopped = true;
        w->stop_block = m->block_number;
        return 1;
    }
    if (w->count > 0) rpc_buf_puts(w->call->out, ",");
    rpc_format_log(w->call->out, m->log, m->block_hash, m->block_number, m->tx_hash, m->tx_index, m->log_index);
    w->count++;
    w->has_last = true;
    w->last_block = m->block_number;
    return 0;
}

/* The logs of a filter's new blocks; advances it. Lock held. */
static int log_changes(struct rpc_call *c, struct rpc_filter *f, uint64_t head)
{
    uint64_t from = f->next_block, to = head < f->to_block ? head : f->to_block;
    if (from > to) {
        rpc_buf_puts(c->out, "[]");
        return 0;
    }
    /* A filter polled rarely may span many blocks: read at most the eth_getLogs range per poll. */
    if (to - from >= c->rpc->limits.logs_block_range) to = from + c->rpc->limits.logs_block_range - 1;
    struct store_log_filter sf;
    memset(&sf, 0, sizeof sf);
    sf.from = from;
    sf.to = to;
    sf.addresses = (const uint8_t(*)[20])f->criteria.addresses;
    sf.address_count = f->criteria.address_count;
    for (int p = 0; p < RPC_LOG_TOPICS; p++) {
        sf.topics[p] = (const uint8_t(*)[32])f->criteria.topics[p];
        sf.topic_count[p] = f->criteria.topic_count[p];
    }
    struct change_writer w = {.call = c, .criteria = &f->criteria, .limit = c->rpc->limits.logs_results};
    size_t start = c->out->len;
    rpc_buf_puts(c->out, "[");
    struct cohort_error err = {0};
    if (store_logs(c->view, &sf, write_change, &w, &err) != 0) {
        rpc_buf_truncate(c->out, start);
        return rpc_fail_store(c, RPC_ERR_INTERNAL, &err);
    }
    rpc_buf_puts(c->out, "]");
    f->next_block = w.stopped ? w.stop_block : to + 1;
    return 0;
}

static int block_changes(struct rpc_call *c, struct rpc_filter *f, uint64_t head)
{
    rpc_buf_puts(c->out, "[");
    uint64_t n = f->next_block;
    for (uint32_t i = 0; n <= head && i < RPC_FILTER_BLOCKS_MAX; n++, i++) {
        uint8_t hash[32];
        struct cohort_error err = {0};
        int rc = store_header(c->view, n, NULL, hash, &err);
        if (rc < 0) return rpc_fail_store(c, RPC_ERR_INTERNAL, &err);
        if (rc == 0) break;
        if (i) rpc_buf_puts(c->out, ",");
        rpc_buf_hex(c->out, hash, 32);
    }
    rpc_buf_puts(c->out, "]");
    f->next_block = n;
    return 0;
}

struct full_lookup {
    struct rpc_buf *out;
    bool first;
};

static void write_full(void *arg, const struct tx_signed *tx)
{
    struct full_lookup *l = arg;
    if (!l->first) rpc_buf_puts(l->out, ",");
    l->first = false;
    rpc_format_tx(l->out, tx, NULL);
}

int rpc_m_eth_getFilterChanges(struct rpc_call *c)
{
    char id[RPC_FILTER_ID_LEN + 1];
    if (rpc_param_filter_id(c, 0, id) != 0) return -1;
    uint64_t head;
    bool has;
    if (view_head(c, &head, &has) != 0) return -1;
    struct rpc *rpc = c->rpc;
    pthread_mutex_lock(&rpc->lock);
    expire_locked(rpc);
    struct rpc_filter *f = find_locked(rpc, id, NULL);
    if (f == NULL || f->conn != NULL) {
        pthread_mutex_unlock(&rpc->lock);
        return rpc_fail(c, RPC_ERR_DEFAULT, "filter not found");
    }
    f->last_poll_ms = rpc->now_ms();
    int rc = 0;
    if (f->kind == RPC_FILTER_PENDING) {
        /* Take the hashes and answer outside the lock: full objects ask the pool. */
        uint8_t(*hashes)[32] = f->hashes;
        size_t count = f->hash_count;
        bool full = f->full_tx;
        f->hashes = NULL;
        f->hash_count = f->hash_cap = 0;
        pthread_mutex_unlock(&rpc->lock);
        rpc_buf_puts(c->out, "[");
        const struct rpc_chain *ch = &rpc->chain;
        struct full_lookup l = {.out = c->out, .first = true};
        for (size_t i = 0; i < count; i++) {
            if (full) {
                if (ch->pool_find != NULL) ch->pool_find(ch->ctx, hashes[i], write_full, &l);
            } else {
                if (i) rpc_buf_puts(c->out, ",");
                rpc_buf_hex(c->out, hashes[i], 32);
            }
        }
        rpc_buf_puts(c->out, "]");
        free(hashes);
        return 0;
    }
    if (!has) rpc_buf_puts(c->out, "[]");
    else if (f->kind == RPC_FILTER_BLOCKS) rc = block_changes(c, f, head);
    else rc = log_changes(c, f, head);
    pthread_mutex_unlock(&rpc->lock);
    return rc;
}

int rpc_m_eth_getFilterLogs(struct rpc_call *c)
{
    char id[RPC_FILTER_ID_LEN + 1];
    if (rpc_param_filter_id(c, 0, id) != 0) return -1;
    struct rpc *rpc = c->rpc;
    pthread_mutex_lock(&rpc->lock);
    expire_locked(rpc);
    struct rpc_filter *f = find_locked(rpc, id, NULL);
    if (f == NULL || f->conn != NULL || f->kind != RPC_FILTER_LOGS) {
        pthread_mutex_unlock(&rpc->lock);
        return rpc_fail(c, RPC_ERR_DEFAULT, "filter not found");
    }
    f->last_poll_ms = rpc->now_ms();
    /* A copy of the criteria, so the query runs without the lock. */
    struct rpc_log_criteria crit;
    memset(&crit, 0, sizeof crit);
    crit.has_block_hash = f->criteria.has_block_hash;
    memcpy(crit.block_hash, f->criteria.block_hash, 32);
    crit.has_from = f->criteria.has_from;
    crit.has_to = f->criteria.has_to;
    crit.from = f->criteria.from;
    crit.to = f->criteria.to;
    crit.topic_positions = f->criteria.topic_positions;
    bool nomem = false;
    if (f->criteria.address_count) {
        crit.addresses = malloc(f->criteria.address_count * 20);
        if (crit.addresses) memcpy(crit.addresses, f->criteria.addresses, f->criteria.address_count * 20);
        else nomem = true;
        crit.address_count = f->criteria.address_count;
    }
    for (int p = 0; p < RPC_LOG_TOPICS; p++) {
        if (f->criteria.topic_count[p] == 0) continue;
        crit.topics[p] = malloc(f->criteria.topic_count[p] * 32);
        if (crit.topics[p]) memcpy(crit.topics[p], f->criteria.topics[p], f->criteria.topic_count[p] * 32);
        else nomem = true;
        crit.topic_count[p] = f->criteria.topic_count[p];
    }
    pthread_mutex_unlock(&rpc->lock);
    int rc = -1;
    uint64_t head;
    bool has;
    if (nomem) {
        rpc_fail(c, RPC_ERR_INTERNAL, "out of memory");
    } else if (view_head(c, &head, &has) == 0) {
        if (!has) {
            rpc_buf_puts(c->out, "[]");
            rc = 0;
        } else if (crit.has_block_hash) {
            uint64_t number;
            struct cohort_error err = {0};
            int found = store_block_number(c->view, crit.block_hash, &number, &err);
            if (found < 0) rpc_fail_store(c, RPC_ERR_INTERNAL, &err);
            else if (found == 0) rpc_fail(c, RPC_ERR_DEFAULT, "unknown block");
            else rc = rpc_logs_query(c, &crit, number, number);
        } else {
            uint64_t from = !crit.has_from ? head : crit.from.kind == RPC_REF_NUMBER ? crit.from.number : crit.from.tag == RPC_TAG_EARLIEST ? 0 : head;
            uint64_t to = !crit.has_to ? head : crit.to.kind == RPC_REF_NUMBER ? crit.to.number : crit.to.tag == RPC_TAG_EARLIEST ? 0 : head;
            if (to > head) to = head;
            if (from > to) {
                rpc_buf_puts(c->out, "[]");
                rc = 0;
            } else {
                rc = rpc_logs_query(c, &crit, from, to);
            }
        }
    }
    rpc_log_criteria_free(&crit);
    return rc;
}

/* ---- Subscriptions ---- */

int rpc_m_eth_subscribe(struct rpc_call *c)
{
    if (c->client->conn == NULL)
        return rpc_fail(c, RPC_ERR_METHOD_NOT_FOUND, "notifications not supported: subscribe over the WebSocket endpoint");
    const struct rpc_json *j = c->json;
    uint32_t t = c->param[0];
    if (j->tokens[t].type != RPC_JSON_STRING)
        return rpc_fail(c, RPC_ERR_INVALID_PARAMS, "invalid argument 0: want a subscription name");
    struct rpc_filter *f = NULL;
    if (rpc_json_string_is(j, t, "newHeads")) {
        if (c->nparams > 1) return rpc_fail(c, RPC_ERR_INVALID_PARAMS, "too many arguments, want at most 1");
        f = new_filter(c, RPC_FILTER_BLOCKS);
    } else if (rpc_json_string_is(j, t, "logs")) {
        struct rpc_log_criteria crit;
        if (rpc_param_log_criteria(c, 1, false, &crit) != 0) return -1;
        f = new_filter(c, RPC_FILTER_LOGS);
        if (f == NULL) rpc_log_criteria_free(&crit);
        else f->criteria = crit;
    } else if (rpc_json_string_is(j, t, "newPendingTransactions")) {
        bool full = false;
        if (rpc_param_given(c, 1) && rpc_param_bool(c, 1, &full) != 0) return -1;
        f = new_filter(c, RPC_FILTER_PENDING);
        if (f != NULL) f->full_tx = full;
    } else {
        size_t n;
        const char *name = rpc_json_string(j, t, &n);
        return rpc_fail(c, RPC_ERR_METHOD_NOT_FOUND, "no \"%.*s\" subscription in eth namespace", n > 64 ? 64 : (int)n,
                        name);
    }
    if (f == NULL) return -1;
    f->conn = c->client->conn;
    f->active = false;
    return install(c, f);
}

int rpc_m_eth_unsubscribe(struct rpc_call *c)
{
    if (c->client->conn == NULL)
        return rpc_fail(c, RPC_ERR_METHOD_NOT_FOUND, "notifications not supported: subscribe over the WebSocket endpoint");
    char id[RPC_FILTER_ID_LEN + 1];
    if (rpc_param_filter_id(c, 0, id) != 0) return -1;
    pthread_mutex_lock(&c->rpc->lock);
    struct rpc_filter *prev = NULL;
    struct rpc_filter *f = find_locked(c->rpc, id, &prev);
    bool removed = f != NULL && f->conn == c->client->conn;
    if (removed) unlink_filter(c->rpc, prev, f);
    pthread_mutex_unlock(&c->rpc->lock);
    if (!removed) return rpc_fail(c, RPC_ERR_DEFAULT, "subscription not found");
    rpc_buf_puts(c->out, "true");
    return 0;
}

void rpc_activate_subscriptions(struct rpc *rpc, struct rpc_conn *conn)
{
    pthread_mutex_lock(&rpc->lock);
    for (struct rpc_filter *f = rpc->filters; f != NULL; f = f->next)
        if (f->conn == conn) f->active = true;
    pthread_mutex_unlock(&rpc->lock);
}

void rpc_drop_connection(struct rpc *rpc, struct rpc_conn *conn)
{
    pthread_mutex_lock(&rpc->lock);
    struct rpc_filter *prev = NULL, *f = rpc->filters;
    while (f != NULL) {
        struct rpc_filter *next = f->next;
        if (f->conn == conn) unlink_filter(rpc, prev, f);
        else prev = f;
        f = next;
    }
    pthread_mutex_unlock(&rpc->lock);
}

/* Pushes {"jsonrpc":"2.0","method":"eth_subscription","params":{"subscription":id,"result":result}}. Lock held. */
static void notify(struct rpc_filter *f, struct rpc_buf *scratch, const char *result, size_t result_len)
{
    rpc_buf_truncate(scratch, 0);
    rpc_buf_puts(scratch, "{\"jsonrpc\":\"2.0\",\"method\":\"eth_subscription\",\"params\":{\"subscription\":\"");
    rpc_buf_puts(scratch, f->id);
    rpc_buf_puts(scratch, "\",\"result\":");
    rpc_buf_put(scratch, result, result_len);
    rpc_buf_puts(scratch, "}}");
    if (!scratch->over) f->conn->push(f->conn, scratch->data, scratch->len);
}

static bool any_subscription(struct rpc *rpc, enum rpc_filter_kind kind)
{
    for (struct rpc_filter *f = rpc->filters; f != NULL; f = f->next)
        if (f->conn != NULL && f->active && f->kind == kind) return true;
    return false;
}

struct log_notify {
    struct rpc *rpc;
    struct rpc_buf result, scratch;
};

static int notify_log(void *arg, const struct store_log_match *m, struct cohort_error *err)
{
    (void)err;
    struct log_notify *n = arg;
    bool formatted = false;
    for (struct rpc_filter *f = n->rpc->filters; f != NULL; f = f->next) {
        if (f->conn == NULL || !f->active || f->kind != RPC_FILTER_LOGS || !rpc_log_matches(&f->criteria, m->log)) continue;
        if (!formatted) {
            rpc_buf_truncate(&n->result, 0);
            rpc_format_log(&n->result, m->log, m->block_hash, m->block_number, m->tx_hash, m->tx_index, m->log_index);
            formatted = true;
        }
        if (!n->result.over) notify(f, &n->scratch, n->result.data, n->result.len);
    }
    return 0;
}

void rpc_notify_block(struct rpc *rpc, uint64_t number)
{
    struct store_view *v;
    struct cohort_error err = {0};
    if (store_view_begin(rpc->chain.store, &v, &err) != 0) return;
    struct block_header h;
    uint8_t hash[32];
    if (store_header(v, number, &h, hash, &err) != 1) {
        store_view_end(v);
        return;
    }
    struct log_notify n = {.rpc = rpc};
    rpc_buf_init(&n.result, rpc->limits.body_bytes);
    rpc_buf_init(&n.scratch, rpc->limits.body_bytes + 1024);
    pthread_mutex_lock(&rpc->lock);
    if (any_subscription(rpc, RPC_FILTER_BLOCKS)) {
        rpc_format_header(&n.result, &h, hash);
        for (struct rpc_filter *f = rpc->filters; f != NULL; f = f->next)
            if (f->conn != NULL && f->active && f->kind == RPC_FILTER_BLOCKS) notify(f, &n.scratch, n.result.data, n.result.len);
    }
    if (any_subscription(rpc, RPC_FILTER_LOGS)) {
        struct store_log_filter all;
        memset(&all, 0, sizeof all);
        all.from = all.to = number;
        store_logs(v, &all, notify_log, &n, &err);
    }
    pthread_mutex_unlock(&rpc->lock);
    rpc_buf_free(&n.result);
    rpc_buf_free(&n.scratch);
    store_view_end(v);
}

void rpc_publish_pending_tx(struct rpc *rpc, const struct tx_signed *tx)
{
    assert(rpc != NULL && tx != NULL);
    struct rpc_buf hash, full, scratch;
    rpc_buf_init(&hash, 128);
    rpc_buf_init(&full, rpc->limits.body_bytes);
    rpc_buf_init(&scratch, rpc->limits.body_bytes + 1024);
    rpc_buf_hex(&hash, tx->hash, 32);
    pthread_mutex_lock(&rpc->lock);
    for (struct rpc_filter *f = rpc->filters; f != NULL; f = f->next) {
        if (f->kind != RPC_FILTER_PENDING) continue;
        if (f->conn == NULL) {
            if (f->hash_count == RPC_PENDING_HASHES_MAX) continue; /* not polled for a long time: drop */
            if (f->hash_count == f->hash_cap) {
                size_t cap = f->hash_cap ? 2 * f->hash_cap : 64;
                uint8_t(*grown)[32] = realloc(f->hashes, cap * 32);
                if (grown == NULL) continue;
                f->hashes = grown;
                f->hash_cap = cap;
            }
            memcpy(f->hashes[f->hash_count++], tx->hash, 32);
            continue;
        }
        if (!f->active) continue;
        if (f->full_tx) {
            if (full.len == 0) rpc_format_tx(&full, tx, NULL);
            if (!full.over) notify(f, &scratch, full.data, full.len);
        } else {
            notify(f, &scratch, hash.data, hash.len);
        }
    }
    pthread_mutex_unlock(&rpc->lock);
    rpc_buf_free(&hash);
    rpc_buf_free(&full);
    rpc_buf_free(&scratch);
}

/* ---- The notifier thread ---- */

static void *notifier_main(void *arg)
{
    struct rpc *rpc = arg;
    uint64_t last_sweep = rpc->now_ms();
    pthread_mutex_lock(&rpc->lock);
    while (!rpc->stopping) {
        if (rpc->has_target && (!rpc->has_published || rpc->published < rpc->target)) {
            uint64_t next = rpc->has_published ? rpc->published + 1 : rpc->target;
            if (rpc->target - next >= NOTIFY_CATCH_UP_MAX) next = rpc->target - NOTIFY_CATCH_UP_MAX + 1;
            pthread_mutex_unlock(&rpc->lock);
            rpc_notify_block(rpc, next);
            pthread_mutex_lock(&rpc->lock);
            rpc->published = next;
            rpc->has_published = true;
            continue;
        }
        uint64_t now = rpc->now_ms();
        if (now - last_sweep >= SWEEP_INTERVAL_MS) {
            expire_locked(rpc);
            last_sweep = now;
        }
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += 1;
        pthread_cond_timedwait(&rpc->wake, &rpc->lock, &until);
    }
    pthread_mutex_unlock(&rpc->lock);
    return NULL;
}

void rpc_publish_block(struct rpc *rpc, uint64_t number)
{
    pthread_mutex_lock(&rpc->lock);
    if (!rpc->has_target || number > rpc->target) {
        rpc->target = number;
        rpc->has_target = true;
    }
    pthread_cond_signal(&rpc->wake);
    pthread_mutex_unlock(&rpc->lock);
}

int rpc_new(const struct rpc_chain *chain, const struct rpc_limits *limits, struct rpc **out, struct cohort_error *err)
{
    assert(chain != NULL && out != NULL);
    *out = NULL;
    if (chain->store == NULL) return cohort_error_set(err, RPC_E_INVALID, DOMAIN, "rpc: no store to serve");
    struct rpc *rpc = calloc(1, sizeof *rpc);
    if (rpc == NULL) return cohort_error_set(err, RPC_E_NOMEM, DOMAIN, "rpc: out of memory");
    rpc->chain = *chain;
    if (limits != NULL) rpc->limits = *limits;
    rpc_limits_defaults(&rpc->limits);
    rpc->now_ms = monotonic_ms;
    pthread_mutex_init(&rpc->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&rpc->wake, &attr);
    pthread_condattr_destroy(&attr);
    int rc = pthread_create(&rpc->notifier, NULL, notifier_main, rpc);
    if (rc != 0) {
        pthread_cond_destroy(&rpc->wake);
        pthread_mutex_destroy(&rpc->lock);
        free(rpc);
        return cohort_error_errno(err, RPC_E_IO, DOMAIN, rc, "rpc: cannot start the notifier thread");
    }
    rpc->notifier_running = true;
    *out = rpc;
    return 0;
}

void rpc_free(struct rpc *rpc)
{
    if (rpc == NULL) return;
    if (rpc->notifier_running) {
        pthread_mutex_lock(&rpc->lock);
        rpc->stopping = true;
        pthread_cond_signal(&rpc->wake);
        pthread_mutex_unlock(&rpc->lock);
        pthread_join(rpc->notifier, NULL);
    }
    while (rpc->filters != NULL) {
        struct rpc_filter *f = rpc->filters;
        rpc->filters = f->next;
        filter_free(f);
    }
    pthread_cond_destroy(&rpc->wake);
    pthread_mutex_destroy(&rpc->lock);
    free(rpc);
}
