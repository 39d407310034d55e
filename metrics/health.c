/* health.c - the health checks, a pure function of a sample and its history (see metrics.h). */
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

static const struct metrics_health_options defaults = {
    .blocks_stalled_ms = 120000, .restarts_per_hour_max = 3, .manager_lag_max_blocks = 64, .clock_skew_max_ms = 60000};

const char *metrics_check_status_name(enum metrics_check_status s)
{
    switch (s) {
    case METRICS_CHECK_OK: return "ok";
    case METRICS_CHECK_FAIL: return "fail";
    case METRICS_CHECK_SKIPPED: return "skipped";
    }
    return "?";
}

struct list {
    struct metrics_check *out;
    size_t n;
};

static void add(struct list *l, const char *name, const char *chain, enum metrics_check_status status, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void add(struct list *l, const char *name, const char *chain, enum metrics_check_status status, const char *fmt, ...)
{
    assert(l->n < METRICS_MAX_CHECKS);
    struct metrics_check *c = &l->out[l->n++];
    memset(c, 0, sizeof *c);
    snprintf(c->name, sizeof c->name, "%s", name);
    snprintf(c->chain, sizeof c->chain, "%s", chain ? chain : "");
    c->status = status;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->reason, sizeof c->reason, fmt, ap);
    va_end(ap);
}

static void node_checks(const struct metrics_health_input *in, const struct metrics_health_options *o, struct list *l)
{
    const struct metrics_sample *s = in->sample;
    const struct metrics_node_input *n = &s->node;
    if (n->docker_ok) add(l, "dockerd_reachable", NULL, METRICS_CHECK_OK, "dockerd answers");
    else add(l, "dockerd_reachable", NULL, METRICS_CHECK_FAIL, "%s", n->docker_error[0] ? n->docker_error : "dockerd does not answer");

    if (!n->manager_configured) {
        add(l, "manager_reachable", NULL, METRICS_CHECK_SKIPPED, "no manager_rpc configured");
        add(l, "manager_in_sync", NULL, METRICS_CHECK_SKIPPED, "no manager_rpc configured");
    } else {
        if (n->manager_ok) add(l, "manager_reachable", NULL, METRICS_CHECK_OK, "the manager's RPC answers");
        else add(l, "manager_reachable", NULL, METRICS_CHECK_FAIL, "%s", n->manager_error[0] ? n->manager_error : "the manager's RPC does not answer");
        if (!n->manager_ok || !n->manager_head_known)
            add(l, "manager_in_sync", NULL, METRICS_CHECK_FAIL, "the manager's head is unknown: its RPC does not answer");
        else {
            uint64_t lag = n->manager_head_block > n->manager_watcher_block ? n->manager_head_block - n->manager_watcher_block : 0;
            if (lag > o->manager_lag_max_blocks)
                add(l, "manager_in_sync", NULL, METRICS_CHECK_FAIL, "the watcher is %llu blocks behind the head %llu (at most %llu)",
                    (unsigned long long)lag, (unsigned long long)n->manager_head_block, (unsigned long long)o->manager_lag_max_blocks);
            else
                add(l, "manager_in_sync", NULL, METRICS_CHECK_OK, "%llu blocks behind the head %llu", (unsigned long long)lag,
                    (unsigned long long)n->manager_head_block);
        }
    }

    if (!n->keystore_configured) add(l, "keystore_readable", NULL, METRICS_CHECK_SKIPPED, "no keystore configured");
    else if (n->keystore_ok) add(l, "keystore_readable", NULL, METRICS_CHECK_OK, "the keystore opens and holds the node's key");
    else add(l, "keystore_readable", NULL, METRICS_CHECK_FAIL, "%s", n->keystore_error[0] ? n->keystore_error : "the keystore cannot be used");

    if (!n->config_store) add(l, "config_store_healthy", NULL, METRICS_CHECK_SKIPPED, "not a member of a config store (no cluster_file)");
    else if (n->config_store_halted)
        add(l, "config_store_healthy", NULL, METRICS_CHECK_FAIL, "the config store's WAL failed and this member no longer votes: restart cohort-core");
    else if (n->config_store_members > 1 && n->config_store_peers_connected == 0)
        add(l, "config_store_healthy", NULL, METRICS_CHECK_FAIL, "connected to none of the other %llu members",
            (unsigned long long)(n->config_store_members - 1));
    else
        add(l, "config_store_healthy", NULL, METRICS_CHECK_OK, "member, %llu of %llu peers connected, committed index %llu",
            (unsigned long long)n->config_store_peers_connected,
            (unsigned long long)(n->config_store_members ? n->config_store_members - 1 : 0),
            (unsigned long long)n->config_store_committed_index);

    /* The clock: a block from the future means ours is behind; a jump against the monotonic clock means it was set. */
    int64_t now_s = s->time_ms / 1000;
    if (n->manager_head_timestamp_s > 0 && n->manager_head_timestamp_s * 1000 - s->time_ms > o->clock_skew_max_ms)
        add(l, "clock_sane", NULL, METRICS_CHECK_FAIL,
            "the manager's newest block is %lld s ahead of this clock: check NTP (chronyc tracking)",
            (long long)(n->manager_head_timestamp_s - now_s));
    else if (in->monotonic_jump_ms > o->clock_skew_max_ms || in->monotonic_jump_ms < -o->clock_skew_max_ms)
        add(l, "clock_sane", NULL, METRICS_CHECK_FAIL, "the wall clock jumped %lld ms against the monotonic clock since the last sample",
            (long long)in->monotonic_jump_ms);
    else if (s->time_ms < INT64_C(1735689600000)) /* 2025-01-01: a clock before cohort existed is unset */
        add(l, "clock_sane", NULL, METRICS_CHECK_FAIL, "the wall clock says %lld, before 2025: it is not set", (long long)now_s);
    else
        add(l, "clock_sane", NULL, METRICS_CHECK_OK, "no jump, not behind the manager's newest block");

    if (!in->database_configured) add(l, "history_database", NULL, METRICS_CHECK_SKIPPED, "no database configured: history in memory");
    else if (in->database_ok) add(l, "history_database", NULL, METRICS_CHECK_OK, "PostgreSQL takes the samples");
    else add(l, "history_database", NULL, METRICS_CHECK_FAIL, "%s", in->database_error[0] ? in->database_error : "PostgreSQL does not answer");
}

