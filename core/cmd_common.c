/* cmd_common.c - what the commands share (see cmd_common.h). */
#include "cmd_common.h"

#include <assert.h>
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_token.h"
#include "common/secp.h"
#include "contracts-abi/abi.h"

int exit_code_of(int code)
{
    switch (code) {
    case MC_E_UNAVAILABLE:
    case MC_E_HTTP: return COHORT_EXIT_UNAVAILABLE;
    case MC_E_INPUT:
    case MC_E_PASSWORD:
    case MC_E_IO:
    /* common's codes reach the CLI from what the operator gave: a key the curve refuses, a
       value that does not parse (manager-client recodes what a server sent as malformed). */
    case COMMON_E_INVALID:
    case COMMON_E_RANGE:
    case COMMON_E_TRUNCATED:
    case COMMON_E_NONCANONICAL:
    case COMMON_E_DEPTH:
    case COMMON_E_CRYPTO: return COHORT_EXIT_INPUT;
    case MC_E_INVALID: return COHORT_EXIT_USAGE;
    default: return COHORT_EXIT_FAILURE;
    }
}

/* The library's own words for a code, for the libraries the CLI uses; NULL for others. */
static const char *kind_of(int code)
{
    const char *library = cohort_error_library(code);
    if (library == NULL) return NULL;
    if (strcmp(library, "common") == 0) return common_strerror(code);
    if (strcmp(library, "abi") == 0) return abi_strerror(code);
    if (strcmp(library, "manager-client") == 0) return mc_strerror(code);
    return NULL;
}

int cli_fail_error(struct cli_globals *g, const struct cohort_error *err)
{
    assert(err->code < 0);
    int exit_code = exit_code_of(err->code);
    if (g->json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "error", err->message);
        cJSON_AddNumberToObject(o, "code", err->code);
        const char *library = cohort_error_library(err->code), *kind = kind_of(err->code);
        if (library) cJSON_AddStringToObject(o, "library", library);
        if (kind) cJSON_AddStringToObject(o, "kind", kind);
        print_json(g, o);
        cJSON_Delete(o);
    }
    return cli_fail(g, exit_code, "%s", err->message);
}

int manager_parse(struct cli_globals *g, int argc, char **argv, struct manager_flags *f, const struct cli_flag *extra,
                  const char **positional, size_t npositional, const char *usage)
{
    struct cli_flag flags[4 + MANAGER_EXTRA_FLAGS_MAX + 1] = {MANAGER_FLAGS(*f)};
    size_t n = 4;
    for (const struct cli_flag *e = extra; e != NULL && e->name != NULL; e++) {
        assert(n < 4 + MANAGER_EXTRA_FLAGS_MAX);
        flags[n++] = *e;
    }
    assert(flags[n].name == NULL); /* the list's end */
    size_t got = 0;
    int rc = cli_parse_flags(argc, argv, flags, positional, npositional, &got, g);
    if (rc != 0) return rc;
    if (got != npositional) return cli_fail(g, COHORT_EXIT_USAGE, "%s", usage);
    return 0;
}

const char *default_manager_file(char *buf, size_t size)
{
    const char *env = getenv("COHORT_MANAGER_FILE");
    if (env && env[0]) return env;
    const char *home = getenv("HOME");
    snprintf(buf, size, "%s/.cohort/manager.json", home && home[0] ? home : ".");
    return buf;
}

/* --rpc, else $COHORT_MANAGER_RPC (the daemon's name for it), else $COHORT_RPC with a warning. */
static const char *rpc_url(struct cli_globals *g, const struct manager_flags *f)
{
    if (f->rpc != NULL) return f->rpc;
    const char *url = getenv("COHORT_MANAGER_RPC");
    if (url != NULL && url[0] != '\0') return url;
    url = getenv("COHORT_RPC");
    if (url != NULL && url[0] != '\0') {
        if (!g->quiet) fputs("cohort: COHORT_RPC is deprecated: set COHORT_MANAGER_RPC instead\n", g->err);
        return url;
    }
    return NULL;
}

int manager_open(struct cli_globals *g, struct manager_flags *f, bool need_deployment, struct manager_session *s)
{
    memset(s, 0, sizeof *s);
    struct cohort_error err = {0};
    if (need_deployment) {
        if (f->manager == NULL) f->manager = default_manager_file(s->manager_file, sizeof s->manager_file);
        if (mc_deployment_load(f->manager, &s->deployment, &err) < 0) return cli_fail_error(g, &err);
        s->has_deployment = true;
    }
    const char *url = rpc_url(g, f);
    if (url == NULL)
        return cli_fail(g, COHORT_EXIT_USAGE,
                        "give the manager chain's JSON-RPC URL with --rpc URL (or set COHORT_MANAGER_RPC)");
    struct mc_rpc_options o = {.url = url};
    if (mc_rpc_open(&s->rpc, &o, &err) < 0) return cli_fail(g, COHORT_EXIT_USAGE, "%s", err.message);
    return 0;
}

