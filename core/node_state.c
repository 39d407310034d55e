/* node_state.c - the state a cohort-core keeps about itself (see node_state.h). */
#include "node_state.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "common/hex.h"
#include "manager-client/manager_client.h"

#define DOMAIN "core"
#define FILE_MAX_BYTES 4096

static void path_of(const char *state_dir, char *out, size_t size)
{
    snprintf(out, size, "%s/%s", state_dir, NODE_STATE_FILE);
}

static bool valid_id(const char *id)
{
    if (strlen(id) != NODE_INSTALL_ID_CHARS) return false;
    for (const char *c = id; *c; c++)
        if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f'))) return false;
    return true;
}

int node_state_read(const char *state_dir, struct node_state *out, struct cohort_error *err)
{
    char path[1100];
    path_of(state_dir, path, sizeof path);
    FILE *f = fopen(path, "r");
    if (f == NULL) return cohort_error_errno(err, COMMON_E_IO, DOMAIN, errno, "node state %s", path);
    char text[FILE_MAX_BYTES + 1];
    size_t len = fread(text, 1, FILE_MAX_BYTES + 1, f);
    fclose(f);
    if (len > FILE_MAX_BYTES)
        return cohort_error_set(err, COMMON_E_RANGE, DOMAIN, "node state %s is larger than %d bytes", path,
                                FILE_MAX_BYTES);
    cJSON *root = cJSON_ParseWithLength(text, len);
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(root, "install_id");
    const cJSON *disk = cJSON_GetObjectItemCaseSensitive(root, "disk_bytes");
    int rc = 0;
    if (!cJSON_IsString(id) || !valid_id(id->valuestring) || !cJSON_IsNumber(disk) || disk->valuedouble < 0)
        rc = cohort_error_set(err, COMMON_E_INVALID, DOMAIN,
                              "node state %s is not {\"install_id\": 16 hex digits, \"disk_bytes\": N}: restore it "
                              "(its install id names this node's containers)",
                              path);
    if (rc == 0) {
        memcpy(out->install_id, id->valuestring, NODE_INSTALL_ID_CHARS + 1);
        out->disk_bytes = (uint64_t)disk->valuedouble;
    }
    cJSON_Delete(root);
    return rc;
}

int node_state_open(const char *state_dir, uint64_t measured_disk_bytes, struct node_state *out, bool *created,
                    struct cohort_error *err)
{
    if (created) *created = false;
    char path[1100];
    path_of(state_dir, path, sizeof path);
    FILE *f = fopen(path, "r");
    if (f != NULL) {
        fclose(f);
        return node_state_read(state_dir, out, err);
    }
    if (errno != ENOENT) return cohort_error_errno(err, COMMON_E_IO, DOMAIN, errno, "node state %s", path);
    uint8_t random[NODE_INSTALL_ID_CHARS / 2];
    if (getrandom(random, sizeof random, 0) != (ssize_t)sizeof random)
        return cohort_error_errno(err, COMMON_E_IO, DOMAIN, errno, "getrandom for the install id");
    char hex[NODE_INSTALL_ID_CHARS + 3];
    hex_encode(random, sizeof random, hex, sizeof hex);
    memcpy(out->install_id, hex + 2, NODE_INSTALL_ID_CHARS + 1);
    out->disk_bytes = measured_disk_bytes;
    char text[256];
    int n = snprintf(text, sizeof text, "{\"install_id\": \"%s\", \"disk_bytes\": %llu}\n", out->install_id,
                     (unsigned long long)out->disk_bytes);
    int rc = mc_write_file_atomic(path, text, (size_t)n, 0600, err);
    if (rc < 0) return cohort_error_wrap(err, "node state");
    if (created) *created = true;
    return 0;
}
