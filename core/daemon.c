/* daemon.c - cohort-core's loop (see daemon.h). */
#include "daemon.h"

#include <assert.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "api_token.h"
#include "assignments.h"
#include "rotation.h"
#include "settings.h"
#include "upgrade.h"
#include "common/hex.h"
#include "common/secp.h"
#include "config/config.h"
#include "contracts-abi/abi.h"
#include "docker/docker.h"
#include "httpd/httpd.h"
#include "metrics/metrics.h"
#include "node_state.h"
#include "provision.h"

#define DOMAIN "core"
#define API_ROUTES_MAX 16 /* room in struct daemon for the routes of api_routes[] */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Everything cohort-core holds while it runs, made by daemon_start and freed by daemon_free.
 * The loop's thread owns it, except the problems under lock, which the API thread reads.
 */
struct daemon {
    const struct daemon_config *config;
    struct node_state node;                   /* the install id and the kept disk budget */
    char manager_address[43];                 /* "0x..." of the deployment, "0x0" without a manager */
    struct provision_options options;
    struct provisioner provisioner;
    bool provisioner_ready;
    struct docker_client *docker;
    struct config_service *store; /* with --cluster-file, else NULL */
    struct http_server *api;
    struct http_route routes[API_ROUTES_MAX]; /* api_routes made concrete: the server keeps a pointer to them */

    pthread_mutex_t lock; /* guards the problems below for the API */
    char docker_error[COHORT_ERROR_MESSAGE_MAX];
    char manager_error[COHORT_ERROR_MESSAGE_MAX];
    char key_error[COHORT_ERROR_MESSAGE_MAX];  /* sticky: a wrong keystore stays reported */
    char node_error[COHORT_ERROR_MESSAGE_MAX]; /* the node id is not (or no longer) on the manager */

    /* The manager side: present when manager_rpc and manager_file are configured. */
    bool manager;
    struct mc_rpc *rpc;
    char urls[8][512]; /* manager_rpc split at commas; the current one is urls[url] */
    unsigned nurls, url;
    bool has_key;
    uint8_t node_key[32];   /* from --keystore: signs the node's word for its subnodes' keys */
    uint8_t public_key[64]; /* from --keystore: must be the node's registered key */
    bool node_checked;      /* the node was found on the manager with that key (or no key to check) */
    struct mc_deployment deployment;
    struct mc_watcher_config watch;
    struct assignments assignments;
    struct assignments_sink sink_state;
    struct mc_watcher_sink sink;
    char state_path[1100];

    /* Metrics (metrics/metrics.h): the engine, what the loop publishes for its sampler thread
       (under lock), and the sampler's own manager client (the loop's is the loop's). */
    struct metrics *metrics;
    uint64_t watcher_block;
    struct mc_rpc *metrics_rpc;
    char metrics_rpc_url[512];

    /* Settings from the cluster's store (core/settings.h), with a store only: the follower
       thread, what it resolved (under lock, for the API), and what the loop reads. */
    pthread_t settings_thread;
    bool settings_running;
    struct node_settings settings;
    _Atomic unsigned poll_ms, confirmations;
    /* Limits the loop gives the provisioner (under lock: the follower writes them). */
    double memory_factor;
    unsigned cpu_quota_percent;

    /* The image the cluster runs and the rolling upgrade to it (core/upgrade.h), with a store only. */
    struct upgrade *upgrade;

    /* The completions of its chains' rotations this node signs and sends (core/rotation.h),
       and the chains a completed rotation took it out of, with when this process saw that:
       their volumes go left_volume_grace_ms later (a restart starts the wait again). */
    struct rotations rotations;
    struct {
        char chain[CHAIN_NAME_MAX];
        int64_t since_ms;
        bool removed;
    } left[RECONCILE_MAX];
    size_t nleft;
};

/* The chains this node left at a rotation, when the assignments changed: each volume goes
   once its grace has passed. */
static void left_volumes(struct daemon *d, bool changed, int64_t now)
{
    struct chain_name names[RECONCILE_MAX];
    size_t n = changed ? assignments_left(&d->assignments, names, RECONCILE_MAX) : 0;
    for (size_t i = 0; i < n; i++) {
        bool known = false;
        for (size_t j = 0; j < d->nleft && !known; j++) known = strcmp(d->left[j].chain, names[i].name) == 0;
        if (known || d->nleft == RECONCILE_MAX) continue;
        snprintf(d->left[d->nleft].chain, CHAIN_NAME_MAX, "%s", names[i].name);
        d->left[d->nleft].since_ms = now;
        d->left[d->nleft++].removed = false;
        log_info("a rotation took this node out of a chain: its subnode goes now, its volume after the grace period",
                 "chain=%s grace_ms=%u", names[i].name, d->config->left_volume_grace_ms);
    }
    for (size_t j = 0; j < d->nleft; j++) {
        if (d->left[j].removed || now - d->left[j].since_ms < (int64_t)d->config->left_volume_grace_ms) continue;
        provision_mark_deleted(&d->provisioner, d->left[j].chain);
        d->left[j].removed = true;
        log_info("the volume of a chain this node left goes", "chain=%s", d->left[j].chain);
    }
}

/* ---- Problems, for /healthz ---- */

static void set_problem(struct daemon *d, char *slot, const char *message)
{
    pthread_mutex_lock(&d->lock);
    snprintf(slot, COHORT_ERROR_MESSAGE_MAX, "%s", message);
    pthread_mutex_unlock(&d->lock);
}

