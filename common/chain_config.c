/* chain_config.c - the chain config's JSON form, strict both ways (see chain_config.h). */
#include "chain_config.h"

#include <assert.h>
#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hex.h"
#include "keccak.h"

#define DOMAIN "common"
#define PORTS_PER_SLOT 8 /* core/slots.h: each slot owns 8 ports above the base */

bool chain_name_valid(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n >= CHAIN_CONFIG_NAME_MAX || name[0] == '-' || name[n - 1] == '-') return false;
    for (size_t i = 0; i < n; i++)
        if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9') || name[i] == '-')) return false;
    return true;
}

__attribute__((format(printf, 2, 3))) static int bad(struct cohort_error *err, const char *fmt, ...)
{
    char message[COHORT_ERROR_MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    return cohort_error_set(err, COMMON_E_INVALID, DOMAIN, "%s", message);
}

int chain_config_validate(const struct chain_config *c, struct cohort_error *err)
{
    char detail[96];
    if (c->version != CHAIN_CONFIG_VERSION) {
        snprintf(detail, sizeof detail, "%u", c->version);
        return bad(err, "chain config: version %s is not 1; upgrade cohort-subnode", detail);
    }
    if (!chain_name_valid(c->name)) return bad(err, "chain config: chain name '%s' is not [a-z0-9-], 1..63", c->name);
    if (c->slots != 1 && c->slots != 16 && c->slots != 128) {
        snprintf(detail, sizeof detail, "%u", c->slots);
        return bad(err, "chain config: slots %s is not 1, 16 or 128", detail);
    }
    if (c->nmembers == 0 || c->nmembers > CHAIN_CONFIG_MAX_MEMBERS) return bad(err, "chain config: %s", "no members, or more than 64");
    if (c->member_index >= c->nmembers || c->members[c->member_index].node_id != c->node_id)
        return bad(err, "chain config: %s", "this node is not the member at member.index");
    for (unsigned i = 0; i < c->nmembers; i++) {
        const struct chain_member *m = &c->members[i];
        for (unsigned j = 0; j < i; j++)
            if (c->members[j].node_id == m->node_id) {
                snprintf(detail, sizeof detail, "%llu", (unsigned long long)m->node_id);
                return bad(err, "chain config: node %s is listed twice", detail);
            }
        if (m->first_slot + c->slots > 128 || m->base_port == 0 ||
            (uint32_t)m->base_port + (m->first_slot + c->slots) * PORTS_PER_SLOT - 1 > 65535) {
            snprintf(detail, sizeof detail, "%llu", (unsigned long long)m->node_id);
            return bad(err, "chain config: member %s has slots or ports out of range", detail);
        }
    }
    if (c->genesis_gas_limit < 5000) return bad(err, "chain config: %s", "genesis gas limit below 5000");
    if (c->nalloc > CHAIN_CONFIG_MAX_ALLOC) return bad(err, "chain config: %s", "more than 256 genesis allocations");
    return 0;
}

static cJSON *hex_string(const uint8_t *data, size_t len)
{
    char text[2 * 64 + 3];
    assert(len <= 64);
    hex_encode(data, len, text, sizeof text);
    return cJSON_CreateString(text);
}

int chain_config_encode(const struct chain_config *c, char **json, struct cohort_error *err)
{
    int rc = chain_config_validate(c, err);
    if (rc < 0) return rc;
    const char *size = c->slots == 1 ? "small" : c->slots == 16 ? "medium" : "large";
    cJSON *root = cJSON_CreateObject();
    cJSON_AddNumberToObject(root, "version", c->version);
    cJSON *chain = cJSON_AddObjectToObject(root, "chain");
    cJSON_AddStringToObject(chain, "name", c->name);
    cJSON_AddNumberToObject(chain, "id", (double)c->chain_id);
    cJSON_AddNumberToObject(chain, "evm_chain_id", (double)c->evm_chain_id);
    cJSON_AddStringToObject(chain, "size", size);
    cJSON_AddNumberToObject(chain, "slots", c->slots);
    if (c->epoch != 0) cJSON_AddNumberToObject(chain, "epoch", c->epoch); /* absent: 0, the first */
    cJSON *manager = cJSON_AddObjectToObject(root, "manager");
    cJSON_AddNumberToObject(manager, "chain_id", (double)c->manager_chain_id);
    cJSON_AddItemToObject(manager, "address", hex_string(c->manager_address, 20));
    cJSON *member = cJSON_AddObjectToObject(root, "member");
    cJSON_AddNumberToObject(member, "node_id", (double)c->node_id);
    cJSON_AddNumberToObject(member, "index", c->member_index);
    cJSON *members = cJSON_AddArrayToObject(root, "members");
    for (unsigned i = 0; i < c->nmembers; i++) {
        const struct chain_member *m = &c->members[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "node_id", (double)m->node_id);
        cJSON_AddStringToObject(o, "ip", m->ip);
        cJSON_AddNumberToObject(o, "base_port", m->base_port);
        cJSON_AddNumberToObject(o, "first_slot", m->first_slot);
        cJSON_AddItemToObject(o, "public_key", hex_string(m->public_key, 64));
        cJSON_AddItemToArray(members, o);
    }
    cJSON *genesis = cJSON_AddObjectToObject(root, "genesis");
    cJSON_AddNumberToObject(genesis, "timestamp", (double)c->genesis_timestamp);
    cJSON_AddNumberToObject(genesis, "gas_limit", (double)c->genesis_gas_limit);
    cJSON *alloc = cJSON_AddArrayToObject(genesis, "alloc");
    for (unsigned i = 0; i < c->nalloc; i++) {
        cJSON *o = cJSON_CreateObject();
        char balance[67];
        u256_to_hex(c->alloc[i].balance, balance, sizeof balance);
        cJSON_AddItemToObject(o, "address", hex_string(c->alloc[i].address, 20));
        cJSON_AddStringToObject(o, "balance", balance);
        cJSON_AddItemToArray(alloc, o);
    }
    cJSON *limits = cJSON_AddObjectToObject(root, "limits");
    cJSON_AddNumberToObject(limits, "disk_bytes", (double)c->disk_bytes);
    cJSON_AddNumberToObject(limits, "txpool_max_transactions", (double)c->txpool_max_transactions);
    cJSON_AddNumberToObject(limits, "txpool_max_bytes", (double)c->txpool_max_bytes);
    *json = cJSON_Print(root);
    cJSON_Delete(root);
    return *json ? 0 : cohort_error_set(err, COMMON_E_NOMEM, DOMAIN, "chain config: out of memory");
}

/* Reads a non-negative integer below 2^53 (where a JSON double is exact). */
static int get_uint(const cJSON *obj, const char *path, const char *key, uint64_t max, uint64_t *out,
                    struct cohort_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > (double)max ||
        v->valuedouble != (double)(uint64_t)v->valuedouble)
        return cohort_error_set(err, COMMON_E_INVALID, DOMAIN, "chain config: %s.%s is missing or not an integer in 0..%llu",
                                path, key, (unsigned long long)max);
    *out = (uint64_t)v->valuedouble;
    return 0;
}

