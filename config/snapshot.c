/*
 * snapshot.c - the config store's snapshots (config.h, part 1, "Snapshot layout"): the whole
 * state in bytes, and a strict restore that refuses any state the log could not have built
 * (store.c's top comment says what is derived and rebuilt).
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
#include "common/secp.h"

/* ---- Snapshots ---- */

#define SNAPSHOT_MAGIC "CCS1"
#define SNAPSHOT_HEADER_BYTES (4 + 8 + 8 + 8 + 4 + 4 + 4)
#define SNAPSHOT_CHECKSUM_BYTES 32
#define SNAPSHOT_KEY_FIXED (2 + 4 + 3 * 8)       /* a key's record but its key and value */
#define SNAPSHOT_EVENT_FIXED (1 + 2 + 4 + 3 * 8) /* an event's record but its key and value */
#define SNAPSHOT_DEDUP_BYTES (DEDUP_KEY_BYTES + 8 + 1)

/*
 * The most events the history can hold: CS_HISTORY_MAX, or one revision that alone passes
 * it (history_evict never evicts the newest). One request's events are at most every key
 * that was in the store deleted, plus one event for each put and one for deleting that put.
 */
#define ONE_REVISION_EVENTS_MAX (CS_KEYS_MAX + 2 * CS_TXN_OPS_MAX)
#define HISTORY_EVENTS_MAX (CS_HISTORY_MAX > ONE_REVISION_EVENTS_MAX ? CS_HISTORY_MAX : ONE_REVISION_EVENTS_MAX)

_Static_assert(SNAPSHOT_HEADER_BYTES == 40, "snapshot header layout");
_Static_assert(SNAPSHOT_DEDUP_BYTES == 45, "snapshot dedup entry layout");
_Static_assert(CS_KEYS_MAX <= UINT32_MAX && HISTORY_EVENTS_MAX <= UINT32_MAX && CS_DEDUP_WINDOW <= UINT32_MAX,
               "snapshot counts are u32");
/*
 * The largest snapshot a store within its caps can have fits CS_SNAPSHOT_MAX: the keys; the
 * history as the larger of its two cases added together (64 MiB of keys, values and
 * EVENT_OVERHEAD, whose framing is less than EVENT_OVERHEAD; or one revision: the framing
 * of its events, every key of the store deleted, and each op's put of a key and a value);
 * the dedup window.
 */
_Static_assert(SNAPSHOT_HEADER_BYTES + (unsigned long long)CS_KEYS_MAX * SNAPSHOT_KEY_FIXED + CS_STORE_BYTES_MAX +
                       HISTORY_BYTES_MAX + (unsigned long long)HISTORY_EVENTS_MAX * SNAPSHOT_EVENT_FIXED +
                       CS_STORE_BYTES_MAX + 2ull * CS_TXN_OPS_MAX * (CS_KEY_MAX + CS_VALUE_MAX) +
                       (unsigned long long)CS_DEDUP_WINDOW * SNAPSHOT_DEDUP_BYTES + SNAPSHOT_CHECKSUM_BYTES <=
                   CS_SNAPSHOT_MAX,
               "CS_SNAPSHOT_MAX holds the largest snapshot");
_Static_assert(SNAPSHOT_EVENT_FIXED <= EVENT_OVERHEAD, "an event's framing is within its accounted overhead");
_Static_assert(CS_REVISION_MAX <= UINT64_MAX / CS_TXN_OPS_MAX / 2, "versions of revisions up to the cap do not wrap");

static const struct dedup_entry *dedup_at(const struct cs_store *s, size_t i)
{
    assert(i < s->dedup_count);
    return &s->dedup[(s->dedup_head + i) % s->dedup_cap];
}

int cs_store_snapshot(const struct cs_store *s, uint8_t **out, size_t *out_len, struct cohort_error *err)
{
    int rc = cs_store_snapshot_unsealed(s, out, out_len, err);
    if (rc == 0) cs_snapshot_seal(*out, *out_len);
    return rc;
}

