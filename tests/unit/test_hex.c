/* test_hex.c - strict hex parsing and printing, and the error and log values. */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "common/hex.h"
#include "common/log.h"
#include "testutil.h"

START_TEST(data_round_trip)
{
    uint8_t out[8];
    size_t len = 99;
    struct cohort_error err = {0};
    ck_assert_int_eq(hex_decode("0x", out, sizeof out, &len, &err), 0);
    ck_assert_uint_eq(len, 0);
    ck_assert_int_eq(hex_decode("0x00ffA0bC", out, sizeof out, &len, &err), 0);
    ck_assert_uint_eq(len, 4);
    ck_assert_uint_eq(out[0], 0x00);
    ck_assert_uint_eq(out[1], 0xff);
    ck_assert_uint_eq(out[2], 0xa0);
    ck_assert_uint_eq(out[3], 0xbc);
    char text[16];
    ck_assert_uint_eq(hex_encode(out, 4, text, sizeof text), 10);
    ck_assert_str_eq(text, "0x00ffa0bc");
    ck_assert_int_eq(hex_decode_n("0x1234zz", 6, out, sizeof out, &len, &err), 0);
    ck_assert_uint_eq(len, 2);
}
END_TEST

START_TEST(data_errors)
{
    uint8_t out[4];
    size_t len;
    struct cohort_error err = {0};
    ck_assert_int_eq(hex_decode("00ff", out, sizeof out, &len, &err), COMMON_E_INVALID);
    ck_assert_ptr_nonnull(strstr(err.message, "0x prefix"));
    ck_assert_int_eq(hex_decode("0x0", out, sizeof out, &len, &err), COMMON_E_INVALID);
    ck_assert_ptr_nonnull(strstr(err.message, "odd"));
    ck_assert_int_eq(hex_decode("0x0g", out, sizeof out, &len, &err), COMMON_E_INVALID);
    ck_assert_ptr_nonnull(strstr(err.message, "position 3"));
    ck_assert_int_eq(hex_decode("0x 0", out, sizeof out, &len, &err), COMMON_E_INVALID);
    ck_assert_int_eq(hex_decode("0x0011223344", out, sizeof out, &len, &err), COMMON_E_RANGE);
    ck_assert_int_eq(hex_decode_exact("0x001122", out, 4, &err), COMMON_E_RANGE);
    ck_assert_int_eq(hex_decode_exact("0x00112233", out, 4, &err), 0);
    ck_assert_uint_eq(out[3], 0x33);
}
END_TEST

START_TEST(quantities)
{
    uint64_t v = 7;
    struct cohort_error err = {0};
    ck_assert_int_eq(hex_decode_quantity_u64("0x0", &v, &err), 0);
    ck_assert_uint_eq(v, 0);
    ck_assert_int_eq(hex_decode_quantity_u64("0x1a", &v, &err), 0);
    ck_assert_uint_eq(v, 26);
    ck_assert_int_eq(hex_decode_quantity_u64("0xffffffffffffffff", &v, &err), 0);
    ck_assert_uint_eq(v, UINT64_MAX);
    ck_assert_int_eq(hex_decode_quantity_u64("0x", &v, &err), COMMON_E_INVALID);
    ck_assert_int_eq(hex_decode_quantity_u64("0x01", &v, &err), COMMON_E_NONCANONICAL);
    ck_assert_int_eq(hex_decode_quantity_u64("0x10000000000000000", &v, &err), COMMON_E_RANGE);
    ck_assert_int_eq(hex_decode_quantity_u64("0x1q", &v, &err), COMMON_E_INVALID);
    ck_assert_int_eq(hex_decode_quantity_u64("12", &v, &err), COMMON_E_INVALID);
    char text[19];
    hex_encode_quantity_u64(0, text, sizeof text);
    ck_assert_str_eq(text, "0x0");
    hex_encode_quantity_u64(0xabc, text, sizeof text);
    ck_assert_str_eq(text, "0xabc");
    hex_encode_quantity_u64(UINT64_MAX, text, sizeof text);
    ck_assert_str_eq(text, "0xffffffffffffffff");
}
END_TEST

