/*
 * provision.h - cohort-core's provisioner: makes Docker match the chains the manager
 * assigned to this node, and keeps it so.
 *
 * Each round observes Docker (this node's containers and volumes, by the label
 * cohort.node), plans with the pure reconciler (reconcile.h) and executes the plan:
 * removals first (a removed chain may free the ports a new one needs), then each chain's
 * actions in order, different chains in parallel on `workers` connections to dockerd.
 *
 *   volume     cohort-<install>-<chain>-data   labels cohort.install, cohort.manager, cohort.node,
 *                                              cohort.chain
 *   config     chain.json in that volume, atomically  its keccak is cohort.config-hash
 *   identity   subnode.key (made once, kept, with a copy in STATE_DIR/subnode-keys/CHAIN.key
 *              that a volume made again gets back, with the mark `rejoin`) and subnode.cert
 *              (the node's signature vouching for that key in this chain:
 *              chain_subnode_cert_digest) in the volume, which belongs to the subnode's user
 *   container  cohort-<install>-<chain>        the same labels, and cohort.slot and
 *              cohort.config-hash; host network bound to its slot's ports, read-only root,
 *              no capabilities, no-new-privileges, nobody, limits from its slots (slots.h),
 *              json-file logs capped, no Docker restart policy
 *
 * <install> is the cohort-core's install id (node_state.h), unique per installation: the
 * manager's address and the node id are not (a fresh anvil deploys the manager at the same
 * address every time), so they are labels for people, and the provisioner lists only what
 * carries its cohort.install label. Several cohort-cores can share one dockerd, even of
 * different networks (a devnet beside a test). A cohort-core that restarts with the same
 * state dir finds its containers by that label and adopts them (and says so in its log);
 * when dockerd is away the round fails and nothing is removed; when the manager is away the
 * desired set is the last one known. At most RECONCILE_MAX containers and volumes are
 * considered; what lies past that is counted (provision_ignored) and logged, never touched.
 * Not thread-safe except provision_subnodes_json and provision_ignored, which the API thread
 * may call at any time.
 */
#ifndef COHORT_CORE_PROVISION_H
#define COHORT_CORE_PROVISION_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/chain_config.h"
#include "common/chain_rotation.h"
#include "common/error.h"
#include "docker/docker.h"
#include "reconcile.h"
#include "slots.h"

struct provision_options {
    const char *manager;      /* the manager's address, "0x" + 40 hex; NULL: "0x0" (no manager) */
    uint64_t node_id;
    const char *install_id;   /* names and the cohort.install label; NULL: "<first 8 hex of manager>-n<node>",
                                 for tests and benches whose node ids are unique on their dockerd */
    const char *image;        /* the subnode image tag */
    const char *bind_address; /* what subnodes bind: the node's IP, 127.0.0.1 in tests */
    uint16_t base_port;
    struct node_resources resources;
    int64_t backoff_base_ms, backoff_max_ms, stable_ms; /* 0: the reconciler's defaults */
    const char *docker_socket; /* for the worker connections; NULL: the default */
    unsigned workers;          /* chains set up in parallel (default 4; Docker gains nothing past that) */
    const char *state_dir;     /* cohort-core's (borrowed): a copy of each subnode's key in subnode-keys/, so
                                  a volume made again gets its key back (docs/chain.md "Rejoining"); NULL: none */
    const uint8_t *node_key;   /* the node's key (32 bytes, borrowed): signs subnode.cert in each volume;
                                  NULL (no --keystore): none, and chains of more than one member cannot
                                  run here (the subnode says why) */
};

#define PROVISION_MAX_WORKERS 16

/* One assigned chain: its config as this node's member sees it, and the chain's rotation
   in flight (docs/chain.md "Rotation"): the vouch its node writes into the volume as
   ROTATION_FILE when it is a member before it, the completion it signs when one after. */
struct assignment {
    struct chain_config config;
    bool rotation_open, vouch, member_after;
    uint8_t rotation_record[ROTATION_RECORD_BYTES];
};

/* What the API shows per subnode. */
struct subnode_view {
    char chain[CHAIN_NAME_MAX];
    char container[DOCKER_NAME_MAX];
    unsigned first_slot, slots;
    uint16_t rpc_port;
    char state[16];              /* Docker's, or "missing" */
    unsigned restarts;
    struct subnode_limits limits;
    uint64_t disk_used_bytes;
    bool over_budget;
    char last_error[COHORT_ERROR_MESSAGE_MAX];
    /* For the metrics sampler: the container's id (its cgroup's name; "" when missing) and
       whether it runs the chain's current config. */
    char container_id[80];
    bool config_current;
    char image_id[80];  /* the image its container was made from ("" when missing) */
    bool image_current; /* that is the image this node runs now (provision_set_image) */
    bool limits_applied; /* its container has `limits` (memory, CPU), as dockerd says */
};

/* The limits a container was seen with (inspect) or given (update), by container id. */
struct applied_limits {
    char container_id[80];
    int64_t memory_bytes, cpu_shares, cpu_quota_us, cpu_period_us;
};