static void api_health(void *ctx, const char *method, const char *body, size_t len, struct http_response *out)
{
    (void)method;
    (void)body;
    (void)len;
    struct daemon *d = ctx;
    size_t containers_ignored = 0, volumes_ignored = 0;
    if (d->provisioner_ready) provision_ignored(&d->provisioner, &containers_ignored, &volumes_ignored);
    char ignored[160] = "";
    if (containers_ignored || volumes_ignored)
        snprintf(ignored, sizeof ignored, "%zu containers and %zu volumes past the cap of %d are left alone",
                 containers_ignored, volumes_ignored, RECONCILE_MAX);
    char behind[160] = "";
    if (d->store != NULL) (void)config_service_unready(d->store, behind, sizeof behind);
    char halted[COHORT_ERROR_MESSAGE_MAX + 128] = "", why[COHORT_ERROR_MESSAGE_MAX] = "";
    if (d->store != NULL && config_service_halted(d->store, why, sizeof why))
        snprintf(halted, sizeof halted,
                 "its WAL failed (%s) and this member no longer votes: fix that (a full disk?), then restart cohort-core", why);
    const char *store_problem = halted[0] ? halted : behind;
    size_t size = 6 * (COHORT_ERROR_MESSAGE_MAX + 160) + 16, used = 0; /* each problem fits, with its name */
    char *text = malloc(size);
    if (text == NULL) {
        out->status = 500;
        return;
    }
    /* "ok", or "degraded:" and each problem with its source. */
    pthread_mutex_lock(&d->lock);
    const char *const names[] = {"docker", "manager", "node", "keystore", "provisioner", "config store"};
    const char *const problems[] = {d->docker_error, d->manager_error, d->node_error, d->key_error, ignored,
                                    store_problem};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (problems[i][0] != '\0')
            used += (size_t)snprintf(text + used, size - used, "%s %s: %s", used ? "" : "degraded:", names[i],
                                     problems[i]);
    pthread_mutex_unlock(&d->lock);
    snprintf(text + used, size - used, used ? "\n" : "ok\n");
    out->status = used ? 503 : 200;
    out->content_type = "text/plain";
    out->body = text;
}

/* A read route takes GET only: false, with 405 in out, for anything else. */
static bool get_only(const char *method, struct http_response *out)
{
    if (strcmp(method, "GET") == 0) return true;
    out->status = 405;
    out->body = strdup("{\"error\":\"use GET\"}");
    return false;
}

static void api_subnodes(void *ctx, const char *method, const char *body, size_t len, struct http_response *out)
{
    (void)body;
    (void)len;
    struct daemon *d = ctx;
    if (!get_only(method, out)) return;
    out->body = d->provisioner_ready ? provision_subnodes_json(&d->provisioner) : strdup("[]");
}

/* ---- Settings from the cluster (core/settings.h) ---- */

struct settings_pass {
    struct node_settings *settings;
    uint64_t node_id;
};

/* The settings as the node's own configuration has them. */
static struct setting_values local_settings(const struct daemon_config *c)
{
    return (struct setting_values){.log_level = c->log_level, .poll_ms = c->poll_ms, .confirmations = c->confirmations,
                                   .memory_factor = c->memory_factor, .cpu_quota_percent = c->cpu_quota_percent,
                                   .metrics_interval_ms = c->metrics_interval_ms, .metrics_raw_days = c->metrics_raw_days,
                                   .metrics_minute_days = c->metrics_minute_days,
                                   .metrics_hour_days = c->metrics_hour_days};
}

static void take_setting(void *arg, const struct cs_kv *kv)
{
    struct settings_pass *p = arg;
    settings_take(p->settings, p->node_id, (const char *)kv->key, kv->key_len, (const char *)kv->value, kv->value_len,
                  kv->mod_revision);
}

/*
 * The follower: reads the settings from the local copy of the store, the cluster's keys
 * then this node's, applies what changed, and waits for the next revision (at most 1 s).
 * A committed change is applied within a round trip of the log: no restart.
 */
static void *follow_settings(void *arg)
{
    struct daemon *d = arg;
    const struct daemon_config *c = d->config;
    char node_prefix[64];
    snprintf(node_prefix, sizeof node_prefix, "cohort/nodes/%llu/settings/", (unsigned long long)c->node_id);
    struct node_settings *s = malloc(sizeof *s);
    if (s == NULL) return NULL;
    struct setting_values local = local_settings(c);
    /* What the metrics engine runs with: changed only from here. */
    unsigned interval_ms = c->metrics_interval_ms;
    struct metrics_retention retention = {c->metrics_raw_days, c->metrics_minute_days, c->metrics_hour_days};
    for (;;) {
        settings_init(s, &local);
        struct settings_pass pass = {s, c->node_id};
        uint64_t a = config_service_local_range(d->store, SETTINGS_CLUSTER_PREFIX, 256, take_setting, &pass);
        uint64_t b = config_service_local_range(d->store, node_prefix, 256, take_setting, &pass);
        settings_finish(s);
        s->revision = a > b ? a : b;
        const struct setting_values *v = &s->v;
        if (v->log_level != log_get_level()) log_set_level(v->log_level);
        atomic_store(&d->poll_ms, v->poll_ms);
        atomic_store(&d->confirmations, v->confirmations);
        struct cohort_error err = {0};
        if (v->metrics_interval_ms != interval_ms) {
            if (metrics_set_interval(d->metrics, v->metrics_interval_ms, &err) == 0) interval_ms = v->metrics_interval_ms;
            else log_warn("the metrics interval stays", "interval_ms=%u error=\"%s\"", interval_ms, err.message);
        }
        struct metrics_retention want = {v->metrics_raw_days, v->metrics_minute_days, v->metrics_hour_days};
        if (memcmp(&want, &retention, sizeof want) != 0) {
            if (metrics_set_retention(d->metrics, &want, &err) == 0) retention = want;
            else log_warn("the metrics retention stays", "error=\"%s\"", err.message);
        }
        pthread_mutex_lock(&d->lock);
        bool changed = memcmp(d->settings.shown, s->shown, sizeof s->shown) != 0 || d->settings.nrefused != s->nrefused;
        d->settings = *s;
        d->memory_factor = v->memory_factor; /* the loop applies them (provision_set_resources) */
        d->cpu_quota_percent = v->cpu_quota_percent;
        pthread_mutex_unlock(&d->lock);
        if (changed)
            log_info("settings from the cluster", "revision=%llu log_level=%s poll_ms=%u confirmations=%u "
                     "memory_factor=%g cpu_quota_percent=%u metrics_interval_ms=%u metrics_days=%u/%u/%u refused=%zu",
                     (unsigned long long)s->revision, s->shown[SETTING_LOG_LEVEL].value, v->poll_ms, v->confirmations,
                     v->memory_factor, v->cpu_quota_percent, v->metrics_interval_ms, v->metrics_raw_days,
                     v->metrics_minute_days, v->metrics_hour_days, s->nrefused);
        upgrade_follow(d->upgrade, d->store);
        if (!config_service_wait(d->store, s->revision, 1000)) break;
    }
    free(s);
    return NULL;
}