static void subnode_checks(const struct metrics_health_input *in, const struct metrics_health_options *o, size_t i,
                           struct list *l)
{
    const struct metrics_subnode_sample *sn = &in->sample->subnodes[i];
    const struct metrics_health_history *h = in->history ? &in->history[i] : NULL;
    const char *chain = sn->in.chain;
    bool running = strcmp(sn->in.state, "running") == 0;
    if (running) add(l, "container_running", chain, METRICS_CHECK_OK, "running");
    else add(l, "container_running", chain, METRICS_CHECK_FAIL, "the container is %s%s%s", sn->in.state,
             sn->in.last_error[0] ? ": " : "", sn->in.last_error);

    if (sn->in.config_current) add(l, "config_current", chain, METRICS_CHECK_OK, "runs the chain's current config");
    else add(l, "config_current", chain, METRICS_CHECK_FAIL, "the container does not run the chain's current config yet");

    if (sn->in.volume_budget_bytes == 0) add(l, "volume_under_budget", chain, METRICS_CHECK_SKIPPED, "no disk budget");
    else if (sn->in.over_budget || sn->in.volume_used_bytes > sn->in.volume_budget_bytes)
        add(l, "volume_under_budget", chain, METRICS_CHECK_FAIL, "the data volume uses %llu bytes of its %llu: the subnode stopped taking transactions",
            (unsigned long long)sn->in.volume_used_bytes, (unsigned long long)sn->in.volume_budget_bytes);
    else add(l, "volume_under_budget", chain, METRICS_CHECK_OK, "%llu of %llu bytes", (unsigned long long)sn->in.volume_used_bytes,
             (unsigned long long)sn->in.volume_budget_bytes);

    if (sn->status_ok) add(l, "rpc_answering", chain, METRICS_CHECK_OK, "GET /status answered in %.0f ms", sn->status_seconds * 1000);
    else add(l, "rpc_answering", chain, METRICS_CHECK_FAIL, "GET /status on port %u: %s", (unsigned)sn->in.rpc_port,
             sn->status_error[0] ? sn->status_error : "no answer");

