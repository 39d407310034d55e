/*
 * store.c - the cluster's configuration store (config.h, part 1): the etcd-like state machine
 * the BFT log's entries drive. Its request codec is in codec.c, its snapshots in snapshot.c.
 *
 * Decisions the header leaves open, made here:
 *
 * - Keys live in one array sorted by bytes (shorter first on a common prefix), each key and
 *   value in its own allocation. Lookups are binary searches; inserts and deletes memmove
 *   the tail, which at CS_KEYS_MAX entries of 48 bytes is a few megabytes at worst.
 *
 * - Applying is all or nothing. The caps (CS_KEYS_MAX, CS_STORE_BYTES_MAX) are checked on
 *   the final state of the branch taken, before anything is changed, by a dry run over the
 *   branch (check_caps). An allocation that fails while applying aborts the process: a
 *   member that refused an entry every other member applied would silently diverge, and
 *   a restarted member catches up from the log; so CS_E_NOMEM is never a result.
 *
 * - Dedup: the window holds the (signer, id) pairs of the last CS_DEDUP_WINDOW requests
 *   that were applied (status CS_OK, whichever branch ran). Refused requests (malformed,
 *   bad signature, other instance, unauthorized, full, duplicate) change nothing, not even
 *   the window, so a client may retry them with the same id. The signer is part of the
 *   key so that one writer cannot shadow another writer's pending request by copying its id.
 *
 * - A decode failure or a signature that recovers no address is reported by
 *   cs_store_apply as CS_E_INVALID (cs_request_decode itself also says CS_E_RANGE for caps);
 *   result.signer is then all zeros.
 *
 * - Puts and deletes in one branch apply in order, each seeing the ones before it: a key
 *   put twice gets version + 2; a key deleted and put again is created anew. Delete events
 *   carry create_revision 0 and version 0, as etcd's do.
 *
 * - Snapshots store only what cannot be derived (config.h draws the layout; snapshot.c); a restore
 *   rebuilds the byte counts, the history's byte accounting and the dedup hash table, and
 *   lays both rings out oldest first from slot 0, so later evictions happen in the same
 *   order. A restore checks the checksum before any field after the magic, then every
 *   invariant the code below keeps (keys in order, revisions in range, the history holding
 *   every revision after the compact one, no request twice in the window), so that a
 *   restored store is one the log could have built. It builds the new state in fresh allocations and
 *   frees the old one only when everything decoded; unlike applying, it may fail for memory
 *   (CS_E_NOMEM), since nothing has to agree with other members until it succeeds.
 *
 * - Watch history is kept to CS_HISTORY_MAX events and HISTORY_BYTES_MAX bytes of keys and
 *   values, evicting whole revisions, oldest first, and never the newest revision (which
 *   may alone pass the caps: a prefix delete of every key is one revision). A watch never
 *   splits a revision either; see cs_store_watch.
 */
#include "config/store_internal.h"

#include <assert.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/bytes.h"
#include "common/keccak.h"
#include "common/hex.h"
#include "common/secp.h"

/* ---- Allocation while applying: failure stops the process (see the top of the file) ---- */

void *store_must_realloc(void *p, size_t size)
{
    void *q = realloc(p, size ? size : 1);
    if (q == NULL) {
        fputs("config store: out of memory while applying a log entry; stopping, since a member that "
              "skipped the entry would diverge from the others\n",
              stderr);
        abort();
    }
    return q;
}

/* Grows *array (of elem bytes each, *cap of them) to hold at least need. */
void store_reserve(void **array, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return;
    size_t grown = *cap ? *cap : 16;
    while (grown < need) grown *= 2;
    *array = store_must_realloc(*array, grown * elem);
    *cap = grown;
}

struct cs_store *cs_store_create(uint64_t instance, const uint8_t (*members)[20], size_t nmembers,
                                 const uint8_t (*admins)[20], size_t nadmins, struct cohort_error *err)
{
    if (nmembers > CS_MEMBERS_MAX || nadmins > CS_ADMINS_MAX) {
        cohort_error_set(err, CS_E_INVALID, DOMAIN, "store: %zu members and %zu admins, over the caps of %d and %d",
                         nmembers, nadmins, CS_MEMBERS_MAX, CS_ADMINS_MAX);
        return NULL;
    }
    if ((members == NULL && nmembers > 0) || (admins == NULL && nadmins > 0)) {
        cohort_error_set(err, CS_E_INVALID, DOMAIN, "store: NULL member or admin list");
        return NULL;
    }
    struct cs_store *s = calloc(1, sizeof *s);
    if (s == NULL) {
        cohort_error_set(err, CS_E_NOMEM, DOMAIN, "store: out of memory");
        return NULL;
    }
    s->instance = instance;
    for (size_t i = 0; i < nmembers; i++) memcpy(s->members0[i], members[i], ADDRESS_BYTES);
    s->nmembers0 = nmembers;
    for (size_t i = 0; i < nadmins; i++) memcpy(s->admins[i], admins[i], ADDRESS_BYTES);
    s->nadmins = nadmins;
    store_set_membership(s, NULL, 0, false, NULL);
    return s;
}

