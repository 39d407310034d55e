/*
 * test_rotation.c - the chain's rotation entries (common/chain_rotation.h): the record,
 * VOUCH and CHANGE codecs with their refusals, the node signatures they carry checked
 * against chain.json's keys, the f + 1 rule, the next epoch's members and its instance.
 */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "common/chain_rotation.h"
#include "common/secp.h"
#include "manager-client/manager_client.h"
#include "testutil.h"

static uint8_t node_key[5][32];

/* Four members (nodes 11..14, node 12 is this one); node 15 will join. */
static struct chain_config sample(void)
{
    struct chain_config c;
    memset(&c, 0, sizeof c);
    c.version = 1;
    snprintf(c.name, sizeof c.name, "quad");
    c.chain_id = 7;
    c.evm_chain_id = 1234;
    c.slots = 1;
    c.manager_chain_id = 31337;
    c.manager_address[19] = 0x42;
    c.node_id = 12;
    c.member_index = 1;
    c.nmembers = 4;
    c.epoch = 2;
    struct cohort_error err = {0};
    for (unsigned i = 0; i < 4; i++) {
        c.members[i].node_id = 11 + i;
        snprintf(c.members[i].ip, sizeof c.members[i].ip, "127.0.0.1");
        c.members[i].base_port = (uint16_t)(20000 + 16 * i);
        ck_assert_int_eq(secp_pubkey(node_key[i], c.members[i].public_key, &err), 0);
    }
    c.genesis_gas_limit = 30000000;
    return c;
}

static struct rotation_record record_for(const struct chain_config *c)
{
    struct rotation_record r;
    memset(&r, 0, sizeof r);
    r.epoch = c->epoch + 1;
    r.member_index = 3;
    r.leaving_node_id = 14;
    r.joining.node_id = 15;
    snprintf(r.joining.ip, sizeof r.joining.ip, "127.0.0.9");
    r.joining.base_port = 20064;
    r.joining.first_slot = 2;
    struct cohort_error err = {0};
    ck_assert_int_eq(secp_pubkey(node_key[4], r.joining.public_key, &err), 0);
    return r;
}

static void sign(const struct chain_config *c, unsigned member, const uint8_t record[ROTATION_RECORD_BYTES],
                 uint8_t sig[ROTATION_SIGNATURE_BYTES])
{
    uint8_t digest[32];
    struct cohort_error err = {0};
    rotation_vouch_digest(c, record, digest);
    ck_assert_int_eq(secp_sign(node_key[member], digest, sig, &err), 0);
}

static void setup(void)
{
    struct cohort_error err = {0};
    for (int i = 0; i < 5; i++) ck_assert_int_eq(secp_key_generate(node_key[i], &err), 0);
}

START_TEST(record_round_trip_and_refusals)
{
    struct chain_config c = sample();
    struct rotation_record r = record_for(&c), back;
    uint8_t bytes[ROTATION_RECORD_BYTES];
    rotation_record_encode(&r, bytes);
    struct cohort_error err = {0};
    ck_assert_msg(rotation_record_decode(bytes, &back, &err) == 0, "%s", err.message);
    ck_assert_mem_eq(&back, &r, sizeof r);
    ck_assert_msg(rotation_record_check(&c, &back, &err) == 0, "%s", err.message);
    /* The decoder's rules. */
    uint8_t bad[ROTATION_RECORD_BYTES];
    memcpy(bad, bytes, sizeof bad);
    memset(bad + 22, 0, 4); /* the joining address 0.0.0.0 */
    ck_assert_int_eq(rotation_record_decode(bad, &back, &err), COMMON_E_INVALID);
    ck_assert_ptr_nonnull(strstr(err.message, "0.0.0.0"));
    memcpy(bad, bytes, sizeof bad);
    memset(bad, 0, 4); /* epoch 0 */
    ck_assert_int_eq(rotation_record_decode(bad, &back, &err), COMMON_E_INVALID);
    ck_assert_ptr_nonnull(strstr(err.message, "epoch 0"));
    memcpy(bad, bytes, sizeof bad);
    bad[26] = 0, bad[27] = 0; /* port 0 */
    ck_assert_int_eq(rotation_record_decode(bad, &back, &err), COMMON_E_INVALID);
    /* The chain's rules. */
    struct rotation_record x = r;
    x.epoch = c.epoch + 2;
    ck_assert_int_eq(rotation_record_check(&c, &x, &err), COMMON_E_INVALID);
    ck_assert_ptr_nonnull(strstr(err.message, "is in epoch 2"));
    x = r;
    x.leaving_node_id = 13; /* not the node at index 3 */
    ck_assert_int_eq(rotation_record_check(&c, &x, &err), COMMON_E_INVALID);
    ck_assert_ptr_nonnull(strstr(err.message, "is not member 3"));
    x = r;
    x.joining.node_id = 11; /* a member already */
    ck_assert_int_eq(rotation_record_check(&c, &x, &err), COMMON_E_INVALID);
    ck_assert_ptr_nonnull(strstr(err.message, "a member already"));
    x = r;
    x.joining.base_port = 65530;
    ck_assert_int_eq(rotation_record_check(&c, &x, &err), COMMON_E_INVALID);
}
END_TEST

