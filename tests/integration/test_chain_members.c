/*
 * test_chain_members.c - one chain on four members (four cohort-subnode processes, each
 * with its own volume, as four nodes would run them), ordering its blocks with the BFT
 * log: transactions sent to different members end in the same blocks on all four (same
 * hashes); with one member killed the chain goes on; with two down it stops (and forks
 * nothing); when they come back the chain resumes and they catch up to the same head.
 *
 * The test plays cohort-core: it makes each node's key (its public key in chain.json),
 * each subnode's key, and the node's certificate for it (subnode.cert), in the volumes.
 * A fifth node's subnode takes member 3's place in a rotation (docs/chain.md "Rotation").
 * Ports: 26200-26299 (member i: RPC 26200 + 16 i, BFT the port after).
 */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/chain_config.h"
#include "common/hex.h"
#include "common/secp.h"
#include "common/chain_rotation.h"
#include "manager-client/manager_client.h"
#include "testutil.h"

#define N 4
#define SLOTS 5 /* the members, and a node that joins by rotation */
#define BASE_PORT 26200
#define EVM_CHAIN_ID 4322
static const char *const funded_keys[2] = {"0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
                                           "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"};

static char dir[64];
static pid_t pids[SLOTS];
static const char *const *member_args; /* extra flags for the honest members (NULL: none) */
static uint8_t node_keys[SLOTS][32];

static int rpc_port(int i) { return BASE_PORT + 16 * i; }

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

/* The chain as the manager first made it: nodes 101..104 at members 0..3. */
static struct chain_config base_config(void)
{
    struct cohort_error err = {0};
    struct chain_config c;
    memset(&c, 0, sizeof c);
    c.version = CHAIN_CONFIG_VERSION;
    snprintf(c.name, sizeof c.name, "quad");
    c.chain_id = 9;
    c.evm_chain_id = EVM_CHAIN_ID;
    c.slots = 1;
    c.manager_chain_id = 31337;
    c.nmembers = N;
    for (int m = 0; m < N; m++) {
        c.members[m].node_id = 101 + (uint64_t)m;
        snprintf(c.members[m].ip, sizeof c.members[m].ip, "127.0.0.1");
        c.members[m].base_port = (uint16_t)rpc_port(m);
        c.members[m].first_slot = 0;
        ck_assert_int_eq(secp_pubkey(node_keys[m], c.members[m].public_key, &err), 0);
    }
    c.genesis_gas_limit = 30000000;
    c.nalloc = 2;
    for (int k = 0; k < 2; k++) {
        uint8_t key[32];
        ck_assert_int_eq(hex_decode_exact(funded_keys[k], key, 32, &err), 0);
        ck_assert_int_eq(secp_address_from_secret(key, c.alloc[k].address, &err), 0);
        c.alloc[k].balance = u256_mul(u256_from_u64(1000000), u256_from_u64(1000000000000000000ull));
    }
    c.disk_bytes = 1ull << 30;
    c.txpool_max_transactions = 10000;
    c.txpool_max_bytes = 64u << 20;
    return c;
}

/* Writes volume m<v>: chain.json (c), subnode.key and node v's subnode.cert for it. */
static void write_volume_with(int v, const struct chain_config *c)
{
    struct cohort_error err = {0};
    char *json, path[128], vol[96];
    ck_assert_msg(chain_config_encode(c, &json, &err) == 0, "%s", err.message);
    snprintf(vol, sizeof vol, "%s/m%d", dir, v);
    ck_assert_int_eq(mkdir(vol, 0700), 0);
    snprintf(path, sizeof path, "%s/chain.json", vol);
    write_file(path, json);
    free(json);
    uint8_t subnode_key[32], address[20], digest[32], sig[65];
    ck_assert_int_eq(secp_key_generate(subnode_key, &err), 0);
    ck_assert_int_eq(secp_address_from_secret(subnode_key, address, &err), 0);
    chain_subnode_cert_digest(c, c->node_id, address, digest);
    ck_assert_int_eq(secp_sign(node_keys[v], digest, sig, &err), 0);
    char text[140];
    hex_encode(subnode_key, 32, text, sizeof text);
    strcat(text, "\n");
    snprintf(path, sizeof path, "%s/subnode.key", vol);
    write_file(path, text);
    hex_encode(sig, 65, text, sizeof text);
    strcat(text, "\n");
    snprintf(path, sizeof path, "%s/subnode.cert", vol);
    write_file(path, text);
}

