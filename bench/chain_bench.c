/*
 * chain_bench.c - block execution throughput on one member: ERC-20 transfers to fresh
 * addresses, signed in advance, executed block by block through the executor's path into
 * an LMDB store, with the time of each phase.
 *
 *   bench/chain_bench [--txs N] [--senders N] [--accounts N] [--holders N]
 *                     [--gas-limit GAS] [--recover-threads N] [--recover-in-block]
 *                     [--warmup BLOCKS] [--verify] [--no-split] [--per-block] [--dir DIR] [--keep]
 *                     [--map-gib N] [--token FILE] [--seed N]
 *
 * --dir DIR puts the store there (default: a new /tmp/chain_bench.XXXXXX; an existing DIR
 * must hold no store), removed at the end and on a failure unless --keep; --map-gib is its
 * map size (default 8); --seed makes other keys and addresses (default 1); --warmup is the
 * number of untimed blocks run first (default 2); --token reads other runtime code.
 *
 * The workload. A genesis with --senders funded accounts (default 1,000), the ERC-20 of
 * the client tests (tests/integration/chain/Token.sol, runtime code compiled once into
 * bench/token_runtime.hex by bench/gen_token.mjs) whose storage gives every sender a token
 * balance (written straight into the balanceOf mapping: slot keccak(pad(addr) . pad(1))),
 * plus --accounts other funded accounts and --holders other token holders, to make the
 * tries as large as a busy chain's. Then --txs transfers (type 2, chain id 1234), each of
 * one token unit to a fresh random address, signed before any timing with manager-client's
 * signer (mc_tx_sign: an encoder other than the one that decodes them) and decoded back
 * (hash, sender, static checks) to be sure every one is valid. Transfer j is sender j mod
 * senders' nonce j / senders. Each transaction's gas limit is the gas a transfer uses
 * (measured on an in-memory state before the run) plus TX_GAS_MARGIN.
 *
 * The path, as the chain node runs it (subnode/node/proposer.c, executor.c; same calls,
 * same order). Admission, per transaction, what eth_sendRawTransaction does on an RPC
 * thread; the bench keeps the pool at two blocks' worth, as clients sending steadily would:
 *   admit.decode   tx_decode
 *   admit.recover  tx_recover_sender
 *   admit.account  the sender's nonce and balance at the head (a store view)
 *   admit.add      txpool_add (the node's pool settings)
 * Then per block, on the one thread the node runs blocks on:
 *   pick      txpool_pick for the block's gas, the batch entry the BFT log would carry
 *   decode    batch_decode, tx_decode of each raw transaction of the batch
 *   recover   txpool_sender: the pool recovered each at admission (cn_pool_sender);
 *             --recover-in-block recovers them again, as a member whose pool never saw
 *             the transactions must (--recover-threads N spreads that over N threads)
 *   begin     store_write_begin
 *   execute   store_txn_backend, state_reset, state_set_backend, block_execute(BLOCK_BUILD),
 *             state_backend_error; split into
 *               vm     evm_execute (the interpreter and its host calls), minus LMDB reads
 *               lmdb   LMDB reads of accounts, slots and code (the state cache's misses)
 *               roots  the transactions and receipts roots (block_ordered_root)
 *               other  validation, fees, the state cache and journal, receipts, bloom
 *   apply     store_txn_apply_state: the flat tables, history and the incremental tries,
 *             giving the state root; split into
 *               lmdb   LMDB calls (trie node reads and writes, accounts, storage, history)
 *               keccak hashing (trie nodes, hashed keys)
 *               other  collecting and sorting the changes, trie node encoding
 *   write     block_header_hash, store_txn_put_block, store_txn_set_applied
 *   commit    store_write_commit: LMDB writes the dirty pages and fsyncs (split: fsync;
 *             and the bytes LMDB wrote, written_mib_per_block)
 *   pool      txpool_block: the included leave, the senders are re-read (a store view)
 * The BFT log is not in the path: the batch goes from the pick straight to the executor
 * (the log's own cost per commit, a WAL append and its fsync, is what bench/wal_bench times).
 * The splits come from the linker's --wrap (bench/CMakeLists.txt): the bench's
 * __wrap_mdb_get etc. (chain_bench_hooks.c) time the store's calls into LMDB, keccak256,
 * evm_execute and block_ordered_root while the phase they belong to runs; fdatasync,
 * pwrite and writev are interposed (LMDB calls them from its shared library, out of
 * --wrap's reach).
 * --no-split turns the timing wrappers off (they then only forward) to show what they cost.
 *
 * Checks (a failure exits 1 with what differed): every transaction of every batch is
 * included and succeeds, each block uses the gas expected, and at the end sample
 * recipients hold one token and sample senders have the right nonce. --verify also
 * executes every block on an in-memory state (no store) and compares its state root with
 * the store's incremental one, block by block (slow with a large pre-state: its root is
 * rebuilt from all pairs each block).
 *
 * Output: '#' lines (setup, the splits' clock and its cost, the load average), then
 *   chain txs=... blocks=... tx_per_block=... gas=... wall_s=... tx_per_s=... mgas_per_s=...
 *         cpu_s=... tx_per_cpu_s=... admit_us_per_tx=... with_admission_tx_per_s=...
 *         block_p50_ms=... apply_p50_ms=... state_bytes=... check=ok
 *   share recover_pct=... vm_pct=... state_root_pct=... lmdb_pct=... other_pct=...
 *   phase name=admit.decode wall_ms=... wall_pct=... cpu_ms=... cpu_pct=... per_block_ms=... per_tx_us=...
 *   ... a line per phase, each followed by its splits (name=execute.vm, apply.keccak, ...;
 *   wall only), then `lmdb phase=apply table=trie_accounts ms=... calls=...`: LMDB's time
 *   per phase and table.
 * tx_per_s, mgas_per_s, cpu_s and wall_s are the block path's (pick to pool): what the
 * node's block thread can sustain while RPC threads admit alongside; with_admission_* add
 * the admission, as if one core did everything. Percentages are of the whole (admission
 * included). share gives the wall time's parts the issue asks about: signature recovery
 * (admission's and the block's); the VM; the state root (apply minus its LMDB calls: the
 * tries' hashing and encoding in memory); LMDB (every call into it, begin and the whole
 * commit); the rest.
 * --per-block adds `block number=... txs=... wall_ms=... apply_ms=... commit_ms=...
 * state_bytes=...` per timed block: how a block's cost moves as the state grows.
 * wall is CLOCK_MONOTONIC; cpu is the process's CPU time (every thread's). The warmup
 * blocks (default 2) run first and are not counted. The machine may be shared: compare
 * CPU figures, and see the load average printed.
 */
#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/bytes.h"
#include "common/error.h"
#include "common/hex.h"
#include "common/keccak.h"
#include "common/secp.h"
#include "common/u256.h"
#include "manager-client/manager_client.h"
#include "subnode/chain/block.h"
#include "subnode/chain/txpool.h"
#include "subnode/chain/tx.h"
#include "subnode/evm/evm.h"
#include "subnode/node/batch.h"
#include "subnode/state/state.h"
#include "subnode/store/store.h"

#include "chain_bench_hooks.h"

#ifndef COHORT_BENCH_TOKEN
#define COHORT_BENCH_TOKEN "bench/token_runtime.hex"
#endif

#define CHAIN_ID 1234u
#define TOKEN_SUPPLY_SLOT 0u   /* Token.sol: totalSupply (gen_token.mjs checks the layout) */
#define TOKEN_BALANCE_SLOT 1u  /* Token.sol: mapping(address => uint256) balanceOf */
#define TOKEN_CODE_MAX 24576u  /* the deploy limit */
#define TX_GAS_MARGIN 1000u    /* over the measured gas: calldata varies with zero bytes */
#define GWEI 1000000000u
#define MIN_BASE_FEE_WEI GWEI  /* the executor's floor and genesis base fee (chain_node.c) */
#define SENDERS_MAX 1000000u
#define ACCOUNTS_MAX 100000000u
#define TXS_MAX 10000000u
#define THREADS_MAX 64u
#define SAMPLE_CHECKS 64u