static void api_image(void *ctx, const char *method, const char *body, size_t len, struct http_response *out)
{
    (void)body;
    (void)len;
    struct daemon *d = ctx;
    if (!get_only(method, out)) return;
    if (d->upgrade == NULL) {
        out->status = 404;
        out->body = strdup("{\"error\":\"this cohort-core is in no cluster (--cluster-file): it runs its local --image\"}");
        return;
    }
    pthread_mutex_lock(&d->lock); /* provisioner_ready */
    struct provisioner *p = d->provisioner_ready ? &d->provisioner : NULL;
    pthread_mutex_unlock(&d->lock);
    out->body = upgrade_json(d->upgrade, p);
}

static void api_settings(void *ctx, const char *method, const char *body, size_t len, struct http_response *out)
{
    (void)body;
    (void)len;
    struct daemon *d = ctx;
    if (!get_only(method, out)) return;
    pthread_mutex_lock(&d->lock);
    out->body = settings_json(&d->settings);
    pthread_mutex_unlock(&d->lock);
}

/*
 * The local API's routes. Each handler gets the daemon, or the config store for the store's
 * routes, which exist only when cohort-core runs one (--cluster-file).
 */
enum route_context { ROUTE_DAEMON, ROUTE_STORE };
static const struct {
    const char *path;
    http_handler handler;
    enum route_context context;
    bool needs_token; /* writes and reads of the cluster's configuration (core/api_token.h) */
} api_routes[] = {
    {"/healthz", api_health, ROUTE_DAEMON, false},
    {"/api/v1/subnodes", api_subnodes, ROUTE_DAEMON, false},
    {"/api/v1/settings", api_settings, ROUTE_DAEMON, false},
    {"/api/v1/image", api_image, ROUTE_DAEMON, false},
    {"/api/v1/config/txn", config_api_txn, ROUTE_STORE, true},
    {"/api/v1/config/range", config_api_range, ROUTE_STORE, true},
    {"/api/v1/config/watch", config_api_watch, ROUTE_STORE, true},
    {"/api/v1/config/status", config_api_status, ROUTE_STORE, false},
};
#define API_ROUTES (sizeof api_routes / sizeof api_routes[0])

/* The metrics' routes (docs/metrics.md): Prometheus text, JSON, the web page. Their handlers
   take the query string and the metrics engine. */
static const struct {
    const char *path;
    http_query_handler handler;
} metrics_routes[] = {
    {"/metrics", metrics_api_prometheus},   {"/api/v1/status", metrics_api_status},
    {"/api/v1/metrics", metrics_api_series}, {"/api/v1/health", metrics_api_health},
    {"/api/v1/usage", metrics_api_usage},   {"/", metrics_api_page},
};
#define METRICS_ROUTES (sizeof metrics_routes / sizeof metrics_routes[0])

_Static_assert(API_ROUTES + METRICS_ROUTES <= API_ROUTES_MAX, "struct daemon has room for every route");

static int api_start(struct daemon *d, struct cohort_error *err)
{
    struct http_route *routes = d->routes;
    size_t n = 0;
    for (size_t i = 0; i < API_ROUTES; i++) {
        void *ctx = api_routes[i].context == ROUTE_STORE ? (void *)d->store : (void *)d;
        if (ctx == NULL) continue; /* no store: its routes answer 404 */
        routes[n++] = (struct http_route){.path = api_routes[i].path, .handler = api_routes[i].handler, .ctx = ctx,
                                          .needs_token = api_routes[i].needs_token};
    }
    for (size_t i = 0; i < METRICS_ROUTES; i++)
        routes[n++] = (struct http_route){.path = metrics_routes[i].path, .query_handler = metrics_routes[i].handler,
                                          .ctx = d->metrics};
    const struct daemon_config *c = d->config;
    char token[API_TOKEN_HEX + 1];
    int rc = api_token_load_or_make(c->state_dir, token, err);
    if (rc == 0) rc = http_start_api(&d->api, c->api_address, c->api_port, routes, n, token, err);
    explicit_bzero(token, sizeof token);
    return rc < 0 ? cohort_error_wrap(err, "local API") : 0;
}

/* ---- Start ---- */

