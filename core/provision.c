/* provision.c - observe Docker, plan with the reconciler, execute (see provision.h). */
#include "provision.h"

#include <assert.h>
#include <cjson/cJSON.h>
#include <fts.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/hex.h"
#include "common/log.h"
#include "common/secp.h"
#include "manager-client/manager_client.h"

#define DOMAIN "core"
#define CONFIG_FILE "chain.json"
/* The subnode runs as nobody (the image's USER): it owns its volume, where it keeps its state. */
#define SUBNODE_UID 65534
#define SUBNODE_USER "65534:65534"
#define OVER_BUDGET_FILE "over-budget" /* present in /data: the subnode stops taking transactions */

void provision_container_name(const struct provisioner *p, const char *chain, char *out, size_t size)
{
    snprintf(out, size, "%s%s", p->prefix, chain);
}

void provision_volume_name(const struct provisioner *p, const char *chain, char *out, size_t size)
{
    snprintf(out, size, "%s%s-data", p->prefix, chain);
}

void provision_init(struct provisioner *p, const struct provision_options *options, struct docker_client *docker)
{
    memset(p, 0, sizeof *p);
    p->options = *options;
    snprintf(p->image, sizeof p->image, "%s", options->image);
    snprintf(p->bind_address, sizeof p->bind_address, "%s", options->bind_address ? options->bind_address : "127.0.0.1");
    snprintf(p->docker_socket, sizeof p->docker_socket, "%s", options->docker_socket ? options->docker_socket : "");
    snprintf(p->manager, sizeof p->manager, "%s", options->manager ? options->manager : "0x0");
    for (char *c = p->manager; *c; c++)
        if (*c >= 'A' && *c <= 'Z') *c = (char)(*c + 32);
    p->options.manager = p->manager;
    size_t hex = strlen(p->manager) > 2 ? strlen(p->manager) - 2 : 0;
    if (options->install_id != NULL) snprintf(p->install_id, sizeof p->install_id, "%s", options->install_id);
    else
        snprintf(p->install_id, sizeof p->install_id, "%.*s-n%llu", (int)(hex < 8 ? hex : 8), p->manager + 2,
                 (unsigned long long)options->node_id);
    p->options.install_id = p->install_id;
    snprintf(p->prefix, sizeof p->prefix, "cohort-%s-", p->install_id);
    p->options.image = p->image;
    p->options.bind_address = p->bind_address;
    p->options.docker_socket = p->docker_socket[0] ? p->docker_socket : NULL;
    if (p->options.workers == 0) p->options.workers = 4;
    if (p->options.workers > PROVISION_MAX_WORKERS) p->options.workers = PROVISION_MAX_WORKERS;
    p->docker = docker;
    pthread_mutex_init(&p->lock, NULL);
}

void provision_free(struct provisioner *p)
{
    for (unsigned i = 0; i < PROVISION_MAX_WORKERS; i++) docker_close(p->worker_docker[i]);
    free(p->assigned);
    free(p->scratch);
    pthread_mutex_destroy(&p->lock);
}

int provision_set_assigned(struct provisioner *p, const struct assignment *assigned, size_t n, struct cohort_error *err)
{
    if (n > RECONCILE_MAX) return cohort_error_set(err, COMMON_E_RANGE, DOMAIN, "%zu chains assigned; at most %d", n, RECONCILE_MAX);
    struct assignment *copy = calloc(n ? n : 1, sizeof *copy);
    if (copy == NULL) return cohort_error_set(err, COMMON_E_NOMEM, DOMAIN, "out of memory");
    memcpy(copy, assigned, n * sizeof *copy);
    free(p->assigned);
    p->assigned = copy;
    p->nassigned = n;
    /* A chain assigned again is no longer deleted. */
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < p->ndeleted; j++)
            if (strcmp(p->deleted[j].name, copy[i].config.name) == 0) p->deleted[j] = p->deleted[--p->ndeleted];
    return 0;
}

void provision_set_image(struct provisioner *p, const char *image)
{
    pthread_mutex_lock(&p->lock); /* the API reads it */
    snprintf(p->image, sizeof p->image, "%s", image);
    pthread_mutex_unlock(&p->lock);
}

void provision_replace(struct provisioner *p, const char *chain)
{
    for (size_t i = 0; i < p->nreplace; i++)
        if (strcmp(p->replace[i].name, chain) == 0) return;
    if (p->nreplace < RECONCILE_MAX) snprintf(p->replace[p->nreplace++].name, CHAIN_NAME_MAX, "%s", chain);
}

void provision_mark_deleted(struct provisioner *p, const char *chain)
{
    for (size_t j = 0; j < p->ndeleted; j++)
        if (strcmp(p->deleted[j].name, chain) == 0) return;
    if (p->ndeleted == RECONCILE_MAX) memmove(p->deleted, p->deleted + 1, (RECONCILE_MAX - 1) * sizeof p->deleted[0]), p->ndeleted--;
    snprintf(p->deleted[p->ndeleted++].name, CHAIN_NAME_MAX, "%s", chain);
}

static const struct assignment *find_assigned(const struct provisioner *p, const char *chain, size_t *index)
{
    for (size_t i = 0; i < p->nassigned; i++)
        if (strcmp(p->assigned[i].config.name, chain) == 0) {
            if (index) *index = i;
            return &p->assigned[i];
        }
    return NULL;
}

static unsigned my_first_slot(const struct chain_config *c) { return c->members[c->member_index].first_slot; }

/* ---- Actions ---- */

