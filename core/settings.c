/* settings.c - node settings from the cluster's config store (see settings.h). */
#include "settings.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const names[SETTING_COUNT] = {"log_level",           "poll_ms",          "confirmations",
                                                 "memory_factor",       "cpu_quota_percent", "metrics_interval_ms",
                                                 "metrics_raw_days",    "metrics_minute_days", "metrics_hour_days"};
static const char *const sources[] = {"local", "cluster", "node"};

const char *settings_name(enum setting_id id)
{
    return id < SETTING_COUNT ? names[id] : "?";
}

static void show(struct node_settings *s, enum setting_id id, const char *value, enum setting_source source,
                 uint64_t revision)
{
    snprintf(s->shown[id].value, sizeof s->shown[id].value, "%s", value);
    s->shown[id].source = source;
    s->shown[id].revision = revision;
}

static void show_unsigned(struct node_settings *s, enum setting_id id, unsigned value, enum setting_source source,
                          uint64_t revision)
{
    char text[24];
    snprintf(text, sizeof text, "%u", value);
    show(s, id, text, source, revision);
}

void settings_init(struct node_settings *s, const struct setting_values *local)
{
    static const char *const levels[] = {"debug", "info", "warn", "error", "off"};
    memset(s, 0, sizeof *s);
    s->v = *local;
    s->local = *local;
    show(s, SETTING_LOG_LEVEL, local->log_level <= LOG_OFF ? levels[local->log_level] : "info", SETTING_LOCAL, 0);
    show_unsigned(s, SETTING_POLL_MS, local->poll_ms, SETTING_LOCAL, 0);
    show_unsigned(s, SETTING_CONFIRMATIONS, local->confirmations, SETTING_LOCAL, 0);
    char text[32];
    snprintf(text, sizeof text, "%g", local->memory_factor);
    show(s, SETTING_MEMORY_FACTOR, text, SETTING_LOCAL, 0);
    show_unsigned(s, SETTING_CPU_QUOTA_PERCENT, local->cpu_quota_percent, SETTING_LOCAL, 0);
    show_unsigned(s, SETTING_METRICS_INTERVAL_MS, local->metrics_interval_ms, SETTING_LOCAL, 0);
    show_unsigned(s, SETTING_METRICS_RAW_DAYS, local->metrics_raw_days, SETTING_LOCAL, 0);
    show_unsigned(s, SETTING_METRICS_MINUTE_DAYS, local->metrics_minute_days, SETTING_LOCAL, 0);
    show_unsigned(s, SETTING_METRICS_HOUR_DAYS, local->metrics_hour_days, SETTING_LOCAL, 0);
}

static void refuse(struct node_settings *s, const char *key, size_t key_len, const char *why)
{
    if (s->nrefused == SETTINGS_REFUSED_MAX) return;
    snprintf(s->refused[s->nrefused++], sizeof s->refused[0], "%.*s: %s", (int)(key_len < 120 ? key_len : 120), key,
             why);
}

/* A whole decimal in [min, max]. */
static bool parse_unsigned(const char *text, unsigned min, unsigned max, unsigned *out)
{
    if (text[0] < '0' || text[0] > '9' || strlen(text) > 9) return false;
    char *end = NULL;
    unsigned long v = strtoul(text, &end, 10);
    if (*end != '\0' || v < min || v > max) return false;
    *out = (unsigned)v;
    return true;
}

/* A decimal fraction in (0, 1]: "0.5", "1". */
static bool parse_fraction(const char *text, double *out)
{
    if ((text[0] < '0' || text[0] > '9') && text[0] != '.') return false;
    char *end = NULL;
    double v = strtod(text, &end);
    if (*end != '\0' || !(v > 0 && v <= 1)) return false;
    *out = v;
    return true;
}

