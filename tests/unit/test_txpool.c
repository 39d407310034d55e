/*
 * test_txpool.c - the transaction pool (subnode/chain/txpool.h): every admission rule with
 * geth's words, replacement, eviction order, promotion, picking order, what a block does,
 * a randomized comparison against a plain reference implementation, and a 10,000
 * transaction / 1,000 sender pool whose work is counted.
 *
 * Transactions are real: signed by manager-client's signer (types 0 with EIP-155 and 2),
 * or hand-encoded and signed here (type 1, type 3, legacy without a chain id), then
 * decoded with tx_decode and their sender recovered with tx_recover_sender.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/hex.h"
#include "common/keccak.h"
#include "common/rlp.h"
#include "common/secp.h"
#include "manager-client/manager_client.h"
#include "subnode/chain/txpool.h"
#include "testutil.h"

#define CHAIN_ID 7777u
#define GWEI 1000000000ull
#define BLOCK_GAS 30000000ull
#define NKEYS 1000

static uint8_t keys[NKEYS][32];
static uint8_t addrs[NKEYS][20];

static void keys_init(void)
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

/* What a test transaction is: fees in wei. type 0 is legacy with EIP-155, 2 is EIP-1559. */
struct spec {
    int key;
    unsigned type;
    uint64_t nonce;
    uint64_t tip;   /* type 2: max priority fee; type 0: unused */
    uint64_t fee;   /* type 2: max fee; type 0: gas price */
    uint64_t gas;   /* 0: 21000 + what the data needs */
    uint64_t value;
    size_t data_len; /* non-zero bytes */
    bool create;
    uint64_t chain_id; /* 0: CHAIN_ID */
    u256 fee_wide;     /* when not zero: the fee cap (gas price) as a u256 */
};

static uint8_t filler[60000];

static struct tx_signed *decode_recover(const uint8_t *raw, size_t len, bool recover)
{
    struct tx_signed *t = NULL;
    struct cohort_error err = {0};
    ck_assert_msg(tx_decode(raw, len, 256 * 1024, &t, &err) == 0, "%s", err.message);
    if (recover) ck_assert_msg(tx_recover_sender(t, &err) == 0, "%s", err.message);
    return t;
}

static struct tx_signed *make(const struct spec *sp)
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
static struct tx_signed *tx2(int key, uint64_t nonce, uint64_t tip_wei, uint64_t fee_wei)
{
    struct spec sp = {.key = key, .type = 2, .nonce = nonce, .tip = tip_wei, .fee = fee_wei};
    return make(&sp);
}

/*
 * Hand-encoded and signed: type 1 (EIP-2930), type 3 (a blob transaction with one hash),
 * or (type 0) a legacy transaction without EIP-155 (v = 27/28).
 */
static struct tx_signed *make_other(int key, unsigned type, uint64_t nonce, uint64_t fee_wei)
{
    keys_init();
    uint8_t to[20];
    memset(to, 0xcc, 20);
    uint8_t blob_hash[32] = {0x01};
    struct rlp_buf b;
    for (int signed_pass = 0; signed_pass < 2; signed_pass++) {
        static uint8_t sig[65];
        rlp_buf_init(&b, 0);
        if (type != 0) {
            uint8_t t = (uint8_t)type;
            rlp_encode_raw(&b, &t, 1);
        }
        size_t list = rlp_encode_list_begin(&b);
        if (type != 0) rlp_encode_u64(&b, CHAIN_ID);
        rlp_encode_u64(&b, nonce);
        if (type == 3) rlp_encode_u64(&b, 1); /* max priority fee */
        rlp_encode_u64(&b, fee_wei);           /* gas price or max fee */
        rlp_encode_u64(&b, 21000);
        rlp_encode_bytes(&b, to, 20);
        rlp_encode_u64(&b, 0);
        rlp_encode_bytes(&b, NULL, 0);
        if (type != 0) rlp_encode_list_end(&b, rlp_encode_list_begin(&b)); /* access list [] */
        if (type == 3) {
            rlp_encode_u64(&b, 1); /* max fee per blob gas */
            size_t hashes = rlp_encode_list_begin(&b);
            rlp_encode_bytes(&b, blob_hash, 32);
            rlp_encode_list_end(&b, hashes);
        }
        if (signed_pass) {
            rlp_encode_u64(&b, type == 0 ? 27u + sig[64] : sig[64]);
            rlp_encode_u256(&b, u256_load_be(sig));
            rlp_encode_u256(&b, u256_load_be(sig + 32));
        }
        rlp_encode_list_end(&b, list);
        ck_assert_int_eq(rlp_buf_check(&b, NULL), 0);
        if (!signed_pass) {
            uint8_t h[32];
            keccak256(b.data, b.len, h);
            ck_assert_int_eq(secp_sign(keys[key], h, sig, NULL), 0);
            rlp_buf_free(&b);
        }
    }
    struct tx_signed *t = decode_recover(b.data, b.len, true);
    rlp_buf_free(&b);
    ck_assert_mem_eq(t->tx.sender, addrs[key], 20);
    return t;
}

static struct txpool_config config(void)
{
    return (struct txpool_config){
        .chain_id = CHAIN_ID,
        .revision = EVM_CANCUN,
        .block_gas_limit = BLOCK_GAS,
        .hash_seed = 0x5eed,
    };
}

static struct txpool *pool_new(const struct txpool_config *c)
{
    struct txpool *p = NULL;
    struct cohort_error err = {0};
    ck_assert_msg(txpool_new(c, &p, &err) == 0, "%s", err.message);
    return p;
}

static void check_pool(const struct txpool *p)
{
    struct cohort_error err = {0};
    ck_assert_msg(txpool_check(p, &err) == 0, "%s", err.message);
}

static struct txpool_account rich(uint64_t nonce)
{
    return (struct txpool_account){.nonce = nonce, .balance = u256_from_u64(UINT64_MAX)};
}

static const u256 floor_fee = {{GWEI, 0, 0, 0}};

/* Admits t; fails the test with the pool's words when refused. */
static void admit(struct txpool *p, struct tx_signed *t, uint64_t state_nonce)
{
    struct txpool_account a = rich(state_nonce);
    struct cohort_error err = {0};
    enum txpool_refusal why;
    int rc = txpool_add(p, t, &a, floor_fee, &why, &err);
    ck_assert_msg(rc == 0, "refused (%s): %s", txpool_refusal_name(why), err.message);
    ck_assert_int_eq(why, TXPOOL_ACCEPTED);
    check_pool(p);
}

/* Offers t with account a; expects the refusal and the exact message (or its prefix when prefix). Frees t. */
static void refused_with(struct txpool *p, struct tx_signed *t, const struct txpool_account *a, u256 floor,
                         enum txpool_refusal want, const char *message, bool prefix)
{
    struct txpool_stats before, after;
    txpool_stats(p, &before);
    struct cohort_error err = {0};
    enum txpool_refusal why = TXPOOL_ACCEPTED;
    int rc = txpool_add(p, t, a, floor, &why, &err);
    ck_assert_int_eq(rc, CHAIN_E_REJECTED);
    ck_assert_msg(why == want, "refusal %s, want %s (%s)", txpool_refusal_name(why), txpool_refusal_name(want),
                  err.message);
    if (prefix)
        ck_assert_msg(strncmp(err.message, message, strlen(message)) == 0, "message \"%s\", want \"%s...\"",
                      err.message, message);
    else
        ck_assert_str_eq(err.message, message);
    txpool_stats(p, &after);
    ck_assert_uint_eq(before.pending + before.queued, after.pending + after.queued);
    ck_assert_uint_eq(before.bytes, after.bytes);
    check_pool(p);
    tx_free(t); /* a refused transaction stays the caller's */
}

static void refused(struct txpool *p, struct tx_signed *t, uint64_t nonce, enum txpool_refusal want, const char *message)
{
    struct txpool_account a = rich(nonce);
    refused_with(p, t, &a, floor_fee, want, message, false);
}

static void hex_of(const uint8_t *b, size_t n, char *out)
{
    hex_encode(b, n, out, 2 * n + 3);
}

/* ---- Admission: every rule with its words ---- */