    if (!sn->status_ok) add(l, "blocks_advancing", chain, METRICS_CHECK_FAIL, "the subnode does not answer");
    else if (!(sn->status.present & METRICS_CHAIN_HEIGHT))
        add(l, "blocks_advancing", chain, METRICS_CHECK_SKIPPED, "the subnode does not report its height");
    else if ((sn->status.present & METRICS_CHAIN_STALLED) && sn->status.stalled)
        add(l, "blocks_advancing", chain, METRICS_CHECK_FAIL,
            "the chain's BFT log is stalled at height %llu: no progress with a quorum of members connected",
            (unsigned long long)sn->status.height);
    else if (h == NULL || !h->has_height_before)
        add(l, "blocks_advancing", chain, METRICS_CHECK_OK, "height %llu (no history yet to compare)", (unsigned long long)sn->status.height);
    else if (sn->status.height > h->height_before)
        add(l, "blocks_advancing", chain, METRICS_CHECK_OK, "height %llu, %llu blocks in the last %lld s", (unsigned long long)sn->status.height,
            (unsigned long long)(sn->status.height - h->height_before), (long long)((in->sample->time_ms - h->height_before_ms) / 1000));
    else if ((sn->status.present & METRICS_CHAIN_TXPOOL_PENDING) && sn->status.txpool_pending == 0)
        add(l, "blocks_advancing", chain, METRICS_CHECK_OK, "height %llu, idle: no transaction waits for a block",
            (unsigned long long)sn->status.height);
    else if (in->sample->time_ms - h->height_before_ms >= o->blocks_stalled_ms)
        add(l, "blocks_advancing", chain, METRICS_CHECK_FAIL, "height %llu has not moved for %lld s", (unsigned long long)sn->status.height,
            (long long)((in->sample->time_ms - h->height_before_ms) / 1000));
    else
        add(l, "blocks_advancing", chain, METRICS_CHECK_OK, "height %llu (unchanged for %lld s, under the %lld s limit)",
            (unsigned long long)sn->status.height, (long long)((in->sample->time_ms - h->height_before_ms) / 1000),
            (long long)(o->blocks_stalled_ms / 1000));

    if (!sn->status_ok) add(l, "peers_connected", chain, METRICS_CHECK_FAIL, "the subnode does not answer");
    else if (!(sn->status.present & METRICS_CHAIN_PEERS))
        add(l, "peers_connected", chain, METRICS_CHECK_SKIPPED, "the subnode does not report its peers");
    else if ((sn->status.present & METRICS_CHAIN_MEMBERS) && sn->status.consensus_members <= 1)
        add(l, "peers_connected", chain, METRICS_CHECK_OK, "the chain's only member (no peers to connect to)");
    else if (sn->status.peers_connected == 0)
        add(l, "peers_connected", chain, METRICS_CHECK_FAIL, "connected to none of the chain's other members");
    else add(l, "peers_connected", chain, METRICS_CHECK_OK, "%llu peers", (unsigned long long)sn->status.peers_connected);

    uint64_t recent = h && h->has_restarts_hour_ago && sn->in.restarts >= h->restarts_hour_ago
                          ? sn->in.restarts - h->restarts_hour_ago
                          : sn->in.restarts;
    if (recent > o->restarts_per_hour_max)
        add(l, "restarts_last_hour", chain, METRICS_CHECK_FAIL, "%llu restarts in the last hour (at most %u): see `docker logs %s`",
            (unsigned long long)recent, o->restarts_per_hour_max, sn->in.container);
    else add(l, "restarts_last_hour", chain, METRICS_CHECK_OK, "%llu restarts in the last hour", (unsigned long long)recent);
}

size_t metrics_health_evaluate(const struct metrics_health_input *in, struct metrics_check *out)
{
    assert(in != NULL && in->sample != NULL && out != NULL);
    /* Zero fields of the caller's options mean the defaults. */
    struct metrics_health_options merged = in->options ? *in->options : defaults;
    if (merged.blocks_stalled_ms <= 0) merged.blocks_stalled_ms = defaults.blocks_stalled_ms;
    if (merged.restarts_per_hour_max == 0) merged.restarts_per_hour_max = defaults.restarts_per_hour_max;
    if (merged.manager_lag_max_blocks == 0) merged.manager_lag_max_blocks = defaults.manager_lag_max_blocks;
    if (merged.clock_skew_max_ms <= 0) merged.clock_skew_max_ms = defaults.clock_skew_max_ms;
    const struct metrics_health_options *o = &merged;
    struct list l = {.out = out};
    node_checks(in, o, &l);
    for (size_t i = 0; i < in->sample->nsubnodes; i++) subnode_checks(in, o, i, &l);
    return l.n;
}
