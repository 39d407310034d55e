/*
 * keystore.c - Ethereum V3 keystore files (scrypt or pbkdf2, aes-128-ctr, keccak MAC),
 * interoperable with geth, ethers and cast; password input from a file or a terminal.
 *
 * Secrets (passwords, derived keys, private keys) are wiped from our buffers with
 * explicit_bzero once used, and never appear in error messages or logs.
 */
#include <assert.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "common/hex.h"
#include "common/keccak.h"
#include "common/secp.h"
#include "manager_client.h"

#define DOMAIN "manager-client"

/* Caps on KDF work an outside file may ask of us. scrypt needs 128 * r * n bytes: geth's
   "standard" keystores (n 2^18, r 8) need 256 MiB, ethers' (n 2^17) 128 MiB. */
#define SCRYPT_MAX_MEMORY_BYTES (512ull << 20)
#define SCRYPT_MAX_LOG2_N 20
#define SCRYPT_MAX_R 32
#define SCRYPT_MAX_P 16
#define PBKDF2_MAX_ITERATIONS 10000000u
#define SALT_MAX_BYTES 128

static int random_bytes(uint8_t *out, size_t len, struct cohort_error *err)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = getrandom(out + got, len - got, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return cohort_error_errno(err, MC_E_IO, DOMAIN, errno, "keystore: getrandom");
        got += (size_t)n;
    }
    return 0;
}

struct kdf {
    enum mc_kdf kind;
    uint64_t n; /* scrypt */
    uint32_t r, p;
    uint32_t c; /* pbkdf2 */
    uint8_t salt[SALT_MAX_BYTES];
    size_t salt_len;
};

static int derive(const struct kdf *k, const char *password, size_t password_len, uint8_t derived[32],
                  struct cohort_error *err)
{
    int ok;
    if (k->kind == MC_KDF_SCRYPT) {
        uint64_t maxmem = 128ull * k->r * k->n + 128ull * k->r * k->p + (64u << 20);
        ok = EVP_PBE_scrypt(password, password_len, k->salt, k->salt_len, k->n, k->r, k->p, maxmem, derived, 32);
    } else {
        ok = PKCS5_PBKDF2_HMAC(password, (int)password_len, k->salt, (int)k->salt_len, (int)k->c, EVP_sha256(), 32,
                               derived);
    }
    if (ok != 1) return cohort_error_set(err, MC_E_INPUT, DOMAIN, "keystore: key derivation failed");
    return 0;
}

static int aes_128_ctr(const uint8_t key[16], const uint8_t iv[16], const uint8_t *in, size_t len, uint8_t *out,
                       struct cohort_error *err)
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int outl = 0, finl = 0;
    int ok = ctx != NULL && EVP_EncryptInit_ex(ctx, EVP_aes_128_ctr(), NULL, key, iv) == 1 &&
             EVP_EncryptUpdate(ctx, out, &outl, in, (int)len) == 1 && EVP_EncryptFinal_ex(ctx, out + outl, &finl) == 1;
    EVP_CIPHER_CTX_free(ctx);
    if (!ok || (size_t)(outl + finl) != len) return cohort_error_set(err, MC_E_INPUT, DOMAIN, "keystore: AES-128-CTR failed");
    return 0;
}

static void mac_of(const uint8_t derived[32], const uint8_t *ciphertext, size_t len, uint8_t mac[32])
{
    struct keccak256_ctx k;
    keccak256_init(&k);
    keccak256_update(&k, derived + 16, 16);
    keccak256_update(&k, ciphertext, len);
    keccak256_final(&k, mac);
}

static int address_of(const uint8_t private_key[32], uint8_t address[20], struct cohort_error *err)
{
    uint8_t pub[64], hash[32];
    int rc = secp_pubkey(private_key, pub, err);
    if (rc < 0) return rc;
    keccak256(pub, 64, hash);
    memcpy(address, hash + 12, 20);
    return 0;
}

static cJSON *hex_item(const uint8_t *data, size_t len, bool prefix)
{
    char text[2 * SALT_MAX_BYTES + 3];
    assert(len <= SALT_MAX_BYTES);
    hex_encode(data, len, text, sizeof text);
    return cJSON_CreateString(prefix ? text : text + 2);
}

