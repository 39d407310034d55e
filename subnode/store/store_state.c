/*
 * store_state.c - the world state in the chain store: accounts, storage and code (the
 * latest values, flat, for reads that need no trie walk), the tries (only to compute the
 * state root, incrementally: mpt.h), and the history that answers reads at older blocks.
 *
 * History. Before block N changes an account or a slot, the value it had is written
 * under N|key (history_accounts, history_storage), once per block. Keyed block first, a
 * block's entries go to the end of the tables together, a few pages for the whole block,
 * and pruning block N deletes one range at the front (keyed key first, as in the store's
 * version 1, nearly every entry dirtied a page of its own, and so did its pruning:
 * docs/PERFORMANCE.md "The store's writes made sequential"). A read of key K at block M < head looks for N|K for N = M+1, M+2, ... up to
 * the head: the first found holds K's value at M; none means K has not changed since M,
 * and the latest value answers. That is one lookup per block back, at most
 * history_blocks (more while a state transfer holds an older block); the state transfer
 * reads the history in key order with one cursor per block (store_sync.c).
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "common/keccak.h"
#include "common/rlp.h"
#include "subnode/store/store_internal.h"

static MDB_val val(const void *data, size_t len) { return (MDB_val){.mv_size = len, .mv_data = (void *)data}; }

int store_decode_account(const MDB_val *v, struct store_account *out, struct cohort_error *err)
{
    if (v->mv_size != STORE_ACCOUNT_BYTES)
        return cohort_error_set(err, STORE_E_CORRUPT, "store", "store: account record of %zu bytes (want %d)", v->mv_size,
                                STORE_ACCOUNT_BYTES);
    const uint8_t *p = v->mv_data;
    out->nonce = store_get_u64(p);
    out->balance = u256_load_be(p + 8);
    memcpy(out->code_hash, p + 40, 32);
    memcpy(out->storage_root, p + 72, 32);
    return 0;
}

static void encode_account(const struct store_account *a, uint8_t out[STORE_ACCOUNT_BYTES])
{
    store_put_u64(out, a->nonce);
    u256_store_be(out + 8, a->balance);
    memcpy(out + 40, a->code_hash, 32);
    memcpy(out + 72, a->storage_root, 32);
}

int store_read_account(struct store *s, MDB_txn *txn, const uint8_t address[20], struct store_account *out,
                       struct cohort_error *err)
{
    MDB_val k = val(address, 20), v;
    int rc = mdb_get(txn, s->dbi[T_ACCOUNTS], &k, &v);
    if (rc == MDB_NOTFOUND) return 0;
    if (rc != 0) return store_lmdb_error(err, rc, "read accounts");
    if (store_decode_account(&v, out, err) != 0) return STORE_E_CORRUPT;
    return 1;
}

/* The latest value of a slot (zero when absent). */
static int read_slot(struct store *s, MDB_txn *txn, const uint8_t address[20], u256 key, u256 *value,
                     struct cohort_error *err)
{
    uint8_t k[52];
    memcpy(k, address, 20);
    u256_store_be(k + 20, key);
    MDB_val kv = val(k, 52), v;
    int rc = mdb_get(txn, s->dbi[T_STORAGE], &kv, &v);
    *value = u256_zero();
    if (rc == MDB_NOTFOUND) return 0;
    if (rc != 0) return store_lmdb_error(err, rc, "read storage");
    if (v.mv_size == 0 || v.mv_size > 32)
        return cohort_error_set(err, STORE_E_CORRUPT, "store", "store: storage value of %zu bytes", v.mv_size);
    uint8_t full[32] = {0};
    memcpy(full + 32 - v.mv_size, v.mv_data, v.mv_size);
    *value = u256_load_be(full);
    return 0;
}

/*
 * The history entry for key (key_len bytes) that holds its value at block `number`: the
 * entry n|key of the first block n in (number, head] that changed it. 1 with *out set, 0
 * when there is none.
 */