int manager_sign(struct cli_globals *g, struct manager_flags *f, struct manager_session *s)
{
    assert(s->rpc != NULL);
    if (f->keystore == NULL) return cli_fail(g, COHORT_EXIT_USAGE, "give the signing key with --keystore FILE");
    char password[MC_PASSWORD_MAX_BYTES + 2];
    size_t len;
    int rc = read_password(g, f, false, password, sizeof password, &len);
    if (rc != 0) return rc;
    struct cohort_error err = {0};
    rc = mc_keystore_load(f->keystore, password, len, s->key, s->address, &err);
    explicit_bzero(password, sizeof password);
    if (rc < 0) return cli_fail_error(g, &err);
    s->signed_in = true;
    if (!s->has_deployment) return 0; /* `manager deploy`: no deployment yet */
    uint64_t id;
    if (mc_eth_chain_id(s->rpc, &id, &err) < 0) return cli_fail_error(g, &err);
    if (id != s->deployment.chain_id)
        return cli_fail(g, COHORT_EXIT_FAILURE,
                        "the RPC serves chain %llu but the manager is deployed on chain %llu: check --rpc",
                        (unsigned long long)id, (unsigned long long)s->deployment.chain_id);
    return 0;
}

void manager_close(struct manager_session *s)
{
    explicit_bzero(s->key, sizeof s->key);
    s->signed_in = false;
    mc_rpc_close(s->rpc);
    s->rpc = NULL;
}

int read_password(struct cli_globals *g, const struct manager_flags *f, bool confirm, char *out, size_t size, size_t *len)
{
    struct cohort_error err = {0};
    int rc = f->password_file ? mc_password_from_file(f->password_file, out, size, len, &err)
                              : mc_password_prompt("Keystore password: ", confirm, out, size, len, &err);
    if (rc < 0) return cli_fail_error(g, &err);
    return 0;
}

void print_json(struct cli_globals *g, const cJSON *value)
{
    char *text = cJSON_Print(value);
    if (text != NULL) fprintf(g->out, "%s\n", text);
    free(text);
}

void print_fields(struct cli_globals *g, const char *const *keys, const char *const *values, size_t n)
{
    if (g->json) {
        cJSON *o = cJSON_CreateObject();
        for (size_t i = 0; i < n; i++) {
            if (values[i] == NULL) cJSON_AddNullToObject(o, keys[i]);
            else cJSON_AddStringToObject(o, keys[i], values[i]);
        }
        print_json(g, o);
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

/* GET or POST with libcurl; NULL with curl's words in error when nothing answered. */
static char *http_request(const char *url, const char *body, const char *token, long timeout_ms, long *status,
                          char *error, size_t error_size)
{
    *status = 0;
    CURL *c = curl_easy_init();
    struct api_body b = {0};
    struct curl_slist *headers = NULL;
    if (c == NULL) {
        snprintf(error, error_size, "out of memory");
        return NULL;
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_api_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http");
    if (body != NULL) {
        headers = curl_slist_append(headers, "Content-Type: application/json");
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    }
    char authorization[API_TOKEN_HEX + 32];
    if (token != NULL) {
        snprintf(authorization, sizeof authorization, "Authorization: Bearer %s", token);
        headers = curl_slist_append(headers, authorization);
        explicit_bzero(authorization, sizeof authorization);
    }
    if (headers != NULL) curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    CURLcode rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    curl_easy_cleanup(c);
    for (struct curl_slist *h = headers; h != NULL; h = h->next) explicit_bzero(h->data, strlen(h->data));
    curl_slist_free_all(headers);
    if (rc != CURLE_OK) {
        snprintf(error, error_size, "%s", curl_easy_strerror(rc));
        free(b.data);
        return NULL;
    }
    return b.data ? b.data : strdup("");
}

char *http_fetch(const char *url, long timeout_ms, long *status, char *error, size_t error_size)
{
    return http_request(url, NULL, NULL, timeout_ms, status, error, error_size);
}

char *api_call(const char *url, const char *body, long timeout_ms, struct cli_globals *g, long *status, int *code)
{
    return api_call_token(url, body, NULL, timeout_ms, g, status, code);
}

char *api_call_token(const char *url, const char *body, const char *token, long timeout_ms, struct cli_globals *g,
                     long *status, int *code)
{
    char error[256];
    char *answer = http_request(url, body, token, timeout_ms, status, error, sizeof error);
    if (answer == NULL)
        *code = cli_fail(g, COHORT_EXIT_UNAVAILABLE, "cannot reach cohort-core at %s (%s); is it running? see --api",
                         url, error);
    return answer;
}
