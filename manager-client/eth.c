/*
 * eth.c - typed wrappers over mc_rpc_call for the eth_* methods cohort uses: they build
 * the params, call, and check the shape of every field they read (a field of the wrong
 * type or size is MC_E_MALFORMED naming the method and the field).
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hex.h"
#include "manager_client.h"
#include "rpc_internal.h"

#define DOMAIN "manager-client"
#define MAX_LOG_DATA (1u << 20)  /* one log's data: 1 MiB is far above any manager event */
#define MAX_LOGS_PER_CALL 100000 /* above this a range is split */

static int malformed(struct cohort_error *err, const char *method, const char *field, const char *why)
{
    return cohort_error_set(err, MC_E_MALFORMED, DOMAIN, "rpc %s: field '%s' %s", method, field, why);
}

/* A field whose text failed a common/ parser: keep that parser's words, recode as malformed. */
static int bad_field(struct cohort_error *err, const char *method, const char *field)
{
    cohort_error_wrap(err, "rpc %s: field '%s'", method, field);
    if (err != NULL) {
        err->code = MC_E_MALFORMED;
        err->domain = DOMAIN;
    }
    return MC_E_MALFORMED;
}

static int get_u64(const cJSON *obj, const char *field, const char *method, uint64_t *out, struct cohort_error *err)
{
    const cJSON *v = obj && cJSON_IsObject(obj) ? cJSON_GetObjectItemCaseSensitive(obj, field) : obj;
    if (!cJSON_IsString(v)) return malformed(err, method, field, "is missing or not a hex string");
    if (hex_decode_quantity_u64(v->valuestring, out, err) < 0) return bad_field(err, method, field);
    return 0;
}

static int get_u256(const cJSON *obj, const char *field, const char *method, u256 *out, struct cohort_error *err)
{
    const cJSON *v = obj && cJSON_IsObject(obj) ? cJSON_GetObjectItemCaseSensitive(obj, field) : obj;
    if (!cJSON_IsString(v)) return malformed(err, method, field, "is missing or not a hex string");
    if (u256_from_hex(v->valuestring, out, err) < 0) return bad_field(err, method, field);
    return 0;
}

static int get_fixed(const cJSON *obj, const char *field, const char *method, uint8_t *out, size_t len,
                     struct cohort_error *err)
{
    const cJSON *v = obj && cJSON_IsObject(obj) ? cJSON_GetObjectItemCaseSensitive(obj, field) : obj;
    if (!cJSON_IsString(v)) return malformed(err, method, field, "is missing or not a hex string");
    if (hex_decode_exact(v->valuestring, out, len, err) < 0) return bad_field(err, method, field);
    return 0;
}

/* Decodes a DATA string of at most max bytes into a malloc'd buffer (at least 1 byte allocated). */
static int get_bytes(const cJSON *v, const char *field, const char *method, size_t max, uint8_t **out, size_t *len,
                     struct cohort_error *err)
{
    if (!cJSON_IsString(v)) return malformed(err, method, field, "is missing or not a hex string");
    size_t text_len = strlen(v->valuestring);
    if (text_len < 2 || (text_len - 2) / 2 > max) return malformed(err, method, field, "is too long or has no 0x");
    uint8_t *buf = malloc((text_len - 2) / 2 + 1);
    if (buf == NULL) return cohort_error_set(err, MC_E_NOMEM, DOMAIN, "rpc %s: out of memory", method);
    if (hex_decode(v->valuestring, buf, (text_len - 2) / 2, len, err) < 0) {
        free(buf);
        return bad_field(err, method, field);
    }
    *out = buf;
    return 0;
}

static cJSON *block_ref_json(struct mc_block_ref block)
{
    if (block.tag != NULL) return cJSON_CreateString(block.tag);
    char q[19];
    hex_encode_quantity_u64(block.number, q, sizeof q);
    return cJSON_CreateString(q);
}

