/*
 * test_cli_manager.c - the operator's path through the real `cohort` binary against a real
 * anvil: import a key, deploy the manager, register 20 nodes (each owner a fresh key funded
 * by the deployer), create chains of every size, list and show them, delete one; every
 * event seen through the watcher; and the errors an operator meets, in plain words: no
 * funds, name taken, endpoint taken, wrong password, wrong chain, too little capacity.
 * Then a rotation: a member's exit starts one, which f + 1 new members' signatures made
 * in C (manager-client's digests) complete so the exit completes, and 2f + 1 members'
 * statements rotate out an absent member.
 */
#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/hex.h"
#include "common/secp.h"
#include "manager-client/manager_client.h"
#include "testutil.h"

static char anvil_url[64], other_url[64], dir[64], cohort[1024];
static int anvil_pid, other_pid;

/* Runs `cohort ARGS` with the common flags; returns the exit code, output in out. */
static int run(char *out, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int run(char *out, size_t size, const char *fmt, ...)
{
    char args[4096], cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "%s %s 2>&1", cohort, args);
    return testutil_run_capture(cmd, out, size);
}

static void write_file(const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

/* A keystore for a fresh key, written with light scrypt so the test stays fast. */
static void make_keystore_with(const char *name, uint8_t address[20], uint8_t key[32])
{
    struct cohort_error err = {0};
    ck_assert_int_eq(secp_key_generate(key, &err), 0);
    ck_assert_int_eq(secp_address_from_secret(key, address, &err), 0);
    struct mc_keystore_params p = {.kdf = MC_KDF_SCRYPT, .scrypt_log2_n = 10};
    char *json, path[256];
    ck_assert_int_eq(mc_keystore_encrypt(key, "pw", 2, &p, &json, &err), 0);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    ck_assert_int_eq(mc_keystore_write_file(path, json, &err), 0);
    free(json);
}


static void fund(const uint8_t address[20]) { testutil_fund(anvil_url, address); }

static void setup(void)
{
    const char *accounts[] = {"--accounts", "3", NULL};
    anvil_pid = testutil_start_anvil(anvil_url, sizeof anvil_url, accounts);
    const char *other[] = {"--chain-id", "999", NULL};
    other_pid = testutil_start_anvil(other_url, sizeof other_url, other);
    snprintf(dir, sizeof dir, "/tmp/cohort-cli-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(cohort, sizeof cohort, "%s/bin/cohort", getenv("COHORT_BUILD_DIR"));
    /* The deployment file every command reads, as an operator would set it once. */
    char manager[128];
    snprintf(manager, sizeof manager, "%s/manager.json", dir);
    setenv("COHORT_MANAGER_FILE", manager, 1);
}

static void teardown(void)
{
    testutil_stop_process(anvil_pid);
    testutil_stop_process(other_pid);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

struct counting_sink {
    int counts[16];
    int batches;
    const uint8_t *owner19;
    bool saw_n19;
};

static int count_events(void *ctx, const struct mc_log *logs, size_t n, const struct mc_cursor *after,
                        struct cohort_error *err)
{
    struct counting_sink *s = ctx;
    s->batches++;
    for (size_t i = 0; i < n; i++) {
        struct mc_event e;
        ck_assert_msg(mc_manager_decode_event(&logs[i], &e, err) == 0, "%s", err->message);
        s->counts[e.kind]++;
        if (e.kind == MC_EVENT_NODE_REGISTERED && e.node_id == 20) {
            ck_assert_str_eq(e.name, "n19");
            ck_assert_uint_eq(e.port, 16000);
            ck_assert_mem_eq(e.owner, s->owner19, 20);
            s->saw_n19 = true;
        }
    }
    return 0;
}

static int no_rewind(void *ctx, const struct mc_cursor *to, struct cohort_error *err)
{
    ck_abort_msg("no reorg happens in this test");
    return 0;
}

START_TEST(operator_path)
{
    char out[65536];
    write_file("pw", "pw\n");
    write_file("wrong", "nope\n");
    write_file("dev0.key", "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80\n");

    /* The deployer: anvil's first account, imported (the key comes from a file, not argv). */
    ck_assert_int_eq(run(out, sizeof out, "key import --private-key-file %s/dev0.key --out %s/dev0.json --password-file %s/pw",
                         dir, dir, dir), 0);
    ck_assert_msg(strstr(out, "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266") != NULL, "%s", out);
    ck_assert_int_eq(run(out, sizeof out, "manager deploy --rpc %s --keystore %s/dev0.json --password-file %s/wrong",
                         anvil_url, dir, dir), 4);
    ck_assert_msg(strstr(out, "wrong password") != NULL, "%s", out);
    ck_assert_int_eq(run(out, sizeof out, "manager deploy --rpc %s --keystore %s/dev0.json --password-file %s/pw --json",
                         anvil_url, dir, dir), 0);
    ck_assert_msg(strstr(out, "\"chain_id\":\t\"31337\"") != NULL, "%s", out);
    ck_assert_int_eq(run(out, sizeof out, "manager deploy --rpc %s --keystore %s/dev0.json --password-file %s/pw",
                         anvil_url, dir, dir), 2);
    ck_assert_ptr_nonnull(strstr(out, "already exists"));

    /* 20 node owners. The first tries before it has funds. */
    uint8_t owners[20][20], keys[20][32];
    for (int i = 0; i < 20; i++) {
        char name[32];
        snprintf(name, sizeof name, "owner%d.json", i);
        make_keystore_with(name, owners[i], keys[i]);
    }
    ck_assert_int_eq(run(out, sizeof out, "node register --name n0 --ip 127.0.0.1 --port 10000 --rpc %s --keystore %s/owner0.json "
                         "--password-file %s/pw", anvil_url, dir, dir), 1);
    ck_assert_msg(strstr(out, "has no funds") != NULL, "%s", out);
    for (int i = 0; i < 20; i++) {
        fund(owners[i]);
        int rc = run(out, sizeof out, "node register --name n%d --ip 127.0.0.%d --port %d --rpc %s --keystore %s/owner%d.json "
                     "--password-file %s/pw --json", i, 1 + i % 5, 10000 + (i / 5) * 2000, anvil_url, dir, i, dir);
        ck_assert_msg(rc == 0, "register n%d: %s", i, out);
        char expect[64];
        snprintf(expect, sizeof expect, "\"node_id\":\t\"%d\"", i + 1);
        ck_assert_msg(strstr(out, expect) != NULL, "%s", out);
    }
    /* Taken name, overlapping endpoint: refused in plain words, nothing paid. */
    ck_assert_int_eq(run(out, sizeof out, "node register --name n3 --ip 127.0.0.9 --port 20000 --rpc %s --keystore %s/owner0.json "
                         "--password-file %s/pw", anvil_url, dir, dir), 1);
    ck_assert_msg(strstr(out, "the node name 'n3' is taken (node 4)") != NULL, "%s", out);
    ck_assert_int_eq(run(out, sizeof out, "node register --name fresh --ip 127.0.0.1 --port 10500 --rpc %s --keystore %s/owner0.json "
                         "--password-file %s/pw", anvil_url, dir, dir), 1);
    ck_assert_msg(strstr(out, "overlaps node 1") != NULL, "%s", out);
    /* The wrong chain for this deployment. */
    ck_assert_int_eq(run(out, sizeof out, "node register --name x --ip 127.0.0.9 --port 20000 --rpc %s --keystore %s/owner0.json "
                         "--password-file %s/pw", other_url, dir, dir), 1);
    ck_assert_msg(strstr(out, "serves chain 999 but the manager is deployed on chain 31337") != NULL, "%s", out);

    ck_assert_int_eq(run(out, sizeof out, "node ls --rpc %s", anvil_url), 0);
    ck_assert_ptr_nonnull(strstr(out, "FREE_SLOTS"));
    ck_assert_ptr_nonnull(strstr(out, "127.0.0.5:16000"));
    int lines = 0;
    for (char *p = out; (p = strchr(p, '\n')); p++) lines++;
    ck_assert_int_eq(lines, 21);
    ck_assert_int_eq(run(out, sizeof out, "node info n7 --rpc %s", anvil_url), 0);
    ck_assert_ptr_nonnull(strstr(out, "free_slots  128"));

    /* Chains of every size. 'whole' needs two nodes that hold no chain: made after 'mid' (16
       of the 20 nodes, chosen by the block's prevrandao) and 'small-one' (4), there were
       none in about one run in 75 (65 of the C(20,4) choices of 'small-one' leave fewer
       than two), so it goes first. */
    int rc = run(out, sizeof out, "chain create --name small-one --size small --nodes 4 --rpc %s --keystore %s/dev0.json "
                 "--password-file %s/pw", anvil_url, dir, dir);
    ck_assert_msg(rc == 0, "create small-one: %s", out);
    rc = run(out, sizeof out, "chain create --name whole --size large --nodes 2 --rpc %s --keystore %s/dev0.json "
             "--password-file %s/pw --json", anvil_url, dir, dir);
    ck_assert_msg(rc == 0, "create whole: %s", out);
    ck_assert_msg(strstr(out, "\"chain_id\":\t\"2\"") != NULL, "%s", out);
    rc = run(out, sizeof out, "chain create --name mid --size medium --nodes 16 --rpc %s --keystore %s/dev0.json "
             "--password-file %s/pw", anvil_url, dir, dir);
    ck_assert_msg(rc == 0, "create mid: %s", out);
    ck_assert_int_eq(run(out, sizeof out, "chain create --name Bad_Name --size small --nodes 1 --rpc %s --keystore %s/dev0.json "
                         "--password-file %s/pw", anvil_url, dir, dir), 2);
    /* 17 medium members cannot exist: at most 16 per chain. 16 large ones: too few empty nodes. */
    ck_assert_int_eq(run(out, sizeof out, "chain create --name big --size large --nodes 16 --rpc %s --keystore %s/dev0.json "
                         "--password-file %s/pw", anvil_url, dir, dir), 1);
    ck_assert_msg(strstr(out, "not enough capacity") != NULL, "%s", out);

    ck_assert_int_eq(run(out, sizeof out, "chain ls --rpc %s", anvil_url), 0);
    ck_assert_ptr_nonnull(strstr(out, "small-one"));
    ck_assert_ptr_nonnull(strstr(out, "medium"));
    ck_assert_ptr_nonnull(strstr(out, "large"));
    ck_assert_int_eq(run(out, sizeof out, "chain show mid --rpc %s --json", anvil_url), 0);
    cJSON *members = cJSON_Parse(out);
    ck_assert_msg(cJSON_IsArray(members), "%s", out);
    ck_assert_int_eq(cJSON_GetArraySize(members), 16);
    cJSON_Delete(members);
    ck_assert_int_eq(run(out, sizeof out, "chain delete small-one --rpc %s --keystore %s/owner1.json --password-file %s/pw",
                         anvil_url, dir, dir), 1);
    ck_assert_msg(strstr(out, "belongs to 0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266") != NULL, "%s", out);
    ck_assert_int_eq(run(out, sizeof out, "chain delete small-one --rpc %s --keystore %s/dev0.json --password-file %s/pw",
                         anvil_url, dir, dir), 0);
    ck_assert_int_eq(run(out, sizeof out, "chain show small-one --rpc %s", anvil_url), 1);
    ck_assert_msg(strstr(out, "there is no chain named 'small-one'") != NULL, "%s", out);

    /* An exit rotates the node's chains. 'mid' is on 16 of the 20 nodes; node 20 (n19) leaves:
       the rotation goes to one of the four others, or it waits if it is not in 'mid'. */
    ck_assert_int_eq(run(out, sizeof out, "chain show mid --rpc %s", anvil_url), 0);
    ck_assert_msg(strstr(out, "epoch 0\n") != NULL && strstr(out, "rotation in flight") == NULL, "%s", out);
    ck_assert_int_eq(run(out, sizeof out, "chain show mid --rpc %s --json", anvil_url), 0);
    cJSON *mid = cJSON_Parse(out);
    int leaver = 0;
    for (int i = 0; i < cJSON_GetArraySize(mid) && leaver == 0; i++) {
        const cJSON *node = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(mid, i), "node");
        int id = cJSON_IsNumber(node) ? node->valueint : atoi(cJSON_IsString(node) ? node->valuestring : "0");
        if (id >= 1 && id <= 20) leaver = id;
    }
    cJSON_Delete(mid);
    ck_assert_msg(leaver > 0, "no member of mid found");
    ck_assert_int_eq(run(out, sizeof out, "chain rotate mid --node %d --rpc %s --keystore %s/owner1.json --password-file %s/pw",
                         leaver, anvil_url, dir, dir), 1);
    ck_assert_msg(strstr(out, "belongs to 0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266") != NULL, "%s", out);
    ck_assert_int_eq(run(out, sizeof out, "node exit %d --rpc %s --keystore %s/owner%d.json --password-file %s/pw", leaver,
                         anvil_url, dir, leaver - 1, dir), 0);
    char expect[128];
    snprintf(expect, sizeof expect, "rotation started, node %d -> node ", leaver);
    ck_assert_msg(strstr(out, expect) != NULL, "%s", out);
    ck_assert_msg(strstr(out, "carry rotations out and confirm them with completeRotation") != NULL, "%s", out);
    ck_assert_int_eq(run(out, sizeof out, "chain show mid --rpc %s", anvil_url), 0);
    snprintf(expect, sizeof expect, "(exit): member ");
    ck_assert_msg(strstr(out, "rotation in flight since block") != NULL && strstr(out, expect) != NULL, "%s", out);
    /* One rotation per chain; the exit cannot complete while it is in flight. */
    ck_assert_int_eq(run(out, sizeof out, "chain rotate mid --leaving %d --rpc %s --keystore %s/dev0.json --password-file %s/pw",
                         leaver, anvil_url, dir, dir), 1);
    snprintf(expect, sizeof expect, "is already rotating node %d out for node ", leaver);
    ck_assert_msg(strstr(out, expect) != NULL, "%s", out);
    ck_assert_int_eq(run(out, sizeof out, "node exit %d --complete --rpc %s --keystore %s/owner%d.json --password-file %s/pw",
                         leaver, anvil_url, dir, leaver - 1, dir), 1);
    ck_assert_msg(strstr(out, "wait for their rotations to complete") != NULL, "%s", out);
    ck_assert_int_eq(run(out, sizeof out, "chain rotate mid --rpc %s --keystore %s/dev0.json --password-file %s/pw", anvil_url,
                         dir, dir), 2);

    /* The nodes' part, done here by hand with the owners' keys: f + 1 = 6 members of the new
       epoch sign that 'mid' runs in epoch 1 from block 77; anyone submits it. */
    char path[256];
    snprintf(path, sizeof path, "%s/manager.json", dir);
    struct mc_deployment d;
    struct cohort_error err = {0};
    ck_assert_int_eq(mc_deployment_load(path, &d, &err), 0);
    struct mc_rpc *rpc;
    struct mc_rpc_options o = {.url = anvil_url};
    ck_assert_int_eq(mc_rpc_open(&rpc, &o, NULL), 0);
    struct mc_chain_info c;
    ck_assert_int_eq(mc_manager_get_chain_by_name(rpc, &d, "mid", &c, &err), 0);
    struct mc_rotation_info r;
    ck_assert_int_eq(mc_manager_get_rotation(rpc, &d, c.id, &r, &err), 0);
    ck_assert(r.pending);
    ck_assert_uint_eq(r.epoch, 0);
    ck_assert_uint_eq(r.leaving_node_id, (uint64_t)leaver);
    ck_assert_uint_eq(c.node_ids[r.member_index], (uint64_t)leaver);
    uint64_t next[16];
    memcpy(next, c.node_ids, sizeof next);
    next[r.member_index] = r.joining_node_id;
    uint8_t digest[32], sigs[16][MC_STATEMENT_SIGNATURE_BYTES];
    mc_rotation_digest(&d, c.id, 1, 77, r.leaving_node_id, r.joining_node_id, digest);
    for (int i = 0; i < 6; i++) ck_assert_int_eq(mc_sign_statement(keys[next[i] - 1], digest, sigs[i], &err), 0);
    ck_assert_int_eq(mc_manager_complete_rotation(rpc, keys[0], &d, c.id, 1, 77, (const uint8_t(*)[65])sigs, 5, NULL, &err),
                     MC_E_REVERTED);
    ck_assert_msg(strstr(err.message, "NotEnoughSignatures(5, 6)") != NULL, "%s", err.message);
    /* The leaving node is not in the new epoch: its signature does not count. */
    uint8_t theirs[MC_STATEMENT_SIGNATURE_BYTES];
    memcpy(theirs, sigs[5], sizeof theirs);
    ck_assert_int_eq(mc_sign_statement(keys[leaver - 1], digest, sigs[5], &err), 0);
    ck_assert_int_eq(mc_manager_complete_rotation(rpc, keys[0], &d, c.id, 1, 77, (const uint8_t(*)[65])sigs, 6, NULL, &err),
                     MC_E_REVERTED);
    ck_assert_msg(strstr(err.message, "WrongSigner") != NULL, "%s", err.message);
    memcpy(sigs[5], theirs, sizeof theirs);
    ck_assert_msg(mc_manager_complete_rotation(rpc, keys[0], &d, c.id, 1, 77, (const uint8_t(*)[65])sigs, 6, NULL, &err) == 0,
                  "%s", err.message);
    ck_assert_int_eq(run(out, sizeof out, "chain show mid --rpc %s", anvil_url), 0);
    ck_assert_msg(strstr(out, "epoch 1\n") != NULL && strstr(out, "rotation in flight") == NULL, "%s", out);
    ck_assert_int_eq(run(out, sizeof out, "node exit %d --complete --rpc %s --keystore %s/owner%d.json --password-file %s/pw",
                         leaver, anvil_url, dir, leaver - 1, dir), 0);

    /* 2f + 1 = 11 of the other members say member 0 is absent since 700 s ago: it rotates out. */
    ck_assert_int_eq(mc_manager_get_chain_by_name(rpc, &d, "mid", &c, &err), 0);
    ck_assert_uint_eq(c.node_ids[r.member_index], r.joining_node_id);
    uint64_t since = (uint64_t)time(NULL) - 700;
    mc_absence_digest(&d, c.id, 1, c.node_ids[0], since, digest);
    for (int i = 0; i < 11; i++) ck_assert_int_eq(mc_sign_statement(keys[c.node_ids[1 + i] - 1], digest, sigs[i], &err), 0);
    struct mc_rotation_events started = {0};
    ck_assert_msg(mc_manager_report_absent(rpc, keys[0], &d, c.id, c.node_ids[0], since, (const uint8_t(*)[65])sigs, 11,
                                           &started, &err) == 0,
                  "%s", err.message);
    ck_assert_uint_eq(started.n, 1);
    ck_assert_int_eq(started.events[0].kind, MC_EVENT_ROTATION_STARTED);
    ck_assert_int_eq(started.events[0].reason, MC_ROTATION_ABSENT);
    ck_assert_uint_eq(started.events[0].node_id, c.node_ids[0]);
    ck_assert_uint_eq(started.events[0].epoch, 2);
    mc_rpc_close(rpc);

    /* Every event, through the watcher, decoded. */
    ck_assert_int_eq(mc_rpc_open(&rpc, &o, NULL), 0);
    size_t ntopics;
    const uint8_t(*topics)[32] = mc_manager_event_topics(&ntopics);
    struct mc_watcher_config cfg = {.start_block = d.block, .confirmations = 0, .max_range = 7, .topic0s = topics,
                                    .ntopic0s = ntopics};
    memcpy(cfg.address, d.address, 20);
    struct counting_sink sink_state = {.owner19 = owners[19]};
    struct mc_watcher_sink sink = {.deliver = count_events, .rewind = no_rewind, .ctx = &sink_state};
    struct mc_cursor cursor = {0};
    bool progress = true;
    for (int round = 0; round < 1000 && progress; round++)
        ck_assert_msg(mc_watcher_poll(&cfg, &cursor, rpc, &sink, &progress, &err) == 0, "%s", err.message);
    ck_assert(!progress);
    ck_assert_int_gt(sink_state.batches, 5); /* max_range 7 over dozens of blocks: many deliveries */
    ck_assert_int_eq(sink_state.counts[MC_EVENT_NODE_REGISTERED], 20);
    ck_assert_int_eq(sink_state.counts[MC_EVENT_CHAIN_CREATED], 3);
    ck_assert_int_eq(sink_state.counts[MC_EVENT_NODE_ASSIGNED], 4 + 16 + 2 + 2);
    ck_assert_int_eq(sink_state.counts[MC_EVENT_ROTATION_STARTED], 2);
    ck_assert_int_eq(sink_state.counts[MC_EVENT_ROTATION_COMPLETED], 1);
    ck_assert_int_eq(sink_state.counts[MC_EVENT_NODE_EXIT_INITIATED], 1);
    ck_assert_int_eq(sink_state.counts[MC_EVENT_NODE_EXITED], 1);
    ck_assert_int_eq(sink_state.counts[MC_EVENT_NODE_RELEASED], 4 + 1);
    ck_assert_int_eq(sink_state.counts[MC_EVENT_CHAIN_DELETED], 1);
    ck_assert(sink_state.saw_n19);
    mc_rpc_close(rpc);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cli-manager");
    TCase *tc = tcase_create("operator");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, operator_path);
    suite_add_tcase(s, tc);
    return testutil_run_suite(s, true);
}
