/*
 * evm_test_host.c - the in-memory world of evm_test_host.h. Included (not linked) by
 * test_evm.c and fuzz_evm.c; see the header.
 */
#include "evm_test_host.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "common/keccak.h"

struct test_account {
    bool used; /* the table entry holds this address */
    uint8_t address[20];
    bool exists;
    uint64_t nonce;
    u256 balance;
    const uint8_t *code; /* in the arena */
    size_t code_size;
    bool created;
    bool destructed;
    bool touched;
    bool warm;
};

struct test_slot {
    bool used;
    uint8_t address[20];
    u256 key;
    u256 value;
    u256 original;
    u256 transient;
    bool warm;
};

enum journal_kind { JOURNAL_ACCOUNT, JOURNAL_SLOT, JOURNAL_LOG };

struct journal_entry {
    enum journal_kind kind;
    size_t index;
    struct test_account account; /* the record before the change */
    struct test_slot slot;
};

struct test_host {
    struct test_account accounts[TEST_HOST_ACCOUNTS];
    struct test_slot slots[TEST_HOST_SLOTS];
    struct test_log logs[TEST_HOST_LOGS];
    size_t log_count;
    struct journal_entry *journal;
    size_t journal_size, journal_capacity;
    uint8_t *arena;
    size_t arena_used;
};

static size_t hash_bytes(const uint8_t *p, size_t n)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ULL;
    return (size_t)h;
}

/* The table index of address, inserting an empty record; SIZE_MAX when the table is full. */
static size_t account_index(struct test_host *th, const uint8_t address[20], bool insert)
{
    size_t i = hash_bytes(address, 20) & (TEST_HOST_ACCOUNTS - 1);
    for (size_t probes = 0; probes < TEST_HOST_ACCOUNTS; probes++, i = (i + 1) & (TEST_HOST_ACCOUNTS - 1)) {
        struct test_account *a = &th->accounts[i];
        if (a->used && memcmp(a->address, address, 20) == 0) return i;
        if (!a->used) {
            if (!insert) return SIZE_MAX;
            memset(a, 0, sizeof *a);
            a->used = true;
            memcpy(a->address, address, 20);
            return i;
        }
    }
    return SIZE_MAX;
}

static size_t slot_index(struct test_host *th, const uint8_t address[20], u256 key, bool insert)
{
    uint8_t id[52];
    memcpy(id, address, 20);
    u256_store_be(id + 20, key);
    size_t i = hash_bytes(id, sizeof id) & (TEST_HOST_SLOTS - 1);
    for (size_t probes = 0; probes < TEST_HOST_SLOTS; probes++, i = (i + 1) & (TEST_HOST_SLOTS - 1)) {
        struct test_slot *s = &th->slots[i];
        if (s->used && memcmp(s->address, address, 20) == 0 && u256_eq(s->key, key)) return i;
        if (!s->used) {
            if (!insert) return SIZE_MAX;
            memset(s, 0, sizeof *s);
            s->used = true;
            memcpy(s->address, address, 20);
            s->key = key;
            return i;
        }
    }
    return SIZE_MAX;
}

static const struct test_account *find_account(struct test_host *th, const uint8_t address[20])
{
    size_t i = account_index(th, address, false);
    return i == SIZE_MAX ? NULL : &th->accounts[i];
}

static const struct test_slot *find_slot(struct test_host *th, const uint8_t address[20], u256 key)
{
    size_t i = slot_index(th, address, key, false);
    return i == SIZE_MAX ? NULL : &th->slots[i];
}

static bool journal_push(struct test_host *th, struct journal_entry entry)
{
    if (th->journal_size == th->journal_capacity) {
        size_t capacity = th->journal_capacity ? th->journal_capacity * 2 : 256;
        struct journal_entry *grown = realloc(th->journal, capacity * sizeof *grown);
        if (grown == NULL) return false;
        th->journal = grown;
        th->journal_capacity = capacity;
    }
    th->journal[th->journal_size++] = entry;
    return true;
}

