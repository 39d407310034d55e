/*
 * proposer.c - the pool (subnode/chain/txpool.h) under the node's lock, and the batches
 * it feeds the BFT log (docs/chain.md "Batches").
 *
 * A member's batches that no block carries yet wait at the next leader for its proposal.
 * Another joins them every BATCH_INTERVAL_MS while the pool has ready transactions and their
 * gas leaves room in this member's share of a block; when a block carries them (cn_on_held:
 * the BFT node's held callback, when a proposal or a certificate's block takes them from the
 * pending entries) the next goes at once, or, when the pool was empty then, at the next
 * transaction, block or tick. The next leader proposes when a block is finalized, before
 * any member has executed it: a batch made only after executing the block that held the
 * last one missed the next block and rode in the one after, so a member's batches went into
 * every other block; made only once a block carried the last, a transaction that came
 * meanwhile waited for that block's proposal before its batch left. Up to
 * CN_BATCHES_IN_FLIGHT are in flight: those waiting and those a block carries that is not
 * executed yet. The pool's pick skips what they carry, so a sender's next nonces go into a
 * later batch. A batch in flight ends with the block that holds it (what that block left
 * out of it goes again), or at the first block BATCH_HOLD_MS after it was made (all it
 * carried goes again). The share of the block's gas is the backpressure: making a batch at
 * every block whether or not the last was carried (two in flight) let a member's batches
 * meet in one block after a slow moment, blocks grew past their gas, and each larger block
 * made the next wait longer (docs/PERFORMANCE.md).
 *
 * The log drops the entries of a block that is not committed (a leader lost, a height
 * nullified while a quorum was down): a batch not committed after BATCH_RETRY_MS is
 * submitted again, the same bytes, at the next transaction or at the log's tick (cn_tick,
 * every second) - the tick matters once the chain rests, when nothing else would ever send
 * it again.
 *
 * The trailing block. A block that included transactions is followed, when nothing else
 * comes within a second, by one empty block (an empty batch), then the chain rests. Clients
 * wait for a receipt by watching for new blocks: ethers' tx.wait() takes the block number
 * when it starts watching and re-reads the receipt only on a later block, so a receipt that
 * landed in the block it took as its start would be waited for until the next block, which
 * on a resting chain never comes (Ethereum makes one every 12 s). The member whose index is
 * the head's number modulo the members sends it after TRAILING_BLOCK_MS; the others after
 * 3x that, should it be down.
 */
#include "subnode/node/node_internal.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "common/bytes.h"
#include "common/log.h"
#include "common/secp.h"
#include "subnode/chain/txpool.h"
#include "subnode/node/batch.h"
#include "subnode/state/trie.h"
#include "subnode/rpc/rpc.h"

#define DOMAIN "subnode"
#define BATCH_RETRY_MS 5000
/* A batch in flight that no block held this long ends at the next block, its transactions go
   again. Time, not blocks: a count of blocks would depend on how fast the log runs ahead of
   the block it holds (an executor behind the log, tried, ended batches already committed). */
#define BATCH_HOLD_MS 2000
/* The least time between two batches of a member while one waits for a block: each costs a
   signature here and an ECDSA recovery at every member. */
#define BATCH_INTERVAL_MS 10
#define TRAILING_BLOCK_MS 1000
/* Room in the log's payload for the batch's header and the entry framing. */
#define BATCH_OVERHEAD_BYTES (BATCH_HEADER_BYTES + 64)
/* The store is "near" its budget past this share of the map: admission stops. */
#define STORE_NEARLY_FULL_PERCENT 90u

int cn_pool_create(struct chain_node *n, struct cohort_error *err)
{
    struct txpool_config c = {
        .chain_id = n->config.evm_chain_id,
        .revision = EVM_CANCUN,
        .block_gas_limit = n->config.genesis_gas_limit,
        .max_transactions = n->config.txpool_max_transactions,
        .max_bytes = n->config.txpool_max_bytes,
        /* A wallet or a script may send a few hundred transactions at once (the issue's
           client test sends 200); one sender still cannot take a tenth of a default pool. */
        .max_per_sender = 1000,
    };
    /* A seed nobody outside knows: the pool's hash maps take keys (hashes, senders) from clients. */
    if (getrandom(&c.hash_seed, sizeof c.hash_seed, 0) != sizeof c.hash_seed) c.hash_seed = (uint64_t)cn_wall_ms();
    return txpool_new(&c, &n->pool, err);
}

