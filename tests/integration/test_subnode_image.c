/*
 * test_subnode_image.c - the subnode image built FROM scratch by
 * scripts/build-subnode-image.sh, run as cohort-core runs it (host network, read-only
 * root, no capabilities, nobody, limits, the chain's volume at /data): its status endpoint
 * answers with its chain, a config it cannot verify is refused with the reason, and it
 * stops at once on SIGTERM. Objects carry the label cohort.test and are removed after.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/chain_config.h"
#include "docker/docker.h"
#include "testutil.h"

static struct docker_client *client;
static char tag[128], volume[96], name[96], unique[32];
static struct docker_label labels[1];

static void setup(void)
{
    testutil_require_dockerd();
    struct cohort_error err = {0};
    ck_assert_msg(docker_open(&client, NULL, &err) == 0, "%s", err.message);
    testutil_build_subnode_image(NULL, tag, sizeof tag);
    ck_assert_msg(strncmp(tag, "cohort-subnode:", 15) == 0, "tag %s", tag);
    snprintf(unique, sizeof unique, "%s", testutil_unique());
    snprintf(volume, sizeof volume, "cohort-test-data-%s", unique);
    snprintf(name, sizeof name, "cohort-test-subnode-%s", unique);
    labels[0] = (struct docker_label){"cohort.test", unique};
}

static void teardown(void)
{
    docker_container_remove(client, name, true, NULL);
    docker_volume_remove(client, volume, true, NULL);
    docker_close(client);
}

static struct chain_config config(int port_base)
{
    struct chain_config c;
    memset(&c, 0, sizeof c);
    c.version = 1;
    snprintf(c.name, sizeof c.name, "test-%d", port_base);
    c.chain_id = 3;
    c.evm_chain_id = 777;
    c.slots = 1;
    c.node_id = 5;
    c.nmembers = 1;
    c.members[0].node_id = 5;
    snprintf(c.members[0].ip, sizeof c.members[0].ip, "127.0.0.1");
    c.members[0].base_port = (uint16_t)port_base;
    c.members[0].first_slot = 2;
    c.genesis_gas_limit = 30000000;
    return c;
}

/* Writes text as chain.json into the volume and gives the volume to the subnode's user, as
   cohort-core does (root writes the config; the subnode, nobody, keeps its chain there). */
static void write_config(const char *text)
{
    char mountpoint[4096], path[4200];
    struct cohort_error err = {0};
    ck_assert_int_eq(docker_volume_inspect(client, volume, mountpoint, sizeof mountpoint, &err), 0);
    snprintf(path, sizeof path, "%s/chain.json", mountpoint);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    ck_assert_int_eq(chown(mountpoint, 65534, 65534), 0);
}

/* What the image may weigh: the Release subnode and its libraries; more under ASan. */
#if defined(__SANITIZE_ADDRESS__)
#define IMAGE_MAX_BYTES (64 << 20)
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define IMAGE_MAX_BYTES (64 << 20)
#endif
#endif
#ifndef IMAGE_MAX_BYTES
#define IMAGE_MAX_BYTES (20 << 20)
#endif

static void write_flag(const char *file)
{
    char mountpoint[4096], path[4200];
    struct cohort_error err = {0};
    ck_assert_int_eq(docker_volume_inspect(client, volume, mountpoint, sizeof mountpoint, &err), 0);
    snprintf(path, sizeof path, "%s/%s", mountpoint, file);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fclose(f);
}

static void run(int port)
{
    char port_text[16];
    snprintf(port_text, sizeof port_text, "%d", port);
    const char *cmd[] = {"--config", "/data/chain.json", "--port", port_text, "--bind", "127.0.0.1", NULL};
    struct docker_mount mount = {.volume = volume, .target = "/data"};
    struct docker_container_spec spec = {
        .image = tag, .cmd = cmd, .user = "65534:65534", .labels = labels, .nlabels = 1, .mounts = &mount,
        .nmounts = 1, .network_host = true, .read_only_rootfs = true, .cap_drop_all = true,
        .no_new_privileges = true, .memory_bytes = 64 << 20, .cpu_shares = 8, .pids_limit = 64, .nofile_limit = 1024,
        .log_max_size = "1m", .log_max_file = "2"};
    struct cohort_error err = {0};
    ck_assert_msg(docker_container_create(client, name, &spec, NULL, &err) == 0, "%s", err.message);
    ck_assert_msg(docker_container_start(client, name, &err) == 0, "%s", err.message);
}