static int history_at(MDB_txn *txn, MDB_dbi dbi, const uint8_t *key, size_t key_len, uint64_t number, uint64_t head,
                      MDB_val *out, struct cohort_error *err)
{
    uint8_t k[60];
    assert(key_len + 8 <= sizeof k);
    memcpy(k + 8, key, key_len);
    for (uint64_t n = number + 1; n <= head; n++) {
        store_put_u64(k, n);
        MDB_val kv = val(k, key_len + 8);
        int rc = mdb_get(txn, dbi, &kv, out);
        if (rc == 0) return 1;
        if (rc != MDB_NOTFOUND) return store_lmdb_error(err, rc, "read history");
    }
    return 0;
}

/* ---- Reads at a block ---- */

static int check_readable(struct store_view *v, uint64_t number, struct cohort_error *err)
{
    if (!v->has_head || number > v->head)
        return cohort_error_set(err, STORE_E_INVALID, "store", "store: block %llu is not in the chain yet",
                                (unsigned long long)number);
    if (number < store_view_oldest_state(v))
        return cohort_error_set(err, STORE_E_PRUNED, "store",
                                "store: the state at block %llu is pruned: this node keeps the last %u blocks' state "
                                "(oldest: %llu)",
                                (unsigned long long)number, v->s->history_blocks,
                                (unsigned long long)store_view_oldest_state(v));
    return 0;
}

int store_account(struct store_view *v, uint64_t number, const uint8_t address[20], struct store_account *out,
                  struct cohort_error *err)
{
    int rc = check_readable(v, number, err);
    if (rc != 0) return rc;
    if (number < v->head) {
        MDB_val h;
        rc = history_at(v->txn, v->s->dbi[T_HIST_ACCOUNTS], address, 20, number, v->head, &h, err);
        if (rc < 0) return rc;
        if (rc == 1) {
            if (h.mv_size == 0) return 0;
            return store_decode_account(&h, out, err) == 0 ? 1 : STORE_E_CORRUPT;
        }
    }
    return store_read_account(v->s, v->txn, address, out, err);
}

int store_storage(struct store_view *v, uint64_t number, const uint8_t address[20], u256 key, u256 *value,
                  struct cohort_error *err)
{
    int rc = check_readable(v, number, err);
    if (rc != 0) return rc;
    if (number < v->head) {
        uint8_t k[52];
        memcpy(k, address, 20);
        u256_store_be(k + 20, key);
        MDB_val h;
        rc = history_at(v->txn, v->s->dbi[T_HIST_STORAGE], k, 52, number, v->head, &h, err);
        if (rc < 0) return rc;
        if (rc == 1) {
            if (h.mv_size > 32)
                return cohort_error_set(err, STORE_E_CORRUPT, "store", "store: storage history of %zu bytes", h.mv_size);
            uint8_t full[32] = {0};
            memcpy(full + 32 - h.mv_size, h.mv_data, h.mv_size);
            *value = u256_load_be(full);
            return 0;
        }
    }
    return read_slot(v->s, v->txn, address, key, value, err);
}

static int read_code(struct store *s, MDB_txn *txn, const uint8_t code_hash[32], const uint8_t **code,
                     size_t *code_len, struct cohort_error *err)
{
    MDB_val k = val(code_hash, 32), v;
    int rc = mdb_get(txn, s->dbi[T_CODE], &k, &v);
    if (rc == MDB_NOTFOUND) return 0;
    if (rc != 0) return store_lmdb_error(err, rc, "read code");
    *code = v.mv_data;
    *code_len = v.mv_size;
    return 1;
}

int store_code(struct store_view *v, const uint8_t code_hash[32], const uint8_t **code, size_t *code_len,
               struct cohort_error *err)
{
    return read_code(v->s, v->txn, code_hash, code, code_len, err);
}

/* ---- State backends ---- */

static int fill_backend_account(int rc, const struct store_account *a, uint64_t *nonce, u256 *balance,
                                uint8_t code_hash[32], bool *has_storage)
{
    if (rc != 1) return rc;
    *nonce = a->nonce;
    *balance = a->balance;
    memcpy(code_hash, a->code_hash, 32);
    *has_storage = memcmp(a->storage_root, trie_empty_root, 32) != 0;
    return 1;
}

