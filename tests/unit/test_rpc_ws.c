/*
 * test_rpc_ws.c - WebSocket framing (subnode/rpc/ws.h) against RFC 6455's own examples and
 * every rule a client frame can break, then the RPC server's transport over real sockets
 * on 127.0.0.1: HTTP POST, CORS, the node's routes beside JSON-RPC, the body and
 * per-client connection limits, and WebSocket connections (handshake, requests,
 * fragmented messages, ping/pong, subscriptions fed by rpc_publish_block, protocol
 * errors closing with their code, the server closing with 1001 when it stops).
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/secp.h"
#include "rpc_testchain.h"
#include "subnode/rpc/rpc_internal.h"
#include "subnode/rpc/ws.h"
#include "testutil.h"

/* ---- Framing ---- */

/* A masked client frame: header, mask, payload ^ mask. Returns its length. */
static size_t client_frame(uint8_t *out, uint8_t first_byte, const void *payload, size_t len)
{
    static const uint8_t mask[4] = {0x37, 0xfa, 0x21, 0x3d};
    size_t n = 0;
    out[n++] = first_byte;
    if (len < 126) {
        out[n++] = (uint8_t)(0x80 | len);
    } else if (len <= 0xffff) {
        out[n++] = 0x80 | 126;
        out[n++] = (uint8_t)(len >> 8);
        out[n++] = (uint8_t)len;
    } else {
        out[n++] = 0x80 | 127;
        for (int i = 7; i >= 0; i--) out[n++] = (uint8_t)((uint64_t)len >> (8 * i));
    }
    memcpy(out + n, mask, 4);
    n += 4;
    for (size_t i = 0; i < len; i++) out[n + i] = ((const uint8_t *)payload)[i] ^ mask[i & 3];
    return n + len;
}

