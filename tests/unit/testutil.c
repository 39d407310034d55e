/* testutil.c - shared helpers of the unit tests. */
#include "testutil.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

const char *testutil_fixtures_dir(void)
{
    const char *dir = getenv("COHORT_FIXTURES");
    return dir != NULL && dir[0] != '\0' ? dir : "../shared/fixtures";
}

const char *testutil_source_dir(void)
{
    const char *dir = getenv("COHORT_SOURCE_DIR");
    return dir != NULL && dir[0] != '\0' ? dir : ".";
}

char *testutil_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "testutil: cannot open %s (is ../shared/fixtures beside the project?)\n", path);
        abort();
    }
    if (fseek(f, 0, SEEK_END) != 0) abort();
    long size = ftell(f);
    if (size < 0 || fseek(f, 0, SEEK_SET) != 0) abort();
    char *data = malloc((size_t)size + 1);
    if (data == NULL) abort();
    if (fread(data, 1, (size_t)size, f) != (size_t)size) {
        fprintf(stderr, "testutil: short read of %s\n", path);
        abort();
    }
    fclose(f);
    data[size] = '\0';
    if (len != NULL) *len = (size_t)size;
    return data;
}

cJSON *testutil_read_json(const char *path)
{
    char *text = testutil_read_file(path, NULL);
    cJSON *json = cJSON_Parse(text);
    free(text);
    if (json == NULL) {
        fprintf(stderr, "testutil: %s is not valid JSON\n", path);
        abort();
    }
    return json;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

size_t testutil_walk(const char *dir, const char *suffix, void (*fn)(const char *path, void *arg), void *arg)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        fprintf(stderr, "testutil: cannot open folder %s\n", dir);
        abort();
    }
    char **names = NULL;
    size_t count = 0, cap = 0;
    struct dirent *entry;
    while ((entry = readdir(d)) != NULL) {
        if (entry->d_name[0] == '.') continue;
        if (count == cap) {
            cap = cap ? cap * 2 : 64;
            names = realloc(names, cap * sizeof *names);
            if (names == NULL) abort();
        }
        names[count++] = strdup(entry->d_name);
    }
    closedir(d);
    if (count) qsort(names, count, sizeof *names, compare_names);

    size_t visited = 0, suffix_len = strlen(suffix);
    for (size_t i = 0; i < count; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        struct stat st;
        if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
            visited += testutil_walk(path, suffix, fn, arg);
        } else {
            size_t n = strlen(names[i]);
            if (n >= suffix_len && strcmp(names[i] + n - suffix_len, suffix) == 0) {
                fn(path, arg);
                visited++;
            }
        }
        free(names[i]);
    }
    free(names);
    return visited;
}

uint64_t testutil_rand_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void testutil_rand_bytes(uint64_t *state, uint8_t *out, size_t len)
{
    for (size_t i = 0; i < len; i += 8) {
        uint64_t r = testutil_rand_next(state);
        for (size_t j = 0; j < 8 && i + j < len; j++) out[i + j] = (uint8_t)(r >> (8 * j));
    }
}

/* ---- Real servers for integration tests ---- */

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void pause_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

int testutil_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) abort();
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK), .sin_port = 0};
    socklen_t len = sizeof a;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || getsockname(fd, (struct sockaddr *)&a, &len) != 0) abort();
    close(fd);
    return ntohs(a.sin_port);
}

int testutil_wait_port(int port, int timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;
    while (now_ms() < deadline) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                                .sin_port = htons((uint16_t)port)};
        int ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
        close(fd);
        if (ok) return 0;
        pause_ms(50);
    }
    return -1;
}