static int do_create_volume(struct provisioner *p, struct docker_client *docker, const char *chain, struct cohort_error *err)
{
    char volume[DOCKER_NAME_MAX], node[24];
    provision_volume_name(p, chain, volume, sizeof volume);
    snprintf(node, sizeof node, "%llu", (unsigned long long)p->options.node_id);
    struct docker_label labels[4] = {{"cohort.install", p->install_id}, {"cohort.manager", p->manager},
                                     {"cohort.node", node}, {"cohort.chain", chain}};
    int rc = docker_volume_create(docker, volume, labels, 4, err);
    return rc == DOCKER_E_CONFLICT ? 0 : rc; /* it exists: what we wanted */
}

/*
 * Writes text to mountpoint/name, owned by uid with mode. The subnode owns its volume and
 * may have put anything there, a link to a file of the host's included, so root writes
 * nothing through a path: a new file of a random name, made O_EXCL | O_NOFOLLOW in the
 * volume's folder (opened O_NOFOLLOW), given to uid through its descriptor, then renamed
 * over name (a rename replaces a link; it does not follow it).
 */
int provision_write_volume_file(const char *mountpoint, const char *name, const char *text, unsigned mode, unsigned uid,
                                struct cohort_error *err)
{
    int dfd = open(mountpoint, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0) return cohort_error_errno(err, COMMON_E_IO, DOMAIN, errno, "cannot open volume folder %s", mountpoint);
    uint64_t nonce = 0;
    if (getrandom(&nonce, sizeof nonce, 0) != (ssize_t)sizeof nonce) nonce = (uint64_t)getpid() << 32 ^ (uint64_t)time(NULL);
    char tmp[300];
    snprintf(tmp, sizeof tmp, ".%.200s.%016llx.tmp", name, (unsigned long long)nonce);
    int fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, (mode_t)mode);
    if (fd < 0) {
        int e = errno;
        close(dfd);
        return cohort_error_errno(err, COMMON_E_IO, DOMAIN, e, "cannot create %s/%s", mountpoint, tmp);
    }
    size_t len = strlen(text), done = 0;
    int rc = 0;
    while (rc == 0 && done < len) {
        ssize_t n = write(fd, text + done, len - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) rc = cohort_error_errno(err, COMMON_E_IO, DOMAIN, errno, "write %s/%s", mountpoint, tmp);
        else done += (size_t)n;
    }
    if (rc == 0 && fchmod(fd, (mode_t)mode) != 0) /* the umask must not narrow it */
        rc = cohort_error_errno(err, COMMON_E_IO, DOMAIN, errno, "chmod %s/%s", mountpoint, tmp);
    if (rc == 0 && fchown(fd, uid, uid) != 0)
        rc = cohort_error_errno(err, COMMON_E_IO, DOMAIN, errno, "cannot give %s/%s to the subnode's user", mountpoint,
                                tmp);
    if (rc == 0 && fsync(fd) != 0) rc = cohort_error_errno(err, COMMON_E_IO, DOMAIN, errno, "fsync %s/%s", mountpoint, tmp);
    if (close(fd) != 0 && rc == 0) rc = cohort_error_errno(err, COMMON_E_IO, DOMAIN, errno, "close %s/%s", mountpoint, tmp);
    if (rc == 0 && renameat(dfd, tmp, dfd, name) != 0)
        rc = cohort_error_errno(err, COMMON_E_IO, DOMAIN, errno, "rename %s/%s to %s", mountpoint, tmp, name);
    if (rc != 0) unlinkat(dfd, tmp, 0);
    else if (fsync(dfd) != 0) rc = cohort_error_errno(err, COMMON_E_IO, DOMAIN, errno, "fsync %s", mountpoint);
    close(dfd);
    return rc;
}

/* Reads at most cap - 1 bytes of mountpoint/name, a regular file (never through a link):
   1 and the text, 0 when it is absent, or an error. */
int provision_read_volume_file(const char *mountpoint, const char *name, char *text, size_t cap,
                               struct cohort_error *err)
{
    char path[4400];
    snprintf(path, sizeof path, "%s/%s", mountpoint, name);
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) return 0;
    if (fd < 0) return cohort_error_errno(err, COMMON_E_IO, DOMAIN, errno, "cannot read %s (a link is refused)", path);
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return cohort_error_set(err, COMMON_E_INVALID, DOMAIN, "%s is not a regular file: remove it", path);
    }
    ssize_t n = read(fd, text, cap - 1);
    int e = errno;
    close(fd);
    if (n < 0) return cohort_error_errno(err, COMMON_E_IO, DOMAIN, e, "cannot read %s", path);
    text[n] = '\0';
    return 1;
}

/*
 * The subnode's key and the node's word for it (docs/chain.md "Members and keys"): the key
 * is made once, in the volume, and kept (a new one each time would make a restarted subnode
 * a stranger to the chain's other members); the cert is signed again each time, so it
 * follows the config (the manager's address, the chain id). The node's key never leaves
 * cohort-core.
 */
