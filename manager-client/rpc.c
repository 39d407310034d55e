/*
 * rpc.c - Ethereum JSON-RPC 2.0 over HTTP(S) with libcurl and cJSON.
 *
 * Each call: build {"jsonrpc":"2.0","id":N,"method":...,"params":[...]}, POST it, read at
 * most max_response_bytes, then insist on a JSON object with "jsonrpc":"2.0", our id, and
 * exactly one of "result" or "error". Transient transport failures are retried with
 * exponential backoff; everything else is reported at once.
 */
#include "manager_client.h"

#include <assert.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/hex.h"
#include "rpc_internal.h"

#define DOMAIN "manager-client"
#define URL_MAX 2048

struct mc_rpc {
    CURL *curl;
    struct curl_slist *headers;
    char url[URL_MAX];
    struct mc_rpc_options options;
    uint64_t next_id;
    long last_error_code;
    uint8_t revert_data[4096]; /* of the last MC_E_REVERTED, for decoders that know the contract */
    size_t revert_len;
};

struct body {
    char *data;
    size_t len, cap, limit;
    bool too_large;
};

const char *mc_strerror(int code)
{
    switch ((enum mc_status)code) {
    case MC_OK: return "success";
    case MC_E_INVALID: return "invalid argument";
    case MC_E_UNAVAILABLE: return "RPC endpoint unavailable";
    case MC_E_HTTP: return "HTTP error status";
    case MC_E_MALFORMED: return "malformed JSON-RPC response";
    case MC_E_TOO_LARGE: return "response too large";
    case MC_E_RPC: return "JSON-RPC error";
    case MC_E_REVERTED: return "execution reverted";
    case MC_E_NOMEM: return "out of memory";
    case MC_E_NOT_FOUND: return "not found";
    case MC_E_INPUT: return "unusable input file";
    case MC_E_PASSWORD: return "wrong password";
    case MC_E_IO: return "file I/O failed";
    case MC_E_CHAIN: return "wrong chain";
    case MC_E_FUNDS: return "insufficient funds";
    case MC_E_TIMEOUT: return "transaction not mined in time";
    }
    return "unknown error";
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

int mc_rpc_open(struct mc_rpc **out, const struct mc_rpc_options *options, struct cohort_error *err)
{
    assert(out != NULL);
    assert(options != NULL);
    *out = NULL;
    if (options->url == NULL || (strncmp(options->url, "http://", 7) != 0 && strncmp(options->url, "https://", 8) != 0))
        return cohort_error_set(err, MC_E_INVALID, DOMAIN, "rpc: URL '%s' must start with http:// or https://",
                                options->url ? options->url : "(none)");
    if (strlen(options->url) >= URL_MAX)
        return cohort_error_set(err, MC_E_INVALID, DOMAIN, "rpc: URL longer than %d characters", URL_MAX - 1);
    pthread_once(&curl_once, curl_init_once);

    struct mc_rpc *rpc = calloc(1, sizeof *rpc);
    if (rpc == NULL) return cohort_error_set(err, MC_E_NOMEM, DOMAIN, "rpc: out of memory");
    rpc->options = *options;
    snprintf(rpc->url, sizeof rpc->url, "%s", options->url);
    rpc->options.url = rpc->url;
    if (rpc->options.connect_timeout_ms <= 0) rpc->options.connect_timeout_ms = 3000;
    if (rpc->options.request_timeout_ms <= 0) rpc->options.request_timeout_ms = 15000;
    if (rpc->options.retry_base_ms <= 0) rpc->options.retry_base_ms = 200;
    if (rpc->options.max_response_bytes == 0) rpc->options.max_response_bytes = 16u << 20;
    if (options->max_retries == 0 && options->retry_base_ms == 0) rpc->options.max_retries = 3;
    rpc->next_id = 1;

    rpc->curl = curl_easy_init();
    rpc->headers = curl_slist_append(NULL, "Content-Type: application/json");
    if (rpc->curl == NULL || rpc->headers == NULL) {
        mc_rpc_close(rpc);
        return cohort_error_set(err, MC_E_NOMEM, DOMAIN, "rpc: cannot initialise libcurl");
    }
    *out = rpc;
    return 0;
}

void mc_rpc_close(struct mc_rpc *rpc)
{
    if (rpc == NULL) return;
    if (rpc->curl) curl_easy_cleanup(rpc->curl);
    curl_slist_free_all(rpc->headers);
    free(rpc);
}

long mc_rpc_last_error_code(const struct mc_rpc *rpc) { return rpc->last_error_code; }

const uint8_t *mc_rpc_last_revert_data(const struct mc_rpc *rpc, size_t *len)
{
    *len = rpc->revert_len;
    return rpc->revert_data;
}

static size_t on_body(char *chunk, size_t size, size_t nmemb, void *userdata)
{
    struct body *b = userdata;
    size_t n = size * nmemb;
    if (n > b->limit - b->len) {
        b->too_large = true;
        return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1) cap *= 2;
        char *grown = realloc(b->data, cap);
        if (grown == NULL) return 0;
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->len, chunk, n);
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

static bool transient_curl(CURLcode rc)
{
    return rc == CURLE_COULDNT_CONNECT || rc == CURLE_OPERATION_TIMEDOUT || rc == CURLE_RECV_ERROR ||
           rc == CURLE_SEND_ERROR || rc == CURLE_GOT_NOTHING || rc == CURLE_PARTIAL_FILE ||
           rc == CURLE_COULDNT_RESOLVE_HOST;
}

static bool transient_http(long status) { return status == 429 || status == 502 || status == 503 || status == 504; }

/* POSTs request; on success b holds the body of a 200 answer. */
static int post(struct mc_rpc *rpc, const char *method, const char *request, struct body *b, struct cohort_error *err)
{
    CURL *c = rpc->curl;
    long backoff_ms = rpc->options.retry_base_ms;
    for (unsigned attempt = 0;; attempt++) {
        b->len = 0;
        b->too_large = false;
        curl_easy_reset(c);
        curl_easy_setopt(c, CURLOPT_URL, rpc->url);
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, rpc->headers);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, request);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, rpc->options.connect_timeout_ms);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, rpc->options.request_timeout_ms);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)rpc->options.max_response_bytes);
        CURLcode rc = curl_easy_perform(c);
        long status = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);

        if (b->too_large || rc == CURLE_FILESIZE_EXCEEDED)
            return cohort_error_set(err, MC_E_TOO_LARGE, DOMAIN, "rpc %s to %s: response larger than %zu bytes", method,
                                    rpc->url, rpc->options.max_response_bytes);
        bool retry = rc != CURLE_OK ? transient_curl(rc) : transient_http(status);
        if (rc == CURLE_OK && status == 200) return 0;
        if (!retry || attempt >= rpc->options.max_retries) {
            if (rc != CURLE_OK) {
                const char *hint = rc == CURLE_COULDNT_CONNECT ? "; is the node running and the URL right?" : "";
                return cohort_error_set(err, MC_E_UNAVAILABLE, DOMAIN, "rpc %s to %s: %s after %u attempt%s%s", method,
                                        rpc->url, curl_easy_strerror(rc), attempt + 1, attempt ? "s" : "", hint);
            }
            return cohort_error_set(err, MC_E_HTTP, DOMAIN, "rpc %s to %s: HTTP %ld%s%.*s", method, rpc->url, status,
                                    b->len ? ": " : "", (int)(b->len > 200 ? 200 : b->len), b->data ? b->data : "");
        }
        sleep_ms(backoff_ms);
        backoff_ms *= 2;
    }
}

