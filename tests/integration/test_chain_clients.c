/*
 * test_chain_clients.c - a real cohort-subnode running a chain, used by real clients:
 *   - ethers v6 and cast (tests/integration/chain/clients.mjs): deploy, ERC-20 transfers,
 *     reads at old blocks, custom errors and reason strings, filters, WebSocket
 *     subscriptions, 200 transactions from one sender, estimateGas within 1%;
 *   - bad input over HTTP: malformed JSON, wrong types, oversized bodies and batches, a bad
 *     signature, a wrong chain id, a transaction at the size cap: clear errors, and the
 *     node keeps serving;
 *   - SIGKILL under load: every transaction whose receipt a client got before the kill is
 *     there after the restart, in the same block (same hash).
 * The subnode runs as a process (not a container), on 127.0.0.1, with its volume in a temp
 * folder; it is stopped by PID.
 */
#include <check.h>
#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/chain_config.h"
#include "common/hex.h"
#include "common/secp.h"
#include "testutil.h"

/* This test's ports (testutil.h lists every test's block). */
#define RPC_PORT 26000
#define BFT_PORT 26001
#define EVM_CHAIN_ID 4321
/* anvil's first dev key: the genesis funds it, as the devnet funds a chain's owner. */
#define FUNDED_KEY "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"

static char dir[64];
static pid_t subnode = -1;

static void write_config(void)
{
    struct chain_config c;
    memset(&c, 0, sizeof c);
    c.version = CHAIN_CONFIG_VERSION;
    snprintf(c.name, sizeof c.name, "testchain");
    c.chain_id = 1;
    c.evm_chain_id = EVM_CHAIN_ID;
    c.slots = 1;
    c.manager_chain_id = 31337;
    c.node_id = 1;
    c.member_index = 0;
    c.nmembers = 1;
    c.members[0].node_id = 1;
    snprintf(c.members[0].ip, sizeof c.members[0].ip, "127.0.0.1");
    c.members[0].base_port = RPC_PORT;
    c.members[0].first_slot = 0;
    struct cohort_error err = {0};
    uint8_t key[32];
    ck_assert_int_eq(secp_key_generate(key, &err), 0);
    ck_assert_int_eq(secp_pubkey(key, c.members[0].public_key, &err), 0);
    c.genesis_gas_limit = 30000000;
    c.nalloc = 1;
    uint8_t funded[32];
    ck_assert_int_eq(hex_decode_exact(FUNDED_KEY, funded, 32, &err), 0);
    ck_assert_int_eq(secp_address_from_secret(funded, c.alloc[0].address, &err), 0);
    c.alloc[0].balance = u256_mul(u256_from_u64(1000000), u256_from_u64(1000000000000000000ull));
    c.disk_bytes = 1ull << 30;
    c.txpool_max_transactions = 10000;
    c.txpool_max_bytes = 64u << 20;
    char *json;
    ck_assert_msg(chain_config_encode(&c, &json, &err) == 0, "%s", err.message);
    char path[128];
    snprintf(path, sizeof path, "%s/chain.json", dir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(json, f);
    fclose(f);
    free(json);
}

static void start_subnode(void)
{
    char config[128], log[128], port[16];
    snprintf(config, sizeof config, "%s/chain.json", dir);
    snprintf(log, sizeof log, "%s/subnode.log", dir);
    snprintf(port, sizeof port, "%d", RPC_PORT);
    subnode = fork();
    ck_assert_int_ge(subnode, 0);
    if (subnode == 0) {
        FILE *f = freopen(log, "a", stderr);
        (void)f;
        char bin[1100];
        snprintf(bin, sizeof bin, "%s/bin/cohort-subnode", getenv("COHORT_BUILD_DIR"));
        execl(bin, bin, "--config", config, "--port", port, "--bind", "127.0.0.1", (char *)NULL);
        _exit(127);
    }
    char body[4096];
    for (int i = 0; i < 200; i++) {
        if (testutil_http_get(RPC_PORT, "/healthz", body, sizeof body) == 200) return;
        usleep(50 * 1000);
    }
    int code = testutil_http_get(RPC_PORT, "/status", body, sizeof body);
    ck_abort_msg("the subnode did not become healthy (status %d): %s", code, body);
}

static void kill_subnode(int sig)
{
    if (subnode <= 0) return;
    kill(subnode, sig);
    int st;
    waitpid(subnode, &st, 0);
    subnode = -1;
}

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/cohort-test-chain-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    struct cohort_error err = {0};
    ck_assert_int_eq(secp_init(&err), 0);
    write_config();
    start_subnode();
}

static void teardown(void)
{
    kill_subnode(SIGTERM);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
}

