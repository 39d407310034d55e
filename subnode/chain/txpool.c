/*
 * txpool.c - the transaction pool (txpool.h): admission, per-sender queues, replacement,
 * eviction, picking and what a block changes.
 *
 * Structures:
 *   by_hash    open-addressing map hash -> struct entry (one per transaction held)
 *   by_sender  open-addressing map address -> struct sender
 *   senders    the live senders, dense (for picking and iterating without walking a map)
 *   evict      a binary min-heap of the senders whose highest nonce may be evicted, keyed
 *              by that transaction's worth (ready before future, tip cap, older first);
 *              each sender knows its place (evict_pos) so a change re-sifts it in O(log S)
 *   scratch    as many slots as senders: the pick heap, and the list of senders a block
 *              touched, so neither txpool_pick nor txpool_block allocates
 * A sender's transactions are an array in nonce order: ready = the contiguous run from the
 * sender's state nonce, in flight = a prefix of the ready ones.
 *
 * Memory is reserved before anything changes, so an allocation failure leaves the pool as
 * it was. A sender that empties goes to a free list (its struct and array are reused),
 * never freed mid-operation: loops over touched senders may still look at it.
 */
#include "subnode/chain/txpool.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hex.h"

#define DOMAIN "txpool"
#define NOT_IN_HEAP SIZE_MAX
/* The most transactions and senders the maps are sized for at start. */
#define PRESIZE_MAX 16384u

__extension__ typedef unsigned __int128 u128;

struct sender;

struct entry {
    struct tx_signed *tx;
    struct sender *sender;
    uint64_t seq;   /* admission order: ties in picking and eviction go to the older */
    u256 fee_cap;
    u256 tip_cap;
    u256 cost;      /* gas limit * fee cap + value, 2^256-1 when it overflows */
    bool in_flight;
    bool dead;      /* left the hash map; leaves the sender's array at the next compaction */
};

struct sender {
    uint8_t address[20];
    bool live;
    bool mark;             /* listed once per txpool_block / txpool_remove */
    bool excluded;         /* the sender of the transaction being admitted: out of the evict heap */
    uint64_t nonce;        /* the state nonce last learned */
    struct entry **txs;    /* by nonce, ascending */
    uint32_t len, cap;
    uint32_t ready;        /* txs[0, ready) hold nonce, nonce + 1, ... */
    uint32_t in_flight;    /* txs[0, in_flight) are in flight; in_flight <= ready */
    size_t dense;          /* index in pool->senders */
    size_t evict_pos;      /* index in pool->evict, or NOT_IN_HEAP */
    /* the evict heap's key: the worth of txs[len - 1] */
    bool evict_ready;
    u256 evict_tip;
    uint64_t evict_seq;
    /* the pick heap's key: the effective tip of txs[in_flight] */
    u256 pick_tip;
    uint64_t pick_seq;
    struct sender *next_free;
};

struct table {
    void **slots;
    size_t cap; /* a power of two, or 0 */
    size_t count;
};

struct txpool {
    struct txpool_config config;
    struct table by_hash;   /* struct entry * */
    struct table by_sender; /* struct sender * */
    struct sender **senders;
    size_t nsenders, senders_cap;
    struct sender **evict;  /* capacity senders_cap */
    size_t nevict;
    struct sender **scratch; /* capacity senders_cap */
    struct sender *free_senders;
    struct entry **held;     /* tentatively evicted during txpool_add */
    size_t nheld, held_cap;
    bool pinned;             /* an operation is under way: empty senders are not deleted */
    uint64_t count, bytes, ready, in_flight;
    uint64_t seq;
    uint64_t work;
};

/* ---- Keyed hashing and the open-addressing maps ---- */

static uint64_t load64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static uint64_t mum(uint64_t a, uint64_t b)
{
    u128 r = (u128)a * b;
    return (uint64_t)r ^ (uint64_t)(r >> 64);
}

/*
 * A keyed 64-bit hash of len bytes (20 or 32). The keys are keccak outputs or addresses
 * derived from them, but an attacker chooses which ones reach us: the seed keeps the slot a
 * key lands in unpredictable, so grinding keys into one run of slots does not pay.
 */
static uint64_t keyed_hash(uint64_t seed, const uint8_t *key, size_t len)
{
    uint64_t h = seed ^ 0x9e3779b97f4a7c15ull;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) h = mum(h ^ load64(key + i), 0xa0761d6478bd642full ^ (uint64_t)i);
    if (i < len) {
        uint64_t tail = 0;
        memcpy(&tail, key + i, len - i);
        h = mum(h ^ tail, 0xe7037ed1a0b428dbull);
    }
    return mum(h ^ (h >> 29), 0x8ebc6af09c88c6e3ull ^ seed);
}

static const uint8_t *entry_key(const void *item) { return ((const struct entry *)item)->tx->hash; }
static const uint8_t *sender_key(const void *item) { return ((const struct sender *)item)->address; }

typedef const uint8_t *(*key_fn)(const void *item);

/*
 * The slot holding key, or SIZE_MAX. work (NULL from the queries, which must stay
 * read-only so that readers may share a lock) counts the probes.
 */
static size_t table_find(const struct txpool *p, const struct table *t, const uint8_t *key, size_t len, key_fn keyof,
                         uint64_t *work)
{
    if (t->cap == 0) return SIZE_MAX;
    size_t mask = t->cap - 1;
    size_t i = keyed_hash(p->config.hash_seed, key, len) & mask;
    for (;;) {
        if (work != NULL) (*work)++;
        void *item = t->slots[i];
        if (item == NULL) return SIZE_MAX;
        if (memcmp(keyof(item), key, len) == 0) return i;
        i = (i + 1) & mask;
    }
}

static void table_place(struct txpool *p, struct table *t, void *item, size_t len, key_fn keyof)
{
    size_t mask = t->cap - 1;
    size_t i = keyed_hash(p->config.hash_seed, keyof(item), len) & mask;
    while (t->slots[i] != NULL) {
        p->work++;
        i = (i + 1) & mask;
    }
    t->slots[i] = item;
}

/* Makes room for `more` items at a load of at most one half. Returns 0 or -1 (no memory; unchanged). */
static int table_reserve(struct txpool *p, struct table *t, size_t more, size_t len, key_fn keyof)
{
    size_t need = t->count + more;
    if (t->cap != 0 && need <= t->cap / 2) return 0;
    size_t cap = t->cap ? t->cap : 64;
    while (need > cap / 2) cap *= 2;
    void **slots = calloc(cap, sizeof *slots);
    if (slots == NULL) return -1;
    struct table old = *t;
    t->slots = slots;
    t->cap = cap;
    for (size_t i = 0; i < old.cap; i++) {
        if (old.slots[i] != NULL) table_place(p, t, old.slots[i], len, keyof);
    }
    free(old.slots);
    return 0;
}

