/*
 * node_transfer.c - state transfer (docs/bft.md "Snapshots"): a member behind every peer's
 * retained log fetches a snapshot that f+1 members offered identically, chunk by chunk,
 * checks its digest, and installs it.
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
#include <unistd.h>
#include <uv.h>

#include "common/bytes.h"
#include "common/keccak.h"
#include "common/log.h"
#include "common/secp.h"

/* ---- State transfer: a member behind every peer's retained log fetches a snapshot ---- */

/* Tells peer, which asked for blocks before base, about this member's snapshot (signed). */
void node_send_offer(struct bft_node *node, uint32_t peer)
{
    if (node->snap.index == 0) return;
    uint8_t f[BFT_OFFER_BYTES], digest[BFT_HASH_BYTES], signature[BFT_SIGNATURE_BYTES];
    bft_offer_digest(node->config.core.instance, &node->snap, digest);
    if (secp_sign(node->config.core.private_key, digest, signature, NULL) < 0) return;
    bft_offer_encode(node->config.core.instance, &node->snap, signature, f);
    node_enqueue(node, peer, f, sizeof f, 0);
}

static void send_get(struct bft_node *node)
{
    uint8_t f[GET_BYTES];
    f[0] = FRAME_GET;
    be_put(f + 1, node->fetch.index, 8);
    be_put(f + 9, node->fetch_next, 4);
    node_enqueue(node, node->fetch_source, f, sizeof f, 0);
}

static void fetch_stop(struct bft_node *node)
{
    node->fetching = false;
    free(node->fetch_bytes);
    node->fetch_bytes = NULL;
    uv_timer_stop(&node->fetch_timer);
}

/*
 * Starts (or moves) a fetch of a snapshot that f+1 members offered identically (so at
 * least one honest member holds it), from one of them that has not sent bad bytes.
 */
static void fetch_maybe_start(struct bft_node *node);

static void on_fetch_stalled(uv_timer_t *timer)
{
    struct bft_node *node = timer->loop->data;
    if (!node->fetching) return;
    log_warn("bft node: a snapshot source stalled; trying another member", "member=%u source=%u index=%llu",
             node->self, node->fetch_source, (unsigned long long)node->fetch.index);
    node->offered[node->fetch_source] = false; /* it must offer again to be used */
    fetch_stop(node);
    fetch_maybe_start(node);
}

static void fetch_maybe_start(struct bft_node *node)
{
    if (node->fetching || node->halted || node->config.restore == NULL) return;
    uint32_t f = (node->n - 1) / 3;
    for (uint32_t a = 0; a < node->n; a++) {
        if (!node->offered[a] || node->offer[a].index <= node->committed) continue;
        uint32_t same = 0;
        for (uint32_t b = 0; b < node->n; b++)
            if (node->offered[b] && memcmp(&node->offer[a], &node->offer[b], sizeof node->offer[a]) == 0) same++;
        if (same < f + 1) continue;
        /* Vouched for: fetch it from one of those members that has not failed us. */
        for (uint32_t src = 0; src < node->n; src++) {
            if (!node->offered[src] || (node->fetch_refused & (1u << src)) ||
                memcmp(&node->offer[a], &node->offer[src], sizeof node->offer[a]) != 0)
                continue;
            node->fetch = node->offer[a];
            node->fetch_bytes = malloc(node->fetch.len ? node->fetch.len : 1);
            if (node->fetch_bytes == NULL) return;
            node->fetching = true;
            node->fetch_source = src;
            node->fetch_next = 0;
            node->fetch_chunks = node_chunk_count(node->fetch.len);
            log_info("bft node is behind every peer's log: fetching a snapshot", "member=%u index=%llu bytes=%llu "
                     "source=%u vouched_by=%u",
                     node->self, (unsigned long long)node->fetch.index, (unsigned long long)node->fetch.len, src,
                     same);
            send_get(node);
            uv_timer_start(&node->fetch_timer, on_fetch_stalled, FETCH_STALL_MS, 0);
            return;
        }
    }
}

/* An OFFER from peer: checked (bft_offer_decode, then its signature) and remembered. */
void node_on_offer(struct bft_node *node, uint32_t peer, const uint8_t *f, uint32_t len)
{
    struct bft_snapshot_offer info;
    uint8_t signature[BFT_SIGNATURE_BYTES], digest[BFT_HASH_BYTES], address[BFT_ADDRESS_BYTES];
    struct cohort_error err;
    if (bft_offer_decode(f, len, node->config.core.instance, &info, signature, &err) < 0) return;
    bft_offer_digest(node->config.core.instance, &info, digest);
    if (secp_recover_address(digest, signature, SECP_S_LOW, address, NULL) < 0 ||
        memcmp(address, node->config.core.members.address[peer], BFT_ADDRESS_BYTES) != 0)
        return;
    node->offered[peer] = true;
    node->offer[peer] = info;
    fetch_maybe_start(node);
}

