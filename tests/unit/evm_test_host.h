/*
 * evm_test_host.h - a small in-memory world behind the VM's host interface, for the EVM's
 * unit tests and its fuzz target (not a library: test_evm.c and fuzz_evm.c include
 * evm_test_host.c directly, because each test binary is built from one source file).
 *
 * Accounts and storage slots live in fixed-size open-addressed tables; every change is
 * journaled as the old record, so revert_to() restores records exactly. Code and log data
 * are copied into an append-only arena freed with the host. Caps (TEST_HOST_*) are far above
 * what a test or a fuzz input with a gas cap reaches; past them the host reports a failure,
 * which evm_execute turns into EVM_E_HOST (never a crash).
 */
#ifndef COHORT_TESTS_EVM_TEST_HOST_H
#define COHORT_TESTS_EVM_TEST_HOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/u256.h"
#include "subnode/evm/evm.h"

/* Caps; an includer may define smaller ones first (the fuzz target does, for speed). */
#ifndef TEST_HOST_ACCOUNTS
#define TEST_HOST_ACCOUNTS 4096 /* power of two */
#endif
#ifndef TEST_HOST_SLOTS
#define TEST_HOST_SLOTS 16384 /* power of two */
#endif
#ifndef TEST_HOST_LOGS
#define TEST_HOST_LOGS 4096
#endif
#ifndef TEST_HOST_ARENA
#define TEST_HOST_ARENA ((size_t)64 << 20)
#endif

struct test_log {
    uint8_t address[20];
    unsigned topic_count;
    uint8_t topics[4][32];
    const uint8_t *data; /* in the host's arena */
    size_t data_size;
};

struct test_host;

/* A new empty world (NULL when out of memory); free with test_host_free. */
struct test_host *test_host_new(void);
void test_host_free(struct test_host *th);
/* Fills iface with the function table; th is its ctx. */
void test_host_interface(struct test_host *th, struct evm_host *iface);

/* Genesis: creates or replaces an account (code copied), and sets a committed slot. */
void test_host_put_account(struct test_host *th, const uint8_t address[20], uint64_t nonce, u256 balance,
                           const uint8_t *code, size_t code_size);
void test_host_put_storage(struct test_host *th, const uint8_t address[20], u256 key, u256 value);

/*
 * Starts a transaction: the current storage becomes the committed one, the journal, warm
 * sets, transient storage, created marks and logs are cleared. Then warms origin and
 * recipient and the precompiles (what evm.h asks of the caller).
 */
void test_host_begin_tx(struct test_host *th, const uint8_t origin[20], const uint8_t recipient[20],
                        enum evm_revision revision);

bool test_host_exists(struct test_host *th, const uint8_t address[20]);
u256 test_host_balance(struct test_host *th, const uint8_t address[20]);
uint64_t test_host_nonce(struct test_host *th, const uint8_t address[20]);
u256 test_host_storage(struct test_host *th, const uint8_t address[20], u256 key);
const uint8_t *test_host_code(struct test_host *th, const uint8_t address[20], size_t *size);
bool test_host_destructed(struct test_host *th, const uint8_t address[20]);
size_t test_host_log_count(const struct test_host *th);
const struct test_log *test_host_log(const struct test_host *th, size_t index);
/* Journal entries recorded so far (to check that a reverted frame left none behind). */
size_t test_host_journal_size(const struct test_host *th);

#endif