START_TEST(admission_rules)
{
    struct txpool_config c = config();
    c.max_tx_bytes = 4096;
    struct txpool *p = pool_new(&c);
    char want[512], addr[43];

    /* Types 0 (EIP-155), 1 and 2 enter. */
    admit(p, make(&(struct spec){.key = 1, .type = 0, .nonce = 0, .fee = 2 * GWEI}), 0);
    admit(p, make_other(2, 1, 0, 2 * GWEI), 0);
    admit(p, tx2(3, 0, GWEI, 2 * GWEI), 0);

    /* already known: the same bytes again. */
    struct tx_signed *again = make(&(struct spec){.key = 1, .type = 0, .nonce = 0, .fee = 2 * GWEI});
    refused(p, again, 0, TXPOOL_ALREADY_KNOWN, "already known");

    /* invalid sender: decoded, the sender never recovered. */
    struct tx_signed *t = tx2(4, 0, GWEI, 2 * GWEI);
    struct tx_signed *unrecovered = decode_recover(t->raw, t->raw_len, false);
    tx_free(t);
    refused(p, unrecovered, 0, TXPOOL_INVALID_SENDER, "invalid sender");

    /* type 3: no blob sidecars on these chains. */
    struct txpool_account a = rich(0);
    refused_with(p, make_other(4, 3, 0, 2 * GWEI), &a, floor_fee, TXPOOL_TYPE_NOT_SUPPORTED,
                 "transaction type not supported", true);

    /* legacy without EIP-155 */
    refused(p, make_other(4, 0, 0, 2 * GWEI), 0, TXPOOL_NOT_PROTECTED,
            "only replay-protected (EIP-155) transactions allowed over RPC");

    /* oversized: over this pool's 4096-byte cap */
    t = make(&(struct spec){.key = 4, .type = 2, .tip = GWEI, .fee = 2 * GWEI, .data_len = 4100});
    snprintf(want, sizeof want, "oversized data: transaction size %zu, limit 4096", t->raw_len);
    refused(p, t, 0, TXPOOL_OVERSIZED, want);

    /* another chain's transaction */
    refused(p, make(&(struct spec){.key = 4, .type = 2, .tip = GWEI, .fee = 2 * GWEI, .chain_id = 1}), 0,
            TXPOOL_WRONG_CHAIN_ID, "invalid sender: invalid chain id for signer: have 1 want 7777");

    /* nonce 2^64 - 1 */
    refused(p, make(&(struct spec){.key = 4, .type = 2, .nonce = UINT64_MAX, .tip = GWEI, .fee = 2 * GWEI}), 0,
            TXPOOL_NONCE_MAX, "nonce has max value");

    /* intrinsic gas: 21000 + 16 per non-zero data byte */
    refused(p, make(&(struct spec){.key = 4, .type = 2, .tip = GWEI, .fee = 2 * GWEI, .gas = 21000, .data_len = 10}),
            0, TXPOOL_INTRINSIC_GAS, "intrinsic gas too low: gas 21000, minimum needed 21160");

    /* init code over 49152 bytes (EIP-3860): a bigger pool cap for this one */
    struct txpool_config big = config();
    struct txpool *p2 = pool_new(&big);
    refused(p2, make(&(struct spec){.key = 4, .type = 2, .tip = GWEI, .fee = 2 * GWEI, .create = true, .data_len = 49153}),
            0, TXPOOL_INITCODE_SIZE, "max initcode size exceeded: code size 49153, limit 49152");

    /* tip above the fee cap */
    refused(p, tx2(4, 0, 3 * GWEI, 2 * GWEI), 0, TXPOOL_TIP_ABOVE_FEE_CAP,
            "max priority fee per gas higher than max fee per gas");

    /* gas * fee cap over 256 bits */
    hex_of(addrs[4], 20, addr);
    snprintf(want, sizeof want,
             "insufficient funds for gas * price + value: address %s required balance exceeds 256 bits", addr);
    u256 huge = u256_shl(u256_from_u64(255), u256_from_u64(1));
    refused(p, make(&(struct spec){.key = 4, .type = 0, .fee_wide = huge}), 0, TXPOOL_INSUFFICIENT_FUNDS, want);

    /* over the block gas limit */
    refused(p, make(&(struct spec){.key = 4, .type = 2, .tip = GWEI, .fee = 2 * GWEI, .gas = BLOCK_GAS + 1}), 0,
            TXPOOL_GAS_LIMIT, "exceeds block gas limit");

    /* fee cap below the floor the caller gives */
    snprintf(want, sizeof want,
             "max fee per gas less than block base fee: address %s, maxFeePerGas: 999999999, baseFee: 1000000000",
             addr);
    refused(p, tx2(4, 0, 1, GWEI - 1), 0, TXPOOL_FEE_CAP_TOO_LOW, want);
    /* the same one enters under a lower floor */
    struct tx_signed *low = tx2(4, 0, 1, GWEI - 1);
    ck_assert_int_eq(txpool_add(p, low, &a, u256_from_u64(GWEI / 2), NULL, NULL), 0);

    /* the least tip a pool is configured with */
    struct txpool_config tipped = config();
    tipped.min_tip_cap = u256_from_u64(1);
    struct txpool *p3 = pool_new(&tipped);
    refused(p3, tx2(5, 0, 0, 2 * GWEI), 0, TXPOOL_UNDERPRICED, "transaction underpriced: gas tip cap 0, minimum needed 1");
    admit(p3, tx2(5, 0, 1, 2 * GWEI), 0);

    /* nonce below the state's */
    refused(p, tx2(6, 3, GWEI, 2 * GWEI), 5, TXPOOL_NONCE_TOO_LOW, "nonce too low: next nonce 5, tx nonce 3");

    /* balance under gas * fee cap + value: 21000 * 2 gwei + 7 = 42000000000007 */
    struct txpool_account poor = {.nonce = 0, .balance = u256_from_u64(42000000000006ull)};
    refused_with(p, make(&(struct spec){.key = 6, .type = 2, .tip = GWEI, .fee = 2 * GWEI, .value = 7}), &poor,
                 floor_fee, TXPOOL_INSUFFICIENT_FUNDS,
                 "insufficient funds for gas * price + value: balance 42000000000006, tx cost 42000000000007, overshot 1",
                 false);
    poor.balance = u256_from_u64(42000000000007ull);
    ck_assert_int_eq(txpool_add(p, make(&(struct spec){.key = 6, .type = 2, .tip = GWEI, .fee = 2 * GWEI, .value = 7}),
                                &poor, floor_fee, NULL, NULL),
                     0);

    /* The names of the refusals are all there. */
    for (int r = 0; r < TXPOOL_REFUSAL_COUNT; r++) ck_assert_str_ne(txpool_refusal_name(r), "UNKNOWN");
    ck_assert_str_eq(txpool_refusal_name(TXPOOL_REFUSAL_COUNT), "UNKNOWN");

    struct txpool_stats st;
    txpool_stats(p, &st);
    ck_assert_uint_eq(st.pending, 5);
    ck_assert_uint_eq(st.queued, 0);
    ck_assert_uint_eq(st.senders, 5);
    check_pool(p);
    txpool_free(p);
    txpool_free(p2);
    txpool_free(p3);

    /* A pool needs the block gas limit. */
    struct txpool_config bad = config();
    bad.block_gas_limit = 0;
    struct txpool *none = NULL;
    struct cohort_error err = {0};
    ck_assert_int_eq(txpool_new(&bad, &none, &err), CHAIN_E_INVALID);
    ck_assert_ptr_null(none);
}
END_TEST

/* ---- Replacement ---- */

START_TEST(replacement)
{
    struct txpool_config c = config();
    struct txpool *p = pool_new(&c);
    struct tx_signed *first = tx2(1, 0, 10 * GWEI, 100 * GWEI);
    uint8_t first_hash[32];
    memcpy(first_hash, first->hash, 32);
    admit(p, first, 0);

    /* 10% on both, but not on the tip: refused; the same fees: refused. */
    refused(p, tx2(1, 0, 10 * GWEI + GWEI - 1, 110 * GWEI), 0, TXPOOL_REPLACE_UNDERPRICED,
            "replacement transaction underpriced");
    refused(p, tx2(1, 0, 11 * GWEI, 110 * GWEI - 1), 0, TXPOOL_REPLACE_UNDERPRICED,
            "replacement transaction underpriced");
    refused(p, tx2(1, 0, 10 * GWEI, 100 * GWEI + 1), 0, TXPOOL_REPLACE_UNDERPRICED,
            "replacement transaction underpriced");
    /* Exactly 10% on both: replaces. */
    struct tx_signed *second = tx2(1, 0, 11 * GWEI, 110 * GWEI);
    uint8_t second_hash[32];
    memcpy(second_hash, second->hash, 32);
    admit(p, second, 0);
    ck_assert_ptr_null(txpool_find(p, first_hash, NULL));
    bool pending = false;
    ck_assert_ptr_eq(txpool_find(p, second_hash, &pending), second);
    ck_assert(pending);
    struct txpool_stats st;
    txpool_stats(p, &st);
    ck_assert_uint_eq(st.pending, 1);
    ck_assert_uint_eq(st.bytes, second->raw_len);

    /* Wei-level prices: the bump must also be strictly higher (5 + 5/10 = 5 is not enough). */
    admit(p, tx2(2, 0, 5, 5 + GWEI), 0);
    refused(p, tx2(2, 0, 5, 6 + GWEI + GWEI / 10), 0, TXPOOL_REPLACE_UNDERPRICED, "replacement transaction underpriced");
    admit(p, tx2(2, 0, 6, GWEI + GWEI / 10 + 5), 0);

    /* Legacy: gas price is both caps. */
    admit(p, make(&(struct spec){.key = 3, .type = 0, .nonce = 0, .fee = 10 * GWEI}), 0);
    refused(p, make(&(struct spec){.key = 3, .type = 0, .nonce = 0, .fee = 11 * GWEI - 1}), 0,
            TXPOOL_REPLACE_UNDERPRICED, "replacement transaction underpriced");
    admit(p, make(&(struct spec){.key = 3, .type = 0, .nonce = 0, .fee = 11 * GWEI}), 0);

    /* A future transaction is replaced in place and stays future. */
    admit(p, tx2(4, 5, GWEI, 2 * GWEI), 0);
    struct tx_signed *future = tx2(4, 5, 2 * GWEI, 4 * GWEI);
    admit(p, future, 0);
    ck_assert_ptr_eq(txpool_find(p, future->hash, &pending), future);
    ck_assert(!pending);

    /* In flight: the nonce is being made into a block. */
    const struct tx_signed *out[8];
    struct txpool_pick_limits lim = {.gas = BLOCK_GAS, .bytes = 1 << 20, .count = 8};
    ck_assert_uint_eq(txpool_pick(p, floor_fee, &lim, out, 8), 3);
    refused(p, tx2(1, 0, 20 * GWEI, 200 * GWEI), 0, TXPOOL_IN_FLIGHT, "nonce too low: nonce 0 is in a block being made");
    txpool_release_all(p);
    admit(p, tx2(1, 0, 20 * GWEI, 200 * GWEI), 0);
    ck_assert_ptr_null(txpool_find(p, second_hash, NULL));
    txpool_free(p);
}
END_TEST

