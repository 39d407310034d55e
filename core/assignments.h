/*
 * assignments.h - from the manager's events to the chains this node must run.
 *
 * The state is the list of events that matter to this node, in chain order: every node's
 * registration and exit (members' endpoints and keys come from there) and every chain's
 * events (a rotation may make this node a member of any chain, which then needs its history). It is kept with the watcher's cursor in one file,
 * written atomically after each delivered batch, so a restart resumes exactly where the
 * last write left off (no event lost, none applied twice). A reorg rewinds by dropping the
 * events after the fork block and rebuilding from the rest. Everything but the file I/O is
 * pure, so tests feed made-up event sequences.
 */
#ifndef COHORT_CORE_ASSIGNMENTS_H
#define COHORT_CORE_ASSIGNMENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/chain_config.h"
#include "common/chain_rotation.h"
#include "manager-client/manager_client.h"
#include "reconcile.h"

#define ASSIGNMENTS_MAX_EVENTS 100000 /* a state file past this is refused as corrupt */
#define ASSIGNMENTS_VERSION 2         /* 2: every chain's events (1: only this node's chains') */
#define ASSIGNMENTS_MAX_BYTES (64u << 20)

struct assignments {
    uint64_t node_id;           /* this node */
    struct mc_cursor cursor;
    struct mc_event *events;    /* the relevant events, in order (owned) */
    size_t nevents, cap;
    bool changed;               /* set when a batch or rewind changed the chains; the caller clears it */
};

void assignments_init(struct assignments *a, uint64_t node_id);
void assignments_free(struct assignments *a);

/* Keeps e if it matters to this node. Returns true when it was kept. */
bool assignments_apply(struct assignments *a, const struct mc_event *e);

/* Drops every event after block `keep_through` (all of them when to->started is false). */
void assignments_rewind(struct assignments *a, const struct mc_cursor *to);

/*
 * The chains this node runs now (members complete), as chain configs; the caller frees
 * *out. A chain's config is its membership in the epoch this node entered it (the first, or
 * the one a rotation made it join): the subnode follows later epochs itself, in its volume,
 * so a rotation changes no config of the members that stay and recreates no container
 * (docs/chain.md "Rotation"). A node that a completed rotation took out of a chain runs it
 * no more. *rotations (when asked for; count entries, the caller frees it) says, per
 * chain, the rotation in flight and this node's part in it.
 */
struct chain_config_params {
    uint64_t manager_chain_id;
    uint8_t manager_address[20];
    uint64_t disk_bytes_per_slot;
};
struct chain_rotation {
    bool open;                             /* a rotation of the chain is in flight */
    bool vouch;                            /* ... this node is a member before it: it vouches */
    bool member_after;                     /* ... and a member after it: it signs the completion */
    uint8_t record[ROTATION_RECORD_BYTES]; /* rotation_record_encode */
};
int assignments_configs(const struct assignments *a, const struct chain_config_params *params,
                        struct chain_config **out, struct chain_rotation **rotations, size_t *count,
                        struct cohort_error *err);

/* Names of chains this node was ever a member of that were deleted on the manager (for volume removal). */
size_t assignments_deleted(const struct assignments *a, struct chain_name *out, size_t max);
/* Names of chains a completed rotation took this node out of (their volumes go after a grace period). */
size_t assignments_left(const struct assignments *a, struct chain_name *out, size_t max);

/* The state as JSON (malloc'd) and back; load of a missing file gives an empty state. */
char *assignments_to_json(const struct assignments *a);
int assignments_from_json(struct assignments *a, const char *text, size_t len, struct cohort_error *err);
int assignments_load(struct assignments *a, const char *path, struct cohort_error *err);
int assignments_save(const struct assignments *a, const char *path, struct cohort_error *err);

/*
 * The watcher sink: ctx points at a struct assignments_sink. deliver decodes the manager's
 * logs, keeps what matters, saves state and cursor atomically, then returns; rewind the same
 * after dropping the events past the fork.
 */
struct assignments_sink {
    struct assignments *assignments;
    const char *path;
};
int assignments_deliver(void *ctx, const struct mc_log *logs, size_t count, const struct mc_cursor *after,
                        struct cohort_error *err);
int assignments_rewind_sink(void *ctx, const struct mc_cursor *to, struct cohort_error *err);

#endif
