/*
 * node_link.c - the node's TCP links (node.h "Transport"): a link's lifetime, the handshake
 * signed by the member key, reading and framing, and the per-peer send queues, whose
 * frames leave once the WAL holds what they depend on (node_drive.c's barrier).
 */
#include "bft/node_internal.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "common/bytes.h"
#include "common/keccak.h"
#include "common/log.h"
#include "common/secp.h"

static const uint8_t auth_magic[4] = {'C', 'B', 'A', '1'};

/* A coalesced write: the frames it carries are freed when libuv is done with them. */
struct write_req {
    uv_write_t req;
    struct link *link;
    struct frame *frames;
    uint32_t count;
    size_t bytes;
    uv_buf_t bufs[WRITE_BUFS_MAX];
};

/* A handshake write (HELLO, IDENT and/or AUTH), owning its bytes. */
struct handshake_write {
    uv_write_t req;
    uint8_t bytes[3 * PREFIX_BYTES + BFT_HELLO_BYTES + BFT_IDENT_MAX_BYTES + BFT_AUTH_BYTES];
};

/* The longest frame a link takes before it is open. */
#define HANDSHAKE_FRAME_MAX                                                                                        \
    (BFT_IDENT_MAX_BYTES > BFT_AUTH_BYTES ? (BFT_IDENT_MAX_BYTES > BFT_HELLO_BYTES ? BFT_IDENT_MAX_BYTES : BFT_HELLO_BYTES) \
                                          : BFT_AUTH_BYTES)

/* ---- Links: lifetime ---- */

static void link_handle_closed(uv_handle_t *handle)
{
    struct link *link = handle->data;
    assert(link->handles_open > 0);
    if (--link->handles_open > 0) return;
    assert(link->writes_in_flight == 0);
    free(link->frame);
    free(link);
}

static void on_handshake_timeout(uv_timer_t *timer);

static struct link *link_new(struct bft_node *node, bool outgoing, uint32_t peer)
{
    struct link *link = calloc(1, sizeof *link);
    if (link == NULL) return NULL;
    link->node = node;
    link->outgoing = outgoing;
    link->peer = peer;
    if (node_random_bytes(link->nonce, sizeof link->nonce) < 0) {
        free(link);
        return NULL;
    }
    if (uv_tcp_init(&node->loop, &link->tcp) < 0) {
        free(link);
        return NULL;
    }
    link->tcp.data = link;
    int rc = uv_timer_init(&node->loop, &link->handshake_timer);
    assert(rc == 0); /* uv_timer_init cannot fail */
    (void)rc;
    link->handshake_timer.data = link;
    link->handles_open = 2;
    uv_timer_start(&link->handshake_timer, on_handshake_timeout, HANDSHAKE_TIMEOUT_MS, 0);
    return link;
}

static void on_reconnect_timer(uv_timer_t *timer)
{
    struct bft_node *node = timer->loop->data;
    uint32_t peer = (uint32_t)(uintptr_t)timer->data;
    if (!node->closing && node->peers[peer].link == NULL) node_dial(node, peer);
}

/*
 * Closes a link. refused: it broke the rules (bad frame or handshake, silence), which the
 * status counts. An outgoing link is re-dialled after the peer's backoff, with jitter.
 */
