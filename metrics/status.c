/* status.c - decodes a subnode's GET /status body (format in metrics.h). */
#include <cjson/cJSON.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

#define MAX_DEPTH 8 /* /status nests 3 deep; cJSON recurses, so deeper input is refused before it parses */

/* Nesting depth of JSON text, by an iterative scan that skips strings; -1 past MAX_DEPTH. */
static int json_depth(const char *s, size_t len)
{
    int depth = 0, deepest = 0;
    bool in_string = false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (in_string) {
            if (c == '\\') i++;
            else if (c == '"') in_string = false;
            continue;
        }
        if (c == '"') in_string = true;
        else if (c == '{' || c == '[') {
            if (++depth > MAX_DEPTH) return -1;
            if (depth > deepest) deepest = depth;
        } else if (c == '}' || c == ']') depth--;
    }
    return deepest;
}

/* A non-negative integral number below 2^53 (what JSON carries exactly), or false. */
static bool figure(const cJSON *o, const char *key, uint64_t *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v)) return false;
    double d = v->valuedouble;
    if (!(d >= 0) || d > 9007199254740992.0 || d != floor(d)) return false;
    *out = (uint64_t)d;
    return true;
}

int metrics_parse_subnode_status(const char *json, size_t len, struct metrics_subnode_status *out,
                                 struct cohort_error *err)
{
    memset(out, 0, sizeof *out);
    if (len > METRICS_STATUS_MAX_BYTES)
        return cohort_error_set(err, METRICS_E_TOO_LARGE, DOMAIN, "/status: %zu bytes, more than %u", len,
                                METRICS_STATUS_MAX_BYTES);
    if (json_depth(json, len) < 0)
        return cohort_error_set(err, METRICS_E_MALFORMED, DOMAIN, "/status: JSON nested deeper than %d", MAX_DEPTH);
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return cohort_error_set(err, METRICS_E_MALFORMED, DOMAIN, "/status: not a JSON object");
    }
    const cJSON *health = cJSON_GetObjectItemCaseSensitive(root, "health");
    out->health_ok = cJSON_IsString(health) && strcmp(health->valuestring, "ok") == 0;
    const cJSON *hash = cJSON_GetObjectItemCaseSensitive(root, "config_hash");
    if (cJSON_IsString(hash) && strlen(hash->valuestring) < sizeof out->config_hash)
        snprintf(out->config_hash, sizeof out->config_hash, "%s", hash->valuestring);
    /* The chain's figures: "chain" may be the name (older subnodes) or the object; take the
       first object of that key. */
    const cJSON *chain = NULL;
    for (const cJSON *item = root->child; item != NULL; item = item->next)
        if (item->string && strcmp(item->string, "chain") == 0 && cJSON_IsObject(item)) {
            chain = item;
            break;
        }
    if (chain) {
        static const struct {
            const char *key;
            unsigned bit;
            size_t offset;
        } fields[] = {
            {"height", METRICS_CHAIN_HEIGHT, offsetof(struct metrics_subnode_status, height)},
            {"last_block_timestamp_ms", METRICS_CHAIN_LAST_BLOCK_TIMESTAMP,
             offsetof(struct metrics_subnode_status, last_block_timestamp_ms)},
            {"gas_used_total", METRICS_CHAIN_GAS_USED, offsetof(struct metrics_subnode_status, gas_used_total)},
            {"transactions_total", METRICS_CHAIN_TRANSACTIONS, offsetof(struct metrics_subnode_status, transactions_total)},
            {"txpool_pending", METRICS_CHAIN_TXPOOL_PENDING, offsetof(struct metrics_subnode_status, txpool_pending)},
            {"txpool_queued", METRICS_CHAIN_TXPOOL_QUEUED, offsetof(struct metrics_subnode_status, txpool_queued)},
            {"peers_connected", METRICS_CHAIN_PEERS, offsetof(struct metrics_subnode_status, peers_connected)},
            {"view", METRICS_CHAIN_VIEW, offsetof(struct metrics_subnode_status, view)},
            {"consensus_members", METRICS_CHAIN_MEMBERS, offsetof(struct metrics_subnode_status, consensus_members)},
        };
        const cJSON *stalled = cJSON_GetObjectItemCaseSensitive(chain, "stalled");
        if (cJSON_IsBool(stalled)) {
            out->stalled = cJSON_IsTrue(stalled);
            out->present |= METRICS_CHAIN_STALLED;
        }
        for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
            uint64_t v;
            if (figure(chain, fields[i].key, &v)) {
                memcpy((char *)out + fields[i].offset, &v, sizeof v);
                out->present |= fields[i].bit;
            }
        }
    }
    cJSON_Delete(root);
    return 0;
}
