/*
 * test_errors.c - error codes are unique across cohort (common/error.h): every library's
 * codes lie in its own block, no code belongs to two libraries, and cohort_error_library
 * names the owner of each. A library's codes are found through its *_strerror, which knows
 * every code of its enum: this test fails when a code added to one library collides with
 * another library's, or leaves its block.
 */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "bft/bft.h"
#include "common/error.h"
#include "config/config.h"
#include "contracts-abi/abi.h"
#include "docker/docker.h"
#include "manager-client/manager_client.h"
#include "metrics/metrics.h"
#include "subnode/chain/chain.h"
#include "subnode/crypto/curves.h"
#include "subnode/evm/evm.h"
#include "subnode/state/trie.h"
#include "subnode/rpc/rpc.h"
#include "subnode/statetest/statetest.h"
#include "subnode/store/store.h"
#include "testutil.h"

struct library {
    const char *name; /* as cohort_error_library says it */
    int base;
    const char *(*strerror)(int code);
};

static const struct library libraries[] = {
    {"bft", COHORT_ERRORS_BFT, bft_strerror},
    {"common", COHORT_ERRORS_COMMON, common_strerror},
    {"abi", COHORT_ERRORS_ABI, abi_strerror},
    {"manager-client", COHORT_ERRORS_MC, mc_strerror},
    {"docker", COHORT_ERRORS_DOCKER, docker_strerror},
    {"config", COHORT_ERRORS_CONFIG, cs_strerror},
    {"curves", COHORT_ERRORS_CURVES, curves_strerror},
    {"evm", COHORT_ERRORS_EVM, evm_strerror},
    {"state", COHORT_ERRORS_STATE, state_strerror},
    {"chain", COHORT_ERRORS_CHAIN, chain_strerror},
    {"statetest", COHORT_ERRORS_STATETEST, statetest_strerror},
    {"store", COHORT_ERRORS_STORE, store_strerror},
    {"rpc", COHORT_ERRORS_RPC, rpc_strerror},
    {"metrics", COHORT_ERRORS_METRICS, metrics_strerror},
};
#define NLIBRARIES (sizeof libraries / sizeof libraries[0])
_Static_assert(NLIBRARIES == COHORT_ERRORS_LIBRARIES, "every block of common/error.h is tested");

/* Codes scanned: every block, and one more past the last. */
#define LOWEST (-(COHORT_ERRORS_LIBRARIES + 1) * COHORT_ERRORS_BLOCK)

/* Whether lib's strerror knows code (its text for an unknown code is the one for 1, never a code). */
static bool knows(const struct library *lib, int code)
{
    return strcmp(lib->strerror(code), lib->strerror(1)) != 0;
}

START_TEST(every_code_lies_in_its_library_block)
{
    for (size_t i = 0; i < NLIBRARIES; i++) {
        const struct library *lib = &libraries[i];
        int found = 0;
        for (int code = -1; code >= LOWEST; code--) {
            if (!knows(lib, code)) continue;
            found++;
            ck_assert_msg(code < lib->base && code > lib->base - COHORT_ERRORS_BLOCK,
                          "%s's code %d (%s) is outside its block %d..%d", lib->name, code, lib->strerror(code),
                          lib->base - 1, lib->base - COHORT_ERRORS_BLOCK + 1);
            const char *owner = cohort_error_library(code);
            ck_assert_msg(owner != NULL && strcmp(owner, lib->name) == 0, "code %d of %s: cohort_error_library says %s",
                          code, lib->name, owner ? owner : "(none)");
        }
        ck_assert_msg(found > 0, "%s has no codes (or its strerror knows none)", lib->name);
    }
}
END_TEST

START_TEST(no_two_libraries_share_a_code)
{
    for (int code = -1; code >= LOWEST; code--) {
        const struct library *first = NULL;
        for (size_t i = 0; i < NLIBRARIES; i++) {
            if (!knows(&libraries[i], code)) continue;
            ck_assert_msg(first == NULL, "code %d is %s's \"%s\" and %s's \"%s\"", code, first ? first->name : "",
                          first ? first->strerror(code) : "", libraries[i].name, libraries[i].strerror(code));
            first = &libraries[i];
        }
    }
    /* The collision that started this: a refused key read as a reverted call. */
    ck_assert_int_ne(COMMON_E_CRYPTO, MC_E_REVERTED);
    ck_assert_str_eq(cohort_error_library(COMMON_E_CRYPTO), "common");
    ck_assert_str_eq(cohort_error_library(MC_E_REVERTED), "manager-client");
}
END_TEST

START_TEST(blocks_are_distinct_and_named)
{
    for (size_t i = 0; i < NLIBRARIES; i++) {
        ck_assert_int_eq(libraries[i].base % COHORT_ERRORS_BLOCK, 0);
        for (size_t j = 0; j < i; j++) {
            ck_assert_int_ne(libraries[i].base, libraries[j].base);
            ck_assert_str_ne(libraries[i].name, libraries[j].name);
        }
    }
    ck_assert_ptr_null(cohort_error_library(0));
    ck_assert_ptr_null(cohort_error_library(7));
    ck_assert_ptr_null(cohort_error_library(LOWEST));
    ck_assert_str_eq(cohort_error_library(DOCKER_E_CONFLICT), "docker");
    ck_assert_str_eq(cohort_error_library(BFT_E_FULL), "bft");
    ck_assert_str_eq(cohort_error_library(STATETEST_E_USAGE), "statetest");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("errors");
    TCase *tc = tcase_create("errors");
    tcase_add_test(tc, every_code_lies_in_its_library_block);
    tcase_add_test(tc, no_two_libraries_share_a_code);
    tcase_add_test(tc, blocks_are_distinct_and_named);
    suite_add_tcase(s, tc);
    return testutil_run_suite(s, false);
}