static int write_identity(struct provisioner *p, const char *mountpoint, const struct chain_config *c,
                          struct cohort_error *err)
{
    char text[160], keys[1100], backup[CHAIN_NAME_MAX + 8];
    uint8_t key[32], address[20], digest[32], signature[65];
    /* The key's copy in the state dir (docs/chain.md "Rejoining"): a volume wiped whole gets
       the same key back, which the other members know, and the mark that makes its subnode
       sign nothing until it rejoins. */
    bool keep = p->options.state_dir != NULL;
    if (keep) {
        snprintf(keys, sizeof keys, "%s/subnode-keys", p->options.state_dir);
        snprintf(backup, sizeof backup, "%s.key", c->name);
        if (mkdir(keys, 0700) != 0 && errno != EEXIST)
            return cohort_error_errno(err, COMMON_E_IO, DOMAIN, errno, "cannot make %s", keys);
    }
    int rc = provision_read_volume_file(mountpoint, "subnode.key", text, sizeof text, err);
    bool in_volume = rc == 1, restored = false;
    if (rc == 0 && keep) {
        rc = provision_read_volume_file(keys, backup, text, sizeof text, err);
        restored = rc == 1;
    }
    if (rc == 1) {
        text[66] = '\0';
        rc = hex_decode_exact(text, key, 32, err);
        if (rc < 0)
            cohort_error_wrap(err, "chain %s: %s/%s is damaged; remove it to make a new key", c->name,
                              in_volume ? mountpoint : keys, in_volume ? "subnode.key" : backup);
    } else if (rc == 0) {
        rc = secp_key_generate(key, err);
    }
    if (rc == 0) {
        hex_encode(key, 32, text, sizeof text);
        strcat(text, "\n");
    }
    /* The copy first: a key in a volume and nowhere else is lost with the volume. */
    if (rc == 0 && keep && (in_volume || !restored)) {
        char have[160];
        int had = provision_read_volume_file(keys, backup, have, sizeof have, err);
        /* Missing, or another key's (a chain of that name before): the volume's key is the one. */
        if (had == 0 || (had == 1 && strncmp(have, text, 66) != 0))
            rc = provision_write_volume_file(keys, backup, text, 0600, (unsigned)getuid(), err);
        else if (had < 0) rc = had;
        explicit_bzero(have, sizeof have);
    }
    if (rc == 0 && !in_volume) rc = provision_write_volume_file(mountpoint, "subnode.key", text, 0600, SUBNODE_UID, err);
    if (rc == 0 && restored) {
        rc = provision_write_volume_file(mountpoint, "rejoin", "1\n", 0600, SUBNODE_UID, err);
        log_warn("a subnode's volume was made again: its key is back from the state dir, and it rejoins the chain's log "
                 "without signing until its rejoin entry is committed",
                 "chain=%s volume=%s", c->name, mountpoint);
    }
    if (rc == 0) rc = secp_address_from_secret(key, address, err);
    explicit_bzero(key, sizeof key);
    explicit_bzero(text, sizeof text);
    if (rc < 0) return rc;
    chain_subnode_cert_digest(c, c->node_id, address, digest);
    if ((rc = secp_sign(p->options.node_key, digest, signature, err)) < 0) return rc;
    hex_encode(signature, 65, text, sizeof text);
    strcat(text, "\n");
    return provision_write_volume_file(mountpoint, "subnode.cert", text, 0600, SUBNODE_UID, err);
}

static int do_write_config(struct provisioner *p, struct docker_client *docker, const struct assignment *a,
                           struct cohort_error *err)
{
    char volume[DOCKER_NAME_MAX], mountpoint[4096];
    provision_volume_name(p, a->config.name, volume, sizeof volume);
    int rc = docker_volume_inspect(docker, volume, mountpoint, sizeof mountpoint, err);
    if (rc < 0) return rc;
    char *json = NULL;
    if ((rc = chain_config_encode(&a->config, &json, err)) < 0) return rc;
    rc = provision_write_volume_file(mountpoint, CONFIG_FILE, json, 0644, 0, err); /* root's: the subnode only reads it */
    free(json);
    if (rc < 0) return rc;
    if (p->options.node_key != NULL && (rc = write_identity(p, mountpoint, &a->config, err)) < 0) return rc;
    /* The subnode writes its chain's state, WAL and key into the volume. */
    if (chown(mountpoint, SUBNODE_UID, SUBNODE_UID) != 0)
        return cohort_error_errno(err, COMMON_E_IO, DOMAIN, errno,
                                  "chain %s: cannot give volume %s to the subnode's user %d (cohort-core runs as root)",
                                  a->config.name, mountpoint, SUBNODE_UID);
    return 0;
}

static int do_create_container(struct provisioner *p, struct docker_client *docker, const struct assignment *a,
                               const char *config_hash, struct cohort_error *err)
{
    const struct chain_config *c = &a->config;
    char container[DOCKER_NAME_MAX], volume[DOCKER_NAME_MAX], node[24], slot[8], port[8];
    provision_container_name(p, c->name, container, sizeof container);
    provision_volume_name(p, c->name, volume, sizeof volume);
    struct slot_ports ports;
    if (!slot_ports(p->options.base_port, my_first_slot(c), c->slots, &ports))
        return cohort_error_set(err, COMMON_E_RANGE, DOMAIN, "chain %s: slots %u+%u do not fit the port range", c->name,
                                my_first_slot(c), c->slots);
    struct subnode_limits limits;
    slot_limits(&p->options.resources, c->slots, &limits);
    snprintf(node, sizeof node, "%llu", (unsigned long long)p->options.node_id);
    snprintf(slot, sizeof slot, "%u", my_first_slot(c));
    snprintf(port, sizeof port, "%u", (unsigned)ports.rpc);
    const char *cmd[] = {"--config", "/data/" CONFIG_FILE, "--port", port, "--bind", p->bind_address, NULL};
    struct docker_label labels[6] = {{"cohort.install", p->install_id}, {"cohort.manager", p->manager},
                                     {"cohort.node", node}, {"cohort.chain", c->name}, {"cohort.slot", slot},
                                     {"cohort.config-hash", config_hash}};
    struct docker_mount mount = {.volume = volume, .target = "/data"};
    struct docker_container_spec spec = {
        .image = p->image, .cmd = cmd, .user = SUBNODE_USER, .labels = labels, .nlabels = 6, .mounts = &mount,
        .nmounts = 1, .network_host = true, .read_only_rootfs = true, .cap_drop_all = true, .no_new_privileges = true,
        .memory_bytes = limits.memory_bytes, .cpu_shares = limits.cpu_shares, .cpu_quota_us = limits.cpu_quota_us,
        .cpu_period_us = limits.cpu_period_us, .pids_limit = limits.pids, .nofile_limit = limits.nofile,
        .log_max_size = "10m", .log_max_file = "3", .stop_timeout_s = 10};
    int rc = docker_container_create(docker, container, &spec, NULL, err);
    if (rc == DOCKER_E_CONFLICT) {
        /* A leftover of a crash between create and label-list: replace it. */
        if ((rc = docker_container_remove(docker, container, true, err)) < 0) return rc;
        rc = docker_container_create(docker, container, &spec, NULL, err);
    }
    if (rc == DOCKER_E_NOT_FOUND)
        return cohort_error_wrap(err, "image %s is not on this node's dockerd: build it (scripts/build-subnode-image.sh) "
                                      "or `docker load` it",
                                 p->image);
    return rc;
}

