/* upgrade.c - the image the cluster runs, and the rolling upgrade to it (upgrade.h). */
#include "core/upgrade.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bft/bft.h"
#include "common/hex.h"
#include "common/log.h"
#include "core/subnode_status.h"

#define DOMAIN "core"
#define LEASE_PREFIX "cohort/upgrade/lease/"
#define FAILED_KEY "cohort/upgrade/failed"

int upgrade_init(struct upgrade *u, const char *state_dir, const struct cluster *cluster, uint64_t node_id,
                 const char *local_image, const char *bind_address, unsigned deadline_ms, struct cohort_error *err)
{
    memset(u, 0, sizeof *u);
    pthread_mutex_init(&u->lock, NULL);
    snprintf(u->path, sizeof u->path, "%s/cluster-image.json", state_dir);
    u->instance = cluster->instance;
    u->nadmins = cluster->nadmins;
    memcpy(u->admins, cluster->admin, sizeof u->admins);
    u->node_id = node_id;
    snprintf(u->local_image, sizeof u->local_image, "%s", local_image);
    snprintf(u->bind_address, sizeof u->bind_address, "%s", bind_address);
    u->deadline_ms = deadline_ms;
    FILE *f = fopen(u->path, "r");
    if (f == NULL) {
        if (errno == ENOENT) return 0;
        return cohort_error_set(err, COMMON_E_IO, DOMAIN, "%s: %s", u->path, strerror(errno));
    }
    char doc[CLUSTER_IMAGE_MAX_BYTES + 1];
    size_t n = fread(doc, 1, sizeof doc, f);
    fclose(f);
    struct cohort_error e = {0};
    if (cluster_image_parse(doc, n, u->instance, (const uint8_t(*)[20])u->admins, u->nadmins, &u->image, &e) < 0) {
        log_warn("the image document kept from before does not check against this cluster file; ignored",
                 "file=%s error=\"%s\"", u->path, e.message);
        return 0;
    }
    u->wanted = true;
    log_info("following the cluster's image (kept from before)", "digest=%s serial=%llu", u->image.digest,
             (unsigned long long)u->image.serial);
    return 0;
}

void upgrade_free(struct upgrade *u)
{
    pthread_mutex_destroy(&u->lock);
}

