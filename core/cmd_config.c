/*
 * cmd_config.c - `cohort config get|put|del|watch|status`: the cluster's config store,
 * through the local cohort-core's API (config/config.h, part 3); and `cohort cluster image
 * set|show` and `cohort cluster upgrade status`: the image the cluster runs, signed by an
 * admin into that store, and the rolling upgrade to it (core/upgrade.h); `cohort cluster
 * members`, `member add|remove` and `join`: the store's membership (config.h "Membership
 * changes").
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_token.h"
#include "cluster_image.h"
#include "cmd_common.h"
#include "commands.h"
#include "common/hex.h"
#include "common/secp.h"
#include "config/config.h"
#include "docker/docker.h"

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

/* ---- `cohort cluster image set|show`, `cohort cluster upgrade status` (core/upgrade.h) ---- */

/* The image id of a local tag, from the local dockerd (the CLI runs beside it). */
static int image_digest(struct cli_globals *g, const char *image, char out[CLUSTER_IMAGE_DIGEST_LEN + 1])
{
    struct cohort_error err = {0};
    if (strncmp(image, "sha256:", 7) == 0) {
        if (cluster_image_check_digest(image, strlen(image), &err) < 0) return cli_fail_error(g, &err);
        snprintf(out, CLUSTER_IMAGE_DIGEST_LEN + 1, "%s", image);
        return 0;
    }
    struct docker_client *docker = NULL;
    struct docker_image img;
    int rc = docker_open(&docker, NULL, &err);
    if (rc == 0) rc = docker_image_inspect(docker, image, &img, &err);
    docker_close(docker);
    if (rc < 0)
        return cli_fail(g, COHORT_EXIT_FAILURE, "image %s: %s (give its digest, sha256:..., or a tag this host's dockerd has)",
                        image, err.message);
    if (cluster_image_check_digest(img.id, strlen(img.id), &err) < 0) return cli_fail_error(g, &err);
    snprintf(out, CLUSTER_IMAGE_DIGEST_LEN + 1, "%s", img.id);
    return 0;
}

/*
 * The image document in the store as it is (the nodes check its signature, the CLI does
 * not need to): its digest ("" when absent), serial (0 when absent) and mod_revision (0
 * when absent). Returns 0, or the exit code with the message printed.
 */
static int read_image_document(struct cli_globals *g, const struct api_target *t,
                               char digest[CLUSTER_IMAGE_DIGEST_LEN + 1], double *serial, double *mod_revision)
{
    int rc = 0;
    cJSON *read = cJSON_CreateObject();
    cJSON_AddStringToObject(read, "key", CLUSTER_IMAGE_KEY);
    cJSON *answer = call(g, t, "/api/v1/config/range", true, read, WRITE_TIMEOUT_MS, &rc);
    cJSON_Delete(read);
    if (answer == NULL) return rc;
    const cJSON *kv = cJSON_GetArrayItem(first_kvs(answer), 0);
    cJSON *doc = kv ? cJSON_Parse(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(kv, "value"))) : NULL;
    const char *d = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(doc, "digest"));
    snprintf(digest, CLUSTER_IMAGE_DIGEST_LEN + 1, "%s", d ? d : "");
    *serial = doc && number(doc, "serial") > 0 ? number(doc, "serial") : 0;
    *mod_revision = kv ? number(kv, "mod_revision") : 0;
    cJSON_Delete(doc);
    cJSON_Delete(answer);
    return 0;
}

