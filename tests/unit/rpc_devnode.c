/*
 * rpc_devnode.c - cohort-rpc-devnode: the JSON-RPC server on a one-process chain that mines
 * what it is sent (like anvil's interval mining), for trying real clients (ethers, cast,
 * viem, a wallet) against the RPC layer before, and apart from, the chain node:
 *
 *   cohort-rpc-devnode [--port PORT] [--block-ms 200] [--idle-block-ms 0]
 *
 * The chain is rpc_testchain.h's (chain id 1337; keys 0x1100..01 to 0x1100..04 hold 1000
 * ether each). The pool here is a small stand-in for the node's (admission checks,
 * replacement by a 10% higher fee, ready transactions in nonce order), not the node's
 * pool: tests of the real chain run against cohort-subnode. Stops on SIGTERM or SIGINT.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/secp.h"
#include "rpc_testchain.h"
#include "subnode/rpc/rpc.h"

#define POOL_MAX 4096
#define DEVNODE_BLOCK_TXS 1000

static struct testchain chain;
static struct rpc *rpc;
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static struct tx_signed *pool[POOL_MAX];
static size_t pool_count;
static volatile sig_atomic_t stopping;
static unsigned idle_block_ms; /* > 0: an empty block when none was made for this long */

/* The state's nonce of sender at the head. */
static uint64_t state_nonce_of(const uint8_t sender[20])
{
    struct store_view *v;
    uint64_t nonce = 0;
    if (store_view_begin(chain.store, &v, NULL) != 0) return 0;
    uint64_t head;
    struct store_account a;
    if (store_view_head(v, &head, NULL) && store_account(v, head, sender, &a, NULL) == 1) nonce = a.nonce;
    store_view_end(v);
    return nonce;
}

static int send_raw(void *ctx, const uint8_t *raw, size_t len, uint8_t hash[32], struct cohort_error *err)
{
    (void)ctx;
    struct tx_signed *t;
    if (tx_decode(raw, len, 0, &t, err) != 0) return -1;
    if (t->tx.type == 3) {
        tx_free(t);
        return cohort_error_set(err, -1, "pool", "transaction type not supported");
    }
    if (!t->has_chain_id || t->chain_id != TESTCHAIN_CHAIN_ID) {
        tx_free(t);
        return cohort_error_set(err, -1, "pool", "invalid chain id for signer");
    }
    if (tx_recover_sender(t, err) != 0) {
        tx_free(t);
        return cohort_error_set(err, -1, "pool", "invalid sender");
    }
    if (t->tx.nonce < state_nonce_of(t->tx.sender)) {
        tx_free(t);
        return cohort_error_set(err, -1, "pool", "nonce too low");
    }
    pthread_mutex_lock(&pool_lock);
    for (size_t i = 0; i < pool_count; i++) {
        if (memcmp(pool[i]->hash, t->hash, 32) == 0) {
            pthread_mutex_unlock(&pool_lock);
            tx_free(t);
            return cohort_error_set(err, -1, "pool", "already known");
        }
        if (memcmp(pool[i]->tx.sender, t->tx.sender, 20) == 0 && pool[i]->tx.nonce == t->tx.nonce) {
            u256 old = tx_fee_cap(&pool[i]->tx), bump = u256_add(old, u256_div(old, u256_from_u64(10)));
            if (u256_lt(tx_fee_cap(&t->tx), bump)) {
                pthread_mutex_unlock(&pool_lock);
                tx_free(t);
                return cohort_error_set(err, -1, "pool", "replacement transaction underpriced");
            }
            tx_free(pool[i]);
            pool[i] = t;
            goto admitted;
        }
    }
    if (pool_count == POOL_MAX) {
        pthread_mutex_unlock(&pool_lock);
        tx_free(t);
        return cohort_error_set(err, -1, "pool", "txpool is full");
    }
    pool[pool_count++] = t;
admitted:
    memcpy(hash, t->hash, 32);
    /* Under the pool's lock, so the miner cannot free t meanwhile; the server never calls
       the pool while holding its own lock, so this order cannot deadlock. */
    rpc_publish_pending_tx(rpc, t);
    pthread_mutex_unlock(&pool_lock);
    return 0;
}

static void pool_status(void *ctx, uint64_t *pending, uint64_t *queued)
{
    (void)ctx;
    pthread_mutex_lock(&pool_lock);
    *pending = pool_count;
    *queued = 0;
    pthread_mutex_unlock(&pool_lock);
}

static void pool_for_each(void *ctx, void (*fn)(void *, const struct tx_signed *, bool), void *arg)
{
    (void)ctx;
    pthread_mutex_lock(&pool_lock);
    for (size_t i = 0; i < pool_count; i++) fn(arg, pool[i], true);
    pthread_mutex_unlock(&pool_lock);
}

static int pool_find(void *ctx, const uint8_t hash[32], void (*fn)(void *, const struct tx_signed *), void *arg)
{
    (void)ctx;
    int found = 0;
    pthread_mutex_lock(&pool_lock);
    for (size_t i = 0; i < pool_count && !found; i++) {
        if (memcmp(pool[i]->hash, hash, 32) == 0) {
            fn(arg, pool[i]);
            found = 1;
        }
    }
    pthread_mutex_unlock(&pool_lock);
    return found;
}

