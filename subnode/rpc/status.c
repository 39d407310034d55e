/* status.c - the subnode's status document. */
#include "status.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <unistd.h>

bool subnode_accepting_transactions(const struct subnode_status *s)
{
    return s->over_budget_path[0] == '\0' || access(s->over_budget_path, F_OK) != 0;
}

char *subnode_status_json(const struct subnode_status *s, int64_t now_ms)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "health", s->config_ok ? "ok" : "refused");
    cJSON_AddStringToObject(o, "version", COHORT_VERSION);
    cJSON_AddNumberToObject(o, "uptime_s", (double)((now_ms - s->started_ms) / 1000));
    if (s->config_hash[0]) cJSON_AddStringToObject(o, "config_hash", s->config_hash);
    /* No chain runs in the subnode yet (docs/STATUS.md), so it takes no transactions whatever
       its config and disk budget say; the chain will set this from its own state. over_budget
       is cohort-core's flag, which will stop it taking them. */
    bool chain_running = false;
    cJSON_AddBoolToObject(o, "accepting_transactions", chain_running && s->config_ok && subnode_accepting_transactions(s));
    cJSON_AddBoolToObject(o, "over_budget", !subnode_accepting_transactions(s));
    if (!s->config_ok) {
        cJSON_AddStringToObject(o, "reason", s->reason);
    } else {
        const struct chain_config *c = &s->config;
        cJSON_AddStringToObject(o, "chain", c->name);
        cJSON_AddNumberToObject(o, "chain_id", (double)c->chain_id);
        cJSON_AddNumberToObject(o, "evm_chain_id", (double)c->evm_chain_id);
        cJSON_AddNumberToObject(o, "node_id", (double)c->node_id);
        cJSON_AddNumberToObject(o, "member_index", c->member_index);
        cJSON_AddNumberToObject(o, "first_slot", c->members[c->member_index].first_slot);
        cJSON_AddNumberToObject(o, "slots", c->slots);
        cJSON *members = cJSON_AddArrayToObject(o, "members");
        for (unsigned i = 0; i < c->nmembers; i++) {
            cJSON *m = cJSON_CreateObject();
            cJSON_AddNumberToObject(m, "node_id", (double)c->members[i].node_id);
            char endpoint[40];
            snprintf(endpoint, sizeof endpoint, "%s:%u", c->members[i].ip,
                     (unsigned)(c->members[i].base_port + c->members[i].first_slot * 8));
            cJSON_AddStringToObject(m, "endpoint", endpoint);
            cJSON_AddItemToArray(members, m);
        }
    }
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return text;
}
