/*
 * rlp.h - RLP, Ethereum's Recursive Length Prefix encoding (Yellow Paper, appendix B).
 *
 * An RLP item is either a byte string or a list of items. The first byte of an item says
 * which, and how long its payload is:
 *
 *   first byte    item                         payload
 *   0x00..0x7f    a one-byte string            the byte itself (no header at all)
 *   0x80..0xb7    a short string, 0..55 bytes  the next (b - 0x80) bytes
 *   0xb8..0xbf    a long string, >= 56 bytes   (b - 0xb7) = 1..8 bytes of big-endian length L
 *                                              follow the first byte, then L bytes
 *   0xc0..0xf7    a short list, 0..55 bytes    the next (b - 0xc0) bytes are the items
 *   0xf8..0xff    a long list, >= 56 bytes     (b - 0xf7) = 1..8 bytes of big-endian length L
 *                                              follow the first byte, then L bytes of items
 *
 * The 55-byte rule: a payload of 0..55 bytes always takes the one-byte short header and
 * one of 56 bytes or more always takes the long header. A list's payload is the
 * concatenation of its items' encodings, so its length counts their headers too.
 *
 *   "dog"            83 64 6f 67
 *   ""               80
 *   0x0f             0f                  (a byte below 0x80 is its own encoding)
 *   0x80             81 80
 *   []               c0
 *   ["cat", "dog"]   c8 83 63 61 74 83 64 6f 67
 *   56 bytes "a.."   b8 38 61 61 ...
 *
 * Integers are strings holding the minimal big-endian bytes of the value: no leading
 * zero bytes, and zero is the empty string (0x80). So 0 = 80, 15 = 0f, 1024 = 82 04 00.
 *
 * Every item has exactly one valid encoding, and the decoder here accepts only that one
 * (hashes and signatures are computed over encodings, so two spellings of one value would
 * let two different byte strings claim the same meaning). It refuses, as
 * COMMON_E_NONCANONICAL: a long header for a payload under 56 bytes, a length with leading
 * zero bytes, a byte below 0x80 wrapped as a one-byte string (81 00..81 7f), and, when read
 * as an integer, a payload with leading zero bytes (00 is not zero; 80 is). It also refuses
 * lengths past the end of the input (COMMON_E_TRUNCATED), lengths that do not fit in
 * size_t (COMMON_E_RANGE), bytes after the top item when the whole input must be one item
 * (COMMON_E_INVALID), and nesting deeper than a cap (COMMON_E_DEPTH). Every message names
 * the byte offset of the offending item, counted from the start of the input given to the
 * decoder.
 *
 * The decoder is zero-copy and never allocates: items point into the caller's input and
 * stay valid as long as it does. Nothing recurses; nested lists are walked with an
 * explicit stack of fixed size, so hostile input cannot exhaust the C stack.
 *
 * The encoder appends to a caller-owned growable buffer (struct rlp_buf). A failed
 * allocation or passing the buffer's size cap sets a sticky error flag instead of
 * crashing; later calls do nothing, and the caller checks once at the end with
 * rlp_buf_check().
 *
 * Errors use the common library's codes (common/error.h) with domain "common" and
 * messages that start with "rlp: ".
 */
#ifndef COHORT_COMMON_RLP_H
#define COHORT_COMMON_RLP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "u256.h"

/* Default cap on list nesting for rlp_validate: a top-level list is depth 1. */
#define RLP_MAX_DEPTH 64u
/* The largest max_depth rlp_validate accepts: the size of its fixed stack. */
#define RLP_DEPTH_LIMIT 1024u
/* Default cap on an encoder buffer's size when rlp_buf_init is given 0. */
#define RLP_BUF_DEFAULT_MAX_BYTES ((size_t)64 * 1024 * 1024)
/* The longest header: one byte and an 8-byte length. */
#define RLP_MAX_HEADER_BYTES 9u

/* ---- Decoding ---- */

/*
 * One decoded item. payload points into the input the decoder was given (never copied)
 * and is valid as long as that input is. For a one-byte string 0x00..0x7f, payload is
 * the item's own byte and encoded_len is 1.
 */
struct rlp_item {
    const uint8_t *payload; /* the string's bytes, or the list's concatenated items */
    size_t payload_len;
    size_t encoded_len; /* header plus payload */
    size_t offset;      /* where the item starts, from the start of the decoder's input */
    bool is_list;
};

/*
 * Decodes the header of the item at the start of in[0..in_len) into *item and checks
 * that its header is canonical and its payload lies within the input. Bytes after the
 * item are allowed (item->encoded_len says where it ends); a list's children are not
 * examined (use rlp_validate or the iterator). in may be NULL when in_len is 0.
 * Returns 0, or a negative common_status with err filled; *item is untouched on error.
 */
int rlp_decode_item(const uint8_t *in, size_t in_len, struct rlp_item *item, struct cohort_error *err);

/*
 * Like rlp_decode_item, but the item must fill in[0..in_len) exactly: trailing bytes are
 * COMMON_E_INVALID. Still shallow; see rlp_validate for the whole tree.
 */
int rlp_decode_whole(const uint8_t *in, size_t in_len, struct rlp_item *item, struct cohort_error *err);

/*
 * Checks that in[0..len) is exactly one canonical item, walking every nested item without
 * recursion, and that lists nest at most max_depth deep (a top-level list is depth 1, so
 * max_depth 0 allows only a string). max_depth must be <= RLP_DEPTH_LIMIT (asserted: a
 * programmer error); pass RLP_MAX_DEPTH unless the format needs another cap. After it
 * returns 0, rlp_decode_whole and the iterator cannot fail on this input.
 * Returns 0, or a negative common_status with err filled.
 */