/* ---- Options ---- */

struct options {
    uint64_t txs;
    uint32_t senders;
    uint64_t accounts;
    uint64_t holders;
    uint64_t gas_limit;
    unsigned recover_threads;
    bool recover_in_block;
    unsigned warmup;
    bool verify;
    bool split;
    bool per_block;
    const char *dir;
    bool keep;
    uint64_t map_gib;
    const char *token;
    uint64_t seed;
};

/* ---- Clocks ---- */

static double clock_seconds(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double wall_now(void) { return clock_seconds(CLOCK_MONOTONIC); }
static double cpu_now(void) { return clock_seconds(CLOCK_PROCESS_CPUTIME_ID); }

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/*
 * The splits' clock. The wrappers below read it twice per call, tens of thousands of times
 * a block, so it must be cheap: the TSC on x86-64 (about 20 ns here, against about 55 ns
 * for clock_gettime under kvm-clock), converted with a rate measured at start; elsewhere
 * CLOCK_MONOTONIC. tick_now is in chain_bench_hooks.h: the wrappers read it too.
 */
#if defined(__x86_64__)
static double tick_seconds = 1e-9; /* seconds per TSC tick; calibrate_ticks sets it */
static void calibrate_ticks(void)
{
    double w0 = wall_now();
    uint64_t t0 = tick_now();
    struct timespec pause = {.tv_sec = 0, .tv_nsec = 200 * 1000 * 1000};
    nanosleep(&pause, NULL);
    double w1 = wall_now();
    uint64_t t1 = tick_now();
    if (t1 > t0) tick_seconds = (w1 - w0) / (double)(t1 - t0);
}
#else
static const double tick_seconds = 1e-9;
static void calibrate_ticks(void) {}
#endif

/* ---- Small helpers ---- */

static void remove_store(const char *dir);
static const char *die_removes; /* the bench's own store folder, removed on a failure too */

static void die(const char *what, const struct cohort_error *err)
{
    fprintf(stderr, "chain_bench: %s%s%s\n", what, err && err->message[0] ? ": " : "", err ? err->message : "");
    if (die_removes != NULL) remove_store(die_removes);
    exit(1);
}

static void *xcalloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size);
    if (p == NULL) die("out of memory", NULL);
    return p;
}

/* splitmix64: the bench's addresses and keys come from --seed, so runs are repeatable. */
static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void rng_bytes(uint64_t *s, uint8_t *out, size_t len)
{
    for (size_t i = 0; i < len; i += 8) {
        uint64_t v = rng_next(s);
        size_t n = len - i < 8 ? len - i : 8;
        memcpy(out + i, &v, n);
    }
}

/* The balanceOf slot of holder: keccak(pad32(holder) . pad32(TOKEN_BALANCE_SLOT)). */
static u256 balance_slot(const uint8_t holder[20])
{
    uint8_t buf[64] = {0};
    memcpy(buf + 12, holder, 20);
    buf[63] = TOKEN_BALANCE_SLOT;
    uint8_t h[32];
    keccak256(buf, sizeof buf, h);
    return u256_load_be(h);
}

/* transfer(address,uint256) calldata: selector a9059cbb, the recipient, the amount. */
static void transfer_calldata(const uint8_t to[20], uint64_t amount, uint8_t out[68])
{
    static const uint8_t selector[4] = {0xa9, 0x05, 0x9c, 0xbb};
    memset(out, 0, 68);
    memcpy(out, selector, 4);
    memcpy(out + 16, to, 20);
    u256_store_be(out + 36, u256_from_u64(amount));
}

static u256 pow2(unsigned bits)
{
    u256 v = u256_zero();
    v.w[bits / 64] = 1ull << (bits % 64);
    return v;
}

static void load_average(double out[3])
{
    out[0] = out[1] = out[2] = -1;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f == NULL) return;
    if (fscanf(f, "%lf %lf %lf", &out[0], &out[1], &out[2]) != 3) out[0] = out[1] = out[2] = -1;
    fclose(f);
}

static size_t load_token(const char *path, uint8_t *code, size_t cap)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "chain_bench: cannot open %s (%s): run `node bench/gen_token.mjs` or pass --token\n", path,
                strerror(errno));
        exit(1);
    }
    static char text[2 * TOKEN_CODE_MAX + 8];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r' || text[n - 1] == ' ')) n--;
    text[n] = 0;
    size_t len = 0;
    struct cohort_error err = {0};
    if (hex_decode(text, code, cap, &len, &err) != 0 || len == 0) die("the token's runtime code", &err);
    return len;
}

/* ---- The workload ---- */

struct workload {
    uint32_t sender_count;
    uint8_t (*keys)[32];
    uint8_t (*senders)[20];
    uint8_t coinbase[20];
    uint8_t token[20];
    uint8_t *token_code;
    size_t token_code_len;
    u256 max_fee, tip, sender_eth, sender_tokens;
    uint64_t tx_gas;       /* each transfer's gas limit */
    uint64_t tx_count;     /* signed: warmup blocks' and the timed ones */
    uint8_t **raws;
    size_t *raw_lens;
    uint8_t (*recipients)[20];
    uint8_t (*hashes)[32];
};

/* Signs transfer j (sender j mod senders, nonce j / senders) to `to` with gas limit gas. */
static void sign_transfer(const struct workload *w, uint64_t j, const uint8_t to[20], uint64_t gas, uint8_t **raw,
                          size_t *raw_len, uint8_t hash[32])
{
    uint8_t data[68];
    transfer_calldata(to, 1, data);
    struct mc_tx tx = {
        .type = MC_TX_EIP1559,
        .chain_id = CHAIN_ID,
        .nonce = j / w->sender_count,
        .gas_limit = gas,
        .max_priority_fee_per_gas = w->tip,
        .max_fee_per_gas = w->max_fee,
        .has_to = true,
        .value = u256_zero(),
        .data = data,
        .data_len = sizeof data,
    };
    memcpy(tx.to, w->token, 20);
    struct cohort_error err = {0};
    if (mc_tx_sign(&tx, w->keys[j % w->sender_count], raw, raw_len, hash, &err) != 0) die("signing", &err);
}

/* The genesis state in memory: senders, the token with their balances, the extra accounts and holders. */
static struct state *genesis_state(const struct workload *w, const struct options *o, uint64_t *rng)
{
    struct cohort_error err = {0};
    struct state *st = state_new();
    if (st == NULL) die("out of memory", NULL);
    for (uint32_t i = 0; i < w->sender_count; i++)
        if (state_put_account(st, w->senders[i], 0, w->sender_eth, NULL, 0, &err) != 0) die("genesis sender", &err);
    if (state_put_account(st, w->token, 1, u256_zero(), w->token_code, w->token_code_len, &err) != 0)
        die("genesis token", &err);
    u256 supply = u256_mul(w->sender_tokens, u256_from_u64(w->sender_count));
    for (uint32_t i = 0; i < w->sender_count; i++)
        if (state_put_storage(st, w->token, balance_slot(w->senders[i]), w->sender_tokens, &err) != 0)
            die("genesis token balance", &err);
    u256 ether = u256_mul(u256_from_u64(GWEI), u256_from_u64(GWEI));
    for (uint64_t i = 0; i < o->accounts; i++) {
        uint8_t a[20];
        rng_bytes(rng, a, 20);
        if (state_put_account(st, a, 0, ether, NULL, 0, &err) != 0) die("genesis account", &err);
    }
    u256 held = u256_from_u64(1000);
    for (uint64_t i = 0; i < o->holders; i++) {
        uint8_t a[20];
        rng_bytes(rng, a, 20);
        if (state_put_storage(st, w->token, balance_slot(a), held, &err) != 0) die("genesis holder", &err);
        supply = u256_add(supply, held);
    }
    if (state_put_storage(st, w->token, u256_from_u64(TOKEN_SUPPLY_SLOT), supply, &err) != 0)
        die("genesis supply", &err);
    return st;
}

