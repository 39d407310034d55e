/*
 * metrics.h - what cohort-core measures about its node and its subnodes, where it keeps
 * it, and how it shows it (docs/metrics.md is the operator's reference of every metric).
 *
 *   sampler (its own thread, every interval_ms)
 *     |  core's collect callback: the subnodes cohort-core runs, the manager, the config store
 *     |  cgroup files per container (v1 or v2, as cAdvisor reads them)    cgroup.c
 *     |  each subnode's GET /status (all at once, one timeout)            sampler.c, status.c
 *     |  the host's /proc/stat, /proc/meminfo and the state dir's disk    host.c
 *     v
 *   the latest sample ----> Prometheus text on /metrics                   prometheus.c
 *     |                 ---> health checks (pure)                         health.c
 *     +--> in-memory ring, the last hours per chain                       ring.c
 *     +--> PostgreSQL (optional): a bounded queue, a writer thread,       store_pg.c
 *          migrations, daily partitions, 1-minute and 1-hour rollups, retention
 *   the local API: /api/v1/status, /api/v1/metrics, /api/v1/health,       api.c, query.c
 *                  /api/v1/usage, and the web page at /                   web/index.html
 *
 * Per-chain figures are one fixed list of series (METRICS_SERIES below): the same list
 * gives the in-memory points, the database's columns, the rollups' aggregates and the
 * API's JSON keys, so they cannot drift apart.
 *
 * Threads: the sampler thread writes; the API threads read the latest sample, the ring
 * and the database under the engine's locks. The database going away never blocks the
 * sampler: rows queue (bounded; the oldest are dropped and counted) while the writer
 * reconnects with backoff.
 */
#ifndef COHORT_METRICS_H
#define COHORT_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

/* Codes of the metrics library, in its block of common/error.h. Append only. */
enum metrics_status {
    METRICS_OK = 0,
    METRICS_E_INVALID = COHORT_ERRORS_METRICS - 1,     /* a bad argument or option from our caller */
    METRICS_E_MALFORMED = COHORT_ERRORS_METRICS - 2,   /* outside data we cannot read: a cgroup file, /status JSON, a query */
    METRICS_E_IO = COHORT_ERRORS_METRICS - 3,          /* a file could not be read (errno in the message) */
    METRICS_E_NOMEM = COHORT_ERRORS_METRICS - 4,
    METRICS_E_DATABASE = COHORT_ERRORS_METRICS - 5,    /* PostgreSQL refused or failed a statement */
    METRICS_E_UNAVAILABLE = COHORT_ERRORS_METRICS - 6, /* PostgreSQL or a subnode did not answer */
    METRICS_E_TOO_LARGE = COHORT_ERRORS_METRICS - 7,   /* outside data past its cap */
    METRICS_E_NOT_FOUND = COHORT_ERRORS_METRICS - 8,   /* no such chain, no such cgroup */
};

const char *metrics_strerror(int code);

#define METRICS_CHAIN_MAX 64      /* a chain's name, with its NUL (core/reconcile.h's CHAIN_NAME_MAX) */
#define METRICS_MAX_SUBNODES 256  /* per sample (a node runs at most 128; departed ones linger) */
#define METRICS_MAX_CHAINS 256    /* chains the in-memory history keeps */
#define METRICS_REASON_MAX COHORT_ERROR_MESSAGE_MAX

/* ---- The per-chain series ----
 *
 * X(name, kind, unit, help). kind is COUNTER (only grows, except when the container is
 * replaced: rates and increases treat a drop as a reset, as Prometheus does) or GAUGE.
 * A value that was not measured is NaN (JSON null, SQL NULL).
 */
#define METRICS_SERIES(X)                                                                                             \
    X(cpu_seconds, COUNTER, "seconds", "CPU time used by the subnode's processes (cgroup cpuacct)")                  \
    X(memory_working_set_bytes, GAUGE, "bytes", "memory in use less inactive file cache (what the OOM killer sees)")  \
    X(memory_usage_bytes, GAUGE, "bytes", "memory charged to the container, page cache included")                    \
    X(memory_peak_bytes, GAUGE, "bytes", "the highest memory usage since the container started")                     \
    X(memory_limit_bytes, GAUGE, "bytes", "the container's memory limit")                                            \
    X(pids, GAUGE, "", "processes and threads in the container")                                                     \
    X(network_receive_bytes, COUNTER, "bytes", "bytes received in the container's own network namespace")            \
    X(network_transmit_bytes, COUNTER, "bytes", "bytes sent from the container's own network namespace")             \
    X(fs_read_bytes, COUNTER, "bytes", "bytes read from block devices (cgroup blkio / io.stat)")                      \
    X(fs_write_bytes, COUNTER, "bytes", "bytes written to block devices")                                            \
    X(restarts, COUNTER, "", "restarts of the subnode after a crash, by cohort-core")                                \
    X(volume_used_bytes, GAUGE, "bytes", "bytes used in the subnode's data volume")                                   \
    X(volume_budget_bytes, GAUGE, "bytes", "the data volume's disk budget")                                          \
    X(running, GAUGE, "", "1 when the container runs")                                                               \
    X(rpc_up, GAUGE, "", "1 when the subnode answered GET /status")                                                  \
    X(height, GAUGE, "", "the chain's block height at this subnode")                                                 \
    X(last_block_timestamp_seconds, GAUGE, "seconds", "the timestamp of the subnode's newest block")                 \
    X(gas_used, COUNTER, "", "gas used by the chain's blocks")                                                       \
    X(transactions, COUNTER, "", "transactions in the chain's blocks")                                               \
    X(txpool_pending, GAUGE, "", "transactions in the pool ready to be included")                                    \
    X(txpool_queued, GAUGE, "", "transactions in the pool waiting for an earlier nonce")                             \
    X(peers_connected, GAUGE, "", "other members of the chain this subnode is connected to")                         \
    X(consensus_view, GAUGE, "", "the consensus view (round) the subnode is in")

