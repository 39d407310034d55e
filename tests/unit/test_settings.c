/*
 * test_settings.c - node settings from the cluster's store (core/settings.h): a node's own
 * key wins over the cluster's, which wins over the local configuration; another node's keys
 * are ignored; bad values and unknown names are refused and keep the setting as it was.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "core/settings.h"
#include "testutil.h"

static void take(struct node_settings *s, const char *key, const char *value, uint64_t revision)
{
    settings_take(s, 7, key, strlen(key), value, strlen(value), revision);
}

static void init(struct node_settings *s, enum log_level level, unsigned poll_ms, unsigned confirmations)
{
    struct setting_values local = {.log_level = level, .poll_ms = poll_ms, .confirmations = confirmations,
                                   .memory_factor = 0.8, .cpu_quota_percent = 0, .metrics_interval_ms = 10000,
                                   .metrics_raw_days = 2, .metrics_minute_days = 30, .metrics_hour_days = 365};
    settings_init(s, &local);
}

START_TEST(node_beats_cluster_beats_local)
{
    struct node_settings s;
    init(&s, LOG_INFO, 1000, 2);
    ck_assert_str_eq(s.shown[SETTING_POLL_MS].value, "1000");
    ck_assert_int_eq(s.shown[SETTING_POLL_MS].source, SETTING_LOCAL);
    take(&s, "cohort/settings/poll_ms", "500", 10);
    take(&s, "cohort/settings/log_level", "debug", 11);
    take(&s, "cohort/nodes/8/settings/poll_ms", "900", 12); /* another node's */
    take(&s, "cohort/nodes/7/settings/poll_ms", "700", 13);
    take(&s, "cohort/nodes/7/settingsX/poll_ms", "800", 14); /* not a setting key */
    ck_assert_uint_eq(s.v.poll_ms, 700);
    ck_assert_int_eq(s.shown[SETTING_POLL_MS].source, SETTING_NODE);
    ck_assert_uint_eq(s.shown[SETTING_POLL_MS].revision, 13);
    ck_assert_int_eq(s.v.log_level, LOG_DEBUG);
    ck_assert_int_eq(s.shown[SETTING_LOG_LEVEL].source, SETTING_CLUSTER);
    ck_assert_uint_eq(s.shown[SETTING_LOG_LEVEL].revision, 11);
    ck_assert_uint_eq(s.v.confirmations, 2);
    ck_assert_int_eq(s.shown[SETTING_CONFIRMATIONS].source, SETTING_LOCAL);
    ck_assert_uint_eq(s.nrefused, 0);
    char *json = settings_json(&s);
    ck_assert_ptr_nonnull(strstr(json, "\"poll_ms\":{\"value\":\"700\",\"source\":\"node\",\"revision\":13}"));
    free(json);
}
END_TEST

START_TEST(bad_values_are_refused_and_change_nothing)
{
    struct node_settings s;
    init(&s, LOG_WARN, 1000, 2);
    take(&s, "cohort/settings/poll_ms", "fast", 5);
    take(&s, "cohort/settings/poll_ms", "50", 6);          /* below 100 */
    take(&s, "cohort/settings/poll_ms", "1000000", 7);     /* above 600000 */
    take(&s, "cohort/settings/confirmations", "-1", 8);
    take(&s, "cohort/settings/log_level", "loud", 9);
    take(&s, "cohort/settings/colour", "blue", 10);
    take(&s, "cohort/settings/poll_ms", "0123456789012345678901234567890123456789", 11); /* too long */
    ck_assert_uint_eq(s.v.poll_ms, 1000);
    ck_assert_uint_eq(s.v.confirmations, 2);
    ck_assert_int_eq(s.v.log_level, LOG_WARN);
    ck_assert_uint_eq(s.nrefused, 7);
    ck_assert_ptr_nonnull(strstr(s.refused[0], "cohort/settings/poll_ms"));
    ck_assert_ptr_nonnull(strstr(s.refused[4], "not a log level"));
    ck_assert_ptr_nonnull(strstr(s.refused[5], "not a setting"));
    for (int i = 0; i < SETTING_COUNT; i++) ck_assert_int_eq(s.shown[i].source, SETTING_LOCAL);
    /* More refusals than room: counted up to the cap, never past it. */
    for (int i = 0; i < 20; i++) take(&s, "cohort/settings/nope", "x", 20);
    ck_assert_uint_eq(s.nrefused, SETTINGS_REFUSED_MAX);
}
END_TEST