/* Member i's volume in the chain's first epoch. */
static void write_volume(int i)
{
    struct chain_config c = base_config();
    c.node_id = c.members[i].node_id;
    c.member_index = (unsigned)i;
    write_volume_with(i, &c);
}

/* Starts member i: the subnode, or its Byzantine test build misbehaving as the flags say. */
static void start_as(int i, bool byzantine)
{
    char config[128], log[128];
    snprintf(config, sizeof config, "%s/m%d/chain.json", dir, i);
    snprintf(log, sizeof log, "%s/m%d.log", dir, i);
    static const char *const misbehave[] = {"--equivocate", "--lie-about-head", "--garbage", NULL};
    pids[i] = testutil_start_subnode(byzantine ? "cohort-subnode-byzantine" : "cohort-subnode", config, rpc_port(i), log,
                                     byzantine ? misbehave : member_args);
}

static void start(int i) { start_as(i, false); }

/* Starts member i from the test build with these flags only (an honest member with a test hook). */
static void start_hooked(int i, const char *const *flags)
{
    char config[128], log[128];
    snprintf(config, sizeof config, "%s/m%d/chain.json", dir, i);
    snprintf(log, sizeof log, "%s/m%d.log", dir, i);
    pids[i] = testutil_start_subnode("cohort-subnode-byzantine", config, rpc_port(i), log, flags);
}

static void stop(int i, int sig)
{
    if (pids[i] <= 0) return;
    kill(pids[i], sig);
    int st;
    waitpid(pids[i], &st, 0);
    pids[i] = -1;
}

/* A member's height and head hash from its /status; false when it does not answer. */
static bool head_of(int i, long *height, char hash[67])
{
    char body[8192];
    if (testutil_http_get(rpc_port(i), "/status", body, sizeof body) != 200) return false;
    const char *h = strstr(body, "\"height\":"), *x = strstr(body, "\"head_hash\":\"");
    if (h == NULL || x == NULL) return false;
    *height = strtol(h + 9, NULL, 10);
    snprintf(hash, 67, "%.66s", x + 13);
    return true;
}

/* Waits until the members in mask agree on one head of at least min_height; bounded. */
static long converge(unsigned mask, long min_height, int timeout_ms)
{
    long h0 = -1;
    for (int t = 0; t < timeout_ms / 100; t++) {
        bool same = true;
        char first[67] = "";
        for (int i = 0; i < SLOTS && same; i++) {
            if (!(mask & (1u << i))) continue;
            long h;
            char hash[67];
            if (!head_of(i, &h, hash) || h < min_height) {
                same = false;
                break;
            }
            if (first[0] == '\0') {
                snprintf(first, sizeof first, "%s", hash);
                h0 = h;
            } else if (strcmp(first, hash) != 0 || h != h0) {
                same = false;
            }
        }
        if (same) return h0;
        usleep(100 * 1000);
    }
    for (int i = 0; i < SLOTS; i++) {
        long h = -1;
        char hash[67] = "";
        if (mask & (1u << i)) head_of(i, &h, hash);
        fprintf(stderr, "member %d: height %ld hash %s\n", i, h, hash);
    }
    ck_abort_msg("members %#x did not agree on a head of at least %ld within %d ms (logs in %s)", mask, min_height,
                 timeout_ms, dir);
    return -1;
}

/* Sends count transfers from funded key k to member i, without waiting for receipts. */
static void burst(int i, int k, int count)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "cd '%s' && node tests/integration/chain/load.mjs burst --rpc http://127.0.0.1:%d --key %s --count %d",
             testutil_source_dir(), rpc_port(i), funded_keys[k], count);
    ck_assert_msg(system(cmd) == 0, "sending %d transactions to member %d failed", count, i);
}