static cJSON *hex_json(const uint8_t *data, size_t len)
{
    char *text = malloc(2 * len + 3);
    if (text == NULL) return NULL;
    hex_encode(data, len, text, 2 * len + 3);
    cJSON *s = cJSON_CreateString(text);
    free(text);
    return s;
}

/* Calls a method whose params are built by the caller (params is consumed). */
static int call(struct mc_rpc *rpc, const char *method, cJSON *params, cJSON **result, struct cohort_error *err)
{
    if (params == NULL) return cohort_error_set(err, MC_E_NOMEM, DOMAIN, "rpc %s: out of memory", method);
    int rc = mc_rpc_call(rpc, method, params, result, err);
    cJSON_Delete(params);
    return rc;
}

static int call_quantity(struct mc_rpc *rpc, const char *method, cJSON *params, u256 *wide, uint64_t *narrow,
                         struct cohort_error *err)
{
    cJSON *result;
    int rc = call(rpc, method, params, &result, err);
    if (rc < 0) return rc;
    rc = wide ? get_u256(result, "result", method, wide, err) : get_u64(result, "result", method, narrow, err);
    cJSON_Delete(result);
    return rc;
}

int mc_eth_chain_id(struct mc_rpc *rpc, uint64_t *chain_id, struct cohort_error *err)
{
    return call_quantity(rpc, "eth_chainId", cJSON_CreateArray(), NULL, chain_id, err);
}

int mc_eth_block_number(struct mc_rpc *rpc, uint64_t *number, struct cohort_error *err)
{
    return call_quantity(rpc, "eth_blockNumber", cJSON_CreateArray(), NULL, number, err);
}

static cJSON *address_and_block(const uint8_t address[20], struct mc_block_ref block)
{
    cJSON *params = cJSON_CreateArray();
    if (params == NULL) return NULL;
    cJSON_AddItemToArray(params, hex_json(address, 20));
    cJSON_AddItemToArray(params, block_ref_json(block));
    return params;
}

int mc_eth_get_balance(struct mc_rpc *rpc, const uint8_t address[20], struct mc_block_ref block, u256 *balance,
                       struct cohort_error *err)
{
    return call_quantity(rpc, "eth_getBalance", address_and_block(address, block), balance, NULL, err);
}

int mc_eth_get_transaction_count(struct mc_rpc *rpc, const uint8_t address[20], struct mc_block_ref block,
                                 uint64_t *nonce, struct cohort_error *err)
{
    return call_quantity(rpc, "eth_getTransactionCount", address_and_block(address, block), NULL, nonce, err);
}

int mc_eth_gas_price(struct mc_rpc *rpc, u256 *price, struct cohort_error *err)
{
    return call_quantity(rpc, "eth_gasPrice", cJSON_CreateArray(), price, NULL, err);
}

int mc_eth_max_priority_fee_per_gas(struct mc_rpc *rpc, u256 *fee, struct cohort_error *err)
{
    return call_quantity(rpc, "eth_maxPriorityFeePerGas", cJSON_CreateArray(), fee, NULL, err);
}

int mc_eth_get_code_size(struct mc_rpc *rpc, const uint8_t address[20], struct mc_block_ref block, size_t *size,
                         struct cohort_error *err)
{
    cJSON *result;
    int rc = call(rpc, "eth_getCode", address_and_block(address, block), &result, err);
    if (rc < 0) return rc;
    uint8_t *code = NULL;
    rc = get_bytes(result, "result", "eth_getCode", 1u << 20, &code, size, err);
    free(code);
    cJSON_Delete(result);
    return rc;
}