void cs_snapshot_seal(uint8_t *bytes, size_t len)
{
    assert(bytes != NULL && len >= SNAPSHOT_HEADER_BYTES + SNAPSHOT_CHECKSUM_BYTES);
    keccak256(bytes, len - SNAPSHOT_CHECKSUM_BYTES, bytes + len - SNAPSHOT_CHECKSUM_BYTES);
}

int cs_store_snapshot_unsealed(const struct cs_store *s, uint8_t **out, size_t *out_len, struct cohort_error *err)
{
    assert(s != NULL);
    assert(out != NULL);
    assert(out_len != NULL);
    *out = NULL;
    *out_len = 0;
    uint64_t size = SNAPSHOT_HEADER_BYTES + SNAPSHOT_CHECKSUM_BYTES;
    size += (uint64_t)s->nentries * SNAPSHOT_KEY_FIXED + s->bytes;
    for (size_t i = 0; i < s->history_count; i++) {
        const struct history_event *ev = store_history_at(s, i);
        size += SNAPSHOT_EVENT_FIXED + (uint64_t)ev->key_len + ev->value_len;
    }
    size += (uint64_t)s->dedup_count * SNAPSHOT_DEDUP_BYTES;
    if (size > CS_SNAPSHOT_MAX)
        return cohort_error_set(err, CS_E_RANGE, DOMAIN, "snapshot: %llu bytes, over the cap of %u",
                                (unsigned long long)size, CS_SNAPSHOT_MAX);
    uint8_t *buf = malloc((size_t)size);
    if (buf == NULL)
        return cohort_error_set(err, CS_E_NOMEM, DOMAIN, "snapshot: out of memory for %llu bytes",
                                (unsigned long long)size);

    const size_t body = (size_t)size - SNAPSHOT_CHECKSUM_BYTES;
    struct byte_writer w = {buf, body, 0, false};
    bw_bytes(&w, SNAPSHOT_MAGIC, 4);
    bw_u64(&w, s->instance);
    bw_u64(&w, s->revision);
    bw_u64(&w, s->compact_revision);
    assert(s->nentries <= CS_KEYS_MAX);
    assert(s->history_count <= HISTORY_EVENTS_MAX);
    assert(s->dedup_count <= CS_DEDUP_WINDOW);
    bw_u32(&w, (uint32_t)s->nentries);
    bw_u32(&w, (uint32_t)s->history_count);
    bw_u32(&w, (uint32_t)s->dedup_count);
    for (size_t i = 0; i < s->nentries; i++) {
        const struct entry *e = &s->entries[i];
        bw_u16(&w, e->key_len);
        bw_bytes(&w, e->key, e->key_len);
        bw_u32(&w, e->value_len);
        bw_bytes(&w, e->value, e->value_len);
        bw_u64(&w, e->create_revision);
        bw_u64(&w, e->mod_revision);
        bw_u64(&w, e->version);
    }
    for (size_t i = 0; i < s->history_count; i++) {
        const struct history_event *ev = store_history_at(s, i);
        bw_u8(&w, ev->type);
        bw_u16(&w, ev->key_len);
        bw_bytes(&w, ev->bytes, ev->key_len);
        bw_u32(&w, ev->value_len);
        bw_bytes(&w, ev->bytes + ev->key_len, ev->value_len);
        bw_u64(&w, ev->revision);
        bw_u64(&w, ev->create_revision);
        bw_u64(&w, ev->version);
    }
    for (size_t i = 0; i < s->dedup_count; i++) {
        const struct dedup_entry *e = dedup_at(s, i);
        bw_bytes(&w, e->key, DEDUP_KEY_BYTES);
        bw_u64(&w, e->revision);
        bw_u8(&w, e->succeeded ? 1 : 0);
    }
    assert(!w.overflow);
    assert(w.len == body);
    memset(buf + body, 0, SNAPSHOT_CHECKSUM_BYTES); /* cs_snapshot_seal's */
    *out = buf;
    *out_len = (size_t)size;
    return 0;
}

