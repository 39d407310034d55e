/*
 * test_daemon.c - cohort-core as a real process: configuration errors are refused with
 * the key named (an unknown COHORT_ variable too); a missing keystore or a wrong password
 * stops it at start; it serves /healthz and /api/v1/subnodes; `cohort subnodes` prints them;
 * SIGTERM stops it cleanly.
 */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/secp.h"
#include "manager-client/manager_client.h"
#include "testutil.h"

static char bin[1024], state_dir[64];

static void setup(void)
{
    testutil_require_dockerd();
    snprintf(bin, sizeof bin, "%s/bin", getenv("COHORT_BUILD_DIR"));
    snprintf(state_dir, sizeof state_dir, "/tmp/cohort-daemon-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(state_dir));
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", state_dir);
    ck_assert_int_eq(system(cmd), 0);
}

static int run_capture(const char *cmd, char *out, size_t size)
{
    FILE *p = popen(cmd, "r");
    size_t n = fread(out, 1, size - 1, p);
    out[n] = '\0';
    int status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

START_TEST(bad_configuration)
{
    char cmd[2048], out[4096];
    snprintf(cmd, sizeof cmd, "%s/cohort-core 2>&1", bin);
    ck_assert_int_eq(run_capture(cmd, out, sizeof out), 2);
    ck_assert_ptr_nonnull(strstr(out, "node_id is not set"));
    snprintf(cmd, sizeof cmd, "%s/cohort-core --node-id 1 --base-port 65000 2>&1", bin);
    ck_assert_int_eq(run_capture(cmd, out, sizeof out), 2);
    ck_assert_ptr_nonnull(strstr(out, "base_port 65000"));
    snprintf(cmd, sizeof cmd, "%s/cohort-core --node-id 1 --colour red 2>&1", bin);
    ck_assert_int_eq(run_capture(cmd, out, sizeof out), 2);
    ck_assert_ptr_nonnull(strstr(out, "unknown option '--colour'"));
    snprintf(cmd, sizeof cmd, "echo '{\"node_id\": 3, \"base_prot\": 1}' > %s/c.json && %s/cohort-core --config %s/c.json 2>&1",
             state_dir, bin, state_dir);
    ck_assert_int_eq(run_capture(cmd, out, sizeof out), 2);
    ck_assert_ptr_nonnull(strstr(out, "unknown key 'base_prot'"));
    snprintf(cmd, sizeof cmd, "COHORT_POLL_MS=abc %s/cohort-core --node-id 1 2>&1", bin);
    ck_assert_int_eq(run_capture(cmd, out, sizeof out), 2);
    ck_assert_ptr_nonnull(strstr(out, "COHORT_POLL_MS"));
    snprintf(cmd, sizeof cmd, "COHORT_COLOUR=red %s/cohort-core --node-id 1 2>&1", bin);
    ck_assert_int_eq(run_capture(cmd, out, sizeof out), 2);
    ck_assert_msg(strstr(out, "unknown environment variable COHORT_COLOUR") != NULL, "%s", out);
    snprintf(cmd, sizeof cmd, "%s/cohort-core --help", bin);
    ck_assert_int_eq(run_capture(cmd, out, sizeof out), 0);
    ck_assert_ptr_nonnull(strstr(out, "--manager-rpc URL"));
}
END_TEST

/* Without a manager the keystore is still checked at start: missing, or a wrong password, stops it. */
START_TEST(refuses_a_keystore_it_cannot_open)
{
    uint8_t key[32];
    struct cohort_error err = {0};
    ck_assert_int_eq(secp_key_generate(key, &err), 0);
    struct mc_keystore_params light = {.kdf = MC_KDF_PBKDF2, .pbkdf2_iterations = 2};
    char *json = NULL, path[128], cmd[2048], out[4096];
    ck_assert_int_eq(mc_keystore_encrypt(key, "pw", 2, &light, &json, &err), 0);
    snprintf(path, sizeof path, "%s/key.json", state_dir);
    ck_assert_int_eq(mc_keystore_write_file(path, json, &err), 0);
    free(json);
    snprintf(cmd, sizeof cmd, "echo nope > %s/wrong && echo pw > %s/pw", state_dir, state_dir);
    ck_assert_int_eq(system(cmd), 0);
    int port = testutil_free_port();
    snprintf(cmd, sizeof cmd, "%s/cohort-core --node-id 1 --state-dir %s/s --api-port %d --keystore %s/missing.json "
             "--password-file %s/pw 2>&1", bin, state_dir, port, state_dir, state_dir);
    ck_assert_int_eq(run_capture(cmd, out, sizeof out), 1);
    ck_assert_msg(strstr(out, "missing.json") != NULL && strstr(out, "failed to start") != NULL, "%s", out);
    snprintf(cmd, sizeof cmd, "%s/cohort-core --node-id 1 --state-dir %s/s --api-port %d --keystore %s "
             "--password-file %s/wrong 2>&1", bin, state_dir, port, path, state_dir);
    ck_assert_int_eq(run_capture(cmd, out, sizeof out), 1);
    ck_assert_msg(strstr(out, "wrong password") != NULL, "%s", out);
}
END_TEST

START_TEST(serves_and_stops)
{
    int port = testutil_free_port();
    char port_text[16], node_text[32];
    snprintf(port_text, sizeof port_text, "%d", port);
    snprintf(node_text, sizeof node_text, "%d", 800000 + (int)getpid());
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        char path[1100];
        snprintf(path, sizeof path, "%s/cohort-core", bin);
        execl(path, path, "--node-id", node_text, "--api-port", port_text, "--state-dir", state_dir, "--poll-ms", "200",
              "--log-level", "warn", (char *)NULL);
        _exit(127);
    }
    ck_assert_int_eq(testutil_wait_port(port, 10000), 0);
    char body[4096];
    int status = -1;
    for (int i = 0; i < 100 && status != 200; i++) {
        status = testutil_http_get(port, "/healthz", body, sizeof body);
        if (status != 200) usleep(50000);
    }
    ck_assert_msg(status == 200, "healthz %d: %s", status, body);
    ck_assert_int_eq(testutil_http_get(port, "/api/v1/subnodes", body, sizeof body), 200);
    ck_assert_str_eq(body, "[]");

    char cmd[2048], out[4096];
    snprintf(cmd, sizeof cmd, "%s/cohort subnodes --api http://127.0.0.1:%d", bin, port);
    ck_assert_int_eq(run_capture(cmd, out, sizeof out), 0);
    ck_assert_ptr_nonnull(strstr(out, "CHAIN"));
    ck_assert_ptr_nonnull(strstr(out, "RESTARTS"));
    snprintf(cmd, sizeof cmd, "%s/cohort subnodes --json --api http://127.0.0.1:%d", bin, port);
    ck_assert_int_eq(run_capture(cmd, out, sizeof out), 0);
    ck_assert_str_eq(out, "[]\n");

    ck_assert_int_eq(kill(pid, SIGTERM), 0);
    int wstatus;
    ck_assert_int_eq(waitpid(pid, &wstatus, 0), pid);
    ck_assert(WIFEXITED(wstatus));
    ck_assert_int_eq(WEXITSTATUS(wstatus), 0);
    /* Gone: the CLI says so with its exit code for an unavailable service. */
    ck_assert_int_eq(run_capture(cmd, out, sizeof out), 3);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("daemon");
    TCase *tc = tcase_create("daemon");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, bad_configuration);
    tcase_add_test(tc, refuses_a_keystore_it_cannot_open);
    tcase_add_test(tc, serves_and_stops);
    suite_add_tcase(s, tc);
    return testutil_run_suite(s, true);
}