START_TEST(error_values)
{
    struct cohort_error err;
    cohort_error_clear(&err);
    ck_assert_int_eq(cohort_error_wrap(&err, "outer"), 0);
    ck_assert_int_eq(cohort_error_set(&err, COMMON_E_RANGE, "common", "value %d too big", 300), COMMON_E_RANGE);
    ck_assert_int_eq(cohort_error_wrap(&err, "docker: create container %s", "cohort-chain-7"), COMMON_E_RANGE);
    ck_assert_str_eq(err.message, "docker: create container cohort-chain-7: value 300 too big");
    ck_assert_str_eq(err.domain, "common");
    ck_assert_int_eq(cohort_error_errno(&err, COMMON_E_IO, "common", 2, "open %s", "/x"), COMMON_E_IO);
    ck_assert_str_eq(err.message, "open /x: No such file or directory");
    ck_assert_str_eq(common_strerror(COMMON_E_DEPTH), "nesting too deep");
    ck_assert_str_eq(common_strerror(-999), "unknown error");
    /* A message longer than the buffer is truncated, never overflows. */
    char big[2000];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    cohort_error_set(&err, COMMON_E_INVALID, "common", "%s", big);
    ck_assert_uint_eq(strlen(err.message), COHORT_ERROR_MESSAGE_MAX - 1);
    cohort_error_wrap(&err, "ctx");
    ck_assert_uint_eq(strlen(err.message), COHORT_ERROR_MESSAGE_MAX - 1);
    ck_assert_int_eq(cohort_error_set(NULL, COMMON_E_INVALID, "common", "x"), COMMON_E_INVALID);
}
END_TEST

static char *capture_log(void (*emit)(void))
{
    char path[] = "/tmp/cohort-log-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    unlink(path);
    log_set_fd(fd);
    emit();
    log_set_fd(2);
    off_t size = lseek(fd, 0, SEEK_END);
    char *text = calloc(1, (size_t)size + 1);
    ck_assert_int_eq(pread(fd, text, (size_t)size, 0), size);
    close(fd);
    return text;
}

static void emit_some(void)
{
    char quoted[64];
    log_set_level(LOG_INFO);
    log_debug("hidden", NULL);
    log_info("container started", "chain=%s slot=%d", "c7", 3);
    log_error("odd", "path=%s", log_quote("a \"b\"", quoted, sizeof quoted));
}

static void emit_long(void)
{
    char big[6000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    log_warn("long", "v=%s", big);
}

START_TEST(log_lines)
{
    char *text = capture_log(emit_some);
    ck_assert_ptr_null(strstr(text, "hidden"));
    ck_assert_ptr_nonnull(strstr(text, "level=info msg=\"container started\" chain=c7 slot=3\n"));
    ck_assert_ptr_nonnull(strstr(text, "level=error msg=odd path=\"a \\\"b\\\"\"\n"));
    ck_assert_int_eq(text[4], '-');
    ck_assert_ptr_nonnull(strchr(text, 'Z'));
    free(text);
    text = capture_log(emit_long);
    ck_assert_uint_eq(strlen(text), 4095);
    ck_assert_ptr_nonnull(strstr(text, "...\n"));
    free(text);
    enum log_level level;
    ck_assert_int_eq(log_parse_level("warn", &level), 0);
    ck_assert_int_eq(level, LOG_WARN);
    ck_assert_int_eq(log_parse_level("loud", &level), -1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("hex");
    TCase *tc = tcase_create("hex");
    tcase_add_test(tc, data_round_trip);
    tcase_add_test(tc, data_errors);
    tcase_add_test(tc, quantities);
    tcase_add_test(tc, error_values);
    tcase_add_test(tc, log_lines);
    suite_add_tcase(s, tc);
    return testutil_run_suite(s, false);
}