/* Inserts an item whose key is absent; room was reserved. */
static void table_insert(struct txpool *p, struct table *t, void *item, size_t len, key_fn keyof)
{
    assert(t->cap != 0);
    assert(t->count + 1 <= t->cap / 2);
    table_place(p, t, item, len, keyof);
    t->count++;
}

/* Removes the item in slot i, shifting later items of its run back (no tombstones). */
static void table_remove_at(struct txpool *p, struct table *t, size_t i, size_t len, key_fn keyof)
{
    size_t mask = t->cap - 1;
    assert(t->slots[i] != NULL);
    t->slots[i] = NULL;
    t->count--;
    size_t hole = i;
    size_t j = (i + 1) & mask;
    while (t->slots[j] != NULL) {
        p->work++;
        size_t home = keyed_hash(p->config.hash_seed, keyof(t->slots[j]), len) & mask;
        /* The item at j may move into the hole when its home is not in (hole, j]. */
        bool stays = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
        if (!stays) {
            t->slots[hole] = t->slots[j];
            t->slots[j] = NULL;
            hole = j;
        }
        j = (j + 1) & mask;
    }
}

/* The entry of hash, or NULL; work as table_find's. */
static struct entry *entry_find(const struct txpool *p, const uint8_t hash[32], uint64_t *work)
{
    size_t i = table_find(p, &p->by_hash, hash, 32, entry_key, work);
    return i == SIZE_MAX ? NULL : p->by_hash.slots[i];
}

static struct sender *sender_find(const struct txpool *p, const uint8_t address[20], uint64_t *work)
{
    size_t i = table_find(p, &p->by_sender, address, 20, sender_key, work);
    return i == SIZE_MAX ? NULL : p->by_sender.slots[i];
}

static void entry_unmap(struct txpool *p, struct entry *e)
{
    size_t i = table_find(p, &p->by_hash, e->tx->hash, 32, entry_key, &p->work);
    assert(i != SIZE_MAX);
    table_remove_at(p, &p->by_hash, i, 32, entry_key);
}

static void entry_free(struct entry *e)
{
    tx_free(e->tx);
    free(e);
}

/* ---- The evict heap: the least worth on top ---- */

/* True when a is worth less than b: future before ready, then the lower tip cap, then the newer. */
static bool worth_less(bool ready_a, u256 tip_a, uint64_t seq_a, bool ready_b, u256 tip_b, uint64_t seq_b)
{
    if (ready_a != ready_b) return !ready_a;
    if (!u256_eq(tip_a, tip_b)) return u256_lt(tip_a, tip_b);
    return seq_a > seq_b;
}

static bool evict_less(const struct sender *a, const struct sender *b)
{
    return worth_less(a->evict_ready, a->evict_tip, a->evict_seq, b->evict_ready, b->evict_tip, b->evict_seq);
}

static void evict_set(struct txpool *p, size_t i, struct sender *s)
{
    p->evict[i] = s;
    s->evict_pos = i;
}

static void evict_sift_up(struct txpool *p, size_t i)
{
    struct sender *s = p->evict[i];
    while (i > 0) {
        p->work++;
        size_t parent = (i - 1) / 2;
        if (!evict_less(s, p->evict[parent])) break;
        evict_set(p, i, p->evict[parent]);
        i = parent;
    }
    evict_set(p, i, s);
}

static void evict_sift_down(struct txpool *p, size_t i)
{
    struct sender *s = p->evict[i];
    for (;;) {
        p->work++;
        size_t child = 2 * i + 1;
        if (child >= p->nevict) break;
        if (child + 1 < p->nevict && evict_less(p->evict[child + 1], p->evict[child])) child++;
        if (!evict_less(p->evict[child], s)) break;
        evict_set(p, i, p->evict[child]);
        i = child;
    }
    evict_set(p, i, s);
}

static void evict_remove(struct txpool *p, struct sender *s)
{
    size_t i = s->evict_pos;
    assert(i < p->nevict && p->evict[i] == s);
    s->evict_pos = NOT_IN_HEAP;
    p->nevict--;
    if (i == p->nevict) return;
    struct sender *moved = p->evict[p->nevict];
    evict_set(p, i, moved);
    evict_sift_up(p, i);
    evict_sift_down(p, moved->evict_pos);
}

/* Whether s offers its highest nonce for eviction: it holds one not in flight. */
static bool evict_eligible(const struct sender *s)
{
    return s->live && !s->excluded && s->len > 0 && s->in_flight < s->len;
}

/* Re-keys s in the evict heap after its tail, readiness or flight changed. */
static void evict_update(struct txpool *p, struct sender *s)
{
    if (!evict_eligible(s)) {
        if (s->evict_pos != NOT_IN_HEAP) evict_remove(p, s);
        return;
    }
    const struct entry *tail = s->txs[s->len - 1];
    s->evict_ready = s->len - 1 < s->ready;
    s->evict_tip = tail->tip_cap;
    s->evict_seq = tail->seq;
    if (s->evict_pos == NOT_IN_HEAP) {
        assert(p->nevict < p->senders_cap);
        evict_set(p, p->nevict++, s);
        evict_sift_up(p, s->evict_pos);
    } else {
        evict_sift_up(p, s->evict_pos);
        evict_sift_down(p, s->evict_pos);
    }
}

/* ---- Senders ---- */

/* Grows the dense array and the two heaps to cap slots. 0 or -1 (the old ones kept). */
static int senders_grow(struct txpool *p, size_t cap)
{
    if (cap <= p->senders_cap) return 0;
    struct sender **dense = realloc(p->senders, cap * sizeof *dense);
    if (dense == NULL) return -1;
    p->senders = dense;
    struct sender **evict = realloc(p->evict, cap * sizeof *evict);
    if (evict == NULL) return -1;
    p->evict = evict;
    struct sender **scratch = realloc(p->scratch, cap * sizeof *scratch);
    if (scratch == NULL) return -1;
    p->scratch = scratch;
    p->senders_cap = cap;
    return 0;
}

/* Makes room for one more sender in the dense array, the heaps and the map. 0 or -1. */
static int senders_reserve(struct txpool *p)
{
    if (table_reserve(p, &p->by_sender, 1, 20, sender_key) != 0) return -1;
    if (p->nsenders < p->senders_cap) return 0;
    return senders_grow(p, p->senders_cap ? p->senders_cap * 2 : 64);
}

