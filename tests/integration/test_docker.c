/*
 * test_docker.c - the Docker Engine API client against the real dockerd: build a FROM
 * scratch image, create a volume and a container with every limit cohort uses, and read
 * them back from inspect and from the container's own cgroup files; logs with stream
 * framing, stats, list by label, events, kill, wait, remove; and the errors. Every object
 * carries the label cohort.test=<unique> and is removed at the end.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "docker/docker.h"
#include "testutil.h"

static struct docker_client *client;
static char tag[96], volume[96], name[96], unique[32];
static struct docker_label test_labels[1];

static void setup(void)
{
    testutil_require_dockerd();
    struct cohort_error err = {0};
    ck_assert_msg(docker_open(&client, NULL, &err) == 0, "%s", err.message);
    snprintf(unique, sizeof unique, "%s", testutil_unique());
    snprintf(tag, sizeof tag, "cohort-test-probe:%s", unique);
    snprintf(volume, sizeof volume, "cohort-test-vol-%s", unique);
    snprintf(name, sizeof name, "cohort-test-ctr-%s", unique);
    test_labels[0] = (struct docker_label){"cohort.test", unique};
}

static void teardown(void)
{
    /* Only our own objects, by name and label. */
    docker_container_remove(client, name, true, NULL);
    docker_volume_remove(client, volume, true, NULL);
    docker_image_remove(client, tag, true, NULL);
    docker_close(client);
}

static void build_probe_image(void)
{
    const char *probe = getenv("COHORT_TEST_PROBE");
    ck_assert_msg(probe != NULL, "COHORT_TEST_PROBE not set (run through ctest)");
    char dir[] = "/tmp/cohort-ctx-XXXXXX", cmd[4096];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(cmd, sizeof cmd, "cp '%s' '%s/probe' && printf 'FROM scratch\\nCOPY probe /probe\\nENTRYPOINT [\"/probe\"]\\n' > '%s/Dockerfile'",
             probe, dir, dir);
    ck_assert_int_eq(system(cmd), 0);
    char id[80] = "";
    struct cohort_error err = {0};
    ck_assert_msg(docker_image_build(client, dir, tag, test_labels, 1, NULL, NULL, id, &err) == 0, "%s", err.message);
    ck_assert_msg(strncmp(id, "sha256:", 7) == 0, "image id '%s'", id);
    struct docker_image image;
    ck_assert_int_eq(docker_image_inspect(client, tag, &image, &err), 0);
    ck_assert_str_eq(image.id, id);
    ck_assert_int_gt(image.size_bytes, 1000);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

static char logged[4096];
static int logged_streams;
static void on_chunk(void *ctx, int stream, const char *data, size_t len)
{
    (void)ctx;
    size_t used = strlen(logged);
    snprintf(logged + used, sizeof logged - used, "%d:%.*s", stream, (int)len, data);
    logged_streams |= 1 << stream;
}

static int saw_die;
static int on_event(void *ctx, const struct docker_event *e)
{
    if (strcmp(e->action, "die") == 0 && strcmp(e->name, (const char *)ctx) == 0) {
        saw_die = e->exit_code == 137 ? 1 : 2;
        return 1;
    }
    return 0;
}

static long read_cgroup(const char *controller, const char *id, const char *file)
{
    char path[512];
    snprintf(path, sizeof path, "/sys/fs/cgroup/%s/docker/%s/%s", controller, id, file);
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "cannot read %s", path);
    char buf[64] = {0};
    ck_assert_ptr_nonnull(fgets(buf, sizeof buf, f));
    fclose(f);
    return strcmp(buf, "max\n") == 0 ? -1 : atol(buf);
}