static int view_account(void *arg, const uint8_t address[20], uint64_t *nonce, u256 *balance, uint8_t code_hash[32],
                        bool *has_storage, struct cohort_error *err)
{
    struct store_view *v = arg;
    struct store_account a;
    return fill_backend_account(store_account(v, v->backend_number, address, &a, err), &a, nonce, balance, code_hash,
                                has_storage);
}

static int view_storage(void *arg, const uint8_t address[20], u256 key, u256 *value, struct cohort_error *err)
{
    struct store_view *v = arg;
    return store_storage(v, v->backend_number, address, key, value, err);
}

static int view_code(void *arg, const uint8_t code_hash[32], const uint8_t **code, size_t *code_len,
                     struct cohort_error *err)
{
    return store_code(arg, code_hash, code, code_len, err);
}

void store_state_backend(struct store_view *v, uint64_t number, struct state_backend *out)
{
    v->backend_number = number;
    *out = (struct state_backend){.account = view_account, .storage = view_storage, .code = view_code, .arg = v};
}

static int txn_account(void *arg, const uint8_t address[20], uint64_t *nonce, u256 *balance, uint8_t code_hash[32],
                       bool *has_storage, struct cohort_error *err)
{
    struct store_txn *t = arg;
    struct store_account a;
    return fill_backend_account(store_read_account(t->s, t->txn, address, &a, err), &a, nonce, balance, code_hash,
                                has_storage);
}

static int txn_storage(void *arg, const uint8_t address[20], u256 key, u256 *value, struct cohort_error *err)
{
    struct store_txn *t = arg;
    return read_slot(t->s, t->txn, address, key, value, err);
}

static int txn_code(void *arg, const uint8_t code_hash[32], const uint8_t **code, size_t *code_len,
                    struct cohort_error *err)
{
    struct store_txn *t = arg;
    return read_code(t->s, t->txn, code_hash, code, code_len, err);
}

void store_txn_backend(struct store_txn *t, struct state_backend *out)
{
    *out = (struct state_backend){.account = txn_account, .storage = txn_storage, .code = txn_code, .arg = t};
}

/* ---- The tries' node store over one LMDB table ---- */

struct trie_table {
    MDB_txn *txn;
    MDB_dbi dbi;
};

static int tt_get(void *arg, const uint8_t *key, size_t key_len, const uint8_t **value, size_t *value_len,
                  struct cohort_error *err)
{
    struct trie_table *tt = arg;
    MDB_val k = val(key, key_len), v;
    int rc = mdb_get(tt->txn, tt->dbi, &k, &v);
    if (rc == MDB_NOTFOUND) return 0;
    if (rc != 0) return store_lmdb_error(err, rc, "read a trie node");
    *value = v.mv_data;
    *value_len = v.mv_size;
    return 1;
}

static int tt_put(void *arg, const uint8_t *key, size_t key_len, const uint8_t *value, size_t value_len,
                  struct cohort_error *err)
{
    struct trie_table *tt = arg;
    MDB_val k = val(key, key_len), v = val(value, value_len);
    int rc = mdb_put(tt->txn, tt->dbi, &k, &v, 0);
    return rc == 0 ? 0 : store_lmdb_error(err, rc, "write a trie node");
}

static int tt_del(void *arg, const uint8_t *key, size_t key_len, struct cohort_error *err)
{
    struct trie_table *tt = arg;
    MDB_val k = val(key, key_len);
    int rc = mdb_del(tt->txn, tt->dbi, &k, NULL);
    return rc == 0 || rc == MDB_NOTFOUND ? 0 : store_lmdb_error(err, rc, "delete a trie node");
}

/* Deletes every key of dbi that starts with prefix. */
static int delete_prefix(MDB_txn *txn, MDB_dbi dbi, const uint8_t *prefix, size_t prefix_len, struct cohort_error *err)
{
    MDB_cursor *c;
    int rc = mdb_cursor_open(txn, dbi, &c);
    if (rc != 0) return store_lmdb_error(err, rc, "open a cursor");
    MDB_val k = val(prefix, prefix_len), v;
    rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
    while (rc == 0 && k.mv_size >= prefix_len && memcmp(k.mv_data, prefix, prefix_len) == 0) {
        rc = mdb_cursor_del(c, 0);
        if (rc == 0) rc = mdb_cursor_get(c, &k, &v, MDB_GET_CURRENT);
    }
    mdb_cursor_close(c);
    return rc == 0 || rc == MDB_NOTFOUND ? 0 : store_lmdb_error(err, rc, "delete a range");
}

