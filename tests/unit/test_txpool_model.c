/*
 * test_txpool_model.c - the transaction pool (subnode/chain/txpool.h) at scale: a
 * randomized comparison against a plain reference implementation, and a 10,000
 * transaction / 1,000 sender pool whose work is counted. The rules one by one are in
 * test_txpool.c; the helpers both use (keys, signed transactions, the pool's config, a
 * chain) in txpool_util.c.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "subnode/chain/txpool.h"
#include "testutil.h"
#include "txpool_util.h"

/* ---- The randomized comparison against a reference implementation ---- */

/*
 * COHORT_TXPOOL_SEEDS=N runs N seeds (16 by default; 300 were run by hand), and
 * COHORT_TXPOOL_TRACE=1 prints each step with the reference's contents, to replay a failure.
 *
 * The reference is the rules written plainly over one flat array: every question scans
 * everything (O(n^2) and worse), so it is easy to read and check by eye. The real pool
 * and the reference get the same operations; after each they must agree on the refusal,
 * the counts, the picked order, and at the end on the contents.
 */
#define REF_MAX 256
#define MODEL_KEYS 8

struct ref_tx {
    int key;
    uint64_t nonce, seq;
    u256 fee, tip, cost;
    size_t size;
    uint64_t gas;
    uint8_t hash[32];
    bool in_flight;
    const struct tx_signed *t; /* what the pool holds (for the effective tip) */
};

struct ref {
    struct ref_tx tx[REF_MAX];
    int n;
    bool held[MODEL_KEYS];
    uint64_t nonce[MODEL_KEYS]; /* while held */
    uint64_t seq;
    uint64_t max_count, max_bytes;
    uint32_t per_sender;
};

static int ref_find(const struct ref *r, int key, uint64_t nonce)
{
    for (int i = 0; i < r->n; i++)
        if (r->tx[i].key == key && r->tx[i].nonce == nonce) return i;
    return -1;
}

static int ref_count_of(const struct ref *r, int key)
{
    int c = 0;
    for (int i = 0; i < r->n; i++) c += r->tx[i].key == key;
    return c;
}

/* Whether tx i is ready: its sender holds every nonce from the state's up to it. */
static bool ref_ready(const struct ref *r, int i)
{
    const struct ref_tx *t = &r->tx[i];
    for (uint64_t n = r->nonce[t->key]; n < t->nonce; n++)
        if (ref_find(r, t->key, n) < 0) return false;
    return true;
}

static int ref_tail(const struct ref *r, int key)
{
    int best = -1;
    for (int i = 0; i < r->n; i++)
        if (r->tx[i].key == key && (best < 0 || r->tx[i].nonce > r->tx[best].nonce)) best = i;
    return best;
}

static void ref_drop(struct ref *r, int i)
{
    r->tx[i] = r->tx[--r->n];
}

/* After removals: in flight only as a prefix of the ready run; senders with nothing forgotten. */
static void ref_tidy(struct ref *r)
{
    for (int k = 0; k < MODEL_KEYS; k++) {
        if (!r->held[k]) continue;
        if (ref_count_of(r, k) == 0) {
            r->held[k] = false;
            continue;
        }
        bool prefix = true;
        for (uint64_t n = r->nonce[k];; n++) {
            int i = ref_find(r, k, n);
            if (i < 0) break;
            if (!r->tx[i].in_flight) prefix = false;
            if (!prefix) r->tx[i].in_flight = false;
        }
        /* anything after the ready run is not in flight */
        for (int i = 0; i < r->n; i++)
            if (r->tx[i].key == k && !ref_ready(r, i)) r->tx[i].in_flight = false;
    }
}

