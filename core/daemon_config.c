/* daemon_config.c - cohort-core's configuration from file, environment and flags. */
#include "daemon_config.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DOMAIN "core"

const char daemon_config_usage[] =
    "Usage: cohort-core --node-id ID [--config FILE] [options]\n"
    "\n"
    "The cohort node daemon: watches the manager contracts and runs this node's subnodes.\n"
    "Every option can also be set in the JSON config file (same name, '_' for '-') or in\n"
    "the environment as COHORT_<NAME> (an unknown COHORT_ variable stops it). Flags win over\n"
    "the environment, which wins over the file.\n"
    "\n"
    "  --node-id ID             this node's id on the manager (required)\n"
    "  --manager-rpc URL[,URL]  JSON-RPC endpoints of the manager chain, tried in turn\n"
    "  --manager-file FILE      the deployment file written by 'cohort manager deploy'\n"
    "  --state-dir DIR          where cohort-core keeps its state (/var/lib/cohort)\n"
    "  --docker-socket PATH     dockerd's socket (/var/run/docker.sock)\n"
    "  --image TAG              the subnode image (cohort-subnode:latest)\n"
    "  --base-port N            first port of the node's slot blocks (10000)\n"
    "  --bind-address IP        address subnodes bind (127.0.0.1)\n"
    "  --api-address IP         address of the local API (127.0.0.1)\n"
    "  --api-port N             port of the local API (9100)\n"
    "  --memory-factor F        share of RAM for all subnodes (0.8)\n"
    "  --memory-bytes N         RAM to divide (the host's)\n"
    "  --disk-bytes N           disk to divide among volumes (free space of state-dir)\n"
    "  --cpu-quota-percent N    hard CPU cap of a full node in percent of one CPU (0: none)\n"
    "  --confirmations N        blocks behind the manager's head (2)\n"
    "  --poll-ms N              how often to look at the manager and Docker (1000)\n"
    "  --log-level LEVEL        debug, info, warn or error (info)\n"
    "  --keystore FILE          the node's V3 keystore: checked against the node's key on the manager\n"
    "  --password-file FILE     its password (first line)\n"
    "  --cluster-file FILE      join the cluster's config store (config/config.h); needs --keystore\n"
    "  --upgrade-deadline-ms N  an upgraded subnode's time to be ready (180000)\n"
    "  --left-volume-grace-ms N how long the volume of a chain a rotation took this node out of\n"
    "                           stays after its subnode went (600000)\n"
    "  --absence-report-ms N    how long a chain's member must be silent before this node signs\n"
    "                           that it is absent (660000: the manager's 600 s and a margin)\n"
    "\n"
    "Metrics (docs/metrics.md):\n"
    "  --metrics-interval-ms N  how often subnodes and the node are sampled (10000)\n"
    "  --metrics-database URL   keep the history in PostgreSQL (postgresql://user:pw@host/db);\n"
    "                           without it, the last hours stay in memory\n"
    "  --metrics-memory-hours N hours of samples kept in memory (3)\n"
    "  --metrics-raw-days N     days of raw samples kept in the database (2)\n"
    "  --metrics-minute-days N  days of 1-minute rollups kept (30)\n"
    "  --metrics-hour-days N    days of 1-hour rollups kept (365)\n"
    "  --metrics-buffer-rows N  rows queued in memory while the database is away (65536)\n";

void daemon_config_defaults(struct daemon_config *c)
{
    memset(c, 0, sizeof *c);
    snprintf(c->state_dir, sizeof c->state_dir, "/var/lib/cohort");
    snprintf(c->docker_socket, sizeof c->docker_socket, "/var/run/docker.sock");
    snprintf(c->image, sizeof c->image, "cohort-subnode:latest");
    c->base_port = 10000;
    snprintf(c->bind_address, sizeof c->bind_address, "127.0.0.1");
    snprintf(c->api_address, sizeof c->api_address, "127.0.0.1");
    c->api_port = 9100;
    c->memory_factor = 0.8;
    c->confirmations = 2;
    c->poll_ms = 1000;
    c->upgrade_deadline_ms = 180000;
    c->left_volume_grace_ms = 600000;
    c->absence_report_ms = 660000;
    c->log_level = LOG_INFO;
    c->metrics_interval_ms = 10000;
    c->metrics_memory_hours = 3;
    c->metrics_raw_days = 2;
    c->metrics_minute_days = 30;
    c->metrics_hour_days = 365;
    c->metrics_buffer_rows = 65536;
}

