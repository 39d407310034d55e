/*
 * testutil.h - small helpers shared by the unit tests: where the fixtures are, reading
 * files and JSON, and a seeded PRNG so random tests are repeatable.
 */
#ifndef COHORT_TESTUTIL_H
#define COHORT_TESTUTIL_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The fixtures folder: $COHORT_FIXTURES (set by ctest) or ../shared/fixtures next to the
 * source tree. Returns a static string.
 */
const char *testutil_fixtures_dir(void);

/* The source tree: $COHORT_SOURCE_DIR (set by ctest) or ".". Returns a static string. */
const char *testutil_source_dir(void);

/*
 * Reads a whole file into a malloc'd buffer with a NUL after the last byte; the caller
 * frees it. Sets *len (if not NULL). Aborts the test with a message when the file
 * cannot be read: a missing fixture is a failure, never a skip.
 */
char *testutil_read_file(const char *path, size_t *len);

/* Reads and parses a JSON file; the caller frees it with cJSON_Delete. Aborts on failure. */
cJSON *testutil_read_json(const char *path);

/*
 * Calls fn(path, arg) for every regular file under dir whose name ends in suffix, in
 * sorted order, recursing into subfolders. Returns the number of files visited.
 */
size_t testutil_walk(const char *dir, const char *suffix, void (*fn)(const char *path, void *arg), void *arg);

/* splitmix64: a tiny seeded generator, so a failing random case can be replayed. */
uint64_t testutil_rand_next(uint64_t *state);
void testutil_rand_bytes(uint64_t *state, uint8_t *out, size_t len);

#endif

/* ---- Real servers for integration tests ---- */

/*
 * Subnodes use the host network and bind their slot's ports, and ctest runs tests side by
 * side: each test that starts subnodes owns a fixed block of ports, below the kernel's
 * ephemeral range (32768-60999, where free ports and outgoing connections live):
 *   11000-11015  test_subnode_image        12000-12255  test_provision
 *   13000-15123  test_node_e2e (2 nodes)   16000-17023  test_node_scale
 *   18000-25167  devnet_check (4 nodes)    28000-29023  test_metrics_node
 *   (27000-27079 test_config_cluster, 27300-27420 bench/config_bench, 30000-31023 bench/provision_bench,
 *   31100-32219 bench/metrics_bench)
 */
#define TESTUTIL_PORTS_SUBNODE_IMAGE 11000
#define TESTUTIL_PORTS_PROVISION 12000
#define TESTUTIL_PORTS_NODE_E2E 13000
#define TESTUTIL_PORTS_NODE_SCALE 16000
#define TESTUTIL_PORTS_METRICS_NODE 28000

/*
 * Starts $COHORT_BUILD_DIR/bin/cohort-core with args (a NULL-terminated list, at most 40),
 * its stderr appended to log_path (NULL: inherited), and waits until its API accepts
 * connections on api_port (the test fails after 10 s). Returns its PID; stop it with
 * testutil_stop_process.
 */
int testutil_start_core(const char *const *args, const char *log_path, int api_port);

/* Runs cmd with the shell, its stdout (at most size - 1 bytes) into out; returns its exit status, or -1. */
int testutil_run_capture(const char *cmd, char *out, size_t size);

/* Returns a TCP port on 127.0.0.1 that was free a moment ago (from the ephemeral range). */
int testutil_free_port(void);

/* Waits until something accepts TCP connections on 127.0.0.1:port; 0, or -1 after timeout_ms. */
int testutil_wait_port(int port, int timeout_ms);

/*
 * Starts a real anvil (from node_modules, installed by scripts/setup.sh) on 127.0.0.1 at a
 * free port, with extra_args (NULL-terminated, may be NULL) appended, and waits until it
 * accepts connections. Fills url (size >= 64) with its http URL. Returns its PID; aborts
 * the test when anvil cannot be started. Stop it with testutil_stop_process.
 */
int testutil_start_anvil(char *url, size_t url_size, const char *const *extra_args);