static void batch_free(struct cn_batch *b)
{
    free(b->bytes);
    free(b->hashes);
    memset(b, 0, sizeof *b);
}

void cn_pool_free(struct chain_node *n)
{
    txpool_free(n->pool);
    n->pool = NULL;
    for (unsigned i = 0; i < n->batches_in_flight; i++) batch_free(&n->batches[i]);
    n->batches_in_flight = 0;
}

void cn_tick(void *arg)
{
    cn_propose(arg);
    cn_rejoin_tick(arg);
    cn_epochs_tick(arg);
}

bool cn_admission_open(struct chain_node *n, struct cohort_error *err)
{
    pthread_mutex_lock(&n->lock);
    bool halted = n->halted;
    char reason[sizeof n->halt_reason];
    memcpy(reason, n->halt_reason, sizeof reason);
    pthread_mutex_unlock(&n->lock);
    if (halted) {
        cohort_error_set(err, COMMON_E_INVALID, DOMAIN, "this node's chain is halted (%s): send to another member",
                         reason);
        return false;
    }
    pthread_mutex_lock(&n->lock);
    bool left = n->epochs.left;
    pthread_mutex_unlock(&n->lock);
    if (left) {
        cohort_error_set(err, COMMON_E_INVALID, DOMAIN,
                         "this node is no longer a member of chain %s (a rotation moved its place to another node): "
                         "send to another member",
                         n->config.name);
        return false;
    }
    uint64_t used, map;
    store_usage(n->store, &used, &map);
    if (used > map / 100 * STORE_NEARLY_FULL_PERCENT) {
        cohort_error_set(err, COMMON_E_RANGE, DOMAIN,
                         "the chain's disk budget is nearly used (%llu of %llu bytes in the store): transactions "
                         "are refused until its owner raises the budget",
                         (unsigned long long)used, (unsigned long long)map);
        return false;
    }
    if (n->over_budget_path[0] != '\0' && access(n->over_budget_path, F_OK) == 0) {
        cohort_error_set(err, COMMON_E_RANGE, DOMAIN,
                         "the chain's volume is over its disk budget (cohort-core says so): transactions are "
                         "refused until its owner raises the budget");
        return false;
    }
    return true;
}

/* The sender's nonce and balance at the head (absent: zero). */
static int head_account(struct chain_node *n, const uint8_t address[20], uint64_t *nonce, u256 *balance,
                        struct cohort_error *err)
{
    struct store_view *v;
    int rc = store_view_begin(n->store, &v, err);
    if (rc != 0) return rc;
    uint64_t head = 0;
    store_view_head(v, &head, NULL);
    struct store_account a;
    rc = store_account(v, head, address, &a, err);
    store_view_end(v);
    if (rc < 0) return rc;
    *nonce = rc == 1 ? a.nonce : 0;
    *balance = rc == 1 ? a.balance : u256_zero();
    return 0;
}

int cn_pool_admit(struct chain_node *n, struct tx_signed *t, struct cohort_error *err)
{
    uint64_t nonce;
    u256 balance;
    int rc = head_account(n, t->tx.sender, &nonce, &balance, err);
    if (rc != 0) {
        tx_free(t);
        return rc;
    }
    struct txpool_account account = {.nonce = nonce, .balance = balance};
    /* The subscribers' copy: once admitted, t is the pool's and may be evicted at any time,
       and the publish must not run under the pool's lock (rpc.h). */
    struct tx_signed *copy = NULL;
    struct cohort_error copy_err = {0};
    if (n->rpc && tx_decode(t->raw, t->raw_len, TX_RAW_MAX_BYTES, &copy, &copy_err) == 0) {
        memcpy(copy->tx.sender, t->tx.sender, 20);
        copy->sender_known = true;
    }
    pthread_mutex_lock(&n->pool_lock);
    /* As geth: the fee cap must reach the chain's floor; one under the next block's base fee
       waits in the pool until the base fee comes down (the pick skips it meanwhile). */
    rc = txpool_add(n->pool, t, &account, n->min_base_fee, NULL, err);
    pthread_mutex_unlock(&n->pool_lock);
    if (rc != 0) tx_free(t);
    if (rc == 0 && copy != NULL) rpc_publish_pending_tx(n->rpc, copy);
    tx_free(copy);
    return rc;
}