int cmd_cluster_image_set(const struct cli_command *self, int argc, char **argv, struct cli_globals *g)
{
    (void)self;
    struct api_target t = {DEFAULT_API, NULL};
    struct manager_flags mf = {0};
    const char *positional[1], *serial_text = NULL;
    size_t n = 0;
    const struct cli_flag flags[] = {{.name = "api", .takes_value = true, .value = &t.api},
                                     {.name = "token-file", .takes_value = true, .value = &t.token_file},
                                     {.name = "keystore", .takes_value = true, .value = &mf.keystore},
                                     {.name = "password-file", .takes_value = true, .value = &mf.password_file},
                                     {.name = "serial", .takes_value = true, .value = &serial_text},
                                     {.name = NULL}};
    int rc = cli_parse_flags(argc, argv, flags, positional, 1, &n, g);
    if (rc != 0) return rc;
    if (n != 1) return cli_fail(g, COHORT_EXIT_USAGE, "cluster image set needs an IMAGE (tag or sha256:...); see --help");
    if (mf.keystore == NULL) return cli_fail(g, COHORT_EXIT_USAGE, "give an admin's key with --keystore FILE");
    char digest[CLUSTER_IMAGE_DIGEST_LEN + 1];
    if ((rc = image_digest(g, positional[0], digest)) != 0) return rc;
    /* The cluster's instance, and the serial after the one in the store. */
    cJSON *status = call(g, &t, "/api/v1/config/status", false, NULL, 5000L, &rc);
    if (status == NULL) return rc;
    double instance = number(status, "instance");
    cJSON_Delete(status);
    if (instance < 0) return cli_fail(g, COHORT_EXIT_FAILURE, "cohort-core at %s does not say its cluster's instance", t.api);
    char old_digest[CLUSTER_IMAGE_DIGEST_LEN + 1];
    double old_serial, mod_revision;
    if ((rc = read_image_document(g, &t, old_digest, &old_serial, &mod_revision)) != 0) return rc;
    unsigned long long serial = old_serial > 0 ? (unsigned long long)old_serial + 1 : 1;
    if (serial_text && !parse_count(serial_text, &serial))
        return cli_fail(g, COHORT_EXIT_USAGE, "--serial '%s' is not a number", serial_text);
    char password[MC_PASSWORD_MAX_BYTES + 2];
    size_t len;
    if ((rc = read_password(g, &mf, false, password, sizeof password, &len)) != 0) return rc;
    uint8_t key[32], address[20];
    struct cohort_error err = {0};
    rc = mc_keystore_load(mf.keystore, password, len, key, address, &err);
    explicit_bzero(password, sizeof password);
    char doc[CLUSTER_IMAGE_MAX_BYTES];
    if (rc == 0) rc = cluster_image_sign((uint64_t)instance, serial, digest, key, doc, &err);
    explicit_bzero(key, sizeof key);
    if (rc < 0) return cli_fail_error(g, &err);
    /* Written only if nobody wrote it since it was read (two admins at once: one wins, the other is told). */
    cJSON *body = cJSON_CreateObject(), *c = cJSON_CreateObject(), *p = cJSON_CreateObject();
    cJSON_AddStringToObject(c, "key", CLUSTER_IMAGE_KEY);
    cJSON_AddStringToObject(c, "target", "mod_revision");
    cJSON_AddStringToObject(c, "result", "=");
    cJSON_AddNumberToObject(c, "number", mod_revision);
    cJSON_AddItemToArray(cJSON_AddArrayToObject(body, "compare"), c);
    cJSON_AddStringToObject(p, "op", "put");
    cJSON_AddStringToObject(p, "key", CLUSTER_IMAGE_KEY);
    cJSON_AddStringToObject(p, "value", doc);
    cJSON *success = cJSON_AddArrayToObject(body, "success"), *clear = cJSON_CreateObject();
    cJSON_AddItemToArray(success, p);
    /* A new decision ends a failed upgrade: the nodes go on towards the new image. */
    cJSON_AddStringToObject(clear, "op", "delete");
    cJSON_AddStringToObject(clear, "key", "cohort/upgrade/failed");
    cJSON_AddItemToArray(success, clear);
    cJSON *answer = call(g, &t, "/api/v1/config/txn", true, body, WRITE_TIMEOUT_MS, &rc);
    cJSON_Delete(body);
    if (answer == NULL) return rc;
    if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(answer, "succeeded"))) {
        cJSON_Delete(answer);
        return cli_fail(g, COHORT_EXIT_FAILURE, "not written: %s changed while this ran; run it again", CLUSTER_IMAGE_KEY);
    }
    char revision[24], serial_s[24], signer[43];
    snprintf(revision, sizeof revision, "%.0f", number(answer, "revision"));
    snprintf(serial_s, sizeof serial_s, "%llu", serial);
    hex_encode(address, 20, signer, sizeof signer);
    cJSON_Delete(answer);
    const char *keys[] = {"digest", "serial", "signer", "revision"}, *values[] = {digest, serial_s, signer, revision};
    print_fields(g, keys, values, 4);
    return COHORT_EXIT_OK;
}

