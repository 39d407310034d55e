/*
 * store_sync.c - state transfer between members (store.h "State transfer"): a serving
 * member exports the state at block N and N's blocks; an importing member decodes and
 * checks them and writes them into its store, chunk by chunk.
 *
 * The export reads the state at N through the history (store_state.c): the keys to visit
 * are the union of the latest tables' (accounts, storage) and the history's since N (a key
 * deleted since N lives only there); a key's value at N is its entry in the first block
 * after N that changed it, or else its latest value. The history is keyed block first, so
 * it is read in key order through one cursor per block after N, merged (struct
 * history_merge).
 */
#include "subnode/store/store_internal.h"

#include <stdlib.h>
#include <string.h>

#include "common/bytes.h"
#include "common/keccak.h"
#include "common/rlp.h"

#define DOMAIN "store"

static MDB_val val(const void *data, size_t len) { return (MDB_val){.mv_size = len, .mv_data = (void *)data}; }

/* Adds one to a big-endian number of len bytes; false when it wraps (it was all 0xff). */
static bool increment(uint8_t *p, size_t len)
{
    for (size_t i = len; i-- > 0;)
        if (++p[i] != 0) return true;
    return false;
}

/* ---- A growable output buffer ---- */

struct out {
    uint8_t *data;
    size_t len, cap;
    bool nomem;
};

static void out_put(struct out *o, const void *bytes, size_t len)
{
    if (o->nomem) return;
    if (o->len + len > o->cap) {
        size_t cap = o->cap ? o->cap : 4096;
        while (cap < o->len + len) cap *= 2;
        uint8_t *p = realloc(o->data, cap);
        if (p == NULL) {
            o->nomem = true;
            return;
        }
        o->data = p;
        o->cap = cap;
    }
    if (len) memcpy(o->data + o->len, bytes, len);
    o->len += len;
}

static void out_u8(struct out *o, uint8_t v) { out_put(o, &v, 1); }
static void out_u32(struct out *o, uint32_t v)
{
    uint8_t b[4];
    be_put(b, v, 4);
    out_put(o, b, 4);
}
static void out_u64(struct out *o, uint64_t v)
{
    uint8_t b[8];
    be_put(b, v, 8);
    out_put(o, b, 8);
}

/* ---- Export: the state at a block ---- */

/*
 * The first key of dbi at or after from (from_len bytes) that begins with prefix
 * (prefix_len bytes, may be 0): its first want bytes into out. 1 found, 0 none, <0.
 */
static int seek(MDB_cursor *c, const uint8_t *from, size_t from_len, const uint8_t *prefix, size_t prefix_len,
                uint8_t *out, size_t want, struct cohort_error *err)
{
    MDB_val k = val(from, from_len), v;
    int rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
    if (rc == MDB_NOTFOUND) return 0;
    if (rc != 0) return store_lmdb_error(err, rc, "seek for the state transfer");
    if (k.mv_size < want || (prefix_len && memcmp(k.mv_data, prefix, prefix_len) != 0)) return 0;
    memcpy(out, k.mv_data, want);
    return 1;
}

/*
 * A history table after block N in key order: one cursor per block N+1..head, each at its
 * first key at or after the export's position, in a binary heap ordered by (key, block).
 * The top is the least key changed since N and, of the blocks that changed it, the first:
 * its entry holds the key's value at N. The position only grows within an export call, so
 * each cursor only moves forward: one seek per cursor to start, then one per entry passed.
 */
struct history_merge {
    uint64_t first;       /* the block of cursor 0 */
    size_t count, key_len;
    MDB_cursor **cursor;
    const uint8_t **key;  /* [i]: cursor i's key without its block number (in the map) */
    MDB_val *value;
    uint32_t *heap;       /* the cursors with a key */
    size_t heap_len;
    bool started;
};

static void merge_close(struct history_merge *m)
{
    for (size_t i = 0; m->cursor && i < m->count; i++)
        if (m->cursor[i]) mdb_cursor_close(m->cursor[i]);
    free(m->cursor);
    free(m->key);
    free(m->value);
    free(m->heap);
    memset(m, 0, sizeof *m);
}

static int merge_open(struct history_merge *m, MDB_txn *txn, MDB_dbi dbi, uint64_t first, uint64_t last,
                      size_t key_len, struct cohort_error *err)
{
    *m = (struct history_merge){.first = first, .key_len = key_len,
                                .count = last >= first ? (size_t)(last - first + 1) : 0};
    size_t n = m->count ? m->count : 1;
    m->cursor = calloc(n, sizeof *m->cursor);
    m->key = calloc(n, sizeof *m->key);
    m->value = calloc(n, sizeof *m->value);
    m->heap = calloc(n, sizeof *m->heap);
    if (!m->cursor || !m->key || !m->value || !m->heap) {
        merge_close(m);
        return cohort_error_set(err, STORE_E_NOMEM, DOMAIN, "store: out of memory");
    }
    for (size_t i = 0; i < m->count; i++) {
        int rc = mdb_cursor_open(txn, dbi, &m->cursor[i]);
        if (rc != 0) {
            merge_close(m);
            return store_lmdb_error(err, rc, "open history cursors for the state transfer");
        }
    }
    return 0;
}