int mc_eth_get_block_by_number(struct mc_rpc *rpc, struct mc_block_ref block, struct mc_block *out,
                               struct cohort_error *err)
{
    const char *m = "eth_getBlockByNumber";
    cJSON *params = cJSON_CreateArray();
    if (params != NULL) {
        cJSON_AddItemToArray(params, block_ref_json(block));
        cJSON_AddItemToArray(params, cJSON_CreateFalse());
    }
    cJSON *result;
    int rc = call(rpc, m, params, &result, err);
    if (rc < 0) return rc;
    memset(out, 0, sizeof *out);
    if (cJSON_IsNull(result)) {
        rc = cohort_error_set(err, MC_E_NOT_FOUND, DOMAIN, "rpc %s: no such block", m);
    } else if (!cJSON_IsObject(result)) {
        rc = malformed(err, m, "result", "is not an object");
    } else if ((rc = get_u64(result, "number", m, &out->number, err)) == 0 &&
               (rc = get_fixed(result, "hash", m, out->hash, 32, err)) == 0 &&
               (rc = get_fixed(result, "parentHash", m, out->parent_hash, 32, err)) == 0 &&
               (rc = get_u64(result, "timestamp", m, &out->timestamp, err)) == 0 &&
               (rc = get_u64(result, "gasLimit", m, &out->gas_limit, err)) == 0) {
        if (cJSON_GetObjectItemCaseSensitive(result, "baseFeePerGas") != NULL) {
            rc = get_u256(result, "baseFeePerGas", m, &out->base_fee_per_gas, err);
            out->has_base_fee = rc == 0;
        }
    }
    cJSON_Delete(result);
    return rc;
}

static int compare_u256(const void *a, const void *b)
{
    const u256 *x = a, *y = b;
    return u256_lt(*x, *y) ? -1 : u256_gt(*x, *y) ? 1 : 0;
}

int mc_eth_fee_history(struct mc_rpc *rpc, unsigned block_count, struct mc_block_ref newest, double percentile,
                       u256 *next_base_fee, u256 *median_reward, struct cohort_error *err)
{
    const char *m = "eth_feeHistory";
    assert(block_count > 0 && block_count <= 1024);
    cJSON *params = cJSON_CreateArray();
    if (params != NULL) {
        char q[19];
        hex_encode_quantity_u64(block_count, q, sizeof q);
        cJSON_AddItemToArray(params, cJSON_CreateString(q));
        cJSON_AddItemToArray(params, block_ref_json(newest));
        cJSON *percentiles = cJSON_CreateArray();
        cJSON_AddItemToArray(percentiles, cJSON_CreateNumber(percentile));
        cJSON_AddItemToArray(params, percentiles);
    }
    cJSON *result;
    int rc = call(rpc, m, params, &result, err);
    if (rc < 0) return rc;
    const cJSON *base = cJSON_GetObjectItemCaseSensitive(result, "baseFeePerGas");
    const cJSON *reward = cJSON_GetObjectItemCaseSensitive(result, "reward");
    int nbase = cJSON_IsArray(base) ? cJSON_GetArraySize(base) : 0;
    if (nbase == 0) {
        rc = malformed(err, m, "baseFeePerGas", "is missing or empty");
        goto out;
    }
    /* The last entry is the base fee of the block after newest. */
    if ((rc = get_u256(cJSON_GetArrayItem(base, nbase - 1), "baseFeePerGas", m, next_base_fee, err)) < 0) goto out;
    *median_reward = u256_zero();
    int nreward = cJSON_IsArray(reward) ? cJSON_GetArraySize(reward) : 0;
    if (nreward > 0 && nreward <= 1024) {
        u256 values[1024];
        int n = 0;
        const cJSON *row;
        cJSON_ArrayForEach(row, reward)
        {
            if (!cJSON_IsArray(row) || cJSON_GetArraySize(row) < 1) continue;
            if ((rc = get_u256(cJSON_GetArrayItem(row, 0), "reward", m, &values[n], err)) < 0) goto out;
            n++;
        }
        if (n > 0) {
            qsort(values, (size_t)n, sizeof values[0], compare_u256);
            *median_reward = values[n / 2];
        }
    }
out:
    cJSON_Delete(result);
    return rc;
}