int cmd_cluster_image_show(const struct cli_command *self, int argc, char **argv, struct cli_globals *g)
{
    (void)self;
    const char *api = DEFAULT_API;
    size_t n = 0;
    const struct cli_flag flags[] = {{.name = "api", .takes_value = true, .value = &api}, {.name = NULL}};
    int rc = cli_parse_flags(argc, argv, flags, NULL, 0, &n, g);
    if (rc != 0) return rc;
    char url[1024];
    snprintf(url, sizeof url, "%s/api/v1/image", api);
    long status = 0;
    char *text = api_call(url, NULL, 5000L, g, &status, &rc);
    if (text == NULL) return rc;
    cJSON *o = cJSON_Parse(text);
    free(text);
    if (status != 200 || !cJSON_IsObject(o)) {
        const char *why = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "error"));
        cJSON_Delete(o);
        return cli_fail(g, COHORT_EXIT_FAILURE, "cohort-core at %s: %s (HTTP %ld)", api, why ? why : "no image status", status);
    }
    if (g->json) {
        print_json(g, o);
        cJSON_Delete(o);
        return COHORT_EXIT_OK;
    }
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(o, "wanted"), *l = cJSON_GetObjectItemCaseSensitive(o, "local");
    char serial[24] = "";
    if (cJSON_IsObject(w)) snprintf(serial, sizeof serial, "%.0f", number(w, "serial"));
    const char *keys[] = {"wanted", "serial", "signer", "local image", "local digest", "in use", "found", "refused", "failed"};
    const char *values[] = {cJSON_IsObject(w) ? cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(w, "digest"))
                                              : "none (the local image runs)",
                            serial,
                            cJSON_IsObject(w) ? cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(w, "signer")) : "",
                            cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(l, "image")),
                            cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(l, "digest")),
                            cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "image")),
                            cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "found")),
                            cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "refused")),
                            cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "failed"))};
    for (size_t i = 0; i < 9; i++)
        if (values[i] == NULL) values[i] = "";
    print_fields(g, keys, values, 9);
    const char *columns[] = {"chain", "state", "detail"};
    struct cli_table *table = cli_table_new(3, columns);
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(o, "chains"))
    {
        const char *row[3] = {cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "chain")),
                              cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "state")),
                              cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "detail"))};
        cli_table_add_row(table, row);
    }
    printf("\n");
    cli_table_print(table, g);
    cli_table_free(table);
    cJSON_Delete(o);
    return COHORT_EXIT_OK;
}

