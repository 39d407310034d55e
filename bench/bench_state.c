/*
 * bench_state.c - a store filled with many accounts (bench_state.h).
 */
#include "bench_state.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "subnode/chain/block.h"
#include "subnode/state/state.h"
#include "subnode/state/trie.h"

_Noreturn static void die(const char *what, const struct cohort_error *err)
{
    fprintf(stderr, "bench_state: %s: %s\n", what, err ? err->message : "");
    exit(1);
}

static void header(struct block_header *h, const struct block_header *parent, uint64_t number,
                   const uint8_t parent_hash[32], const uint8_t root[32])
{
    memset(h, 0, sizeof *h);
    h->number = number;
    if (parent_hash) memcpy(h->parent_hash, parent_hash, 32);
    memcpy(h->state_root, root, 32);
    memcpy(h->ommers_hash, block_empty_ommers_hash, 32);
    memcpy(h->transactions_root, trie_empty_root, 32);
    memcpy(h->receipts_root, trie_empty_root, 32);
    memcpy(h->withdrawals_root, trie_empty_root, 32);
    h->gas_limit = parent ? parent->gas_limit : 30000000;
    h->timestamp = parent ? parent->timestamp : 1000 + number;
    h->has_base_fee = true;
    h->base_fee = parent ? parent->base_fee : u256_from_u64(7);
    h->has_withdrawals_root = true;
    h->has_blob_gas = true;
    h->has_parent_beacon_root = true;
}

uint64_t bench_state_fill(struct store *s, uint64_t accounts, bool on_head, uint64_t *slots)
{
    struct cohort_error err = {0};
    static const uint8_t code[] = {0x60, 0x20, 0x35, 0x60, 0x00, 0x35, 0x55, 0x00};
    uint8_t parent[32], root[32];
    struct block_header head;
    uint64_t number = 0;
    if (on_head) {
        struct store_view *v;
        if (store_view_begin(s, &v, &err) != 0) die("view", &err);
        if (!store_view_head(v, &number, parent)) die("the store has no head", NULL);
        if (store_header(v, number, &head, NULL, &err) != 1) die("the head's header", &err);
        store_view_end(v);
        number++;
    }
    uint64_t first = number;
    *slots = 0;
    for (uint64_t done = 0; done < accounts || number == first; number++) {
        struct store_txn *t;
        if (store_write_begin(s, &t, &err) != 0) die("begin", &err);
        struct state *st = state_new();
        struct state_backend be;
        store_txn_backend(t, &be);
        if (number > 0) state_set_backend(st, &be);
        for (uint64_t i = 0; i < BENCH_STATE_PER_BLOCK && done < accounts; i++, done++) {
            uint8_t a[20] = {0};
            for (int k = 0; k < 8; k++) a[12 + k] = (uint8_t)((done * 0x9e3779b97f4a7c15ull) >> (56 - 8 * k));
            a[0] = (uint8_t)done;
            bool contract = done % 100 == 0;
            if (state_put_account(st, a, 1, u256_from_u64(1000000 + done), contract ? code : NULL,
                                  contract ? sizeof code : 0, &err) != 0)
                die("account", &err);
            for (uint64_t k = 0; contract && k < 16; k++, (*slots)++)
                if (state_put_storage(st, a, u256_from_u64(k + 1), u256_from_u64(done + k + 1), &err) != 0)
                    die("slot", &err);
        }
        if (store_txn_apply_state(t, st, number, root, &err) != 0) die("apply", &err);
        struct block_header h;
        header(&h, on_head ? &head : NULL, number, number ? parent : NULL, root);
        block_header_hash(&h, parent);
        struct store_block b = {.header = &h, .hash = parent};
        if (store_txn_put_block(t, &b, &err) != 0) die("block", &err);
        if (store_write_commit(t, &err) != 0) die("commit", &err);
        state_free(st);
    }
    return number - 1;
}
