/*
 * subnode_status.h - GET /status of one of this node's subnodes (subnode/rpc/status.c), for
 * the loop's decisions that wait on what a subnode says: the rolling upgrade (upgrade.c)
 * and rotations (rotation.c). Loopback, no proxy, 2 s and SUBNODE_STATUS_MAX_BYTES at most.
 */
#ifndef COHORT_CORE_SUBNODE_STATUS_H
#define COHORT_CORE_SUBNODE_STATUS_H

#include <cjson/cJSON.h>

#define SUBNODE_STATUS_MAX_BYTES 65536

/* The status document parsed (the caller cJSON_Deletes it), or NULL when the subnode did
   not answer 200 with JSON within the limits. */
cJSON *subnode_status_get(const char *bind_address, unsigned port);

#endif