/* Removes the sender's transactions below nonce or (balance) costing more than it. */
static void ref_recheck(struct ref *r, int key, uint64_t nonce, const u256 *balance)
{
    r->nonce[key] = nonce;
    for (int i = 0; i < r->n;) {
        struct ref_tx *t = &r->tx[i];
        if (t->key == key && (t->nonce < nonce || (balance && u256_lt(*balance, t->cost)))) ref_drop(r, i);
        else i++;
    }
    /* (ref_tidy after every sender of a block is re-read: the others' nonces are not yet new) */
}

static bool ref_worth_less(const struct ref *r, int a, int b)
{
    bool ra = ref_ready(r, a), rb = ref_ready(r, b);
    if (ra != rb) return !ra;
    if (!u256_eq(r->tx[a].tip, r->tx[b].tip)) return u256_lt(r->tx[a].tip, r->tx[b].tip);
    return r->tx[a].seq > r->tx[b].seq;
}

static enum txpool_refusal ref_add(struct ref *r, const struct tx_signed *t, int key, const struct txpool_account *a,
                                   u256 floor)
{
    for (int i = 0; i < r->n; i++)
        if (memcmp(r->tx[i].hash, t->hash, 32) == 0) return TXPOOL_ALREADY_KNOWN;
    u256 fee = tx_fee_cap(&t->tx), tip = tx_tip_cap(&t->tx);
    if (u256_lt(fee, floor)) return TXPOOL_FEE_CAP_TOO_LOW;
    if (r->held[key] && a->nonce > r->nonce[key]) {
        ref_recheck(r, key, a->nonce, &a->balance);
        ref_tidy(r);
    }
    uint64_t state = r->held[key] ? r->nonce[key] : a->nonce;
    if (t->tx.nonce < state) return TXPOOL_NONCE_TOO_LOW;
    u256 cost = u256_add(u256_mul(fee, u256_from_u64(t->tx.gas_limit)), t->tx.value);
    if (u256_lt(a->balance, cost)) return TXPOOL_INSUFFICIENT_FUNDS;
    if (!r->held[key]) {
        r->held[key] = true;
        r->nonce[key] = state;
    }
    int old = ref_find(r, key, t->tx.nonce);
    struct ref saved = *r; /* the undo: everything as it was */
    saved.held[key] = false;
    for (int i = 0; i < r->n && !saved.held[key]; i++) saved.held[key] = r->tx[i].key == key;
    bool ready;
    if (old >= 0) {
        if (r->tx[old].in_flight) {
            *r = saved;
            return TXPOOL_IN_FLIGHT;
        }
        u256 of = r->tx[old].fee, ot = r->tx[old].tip;
        u256 fth = u256_add(of, u256_div(of, u256_from_u64(10))), tth = u256_add(ot, u256_div(ot, u256_from_u64(10)));
        if (!(u256_gt(fee, of) && u256_gt(tip, ot) && !u256_lt(fee, fth) && !u256_lt(tip, tth))) {
            *r = saved;
            return TXPOOL_REPLACE_UNDERPRICED;
        }
        ready = ref_ready(r, old);
    } else {
        if ((uint32_t)ref_count_of(r, key) >= r->per_sender) {
            int tail = ref_tail(r, key);
            if (r->tx[tail].nonce < t->tx.nonce || r->tx[tail].in_flight) {
                *r = saved;
                return TXPOOL_ACCOUNT_LIMIT;
            }
            ref_drop(r, tail);
        }
        ready = true;
        for (uint64_t n = r->nonce[key]; n < t->tx.nonce; n++)
            if (ref_find(r, key, n) < 0) ready = false;
    }
    for (;;) {
        uint64_t count = (uint64_t)r->n + (old >= 0 ? 0 : 1), bytes = t->raw_len;
        for (int i = 0; i < r->n; i++) bytes += r->tx[i].size;
        if (old >= 0) bytes -= r->tx[ref_find(r, key, t->tx.nonce)].size;
        if (count <= r->max_count && bytes <= r->max_bytes) break;
        int victim = -1;
        for (int k = 0; k < MODEL_KEYS; k++) {
            int tail = ref_tail(r, k);
            if (tail < 0 || r->tx[tail].in_flight) continue;
            if (k == key && r->tx[tail].nonce <= t->tx.nonce) continue;
            if (victim < 0 || ref_worth_less(r, tail, victim)) victim = tail;
        }
        bool vready = victim >= 0 && ref_ready(r, victim);
        bool less = victim >= 0 && (vready != ready ? !vready : u256_lt(r->tx[victim].tip, tip));
        if (!less) {
            *r = saved;
            return TXPOOL_FULL;
        }
        ref_drop(r, victim);
    }
    if (old >= 0) ref_drop(r, ref_find(r, key, t->tx.nonce));
    ck_assert_int_lt(r->n, REF_MAX);
    struct ref_tx *n = &r->tx[r->n++];
    memset(n, 0, sizeof *n);
    n->key = key;
    n->nonce = t->tx.nonce;
    n->seq = ++r->seq;
    n->fee = fee;
    n->tip = tip;
    n->cost = cost;
    n->size = t->raw_len;
    n->gas = t->tx.gas_limit;
    memcpy(n->hash, t->hash, 32);
    n->t = t;
    ref_tidy(r);
    return TXPOOL_ACCEPTED;
}