/* ---- Queues: ready and future, promotion, the pending nonce ---- */

struct seen {
    char lines[64][64];
    int n;
};

static void collect(void *arg, const struct tx_signed *t, bool pending)
{
    struct seen *s = arg;
    ck_assert_int_lt(s->n, 64);
    int who = -1;
    for (int i = 0; i < NKEYS && who < 0; i++)
        if (memcmp(addrs[i], t->tx.sender, 20) == 0) who = i;
    snprintf(s->lines[s->n++], 64, "%d:%llu:%s", who, (unsigned long long)t->tx.nonce, pending ? "pending" : "queued");
}

static void expect_stats(const struct txpool *p, uint64_t pending, uint64_t queued)
{
    struct txpool_stats st;
    txpool_stats(p, &st);
    ck_assert_msg(st.pending == pending && st.queued == queued, "pending %llu queued %llu, want %llu %llu",
                  (unsigned long long)st.pending, (unsigned long long)st.queued, (unsigned long long)pending,
                  (unsigned long long)queued);
}

/* A chain the tests keep: nonce and balance per key, read by txpool_block's callback. */
struct chain {
    uint64_t nonce[NKEYS];
    u256 balance[NKEYS];
    int reads;
    int fail_key; /* -1: none */
};

static int chain_read(void *arg, const uint8_t address[20], struct txpool_account *out, struct cohort_error *err)
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

static void chain_init(struct chain *c)
{
    memset(c, 0, sizeof *c);
    c->fail_key = -1;
    for (int i = 0; i < NKEYS; i++) c->balance[i] = u256_from_u64(UINT64_MAX);
}

START_TEST(queues_and_promotion)
{
    struct txpool_config c = config();
    struct txpool *p = pool_new(&c);
    uint64_t nonce = 99;
    /* nonces 2 and 3 wait for 0 and 1 */
    admit(p, tx2(1, 3, GWEI, 2 * GWEI), 0);
    admit(p, tx2(1, 2, GWEI, 2 * GWEI), 0);
    expect_stats(p, 0, 2);
    ck_assert(!txpool_pending_nonce(p, addrs[1], &nonce));
    admit(p, tx2(1, 0, GWEI, 2 * GWEI), 0);
    expect_stats(p, 1, 2);
    ck_assert(txpool_pending_nonce(p, addrs[1], &nonce));
    ck_assert_uint_eq(nonce, 1);
    /* nonce 1 fills the gap: 2 and 3 are promoted */
    struct tx_signed *one = tx2(1, 1, GWEI, 2 * GWEI);
    admit(p, one, 0);
    expect_stats(p, 4, 0);
    ck_assert(txpool_pending_nonce(p, addrs[1], &nonce));
    ck_assert_uint_eq(nonce, 4);
    ck_assert(!txpool_pending_nonce(p, addrs[2], &nonce));

    /* another sender with a gap */
    admit(p, tx2(2, 7, GWEI, 2 * GWEI), 5);
    admit(p, tx2(2, 5, GWEI, 2 * GWEI), 5);
    struct seen s = {0};
    txpool_for_each(p, collect, &s);
    ck_assert_int_eq(s.n, 6);
    const char *want[] = {"1:0:pending", "1:1:pending", "1:2:pending", "1:3:pending", "2:5:pending", "2:7:queued"};
    for (int i = 0; i < 6; i++) ck_assert_str_eq(s.lines[i], want[i]);

    /* the sender of a held hash; a hash not held */
    uint8_t who[20];
    ck_assert(txpool_sender(p, one->hash, who));
    ck_assert_mem_eq(who, addrs[1], 20);
    uint8_t unknown[32] = {0};
    ck_assert(!txpool_sender(p, unknown, who));
    ck_assert_ptr_null(txpool_find(p, unknown, NULL));

    /* A block from elsewhere moves sender 2 to nonce 7 (5 and 6 were someone else's batch):
       5 leaves, 7 becomes ready. Sender 1's 0 and 1 are included by hash. */
    struct chain ch;
    chain_init(&ch);
    ch.nonce[1] = 2;
    ch.nonce[2] = 7;
    const struct tx_signed *picked[4];
    struct txpool_pick_limits lim = {.gas = BLOCK_GAS, .bytes = 1 << 20, .count = 2};
    ck_assert_uint_eq(txpool_pick(p, floor_fee, &lim, picked, 4), 2);
    uint8_t included[2][32];
    memcpy(included[0], picked[0]->hash, 32);
    memcpy(included[1], picked[1]->hash, 32);
    ck_assert_uint_eq(picked[0]->tx.nonce + picked[1]->tx.nonce, 1); /* 0 and 1 of sender 1: the older tie first */
    uint8_t senders[2][20];
    memcpy(senders[0], addrs[1], 20);
    memcpy(senders[1], addrs[2], 20);
    struct txpool_block_update u = {.included = (const uint8_t(*)[32])included,
                                    .included_count = 2,
                                    .senders = (const uint8_t(*)[20])senders,
                                    .sender_count = 2,
                                    .release_in_flight = true};
    struct cohort_error err = {0};
    ck_assert_int_eq(txpool_block(p, &u, chain_read, &ch, &err), 0);
    ck_assert_int_eq(ch.reads, 2); /* once per sender */
    check_pool(p);
    expect_stats(p, 3, 0);
    ck_assert(txpool_pending_nonce(p, addrs[2], &nonce));
    ck_assert_uint_eq(nonce, 8);
    ck_assert(txpool_pending_nonce(p, addrs[1], &nonce));
    ck_assert_uint_eq(nonce, 4);

    /* The balance falls: what costs more leaves, what follows waits for the gap. */
    admit(p, tx2(1, 4, GWEI, 50 * GWEI), 2);
    admit(p, tx2(1, 5, GWEI, 2 * GWEI), 2);
    expect_stats(p, 5, 0);
    ch.balance[1] = u256_from_u64(21000 * 2 * GWEI);
    u.included_count = 0;
    u.sender_count = 1;
    ck_assert_int_eq(txpool_block(p, &u, chain_read, &ch, &err), 0);
    check_pool(p);
    expect_stats(p, 3, 1); /* 1:2, 1:3 and 2:7 ready; 1:5 waits for 4, which left */
    s.n = 0;
    txpool_for_each(p, collect, &s);
    ck_assert_int_eq(s.n, 4);

    /* A sender whose state cannot be read stays as it was; the error comes back. */
    ch.fail_key = 2;
    ch.nonce[2] = 8;
    memcpy(senders[0], addrs[2], 20);
    ck_assert_int_eq(txpool_block(p, &u, chain_read, &ch, &err), COMMON_E_IO);
    ck_assert_msg(strstr(err.message, "store read failed") != NULL, "%s", err.message);
    expect_stats(p, 3, 1);
    ch.fail_key = -1;
    ck_assert_int_eq(txpool_block(p, &u, chain_read, &ch, &err), 0);
    expect_stats(p, 2, 1);
    ck_assert(!txpool_pending_nonce(p, addrs[2], &nonce)); /* sender 2 is gone */

    /* An admission that brings a newer nonce re-checks the sender first. */
    admit(p, tx2(1, 6, GWEI, 2 * GWEI), 4); /* 2 and 3 are below 4 now; 5 and 6 wait for 4 */
    expect_stats(p, 0, 2);
    admit(p, tx2(1, 4, GWEI, 2 * GWEI), 4);
    expect_stats(p, 3, 0);
    txpool_free(p);
}
END_TEST

/* ---- Eviction when full ---- */

static uint8_t hash_of_added[64][32];