static void setup(void)
{
    struct cohort_error err = {0};
    ck_assert_int_eq(secp_init(&err), 0);
    snprintf(dir, sizeof dir, "/tmp/cohort-test-members-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    for (int i = 0; i < SLOTS; i++) ck_assert_int_eq(secp_key_generate(node_keys[i], &err), 0);
    for (int i = 0; i < N; i++) write_volume(i);
    for (int i = 0; i < SLOTS; i++) pids[i] = -1;
    member_args = NULL;
}

static void teardown(void)
{
    for (int i = 0; i < SLOTS; i++) stop(i, SIGTERM);
    if (getenv("COHORT_KEEP_TEST_DIR") != NULL) { /* the members' logs, for a failure to read */
        fprintf(stderr, "kept %s\n", dir);
        return;
    }
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
}

/* A number from member i's /status chain figures ("name":N), or -1. */
static long status_number(int i, const char *name)
{
    char body[8192], key[64];
    if (testutil_http_get(rpc_port(i), "/status", body, sizeof body) != 200) return -1;
    snprintf(key, sizeof key, "\"%s\":", name);
    const char *p = strstr(body, key);
    return p ? strtol(p + strlen(key), NULL, 10) : -1;
}

/* A JSON-RPC call's answer from member i (its whole text) into out. */
static void rpc_call(int i, const char *method, const char *params, char *out, size_t size)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "curl -s -m 5 -H 'content-type: application/json' -d '{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"%s\","
             "\"params\":%s}' http://127.0.0.1:%d/",
             method, params, rpc_port(i));
    ck_assert_int_eq(testutil_run_capture(cmd, out, size), 0);
}

START_TEST(four_members_make_one_chain_and_survive_what_they_should)
{
    for (int i = 0; i < N; i++) start(i);
    /* Transactions through two different members end in the same blocks everywhere. */
    burst(0, 0, 40);
    burst(2, 1, 40);
    long height = converge(0xf, 1, 60000);
    char hash[67];
    long h;
    /* Every transaction made it: each sender's nonce is 40 on every member. */
    for (int i = 0; i < N; i++) {
        char cmd[512];
        snprintf(cmd, sizeof cmd,
                 "cd '%s' && node tests/integration/chain/load.mjs nonce --rpc http://127.0.0.1:%d --key %s --want 40",
                 testutil_source_dir(), rpc_port(i), funded_keys[i % 2]);
        ck_assert_msg(system(cmd) == 0, "member %d does not show 40 transactions of sender %d", i, i % 2);
    }
    /* A block with transactions is followed by one empty block (clients that watch for the
       next block to read a receipt get one), then the chain rests: no blocks, no views (an
       idle chain costs almost nothing). */
    sleep(3);
    char latest[65536];
    for (int i = 0; i < N; i++) {
        rpc_call(i, "eth_getBlockByNumber", "[\"latest\",false]", latest, sizeof latest);
        ck_assert_msg(strstr(latest, "\"transactions\":[]") != NULL, "member %d: the head is not the empty block after "
                      "the transactions: %.400s", i, latest);
        /* One empty block: the one before it has transactions. */
        const char *number = strstr(latest, "\"number\":\"0x");
        ck_assert_ptr_nonnull(number);
        char params[64], before[65536];
        snprintf(params, sizeof params, "[\"0x%lx\",false]", strtol(number + 12, NULL, 16) - 1);
        rpc_call(i, "eth_getBlockByNumber", params, before, sizeof before);
        ck_assert_msg(strstr(before, "\"transactions\":[\"0x") != NULL,
                      "member %d: more than one empty block after the transactions: %.400s", i, before);
    }
    long views[N], logs[N];
    for (int i = 0; i < N; i++) {
        views[i] = status_number(i, "view");
        logs[i] = status_number(i, "log_index");
    }
    sleep(3);
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(status_number(i, "view"), views[i]);
        ck_assert_int_eq(status_number(i, "log_index"), logs[i]);
    }
    /* At rest no member holds a batch in flight, and a transfer sent to any member goes into
       a block at once: a member left with a batch that no block will carry makes no new one
       until a block comes from elsewhere, which a resting chain never makes (two identical
       trailing batches did that: proposer.c). */
    for (int i = 0; i < N; i++)
        ck_assert_msg(status_number(i, "batches_in_flight") == 0, "member %d keeps a batch in flight at rest", i);
    for (int i = 0; i < N; i++) {
        long before;
        ck_assert(head_of(i, &before, hash));
        burst(i, i % 2, 1);
        height = converge(0xf, before + 1, 3000);
    }
    /* One member killed: the chain goes on with the other three. */
    stop(3, SIGKILL);
    burst(1, 0, 10);
    height = converge(0x7, height + 1, 60000);
    /* Two down: no quorum, no block, no fork. The burst above may still have a block in
       flight (its ten transfers can take two), certified before member 2 went: that one may
       land in the first second; nothing after it. */
    stop(2, SIGKILL);
    burst(0, 1, 5);
    sleep(1);
    long stuck;
    ck_assert(head_of(0, &stuck, hash));
    ck_assert_int_ge(stuck, height);
    sleep(3);
    ck_assert(head_of(0, &h, hash));
    ck_assert_int_eq(h, stuck);
    ck_assert(head_of(1, &h, hash));
    ck_assert_int_eq(h, stuck);
    height = stuck;
    /* Member 0's batch is not committed: past 5 s its tick submits it again (nothing else
       would on a resting chain; a block that dropped it would leave the transfers waiting). */
    sleep(3);
    ck_assert_int_ge(status_number(0, "batches_resubmitted"), 1);
    /* Both back: blocks resume, the waiting transactions go in, all four agree. */
    start(2);
    start(3);
    converge(0xf, height + 1, 90000);
}
END_TEST