static cJSON *call_object(const struct mc_call *c)
{
    cJSON *obj = cJSON_CreateObject();
    if (obj == NULL) return NULL;
    if (c->from) cJSON_AddItemToObject(obj, "from", hex_json(c->from, 20));
    if (c->to) cJSON_AddItemToObject(obj, "to", hex_json(c->to, 20));
    if (!u256_is_zero(c->value)) {
        char q[67];
        u256_to_hex(c->value, q, sizeof q);
        cJSON_AddStringToObject(obj, "value", q);
    }
    if (c->gas) {
        char q[19];
        hex_encode_quantity_u64(c->gas, q, sizeof q);
        cJSON_AddStringToObject(obj, "gas", q);
    }
    cJSON_AddItemToObject(obj, "input", hex_json(c->data ? c->data : (const uint8_t *)"", c->data_len));
    return obj;
}

int mc_eth_call(struct mc_rpc *rpc, const struct mc_call *c, struct mc_block_ref block, uint8_t **output,
                size_t *output_len, struct cohort_error *err)
{
    cJSON *params = cJSON_CreateArray();
    if (params != NULL) {
        cJSON_AddItemToArray(params, call_object(c));
        cJSON_AddItemToArray(params, block_ref_json(block));
    }
    cJSON *result;
    int rc = call(rpc, "eth_call", params, &result, err);
    if (rc < 0) return rc;
    rc = get_bytes(result, "result", "eth_call", 16u << 20, output, output_len, err);
    cJSON_Delete(result);
    return rc;
}

int mc_eth_estimate_gas(struct mc_rpc *rpc, const struct mc_call *c, uint64_t *gas, struct cohort_error *err)
{
    cJSON *params = cJSON_CreateArray();
    if (params != NULL) cJSON_AddItemToArray(params, call_object(c));
    return call_quantity(rpc, "eth_estimateGas", params, NULL, gas, err);
}

int mc_eth_send_raw_transaction(struct mc_rpc *rpc, const uint8_t *raw, size_t raw_len, uint8_t hash[32],
                                struct cohort_error *err)
{
    cJSON *params = cJSON_CreateArray();
    if (params != NULL) cJSON_AddItemToArray(params, hex_json(raw, raw_len));
    cJSON *result;
    int rc = call(rpc, "eth_sendRawTransaction", params, &result, err);
    if (rc < 0) return rc;
    rc = get_fixed(result, "result", "eth_sendRawTransaction", hash, 32, err);
    cJSON_Delete(result);
    return rc;
}

void mc_log_list_free(struct mc_log_list *list)
{
    if (list == NULL) return;
    for (size_t i = 0; i < list->count; i++) free(list->logs[i].data);
    free(list->logs);
    list->logs = NULL;
    list->count = 0;
}

static int parse_log(const cJSON *j, const char *m, struct mc_log *log, struct cohort_error *err)
{
    memset(log, 0, sizeof *log);
    int rc;
    if (!cJSON_IsObject(j)) return malformed(err, m, "log", "is not an object");
    if ((rc = get_fixed(j, "address", m, log->address, 20, err)) < 0) return rc;
    const cJSON *topics = cJSON_GetObjectItemCaseSensitive(j, "topics");
    if (!cJSON_IsArray(topics) || cJSON_GetArraySize(topics) > MC_MAX_TOPICS)
        return malformed(err, m, "topics", "is not an array of at most 4 topics");
    const cJSON *t;
    cJSON_ArrayForEach(t, topics)
    {
        if ((rc = get_fixed(t, "topics", m, log->topics[log->ntopics], 32, err)) < 0) return rc;
        log->ntopics++;
    }
    if ((rc = get_bytes(cJSON_GetObjectItemCaseSensitive(j, "data"), "data", m, MAX_LOG_DATA, &log->data,
                        &log->data_len, err)) < 0)
        return rc;
    if ((rc = get_u64(j, "blockNumber", m, &log->block_number, err)) < 0 ||
        (rc = get_fixed(j, "blockHash", m, log->block_hash, 32, err)) < 0 ||
        (rc = get_fixed(j, "transactionHash", m, log->transaction_hash, 32, err)) < 0 ||
        (rc = get_u64(j, "transactionIndex", m, &log->transaction_index, err)) < 0 ||
        (rc = get_u64(j, "logIndex", m, &log->log_index, err)) < 0) {
        free(log->data);
        log->data = NULL;
        return rc;
    }
    log->removed = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "removed"));
    return 0;
}

