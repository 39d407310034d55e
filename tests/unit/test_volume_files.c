/*
 * test_volume_files.c - the files cohort-core (root) writes into and reads from a subnode's
 * volume, which the subnode owns: a link the subnode planted is replaced, never followed,
 * and nothing is read through one (core/provision.h).
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/provision.h"
#include "testutil.h"

static char dir[64], outside[128];

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/cohort-test-volume-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(outside, sizeof outside, "%s.outside", dir); /* a file of the host's, beside the volume */
    FILE *f = fopen(outside, "w");
    ck_assert_ptr_nonnull(f);
    fputs("the host's secret\n", f);
    fclose(f);
}

static void teardown(void)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s'", dir, outside);
    ck_assert_int_eq(system(cmd), 0);
}

static void read_file(const char *path, char *out, size_t cap)
{
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    size_t n = fread(out, 1, cap - 1, f);
    out[n] = '\0';
    fclose(f);
}

START_TEST(a_planted_link_is_replaced_not_followed)
{
    char path[256], text[128];
    snprintf(path, sizeof path, "%s/subnode.cert", dir);
    ck_assert_int_eq(symlink(outside, path), 0);
    struct cohort_error err = {0};
    ck_assert_int_eq(provision_write_volume_file(dir, "subnode.cert", "0xcert\n", 0600, getuid(), &err), 0);
    read_file(outside, text, sizeof text);
    ck_assert_str_eq(text, "the host's secret\n"); /* untouched */
    struct stat st;
    ck_assert_int_eq(lstat(path, &st), 0);
    ck_assert(S_ISREG(st.st_mode));
    ck_assert_int_eq(st.st_mode & 0777, 0600);
    ck_assert_uint_eq(st.st_uid, getuid());
    read_file(path, text, sizeof text);
    ck_assert_str_eq(text, "0xcert\n");
    /* Written again over the file: the new text, and no temporary file left behind. */
    ck_assert_int_eq(provision_write_volume_file(dir, "subnode.cert", "0xcert2\n", 0644, getuid(), &err), 0);
    read_file(path, text, sizeof text);
    ck_assert_str_eq(text, "0xcert2\n");
    ck_assert_int_eq(lstat(path, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0644);
    char cmd[256], out[256];
    snprintf(cmd, sizeof cmd, "ls -A '%s'", dir);
    ck_assert_int_eq(testutil_run_capture(cmd, out, sizeof out), 0);
    ck_assert_str_eq(out, "subnode.cert\n");
    /* A folder where the file goes: refused with the path, nothing written elsewhere. */
    snprintf(path, sizeof path, "%s/chain.json", dir);
    ck_assert_int_eq(mkdir(path, 0700), 0);
    ck_assert_int_ne(provision_write_volume_file(dir, "chain.json", "{}", 0644, getuid(), &err), 0);
    ck_assert_ptr_nonnull(strstr(err.message, "chain.json"));
}
END_TEST

START_TEST(nothing_is_read_through_a_link)
{
    char path[256], text[128];
    struct cohort_error err = {0};
    ck_assert_int_eq(provision_read_volume_file(dir, "subnode.key", text, sizeof text, &err), 0); /* absent */
    snprintf(path, sizeof path, "%s/subnode.key", dir);
    ck_assert_int_eq(symlink(outside, path), 0);
    ck_assert_int_lt(provision_read_volume_file(dir, "subnode.key", text, sizeof text, &err), 0);
    ck_assert_ptr_nonnull(strstr(err.message, "subnode.key"));
    ck_assert_int_eq(unlink(path), 0);
    ck_assert_int_eq(mkfifo(path, 0600), 0); /* not a regular file: refused, and no read that blocks */
    ck_assert_int_lt(provision_read_volume_file(dir, "subnode.key", text, sizeof text, &err), 0);
    ck_assert_int_eq(unlink(path), 0);
    ck_assert_int_eq(provision_write_volume_file(dir, "subnode.key", "0xkey\n", 0600, getuid(), &err), 0);
    ck_assert_int_eq(provision_read_volume_file(dir, "subnode.key", text, sizeof text, &err), 1);
    ck_assert_str_eq(text, "0xkey\n");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("volume_files");
    TCase *tc = tcase_create("volume_files");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, a_planted_link_is_replaced_not_followed);
    tcase_add_test(tc, nothing_is_read_through_a_link);
    suite_add_tcase(s, tc);
    return testutil_run_suite(s, false);
}
