/*
 * upgrade.h - the subnode image the cluster runs, and the rolling upgrade to it
 * (docs/cohort-core.md "The image from the cluster").
 *
 * An admin of the cluster signs the image's digest into the config store (cluster_image.h,
 * key cohort/image). cohort-core follows it: new containers are made from that image id
 * and no other (a local tag with another digest is not used), and the node's containers
 * that run another image are replaced one chain at a time, under a lease in the store:
 *
 *   cohort/upgrade/lease/CHAIN/K        K in 0..max(1, f)-1 of the chain's n = 3f+1 members;
 *                                       value: the node id that holds it (created only if absent)
 *   cohort/upgrade/failed               a failed upgrade: every node stops upgrading until an
 *                                       admin signs a new image (or an operator deletes it)
 *   cohort/upgrade/nodes/NODE_ID        what each node reports: {"digest", "chains": {CHAIN: state}}
 *   cohort/nodes/NODE_ID/maintenance    "true": the node is skipped by upgrades and says so
 *
 * A node takes a lease, replaces its container (same volume, so same state), waits until
 * the new subnode is healthy and caught up (GET /status: not halted, not behind, its height
 * at least the old one's, a quorum of its peers connected), then deletes the lease. So at
 * most f members of a chain restart at once and the chain keeps its quorum. One that does
 * not come up within upgrade_deadline_ms (180 s) writes cohort/upgrade/failed and keeps its lease,
 * so the upgrade stops and the chain's other members stay on the old image. A restart of
 * cohort-core finds its own lease in the store and goes on with it.
 *
 * Threads: upgrade_follow runs on the settings follower's thread and does every write to
 * the store (a write waits for a commit, which never comes while the cluster has no quorum);
 * upgrade_step and upgrade_image run on the daemon's loop thread (with the provisioner) and
 * never wait for the store; upgrade_json on the API's. The lock guards what they share.
 */
#ifndef COHORT_CORE_UPGRADE_H
#define COHORT_CORE_UPGRADE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"
#include "config/config.h"
#include "core/cluster_image.h"
#include "core/provision.h"


struct upgrade_chain {
    char chain[CHAIN_NAME_MAX];
    char state[16];   /* current, outdated, waiting, upgrading, failed, maintenance, stopped */
    char detail[200]; /* why, in words */
};

struct upgrade {
    pthread_mutex_t lock;
    char path[1100];  /* STATE_DIR/cluster-image.json: the last signed document followed */
    uint64_t instance;
    uint8_t admins[CLUSTER_ADMINS_MAX][20];
    size_t nadmins;
    uint64_t node_id;
    char local_image[256];        /* --image: what runs while the cluster names none */
    char local_digest[80];        /* its id on this dockerd, looked up while the cluster names one (lock) */
    char bind_address[16];        /* where this node's subnodes answer GET /status */
    int64_t deadline_ms;          /* from a container's replacement to ready, or the upgrade fails */

    /* What the follower found (lock). */
    bool wanted;
    struct cluster_image image;
    uint64_t revision;            /* of the key it came from (0: from the file at start) */
    char refused[COHORT_ERROR_MESSAGE_MAX]; /* the key's value, when it was not followed, and why */
    bool maintenance;
    char failed[CLUSTER_IMAGE_MAX_BYTES + 1]; /* cohort/upgrade/failed when it names the wanted digest */

    /* Between the loop and the follower (lock): the loop asks, the follower writes the store. */
    char lease_key[CHAIN_NAME_MAX + 64]; /* the lease this node holds ("": none); set and cleared by the follower */
    char lease_chain[CHAIN_NAME_MAX];
    bool lease_fresh;             /* a lease just taken or found: the loop starts its replacement */
    char acquire_chain[CHAIN_NAME_MAX]; /* the loop asks for a lease of this chain */
    unsigned acquire_leases;      /* of max(1, f) leases */
    bool release_requested;       /* the loop is done with the lease */
    char failure[512];            /* the loop asks to write cohort/upgrade/failed */
    char report[2048], published[2048]; /* cohort/upgrade/nodes/NODE_ID: to write, and written */
    struct upgrade_chain chains[RECONCILE_MAX]; /* for the API */
    size_t nchains;

    /* The loop's own. */
    bool replaced;
    char lease_digest[CLUSTER_IMAGE_DIGEST_LEN + 1]; /* the image the lease's replacement was made from */
    uint64_t height_before;
    int64_t lease_since_ms;
    bool failure_asked;
};

/*
 * Sets u up for this node and loads the document kept in state_dir (checked again against
 * cluster's admins; one that no longer checks is ignored with a warning). Returns 0, or an
 * error when the file exists and cannot be read.
 */
int upgrade_init(struct upgrade *u, const char *state_dir, const struct cluster *cluster, uint64_t node_id,
                 const char *local_image, const char *bind_address, unsigned deadline_ms, struct cohort_error *err);
void upgrade_free(struct upgrade *u);

/* Reads cohort/image, this node's maintenance flag and the cluster's failure from the local copy of the store. */
void upgrade_follow(struct upgrade *u, struct config_service *store);

/* The image new containers are made from (out: 256 bytes): the cluster's digest, or the local image. */
void upgrade_image(struct upgrade *u, char *out, size_t size);

/*
 * One step of the rolling upgrade, after a provisioning round, on the loop's thread: may ask
 * p to replace a container, and asks the follower (upgrade_follow) for what needs the store.
 * Never waits for the store.
 */
void upgrade_step(struct upgrade *u, struct provisioner *p, int64_t now_ms);

/* An upgrade of one of this node's chains is under way (the loop looks every second then). */
bool upgrade_busy(struct upgrade *u);

/* GET /api/v1/image: {"wanted": {...} | null, "local": {...}, "refused", "maintenance", "failed", "chains": [...]};
   p may be NULL (no provisioner yet). */
char *upgrade_json(struct upgrade *u, struct provisioner *p);

#endif
