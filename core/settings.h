/*
 * settings.h - node settings that the cluster keeps in its config store (docs/cohort-core.md
 * "Settings from the cluster"), resolved for one node: a node's own key wins over the
 * cluster's, which wins over the node's local configuration (file, environment, flags).
 *
 *   cohort/settings/NAME                 the cluster's value, for every node
 *   cohort/nodes/NODE_ID/settings/NAME   one node's override
 *
 * Pure code: the daemon's follower (daemon.c) reads the keys from the local copy of the
 * store, resolves them here, and applies what changed, without a restart.
 */
#ifndef COHORT_CORE_SETTINGS_H
#define COHORT_CORE_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/log.h"

#define SETTINGS_PREFIX "cohort/"
#define SETTINGS_CLUSTER_PREFIX "cohort/settings/"
#define SETTINGS_REFUSED_MAX 8

enum setting_id {
    SETTING_LOG_LEVEL,
    SETTING_POLL_MS,
    SETTING_CONFIRMATIONS,
    SETTING_MEMORY_FACTOR,       /* the containers' limits change in place (docker update) */
    SETTING_CPU_QUOTA_PERCENT,
    SETTING_METRICS_INTERVAL_MS, /* the sampler's next sample */
    SETTING_METRICS_RAW_DAYS,    /* the database's next maintenance; raw <= minute <= hour */
    SETTING_METRICS_MINUTE_DAYS,
    SETTING_METRICS_HOUR_DAYS,
    SETTING_COUNT
};
enum setting_source { SETTING_LOCAL, SETTING_CLUSTER, SETTING_NODE };

struct setting_shown {
    char value[32];             /* as text */
    enum setting_source source;
    uint64_t revision;          /* the store revision of the key it came from (0: local) */
};

/* The values of the settings, resolved. */
struct setting_values {
    enum log_level log_level;
    unsigned poll_ms;
    unsigned confirmations;
    double memory_factor;          /* (0, 1] */
    unsigned cpu_quota_percent;    /* 0: no hard cap */
    unsigned metrics_interval_ms;  /* 100..3600000 */
    unsigned metrics_raw_days, metrics_minute_days, metrics_hour_days; /* 1 <= raw <= minute <= hour */
};

struct node_settings {
    struct setting_values v;     /* what the node runs with */
    struct setting_values local; /* the node's own configuration */
    struct setting_shown shown[SETTING_COUNT];
    uint64_t revision;          /* the store's revision they were read at */
    char refused[SETTINGS_REFUSED_MAX][200]; /* keys whose values were refused, and why */
    size_t nrefused;
};

/* The name of a setting ("log_level"), as in the keys. */
const char *settings_name(enum setting_id id);

/* Starts from the node's local configuration (checked already: daemon_config_check). */
void settings_init(struct node_settings *s, const struct setting_values *local);

/*
 * Takes one key of the store (revision: its mod_revision). Keys of another node, or not
 * about settings, are ignored; a value that does not parse, or an unknown name, is noted
 * in refused (the setting keeps what it had). Call with the cluster's keys first, then
 * the node's, so the node's win.
 */
void settings_take(struct node_settings *s, uint64_t node_id, const char *key, size_t key_len, const char *value,
                   size_t value_len, uint64_t revision);

/*
 * After the last key: checks what no single key can (the metrics' retention must keep
 * raw <= minute <= hour days). A combination that breaks it is refused as a whole: the
 * three come back to the local configuration, and refused says why.
 */
void settings_finish(struct node_settings *s);

/* The settings as JSON (malloc'd): {"revision": N, "settings": {NAME: {"value", "source",
   "revision"}}, "refused": [...]}. */
char *settings_json(const struct node_settings *s);

#endif
