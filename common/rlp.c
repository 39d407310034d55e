/* rlp.c - strict, zero-copy RLP decoding and a growable-buffer encoder. See rlp.h for the format. */
#include "rlp.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#define DOMAIN "common"

/* First bytes of each header form (see the table in rlp.h). */
#define SHORT_STRING 0x80u
#define LONG_STRING 0xb7u /* 0xb8..0xbf: SHORT_STRING + 55 + length-of-length */
#define SHORT_LIST 0xc0u
#define LONG_LIST 0xf7u
#define SHORT_MAX 55u /* the longest payload a one-byte header can describe */

_Static_assert(LONG_STRING == SHORT_STRING + SHORT_MAX, "long-string base follows the short range");
_Static_assert(LONG_LIST == SHORT_LIST + SHORT_MAX, "long-list base follows the short range");
_Static_assert(0xffu - LONG_LIST == 8u, "at most 8 length bytes");
_Static_assert(RLP_MAX_HEADER_BYTES == 1u + 8u, "a header is one byte and up to 8 length bytes");

/*
 * Decodes the header of the item at in[0..in_len), which starts at `offset` in the
 * caller's input (for messages only). The heart of every decoding function.
 */
static int decode_at(const uint8_t *in, size_t in_len, size_t offset, struct rlp_item *item,
                     struct cohort_error *err)
{
    assert(item != NULL);
    assert(in != NULL || in_len == 0);
    if (in_len == 0)
        return cohort_error_set(err, COMMON_E_TRUNCATED, DOMAIN, "rlp: offset %zu: input ends where an item should start",
                                offset);
    unsigned first = in[0];
    if (first < SHORT_STRING) {
        *item = (struct rlp_item){.payload = in, .payload_len = 1, .encoded_len = 1, .offset = offset, .is_list = false};
        return 0;
    }
    bool is_list = first >= SHORT_LIST;
    unsigned base = is_list ? SHORT_LIST : SHORT_STRING;
    const char *what = is_list ? "list" : "string";
    size_t header_len;
    uint64_t payload_len;
    if (first - base <= SHORT_MAX) {
        header_len = 1;
        payload_len = first - base;
    } else {
        unsigned length_bytes = first - base - SHORT_MAX; /* 1..8 */
        assert(length_bytes >= 1 && length_bytes <= 8);
        header_len = 1 + length_bytes;
        if (in_len < header_len)
            return cohort_error_set(err, COMMON_E_TRUNCATED, DOMAIN,
                                    "rlp: offset %zu: long %s header declares %u length bytes but only %zu follow",
                                    offset, what, length_bytes, in_len - 1);
        if (in[1] == 0)
            return cohort_error_set(err, COMMON_E_NONCANONICAL, DOMAIN,
                                    "rlp: offset %zu: long %s length has a leading zero byte", offset, what);
        payload_len = 0;
        for (unsigned i = 0; i < length_bytes; i++)
            payload_len = payload_len << 8 | in[1 + i];
        if (payload_len <= SHORT_MAX)
            return cohort_error_set(err, COMMON_E_NONCANONICAL, DOMAIN,
                                    "rlp: offset %zu: long %s header for a payload of %llu bytes (under 56 takes "
                                    "the short form)",
                                    offset, what, (unsigned long long)payload_len);
        /* Only reachable where size_t is narrower than 64 bits, or for lengths near 2^64. */
        if (payload_len > (uint64_t)(SIZE_MAX - header_len))
            return cohort_error_set(err, COMMON_E_RANGE, DOMAIN,
                                    "rlp: offset %zu: %s length %llu does not fit in size_t", offset, what,
                                    (unsigned long long)payload_len);
    }
    /* Compare against the bytes left rather than adding, so nothing can wrap. */
    if (payload_len > (uint64_t)(in_len - header_len))
        return cohort_error_set(err, COMMON_E_TRUNCATED, DOMAIN,
                                "rlp: offset %zu: %s of %llu bytes runs past the end of the input (%zu bytes left)",
                                offset, what, (unsigned long long)payload_len, in_len - header_len);
    if (!is_list && payload_len == 1 && in[1] < SHORT_STRING)
        return cohort_error_set(err, COMMON_E_NONCANONICAL, DOMAIN,
                                "rlp: offset %zu: byte 0x%02x wrapped as a one-byte string (it encodes as itself)",
                                offset, in[1]);
    *item = (struct rlp_item){.payload = in + header_len,
                              .payload_len = (size_t)payload_len,
                              .encoded_len = header_len + (size_t)payload_len,
                              .offset = offset,
                              .is_list = is_list};
    assert(item->encoded_len <= in_len);
    return 0;
}

