/*
 * cluster_util.h - a config-store cluster of real cohort-core processes on 127.0.0.1, for
 * the tests (tests/integration/test_config_cluster.c) and the benchmark
 * (bench/config_bench.c): keys, keystores and the cluster file in a temp dir, members
 * started and SIGKILLed by PID, and calls to their local APIs. Failures abort with a
 * message (the callers are tests and a benchmark).
 *
 * For the benchmark's anchor the same calls also run a cluster of three etcd members
 * (Debian's etcd-server, fsync on) on loopback: tc_make_etcd, then tc_start_all,
 * tc_client_put (etcd's JSON gateway, /v3/kv/put), tc_leader, tc_kill and tc_destroy,
 * so that both are measured by one client in one hour.
 */
#ifndef COHORT_TESTS_CLUSTER_UTIL_H
#define COHORT_TESTS_CLUSTER_UTIL_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define TC_MEMBERS 4
#define TC_SLOTS (TC_MEMBERS + 1) /* the members, then a newcomer (the outsider's key) that may join later */

struct tcluster {
    int members;                  /* TC_MEMBERS, or 3 for etcd */
    bool etcd;                    /* an etcd cluster (tc_make_etcd) */
    char bin[1024];               /* $COHORT_BUILD_DIR/bin; for etcd, the etcd executable */
    char dir[64];                 /* the temp dir: keys (key<i>.json, admin.json), cluster.json, m<i>/, m<i>.log */
    uint8_t keys[TC_MEMBERS + 2][32]; /* members, then an admin, then an outsider (slot TC_MEMBERS's key) */
    uint8_t addresses[TC_MEMBERS + 2][20];
    int bft_port[TC_SLOTS], api_port[TC_SLOTS]; /* for etcd: its peer and client ports */
    pid_t pids[TC_SLOTS];
    uint64_t instance;
    long file_limit[TC_SLOTS]; /* > 0: process i starts with RLIMIT_FSIZE at that many bytes (a full disk) */
};

/* Makes keys and the cluster file; members use ports port_base + i (BFT) and port_base + 10 + i (API),
   and so does slot TC_MEMBERS (the newcomer, not in the cluster file: tc_start it after it joined). */
void tc_make(struct tcluster *c, int port_base, unsigned timeout_ms);

/* Like tc_make, with options: members of the cluster file's object, each followed by a
   comma ("\"snapshot_every\":128," say); "" for none. */
void tc_make_with(struct tcluster *c, int port_base, unsigned timeout_ms, const char *options);

/* Makes the data dir of three etcd members (peer ports port_base + i, client ports
   port_base + 10 + i). The executable is $COHORT_ETCD, else /usr/bin/etcd; aborts with
   what to install when it is missing. */
void tc_make_etcd(struct tcluster *c, int port_base);

/* Starts process i (cohort-core, or cohort-core-byzantine equivocating as leader); i < TC_SLOTS. */
pid_t tc_start(struct tcluster *c, int i, bool byzantine);

/* Waits up to 15 s for member i's API; aborts otherwise. */
void tc_wait_api(const struct tcluster *c, int i);

/* Starts every member (byzantine_member: -1 for none) and waits for their APIs. */
void tc_start_all(struct tcluster *c, int byzantine_member);

/* SIGKILLs member i and reaps it. */
void tc_kill(struct tcluster *c, int i);

/* Stops every member (SIGTERM, then SIGKILL) and removes the temp dir. */
void tc_destroy(struct tcluster *c);

/* POSTs body (GET when NULL) to member i's path; returns the HTTP status (0: no answer) and the parsed answer. */
long tc_api(const struct tcluster *c, int i, const char *path, const char *body, cJSON **answer, long timeout_ms);

/* A put through member i: the HTTP status. */
long tc_put(const struct tcluster *c, int i, const char *key, const char *value);

/* A client that keeps its HTTP connections open between calls (one per thread), as an
   etcd client keeps its gRPC connection: for the benchmark's load. Zero-initialise it. */
struct tc_client {
    void *curl;
};

/* A put through member i on client's connection: the HTTP status. */
long tc_client_put(struct tc_client *client, const struct tcluster *c, int i, const char *key, const char *value);

/* Closes client's connections. */
void tc_client_free(struct tc_client *client);

/* The index of the member that leads now, as member 0 sees it; -1 when unknown. */
int tc_leader(const struct tcluster *c);

/* Member i's /api/v1/config/status, or NULL. */
cJSON *tc_status(const struct tcluster *c, int i);

#endif