/* One setter per key; values come as text from every source. */
enum kind { K_U64, K_U16, K_UINT, K_DOUBLE, K_STRING, K_LEVEL };
struct key {
    const char *name; /* file key; the flag is --name with '-' for '_', env COHORT_NAME upper-cased */
    enum kind kind;
    size_t offset, size;
};
#define KEY(name, kind, field) {name, kind, offsetof(struct daemon_config, field), sizeof(((struct daemon_config *)0)->field)}
static const struct key keys[] = {
    KEY("node_id", K_U64, node_id),
    KEY("manager_rpc", K_STRING, manager_rpc),
    KEY("manager_file", K_STRING, manager_file),
    KEY("state_dir", K_STRING, state_dir),
    KEY("docker_socket", K_STRING, docker_socket),
    KEY("image", K_STRING, image),
    KEY("base_port", K_U16, base_port),
    KEY("bind_address", K_STRING, bind_address),
    KEY("api_address", K_STRING, api_address),
    KEY("api_port", K_U16, api_port),
    KEY("memory_factor", K_DOUBLE, memory_factor),
    KEY("memory_bytes", K_U64, memory_bytes),
    KEY("disk_bytes", K_U64, disk_bytes),
    KEY("cpu_quota_percent", K_UINT, cpu_quota_percent),
    KEY("confirmations", K_UINT, confirmations),
    KEY("poll_ms", K_UINT, poll_ms),
    KEY("log_level", K_LEVEL, log_level),
    KEY("keystore", K_STRING, keystore),
    KEY("password_file", K_STRING, password_file),
    KEY("cluster_file", K_STRING, cluster_file),
    KEY("upgrade_deadline_ms", K_UINT, upgrade_deadline_ms),
    KEY("left_volume_grace_ms", K_UINT, left_volume_grace_ms),
    KEY("absence_report_ms", K_UINT, absence_report_ms),
    KEY("metrics_interval_ms", K_UINT, metrics_interval_ms),
    KEY("metrics_database", K_STRING, metrics_database),
    KEY("metrics_memory_hours", K_UINT, metrics_memory_hours),
    KEY("metrics_raw_days", K_UINT, metrics_raw_days),
    KEY("metrics_minute_days", K_UINT, metrics_minute_days),
    KEY("metrics_hour_days", K_UINT, metrics_hour_days),
    KEY("metrics_buffer_rows", K_UINT, metrics_buffer_rows),
};

static const struct key *find_key(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (strlen(keys[i].name) == len && strncmp(keys[i].name, name, len) == 0) return &keys[i];
    return NULL;
}

static int set(struct daemon_config *c, const struct key *k, const char *value, const char *source,
               struct cohort_error *err)
{
    char *base = (char *)c + k->offset, *end = NULL;
    errno = 0;
    switch (k->kind) {
    case K_U64:
    case K_U16:
    case K_UINT: {
        unsigned long long v = strtoull(value, &end, 10);
        unsigned long long max = k->kind == K_U16 ? 65535 : k->kind == K_UINT ? 4294967295u : UINT64_MAX;
        if (errno || end == value || *end || value[0] == '-' || v > max)
            return cohort_error_set(err, COMMON_E_INVALID, DOMAIN, "%s: %s = '%s' is not a whole number up to %llu",
                                    source, k->name, value, max);
        if (k->kind == K_U64) *(uint64_t *)base = v;
        else if (k->kind == K_U16) *(uint16_t *)base = (uint16_t)v;
        else *(unsigned *)base = (unsigned)v;
        return 0;
    }
    case K_DOUBLE: {
        double v = strtod(value, &end);
        if (errno || end == value || *end)
            return cohort_error_set(err, COMMON_E_INVALID, DOMAIN, "%s: %s = '%s' is not a number", source, k->name, value);
        *(double *)base = v;
        return 0;
    }
    case K_STRING:
        if (strlen(value) >= k->size)
            return cohort_error_set(err, COMMON_E_INVALID, DOMAIN, "%s: %s is longer than %zu characters", source, k->name,
                                    k->size - 1);
        snprintf(base, k->size, "%s", value);
        return 0;
    case K_LEVEL:
        if (log_parse_level(value, (enum log_level *)base) != 0)
            return cohort_error_set(err, COMMON_E_INVALID, DOMAIN, "%s: log_level '%s' is not debug, info, warn or error",
                                    source, value);
        return 0;
    }
    return 0;
}