static int tt_delete_prefix(void *arg, const uint8_t *prefix, size_t prefix_len, struct cohort_error *err)
{
    struct trie_table *tt = arg;
    return delete_prefix(tt->txn, tt->dbi, prefix, prefix_len, err);
}

static struct mpt_store trie_store(struct trie_table *tt)
{
    return (struct mpt_store){
        .get = tt_get, .put = tt_put, .del = tt_del, .delete_prefix = tt_delete_prefix, .arg = tt};
}

/* ---- Writing a block's state ---- */

struct changes {
    struct state_account_change *accounts;
    size_t account_count, account_cap;
    struct state_slot_change *slots;
    size_t slot_count, slot_cap;
    bool nomem;
};

static int collect_account(void *arg, const struct state_account_change *c)
{
    struct changes *ch = arg;
    if (ch->account_count == ch->account_cap) {
        size_t cap = ch->account_cap ? ch->account_cap * 2 : 64;
        void *p = realloc(ch->accounts, cap * sizeof *ch->accounts);
        if (p == NULL) return ch->nomem = true, -1;
        ch->accounts = p;
        ch->account_cap = cap;
    }
    ch->accounts[ch->account_count++] = *c;
    return 0;
}

static int collect_slot(void *arg, const struct state_slot_change *c)
{
    struct changes *ch = arg;
    if (ch->slot_count == ch->slot_cap) {
        size_t cap = ch->slot_cap ? ch->slot_cap * 2 : 256;
        void *p = realloc(ch->slots, cap * sizeof *ch->slots);
        if (p == NULL) return ch->nomem = true, -1;
        ch->slots = p;
        ch->slot_cap = cap;
    }
    ch->slots[ch->slot_count++] = *c;
    return 0;
}

static int compare_account_change(const void *a, const void *b)
{
    return memcmp(((const struct state_account_change *)a)->address, ((const struct state_account_change *)b)->address,
                  20);
}

static int compare_slot_change(const void *a, const void *b)
{
    const struct state_slot_change *x = a, *y = b;
    int c = memcmp(x->address, y->address, 20);
    if (c != 0) return c;
    uint8_t kx[32], ky[32];
    u256_store_be(kx, x->key);
    u256_store_be(ky, y->key);
    return memcmp(kx, ky, 32);
}

/* The minimal big-endian bytes of a value (0 bytes for zero) into out; returns the length. */
static size_t minimal_be(u256 value, uint8_t out[32])
{
    uint8_t full[32];
    u256_store_be(full, value);
    size_t skip = 0;
    while (skip < 32 && full[skip] == 0) skip++;
    memcpy(out, full + skip, 32 - skip);
    return 32 - skip;
}

/* Writes number|key -> old into a history table, keeping an entry the block already wrote. */
static int put_history(struct store_txn *t, enum store_table table, const uint8_t *key, size_t key_len,
                       uint64_t number, const void *old, size_t old_len, struct cohort_error *err)
{
    uint8_t k[60];
    store_put_u64(k, number);
    memcpy(k + 8, key, key_len);
    MDB_val kv = val(k, key_len + 8), v = val(old, old_len);
    int rc = mdb_put(t->txn, t->s->dbi[table], &kv, &v, MDB_NOOVERWRITE);
    if (rc == MDB_KEYEXIST) return 0;
    return rc == 0 ? 0 : store_lmdb_error(err, rc, "write history");
}

/* The work of one store_txn_apply_state call. */
struct apply {
    struct store_txn *t;
    uint64_t number;
    bool history; /* false for the genesis: nothing came before it */
    struct trie_table storage_table;
    struct mpt_store storage_store;
    struct mpt_change *slot_changes; /* one account's, reused */
    uint8_t (*slot_values)[33]; /* 33: room for the RLP header in front of 32 bytes */
    size_t slot_cap;
    struct cohort_error *err;
};