START_TEST(eviction_order)
{
    struct txpool_config c = config();
    c.max_transactions = 5;
    struct txpool *p = pool_new(&c);
    /* A: 0 (tip 1), 1 (tip 5) ready; B: 0 (tip 3) ready; C: 5 (tip 9) future; D: 0 (tip 2) ready */
    struct tx_signed *a0 = tx2(1, 0, 1 * GWEI, 20 * GWEI), *a1 = tx2(1, 1, 5 * GWEI, 20 * GWEI);
    struct tx_signed *b0 = tx2(2, 0, 3 * GWEI, 20 * GWEI), *c5 = tx2(3, 5, 9 * GWEI, 20 * GWEI);
    struct tx_signed *d0 = tx2(4, 0, 2 * GWEI, 20 * GWEI);
    struct tx_signed *all[] = {a0, a1, b0, c5, d0};
    for (int i = 0; i < 5; i++) {
        memcpy(hash_of_added[i], all[i]->hash, 32);
        admit(p, all[i], 0);
    }
    expect_stats(p, 4, 1);
    /* Full. A newcomer worth no more than what would go first is refused: a future one paying
       less than C's, and, once future ones are gone, a ready one paying what D pays. */
    refused(p, tx2(5, 3, 8 * GWEI, 20 * GWEI), 0, TXPOOL_FULL, "txpool is full");
    /* The future one goes first even though it pays the most. */
    admit(p, tx2(5, 0, 2 * GWEI, 20 * GWEI), 0);
    ck_assert_ptr_null(txpool_find(p, hash_of_added[3], NULL));
    expect_stats(p, 5, 0);
    /* Next: the least tip among the senders' highest nonces: A offers 1 (tip 5), not 0 (tip 1).
       D (tip 2) and the newcomer E (tip 2) tie: the newer one (E's) goes first, but a
       newcomer paying 2 is worth no more: refused. */
    refused(p, tx2(6, 0, 2 * GWEI, 20 * GWEI), 0, TXPOOL_FULL, "txpool is full");
    admit(p, tx2(6, 0, 4 * GWEI, 20 * GWEI), 0); /* evicts E's (tip 2, newer than D's) */
    ck_assert_ptr_nonnull(txpool_find(p, hash_of_added[4], NULL));
    uint64_t nonce;
    ck_assert(!txpool_pending_nonce(p, addrs[5], &nonce));
    admit(p, tx2(7, 0, 4 * GWEI, 20 * GWEI), 0); /* evicts D's (tip 2) */
    ck_assert_ptr_null(txpool_find(p, hash_of_added[4], NULL));
    admit(p, tx2(8, 0, 4 * GWEI, 20 * GWEI), 0); /* evicts B's (tip 3) */
    ck_assert_ptr_null(txpool_find(p, hash_of_added[2], NULL));
    /* Left: A 0 and 1, F, G, H (tip 4). A's tail pays 5: the tip-4 ones go before it, the
       newer first; A's 0 (tip 1) never goes while its 1 is held. */
    admit(p, tx2(9, 0, 6 * GWEI, 20 * GWEI), 0);
    ck_assert(!txpool_pending_nonce(p, addrs[8], &nonce));
    ck_assert_ptr_nonnull(txpool_find(p, hash_of_added[0], NULL));
    ck_assert_ptr_nonnull(txpool_find(p, hash_of_added[1], NULL));
    admit(p, tx2(10, 0, 6 * GWEI, 20 * GWEI), 0);
    admit(p, tx2(11, 0, 6 * GWEI, 20 * GWEI), 0);
    ck_assert(!txpool_pending_nonce(p, addrs[6], &nonce));
    ck_assert(!txpool_pending_nonce(p, addrs[7], &nonce));
    /* Now A's 1 (tip 5) is the least worth; then A's 0 (tip 1) */
    admit(p, tx2(12, 0, 6 * GWEI, 20 * GWEI), 0);
    ck_assert_ptr_null(txpool_find(p, hash_of_added[1], NULL));
    ck_assert_ptr_nonnull(txpool_find(p, hash_of_added[0], NULL));
    admit(p, tx2(13, 0, 2 * GWEI, 20 * GWEI), 0);
    ck_assert_ptr_null(txpool_find(p, hash_of_added[0], NULL));
    expect_stats(p, 5, 0);

    /* In flight is never evicted: with everything picked, nothing can make room. */
    const struct tx_signed *out[8];
    struct txpool_pick_limits lim = {.gas = BLOCK_GAS, .bytes = 1 << 20, .count = 8};
    ck_assert_uint_eq(txpool_pick(p, floor_fee, &lim, out, 8), 5);
    refused(p, tx2(14, 0, 100 * GWEI, 200 * GWEI), 0, TXPOOL_FULL, "txpool is full");
    txpool_free(p);
}
END_TEST

START_TEST(eviction_by_bytes_and_undo)
{
    struct txpool_config c = config();
    struct txpool *probe = pool_new(&c);
    struct tx_signed *small = tx2(1, 0, GWEI, 20 * GWEI);
    size_t small_len = small->raw_len;
    tx_free(small);
    txpool_free(probe);
    /* Room for four small ones; a big one needs three of them gone. */
    c.max_bytes = 4 * small_len + 10;
    struct txpool *p = pool_new(&c);
    admit(p, tx2(1, 0, 1 * GWEI, 20 * GWEI), 0);
    admit(p, tx2(2, 0, 2 * GWEI, 20 * GWEI), 0);
    admit(p, tx2(3, 0, 5 * GWEI, 20 * GWEI), 0);
    admit(p, tx2(4, 0, 6 * GWEI, 20 * GWEI), 0);
    struct tx_signed *big =
        make(&(struct spec){.key = 5, .type = 2, .tip = 3 * GWEI, .fee = 20 * GWEI, .data_len = 2 * small_len});
    ck_assert_uint_le(big->raw_len, 4 * small_len + 10);
    ck_assert_uint_gt(big->raw_len + 2 * small_len, 4 * small_len + 10);
    /* Its tip 3 beats 1 and 2, not 5: it would have to push out the tip-5 one too: refused,
       and the two it pushed out on the way are back. */
    refused(p, big, 0, TXPOOL_FULL, "txpool is full");
    expect_stats(p, 4, 0);
    uint64_t nonce;
    ck_assert(txpool_pending_nonce(p, addrs[1], &nonce));
    ck_assert(txpool_pending_nonce(p, addrs[2], &nonce));
    /* Paying 7 it pushes out 1, 2 and 5 and enters. */
    big = make(&(struct spec){.key = 5, .type = 2, .tip = 7 * GWEI, .fee = 20 * GWEI, .data_len = 2 * small_len});
    admit(p, big, 0);
    ck_assert(!txpool_pending_nonce(p, addrs[1], &nonce));
    ck_assert(!txpool_pending_nonce(p, addrs[2], &nonce));
    ck_assert(!txpool_pending_nonce(p, addrs[3], &nonce));
    ck_assert(txpool_pending_nonce(p, addrs[4], &nonce));
    expect_stats(p, 2, 0);
    txpool_free(p);
}
END_TEST

START_TEST(per_sender_cap)
{
    struct txpool_config c = config();
    c.max_per_sender = 3;
    struct txpool *p = pool_new(&c);
    admit(p, tx2(1, 0, GWEI, 2 * GWEI), 0);
    admit(p, tx2(1, 1, GWEI, 2 * GWEI), 0);
    struct tx_signed *three = tx2(1, 3, 9 * GWEI, 20 * GWEI);
    uint8_t three_hash[32];
    memcpy(three_hash, three->hash, 32);
    admit(p, three, 0);
    expect_stats(p, 2, 1);
    /* A higher nonce than what it holds: refused. */
    refused(p, tx2(1, 4, GWEI, 2 * GWEI), 0, TXPOOL_ACCOUNT_LIMIT, "account limit exceeded: pooled 3 txs");
    /* A replacement needs no new place. */
    struct tx_signed *three_again = tx2(1, 3, 10 * GWEI, 22 * GWEI);
    memcpy(three_hash, three_again->hash, 32);
    admit(p, three_again, 0);
    /* A lower nonce takes the highest one's place, whatever that one pays. */
    admit(p, tx2(1, 2, GWEI, 2 * GWEI), 0);
    expect_stats(p, 3, 0);
    ck_assert_ptr_null(txpool_find(p, three_hash, NULL));
    uint64_t nonce;
    ck_assert(txpool_pending_nonce(p, addrs[1], &nonce));
    ck_assert_uint_eq(nonce, 3);
    /* All in flight: the highest cannot go, so a lower one (none left) or higher is refused. */
    const struct tx_signed *out[4];
    struct txpool_pick_limits lim = {.gas = BLOCK_GAS, .bytes = 1 << 20, .count = 4};
    ck_assert_uint_eq(txpool_pick(p, floor_fee, &lim, out, 4), 3);
    refused(p, tx2(1, 3, GWEI, 2 * GWEI), 0, TXPOOL_ACCOUNT_LIMIT, "account limit exceeded: pooled 3 txs");
    txpool_free(p);
}
END_TEST

/* ---- Picking ---- */

static int key_of(const struct tx_signed *t)
{
    for (int i = 0; i < NKEYS; i++)
        if (memcmp(addrs[i], t->tx.sender, 20) == 0) return i;
    return -1;
}

static void expect_picked(const struct tx_signed **out, size_t n, const char *want)
{
    char got[512] = "";
    for (size_t i = 0; i < n; i++) {
        char one[32];
        snprintf(one, sizeof one, "%s%d:%llu", i ? " " : "", key_of(out[i]), (unsigned long long)out[i]->tx.nonce);
        strcat(got, one);
    }
    ck_assert_str_eq(got, want);
}