START_TEST(vouch_round_trip_and_signatures)
{
    struct chain_config c = sample();
    struct rotation_record r = record_for(&c);
    uint8_t record[ROTATION_RECORD_BYTES], sig[ROTATION_SIGNATURE_BYTES], entry[ROTATION_VOUCH_BYTES];
    rotation_record_encode(&r, record);
    sign(&c, 2, record, sig);
    rotation_vouch_encode(2, 77, record, sig, entry);
    struct rotation_vouch v;
    struct cohort_error err = {0};
    ck_assert_int_eq(rotation_vouch_decode(entry, sizeof entry, &v, &err), 1);
    ck_assert_uint_eq(v.voucher, 2);
    ck_assert_uint_eq(v.sequence, 77);
    ck_assert_mem_eq(v.record_bytes, record, sizeof record);
    ck_assert(rotation_vouch_valid(&c, 2, v.record_bytes, v.signature));
    ck_assert(!rotation_vouch_valid(&c, 1, v.record_bytes, v.signature)); /* another member's key */
    ck_assert(!rotation_vouch_valid(&c, 9, v.record_bytes, v.signature)); /* no such member */
    struct chain_config other = c;
    other.chain_id = 8; /* the same record for another chain: another digest */
    ck_assert(!rotation_vouch_valid(&other, 2, v.record_bytes, v.signature));
    record[0] ^= 1;
    ck_assert(!rotation_vouch_valid(&c, 2, record, v.signature));
    /* Not a vouch, or a broken one. */
    ck_assert_int_eq(rotation_vouch_decode((const uint8_t *)"B", 1, &v, &err), 0);
    ck_assert_int_eq(rotation_vouch_decode(entry, sizeof entry - 1, &v, &err), COMMON_E_INVALID);
    entry[1] = 2;
    ck_assert_int_eq(rotation_vouch_decode(entry, sizeof entry, &v, &err), COMMON_E_INVALID);
    entry[1] = ROTATION_VERSION;
    entry[2] = 0xff; /* voucher 65280 */
    ck_assert_int_eq(rotation_vouch_decode(entry, sizeof entry, &v, &err), COMMON_E_INVALID);
    ck_assert_ptr_nonnull(strstr(err.message, "voucher"));
}
END_TEST

