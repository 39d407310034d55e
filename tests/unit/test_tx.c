/* test_tx.c - transactions signed here equal ethers' byte for byte (legacy EIP-155 and EIP-1559). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hex.h"
#include "manager-client/manager_client.h"
#include "testutil.h"

static u256 dec(const cJSON *v)
{
    u256 out = u256_zero();
    if (cJSON_IsString(v)) ck_assert_int_eq(u256_from_dec(v->valuestring, &out, NULL), 0);
    return out;
}

static uint64_t dec64(const cJSON *v)
{
    u256 x = dec(v);
    ck_assert(u256_fits_u64(x));
    return x.w[0];
}

static void hex_eq(const uint8_t *data, size_t len, const char *want, const char *what, int index)
{
    char *text = malloc(2 * len + 3);
    hex_encode(data, len, text, 2 * len + 3);
    ck_assert_msg(strcmp(text, want) == 0, "case %d %s:\n got %s\nwant %s", index, what, text, want);
    free(text);
}

START_TEST(equal_to_ethers)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/vectors/tx_vectors.json", testutil_source_dir());
    cJSON *root = testutil_read_json(path), *c;
    int n = 0, eip1559 = 0, with_access = 0, creations = 0;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(root, "cases"))
    {
        struct mc_tx tx = {0};
        tx.type = cJSON_GetObjectItem(c, "type")->valueint == 2 ? MC_TX_EIP1559 : MC_TX_LEGACY;
        tx.chain_id = dec64(cJSON_GetObjectItem(c, "chainId"));
        tx.nonce = dec64(cJSON_GetObjectItem(c, "nonce"));
        tx.gas_limit = dec64(cJSON_GetObjectItem(c, "gasLimit"));
        tx.value = dec(cJSON_GetObjectItem(c, "value"));
        tx.gas_price = dec(cJSON_GetObjectItem(c, "gasPrice"));
        tx.max_priority_fee_per_gas = dec(cJSON_GetObjectItem(c, "maxPriorityFeePerGas"));
        tx.max_fee_per_gas = dec(cJSON_GetObjectItem(c, "maxFeePerGas"));
        const cJSON *to = cJSON_GetObjectItem(c, "to");
        if (cJSON_IsString(to)) {
            tx.has_to = true;
            ck_assert_int_eq(hex_decode_exact(to->valuestring, tx.to, 20, NULL), 0);
        } else {
            creations++;
        }
        static uint8_t data[4096];
        ck_assert_int_eq(hex_decode(cJSON_GetObjectItem(c, "data")->valuestring, data, sizeof data, &tx.data_len, NULL), 0);
        tx.data = data;
        struct mc_access_entry entries[8];
        static uint8_t keys[8][4][32];
        const cJSON *e;
        cJSON_ArrayForEach(e, cJSON_GetObjectItem(c, "accessList"))
        {
            struct mc_access_entry *entry = &entries[tx.naccess];
            ck_assert_int_eq(hex_decode_exact(cJSON_GetObjectItem(e, "address")->valuestring, entry->address, 20, NULL), 0);
            entry->nkeys = 0;
            const cJSON *k;
            cJSON_ArrayForEach(k, cJSON_GetObjectItem(e, "storageKeys"))
            {
                ck_assert_int_eq(hex_decode_exact(k->valuestring, keys[tx.naccess][entry->nkeys], 32, NULL), 0);
                entry->nkeys++;
            }
            entry->keys = (const uint8_t(*)[32])keys[tx.naccess];
            tx.naccess++;
        }
        tx.access_list = entries;
        if (tx.naccess) with_access++;
        if (tx.type == MC_TX_EIP1559) eip1559++;

        uint8_t key[32], hash[32], signing[32];
        ck_assert_int_eq(hex_decode_exact(cJSON_GetObjectItem(c, "privateKey")->valuestring, key, 32, NULL), 0);
        struct cohort_error err = {0};
        ck_assert_int_eq(mc_tx_signing_hash(&tx, signing, &err), 0);
        hex_eq(signing, 32, cJSON_GetObjectItem(c, "signingHash")->valuestring, "signing hash", n);
        uint8_t *raw;
        size_t raw_len;
        ck_assert_msg(mc_tx_sign(&tx, key, &raw, &raw_len, hash, &err) == 0, "%s", err.message);
        hex_eq(raw, raw_len, cJSON_GetObjectItem(c, "raw")->valuestring, "raw", n);
        hex_eq(hash, 32, cJSON_GetObjectItem(c, "hash")->valuestring, "hash", n);
        free(raw);
        n++;
    }
    ck_assert_int_eq(n, 60);
    ck_assert_int_gt(eip1559, 0);
    ck_assert_int_gt(with_access, 0);
    ck_assert_int_gt(creations, 0);
    cJSON_Delete(root);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tx");
    TCase *tc = tcase_create("tx");
    tcase_add_test(tc, equal_to_ethers);
    suite_add_tcase(s, tc);
    return testutil_run_suite(s, false);
}
