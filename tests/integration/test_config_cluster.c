/*
 * test_config_cluster.c - the config store with four real cohort-core processes on
 * 127.0.0.1 (ports 27000-27099): a put on any member is read on all; `cohort config`
 * works end to end; admin-signed writes pass and outsiders' are refused; under load a
 * member is SIGKILLed and writes go on, the leader is SIGKILLed and a write is served
 * again within seconds, the restarted members catch up to the same store; the history
 * of concurrent client operations is linearizable (tests/unit/lincheck.c); a Byzantine
 * member (cohort-core-byzantine, equivocating as leader) breaks nothing; members are added
 * and removed under load (with the newcomer's `cohort cluster join`); a member restarted far
 * behind says so and answers 503 until it has caught up.
 */
#include <cjson/cJSON.h>
#include <check.h>
#include <curl/curl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/hex.h"
#include "common/secp.h"
#include "config/config.h"
#include "cluster_util.h"
#include "lincheck.h"
#include "manager-client/manager_client.h"
#include "testutil.h"

#define N TC_MEMBERS
#define PORT_BLOCK 27000 /* case c: BFT 27000 + 20c + i, API 27010 + 20c + i (above the devnet's ports) */

static struct tcluster cl;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void sleep_ms(int ms) { usleep((useconds_t)ms * 1000); }

static long put(int i, const char *key, const char *value) { return tc_put(&cl, i, key, value); }

/* A linearizable get: returns the HTTP status; value and *present from the answer. */
static long get(int i, const char *key, char *value, size_t size, bool *present)
{
    char body[256];
    cJSON *a = NULL;
    snprintf(body, sizeof body, "{\"key\":\"%s\"}", key);
    long status = tc_api(&cl, i, "/api/v1/config/range", body, &a, 20000);
    *present = false;
    if (status == 200) {
        const cJSON *resp = cJSON_GetArrayItem(cJSON_GetObjectItem(a, "responses"), 0);
        const cJSON *kv = cJSON_GetArrayItem(cJSON_GetObjectItem(resp, "kvs"), 0);
        if (kv) {
            *present = true;
            snprintf(value, size, "%s", cJSON_GetStringValue(cJSON_GetObjectItem(kv, "value")));
        }
    }
    cJSON_Delete(a);
    return status;
}

static double number(const cJSON *o, const char *k) { return cJSON_GetNumberValue(cJSON_GetObjectItem(o, k)); }

static void teardown(void) { tc_destroy(&cl); }

/* Waits until the members listed hold the same store at revision >= min_revision. */
static void wait_same_store_of(const bool *members, int count, double min_revision, int timeout_ms)
{
    char first[80] = "", why[256] = "";
    for (int waited = 0; waited < timeout_ms; waited += 50) {
        bool same = true;
        first[0] = '\0';
        for (int i = 0; i < count && same; i++) {
            if (!members[i]) continue;
            cJSON *s = tc_status(&cl, i);
            const char *digest = s ? cJSON_GetStringValue(cJSON_GetObjectItem(s, "digest")) : NULL;
            if (digest == NULL || number(s, "revision") < min_revision) {
                snprintf(why, sizeof why, "member %d at revision %.0f", i, s ? number(s, "revision") : -1);
                same = false;
            } else if (first[0] == '\0') {
                snprintf(first, sizeof first, "%s", digest);
            } else if (strcmp(first, digest) != 0) {
                snprintf(why, sizeof why, "member %d's digest %s differs from %s", i, digest, first);
                same = false;
            }
            cJSON_Delete(s);
        }
        if (same) return;
        sleep_ms(50);
    }
    ck_abort_msg("the members did not converge within %d ms: %s (logs in %s)", timeout_ms, why, cl.dir);
}

static void wait_same_store(const bool *members, double min_revision, int timeout_ms)
{
    wait_same_store_of(members, N, min_revision, timeout_ms);
}

/*
 * An idle cluster rests (docs/bft.md "Idle"): with no request, no member makes a block,
 * syncs its WAL or sends a frame. (It made an empty block every timeout/6, an fsync each.)
 */
static void check_cluster_rests(void)
{
    static const char *const still[] = {"height", "committed_index", "wal_syncs", "frames_sent"};
    double before[N][4] = {{0}}, after[N][4] = {{0}};
    bool settled = false;
    for (int waited = 0; !settled; waited += 500) {
        ck_assert_msg(waited < 5000, "the cluster does not come to rest: member 0 at height %.0f, %.0f WAL syncs",
                      after[0][0], after[0][2]);
        for (int pass = 0; pass < 2; pass++) {
            if (pass == 1) sleep_ms(500);
            for (int i = 0; i < N; i++) {
                cJSON *st = tc_status(&cl, i);
                ck_assert_ptr_nonnull(st);
                for (int k = 0; k < 4; k++) (pass ? after : before)[i][k] = number(st, still[k]);
                cJSON_Delete(st);
            }
        }
        settled = memcmp(before, after, sizeof before) == 0;
    }
    sleep_ms(2000);
    for (int i = 0; i < N; i++) {
        cJSON *st = tc_status(&cl, i);
        ck_assert_ptr_nonnull(st);
        for (int k = 0; k < 4; k++)
            ck_assert_msg(number(st, still[k]) == after[i][k], "member %d idle: %s went from %.0f to %.0f in 2 s", i,
                          still[k], after[i][k], number(st, still[k]));
        cJSON_Delete(st);
    }
}

/* ---- Cases ---- */