START_TEST(picking_order)
{
    struct txpool_config c = config();
    struct txpool *p = pool_new(&c);
    /* sender 1: 0 tip 1, 1 tip 10, 2 tip 10; sender 2: 0 tip 5; sender 3: 0 tip 3 but fee cap
       3 gwei (effective tip 2 at base fee 1); sender 4: 0 tip 5 (a tie with 2, admitted later) */
    admit(p, tx2(1, 0, 1 * GWEI, 50 * GWEI), 0);
    admit(p, tx2(1, 1, 10 * GWEI, 50 * GWEI), 0);
    admit(p, tx2(1, 2, 10 * GWEI, 50 * GWEI), 0);
    admit(p, tx2(2, 0, 5 * GWEI, 50 * GWEI), 0);
    admit(p, tx2(3, 0, 3 * GWEI, 3 * GWEI), 0);
    admit(p, tx2(4, 0, 5 * GWEI, 50 * GWEI), 0);
    admit(p, make(&(struct spec){.key = 5, .type = 0, .nonce = 0, .fee = 4 * GWEI}), 0); /* legacy: tip 3 */
    admit(p, tx2(6, 1, 90 * GWEI, 100 * GWEI), 0);                                      /* future: never */
    const struct tx_signed *out[16];
    struct txpool_pick_limits lim = {.gas = BLOCK_GAS, .bytes = 1 << 20, .count = 16};
    size_t n = txpool_pick(p, u256_from_u64(GWEI), &lim, out, 16);
    expect_picked(out, n, "2:0 4:0 5:0 3:0 1:0 1:1 1:2");
    check_pool(p);
    struct txpool_stats st;
    txpool_stats(p, &st);
    ck_assert_uint_eq(st.in_flight, 7);
    /* In flight: not picked again; released: picked again, in the same order. */
    ck_assert_uint_eq(txpool_pick(p, u256_from_u64(GWEI), &lim, out, 16), 0);
    txpool_release_all(p);
    check_pool(p);
    n = txpool_pick(p, u256_from_u64(GWEI), &lim, out, 16);
    expect_picked(out, n, "2:0 4:0 5:0 3:0 1:0 1:1 1:2");
    txpool_release_all(p);

    /* A higher base fee: sender 3's fee cap (3 gwei) is under 4 gwei: it gives nothing; the
       legacy price 4 leaves it no tip (picked last of the tips, before nothing). */
    n = txpool_pick(p, u256_from_u64(4 * GWEI), &lim, out, 16);
    expect_picked(out, n, "2:0 4:0 1:0 1:1 1:2 5:0");
    txpool_release_all(p);

    /* The count. */
    lim.count = 3;
    n = txpool_pick(p, u256_from_u64(GWEI), &lim, out, 16);
    expect_picked(out, n, "2:0 4:0 5:0");
    /* out_cap bounds it too; the next pick goes on where the first stopped */
    lim.count = 16;
    n = txpool_pick(p, u256_from_u64(GWEI), &lim, out, 2);
    expect_picked(out, n, "3:0 1:0");
    txpool_release_all(p);

    /* Gas: room for two 21000-gas transactions and a bit; the third, whichever it is, does not
       fit, and no other does either. */
    lim.gas = 2 * 21000 + 20999;
    n = txpool_pick(p, u256_from_u64(GWEI), &lim, out, 16);
    expect_picked(out, n, "2:0 4:0");
    txpool_release_all(p);

    /* A sender whose next does not fit gives nothing more; the others go on. */
    struct txpool *q = pool_new(&c);
    admit(q, make(&(struct spec){.key = 1, .type = 2, .nonce = 0, .tip = 9 * GWEI, .fee = 50 * GWEI, .gas = 100000}),
          0);
    admit(q, tx2(1, 1, 9 * GWEI, 50 * GWEI), 0);
    admit(q, tx2(2, 0, 1 * GWEI, 50 * GWEI), 0);
    admit(q, tx2(2, 1, 1 * GWEI, 50 * GWEI), 0);
    lim.gas = 99999;
    n = txpool_pick(q, u256_from_u64(GWEI), &lim, out, 16);
    expect_picked(out, n, "2:0 2:1");
    txpool_release_all(q);
    /* Bytes, with a per-transaction overhead: exactly room for two, then one byte short. */
    lim.overhead_bytes = 4;
    lim.bytes = out[0]->raw_len + out[1]->raw_len + 8;
    n = txpool_pick(q, u256_from_u64(GWEI), &lim, out, 16);
    expect_picked(out, n, "2:0 2:1");
    txpool_release_all(q);
    lim.bytes--;
    n = txpool_pick(q, u256_from_u64(GWEI), &lim, out, 16);
    expect_picked(out, n, "2:0");
    txpool_release_all(q);
    check_pool(q);
    txpool_free(q);
    txpool_free(p);
}
END_TEST

/* ---- A block: included, dropped for gas, released, removed ---- */

START_TEST(block_cycle)
{
    struct txpool_config c = config();
    struct txpool *p = pool_new(&c);
    struct chain ch;
    chain_init(&ch);
    for (int k = 1; k <= 3; k++)
        for (uint64_t n = 0; n < 3; n++) admit(p, tx2(k, n, (uint64_t)k * GWEI, 50 * GWEI), 0);
    const struct tx_signed *out[16];
    struct txpool_pick_limits lim = {.gas = BLOCK_GAS, .bytes = 1 << 20, .count = 16};
    size_t n = txpool_pick(p, floor_fee, &lim, out, 16);
    expect_picked(out, n, "3:0 3:1 3:2 2:0 2:1 2:2 1:0 1:1 1:2");
    /* The block includes sender 3's three and sender 2's first; it ran out of gas for the rest. */
    uint8_t inc[4][32];
    for (int i = 0; i < 4; i++) memcpy(inc[i], out[i]->hash, 32);
    uint8_t dropped_hash[32];
    memcpy(dropped_hash, out[4]->hash, 32);
    ch.nonce[3] = 3;
    ch.nonce[2] = 1;
    uint8_t senders[3][20];
    for (int i = 0; i < 3; i++) memcpy(senders[i], addrs[i + 1], 20);
    struct txpool_block_update u = {.included = (const uint8_t(*)[32])inc,
                                    .included_count = 4,
                                    .senders = (const uint8_t(*)[20])senders,
                                    .sender_count = 3,
                                    .release_in_flight = false};
    struct cohort_error err = {0};
    ck_assert_int_eq(txpool_block(p, &u, chain_read, &ch, &err), 0);
    check_pool(p);
    struct txpool_stats st;
    txpool_stats(p, &st);
    ck_assert_uint_eq(st.pending, 5);
    ck_assert_uint_eq(st.in_flight, 5);
    /* The node puts back what was dropped for gas: sender 2's 1 (and its 2 after it). */
    txpool_release(p, (const uint8_t(*)[32])dropped_hash, 1);
    check_pool(p);
    txpool_stats(p, &st);
    ck_assert_uint_eq(st.in_flight, 3);
    n = txpool_pick(p, floor_fee, &lim, out, 16);
    expect_picked(out, n, "2:1 2:2");
    /* The next block includes nothing of ours; release_in_flight puts everything back. */
    u.included_count = 0;
    u.sender_count = 0;
    u.release_in_flight = true;
    ck_assert_int_eq(txpool_block(p, &u, chain_read, &ch, &err), 0);
    check_pool(p);
    txpool_stats(p, &st);
    ck_assert_uint_eq(st.in_flight, 0);
    ck_assert_uint_eq(st.senders, 2);
    /* Removing one in the middle: those after it wait. */
    n = txpool_pick(p, floor_fee, &lim, out, 16);
    expect_picked(out, n, "2:1 2:2 1:0 1:1 1:2");
    uint8_t middle[32];
    memcpy(middle, out[3]->hash, 32);
    ck_assert_uint_eq(txpool_remove(p, (const uint8_t(*)[32])middle, 1), 1);
    ck_assert_uint_eq(txpool_remove(p, (const uint8_t(*)[32])middle, 1), 0);
    check_pool(p);
    txpool_stats(p, &st);
    ck_assert_uint_eq(st.pending, 3);
    ck_assert_uint_eq(st.queued, 1);
    ck_assert_uint_eq(st.in_flight, 3);
    txpool_free(p);
}
END_TEST

/* ---- The randomized comparison against a reference implementation ---- */

/*
 * The reference is the rules written plainly over one flat array: every question scans
 * everything (O(n^2) and worse), so it is easy to read and check by eye. The real pool
 * and the reference get the same operations; after each they must agree on the refusal,
 * the counts, the picked order, and at the end on the contents.
 */
#define REF_MAX 256
#define MODEL_KEYS 8

struct ref_tx {
    int key;
    uint64_t nonce, seq;
    u256 fee, tip, cost;
    size_t size;
    uint64_t gas;
    uint8_t hash[32];
    bool in_flight;
    const struct tx_signed *t; /* what the pool holds (for the effective tip) */
};

struct ref {
    struct ref_tx tx[REF_MAX];
    int n;
    bool held[MODEL_KEYS];
    uint64_t nonce[MODEL_KEYS]; /* while held */
    uint64_t seq;
    uint64_t max_count, max_bytes;
    uint32_t per_sender;
};

static int ref_find(const struct ref *r, int key, uint64_t nonce)
{
    for (int i = 0; i < r->n; i++)
        if (r->tx[i].key == key && r->tx[i].nonce == nonce) return i;
    return -1;
}

static int ref_count_of(const struct ref *r, int key)
{
    int c = 0;
    for (int i = 0; i < r->n; i++) c += r->tx[i].key == key;
    return c;
}

/* Whether tx i is ready: its sender holds every nonce from the state's up to it. */
static bool ref_ready(const struct ref *r, int i)
{
    const struct ref_tx *t = &r->tx[i];
    for (uint64_t n = r->nonce[t->key]; n < t->nonce; n++)
        if (ref_find(r, t->key, n) < 0) return false;
    return true;
}

static int ref_tail(const struct ref *r, int key)
{
    int best = -1;
    for (int i = 0; i < r->n; i++)
        if (r->tx[i].key == key && (best < 0 || r->tx[i].nonce > r->tx[best].nonce)) best = i;
    return best;
}

static void ref_drop(struct ref *r, int i)
{
    r->tx[i] = r->tx[--r->n];
}