static void set_writers(struct cs_store *s, const uint8_t (*members)[20], size_t nmembers, uint32_t epoch)
{
    memmove(s->members, members, nmembers * ADDRESS_BYTES);
    s->nmembers = nmembers;
    s->epoch = epoch;
    s->nwriters = 0;
    for (size_t i = 0; i < nmembers; i++) memcpy(s->writers[s->nwriters++], members[i], ADDRESS_BYTES);
    for (size_t i = 0; i < s->nadmins; i++) memcpy(s->writers[s->nwriters++], s->admins[i], ADDRESS_BYTES);
}

static bool is_admin(const struct cs_store *s, const uint8_t address[20])
{
    for (size_t i = 0; i < s->nadmins; i++)
        if (memcmp(s->admins[i], address, ADDRESS_BYTES) == 0) return true;
    return false;
}

/* Decodes a members document stored as "0x" hex text; NULL or a static reason. */
static const char *members_value_decode(const struct cs_store *s, const uint8_t *value, size_t value_len,
                                        struct cs_members_doc *doc)
{
    uint8_t bytes[CS_MEMBERS_DOC_MAX];
    size_t n = 0;
    struct cohort_error e = {0};
    if (hex_decode_n((const char *)value, value_len, bytes, sizeof bytes, &n, &e) < 0 ||
        cs_members_decode(bytes, n, doc, &e) < 0)
        return "the members document is malformed (give \"0x\" and the hex of a signed CCM1 document)";
    if (doc->instance != s->instance) return "the members document is for another cluster instance";
    if (!is_admin(s, doc->signer)) return "the members document is not signed by an admin of the cluster file";
    return NULL;
}

int store_set_membership(struct cs_store *s, const uint8_t *value, size_t value_len, bool check_only,
                         struct cohort_error *err)
{
    if (value == NULL) {
        if (check_only) return 0;
        s->epoch_ended = false;
        set_writers(s, (const uint8_t(*)[20])s->members0, s->nmembers0, 0);
        return 0;
    }
    struct cs_members_doc doc;
    const char *why = members_value_decode(s, value, value_len, &doc);
    if (why != NULL) return cohort_error_set(err, CS_E_INVALID, DOMAIN, "store: key %s: %s", CS_MEMBERS_KEY, why);
    if (check_only) return 0;
    s->epoch_ended = false;
    set_writers(s, (const uint8_t(*)[20])doc.address, doc.count, doc.epoch);
    return 0;
}

uint32_t cs_store_epoch(const struct cs_store *s, bool *ended)
{
    if (ended != NULL) *ended = s->epoch_ended;
    return s->epoch;
}

static void free_graveyard(struct cs_store *s)
{
    for (size_t i = 0; i < s->ngraveyard; i++) free(s->graveyard[i]);
    s->ngraveyard = 0;
}

/* Frees the keys, the history and the dedup window (the state a snapshot holds). */
void store_free_state(struct cs_store *s)
{
    for (size_t i = 0; i < s->nentries; i++) {
        free(s->entries[i].key);
        free(s->entries[i].value);
    }
    free(s->entries);
    for (size_t i = 0; i < s->history_count; i++) free(s->history[(s->history_head + i) % s->history_cap].bytes);
    free(s->history);
    free(s->dedup);
    free(s->dedup_table);
}

void cs_store_destroy(struct cs_store *s)
{
    if (s == NULL) return;
    store_free_state(s);
    free(s->kvs);
    free_graveyard(s);
    free(s->graveyard);
    free(s);
}

uint64_t cs_store_revision(const struct cs_store *s) { return s->revision; }

/* Byte order, a shorter key first when one is a prefix of the other. */
int store_key_compare(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    size_t n = alen < blen ? alen : blen;
    int c = n ? memcmp(a, b, n) : 0;
    if (c != 0) return c;
    return alen < blen ? -1 : alen > blen ? 1 : 0;
}

static bool has_prefix(const uint8_t *key, size_t key_len, const uint8_t *prefix, size_t prefix_len)
{
    return key_len >= prefix_len && (prefix_len == 0 || memcmp(key, prefix, prefix_len) == 0);
}

