/* json.c - the RPC server's JSON tokenizer and text buffer (see json.h). */
#include "json.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DOMAIN "rpc"
/* The stack of open containers lives in the function: depth is capped below this. */
#define STACK_MAX 256u

/* ---- Reading ---- */

static int syntax(struct cohort_error *err, size_t pos, const char *what)
{
    return cohort_error_set(err, COMMON_E_INVALID, DOMAIN, "parse error: %s at byte %zu", what, pos);
}

static int push_token(struct rpc_json *j, uint8_t type, size_t start, uint32_t max_tokens, struct cohort_error *err)
{
    if (j->count >= max_tokens)
        return cohort_error_set(err, COMMON_E_RANGE, DOMAIN, "parse error: more than %u JSON values", max_tokens);
    if (j->count == j->cap) {
        uint32_t cap = j->cap ? j->cap * 2 : 64;
        if (cap > max_tokens) cap = max_tokens;
        struct rpc_json_token *grown = realloc(j->tokens, (size_t)cap * sizeof *grown);
        if (grown == NULL) return cohort_error_set(err, COMMON_E_NOMEM, DOMAIN, "parse error: out of memory");
        j->tokens = grown;
        j->cap = cap;
    }
    struct rpc_json_token *t = &j->tokens[j->count++];
    t->type = type;
    t->start = (uint32_t)start;
    t->end = (uint32_t)start;
    t->count = 0;
    t->next = j->count;
    return 0;
}

static bool is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Scans a string starting at its quote; returns the offset after the closing quote, or 0. */
static size_t scan_string(const char *s, size_t len, size_t pos, struct cohort_error *err)
{
    assert(s[pos] == '"');
    size_t i = pos + 1;
    while (i < len) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"') return i + 1;
        if (c < 0x20) {
            syntax(err, i, "control character in a string");
            return 0;
        }
        if (c == '\\') {
            if (i + 1 >= len) break;
            char e = s[i + 1];
            if (e == 'u') {
                if (i + 6 > len || !is_hex(s[i + 2]) || !is_hex(s[i + 3]) || !is_hex(s[i + 4]) || !is_hex(s[i + 5])) {
                    syntax(err, i, "bad \\u escape");
                    return 0;
                }
                i += 6;
                continue;
            }
            if (strchr("\"\\/bfnrt", e) == NULL || e == '\0') {
                syntax(err, i, "bad escape");
                return 0;
            }
            i += 2;
            continue;
        }
        i++;
    }
    syntax(err, pos, "unterminated string");
    return 0;
}

static bool digit(char c) { return c >= '0' && c <= '9'; }

/* Scans a number (RFC 8259's grammar); returns the offset after it, or 0. */
static size_t scan_number(const char *s, size_t len, size_t pos, struct cohort_error *err)
{
    size_t i = pos;
    if (i < len && s[i] == '-') i++;
    if (i >= len || !digit(s[i])) {
        syntax(err, pos, "bad number");
        return 0;
    }
    if (s[i] == '0') i++;
    else
        while (i < len && digit(s[i])) i++;
    if (i < len && s[i] == '.') {
        i++;
        if (i >= len || !digit(s[i])) {
            syntax(err, pos, "bad number");
            return 0;
        }
        while (i < len && digit(s[i])) i++;
    }
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < len && (s[i] == '+' || s[i] == '-')) i++;
        if (i >= len || !digit(s[i])) {
            syntax(err, pos, "bad number");
            return 0;
        }
        while (i < len && digit(s[i])) i++;
    }
    return i;
}

static bool space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

enum expect {
    EXPECT_VALUE,         /* a value (the root, after ':' or after ',' in an array) */
    EXPECT_VALUE_OR_END,  /* just after '[' */
    EXPECT_KEY,           /* after ',' in an object */
    EXPECT_KEY_OR_END,    /* just after '{' */
    EXPECT_COLON,
    EXPECT_COMMA_OR_END,
    EXPECT_NOTHING,       /* the root value is complete */
};