static int execute(struct provisioner *p, struct docker_client *docker, const struct action *a, const char *config_hash,
                   struct cohort_error *err)
{
    const struct assignment *as = find_assigned(p, a->chain, NULL);
    char name[DOCKER_NAME_MAX];
    switch (a->kind) {
    case ACTION_CREATE_VOLUME: return do_create_volume(p, docker, a->chain, err);
    case ACTION_WRITE_CONFIG:
        assert(as != NULL);
        return do_write_config(p, docker, as, err);
    case ACTION_CREATE_CONTAINER:
        assert(as != NULL);
        return do_create_container(p, docker, as, config_hash, err);
    case ACTION_START:
        if (a->container_id[0]) return docker_container_start(docker, a->container_id, err);
        provision_container_name(p, a->chain, name, sizeof name);
        return docker_container_start(docker, name, err);
    case ACTION_REMOVE_CONTAINER: {
        int rc = docker_container_remove(docker, a->container_id, true, err);
        return rc == DOCKER_E_NOT_FOUND ? 0 : rc;
    }
    case ACTION_REMOVE_VOLUME: {
        provision_volume_name(p, a->chain, name, sizeof name);
        int rc = docker_volume_remove(docker, name, true, err);
        if (rc == 0 || rc == DOCKER_E_NOT_FOUND) {
            /* The chain was deleted: its key's copy goes too (a new chain of that name gets a new key). */
            if (p->options.state_dir != NULL) {
                char path[1200];
                snprintf(path, sizeof path, "%s/subnode-keys/%s.key", p->options.state_dir, a->chain);
                if (unlink(path) != 0 && errno != ENOENT)
                    log_warn("a deleted chain's subnode key copy stays", "path=%s errno=%d", path, errno);
            }
            /* Gone for good: forget the tombstone. */
            for (size_t j = 0; j < p->ndeleted; j++)
                if (strcmp(p->deleted[j].name, a->chain) == 0) p->deleted[j] = p->deleted[--p->ndeleted];
            return 0;
        }
        return rc;
    }
    }
    return 0;
}

/* ---- Parallel execution ---- */

struct round_work {
    struct provisioner *p;
    const struct reconcile_plan *plan;
    const struct desired_subnode *desired; /* parallel to p->assigned */
    size_t chains[RECONCILE_MAX];          /* indexes into p->assigned that have actions */
    size_t nchains;
    atomic_size_t next;
    atomic_int failures;
};

struct worker_arg {
    struct round_work *work;
    unsigned index;
    bool inline_run;
};

/* Runs one chain's actions in plan order; stops at its first failure. */
static void run_chain(struct provisioner *p, struct docker_client *docker, const struct reconcile_plan *plan,
                      size_t index, const char *config_hash, atomic_int *failures)
{
    const char *chain = p->assigned[index].config.name;
    for (size_t j = 0; j < plan->nactions; j++) {
        const struct action *a = &plan->actions[j];
        if (a->kind == ACTION_REMOVE_CONTAINER || a->kind == ACTION_REMOVE_VOLUME || strcmp(a->chain, chain) != 0)
            continue;
        struct cohort_error action_err = {0};
        if (execute(p, docker, a, config_hash, &action_err) < 0) {
            log_error("action failed", "chain=%s action=%s error=\"%s\"", chain, action_name(a->kind), action_err.message);
            snprintf(p->errors[index], sizeof p->errors[index], "%s: %.480s", action_name(a->kind), action_err.message);
            atomic_fetch_add(failures, 1);
            return;
        }
        log_info(a->is_restart ? "restarted subnode" : "action done", "chain=%s action=%s", chain, action_name(a->kind));
        if (a->kind == ACTION_START) p->errors[index][0] = '\0';
    }
}

static void *worker(void *arg)
{
    struct worker_arg *w = arg;
    struct round_work *work = w->work;
    struct provisioner *p = work->p;
    /* Worker 0 uses the main connection; the others their own (curl handles are per thread). */
    struct docker_client *docker = p->docker;
    if (w->index > 0) {
        if (p->worker_docker[w->index] == NULL) {
            struct cohort_error err = {0};
            if (docker_open(&p->worker_docker[w->index], p->options.docker_socket, &err) < 0) {
                log_warn("worker connection to dockerd failed", "error=\"%s\"", err.message);
                p->worker_docker[w->index] = NULL;
                return NULL; /* the other workers take its share */
            }
        }
        docker = p->worker_docker[w->index];
    }
    for (;;) {
        size_t k = atomic_fetch_add(&work->next, 1);
        if (k >= work->nchains) return NULL;
        size_t index = work->chains[k];
        run_chain(p, docker, work->plan, index, work->desired[index].config_hash, &work->failures);
    }
}

/* ---- Disk budget ---- */