/* The picked order: indexes into r->tx, in out. */
static int ref_pick(struct ref *r, u256 base_fee, const struct txpool_pick_limits *lim, size_t cap, int *out)
{
    bool active[MODEL_KEYS];
    for (int k = 0; k < MODEL_KEYS; k++) active[k] = true;
    uint64_t gas = lim->gas, bytes = lim->bytes;
    int picked = 0;
    size_t max = lim->count < cap ? lim->count : cap;
    while ((size_t)picked < max) {
        int best = -1;
        u256 best_tip = u256_zero();
        for (int k = 0; k < MODEL_KEYS; k++) {
            if (!active[k] || !r->held[k]) continue;
            /* the first ready one not in flight */
            int next = -1;
            for (uint64_t n = r->nonce[k];; n++) {
                int i = ref_find(r, k, n);
                if (i < 0) break;
                if (!r->tx[i].in_flight) {
                    next = i;
                    break;
                }
            }
            if (next < 0 || u256_lt(r->tx[next].fee, base_fee)) {
                active[k] = false;
                continue;
            }
            u256 eff = tx_effective_tip(&r->tx[next].t->tx, base_fee);
            if (best < 0 || u256_gt(eff, best_tip) || (u256_eq(eff, best_tip) && r->tx[next].seq < r->tx[best].seq)) {
                best = next;
                best_tip = eff;
            }
        }
        if (best < 0) break;
        uint64_t size = r->tx[best].size + lim->overhead_bytes;
        if (r->tx[best].gas > gas || size > bytes) {
            active[r->tx[best].key] = false;
            continue;
        }
        gas -= r->tx[best].gas;
        bytes -= size;
        r->tx[best].in_flight = true;
        out[picked++] = best;
    }
    return picked;
}

static void ref_counts(const struct ref *r, uint64_t *pending, uint64_t *queued, uint64_t *in_flight, uint64_t *bytes)
{
    *pending = *queued = *in_flight = *bytes = 0;
    for (int i = 0; i < r->n; i++) {
        if (ref_ready(r, i)) ++*pending;
        else ++*queued;
        *in_flight += r->tx[i].in_flight;
        *bytes += r->tx[i].size;
    }
}

struct listing {
    char lines[REF_MAX][48];
    int n;
};

static void list_pool(void *arg, const struct tx_signed *t, bool pending)
{
    struct listing *l = arg;
    ck_assert_int_lt(l->n, REF_MAX);
    snprintf(l->lines[l->n++], 48, "%02d:%06llu:%d", key_of(t), (unsigned long long)t->tx.nonce, pending);
}

static int cmp_lines(const void *a, const void *b) { return strcmp(a, b); }

