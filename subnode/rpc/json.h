/*
 * json.h - the JSON the RPC server reads and writes (internal to subnode/rpc).
 *
 * Reading. rpc_json_parse checks a whole text against RFC 8259 and cuts it into a flat
 * array of tokens, in document order, without recursion (an explicit stack, capped at
 * max_depth) and without copying: a token is a span of the text. Each container token
 * knows how many children it has and where its subtree ends (`next`: the index of the
 * first token after it), so a reader skips a value in O(1). An object's children are
 * its keys; each key token is followed by its value's subtree:
 *
 *     {"a":[1,2],"b":null}   ->  0 OBJECT count 2 next 6
 *                                1 STRING "a"      next 2
 *                                2 ARRAY  count 2  next 5
 *                                3 NUMBER 1        next 4
 *                                4 NUMBER 2        next 5
 *                                5 STRING "b"      next 6   (key)
 *                                6 NULL            next 7
 *
 * (a key's `next` is its value's index.) Strings keep their escapes: a reader that needs
 * the characters decodes them; hex strings, the only strings this server reads as data,
 * never contain escapes, so a backslash there is simply an invalid hex digit. Raw spans
 * let the server echo a request's id byte for byte, as geth does (an id that is a large
 * integer survives, which a double would not).
 *
 * Writing. struct rpc_buf is a growable text buffer with a soft cap: past it the buffer
 * stops growing and says so (`over`), and the writer replaces what it wrote with an
 * error; rpc_buf_truncate goes back to a mark.
 */
#ifndef COHORT_RPC_JSON_H
#define COHORT_RPC_JSON_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/u256.h"

enum rpc_json_type {
    RPC_JSON_OBJECT = 1,
    RPC_JSON_ARRAY,
    RPC_JSON_STRING,
    RPC_JSON_NUMBER,
    RPC_JSON_TRUE,
    RPC_JSON_FALSE,
    RPC_JSON_NULL,
};

struct rpc_json_token {
    uint8_t type;
    uint32_t start; /* byte offset of the token's first character (a string's opening quote) */
    uint32_t end;   /* one past its last character (a string's closing quote) */
    uint32_t count; /* objects: keys; arrays: elements; else 0 */
    uint32_t next;  /* the index of the first token after this one's subtree */
};

/* The largest text rpc_json_parse takes (offsets are 32 bits). */
#define RPC_JSON_MAX_TEXT ((size_t)UINT32_MAX - 1)

struct rpc_json {
    const char *text; /* borrowed: the caller keeps it alive while the tokens are used */
    size_t len;
    struct rpc_json_token *tokens; /* malloc'd; free with rpc_json_free */
    uint32_t count;
    uint32_t cap;
};

/*
 * Parses text[0..len) (need not be NUL-terminated) as one JSON value surrounded by
 * optional white space. max_depth caps nesting (an array in an array is depth 2),
 * max_tokens the number of values and keys. Returns 0, or COMMON_E_INVALID (a syntax
 * error: the message says what and at which byte), COMMON_E_DEPTH, COMMON_E_RANGE
 * (tokens or text past their caps), COMMON_E_NOMEM. j is initialised either way; free it
 * with rpc_json_free.
 */
int rpc_json_parse(struct rpc_json *j, const char *text, size_t len, unsigned max_depth, uint32_t max_tokens,
                   struct cohort_error *err);
void rpc_json_free(struct rpc_json *j);

/* The value of key in the object at token `object`, or -1 (the last one when repeated, as Go's decoder does). */
int64_t rpc_json_get(const struct rpc_json *j, uint32_t object, const char *key);
/* The index-th element of the array at token `array`, or -1. Linear in index. */
int64_t rpc_json_element(const struct rpc_json *j, uint32_t array, uint32_t index);
/* True when token is a string whose raw content (between the quotes) is exactly s. */
bool rpc_json_string_is(const struct rpc_json *j, uint32_t token, const char *s);
/* The raw content of a string token (between the quotes) and its length. */
const char *rpc_json_string(const struct rpc_json *j, uint32_t token, size_t *len);

/* ---- Writing ---- */

struct rpc_buf {
    char *data;   /* malloc'd, NUL-terminated while len > 0 */
    size_t len;
    size_t cap;
    size_t max;   /* soft cap on len */
    bool over;    /* a write would have passed max (or memory ran out): the text is incomplete */
};

void rpc_buf_init(struct rpc_buf *b, size_t max);
void rpc_buf_free(struct rpc_buf *b);
/* Drops everything after mark (a length taken earlier) and clears `over`. */
void rpc_buf_truncate(struct rpc_buf *b, size_t mark);
/* Takes the text (malloc'd, NUL-terminated; "" when empty) and its length; b is left empty. */
char *rpc_buf_take(struct rpc_buf *b, size_t *len);

void rpc_buf_put(struct rpc_buf *b, const char *s, size_t n);
void rpc_buf_puts(struct rpc_buf *b, const char *s);
void rpc_buf_printf(struct rpc_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "0x" + hex of the bytes, quoted. */
void rpc_buf_hex(struct rpc_buf *b, const uint8_t *data, size_t n);
/* A QUANTITY, quoted: "0x0", "0x1a". */
void rpc_buf_quantity(struct rpc_buf *b, uint64_t value);
void rpc_buf_quantity256(struct rpc_buf *b, u256 value);
/* s (n bytes) as a quoted JSON string, escaped. */
void rpc_buf_string(struct rpc_buf *b, const char *s, size_t n);
/* A double as JSON (shortest text that reads back to the same value; never NaN or Inf). */
void rpc_buf_double(struct rpc_buf *b, double v);

#endif
