/* prometheus.c - the Prometheus text exposition of a sample (see metrics.h, docs/metrics.md). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Per-subnode families from the series list: Prometheus name, type and help. Names follow
   cAdvisor's container_* where one exists, with cohort_subnode_ in its place. */
static const struct {
    enum metrics_series_id series;
    const char *name;
    const char *type;
    const char *help;
} subnode_families[] = {
    {METRICS_cpu_seconds, "cohort_subnode_cpu_usage_seconds_total", "counter", "CPU time used by the subnode (cgroup cpuacct), in seconds."},
    {METRICS_memory_working_set_bytes, "cohort_subnode_memory_working_set_bytes", "gauge", "Memory in use less inactive file cache, in bytes."},
    {METRICS_memory_usage_bytes, "cohort_subnode_memory_usage_bytes", "gauge", "Memory charged to the subnode's cgroup, page cache included, in bytes."},
    {METRICS_memory_peak_bytes, "cohort_subnode_memory_max_usage_bytes", "gauge", "The highest memory usage since the container started, in bytes."},
    {METRICS_memory_limit_bytes, "cohort_subnode_spec_memory_limit_bytes", "gauge", "The container's memory limit, in bytes."},
    {METRICS_pids, "cohort_subnode_processes", "gauge", "Processes and threads in the container (pids.current)."},
    {METRICS_network_receive_bytes, "cohort_subnode_network_receive_bytes_total", "counter", "Bytes received in the container's own network namespace (absent on the host network)."},
    {METRICS_network_transmit_bytes, "cohort_subnode_network_transmit_bytes_total", "counter", "Bytes sent from the container's own network namespace (absent on the host network)."},
    {METRICS_fs_read_bytes, "cohort_subnode_fs_reads_bytes_total", "counter", "Bytes read from block devices by the container."},
    {METRICS_fs_write_bytes, "cohort_subnode_fs_writes_bytes_total", "counter", "Bytes written to block devices by the container."},
    {METRICS_restarts, "cohort_subnode_restarts_total", "counter", "Restarts of the subnode after a crash, by cohort-core."},
    {METRICS_volume_used_bytes, "cohort_subnode_volume_used_bytes", "gauge", "Bytes used in the subnode's data volume."},
    {METRICS_volume_budget_bytes, "cohort_subnode_volume_budget_bytes", "gauge", "The data volume's disk budget, in bytes."},
    {METRICS_running, "cohort_subnode_up", "gauge", "1 when the subnode's container is running."},
    {METRICS_rpc_up, "cohort_subnode_status_up", "gauge", "1 when the subnode answered GET /status."},
    {METRICS_height, "cohort_chain_height", "gauge", "The chain's block height at this subnode."},
    {METRICS_last_block_timestamp_seconds, "cohort_chain_last_block_timestamp_seconds", "gauge", "The timestamp of the subnode's newest block, UNIX seconds."},
    {METRICS_gas_used, "cohort_chain_gas_used_total", "counter", "Gas used by the chain's blocks, as this subnode counts it."},
    {METRICS_transactions, "cohort_chain_transactions_total", "counter", "Transactions in the chain's blocks."},
    {METRICS_txpool_pending, "cohort_chain_txpool_pending", "gauge", "Transactions in the pool ready to be included."},
    {METRICS_txpool_queued, "cohort_chain_txpool_queued", "gauge", "Transactions in the pool waiting for an earlier nonce."},
    {METRICS_peers_connected, "cohort_chain_peers_connected", "gauge", "Other members of the chain this subnode is connected to."},
    {METRICS_consensus_view, "cohort_chain_consensus_view", "gauge", "The consensus view (round) the subnode is in."},
};
_Static_assert(sizeof subnode_families / sizeof subnode_families[0] == METRICS_NSERIES, "every series is exported");

/* A label value with \, " and newline escaped, as the text format requires. */
static void label_value(struct metrics_buf *b, const char *v)
{
    for (const char *p = v; *p; p++) {
        if (*p == '\\') metrics_buf_append(b, "\\\\", 2);
        else if (*p == '"') metrics_buf_append(b, "\\\"", 2);
        else if (*p == '\n') metrics_buf_append(b, "\\n", 2);
        else metrics_buf_append(b, p, 1);
    }
}

