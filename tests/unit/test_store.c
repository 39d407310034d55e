/*
 * test_store.c - the chain store (LMDB): a block's state written through a backed state
 * gives the same root as the whole state in memory (trie.h), block after block; reads at
 * older blocks give what the state was then; pruned blocks say so; the log index answers
 * what a scan of every receipt answers; a full map refuses a block without damage; a
 * store of the history's first layout (version 1) is migrated and reads the same.
 */
#include <check.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/keccak.h"
#include "subnode/chain/block.h"
#include "subnode/state/state.h"
#include "subnode/state/trie.h"
#include "subnode/store/store.h"
#include "testutil.h"

static char *temp_dir(void)
{
    char *dir = strdup("/tmp/cohort-test-store-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    return dir;
}

static void remove_dir(const char *dir)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* A header good enough for the store: number, parent, state root. */
static void make_header(struct block_header *h, uint64_t number, const uint8_t parent[32], const uint8_t root[32])
{
    memset(h, 0, sizeof *h);
    h->number = number;
    if (parent) memcpy(h->parent_hash, parent, 32);
    memcpy(h->state_root, root, 32);
    memcpy(h->ommers_hash, block_empty_ommers_hash, 32);
    h->gas_limit = 30000000;
    h->timestamp = 1000 + number;
    h->has_base_fee = true;
    h->base_fee = u256_from_u64(7);
    h->has_withdrawals_root = true;
    h->has_blob_gas = true;
    h->has_parent_beacon_root = true;
    memcpy(h->transactions_root, trie_empty_root, 32); /* no transactions, no receipts */
    memcpy(h->receipts_root, trie_empty_root, 32);
}

#define ACCOUNTS 64
#define SLOTS 8
#define BLOCKS 40
#define HISTORY 12

static uint8_t address_of(int i, uint8_t out[20])
{
    memset(out, 0, 20);
    out[0] = 0xa0;
    out[19] = (uint8_t)i;
    return out[19];
}

/* One random change, made the same way to both states. */
static void random_change(struct state *a, struct state *b, uint64_t *rng)
{
    struct cohort_error err = {0};
    uint8_t addr[20];
    address_of((int)(testutil_rand_next(rng) % ACCOUNTS), addr);
    u256 amount = u256_from_u64(testutil_rand_next(rng) % 1000);
    u256 key = u256_from_u64(testutil_rand_next(rng) % SLOTS);
    struct state *both[2] = {a, b};
    unsigned op = (unsigned)(testutil_rand_next(rng) % 9);
    for (int i = 0; i < 2; i++) {
        struct state *st = both[i];
        switch (op) {
        case 0:
        case 1: /* a value transfer: the recipient is touched, as the VM's host does */
            ck_assert_int_eq(state_add_balance(st, addr, amount, &err), 0);
            ck_assert_int_eq(state_touch(st, addr, &err), 0);
            break;
        case 2:
            if (state_exists(st, addr)) ck_assert_int_eq(state_set_nonce(st, addr, state_nonce(st, addr) + 1, &err), 0);
            break;
        case 3:
        case 4:
            if (state_exists(st, addr)) ck_assert_int_eq(state_set_storage(st, addr, key, amount, &err), 0);
            break;
        case 5:
            if (state_exists(st, addr)) ck_assert_int_eq(state_set_storage(st, addr, key, u256_zero(), &err), 0);
            break;
        case 6: {
            uint8_t code[3] = {0x60, (uint8_t)(amount.w[0] & 0xff), 0x00};
            if (!state_exists(st, addr)) {
                ck_assert_int_eq(state_create_account(st, addr, &err), 0);
                ck_assert_int_eq(state_set_code(st, addr, code, sizeof code, &err), 0);
            }
            break;
        }
        case 7: /* an empty account touched: EIP-161 deletes it */
            if (state_exists(st, addr) && state_is_empty(st, addr)) ck_assert_int_eq(state_touch(st, addr, &err), 0);
            else if (state_exists(st, addr)) ck_assert_int_eq(state_set_balance(st, addr, u256_zero(), &err), 0);
            break;
        case 8: /* self-destruct: the account and its storage go */
            if (state_exists(st, addr)) ck_assert_int_eq(state_mark_destructed(st, addr, &err), 0);
            break;
        }
    }
}

struct expected {
    bool exists;
    uint64_t nonce;
    u256 balance;
    u256 slot[SLOTS];
};

static void snapshot_mirror(struct state *mirror, struct expected out[ACCOUNTS])
{
    for (int i = 0; i < ACCOUNTS; i++) {
        uint8_t addr[20];
        address_of(i, addr);
        out[i].exists = state_exists(mirror, addr);
        out[i].nonce = state_nonce(mirror, addr);
        out[i].balance = state_balance(mirror, addr);
        for (int k = 0; k < SLOTS; k++) out[i].slot[k] = state_storage(mirror, addr, u256_from_u64((uint64_t)k));
    }
}

START_TEST(roots_and_history_match_the_state_in_memory)
{
    char *dir = temp_dir();
    struct cohort_error err = {0};
    struct store *s;
    struct store_options o = {.dir = dir, .map_bytes = 64u << 20, .history_blocks = HISTORY};
    ck_assert_msg(store_open(&o, &s, &err) == 0, "%s", err.message);
    struct state *mirror = state_new(), *genesis = state_new(), *work = state_new();
    uint64_t rng = 42;
    for (int i = 0; i < ACCOUNTS / 2; i++) {
        uint8_t addr[20];
        address_of(i, addr);
        for (int k = 0; k < 2; k++) {
            struct state *st = k ? mirror : genesis;
            ck_assert_int_eq(state_put_account(st, addr, 1, u256_from_u64(1000 + (uint64_t)i), NULL, 0, &err), 0);
            ck_assert_int_eq(state_put_storage(st, addr, u256_from_u64(1), u256_from_u64(5), &err), 0);
        }
    }
    static struct expected seen[BLOCKS + 1][ACCOUNTS];
    uint8_t root[32], want[32], parent[32];
    struct store_txn *t;
    ck_assert_int_eq(store_write_begin(s, &t, &err), 0);
    ck_assert_msg(store_txn_apply_state(t, genesis, 0, root, &err) == 0, "%s", err.message);
    ck_assert_int_eq(state_root(mirror, want, &err), 0);
    ck_assert_mem_eq(root, want, 32);
    struct block_header h;
    make_header(&h, 0, NULL, root);
    block_header_hash(&h, parent);
    struct store_block b = {.header = &h, .hash = parent};
    ck_assert_msg(store_txn_put_block(t, &b, &err) == 0, "%s", err.message);
    ck_assert_int_eq(store_write_commit(t, &err), 0);
    snapshot_mirror(mirror, seen[0]);

    for (uint64_t number = 1; number <= BLOCKS; number++) {
        ck_assert_int_eq(store_write_begin(s, &t, &err), 0);
        struct state_backend be;
        store_txn_backend(t, &be);
        state_reset(work);
        state_set_backend(work, &be);
        int txs = 1 + (int)(testutil_rand_next(&rng) % 5);
        for (int x = 0; x < txs; x++) {
            state_tx_begin(work);
            state_tx_begin(mirror);
            int changes = 1 + (int)(testutil_rand_next(&rng) % 12);
            for (int c = 0; c < changes; c++) random_change(work, mirror, &rng);
            state_tx_end(work);
            state_tx_end(mirror);
        }
        ck_assert_ptr_null(state_backend_error(work));
        ck_assert_msg(store_txn_apply_state(t, work, number, root, &err) == 0, "%s", err.message);
        ck_assert_int_eq(state_root(mirror, want, &err), 0);
        if (memcmp(root, want, 32) != 0) {
            for (int i = 0; i < ACCOUNTS; i++) {
                uint8_t addr[20], ch[32];
                address_of(i, addr);
                uint64_t nonce = 0;
                u256 bal = u256_zero();
                bool has = false;
                int rc = be.account(be.arg, addr, &nonce, &bal, ch, &has, &err);
                int slots_differ = 0;
                for (int k = 0; k < SLOTS; k++) {
                    u256 v;
                    be.storage(be.arg, addr, u256_from_u64((uint64_t)k), &v, &err);
                    if (!u256_eq(v, state_storage(mirror, addr, u256_from_u64((uint64_t)k)))) slots_differ++;
                }
                if (rc != state_exists(mirror, addr) || (rc == 1 && (nonce != state_nonce(mirror, addr) ||
                    !u256_eq(bal, state_balance(mirror, addr)) || slots_differ)))
                    fprintf(stderr, "acct %d: store %d nonce %llu bal %llu has_storage %d | mirror %d nonce %llu bal %llu; %d slots differ\n", i, rc,
                            (unsigned long long)nonce, (unsigned long long)bal.w[0], has, state_exists(mirror, addr),
                            (unsigned long long)state_nonce(mirror, addr),
                            (unsigned long long)state_balance(mirror, addr).w[0], slots_differ);
            }
        }
        ck_assert_msg(memcmp(root, want, 32) == 0, "block %llu: the store's root differs from the trie's",
                      (unsigned long long)number);
        make_header(&h, number, parent, root);
        block_header_hash(&h, parent);
        b = (struct store_block){.header = &h, .hash = parent};
        ck_assert_int_eq(store_txn_put_block(t, &b, &err), 0);
        ck_assert_int_eq(store_txn_set_applied(t, number * 10, &err), 0);
        ck_assert_int_eq(store_write_commit(t, &err), 0);
        snapshot_mirror(mirror, seen[number]);
    }
    /* Reads at every block still kept give that block's state; older ones are pruned. */
    struct store_view *v;
    ck_assert_int_eq(store_view_begin(s, &v, &err), 0);
    uint64_t head;
    ck_assert(store_view_head(v, &head, NULL));
    ck_assert_uint_eq(head, BLOCKS);
    ck_assert_uint_eq(store_view_oldest_state(v), BLOCKS - HISTORY);
    for (uint64_t number = BLOCKS - HISTORY; number <= BLOCKS; number++) {
        for (int i = 0; i < ACCOUNTS; i++) {
            uint8_t addr[20];
            address_of(i, addr);
            struct store_account a;
            int rc = store_account(v, number, addr, &a, &err);
            ck_assert_int_ge(rc, 0);
            const struct expected *e = &seen[number][i];
            ck_assert_msg(rc == (e->exists ? 1 : 0), "block %llu account %d: exists %d, want %d",
                          (unsigned long long)number, i, rc, e->exists);
            if (rc == 1) {
                ck_assert_uint_eq(a.nonce, e->nonce);
                ck_assert(u256_eq(a.balance, e->balance));
            }
            for (int k = 0; k < SLOTS; k++) {
                u256 value;
                ck_assert_int_eq(store_storage(v, number, addr, u256_from_u64((uint64_t)k), &value, &err), 0);
                ck_assert_msg(u256_eq(value, e->slot[k]), "block %llu account %d slot %d", (unsigned long long)number,
                              i, k);
            }
        }
    }
    struct store_account a;
    uint8_t addr[20];
    address_of(1, addr);
    ck_assert_int_eq(store_account(v, BLOCKS - HISTORY - 1, addr, &a, &err), STORE_E_PRUNED);
    ck_assert_ptr_nonnull(strstr(err.message, "pruned"));
    store_view_end(v);
    uint64_t applied;
    ck_assert_int_eq(store_applied(s, &applied, &err), 0);
    ck_assert_uint_eq(applied, BLOCKS * 10);
    state_free(mirror);
    state_free(genesis);
    state_free(work);
    store_close(s);

    /* Reopened, the store keeps its head and refuses another chain's genesis. */
    ck_assert_int_eq(store_open(&o, &s, &err), 0);
    ck_assert_int_eq(store_write_begin(s, &t, &err), 0);
    uint8_t g1[32] = {1}, g2[32] = {2};
    ck_assert_int_eq(store_txn_bind_chain(t, g1, 77, &err), 0);
    ck_assert_int_eq(store_txn_bind_chain(t, g2, 77, &err), STORE_E_MISMATCH);
    store_write_abort(t);
    store_close(s);
    remove_dir(dir);
    free(dir);
}
END_TEST

/* ---- Logs ---- */

#define LOG_BLOCKS 30

struct collected {
    uint64_t block[4096];
    uint32_t log_index[4096];
    size_t count;
};

static int collect(void *arg, const struct store_log_match *m, struct cohort_error *err)
{
    (void)err;
    struct collected *c = arg;
    ck_assert_uint_lt(c->count, 4096);
    c->block[c->count] = m->block_number;
    c->log_index[c->count++] = m->log_index;
    return 0;
}

START_TEST(log_index_and_bloom_answer_what_a_scan_answers)
{
    char *dir = temp_dir();
    struct cohort_error err = {0};
    struct store *s;
    struct store_options o = {.dir = dir, .map_bytes = 64u << 20};
    ck_assert_int_eq(store_open(&o, &s, &err), 0);
    uint64_t rng = 7;
    /* Every block: 0-3 transactions with 0-3 logs from one of 4 addresses and topics from 6. */
    static struct block_log logs[LOG_BLOCKS][12];
    static size_t log_counts[LOG_BLOCKS];
    uint8_t parent[32] = {0};
    for (uint64_t number = 0; number < LOG_BLOCKS; number++) {
        struct block_receipt receipts[3];
        const uint8_t *raws[3];
        size_t lens[3];
        uint8_t hashes[3][32];
        uint8_t raw[3][4];
        size_t txs = number == 0 ? 0 : testutil_rand_next(&rng) % 4, used = 0;
        for (size_t i = 0; i < txs; i++) {
            memset(&receipts[i], 0, sizeof receipts[i]);
            size_t n = testutil_rand_next(&rng) % 4;
            receipts[i].logs = &logs[number][used];
            receipts[i].log_count = n;
            for (size_t j = 0; j < n; j++, used++) {
                struct block_log *l = &logs[number][used];
                memset(l, 0, sizeof *l);
                l->address[0] = (uint8_t)(1 + testutil_rand_next(&rng) % 4);
                l->topic_count = (unsigned)(testutil_rand_next(&rng) % 3);
                for (unsigned k = 0; k < l->topic_count; k++) l->topics[k][0] = (uint8_t)(1 + testutil_rand_next(&rng) % 6);
                l->data = (const uint8_t *)"data";
                l->data_len = 4;
            }
            raw[i][0] = (uint8_t)number;
            raw[i][1] = (uint8_t)i;
            raws[i] = raw[i];
            lens[i] = 2;
            keccak256(raw[i], 2, hashes[i]);
        }
        log_counts[number] = used;
        struct store_txn *t;
        ck_assert_int_eq(store_write_begin(s, &t, &err), 0);
        struct state *empty = state_new();
        uint8_t root[32];
        ck_assert_int_eq(store_txn_apply_state(t, empty, number, root, &err), 0);
        state_free(empty);
        struct block_header h;
        make_header(&h, number, parent, root);
        /* The bloom answers the topic criteria (store_logs), as in a real block. */
        for (size_t i = 0; i < txs; i++) block_bloom_of_logs(h.logs_bloom, receipts[i].logs, receipts[i].log_count);
        block_header_hash(&h, parent);
        struct store_block b = {.header = &h, .hash = parent, .txs = raws, .tx_lens = lens,
                                .tx_hashes = (const uint8_t(*)[32])hashes, .receipts = receipts, .tx_count = txs};
        ck_assert_msg(store_txn_put_block(t, &b, &err) == 0, "%s", err.message);
        ck_assert_int_eq(store_write_commit(t, &err), 0);
    }
    struct store_view *v;
    ck_assert_int_eq(store_view_begin(s, &v, &err), 0);
    for (int q = 0; q < 200; q++) {
        uint8_t addresses[2][20] = {{0}}, topics[2][32] = {{0}};
        struct store_log_filter f = {0};
        f.from = testutil_rand_next(&rng) % LOG_BLOCKS;
        f.to = f.from + testutil_rand_next(&rng) % 10;
        if (testutil_rand_next(&rng) % 2) {
            f.address_count = 1 + testutil_rand_next(&rng) % 2;
            for (size_t i = 0; i < f.address_count; i++) addresses[i][0] = (uint8_t)(1 + testutil_rand_next(&rng) % 4);
            f.addresses = (const uint8_t(*)[20])addresses;
        }
        unsigned pos = (unsigned)(testutil_rand_next(&rng) % 3);
        if (pos < 2) {
            f.topic_count[pos] = 1 + testutil_rand_next(&rng) % 2;
            for (size_t i = 0; i < f.topic_count[pos]; i++) topics[i][0] = (uint8_t)(1 + testutil_rand_next(&rng) % 6);
            f.topics[pos] = (const uint8_t(*)[32])topics;
        }
        struct collected got = {0};
        ck_assert_int_eq(store_logs(v, &f, collect, &got, &err), 0);
        /* The scan: every log of every block in range, matched by hand. */
        size_t want = 0;
        for (uint64_t number = f.from; number <= f.to && number < LOG_BLOCKS; number++) {
            for (size_t j = 0; j < log_counts[number]; j++) {
                const struct block_log *l = &logs[number][j];
                bool ok = f.address_count == 0;
                for (size_t i = 0; i < f.address_count; i++) ok |= memcmp(addresses[i], l->address, 20) == 0;
                if (ok && f.topic_count[pos] && pos < 2) {
                    bool t = false;
                    for (size_t i = 0; i < f.topic_count[pos]; i++)
                        t |= pos < l->topic_count && memcmp(topics[i], l->topics[pos], 32) == 0;
                    ok = t;
                }
                if (!ok) continue;
                ck_assert_uint_lt(want, got.count);
                ck_assert_uint_eq(got.block[want], number);
                ck_assert_uint_eq(got.log_index[want], j);
                want++;
            }
        }
        ck_assert_uint_eq(got.count, want);
    }
    /* A receipt read by index carries its logs and the block-wide index of the first. */
    for (uint64_t number = 1; number < LOG_BLOCKS; number++) {
        uint32_t count;
        ck_assert_int_eq(store_block_tx_count(v, number, &count, &err), 1);
        uint32_t before = 0;
        for (uint32_t i = 0; i < count; i++) {
            struct block_receipt r;
            uint32_t first;
            ck_assert_int_eq(store_receipt(v, number, i, &r, &first, &err), 1);
            ck_assert_uint_eq(first, before);
            before += (uint32_t)r.log_count;
            store_receipt_free(&r);
        }
        ck_assert_uint_eq(before, log_counts[number]);
    }
    store_view_end(v);
    store_close(s);
    remove_dir(dir);
    free(dir);
}
END_TEST

START_TEST(a_full_map_refuses_the_block_and_keeps_the_head)
{
    char *dir = temp_dir();
    struct cohort_error err = {0};
    struct store *s;
    struct store_options o = {.dir = dir, .map_bytes = 1u << 20};
    ck_assert_int_eq(store_open(&o, &s, &err), 0);
    uint8_t parent[32] = {0};
    uint64_t number = 0;
    int rc = 0;
    /* Blocks of 200 new accounts each until the 1 MiB map is full. */
    for (; number < 1000; number++) {
        struct state *st = state_new();
        for (int i = 0; i < 200; i++) {
            uint8_t addr[20] = {0};
            memcpy(addr, &number, 8);
            memcpy(addr + 8, &i, 4);
            ck_assert_int_eq(state_put_account(st, addr, 1, u256_from_u64(1), NULL, 0, &err), 0);
        }
        struct store_txn *t;
        ck_assert_int_eq(store_write_begin(s, &t, &err), 0);
        uint8_t root[32];
        if (number == 0) rc = store_txn_apply_state(t, st, number, root, &err);
        else {
            /* Later blocks go through a backed state, as the executor's do. */
            struct state *work = state_new();
            struct state_backend be;
            store_txn_backend(t, &be);
            state_set_backend(work, &be);
            state_tx_begin(work);
            for (int i = 0; i < 200; i++) {
                uint8_t addr[20] = {0};
                memcpy(addr, &number, 8);
                memcpy(addr + 8, &i, 4);
                ck_assert_int_eq(state_add_balance(work, addr, u256_from_u64(1), &err), 0);
            }
            state_tx_end(work);
            rc = store_txn_apply_state(t, work, number, root, &err);
            state_free(work);
        }
        state_free(st);
        struct block_header h;
        make_header(&h, number, parent, root);
        uint8_t hash[32];
        block_header_hash(&h, hash);
        struct store_block b = {.header = &h, .hash = hash};
        if (rc == 0) rc = store_txn_put_block(t, &b, &err);
        if (rc == 0) rc = store_write_commit(t, &err);
        else store_write_abort(t);
        if (rc != 0) break;
        memcpy(parent, hash, 32);
    }
    ck_assert_int_eq(rc, STORE_E_FULL);
    ck_assert_ptr_nonnull(strstr(err.message, "disk budget"));
    ck_assert_uint_gt(number, 0);
    store_close(s);
    /* Reopened: the head is the last block that fit, whole. */
    ck_assert_int_eq(store_open(&o, &s, &err), 0);
    struct store_view *v;
    ck_assert_int_eq(store_view_begin(s, &v, &err), 0);
    uint64_t head;
    uint8_t head_hash[32];
    ck_assert(store_view_head(v, &head, head_hash));
    ck_assert_uint_eq(head, number - 1);
    ck_assert_mem_eq(head_hash, parent, 32);
    store_view_end(v);
    store_close(s);
    remove_dir(dir);
    free(dir);
}
END_TEST

/* ---- State transfer ---- */

/* Builds a store of BLOCKS random blocks (history HISTORY) in dir; returns it open. */
/*
 * Writes blocks after the head up to `to`, each with `rounds` rounds of 10 random changes,
 * made in mirror too (a state in memory kept equal to the store's latest).
 */
static void add_blocks(struct store *s, struct state *mirror, uint64_t to, int rounds, uint64_t *rng)
{
    struct cohort_error err = {0};
    struct store_view *v;
    ck_assert_int_eq(store_view_begin(s, &v, &err), 0);
    uint64_t head;
    uint8_t parent[32], root[32];
    ck_assert(store_view_head(v, &head, parent));
    store_view_end(v);
    struct state *work = state_new();
    for (uint64_t number = head + 1; number <= to; number++) {
        struct store_txn *t;
        ck_assert_int_eq(store_write_begin(s, &t, &err), 0);
        struct state_backend be;
        store_txn_backend(t, &be);
        state_reset(work);
        state_set_backend(work, &be);
        for (int x = 0; x < rounds; x++) {
            state_tx_begin(work);
            state_tx_begin(mirror);
            for (int c = 0; c < 10; c++) random_change(work, mirror, rng);
            state_tx_end(work);
            state_tx_end(mirror);
        }
        ck_assert_msg(store_txn_apply_state(t, work, number, root, &err) == 0, "%s", err.message);
        struct block_header h;
        make_header(&h, number, parent, root);
        block_header_hash(&h, parent);
        struct store_block b = {.header = &h, .hash = parent};
        ck_assert_int_eq(store_txn_put_block(t, &b, &err), 0);
        ck_assert_int_eq(store_write_commit(t, &err), 0);
    }
    state_free(work);
}

static struct store *random_chain(const char *dir, uint64_t seed)
{
    struct cohort_error err = {0};
    struct store *s;
    struct store_options o = {.dir = dir, .map_bytes = 64u << 20, .history_blocks = HISTORY};
    ck_assert_msg(store_open(&o, &s, &err) == 0, "%s", err.message);
    struct state *mirror = state_new(), *work = state_new();
    for (int i = 0; i < ACCOUNTS / 2; i++) {
        uint8_t addr[20];
        address_of(i, addr);
        ck_assert_int_eq(state_put_account(work, addr, 1, u256_from_u64(1000 + (uint64_t)i), NULL, 0, &err), 0);
        ck_assert_int_eq(state_put_storage(work, addr, u256_from_u64(1), u256_from_u64(5), &err), 0);
        ck_assert_int_eq(state_put_account(mirror, addr, 1, u256_from_u64(1000 + (uint64_t)i), NULL, 0, &err), 0);
        ck_assert_int_eq(state_put_storage(mirror, addr, u256_from_u64(1), u256_from_u64(5), &err), 0);
    }
    /* The genesis, then BLOCKS blocks. */
    uint8_t root[32], hash[32];
    struct block_header h;
    struct store_txn *t;
    ck_assert_int_eq(store_write_begin(s, &t, &err), 0);
    ck_assert_msg(store_txn_apply_state(t, work, 0, root, &err) == 0, "%s", err.message);
    make_header(&h, 0, NULL, root);
    block_header_hash(&h, hash);
    struct store_block b = {.header = &h, .hash = hash};
    ck_assert_int_eq(store_txn_put_block(t, &b, &err), 0);
    ck_assert_int_eq(store_write_commit(t, &err), 0);
    uint64_t rng = seed;
    add_blocks(s, mirror, BLOCKS, 4, &rng);
    state_free(mirror);
    state_free(work);
    return s;
}

/* Exports the state at number from src chunk by chunk (chunk_bytes) into dst; flip: a byte to damage in chunk 1. */
static int transfer(struct store *src, struct store *dst, uint64_t number, size_t chunk_bytes, bool damage,
                    size_t *chunks, struct cohort_error *err)
{
    struct store_view *v;
    ck_assert_int_eq(store_view_begin(src, &v, err), 0);
    uint8_t *bytes;
    size_t len;
    ck_assert_msg(store_export_blocks(v, number, 0, &bytes, &len, err) == 0, "%s", err->message);
    struct store_blocks blocks;
    ck_assert_msg(store_blocks_decode(bytes, len, number, 0, &blocks, err) == 0, "%s", err->message);
    uint8_t hash[32];
    ck_assert_int_eq(store_block_hash(v, number, hash, err), 1);
    ck_assert_mem_eq(blocks.hash, hash, 32);
    ck_assert_int_eq(store_import_begin(dst, number, err), 0);
    uint8_t cursor[STORE_CURSOR_BYTES] = {0};
    *chunks = 0;
    for (;;) {
        uint8_t *c;
        size_t clen;
        ck_assert_msg(store_export_state(v, number, cursor, chunk_bytes, &c, &clen, err) == 0, "%s", err->message);
        if (damage && *chunks == 1) {
            ck_assert_uint_gt(clen, 40);
            ck_assert_uint_eq(c[0], 'A'); /* an account: its balance's last byte */
            c[1 + 20 + 8 + 31] ^= 1;
        }
        struct store_chunk chunk;
        ck_assert_msg(store_chunk_decode(c, clen, cursor, &chunk, err) == 0, "%s", err->message);
        ck_assert_int_eq(store_import_chunk(dst, &chunk, err), 0);
        (*chunks)++;
        bool done = chunk.done;
        memcpy(cursor, chunk.next, sizeof cursor);
        store_chunk_free(&chunk);
        free(c);
        if (done) break;
        ck_assert_uint_lt(*chunks, 10000);
    }
    int rc = store_import_finish(dst, &blocks, 777, err);
    free(bytes);
    store_view_end(v);
    return rc;
}

START_TEST(a_state_transfer_installs_the_state_at_a_block)
{
    struct cohort_error err = {0};
    char *src_dir = temp_dir(), *dst_dir = temp_dir();
    struct store *src = random_chain(src_dir, 7);
    struct store_options o = {.dir = dst_dir, .map_bytes = 64u << 20, .history_blocks = HISTORY};
    struct store *dst;
    ck_assert_int_eq(store_open(&o, &dst, &err), 0);
    /* At an older block (through the history: keys deleted since come back) and at the head. */
    uint64_t targets[2] = {BLOCKS - 5, BLOCKS};
    for (int ti = 0; ti < 2; ti++) {
        uint64_t number = targets[ti];
        size_t chunks;
        ck_assert_msg(transfer(src, dst, number, 200, false, &chunks, &err) == 0, "%s", err.message);
        ck_assert_uint_gt(chunks, 3); /* small chunks: cursors inside accounts and between them */
        struct store_view *a, *b;
        ck_assert_int_eq(store_view_begin(src, &a, &err), 0);
        ck_assert_int_eq(store_view_begin(dst, &b, &err), 0);
        uint64_t head;
        uint8_t hash[32], want[32];
        ck_assert(store_view_head(b, &head, hash));
        ck_assert_uint_eq(head, number);
        ck_assert_int_eq(store_block_hash(a, number, want, &err), 1);
        ck_assert_mem_eq(hash, want, 32);
        ck_assert_uint_eq(store_view_base(b), number);
        ck_assert_uint_eq(store_view_oldest_state(b), number);
        for (int i = 0; i < ACCOUNTS; i++) {
            uint8_t addr[20];
            address_of(i, addr);
            struct store_account x, y;
            int rx = store_account(a, number, addr, &x, &err), ry = store_account(b, number, addr, &y, &err);
            ck_assert_int_eq(rx, ry);
            if (rx == 1) {
                ck_assert_uint_eq(x.nonce, y.nonce);
                ck_assert(u256_eq(x.balance, y.balance));
                ck_assert_mem_eq(x.code_hash, y.code_hash, 32);
                ck_assert_mem_eq(x.storage_root, y.storage_root, 32);
            }
            for (int k = 0; k < SLOTS; k++) {
                u256 p, q;
                ck_assert_int_eq(store_storage(a, number, addr, u256_from_u64((uint64_t)k), &p, &err), 0);
                ck_assert_int_eq(store_storage(b, number, addr, u256_from_u64((uint64_t)k), &q, &err), 0);
                ck_assert(u256_eq(p, q));
            }
        }
        /* Below the base: the hashes BLOCKHASH reads, no whole block, no state. */
        ck_assert_int_eq(store_block_hash(b, number - 1, hash, &err), 1);
        ck_assert_int_eq(store_block_hash(a, number - 1, want, &err), 1);
        ck_assert_mem_eq(hash, want, 32);
        ck_assert_int_eq(store_header(b, number - 1, NULL, NULL, &err), 0);
        struct store_account x;
        uint8_t addr[20];
        address_of(1, addr);
        ck_assert_int_eq(store_account(b, number - 1, addr, &x, &err), STORE_E_PRUNED);
        uint64_t applied;
        ck_assert_int_eq(store_applied(dst, &applied, &err), 0);
        ck_assert_uint_eq(applied, 777);
        store_view_end(b);
        if (ti == 0) {
            /* The blocks before it, one by one downward: whole again, their state still not held. */
            for (uint64_t k = number - 1; k >= number - 10; k--) {
                uint8_t *bytes;
                size_t len;
                struct store_blocks older;
                ck_assert_int_eq(store_export_blocks(a, k, 1, &bytes, &len, &err), 0);
                ck_assert_msg(store_blocks_decode(bytes, len, k, 1, &older, &err) == 0, "%s", err.message);
                ck_assert_msg(store_import_older_block(dst, &older, &err) == 0, "%s", err.message);
                free(bytes);
            }
            uint8_t *bytes;
            size_t len;
            struct store_blocks older;
            ck_assert_int_eq(store_export_blocks(a, number - 12, 1, &bytes, &len, &err), 0);
            ck_assert_int_eq(store_blocks_decode(bytes, len, number - 12, 1, &older, &err), 0);
            ck_assert_int_eq(store_import_older_block(dst, &older, &err), STORE_E_INVALID); /* not base - 1 */
            free(bytes);
            ck_assert_int_eq(store_view_begin(dst, &b, &err), 0);
            ck_assert_uint_eq(store_view_base(b), number - 10);
            ck_assert_int_eq(store_header(b, number - 10, NULL, hash, &err), 1);
            ck_assert_int_eq(store_block_hash(a, number - 10, want, &err), 1);
            ck_assert_mem_eq(hash, want, 32);
            ck_assert_int_eq(store_account(b, number - 10, addr, &x, &err), STORE_E_PRUNED);
            ck_assert_uint_eq(store_view_oldest_state(b), number);
            store_view_end(b);
        }
        store_view_end(a);
    }
    /* A source that alters one balance: the root gives it away, nothing is installed. */
    size_t chunks;
    ck_assert_int_eq(transfer(src, dst, BLOCKS - 2, 200, true, &chunks, &err), STORE_E_MISMATCH);
    ck_assert_ptr_nonnull(strstr(err.message, "state root"));
    /* A transfer cut by a crash: the reopened store is empty, ready to start again. */
    store_close(dst);
    ck_assert_int_eq(store_open(&o, &dst, &err), 0);
    ck_assert(store_import_discarded(dst));
    struct store_view *b;
    ck_assert_int_eq(store_view_begin(dst, &b, &err), 0);
    uint64_t head;
    ck_assert(!store_view_head(b, &head, NULL));
    store_view_end(b);
    /* The chunks a decoder refuses: cut short, out of order, a code that is not its hash. */
    struct store_view *a;
    ck_assert_int_eq(store_view_begin(src, &a, &err), 0);
    uint8_t cursor[STORE_CURSOR_BYTES] = {0}, *c;
    size_t clen;
    ck_assert_int_eq(store_export_state(a, BLOCKS, cursor, 0, &c, &clen, &err), 0);
    struct store_chunk chunk;
    ck_assert_int_eq(store_chunk_decode(c, clen, cursor, &chunk, &err), 0);
    ck_assert(chunk.done);
    ck_assert_uint_gt(chunk.account_count, 10);
    store_chunk_free(&chunk);
    ck_assert_int_eq(store_chunk_decode(c, clen - 1, cursor, &chunk, &err), STORE_E_CORRUPT);
    uint8_t later[STORE_CURSOR_BYTES] = {0};
    memset(later, 0xff, 20); /* a cursor past every account: the chunk goes backward */
    ck_assert_int_eq(store_chunk_decode(c, clen, later, &chunk, &err), STORE_E_CORRUPT);
    ck_assert_ptr_nonnull(strstr(err.message, "out of order"));
    c[1 + 20 + 8 + 32] ^= 1; /* the first account's code hash */
    ck_assert_int_eq(store_chunk_decode(c, clen, cursor, &chunk, &err), STORE_E_CORRUPT);
    free(c);
    /* A blocks answer for another number, or cut short. */
    ck_assert_int_eq(store_export_blocks(a, BLOCKS, 0, &c, &clen, &err), 0);
    struct store_blocks blocks;
    ck_assert_int_eq(store_blocks_decode(c, clen, BLOCKS - 1, 0, &blocks, &err), STORE_E_CORRUPT);
    ck_assert_int_eq(store_blocks_decode(c, clen - 1, BLOCKS, 0, &blocks, &err), STORE_E_CORRUPT);
    c[4 + 4 + 10] ^= 1; /* inside header N: its hash changes, so its child link breaks nothing but N's hash */
    if (store_blocks_decode(c, clen, BLOCKS, 0, &blocks, &err) == 0) {
        uint8_t want[32];
        ck_assert_int_eq(store_block_hash(a, BLOCKS, want, &err), 1);
        ck_assert(memcmp(blocks.hash, want, 32) != 0);
    }
    free(c);
    store_view_end(a);
    store_close(src);
    store_close(dst);
    remove_dir(src_dir);
    remove_dir(dst_dir);
    free(src_dir);
    free(dst_dir);
}
END_TEST

static uint64_t oldest_state(struct store *s)
{
    struct cohort_error err = {0};
    struct store_view *v;
    ck_assert_int_eq(store_view_begin(s, &v, &err), 0);
    uint64_t oldest = store_view_oldest_state(v);
    store_view_end(v);
    return oldest;
}

/*
 * A state transfer outlasting the history window (store_hold_history): while the state at
 * N is held, the chain makes 5 x HISTORY blocks more and the state at N still installs
 * (its root checks); once the hold ends, pruning catches up, STORE_PRUNE_PER_WRITE blocks
 * per write, and N is gone. A hold further back than its reach keeps nothing.
 */
START_TEST(a_held_state_outlasts_the_history_window)
{
    struct cohort_error err = {0};
    char *src_dir = temp_dir(), *dst_dir = temp_dir();
    struct store *src = random_chain(src_dir, 11);
    struct state *mirror = state_new(); /* a scratch: the changes' second copy, not compared here */
    uint64_t rng = 12, n = BLOCKS - 5;
    ck_assert_uint_eq(oldest_state(src), BLOCKS - HISTORY);
    store_hold_history(src, n, 60000);
    add_blocks(src, mirror, BLOCKS + 5 * HISTORY, 1, &rng);
    ck_assert_uint_eq(oldest_state(src), n); /* pruned up to it, not past it */
    struct store_options o = {.dir = dst_dir, .map_bytes = 64u << 20, .history_blocks = HISTORY};
    struct store *dst;
    ck_assert_int_eq(store_open(&o, &dst, &err), 0);
    size_t chunks;
    ck_assert_msg(transfer(src, dst, n, 200, false, &chunks, &err) == 0, "%s", err.message);
    store_close(dst);
    /* The hold ends: the next writes prune what it kept, 64 blocks at most each. */
    store_hold_history(src, n, 1);
    usleep(5000);
    add_blocks(src, mirror, BLOCKS + 5 * HISTORY + 1, 1, &rng);
    uint64_t head = BLOCKS + 5 * HISTORY + 1;
    uint64_t want = head - HISTORY < n + STORE_PRUNE_PER_WRITE ? head - HISTORY : n + STORE_PRUNE_PER_WRITE;
    ck_assert_uint_eq(oldest_state(src), want);
    add_blocks(src, mirror, head + 1, 1, &rng);
    ck_assert_uint_eq(oldest_state(src), head + 1 - HISTORY);
    struct store_view *v;
    ck_assert_int_eq(store_view_begin(src, &v, &err), 0);
    uint8_t cursor[STORE_CURSOR_BYTES] = {0}, *c;
    size_t clen;
    ck_assert_int_eq(store_export_state(v, n, cursor, 0, &c, &clen, &err), STORE_E_PRUNED);
    store_view_end(v);
    /* Too far back: a hold reaches STORE_HOLD_MAX_FACTOR x HISTORY behind the head at most. */
    uint64_t far = head + 1 - HISTORY;
    store_hold_history(src, far, 60000);
    add_blocks(src, mirror, far + STORE_HOLD_MAX_FACTOR * HISTORY, 1, &rng);
    ck_assert_uint_eq(oldest_state(src), far); /* within reach: held */
    add_blocks(src, mirror, far + STORE_HOLD_MAX_FACTOR * HISTORY + 1, 1, &rng);
    ck_assert_uint_eq(oldest_state(src), far + STORE_PRUNE_PER_WRITE); /* out of reach: pruning resumes */
    head = far + STORE_HOLD_MAX_FACTOR * HISTORY + 8;
    add_blocks(src, mirror, head, 1, &rng);
    ck_assert_uint_eq(oldest_state(src), head - HISTORY);
    /* Reopened: the mark says how far pruning went. */
    store_close(src);
    o.dir = src_dir;
    ck_assert_int_eq(store_open(&o, &src, &err), 0);
    ck_assert_uint_eq(oldest_state(src), head - HISTORY);
    store_close(src);
    /* An import into a store that had pruned far past the imported block forgets the mark. */
    char *other_dir = temp_dir();
    struct store *other = random_chain(other_dir, 21);
    add_blocks(other, mirror, 200, 1, &rng);
    ck_assert_uint_eq(oldest_state(other), 200 - HISTORY);
    char *fresh_dir = temp_dir();
    struct store *fresh = random_chain(fresh_dir, 22);
    size_t chunks2;
    ck_assert_msg(transfer(fresh, other, BLOCKS - 5, 0, false, &chunks2, &err) == 0, "%s", err.message);
    ck_assert_uint_eq(oldest_state(other), BLOCKS - 5);
    store_close(fresh);
    store_close(other);
    remove_dir(other_dir);
    remove_dir(fresh_dir);
    free(other_dir);
    free(fresh_dir);
    state_free(mirror);
    remove_dir(src_dir);
    remove_dir(dst_dir);
    free(src_dir);
    free(dst_dir);
}
END_TEST

/*
 * A state export reads the history through one cursor per block after its block, so a
 * block further behind the head than export_behind_max is refused, whatever the history
 * still holds: the requester asks a newer snapshot.
 */
START_TEST(an_export_far_behind_the_head_is_refused)
{
    struct cohort_error err = {0};
    char *dir = temp_dir();
    struct store *s = random_chain(dir, 23);
    store_close(s);
    struct store_options o = {.dir = dir, .map_bytes = 64u << 20, .history_blocks = HISTORY, .export_behind_max = 3};
    ck_assert_msg(store_open(&o, &s, &err) == 0, "%s", err.message);
    struct store_view *v;
    ck_assert_int_eq(store_view_begin(s, &v, &err), 0);
    uint64_t head;
    ck_assert(store_view_head(v, &head, NULL));
    ck_assert_uint_le(store_view_oldest_state(v), head - 4); /* readable, so the refusal is the reach's */
    uint8_t cursor[STORE_CURSOR_BYTES] = {0}, *c = NULL;
    size_t clen;
    ck_assert_int_eq(store_export_state(v, head - 4, cursor, 0, &c, &clen, &err), STORE_E_PRUNED);
    ck_assert_ptr_nonnull(strstr(err.message, "behind the head"));
    ck_assert_msg(store_export_state(v, head - 3, cursor, 0, &c, &clen, &err) == 0, "%s", err.message);
    ck_assert_uint_gt(clen, 0);
    free(c);
    store_view_end(v);
    store_close(s);
    remove_dir(dir);
    free(dir);
}
END_TEST

/* Every account's and slot's value at every readable block, as reads answer them. */
struct reads {
    uint64_t oldest, head;
    int found[BLOCKS + 1][ACCOUNTS];
    struct store_account account[BLOCKS + 1][ACCOUNTS];
    u256 slot[BLOCKS + 1][ACCOUNTS][SLOTS];
};

static void read_all(struct store *s, struct reads *r)
{
    struct cohort_error err = {0};
    struct store_view *v;
    ck_assert_int_eq(store_view_begin(s, &v, &err), 0);
    ck_assert(store_view_head(v, &r->head, NULL));
    r->oldest = store_view_oldest_state(v);
    ck_assert_uint_le(r->head, BLOCKS);
    for (uint64_t n = r->oldest; n <= r->head; n++)
        for (int i = 0; i < ACCOUNTS; i++) {
            uint8_t addr[20];
            address_of(i, addr);
            r->found[n][i] = store_account(v, n, addr, &r->account[n][i], &err);
            ck_assert_int_ge(r->found[n][i], 0);
            for (int k = 0; k < SLOTS; k++)
                ck_assert_int_eq(store_storage(v, n, addr, u256_from_u64((uint64_t)k), &r->slot[n][i][k], &err), 0);
        }
    store_view_end(v);
}

/*
 * Rewrites a store's history the way version 1 kept it: key first (hist_accounts address |
 * number, hist_storage address | slot | number), with hist_by_block and a log_topic index
 * beside it, and meta version 1. Checks on the way that pruning left no entry of a block
 * at or before the oldest readable one.
 */
static void make_version_1(const char *dir, uint64_t oldest)
{
    MDB_env *env;
    MDB_txn *txn;
    ck_assert_int_eq(mdb_env_create(&env), 0);
    ck_assert_int_eq(mdb_env_set_maxdbs(env, 32), 0);
    ck_assert_int_eq(mdb_env_set_mapsize(env, 64u << 20), 0);
    ck_assert_int_eq(mdb_env_open(env, dir, MDB_NOTLS, 0600), 0);
    ck_assert_int_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
    static const struct {
        const char *now, *then;
        size_t key_len;
    } tables[] = {{"history_accounts", "hist_accounts", 20}, {"history_storage", "hist_storage", 52}};
    size_t entries = 0;
    for (size_t t = 0; t < 2; t++) {
        MDB_dbi now, then;
        ck_assert_int_eq(mdb_dbi_open(txn, tables[t].now, 0, &now), 0);
        ck_assert_int_eq(mdb_dbi_open(txn, tables[t].then, MDB_CREATE, &then), 0);
        MDB_cursor *c;
        ck_assert_int_eq(mdb_cursor_open(txn, now, &c), 0);
        MDB_val k, v;
        for (int rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
            size_t len = tables[t].key_len;
            ck_assert_uint_eq(k.mv_size, 8 + len);
            uint8_t old[60];
            uint64_t number = 0;
            for (int b = 0; b < 8; b++) number = number << 8 | ((const uint8_t *)k.mv_data)[b];
            ck_assert_uint_gt(number, oldest);
            memcpy(old, (const uint8_t *)k.mv_data + 8, len);
            memcpy(old + len, k.mv_data, 8);
            MDB_val ok = {.mv_size = 8 + len, .mv_data = old};
            ck_assert_int_eq(mdb_put(txn, then, &ok, &v, 0), 0);
            entries++;
        }
        mdb_cursor_close(c);
        ck_assert_int_eq(mdb_drop(txn, now, 1), 0);
    }
    ck_assert_uint_gt(entries, 0);
    MDB_dbi by_block, topic, meta;
    ck_assert_int_eq(mdb_dbi_open(txn, "hist_by_block", MDB_CREATE, &by_block), 0);
    ck_assert_int_eq(mdb_dbi_open(txn, "log_topic", MDB_CREATE | MDB_DUPSORT | MDB_DUPFIXED, &topic), 0);
    ck_assert_int_eq(mdb_dbi_open(txn, "meta", 0, &meta), 0);
    uint8_t one[4] = {0, 0, 0, 1}, key[32] = {7}, number[8] = {0, 0, 0, 0, 0, 0, 0, 9};
    MDB_val k = {.mv_size = 8, .mv_data = number}, v = {.mv_size = 1, .mv_data = key};
    ck_assert_int_eq(mdb_put(txn, by_block, &k, &v, 0), 0);
    k = (MDB_val){.mv_size = 32, .mv_data = key};
    v = (MDB_val){.mv_size = 8, .mv_data = number};
    ck_assert_int_eq(mdb_put(txn, topic, &k, &v, 0), 0);
    k = (MDB_val){.mv_size = 7, .mv_data = "version"};
    v = (MDB_val){.mv_size = 4, .mv_data = one};
    ck_assert_int_eq(mdb_put(txn, meta, &k, &v, 0), 0);
    ck_assert_int_eq(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
}

/*
 * A store of version 1 opens: its history is rewritten block first, and every read at
 * every readable block answers what it answered before; the next blocks go on from there.
 */
START_TEST(a_version_1_store_is_migrated)
{
    struct cohort_error err = {0};
    char *dir = temp_dir();
    struct store *s = random_chain(dir, 21);
    static struct reads before, after;
    read_all(s, &before);
    ck_assert_uint_lt(before.oldest, before.head);
    store_close(s);
    make_version_1(dir, before.oldest);
    struct store_options o = {.dir = dir, .map_bytes = 64u << 20, .history_blocks = HISTORY};
    ck_assert_msg(store_open(&o, &s, &err) == 0, "%s", err.message);
    read_all(s, &after);
    ck_assert_uint_eq(after.oldest, before.oldest);
    ck_assert_uint_eq(after.head, before.head);
    for (uint64_t n = before.oldest; n <= before.head; n++)
        for (int i = 0; i < ACCOUNTS; i++) {
            ck_assert_int_eq(after.found[n][i], before.found[n][i]);
            if (before.found[n][i] == 1) {
                ck_assert_uint_eq(after.account[n][i].nonce, before.account[n][i].nonce);
                ck_assert(u256_eq(after.account[n][i].balance, before.account[n][i].balance));
            }
            for (int k = 0; k < SLOTS; k++) ck_assert(u256_eq(after.slot[n][i][k], before.slot[n][i][k]));
        }
    /* Reopened (version 2 now), and written on. */
    store_close(s);
    ck_assert_msg(store_open(&o, &s, &err) == 0, "%s", err.message);
    struct state *mirror = state_new();
    uint64_t rng = 22;
    add_blocks(s, mirror, BLOCKS + 2, 1, &rng);
    state_free(mirror);
    store_close(s);
    remove_dir(dir);
    free(dir);
}
END_TEST

static Suite *store_suite(void)
{
    Suite *s = suite_create("store");
    TCase *tc = tcase_create("store");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, roots_and_history_match_the_state_in_memory);
    tcase_add_test(tc, log_index_and_bloom_answer_what_a_scan_answers);
    tcase_add_test(tc, a_full_map_refuses_the_block_and_keeps_the_head);
    tcase_add_test(tc, a_state_transfer_installs_the_state_at_a_block);
    tcase_add_test(tc, a_held_state_outlasts_the_history_window);
    tcase_add_test(tc, a_version_1_store_is_migrated);
    tcase_add_test(tc, an_export_far_behind_the_head_is_refused);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return testutil_run_suite(store_suite(), false);
}
