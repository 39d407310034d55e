/*
 * dispatch.c - JSON-RPC 2.0 requests and batches: parse, check the envelope, find the
 * method, check the parameter count, run it, write the response (see rpc.h).
 *
 * The response is written straight into one buffer: the envelope's head, then the method
 * writes its result after it; when the method fails, the buffer goes back to the start of
 * this response and the error is written instead. Errors follow geth: -32700 for text that
 * is not JSON, -32600 for a request that is not one, -32601 for an unknown method, -32602
 * for bad parameters ("missing value for required argument 1", "too many arguments, want
 * at most 2", "invalid argument 0 (address): ..."), -32000 for what a method refuses.
 */
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rpc_internal.h"

#define DOMAIN "rpc"
/* Tokens one request body may hold: far above any real request (a batch of 1000 calls is
   about 10,000), far below what the memory of one request should be allowed to reach. */
#define TOKENS_MAX (1u << 20)
/* Room kept past the response cap for the error that replaces what did not fit. */
#define ERROR_SLACK 4096u

#define ENTRY(name, min, max) {#name, rpc_m_##name, min, max},
static const struct rpc_method methods[] = {RPC_METHODS(ENTRY)};
#undef ENTRY
#define METHOD_COUNT (sizeof methods / sizeof methods[0])

/* The table is sorted by name (the X-macro lists them so), which the lookup relies on. */
const struct rpc_method *rpc_method_find(const char *name, size_t len)
{
    size_t lo = 0, hi = METHOD_COUNT;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const char *m = methods[mid].name;
        size_t mlen = strlen(m);
        int cmp = memcmp(name, m, len < mlen ? len : mlen);
        if (cmp == 0) cmp = len < mlen ? -1 : len > mlen ? 1 : 0;
        if (cmp == 0) return &methods[mid];
        if (cmp < 0) hi = mid;
        else lo = mid + 1;
    }
    return NULL;
}

int rpc_fail(struct rpc_call *c, int code, const char *fmt, ...)
{
    c->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->message, sizeof c->message, fmt, ap);
    va_end(ap);
    return -1;
}

void rpc_fail_data(struct rpc_call *c, const uint8_t *data, size_t len)
{
    free(c->data);
    c->data = NULL;
    c->data_len = 0;
    c->data = malloc(len ? len : 1);
    if (c->data == NULL) return;
    if (len) memcpy(c->data, data, len);
    c->data_len = len;
}

int rpc_fail_store(struct rpc_call *c, int code, const struct cohort_error *err)
{
    if (err->code == STORE_E_PRUNED) return rpc_fail(c, RPC_ERR_DEFAULT, "%s", err->message);
    return rpc_fail(c, code, "%s", err->message[0] ? err->message : "store failure");
}

struct store_view *rpc_view(struct rpc_call *c)
{
    if (c->view != NULL) return c->view;
    struct cohort_error err = {0};
    if (store_view_begin(c->rpc->chain.store, &c->view, &err) != 0) {
        c->view = NULL;
        rpc_fail(c, RPC_ERR_INTERNAL, "internal error: cannot read the chain: %s", err.message);
        return NULL;
    }
    return c->view;
}

/* ---- Writing responses ---- */

static void write_id(struct rpc_buf *b, const struct rpc_json *j, int64_t id)
{
    if (id < 0) {
        rpc_buf_puts(b, "null");
        return;
    }
    const struct rpc_json_token *t = &j->tokens[id];
    rpc_buf_put(b, j->text + t->start, t->end - t->start);
}

static void write_error(struct rpc_buf *b, const struct rpc_json *j, int64_t id, int code, const char *message,
                        const uint8_t *data, size_t data_len, bool has_data)
{
    rpc_buf_puts(b, "{\"jsonrpc\":\"2.0\",\"id\":");
    write_id(b, j, id);
    rpc_buf_printf(b, ",\"error\":{\"code\":%d,\"message\":", code);
    rpc_buf_string(b, message, strlen(message));
    if (has_data) {
        rpc_buf_puts(b, ",\"data\":");
        rpc_buf_hex(b, data, data_len);
    }
    rpc_buf_puts(b, "}}");
}

/* True when the token can be an id: a string, a number or null (JSON-RPC 2.0). */
static bool id_valid(const struct rpc_json *j, int64_t id)
{
    uint8_t type = j->tokens[id].type;
    return type == RPC_JSON_STRING || type == RPC_JSON_NUMBER || type == RPC_JSON_NULL;
}

/*
 * Handles the request at token r. Appends its response to out and returns true, or
 * returns false when it is a notification (nothing appended). cap is the response cap:
 * a result that takes out past it is replaced by a -32003 error.
 */
