/*
 * state.c - accounts, storage, the journal and the state root (see state.h for the model).
 *
 * Layout. Accounts and slots live in two growable arrays and are named by their index,
 * which never changes (records are never removed), so the journal and the slot keys can
 * hold indexes instead of pointers that a realloc would invalidate. Two open-addressed
 * tables (linear probing, power-of-two sizes, at most half full) map an address, and an
 * (account index, slot key) pair, to index + 1 (0 marks a free bucket).
 *
 * The journal records the old value of everything a transaction changes. It is also the
 * transaction's dirty list: state_tx_end() walks it once to find the touched, created and
 * destructed accounts, the storage values to commit and the flags to clear, so ending a
 * transaction costs what the transaction did, not the size of the state.
 */
#include "state.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "common/keccak.h"

const uint8_t state_empty_code_hash[32] = {0xc5, 0xd2, 0x46, 0x01, 0x86, 0xf7, 0x23, 0x3c, 0x92, 0x7e, 0x7d,
                                           0xb2, 0xdc, 0xc7, 0x03, 0xc0, 0xe5, 0x00, 0xb6, 0x53, 0xca, 0x82,
                                           0x27, 0x3b, 0x7b, 0xfa, 0xd8, 0x04, 0x5d, 0x85, 0xa4, 0x70};

/* Records past this count are refused: indexes are 32-bit and the tables must stay sparse. */
#define RECORDS_MAX (1u << 28)

struct account {
    uint8_t address[20];
    bool exists;
    bool warm;
    bool touched;
    bool created;
    bool destructed;
    uint64_t nonce;
    u256 balance;
    uint8_t *code; /* malloc'd, NULL when code_len is 0 */
    size_t code_len;
    uint8_t code_hash[32];
    /* What the backend held when the record was made (absent without a backend): a block's
       changes are the differences from these (state_for_each_change). */
    bool base_exists;
    bool backend_storage;  /* the backend holds storage for it (its storage root is not empty) */
    bool storage_cleared;  /* deleted or cleared here: the backend's storage no longer counts */
    uint64_t base_nonce;
    u256 base_balance;
    uint8_t base_code_hash[32];
};

struct slot {
    uint32_t account;
    bool warm;
    u256 key;
    u256 current;
    u256 original;
    u256 transient;
    u256 base; /* the backend's value when the record was made (zero without a backend) */
};

enum journal_kind {
    J_BALANCE,
    J_NONCE,
    J_CODE,
    J_STORAGE,
    J_TRANSIENT,
    J_EXISTS, /* exists went from false to true */
    J_TOUCHED,
    J_CREATED,
    J_DESTRUCTED,
    J_WARM_ACCOUNT,
    J_WARM_SLOT,
    J_LOG,
};

struct journal_entry {
    uint8_t kind;
    uint32_t index; /* account or slot index */
    union {
        u256 value;
        uint64_t nonce;
        struct {
            uint8_t *code;
            size_t len;
            uint8_t hash[32];
        } code;
    } old;
};

struct log_record {
    struct state_log log; /* data points to a malloc'd copy (or NULL when empty) */
};

struct state {
    struct account *accounts;
    uint32_t account_count, account_cap;
    uint32_t *account_table; /* index + 1, 0 = free */
    uint32_t account_table_size;

    struct slot *slots;
    uint32_t slot_count, slot_cap;
    uint32_t *slot_table;
    uint32_t slot_table_size;

    struct journal_entry *journal;
    size_t journal_len, journal_cap;

    struct state_log *logs;
    size_t log_count, log_cap;

    bool in_tx;
    struct trie_builder *trie;

    bool has_backend;
    struct state_backend backend;
    bool backend_failed;
    struct cohort_error backend_error; /* the first failure since state_new / state_reset */
};

/* ---- Hashing and tables ---- */

static uint64_t mix64(uint64_t x)
{
    /* splitmix64's finalizer: fixture addresses differ in few bits, so spread them. */
    x ^= x >> 30;
    x *= UINT64_C(0xbf58476d1ce4e5b9);
    x ^= x >> 27;
    x *= UINT64_C(0x94d049bb133111eb);
    x ^= x >> 31;
    return x;
}

static uint64_t hash_address(const uint8_t address[20])
{
    uint64_t a, b;
    uint32_t c;
    memcpy(&a, address, 8);
    memcpy(&b, address + 8, 8);
    memcpy(&c, address + 16, 4);
    return mix64(a ^ mix64(b ^ mix64(c)));
}

static uint64_t hash_slot(uint32_t account, u256 key)
{
    return mix64(key.w[0] ^ mix64(key.w[1] ^ mix64(key.w[2] ^ mix64(key.w[3] ^ mix64(account)))));
}

static int find_account(const struct state *st, const uint8_t address[20])
{
    if (st->account_table_size == 0) return -1;
    uint32_t mask = st->account_table_size - 1;
    for (uint32_t i = (uint32_t)hash_address(address) & mask;; i = (i + 1) & mask) {
        uint32_t v = st->account_table[i];
        if (v == 0) return -1;
        if (memcmp(st->accounts[v - 1].address, address, 20) == 0) return (int)(v - 1);
    }
}

static int find_slot(const struct state *st, uint32_t account, u256 key)
{
    if (st->slot_table_size == 0) return -1;
    uint32_t mask = st->slot_table_size - 1;
    for (uint32_t i = (uint32_t)hash_slot(account, key) & mask;; i = (i + 1) & mask) {
        uint32_t v = st->slot_table[i];
        if (v == 0) return -1;
        const struct slot *s = &st->slots[v - 1];
        if (s->account == account && u256_eq(s->key, key)) return (int)(v - 1);
    }
}