START_TEST(change_needs_f_plus_one_members)
{
    struct chain_config c = sample(); /* four members: f = 1, two vouches needed */
    struct rotation_record r = record_for(&c);
    struct rotation_change ch;
    memset(&ch, 0, sizeof ch);
    rotation_record_encode(&r, ch.record_bytes);
    ch.count = 1;
    ch.voucher[0] = 0;
    sign(&c, 0, ch.record_bytes, ch.signature[0]);
    uint8_t entry[ROTATION_CHANGE_MAX_BYTES];
    size_t len = rotation_change_encode(&ch, entry);
    struct rotation_change back;
    struct cohort_error err = {0};
    ck_assert_int_eq(rotation_change_decode(entry, len, &back, &err), 1);
    ck_assert_int_eq(rotation_change_check(&c, &back, &err), COMMON_E_INVALID);
    ck_assert_msg(strstr(err.message, "1 valid vouches of 1, 2 needed") != NULL, "%s", err.message);
    /* A second signature that is not the member's own does not count. */
    ch.count = 2;
    ch.voucher[1] = 3;
    sign(&c, 2, ch.record_bytes, ch.signature[1]);
    len = rotation_change_encode(&ch, entry);
    ck_assert_int_eq(rotation_change_decode(entry, len, &back, &err), 1);
    ck_assert_int_eq(rotation_change_check(&c, &back, &err), COMMON_E_INVALID);
    /* Two members of four: enough. */
    sign(&c, 3, ch.record_bytes, ch.signature[1]);
    len = rotation_change_encode(&ch, entry);
    ck_assert_int_eq(rotation_change_decode(entry, len, &back, &err), 1);
    ck_assert_msg(rotation_change_check(&c, &back, &err) == 0, "%s", err.message);
    ck_assert_mem_eq(&back.record, &r, sizeof r);
    /* The same member twice is refused by the decoder. */
    ch.voucher[1] = 0;
    len = rotation_change_encode(&ch, entry);
    ck_assert_int_eq(rotation_change_decode(entry, len, &back, &err), COMMON_E_INVALID);
    ck_assert_ptr_nonnull(strstr(err.message, "twice"));
    /* Lengths that do not match the count; no vouchers at all. */
    ch.voucher[1] = 3;
    len = rotation_change_encode(&ch, entry);
    ck_assert_int_eq(rotation_change_decode(entry, len - 1, &back, &err), COMMON_E_INVALID);
    ck_assert_int_eq(rotation_change_decode(entry, len + 1, &back, &err), COMMON_E_INVALID);
    entry[ROTATION_CHANGE_HEADER_BYTES - 1] = 0;
    ck_assert_int_eq(rotation_change_decode(entry, ROTATION_CHANGE_HEADER_BYTES, &back, &err), COMMON_E_INVALID);
    /* For the chain after this rotation, the same change is stale. */
    struct chain_config later = c;
    later.epoch = r.epoch;
    ch.count = 2;
    len = rotation_change_encode(&ch, entry);
    ck_assert_int_eq(rotation_change_decode(entry, len, &back, &err), 1);
    ck_assert_int_eq(rotation_change_check(&later, &back, &err), COMMON_E_INVALID);
}
END_TEST

START_TEST(next_members_and_instances)
{
    struct chain_config c = sample(), next;
    struct rotation_record r = record_for(&c);
    rotation_apply(&c, &r, &next);
    ck_assert_uint_eq(next.epoch, 3);
    ck_assert_uint_eq(next.nmembers, 4);
    ck_assert_uint_eq(next.members[3].node_id, 15);
    ck_assert_str_eq(next.members[3].ip, "127.0.0.9");
    ck_assert_uint_eq(next.member_index, 1); /* this node stays where it was */
    struct cohort_error err = {0};
    ck_assert_msg(chain_config_validate(&next, &err) == 0, "%s", err.message);
    struct chain_config leaving = c;
    leaving.node_id = 14;
    leaving.member_index = 3;
    rotation_apply(&leaving, &r, &next);
    ck_assert_uint_eq(next.member_index, next.nmembers); /* no member of the next epoch */
    /* Epoch 0 keeps the instance chains had before rotations; each epoch has its own. */
    ck_assert_uint_ne(rotation_instance("quad", 0), rotation_instance("quad", 1));
    ck_assert_uint_ne(rotation_instance("quad", 1), rotation_instance("quad", 2));
    ck_assert_uint_ne(rotation_instance("quad", 1), rotation_instance("quae", 1));
    ck_assert_uint_eq(rotation_instance("quad", 2), rotation_instance("quad", 2));
}
END_TEST


