/*
 * status.h - the subnode's status: what it runs, and whether it accepted its config.
 * Served as JSON on GET /status and as 200/503 on GET /healthz.
 */
#ifndef COHORT_SUBNODE_STATUS_H
#define COHORT_SUBNODE_STATUS_H

#include <stdbool.h>
#include <stdint.h>

#include "common/chain_config.h"

struct subnode_status {
    bool config_ok;
    char reason[512];             /* why the config was refused */
    char config_hash[67];
    struct chain_config config;   /* valid when config_ok */
    int64_t started_ms;           /* CLOCK_MONOTONIC at start */
    char over_budget_path[4096];  /* cohort-core creates this file when the volume is over its disk budget */
};

/* True while cohort-core's over-budget flag is absent: the subnode takes new transactions. */
bool subnode_accepting_transactions(const struct subnode_status *status);

/* GET /status: the status as JSON (malloc'd). */
char *subnode_status_json(const struct subnode_status *status, int64_t now_ms);

#endif