/* Bytes used under dir, as du counts them (every entry once, links not followed). */
static uint64_t disk_used(const char *dir)
{
    char *paths[] = {(char *)dir, NULL};
    FTS *fts = fts_open(paths, FTS_PHYSICAL | FTS_NOCHDIR, NULL);
    if (fts == NULL) return 0;
    uint64_t total = 0;
    for (FTSENT *e = fts_read(fts); e != NULL; e = fts_read(fts)) {
        /* A directory comes twice (before and after its entries); entries without a stat, not at all. */
        if (e->fts_info == FTS_DP || e->fts_info == FTS_NS || e->fts_info == FTS_NSOK || e->fts_info == FTS_ERR)
            continue;
        total += (uint64_t)e->fts_statp->st_blocks * 512;
    }
    fts_close(fts);
    return total;
}

static void check_budget(struct provisioner *p, const struct assignment *a, struct subnode_view *v)
{
    char volume[DOCKER_NAME_MAX], mountpoint[4096], flag[4200];
    provision_volume_name(p, a->config.name, volume, sizeof volume);
    if (docker_volume_inspect(p->docker, volume, mountpoint, sizeof mountpoint, NULL) < 0) return;
    v->disk_used_bytes = disk_used(mountpoint);
    v->over_budget = v->limits.disk_bytes > 0 && v->disk_used_bytes > v->limits.disk_bytes;
    snprintf(flag, sizeof flag, "%s/%s", mountpoint, OVER_BUDGET_FILE);
    if (v->over_budget) {
        char text[64];
        snprintf(text, sizeof text, "%llu bytes used of %llu\n", (unsigned long long)v->disk_used_bytes,
                 (unsigned long long)v->limits.disk_bytes);
        struct cohort_error err = {0};
        if (provision_write_volume_file(mountpoint, OVER_BUDGET_FILE, text, 0644, 0, &err) != 0)
            log_warn("over-budget flag not written", "chain=%s error=\"%s\"", a->config.name, err.message);
    } else {
        remove(flag); /* unlink: a link there goes, not what it names */
    }
}

/*
 * The rotation in flight that this node vouches for, signed with the node's key into the
 * volume (ROTATION_FILE), where the subnode's tick reads it and puts it in the chain's log.
 * The signature is deterministic (RFC 6979), so a round rewrites nothing already there.
 */
static void sync_vouch(struct provisioner *p, const struct assignment *a)
{
    if (!a->vouch) return; /* a file left from a rotation that is done: the subnode passes over it */
    if (p->options.node_key == NULL) {
        log_warn("a rotation of this node's chain needs its vouch, and cohort-core has no node key (--keystore)",
                 "chain=%s", a->config.name);
        return;
    }
    char volume[DOCKER_NAME_MAX], mountpoint[4096];
    provision_volume_name(p, a->config.name, volume, sizeof volume);
    if (docker_volume_inspect(p->docker, volume, mountpoint, sizeof mountpoint, NULL) < 0) return;
    uint8_t bytes[ROTATION_RECORD_BYTES + ROTATION_SIGNATURE_BYTES], digest[32];
    struct cohort_error err = {0};
    memcpy(bytes, a->rotation_record, ROTATION_RECORD_BYTES);
    rotation_vouch_digest(&a->config, a->rotation_record, digest);
    if (secp_sign(p->options.node_key, digest, bytes + ROTATION_RECORD_BYTES, &err) != 0) {
        log_warn("rotation vouch not signed", "chain=%s error=\"%s\"", a->config.name, err.message);
        return;
    }
    char text[2 * sizeof bytes + 4], have[sizeof text + 2] = "";
    hex_encode(bytes, sizeof bytes, text, sizeof text);
    strcat(text, "\n");
    if (provision_read_volume_file(mountpoint, ROTATION_FILE, have, sizeof have, NULL) == 0 && strcmp(have, text) == 0)
        return;
    if (provision_write_volume_file(mountpoint, ROTATION_FILE, text, 0644, 0, &err) != 0)
        log_warn("rotation vouch not written", "chain=%s error=\"%s\"", a->config.name, err.message);
    else
        log_info("this node vouches for a rotation of its chain", "chain=%s", a->config.name);
}

/* ---- The round ---- */

static enum observed_state observed_state_of(const char *docker_state)
{
    if (strcmp(docker_state, "running") == 0 || strcmp(docker_state, "restarting") == 0 ||
        strcmp(docker_state, "paused") == 0)
        return OBSERVED_RUNNING;
    if (strcmp(docker_state, "created") == 0) return OBSERVED_CREATED;
    return OBSERVED_EXITED;
}

/* Counts what lies past RECONCILE_MAX, and says so when that changes. */
static void note_ignored(struct provisioner *p, size_t containers, size_t volumes)
{
    pthread_mutex_lock(&p->lock);
    bool changed = containers != p->containers_ignored || volumes != p->volumes_ignored;
    p->containers_ignored = containers;
    p->volumes_ignored = volumes;
    pthread_mutex_unlock(&p->lock);
    if (changed && (containers > 0 || volumes > 0))
        log_warn("more containers or volumes carry this node's label than the provisioner considers; the rest are "
                 "left alone: remove what is not a subnode of this node",
                 "cap=%d containers_ignored=%zu volumes_ignored=%zu", RECONCILE_MAX, containers, volumes);
    else if (changed)
        log_info("every container and volume of this node is considered again", "cap=%d", RECONCILE_MAX);
}

void provision_ignored(struct provisioner *p, size_t *containers, size_t *volumes)
{
    pthread_mutex_lock(&p->lock);
    *containers = p->containers_ignored;
    *volumes = p->volumes_ignored;
    pthread_mutex_unlock(&p->lock);
}

/* The observed container of chain, or NULL. */
static const struct observed_container *observed_of(const struct observed_container *observed, size_t n,
                                                    const char *chain)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(observed[i].chain, chain) == 0) return &observed[i];
    return NULL;
}

/*
 * After a cohort-core's first round: which subnodes it adopted as they ran, and which it
 * recreates because their config changed (the hash label differs: something the subnode
 * uses changed). A restart must not recreate a healthy subnode for nothing; the log shows it.
 */
