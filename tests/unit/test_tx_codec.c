/*
 * test_tx_codec.c - the raw transaction codec (subnode/chain/tx.h): Ethereum's
 * TransactionTests (Cancun expectations), transactions signed by manager-client's signer
 * (equal to ethers') decoded back, hand-built typed transactions, caps and fee helpers.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hex.h"
#include "common/keccak.h"
#include "common/secp.h"
#include "manager-client/manager_client.h"
#include "subnode/chain/tx.h"
#include "testutil.h"

#define RAW_MAX (256u * 1024)

static void hex_eq(const uint8_t *data, size_t len, const char *want, const char *what, const char *where)
{
    char *text = malloc(2 * len + 3);
    ck_assert_ptr_nonnull(text);
    hex_encode(data, len, text, 2 * len + 3);
    ck_assert_msg(strcasecmp(text, want) == 0, "%s %s:\n got %s\nwant %s", where, what, text, want);
    free(text);
}

/* Re-encoding what was decoded gives the same bytes. */
static void check_round_trip(const struct tx_signed *t, const char *where)
{
    struct rlp_buf buf;
    rlp_buf_init(&buf, 0);
    tx_encode(t, &buf);
    ck_assert_int_eq(rlp_buf_check(&buf, NULL), 0);
    ck_assert_msg(buf.len == t->raw_len && memcmp(buf.data, t->raw, buf.len) == 0, "%s: re-encoding differs", where);
    rlp_buf_free(&buf);
}

/* ---- TransactionTests ---- */

struct tt_counts {
    size_t files, cases, valid, invalid, failed;
};

/* The forks to read a case's expectation from, newest first (some cases stop at London). */
static const char *const forks[] = {"Cancun", "Shanghai", "Paris", "London", "Berlin"};

static void run_tt_file(const char *path, void *arg)
{
    struct tt_counts *counts = arg;
    counts->files++;
    cJSON *doc = testutil_read_json(path);
    static uint8_t raw[RAW_MAX];
    const cJSON *test;
    cJSON_ArrayForEach (test, doc) {
        const cJSON *results = cJSON_GetObjectItem(test, "result");
        const cJSON *expect = NULL;
        const char *fork = NULL;
        for (size_t i = 0; i < sizeof forks / sizeof forks[0] && expect == NULL; i++) {
            expect = cJSON_GetObjectItem(results, forks[i]);
            fork = forks[i];
        }
        ck_assert_msg(expect != NULL, "%s %s: no Cancun..Berlin result", path, test->string);
        const char *txbytes = cJSON_GetStringValue(cJSON_GetObjectItem(test, "txbytes"));
        ck_assert_ptr_nonnull(txbytes);
        size_t raw_len = 0;
        ck_assert_msg(hex_decode(txbytes, raw, sizeof raw, &raw_len, NULL) == 0, "%s: txbytes", path);
        counts->cases++;

        struct cohort_error err = {0};
        struct tx_signed *t = NULL;
        int rc = tx_decode(raw, raw_len, 0, &t, &err);
        if (rc == 0) rc = tx_validate_static(t, EVM_CANCUN, 1, NULL, &err);
        if (rc == 0) rc = tx_recover_sender(t, &err);
        const char *exception = cJSON_GetStringValue(cJSON_GetObjectItem(expect, "exception"));
        char where[512];
        snprintf(where, sizeof where, "%s %s (%s)", path, test->string, fork);
        if (exception != NULL) {
            counts->invalid++;
            /* TT_VERBOSE=1 lists each refusal beside the fixture's reason, to see they agree. */
            if (getenv("TT_VERBOSE") != NULL) fprintf(stderr, "%-60s %s\n", exception, err.message);
            if (rc == 0) {
                counts->failed++;
                fprintf(stderr, "%s: accepted, expected %s\n", where, exception);
            }
        } else {
            counts->valid++;
            if (rc != 0) {
                counts->failed++;
                fprintf(stderr, "%s: refused (%s), expected valid\n", where, err.message);
            } else {
                hex_eq(t->hash, 32, cJSON_GetStringValue(cJSON_GetObjectItem(expect, "hash")), "hash", where);
                hex_eq(t->tx.sender, 20, cJSON_GetStringValue(cJSON_GetObjectItem(expect, "sender")), "sender", where);
                /* "0x5208" or "0x0143a8": fixtures pad to whole bytes. */
                const char *gas_text = cJSON_GetStringValue(cJSON_GetObjectItem(expect, "intrinsicGas"));
                ck_assert_ptr_nonnull(gas_text);
                uint64_t intrinsic = strtoull(gas_text, NULL, 16);
                ck_assert_msg(chain_intrinsic_gas(&t->tx, EVM_CANCUN) == intrinsic, "%s: intrinsic gas", where);
                check_round_trip(t, where);
            }
        }
        tx_free(t);
    }
    cJSON_Delete(doc);
}

