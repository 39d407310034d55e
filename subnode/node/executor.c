/*
 * executor.c - committed BFT blocks into Ethereum blocks (docs/chain.md "Executing").
 *
 * Runs in log order, one block at a time: a block of batches on the executor's thread
 * (below), any other on the BFT node's thread. A BFT block whose payload holds no batch
 * makes no Ethereum block (an idle chain has no blocks). One that holds batches makes
 * exactly one: its transactions are the batches' in order; those that cannot execute
 * (malformed, a bad signature, the nonce moved, the funds gone, no gas left in the block)
 * are dropped, not included as failures. A sender is recovered only for a transaction the
 * block can take (gas left, a fee that reaches the base fee: block_execute), unless this
 * member's pool knows it. Everything the block changes is written in one store
 * transaction together with the log index, so a crash leaves whole blocks only.
 */
#include "subnode/node/node_internal.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/keccak.h"
#include "common/log.h"
#include "common/secp.h"
#include "subnode/evm/evm.h"
#include "subnode/node/batch.h"

/* The extra data of every block: who made it. */
static const char extra_data[] = "cohort";

void cn_halt(struct chain_node *n, const char *fmt, ...)
{
    char reason[sizeof n->halt_reason];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&n->lock);
    bool first = !n->halted;
    if (first) {
        n->halted = true;
        memcpy(n->halt_reason, reason, sizeof reason);
    }
    pthread_mutex_unlock(&n->lock);
    if (first) log_error("chain halted on this member", "chain=%s reason=\"%s\"", n->config.name, reason);
}

static void block_hash_of(void *arg, uint64_t number, uint8_t out[32])
{
    struct store_txn *t = arg;
    struct cohort_error err = {0};
    if (store_txn_block_hash(t, number, out, &err) != 1) memset(out, 0, 32);
}

static int input_push(struct block_input *in, struct tx_signed *t)
{
    if (in->count == in->cap) {
        size_t cap = in->cap ? in->cap * 2 : 256;
        void *p = realloc(in->txs, cap * sizeof *in->txs);
        if (p == NULL) return -1;
        in->txs = p;
        in->cap = cap;
    }
    in->txs[in->count++] = t;
    return 0;
}

static void input_free(struct block_input *in)
{
    for (size_t i = 0; i < in->count; i++) tx_free(in->txs[i]);
    free(in->txs);
}

/*
 * Whether a decoded batch is what it says: its member exists, its node vouches for the key
 * (in a chain of one member there is nobody else whose batches could be in the log), and
 * the key signed the batch. Every member decides this from chain.json and the bytes alone.
 */
static bool batch_is_authentic(struct chain_node *n, const uint8_t *entry, size_t len, const struct batch_header *h)
{
    if (h->member >= n->config.nmembers) return false;
    if (n->config.nmembers > 1 && !cn_vouches(n, h->member, h->member_address, h->cert, sizeof h->cert)) return false;
    uint8_t digest[32], signer[20];
    batch_signing_hash(entry, len - BATCH_SIGNATURE_BYTES, digest);
    if (secp_recover_address(digest, entry + len - BATCH_SIGNATURE_BYTES, SECP_S_LOW, signer, NULL) < 0) return false;
    return memcmp(signer, h->member_address, 20) == 0;
}

/*
 * A batch names the head its member had executed. When our block of that number has
 * another hash, that member and this one disagree: either may be wrong. Once f+1 members
 * (so at least one honest one) name the same other hash for a block, this member is the one
 * that diverged, and it halts; fewer are logged and counted (a Byzantine or broken member).
 */