/* Wipes an account's storage (a deletion): history for every slot, then the rows and the trie. */
static int clear_storage(struct apply *ap, const uint8_t address[20], const uint8_t ns[32])
{
    struct store_txn *t = ap->t;
    MDB_cursor *c;
    int rc = mdb_cursor_open(t->txn, t->s->dbi[T_STORAGE], &c);
    if (rc != 0) return store_lmdb_error(ap->err, rc, "open a storage cursor");
    MDB_val k = val(address, 20), v;
    rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
    while (rc == 0 && k.mv_size == 52 && memcmp(k.mv_data, address, 20) == 0) {
        if (ap->history) {
            int hr = put_history(t, T_HIST_STORAGE, k.mv_data, 52, ap->number, v.mv_data, v.mv_size, ap->err);
            if (hr != 0) {
                mdb_cursor_close(c);
                return hr;
            }
        }
        rc = mdb_cursor_del(c, 0);
        if (rc == 0) rc = mdb_cursor_get(c, &k, &v, MDB_GET_CURRENT);
    }
    mdb_cursor_close(c);
    if (rc != 0 && rc != MDB_NOTFOUND) return store_lmdb_error(ap->err, rc, "clear storage");
    return delete_prefix(t->txn, t->s->dbi[T_TRIE_STORAGE], ns, 32, ap->err);
}

/* Applies one account's slot changes (sorted, all of address); updates *storage_root. */
static int apply_slots(struct apply *ap, const uint8_t address[20], const uint8_t ns[32],
                       const struct state_slot_change *slots, size_t count, uint8_t storage_root[32])
{
    struct store_txn *t = ap->t;
    if (count > ap->slot_cap) {
        size_t cap = count * 2;
        void *p1 = realloc(ap->slot_changes, cap * sizeof *ap->slot_changes);
        if (p1) ap->slot_changes = p1;
        void *p2 = p1 ? realloc(ap->slot_values, cap * sizeof *ap->slot_values) : NULL;
        if (p2) ap->slot_values = p2;
        if (!p1 || !p2) return cohort_error_set(ap->err, STORE_E_NOMEM, "store", "store: out of memory");
        ap->slot_cap = cap;
    }
    for (size_t i = 0; i < count; i++) {
        uint8_t key[52];
        memcpy(key, address, 20);
        u256_store_be(key + 20, slots[i].key);
        MDB_val kv = val(key, 52), old;
        int rc = mdb_get(t->txn, t->s->dbi[T_STORAGE], &kv, &old);
        if (rc != 0 && rc != MDB_NOTFOUND) return store_lmdb_error(ap->err, rc, "read storage");
        if (ap->history) {
            rc = put_history(t, T_HIST_STORAGE, key, 52, ap->number, rc == 0 ? old.mv_data : NULL,
                             rc == 0 ? old.mv_size : 0, ap->err);
            if (rc != 0) return rc;
        }
        uint8_t *value = ap->slot_values[i];
        size_t len = minimal_be(slots[i].value, value);
        if (len == 0) rc = mdb_del(t->txn, t->s->dbi[T_STORAGE], &kv, NULL);
        else {
            MDB_val nv = val(value, len);
            rc = mdb_put(t->txn, t->s->dbi[T_STORAGE], &kv, &nv, 0);
        }
        if (rc != 0 && rc != MDB_NOTFOUND) return store_lmdb_error(ap->err, rc, "write storage");
        /* The storage trie's leaf: keccak(slot) -> rlp(minimal value). */
        struct mpt_change *mc = &ap->slot_changes[i];
        keccak256(key + 20, 32, mc->key);
        if (len == 0) {
            mc->value = NULL;
            mc->value_len = 0;
        } else {
            /* rlp of a string of len (1..32) bytes: shift right to make room for the header. */
            if (len == 1 && value[0] < 0x80) {
                mc->value_len = 1;
            } else {
                memmove(value + 1, value, len);
                value[0] = (uint8_t)(0x80 + len);
                mc->value_len = len + 1;
            }
            mc->value = value;
        }
    }
    return mpt_update(t->mpt, &ap->storage_store, ns, 32, ap->slot_changes, count, storage_root, ap->err);
}