/* Writes the followed document to the state dir (a new file renamed into place), so a restart follows it too. */
static void keep_document(struct upgrade *u, const char *doc, size_t len)
{
    char tmp[1200];
    snprintf(tmp, sizeof tmp, "%s.tmp", u->path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    bool ok = fd >= 0 && write(fd, doc, len) == (ssize_t)len && fsync(fd) == 0;
    if (fd >= 0) close(fd);
    if (!ok || rename(tmp, u->path) != 0)
        log_warn("could not keep the cluster's image document; a restart follows the store's copy once it has it",
                 "file=%s error=\"%s\"", u->path, strerror(errno));
}

/* A transaction on the store, as the API would take it: 1 it succeeded, 0 its compare failed, -1 no answer. */
static int store_txn(struct config_service *store, const char *body)
{
    struct http_response r = {.status = 200};
    config_api_txn(store, "POST", body, strlen(body), &r);
    cJSON *o = r.status == 200 && r.body ? cJSON_Parse(r.body) : NULL;
    const cJSON *succeeded = cJSON_GetObjectItem(o, "succeeded");
    int rc = cJSON_IsBool(succeeded) ? cJSON_IsTrue(succeeded) : -1;
    if (rc < 0)
        log_warn("upgrade: the config store did not take a request; trying again later", "status=%d answer=%s",
                 r.status, r.body ? r.body : "");
    cJSON_Delete(o);
    free(r.body);
    return rc;
}

/* Creates key with value if it is absent. */
static bool store_create(struct config_service *store, const char *key, const char *value)
{
    cJSON *t = cJSON_CreateObject();
    cJSON *c = cJSON_CreateObject();
    cJSON_AddStringToObject(c, "key", key);
    cJSON_AddStringToObject(c, "target", "create_revision");
    cJSON_AddStringToObject(c, "result", "=");
    cJSON_AddNumberToObject(c, "number", 0);
    cJSON_AddItemToArray(cJSON_AddArrayToObject(t, "compare"), c);
    cJSON *op = cJSON_CreateObject();
    cJSON_AddStringToObject(op, "op", "put");
    cJSON_AddStringToObject(op, "key", key);
    cJSON_AddStringToObject(op, "value", value);
    cJSON_AddItemToArray(cJSON_AddArrayToObject(t, "success"), op);
    char *body = cJSON_PrintUnformatted(t);
    cJSON_Delete(t);
    bool ok = body && store_txn(store, body) == 1;
    free(body);
    return ok;
}

/* Puts key = value (value empty: deletes key) when key holds expect (NULL: whatever it holds): store_txn's answer. */
static int store_set(struct config_service *store, const char *key, const char *value, const char *expect)
{
    cJSON *t = cJSON_CreateObject();
    cJSON *compare = cJSON_AddArrayToObject(t, "compare");
    if (expect) {
        cJSON *c = cJSON_CreateObject();
        cJSON_AddStringToObject(c, "key", key);
        cJSON_AddStringToObject(c, "target", "value");
        cJSON_AddStringToObject(c, "result", "=");
        cJSON_AddStringToObject(c, "value", expect);
        cJSON_AddItemToArray(compare, c);
    }
    cJSON *op = cJSON_CreateObject();
    cJSON_AddStringToObject(op, "op", value[0] ? "put" : "delete");
    cJSON_AddStringToObject(op, "key", key);
    if (value[0]) cJSON_AddStringToObject(op, "value", value);
    cJSON_AddItemToArray(cJSON_AddArrayToObject(t, "success"), op);
    char *body = cJSON_PrintUnformatted(t);
    cJSON_Delete(t);
    int rc = body ? store_txn(store, body) : -1;
    free(body);
    return rc;
}


/*
 * The store's side of the upgrade, on the follower's thread: what the loop asked for (a
 * lease, its release, the failure, the node's report). The loop's thread never waits for
 * the store: a write waits for a commit, which takes seconds (or never comes) when the
 * cluster has no quorum, and the loop must go on restarting crashed subnodes meanwhile.
 */
static void store_work(struct upgrade *u, struct config_service *store)
{
    char me[24];
    snprintf(me, sizeof me, "%llu", (unsigned long long)u->node_id);
    pthread_mutex_lock(&u->lock);
    bool release_requested = u->release_requested;
    unsigned leases = u->acquire_leases;
    char lease_key[sizeof u->lease_key], lease_chain[sizeof u->lease_chain], acquire[sizeof u->acquire_chain];
    char failure[sizeof u->failure], report[sizeof u->report];
    snprintf(lease_key, sizeof lease_key, "%s", u->lease_key);
    snprintf(lease_chain, sizeof lease_chain, "%s", u->lease_chain);
    snprintf(acquire, sizeof acquire, "%s", u->acquire_chain);
    snprintf(failure, sizeof failure, "%s", u->failure);
    snprintf(report, sizeof report, "%s", strcmp(u->report, u->published) != 0 ? u->report : "");
    pthread_mutex_unlock(&u->lock);

    if (release_requested && lease_key[0]) {
        if (store_set(store, lease_key, "", me) >= 0) { /* gone, or no longer ours: either way not held */
            log_info("upgrade: lease released", "chain=%s key=%s", lease_chain, lease_key);
            pthread_mutex_lock(&u->lock);
            u->lease_key[0] = u->lease_chain[0] = '\0';
            u->release_requested = false;
            pthread_mutex_unlock(&u->lock);
        }
    } else if (acquire[0] && !lease_key[0]) {
        for (unsigned k = 0; k < leases; k++) {
            char key[sizeof u->lease_key];
            snprintf(key, sizeof key, LEASE_PREFIX "%.*s/%u", CHAIN_NAME_MAX - 1, acquire, k);
            if (store_create(store, key, me)) {
                log_info("upgrade: lease taken", "chain=%s key=%s", acquire, key);
                pthread_mutex_lock(&u->lock);
                snprintf(u->lease_key, sizeof u->lease_key, "%s", key);
                snprintf(u->lease_chain, sizeof u->lease_chain, "%s", acquire);
                u->lease_fresh = true;
                pthread_mutex_unlock(&u->lock);
                break;
            }
        }
        pthread_mutex_lock(&u->lock);
        if (strcmp(u->acquire_chain, acquire) == 0) u->acquire_chain[0] = '\0'; /* the loop asks again if it still wants one */
        pthread_mutex_unlock(&u->lock);
    }
    if (failure[0] && store_set(store, FAILED_KEY, failure, NULL) == 1) {
        pthread_mutex_lock(&u->lock);
        if (strcmp(u->failure, failure) == 0) u->failure[0] = '\0';
        pthread_mutex_unlock(&u->lock);
    }
    if (report[0]) {
        char key[64];
        snprintf(key, sizeof key, "cohort/upgrade/nodes/%llu", (unsigned long long)u->node_id);
        if (store_set(store, key, report, NULL) == 1) {
            pthread_mutex_lock(&u->lock);
            snprintf(u->published, sizeof u->published, "%s", report);
            pthread_mutex_unlock(&u->lock);
        }
    }
}

/* ---- Following the store (the follower's thread) ---- */

struct found {
    const char *key;
    char value[CLUSTER_IMAGE_MAX_BYTES + 1];
    size_t len; /* may exceed the copy: the parse refuses it */
    bool present;
    uint64_t revision;
};

static void take_exact(void *arg, const struct cs_kv *kv)
{
    struct found *f = arg;
    if (kv->key_len != strlen(f->key) || memcmp(kv->key, f->key, kv->key_len) != 0) return;
    f->present = true;
    f->revision = kv->mod_revision;
    f->len = kv->value_len;
    size_t copy = kv->value_len < CLUSTER_IMAGE_MAX_BYTES ? kv->value_len : CLUSTER_IMAGE_MAX_BYTES;
    memcpy(f->value, kv->value, copy);
    f->value[copy] = '\0';
}

/* Reads f->key (exactly that key, not the others under it as a prefix) from the local copy. */
static void read_exact(struct config_service *store, struct found *f)
{
    config_service_local_range(store, f->key, 4, take_exact, f);
}

struct lease_scan {
    const char *me;
    char key[CHAIN_NAME_MAX + 64];
};

static void take_own_lease(void *arg, const struct cs_kv *kv)
{
    struct lease_scan *s = arg;
    if (kv->value_len == strlen(s->me) && memcmp(kv->value, s->me, kv->value_len) == 0 && kv->key_len < sizeof s->key)
        snprintf(s->key, sizeof s->key, "%.*s", (int)kv->key_len, (const char *)kv->key);
}

void upgrade_follow(struct upgrade *u, struct config_service *store)
{
    store_work(u, store);
    char mkey[64];
    snprintf(mkey, sizeof mkey, "cohort/nodes/%llu/maintenance", (unsigned long long)u->node_id);
    struct found image = {.key = CLUSTER_IMAGE_KEY}, maintenance = {.key = mkey}, failed = {.key = FAILED_KEY};
    read_exact(store, &image);
    read_exact(store, &maintenance);
    read_exact(store, &failed);
    char me[24];
    snprintf(me, sizeof me, "%llu", (unsigned long long)u->node_id);
    struct lease_scan lease = {.me = me};
    config_service_local_range(store, LEASE_PREFIX, 4096, take_own_lease, &lease);

    struct cluster_image img;
    struct cohort_error e = {0};
    int rc = image.present ? cluster_image_parse(image.value, image.len, u->instance, (const uint8_t(*)[20])u->admins,
                                                 u->nadmins, &img, &e)
                           : 0;
    pthread_mutex_lock(&u->lock);
    u->refused[0] = '\0';
    bool changed = false;
    if (!image.present) {
        if (u->wanted)
            snprintf(u->refused, sizeof u->refused,
                     "%s is absent from the store; this node keeps the last image an admin signed (serial %llu)",
                     CLUSTER_IMAGE_KEY, (unsigned long long)u->image.serial);
    } else if (rc < 0) {
        snprintf(u->refused, sizeof u->refused, "%s", e.message);
    } else if (u->wanted && img.serial < u->image.serial) {
        snprintf(u->refused, sizeof u->refused,
                 "%s: serial %llu is older than serial %llu, which this node follows: to go back to an image, an admin "
                 "signs it again with a higher serial",
                 CLUSTER_IMAGE_KEY, (unsigned long long)img.serial, (unsigned long long)u->image.serial);
    } else if (u->wanted && img.serial == u->image.serial && strcmp(img.digest, u->image.digest) != 0) {
        snprintf(u->refused, sizeof u->refused,
                 "%s: serial %llu names %s, but this node follows %s under the same serial: sign the new one with a "
                 "higher serial",
                 CLUSTER_IMAGE_KEY, (unsigned long long)img.serial, img.digest, u->image.digest);
    } else {
        changed = !u->wanted || img.serial != u->image.serial;
        u->wanted = true;
        u->image = img;
        u->revision = image.revision;
    }
    u->maintenance = maintenance.present && maintenance.len == 4 && memcmp(maintenance.value, "true", 4) == 0;
    u->failed[0] = '\0';
    if (failed.present && u->wanted && strstr(failed.value, u->image.digest) != NULL)
        snprintf(u->failed, sizeof u->failed, "%.*s", (int)sizeof u->failed - 1, failed.value);
    if (u->lease_key[0] == '\0' && lease.key[0] != '\0' && u->wanted) {
        /* A lease of this node's from before a restart: go on with it. */
        const char *chain = lease.key + strlen(LEASE_PREFIX), *slash = strrchr(chain, '/');
        snprintf(u->lease_key, sizeof u->lease_key, "%s", lease.key);
        snprintf(u->lease_chain, sizeof u->lease_chain, "%.*s", slash ? (int)(slash - chain) : 0, chain);
        u->lease_fresh = true;
        log_info("upgrade: found this node's lease in the store; going on with it", "key=%s", lease.key);
    }
    char refused[sizeof u->refused];
    memcpy(refused, u->refused, sizeof refused);
    pthread_mutex_unlock(&u->lock);
    if (changed) {
        keep_document(u, image.value, image.len);
        char who[43];
        hex_encode(img.signer, 20, who, sizeof who);
        log_info("following the cluster's image", "digest=%s serial=%llu signer=%s revision=%llu", img.digest,
                 (unsigned long long)img.serial, who, (unsigned long long)image.revision);
    } else if (refused[0] && image.present) {
        static char last[COHORT_ERROR_MESSAGE_MAX];
        if (strcmp(last, refused) != 0) log_warn("the cluster's image document is not followed", "why=\"%s\"", refused);
        snprintf(last, sizeof last, "%s", refused);
    }
}

void upgrade_image(struct upgrade *u, char *out, size_t size)
{
    pthread_mutex_lock(&u->lock);
    snprintf(out, size, "%s", u->wanted ? u->image.digest : u->local_image);
    pthread_mutex_unlock(&u->lock);
}

/* ---- The rolling upgrade (the loop's thread) ---- */

struct subnode_health {
    bool answered, halted, behind_known;
    uint64_t height, behind, peers;
};

/* GET /status of this node's subnode on port (subnode_status.h). */
static struct subnode_health subnode_status(const struct upgrade *u, unsigned port)
{
    struct subnode_health h = {0};
    cJSON *o = subnode_status_get(u->bind_address, port);
    const cJSON *chain = cJSON_GetObjectItem(o, "chain"); /* the chain's figures (subnode/node/chain_node.c) */
    const cJSON *height = cJSON_GetObjectItem(chain, "height"), *behind = cJSON_GetObjectItem(chain, "behind"),
                *peers = cJSON_GetObjectItem(chain, "peers_connected");
    const char *health = cJSON_GetStringValue(cJSON_GetObjectItem(o, "health"));
    if (cJSON_IsNumber(height) && cJSON_IsNumber(peers) && health != NULL && strcmp(health, "ok") == 0) {
        h.answered = true;
        h.height = (uint64_t)height->valuedouble;
        h.behind = cJSON_IsNumber(behind) ? (uint64_t)behind->valuedouble : 0; /* an image older than "behind" */
        /* Until f+1 others told it where they are, "behind" 0 means nothing (an image
           older than "behind_known" says nothing, and counts as knowing). */
        h.behind_known = !cJSON_IsFalse(cJSON_GetObjectItem(chain, "behind_known"));
        h.peers = (uint64_t)peers->valuedouble;
        h.halted = cJSON_IsTrue(cJSON_GetObjectItem(chain, "halted"));
    }
    cJSON_Delete(o);
    return h;
}

static const struct chain_config *assigned_config(const struct provisioner *p, const char *chain)
{
    for (size_t i = 0; i < p->nassigned; i++)
        if (strcmp(p->assigned[i].config.name, chain) == 0) return &p->assigned[i].config;
    return NULL;
}

static void set_state(struct upgrade_chain *c, const char *state, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_state(struct upgrade_chain *c, const char *state, const char *fmt, ...)
{
    snprintf(c->state, sizeof c->state, "%s", state);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->detail, sizeof c->detail, fmt, ap);
    va_end(ap);
}

/* This node's report for cohort/upgrade/nodes/NODE_ID (written by store_work when it changed). */
static void report(struct upgrade *u, const struct upgrade_chain *chains, size_t n, const char *digest)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "digest", digest);
    cJSON *map = cJSON_AddObjectToObject(o, "chains");
    for (size_t i = 0; i < n; i++) cJSON_AddStringToObject(map, chains[i].chain, chains[i].state);
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (text != NULL && strlen(text) < sizeof u->report) snprintf(u->report, sizeof u->report, "%s", text);
    free(text);
}