START_TEST(transaction_tests)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/ethereum-tests/TransactionTests", testutil_fixtures_dir());
    struct tt_counts counts = {0};
    /* testutil_walk aborts when the folder is missing: no fixtures is a failure, not a pass. */
    size_t files = testutil_walk(dir, ".json", run_tt_file, &counts);
    fprintf(stderr, "TransactionTests: %zu files, %zu cases (%zu valid, %zu invalid), %zu passed, %zu failed\n", files,
            counts.cases, counts.valid, counts.invalid, counts.cases - counts.failed, counts.failed);
    ck_assert_uint_ge(files, 200);
    ck_assert_uint_ge(counts.valid, 50);
    ck_assert_uint_ge(counts.invalid, 150);
    ck_assert_uint_eq(counts.failed, 0);
}
END_TEST

/* ---- Signed by manager-client (equal to ethers), decoded here ---- */

static u256 dec(const cJSON *v)
{
    u256 out = u256_zero();
    if (cJSON_IsString(v)) ck_assert_int_eq(u256_from_dec(v->valuestring, &out, NULL), 0);
    return out;
}

START_TEST(decodes_what_manager_client_signs)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/vectors/tx_vectors.json", testutil_source_dir());
    cJSON *root = testutil_read_json(path);
    const cJSON *c;
    int n = 0, typed = 0, creations = 0, with_keys = 0;
    cJSON_ArrayForEach (c, cJSON_GetObjectItem(root, "cases")) {
        struct mc_tx tx = {0};
        tx.type = cJSON_GetObjectItem(c, "type")->valueint == 2 ? MC_TX_EIP1559 : MC_TX_LEGACY;
        tx.chain_id = dec(cJSON_GetObjectItem(c, "chainId")).w[0];
        tx.nonce = dec(cJSON_GetObjectItem(c, "nonce")).w[0];
        tx.gas_limit = dec(cJSON_GetObjectItem(c, "gasLimit")).w[0];
        tx.value = dec(cJSON_GetObjectItem(c, "value"));
        tx.gas_price = dec(cJSON_GetObjectItem(c, "gasPrice"));
        tx.max_priority_fee_per_gas = dec(cJSON_GetObjectItem(c, "maxPriorityFeePerGas"));
        tx.max_fee_per_gas = dec(cJSON_GetObjectItem(c, "maxFeePerGas"));
        const cJSON *to = cJSON_GetObjectItem(c, "to");
        if (cJSON_IsString(to)) {
            tx.has_to = true;
            ck_assert_int_eq(hex_decode_exact(to->valuestring, tx.to, 20, NULL), 0);
        }
        static uint8_t data[4096];
        ck_assert_int_eq(hex_decode(cJSON_GetObjectItem(c, "data")->valuestring, data, sizeof data, &tx.data_len, NULL),
                         0);
        tx.data = data;
        struct mc_access_entry entries[8];
        static uint8_t keys[8][4][32];
        const cJSON *e;
        cJSON_ArrayForEach (e, cJSON_GetObjectItem(c, "accessList")) {
            ck_assert_uint_lt(tx.naccess, 8);
            struct mc_access_entry *entry = &entries[tx.naccess];
            ck_assert_int_eq(hex_decode_exact(cJSON_GetObjectItem(e, "address")->valuestring, entry->address, 20, NULL),
                             0);
            entry->nkeys = 0;
            const cJSON *k;
            cJSON_ArrayForEach (k, cJSON_GetObjectItem(e, "storageKeys")) {
                ck_assert_int_eq(hex_decode_exact(k->valuestring, keys[tx.naccess][entry->nkeys], 32, NULL), 0);
                entry->nkeys++;
            }
            entry->keys = (const uint8_t(*)[32])keys[tx.naccess];
            tx.naccess++;
        }
        tx.access_list = entries;

        uint8_t key[32], hash[32], want_signing[32], from[20];
        ck_assert_int_eq(hex_decode_exact(cJSON_GetObjectItem(c, "privateKey")->valuestring, key, 32, NULL), 0);
        ck_assert_int_eq(address_parse(cJSON_GetObjectItem(c, "from")->valuestring, from, NULL), 0);
        struct cohort_error err = {0};
        ck_assert_int_eq(mc_tx_signing_hash(&tx, want_signing, &err), 0);
        uint8_t *raw = NULL;
        size_t raw_len = 0;
        ck_assert_msg(mc_tx_sign(&tx, key, &raw, &raw_len, hash, &err) == 0, "%s", err.message);

        struct tx_signed *t = NULL;
        ck_assert_msg(tx_decode(raw, raw_len, 0, &t, &err) == 0, "case %d: %s", n, err.message);
        ck_assert_msg(tx_recover_sender(t, &err) == 0, "case %d: %s", n, err.message);
        ck_assert(t->sender_known);
        ck_assert_mem_eq(t->tx.sender, from, 20);
        ck_assert_mem_eq(t->hash, hash, 32);
        ck_assert_mem_eq(t->signing_hash, want_signing, 32);
        ck_assert_uint_eq(t->tx.type, tx.type == MC_TX_EIP1559 ? 2 : 0);
        ck_assert(t->has_chain_id);
        ck_assert_uint_eq(t->chain_id, tx.chain_id);
        ck_assert_uint_eq(t->tx.nonce, tx.nonce);
        ck_assert_uint_eq(t->tx.gas_limit, tx.gas_limit);
        ck_assert(u256_eq(t->tx.value, tx.value));
        if (tx.type == MC_TX_EIP1559) {
            typed++;
            ck_assert(u256_eq(t->tx.max_fee_per_gas, tx.max_fee_per_gas));
            ck_assert(u256_eq(t->tx.max_priority_fee_per_gas, tx.max_priority_fee_per_gas));
            ck_assert_uint_eq(t->tx.access_list_len, tx.naccess);
            for (size_t i = 0; i < tx.naccess; i++) {
                ck_assert_mem_eq(t->tx.access_list[i].address, entries[i].address, 20);
                ck_assert_uint_eq(t->tx.access_list[i].key_count, entries[i].nkeys);
                if (entries[i].nkeys > 0) {
                    with_keys++;
                    ck_assert_mem_eq(t->tx.access_list[i].keys, entries[i].keys, 32 * entries[i].nkeys);
                }
            }
        } else {
            ck_assert(u256_eq(t->tx.gas_price, tx.gas_price));
        }
        ck_assert(t->tx.has_to == tx.has_to);
        if (tx.has_to)
            ck_assert_mem_eq(t->tx.to, tx.to, 20);
        else
            creations++;
        ck_assert_uint_eq(t->tx.data_len, tx.data_len);
        if (tx.data_len > 0) ck_assert_mem_eq(t->tx.data, tx.data, tx.data_len);
        /* Some vectors give a gas limit below the intrinsic gas (signing does not care). */
        if (tx.gas_limit >= chain_intrinsic_gas(&t->tx, EVM_CANCUN))
            ck_assert_msg(tx_validate_static(t, EVM_CANCUN, tx.chain_id, NULL, &err) == 0, "case %d: %s", n,
                          err.message);
        /* The same transaction on another chain is refused. */
        ck_assert_int_eq(tx_validate_static(t, EVM_CANCUN, tx.chain_id + 1, NULL, &err), CHAIN_E_INVALID);
        check_round_trip(t, "manager-client vector");
        tx_free(t);
        free(raw);
        n++;
    }
    ck_assert_int_eq(n, 60);
    ck_assert_int_gt(typed, 0);
    ck_assert_int_gt(creations, 0);
    ck_assert_int_gt(with_keys, 0);
    cJSON_Delete(root);
}
END_TEST

