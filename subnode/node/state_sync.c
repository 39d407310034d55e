/*
 * state_sync.c - a member installs the chain's state from the others (docs/chain.md
 * "State transfer").
 *
 * When the BFT log hands this member a snapshot (a block number and hash at a log index,
 * which f+1 members vouched for) whose block its store does not hold, the member fetches
 * block N's headers, body and receipts and then the state at N, chunk by chunk, from one
 * other member's RPC port (GET /chain/snapshot/..., snapshot.c), checking everything
 * against the vouched hash: the headers by their hashes, the body and receipts by header
 * N's roots, the state by header N's state root once the last chunk is in. A source that
 * fails or lies costs only time: the transfer starts again from the next member.
 *
 * It runs where the BFT node asks for the restore: its thread (the member is behind every
 * peer anyway, so it has nothing else to do) or the start. Memory stays bounded: one chunk
 * (STORE_CHUNK_MAX_BYTES) in flight, written in its own store transaction.
 */
#include "subnode/node/node_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/hex.h"
#include "common/log.h"
#include "subnode/rpc/rpc.h"

#define DOMAIN "subnode"
#define CONNECT_TIMEOUT_MS 3000
#define IO_TIMEOUT_MS 30000
#define HEADER_MAX 8192

/* ---- A small blocking HTTP/1.1 GET (one request per connection) ---- */

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int wait_fd(int fd, short events, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - mono_ms();
        if (left <= 0) return 0;
        struct pollfd p = {.fd = fd, .events = events};
        int r = poll(&p, 1, (int)left);
        if (r < 0 && errno == EINTR) continue;
        return r;
    }
}

/*
 * GETs path from ip:port; the body (at most cap bytes) into *body (malloc'd), its status
 * into *status. 0, or a negative code with err naming the member and what failed.
 */
static int http_get(const char *ip, unsigned port, const char *path, size_t cap, uint8_t **body, size_t *len,
                    unsigned *status, struct cohort_error *err)
{
    *body = NULL;
    *len = 0;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, ip, &a.sin_addr) != 1)
        return cohort_error_set(err, COMMON_E_INVALID, DOMAIN, "%s is not an IPv4 address", ip);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return cohort_error_errno(err, COMMON_E_IO, DOMAIN, errno, "socket");
    int64_t deadline = mono_ms() + CONNECT_TIMEOUT_MS;
    int rc = connect(fd, (struct sockaddr *)&a, sizeof a);
    if (rc != 0 && errno == EINPROGRESS) {
        int soerr = 0;
        socklen_t sl = sizeof soerr;
        if (wait_fd(fd, POLLOUT, deadline) <= 0) soerr = ETIMEDOUT;
        else getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
        rc = soerr ? -1 : 0;
        errno = soerr;
    }
    if (rc != 0) {
        int e = errno;
        close(fd);
        return cohort_error_errno(err, COMMON_E_IO, DOMAIN, e, "connect to %s:%u", ip, port);
    }
    char request[1024];
    int n = snprintf(request, sizeof request, "GET %s HTTP/1.1\r\nHost: %s:%u\r\nConnection: close\r\n\r\n", path, ip,
                     port);
    deadline = mono_ms() + IO_TIMEOUT_MS;
    for (int sent = 0; sent < n;) {
        ssize_t w = send(fd, request + sent, (size_t)(n - sent), MSG_NOSIGNAL);
        if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
            if (wait_fd(fd, POLLOUT, deadline) <= 0) break;
            continue;
        }
        if (w <= 0) break;
        sent += (int)w;
    }
    size_t total_cap = cap + HEADER_MAX, got = 0;
    uint8_t *buf = malloc(total_cap + 1);
    if (buf == NULL) {
        close(fd);
        return cohort_error_set(err, COMMON_E_NOMEM, DOMAIN, "out of memory");
    }
    const char *why = NULL;
    for (;;) {
        if (got == total_cap) {
            why = "the answer is over the size this member takes";
            break;
        }
        ssize_t r = recv(fd, buf + got, total_cap - got, 0);
        if (r > 0) {
            got += (size_t)r;
            continue;
        }
        if (r == 0) break;
        if (errno == EINTR) continue;
        if (errno == EAGAIN && wait_fd(fd, POLLIN, deadline) > 0) continue;
        why = errno == EAGAIN ? "no answer in time" : strerror(errno);
        break;
    }
    close(fd);
    buf[got] = '\0';
    char *head_end = why ? NULL : strstr((char *)buf, "\r\n\r\n");
    unsigned code = 0;
    if (why == NULL && (head_end == NULL || sscanf((char *)buf, "HTTP/1.%*c %u", &code) != 1))
        why = "the answer is not HTTP";
    if (why != NULL) {
        free(buf);
        return cohort_error_set(err, COMMON_E_IO, DOMAIN, "GET http://%s:%u%s: %s", ip, port, path, why);
    }
    size_t offset = (size_t)(head_end + 4 - (char *)buf);
    *len = got - offset;
    memmove(buf, buf + offset, *len);
    buf[*len] = '\0';
    *body = buf;
    *status = code;
    return 0;
}

