/*
 * server.c - the transport: libmicrohttpd serves HTTP (JSON-RPC on POST /, the node's
 * routes beside it, CORS for browser wallets) and hands WebSocket upgrades on GET / to a
 * thread per connection (RFC 6455 framing in ws.c).
 *
 * Threads. MHD runs a pool of `threads` threads; a JSON-RPC request runs on the thread
 * that read it (eth_call included: the gas cap bounds it). Each WebSocket connection has
 * its own thread that reads frames, answers requests in order, and writes what is queued
 * for it: responses, pongs, and the notifications other threads push (the notifier,
 * rpc_publish_pending_tx). A push only appends to the connection's queue (capped at
 * limits.ws_backlog_bytes: a client that does not read is closed with 1008) and wakes the
 * thread through an eventfd, so no publisher ever waits on a client.
 *
 * Connections are counted per client address (MHD's connection notifications): past
 * limits.connections_per_client a request is answered 429 with a JSON-RPC error naming the
 * limit; limits.connections_total is MHD's own cap.
 */
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "rpc_internal.h"
#include "ws.h"

#define DOMAIN "rpc"
#define PING_INTERVAL_MS 30000u   /* geth pings every 30 s too */
#define IDLE_CLOSE_MS 90000u      /* nothing from the client (not even a pong) this long: closed */
#define CORS_HEADERS "Content-Type, Authorization, X-Requested-With"

struct client_slot {
    char address[RPC_CLIENT_MAX];
    uint32_t connections;
};

struct ws_conn;

struct rpc_server {
    struct rpc *rpc;
    struct MHD_Daemon *daemon;
    const struct http_route *routes;
    size_t route_count;
    pthread_mutex_t lock;      /* clients, the WebSocket list, stopping */
    pthread_cond_t ws_gone;
    struct client_slot *clients;
    size_t client_count, client_cap;
    struct ws_conn *ws;
    uint32_t ws_count;
    bool stopping;
};

/* What MHD keeps per TCP connection (its socket context). */
struct conn_info {
    char address[RPC_CLIENT_MAX];
    bool over_limit;           /* this client had too many connections when this one opened */
    uint32_t count_then;
};

/* Per request: the body so far. */
struct request {
    char *body;
    size_t len;
    bool too_large;
    size_t declared;           /* the size of a body refused as too large, as far as it was read */
};

/* ---- Counting connections per client ---- */

static struct client_slot *slot_of(struct rpc_server *s, const char *address, bool create)
{
    for (size_t i = 0; i < s->client_count; i++)
        if (strcmp(s->clients[i].address, address) == 0) return &s->clients[i];
    if (!create) return NULL;
    if (s->client_count == s->client_cap) {
        size_t cap = s->client_cap ? 2 * s->client_cap : 16;
        struct client_slot *grown = realloc(s->clients, cap * sizeof *grown);
        if (grown == NULL) return NULL;
        s->clients = grown;
        s->client_cap = cap;
    }
    struct client_slot *c = &s->clients[s->client_count++];
    snprintf(c->address, sizeof c->address, "%s", address);
    c->connections = 0;
    return c;
}

static void on_connection(void *cls, struct MHD_Connection *connection, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    struct rpc_server *s = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        struct conn_info *ci = calloc(1, sizeof *ci);
        *socket_context = ci;
        if (ci == NULL) return;
        const union MHD_ConnectionInfo *info = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        if (info != NULL && info->client_addr != NULL && info->client_addr->sa_family == AF_INET) {
            const struct sockaddr_in *in = (const struct sockaddr_in *)info->client_addr;
            inet_ntop(AF_INET, &in->sin_addr, ci->address, sizeof ci->address);
        } else {
            snprintf(ci->address, sizeof ci->address, "unknown");
        }
        pthread_mutex_lock(&s->lock);
        struct client_slot *slot = slot_of(s, ci->address, true);
        if (slot != NULL) {
            slot->connections++;
            ci->count_then = slot->connections;
            ci->over_limit = slot->connections > s->rpc->limits.connections_per_client;
        }
        pthread_mutex_unlock(&s->lock);
        return;
    }
    struct conn_info *ci = *socket_context;
    if (ci == NULL) return;
    pthread_mutex_lock(&s->lock);
    struct client_slot *slot = slot_of(s, ci->address, false);
    if (slot != NULL && slot->connections > 0) {
        slot->connections--;
        if (slot->connections == 0) *slot = s->clients[--s->client_count]; /* drop the slot */
    }
    pthread_mutex_unlock(&s->lock);
    free(ci);
    *socket_context = NULL;
}