void mc_decode_revert(const uint8_t *data, size_t len, char *out, size_t out_size)
{
    assert(out_size > 0);
    if (len == 0) {
        snprintf(out, out_size, "no reason given");
        return;
    }
    if (len < 4) {
        snprintf(out, out_size, "malformed revert data (%zu bytes)", len);
        return;
    }
    static const uint8_t error_string[4] = {0x08, 0xc3, 0x79, 0xa0}; /* Error(string) */
    static const uint8_t panic_uint[4] = {0x4e, 0x48, 0x7b, 0x71};   /* Panic(uint256) */
    if (memcmp(data, error_string, 4) == 0 && len >= 4 + 64) {
        /* Offset word (0x20), length word, then the bytes. Every bound checked. */
        u256 offset = u256_load_be(data + 4), length;
        if (u256_fits_u64(offset) && offset.w[0] <= len - 4 - 32) {
            length = u256_load_be(data + 4 + offset.w[0]);
            size_t start = 4 + (size_t)offset.w[0] + 32;
            if (u256_fits_u64(length) && length.w[0] <= len - start) {
                size_t n = (size_t)length.w[0];
                size_t w = 0;
                for (size_t i = 0; i < n && w + 1 < out_size; i++) {
                    unsigned char ch = data[start + i];
                    out[w++] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
                }
                out[w] = '\0';
                return;
            }
        }
        snprintf(out, out_size, "malformed Error(string) revert data");
        return;
    }
    if (memcmp(data, panic_uint, 4) == 0 && len == 4 + 32) {
        u256 code = u256_load_be(data + 4);
        uint64_t c = u256_fits_u64(code) ? code.w[0] : UINT64_MAX;
        const char *what = c == 0x01   ? "assertion failed"
                           : c == 0x11 ? "arithmetic overflow"
                           : c == 0x12 ? "division by zero"
                           : c == 0x21 ? "invalid enum value"
                           : c == 0x31 ? "pop on empty array"
                           : c == 0x32 ? "array index out of bounds"
                           : c == 0x41 ? "out of memory"
                                       : "panic";
        snprintf(out, out_size, "panic 0x%02llx (%s)", (unsigned long long)c, what);
        return;
    }
    snprintf(out, out_size, "custom error 0x%02x%02x%02x%02x (%zu bytes of data)", data[0], data[1], data[2], data[3],
             len);
}