/* The header fields known before execution, as executor.c's begin_header sets them. */
static void begin_header(const struct block_header *parent, const uint8_t parent_hash[32], const uint8_t coinbase[20],
                         uint64_t gas_limit, struct block_header *h)
{
    static const char extra[] = "cohort";
    memset(h, 0, sizeof *h);
    memcpy(h->parent_hash, parent_hash, 32);
    memcpy(h->ommers_hash, block_empty_ommers_hash, 32);
    memcpy(h->coinbase, coinbase, 20);
    h->number = parent->number + 1;
    h->gas_limit = gas_limit;
    h->timestamp = parent->timestamp + 1;
    memcpy(h->extra_data, extra, sizeof extra - 1);
    h->extra_data_len = sizeof extra - 1;
    /* The BFT block's hash in the node; any agreed 32 bytes here. */
    uint8_t bft_hash[32];
    keccak256(&h->number, sizeof h->number, bft_hash);
    memcpy(h->mix_hash, bft_hash, 32);
    h->has_base_fee = true;
    u256 next = block_next_base_fee(parent->gas_used, parent->gas_limit, parent->base_fee);
    u256 floor = u256_from_u64(MIN_BASE_FEE_WEI);
    h->base_fee = u256_lt(next, floor) ? floor : next;
    h->has_withdrawals_root = true;
    h->has_blob_gas = true;
    h->excess_blob_gas = block_next_excess_blob_gas(parent->excess_blob_gas, parent->blob_gas_used);
    h->has_parent_beacon_root = true;
    memcpy(h->parent_beacon_root, bft_hash, 32);
}

/*
 * The gas one transfer uses: a transfer signed with a generous limit, executed on an
 * in-memory copy of a sender and the token.
 */
static uint64_t measure_transfer_gas(struct workload *w)
{
    struct cohort_error err = {0};
    struct state *st = state_new();
    if (st == NULL) die("out of memory", NULL);
    if (state_put_account(st, w->senders[0], 0, w->sender_eth, NULL, 0, &err) != 0 ||
        state_put_account(st, w->token, 1, u256_zero(), w->token_code, w->token_code_len, &err) != 0 ||
        state_put_storage(st, w->token, balance_slot(w->senders[0]), w->sender_tokens, &err) != 0)
        die("calibration state", &err);
    uint8_t to[20];
    memset(to, 0x5a, 20);
    uint8_t *raw, hash[32];
    size_t raw_len;
    sign_transfer(w, 0, to, 200000, &raw, &raw_len, hash);
    struct tx_signed *t;
    if (tx_decode(raw, raw_len, 0, &t, &err) != 0) die("calibration decode", &err);
    struct block_header parent = {.gas_limit = 30000000, .base_fee = u256_from_u64(MIN_BASE_FEE_WEI)};
    struct block_header h;
    uint8_t zero[32] = {0};
    begin_header(&parent, zero, w->coinbase, 30000000, &h);
    struct block_exec_input in = {
        .header = &h, .revision = EVM_CANCUN, .chain_id = u256_from_u64(CHAIN_ID), .txs = &t, .tx_count = 1,
        .mode = BLOCK_BUILD};
    struct block_exec_result r;
    if (block_execute(st, &in, &r, &err) != 0) die("calibration block", &err);
    if (r.included_count != 1 || !r.receipts[0].success) die("the calibration transfer failed", NULL);
    uint64_t gas = r.receipts[0].gas_used;
    block_exec_result_free(&r);
    tx_free(t);
    free(raw);
    state_free(st);
    return gas;
}

/* Signs every transfer and checks each decodes back to what was signed. */
static void sign_all(struct workload *w, uint64_t *rng)
{
    w->raws = xcalloc(w->tx_count, sizeof *w->raws);
    w->raw_lens = xcalloc(w->tx_count, sizeof *w->raw_lens);
    w->recipients = xcalloc(w->tx_count, sizeof *w->recipients);
    w->hashes = xcalloc(w->tx_count, sizeof *w->hashes);
    struct cohort_error err = {0};
    for (uint64_t j = 0; j < w->tx_count; j++) {
        rng_bytes(rng, w->recipients[j], 20);
        sign_transfer(w, j, w->recipients[j], w->tx_gas, &w->raws[j], &w->raw_lens[j], w->hashes[j]);
        struct tx_signed *t;
        if (tx_decode(w->raws[j], w->raw_lens[j], 0, &t, &err) != 0) die("a signed transfer does not decode", &err);
        enum chain_reject_reason reason;
        if (tx_recover_sender(t, &err) != 0) die("a signed transfer does not recover", &err);
        if (memcmp(t->tx.sender, w->senders[j % w->sender_count], 20) != 0 || memcmp(t->hash, w->hashes[j], 32) != 0 ||
            t->tx.nonce != j / w->sender_count || t->tx.type != 2 || t->chain_id != CHAIN_ID)
            die("a signed transfer decodes to another sender, hash, nonce, type or chain id", NULL);
        if (tx_validate_static(t, EVM_CANCUN, CHAIN_ID, &reason, &err) != 0) die("a signed transfer is invalid", &err);
        tx_free(t);
    }
}

/* ---- Parallel recovery ---- */

#define RECOVER_CHUNK 8u /* transactions a thread takes at a time: about 0.3 ms of work */

struct recover_pool {
    unsigned threads;
    pthread_t *ids;
    pthread_barrier_t start, done;
    struct tx_signed **txs;
    size_t count;
    size_t next;         /* the next transaction to take (atomic) */
    bool stop;
    int failures;
};

/*
 * Recovers senders until none is left. Threads take the next few transactions from a shared
 * counter rather than a fixed slice each, so one thread the scheduler preempts (the machine
 * is shared) does not hold the others up at the barrier.
 */
static void recover_some(struct recover_pool *p)
{
    struct cohort_error err = {0};
    for (;;) {
        size_t from = __atomic_fetch_add(&p->next, RECOVER_CHUNK, __ATOMIC_RELAXED);
        if (from >= p->count) break;
        size_t to = from + RECOVER_CHUNK < p->count ? from + RECOVER_CHUNK : p->count;
        for (size_t i = from; i < to; i++)
            if (tx_recover_sender(p->txs[i], &err) != 0) __atomic_add_fetch(&p->failures, 1, __ATOMIC_RELAXED);
    }
}

struct worker_arg {
    struct recover_pool *pool;
    unsigned index;
};

static void *recover_worker(void *arg)
{
    struct worker_arg *a = arg;
    for (;;) {
        pthread_barrier_wait(&a->pool->start);
        if (a->pool->stop) break;
        recover_some(a->pool);
        pthread_barrier_wait(&a->pool->done);
    }
    return NULL;
}

static struct worker_arg *pool_start(struct recover_pool *p, unsigned threads)
{
    memset(p, 0, sizeof *p);
    p->threads = threads;
    if (threads <= 1) return NULL;
    p->ids = xcalloc(threads, sizeof *p->ids);
    struct worker_arg *args = xcalloc(threads, sizeof *args);
    pthread_barrier_init(&p->start, NULL, threads);
    pthread_barrier_init(&p->done, NULL, threads);
    for (unsigned i = 1; i < threads; i++) {
        args[i] = (struct worker_arg){.pool = p, .index = i};
        if (pthread_create(&p->ids[i], NULL, recover_worker, &args[i]) != 0) die("cannot start a thread", NULL);
    }
    return args;
}

/* Recovers the senders of txs[0..count) on the pool's threads (the caller's is thread 0). */
static int pool_recover(struct recover_pool *p, struct tx_signed **txs, size_t count)
{
    p->txs = txs;
    p->count = count;
    p->next = 0;
    p->failures = 0;
    if (p->threads <= 1) {
        recover_some(p);
        return p->failures;
    }
    pthread_barrier_wait(&p->start);
    recover_some(p);
    pthread_barrier_wait(&p->done);
    return p->failures;
}