/* Runs a command; returns its exit status. */
static int run(const char *cmd)
{
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

START_TEST(ethers_and_cast_use_the_chain)
{
    char cmd[2048];
    const char *src = testutil_source_dir();
    snprintf(cmd, sizeof cmd,
             "cd '%s' && node tests/integration/chain/clients.mjs --rpc http://127.0.0.1:%d --ws ws://127.0.0.1:%d "
             "--key %s --chain-id %d --cast node_modules/.bin/cast",
             src, RPC_PORT, RPC_PORT, FUNDED_KEY, EVM_CHAIN_ID);
    ck_assert_msg(run(cmd) == 0, "the client checks failed (output above); the subnode's log is %s/subnode.log", dir);
}
END_TEST

/* POSTs body to the RPC port; returns the HTTP status and the response in out. */
static long post(const char *body, size_t len, char *out, size_t out_size)
{
    CURL *c = curl_easy_init();
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", RPC_PORT);
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    FILE *mem = fmemopen(out, out_size, "w");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)len);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, mem);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
    CURLcode rc = curl_easy_perform(c);
    fclose(mem);
    out[out_size - 1] = '\0';
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    ck_assert_msg(rc == CURLE_OK, "POST failed: %s", curl_easy_strerror(rc));
    return status;
}

static void expect(const char *body, const char *want1, const char *want2)
{
    static char out[1 << 16];
    post(body, strlen(body), out, sizeof out);
    ck_assert_msg(strstr(out, want1) != NULL, "%.200s: got %.400s, want %s", body, out, want1);
    if (want2) ck_assert_msg(strstr(out, want2) != NULL, "%.200s: got %.400s, want %s", body, out, want2);
}

START_TEST(bad_input_gets_clear_errors_and_the_node_keeps_serving)
{
    expect("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"eth_chainId\"", "-32700", NULL);
    expect("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"eth_nosuch\",\"params\":[]}", "-32601", "eth_nosuch");
    expect("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"eth_getBalance\",\"params\":[42,\"latest\"]}", "-32602", NULL);
    expect("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"eth_getBalance\",\"params\":[\"0x12\",\"latest\"]}", "-32602",
           NULL);
    /* Raw transactions that are not hex, and hex that is not a transaction (the wrong chain
       id, a bad signature and the size cap are tried with ethers in clients.mjs). */
    expect("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"eth_sendRawTransaction\",\"params\":[\"0xzz\"]}", "-32602", NULL);
    expect("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"eth_sendRawTransaction\",\"params\":[\"0x02c0\"]}", "\"error\"",
           NULL);
    /* A batch over its cap, and a body over its cap. */
    size_t n = 1001, len = 0;
    char *batch = malloc(n * 64 + 8);
    batch[len++] = '[';
    for (size_t i = 0; i < n; i++)
        len += (size_t)sprintf(batch + len, "%s{\"jsonrpc\":\"2.0\",\"id\":%zu,\"method\":\"eth_chainId\"}", i ? "," : "", i);
    batch[len++] = ']';
    batch[len] = '\0';
    expect(batch, "1000", NULL);
    free(batch);
    size_t big = 6u << 20;
    char *huge = malloc(big + 1);
    memset(huge, ' ', big);
    huge[big] = '\0';
    static char out[4096];
    long status = post(huge, big, out, sizeof out);
    ck_assert_msg(status == 413 || strstr(out, "limit") != NULL, "a 6 MiB body: HTTP %ld %s", status, out);
    free(huge);
    /* Still serving. */
    char want[64];
    snprintf(want, sizeof want, "\"0x%x\"", EVM_CHAIN_ID);
    expect("{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"eth_chainId\",\"params\":[]}", want, NULL);
}
END_TEST

START_TEST(receipts_survive_a_sigkill_under_load)
{
    char cmd[2048], receipts[128];
    snprintf(receipts, sizeof receipts, "%s/receipts.jsonl", dir);
    const char *src = testutil_source_dir();
    /* A client sends transfers for 30 s and writes every receipt it gets. */
    snprintf(cmd, sizeof cmd,
             "cd '%s' && exec node tests/integration/chain/load.mjs send --rpc http://127.0.0.1:%d --key %s "
             "--out '%s' --seconds 30 >'%s/load.log' 2>&1",
             src, RPC_PORT, FUNDED_KEY, receipts, dir);
    pid_t load = fork();
    ck_assert_int_ge(load, 0);
    if (load == 0) {
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    /* Long enough for node to load ethers and for blocks to come under load. */
    sleep(8);
    kill_subnode(SIGKILL);
    /* The client sees the node die; its receipts so far are what must survive. */
    kill(load, SIGTERM);
    int st;
    waitpid(load, &st, 0);
    start_subnode();
    snprintf(cmd, sizeof cmd, "cd '%s' && node tests/integration/chain/load.mjs verify --rpc http://127.0.0.1:%d --out '%s'",
             src, RPC_PORT, receipts);
    ck_assert_msg(run(cmd) == 0, "receipts returned before the kill did not all survive (see above)");
}
END_TEST

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    Suite *s = suite_create("chain");
    TCase *tc = tcase_create("subnode");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, ethers_and_cast_use_the_chain);
    tcase_add_test(tc, bad_input_gets_clear_errors_and_the_node_keeps_serving);
    tcase_add_test(tc, receipts_survive_a_sigkill_under_load);
    suite_add_tcase(s, tc);
    return testutil_run_suite(s, true);
}