int testutil_start_anvil(char *url, size_t url_size, const char *const *extra_args)
{
    char binary[4096];
    snprintf(binary, sizeof binary, "%s/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil", testutil_source_dir());
    if (access(binary, X_OK) != 0) {
        fprintf(stderr, "testutil: %s missing: run scripts/setup.sh\n", binary);
        abort();
    }
    int port = testutil_free_port();
    char port_text[16];
    snprintf(port_text, sizeof port_text, "%d", port);
    const char *argv[64] = {binary, "--host", "127.0.0.1", "--port", port_text, "--silent"};
    size_t argc = 6;
    for (size_t i = 0; extra_args != NULL && extra_args[i] != NULL && argc < 63; i++) argv[argc++] = extra_args[i];
    argv[argc] = NULL;
    pid_t pid = fork();
    if (pid < 0) abort();
    if (pid == 0) {
        execv(binary, (char *const *)argv);
        _exit(127);
    }
    if (testutil_wait_port(port, 20000) != 0) {
        fprintf(stderr, "testutil: anvil did not listen on port %d within 20 s\n", port);
        testutil_stop_process(pid);
        abort();
    }
    snprintf(url, url_size, "http://127.0.0.1:%d", port);
    return pid;
}

int testutil_start_subnode(const char *binary, const char *config, int port, const char *log,
                           const char *const *extra_args)
{
    char path[1100], port_text[16];
    snprintf(path, sizeof path, "%s/bin/%s", getenv("COHORT_BUILD_DIR") ? getenv("COHORT_BUILD_DIR") : "build", binary);
    snprintf(port_text, sizeof port_text, "%d", port);
    const char *argv[32] = {path, "--config", config, "--port", port_text, "--bind", "127.0.0.1"};
    size_t argc = 7;
    for (size_t i = 0; extra_args != NULL && extra_args[i] != NULL && argc < 31; i++) argv[argc++] = extra_args[i];
    argv[argc] = NULL;
    pid_t pid = fork();
    if (pid < 0) abort();
    if (pid == 0) {
        FILE *f = freopen(log, "a", stderr);
        (void)f;
        execv(path, (char *const *)argv);
        _exit(127);
    }
    char body[8192] = "";
    for (int t = 0; t < 200; t++) {
        if (testutil_http_get(port, "/healthz", body, sizeof body) == 200) return pid;
        pause_ms(50);
    }
    testutil_http_get(port, "/status", body, sizeof body);
    fprintf(stderr, "testutil: %s on port %d is not healthy after 10 s: %s (log: %s)\n", binary, port, body, log);
    testutil_stop_process(pid);
    abort();
}

void testutil_stop_process(int pid) { testutil_stop_process_within(pid, 3000); }

void testutil_stop_process_within(int pid, int grace_ms)
{
    if (pid <= 0) return;
    kill(pid, SIGTERM);
    for (int i = 0; i < grace_ms / 10; i++) {
        if (waitpid(pid, NULL, WNOHANG) == pid) return;
        pause_ms(10);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

struct testutil_http_server {
    int listen_fd;
    int port;
    pthread_t thread;
    pthread_mutex_t lock;
    char url[64];
    char *response;
    int delay_ms;
    size_t repeat_body_bytes;
    atomic_int requests;
    atomic_bool stopping;
    char last_request[65536];
};

/* Reads one HTTP request (headers and a Content-Length body) into buf; returns the body. */
static const char *read_request(int fd, char *buf, size_t cap)
{
    size_t len = 0;
    const char *body = NULL;
    size_t content_length = 0;
    while (len + 1 < cap) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 5000) <= 0) break;
        ssize_t n = read(fd, buf + len, cap - 1 - len);
        if (n <= 0) break;
        len += (size_t)n;
        buf[len] = '\0';
        if (body == NULL) {
            char *end = strstr(buf, "\r\n\r\n");
            if (end == NULL) continue;
            body = end + 4;
            const char *cl = strcasestr(buf, "Content-Length:");
            content_length = cl ? strtoul(cl + 15, NULL, 10) : 0;
        }
        if ((size_t)(buf + len - body) >= content_length) break;
    }
    buf[len] = '\0';
    return body ? body : buf + len;
}