/* A GET from peer: one chunk of this member's snapshot, read from the WAL. */
void node_on_get(struct bft_node *node, uint32_t peer, const uint8_t *f, uint32_t len)
{
    if (len != GET_BYTES || node->snap.index == 0 || be_get(f + 1, 8) != node->snap.index) return;
    uint32_t chunk = (uint32_t)be_get(f + 9, 4);
    if (chunk >= node->snap_chunks) return;
    uint64_t n = node_chunk_len(&node->snap, chunk), done = 0;
    uint8_t *out = node->send_buffer;
    out[0] = FRAME_CHUNK;
    be_put(out + 1, node->snap.index, 8);
    be_put(out + 9, chunk, 4);
    while (done < n) {
        ssize_t got = pread(node->read_fd, out + CHUNK_HEADER_BYTES + done, n - done,
                            (off_t)(node->snap_chunk[chunk] + SNAPSHOT_HEADER_BYTES + done));
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) return;
        done += (uint64_t)got;
    }
    node_enqueue(node, peer, out, CHUNK_HEADER_BYTES + n, 0);
}

/* Installs the fetched snapshot: the application, the WAL, then the core jumps to it. */
void node_fetch_install(struct bft_node *node)
{
    struct cohort_error err = {0};
    struct bft_snapshot_offer info = node->fetch;
    uint8_t *bytes = node->fetch_bytes;
    node->fetch_bytes = NULL;
    fetch_stop(node);
    if (info.index <= node->committed) {
        free(bytes);
        return;
    }
    /* The application first: a snapshot it cannot read is not installed. */
    if (node->config.restore(node->config.arg, info.index, bytes, (size_t)info.len, &err) < 0) {
        log_error("bft node: the application refused a snapshot that f+1 members vouched for", "member=%u index=%llu "
                  "error=\"%s\"",
                  node->self, (unsigned long long)info.index, err.message);
        free(bytes);
        return;
    }
    /* The WAL restarts at the snapshot; the blocks before it are gone for good. */
    node->committed = node->applied = node->durable_committed = info.index; /* the WAL starts after it */
    if (node_rewrite_wal(node, info.index, info.height, info.hash, &info, bytes, &err) < 0) {
        node_halt(node, &err); /* the application moved on and the WAL could not follow: restart */
        return;
    }
    memset(node->offered, 0, sizeof node->offered);
    COUNT(node, snapshots_installed, 1);
    log_info("bft node installed a snapshot", "member=%u index=%llu", node->self, (unsigned long long)info.index);
    struct bft_event ev = {.type = BFT_EVENT_JUMP, .bytes = info.hash, .len = BFT_HASH_BYTES, .height = info.height,
                           .index = info.index};
    if (node_drive(node, &ev, &err) < 0)
        log_error("bft node: the core refused the snapshot's tip", "member=%u error=\"%s\"", node->self, err.message);
}

/* A CHUNK from peer: the next piece of the snapshot being fetched from it. */
void node_on_chunk(struct bft_node *node, uint32_t peer, const uint8_t *f, uint32_t len)
{
    if (!node->fetching || peer != node->fetch_source || len < CHUNK_HEADER_BYTES) return;
    if (be_get(f + 1, 8) != node->fetch.index || be_get(f + 9, 4) != node->fetch_next) return;
    uint64_t n = node_chunk_len(&node->fetch, node->fetch_next);
    if (len - CHUNK_HEADER_BYTES != n) return;
    memcpy(node->fetch_bytes + (uint64_t)node->fetch_next * SNAPSHOT_CHUNK_BYTES, f + CHUNK_HEADER_BYTES, n);
    node->fetch_next++;
    uv_timer_start(&node->fetch_timer, on_fetch_stalled, FETCH_STALL_MS, 0);
    if (node->fetch_next < node->fetch_chunks) {
        send_get(node);
        uv_timer_start(&node->fetch_timer, on_fetch_stalled, FETCH_STALL_MS, 0);
        return;
    }
    uint8_t digest[BFT_HASH_BYTES];
    keccak256(node->fetch_bytes, node->fetch.len, digest);
    if (memcmp(digest, node->fetch.digest, BFT_HASH_BYTES) != 0) {
        log_warn("bft node: a snapshot's bytes do not match the digest its members vouched for; trying another",
                 "member=%u source=%u index=%llu", node->self, peer, (unsigned long long)node->fetch.index);
        node->fetch_refused |= 1u << peer;
        fetch_stop(node);
        fetch_maybe_start(node);
        return;
    }
    uv_timer_stop(&node->fetch_timer);
    /* It rewrites the WAL: after the syncs in flight and a compaction under way. */
    if (node->sync_in_flight || node->compacting != NULL) node->install_waiting = true;
    else node_fetch_install(node);
}