int rpc_json_parse(struct rpc_json *j, const char *text, size_t len, unsigned max_depth, uint32_t max_tokens,
                   struct cohort_error *err)
{
    assert(j != NULL);
    memset(j, 0, sizeof *j);
    j->text = text;
    j->len = len;
    if (len > RPC_JSON_MAX_TEXT) return cohort_error_set(err, COMMON_E_RANGE, DOMAIN, "parse error: text too long");
    if (max_depth > STACK_MAX) max_depth = STACK_MAX;
    assert(text != NULL || len == 0);
    uint32_t stack[STACK_MAX];
    unsigned depth = 0;
    enum expect expect = EXPECT_VALUE;
    size_t pos = 0;
    for (;;) {
        while (pos < len && space(text[pos])) pos++;
        if (pos == len) {
            if (expect == EXPECT_NOTHING) return 0;
            return syntax(err, pos, j->count == 0 ? "empty input" : "unexpected end of input");
        }
        char c = text[pos];
        if (expect == EXPECT_NOTHING) return syntax(err, pos, "trailing characters after the value");
        if (expect == EXPECT_COLON) {
            if (c != ':') return syntax(err, pos, "':' expected");
            pos++;
            expect = EXPECT_VALUE;
            continue;
        }
        bool close = (c == ']' && (expect == EXPECT_VALUE_OR_END ||
                                   (expect == EXPECT_COMMA_OR_END && j->tokens[stack[depth - 1]].type == RPC_JSON_ARRAY))) ||
                     (c == '}' && (expect == EXPECT_KEY_OR_END ||
                                   (expect == EXPECT_COMMA_OR_END && j->tokens[stack[depth - 1]].type == RPC_JSON_OBJECT)));
        if (close) {
            assert(depth > 0);
            struct rpc_json_token *t = &j->tokens[stack[--depth]];
            t->end = (uint32_t)(pos + 1);
            t->next = j->count;
            pos++;
            expect = depth > 0 ? EXPECT_COMMA_OR_END : EXPECT_NOTHING;
            continue;
        }
        if (expect == EXPECT_COMMA_OR_END) {
            if (c != ',') return syntax(err, pos, "',' or the end of the container expected");
            pos++;
            expect = j->tokens[stack[depth - 1]].type == RPC_JSON_OBJECT ? EXPECT_KEY : EXPECT_VALUE;
            continue;
        }
        if (expect == EXPECT_KEY || expect == EXPECT_KEY_OR_END) {
            if (c != '"') return syntax(err, pos, "a string key expected");
            size_t end = scan_string(text, len, pos, err);
            if (end == 0) return COMMON_E_INVALID;
            int rc = push_token(j, RPC_JSON_STRING, pos, max_tokens, err);
            if (rc != 0) return rc;
            j->tokens[j->count - 1].end = (uint32_t)end;
            j->tokens[stack[depth - 1]].count++;
            pos = end;
            expect = EXPECT_COLON;
            continue;
        }
        /* A value. */
        uint8_t type;
        size_t end;
        if (c == '{' || c == '[') {
            if (depth >= max_depth)
                return cohort_error_set(err, COMMON_E_DEPTH, DOMAIN, "parse error: nesting deeper than %u at byte %zu",
                                        max_depth, pos);
            type = c == '{' ? RPC_JSON_OBJECT : RPC_JSON_ARRAY;
            end = pos + 1;
        } else if (c == '"') {
            type = RPC_JSON_STRING;
            end = scan_string(text, len, pos, err);
            if (end == 0) return COMMON_E_INVALID;
        } else if (c == '-' || digit(c)) {
            type = RPC_JSON_NUMBER;
            end = scan_number(text, len, pos, err);
            if (end == 0) return COMMON_E_INVALID;
        } else if (len - pos >= 4 && memcmp(text + pos, "true", 4) == 0) {
            type = RPC_JSON_TRUE;
            end = pos + 4;
        } else if (len - pos >= 5 && memcmp(text + pos, "false", 5) == 0) {
            type = RPC_JSON_FALSE;
            end = pos + 5;
        } else if (len - pos >= 4 && memcmp(text + pos, "null", 4) == 0) {
            type = RPC_JSON_NULL;
            end = pos + 4;
        } else {
            return syntax(err, pos, "a value expected");
        }
        int rc = push_token(j, type, pos, max_tokens, err);
        if (rc != 0) return rc;
        uint32_t index = j->count - 1;
        j->tokens[index].end = (uint32_t)end;
        if (depth > 0 && j->tokens[stack[depth - 1]].type == RPC_JSON_ARRAY) j->tokens[stack[depth - 1]].count++;
        pos = end;
        if (type == RPC_JSON_OBJECT || type == RPC_JSON_ARRAY) {
            stack[depth++] = index;
            expect = type == RPC_JSON_OBJECT ? EXPECT_KEY_OR_END : EXPECT_VALUE_OR_END;
        } else {
            expect = depth > 0 ? EXPECT_COMMA_OR_END : EXPECT_NOTHING;
        }
    }
}

void rpc_json_free(struct rpc_json *j)
{
    if (j == NULL) return;
    free(j->tokens);
    j->tokens = NULL;
    j->count = j->cap = 0;
}

bool rpc_json_string_is(const struct rpc_json *j, uint32_t token, const char *s)
{
    assert(token < j->count);
    const struct rpc_json_token *t = &j->tokens[token];
    if (t->type != RPC_JSON_STRING) return false;
    size_t n = strlen(s);
    return t->end - t->start - 2 == n && memcmp(j->text + t->start + 1, s, n) == 0;
}

const char *rpc_json_string(const struct rpc_json *j, uint32_t token, size_t *len)
{
    assert(token < j->count);
    const struct rpc_json_token *t = &j->tokens[token];
    assert(t->type == RPC_JSON_STRING);
    *len = t->end - t->start - 2;
    return j->text + t->start + 1;
}

int64_t rpc_json_get(const struct rpc_json *j, uint32_t object, const char *key)
{
    assert(object < j->count);
    const struct rpc_json_token *o = &j->tokens[object];
    if (o->type != RPC_JSON_OBJECT) return -1;
    int64_t found = -1;
    uint32_t k = object + 1;
    for (uint32_t i = 0; i < o->count; i++) {
        assert(k + 1 < j->count);
        if (rpc_json_string_is(j, k, key)) found = k + 1;
        k = j->tokens[k + 1].next;
    }
    return found;
}