START_TEST(done_statements_are_the_managers)
{
    struct chain_config c = sample();
    /* The digest is the manager's rotationDigest, as manager-client computes it. */
    struct mc_deployment d = {.chain_id = c.manager_chain_id};
    memcpy(d.address, c.manager_address, 20);
    uint8_t ours[32], theirs[32];
    rotation_done_digest(&c, 3, 1234, 14, 15, ours);
    mc_rotation_digest(&d, c.chain_id, 3, 1234, 14, 15, theirs);
    ck_assert_mem_eq(ours, theirs, 32);
    rotation_done_digest(&c, 3, 1235, 14, 15, theirs);
    ck_assert_mem_ne(ours, theirs, 32);
    /* Signed as the manager takes it (v 27 or 28), checked against the member's node key. */
    struct rotation_done done = {.member = 2, .epoch = 3, .height = 1234};
    struct cohort_error err = {0};
    ck_assert_int_eq(mc_sign_statement(node_key[2], ours, done.signature, &err), 0);
    ck_assert(rotation_statement_valid(&c, 2, ours, done.signature));
    ck_assert(!rotation_statement_valid(&c, 1, ours, done.signature));
    ck_assert(!rotation_statement_valid(&c, 2, theirs, done.signature));
    uint8_t entry[ROTATION_DONE_BYTES];
    rotation_done_encode(&done, entry);
    struct rotation_done back;
    ck_assert_int_eq(rotation_done_decode(entry, sizeof entry, &back, &err), 1);
    ck_assert_uint_eq(back.member, done.member);
    ck_assert_uint_eq(back.epoch, done.epoch);
    ck_assert_uint_eq(back.height, done.height);
    ck_assert_mem_eq(back.signature, done.signature, sizeof done.signature);
    ck_assert_int_eq(rotation_done_decode(entry, sizeof entry - 1, &back, &err), COMMON_E_INVALID);
    entry[sizeof entry - 1] = 1; /* v 1: not what the manager takes */
    ck_assert_int_eq(rotation_done_decode(entry, sizeof entry, &back, &err), COMMON_E_INVALID);
    ck_assert_ptr_nonnull(strstr(err.message, "27 or 28"));
    ck_assert_int_eq(rotation_done_decode((const uint8_t *)"V", 1, &back, &err), 0);
    /* The absence statement is the manager's absenceDigest too. */
    rotation_absence_digest(&c, 2, 14, 1700000000, ours);
    mc_absence_digest(&d, c.chain_id, 2, 14, 1700000000, theirs);
    ck_assert_mem_eq(ours, theirs, 32);
    struct rotation_absent a = {.signer = 1, .epoch = 2, .node_id = 14, .since = 1700000000};
    ck_assert_int_eq(mc_sign_statement(node_key[1], ours, a.signature, &err), 0);
    ck_assert(rotation_statement_valid(&c, 1, ours, a.signature));
    uint8_t absent[ROTATION_ABSENT_BYTES];
    rotation_absent_encode(&a, absent);
    struct rotation_absent a2;
    ck_assert_int_eq(rotation_absent_decode(absent, sizeof absent, &a2, &err), 1);
    ck_assert_uint_eq(a2.signer, a.signer);
    ck_assert_uint_eq(a2.epoch, a.epoch);
    ck_assert_uint_eq(a2.node_id, a.node_id);
    ck_assert_uint_eq(a2.since, a.since);
    ck_assert_mem_eq(a2.signature, a.signature, sizeof a.signature);
    ck_assert_int_eq(rotation_absent_decode(absent, sizeof absent + 1, &a2, &err), COMMON_E_INVALID);
    absent[2] = 0x7f; /* signer 32513 */
    ck_assert_int_eq(rotation_absent_decode(absent, sizeof absent, &a2, &err), COMMON_E_INVALID);
    ck_assert_ptr_nonnull(strstr(err.message, "signer"));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("rotation");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, record_round_trip_and_refusals);
    tcase_add_test(tc, vouch_round_trip_and_signatures);
    tcase_add_test(tc, change_needs_f_plus_one_members);
    tcase_add_test(tc, next_members_and_instances);
    tcase_add_test(tc, done_statements_are_the_managers);
    suite_add_tcase(s, tc);
    return testutil_run_suite(s, false);
}