/* Reads a snapshot's body (the bytes before its checksum). section names the record read. */
struct snapshot_reader {
    const uint8_t *in;
    size_t len;
    size_t pos;
    const char *section; /* "key", "event", "dedup entry", or NULL in the header */
    size_t index;
};

/* "snapshot: <section> <index> <field> at offset <offset>: <what>"; field may be NULL. */
static int snapshot_error(struct cohort_error *err, const struct snapshot_reader *r, int code, const char *field,
                          size_t offset, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static int snapshot_error(struct cohort_error *err, const struct snapshot_reader *r, int code, const char *field,
                          size_t offset, const char *fmt, ...)
{
    char name[96], what[256];
    if (r->section != NULL && field != NULL) snprintf(name, sizeof name, "%s %zu %s", r->section, r->index, field);
    else if (r->section != NULL) snprintf(name, sizeof name, "%s %zu", r->section, r->index);
    else snprintf(name, sizeof name, "%s", field != NULL ? field : "header");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return cohort_error_set(err, code, DOMAIN, "snapshot: %s at offset %zu: %s", name, offset, what);
}

static int snapshot_get(struct snapshot_reader *r, size_t len, const char *field, const uint8_t **out,
                        struct cohort_error *err)
{
    if (len > r->len - r->pos)
        return snapshot_error(err, r, CS_E_INVALID, field, r->pos,
                              "cut off (%zu bytes needed, %zu left before the checksum)", len, r->len - r->pos);
    *out = r->in + r->pos;
    r->pos += len;
    return 0;
}

static int snapshot_uint(struct snapshot_reader *r, size_t n, const char *field, uint64_t *out,
                         struct cohort_error *err)
{
    const uint8_t *p = NULL;
    int rc = snapshot_get(r, n, field, &p, err);
    if (rc < 0) return rc;
    *out = be_get(p, (int)n);
    return 0;
}

#define SNAPSHOT_UINT(r, n, field, var, err)                                                                           \
    do {                                                                                                               \
        uint64_t v_;                                                                                                   \
        int rc_ = snapshot_uint((r), (n), (field), &v_, (err));                                                        \
        if (rc_ < 0) return rc_;                                                                                       \
        (var) = v_;                                                                                                    \
    } while (0)

/* A key or value length and its bytes (key: 1..CS_KEY_MAX bytes; value: 0..CS_VALUE_MAX). */
static int snapshot_field(struct snapshot_reader *r, bool key, const uint8_t **out, size_t *out_len,
                          struct cohort_error *err)
{
    size_t at = r->pos;
    uint64_t len;
    if (key) {
        SNAPSHOT_UINT(r, 2, "key length", len, err);
        if (len == 0) return snapshot_error(err, r, CS_E_INVALID, "key length", at, "is 0 (keys are not empty)");
        if (len > CS_KEY_MAX)
            return snapshot_error(err, r, CS_E_RANGE, "key length", at, "is %llu bytes, over the cap of %d",
                                  (unsigned long long)len, CS_KEY_MAX);
    } else {
        SNAPSHOT_UINT(r, 4, "value length", len, err);
        if (len > CS_VALUE_MAX)
            return snapshot_error(err, r, CS_E_RANGE, "value length", at, "is %llu bytes, over the cap of %u",
                                  (unsigned long long)len, CS_VALUE_MAX);
    }
    *out_len = (size_t)len;
    return snapshot_get(r, (size_t)len, key ? "key" : "value", out, err);
}

/* A copy of len bytes (len > 0), or NULL when memory is short. */
static void *copy_of(const uint8_t *bytes, size_t len)
{
    assert(len > 0);
    void *p = malloc(len);
    if (p != NULL) memcpy(p, bytes, len);
    return p;
}

/* The state a snapshot holds, built apart from the store and swapped in only when whole. */
struct snapshot_state {
    uint64_t revision, compact_revision;
    struct entry *entries; /* nentries of them, zeroed before they are filled */
    size_t nentries;
    uint64_t bytes;
    struct history_event *history; /* history_count of them, oldest first, zeroed before */
    size_t history_count;
    uint64_t history_bytes;
    struct dedup_entry *dedup; /* dedup_count of them, oldest first */
    size_t dedup_count;
    uint32_t *dedup_table; /* NULL when dedup_count is 0 */
};

static void snapshot_state_free(struct snapshot_state *st)
{
    for (size_t i = 0; i < st->nentries && st->entries != NULL; i++) {
        free(st->entries[i].key);
        free(st->entries[i].value);
    }
    free(st->entries);
    for (size_t i = 0; i < st->history_count && st->history != NULL; i++) free(st->history[i].bytes);
    free(st->history);
    free(st->dedup);
    free(st->dedup_table);
}

static int out_of_memory(struct cohort_error *err, const char *what, size_t count)
{
    return cohort_error_set(err, CS_E_NOMEM, DOMAIN, "snapshot: out of memory for %zu %s", count, what);
}

/*
 * A key's version counts its puts since it was created (create <= mod <= CS_REVISION_MAX,
 * checked before): at least one, and at most one an op in each revision from its creation to
 * its last change.
 */
static int check_version(const struct snapshot_reader *r, uint64_t version, uint64_t create, uint64_t mod,
                         size_t offset, struct cohort_error *err)
{
    assert(create <= mod);
    if (version == 0) return snapshot_error(err, r, CS_E_INVALID, "version", offset, "is 0");
    if ((version - 1) / CS_TXN_OPS_MAX > mod - create)
        return snapshot_error(err, r, CS_E_INVALID, "version", offset,
                              "is %llu, more puts than revisions %llu to %llu can hold (%d a revision)",
                              (unsigned long long)version, (unsigned long long)create, (unsigned long long)mod,
                              CS_TXN_OPS_MAX);
    return 0;
}

static int decode_keys(struct snapshot_reader *r, struct snapshot_state *st, struct cohort_error *err)
{
    r->section = "key";
    for (size_t i = 0; i < st->nentries; i++) {
        r->index = i;
        size_t at = r->pos;
        const uint8_t *key = NULL, *value = NULL;
        size_t key_len = 0, value_len = 0;
        int rc;
        if ((rc = snapshot_field(r, true, &key, &key_len, err)) < 0) return rc;
        if ((rc = snapshot_field(r, false, &value, &value_len, err)) < 0) return rc;
        struct entry *e = &st->entries[i];
        size_t numbers_at = r->pos;
        SNAPSHOT_UINT(r, 8, "create revision", e->create_revision, err);
        SNAPSHOT_UINT(r, 8, "mod revision", e->mod_revision, err);
        SNAPSHOT_UINT(r, 8, "version", e->version, err);
        if (i > 0 && store_key_compare(st->entries[i - 1].key, st->entries[i - 1].key_len, key, key_len) >= 0)
            return snapshot_error(err, r, CS_E_INVALID, NULL, at, "not after the key before it (keys are in byte "
                                                                  "order, each once)");
        if (e->create_revision == 0)
            return snapshot_error(err, r, CS_E_INVALID, "create revision", numbers_at, "is 0");
        if (e->create_revision > e->mod_revision)
            return snapshot_error(err, r, CS_E_INVALID, "create revision", numbers_at,
                                  "%llu is after the mod revision %llu", (unsigned long long)e->create_revision,
                                  (unsigned long long)e->mod_revision);
        if (e->mod_revision > st->revision)
            return snapshot_error(err, r, CS_E_INVALID, "mod revision", numbers_at + 8,
                                  "%llu is after the store's revision %llu", (unsigned long long)e->mod_revision,
                                  (unsigned long long)st->revision);
        if ((rc = check_version(r, e->version, e->create_revision, e->mod_revision, numbers_at + 16, err)) < 0)
            return rc;
        st->bytes += (uint64_t)key_len + value_len;
        if (st->bytes > CS_STORE_BYTES_MAX)
            return snapshot_error(err, r, CS_E_RANGE, NULL, at,
                                  "the keys and values up to it are %llu bytes, over the store's cap of %u",
                                  (unsigned long long)st->bytes, CS_STORE_BYTES_MAX);
        e->key_len = (uint16_t)key_len;
        e->value_len = (uint32_t)value_len;
        e->key = copy_of(key, key_len);
        if (e->key == NULL) return out_of_memory(err, "keys", st->nentries);
        if (value_len > 0 && (e->value = copy_of(value, value_len)) == NULL)
            return out_of_memory(err, "values", st->nentries);
    }
    return 0;
}

static int decode_history(struct snapshot_reader *r, struct snapshot_state *st, struct cohort_error *err)
{
    r->section = "event";
    for (size_t i = 0; i < st->history_count; i++) {
        r->index = i;
        size_t at = r->pos;
        uint64_t type;
        SNAPSHOT_UINT(r, 1, "type", type, err);
        if (type != CS_OP_PUT && type != CS_OP_DELETE)
            return snapshot_error(err, r, CS_E_INVALID, "type", at, "is %llu, neither put (%d) nor delete (%d)",
                                  (unsigned long long)type, CS_OP_PUT, CS_OP_DELETE);
        const uint8_t *key = NULL, *value = NULL;
        size_t key_len = 0, value_len = 0;
        int rc;
        if ((rc = snapshot_field(r, true, &key, &key_len, err)) < 0) return rc;
        size_t value_at = r->pos;
        if ((rc = snapshot_field(r, false, &value, &value_len, err)) < 0) return rc;
        struct history_event *ev = &st->history[i];
        size_t numbers_at = r->pos;
        SNAPSHOT_UINT(r, 8, "revision", ev->revision, err);
        SNAPSHOT_UINT(r, 8, "create revision", ev->create_revision, err);
        SNAPSHOT_UINT(r, 8, "version", ev->version, err);
        /* The history holds every revision after the compact revision, in order, without a gap. */
        uint64_t expected = i == 0 ? st->compact_revision + 1 : st->history[i - 1].revision;
        if (ev->revision != expected && (i == 0 || ev->revision != expected + 1))
            return snapshot_error(err, r, CS_E_INVALID, "revision", numbers_at,
                                  "is %llu, not %s%llu (events run from the compact revision + 1, %llu, to the "
                                  "store's revision, %llu, without a gap)",
                                  (unsigned long long)ev->revision, i == 0 ? "" : "the one before it or ",
                                  (unsigned long long)expected, (unsigned long long)st->compact_revision + 1,
                                  (unsigned long long)st->revision);
        if (ev->revision > st->revision)
            return snapshot_error(err, r, CS_E_INVALID, "revision", numbers_at,
                                  "%llu is after the store's revision %llu", (unsigned long long)ev->revision,
                                  (unsigned long long)st->revision);
        if (type == CS_OP_PUT) {
            if (ev->create_revision == 0 || ev->create_revision > ev->revision)
                return snapshot_error(err, r, CS_E_INVALID, "create revision", numbers_at + 8,
                                      "is %llu, not in 1..%llu (the put's revision)",
                                      (unsigned long long)ev->create_revision, (unsigned long long)ev->revision);
            if ((rc = check_version(r, ev->version, ev->create_revision, ev->revision, numbers_at + 16, err)) < 0)
                return rc;
        } else {
            if (value_len != 0)
                return snapshot_error(err, r, CS_E_INVALID, "value length", value_at,
                                      "is %zu, but a delete's value is empty", value_len);
            if (ev->create_revision != 0 || ev->version != 0)
                return snapshot_error(err, r, CS_E_INVALID, "create revision", numbers_at + 8,
                                      "and version are %llu and %llu, but a delete's are 0",
                                      (unsigned long long)ev->create_revision, (unsigned long long)ev->version);
        }
        ev->type = (uint8_t)type;
        ev->key_len = (uint16_t)key_len;
        ev->value_len = (uint32_t)value_len;
        ev->bytes = malloc(key_len + value_len);
        if (ev->bytes == NULL) return out_of_memory(err, "events", st->history_count);
        memcpy(ev->bytes, key, key_len);
        if (value_len > 0) memcpy(ev->bytes + key_len, value, value_len);
        st->history_bytes += (uint64_t)key_len + value_len + EVENT_OVERHEAD;
    }
    r->section = NULL;
    uint64_t newest = st->history_count > 0 ? st->history[st->history_count - 1].revision : st->compact_revision;
    if (newest != st->revision)
        return snapshot_error(err, r, CS_E_INVALID, "history", r->pos,
                              "ends at revision %llu, but the store is at revision %llu (the history keeps the "
                              "newest revision)",
                              (unsigned long long)newest, (unsigned long long)st->revision);
    /* Past a cap only when the newest revision alone passes it: history_evict took the rest. */
    bool over = st->history_count > CS_HISTORY_MAX || st->history_bytes > HISTORY_BYTES_MAX;
    if (over && st->history[0].revision != st->revision)
        return snapshot_error(err, r, CS_E_INVALID, "history", r->pos,
                              "%zu events of %llu bytes pass the caps of %d events and %u bytes, yet hold "
                              "revisions %llu to %llu (only the newest revision may pass them alone)",
                              st->history_count, (unsigned long long)st->history_bytes, CS_HISTORY_MAX,
                              HISTORY_BYTES_MAX, (unsigned long long)st->history[0].revision,
                              (unsigned long long)st->revision);
    return 0;
}

static int decode_dedup(struct snapshot_reader *r, struct snapshot_state *st, struct cohort_error *err)
{
    r->section = "dedup entry";
    for (size_t i = 0; i < st->dedup_count; i++) {
        r->index = i;
        size_t at = r->pos;
        struct dedup_entry *e = &st->dedup[i];
        const uint8_t *key = NULL;
        int rc;
        if ((rc = snapshot_get(r, DEDUP_KEY_BYTES, "signer and id", &key, err)) < 0) return rc;
        memcpy(e->key, key, DEDUP_KEY_BYTES);
        size_t revision_at = r->pos;
        SNAPSHOT_UINT(r, 8, "revision", e->revision, err);
        size_t succeeded_at = r->pos;
        uint64_t succeeded;
        SNAPSHOT_UINT(r, 1, "succeeded", succeeded, err);
        if (e->revision > st->revision)
            return snapshot_error(err, r, CS_E_INVALID, "revision", revision_at,
                                  "%llu is after the store's revision %llu", (unsigned long long)e->revision,
                                  (unsigned long long)st->revision);
        if (i > 0 && e->revision < st->dedup[i - 1].revision)
            return snapshot_error(err, r, CS_E_INVALID, "revision", revision_at,
                                  "%llu is before the revision %llu of the entry before it (entries are oldest "
                                  "first)",
                                  (unsigned long long)e->revision, (unsigned long long)st->dedup[i - 1].revision);
        if (succeeded > 1)
            return snapshot_error(err, r, CS_E_INVALID, "succeeded", succeeded_at, "is %llu, not 0 or 1",
                                  (unsigned long long)succeeded);
        e->succeeded = succeeded == 1;
        e->hash = store_dedup_hash(e->key);
        if (store_table_find(st->dedup_table, st->dedup, e->key, e->hash) != NULL)
            return snapshot_error(err, r, CS_E_INVALID, "signer and id", at,
                                  "are those of an entry before it (the window holds each request once)");
        store_table_insert(st->dedup_table, e->hash, i);
    }
    r->section = NULL;
    return 0;
}

/* Frees the store's state and takes st's in its place; st is left empty. */
static void snapshot_state_install(struct cs_store *s, struct snapshot_state *st)
{
    store_free_state(s);
    s->revision = st->revision;
    s->compact_revision = st->compact_revision;
    s->entries = st->entries;
    s->nentries = s->entries_cap = st->nentries;
    s->bytes = st->bytes;
    s->history = st->history;
    s->history_head = 0;
    s->history_count = s->history_cap = st->history_count;
    s->history_bytes = st->history_bytes;
    s->dedup = st->dedup;
    s->dedup_head = 0; /* oldest first: linear, as the ring is while it grows */
    s->dedup_count = s->dedup_cap = st->dedup_count;
    s->dedup_table = st->dedup_table;
    memset(st, 0, sizeof *st);
}

int cs_store_restore(struct cs_store *s, const uint8_t *bytes, size_t len, struct cohort_error *err)
{
    assert(s != NULL);
    assert(s->ngraveyard == 0); /* not called from a result callback */
    if (bytes == NULL && len > 0) return cohort_error_set(err, CS_E_INVALID, DOMAIN, "snapshot: NULL bytes");
    if (len > CS_SNAPSHOT_MAX)
        return cohort_error_set(err, CS_E_RANGE, DOMAIN, "snapshot: %zu bytes, over the cap of %u", len,
                                CS_SNAPSHOT_MAX);
    if (len >= 4 && memcmp(bytes, SNAPSHOT_MAGIC, 4) != 0)
        return cohort_error_set(err, CS_E_INVALID, DOMAIN,
                                "snapshot: magic at offset 0 is %02x%02x%02x%02x, not \"" SNAPSHOT_MAGIC
                                "\" (not a config store snapshot)",
                                bytes[0], bytes[1], bytes[2], bytes[3]);
    if (len < SNAPSHOT_HEADER_BYTES + SNAPSHOT_CHECKSUM_BYTES)
        return cohort_error_set(err, CS_E_INVALID, DOMAIN,
                                "snapshot: %zu bytes, cut off before the end of a header and checksum (%d bytes)",
                                len, SNAPSHOT_HEADER_BYTES + SNAPSHOT_CHECKSUM_BYTES);
    /* The checksum first: a damaged snapshot is reported as damaged, whatever byte it hit. */
    const size_t body = len - SNAPSHOT_CHECKSUM_BYTES;
    uint8_t checksum[32];
    keccak256(bytes, body, checksum);
    if (memcmp(checksum, bytes + body, SNAPSHOT_CHECKSUM_BYTES) != 0)
        return cohort_error_set(err, CS_E_INVALID, DOMAIN,
                                "snapshot: checksum at offset %zu does not match the %zu bytes before it (the "
                                "snapshot is damaged or cut off; take another)",
                                body, body);

    struct snapshot_reader r = {bytes, body, 4, NULL, 0};
    uint64_t instance, nkeys, nevents, ndedup;
    struct snapshot_state st;
    memset(&st, 0, sizeof st);
    SNAPSHOT_UINT(&r, 8, "instance", instance, err);
    if (instance != s->instance)
        return cohort_error_set(err, CS_E_INSTANCE, DOMAIN,
                                "snapshot: instance at offset 4 is %llu (0x%llx), but this store is of instance "
                                "%llu (0x%llx): a snapshot of another cluster",
                                (unsigned long long)instance, (unsigned long long)instance,
                                (unsigned long long)s->instance, (unsigned long long)s->instance);
    SNAPSHOT_UINT(&r, 8, "revision", st.revision, err);
    if (st.revision > CS_REVISION_MAX)
        return snapshot_error(err, &r, CS_E_RANGE, "revision", 12, "is %llu, over the cap of %llu",
                              (unsigned long long)st.revision, (unsigned long long)CS_REVISION_MAX);
    SNAPSHOT_UINT(&r, 8, "compact revision", st.compact_revision, err);
    if (st.compact_revision > st.revision || (st.compact_revision == st.revision && st.revision != 0))
        return snapshot_error(err, &r, CS_E_INVALID, "compact revision", 20,
                              "%llu is not before the revision %llu (the newest revision is never compacted)",
                              (unsigned long long)st.compact_revision, (unsigned long long)st.revision);
    SNAPSHOT_UINT(&r, 4, "key count", nkeys, err);
    SNAPSHOT_UINT(&r, 4, "event count", nevents, err);
    SNAPSHOT_UINT(&r, 4, "dedup count", ndedup, err);
    if (nkeys > CS_KEYS_MAX)
        return snapshot_error(err, &r, CS_E_RANGE, "key count", 28, "is %llu, over the cap of %d",
                              (unsigned long long)nkeys, CS_KEYS_MAX);
    if (nevents > HISTORY_EVENTS_MAX)
        return snapshot_error(err, &r, CS_E_RANGE, "event count", 32, "is %llu, over the cap of %d",
                              (unsigned long long)nevents, HISTORY_EVENTS_MAX);
    if (ndedup > CS_DEDUP_WINDOW)
        return snapshot_error(err, &r, CS_E_RANGE, "dedup count", 36, "is %llu, over the cap of %d",
                              (unsigned long long)ndedup, CS_DEDUP_WINDOW);
    /* Before allocating for the counts: do the bytes present hold that many records? */
    uint64_t least = nkeys * (SNAPSHOT_KEY_FIXED + 1) + nevents * (SNAPSHOT_EVENT_FIXED + 1) +
                     ndedup * SNAPSHOT_DEDUP_BYTES;
    if (least > body - r.pos)
        return snapshot_error(err, &r, CS_E_INVALID, "counts", 28,
                              "%llu keys, %llu events and %llu dedup entries take at least %llu bytes, but %zu are "
                              "left before the checksum",
                              (unsigned long long)nkeys, (unsigned long long)nevents, (unsigned long long)ndedup,
                              (unsigned long long)least, body - r.pos);

    int rc = CS_E_NOMEM;
    st.nentries = (size_t)nkeys;
    st.history_count = (size_t)nevents;
    st.dedup_count = (size_t)ndedup;
    if (nkeys > 0 && (st.entries = calloc(st.nentries, sizeof *st.entries)) == NULL) {
        out_of_memory(err, "keys", st.nentries);
        goto fail;
    }
    if (nevents > 0 && (st.history = calloc(st.history_count, sizeof *st.history)) == NULL) {
        out_of_memory(err, "events", st.history_count);
        goto fail;
    }
    if (ndedup > 0) {
        st.dedup = calloc(st.dedup_count, sizeof *st.dedup);
        st.dedup_table = calloc(DEDUP_TABLE_SLOTS, sizeof *st.dedup_table);
        if (st.dedup == NULL || st.dedup_table == NULL) {
            out_of_memory(err, "dedup entries", st.dedup_count);
            goto fail;
        }
    }
    if ((rc = decode_keys(&r, &st, err)) < 0) goto fail;
    if ((rc = decode_history(&r, &st, err)) < 0) goto fail;
    if ((rc = decode_dedup(&r, &st, err)) < 0) goto fail;
    if (r.pos != r.len) {
        rc = snapshot_error(err, &r, CS_E_INVALID, "end", r.pos, "%zu trailing bytes before the checksum",
                            r.len - r.pos);
        goto fail;
    }
    assert(st.nentries <= CS_KEYS_MAX);
    assert(st.bytes <= CS_STORE_BYTES_MAX);
    /* The membership is the members key's document (config.h "Membership changes"): one the
       store would have applied, or the snapshot is refused. */
    static const uint8_t members_key[] = CS_MEMBERS_KEY;
    size_t mi = st.nentries;
    for (size_t i = 0; i < st.nentries && mi == st.nentries; i++)
        if (store_key_compare(st.entries[i].key, st.entries[i].key_len, members_key, sizeof members_key - 1) == 0) mi = i;
    if (mi < st.nentries &&
        (rc = store_set_membership(s, st.entries[mi].value, st.entries[mi].value_len, true, err)) < 0)
        goto fail;
    snapshot_state_install(s, &st); /* s->entries is st's array now */
    if (mi < s->nentries) store_set_membership(s, s->entries[mi].value, s->entries[mi].value_len, false, NULL);
    else store_set_membership(s, NULL, 0, false, NULL);
    s->nkvs = 0;
    return 0;

fail:
    assert(rc < 0);
    snapshot_state_free(&st);
    return rc;
}