/* Rebuilds a table of new_size buckets from records 0..count-1. */
static int rehash_accounts(struct state *st, uint32_t new_size)
{
    uint32_t *table = calloc(new_size, sizeof *table);
    if (table == NULL) return -1;
    uint32_t mask = new_size - 1;
    for (uint32_t r = 0; r < st->account_count; r++) {
        uint32_t i = (uint32_t)hash_address(st->accounts[r].address) & mask;
        while (table[i] != 0) i = (i + 1) & mask;
        table[i] = r + 1;
    }
    free(st->account_table);
    st->account_table = table;
    st->account_table_size = new_size;
    return 0;
}

static int rehash_slots(struct state *st, uint32_t new_size)
{
    uint32_t *table = calloc(new_size, sizeof *table);
    if (table == NULL) return -1;
    uint32_t mask = new_size - 1;
    for (uint32_t r = 0; r < st->slot_count; r++) {
        uint32_t i = (uint32_t)hash_slot(st->slots[r].account, st->slots[r].key) & mask;
        while (table[i] != 0) i = (i + 1) & mask;
        table[i] = r + 1;
    }
    free(st->slot_table);
    st->slot_table = table;
    st->slot_table_size = new_size;
    return 0;
}

/* Grows an array of records to hold one more; 0 or -1. */
static int grow(void **array, uint32_t *cap, uint32_t count, size_t size)
{
    if (count < *cap) return 0;
    if (*cap >= RECORDS_MAX) return -1;
    uint32_t new_cap = *cap ? *cap * 2 : 64;
    void *p = realloc(*array, (size_t)new_cap * size);
    if (p == NULL) return -1;
    *array = p;
    *cap = new_cap;
    return 0;
}

static int copy_code(const uint8_t *code, size_t code_len, uint8_t **out, struct cohort_error *err);

/* ---- The backend ---- */

/* Keeps the first backend failure; reads go on as if the thing were absent. */
static void backend_failed(struct state *st, const struct cohort_error *err)
{
    if (st->backend_failed) return;
    st->backend_failed = true;
    st->backend_error = *err;
    if (st->backend_error.code == 0) st->backend_error.code = STATE_E_INVALID;
}

/* Fills a new record from the backend: its fields and its base. */
static void load_account(struct state *st, struct account *a)
{
    struct cohort_error err = {0};
    uint64_t nonce = 0;
    u256 balance = u256_zero();
    uint8_t code_hash[32];
    bool has_storage = false;
    int rc = st->backend.account(st->backend.arg, a->address, &nonce, &balance, code_hash, &has_storage, &err);
    if (rc < 0) {
        backend_failed(st, &err);
        return;
    }
    if (rc == 0) return;
    if (memcmp(code_hash, state_empty_code_hash, 32) != 0) {
        const uint8_t *code = NULL;
        size_t code_len = 0;
        rc = st->backend.code(st->backend.arg, code_hash, &code, &code_len, &err);
        if (rc == 0)
            cohort_error_set(&err, STATE_E_INVALID, "state", "state: the code of an account is missing from the store");
        if (rc <= 0 || copy_code(code, code_len, &a->code, &err) != 0) {
            backend_failed(st, &err);
            return;
        }
        a->code_len = code_len;
    }
    a->exists = a->base_exists = true;
    a->nonce = a->base_nonce = nonce;
    a->balance = a->base_balance = balance;
    memcpy(a->code_hash, code_hash, 32);
    memcpy(a->base_code_hash, code_hash, 32);
    a->backend_storage = has_storage;
}

static void load_slot(struct state *st, struct slot *s, const uint8_t address[20])
{
    struct cohort_error err = {0};
    u256 value = u256_zero();
    if (st->backend.storage(st->backend.arg, address, s->key, &value, &err) < 0) {
        backend_failed(st, &err);
        return;
    }
    s->current = s->original = s->base = value;
}

/* The index of address's record, adding an absent record when there is none; -1 on NOMEM. */
static int account_index(struct state *st, const uint8_t address[20], struct cohort_error *err)
{
    int found = find_account(st, address);
    if (found >= 0) return found;
    if (grow((void **)&st->accounts, &st->account_cap, st->account_count, sizeof *st->accounts) != 0 ||
        ((st->account_count + 1) * 2 > st->account_table_size &&
         rehash_accounts(st, st->account_table_size ? st->account_table_size * 2 : 256) != 0)) {
        cohort_error_set(err, STATE_E_NOMEM, "state", "state: no memory for account %u", st->account_count + 1);
        return -1;
    }
    uint32_t r = st->account_count++;
    struct account *a = &st->accounts[r];
    memset(a, 0, sizeof *a);
    memcpy(a->address, address, 20);
    memcpy(a->code_hash, state_empty_code_hash, 32);
    memcpy(a->base_code_hash, state_empty_code_hash, 32);
    uint32_t mask = st->account_table_size - 1;
    uint32_t i = (uint32_t)hash_address(address) & mask;
    while (st->account_table[i] != 0) i = (i + 1) & mask;
    st->account_table[i] = r + 1;
    if (st->has_backend) load_account(st, a);
    return (int)r;
}