static void check_parent(struct chain_node *n, const struct batch_header *h)
{
    if (h->parent_number > n->head_number) return;
    uint8_t ours[32];
    if (cn_block_hash(n, h->parent_number, ours) != 1 || memcmp(ours, h->parent_hash, 32) == 0) return;
    struct disagreement *d = NULL, *oldest = &n->disagreements[0];
    for (size_t i = 0; i < sizeof n->disagreements / sizeof n->disagreements[0]; i++) {
        struct disagreement *x = &n->disagreements[i];
        if (x->members != 0 && x->number == h->parent_number && memcmp(x->hash, h->parent_hash, 32) == 0) d = x;
        if (x->number < oldest->number || x->members == 0) oldest = x;
    }
    if (d == NULL) {
        d = oldest;
        d->number = h->parent_number;
        memcpy(d->hash, h->parent_hash, 32);
        d->members = 0;
    }
    bool first = (n->members_disagreeing & (1ull << h->member)) == 0;
    d->members |= 1ull << h->member;
    n->members_disagreeing |= 1ull << h->member;
    unsigned count = (unsigned)__builtin_popcountll(d->members);
    if (first)
        log_warn("a member names another hash for one of our blocks", "chain=%s member=%u block=%llu members_so_far=%u",
                 n->config.name, h->member, (unsigned long long)h->parent_number, count);
    if (count >= n->fault_tolerance + 1)
        cn_halt(n, "diverged: %u members (more than the %u faults the chain tolerates) have another hash for block %llu "
                   "than this member; its state is not the chain's: wipe its volume to fetch the chain again",
                count, n->fault_tolerance, (unsigned long long)h->parent_number);
}

/*
 * Reads the batches of a committed payload. A batch that does not decode or is not
 * authentic is skipped (a Byzantine proposer's garbage costs it its block, nothing else).
 */
static int read_batches(struct chain_node *n, const struct bft_commit *commit, struct block_input *in)
{
    uint32_t offset = 0;
    const uint8_t *entry;
    uint32_t entry_len;
    struct cohort_error err = {0};
    int rc;
    while ((rc = bft_payload_next(commit->block.payload, commit->block.payload_len, &offset, &entry, &entry_len, &err)) ==
           1) {
        if (cn_rejoin_entry(n, commit, entry, entry_len)) continue; /* a member rejoining: no transactions */
        if (cn_epochs_entry(n, commit, entry, entry_len)) continue;  /* a rotation's vouch, change, done or absent */
        struct batch_header h;
        if (batch_decode(entry, entry_len, TX_RAW_MAX_BYTES, &h, &err) != 0 || !batch_is_authentic(n, entry, entry_len, &h)) {
            n->batches_refused++;
            log_warn("batch refused", "chain=%s index=%llu error=\"%s\"", n->config.name,
                     (unsigned long long)commit->block.header.index, err.message[0] ? err.message : "not authentic");
            err.message[0] = '\0';
            continue;
        }
        check_parent(n, &h);
        if (n->halted) return -1;
        in->batches++;
        if (h.count > 0) in->members_with_transactions |= 1ull << h.member;
        const uint8_t *mine = h.member == n->config.member_index ? cn_batch_in_flight(n, entry, entry_len) : NULL;
        if (mine != NULL && in->own_batches < CN_BATCHES_IN_FLIGHT) {
            in->own[in->own_batches].bytes = mine;
            in->own[in->own_batches].first = in->count;
        }
        if (h.timestamp_ms > in->timestamp_ms) in->timestamp_ms = h.timestamp_ms;
        size_t at = 0;
        const uint8_t *raw;
        size_t raw_len;
        while (batch_next_tx(entry, entry_len, &at, &raw, &raw_len) == 1) {
            struct tx_signed *t;
            if (tx_decode(raw, raw_len, TX_RAW_MAX_BYTES, &t, &err) != 0) {
                in->malformed++;
                continue;
            }
            /* The pool of this member may know the sender already. Otherwise block_execute
               recovers it (a curve operation) only if the block can take the transaction:
               under load the rest waits for a later block unrecovered. */
            if (cn_pool_sender(n, t->hash, t->tx.sender)) t->sender_known = true;
            if (h.member != n->config.member_index) /* saturating: a batch's gas limits are anyone's numbers */
                in->others_gas = t->tx.gas_limit > UINT64_MAX - in->others_gas ? UINT64_MAX : in->others_gas + t->tx.gas_limit;
            if (input_push(in, t) != 0) {
                tx_free(t);
                cn_halt(n, "out of memory reading a block's batches");
                return -1;
            }
        }
        if (mine != NULL && in->own_batches < CN_BATCHES_IN_FLIGHT) in->own[in->own_batches++].end = in->count;
    }
    if (rc < 0) log_warn("payload refused", "chain=%s error=\"%s\"", n->config.name, err.message);
    return 0;
}