enum metrics_series_id {
#define METRICS_X_ENUM(name, kind, unit, help) METRICS_##name,
    METRICS_SERIES(METRICS_X_ENUM)
#undef METRICS_X_ENUM
        METRICS_NSERIES
};

enum metrics_kind { METRICS_GAUGE = 0, METRICS_COUNTER = 1 };

struct metrics_series_info {
    const char *name;  /* "cpu_seconds": the JSON key and the SQL column */
    enum metrics_kind kind;
    const char *unit;  /* "seconds", "bytes" or "" */
    const char *help;
};

/* The table of the list above, indexed by enum metrics_series_id (static storage). */
extern const struct metrics_series_info metrics_series[METRICS_NSERIES];

/* METRICS_NSERIES when name is not a series. */
enum metrics_series_id metrics_series_find(const char *name);

/* One chain's figures at one instant: values[id], NaN when not measured. */
struct metrics_point {
    double values[METRICS_NSERIES];
};

/* Sets every value to NaN. */
void metrics_point_clear(struct metrics_point *p);

/* ---- The cgroup sampler (cgroup.c) ----
 *
 * Reads a container's usage from its cgroup files, as cAdvisor and the kubelet do, instead
 * of Docker's stats API (which samples for a second per container; bench/metrics_bench
 * measures both). Paths tried, for a container id:
 *   v1 (cgroupfs driver)  ROOT/{cpuacct,memory,pids,blkio}/docker/ID/
 *   v1 (systemd driver)   ROOT/{...}/system.slice/docker-ID.scope/
 *   v2 (cgroupfs driver)  ROOT/docker/ID/
 *   v2 (systemd driver)   ROOT/system.slice/docker-ID.scope/
 * Files read, v1: cpuacct.usage, memory.usage_in_bytes, memory.max_usage_in_bytes,
 * memory.limit_in_bytes, memory.stat (total_inactive_file), pids.current,
 * blkio.throttle.io_service_bytes; v2: cpu.stat (usage_usec), memory.current, memory.peak
 * (kernels from 5.19), memory.max, memory.stat (inactive_file), pids.current, io.stat.
 * The working set is usage less inactive file cache, cAdvisor's definition.
 * Network bytes come from /proc/PID/net/dev of the container's first process, and only
 * when the container has its own network namespace: a subnode on the host network has no
 * bytes of its own there (they would be the host's), so has_network stays false.
 * Each file is read with a cap (64 KiB); a file past it is METRICS_E_TOO_LARGE.
 */
enum metrics_cgroup_version { METRICS_CGROUP_NONE = 0, METRICS_CGROUP_V1 = 1, METRICS_CGROUP_V2 = 2 };

struct metrics_cgroup {
    enum metrics_cgroup_version version;
    char root[256];      /* "/sys/fs/cgroup" */
    char proc_root[256]; /* "/proc": for the network namespace */
};

/*
 * Finds which cgroup version is mounted at root (NULL: /sys/fs/cgroup): v2 when
 * root/cgroup.controllers exists, v1 when root/memory/ does. proc_root NULL: /proc.
 * METRICS_E_NOT_FOUND when neither.
 */
int metrics_cgroup_open(struct metrics_cgroup *cg, const char *root, const char *proc_root, struct cohort_error *err);

struct metrics_container_usage {
    uint64_t cpu_ns;
    uint64_t memory_usage_bytes, memory_working_set_bytes;
    bool has_memory_peak;              /* v2 before 5.19 has no memory.peak */
    uint64_t memory_peak_bytes;
    uint64_t memory_limit_bytes;       /* 0: no limit */
    uint64_t pids;
    uint64_t block_read_bytes, block_write_bytes;
    bool has_network;                  /* see above */
    uint64_t network_rx_bytes, network_tx_bytes;
};