/* After removals: in flight only as a prefix of the ready run; senders with nothing forgotten. */
static void ref_tidy(struct ref *r)
{
    for (int k = 0; k < MODEL_KEYS; k++) {
        if (!r->held[k]) continue;
        if (ref_count_of(r, k) == 0) {
            r->held[k] = false;
            continue;
        }
        bool prefix = true;
        for (uint64_t n = r->nonce[k];; n++) {
            int i = ref_find(r, k, n);
            if (i < 0) break;
            if (!r->tx[i].in_flight) prefix = false;
            if (!prefix) r->tx[i].in_flight = false;
        }
        /* anything after the ready run is not in flight */
        for (int i = 0; i < r->n; i++)
            if (r->tx[i].key == k && !ref_ready(r, i)) r->tx[i].in_flight = false;
    }
}

/* Removes the sender's transactions below nonce or (balance) costing more than it. */
static void ref_recheck(struct ref *r, int key, uint64_t nonce, const u256 *balance)
{
    r->nonce[key] = nonce;
    for (int i = 0; i < r->n;) {
        struct ref_tx *t = &r->tx[i];
        if (t->key == key && (t->nonce < nonce || (balance && u256_lt(*balance, t->cost)))) ref_drop(r, i);
        else i++;
    }
    /* (ref_tidy after every sender of a block is re-read: the others' nonces are not yet new) */
}

static bool ref_worth_less(const struct ref *r, int a, int b)
{
    bool ra = ref_ready(r, a), rb = ref_ready(r, b);
    if (ra != rb) return !ra;
    if (!u256_eq(r->tx[a].tip, r->tx[b].tip)) return u256_lt(r->tx[a].tip, r->tx[b].tip);
    return r->tx[a].seq > r->tx[b].seq;
}

static enum txpool_refusal ref_add(struct ref *r, const struct tx_signed *t, int key, const struct txpool_account *a,
                                   u256 floor)
{
    for (int i = 0; i < r->n; i++)
        if (memcmp(r->tx[i].hash, t->hash, 32) == 0) return TXPOOL_ALREADY_KNOWN;
    u256 fee = tx_fee_cap(&t->tx), tip = tx_tip_cap(&t->tx);
    if (u256_lt(fee, floor)) return TXPOOL_FEE_CAP_TOO_LOW;
    if (r->held[key] && a->nonce > r->nonce[key]) {
        ref_recheck(r, key, a->nonce, &a->balance);
        ref_tidy(r);
    }
    uint64_t state = r->held[key] ? r->nonce[key] : a->nonce;
    if (t->tx.nonce < state) return TXPOOL_NONCE_TOO_LOW;
    u256 cost = u256_add(u256_mul(fee, u256_from_u64(t->tx.gas_limit)), t->tx.value);
    if (u256_lt(a->balance, cost)) return TXPOOL_INSUFFICIENT_FUNDS;
    if (!r->held[key]) {
        r->held[key] = true;
        r->nonce[key] = state;
    }
    int old = ref_find(r, key, t->tx.nonce);
    struct ref saved = *r; /* the undo: everything as it was */
    saved.held[key] = false;
    for (int i = 0; i < r->n && !saved.held[key]; i++) saved.held[key] = r->tx[i].key == key;
    bool ready;
    if (old >= 0) {
        if (r->tx[old].in_flight) {
            *r = saved;
            return TXPOOL_IN_FLIGHT;
        }
        u256 of = r->tx[old].fee, ot = r->tx[old].tip;
        u256 fth = u256_add(of, u256_div(of, u256_from_u64(10))), tth = u256_add(ot, u256_div(ot, u256_from_u64(10)));
        if (!(u256_gt(fee, of) && u256_gt(tip, ot) && !u256_lt(fee, fth) && !u256_lt(tip, tth))) {
            *r = saved;
            return TXPOOL_REPLACE_UNDERPRICED;
        }
        ready = ref_ready(r, old);
    } else {
        if ((uint32_t)ref_count_of(r, key) >= r->per_sender) {
            int tail = ref_tail(r, key);
            if (r->tx[tail].nonce < t->tx.nonce || r->tx[tail].in_flight) {
                *r = saved;
                return TXPOOL_ACCOUNT_LIMIT;
            }
            ref_drop(r, tail);
        }
        ready = true;
        for (uint64_t n = r->nonce[key]; n < t->tx.nonce; n++)
            if (ref_find(r, key, n) < 0) ready = false;
    }
    for (;;) {
        uint64_t count = (uint64_t)r->n + (old >= 0 ? 0 : 1), bytes = t->raw_len;
        for (int i = 0; i < r->n; i++) bytes += r->tx[i].size;
        if (old >= 0) bytes -= r->tx[ref_find(r, key, t->tx.nonce)].size;
        if (count <= r->max_count && bytes <= r->max_bytes) break;
        int victim = -1;
        for (int k = 0; k < MODEL_KEYS; k++) {
            int tail = ref_tail(r, k);
            if (tail < 0 || r->tx[tail].in_flight) continue;
            if (k == key && r->tx[tail].nonce <= t->tx.nonce) continue;
            if (victim < 0 || ref_worth_less(r, tail, victim)) victim = tail;
        }
        bool vready = victim >= 0 && ref_ready(r, victim);
        bool less = victim >= 0 && (vready != ready ? !vready : u256_lt(r->tx[victim].tip, tip));
        if (!less) {
            *r = saved;
            return TXPOOL_FULL;
        }
        ref_drop(r, victim);
    }
    if (old >= 0) ref_drop(r, ref_find(r, key, t->tx.nonce));
    ck_assert_int_lt(r->n, REF_MAX);
    struct ref_tx *n = &r->tx[r->n++];
    memset(n, 0, sizeof *n);
    n->key = key;
    n->nonce = t->tx.nonce;
    n->seq = ++r->seq;
    n->fee = fee;
    n->tip = tip;
    n->cost = cost;
    n->size = t->raw_len;
    n->gas = t->tx.gas_limit;
    memcpy(n->hash, t->hash, 32);
    n->t = t;
    ref_tidy(r);
    return TXPOOL_ACCEPTED;
}

/* The picked order: indexes into r->tx, in out. */
static int ref_pick(struct ref *r, u256 base_fee, const struct txpool_pick_limits *lim, size_t cap, int *out)
{
    bool active[MODEL_KEYS];
    for (int k = 0; k < MODEL_KEYS; k++) active[k] = true;
    uint64_t gas = lim->gas, bytes = lim->bytes;
    int picked = 0;
    size_t max = lim->count < cap ? lim->count : cap;
    while ((size_t)picked < max) {
        int best = -1;
        u256 best_tip = u256_zero();
        for (int k = 0; k < MODEL_KEYS; k++) {
            if (!active[k] || !r->held[k]) continue;
            /* the first ready one not in flight */
            int next = -1;
            for (uint64_t n = r->nonce[k];; n++) {
                int i = ref_find(r, k, n);
                if (i < 0) break;
                if (!r->tx[i].in_flight) {
                    next = i;
                    break;
                }
            }
            if (next < 0 || u256_lt(r->tx[next].fee, base_fee)) {
                active[k] = false;
                continue;
            }
            u256 eff = tx_effective_tip(&r->tx[next].t->tx, base_fee);
            if (best < 0 || u256_gt(eff, best_tip) || (u256_eq(eff, best_tip) && r->tx[next].seq < r->tx[best].seq)) {
                best = next;
                best_tip = eff;
            }
        }
        if (best < 0) break;
        uint64_t size = r->tx[best].size + lim->overhead_bytes;
        if (r->tx[best].gas > gas || size > bytes) {
            active[r->tx[best].key] = false;
            continue;
        }
        gas -= r->tx[best].gas;
        bytes -= size;
        r->tx[best].in_flight = true;
        out[picked++] = best;
    }
    return picked;
}

static void ref_counts(const struct ref *r, uint64_t *pending, uint64_t *queued, uint64_t *in_flight, uint64_t *bytes)
{
    *pending = *queued = *in_flight = *bytes = 0;
    for (int i = 0; i < r->n; i++) {
        if (ref_ready(r, i)) ++*pending;
        else ++*queued;
        *in_flight += r->tx[i].in_flight;
        *bytes += r->tx[i].size;
    }
}

struct listing {
    char lines[REF_MAX][48];
    int n;
};

static void list_pool(void *arg, const struct tx_signed *t, bool pending)
{
    struct listing *l = arg;
    ck_assert_int_lt(l->n, REF_MAX);
    snprintf(l->lines[l->n++], 48, "%02d:%06llu:%d", key_of(t), (unsigned long long)t->tx.nonce, pending);
}

static int cmp_lines(const void *a, const void *b) { return strcmp(a, b); }

