/* test_watcher.c - the watcher's decisions on made-up chains, and cursor persistence. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "manager-client/watcher_logic.h"
#include "testutil.h"

static struct mc_block_id id(uint64_t n, uint8_t tag)
{
    struct mc_block_id b = {.number = n};
    memset(b.hash, tag, 32);
    b.hash[0] = (uint8_t)n;
    return b;
}

START_TEST(ranges)
{
    struct mc_watcher_config c = {.start_block = 10, .confirmations = 2, .max_range = 5};
    struct mc_cursor cur = {0};
    uint64_t from, to;
    ck_assert(!mc_watcher_next_range(&c, &cur, 1, &from, &to));  /* head below the confirmations */
    ck_assert(!mc_watcher_next_range(&c, &cur, 11, &from, &to)); /* confirmed 9 < start 10 */
    ck_assert(mc_watcher_next_range(&c, &cur, 12, &from, &to));
    ck_assert_uint_eq(from, 10);
    ck_assert_uint_eq(to, 10);
    ck_assert(mc_watcher_next_range(&c, &cur, 100, &from, &to));
    ck_assert_uint_eq(to, 14); /* capped by max_range */
    struct mc_block_id b = id(14, 1);
    mc_watcher_advance(&cur, &b);
    ck_assert(mc_watcher_next_range(&c, &cur, 18, &from, &to));
    ck_assert_uint_eq(from, 15);
    ck_assert_uint_eq(to, 16);
    ck_assert(!mc_watcher_next_range(&c, &cur, 16, &from, &to));
}
END_TEST

START_TEST(history_is_capped)
{
    struct mc_cursor cur = {0};
    for (uint64_t n = 1; n <= MC_CURSOR_HISTORY + 5; n++) {
        struct mc_block_id b = id(n, 7);
        mc_watcher_advance(&cur, &b);
    }
    ck_assert_uint_eq(cur.history_len, MC_CURSOR_HISTORY);
    ck_assert_uint_eq(cur.history[0].number, 6);
    ck_assert_uint_eq(cur.last.number, MC_CURSOR_HISTORY + 5);
}
END_TEST

START_TEST(batch_consistency)
{
    struct mc_cursor cur = {0};
    struct mc_block_id b9 = id(9, 1);
    mc_watcher_advance(&cur, &b9);
    struct mc_block_id headers[3] = {id(10, 1), id(11, 1), id(12, 1)};
    struct mc_log logs[2] = {{.block_number = 10, .log_index = 0}, {.block_number = 12, .log_index = 3}};
    memcpy(logs[0].block_hash, headers[0].hash, 32);
    memcpy(logs[1].block_hash, headers[2].hash, 32);
    struct mc_block_id parent = b9;
    ck_assert(mc_watcher_batch_consistent(&cur, 10, 12, &parent, headers, logs, 2));

    struct mc_block_id other_parent = id(9, 2); /* block 10's parent is not our block 9 */
    ck_assert(!mc_watcher_batch_consistent(&cur, 10, 12, &other_parent, headers, logs, 2));

    logs[1].block_hash[5] ^= 1; /* a log from a block that is no longer canonical */
    ck_assert(!mc_watcher_batch_consistent(&cur, 10, 12, &parent, headers, logs, 2));
    logs[1].block_hash[5] ^= 1;

    logs[1].removed = true;
    ck_assert(!mc_watcher_batch_consistent(&cur, 10, 12, &parent, headers, logs, 2));
    logs[1].removed = false;

    logs[1].block_number = 13; /* outside the range asked for */
    ck_assert(!mc_watcher_batch_consistent(&cur, 10, 12, &parent, headers, logs, 2));
    logs[1].block_number = 10; /* same block, index not increasing */
    logs[1].log_index = 0;
    memcpy(logs[1].block_hash, headers[0].hash, 32);
    ck_assert(!mc_watcher_batch_consistent(&cur, 10, 12, &parent, headers, logs, 2));

    /* An unstarted cursor has no parent to check. */
    struct mc_cursor fresh = {0};
    ck_assert(mc_watcher_batch_consistent(&fresh, 10, 12, NULL, headers, logs, 1));
}
END_TEST