/* Appends every log of array j to list. */
static int parse_logs(const cJSON *j, const char *m, struct mc_log_list *list, struct cohort_error *err)
{
    if (!cJSON_IsArray(j)) return malformed(err, m, "logs", "is not an array");
    int n = cJSON_GetArraySize(j);
    if (n == 0) return 0;
    if (n > MAX_LOGS_PER_CALL) return cohort_error_set(err, MC_E_TOO_LARGE, DOMAIN, "rpc %s: %d logs in one answer", m, n);
    struct mc_log *grown = realloc(list->logs, (list->count + (size_t)n) * sizeof *grown);
    if (grown == NULL) return cohort_error_set(err, MC_E_NOMEM, DOMAIN, "rpc %s: out of memory", m);
    list->logs = grown;
    const cJSON *item;
    cJSON_ArrayForEach(item, j)
    {
        int rc = parse_log(item, m, &list->logs[list->count], err);
        if (rc < 0) return rc;
        list->count++;
    }
    return 0;
}

int mc_parse_logs(const char *json, size_t len, struct mc_log_list *out, struct cohort_error *err)
{
    out->logs = NULL;
    out->count = 0;
    cJSON *j = cJSON_ParseWithLength(json, len);
    if (j == NULL) return cohort_error_set(err, MC_E_MALFORMED, DOMAIN, "logs: not JSON");
    int rc = parse_logs(j, "eth_getLogs", out, err);
    cJSON_Delete(j);
    if (rc < 0) mc_log_list_free(out);
    return rc;
}

int mc_eth_get_transaction_receipt(struct mc_rpc *rpc, const uint8_t hash[32], struct mc_receipt *out,
                                   struct cohort_error *err)
{
    const char *m = "eth_getTransactionReceipt";
    memset(out, 0, sizeof *out);
    cJSON *params = cJSON_CreateArray();
    if (params != NULL) cJSON_AddItemToArray(params, hex_json(hash, 32));
    cJSON *r;
    int rc = call(rpc, m, params, &r, err);
    if (rc < 0) return rc;
    uint64_t status = 0;
    if (cJSON_IsNull(r)) {
        rc = cohort_error_set(err, MC_E_NOT_FOUND, DOMAIN, "rpc %s: transaction not mined yet", m);
    } else if (!cJSON_IsObject(r)) {
        rc = malformed(err, m, "result", "is not an object");
    } else if ((rc = get_fixed(r, "transactionHash", m, out->transaction_hash, 32, err)) == 0 &&
               (rc = get_u64(r, "blockNumber", m, &out->block_number, err)) == 0 &&
               (rc = get_fixed(r, "blockHash", m, out->block_hash, 32, err)) == 0 &&
               (rc = get_u64(r, "status", m, &status, err)) == 0 &&
               (rc = get_u64(r, "gasUsed", m, &out->gas_used, err)) == 0) {
        out->status = status == 1;
        if (cJSON_GetObjectItemCaseSensitive(r, "effectiveGasPrice") != NULL)
            rc = get_u256(r, "effectiveGasPrice", m, &out->effective_gas_price, err);
        const cJSON *ca = cJSON_GetObjectItemCaseSensitive(r, "contractAddress");
        if (rc == 0 && cJSON_IsString(ca)) {
            rc = get_fixed(ca, "contractAddress", m, out->contract_address, 20, err);
            out->has_contract_address = rc == 0;
        }
        if (rc == 0) rc = parse_logs(cJSON_GetObjectItemCaseSensitive(r, "logs"), m, &out->logs, err);
    }
    if (rc < 0) mc_receipt_free(out);
    cJSON_Delete(r);
    return rc;
}