static void compare(const struct txpool *p, const struct ref *r, int seed, int step)
{
    check_pool(p);
    uint64_t pending, queued, in_flight, bytes;
    ref_counts(r, &pending, &queued, &in_flight, &bytes);
    struct txpool_stats st;
    txpool_stats(p, &st);
    ck_assert_msg(st.pending == pending && st.queued == queued && st.in_flight == in_flight && st.bytes == bytes,
                  "seed %d step %d: pool %llu/%llu/%llu/%llu, reference %llu/%llu/%llu/%llu", seed, step,
                  (unsigned long long)st.pending, (unsigned long long)st.queued, (unsigned long long)st.in_flight,
                  (unsigned long long)st.bytes, (unsigned long long)pending, (unsigned long long)queued,
                  (unsigned long long)in_flight, (unsigned long long)bytes);
    for (int k = 0; k < MODEL_KEYS; k++) {
        uint64_t got = 0, want = 0;
        bool has = txpool_pending_nonce(p, addrs[k], &got);
        bool ref_has = false;
        if (r->held[k]) {
            want = r->nonce[k];
            while (ref_find(r, k, want) >= 0) want++;
            ref_has = want > r->nonce[k];
        }
        ck_assert_msg(has == ref_has && (!has || got == want), "seed %d step %d: pending nonce of %d", seed, step, k);
    }
}

static void compare_contents(const struct txpool *p, const struct ref *r, int seed)
{
    struct listing *a = calloc(1, sizeof *a), *b = calloc(1, sizeof *b);
    txpool_for_each(p, list_pool, a);
    for (int i = 0; i < r->n; i++)
        snprintf(b->lines[b->n++], 48, "%02d:%06llu:%d", r->tx[i].key, (unsigned long long)r->tx[i].nonce,
                 ref_ready(r, i));
    ck_assert_int_eq(a->n, b->n);
    qsort(b->lines, (size_t)b->n, sizeof b->lines[0], cmp_lines);
    /* the pool lists each sender's in nonce order: sorting keeps that */
    struct listing *sorted = calloc(1, sizeof *sorted);
    *sorted = *a;
    qsort(sorted->lines, (size_t)sorted->n, sizeof sorted->lines[0], cmp_lines);
    for (int i = 0; i < a->n; i++) ck_assert_msg(strcmp(sorted->lines[i], b->lines[i]) == 0, "seed %d: %s vs %s", seed,
                                                 sorted->lines[i], b->lines[i]);
    free(a);
    free(b);
    free(sorted);
}

static uint64_t rnd(uint64_t *state, uint64_t n) { return testutil_rand_next(state) % n; }

static void model_run(int seed, int steps, int totals[TXPOOL_REFUSAL_COUNT])
{
    uint64_t rs = 0x9e3779b9ull * (uint64_t)(seed + 1);
    struct txpool_config c = config();
    c.hash_seed = testutil_rand_next(&rs);
    c.max_transactions = 16 + rnd(&rs, 16);
    c.max_per_sender = 3 + (uint32_t)rnd(&rs, 4);
    c.max_bytes = 140 * (8 + rnd(&rs, 24));
    struct txpool *p = pool_new(&c);
    struct ref *r = calloc(1, sizeof *r);
    r->max_count = c.max_transactions;
    r->max_bytes = c.max_bytes;
    r->per_sender = c.max_per_sender;
    struct chain *ch = calloc(1, sizeof *ch);
    chain_init(ch);
    for (int k = 0; k < MODEL_KEYS; k++) ch->balance[k] = u256_from_u64(2000000000000000ull + rnd(&rs, 4) * 1000000000000000ull);
    u256 base_fee = u256_from_u64(GWEI);
    int adds = 0, accepted = 0, picks = 0, blocks = 0;
    int refusals[TXPOOL_REFUSAL_COUNT] = {0};
    bool trace = getenv("COHORT_TXPOOL_TRACE") != NULL;
    for (int step = 0; step < steps; step++) {
        uint64_t op = rnd(&rs, 100);
        if (trace) fprintf(stderr, "step %d op %llu\n", step, (unsigned long long)op);
        if (op < 70) {
            /* an add: near the chain's nonce, tips from a small set (ties happen) */
            /* (one draw per statement: the order of draws is the same on every compiler) */
            int key = (int)rnd(&rs, MODEL_KEYS);
            struct spec sp = {.key = key};
            sp.type = rnd(&rs, 4) == 0 ? 0 : 2;
            sp.nonce = ch->nonce[key] + rnd(&rs, 7);
            if (rnd(&rs, 8) == 0 && sp.nonce > 0) sp.nonce--;
            sp.tip = (1 + rnd(&rs, 6)) * GWEI / 2;
            sp.data_len = rnd(&rs, 3) * 40;
            sp.fee = sp.tip + (rnd(&rs, 6) == 0 ? 0 : (1 + rnd(&rs, 5)) * GWEI / 2);
            if (sp.type == 0) sp.fee = sp.tip + GWEI;
            sp.value = rnd(&rs, 2) * 100000000000000ull;
            struct tx_signed *t = make(&sp);
            struct txpool_account a = {.nonce = ch->nonce[key], .balance = ch->balance[key]};
            enum txpool_refusal want = ref_add(r, t, key, &a, u256_from_u64(GWEI));
            enum txpool_refusal got;
            struct cohort_error err = {0};
            int rc = txpool_add(p, t, &a, u256_from_u64(GWEI), &got, &err);
            ck_assert_msg(got == want, "seed %d step %d: refusal %s, reference %s (%s)", seed, step,
                          txpool_refusal_name(got), txpool_refusal_name(want), err.message);
            ck_assert_int_eq(rc == 0, want == TXPOOL_ACCEPTED);
            refusals[got]++;
            totals[got]++;
            adds++;
            if (rc != 0) tx_free(t);
            else accepted++;
        } else if (op < 85) {
            /* a pick under a base fee between 0.5 and 3 gwei, with small budgets */
            base_fee = u256_from_u64(GWEI / 2 + rnd(&rs, 6) * GWEI / 2);
            struct txpool_pick_limits lim;
            lim.gas = 21000 * (1 + rnd(&rs, 6));
            lim.gas += 2000 * rnd(&rs, 3);
            lim.bytes = 100 * (1 + rnd(&rs, 12));
            lim.overhead_bytes = (uint32_t)rnd(&rs, 5);
            lim.count = 1 + rnd(&rs, 8);
            size_t cap = 1 + rnd(&rs, 8);
            const struct tx_signed *out[16];
            int ref_out[16];
            size_t n = txpool_pick(p, base_fee, &lim, out, cap);
            int m = ref_pick(r, base_fee, &lim, cap, ref_out);
            ck_assert_msg((int)n == m, "seed %d step %d: picked %zu, reference %d", seed, step, n, m);
            for (int i = 0; i < m; i++)
                ck_assert_msg(memcmp(out[i]->hash, r->tx[ref_out[i]].hash, 32) == 0, "seed %d step %d: pick %d differs",
                              seed, step, i);
            picks++;
        } else if (op < 95) {
            /* a block: the in-flight ones run in nonce order per sender while gas lasts; some
               senders' balances fall; a sender or two moved by transactions from elsewhere */
            uint8_t inc[REF_MAX][32];
            uint8_t senders[MODEL_KEYS][20];
            size_t ninc = 0, nsend = 0;
            uint64_t gas_left = 21000 * (2 + rnd(&rs, 6));
            bool touched[MODEL_KEYS] = {false};
            for (int k = 0; k < MODEL_KEYS; k++) {
                for (;;) {
                    int i = ref_find(r, k, ch->nonce[k]);
                    if (i < 0 || !r->tx[i].in_flight || !r->held[k] || r->nonce[k] != ch->nonce[k]) break;
                    if (r->tx[i].gas > gas_left || u256_lt(ch->balance[k], r->tx[i].cost)) break;
                    gas_left -= r->tx[i].gas;
                    ch->balance[k] = u256_sub(ch->balance[k], u256_from_u64(r->tx[i].gas * GWEI));
                    ch->nonce[k]++;
                    memcpy(inc[ninc++], r->tx[i].hash, 32);
                    touched[k] = true;
                }
                if (rnd(&rs, 10) == 0) {
                    ch->nonce[k] += rnd(&rs, 2); /* moved by a transaction this pool never saw */
                    ch->balance[k] = u256_from_u64(rnd(&rs, 5) * 500000000000000ull); /* sometimes 0 */
                    touched[k] = true;
                }
                if (touched[k]) memcpy(senders[nsend++], addrs[k], 20);
            }
            bool release = rnd(&rs, 4) != 0;
            if (trace) fprintf(stderr, "  block: %zu included, %zu senders, release %d\n", ninc, nsend, release);
            struct txpool_block_update u = {.included = (const uint8_t(*)[32])inc,
                                            .included_count = ninc,
                                            .senders = (const uint8_t(*)[20])senders,
                                            .sender_count = nsend,
                                            .release_in_flight = release};
            /* the reference: included out, touched re-read, in flight released */
            for (size_t j = 0; j < ninc; j++)
                for (int i = 0; i < r->n; i++)
                    if (memcmp(r->tx[i].hash, inc[j], 32) == 0) {
                        ref_drop(r, i);
                        break;
                    }
            if (release)
                for (int i = 0; i < r->n; i++) r->tx[i].in_flight = false;
            for (int k = 0; k < MODEL_KEYS; k++)
                if (touched[k] && r->held[k]) ref_recheck(r, k, ch->nonce[k], &ch->balance[k]);
            ref_tidy(r);
            struct cohort_error err = {0};
            ck_assert_int_eq(txpool_block(p, &u, chain_read, ch, &err), 0);
            blocks++;
        } else if (op < 98) {
            /* put back one in-flight transaction (and its sender's later ones) */
            for (int i = 0; i < r->n; i++) {
                if (!r->tx[i].in_flight) continue;
                uint8_t h[32];
                memcpy(h, r->tx[i].hash, 32);
                int key = r->tx[i].key;
                uint64_t from = r->tx[i].nonce;
                for (int j = 0; j < r->n; j++)
                    if (r->tx[j].key == key && r->tx[j].nonce >= from) r->tx[j].in_flight = false;
                txpool_release(p, (const uint8_t(*)[32])h, 1);
                break;
            }
        } else {
            /* remove one held transaction by hash */
            if (r->n > 0) {
                int i = (int)rnd(&rs, (uint64_t)r->n);
                uint8_t h[32];
                memcpy(h, r->tx[i].hash, 32);
                ref_drop(r, i);
                ref_tidy(r);
                ck_assert_uint_eq(txpool_remove(p, (const uint8_t(*)[32])h, 1), 1);
            }
        }
        if (trace) {
            for (int i = 0; i < r->n; i++)
                fprintf(stderr, "  ref %d:%llu %s%s seq %llu\n", r->tx[i].key, (unsigned long long)r->tx[i].nonce,
                        ref_ready(r, i) ? "ready" : "future", r->tx[i].in_flight ? " flight" : "",
                        (unsigned long long)r->tx[i].seq);
            for (int k = 0; k < MODEL_KEYS; k++)
                fprintf(stderr, "  key %d chain nonce %llu pool %d/%llu\n", k, (unsigned long long)ch->nonce[k],
                        r->held[k], (unsigned long long)r->nonce[k]);
        }
        compare(p, r, seed, step);
    }
    compare_contents(p, r, seed);
    if (seed == 0)
        fprintf(stderr,
                "model seed 0: %d adds (%d accepted; full %d, replace-underpriced %d, account-limit %d, nonce-too-low "
                "%d, funds %d, in-flight %d, known %d), %d picks, %d blocks\n",
                adds, accepted, refusals[TXPOOL_FULL], refusals[TXPOOL_REPLACE_UNDERPRICED],
                refusals[TXPOOL_ACCOUNT_LIMIT], refusals[TXPOOL_NONCE_TOO_LOW], refusals[TXPOOL_INSUFFICIENT_FUNDS],
                refusals[TXPOOL_IN_FLIGHT], refusals[TXPOOL_ALREADY_KNOWN], picks, blocks);
    /* every kind of outcome happened at least once over the run */
    ck_assert_int_gt(accepted, 0);
    txpool_free(p);
    free(r);
    free(ch);
}

