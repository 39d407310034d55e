/* cmd_key.c - `cohort key new` and `cohort key import`: V3 keystore files. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd_common.h"
#include "commands.h"
#include "common/hex.h"
#include "common/secp.h"

static int write_keystore(struct cli_globals *g, struct manager_flags *f, const uint8_t key[32], const char *out)
{
    char password[MC_PASSWORD_MAX_BYTES + 2];
    size_t len;
    int rc = read_password(g, f, true, password, sizeof password, &len);
    if (rc != 0) return rc;
    if (len == 0) {
        explicit_bzero(password, sizeof password);
        return cli_fail(g, COHORT_EXIT_INPUT, "refusing an empty password");
    }
    char *json = NULL;
    struct cohort_error err = {0};
    rc = mc_keystore_encrypt(key, password, len, NULL, &json, &err);
    explicit_bzero(password, sizeof password);
    if (rc == 0) rc = mc_keystore_write_file(out, json, &err);
    free(json);
    if (rc < 0) return cli_fail_error(g, &err);
    uint8_t address[20];
    char text[43];
    if (secp_address_from_secret(key, address, &err) < 0) return cli_fail_error(g, &err);
    address_to_checksum(address, text);
    const char *keys[] = {"address", "keystore"};
    const char *values[] = {text, out};
    print_fields(g, keys, values, 2);
    return COHORT_EXIT_OK;
}

int cmd_key_new(const struct cli_command *self, int argc, char **argv, struct cli_globals *g)
{
    (void)self;
    struct manager_flags f = {0};
    const char *out = NULL;
    const struct cli_flag flags[] = {{.name = "out", .takes_value = true, .value = &out},
                                     {.name = "password-file", .takes_value = true, .value = &f.password_file},
                                     {.name = NULL}};
    int rc = cli_parse_flags(argc, argv, flags, NULL, 0, NULL, g);
    if (rc != 0) return rc;
    if (out == NULL) return cli_fail(g, COHORT_EXIT_USAGE, "key new: give the file to write with --out FILE");
    uint8_t key[32];
    struct cohort_error err = {0};
    if (secp_key_generate(key, &err) < 0) return cli_fail(g, COHORT_EXIT_FAILURE, "%s", err.message);
    rc = write_keystore(g, &f, key, out);
    explicit_bzero(key, sizeof key);
    return rc;
}

int cmd_key_import(const struct cli_command *self, int argc, char **argv, struct cli_globals *g)
{
    (void)self;
    struct manager_flags f = {0};
    const char *out = NULL, *key_file = NULL;
    const struct cli_flag flags[] = {{.name = "out", .takes_value = true, .value = &out},
                                     {.name = "private-key-file", .takes_value = true, .value = &key_file},
                                     {.name = "password-file", .takes_value = true, .value = &f.password_file},
                                     {.name = NULL}};
    int rc = cli_parse_flags(argc, argv, flags, NULL, 0, NULL, g);
    if (rc != 0) return rc;
    if (out == NULL || key_file == NULL)
        return cli_fail(g, COHORT_EXIT_USAGE, "key import: give --private-key-file FILE and --out FILE");
    /* The key file holds the hex key on its first line (0x optional): never on the command line. */
    char text[MC_PASSWORD_MAX_BYTES + 2], prefixed[MC_PASSWORD_MAX_BYTES + 4];
    size_t len;
    struct cohort_error err = {0};
    if ((rc = mc_password_from_file(key_file, text, sizeof text, &len, &err)) < 0) return cli_fail_error(g, &err);
    snprintf(prefixed, sizeof prefixed, "%s%s", strncmp(text, "0x", 2) == 0 ? "" : "0x", text);
    explicit_bzero(text, sizeof text);
    uint8_t key[32];
    rc = hex_decode_exact(prefixed, key, 32, &err) < 0 || secp_private_key_check(key, &err) < 0;
    explicit_bzero(prefixed, sizeof prefixed);
    if (rc) return cli_fail(g, COHORT_EXIT_INPUT, "%s does not hold a private key (64 hex digits)", key_file);
    rc = write_keystore(g, &f, key, out);
    explicit_bzero(key, sizeof key);
    return rc;
}