static void *serve(void *arg)
{
    struct testutil_http_server *s = arg;
    char *buf = malloc(1 << 20);
    while (!atomic_load(&s->stopping)) {
        struct pollfd p = {.fd = s->listen_fd, .events = POLLIN};
        if (poll(&p, 1, 100) <= 0) continue;
        int fd = accept(s->listen_fd, NULL, NULL);
        if (fd < 0) continue;
        const char *body = read_request(fd, buf, 1 << 20);
        pthread_mutex_lock(&s->lock);
        snprintf(s->last_request, sizeof s->last_request, "%s", body);
        char *response = strdup(s->response);
        int delay = s->delay_ms;
        size_t repeat = s->repeat_body_bytes;
        pthread_mutex_unlock(&s->lock);
        atomic_fetch_add(&s->requests, 1);
        for (int waited = 0; waited < delay && !atomic_load(&s->stopping); waited += 20) pause_ms(20);
        /* "@ID@" in the response stands for the JSON-RPC id of the request (a number). */
        char *at = strstr(response, "@ID@");
        if (at != NULL) {
            const char *id = strstr(body, "\"id\":");
            char digits[24] = "0";
            if (id) snprintf(digits, sizeof digits, "%.*s", (int)strspn(id + 5, "0123456789"), id + 5);
            char *rebuilt = malloc(strlen(response) + sizeof digits);
            sprintf(rebuilt, "%.*s%s%s", (int)(at - response), response, digits, at + 4);
            free(response);
            response = rebuilt;
            /* Keep Content-Length right: it was written for "@ID@" (4 characters). */
            char *cl = strcasestr(response, "Content-Length:");
            if (cl) {
                long length = strtol(cl + 15, NULL, 10) - 4 + (long)strlen(digits);
                char *end = strstr(cl, "\r\n");
                char *fixed = malloc(strlen(response) + 32);
                sprintf(fixed, "%.*sContent-Length: %ld%s", (int)(cl - response), response, length, end);
                free(response);
                response = fixed;
            }
        }
        ssize_t unused = write(fd, response, strlen(response));
        if (repeat > 0) {
            char chunk[65536];
            memset(chunk, 'x', sizeof chunk);
            for (size_t sent = 0; sent < repeat;) {
                size_t n = repeat - sent < sizeof chunk ? repeat - sent : sizeof chunk;
                ssize_t w = write(fd, chunk, n);
                if (w <= 0) break;
                sent += (size_t)w;
            }
        }
        (void)unused;
        free(response);
        close(fd);
    }
    free(buf);
    return NULL;
}

struct testutil_http_server *testutil_http_start(const char *response, int delay_ms, size_t repeat_body_bytes)
{
    signal(SIGPIPE, SIG_IGN);
    struct testutil_http_server *s = calloc(1, sizeof *s);
    if (s == NULL) abort();
    s->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(s->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK), .sin_port = 0};
    socklen_t len = sizeof a;
    if (bind(s->listen_fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(s->listen_fd, 16) != 0 ||
        getsockname(s->listen_fd, (struct sockaddr *)&a, &len) != 0)
        abort();
    s->port = ntohs(a.sin_port);
    snprintf(s->url, sizeof s->url, "http://127.0.0.1:%d/", s->port);
    pthread_mutex_init(&s->lock, NULL);
    s->response = strdup(response);
    s->delay_ms = delay_ms;
    s->repeat_body_bytes = repeat_body_bytes;
    if (pthread_create(&s->thread, NULL, serve, s) != 0) abort();
    return s;
}

const char *testutil_http_url(const struct testutil_http_server *s) { return s->url; }

void testutil_http_set(struct testutil_http_server *s, const char *response, int delay_ms, size_t repeat_body_bytes)
{
    pthread_mutex_lock(&s->lock);
    free(s->response);
    s->response = strdup(response);
    s->delay_ms = delay_ms;
    s->repeat_body_bytes = repeat_body_bytes;
    atomic_store(&s->requests, 0);
    pthread_mutex_unlock(&s->lock);
}

int testutil_http_requests(const struct testutil_http_server *s) { return atomic_load(&s->requests); }
const char *testutil_http_last_request(const struct testutil_http_server *s) { return s->last_request; }