/* rlp([nonce, balance, storage_root, code_hash]): an account as the state trie holds it. */
static int account_leaf(const struct store_account *a, struct rlp_buf *buf, struct cohort_error *err)
{
    rlp_buf_reset(buf);
    size_t m = rlp_encode_list_begin(buf);
    rlp_encode_u64(buf, a->nonce);
    rlp_encode_u256(buf, a->balance);
    rlp_encode_bytes(buf, a->storage_root, 32);
    rlp_encode_bytes(buf, a->code_hash, 32);
    rlp_encode_list_end(buf, m);
    return rlp_buf_check(buf, err);
}

int store_txn_apply_state(struct store_txn *t, const struct state *st, uint64_t number, uint8_t state_root[32],
                          struct cohort_error *err)
{
    struct changes ch = {0};
    struct apply ap = {.t = t, .number = number, .history = number > 0, .err = err};
    ap.storage_table = (struct trie_table){.txn = t->txn, .dbi = t->s->dbi[T_TRIE_STORAGE]};
    ap.storage_store = trie_store(&ap.storage_table);
    struct trie_table account_table = {.txn = t->txn, .dbi = t->s->dbi[T_TRIE_ACCOUNTS]};
    struct mpt_store account_store = trie_store(&account_table);
    struct mpt_change *account_changes = NULL;
    struct rlp_buf *leaves = NULL;
    size_t account_change_count = 0;
    int rc = 0;

