/*
 * host.h - the VM's host interface (struct evm_host in subnode/evm/evm.h) backed by a
 * struct state: what evm_execute reads and changes goes to the state and its journal.
 */
#ifndef COHORT_STATE_HOST_H
#define COHORT_STATE_HOST_H

#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"
#include "subnode/evm/evm.h"
#include "subnode/state/state.h"

/*
 * The host's context. The caller owns it (usually on its stack) and keeps it alive while
 * evm_execute runs; it holds no allocation of its own.
 *   block_hash: answers BLOCKHASH for the 256 blocks before the current one; NULL answers
 *               zeros. block_hash_arg is passed through.
 *   error:      the last failure of a state operation (out of memory), for host_error.
 */
struct state_host {
    struct state *st;
    enum evm_revision revision; /* SELFDESTRUCT deletes always before Cancun, EIP-6780 after */
    void (*block_hash)(void *arg, uint64_t number, uint8_t out[32]);
    void *block_hash_arg;
    struct cohort_error error;
};

/*
 * Initialises host over st for revision and fills *iface with the function table and host as its ctx.
 * Neither keeps anything but the pointers given; iface is valid while host and st are.
 */
void state_host_init(struct state_host *host, struct state *st, enum evm_revision revision, struct evm_host *iface);

#endif
