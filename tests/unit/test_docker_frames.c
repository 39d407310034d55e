/* test_docker_frames.c - Docker's stream framing decoder and the container JSON parser. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "docker/docker.h"
#include "testutil.h"

static char got[1024];
static int frames;
static void on_chunk(void *ctx, int stream, const char *data, size_t len)
{
    (void)ctx;
    size_t used = strlen(got);
    snprintf(got + used, sizeof got - used, "[%d:%.*s]", stream, (int)len, data);
    frames++;
}

static size_t frame(uint8_t *out, int stream, const char *text)
{
    size_t n = strlen(text);
    out[0] = (uint8_t)stream;
    out[1] = out[2] = out[3] = 0;
    out[4] = (uint8_t)(n >> 24);
    out[5] = (uint8_t)(n >> 16);
    out[6] = (uint8_t)(n >> 8);
    out[7] = (uint8_t)n;
    memcpy(out + 8, text, n);
    return 8 + n;
}

START_TEST(any_split_gives_the_same_frames)
{
    uint8_t stream[256];
    size_t len = frame(stream, 1, "hello\n");
    len += frame(stream + len, 2, "oops\n");
    len += frame(stream + len, 1, "");
    len += frame(stream + len, 1, "bye");
    for (size_t split = 0; split <= len; split++) {
        struct docker_frame_decoder d;
        struct cohort_error err = {0};
        got[0] = '\0';
        frames = 0;
        docker_frame_decoder_init(&d, 1 << 20, on_chunk, NULL);
        ck_assert_int_eq(docker_frame_decoder_feed(&d, stream, split, &err), 0);
        ck_assert_int_eq(docker_frame_decoder_feed(&d, stream + split, len - split, &err), 0);
        docker_frame_decoder_free(&d);
        ck_assert_msg(strncmp(got, "[1:hello\n][2:oops\n]", 19) == 0, "split %zu: %s", split, got);
        ck_assert_ptr_nonnull(strstr(got, "[1:bye]"));
    }
    /* Byte by byte. */
    struct docker_frame_decoder d;
    struct cohort_error err = {0};
    got[0] = '\0';
    docker_frame_decoder_init(&d, 1 << 20, on_chunk, NULL);
    for (size_t i = 0; i < len; i++) ck_assert_int_eq(docker_frame_decoder_feed(&d, stream + i, 1, &err), 0);
    docker_frame_decoder_free(&d);
    ck_assert_ptr_nonnull(strstr(got, "[2:oops\n]"));
}
END_TEST

START_TEST(empty_first_frame)
{
    /* Found by fuzz_docker: an empty frame before any payload buffer exists. */
    uint8_t stream[16];
    size_t len = frame(stream, 2, "");
    struct docker_frame_decoder d;
    struct cohort_error err = {0};
    got[0] = '\0';
    frames = 0;
    docker_frame_decoder_init(&d, 1 << 20, on_chunk, NULL);
    ck_assert_int_eq(docker_frame_decoder_feed(&d, stream, len, &err), 0);
    ck_assert_str_eq(got, "[2:]"); /* delivered with its header, not held back */
    len = frame(stream, 1, "x");
    ck_assert_int_eq(docker_frame_decoder_feed(&d, stream, len, &err), 0);
    docker_frame_decoder_free(&d);
    ck_assert_str_eq(got, "[2:][1:x]");
}
END_TEST

START_TEST(bad_frames)
{
    struct docker_frame_decoder d;
    struct cohort_error err = {0};
    /* A TTY container's raw output is not framed. */
    const uint8_t raw[] = "hello world, no frames";
    docker_frame_decoder_init(&d, 1 << 20, on_chunk, NULL);
    ck_assert_int_eq(docker_frame_decoder_feed(&d, raw, sizeof raw, &err), DOCKER_E_MALFORMED);
    ck_assert_ptr_nonnull(strstr(err.message, "TTY"));
    docker_frame_decoder_free(&d);
    /* A frame claiming 16 MiB: over the per-frame cap, refused before allocating. */
    const uint8_t huge[8] = {1, 0, 0, 0, 1, 0, 0, 0};
    docker_frame_decoder_init(&d, 1 << 30, on_chunk, NULL);
    ck_assert_int_eq(docker_frame_decoder_feed(&d, huge, 8, &err), DOCKER_E_TOO_LARGE);
    docker_frame_decoder_free(&d);
    /* The whole stream over its cap. */
    uint8_t stream[64];
    size_t len = frame(stream, 1, "0123456789");
    docker_frame_decoder_init(&d, 5, on_chunk, NULL);
    ck_assert_int_eq(docker_frame_decoder_feed(&d, stream, len, &err), DOCKER_E_TOO_LARGE);
    docker_frame_decoder_free(&d);
}
END_TEST

START_TEST(container_json)
{
    const char *inspect =
        "{\"Id\":\"abc123\",\"Name\":\"/cohort-chain-7\",\"State\":{\"Status\":\"running\",\"Running\":true,"
        "\"ExitCode\":0,\"Pid\":42,\"OOMKilled\":false},\"Config\":{\"Image\":\"cohort-subnode:1\",\"User\":\"65534\","
        "\"Labels\":{\"cohort.chain\":\"c7\",\"cohort.slot\":\"3\"}},\"HostConfig\":{\"Memory\":1048576,"
        "\"CpuShares\":8,\"PidsLimit\":64,\"NetworkMode\":\"host\",\"ReadonlyRootfs\":true,"
        "\"SecurityOpt\":[\"no-new-privileges\"],\"CapDrop\":[\"ALL\"],\"RestartPolicy\":{\"Name\":\"no\"},"
        "\"Ulimits\":[{\"Name\":\"nofile\",\"Soft\":100,\"Hard\":100}]}}";
    struct docker_container c;
    struct cohort_error err = {0};
    ck_assert_int_eq(docker_parse_container(inspect, strlen(inspect), &c, &err), 0);
    ck_assert_str_eq(c.name, "cohort-chain-7");
    ck_assert(c.running);
    ck_assert_int_eq(c.pid, 42);
    ck_assert_int_eq(c.memory_bytes, 1048576);
    ck_assert_int_eq(c.nofile_limit, 100);
    ck_assert(c.network_host && c.read_only_rootfs && c.no_new_privileges && c.cap_drop_all);
    ck_assert_str_eq(docker_container_label(&c, "cohort.slot"), "3");
    ck_assert_ptr_null(docker_container_label(&c, "cohort.node"));

    const char *listed = "{\"Id\":\"d\",\"Names\":[\"/x\"],\"State\":\"exited\",\"Image\":\"i\",\"Labels\":{}}";
    ck_assert_int_eq(docker_parse_container(listed, strlen(listed), &c, &err), 0);
    ck_assert_str_eq(c.name, "x");
    ck_assert(!c.running);
    ck_assert_str_eq(c.state, "exited");

    const char *bad[] = {"", "[]", "{\"Name\":\"/x\"}", "{\"Id\":5}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_int_eq(docker_parse_container(bad[i], strlen(bad[i]), &c, &err), DOCKER_E_MALFORMED);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("docker-frames");
    TCase *tc = tcase_create("frames");
    tcase_add_test(tc, any_split_gives_the_same_frames);
    tcase_add_test(tc, empty_first_frame);
    tcase_add_test(tc, bad_frames);
    tcase_add_test(tc, container_json);
    suite_add_tcase(s, tc);
    return testutil_run_suite(s, false);
}