void node_link_close(struct link *link, bool refused, const char *why)
{
    if (link->state == LINK_CLOSING) return;
    struct bft_node *node = link->node;
    bool was_open = link->state == LINK_OPEN;
    link->state = LINK_CLOSING;
    if (link->preauth) {
        link->preauth = false;
        node->preauth_count--;
    }
    if (refused) {
        COUNT(node, links_refused, 1);
        log_debug("bft link refused", "member=%u peer=%d outgoing=%d why=\"%s\"", node->self,
                  link->peer == UINT32_MAX ? -1 : (int)link->peer, link->outgoing, why);
    }
    if (link->outgoing) {
        struct peer *p = &node->peers[link->peer];
        assert(p->link == link);
        p->link = NULL;
        if (p->down_since_ms == 0) p->down_since_ms = uv_now(&node->loop); /* not again at each failed re-dial */
        if (!node->closing && !p->told_down) node_tell_core_peer(node, link->peer, false);
        if (was_open) {
            pthread_mutex_lock(&node->lock);
            node->status.peers_connected--;
            pthread_mutex_unlock(&node->lock);
        }
        if (!node->closing) {
            uint32_t b = p->backoff_ms;
            uint64_t delay = b / 2 + node_rnd(node) % (b / 2 + 1); /* "equal jitter": between b/2 and b */
            p->backoff_ms = b * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : b * 2;
            uv_timer_start(&p->reconnect_timer, on_reconnect_timer, delay, 0);
        }
    } else {
        if (link->prev) link->prev->next = link->next;
        else node->inbound = link->next;
        if (link->next) link->next->prev = link->prev;
        node->inbound_count--;
        if (link->peer != UINT32_MAX && node->peers[link->peer].inbound == link) node->peers[link->peer].inbound = NULL;
    }
    uv_close((uv_handle_t *)&link->handshake_timer, link_handle_closed);
    uv_close((uv_handle_t *)&link->tcp, link_handle_closed);
}

static void on_handshake_timeout(uv_timer_t *timer)
{
    struct link *link = timer->data;
    if (link->state == LINK_CONNECTING) node_link_close(link, false, "connect timed out");
    else if (link->state != LINK_OPEN) node_link_close(link, true, "no handshake within 5 s");
}

/* ---- Links: writing ---- */

static void handshake_written(uv_write_t *req, int status)
{
    struct link *link = req->handle->data;
    free(req);
    if (status < 0) node_link_close(link, false, "handshake write failed");
}

/*
 * Sends HELLO (followed by this member's IDENT when identities are in use) and/or AUTH,
 * each framed, in one write. AUTH needs the other side's nonce.
 */
static int send_handshake(struct link *link, bool with_hello, bool with_auth)
{
    struct bft_node *node = link->node;
    struct handshake_write *w = malloc(sizeof *w);
    if (w == NULL) return -1;
    uint8_t *p = w->bytes;
    if (with_hello) {
        be_put(p, BFT_HELLO_BYTES, 4);
        bft_hello_encode(node->config.core.instance, (uint16_t)node->self, (uint16_t)link->peer, link->nonce,
                         p + PREFIX_BYTES);
        p += PREFIX_BYTES + BFT_HELLO_BYTES;
        if (node->config.vouch != NULL) {
            size_t n = bft_ident_encode(node->config.core.members.address[node->self], node->config.proof,
                                        node->config.proof_len, p + PREFIX_BYTES);
            be_put(p, n, 4);
            p += PREFIX_BYTES + n;
        }
    }
    if (with_auth) {
        /* We hold their nonce: AUTH = "CBA1" || our signature over it, bound to (from, to). */
        uint8_t digest[BFT_HASH_BYTES];
        bft_auth_digest(node->config.core.instance, (uint16_t)node->self, (uint16_t)link->peer, link->their_nonce,
                        digest);
        be_put(p, BFT_AUTH_BYTES, 4);
        memcpy(p + PREFIX_BYTES, auth_magic, 4);
        if (secp_sign(node->config.core.private_key, digest, p + PREFIX_BYTES + 4, NULL) < 0) {
            free(w);
            return -1;
        }
        p += PREFIX_BYTES + BFT_AUTH_BYTES;
    }
    uv_buf_t buf = uv_buf_init((char *)w->bytes, (unsigned)(p - w->bytes));
    if (uv_write(&w->req, (uv_stream_t *)&link->tcp, &buf, 1, handshake_written) < 0) {
        free(w);
        return -1;
    }
    return 0;
}

void node_free_frames(struct frame *f)
{
    while (f != NULL) {
        struct frame *next = f->next;
        free(f);
        f = next;
    }
}

static void frames_written(uv_write_t *req, int status)
{
    struct write_req *w = (struct write_req *)req;
    struct link *link = w->link;
    struct bft_node *node = link->node;
    struct peer *p = &node->peers[link->peer];
    assert(link->writes_in_flight > 0);
    link->writes_in_flight--;
    assert(p->queued_bytes >= w->bytes);
    p->queued_bytes -= w->bytes;
    if (status == 0) COUNT(node, frames_sent, w->count);
    node_free_frames(w->frames);
    free(w);
    if (status < 0) node_link_close(link, false, "write failed");
    else if (p->link == link) node_flush(node, link->peer);
}