START_TEST(put_on_any_member_is_read_on_all)
{
    tc_make(&cl, PORT_BLOCK, 300);
    tc_start_all(&cl, -1);
    char key[32], value[64], got[64];
    bool present;
    for (int writer = 0; writer < N; writer++) {
        snprintf(key, sizeof key, "k%d", writer);
        snprintf(value, sizeof value, "written-on-%d", writer);
        ck_assert_int_eq(put(writer, key, value), 200);
        for (int reader = 0; reader < N; reader++) {
            ck_assert_int_eq(get(reader, key, got, sizeof got, &present), 200);
            ck_assert_msg(present && strcmp(got, value) == 0, "member %d read '%s' for %s", reader,
                          present ? got : "(absent)", key);
        }
    }
    bool all[N] = {true, true, true, true};
    wait_same_store(all, 4, 10000);

    /* The CLI, against member 2. */
    char cmd[2048], out[8192];
    snprintf(cmd, sizeof cmd, "COHORT_STATE_DIR=%s/m2 %s/cohort config put app/colour blue --api http://127.0.0.1:%d 2>&1", cl.dir, cl.bin,
             cl.api_port[2]);
    ck_assert_int_eq(testutil_run_capture(cmd, out, sizeof out), 0);
    ck_assert_ptr_nonnull(strstr(out, "revision"));
    snprintf(cmd, sizeof cmd, "COHORT_STATE_DIR=%s/m1 %s/cohort config get app/colour --json --api http://127.0.0.1:%d 2>&1", cl.dir, cl.bin,
             cl.api_port[1]);
    ck_assert_int_eq(testutil_run_capture(cmd, out, sizeof out), 0);
    cJSON *rows = cJSON_Parse(out), *row = cJSON_GetArrayItem(rows, 0);
    ck_assert_msg(cJSON_GetArraySize(rows) == 1 && strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(row, "value")), "blue") == 0,
                  "%s", out);
    cJSON_Delete(rows);
    /* A compare-and-swap that does not hold writes nothing and says why. */
    snprintf(cmd, sizeof cmd, "COHORT_STATE_DIR=%s/m0 %s/cohort config put app/colour red --if-value green --api http://127.0.0.1:%d 2>&1", cl.dir, cl.bin,
             cl.api_port[0]);
    ck_assert_int_eq(testutil_run_capture(cmd, out, sizeof out), 1);
    ck_assert_msg(strstr(out, "value 'blue'") != NULL, "%s", out);
    snprintf(cmd, sizeof cmd, "COHORT_STATE_DIR=%s/m0 %s/cohort config put app/colour red --if-value blue --api http://127.0.0.1:%d 2>&1", cl.dir, cl.bin,
             cl.api_port[0]);
    ck_assert_int_eq(testutil_run_capture(cmd, out, sizeof out), 0);
    snprintf(cmd, sizeof cmd, "COHORT_STATE_DIR=%s/m3 %s/cohort config put app/new x --if-absent --api http://127.0.0.1:%d 2>&1", cl.dir, cl.bin,
             cl.api_port[3]);
    ck_assert_int_eq(testutil_run_capture(cmd, out, sizeof out), 0);
    ck_assert_int_eq(testutil_run_capture(cmd, out, sizeof out), 1);
    ck_assert_msg(strstr(out, "mod_revision") != NULL, "%s", out);
    /* watch from the first revision sees the history of app/ in order. */
    snprintf(cmd, sizeof cmd, "COHORT_STATE_DIR=%s/m3 %s/cohort config watch app/ --from-revision 1 --count 3 --api http://127.0.0.1:%d 2>&1", cl.dir, cl.bin,
             cl.api_port[3]);
    ck_assert_int_eq(testutil_run_capture(cmd, out, sizeof out), 0);
    char *blue = strstr(out, "put app/colour blue"), *red = strstr(out, "put app/colour red"),
         *x = strstr(out, "put app/new x");
    ck_assert_msg(blue && red && x && blue < red && red < x, "watch printed:\n%s", out);
    snprintf(cmd, sizeof cmd, "COHORT_STATE_DIR=%s/m1 %s/cohort config del app/ --prefix --api http://127.0.0.1:%d 2>&1", cl.dir, cl.bin,
             cl.api_port[1]);
    ck_assert_int_eq(testutil_run_capture(cmd, out, sizeof out), 0);
    ck_assert_msg(strstr(out, "deleted") && strstr(out, "2"), "%s", out);
    snprintf(cmd, sizeof cmd, "COHORT_STATE_DIR=%s/m2 %s/cohort config get app/colour --api http://127.0.0.1:%d 2>&1", cl.dir, cl.bin,
             cl.api_port[2]);
    ck_assert_int_eq(testutil_run_capture(cmd, out, sizeof out), 1);
    snprintf(cmd, sizeof cmd, "COHORT_STATE_DIR=%s/m0 %s/cohort config status --json --api http://127.0.0.1:%d", cl.dir, cl.bin,
             cl.api_port[0]);
    ck_assert_int_eq(testutil_run_capture(cmd, out, sizeof out), 0);
    ck_assert_ptr_nonnull(strstr(out, "\"peers_connected\""));
    /* The store's routes need the member's API token: without it, or with another member's,
       nothing is read or written; a foreign web page and a rebound name are refused too. */
    char token_file[128];
    snprintf(token_file, sizeof token_file, "%s/m2/api.token", cl.dir);
    struct stat st;
    ck_assert_int_eq(stat(token_file, &st), 0);
    ck_assert_int_eq(st.st_mode & 077, 0);
    snprintf(cmd, sizeof cmd, "COHORT_STATE_DIR=%s %s/cohort config put app/x y --api http://127.0.0.1:%d 2>&1",
             cl.dir, cl.bin, cl.api_port[2]);
    ck_assert_int_eq(testutil_run_capture(cmd, out, sizeof out), 1);
    ck_assert_msg(strstr(out, "cannot read the API token") != NULL, "%s", out);
    snprintf(cmd, sizeof cmd, "%s/cohort config get app/ --prefix --token-file %s/m0/api.token --api http://127.0.0.1:%d 2>&1",
             cl.bin, cl.dir, cl.api_port[2]);
    ck_assert_int_eq(testutil_run_capture(cmd, out, sizeof out), 1);
    ck_assert_msg(strstr(out, "refused the API token") != NULL, "%s", out);
    snprintf(cmd, sizeof cmd, "%s/cohort config put app/x y --token-file %s --api http://127.0.0.1:%d 2>&1", cl.bin,
             token_file, cl.api_port[2]);
    ck_assert_int_eq(testutil_run_capture(cmd, out, sizeof out), 0);
    const char *refused[] = {"-H 'Origin: http://evil.example'", "-H 'Host: rebind.example'"};
    for (int k = 0; k < 2; k++) {
        snprintf(cmd, sizeof cmd,
                 "curl -s -o /dev/null -w '%%{http_code}' %s -H \"Authorization: Bearer $(cat %s)\" -d '{}' "
                 "http://127.0.0.1:%d/api/v1/config/range",
                 refused[k], token_file, cl.api_port[2]);
        ck_assert_int_eq(testutil_run_capture(cmd, out, sizeof out), 0);
        ck_assert_msg(strcmp(out, "403") == 0, "%s: HTTP %s", refused[k], out);
    }

    /* Settings from the cluster (core/settings.h): a put reaches every member's cohort-core
       within a second, without a restart; a node's own key wins for that node; a bad value
       is refused and shown as such. */
    {
        char body[256];
        const char *puts[][2] = {{"cohort/settings/poll_ms", "500"},
                                 {"cohort/nodes/3/settings/poll_ms", "700"}, /* member 2 runs node 3 */
                                 {"cohort/settings/confirmations", "many"}};
        double revision = 0;
        for (int k = 0; k < 3; k++) {
            cJSON *a = NULL;
            snprintf(body, sizeof body, "{\"success\":[{\"op\":\"put\",\"key\":\"%s\",\"value\":\"%s\"}]}", puts[k][0],
                     puts[k][1]);
            ck_assert_int_eq(tc_api(&cl, k % N, "/api/v1/config/txn", body, &a, 20000), 200);
            revision = number(a, "revision");
            cJSON_Delete(a);
        }
        int64_t put_ns = now_ns();
        for (int i = 0; i < N; i++) {
            cJSON *a = NULL, *poll = NULL;
            for (;;) {
                cJSON_Delete(a);
                a = NULL;
                ck_assert_int_eq(tc_api(&cl, i, "/api/v1/settings", NULL, &a, 5000), 200);
                if (number(a, "revision") >= revision) break;
                ck_assert_msg(now_ns() - put_ns < 1000000000LL, "member %d's settings are at revision %.0f, not %.0f, 1 s after the put",
                              i, number(a, "revision"), revision);
                sleep_ms(10);
            }
            poll = cJSON_GetObjectItem(cJSON_GetObjectItem(a, "settings"), "poll_ms");
            ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(poll, "value")), i == 2 ? "700" : "500");
            ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(poll, "source")), i == 2 ? "node" : "cluster");
            const cJSON *conf = cJSON_GetObjectItem(cJSON_GetObjectItem(a, "settings"), "confirmations");
            ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(conf, "source")), "local");
            char *text = cJSON_PrintUnformatted(cJSON_GetObjectItem(a, "refused"));
            ck_assert_msg(strstr(text, "cohort/settings/confirmations") != NULL, "member %d refused %s", i, text);
            free(text);
            cJSON_Delete(a);
        }
    }

    /* Answers are capped (4 MiB of keys and values): 80 values of 60 KiB come in more than
       one range or watch answer, each saying "more", and the rest follows from where it ends. */
    {
        enum { BIG = 80, BIG_BYTES = 60 * 1024 };
        char *body = malloc(BIG_BYTES + 256), *big = malloc(BIG_BYTES + 1);
        memset(big, 'v', BIG_BYTES);
        big[BIG_BYTES] = '\0';
        cJSON *a = NULL;
        ck_assert_int_eq(tc_api(&cl, 0, "/api/v1/config/status", NULL, &a, 5000), 200);
        double first_big = number(a, "revision") + 1;
        cJSON_Delete(a);
        for (int k = 0; k < BIG; k++) {
            snprintf(body, BIG_BYTES + 256, "{\"success\":[{\"op\":\"put\",\"key\":\"big/%02d\",\"value\":\"%s\"}]}", k, big);
            ck_assert_int_eq(tc_api(&cl, k % N, "/api/v1/config/txn", body, NULL, 20000), 200);
        }
        for (int serializable = 0; serializable < 2; serializable++) {
            snprintf(body, 256, "{\"key\":\"big/\",\"prefix\":true,\"serializable\":%s}", serializable ? "true" : "false");
            wait_same_store(all, first_big + BIG - 1, 10000);
            ck_assert_int_eq(tc_api(&cl, 1, "/api/v1/config/range", body, &a, 20000), 200);
            const cJSON *resp = cJSON_GetArrayItem(cJSON_GetObjectItem(a, "responses"), 0);
            int answered = cJSON_GetArraySize(cJSON_GetObjectItem(resp, "kvs"));
            ck_assert_msg(answered > 0 && answered < BIG && cJSON_IsTrue(cJSON_GetObjectItem(resp, "more")),
                          "a range of %d x 60 KiB answered %d keys (serializable %d)", BIG, answered, serializable);
            ck_assert_int_le(answered * BIG_BYTES, 4 << 20);
            cJSON_Delete(a);
        }
        int events = 0, answers = 0;
        double from = first_big;
        while (events < BIG && answers < 10) {
            snprintf(body, 256, "{\"prefix\":\"big/\",\"from_revision\":%.0f,\"timeout_ms\":0}", from);
            ck_assert_int_eq(tc_api(&cl, 2, "/api/v1/config/watch", body, &a, 20000), 200);
            int n = cJSON_GetArraySize(cJSON_GetObjectItem(a, "events"));
            ck_assert_int_gt(n, 0);
            ck_assert_int_eq(cJSON_IsTrue(cJSON_GetObjectItem(a, "more")), events + n < BIG);
            const cJSON *e = cJSON_GetArrayItem(cJSON_GetObjectItem(a, "events"), 0);
            char want[16];
            snprintf(want, sizeof want, "big/%02d", events);
            ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(e, "key")), want); /* none skipped, none twice */
            events += n;
            answers++;
            from = number(a, "next_revision");
            cJSON_Delete(a);
        }
        ck_assert_int_eq(events, BIG);
        ck_assert_int_ge(answers, 2);
        free(body);
        free(big);
    }

    /* A request signed by the admin key is applied; one signed by an outsider is refused. */
    for (int who = N; who < N + 2; who++) {
        struct cs_request req;
        memset(&req, 0, sizeof req);
        req.instance = cl.instance;
        req.id[0] = (uint8_t)who;
        req.id[1] = 0xa5;
        req.nsuccess = 1;
        req.success[0] = (struct cs_op){.type = CS_OP_PUT, .key = (const uint8_t *)"signed", .key_len = 6,
                                        .value = (const uint8_t *)"by-admin", .value_len = 8};
        uint8_t bytes[1024];
        size_t len;
        struct cohort_error err = {0};
        ck_assert_int_eq(cs_request_encode(&req, cl.keys[who], bytes, sizeof bytes, &len, &err), 0);
        char hex[2100], body[2200];
        hex_encode(bytes, len, hex, sizeof hex);
        snprintf(body, sizeof body, "{\"signed\":\"%s\"}", hex);
        cJSON *a = NULL;
        long status = tc_api(&cl, 1, "/api/v1/config/txn", body, &a, 20000);
        if (who == N) ck_assert_msg(status == 200, "admin write: HTTP %ld", status);
        else ck_assert_msg(status == 403, "outsider write: HTTP %ld", status);
        cJSON_Delete(a);
    }
    ck_assert_int_eq(get(3, "signed", got, sizeof got, &present), 200);
    ck_assert(present && strcmp(got, "by-admin") == 0);
    check_cluster_rests();
    teardown();
}
END_TEST