/* The account record for a change, journaled first; NULL when the table or journal is full. */
static struct test_account *change_account(struct test_host *th, const uint8_t address[20])
{
    size_t i = account_index(th, address, true);
    if (i == SIZE_MAX) return NULL;
    struct journal_entry e = {.kind = JOURNAL_ACCOUNT, .index = i, .account = th->accounts[i]};
    /* A record inserted just now reverts to "unused-like": not existing, nothing set. */
    if (!journal_push(th, e)) return NULL;
    return &th->accounts[i];
}

static struct test_slot *change_slot(struct test_host *th, const uint8_t address[20], u256 key)
{
    size_t i = slot_index(th, address, key, true);
    if (i == SIZE_MAX) return NULL;
    struct journal_entry e = {.kind = JOURNAL_SLOT, .index = i, .slot = th->slots[i]};
    if (!journal_push(th, e)) return NULL;
    return &th->slots[i];
}

static const uint8_t *arena_copy(struct test_host *th, const uint8_t *data, size_t size)
{
    if (size == 0) return NULL;
    if (TEST_HOST_ARENA - th->arena_used < size) return NULL;
    uint8_t *p = th->arena + th->arena_used;
    memcpy(p, data, size);
    th->arena_used += size;
    return p;
}

/* ---- The host interface ---- */

static bool h_account_exists(void *ctx, const uint8_t address[20])
{
    const struct test_account *a = find_account(ctx, address);
    return a != NULL && a->exists;
}

static bool h_account_is_empty(void *ctx, const uint8_t address[20])
{
    const struct test_account *a = find_account(ctx, address);
    return a != NULL && a->exists && a->nonce == 0 && u256_is_zero(a->balance) && a->code_size == 0;
}

static bool h_account_has_storage(void *ctx, const uint8_t address[20])
{
    struct test_host *th = ctx;
    for (size_t i = 0; i < TEST_HOST_SLOTS; i++)
        if (th->slots[i].used && memcmp(th->slots[i].address, address, 20) == 0 && !u256_is_zero(th->slots[i].value))
            return true;
    return false;
}

static int h_access_account(void *ctx, const uint8_t address[20])
{
    const struct test_account *found = find_account(ctx, address);
    if (found != NULL && found->warm) return 0;
    struct test_account *a = change_account(ctx, address);
    if (a == NULL) return -1;
    a->warm = true;
    return 1;
}

static int h_access_storage(void *ctx, const uint8_t address[20], u256 key)
{
    const struct test_slot *found = find_slot(ctx, address, key);
    if (found != NULL && found->warm) return 0;
    struct test_slot *s = change_slot(ctx, address, key);
    if (s == NULL) return -1;
    s->warm = true;
    return 1;
}

static u256 h_get_balance(void *ctx, const uint8_t address[20])
{
    const struct test_account *a = find_account(ctx, address);
    return a != NULL ? a->balance : u256_zero();
}

static uint64_t h_get_nonce(void *ctx, const uint8_t address[20])
{
    const struct test_account *a = find_account(ctx, address);
    return a != NULL ? a->nonce : 0;
}

static int h_set_nonce(void *ctx, const uint8_t address[20], uint64_t nonce)
{
    struct test_account *a = change_account(ctx, address);
    if (a == NULL) return -1;
    a->exists = true;
    a->nonce = nonce;
    return 0;
}

static const uint8_t *h_get_code(void *ctx, const uint8_t address[20], size_t *size)
{
    const struct test_account *a = find_account(ctx, address);
    *size = a != NULL ? a->code_size : 0;
    return a != NULL ? a->code : NULL;
}

static void h_get_code_hash(void *ctx, const uint8_t address[20], uint8_t out[32])
{
    const struct test_account *a = find_account(ctx, address);
    if (a == NULL || !a->exists || h_account_is_empty(ctx, address)) {
        memset(out, 0, 32);
        return;
    }
    keccak256(a->code, a->code_size, out);
}

static int h_set_code(void *ctx, const uint8_t address[20], const uint8_t *code, size_t size)
{
    struct test_account *a = change_account(ctx, address);
    if (a == NULL) return -1;
    const uint8_t *copy = arena_copy(ctx, code, size);
    if (copy == NULL && size != 0) return -1;
    a->exists = true;
    a->code = copy;
    a->code_size = size;
    return 0;
}

static u256 h_get_storage(void *ctx, const uint8_t address[20], u256 key)
{
    const struct test_slot *s = find_slot(ctx, address, key);
    return s != NULL ? s->value : u256_zero();
}