/* Moves queued frames of peer into coalesced uv_writes, keeping WRITES_IN_FLIGHT at most. */
void node_flush(struct bft_node *node, uint32_t peer)
{
    struct peer *p = &node->peers[peer];
    struct link *link = p->link;
    if (link == NULL || link->state != LINK_OPEN) return;
    while (p->head != NULL && p->head->needs <= node->synced && link->writes_in_flight < WRITES_IN_FLIGHT) {
        struct write_req *w = calloc(1, sizeof *w);
        if (w == NULL) return; /* the frames stay queued: the next write completion retries */
        w->link = link;
        struct frame **tail = &w->frames;
        while (p->head != NULL && p->head->needs <= node->synced && w->count < WRITE_BUFS_MAX &&
               (w->count == 0 || w->bytes + p->head->size <= WRITE_BYTES_MAX)) {
            struct frame *f = p->head;
            p->head = f->next;
            f->next = NULL;
            /* Tagged as it goes out, with this link's key and number: a frame queued while
               the peer was away goes out on whichever link comes up. */
            bft_frame_tag(link->key, link->frame_number++, f->bytes + PREFIX_BYTES,
                          f->size - PREFIX_BYTES - BFT_FRAME_TAG_BYTES, f->bytes + f->size - BFT_FRAME_TAG_BYTES);
            *tail = f;
            tail = &f->next;
            w->bufs[w->count++] = uv_buf_init((char *)f->bytes, f->size);
            w->bytes += f->size;
        }
        if (p->head == NULL) p->tail = NULL;
        if (uv_write(&w->req, (uv_stream_t *)&link->tcp, w->bufs, w->count, frames_written) < 0) {
            p->queued_bytes -= w->bytes;
            node_free_frames(w->frames);
            free(w);
            node_link_close(link, false, "write failed");
            return;
        }
        link->writes_in_flight++;
    }
}

/*
 * Queues one message for peer; drops it (and counts) when the peer's queue is full. It is
 * written once the WAL is synced up to append number needs (0: at once).
 */
bool node_enqueue(struct bft_node *node, uint32_t peer, const uint8_t *bytes, size_t len, uint64_t needs)
{
    assert(peer < node->n && peer != node->self);
    assert(len > 0 && len <= BFT_MESSAGE_MAX);
    struct peer *p = &node->peers[peer];
    if (p->down_since_ms != 0 && uv_now(&node->loop) - p->down_since_ms > QUEUE_WHILE_DOWN_MS) {
        /* Down for a while: what it missed is stale when it returns, and it syncs instead
           (docs/bft.md "Queues"). Keep nothing for it, so memory stays flat. */
        if (p->head != NULL) {
            size_t dropped = 0;
            for (struct frame *f = p->head; f != NULL; f = f->next) {
                dropped++;
                p->queued_bytes -= f->size; /* writes still in flight on the closed link count theirs */
            }
            COUNT(node, frames_dropped, dropped);
            node_free_frames(p->head);
            p->head = p->tail = NULL;
        }
        COUNT(node, frames_dropped, 1);
        return false;
    }
    size_t size = PREFIX_BYTES + len + BFT_FRAME_TAG_BYTES;
    struct frame *f = p->queued_bytes + size <= node->queue_max_bytes ? malloc(sizeof *f + size) : NULL;
    if (f == NULL) {
        COUNT(node, frames_dropped, 1);
        return false;
    }
    f->next = NULL;
    f->needs = needs;
    f->size = (uint32_t)size;
    be_put(f->bytes, (uint32_t)(len + BFT_FRAME_TAG_BYTES), 4);
    memcpy(f->bytes + PREFIX_BYTES, bytes, len);
    if (needs <= node->synced && p->head != NULL && p->tail->needs > node->synced) {
        /* It may go now, but frames that wait for the disk are queued: go ahead of them (the
           protocol does not care about order; a proposal need not wait for the votes). */
        struct frame **at = &p->head;
        while (*at != NULL && (*at)->needs <= node->synced) at = &(*at)->next;
        f->next = *at;
        *at = f;
    } else {
        if (p->tail) p->tail->next = f;
        else p->head = f;
        p->tail = f;
    }
    p->queued_bytes += size;
    node->unflushed = true; /* written at the end of this loop turn, with the turn's other frames */
    return true;
}