static void log_adoption(const struct provisioner *p, const struct provision_scratch *sc, size_t nobserved)
{
    for (size_t i = 0; i < p->nassigned; i++) {
        const struct desired_subnode *d = &sc->desired[i];
        const struct observed_container *o = observed_of(sc->observed, nobserved, d->chain);
        if (o == NULL) continue;
        if (strcmp(o->config_hash, d->config_hash) != 0)
            log_info("subnode's chain config changed since it was created; recreating it", "chain=%s container=%.12s "
                     "old_config_hash=%s new_config_hash=%s",
                     d->chain, o->id, o->config_hash, d->config_hash);
        else if (o->state == OBSERVED_RUNNING)
            log_info("adopted running subnode", "chain=%s container=%.12s", d->chain, o->id);
    }
}

bool provision_set_resources(struct provisioner *p, double memory_factor, unsigned cpu_quota_percent)
{
    struct node_resources *r = &p->options.resources;
    if (r->memory_factor == memory_factor && r->cpu_quota_percent == cpu_quota_percent) return false;
    log_info("subnode limits change; running containers are updated in place", "memory_factor=%g->%g "
             "cpu_quota_percent=%u->%u", r->memory_factor, memory_factor, r->cpu_quota_percent, cpu_quota_percent);
    r->memory_factor = memory_factor;
    r->cpu_quota_percent = cpu_quota_percent;
    return true;
}

static bool limits_equal(const struct applied_limits *a, const struct subnode_limits *want)
{
    int64_t quota = a->cpu_quota_us > 0 ? a->cpu_quota_us : 0; /* none: 0 or -1 */
    return a->memory_bytes == want->memory_bytes && a->cpu_shares == want->cpu_shares &&
           quota == want->cpu_quota_us && (quota == 0 || a->cpu_period_us == want->cpu_period_us);
}

/*
 * Brings one container's memory and CPU limits to want, in place: what it has is known from
 * an earlier round, or asked once (inspect: a container this cohort-core made before a
 * restart, or just made). The record goes into next[*nnext]. Returns whether it has want;
 * a failure is logged and kept as the chain's last error, and the next round tries again.
 */
static bool apply_limits(struct provisioner *p, size_t chain_index, const char *chain, const char *container_id,
                         const struct subnode_limits *want, struct applied_limits *next, size_t *nnext)
{
    struct applied_limits have = {0};
    bool known = false;
    for (size_t k = 0; k < p->napplied && !known; k++)
        if (strcmp(p->applied[k].container_id, container_id) == 0) {
            have = p->applied[k];
            known = true;
        }
    struct cohort_error err = {0};
    if (!known) {
        struct docker_container c;
        if (docker_container_inspect(p->docker, container_id, &c, &err) < 0) {
            log_warn("cannot read a subnode's limits", "chain=%s container=%.12s error=\"%s\"", chain, container_id,
                     err.message);
            return false;
        }
        snprintf(have.container_id, sizeof have.container_id, "%s", container_id);
        have.memory_bytes = c.memory_bytes;
        have.cpu_shares = c.cpu_shares;
        have.cpu_quota_us = c.cpu_quota_us;
        have.cpu_period_us = c.cpu_period_us;
    }
    bool ok = limits_equal(&have, want);
    if (!ok) {
        struct docker_resources r = {.memory_bytes = want->memory_bytes, .cpu_shares = want->cpu_shares,
                                     .cpu_quota_us = want->cpu_quota_us, .cpu_period_us = want->cpu_period_us};
        if (docker_container_update(p->docker, container_id, &r, &err) < 0) {
            log_warn("cannot change a subnode's limits in place; it keeps its old ones", "chain=%s container=%.12s "
                     "error=\"%s\"", chain, container_id, err.message);
            snprintf(p->errors[chain_index], sizeof p->errors[chain_index], "update limits: %.480s", err.message);
        } else {
            log_info("subnode limits changed in place", "chain=%s container=%.12s memory_bytes=%lld->%lld "
                     "cpu_shares=%lld->%lld cpu_quota_us=%lld->%lld", chain, container_id,
                     (long long)have.memory_bytes, (long long)want->memory_bytes, (long long)have.cpu_shares,
                     (long long)want->cpu_shares, (long long)have.cpu_quota_us, (long long)want->cpu_quota_us);
            have.memory_bytes = want->memory_bytes;
            have.cpu_shares = want->cpu_shares;
            have.cpu_quota_us = want->cpu_quota_us;
            have.cpu_period_us = want->cpu_period_us;
            ok = true;
        }
    }
    if (ok && strncmp(p->errors[chain_index], "update limits:", 14) == 0) p->errors[chain_index][0] = '\0';
    next[(*nnext)++] = have;
    return ok;
}