/* Reads container_id's usage (the full 64-hex id). METRICS_E_NOT_FOUND when it has no cgroup. */
int metrics_cgroup_read(const struct metrics_cgroup *cg, const char *container_id, struct metrics_container_usage *out,
                        struct cohort_error *err);

/* Parsers of the files above, exposed for tests and fuzzing. Each reads text of len bytes
   (not NUL-terminated) and returns 0 or METRICS_E_MALFORMED. */
/* "key value" lines (memory.stat, cpu.stat): the value of key; METRICS_E_NOT_FOUND if absent. */
int metrics_parse_keyed(const char *text, size_t len, const char *key, uint64_t *value, struct cohort_error *err);
/* One unsigned number, or "max" (v2 limits: sets *value to 0). */
int metrics_parse_number(const char *text, size_t len, uint64_t *value, struct cohort_error *err);
/* v1 blkio.throttle.io_service_bytes: "MAJ:MIN Read N" lines, summed over devices. */
int metrics_parse_blkio_v1(const char *text, size_t len, uint64_t *read, uint64_t *write, struct cohort_error *err);
/* v2 io.stat: "MAJ:MIN rbytes=N wbytes=N ..." lines, summed over devices. */
int metrics_parse_io_stat(const char *text, size_t len, uint64_t *read, uint64_t *write, struct cohort_error *err);
/* /proc/PID/net/dev: receive and transmit bytes summed over interfaces other than lo. */
int metrics_parse_net_dev(const char *text, size_t len, uint64_t *rx, uint64_t *tx, struct cohort_error *err);

/* ---- The host (host.c) ---- */

struct metrics_host {
    unsigned cpus;
    double cpu_seconds[8];       /* by mode, as node_exporter: the modes below */
    uint64_t memory_total_bytes, memory_available_bytes;
    uint64_t disk_total_bytes, disk_available_bytes; /* the filesystem of the state dir */
    double load1;
};
#define METRICS_HOST_CPU_MODES {"user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal"}

/* Reads proc_root/stat, proc_root/meminfo, proc_root/loadavg and statvfs(disk_path). */
int metrics_host_read(const char *proc_root, const char *disk_path, struct metrics_host *out, struct cohort_error *err);
/* The first "cpu " line of /proc/stat into seconds by mode (ticks / ticks_per_second). */
int metrics_parse_proc_stat(const char *text, size_t len, double ticks_per_second, double seconds[8],
                            struct cohort_error *err);
/* MemTotal and MemAvailable of /proc/meminfo, in bytes. */
int metrics_parse_meminfo(const char *text, size_t len, uint64_t *total, uint64_t *available, struct cohort_error *err);

/* ---- A subnode's own status (status.c) ----
 *
 * GET /status on the subnode's RPC port answers a JSON object (subnode/rpc/status.c); once
 * the subnode runs its chain it carries the chain's figures, all numbers:
 *   {"health": "ok", "config_hash": "0x…", "chain": "demo", ...,
 *    "chain": {"height": 12, "last_block_timestamp_ms": 1733300000000, "gas_used_total": 123,
 *              "transactions_total": 45, "txpool_pending": 3, "txpool_queued": 1,
 *              "peers_connected": 0, "view": 12, "consensus_members": 1, "stalled": false}}
 * "chain" is a string (the name) in older subnodes and an object in newer ones; the
 * decoder takes whichever it finds, and each figure that is absent or not a non-negative
 * number stays absent. At most METRICS_STATUS_MAX_BYTES are read.
 */
#define METRICS_STATUS_MAX_BYTES (256u * 1024)

enum metrics_chain_field {
    METRICS_CHAIN_HEIGHT = 1u << 0,
    METRICS_CHAIN_LAST_BLOCK_TIMESTAMP = 1u << 1,
    METRICS_CHAIN_GAS_USED = 1u << 2,
    METRICS_CHAIN_TRANSACTIONS = 1u << 3,
    METRICS_CHAIN_TXPOOL_PENDING = 1u << 4,
    METRICS_CHAIN_TXPOOL_QUEUED = 1u << 5,
    METRICS_CHAIN_PEERS = 1u << 6,
    METRICS_CHAIN_VIEW = 1u << 7,
    METRICS_CHAIN_MEMBERS = 1u << 8, /* "consensus_members": the chain's member count */
    METRICS_CHAIN_STALLED = 1u << 9, /* "stalled": the BFT log says it is stuck */
};

struct metrics_subnode_status {
    bool health_ok;          /* "health": "ok" */
    char config_hash[80];    /* "" when absent */
    unsigned present;        /* enum metrics_chain_field bits */
    uint64_t height, last_block_timestamp_ms, gas_used_total, transactions_total;
    uint64_t txpool_pending, txpool_queued, peers_connected, view, consensus_members;
    bool stalled;
};

