/*
 * tar.c - a build context for POST /build: the regular files and folders under a folder,
 * as an uncompressed ustar archive in memory.
 *
 * ustar header (512 bytes, numbers in octal ASCII, NUL-terminated):
 *   0 name[100] 100 mode[8] 108 uid[8] 116 gid[8] 124 size[12] 136 mtime[12]
 *   148 chksum[8] 156 typeflag 157 linkname[100] 257 "ustar\0" 263 "00"
 *   265 uname[32] 297 gname[32] 329 devmajor[8] 337 devminor[8] 345 prefix[155]
 * Each file's data follows in 512-byte blocks; two zero blocks end the archive.
 * Owners are root and times are 0, so the same folder always gives the same archive
 * (and the same image layers).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

#define BLOCK 512
#define MAX_ENTRIES 4096
#define NAME_MAX_CHARS 99

struct archive {
    char *data;
    size_t len, cap, max;
};

static int reserve(struct archive *a, size_t more, struct cohort_error *err)
{
    if (more > a->max - a->len) return cohort_error_set(err, DOCKER_E_TOO_LARGE, DOMAIN, "build context over %zu bytes", a->max);
    if (a->len + more <= a->cap) return 0;
    size_t cap = a->cap ? a->cap : 1 << 16;
    while (cap < a->len + more) cap *= 2;
    char *grown = realloc(a->data, cap);
    if (grown == NULL) return cohort_error_set(err, DOCKER_E_NOMEM, DOMAIN, "build context: out of memory");
    a->data = grown;
    a->cap = cap;
    return 0;
}

static int add_header(struct archive *a, const char *name, char type, unsigned mode, size_t size, struct cohort_error *err)
{
    if (strlen(name) > NAME_MAX_CHARS)
        return cohort_error_set(err, DOCKER_E_INVALID, DOMAIN, "build context: path %s longer than %d", name, NAME_MAX_CHARS);
    int rc = reserve(a, BLOCK, err);
    if (rc < 0) return rc;
    char *h = a->data + a->len;
    memset(h, 0, BLOCK);
    memcpy(h, name, strlen(name));
    snprintf(h + 100, 8, "%07o", mode & 07777);
    snprintf(h + 108, 8, "%07o", 0);
    snprintf(h + 116, 8, "%07o", 0);
    snprintf(h + 124, 12, "%011zo", size);
    snprintf(h + 136, 12, "%011o", 0);
    h[156] = type;
    memcpy(h + 257, "ustar", 6);
    memcpy(h + 263, "00", 2);
    memcpy(h + 148, "        ", 8);
    unsigned sum = 0;
    for (int i = 0; i < BLOCK; i++) sum += (unsigned char)h[i];
    snprintf(h + 148, 8, "%06o", sum);
    h[155] = ' ';
    a->len += BLOCK;
    return 0;
}

static int add_file(struct archive *a, const char *path, const char *name, const struct stat *st, struct cohort_error *err)
{
    size_t size = (size_t)st->st_size;
    int rc = add_header(a, name, '0', (unsigned)st->st_mode, size, err);
    if (rc < 0) return rc;
    size_t padded = (size + BLOCK - 1) / BLOCK * BLOCK;
    if ((rc = reserve(a, padded, err)) < 0) return rc;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return cohort_error_errno(err, DOCKER_E_IO, DOMAIN, errno, "build context: open %s", path);
    size_t got = 0;
    while (got < size) {
        ssize_t n = read(fd, a->data + a->len + got, size - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            close(fd);
            return cohort_error_errno(err, DOCKER_E_IO, DOMAIN, n < 0 ? errno : EIO, "build context: read %s", path);
        }
        got += (size_t)n;
    }
    close(fd);
    memset(a->data + a->len + size, 0, padded - size);
    a->len += padded;
    return 0;
}

static int compare_names(const void *x, const void *y) { return strcmp(*(char *const *)x, *(char *const *)y); }

int docker_tar_directory(const char *dir, size_t max, char **out, size_t *out_len, struct cohort_error *err)
{
    struct archive a = {.max = max};
    /* Folders still to visit, relative to dir ("" is dir itself): an explicit stack. */
    char **pending = calloc(MAX_ENTRIES, sizeof *pending);
    size_t npending = 0, visited = 0;
    int rc = 0;
    if (pending == NULL) return cohort_error_set(err, DOCKER_E_NOMEM, DOMAIN, "build context: out of memory");
    pending[npending++] = strdup("");
    while (npending > 0 && rc == 0) {
        char *rel = pending[--npending];
        char path[4096];
        snprintf(path, sizeof path, "%s%s%s", dir, rel[0] ? "/" : "", rel);
        DIR *d = opendir(path);
        if (d == NULL) {
            rc = cohort_error_errno(err, DOCKER_E_IO, DOMAIN, errno, "build context: open folder %s", path);
            free(rel);
            break;
        }
        char *names[MAX_ENTRIES];
        size_t nnames = 0;
        struct dirent *e;
        while ((e = readdir(d)) != NULL && nnames < MAX_ENTRIES)
            if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) names[nnames++] = strdup(e->d_name);
        closedir(d);
        qsort(names, nnames, sizeof names[0], compare_names);
        for (size_t i = 0; i < nnames; i++) {
            char child_rel[4096], child_path[4096 + 256];
            snprintf(child_rel, sizeof child_rel, "%s%s%s", rel, rel[0] ? "/" : "", names[i]);
            snprintf(child_path, sizeof child_path, "%s/%s", dir, child_rel);
            struct stat st;
            if (rc == 0 && ++visited > MAX_ENTRIES)
                rc = cohort_error_set(err, DOCKER_E_TOO_LARGE, DOMAIN, "build context: more than %d entries", MAX_ENTRIES);
            if (rc == 0 && lstat(child_path, &st) != 0)
                rc = cohort_error_errno(err, DOCKER_E_IO, DOMAIN, errno, "build context: stat %s", child_path);
            if (rc == 0 && S_ISREG(st.st_mode)) {
                rc = add_file(&a, child_path, child_rel, &st, err);
            } else if (rc == 0 && S_ISDIR(st.st_mode)) {
                char dir_name[4100];
                snprintf(dir_name, sizeof dir_name, "%s/", child_rel);
                rc = add_header(&a, dir_name, '5', (unsigned)st.st_mode, 0, err);
                if (rc == 0) pending[npending++] = strdup(child_rel);
            }
            /* Symlinks, sockets and devices are left out: a context needs none. */
            free(names[i]);
        }
        free(rel);
    }
    while (npending > 0) free(pending[--npending]);
    free(pending);
    if (rc == 0 && (rc = reserve(&a, 2 * BLOCK, err)) == 0) {
        memset(a.data + a.len, 0, 2 * BLOCK);
        a.len += 2 * BLOCK;
    }
    if (rc < 0) {
        free(a.data);
        return rc;
    }
    *out = a.data;
    *out_len = a.len;
    return 0;
}