/* ---- Hand-built typed transactions (types 1 and 3 have no signer elsewhere) ---- */

static const uint8_t test_key[32] = {0x45, 0xa9, 0x15, 0xe4, 0xd0, 0x60, 0x14, 0x9e, 0xb4, 0x36, 0x59,
                                     0x60, 0xe6, 0xa7, 0xa4, 0x5f, 0x33, 0x43, 0x93, 0x09, 0x30, 0x61,
                                     0x11, 0x6b, 0x19, 0x7e, 0x32, 0x40, 0x06, 0x5f, 0xf2, 0xd8};

/* Builds and signs type 1 or 3 with a small access list (and two blob hashes for 3); returns raw in buf. */
static void build_typed(unsigned type, struct rlp_buf *buf)
{
    uint8_t to[20], key[32], blob[32];
    memset(to, 0x11, 20);
    memset(key, 0x22, 32);
    memset(blob, 0x33, 32);
    blob[0] = 0x01;
    struct rlp_buf fields;
    rlp_buf_init(&fields, 0);
    size_t list = rlp_encode_list_begin(&fields);
    rlp_encode_u64(&fields, 7);                   /* chainId */
    rlp_encode_u64(&fields, 3);                   /* nonce */
    rlp_encode_u64(&fields, 2);                   /* gasPrice, or maxPriorityFeePerGas */
    if (type == 3) rlp_encode_u64(&fields, 1000); /* maxFeePerGas */
    rlp_encode_u64(&fields, 100000);
    rlp_encode_bytes(&fields, to, 20);
    rlp_encode_u64(&fields, 5);
    rlp_encode_bytes(&fields, (const uint8_t *)"\x00\x01", 2);
    size_t al = rlp_encode_list_begin(&fields);
    size_t entry = rlp_encode_list_begin(&fields);
    rlp_encode_bytes(&fields, to, 20);
    size_t keys = rlp_encode_list_begin(&fields);
    rlp_encode_bytes(&fields, key, 32);
    rlp_encode_list_end(&fields, keys);
    rlp_encode_list_end(&fields, entry);
    rlp_encode_list_end(&fields, al);
    if (type == 3) {
        rlp_encode_u64(&fields, 9); /* maxFeePerBlobGas */
        size_t blobs = rlp_encode_list_begin(&fields);
        rlp_encode_bytes(&fields, blob, 32);
        rlp_encode_bytes(&fields, blob, 32);
        rlp_encode_list_end(&fields, blobs);
    }
    /* Sign type || rlp(fields), then append yParity, r, s to the same list. */
    uint8_t type_byte = (uint8_t)type;
    struct rlp_buf unsigned_tx;
    rlp_buf_init(&unsigned_tx, 0);
    rlp_encode_raw(&unsigned_tx, &type_byte, 1);
    size_t copy_marker = rlp_encode_list_begin(&unsigned_tx);
    rlp_encode_raw(&unsigned_tx, fields.data + 0, fields.len); /* fields still open: copy the items */
    rlp_encode_list_end(&unsigned_tx, copy_marker);
    ck_assert_int_eq(rlp_buf_check(&unsigned_tx, NULL), 0);
    uint8_t hash[32], sig[65];
    keccak256(unsigned_tx.data, unsigned_tx.len, hash);
    ck_assert_int_eq(secp_sign(test_key, hash, sig, NULL), 0);
    rlp_encode_u64(&fields, sig[64]);
    rlp_encode_u256(&fields, u256_load_be(sig));
    rlp_encode_u256(&fields, u256_load_be(sig + 32));
    rlp_encode_list_end(&fields, list);
    ck_assert_int_eq(rlp_buf_check(&fields, NULL), 0);
    rlp_encode_raw(buf, &type_byte, 1);
    rlp_encode_raw(buf, fields.data, fields.len);
    ck_assert_int_eq(rlp_buf_check(buf, NULL), 0);
    rlp_buf_free(&unsigned_tx);
    rlp_buf_free(&fields);
}