int mc_keystore_encrypt(const uint8_t private_key[32], const char *password, size_t password_len,
                        const struct mc_keystore_params *params, char **json, struct cohort_error *err)
{
    assert(json != NULL);
    *json = NULL;
    struct mc_keystore_params defaults = {.kdf = MC_KDF_SCRYPT, .scrypt_log2_n = 17, .pbkdf2_iterations = 262144};
    const struct mc_keystore_params *p = params ? params : &defaults;
    struct kdf k = {.kind = p->kdf, .r = 8, .p = 1, .salt_len = 32};
    if (k.kind == MC_KDF_SCRYPT) {
        unsigned log2_n = p->scrypt_log2_n ? p->scrypt_log2_n : 17;
        if (log2_n > SCRYPT_MAX_LOG2_N) return cohort_error_set(err, MC_E_INVALID, DOMAIN, "keystore: scrypt n too large");
        k.n = 1ull << log2_n;
    } else {
        k.c = p->pbkdf2_iterations ? p->pbkdf2_iterations : 262144;
    }

    uint8_t iv[16], uuid[16], derived[32], ciphertext[32], mac[32], address[20];
    int rc;
    if ((rc = random_bytes(k.salt, k.salt_len, err)) < 0 || (rc = random_bytes(iv, sizeof iv, err)) < 0 ||
        (rc = random_bytes(uuid, sizeof uuid, err)) < 0)
        return rc;
    if ((rc = address_of(private_key, address, err)) < 0) return cohort_error_wrap(err, "keystore: private key");
    if ((rc = derive(&k, password, password_len, derived, err)) < 0) goto wipe;
    if ((rc = aes_128_ctr(derived, iv, private_key, 32, ciphertext, err)) < 0) goto wipe;
    mac_of(derived, ciphertext, sizeof ciphertext, mac);

    uuid[6] = (uint8_t)((uuid[6] & 0x0f) | 0x40); /* version 4 */
    uuid[8] = (uint8_t)((uuid[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    char id[37];
    snprintf(id, sizeof id, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", uuid[0], uuid[1],
             uuid[2], uuid[3], uuid[4], uuid[5], uuid[6], uuid[7], uuid[8], uuid[9], uuid[10], uuid[11], uuid[12],
             uuid[13], uuid[14], uuid[15]);

    cJSON *root = cJSON_CreateObject(), *crypto = cJSON_CreateObject(), *cp = cJSON_CreateObject(),
          *kp = cJSON_CreateObject();
    cJSON_AddItemToObject(root, "address", hex_item(address, 20, false));
    cJSON_AddItemToObject(cp, "iv", hex_item(iv, 16, false));
    cJSON_AddStringToObject(crypto, "cipher", "aes-128-ctr");
    cJSON_AddItemToObject(crypto, "cipherparams", cp);
    cJSON_AddItemToObject(crypto, "ciphertext", hex_item(ciphertext, 32, false));
    if (k.kind == MC_KDF_SCRYPT) {
        cJSON_AddStringToObject(crypto, "kdf", "scrypt");
        cJSON_AddNumberToObject(kp, "dklen", 32);
        cJSON_AddNumberToObject(kp, "n", (double)k.n);
        cJSON_AddNumberToObject(kp, "p", k.p);
        cJSON_AddNumberToObject(kp, "r", k.r);
    } else {
        cJSON_AddStringToObject(crypto, "kdf", "pbkdf2");
        cJSON_AddNumberToObject(kp, "c", k.c);
        cJSON_AddNumberToObject(kp, "dklen", 32);
        cJSON_AddStringToObject(kp, "prf", "hmac-sha256");
    }
    cJSON_AddItemToObject(kp, "salt", hex_item(k.salt, k.salt_len, false));
    cJSON_AddItemToObject(crypto, "kdfparams", kp);
    cJSON_AddItemToObject(crypto, "mac", hex_item(mac, 32, false));
    cJSON_AddItemToObject(root, "crypto", crypto);
    cJSON_AddStringToObject(root, "id", id);
    cJSON_AddNumberToObject(root, "version", 3);
    *json = cJSON_Print(root);
    cJSON_Delete(root);
    rc = *json ? 0 : cohort_error_set(err, MC_E_NOMEM, DOMAIN, "keystore: out of memory");
wipe:
    explicit_bzero(derived, sizeof derived);
    return rc;
}

/* Reads a hex field with or without 0x (keystores in the wild write both) of exactly len bytes,
   or of at most len bytes when out_len is not NULL. */
static int hex_field(const cJSON *obj, const char *name, uint8_t *out, size_t len, size_t *out_len,
                     struct cohort_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (!cJSON_IsString(v))
        return cohort_error_set(err, MC_E_INPUT, DOMAIN, "keystore: field '%s' is missing or not a string", name);
    const char *text = v->valuestring;
    if (text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) text += 2;
    size_t digits = strlen(text);
    if (digits % 2 != 0 || (out_len == NULL ? digits != 2 * len : digits > 2 * len || digits == 0))
        return cohort_error_set(err, MC_E_INPUT, DOMAIN, "keystore: field '%s' has %zu hex digits, expected %s%zu",
                                name, digits, out_len ? "at most " : "", 2 * len);
    for (size_t i = 0; i < digits / 2; i++) {
        int hi = hex_digit_value(text[2 * i]), lo = hex_digit_value(text[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return cohort_error_set(err, MC_E_INPUT, DOMAIN, "keystore: field '%s' is not hex", name);
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    if (out_len) *out_len = digits / 2;
    return 0;
}

static int number_field(const cJSON *obj, const char *name, double max, uint64_t *out, struct cohort_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (!cJSON_IsNumber(v) || v->valuedouble < 1 || v->valuedouble > max || v->valuedouble != (double)(uint64_t)v->valuedouble)
        return cohort_error_set(err, MC_E_INPUT, DOMAIN, "keystore: kdfparams.%s is missing, not an integer, or above %.0f",
                                name, max);
    *out = (uint64_t)v->valuedouble;
    return 0;
}

static int parse_kdf(const cJSON *crypto, struct kdf *k, struct cohort_error *err)
{
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(crypto, "kdf");
    const cJSON *kp = cJSON_GetObjectItemCaseSensitive(crypto, "kdfparams");
    if (!cJSON_IsString(name) || !cJSON_IsObject(kp))
        return cohort_error_set(err, MC_E_INPUT, DOMAIN, "keystore: crypto.kdf or crypto.kdfparams missing");
    uint64_t dklen, v;
    int rc;
    if ((rc = number_field(kp, "dklen", 32, &dklen, err)) < 0) return rc;
    if (dklen != 32) return cohort_error_set(err, MC_E_INPUT, DOMAIN, "keystore: dklen must be 32");
    if (strcmp(name->valuestring, "scrypt") == 0) {
        k->kind = MC_KDF_SCRYPT;
        if ((rc = number_field(kp, "n", (double)(1u << SCRYPT_MAX_LOG2_N), &k->n, err)) < 0) return rc;
        if ((k->n & (k->n - 1)) != 0 || k->n < 2)
            return cohort_error_set(err, MC_E_INPUT, DOMAIN, "keystore: scrypt n must be a power of two");
        if ((rc = number_field(kp, "r", SCRYPT_MAX_R, &v, err)) < 0) return rc;
        k->r = (uint32_t)v;
        if ((rc = number_field(kp, "p", SCRYPT_MAX_P, &v, err)) < 0) return rc;
        k->p = (uint32_t)v;
        if (128ull * k->r * k->n > SCRYPT_MAX_MEMORY_BYTES)
            return cohort_error_set(err, MC_E_INPUT, DOMAIN, "keystore: scrypt n=%llu r=%u would need %llu MiB (over %llu)",
                                    (unsigned long long)k->n, k->r, (unsigned long long)(128ull * k->r * k->n >> 20),
                                    SCRYPT_MAX_MEMORY_BYTES >> 20);
    } else if (strcmp(name->valuestring, "pbkdf2") == 0) {
        k->kind = MC_KDF_PBKDF2;
        const cJSON *prf = cJSON_GetObjectItemCaseSensitive(kp, "prf");
        if (!cJSON_IsString(prf) || strcmp(prf->valuestring, "hmac-sha256") != 0)
            return cohort_error_set(err, MC_E_INPUT, DOMAIN, "keystore: only pbkdf2 with hmac-sha256 is supported");
        if ((rc = number_field(kp, "c", PBKDF2_MAX_ITERATIONS, &v, err)) < 0) return rc;
        k->c = (uint32_t)v;
    } else {
        return cohort_error_set(err, MC_E_INPUT, DOMAIN, "keystore: unsupported kdf '%.32s' (scrypt or pbkdf2)",
                                name->valuestring);
    }
    return hex_field(kp, "salt", k->salt, SALT_MAX_BYTES, &k->salt_len, err);
}

int mc_keystore_decrypt(const char *json, size_t json_len, const char *password, size_t password_len,
                        uint8_t private_key[32], uint8_t address[20], struct cohort_error *err)
{
    if (json_len > MC_KEYSTORE_MAX_BYTES)
        return cohort_error_set(err, MC_E_INPUT, DOMAIN, "keystore: %zu bytes is too large for a keystore", json_len);
    cJSON *root = cJSON_ParseWithLength(json, json_len);
    if (root == NULL) return cohort_error_set(err, MC_E_INPUT, DOMAIN, "keystore: not valid JSON");
    int rc;
    uint8_t iv[16], ciphertext[32], mac[32], expected_mac[32], derived[32], key[32], want_address[20], got_address[20];
    bool has_address = false;
    struct kdf k;
    memset(&k, 0, sizeof k);
    const cJSON *version = cJSON_GetObjectItemCaseSensitive(root, "version");
    const cJSON *crypto = cJSON_GetObjectItemCaseSensitive(root, "crypto");
    if (crypto == NULL) crypto = cJSON_GetObjectItemCaseSensitive(root, "Crypto"); /* older geth files */
    const cJSON *cipher = cJSON_GetObjectItemCaseSensitive(crypto, "cipher");
    const cJSON *cipherparams = cJSON_GetObjectItemCaseSensitive(crypto, "cipherparams");
    if (!cJSON_IsNumber(version) || version->valueint != 3) {
        rc = cohort_error_set(err, MC_E_INPUT, DOMAIN, "keystore: not a version 3 keystore");
    } else if (!cJSON_IsObject(crypto) || !cJSON_IsString(cipher) || strcmp(cipher->valuestring, "aes-128-ctr") != 0) {
        rc = cohort_error_set(err, MC_E_INPUT, DOMAIN, "keystore: crypto.cipher must be aes-128-ctr");
    } else if ((rc = hex_field(cipherparams, "iv", iv, 16, NULL, err)) == 0 &&
               (rc = hex_field(crypto, "ciphertext", ciphertext, 32, NULL, err)) == 0 &&
               (rc = hex_field(crypto, "mac", expected_mac, 32, NULL, err)) == 0 && (rc = parse_kdf(crypto, &k, err)) == 0) {
        if (cJSON_GetObjectItemCaseSensitive(root, "address") != NULL) {
            if ((rc = hex_field(root, "address", want_address, 20, NULL, err)) < 0) goto out;
            has_address = true;
        }
        if ((rc = derive(&k, password, password_len, derived, err)) < 0) goto out;
        mac_of(derived, ciphertext, 32, mac);
        if (memcmp(mac, expected_mac, 32) != 0) {
            rc = cohort_error_set(err, MC_E_PASSWORD, DOMAIN, "keystore: wrong password (MAC mismatch)");
            goto out;
        }
        if ((rc = aes_128_ctr(derived, iv, ciphertext, 32, key, err)) < 0) goto out;
        if ((rc = address_of(key, got_address, err)) < 0) {
            cohort_error_wrap(err, "keystore: decrypted key is not a valid secp256k1 key");
            goto out;
        }
        if (has_address && memcmp(want_address, got_address, 20) != 0) {
            rc = cohort_error_set(err, MC_E_INPUT, DOMAIN, "keystore: the key does not belong to the file's address");
            goto out;
        }
        memcpy(private_key, key, 32);
        if (address) memcpy(address, got_address, 20);
        rc = 0;
    }
out:
    explicit_bzero(derived, sizeof derived);
    explicit_bzero(key, sizeof key);
    cJSON_Delete(root);
    return rc;
}

/* Reads at most max bytes of path into a malloc'd, NUL-terminated buffer. */
static int read_capped(const char *path, size_t max, char **out, size_t *len, const char *what, struct cohort_error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return cohort_error_errno(err, MC_E_IO, DOMAIN, errno, "%s: open %s", what, path);
    char *buf = malloc(max + 2);
    size_t got = 0;
    int rc = 0;
    if (buf == NULL) {
        close(fd);
        return cohort_error_set(err, MC_E_NOMEM, DOMAIN, "%s: out of memory", what);
    }
    for (;;) {
        ssize_t n = read(fd, buf + got, max + 1 - got);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            rc = cohort_error_errno(err, MC_E_IO, DOMAIN, errno, "%s: read %s", what, path);
            break;
        }
        if (n == 0) break;
        got += (size_t)n;
        if (got > max) {
            rc = cohort_error_set(err, MC_E_INPUT, DOMAIN, "%s: %s is larger than %zu bytes", what, path, max);
            break;
        }
    }
    close(fd);
    if (rc < 0) {
        explicit_bzero(buf, max + 2);
        free(buf);
        return rc;
    }
    buf[got] = '\0';
    *out = buf;
    *len = got;
    return 0;
}

int mc_keystore_load(const char *path, const char *password, size_t password_len, uint8_t private_key[32],
                     uint8_t address[20], struct cohort_error *err)
{
    char *json;
    size_t len;
    int rc = read_capped(path, MC_KEYSTORE_MAX_BYTES, &json, &len, "keystore", err);
    if (rc < 0) return rc;
    rc = mc_keystore_decrypt(json, len, password, password_len, private_key, address, err);
    free(json);
    if (rc < 0) cohort_error_wrap(err, "%s", path);
    return rc;
}

int mc_keystore_write_file(const char *path, const char *json, struct cohort_error *err)
{
    char tmp[4096], dir[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp-%d", path, (int)getpid()) >= (int)sizeof tmp)
        return cohort_error_set(err, MC_E_INVALID, DOMAIN, "keystore: path too long");
    if (access(path, F_OK) == 0)
        return cohort_error_set(err, MC_E_IO, DOMAIN, "keystore: %s already exists; refusing to overwrite a key", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return cohort_error_errno(err, MC_E_IO, DOMAIN, errno, "keystore: create %s", tmp);
    size_t len = strlen(json), done = 0;
    int rc = 0;
    while (done < len) {
        ssize_t n = write(fd, json + done, len - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            rc = cohort_error_errno(err, MC_E_IO, DOMAIN, errno, "keystore: write %s", tmp);
            break;
        }
        done += (size_t)n;
    }
    if (rc == 0 && fsync(fd) != 0) rc = cohort_error_errno(err, MC_E_IO, DOMAIN, errno, "keystore: fsync %s", tmp);
    close(fd);
    /* link(2) instead of rename(2): it fails if path appeared meanwhile, so no key is replaced. */
    if (rc == 0 && link(tmp, path) != 0) rc = cohort_error_errno(err, MC_E_IO, DOMAIN, errno, "keystore: create %s", path);
    unlink(tmp);
    if (rc < 0) return rc;
    snprintf(dir, sizeof dir, "%s", path);
    int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || fsync(dfd) != 0) rc = cohort_error_errno(err, MC_E_IO, DOMAIN, errno, "keystore: fsync folder of %s", path);
    if (dfd >= 0) close(dfd);
    return rc;
}

int mc_password_from_file(const char *path, char *out, size_t out_size, size_t *len, struct cohort_error *err)
{
    char *buf;
    size_t n;
    int rc = read_capped(path, MC_PASSWORD_MAX_BYTES, &buf, &n, "password file", err);
    if (rc < 0) return rc;
    size_t line = strcspn(buf, "\r\n");
    if (line + 1 > out_size) {
        rc = cohort_error_set(err, MC_E_INPUT, DOMAIN, "password file %s: password too long", path);
    } else {
        memcpy(out, buf, line);
        out[line] = '\0';
        *len = line;
    }
    explicit_bzero(buf, n);
    free(buf);
    return rc;
}

static int prompt_once(FILE *tty, const char *prompt, char *out, size_t out_size, size_t *len, struct cohort_error *err)
{
    struct termios old, quiet;
    int fd = fileno(tty);
    bool restore = tcgetattr(fd, &old) == 0;
    if (restore) {
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(fd, TCSAFLUSH, &quiet);
    }
    fputs(prompt, tty);
    fflush(tty);
    char *line = fgets(out, (int)out_size, tty);
    if (restore) tcsetattr(fd, TCSAFLUSH, &old);
    fputc('\n', tty);
    if (line == NULL) return cohort_error_set(err, MC_E_INPUT, DOMAIN, "no password entered");
    *len = strcspn(out, "\r\n");
    out[*len] = '\0';
    return 0;
}

int mc_password_prompt(const char *prompt, bool confirm, char *out, size_t out_size, size_t *len,
                       struct cohort_error *err)
{
    FILE *tty = fopen("/dev/tty", "r+");
    if (tty == NULL)
        return cohort_error_set(err, MC_E_INVALID, DOMAIN, "no terminal to ask for a password: use --password-file FILE");
    int rc = prompt_once(tty, prompt, out, out_size, len, err);
    if (rc == 0 && confirm) {
        char again[MC_PASSWORD_MAX_BYTES + 2];
        size_t again_len;
        rc = prompt_once(tty, "Repeat the password: ", again, sizeof again, &again_len, err);
        if (rc == 0 && (again_len != *len || memcmp(again, out, *len) != 0))
            rc = cohort_error_set(err, MC_E_INPUT, DOMAIN, "the two passwords differ");
        explicit_bzero(again, sizeof again);
    }
    fclose(tty);
    return rc;
}