/* ---- HTTP responses ---- */

static void add_cors(struct MHD_Response *r)
{
    MHD_add_response_header(r, "Access-Control-Allow-Origin", "*");
    MHD_add_response_header(r, "Vary", "Origin");
}

static enum MHD_Result respond(struct MHD_Connection *c, unsigned status, char *body, size_t len, const char *type,
                               bool close)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (r == NULL) {
        free(body);
        return MHD_NO;
    }
    if (type != NULL) MHD_add_response_header(r, "Content-Type", type);
    add_cors(r);
    if (close) MHD_add_response_header(r, "Connection", "close");
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result respond_text(struct MHD_Connection *c, unsigned status, const char *text, const char *type,
                                    bool close)
{
    char *body = strdup(text);
    if (body == NULL) return MHD_NO;
    return respond(c, status, body, strlen(body), type, close);
}

/* A JSON-RPC error object as an HTTP body (for refusals before any request is read). */
static enum MHD_Result respond_rpc_error(struct MHD_Connection *c, unsigned status, int code, const char *message,
                                         bool close)
{
    struct rpc_buf b;
    rpc_buf_init(&b, 4096);
    rpc_buf_printf(&b, "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":%d,\"message\":", code);
    rpc_buf_string(&b, message, strlen(message));
    rpc_buf_puts(&b, "}}");
    size_t len;
    char *body = rpc_buf_take(&b, &len);
    if (body == NULL) return MHD_NO;
    return respond(c, status, body, len, "application/json", close);
}

/* True when a comma-separated header value holds token (case-insensitive). */
static bool header_has_token(const char *value, const char *token)
{
    if (value == NULL) return false;
    size_t n = strlen(token);
    const char *p = value;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',') p++;
        const char *start = p;
        while (*p && *p != ',') p++;
        const char *end = p;
        while (end > start && (end[-1] == ' ' || end[-1] == '\t')) end--;
        if ((size_t)(end - start) == n && strncasecmp(start, token, n) == 0) return true;
    }
    return false;
}

/* ---- WebSocket connections ---- */

struct ws_conn {
    struct rpc_conn base;      /* first: the registry holds &base */
    struct rpc_server *server;
    struct MHD_UpgradeResponseHandle *urh;
    int sock;
    int wake;                  /* eventfd: data queued, or stop */
    char address[RPC_CLIENT_MAX];
    pthread_mutex_t lock;      /* out, overflow, stop */
    uint8_t *out;
    size_t out_len, out_sent, out_cap;
    bool overflow;
    bool stop;
    uint8_t *in;
    size_t in_len, in_cap;
    struct ws_conn *next;
};

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void wake(struct ws_conn *w)
{
    uint64_t one = 1;
    ssize_t n = write(w->wake, &one, sizeof one);
    (void)n; /* a full counter still wakes the thread */
}