/* The header fields known before execution, from the parent and the BFT block. */
static void begin_header(struct chain_node *n, const struct bft_commit *commit, const struct block_input *in,
                         struct block_header *h)
{
    const struct block_header *parent = &n->head_header;
    memset(h, 0, sizeof *h);
    memcpy(h->parent_hash, n->head_hash, 32);
    memcpy(h->ommers_hash, block_empty_ommers_hash, 32);
    uint32_t proposer = (uint32_t)(commit->block.header.height % n->config.nmembers);
    memcpy(h->coinbase, n->member_address[proposer], 20);
    h->number = n->head_number + 1;
    h->gas_limit = n->config.genesis_gas_limit;
    uint64_t ts = in->timestamp_ms / 1000;
    h->timestamp = ts > parent->timestamp ? ts : parent->timestamp;
    memcpy(h->extra_data, extra_data, sizeof extra_data - 1);
    h->extra_data_len = sizeof extra_data - 1;
    /* prevRandao and the beacon root: the BFT block's hash, which the members agreed on
       and no single member chose alone. */
    memcpy(h->mix_hash, commit->hash, 32);
    h->has_base_fee = true;
    h->base_fee = cn_next_base_fee(n, parent);
    h->has_withdrawals_root = true;
    h->has_blob_gas = true;
    h->excess_blob_gas = block_next_excess_blob_gas(parent->excess_blob_gas, parent->blob_gas_used);
    h->has_parent_beacon_root = true;
    memcpy(h->parent_beacon_root, commit->hash, 32);
}

u256 cn_next_base_fee(const struct chain_node *n, const struct block_header *parent)
{
    u256 next = block_next_base_fee(parent->gas_used, parent->gas_limit, parent->base_fee);
    return u256_lt(next, n->min_base_fee) ? n->min_base_fee : next;
}

/* Executes one block and writes it; returns 0 or -1 (halted). */
static int build_block(struct chain_node *n, const struct bft_commit *commit, struct block_input *in,
                       struct executed_block *done)
{
    struct cohort_error err = {0};
    struct block_header *h = &done->header;
    begin_header(n, commit, in, h);
    struct store_txn *t;
    if (store_write_begin(n->store, &t, &err) != 0) {
        cn_halt(n, "cannot write block %llu: %s", (unsigned long long)h->number, err.message);
        return -1;
    }
    struct state_backend backend;
    store_txn_backend(t, &backend);
    state_reset(n->exec_state);
    state_set_backend(n->exec_state, &backend);
    struct block_exec_input input = {
        .header = h,
        .revision = EVM_CANCUN,
        .chain_id = u256_from_u64(n->config.evm_chain_id),
        .txs = in->txs,
        .tx_count = in->count,
        .mode = BLOCK_BUILD,
        .block_hash = block_hash_of,
        .block_hash_arg = t,
    };
    struct block_exec_result *r = &done->result;
    int64_t t0 = cn_monotonic_us();
    int rc = block_execute(n->exec_state, &input, r, &err);
    int64_t t1 = cn_monotonic_us();
    done->phase_us[CN_PHASE_TRANSACTIONS] = t1 - t0;
    const struct cohort_error *backend_err = state_backend_error(n->exec_state);
    if (rc == 0 && backend_err != NULL) {
        err = *backend_err;
        rc = -1;
    }
    if (rc == 0) rc = store_txn_apply_state(t, n->exec_state, h->number, h->state_root, &err);
    int64_t t2 = cn_monotonic_us();
    done->phase_us[CN_PHASE_STATE] = t2 - t1;
    if (rc != 0) {
        store_write_abort(t);
        cn_halt(n, "block %llu: %s", (unsigned long long)h->number, err.message);
        return -1;
    }
    h->gas_used = r->gas_used;
    h->blob_gas_used = r->blob_gas_used;
    memcpy(h->logs_bloom, r->logs_bloom, BLOCK_BLOOM_BYTES);
    memcpy(h->transactions_root, r->transactions_root, 32);
    memcpy(h->receipts_root, r->receipts_root, 32);
    memcpy(h->withdrawals_root, r->withdrawals_root, 32);
    block_header_hash(h, done->hash);