void testutil_http_stop(struct testutil_http_server *s)
{
    atomic_store(&s->stopping, true);
    pthread_join(s->thread, NULL);
    close(s->listen_fd);
    pthread_mutex_destroy(&s->lock);
    free(s->response);
    free(s);
}

#include <fcntl.h>
#include <sys/un.h>

static int docker_socket_answers(void)
{
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof a.sun_path, "/var/run/docker.sock");
    int ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    if (ok) {
        const char req[] = "GET /_ping HTTP/1.0\r\n\r\n";
        char buf[256] = {0};
        ok = write(fd, req, sizeof req - 1) == (ssize_t)(sizeof req - 1) && read(fd, buf, sizeof buf - 1) > 0 &&
             strstr(buf, "OK") != NULL;
    }
    close(fd);
    return ok;
}

void testutil_require_dockerd(void)
{
    if (docker_socket_answers()) return;
    fprintf(stderr, "testutil: no dockerd answers; starting one\n");
    pid_t pid = fork();
    if (pid < 0) abort();
    if (pid == 0) {
        setsid();
        int fd = open("/tmp/cohort-test-dockerd.log", O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execlp("dockerd", "dockerd", (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 600; i++) {
        if (docker_socket_answers()) return;
        pause_ms(100);
    }
    fprintf(stderr, "testutil: dockerd did not come up in 60 s; see /tmp/cohort-test-dockerd.log\n");
    abort();
}

const char *testutil_unique(void)
{
    static char buf[32];
    static int n;
    snprintf(buf, sizeof buf, "%d-%d", (int)getpid(), ++n);
    return buf;
}

int testutil_http_get(int port, const char *path, char *body, size_t body_size)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                            .sin_port = htons((uint16_t)port)};
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    char req[512];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", path);
    if (write(fd, req, (size_t)n) != n) {
        close(fd);
        return -1;
    }
    static char buf[1 << 20];
    size_t len = 0;
    ssize_t r;
    while (len < sizeof buf - 1 && (r = read(fd, buf + len, sizeof buf - 1 - len)) > 0) len += (size_t)r;
    close(fd);
    buf[len] = '\0';
    int status = -1;
    if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1) return -1;
    const char *start = strstr(buf, "\r\n\r\n");
    snprintf(body, body_size, "%s", start ? start + 4 : "");
    return status;
}

static int socket_answers(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
    int ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    if (ok) {
        const char req[] = "GET /_ping HTTP/1.0\r\n\r\n";
        char buf[256] = {0};
        ok = write(fd, req, sizeof req - 1) == (ssize_t)(sizeof req - 1) && read(fd, buf, sizeof buf - 1) > 0 &&
             strstr(buf, "OK") != NULL;
    }
    close(fd);
    return ok;
}

int testutil_start_private_dockerd(const char *dir, char *sock, size_t sock_size)
{
    char host[200], data[200], exec_root[200], pidfile[200], log[200];
    snprintf(sock, sock_size, "%s/docker.sock", dir);
    snprintf(host, sizeof host, "unix://%s", sock);
    snprintf(data, sizeof data, "%s/data", dir);
    snprintf(exec_root, sizeof exec_root, "%s/exec", dir);
    snprintf(pidfile, sizeof pidfile, "%s/docker.pid", dir);
    snprintf(log, sizeof log, "%s/dockerd.log", dir);
    pid_t pid = fork();
    if (pid < 0) abort();
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execlp("dockerd", "dockerd", "--host", host, "--data-root", data, "--exec-root", exec_root, "--pidfile", pidfile,
               "--bridge", "none", "--iptables=false", "--ip-masq=false", (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 600; i++) {
        if (socket_answers(sock)) return pid;
        pause_ms(100);
    }
    fprintf(stderr, "testutil: private dockerd in %s did not come up; see %s\n", dir, log);
    testutil_stop_process(pid);
    abort();
}

/* ---- Helpers over cohort's own libraries ---- */

#include "common/hex.h"
#include "docker/docker.h"
#include "manager-client/manager_client.h"

void testutil_build_subnode_image(const char *docker_socket, char *tag, size_t tag_size)
{
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "cd '%s' && %s%s bash scripts/build-subnode-image.sh '%s'", testutil_source_dir(),
             docker_socket ? "DOCKER_HOST=unix://" : "", docker_socket ? docker_socket : "", getenv("COHORT_BUILD_DIR"));
    FILE *p = popen(cmd, "r");
    if (p == NULL || fgets(tag, (int)tag_size, p) == NULL) {
        fprintf(stderr, "testutil: %s printed no image tag\n", cmd);
        abort();
    }
    if (pclose(p) != 0) {
        fprintf(stderr, "testutil: %s failed\n", cmd);
        abort();
    }
    tag[strcspn(tag, "\n")] = '\0';
}