/* Decodes a /status body. METRICS_E_MALFORMED when it is not a JSON object; TOO_LARGE past the cap. */
int metrics_parse_subnode_status(const char *json, size_t len, struct metrics_subnode_status *out,
                                 struct cohort_error *err);

/* ---- What core tells the sampler, and what one sample holds ---- */

/* A subnode as cohort-core's provisioner sees it (core fills it; strings copied). */
struct metrics_subnode_input {
    char chain[METRICS_CHAIN_MAX];
    char container[128];
    char container_id[80];   /* "" when there is no container */
    char state[16];          /* Docker's: "running", "exited", ... or "missing" */
    unsigned first_slot, slots;
    uint16_t rpc_port;       /* where GET /status is asked (on status_address) */
    uint64_t restarts;
    uint64_t volume_used_bytes, volume_budget_bytes;
    bool over_budget;
    bool config_current;     /* the container runs the chain's current config */
    char last_error[METRICS_REASON_MAX];
};

/* The node as cohort-core sees it (core fills it). */
struct metrics_node_input {
    unsigned slots_total;                /* 128 */
    bool docker_ok;
    char docker_error[METRICS_REASON_MAX];
    bool manager_configured;
    bool manager_ok;
    char manager_error[METRICS_REASON_MAX];
    bool manager_head_known;
    uint64_t manager_head_block, manager_watcher_block;
    int64_t manager_head_timestamp_s;    /* the head block's timestamp; 0 unknown */
    uint64_t assignments;                /* chains the manager assigned to this node */
    uint64_t reconcile_rounds_total, reconcile_actions_total, reconcile_failures_total;
    bool keystore_configured, keystore_ok;
    char keystore_error[METRICS_REASON_MAX];
    bool config_store;                   /* a member of the cluster's config store */
    bool config_store_halted;            /* its WAL failed: it no longer votes */
    bool config_store_leader;
    uint64_t config_store_members, config_store_peers_connected;
    uint64_t config_store_height, config_store_committed_index;
    uint64_t config_store_wal_syncs, config_store_wal_sync_us;
    uint64_t config_store_commits, config_store_commit_wait_us;
};

/* One subnode in a sample. */
struct metrics_subnode_sample {
    struct metrics_subnode_input in;
    bool usage_ok;
    char usage_error[METRICS_REASON_MAX];
    struct metrics_container_usage usage;
    bool status_ok;                      /* GET /status answered 200 with JSON */
    char status_error[METRICS_REASON_MAX];
    double status_seconds;               /* how long it took */
    struct metrics_subnode_status status;
};

/* One whole sample: the node and every subnode at one instant. */
struct metrics_sample {
    int64_t time_ms;                     /* wall clock, UNIX ms */
    uint64_t node_id;
    struct metrics_node_input node;
    bool host_ok;
    struct metrics_host host;
    size_t nsubnodes;
    struct metrics_subnode_sample subnodes[METRICS_MAX_SUBNODES];
    /* What taking this sample cost: collecting, cgroup files, /status of every subnode. */
    double sample_seconds;               /* wall time */
    double sample_cpu_seconds;           /* CPU time of the sampler thread */
};

/* A subnode sample's figures as a point (its NaNs where a figure was not measured). */
void metrics_point_from_sample(const struct metrics_subnode_sample *s, struct metrics_point *out);

/* ---- In-memory history (ring.c) ----
 *
 * Per chain, a ring of (time, point) of one capacity for every chain: the newest `capacity`
 * samples. A chain's ring is allocated when the chain is first recorded; past
 * METRICS_MAX_CHAINS chains, the one recorded longest ago is forgotten. The capacity
 * changes only through metrics_ring_resize (the engine's interval changed). Thread-safe:
 * every function holds the ring's lock, so a reader sees the ring before a resize or after.
 */
struct metrics_ring;

int metrics_ring_new(size_t capacity, struct metrics_ring **out, struct cohort_error *err);
void metrics_ring_free(struct metrics_ring *r);
/*
 * Changes every chain's capacity, keeping each chain's newest min(count, capacity) points
 * (a larger capacity keeps them all; the room fills with the points to come). Every new
 * array is allocated before any old one is freed: on METRICS_E_NOMEM the ring is as it
 * was. METRICS_E_INVALID for capacity 0. The same capacity is a no-op.
 */
int metrics_ring_resize(struct metrics_ring *r, size_t capacity, struct cohort_error *err);
/* The points each chain keeps at most. */
size_t metrics_ring_capacity(struct metrics_ring *r);
/* Appends a chain's point at time_ms (copied). Times must not go back per chain (older ones are dropped). */
int metrics_ring_record(struct metrics_ring *r, const char *chain, int64_t time_ms, const struct metrics_point *p);
/* The time of the oldest point the ring holds for any chain (INT64_MAX when empty). */
int64_t metrics_ring_oldest_ms(struct metrics_ring *r);
/*
 * Copies the points of chain with since_ms <= time < until_ms into malloc'd arrays
 * (*times, *points, both freed by the caller; NULL when *n is 0). Unknown chain: *n = 0.
 */