static void compare(const struct txpool *p, const struct ref *r, int seed, int step)
{
    check_pool(p);
    uint64_t pending, queued, in_flight, bytes;
    ref_counts(r, &pending, &queued, &in_flight, &bytes);
    struct txpool_stats st;
    txpool_stats(p, &st);
    ck_assert_msg(st.pending == pending && st.queued == queued && st.in_flight == in_flight && st.bytes == bytes,
                  "seed %d step %d: pool %llu/%llu/%llu/%llu, reference %llu/%llu/%llu/%llu", seed, step,
                  (unsigned long long)st.pending, (unsigned long long)st.queued, (unsigned long long)st.in_flight,
                  (unsigned long long)st.bytes, (unsigned long long)pending, (unsigned long long)queued,
                  (unsigned long long)in_flight, (unsigned long long)bytes);
    for (int k = 0; k < MODEL_KEYS; k++) {
        uint64_t got = 0, want = 0;
        bool has = txpool_pending_nonce(p, addrs[k], &got);
        bool ref_has = false;
        if (r->held[k]) {
            want = r->nonce[k];
            while (ref_find(r, k, want) >= 0) want++;
            ref_has = want > r->nonce[k];
        }
        ck_assert_msg(has == ref_has && (!has || got == want), "seed %d step %d: pending nonce of %d", seed, step, k);
    }
}

static void compare_contents(const struct txpool *p, const struct ref *r, int seed)
{
    struct listing *a = calloc(1, sizeof *a), *b = calloc(1, sizeof *b);
    txpool_for_each(p, list_pool, a);
    for (int i = 0; i < r->n; i++)
        snprintf(b->lines[b->n++], 48, "%02d:%06llu:%d", r->tx[i].key, (unsigned long long)r->tx[i].nonce,
                 ref_ready(r, i));
    ck_assert_int_eq(a->n, b->n);
    qsort(b->lines, (size_t)b->n, sizeof b->lines[0], cmp_lines);
    /* the pool lists each sender's in nonce order: sorting keeps that */
    struct listing *sorted = calloc(1, sizeof *sorted);
    *sorted = *a;
    qsort(sorted->lines, (size_t)sorted->n, sizeof sorted->lines[0], cmp_lines);
    for (int i = 0; i < a->n; i++) ck_assert_msg(strcmp(sorted->lines[i], b->lines[i]) == 0, "seed %d: %s vs %s", seed,
                                                 sorted->lines[i], b->lines[i]);
    free(a);
    free(b);
    free(sorted);
}

static uint64_t rnd(uint64_t *state, uint64_t n) { return testutil_rand_next(state) % n; }

