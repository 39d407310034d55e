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
 *
 * Absence (docs/chain.md "Absence"), for each chain without a rotation in flight, every
 * ABSENCE_CHECK_MS: a member its subnode has not heard for absence_ms gets this node's
 * signature that it is absent since then (ROTATION_ABSENT_FILE; the same `since` as a
 * statement already in the log that this node's silence agrees with, so the signatures add
 * up); once the subnode shows 2f + 1 signatures for one (node, since), reportAbsent goes to
 * the manager in the same turns as the completion (the manager refuses it until `since` is
 * MIN_ABSENCE old by its clock; it is tried again every ROTATION_RETRY_MS).
 */
#ifndef COHORT_CORE_ROTATION_H
#define COHORT_CORE_ROTATION_H

#include <stdbool.h>
#include <stdint.h>

#include "core/provision.h"
#include "manager-client/manager_client.h"

#define ROTATION_TURN_MS 20000
#define ROTATION_RETRY_MS 30000
#define ABSENCE_CHECK_MS 5000

struct rotation_duty {
    char chain[CHAIN_NAME_MAX];
    uint32_t epoch;
    bool done_written;        /* this node's signature is in the volume */
    int64_t ready_since_ms;   /* the subnode first showed f + 1 signatures */
    int64_t last_submit_ms;
};

struct absence_watch {
    char chain[CHAIN_NAME_MAX];
    int64_t checked_ms;       /* the last look at the subnode's status */
    uint64_t node_id, since;  /* the statement this node signed last (0: none) */
    int64_t ready_since_ms;   /* 2f + 1 signatures first seen for (node, since) */
    int64_t last_submit_ms;
};

struct rotations {
    struct rotation_duty duties[RECONCILE_MAX];
    size_t n;
    struct absence_watch watches[RECONCILE_MAX];
    size_t nwatches;
    unsigned absence_ms; /* daemon_config.absence_report_ms */
};

/* One pass over the provisioner's assigned chains (rpc and node_key: the manager's client
   and the node's key, which pays for completeRotation and reportAbsent). */
void rotations_step(struct rotations *r, struct provisioner *p, struct mc_rpc *rpc, const struct mc_deployment *d,
                    const uint8_t node_key[32], int64_t now_ms);

#endif