/* Appends one frame to the queue. Lock held. False when the backlog cap is reached (enforce) or memory runs out. */
static bool queue_frame_locked(struct ws_conn *w, uint8_t opcode, const void *payload, size_t len, bool enforce)
{
    size_t pending = w->out_len - w->out_sent;
    size_t cap = w->server->rpc->limits.ws_backlog_bytes;
    if (enforce && pending + len + RPC_WS_HEADER_MAX > cap) return false;
    if (w->out_sent > 0 && w->out_sent == w->out_len) w->out_len = w->out_sent = 0;
    size_t need = w->out_len + len + RPC_WS_HEADER_MAX;
    if (need > w->out_cap) {
        /* Reclaim what was sent before growing. */
        if (w->out_sent > 0) {
            memmove(w->out, w->out + w->out_sent, w->out_len - w->out_sent);
            w->out_len -= w->out_sent;
            w->out_sent = 0;
            need = w->out_len + len + RPC_WS_HEADER_MAX;
        }
        if (need > w->out_cap) {
            size_t grown_cap = w->out_cap ? w->out_cap : 4096;
            while (grown_cap < need) grown_cap *= 2;
            uint8_t *grown = realloc(w->out, grown_cap);
            if (grown == NULL) return false;
            w->out = grown;
            w->out_cap = grown_cap;
        }
    }
    w->out_len += rpc_ws_encode_header(w->out + w->out_len, opcode, len);
    if (len) memcpy(w->out + w->out_len, payload, len);
    w->out_len += len;
    return true;
}

/* rpc_conn.push: a notification from another thread (the registry's lock is held). */
static void ws_push(struct rpc_conn *conn, const char *json, size_t len)
{
    struct ws_conn *w = (struct ws_conn *)conn;
    pthread_mutex_lock(&w->lock);
    if (!w->overflow && !w->stop && !queue_frame_locked(w, RPC_WS_TEXT, json, len, true)) w->overflow = true;
    pthread_mutex_unlock(&w->lock);
    wake(w);
}

static void queue_frame(struct ws_conn *w, uint8_t opcode, const void *payload, size_t len)
{
    pthread_mutex_lock(&w->lock);
    queue_frame_locked(w, opcode, payload, len, false);
    pthread_mutex_unlock(&w->lock);
}

static void queue_close(struct ws_conn *w, uint16_t code, const char *reason)
{
    uint8_t payload[125];
    size_t n = strlen(reason);
    if (n > sizeof payload - 2) n = sizeof payload - 2;
    payload[0] = (uint8_t)(code >> 8);
    payload[1] = (uint8_t)code;
    memcpy(payload + 2, reason, n);
    queue_frame(w, RPC_WS_CLOSE, payload, n + 2);
}

