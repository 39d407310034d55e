/* cluster_util.c - a cluster of real cohort-core processes (see cluster_util.h). */
#include "cluster_util.h"

#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/hex.h"
#include "core/api_token.h"
#include "common/secp.h"
#include "manager-client/manager_client.h"
#include "testutil.h"

static void die(const char *what, const char *detail)
{
    fprintf(stderr, "cluster_util: %s: %s\n", what, detail);
    abort();
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) die("cannot write", path);
    fputs(text, f);
    fclose(f);
}

void tc_make(struct tcluster *c, int port_base, unsigned timeout_ms)
{
    tc_make_with(c, port_base, timeout_ms, "");
}

void tc_make_with(struct tcluster *c, int port_base, unsigned timeout_ms, const char *options)
{
    memset(c, 0, sizeof *c);
    c->members = TC_MEMBERS;
    const char *build = getenv("COHORT_BUILD_DIR");
    if (build == NULL) die("COHORT_BUILD_DIR is not set", "point it at the build directory");
    snprintf(c->bin, sizeof c->bin, "%s/bin", build);
    snprintf(c->dir, sizeof c->dir, "/tmp/cohort-cluster-XXXXXX");
    if (mkdtemp(c->dir) == NULL) die("mkdtemp", c->dir);
    struct cohort_error err = {0};
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t seed = (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 32);
    c->instance = testutil_rand_next(&seed) >> 12;
    char path[256], members[4096] = "";
    struct mc_keystore_params fast = {.kdf = MC_KDF_PBKDF2, .pbkdf2_iterations = 1024};
    snprintf(path, sizeof path, "%s/password", c->dir);
    write_file(path, "test-password\n");
    for (int i = 0; i < TC_MEMBERS + 2; i++)
        if (secp_key_generate(c->keys[i], &err) < 0 || secp_address_from_secret(c->keys[i], c->addresses[i], &err) < 0)
            die("key", err.message);
    for (int i = 0; i <= TC_SLOTS; i++) { /* the slots' keys, then the admin's (admin.json) */
        if (i < TC_SLOTS) {
            c->bft_port[i] = port_base + i;
            c->api_port[i] = port_base + 10 + i;
        }
        char *json = NULL;
        int k = i < TC_MEMBERS ? i : i == TC_MEMBERS ? TC_MEMBERS + 1 : TC_MEMBERS;
        if (i == TC_SLOTS) snprintf(path, sizeof path, "%s/admin.json", c->dir);
        else snprintf(path, sizeof path, "%s/key%d.json", c->dir, i);
        if (mc_keystore_encrypt(c->keys[k], "test-password", 13, &fast, &json, &err) < 0 ||
            mc_keystore_write_file(path, json, &err) < 0)
            die("keystore", err.message);
        free(json);
    }
    for (int i = 0; i < TC_MEMBERS; i++) {
        char address[43], entry[200];
        hex_encode(c->addresses[i], 20, address, sizeof address);
        snprintf(entry, sizeof entry, "%s{\"address\":\"%s\",\"endpoint\":\"127.0.0.1:%d\"}", i ? "," : "", address,
                 c->bft_port[i]);
        strcat(members, entry);
    }
    char admin[43], text[6000];
    hex_encode(c->addresses[TC_MEMBERS], 20, admin, sizeof admin);
    snprintf(text, sizeof text, "{\"instance\":%llu,\"timeout_ms\":%u,%s\"members\":[%s],\"admins\":[\"%s\"]}\n",
             (unsigned long long)c->instance, timeout_ms, options, members, admin);
    snprintf(path, sizeof path, "%s/cluster.json", c->dir);
    write_file(path, text);
}

void tc_make_etcd(struct tcluster *c, int port_base)
{
    memset(c, 0, sizeof *c);
    c->members = 3;
    c->etcd = true;
    const char *etcd = getenv("COHORT_ETCD");
    snprintf(c->bin, sizeof c->bin, "%s", etcd ? etcd : "/usr/bin/etcd");
    if (access(c->bin, X_OK) != 0)
        die("no etcd executable", "install Debian's etcd-server (apt-get install etcd-server) or set COHORT_ETCD");
    snprintf(c->dir, sizeof c->dir, "/tmp/cohort-etcd-XXXXXX");
    if (mkdtemp(c->dir) == NULL) die("mkdtemp", c->dir);
    for (int i = 0; i < c->members; i++) {
        c->bft_port[i] = port_base + i;
        c->api_port[i] = port_base + 10 + i;
    }
}