int daemon_config_apply_file(struct daemon_config *c, const char *path, struct cohort_error *err)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) return cohort_error_errno(err, COMMON_E_IO, DOMAIN, errno, "config file %s", path);
    char *text = malloc(DAEMON_CONFIG_MAX_BYTES + 1);
    size_t len = text ? fread(text, 1, DAEMON_CONFIG_MAX_BYTES + 1, f) : 0;
    fclose(f);
    if (text == NULL) return cohort_error_set(err, COMMON_E_NOMEM, DOMAIN, "out of memory");
    if (len > DAEMON_CONFIG_MAX_BYTES) {
        free(text);
        return cohort_error_set(err, COMMON_E_RANGE, DOMAIN, "config file %s is larger than %u bytes", path,
                                DAEMON_CONFIG_MAX_BYTES);
    }
    cJSON *root = cJSON_ParseWithLength(text, len);
    free(text);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return cohort_error_set(err, COMMON_E_INVALID, DOMAIN, "config file %s is not a JSON object", path);
    }
    int rc = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, root)
    {
        const struct key *k = find_key(item->string, strlen(item->string));
        char value[1100];
        if (k == NULL) {
            rc = cohort_error_set(err, COMMON_E_INVALID, DOMAIN, "config file %s: unknown key '%s'", path, item->string);
            break;
        }
        if (cJSON_IsString(item)) snprintf(value, sizeof value, "%s", item->valuestring);
        else if (cJSON_IsNumber(item)) snprintf(value, sizeof value, "%.17g", item->valuedouble);
        else {
            rc = cohort_error_set(err, COMMON_E_INVALID, DOMAIN, "config file %s: '%s' must be a string or a number", path,
                                  item->string);
            break;
        }
        char source[1100];
        snprintf(source, sizeof source, "config file %s", path);
        if ((rc = set(c, k, value, source, err)) < 0) break;
    }
    cJSON_Delete(root);
    return rc;
}

/*
 * COHORT_ variables that are not cohort-core's settings: those of cohort's tests, scripts and
 * benchmarks, which start cohort-core with their own environment. Any other COHORT_
 * variable that names no key is a mistake, and stops cohort-core like an unknown flag.
 */
static bool foreign_variable(const char *name, size_t len)
{
    static const char *const prefixes[] = {"COHORT_TEST_", "COHORT_DEVNET_", "COHORT_BFT_", "COHORT_FUZZ_"};
    static const char *const names[] = {"COHORT_FIXTURES", "COHORT_SOURCE_DIR", "COHORT_BUILD_DIR", "COHORT_ETCD",
                                        "COHORT_KEEP_CLUSTER", "COHORT_STATETEST_DUMP", "COHORT_BENCH_FIXTURES"};
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++)
        if (strncmp(name, prefixes[i], strlen(prefixes[i])) == 0) return true;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strlen(names[i]) == len && strncmp(name, names[i], len) == 0) return true;
    return false;
}

/* The key a COHORT_<NAME> variable sets, or NULL. */
static const struct key *key_of_variable(const char *name, size_t len)
{
    char key[64];
    if (len <= 7 || len - 7 >= sizeof key) return NULL;
    for (size_t j = 7; j < len; j++) key[j - 7] = name[j] >= 'A' && name[j] <= 'Z' ? (char)(name[j] + 32) : name[j];
    key[len - 7] = '\0';
    return find_key(key, len - 7);
}