/*
 * Writes what this loop turn queued, one coalesced write per peer: the frames a turn makes
 * for one peer (votes, certificates, a proposal, entries) leave in one writev and arrive
 * in one read, instead of a system call and a wake-up each. Runs before the loop waits
 * for I/O and after each iteration's I/O callbacks, like the barrier.
 */
void node_flush_turn(struct bft_node *node)
{
    if (!node->unflushed) return;
    node->unflushed = false;
    for (uint32_t peer = 0; peer < node->n; peer++)
        if (peer != node->self) node_flush(node, peer);
}

/* ---- Links: reading and the handshake ---- */

static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    struct bft_node *node = handle->loop->data;
    /* One buffer for all links: each read is consumed before the loop reads again. */
    *buf = uv_buf_init((char *)node->read_buffer, READ_BUFFER_BYTES);
}

static void open_link(struct link *link)
{
    struct bft_node *node = link->node;
    link->state = LINK_OPEN;
    uv_timer_stop(&link->handshake_timer);
    if (link->preauth) {
        link->preauth = false;
        node->preauth_count--;
    }
    struct peer *p = &node->peers[link->peer];
    if (link->outgoing) {
        p->backoff_ms = BACKOFF_MIN_MS;
        p->down_since_ms = 0;
        if (p->told_down) node_tell_core_peer(node, link->peer, true);
        COUNT(node, peers_connected, 1);
        /* Where this member is, so that a peer just started knows at once whether it is
           behind, even when nobody is voting (docs/bft.md "Links"). */
        struct bft_core_status cs;
        bft_core_get_status(node->core, &cs);
        uint8_t tip[TIP_BYTES] = {FRAME_TIP};
        be_put(tip + 1, cs.height, 8);
        (void)node_enqueue(node, link->peer, tip, sizeof tip, 0); /* dropped only with a full queue */
        node_flush(node, link->peer);
    } else {
        /* One accepted link per member: a newer one (the member restarted) replaces the old. */
        if (p->inbound != NULL && p->inbound != link) node_link_close(p->inbound, false, "replaced");
        p->inbound = link;
        /* The member is back (it dialled us): our link to it waits for its backoff, up to
           2 s after a long absence, and until then it hears nothing from us, not even that
           it is behind. Dial it now. */
        if (p->link == NULL && !node->closing) {
            uv_timer_stop(&p->reconnect_timer);
            p->backoff_ms = BACKOFF_MIN_MS;
            node_dial(node, link->peer);
        }
    }
}

/* After the other side's HELLO (and IDENT): the acceptor answers with its HELLO and AUTH, the dialler with its AUTH. */
static void answer_hello(struct link *link)
{
    /* The dialler sent its HELLO on connect; the acceptor answers with both. */
    if (send_handshake(link, !link->outgoing, true) < 0) {
        node_link_close(link, false, "cannot send the handshake");
        return;
    }
    link->state = LINK_AUTH;
}

/* ---- Epochs: the pointer to a later one (docs/bft.md "Membership changes") ---- */

struct pointer_write {
    uv_write_t req;
    uint8_t bytes[];
};

/* Change proofs written at once: a proof may be a large block, and strangers may ask. */
#define POINTING_MAX 8

static void pointer_written(uv_write_t *req, int status)
{
    struct link *link = req->handle->data;
    free(req);
    (void)status;
    link->node->pointing--;
    node_link_close(link, false, "the change proof is sent");
}