/* ---- Load, faults and the linearizability check ---- */

#define CLIENTS 4
#define KEYS 4
#define OPS_MAX 4000

static struct lc_op history[OPS_MAX];
static size_t history_len;
static pthread_mutex_t history_lock = PTHREAD_MUTEX_INITIALIZER;
static volatile int load_stop;
static volatile int64_t last_ok_ns[N];

struct client {
    int id;
    uint64_t rng;
    unsigned ok, unknown;
};

static void record(const struct lc_op *op)
{
    pthread_mutex_lock(&history_lock);
    if (history_len < OPS_MAX) history[history_len++] = *op;
    pthread_mutex_unlock(&history_lock);
}

static void *client_main(void *arg)
{
    struct client *c = arg;
    int member = c->id % N;
    for (unsigned n = 0; !load_stop && history_len < OPS_MAX - CLIENTS; n++) {
        struct lc_op op;
        memset(&op, 0, sizeof op);
        op.client = c->id;
        snprintf(op.key, sizeof op.key, "lin/%u", (unsigned)(testutil_rand_next(&c->rng) % KEYS));
        unsigned kind = (unsigned)(testutil_rand_next(&c->rng) % 10);
        char body[512];
        const char *path = "/api/v1/config/txn";
        if (kind < 4) {
            op.kind = LC_PUT;
            snprintf(op.value, sizeof op.value, "c%d-%u", c->id, n);
            snprintf(body, sizeof body, "{\"success\":[{\"op\":\"put\",\"key\":\"%s\",\"value\":\"%s\"}]}", op.key,
                     op.value);
        } else if (kind < 7) {
            op.kind = LC_GET;
            path = "/api/v1/config/range";
            snprintf(body, sizeof body, "{\"key\":\"%s\"}", op.key);
        } else {
            /* Compare-and-swap from a value this client may have seen: another client's latest. */
            op.kind = LC_CAS;
            op.expect_present = testutil_rand_next(&c->rng) % 4 != 0;
            snprintf(op.expect, sizeof op.expect, "c%u-%u", (unsigned)(testutil_rand_next(&c->rng) % CLIENTS),
                     n > 0 ? (unsigned)(testutil_rand_next(&c->rng) % n) : 0);
            snprintf(op.value, sizeof op.value, "c%d-%u", c->id, n);
            if (op.expect_present)
                snprintf(body, sizeof body,
                         "{\"compare\":[{\"key\":\"%s\",\"target\":\"value\",\"result\":\"=\",\"value\":\"%s\"}],"
                         "\"success\":[{\"op\":\"put\",\"key\":\"%s\",\"value\":\"%s\"}]}",
                         op.key, op.expect, op.key, op.value);
            else
                snprintf(body, sizeof body,
                         "{\"compare\":[{\"key\":\"%s\",\"target\":\"mod_revision\",\"result\":\"=\",\"number\":0}],"
                         "\"success\":[{\"op\":\"put\",\"key\":\"%s\",\"value\":\"%s\"}]}",
                         op.key, op.key, op.value);
        }
        cJSON *a = NULL;
        op.call_ns = now_ns();
        long status = tc_api(&cl, member, path, body, &a, 20000);
        op.return_ns = now_ns();
        if (status == 200) {
            c->ok++;
            last_ok_ns[member] = op.return_ns;
            if (op.kind == LC_GET) {
                const cJSON *resp = cJSON_GetArrayItem(cJSON_GetObjectItem(a, "responses"), 0);
                const cJSON *kv = cJSON_GetArrayItem(cJSON_GetObjectItem(resp, "kvs"), 0);
                op.present = kv != NULL;
                if (kv) snprintf(op.value, sizeof op.value, "%s", cJSON_GetStringValue(cJSON_GetObjectItem(kv, "value")));
            }
            if (op.kind == LC_CAS) op.ok = cJSON_IsTrue(cJSON_GetObjectItem(a, "succeeded"));
        } else {
            /* No answer, or not committed in time: it may or may not have happened. Try another member. */
            c->unknown++;
            op.unknown = true;
            member = (member + 1) % N;
            sleep_ms(20);
        }
        cJSON_Delete(a);
        if (!(op.unknown && op.kind == LC_GET)) record(&op);
    }
    return NULL;
}