int64_t rpc_json_element(const struct rpc_json *j, uint32_t array, uint32_t index)
{
    assert(array < j->count);
    const struct rpc_json_token *a = &j->tokens[array];
    if (a->type != RPC_JSON_ARRAY || index >= a->count) return -1;
    uint32_t e = array + 1;
    for (uint32_t i = 0; i < index; i++) e = j->tokens[e].next;
    return e;
}

/* ---- Writing ---- */

void rpc_buf_init(struct rpc_buf *b, size_t max)
{
    memset(b, 0, sizeof *b);
    b->max = max;
}

void rpc_buf_free(struct rpc_buf *b)
{
    free(b->data);
    size_t max = b->max;
    memset(b, 0, sizeof *b);
    b->max = max;
}

void rpc_buf_truncate(struct rpc_buf *b, size_t mark)
{
    assert(mark <= b->len);
    b->len = mark;
    if (b->data != NULL) b->data[mark] = '\0';
    b->over = false;
}

char *rpc_buf_take(struct rpc_buf *b, size_t *len)
{
    char *out = b->data;
    if (out == NULL) out = calloc(1, 1);
    if (len != NULL) *len = out ? b->len : 0;
    b->data = NULL;
    b->len = b->cap = 0;
    b->over = false;
    return out;
}

/* Makes room for n more bytes and the NUL; false (and `over`) past the cap or out of memory. */
static bool reserve(struct rpc_buf *b, size_t n)
{
    if (b->over) return false;
    if (n > b->max - b->len || b->len + n + 1 < n) {
        b->over = true;
        return false;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) cap *= 2;
        char *grown = realloc(b->data, cap);
        if (grown == NULL) {
            b->over = true;
            return false;
        }
        b->data = grown;
        b->cap = cap;
    }
    return true;
}

void rpc_buf_put(struct rpc_buf *b, const char *s, size_t n)
{
    if (!reserve(b, n)) return;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void rpc_buf_puts(struct rpc_buf *b, const char *s) { rpc_buf_put(b, s, strlen(s)); }

void rpc_buf_printf(struct rpc_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char small[256];
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof small) {
        rpc_buf_put(b, small, (size_t)n);
        return;
    }
    if (!reserve(b, (size_t)n)) return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

static const char hex_digits[] = "0123456789abcdef";

void rpc_buf_hex(struct rpc_buf *b, const uint8_t *data, size_t n)
{
    if (n > (SIZE_MAX - 4) / 2 || !reserve(b, 2 * n + 4)) {
        b->over = true;
        return;
    }
    char *p = b->data + b->len;
    *p++ = '"';
    *p++ = '0';
    *p++ = 'x';
    for (size_t i = 0; i < n; i++) {
        *p++ = hex_digits[data[i] >> 4];
        *p++ = hex_digits[data[i] & 15];
    }
    *p++ = '"';
    b->len = (size_t)(p - b->data);
    b->data[b->len] = '\0';
}

void rpc_buf_quantity(struct rpc_buf *b, uint64_t value)
{
    char text[24];
    int n = snprintf(text, sizeof text, "\"0x%llx\"", (unsigned long long)value);
    rpc_buf_put(b, text, (size_t)n);
}

void rpc_buf_quantity256(struct rpc_buf *b, u256 value)
{
    char text[70];
    text[0] = '"';
    size_t n = u256_to_hex(value, text + 1, sizeof text - 2);
    text[1 + n] = '"';
    rpc_buf_put(b, text, n + 2);
}

void rpc_buf_string(struct rpc_buf *b, const char *s, size_t n)
{
    rpc_buf_put(b, "\"", 1);
    size_t run = 0; /* characters that need no escape, copied in one go */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\' && c != 0x7f) continue;
        rpc_buf_put(b, s + run, i - run);
        char esc[8];
        if (c == '"') rpc_buf_put(b, "\\\"", 2);
        else if (c == '\\') rpc_buf_put(b, "\\\\", 2);
        else if (c == '\n') rpc_buf_put(b, "\\n", 2);
        else if (c == '\t') rpc_buf_put(b, "\\t", 2);
        else if (c == '\r') rpc_buf_put(b, "\\r", 2);
        else {
            snprintf(esc, sizeof esc, "\\u%04x", c);
            rpc_buf_put(b, esc, 6);
        }
        run = i + 1;
    }
    rpc_buf_put(b, s + run, n - run);
    rpc_buf_put(b, "\"", 1);
}

void rpc_buf_double(struct rpc_buf *b, double v)
{
    if (!isfinite(v)) v = 0;
    char text[40];
    /* The shortest of %.15g..%.17g that reads back exactly (what Go's encoder prints). */
    for (int precision = 15; precision <= 17; precision++) {
        snprintf(text, sizeof text, "%.*g", precision, v);
        if (strtod(text, NULL) == v) break;
    }
    rpc_buf_puts(b, text);
}
