/*
 * cmd_config.c - `cohort config get|put|del|watch|status`: the cluster's config store,
 * through the local cohort-core's API (config/config.h, part 3).
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_token.h"
#include "cmd_common.h"
#include "commands.h"

#define DEFAULT_API "http://127.0.0.1:9100"
#define WRITE_TIMEOUT_MS 30000L /* cohort-core answers within its commit timeout (15 s) */

/* Where the API is and how to prove the right to use it: --api and --token-file. */
struct api_target {
    const char *api;
    const char *token_file; /* NULL: found by api_token_path */
};

/*
 * POSTs body to path (GET without one); with_token: with the API's token, which the
 * store's data routes need. Returns the parsed answer, or NULL with the message printed
 * and *code set.
 */
static cJSON *call(struct cli_globals *g, const struct api_target *t, const char *path, bool with_token, cJSON *body,
                   long timeout_ms, int *code)
{
    char url[1024], token[API_TOKEN_HEX + 1] = "";
    snprintf(url, sizeof url, "%s%s", t->api, path);
    if (with_token) {
        char file[1100];
        struct cohort_error err = {0};
        api_token_path(t->token_file, file, sizeof file);
        if (api_token_read(file, token, &err) != 0) {
            *code = cli_fail(g, COHORT_EXIT_FAILURE, "%s", err.message);
            return NULL;
        }
    }
    char *text = body ? cJSON_PrintUnformatted(body) : NULL;
    long status = 0;
    char *answer = api_call_token(url, text, with_token ? token : NULL, timeout_ms, g, &status, code);
    explicit_bzero(token, sizeof token);
    free(text);
    if (answer == NULL) return NULL;
    cJSON *o = cJSON_Parse(answer);
    free(answer);
    const cJSON *error = cJSON_GetObjectItemCaseSensitive(o, "error");
    if (status == 404) {
        *code = cli_fail(g, COHORT_EXIT_FAILURE,
                         "cohort-core at %s runs no config store: start it with --cluster-file and --keystore", t->api);
    } else if (!cJSON_IsObject(o)) {
        *code = cli_fail(g, COHORT_EXIT_FAILURE, "cohort-core's answer from %s is not a JSON object (HTTP %ld)", url,
                         status);
    } else if (status == 401) {
        *code = cli_fail(g, COHORT_EXIT_FAILURE,
                         "cohort-core at %s refused the API token (%s): give the token file of that cohort-core "
                         "with --token-file, or its state dir with COHORT_STATE_DIR",
                         t->api, cJSON_IsString(error) ? error->valuestring : "HTTP 401");
    } else if (status != 200 || cJSON_IsString(error)) {
        *code = cli_fail(g, status == 503 || status == 504 ? COHORT_EXIT_UNAVAILABLE : COHORT_EXIT_FAILURE,
                         "config store: %s (HTTP %ld)", cJSON_IsString(error) ? error->valuestring : "failed", status);
    } else {
        return o;
    }
    cJSON_Delete(o);
    return NULL;
}

