/* test_cluster.c - the cluster file (config/cluster.c): defaults, options and the errors that name what is wrong. */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "config/config.h"
#include "testutil.h"

/* A cluster file of four members with the options given (each followed by a comma). */
static void cluster_text(char *out, size_t cap, const char *options)
{
    snprintf(out, cap,
             "{\"instance\":7,%s\"members\":["
             "{\"address\":\"0x%040d\",\"endpoint\":\"127.0.0.1:19500\"},"
             "{\"address\":\"0x%040d\",\"endpoint\":\"127.0.0.1:19501\"},"
             "{\"address\":\"0x%040d\",\"endpoint\":\"127.0.0.1:19502\"},"
             "{\"address\":\"0x%040d\",\"endpoint\":\"127.0.0.1:19503\"}]}",
             options, 1, 2, 3, 4);
}

static int parse(const char *options, struct cluster *c, struct cohort_error *err)
{
    char text[1024];
    cluster_text(text, sizeof text, options);
    return cluster_parse(text, strlen(text), c, err);
}

START_TEST(defaults_and_options)
{
    struct cluster c;
    struct cohort_error err = {0};
    ck_assert_int_eq(parse("", &c, &err), 0);
    ck_assert_uint_eq(c.instance, 7);
    ck_assert_uint_eq(c.count, 4);
    ck_assert_uint_eq(c.timeout_ms, 300);
    ck_assert_uint_eq(c.snapshot_every, CLUSTER_SNAPSHOT_EVERY_DEFAULT);
    ck_assert_uint_eq(c.fill_wait_ms, CLUSTER_FILL_WAIT_MS_DEFAULT);
    ck_assert_str_eq(c.endpoint[3], "127.0.0.1:19503");
    ck_assert_uint_eq(c.address[1][19], 2);

    ck_assert_int_eq(parse("\"timeout_ms\":1000,\"snapshot_every\":64,\"fill_wait_ms\":0,", &c, &err), 0);
    ck_assert_uint_eq(c.timeout_ms, 1000);
    ck_assert_uint_eq(c.snapshot_every, 64);
    ck_assert_uint_eq(c.fill_wait_ms, 0);
    /* The fill wait may be up to timeout_ms / 10, whichever comes first in the file. */
    ck_assert_int_eq(parse("\"fill_wait_ms\":100,\"timeout_ms\":1000,", &c, &err), 0);
    ck_assert_uint_eq(c.fill_wait_ms, 100);
    /* A short timeout lowers the default fill wait to its cap, but refuses an explicit one over it. */
    ck_assert_int_eq(parse("\"timeout_ms\":20,", &c, &err), 0);
    ck_assert_uint_eq(c.fill_wait_ms, 2);
    ck_assert_int_eq(parse("\"timeout_ms\":20,\"fill_wait_ms\":3,", &c, &err), COMMON_E_INVALID);
    ck_assert_msg(strstr(err.message, "fill_wait_ms must be at most timeout_ms / 10 (2 here)") != NULL, "%s",
                  err.message);
}
END_TEST

START_TEST(errors_name_what_is_wrong)
{
    struct cluster c;
    struct cohort_error err = {0};
    static const struct {
        const char *options, *message;
    } cases[] = {
        {"\"timeout_ms\":10,", "timeout_ms must be at least 20"},
        {"\"snapshot_every\":8,", "snapshot_every must be at least 16"},
        {"\"fill_wait_ms\":-1,", "fill_wait_ms"},
        {"\"fill_wait_ms\":\"4\",", "fill_wait_ms"},
        {"\"fill\":4,", "unknown key 'fill'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        err.message[0] = '\0';
        ck_assert_int_lt(parse(cases[i].options, &c, &err), 0);
        ck_assert_msg(strstr(err.message, cases[i].message) != NULL, "%s: %s", cases[i].options, err.message);
    }
    const char *three = "{\"instance\":1,\"members\":[]}";
    ck_assert_int_lt(cluster_parse(three, strlen(three), &c, &err), 0);
    ck_assert_msg(strstr(err.message, "a cluster has 4 to 32") != NULL, "%s", err.message);
    const char *no_instance = "{\"members\":[]}";
    ck_assert_int_lt(cluster_parse(no_instance, strlen(no_instance), &c, &err), 0);
    char text[1024];
    cluster_text(text, sizeof text, "");
    char *dup = strstr(text, "19501");
    memcpy(dup, "19500", 5); /* two members on one endpoint */
    ck_assert_int_lt(cluster_parse(text, strlen(text), &c, &err), 0);
    ck_assert_msg(strstr(err.message, "the same endpoint") != NULL, "%s", err.message);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cluster");
    TCase *tc = tcase_create("cluster");
    tcase_add_test(tc, defaults_and_options);
    tcase_add_test(tc, errors_name_what_is_wrong);
    suite_add_tcase(s, tc);
    return testutil_run_suite(s, false);
}