int cmd_cluster_settings(const struct cli_command *self, int argc, char **argv, struct cli_globals *g)
{
    (void)self;
    const char *api = DEFAULT_API;
    size_t n = 0;
    const struct cli_flag flags[] = {{.name = "api", .takes_value = true, .value = &api}, {.name = NULL}};
    int rc = cli_parse_flags(argc, argv, flags, NULL, 0, &n, g);
    if (rc != 0) return rc;
    char url[1024];
    snprintf(url, sizeof url, "%s/api/v1/settings", api);
    long status = 0;
    char *text = api_call(url, NULL, 5000L, g, &status, &rc);
    if (text == NULL) return rc;
    cJSON *o = cJSON_Parse(text);
    free(text);
    const cJSON *all = cJSON_GetObjectItemCaseSensitive(o, "settings");
    if (status != 200 || !cJSON_IsObject(all)) {
        const char *why = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "error"));
        cJSON_Delete(o);
        return cli_fail(g, COHORT_EXIT_FAILURE, "cohort-core at %s: %s (HTTP %ld)", api, why ? why : "no settings", status);
    }
    if (g->json) {
        print_json(g, o);
        cJSON_Delete(o);
        return COHORT_EXIT_OK;
    }
    const char *columns[] = {"setting", "value", "source", "revision"};
    struct cli_table *table = cli_table_new(4, columns);
    const cJSON *one;
    cJSON_ArrayForEach(one, all)
    {
        char revision[24];
        snprintf(revision, sizeof revision, "%.0f", number(one, "revision"));
        const char *row[4] = {one->string, cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(one, "value")),
                              cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(one, "source")), revision};
        for (int i = 0; i < 4; i++)
            if (row[i] == NULL) row[i] = "";
        cli_table_add_row(table, row);
    }
    cli_table_print(table, g);
    cli_table_free(table);
    const cJSON *refused = cJSON_GetObjectItemCaseSensitive(o, "refused");
    if (cJSON_GetArraySize(refused) > 0) {
        printf("\nrefused:\n");
        const cJSON *r;
        cJSON_ArrayForEach(r, refused) printf("  %s\n", cJSON_GetStringValue(r) ? cJSON_GetStringValue(r) : "");
    }
    cJSON_Delete(o);
    return COHORT_EXIT_OK;
}

int cmd_cluster_upgrade_status(const struct cli_command *self, int argc, char **argv, struct cli_globals *g)
{
    (void)self;
    struct api_target t = {DEFAULT_API, NULL};
    size_t n = 0;
    const struct cli_flag flags[] = {{.name = "api", .takes_value = true, .value = &t.api},
                                     {.name = "token-file", .takes_value = true, .value = &t.token_file},
                                     {.name = NULL}};
    int rc = cli_parse_flags(argc, argv, flags, NULL, 0, &n, g);
    if (rc != 0) return rc;
    char wanted[CLUSTER_IMAGE_DIGEST_LEN + 1];
    double serial, mod_revision;
    if ((rc = read_image_document(g, &t, wanted, &serial, &mod_revision)) != 0) return rc;
    cJSON *read = cJSON_CreateObject();
    cJSON_AddStringToObject(read, "key", "cohort/upgrade/");
    cJSON_AddBoolToObject(read, "prefix", true);
    cJSON *answer = call(g, &t, "/api/v1/config/range", true, read, WRITE_TIMEOUT_MS, &rc);
    cJSON_Delete(read);
    if (answer == NULL) return rc;
    if (g->json) {
        print_json(g, answer);
        cJSON_Delete(answer);
        return COHORT_EXIT_OK;
    }
    const char *columns[] = {"node", "chain", "state", "image"};
    struct cli_table *table = cli_table_new(4, columns);
    const char *failed = NULL;
    const cJSON *kv;
    unsigned outdated = 0, current = 0;
    cJSON_ArrayForEach(kv, first_kvs(answer))
    {
        const char *key = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(kv, "key"));
        const char *value = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(kv, "value"));
        if (key == NULL || value == NULL) continue;
        if (strcmp(key, "cohort/upgrade/failed") == 0) failed = value;
        if (strncmp(key, "cohort/upgrade/nodes/", 21) != 0) continue;
        cJSON *report = cJSON_Parse(value);
        const char *digest = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(report, "digest"));
        const cJSON *c;
        cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(report, "chains"))
        {
            const char *state = cJSON_GetStringValue(c);
            if (state && strcmp(state, "current") == 0) current++;
            else outdated++;
            char shortened[24];
            snprintf(shortened, sizeof shortened, "%.19s", digest ? digest : "");
            const char *row[4] = {key + 21, c->string, state, shortened};
            cli_table_add_row(table, row);
        }
        cJSON_Delete(report);
    }
    cli_table_print(table, g);
    cli_table_free(table);
    /* A failure counts only for the image the cluster wants now (cluster_image_set clears it too). */
    bool failing = failed != NULL && wanted[0] != '\0' && strstr(failed, wanted) != NULL;
    printf("\n%u subnodes on the cluster's image%s%s, %u not yet%s%s\n", current, wanted[0] ? " " : "", wanted, outdated,
           failing ? "; FAILED: " : failed ? "; an earlier upgrade failed: " : "", failed ? failed : "");
    cJSON_Delete(answer);
    return failing ? COHORT_EXIT_FAILURE : COHORT_EXIT_OK;
}