static bool handle_one(struct rpc *rpc, const struct rpc_client *client, const struct rpc_json *j, uint32_t r,
                       struct rpc_buf *out, size_t cap, bool *too_large)
{
    size_t start = out->len;
    *too_large = false;
    const struct rpc_json_token *req = &j->tokens[r];
    if (req->type != RPC_JSON_OBJECT) {
        write_error(out, j, -1, RPC_ERR_INVALID_REQUEST, "invalid request: not a JSON-RPC request object", NULL, 0,
                    false);
        return true;
    }
    int64_t id = rpc_json_get(j, r, "id");
    bool notification = id < 0;
    if (!notification && !id_valid(j, id)) {
        write_error(out, j, -1, RPC_ERR_INVALID_REQUEST, "invalid request: id must be a string, a number or null",
                    NULL, 0, false);
        return true;
    }
    int64_t method = rpc_json_get(j, r, "method");
    if (method < 0 || j->tokens[method].type != RPC_JSON_STRING) {
        write_error(out, j, id, RPC_ERR_INVALID_REQUEST, "invalid request: method must be a string", NULL, 0, false);
        return true;
    }
    size_t name_len;
    const char *name = rpc_json_string(j, (uint32_t)method, &name_len);
    const struct rpc_method *m = rpc_method_find(name, name_len);

    struct rpc_call c;
    memset(&c, 0, sizeof c);
    c.rpc = rpc;
    c.json = j;
    c.client = client;
    c.out = out;
    if (m == NULL) {
        /* The name is echoed (geth does), bounded so a huge name cannot fill the message. */
        int shown = name_len > 128 ? 128 : (int)name_len;
        rpc_fail(&c, RPC_ERR_METHOD_NOT_FOUND, "the method %.*s%s does not exist/is not available", shown, name,
                 name_len > 128 ? "..." : "");
        goto failed;
    }
    int64_t params = rpc_json_get(j, r, "params");
    if (params >= 0 && j->tokens[params].type == RPC_JSON_OBJECT) {
        rpc_fail(&c, RPC_ERR_INVALID_PARAMS, "non-array args: params must be an array of positional arguments");
        goto failed;
    }
    if (params >= 0 && j->tokens[params].type != RPC_JSON_ARRAY && j->tokens[params].type != RPC_JSON_NULL) {
        rpc_fail(&c, RPC_ERR_INVALID_PARAMS, "non-array args: params must be an array of positional arguments");
        goto failed;
    }
    if (params >= 0 && j->tokens[params].type == RPC_JSON_ARRAY) {
        uint32_t count = j->tokens[params].count;
        if (count > m->max_params) {
            rpc_fail(&c, RPC_ERR_INVALID_PARAMS, "too many arguments, want at most %u", (unsigned)m->max_params);
            goto failed;
        }
        assert(count <= RPC_PARAMS_MAX);
        uint32_t e = (uint32_t)params + 1;
        for (uint32_t i = 0; i < count; i++) {
            c.param[i] = e;
            e = j->tokens[e].next;
        }
        c.nparams = count;
    }
    for (uint32_t i = 0; i < m->min_params; i++) {
        if (!rpc_param_given(&c, i)) {
            rpc_fail(&c, RPC_ERR_INVALID_PARAMS, "missing value for required argument %u", i);
            goto failed;
        }
    }
    if (!notification) {
        rpc_buf_puts(out, "{\"jsonrpc\":\"2.0\",\"id\":");
        write_id(out, j, id);
        rpc_buf_puts(out, ",\"result\":");
    }
    size_t result_at = out->len;
    int rc = m->fn(&c);
    if (c.view != NULL) store_view_end(c.view);
    c.view = NULL;
    if (notification) {
        rpc_buf_truncate(out, start);
        free(c.data);
        return false;
    }
    if (rc != 0) goto failed;
    assert(out->len >= result_at);
    rpc_buf_puts(out, "}");
    if (out->over || out->len > cap) {
        *too_large = true;
        rpc_fail(&c, RPC_ERR_RESPONSE_TOO_LARGE, "response too large: over the limit of %zu bytes per response",
                 rpc->limits.response_bytes);
        goto failed;
    }
    return true;
failed:
    if (c.view != NULL) store_view_end(c.view);
    rpc_buf_truncate(out, start);
    if (notification) {
        free(c.data);
        return false;
    }
    write_error(out, j, id, c.code, c.message, c.data, c.data_len, c.data != NULL);
    free(c.data);
    return true;
}

