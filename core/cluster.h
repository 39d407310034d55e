/*
 * cluster.h - the cluster file: the node-cores that share the config store, their keys and
 * BFT endpoints, and the admin keys that may also write (docs/cohort-core.md "Config store").
 *
 *   {
 *     "instance": 1,                 the log's instance: keeps two clusters' messages apart
 *     "timeout_ms": 300,             the BFT height timeout (optional; 300)
 *     "snapshot_every": 8192,        log blocks between snapshots of the store, which compact
 *                                    the WAL (optional; 8192, at least 16)
 *     "fill_wait_ms": 4,             how long a leader may wait for its block to fill (optional;
 *                                    4; 0: no wait; at most timeout_ms / 10; docs/bft.md "Filling")
 *     "members": [                   4 to 32 node-cores, in the order every member uses
 *       {"address": "0x…", "endpoint": "127.0.0.1:19500"}, …
 *     ],
 *     "admins": ["0x…"]              keys that may write besides the members (optional, <= 8)
 *   }
 *
 * Every member reads the same file. A cohort-core finds its own place in it by the address
 * of its keystore's key.
 */
#ifndef COHORT_CORE_CLUSTER_H
#define COHORT_CORE_CLUSTER_H

#include <stddef.h>
#include <stdint.h>

#include "bft/node.h"
#include "common/error.h"

#define CLUSTER_FILE_MAX_BYTES (64u * 1024)
#define CLUSTER_ADMINS_MAX 8
#define CLUSTER_SNAPSHOT_EVERY_DEFAULT 8192
#define CLUSTER_FILL_WAIT_MS_DEFAULT 4

struct cluster {
    uint64_t instance;
    uint32_t timeout_ms;
    uint32_t snapshot_every;
    uint32_t fill_wait_ms;
    uint32_t count;
    uint8_t address[BFT_MEMBERS_MAX][20];
    char endpoint[BFT_MEMBERS_MAX][BFT_ENDPOINT_MAX];
    uint32_t nadmins;
    uint8_t admin[CLUSTER_ADMINS_MAX][20];
};

/*
 * Parses a cluster file's text strictly: unknown keys, duplicate addresses or endpoints,
 * fewer than 4 or more than 32 members, a bad address or endpoint are errors that name the
 * member and the field. Returns 0 or COMMON_E_INVALID / COMMON_E_RANGE.
 */
int cluster_parse(const char *text, size_t len, struct cluster *out, struct cohort_error *err);

/* Reads and parses the file at path (at most CLUSTER_FILE_MAX_BYTES). */
int cluster_load(const char *path, struct cluster *out, struct cohort_error *err);

/* The index of address among the members, or -1. */
int cluster_member_index(const struct cluster *cluster, const uint8_t address[20]);

#endif