/* ---- The transfer ---- */

/* The turn-th member other than this one, round and round. */
static unsigned other_member(const struct chain_node *n, uint64_t turn)
{
    unsigned count = n->config.nmembers;
    return (unsigned)((n->config.member_index + 1 + turn % (count - 1)) % count);
}

/* GETs a snapshot route from member m: 200's body, or an error naming what it said. */
static int fetch(struct chain_node *n, unsigned m, const char *path, size_t cap, uint8_t **body, size_t *len,
                 struct cohort_error *err)
{
    const struct chain_member *mb = &n->config.members[m];
    unsigned port = chain_member_rpc_port(mb);
    unsigned status = 0;
    int rc = http_get(mb->ip, port, path, cap, body, len, &status, err);
    if (rc != 0) return rc;
    if (status != 200) {
        rc = cohort_error_set(err, COMMON_E_IO, DOMAIN, "member %u answered %u to %s: %.300s", m, status, path,
                              (char *)*body);
        free(*body);
        *body = NULL;
    }
    return rc;
}

static void progress(struct chain_node *n, uint64_t accounts, uint64_t slots, uint64_t bytes)
{
    pthread_mutex_lock(&n->lock);
    n->transfer.accounts = accounts;
    n->transfer.slots = slots;
    n->transfer.bytes = bytes;
    pthread_mutex_unlock(&n->lock);
}

/* The whole transfer from member m. */
static int transfer_from(struct chain_node *n, unsigned m, uint64_t index, uint64_t number, const uint8_t hash[32],
                         struct block_header *head, struct cohort_error *err)
{
    char path[256];
    uint8_t *blocks_bytes = NULL, *chunk_bytes = NULL;
    size_t blocks_len = 0, chunk_len = 0;
    struct store_blocks blocks;
    snprintf(path, sizeof path, "/chain/snapshot/blocks?number=%llu", (unsigned long long)number);
    int rc = fetch(n, m, path, STORE_BLOCKS_MAX_BYTES, &blocks_bytes, &blocks_len, err);
    if (rc == 0) rc = store_blocks_decode(blocks_bytes, blocks_len, number, 0, &blocks, err);
    if (rc == 0 && memcmp(blocks.hash, hash, 32) != 0)
        rc = cohort_error_set(err, COMMON_E_INVALID, DOMAIN,
                              "member %u sent a block %llu whose hash is not the one f+1 members vouched for", m,
                              (unsigned long long)number);
    if (rc == 0) rc = store_import_begin(n->store, number, err);
    uint8_t cursor[STORE_CURSOR_BYTES] = {0};
    uint64_t accounts = 0, slots = 0, bytes = blocks_len, chunks = 0;
    int64_t logged = mono_ms();
    while (rc == 0) {
        if (n->transfer_delay_ms) usleep(n->transfer_delay_ms * 1000u); /* tests only: a crash mid-transfer */
        char hex[2 * STORE_CURSOR_BYTES + 3];
        hex_encode(cursor, sizeof cursor, hex, sizeof hex);
        snprintf(path, sizeof path, "/chain/snapshot/state?number=%llu&cursor=%s", (unsigned long long)number, hex);
        rc = fetch(n, m, path, STORE_CHUNK_MAX_BYTES, &chunk_bytes, &chunk_len, err);
        struct store_chunk chunk;
        if (rc == 0) rc = store_chunk_decode(chunk_bytes, chunk_len, cursor, &chunk, err);
        if (rc != 0) {
            cohort_error_wrap(err, "member %u, state chunk %llu", m, (unsigned long long)chunks);
            break;
        }
        rc = store_import_chunk(n->store, &chunk, err);
        accounts += chunk.account_count;
        slots += chunk.slot_count;
        bytes += chunk_len;
        chunks++;
        bool done = chunk.done;
        memcpy(cursor, chunk.next, sizeof cursor);
        store_chunk_free(&chunk);
        free(chunk_bytes);
        chunk_bytes = NULL;
        progress(n, accounts, slots, bytes);
        if (rc != 0 || done) break;
        if (mono_ms() - logged >= 5000) {
            logged = mono_ms();
            log_info("state transfer under way", "chain=%s block=%llu source=%u accounts=%llu slots=%llu bytes=%llu",
                     n->config.name, (unsigned long long)number, m, (unsigned long long)accounts,
                     (unsigned long long)slots, (unsigned long long)bytes);
        }
    }
    if (rc == 0) rc = store_import_finish(n->store, &blocks, index, err);
    if (rc == 0) *head = blocks.head;
    if (rc == 0)
        log_info("state transfer done", "chain=%s block=%llu log_index=%llu source=%u accounts=%llu slots=%llu bytes=%llu "
                 "chunks=%llu",
                 n->config.name, (unsigned long long)number, (unsigned long long)index, m, (unsigned long long)accounts,
                 (unsigned long long)slots, (unsigned long long)bytes, (unsigned long long)chunks);
    free(chunk_bytes);
    free(blocks_bytes);
    return rc;
}