bool cn_pool_sender(struct chain_node *n, const uint8_t hash[32], uint8_t sender[20])
{
    pthread_mutex_lock(&n->pool_lock);
    bool found = txpool_sender(n->pool, hash, sender);
    pthread_mutex_unlock(&n->pool_lock);
    return found;
}

/* The head state of one sender, for the pool's re-check after a block (pool lock held). */
struct account_reader {
    struct store_view *view;
    uint64_t head;
};

static int read_account(void *arg, const uint8_t address[20], struct txpool_account *out, struct cohort_error *err)
{
    struct account_reader *r = arg;
    struct store_account a;
    int rc = store_account(r->view, r->head, address, &a, err);
    if (rc < 0) return rc;
    out->nonce = rc == 1 ? a.nonce : 0;
    out->balance = rc == 1 ? a.balance : u256_zero();
    return 0;
}

/* Whether the pool can see, from the sender's state, why a block left the transaction out. */
static bool pool_sees(enum chain_reject_reason reason)
{
    switch (reason) {
    case CHAIN_REJECT_NONCE_MISMATCH:       /* the re-check drops it, or it waits for its turn */
    case CHAIN_REJECT_INSUFFICIENT_FUNDS:   /* the re-check drops it */
    case CHAIN_REJECT_GAS_LIMIT_OVER_BLOCK: /* the block ran out of gas: it goes in a later one */
    case CHAIN_REJECT_FEE_BELOW_BASE_FEE:   /* the base fee may come down */
        return true;
    default:
        return false;
    }
}

/* Whether the block holds the batch in flight b (read_batches matched its bytes); its range then. */
static const size_t *held_range(const struct block_input *input, const struct cn_batch *b)
{
    for (unsigned i = 0; i < input->own_batches; i++)
        if (input->own[i].bytes == b->bytes) return &input->own[i].first;
    return NULL;
}

void cn_pool_block(struct chain_node *n, const struct block_input *input, const struct executed_block *block)
{
    const struct block_exec_result *r = &block->result;
    struct account_reader reader = {.head = block->header.number};
    struct cohort_error err = {0};
    uint8_t(*senders)[20] = malloc((input->count + 1) * sizeof *senders);
    uint8_t(*gone)[32] = malloc((r->dropped_count + 1) * sizeof *gone);
    if (senders == NULL || gone == NULL || store_view_begin(n->store, &reader.view, &err) != 0) {
        log_error("pool not updated after a block", "error=\"%s\"", err.message[0] ? err.message : "out of memory");
        free(senders);
        free(gone);
        return;
    }
    /* The senders to re-check: those known (a transaction dropped for the block's gas before
       its sender was recovered changed no account, and is in no pool of this member). */
    size_t sender_count = 0;
    for (size_t i = 0; i < input->count; i++)
        if (input->txs[i]->sender_known) memcpy(senders[sender_count++], input->txs[i]->tx.sender, 20);
    /* A transaction left out for a reason the pool cannot see (the sender has code) leaves it,
       so it is not offered again and again. */
    size_t gone_count = 0;
    for (size_t i = 0; i < r->dropped_count; i++)
        if (!pool_sees(r->dropped[i].reason)) memcpy(gone[gone_count++], input->txs[r->dropped[i].index]->hash, 32);
    struct txpool_block_update update = {
        .included = (const uint8_t(*)[32])block->hashes,
        .included_count = r->included_count,
        .senders = (const uint8_t(*)[20])senders,
        .sender_count = sender_count,
    };
    pthread_mutex_lock(&n->pool_lock);
    /* A batch in flight ends with the block that holds it: what the block left out of it (no
       gas left, say) is offered again, in a later batch. Made again into a new batch at every
       block instead, its transactions went into blocks twice (a batch sent at block N reaches
       the leader of N + 1 after its proposal and goes into N + 2, while the next batch already
       carried them), and every member recovered the copies' senders before dropping them for
       their nonces. A batch that no block held within BATCH_HOLD_MS (the log dropped it, or
       its block was installed by a state transfer) ends anyway: all its transactions go again.
       The other batch in flight keeps its own (the pool's pick skips them). */
    uint8_t(*release)[32] = NULL;
    size_t release_count = 0, release_cap = 0;
    for (unsigned i = 0; i < n->batches_in_flight; i++) release_cap += n->batches[i].count;
    if (release_cap) release = malloc(release_cap * sizeof *release);
    int64_t now = cn_monotonic_ms();
    unsigned kept = 0;
    for (unsigned i = 0; i < n->batches_in_flight; i++) {
        struct cn_batch *b = &n->batches[i];
        const size_t *range = held_range(input, b);
        if (range == NULL && now - b->made_ms < BATCH_HOLD_MS) {
            n->batches[kept++] = *b;
            continue;
        }
        if (release != NULL && range != NULL) {
            for (size_t k = 0; k < r->dropped_count; k++)
                if (r->dropped[k].index >= range[0] && r->dropped[k].index < range[1])
                    memcpy(release[release_count++], input->txs[r->dropped[k].index]->hash, 32);
        } else if (release != NULL) {
            memcpy(release + release_count, b->hashes, b->count * sizeof *release);
            release_count += b->count;
        }
        free(b->bytes);
        free(b->hashes);
    }
    for (unsigned i = kept; i < n->batches_in_flight; i++) memset(&n->batches[i], 0, sizeof n->batches[i]);
    n->batches_in_flight = kept;
    /* None left in flight: whatever the pool still marks in flight goes again (this also
       covers a list of releases that could not be allocated). */
    update.release_in_flight = kept == 0;
    n->batch_share = (unsigned)__builtin_popcountll(input->members_with_transactions);
    n->others_batch_gas = input->others_gas;
    if (gone_count) txpool_remove(n->pool, (const uint8_t(*)[32])gone, gone_count);
    int rc = txpool_block(n->pool, &update, read_account, &reader, &err);
    if (kept > 0 && release_count) txpool_release(n->pool, (const uint8_t(*)[32])release, release_count);
    pthread_mutex_unlock(&n->pool_lock);
    if (rc != 0) log_warn("pool: a sender was not re-checked", "error=\"%s\"", err.message);
    store_view_end(reader.view);
    free(release);
    free(senders);
    free(gone);
}