/* The index of the first entry >= key. */
static size_t lower_bound(const struct cs_store *s, const uint8_t *key, size_t key_len)
{
    size_t lo = 0, hi = s->nentries;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (store_key_compare(s->entries[mid].key, s->entries[mid].key_len, key, key_len) < 0) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

static struct entry *lookup(const struct cs_store *s, const uint8_t *key, size_t key_len)
{
    size_t i = lower_bound(s, key, key_len);
    if (i < s->nentries && store_key_compare(s->entries[i].key, s->entries[i].key_len, key, key_len) == 0)
        return &s->entries[i];
    return NULL;
}

static struct cs_kv kv_of(const struct entry *e)
{
    static const uint8_t empty[1] = {0};
    return (struct cs_kv){e->key, e->key_len, e->value ? e->value : empty, e->value_len,
                          e->create_revision, e->mod_revision, e->version};
}

size_t cs_store_range(const struct cs_store *s, const uint8_t *key, size_t key_len, bool prefix, size_t limit,
                      void (*fn)(void *arg, const struct cs_kv *kv), void *arg)
{
    if (key == NULL && key_len > 0) return 0;
    size_t count = 0;
    for (size_t i = lower_bound(s, key, key_len); i < s->nentries; i++) {
        const struct entry *e = &s->entries[i];
        if (prefix ? !has_prefix(e->key, e->key_len, key, key_len)
                   : store_key_compare(e->key, e->key_len, key, key_len) != 0)
            break;
        if (limit != 0 && count == limit) break;
        if (fn != NULL) {
            struct cs_kv kv = kv_of(e);
            fn(arg, &kv);
        }
        count++;
    }
    return count;
}

void cs_store_digest(const struct cs_store *s, uint8_t out[32])
{
    struct keccak256_ctx ctx;
    keccak256_init(&ctx);
    uint8_t buf[8 * 3];
    struct byte_writer w = {buf, sizeof buf, 0, false};
    bw_u64(&w, s->revision);
    bw_u64(&w, s->nentries);
    keccak256_update(&ctx, buf, w.len);
    for (size_t i = 0; i < s->nentries; i++) {
        const struct entry *e = &s->entries[i];
        w.len = 0;
        bw_u16(&w, e->key_len);
        keccak256_update(&ctx, buf, w.len);
        keccak256_update(&ctx, e->key, e->key_len);
        w.len = 0;
        bw_u32(&w, e->value_len);
        keccak256_update(&ctx, buf, w.len);
        keccak256_update(&ctx, e->value, e->value_len);
        w.len = 0;
        bw_u64(&w, e->create_revision);
        bw_u64(&w, e->mod_revision);
        bw_u64(&w, e->version);
        assert(!w.overflow);
        keccak256_update(&ctx, buf, w.len);
    }
    keccak256_final(&ctx, out);
}

/* ---- Watch history ---- */

struct history_event *store_history_at(const struct cs_store *s, size_t i)
{
    assert(i < s->history_count);
    return &s->history[(s->history_head + i) % s->history_cap];
}

static void history_push(struct cs_store *s, uint8_t type, const uint8_t *key, uint16_t key_len, const uint8_t *value,
                         uint32_t value_len, uint64_t revision, uint64_t create_revision, uint64_t version)
{
    if (s->history_count == s->history_cap) {
        /* Grow and straighten the ring. */
        size_t cap = s->history_cap ? s->history_cap * 2 : 256;
        struct history_event *grown = store_must_realloc(NULL, cap * sizeof *grown);
        for (size_t i = 0; i < s->history_count; i++) grown[i] = *store_history_at(s, i);
        free(s->history);
        s->history = grown;
        s->history_cap = cap;
        s->history_head = 0;
    }
    struct history_event *ev = &s->history[(s->history_head + s->history_count) % s->history_cap];
    ev->bytes = store_must_realloc(NULL, (size_t)key_len + value_len);
    memcpy(ev->bytes, key, key_len);
    if (value_len > 0) memcpy(ev->bytes + key_len, value, value_len);
    ev->key_len = key_len;
    ev->value_len = value_len;
    ev->type = type;
    ev->revision = revision;
    ev->create_revision = create_revision;
    ev->version = version;
    s->history_count++;
    s->history_bytes += (uint64_t)key_len + value_len + EVENT_OVERHEAD;
}

/* Evicts whole revisions, oldest first, while a cap is passed; never the newest revision. */
static void history_evict(struct cs_store *s)
{
    while (s->history_count > 0 && (s->history_count > CS_HISTORY_MAX || s->history_bytes > HISTORY_BYTES_MAX)) {
        uint64_t oldest = store_history_at(s, 0)->revision;
        if (oldest == s->revision) break;
        while (s->history_count > 0 && store_history_at(s, 0)->revision == oldest) {
            struct history_event *ev = store_history_at(s, 0);
            s->history_bytes -= (uint64_t)ev->key_len + ev->value_len + EVENT_OVERHEAD;
            free(ev->bytes);
            ev->bytes = NULL;
            s->history_head = (s->history_head + 1) % s->history_cap;
            s->history_count--;
        }
        assert(oldest > s->compact_revision);
        s->compact_revision = oldest;
    }
}

int cs_store_watch(const struct cs_store *s, uint64_t from_revision, const uint8_t *prefix, size_t prefix_len,
                   size_t limit, void (*fn)(void *arg, const struct cs_event *event), void *arg,
                   uint64_t *next_revision, struct cohort_error *err)
{
    if (prefix == NULL && prefix_len > 0)
        return cohort_error_set(err, CS_E_INVALID, DOMAIN, "watch: NULL prefix of %zu bytes", prefix_len);
    if (from_revision == 0) from_revision = 1;
    if (s->compact_revision > 0 && from_revision <= s->compact_revision)
        return cohort_error_set(err, CS_E_COMPACTED, DOMAIN,
                                "watch from revision %llu: the history kept starts at revision %llu; read the "
                                "keys afresh and watch from the revision of that read + 1",
                                (unsigned long long)from_revision, (unsigned long long)s->compact_revision + 1);
    /* Find the first event at from_revision or later. */
    size_t lo = 0, hi = s->history_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (store_history_at(s, mid)->revision < from_revision) lo = mid + 1;
        else hi = mid;
    }
    /*
     * Whole revisions only: stop before a revision whose matching events do not all fit
     * in what limit leaves, unless it is the first one delivered, which goes out whole
     * whatever limit says (else a revision larger than limit could never be delivered).
     */
    size_t count = 0;
    uint64_t next = s->revision + 1;
    size_t i = lo;
    while (i < s->history_count) {
        uint64_t rev = store_history_at(s, i)->revision;
        size_t end = i, matching = 0;
        while (end < s->history_count && store_history_at(s, end)->revision == rev) {
            const struct history_event *ev = store_history_at(s, end);
            matching += has_prefix(ev->bytes, ev->key_len, prefix, prefix_len);
            end++;
        }
        if (limit != 0 && count > 0 && count + matching > limit) {
            next = rev;
            break;
        }
        for (size_t j = i; j < end; j++) {
            const struct history_event *ev = store_history_at(s, j);
            if (!has_prefix(ev->bytes, ev->key_len, prefix, prefix_len)) continue;
            struct cs_event out = {ev->type,
                                   {ev->bytes, ev->key_len, ev->bytes + ev->key_len, ev->value_len,
                                    ev->create_revision, ev->revision, ev->version}};
            if (fn != NULL) fn(arg, &out);
        }
        count += matching;
        i = end;
        if (limit != 0 && count >= limit) {
            next = i < s->history_count ? store_history_at(s, i)->revision : s->revision + 1;
            break;
        }
    }
    if (next < from_revision) next = from_revision;
    if (next_revision != NULL) *next_revision = next;
    return count > INT_MAX ? INT_MAX : (int)count;
}