/* The first answer of path once the chain is no longer starting (health "starting": the
   chain's RPC server answers a moment before the subnode knows the chain runs). */
static int wait_status(int port, const char *path, char *body, size_t size)
{
    int status = -1;
    for (int i = 0; i < 200 && (status < 0 || strstr(body, "\"health\":\"starting\"") != NULL); i++) {
        status = testutil_http_get(port, path, body, size);
        if (status < 0 || strstr(body, "\"health\":\"starting\"") != NULL) usleep(20000);
    }
    return status;
}

START_TEST(serves_status_and_stops_on_sigterm)
{
    struct cohort_error err = {0};
    struct docker_image image;
    ck_assert_int_eq(docker_image_inspect(client, tag, &image, &err), 0);
    /* The binary and its libraries, nothing else (the sanitizers' runtime makes it bigger). */
    ck_assert_int_lt(image.size_bytes, IMAGE_MAX_BYTES);
    ck_assert_int_eq(docker_volume_create(client, volume, labels, 1, &err), 0);
    int base = TESTUTIL_PORTS_SUBNODE_IMAGE;
    struct chain_config c = config(base - 16);
    char *json;
    ck_assert_int_eq(chain_config_encode(&c, &json, &err), 0);
    write_config(json);
    char hash[67];
    chain_config_hash(json, strlen(json), hash);
    free(json);
    run(base);

    char body[8192];
    ck_assert_int_eq(wait_status(base, "/status", body, sizeof body), 200);
    ck_assert_msg(strstr(body, "\"health\":\"ok\"") != NULL, "%s", body);
    ck_assert_ptr_nonnull(strstr(body, "\"evm_chain_id\":777"));
    ck_assert_ptr_nonnull(strstr(body, hash));
    /* The chain runs in the container: its genesis is block 0 and it takes transactions. */
    ck_assert_msg(strstr(body, "\"accepting_transactions\":true") != NULL, "%s", body);
    ck_assert_msg(strstr(body, "\"over_budget\":false") != NULL, "%s", body);
    ck_assert_msg(strstr(body, "\"height\":0") != NULL, "%s", body);
    /* cohort-core's over-budget flag in the volume: the subnode sees it. */
    write_flag("over-budget");
    ck_assert_int_eq(testutil_http_get(base, "/status", body, sizeof body), 200);
    ck_assert_msg(strstr(body, "\"accepting_transactions\":false") != NULL, "%s", body);
    ck_assert_msg(strstr(body, "\"over_budget\":true") != NULL, "%s", body);
    ck_assert_int_eq(testutil_http_get(base, "/healthz", body, sizeof body), 200);
    ck_assert_int_eq(testutil_http_get(base, "/nope", body, sizeof body), 404);

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ck_assert_int_eq(docker_container_stop(client, name, 10, &err), 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    struct docker_container info;
    ck_assert_int_eq(docker_container_inspect(client, name, &info, &err), 0);
    ck_assert_int_eq(info.exit_code, 0); /* a clean exit, not a SIGKILL after the grace period */
    ck_assert_int_lt(t1.tv_sec - t0.tv_sec, 3);
}
END_TEST

START_TEST(refuses_a_bad_config)
{
    struct cohort_error err = {0};
    ck_assert_int_eq(docker_volume_create(client, volume, labels, 1, &err), 0);
    write_config("{\"version\": 2}");
    int base = TESTUTIL_PORTS_SUBNODE_IMAGE + 8;
    run(base);
    char body[8192];
    ck_assert_int_eq(wait_status(base, "/status", body, sizeof body), 200);
    ck_assert_msg(strstr(body, "\"health\":\"refused\"") != NULL, "%s", body);
    ck_assert_msg(strstr(body, "version 2 is not 1") != NULL, "%s", body);
    ck_assert_int_eq(testutil_http_get(base, "/healthz", body, sizeof body), 503);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("subnode-image");
    TCase *tc = tcase_create("image");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, serves_status_and_stops_on_sigterm);
    tcase_add_test(tc, refuses_a_bad_config);
    suite_add_tcase(s, tc);
    return testutil_run_suite(s, true);
}