START_TEST(typed_transactions)
{
    uint8_t want_sender[20];
    ck_assert_int_eq(secp_address_from_secret(test_key, want_sender, NULL), 0);
    for (unsigned type = 1; type <= 3; type += 2) {
        struct rlp_buf raw;
        rlp_buf_init(&raw, 0);
        build_typed(type, &raw);
        struct cohort_error err = {0};
        struct tx_signed *t = NULL;
        ck_assert_msg(tx_decode(raw.data, raw.len, 0, &t, &err) == 0, "type %u: %s", type, err.message);
        ck_assert_int_eq(tx_recover_sender(t, &err), 0);
        ck_assert_mem_eq(t->tx.sender, want_sender, 20);
        ck_assert_uint_eq(t->tx.type, type);
        ck_assert_uint_eq(t->chain_id, 7);
        ck_assert_uint_eq(t->tx.nonce, 3);
        ck_assert_uint_eq(t->tx.gas_limit, 100000);
        ck_assert_uint_eq(t->tx.data_len, 2);
        ck_assert_uint_eq(t->tx.access_list_len, 1);
        ck_assert_uint_eq(t->tx.access_list[0].key_count, 1);
        ck_assert_uint_eq(t->tx.access_list[0].keys[0], 0x22);
        uint8_t h[32];
        keccak256(raw.data, raw.len, h);
        ck_assert_mem_eq(t->hash, h, 32);
        if (type == 3) {
            ck_assert_uint_eq(t->tx.blob_count, 2);
            ck_assert_uint_eq(t->tx.blob_hashes[32], 0x01);
            ck_assert(u256_eq(t->tx.max_fee_per_blob_gas, u256_from_u64(9)));
            ck_assert(u256_eq(tx_fee_cap(&t->tx), u256_from_u64(1000)));
            ck_assert(u256_eq(tx_tip_cap(&t->tx), u256_from_u64(2)));
        } else {
            ck_assert(u256_eq(t->tx.gas_price, u256_from_u64(2)));
        }
        ck_assert_int_eq(tx_validate_static(t, EVM_CANCUN, 7, NULL, &err), 0);
        enum chain_reject_reason reason;
        ck_assert_int_eq(tx_validate_static(t, EVM_LONDON, 7, &reason, &err), type == 3 ? CHAIN_E_REJECTED : 0);
        check_round_trip(t, "typed");
        tx_free(t);

        /* Each single-byte change either fails to decode or decodes to something else. */
        for (size_t i = 0; i < raw.len; i++) {
            raw.data[i] ^= 0x01;
            if (tx_decode(raw.data, raw.len, 0, &t, NULL) == 0) {
                ck_assert(memcmp(t->hash, h, 32) != 0);
                check_round_trip(t, "mutated");
                tx_free(t);
            }
            raw.data[i] ^= 0x01;
        }
        /* Trailing bytes are refused. */
        rlp_encode_raw(&raw, (const uint8_t *)"\x00", 1);
        ck_assert_int_eq(tx_decode(raw.data, raw.len, 0, &t, &err), CHAIN_E_INVALID);
        ck_assert_ptr_null(t);
        rlp_buf_free(&raw);
    }
}
END_TEST

