/*
 * params.c - decoding the parameters of JSON-RPC methods: addresses, hashes, quantities,
 * data, the block parameter (tags, numbers, hashes, EIP-1898 objects), transaction
 * arguments, state and block overrides, log criteria. Strict as geth's hexutil is
 * ("0x" required; quantities without leading zeros), and each refusal is -32602 with
 * the argument's position, the field when it is inside an object, and what was wrong:
 *
 *   invalid argument 0: field "gas": hex number with leading zero digits
 */
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hex.h"
#include "rpc_internal.h"
#include "subnode/state/state.h"

/* Caps on overrides: far above what a call needs, low enough to bound the work. */
#define OVERRIDE_ACCOUNTS_MAX 1024u
#define OVERRIDE_SLOTS_MAX 65536u
/* eth_call's data: the body cap bounds it anyway; this keeps one copy of it sane. */
#define CALL_DATA_MAX ((size_t)4 << 20)

/* A decoding failure below the argument level: a field name (or NULL) and what was wrong. */
struct why {
    char text[400];
};

static int why_set(struct why *w, const char *field, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int why_set(struct why *w, const char *field, const char *fmt, ...)
{
    char detail[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    if (field != NULL) snprintf(w->text, sizeof w->text, "field \"%s\": %s", field, detail);
    else snprintf(w->text, sizeof w->text, "%s", detail);
    return -1;
}

static int argument_error(struct rpc_call *c, uint32_t index, const struct why *w)
{
    return rpc_fail(c, RPC_ERR_INVALID_PARAMS, "invalid argument %u: %s", index, w->text);
}

static const char *type_name(uint8_t type)
{
    switch (type) {
    case RPC_JSON_OBJECT: return "an object";
    case RPC_JSON_ARRAY: return "an array";
    case RPC_JSON_STRING: return "a string";
    case RPC_JSON_NUMBER: return "a number";
    case RPC_JSON_TRUE:
    case RPC_JSON_FALSE: return "a boolean";
    default: return "null";
    }
}

bool rpc_param_given(const struct rpc_call *c, uint32_t index)
{
    return index < c->nparams && c->json->tokens[c->param[index]].type != RPC_JSON_NULL;
}

/* ---- Hex ---- */

/* The characters of a hex string token after its "0x": refuses other types and a missing prefix. */
static int hex_body(const struct rpc_json *j, uint32_t t, const char *field, const char *want, const char **digits,
                    size_t *len, struct why *w)
{
    if (j->tokens[t].type != RPC_JSON_STRING)
        return why_set(w, field, "want %s, got %s", want, type_name(j->tokens[t].type));
    size_t n;
    const char *s = rpc_json_string(j, t, &n);
    if (n < 2 || s[0] != '0' || (s[1] != 'x' && s[1] != 'X')) return why_set(w, field, "hex string without 0x prefix");
    *digits = s + 2;
    *len = n - 2;
    return 0;
}

static int data_from(const char *digits, size_t n, uint8_t *out, const char *field, struct why *w)
{
    if (n % 2 != 0) return why_set(w, field, "hex string of odd length");
    for (size_t i = 0; i < n / 2; i++) {
        int hi = hex_digit_value(digits[2 * i]), lo = hex_digit_value(digits[2 * i + 1]);
        if (hi < 0 || lo < 0) return why_set(w, field, "invalid hex string");
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

/* Exactly len bytes (an address: 20, a hash: 32). */
static int tok_fixed(const struct rpc_json *j, uint32_t t, const char *field, size_t len, uint8_t *out, struct why *w)
{
    const char *want = len == 20 ? "an address (0x and 40 hex digits)" : "a hash (0x and 64 hex digits)";
    const char *d;
    size_t n;
    if (hex_body(j, t, field, want, &d, &n, w) != 0) return -1;
    if (n != 2 * len)
        return why_set(w, field, "hex string has length %zu, want %zu for %s", n, 2 * len, len == 20 ? "an address" : "a hash");
    return data_from(d, n, out, field, w);
}

/* DATA of at most max bytes, malloc'd (at least one byte so the pointer is never NULL). */
static int tok_bytes(const struct rpc_json *j, uint32_t t, const char *field, size_t max, uint8_t **out, size_t *len,
                     struct why *w)
{
    const char *d;
    size_t n;
    if (hex_body(j, t, field, "hex data (0x and hex digits)", &d, &n, w) != 0) return -1;
    if (n / 2 > max) return why_set(w, field, "%zu bytes of data, over the limit of %zu bytes", n / 2, max);
    uint8_t *buf = malloc(n / 2 + 1);
    if (buf == NULL) return why_set(w, field, "out of memory");
    if (data_from(d, n, buf, field, w) != 0) {
        free(buf);
        return -1;
    }
    *out = buf;
    *len = n / 2;
    return 0;
}

/* A QUANTITY of at most bits (64 or 256) bits. */
static int quantity_digits(const char *d, size_t n, unsigned bits, const char *field, struct why *w)
{
    if (n == 0) return why_set(w, field, "hex string \"0x\"");
    if (n > 1 && d[0] == '0') return why_set(w, field, "hex number with leading zero digits");
    for (size_t i = 0; i < n; i++)
        if (hex_digit_value(d[i]) < 0) return why_set(w, field, "invalid hex string");
    if (n > bits / 4) return why_set(w, field, "hex number > %u bits", bits);
    return 0;
}

static int tok_u64(const struct rpc_json *j, uint32_t t, const char *field, uint64_t *out, struct why *w)
{
    const char *d;
    size_t n;
    if (hex_body(j, t, field, "a hex quantity (0x and digits)", &d, &n, w) != 0) return -1;
    if (quantity_digits(d, n, 64, field, w) != 0) return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) v = v << 4 | (uint64_t)hex_digit_value(d[i]);
    *out = v;
    return 0;
}

static int tok_u256(const struct rpc_json *j, uint32_t t, const char *field, u256 *out, struct why *w)
{
    const char *d;
    size_t n;
    if (hex_body(j, t, field, "a hex quantity (0x and digits)", &d, &n, w) != 0) return -1;
    if (quantity_digits(d, n, 256, field, w) != 0) return -1;
    u256 v = u256_zero();
    for (size_t i = 0; i < n; i++)
        v = u256_or(u256_shl(u256_from_u64(4), v), u256_from_u64((uint64_t)hex_digit_value(d[i])));
    *out = v;
    return 0;
}

/* A 32-byte word given as hex of up to 64 digits, any length, leading zeros allowed (slots, state values). */
static int tok_word(const struct rpc_json *j, uint32_t t, const char *field, u256 *out, struct why *w)
{
    const char *d;
    size_t n;
    if (hex_body(j, t, field, "a 32-byte hex value", &d, &n, w) != 0) return -1;
    if (n > 64) return why_set(w, field, "hex string of %zu digits, want at most 64", n);
    u256 v = u256_zero();
    for (size_t i = 0; i < n; i++) {
        int x = hex_digit_value(d[i]);
        if (x < 0) return why_set(w, field, "invalid hex string");
        v = u256_or(u256_shl(u256_from_u64(4), v), u256_from_u64((uint64_t)x));
    }
    *out = v;
    return 0;
}

static int tok_bool(const struct rpc_json *j, uint32_t t, const char *field, bool *out, struct why *w)
{
    uint8_t type = j->tokens[t].type;
    if (type != RPC_JSON_TRUE && type != RPC_JSON_FALSE) return why_set(w, field, "want a boolean, got %s", type_name(type));
    *out = type == RPC_JSON_TRUE;
    return 0;
}

/* ---- Positional parameters ---- */

int rpc_param_address(struct rpc_call *c, uint32_t index, uint8_t out[20])
{
    struct why w;
    if (!rpc_param_given(c, index)) return rpc_fail(c, RPC_ERR_INVALID_PARAMS, "missing value for required argument %u", index);
    return tok_fixed(c->json, c->param[index], NULL, 20, out, &w) == 0 ? 0 : argument_error(c, index, &w);
}

int rpc_param_hash(struct rpc_call *c, uint32_t index, uint8_t out[32])
{
    struct why w;
    if (!rpc_param_given(c, index)) return rpc_fail(c, RPC_ERR_INVALID_PARAMS, "missing value for required argument %u", index);
    return tok_fixed(c->json, c->param[index], NULL, 32, out, &w) == 0 ? 0 : argument_error(c, index, &w);
}

int rpc_param_u64(struct rpc_call *c, uint32_t index, uint64_t *out)
{
    struct why w;
    if (!rpc_param_given(c, index)) return rpc_fail(c, RPC_ERR_INVALID_PARAMS, "missing value for required argument %u", index);
    return tok_u64(c->json, c->param[index], NULL, out, &w) == 0 ? 0 : argument_error(c, index, &w);
}

int rpc_param_bool(struct rpc_call *c, uint32_t index, bool *out)
{
    struct why w;
    if (!rpc_param_given(c, index)) return rpc_fail(c, RPC_ERR_INVALID_PARAMS, "missing value for required argument %u", index);
    return tok_bool(c->json, c->param[index], NULL, out, &w) == 0 ? 0 : argument_error(c, index, &w);
}

int rpc_param_bytes(struct rpc_call *c, uint32_t index, size_t max, uint8_t **out, size_t *len)
{
    struct why w;
    if (!rpc_param_given(c, index)) return rpc_fail(c, RPC_ERR_INVALID_PARAMS, "missing value for required argument %u", index);
    return tok_bytes(c->json, c->param[index], NULL, max, out, len, &w) == 0 ? 0 : argument_error(c, index, &w);
}

int rpc_param_slot(struct rpc_call *c, uint32_t index, u256 *out)
{
    struct why w;
    if (!rpc_param_given(c, index)) return rpc_fail(c, RPC_ERR_INVALID_PARAMS, "missing value for required argument %u", index);
    return tok_word(c->json, c->param[index], NULL, out, &w) == 0 ? 0 : argument_error(c, index, &w);
}

int rpc_param_filter_id(struct rpc_call *c, uint32_t index, char out[RPC_FILTER_ID_LEN + 1])
{
    struct why w;
    if (!rpc_param_given(c, index)) return rpc_fail(c, RPC_ERR_INVALID_PARAMS, "missing value for required argument %u", index);
    const struct rpc_json *j = c->json;
    uint32_t t = c->param[index];
    if (j->tokens[t].type != RPC_JSON_STRING) {
        why_set(&w, NULL, "want a filter id (a hex string), got %s", type_name(j->tokens[t].type));
        return argument_error(c, index, &w);
    }
    size_t n;
    const char *s = rpc_json_string(j, t, &n);
    /* An id this server never gave is simply not found; only its length is bounded here. */
    if (n > RPC_FILTER_ID_LEN) n = RPC_FILTER_ID_LEN;
    memcpy(out, s, n);
    out[n] = '\0';
    for (size_t i = 0; i < n; i++)
        if (out[i] >= 'A' && out[i] <= 'F') out[i] = (char)(out[i] - 'A' + 'a');
    return 0;
}

/* ---- The block parameter ---- */

static int tok_block_string(const struct rpc_json *j, uint32_t t, const char *field, struct rpc_block_ref *out,
                            struct why *w)
{
    static const struct {
        const char *name;
        enum rpc_block_tag tag;
    } tags[] = {{"latest", RPC_TAG_LATEST},
                {"pending", RPC_TAG_PENDING},
                {"earliest", RPC_TAG_EARLIEST},
                {"safe", RPC_TAG_SAFE},
                {"finalized", RPC_TAG_FINALIZED}};
    for (size_t i = 0; i < sizeof tags / sizeof tags[0]; i++) {
        if (rpc_json_string_is(j, t, tags[i].name)) {
            out->kind = RPC_REF_TAG;
            out->tag = tags[i].tag;
            return 0;
        }
    }
    size_t n;
    rpc_json_string(j, t, &n);
    if (n == 66) { /* geth reads a 32-byte hex string as a block hash */
        out->kind = RPC_REF_HASH;
        return tok_fixed(j, t, field, 32, out->hash, w);
    }
    out->kind = RPC_REF_NUMBER;
    if (tok_u64(j, t, field, &out->number, w) != 0) return -1;
    if (out->number > (uint64_t)INT64_MAX) return why_set(w, field, "block number larger than int64");
    return 0;
}

static int tok_block(const struct rpc_json *j, uint32_t t, const char *field, struct rpc_block_ref *out, struct why *w)
{
    memset(out, 0, sizeof *out);
    uint8_t type = j->tokens[t].type;
    if (type == RPC_JSON_NULL) {
        out->kind = RPC_REF_TAG;
        out->tag = RPC_TAG_LATEST;
        return 0;
    }
    if (type == RPC_JSON_STRING) return tok_block_string(j, t, field, out, w);
    if (type != RPC_JSON_OBJECT)
        return why_set(w, field, "want a block number, a tag (\"latest\"...) or a block hash, got %s", type_name(type));
    /* EIP-1898 */
    int64_t hash = rpc_json_get(j, t, "blockHash");
    int64_t number = rpc_json_get(j, t, "blockNumber");
    int64_t canonical = rpc_json_get(j, t, "requireCanonical");
    if (hash >= 0 && number >= 0) return why_set(w, field, "cannot specify both blockHash and blockNumber, choose one or the other");
    if (hash >= 0) {
        if (canonical >= 0) {
            bool ignored; /* every block here is canonical: BFT finality leaves no forks */
            if (tok_bool(j, (uint32_t)canonical, "requireCanonical", &ignored, w) != 0) return -1;
        }
        out->kind = RPC_REF_HASH;
        return tok_fixed(j, (uint32_t)hash, "blockHash", 32, out->hash, w);
    }
    if (number >= 0) {
        if (j->tokens[number].type != RPC_JSON_STRING)
            return why_set(w, "blockNumber", "want a block number or tag, got %s", type_name(j->tokens[number].type));
        size_t n;
        rpc_json_string(j, (uint32_t)number, &n);
        if (n == 66) return why_set(w, "blockNumber", "a hash where a block number was expected");
        return tok_block_string(j, (uint32_t)number, "blockNumber", out, w);
    }
    return why_set(w, field, "either blockHash or blockNumber must be specified");
}

int rpc_param_block(struct rpc_call *c, uint32_t index, struct rpc_block_ref *out)
{
    struct why w;
    if (!rpc_param_given(c, index)) {
        memset(out, 0, sizeof *out);
        out->kind = RPC_REF_TAG;
        out->tag = RPC_TAG_LATEST;
        return 0;
    }
    return tok_block(c->json, c->param[index], NULL, out, &w) == 0 ? 0 : argument_error(c, index, &w);
}

int rpc_resolve_block(struct rpc_call *c, const struct rpc_block_ref *ref, uint64_t *number,
                      struct block_header *header, uint8_t hash[32])
{
    struct store_view *v = rpc_view(c);
    if (v == NULL) return -1;
    struct cohort_error err = {0};
    uint64_t head;
    bool has_head = store_view_head(v, &head, NULL);
    uint64_t n = 0;
    switch (ref->kind) {
    case RPC_REF_TAG:
        if (!has_head) return 0;
        n = ref->tag == RPC_TAG_EARLIEST ? 0 : head;
        break;
    case RPC_REF_NUMBER:
        if (!has_head || ref->number > head) return 0;
        n = ref->number;
        break;
    case RPC_REF_HASH: {
        int rc = store_block_number(v, ref->hash, &n, &err);
        if (rc < 0) return rpc_fail_store(c, RPC_ERR_INTERNAL, &err);
        if (rc == 0) return 0;
        break;
    }
    }
    *number = n;
    if (header != NULL || hash != NULL) {
        struct block_header h;
        uint8_t hh[32];
        int rc = store_header(v, n, header ? header : &h, hash ? hash : hh, &err);
        if (rc < 0) return rpc_fail_store(c, RPC_ERR_INTERNAL, &err);
        if (rc == 0) return 0;
    }
    return 1;
}

int rpc_resolve_state_block(struct rpc_call *c, const struct rpc_block_ref *ref, uint64_t *number,
                            struct block_header *header, uint8_t hash[32])
{
    int rc = rpc_resolve_block(c, ref, number, header, hash);
    if (rc < 0) return -1;
    if (rc == 0) {
        if (ref->kind == RPC_REF_HASH) return rpc_fail(c, RPC_ERR_DEFAULT, "header for hash not found");
        return rpc_fail(c, RPC_ERR_DEFAULT, "header not found");
    }
    uint64_t oldest = store_view_oldest_state(c->view);
    if (*number < oldest)
        return rpc_fail(c, RPC_ERR_DEFAULT,
                        "historical state of block %llu is not available: this node keeps the state of the last blocks "
                        "only (the oldest kept is %llu)",
                        (unsigned long long)*number, (unsigned long long)oldest);
    return 1;
}

/* ---- Transaction arguments ---- */

void rpc_tx_args_free(struct rpc_tx_args *a)
{
    free(a->data);
    free(a->access_list);
    free(a->access_keys);
    memset(a, 0, sizeof *a);
}

static int tok_access_list(const struct rpc_json *j, uint32_t t, struct rpc_tx_args *a, struct why *w)
{
    if (j->tokens[t].type == RPC_JSON_NULL) return 0;
    if (j->tokens[t].type != RPC_JSON_ARRAY)
        return why_set(w, "accessList", "want an array, got %s", type_name(j->tokens[t].type));
    uint32_t count = j->tokens[t].count;
    if (count > TX_ACCESS_ENTRIES_MAX)
        return why_set(w, "accessList", "%u entries, over the limit of %u", count, TX_ACCESS_ENTRIES_MAX);
    /* Count the keys first so one allocation holds them all. */
    size_t keys = 0;
    for (uint32_t e = t + 1, i = 0; i < count; i++, e = j->tokens[e].next) {
        if (j->tokens[e].type != RPC_JSON_OBJECT)
            return why_set(w, "accessList", "entry %u: want an object, got %s", i, type_name(j->tokens[e].type));
        int64_t k = rpc_json_get(j, e, "storageKeys");
        if (k >= 0 && j->tokens[k].type == RPC_JSON_ARRAY) keys += j->tokens[k].count;
    }
    if (keys > TX_ACCESS_KEYS_MAX)
        return why_set(w, "accessList", "%zu storage keys, over the limit of %u", keys, TX_ACCESS_KEYS_MAX);
    a->access_list = calloc(count ? count : 1, sizeof *a->access_list);
    a->access_keys = malloc(keys ? 32 * keys : 1);
    if (a->access_list == NULL || a->access_keys == NULL) return why_set(w, "accessList", "out of memory");
    size_t used = 0;
    for (uint32_t e = t + 1, i = 0; i < count; i++, e = j->tokens[e].next) {
        struct chain_access_entry *entry = &a->access_list[i];
        int64_t addr = rpc_json_get(j, e, "address");
        if (addr < 0) return why_set(w, "accessList", "entry %u has no address", i);
        if (tok_fixed(j, (uint32_t)addr, "accessList.address", 20, entry->address, w) != 0) return -1;
        entry->keys = a->access_keys + 32 * used;
        int64_t k = rpc_json_get(j, e, "storageKeys");
        if (k >= 0 && j->tokens[k].type != RPC_JSON_NULL) {
            if (j->tokens[k].type != RPC_JSON_ARRAY)
                return why_set(w, "accessList.storageKeys", "want an array, got %s", type_name(j->tokens[k].type));
            for (uint32_t s = (uint32_t)k + 1, n = 0; n < j->tokens[k].count; n++, s = j->tokens[s].next) {
                if (tok_fixed(j, s, "accessList.storageKeys", 32, a->access_keys + 32 * used, w) != 0) return -1;
                used++;
                entry->key_count++;
            }
        }
    }
    a->access_count = count;
    a->has_access_list = true;
    return 0;
}

/* A field of the object at t that is present and not null, or -1. */
static int64_t field(const struct rpc_json *j, uint32_t t, const char *name)
{
    int64_t f = rpc_json_get(j, t, name);
    return f >= 0 && j->tokens[f].type != RPC_JSON_NULL ? f : -1;
}

int rpc_param_tx_args(struct rpc_call *c, uint32_t index, struct rpc_tx_args *a)
{
    memset(a, 0, sizeof *a);
    struct why w;
    if (!rpc_param_given(c, index)) return rpc_fail(c, RPC_ERR_INVALID_PARAMS, "missing value for required argument %u", index);
    const struct rpc_json *j = c->json;
    uint32_t t = c->param[index];
    if (j->tokens[t].type != RPC_JSON_OBJECT) {
        why_set(&w, NULL, "want a transaction object, got %s", type_name(j->tokens[t].type));
        return argument_error(c, index, &w);
    }
    int64_t f;
    int rc = 0;
    if (rc == 0 && (f = field(j, t, "from")) >= 0) {
        a->has_from = true;
        rc = tok_fixed(j, (uint32_t)f, "from", 20, a->from, &w);
    }
    if (rc == 0 && (f = field(j, t, "to")) >= 0) {
        a->has_to = true;
        rc = tok_fixed(j, (uint32_t)f, "to", 20, a->to, &w);
    }
    if (rc == 0 && (f = field(j, t, "gas")) >= 0) {
        a->has_gas = true;
        rc = tok_u64(j, (uint32_t)f, "gas", &a->gas, &w);
    }
    if (rc == 0 && (f = field(j, t, "gasPrice")) >= 0) {
        a->has_gas_price = true;
        rc = tok_u256(j, (uint32_t)f, "gasPrice", &a->gas_price, &w);
    }
    if (rc == 0 && (f = field(j, t, "maxFeePerGas")) >= 0) {
        a->has_max_fee = true;
        rc = tok_u256(j, (uint32_t)f, "maxFeePerGas", &a->max_fee, &w);
    }
    if (rc == 0 && (f = field(j, t, "maxPriorityFeePerGas")) >= 0) {
        a->has_max_priority = true;
        rc = tok_u256(j, (uint32_t)f, "maxPriorityFeePerGas", &a->max_priority, &w);
    }
    if (rc == 0 && (f = field(j, t, "value")) >= 0) rc = tok_u256(j, (uint32_t)f, "value", &a->value, &w);
    if (rc == 0 && (f = field(j, t, "nonce")) >= 0) {
        a->has_nonce = true;
        rc = tok_u64(j, (uint32_t)f, "nonce", &a->nonce, &w);
    }
    uint8_t *input = NULL, *data = NULL;
    size_t input_len = 0, data_len = 0;
    if (rc == 0 && (f = field(j, t, "input")) >= 0) rc = tok_bytes(j, (uint32_t)f, "input", CALL_DATA_MAX, &input, &input_len, &w);
    if (rc == 0 && (f = field(j, t, "data")) >= 0) rc = tok_bytes(j, (uint32_t)f, "data", CALL_DATA_MAX, &data, &data_len, &w);
    if (rc == 0 && (f = field(j, t, "accessList")) >= 0) rc = tok_access_list(j, (uint32_t)f, a, &w);
    u256 chain_id = u256_zero();
    bool has_chain_id = false;
    if (rc == 0 && (f = field(j, t, "chainId")) >= 0) {
        has_chain_id = true;
        rc = tok_u256(j, (uint32_t)f, "chainId", &chain_id, &w);
    }
    if (rc != 0) {
        free(input);
        free(data);
        rpc_tx_args_free(a);
        return argument_error(c, index, &w);
    }
    /* geth's TransactionArgs rules (setDefaults / CallDefaults), with its words. */
    if (input != NULL && data != NULL && (input_len != data_len || memcmp(input, data, input_len) != 0)) {
        free(input);
        free(data);
        rpc_tx_args_free(a);
        return rpc_fail(c, RPC_ERR_DEFAULT,
                        "both \"data\" and \"input\" are set and not equal. Please use \"input\" to pass transaction "
                        "call data");
    }
    if (input != NULL) {
        a->data = input;
        a->data_len = input_len;
        free(data);
    } else {
        a->data = data;
        a->data_len = data_len;
    }
    if (a->has_gas_price && (a->has_max_fee || a->has_max_priority)) {
        rpc_tx_args_free(a);
        return rpc_fail(c, RPC_ERR_DEFAULT, "both gasPrice and (maxFeePerGas or maxPriorityFeePerGas) specified");
    }
    if (has_chain_id && !u256_eq(chain_id, u256_from_u64(c->rpc->chain.chain_id))) {
        char have[80];
        u256_to_dec(chain_id, have, sizeof have);
        rpc_tx_args_free(a);
        return rpc_fail(c, RPC_ERR_DEFAULT, "chainId does not match node's (have=%s, want=%llu)", have,
                        (unsigned long long)c->rpc->chain.chain_id);
    }
    return 0;
}

/* ---- Overrides ---- */

void rpc_overrides_free(struct rpc_overrides *o)
{
    for (size_t i = 0; i < o->count; i++) {
        free(o->accounts[i].code);
        free(o->accounts[i].slots);
    }
    free(o->accounts);
    memset(o, 0, sizeof *o);
}

static int tok_slots(const struct rpc_json *j, uint32_t t, const char *name, struct rpc_account_override *a,
                     size_t *total, struct why *w)
{
    if (j->tokens[t].type != RPC_JSON_OBJECT)
        return why_set(w, name, "want an object of slot: value, got %s", type_name(j->tokens[t].type));
    uint32_t count = j->tokens[t].count;
    if (*total + count > OVERRIDE_SLOTS_MAX)
        return why_set(w, name, "more than %u storage slots overridden (the limit)", OVERRIDE_SLOTS_MAX);
    a->slots = calloc(count ? count : 1, sizeof *a->slots);
    if (a->slots == NULL) return why_set(w, name, "out of memory");
    uint32_t k = t + 1;
    for (uint32_t i = 0; i < count; i++) {
        if (tok_word(j, k, name, &a->slots[i].key, w) != 0) return -1;
        if (tok_word(j, k + 1, name, &a->slots[i].value, w) != 0) return -1;
        k = j->tokens[k + 1].next;
    }
    a->slot_count = count;
    *total += count;
    return 0;
}

int rpc_param_overrides(struct rpc_call *c, uint32_t index, struct rpc_overrides *o)
{
    memset(o, 0, sizeof *o);
    if (!rpc_param_given(c, index)) return 0;
    struct why w;
    const struct rpc_json *j = c->json;
    uint32_t t = c->param[index];
    if (j->tokens[t].type != RPC_JSON_OBJECT) {
        why_set(&w, NULL, "want an object of address: override, got %s", type_name(j->tokens[t].type));
        return argument_error(c, index, &w);
    }
    uint32_t count = j->tokens[t].count;
    if (count > OVERRIDE_ACCOUNTS_MAX) {
        why_set(&w, NULL, "%u accounts overridden, over the limit of %u", count, OVERRIDE_ACCOUNTS_MAX);
        return argument_error(c, index, &w);
    }
    o->accounts = calloc(count ? count : 1, sizeof *o->accounts);
    if (o->accounts == NULL) return rpc_fail(c, RPC_ERR_INTERNAL, "out of memory");
    size_t total_slots = 0;
    uint32_t k = t + 1;
    int rc = 0;
    for (uint32_t i = 0; i < count && rc == 0; i++) {
        struct rpc_account_override *a = &o->accounts[i];
        o->count = i + 1;
        uint32_t v = k + 1;
        k = j->tokens[v].next;
        rc = tok_fixed(j, v - 1, "address", 20, a->address, &w);
        if (rc != 0) break;
        for (uint32_t p = 0; p < i; p++) {
            if (memcmp(o->accounts[p].address, a->address, 20) == 0) {
                rc = why_set(&w, NULL, "an account overridden twice");
                break;
            }
        }
        if (rc != 0) break;
        if (j->tokens[v].type != RPC_JSON_OBJECT) {
            rc = why_set(&w, NULL, "want an override object, got %s", type_name(j->tokens[v].type));
            break;
        }
        int64_t f;
        if ((f = field(j, v, "balance")) >= 0) {
            a->has_balance = true;
            rc = tok_u256(j, (uint32_t)f, "balance", &a->balance, &w);
        }
        if (rc == 0 && (f = field(j, v, "nonce")) >= 0) {
            a->has_nonce = true;
            rc = tok_u64(j, (uint32_t)f, "nonce", &a->nonce, &w);
        }
        if (rc == 0 && (f = field(j, v, "code")) >= 0) {
            a->has_code = true;
            rc = tok_bytes(j, (uint32_t)f, "code", STATE_CODE_MAX, &a->code, &a->code_len, &w);
        }
        int64_t state = field(j, v, "state"), diff = field(j, v, "stateDiff");
        if (rc == 0 && state >= 0 && diff >= 0) {
            char hex[43];
            hex_encode(a->address, 20, hex, sizeof hex);
            rpc_overrides_free(o);
            return rpc_fail(c, RPC_ERR_DEFAULT, "account %s has both 'state' and 'stateDiff'", hex);
        }
        if (rc == 0 && state >= 0) {
            a->storage = RPC_STORAGE_REPLACE;
            rc = tok_slots(j, (uint32_t)state, "state", a, &total_slots, &w);
        }
        if (rc == 0 && diff >= 0) {
            a->storage = RPC_STORAGE_DIFF;
            rc = tok_slots(j, (uint32_t)diff, "stateDiff", a, &total_slots, &w);
        }
        if (rc == 0 && field(j, v, "movePrecompileToAddress") >= 0)
            rc = why_set(&w, "movePrecompileToAddress", "not supported by this node");
    }
    if (rc != 0) {
        rpc_overrides_free(o);
        return argument_error(c, index, &w);
    }
    return 0;
}

int rpc_param_block_overrides(struct rpc_call *c, uint32_t index, struct rpc_block_overrides *o)
{
    memset(o, 0, sizeof *o);
    if (!rpc_param_given(c, index)) return 0;
    struct why w;
    const struct rpc_json *j = c->json;
    uint32_t t = c->param[index];
    if (j->tokens[t].type != RPC_JSON_OBJECT) {
        why_set(&w, NULL, "want a block override object, got %s", type_name(j->tokens[t].type));
        return argument_error(c, index, &w);
    }
    int64_t f;
    int rc = 0;
    if ((f = field(j, t, "number")) >= 0) {
        o->has_number = true;
        rc = tok_u64(j, (uint32_t)f, "number", &o->number, &w);
    }
    if (rc == 0 && (f = field(j, t, "time")) >= 0) {
        o->has_time = true;
        rc = tok_u64(j, (uint32_t)f, "time", &o->time, &w);
    }
    if (rc == 0 && (f = field(j, t, "gasLimit")) >= 0) {
        o->has_gas_limit = true;
        rc = tok_u64(j, (uint32_t)f, "gasLimit", &o->gas_limit, &w);
    }
    if (rc == 0 && (f = field(j, t, "feeRecipient")) >= 0) {
        o->has_coinbase = true;
        rc = tok_fixed(j, (uint32_t)f, "feeRecipient", 20, o->coinbase, &w);
    }
    if (rc == 0 && (f = field(j, t, "prevRandao")) >= 0) {
        o->has_random = true;
        rc = tok_fixed(j, (uint32_t)f, "prevRandao", 32, o->random, &w);
    }
    if (rc == 0 && (f = field(j, t, "baseFeePerGas")) >= 0) {
        o->has_base_fee = true;
        rc = tok_u256(j, (uint32_t)f, "baseFeePerGas", &o->base_fee, &w);
    }
    return rc == 0 ? 0 : argument_error(c, index, &w);
}

/* ---- Log criteria ---- */

void rpc_log_criteria_free(struct rpc_log_criteria *c)
{
    free(c->addresses);
    for (int i = 0; i < RPC_LOG_TOPICS; i++) free(c->topics[i]);
    memset(c, 0, sizeof *c);
}

bool rpc_log_matches(const struct rpc_log_criteria *c, const struct block_log *log)
{
    if (c->address_count > 0) {
        bool found = false;
        for (size_t i = 0; i < c->address_count && !found; i++) found = memcmp(c->addresses[i], log->address, 20) == 0;
        if (!found) return false;
    }
    /* geth's rule: a query naming more positions than the log has topics never matches it,
       even when the extra positions are wildcards. */
    if (c->topic_positions > log->topic_count) return false;
    for (size_t p = 0; p < c->topic_positions; p++) {
        if (c->topic_count[p] == 0) continue;
        bool found = false;
        for (size_t i = 0; i < c->topic_count[p] && !found; i++) found = memcmp(c->topics[p][i], log->topics[p], 32) == 0;
        if (!found) return false;
    }
    return true;
}

static int tok_topics(const struct rpc_json *j, uint32_t t, struct rpc_log_criteria *out, struct why *w)
{
    if (j->tokens[t].type == RPC_JSON_NULL) return 0;
    if (j->tokens[t].type != RPC_JSON_ARRAY) return why_set(w, "topics", "want an array, got %s", type_name(j->tokens[t].type));
    uint32_t positions = j->tokens[t].count;
    if (positions > RPC_LOG_TOPICS) return why_set(w, "topics", "exceed max topics: %u positions, the limit is 4", positions);
    out->topic_positions = positions;
    for (uint32_t e = t + 1, p = 0; p < positions; p++, e = j->tokens[e].next) {
        uint8_t type = j->tokens[e].type;
        if (type == RPC_JSON_NULL) continue;
        if (type == RPC_JSON_STRING) {
            out->topics[p] = malloc(32);
            if (out->topics[p] == NULL) return why_set(w, "topics", "out of memory");
            if (tok_fixed(j, e, "topics", 32, out->topics[p][0], w) != 0) return -1;
            out->topic_count[p] = 1;
            continue;
        }
        if (type != RPC_JSON_ARRAY) return why_set(w, "topics", "want a hash, null or an array of them, got %s", type_name(type));
        uint32_t options = j->tokens[e].count;
        if (options > STORE_FILTER_TOPIC_OPTIONS_MAX)
            return why_set(w, "topics", "position %u lists %u topics, over the limit of %u", p, options,
                           STORE_FILTER_TOPIC_OPTIONS_MAX);
        bool wildcard = false;
        for (uint32_t k = e + 1, i = 0; i < options; i++, k = j->tokens[k].next)
            if (j->tokens[k].type == RPC_JSON_NULL) wildcard = true; /* geth: a null inside matches anything */
        if (wildcard || options == 0) continue;
        out->topics[p] = malloc((size_t)options * 32);
        if (out->topics[p] == NULL) return why_set(w, "topics", "out of memory");
        for (uint32_t k = e + 1, i = 0; i < options; i++, k = j->tokens[k].next)
            if (tok_fixed(j, k, "topics", 32, out->topics[p][i], w) != 0) return -1;
        out->topic_count[p] = options;
    }
    return 0;
}

int rpc_param_log_criteria(struct rpc_call *c, uint32_t index, bool allow_range, struct rpc_log_criteria *out)
{
    memset(out, 0, sizeof *out);
    struct why w;
    const struct rpc_json *j = c->json;
    if (!rpc_param_given(c, index)) {
        if (!allow_range) return 0; /* a logs subscription without criteria: every log */
        return rpc_fail(c, RPC_ERR_INVALID_PARAMS, "missing value for required argument %u", index);
    }
    uint32_t t = c->param[index];
    if (j->tokens[t].type != RPC_JSON_OBJECT) {
        why_set(&w, NULL, "want a filter object, got %s", type_name(j->tokens[t].type));
        return argument_error(c, index, &w);
    }
    int rc = 0;
    int64_t f;
    int64_t hash = field(j, t, "blockHash"), from = field(j, t, "fromBlock"), to = field(j, t, "toBlock");
    if (allow_range) {
        if (hash >= 0 && (from >= 0 || to >= 0)) {
            why_set(&w, NULL, "cannot specify both BlockHash and FromBlock/ToBlock, choose one or the other");
            return argument_error(c, index, &w);
        }
        if (hash >= 0) {
            out->has_block_hash = true;
            rc = tok_fixed(j, (uint32_t)hash, "blockHash", 32, out->block_hash, &w);
        }
        if (rc == 0 && from >= 0) {
            out->has_from = true;
            rc = tok_block(j, (uint32_t)from, "fromBlock", &out->from, &w);
            if (rc == 0 && out->from.kind == RPC_REF_HASH) rc = why_set(&w, "fromBlock", "want a block number or tag");
        }
        if (rc == 0 && to >= 0) {
            out->has_to = true;
            rc = tok_block(j, (uint32_t)to, "toBlock", &out->to, &w);
            if (rc == 0 && out->to.kind == RPC_REF_HASH) rc = why_set(&w, "toBlock", "want a block number or tag");
        }
    }
    if (rc == 0 && (f = field(j, t, "address")) >= 0) {
        uint8_t type = j->tokens[f].type;
        if (type == RPC_JSON_STRING) {
            out->addresses = malloc(20);
            if (out->addresses == NULL) rc = why_set(&w, "address", "out of memory");
            else rc = tok_fixed(j, (uint32_t)f, "address", 20, out->addresses[0], &w);
            if (rc == 0) out->address_count = 1;
        } else if (type == RPC_JSON_ARRAY) {
            uint32_t count = j->tokens[f].count;
            if (count > STORE_FILTER_ADDRESSES_MAX) {
                rc = why_set(&w, "address", "%u addresses, over the limit of %u", count, STORE_FILTER_ADDRESSES_MAX);
            } else if (count > 0) {
                out->addresses = malloc((size_t)count * 20);
                if (out->addresses == NULL) rc = why_set(&w, "address", "out of memory");
                for (uint32_t e = (uint32_t)f + 1, i = 0; rc == 0 && i < count; i++, e = j->tokens[e].next)
                    rc = tok_fixed(j, e, "address", 20, out->addresses[i], &w);
                if (rc == 0) out->address_count = count;
            }
        } else {
            rc = why_set(&w, "address", "want an address or an array of addresses, got %s", type_name(type));
        }
    }
    if (rc == 0 && (f = field(j, t, "topics")) >= 0) rc = tok_topics(j, (uint32_t)f, out, &w);
    if (rc != 0) {
        rpc_log_criteria_free(out);
        return argument_error(c, index, &w);
    }
    return 0;
}