/* ---- Dedup window ---- */

uint64_t store_dedup_hash(const uint8_t key[DEDUP_KEY_BYTES])
{
    /* Keccak, so that ids chosen to collide cannot slow the table down. */
    uint8_t digest[32];
    keccak256(key, DEDUP_KEY_BYTES, digest);
    uint64_t h = 0;
    for (int i = 0; i < 8; i++) h = h << 8 | digest[i];
    return h;
}

/* The entry of ring that table finds for key, or NULL. (A restore checks its new table too.) */
const struct dedup_entry *store_table_find(const uint32_t *table, const struct dedup_entry *ring,
                                            const uint8_t key[DEDUP_KEY_BYTES], uint64_t hash)
{
    for (size_t i = hash & (DEDUP_TABLE_SLOTS - 1);; i = (i + 1) & (DEDUP_TABLE_SLOTS - 1)) {
        uint32_t slot = table[i];
        if (slot == 0) return NULL;
        const struct dedup_entry *e = &ring[slot - 1];
        if (e->hash == hash && memcmp(e->key, key, DEDUP_KEY_BYTES) == 0) return e;
    }
}

/* Adds ring slot, whose entry hashes to hash, to table. */
void store_table_insert(uint32_t *table, uint64_t hash, size_t slot)
{
    assert(slot < CS_DEDUP_WINDOW);
    size_t i = hash & (DEDUP_TABLE_SLOTS - 1);
    while (table[i] != 0) i = (i + 1) & (DEDUP_TABLE_SLOTS - 1);
    table[i] = (uint32_t)(slot + 1);
}

static const struct dedup_entry *dedup_find(const struct cs_store *s, const uint8_t key[DEDUP_KEY_BYTES], uint64_t hash)
{
    if (s->dedup_table == NULL) return NULL;
    return store_table_find(s->dedup_table, s->dedup, key, hash);
}

/* Removes ring slot from the table, shifting later entries of its probe run back. */
static void dedup_table_remove(struct cs_store *s, size_t slot)
{
    const size_t mask = DEDUP_TABLE_SLOTS - 1;
    size_t hole = s->dedup[slot].hash & mask;
    while (s->dedup_table[hole] != slot + 1) {
        assert(s->dedup_table[hole] != 0);
        hole = (hole + 1) & mask;
    }
    s->dedup_table[hole] = 0;
    for (size_t j = (hole + 1) & mask; s->dedup_table[j] != 0; j = (j + 1) & mask) {
        size_t home = s->dedup[s->dedup_table[j] - 1].hash & mask;
        /* The entry at j may move to the hole unless its home lies cyclically in (hole, j]. */
        bool stays = hole < j ? (home > hole && home <= j) : (home > hole || home <= j);
        if (stays) continue;
        s->dedup_table[hole] = s->dedup_table[j];
        s->dedup_table[j] = 0;
        hole = j;
    }
}