START_TEST(a_byzantine_member_is_seen_and_the_chain_goes_on)
{
    /* Member 3 equivocates when it leads, names a wrong hash for its head in its batches and
       sends every peer frames of random bytes each second on its (authenticated) links. */
    for (int i = 0; i < N - 1; i++) start(i);
    start_as(3, true);
    /* A stranger sends garbage to member 0's BFT port. */
    char cmd[512];
    snprintf(cmd, sizeof cmd, "head -c 4096 /dev/urandom > /dev/tcp/127.0.0.1/%d", rpc_port(0) + 1);
    char bash[600];
    snprintf(bash, sizeof bash, "bash -c '%s' 2>/dev/null", cmd);
    ck_assert_int_ne(system(bash), -1);
    burst(0, 0, 30);
    burst(3, 1, 30);
    long height = converge(0x7, 1, 90000);
    /* Every transaction is in, on the honest members, including those sent to the liar. */
    for (int i = 0; i < N - 1; i++) {
        for (int k = 0; k < 2; k++) {
            snprintf(cmd, sizeof cmd,
                     "cd '%s' && node tests/integration/chain/load.mjs nonce --rpc http://127.0.0.1:%d --key %s --want 30",
                     testutil_source_dir(), rpc_port(i), funded_keys[k]);
            ck_assert_msg(system(cmd) == 0, "member %d does not show 30 transactions of sender %d", i, k);
        }
    }
    burst(1, 0, 10);
    converge(0x7, height + 1, 60000);
    /* The honest members saw the liar, and none halted. */
    for (int i = 0; i < N - 1; i++) {
        char body[8192];
        ck_assert_int_eq(testutil_http_get(rpc_port(i), "/status", body, sizeof body), 200);
        ck_assert_msg(strstr(body, "\"halted\":false") != NULL, "member %d: %s", i, body);
        ck_assert_msg(strstr(body, "\"members_disagreeing\":[3]") != NULL, "member %d does not name member 3: %s", i, body);
    }
    ck_assert_int_gt(status_number(0, "links_refused"), 0);
    /* Its garbage reached the honest members, which refused it message by message. */
    ck_assert_int_gt(status_number(3, "garbage_sent"), 0);
    for (int i = 0; i < N - 1; i++) ck_assert_int_gt(status_number(i, "messages_refused"), 0);
    /* Member 3 did equivocate (two blocks at a height it led), and the honest three agree. */
    ck_assert_int_gt(status_number(3, "proposals_equivocated"), 0);
}
END_TEST

