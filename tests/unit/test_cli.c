/* test_cli.c - the cohort command tree: dispatch, help, flags, exit codes, tables and JSON. */
#include <check.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cli.h"
#include "core/commands.h"
#include "testutil.h"

struct capture {
    char *out_text, *err_text;
    size_t out_len, err_len;
    FILE *out, *err;
};

static void capture_open(struct capture *c)
{
    memset(c, 0, sizeof *c);
    c->out = open_memstream(&c->out_text, &c->out_len);
    c->err = open_memstream(&c->err_text, &c->err_len);
    ck_assert_ptr_nonnull(c->out);
    ck_assert_ptr_nonnull(c->err);
}

static void capture_close(struct capture *c)
{
    fclose(c->out);
    fclose(c->err);
}

static void capture_free(struct capture *c)
{
    free(c->out_text);
    free(c->err_text);
}

static int run(const struct cli_command *root, struct capture *c, int argc, const char **argv)
{
    capture_open(c);
    int code = cli_run(root, argc, (char **)argv, c->out, c->err);
    capture_close(c);
    return code;
}

/* A test tree: `t greet --name X [--loud] [WHO]` and `t group leaf`. */
static const char *seen_name;
static int seen_loud, seen_json, seen_positional;

static int greet(const struct cli_command *self, int argc, char **argv, struct cli_globals *g)
{
    const char *name = NULL;
    bool loud = false;
    const char *pos[1];
    size_t npos = 0;
    const struct cli_flag flags[] = {
        {.name = "name", .takes_value = true, .value = &name},
        {.name = "loud", .present = &loud},
        {.name = NULL},
    };
    int rc = cli_parse_flags(argc, argv, flags, pos, 1, &npos, g);
    if (rc != 0) return rc;
    if (name == NULL) return cli_fail(g, COHORT_EXIT_USAGE, "greet: --name is required");
    seen_name = name;
    seen_loud = loud;
    seen_json = g->json;
    seen_positional = (int)npos;
    fprintf(g->out, "hello %s\n", name);
    return COHORT_EXIT_OK;
}

static int leaf(const struct cli_command *self, int argc, char **argv, struct cli_globals *g)
{
    return COHORT_EXIT_UNAVAILABLE;
}

static const struct cli_command group_children[] = {
    {.name = "leaf", .summary = "a leaf", .handler = leaf},
    {.name = NULL},
};
static const struct cli_command test_children[] = {
    {.name = "greet", .summary = "say hello", .usage = "Usage: t greet --name NAME [--loud]\n", .handler = greet},
    {.name = "group", .summary = "a group of commands", .children = group_children},
    {.name = NULL},
};
static const struct cli_command test_root = {.name = "t", .summary = "test tool", .children = test_children};

START_TEST(dispatch_and_flags)
{
    struct capture c;
    const char *argv1[] = {"t", "greet", "--name", "ann", "--loud", "--json", "extra"};
    ck_assert_int_eq(run(&test_root, &c, 7, argv1), COHORT_EXIT_OK);
    ck_assert_str_eq(seen_name, "ann");
    ck_assert_int_eq(seen_loud, 1);
    ck_assert_int_eq(seen_json, 1);
    ck_assert_int_eq(seen_positional, 1);
    ck_assert_str_eq(c.out_text, "hello ann\n");
    capture_free(&c);

    const char *argv2[] = {"t", "greet", "--name=bob"};
    ck_assert_int_eq(run(&test_root, &c, 3, argv2), COHORT_EXIT_OK);
    ck_assert_str_eq(seen_name, "bob");
    ck_assert_int_eq(seen_json, 0);
    capture_free(&c);

    const char *argv3[] = {"t", "group", "leaf"};
    ck_assert_int_eq(run(&test_root, &c, 3, argv3), COHORT_EXIT_UNAVAILABLE);
    capture_free(&c);
}
END_TEST

START_TEST(usage_errors)
{
    struct capture c;
    const char *a1[] = {"t", "nope"};
    ck_assert_int_eq(run(&test_root, &c, 2, a1), COHORT_EXIT_USAGE);
    ck_assert_ptr_nonnull(strstr(c.err_text, "unknown command 't nope'"));
    capture_free(&c);

    const char *a2[] = {"t", "greet", "--name"};
    ck_assert_int_eq(run(&test_root, &c, 3, a2), COHORT_EXIT_USAGE);
    ck_assert_ptr_nonnull(strstr(c.err_text, "'--name' needs a value"));
    capture_free(&c);

    const char *a3[] = {"t", "greet", "--colour", "red"};
    ck_assert_int_eq(run(&test_root, &c, 4, a3), COHORT_EXIT_USAGE);
    ck_assert_ptr_nonnull(strstr(c.err_text, "unknown option '--colour'"));
    capture_free(&c);

    const char *a4[] = {"t", "greet", "--name", "x", "a", "b"};
    ck_assert_int_eq(run(&test_root, &c, 6, a4), COHORT_EXIT_USAGE);
    ck_assert_ptr_nonnull(strstr(c.err_text, "unexpected argument 'b'"));
    capture_free(&c);

    const char *a5[] = {"t", "greet", "--loud=yes", "--name", "x"};
    ck_assert_int_eq(run(&test_root, &c, 5, a5), COHORT_EXIT_USAGE);
    capture_free(&c);

    /* A group without a subcommand: its help on stderr, usage exit code. */
    const char *a6[] = {"t", "group"};
    ck_assert_int_eq(run(&test_root, &c, 2, a6), COHORT_EXIT_USAGE);
    ck_assert_ptr_nonnull(strstr(c.err_text, "t group - a group of commands"));
    ck_assert_ptr_nonnull(strstr(c.err_text, "leaf"));
    ck_assert_str_eq(c.out_text, "");
    capture_free(&c);
}
END_TEST