/* The whole text's response when it cannot be parsed or is empty of requests. */
static char *single_error(int code, const char *message, size_t *response_len)
{
    struct rpc_buf b;
    rpc_buf_init(&b, 2 * RPC_MESSAGE_MAX + 256);
    rpc_buf_printf(&b, "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":%d,\"message\":", code);
    rpc_buf_string(&b, message, strlen(message));
    rpc_buf_puts(&b, "}}");
    return rpc_buf_take(&b, response_len);
}

char *rpc_handle_client(struct rpc *rpc, const struct rpc_client *client, const char *body, size_t body_len,
                        size_t *response_len)
{
    assert(rpc != NULL && client != NULL && response_len != NULL);
    *response_len = 0;
    char message[RPC_MESSAGE_MAX];
    if (body_len > rpc->limits.body_bytes) {
        snprintf(message, sizeof message, "request too large: %zu bytes, over the limit of %zu bytes per request",
                 body_len, rpc->limits.body_bytes);
        return single_error(RPC_ERR_LIMIT, message, response_len);
    }
    struct rpc_json j;
    struct cohort_error err = {0};
    if (rpc_json_parse(&j, body, body_len, RPC_JSON_DEPTH_MAX, TOKENS_MAX, &err) != 0) {
        rpc_json_free(&j);
        return single_error(RPC_ERR_PARSE, err.message, response_len);
    }
    size_t cap = rpc->limits.response_bytes;
    struct rpc_buf out;
    const struct rpc_json_token *root = &j.tokens[0];
    if (root->type != RPC_JSON_ARRAY) {
        rpc_buf_init(&out, cap + ERROR_SLACK);
        bool too_large;
        bool answered = handle_one(rpc, client, &j, 0, &out, cap, &too_large);
        rpc_json_free(&j);
        if (!answered) {
            rpc_buf_free(&out);
            return NULL;
        }
        return rpc_buf_take(&out, response_len);
    }
    if (root->count == 0) {
        rpc_json_free(&j);
        return single_error(RPC_ERR_INVALID_REQUEST, "empty batch", response_len);
    }
    if (root->count > rpc->limits.batch_requests) {
        /* geth answers a batch over its limit with one error carrying the first call's id. */
        int64_t first_id = -1;
        for (uint32_t e = 1, i = 0; i < root->count; i++, e = j.tokens[e].next) {
            int64_t id = j.tokens[e].type == RPC_JSON_OBJECT ? rpc_json_get(&j, e, "id") : -1;
            if (id >= 0 && id_valid(&j, id)) {
                first_id = id;
                break;
            }
        }
        snprintf(message, sizeof message, "batch too large: %u requests, over the limit of %u requests per batch",
                 root->count, rpc->limits.batch_requests);
        rpc_buf_init(&out, 2 * RPC_MESSAGE_MAX + 256);
        rpc_buf_puts(&out, "[");
        write_error(&out, &j, first_id, RPC_ERR_INVALID_REQUEST, message, NULL, 0, false);
        rpc_buf_puts(&out, "]");
        rpc_json_free(&j);
        return rpc_buf_take(&out, response_len);
    }
    rpc_buf_init(&out, cap + ERROR_SLACK + (size_t)root->count * 512);
    rpc_buf_puts(&out, "[");
    bool any = false;
    bool full = false;
    for (uint32_t e = 1, i = 0; i < root->count; i++, e = j.tokens[e].next) {
        size_t mark = out.len;
        if (any) rpc_buf_puts(&out, ",");
        bool answered;
        if (full) {
            /* The batch's responses already fill the cap: the rest get the error without running. */
            int64_t id = j.tokens[e].type == RPC_JSON_OBJECT ? rpc_json_get(&j, e, "id") : -1;
            answered = id >= 0 && id_valid(&j, id);
            if (answered) {
                snprintf(message, sizeof message, "response too large: over the limit of %zu bytes per response",
                         cap);
                write_error(&out, &j, id, RPC_ERR_RESPONSE_TOO_LARGE, message, NULL, 0, false);
            }
        } else {
            answered = handle_one(rpc, client, &j, e, &out, cap, &full);
        }
        if (!answered) rpc_buf_truncate(&out, mark);
        any = any || answered;
    }
    rpc_buf_puts(&out, "]");
    rpc_json_free(&j);
    if (!any) {
        rpc_buf_free(&out);
        return NULL;
    }
    return rpc_buf_take(&out, response_len);
}

char *rpc_handle(struct rpc *rpc, const char *client, const char *body, size_t body_len, size_t *response_len)
{
    struct rpc_client c = {.address = client ? client : "", .conn = NULL};
    return rpc_handle_client(rpc, &c, body, body_len, response_len);
}