static int slot_index(struct state *st, uint32_t account, u256 key, struct cohort_error *err)
{
    int found = find_slot(st, account, key);
    if (found >= 0) return found;
    if (grow((void **)&st->slots, &st->slot_cap, st->slot_count, sizeof *st->slots) != 0 ||
        ((st->slot_count + 1) * 2 > st->slot_table_size &&
         rehash_slots(st, st->slot_table_size ? st->slot_table_size * 2 : 1024) != 0)) {
        cohort_error_set(err, STATE_E_NOMEM, "state", "state: no memory for storage slot %u", st->slot_count + 1);
        return -1;
    }
    uint32_t r = st->slot_count++;
    struct slot *s = &st->slots[r];
    memset(s, 0, sizeof *s);
    s->account = account;
    s->key = key;
    uint32_t mask = st->slot_table_size - 1;
    uint32_t i = (uint32_t)hash_slot(account, key) & mask;
    while (st->slot_table[i] != 0) i = (i + 1) & mask;
    st->slot_table[i] = r + 1;
    const struct account *a = &st->accounts[account];
    if (st->has_backend && a->backend_storage && !a->storage_cleared) load_slot(st, s, a->address);
    return (int)r;
}

/* Reserves room for one journal entry and returns it (kind and index set); NULL on NOMEM. */
static struct journal_entry *journal_push(struct state *st, enum journal_kind kind, uint32_t index,
                                          struct cohort_error *err)
{
    assert(st->in_tx);
    if (st->journal_len == st->journal_cap) {
        size_t cap = st->journal_cap ? st->journal_cap * 2 : 1024;
        struct journal_entry *p = realloc(st->journal, cap * sizeof *p);
        if (p == NULL) {
            cohort_error_set(err, STATE_E_NOMEM, "state", "state: no memory for journal of %zu entries", cap);
            return NULL;
        }
        st->journal = p;
        st->journal_cap = cap;
    }
    struct journal_entry *e = &st->journal[st->journal_len++];
    e->kind = (uint8_t)kind;
    e->index = index;
    return e;
}

/* ---- Life cycle ---- */

struct state *state_new(void)
{
    struct state *st = calloc(1, sizeof *st);
    if (st == NULL) return NULL;
    st->trie = trie_builder_new();
    if (st->trie == NULL) {
        free(st);
        return NULL;
    }
    return st;
}

static void clear_logs(struct state *st)
{
    for (size_t i = 0; i < st->log_count; i++) free((void *)st->logs[i].data);
    st->log_count = 0;
}

void state_free(struct state *st)
{
    if (st == NULL) return;
    /* Code replaced inside an unfinished transaction is owned by the journal. */
    for (size_t i = 0; i < st->journal_len; i++)
        if (st->journal[i].kind == J_CODE) free(st->journal[i].old.code.code);
    for (uint32_t i = 0; i < st->account_count; i++) free(st->accounts[i].code);
    clear_logs(st);
    free(st->logs);
    free(st->accounts);
    free(st->account_table);
    free(st->slots);
    free(st->slot_table);
    free(st->journal);
    trie_builder_free(st->trie);
    free(st);
}

/* ---- Genesis ---- */

static int copy_code(const uint8_t *code, size_t code_len, uint8_t **out, struct cohort_error *err)
{
    *out = NULL;
    if (code_len == 0) return 0;
    if (code_len > STATE_CODE_MAX)
        return cohort_error_set(err, STATE_E_RANGE, "state", "state: code of %zu bytes (cap %u)", code_len,
                                STATE_CODE_MAX);
    *out = malloc(code_len);
    if (*out == NULL) return cohort_error_set(err, STATE_E_NOMEM, "state", "state: code of %zu bytes", code_len);
    memcpy(*out, code, code_len);
    return 0;
}

int state_put_account(struct state *st, const uint8_t address[20], uint64_t nonce, u256 balance,
                      const uint8_t *code, size_t code_len, struct cohort_error *err)
{
    assert(st != NULL);
    assert(!st->in_tx);
    uint8_t *copy;
    if (copy_code(code, code_len, &copy, err) != 0) return err ? err->code : STATE_E_RANGE;
    int r = account_index(st, address, err);
    if (r < 0) {
        free(copy);
        return STATE_E_NOMEM;
    }
    struct account *a = &st->accounts[r];
    free(a->code);
    a->exists = true;
    a->nonce = nonce;
    a->balance = balance;
    a->code = copy;
    a->code_len = code_len;
    keccak256(code_len ? code : (const uint8_t *)"", code_len, a->code_hash); /* keccak.c memcpy()s even 0 bytes */
    return 0;
}

int state_put_storage(struct state *st, const uint8_t address[20], u256 key, u256 value, struct cohort_error *err)
{
    assert(st != NULL);
    assert(!st->in_tx);
    int a = find_account(st, address);
    if (a < 0 || !st->accounts[a].exists)
        return cohort_error_set(err, STATE_E_INVALID, "state", "state: storage for an account not put first");
    int s = slot_index(st, (uint32_t)a, key, err);
    if (s < 0) return STATE_E_NOMEM;
    st->slots[s].current = value;
    st->slots[s].original = value;
    return 0;
}

/* ---- Reads ---- */

/*
 * The record of address, or -1. With a backend a read that misses makes the record from
 * the backend: a cache fill, which changes nothing the state's users can see, so the read
 * functions keep their const (the cast below is the one place that knows).
 */
static int find_or_load(const struct state *st, const uint8_t address[20])
{
    int r = find_account(st, address);
    if (r >= 0 || !st->has_backend) return r;
    struct state *mut = (struct state *)st;
    struct cohort_error err = {0};
    r = account_index(mut, address, &err);
    if (r < 0) backend_failed(mut, &err);
    return r;
}

static const struct account *lookup(const struct state *st, const uint8_t address[20])
{
    int r = find_or_load(st, address);
    return r < 0 ? NULL : &st->accounts[r];
}

static bool account_empty(const struct account *a)
{
    return a->nonce == 0 && u256_is_zero(a->balance) && a->code_len == 0;
}