const uint8_t *cn_batch_in_flight(struct chain_node *n, const uint8_t *entry, size_t len)
{
    const uint8_t *found = NULL;
    pthread_mutex_lock(&n->pool_lock);
    for (unsigned i = 0; i < n->batches_in_flight && found == NULL; i++) {
        const struct cn_batch *b = &n->batches[i];
        if (b->len == len && memcmp(b->bytes, entry, len) == 0) found = b->bytes;
    }
    pthread_mutex_unlock(&n->pool_lock);
    return found;
}

/* Sends a batch in flight to the log again (pool lock held): the log ignores it while it
   still waits there, and takes it again when the block it went into was not committed. */
static void resubmit(struct chain_node *n, struct cn_batch *b, int64_t now)
{
    struct cohort_error err = {0};
    b->sent_ms = now;
    n->batches_resubmitted++;
    if (cn_bft_submit(n, b->bytes, b->len, &err) != 0)
        log_warn("batch not submitted again", "bytes=%zu error=\"%s\"", b->len, err.message);
    else
        log_debug("batch submitted again", "bytes=%zu", b->len);
}

/* A pick that does not become a batch (pool lock held): its transactions are offered again,
   and those of the batch in flight stay in flight. */
static void release_picked(struct chain_node *n, const struct tx_signed **picked, size_t count)
{
    if (n->batches_in_flight == 0) {
        txpool_release_all(n->pool);
        return;
    }
    for (size_t i = 0; i < count; i++) txpool_release(n->pool, (const uint8_t(*)[32])picked[i]->hash, 1);
}