static void pool_stop(struct recover_pool *p, struct worker_arg *args)
{
    if (p->threads <= 1) return;
    p->stop = true;
    pthread_barrier_wait(&p->start);
    for (unsigned i = 1; i < p->threads; i++) pthread_join(p->ids[i], NULL);
    pthread_barrier_destroy(&p->start);
    pthread_barrier_destroy(&p->done);
    free(p->ids);
    free(args);
}

/* ---- Phases ---- */

/*
 * The admission phases are what the node's RPC threads do for each transaction
 * (eth_sendRawTransaction: decode, recover, read the sender's account, txpool_add); the
 * others are the proposer's and executor's thread, per block.
 */
enum phase {
    P_ADMIT_DECODE, P_ADMIT_RECOVER, P_ADMIT_ACCOUNT, P_ADMIT_ADD,
    P_PICK, P_DECODE, P_RECOVER, P_BEGIN, P_EXECUTE, P_APPLY, P_WRITE, P_COMMIT, P_POOL, P_COUNT
};
#define P_FIRST_BLOCK P_PICK
static const char *const phase_names[P_COUNT] = {
    "admit.decode", "admit.recover", "admit.account", "admit.add", "pick", "decode", "recover", "begin",
    "execute", "apply", "write", "commit", "pool"};

struct totals {
    double wall[P_COUNT], cpu[P_COUNT];
    uint64_t txs, gas, blocks;
    double *block_wall;     /* per timed block: the whole block */
    double *block_apply;    /* per timed block: apply */
    /* the splits, copied from hook at the end */
    double lmdb[HP_COUNT], keccak, vm, roots, fsync;
    uint64_t lmdb_calls[HP_COUNT], keccak_calls, fsync_calls;
};

struct phase_clock {
    double wall, cpu;
};

static struct phase_clock phase_begin(enum hook_phase hp)
{
    hook.phase = hp;
    return (struct phase_clock){.wall = wall_now(), .cpu = cpu_now()};
}

static void phase_end(struct totals *t, bool counted, enum phase p, struct phase_clock c)
{
    double w = wall_now() - c.wall, u = cpu_now() - c.cpu;
    hook.phase = HP_NONE;
    if (!counted) return;
    t->wall[p] += w;
    t->cpu[p] += u;
}

/* The pool's re-read of a sender after a block, through a view at the new head (cn_pool_block). */
struct pool_reader {
    struct store_view *view;
    uint64_t head;
};

static int pool_read_account(void *arg, const uint8_t address[20], struct txpool_account *out, struct cohort_error *err)
{
    struct pool_reader *r = arg;
    struct store_account a;
    int rc = store_account(r->view, r->head, address, &a, err);
    if (rc < 0) return rc;
    out->nonce = rc == 1 ? a.nonce : 0;
    out->balance = rc == 1 ? a.balance : u256_zero();
    return 0;
}

static void block_hash_of(void *arg, uint64_t number, uint8_t out[32])
{
    struct store_txn *t = arg;
    struct cohort_error err = {0};
    if (store_txn_block_hash(t, number, out, &err) != 1) memset(out, 0, 32);
}

static void no_block_hash(void *arg, uint64_t number, uint8_t out[32])
{
    (void)arg;
    (void)number;
    memset(out, 0, 32);
}

/* ---- Main ---- */

static void usage(void)
{
    fprintf(stderr,
            "usage: chain_bench [--txs N] [--senders N] [--accounts N] [--holders N] [--gas-limit GAS]\n"
            "                   [--recover-threads N] [--recover-in-block] [--warmup BLOCKS] [--verify] [--no-split]\n"
            "                   [--per-block]\n"
            "                   [--dir DIR] [--keep] [--map-gib N] [--token FILE] [--seed N]\n");
    exit(2);
}

static uint64_t parse_u64(const char *name, const char *text, uint64_t min, uint64_t max)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno != 0 || *end != 0 || end == text || v < min || v > max) {
        fprintf(stderr, "chain_bench: %s wants a whole number from %llu to %llu, not \"%s\"\n", name,
                (unsigned long long)min, (unsigned long long)max, text);
        exit(2);
    }
    return v;
}

static void parse_options(int argc, char **argv, struct options *o)
{
    *o = (struct options){.txs = 20000,
                          .senders = 1000,
                          .gas_limit = 30000000,
                          .recover_threads = 1,
                          .warmup = 2,
                          .split = true,
                          .map_gib = 8,
                          .token = COHORT_BENCH_TOKEN,
                          .seed = 1};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool takes = true;
        if (strcmp(a, "--txs") == 0 && v) o->txs = parse_u64(a, v, 1, TXS_MAX);
        else if (strcmp(a, "--senders") == 0 && v) o->senders = (uint32_t)parse_u64(a, v, 1, SENDERS_MAX);
        else if (strcmp(a, "--accounts") == 0 && v) o->accounts = parse_u64(a, v, 0, ACCOUNTS_MAX);
        else if (strcmp(a, "--holders") == 0 && v) o->holders = parse_u64(a, v, 0, ACCOUNTS_MAX);
        else if (strcmp(a, "--gas-limit") == 0 && v) o->gas_limit = parse_u64(a, v, 100000, 1000000000);
        else if (strcmp(a, "--recover-threads") == 0 && v)
            o->recover_threads = (unsigned)parse_u64(a, v, 1, THREADS_MAX);
        else if (strcmp(a, "--warmup") == 0 && v) o->warmup = (unsigned)parse_u64(a, v, 0, 1000);
        else if (strcmp(a, "--dir") == 0 && v) o->dir = v;
        else if (strcmp(a, "--map-gib") == 0 && v) o->map_gib = parse_u64(a, v, 1, 4096);
        else if (strcmp(a, "--token") == 0 && v) o->token = v;
        else if (strcmp(a, "--seed") == 0 && v) o->seed = parse_u64(a, v, 0, UINT64_MAX);
        else {
            takes = false;
            if (strcmp(a, "--recover-in-block") == 0) o->recover_in_block = true;
            else if (strcmp(a, "--verify") == 0) o->verify = true;
            else if (strcmp(a, "--no-split") == 0) o->split = false;
            else if (strcmp(a, "--per-block") == 0) o->per_block = true;
            else if (strcmp(a, "--keep") == 0) o->keep = true;
            else usage();
        }
        if (takes) i++;
    }
}

static void remove_store(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/data.mdb", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/lock.mdb", dir);
    unlink(path);
    rmdir(dir);
}

/* One phase's line; a split (cpu < 0) has no CPU figure of its own. */
static void print_phase(const char *name, double wall, double cpu, const struct totals *t, double total_wall,
                        double total_cpu, const char *extra)
{
    printf("phase name=%s wall_ms=%.1f wall_pct=%.1f", name, wall * 1e3, 100 * wall / total_wall);
    if (cpu >= 0) printf(" cpu_ms=%.1f cpu_pct=%.1f", cpu * 1e3, total_cpu > 0 ? 100 * cpu / total_cpu : 0);
    printf(" per_block_ms=%.2f per_tx_us=%.2f%s\n", wall * 1e3 / (double)t->blocks, wall * 1e6 / (double)t->txs,
           extra ? extra : "");
}

