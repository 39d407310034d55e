/* cmd_common.c - shared plumbing of the manager-facing commands (see cmd_common.h). */
#include "cmd_common.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/secp.h"

int exit_code_of(int code)
{
    switch (code) {
    case MC_E_UNAVAILABLE:
    case MC_E_HTTP: return COHORT_EXIT_UNAVAILABLE;
    case MC_E_INPUT:
    case MC_E_PASSWORD:
    case MC_E_IO: return COHORT_EXIT_INPUT;
    case MC_E_INVALID: return COHORT_EXIT_USAGE;
    default: return COHORT_EXIT_FAILURE;
    }
}

const char *default_manager_file(void)
{
    static char path[1024];
    const char *env = getenv("COHORT_MANAGER_FILE");
    if (env && env[0]) return env;
    const char *home = getenv("HOME");
    snprintf(path, sizeof path, "%s/.cohort/manager.json", home && home[0] ? home : ".");
    return path;
}

int open_rpc(struct cli_globals *g, struct manager_flags *f, struct mc_rpc **rpc)
{
    if (f->rpc == NULL) f->rpc = getenv("COHORT_RPC");
    if (f->rpc == NULL) return cli_fail(g, COHORT_EXIT_USAGE, "give the manager chain's JSON-RPC URL with --rpc URL");
    struct mc_rpc_options o = {.url = f->rpc};
    struct cohort_error err = {0};
    if (mc_rpc_open(rpc, &o, &err) < 0) return cli_fail(g, COHORT_EXIT_USAGE, "%s", err.message);
    return 0;
}

int load_deployment(struct cli_globals *g, struct manager_flags *f, struct mc_deployment *d)
{
    if (f->manager == NULL) f->manager = default_manager_file();
    struct cohort_error err = {0};
    if (mc_deployment_load(f->manager, d, &err) < 0) return cli_fail(g, COHORT_EXIT_INPUT, "%s", err.message);
    return 0;
}

int read_password(struct cli_globals *g, const struct manager_flags *f, bool confirm, char *out, size_t size, size_t *len)
{
    struct cohort_error err = {0};
    int rc = f->password_file ? mc_password_from_file(f->password_file, out, size, len, &err)
                              : mc_password_prompt("Keystore password: ", confirm, out, size, len, &err);
    if (rc < 0) return cli_fail(g, exit_code_of(rc), "%s", err.message);
    return 0;
}

int load_signer(struct cli_globals *g, struct manager_flags *f, uint8_t key[32], uint8_t address[20])
{
    if (f->keystore == NULL) return cli_fail(g, COHORT_EXIT_USAGE, "give the signing key with --keystore FILE");
    char password[MC_PASSWORD_MAX_BYTES + 2];
    size_t len;
    int rc = read_password(g, f, false, password, sizeof password, &len);
    if (rc != 0) return rc;
    struct cohort_error err = {0};
    rc = mc_keystore_load(f->keystore, password, len, key, address, &err);
    explicit_bzero(password, sizeof password);
    if (rc < 0) return cli_fail(g, exit_code_of(rc), "%s", err.message);
    return 0;
}

void print_fields(struct cli_globals *g, const char *const *keys, const char *const *values, size_t n)
{
    if (g->json) {
        cJSON *o = cJSON_CreateObject();
        for (size_t i = 0; i < n; i++) {
            if (values[i] == NULL) cJSON_AddNullToObject(o, keys[i]);
            else cJSON_AddStringToObject(o, keys[i], values[i]);
        }
        char *text = cJSON_Print(o);
        fprintf(g->out, "%s\n", text);
        free(text);
        cJSON_Delete(o);
        return;
    }
    size_t width = 0;
    for (size_t i = 0; i < n; i++)
        if (strlen(keys[i]) > width) width = strlen(keys[i]);
    for (size_t i = 0; i < n; i++) fprintf(g->out, "%-*s  %s\n", (int)width, keys[i], values[i] ? values[i] : "-");
}

#define API_MAX_BYTES (16u << 20)

struct api_body {
    char *data;
    size_t len;
};

static size_t on_api_data(char *chunk, size_t size, size_t nmemb, void *userdata)
{
    struct api_body *b = userdata;
    size_t n = size * nmemb;
    if (b->len + n > API_MAX_BYTES) return 0;
    char *grown = realloc(b->data, b->len + n + 1);
    if (grown == NULL) return 0;
    b->data = grown;
    memcpy(b->data + b->len, chunk, n);
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

char *api_call(const char *url, const char *body, long timeout_ms, struct cli_globals *g, long *status, int *code)
{
    CURL *c = curl_easy_init();
    struct api_body b = {0};
    struct curl_slist *headers = NULL;
    if (c == NULL) {
        *code = cli_fail(g, COHORT_EXIT_FAILURE, "out of memory");
        return NULL;
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_api_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http");
    if (body != NULL) {
        headers = curl_slist_append(headers, "Content-Type: application/json");
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    }
    CURLcode rc = curl_easy_perform(c);
    *status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    curl_easy_cleanup(c);
    curl_slist_free_all(headers);
    if (rc != CURLE_OK) {
        *code = cli_fail(g, COHORT_EXIT_UNAVAILABLE, "cannot reach cohort-core at %s (%s); is it running? see --api",
                         url, curl_easy_strerror(rc));
        free(b.data);
        return NULL;
    }
    return b.data ? b.data : strdup("");
}