void cn_propose(struct chain_node *n)
{
    pthread_mutex_lock(&n->lock);
    bool halted = n->halted;
    uint64_t head = n->head_number;
    uint8_t head_hash[32];
    memcpy(head_hash, n->head_hash, 32);
    u256 base_fee = cn_next_base_fee(n, &n->head_header);
    bool head_has_txs = memcmp(n->head_header.transactions_root, trie_empty_root, 32) != 0;
    int64_t head_age_ms = n->last_block_wall_ms ? cn_wall_ms() - n->last_block_wall_ms : 0;
    pthread_mutex_unlock(&n->lock);
    /* During the WAL's replay at start the BFT node is not there yet (nor anything to send). */
    if (halted || !atomic_load(&n->started)) return;

    pthread_mutex_lock(&n->pool_lock);
    int64_t now = cn_monotonic_ms();
    for (unsigned i = 0; i < n->batches_in_flight; i++)
        if (now - n->batches[i].sent_ms >= BATCH_RETRY_MS) resubmit(n, &n->batches[i], now);
    /* The batches no block carries yet wait at the next leader for its proposal. Another
       joins them every BATCH_INTERVAL_MS while their gas leaves room in this member's share
       of a block (below): a transaction waits for that interval, not for the next block to
       take the batch before it. */
    unsigned waiting = 0;
    uint64_t waiting_gas = 0;
    int64_t newest_ms = 0;
    for (unsigned i = 0; i < n->batches_in_flight; i++) {
        const struct cn_batch *b = &n->batches[i];
        if (b->held) continue;
        waiting++;
        waiting_gas += b->gas;
        if (b->made_ms > newest_ms) newest_ms = b->made_ms;
    }
    if (n->batches_in_flight == CN_BATCHES_IN_FLIGHT || (waiting > 0 && now - newest_ms < BATCH_INTERVAL_MS)) {
        pthread_mutex_unlock(&n->pool_lock);
        return;
    }
    const struct tx_signed *picked[8192];
    /* A block executes one block's gas, whatever its batches carry. The batch takes what the
       other members' batches left of the last block, and at least a fair share (1/k when k
       members' batches carried transactions): under load the batches together fill a block
       and no more (each taking a whole block's worth, most were dropped for the block's gas,
       and their senders' later nonces in the next batches then failed theirs), and a member
       that most clients send to still fills the block. A transaction larger than the batch's
       gas goes when it is the only one this member has ready (below), or once others send
       less. */
    uint64_t gas = n->config.genesis_gas_limit;
    if (n->batch_share > 1) {
        uint64_t fair = gas / n->batch_share;
        uint64_t left = n->others_batch_gas < gas ? gas - n->others_batch_gas : 0;
        gas = left > fair ? left : fair;
    }
    /* The batches waiting for the same block share it. */
    if (waiting_gas >= gas) {
        pthread_mutex_unlock(&n->pool_lock);
        return;
    }
    gas -= waiting_gas;
    struct txpool_pick_limits limits = {
        .gas = gas,
        .bytes = n->payload_max_bytes - BATCH_OVERHEAD_BYTES,
        .overhead_bytes = 4,
        .count = sizeof picked / sizeof picked[0],
    };
    size_t count = txpool_pick(n->pool, base_fee, &limits, picked, sizeof picked / sizeof picked[0]);
    if (count == 0 && waiting == 0 && limits.gas < n->config.genesis_gas_limit) {
        limits.gas = n->config.genesis_gas_limit;
        count = txpool_pick(n->pool, base_fee, &limits, picked, sizeof picked / sizeof picked[0]);
    }
    /* The trailing block's batch only when none is in flight: one in flight makes a block
       anyway. A second empty batch, made when a block carried the first (cn_on_held), had
       the first's bytes (the same millisecond, head and deterministic signature): the block
       ended only one of the two, the other's resubmissions were copies of a committed entry,
       and the member made no batch again until a block came from elsewhere (36-57 s with
       devnet_upgrade's one transaction a second). */
    bool designated = head % n->config.nmembers == n->config.member_index;
    bool trailing = n->batches_in_flight == 0 && head_has_txs &&
                    head_age_ms >= (designated ? 1 : 3) * TRAILING_BLOCK_MS;
    if (count == 0 && !trailing) {
        pthread_mutex_unlock(&n->pool_lock);
        return;
    }
    size_t len = BATCH_HEADER_BYTES + BATCH_SIGNATURE_BYTES;
    for (size_t i = 0; i < count; i++) len += 4 + picked[i]->raw_len;
    uint8_t *entry = malloc(len);
    uint8_t(*hashes)[32] = malloc((count + 1) * sizeof *hashes);
    if (entry == NULL || hashes == NULL) {
        release_picked(n, picked, count);
        pthread_mutex_unlock(&n->pool_lock);
        free(entry);
        free(hashes);
        return;
    }
    struct batch_header h = {.timestamp_ms = (uint64_t)cn_wall_ms(),
                             .parent_number = head,
                             .member = (uint16_t)n->config.member_index,
                             .count = (uint32_t)count};
    memcpy(h.parent_hash, head_hash, 32);
    if (n->lie_about_head) h.parent_hash[0] ^= 0xff; /* Byzantine tests only */
    memcpy(h.member_address, n->self_address, 20);
    memcpy(h.cert, n->cert, 65);
    batch_header_encode(&h, entry);
    size_t at = BATCH_HEADER_BYTES;
    uint64_t batch_gas = 0;
    for (size_t i = 0; i < count; i++) {
        be_put(entry + at, picked[i]->raw_len, 4);
        memcpy(entry + at + 4, picked[i]->raw, picked[i]->raw_len);
        at += 4 + picked[i]->raw_len;
        memcpy(hashes[i], picked[i]->hash, 32);
        batch_gas = picked[i]->tx.gas_limit > UINT64_MAX - batch_gas ? UINT64_MAX : batch_gas + picked[i]->tx.gas_limit;
    }
    /* Signed and submitted under the pool's lock: a block that ends the batch (cn_pool_block)
       or a retry (resubmit) sees it whole. */
    struct cohort_error err = {0};
    uint8_t digest[32];
    batch_signing_hash(entry, at, digest);
    int rc = secp_sign(n->key, digest, entry + at, &err);
    if (rc == 0) rc = cn_bft_submit(n, entry, len, &err);
    if (rc != 0) {
        log_warn("batch not submitted", "transactions=%zu error=\"%s\"", count, err.message);
        release_picked(n, picked, count); /* offered again at the next tick, transaction or block */
        free(entry);
        free(hashes);
    } else {
        log_debug(count ? "batch submitted" : "empty batch submitted: the block after one with transactions",
                  "transactions=%zu bytes=%zu head=%llu", count, len, (unsigned long long)head);
        n->batches[n->batches_in_flight++] = (struct cn_batch){.bytes = entry,
                                                               .len = len,
                                                               .hashes = hashes,
                                                               .count = count,
                                                               .gas = batch_gas,
                                                               .sent_ms = now,
                                                               .made_ms = now};
    }
    pthread_mutex_unlock(&n->pool_lock);
}