static void family(struct metrics_buf *b, const char *name, const char *type, const char *help)
{
    metrics_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* "name{node="N"} value\n" */
static void node_line(struct metrics_buf *b, const char *name, const char *node, double v)
{
    metrics_buf_printf(b, "%s{node=\"%s\"} ", name, node);
    metrics_buf_number(b, v);
    metrics_buf_append(b, "\n", 1);
}

static void node_metric(struct metrics_buf *b, const char *name, const char *type, const char *help, const char *node, double v)
{
    family(b, name, type, help);
    node_line(b, name, node, v);
}

int metrics_render_prometheus(const struct metrics_sample *s, const struct metrics_check *checks, size_t nchecks,
                              const struct metrics_history_stats *history, char **out, size_t *len,
                              struct cohort_error *err)
{
    struct metrics_buf b = {0};
    char node[24];
    snprintf(node, sizeof node, "%llu", (unsigned long long)s->node_id);
    const struct metrics_node_input *n = &s->node;

    /* ---- The node ---- */
    family(&b, "cohort_node_info", "gauge", "Always 1; labels carry the version.");
    metrics_buf_printf(&b, "cohort_node_info{node=\"%s\",version=\"%s\"} 1\n", node, COHORT_VERSION);
    unsigned used = 0;
    for (size_t i = 0; i < s->nsubnodes; i++) used += s->subnodes[i].in.slots;
    node_metric(&b, "cohort_node_slots", "gauge", "Slots of the node (each small chain takes 1).", node, n->slots_total);
    node_metric(&b, "cohort_node_slots_used", "gauge", "Slots taken by the subnodes assigned to this node.", node, used);
    node_metric(&b, "cohort_node_slots_free", "gauge", "Slots still free.", node, n->slots_total > used ? n->slots_total - used : 0);
    node_metric(&b, "cohort_node_subnodes", "gauge", "Subnodes assigned to this node.", node, (double)s->nsubnodes);
    unsigned running = 0;
    for (size_t i = 0; i < s->nsubnodes; i++) running += strcmp(s->subnodes[i].in.state, "running") == 0;
    node_metric(&b, "cohort_node_subnodes_pending", "gauge", "Assigned subnodes whose container does not run (yet).", node,
                (double)(s->nsubnodes - running));
    node_metric(&b, "cohort_docker_up", "gauge", "1 when dockerd answers.", node, n->docker_ok);
    node_metric(&b, "cohort_reconcile_rounds_total", "counter", "Rounds of the reconciler (observe, plan, act).", node, (double)n->reconcile_rounds_total);
    node_metric(&b, "cohort_reconcile_actions_total", "counter", "Docker actions in the reconciler's plans (a chain's actions stop at its first failure).", node, (double)n->reconcile_actions_total);
    node_metric(&b, "cohort_reconcile_failures_total", "counter", "Docker actions that failed.", node, (double)n->reconcile_failures_total);
    if (n->manager_configured) {
        node_metric(&b, "cohort_manager_up", "gauge", "1 when the manager chain's RPC answers.", node, n->manager_ok);
        node_metric(&b, "cohort_manager_assignments", "gauge", "Chains the manager assigned to this node.", node, (double)n->assignments);
        node_metric(&b, "cohort_manager_watcher_block", "gauge", "The newest manager block whose events were delivered.", node,
                    (double)n->manager_watcher_block);
        if (n->manager_head_known) {
            node_metric(&b, "cohort_manager_head_block", "gauge", "The manager chain's head block.", node, (double)n->manager_head_block);
            node_metric(&b, "cohort_manager_watcher_lag_blocks", "gauge", "Blocks between the head and what the watcher delivered.", node,
                        n->manager_head_block > n->manager_watcher_block ? (double)(n->manager_head_block - n->manager_watcher_block) : 0);
            if (n->manager_head_timestamp_s > 0)
                node_metric(&b, "cohort_manager_head_timestamp_seconds", "gauge", "The head block's timestamp, UNIX seconds.", node,
                            (double)n->manager_head_timestamp_s);
        }
    }
    if (n->keystore_configured)
        node_metric(&b, "cohort_keystore_ok", "gauge", "1 when the keystore opens and holds the node's registered key.", node, n->keystore_ok);
    if (n->config_store) {
        node_metric(&b, "cohort_config_store_halted", "gauge", "1 when the config store's WAL failed and this member stopped voting.", node, n->config_store_halted);
        node_metric(&b, "cohort_config_store_leader", "gauge", "1 when this member leads the config log's current height.", node, n->config_store_leader);
        node_metric(&b, "cohort_config_store_members", "gauge", "Members of the config store's cluster.", node, (double)n->config_store_members);
        node_metric(&b, "cohort_config_store_peers_connected", "gauge", "Other members this one is connected to.", node, (double)n->config_store_peers_connected);
        node_metric(&b, "cohort_config_store_height", "gauge", "The config log's current height.", node, (double)n->config_store_height);
        node_metric(&b, "cohort_config_store_committed_index", "gauge", "The config log's last committed index.", node, (double)n->config_store_committed_index);
        node_metric(&b, "cohort_config_store_wal_syncs_total", "counter", "fdatasyncs of the config store's WAL.", node, (double)n->config_store_wal_syncs);
        node_metric(&b, "cohort_config_store_wal_sync_seconds_total", "counter", "Time spent in those fdatasyncs.", node, (double)n->config_store_wal_sync_us / 1e6);
        node_metric(&b, "cohort_config_store_commits_total", "counter", "Blocks committed and applied.", node, (double)n->config_store_commits);
        node_metric(&b, "cohort_config_store_commit_wait_seconds_total", "counter", "Time from a commit record's append to its application.", node,
                    (double)n->config_store_commit_wait_us / 1e6);
    }
    if (s->host_ok) {
        static const char *modes[8] = METRICS_HOST_CPU_MODES;
        family(&b, "cohort_host_cpu_seconds_total", "counter", "CPU time of the host by mode (as node_cpu_seconds_total, summed over CPUs).");
        for (int i = 0; i < 8; i++) {
            metrics_buf_printf(&b, "cohort_host_cpu_seconds_total{node=\"%s\",mode=\"%s\"} ", node, modes[i]);
            metrics_buf_number(&b, s->host.cpu_seconds[i]);
            metrics_buf_append(&b, "\n", 1);
        }
        node_metric(&b, "cohort_host_cpus", "gauge", "CPUs online.", node, s->host.cpus);
        node_metric(&b, "cohort_host_load1", "gauge", "The 1-minute load average.", node, s->host.load1);
        node_metric(&b, "cohort_host_memory_total_bytes", "gauge", "The host's memory (MemTotal).", node, (double)s->host.memory_total_bytes);
        node_metric(&b, "cohort_host_memory_available_bytes", "gauge", "Memory available for new work (MemAvailable).", node, (double)s->host.memory_available_bytes);
        node_metric(&b, "cohort_host_filesystem_size_bytes", "gauge", "Size of the state dir's filesystem.", node, (double)s->host.disk_total_bytes);
        node_metric(&b, "cohort_host_filesystem_avail_bytes", "gauge", "Bytes of that filesystem available to cohort-core.", node, (double)s->host.disk_available_bytes);
    }
    node_metric(&b, "cohort_metrics_sample_timestamp_seconds", "gauge", "When the sample shown here was taken, UNIX seconds.", node, (double)s->time_ms / 1000.0);
    node_metric(&b, "cohort_metrics_sample_duration_seconds", "gauge", "Wall time taking the sample took (cgroup files, every subnode's /status).", node, s->sample_seconds);
    node_metric(&b, "cohort_metrics_sample_cpu_seconds", "gauge", "CPU time taking the sample took on the sampler thread.", node, s->sample_cpu_seconds);
    if (history && history->configured) {
        node_metric(&b, "cohort_history_database_up", "gauge", "1 when PostgreSQL takes the samples (absent: none configured).", node,
                    history->connected);
        {
            node_metric(&b, "cohort_history_rows_written_total", "counter", "Sample rows written to PostgreSQL.", node, (double)history->rows_written);
            node_metric(&b, "cohort_history_rows_dropped_total", "counter", "Sample rows dropped because the queue was full while PostgreSQL was away.", node,
                        (double)history->rows_dropped);
            node_metric(&b, "cohort_history_rows_queued", "gauge", "Sample rows waiting for PostgreSQL.", node, (double)history->rows_queued);
            node_metric(&b, "cohort_history_write_errors_total", "counter", "Failed writes to PostgreSQL (each retried).", node, (double)history->write_errors);
            node_metric(&b, "cohort_history_reconnects_total", "counter", "Connections to PostgreSQL made after the first.", node, (double)history->reconnects);
        }
    }

    /* ---- Health ---- */
    if (checks && nchecks) {
        family(&b, "cohort_health_check", "gauge", "1 when the check passes, 0 when it fails (skipped checks are absent); see /api/v1/health for why.");
        bool all = true;
        for (size_t i = 0; i < nchecks; i++) {
            if (checks[i].status == METRICS_CHECK_SKIPPED) continue;
            all = all && checks[i].status == METRICS_CHECK_OK;
            metrics_buf_printf(&b, "cohort_health_check{node=\"%s\",check=\"%s\",chain=\"", node, checks[i].name);
            label_value(&b, checks[i].chain);
            metrics_buf_printf(&b, "\"} %d\n", checks[i].status == METRICS_CHECK_OK);
        }
        node_metric(&b, "cohort_health_ok", "gauge", "1 when every health check passes.", node, all);
    }

    /* ---- Subnodes: one family at a time, every subnode in it ---- */
    if (s->nsubnodes > 0) {
        struct metrics_point *points = malloc(s->nsubnodes * sizeof *points);
        if (points == NULL) {
            free(b.data);
            return cohort_error_set(err, METRICS_E_NOMEM, DOMAIN, "out of memory rendering /metrics");
        }
        for (size_t i = 0; i < s->nsubnodes; i++) metrics_point_from_sample(&s->subnodes[i], &points[i]);
        family(&b, "cohort_subnode_info", "gauge", "Always 1; labels carry the container, its state and first slot.");
        for (size_t i = 0; i < s->nsubnodes; i++) {
            const struct metrics_subnode_input *in = &s->subnodes[i].in;
            metrics_buf_printf(&b, "cohort_subnode_info{node=\"%s\",chain=\"", node);
            label_value(&b, in->chain);
            metrics_buf_append(&b, "\",container=\"", 13);
            label_value(&b, in->container);
            metrics_buf_printf(&b, "\",state=\"%s\",first_slot=\"%u\"} 1\n", in->state, in->first_slot);
        }
        family(&b, "cohort_subnode_slots", "gauge", "Slots the subnode takes on this node.");
        for (size_t i = 0; i < s->nsubnodes; i++) {
            metrics_buf_printf(&b, "cohort_subnode_slots{node=\"%s\",chain=\"", node);
            label_value(&b, s->subnodes[i].in.chain);
            metrics_buf_printf(&b, "\"} %u\n", s->subnodes[i].in.slots);
        }
        for (size_t f = 0; f < sizeof subnode_families / sizeof subnode_families[0]; f++) {
            enum metrics_series_id id = subnode_families[f].series;
            bool any = false;
            for (size_t i = 0; i < s->nsubnodes && !any; i++) any = !isnan(points[i].values[id]);
            if (!any) continue;
            family(&b, subnode_families[f].name, subnode_families[f].type, subnode_families[f].help);
            for (size_t i = 0; i < s->nsubnodes; i++) {
                double v = points[i].values[id];
                if (isnan(v)) continue;
                metrics_buf_printf(&b, "%s{node=\"%s\",chain=\"", subnode_families[f].name, node);
                label_value(&b, s->subnodes[i].in.chain);
                metrics_buf_append(&b, "\"} ", 3);
                metrics_buf_number(&b, v);
                metrics_buf_append(&b, "\n", 1);
            }
        }
        bool answered = false;
        for (size_t i = 0; i < s->nsubnodes; i++) answered = answered || s->subnodes[i].status_ok;
        if (answered)
            family(&b, "cohort_subnode_status_duration_seconds", "gauge", "How long the subnode took to answer GET /status.");
        for (size_t i = 0; i < s->nsubnodes; i++) {
            if (!s->subnodes[i].status_ok) continue;
            metrics_buf_printf(&b, "cohort_subnode_status_duration_seconds{node=\"%s\",chain=\"", node);
            label_value(&b, s->subnodes[i].in.chain);
            metrics_buf_append(&b, "\"} ", 3);
            metrics_buf_number(&b, s->subnodes[i].status_seconds);
            metrics_buf_append(&b, "\n", 1);
        }
        free(points);
    }
    if (b.failed || b.data == NULL) {
        free(b.data);
        return cohort_error_set(err, METRICS_E_NOMEM, DOMAIN, "out of memory rendering /metrics");
    }
    *out = b.data;
    *len = b.len;
    return 0;
}