/* An incoming HELLO this epoch refused: true when it names an older epoch, whose change proof goes back. */
static bool point(struct link *link, const uint8_t *bytes, uint32_t len)
{
    struct bft_node *node = link->node;
    if (node->config.pointer == NULL || len != BFT_HELLO_BYTES || memcmp(bytes, "CBH1", 4) != 0) return false;
    uint64_t instance = 0;
    for (int i = 0; i < 8; i++) instance = instance << 8 | bytes[4 + i];
    if (instance == node->config.core.instance) return false;
    size_t cap = node->config.pointer(node->config.arg, instance, NULL, 0); /* its length */
    if (cap == 0 || cap > BFT_MESSAGE_MAX - 4) return false;
    if (node->pointing >= POINTING_MAX) {
        node_link_close(link, false, "too many change proofs in flight: dial again");
        return true;
    }
    struct pointer_write *w = malloc(sizeof *w + PREFIX_BYTES + 4 + cap);
    if (w == NULL) return false;
    size_t n = node->config.pointer(node->config.arg, instance, w->bytes + PREFIX_BYTES + 4, cap);
    if (n == 0 || n > cap) {
        free(w);
        return false;
    }
    be_put(w->bytes, n + 4, 4);
    memcpy(w->bytes + PREFIX_BYTES, BFT_POINTER_MAGIC, 4);
    uv_buf_t buf = uv_buf_init((char *)w->bytes, (unsigned)(PREFIX_BYTES + 4 + n));
    if (uv_write(&w->req, (uv_stream_t *)&link->tcp, &buf, 1, pointer_written) < 0) {
        free(w);
        return false;
    }
    link->state = LINK_POINTING;
    node->pointing++;
    COUNT(node, pointers_sent, 1);
    /* A removed member that lingers dials again every few seconds for good: logged at the
       1st, 2nd, 4th, 8th... proof (the count is in the status). */
    pthread_mutex_lock(&node->lock);
    uint64_t sent = node->status.pointers_sent;
    pthread_mutex_unlock(&node->lock);
    if ((sent & (sent - 1)) == 0)
        log_info("bft: a peer of an older epoch dialled; it got the change proof", "member=%u instance=%llu proofs_sent=%llu",
                 node->self, (unsigned long long)instance, (unsigned long long)sent);
    return true;
}

/* The answer to our HELLO from a member of a later epoch: its change proof, checked against this epoch's members. */
static void pointed(struct link *link, const uint8_t *bytes, uint32_t len)
{
    struct bft_node *node = link->node;
    struct cohort_error err = {0};
    struct bft_commit *c = malloc(sizeof *c);
    if (c == NULL) {
        node_link_close(link, false, "out of memory for a change proof");
        return;
    }
    uint64_t instance = node->config.core.instance;
    if (bft_commit_decode(bytes, len, instance, node->config.core.payload_max_bytes, c, &err) < 0 ||
        bft_commit_verify(c, instance, &node->config.core.members, node->config.core.scheme, &err) < 0) {
        free(c);
        log_warn("bft: a peer answered with a change proof that does not verify", "member=%u peer=%u error=\"%s\"",
                 node->self, link->peer, err.message);
        node_link_close(link, true, "a change proof that does not verify");
        return;
    }
    COUNT(node, pointers_received, 1);
    node->config.pointed(node->config.arg, c);
    free(c);
    node_link_close(link, false, "the peer is in a later epoch");
}