static u256 h_get_committed_storage(void *ctx, const uint8_t address[20], u256 key)
{
    const struct test_slot *s = find_slot(ctx, address, key);
    return s != NULL ? s->original : u256_zero();
}

static int h_set_storage(void *ctx, const uint8_t address[20], u256 key, u256 value)
{
    struct test_slot *s = change_slot(ctx, address, key);
    if (s == NULL) return -1;
    s->value = value;
    return 0;
}

static u256 h_get_transient(void *ctx, const uint8_t address[20], u256 key)
{
    const struct test_slot *s = find_slot(ctx, address, key);
    return s != NULL ? s->transient : u256_zero();
}

static int h_set_transient(void *ctx, const uint8_t address[20], u256 key, u256 value)
{
    struct test_slot *s = change_slot(ctx, address, key);
    if (s == NULL) return -1;
    s->transient = value;
    return 0;
}

static int h_transfer(void *ctx, const uint8_t from[20], const uint8_t to[20], u256 value)
{
    struct test_account *a = change_account(ctx, from);
    if (a == NULL) return -1;
    assert(!u256_lt(a->balance, value));
    a->balance = u256_sub(a->balance, value);
    struct test_account *b = change_account(ctx, to);
    if (b == NULL) return -1;
    b->exists = true;
    b->balance = u256_add(b->balance, value);
    return 0;
}

static int h_touch_account(void *ctx, const uint8_t address[20])
{
    struct test_account *a = change_account(ctx, address);
    if (a == NULL) return -1;
    a->touched = true;
    return 0;
}

static int h_create_account(void *ctx, const uint8_t address[20])
{
    struct test_account *a = change_account(ctx, address);
    if (a == NULL) return -1;
    a->exists = true;
    a->created = true;
    return 0;
}

static int h_selfdestruct(void *ctx, const uint8_t address[20], const uint8_t beneficiary[20])
{
    u256 balance = h_get_balance(ctx, address);
    if (h_transfer(ctx, address, beneficiary, balance) != 0) return -1;
    struct test_account *a = change_account(ctx, address);
    if (a == NULL) return -1;
    int first = !a->destructed;
    if (a->created) {
        a->balance = u256_zero();
        a->destructed = true;
    }
    return first;
}

static int h_emit_log(void *ctx, const uint8_t address[20], const uint8_t *topics, unsigned topic_count,
                      const uint8_t *data, size_t data_size)
{
    struct test_host *th = ctx;
    if (th->log_count == TEST_HOST_LOGS || topic_count > 4) return -1;
    struct journal_entry e = {.kind = JOURNAL_LOG, .index = th->log_count};
    if (!journal_push(th, e)) return -1;
    struct test_log *log = &th->logs[th->log_count];
    memcpy(log->address, address, 20);
    log->topic_count = topic_count;
    if (topic_count != 0) memcpy(log->topics, topics, 32 * (size_t)topic_count);
    log->data = arena_copy(th, data, data_size);
    if (log->data == NULL && data_size != 0) return -1;
    log->data_size = data_size;
    th->log_count++;
    return 0;
}

static size_t h_snapshot(void *ctx) { return ((struct test_host *)ctx)->journal_size; }

static void h_revert_to(void *ctx, size_t snapshot)
{
    struct test_host *th = ctx;
    assert(snapshot <= th->journal_size);
    while (th->journal_size > snapshot) {
        struct journal_entry *e = &th->journal[--th->journal_size];
        switch (e->kind) {
        case JOURNAL_ACCOUNT: th->accounts[e->index] = e->account; break;
        case JOURNAL_SLOT: th->slots[e->index] = e->slot; break;
        case JOURNAL_LOG: th->log_count = e->index; break;
        }
    }
}

static void h_get_block_hash(void *ctx, uint64_t number, uint8_t out[32])
{
    /* A made-up but deterministic chain: hash(n) = keccak256 of n's 8 bytes. */
    uint8_t n[8];
    for (int i = 0; i < 8; i++) n[i] = (uint8_t)(number >> (56 - 8 * i));
    keccak256(n, sizeof n, out);
}

/* ---- Setup and inspection ---- */

