/* api_token.c - the local API's credential file (see api_token.h). */
#include "api_token.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/hex.h"

#define DOMAIN "core"

static int read_token_fd(int fd, const char *path, char token[API_TOKEN_HEX + 1], struct cohort_error *err)
{
    char text[API_TOKEN_HEX + 8];
    ssize_t got = read(fd, text, sizeof text - 1);
    if (got < 0) return cohort_error_errno(err, COMMON_E_IO, DOMAIN, errno, "cannot read the API token %s", path);
    text[got] = '\0';
    size_t len = strcspn(text, "\r\n");
    bool ok = len == API_TOKEN_HEX;
    for (size_t i = 0; ok && i < len; i++)
        ok = (text[i] >= '0' && text[i] <= '9') || (text[i] >= 'a' && text[i] <= 'f');
    if (!ok)
        return cohort_error_set(err, COMMON_E_INVALID, DOMAIN,
                                "the API token %s is not 64 hex digits: remove it and restart cohort-core, which "
                                "makes a new one",
                                path);
    memcpy(token, text, API_TOKEN_HEX);
    token[API_TOKEN_HEX] = '\0';
    return 0;
}

int api_token_read(const char *path, char token[API_TOKEN_HEX + 1], struct cohort_error *err)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return cohort_error_errno(err, COMMON_E_IO, DOMAIN, errno,
                                  "cannot read the API token %s (cohort-core makes it in its state dir; run as the "
                                  "user who runs cohort-core, or give --token-file or COHORT_STATE_DIR)",
                                  path);
    int rc = read_token_fd(fd, path, token, err);
    close(fd);
    return rc;
}

int api_token_load_or_make(const char *state_dir, char token[API_TOKEN_HEX + 1], struct cohort_error *err)
{
    char path[1200];
    if (snprintf(path, sizeof path, "%s/%s", state_dir, API_TOKEN_FILE) >= (int)sizeof path)
        return cohort_error_set(err, COMMON_E_RANGE, DOMAIN, "state dir %s is too long", state_dir);
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0) {
        struct stat st;
        if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (st.st_mode & 077) != 0) {
            close(fd);
            return cohort_error_set(err, COMMON_E_INVALID, DOMAIN,
                                    "the API token %s is not a regular file only its owner may read: chmod 600 it "
                                    "(or remove it: cohort-core makes a new one)",
                                    path);
        }
        int rc = read_token_fd(fd, path, token, err);
        close(fd);
        return rc;
    }
    if (errno != ENOENT) return cohort_error_errno(err, COMMON_E_IO, DOMAIN, errno, "cannot open the API token %s", path);
    uint8_t secret[API_TOKEN_HEX / 2];
    if (getrandom(secret, sizeof secret, 0) != (ssize_t)sizeof secret)
        return cohort_error_errno(err, COMMON_E_IO, DOMAIN, errno, "getrandom for the API token");
    char hex[API_TOKEN_HEX + 3];
    hex_encode(secret, sizeof secret, hex, sizeof hex);
    memcpy(token, hex + 2, API_TOKEN_HEX + 1); /* without its "0x" */
    explicit_bzero(secret, sizeof secret);
    explicit_bzero(hex, sizeof hex);
    /* A temporary name, then a link into place: a reader never sees a half-written token,
       and two starts at once cannot both win. */
    char tmp[1300];
    snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, (long)getpid());
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) return cohort_error_errno(err, COMMON_E_IO, DOMAIN, errno, "cannot make the API token %s", tmp);
    char line[API_TOKEN_HEX + 2];
    memcpy(line, token, API_TOKEN_HEX);
    line[API_TOKEN_HEX] = '\n';
    bool written = write(fd, line, sizeof line - 1) == (ssize_t)(sizeof line - 1) && fsync(fd) == 0;
    int saved = errno;
    close(fd);
    if (!written) {
        unlink(tmp);
        return cohort_error_errno(err, COMMON_E_IO, DOMAIN, saved, "cannot write the API token %s", tmp);
    }
    int linked = link(tmp, path);
    saved = errno;
    unlink(tmp);
    if (linked != 0 && saved == EEXIST) return api_token_read(path, token, err); /* another start made it */
    if (linked != 0) return cohort_error_errno(err, COMMON_E_IO, DOMAIN, saved, "cannot make the API token %s", path);
    return 0;
}

void api_token_path(const char *explicit_path, char *out, size_t cap)
{
    const char *file = getenv("COHORT_API_TOKEN_FILE"), *dir = getenv("COHORT_STATE_DIR");
    if (explicit_path != NULL && explicit_path[0] != '\0') snprintf(out, cap, "%s", explicit_path);
    else if (file != NULL && file[0] != '\0') snprintf(out, cap, "%s", file);
    else snprintf(out, cap, "%s/%s", dir != NULL && dir[0] != '\0' ? dir : "/var/lib/cohort", API_TOKEN_FILE);
}