extern char **environ;

int daemon_config_apply_env(struct daemon_config *c, struct cohort_error *err)
{
    /* COHORT_RPC is the CLI's old name for COHORT_MANAGER_RPC: read it, with a warning, unless
       COHORT_MANAGER_RPC is set too. */
    const char *old = getenv("COHORT_RPC"), *new_name = getenv("COHORT_MANAGER_RPC");
    if (old != NULL && old[0] != '\0') {
        fputs("cohort-core: COHORT_RPC is deprecated: set COHORT_MANAGER_RPC instead\n", stderr);
        if (new_name == NULL || new_name[0] == '\0') {
            int rc = set(c, find_key("manager_rpc", 11), old, "COHORT_RPC", err);
            if (rc < 0) return rc;
        }
    }
    for (char **e = environ; e != NULL && *e != NULL; e++) {
        const char *eq = strchr(*e, '=');
        if (strncmp(*e, "COHORT_", 7) != 0 || eq == NULL) continue;
        size_t len = (size_t)(eq - *e);
        const char *value = eq + 1;
        const struct key *k = key_of_variable(*e, len);
        if (k == NULL) {
            if ((len == 10 && strncmp(*e, "COHORT_RPC", 10) == 0) || foreign_variable(*e, len)) continue;
            return cohort_error_set(err, COMMON_E_INVALID, DOMAIN,
                                    "unknown environment variable %.*s: cohort-core reads COHORT_<KEY> for the keys "
                                    "of --help; unset it or fix its name",
                                    (int)len, *e);
        }
        if (value[0] == '\0') continue;
        char name[64];
        snprintf(name, sizeof name, "%.*s", (int)len, *e);
        int rc = set(c, k, value, name, err);
        if (rc < 0) return rc;
    }
    const char *host = getenv("DOCKER_HOST");
    if (host != NULL && strncmp(host, "unix://", 7) == 0) {
        if (strlen(host + 7) >= sizeof c->docker_socket)
            return cohort_error_set(err, COMMON_E_INVALID, DOMAIN, "DOCKER_HOST: socket path too long");
        snprintf(c->docker_socket, sizeof c->docker_socket, "%s", host + 7);
    }
    return 0;
}

int daemon_config_apply_args(struct daemon_config *c, int argc, char **argv, int *help, struct cohort_error *err)
{
    *help = 0;
    /* --config first, so flags override the file wherever they stand. */
    for (int i = 1; i < argc; i++) {
        const char *file = NULL;
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) file = argv[i + 1];
        else if (strncmp(argv[i], "--config=", 9) == 0) file = argv[i] + 9;
        if (file != NULL) {
            int rc = daemon_config_apply_file(c, file, err);
            if (rc < 0) return rc;
        }
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            *help = 1;
            return 0;
        }
        if (strncmp(a, "--", 2) != 0)
            return cohort_error_set(err, COMMON_E_INVALID, DOMAIN, "unexpected argument '%s'; see --help", a);
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const char *value = eq ? eq + 1 : (i + 1 < argc ? argv[i + 1] : NULL);
        if (value == NULL) return cohort_error_set(err, COMMON_E_INVALID, DOMAIN, "option '%s' needs a value", a);
        if (!eq) i++;
        if (len == 6 && strncmp(name, "config", 6) == 0) continue;
        char key[64];
        if (len >= sizeof key) return cohort_error_set(err, COMMON_E_INVALID, DOMAIN, "unknown option '%.*s'", (int)len, a);
        for (size_t j = 0; j < len; j++) key[j] = name[j] == '-' ? '_' : name[j];
        key[len] = '\0';
        const struct key *k = find_key(key, len);
        if (k == NULL) return cohort_error_set(err, COMMON_E_INVALID, DOMAIN, "unknown option '--%.*s'; see --help", (int)len, name);
        char source[80];
        snprintf(source, sizeof source, "option --%.*s", (int)len, name);
        int rc = set(c, k, value, source, err);
        if (rc < 0) return rc;
    }
    return 0;
}

