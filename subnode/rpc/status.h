/*
 * status.h - the subnode's status: its config, and the chain it runs (or why it runs
 * none). Served as JSON on GET /status and as 200/503 on GET /healthz.
 */
#ifndef COHORT_SUBNODE_STATUS_H
#define COHORT_SUBNODE_STATUS_H

#include <stdbool.h>
#include <stdint.h>

#include "common/chain_config.h"

struct subnode_status {
    bool config_ok;
    char reason[512];             /* why the config was refused, or why the chain did not start */
    char config_hash[67];
    struct chain_config config;   /* valid when config_ok */
    int64_t started_ms;           /* CLOCK_MONOTONIC at start */
    char over_budget_path[4096];  /* cohort-core creates this file when the volume is over its disk budget */
    /* The running chain, when there is one: its figures (a JSON object's text, malloc'd)
       and whether it takes transactions now (not halted, under its disk budget). */
    void *chain;
    bool starting;                /* the chain is being started: its RPC server may answer before
                                     chain is set, and its health is "starting", not "failed" */
    char *(*chain_json)(void *chain);
    bool (*chain_accepting)(void *chain);
};

/* True while cohort-core's over-budget flag is absent. */
bool subnode_under_budget(const struct subnode_status *status);

/* True when the subnode runs its chain and the chain takes transactions. */
bool subnode_accepting_transactions(const struct subnode_status *status);

/* True when /healthz answers 200: the config accepted and the chain running, not halted. */
bool subnode_healthy(const struct subnode_status *status);

/* GET /status: the status as JSON (malloc'd). */
char *subnode_status_json(const struct subnode_status *status, int64_t now_ms);

#endif