/* The state dir's free space: the disk budget of a first start when none is configured. */
static uint64_t free_disk_bytes(const char *state_dir)
{
    struct statvfs fs;
    return statvfs(state_dir, &fs) == 0 ? (uint64_t)fs.f_bavail * fs.f_frsize : 0;
}

/* Node resources: configured, or the host's RAM and the disk budget kept in node.json. */
static void resources(const struct daemon *d, struct node_resources *r)
{
    const struct daemon_config *c = d->config;
    memset(r, 0, sizeof *r);
    r->memory_factor = c->memory_factor;
    r->cpu_quota_percent = c->cpu_quota_percent;
    r->memory_bytes = c->memory_bytes;
    if (r->memory_bytes == 0) {
        long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
        if (pages > 0 && page > 0) r->memory_bytes = (uint64_t)pages * (uint64_t)page;
    }
    r->disk_bytes = c->disk_bytes ? c->disk_bytes : d->node.disk_bytes;
}

/* Reads the node's key from --keystore with --password-file. */
static int load_key(const struct daemon_config *c, uint8_t key[32], struct cohort_error *err)
{
    char password[MC_PASSWORD_MAX_BYTES + 2];
    size_t len;
    uint8_t address[20];
    int rc = mc_password_from_file(c->password_file, password, sizeof password, &len, err);
    if (rc == 0) rc = mc_keystore_load(c->keystore, password, len, key, address, err);
    explicit_bzero(password, sizeof password);
    return rc < 0 ? cohort_error_wrap(err, "keystore (--keystore, --password-file)") : 0;
}

/* Sets up the manager side from the configuration; returns an error only for bad configuration. */
static int manager_open(struct daemon *d, struct cohort_error *err)
{
    const struct daemon_config *c = d->config;
    if (c->manager_rpc[0] == '\0') return 0;
    if (c->manager_file[0] == '\0')
        return cohort_error_set(err, COMMON_E_INVALID, DOMAIN, "manager_rpc is set but manager_file is not: give --manager-file");
    int rc = mc_deployment_load(c->manager_file, &d->deployment, err);
    if (rc < 0) return rc;
    char list[sizeof c->manager_rpc];
    snprintf(list, sizeof list, "%s", c->manager_rpc);
    for (char *save = NULL, *u = strtok_r(list, ",", &save); u && d->nurls < 8; u = strtok_r(NULL, ",", &save))
        snprintf(d->urls[d->nurls++], sizeof d->urls[0], "%s", u);
    struct mc_rpc_options o = {.url = d->urls[0], .max_retries = 1};
    if ((rc = mc_rpc_open(&d->rpc, &o, err)) < 0) return rc;
    assignments_init(&d->assignments, c->node_id);
    snprintf(d->state_path, sizeof d->state_path, "%s/manager-state.json", c->state_dir);
    if ((rc = assignments_load(&d->assignments, d->state_path, err)) < 0) return rc;
    size_t ntopics;
    const uint8_t(*topics)[32] = mc_manager_event_topics(&ntopics);
    d->watch = (struct mc_watcher_config){.start_block = d->deployment.block, .confirmations = c->confirmations,
                                          .max_range = 2000, .topic0s = topics, .ntopic0s = ntopics};
    memcpy(d->watch.address, d->deployment.address, 20);
    d->sink_state = (struct assignments_sink){.assignments = &d->assignments, .path = d->state_path};
    d->sink = (struct mc_watcher_sink){.deliver = assignments_deliver, .rewind = assignments_rewind_sink,
                                       .ctx = &d->sink_state};
    d->manager = true;
    hex_encode(d->deployment.address, 20, d->manager_address, sizeof d->manager_address);
    log_info("following the manager", "rpc=%s events=%zu from_block=%llu", d->urls[0], d->assignments.nevents,
             (unsigned long long)(d->assignments.cursor.started ? d->assignments.cursor.last.number + 1 : d->deployment.block));
    return 0;
}

/* Starts the config store service of the cluster file, signing with key (the node's). */
static int store_start(struct daemon *d, const uint8_t key[32], struct cohort_error *err)
{
    const struct daemon_config *config = d->config;
    if (config->cluster_file[0] == '\0') return 0;
    assert(d->has_key); /* daemon_config_validate: a cluster file needs a keystore */
    struct cluster cluster;
    int rc = cluster_load(config->cluster_file, &cluster, err);
    if (rc < 0) return rc;
    if ((d->upgrade = malloc(sizeof *d->upgrade)) == NULL)
        return cohort_error_set(err, COMMON_E_NOMEM, DOMAIN, "out of memory");
    rc = upgrade_init(d->upgrade, config->state_dir, &cluster, config->node_id, config->image, config->bind_address,
                      config->upgrade_deadline_ms, err);
    if (rc < 0) {
        free(d->upgrade);
        d->upgrade = NULL;
        return rc;
    }
    struct config_service_options o = {.cluster = &cluster, .private_key = key, .state_dir = config->state_dir};
#ifdef COHORT_TEST_BYZANTINE
    /* The Byzantine test build (cohort-core-byzantine): equivocate as leader on request. */
    o.equivocate = getenv("COHORT_TEST_EQUIVOCATE") != NULL;
    if (o.equivocate) log_warn("TEST BUILD: this member equivocates as leader", NULL);
#endif
    return config_service_start(&o, &d->store, err);
}

/* ---- Metrics: what cohort-core tells the sampler (metrics/metrics.h), on its thread ---- */