/*
 * Starts $COHORT_BUILD_DIR/bin/<binary> (cohort-subnode or its Byzantine test build) with
 * --config CONFIG --port PORT --bind 127.0.0.1 and the extra arguments (NULL-terminated,
 * may be NULL), its stderr appended to log, and waits until its /healthz answers 200.
 * Returns its PID; aborts the test with the subnode's /status when it is not healthy
 * within 10 s.
 */
int testutil_start_subnode(const char *binary, const char *config, int port, const char *log,
                           const char *const *extra_args);

/* SIGTERM, then SIGKILL after 3 s, then reaps: for processes a test started itself. */
void testutil_stop_process(int pid);

/* The same with the grace period given (a dockerd stopping its containers needs longer). */
void testutil_stop_process_within(int pid, int grace_ms);

/*
 * A tiny HTTP server on 127.0.0.1 for tests of clients against bad servers. Every request
 * is read whole, then answered with `response` (raw bytes: status line, headers, body, as
 * the test wrote them), after delay_ms, followed by repeat_body_bytes bytes of 'x' if set
 * (for huge bodies), then the connection is closed. "@ID@" in the response is replaced by
 * the request's JSON-RPC id. Counts requests.
 */
struct testutil_http_server;
struct testutil_http_server *testutil_http_start(const char *response, int delay_ms, size_t repeat_body_bytes);
/* The server's URL ("http://127.0.0.1:PORT/"), a static buffer inside the server. */
const char *testutil_http_url(const struct testutil_http_server *s);
/* Replaces the response for later requests (and resets the request count). */
void testutil_http_set(struct testutil_http_server *s, const char *response, int delay_ms, size_t repeat_body_bytes);
int testutil_http_requests(const struct testutil_http_server *s);
/* The body of the last request received (static buffer inside the server). */
const char *testutil_http_last_request(const struct testutil_http_server *s);
void testutil_http_stop(struct testutil_http_server *s);

/*
 * Makes sure a dockerd answers on /var/run/docker.sock: when none does, starts one
 * (`dockerd`, logging to /tmp/cohort-test-dockerd.log) and waits up to 60 s. A dockerd
 * started here is left running for the tests after this one. Aborts when none comes up.
 */
void testutil_require_dockerd(void);

/* A unique suffix for names of test objects (containers, volumes, images): "<pid>-<n>". */
const char *testutil_unique(void);

/*
 * GETs http://127.0.0.1:port/path with a plain socket (HTTP/1.0). Returns the status code
 * and copies the body into body (NUL-terminated, truncated to body_size), or -1 when
 * nothing answers.
 */
int testutil_http_get(int port, const char *path, char *body, size_t body_size);

/*
 * Starts a private dockerd owned by the test: its own socket, data root, exec root and
 * pidfile under dir, no bridge and no iptables (so it touches no network but loopback).
 * Writes the socket path into socket (size >= 108). Returns its PID; stop it with
 * testutil_stop_process. Aborts when it does not answer in 60 s.
 */
int testutil_start_private_dockerd(const char *dir, char *socket, size_t socket_size);

/* ---- Helpers over cohort's own libraries (tests only) ---- */

#include <check.h>

struct docker_client;
struct docker_label;

/*
 * Builds the subnode image with scripts/build-subnode-image.sh from $COHORT_BUILD_DIR, on
 * the dockerd at docker_socket (NULL: the default one), and writes its tag into tag.
 */
void testutil_build_subnode_image(const char *docker_socket, char *tag, size_t tag_size);

/* Sends 1 ether from anvil's first (unlocked) account to address and waits until it shows. */
void testutil_fund(const char *rpc_url, const uint8_t address[20]);

/* Removes every container and volume that carries all the labels given (a test's own). */
void testutil_docker_remove_labelled(struct docker_client *docker, const struct docker_label *labels, size_t n);

/*
 * Runs suite and returns the process exit status. nofork: run the tests in this process, so
 * a failed assertion still reaches the checked teardown (tests that start processes or
 * Docker objects need that to clean up).
 */
int testutil_run_suite(Suite *suite, bool nofork);