static void model_run(int seed, int steps, int totals[TXPOOL_REFUSAL_COUNT])
{
    uint64_t rs = 0x9e3779b9ull * (uint64_t)(seed + 1);
    struct txpool_config c = config();
    c.hash_seed = testutil_rand_next(&rs);
    c.max_transactions = 16 + rnd(&rs, 16);
    c.max_per_sender = 3 + (uint32_t)rnd(&rs, 4);
    c.max_bytes = 140 * (8 + rnd(&rs, 24));
    struct txpool *p = pool_new(&c);
    struct ref *r = calloc(1, sizeof *r);
    r->max_count = c.max_transactions;
    r->max_bytes = c.max_bytes;
    r->per_sender = c.max_per_sender;
    struct chain *ch = calloc(1, sizeof *ch);
    chain_init(ch);
    for (int k = 0; k < MODEL_KEYS; k++) ch->balance[k] = u256_from_u64(2000000000000000ull + rnd(&rs, 4) * 1000000000000000ull);
    u256 base_fee = u256_from_u64(GWEI);
    int adds = 0, accepted = 0, picks = 0, blocks = 0;
    int refusals[TXPOOL_REFUSAL_COUNT] = {0};
    bool trace = getenv("COHORT_TXPOOL_TRACE") != NULL;
    for (int step = 0; step < steps; step++) {
        uint64_t op = rnd(&rs, 100);
        if (trace) fprintf(stderr, "step %d op %llu\n", step, (unsigned long long)op);
        if (op < 70) {
            /* an add: near the chain's nonce, tips from a small set (ties happen) */
            /* (one draw per statement: the order of draws is the same on every compiler) */
            int key = (int)rnd(&rs, MODEL_KEYS);
            struct spec sp = {.key = key};
            sp.type = rnd(&rs, 4) == 0 ? 0 : 2;
            sp.nonce = ch->nonce[key] + rnd(&rs, 7);
            if (rnd(&rs, 8) == 0 && sp.nonce > 0) sp.nonce--;
            sp.tip = (1 + rnd(&rs, 6)) * GWEI / 2;
            sp.data_len = rnd(&rs, 3) * 40;
            sp.fee = sp.tip + (rnd(&rs, 6) == 0 ? 0 : (1 + rnd(&rs, 5)) * GWEI / 2);
            if (sp.type == 0) sp.fee = sp.tip + GWEI;
            sp.value = rnd(&rs, 2) * 100000000000000ull;
            struct tx_signed *t = make(&sp);
            struct txpool_account a = {.nonce = ch->nonce[key], .balance = ch->balance[key]};
            enum txpool_refusal want = ref_add(r, t, key, &a, u256_from_u64(GWEI));
            enum txpool_refusal got;
            struct cohort_error err = {0};
            int rc = txpool_add(p, t, &a, u256_from_u64(GWEI), &got, &err);
            ck_assert_msg(got == want, "seed %d step %d: refusal %s, reference %s (%s)", seed, step,
                          txpool_refusal_name(got), txpool_refusal_name(want), err.message);
            ck_assert_int_eq(rc == 0, want == TXPOOL_ACCEPTED);
            refusals[got]++;
            totals[got]++;
            adds++;
            if (rc != 0) tx_free(t);
            else accepted++;
        } else if (op < 85) {
            /* a pick under a base fee between 0.5 and 3 gwei, with small budgets */
            base_fee = u256_from_u64(GWEI / 2 + rnd(&rs, 6) * GWEI / 2);
            struct txpool_pick_limits lim;
            lim.gas = 21000 * (1 + rnd(&rs, 6));
            lim.gas += 2000 * rnd(&rs, 3);
            lim.bytes = 100 * (1 + rnd(&rs, 12));
            lim.overhead_bytes = (uint32_t)rnd(&rs, 5);
            lim.count = 1 + rnd(&rs, 8);
            size_t cap = 1 + rnd(&rs, 8);
            const struct tx_signed *out[16];
            int ref_out[16];
            size_t n = txpool_pick(p, base_fee, &lim, out, cap);
            int m = ref_pick(r, base_fee, &lim, cap, ref_out);
            ck_assert_msg((int)n == m, "seed %d step %d: picked %zu, reference %d", seed, step, n, m);
            for (int i = 0; i < m; i++)
                ck_assert_msg(memcmp(out[i]->hash, r->tx[ref_out[i]].hash, 32) == 0, "seed %d step %d: pick %d differs",
                              seed, step, i);
            picks++;
        } else if (op < 95) {
            /* a block: the in-flight ones run in nonce order per sender while gas lasts; some
               senders' balances fall; a sender or two moved by transactions from elsewhere */
            uint8_t inc[REF_MAX][32];
            uint8_t senders[MODEL_KEYS][20];
            size_t ninc = 0, nsend = 0;
            uint64_t gas_left = 21000 * (2 + rnd(&rs, 6));
            bool touched[MODEL_KEYS] = {false};
            for (int k = 0; k < MODEL_KEYS; k++) {
                for (;;) {
                    int i = ref_find(r, k, ch->nonce[k]);
                    if (i < 0 || !r->tx[i].in_flight || !r->held[k] || r->nonce[k] != ch->nonce[k]) break;
                    if (r->tx[i].gas > gas_left || u256_lt(ch->balance[k], r->tx[i].cost)) break;
                    gas_left -= r->tx[i].gas;
                    ch->balance[k] = u256_sub(ch->balance[k], u256_from_u64(r->tx[i].gas * GWEI));
                    ch->nonce[k]++;
                    memcpy(inc[ninc++], r->tx[i].hash, 32);
                    touched[k] = true;
                }
                if (rnd(&rs, 10) == 0) {
                    ch->nonce[k] += rnd(&rs, 2); /* moved by a transaction this pool never saw */
                    ch->balance[k] = u256_from_u64(rnd(&rs, 5) * 500000000000000ull); /* sometimes 0 */
                    touched[k] = true;
                }
                if (touched[k]) memcpy(senders[nsend++], addrs[k], 20);
            }
            bool release = rnd(&rs, 4) != 0;
            if (trace) fprintf(stderr, "  block: %zu included, %zu senders, release %d\n", ninc, nsend, release);
            struct txpool_block_update u = {.included = (const uint8_t(*)[32])inc,
                                            .included_count = ninc,
                                            .senders = (const uint8_t(*)[20])senders,
                                            .sender_count = nsend,
                                            .release_in_flight = release};
            /* the reference: included out, touched re-read, in flight released */
            for (size_t j = 0; j < ninc; j++)
                for (int i = 0; i < r->n; i++)
                    if (memcmp(r->tx[i].hash, inc[j], 32) == 0) {
                        ref_drop(r, i);
                        break;
                    }
            if (release)
                for (int i = 0; i < r->n; i++) r->tx[i].in_flight = false;
            for (int k = 0; k < MODEL_KEYS; k++)
                if (touched[k] && r->held[k]) ref_recheck(r, k, ch->nonce[k], &ch->balance[k]);
            ref_tidy(r);
            struct cohort_error err = {0};
            ck_assert_int_eq(txpool_block(p, &u, chain_read, ch, &err), 0);
            blocks++;
        } else if (op < 98) {
            /* put back one in-flight transaction (and its sender's later ones) */
            for (int i = 0; i < r->n; i++) {
                if (!r->tx[i].in_flight) continue;
                uint8_t h[32];
                memcpy(h, r->tx[i].hash, 32);
                int key = r->tx[i].key;
                uint64_t from = r->tx[i].nonce;
                for (int j = 0; j < r->n; j++)
                    if (r->tx[j].key == key && r->tx[j].nonce >= from) r->tx[j].in_flight = false;
                txpool_release(p, (const uint8_t(*)[32])h, 1);
                break;
            }
        } else {
            /* remove one held transaction by hash */
            if (r->n > 0) {
                int i = (int)rnd(&rs, (uint64_t)r->n);
                uint8_t h[32];
                memcpy(h, r->tx[i].hash, 32);
                ref_drop(r, i);
                ref_tidy(r);
                ck_assert_uint_eq(txpool_remove(p, (const uint8_t(*)[32])h, 1), 1);
            }
        }
        if (trace) {
            for (int i = 0; i < r->n; i++)
                fprintf(stderr, "  ref %d:%llu %s%s seq %llu\n", r->tx[i].key, (unsigned long long)r->tx[i].nonce,
                        ref_ready(r, i) ? "ready" : "future", r->tx[i].in_flight ? " flight" : "",
                        (unsigned long long)r->tx[i].seq);
            for (int k = 0; k < MODEL_KEYS; k++)
                fprintf(stderr, "  key %d chain nonce %llu pool %d/%llu\n", k, (unsigned long long)ch->nonce[k],
                        r->held[k], (unsigned long long)r->nonce[k]);
        }
        compare(p, r, seed, step);
    }
    compare_contents(p, r, seed);
    if (seed == 0)
        fprintf(stderr,
                "model seed 0: %d adds (%d accepted; full %d, replace-underpriced %d, account-limit %d, nonce-too-low "
                "%d, funds %d, in-flight %d, known %d), %d picks, %d blocks\n",
                adds, accepted, refusals[TXPOOL_FULL], refusals[TXPOOL_REPLACE_UNDERPRICED],
                refusals[TXPOOL_ACCOUNT_LIMIT], refusals[TXPOOL_NONCE_TOO_LOW], refusals[TXPOOL_INSUFFICIENT_FUNDS],
                refusals[TXPOOL_IN_FLIGHT], refusals[TXPOOL_ALREADY_KNOWN], picks, blocks);
    /* every kind of outcome happened at least once over the run */
    ck_assert_int_gt(accepted, 0);
    txpool_free(p);
    free(r);
    free(ch);
}