/* Runs load.mjs with the arguments given (after "node load.mjs"); asserts it passed. */
static void load(const char *what, const char *args)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "cd '%s' && node tests/integration/chain/load.mjs %s", testutil_source_dir(), args);
    ck_assert_msg(system(cmd) == 0, "%s failed: %s", what, cmd);
}

/* The "done" count of member i's state transfers (its /status), or -1. */
static long transfers_done(int i)
{
    char body[8192];
    if (testutil_http_get(rpc_port(i), "/status", body, sizeof body) != 200) return -1;
    const char *t = strstr(body, "\"state_transfer\":{");
    const char *d = t ? strstr(t, "\"done\":") : NULL;
    return d ? strtol(d + 7, NULL, 10) : -1;
}

/* Waits (bounded) until member i holds every block whole again: its backfill reached block 0. */
static void wait_backfilled(int i)
{
    char body[8192];
    for (int t = 0; t < 300; t++) {
        if (testutil_http_get(rpc_port(i), "/status", body, sizeof body) == 200 && strstr(body, "\"blocks_from\":0") != NULL)
            return;
        usleep(100 * 1000);
    }
    ck_abort_msg("member %d did not fetch the blocks before its installed state within 30 s: %s", i, body);
}

/* The blocks and receipts of the chain's first blocks read the same on member i as on member 0
   (some of them empty: the block after one with transactions; block 1 holds the deployment). */
static void same_history(int i)
{
    static char a[65536], b[65536];
    int with_receipts = 0;
    for (int number = 1; number <= 4; number++) {
        char params[64];
        snprintf(params, sizeof params, "[\"0x%x\",true]", number);
        rpc_call(0, "eth_getBlockByNumber", params, a, sizeof a);
        rpc_call(i, "eth_getBlockByNumber", params, b, sizeof b);
        ck_assert_msg(strstr(a, "\"hash\"") != NULL && strcmp(a, b) == 0, "block %d: member 0 %.300s, member %d %.300s",
                      number, a, i, b);
        snprintf(params, sizeof params, "[\"0x%x\"]", number);
        rpc_call(0, "eth_getBlockReceipts", params, a, sizeof a);
        rpc_call(i, "eth_getBlockReceipts", params, b, sizeof b);
        ck_assert_msg(strstr(a, "\"result\":[") != NULL && strcmp(a, b) == 0,
                      "receipts of block %d: member 0 %.300s, member %d %.300s", number, a, i, b);
        if (strstr(a, "\"transactionHash\"") != NULL) with_receipts++;
    }
    ck_assert_int_ge(with_receipts, 1);
}