/* ---- cohort cluster members | member add | member remove | join (docs/cohort-core.md "Membership") ---- */

/* The running epoch from a member's status: instance, number (in epoch) and members. */
static int read_epoch(struct cli_globals *g, const struct api_target *t, struct cs_members_doc *out)
{
    int rc = 0;
    memset(out, 0, sizeof *out);
    cJSON *status = call(g, t, "/api/v1/config/status", false, NULL, 5000L, &rc);
    if (status == NULL) return rc;
    const cJSON *epoch = cJSON_GetObjectItemCaseSensitive(status, "epoch");
    const cJSON *members = cJSON_GetObjectItemCaseSensitive(epoch, "members"), *m;
    double instance = number(status, "instance"), n = number(epoch, "number");
    if (!cJSON_IsArray(members) || instance < 0 || n < 0 || cJSON_GetArraySize(members) > CS_MEMBERS_MAX) {
        cJSON_Delete(status);
        return cli_fail(g, COHORT_EXIT_FAILURE, "cohort-core at %s does not say its cluster's epoch (an older version?)",
                        t->api);
    }
    out->instance = (uint64_t)instance;
    out->epoch = (uint32_t)n;
    cJSON_ArrayForEach(m, members)
    {
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(m, "address"), *e = cJSON_GetObjectItemCaseSensitive(m, "endpoint");
        struct cohort_error err = {0};
        if (!cJSON_IsString(a) || !cJSON_IsString(e) || strlen(e->valuestring) >= BFT_ENDPOINT_MAX ||
            hex_decode_exact(a->valuestring, out->address[out->count], 20, &err) < 0) {
            cJSON_Delete(status);
            return cli_fail(g, COHORT_EXIT_FAILURE, "cohort-core at %s lists a member it cannot describe", t->api);
        }
        snprintf(out->endpoint[out->count], BFT_ENDPOINT_MAX, "%s", e->valuestring);
        out->count++;
    }
    cJSON_Delete(status);
    return 0;
}

/* Signs next as an admin, writes it to the members key, and prints the new epoch; out_file gets the document. */
static int submit_members(struct cli_globals *g, const struct api_target *t, const struct manager_flags *mf,
                          const struct cs_members_doc *next, const char *out_file)
{
    char password[MC_PASSWORD_MAX_BYTES + 2];
    size_t len;
    int rc = read_password(g, mf, false, password, sizeof password, &len);
    if (rc != 0) return rc;
    uint8_t key[32], address[20], bytes[CS_MEMBERS_DOC_MAX];
    size_t n = 0;
    struct cohort_error err = {0};
    rc = mc_keystore_load(mf->keystore, password, len, key, address, &err);
    explicit_bzero(password, sizeof password);
    if (rc == 0) rc = cs_members_encode(next, key, bytes, sizeof bytes, &n, &err);
    explicit_bzero(key, sizeof key);
    if (rc < 0) return cli_fail_error(g, &err);
    char hex[2 * CS_MEMBERS_DOC_MAX + 3];
    hex_encode(bytes, n, hex, sizeof hex);
    cJSON *body = cJSON_CreateObject(), *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "op", "put");
    cJSON_AddStringToObject(p, "key", CS_MEMBERS_KEY);
    cJSON_AddStringToObject(p, "value", hex);
    cJSON_AddItemToArray(cJSON_AddArrayToObject(body, "success"), p);
    cJSON *answer = call(g, t, "/api/v1/config/txn", true, body, WRITE_TIMEOUT_MS, &rc);
    cJSON_Delete(body);
    if (answer == NULL) return rc;
    char revision[24], epoch[16], count[16];
    snprintf(revision, sizeof revision, "%.0f", number(answer, "revision"));
    cJSON_Delete(answer);
    snprintf(epoch, sizeof epoch, "%u", next->epoch);
    snprintf(count, sizeof count, "%u", next->count);
    if (out_file != NULL) {
        FILE *f = fopen(out_file, "w");
        if (f == NULL || fprintf(f, "%s\n", hex) < 0 || fclose(f) != 0)
            return cli_fail(g, COHORT_EXIT_FAILURE, "the change is made, but %s cannot be written: the document is %s",
                            out_file, hex);
    }
    const char *keys[] = {"epoch", "members", "revision", "document"}, *values[] = {epoch, count, revision, hex};
    print_fields(g, keys, values, 4);
    return COHORT_EXIT_OK;
}