static void dedup_record(struct cs_store *s, const uint8_t key[DEDUP_KEY_BYTES], uint64_t hash, uint64_t revision,
                         bool succeeded)
{
    if (s->dedup_table == NULL) {
        s->dedup_table = store_must_realloc(NULL, DEDUP_TABLE_SLOTS * sizeof *s->dedup_table);
        memset(s->dedup_table, 0, DEDUP_TABLE_SLOTS * sizeof *s->dedup_table);
    }
    size_t slot;
    if (s->dedup_count < CS_DEDUP_WINDOW) {
        /* Still growing: the ring is linear (head 0), so realloc keeps slot numbers. */
        assert(s->dedup_head == 0);
        if (s->dedup_count == s->dedup_cap) {
            size_t cap = s->dedup_cap ? s->dedup_cap * 2 : 256;
            if (cap > CS_DEDUP_WINDOW) cap = CS_DEDUP_WINDOW;
            s->dedup = store_must_realloc(s->dedup, cap * sizeof *s->dedup);
            s->dedup_cap = cap;
        }
        slot = s->dedup_count++;
    } else {
        assert(s->dedup_cap == CS_DEDUP_WINDOW);
        slot = s->dedup_head;
        dedup_table_remove(s, slot);
        s->dedup_head = (s->dedup_head + 1) % CS_DEDUP_WINDOW;
    }
    struct dedup_entry *e = &s->dedup[slot];
    memcpy(e->key, key, DEDUP_KEY_BYTES);
    e->hash = hash;
    e->revision = revision;
    e->succeeded = succeeded;
    store_table_insert(s->dedup_table, hash, slot);
}

/* ---- Applying a transaction ---- */

static bool compare_holds(const struct cs_store *s, const struct cs_compare *c)
{
    const struct entry *e = lookup(s, c->key, c->key_len);
    int cmp;
    if (c->target == CS_TARGET_VALUE) {
        if (e == NULL) return false; /* a missing key has no value to compare, whatever the result (config.h) */
        cmp = store_key_compare(e->value, e->value_len, c->value, c->value_len);
    } else {
        uint64_t have = 0;
        if (e != NULL) {
            switch (c->target) {
            case CS_TARGET_MOD_REVISION: have = e->mod_revision; break;
            case CS_TARGET_CREATE_REVISION: have = e->create_revision; break;
            case CS_TARGET_VERSION: have = e->version; break;
            default: assert(!"unknown target survived decoding");
            }
        }
        cmp = have < c->number ? -1 : have > c->number ? 1 : 0;
    }
    switch (c->result) {
    case CS_CMP_EQUAL: return cmp == 0;
    case CS_CMP_NOT_EQUAL: return cmp != 0;
    case CS_CMP_LESS: return cmp < 0;
    case CS_CMP_GREATER: return cmp > 0;
    }
    assert(!"unknown result survived decoding");
    return false;
}

static bool op_covers(const struct cs_op *op, const uint8_t *key, size_t key_len)
{
    if (op->prefix) return has_prefix(key, key_len, op->key, op->key_len);
    return store_key_compare(key, key_len, op->key, op->key_len) == 0;
}

/*
 * A dry run of the branch: would its final state pass CS_KEYS_MAX or CS_STORE_BYTES_MAX?
 * The keys it puts are followed through every later op; every other key it touches is a
 * key that was in the store and is deleted (counted once, by the first delete that covers it).
 */
static bool over_caps(const struct cs_store *s, const struct cs_op *ops, unsigned n)
{
    struct {
        const uint8_t *key;
        uint16_t key_len;
        bool present;
        uint32_t value_len;
    } put[CS_TXN_OPS_MAX];
    unsigned nput = 0;
    for (unsigned i = 0; i < n; i++) {
        const struct cs_op *op = &ops[i];
        if (op->type == CS_OP_PUT) {
            unsigned k = 0;
            while (k < nput && store_key_compare(put[k].key, put[k].key_len, op->key, op->key_len) != 0) k++;
            if (k == nput) {
                put[nput].key = op->key;
                put[nput].key_len = op->key_len;
                nput++;
            }
            put[k].present = true;
            put[k].value_len = op->value_len;
        } else if (op->type == CS_OP_DELETE) {
            for (unsigned k = 0; k < nput; k++)
                if (op_covers(op, put[k].key, put[k].key_len)) put[k].present = false;
        }
    }
    if (nput == 0) return false; /* deletes and reads only shrink the store */

    int64_t keys = (int64_t)s->nentries;
    int64_t bytes = (int64_t)s->bytes;
    for (unsigned k = 0; k < nput; k++) {
        const struct entry *e = lookup(s, put[k].key, put[k].key_len);
        if (e != NULL) {
            keys -= 1;
            bytes -= (int64_t)e->key_len + e->value_len;
        }
        if (put[k].present) {
            keys += 1;
            bytes += (int64_t)put[k].key_len + put[k].value_len;
        }
    }
    for (unsigned i = 0; i < n; i++) {
        const struct cs_op *op = &ops[i];
        if (op->type != CS_OP_DELETE) continue;
        for (size_t j = lower_bound(s, op->key, op->key_len); j < s->nentries; j++) {
            const struct entry *e = &s->entries[j];
            if (!op_covers(op, e->key, e->key_len)) break;
            bool counted = false;
            for (unsigned k = 0; k < nput && !counted; k++)
                counted = store_key_compare(put[k].key, put[k].key_len, e->key, e->key_len) == 0;
            for (unsigned earlier = 0; earlier < i && !counted; earlier++)
                counted = ops[earlier].type == CS_OP_DELETE && op_covers(&ops[earlier], e->key, e->key_len);
            if (counted) continue;
            keys -= 1;
            bytes -= (int64_t)e->key_len + e->value_len;
        }
    }
    assert(keys >= 0);
    assert(bytes >= 0);
    return keys > CS_KEYS_MAX || (uint64_t)bytes > CS_STORE_BYTES_MAX;
}