/* The clients of a load: CLIENTS threads running client_main, each with its own seed from rng. */
static pthread_t load_threads[CLIENTS];
static struct client load_clients[CLIENTS];

static void load_start(uint64_t rng)
{
    history_len = 0;
    load_stop = 0;
    memset((void *)last_ok_ns, 0, sizeof last_ok_ns);
    for (int i = 0; i < CLIENTS; i++) {
        load_clients[i] = (struct client){.id = i, .rng = rng * (uint64_t)(i + 1)};
        ck_assert_int_eq(pthread_create(&load_threads[i], NULL, client_main, &load_clients[i]), 0);
    }
}

/* Stops the load and reports it (what: which case); at least 100 operations were answered. */
static void load_end(const char *what)
{
    load_stop = 1;
    unsigned ok = 0, unknown = 0;
    for (int i = 0; i < CLIENTS; i++) {
        pthread_join(load_threads[i], NULL);
        ok += load_clients[i].ok;
        unknown += load_clients[i].unknown;
    }
    fprintf(stderr, "test_config_cluster: %s: %zu operations recorded, %u answered, %u without an answer\n", what,
            history_len, ok, unknown);
    ck_assert_uint_gt(ok, 100);
}

/* The load's history is linearizable (Wing-Gong, within 60 s). */
static void check_linearizable(void)
{
    char explain[2048] = "";
    enum lc_verdict v = lc_check(history, history_len, 60000, explain, sizeof explain);
    ck_assert_msg(v == LC_LINEARIZABLE, "the history of %zu operations is %s: %s", history_len,
                  v == LC_TIMEOUT ? "not checkable in time" : "NOT linearizable", explain);
}

static int64_t first_ok_after(int64_t t0, const bool *members)
{
    int64_t best = 0;
    for (int i = 0; i < N; i++)
        if (members[i] && last_ok_ns[i] > t0 && (best == 0 || last_ok_ns[i] < best)) best = last_ok_ns[i];
    return best;
}

