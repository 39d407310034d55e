/*
 * test_bft_identity.c - members whose keys are not known in advance (a chain's subnodes):
 * four real BFT nodes on 127.0.0.1, each given only its own address, learn the others'
 * from the IDENT that follows each HELLO, vouched for by the member's node (here: a
 * signature by a "node key" the test holds for each member), and commit the same log; an
 * impostor whose proof its node did not sign is refused, and the other three go on.
 *
 * Ports: 26100-26199 belong to this test.
 */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bft/node.h"
#include "common/keccak.h"
#include "common/secp.h"
#include "testutil.h"

#define N 4
#define INSTANCE 0x1D1D0001ull
#define PORT 26100

struct member {
    pthread_mutex_t lock;
    struct bft_node *node;
    uint64_t committed;
    uint8_t last_hash[32];
    unsigned learned;
};

static struct member members[N];
static uint8_t node_keys[N][32], node_address[N][20], member_keys[N][32], member_address[N][20];

/* The proof: the member's node signs keccak("test-vouch" || instance || member || address). */
static void vouch_digest(uint32_t member, const uint8_t address[20], uint8_t out[32])
{
    uint8_t buf[10 + 8 + 4 + 20];
    memcpy(buf, "test-vouch", 10);
    memcpy(buf + 10, &(uint64_t){INSTANCE}, 8);
    memcpy(buf + 18, &member, 4);
    memcpy(buf + 22, address, 20);
    keccak256(buf, sizeof buf, out);
}

static int vouch(void *arg, uint32_t member, const uint8_t address[20], const uint8_t *proof, size_t proof_len)
{
    (void)arg;
    uint8_t digest[32], signer[20];
    if (member >= N || proof_len != 65) return -1;
    vouch_digest(member, address, digest);
    if (secp_recover_address(digest, proof, SECP_S_LOW, signer, NULL) < 0) return -1;
    return memcmp(signer, node_address[member], 20) == 0 ? 0 : -1;
}

static void learned(void *arg, uint32_t member, const uint8_t address[20], const uint8_t *proof, size_t proof_len)
{
    (void)proof;
    (void)proof_len;
    struct member *m = arg;
    ck_assert_mem_eq(address, member_address[member], 20);
    pthread_mutex_lock(&m->lock);
    m->learned++;
    pthread_mutex_unlock(&m->lock);
}

static void on_commit(void *arg, const struct bft_commit *c, bool replaying)
{
    (void)replaying;
    struct member *m = arg;
    pthread_mutex_lock(&m->lock);
    m->committed = c->block.header.index;
    memcpy(m->last_hash, c->hash, 32);
    pthread_mutex_unlock(&m->lock);
}

static char dir[64];

/* Starts member i; `signer` is the node key that signs its proof (its own, or an impostor's). */
static void start(uint32_t i, uint32_t signer)
{
    struct bft_node_config c;
    memset(&c, 0, sizeof c);
    c.core.instance = INSTANCE;
    c.core.members.count = N;
    memcpy(c.core.members.address[i], member_address[i], 20); /* the others: unknown, all zeros */
    c.core.self = i;
    memcpy(c.core.private_key, member_keys[i], 32);
    c.core.payload_max_bytes = 65536;
    c.core.window_heights = 16;
    c.core.timeout_ms = 400;
    c.core.idle_delay_ms = 50;
    for (uint32_t j = 0; j < N; j++) snprintf(c.endpoint[j], sizeof c.endpoint[j], "127.0.0.1:%u", PORT + j);
    snprintf(c.wal_path, sizeof c.wal_path, "%s/wal%u", dir, i);
    c.on_commit = on_commit;
    c.arg = &members[i];
    c.vouch = vouch;
    c.learned = learned;
    uint8_t digest[32];
    vouch_digest(i, member_address[i], digest);
    struct cohort_error err = {0};
    ck_assert_int_eq(secp_sign(node_keys[signer], digest, c.proof, &err), 0);
    c.proof_len = 65;
    pthread_mutex_init(&members[i].lock, NULL);
    ck_assert_msg(bft_node_start(&c, &members[i].node, &err) == 0, "%s", err.message);
}

static uint64_t committed(uint32_t i)
{
    pthread_mutex_lock(&members[i].lock);
    uint64_t v = members[i].committed;
    pthread_mutex_unlock(&members[i].lock);
    return v;
}

static void setup(void)
{
    struct cohort_error err = {0};
    ck_assert_int_eq(secp_init(&err), 0);
    snprintf(dir, sizeof dir, "/tmp/cohort-test-bft-identity-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    memset(members, 0, sizeof members);
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(secp_key_generate(node_keys[i], &err), 0);
        ck_assert_int_eq(secp_address_from_secret(node_keys[i], node_address[i], &err), 0);
        ck_assert_int_eq(secp_key_generate(member_keys[i], &err), 0);
        ck_assert_int_eq(secp_address_from_secret(member_keys[i], member_address[i], &err), 0);
    }
}

static void teardown(void)
{
    for (int i = 0; i < N; i++) bft_node_stop(members[i].node);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
}

/* Submits entries to member `via` until `count` members committed at least `index`; bounded. */
static bool commit_on(uint32_t via, unsigned count, uint64_t index)
{
    struct cohort_error err = {0};
    for (int t = 0; t < 1500; t++) {
        unsigned done = 0;
        for (uint32_t i = 0; i < N; i++) done += committed(i) >= index;
        if (done >= count) return true;
        if (t % 50 == 0) {
            char entry[32];
            snprintf(entry, sizeof entry, "entry-%d", t);
            bft_node_submit(members[via].node, (const uint8_t *)entry, strlen(entry), &err);
        }
        usleep(10 * 1000);
    }
    return false;
}

START_TEST(members_learn_each_others_keys_and_commit)
{
    for (uint32_t i = 0; i < N; i++) start(i, i);
    ck_assert_msg(commit_on(0, N, 3), "the four members did not all commit 3 blocks");
    for (uint32_t i = 0; i < N; i++) {
        pthread_mutex_lock(&members[i].lock);
        ck_assert_uint_eq(members[i].learned, N - 1);
        pthread_mutex_unlock(&members[i].lock);
    }
}
END_TEST

START_TEST(an_impostor_is_refused_and_the_others_go_on)
{
    /* Member 3's proof is signed by node 0's key, not node 3's: nobody learns it. */
    for (uint32_t i = 0; i < N; i++) start(i, i == 3 ? 0 : i);
    ck_assert_msg(commit_on(0, N - 1, 3), "the three honest members did not commit 3 blocks");
    sleep(1);
    ck_assert_uint_eq(committed(3), 0);
    for (uint32_t i = 0; i < N - 1; i++) {
        pthread_mutex_lock(&members[i].lock);
        ck_assert_uint_eq(members[i].learned, N - 2);
        pthread_mutex_unlock(&members[i].lock);
    }
    struct bft_node_status st;
    bft_node_get_status(members[0].node, &st);
    ck_assert_uint_gt(st.links_refused, 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("bft_identity");
    TCase *tc = tcase_create("identity");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, members_learn_each_others_keys_and_commit);
    tcase_add_test(tc, an_impostor_is_refused_and_the_others_go_on);
    suite_add_tcase(s, tc);
    return testutil_run_suite(s, true);
}