static int member_change(const struct cli_command *self, int argc, char **argv, struct cli_globals *g, bool add)
{
    (void)self;
    struct api_target t = {DEFAULT_API, NULL};
    struct manager_flags mf = {0};
    const char *positional[2], *out_file = NULL;
    size_t n = 0;
    const struct cli_flag flags[] = {{.name = "api", .takes_value = true, .value = &t.api},
                                     {.name = "token-file", .takes_value = true, .value = &t.token_file},
                                     {.name = "keystore", .takes_value = true, .value = &mf.keystore},
                                     {.name = "password-file", .takes_value = true, .value = &mf.password_file},
                                     {.name = "out", .takes_value = true, .value = &out_file},
                                     {.name = NULL}};
    int rc = cli_parse_flags(argc, argv, flags, positional, 2, &n, g);
    if (rc != 0) return rc;
    if (n != (add ? 2u : 1u))
        return cli_fail(g, COHORT_EXIT_USAGE, add ? "member add needs ADDRESS and ENDPOINT (ip:port); see --help"
                                                  : "member remove needs the member's ADDRESS; see --help");
    if (mf.keystore == NULL) return cli_fail(g, COHORT_EXIT_USAGE, "give an admin's key with --keystore FILE");
    uint8_t address[20];
    struct cohort_error err = {0};
    if (address_parse(positional[0], address, &err) < 0)
        return cli_fail(g, COHORT_EXIT_USAGE, "ADDRESS '%s': %s", positional[0], err.message);
    struct cs_members_doc cur, next;
    if ((rc = read_epoch(g, &t, &cur)) != 0) return rc;
    next = cur;
    next.epoch = cur.epoch + 1;
    int found = -1;
    for (uint32_t i = 0; i < cur.count; i++)
        if (memcmp(cur.address[i], address, 20) == 0) found = (int)i;
    if (add) {
        if (found >= 0) return cli_fail(g, COHORT_EXIT_USAGE, "%s is a member already", positional[0]);
        if (cur.count == CS_MEMBERS_MAX)
            return cli_fail(g, COHORT_EXIT_USAGE, "the cluster has %d members, the most it can", CS_MEMBERS_MAX);
        memcpy(next.address[cur.count], address, 20);
        if (strlen(positional[1]) >= BFT_ENDPOINT_MAX)
            return cli_fail(g, COHORT_EXIT_USAGE, "ENDPOINT '%s' is too long", positional[1]);
        snprintf(next.endpoint[cur.count], BFT_ENDPOINT_MAX, "%s", positional[1]);
        next.count = cur.count + 1;
    } else {
        if (found < 0) return cli_fail(g, COHORT_EXIT_USAGE, "%s is no member of epoch %u", positional[0], cur.epoch);
        if (cur.count <= CS_MEMBERS_MIN)
            return cli_fail(g, COHORT_EXIT_USAGE,
                            "the cluster has %u members, the fewest it may (add the replacement first, then remove)",
                            cur.count);
        for (uint32_t i = (uint32_t)found; i + 1 < cur.count; i++) {
            memcpy(next.address[i], cur.address[i + 1], 20);
            memcpy(next.endpoint[i], cur.endpoint[i + 1], BFT_ENDPOINT_MAX);
        }
        next.count = cur.count - 1;
    }
    return submit_members(g, &t, &mf, &next, out_file);
}

