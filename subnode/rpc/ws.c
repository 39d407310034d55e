/* ws.c - WebSocket framing (see ws.h). */
#include "ws.h"

#include <assert.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

#define DOMAIN "rpc"

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void base64_encode(const uint8_t *in, size_t len, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < len) v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < len) v |= in[i + 2];
        out[o++] = b64[(v >> 18) & 63];
        out[o++] = b64[(v >> 12) & 63];
        out[o++] = i + 1 < len ? b64[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < len ? b64[v & 63] : '=';
    }
    out[o] = '\0';
}

int rpc_ws_accept_key(const char *key, char out[29])
{
    assert(key != NULL);
    /* The base64 of 16 bytes: 22 alphabet characters, then "==". The 22nd carries only 2
       bits of data, so its low 4 bits must be zero for the text to be canonical; we only
       check the alphabet and the length, as browsers and servers do. */
    if (strlen(key) != 24 || key[22] != '=' || key[23] != '=') return -1;
    for (int i = 0; i < 22; i++)
        if (strchr(b64, key[i]) == NULL || key[i] == '\0') return -1;
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    char joined[24 + sizeof guid];
    memcpy(joined, key, 24);
    memcpy(joined + 24, guid, sizeof guid);
    uint8_t digest[SHA_DIGEST_LENGTH];
    SHA1((const unsigned char *)joined, 24 + sizeof guid - 1, digest);
    base64_encode(digest, sizeof digest, out);
    return 0;
}

static long breach(uint16_t *close_code, uint16_t code, struct cohort_error *err, const char *what)
{
    *close_code = code;
    cohort_error_set(err, COMMON_E_INVALID, DOMAIN, "websocket: %s", what);
    return -1;
}

long rpc_ws_decode_frame(uint8_t *buf, size_t len, size_t max_frame, struct rpc_ws_frame *frame, size_t *need,
                         uint16_t *close_code, struct cohort_error *err)
{
    assert(buf != NULL || len == 0);
    if (need != NULL) *need = 2;
    if (len < 2) return 0;
    uint8_t b0 = buf[0], b1 = buf[1];
    if ((b0 & 0x70) != 0) return breach(close_code, RPC_WS_CLOSE_PROTOCOL, err, "reserved bits set (no extension was agreed)");
    uint8_t opcode = b0 & 0x0f;
    bool fin = (b0 & 0x80) != 0;
    bool control = (opcode & 0x08) != 0;
    if (opcode != RPC_WS_CONTINUATION && opcode != RPC_WS_TEXT && opcode != RPC_WS_BINARY && opcode != RPC_WS_CLOSE &&
        opcode != RPC_WS_PING && opcode != RPC_WS_PONG) {
        *close_code = RPC_WS_CLOSE_PROTOCOL;
        cohort_error_set(err, COMMON_E_INVALID, DOMAIN, "websocket: unknown opcode 0x%x", opcode);
        return -1;
    }
    if ((b1 & 0x80) == 0) return breach(close_code, RPC_WS_CLOSE_PROTOCOL, err, "a client frame without a mask");
    uint64_t payload = b1 & 0x7f;
    size_t header = 2;
    if (payload == 126) {
        header = 4;
        if (need != NULL) *need = header;
        if (len < header) return 0;
        payload = ((uint64_t)buf[2] << 8) | buf[3];
        if (payload < 126) return breach(close_code, RPC_WS_CLOSE_PROTOCOL, err, "a length not in its minimal form");
    } else if (payload == 127) {
        header = 10;
        if (need != NULL) *need = header;
        if (len < header) return 0;
        payload = 0;
        for (int i = 0; i < 8; i++) payload = (payload << 8) | buf[2 + i];
        if ((payload >> 63) != 0) return breach(close_code, RPC_WS_CLOSE_PROTOCOL, err, "a 64-bit length with its top bit set");
        if (payload <= 0xffff) return breach(close_code, RPC_WS_CLOSE_PROTOCOL, err, "a length not in its minimal form");
    }
    if (control && (!fin || payload > 125))
        return breach(close_code, RPC_WS_CLOSE_PROTOCOL, err, "a control frame fragmented or over 125 bytes");
    if (payload > max_frame) {
        *close_code = RPC_WS_CLOSE_TOO_BIG;
        cohort_error_set(err, COMMON_E_RANGE, DOMAIN,
                         "websocket: a frame of %llu bytes is over the limit of %zu bytes per frame",
                         (unsigned long long)payload, max_frame);
        return -1;
    }
    header += 4; /* the mask */
    if (need != NULL) *need = header + (size_t)payload;
    if (len < header || len - header < payload) return 0;
    const uint8_t *mask = buf + header - 4;
    uint8_t *data = buf + header;
    for (size_t i = 0; i < (size_t)payload; i++) data[i] ^= mask[i & 3];
    frame->fin = fin;
    frame->opcode = opcode;
    frame->payload = data;
    frame->len = (size_t)payload;
    return (long)(header + (size_t)payload);
}