    size_t k = r->included_count;
    done->raws = calloc(k + 1, sizeof *done->raws);
    done->lens = calloc(k + 1, sizeof *done->lens);
    done->hashes = calloc(k + 1, sizeof *done->hashes);
    if (done->raws == NULL || done->lens == NULL || done->hashes == NULL) {
        store_write_abort(t);
        cn_halt(n, "out of memory writing block %llu", (unsigned long long)h->number);
        return -1;
    }
    for (size_t i = 0; i < k; i++) {
        const struct tx_signed *tx = in->txs[r->included[i]];
        done->raws[i] = tx->raw;
        done->lens[i] = tx->raw_len;
        memcpy(done->hashes[i], tx->hash, 32);
    }
    struct store_block b = {
        .header = h,
        .hash = done->hash,
        .txs = done->raws,
        .tx_lens = done->lens,
        .tx_hashes = (const uint8_t(*)[32])done->hashes,
        .receipts = r->receipts,
        .tx_count = k,
    };
    rc = store_txn_put_block(t, &b, &err);
    if (rc == 0) rc = store_txn_set_applied(t, commit->block.header.index, &err);
    int64_t t3 = cn_monotonic_us();
    done->phase_us[CN_PHASE_BLOCK] = t3 - t2;
    if (rc == 0) {
        rc = store_write_commit(t, &err);
        done->phase_us[CN_PHASE_COMMIT] = cn_monotonic_us() - t3;
    } else {
        store_write_abort(t);
    }
    if (rc != 0) {
        cn_halt(n, "block %llu was not written: %s", (unsigned long long)h->number, err.message);
        return -1;
    }
    return 0;
}

static void execute(struct chain_node *n, const struct bft_commit *commit, bool replaying)
{
    uint64_t index = commit->block.header.index;
    /* After a change that ended the epoch (or removed this member), the epoch's later
       blocks are not applied: their transactions come again in the next epoch. */
    if (n->halted || cn_epochs_closed(n)) return;
    if (index <= n->applied_index) {
        cn_epochs_replayed(n, commit); /* the store has the block; a change in it must still end the epoch */
        return;
    }
    struct block_input in = {0};
    if (read_batches(n, commit, &in) != 0 || in.batches == 0) {
        /* No batch: no Ethereum block. The log index still moves (a snapshot records it). */
        if (!n->halted) n->applied_index = index;
        input_free(&in);
        cn_epochs_after_block(n, commit);
        return;
    }
    struct executed_block done = {0};
    int64_t began = cn_monotonic_us();
    int rc = build_block(n, commit, &in, &done);
    if (rc == 0) {
        int64_t done_began = cn_monotonic_us();
        cn_block_done(n, index, &in, &done, replaying);
        done.phase_us[CN_PHASE_POOL] = cn_monotonic_us() - done_began;
    }
    int64_t took = cn_monotonic_us() - began;
    pthread_mutex_lock(&n->lock);
    n->execute_us += (uint64_t)(took > 0 ? took : 0);
    for (int i = 0; i < CN_PHASES; i++) n->phase_us[i] += (uint64_t)(done.phase_us[i] > 0 ? done.phase_us[i] : 0);
    pthread_mutex_unlock(&n->lock);
    block_exec_result_free(&done.result);
    free(done.raws);
    free(done.lens);
    free(done.hashes);
    input_free(&in);
    if (rc == 0) cn_epochs_after_block(n, commit);
}

/* ---- The executor's thread ---- */