static void bury(struct cs_store *s, void *buffer)
{
    if (buffer == NULL) return;
    store_reserve((void **)&s->graveyard, &s->graveyard_cap, s->ngraveyard + 1, sizeof *s->graveyard);
    s->graveyard[s->ngraveyard++] = buffer;
}

static void do_put(struct cs_store *s, const struct cs_op *op, uint64_t revision)
{
    size_t i = lower_bound(s, op->key, op->key_len);
    struct entry *e;
    if (i < s->nentries && store_key_compare(s->entries[i].key, s->entries[i].key_len, op->key, op->key_len) == 0) {
        e = &s->entries[i];
        bury(s, e->value); /* an earlier range of this request may still point at it */
        s->bytes -= e->value_len;
        e->version++;
    } else {
        store_reserve((void **)&s->entries, &s->entries_cap, s->nentries + 1, sizeof *s->entries);
        memmove(&s->entries[i + 1], &s->entries[i], (s->nentries - i) * sizeof *s->entries);
        s->nentries++;
        e = &s->entries[i];
        e->key = store_must_realloc(NULL, op->key_len);
        memcpy(e->key, op->key, op->key_len);
        e->key_len = op->key_len;
        e->create_revision = revision;
        e->version = 1;
        s->bytes += op->key_len;
    }
    e->value = NULL;
    if (op->value_len > 0) {
        e->value = store_must_realloc(NULL, op->value_len);
        memcpy(e->value, op->value, op->value_len);
    }
    e->value_len = op->value_len;
    e->mod_revision = revision;
    s->bytes += op->value_len;
    assert(e->version >= 1);
    history_push(s, CS_OP_PUT, e->key, e->key_len, e->value, e->value_len, revision, e->create_revision, e->version);
}

/* Deletes the keys op covers; returns how many. */
static uint32_t do_delete(struct cs_store *s, const struct cs_op *op, uint64_t revision)
{
    size_t first = lower_bound(s, op->key, op->key_len);
    size_t end = first;
    while (end < s->nentries && op_covers(op, s->entries[end].key, s->entries[end].key_len)) {
        struct entry *e = &s->entries[end];
        history_push(s, CS_OP_DELETE, e->key, e->key_len, NULL, 0, revision, 0, 0);
        s->bytes -= (uint64_t)e->key_len + e->value_len;
        bury(s, e->key);
        bury(s, e->value);
        end++;
    }
    /* Only when something went: entries is NULL in a store that has never held a key (a new
     * one, or one restored from a snapshot without keys), and &NULL[0] is undefined. */
    if (end > first) {
        memmove(&s->entries[first], &s->entries[end], (s->nentries - end) * sizeof *s->entries);
        s->nentries -= end - first;
    }
    assert(end - first <= CS_KEYS_MAX + CS_TXN_OPS_MAX);
    return (uint32_t)(end - first);
}

static void do_range(struct cs_store *s, const struct cs_op *op)
{
    for (size_t i = lower_bound(s, op->key, op->key_len); i < s->nentries; i++) {
        const struct entry *e = &s->entries[i];
        if (!op_covers(op, e->key, e->key_len)) break;
        store_reserve((void **)&s->kvs, &s->kvs_cap, s->nkvs + 1, sizeof *s->kvs);
        s->kvs[s->nkvs++] = kv_of(e);
    }
}

/*
 * The branch's operations on CS_MEMBERS_KEY (config.h "Membership changes"): NULL when
 * they may run (*change: one is a valid change, in *doc), else why not.
 */
static const char *members_ops_check(const struct cs_store *s, const struct cs_request *req, const struct cs_op *ops,
                                     unsigned nops, struct cs_members_doc *doc, bool *change)
{
    static const uint8_t key[] = CS_MEMBERS_KEY;
    *change = false;
    for (unsigned i = 0; i < nops; i++) {
        const struct cs_op *op = &ops[i];
        if (op->type == CS_OP_DELETE && op_covers(op, key, sizeof key - 1))
            return "the members key is never deleted (a change puts an admin-signed document)";
        if (op->type != CS_OP_PUT || store_key_compare(op->key, op->key_len, key, sizeof key - 1) != 0) continue;
        if (req->ncompare != 0 || nops != 1)
            return "the members key is written only by a put alone (no compares, no other operations)";
        const char *why = members_value_decode(s, op->value, op->value_len, doc);
        if (why != NULL) return why;
        if (doc->epoch != s->epoch + 1) return "the members document is not for the cluster's next epoch";
        struct cohort_error e = {0};
        if (cs_members_check_change((const uint8_t(*)[20])s->members, s->nmembers, doc, &e) < 0)
            return "the members document does not add exactly one member (last) or remove exactly one";
        *change = true;
    }
    return NULL;
}