int rlp_decode_item(const uint8_t *in, size_t in_len, struct rlp_item *item, struct cohort_error *err)
{
    return decode_at(in, in_len, 0, item, err);
}

int rlp_decode_whole(const uint8_t *in, size_t in_len, struct rlp_item *item, struct cohort_error *err)
{
    struct rlp_item top;
    int rc = decode_at(in, in_len, 0, &top, err);
    if (rc != 0) return rc;
    if (top.encoded_len != in_len)
        return cohort_error_set(err, COMMON_E_INVALID, DOMAIN,
                                "rlp: offset %zu: %zu trailing bytes after the top-level item", top.encoded_len,
                                in_len - top.encoded_len);
    *item = top;
    return 0;
}

int rlp_validate(const uint8_t *in, size_t len, unsigned max_depth, struct cohort_error *err)
{
    assert(max_depth <= RLP_DEPTH_LIMIT);
    assert(in != NULL || len == 0);
    /* ends[d] is the offset just past the payload of the open list at depth d + 1. */
    size_t ends[RLP_DEPTH_LIMIT];
    unsigned depth = 0;
    struct rlp_item item;
    int rc = rlp_decode_whole(in, len, &item, err);
    if (rc != 0) return rc;
    size_t pos = 0;
    for (;;) {
        if (item.is_list) {
            if (depth >= max_depth)
                return cohort_error_set(err, COMMON_E_DEPTH, DOMAIN,
                                        "rlp: offset %zu: lists nest deeper than the cap of %u", item.offset,
                                        max_depth);
            ends[depth++] = item.offset + item.encoded_len;
            pos = item.offset + (item.encoded_len - item.payload_len);
        } else {
            pos = item.offset + item.encoded_len;
        }
        /* Close every list that the last item finished. Children fill a list exactly,
         * because each child was decoded within its parent's bounds. */
        while (depth > 0 && pos == ends[depth - 1])
            depth--;
        if (depth == 0) break;
        assert(pos < ends[depth - 1]);
        rc = decode_at(in + pos, ends[depth - 1] - pos, pos, &item, err);
        if (rc != 0) return rc;
    }
    assert(pos == len);
    return 0;
}

int rlp_iter_init(struct rlp_iter *it, const struct rlp_item *list, struct cohort_error *err)
{
    assert(it != NULL);
    assert(list != NULL);
    if (!list->is_list)
        return cohort_error_set(err, COMMON_E_INVALID, DOMAIN, "rlp: offset %zu: expected a list, found a string",
                                list->offset);
    it->pos = list->payload;
    it->left = list->payload_len;
    it->offset = list->offset + (list->encoded_len - list->payload_len);
    return 0;
}

int rlp_iter_next(struct rlp_iter *it, struct rlp_item *child, struct cohort_error *err)
{
    assert(it != NULL);
    assert(child != NULL);
    if (it->left == 0) return 0;
    int rc = decode_at(it->pos, it->left, it->offset, child, err);
    if (rc != 0) return rc;
    assert(child->encoded_len <= it->left);
    it->pos += child->encoded_len;
    it->left -= child->encoded_len;
    it->offset += child->encoded_len;
    return 1;
}

int rlp_list_count(const struct rlp_item *list, size_t *count, struct cohort_error *err)
{
    assert(count != NULL);
    struct rlp_iter it;
    int rc = rlp_iter_init(&it, list, err);
    if (rc != 0) return rc;
    size_t n = 0;
    struct rlp_item child;
    while ((rc = rlp_iter_next(&it, &child, err)) == 1)
        n++;
    if (rc < 0) return rc;
    assert(it.left == 0);
    *count = n;
    return 0;
}

/* Shared checks for reading a string item as an integer of at most max_bytes bytes. */
static int check_integer(const struct rlp_item *item, size_t max_bytes, const char *target,
                         struct cohort_error *err)
{
    assert(item != NULL);
    assert(max_bytes > 0 && max_bytes <= 32);
    if (item->is_list)
        return cohort_error_set(err, COMMON_E_INVALID, DOMAIN,
                                "rlp: offset %zu: expected an integer, found a list", item->offset);
    if (item->payload_len > 0 && item->payload[0] == 0)
        return cohort_error_set(err, COMMON_E_NONCANONICAL, DOMAIN,
                                "rlp: offset %zu: integer has a leading zero byte (zero is 0x80)", item->offset);
    if (item->payload_len > max_bytes)
        return cohort_error_set(err, COMMON_E_RANGE, DOMAIN,
                                "rlp: offset %zu: integer of %zu bytes does not fit in %s", item->offset,
                                item->payload_len, target);
    return 0;
}