/* etcd member i, in the foreground of the child process. */
static void exec_etcd(const struct tcluster *c, int i)
{
    char name[8], data[128], client[64], peer[64], cluster[512] = "";
    snprintf(name, sizeof name, "e%d", i);
    snprintf(data, sizeof data, "%s/e%d", c->dir, i);
    snprintf(client, sizeof client, "http://127.0.0.1:%d", c->api_port[i]);
    snprintf(peer, sizeof peer, "http://127.0.0.1:%d", c->bft_port[i]);
    for (int j = 0; j < c->members; j++) {
        char entry[64];
        snprintf(entry, sizeof entry, "%se%d=http://127.0.0.1:%d", j ? "," : "", j, c->bft_port[j]);
        strcat(cluster, entry);
    }
    execl(c->bin, c->bin, "--name", name, "--data-dir", data, "--listen-client-urls", client,
          "--advertise-client-urls", client, "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
          "--initial-cluster", cluster, "--initial-cluster-state", "new", "--initial-cluster-token", "cohort-bench",
          "--logger", "zap", "--log-level", "error", (char *)NULL);
}

pid_t tc_start(struct tcluster *c, int i, bool byzantine)
{
    char exe[1100], node[16], api[16], state[128], key[128], password[128], cluster[128], log[128], socket[128];
    snprintf(exe, sizeof exe, "%s/%s", c->bin, byzantine ? "cohort-core-byzantine" : "cohort-core");
    snprintf(node, sizeof node, "%d", i + 1);
    snprintf(api, sizeof api, "%d", c->api_port[i]);
    snprintf(state, sizeof state, "%s/m%d", c->dir, i);
    snprintf(key, sizeof key, "%s/key%d.json", c->dir, i);
    snprintf(password, sizeof password, "%s/password", c->dir);
    snprintf(cluster, sizeof cluster, "%s/cluster.json", c->dir);
    snprintf(log, sizeof log, "%s/%s%d.log", c->dir, c->etcd ? "e" : "m", i);
    snprintf(socket, sizeof socket, "%s/no-docker.sock", c->dir); /* the config store needs no dockerd */
    pid_t pid = fork();
    if (pid < 0) die("fork", "failed");
    if (pid == 0) {
        if (freopen(log, "a", stderr) == NULL || freopen(log, "a", stdout) == NULL) _exit(126);
        if (c->etcd) {
            exec_etcd(c, i);
            _exit(127);
        }
        if (byzantine) setenv("COHORT_TEST_EQUIVOCATE", "1", 1);
        if (c->file_limit[i] > 0) { /* writes past it fail with EFBIG, as on a full disk */
            struct rlimit limit = {(rlim_t)c->file_limit[i], (rlim_t)c->file_limit[i]};
            signal(SIGXFSZ, SIG_IGN); /* kept across exec: the write fails instead of killing */
            if (setrlimit(RLIMIT_FSIZE, &limit) != 0) _exit(125);
        }
        execl(exe, exe, "--node-id", node, "--api-port", api, "--state-dir", state, "--docker-socket", socket,
              "--keystore", key, "--password-file", password, "--cluster-file", cluster, "--log-level", "error",
              (char *)NULL);
        _exit(127);
    }
    c->pids[i] = pid;
    return pid;
}

void tc_wait_api(const struct tcluster *c, int i)
{
    if (testutil_wait_port(c->api_port[i], 15000) != 0) {
        char what[256];
        snprintf(what, sizeof what, "see %s/%s%d.log", c->dir, c->etcd ? "e" : "m", i);
        die("a member's API did not come up in 15 s", what);
    }
}

void tc_start_all(struct tcluster *c, int byzantine_member)
{
    for (int i = 0; i < c->members; i++) tc_start(c, i, i == byzantine_member);
    for (int i = 0; i < c->members; i++) tc_wait_api(c, i);
}

void tc_kill(struct tcluster *c, int i)
{
    if (c->pids[i] <= 0) return;
    kill(c->pids[i], SIGKILL);
    waitpid(c->pids[i], NULL, 0);
    c->pids[i] = 0;
}

void tc_destroy(struct tcluster *c)
{
    for (int i = 0; i < TC_SLOTS; i++) {
        testutil_stop_process_within(c->pids[i], 3000);
        c->pids[i] = 0;
    }
    if (c->dir[0] && getenv("COHORT_KEEP_CLUSTER") == NULL) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", c->dir);
        if (system(cmd) != 0) fprintf(stderr, "cluster_util: could not remove %s\n", c->dir);
    }
    c->dir[0] = '\0';
}

struct body {
    char *data;
    size_t len;
};