int cmd_cluster_member_add(const struct cli_command *self, int argc, char **argv, struct cli_globals *g)
{
    return member_change(self, argc, argv, g, true);
}

int cmd_cluster_member_remove(const struct cli_command *self, int argc, char **argv, struct cli_globals *g)
{
    return member_change(self, argc, argv, g, false);
}

int cmd_cluster_members(const struct cli_command *self, int argc, char **argv, struct cli_globals *g)
{
    (void)self;
    struct api_target t = {DEFAULT_API, NULL};
    size_t n = 0;
    const struct cli_flag flags[] = {{.name = "api", .takes_value = true, .value = &t.api}, {.name = NULL}};
    int rc = cli_parse_flags(argc, argv, flags, NULL, 0, &n, g);
    if (rc != 0) return rc;
    struct cs_members_doc cur;
    if ((rc = read_epoch(g, &t, &cur)) != 0) return rc;
    fprintf(g->out, "epoch %u: %u members\n", cur.epoch, cur.count);
    for (uint32_t i = 0; i < cur.count; i++) {
        char text[43];
        hex_encode(cur.address[i], 20, text, sizeof text);
        fprintf(g->out, "%u\t%s\t%s\n", i, text, cur.endpoint[i]);
    }
    return COHORT_EXIT_OK;
}

int cmd_cluster_join(const struct cli_command *self, int argc, char **argv, struct cli_globals *g)
{
    (void)self;
    const char *positional[1], *state_dir = getenv("COHORT_STATE_DIR"), *cluster_file = NULL;
    size_t n = 0;
    const struct cli_flag flags[] = {{.name = "state-dir", .takes_value = true, .value = &state_dir},
                                     {.name = "cluster-file", .takes_value = true, .value = &cluster_file},
                                     {.name = NULL}};
    int rc = cli_parse_flags(argc, argv, flags, positional, 1, &n, g);
    if (rc != 0) return rc;
    if (n != 1) return cli_fail(g, COHORT_EXIT_USAGE, "join needs the members document's FILE; see --help");
    if (state_dir == NULL || cluster_file == NULL)
        return cli_fail(g, COHORT_EXIT_USAGE, "give this node's --state-dir and --cluster-file (as cohort-core has them)");
    struct cluster cluster;
    struct cohort_error err = {0};
    if (cluster_load(cluster_file, &cluster, &err) < 0) return cli_fail_error(g, &err);
    char text[2 * CS_MEMBERS_DOC_MAX + 8];
    FILE *f = fopen(positional[0], "r");
    size_t got = f ? fread(text, 1, sizeof text - 1, f) : 0;
    if (f) fclose(f);
    if (f == NULL || got == 0 || got == sizeof text - 1)
        return cli_fail(g, COHORT_EXIT_USAGE, "%s: not a members document (the file `cohort cluster member add --out` wrote)",
                        positional[0]);
    while (got > 0 && (text[got - 1] == '\n' || text[got - 1] == ' ' || text[got - 1] == '\r')) got--;
    text[got] = '\0';
    uint8_t bytes[CS_MEMBERS_DOC_MAX];
    size_t len = 0;
    struct cs_members_doc doc;
    char path[1300];
    if (hex_decode(text, bytes, sizeof bytes, &len, &err) < 0)
        return cli_fail(g, COHORT_EXIT_USAGE, "%s: %s", positional[0], err.message);
    if ((rc = config_join_epoch(state_dir, &cluster, bytes, len, &doc, path, sizeof path, &err)) < 0)
        return cli_fail(g, rc == COMMON_E_IO ? COHORT_EXIT_FAILURE : COHORT_EXIT_USAGE, "%s: %s", positional[0],
                        err.message);
    char epoch[16], count[16];
    snprintf(epoch, sizeof epoch, "%u", doc.epoch);
    snprintf(count, sizeof count, "%u", doc.count);
    const char *keys[] = {"epoch", "members", "written"}, *values[] = {epoch, count, path};
    print_fields(g, keys, values, 3);
    return COHORT_EXIT_OK;
}
