/*
 * methods_state.c - state reads at a block: eth_getBalance, eth_getCode, eth_getStorageAt,
 * eth_getTransactionCount; eth_call, eth_estimateGas and eth_createAccessList run in
 * exec.c.
 */
#include <string.h>

#include "rpc_internal.h"

/* Reads the account at the block of parameter index 1 (or index): 1 exists, 0 absent, -1 error. */
static int account_at(struct rpc_call *c, uint32_t block_param, const uint8_t address[20], uint64_t *number,
                      struct store_account *out)
{
    struct rpc_block_ref ref;
    if (rpc_param_block(c, block_param, &ref) != 0) return -1;
    if (rpc_resolve_state_block(c, &ref, number, NULL, NULL) != 1) return -1;
    struct cohort_error err = {0};
    int rc = store_account(c->view, *number, address, out, &err);
    if (rc < 0) return rpc_fail_store(c, RPC_ERR_INTERNAL, &err);
    return rc;
}

int rpc_m_eth_getBalance(struct rpc_call *c)
{
    uint8_t address[20];
    if (rpc_param_address(c, 0, address) != 0) return -1;
    uint64_t number;
    struct store_account a;
    int rc = account_at(c, 1, address, &number, &a);
    if (rc < 0) return -1;
    rpc_buf_quantity256(c->out, rc == 1 ? a.balance : u256_zero());
    return 0;
}

int rpc_m_eth_getTransactionCount(struct rpc_call *c)
{
    uint8_t address[20];
    if (rpc_param_address(c, 0, address) != 0) return -1;
    struct rpc_block_ref ref;
    if (rpc_param_block(c, 1, &ref) != 0) return -1;
    const struct rpc_chain *ch = &c->rpc->chain;
    if (ref.kind == RPC_REF_TAG && ref.tag == RPC_TAG_PENDING && ch->pool_pending_nonce != NULL) {
        uint64_t nonce;
        if (ch->pool_pending_nonce(ch->ctx, address, &nonce) == 1) {
            rpc_buf_quantity(c->out, nonce);
            return 0;
        }
    }
    uint64_t number;
    struct store_account a;
    int rc = account_at(c, 1, address, &number, &a);
    if (rc < 0) return -1;
    rpc_buf_quantity(c->out, rc == 1 ? a.nonce : 0);
    return 0;
}

int rpc_m_eth_getCode(struct rpc_call *c)
{
    uint8_t address[20];
    if (rpc_param_address(c, 0, address) != 0) return -1;
    uint64_t number;
    struct store_account a;
    int rc = account_at(c, 1, address, &number, &a);
    if (rc < 0) return -1;
    if (rc == 0) {
        rpc_buf_puts(c->out, "\"0x\"");
        return 0;
    }
    const uint8_t *code = NULL;
    size_t len = 0;
    struct cohort_error err = {0};
    rc = store_code(c->view, a.code_hash, &code, &len, &err);
    if (rc < 0) return rpc_fail_store(c, RPC_ERR_INTERNAL, &err);
    rpc_buf_hex(c->out, code, rc == 1 ? len : 0);
    return 0;
}

int rpc_m_eth_getStorageAt(struct rpc_call *c)
{
    uint8_t address[20];
    u256 slot;
    if (rpc_param_address(c, 0, address) != 0 || rpc_param_slot(c, 1, &slot) != 0) return -1;
    struct rpc_block_ref ref;
    if (rpc_param_block(c, 2, &ref) != 0) return -1;
    uint64_t number;
    if (rpc_resolve_state_block(c, &ref, &number, NULL, NULL) != 1) return -1;
    u256 value;
    struct cohort_error err = {0};
    if (store_storage(c->view, number, address, slot, &value, &err) < 0) return rpc_fail_store(c, RPC_ERR_INTERNAL, &err);
    uint8_t word[32];
    u256_store_be(word, value);
    rpc_buf_hex(c->out, word, 32);
    return 0;
}

int rpc_m_eth_call(struct rpc_call *c) { return rpc_exec_call(c); }
int rpc_m_eth_estimateGas(struct rpc_call *c) { return rpc_exec_estimate(c); }
int rpc_m_eth_createAccessList(struct rpc_call *c) { return rpc_exec_access_list(c); }