void testutil_fund(const char *rpc_url, const uint8_t address[20])
{
    struct mc_rpc *rpc;
    struct mc_rpc_options o = {.url = rpc_url};
    if (mc_rpc_open(&rpc, &o, NULL) != 0) abort();
    char to[43];
    hex_encode(address, 20, to, sizeof to);
    cJSON *tx = cJSON_CreateObject(), *params = cJSON_CreateArray(), *result = NULL;
    cJSON_AddStringToObject(tx, "from", "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266");
    cJSON_AddStringToObject(tx, "to", to);
    cJSON_AddStringToObject(tx, "value", "0xde0b6b3a7640000"); /* 1 ether */
    cJSON_AddItemToArray(params, tx);
    struct cohort_error err = {0};
    if (mc_rpc_call(rpc, "eth_sendTransaction", params, &result, &err) != 0) {
        fprintf(stderr, "testutil: fund %s: %s\n", to, err.message);
        abort();
    }
    cJSON_Delete(params);
    cJSON_Delete(result);
    /* anvil answers before it has mined the block: wait until the balance shows. */
    u256 balance = u256_zero();
    for (int i = 0; i < 500 && u256_is_zero(balance); i++) {
        if (mc_eth_get_balance(rpc, address, MC_LATEST, &balance, NULL) != 0) abort();
        if (u256_is_zero(balance)) pause_ms(10);
    }
    mc_rpc_close(rpc);
    if (u256_is_zero(balance)) {
        fprintf(stderr, "testutil: %s not funded after 5 s\n", to);
        abort();
    }
}

void testutil_docker_remove_labelled(struct docker_client *docker, const struct docker_label *labels, size_t n)
{
    struct docker_container *list;
    struct docker_name *volumes;
    size_t count;
    if (docker_container_list(docker, labels, n, &list, &count, NULL) == 0) {
        for (size_t i = 0; i < count; i++) docker_container_remove(docker, list[i].id, true, NULL);
        free(list);
    }
    if (docker_volume_list(docker, labels, n, &volumes, &count, NULL) == 0) {
        for (size_t i = 0; i < count; i++) docker_volume_remove(docker, volumes[i].name, true, NULL);
        free(volumes);
    }
}

int testutil_run_suite(Suite *suite, bool nofork)
{
    SRunner *sr = srunner_create(suite);
    if (nofork) srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

#include <unistd.h>

int testutil_start_core(const char *const *args, const char *log_path, int api_port)
{
    char bin[1100];
    snprintf(bin, sizeof bin, "%s/bin/cohort-core", getenv("COHORT_BUILD_DIR"));
    char *argv[42] = {bin};
    int n = 1;
    for (; args[n - 1] != NULL && n < 41; n++) argv[n] = (char *)args[n - 1];
    ck_assert_ptr_null(args[n - 1]); /* at most 40 arguments */
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        if (log_path != NULL && freopen(log_path, "a", stderr) == NULL) _exit(126);
        execv(bin, argv);
        _exit(127);
    }
    ck_assert_int_eq(testutil_wait_port(api_port, 10000), 0);
    return pid;
}

int testutil_run_capture(const char *cmd, char *out, size_t size)
{
    FILE *p = popen(cmd, "r");
    if (p == NULL) return -1;
    size_t n = fread(out, 1, size - 1, p);
    out[n] = '\0';
    int status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}