static int get_hex(const cJSON *obj, const char *path, const char *key, uint8_t *out, size_t len, struct cohort_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsString(v) || hex_decode_exact(v->valuestring, out, len, NULL) < 0)
        return cohort_error_set(err, COMMON_E_INVALID, DOMAIN, "chain config: %s.%s is not 0x and %zu bytes of hex", path,
                                key, len);
    return 0;
}

static int get_string(const cJSON *obj, const char *path, const char *key, char *out, size_t size, struct cohort_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsString(v) || strlen(v->valuestring) >= size)
        return cohort_error_set(err, COMMON_E_INVALID, DOMAIN, "chain config: %s.%s is missing or too long", path, key);
    snprintf(out, size, "%s", v->valuestring);
    return 0;
}

#define MAX_SAFE 9007199254740991ull

static int decode(const cJSON *root, struct chain_config *c, struct cohort_error *err)
{
    uint64_t v;
    int rc;
    if ((rc = get_uint(root, "config", "version", 1000, &v, err)) < 0) return rc;
    c->version = (unsigned)v;
    if (c->version != CHAIN_CONFIG_VERSION) return chain_config_validate(c, err);
    const cJSON *chain = cJSON_GetObjectItemCaseSensitive(root, "chain");
    const cJSON *manager = cJSON_GetObjectItemCaseSensitive(root, "manager");
    const cJSON *member = cJSON_GetObjectItemCaseSensitive(root, "member");
    const cJSON *members = cJSON_GetObjectItemCaseSensitive(root, "members");
    const cJSON *genesis = cJSON_GetObjectItemCaseSensitive(root, "genesis");
    const cJSON *limits = cJSON_GetObjectItemCaseSensitive(root, "limits");
    if (!cJSON_IsObject(chain) || !cJSON_IsObject(manager) || !cJSON_IsObject(member) || !cJSON_IsArray(members) ||
        !cJSON_IsObject(genesis) || !cJSON_IsObject(limits))
        return cohort_error_set(err, COMMON_E_INVALID, DOMAIN,
                                "chain config: needs the objects chain, manager, member, genesis, limits and the array members");
    if ((rc = get_string(chain, "chain", "name", c->name, sizeof c->name, err)) < 0 ||
        (rc = get_uint(chain, "chain", "id", MAX_SAFE, &c->chain_id, err)) < 0 ||
        (rc = get_uint(chain, "chain", "evm_chain_id", MAX_SAFE, &c->evm_chain_id, err)) < 0 ||
        (rc = get_uint(chain, "chain", "slots", 128, &v, err)) < 0)
        return rc;
    c->slots = (unsigned)v;
    if (cJSON_GetObjectItemCaseSensitive(chain, "epoch") != NULL) {
        if ((rc = get_uint(chain, "chain", "epoch", UINT32_MAX, &v, err)) < 0) return rc;
        c->epoch = (uint32_t)v;
    }
    if ((rc = get_uint(manager, "manager", "chain_id", MAX_SAFE, &c->manager_chain_id, err)) < 0 ||
        (rc = get_hex(manager, "manager", "address", c->manager_address, 20, err)) < 0 ||
        (rc = get_uint(member, "member", "node_id", MAX_SAFE, &c->node_id, err)) < 0 ||
        (rc = get_uint(member, "member", "index", CHAIN_CONFIG_MAX_MEMBERS, &v, err)) < 0)
        return rc;
    c->member_index = (unsigned)v;
    if (cJSON_GetArraySize(members) > CHAIN_CONFIG_MAX_MEMBERS)
        return cohort_error_set(err, COMMON_E_INVALID, DOMAIN, "chain config: more than %d members", CHAIN_CONFIG_MAX_MEMBERS);
    const cJSON *m;
    cJSON_ArrayForEach(m, members)
    {
        struct chain_member *out = &c->members[c->nmembers];
        if ((rc = get_uint(m, "members[]", "node_id", MAX_SAFE, &out->node_id, err)) < 0 ||
            (rc = get_string(m, "members[]", "ip", out->ip, sizeof out->ip, err)) < 0 ||
            (rc = get_uint(m, "members[]", "base_port", 65535, &v, err)) < 0)
            return rc;
        out->base_port = (uint16_t)v;
        if ((rc = get_uint(m, "members[]", "first_slot", 127, &v, err)) < 0 ||
            (rc = get_hex(m, "members[]", "public_key", out->public_key, 64, err)) < 0)
            return rc;
        out->first_slot = (unsigned)v;
        c->nmembers++;
    }
    if ((rc = get_uint(genesis, "genesis", "timestamp", MAX_SAFE, &c->genesis_timestamp, err)) < 0 ||
        (rc = get_uint(genesis, "genesis", "gas_limit", MAX_SAFE, &c->genesis_gas_limit, err)) < 0)
        return rc;
    const cJSON *alloc = cJSON_GetObjectItemCaseSensitive(genesis, "alloc");
    if (!cJSON_IsArray(alloc) || cJSON_GetArraySize(alloc) > CHAIN_CONFIG_MAX_ALLOC)
        return cohort_error_set(err, COMMON_E_INVALID, DOMAIN, "chain config: genesis.alloc is not an array of at most %d",
                                CHAIN_CONFIG_MAX_ALLOC);
    const cJSON *a;
    cJSON_ArrayForEach(a, alloc)
    {
        struct chain_alloc *out = &c->alloc[c->nalloc];
        const cJSON *balance = cJSON_GetObjectItemCaseSensitive(a, "balance");
        if ((rc = get_hex(a, "genesis.alloc[]", "address", out->address, 20, err)) < 0) return rc;
        if (!cJSON_IsString(balance) || u256_from_hex(balance->valuestring, &out->balance, NULL) < 0)
            return cohort_error_set(err, COMMON_E_INVALID, DOMAIN, "chain config: genesis.alloc[].balance is not a hex quantity");
        c->nalloc++;
    }
    if ((rc = get_uint(limits, "limits", "disk_bytes", MAX_SAFE, &c->disk_bytes, err)) < 0 ||
        (rc = get_uint(limits, "limits", "txpool_max_transactions", MAX_SAFE, &c->txpool_max_transactions, err)) < 0 ||
        (rc = get_uint(limits, "limits", "txpool_max_bytes", MAX_SAFE, &c->txpool_max_bytes, err)) < 0)
        return rc;
    return chain_config_validate(c, err);
}