/* Sends what is queued without blocking. Returns -1 when the socket failed. */
static int flush(struct ws_conn *w)
{
    pthread_mutex_lock(&w->lock);
    int rc = 0;
    while (w->out_sent < w->out_len) {
        ssize_t n = send(w->sock, w->out + w->out_sent, w->out_len - w->out_sent, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            w->out_sent += (size_t)n;
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        if (n < 0 && errno == EINTR) continue;
        rc = -1;
        break;
    }
    if (w->out_sent == w->out_len) w->out_sent = w->out_len = 0;
    pthread_mutex_unlock(&w->lock);
    return rc;
}

static bool pending_output(struct ws_conn *w)
{
    pthread_mutex_lock(&w->lock);
    bool pending = w->out_sent < w->out_len;
    pthread_mutex_unlock(&w->lock);
    return pending;
}

/* Handles one message: a JSON-RPC request or batch. */
static void ws_message(struct ws_conn *w, const uint8_t *data, size_t len)
{
    struct rpc *rpc = w->server->rpc;
    struct rpc_client client = {.address = w->address, .conn = &w->base};
    size_t response_len = 0;
    char *response = rpc_handle_client(rpc, &client, (const char *)data, len, &response_len);
    if (response != NULL) queue_frame(w, RPC_WS_TEXT, response, response_len);
    free(response);
    /* Subscriptions made by this message may be notified only after their id went out. */
    rpc_activate_subscriptions(rpc, &w->base);
}

/*
 * Decodes and handles the frames in the input buffer. Returns 0 to go on, 1 when the
 * connection is closing (a close frame was queued).
 */
static int ws_input(struct ws_conn *w, struct rpc_ws_assembler *a)
{
    size_t at = 0;
    int rc = 0;
    size_t max_frame = w->server->rpc->limits.body_bytes;
    while (at < w->in_len) {
        struct rpc_ws_frame frame;
        uint16_t close_code = 0;
        struct cohort_error err = {0};
        long used = rpc_ws_decode_frame(w->in + at, w->in_len - at, max_frame, &frame, NULL, &close_code, &err);
        if (used == 0) break;
        if (used < 0) {
            queue_close(w, close_code, err.message + strlen("websocket: "));
            rc = 1;
            break;
        }
        at += (size_t)used;
        struct rpc_ws_event ev;
        if (rpc_ws_assemble(a, &frame, &ev, &close_code, &err) != 0) {
            queue_close(w, close_code, err.message + strlen("websocket: "));
            rc = 1;
            break;
        }
        if (ev.kind == RPC_WS_EVENT_MESSAGE) {
            ws_message(w, ev.data, ev.len);
        } else if (ev.kind == RPC_WS_EVENT_PING) {
            queue_frame(w, RPC_WS_PONG, ev.data, ev.len);
        } else if (ev.kind == RPC_WS_EVENT_CLOSE) {
            if (ev.code == 1005) queue_frame(w, RPC_WS_CLOSE, NULL, 0);
            else queue_close(w, ev.code, "");
            rc = 1;
            break;
        }
    }
    if (at > 0) {
        memmove(w->in, w->in + at, w->in_len - at);
        w->in_len -= at;
    }
    return rc;
}

static void *ws_main(void *arg)
{
    struct ws_conn *w = arg;
    struct rpc_server *s = w->server;
    struct rpc_ws_assembler assembler = {.max_message = s->rpc->limits.body_bytes};
    uint64_t last_heard = now_ms(), last_ping = last_heard;
    bool closing = false;
    uint64_t closing_since = 0;
    for (;;) {
        pthread_mutex_lock(&w->lock);
        bool stop = w->stop, overflow = w->overflow;
        pthread_mutex_unlock(&w->lock);
        if (!closing && (stop || overflow)) {
            if (overflow) {
                char reason[100];
                snprintf(reason, sizeof reason, "notification backlog over %zu bytes: read faster",
                         s->rpc->limits.ws_backlog_bytes);
                /* Drop the backlog: the close frame must get through. */
                pthread_mutex_lock(&w->lock);
                w->out_len = w->out_sent = 0;
                pthread_mutex_unlock(&w->lock);
                queue_close(w, RPC_WS_CLOSE_POLICY, reason);
            } else {
                queue_close(w, RPC_WS_CLOSE_GOING_AWAY, "server stopping");
            }
            closing = true;
            closing_since = now_ms();
        }
        if (flush(w) != 0) break;
        if (closing && !pending_output(w)) break;
        uint64_t now = now_ms();
        if (closing && now - closing_since > 2000) break;
        if (!closing && now - last_heard > IDLE_CLOSE_MS) {
            queue_close(w, RPC_WS_CLOSE_GOING_AWAY, "idle: no pong");
            closing = true;
            closing_since = now;
            continue;
        }
        if (!closing && now - last_ping >= PING_INTERVAL_MS) {
            queue_frame(w, RPC_WS_PING, NULL, 0);
            last_ping = now;
            continue;
        }
        struct pollfd fds[2] = {{.fd = w->sock, .events = POLLIN}, {.fd = w->wake, .events = POLLIN}};
        if (pending_output(w)) fds[0].events |= POLLOUT;
        if (closing) fds[0].events &= (short)~POLLIN;
        int timeout = (int)(PING_INTERVAL_MS - (now - last_ping));
        if (closing) timeout = 100;
        int n = poll(fds, 2, timeout);
        if (n < 0 && errno != EINTR) break;
        if (n <= 0) continue;
        if (fds[1].revents & POLLIN) {
            uint64_t count;
            ssize_t r = read(w->wake, &count, sizeof count);
            (void)r;
        }
        if (fds[0].revents & (POLLERR | POLLNVAL)) break;
        if (!closing && (fds[0].revents & (POLLIN | POLLHUP))) {
            size_t want = s->rpc->limits.body_bytes + RPC_WS_HEADER_MAX;
            if (w->in_cap < want && w->in_len == w->in_cap) {
                size_t cap = w->in_cap ? 2 * w->in_cap : 16384;
                if (cap > want) cap = want;
                uint8_t *grown = realloc(w->in, cap);
                if (grown == NULL) break;
                w->in = grown;
                w->in_cap = cap;
            }
            ssize_t got = recv(w->sock, w->in + w->in_len, w->in_cap - w->in_len, MSG_DONTWAIT);
            if (got == 0) break; /* the peer went away */
            if (got < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) continue;
                break;
            }
            w->in_len += (size_t)got;
            last_heard = now_ms();
            if (ws_input(w, &assembler) != 0) {
                closing = true;
                closing_since = now_ms();
            }
        }
    }
    rpc_drop_connection(s->rpc, &w->base);
    rpc_ws_assembler_free(&assembler);
    evm_thread_release(); /* eth_call over this connection kept VM memory on this thread */
    MHD_upgrade_action(w->urh, MHD_UPGRADE_ACTION_CLOSE);
    close(w->wake);
    free(w->in);
    free(w->out);
    pthread_mutex_destroy(&w->lock);
    pthread_mutex_lock(&s->lock);
    struct ws_conn **p = &s->ws;
    while (*p != NULL && *p != w) p = &(*p)->next;
    if (*p == w) *p = w->next;
    s->ws_count--;
    pthread_cond_broadcast(&s->ws_gone);
    pthread_mutex_unlock(&s->lock);
    free(w);
    return NULL;
}