int rlp_item_to_u64(const struct rlp_item *item, uint64_t *out, struct cohort_error *err)
{
    assert(out != NULL);
    int rc = check_integer(item, 8, "uint64", err);
    if (rc != 0) return rc;
    uint64_t value = 0;
    for (size_t i = 0; i < item->payload_len; i++)
        value = value << 8 | item->payload[i];
    *out = value;
    return 0;
}

int rlp_item_to_u256(const struct rlp_item *item, u256 *out, struct cohort_error *err)
{
    assert(out != NULL);
    int rc = check_integer(item, 32, "u256", err);
    if (rc != 0) return rc;
    *out = u256_load_be_partial(item->payload, item->payload_len);
    return 0;
}

int rlp_item_to_bytes(const struct rlp_item *item, uint8_t *out, size_t out_cap, size_t *out_len,
                      struct cohort_error *err)
{
    assert(item != NULL);
    assert(out != NULL || out_cap == 0);
    if (item->is_list)
        return cohort_error_set(err, COMMON_E_INVALID, DOMAIN, "rlp: offset %zu: expected a string, found a list",
                                item->offset);
    if (item->payload_len > out_cap)
        return cohort_error_set(err, COMMON_E_RANGE, DOMAIN,
                                "rlp: offset %zu: string of %zu bytes does not fit in %zu", item->offset,
                                item->payload_len, out_cap);
    if (item->payload_len > 0) memcpy(out, item->payload, item->payload_len);
    if (out_len != NULL) *out_len = item->payload_len;
    return 0;
}

int rlp_item_to_fixed(const struct rlp_item *item, uint8_t *out, size_t len, struct cohort_error *err)
{
    assert(item != NULL);
    assert(out != NULL || len == 0);
    if (item->is_list)
        return cohort_error_set(err, COMMON_E_INVALID, DOMAIN, "rlp: offset %zu: expected a string, found a list",
                                item->offset);
    if (item->payload_len != len)
        return cohort_error_set(err, COMMON_E_RANGE, DOMAIN, "rlp: offset %zu: expected exactly %zu bytes, found %zu",
                                item->offset, len, item->payload_len);
    if (len > 0) memcpy(out, item->payload, len);
    return 0;
}

int rlp_item_to_address(const struct rlp_item *item, uint8_t out[20], struct cohort_error *err)
{
    return rlp_item_to_fixed(item, out, 20, err);
}

/* ---- Encoding ---- */

void rlp_buf_init(struct rlp_buf *buf, size_t max_len)
{
    assert(buf != NULL);
    *buf = (struct rlp_buf){.max_len = max_len == 0 ? RLP_BUF_DEFAULT_MAX_BYTES : max_len};
    assert(buf->max_len > 0);
}

void rlp_buf_free(struct rlp_buf *buf)
{
    assert(buf != NULL);
    free(buf->data);
    rlp_buf_init(buf, buf->max_len);
}

void rlp_buf_reset(struct rlp_buf *buf)
{
    assert(buf != NULL);
    assert(buf->len <= buf->cap);
    buf->len = 0;
    buf->failed = 0;
}

int rlp_buf_check(const struct rlp_buf *buf, struct cohort_error *err)
{
    assert(buf != NULL);
    assert(buf->failed <= 0);
    if (buf->failed == COMMON_E_NOMEM)
        return cohort_error_set(err, COMMON_E_NOMEM, DOMAIN, "rlp: encoder: out of memory growing the buffer past %zu bytes",
                                buf->cap);
    if (buf->failed != 0)
        return cohort_error_set(err, buf->failed, DOMAIN, "rlp: encoder: output exceeds the cap of %zu bytes",
                                buf->max_len);
    return 0;
}

/*
 * Makes room for extra more bytes. Returns false, with buf->failed set, when that would
 * pass max_len or memory runs out; the buffer keeps its old contents then.
 */