static bool merge_less(const struct history_merge *m, uint32_t a, uint32_t b)
{
    int c = memcmp(m->key[a], m->key[b], m->key_len);
    return c < 0 || (c == 0 && a < b);
}

static void merge_sift_down(struct history_merge *m, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, least = i;
        if (l < m->heap_len && merge_less(m, m->heap[l], m->heap[least])) least = l;
        if (r < m->heap_len && merge_less(m, m->heap[r], m->heap[least])) least = r;
        if (least == i) return;
        uint32_t t = m->heap[i];
        m->heap[i] = m->heap[least];
        m->heap[least] = t;
        i = least;
    }
}

/* Moves cursor i to its block's first key at or after from: 1 there is one, 0 none. */
static int merge_seek(struct history_merge *m, uint32_t i, const uint8_t *from, struct cohort_error *err)
{
    uint8_t k[60];
    store_put_u64(k, m->first + i);
    memcpy(k + 8, from, m->key_len);
    MDB_val kv = val(k, 8 + m->key_len);
    int rc = mdb_cursor_get(m->cursor[i], &kv, &m->value[i], MDB_SET_RANGE);
    if (rc == MDB_NOTFOUND) return 0;
    if (rc != 0) return store_lmdb_error(err, rc, "read history for the state transfer");
    if (kv.mv_size != 8 + m->key_len || memcmp(kv.mv_data, k, 8) != 0) return 0;
    m->key[i] = (const uint8_t *)kv.mv_data + 8;
    return 1;
}

/* Brings every cursor to a key at or after from; the least, or -1 when none is left. */
static int64_t merge_advance(struct history_merge *m, const uint8_t *from, struct cohort_error *err)
{
    if (!m->started) {
        m->started = true;
        for (uint32_t i = 0; i < m->count; i++) {
            int rc = merge_seek(m, i, from, err);
            if (rc < 0) return rc;
            if (rc == 1) m->heap[m->heap_len++] = i;
        }
        for (size_t i = m->heap_len / 2; i-- > 0;) merge_sift_down(m, i);
    }
    while (m->heap_len > 0 && memcmp(m->key[m->heap[0]], from, m->key_len) < 0) {
        int rc = merge_seek(m, m->heap[0], from, err);
        if (rc < 0) return rc;
        if (rc == 0) m->heap[0] = m->heap[--m->heap_len];
        merge_sift_down(m, 0);
    }
    return m->heap_len > 0 ? (int64_t)m->heap[0] : -1;
}

struct exporter {
    struct store_view *v;
    bool historic; /* number < head: the history holds keys the latest tables lost */
    size_t chunk_bytes;
    MDB_cursor *accounts, *storage;
    struct history_merge hist_accounts, hist_storage;
    /* The history entry that holds the value at N of the key next_address / next_slot gave
       (NULL: the key has not changed since N, its latest value answers). */
    const MDB_val *at_n;
    struct out o;
    struct cohort_error *err;
};

/* The next key at or after from (key_len bytes; prefix_len of them fixed) that the latest
   table has or the history had since N; sets x->at_n. 1 found, 0 none, <0 error. */
static int next_key(struct exporter *x, MDB_cursor *latest, struct history_merge *m, const uint8_t *from,
                    size_t key_len, size_t prefix_len, uint8_t *out)
{
    uint8_t a[52];
    x->at_n = NULL;
    int ra = seek(latest, from, key_len, from, prefix_len, a, key_len, x->err);
    if (ra < 0) return ra;
    int64_t top = x->historic ? merge_advance(m, from, x->err) : -1;
    if (top < -1) return (int)top;
    const uint8_t *h = top >= 0 && memcmp(m->key[top], from, prefix_len) == 0 ? m->key[top] : NULL;
    if (!ra && !h) return 0;
    int c = !h ? -1 : !ra ? 1 : memcmp(a, h, key_len);
    memcpy(out, c <= 0 ? a : h, key_len);
    if (c >= 0) x->at_n = &m->value[top];
    return 1;
}

/* The next address at or after from that has an account now or had one since `number`. */
static int next_address(struct exporter *x, const uint8_t from[20], uint8_t out[20])
{
    return next_key(x, x->accounts, &x->hist_accounts, from, 20, 0, out);
}

/* The next slot key (address | slot) of address at or after from (52 bytes). */
static int next_slot(struct exporter *x, const uint8_t from[52], uint8_t out[52])
{
    return next_key(x, x->storage, &x->hist_storage, from, 52, 20, out);
}

static void set_cursor(uint8_t cursor[STORE_CURSOR_BYTES], const uint8_t address[20], uint8_t phase, const uint8_t *slot)
{
    memcpy(cursor, address, 20);
    cursor[20] = phase;
    if (slot) memcpy(cursor + 21, slot, 32);
    else memset(cursor + 21, 0, 32);
}