/* Room for one more transaction in s's array. 0 or -1. */
static int sender_reserve(struct sender *s)
{
    if (s->len < s->cap) return 0;
    uint32_t cap = s->cap ? s->cap * 2 : 4;
    struct entry **txs = realloc(s->txs, cap * sizeof *txs);
    if (txs == NULL) return -1;
    s->txs = txs;
    s->cap = cap;
    return 0;
}

/* A new live sender with an empty queue; room was reserved (senders_reserve), s allocated. */
static void sender_link(struct txpool *p, struct sender *s, const uint8_t address[20], uint64_t nonce)
{
    memcpy(s->address, address, 20);
    s->live = true;
    s->mark = false;
    s->excluded = false;
    s->nonce = nonce;
    s->len = 0;
    s->ready = 0;
    s->in_flight = 0;
    s->evict_pos = NOT_IN_HEAP;
    s->next_free = NULL;
    table_insert(p, &p->by_sender, s, 20, sender_key);
    s->dense = p->nsenders;
    p->senders[p->nsenders++] = s;
}

/* An empty sender leaves the map and the dense array for the free list. */
static void sender_delete(struct txpool *p, struct sender *s)
{
    assert(s->live);
    assert(s->len == 0);
    assert(s->evict_pos == NOT_IN_HEAP);
    size_t i = table_find(p, &p->by_sender, s->address, 20, sender_key, &p->work);
    assert(i != SIZE_MAX);
    table_remove_at(p, &p->by_sender, i, 20, sender_key);
    struct sender *last = p->senders[--p->nsenders];
    p->senders[s->dense] = last;
    last->dense = s->dense;
    s->live = false;
    s->next_free = p->free_senders;
    p->free_senders = s;
}

/*
 * Settles s after a change: txs[0, valid) are known to be ready (valid <= s->ready); the
 * ready run is extended from there, the in-flight prefix cut to it, the evict heap told,
 * and an empty sender deleted (unless an operation has the pool pinned).
 */
static void settle(struct txpool *p, struct sender *s, uint32_t valid)
{
    assert(valid <= s->ready || valid == 0);
    assert(valid <= s->len);
    uint32_t r = valid;
    while (r < s->len && s->txs[r]->tx->tx.nonce == s->nonce + r) {
        p->work++;
        r++;
    }
    p->ready = p->ready - s->ready + r;
    s->ready = r;
    if (s->in_flight > r) {
        for (uint32_t i = r; i < s->in_flight; i++) s->txs[i]->in_flight = false;
        p->in_flight -= s->in_flight - r;
        s->in_flight = r;
    }
    evict_update(p, s);
    if (s->len == 0 && !p->pinned && s->live) sender_delete(p, s);
}