static void on_upgrade(void *cls, struct MHD_Connection *connection, void *con_cls, const char *extra_in,
                       size_t extra_in_size, MHD_socket sock, struct MHD_UpgradeResponseHandle *urh)
{
    (void)con_cls;
    struct rpc_server *s = cls;
    struct ws_conn *w = calloc(1, sizeof *w);
    size_t in_cap = extra_in_size > 16384 ? extra_in_size : 16384;
    if (w != NULL) w->in = malloc(in_cap);
    if (w == NULL || w->in == NULL) {
        if (w) free(w);
        MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
        return;
    }
    w->base.push = ws_push;
    w->server = s;
    w->urh = urh;
    w->sock = sock;
    w->in_cap = in_cap;
    memcpy(w->in, extra_in, extra_in_size);
    w->in_len = extra_in_size;
    const union MHD_ConnectionInfo *info = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    const struct conn_info *ci = info ? info->socket_context : NULL;
    snprintf(w->address, sizeof w->address, "%s", ci ? ci->address : "unknown");
    pthread_mutex_init(&w->lock, NULL);
    w->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    int flags = fcntl(sock, F_GETFL);
    if (flags >= 0) fcntl(sock, F_SETFL, flags | O_NONBLOCK);
    pthread_mutex_lock(&s->lock);
    bool refused = s->stopping || w->wake < 0;
    if (!refused) {
        w->next = s->ws;
        s->ws = w;
        s->ws_count++;
    }
    pthread_mutex_unlock(&s->lock);
    pthread_t thread;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (!refused && pthread_create(&thread, &attr, ws_main, w) == 0) {
        pthread_attr_destroy(&attr);
        return;
    }
    pthread_attr_destroy(&attr);
    if (!refused) {
        pthread_mutex_lock(&s->lock);
        struct ws_conn **p = &s->ws;
        while (*p != NULL && *p != w) p = &(*p)->next;
        if (*p == w) *p = w->next;
        s->ws_count--;
        pthread_cond_broadcast(&s->ws_gone);
        pthread_mutex_unlock(&s->lock);
    }
    log_warn("websocket refused", "client=%s reason=%s", w->address, refused ? "stopping" : "no thread");
    if (w->wake >= 0) close(w->wake);
    pthread_mutex_destroy(&w->lock);
    free(w->in);
    free(w);
    MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
}