int main(int argc, char **argv)
{
    struct options o;
    parse_options(argc, argv, &o);
    struct cohort_error err = {0};
    if (secp_init(&err) != 0) die("secp", &err);
    uint64_t rng = o.seed;
    double load_start[3];
    load_average(load_start);

    /* The splits' clock and its own cost, which every timed call pays (about twice). */
    calibrate_ticks();
    uint64_t sink = 0;
    double c0 = cpu_now();
    for (int i = 0; i < 1000000; i++) sink += tick_now();
    double clock_ns = (cpu_now() - c0) / 1000000 * 1e9 + (double)(sink & 1) * 0;

    /* ---- The workload ---- */
    struct workload w = {.sender_count = o.senders};
    w.keys = xcalloc(o.senders, sizeof *w.keys);
    w.senders = xcalloc(o.senders, sizeof *w.senders);
    for (uint32_t i = 0; i < o.senders; i++) {
        do rng_bytes(&rng, w.keys[i], 32);
        while (secp_private_key_check(w.keys[i], NULL) != 0);
        if (secp_address_from_secret(w.keys[i], w.senders[i], &err) != 0) die("a sender's address", &err);
    }
    rng_bytes(&rng, w.coinbase, 20);
    rng_bytes(&rng, w.token, 20);
    static uint8_t token_code[TOKEN_CODE_MAX];
    w.token_code = token_code;
    w.token_code_len = load_token(o.token, token_code, sizeof token_code);
    /* Fee caps far above any base fee a run reaches (full blocks raise it 12.5% a block from
       1 gwei: 2^200 wei is over 1,000 full blocks away) and balances that cover them. */
    w.max_fee = pow2(200);
    w.tip = u256_from_u64(GWEI);
    w.sender_eth = pow2(250);
    w.sender_tokens = u256_mul(u256_from_u64(GWEI), u256_from_u64(GWEI)); /* 10^18 units */

    uint64_t used = measure_transfer_gas(&w);
    w.tx_gas = used + TX_GAS_MARGIN;
    uint64_t per_block = o.gas_limit / w.tx_gas;
    if (per_block == 0) die("the block gas limit is below one transfer's", NULL);
    uint64_t warmup_txs = per_block * o.warmup;
    w.tx_count = o.txs + warmup_txs;
    double t_sign = wall_now();
    sign_all(&w, &rng);
    t_sign = wall_now() - t_sign;

    /* ---- The genesis, in memory and then in the store ---- */
    char dir_buf[64];
    const char *dir = o.dir;
    if (dir == NULL) {
        snprintf(dir_buf, sizeof dir_buf, "/tmp/chain_bench.XXXXXX");
        if (mkdtemp(dir_buf) == NULL) {
            perror("chain_bench: mkdtemp");
            return 1;
        }
        dir = dir_buf;
    }
    if (!o.keep) die_removes = dir;
    double t_genesis = wall_now();
    struct state *genesis = genesis_state(&w, &o, &rng);
    struct block_header parent = {0};
    uint8_t parent_hash[32];
    if (state_root(genesis, parent.state_root, &err) != 0) die("the genesis root", &err);
    memcpy(parent.ommers_hash, block_empty_ommers_hash, 32);
    memcpy(parent.transactions_root, trie_empty_root, 32);
    memcpy(parent.receipts_root, trie_empty_root, 32);
    parent.gas_limit = o.gas_limit;
    parent.timestamp = 1700000000;
    parent.has_base_fee = true;
    parent.base_fee = u256_from_u64(MIN_BASE_FEE_WEI);
    parent.has_withdrawals_root = true;
    memcpy(parent.withdrawals_root, trie_empty_root, 32);
    parent.has_blob_gas = true;
    parent.has_parent_beacon_root = true;
    block_header_hash(&parent, parent_hash);

    struct store_options so = {.dir = dir, .map_bytes = o.map_gib << 30};
    struct store *store;
    if (store_open(&so, &store, &err) != 0) die("opening the store", &err);
    struct store_txn *txn;
    uint8_t root[32];
    if (store_write_begin(store, &txn, &err) != 0 || store_txn_bind_chain(txn, parent_hash, CHAIN_ID, &err) != 0 ||
        store_txn_apply_state(txn, genesis, 0, root, &err) != 0)
        die("writing the genesis", &err);
    if (memcmp(root, parent.state_root, 32) != 0) die("the store's genesis root differs from the in-memory trie's", NULL);
    struct store_block gb = {.header = &parent, .hash = parent_hash};
    if (store_txn_put_block(txn, &gb, &err) != 0 || store_write_commit(txn, &err) != 0) die("writing the genesis", &err);
    t_genesis = wall_now() - t_genesis;
    if (!o.verify) {
        state_free(genesis);
        genesis = NULL;
    }
    uint64_t genesis_bytes, map_bytes;
    store_usage(store, &genesis_bytes, &map_bytes);

    printf("# chain_bench: ERC-20 transfers to fresh addresses, chain id %u, Cancun; token code %zu bytes (%s)\n",
           CHAIN_ID, w.token_code_len, o.token);
    printf("# senders=%u accounts=%llu holders=%llu gas_limit=%llu transfer_gas=%llu tx_gas_limit=%llu "
           "tx_per_block=%llu warmup_blocks=%u recover_threads=%u recover_in_block=%s split=%s\n",
           o.senders, (unsigned long long)o.accounts, (unsigned long long)o.holders, (unsigned long long)o.gas_limit,
           (unsigned long long)used, (unsigned long long)w.tx_gas, (unsigned long long)per_block, o.warmup,
           o.recover_threads, o.recover_in_block ? "yes" : "no", o.split ? "yes" : "no");
    printf("# setup: signed and checked %llu transfers in %.1f s; genesis (%llu accounts) written in %.1f s, "
           "%.1f MiB; clock read %.0f ns; store %s\n",
           (unsigned long long)w.tx_count, t_sign,
           (unsigned long long)(o.senders + 1 + o.accounts), t_genesis, (double)genesis_bytes / (1 << 20), clock_ns,
           dir);
    fflush(stdout);

    /* ---- The blocks ---- */
    uint64_t blocks_total = o.warmup + (o.txs + per_block - 1) / per_block;
    struct totals tot = {0};
    tot.block_wall = xcalloc(blocks_total, sizeof *tot.block_wall);
    tot.block_apply = xcalloc(blocks_total, sizeof *tot.block_apply);
    struct state *st = state_new();
    if (st == NULL) die("out of memory", NULL);
    /* The pool as the node configures it (proposer.c: cn_pool_create). */
    struct txpool_config pc = {.chain_id = CHAIN_ID,
                               .revision = EVM_CANCUN,
                               .block_gas_limit = o.gas_limit,
                               .max_per_sender = 1000,
                               .hash_seed = rng_next(&rng)};
    struct txpool *txp;
    if (txpool_new(&pc, &txp, &err) != 0) die("txpool_new", &err);
    /* The pool is kept this full, as clients sending steadily would keep it. */
    uint64_t pool_target = 2 * per_block < TXPOOL_DEFAULT_MAX_TRANSACTIONS ? 2 * per_block : TXPOOL_DEFAULT_MAX_TRANSACTIONS;
    size_t pick_cap = (size_t)per_block + 1;
    const struct tx_signed **picked = xcalloc(pick_cap, sizeof *picked);
    struct tx_signed **txs = xcalloc(pick_cap, sizeof *txs);
    const uint8_t **raws = xcalloc(pick_cap, sizeof *raws);
    size_t *lens = xcalloc(pick_cap, sizeof *lens);
    uint8_t (*hashes)[32] = xcalloc(pick_cap, sizeof *hashes);
    uint8_t (*tx_senders)[20] = xcalloc(pick_cap, sizeof *tx_senders);
    size_t entry_cap = BATCH_HEADER_BYTES + pick_cap * (4 + TX_RAW_MAX_BYTES / 512) + BATCH_SIGNATURE_BYTES;
    uint8_t *entry = xcalloc(entry_cap, 1);
    /* The member's key that signs each batch, as the proposer does. */
    uint8_t member_key[SECP_PRIVATE_KEY_BYTES];
    {
        struct cohort_error kerr = {0};
        if (secp_key_generate(member_key, &kerr) != 0) die("secp_key_generate", &kerr);
    }
    struct recover_pool workers;
    struct worker_arg *worker_args = pool_start(&workers, o.recover_threads);
    uint64_t admitted = 0, gas_expected_min = UINT64_MAX, gas_expected_max = 0;
    int failures = 0;

    for (uint64_t b = 0; b < blocks_total; b++) {
        bool counted = b >= o.warmup;
        struct block_header h;
        begin_header(&parent, parent_hash, w.coinbase, o.gas_limit, &h);

        /* Admission, as eth_sendRawTransaction does it (node_rpc.c, proposer.c's cn_pool_admit),
           until the pool holds pool_target transactions. Transfer j is counted when it is not
           one of the warmup blocks'. */
        for (;;) {
            struct txpool_stats ps;
            txpool_stats(txp, &ps);
            if (admitted >= w.tx_count || ps.pending + ps.queued >= pool_target) break;
            uint64_t j = admitted++;
            bool timed = j >= warmup_txs;
            hook.on = o.split && timed;
            struct tx_signed *t;
            struct phase_clock c = phase_begin(HP_ADMIT);
            if (tx_decode(w.raws[j], w.raw_lens[j], TX_RAW_MAX_BYTES, &t, &err) != 0) die("admission: decode", &err);
            phase_end(&tot, timed, P_ADMIT_DECODE, c);
            c = phase_begin(HP_ADMIT);
            if (tx_recover_sender(t, &err) != 0) die("admission: recover", &err);
            phase_end(&tot, timed, P_ADMIT_RECOVER, c);
            c = phase_begin(HP_ADMIT);
            struct store_view *av;
            uint64_t ahead = 0;
            struct store_account aa;
            if (store_view_begin(store, &av, &err) != 0) die("admission: store_view_begin", &err);
            store_view_head(av, &ahead, NULL);
            int arc = store_account(av, ahead, t->tx.sender, &aa, &err);
            store_view_end(av);
            if (arc < 0) die("admission: store_account", &err);
            struct txpool_account acct = {.nonce = arc == 1 ? aa.nonce : 0, .balance = arc == 1 ? aa.balance : u256_zero()};
            phase_end(&tot, timed, P_ADMIT_ACCOUNT, c);
            c = phase_begin(HP_ADMIT);
            enum txpool_refusal refusal;
            int prc = txpool_add(txp, t, &acct, h.base_fee, &refusal, &err);
            phase_end(&tot, timed, P_ADMIT_ADD, c);
            if (prc != 0) die("admission: txpool_add refused a transfer", &err);
        }
        hook.on = o.split && counted;
        double block_t0 = wall_now();

        /* pick: the proposer takes ready transactions for the block's gas and makes the batch
           entry the BFT log would carry (proposer.c: cn_propose) */
        struct phase_clock c = phase_begin(HP_NONE);
        struct txpool_pick_limits limits = {
            .gas = o.gas_limit, .bytes = entry_cap - BATCH_HEADER_BYTES - BATCH_SIGNATURE_BYTES, .overhead_bytes = 4,
            .count = pick_cap};
        size_t count = txpool_pick(txp, h.base_fee, &limits, picked, pick_cap);
        struct batch_header bh = {.timestamp_ms = h.timestamp * 1000, .parent_number = parent.number, .count = (uint32_t)count};
        memcpy(bh.parent_hash, parent_hash, 32);
        batch_header_encode(&bh, entry);
        size_t entry_len = BATCH_HEADER_BYTES;
        for (size_t i = 0; i < count; i++) {
            assert(entry_len + 4 + picked[i]->raw_len <= entry_cap);
            be_put(entry + entry_len, picked[i]->raw_len, 4);
            memcpy(entry + entry_len + 4, picked[i]->raw, picked[i]->raw_len);
            entry_len += 4 + picked[i]->raw_len;
        }
        uint8_t signing_hash[32];
        batch_signing_hash(entry, entry_len, signing_hash);
        if (secp_sign(member_key, signing_hash, entry + entry_len, &err) != 0) die("signing the batch", &err);
        entry_len += BATCH_SIGNATURE_BYTES;
        phase_end(&tot, counted, P_PICK, c);

        /* decode: the executor reads the committed batch (executor.c: read_batches) */
        c = phase_begin(HP_NONE);
        struct batch_header got;
        if (batch_decode(entry, entry_len, TX_RAW_MAX_BYTES, &got, &err) != 0) die("batch_decode", &err);
        size_t at = 0, n_in = 0;
        const uint8_t *raw;
        size_t raw_len;
        while (batch_next_tx(entry, entry_len, &at, &raw, &raw_len) == 1) {
            if (tx_decode(raw, raw_len, TX_RAW_MAX_BYTES, &txs[n_in], &err) != 0) die("decoding a transfer", &err);
            n_in++;
        }
        assert(n_in == count);
        phase_end(&tot, counted, P_DECODE, c);

        /* recover: the pool knows the senders it admitted (cn_pool_sender); --recover-in-block
           recovers them again, as a member whose pool never saw the transactions must */
        c = phase_begin(HP_NONE);
        if (!o.recover_in_block) {
            for (size_t i = 0; i < count; i++) {
                if (txpool_sender(txp, txs[i]->hash, txs[i]->tx.sender)) txs[i]->sender_known = true;
                else if (tx_recover_sender(txs[i], &err) != 0) die("a sender did not recover", &err);
            }
        } else if (pool_recover(&workers, txs, count) != 0) {
            die("a sender did not recover", NULL);
        }
        phase_end(&tot, counted, P_RECOVER, c);

        /* begin */
        c = phase_begin(HP_NONE);
        if (store_write_begin(store, &txn, &err) != 0) die("store_write_begin", &err);
        phase_end(&tot, counted, P_BEGIN, c);

        /* execute */
        c = phase_begin(HP_EXECUTE);
        struct state_backend backend;
        store_txn_backend(txn, &backend);
        state_reset(st);
        state_set_backend(st, &backend);
        struct block_exec_input input = {
            .header = &h,
            .revision = EVM_CANCUN,
            .chain_id = u256_from_u64(CHAIN_ID),
            .txs = txs,
            .tx_count = count,
            .mode = BLOCK_BUILD,
            .block_hash = block_hash_of,
            .block_hash_arg = txn,
        };
        struct block_exec_result r;
        int rc = block_execute(st, &input, &r, &err);
        const struct cohort_error *backend_err = state_backend_error(st);
        phase_end(&tot, counted, P_EXECUTE, c);
        if (rc != 0) die("block_execute", &err);
        if (backend_err != NULL) die("the store backend", backend_err);

        /* apply */
        c = phase_begin(HP_APPLY);
        double apply_t0 = c.wall;
        if (store_txn_apply_state(txn, st, h.number, h.state_root, &err) != 0) die("store_txn_apply_state", &err);
        double apply_wall = wall_now() - apply_t0;
        phase_end(&tot, counted, P_APPLY, c);

        /* write */
        c = phase_begin(HP_WRITE);
        h.gas_used = r.gas_used;
        h.blob_gas_used = r.blob_gas_used;
        memcpy(h.logs_bloom, r.logs_bloom, BLOCK_BLOOM_BYTES);
        memcpy(h.transactions_root, r.transactions_root, 32);
        memcpy(h.receipts_root, r.receipts_root, 32);
        memcpy(h.withdrawals_root, r.withdrawals_root, 32);
        uint8_t hash[32];
        block_header_hash(&h, hash);
        size_t k = r.included_count;
        for (size_t i = 0; i < k; i++) {
            const struct tx_signed *t = txs[r.included[i]];
            raws[i] = t->raw;
            lens[i] = t->raw_len;
            memcpy(hashes[i], t->hash, 32);
        }
        struct store_block sb = {.header = &h,
                                 .hash = hash,
                                 .txs = raws,
                                 .tx_lens = lens,
                                 .tx_hashes = (const uint8_t(*)[32])hashes,
                                 .receipts = r.receipts,
                                 .tx_count = k};
        if (store_txn_put_block(txn, &sb, &err) != 0 || store_txn_set_applied(txn, b + 1, &err) != 0)
            die("writing the block", &err);
        phase_end(&tot, counted, P_WRITE, c);

        /* commit */
        c = phase_begin(HP_COMMIT);
        if (store_write_commit(txn, &err) != 0) die("store_write_commit", &err);
        double commit_wall = wall_now() - c.wall;
        phase_end(&tot, counted, P_COMMIT, c);

        /* pool: the block's transactions leave the pool and its senders are re-read from the
           new head (proposer.c: cn_pool_block) */
        c = phase_begin(HP_POOL);
        for (size_t i = 0; i < count; i++) memcpy(tx_senders[i], txs[i]->tx.sender, 20);
        struct store_view *pv;
        if (store_view_begin(store, &pv, &err) != 0) die("store_view_begin", &err);
        struct pool_reader reader = {.view = pv, .head = h.number};
        struct txpool_block_update update = {.included = (const uint8_t(*)[32])hashes,
                                             .included_count = k,
                                             .senders = (const uint8_t(*)[20])tx_senders,
                                             .sender_count = count,
                                             .release_in_flight = true};
        if (txpool_block(txp, &update, pool_read_account, &reader, &err) != 0) die("txpool_block", &err);
        store_view_end(pv);
        phase_end(&tot, counted, P_POOL, c);
        double block_wall = wall_now() - block_t0;
        if (o.per_block && counted) {
            /* How a block's cost moves as the state grows: apply and commit, the store's size. */
            uint64_t used_now, map_now;
            store_usage(store, &used_now, &map_now);
            printf("block number=%llu txs=%zu wall_ms=%.1f apply_ms=%.1f commit_ms=%.1f state_bytes=%llu\n",
                   (unsigned long long)h.number, r.included_count, block_wall * 1e3, apply_wall * 1e3,
                   commit_wall * 1e3,
                   (unsigned long long)used_now);
        }

        /* Checks, outside the timing. */
        size_t expected = (size_t)(b < blocks_total - 1 ? per_block : w.tx_count - per_block * (blocks_total - 1));
        if (count != expected) {
            fprintf(stderr, "chain_bench: block %llu: the pool gave %zu transfers, not %zu\n",
                    (unsigned long long)h.number, count, expected);
            failures++;
        }
        if (r.dropped_count != 0 || k != count) {
            fprintf(stderr, "chain_bench: block %llu dropped %zu of %zu transfers (first: reason %d)\n",
                    (unsigned long long)h.number, r.dropped_count, count, r.dropped_count ? (int)r.dropped[0].reason : 0);
            failures++;
        }
        for (size_t i = 0; i < k; i++)
            if (!r.receipts[i].success) {
                fprintf(stderr, "chain_bench: block %llu: transfer %zu reverted\n", (unsigned long long)h.number, i);
                failures++;
                break;
            }
        if (k > 0) {
            uint64_t lo = r.gas_used / k, hi = (r.gas_used + k - 1) / k;
            if (lo < gas_expected_min) gas_expected_min = lo;
            if (hi > gas_expected_max) gas_expected_max = hi;
        }
        if (o.verify) {
            /* The same block on the in-memory state: its root must be the store's. */
            struct block_exec_result r2;
            struct block_exec_input in2 = input;
            in2.block_hash = no_block_hash; /* the store transaction is gone (the token never asks) */
            in2.block_hash_arg = NULL;
            if (block_execute(genesis, &in2, &r2, &err) != 0) die("verify: block_execute in memory", &err);
            uint8_t mem_root[32];
            if (state_root(genesis, mem_root, &err) != 0) die("verify: state_root", &err);
            if (memcmp(mem_root, h.state_root, 32) != 0 || memcmp(r2.receipts_root, r.receipts_root, 32) != 0 ||
                r2.gas_used != r.gas_used) {
                fprintf(stderr, "chain_bench: verify: block %llu: the store's state root or receipts differ from the "
                                "in-memory execution's\n",
                        (unsigned long long)h.number);
                failures++;
            }
            block_exec_result_free(&r2);
        }
        if (counted) {
            tot.block_wall[tot.blocks] = block_wall;
            tot.block_apply[tot.blocks] = apply_wall;
            tot.blocks++;
            tot.txs += k;
            tot.gas += r.gas_used;
        }
        block_exec_result_free(&r);
        for (size_t i = 0; i < count; i++) tx_free(txs[i]);
        parent = h;
        memcpy(parent_hash, hash, 32);
    }
    hook.on = false;
    pool_stop(&workers, worker_args);
    struct txpool_stats left;
    txpool_stats(txp, &left);
    if (left.pending + left.queued != 0) {
        fprintf(stderr, "chain_bench: the pool still holds %llu transfers\n",
                (unsigned long long)(left.pending + left.queued));
        failures++;
    }
    txpool_free(txp);
    for (int p = 0; p < HP_COUNT; p++) tot.lmdb[p] = (double)hook.lmdb[p] * tick_seconds;
    memcpy(tot.lmdb_calls, hook.lmdb_calls, sizeof tot.lmdb_calls);
    tot.keccak = (double)hook.keccak * tick_seconds;
    tot.keccak_calls = hook.keccak_calls;
    tot.vm = (double)hook.vm * tick_seconds;
    tot.roots = (double)hook.roots * tick_seconds;
    tot.fsync = (double)hook.fsync * tick_seconds;
    tot.fsync_calls = hook.fsync_calls;
    uint64_t timed_calls = tot.keccak_calls + hook.roots_calls + tot.fsync_calls;
    for (int p = 0; p < HP_COUNT; p++) timed_calls += tot.lmdb_calls[p];

    /* ---- Final checks through a read view ---- */
    struct store_view *view;
    if (store_view_begin(store, &view, &err) != 0) die("store_view_begin", &err);
    uint64_t head;
    if (!store_view_head(view, &head, NULL) || head != blocks_total) {
        fprintf(stderr, "chain_bench: the store's head is not block %llu\n", (unsigned long long)blocks_total);
        failures++;
    }
    for (unsigned s = 0; s < SAMPLE_CHECKS && s < w.tx_count; s++) {
        uint64_t j = (w.tx_count - 1) * s / (SAMPLE_CHECKS > 1 ? SAMPLE_CHECKS - 1 : 1);
        u256 v;
        if (store_storage(view, head, w.token, balance_slot(w.recipients[j]), &v, &err) != 0) die("reading a balance", &err);
        if (!u256_eq(v, u256_from_u64(1))) {
            fprintf(stderr, "chain_bench: recipient of transfer %llu holds the wrong token balance\n", (unsigned long long)j);
            failures++;
        }
        uint32_t si = (uint32_t)(j % w.sender_count);
        uint64_t want = w.tx_count / w.sender_count + (si < w.tx_count % w.sender_count ? 1 : 0);
        struct store_account acct;
        if (store_account(view, head, w.senders[si], &acct, &err) != 1 || acct.nonce != want) {
            fprintf(stderr, "chain_bench: sender %u's nonce is not %llu\n", si, (unsigned long long)want);
            failures++;
        }
    }
    store_view_end(view);
    if (gas_expected_max > w.tx_gas || gas_expected_min + TX_GAS_MARGIN < used) {
        fprintf(stderr, "chain_bench: a transfer used %llu..%llu gas, measured %llu\n",
                (unsigned long long)gas_expected_min, (unsigned long long)gas_expected_max, (unsigned long long)used);
        failures++;
    }

    /* ---- Output ---- */
    uint64_t state_bytes;
    store_usage(store, &state_bytes, &map_bytes);
    double load_end[3];
    load_average(load_end);
    /* The block path (the proposer's and executor's thread) and the whole (admission too,
       which the node's RPC threads do alongside). Percentages are of the whole. */
    double block_wall_sum = 0, block_cpu_sum = 0, total_wall = 0, total_cpu = 0;
    for (int p = 0; p < P_COUNT; p++) {
        total_wall += tot.wall[p];
        total_cpu += tot.cpu[p];
        if (p >= P_FIRST_BLOCK) {
            block_wall_sum += tot.wall[p];
            block_cpu_sum += tot.cpu[p];
        }
    }
    qsort(tot.block_wall, tot.blocks, sizeof *tot.block_wall, compare_doubles);
    qsort(tot.block_apply, tot.blocks, sizeof *tot.block_apply, compare_doubles);
    double block_p50 = tot.blocks ? tot.block_wall[tot.blocks / 2] : 0;
    double block_max = tot.blocks ? tot.block_wall[tot.blocks - 1] : 0;
    double apply_p50 = tot.blocks ? tot.block_apply[tot.blocks / 2] : 0;
    double apply_max = tot.blocks ? tot.block_apply[tot.blocks - 1] : 0;
    double txs_d = (double)tot.txs;
    printf("# load average: %.2f at start, %.2f at the end (1 min); %ld cores online\n", load_start[0], load_end[0],
           sysconf(_SC_NPROCESSORS_ONLN));
    printf("chain txs=%llu blocks=%llu tx_per_block=%.1f gas=%llu wall_s=%.3f tx_per_s=%.0f mgas_per_s=%.1f "
           "cpu_s=%.3f tx_per_cpu_s=%.0f mgas_per_cpu_s=%.1f admit_us_per_tx=%.1f admit_cpu_us_per_tx=%.1f "
           "with_admission_tx_per_s=%.0f with_admission_tx_per_cpu_s=%.0f block_p50_ms=%.1f block_max_ms=%.1f "
           "apply_p50_ms=%.1f apply_max_ms=%.1f accounts=%llu holders=%llu state_bytes=%llu genesis_bytes=%llu "
           "recover_threads=%u recover_in_block=%s load1=%.2f check=%s\n",
           (unsigned long long)tot.txs, (unsigned long long)tot.blocks, txs_d / (double)tot.blocks,
           (unsigned long long)tot.gas, block_wall_sum, txs_d / block_wall_sum, (double)tot.gas / block_wall_sum / 1e6,
           block_cpu_sum, txs_d / block_cpu_sum, (double)tot.gas / block_cpu_sum / 1e6,
           (total_wall - block_wall_sum) / txs_d * 1e6, (total_cpu - block_cpu_sum) / txs_d * 1e6, txs_d / total_wall,
           txs_d / total_cpu, block_p50 * 1e3, block_max * 1e3, apply_p50 * 1e3, apply_max * 1e3,
           (unsigned long long)(o.senders + 1 + o.accounts + (blocks_total ? 1 : 0)),
           (unsigned long long)(o.holders + o.senders + w.tx_count), (unsigned long long)state_bytes,
           (unsigned long long)genesis_bytes, o.recover_threads, o.recover_in_block ? "yes" : "no",
           (load_start[0] + load_end[0]) / 2, failures ? "FAIL" : "ok");
    if (o.split)
        printf("# splits: %llu timed calls; their clock reads cost about %.0f ms (%.1f%% of the wall): "
               "--no-split runs without them\n",
               (unsigned long long)timed_calls, 2 * clock_ns * (double)timed_calls / 1e6,
               100 * 2 * clock_ns * (double)timed_calls / 1e9 / total_wall);
    if (o.split) {
        /* The four shares of the whole wall time (admission included): signature
           recovery (at admission and in the block), the VM, the state root (the tries' hashing
           and encoding in memory), LMDB (every call into it, begin and the whole commit). */
        double lmdb = tot.wall[P_BEGIN] + tot.wall[P_COMMIT];
        for (int p = 0; p < HP_COUNT; p++) lmdb += tot.lmdb[p];
        double recover = tot.wall[P_ADMIT_RECOVER] + tot.wall[P_RECOVER];
        double trie = tot.wall[P_APPLY] - tot.lmdb[HP_APPLY];
        double rest = total_wall - recover - tot.vm - trie - lmdb;
        printf("share recover_pct=%.1f vm_pct=%.1f state_root_pct=%.1f lmdb_pct=%.1f other_pct=%.1f\n",
               100 * recover / total_wall, 100 * tot.vm / total_wall, 100 * trie / total_wall, 100 * lmdb / total_wall,
               100 * rest / total_wall);
    }
    for (int p = 0; p < P_COUNT; p++) {
        print_phase(phase_names[p], tot.wall[p], tot.cpu[p], &tot, total_wall, total_cpu, NULL);
        if (!o.split) continue;
        char extra[96];
        if (p == P_EXECUTE) {
            double other = tot.wall[p] - tot.vm - tot.lmdb[HP_EXECUTE] - tot.roots;
            print_phase("execute.vm", tot.vm, -1, &tot, total_wall, 0, NULL);
            snprintf(extra, sizeof extra, " calls=%llu", (unsigned long long)tot.lmdb_calls[HP_EXECUTE]);
            print_phase("execute.lmdb", tot.lmdb[HP_EXECUTE], -1, &tot, total_wall, 0, extra);
            print_phase("execute.roots", tot.roots, -1, &tot, total_wall, 0, NULL);
            print_phase("execute.other", other, -1, &tot, total_wall, 0, NULL);
        } else if (p == P_APPLY) {
            double other = tot.wall[p] - tot.lmdb[HP_APPLY] - tot.keccak;
            snprintf(extra, sizeof extra, " calls=%llu", (unsigned long long)tot.lmdb_calls[HP_APPLY]);
            print_phase("apply.lmdb", tot.lmdb[HP_APPLY], -1, &tot, total_wall, 0, extra);
            snprintf(extra, sizeof extra, " calls=%llu", (unsigned long long)tot.keccak_calls);
            print_phase("apply.keccak", tot.keccak, -1, &tot, total_wall, 0, extra);
            print_phase("apply.other", other, -1, &tot, total_wall, 0, NULL);
        } else if (p == P_WRITE || p == P_POOL) {
            enum hook_phase hp = p == P_WRITE ? HP_WRITE : HP_POOL;
            snprintf(extra, sizeof extra, " calls=%llu", (unsigned long long)tot.lmdb_calls[hp]);
            print_phase(p == P_WRITE ? "write.lmdb" : "pool.lmdb", tot.lmdb[hp], -1, &tot, total_wall, 0, extra);
        } else if (p == P_COMMIT) {
            snprintf(extra, sizeof extra, " calls=%llu written_mib_per_block=%.2f", (unsigned long long)tot.fsync_calls,
                     (double)hook.written / (1 << 20) / (double)tot.blocks);
            print_phase("commit.fsync", tot.fsync, -1, &tot, total_wall, 0, extra);
        }
    }
    if (o.split) {
        /* LMDB's time per phase and table: which tables the store's time goes to. */
        for (int p = HP_ADMIT; p < HP_COUNT; p++)
            for (unsigned d = 0; d < TABLES_MAX; d++)
                if (hook.table_calls[p][d] > 0)
                    printf("lmdb phase=%s table=%s ms=%.1f calls=%llu per_block_ms=%.2f\n", hook_names[p],
                           table_names[d][0] ? table_names[d] : "?", (double)hook.table[p][d] * tick_seconds * 1e3,
                           (unsigned long long)hook.table_calls[p][d],
                           (double)hook.table[p][d] * tick_seconds * 1e3 / (double)tot.blocks);
    }
    fflush(stdout);

    /* ---- Cleanup ---- */
    free(picked);
    free(tx_senders);
    free(entry);
    free(txs);
    free(raws);
    free(lens);
    free(hashes);
    free(tot.block_wall);
    free(tot.block_apply);
    state_free(st);
    state_free(genesis);
    store_close(store);
    if (!o.keep) remove_store(dir);
    for (uint64_t j = 0; j < w.tx_count; j++) free(w.raws[j]);
    free(w.raws);
    free(w.raw_lens);
    free(w.recipients);
    free(w.hashes);
    explicit_bzero(w.keys, (size_t)o.senders * sizeof *w.keys);
    free(w.keys);
    free(w.senders);
    return failures ? 1 : 0;
}