/* Emits address's slots at N from slot on; 1 when the chunk filled (cursor set), 0 done. */
static int export_slots(struct exporter *x, const uint8_t address[20], const uint8_t slot[32],
                        uint8_t cursor[STORE_CURSOR_BYTES])
{
    uint8_t from[52], key[52];
    memcpy(from, address, 20);
    memcpy(from + 20, slot, 32);
    for (;;) {
        if (x->o.len >= x->chunk_bytes) {
            set_cursor(cursor, address, 1, from + 20);
            return 1;
        }
        int rc = next_slot(x, from, key);
        if (rc <= 0) return rc;
        u256 value;
        if (x->at_n) {
            if (x->at_n->mv_size > 32)
                return cohort_error_set(x->err, STORE_E_CORRUPT, DOMAIN, "store: storage history of %zu bytes",
                                        x->at_n->mv_size);
            uint8_t full[32] = {0};
            memcpy(full + 32 - x->at_n->mv_size, x->at_n->mv_data, x->at_n->mv_size);
            value = u256_load_be(full);
        } else {
            rc = store_storage(x->v, x->v->head, address, u256_load_be(key + 20), &value, x->err);
            if (rc < 0) return rc;
        }
        if (!u256_is_zero(value)) {
            uint8_t be[32];
            u256_store_be(be, value);
            out_u8(&x->o, 'S');
            out_put(&x->o, key, 52);
            out_put(&x->o, be, 32);
        }
        memcpy(from, key, 52);
        if (!increment(from + 20, 32)) return 0; /* the last slot there is */
    }
}

int store_export_state(struct store_view *v, uint64_t number, const uint8_t cursor_in[STORE_CURSOR_BYTES],
                       size_t chunk_bytes, uint8_t **out, size_t *out_len, struct cohort_error *err)
{
    *out = NULL;
    *out_len = 0;
    if (!v->has_head || number > v->head)
        return cohort_error_set(err, STORE_E_INVALID, DOMAIN, "store: block %llu is not in the chain yet",
                                (unsigned long long)number);
    if (number < store_view_oldest_state(v))
        return cohort_error_set(err, STORE_E_PRUNED, DOMAIN,
                                "store: the state at block %llu is pruned here (oldest: %llu): ask a newer snapshot",
                                (unsigned long long)number, (unsigned long long)store_view_oldest_state(v));
    if (v->head - number > v->s->export_behind_max)
        return cohort_error_set(err, STORE_E_PRUNED, DOMAIN,
                                "store: the state at block %llu is %llu blocks behind the head, past the %u an export "
                                "reaches: ask a newer snapshot",
                                (unsigned long long)number, (unsigned long long)(v->head - number),
                                v->s->export_behind_max);
    if (cursor_in[20] > 2)
        return cohort_error_set(err, STORE_E_INVALID, DOMAIN, "store: a state cursor with phase %u (0, 1 or 2)",
                                cursor_in[20]);
    struct exporter x = {.v = v, .historic = number < v->head, .err = err,
                         .chunk_bytes = chunk_bytes ? chunk_bytes : STORE_EXPORT_CHUNK_BYTES};
    struct store *s = v->s;
    int rc = mdb_cursor_open(v->txn, s->dbi[T_ACCOUNTS], &x.accounts);
    if (rc == 0) rc = mdb_cursor_open(v->txn, s->dbi[T_STORAGE], &x.storage);
    if (rc != 0) rc = store_lmdb_error(err, rc, "open cursors for the state transfer");
    if (rc == 0 && x.historic)
        rc = merge_open(&x.hist_accounts, v->txn, s->dbi[T_HIST_ACCOUNTS], number + 1, v->head, 20, err);
    if (rc == 0 && x.historic)
        rc = merge_open(&x.hist_storage, v->txn, s->dbi[T_HIST_STORAGE], number + 1, v->head, 52, err);

    uint8_t cursor[STORE_CURSOR_BYTES], address[20];
    bool more = true, filled = false;
    memcpy(address, cursor_in, 20);
    if (rc == 0 && cursor_in[20] == 1) {
        rc = export_slots(&x, address, cursor_in + 21, cursor);
        if (rc == 1) filled = true;
    }
    if (rc >= 0 && !filled && cursor_in[20] != 0) more = increment(address, 20);
    while (rc >= 0 && !filled && more) {
        if (x.o.len >= x.chunk_bytes) {
            set_cursor(cursor, address, 0, NULL);
            filled = true;
            break;
        }
        uint8_t at[20];
        rc = next_address(&x, address, at);
        if (rc <= 0) break;
        struct store_account a;
        if (x.at_n) rc = x.at_n->mv_size == 0 ? 0 : store_decode_account(x.at_n, &a, err) == 0 ? 1 : STORE_E_CORRUPT;
        else rc = store_account(v, v->head, at, &a, err);
        if (rc < 0) break;
        if (rc == 1) {
            const uint8_t *code = NULL;
            size_t code_len = 0;
            if (memcmp(a.code_hash, state_empty_code_hash, 32) != 0) {
                rc = store_code(v, a.code_hash, &code, &code_len, err);
                if (rc < 0) break;
                if (rc == 0) {
                    rc = cohort_error_set(err, STORE_E_CORRUPT, DOMAIN, "store: the code of an account is missing");
                    break;
                }
            }
            uint8_t balance[32];
            u256_store_be(balance, a.balance);
            out_u8(&x.o, 'A');
            out_put(&x.o, at, 20);
            out_u64(&x.o, a.nonce);
            out_put(&x.o, balance, 32);
            out_put(&x.o, a.code_hash, 32);
            out_u32(&x.o, (uint32_t)code_len);
            out_put(&x.o, code, code_len);
            if (memcmp(a.storage_root, trie_empty_root, 32) != 0) {
                static const uint8_t zero[32];
                rc = export_slots(&x, at, zero, cursor);
                if (rc < 0) break;
                if (rc == 1) {
                    filled = true;
                    break;
                }
            }
        }
        rc = 0;
        memcpy(address, at, 20);
        more = increment(address, 20);
    }
    if (x.accounts) mdb_cursor_close(x.accounts);
    if (x.storage) mdb_cursor_close(x.storage);
    merge_close(&x.hist_accounts);
    merge_close(&x.hist_storage);
    if (rc < 0) {
        free(x.o.data);
        return rc;
    }
    if (filled) {
        out_u8(&x.o, 'N');
        out_put(&x.o, cursor, STORE_CURSOR_BYTES);
    } else {
        out_u8(&x.o, 'E');
    }
    if (x.o.nomem) {
        free(x.o.data);
        return cohort_error_set(err, STORE_E_NOMEM, DOMAIN, "store: out of memory");
    }
    *out = x.o.data;
    *out_len = x.o.len;
    return 0;
}