static int finish(struct cs_store *s, struct cs_result *res, int status, const char *message, cs_result_fn fn,
                  void *arg)
{
    res->status = status;
    res->message = status == CS_OK ? NULL : message;
    if (status != CS_OK) s->nkvs = 0;
    res->kvs = s->kvs;
    res->nkvs = s->nkvs;
    if (fn != NULL) fn(arg, res);
    free_graveyard(s);
    s->nkvs = 0;
    return status;
}

/*
 * Applies one request. batch_signer NULL: the request carries its own signature, which
 * names its signer; else it came in a batch that batch_signer signed, and its own
 * signature field must be all zero.
 */
static int apply_request(struct cs_store *s, const uint8_t *entry, size_t len, const uint8_t *batch_signer,
                         cs_result_fn fn, void *arg)
{
    struct cs_result res;
    memset(&res, 0, sizeof res);
    res.revision = s->revision;
    s->nkvs = 0;
    struct cohort_error err;
    struct cs_request *req = &s->request;
    int rc = cs_request_decode(entry, len, req, &err);
    if (rc < 0)
        return finish(s, &res, CS_E_INVALID,
                      rc == CS_E_RANGE ? "the request has a field over its cap" : "the request is malformed", fn,
                      arg);
    res.id = req->id;
    if (s->epoch_ended)
        return finish(s, &res, CS_E_EPOCH,
                      "the cluster's membership changed before this request: its epoch ended; resubmit", fn, arg);
    if (batch_signer != NULL) {
        static const uint8_t zero[CS_SIGNATURE_BYTES];
        memcpy(res.signer, batch_signer, ADDRESS_BYTES);
        if (memcmp(req->signature, zero, CS_SIGNATURE_BYTES) != 0)
            return finish(s, &res, CS_E_INVALID, "a request in a batch carries a signature of its own", fn, arg);
    } else if (cs_request_signer(req, res.signer, &err) < 0) {
        memset(res.signer, 0, sizeof res.signer);
        return finish(s, &res, CS_E_INVALID, "the request's signature recovers no signer", fn, arg);
    }
    if (req->instance != s->instance)
        return finish(s, &res, CS_E_INSTANCE, "the request is for another cluster instance", fn, arg);
    bool writer = false;
    for (size_t i = 0; i < s->nwriters && !writer; i++) writer = memcmp(s->writers[i], res.signer, ADDRESS_BYTES) == 0;
    if (!writer)
        return finish(s, &res, CS_E_UNAUTHORIZED, "the request is signed by neither a member nor an admin", fn, arg);

    uint8_t dedup_key[DEDUP_KEY_BYTES];
    memcpy(dedup_key, res.signer, ADDRESS_BYTES);
    memcpy(dedup_key + ADDRESS_BYTES, req->id, CS_ID_BYTES);
    uint64_t hash = store_dedup_hash(dedup_key);
    const struct dedup_entry *seen = dedup_find(s, dedup_key, hash);
    if (seen != NULL) {
        res.revision = seen->revision;
        res.succeeded = seen->succeeded;
        return finish(s, &res, CS_E_DUPLICATE, "the request id was applied already", fn, arg);
    }

    bool succeeded = true;
    for (unsigned i = 0; i < req->ncompare && succeeded; i++) succeeded = compare_holds(s, &req->compare[i]);
    const struct cs_op *ops = succeeded ? req->success : req->failure;
    unsigned nops = succeeded ? req->nsuccess : req->nfailure;
    res.succeeded = succeeded;
    struct cs_members_doc doc;
    bool change = false;
    const char *why = members_ops_check(s, req, ops, nops, &doc, &change);
    if (why != NULL) return finish(s, &res, CS_E_INVALID, why, fn, arg);
    if (over_caps(s, ops, nops))
        return finish(s, &res, CS_E_FULL, "the request would pass the store's cap on keys or bytes", fn, arg);

    uint64_t revision = s->revision + 1;
    bool changed = false;
    for (unsigned i = 0; i < nops; i++) {
        res.range_start[i] = s->nkvs;
        switch (ops[i].type) {
        case CS_OP_PUT:
            do_put(s, &ops[i], revision);
            changed = true;
            break;
        case CS_OP_DELETE: {
            uint32_t n = do_delete(s, &ops[i], revision);
            res.deleted += n;
            changed = changed || n > 0;
            break;
        }
        case CS_OP_RANGE: do_range(s, &ops[i]); break;
        default: assert(!"unknown op type survived decoding");
        }
    }
    for (unsigned i = nops; i < CS_TXN_OPS_MAX; i++) res.range_start[i] = s->nkvs;
    if (changed) {
        s->revision = revision;
        history_evict(s);
    }
    assert(s->nentries <= CS_KEYS_MAX);
    assert(s->bytes <= CS_STORE_BYTES_MAX);
    res.revision = s->revision;
    dedup_record(s, dedup_key, hash, s->revision, succeeded);
    if (change) {
        set_writers(s, (const uint8_t(*)[20])doc.address, doc.count, doc.epoch);
        s->epoch_ended = true;
    }
    return finish(s, &res, CS_OK, NULL, fn, arg);
}