int provision_round(struct provisioner *p, int64_t now_ms, int64_t *wake_at_ms, struct cohort_error *err)
{
    *wake_at_ms = 0;
    if (p->scratch == NULL && (p->scratch = calloc(1, sizeof *p->scratch)) == NULL)
        return cohort_error_set(err, COMMON_E_NOMEM, DOMAIN, "provisioner: out of memory for a round");
    struct provision_scratch *sc = p->scratch;
    struct docker_label mine_labels[1] = {{"cohort.install", p->install_id}};
    struct docker_container *containers = NULL;
    struct docker_name *volumes = NULL;
    size_t ncontainers = 0, nvolumes = 0;
    int rc = docker_container_list(p->docker, mine_labels, 1, &containers, &ncontainers, err);
    if (rc == 0) rc = docker_volume_list(p->docker, mine_labels, 1, &volumes, &nvolumes, err);
    if (rc < 0) {
        free(containers);
        return rc;
    }
    /* Which image new containers get: a tag moves when it is rebuilt, so look every round. */
    struct docker_image image;
    bool found = docker_image_inspect(p->docker, p->image, &image, NULL) == 0;
    pthread_mutex_lock(&p->lock); /* the API reads it */
    snprintf(p->image_id, sizeof p->image_id, "%s", found ? image.id : "");
    pthread_mutex_unlock(&p->lock);

    /* Inputs of the pure planner. */
    struct observed_container *observed = sc->observed;
    struct desired_subnode *desired = sc->desired;
    struct chain_name *volume_chains = sc->volume_chains;
    size_t nobserved = 0, nvolume_chains = 0, containers_ignored = 0, volumes_ignored = 0;
    for (size_t i = 0; i < ncontainers; i++) {
        const char *chain = docker_container_label(&containers[i], "cohort.chain");
        const char *hash = docker_container_label(&containers[i], "cohort.config-hash");
        if (chain == NULL) continue;
        if (nobserved == RECONCILE_MAX) {
            containers_ignored++;
            continue;
        }
        struct observed_container *o = &observed[nobserved++];
        memset(o, 0, sizeof *o);
        snprintf(o->id, sizeof o->id, "%s", containers[i].id);
        snprintf(o->chain, sizeof o->chain, "%s", chain);
        snprintf(o->config_hash, sizeof o->config_hash, "%s", hash ? hash : "");
        o->state = observed_state_of(containers[i].state);
    }
    const char *prefix = p->prefix;
    int prefix_len = (int)strlen(prefix);
    for (size_t i = 0; i < nvolumes; i++) {
        size_t len = strlen(volumes[i].name);
        if (strncmp(volumes[i].name, prefix, (size_t)prefix_len) != 0 || len < (size_t)prefix_len + 6 ||
            strcmp(volumes[i].name + len - 5, "-data") != 0)
            continue;
        if (nvolume_chains == RECONCILE_MAX) {
            volumes_ignored++;
            continue;
        }
        snprintf(volume_chains[nvolume_chains++].name, CHAIN_NAME_MAX, "%.*s", (int)(len - (size_t)prefix_len - 5),
                 volumes[i].name + prefix_len);
    }
    for (size_t i = 0; i < p->nassigned; i++) {
        const struct chain_config *c = &p->assigned[i].config;
        struct desired_subnode *d = &desired[i];
        memset(d, 0, sizeof *d);
        snprintf(d->chain, sizeof d->chain, "%s", c->name);
        d->first_slot = my_first_slot(c);
        d->slot_count = c->slots;
        char *json = NULL;
        if (chain_config_encode(c, &json, err) < 0) {
            free(containers);
            free(volumes);
            return cohort_error_wrap(err, "chain %s", c->name);
        }
        chain_config_hash(json, strlen(json), d->config_hash);
        free(json);
        for (size_t r = 0; r < p->nreplace; r++)
            if (p->image_id[0] && strcmp(p->replace[r].name, c->name) == 0) d->recreate = true;
    }
    p->nreplace = 0;
    struct reconcile_input in = {.desired = desired, .ndesired = p->nassigned, .deleted = p->deleted,
                                 .ndeleted = p->ndeleted, .containers = observed, .ncontainers = nobserved,
                                 .volumes = volume_chains, .nvolumes = nvolume_chains, .now_ms = now_ms,
                                 .backoff_base_ms = p->options.backoff_base_ms,
                                 .backoff_max_ms = p->options.backoff_max_ms, .stable_ms = p->options.stable_ms};
    note_ignored(p, containers_ignored, volumes_ignored);
    struct reconcile_plan *plan = &sc->plan;
    reconcile(&in, &p->reconcile, plan);
    *wake_at_ms = plan->wake_at_ms;
    if (p->rounds == 0) log_adoption(p, sc, nobserved);

    /* Removals first, in plan order, on the main connection. */
    bool retry_soon = false;
    uint64_t removal_failures = 0;
    for (size_t i = 0; i < plan->nactions; i++) {
        const struct action *a = &plan->actions[i];
        if (a->kind != ACTION_REMOVE_CONTAINER && a->kind != ACTION_REMOVE_VOLUME) continue;
        struct cohort_error action_err = {0};
        if (execute(p, p->docker, a, "", &action_err) < 0) {
            log_error("action failed", "chain=%s action=%s error=\"%s\"", a->chain, action_name(a->kind), action_err.message);
            retry_soon = true;
            removal_failures++;
        } else {
            log_info("action done", "chain=%s action=%s", a->chain, action_name(a->kind));
        }
    }
    /* Then every assigned chain's own list, chains in parallel. */
    struct round_work work = {.p = p, .plan = plan, .desired = desired};
    for (size_t i = 0; i < p->nassigned; i++) {
        for (size_t j = 0; j < plan->nactions; j++) {
            const struct action *a = &plan->actions[j];
            if (a->kind != ACTION_REMOVE_CONTAINER && a->kind != ACTION_REMOVE_VOLUME &&
                strcmp(a->chain, p->assigned[i].config.name) == 0) {
                work.chains[work.nchains++] = i;
                break;
            }
        }
    }
    unsigned nworkers = work.nchains < p->options.workers ? (unsigned)work.nchains : p->options.workers;
    pthread_t threads[PROVISION_MAX_WORKERS];
    struct worker_arg args[PROVISION_MAX_WORKERS];
    for (unsigned w = 0; w < nworkers; w++) {
        args[w] = (struct worker_arg){.work = &work, .index = w};
        if (w == 0 || pthread_create(&threads[w], NULL, worker, &args[w]) != 0) args[w].inline_run = true;
    }
    for (unsigned w = 0; w < nworkers; w++)
        if (args[w].inline_run) worker(&args[w]);
    for (unsigned w = 0; w < nworkers; w++)
        if (!args[w].inline_run) pthread_join(threads[w], NULL);
    if (retry_soon || atomic_load(&work.failures) > 0) {
        /* Retry soon rather than waiting for an event. */
        if (*wake_at_ms == 0 || *wake_at_ms > now_ms + 1000) *wake_at_ms = now_ms + 1000;
    }

    /* After acting, look again so the API shows what the actions made, not what was before. */
    if (plan->nactions > 0) {
        struct docker_container *fresh = NULL;
        size_t nfresh = 0;
        if (docker_container_list(p->docker, mine_labels, 1, &fresh, &nfresh, NULL) == 0) {
            free(containers);
            containers = fresh;
            ncontainers = nfresh;
        }
    }

    /* The view for the API: one entry per assigned chain, with what Docker said, and each
       container's limits brought to what its slots get now. */
    struct subnode_view *views = sc->views;
    size_t nviews = 0, napplied = 0;
    for (size_t i = 0; i < p->nassigned; i++) {
        const struct chain_config *c = &p->assigned[i].config;
        struct subnode_view *v = &views[nviews++];
        memset(v, 0, sizeof *v);
        snprintf(v->chain, sizeof v->chain, "%s", c->name);
        provision_container_name(p, c->name, v->container, sizeof v->container);
        v->first_slot = my_first_slot(c);
        v->slots = c->slots;
        struct slot_ports ports;
        if (slot_ports(p->options.base_port, v->first_slot, v->slots, &ports)) v->rpc_port = ports.rpc;
        slot_limits(&p->options.resources, c->slots, &v->limits);
        snprintf(v->state, sizeof v->state, "missing");
        for (size_t j = 0; j < ncontainers; j++) {
            const char *chain = docker_container_label(&containers[j], "cohort.chain");
            if (chain && strcmp(chain, c->name) == 0) {
                snprintf(v->state, sizeof v->state, "%s", containers[j].state);
                snprintf(v->container_id, sizeof v->container_id, "%s", containers[j].id);
                const char *hash = docker_container_label(&containers[j], "cohort.config-hash");
                v->config_current = hash != NULL && strcmp(hash, desired[i].config_hash) == 0;
                snprintf(v->image_id, sizeof v->image_id, "%s", containers[j].image_id);
                v->image_current = p->image_id[0] != '\0' && strcmp(containers[j].image_id, p->image_id) == 0;
            }
        }
        if (v->container_id[0] != '\0' && strcmp(v->state, "removing") != 0 && strcmp(v->state, "dead") != 0)
            v->limits_applied = apply_limits(p, i, c->name, v->container_id, &v->limits, sc->applied, &napplied);
        const struct restart_record *r = reconcile_record(&p->reconcile, c->name);
        v->restarts = r ? r->restarts : 0;
        snprintf(v->last_error, sizeof v->last_error, "%s", p->errors[i]);
        if (p->rounds % 10 == 0 || v->limits.disk_bytes > 0) check_budget(p, &p->assigned[i], v);
        if (v->container_id[0] != '\0') sync_vouch(p, &p->assigned[i]);
    }
    memcpy(p->applied, sc->applied, napplied * sizeof sc->applied[0]); /* containers gone are forgotten */
    p->napplied = napplied;
    pthread_mutex_lock(&p->lock);
    memcpy(p->views, views, nviews * sizeof views[0]);
    p->nviews = nviews;
    p->rounds_total++;
    p->actions_total += plan->nactions;
    p->failures_total += (uint64_t)atomic_load(&work.failures) + removal_failures;
    pthread_mutex_unlock(&p->lock);
    p->rounds++;
    free(containers);
    free(volumes);
    return 0;
}