START_TEST(faults_under_load_stay_linearizable)
{
    /* A snapshot every 128 blocks: the members compact their WALs under the load, and the
       killed ones restart from a snapshot and the blocks after it. */
    tc_make_with(&cl, PORT_BLOCK + 20, 300, "\"snapshot_every\":128,");
    tc_start_all(&cl, -1);
    load_start(0x9e3779b97f4a7c15ull);
    sleep_ms(1500);

    /* SIGKILL a member under load: writes go on through the others. */
    tc_kill(&cl, 3);
    int64_t killed = now_ns();
    bool others[N] = {true, true, true, false};
    sleep_ms(1500);
    int64_t served = first_ok_after(killed, others);
    ck_assert_msg(served > 0, "no request was served in 1.5 s after member 3 was killed");
    size_t before = history_len;
    sleep_ms(1000);
    ck_assert_msg(history_len > before + 10, "writes stalled with member 3 down (%zu -> %zu ops)", before, history_len);

    /* Restart it: it replays its WAL and catches up. */
    tc_start(&cl, 3, false);
    tc_wait_api(&cl, 3);
    sleep_ms(1000);

    /* SIGKILL the current leader: a write is served again within seconds. */
    cJSON *s = tc_status(&cl, 0);
    ck_assert_ptr_nonnull(s);
    int leader = (int)number(s, "leader");
    cJSON_Delete(s);
    tc_kill(&cl, leader);
    int64_t t0 = now_ns();
    bool rest[N] = {true, true, true, true};
    rest[leader] = false;
    int64_t first = 0;
    for (int waited = 0; waited < 10000 && first == 0; waited += 10) {
        sleep_ms(10);
        first = first_ok_after(t0, rest);
    }
    ck_assert_msg(first > 0, "no request was served within 10 s after the leader (member %d) was killed", leader);
    fprintf(stderr, "test_config_cluster: first answer %.0f ms after the leader (member %d) was SIGKILLed\n",
            (double)(first - t0) / 1e6, leader);
    ck_assert_msg(first - t0 < 5000000000ll, "the stall after killing the leader was %.0f ms", (double)(first - t0) / 1e6);
    sleep_ms(500);
    tc_start(&cl, leader, false);
    tc_wait_api(&cl, leader);
    sleep_ms(1500);
    load_end("faults");

    /* Everyone, the restarted members too, holds the same store. */
    bool all[N] = {true, true, true, true};
    cJSON *s0 = tc_status(&cl, 0);
    double revision = number(s0, "revision");
    cJSON_Delete(s0);
    wait_same_store(all, revision, 20000);
    for (int i = 0; i < N; i++) {
        cJSON *st = tc_status(&cl, i);
        ck_assert_ptr_nonnull(st);
        /* (A killed member that missed more than the others keep fetches a snapshot instead
           of their blocks: either way it ends with the same store, checked above.) */
        ck_assert_msg(number(st, "snapshot_index") > 0, "member %d holds no snapshot after the load", i);
        cJSON_Delete(st);
    }
    check_linearizable();
    teardown();
}
END_TEST

/* ---- Membership changes (docs/cohort-core.md "Membership") ---- */

/* Runs the CLI (cmd after "cohort"): its exit status, what it said in out. */
static int cli(char *out, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
#define CLI_OK(out, ...)                                                                                              \
    do {                                                                                                              \
        int rc_ = cli(out, sizeof out, __VA_ARGS__);                                                                  \
        ck_assert_msg(rc_ == 0, "cohort exited %d: %s", rc_, out);                                                    \
    } while (0)
static int cli(char *out, size_t size, const char *fmt, ...)
{
    char args[3000], cmd[4200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "%s/cohort %s 2>&1", cl.bin, args);
    return testutil_run_capture(cmd, out, size);
}

/* Waits until process i runs epoch `number` (as a member when member). */
/* Process i's status says its old epoch's node lingers (a removed member). */
static void assert_lingering(int i)
{
    cJSON *st = tc_status(&cl, i);
    ck_assert_ptr_nonnull(st);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(st, "epoch");
    ck_assert_msg(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "lingering")),
                  "process %d, removed, has no lingering node of its old epoch (logs in %s)", i, cl.dir);
    cJSON_Delete(st);
}

static void wait_epoch(int i, double want, bool member, int timeout_ms)
{
    double seen = -1;
    bool is_member = !member;
    for (int waited = 0; waited < timeout_ms; waited += 50) {
        cJSON *st = tc_status(&cl, i);
        const cJSON *e = st ? cJSON_GetObjectItemCaseSensitive(st, "epoch") : NULL;
        seen = e ? number(e, "number") : -1;
        is_member = e && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "member"));
        bool running = e && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "running"));
        cJSON_Delete(st);
        if (seen == want && is_member == member && running == member) return;
        sleep_ms(50);
    }
    ck_abort_msg("process %d is at epoch %.0f (member: %d), not %.0f (member: %d) after %d ms (logs in %s)", i, seen,
                 is_member, want, member, timeout_ms, cl.dir);
}

/*
 * Under write load, an admin adds a fifth member (the newcomer joins from the document and
 * fetches the store), then removes member 1 while member 3 is SIGKILLed: the others
 * restart, and member 3 comes back in the old epoch, learns the change from the proof they
 * kept in their epoch folders, and fetches the state;
 * member 2 is SIGKILLed right after the first change and restarts into the new epoch. The
 * clients' history is linearizable; the removed member orders nothing and says why.
 */