START_TEST(a_member_behind_every_log_installs_the_state_from_the_others)
{
    /* Snapshots every 8 commits, 32 kept: a member down for more than that cannot catch up
       from the others' logs and must install the chain's state at a vouched block. */
    static const char *const every8[] = {"--snapshot-every", "8", NULL};
    member_args = every8;
    for (int i = 0; i < N; i++) start(i);
    char args[512];
    snprintf(args, sizeof args, "slots --rpc http://127.0.0.1:%d --key %s --count 40", rpc_port(0), funded_keys[0]);
    load("storing 40 slots", args);
    long height = converge(0xf, 1, 60000);
    /* Member 3 goes; the others make many blocks (each transfer waits for its receipt). */
    long index_then = status_number(0, "log_index");
    stop(3, SIGKILL);
    snprintf(args, sizeof args, "blocks --rpc http://127.0.0.1:%d --key %s --count 60", rpc_port(1), funded_keys[1]);
    load("making 60 blocks", args);
    height = converge(0x7, height + 40, 60000);
    /* Past what the others keep (32 commits after their last snapshot): no log to catch up from. */
    ck_assert_int_ge(status_number(0, "log_index") - index_then, 48);
    /* Back: it installs the state from another member and then follows the chain. */
    ck_assert_int_eq(transfers_done(0), 0);
    start(3);
    burst(2, 0, 10);
    height = converge(0xf, height + 1, 90000);
    ck_assert_int_eq(transfers_done(3), 1);
    /* In step again: it knows where the others are, and eth_syncing says false. */
    char answer[512], status_body[16384];
    rpc_call(3, "eth_syncing", "[]", answer, sizeof answer);
    ck_assert_msg(strstr(answer, "\"result\":false") != NULL, "member 3's eth_syncing: %s", answer);
    ck_assert_int_eq(testutil_http_get(rpc_port(3), "/status", status_body, sizeof status_body), 200);
    ck_assert_msg(strstr(status_body, "\"behind_known\":true") != NULL, "member 3's status: %s", status_body);
    /* It serves the state it installed (the head's hash, equal on all four, covers the rest). */
    snprintf(args, sizeof args, "nonce --rpc http://127.0.0.1:%d --key %s --want 52", rpc_port(3), funded_keys[0]);
    load("the sender's nonce on the member that installed the state", args);
    /* And, fetched behind it from the others, the blocks and receipts before that state. */
    wait_backfilled(3);
    same_history(3);

    /* Member 3 lost nothing it signed: it did not rejoin. */
    char body[16384];
    ck_assert_int_eq(testutil_http_get(rpc_port(3), "/status", body, sizeof body), 200);
    ck_assert_msg(strstr(body, "\"rejoin\"") == NULL, "member 3 rejoined: %s", body);

    /* Member 2 loses its chain's data (store and WAL; its key stays): it comes back the same
       way, and, having lost what it signed, signs nothing until a block carries its rejoin
       entry, past every height it was at (docs/chain.md "Rejoining"). */
    long view_then = status_number(2, "view");
    stop(2, SIGKILL);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s/m2/chain' '%s/m2/bft' '%s/m2/members.json'", dir, dir, dir);
    ck_assert_int_eq(system(cmd), 0);
    burst(1, 1, 10);
    height = converge(0xb, height + 1, 60000);
    start(2);
    burst(0, 0, 10);
    converge(0xf, height + 1, 90000);
    ck_assert_int_eq(transfers_done(2), 1);
    ck_assert_int_eq(testutil_http_get(rpc_port(2), "/status", body, sizeof body), 200);
    const char *r = strstr(body, "\"rejoin\":{\"waiting\":false,\"vote_from\":");
    ck_assert_msg(r != NULL, "member 2 did not rejoin: %s", body);
    long vote_from = strtol(r + strlen("\"rejoin\":{\"waiting\":false,\"vote_from\":"), NULL, 10);
    ck_assert_msg(vote_from > view_then, "member 2 signs again from %ld, not past %ld where it was", vote_from, view_then);
    char marks[1200];
    snprintf(marks, sizeof marks, "%s/m2/joined", dir);
    ck_assert_int_eq(access(marks, F_OK), 0);
    wait_backfilled(2);
    same_history(2);
}
END_TEST


/* Node v's vouch for the rotation record, as its cohort-core writes it into member v's volume. */
static void write_vouch(int v, const struct chain_config *c, const uint8_t record[ROTATION_RECORD_BYTES])
{
    uint8_t bytes[ROTATION_RECORD_BYTES + ROTATION_SIGNATURE_BYTES], digest[32];
    struct cohort_error err = {0};
    memcpy(bytes, record, ROTATION_RECORD_BYTES);
    rotation_vouch_digest(c, record, digest);
    ck_assert_int_eq(secp_sign(node_keys[v], digest, bytes + ROTATION_RECORD_BYTES, &err), 0);
    char text[2 * sizeof bytes + 4], path[128];
    hex_encode(bytes, sizeof bytes, text, sizeof text);
    strcat(text, "\n");
    snprintf(path, sizeof path, "%s/m%d/" ROTATION_FILE, dir, v);
    write_file(path, text);
}

/* Node v's signature that the rotation to epoch is done from block height (the manager's
   rotationDigest), as its cohort-core writes it into member v's volume. */