static double number(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

static bool parse_count(const char *text, unsigned long long *out)
{
    char *end = NULL;
    if (text == NULL || text[0] < '0' || text[0] > '9') return false;
    *out = strtoull(text, &end, 10);
    return *end == '\0';
}

static void print_kvs(struct cli_globals *g, const cJSON *kvs)
{
    const char *columns[] = {"key", "value", "mod_revision", "create_revision", "version"};
    struct cli_table *t = cli_table_new(5, columns);
    for (size_t i = 2; i < 5; i++) cli_table_set_numeric(t, i);
    const cJSON *kv;
    cJSON_ArrayForEach(kv, kvs)
    {
        char mod[24], create[24], version[24];
        snprintf(mod, sizeof mod, "%.0f", number(kv, "mod_revision"));
        snprintf(create, sizeof create, "%.0f", number(kv, "create_revision"));
        snprintf(version, sizeof version, "%.0f", number(kv, "version"));
        const cJSON *k = cJSON_GetObjectItemCaseSensitive(kv, "key"), *v = cJSON_GetObjectItemCaseSensitive(kv, "value");
        const char *row[5] = {cJSON_IsString(k) ? k->valuestring : NULL, cJSON_IsString(v) ? v->valuestring : NULL, mod,
                              create, version};
        cli_table_add_row(t, row);
    }
    cli_table_print(t, g);
    cli_table_free(t);
}

static const cJSON *first_kvs(const cJSON *answer)
{
    const cJSON *responses = cJSON_GetObjectItemCaseSensitive(answer, "responses");
    const cJSON *first = cJSON_IsArray(responses) ? cJSON_GetArrayItem(responses, 0) : NULL;
    return first ? cJSON_GetObjectItemCaseSensitive(first, "kvs") : NULL;
}

int cmd_config_get(const struct cli_command *self, int argc, char **argv, struct cli_globals *g)
{
    (void)self;
    struct api_target t = {DEFAULT_API, NULL};
    const char *limit = NULL, *positional[1];
    bool prefix = false, serializable = false;
    size_t n = 0;
    const struct cli_flag flags[] = {{.name = "api", .takes_value = true, .value = &t.api},
                                     {.name = "token-file", .takes_value = true, .value = &t.token_file},
                                     {.name = "prefix", .present = &prefix},
                                     {.name = "serializable", .present = &serializable},
                                     {.name = "limit", .takes_value = true, .value = &limit},
                                     {.name = NULL}};
    int rc = cli_parse_flags(argc, argv, flags, positional, 1, &n, g);
    if (rc != 0) return rc;
    unsigned long long max = 0;
    if (n != 1) return cli_fail(g, COHORT_EXIT_USAGE, "config get needs a KEY; see --help");
    if (limit && !parse_count(limit, &max)) return cli_fail(g, COHORT_EXIT_USAGE, "--limit '%s' is not a count", limit);
    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "key", positional[0]);
    cJSON_AddBoolToObject(body, "prefix", prefix);
    cJSON_AddBoolToObject(body, "serializable", serializable);
    if (limit) cJSON_AddNumberToObject(body, "limit", (double)max);
    cJSON *answer = call(g, &t, "/api/v1/config/range", true, body, WRITE_TIMEOUT_MS, &rc);
    cJSON_Delete(body);
    if (answer == NULL) return rc;
    const cJSON *kvs = first_kvs(answer);
    rc = COHORT_EXIT_OK;
    if (!prefix && cJSON_GetArraySize(kvs) == 0) rc = cli_fail(g, COHORT_EXIT_FAILURE, "no key '%s'", positional[0]);
    else print_kvs(g, kvs);
    const cJSON *first = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(answer, "responses"), 0);
    if (rc == COHORT_EXIT_OK && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(first, "more")) && !g->quiet)
        fprintf(g->err, "more keys than these (an answer holds at most %s keys or 4 MiB): read from the last key on, "
                        "or a longer prefix\n", limit ? limit : "10000");
    cJSON_Delete(answer);
    return rc;
}