void cn_on_held(void *arg, struct bft_node *node)
{
    struct chain_node *n = arg;
    if (!atomic_load(&n->started)) return;
    pthread_mutex_lock(&n->pool_lock);
    bool newly = false;
    for (unsigned i = 0; i < n->batches_in_flight; i++) {
        struct cn_batch *b = &n->batches[i];
        if (!b->held && bft_node_entry_held(node, b->bytes, b->len)) b->held = newly = true;
    }
    pthread_mutex_unlock(&n->pool_lock);
    if (newly) cn_propose(n);
}

void cn_pool_counts(struct chain_node *n, uint64_t *pending, uint64_t *queued)
{
    struct txpool_stats st;
    pthread_mutex_lock(&n->pool_lock);
    txpool_stats(n->pool, &st);
    pthread_mutex_unlock(&n->pool_lock);
    *pending = st.pending;
    *queued = st.queued;
}

void cn_pool_for_each(void *ctx, void (*fn)(void *arg, const struct tx_signed *tx, bool pending), void *arg)
{
    struct chain_node *n = ctx;
    pthread_mutex_lock(&n->pool_lock);
    txpool_for_each(n->pool, fn, arg);
    pthread_mutex_unlock(&n->pool_lock);
}

int cn_pool_find(void *ctx, const uint8_t hash[32], void (*fn)(void *arg, const struct tx_signed *tx), void *arg)
{
    struct chain_node *n = ctx;
    pthread_mutex_lock(&n->pool_lock);
    const struct tx_signed *t = txpool_find(n->pool, hash, NULL);
    if (t) fn(arg, t);
    pthread_mutex_unlock(&n->pool_lock);
    return t != NULL;
}

int cn_pool_pending_nonce(void *ctx, const uint8_t sender[20], uint64_t *nonce)
{
    struct chain_node *n = ctx;
    pthread_mutex_lock(&n->pool_lock);
    int rc = txpool_pending_nonce(n->pool, sender, nonce) ? 1 : 0;
    pthread_mutex_unlock(&n->pool_lock);
    return rc;
}

void cn_pool_status_json(struct chain_node *n, void *json_object)
{
    uint64_t pending, queued;
    cn_pool_counts(n, &pending, &queued);
    cJSON_AddNumberToObject(json_object, "txpool_pending", (double)pending);
    cJSON_AddNumberToObject(json_object, "txpool_queued", (double)queued);
}
