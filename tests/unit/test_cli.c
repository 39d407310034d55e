/* test_cli.c - the cohort command tree: dispatch, help, flags, exit codes, tables and JSON. */
#include <check.h>
#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <unistd.h>

#include "common/keccak.h"
#include "common/secp.h"
#include "core/cli.h"
#include "core/cmd_common.h"
#include "core/commands.h"
#include "manager-client/manager_client.h"
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

/* ---- Exit codes per kind of failure, through the real command tree ---- */

static char tmp[64];

static void write_text(const char *name, const char *text)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", tmp, name);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

/* Runs `cohort ARGS...` (a NULL-terminated list, "%s" in an argument becomes the temp dir). */
static int cohort(struct capture *c, const char *first, ...)
{
    static char storage[16][256];
    const char *argv[18] = {"cohort"};
    int argc = 1;
    va_list ap;
    va_start(ap, first);
    for (const char *a = first; a != NULL && argc < 17; a = va_arg(ap, const char *), argc++) {
        const char *at = strstr(a, "%s");
        if (at) snprintf(storage[argc - 1], sizeof storage[0], "%.*s%s%s", (int)(at - a), a, tmp, at + 2);
        else snprintf(storage[argc - 1], sizeof storage[0], "%s", a);
        argv[argc] = storage[argc - 1];
    }
    va_end(ap);
    return run(&cohort_root_command, c, argc, argv);
}

/*
 * A keystore with the right MAC whose key decrypts to zero, which secp256k1 refuses: its
 * ciphertext is replaced by the AES keystream (the old ciphertext XOR the key), and the MAC
 * recomputed from the PBKDF2-derived key, as the V3 format defines it.
 */
static void write_zero_key_keystore(const char *name)
{
    uint8_t key[32];
    struct cohort_error err = {0};
    ck_assert_int_eq(secp_key_generate(key, &err), 0);
    struct mc_keystore_params p = {.kdf = MC_KDF_PBKDF2, .pbkdf2_iterations = 2};
    char *json = NULL;
    ck_assert_int_eq(mc_keystore_encrypt(key, "pw", 2, &p, &json, &err), 0);
    cJSON *root = cJSON_Parse(json);
    free(json);
    cJSON *crypto = cJSON_GetObjectItem(root, "crypto");
    cJSON *kdfparams = cJSON_GetObjectItem(crypto, "kdfparams");
    const char *salt_hex = cJSON_GetObjectItem(kdfparams, "salt")->valuestring;
    const char *ct_hex = cJSON_GetObjectItem(crypto, "ciphertext")->valuestring;
    uint8_t salt[64], ct[32], derived[32], mac[32];
    size_t salt_len = strlen(salt_hex) / 2;
    for (size_t i = 0; i < salt_len; i++) sscanf(salt_hex + 2 * i, "%2hhx", &salt[i]);
    for (size_t i = 0; i < 32; i++) sscanf(ct_hex + 2 * i, "%2hhx", &ct[i]);
    ck_assert_int_eq(PKCS5_PBKDF2_HMAC("pw", 2, salt, (int)salt_len, cJSON_GetObjectItem(kdfparams, "c")->valueint,
                                       EVP_sha256(), 32, derived),
                     1);
    for (size_t i = 0; i < 32; i++) ct[i] ^= key[i]; /* the keystream: decrypts to 32 zero bytes */
    uint8_t macin[48];
    memcpy(macin, derived + 16, 16);
    memcpy(macin + 16, ct, 32);
    keccak256(macin, sizeof macin, mac);
    char ct_text[65], mac_text[65];
    for (size_t i = 0; i < 32; i++) {
        snprintf(ct_text + 2 * i, 3, "%02x", ct[i]);
        snprintf(mac_text + 2 * i, 3, "%02x", mac[i]);
    }
    cJSON_ReplaceItemInObject(crypto, "ciphertext", cJSON_CreateString(ct_text));
    cJSON_ReplaceItemInObject(crypto, "mac", cJSON_CreateString(mac_text));
    cJSON_DeleteItemFromObject(root, "address");
    char *text = cJSON_Print(root);
    write_text(name, text);
    free(text);
    cJSON_Delete(root);
}