START_TEST(model_comparison)
{
    keys_init();
    const char *env = getenv("COHORT_TXPOOL_SEEDS");
    int seeds = env ? atoi(env) : 16;
    int totals[TXPOOL_REFUSAL_COUNT] = {0};
    for (int seed = 0; seed < seeds; seed++) model_run(seed, 800, totals);
    /* The runs reached every rule the two implementations share. */
    const enum txpool_refusal reached[] = {TXPOOL_ACCEPTED,           TXPOOL_ALREADY_KNOWN,   TXPOOL_FEE_CAP_TOO_LOW,
                                           TXPOOL_NONCE_TOO_LOW,      TXPOOL_INSUFFICIENT_FUNDS, TXPOOL_IN_FLIGHT,
                                           TXPOOL_REPLACE_UNDERPRICED, TXPOOL_ACCOUNT_LIMIT,  TXPOOL_FULL};
    for (size_t i = 0; i < sizeof reached / sizeof reached[0]; i++)
        ck_assert_msg(seeds < 16 || totals[reached[i]] > 0, "no %s in %d seeds", txpool_refusal_name(reached[i]), seeds);
}
END_TEST

/* ---- 10,000 transactions from 1,000 senders ---- */

START_TEST(ten_thousand)
{
    keys_init();
    enum { SENDERS = 1000, PER = 10, TOTAL = SENDERS * PER };
    struct txpool_config c = config();
    c.max_transactions = TOTAL;
    struct txpool *p = pool_new(&c);
    /* Signed in advance; admitted in an order that makes most of them future first: each
       sender's nonces arrive 9, 8, ..., 0 for a tenth of the senders, in order for the rest. */
    struct tx_signed **txs = malloc(TOTAL * sizeof *txs);
    uint64_t rs = 42;
    for (int s = 0; s < SENDERS; s++)
        for (int n = 0; n < PER; n++) {
            int nonce = s % 10 == 0 ? PER - 1 - n : n;
            txs[s * PER + n] = tx2(s, (uint64_t)nonce, (1 + rnd(&rs, 50)) * GWEI / 10, 100 * GWEI);
        }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    uint64_t w0 = txpool_work(p), max_add = 0;
    for (int i = 0; i < TOTAL; i++) {
        uint64_t before = txpool_work(p);
        struct txpool_account a = rich(0);
        ck_assert_int_eq(txpool_add(p, txs[i], &a, floor_fee, NULL, NULL), 0);
        uint64_t w = txpool_work(p) - before;
        if (w > max_add) max_add = w;
    }
    uint64_t add_work = txpool_work(p) - w0;
    check_pool(p);
    expect_stats(p, TOTAL, 0);
    /* A full pool: a newcomer that pays more pushes out the least worth. */
    struct tx_signed *extra = tx2(SENDERS - 1, PER, 100 * GWEI, 200 * GWEI);
    uint64_t before = txpool_work(p);
    struct txpool_account a = rich(0);
    ck_assert_int_eq(txpool_add(p, extra, &a, floor_fee, NULL, NULL), 0);
    uint64_t evict_work = txpool_work(p) - before;
    check_pool(p);

    /* Blocks of up to 1,000 transactions (21000 gas each) until the pool is empty. */
    struct chain *ch = calloc(1, sizeof *ch);
    chain_init(ch);
    const struct tx_signed **out = malloc(TOTAL * sizeof *out);
    uint8_t(*inc)[32] = malloc(TOTAL * sizeof *inc);
    uint8_t(*senders)[20] = malloc(TOTAL * sizeof *senders);
    uint64_t max_pick = 0, max_block = 0;
    int blocks = 0;
    size_t total_picked = 0;
    for (;;) {
        struct txpool_pick_limits lim = {.gas = 1000 * 21000, .bytes = 1 << 20, .overhead_bytes = 4, .count = TOTAL};
        before = txpool_work(p);
        size_t n = txpool_pick(p, floor_fee, &lim, out, TOTAL);
        uint64_t w = txpool_work(p) - before;
        if (w > max_pick) max_pick = w;
        if (n == 0) break;
        total_picked += n;
        /* each sender's picked in nonce order, none twice, none skipped */
        for (size_t i = 0; i < n; i++) {
            int k = key_of(out[i]);
            ck_assert_uint_eq(out[i]->tx.nonce, ch->nonce[k]);
            ch->nonce[k]++;
            memcpy(inc[i], out[i]->hash, 32);
            memcpy(senders[i], addrs[k], 20);
        }
        struct txpool_block_update u = {.included = (const uint8_t(*)[32])inc,
                                        .included_count = n,
                                        .senders = (const uint8_t(*)[20])senders,
                                        .sender_count = n,
                                        .release_in_flight = true};
        before = txpool_work(p);
        struct cohort_error err = {0};
        ck_assert_int_eq(txpool_block(p, &u, chain_read, ch, &err), 0);
        w = txpool_work(p) - before;
        if (w > max_block) max_block = w;
        blocks++;
        if (blocks % 4 == 0) check_pool(p);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    expect_stats(p, 0, 0);
    ck_assert_uint_eq(total_picked, TOTAL); /* 9,999 of the first and the extra */
    ck_assert_int_eq(blocks, 10);
    fprintf(stderr,
            "txpool 10000 tx / 1000 senders: add work %llu (%.1f per add, max %llu), eviction %llu, pick max %llu, "
            "block max %llu, %d blocks, %.3f s without signing\n",
            (unsigned long long)add_work, (double)add_work / TOTAL, (unsigned long long)max_add,
            (unsigned long long)evict_work, (unsigned long long)max_pick, (unsigned long long)max_block, blocks,
            seconds);
    /* The bounds follow from the complexity in txpool.h with n = 10,000, S = 1,000, k = 10,
       log2 S = 10, and constant factors of 4 to 8: an O(n) step in any of them would blow
       through them by an order of magnitude. */
    ck_assert_uint_lt(add_work, (uint64_t)TOTAL * 64);           /* amortized O(log S + k) per add */
    ck_assert_uint_lt(max_add, 256);                            /* one add: the maps are sized at start */
    ck_assert_uint_lt(evict_work, 200);                         /* O(log S) */
    ck_assert_uint_lt(max_pick, SENDERS + 1000 * 10 * 4 + 1000); /* O(S + m log S) */
    ck_assert_uint_lt(max_block, 1000 * (10 + 10 * 4) + 2000);   /* O(h + t (k + log S)) */
    free(out);
    free(inc);
    free(senders);
    free(txs);
    free(ch);
    txpool_free(p);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("txpool_model");
    TCase *tc = tcase_create("txpool_model");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, model_comparison);
    tcase_add_test(tc, ten_thousand);
    suite_add_tcase(s, tc);
    return testutil_run_suite(s, false);
}