int cn_state_transfer(struct chain_node *n, uint64_t index, uint64_t number, const uint8_t hash[32],
                      struct cohort_error *err)
{
    pthread_mutex_lock(&n->lock);
    n->transfer.running = true;
    n->transfer.block = number;
    pthread_mutex_unlock(&n->lock);
    char hex[67];
    hex_encode(hash, 32, hex, sizeof hex);
    log_info("this member's store does not hold the block the chain's snapshot names: installing the state from "
             "the other members",
             "chain=%s block=%llu hash=%s log_index=%llu head=%llu", n->config.name, (unsigned long long)number, hex,
             (unsigned long long)index, (unsigned long long)n->head_number);
    int rc = -1;
    struct block_header head;
    unsigned count = n->config.nmembers;
    for (unsigned k = 0; k + 1 < count && rc != 0; k++) {
        unsigned m = other_member(n, n->transfer.attempts + k);
        pthread_mutex_lock(&n->lock);
        n->transfer.source = m;
        pthread_mutex_unlock(&n->lock);
        struct cohort_error e = {0};
        rc = transfer_from(n, m, index, number, hash, &head, &e);
        if (rc != 0) {
            log_warn("state transfer from a member failed; trying the next", "chain=%s source=%u error=\"%s\"",
                     n->config.name, m, e.message);
            if (err) *err = e;
        }
    }
    if (count < 2) rc = cohort_error_set(err, COMMON_E_INVALID, DOMAIN, "a chain of one member has nobody to ask");
    pthread_mutex_lock(&n->lock);
    n->transfer.running = false;
    n->transfer.attempts++;
    snprintf(n->transfer.error, sizeof n->transfer.error, "%s", rc == 0 || err == NULL ? "" : err->message);
    if (rc == 0) {
        n->transfer.done++;
        n->head_number = number;
        memcpy(n->head_hash, hash, 32);
        n->head_header = head;
        n->applied_index = index;
        n->last_block_wall_ms = cn_wall_ms();
        n->transfer.blocks_from = number;
    }
    pthread_mutex_unlock(&n->lock);
    if (rc != 0) return cohort_error_wrap(err, "no member gave the state at block %llu", (unsigned long long)number);
    if (n->rpc) rpc_publish_block(n->rpc, number);
    cn_backfill_start(n);
    return 0;
}