START_TEST(help_at_every_level)
{
    struct capture c;
    const char *a1[] = {"t", "--help"};
    ck_assert_int_eq(run(&test_root, &c, 2, a1), COHORT_EXIT_OK);
    ck_assert_ptr_nonnull(strstr(c.out_text, "greet"));
    ck_assert_ptr_nonnull(strstr(c.out_text, "say hello"));
    capture_free(&c);

    const char *a2[] = {"t", "greet", "-h"};
    ck_assert_int_eq(run(&test_root, &c, 3, a2), COHORT_EXIT_OK);
    ck_assert_ptr_nonnull(strstr(c.out_text, "Usage: t greet --name NAME"));
    capture_free(&c);

    const char *a3[] = {"t", "group", "leaf", "--help"};
    ck_assert_int_eq(run(&test_root, &c, 4, a3), COHORT_EXIT_OK);
    ck_assert_ptr_nonnull(strstr(c.out_text, "t group leaf - a leaf"));
    capture_free(&c);
}
END_TEST

START_TEST(cohort_root_version_and_help)
{
    struct capture c;
    const char *a1[] = {"cohort", "--version"};
    ck_assert_int_eq(run(&cohort_root_command, &c, 2, a1), COHORT_EXIT_OK);
    ck_assert_str_eq(c.out_text, "cohort " COHORT_VERSION "\n");
    capture_free(&c);

    const char *a2[] = {"cohort", "version", "--json"};
    ck_assert_int_eq(run(&cohort_root_command, &c, 3, a2), COHORT_EXIT_OK);
    cJSON *j = cJSON_Parse(c.out_text);
    ck_assert_ptr_nonnull(j);
    ck_assert_str_eq(cJSON_GetObjectItem(j, "version")->valuestring, COHORT_VERSION);
    cJSON_Delete(j);
    capture_free(&c);

    const char *a3[] = {"cohort", "--help"};
    ck_assert_int_eq(run(&cohort_root_command, &c, 2, a3), COHORT_EXIT_OK);
    ck_assert_ptr_nonnull(strstr(c.out_text, "Exit codes:"));
    ck_assert_ptr_nonnull(strstr(c.out_text, "version"));
    capture_free(&c);

    const char *a4[] = {"cohort"};
    ck_assert_int_eq(run(&cohort_root_command, &c, 1, a4), COHORT_EXIT_USAGE);
    capture_free(&c);
}
END_TEST

START_TEST(tables_text_and_json)
{
    const char *names[] = {"name", "slots", "state"};
    struct cli_table *t = cli_table_new(3, names);
    ck_assert_ptr_nonnull(t);
    cli_table_set_numeric(t, 1);
    const char *r1[] = {"alpha", "16", "running"};
    const char *r2[] = {"b", "128", NULL};
    ck_assert_int_eq(cli_table_add_row(t, r1), 0);
    ck_assert_int_eq(cli_table_add_row(t, r2), 0);

    struct capture c;
    capture_open(&c);
    struct cli_globals g = {.json = false, .out = c.out, .err = c.err};
    cli_table_print(t, &g);
    capture_close(&c);
    ck_assert_str_eq(c.out_text, "NAME   SLOTS  STATE\n"
                                 "alpha     16  running\n"
                                 "b        128  -\n");
    capture_free(&c);

    capture_open(&c);
    g = (struct cli_globals){.json = true, .out = c.out, .err = c.err};
    cli_table_print(t, &g);
    capture_close(&c);
    cJSON *j = cJSON_Parse(c.out_text);
    ck_assert_ptr_nonnull(j);
    ck_assert_int_eq(cJSON_GetArraySize(j), 2);
    cJSON *second = cJSON_GetArrayItem(j, 1);
    ck_assert(cJSON_IsNumber(cJSON_GetObjectItem(second, "slots")));
    ck_assert_int_eq(cJSON_GetObjectItem(second, "slots")->valueint, 128);
    ck_assert(cJSON_IsNull(cJSON_GetObjectItem(second, "state")));
    ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(j, 0), "name")->valuestring, "alpha");
    cJSON_Delete(j);
    capture_free(&c);
    cli_table_free(t);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cli");
    TCase *tc = tcase_create("cli");
    tcase_add_test(tc, dispatch_and_flags);
    tcase_add_test(tc, usage_errors);
    tcase_add_test(tc, help_at_every_level);
    tcase_add_test(tc, cohort_root_version_and_help);
    tcase_add_test(tc, tables_text_and_json);
    suite_add_tcase(s, tc);
    return testutil_run_suite(s, false);
}