struct test_host *test_host_new(void)
{
    struct test_host *th = calloc(1, sizeof *th);
    if (th == NULL) return NULL;
    th->arena = malloc(TEST_HOST_ARENA);
    if (th->arena == NULL) {
        free(th);
        return NULL;
    }
    return th;
}

void test_host_free(struct test_host *th)
{
    if (th == NULL) return;
    free(th->journal);
    free(th->arena);
    free(th);
}

void test_host_interface(struct test_host *th, struct evm_host *iface)
{
    *iface = (struct evm_host){
        .ctx = th,
        .account_exists = h_account_exists,
        .account_is_empty = h_account_is_empty,
        .account_has_storage = h_account_has_storage,
        .access_account = h_access_account,
        .access_storage = h_access_storage,
        .get_balance = h_get_balance,
        .get_nonce = h_get_nonce,
        .set_nonce = h_set_nonce,
        .get_code = h_get_code,
        .get_code_hash = h_get_code_hash,
        .set_code = h_set_code,
        .get_storage = h_get_storage,
        .get_committed_storage = h_get_committed_storage,
        .set_storage = h_set_storage,
        .get_transient = h_get_transient,
        .set_transient = h_set_transient,
        .transfer = h_transfer,
        .touch_account = h_touch_account,
        .create_account = h_create_account,
        .selfdestruct = h_selfdestruct,
        .emit_log = h_emit_log,
        .snapshot = h_snapshot,
        .revert_to = h_revert_to,
        .get_block_hash = h_get_block_hash,
        .host_error = NULL,
    };
}

void test_host_put_account(struct test_host *th, const uint8_t address[20], uint64_t nonce, u256 balance,
                           const uint8_t *code, size_t code_size)
{
    size_t i = account_index(th, address, true);
    assert(i != SIZE_MAX);
    struct test_account *a = &th->accounts[i];
    a->exists = true;
    a->nonce = nonce;
    a->balance = balance;
    a->code = arena_copy(th, code, code_size);
    assert(a->code != NULL || code_size == 0);
    a->code_size = code_size;
}

void test_host_put_storage(struct test_host *th, const uint8_t address[20], u256 key, u256 value)
{
    size_t i = slot_index(th, address, key, true);
    assert(i != SIZE_MAX);
    th->slots[i].value = value;
    th->slots[i].original = value;
}

void test_host_begin_tx(struct test_host *th, const uint8_t origin[20], const uint8_t recipient[20],
                        enum evm_revision revision)
{
    th->journal_size = 0;
    th->log_count = 0;
    for (size_t i = 0; i < TEST_HOST_ACCOUNTS; i++) {
        struct test_account *a = &th->accounts[i];
        a->warm = a->created = a->touched = false;
    }
    for (size_t i = 0; i < TEST_HOST_SLOTS; i++) {
        struct test_slot *s = &th->slots[i];
        s->original = s->value;
        s->transient = u256_zero();
        s->warm = false;
    }
    h_access_account(th, origin);
    h_access_account(th, recipient);
    for (uint8_t p = 1; p <= 10; p++) {
        uint8_t address[20] = {0};
        address[19] = p;
        if (evm_is_precompile(address, revision)) h_access_account(th, address);
    }
    th->journal_size = 0;
}

bool test_host_exists(struct test_host *th, const uint8_t address[20]) { return h_account_exists(th, address); }
u256 test_host_balance(struct test_host *th, const uint8_t address[20]) { return h_get_balance(th, address); }
uint64_t test_host_nonce(struct test_host *th, const uint8_t address[20]) { return h_get_nonce(th, address); }

u256 test_host_storage(struct test_host *th, const uint8_t address[20], u256 key)
{
    return h_get_storage(th, address, key);
}

const uint8_t *test_host_code(struct test_host *th, const uint8_t address[20], size_t *size)
{
    return h_get_code(th, address, size);
}

bool test_host_destructed(struct test_host *th, const uint8_t address[20])
{
    const struct test_account *a = find_account(th, address);
    return a != NULL && a->destructed;
}

size_t test_host_log_count(const struct test_host *th) { return th->log_count; }

const struct test_log *test_host_log(const struct test_host *th, size_t index)
{
    assert(index < th->log_count);
    return &th->logs[index];
}

size_t test_host_journal_size(const struct test_host *th) { return th->journal_size; }