/* The config store's figures, through its own status document. */
static void collect_config_store(struct daemon *d, struct metrics_node_input *node)
{
    if (d->store == NULL) return;
    node->config_store = true;
    struct http_response r = {.status = 200};
    config_api_status(d->store, "GET", "", 0, &r);
    cJSON *o = r.body ? cJSON_Parse(r.body) : NULL;
    free(r.body);
    if (o == NULL) return;
#define NUMBER(key) (cJSON_IsNumber(cJSON_GetObjectItem(o, key)) ? (uint64_t)cJSON_GetObjectItem(o, key)->valuedouble : 0)
    node->config_store_halted = cJSON_IsTrue(cJSON_GetObjectItem(o, "halted"));
    node->config_store_leader = NUMBER("self") == NUMBER("leader");
    node->config_store_members = NUMBER("members");
    node->config_store_peers_connected = NUMBER("peers_connected");
    node->config_store_height = NUMBER("height");
    node->config_store_committed_index = NUMBER("committed_index");
    node->config_store_wal_syncs = NUMBER("wal_syncs");
    node->config_store_wal_sync_us = NUMBER("wal_sync_us");
    node->config_store_commits = NUMBER("commits_delivered");
    node->config_store_commit_wait_us = NUMBER("commit_wait_us");
#undef NUMBER
    cJSON_Delete(o);
}

/* The manager chain's head (number and timestamp), on the sampler's own client: a short
   timeout, so a dead RPC delays a sample by at most about a second. */
static void collect_manager_head(struct daemon *d, struct metrics_node_input *node)
{
    char url[512];
    pthread_mutex_lock(&d->lock);
    snprintf(url, sizeof url, "%s", d->urls[d->url]);
    pthread_mutex_unlock(&d->lock);
    if (d->metrics_rpc != NULL && strcmp(url, d->metrics_rpc_url) != 0) {
        mc_rpc_close(d->metrics_rpc);
        d->metrics_rpc = NULL;
    }
    if (d->metrics_rpc == NULL) {
        struct mc_rpc_options o = {.url = url, .connect_timeout_ms = 500, .request_timeout_ms = 1000, .max_retries = 0};
        if (mc_rpc_open(&d->metrics_rpc, &o, NULL) < 0) return;
        snprintf(d->metrics_rpc_url, sizeof d->metrics_rpc_url, "%s", url);
    }
    struct mc_block head;
    if (mc_eth_get_block_by_number(d->metrics_rpc, MC_LATEST, &head, NULL) == 0) {
        node->manager_head_known = true;
        node->manager_head_block = head.number;
        node->manager_head_timestamp_s = (int64_t)head.timestamp;
    }
}

static void collect_metrics(void *ctx, struct metrics_node_input *node, struct metrics_subnode_input *subnodes, size_t max,
                            size_t *n)
{
    struct daemon *d = ctx;
    const struct daemon_config *c = d->config;
    node->slots_total = SLOTS_PER_NODE;
    pthread_mutex_lock(&d->lock);
    bool provisioner_ready = d->provisioner_ready;
    node->docker_ok = d->docker_error[0] == '\0' && provisioner_ready;
    snprintf(node->docker_error, sizeof node->docker_error, "%s", d->docker_error[0] ? d->docker_error : "dockerd not connected yet");
    node->manager_configured = d->manager;
    node->manager_ok = d->manager_error[0] == '\0';
    snprintf(node->manager_error, sizeof node->manager_error, "%s", d->manager_error);
    node->manager_watcher_block = d->watcher_block;
    node->keystore_configured = c->keystore[0] != '\0';
    node->keystore_ok = d->key_error[0] == '\0';
    snprintf(node->keystore_error, sizeof node->keystore_error, "%s", d->key_error);
    pthread_mutex_unlock(&d->lock);
    if (node->keystore_configured && node->keystore_ok && access(c->keystore, R_OK) != 0) {
        node->keystore_ok = false;
        snprintf(node->keystore_error, sizeof node->keystore_error, "the keystore %.400s cannot be read: %s", c->keystore,
                 strerror(errno));
    }
    if (d->manager) collect_manager_head(d, node);
    collect_config_store(d, node);
    *n = 0;
    if (!provisioner_ready) return;
    struct provisioner *p = &d->provisioner;
    pthread_mutex_lock(&p->lock);
    node->assignments = p->nviews;
    node->reconcile_rounds_total = p->rounds_total;
    node->reconcile_actions_total = p->actions_total;
    node->reconcile_failures_total = p->failures_total;
    for (size_t i = 0; i < p->nviews && *n < max; i++) {
        const struct subnode_view *v = &p->views[i];
        struct metrics_subnode_input *in = &subnodes[(*n)++];
        memset(in, 0, sizeof *in);
        snprintf(in->chain, sizeof in->chain, "%s", v->chain);
        snprintf(in->container, sizeof in->container, "%s", v->container);
        snprintf(in->container_id, sizeof in->container_id, "%s", v->container_id);
        snprintf(in->state, sizeof in->state, "%s", v->state);
        in->first_slot = v->first_slot;
        in->slots = v->slots;
        in->rpc_port = v->rpc_port;
        in->restarts = v->restarts;
        in->volume_used_bytes = v->disk_used_bytes;
        in->volume_budget_bytes = v->limits.disk_bytes;
        in->over_budget = v->over_budget;
        in->config_current = v->config_current;
        snprintf(in->last_error, sizeof in->last_error, "%s", v->last_error);
    }
    pthread_mutex_unlock(&p->lock);
}