/* One whole frame from link: a handshake step or, once open, a message for the core. */
static void deliver(struct link *link, const uint8_t *bytes, uint32_t len)
{
    struct bft_node *node = link->node;
    struct cohort_error err;
    uint64_t instance = node->config.core.instance;
    switch (link->state) {
    case LINK_HELLO: {
        uint16_t from = 0;
        if (link->outgoing && node->config.pointed != NULL && len >= 4 && memcmp(bytes, BFT_POINTER_MAGIC, 4) == 0) {
            pointed(link, bytes + 4, len - 4);
            return;
        }
        if (bft_hello_decode(bytes, len, instance, (uint16_t)node->self, node->n, &from, link->their_nonce, &err) < 0) {
            if (!link->outgoing && point(link, bytes, len)) return;
            node_link_close(link, true, err.message);
            return;
        }
        if (link->outgoing && from != link->peer) {
            node_link_close(link, true, "HELLO from another member than the one dialled");
            return;
        }
        link->peer = from;
        if (node->config.vouch != NULL) {
            link->state = LINK_IDENT; /* the IDENT follows the HELLO in the same write */
            return;
        }
        answer_hello(link);
        return;
    }
    case LINK_IDENT: {
        uint8_t address[BFT_ADDRESS_BYTES];
        const uint8_t *proof;
        size_t proof_len;
        if (bft_ident_decode(bytes, len, address, &proof, &proof_len, &err) < 0) {
            node_link_close(link, true, err.message);
            return;
        }
        if (node->config.vouch(node->config.arg, link->peer, address, proof, proof_len) < 0) {
            node_link_close(link, true, "IDENT: the member's node does not vouch for that key");
            return;
        }
        static const uint8_t zero[BFT_ADDRESS_BYTES];
        uint8_t *known = node->config.core.members.address[link->peer];
        if (memcmp(known, zero, BFT_ADDRESS_BYTES) == 0) {
            if (bft_core_learn_member(node->core, link->peer, address, &err) < 0) {
                node_link_close(link, true, err.message);
                return;
            }
            memcpy(known, address, BFT_ADDRESS_BYTES);
            if (node->config.learned) node->config.learned(node->config.arg, link->peer, address, proof, proof_len);
        } else if (memcmp(known, address, BFT_ADDRESS_BYTES) != 0) {
            node_link_close(link, true, "IDENT: another key than the one this member is known by");
            return;
        }
        answer_hello(link);
        return;
    }
    case LINK_AUTH: {
        uint8_t digest[BFT_HASH_BYTES], address[BFT_ADDRESS_BYTES];
        if (len != BFT_AUTH_BYTES || memcmp(bytes, auth_magic, 4) != 0) {
            node_link_close(link, true, "not an AUTH");
            return;
        }
        bft_auth_digest(instance, (uint16_t)link->peer, (uint16_t)node->self, link->nonce, digest);
        uint8_t public_key[SECP_PUBLIC_KEY_BYTES], secret[32];
        if (secp_recover(digest, bytes + 4, SECP_S_LOW, public_key, NULL) < 0 ||
            (address_from_pubkey(public_key, address),
             memcmp(address, node->config.core.members.address[link->peer], BFT_ADDRESS_BYTES) != 0)) {
            node_link_close(link, true, "AUTH not signed by the member's key");
            return;
        }
        /* The frames' key: only these two members can make it (ECDH of their keys), and it
           is new on every link (both nonces). */
        if (secp_ecdh(node->config.core.private_key, public_key, secret, NULL) < 0) {
            node_link_close(link, true, "AUTH: no ECDH with the member's key");
            return;
        }
        uint16_t self = (uint16_t)node->self, peer = (uint16_t)link->peer;
        bft_frame_key(secret, instance, link->outgoing ? self : peer, link->outgoing ? peer : self,
                      link->outgoing ? link->nonce : link->their_nonce, link->outgoing ? link->their_nonce : link->nonce,
                      link->key);
        explicit_bzero(secret, sizeof secret);
        link->frame_number = 0;
        open_link(link);
        return;
    }
    case LINK_OPEN: {
        if (link->outgoing) {
            /* Messages travel on the sender's dialled link: ours carries nothing back. */
            node_link_close(link, true, "a frame on a dialled link");
            return;
        }
        {
            /* Heard from this peer now (wall clock: a member's absence is told in it). */
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            pthread_mutex_lock(&node->lock);
            node->status.frames_received++;
            node->status.peer_heard_ms[link->peer] = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
            pthread_mutex_unlock(&node->lock);
        }
        if (bytes[0] == FRAME_OFFER) {
            node_on_offer(node, link->peer, bytes, len);
            return;
        }
        if (bytes[0] == FRAME_GET) {
            node_on_get(node, link->peer, bytes, len);
            return;
        }
        if (bytes[0] == FRAME_CHUNK) {
            node_on_chunk(node, link->peer, bytes, len);
            return;
        }
        if (bytes[0] == FRAME_TIP) {
            if (len != TIP_BYTES) {
                node_link_close(link, true, "a TIP frame that is not 9 bytes");
                return;
            }
            struct bft_event ev = {.type = BFT_EVENT_TIP, .index = link->peer, .height = be_get(bytes + 1, 8)};
            if (node_drive(node, &ev, &err) < 0)
                log_warn("bft node: core refused a tip event", "member=%u error=\"%s\"", node->self, err.message);
            return;
        }
        if (bytes[0] == BFT_ENTRY_FRAME) {
            /* An entry a member forwarded: pending here too, not forwarded again. A full
               next block drops it (the member that took it from a client retries); one
               committed already (the frame came after its block) is not proposed again. */
            if (node_entry_seen(node, bytes + 1, len - 1)) {
                COUNT(node, entries_already_committed, 1);
                return;
            }
            struct bft_event ev = {.type = BFT_EVENT_SUBMIT, .bytes = bytes + 1, .len = len - 1};
            (void)node_drive(node, &ev, &err);
            return;
        }
        node_harvest_syncs(node); /* votes that waited for the disk go before this frame is worked on */
        struct bft_event ev = {.type = BFT_EVENT_MESSAGE, .bytes = bytes, .len = len};
        if (node_drive(node, &ev, &err) < 0)
            log_warn("bft node: core refused a message event", "member=%u error=\"%s\"", node->self, err.message);
        return;
    }
    case LINK_CONNECTING:
    case LINK_POINTING:
    case LINK_CLOSING: return;
    }
}