bool state_exists(const struct state *st, const uint8_t address[20])
{
    const struct account *a = lookup(st, address);
    return a != NULL && a->exists;
}

bool state_is_empty(const struct state *st, const uint8_t address[20])
{
    const struct account *a = lookup(st, address);
    return a != NULL && a->exists && account_empty(a);
}

bool state_is_dead(const struct state *st, const uint8_t address[20])
{
    const struct account *a = lookup(st, address);
    return a == NULL || !a->exists || account_empty(a);
}

uint64_t state_nonce(const struct state *st, const uint8_t address[20])
{
    const struct account *a = lookup(st, address);
    return a ? a->nonce : 0;
}

u256 state_balance(const struct state *st, const uint8_t address[20])
{
    const struct account *a = lookup(st, address);
    return a ? a->balance : u256_zero();
}

const uint8_t *state_code(const struct state *st, const uint8_t address[20], size_t *code_len)
{
    const struct account *a = lookup(st, address);
    *code_len = a ? a->code_len : 0;
    return a ? a->code : NULL;
}

void state_code_hash(const struct state *st, const uint8_t address[20], uint8_t out[32])
{
    const struct account *a = lookup(st, address);
    if (a == NULL || !a->exists)
        memset(out, 0, 32);
    else
        memcpy(out, a->code_hash, 32);
}

bool state_has_storage(const struct state *st, const uint8_t address[20])
{
    int a = find_or_load(st, address);
    if (a < 0) return false;
    if (st->accounts[a].backend_storage && !st->accounts[a].storage_cleared) return true;
    /* A linear scan: only creations ask, and only when the address already has a record. */
    for (uint32_t i = 0; i < st->slot_count; i++)
        if (st->slots[i].account == (uint32_t)a && !u256_is_zero(st->slots[i].current)) return true;
    return false;
}

static const struct slot *lookup_slot(const struct state *st, const uint8_t address[20], u256 key)
{
    int a = find_or_load(st, address);
    if (a < 0) return NULL;
    int s = find_slot(st, (uint32_t)a, key);
    if (s < 0 && st->has_backend) {
        struct state *mut = (struct state *)st;
        struct cohort_error err = {0};
        s = slot_index(mut, (uint32_t)a, key, &err);
        if (s < 0) backend_failed(mut, &err);
    }
    return s < 0 ? NULL : &st->slots[s];
}

u256 state_storage(const struct state *st, const uint8_t address[20], u256 key)
{
    const struct slot *s = lookup_slot(st, address, key);
    return s ? s->current : u256_zero();
}

u256 state_storage_original(const struct state *st, const uint8_t address[20], u256 key)
{
    const struct slot *s = lookup_slot(st, address, key);
    return s ? s->original : u256_zero();
}

u256 state_transient(const struct state *st, const uint8_t address[20], u256 key)
{
    const struct slot *s = lookup_slot(st, address, key);
    return s ? s->transient : u256_zero();
}

bool state_created_in_tx(const struct state *st, const uint8_t address[20])
{
    const struct account *a = lookup(st, address);
    return a != NULL && a->created;
}

bool state_is_warm(const struct state *st, const uint8_t address[20])
{
    const struct account *a = lookup(st, address);
    return a != NULL && a->warm;
}

/* ---- Journaled changes ---- */

size_t state_snapshot(const struct state *st)
{
    assert(st->in_tx);
    return st->journal_len;
}

void state_revert(struct state *st, size_t snapshot)
{
    assert(st->in_tx);
    assert(snapshot <= st->journal_len);
    while (st->journal_len > snapshot) {
        struct journal_entry *e = &st->journal[--st->journal_len];
        struct account *a = NULL;
        struct slot *s = NULL;
        switch ((enum journal_kind)e->kind) {
        case J_STORAGE:
        case J_TRANSIENT:
        case J_WARM_SLOT:
            assert(e->index < st->slot_count);
            s = &st->slots[e->index];
            break;
        case J_LOG: break;
        default:
            assert(e->index < st->account_count);
            a = &st->accounts[e->index];
            break;
        }
        switch ((enum journal_kind)e->kind) {
        case J_BALANCE: a->balance = e->old.value; break;
        case J_NONCE: a->nonce = e->old.nonce; break;
        case J_CODE:
            free(a->code);
            a->code = e->old.code.code;
            a->code_len = e->old.code.len;
            memcpy(a->code_hash, e->old.code.hash, 32);
            break;
        case J_STORAGE: s->current = e->old.value; break;
        case J_TRANSIENT: s->transient = e->old.value; break;
        case J_EXISTS: a->exists = false; break;
        case J_TOUCHED: a->touched = false; break;
        case J_CREATED: a->created = false; break;
        case J_DESTRUCTED: a->destructed = false; break;
        case J_WARM_ACCOUNT: a->warm = false; break;
        case J_WARM_SLOT: s->warm = false; break;
        case J_LOG:
            assert(st->log_count > 0);
            st->log_count--;
            free((void *)st->logs[st->log_count].data);
            break;
        }
    }
}

int state_set_nonce(struct state *st, const uint8_t address[20], uint64_t nonce, struct cohort_error *err)
{
    int r = account_index(st, address, err);
    if (r < 0) return STATE_E_NOMEM;
    struct journal_entry *e = journal_push(st, J_NONCE, (uint32_t)r, err);
    if (e == NULL) return STATE_E_NOMEM;
    e->old.nonce = st->accounts[r].nonce;
    st->accounts[r].nonce = nonce;
    return 0;
}