/* ---- Export: a block's headers, body and receipts ---- */

size_t store_blocks_header_count(uint64_t number, size_t headers)
{
    if (headers == 0 || headers > STORE_IMPORT_HEADERS) headers = STORE_IMPORT_HEADERS;
    return number + 1 < headers ? (size_t)number + 1 : headers;
}

int store_export_blocks(struct store_view *v, uint64_t number, size_t headers, uint8_t **out, size_t *out_len,
                        struct cohort_error *err)
{
    *out = NULL;
    *out_len = 0;
    if (!v->has_head || number > v->head || number < store_view_base(v))
        return cohort_error_set(err, STORE_E_INVALID, DOMAIN, "store: block %llu is not held here whole (head %llu)",
                                (unsigned long long)number, (unsigned long long)v->head);
    uint64_t count = store_blocks_header_count(number, headers);
    struct out o = {0};
    out_u32(&o, (uint32_t)count);
    int rc = 0;
    for (uint64_t i = 0; i < count && rc == 0; i++) {
        uint8_t key[8];
        store_put_u64(key, number - i);
        MDB_val k = val(key, 8), rec;
        rc = mdb_get(v->txn, v->s->dbi[T_HEADERS], &k, &rec);
        if (rc == MDB_NOTFOUND || (rc == 0 && rec.mv_size < 33)) {
            rc = cohort_error_set(err, STORE_E_CORRUPT, DOMAIN, "store: header %llu is missing",
                                  (unsigned long long)(number - i));
            break;
        }
        if (rc != 0) {
            rc = store_lmdb_error(err, rc, "read headers");
            break;
        }
        out_u32(&o, (uint32_t)(rec.mv_size - 32));
        out_put(&o, (const uint8_t *)rec.mv_data + 32, rec.mv_size - 32);
    }
    for (int t = 0; t < 2 && rc == 0; t++) {
        uint8_t key[8];
        store_put_u64(key, number);
        MDB_val k = val(key, 8), rec;
        rc = mdb_get(v->txn, v->s->dbi[t == 0 ? T_BODIES : T_RECEIPTS], &k, &rec);
        if (rc == MDB_NOTFOUND) {
            rec = val(NULL, 0); /* the genesis has neither: an empty body and no receipts */
            rc = 0;
        }
        if (rc != 0) {
            rc = store_lmdb_error(err, rc, "read a block");
            break;
        }
        if (rec.mv_size == 0) {
            out_u32(&o, 4);
            out_u32(&o, 0);
        } else {
            out_u32(&o, (uint32_t)rec.mv_size);
            out_put(&o, rec.mv_data, rec.mv_size);
        }
    }
    if (rc == 0 && o.nomem) rc = cohort_error_set(err, STORE_E_NOMEM, DOMAIN, "store: out of memory");
    if (rc != 0) {
        free(o.data);
        return rc;
    }
    *out = o.data;
    *out_len = o.len;
    return 0;
}

/* ---- Decoding what a member sent ---- */

/* A record's place in the state's order: address | class (0 account, 1 slot, 2 after the account) | slot. */
static void position(uint8_t pos[STORE_CURSOR_BYTES], const uint8_t *address, uint8_t cls, const uint8_t *slot)
{
    memcpy(pos, address, 20);
    pos[20] = cls;
    if (slot) memcpy(pos + 21, slot, 32);
    else memset(pos + 21, 0, 32);
}