START_TEST(model_comparison)
{
    keys_init();
    const char *env = getenv("COHORT_TXPOOL_SEEDS");
    int seeds = env ? atoi(env) : 16;
    int totals[TXPOOL_REFUSAL_COUNT] = {0};
    for (int seed = 0; seed < seeds; seed++) model_run(seed, 800, totals);
    /* The runs reached every rule the two implementations share. */
    const enum txpool_refusal reached[] = {TXPOOL_ACCEPTED,           TXPOOL_ALREADY_KNOWN,   TXPOOL_FEE_CAP_TOO_LOW,
                                           TXPOOL_NONCE_TOO_LOW,      TXPOOL_INSUFFICIENT_FUNDS, TXPOOL_IN_FLIGHT,
                                           TXPOOL_REPLACE_UNDERPRICED, TXPOOL_ACCOUNT_LIMIT,  TXPOOL_FULL};
    for (size_t i = 0; i < sizeof reached / sizeof reached[0]; i++)
        ck_assert_msg(seeds < 16 || totals[reached[i]] > 0, "no %s in %d seeds", txpool_refusal_name(reached[i]), seeds);
}
END_TEST

/* ---- 10,000 transactions from 1,000 senders ---- */

START_TEST(ten_thousand)
{
    keys_init();
    enum { SENDERS = 1000, PER = 10, TOTAL = SENDERS * PER };
    struct txpool_config c = config();
    c.max_transactions = TOTAL;
    struct txpool *p = pool_new(&c);
    /* Signed in advance; admitted in an order that makes most of them future first: each
       sender's nonces arrive 9, 8, ..., 0 for a tenth of the senders, in order for the rest. */
    struct tx_signed **txs = malloc(TOTAL * sizeof *txs);
    uint64_t rs = 42;
    for (int s = 0; s < SENDERS; s++)
        for (int n = 0; n < PER; n++) {
            int nonce = s % 10 == 0 ? PER - 1 - n : n;
            txs[s * PER + n] = tx2(s, (uint64_t)nonce, (1 + rnd(&rs, 50)) * GWEI / 10, 100 * GWEI);
        }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    uint64_t w0 = txpool_work(p), max_add = 0;
    for (int i = 0; i < TOTAL; i++) {
        uint64_t before = txpool_work(p);
        struct txpool_account a = rich(0);
        ck_assert_int_eq(txpool_add(p, txs[i], &a, floor_fee, NULL, NULL), 0);
        uint64_t w = txpool_work(p) - before;
        if (w > max_add) max_add = w;
    }
    uint64_t add_work = txpool_work(p) - w0;
    check_pool(p);
    expect_stats(p, TOTAL, 0);
    /* A full pool: a newcomer that pays more pushes out the least worth. */
    struct tx_signed *extra = tx2(SENDERS - 1, PER, 100 * GWEI, 200 * GWEI);
    uint64_t before = txpool_work(p);
    struct txpool_account a = rich(0);
    ck_assert_int_eq(txpool_add(p, extra, &a, floor_fee, NULL, NULL), 0);
    uint64_t evict_work = txpool_work(p) - before;
    check_pool(p);

    /* Blocks of up to 1,000 transactions (21000 gas each) until the pool is empty. */
    struct chain *ch = calloc(1, sizeof *ch);
    chain_init(ch);
    const struct tx_signed **out = malloc(TOTAL * sizeof *out);
    uint8_t(*inc)[32] = malloc(TOTAL * sizeof *inc);
    uint8_t(*senders)[20] = malloc(TOTAL * sizeof *senders);
    uint64_t max_pick = 0, max_block = 0;
    int blocks = 0;
    size_t total_picked = 0;
    for (;;) {
        struct txpool_pick_limits lim = {.gas = 1000 * 21000, .bytes = 1 << 20, .overhead_bytes = 4, .count = TOTAL};
        before = txpool_work(p);
        size_t n = txpool_pick(p, floor_fee, &lim, out, TOTAL);
        uint64_t w = txpool_work(p) - before;
        if (w > max_pick) max_pick = w;
        if (n == 0) break;
        total_picked += n;
        /* each sender's picked in nonce order, none twice, none skipped */
        for (size_t i = 0; i < n; i++) {
            int k = key_of(out[i]);
            ck_assert_uint_eq(out[i]->tx.nonce, ch->nonce[k]);
            ch->nonce[k]++;
            memcpy(inc[i], out[i]->hash, 32);
            memcpy(senders[i], addrs[k], 20);
        }
        struct txpool_block_update u = {.included = (const uint8_t(*)[32])inc,
                                        .included_count = n,
                                        .senders = (const uint8_t(*)[20])senders,
                                        .sender_count = n,
                                        .release_in_flight = true};
        before = txpool_work(p);
        struct cohort_error err = {0};
        ck_assert_int_eq(txpool_block(p, &u, chain_read, ch, &err), 0);
        w = txpool_work(p) - before;
        if (w > max_block) max_block = w;
        blocks++;
        if (blocks % 4 == 0) check_pool(p);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    expect_stats(p, 0, 0);
    ck_assert_uint_eq(total_picked, TOTAL); /* 9,999 of the first and the extra */
    ck_assert_int_eq(blocks, 10);
    fprintf(stderr,
            "txpool 10000 tx / 1000 senders: add work %llu (%.1f per add, max %llu), eviction %llu, pick max %llu, "
            "block max %llu, %d blocks, %.3f s without signing\n",
            (unsigned long long)add_work, (double)add_work / TOTAL, (unsigned long long)max_add,
            (unsigned long long)evict_work, (unsigned long long)max_pick, (unsigned long long)max_block, blocks,
            seconds);
    /* The bounds follow from the complexity in txpool.h with n = 10,000, S = 1,000, k = 10,
       log2 S = 10, and constant factors of 4 to 8: an O(n) step in any of them would blow
       through them by an order of magnitude. */
    ck_assert_uint_lt(add_work, (uint64_t)TOTAL * 64);           /* amortized O(log S + k) per add */
    ck_assert_uint_lt(max_add, 256);                            /* one add: the maps are sized at start */
    ck_assert_uint_lt(evict_work, 200);                         /* O(log S) */
    ck_assert_uint_lt(max_pick, SENDERS + 1000 * 10 * 4 + 1000); /* O(S + m log S) */
    ck_assert_uint_lt(max_block, 1000 * (10 + 10 * 4) + 2000);   /* O(h + t (k + log S)) */
    free(out);
    free(inc);
    free(senders);
    free(txs);
    free(ch);
    txpool_free(p);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("txpool");
    TCase *tc = tcase_create("txpool");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, admission_rules);
    tcase_add_test(tc, replacement);
    tcase_add_test(tc, queues_and_promotion);
    tcase_add_test(tc, eviction_order);
    tcase_add_test(tc, eviction_by_bytes_and_undo);
    tcase_add_test(tc, per_sender_cap);
    tcase_add_test(tc, picking_order);
    tcase_add_test(tc, block_cycle);
    tcase_add_test(tc, model_comparison);
    tcase_add_test(tc, ten_thousand);
    suite_add_tcase(s, tc);
    return testutil_run_suite(s, false);
}
