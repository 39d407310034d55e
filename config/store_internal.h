/*
 * store_internal.h - what the config store's files (store.c, codec.c, snapshot.c) share;
 * not part of the library's API (config.h is).
 */
#ifndef COHORT_CONFIG_STORE_INTERNAL_H
#define COHORT_CONFIG_STORE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/secp.h"
#include "config/config.h"

#define DOMAIN "config"

/* Keys and values kept in the watch history; every event also counts EVENT_OVERHEAD. */
#define HISTORY_BYTES_MAX (64u << 20)
#define EVENT_OVERHEAD 64u

/* The dedup window's hash set: open addressing, linear probing, load at most 0.39. */
#define DEDUP_TABLE_SLOTS (1u << 18)
#define DEDUP_KEY_BYTES (ADDRESS_BYTES + CS_ID_BYTES)

_Static_assert(DEDUP_TABLE_SLOTS > 2 * CS_DEDUP_WINDOW, "dedup table load");
_Static_assert((DEDUP_TABLE_SLOTS & (DEDUP_TABLE_SLOTS - 1)) == 0, "dedup table is a power of two");

struct entry {
    uint8_t *key;
    uint8_t *value; /* NULL when value_len is 0 */
    uint32_t value_len;
    uint16_t key_len;
    uint64_t create_revision, mod_revision, version;
};

/* A change kept for watches: key and value copied into bytes (one allocation). */
struct history_event {
    uint8_t *bytes;
    uint16_t key_len;
    uint8_t type;
    uint32_t value_len;
    uint64_t revision, create_revision, version;
};

struct dedup_entry {
    uint8_t key[DEDUP_KEY_BYTES]; /* signer || id */
    uint64_t hash;
    uint64_t revision;
    bool succeeded;
};

struct cs_store {
    uint64_t instance;
    uint8_t writers[CS_MEMBERS_MAX + CS_ADMINS_MAX][ADDRESS_BYTES]; /* members, then admins */
    size_t nwriters;
    /* Membership (config.h "Membership changes"): the cluster file's members (epoch 0),
       the admins, and the current epoch's members, which come from CS_MEMBERS_KEY. */
    uint8_t members0[CS_MEMBERS_MAX][ADDRESS_BYTES];
    size_t nmembers0;
    uint8_t admins[CS_ADMINS_MAX][ADDRESS_BYTES];
    size_t nadmins;
    uint8_t members[CS_MEMBERS_MAX][ADDRESS_BYTES];
    size_t nmembers;
    uint32_t epoch;
    bool epoch_ended; /* a change applied: nothing more of this epoch is */
    uint64_t revision;

    struct entry *entries; /* sorted by key */
    size_t nentries, entries_cap;
    uint64_t bytes; /* keys and values */

    struct history_event *history; /* a ring, oldest at history_head */
    size_t history_head, history_count, history_cap;
    uint64_t history_bytes;
    uint64_t compact_revision; /* the newest revision evicted; 0 if none */

    struct dedup_entry *dedup; /* a ring: linear while it grows, then oldest at dedup_head */
    size_t dedup_head, dedup_count, dedup_cap;
    uint32_t *dedup_table; /* DEDUP_TABLE_SLOTS of (ring slot + 1), 0 = empty; allocated on first use */

    /* Scratch of one apply, kept between calls so applying does not allocate per op. */
    struct cs_request request;
    struct cs_kv *kvs;
    size_t nkvs, kvs_cap;
    void **graveyard; /* buffers replaced or deleted, freed after the result callback */
    size_t ngraveyard, graveyard_cap;
};

/* store.c: allocation while applying; a failure stops the process (store.c's top comment). */
void *store_must_realloc(void *p, size_t size);
/* Grows *array (of elem bytes each, *cap of them) to hold at least need. */
void store_reserve(void **array, size_t *cap, size_t need, size_t elem);
/* Frees the keys, the history and the dedup window (the state a snapshot holds). */
void store_free_state(struct cs_store *s);
/* Byte order, a shorter key first when one is a prefix of the other. */
int store_key_compare(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen);
/* The i-th event of the watch history, oldest first. */
struct history_event *store_history_at(const struct cs_store *s, size_t i);
/* The dedup table: a key's hash, the entry of ring that table finds for key (or NULL), an insert. */
uint64_t store_dedup_hash(const uint8_t key[DEDUP_KEY_BYTES]);
const struct dedup_entry *store_table_find(const uint32_t *table, const struct dedup_entry *ring,
                                           const uint8_t key[DEDUP_KEY_BYTES], uint64_t hash);
void store_table_insert(uint32_t *table, uint64_t hash, size_t slot);

/* store.c: sets the membership from the members document stored as value (CS_MEMBERS_KEY's),
   or the cluster file's when value is NULL; CS_E_INVALID (nothing set) if the document is
   not one the store could have applied. check_only: sets nothing. */
int store_set_membership(struct cs_store *s, const uint8_t *value, size_t value_len, bool check_only,
                         struct cohort_error *err);

/* codec.c: the hash a batch's signature covers. */
void store_batch_hash(const uint8_t *bytes, size_t len, uint8_t hash[32]);

#endif