int state_set_balance(struct state *st, const uint8_t address[20], u256 balance, struct cohort_error *err)
{
    int r = account_index(st, address, err);
    if (r < 0) return STATE_E_NOMEM;
    struct journal_entry *e = journal_push(st, J_BALANCE, (uint32_t)r, err);
    if (e == NULL) return STATE_E_NOMEM;
    e->old.value = st->accounts[r].balance;
    st->accounts[r].balance = balance;
    return 0;
}

int state_add_balance(struct state *st, const uint8_t address[20], u256 amount, struct cohort_error *err)
{
    return state_set_balance(st, address, u256_add(state_balance(st, address), amount), err);
}

int state_sub_balance(struct state *st, const uint8_t address[20], u256 amount, struct cohort_error *err)
{
    return state_set_balance(st, address, u256_sub(state_balance(st, address), amount), err);
}

int state_set_code(struct state *st, const uint8_t address[20], const uint8_t *code, size_t code_len,
                   struct cohort_error *err)
{
    uint8_t *copy;
    int rc = copy_code(code, code_len, &copy, err);
    if (rc != 0) return rc;
    int r = account_index(st, address, err);
    struct journal_entry *e = r < 0 ? NULL : journal_push(st, J_CODE, (uint32_t)r, err);
    if (e == NULL) {
        free(copy);
        return STATE_E_NOMEM;
    }
    struct account *a = &st->accounts[r];
    e->old.code.code = a->code;
    e->old.code.len = a->code_len;
    memcpy(e->old.code.hash, a->code_hash, 32);
    a->code = copy;
    a->code_len = code_len;
    keccak256(code_len ? code : (const uint8_t *)"", code_len, a->code_hash); /* keccak.c memcpy()s even 0 bytes */
    return 0;
}

int state_set_storage(struct state *st, const uint8_t address[20], u256 key, u256 value, struct cohort_error *err)
{
    int r = account_index(st, address, err);
    if (r < 0) return STATE_E_NOMEM;
    int s = slot_index(st, (uint32_t)r, key, err);
    if (s < 0) return STATE_E_NOMEM;
    struct journal_entry *e = journal_push(st, J_STORAGE, (uint32_t)s, err);
    if (e == NULL) return STATE_E_NOMEM;
    e->old.value = st->slots[s].current;
    st->slots[s].current = value;
    return 0;
}

int state_set_transient(struct state *st, const uint8_t address[20], u256 key, u256 value, struct cohort_error *err)
{
    int r = account_index(st, address, err);
    if (r < 0) return STATE_E_NOMEM;
    int s = slot_index(st, (uint32_t)r, key, err);
    if (s < 0) return STATE_E_NOMEM;
    struct journal_entry *e = journal_push(st, J_TRANSIENT, (uint32_t)s, err);
    if (e == NULL) return STATE_E_NOMEM;
    e->old.value = st->slots[s].transient;
    st->slots[s].transient = value;
    return 0;
}

/* Sets one of an account's boolean flags, journaled under kind, if it is not set yet. */
static int set_flag(struct state *st, const uint8_t address[20], enum journal_kind kind, bool *was_set,
                    struct cohort_error *err)
{
    int r = account_index(st, address, err);
    if (r < 0) return STATE_E_NOMEM;
    struct account *a = &st->accounts[r];
    bool *flag = kind == J_EXISTS      ? &a->exists
                 : kind == J_TOUCHED   ? &a->touched
                 : kind == J_CREATED   ? &a->created
                 : kind == J_DESTRUCTED ? &a->destructed
                                       : &a->warm;
    assert(kind == J_EXISTS || kind == J_TOUCHED || kind == J_CREATED || kind == J_DESTRUCTED ||
           kind == J_WARM_ACCOUNT);
    if (was_set) *was_set = *flag;
    if (*flag) return 0;
    if (journal_push(st, kind, (uint32_t)r, err) == NULL) return STATE_E_NOMEM;
    st->accounts[r].exists |= kind == J_EXISTS;
    st->accounts[r].touched |= kind == J_TOUCHED;
    st->accounts[r].created |= kind == J_CREATED;
    st->accounts[r].destructed |= kind == J_DESTRUCTED;
    st->accounts[r].warm |= kind == J_WARM_ACCOUNT;
    return 0;
}

int state_create_account(struct state *st, const uint8_t address[20], struct cohort_error *err)
{
    int rc = set_flag(st, address, J_EXISTS, NULL, err);
    if (rc == 0) rc = set_flag(st, address, J_CREATED, NULL, err);
    return rc;
}

int state_touch(struct state *st, const uint8_t address[20], struct cohort_error *err)
{
    int rc = set_flag(st, address, J_EXISTS, NULL, err);
    if (rc == 0) rc = set_flag(st, address, J_TOUCHED, NULL, err);
    return rc;
}

int state_mark_destructed(struct state *st, const uint8_t address[20], struct cohort_error *err)
{
    return set_flag(st, address, J_DESTRUCTED, NULL, err);
}

int state_warm_account(struct state *st, const uint8_t address[20], bool *was_warm, struct cohort_error *err)
{
    return set_flag(st, address, J_WARM_ACCOUNT, was_warm, err);
}

int state_warm_slot(struct state *st, const uint8_t address[20], u256 key, bool *was_warm, struct cohort_error *err)
{
    int r = account_index(st, address, err);
    if (r < 0) return STATE_E_NOMEM;
    int s = slot_index(st, (uint32_t)r, key, err);
    if (s < 0) return STATE_E_NOMEM;
    if (was_warm) *was_warm = st->slots[s].warm;
    if (st->slots[s].warm) return 0;
    if (journal_push(st, J_WARM_SLOT, (uint32_t)s, err) == NULL) return STATE_E_NOMEM;
    st->slots[s].warm = true;
    return 0;
}

