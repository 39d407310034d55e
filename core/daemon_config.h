/*
 * daemon_config.h - cohort-core's configuration: a JSON file, then COHORT_* environment
 * variables, then command-line flags, each overriding the one before.
 *
 *   key (file)          env                      flag                default
 *   node_id             COHORT_NODE_ID           --node-id           (required)
 *   manager_rpc         COHORT_MANAGER_RPC       --manager-rpc       (none: no manager; several: comma-separated)
 *   manager_file        COHORT_MANAGER_FILE      --manager-file      (deployment file)
 *   state_dir           COHORT_STATE_DIR         --state-dir         /var/lib/cohort
 *   docker_socket       DOCKER_HOST (unix://)    --docker-socket     /var/run/docker.sock
 *   image               COHORT_IMAGE             --image             cohort-subnode:latest
 *   base_port           COHORT_BASE_PORT         --base-port         10000
 *   bind_address        COHORT_BIND_ADDRESS      --bind-address      127.0.0.1
 *   api_address         COHORT_API_ADDRESS       --api-address       127.0.0.1
 *   api_port            COHORT_API_PORT          --api-port          9100
 *   memory_factor       COHORT_MEMORY_FACTOR     --memory-factor     0.8
 *   memory_bytes        COHORT_MEMORY_BYTES      --memory-bytes      (the host's RAM)
 *   disk_bytes          COHORT_DISK_BYTES        --disk-bytes        (free space of state_dir's disk)
 *   cpu_quota_percent   COHORT_CPU_QUOTA_PERCENT --cpu-quota-percent 0 (no hard CPU cap)
 *   confirmations       COHORT_CONFIRMATIONS     --confirmations     2
 *   poll_ms             COHORT_POLL_MS           --poll-ms           1000
 *   log_level           COHORT_LOG_LEVEL         --log-level         info
 *   keystore            COHORT_KEYSTORE          --keystore          (none) the node's key, checked against the manager
 *   password_file       COHORT_PASSWORD_FILE     --password-file     (none) the keystore's password
 *   cluster_file        COHORT_CLUSTER_FILE      --cluster-file      (none: no config store) the cluster file
 *   upgrade_deadline_ms COHORT_UPGRADE_DEADLINE_MS --upgrade-deadline-ms 180000 an upgraded subnode's time to be ready
 *   left_volume_grace_ms COHORT_LEFT_VOLUME_GRACE_MS --left-volume-grace-ms 600000 how long the volume of a chain a
 *                       completed rotation took this node out of stays (its container goes at once)
 *   absence_report_ms   COHORT_ABSENCE_REPORT_MS --absence-report-ms 660000 how long a member of one of this node's
 *                       chains must be silent before the node signs that it is absent (docs/chain.md "Absence")
 *
 * Metrics (metrics/metrics.h, docs/metrics.md):
 *   metrics_interval_ms   COHORT_METRICS_INTERVAL_MS   --metrics-interval-ms   10000
 *   metrics_database      COHORT_METRICS_DATABASE      --metrics-database      (none: history in memory) a libpq URL
 *   metrics_memory_hours  COHORT_METRICS_MEMORY_HOURS  --metrics-memory-hours  3
 *   metrics_raw_days      COHORT_METRICS_RAW_DAYS      --metrics-raw-days      2    raw samples kept in the database
 *   metrics_minute_days   COHORT_METRICS_MINUTE_DAYS   --metrics-minute-days   30   1-minute rollups kept
 *   metrics_hour_days     COHORT_METRICS_HOUR_DAYS     --metrics-hour-days     365  1-hour rollups kept
 *   metrics_buffer_rows   COHORT_METRICS_BUFFER_ROWS   --metrics-buffer-rows   65536 rows queued while the database is away
 */
#ifndef COHORT_CORE_DAEMON_CONFIG_H
#define COHORT_CORE_DAEMON_CONFIG_H

#include <stdint.h>

#include "common/error.h"
#include "common/log.h"

#define DAEMON_CONFIG_MAX_BYTES (64u * 1024)

struct daemon_config {
    uint64_t node_id;
    char manager_rpc[512];
    char manager_file[1024];
    char state_dir[1024];
    char docker_socket[108];
    char image[256];
    uint16_t base_port;
    char bind_address[16];
    char api_address[16];
    uint16_t api_port;
    double memory_factor;
    uint64_t memory_bytes;
    uint64_t disk_bytes;
    unsigned cpu_quota_percent;
    unsigned confirmations;
    unsigned poll_ms;
    unsigned upgrade_deadline_ms; /* core/upgrade.h: 1000..3600000 */
    unsigned left_volume_grace_ms; /* 0..604800000 */
    unsigned absence_report_ms;    /* 1000..604800000 */
    enum log_level log_level;
    char keystore[1024];
    char password_file[1024];
    char cluster_file[1024];
    /* Metrics (see above). */
    unsigned metrics_interval_ms;
    char metrics_database[1024];
    unsigned metrics_memory_hours;
    unsigned metrics_raw_days, metrics_minute_days, metrics_hour_days;
    unsigned metrics_buffer_rows;
};

/* The defaults of the table above (node_id 0: unset). */
void daemon_config_defaults(struct daemon_config *config);

/* Applies a JSON config file (strict: an unknown key is an error naming it). */
int daemon_config_apply_file(struct daemon_config *config, const char *path, struct cohort_error *err);

/*
 * Applies the COHORT_* environment (and DOCKER_HOST). A COHORT_ variable that names no key
 * is an error naming it, except those of cohort's tests and scripts (COHORT_TEST_*, ...) and
 * COHORT_RPC, the old name of COHORT_MANAGER_RPC, which is read with a warning on stderr.
 */
int daemon_config_apply_env(struct daemon_config *config, struct cohort_error *err);

/*
 * Applies flags from argv (--key value or --key=value). --config FILE is applied first
 * wherever it appears. *help is set for --help. Unknown flags are errors.
 */
int daemon_config_apply_args(struct daemon_config *config, int argc, char **argv, int *help, struct cohort_error *err);

/* Final checks: node_id set, ports in range, addresses IPv4, factor in (0, 1]. */
int daemon_config_validate(const struct daemon_config *config, struct cohort_error *err);

/* The usage text, for --help. */
extern const char daemon_config_usage[];

#endif