static void write_done(int v, const struct chain_config *c, uint32_t epoch, uint64_t height, uint64_t leaving,
                       uint64_t joining)
{
    uint8_t bytes[4 + 8 + ROTATION_SIGNATURE_BYTES], digest[32];
    struct cohort_error err = {0};
    for (int k = 0; k < 4; k++) bytes[k] = (uint8_t)(epoch >> (24 - 8 * k));
    for (int k = 0; k < 8; k++) bytes[4 + k] = (uint8_t)(height >> (56 - 8 * k));
    rotation_done_digest(c, epoch, height, leaving, joining, digest);
    ck_assert_int_eq(mc_sign_statement(node_keys[v], digest, bytes + 12, &err), 0);
    char text[2 * sizeof bytes + 4], path[128];
    hex_encode(bytes, sizeof bytes, text, sizeof text);
    strcat(text, "\n");
    snprintf(path, sizeof path, "%s/m%d/" ROTATION_DONE_FILE, dir, v);
    write_file(path, text);
}

/* Waits (bounded) until member i's status holds text. */
static void wait_status(int i, const char *text, int timeout_ms)
{
    char body[16384] = "";
    for (int t = 0; t < timeout_ms / 100; t++) {
        if (testutil_http_get(rpc_port(i), "/status", body, sizeof body) == 200 && strstr(body, text) != NULL) return;
        usleep(100 * 1000);
    }
    ck_abort_msg("member %d's status did not say %s within %d ms: %s (logs in %s)", i, text, timeout_ms, body, dir);
}