int metrics_ring_range(struct metrics_ring *r, const char *chain, int64_t since_ms, int64_t until_ms, int64_t **times,
                       struct metrics_point **points, size_t *n, struct cohort_error *err);
/*
 * The newest point of chain at or before t_ms, or, when every point is newer, the oldest
 * one. Returns false when the chain has no point.
 */
bool metrics_ring_lookup(struct metrics_ring *r, const char *chain, int64_t t_ms, int64_t *time_ms,
                         struct metrics_point *point);
/* The chains known, in no particular order: copies up to max names into out. */
size_t metrics_ring_chains(struct metrics_ring *r, char (*out)[METRICS_CHAIN_MAX], size_t max);

/* ---- Series, usage (usage.c) ---- */

/* A series of one chain: points at times[i] (bucket starts when step_ms > 0). */
struct metrics_series_data {
    char chain[METRICS_CHAIN_MAX];
    const char *resolution;  /* "memory", "raw", "1m" or "1h" (static) */
    int64_t step_ms;         /* 0: every sample */
    size_t n;
    int64_t *times;          /* malloc'd */
    struct metrics_point *points; /* malloc'd */
};
void metrics_series_data_free(struct metrics_series_data *s);

/*
 * Buckets raw points into steps of step_ms starting at multiples of step_ms: a gauge is the
 * average of the bucket's values, a counter its last value. Points with no value in a
 * bucket give NaN. Frees nothing; out's arrays are malloc'd. step_ms 0 copies.
 */
int metrics_downsample(const int64_t *times, const struct metrics_point *points, size_t n, int64_t step_ms,
                       struct metrics_series_data *out, struct cohort_error *err);

/* What a chain used in a window (the metering of the "per-chain metering"). */
struct metrics_usage {
    char chain[METRICS_CHAIN_MAX];
    int64_t since_ms, until_ms;
    const char *resolution;      /* where it came from: "memory", "raw", "1m", "1h" */
    uint64_t samples;
    double cpu_seconds;          /* increase of cpu_seconds (resets counted as Prometheus does) */
    double memory_average_bytes; /* mean working set (from rollups: bucket means weighted by their samples) */
    double memory_peak_bytes;    /* the highest working set sampled in the window */
    double disk_bytes;           /* the data volume's last value (from rollups: the last bucket's maximum) */
    double disk_peak_bytes;
    double network_bytes;        /* increase of receive + transmit (NaN: not measured) */
    double fs_bytes;             /* increase of block reads + writes */
    double gas_used;             /* increase of gas_used (NaN: the subnode does not report it) */
    double transactions;         /* increase of transactions */
};

/*
 * Meters raw points (time order) into out, the way the database meters its raw rows: a
 * counter's increase is the sum, over each value at a time >= since_ms, of its rise from
 * the chain's previous value (NaNs skipped; a drop counts the whole new value, a reset),
 * so points before since_ms serve only as the previous values. Gauges use the points at
 * or after since_ms. Fills every field but chain, since_ms, until_ms and resolution.
 */
void metrics_usage_from_points(const int64_t *times, const struct metrics_point *points, size_t n, int64_t since_ms,
                               struct metrics_usage *out);

/* The increase of series id over the points with times >= since_ms, as above (NaN when it has no value). */
double metrics_counter_increase(const int64_t *times, const struct metrics_point *points, size_t n, int64_t since_ms,
                                enum metrics_series_id id);

/* ---- Health checks (health.c) ----
 *
 * Pure: the latest sample and what the history says (height and restarts some time ago)
 * in, a list of checks out. Per subnode: container_running, config_current,
 * volume_under_budget, rpc_answering, blocks_advancing, peers_connected,
 * restarts_last_hour. Per node: dockerd_reachable, manager_reachable, manager_in_sync,
 * keystore_readable, config_store_healthy, clock_sane, history_database. A check whose
 * input is not there (a subnode that does not report its height, no manager configured)
 * is METRICS_CHECK_SKIPPED with the reason, never a failure.
 */
enum metrics_check_status { METRICS_CHECK_OK = 0, METRICS_CHECK_FAIL = 1, METRICS_CHECK_SKIPPED = 2 };

struct metrics_check {
    char name[32];                   /* "blocks_advancing" */
    char chain[METRICS_CHAIN_MAX];   /* "" for a node check */
    enum metrics_check_status status;
    char reason[METRICS_REASON_MAX]; /* why it failed or was skipped; what it saw when ok */
};