START_TEST(exit_codes_per_kind_of_failure)
{
    snprintf(tmp, sizeof tmp, "/tmp/cohort-cli-exit-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmp));
    write_text("pw", "pw\n");
    write_text("wrong", "nope\n");
    write_text("garbage.json", "{\"version\": 3, \"crypto\": 7}");
    uint8_t key[32], address[20];
    struct cohort_error err = {0};
    ck_assert_int_eq(secp_key_generate(key, &err), 0);
    ck_assert_int_eq(secp_address_from_secret(key, address, &err), 0);
    struct mc_keystore_params p = {.kdf = MC_KDF_PBKDF2, .pbkdf2_iterations = 2};
    char *json = NULL;
    ck_assert_int_eq(mc_keystore_encrypt(key, "pw", 2, &p, &json, &err), 0);
    write_text("good.json", json);
    free(json);
    write_zero_key_keystore("zero.json");
    struct mc_deployment d = {.chain_id = 31337, .block = 1};
    char path[128];
    snprintf(path, sizeof path, "%s/manager.json", tmp);
    ck_assert_int_eq(mc_deployment_save(path, &d, &err), 0);
    unsetenv("COHORT_MANAGER_RPC");
    unsetenv("COHORT_RPC");

    struct capture c;
    /* 2: the command line. */
    ck_assert_int_eq(cohort(&c, "node", "ls", "--bogus", NULL), COHORT_EXIT_USAGE);
    capture_free(&c);
    ck_assert_int_eq(cohort(&c, "node", "ls", "--manager", "%s/manager.json", NULL), COHORT_EXIT_USAGE); /* no --rpc */
    ck_assert_ptr_nonnull(strstr(c.err_text, "COHORT_MANAGER_RPC"));
    capture_free(&c);
    /* 4: a file, key or value given that is unusable. */
    ck_assert_int_eq(cohort(&c, "node", "ls", "--manager", "%s/missing.json", "--rpc", "http://127.0.0.1:1", NULL),
                     COHORT_EXIT_INPUT);
    capture_free(&c);
    ck_assert_int_eq(cohort(&c, "manager", "deploy", "--manager", "%s/new.json", "--rpc", "http://127.0.0.1:1",
                            "--keystore", "%s/good.json", "--password-file", "%s/wrong", NULL),
                     COHORT_EXIT_INPUT);
    ck_assert_ptr_nonnull(strstr(c.err_text, "wrong password"));
    capture_free(&c);
    ck_assert_int_eq(cohort(&c, "manager", "deploy", "--manager", "%s/new.json", "--rpc", "http://127.0.0.1:1",
                            "--keystore", "%s/garbage.json", "--password-file", "%s/pw", NULL),
                     COHORT_EXIT_INPUT);
    capture_free(&c);
    /* A key the curve refuses is the operator's file, not a reverted call (common's and
       manager-client's codes were both -7 once). */
    ck_assert_int_eq(cohort(&c, "--json", "manager", "deploy", "--manager", "%s/new.json", "--rpc",
                            "http://127.0.0.1:1", "--keystore", "%s/zero.json", "--password-file", "%s/pw", NULL),
                     COHORT_EXIT_INPUT);
    ck_assert_ptr_nonnull(strstr(c.err_text, "not a valid secp256k1 key"));
    cJSON *j = cJSON_Parse(c.out_text);
    ck_assert_msg(j != NULL, "stdout: %s", c.out_text);
    ck_assert_int_eq(cJSON_GetObjectItem(j, "code")->valueint, COMMON_E_CRYPTO);
    ck_assert_str_eq(cJSON_GetObjectItem(j, "library")->valuestring, "common");
    ck_assert_str_eq(cJSON_GetObjectItem(j, "kind")->valuestring, common_strerror(COMMON_E_CRYPTO));
    ck_assert_ptr_nonnull(strstr(cJSON_GetObjectItem(j, "error")->valuestring, "secp256k1"));
    cJSON_Delete(j);
    capture_free(&c);
    /* 3: a service that did not answer: the manager's RPC, cohort-core's API. */
    ck_assert_int_eq(cohort(&c, "manager", "deploy", "--manager", "%s/new.json", "--rpc", "http://127.0.0.1:1",
                            "--keystore", "%s/good.json", "--password-file", "%s/pw", NULL),
                     COHORT_EXIT_UNAVAILABLE);
    capture_free(&c);
    ck_assert_int_eq(cohort(&c, "subnodes", "--api", "http://127.0.0.1:1", NULL), COHORT_EXIT_UNAVAILABLE);
    capture_free(&c);
    /* The deprecated variable still works, with a warning. */
    setenv("COHORT_RPC", "http://127.0.0.1:1", 1);
    ck_assert_int_eq(cohort(&c, "node", "ls", "--manager", "%s/manager.json", NULL), COHORT_EXIT_UNAVAILABLE);
    ck_assert_ptr_nonnull(strstr(c.err_text, "COHORT_RPC is deprecated"));
    capture_free(&c);
    unsetenv("COHORT_RPC");

    /* Every library's codes have an exit code of their kind. */
    ck_assert_int_eq(exit_code_of(COMMON_E_CRYPTO), COHORT_EXIT_INPUT);
    ck_assert_int_eq(exit_code_of(COMMON_E_INVALID), COHORT_EXIT_INPUT);
    ck_assert_int_eq(exit_code_of(MC_E_PASSWORD), COHORT_EXIT_INPUT);
    ck_assert_int_eq(exit_code_of(MC_E_UNAVAILABLE), COHORT_EXIT_UNAVAILABLE);
    ck_assert_int_eq(exit_code_of(MC_E_HTTP), COHORT_EXIT_UNAVAILABLE);
    ck_assert_int_eq(exit_code_of(MC_E_INVALID), COHORT_EXIT_USAGE);
    ck_assert_int_eq(exit_code_of(MC_E_REVERTED), COHORT_EXIT_FAILURE);
    ck_assert_int_eq(exit_code_of(MC_E_FUNDS), COHORT_EXIT_FAILURE);
    ck_assert_int_eq(exit_code_of(COMMON_E_NOMEM), COHORT_EXIT_FAILURE);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    ck_assert_int_eq(system(cmd), 0);
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
    tcase_add_test(tc, exit_codes_per_kind_of_failure);
    suite_add_tcase(s, tc);
    return testutil_run_suite(s, false);
}