/* Starts the metrics engine (its first sample sees no provisioner yet: dockerd comes later). */
static int metrics_open(struct daemon *d, struct cohort_error *err)
{
    const struct daemon_config *c = d->config;
    struct metrics_options o = {
        .node_id = c->node_id, .interval_ms = c->metrics_interval_ms, .memory_hours = c->metrics_memory_hours,
        .database_url = c->metrics_database,
        .retention = {.raw_days = c->metrics_raw_days, .minute_days = c->metrics_minute_days, .hour_days = c->metrics_hour_days},
        .buffer_rows = c->metrics_buffer_rows, .disk_path = c->state_dir, .status_address = c->bind_address,
        .collect = collect_metrics, .collect_ctx = d};
    return metrics_start(&o, &d->metrics, err);
}

static void daemon_free(struct daemon *d)
{
    if (d == NULL) return;
    config_service_quiesce(d->store);
    if (d->settings_running) pthread_join(d->settings_thread, NULL); /* the quiesce woke it */
    http_stop(d->api);
    metrics_stop(d->metrics); /* before the provisioner and the store it reads go */
    if (d->metrics_rpc) mc_rpc_close(d->metrics_rpc);
    config_service_stop(d->store);
    if (d->upgrade) upgrade_free(d->upgrade);
    free(d->upgrade);
    if (d->provisioner_ready) provision_free(&d->provisioner);
    if (d->manager) assignments_free(&d->assignments);
    mc_rpc_close(d->rpc);
    docker_close(d->docker);
    pthread_mutex_destroy(&d->lock);
    explicit_bzero(d->node_key, sizeof d->node_key);
    free(d);
}

/*
 * Everything that can fail at start fails here, before the API answers: a state dir that
 * cannot be made, a node state that cannot be read, a keystore that is missing or whose
 * password is wrong (with or without a manager), a bad deployment file or cluster file, a
 * port in use. Whatever depends on a service that may come later (dockerd, the manager's
 * RPC) is not checked here but reported by /healthz.
 */
static int daemon_start(const struct daemon_config *config, struct daemon **out, struct cohort_error *err)
{
    *out = NULL;
    if (mkdir(config->state_dir, 0700) != 0 && errno != EEXIST)
        return cohort_error_errno(err, COMMON_E_IO, DOMAIN, errno, "state dir %s", config->state_dir);
    struct daemon *d = calloc(1, sizeof *d);
    if (d == NULL) return cohort_error_set(err, COMMON_E_NOMEM, DOMAIN, "out of memory");
    d->config = config;
    pthread_mutex_init(&d->lock, NULL);
    snprintf(d->manager_address, sizeof d->manager_address, "0x0");
    bool created = false;
    int rc = node_state_open(config->state_dir, free_disk_bytes(config->state_dir), &d->node, &created, err);
    if (rc == 0 && created)
        log_info("first start in this state dir: install id made, disk budget kept", "install_id=%s disk_bytes=%llu",
                 d->node.install_id, (unsigned long long)d->node.disk_bytes);
    uint8_t key[32];
    if (rc == 0 && config->keystore[0]) {
        rc = load_key(config, key, err);
        if (rc == 0) rc = secp_pubkey(key, d->public_key, err);
        d->has_key = rc == 0;
        if (d->has_key) memcpy(d->node_key, key, 32);
    }
    if (rc == 0 && (rc = manager_open(d, err)) < 0) cohort_error_wrap(err, "manager");
    if (rc == 0) rc = store_start(d, key, err);
    explicit_bzero(key, sizeof key);
    struct setting_values local = local_settings(config);
    settings_init(&d->settings, &local);
    atomic_store(&d->poll_ms, config->poll_ms);
    atomic_store(&d->confirmations, config->confirmations);
    d->memory_factor = config->memory_factor;
    d->cpu_quota_percent = config->cpu_quota_percent;
    if (rc == 0 && (rc = metrics_open(d, err)) < 0) cohort_error_wrap(err, "metrics");
    if (rc == 0 && d->store != NULL) { /* after the metrics engine, whose interval and retention it sets */
        int e = pthread_create(&d->settings_thread, NULL, follow_settings, d);
        if (e != 0) rc = cohort_error_errno(err, COMMON_E_IO, DOMAIN, e, "cannot start the settings follower");
        d->settings_running = e == 0;
    }
    if (rc == 0) rc = api_start(d, err);
    if (rc < 0) {
        daemon_free(d);
        return rc;
    }
    d->options = (struct provision_options){.manager = d->manager_address, .node_id = config->node_id,
                                            .install_id = d->node.install_id, .image = config->image,
                                            .bind_address = config->bind_address, .base_port = config->base_port,
                                            .docker_socket = config->docker_socket, .state_dir = config->state_dir,
                                            .node_key = d->has_key ? d->node_key : NULL};
    resources(d, &d->options.resources);
    *out = d;
    return 0;
}

/* ---- The manager ---- */

/*
 * Checks that the node id is on the manager and, with --keystore, that the keystore holds
 * the key the node registered with: a wrong file would sign as someone else once the node
 * signs (BFT votes). Either problem shows in /healthz until it is fixed; what runs keeps
 * running. Checked at every poll until it holds, so a node registered after its
 * cohort-core started turns healthy.
 */
