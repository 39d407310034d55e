/*
 * test_keystore.c - V3 keystores: files written by ethers and by Node's crypto open here,
 * files we write open in ethers and in cast (both real, from node_modules), wrong
 * passwords and corrupt or hostile files give clear errors.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/hex.h"
#include "manager-client/manager_client.h"
#include "testutil.h"

static char tmpdir[256];

static void make_tmpdir(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/cohort-keystore-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void remove_tmpdir(void)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    ck_assert_int_eq(system(cmd), 0);
}

/* Runs a shell command and returns its stdout (static buffer), failing the test on error. */
static const char *run(const char *cmd)
{
    static char out[8192];
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    int status = pclose(p);
    ck_assert_msg(status == 0, "command failed (%d): %s\n%s", status, cmd, out);
    return out;
}

START_TEST(vectors_from_other_writers)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/vectors/keystore_vectors.json", testutil_source_dir());
    cJSON *root = testutil_read_json(path);
    cJSON *cases = cJSON_GetObjectItem(root, "cases"), *c;
    int n = 0;
    cJSON_ArrayForEach(c, cases)
    {
        const char *password = cJSON_GetObjectItem(c, "password")->valuestring;
        char *json = cJSON_PrintUnformatted(cJSON_GetObjectItem(c, "keystore"));
        uint8_t key[32], address[20], want_key[32], want_address[20];
        struct cohort_error err = {0};
        int rc = mc_keystore_decrypt(json, strlen(json), password, strlen(password), key, address, &err);
        ck_assert_msg(rc == 0, "case %d (%s): %s", n, cJSON_GetObjectItem(c, "writer")->valuestring, err.message);
        ck_assert_int_eq(hex_decode_exact(cJSON_GetObjectItem(c, "privateKey")->valuestring, want_key, 32, &err), 0);
        ck_assert_int_eq(hex_decode_exact(cJSON_GetObjectItem(c, "address")->valuestring, want_address, 20, &err), 0);
        ck_assert_mem_eq(key, want_key, 32);
        ck_assert_mem_eq(address, want_address, 20);
        /* A wrong password is named as such. */
        rc = mc_keystore_decrypt(json, strlen(json), "wrong", 5, key, NULL, &err);
        ck_assert_int_eq(rc, MC_E_PASSWORD);
        ck_assert_ptr_nonnull(strstr(err.message, "wrong password"));
        free(json);
        n++;
    }
    ck_assert_int_ge(n, 7);
    cJSON_Delete(root);
}
END_TEST

START_TEST(ours_open_in_ethers_and_cast)
{
    make_tmpdir();
    static const char *key_hex = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";
    uint8_t key[32];
    struct cohort_error err = {0};
    ck_assert_int_eq(hex_decode_exact(key_hex, key, 32, &err), 0);
    const enum mc_kdf kdfs[2] = {MC_KDF_SCRYPT, MC_KDF_PBKDF2};
    for (int i = 0; i < 2; i++) {
        struct mc_keystore_params params = {.kdf = kdfs[i], .scrypt_log2_n = 12, .pbkdf2_iterations = 4096};
        char *json = NULL;
        ck_assert_msg(mc_keystore_encrypt(key, "s3cret", 6, &params, &json, &err) == 0, "%s", err.message);
        char file[512];
        snprintf(file, sizeof file, "%s/key-%d.json", tmpdir, i);
        ck_assert_msg(mc_keystore_write_file(file, json, &err) == 0, "%s", err.message);
        struct stat st;
        ck_assert_int_eq(stat(file, &st), 0);
        ck_assert_int_eq(st.st_mode & 0777, 0600);
        /* Never overwritten. */
        ck_assert_int_eq(mc_keystore_write_file(file, json, &err), MC_E_IO);
        ck_assert_ptr_nonnull(strstr(err.message, "already exists"));
        free(json);

        char cmd[2048];
        snprintf(cmd, sizeof cmd, "cd '%s' && node tests/vectors/ethers_decrypt.mjs '%s' s3cret", testutil_source_dir(),
                 file);
        const char *out = run(cmd);
        ck_assert_msg(strstr(out, key_hex) != NULL, "ethers read %s", out);
        ck_assert_ptr_nonnull(strstr(out, "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"));
        if (kdfs[i] == MC_KDF_SCRYPT) {
            snprintf(cmd, sizeof cmd,
                     "%s/node_modules/@foundry-rs/cast-linux-amd64/bin/cast wallet decrypt-keystore -k '%s' key-%d.json "
                     "--unsafe-password s3cret 2>&1",
                     testutil_source_dir(), tmpdir, i);
            out = run(cmd);
            ck_assert_msg(strstr(out, key_hex) != NULL, "cast read %s", out);
        }

        uint8_t back[32], address[20];
        ck_assert_msg(mc_keystore_load(file, "s3cret", 6, back, address, &err) == 0, "%s", err.message);
        ck_assert_mem_eq(back, key, 32);
    }
    remove_tmpdir();
}
END_TEST

