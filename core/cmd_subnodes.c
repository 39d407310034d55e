/* cmd_subnodes.c - `cohort subnodes`: the subnodes of the local cohort-core, as a table or JSON. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd_common.h"
#include "commands.h"

static const char *number_text(const cJSON *o, const char *key, char *buf, size_t size)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v)) return NULL;
    snprintf(buf, size, "%.0f", v->valuedouble);
    return buf;
}

static const char *mib_text(const cJSON *o, const char *key, char *buf, size_t size)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v)) return NULL;
    snprintf(buf, size, "%.0f", v->valuedouble / (1024.0 * 1024.0));
    return buf;
}

int cmd_subnodes(const struct cli_command *self, int argc, char **argv, struct cli_globals *g)
{
    (void)self;
    const char *api = "http://127.0.0.1:9100";
    const struct cli_flag flags[] = {{.name = "api", .takes_value = true, .value = &api}, {.name = NULL}};
    int rc = cli_parse_flags(argc, argv, flags, NULL, 0, NULL, g);
    if (rc != 0) return rc;
    char url[1024];
    snprintf(url, sizeof url, "%s/api/v1/subnodes", api);
    long status = 0;
    char *text = api_call(url, NULL, 5000, g, &status, &rc);
    if (text == NULL) return rc;
    if (status != 200) {
        free(text);
        return cli_fail(g, COHORT_EXIT_FAILURE, "cohort-core answered HTTP %ld for %s", status, url);
    }
    cJSON *array = cJSON_Parse(text);
    free(text);
    if (!cJSON_IsArray(array)) {
        cJSON_Delete(array);
        return cli_fail(g, COHORT_EXIT_FAILURE, "cohort-core's answer from %s is not a JSON array", url);
    }
    if (g->json) { /* the API's vocabulary, every field: scripts see what the API says */
        print_json(g, array);
        cJSON_Delete(array);
        return COHORT_EXIT_OK;
    }
    /* For people: the API's field names, in MiB where the API counts bytes. */
    const char *columns[] = {"chain", "state", "first_slot", "slots", "rpc_port", "cpu_shares", "memory_mib",
                             "restarts", "disk_used_mib", "last_error"};
    struct cli_table *t = cli_table_new(10, columns);
    for (size_t i = 1; i < 9; i++) cli_table_set_numeric(t, i);
    const cJSON *o;
    cJSON_ArrayForEach(o, array)
    {
        const cJSON *limits = cJSON_GetObjectItemCaseSensitive(o, "limits");
        char slot[24], slots[24], port[24], shares[24], memory[24], restarts[24], disk[24];
        const cJSON *chain = cJSON_GetObjectItemCaseSensitive(o, "chain");
        const cJSON *state = cJSON_GetObjectItemCaseSensitive(o, "state");
        const cJSON *error = cJSON_GetObjectItemCaseSensitive(o, "last_error");
        const char *row[10] = {
            cJSON_IsString(chain) ? chain->valuestring : NULL,
            cJSON_IsString(state) ? state->valuestring : NULL,
            number_text(o, "first_slot", slot, sizeof slot),
            number_text(o, "slots", slots, sizeof slots),
            number_text(o, "rpc_port", port, sizeof port),
            number_text(limits, "cpu_shares", shares, sizeof shares),
            mib_text(limits, "memory_bytes", memory, sizeof memory),
            number_text(o, "restarts", restarts, sizeof restarts),
            mib_text(o, "disk_used_bytes", disk, sizeof disk),
            cJSON_IsString(error) ? error->valuestring : NULL,
        };
        cli_table_add_row(t, row);
    }
    cli_table_print(t, g);
    cli_table_free(t);
    cJSON_Delete(array);
    return COHORT_EXIT_OK;
}