/* What one round works on, kept between rounds so a round does not allocate it (256 KB). */
struct provision_scratch {
    struct observed_container observed[RECONCILE_MAX];
    struct desired_subnode desired[RECONCILE_MAX];
    struct chain_name volume_chains[RECONCILE_MAX];
    struct reconcile_plan plan;
    struct subnode_view views[RECONCILE_MAX];
    struct applied_limits applied[RECONCILE_MAX];
};

struct provisioner {
    struct provision_options options;
    char image[256], bind_address[16], docker_socket[108];
    char image_id[80];   /* what dockerd says image is, as of the last round ("" when it has none); image and
                            image_id change under lock (the API reads them) */
    struct chain_name replace[RECONCILE_MAX]; /* chains whose container the next round replaces (upgrade) */
    size_t nreplace;
    char manager[43];    /* lower-case "0x..." */
    char install_id[40]; /* the cohort.install label */
    char prefix[48];     /* "cohort-<install>-": names of this node's objects start with it */
    struct docker_client *docker;
    struct docker_client *worker_docker[PROVISION_MAX_WORKERS]; /* one connection per worker, opened on use */
    struct reconcile_state reconcile;
    struct assignment *assigned; /* desired: owned array */
    size_t nassigned;
    struct chain_name deleted[RECONCILE_MAX];
    size_t ndeleted;
    pthread_mutex_t lock; /* guards views for the API thread */
    struct subnode_view views[RECONCILE_MAX];
    size_t nviews;
    char errors[RECONCILE_MAX][COHORT_ERROR_MESSAGE_MAX]; /* last error per assigned chain */
    size_t containers_ignored, volumes_ignored;           /* past RECONCILE_MAX in the last round (lock) */
    struct provision_scratch *scratch;                    /* allocated by the first round */
    unsigned rounds;
    struct applied_limits applied[RECONCILE_MAX]; /* what each container's limits are, as of the last round */
    size_t napplied;
    /* Counters for the metrics, published with the views under lock. */
    uint64_t rounds_total, actions_total, failures_total;
};

/* Sets up p (options copied) with a docker client the caller keeps owning. */
void provision_init(struct provisioner *p, const struct provision_options *options, struct docker_client *docker);
void provision_free(struct provisioner *p);

/* Replaces the desired set (copied). Chains that left it stay as containers until a round. */
int provision_set_assigned(struct provisioner *p, const struct assignment *assigned, size_t n, struct cohort_error *err);

/*
 * The image new containers are made from: a tag, or an image id ("sha256:...", the image
 * the cluster names: docs/cohort-core.md "The image from the cluster"). Running containers
 * keep theirs until provision_replace. Call between rounds, on the rounds' thread.
 */
void provision_set_image(struct provisioner *p, const char *image);

/*
 * Asks the next round to replace chain's container with one of the current image (its
 * volume, so its state, stays). Ignored when dockerd does not have that image: the old
 * container keeps running. Call between rounds, on the rounds' thread.
 */
void provision_replace(struct provisioner *p, const char *chain);

/*
 * The share of the host's memory for all subnodes and the CPU quota (node_resources; the
 * cluster's settings change them). Each round then brings every container's memory and CPU
 * limits to what its slots get, in place (docker update: no restart, no recreate); the view
 * says whether a container has them (limits_applied). Returns whether anything changed.
 * Call between rounds, on the rounds' thread.
 */
bool provision_set_resources(struct provisioner *p, double memory_factor, unsigned cpu_quota_percent);
/* Records that a chain was deleted on the manager: its volume goes too. */
void provision_mark_deleted(struct provisioner *p, const char *chain);

/*
 * One round: observe, plan, execute. *wake_at_ms is when the next round is due at the
 * latest because of a pending restart (0: none). Errors of single actions are recorded per
 * chain and logged, not returned; an error to observe Docker is returned.
 */
int provision_round(struct provisioner *p, int64_t now_ms, int64_t *wake_at_ms, struct cohort_error *err);

/* The subnodes as JSON for /api/v1/subnodes (malloc'd). Thread-safe. */
char *provision_subnodes_json(struct provisioner *p);

/*
 * How many of this node's containers and volumes the last round left alone because there
 * were more than RECONCILE_MAX of them (never more than 128 subnodes run: leftovers of
 * another tool, or a bug). Thread-safe.
 */
void provision_ignored(struct provisioner *p, size_t *containers, size_t *volumes);

/* Names of a chain's container and volume under p (see above). */
/*
 * Files in a subnode's volume, which the subnode owns and may fill with links: written
 * under a random name (O_EXCL | O_NOFOLLOW), given to uid with mode through the
 * descriptor, renamed over name; read only as a regular file, never through a link (1 and
 * the text, 0 when absent, or an error). For cohort-core (root) and its tests.
 */
int provision_write_volume_file(const char *mountpoint, const char *name, const char *text, unsigned mode, unsigned uid,
                                struct cohort_error *err);
int provision_read_volume_file(const char *mountpoint, const char *name, char *text, size_t cap,
                               struct cohort_error *err);

void provision_container_name(const struct provisioner *p, const char *chain, char *out, size_t size);
void provision_volume_name(const struct provisioner *p, const char *chain, char *out, size_t size);

#endif