void settings_take(struct node_settings *s, uint64_t node_id, const char *key, size_t key_len, const char *value,
                   size_t value_len, uint64_t revision)
{
    char node_prefix[64];
    int np = snprintf(node_prefix, sizeof node_prefix, "cohort/nodes/%llu/settings/", (unsigned long long)node_id);
    size_t cp = strlen(SETTINGS_CLUSTER_PREFIX);
    enum setting_source source;
    const char *name;
    size_t name_len;
    if (key_len > cp && memcmp(key, SETTINGS_CLUSTER_PREFIX, cp) == 0) {
        source = SETTING_CLUSTER;
        name = key + cp;
        name_len = key_len - cp;
    } else if (np > 0 && key_len > (size_t)np && memcmp(key, node_prefix, (size_t)np) == 0) {
        source = SETTING_NODE;
        name = key + np;
        name_len = key_len - (size_t)np;
    } else {
        return; /* another node's, or not a setting */
    }
    char text[32];
    if (value_len >= sizeof text) {
        refuse(s, key, key_len, "the value is too long");
        return;
    }
    memcpy(text, value, value_len);
    text[value_len] = '\0';
    enum setting_id id = SETTING_COUNT;
    for (int i = 0; i < SETTING_COUNT; i++)
        if (strlen(names[i]) == name_len && memcmp(names[i], name, name_len) == 0) id = (enum setting_id)i;
    switch (id) {
    case SETTING_LOG_LEVEL: {
        enum log_level level;
        if (log_parse_level(text, &level) != 0) {
            refuse(s, key, key_len, "not a log level (debug, info, warn, error, off)");
            return;
        }
        s->v.log_level = level;
        break;
    }
    case SETTING_POLL_MS:
        if (!parse_unsigned(text, 100, 600000, &s->v.poll_ms)) {
            refuse(s, key, key_len, "not a number of milliseconds in 100..600000");
            return;
        }
        break;
    case SETTING_CONFIRMATIONS:
        if (!parse_unsigned(text, 0, 1000, &s->v.confirmations)) {
            refuse(s, key, key_len, "not a count of blocks in 0..1000");
            return;
        }
        break;
    case SETTING_MEMORY_FACTOR:
        if (!parse_fraction(text, &s->v.memory_factor)) {
            refuse(s, key, key_len, "not a share of the host's memory in (0, 1], such as 0.8");
            return;
        }
        break;
    case SETTING_CPU_QUOTA_PERCENT:
        if (!parse_unsigned(text, 0, 12800, &s->v.cpu_quota_percent)) {
            refuse(s, key, key_len, "not a percentage of one CPU in 0..12800 (0: no hard cap)");
            return;
        }
        break;
    case SETTING_METRICS_INTERVAL_MS:
        if (!parse_unsigned(text, 100, 3600000, &s->v.metrics_interval_ms)) {
            refuse(s, key, key_len, "not a number of milliseconds in 100..3600000");
            return;
        }
        break;
    case SETTING_METRICS_RAW_DAYS:
    case SETTING_METRICS_MINUTE_DAYS:
    case SETTING_METRICS_HOUR_DAYS: {
        unsigned *days = id == SETTING_METRICS_RAW_DAYS      ? &s->v.metrics_raw_days
                         : id == SETTING_METRICS_MINUTE_DAYS ? &s->v.metrics_minute_days
                                                             : &s->v.metrics_hour_days;
        if (!parse_unsigned(text, 1, 36500, days)) {
            refuse(s, key, key_len, "not a number of days in 1..36500");
            return;
        }
        break;
    }
    default:
        refuse(s, key, key_len,
               "not a setting cohort-core follows (log_level, poll_ms, confirmations, memory_factor, "
               "cpu_quota_percent, metrics_interval_ms, metrics_raw_days, metrics_minute_days, metrics_hour_days)");
        return;
    }
    show(s, id, text, source, revision);
}

void settings_finish(struct node_settings *s)
{
    const struct setting_values *v = &s->v;
    if (v->metrics_raw_days <= v->metrics_minute_days && v->metrics_minute_days <= v->metrics_hour_days) return;
    if (s->nrefused < SETTINGS_REFUSED_MAX)
        snprintf(s->refused[s->nrefused++], sizeof s->refused[0],
                 "metrics retention: metrics_raw_days %u, metrics_minute_days %u, metrics_hour_days %u do not keep "
                 "raw <= minute <= hour; the node keeps its own (%u, %u, %u)",
                 v->metrics_raw_days, v->metrics_minute_days, v->metrics_hour_days, s->local.metrics_raw_days,
                 s->local.metrics_minute_days, s->local.metrics_hour_days);
    s->v.metrics_raw_days = s->local.metrics_raw_days;
    s->v.metrics_minute_days = s->local.metrics_minute_days;
    s->v.metrics_hour_days = s->local.metrics_hour_days;
    show_unsigned(s, SETTING_METRICS_RAW_DAYS, s->local.metrics_raw_days, SETTING_LOCAL, 0);
    show_unsigned(s, SETTING_METRICS_MINUTE_DAYS, s->local.metrics_minute_days, SETTING_LOCAL, 0);
    show_unsigned(s, SETTING_METRICS_HOUR_DAYS, s->local.metrics_hour_days, SETTING_LOCAL, 0);
}

char *settings_json(const struct node_settings *s)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "revision", (double)s->revision);
    cJSON *all = cJSON_AddObjectToObject(o, "settings");
    for (int i = 0; i < SETTING_COUNT; i++) {
        cJSON *one = cJSON_AddObjectToObject(all, names[i]);
        cJSON_AddStringToObject(one, "value", s->shown[i].value);
        cJSON_AddStringToObject(one, "source", sources[s->shown[i].source]);
        cJSON_AddNumberToObject(one, "revision", (double)s->shown[i].revision);
    }
    cJSON *refused = cJSON_AddArrayToObject(o, "refused");
    for (size_t i = 0; i < s->nrefused; i++) cJSON_AddItemToArray(refused, cJSON_CreateString(s->refused[i]));
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return text;
}