static void check_node(struct daemon *d)
{
    if (d->node_checked) return;
    struct cohort_error err = {0};
    const struct daemon_config *c = d->config;
    uint64_t count = 0;
    struct mc_node_info node;
    char message[COHORT_ERROR_MESSAGE_MAX];
    if (mc_manager_node_count(d->rpc, &d->deployment, &count, &err) < 0) return; /* the RPC: next poll */
    if (c->node_id > count) {
        snprintf(message, sizeof message,
                 "node %llu is not registered on the manager at %s (it has %llu nodes): check --node-id, or register "
                 "the node with 'cohort node register'",
                 (unsigned long long)c->node_id, d->manager_address, (unsigned long long)count);
        if (strcmp(d->node_error, message) != 0) log_error("node not registered", "error=\"%s\"", message);
        set_problem(d, d->node_error, message);
        return;
    }
    if (mc_manager_get_node(d->rpc, &d->deployment, c->node_id, &node, &err) < 0) return;
    if (node.status == MC_NODE_LEFT) {
        snprintf(message, sizeof message, "node %llu has left the manager at %s: check --node-id",
                 (unsigned long long)c->node_id, d->manager_address);
        if (strcmp(d->node_error, message) != 0) log_error("node has left", "error=\"%s\"", message);
        set_problem(d, d->node_error, message);
        return;
    }
    set_problem(d, d->node_error, "");
    d->node_checked = true;
    if (!d->has_key) return;
    if (memcmp(node.public_key, d->public_key, 64) != 0) {
        snprintf(message, sizeof message, "the keystore's key is not node %llu's registered key: check --keystore",
                 (unsigned long long)c->node_id);
        log_error("wrong keystore", "error=\"%s\"", message);
        set_problem(d, d->key_error, message);
    } else {
        log_info("keystore matches the node's registered key", NULL);
    }
}

/* Reads what the manager says (a bounded number of ranges), and hands changed assignments to
   the provisioner. Returns true when the desired set changed. */
static bool manager_poll(struct daemon *d, const struct node_resources *resources)
{
    struct cohort_error err = {0};
    bool progress = true;
    for (int i = 0; i < 50 && progress; i++) {
        d->watch.confirmations = atomic_load(&d->confirmations); /* the cluster may have changed it */
        if (mc_watcher_poll(&d->watch, &d->assignments.cursor, d->rpc, &d->sink, &progress, &err) < 0) {
            if (strcmp(d->manager_error, err.message) != 0)
                log_warn("manager unavailable; keeping what runs", "error=\"%s\"", err.message);
            set_problem(d, d->manager_error, err.message);
            if (d->nurls > 1 && (err.code == MC_E_UNAVAILABLE || err.code == MC_E_HTTP)) {
                /* The next endpoint for the next round. */
                pthread_mutex_lock(&d->lock); /* the metrics thread reads which URL is current */
                d->url = (d->url + 1) % d->nurls;
                pthread_mutex_unlock(&d->lock);
                struct mc_rpc *next;
                struct mc_rpc_options o = {.url = d->urls[d->url], .max_retries = 1};
                if (mc_rpc_open(&next, &o, NULL) == 0) {
                    mc_rpc_close(d->rpc);
                    d->rpc = next;
                    log_info("switching manager RPC", "url=%s", d->urls[d->url]);
                }
            }
            break;
        }
        set_problem(d, d->manager_error, "");
    }
    pthread_mutex_lock(&d->lock); /* for the metrics thread */
    d->watcher_block = d->assignments.cursor.started ? d->assignments.cursor.last.number : 0;
    pthread_mutex_unlock(&d->lock);
    if (d->manager_error[0] == '\0') check_node(d);
    if (!d->assignments.changed || !d->provisioner_ready) return false;
    struct chain_config_params params = {.manager_chain_id = d->deployment.chain_id,
                                         .disk_bytes_per_slot = resources->disk_bytes / SLOTS_PER_NODE};
    memcpy(params.manager_address, d->deployment.address, 20);
    struct chain_config *configs = NULL;
    struct chain_rotation *rotations = NULL;
    size_t n = 0;
    if (assignments_configs(&d->assignments, &params, &configs, &rotations, &n, &err) < 0) {
        log_error("cannot derive chain configs", "error=\"%s\"", err.message);
        return false;
    }
    struct assignment *assigned = calloc(n ? n : 1, sizeof *assigned);
    for (size_t i = 0; assigned && i < n; i++) {
        assigned[i].config = configs[i];
        assigned[i].rotation_open = rotations[i].open;
        assigned[i].vouch = rotations[i].vouch;
        assigned[i].member_after = rotations[i].member_after;
        memcpy(assigned[i].rotation_record, rotations[i].record, ROTATION_RECORD_BYTES);
    }
    if (assigned == NULL) {
        log_error("cannot hand the assignments to the provisioner", "error=\"out of memory\" chains=%zu", n);
    } else if (provision_set_assigned(&d->provisioner, assigned, n, &err) < 0) {
        log_error("cannot hand the assignments to the provisioner", "error=\"%s\"", err.message);
    } else {
        struct chain_name deleted[RECONCILE_MAX];
        size_t ndeleted = assignments_deleted(&d->assignments, deleted, RECONCILE_MAX);
        for (size_t i = 0; i < ndeleted; i++) provision_mark_deleted(&d->provisioner, deleted[i].name);
        left_volumes(d, true, now_ms());
        d->assignments.changed = false;
        log_info("assignments changed", "chains=%zu deleted=%zu", n, ndeleted);
    }
    free(assigned);
    free(configs);
    free(rotations);
    return true;
}

/* ---- The loop ---- */

static int64_t wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Docker events are the loop's sleep: a subnode's death wakes it at once. ctx points at
   the time of the newest event seen, so the next stream starts after it. */
static int on_event(void *ctx, const struct docker_event *e)
{
    int64_t *last_ns = ctx;
    if (e->time_ns > *last_ns) *last_ns = e->time_ns;
    return strcmp(e->action, "die") == 0 || strcmp(e->action, "destroy") == 0 || strcmp(e->action, "oom") == 0;
}

