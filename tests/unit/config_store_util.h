/*
 * config_store_util.h - what the config store's unit tests (test_config_store.c,
 * test_config_snapshot.c, test_config_model.c) share: test keys, a store of INSTANCE with
 * NMEMBERS members and one admin, requests built op by op and applied with their results
 * captured, a request built by hand from config.h's diagram, watches, and snapshot helpers.
 * Linked into those three tests only (tests/CMakeLists.txt); the helpers assert with check.
 */
#ifndef COHORT_TESTS_CONFIG_STORE_UTIL_H
#define COHORT_TESTS_CONFIG_STORE_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/keccak.h"
#include "config/config.h"

#define INSTANCE 0x1122334455667788ull
#define NMEMBERS 4
#define GOT_KVS 256
#define GOT_TEXT 64

/* Set by setup_keys. */
extern uint8_t member_key[NMEMBERS][32], admin_key[32], outsider_key[32];
extern uint8_t member_addr[NMEMBERS][20], admin_addr[20], outsider_addr[20];
extern uint64_t id_counter; /* the next request id (req_init) */
extern uint8_t wire[CS_REQUEST_MAX]; /* run_as's encoding buffer */

struct got_kv {
    char key[GOT_TEXT];
    char value[GOT_TEXT]; /* the first bytes of the value, NUL-terminated */
    uint32_t value_len;
    uint64_t create_revision, mod_revision, version;
};

struct got {
    int calls;
    int status;
    bool has_id;
    uint8_t id[CS_ID_BYTES];
    uint8_t signer[20];
    uint64_t revision;
    bool succeeded;
    uint32_t deleted;
    size_t nkvs;
    struct got_kv kvs[GOT_KVS];
    size_t range_start[CS_TXN_OPS_MAX];
    bool has_message;
};

struct collected {
    size_t n;
    struct got_kv kv[GOT_KVS];
};

struct hand {
    uint8_t b[4096];
    size_t n;
};

struct watched {
    size_t n;
    uint64_t first_revision, last_revision;
    char keys[GOT_KVS][GOT_TEXT];
    uint8_t types[GOT_KVS];
    uint64_t revisions[GOT_KVS], creates[GOT_KVS], versions[GOT_KVS];
    char values[GOT_KVS][GOT_TEXT];
};

/* Every event a watch delivers, hashed in order with its kv. */
struct event_hash {
    struct keccak256_ctx ctx;
    size_t n;
};

/* The test keys: call setup_keys once in main, before any test. */
void make_key(uint8_t key[32], uint8_t seed, uint8_t addr[20]);
void setup_keys(void);
/* A store of INSTANCE whose writers are the NMEMBERS members and the admin. */
struct cs_store *new_store(void);
/* A request with a fresh id, and its operations and compares, one call each. */
void req_init(struct cs_request *r);
struct cs_op *new_op(struct cs_request *r, bool failure);
void add_put_n(struct cs_request *r, bool failure, const char *key, const void *value, size_t value_len);
void add_put(struct cs_request *r, bool failure, const char *key, const char *value);
void add_delete(struct cs_request *r, bool failure, const char *key, bool prefix);
void add_range(struct cs_request *r, bool failure, const char *key, bool prefix);
void add_compare_value(struct cs_request *r, const char *key, uint8_t result, const char *value);
void add_compare_number(struct cs_request *r, const char *key, uint8_t target, uint8_t result, uint64_t number);
/* Encodes and signs r into out; asserts it worked. */
size_t sign_into(const struct cs_request *r, const uint8_t key[32], uint8_t *out, size_t cap);
/* Captures results: copy_kv, on_result (cs_result_fn), apply_bytes (static storage). */
void copy_kv(struct got_kv *g, const struct cs_kv *kv);
void on_result(void *arg, const struct cs_result *r);
struct got *apply_bytes(struct cs_store *s, const uint8_t *bytes, size_t len);
struct got *run_as(struct cs_store *s, const struct cs_request *r, const uint8_t key[32]);
/* Signs r with key (run: member 0's key), applies it, and returns its captured result (static storage). */
struct got *run(struct cs_store *s, const struct cs_request *r);
struct got *put(struct cs_store *s, const char *key, const char *value);
struct got *del(struct cs_store *s, const char *key, bool prefix);
void collect_kv(void *arg, const struct cs_kv *kv);
/* The key as the store holds it now; false when absent. */
bool get(const struct cs_store *s, const char *key, struct got_kv *out);
void assert_kv(const struct got_kv *kv, const char *key, const char *value, uint64_t create, uint64_t mod,
               uint64_t version);
void assert_ok(const struct got *g, uint64_t revision);
/* A request written byte by byte (struct hand), as the layout in config.h draws it. */
void h_bytes(struct hand *h, const void *p, size_t n);
void h_uint(struct hand *h, uint64_t v, int bytes);
void h_sign(struct hand *h, const uint8_t key[32]);
/* magic, instance, id 0x01..0x10, the three counts. */
void h_header(struct hand *h, uint64_t instance, int ncompare, int nsuccess, int nfailure);
/*
 * One compare of key "k" on version (= 0), one compare of "k" on value (= "v"), a put of
 * "k" = "v1" on success, a prefix delete of "p/" and a range of "k" on failure.
 */
void h_sample(struct hand *h, const uint8_t key[32]);
void sample_request(struct cs_request *r);
/* Puts keys prefix + (first .. first + n - 1 in digits digits), per_request to a request. */
void put_many(struct cs_store *s, const char *prefix, int digits, size_t first, size_t n, const uint8_t *value,
              size_t value_len, size_t per_request);
/* A watch's events captured (static storage); expect < 0: the watch must fail with it. */
void on_event(void *arg, const struct cs_event *e);
struct watched *watch(const struct cs_store *s, uint64_t from, const char *prefix, size_t limit, uint64_t *next,
                      int expect);
/* The snapshot of s, in a malloc'd buffer the test frees. */
uint8_t *snap(const struct cs_store *s, size_t *len);
void restore_ok(struct cs_store *s, const uint8_t *bytes, size_t len);
/* a and b hold the same state: the same digest, revision and snapshot bytes. */
void assert_same_state(const struct cs_store *a, const struct cs_store *b);
void assert_same_kv(const struct got_kv *x, const struct got_kv *y);
/* Applies one entry to a and b: the same status and result on both. Returns the status. */
int apply_both(struct cs_store *a, struct cs_store *b, const uint8_t *bytes, size_t len, struct got *out);
int run_both(struct cs_store *a, struct cs_store *b, const struct cs_request *r, const uint8_t key[32]);
void hash_event(void *arg, const struct cs_event *e);
/* The same watch on a and b gives the same events, count, next revision and error. Returns the count. */
int assert_same_watch(const struct cs_store *a, const struct cs_store *b, uint64_t from, const char *prefix,
                      size_t limit);

#endif
