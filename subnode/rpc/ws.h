/*
 * ws.h - WebSocket framing (RFC 6455) for the RPC server: the opening handshake's accept
 * key, the frame decoder, the message assembler and the frame encoder. No sockets here:
 * the server (server.c) feeds bytes in and writes the bytes out, so the tests and the fuzz
 * target drive the same code.
 *
 * A frame on the wire:
 *
 *    0                   1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-+-+-+-+-------+-+-------------+-------------------------------+
 *   |F|R|R|R| opcode|M| Payload len |    Extended payload length    |
 *   |I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
 *   |N|V|V|V|       |S|             |   (if payload len==126/127)   |
 *   | |1|2|3|       |K|             |                               |
 *   +-+-+-+-+-------+-+-------------+ - - - - - - - - - - - - - - - +
 *   |     Extended payload length continued, if payload len == 127  |
 *   + - - - - - - - - - - - - - - - +-------------------------------+
 *   |                               |Masking-key, if MASK set to 1  |
 *   +-------------------------------+-------------------------------+
 *   | Masking-key (continued)       |          Payload Data         |
 *   +-------------------------------- - - - - - - - - - - - - - - - +
 *
 * Rules enforced on what a client sends (each breach is an error carrying the close code
 * the server answers with): every frame masked (1002); no RSV bits, no unknown opcode
 * (1002); lengths in their minimal form (1002); control frames (close, ping, pong) whole
 * (FIN set) and at most 125 bytes (1002); a continuation only inside a fragmented message
 * and no new message inside one (1002); a frame's payload at most max_frame and a message
 * at most max_message bytes (1009); a text message valid UTF-8 (1007); a close frame's
 * payload empty or a valid code and a UTF-8 reason (1002, 1007).
 */
#ifndef COHORT_RPC_WS_H
#define COHORT_RPC_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

enum rpc_ws_opcode {
    RPC_WS_CONTINUATION = 0x0,
    RPC_WS_TEXT = 0x1,
    RPC_WS_BINARY = 0x2,
    RPC_WS_CLOSE = 0x8,
    RPC_WS_PING = 0x9,
    RPC_WS_PONG = 0xA,
};

/* Close codes the server sends. */
#define RPC_WS_CLOSE_NORMAL 1000
#define RPC_WS_CLOSE_GOING_AWAY 1001
#define RPC_WS_CLOSE_PROTOCOL 1002
#define RPC_WS_CLOSE_INVALID_DATA 1007
#define RPC_WS_CLOSE_POLICY 1008
#define RPC_WS_CLOSE_TOO_BIG 1009

/* The longest frame header: 2 + 8 (length) + 4 (mask). */
#define RPC_WS_HEADER_MAX 14

/*
 * The Sec-WebSocket-Accept value for a client's Sec-WebSocket-Key (NUL-terminated):
 * base64(SHA-1(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")), 28 characters and a NUL
 * into out. Returns 0, or -1 when the key is not the base64 of 16 bytes (RFC 6455 4.2.1).
 */
int rpc_ws_accept_key(const char *key, char out[29]);

/* One frame, its payload unmasked in place (it points into the caller's buffer). */
struct rpc_ws_frame {
    bool fin;
    uint8_t opcode;
    uint8_t *payload;
    size_t len;
};

/*
 * Decodes the frame at the start of buf[0..len) and unmasks its payload in place.
 * Returns the number of bytes the frame takes (> 0) with *frame filled; 0 when buf holds
 * only part of it (read more; *need, if not NULL, is the total known so far); or -1 on a
 * breach of the rules above, with *close_code and err set.
 */
long rpc_ws_decode_frame(uint8_t *buf, size_t len, size_t max_frame, struct rpc_ws_frame *frame, size_t *need,
                         uint16_t *close_code, struct cohort_error *err);

/* What a decoded frame means, once the assembler has seen it. */
enum rpc_ws_event_kind {
    RPC_WS_EVENT_NONE = 0,  /* a fragment was kept: nothing to do yet */
    RPC_WS_EVENT_MESSAGE,   /* a whole text or binary message (data, len) */
    RPC_WS_EVENT_PING,      /* answer with a pong carrying data, len */
    RPC_WS_EVENT_PONG,
    RPC_WS_EVENT_CLOSE,     /* the peer closes: code (1005 when it sent none), reason in data, len */
};

struct rpc_ws_event {
    enum rpc_ws_event_kind kind;
    bool binary;           /* MESSAGE: sent as binary */
    const uint8_t *data;   /* valid until the next call on the assembler or the frame buffer changes */
    size_t len;
    uint16_t code;
};

/* Joins fragments into messages. Zero it, set max_message, and free with rpc_ws_assembler_free. */
struct rpc_ws_assembler {
    size_t max_message;
    bool in_message;       /* a fragmented message has begun */
    bool binary;
    uint8_t *data;         /* malloc'd */
    size_t len, cap;
};

/*
 * Takes one decoded frame. Returns 0 with *event filled, or -1 on a breach (continuation
 * out of place, a message over max_message, invalid UTF-8, a bad close payload) with
 * *close_code and err set.
 */
int rpc_ws_assemble(struct rpc_ws_assembler *a, const struct rpc_ws_frame *frame, struct rpc_ws_event *event,
                    uint16_t *close_code, struct cohort_error *err);
void rpc_ws_assembler_free(struct rpc_ws_assembler *a);

/*
 * Writes the header of an unmasked server frame (FIN set) with this opcode and payload
 * length into out; returns its size (2, 4 or 10).
 */
size_t rpc_ws_encode_header(uint8_t out[RPC_WS_HEADER_MAX], uint8_t opcode, uint64_t len);

/* True when s[0..len) is valid UTF-8 (no overlong forms, no surrogates, at most U+10FFFF). */
bool rpc_ws_utf8_valid(const uint8_t *s, size_t len);

#endif
