/*
 * txpool_util.c - what the transaction pool's unit tests share (txpool_util.h): test keys,
 * signed test transactions, a pool with the tests' config, and a chain the pool reads
 * nonces and balances from. Linked into test_txpool and test_txpool_model only
 * (tests/CMakeLists.txt); the helpers assert with check.
 */
#include "txpool_util.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "common/secp.h"
#include "manager-client/manager_client.h"

uint8_t keys[NKEYS][32];
uint8_t addrs[NKEYS][20];

void keys_init(void)
{
    static bool done;
    if (done) return;
    for (int i = 0; i < NKEYS; i++) {
        memset(keys[i], 0x11, 32);
        keys[i][30] = (uint8_t)(i >> 8);
        keys[i][31] = (uint8_t)i;
        ck_assert_int_eq(secp_address_from_secret(keys[i], addrs[i], NULL), 0);
    }
    done = true;
}

static uint8_t filler[60000];

struct tx_signed *decode_recover(const uint8_t *raw, size_t len, bool recover)
{
    struct tx_signed *t = NULL;
    struct cohort_error err = {0};
    ck_assert_msg(tx_decode(raw, len, 256 * 1024, &t, &err) == 0, "%s", err.message);
    if (recover) ck_assert_msg(tx_recover_sender(t, &err) == 0, "%s", err.message);
    return t;
}

struct tx_signed *make(const struct spec *sp)
{
    keys_init();
    memset(filler, 0x5a, sizeof filler);
    struct mc_tx tx = {0};
    tx.type = sp->type == 2 ? MC_TX_EIP1559 : MC_TX_LEGACY;
    tx.chain_id = sp->chain_id ? sp->chain_id : CHAIN_ID;
    tx.nonce = sp->nonce;
    tx.gas_limit = sp->gas ? sp->gas : 21000 + 16 * sp->data_len + (sp->create ? 32000 + 2 * ((sp->data_len + 31) / 32) : 0);
    u256 fee = u256_is_zero(sp->fee_wide) ? u256_from_u64(sp->fee) : sp->fee_wide;
    tx.gas_price = fee;
    tx.max_fee_per_gas = fee;
    tx.max_priority_fee_per_gas = u256_from_u64(sp->tip);
    tx.has_to = !sp->create;
    memset(tx.to, 0xcc, 20);
    tx.value = u256_from_u64(sp->value);
    ck_assert_uint_le(sp->data_len, sizeof filler);
    tx.data = filler;
    tx.data_len = sp->data_len;
    uint8_t *raw = NULL;
    size_t raw_len = 0;
    uint8_t hash[32];
    struct cohort_error err = {0};
    ck_assert_msg(mc_tx_sign(&tx, keys[sp->key], &raw, &raw_len, hash, &err) == 0, "%s", err.message);
    struct tx_signed *t = decode_recover(raw, raw_len, true);
    ck_assert_mem_eq(t->hash, hash, 32);
    ck_assert_mem_eq(t->tx.sender, addrs[sp->key], 20);
    free(raw);
    return t;
}

/* An EIP-1559 transaction of key at nonce with tip and fee cap in gwei (hundredths allowed via wei helpers). */
struct tx_signed *tx2(int key, uint64_t nonce, uint64_t tip_wei, uint64_t fee_wei)
{
    struct spec sp = {.key = key, .type = 2, .nonce = nonce, .tip = tip_wei, .fee = fee_wei};
    return make(&sp);
}

struct txpool_config config(void)
{
    return (struct txpool_config){
        .chain_id = CHAIN_ID,
        .revision = EVM_CANCUN,
        .block_gas_limit = BLOCK_GAS,
        .hash_seed = 0x5eed,
    };
}

struct txpool *pool_new(const struct txpool_config *c)
{
    struct txpool *p = NULL;
    struct cohort_error err = {0};
    ck_assert_msg(txpool_new(c, &p, &err) == 0, "%s", err.message);
    return p;
}

void check_pool(const struct txpool *p)
{
    struct cohort_error err = {0};
    ck_assert_msg(txpool_check(p, &err) == 0, "%s", err.message);
}

struct txpool_account rich(uint64_t nonce)
{
    return (struct txpool_account){.nonce = nonce, .balance = u256_from_u64(UINT64_MAX)};
}

const u256 floor_fee = {{GWEI, 0, 0, 0}};

void expect_stats(const struct txpool *p, uint64_t pending, uint64_t queued)
{
    struct txpool_stats st;
    txpool_stats(p, &st);
    ck_assert_msg(st.pending == pending && st.queued == queued, "pending %llu queued %llu, want %llu %llu",
                  (unsigned long long)st.pending, (unsigned long long)st.queued, (unsigned long long)pending,
                  (unsigned long long)queued);
}

int chain_read(void *arg, const uint8_t address[20], struct txpool_account *out, struct cohort_error *err)
{
    struct chain *c = arg;
    c->reads++;
    for (int i = 0; i < NKEYS; i++) {
        if (memcmp(addrs[i], address, 20) != 0) continue;
        if (i == c->fail_key) return cohort_error_set(err, COMMON_E_IO, "test", "store read failed for key %d", i);
        out->nonce = c->nonce[i];
        out->balance = c->balance[i];
        return 0;
    }
    ck_abort_msg("read of an unknown sender");
    return -1;
}

void chain_init(struct chain *c)
{
    memset(c, 0, sizeof *c);
    c->fail_key = -1;
    for (int i = 0; i < NKEYS; i++) c->balance[i] = u256_from_u64(UINT64_MAX);
}

int key_of(const struct tx_signed *t)
{
    for (int i = 0; i < NKEYS; i++)
        if (memcmp(addrs[i], t->tx.sender, 20) == 0) return i;
    return -1;
}