/* A fake chain: blocks 1..20 with tag 1, then from fork_at on, tag 2. */
static uint64_t fork_at;
static int fake_canonical(void *ctx, const struct mc_block_id *b)
{
    (void)ctx;
    uint8_t tag = b->number >= fork_at ? 2 : 1;
    struct mc_block_id canon = id(b->number, tag);
    return memcmp(canon.hash, b->hash, 32) == 0;
}

START_TEST(fork_points)
{
    struct mc_cursor cur = {0};
    for (uint64_t n = 2; n <= 20; n += 2) {
        struct mc_block_id b = id(n, 1);
        mc_watcher_advance(&cur, &b);
    }
    fork_at = 15; /* blocks 15.. replaced: keep up to 14 */
    struct mc_cursor c = cur;
    ck_assert_int_eq(mc_watcher_fork_point(&c, fake_canonical, NULL), 0);
    ck_assert(c.started);
    ck_assert_uint_eq(c.last.number, 14);
    ck_assert_uint_eq(c.history_len, 7);

    fork_at = 0; /* everything replaced */
    c = cur;
    ck_assert_int_eq(mc_watcher_fork_point(&c, fake_canonical, NULL), 0);
    ck_assert(!c.started);
    ck_assert_uint_eq(c.history_len, 0);
}
END_TEST

START_TEST(cursor_json)
{
    struct mc_cursor cur = {0}, back;
    struct cohort_error err = {0};
    for (uint64_t n = 5; n < 9; n++) {
        struct mc_block_id b = id(n, 3);
        mc_watcher_advance(&cur, &b);
    }
    char *text = mc_cursor_to_json(&cur);
    ck_assert_ptr_nonnull(text);
    ck_assert_int_eq(mc_cursor_from_json(text, strlen(text), &back, &err), 0);
    ck_assert_mem_eq(&back, &cur, sizeof cur);
    free(text);

    const char *bad[] = {
        "", "{}", "{\"started\":true,\"history\":[]}",
        "{\"started\":true,\"last\":[1,\"0x12\"],\"history\":[]}",
        ("{\"started\":false,\"history\":[[2,\"0x0000000000000000000000000000000000000000000000000000000000000000\"],"
         "[1,\"0x0000000000000000000000000000000000000000000000000000000000000000\"]]}"),
        "{\"started\":false,\"history\":[[-1,\"0x0000000000000000000000000000000000000000000000000000000000000000\"]]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(mc_cursor_from_json(bad[i], strlen(bad[i]), &back, &err) == MC_E_INPUT, "case %zu", i);
}
END_TEST

START_TEST(atomic_file)
{
    char dir[] = "/tmp/cohort-atomic-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/state.json", dir);
    struct cohort_error err = {0};
    ck_assert_int_eq(mc_write_file_atomic(path, "one", 3, 0600, &err), 0);
    ck_assert_int_eq(mc_write_file_atomic(path, "second", 6, 0644, &err), 0);
    FILE *f = fopen(path, "r");
    char buf[16] = {0};
    ck_assert_uint_eq(fread(buf, 1, sizeof buf - 1, f), 6);
    fclose(f);
    ck_assert_str_eq(buf, "second");
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0644);
    char tmp[300];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    ck_assert_int_ne(access(tmp, F_OK), 0);
    unlink(path);
    rmdir(dir);
    ck_assert_int_eq(mc_write_file_atomic("/nonexistent-dir/x", "a", 1, 0600, &err), MC_E_IO);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("watcher");
    TCase *tc = tcase_create("watcher");
    tcase_add_test(tc, ranges);
    tcase_add_test(tc, history_is_capped);
    tcase_add_test(tc, batch_consistency);
    tcase_add_test(tc, fork_points);
    tcase_add_test(tc, cursor_json);
    tcase_add_test(tc, atomic_file);
    suite_add_tcase(s, tc);
    return testutil_run_suite(s, false);
}