void upgrade_step(struct upgrade *u, struct provisioner *p, int64_t now_ms)
{
    pthread_mutex_lock(&u->lock);
    bool wanted = u->wanted, maintenance = u->maintenance, releasing = u->release_requested;
    char digest[CLUSTER_IMAGE_DIGEST_LEN + 1], failed[sizeof u->failed], lease_key[sizeof u->lease_key];
    char lease_chain[sizeof u->lease_chain];
    snprintf(digest, sizeof digest, "%s", wanted ? u->image.digest : "");
    snprintf(failed, sizeof failed, "%s", u->failed);
    snprintf(lease_key, sizeof lease_key, "%s", u->lease_key);
    snprintf(lease_chain, sizeof lease_chain, "%s", u->lease_chain);
    if (u->lease_fresh) { /* a lease just taken, or found after a restart: its replacement is to come */
        u->lease_fresh = false;
        u->replaced = false;
        u->lease_since_ms = now_ms;
        u->failure_asked = false;
    }
    pthread_mutex_unlock(&u->lock);

    static struct subnode_view views[RECONCILE_MAX]; /* 77 KB: static, as only the loop's thread steps */
    pthread_mutex_lock(&p->lock);
    size_t nviews = p->nviews;
    memcpy(views, p->views, nviews * sizeof views[0]);
    bool present = p->image_id[0] != '\0';
    pthread_mutex_unlock(&p->lock);
    struct docker_image local;
    bool local_found = wanted && docker_image_inspect(p->docker, u->local_image, &local, NULL) == 0;

    struct upgrade_chain chains[RECONCILE_MAX];
    size_t nchains = 0;
    for (size_t i = 0; i < nviews; i++) {
        const struct subnode_view *v = &views[i];
        struct upgrade_chain *c = &chains[nchains++];
        memset(c, 0, sizeof *c);
        snprintf(c->chain, sizeof c->chain, "%.*s", (int)sizeof c->chain - 1, v->chain);
        bool missing = strcmp(v->state, "missing") == 0;
        if (!wanted) {
            set_state(c, "current", "the cluster names no image: the local %s", u->local_image);
        } else if (strcmp(v->image_id, digest) == 0 && strcmp(lease_chain, v->chain) != 0) {
            set_state(c, "current", "runs %s", digest);
        } else if (missing) {
            set_state(c, "current", "no container yet: it will be made from %s", digest);
        } else if (strcmp(lease_chain, v->chain) == 0) {
            set_state(c, "upgrading", "holds %s", lease_key);
        } else if (maintenance) {
            set_state(c, "maintenance", "runs %.19s; this node is in maintenance, upgrades skip it", v->image_id);
        } else if (failed[0]) {
            set_state(c, "stopped", "the cluster's upgrade failed: %s", failed);
        } else if (!present) {
            set_state(c, "outdated", "%s is not on this node's dockerd: build it or `docker load` it", digest);
        } else {
            set_state(c, "outdated", "runs %.19s, wants %.19s", v->image_id, digest);
        }
    }

    char acquire[CHAIN_NAME_MAX] = "", failure[sizeof u->failure] = "";
    unsigned acquire_leases = 0;
    bool release = false;
    if (wanted && lease_chain[0] && !releasing) {
        /* The chain whose lease this node holds. */
        const struct subnode_view *v = NULL;
        struct upgrade_chain *c = NULL;
        for (size_t i = 0; i < nviews; i++)
            if (strcmp(views[i].chain, lease_chain) == 0) v = &views[i], c = &chains[i];
        if (u->replaced && strcmp(u->lease_digest, digest) != 0) {
            u->replaced = false; /* an admin signed another image meanwhile (after a failure, say): replace again */
            u->failure_asked = false;
            u->lease_since_ms = now_ms;
        }
        /* Compared with the digest itself: image_current may still be of the round before the change. */
        bool on_wanted = v != NULL && strcmp(v->image_id, digest) == 0;
        if (v == NULL) {
            release = true; /* the chain left this node */
        } else if (!u->replaced && on_wanted) {
            u->replaced = true; /* a lease found after a restart, its container already replaced */
            snprintf(u->lease_digest, sizeof u->lease_digest, "%s", digest);
        } else if (!u->replaced) {
            struct subnode_health h = subnode_status(u, v->rpc_port);
            u->height_before = h.answered ? h.height : 0;
            provision_replace(p, v->chain);
            u->replaced = true;
            snprintf(u->lease_digest, sizeof u->lease_digest, "%s", digest);
            u->lease_since_ms = now_ms;
            log_info("upgrade: replacing the subnode", "chain=%s image=%s height=%llu", v->chain, digest,
                     (unsigned long long)u->height_before);
        } else {
            const struct chain_config *cc = assigned_config(p, v->chain);
            unsigned n = cc ? cc->nmembers : 1, q = bft_quorum(n);
            struct subnode_health h = on_wanted ? subnode_status(u, v->rpc_port) : (struct subnode_health){0};
            bool ready = h.answered && !h.halted && h.behind_known && h.behind == 0 && h.height >= u->height_before &&
                         h.peers + 1 >= q;
            if (ready) {
                log_info("upgrade: the subnode is healthy and caught up", "chain=%s image=%s height=%llu", v->chain,
                         digest, (unsigned long long)h.height);
                set_state(c, "current", "runs %s", digest);
                release = true;
            } else if (now_ms - u->lease_since_ms > u->deadline_ms) {
                set_state(c, "failed", "not healthy and caught up %lld s after its replacement (answered %d, height %llu "
                          "of %llu, behind %llu%s, peers %llu)", (long long)(u->deadline_ms / 1000), h.answered,
                          (unsigned long long)h.height, (unsigned long long)u->height_before,
                          (unsigned long long)h.behind, h.behind_known ? "" : " (not yet known)",
                          (unsigned long long)h.peers);
                if (!u->failure_asked) {
                    snprintf(failure, sizeof failure, "{\"digest\":\"%s\",\"node\":%llu,\"chain\":\"%.*s\",\"why\":\"%s\"}",
                             digest, (unsigned long long)u->node_id, CHAIN_NAME_MAX - 1, v->chain, c->detail);
                    u->failure_asked = true;
                    log_error("upgrade failed: the cluster stops upgrading; this node keeps its lease", "chain=%s why=\"%s\"",
                              v->chain, c->detail);
                }
            } else {
                set_state(c, "upgrading", "waiting until healthy and caught up (height %llu of %llu, behind %llu%s, "
                          "peers %llu)", (unsigned long long)h.height, (unsigned long long)u->height_before,
                          (unsigned long long)h.behind, h.behind_known ? "" : " (not yet known)",
                          (unsigned long long)h.peers);
            }
        }
    } else if (wanted && !lease_chain[0] && !maintenance && !failed[0] && present) {
        /* Ask for a lease for the first chain that runs another image: at most max(1, f) of a chain's members. */
        for (size_t i = 0; i < nviews && !acquire[0]; i++) {
            if (strcmp(chains[i].state, "outdated") != 0) continue;
            const struct chain_config *cc = assigned_config(p, views[i].chain);
            unsigned n = cc ? cc->nmembers : 1;
            acquire_leases = (n - 1) / 3 > 0 ? (n - 1) / 3 : 1;
            snprintf(acquire, sizeof acquire, "%.*s", (int)sizeof acquire - 1, views[i].chain);
            set_state(&chains[i], "waiting", "at most %u of its members upgrade at a time: asking for a lease",
                      acquire_leases);
        }
    }
    pthread_mutex_lock(&u->lock);
    snprintf(u->local_digest, sizeof u->local_digest, "%s", local_found ? local.id : "");
    memcpy(u->chains, chains, nchains * sizeof chains[0]);
    u->nchains = nchains;
    if (acquire[0] && !u->lease_key[0]) {
        snprintf(u->acquire_chain, sizeof u->acquire_chain, "%s", acquire);
        u->acquire_leases = acquire_leases;
    }
    if (release) u->release_requested = true;
    if (failure[0]) snprintf(u->failure, sizeof u->failure, "%s", failure);
    if (wanted) report(u, chains, nchains, digest);
    pthread_mutex_unlock(&u->lock);
}