START_TEST(full_lifecycle)
{
    struct cohort_error err = {0};
    ck_assert_int_eq(docker_ping(client, &err), 0);
    struct docker_version v;
    ck_assert_int_eq(docker_version(client, &v, &err), 0);
    ck_assert_int_gt(v.ncpu, 0);
    ck_assert_uint_gt(v.memory_bytes, 0);
    ck_assert_str_eq(docker_api_version(client), strcmp(v.api_version, "1.41") < 0 ? v.api_version : "1.41");

    build_probe_image();
    ck_assert_msg(docker_volume_create(client, volume, test_labels, 1, &err) == 0, "%s", err.message);
    char mountpoint[4096];
    ck_assert_int_eq(docker_volume_inspect(client, volume, mountpoint, sizeof mountpoint, &err), 0);
    ck_assert_ptr_nonnull(strstr(mountpoint, volume));
    struct docker_name *volumes;
    size_t nvolumes;
    ck_assert_int_eq(docker_volume_list(client, test_labels, 1, &volumes, &nvolumes, &err), 0);
    ck_assert_uint_eq(nvolumes, 1);
    ck_assert_str_eq(volumes[0].name, volume);
    free(volumes);

    struct docker_mount mount = {.volume = volume, .target = "/data"};
    struct docker_container_spec spec = {
        .image = tag, .user = "65534:65534", .labels = test_labels, .nlabels = 1, .mounts = &mount, .nmounts = 1,
        .network_host = true, .read_only_rootfs = true, .cap_drop_all = true, .no_new_privileges = true,
        .memory_bytes = 64 << 20, .cpu_shares = 512, .cpu_quota_us = 50000, .cpu_period_us = 100000,
        .pids_limit = 32, .nofile_limit = 1024, .log_max_size = "1m", .log_max_file = "2", .stop_timeout_s = 5,
    };
    char id[80];
    ck_assert_msg(docker_container_create(client, name, &spec, id, &err) == 0, "%s", err.message);
    /* The same name again: a conflict that names the container. */
    ck_assert_int_eq(docker_container_create(client, name, &spec, NULL, &err), DOCKER_E_CONFLICT);
    ck_assert_ptr_nonnull(strstr(err.message, name));
    ck_assert_ptr_nonnull(strstr(err.message, "HTTP 409"));
    ck_assert_msg(docker_container_start(client, name, &err) == 0, "%s", err.message);

    struct docker_container c;
    ck_assert_int_eq(docker_container_inspect(client, name, &c, &err), 0);
    ck_assert_str_eq(c.id, id);
    ck_assert_str_eq(c.name, name);
    ck_assert(c.running);
    ck_assert_int_gt(c.pid, 0);
    ck_assert_int_eq(c.memory_bytes, 64 << 20);
    ck_assert_int_eq(c.cpu_shares, 512);
    ck_assert_int_eq(c.cpu_quota_us, 50000);
    ck_assert_int_eq(c.pids_limit, 32);
    ck_assert_int_eq(c.nofile_limit, 1024);
    ck_assert(c.network_host && c.read_only_rootfs && c.no_new_privileges && c.cap_drop_all);
    ck_assert_str_eq(c.user, "65534:65534");
    ck_assert_str_eq(c.restart_policy, "no");
    ck_assert_str_eq(docker_container_label(&c, "cohort.test"), unique);

    /* The kernel's view: cgroup v1 files of the container. */
    ck_assert_int_eq(read_cgroup("memory", id, "memory.limit_in_bytes"), 64 << 20);
    ck_assert_int_eq(read_cgroup("cpu", id, "cpu.shares"), 512);
    ck_assert_int_eq(read_cgroup("cpu", id, "cpu.cfs_quota_us"), 50000);
    ck_assert_int_eq(read_cgroup("pids", id, "pids.max"), 32);

    /* Logs: one line on each stream, decoded from Docker's framing. Wait for them. */
    for (int i = 0; i < 100 && logged_streams != 6; i++) {
        logged[0] = '\0';
        logged_streams = 0;
        ck_assert_msg(docker_container_logs(client, name, 0, 1 << 20, on_chunk, NULL, &err) == 0, "%s", err.message);
        if (logged_streams != 6) usleep(50000);
    }
    ck_assert_ptr_nonnull(strstr(logged, "1:hello stdout uid=65534\n"));
    ck_assert_ptr_nonnull(strstr(logged, "2:hello stderr\n"));

    struct docker_stats st;
    ck_assert_msg(docker_container_stats(client, name, &st, &err) == 0, "%s", err.message);
    ck_assert_uint_gt(st.memory_usage_bytes, 0);
    ck_assert_uint_eq(st.memory_limit_bytes, 64 << 20);
    ck_assert_uint_ge(st.pids, 1);

    struct docker_container *list;
    size_t n;
    ck_assert_int_eq(docker_container_list(client, test_labels, 1, &list, &n, &err), 0);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(list[0].id, id);
    ck_assert(list[0].running);
    free(list);
    struct docker_label other = {"cohort.test", "no-such-value"};
    ck_assert_int_eq(docker_container_list(client, &other, 1, &list, &n, &err), 0);
    ck_assert_uint_eq(n, 0);
    free(list);

    /* Kill: the container dies with 137, the events stream says so, wait returns the code. */
    time_t started = time(NULL) - 5;
    ck_assert_int_eq(docker_container_kill(client, name, "KILL", &err), 0);
    int code = -1;
    ck_assert_int_eq(docker_container_wait(client, name, 10000, &code, &err), 0);
    ck_assert_int_eq(code, 137);
    ck_assert_int_eq(docker_events(client, test_labels, 1, (int64_t)started * 1000000000, 10000, on_event, name, &err), 0);
    ck_assert_int_eq(saw_die, 1);
    ck_assert_int_eq(docker_container_stop(client, name, 1, &err), 0); /* already stopped: fine */

    ck_assert_int_eq(docker_container_remove(client, name, false, &err), 0);
    ck_assert_int_eq(docker_container_inspect(client, name, &c, &err), DOCKER_E_NOT_FOUND);
    ck_assert_ptr_nonnull(strstr(err.message, "inspect container"));
    ck_assert_int_eq(docker_volume_remove(client, volume, false, &err), 0);
    ck_assert_int_eq(docker_volume_inspect(client, volume, NULL, 0, &err), DOCKER_E_NOT_FOUND);
    ck_assert_int_eq(docker_image_remove(client, tag, false, &err), 0);
    ck_assert_int_eq(docker_image_inspect(client, tag, &(struct docker_image){0}, &err), DOCKER_E_NOT_FOUND);
}
END_TEST

