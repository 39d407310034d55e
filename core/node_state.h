/*
 * node_state.h - what a cohort-core keeps about itself in its state dir: made at its first
 * start, read at every later one, in state_dir/node.json (written atomically):
 *
 *   {"install_id": "3f9a0c2b7d1e4a55", "disk_bytes": 53687091200}
 *
 * install_id: 16 random hex digits that name this installation's Docker objects (container
 *   and volume names, the cohort.install label it lists by), so two cohort-cores on one
 *   dockerd never take each other's containers, even with the same manager address and node
 *   id: two devnets, each on a fresh anvil, deploy the manager at the same address.
 * disk_bytes: the disk budget measured at the first start (the state dir's free space), used
 *   whenever none is configured. The budget is part of every chain config, whose hash decides
 *   whether a subnode is recreated: measured again at each start, the free space would differ
 *   and every subnode would be recreated instead of adopted.
 */
#ifndef COHORT_CORE_NODE_STATE_H
#define COHORT_CORE_NODE_STATE_H

#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"

#define NODE_STATE_FILE "node.json"
#define NODE_INSTALL_ID_CHARS 16

struct node_state {
    char install_id[NODE_INSTALL_ID_CHARS + 1]; /* lower-case hex, NUL-terminated */
    uint64_t disk_bytes;                        /* the budget kept from the first start */
};

/*
 * Reads state_dir/node.json, or, when there is none, makes one: a fresh install id and
 * measured_disk_bytes as the kept budget. *created says which happened (may be NULL).
 * Returns 0, or an error naming the file (unreadable, not what this layout says: it is
 * never replaced, since the containers it names would be orphaned).
 */
int node_state_open(const char *state_dir, uint64_t measured_disk_bytes, struct node_state *out, bool *created,
                    struct cohort_error *err);

/* Reads state_dir/node.json; COMMON_E_IO when there is none. For tests and tools. */
int node_state_read(const char *state_dir, struct node_state *out, struct cohort_error *err);

#endif
