/*
 * host.c - struct evm_host over struct state (see host.h). Each function is a thin
 * translation; the rules (journal, EIP-161 touches, EIP-6780) live in state.c, except
 * SELFDESTRUCT's balance moves, which EIP-6780 defines in terms of the host.
 */
#include "host.h"

#include <assert.h>
#include <string.h>

static struct state_host *H(void *ctx)
{
    assert(ctx != NULL);
    return ctx;
}

/* Turns a state status into the host's convention: 0 ok, negative failed (error kept). */
static int check(int rc) { return rc == 0 ? 0 : -1; }

static bool account_exists(void *ctx, const uint8_t address[20]) { return state_exists(H(ctx)->st, address); }
static bool account_is_empty(void *ctx, const uint8_t address[20]) { return state_is_empty(H(ctx)->st, address); }
static bool account_has_storage(void *ctx, const uint8_t address[20])
{
    return state_has_storage(H(ctx)->st, address);
}

static int access_account(void *ctx, const uint8_t address[20])
{
    struct state_host *h = H(ctx);
    bool was_warm = false;
    if (state_warm_account(h->st, address, &was_warm, &h->error) != 0) return -1;
    return was_warm ? 0 : 1;
}

static int access_storage(void *ctx, const uint8_t address[20], u256 key)
{
    struct state_host *h = H(ctx);
    bool was_warm = false;
    if (state_warm_slot(h->st, address, key, &was_warm, &h->error) != 0) return -1;
    return was_warm ? 0 : 1;
}

static u256 get_balance(void *ctx, const uint8_t address[20]) { return state_balance(H(ctx)->st, address); }
static uint64_t get_nonce(void *ctx, const uint8_t address[20]) { return state_nonce(H(ctx)->st, address); }
static int set_nonce(void *ctx, const uint8_t address[20], uint64_t nonce)
{
    return check(state_set_nonce(H(ctx)->st, address, nonce, &H(ctx)->error));
}

static const uint8_t *get_code(void *ctx, const uint8_t address[20], size_t *size)
{
    return state_code(H(ctx)->st, address, size);
}

static void get_code_hash(void *ctx, const uint8_t address[20], uint8_t out[32])
{
    struct state_host *h = H(ctx);
    /* EIP-1052 with EIP-161: an empty account reads as absent. */
    if (state_is_dead(h->st, address))
        memset(out, 0, 32);
    else
        state_code_hash(h->st, address, out);
}

static int set_code(void *ctx, const uint8_t address[20], const uint8_t *code, size_t size)
{
    return check(state_set_code(H(ctx)->st, address, code, size, &H(ctx)->error));
}

static u256 get_storage(void *ctx, const uint8_t address[20], u256 key)
{
    return state_storage(H(ctx)->st, address, key);
}

static u256 get_committed_storage(void *ctx, const uint8_t address[20], u256 key)
{
    return state_storage_original(H(ctx)->st, address, key);
}

static int set_storage(void *ctx, const uint8_t address[20], u256 key, u256 value)
{
    return check(state_set_storage(H(ctx)->st, address, key, value, &H(ctx)->error));
}

static u256 get_transient(void *ctx, const uint8_t address[20], u256 key)
{
    return state_transient(H(ctx)->st, address, key);
}

static int set_transient(void *ctx, const uint8_t address[20], u256 key, u256 value)
{
    return check(state_set_transient(H(ctx)->st, address, key, value, &H(ctx)->error));
}

static int transfer(void *ctx, const uint8_t from[20], const uint8_t to[20], u256 value)
{
    struct state_host *h = H(ctx);
    if (u256_is_zero(value)) return 0;
    if (state_sub_balance(h->st, from, value, &h->error) != 0) return -1;
    return check(state_add_balance(h->st, to, value, &h->error));
}

static int touch_account(void *ctx, const uint8_t address[20])
{
    return check(state_touch(H(ctx)->st, address, &H(ctx)->error));
}

static int create_account(void *ctx, const uint8_t address[20])
{
    return check(state_create_account(H(ctx)->st, address, &H(ctx)->error));
}

static int selfdestruct(void *ctx, const uint8_t address[20], const uint8_t beneficiary[20])
{
    struct state_host *h = H(ctx);
    u256 balance = state_balance(h->st, address);
    if (state_sub_balance(h->st, address, balance, &h->error) != 0 ||
        state_add_balance(h->st, beneficiary, balance, &h->error) != 0)
        return -1;
    /*
     * EIP-6780 (Cancun): only an account created in this transaction is deleted. Before it,
     * every self-destructed account is. A deleted account's balance, even one it sent to
     * itself, burns.
     */
    if (h->revision >= EVM_CANCUN && !state_created_in_tx(h->st, address)) return 0;
    if (state_set_balance(h->st, address, u256_zero(), &h->error) != 0) return -1;
    return check(state_mark_destructed(h->st, address, &h->error));
}

static int emit_log(void *ctx, const uint8_t address[20], const uint8_t *topics, unsigned topic_count,
                    const uint8_t *data, size_t data_size)
{
    return check(state_add_log(H(ctx)->st, address, topics, topic_count, data, data_size, &H(ctx)->error));
}

static size_t snapshot(void *ctx) { return state_snapshot(H(ctx)->st); }
static void revert_to(void *ctx, size_t snap) { state_revert(H(ctx)->st, snap); }

static void get_block_hash(void *ctx, uint64_t number, uint8_t out[32])
{
    struct state_host *h = H(ctx);
    if (h->block_hash == NULL)
        memset(out, 0, 32);
    else
        h->block_hash(h->block_hash_arg, number, out);
}

static void host_error(void *ctx, struct cohort_error *err)
{
    if (err != NULL) *err = H(ctx)->error;
}

void state_host_init(struct state_host *host, struct state *st, enum evm_revision revision, struct evm_host *iface)
{
    assert(host != NULL && st != NULL);
    assert(iface != NULL);
    memset(host, 0, sizeof *host);
    host->st = st;
    host->revision = revision;
    *iface = (struct evm_host){
        .ctx = host,
        .account_exists = account_exists,
        .account_is_empty = account_is_empty,
        .account_has_storage = account_has_storage,
        .access_account = access_account,
        .access_storage = access_storage,
        .get_balance = get_balance,
        .get_nonce = get_nonce,
        .set_nonce = set_nonce,
        .get_code = get_code,
        .get_code_hash = get_code_hash,
        .set_code = set_code,
        .get_storage = get_storage,
        .get_committed_storage = get_committed_storage,
        .set_storage = set_storage,
        .get_transient = get_transient,
        .set_transient = set_transient,
        .transfer = transfer,
        .touch_account = touch_account,
        .create_account = create_account,
        .selfdestruct = selfdestruct,
        .emit_log = emit_log,
        .snapshot = snapshot,
        .revert_to = revert_to,
        .get_block_hash = get_block_hash,
        .host_error = host_error,
    };
}