/* Fills err from a JSON-RPC error object, decoding revert data where present. */
static int rpc_error(struct mc_rpc *rpc, const char *method, const cJSON *error, struct cohort_error *err)
{
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(error, "code");
    const cJSON *message = cJSON_GetObjectItemCaseSensitive(error, "message");
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(error, "data");
    if (!cJSON_IsNumber(code) || !cJSON_IsString(message))
        return cohort_error_set(err, MC_E_MALFORMED, DOMAIN, "rpc %s to %s: error object without code and message",
                                method, rpc->url);
    rpc->last_error_code = (long)code->valuedouble;
    /* Reverts: geth and anvil answer code 3 with the revert data as hex in "data". */
    const char *hex = cJSON_IsString(data) ? data->valuestring : NULL;
    bool reverted = rpc->last_error_code == 3 || strstr(message->valuestring, "revert") != NULL;
    if (reverted) {
        char reason[256] = "no reason given";
        rpc->revert_len = 0;
        if (hex != NULL && strlen(hex) <= 2 + 2 * sizeof rpc->revert_data) {
            size_t n = 0;
            if (hex_decode(hex, rpc->revert_data, sizeof rpc->revert_data, &n, NULL) == 0) {
                rpc->revert_len = n;
                mc_decode_revert(rpc->revert_data, n, reason, sizeof reason);
            }
        }
        return cohort_error_set(err, MC_E_REVERTED, DOMAIN, "rpc %s: execution reverted: %s", method, reason);
    }
    return cohort_error_set(err, MC_E_RPC, DOMAIN, "rpc %s to %s: error %ld: %.300s", method, rpc->url,
                            rpc->last_error_code, message->valuestring);
}

int mc_rpc_call(struct mc_rpc *rpc, const char *method, const cJSON *params, cJSON **result, struct cohort_error *err)
{
    assert(rpc != NULL);
    assert(method != NULL);
    assert(result != NULL);
    *result = NULL;
    rpc->last_error_code = 0;
    rpc->revert_len = 0;
    uint64_t id = rpc->next_id++;

    cJSON *request = cJSON_CreateObject();
    cJSON *params_copy = params ? cJSON_Duplicate(params, 1) : cJSON_CreateArray();
    if (request == NULL || params_copy == NULL) {
        cJSON_Delete(request);
        cJSON_Delete(params_copy);
        return cohort_error_set(err, MC_E_NOMEM, DOMAIN, "rpc %s: out of memory", method);
    }
    cJSON_AddStringToObject(request, "jsonrpc", "2.0");
    cJSON_AddNumberToObject(request, "id", (double)id);
    cJSON_AddStringToObject(request, "method", method);
    cJSON_AddItemToObject(request, "params", params_copy);
    char *text = cJSON_PrintUnformatted(request);
    cJSON_Delete(request);
    if (text == NULL) return cohort_error_set(err, MC_E_NOMEM, DOMAIN, "rpc %s: out of memory", method);

    struct body b = {.limit = rpc->options.max_response_bytes};
    int rc = post(rpc, method, text, &b, err);
    free(text);
    if (rc < 0) {
        free(b.data);
        return rc;
    }

    rc = mc_rpc_parse_response(rpc, method, id, b.data ? b.data : "", b.len, result, err);
    free(b.data);
    return rc;
}

int mc_rpc_parse_response(struct mc_rpc *rpc, const char *method, uint64_t id, const char *body, size_t len,
                          cJSON **result, struct cohort_error *err)
{
    int rc;
    *result = NULL;
    cJSON *response = cJSON_ParseWithLength(body, len);
    if (response == NULL)
        return cohort_error_set(err, MC_E_MALFORMED, DOMAIN, "rpc %s to %s: response is not JSON (%zu bytes: %.*s%s)",
                                method, rpc->url, len, (int)(len < 80 ? len : 80), body, len > 80 ? "..." : "");
    const cJSON *version = cJSON_GetObjectItemCaseSensitive(response, "jsonrpc");
    const cJSON *rid = cJSON_GetObjectItemCaseSensitive(response, "id");
    cJSON *res = cJSON_GetObjectItemCaseSensitive(response, "result");
    const cJSON *error = cJSON_GetObjectItemCaseSensitive(response, "error");
    if (!cJSON_IsObject(response) || !cJSON_IsString(version) || strcmp(version->valuestring, "2.0") != 0) {
        rc = cohort_error_set(err, MC_E_MALFORMED, DOMAIN, "rpc %s to %s: not a JSON-RPC 2.0 response", method,
                              rpc->url);
    } else if (!cJSON_IsNumber(rid) || rid->valuedouble != (double)id) {
        rc = cohort_error_set(err, MC_E_MALFORMED, DOMAIN, "rpc %s to %s: response id does not match request id %llu",
                              method, rpc->url, (unsigned long long)id);
    } else if (error != NULL) {
        rc = cJSON_IsObject(error) ? rpc_error(rpc, method, error, err)
                                   : cohort_error_set(err, MC_E_MALFORMED, DOMAIN, "rpc %s: error is not an object",
                                                      method);
    } else if (res == NULL) {
        rc = cohort_error_set(err, MC_E_MALFORMED, DOMAIN, "rpc %s to %s: response has neither result nor error",
                              method, rpc->url);
    } else {
        *result = cJSON_DetachItemViaPointer(response, res);
        rc = 0;
    }
    cJSON_Delete(response);
    return rc;
}