int state_add_log(struct state *st, const uint8_t address[20], const uint8_t *topics, unsigned topic_count,
                  const uint8_t *data, size_t data_len, struct cohort_error *err)
{
    assert(topic_count <= STATE_LOG_TOPICS_MAX);
    assert(data != NULL || data_len == 0);
    if (st->log_count >= STATE_LOGS_MAX)
        return cohort_error_set(err, STATE_E_RANGE, "state", "state: more than %u logs", STATE_LOGS_MAX);
    if (st->log_count == st->log_cap) {
        size_t cap = st->log_cap ? st->log_cap * 2 : 16;
        struct state_log *p = realloc(st->logs, cap * sizeof *p);
        if (p == NULL) return cohort_error_set(err, STATE_E_NOMEM, "state", "state: no memory for %zu logs", cap);
        st->logs = p;
        st->log_cap = cap;
    }
    uint8_t *copy = NULL;
    if (data_len > 0) {
        copy = malloc(data_len);
        if (copy == NULL) return cohort_error_set(err, STATE_E_NOMEM, "state", "state: log data of %zu bytes", data_len);
        memcpy(copy, data, data_len);
    }
    if (journal_push(st, J_LOG, 0, err) == NULL) {
        free(copy);
        return STATE_E_NOMEM;
    }
    struct state_log *l = &st->logs[st->log_count++];
    memset(l, 0, sizeof *l);
    memcpy(l->address, address, 20);
    l->topic_count = topic_count;
    for (unsigned i = 0; i < topic_count; i++) memcpy(l->topics[i], topics + 32 * (size_t)i, 32);
    l->data = copy;
    l->data_len = data_len;
    return 0;
}

/* ---- Transactions ---- */

void state_tx_begin(struct state *st)
{
    assert(!st->in_tx);
    assert(st->journal_len == 0);
    clear_logs(st);
    st->in_tx = true;
}

static void delete_account(struct state *st, uint32_t r)
{
    struct account *a = &st->accounts[r];
    a->exists = false;
    a->nonce = 0;
    a->balance = u256_zero();
    free(a->code);
    a->code = NULL;
    a->code_len = 0;
    memcpy(a->code_hash, state_empty_code_hash, 32);
    a->storage_cleared = true;
    for (uint32_t i = 0; i < st->slot_count; i++) {
        if (st->slots[i].account != r) continue;
        st->slots[i].current = u256_zero();
        st->slots[i].original = u256_zero();
    }
}

void state_tx_end(struct state *st)
{
    assert(st->in_tx);
    /* Pass 1: deletions, decided on the final flags before any flag is cleared. */
    for (size_t i = 0; i < st->journal_len; i++) {
        const struct journal_entry *e = &st->journal[i];
        if (e->kind != J_TOUCHED && e->kind != J_DESTRUCTED) continue;
        struct account *a = &st->accounts[e->index];
        if (!a->exists) continue;
        bool destroy = e->kind == J_DESTRUCTED ? a->destructed : a->touched && account_empty(a);
        if (destroy) delete_account(st, e->index);
    }
    /* Pass 2: commit storage, clear the per-transaction flags, free replaced code. */
    for (size_t i = 0; i < st->journal_len; i++) {
        struct journal_entry *e = &st->journal[i];
        switch ((enum journal_kind)e->kind) {
        case J_STORAGE: st->slots[e->index].original = st->slots[e->index].current; break;
        case J_TRANSIENT: st->slots[e->index].transient = u256_zero(); break;
        case J_WARM_SLOT: st->slots[e->index].warm = false; break;
        case J_WARM_ACCOUNT: st->accounts[e->index].warm = false; break;
        case J_TOUCHED: st->accounts[e->index].touched = false; break;
        case J_CREATED: st->accounts[e->index].created = false; break;
        case J_DESTRUCTED: st->accounts[e->index].destructed = false; break;
        case J_CODE: free(e->old.code.code); break;
        default: break;
        }
    }
    st->journal_len = 0;
    st->in_tx = false;
}

const struct state_log *state_logs(const struct state *st, size_t *count)
{
    *count = st->log_count;
    return st->logs;
}

/* ---- RLP for the roots and the logs hash ---- */

static size_t length_of_length(size_t len)
{
    size_t n = 0;
    for (; len > 0; len >>= 8) n++;
    return n;
}

/* Size of the RLP header for a payload of len bytes (string or list). */
static size_t header_size(size_t len) { return len <= 55 ? 1 : 1 + length_of_length(len); }

static size_t write_header(uint8_t *out, size_t len, uint8_t short_base)
{
    if (len <= 55) {
        out[0] = (uint8_t)(short_base + len);
        return 1;
    }
    size_t lol = length_of_length(len);
    out[0] = (uint8_t)(short_base + 55 + lol);
    for (size_t i = 0; i < lol; i++) out[1 + i] = (uint8_t)(len >> (8 * (lol - 1 - i)));
    return 1 + lol;
}

/* RLP of a byte string into out (which has room for len + 9); returns its size. */
static size_t write_string(uint8_t *out, const uint8_t *data, size_t len)
{
    if (len == 1 && data[0] < 0x80) {
        out[0] = data[0];
        return 1;
    }
    size_t h = write_header(out, len, 0x80);
    if (len) memcpy(out + h, data, len);
    return h + len;
}

static size_t string_size(const uint8_t *data, size_t len)
{
    if (len == 1 && data[0] < 0x80) return 1;
    return header_size(len) + len;
}