START_TEST(cast_writes_we_read)
{
    make_tmpdir();
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "%s/node_modules/@foundry-rs/cast-linux-amd64/bin/cast wallet import castkey --private-key "
             "0x7a28b5ba57c53603b0b07b56bba752f7784bf506fa95edc395f5cf6c7514fe9d -k '%s' --unsafe-password pw 2>&1",
             testutil_source_dir(), tmpdir);
    run(cmd);
    char file[512];
    snprintf(file, sizeof file, "%s/castkey", tmpdir);
    uint8_t key[32], address[20];
    struct cohort_error err = {0};
    ck_assert_msg(mc_keystore_load(file, "pw", 2, key, address, &err) == 0, "%s", err.message);
    ck_assert_uint_eq(key[0], 0x7a);
    ck_assert_uint_eq(key[31], 0x9d);
    ck_assert_int_eq(mc_keystore_load(file, "pW", 2, key, address, &err), MC_E_PASSWORD);
    remove_tmpdir();
}
END_TEST

START_TEST(hostile_and_corrupt_files)
{
    struct cohort_error err = {0};
    uint8_t key[32];
    const struct {
        const char *json;
        const char *expect;
    } cases[] = {
        {"not json", "not valid JSON"},
        {"{\"version\":1}", "not a version 3"},
        {"{\"version\":3,\"crypto\":{\"cipher\":\"aes-256-gcm\"}}", "aes-128-ctr"},
        {"{\"version\":3,\"crypto\":{\"cipher\":\"aes-128-ctr\",\"cipherparams\":{\"iv\":\"00\"}}}", "iv"},
        /* scrypt n = 2^30 would need 128 GiB: refused before any work. */
        {"{\"version\":3,\"crypto\":{\"cipher\":\"aes-128-ctr\",\"cipherparams\":{\"iv\":\"00000000000000000000000000000000\"},"
         "\"ciphertext\":\"0000000000000000000000000000000000000000000000000000000000000000\",\"mac\":"
         "\"0000000000000000000000000000000000000000000000000000000000000000\",\"kdf\":\"scrypt\",\"kdfparams\":"
         "{\"dklen\":32,\"n\":1073741824,\"r\":8,\"p\":1,\"salt\":\"00\"}}}",
         "kdfparams.n"},
        {"{\"version\":3,\"crypto\":{\"cipher\":\"aes-128-ctr\",\"cipherparams\":{\"iv\":\"00000000000000000000000000000000\"},"
         "\"ciphertext\":\"0000000000000000000000000000000000000000000000000000000000000000\",\"mac\":"
         "\"0000000000000000000000000000000000000000000000000000000000000000\",\"kdf\":\"argon2\",\"kdfparams\":"
         "{\"dklen\":32}}}",
         "unsupported kdf"},
        {"{\"version\":3,\"crypto\":{\"cipher\":\"aes-128-ctr\",\"cipherparams\":{\"iv\":\"00000000000000000000000000000000\"},"
         "\"ciphertext\":\"0000000000000000000000000000000000000000000000000000000000000000\",\"mac\":"
         "\"0000000000000000000000000000000000000000000000000000000000000000\",\"kdf\":\"pbkdf2\",\"kdfparams\":"
         "{\"dklen\":32,\"c\":1e12,\"prf\":\"hmac-sha256\",\"salt\":\"00\"}}}",
         "kdfparams.c"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = mc_keystore_decrypt(cases[i].json, strlen(cases[i].json), "x", 1, key, NULL, &err);
        ck_assert_int_eq(rc, MC_E_INPUT);
        ck_assert_msg(strstr(err.message, cases[i].expect) != NULL, "case %zu: %s", i, err.message);
    }
    char *big = malloc(MC_KEYSTORE_MAX_BYTES + 10);
    memset(big, ' ', MC_KEYSTORE_MAX_BYTES + 10);
    ck_assert_int_eq(mc_keystore_decrypt(big, MC_KEYSTORE_MAX_BYTES + 10, "x", 1, key, NULL, &err), MC_E_INPUT);
    free(big);
    ck_assert_int_eq(mc_keystore_load("/nonexistent/key.json", "x", 1, key, NULL, &err), MC_E_IO);
    ck_assert_ptr_nonnull(strstr(err.message, "No such file"));
}
END_TEST

START_TEST(password_files)
{
    make_tmpdir();
    char file[512];
    snprintf(file, sizeof file, "%s/pw", tmpdir);
    FILE *f = fopen(file, "w");
    fputs("correct horse\nsecond line ignored\n", f);
    fclose(f);
    char pw[MC_PASSWORD_MAX_BYTES + 1];
    size_t len;
    struct cohort_error err = {0};
    ck_assert_int_eq(mc_password_from_file(file, pw, sizeof pw, &len, &err), 0);
    ck_assert_str_eq(pw, "correct horse");
    ck_assert_uint_eq(len, 13);
    f = fopen(file, "w");
    for (int i = 0; i < 2000; i++) fputc('a', f);
    fclose(f);
    ck_assert_int_eq(mc_password_from_file(file, pw, sizeof pw, &len, &err), MC_E_INPUT);
    remove_tmpdir();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("keystore");
    TCase *tc = tcase_create("keystore");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, vectors_from_other_writers);
    tcase_add_test(tc, ours_open_in_ethers_and_cast);
    tcase_add_test(tc, cast_writes_we_read);
    tcase_add_test(tc, hostile_and_corrupt_files);
    tcase_add_test(tc, password_files);
    suite_add_tcase(s, tc);
    return testutil_run_suite(s, false);
}