int daemon_config_validate(const struct daemon_config *c, struct cohort_error *err)
{
    struct in_addr a;
    if (c->node_id == 0)
        return cohort_error_set(err, COMMON_E_INVALID, DOMAIN,
                                "node_id is not set: give --node-id (the id 'cohort node register' printed)");
    if (inet_pton(AF_INET, c->bind_address, &a) != 1)
        return cohort_error_set(err, COMMON_E_INVALID, DOMAIN, "bind_address '%s' is not an IPv4 address", c->bind_address);
    if (inet_pton(AF_INET, c->api_address, &a) != 1)
        return cohort_error_set(err, COMMON_E_INVALID, DOMAIN, "api_address '%s' is not an IPv4 address", c->api_address);
    if (c->base_port == 0 || (uint32_t)c->base_port + 128 * 8 - 1 > 65535)
        return cohort_error_set(err, COMMON_E_INVALID, DOMAIN, "base_port %u leaves no room for 128 slots of 8 ports",
                                (unsigned)c->base_port);
    if (c->api_port == 0) return cohort_error_set(err, COMMON_E_INVALID, DOMAIN, "api_port must not be 0");
    if (!(c->memory_factor > 0 && c->memory_factor <= 1))
        return cohort_error_set(err, COMMON_E_INVALID, DOMAIN, "memory_factor %g is not in (0, 1]", c->memory_factor);
    if (c->keystore[0] != '\0' && c->password_file[0] == '\0')
        return cohort_error_set(err, COMMON_E_INVALID, DOMAIN, "keystore is set but password_file is not: a daemon cannot prompt");
    if (c->cluster_file[0] != '\0' && c->keystore[0] == '\0')
        return cohort_error_set(err, COMMON_E_INVALID, DOMAIN,
                                "cluster_file is set but keystore is not: the config store signs with the node's key");
    if (c->upgrade_deadline_ms < 1000 || c->upgrade_deadline_ms > 3600000)
        return cohort_error_set(err, COMMON_E_INVALID, DOMAIN, "upgrade_deadline_ms %u is not in 1000..3600000",
                                c->upgrade_deadline_ms);
    if (c->left_volume_grace_ms > 604800000)
        return cohort_error_set(err, COMMON_E_INVALID, DOMAIN, "left_volume_grace_ms %u is not in 0..604800000 (7 days)",
                                c->left_volume_grace_ms);
    if (c->absence_report_ms < 1000 || c->absence_report_ms > 604800000)
        return cohort_error_set(err, COMMON_E_INVALID, DOMAIN, "absence_report_ms %u is not in 1000..604800000",
                                c->absence_report_ms);
    if (c->poll_ms < 50 || c->poll_ms > 600000)
        return cohort_error_set(err, COMMON_E_INVALID, DOMAIN, "poll_ms %u is not in 50..600000", c->poll_ms);
    /* Metrics. */
    if (c->metrics_interval_ms < 100 || c->metrics_interval_ms > 3600000)
        return cohort_error_set(err, COMMON_E_INVALID, DOMAIN, "metrics_interval_ms %u is not in 100..3600000",
                                c->metrics_interval_ms);
    if (c->metrics_memory_hours < 1 || c->metrics_memory_hours > 168)
        return cohort_error_set(err, COMMON_E_INVALID, DOMAIN, "metrics_memory_hours %u is not in 1..168",
                                c->metrics_memory_hours);
    if (c->metrics_raw_days < 1 || c->metrics_minute_days < c->metrics_raw_days || c->metrics_hour_days < c->metrics_minute_days)
        return cohort_error_set(err, COMMON_E_INVALID, DOMAIN,
                                "metrics retention: need 1 <= metrics_raw_days (%u) <= metrics_minute_days (%u) <= metrics_hour_days (%u)",
                                c->metrics_raw_days, c->metrics_minute_days, c->metrics_hour_days);
    if (c->metrics_buffer_rows < 128 || c->metrics_buffer_rows > 10000000)
        return cohort_error_set(err, COMMON_E_INVALID, DOMAIN, "metrics_buffer_rows %u is not in 128..10000000",
                                c->metrics_buffer_rows);
    return 0;
}