/* RLP of an unsigned integer: its minimal big-endian bytes as a string (0 is ""). */
static size_t write_u256(uint8_t out[33], u256 v)
{
    uint8_t be[32];
    u256_store_be(be, v);
    size_t skip = 0;
    while (skip < 32 && be[skip] == 0) skip++;
    return write_string(out, be + skip, 32 - skip);
}

static void hash_header(struct keccak256_ctx *k, size_t len, uint8_t short_base)
{
    uint8_t h[9];
    keccak256_update(k, h, write_header(h, len, short_base));
}

static size_t log_payload(const struct state_log *l)
{
    size_t topics = 33 * (size_t)l->topic_count;
    return 21 + header_size(topics) + topics + string_size(l->data, l->data_len);
}

int state_logs_hash(const struct state *st, uint8_t out[32], struct cohort_error *err)
{
    (void)err;
    size_t total = 0;
    for (size_t i = 0; i < st->log_count; i++) {
        size_t p = log_payload(&st->logs[i]);
        total += header_size(p) + p;
    }
    struct keccak256_ctx k;
    keccak256_init(&k);
    hash_header(&k, total, 0xc0);
    for (size_t i = 0; i < st->log_count; i++) {
        const struct state_log *l = &st->logs[i];
        hash_header(&k, log_payload(l), 0xc0);
        hash_header(&k, 20, 0x80);
        keccak256_update(&k, l->address, 20);
        hash_header(&k, 33 * (size_t)l->topic_count, 0xc0);
        for (unsigned t = 0; t < l->topic_count; t++) {
            hash_header(&k, 32, 0x80);
            keccak256_update(&k, l->topics[t], 32);
        }
        if (l->data_len == 1 && l->data[0] < 0x80) {
            keccak256_update(&k, l->data, 1);
        } else {
            hash_header(&k, l->data_len, 0x80);
            if (l->data_len > 0) keccak256_update(&k, l->data, l->data_len);
        }
    }
    keccak256_final(&k, out);
    return 0;
}

/* ---- The state root ---- */

/* Per-account scratch: a trie entry, its hashed key and its RLP value. */
struct leaf {
    uint8_t key[32];
    uint8_t value[112];
};

int state_root(struct state *st, uint8_t out[32], struct cohort_error *err)
{
    assert(st != NULL);
    assert(!st->in_tx);
    if (st->has_backend)
        return cohort_error_set(err, STATE_E_INVALID, "state",
                                "state: the root of a state with a backend is the store's (its trie), not this cache's");
    int rc = 0;
    uint32_t n_acc = st->account_count, n_slot = st->slot_count;
    /* Bucket the non-zero slots by account (a counting sort), so each storage trie is one run. */
    uint32_t *start = calloc((size_t)n_acc + 1, sizeof *start);
    uint32_t *order = malloc(((size_t)n_slot + 1) * sizeof *order);
    struct leaf *leaves = malloc(((size_t)(n_slot > n_acc ? n_slot : n_acc) + 1) * sizeof *leaves);
    struct trie_entry *entries = malloc(((size_t)(n_slot > n_acc ? n_slot : n_acc) + 1) * sizeof *entries);
    struct leaf *accounts = malloc(((size_t)n_acc + 1) * sizeof *accounts);
    struct trie_entry *account_entries = malloc(((size_t)n_acc + 1) * sizeof *account_entries);
    if (!start || !order || !leaves || !entries || !accounts || !account_entries) {
        rc = cohort_error_set(err, STATE_E_NOMEM, "state", "state: root of %u accounts, %u slots", n_acc, n_slot);
        goto done;
    }
    for (uint32_t i = 0; i < n_slot; i++)
        if (!u256_is_zero(st->slots[i].current)) start[st->slots[i].account + 1]++;
    for (uint32_t a = 0; a < n_acc; a++) start[a + 1] += start[a];
    {
        uint32_t *fill = malloc(((size_t)n_acc + 1) * sizeof *fill);
        if (fill == NULL) {
            rc = cohort_error_set(err, STATE_E_NOMEM, "state", "state: root bucket of %u accounts", n_acc);
            goto done;
        }
        memcpy(fill, start, ((size_t)n_acc + 1) * sizeof *fill);
        for (uint32_t i = 0; i < n_slot; i++)
            if (!u256_is_zero(st->slots[i].current)) order[fill[st->slots[i].account]++] = i;
        free(fill);
    }
    size_t live = 0;
    for (uint32_t a = 0; a < n_acc; a++) {
        const struct account *acc = &st->accounts[a];
        if (!acc->exists) continue;
        size_t count = 0;
        for (uint32_t j = start[a]; j < start[a + 1]; j++) {
            const struct slot *s = &st->slots[order[j]];
            uint8_t key_be[32];
            u256_store_be(key_be, s->key);
            keccak256(key_be, 32, leaves[count].key);
            size_t vlen = write_u256(leaves[count].value, s->current);
            entries[count] = (struct trie_entry){leaves[count].key, 32, leaves[count].value, vlen};
            count++;
        }
        uint8_t storage_root[32];
        rc = trie_builder_root(st->trie, entries, count, storage_root, err);
        if (rc != 0) goto done;
        /* [nonce, balance, storageRoot, codeHash] */
        uint8_t body[110];
        size_t len = write_u256(body, u256_from_u64(acc->nonce));
        len += write_u256(body + len, acc->balance);
        len += write_string(body + len, storage_root, 32);
        len += write_string(body + len, acc->code_hash, 32);
        assert(len <= sizeof body);
        struct leaf *l = &accounts[live];
        size_t h = write_header(l->value, len, 0xc0);
        assert(h + len <= sizeof l->value);
        memcpy(l->value + h, body, len);
        keccak256(acc->address, 20, l->key);
        account_entries[live] = (struct trie_entry){l->key, 32, l->value, h + len};
        live++;
    }
    rc = trie_builder_root(st->trie, account_entries, live, out, err);
done:
    free(start);
    free(order);
    free(leaves);
    free(entries);
    free(accounts);
    free(account_entries);
    return rc;
}