START_TEST(members_change_under_load_stay_linearizable)
{
    tc_make(&cl, PORT_BLOCK + 120, 300);
    tc_start_all(&cl, -1);
    load_start(0x51ed2707u);
    sleep_ms(1000);
    char out[8192], newcomer[43], removed[43];
    hex_encode(cl.addresses[N + 1], 20, newcomer, sizeof newcomer);
    hex_encode(cl.addresses[1], 20, removed, sizeof removed);
    /* A member's key cannot sign a change: only an admin's. */
    ck_assert_int_ne(cli(out, sizeof out,
                         "cluster member add %s 127.0.0.1:%d --keystore %s/key0.json --password-file %s/password "
                         "--api http://127.0.0.1:%d --token-file %s/m0/api.token",
                         newcomer, cl.bft_port[N], cl.dir, cl.dir, cl.api_port[0], cl.dir),
                     0);
    ck_assert_msg(strstr(out, "not signed by an admin") != NULL, "%s", out);
    CLI_OK(out,
           "cluster member add %s 127.0.0.1:%d --keystore %s/admin.json --password-file %s/password "
           "--out %s/join.doc --api http://127.0.0.1:%d --token-file %s/m0/api.token",
           newcomer, cl.bft_port[N], cl.dir, cl.dir, cl.dir, cl.api_port[0], cl.dir);
    ck_assert_msg(strstr(out, "epoch") != NULL && strstr(out, "5") != NULL, "%s", out);
    tc_kill(&cl, 2); /* in the middle of its switch, or just after */
    CLI_OK(out, "cluster join %s/join.doc --state-dir %s/m%d --cluster-file %s/cluster.json", cl.dir, cl.dir, N,
           cl.dir);
    tc_start(&cl, N, false);
    tc_wait_api(&cl, N);
    tc_start(&cl, 2, false);
    tc_wait_api(&cl, 2);
    for (int i = 0; i <= N; i++) wait_epoch(i, 1, true, 20000);
    CLI_OK(out, "cluster members --api http://127.0.0.1:%d", cl.api_port[N]);
    ck_assert_msg(strstr(out, "epoch 1: 5 members") != NULL && strstr(out, newcomer) != NULL, "%s", out);
    /* The newcomer holds the store (it came by state transfer) and serves a write. */
    int status = 0;
    for (int t = 0; t < 100 && status != 200; t++) {
        status = (int)put(N, "from-the-newcomer", "1");
        if (status != 200) sleep_ms(100);
    }
    ck_assert_int_eq(status, 200);
    cJSON *st = tc_status(&cl, N);
    ck_assert_ptr_nonnull(st);
    ck_assert_msg(number(st, "snapshots_installed") >= 1, "the newcomer did not fetch the store's state");
    cJSON_Delete(st);
    sleep_ms(500);

    /* Remove member 1 while member 3 is down: it misses the change. */
    tc_kill(&cl, 3);
    CLI_OK(out,
           "cluster member remove %s --keystore %s/admin.json --password-file %s/password "
           "--api http://127.0.0.1:%d --token-file %s/m0/api.token",
           removed, cl.dir, cl.dir, cl.api_port[0], cl.dir);
    wait_epoch(0, 2, true, 20000);
    wait_epoch(1, 2, false, 20000);
    /* The removed member's node of epoch 1 lingers, applying nothing, for the members still
       there (docs/bft.md "The removed member lingers"). It goes before member 3 comes back,
       so that member 3 can only follow the others' proof. */
    assert_lingering(1);
    tc_kill(&cl, 1);
    /* The others restart before member 3 comes back: the proof it gets was read from their
       epoch folders, not kept in memory since the change. */
    for (int i = 0; i <= N; i++) {
        if (i == 1 || i == 3) continue;
        wait_epoch(i, 2, true, 20000);
        tc_kill(&cl, i);
        tc_start(&cl, i, false);
        tc_wait_api(&cl, i);
        wait_epoch(i, 2, true, 20000);
    }
    tc_start(&cl, 3, false);
    tc_wait_api(&cl, 3);
    for (int i = 0; i <= N; i++)
        if (i != 1) wait_epoch(i, 2, true, 30000);
    tc_start(&cl, 1, false); /* restarted, it lingers again, from the old epoch's WAL it kept */
    tc_wait_api(&cl, 1);
    wait_epoch(1, 2, false, 20000);
    assert_lingering(1);
    long removed_status = put(1, "from-the-removed", "1");
    ck_assert_int_eq(removed_status, 503);
    sleep_ms(1000);
    load_end("membership changes");
    bool members[TC_SLOTS] = {true, false, true, true, true};
    cJSON *s0 = tc_status(&cl, 0);
    double revision = number(s0, "revision");
    cJSON_Delete(s0);
    wait_same_store_of(members, TC_SLOTS, revision, 20000);
    /* Member 3 learned of epoch 2 from the others' proof and fetched the state there. */
    cJSON *s3 = tc_status(&cl, 3);
    ck_assert_ptr_nonnull(s3);
    const cJSON *e3 = cJSON_GetObjectItemCaseSensitive(s3, "epoch");
    ck_assert_msg(number(e3, "switches_by_proof") == 1, "member 3 switched %.0f times by a proof",
                  number(e3, "switches_by_proof"));
    ck_assert_msg(number(s3, "snapshots_installed") >= 1, "member 3 did not fetch the state of epoch 2");
    cJSON_Delete(s3);
    check_linearizable();
    teardown();
}
END_TEST

/* ---- Readiness (docs/cohort-core.md "Readiness") ---- */

struct writer {
    int member;
    volatile int *stop;
};

/* Puts ready/<member>-<n> through its member until *stop. */
static void *writer_main(void *arg)
{
    struct writer *w = arg;
    char key[64];
    for (unsigned n = 0; !*w->stop && n < 1000000; n++) {
        snprintf(key, sizeof key, "ready/%d-%u", w->member, n);
        put(w->member, key, "x");
    }
    return NULL;
}

/*
 * A member SIGKILLed while the others commit 2,000 heights under load, then restarted:
 * while it catches up it says so (status "ready": false) and answers requests at once with
 * 503 "catching up" instead of holding them; then it serves them. (Before its peers' links
 * opened with their heights, a TIP frame, a member that had heard no vote yet took itself
 * for caught up: in CI it held its first request 0.8 s and never said it was behind.)
 */
START_TEST(a_restarted_member_far_behind_says_so)
{
    tc_make(&cl, PORT_BLOCK + 140, 100); /* a short timeout: the dead member's turns to lead pass quickly */
    tc_start_all(&cl, -1);
    ck_assert_int_eq(put(3, "before", "1"), 200);
    cJSON *s0 = tc_status(&cl, 0);
    ck_assert_ptr_nonnull(s0);
    double start = number(s0, "height"), height = start;
    cJSON_Delete(s0);
    tc_kill(&cl, 3);
    volatile int stop = 0;
    struct writer writers[3];
    pthread_t threads[3];
    for (int i = 0; i < 3; i++) {
        writers[i] = (struct writer){.member = i, .stop = &stop};
        ck_assert_int_eq(pthread_create(&threads[i], NULL, writer_main, &writers[i]), 0);
    }
    for (int t = 0; t < 600 && height < start + 2000; t++) { /* 2,000 heights on: about 8 s, at most 60 */
        sleep_ms(100);
        cJSON *st = tc_status(&cl, 0);
        if (st) height = number(st, "height");
        cJSON_Delete(st);
    }
    ck_assert_msg(height >= start + 2000, "the others made only %.0f heights in 60 s", height - start);
    tc_start(&cl, 3, false);
    tc_wait_api(&cl, 3);
    int64_t t0 = now_ns();
    int refused = 0, unsure = 0, not_ready = 0, served = 0;
    double slowest_refusal_ms = 0;
    char why[512] = "";
    for (int t = 0; t < 20000 && served == 0; t++) {
        cJSON *st = tc_status(&cl, 3);
        if (st && cJSON_IsFalse(cJSON_GetObjectItem(st, "ready"))) not_ready++;
        cJSON_Delete(st);
        cJSON *a = NULL;
        int64_t asked = now_ns();
        long status = tc_api(&cl, 3, "/api/v1/config/txn", "{\"success\":[{\"op\":\"put\",\"key\":\"after\",\"value\":\"1\"}]}",
                             &a, 20000);
        double took_ms = (double)(now_ns() - asked) / 1e6;
        const char *error = a ? cJSON_GetStringValue(cJSON_GetObjectItem(a, "error")) : NULL;
        if (status == 503 && error != NULL && strstr(error, "catching up") != NULL) {
            if (refused++ == 0) snprintf(why, sizeof why, "%s", error);
            if (took_ms > slowest_refusal_ms) slowest_refusal_ms = took_ms;
        } else if (status == 503 && error != NULL && strstr(error, "too few to tell") != NULL) {
            unsure++; /* its peers' links not open yet, 250 ms after the request came */
        } else {
            ck_assert_msg(status == 200, "member 3 answered HTTP %ld: %s", status, error ? error : "");
            served++;
        }
        cJSON_Delete(a);
        usleep(1000);
    }
    stop = 1;
    for (int i = 0; i < 3; i++) pthread_join(threads[i], NULL);
    fprintf(stderr,
            "test_config_cluster: member 3, restarted 2,000 heights behind: %d requests answered with \"%s\" "
            "(the slowest in %.1f ms), %d not yet sure, status not ready %d times, then served %.0f ms after its API "
            "came up\n",
            refused, why, slowest_refusal_ms, unsure, not_ready, (double)(now_ns() - t0) / 1e6);
    ck_assert_msg(refused > 0 && not_ready > 0, "member 3 never said it was catching up");
    /* At once: not held for the catch-up (which takes about a second here), only for the wait
       of a member just started to hear where the others are (READY_WAIT_MS, 250). */
    ck_assert_msg(slowest_refusal_ms < 500, "a refusal took %.0f ms", slowest_refusal_ms);
    ck_assert_int_eq(served, 1);
    teardown();
}
END_TEST

