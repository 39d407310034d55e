/* cluster.c - the cluster file (config.h, part 2). */
#include "config/config.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/secp.h"

#define DOMAIN "core"

#define BAD(...) cohort_error_set(err, COMMON_E_INVALID, DOMAIN, "cluster file: " __VA_ARGS__)

static int parse_u64(const cJSON *v, const char *name, uint64_t max, uint64_t *out, struct cohort_error *err)
{
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > (double)max ||
        v->valuedouble != (double)(uint64_t)v->valuedouble)
        return BAD("%s must be a whole number up to %llu", name, (unsigned long long)max);
    *out = (uint64_t)v->valuedouble;
    return 0;
}

static int parse_address(const cJSON *v, const char *where, unsigned i, uint8_t out[20], struct cohort_error *err)
{
    struct cohort_error e = {0};
    if (!cJSON_IsString(v)) return BAD("%s %u: address must be a string", where, i);
    if (address_parse(v->valuestring, out, &e) < 0)
        return cohort_error_set(err, COMMON_E_INVALID, DOMAIN, "cluster file: %s %u: address: %s", where, i, e.message);
    return 0;
}

int cluster_parse(const char *text, size_t len, struct cluster *out, struct cohort_error *err)
{
    memset(out, 0, sizeof *out);
    out->timeout_ms = 300;
    out->snapshot_every = CLUSTER_SNAPSHOT_EVERY_DEFAULT;
    out->fill_wait_ms = CLUSTER_FILL_WAIT_MS_DEFAULT;
    bool have_fill_wait = false;
    if (len > CLUSTER_FILE_MAX_BYTES)
        return cohort_error_set(err, COMMON_E_RANGE, DOMAIN, "cluster file: %zu bytes, over the cap of %u", len,
                                CLUSTER_FILE_MAX_BYTES);
    cJSON *root = cJSON_ParseWithLength(text, len);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return cohort_error_set(err, COMMON_E_INVALID, DOMAIN, "cluster file: not a JSON object");
    }
    int rc = 0;
    bool have_instance = false, have_members = false;
    const cJSON *item;
    cJSON_ArrayForEach(item, root)
    {
        const char *k = item->string;
        if (strcmp(k, "instance") == 0) {
            rc = parse_u64(item, "instance", (1ull << 53), &out->instance, err);
            have_instance = true;
        } else if (strcmp(k, "timeout_ms") == 0) {
            uint64_t t;
            rc = parse_u64(item, "timeout_ms", 60000, &t, err);
            if (rc == 0 && t < 20) rc = BAD("timeout_ms must be at least 20");
            out->timeout_ms = (uint32_t)t;
        } else if (strcmp(k, "snapshot_every") == 0) {
            uint64_t e;
            rc = parse_u64(item, "snapshot_every", 10000000, &e, err);
            if (rc == 0 && e < 16) rc = BAD("snapshot_every must be at least 16");
            out->snapshot_every = (uint32_t)e;
        } else if (strcmp(k, "fill_wait_ms") == 0) {
            uint64_t w;
            rc = parse_u64(item, "fill_wait_ms", 10000, &w, err);
            out->fill_wait_ms = (uint32_t)w;
            have_fill_wait = true;
        } else if (strcmp(k, "members") == 0) {
            have_members = true;
            if (!cJSON_IsArray(item)) {
                rc = BAD("members must be an array");
                break;
            }
            int n = cJSON_GetArraySize(item);
            if (n < 4 || n > BFT_MEMBERS_MAX) {
                rc = cohort_error_set(err, COMMON_E_RANGE, DOMAIN,
                                      "cluster file: %d members; a cluster has 4 to %d (n = 3f+1 tolerates f faulty)", n,
                                      BFT_MEMBERS_MAX);
                break;
            }
            const cJSON *m;
            cJSON_ArrayForEach(m, item)
            {
                unsigned i = out->count;
                if (!cJSON_IsObject(m)) {
                    rc = BAD("member %u is not an object", i);
                    break;
                }
                const cJSON *f;
                bool have_address = false, have_endpoint = false;
                cJSON_ArrayForEach(f, m)
                {
                    if (strcmp(f->string, "address") == 0) {
                        rc = parse_address(f, "member", i, out->address[i], err);
                        have_address = true;
                    } else if (strcmp(f->string, "endpoint") == 0) {
                        char ip[16];
                        uint16_t port;
                        struct cohort_error e = {0};
                        if (!cJSON_IsString(f)) rc = BAD("member %u: endpoint must be a string", i);
                        else if (bft_endpoint_parse(f->valuestring, ip, &port, &e) < 0)
                            rc = cohort_error_set(err, COMMON_E_INVALID, DOMAIN, "cluster file: member %u: %s", i,
                                                  e.message);
                        else snprintf(out->endpoint[i], sizeof out->endpoint[i], "%s", f->valuestring);
                        have_endpoint = true;
                    } else {
                        rc = cohort_error_set(err, COMMON_E_INVALID, DOMAIN,
                                              "cluster file: member %u: unknown key '%s' (address, endpoint)", i,
                                              f->string);
                    }
                    if (rc < 0) break;
                }
                if (rc == 0 && (!have_address || !have_endpoint))
                    rc = BAD("member %u needs both address and endpoint", i);
                if (rc < 0) break;
                for (unsigned j = 0; j < i && rc == 0; j++) {
                    if (memcmp(out->address[j], out->address[i], 20) == 0)
                        rc = cohort_error_set(err, COMMON_E_INVALID, DOMAIN,
                                              "cluster file: members %u and %u have the same address", j, i);
                    else if (strcmp(out->endpoint[j], out->endpoint[i]) == 0)
                        rc = cohort_error_set(err, COMMON_E_INVALID, DOMAIN,
                                              "cluster file: members %u and %u have the same endpoint %s", j, i,
                                              out->endpoint[i]);
                }
                if (rc < 0) break;
                out->count++;
            }
        } else if (strcmp(k, "admins") == 0) {
            if (!cJSON_IsArray(item) || cJSON_GetArraySize(item) > CLUSTER_ADMINS_MAX) {
                rc = BAD("admins must be an array of at most %d addresses", CLUSTER_ADMINS_MAX);
                break;
            }
            const cJSON *a;
            cJSON_ArrayForEach(a, item)
            {
                if ((rc = parse_address(a, "admin", out->nadmins, out->admin[out->nadmins], err)) < 0) break;
                out->nadmins++;
            }
        } else {
            rc = cohort_error_set(err, COMMON_E_INVALID, DOMAIN,
                                  "cluster file: unknown key '%s' (instance, timeout_ms, snapshot_every, fill_wait_ms, "
                                  "members, admins)",
                                  k);
        }
        if (rc < 0) break;
    }
    cJSON_Delete(root);
    if (rc < 0) return rc;
    if (!have_instance) return BAD("missing \"instance\"");
    if (!have_members) return BAD("missing \"members\"");
    /* A wait for a block to fill stays well under the idle leader's delay (timeout_ms / 6). */
    uint32_t fill_cap = out->timeout_ms / 10;
    if (out->fill_wait_ms > fill_cap) {
        if (have_fill_wait) return BAD("fill_wait_ms must be at most timeout_ms / 10 (%u here)", fill_cap);
        out->fill_wait_ms = fill_cap;
    }
    return 0;
}

int cluster_load(const char *path, struct cluster *out, struct cohort_error *err)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) return cohort_error_errno(err, COMMON_E_IO, DOMAIN, errno, "cluster file %s", path);
    char *text = malloc(CLUSTER_FILE_MAX_BYTES + 1);
    size_t len = text ? fread(text, 1, CLUSTER_FILE_MAX_BYTES + 1, f) : 0;
    fclose(f);
    if (text == NULL) return cohort_error_set(err, COMMON_E_NOMEM, DOMAIN, "cluster file: out of memory");
    int rc = cluster_parse(text, len, out, err);
    free(text);
    if (rc < 0) return cohort_error_wrap(err, "%s", path);
    return 0;
}

int cluster_member_index(const struct cluster *cluster, const uint8_t address[20])
{
    for (uint32_t i = 0; i < cluster->count; i++)
        if (memcmp(cluster->address[i], address, 20) == 0) return (int)i;
    return -1;
}