    if (state_for_each_change(st, collect_account, collect_slot, &ch) != 0 || ch.nomem) {
        rc = cohort_error_set(err, STORE_E_NOMEM, "store", "store: out of memory listing a block's changes");
        goto done;
    }
    if (ch.account_count > 1) qsort(ch.accounts, ch.account_count, sizeof *ch.accounts, compare_account_change);
    if (ch.slot_count > 1) qsort(ch.slots, ch.slot_count, sizeof *ch.slots, compare_slot_change);
    /* At most one trie change per account changed and per account whose storage changed. */
    size_t max_changes = ch.account_count + ch.slot_count;
    account_changes = calloc(max_changes + 1, sizeof *account_changes);
    leaves = calloc(max_changes + 1, sizeof *leaves);
    if (account_changes == NULL || leaves == NULL) {
        rc = cohort_error_set(err, STORE_E_NOMEM, "store", "store: out of memory");
        goto done;
    }
    /* Walk the union of changed accounts and accounts with slot changes, in address order. */
    size_t ia = 0, is = 0;
    while (rc == 0 && (ia < ch.account_count || is < ch.slot_count)) {
        const uint8_t *address;
        if (ia < ch.account_count &&
            (is >= ch.slot_count || memcmp(ch.accounts[ia].address, ch.slots[is].address, 20) <= 0))
            address = ch.accounts[ia].address;
        else
            address = ch.slots[is].address;
        const struct state_account_change *c =
            ia < ch.account_count && memcmp(ch.accounts[ia].address, address, 20) == 0 ? &ch.accounts[ia++] : NULL;
        size_t slots_begin = is;
        while (is < ch.slot_count && memcmp(ch.slots[is].address, address, 20) == 0) is++;

        struct store_account old = {0}, now;
        int found = store_read_account(t->s, t->txn, address, &old, err);
        if (found < 0) {
            rc = found;
            break;
        }
        if (found == 0 && c == NULL) {
            rc = cohort_error_set(err, STORE_E_INVALID, "store", "store: storage changes for an account that does not exist");
            break;
        }
        uint8_t ns[32];
        keccak256(address, 20, ns);
        memcpy(now.storage_root, found ? old.storage_root : trie_empty_root, 32);
        if (c && c->storage_cleared && found && memcmp(old.storage_root, trie_empty_root, 32) != 0) {
            rc = clear_storage(&ap, address, ns);
            memcpy(now.storage_root, trie_empty_root, 32);
        }
        if (rc == 0 && is > slots_begin)
            rc = apply_slots(&ap, address, ns, ch.slots + slots_begin, is - slots_begin, now.storage_root);
        if (rc != 0) break;
        bool exists = c ? c->exists : true;
        if (exists) {
            now.nonce = c ? c->nonce : old.nonce;
            now.balance = c ? c->balance : old.balance;
            memcpy(now.code_hash, c ? c->code_hash : old.code_hash, 32);
        }
        bool same = found && exists && now.nonce == old.nonce && u256_eq(now.balance, old.balance) &&
                    memcmp(now.code_hash, old.code_hash, 32) == 0 && memcmp(now.storage_root, old.storage_root, 32) == 0;
        if (same || (!found && !exists)) continue;
        uint8_t old_rec[STORE_ACCOUNT_BYTES];
        if (found) encode_account(&old, old_rec);
        if (ap.history) {
            rc = put_history(t, T_HIST_ACCOUNTS, address, 20, number, old_rec, found ? STORE_ACCOUNT_BYTES : 0, err);
            if (rc != 0) break;
        }
        MDB_val k = val(address, 20);
        struct mpt_change *mc = &account_changes[account_change_count++];
        keccak256(address, 20, mc->key);
        if (exists) {
            uint8_t rec[STORE_ACCOUNT_BYTES];
            encode_account(&now, rec);
            MDB_val v = val(rec, sizeof rec);
            int lr = mdb_put(t->txn, t->s->dbi[T_ACCOUNTS], &k, &v, 0);
            if (lr == 0 && c && c->code_changed && c->code_len > 0) {
                MDB_val hk = val(c->code_hash, 32), cv = val(c->code, c->code_len);
                lr = mdb_put(t->txn, t->s->dbi[T_CODE], &hk, &cv, MDB_NOOVERWRITE);
                if (lr == MDB_KEYEXIST) lr = 0;
            }
            if (lr != 0) {
                rc = store_lmdb_error(err, lr, "write an account");
                break;
            }
            struct rlp_buf *leaf = &leaves[account_change_count - 1];
            rlp_buf_init(leaf, 256);
            rc = account_leaf(&now, leaf, err);
            mc->value = leaf->data;
            mc->value_len = leaf->len;
        } else {
            int lr = mdb_del(t->txn, t->s->dbi[T_ACCOUNTS], &k, NULL);
            if (lr != 0 && lr != MDB_NOTFOUND) rc = store_lmdb_error(err, lr, "delete an account");
            mc->value = NULL;
            mc->value_len = 0;
        }
    }
    if (rc == 0)
        rc = account_change_count ? mpt_update(t->mpt, &account_store, NULL, 0, account_changes, account_change_count,
                                               state_root, err)
                                  : mpt_root(t->mpt, &account_store, NULL, 0, state_root, err);
done:
    if (leaves)
        for (size_t i = 0; i < max_changes + 1 && i < account_change_count; i++) rlp_buf_free(&leaves[i]);
    free(leaves);
    free(account_changes);
    free(ap.slot_changes);
    free(ap.slot_values);
    free(ch.accounts);
    free(ch.slots);
    return rc;
}

/* ---- Importing a transferred state (store_sync.c) ---- */

int store_txn_state_root(struct store_txn *t, uint8_t root[32], struct cohort_error *err)
{
    struct trie_table account_table = {.txn = t->txn, .dbi = t->s->dbi[T_TRIE_ACCOUNTS]};
    struct mpt_store account_store = trie_store(&account_table);
    return mpt_root(t->mpt, &account_store, NULL, 0, root, err);
}

/*
 * A chunk's accounts and slots, in address then slot order (store_chunk_decode checked it);
 * its first slots may belong to an account an earlier chunk brought. No history: the
 * imported block is the first whose state the store can read.
 */