static int pending_nonce(void *ctx, const uint8_t sender[20], uint64_t *nonce)
{
    (void)ctx;
    uint64_t next = state_nonce_of(sender);
    pthread_mutex_lock(&pool_lock);
    bool moved = true;
    int found = 0;
    while (moved) { /* the nonces ready in a row from the state's */
        moved = false;
        for (size_t i = 0; i < pool_count; i++) {
            if (memcmp(pool[i]->tx.sender, sender, 20) == 0 && pool[i]->tx.nonce == next) {
                next++;
                moved = true;
                found = 1;
            }
        }
    }
    pthread_mutex_unlock(&pool_lock);
    *nonce = next;
    return found;
}

static u256 tip(void *ctx)
{
    (void)ctx;
    return u256_from_u64(1000000000);
}

static int by_sender_nonce(const void *a, const void *b)
{
    const struct tx_signed *x = *(const struct tx_signed *const *)a, *y = *(const struct tx_signed *const *)b;
    int c = memcmp(x->tx.sender, y->tx.sender, 20);
    if (c != 0) return c;
    return x->tx.nonce < y->tx.nonce ? -1 : x->tx.nonce > y->tx.nonce;
}

/*
 * Copies the ready transactions (per sender, consecutive nonces from the state's) for a
 * block. They stay in the pool until the block is written, so "pending" nonces count them
 * while they are in flight (without that, a client asking between the two reuses a nonce).
 */
static size_t copy_ready(struct tx_signed **out)
{
    pthread_mutex_lock(&pool_lock);
    qsort(pool, pool_count, sizeof *pool, by_sender_nonce);
    size_t n = 0;
    uint64_t next = 0;
    const uint8_t *sender = NULL;
    for (size_t i = 0; i < pool_count && n < DEVNODE_BLOCK_TXS; i++) {
        const struct tx_signed *t = pool[i];
        if (sender == NULL || memcmp(sender, t->tx.sender, 20) != 0) {
            sender = t->tx.sender;
            next = state_nonce_of(sender);
        }
        if (t->tx.nonce != next) continue;
        struct tx_signed *copy;
        if (tx_decode(t->raw, t->raw_len, 0, &copy, NULL) != 0) continue;
        memcpy(copy->tx.sender, t->tx.sender, 20);
        copy->sender_known = true;
        out[n++] = copy;
        next++;
    }
    pthread_mutex_unlock(&pool_lock);
    return n;
}

/* Drops what the chain has executed (nonces below the state's). */
static void drop_executed(void)
{
    pthread_mutex_lock(&pool_lock);
    size_t kept = 0;
    for (size_t i = 0; i < pool_count; i++) {
        if (pool[i]->tx.nonce < state_nonce_of(pool[i]->tx.sender)) tx_free(pool[i]);
        else pool[kept++] = pool[i];
    }
    pool_count = kept;
    pthread_mutex_unlock(&pool_lock);
}

static void *miner(void *arg)
{
    unsigned block_ms = *(unsigned *)arg;
    static struct tx_signed *batch[DEVNODE_BLOCK_TXS];
    unsigned idle = 0;
    while (!stopping) {
        struct timespec ts = {.tv_sec = block_ms / 1000, .tv_nsec = (long)(block_ms % 1000) * 1000000};
        nanosleep(&ts, NULL);
        size_t n = copy_ready(batch);
        idle += block_ms;
        if (n == 0 && (idle_block_ms == 0 || idle < idle_block_ms)) continue;
        idle = 0;
        if (testchain_block(&chain, batch, n) != 0) { /* frees the copies */
            fprintf(stderr, "devnode: a block failed\n");
            continue;
        }
        drop_executed();
        rpc_publish_block(rpc, chain.head);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    unsigned port = 8545, block_ms = 200;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--port") == 0) port = (unsigned)strtoul(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--block-ms") == 0) block_ms = (unsigned)strtoul(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--idle-block-ms") == 0) idle_block_ms = (unsigned)strtoul(argv[i + 1], NULL, 10);
    }
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    if (secp_init(NULL) != 0 || testchain_open(&chain, 0) != 0) return 1;
    struct rpc_chain c = {.store = chain.store,
                          .chain_id = TESTCHAIN_CHAIN_ID,
                          .block_gas_limit = TESTCHAIN_GAS_LIMIT,
                          .revision = EVM_CANCUN,
                          .min_base_fee = u256_from_u64(1000000000),
                          .client_version = "cohort-rpc-devnode/v" COHORT_VERSION,
                          .send_raw_transaction = send_raw,
                          .pool_status = pool_status,
                          .pool_for_each = pool_for_each,
                          .pool_find = pool_find,
                          .pool_pending_nonce = pending_nonce,
                          .max_priority_fee = tip};
    struct cohort_error err = {0};
    struct rpc_server *server;
    struct rpc_server_options o = {.bind_address = "127.0.0.1", .port = (uint16_t)port};
    if (rpc_new(&c, NULL, &rpc, &err) != 0 || rpc_server_start(rpc, &o, &server, &err) != 0) {
        fprintf(stderr, "devnode: %s\n", err.message);
        return 1;
    }
    pthread_t mining;
    pthread_create(&mining, NULL, miner, &block_ms);
    printf("devnode: http://127.0.0.1:%u ws://127.0.0.1:%u chain id %u, key 0x1100000000000000000000000000000000000000000000000000000000000001\n",
           (unsigned)rpc_server_port(server), (unsigned)rpc_server_port(server), TESTCHAIN_CHAIN_ID);
    fflush(stdout);
    int sig;
    sigwait(&stop, &sig);
    stopping = 1;
    pthread_join(mining, NULL);
    rpc_server_stop(server);
    rpc_free(rpc);
    for (size_t i = 0; i < pool_count; i++) tx_free(pool[i]);
    testchain_close(&chain);
    return 0;
}