int chain_config_decode(const char *json, size_t len, struct chain_config *c, struct cohort_error *err)
{
    memset(c, 0, sizeof *c);
    if (len > CHAIN_CONFIG_MAX_BYTES)
        return cohort_error_set(err, COMMON_E_RANGE, DOMAIN, "chain config: %zu bytes is over the %u cap", len,
                                CHAIN_CONFIG_MAX_BYTES);
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return cohort_error_set(err, COMMON_E_INVALID, DOMAIN, "chain config: not a JSON object");
    }
    int rc = decode(root, c, err);
    cJSON_Delete(root);
    return rc;
}

void chain_config_hash(const char *json, size_t len, char out[67])
{
    uint8_t digest[32];
    keccak256(json, len, digest);
    hex_encode(digest, 32, out, 67);
}

void chain_subnode_cert_digest(const struct chain_config *config, uint64_t node_id, const uint8_t subnode_address[20],
                               uint8_t out[32])
{
    static const char domain[] = "cohort-subnode-v1"; /* 17 bytes, no NUL */
    uint8_t buf[sizeof domain - 1 + 8 + 20 + 8 + 8 + 20];
    uint8_t *p = buf;
    memcpy(p, domain, sizeof domain - 1);
    p += sizeof domain - 1;
    for (int i = 7; i >= 0; i--) *p++ = (uint8_t)(config->manager_chain_id >> (8 * i));
    memcpy(p, config->manager_address, 20);
    p += 20;
    for (int i = 7; i >= 0; i--) *p++ = (uint8_t)(config->chain_id >> (8 * i));
    for (int i = 7; i >= 0; i--) *p++ = (uint8_t)(node_id >> (8 * i));
    memcpy(p, subnode_address, 20);
    p += 20;
    assert(p == buf + sizeof buf);
    keccak256(buf, sizeof buf, out);
}