static int grow(void **array, size_t *cap, size_t count, size_t size)
{
    if (count < *cap) return 0;
    size_t n = *cap ? *cap * 2 : 256;
    void *p = realloc(*array, n * size);
    if (p == NULL) return -1;
    *array = p;
    *cap = n;
    return 0;
}

void store_chunk_free(struct store_chunk *chunk)
{
    if (chunk == NULL) return;
    free(chunk->accounts);
    free(chunk->slots);
    memset(chunk, 0, sizeof *chunk);
}

int store_chunk_decode(const uint8_t *bytes, size_t len, const uint8_t cursor[STORE_CURSOR_BYTES],
                       struct store_chunk *out, struct cohort_error *err)
{
    memset(out, 0, sizeof *out);
    if (len > STORE_CHUNK_MAX_BYTES)
        return cohort_error_set(err, STORE_E_CORRUPT, DOMAIN, "state chunk of %zu bytes: over the cap of %u", len,
                                STORE_CHUNK_MAX_BYTES);
    if (cursor[20] > 2)
        return cohort_error_set(err, STORE_E_INVALID, DOMAIN, "a state cursor with phase %u", cursor[20]);
    size_t account_cap = 0, slot_cap = 0;
    struct store_reader r = {.p = bytes, .end = bytes + len};
    /* Records must come after the cursor (at or after its position) and each after the last. */
    uint8_t floor[STORE_CURSOR_BYTES], last[STORE_CURSOR_BYTES];
    memcpy(floor, cursor, STORE_CURSOR_BYTES);
    bool have_last = false;
    const uint8_t *account = cursor[20] == 1 ? cursor : NULL; /* whose slots may come next */
    const char *why = NULL;
    for (;;) {
        const uint8_t *tag = store_take(&r, 1);
        if (tag == NULL) {
            why = "it ends without 'E' or 'N'";
            break;
        }
        uint8_t pos[STORE_CURSOR_BYTES];
        if (*tag == 'A') {
            struct store_chunk_account a = {0};
            a.address = store_take(&r, 20);
            a.nonce = store_take_uint(&r, 8);
            const uint8_t *balance = store_take(&r, 32);
            a.code_hash = store_take(&r, 32);
            a.code_len = store_take_uint(&r, 4);
            a.code = store_take(&r, a.code_len);
            if (r.bad) {
                why = "an account record is cut short";
                break;
            }
            a.balance = u256_load_be(balance);
            uint8_t h[32];
            keccak256(a.code, a.code_len, h);
            if (memcmp(h, a.code_hash, 32) != 0) {
                why = "an account's code does not hash to its code hash";
                break;
            }
            position(pos, a.address, 0, NULL);
            if (memcmp(pos, floor, sizeof pos) < 0 || (have_last && memcmp(pos, last, sizeof pos) <= 0)) {
                why = "an account is out of order";
                break;
            }
            if (grow((void **)&out->accounts, &account_cap, out->account_count, sizeof *out->accounts) != 0) {
                store_chunk_free(out);
                return cohort_error_set(err, STORE_E_NOMEM, DOMAIN, "out of memory");
            }
            out->accounts[out->account_count++] = a;
            account = a.address;
        } else if (*tag == 'S') {
            const uint8_t *address = store_take(&r, 20), *slot = store_take(&r, 32), *value = store_take(&r, 32);
            if (r.bad) {
                why = "a slot record is cut short";
                break;
            }
            position(pos, address, 1, slot);
            if (account == NULL || memcmp(address, account, 20) != 0) {
                why = "a slot does not follow its account";
                break;
            }
            if (memcmp(pos, floor, sizeof pos) < 0 || (have_last && memcmp(pos, last, sizeof pos) <= 0)) {
                why = "a slot is out of order";
                break;
            }
            struct store_chunk_slot sl = {.address = address, .key = u256_load_be(slot), .value = u256_load_be(value)};
            if (u256_is_zero(sl.value)) {
                why = "a slot holds zero (absent slots are not sent)";
                break;
            }
            if (grow((void **)&out->slots, &slot_cap, out->slot_count, sizeof *out->slots) != 0) {
                store_chunk_free(out);
                return cohort_error_set(err, STORE_E_NOMEM, DOMAIN, "out of memory");
            }
            out->slots[out->slot_count++] = sl;
        } else if (*tag == 'E' || *tag == 'N') {
            if (*tag == 'N') {
                const uint8_t *next = store_take(&r, STORE_CURSOR_BYTES);
                if (next == NULL || next[20] > 2) {
                    why = "its next cursor is cut short or has no valid phase";
                    break;
                }
                /* The next chunk starts past everything this one held, and past the cursor. */
                if (memcmp(next, floor, STORE_CURSOR_BYTES) <= 0 ||
                    (have_last && memcmp(next, last, STORE_CURSOR_BYTES) <= 0)) {
                    why = "its next cursor does not move forward";
                    break;
                }
                memcpy(out->next, next, STORE_CURSOR_BYTES);
            } else {
                out->done = true;
            }
            if (r.p != r.end) why = "bytes follow its end";
            break;
        } else {
            why = "a record of an unknown kind";
            break;
        }
        memcpy(last, pos, sizeof pos);
        have_last = true;
    }
    if (why != NULL) {
        size_t at = (size_t)(r.p - bytes);
        store_chunk_free(out);
        return cohort_error_set(err, STORE_E_CORRUPT, DOMAIN, "state chunk refused near byte %zu: %s", at, why);
    }
    return 0;
}