START_TEST(exit_code_and_bad_input)
{
    struct cohort_error err = {0};
    build_probe_image();
    const char *cmd[] = {"exit", "3", NULL};
    struct docker_container_spec spec = {.image = tag, .cmd = cmd, .labels = test_labels, .nlabels = 1,
                                         .network_host = true};
    ck_assert_int_eq(docker_container_create(client, name, &spec, NULL, &err), 0);
    ck_assert_int_eq(docker_container_start(client, name, &err), 0);
    int code = -1;
    ck_assert_int_eq(docker_container_wait(client, name, 10000, &code, &err), 0);
    ck_assert_int_eq(code, 3);
    struct docker_container c;
    ck_assert_int_eq(docker_container_inspect(client, name, &c, &err), 0);
    ck_assert_str_eq(c.state, "exited");
    ck_assert_int_eq(c.exit_code, 3);

    ck_assert_int_eq(docker_container_start(client, "no-such-container-cohort", &err), DOCKER_E_NOT_FOUND);
    ck_assert_ptr_nonnull(strstr(err.message, "No such container"));
    ck_assert_int_eq(docker_container_inspect(client, "bad name!", &c, &err), DOCKER_E_INVALID);
    spec.image = "cohort-no-such-image:none";
    ck_assert_int_eq(docker_container_create(client, "cohort-test-noimage", &spec, NULL, &err), DOCKER_E_NOT_FOUND);

    struct docker_client *dead;
    ck_assert_int_eq(docker_open(&dead, "/tmp/cohort-no-such-docker.sock", &err), DOCKER_E_UNAVAILABLE);
    ck_assert_ptr_nonnull(strstr(err.message, "is it running?"));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("docker");
    TCase *tc = tcase_create("docker");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, full_lifecycle);
    tcase_add_test(tc, exit_code_and_bad_input);
    suite_add_tcase(s, tc);
    return testutil_run_suite(s, true);
}