static enum MHD_Result upgrade(struct rpc_server *s, struct MHD_Connection *c)
{
    const char *version = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Sec-WebSocket-Version");
    const char *key = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Sec-WebSocket-Key");
    if (version == NULL || strcmp(version, "13") != 0) {
        struct MHD_Response *r = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
        if (r == NULL) return MHD_NO;
        MHD_add_response_header(r, "Sec-WebSocket-Version", "13");
        add_cors(r);
        enum MHD_Result ret = MHD_queue_response(c, 426, r);
        MHD_destroy_response(r);
        return ret;
    }
    char accept[29];
    if (key == NULL || rpc_ws_accept_key(key, accept) != 0)
        return respond_text(c, 400, "Sec-WebSocket-Key must be the base64 of 16 bytes\n", "text/plain", true);
    struct MHD_Response *r = MHD_create_response_for_upgrade(on_upgrade, s);
    if (r == NULL) return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_UPGRADE, "websocket");
    MHD_add_response_header(r, "Sec-WebSocket-Accept", accept);
    enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_SWITCHING_PROTOCOLS, r);
    MHD_destroy_response(r);
    return ret;
}

/* ---- Requests ---- */

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **state)
{
    (void)version;
    struct rpc_server *s = cls;
    struct request *req = *state;
    if (req == NULL) { /* the headers are in; the body comes in the next calls */
        req = calloc(1, sizeof *req);
        if (req == NULL) return MHD_NO;
        *state = req;
        return MHD_YES;
    }
    size_t cap = s->rpc->limits.body_bytes;
    if (*upload_size > 0) {
        if (req->too_large || *upload_size > cap - req->len) {
            req->too_large = true;
            req->declared += *upload_size;
        } else {
            char *grown = realloc(req->body, req->len + *upload_size + 1);
            if (grown == NULL) return MHD_NO;
            req->body = grown;
            memcpy(req->body + req->len, upload, *upload_size);
            req->len += *upload_size;
            req->body[req->len] = '\0';
        }
        *upload_size = 0;
        return MHD_YES;
    }
    const union MHD_ConnectionInfo *info = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    const struct conn_info *ci = info ? info->socket_context : NULL;
    const char *client = ci ? ci->address : "unknown";
    if (ci != NULL && ci->over_limit) {
        char message[256];
        snprintf(message, sizeof message,
                 "too many connections from %s: %u open, the limit is %u per client; reuse connections (keep-alive)",
                 client, ci->count_then, s->rpc->limits.connections_per_client);
        return respond_rpc_error(c, 429, RPC_ERR_LIMIT, message, true);
    }
    if (strcmp(method, "OPTIONS") == 0) { /* a CORS preflight */
        struct MHD_Response *r = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
        if (r == NULL) return MHD_NO;
        add_cors(r);
        MHD_add_response_header(r, "Access-Control-Allow-Methods", "POST, GET, OPTIONS");
        const char *asked = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Access-Control-Request-Headers");
        MHD_add_response_header(r, "Access-Control-Allow-Headers", asked != NULL && strlen(asked) < 1024 ? asked : CORS_HEADERS);
        MHD_add_response_header(r, "Access-Control-Max-Age", "600");
        enum MHD_Result ret = MHD_queue_response(c, 204, r);
        MHD_destroy_response(r);
        return ret;
    }
    if (strncmp(url, "/chain/snapshot/", 16) == 0) { /* another member installing the state (snapshot.c) */
        if (strcmp(method, "GET") != 0) return respond_text(c, 405, "{\"error\":\"use GET\"}", "application/json", false);
        if (strcmp(url, "/chain/snapshot/state") != 0 && strcmp(url, "/chain/snapshot/blocks") != 0)
            return respond_text(c, 404, "{\"error\":\"not found\"}", "application/json", false);
        uint8_t *body = NULL;
        size_t len = 0;
        const char *type;
        unsigned status = (unsigned)rpc_snapshot_answer(
            s->rpc, url, MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "number"),
            MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "cursor"),
            MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "headers"), &body, &len, &type);
        if (body == NULL) return MHD_NO;
        return respond(c, status, (char *)body, len, type, false);
    }
    for (size_t i = 0; i < s->route_count; i++) {
        if (strcmp(s->routes[i].path, url) != 0) continue;
        struct http_response out = {.status = 200, .content_type = "application/json"};
        s->routes[i].handler(s->routes[i].ctx, method, req->body ? req->body : "", req->len, &out);
        if (out.body == NULL) out.body = strdup("");
        if (out.body == NULL) return MHD_NO;
        return respond(c, out.status, out.body, strlen(out.body), out.content_type, false);
    }
    if (strcmp(url, "/") != 0) return respond_text(c, 404, "{\"error\":\"not found\"}", "application/json", false);
    if (strcmp(method, "GET") == 0) {
        const char *up = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Upgrade");
        const char *conn = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Connection");
        if (header_has_token(up, "websocket") && header_has_token(conn, "upgrade")) return upgrade(s, c);
        /* geth answers a bare GET with 200 and nothing: load balancers use it as a health check. */
        return respond_text(c, 200, "", NULL, false);
    }
    if (strcmp(method, "POST") != 0)
        return respond_rpc_error(c, 405, RPC_ERR_INVALID_REQUEST, "use POST for JSON-RPC (or GET with a WebSocket upgrade)", false);
    if (req->too_large) {
        char message[256];
        snprintf(message, sizeof message, "request body too large: over the limit of %zu bytes per request", cap);
        return respond_rpc_error(c, 413, RPC_ERR_LIMIT, message, true);
    }
    size_t len = 0;
    char *response = rpc_handle(s->rpc, client, req->body ? req->body : "", req->len, &len);
    if (response == NULL) return respond_text(c, 200, "", "application/json", false);
    return respond(c, 200, response, len, "application/json", false);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **state, enum MHD_RequestTerminationCode code)
{
    (void)cls;
    (void)c;
    (void)code;
    struct request *req = *state;
    if (req != NULL) {
        free(req->body);
        free(req);
        *state = NULL;
    }
}