START_TEST(accept_key_rfc_vector)
{
    char accept[29];
    ck_assert_int_eq(rpc_ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", accept), 0);
    ck_assert_str_eq(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    ck_assert_int_eq(rpc_ws_accept_key("dGhlIHNhbXBsZSBub25jZQ", accept), -1);
    ck_assert_int_eq(rpc_ws_accept_key("dGhlIHNhbXBsZSBub25j*Q==", accept), -1);
    ck_assert_int_eq(rpc_ws_accept_key("", accept), -1);
}
END_TEST

START_TEST(rfc_masked_hello)
{
    /* RFC 6455 5.7: a single-frame masked text message containing "Hello". */
    uint8_t frame[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
    struct rpc_ws_frame f;
    uint16_t code = 0;
    size_t need = 0;
    for (size_t partial = 0; partial < sizeof frame; partial++)
        ck_assert_int_eq(rpc_ws_decode_frame(frame, partial, 1000, &f, &need, &code, NULL), 0);
    ck_assert_uint_eq(need, sizeof frame);
    ck_assert_int_eq(rpc_ws_decode_frame(frame, sizeof frame, 1000, &f, NULL, &code, NULL), (long)sizeof frame);
    ck_assert(f.fin);
    ck_assert_uint_eq(f.opcode, RPC_WS_TEXT);
    ck_assert_uint_eq(f.len, 5);
    ck_assert_mem_eq(f.payload, "Hello", 5);
    /* The same frame unmasked (a server's): refused from a client. */
    uint8_t unmasked[] = {0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f};
    struct cohort_error err = {0};
    ck_assert_int_eq(rpc_ws_decode_frame(unmasked, sizeof unmasked, 1000, &f, NULL, &code, &err), -1);
    ck_assert_uint_eq(code, RPC_WS_CLOSE_PROTOCOL);
    ck_assert_ptr_nonnull(strstr(err.message, "without a mask"));
}
END_TEST

/* Decodes every frame in buf and feeds the assembler; returns the last event (kind NONE if none) or -1 with code. */
static int feed(struct rpc_ws_assembler *a, uint8_t *buf, size_t len, size_t max_frame, struct rpc_ws_event *ev,
                uint16_t *code, struct cohort_error *err)
{
    size_t at = 0;
    memset(ev, 0, sizeof *ev);
    while (at < len) {
        struct rpc_ws_frame f;
        long used = rpc_ws_decode_frame(buf + at, len - at, max_frame, &f, NULL, code, err);
        if (used < 0) return -1;
        ck_assert_int_gt(used, 0);
        at += (size_t)used;
        if (rpc_ws_assemble(a, &f, ev, code, err) != 0) return -1;
    }
    return 0;
}

START_TEST(fragments_and_control_frames)
{
    struct rpc_ws_assembler a = {.max_message = 100};
    uint8_t buf[256];
    size_t n = client_frame(buf, 0x01, "Hel", 3);            /* text, not FIN */
    n += client_frame(buf + n, 0x89, "pi", 2);               /* a ping between fragments */
    struct rpc_ws_event ev;
    uint16_t code = 0;
    struct cohort_error err = {0};
    ck_assert_int_eq(feed(&a, buf, n, 1000, &ev, &code, &err), 0);
    ck_assert_int_eq(ev.kind, RPC_WS_EVENT_PING);
    ck_assert_uint_eq(ev.len, 2);
    ck_assert_mem_eq(ev.data, "pi", 2);
    n = client_frame(buf, 0x00, "l", 1);                     /* continuation */
    ck_assert_int_eq(feed(&a, buf, n, 1000, &ev, &code, &err), 0);
    ck_assert_int_eq(ev.kind, RPC_WS_EVENT_NONE);
    n = client_frame(buf, 0x80, "lo", 2);                    /* final continuation */
    ck_assert_int_eq(feed(&a, buf, n, 1000, &ev, &code, &err), 0);
    ck_assert_int_eq(ev.kind, RPC_WS_EVENT_MESSAGE);
    ck_assert_uint_eq(ev.len, 6);
    ck_assert_mem_eq(ev.data, "Helllo", 6);
    ck_assert(!ev.binary);
    /* Pong, and close with and without a code. */
    n = client_frame(buf, 0x8a, "", 0);
    ck_assert_int_eq(feed(&a, buf, n, 1000, &ev, &code, &err), 0);
    ck_assert_int_eq(ev.kind, RPC_WS_EVENT_PONG);
    n = client_frame(buf, 0x88, "", 0);
    ck_assert_int_eq(feed(&a, buf, n, 1000, &ev, &code, &err), 0);
    ck_assert_int_eq(ev.kind, RPC_WS_EVENT_CLOSE);
    ck_assert_uint_eq(ev.code, 1005);
    n = client_frame(buf, 0x88, "\x03\xe8" "bye", 5);
    ck_assert_int_eq(feed(&a, buf, n, 1000, &ev, &code, &err), 0);
    ck_assert_uint_eq(ev.code, 1000);
    ck_assert_mem_eq(ev.data, "bye", 3);
    rpc_ws_assembler_free(&a);
}
END_TEST

static void expect_breach(uint8_t *buf, size_t n, size_t max_frame, size_t max_message, uint16_t want_code,
                          const char *want_text)
{
    struct rpc_ws_assembler a = {.max_message = max_message};
    struct rpc_ws_event ev;
    uint16_t code = 0;
    struct cohort_error err = {0};
    ck_assert_int_eq(feed(&a, buf, n, max_frame, &ev, &code, &err), -1);
    ck_assert_msg(code == want_code, "close code %u, want %u (%s)", code, want_code, err.message);
    ck_assert_msg(strstr(err.message, want_text) != NULL, "'%s' lacks '%s'", err.message, want_text);
    rpc_ws_assembler_free(&a);
}

START_TEST(protocol_breaches)
{
    uint8_t buf[70000];
    size_t n;
    n = client_frame(buf, 0x80, "x", 1);
    expect_breach(buf, n, 100, 100, RPC_WS_CLOSE_PROTOCOL, "continuation frame outside a message");
    n = client_frame(buf, 0x01, "a", 1);
    n += client_frame(buf + n, 0x81, "b", 1);
    expect_breach(buf, n, 100, 100, RPC_WS_CLOSE_PROTOCOL, "new message inside a fragmented one");
    n = client_frame(buf, 0x09, "", 0); /* a ping without FIN */
    expect_breach(buf, n, 100, 100, RPC_WS_CLOSE_PROTOCOL, "control frame fragmented");
    memset(buf + 1000, 'p', 126);
    n = client_frame(buf, 0x89, buf + 1000, 126);
    expect_breach(buf, n, 1000, 1000, RPC_WS_CLOSE_PROTOCOL, "over 125 bytes");
    n = client_frame(buf, 0xc1, "x", 1); /* RSV1 */
    expect_breach(buf, n, 100, 100, RPC_WS_CLOSE_PROTOCOL, "reserved bits");
    n = client_frame(buf, 0x83, "x", 1); /* opcode 3 */
    expect_breach(buf, n, 100, 100, RPC_WS_CLOSE_PROTOCOL, "unknown opcode 0x3");
    /* A 16-bit length for 5 bytes: not minimal. */
    uint8_t lengthy[] = {0x81, 0x80 | 126, 0x00, 0x05, 0, 0, 0, 0, 'h', 'e', 'l', 'l', 'o'};
    expect_breach(lengthy, sizeof lengthy, 100, 100, RPC_WS_CLOSE_PROTOCOL, "minimal form");
    uint8_t huge[] = {0x81, 0x80 | 127, 0x80, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0};
    expect_breach(huge, sizeof huge, 100, 100, RPC_WS_CLOSE_PROTOCOL, "top bit");
    /* Too big: the frame (known from its header alone) and the message (across fragments). */
    uint8_t big_header[] = {0x81, 0x80 | 127, 0, 0, 0, 0, 0, 0x10, 0, 0};
    struct rpc_ws_frame f;
    uint16_t code = 0;
    struct cohort_error err = {0};
    ck_assert_int_eq(rpc_ws_decode_frame(big_header, sizeof big_header, 65536, &f, NULL, &code, &err), -1);
    ck_assert_uint_eq(code, RPC_WS_CLOSE_TOO_BIG);
    ck_assert_ptr_nonnull(strstr(err.message, "over the limit of 65536 bytes per frame"));
    memset(buf + 60000, 'x', 60);
    n = client_frame(buf, 0x01, buf + 60000, 60);
    n += client_frame(buf + n, 0x80, buf + 60000, 60);
    expect_breach(buf, n, 100, 100, RPC_WS_CLOSE_TOO_BIG, "over the limit of 100 bytes");
    /* Text that is not UTF-8; the same bytes as binary are fine. */
    n = client_frame(buf, 0x81, "\xc0\xaf", 2);
    expect_breach(buf, n, 100, 100, RPC_WS_CLOSE_INVALID_DATA, "not UTF-8");
    struct rpc_ws_assembler a = {.max_message = 100};
    struct rpc_ws_event ev;
    n = client_frame(buf, 0x82, "\xc0\xaf", 2);
    ck_assert_int_eq(feed(&a, buf, n, 100, &ev, &code, &err), 0);
    ck_assert(ev.binary);
    rpc_ws_assembler_free(&a);
    /* Bad close payloads. */
    n = client_frame(buf, 0x88, "\x03", 1);
    expect_breach(buf, n, 100, 100, RPC_WS_CLOSE_PROTOCOL, "1-byte payload");
    n = client_frame(buf, 0x88, "\x03\xe7", 2); /* 999 */
    expect_breach(buf, n, 100, 100, RPC_WS_CLOSE_PROTOCOL, "invalid code");
    n = client_frame(buf, 0x88, "\x03\xed", 2); /* 1005 may not be sent */
    expect_breach(buf, n, 100, 100, RPC_WS_CLOSE_PROTOCOL, "invalid code");
    n = client_frame(buf, 0x88, "\x03\xe8\xff", 3);
    expect_breach(buf, n, 100, 100, RPC_WS_CLOSE_INVALID_DATA, "not UTF-8");
}
END_TEST

START_TEST(lengths_and_encoding)
{
    /* 126 and 65536 bytes take the 16- and 64-bit length forms, both ways. */
    static uint8_t buf[70000], payload[65536];
    for (size_t i = 0; i < sizeof payload; i++) payload[i] = (uint8_t)('a' + i % 26);
    size_t sizes[] = {0, 125, 126, 65535, 65536};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        size_t n = client_frame(buf, 0x82, payload, sizes[k]);
        struct rpc_ws_frame f;
        uint16_t code;
        ck_assert_int_eq(rpc_ws_decode_frame(buf, n, 1u << 20, &f, NULL, &code, NULL), (long)n);
        ck_assert_uint_eq(f.len, sizes[k]);
        ck_assert(sizes[k] == 0 || memcmp(f.payload, payload, sizes[k]) == 0);
        uint8_t header[RPC_WS_HEADER_MAX];
        size_t h = rpc_ws_encode_header(header, RPC_WS_TEXT, sizes[k]);
        ck_assert_uint_eq(h, sizes[k] < 126 ? 2 : sizes[k] <= 0xffff ? 4 : 10);
        ck_assert_uint_eq(header[0], 0x81);
        ck_assert_uint_eq(header[1] & 0x80, 0); /* server frames are not masked */
    }
    ck_assert(rpc_ws_utf8_valid((const uint8_t *)"\xf4\x8f\xbf\xbf", 4));
    ck_assert(!rpc_ws_utf8_valid((const uint8_t *)"\xf4\x90\x80\x80", 4));
    ck_assert(!rpc_ws_utf8_valid((const uint8_t *)"\xed\xa0\x80", 3));
    ck_assert(!rpc_ws_utf8_valid((const uint8_t *)"\xe2\x82", 2));
    ck_assert(rpc_ws_utf8_valid((const uint8_t *)"\xe2\x82\xac", 3));
}
END_TEST

/* ---- The transport over real sockets ---- */

static struct testchain tc;
static struct rpc *rpc;
static struct rpc_server *server;
static uint16_t port;

static void serve_status(void *ctx, const char *method, const char *body, size_t len, struct http_response *out)
{
    (void)ctx;
    (void)body;
    (void)len;
    out->body = strdup(strcmp(method, "GET") == 0 ? "{\"health\":\"ok\"}" : "{\"error\":\"use GET\"}");
}

static const struct http_route routes[] = {{.path = "/status", .handler = serve_status}};

static void start(const struct rpc_limits *limits)
{
    ck_assert_int_eq(testchain_open(&tc, 0), 0);
    struct rpc_chain chain = {.store = tc.store, .chain_id = TESTCHAIN_CHAIN_ID, .revision = EVM_CANCUN,
                              .block_gas_limit = TESTCHAIN_GAS_LIMIT};
    struct cohort_error err = {0};
    ck_assert_int_eq(rpc_new(&chain, limits, &rpc, &err), 0);
    struct rpc_server_options o = {.bind_address = "127.0.0.1", .port = 0, .routes = routes, .route_count = 1, .threads = 2};
    ck_assert_msg(rpc_server_start(rpc, &o, &server, &err) == 0, "%s", err.message);
    port = rpc_server_port(server);
    ck_assert_uint_gt(port, 0);
}

static void setup(void) { start(NULL); }

static void teardown(void)
{
    rpc_server_stop(server);
    rpc_free(rpc);
    testchain_close(&tc);
}

static int connect_local(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

static void send_all(int fd, const void *data, size_t len)
{
    const uint8_t *p = data;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        ck_assert_int_gt(n, 0);
        p += n;
        len -= (size_t)n;
    }
}

/* Reads one HTTP response (headers and a Content-Length body) into out; returns the status. */
static int read_response(int fd, char *out, size_t cap)
{
    size_t len = 0;
    char *body = NULL;
    size_t content = 0;
    for (;;) {
        ck_assert_uint_lt(len, cap - 1);
        ssize_t n = recv(fd, out + len, cap - 1 - len, 0);
        ck_assert_msg(n > 0, "the server closed or timed out after %zu bytes", len);
        len += (size_t)n;
        out[len] = 0;
        if (body == NULL && (body = strstr(out, "\r\n\r\n")) != NULL) {
            body += 4;
            const char *cl = strcasestr(out, "Content-Length:");
            content = cl && cl < body ? (size_t)strtoul(cl + 15, NULL, 10) : 0;
        }
        if (body != NULL && (size_t)(out + len - body) >= content) break;
    }
    int status = 0;
    sscanf(out, "HTTP/1.1 %d", &status);
    return status;
}

static int post(int fd, const char *body, char *out, size_t cap)
{
    char head[256];
    snprintf(head, sizeof head, "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
             strlen(body));
    send_all(fd, head, strlen(head));
    send_all(fd, body, strlen(body));
    return read_response(fd, out, cap);
}

START_TEST(http_transport)
{
    char out[65536];
    int fd = connect_local();
    ck_assert_int_eq(post(fd, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"eth_chainId\"}", out, sizeof out), 200);
    ck_assert_ptr_nonnull(strstr(out, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":\"0x539\"}"));
    ck_assert_ptr_nonnull(strcasestr(out, "Access-Control-Allow-Origin: *"));
    ck_assert_ptr_nonnull(strcasestr(out, "Content-Type: application/json"));
    /* The same connection again (keep-alive), a batch. */
    ck_assert_int_eq(post(fd, "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"eth_blockNumber\"},{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"net_version\"}]",
                          out, sizeof out),
                     200);
    ck_assert_ptr_nonnull(strstr(out, "\"result\":\"0x0\""));
    ck_assert_ptr_nonnull(strstr(out, "\"result\":\"1337\""));
    /* A notification: 200 and nothing. */
    ck_assert_int_eq(post(fd, "{\"jsonrpc\":\"2.0\",\"method\":\"eth_chainId\"}", out, sizeof out), 200);
    ck_assert_ptr_nonnull(strcasestr(out, "Content-Length: 0"));
    /* A CORS preflight. */
    const char *preflight = "OPTIONS / HTTP/1.1\r\nHost: x\r\nOrigin: http://wallet.example\r\nAccess-Control-Request-Method: POST\r\n"
                            "Access-Control-Request-Headers: content-type\r\n\r\n";
    send_all(fd, preflight, strlen(preflight));
    ck_assert_int_eq(read_response(fd, out, sizeof out), 204);
    ck_assert_ptr_nonnull(strcasestr(out, "Access-Control-Allow-Methods: POST, GET, OPTIONS"));
    ck_assert_ptr_nonnull(strcasestr(out, "Access-Control-Allow-Headers: content-type"));
    /* The node's route beside JSON-RPC; a bare GET /; an unknown path. */
    const char *status = "GET /status HTTP/1.1\r\nHost: x\r\n\r\n";
    send_all(fd, status, strlen(status));
    ck_assert_int_eq(read_response(fd, out, sizeof out), 200);
    ck_assert_ptr_nonnull(strstr(out, "{\"health\":\"ok\"}"));
    const char *bare = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    send_all(fd, bare, strlen(bare));
    ck_assert_int_eq(read_response(fd, out, sizeof out), 200);
    const char *nowhere = "GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n";
    send_all(fd, nowhere, strlen(nowhere));
    ck_assert_int_eq(read_response(fd, out, sizeof out), 404);
    close(fd);
}
END_TEST

START_TEST(http_limits)
{
    teardown();
    struct rpc_limits l = {.body_bytes = 1000, .connections_per_client = 2};
    start(&l);
    char out[65536];
    int a = connect_local();
    char big[3000];
    memset(big, ' ', sizeof big - 1);
    big[sizeof big - 1] = 0;
    big[0] = '{';
    big[sizeof big - 2] = '}';
    ck_assert_int_eq(post(a, big, out, sizeof out), 413);
    ck_assert_ptr_nonnull(strstr(out, "over the limit of 1000 bytes per request"));
    close(a);
    usleep(100000); /* MHD sees the close */
    a = connect_local();
    int b = connect_local();
    ck_assert_int_eq(post(a, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"eth_chainId\"}", out, sizeof out), 200);
    ck_assert_int_eq(post(b, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"eth_chainId\"}", out, sizeof out), 200);
    int c = connect_local();
    ck_assert_int_eq(post(c, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"eth_chainId\"}", out, sizeof out), 429);
    ck_assert_ptr_nonnull(strstr(out, "too many connections from 127.0.0.1: 3 open, the limit is 2 per client"));
    close(c);
    close(b);
    usleep(100000);
    c = connect_local();
    ck_assert_int_eq(post(c, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"eth_chainId\"}", out, sizeof out), 200);
    close(c);
    close(a);
}
END_TEST

/* ---- WebSocket ---- */

static int ws_open(void)
{
    int fd = connect_local();
    const char *req = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n"
                      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    send_all(fd, req, strlen(req));
    char head[2048];
    size_t len = 0;
    /* Read the 101 response byte by byte so no frame byte is taken with it. */
    while (len < 4 || memcmp(head + len - 4, "\r\n\r\n", 4) != 0) {
        ck_assert_uint_lt(len, sizeof head - 1);
        ck_assert_int_eq(recv(fd, head + len, 1, 0), 1);
        len++;
    }
    head[len] = 0;
    ck_assert_msg(strncmp(head, "HTTP/1.1 101", 12) == 0, "%s", head);
    ck_assert_ptr_nonnull(strcasestr(head, "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
    ck_assert_ptr_nonnull(strcasestr(head, "Upgrade: websocket"));
    return fd;
}

static void recv_exact(int fd, uint8_t *out, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = recv(fd, out + got, n - got, 0);
        ck_assert_msg(r > 0, "connection closed or timed out (%zd, %s)", r, strerror(errno));
        got += (size_t)r;
    }
}

/* Reads one server frame: its opcode and payload (NUL-terminated, malloc'd). */
static char *ws_read(int fd, uint8_t *opcode, size_t *len_out)
{
    uint8_t h[2];
    recv_exact(fd, h, 2);
    ck_assert_uint_eq(h[1] & 0x80, 0);
    ck_assert_uint_eq(h[0] & 0x80, 0x80);
    uint64_t len = h[1] & 0x7f;
    if (len == 126) {
        uint8_t e[2];
        recv_exact(fd, e, 2);
        len = (uint64_t)e[0] << 8 | e[1];
    } else if (len == 127) {
        uint8_t e[8];
        recv_exact(fd, e, 8);
        len = 0;
        for (int i = 0; i < 8; i++) len = len << 8 | e[i];
    }
    char *p = malloc(len + 1);
    recv_exact(fd, (uint8_t *)p, len);
    p[len] = 0;
    *opcode = h[0] & 0x0f;
    if (len_out) *len_out = len;
    return p;
}

static void ws_send(int fd, uint8_t first_byte, const char *payload, size_t len)
{
    uint8_t *buf = malloc(len + 16);
    size_t n = client_frame(buf, first_byte, payload, len);
    send_all(fd, buf, n);
    free(buf);
}

START_TEST(websocket_requests_and_subscriptions)
{
    int fd = ws_open();
    const char *req = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"eth_chainId\"}";
    ws_send(fd, 0x81, req, strlen(req));
    uint8_t op;
    char *m = ws_read(fd, &op, NULL);
    ck_assert_uint_eq(op, RPC_WS_TEXT);
    ck_assert_str_eq(m, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":\"0x539\"}");
    free(m);
    /* A request in three fragments with a ping in the middle: the pong comes first. */
    const char *sub = "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"eth_subscribe\",\"params\":[\"newHeads\"]}";
    ws_send(fd, 0x01, sub, 10);
    ws_send(fd, 0x89, "hi", 2);
    ws_send(fd, 0x00, sub + 10, 20);
    ws_send(fd, 0x80, sub + 30, strlen(sub) - 30);
    m = ws_read(fd, &op, NULL);
    ck_assert_uint_eq(op, RPC_WS_PONG);
    ck_assert_str_eq(m, "hi");
    free(m);
    m = ws_read(fd, &op, NULL);
    ck_assert_uint_eq(op, RPC_WS_TEXT);
    char id[64] = {0};
    char *at = strstr(m, "\"result\":\"");
    ck_assert_ptr_nonnull(at);
    sscanf(at + 10, "%34[0-9a-fx]", id);
    ck_assert_uint_eq(strlen(id), 34);
    free(m);
    /* A new block, published by the node: the notification arrives. */
    struct tx_signed *t = testchain_tx(&tc, 0, tc.addresses[1], u256_from_u64(1), NULL, 0, 21000);
    ck_assert_int_eq(testchain_block(&tc, &t, 1), 0);
    rpc_publish_block(rpc, 1);
    m = ws_read(fd, &op, NULL);
    ck_assert_uint_eq(op, RPC_WS_TEXT);
    ck_assert_ptr_nonnull(strstr(m, "\"method\":\"eth_subscription\""));
    ck_assert_ptr_nonnull(strstr(m, id));
    ck_assert_ptr_nonnull(strstr(m, "\"number\":\"0x1\""));
    free(m);
    /* A client close: the server answers with the same code and closes. */
    ws_send(fd, 0x88, "\x03\xe8", 2);
    m = ws_read(fd, &op, NULL);
    ck_assert_uint_eq(op, RPC_WS_CLOSE);
    ck_assert_mem_eq(m, "\x03\xe8", 2);
    free(m);
    char c;
    ck_assert_int_eq(recv(fd, &c, 1, 0), 0);
    close(fd);
    /* The subscription went with the connection. */
    usleep(100000);
    pthread_mutex_lock(&rpc->lock);
    ck_assert_uint_eq(rpc->filter_count, 0);
    pthread_mutex_unlock(&rpc->lock);
}
END_TEST

START_TEST(websocket_breaches_close_with_their_code)
{
    int fd = ws_open();
    /* An unmasked frame: 1002. */
    const uint8_t unmasked[] = {0x81, 0x02, '{', '}'};
    send_all(fd, unmasked, sizeof unmasked);
    uint8_t op;
    size_t len;
    char *m = ws_read(fd, &op, &len);
    ck_assert_uint_eq(op, RPC_WS_CLOSE);
    ck_assert_uint_ge(len, 2);
    ck_assert_uint_eq(((uint8_t)m[0] << 8) | (uint8_t)m[1], RPC_WS_CLOSE_PROTOCOL);
    ck_assert_ptr_nonnull(strstr(m + 2, "mask"));
    free(m);
    close(fd);
    /* A message over the body limit: 1009 naming it. */
    fd = ws_open();
    uint8_t header[] = {0x81, 0x80 | 127, 0, 0, 0, 0, 0x10, 0, 0, 0, 1, 2, 3, 4};
    send_all(fd, header, sizeof header);
    m = ws_read(fd, &op, &len);
    ck_assert_uint_eq(op, RPC_WS_CLOSE);
    ck_assert_uint_eq(((uint8_t)m[0] << 8) | (uint8_t)m[1], RPC_WS_CLOSE_TOO_BIG);
    ck_assert_ptr_nonnull(strstr(m + 2, "bytes per frame"));
    free(m);
    close(fd);
    /* A bad handshake version: 426 with the version we speak. */
    fd = connect_local();
    const char *req = "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n";
    send_all(fd, req, strlen(req));
    char out[4096];
    ck_assert_int_eq(read_response(fd, out, sizeof out), 426);
    ck_assert_ptr_nonnull(strcasestr(out, "Sec-WebSocket-Version: 13"));
    close(fd);
}
END_TEST

START_TEST(websocket_server_stop_says_going_away)
{
    int fd = ws_open();
    rpc_server_stop(server);
    server = NULL;
    uint8_t op;
    size_t len;
    char *m = ws_read(fd, &op, &len);
    ck_assert_uint_eq(op, RPC_WS_CLOSE);
    ck_assert_uint_eq(((uint8_t)m[0] << 8) | (uint8_t)m[1], RPC_WS_CLOSE_GOING_AWAY);
    free(m);
    close(fd);
    rpc_free(rpc);
    testchain_close(&tc);
    /* teardown must not stop it again */
    start(NULL);
}
END_TEST

int main(void)
{
    if (secp_init(NULL) != 0) return 1;
    Suite *s = suite_create("rpc_ws");
    TCase *framing = tcase_create("framing");
    tcase_add_test(framing, accept_key_rfc_vector);
    tcase_add_test(framing, rfc_masked_hello);
    tcase_add_test(framing, fragments_and_control_frames);
    tcase_add_test(framing, protocol_breaches);
    tcase_add_test(framing, lengths_and_encoding);
    suite_add_tcase(s, framing);
    TCase *transport = tcase_create("transport");
    tcase_add_checked_fixture(transport, setup, teardown);
    tcase_set_timeout(transport, 60);
    tcase_add_test(transport, http_transport);
    tcase_add_test(transport, http_limits);
    tcase_add_test(transport, websocket_requests_and_subscriptions);
    tcase_add_test(transport, websocket_breaches_close_with_their_code);
    tcase_add_test(transport, websocket_server_stop_says_going_away);
    suite_add_tcase(s, transport);
    return testutil_run_suite(s, false);
}