struct metrics_health_options {
    int64_t blocks_stalled_ms;      /* no new block for this long: blocks_advancing fails (default 120000) */
    unsigned restarts_per_hour_max; /* more restarts in the last hour: fails (default 3) */
    uint64_t manager_lag_max_blocks;/* the watcher this far behind the head: fails (default 64) */
    int64_t clock_skew_max_ms;      /* the manager's head block this far ahead of our clock: fails (default 60000) */
};

/* Per chain, what the history says about the past (core need not fill it: the engine does). */
struct metrics_health_history {
    char chain[METRICS_CHAIN_MAX];
    bool has_height_before;
    uint64_t height_before;          /* the height blocks_stalled_ms ago (the oldest known within) */
    int64_t height_before_ms;        /* when */
    bool has_restarts_hour_ago;
    uint64_t restarts_hour_ago;      /* restarts counter about an hour ago (or the oldest within) */
};

struct metrics_health_input {
    const struct metrics_sample *sample;
    const struct metrics_health_history *history; /* parallel to sample->subnodes */
    int64_t monotonic_jump_ms;       /* the wall clock moved this much against the monotonic one since the last sample */
    bool database_configured, database_ok;
    char database_error[METRICS_REASON_MAX];
    const struct metrics_health_options *options; /* NULL: the defaults */
};

#define METRICS_MAX_CHECKS (8 + 8 * METRICS_MAX_SUBNODES)

/* Writes the checks into out (room for METRICS_MAX_CHECKS); returns how many. */
size_t metrics_health_evaluate(const struct metrics_health_input *in, struct metrics_check *out);

const char *metrics_check_status_name(enum metrics_check_status s);

/* ---- Prometheus text (prometheus.c) ----
 *
 * Renders the exposition format 0.0.4: HELP and TYPE per family, `cohort_` prefix, base
 * units, counters ending in _total, labels node="ID" and chain="NAME" (escaped). Names
 * follow cAdvisor (container_*) and node_exporter (node_*) where they overlap; see
 * docs/metrics.md. checks may be NULL.
 */
struct metrics_history_stats {
    bool configured, connected;
    uint64_t rows_written, rows_dropped, rows_queued, write_errors, reconnects;
    uint64_t rollups, partitions_dropped;
    double last_write_seconds;
    char last_error[METRICS_REASON_MAX];
};

/* Appends the text to a malloc'd string (*out, *len); the caller frees it. */
int metrics_render_prometheus(const struct metrics_sample *sample, const struct metrics_check *checks,
                              size_t nchecks, const struct metrics_history_stats *history, char **out, size_t *len,
                              struct cohort_error *err);

/* ---- Queries of the local API (query.c) ---- */

#define METRICS_QUERY_MAX_BYTES 2048

struct metrics_query {
    char chain[METRICS_CHAIN_MAX]; /* "" for all */
    bool has_since, has_until, has_step;
    int64_t since_ms, until_ms;    /* absolute UNIX ms (relative ones resolved against now) */
    int64_t step_ms;
};

/*
 * Parses a raw query string ("chain=demo&since=1h&step=60s", percent-encoded) against
 * now_ms. since/until: a duration before now ("90s", "15m", "24h", "7d"), UNIX seconds or
 * milliseconds (more than 12 digits), or RFC 3339 UTC ("2026-12-04T10:00:00Z"). step: a
 * duration. Unknown keys are errors (a typo should not silently mean "everything").
 * METRICS_E_MALFORMED with the key named; TOO_LARGE past METRICS_QUERY_MAX_BYTES.
 */
int metrics_parse_query(const char *query, int64_t now_ms, struct metrics_query *out, struct cohort_error *err);

/* A duration ("250ms", "10s", "5m", "24h", "7d", or a bare number of seconds) in ms. */
int metrics_parse_duration(const char *text, int64_t *ms, struct cohort_error *err);

/* ---- The PostgreSQL history (store_pg.c) ----
 *
 * Schema (versioned, migrated at start under an advisory lock, so two cohort-cores that
 * start at once against one database apply each migration once):
 *   cohort_metrics_schema(version, applied_at)
 *   cohort_samples      (node_id, chain, time, <every series>)            raw, daily partitions
 *   cohort_samples_1m   (node_id, chain, time, samples, per series:        1-minute, weekly partitions
 *                        gauges <s>_avg and <s>_max, counters <s> (last) and <s>_increase)
 *   cohort_samples_1h   (the same columns)                                 1-hour, monthly partitions
 *   cohort_metrics_rollup(resolution, done_until)                          how far each rollup went
 * Rows are written with COPY in batches by a writer thread. Rollups run after writes for
 * the whole buckets that ended; partitions are created ahead and dropped whole when their
 * range ends before the retention.
 */
struct metrics_retention {
    unsigned raw_days;    /* default 2 */
    unsigned minute_days; /* default 30 */
    unsigned hour_days;   /* default 365 */
};
/* Retention bounds: 1 <= raw_days <= minute_days <= hour_days <= METRICS_RETENTION_MAX_DAYS.
   The order is what lets a query pick the finest table that reaches back far enough: each
   coarser table must reach at least as far back as the finer one. */