bool upgrade_busy(struct upgrade *u)
{
    pthread_mutex_lock(&u->lock);
    bool busy = u->lease_key[0] != '\0' || u->acquire_chain[0] != '\0';
    pthread_mutex_unlock(&u->lock);
    return busy;
}

char *upgrade_json(struct upgrade *u, struct provisioner *p)
{
    cJSON *o = cJSON_CreateObject();
    pthread_mutex_lock(&u->lock);
    if (u->wanted) {
        cJSON *w = cJSON_AddObjectToObject(o, "wanted");
        cJSON_AddStringToObject(w, "digest", u->image.digest);
        cJSON_AddNumberToObject(w, "serial", (double)u->image.serial);
        char who[43];
        hex_encode(u->image.signer, 20, who, sizeof who);
        cJSON_AddStringToObject(w, "signer", who);
        cJSON_AddNumberToObject(w, "revision", (double)u->revision);
    } else {
        cJSON_AddNullToObject(o, "wanted");
    }
    cJSON *l = cJSON_AddObjectToObject(o, "local");
    cJSON_AddStringToObject(l, "image", u->local_image);
    if (u->wanted) cJSON_AddStringToObject(l, "digest", u->local_digest);
    if (u->wanted) cJSON_AddBoolToObject(l, "used", strcmp(u->local_digest, u->image.digest) == 0);
    if (u->refused[0]) cJSON_AddStringToObject(o, "refused", u->refused);
    else cJSON_AddNullToObject(o, "refused");
    cJSON_AddBoolToObject(o, "maintenance", u->maintenance);
    if (u->failed[0]) cJSON_AddStringToObject(o, "failed", u->failed);
    else cJSON_AddNullToObject(o, "failed");
    cJSON *chains = cJSON_AddArrayToObject(o, "chains");
    for (size_t i = 0; i < u->nchains; i++) {
        cJSON *c = cJSON_CreateObject();
        cJSON_AddStringToObject(c, "chain", u->chains[i].chain);
        cJSON_AddStringToObject(c, "state", u->chains[i].state);
        cJSON_AddStringToObject(c, "detail", u->chains[i].detail);
        cJSON_AddItemToArray(chains, c);
    }
    pthread_mutex_unlock(&u->lock);
    /* The image new containers get, and what this dockerd has under it ("" when nothing): the rounds' last look. */
    if (p != NULL) {
        pthread_mutex_lock(&p->lock);
        cJSON_AddStringToObject(o, "image", p->image);
        cJSON_AddStringToObject(o, "found", p->image_id);
        pthread_mutex_unlock(&p->lock);
    }
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return text;
}