/*
 * The log's thread went on to vote for the next height only once it had executed a block:
 * the next block's proposal, sent at this one's finalization, waited at every member for
 * the execution (about 40 ms a block under rpc_bench's load on two cores), and so did
 * everything behind it. A block of batches is now executed here while the log's thread
 * orders the next one. One at a time, so the log runs at most one block ahead of the
 * state: the next commit, a snapshot (which names the head), a restore and the log
 * thread's exit wait for it. Anything else (an epoch's change, a rejoin entry, the WAL's
 * replay) is executed on the log's thread as before, after what waits here.
 */
static void *exec_main(void *arg)
{
    struct chain_node *n = arg;
    pthread_mutex_lock(&n->exec_lock);
    for (;;) {
        while (!n->exec_full && !n->exec_stop) pthread_cond_wait(&n->exec_cond, &n->exec_lock);
        if (!n->exec_full) break;
        pthread_mutex_unlock(&n->exec_lock);
        execute(n, &n->exec_commit, false);
        pthread_mutex_lock(&n->exec_lock);
        n->exec_full = false;
        pthread_cond_broadcast(&n->exec_cond);
    }
    pthread_mutex_unlock(&n->exec_lock);
    evm_thread_release(); /* the VM this thread executed with */
    return NULL;
}

int cn_exec_start(struct chain_node *n, struct cohort_error *err)
{
    pthread_mutex_init(&n->exec_lock, NULL);
    pthread_cond_init(&n->exec_cond, NULL);
    int rc = pthread_create(&n->exec_thread, NULL, exec_main, n);
    if (rc != 0) return cohort_error_errno(err, COMMON_E_IO, "subnode", rc, "the executor's thread: pthread_create");
    n->exec_started = true;
    return 0;
}

void cn_exec_drain(struct chain_node *n)
{
    if (!n->exec_started) return;
    pthread_mutex_lock(&n->exec_lock);
    while (n->exec_full) pthread_cond_wait(&n->exec_cond, &n->exec_lock);
    pthread_mutex_unlock(&n->exec_lock);
}

void cn_exec_stop(struct chain_node *n)
{
    if (!n->exec_started) return;
    pthread_mutex_lock(&n->exec_lock);
    n->exec_stop = true;
    pthread_cond_broadcast(&n->exec_cond);
    pthread_mutex_unlock(&n->exec_lock);
    pthread_join(n->exec_thread, NULL);
    n->exec_started = false;
    pthread_mutex_destroy(&n->exec_lock);
    pthread_cond_destroy(&n->exec_cond);
    free(n->exec_payload);
    n->exec_payload = NULL;
}

/* Whether every entry of the block is a batch (at least one): what the executor's thread takes. */
static bool batches_only(const struct bft_commit *commit)
{
    uint32_t offset = 0, len;
    const uint8_t *entry;
    size_t count = 0;
    int rc;
    while ((rc = bft_payload_next(commit->block.payload, commit->block.payload_len, &offset, &entry, &len, NULL)) == 1) {
        if (len == 0 || entry[0] != BATCH_MAGIC) return false;
        count++;
    }
    return rc == 0 && count > 0;
}

void cn_on_commit(void *arg, const struct bft_commit *commit, bool replaying)
{
    struct chain_node *n = arg;
    cn_exec_drain(n);
    if (!replaying && n->exec_started && batches_only(commit)) {
        if (commit->block.payload_len > n->exec_payload_cap) {
            uint8_t *grown = realloc(n->exec_payload, commit->block.payload_len);
            if (grown != NULL) {
                n->exec_payload = grown;
                n->exec_payload_cap = commit->block.payload_len;
            }
        }
        if (commit->block.payload_len <= n->exec_payload_cap) {
            memcpy(n->exec_payload, commit->block.payload, commit->block.payload_len);
            n->exec_commit = (struct bft_commit){.block = commit->block};
            n->exec_commit.block.payload = n->exec_payload;
            memcpy(n->exec_commit.hash, commit->hash, sizeof n->exec_commit.hash);
            pthread_mutex_lock(&n->exec_lock);
            n->exec_full = true;
            pthread_cond_signal(&n->exec_cond);
            pthread_mutex_unlock(&n->exec_lock);
            return;
        }
    }
    execute(n, commit, replaying); /* (out of memory for the copy: here, as before) */
}