char *provision_subnodes_json(struct provisioner *p)
{
    cJSON *array = cJSON_CreateArray();
    pthread_mutex_lock(&p->lock);
    for (size_t i = 0; i < p->nviews; i++) {
        const struct subnode_view *v = &p->views[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "chain", v->chain);
        cJSON_AddStringToObject(o, "container", v->container);
        cJSON_AddStringToObject(o, "state", v->state);
        cJSON_AddNumberToObject(o, "first_slot", v->first_slot);
        cJSON_AddNumberToObject(o, "slots", v->slots);
        cJSON_AddNumberToObject(o, "rpc_port", v->rpc_port);
        cJSON_AddNumberToObject(o, "restarts", v->restarts);
        cJSON *l = cJSON_AddObjectToObject(o, "limits");
        cJSON_AddNumberToObject(l, "cpu_shares", (double)v->limits.cpu_shares);
        cJSON_AddNumberToObject(l, "cpu_quota_us", (double)v->limits.cpu_quota_us);
        cJSON_AddNumberToObject(l, "memory_bytes", (double)v->limits.memory_bytes);
        cJSON_AddNumberToObject(l, "pids", (double)v->limits.pids);
        cJSON_AddNumberToObject(l, "nofile", (double)v->limits.nofile);
        cJSON_AddNumberToObject(l, "disk_bytes", (double)v->limits.disk_bytes);
        cJSON_AddBoolToObject(o, "limits_applied", v->limits_applied);
        cJSON_AddNumberToObject(o, "disk_used_bytes", (double)v->disk_used_bytes);
        cJSON_AddBoolToObject(o, "over_budget", v->over_budget);
        cJSON_AddStringToObject(o, "image_id", v->image_id);
        cJSON_AddBoolToObject(o, "image_current", v->image_current);
        if (v->last_error[0]) cJSON_AddStringToObject(o, "last_error", v->last_error);
        else cJSON_AddNullToObject(o, "last_error");
        cJSON_AddItemToArray(array, o);
    }
    pthread_mutex_unlock(&p->lock);
    char *text = cJSON_PrintUnformatted(array);
    cJSON_Delete(array);
    return text;
}