START_TEST(limits_and_metrics_settings)
{
    struct node_settings s;
    init(&s, LOG_INFO, 1000, 2);
    ck_assert_str_eq(s.shown[SETTING_MEMORY_FACTOR].value, "0.8");
    take(&s, "cohort/settings/memory_factor", "0.5", 20);
    take(&s, "cohort/settings/cpu_quota_percent", "150", 21);
    take(&s, "cohort/settings/metrics_interval_ms", "2000", 22);
    take(&s, "cohort/settings/metrics_raw_days", "1", 23);
    take(&s, "cohort/nodes/7/settings/memory_factor", "0.25", 24);
    settings_finish(&s);
    ck_assert_double_eq(s.v.memory_factor, 0.25);
    ck_assert_int_eq(s.shown[SETTING_MEMORY_FACTOR].source, SETTING_NODE);
    ck_assert_uint_eq(s.v.cpu_quota_percent, 150);
    ck_assert_uint_eq(s.v.metrics_interval_ms, 2000);
    ck_assert_uint_eq(s.v.metrics_raw_days, 1);
    ck_assert_uint_eq(s.v.metrics_minute_days, 30);
    ck_assert_uint_eq(s.nrefused, 0);
    char *json = settings_json(&s);
    ck_assert_ptr_nonnull(strstr(json, "\"cpu_quota_percent\":{\"value\":\"150\",\"source\":\"cluster\",\"revision\":21}"));
    free(json);

    /* Out of range, or not a number: refused, the value stays. */
    init(&s, LOG_INFO, 1000, 2);
    take(&s, "cohort/settings/memory_factor", "0", 30);
    take(&s, "cohort/settings/memory_factor", "1.5", 31);
    take(&s, "cohort/settings/memory_factor", "half", 32);
    take(&s, "cohort/settings/memory_factor", "nan", 33);
    take(&s, "cohort/settings/cpu_quota_percent", "12801", 34);
    take(&s, "cohort/settings/metrics_interval_ms", "99", 35);
    take(&s, "cohort/settings/metrics_hour_days", "0", 36);
    settings_finish(&s);
    ck_assert_uint_eq(s.nrefused, 7);
    ck_assert_double_eq(s.v.memory_factor, 0.8);
    ck_assert_uint_eq(s.v.cpu_quota_percent, 0);
    ck_assert_uint_eq(s.v.metrics_interval_ms, 10000);
    ck_assert_uint_eq(s.v.metrics_hour_days, 365);

    /* Each day count is fine alone, but raw above minute is not: the three stay the node's own. */
    init(&s, LOG_INFO, 1000, 2);
    take(&s, "cohort/settings/metrics_raw_days", "60", 40);
    take(&s, "cohort/settings/metrics_hour_days", "400", 41);
    ck_assert_uint_eq(s.nrefused, 0);
    settings_finish(&s);
    ck_assert_uint_eq(s.nrefused, 1);
    ck_assert_ptr_nonnull(strstr(s.refused[0], "raw <= minute <= hour"));
    ck_assert_uint_eq(s.v.metrics_raw_days, 2);
    ck_assert_uint_eq(s.v.metrics_hour_days, 365);
    ck_assert_int_eq(s.shown[SETTING_METRICS_RAW_DAYS].source, SETTING_LOCAL);
    ck_assert_int_eq(s.shown[SETTING_METRICS_HOUR_DAYS].source, SETTING_LOCAL);
    ck_assert_str_eq(s.shown[SETTING_METRICS_HOUR_DAYS].value, "365");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("settings");
    TCase *tc = tcase_create("settings");
    tcase_add_test(tc, node_beats_cluster_beats_local);
    tcase_add_test(tc, bad_values_are_refused_and_change_nothing);
    tcase_add_test(tc, limits_and_metrics_settings);
    suite_add_tcase(s, tc);
    return testutil_run_suite(s, false);
}