int store_blocks_decode(const uint8_t *bytes, size_t len, uint64_t number, size_t headers, struct store_blocks *out,
                        struct cohort_error *err)
{
    memset(out, 0, sizeof *out);
    if (len > STORE_BLOCKS_MAX_BYTES)
        return cohort_error_set(err, STORE_E_CORRUPT, DOMAIN, "blocks answer of %zu bytes: over the cap of %u", len,
                                STORE_BLOCKS_MAX_BYTES);
    struct store_reader r = {.p = bytes, .end = bytes + len};
    uint64_t want = store_blocks_header_count(number, headers);
    uint64_t count = store_take_uint(&r, 4);
    if (r.bad || count != want)
        return cohort_error_set(err, STORE_E_CORRUPT, DOMAIN, "blocks answer for block %llu: %llu headers, want %llu",
                                (unsigned long long)number, (unsigned long long)count, (unsigned long long)want);
    out->header_count = (size_t)count;
    struct block_header h;
    uint8_t parent[32]; /* the hash the header before named as its parent */
    for (size_t i = 0; i < out->header_count; i++) {
        size_t hl = (size_t)store_take_uint(&r, 4);
        const uint8_t *rlp = store_take(&r, hl);
        if (rlp == NULL || hl > BLOCK_HEADER_MAX_BYTES)
            return cohort_error_set(err, STORE_E_CORRUPT, DOMAIN, "blocks answer: header %zu is cut short or too long", i);
        if (block_header_decode(rlp, hl, &h, err) != 0) {
            cohort_error_wrap(err, "blocks answer: header %zu", i);
            err->code = STORE_E_CORRUPT;
            return STORE_E_CORRUPT;
        }
        if (h.number != number - i)
            return cohort_error_set(err, STORE_E_CORRUPT, DOMAIN, "blocks answer: header %zu is block %llu, want %llu", i,
                                    (unsigned long long)h.number, (unsigned long long)(number - i));
        out->header_rlp[i] = rlp;
        out->header_len[i] = hl;
        keccak256(rlp, hl, out->header_hash[i]);
        if (i == 0) {
            out->head = h;
            memcpy(out->hash, out->header_hash[0], 32);
        } else if (memcmp(out->header_hash[i], parent, 32) != 0) {
            return cohort_error_set(err, STORE_E_CORRUPT, DOMAIN,
                                    "blocks answer: block %llu is not the parent its child names",
                                    (unsigned long long)h.number);
        }
        memcpy(parent, h.parent_hash, 32);
    }
    for (int t = 0; t < 2; t++) {
        size_t rl = (size_t)store_take_uint(&r, 4);
        const uint8_t *rec = store_take(&r, rl);
        if (rec == NULL || rl < 4)
            return cohort_error_set(err, STORE_E_CORRUPT, DOMAIN, "blocks answer: the %s record is cut short",
                                    t == 0 ? "body" : "receipts");
        if (t == 0) {
            out->body = rec;
            out->body_len = rl;
        } else {
            out->receipts = rec;
            out->receipts_len = rl;
        }
    }
    if (r.p != r.end) return cohort_error_set(err, STORE_E_CORRUPT, DOMAIN, "blocks answer: bytes follow its end");