/*
 * A member whose WAL is lost (its config/ folder removed) but whose key stays: it signed in
 * the log before (its state dir has the mark), so it follows the log without signing until a
 * block carries its rejoin entry, then signs from past every height it was at, and serves
 * writes again (docs/cohort-core.md "Rejoining").
 */
START_TEST(a_member_that_lost_its_wal_rejoins)
{
    tc_make(&cl, PORT_BLOCK + 80, 300);
    tc_start_all(&cl, -1);
    ck_assert_int_eq(put(0, "before", "1"), 200);
    cJSON *st = tc_status(&cl, 2);
    ck_assert_ptr_nonnull(st);
    double height_then = number(st, "height");
    ck_assert_ptr_null(cJSON_GetObjectItemCaseSensitive(st, "rejoin")); /* a first start: nothing lost */
    cJSON_Delete(st);
    tc_kill(&cl, 2);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s/m2/config'", cl.dir);
    ck_assert_int_eq(system(cmd), 0);
    ck_assert_int_eq(put(0, "while-down", "1"), 200);
    tc_start(&cl, 2, false);
    tc_wait_api(&cl, 2);
    double vote_from = 0;
    for (int t = 0; t < 150 && vote_from == 0; t++) {
        usleep(100 * 1000);
        st = tc_status(&cl, 2);
        const cJSON *r = st ? cJSON_GetObjectItemCaseSensitive(st, "rejoin") : NULL;
        if (r != NULL && cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(r, "waiting"))) vote_from = number(r, "vote_from");
        cJSON_Delete(st);
    }
    ck_assert_msg(vote_from > height_then, "member 2 did not rejoin within 15 s past height %.0f (vote_from %.0f)",
                  height_then, vote_from);
    int status = 0;
    for (int t = 0; t < 50 && status != 200; t++) {
        status = put(2, "after", "2");
        if (status != 200) usleep(100 * 1000);
    }
    ck_assert_int_eq(status, 200);
    cJSON *s0 = tc_status(&cl, 0);
    double revision = number(s0, "revision");
    cJSON_Delete(s0);
    bool all[N] = {true, true, true, true};
    wait_same_store(all, revision, 10000);
    teardown();
}
END_TEST

START_TEST(byzantine_member_breaks_nothing)
{
    tc_make(&cl, PORT_BLOCK + 40, 300);
    tc_start_all(&cl, 3); /* member 3 equivocates whenever it leads */
    char key[32], value[32], got[32];
    bool present;
    for (int n = 0; n < 60; n++) {
        int member = n % 3;
        snprintf(key, sizeof key, "b/%d", n % 7);
        snprintf(value, sizeof value, "v%d", n);
        ck_assert_msg(put(member, key, value) == 200, "put %d through honest member %d failed", n, member);
        ck_assert_int_eq(get((member + 1) % 3, key, got, sizeof got, &present), 200);
        ck_assert_msg(present && strcmp(got, value) == 0, "read '%s' after writing '%s'", got, value);
        sleep_ms(20); /* let heights pass, so member 3 leads some of them */
    }
    bool honest[N] = {true, true, true, false};
    cJSON *s0 = tc_status(&cl, 0);
    double revision = number(s0, "revision");
    cJSON_Delete(s0);
    wait_same_store(honest, revision, 10000);
    double seen = 0;
    for (int i = 0; i < 3; i++) {
        cJSON *s = tc_status(&cl, i);
        seen += number(s, "equivocations_seen");
        cJSON_Delete(s);
    }
    cJSON *b = tc_status(&cl, 3);
    double sent = b ? number(b, "proposals_equivocated") : 0;
    cJSON_Delete(b);
    fprintf(stderr, "test_config_cluster: the Byzantine member sent %.0f second blocks; the honest members noticed %.0f\n",
            sent, seen);
    ck_assert_msg(sent > 0, "the Byzantine member never equivocated: the test tested nothing");
    teardown();
}
END_TEST

/*
 * A full disk: member 3 runs with a file size limit (RLIMIT_FSIZE, so its WAL's writes fail
 * with EFBIG as they would with ENOSPC). It halts rather than vote on what it could not make
 * durable, says so with the reason in /healthz and its status (503), and the other three go
 * on. Restarted with room, it loses nothing: its WAL ends at the last whole record, it
 * catches up and holds the same store.
 */