int cmd_config_put(const struct cli_command *self, int argc, char **argv, struct cli_globals *g)
{
    (void)self;
    struct api_target t = {DEFAULT_API, NULL};
    const char *if_rev = NULL, *if_value = NULL, *positional[2];
    bool if_absent = false;
    size_t n = 0;
    const struct cli_flag flags[] = {{.name = "api", .takes_value = true, .value = &t.api},
                                     {.name = "token-file", .takes_value = true, .value = &t.token_file},
                                     {.name = "if-mod-revision", .takes_value = true, .value = &if_rev},
                                     {.name = "if-value", .takes_value = true, .value = &if_value},
                                     {.name = "if-absent", .present = &if_absent},
                                     {.name = NULL}};
    int rc = cli_parse_flags(argc, argv, flags, positional, 2, &n, g);
    if (rc != 0) return rc;
    if (n != 2) return cli_fail(g, COHORT_EXIT_USAGE, "config put needs KEY VALUE; see --help");
    if ((if_rev != NULL) + (if_value != NULL) + if_absent > 1)
        return cli_fail(g, COHORT_EXIT_USAGE, "give at most one of --if-mod-revision, --if-value, --if-absent");
    unsigned long long rev = 0;
    if (if_rev && !parse_count(if_rev, &rev))
        return cli_fail(g, COHORT_EXIT_USAGE, "--if-mod-revision '%s' is not a revision", if_rev);
    cJSON *body = cJSON_CreateObject();
    bool conditional = if_rev || if_value || if_absent;
    if (conditional) {
        cJSON *compare = cJSON_AddArrayToObject(body, "compare"), *c = cJSON_CreateObject();
        cJSON_AddStringToObject(c, "key", positional[0]);
        cJSON_AddStringToObject(c, "target", if_value ? "value" : "mod_revision");
        cJSON_AddStringToObject(c, "result", "=");
        if (if_value) cJSON_AddStringToObject(c, "value", if_value);
        else cJSON_AddNumberToObject(c, "number", (double)rev); /* --if-absent: mod_revision 0 */
        cJSON_AddItemToArray(compare, c);
        /* On failure, read the key: the message says what it holds now. */
        cJSON *failure = cJSON_AddArrayToObject(body, "failure"), *r = cJSON_CreateObject();
        cJSON_AddStringToObject(r, "op", "range");
        cJSON_AddStringToObject(r, "key", positional[0]);
        cJSON_AddItemToArray(failure, r);
    }
    cJSON *success = cJSON_AddArrayToObject(body, "success"), *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "op", "put");
    cJSON_AddStringToObject(p, "key", positional[0]);
    cJSON_AddStringToObject(p, "value", positional[1]);
    cJSON_AddItemToArray(success, p);
    cJSON *answer = call(g, &t, "/api/v1/config/txn", true, body, WRITE_TIMEOUT_MS, &rc);
    cJSON_Delete(body);
    if (answer == NULL) return rc;
    rc = COHORT_EXIT_OK;
    if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(answer, "succeeded"))) {
        const cJSON *kv = cJSON_GetArrayItem(first_kvs(answer), 0);
        if (kv == NULL)
            rc = cli_fail(g, COHORT_EXIT_FAILURE, "not written: '%s' does not exist", positional[0]);
        else
            rc = cli_fail(g, COHORT_EXIT_FAILURE, "not written: '%s' is at mod_revision %.0f with value '%s'",
                          positional[0], number(kv, "mod_revision"),
                          cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(kv, "value")));
    } else {
        char revision[24];
        snprintf(revision, sizeof revision, "%.0f", number(answer, "revision"));
        const char *keys[] = {"revision"}, *values[] = {revision};
        print_fields(g, keys, values, 1);
    }
    cJSON_Delete(answer);
    return rc;
}

int cmd_config_del(const struct cli_command *self, int argc, char **argv, struct cli_globals *g)
{
    (void)self;
    struct api_target t = {DEFAULT_API, NULL};
    const char *positional[1];
    bool prefix = false;
    size_t n = 0;
    const struct cli_flag flags[] = {{.name = "api", .takes_value = true, .value = &t.api},
                                     {.name = "token-file", .takes_value = true, .value = &t.token_file},
                                     {.name = "prefix", .present = &prefix},
                                     {.name = NULL}};
    int rc = cli_parse_flags(argc, argv, flags, positional, 1, &n, g);
    if (rc != 0) return rc;
    if (n != 1) return cli_fail(g, COHORT_EXIT_USAGE, "config del needs a KEY; see --help");
    cJSON *body = cJSON_CreateObject();
    cJSON *success = cJSON_AddArrayToObject(body, "success"), *d = cJSON_CreateObject();
    cJSON_AddStringToObject(d, "op", "delete");
    cJSON_AddStringToObject(d, "key", positional[0]);
    cJSON_AddBoolToObject(d, "prefix", prefix);
    cJSON_AddItemToArray(success, d);
    cJSON *answer = call(g, &t, "/api/v1/config/txn", true, body, WRITE_TIMEOUT_MS, &rc);
    cJSON_Delete(body);
    if (answer == NULL) return rc;
    char revision[24], deleted[24];
    snprintf(revision, sizeof revision, "%.0f", number(answer, "revision"));
    snprintf(deleted, sizeof deleted, "%.0f", number(answer, "deleted"));
    const char *keys[] = {"deleted", "revision"}, *values[] = {deleted, revision};
    print_fields(g, keys, values, 2);
    cJSON_Delete(answer);
    return COHORT_EXIT_OK;
}