void state_dump(const struct state *st, FILE *out)
{
    assert(st != NULL && out != NULL);
    for (uint32_t a = 0; a < st->account_count; a++) {
        const struct account *acc = &st->accounts[a];
        if (!acc->exists) continue;
        char balance[80];
        u256_to_dec(acc->balance, balance, sizeof balance);
        fprintf(out, "0x");
        for (int i = 0; i < 20; i++) fprintf(out, "%02x", acc->address[i]);
        fprintf(out, " nonce=%llu balance=%s code_len=%zu code=", (unsigned long long)acc->nonce, balance, acc->code_len);
        for (size_t i = 0; i < acc->code_len && i < 64; i++) fprintf(out, "%02x", acc->code[i]);
        fprintf(out, "%s\n", acc->code_len > 64 ? "..." : "");
        for (uint32_t i = 0; i < st->slot_count; i++) {
            const struct slot *s = &st->slots[i];
            if (s->account != a || u256_is_zero(s->current)) continue;
            char key[67], value[67];
            u256_to_hex(s->key, key, sizeof key);
            u256_to_hex(s->current, value, sizeof value);
            fprintf(out, "    %s = %s\n", key, value);
        }
    }
}

/* ---- The backend and a block's changes ---- */

void state_set_backend(struct state *st, const struct state_backend *backend)
{
    assert(st != NULL && backend != NULL);
    assert(st->account_count == 0 && st->slot_count == 0);
    assert(backend->account != NULL && backend->storage != NULL && backend->code != NULL);
    st->backend = *backend;
    st->has_backend = true;
}

const struct cohort_error *state_backend_error(const struct state *st)
{
    return st->backend_failed ? &st->backend_error : NULL;
}

int state_for_each_change(const struct state *st,
                          int (*on_account)(void *arg, const struct state_account_change *change),
                          int (*on_slot)(void *arg, const struct state_slot_change *change), void *arg)
{
    assert(!st->in_tx);
    for (uint32_t r = 0; r < st->account_count; r++) {
        const struct account *a = &st->accounts[r];
        bool code_changed = a->exists && memcmp(a->code_hash, a->base_code_hash, 32) != 0;
        bool changed = a->exists != a->base_exists || a->storage_cleared || code_changed ||
                       (a->exists && (a->nonce != a->base_nonce || !u256_eq(a->balance, a->base_balance)));
        if (!changed) continue;
        struct state_account_change c = {
            .exists = a->exists,
            .nonce = a->exists ? a->nonce : 0,
            .balance = a->exists ? a->balance : u256_zero(),
            .code = code_changed ? a->code : NULL,
            .code_len = code_changed ? a->code_len : 0,
            .code_changed = code_changed,
            .storage_cleared = a->storage_cleared,
        };
        memcpy(c.address, a->address, 20);
        memcpy(c.code_hash, a->exists ? a->code_hash : state_empty_code_hash, 32);
        int rc = on_account(arg, &c);
        if (rc != 0) return rc;
    }
    for (uint32_t i = 0; i < st->slot_count; i++) {
        const struct slot *sl = &st->slots[i];
        const struct account *a = &st->accounts[sl->account];
        if (!a->exists) continue;
        /* After a clear the backend holds nothing for the account: every non-zero value is new. */
        bool changed = a->storage_cleared ? !u256_is_zero(sl->original) : !u256_eq(sl->original, sl->base);
        if (!changed) continue;
        struct state_slot_change c = {.key = sl->key, .value = sl->original};
        memcpy(c.address, a->address, 20);
        int rc = on_slot(arg, &c);
        if (rc != 0) return rc;
    }
    return 0;
}

int state_for_each_record(const struct state *st, int (*on_account)(void *arg, const uint8_t address[20]),
                          int (*on_slot)(void *arg, const uint8_t address[20], u256 key), void *arg)
{
    for (uint32_t r = 0; r < st->account_count; r++) {
        int rc = on_account(arg, st->accounts[r].address);
        if (rc != 0) return rc;
    }
    for (uint32_t i = 0; i < st->slot_count; i++) {
        int rc = on_slot(arg, st->accounts[st->slots[i].account].address, st->slots[i].key);
        if (rc != 0) return rc;
    }
    return 0;
}

void state_reset(struct state *st)
{
    assert(!st->in_tx);
    for (uint32_t i = 0; i < st->account_count; i++) free(st->accounts[i].code);
    st->account_count = 0;
    st->slot_count = 0;
    if (st->account_table) memset(st->account_table, 0, (size_t)st->account_table_size * sizeof *st->account_table);
    if (st->slot_table) memset(st->slot_table, 0, (size_t)st->slot_table_size * sizeof *st->slot_table);
    clear_logs(st);
    st->backend_failed = false;
    memset(&st->backend_error, 0, sizeof st->backend_error);
}

int state_clear_storage(struct state *st, const uint8_t address[20], struct cohort_error *err)
{
    assert(!st->in_tx);
    int r = account_index(st, address, err);
    if (r < 0) return STATE_E_NOMEM;
    st->accounts[r].storage_cleared = true;
    for (uint32_t i = 0; i < st->slot_count; i++) {
        if (st->slots[i].account != (uint32_t)r) continue;
        st->slots[i].current = u256_zero();
        st->slots[i].original = u256_zero();
    }
    return 0;
}