/*
 * A batch (layout in config.h): its framing and signature are checked first; a
 * batch that fails them is one refused result (id NULL), and none of its requests is
 * looked at, since nothing vouches for them. Then each request is applied in order as if
 * the batch's signer had signed it.
 */
/* A request's length in a batch's framing (u32 big-endian). */
static size_t batch_len_at(const uint8_t *p)
{
    return (size_t)p[0] << 24 | (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3];
}

static int apply_batch(struct cs_store *s, const uint8_t *entry, size_t len, const uint8_t *known_signer,
                       cs_result_fn fn, void *arg)
{
    struct cs_result res;
    memset(&res, 0, sizeof res);
    res.revision = s->revision;
    s->nkvs = 0;
    if (len < CS_BATCH_HEADER_BYTES + CS_SIGNATURE_BYTES || len > CS_BATCH_BYTES_MAX)
        return finish(s, &res, CS_E_INVALID, "the batch is too short or too long", fn, arg);
    uint64_t instance = 0;
    for (int i = 0; i < 8; i++) instance = instance << 8 | entry[4 + i];
    size_t count = (size_t)entry[12] << 8 | entry[13];
    if (count < 1 || count > CS_BATCH_MAX)
        return finish(s, &res, CS_E_INVALID, "the batch's request count is out of range", fn, arg);
    /* Walk the framing: every length within the bytes, nothing left before the signature. */
    size_t pos = CS_BATCH_HEADER_BYTES, end = len - CS_SIGNATURE_BYTES;
    for (size_t i = 0; i < count; i++) {
        if (end - pos < 4) return finish(s, &res, CS_E_INVALID, "the batch's framing is cut off", fn, arg);
        size_t n = batch_len_at(entry + pos);
        pos += 4;
        if (n > end - pos || n > CS_REQUEST_MAX)
            return finish(s, &res, CS_E_INVALID, "a request in the batch runs past its end", fn, arg);
        pos += n;
    }
    if (pos != end) return finish(s, &res, CS_E_INVALID, "the batch has bytes after its requests", fn, arg);
    if (known_signer != NULL) {
        memcpy(res.signer, known_signer, ADDRESS_BYTES); /* the caller sealed it: no recovery */
    } else {
        uint8_t hash[32];
        store_batch_hash(entry, end, hash);
        struct cohort_error err;
        if (secp_recover_address(hash, entry + end, SECP_S_LOW, res.signer, &err) < 0) {
            memset(res.signer, 0, sizeof res.signer);
            return finish(s, &res, CS_E_INVALID, "the batch's signature recovers no signer", fn, arg);
        }
    }
    if (instance != s->instance)
        return finish(s, &res, CS_E_INSTANCE, "the batch is for another cluster instance", fn, arg);
    bool writer = false;
    for (size_t i = 0; i < s->nwriters && !writer; i++) writer = memcmp(s->writers[i], res.signer, ADDRESS_BYTES) == 0;
    if (!writer)
        return finish(s, &res, CS_E_UNAUTHORIZED, "the batch is signed by neither a member nor an admin", fn, arg);
    uint8_t signer[ADDRESS_BYTES];
    memcpy(signer, res.signer, ADDRESS_BYTES);
    int last = CS_OK;
    pos = CS_BATCH_HEADER_BYTES;
    for (size_t i = 0; i < count; i++) {
        size_t n = batch_len_at(entry + pos);
        pos += 4;
        last = apply_request(s, entry + pos, n, signer, fn, arg);
        pos += n;
    }
    return last;
}

int cs_store_apply(struct cs_store *s, const uint8_t *entry, size_t len, cs_result_fn fn, void *arg)
{
    if (len >= 4 && memcmp(entry, CS_BATCH_MAGIC, 4) == 0) return apply_batch(s, entry, len, NULL, fn, arg);
    return apply_request(s, entry, len, NULL, fn, arg);
}

int cs_store_apply_sealed(struct cs_store *s, const uint8_t *entry, size_t len, const uint8_t signer[20],
                          cs_result_fn fn, void *arg)
{
    assert(signer != NULL);
    if (len >= 4 && memcmp(entry, CS_BATCH_MAGIC, 4) == 0) return apply_batch(s, entry, len, signer, fn, arg);
    return apply_request(s, entry, len, NULL, fn, arg);
}
