/*
 * fuzz_ws_frame.c - libFuzzer target for the WebSocket frame decoder and message assembler
 * (subnode/rpc/ws.h): bytes as a client would send them, decoded frame after frame with
 * small caps so the limits are reached often. The first byte picks the caps.
 *
 * For any input: no crash; a decoded frame lies inside the input, is no larger than the
 * frame cap, and control frames are whole and at most 125 bytes; a message is no larger
 * than the message cap and, when text, is UTF-8; a refusal carries a close code the
 * server may send. Any breach aborts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "subnode/rpc/ws.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what)
{
    fprintf(stderr, "fuzz_ws_frame: %s\n", what);
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    size_t max_frame = 1 + (data[0] & 0x0f) * 64, max_message = 1 + (data[0] >> 4) * 128;
    uint8_t *buf = malloc(size);
    if (buf == NULL) return 0;
    memcpy(buf, data + 1, size - 1);
    size_t len = size - 1, at = 0;
    struct rpc_ws_assembler a = {.max_message = max_message};
    while (at < len) {
        struct rpc_ws_frame f;
        uint16_t code = 0;
        size_t need = 0;
        struct cohort_error err = {0};
        long used = rpc_ws_decode_frame(buf + at, len - at, max_frame, &f, &need, &code, &err);
        if (used == 0) {
            if (need <= len - at) fail("more bytes asked for than missing");
            break;
        }
        if (used < 0) {
            if (code != RPC_WS_CLOSE_PROTOCOL && code != RPC_WS_CLOSE_TOO_BIG) fail("an unexpected close code");
            break;
        }
        if ((size_t)used > len - at) fail("a frame longer than the input");
        if (f.len > max_frame) fail("a frame over the cap");
        if (f.payload < buf + at || f.payload + f.len > buf + at + (size_t)used) fail("a payload outside its frame");
        if ((f.opcode & 0x08) && (!f.fin || f.len > 125)) fail("a control frame breaking its rules");
        at += (size_t)used;
        struct rpc_ws_event ev;
        if (rpc_ws_assemble(&a, &f, &ev, &code, &err) != 0) {
            if (code != RPC_WS_CLOSE_PROTOCOL && code != RPC_WS_CLOSE_TOO_BIG && code != RPC_WS_CLOSE_INVALID_DATA)
                fail("an unexpected close code from the assembler");
            break;
        }
        if (ev.kind == RPC_WS_EVENT_MESSAGE) {
            if (ev.len > max_message) fail("a message over the cap");
            if (!ev.binary && !rpc_ws_utf8_valid(ev.data, ev.len)) fail("a text message that is not UTF-8");
            unsigned sum = 0;
            for (size_t i = 0; i < ev.len; i++) sum += ev.data[i]; /* ASan sees a pointer outside */
            if (sum == 0xffffffffu) fail("impossible");
        }
    }
    rpc_ws_assembler_free(&a);
    free(buf);
    return 0;
}