/* A whole frame: once the link is open, its tag is checked and cut off first. */
static void receive(struct link *link, const uint8_t *bytes, uint32_t len)
{
    if (link->state != LINK_OPEN) {
        deliver(link, bytes, len);
        return;
    }
    uint8_t tag[BFT_FRAME_TAG_BYTES];
    if (len <= BFT_FRAME_TAG_BYTES) {
        node_link_close(link, true, "a frame without a message");
        return;
    }
    uint32_t message = len - BFT_FRAME_TAG_BYTES;
    bft_frame_tag(link->key, link->frame_number++, bytes, message, tag);
    uint8_t diff = 0;
    for (int i = 0; i < BFT_FRAME_TAG_BYTES; i++) diff |= (uint8_t)(tag[i] ^ bytes[message + i]);
    if (diff != 0) {
        node_link_close(link, true, "a frame whose tag does not match (altered, replayed or injected)");
        return;
    }
    deliver(link, bytes, message);
}

/* Splits what was read into frames: the u32 BE prefix, then that many bytes. */
static void consume(struct link *link, const uint8_t *data, size_t n)
{
    struct cohort_error err;
    while (n > 0 && link->state != LINK_CLOSING) {
        if (!link->in_frame) {
            uint32_t take = PREFIX_BYTES - link->prefix_have;
            if (take > n) take = (uint32_t)n;
            memcpy(link->prefix + link->prefix_have, data, take);
            link->prefix_have += take;
            data += take;
            n -= take;
            if (link->prefix_have < PREFIX_BYTES) return;
            link->prefix_have = 0;
            uint32_t len = 0;
            if (bft_frame_length(link->prefix, &len, &err) < 0) {
                node_link_close(link, true, err.message);
                return;
            }
            bool may_point = link->outgoing && link->state == LINK_HELLO && link->node->config.pointed != NULL;
            if (link->state != LINK_OPEN && len > HANDSHAKE_FRAME_MAX && !may_point) {
                node_link_close(link, true, "a handshake frame longer than any handshake step");
                return;
            }
            if (n >= len) { /* the whole frame is in this read: no copy */
                receive(link, data, len);
                data += len;
                n -= len;
                continue;
            }
            if (len > link->frame_cap) {
                uint8_t *buf = realloc(link->frame, len);
                if (buf == NULL) {
                    node_link_close(link, false, "out of memory for a frame");
                    return;
                }
                link->frame = buf;
                link->frame_cap = len;
            }
            link->in_frame = true;
            link->frame_len = len;
            link->frame_have = 0;
        }
        uint32_t take = link->frame_len - link->frame_have;
        if (take > n) take = (uint32_t)n;
        memcpy(link->frame + link->frame_have, data, take);
        link->frame_have += take;
        data += take;
        n -= take;
        if (link->frame_have < link->frame_len) return;
        link->in_frame = false;
        receive(link, link->frame, link->frame_len);
        if (link->frame_cap > FRAME_BUFFER_KEEP && link->state != LINK_CLOSING) {
            free(link->frame); /* a large sync block passed: give its buffer back */
            link->frame = NULL;
            link->frame_cap = 0;
        }
    }
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    struct link *link = stream->data;
    if (nread < 0) {
        node_link_close(link, false, nread == UV_EOF ? "closed by the other side" : uv_strerror((int)nread));
        return;
    }
    if (nread > 0) consume(link, (const uint8_t *)buf->base, (size_t)nread);
}