/* ---- The backfill: the blocks before an installed state ---- */

/* The store's base (first block held whole), or 0 when it holds every block or has no head. */
static uint64_t store_base(struct chain_node *n)
{
    struct store_view *v;
    struct cohort_error err = {0};
    if (store_view_begin(n->store, &v, &err) != 0) return 0;
    uint64_t head, base = store_view_head(v, &head, NULL) ? store_view_base(v) : 0;
    store_view_end(v);
    return base;
}

static void *backfill_main(void *arg)
{
    struct chain_node *n = arg;
    uint64_t fetched = 0, first = store_base(n);
    unsigned turn = 0, count = n->config.nmembers;
    int64_t logged = mono_ms();
    char last_error[512] = "";
    while (!atomic_load(&n->backfill_stop)) {
        uint64_t base = store_base(n);
        pthread_mutex_lock(&n->lock);
        n->transfer.blocks_from = base;
        pthread_mutex_unlock(&n->lock);
        if (base == 0) break;
        uint64_t number = base - 1;
        char path[128];
        snprintf(path, sizeof path, "/chain/snapshot/blocks?number=%llu&headers=1", (unsigned long long)number);
        int rc = -1;
        for (unsigned k = 0; k + 1 < count && rc != 0; k++) {
            unsigned m = other_member(n, turn + k);
            uint8_t *bytes = NULL;
            size_t len = 0;
            struct store_blocks b;
            struct cohort_error e = {0};
            rc = fetch(n, m, path, STORE_BLOCKS_MAX_BYTES, &bytes, &len, &e);
            if (rc == 0) rc = store_blocks_decode(bytes, len, number, 1, &b, &e);
            if (rc == 0) rc = store_import_older_block(n->store, &b, &e);
            free(bytes);
            if (rc != 0) {
                snprintf(last_error, sizeof last_error, "member %u: %.480s", m, e.message);
                turn++; /* the next block starts at the next member */
            }
        }
        if (rc == 0) {
            fetched++;
            if (mono_ms() - logged >= 5000) {
                logged = mono_ms();
                log_info("fetching the blocks before the installed state", "chain=%s down_to=%llu fetched=%llu",
                         n->config.name, (unsigned long long)number, (unsigned long long)fetched);
            }
            continue;
        }
        /* No member gave it now (down, or itself without it): later, never in a tight loop. */
        log_warn("no member gave an older block; trying again in 5 s", "chain=%s block=%llu error=\"%s\"",
                 n->config.name, (unsigned long long)number, last_error);
        for (int i = 0; i < 50 && !atomic_load(&n->backfill_stop); i++) usleep(100 * 1000);
    }
    if (fetched)
        log_info("the blocks before the installed state are fetched", "chain=%s from=%llu to=%llu fetched=%llu",
                 n->config.name, (unsigned long long)store_base(n), (unsigned long long)first,
                 (unsigned long long)fetched);
    atomic_store(&n->backfill_finished, true);
    return NULL;
}

void cn_backfill_start(struct chain_node *n)
{
    if (n->config.nmembers < 2 || store_base(n) == 0) return;
    pthread_mutex_lock(&n->lock);
    if (n->backfill_closed || (n->backfill_started && !atomic_load(&n->backfill_finished))) {
        pthread_mutex_unlock(&n->lock);
        return;
    }
    if (n->backfill_started) pthread_join(n->backfill, NULL); /* it has returned: at once */
    atomic_store(&n->backfill_finished, false);
    atomic_store(&n->backfill_stop, false);
    n->backfill_started = pthread_create(&n->backfill, NULL, backfill_main, n) == 0;
    pthread_mutex_unlock(&n->lock);
    if (!n->backfill_started) log_warn("the backfill of older blocks did not start", "chain=%s", n->config.name);
}

void cn_backfill_stop(struct chain_node *n)
{
    pthread_mutex_lock(&n->lock);
    n->backfill_closed = true; /* no start after this one, from a transfer finishing meanwhile */
    bool started = n->backfill_started;
    n->backfill_started = false;
    atomic_store(&n->backfill_stop, true);
    pthread_mutex_unlock(&n->lock);
    if (started) pthread_join(n->backfill, NULL);
}