#define METRICS_RETENTION_MAX_DAYS 36500

struct metrics_store;

struct metrics_store_options {
    const char *url;          /* a libpq connection string or postgresql:// URL */
    uint64_t node_id;
    struct metrics_retention retention;
    size_t buffer_rows;       /* rows queued at most while the database is away (default 65536) */
    long connect_timeout_s;   /* default 5 */
    long statement_timeout_ms;/* default 10000 */
    long maintenance_interval_ms; /* rollups and retention on the writer's own: default 60000; -1 only when asked */
};

/*
 * Checks the URL (METRICS_E_INVALID naming what is wrong), then tries to connect and
 * migrate once (a failure there is reported through metrics_store_stats and logged, not
 * returned: the database may come later), and starts the writer thread.
 */
int metrics_store_open(const struct metrics_store_options *options, struct metrics_store **out,
                       struct cohort_error *err);
/* Stops the writer (flushing what it can within 2 s) and frees the store. NULL is fine. */
void metrics_store_close(struct metrics_store *s);

/* Queues one sample's rows (one per subnode). Never blocks on the database. */
void metrics_store_enqueue(struct metrics_store *s, const struct metrics_sample *sample);

/* Wakes the writer to write what is queued now; waits until the queue is empty or timeout_ms passed. 0 when empty. */
int metrics_store_flush(struct metrics_store *s, long timeout_ms);

/*
 * Changes the retention (bounds above; METRICS_E_INVALID naming the bad field otherwise,
 * and nothing changes). Thread-safe. The writer's next maintenance drops partitions by it,
 * and the API's queries choose their table by it from now on. When any of the three is
 * lowered, the writer is woken for a maintenance round at once, so the disk follows the
 * operator's change within seconds instead of at the next minute's round; raising one
 * needs nothing until then. Without a connection, it applies once the writer reconnects.
 */
int metrics_store_set_retention(struct metrics_store *s, const struct metrics_retention *retention,
                                struct cohort_error *err);
/* The retention in force (the defaults filled in). */
void metrics_store_get_retention(struct metrics_store *s, struct metrics_retention *out);

/* Runs the rollups and retention now (the writer runs them every minute on its own). */
int metrics_store_maintain(struct metrics_store *s, int64_t now_ms, struct cohort_error *err);

void metrics_store_stats(struct metrics_store *s, struct metrics_history_stats *out);

/*
 * The series of chain in [since_ms, until_ms) from the finest table that covers since_ms
 * (raw, 1m, 1h), bucketed by step_ms (0: the table's own resolution). Runs on a reader
 * connection of its own. METRICS_E_UNAVAILABLE when the database does not answer.
 */
int metrics_store_series(struct metrics_store *s, const char *chain, int64_t since_ms, int64_t until_ms,
                         int64_t step_ms, int64_t now_ms, struct metrics_series_data *out, struct cohort_error *err);

/* The chains with rows in [since_ms, until_ms): up to max names; *n set. */
int metrics_store_chains(struct metrics_store *s, int64_t since_ms, int64_t until_ms, char (*out)[METRICS_CHAIN_MAX],
                         size_t max, size_t *n, struct cohort_error *err);

/* What chain used in [since_ms, until_ms), from the finest table that covers since_ms. */
int metrics_store_usage(struct metrics_store *s, const char *chain, int64_t since_ms, int64_t until_ms,
                        int64_t now_ms, struct metrics_usage *out, struct cohort_error *err);

/* The schema version this library writes (the newest migration). */
int metrics_store_schema_version(void);

/* ---- The engine (sampler.c): sampling thread, latest sample, history, API ---- */

/*
 * Filled by core on the sampler's thread, once per sample: the node and up to max
 * subnodes. Must not block for long (core copies what its loop published).
 */
typedef void (*metrics_collect_fn)(void *ctx, struct metrics_node_input *node, struct metrics_subnode_input *subnodes,
                                   size_t max, size_t *nsubnodes);

#define METRICS_INTERVAL_MIN_MS 100u
#define METRICS_INTERVAL_MAX_MS 3600000u

struct metrics_options {
    uint64_t node_id;
    unsigned interval_ms;           /* default 10000; METRICS_INTERVAL_MIN_MS..MAX_MS; see metrics_set_interval */
    unsigned memory_hours;          /* in-memory history per chain (default 3) */
    const char *database_url;       /* NULL or "": no database, memory only */
    struct metrics_retention retention; /* zeros: the defaults; see metrics_set_retention */
    size_t buffer_rows;             /* see metrics_store_options */
    const char *cgroup_root;        /* NULL: /sys/fs/cgroup */
    const char *proc_root;          /* NULL: /proc */
    const char *disk_path;          /* the state dir: the host disk figures are its filesystem's */
    const char *status_address;     /* where subnodes answer /status (default 127.0.0.1) */
    long status_timeout_ms;         /* for all the subnodes' /status together (default 1000) */
    struct metrics_health_options health;
    metrics_collect_fn collect;
    void *collect_ctx;
};