bool rpc_ws_utf8_valid(const uint8_t *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        uint8_t c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n;
        uint32_t cp;
        if (c >= 0xc2 && c <= 0xdf) {
            n = 1;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (len - i <= n) return false;
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xc0) != 0x80) return false;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff))) return false;
        if (cp >= 0xd800 && cp <= 0xdfff) return false;
        i += n + 1;
    }
    return true;
}

static int fail(uint16_t *close_code, uint16_t code, struct cohort_error *err, const char *what)
{
    breach(close_code, code, err, what);
    return -1;
}

/* Close codes a peer may send (RFC 6455 7.4.1 and the IANA registry): 1000-1003, 1007-1011, 3000-4999. */
static bool close_code_valid(uint16_t code)
{
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1011) || (code >= 3000 && code <= 4999);
}

int rpc_ws_assemble(struct rpc_ws_assembler *a, const struct rpc_ws_frame *frame, struct rpc_ws_event *event,
                    uint16_t *close_code, struct cohort_error *err)
{
    assert(a != NULL && frame != NULL && event != NULL);
    memset(event, 0, sizeof *event);
    switch (frame->opcode) {
    case RPC_WS_PING:
        event->kind = RPC_WS_EVENT_PING;
        event->data = frame->payload;
        event->len = frame->len;
        return 0;
    case RPC_WS_PONG:
        event->kind = RPC_WS_EVENT_PONG;
        return 0;
    case RPC_WS_CLOSE:
        event->kind = RPC_WS_EVENT_CLOSE;
        event->code = 1005; /* "no status received" */
        if (frame->len == 1) return fail(close_code, RPC_WS_CLOSE_PROTOCOL, err, "a close frame with a 1-byte payload");
        if (frame->len >= 2) {
            event->code = (uint16_t)((frame->payload[0] << 8) | frame->payload[1]);
            if (!close_code_valid(event->code))
                return fail(close_code, RPC_WS_CLOSE_PROTOCOL, err, "a close frame with an invalid code");
            event->data = frame->payload + 2;
            event->len = frame->len - 2;
            if (!rpc_ws_utf8_valid(event->data, event->len))
                return fail(close_code, RPC_WS_CLOSE_INVALID_DATA, err, "a close reason that is not UTF-8");
        }
        return 0;
    case RPC_WS_TEXT:
    case RPC_WS_BINARY:
        if (a->in_message) return fail(close_code, RPC_WS_CLOSE_PROTOCOL, err, "a new message inside a fragmented one");
        a->in_message = true;
        a->binary = frame->opcode == RPC_WS_BINARY;
        a->len = 0;
        break;
    case RPC_WS_CONTINUATION:
        if (!a->in_message) return fail(close_code, RPC_WS_CLOSE_PROTOCOL, err, "a continuation frame outside a message");
        break;
    default:
        return fail(close_code, RPC_WS_CLOSE_PROTOCOL, err, "unknown opcode");
    }
    if (frame->len > a->max_message - a->len || a->len > a->max_message) {
        *close_code = RPC_WS_CLOSE_TOO_BIG;
        cohort_error_set(err, COMMON_E_RANGE, DOMAIN, "websocket: a message over the limit of %zu bytes", a->max_message);
        a->in_message = false;
        return -1;
    }
    /* A whole message in one frame needs no copy. */
    if (frame->fin && a->len == 0) {
        a->in_message = false;
        event->data = frame->payload;
        event->len = frame->len;
    } else {
        if (a->len + frame->len > a->cap) {
            size_t cap = a->cap ? a->cap : 4096;
            while (cap < a->len + frame->len) cap *= 2;
            uint8_t *grown = realloc(a->data, cap);
            if (grown == NULL) {
                *close_code = RPC_WS_CLOSE_TOO_BIG;
                cohort_error_set(err, COMMON_E_NOMEM, DOMAIN, "websocket: out of memory for a message");
                return -1;
            }
            a->data = grown;
            a->cap = cap;
        }
        if (frame->len > 0) memcpy(a->data + a->len, frame->payload, frame->len);
        a->len += frame->len;
        if (!frame->fin) return 0; /* event NONE */
        a->in_message = false;
        event->data = a->data;
        event->len = a->len;
    }
    event->kind = RPC_WS_EVENT_MESSAGE;
    event->binary = a->binary;
    if (!a->binary && !rpc_ws_utf8_valid(event->data, event->len))
        return fail(close_code, RPC_WS_CLOSE_INVALID_DATA, err, "a text message that is not UTF-8");
    return 0;
}

void rpc_ws_assembler_free(struct rpc_ws_assembler *a)
{
    free(a->data);
    a->data = NULL;
    a->len = a->cap = 0;
    a->in_message = false;
}

size_t rpc_ws_encode_header(uint8_t out[RPC_WS_HEADER_MAX], uint8_t opcode, uint64_t len)
{
    out[0] = (uint8_t)(0x80 | (opcode & 0x0f));
    if (len < 126) {
        out[1] = (uint8_t)len;
        return 2;
    }
    if (len <= 0xffff) {
        out[1] = 126;
        out[2] = (uint8_t)(len >> 8);
        out[3] = (uint8_t)len;
        return 4;
    }
    out[1] = 127;
    for (int i = 0; i < 8; i++) out[2 + i] = (uint8_t)(len >> (56 - 8 * i));
    return 10;
}
