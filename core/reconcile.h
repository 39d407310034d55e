/*
 * reconcile.h - the reconciler: a pure function from (desired, observed, restart records,
 * now) to the Docker actions that make the node match the manager, in order.
 *
 * Desired comes from the manager watcher (the chains assigned to this node), observed from
 * Docker (containers and volumes carrying this node's labels). Nothing here does I/O or
 * reads a clock, so tests drive every case, crash loops and clock jumps included, and the
 * daemon's loop only executes what this returns.
 *
 * Per chain, the rules are:
 *   not running anywhere            -> create volume, write config, create container, start
 *   config hash label differs       -> write config, remove container, create, start
 *   created but never started       -> start
 *   exited (crashed or killed)      -> start again after a backoff of base * 2^(failures-1),
 *                                      capped; failures reset after `stable_ms` of running
 *   running                         -> nothing
 *   two containers for one chain    -> remove the extra (a crash mid-create can leave one)
 *   container of an unassigned chain-> remove it; its volume stays (the chain may come back)
 *   chain deleted on the manager    -> remove container and volume
 */
#ifndef COHORT_CORE_RECONCILE_H
#define COHORT_CORE_RECONCILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RECONCILE_MAX 256 /* subnodes, containers or volumes considered in one plan */
#define CHAIN_NAME_MAX 64
#define CONFIG_HASH_MAX 67

/* A chain's name, as a type so lists of names can be passed as const arrays. */
struct chain_name {
    char name[CHAIN_NAME_MAX];
};

struct desired_subnode {
    char chain[CHAIN_NAME_MAX];
    unsigned first_slot, slot_count;
    char config_hash[CONFIG_HASH_MAX];
    bool recreate; /* replace the container even if its config is current: it runs an old image (upgrade) */
};

enum observed_state { OBSERVED_CREATED, OBSERVED_RUNNING, OBSERVED_EXITED };

struct observed_container {
    char id[80];
    char chain[CHAIN_NAME_MAX];          /* label cohort.chain */
    char config_hash[CONFIG_HASH_MAX];   /* label cohort.config-hash */
    enum observed_state state;
    int exit_code;
};

/* Per-chain memory of the reconciler, owned by the caller, updated by the plan. */
struct restart_record {
    char chain[CHAIN_NAME_MAX];
    unsigned restarts;             /* starts after a crash, ever: for /metrics */
    unsigned failures;             /* crashes since it last ran stably */
    int64_t next_start_ms;         /* 0: no restart pending */
    int64_t running_since_ms;      /* 0: not seen running */
};

struct reconcile_state {
    struct restart_record records[RECONCILE_MAX];
    size_t nrecords;
};

struct reconcile_input {
    const struct desired_subnode *desired;
    size_t ndesired;
    const struct chain_name *deleted; /* chains deleted on the manager */
    size_t ndeleted;
    const struct observed_container *containers;
    size_t ncontainers;
    const struct chain_name *volumes; /* chains whose data volume exists */
    size_t nvolumes;
    int64_t now_ms;
    int64_t backoff_base_ms;  /* default 1000 */
    int64_t backoff_max_ms;   /* default 300000 */
    int64_t stable_ms;        /* default 60000 */
};

enum action_kind {
    ACTION_CREATE_VOLUME,
    ACTION_WRITE_CONFIG,
    ACTION_CREATE_CONTAINER,
    ACTION_START,
    ACTION_REMOVE_CONTAINER,
    ACTION_REMOVE_VOLUME,
};

struct action {
    enum action_kind kind;
    char chain[CHAIN_NAME_MAX];
    char container_id[80]; /* for START and REMOVE_CONTAINER of an existing container */
    bool is_restart;       /* a START after a crash */
};

struct reconcile_plan {
    struct action actions[4 * RECONCILE_MAX];
    size_t nactions;
    int64_t wake_at_ms; /* the earliest pending restart, or 0: when to plan again at the latest */
};

/* Returns a static name of an action kind ("create-volume", ...). */
const char *action_name(enum action_kind kind);

/*
 * Plans the actions for in, updating state's records (crash counts, backoff times). Every
 * list in `in` is at most RECONCILE_MAX long (asserted). plan is caller-owned.
 */
void reconcile(const struct reconcile_input *in, struct reconcile_state *state, struct reconcile_plan *plan);

/* The record of chain in state, or NULL. */
const struct restart_record *reconcile_record(const struct reconcile_state *state, const char *chain);

#endif
