/* test_chain_config.c - the chain config: round trip, every validation rule, hostile JSON. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/chain_config.h"
#include "testutil.h"

static struct chain_config sample(void)
{
    struct chain_config c;
    memset(&c, 0, sizeof c);
    c.version = 1;
    snprintf(c.name, sizeof c.name, "alpha-1");
    c.chain_id = 7;
    c.evm_chain_id = 123456789;
    c.slots = 16;
    c.manager_chain_id = 31337;
    c.manager_address[19] = 0x42;
    c.node_id = 12;
    c.member_index = 1;
    c.nmembers = 4;
    for (unsigned i = 0; i < 4; i++) {
        c.members[i].node_id = 11 + i;
        snprintf(c.members[i].ip, sizeof c.members[i].ip, "127.0.0.%u", i + 1);
        c.members[i].base_port = 10000;
        c.members[i].first_slot = 16 * i;
        memset(c.members[i].public_key, (int)i + 1, 64);
    }
    c.genesis_gas_limit = 30000000;
    c.genesis_timestamp = 1700000000;
    c.nalloc = 1;
    c.alloc[0].address[0] = 0xf3;
    c.alloc[0].balance = u256_from_u64(1000000000000000000ull);
    c.disk_bytes = 1 << 30;
    c.txpool_max_transactions = 10000;
    c.txpool_max_bytes = 64 << 20;
    return c;
}

START_TEST(round_trip_and_hash)
{
    struct chain_config c = sample(), back;
    struct cohort_error err = {0};
    char *json = NULL;
    ck_assert_msg(chain_config_encode(&c, &json, &err) == 0, "%s", err.message);
    ck_assert_msg(chain_config_decode(json, strlen(json), &back, &err) == 0, "%s", err.message);
    ck_assert_mem_eq(&back, &c, sizeof c);
    ck_assert_ptr_null(strstr(json, "\"epoch\"")); /* epoch 0 is left out: older files hash the same */
    free(json);
    c.epoch = 3; /* after three rotations */
    ck_assert_msg(chain_config_encode(&c, &json, &err) == 0, "%s", err.message);
    memset(&back, 0, sizeof back);
    ck_assert_msg(chain_config_decode(json, strlen(json), &back, &err) == 0, "%s", err.message);
    ck_assert_uint_eq(back.epoch, 3);
    ck_assert_mem_eq(&back, &c, sizeof c);
    char h1[67], h2[67];
    chain_config_hash(json, strlen(json), h1);
    ck_assert_uint_eq(strlen(h1), 66);
    json[strlen(json) - 2] = ' '; /* any byte changed: another hash */
    chain_config_hash(json, strlen(json), h2);
    ck_assert_str_ne(h1, h2);
    free(json);
}
END_TEST

START_TEST(validation_rules)
{
    struct cohort_error err = {0};
    struct chain_config c = sample();
    ck_assert_int_eq(chain_config_validate(&c, &err), 0);
    int n = 0;
#define CASE(body, text)                                                                                              \
    do {                                                                                                              \
        struct chain_config x = sample();                                                                             \
        body;                                                                                                         \
        ck_assert_int_eq(chain_config_validate(&x, &err), COMMON_E_INVALID);                                          \
        ck_assert_msg(strstr(err.message, text) != NULL, "%s", err.message);                                          \
        n++;                                                                                                          \
    } while (0)
    CASE(x.version = 2, "version 2");
    CASE(snprintf(x.name, sizeof x.name, "Alpha"), "chain name");
    CASE(snprintf(x.name, sizeof x.name, "-a"), "chain name");
    CASE(x.slots = 3, "slots 3");
    CASE(x.node_id = 99, "not the member");
    CASE(x.members[2].node_id = 11, "listed twice");
    CASE(x.members[3].first_slot = 120, "out of range");
    CASE(x.members[0].base_port = 65500, "out of range");
    CASE(x.genesis_gas_limit = 10, "gas limit");
    CASE(x.nmembers = 0, "no members");
    ck_assert_int_eq(n, 10);
    ck_assert(chain_name_valid("a"));
    ck_assert(chain_name_valid("abc-123"));
    ck_assert(!chain_name_valid(""));
    ck_assert(!chain_name_valid("a_b"));
    ck_assert(!chain_name_valid("a-"));
}
END_TEST

START_TEST(hostile_json)
{
    struct chain_config c;
    struct cohort_error err = {0};
    const char *bad[] = {
        "", "[]", "{\"version\":1}", "{\"version\":1.5}", "{\"version\":-1}",
        "{\"version\":1,\"chain\":{},\"manager\":{},\"member\":{},\"members\":[],\"genesis\":{},\"limits\":{}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(chain_config_decode(bad[i], strlen(bad[i]), &c, &err) < 0, "case %zu accepted", i);
    /* Over the size cap: refused before parsing. */
    size_t big = CHAIN_CONFIG_MAX_BYTES + 1;
    char *text = malloc(big);
    memset(text, ' ', big);
    ck_assert_int_eq(chain_config_decode(text, big, &c, &err), COMMON_E_RANGE);
    free(text);
    /* A bad public key names its field. */
    struct chain_config s = sample();
    char *json = NULL;
    ck_assert_int_eq(chain_config_encode(&s, &json, &err), 0);
    char *pk = strstr(json, "\"public_key\":\t\"0x");
    ck_assert_ptr_nonnull(pk);
    pk[strlen("\"public_key\":\t\"0x")] = 'z';
    ck_assert_int_eq(chain_config_decode(json, strlen(json), &c, &err), COMMON_E_INVALID);
    ck_assert_ptr_nonnull(strstr(err.message, "members[].public_key"));
    free(json);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("chain_config");
    TCase *tc = tcase_create("chain_config");
    tcase_add_test(tc, round_trip_and_hash);
    tcase_add_test(tc, validation_rules);
    tcase_add_test(tc, hostile_json);
    suite_add_tcase(s, tc);
    return testutil_run_suite(s, false);
}