int cmd_config_watch(const struct cli_command *self, int argc, char **argv, struct cli_globals *g)
{
    (void)self;
    struct api_target t = {DEFAULT_API, NULL};
    const char *from = NULL, *count = NULL, *positional[1] = {""};
    size_t n = 0;
    const struct cli_flag flags[] = {{.name = "api", .takes_value = true, .value = &t.api},
                                     {.name = "token-file", .takes_value = true, .value = &t.token_file},
                                     {.name = "from-revision", .takes_value = true, .value = &from},
                                     {.name = "count", .takes_value = true, .value = &count},
                                     {.name = NULL}};
    int rc = cli_parse_flags(argc, argv, flags, positional, 1, &n, g);
    if (rc != 0) return rc;
    unsigned long long next = 0, want = 0, seen = 0;
    if (from && (!parse_count(from, &next) || next == 0))
        return cli_fail(g, COHORT_EXIT_USAGE, "--from-revision '%s' is not a revision (1 or more)", from);
    if (count && (!parse_count(count, &want) || want == 0))
        return cli_fail(g, COHORT_EXIT_USAGE, "--count '%s' is not a positive count", count);
    for (;;) {
        cJSON *body = cJSON_CreateObject();
        cJSON_AddStringToObject(body, "prefix", positional[0]);
        if (next) cJSON_AddNumberToObject(body, "from_revision", (double)next);
        cJSON_AddNumberToObject(body, "timeout_ms", 10000);
        if (want) cJSON_AddNumberToObject(body, "limit", (double)(want - seen));
        cJSON *answer = call(g, &t, "/api/v1/config/watch", true, body, 20000L, &rc);
        cJSON_Delete(body);
        if (answer == NULL) return rc;
        const cJSON *e;
        cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(answer, "events"))
        {
            if (g->json) {
                char *line = cJSON_PrintUnformatted(e);
                fprintf(g->out, "%s\n", line);
                free(line);
            } else {
                const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "type"));
                const char *key = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "key"));
                const char *value = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "value"));
                fprintf(g->out, "%.0f %s %s%s%s\n", number(e, "mod_revision"), type ? type : "?", key ? key : "?",
                        type && strcmp(type, "put") == 0 ? " " : "", type && strcmp(type, "put") == 0 && value ? value : "");
            }
            seen++;
        }
        fflush(g->out);
        double n_next = number(answer, "next_revision");
        if (n_next > 0) next = (unsigned long long)n_next;
        cJSON_Delete(answer);
        if (want && seen >= want) return COHORT_EXIT_OK;
    }
}

int cmd_config_status(const struct cli_command *self, int argc, char **argv, struct cli_globals *g)
{
    (void)self;
    struct api_target t = {DEFAULT_API, NULL};
    const struct cli_flag flags[] = {{.name = "api", .takes_value = true, .value = &t.api},
                                     {.name = "token-file", .takes_value = true, .value = &t.token_file}, {.name = NULL}};
    int rc = cli_parse_flags(argc, argv, flags, NULL, 0, NULL, g);
    if (rc != 0) return rc;
    cJSON *answer = call(g, &t, "/api/v1/config/status", false, NULL, 5000L, &rc);
    if (answer == NULL) return rc;
    if (g->json) {
        print_json(g, answer); /* the API's object: every field, numbers as numbers */
        cJSON_Delete(answer);
        return COHORT_EXIT_OK;
    }
    /* For people: every field the API gives, in its order, one line each. */
    int width = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, answer) if ((int)strlen(v->string) > width) width = (int)strlen(v->string);
    cJSON_ArrayForEach(v, answer)
    {
        if (cJSON_IsString(v)) fprintf(g->out, "%-*s  %s\n", width, v->string, v->valuestring);
        else if (cJSON_IsNumber(v)) fprintf(g->out, "%-*s  %.0f\n", width, v->string, v->valuedouble);
        else if (cJSON_IsBool(v)) fprintf(g->out, "%-*s  %s\n", width, v->string, cJSON_IsTrue(v) ? "true" : "false");
    }
    cJSON_Delete(answer);
    return COHORT_EXIT_OK;
}