int store_txn_import_state(struct store_txn *t, const struct store_chunk *c, struct cohort_error *err)
{
    struct apply ap = {.t = t, .number = 0, .history = false, .err = err};
    ap.storage_table = (struct trie_table){.txn = t->txn, .dbi = t->s->dbi[T_TRIE_STORAGE]};
    ap.storage_store = trie_store(&ap.storage_table);
    struct trie_table account_table = {.txn = t->txn, .dbi = t->s->dbi[T_TRIE_ACCOUNTS]};
    struct mpt_store account_store = trie_store(&account_table);
    size_t max_changes = c->account_count + 1;
    struct mpt_change *changes = calloc(max_changes, sizeof *changes);
    struct rlp_buf *leaves = calloc(max_changes, sizeof *leaves);
    struct state_slot_change *slots = calloc(c->slot_count ? c->slot_count : 1, sizeof *slots);
    size_t change_count = 0;
    int rc = changes && leaves && slots ? 0 : cohort_error_set(err, STORE_E_NOMEM, "store", "store: out of memory");
    for (size_t i = 0; i < c->slot_count && rc == 0; i++) {
        memcpy(slots[i].address, c->slots[i].address, 20);
        slots[i].key = c->slots[i].key;
        slots[i].value = c->slots[i].value;
    }
    size_t ia = 0, is = 0;
    while (rc == 0 && (ia < c->account_count || is < c->slot_count)) {
        /* The slots before the chunk's first account belong to an account already imported. */
        const struct store_chunk_account *a =
            ia < c->account_count && (is >= c->slot_count || memcmp(c->accounts[ia].address, slots[is].address, 20) <= 0)
                ? &c->accounts[ia++]
                : NULL;
        const uint8_t *address = a ? a->address : slots[is].address;
        struct store_account now;
        if (a != NULL) {
            now.nonce = a->nonce;
            now.balance = a->balance;
            memcpy(now.code_hash, a->code_hash, 32);
            memcpy(now.storage_root, trie_empty_root, 32);
            if (a->code_len > 0) {
                MDB_val hk = val(a->code_hash, 32), cv = val(a->code, a->code_len);
                int lr = mdb_put(t->txn, t->s->dbi[T_CODE], &hk, &cv, MDB_NOOVERWRITE);
                if (lr != 0 && lr != MDB_KEYEXIST) rc = store_lmdb_error(err, lr, "write imported code");
            }
        } else {
            int found = store_read_account(t->s, t->txn, address, &now, err);
            if (found == 0)
                rc = cohort_error_set(err, STORE_E_CORRUPT, "store",
                                      "an imported chunk holds slots of an account no chunk brought");
            else if (found < 0)
                rc = found;
        }
        size_t begin = is;
        while (is < c->slot_count && memcmp(slots[is].address, address, 20) == 0) is++;
        uint8_t ns[32];
        keccak256(address, 20, ns);
        if (rc == 0 && is > begin) rc = apply_slots(&ap, address, ns, slots + begin, is - begin, now.storage_root);
        if (rc != 0) break;
        uint8_t rec[STORE_ACCOUNT_BYTES];
        encode_account(&now, rec);
        MDB_val k = val(address, 20), v = val(rec, sizeof rec);
        int lr = mdb_put(t->txn, t->s->dbi[T_ACCOUNTS], &k, &v, 0);
        if (lr != 0) {
            rc = store_lmdb_error(err, lr, "write an imported account");
            break;
        }
        struct mpt_change *mc = &changes[change_count];
        keccak256(address, 20, mc->key);
        rlp_buf_init(&leaves[change_count], 256);
        change_count++;
        rc = account_leaf(&now, &leaves[change_count - 1], err);
        mc->value = leaves[change_count - 1].data;
        mc->value_len = leaves[change_count - 1].len;
        if (change_count == max_changes && (ia < c->account_count || is < c->slot_count))
            rc = cohort_error_set(err, STORE_E_CORRUPT, "store", "an imported chunk's slots are out of order");
    }
    uint8_t root[32];
    if (rc == 0 && change_count) rc = mpt_update(t->mpt, &account_store, NULL, 0, changes, change_count, root, err);
    for (size_t i = 0; leaves && i < change_count; i++) rlp_buf_free(&leaves[i]);
    free(leaves);
    free(changes);
    free(slots);
    free(ap.slot_changes);
    free(ap.slot_values);
    return rc;
}

int store_prune_history(struct store_txn *t, uint64_t number, struct cohort_error *err)
{
    uint8_t prefix[8];
    store_put_u64(prefix, number);
    int rc = delete_prefix(t->txn, t->s->dbi[T_HIST_ACCOUNTS], prefix, 8, err);
    if (rc == 0) rc = delete_prefix(t->txn, t->s->dbi[T_HIST_STORAGE], prefix, 8, err);
    return rc;
}