START_TEST(caps_and_shapes)
{
    static uint8_t big[TX_RAW_MAX_BYTES + 1];
    struct cohort_error err = {0};
    struct tx_signed *t = NULL;
    ck_assert_int_eq(tx_decode(big, sizeof big, 0, &t, &err), CHAIN_E_RANGE);
    ck_assert_msg(strstr(err.message, "131073 bytes is over the 131072-byte cap") != NULL, "%s", err.message);
    ck_assert_int_eq(tx_decode(big, 100, 50, &t, &err), CHAIN_E_RANGE);
    ck_assert_int_eq(tx_decode(big, 0, 0, &t, &err), CHAIN_E_INVALID);
    const uint8_t type5[] = {0x05, 0xc0};
    ck_assert_int_eq(tx_decode(type5, sizeof type5, 0, &t, &err), CHAIN_E_INVALID);
    ck_assert_msg(strstr(err.message, "type 0x05 is not supported") != NULL, "%s", err.message);
    const uint8_t string_item[] = {0x82, 0x01, 0x02};
    ck_assert_int_eq(tx_decode(string_item, sizeof string_item, 0, &t, &err), CHAIN_E_INVALID);
    /* A legacy transaction whose `to` has 19 bytes names the field. */
    uint8_t raw[200];
    size_t raw_len = 0;
    ck_assert_int_eq(
        hex_decode(
            "0xf85e8001825208930000000000000000000000000000000000000b0a801ba098ff921201554726367d2be8c804a7"
            "ff89ccf285ebc57dff8ae4c44b9c19ac4aa01887321be575c8095f789dd4c743dfe42c1820f9231f98a962b210e3ac2452a3",
            raw, sizeof raw, &raw_len, NULL),
        0);
    ck_assert_int_eq(tx_decode(raw, raw_len, 0, &t, &err), CHAIN_E_INVALID);
    ck_assert_msg(strstr(err.message, "field 3 (to)") != NULL, "%s", err.message);
    ck_assert_ptr_null(t);
    tx_free(NULL);
}
END_TEST