static bool reserve(struct rlp_buf *buf, size_t extra)
{
    assert(buf->len <= buf->cap);
    assert(buf->len <= buf->max_len);
    if (buf->failed != 0) return false;
    if (extra > buf->max_len - buf->len) {
        buf->failed = COMMON_E_RANGE;
        return false;
    }
    size_t need = buf->len + extra;
    if (need <= buf->cap) return true;
    /* Double to keep appends amortised O(1), but never past the cap. */
    size_t new_cap = buf->cap < 64 ? 64 : buf->cap;
    while (new_cap < need) {
        if (new_cap > buf->max_len / 2) {
            new_cap = buf->max_len;
            break;
        }
        new_cap *= 2;
    }
    if (new_cap > buf->max_len) new_cap = buf->max_len;
    assert(new_cap >= need); /* need <= max_len was checked above */
    uint8_t *data = realloc(buf->data, new_cap);
    if (data == NULL) {
        buf->failed = COMMON_E_NOMEM;
        return false;
    }
    buf->data = data;
    buf->cap = new_cap;
    return true;
}

/* Writes the minimal header for a payload of len bytes; base is 0x80 (string) or 0xc0 (list). Returns its size. */
static size_t write_header(uint8_t out[RLP_MAX_HEADER_BYTES], unsigned base, size_t len)
{
    assert(base == SHORT_STRING || base == SHORT_LIST);
    if (len <= SHORT_MAX) {
        out[0] = (uint8_t)(base + len);
        return 1;
    }
    unsigned length_bytes = 0;
    for (uint64_t v = len; v != 0; v >>= 8)
        length_bytes++;
    assert(length_bytes >= 1 && length_bytes <= 8);
    out[0] = (uint8_t)(base + SHORT_MAX + length_bytes);
    uint64_t v = len;
    for (unsigned i = length_bytes; i > 0; i--) {
        out[i] = (uint8_t)v;
        v >>= 8;
    }
    return 1 + length_bytes;
}

static void append(struct rlp_buf *buf, const uint8_t *data, size_t len)
{
    if (len == 0 || !reserve(buf, len)) return;
    memcpy(buf->data + buf->len, data, len);
    buf->len += len;
}

void rlp_encode_bytes(struct rlp_buf *buf, const uint8_t *data, size_t len)
{
    assert(buf != NULL);
    assert(data != NULL || len == 0);
    if (len == 1 && data[0] < SHORT_STRING) {
        append(buf, data, 1);
        return;
    }
    uint8_t header[RLP_MAX_HEADER_BYTES];
    size_t header_len = write_header(header, SHORT_STRING, len);
    /* Reserve header and payload at once, so a failure leaves no half item behind. */
    if (len > SIZE_MAX - header_len) {
        if (buf->failed == 0) buf->failed = COMMON_E_RANGE;
        return;
    }
    if (!reserve(buf, header_len + len)) return;
    append(buf, header, header_len);
    append(buf, data, len);
}

void rlp_encode_u64(struct rlp_buf *buf, uint64_t value)
{
    uint8_t bytes[8];
    size_t n = 0;
    for (int shift = 56; shift >= 0; shift -= 8) {
        uint8_t b = (uint8_t)(value >> shift);
        if (n == 0 && b == 0) continue; /* skip leading zeros: zero becomes the empty string */
        bytes[n++] = b;
    }
    assert(n <= 8);
    rlp_encode_bytes(buf, bytes, n);
}

void rlp_encode_u256(struct rlp_buf *buf, u256 value)
{
    uint8_t bytes[32];
    u256_store_be(bytes, value);
    size_t skip = 0;
    while (skip < 32 && bytes[skip] == 0)
        skip++;
    assert(skip < 32 || u256_is_zero(value));
    rlp_encode_bytes(buf, bytes + skip, 32 - skip);
}

void rlp_encode_raw(struct rlp_buf *buf, const uint8_t *encoded, size_t len)
{
    assert(buf != NULL);
    assert(encoded != NULL || len == 0);
    append(buf, encoded, len);
}

size_t rlp_encode_list_begin(struct rlp_buf *buf)
{
    assert(buf != NULL);
    assert(buf->len <= buf->cap);
    return buf->len;
}

void rlp_encode_list_end(struct rlp_buf *buf, size_t marker)
{
    assert(buf != NULL);
    if (buf->failed != 0) return;
    assert(marker <= buf->len); /* a marker from this buffer, not from after a reset */
    size_t payload_len = buf->len - marker;
    uint8_t header[RLP_MAX_HEADER_BYTES];
    size_t header_len = write_header(header, SHORT_LIST, payload_len);
    if (!reserve(buf, header_len)) return;
    memmove(buf->data + marker + header_len, buf->data + marker, payload_len);
    memcpy(buf->data + marker, header, header_len);
    buf->len += header_len;
    assert(buf->len == marker + header_len + payload_len);
}