/* The index of the first transaction of s with nonce >= nonce (binary search). */
static uint32_t lower_bound(struct txpool *p, const struct sender *s, uint64_t nonce)
{
    uint32_t lo = 0, hi = s->len;
    while (lo < hi) {
        p->work++;
        uint32_t mid = lo + (hi - lo) / 2;
        if (s->txs[mid]->tx->tx.nonce < nonce) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

/*
 * Keeps the transactions of s that are not dead, not below s->nonce and (balance not NULL)
 * affordable; frees the others. The counts follow; the ready run is recomputed.
 */
static void filter(struct txpool *p, struct sender *s, const u256 *balance)
{
    uint32_t kept = 0, flying = 0;
    for (uint32_t i = 0; i < s->len; i++) {
        p->work++;
        struct entry *e = s->txs[i];
        bool keep = !e->dead && e->tx->tx.nonce >= s->nonce && (balance == NULL || !u256_lt(*balance, e->cost));
        if (keep) {
            if (e->in_flight) flying++;
            s->txs[kept++] = e;
            continue;
        }
        if (!e->dead) entry_unmap(p, e);
        p->count--;
        p->bytes -= e->tx->raw_len;
        if (e->in_flight) p->in_flight--;
        entry_free(e);
    }
    /* Kept in-flight ones still form a prefix: removal keeps the order. */
    s->len = kept;
    s->in_flight = flying;
    p->ready -= s->ready;
    s->ready = 0;
    settle(p, s, 0);
}

/* ---- Refusals ---- */

static const char *const refusal_names[TXPOOL_REFUSAL_COUNT] = {
    [TXPOOL_ACCEPTED] = "ACCEPTED",
    [TXPOOL_ALREADY_KNOWN] = "ALREADY_KNOWN",
    [TXPOOL_INVALID_SENDER] = "INVALID_SENDER",
    [TXPOOL_TYPE_NOT_SUPPORTED] = "TYPE_NOT_SUPPORTED",
    [TXPOOL_NOT_PROTECTED] = "NOT_PROTECTED",
    [TXPOOL_OVERSIZED] = "OVERSIZED",
    [TXPOOL_WRONG_CHAIN_ID] = "WRONG_CHAIN_ID",
    [TXPOOL_NONCE_MAX] = "NONCE_MAX",
    [TXPOOL_INTRINSIC_GAS] = "INTRINSIC_GAS",
    [TXPOOL_INITCODE_SIZE] = "INITCODE_SIZE",
    [TXPOOL_TIP_ABOVE_FEE_CAP] = "TIP_ABOVE_FEE_CAP",
    [TXPOOL_GAS_LIMIT] = "GAS_LIMIT",
    [TXPOOL_FEE_CAP_TOO_LOW] = "FEE_CAP_TOO_LOW",
    [TXPOOL_UNDERPRICED] = "UNDERPRICED",
    [TXPOOL_NONCE_TOO_LOW] = "NONCE_TOO_LOW",
    [TXPOOL_INSUFFICIENT_FUNDS] = "INSUFFICIENT_FUNDS",
    [TXPOOL_IN_FLIGHT] = "IN_FLIGHT",
    [TXPOOL_REPLACE_UNDERPRICED] = "REPLACE_UNDERPRICED",
    [TXPOOL_ACCOUNT_LIMIT] = "ACCOUNT_LIMIT",
    [TXPOOL_FULL] = "FULL",
};

const char *txpool_refusal_name(enum txpool_refusal refusal)
{
    if ((unsigned)refusal >= TXPOOL_REFUSAL_COUNT || refusal_names[refusal] == NULL) return "UNKNOWN";
    return refusal_names[refusal];
}

/* Sets *out and err; the message is geth's words (err->message has no prefix: it goes to clients as is). */
__attribute__((format(printf, 4, 5))) static int refuse(enum txpool_refusal *out, enum txpool_refusal why,
                                                        struct cohort_error *err, const char *fmt, ...)
{
    if (out != NULL) *out = why;
    if (err != NULL) {
        va_list ap;
        va_start(ap, fmt);
        err->code = CHAIN_E_REJECTED;
        err->domain = DOMAIN;
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
    }
    return CHAIN_E_REJECTED;
}

static void dec(u256 v, char *out, size_t cap) { u256_to_dec(v, out, cap); }

static void address_hex(const uint8_t address[20], char out[43])
{
    hex_encode(address, 20, out, 43);
}

/* gas * fee cap + value, or 2^256-1 when it does not fit. */
static u256 tx_cost(const struct chain_tx *tx)
{
    u256 fee = tx_fee_cap(tx);
    u256 gas = u256_from_u64(tx->gas_limit);
    u256 product = u256_mul(fee, gas);
    if (!u256_is_zero(fee) && !u256_eq(u256_div(product, fee), gas)) return u256_max();
    u256 sum = u256_add(product, tx->value);
    if (u256_lt(sum, product)) return u256_max();
    return sum;
}

/* Whether new's fee cap and tip cap are both higher than old's and by TXPOOL_PRICE_BUMP_PERCENT. */
static bool bumped(const struct entry *old, u256 fee_cap, u256 tip_cap)
{
    _Static_assert(TXPOOL_PRICE_BUMP_PERCENT == 10, "the threshold below is old + old / 10");
    /* geth: threshold = old * (100 + 10) / 100 = old + floor(old / 10), and strictly higher. */
    u256 fee_threshold = u256_add(old->fee_cap, u256_div(old->fee_cap, u256_from_u64(10)));
    u256 tip_threshold = u256_add(old->tip_cap, u256_div(old->tip_cap, u256_from_u64(10)));
    if (u256_lt(fee_threshold, old->fee_cap) || u256_lt(tip_threshold, old->tip_cap)) return false; /* overflow */
    return u256_gt(fee_cap, old->fee_cap) && u256_gt(tip_cap, old->tip_cap) && !u256_lt(fee_cap, fee_threshold) &&
           !u256_lt(tip_cap, tip_threshold);
}

/* Maps tx_validate_static's outcome to geth's words. */
static int refuse_static(const struct txpool *p, const struct tx_signed *t, int rc, enum chain_reject_reason reason,
                         const struct cohort_error *why, enum txpool_refusal *out, struct cohort_error *err)
{
    const struct chain_tx *tx = &t->tx;
    if (rc == CHAIN_E_INVALID && reason == CHAIN_REJECT_NONE)
        return refuse(out, TXPOOL_WRONG_CHAIN_ID, err, "invalid sender: invalid chain id for signer: have %llu want %llu",
                      (unsigned long long)t->chain_id, (unsigned long long)p->config.chain_id);
    char from[43];
    switch (reason) {
    case CHAIN_REJECT_TYPE_UNSUPPORTED:
        return refuse(out, TXPOOL_TYPE_NOT_SUPPORTED, err, "transaction type not supported: type %u rejected",
                      tx->type);
    case CHAIN_REJECT_NONCE_MAX:
        return refuse(out, TXPOOL_NONCE_MAX, err, "nonce has max value");
    case CHAIN_REJECT_INTRINSIC_GAS:
        return refuse(out, TXPOOL_INTRINSIC_GAS, err, "intrinsic gas too low: gas %llu, minimum needed %llu",
                      (unsigned long long)tx->gas_limit,
                      (unsigned long long)chain_intrinsic_gas(tx, p->config.revision));
    case CHAIN_REJECT_INITCODE_SIZE:
        return refuse(out, TXPOOL_INITCODE_SIZE, err, "max initcode size exceeded: code size %zu, limit 49152",
                      tx->data_len);
    case CHAIN_REJECT_PRIORITY_OVER_MAX_FEE:
        return refuse(out, TXPOOL_TIP_ABOVE_FEE_CAP, err, "max priority fee per gas higher than max fee per gas");
    case CHAIN_REJECT_VALUE_OVERFLOW:
        address_hex(tx->sender, from);
        return refuse(out, TXPOOL_INSUFFICIENT_FUNDS, err,
                      "insufficient funds for gas * price + value: address %s required balance exceeds 256 bits", from);
    default:
        /* The blob rules: unreachable, type 3 is refused before. */
        return refuse(out, TXPOOL_TYPE_NOT_SUPPORTED, err, "transaction type not supported: %s",
                      why ? why->message : "");
    }
}

/* ---- Making and freeing ---- */

int txpool_new(const struct txpool_config *config, struct txpool **out, struct cohort_error *err)
{
    assert(config != NULL);
    assert(out != NULL);
    *out = NULL;
    if (config->block_gas_limit == 0)
        return cohort_error_set(err, CHAIN_E_INVALID, DOMAIN, "txpool: the block gas limit is 0; give the chain's");
    struct txpool *p = calloc(1, sizeof *p);
    if (p == NULL) return cohort_error_set(err, CHAIN_E_NOMEM, DOMAIN, "txpool: out of memory");
    p->config = *config;
    if (p->config.max_transactions == 0) p->config.max_transactions = TXPOOL_DEFAULT_MAX_TRANSACTIONS;
    if (p->config.max_bytes == 0) p->config.max_bytes = TXPOOL_DEFAULT_MAX_BYTES;
    if (p->config.max_per_sender == 0) p->config.max_per_sender = TXPOOL_DEFAULT_MAX_PER_SENDER;
    if (p->config.max_tx_bytes == 0) p->config.max_tx_bytes = TX_RAW_MAX_BYTES;
    /* Sized for the cap (up to PRESIZE_MAX) at once: growing a map re-places every key, an
       O(n) step better taken at start than in the middle of an admission. */
    size_t presize = p->config.max_transactions < PRESIZE_MAX ? (size_t)p->config.max_transactions : PRESIZE_MAX;
    p->held = malloc(presize * sizeof *p->held);
    p->held_cap = p->held ? presize : 0;
    if (p->held == NULL || table_reserve(p, &p->by_hash, presize, 32, entry_key) != 0 ||
        table_reserve(p, &p->by_sender, presize, 20, sender_key) != 0 || senders_grow(p, presize) != 0) {
        txpool_free(p);
        return cohort_error_set(err, CHAIN_E_NOMEM, DOMAIN, "txpool: out of memory");
    }
    *out = p;
    return 0;
}

void txpool_free(struct txpool *p)
{
    if (p == NULL) return;
    for (size_t i = 0; i < p->nsenders; i++) {
        struct sender *s = p->senders[i];
        for (uint32_t j = 0; j < s->len; j++) entry_free(s->txs[j]);
        free(s->txs);
        free(s);
    }
    while (p->free_senders != NULL) {
        struct sender *s = p->free_senders;
        p->free_senders = s->next_free;
        free(s->txs);
        free(s);
    }
    free(p->by_hash.slots);
    free(p->by_sender.slots);
    free(p->senders);
    free(p->evict);
    free(p->scratch);
    free(p->held);
    free(p);
}

/* ---- Admission ---- */

/* Takes the tail of s out tentatively (txpool_add's eviction): it stays in the hash map. */
static void hold_tail(struct txpool *p, struct sender *s)
{
    assert(s->len > 0);
    assert(s->in_flight < s->len);
    assert(p->nheld < p->held_cap);
    struct entry *e = s->txs[--s->len];
    if (s->len < s->ready) {
        s->ready--;
        p->ready--;
    }
    p->count--;
    p->bytes -= e->tx->raw_len;
    p->held[p->nheld++] = e;
    settle(p, s, s->ready);
}

/* Puts the held transactions back where they were, newest taken first. */
static void restore_held(struct txpool *p)
{
    while (p->nheld > 0) {
        struct entry *e = p->held[--p->nheld];
        struct sender *s = e->sender;
        assert(s->len < s->cap);
        assert(s->len == 0 || s->txs[s->len - 1]->tx->tx.nonce < e->tx->tx.nonce);
        s->txs[s->len++] = e;
        p->count++;
        p->bytes += e->tx->raw_len;
        settle(p, s, s->ready);
    }
}

/*
 * The next transaction to evict for a newcomer of sender s at nonce: the least worth of
 * the evict heap's top and s's highest nonce when it is above the newcomer's. NULL: none.
 */
static struct entry *next_victim(struct txpool *p, struct sender *s, uint64_t nonce)
{
    struct entry *best = p->nevict > 0 ? p->evict[0]->txs[p->evict[0]->len - 1] : NULL;
    bool best_ready = p->nevict > 0 && p->evict[0]->evict_ready;
    if (s->len > 0 && s->in_flight < s->len) {
        struct entry *tail = s->txs[s->len - 1];
        bool tail_ready = s->len - 1 < s->ready;
        if (tail->tx->tx.nonce > nonce &&
            (best == NULL || worth_less(tail_ready, tail->tip_cap, tail->seq, best_ready, best->tip_cap, best->seq)))
            best = tail;
    }
    return best;
}

static bool entry_is_ready(const struct entry *e)
{
    const struct sender *s = e->sender;
    return e->tx->tx.nonce - s->nonce < s->ready;
}

int txpool_add(struct txpool *p, struct tx_signed *t, const struct txpool_account *account, u256 base_fee_floor,
               enum txpool_refusal *refusal, struct cohort_error *err)
{
    assert(p != NULL);
    assert(t != NULL);
    assert(account != NULL);
    assert(!p->pinned);
    if (refusal != NULL) *refusal = TXPOOL_ACCEPTED;
    const struct chain_tx *tx = &t->tx;
    char a[80], b[80], c[80];

    /* What needs no state. */
    if (entry_find(p, t->hash, &p->work) != NULL) return refuse(refusal, TXPOOL_ALREADY_KNOWN, err, "already known");
    if (!t->sender_known) return refuse(refusal, TXPOOL_INVALID_SENDER, err, "invalid sender");
    /* Blob transactions need their sidecars (blobs, commitments, proofs) gossiped and kept
       beside the block; these chains keep none, so type 3 never enters. */
    if (tx->type == 3)
        return refuse(refusal, TXPOOL_TYPE_NOT_SUPPORTED, err,
                      "transaction type not supported: blob transactions (type 3) are not accepted on this chain");
    if (!t->has_chain_id)
        return refuse(refusal, TXPOOL_NOT_PROTECTED, err,
                      "only replay-protected (EIP-155) transactions allowed over RPC");
    if (t->raw_len > p->config.max_tx_bytes)
        return refuse(refusal, TXPOOL_OVERSIZED, err, "oversized data: transaction size %zu, limit %u", t->raw_len,
                      p->config.max_tx_bytes);
    enum chain_reject_reason reason = CHAIN_REJECT_NONE;
    struct cohort_error why = {0};
    int rc = tx_validate_static(t, p->config.revision, p->config.chain_id, &reason, &why);
    if (rc != 0) return refuse_static(p, t, rc, reason, &why, refusal, err);
    if (tx->gas_limit > p->config.block_gas_limit)
        return refuse(refusal, TXPOOL_GAS_LIMIT, err, "exceeds block gas limit");
    u256 fee_cap = tx_fee_cap(tx), tip_cap = tx_tip_cap(tx);
    if (u256_lt(fee_cap, base_fee_floor)) {
        address_hex(tx->sender, a);
        dec(fee_cap, b, sizeof b);
        dec(base_fee_floor, c, sizeof c);
        return refuse(refusal, TXPOOL_FEE_CAP_TOO_LOW, err,
                      "max fee per gas less than block base fee: address %s, maxFeePerGas: %s, baseFee: %s", a, b, c);
    }
    if (u256_lt(tip_cap, p->config.min_tip_cap)) {
        dec(tip_cap, a, sizeof a);
        dec(p->config.min_tip_cap, b, sizeof b);
        return refuse(refusal, TXPOOL_UNDERPRICED, err, "transaction underpriced: gas tip cap %s, minimum needed %s", a,
                      b);
    }

    /* The sender's state. A newer nonce than the pool's re-checks what the sender holds. */
    struct sender *s = sender_find(p, tx->sender, &p->work);
    uint64_t state_nonce = account->nonce;
    if (s != NULL && s->nonce >= state_nonce) {
        state_nonce = s->nonce;
    } else if (s != NULL) {
        p->pinned = true;
        s->nonce = state_nonce;
        filter(p, s, &account->balance);
        p->pinned = false;
        if (s->len == 0) {
            sender_delete(p, s);
            s = NULL;
        }
    }
    if (tx->nonce < state_nonce)
        return refuse(refusal, TXPOOL_NONCE_TOO_LOW, err, "nonce too low: next nonce %llu, tx nonce %llu",
                      (unsigned long long)state_nonce, (unsigned long long)tx->nonce);
    u256 cost = tx_cost(tx);
    if (u256_lt(account->balance, cost)) {
        dec(account->balance, a, sizeof a);
        dec(cost, b, sizeof b);
        dec(u256_sub(cost, account->balance), c, sizeof c);
        return refuse(refusal, TXPOOL_INSUFFICIENT_FUNDS, err,
                      "insufficient funds for gas * price + value: balance %s, tx cost %s, overshot %s", a, b, c);
    }

    /* The rules of the queue, before anything changes. */
    uint32_t at = s ? lower_bound(p, s, tx->nonce) : 0;
    struct entry *old = s && at < s->len && s->txs[at]->tx->tx.nonce == tx->nonce ? s->txs[at] : NULL;
    bool evict_own_tail = false;
    if (old != NULL) {
        if (old->in_flight)
            return refuse(refusal, TXPOOL_IN_FLIGHT, err, "nonce too low: nonce %llu is in a block being made",
                          (unsigned long long)tx->nonce);
        if (!bumped(old, fee_cap, tip_cap))
            return refuse(refusal, TXPOOL_REPLACE_UNDERPRICED, err, "replacement transaction underpriced");
    } else if (s != NULL && s->len >= p->config.max_per_sender) {
        /* A lower nonce takes the place of the sender's highest: that one could not run first anyway. */
        if (at == s->len || s->in_flight == s->len)
            return refuse(refusal, TXPOOL_ACCOUNT_LIMIT, err, "account limit exceeded: pooled %u txs", s->len);
        evict_own_tail = true;
    }

    /* Memory, reserved so that nothing below fails. */
    size_t need_held = p->count + 1;
    if (p->held_cap < need_held) {
        size_t cap = p->held_cap ? p->held_cap : 64;
        while (cap < need_held) cap *= 2;
        struct entry **held = realloc(p->held, cap * sizeof *held);
        if (held == NULL) return cohort_error_set(err, CHAIN_E_NOMEM, DOMAIN, "txpool: out of memory");
        p->held = held;
        p->held_cap = cap;
    }
    struct entry *e = calloc(1, sizeof *e);
    struct sender *fresh = NULL;
    if (e == NULL || table_reserve(p, &p->by_hash, 1, 32, entry_key) != 0) {
        free(e);
        return cohort_error_set(err, CHAIN_E_NOMEM, DOMAIN, "txpool: out of memory");
    }
    if (s == NULL) {
        fresh = p->free_senders;
        if (fresh == NULL) fresh = calloc(1, sizeof *fresh);
        else p->free_senders = fresh->next_free;
        if (fresh == NULL || senders_reserve(p) != 0 || sender_reserve(fresh) != 0) {
            if (fresh != NULL) {
                fresh->next_free = p->free_senders;
                p->free_senders = fresh;
            }
            free(e);
            return cohort_error_set(err, CHAIN_E_NOMEM, DOMAIN, "txpool: out of memory");
        }
    } else if (old == NULL && sender_reserve(s) != 0) {
        free(e);
        return cohort_error_set(err, CHAIN_E_NOMEM, DOMAIN, "txpool: out of memory");
    }
    if (fresh != NULL) {
        sender_link(p, fresh, tx->sender, state_nonce);
        s = fresh;
    }
    e->tx = t;
    e->sender = s;
    e->seq = p->seq + 1;
    e->fee_cap = fee_cap;
    e->tip_cap = tip_cap;
    e->cost = cost;

    /* Room: the sender's own highest nonce first (per-sender cap), then the least worth. */
    p->pinned = true;
    bool ready = tx->nonce - s->nonce <= s->ready; /* fills the next nonce, or replaces a ready one */
    if (old != NULL) ready = entry_is_ready(old);
    assert(p->nheld == 0);
    if (evict_own_tail) hold_tail(p, s);
    bool full = false;
    for (;;) {
        uint64_t count = p->count + (old ? 0 : 1);
        uint64_t bytes = p->bytes + t->raw_len - (old ? old->tx->raw_len : 0);
        if (count <= p->config.max_transactions && bytes <= p->config.max_bytes) break;
        if (!s->excluded) {
            /* The newcomer's sender offers only nonces above the newcomer's (next_victim). */
            s->excluded = true;
            evict_update(p, s);
        }
        struct entry *victim = next_victim(p, s, tx->nonce);
        /* The newcomer must be worth more than what it pushes out (equal does not do). */
        if (victim == NULL || !worth_less(entry_is_ready(victim), victim->tip_cap, 0, ready, tip_cap, 0)) {
            full = true;
            break;
        }
        hold_tail(p, victim->sender);
    }
    if (full) {
        restore_held(p);
        s->excluded = false;
        p->pinned = false;
        settle(p, s, s->ready); /* back in the heap; deleted when it was made for this one */
        free(e);
        return refuse(refusal, TXPOOL_FULL, err, "txpool is full");
    }

    /* Commit. The senders that lost transactions are listed (once each) before those go. */
    size_t touched = 0;
    for (size_t i = 0; i < p->nheld; i++) {
        struct sender *v = p->held[i]->sender;
        if (!v->mark) {
            v->mark = true;
            p->scratch[touched++] = v;
        }
        entry_unmap(p, p->held[i]);
        entry_free(p->held[i]);
    }
    p->nheld = 0;
    p->seq++;
    if (old != NULL) {
        entry_unmap(p, old);
        p->bytes -= old->tx->raw_len;
        s->txs[at] = e;
        entry_free(old);
    } else {
        assert(at <= s->len);
        memmove(s->txs + at + 1, s->txs + at, (s->len - at) * sizeof *s->txs);
        p->work += s->len - at;
        s->txs[at] = e;
        s->len++;
        p->count++;
    }
    p->bytes += t->raw_len;
    table_insert(p, &p->by_hash, e, 32, entry_key);
    s->excluded = false;
    p->pinned = false;
    assert(at >= s->ready || old != NULL);
    settle(p, s, s->ready);
    /* The senders whose transactions were evicted: deleted when empty. */
    for (size_t i = 0; i < touched; i++) {
        struct sender *v = p->scratch[i];
        v->mark = false;
        if (v->live && v->len == 0) sender_delete(p, v);
    }
    return 0;
}

/* ---- Picking ---- */

/* True when a should be picked before b: the higher effective tip, then the older. */
static bool pick_before(const struct sender *a, const struct sender *b)
{
    if (!u256_eq(a->pick_tip, b->pick_tip)) return u256_gt(a->pick_tip, b->pick_tip);
    return a->pick_seq < b->pick_seq;
}

static void pick_sift_down(struct txpool *p, struct sender **heap, size_t n, size_t i)
{
    struct sender *s = heap[i];
    for (;;) {
        p->work++;
        size_t child = 2 * i + 1;
        if (child >= n) break;
        if (child + 1 < n && pick_before(heap[child + 1], heap[child])) child++;
        if (!pick_before(heap[child], s)) break;
        heap[i] = heap[child];
        i = child;
    }
    heap[i] = s;
}

/* Keys s by its next pickable transaction; false when it has none under base_fee. */
static bool pick_key(struct sender *s, u256 base_fee)
{
    if (s->in_flight >= s->ready) return false;
    const struct entry *e = s->txs[s->in_flight];
    if (u256_lt(e->fee_cap, base_fee)) return false;
    s->pick_tip = tx_effective_tip(&e->tx->tx, base_fee);
    s->pick_seq = e->seq;
    return true;
}

size_t txpool_pick(struct txpool *p, u256 base_fee, const struct txpool_pick_limits *limits,
                   const struct tx_signed **out, size_t out_cap)
{
    assert(p != NULL);
    assert(limits != NULL);
    assert(out != NULL || out_cap == 0);
    size_t max = limits->count < out_cap ? limits->count : out_cap;
    struct sender **heap = p->scratch;
    size_t n = 0;
    for (size_t i = 0; i < p->nsenders; i++) {
        p->work++;
        struct sender *s = p->senders[i];
        if (pick_key(s, base_fee)) heap[n++] = s;
    }
    for (size_t i = n / 2; i-- > 0;) pick_sift_down(p, heap, n, i);
    uint64_t gas_left = limits->gas, bytes_left = limits->bytes;
    size_t picked = 0;
    while (picked < max && n > 0) {
        struct sender *s = heap[0];
        struct entry *e = s->txs[s->in_flight];
        uint64_t size = (uint64_t)e->tx->raw_len + limits->overhead_bytes;
        bool fits = e->tx->tx.gas_limit <= gas_left && size <= bytes_left;
        if (fits) {
            e->in_flight = true;
            s->in_flight++;
            p->in_flight++;
            out[picked++] = e->tx;
            gas_left -= e->tx->tx.gas_limit;
            bytes_left -= size;
            if (s->in_flight == s->len) evict_update(p, s); /* its highest nonce is in flight now */
        }
        /* A sender whose next does not fit gives nothing more: its later nonces cannot go first. */
        if (fits && pick_key(s, base_fee)) {
            pick_sift_down(p, heap, n, 0);
        } else {
            heap[0] = heap[--n];
            if (n > 0) pick_sift_down(p, heap, n, 0);
        }
    }
    return picked;
}

/* ---- After a block; putting back; removing ---- */

/* Lists s once in scratch (mark set). */
static void touch(struct txpool *p, struct sender *s, size_t *n)
{
    if (s->mark) return;
    s->mark = true;
    p->scratch[(*n)++] = s;
}

/* Takes e out of the hash map; it leaves its sender's array at the sender's next filter. */
static void entry_kill(struct txpool *p, struct entry *e)
{
    assert(!e->dead);
    entry_unmap(p, e);
    e->dead = true;
}

void txpool_release_all(struct txpool *p)
{
    assert(p != NULL);
    for (size_t i = 0; i < p->nsenders && p->in_flight > 0; i++) {
        p->work++;
        struct sender *s = p->senders[i];
        if (s->in_flight == 0) continue;
        for (uint32_t j = 0; j < s->in_flight; j++) s->txs[j]->in_flight = false;
        p->in_flight -= s->in_flight;
        s->in_flight = 0;
        evict_update(p, s);
    }
}

void txpool_release(struct txpool *p, const uint8_t (*hashes)[32], size_t count)
{
    assert(p != NULL);
    for (size_t i = 0; i < count; i++) {
        struct entry *e = entry_find(p, hashes[i], &p->work);
        if (e == NULL || !e->in_flight) continue;
        struct sender *s = e->sender;
        uint32_t at = lower_bound(p, s, e->tx->tx.nonce);
        assert(at < s->in_flight && s->txs[at] == e);
        for (uint32_t j = at; j < s->in_flight; j++) s->txs[j]->in_flight = false;
        p->in_flight -= s->in_flight - at;
        s->in_flight = at;
        evict_update(p, s);
    }
}

int txpool_block(struct txpool *p, const struct txpool_block_update *u, txpool_account_fn account, void *arg,
                 struct cohort_error *err)
{
    assert(p != NULL);
    assert(u != NULL);
    assert(account != NULL);
    assert(!p->pinned);
    size_t n = 0;
    for (size_t i = 0; i < u->included_count; i++) {
        struct entry *e = entry_find(p, u->included[i], &p->work);
        if (e == NULL) continue;
        entry_kill(p, e);
        touch(p, e->sender, &n);
    }
    for (size_t i = 0; i < u->sender_count; i++) {
        struct sender *s = sender_find(p, u->senders[i], &p->work);
        if (s != NULL) touch(p, s, &n);
    }
    int rc = 0;
    p->pinned = true;
    for (size_t i = 0; i < n; i++) {
        struct sender *s = p->scratch[i];
        s->mark = false;
        struct txpool_account state;
        struct cohort_error why = {0};
        if (account(arg, s->address, &state, &why) != 0) {
            /* The sender stays as it was, less what the block included. */
            if (rc == 0) {
                rc = why.code ? why.code : CHAIN_E_INTERNAL;
                if (err != NULL) {
                    *err = why;
                    err->code = rc;
                    cohort_error_wrap(err, "txpool: reading a sender after a block");
                }
            }
            filter(p, s, NULL);
            continue;
        }
        s->nonce = state.nonce;
        filter(p, s, &state.balance);
    }
    p->pinned = false;
    for (size_t i = 0; i < n; i++) {
        struct sender *s = p->scratch[i];
        if (s->live && s->len == 0) sender_delete(p, s);
    }
    /* After the filtering: what the block included is gone, so this walks only until the
       few not included are found (it stops when none is left in flight). */
    if (u->release_in_flight) txpool_release_all(p);
    return rc;
}

size_t txpool_remove(struct txpool *p, const uint8_t (*hashes)[32], size_t count)
{
    assert(p != NULL);
    assert(!p->pinned);
    size_t n = 0, removed = 0;
    for (size_t i = 0; i < count; i++) {
        struct entry *e = entry_find(p, hashes[i], &p->work);
        if (e == NULL) continue;
        entry_kill(p, e);
        touch(p, e->sender, &n);
        removed++;
    }
    p->pinned = true;
    for (size_t i = 0; i < n; i++) {
        p->scratch[i]->mark = false;
        filter(p, p->scratch[i], NULL);
    }
    p->pinned = false;
    for (size_t i = 0; i < n; i++) {
        struct sender *s = p->scratch[i];
        if (s->live && s->len == 0) sender_delete(p, s);
    }
    return removed;
}

/* ---- Queries ---- */

void txpool_stats(const struct txpool *p, struct txpool_stats *out)
{
    assert(p != NULL);
    assert(out != NULL);
    out->pending = p->ready;
    out->queued = p->count - p->ready;
    out->in_flight = p->in_flight;
    out->bytes = p->bytes;
    out->senders = p->nsenders;
}

void txpool_for_each(const struct txpool *p, void (*fn)(void *arg, const struct tx_signed *tx, bool pending),
                     void *arg)
{
    assert(p != NULL);
    assert(fn != NULL);
    for (size_t i = 0; i < p->nsenders; i++) {
        const struct sender *s = p->senders[i];
        for (uint32_t j = 0; j < s->len; j++) fn(arg, s->txs[j]->tx, j < s->ready);
    }
}

const struct tx_signed *txpool_find(const struct txpool *p, const uint8_t hash[32], bool *pending)
{
    assert(p != NULL);
    const struct entry *e = entry_find(p, hash, NULL);
    if (e == NULL) return NULL;
    if (pending != NULL) *pending = entry_is_ready(e);
    return e->tx;
}

bool txpool_sender(const struct txpool *p, const uint8_t hash[32], uint8_t sender[20])
{
    assert(p != NULL);
    const struct entry *e = entry_find(p, hash, NULL);
    if (e == NULL) return false;
    memcpy(sender, e->sender->address, 20);
    return true;
}

bool txpool_pending_nonce(const struct txpool *p, const uint8_t sender[20], uint64_t *nonce)
{
    assert(p != NULL);
    const struct sender *s = sender_find(p, sender, NULL);
    if (s == NULL || s->ready == 0) return false;
    *nonce = s->nonce + s->ready;
    return true;
}

uint64_t txpool_work(const struct txpool *p) { return p->work; }

/* ---- Invariants ---- */

#define CHECK(cond, ...)                                                                  \
    do {                                                                                  \
        if (!(cond)) return cohort_error_set(err, CHAIN_E_INTERNAL, DOMAIN, __VA_ARGS__); \
    } while (0)

int txpool_check(const struct txpool *p, struct cohort_error *err)
{
    uint64_t count = 0, bytes = 0, ready = 0, in_flight = 0;
    size_t eligible = 0;
    CHECK(!p->pinned, "txpool: pinned between calls");
    CHECK(p->nheld == 0, "txpool: %zu held between calls", p->nheld);
    CHECK(p->by_sender.count == p->nsenders, "txpool: %zu senders mapped, %zu listed", p->by_sender.count,
          p->nsenders);
    for (size_t i = 0; i < p->nsenders; i++) {
        const struct sender *s = p->senders[i];
        CHECK(s->live && s->dense == i, "txpool: sender %zu not live or misplaced", i);
        CHECK(!s->mark && !s->excluded, "txpool: sender %zu left marked", i);
        CHECK(s->len > 0, "txpool: sender %zu is empty", i);
        CHECK(s->len <= p->config.max_per_sender, "txpool: sender %zu holds %u", i, s->len);
        CHECK(sender_find(p, s->address, NULL) == s, "txpool: sender %zu not found by address", i);
        CHECK(s->in_flight <= s->ready && s->ready <= s->len, "txpool: sender %zu counts %u/%u/%u", i, s->in_flight,
              s->ready, s->len);
        for (uint32_t j = 0; j < s->len; j++) {
            const struct entry *e = s->txs[j];
            uint64_t nonce = e->tx->tx.nonce;
            CHECK(!e->dead && e->sender == s, "txpool: sender %zu entry %u dead or foreign", i, j);
            CHECK(nonce >= s->nonce, "txpool: sender %zu holds nonce %llu below %llu", i, (unsigned long long)nonce,
                  (unsigned long long)s->nonce);
            CHECK(j == 0 || s->txs[j - 1]->tx->tx.nonce < nonce, "txpool: sender %zu out of nonce order", i);
            CHECK((j < s->ready) == (nonce == s->nonce + j && (j == 0 || j - 1 < s->ready)),
                  "txpool: sender %zu ready run wrong at %u", i, j);
            CHECK(e->in_flight == (j < s->in_flight), "txpool: sender %zu in-flight prefix wrong at %u", i, j);
            CHECK(entry_find(p, e->tx->hash, NULL) == e, "txpool: sender %zu entry %u not found by hash", i, j);
            CHECK(memcmp(e->tx->tx.sender, s->address, 20) == 0, "txpool: entry under the wrong sender");
            count++;
            bytes += e->tx->raw_len;
        }
        ready += s->ready;
        in_flight += s->in_flight;
        bool want = evict_eligible(s);
        eligible += want;
        CHECK(want == (s->evict_pos != NOT_IN_HEAP), "txpool: sender %zu in the evict heap: %d, want %d", i,
              s->evict_pos != NOT_IN_HEAP, want);
        if (want) {
            const struct entry *tail = s->txs[s->len - 1];
            CHECK(p->evict[s->evict_pos] == s, "txpool: evict position of sender %zu", i);
            CHECK(s->evict_ready == (s->len - 1 < s->ready) && u256_eq(s->evict_tip, tail->tip_cap) &&
                      s->evict_seq == tail->seq,
                  "txpool: evict key of sender %zu is stale", i);
        }
    }
    CHECK(count == p->count && count == p->by_hash.count, "txpool: %llu held, count %llu, mapped %zu",
          (unsigned long long)count, (unsigned long long)p->count, p->by_hash.count);
    CHECK(bytes == p->bytes, "txpool: bytes %llu, counted %llu", (unsigned long long)bytes,
          (unsigned long long)p->bytes);
    CHECK(ready == p->ready, "txpool: ready %llu, counted %llu", (unsigned long long)ready,
          (unsigned long long)p->ready);
    CHECK(in_flight == p->in_flight, "txpool: in flight %llu, counted %llu", (unsigned long long)in_flight,
          (unsigned long long)p->in_flight);
    CHECK(count <= p->config.max_transactions && bytes <= p->config.max_bytes, "txpool: over its caps");
    CHECK(eligible == p->nevict, "txpool: evict heap holds %zu, want %zu", p->nevict, eligible);
    for (size_t i = 1; i < p->nevict; i++)
        CHECK(!evict_less(p->evict[i], p->evict[(i - 1) / 2]), "txpool: evict heap order broken at %zu", i);
    return 0;
}