static size_t on_data(char *chunk, size_t size, size_t nmemb, void *userdata)
{
    struct body *b = userdata;
    size_t n = size * nmemb;
    if (b->len + n > (1u << 22)) return 0;
    char *grown = realloc(b->data, b->len + n + 1);
    if (grown == NULL) return 0;
    b->data = grown;
    memcpy(b->data + b->len, chunk, n);
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

/* One call on handle h (reset first, so a kept handle reuses only its connections). */
static long api_on(CURL *h, const struct tcluster *c, int i, const char *path, const char *body, cJSON **answer,
                   long timeout_ms)
{
    curl_easy_reset(h);
    struct body b = {0};
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", c->api_port[i], path);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    if (body) curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    /* cohort-core's store routes need its API token (core/api_token.h), in its state dir. */
    struct curl_slist *headers = NULL;
    char token[API_TOKEN_HEX + 1], file[128], authorization[API_TOKEN_HEX + 32];
    snprintf(file, sizeof file, "%s/m%d/" API_TOKEN_FILE, c->dir, i);
    if (!c->etcd && api_token_read(file, token, NULL) == 0) {
        snprintf(authorization, sizeof authorization, "Authorization: Bearer %s", token);
        headers = curl_slist_append(headers, authorization);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    }
    long status = 0;
    if (curl_easy_perform(h) == CURLE_OK) curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(headers);
    if (answer) *answer = status && b.data ? cJSON_Parse(b.data) : NULL;
    free(b.data);
    return status;
}

long tc_api(const struct tcluster *c, int i, const char *path, const char *body, cJSON **answer, long timeout_ms)
{
    CURL *h = curl_easy_init();
    long status = api_on(h, c, i, path, body, answer, timeout_ms);
    curl_easy_cleanup(h);
    return status;
}

static void put_body(char *body, size_t cap, const char *key, const char *value)
{
    int n = snprintf(body, cap, "{\"success\":[{\"op\":\"put\",\"key\":\"%s\",\"value\":\"%s\"}]}", key, value);
    if (n < 0 || (size_t)n >= cap) die("put", "key and value too long for the request buffer");
}

static void base64(const char *in, char *out, size_t cap)
{
    static const char digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = strlen(in), o = 0;
    if ((n + 2) / 3 * 4 + 1 > cap) die("base64", "value too long for the buffer");
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)(uint8_t)in[i] << 16;
        if (i + 1 < n) v |= (uint32_t)(uint8_t)in[i + 1] << 8;
        if (i + 2 < n) v |= (uint8_t)in[i + 2];
        out[o++] = digits[v >> 18 & 63];
        out[o++] = digits[v >> 12 & 63];
        out[o++] = i + 1 < n ? digits[v >> 6 & 63] : '=';
        out[o++] = i + 2 < n ? digits[v & 63] : '=';
    }
    out[o] = '\0';
}

long tc_client_put(struct tc_client *client, const struct tcluster *c, int i, const char *key, const char *value)
{
    if (client->curl == NULL) client->curl = curl_easy_init();
    char body[512];
    if (c->etcd) {
        char k[200], v[200];
        base64(key, k, sizeof k);
        base64(value, v, sizeof v);
        snprintf(body, sizeof body, "{\"key\":\"%s\",\"value\":\"%s\"}", k, v);
        return api_on(client->curl, c, i, "/v3/kv/put", body, NULL, 20000);
    }
    put_body(body, sizeof body, key, value);
    return api_on(client->curl, c, i, "/api/v1/config/txn", body, NULL, 20000);
}

void tc_client_free(struct tc_client *client)
{
    if (client->curl) curl_easy_cleanup(client->curl);
    client->curl = NULL;
}

long tc_put(const struct tcluster *c, int i, const char *key, const char *value)
{
    char body[8192];
    put_body(body, sizeof body, key, value);
    return tc_api(c, i, "/api/v1/config/txn", body, NULL, 20000);
}

/* etcd member i's status (/v3/maintenance/status), or NULL. */
static cJSON *etcd_status(const struct tcluster *c, int i)
{
    cJSON *a = NULL;
    if (c->pids[i] <= 0 || tc_api(c, i, "/v3/maintenance/status", "{}", &a, 3000) != 200) {
        cJSON_Delete(a);
        return NULL;
    }
    return a;
}

int tc_leader(const struct tcluster *c)
{
    if (!c->etcd) {
        cJSON *st = tc_status(c, 0);
        int leader = st ? (int)cJSON_GetNumberValue(cJSON_GetObjectItem(st, "leader")) : -1;
        cJSON_Delete(st);
        return leader;
    }
    /* etcd names the leader by its member ID (a string of digits in the JSON gateway). */
    cJSON *st = etcd_status(c, 0);
    const char *leader = st ? cJSON_GetStringValue(cJSON_GetObjectItem(st, "leader")) : NULL;
    int found = -1;
    for (int i = 0; leader != NULL && i < c->members && found < 0; i++) {
        cJSON *m = etcd_status(c, i);
        const char *id = m ? cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(m, "header"), "member_id")) : NULL;
        if (id != NULL && strcmp(id, leader) == 0) found = i;
        cJSON_Delete(m);
    }
    cJSON_Delete(st);
    return found;
}

cJSON *tc_status(const struct tcluster *c, int i)
{
    cJSON *a = NULL;
    if (tc_api(c, i, "/api/v1/config/status", NULL, &a, 3000) != 200) {
        cJSON_Delete(a);
        return NULL;
    }
    return a;
}