int rpc_server_start(struct rpc *rpc, const struct rpc_server_options *o, struct rpc_server **out,
                     struct cohort_error *err)
{
    assert(rpc != NULL && o != NULL && out != NULL);
    *out = NULL;
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(o->port)};
    const char *bind_address = o->bind_address ? o->bind_address : "127.0.0.1";
    if (inet_pton(AF_INET, bind_address, &addr.sin_addr) != 1)
        return cohort_error_set(err, RPC_E_INVALID, DOMAIN, "rpc: bind address '%s' is not an IPv4 address", bind_address);
    struct rpc_server *s = calloc(1, sizeof *s);
    if (s == NULL) return cohort_error_set(err, RPC_E_NOMEM, DOMAIN, "rpc: out of memory");
    s->rpc = rpc;
    s->routes = o->routes;
    s->route_count = o->route_count;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->ws_gone, NULL);
    unsigned threads = o->threads ? o->threads : 4;
    s->daemon = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_UPGRADE | MHD_USE_ERROR_LOG, o->port, NULL, NULL,
        on_request, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr, MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, s, MHD_OPTION_THREAD_POOL_SIZE, threads,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)rpc->limits.connections_total, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)60, MHD_OPTION_END);
    if (s->daemon == NULL) {
        pthread_cond_destroy(&s->ws_gone);
        pthread_mutex_destroy(&s->lock);
        free(s);
        return cohort_error_set(err, RPC_E_IO, DOMAIN, "rpc: cannot listen on %s:%u (port in use, or not ours?)",
                                bind_address, (unsigned)o->port);
    }
    *out = s;
    return 0;
}

uint16_t rpc_server_port(const struct rpc_server *s)
{
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    return info ? info->port : 0;
}

void rpc_server_stop(struct rpc_server *s)
{
    if (s == NULL) return;
    /* WebSockets first: MHD wants every upgraded connection closed before it stops. */
    pthread_mutex_lock(&s->lock);
    s->stopping = true;
    for (struct ws_conn *w = s->ws; w != NULL; w = w->next) {
        pthread_mutex_lock(&w->lock);
        w->stop = true;
        pthread_mutex_unlock(&w->lock);
        wake(w);
    }
    while (s->ws_count > 0) pthread_cond_wait(&s->ws_gone, &s->lock);
    pthread_mutex_unlock(&s->lock);
    MHD_stop_daemon(s->daemon);
    free(s->clients);
    pthread_cond_destroy(&s->ws_gone);
    pthread_mutex_destroy(&s->lock);
    free(s);
}