    /* The body: count | (len | raw)*, and its root. */
    struct store_reader b = {.p = out->body, .end = out->body + out->body_len};
    uint64_t txs = store_take_uint(&b, 4);
    if (txs > out->body_len / 4)
        return cohort_error_set(err, STORE_E_CORRUPT, DOMAIN, "blocks answer: a body of %llu transactions in %zu bytes",
                                (unsigned long long)txs, out->body_len);
    const uint8_t **raws = calloc(txs ? txs : 1, sizeof *raws);
    size_t *lens = calloc(txs ? txs : 1, sizeof *lens);
    struct block_receipt *receipts = NULL;
    size_t receipt_count = 0;
    int rc = raws && lens ? 0 : cohort_error_set(err, STORE_E_NOMEM, DOMAIN, "out of memory");
    for (uint64_t i = 0; i < txs && rc == 0; i++) {
        lens[i] = (size_t)store_take_uint(&b, 4);
        raws[i] = store_take(&b, lens[i]);
        if (b.bad) rc = cohort_error_set(err, STORE_E_CORRUPT, DOMAIN, "blocks answer: the body is cut short");
    }
    if (rc == 0 && b.p != b.end) rc = cohort_error_set(err, STORE_E_CORRUPT, DOMAIN, "blocks answer: bytes follow the body");
    uint8_t root[32];
    if (rc == 0) rc = block_ordered_root(raws, lens, (size_t)txs, root, err);
    if (rc == 0 && memcmp(root, out->head.transactions_root, 32) != 0)
        rc = cohort_error_set(err, STORE_E_CORRUPT, DOMAIN, "blocks answer: the body does not give block %llu's "
                              "transactions root", (unsigned long long)number);
    /* The receipts, and their root. */
    if (rc == 0) rc = store_receipts_decode(out->receipts, out->receipts_len, &receipts, &receipt_count, err);
    if (rc == 0 && receipt_count != txs)
        rc = cohort_error_set(err, STORE_E_CORRUPT, DOMAIN, "blocks answer: %zu receipts for %llu transactions",
                              receipt_count, (unsigned long long)txs);
    struct rlp_buf *encoded = rc == 0 ? calloc(receipt_count ? receipt_count : 1, sizeof *encoded) : NULL;
    const uint8_t **items = rc == 0 ? calloc(receipt_count ? receipt_count : 1, sizeof *items) : NULL;
    size_t *item_lens = rc == 0 ? calloc(receipt_count ? receipt_count : 1, sizeof *item_lens) : NULL;
    if (rc == 0 && (!encoded || !items || !item_lens)) rc = cohort_error_set(err, STORE_E_NOMEM, DOMAIN, "out of memory");
    for (size_t i = 0; i < receipt_count && rc == 0; i++) {
        rlp_buf_init(&encoded[i], STORE_BLOCKS_MAX_BYTES);
        block_receipt_encode(&receipts[i], &encoded[i]);
        rc = rlp_buf_check(&encoded[i], err);
        items[i] = encoded[i].data;
        item_lens[i] = encoded[i].len;
    }
    if (rc == 0) rc = block_ordered_root(items, item_lens, receipt_count, root, err);
    if (rc == 0 && memcmp(root, out->head.receipts_root, 32) != 0)
        rc = cohort_error_set(err, STORE_E_CORRUPT, DOMAIN, "blocks answer: the receipts do not give block %llu's "
                              "receipts root", (unsigned long long)number);
    if (encoded)
        for (size_t i = 0; i < receipt_count; i++) rlp_buf_free(&encoded[i]);
    free(encoded);
    free(items);
    free(item_lens);
    store_receipts_free(receipts, receipt_count);
    free(raws);
    free(lens);
    return rc;
}

/* ---- Import ---- */

int store_import_begin(struct store *s, uint64_t number, struct cohort_error *err)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    if (rc != 0) return store_lmdb_error(err, rc, "begin an import");
    for (int t = 0; t < T_COUNT && rc == 0; t++)
        if (t != T_META) rc = mdb_drop(txn, s->dbi[t], 0);
    static const char *const gone[] = {"head", "applied", "base", "state_base", "pruned"};
    for (size_t i = 0; i < sizeof gone / sizeof gone[0] && rc == 0; i++) {
        MDB_val k = val(gone[i], strlen(gone[i]));
        rc = mdb_del(txn, s->dbi[T_META], &k, NULL);
        if (rc == MDB_NOTFOUND) rc = 0;
    }
    uint8_t n[8];
    store_put_u64(n, number);
    MDB_val k = val("importing", 9), v = val(n, 8);
    if (rc == 0) rc = mdb_put(txn, s->dbi[T_META], &k, &v, 0);
    if (rc == 0) rc = mdb_txn_commit(txn);
    else mdb_txn_abort(txn);
    return rc == 0 ? 0 : store_lmdb_error(err, rc, "empty the store for an import");
}

int store_import_chunk(struct store *s, const struct store_chunk *chunk, struct cohort_error *err)
{
    struct store_txn *t;
    int rc = store_write_begin(s, &t, err);
    if (rc != 0) return rc;
    rc = store_txn_import_state(t, chunk, err);
    if (rc == 0) return store_write_commit(t, err);
    store_write_abort(t);
    return rc;
}