int rlp_validate(const uint8_t *in, size_t len, unsigned max_depth, struct cohort_error *err);

/*
 * An iterator over a list's children. Plain data pointing into the list's payload: no
 * cleanup, valid as long as the input is.
 */
struct rlp_iter {
    const uint8_t *pos; /* the next child's first byte */
    size_t left;        /* bytes of the list's payload not yet consumed */
    size_t offset;      /* pos's offset from the start of the decoder's input */
};

/*
 * Starts iterating over list's children. COMMON_E_INVALID (and *it untouched) when list
 * is a string. Returns 0 otherwise.
 */
int rlp_iter_init(struct rlp_iter *it, const struct rlp_item *list, struct cohort_error *err);

/*
 * Decodes the next child into *child (shallow, as rlp_decode_item; its offset counts from
 * the same start as the list's). Returns 1 when it produced a child, 0 at the end of the
 * list, or a negative common_status with err filled when the child's header is bad or
 * the child runs past the end of the list's payload; the iterator does not move then.
 */
int rlp_iter_next(struct rlp_iter *it, struct rlp_item *child, struct cohort_error *err);

/*
 * Counts list's direct children into *count. Returns 0, or a negative common_status
 * (list is a string, or a child is malformed) with err filled and *count untouched.
 */
int rlp_list_count(const struct rlp_item *list, size_t *count, struct cohort_error *err);

/*
 * Reads a string item as an unsigned integer: minimal big-endian, no leading zero bytes,
 * zero is the empty string. Errors: a list (COMMON_E_INVALID), a leading zero byte
 * (COMMON_E_NONCANONICAL), more bytes than the target holds: 8 for uint64_t, 32 for u256
 * (COMMON_E_RANGE). *out is untouched on error.
 */
int rlp_item_to_u64(const struct rlp_item *item, uint64_t *out, struct cohort_error *err);
int rlp_item_to_u256(const struct rlp_item *item, u256 *out, struct cohort_error *err);

/*
 * Copies a string item's bytes into out (capacity out_cap) and sets *out_len. Errors: a
 * list (COMMON_E_INVALID), more than out_cap bytes (COMMON_E_RANGE). out may be NULL when
 * out_cap is 0. Nothing is written on error.
 */
int rlp_item_to_bytes(const struct rlp_item *item, uint8_t *out, size_t out_cap, size_t *out_len,
                      struct cohort_error *err);

/*
 * Copies a string item of exactly len bytes into out (a hash: 32, a bloom: 256). Errors:
 * a list (COMMON_E_INVALID), any other length (COMMON_E_RANGE). Nothing is written on error.
 */
int rlp_item_to_fixed(const struct rlp_item *item, uint8_t *out, size_t len, struct cohort_error *err);

/* rlp_item_to_fixed for an Ethereum address: exactly 20 bytes. */
int rlp_item_to_address(const struct rlp_item *item, uint8_t out[20], struct cohort_error *err);

/* ---- Encoding ---- */

/*
 * A growable output buffer. data is malloc'd by the encoder and owned by whoever holds
 * the struct: free it with rlp_buf_free, or take it (copy data and len, then set data to
 * NULL and len and cap to 0) and free() it yourself. failed is 0, or the first error's
 * code (COMMON_E_NOMEM, COMMON_E_RANGE for passing max_len); once set, every encoding call
 * does nothing until rlp_buf_reset, and data holds a partial encoding that must not be used.
 */
struct rlp_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
    size_t max_len; /* hard cap on len */
    int failed;
};

/* Initialises an empty buffer that may grow to max_len bytes (0: RLP_BUF_DEFAULT_MAX_BYTES). Does not allocate. */
void rlp_buf_init(struct rlp_buf *buf, size_t max_len);

/* Frees buf's memory and leaves it empty and initialised, with the same max_len. */
void rlp_buf_free(struct rlp_buf *buf);

/* Empties buf and clears its error flag, keeping its memory for reuse. */
void rlp_buf_reset(struct rlp_buf *buf);

/*
 * Returns 0 when every encoding call so far succeeded, else buf->failed with err filled
 * (what failed and, for the cap, how large it is).
 */
int rlp_buf_check(const struct rlp_buf *buf, struct cohort_error *err);

/*
 * Appends data[0..len) as a string item. data may be NULL when len is 0, and must not
 * point into buf->data (growing the buffer may move it).
 */
void rlp_encode_bytes(struct rlp_buf *buf, const uint8_t *data, size_t len);

/* Appends value as an integer: minimal big-endian, zero is 0x80. */
void rlp_encode_u64(struct rlp_buf *buf, uint64_t value);
void rlp_encode_u256(struct rlp_buf *buf, u256 value);

/*
 * Appends len bytes that are already RLP (one or more encoded items) verbatim. The bytes
 * are not checked: the caller vouches for them (validate outside input first).
 */
void rlp_encode_raw(struct rlp_buf *buf, const uint8_t *encoded, size_t len);

/*
 * Starts a list. Returns a marker (the offset where the list's payload begins) to pass to
 * rlp_encode_list_end after the list's items have been appended. Lists nest: end them in
 * the reverse order they began (asserted as far as it can be).
 */
size_t rlp_encode_list_begin(struct rlp_buf *buf);

/*
 * Ends the list begun at marker: inserts the minimal list header before the items
 * appended since, moving them up by the header's size.
 */
void rlp_encode_list_end(struct rlp_buf *buf, size_t marker);

#endif