static void on_connect(uv_connect_t *req, int status)
{
    struct link *link = req->data;
    if (link->state == LINK_CLOSING) return; /* cancelled by a close */
    if (status < 0) {
        node_link_close(link, false, uv_strerror(status));
        return;
    }
    uv_tcp_nodelay(&link->tcp, 1);
    uv_tcp_keepalive(&link->tcp, 1, 10);
    link->state = LINK_HELLO;
    if (uv_read_start((uv_stream_t *)&link->tcp, on_alloc, on_read) < 0 || send_handshake(link, true, false) < 0)
        node_link_close(link, false, "cannot start the handshake");
}

void node_dial(struct bft_node *node, uint32_t peer)
{
    struct peer *p = &node->peers[peer];
    assert(p->link == NULL);
    struct link *link = link_new(node, true, peer);
    if (link == NULL) {
        uv_timer_start(&p->reconnect_timer, on_reconnect_timer, p->backoff_ms, 0);
        return;
    }
    p->link = link;
    link->state = LINK_CONNECTING;
    link->connect.data = link;
    if (uv_tcp_connect(&link->connect, &link->tcp, (const struct sockaddr *)&p->address, on_connect) < 0)
        node_link_close(link, false, "connect failed");
}

struct link *node_preauth_victim(struct link *links, uint32_t preauth_count, const uint8_t from[8])
{
    struct link *oldest = NULL, *oldest_same = NULL;
    uint32_t same = 0;
    for (struct link *l = links; l != NULL; l = l->next) {
        if (!l->preauth) continue;
        oldest = l; /* newest first: the last one seen is the oldest */
        if (memcmp(l->from, from, sizeof l->from) == 0) {
            oldest_same = l;
            same++;
        }
    }
    if (same >= PREAUTH_PER_ADDRESS) return oldest_same;
    return preauth_count >= PREAUTH_MAX ? oldest : NULL;
}

void node_on_connection(uv_stream_t *server, int status)
{
    struct bft_node *node = server->loop->data;
    if (status < 0 || node->closing) return;
    struct link *link = link_new(node, false, UINT32_MAX);
    if (link == NULL) return;
    link->state = LINK_HELLO;
    link->next = node->inbound;
    if (node->inbound) node->inbound->prev = link;
    node->inbound = link;
    node->inbound_count++;
    if (uv_accept(server, (uv_stream_t *)&link->tcp) < 0) {
        node_link_close(link, false, "accept failed");
        return;
    }
    if (node->inbound_count > INBOUND_MAX) {
        node_link_close(link, true, "too many accepted links");
        return;
    }
    struct sockaddr_storage sa;
    int sa_len = sizeof sa;
    if (uv_tcp_getpeername(&link->tcp, (struct sockaddr *)&sa, &sa_len) == 0) {
        if (sa.ss_family == AF_INET) memcpy(link->from, &((struct sockaddr_in *)&sa)->sin_addr, 4);
        else if (sa.ss_family == AF_INET6) memcpy(link->from, &((struct sockaddr_in6 *)&sa)->sin6_addr, 8);
    }
    struct link *victim = node_preauth_victim(node->inbound->next, node->preauth_count, link->from);
    if (victim != NULL) node_link_close(victim, true, "too many links in their handshake");
    link->preauth = true;
    node->preauth_count++;
    uv_tcp_nodelay(&link->tcp, 1);
    uv_tcp_keepalive(&link->tcp, 1, 10);
    if (uv_read_start((uv_stream_t *)&link->tcp, on_alloc, on_read) < 0) node_link_close(link, false, "read failed");
}
