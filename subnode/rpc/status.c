/* status.c - the subnode's status document. */
#include "status.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

bool subnode_under_budget(const struct subnode_status *s)
{
    return s->over_budget_path[0] == '\0' || access(s->over_budget_path, F_OK) != 0;
}

bool subnode_accepting_transactions(const struct subnode_status *s)
{
    return s->config_ok && s->chain != NULL && subnode_under_budget(s) && s->chain_accepting(s->chain);
}

/* The chain's own figures, parsed back into the document (NULL when there is no chain). */
static cJSON *chain_figures(const struct subnode_status *s)
{
    if (s->chain == NULL) return NULL;
    char *text = s->chain_json(s->chain);
    cJSON *o = text ? cJSON_Parse(text) : NULL;
    free(text);
    return o;
}

bool subnode_healthy(const struct subnode_status *s)
{
    if (!s->config_ok || s->chain == NULL) return false;
    cJSON *figures = chain_figures(s);
    bool halted = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(figures, "halted"));
    cJSON_Delete(figures);
    return !halted;
}

char *subnode_status_json(const struct subnode_status *s, int64_t now_ms)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *figures = chain_figures(s);
    bool halted = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(figures, "halted"));
    const char *health = !s->config_ok       ? "refused"
                         : s->chain != NULL  ? (halted ? "halted" : "ok")
                         : s->starting       ? "starting"
                                             : "failed";
    cJSON_AddStringToObject(o, "health", health);
    cJSON_AddStringToObject(o, "version", COHORT_VERSION);
    cJSON_AddNumberToObject(o, "uptime_s", (double)((now_ms - s->started_ms) / 1000));
    if (s->config_hash[0]) cJSON_AddStringToObject(o, "config_hash", s->config_hash);
    cJSON_AddBoolToObject(o, "accepting_transactions", subnode_accepting_transactions(s));
    cJSON_AddBoolToObject(o, "over_budget", !subnode_under_budget(s));
    if (s->reason[0]) cJSON_AddStringToObject(o, "reason", s->reason);
    if (s->config_ok) {
        const struct chain_config *c = &s->config;
        cJSON_AddStringToObject(o, "chain_name", c->name);
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
                     chain_member_rpc_port(&c->members[i]));
            cJSON_AddStringToObject(m, "endpoint", endpoint);
            cJSON_AddItemToArray(members, m);
        }
    }
    if (figures) cJSON_AddItemToObject(o, "chain", figures);
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return text;
}
