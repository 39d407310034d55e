/*
 * test_txpool.c - the transaction pool (subnode/chain/txpool.h): every admission rule with
 * geth's words, replacement, eviction order, promotion, picking order, what a block does.
 * The randomized comparison against a reference implementation and the 10,000
 * transaction pool are in test_txpool_model.c; the helpers both use in txpool_util.c.
 *
 * Transactions are real: signed by manager-client's signer (types 0 with EIP-155 and 2),
 * or hand-encoded and signed here (type 1, type 3, legacy without a chain id), then
 * decoded with tx_decode and their sender recovered with tx_recover_sender.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/keccak.h"
#include "common/rlp.h"
#include "common/secp.h"
#include "subnode/chain/txpool.h"
#include "testutil.h"
#include "txpool_util.h"

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

/* ---- Admission: every rule with its words ---- */

START_TEST(admission_rules)
{
    struct txpool_config c = config();
    c.max_tx_bytes = 4096;
    struct txpool *p = pool_new(&c);
    char want[512], addr[ADDRESS_TEXT_BYTES];

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
    address_to_checksum(addrs[4], addr); /* geth prints addresses EIP-55 mixed case */
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
    suite_add_tcase(s, tc);
    return testutil_run_suite(s, false);
}