struct metrics;

/*
 * Starts the engine: checks options (a bad database URL is METRICS_E_INVALID, said at
 * start), opens the store if configured, takes a first sample, and starts the sampler
 * thread. *out is freed with metrics_stop.
 */
int metrics_start(const struct metrics_options *options, struct metrics **out, struct cohort_error *err);
void metrics_stop(struct metrics *m);

/*
 * Changes the sampling interval (100..3600000 ms) from the next sample on: the next one is
 * due one new interval after the last one (at once if that has passed), so going from 60 s
 * to 1 s does not wait out the 60 s. The in-memory history keeps memory_hours at the new
 * interval: its rings are resized (metrics_ring_resize), keeping the newest points.
 * METRICS_E_INVALID for an interval out of range; METRICS_E_NOMEM when the rings cannot
 * grow (the old interval stays, and the message says so). Thread-safe; calls are
 * serialised.
 */
int metrics_set_interval(struct metrics *m, unsigned interval_ms, struct cohort_error *err);
/*
 * Changes the database's retention (1 <= raw_days <= minute_days <= hour_days <= 36500),
 * applied at the writer's next maintenance (metrics_store_set_retention: a lowered one
 * brings that round forward) and reported by metrics_get_settings and /api/v1/status at
 * once. METRICS_E_INVALID otherwise, naming the field, and nothing changes. Thread-safe;
 * fine without a database (then only remembered and reported).
 */
int metrics_set_retention(struct metrics *m, const struct metrics_retention *retention, struct cohort_error *err);

/* What the engine runs with now: the start's options as changed by the two functions above. */
struct metrics_settings {
    unsigned interval_ms;
    unsigned memory_hours;
    size_t memory_points;           /* points the in-memory history keeps per chain */
    bool database;                  /* a database is configured (retention applies to it) */
    struct metrics_retention retention;
};
void metrics_get_settings(struct metrics *m, struct metrics_settings *out);

/* Takes a sample now on the caller's thread (tests, and `metrics_start`'s first). */
void metrics_sample_now(struct metrics *m);

/* Copies the latest sample into out (malloc'd; the caller frees it). NULL before the first. */
struct metrics_sample *metrics_latest(struct metrics *m);

/* The latest health checks: copies up to max into out, returns how many there were. */
size_t metrics_latest_checks(struct metrics *m, struct metrics_check *out, size_t max);

/* The Prometheus text of the latest sample (malloc'd; the caller frees it). */
char *metrics_prometheus_text(struct metrics *m, size_t *len);

/* The store, or NULL when no database is configured (owned by the engine). */
struct metrics_store *metrics_get_store(struct metrics *m);
struct metrics_ring *metrics_get_ring(struct metrics *m);

/* ---- The local API's handlers (api.c); ctx is the engine ----
 *   GET /metrics          Prometheus text
 *   GET /api/v1/status    the latest sample as JSON (node overview, subnodes)
 *   GET /api/v1/metrics   ?chain=&since=&until=&step=  series (memory or database)
 *   GET /api/v1/health    the checks; 503 when one fails
 *   GET /api/v1/usage     ?chain=&since=&until=  metering per chain
 *   GET /                 the web page
 * Each is an http handler (httpd/httpd.h) taking the raw query string.
 */
struct http_response;
void metrics_api_prometheus(void *ctx, const char *method, const char *query, const char *body, size_t len,
                            struct http_response *out);
void metrics_api_status(void *ctx, const char *method, const char *query, const char *body, size_t len,
                        struct http_response *out);
void metrics_api_series(void *ctx, const char *method, const char *query, const char *body, size_t len,
                        struct http_response *out);
void metrics_api_health(void *ctx, const char *method, const char *query, const char *body, size_t len,
                        struct http_response *out);
void metrics_api_usage(void *ctx, const char *method, const char *query, const char *body, size_t len,
                       struct http_response *out);
void metrics_api_page(void *ctx, const char *method, const char *query, const char *body, size_t len,
                      struct http_response *out);

/* JSON renderers behind them (malloc'd strings), for tests. /api/v1/status is
   metrics_status_json: the sample's document with a "metrics" object of the settings
   (interval_ms, memory_hours, memory_points, database, retention {raw_days, minute_days,
   hour_days}); settings NULL leaves it out (that is metrics_sample_json). */
char *metrics_sample_json(const struct metrics_sample *sample);
char *metrics_status_json(const struct metrics_sample *sample, const struct metrics_settings *settings);
char *metrics_checks_json(const struct metrics_check *checks, size_t n);

/* The embedded web page (NUL-terminated HTML, static). */
extern const char metrics_web_page[];

#endif