void mc_receipt_free(struct mc_receipt *receipt)
{
    if (receipt != NULL) mc_log_list_free(&receipt->logs);
}

/* Does this failure mean "ask for fewer blocks"? Servers say it in different words. */
static bool range_refused(int rc, const struct cohort_error *err)
{
    if (rc == MC_E_TOO_LARGE) return true;
    if (rc != MC_E_RPC) return false;
    static const char *const phrases[] = {"range", "too many", "limit", "exceed", "too large", "10000 results"};
    for (size_t i = 0; i < sizeof phrases / sizeof phrases[0]; i++)
        if (strstr(err->message, phrases[i]) != NULL) return true;
    return false;
}

int mc_eth_get_logs(struct mc_rpc *rpc, const struct mc_log_filter *filter, struct mc_log_list *out,
                    struct cohort_error *err)
{
    const char *m = "eth_getLogs";
    assert(filter->from_block <= filter->to_block);
    out->logs = NULL;
    out->count = 0;
    /* Ranges still to fetch, in order: a stack whose top is the earliest range. Halving at
       most 64 times bounds it to 65 entries, so no recursion and no allocation. */
    struct {
        uint64_t from, to;
    } stack[72];
    size_t depth = 0;
    stack[depth].from = filter->from_block;
    stack[depth++].to = filter->to_block;
    while (depth > 0) {
        uint64_t from = stack[depth - 1].from, to = stack[depth - 1].to;
        depth--;
        cJSON *params = cJSON_CreateArray(), *f = cJSON_CreateObject();
        if (params == NULL || f == NULL) {
            cJSON_Delete(params);
            cJSON_Delete(f);
            mc_log_list_free(out);
            return cohort_error_set(err, MC_E_NOMEM, DOMAIN, "rpc %s: out of memory", m);
        }
        cJSON_AddItemToObject(f, "fromBlock", block_ref_json(MC_BLOCK(from)));
        cJSON_AddItemToObject(f, "toBlock", block_ref_json(MC_BLOCK(to)));
        if (filter->address) cJSON_AddItemToObject(f, "address", hex_json(filter->address, 20));
        if (filter->ntopic0s > 0) {
            cJSON *topics = cJSON_CreateArray(), *alternatives = cJSON_CreateArray();
            for (size_t i = 0; i < filter->ntopic0s; i++) cJSON_AddItemToArray(alternatives, hex_json(filter->topic0s[i], 32));
            cJSON_AddItemToArray(topics, alternatives);
            cJSON_AddItemToObject(f, "topics", topics);
        }
        cJSON_AddItemToArray(params, f);
        cJSON *result;
        int rc = call(rpc, m, params, &result, err);
        if (rc < 0 && range_refused(rc, err) && from < to) {
            uint64_t mid = from + (to - from) / 2;
            assert(depth + 2 <= sizeof stack / sizeof stack[0]);
            stack[depth].from = mid + 1;
            stack[depth++].to = to;
            stack[depth].from = from;
            stack[depth++].to = mid;
            continue;
        }
        if (rc < 0) {
            mc_log_list_free(out);
            return cohort_error_wrap(err, "blocks %llu..%llu", (unsigned long long)from, (unsigned long long)to);
        }
        rc = parse_logs(result, m, out, err);
        cJSON_Delete(result);
        if (rc < 0) {
            mc_log_list_free(out);
            return rc;
        }
    }
    return 0;
}