int store_import_finish(struct store *s, const struct store_blocks *b, uint64_t bft_index, struct cohort_error *err)
{
    struct store_txn *t;
    int rc = store_write_begin(s, &t, err);
    if (rc != 0) return rc;
    uint64_t number = b->head.number;
    uint8_t root[32];
    rc = store_txn_state_root(t, root, err);
    if (rc == 0 && memcmp(root, b->head.state_root, 32) != 0)
        rc = cohort_error_set(err, STORE_E_MISMATCH, DOMAIN,
                              "the state sent for block %llu does not give its state root: the source sent another state",
                              (unsigned long long)number);
    /* Headers N-255..N (hashes for BLOCKHASH; only N is served whole). */
    for (size_t i = 0; i < b->header_count && rc == 0; i++) {
        uint8_t key[8];
        store_put_u64(key, number - i);
        uint8_t *rec = malloc(32 + b->header_len[i]);
        if (rec == NULL) {
            rc = cohort_error_set(err, STORE_E_NOMEM, DOMAIN, "out of memory");
            break;
        }
        memcpy(rec, b->header_hash[i], 32);
        memcpy(rec + 32, b->header_rlp[i], b->header_len[i]);
        MDB_val k = val(key, 8), v = val(rec, 32 + b->header_len[i]), hk = val(b->header_hash[i], 32), hv = val(key, 8);
        rc = mdb_put(t->txn, s->dbi[T_HEADERS], &k, &v, 0);
        if (rc == 0) rc = mdb_put(t->txn, s->dbi[T_BLOCK_HASHES], &hk, &hv, 0);
        free(rec);
        if (rc != 0) rc = store_lmdb_error(err, rc, "write an imported header");
    }
    if (rc == 0) rc = store_txn_import_block(t, number, b->body, b->body_len, b->receipts, b->receipts_len, err);
    uint8_t head[40], n8[8], i8[8];
    store_put_u64(head, number);
    memcpy(head + 8, b->hash, 32);
    store_put_u64(n8, number);
    store_put_u64(i8, bft_index);
    struct {
        const char *key;
        MDB_val v;
    } meta[] = {{"head", val(head, 40)}, {"base", val(n8, 8)}, {"state_base", val(n8, 8)}, {"applied", val(i8, 8)}};
    for (size_t i = 0; i < sizeof meta / sizeof meta[0] && rc == 0; i++) {
        MDB_val k = val(meta[i].key, strlen(meta[i].key));
        rc = mdb_put(t->txn, s->dbi[T_META], &k, &meta[i].v, 0);
        if (rc != 0) rc = store_lmdb_error(err, rc, "write the imported head");
    }
    if (rc == 0) {
        MDB_val k = val("importing", 9);
        int dr = mdb_del(t->txn, s->dbi[T_META], &k, NULL);
        if (dr != 0 && dr != MDB_NOTFOUND) rc = store_lmdb_error(err, dr, "clear the import mark");
    }
    if (rc != 0) {
        store_write_abort(t);
        return rc;
    }
    rc = store_write_commit(t, err);
    return rc == 0 ? store_sync(s, err) : rc;
}

int store_import_older_block(struct store *s, const struct store_blocks *b, struct cohort_error *err)
{
    struct store_txn *t;
    int rc = store_write_begin(s, &t, err);
    if (rc != 0) return rc;
    MDB_val bk = val("base", 4), bv;
    uint64_t base = mdb_get(t->txn, s->dbi[T_META], &bk, &bv) == 0 && bv.mv_size == 8 ? store_get_u64(bv.mv_data) : 0;
    uint64_t number = b->head.number;
    if (base == 0 || number + 1 != base) {
        store_write_abort(t);
        return cohort_error_set(err, STORE_E_INVALID, DOMAIN, "block %llu is not the one below the first held (%llu)",
                                (unsigned long long)number, (unsigned long long)base);
    }
    /* Its hash: what the block at the base names as its parent. */
    uint8_t key[8];
    store_put_u64(key, base);
    MDB_val k = val(key, 8), rec;
    rc = mdb_get(t->txn, s->dbi[T_HEADERS], &k, &rec);
    struct block_header child;
    if (rc != 0 || rec.mv_size < 33 ||
        block_header_decode((const uint8_t *)rec.mv_data + 32, rec.mv_size - 32, &child, NULL) != 0) {
        store_write_abort(t);
        return cohort_error_set(err, STORE_E_CORRUPT, DOMAIN, "store: the header of block %llu is missing or damaged",
                                (unsigned long long)base);
    }
    if (memcmp(child.parent_hash, b->hash, 32) != 0) {
        store_write_abort(t);
        return cohort_error_set(err, STORE_E_MISMATCH, DOMAIN,
                                "the block %llu sent is not the parent of block %llu: the source sent another block",
                                (unsigned long long)number, (unsigned long long)base);
    }
    store_put_u64(key, number);
    uint8_t *hrec = malloc(32 + b->header_len[0]);
    if (hrec == NULL) rc = cohort_error_set(err, STORE_E_NOMEM, DOMAIN, "out of memory");
    if (rc == 0) {
        memcpy(hrec, b->hash, 32);
        memcpy(hrec + 32, b->header_rlp[0], b->header_len[0]);
        MDB_val hk = val(key, 8), hv = val(hrec, 32 + b->header_len[0]), nk = val(b->hash, 32), nv = val(key, 8);
        rc = mdb_put(t->txn, s->dbi[T_HEADERS], &hk, &hv, 0);
        if (rc == 0) rc = mdb_put(t->txn, s->dbi[T_BLOCK_HASHES], &nk, &nv, 0);
        if (rc != 0) rc = store_lmdb_error(err, rc, "write an older block's header");
    }
    free(hrec);
    if (rc == 0) rc = store_txn_import_block(t, number, b->body, b->body_len, b->receipts, b->receipts_len, err);
    if (rc == 0) {
        MDB_val nb = val(key, 8);
        rc = mdb_put(t->txn, s->dbi[T_META], &bk, &nb, 0);
        if (rc != 0) rc = store_lmdb_error(err, rc, "move the base down");
    }
    if (rc != 0) {
        store_write_abort(t);
        return rc;
    }
    return store_write_commit(t, err);
}
