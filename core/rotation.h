/*
 * rotation.h - this node's part in finishing its chains' rotations (docs/chain.md
 * "Rotation", "Completion"), on the loop's thread, for each chain with a rotation in flight
 * whose next epoch this node is a member of:
 *
 *   once its subnode runs that epoch and knows the epoch's first block (it switched by the
 *   change block), the node signs the manager's rotationDigest into the volume
 *   (ROTATION_DONE_FILE), which the subnode puts in the chain's log;
 *   once the subnode shows f + 1 members' signatures committed, the node sends
 *   completeRotation with them: the signer of lowest member index at once, the others
 *   ROTATION_TURN_MS apart after it, each again every ROTATION_RETRY_MS while the
 *   manager still has the rotation (a second completion reverts and costs only its gas).
 *
 * The vouch that starts the change is the provisioner's (provision.c, sync_vouch).
 */
#ifndef COHORT_CORE_ROTATION_H
#define COHORT_CORE_ROTATION_H

#include <stdbool.h>
#include <stdint.h>

#include "core/provision.h"
#include "manager-client/manager_client.h"

#define ROTATION_TURN_MS 20000
#define ROTATION_RETRY_MS 30000

struct rotation_duty {
    char chain[CHAIN_NAME_MAX];
    uint32_t epoch;
    bool done_written;        /* this node's signature is in the volume */
    int64_t ready_since_ms;   /* the subnode first showed f + 1 signatures */
    int64_t last_submit_ms;
};

struct rotations {
    struct rotation_duty duties[RECONCILE_MAX];
    size_t n;
};

/* One pass over the provisioner's assigned chains (rpc and node_key: the manager's client
   and the node's key, which pays for completeRotation). */
void rotations_step(struct rotations *r, struct provisioner *p, struct mc_rpc *rpc, const struct mc_deployment *d,
                    const uint8_t node_key[32], int64_t now_ms);

#endif