/* Connects to dockerd, or waits retry_ms (doubling it) and returns false. */
static bool docker_connect(struct daemon *d, int64_t *retry_ms, volatile sig_atomic_t *stop)
{
    struct cohort_error err = {0};
    if (docker_open(&d->docker, d->config->docker_socket, &err) < 0) {
        set_problem(d, d->docker_error, err.message);
        log_warn("dockerd unavailable; retrying", "error=\"%s\" kind=\"%s\" retry_ms=%lld", err.message,
                 docker_strerror(err.code), (long long)*retry_ms);
        for (int64_t slept = 0; slept < *retry_ms && !*stop; slept += 100) usleep(100000);
        *retry_ms = *retry_ms < 30000 ? *retry_ms * 2 : 30000;
        return false;
    }
    *retry_ms = 500;
    set_problem(d, d->docker_error, "");
    if (!d->provisioner_ready) {
        provision_init(&d->provisioner, &d->options, d->docker);
        pthread_mutex_lock(&d->lock); /* the metrics thread reads it */
        d->provisioner_ready = true;
        pthread_mutex_unlock(&d->lock);
    } else {
        d->provisioner.docker = d->docker;
    }
    log_info("dockerd connected", "api=%s", docker_api_version(d->docker));
    return true;
}

static void docker_lost(struct daemon *d)
{
    docker_close(d->docker);
    d->docker = NULL;
}

int daemon_run(const struct daemon_config *config, volatile sig_atomic_t *stop, struct cohort_error *err)
{
    struct daemon *d = NULL;
    int rc = daemon_start(config, &d, err);
    if (rc < 0) return rc;
    log_info("cohort-core started", "node=%llu install_id=%s api=%s:%u state_dir=%s", (unsigned long long)config->node_id,
             d->node.install_id, config->api_address, (unsigned)config->api_port, config->state_dir);

    struct docker_label mine[1] = {{"cohort.install", d->node.install_id}};
    int64_t retry_ms = 500, next_round = 0, wake = 0, events_since_ns = wall_ns();
    while (!*stop) {
        int64_t now = now_ms();
        if (d->docker == NULL) {
            if (!docker_connect(d, &retry_ms, stop)) continue;
            next_round = 0;
        }
        if (d->manager && manager_poll(d, &d->options.resources)) next_round = 0;
        if (d->upgrade != NULL) { /* the image the cluster names, for the containers this round makes */
            char image[256];
            upgrade_image(d->upgrade, image, sizeof image);
            if (strcmp(image, d->provisioner.image) != 0) {
                log_info("new subnode containers are made from the cluster's image", "image=%s", image);
                provision_set_image(&d->provisioner, image);
                next_round = 0;
            }
        }
        pthread_mutex_lock(&d->lock); /* the limits the cluster's settings give, for this round */
        double memory_factor = d->memory_factor;
        unsigned cpu_quota_percent = d->cpu_quota_percent;
        pthread_mutex_unlock(&d->lock);
        if (provision_set_resources(&d->provisioner, memory_factor, cpu_quota_percent)) next_round = 0;
        if (now >= next_round || (wake > 0 && now >= wake)) {
            struct cohort_error perr = {0};
            if (provision_round(&d->provisioner, now, &wake, &perr) < 0) {
                log_warn("round failed; keeping what runs", "error=\"%s\"", perr.message);
                set_problem(d, d->docker_error, perr.message);
                if (perr.code == DOCKER_E_UNAVAILABLE) {
                    docker_lost(d);
                    continue;
                }
            } else {
                set_problem(d, d->docker_error, "");
            }
            next_round = now + 10 * (int64_t)atomic_load(&d->poll_ms); /* a full look now and then, even without events */
            if (d->upgrade != NULL) {
                upgrade_step(d->upgrade, &d->provisioner, now);
                if (upgrade_busy(d->upgrade)) next_round = now + 1000; /* upgrading: look every second */
            }
        }
        /* Rotations in flight: the completion this node signs and sends (each turn: poll_ms). */
        if (d->manager && d->has_key && d->provisioner_ready && d->docker != NULL) {
            d->rotations.absence_ms = d->config->absence_report_ms;
            rotations_step(&d->rotations, &d->provisioner, d->rpc, &d->deployment, d->node_key, now);
        }
        if (d->manager && d->provisioner_ready) left_volumes(d, false, now);
        /* Sleep on Docker's event stream until poll_ms passes or a subnode dies. */
        long timeout = (long)atomic_load(&d->poll_ms);
        if (wake > 0 && wake - now < timeout) timeout = wake - now > 10 ? (long)(wake - now) : 10;
        struct cohort_error eerr = {0};
        int64_t last_event_ns = 0;
        int erc = docker_events(d->docker, mine, 1, events_since_ns, timeout, on_event, &last_event_ns, &eerr);
        if (last_event_ns > 0) events_since_ns = last_event_ns + 1;
        if (erc == 0 && now_ms() - now < timeout - 5) next_round = 0; /* a death came: look again now */
        if (erc == DOCKER_E_UNAVAILABLE) {
            log_warn("dockerd went away", "error=\"%s\"", eerr.message);
            set_problem(d, d->docker_error, eerr.message);
            docker_lost(d);
        }
    }
    log_info("cohort-core stopping; subnodes keep running", NULL);
    daemon_free(d);
    return 0;
}

const char *daemon_error_kind(int code)
{
    const char *library = cohort_error_library(code);
    if (library == NULL) return "unknown";
    const struct {
        const char *library;
        const char *(*strerror)(int code);
    } kinds[] = {{"common", common_strerror}, {"abi", abi_strerror},       {"manager-client", mc_strerror},
                 {"docker", docker_strerror}, {"bft", bft_strerror},       {"config", cs_strerror},
                 {"metrics", metrics_strerror}};
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (strcmp(kinds[i].library, library) == 0) return kinds[i].strerror(code);
    return library;
}