START_TEST(a_member_whose_disk_fills_halts_and_loses_nothing)
{
    tc_make(&cl, PORT_BLOCK + 100, 300);
    cl.file_limit[3] = 1L << 20;
    tc_start_all(&cl, -1);
    char value[2049], key[32], got[2049];
    memset(value, 'x', sizeof value - 1);
    value[sizeof value - 1] = '\0';
    bool halted = false;
    int puts = 0;
    for (; puts < 4000 && !halted; puts++) {
        snprintf(key, sizeof key, "full/%d", puts);
        ck_assert_msg(put(puts % 3, key, value) == 200, "put %d through member %d failed", puts, puts % 3);
        if (puts % 20 == 0) {
            cJSON *s = NULL;
            halted = tc_api(&cl, 3, "/api/v1/config/status", NULL, &s, 5000) == 503 &&
                     cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(s, "halted"));
            cJSON_Delete(s);
        }
    }
    ck_assert_msg(halted, "member 3 did not halt after %d puts of 2 KiB with a 1 MiB file limit (log in %s)", puts,
                  cl.dir);
    cJSON *s = NULL;
    ck_assert_int_eq(tc_api(&cl, 3, "/api/v1/config/status", NULL, &s, 5000), 503);
    const char *reason = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(s, "halt_reason"));
    ck_assert_msg(reason != NULL && strstr(reason, "wal") != NULL && strstr(reason, "File too large") != NULL,
                  "halt_reason: %s", reason ? reason : "(none)");
    cJSON_Delete(s);
    char health[4096];
    ck_assert_int_eq(testutil_http_get(cl.api_port[3], "/healthz", health, sizeof health), 503);
    ck_assert_msg(strstr(health, "config store: its WAL failed (") != NULL && strstr(health, "File too large") != NULL,
                  "%s", health);
    /* The others go on without it. */
    for (int n = 0; n < 30; n++) {
        snprintf(key, sizeof key, "after/%d", n);
        ck_assert_int_eq(put(n % 3, key, "1"), 200);
    }
    /* Room again: it restarts, keeps what it had made durable and catches up. */
    tc_kill(&cl, 3);
    cl.file_limit[3] = 0;
    tc_start(&cl, 3, false);
    tc_wait_api(&cl, 3);
    cJSON *s0 = tc_status(&cl, 0);
    double revision = number(s0, "revision");
    cJSON_Delete(s0);
    bool all[N] = {true, true, true, true};
    wait_same_store(all, revision, 20000);
    bool present = false;
    ck_assert_int_eq(get(3, "full/0", got, sizeof got, &present), 200);
    ck_assert(present && strcmp(got, value) == 0);
    ck_assert_int_eq(get(3, "after/29", got, sizeof got, &present), 200);
    ck_assert(present && strcmp(got, "1") == 0);
    s = tc_status(&cl, 3);
    ck_assert(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(s, "halted")));
    cJSON_Delete(s);
    /* This cluster runs without dockerd, so /healthz stays 503 for that; the store's part is gone. */
    testutil_http_get(cl.api_port[3], "/healthz", health, sizeof health);
    ck_assert_msg(strstr(health, "config store") == NULL, "/healthz after the restart: %s", health);
    fprintf(stderr, "test_config_cluster: member 3 halted after %d puts with a 1 MiB file limit; restarted, it converged\n",
            puts);
    teardown();
}
END_TEST

START_TEST(refuses_a_key_outside_the_cluster)
{
    tc_make(&cl, PORT_BLOCK + 60, 300);
    /* Member 0's keystore replaced by the outsider's key. */
    struct cohort_error err = {0};
    struct mc_keystore_params fast = {.kdf = MC_KDF_PBKDF2, .pbkdf2_iterations = 1024};
    char *json = NULL, path[256], cmd[2048], out[8192];
    ck_assert_int_eq(mc_keystore_encrypt(cl.keys[N + 1], "test-password", 13, &fast, &json, &err), 0);
    snprintf(path, sizeof path, "%s/key0.json", cl.dir);
    unlink(path);
    ck_assert_int_eq(mc_keystore_write_file(path, json, &err), 0);
    free(json);
    snprintf(cmd, sizeof cmd,
             "%s/cohort-core --node-id 1 --api-port %d --state-dir %s/m0 --docker-socket %s/none.sock --keystore %s "
             "--password-file %s/password --cluster-file %s/cluster.json 2>&1",
             cl.bin, cl.api_port[0], cl.dir, cl.dir, path, cl.dir, cl.dir);
    ck_assert_int_eq(testutil_run_capture(cmd, out, sizeof out), 1);
    ck_assert_msg(strstr(out, "is not a member in the cluster file") != NULL, "%s", out);
    /* A cluster file with three members is refused, naming the rule. */
    snprintf(cmd, sizeof cmd,
             "echo '{\"instance\":1,\"members\":[]}' > %s/bad.json && %s/cohort-core --node-id 1 --api-port %d "
             "--state-dir %s/m0 --docker-socket %s/none.sock --keystore %s --password-file %s/password "
             "--cluster-file %s/bad.json 2>&1",
             cl.dir, cl.bin, cl.api_port[0], cl.dir, cl.dir, path, cl.dir, cl.dir);
    ck_assert_int_eq(testutil_run_capture(cmd, out, sizeof out), 1);
    ck_assert_msg(strstr(out, "a cluster has 4 to 32") != NULL, "%s", out);
    /* So is a fill wait that would not stay well under the idle leader's delay. */
    snprintf(cmd, sizeof cmd,
             "sed 's/\"timeout_ms\":300,/\"timeout_ms\":300,\"fill_wait_ms\":100,/' %s/cluster.json > %s/bad.json && "
             "grep -q fill_wait_ms %s/bad.json && %s/cohort-core --node-id 1 --api-port %d --state-dir %s/m0 "
             "--docker-socket %s/none.sock --keystore %s --password-file %s/password --cluster-file %s/bad.json 2>&1",
             cl.dir, cl.dir, cl.dir, cl.bin, cl.api_port[0], cl.dir, cl.dir, path, cl.dir, cl.dir);
    ck_assert_int_eq(testutil_run_capture(cmd, out, sizeof out), 1);
    ck_assert_msg(strstr(out, "fill_wait_ms must be at most timeout_ms / 10 (30 here)") != NULL, "%s", out);
    teardown();
}
END_TEST

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    Suite *s = suite_create("config_cluster");
    TCase *tc = tcase_create("config_cluster");
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, put_on_any_member_is_read_on_all);
    tcase_add_test(tc, faults_under_load_stay_linearizable);
    tcase_add_test(tc, byzantine_member_breaks_nothing);
    tcase_add_test(tc, a_member_that_lost_its_wal_rejoins);
    tcase_add_test(tc, a_member_whose_disk_fills_halts_and_loses_nothing);
    tcase_add_test(tc, refuses_a_key_outside_the_cluster);
    tcase_add_test(tc, members_change_under_load_stay_linearizable);
    tcase_add_test(tc, a_restarted_member_far_behind_says_so);
    suite_add_tcase(s, tc);
    return testutil_run_suite(s, true);
}