START_TEST(fee_helpers)
{
    struct chain_tx tx = {0};
    tx.type = 2;
    tx.max_fee_per_gas = u256_from_u64(100);
    tx.max_priority_fee_per_gas = u256_from_u64(10);
    /* Tip capped by the priority fee, then by the room under the max fee. */
    ck_assert(u256_eq(tx_effective_gas_price(&tx, u256_from_u64(50)), u256_from_u64(60)));
    ck_assert(u256_eq(tx_effective_tip(&tx, u256_from_u64(50)), u256_from_u64(10)));
    ck_assert(u256_eq(tx_effective_gas_price(&tx, u256_from_u64(95)), u256_from_u64(100)));
    ck_assert(u256_eq(tx_effective_tip(&tx, u256_from_u64(95)), u256_from_u64(5)));
    ck_assert(u256_eq(tx_effective_tip(&tx, u256_from_u64(100)), u256_zero()));
    tx.type = 0;
    tx.gas_price = u256_from_u64(70);
    ck_assert(u256_eq(tx_effective_gas_price(&tx, u256_from_u64(50)), u256_from_u64(70)));
    ck_assert(u256_eq(tx_effective_tip(&tx, u256_from_u64(50)), u256_from_u64(20)));
    ck_assert(u256_eq(tx_fee_cap(&tx), u256_from_u64(70)));
    ck_assert(u256_eq(tx_tip_cap(&tx), u256_from_u64(70)));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tx_codec");
    TCase *tc = tcase_create("tx_codec");
    tcase_add_test(tc, transaction_tests);
    tcase_add_test(tc, decodes_what_manager_client_signs);
    tcase_add_test(tc, typed_transactions);
    tcase_add_test(tc, caps_and_shapes);
    tcase_add_test(tc, fee_helpers);
    suite_add_tcase(s, tc);
    return testutil_run_suite(s, false);
}