START_TEST(a_rotation_moves_a_member_to_another_node_and_the_chain_goes_on)
{
    /* Member 1 waits a minute between the change and its switch, and is killed meanwhile. */
    static const char *const delayed[] = {"--switch-delay-ms", "60000", NULL};
    for (int i = 0; i < N; i++) {
        if (i == 1) start_hooked(i, delayed);
        else start(i);
    }
    burst(0, 0, 20);
    long height = converge(0xf, 1, 60000);
    /* The manager rotates member 3 (node 104) out for node 105 (volume m4), which starts the
       chain's epoch 1 with chain.json of that epoch and an empty volume. */
    struct chain_config c = base_config(), joiner = base_config(), next;
    struct rotation_record r;
    memset(&r, 0, sizeof r);
    r.epoch = 1;
    r.member_index = 3;
    r.leaving_node_id = 104;
    r.joining = c.members[3];
    r.joining.node_id = 105;
    r.joining.base_port = (uint16_t)rpc_port(4);
    struct cohort_error err = {0};
    ck_assert_int_eq(secp_pubkey(node_keys[4], r.joining.public_key, &err), 0);
    uint8_t record[ROTATION_RECORD_BYTES];
    rotation_record_encode(&r, record);
    joiner.node_id = 105;
    rotation_apply(&joiner, &r, &next);
    ck_assert_uint_eq(next.member_index, 3);
    write_volume_with(4, &next);
    /* Under load, one node's vouch is not enough (f + 1 = 2 are needed)... */
    burst(1, 1, 20);
    write_vouch(0, &c, record);
    wait_status(1, "\"next_vouches\":1,", 30000);
    sleep(2);
    wait_status(1, "\"epoch\":{\"number\":0,", 1000);
    /* ... the others' are: members 0-2 move to epoch 1, member 3 leaves and takes no more.
       Member 3 is killed as its vouch is written (its tick may or may not have put it in the
       log), and starts again. */
    write_vouch(3, &c, record);
    stop(3, SIGKILL);
    start(3);
    for (int i = 1; i < N - 1; i++) write_vouch(i, &c, record);
    /* A crash between the change and the switch: member 1 has the change (pending) and has not
       switched; killed there, it finishes the switch when it starts again. */
    wait_status(1, "\"change_pending\":true", 60000);
    stop(1, SIGKILL);
    start(1);
    for (int i = 0; i < 3; i++) wait_status(i, "\"epoch\":{\"number\":1,\"members\":4,\"switches\":1,", 60000);
    wait_status(3, "\"left\":true", 60000);
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "cd '%s' && node tests/integration/chain/load.mjs burst --rpc http://127.0.0.1:%d --key %s --count 1 "
             "2>/dev/null",
             testutil_source_dir(), rpc_port(3), funded_keys[0]);
    ck_assert_msg(system(cmd) != 0, "member 3 left the chain but took a transaction");
    /* Completion: the three that switched by the change know the epoch's first block; their
       nodes sign that the rotation is done from it, and the statements reach every member. */
    long first = -1;
    {
        char body[16384];
        ck_assert_int_eq(testutil_http_get(rpc_port(0), "/status", body, sizeof body), 200);
        const char *f = strstr(body, "\"first_block\":");
        ck_assert_msg(f != NULL, "member 0 does not know the epoch's first block: %s", body);
        first = strtol(f + strlen("\"first_block\":"), NULL, 10);
        ck_assert_int_gt(first, 1);
    }
    for (int i = 0; i < 3; i++) write_done(i, &c, 1, (uint64_t)first, 104, 105);
    char done[128];
    snprintf(done, sizeof done, "\"done\":{\"height\":%ld,\"signatures\":[{\"member\":0,", first);
    for (int i = 0; i < 3; i++) {
        wait_status(i, done, 30000);
        wait_status(i, "{\"member\":2,\"signature\":\"0x", 30000);
    }
    /* The three go on without the joiner (a quorum of four)... */
    burst(2, 0, 10);
    height = converge(0x7, height + 1, 60000);
    /* Transfers of blocks after the change block that the old epoch did not apply came again. */
    for (int k = 0; k < 2; k++) {
        snprintf(cmd, sizeof cmd,
                 "cd '%s' && node tests/integration/chain/load.mjs nonce --rpc http://127.0.0.1:%d --key %s --want %d",
                 testutil_source_dir(), rpc_port(0), funded_keys[k], k == 0 ? 30 : 20);
        ck_assert_msg(system(cmd) == 0, "member 0 does not show every transaction of sender %d", k);
    }
    /* ... which starts and installs the state from them: killed in the middle of that (its
       transfer made to wait before each chunk), it starts again and installs it anew... */
    static const char *const slow_transfer[] = {"--transfer-delay-ms", "4000", NULL};
    start_hooked(4, slow_transfer);
    wait_status(4, "\"state_transfer\":{\"running\":true", 60000);
    stop(4, SIGKILL);
    start(4);
    /* ... and follows the chain. */
    burst(0, 0, 10);
    height = converge(0x17, height + 1, 120000);
    ck_assert_int_eq(transfers_done(4), 1);
    /* Killed once more after the transfer, it comes back from its own store and WAL. */
    stop(4, SIGKILL);
    start(4);
    burst(0, 0, 5);
    height = converge(0x17, height + 1, 60000);
    ck_assert_int_eq(transfers_done(4), 0);
    /* Its own transactions go into the chain's blocks too (its batches are the new member 3's). */
    burst(4, 1, 10);
    height = converge(0x17, height + 1, 60000);
    for (int i = 0; i < SLOTS; i++) {
        if (i == 3) continue;
        for (int k = 0; k < 2; k++) {
            snprintf(cmd, sizeof cmd,
                     "cd '%s' && node tests/integration/chain/load.mjs nonce --rpc http://127.0.0.1:%d --key %s --want %d",
                     testutil_source_dir(), rpc_port(i), funded_keys[k], k == 0 ? 45 : 30);
            ck_assert_msg(system(cmd) == 0, "member %d does not show every transaction of sender %d", i, k);
        }
    }
    /* A member killed after the switch comes back in epoch 1 (its volume says so). */
    stop(1, SIGKILL);
    start(1);
    burst(2, 1, 5);
    converge(0x17, height + 1, 90000);
    wait_status(1, "\"epoch\":{\"number\":1,", 1000);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("chain_members");
    TCase *tc = tcase_create("four");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 400);
    tcase_add_test(tc, four_members_make_one_chain_and_survive_what_they_should);
    tcase_add_test(tc, a_byzantine_member_is_seen_and_the_chain_goes_on);
    tcase_add_test(tc, a_member_behind_every_log_installs_the_state_from_the_others);
    tcase_add_test(tc, a_rotation_moves_a_member_to_another_node_and_the_chain_goes_on);
    suite_add_tcase(s, tc);
    return testutil_run_suite(s, true);
}
