/*
 * wal.c - the BFT write-ahead log: an append-only file of checksummed records
 * (docs/bft.md "Storage"). The record format and the scan are pure functions, so the
 * simulator's in-memory storage and the real file share them; the file functions below
 * are the only I/O.
 */
#include "bft/bft.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#define DOMAIN "bft"

static const uint8_t magic[4] = {'C', 'B', 'W', '1'};

/* CRC-32C, reflected polynomial 0x82F63B78: the SSE4.2 instruction where the CPU has it
   (about 20x the table, and every WAL record's payload goes through it), else a table
   built once. */
static uint32_t crc_table[256];
static bool crc_hardware;
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        crc_table[i] = c;
    }
#if defined(__x86_64__)
    __builtin_cpu_init();
    crc_hardware = __builtin_cpu_supports("sse4.2");
#endif
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t crc_sse42(uint32_t c, const uint8_t *data, size_t len)
{
    uint64_t c64 = c;
    for (; len >= 8; data += 8, len -= 8) {
        uint64_t word;
        memcpy(&word, data, 8);
        c64 = __builtin_ia32_crc32di(c64, word);
    }
    c = (uint32_t)c64;
    for (; len > 0; data++, len--) c = __builtin_ia32_crc32qi(c, *data);
    return c;
}
#endif

uint32_t bft_crc32c(const uint8_t *data, size_t len)
{
    assert(data != NULL || len == 0);
    pthread_once(&crc_once, crc_init); /* the table is built once, by whichever thread comes first */
    uint32_t c = 0xFFFFFFFFu;
#if defined(__x86_64__)
    if (crc_hardware) return crc_sse42(c, data, len) ^ 0xFFFFFFFFu;
#endif
    for (size_t i = 0; i < len; i++) c = crc_table[(c ^ data[i]) & 0xff] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

static void be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

void bft_wal_record_header(uint8_t type, const uint8_t *payload, size_t len, uint8_t header[BFT_WAL_HEADER_BYTES])
{
    assert(len <= BFT_WAL_RECORD_MAX);
    assert(type >= BFT_RECORD_VOTE && type <= BFT_RECORD_CERT);
    memcpy(header, magic, 4);
    header[4] = type;
    header[5] = header[6] = header[7] = 0;
    be32(header + 8, (uint32_t)len);
    be32(header + 12, bft_crc32c(payload, len));
    be32(header + 16, bft_crc32c(header, 16));
}

static bool all_zero(const uint8_t *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (p[i] != 0) return false;
    return true;
}

int bft_wal_scan(const uint8_t *data, size_t len, bft_wal_record_fn fn, void *arg, size_t *valid_len,
                 struct cohort_error *err)
{
    assert(data != NULL || len == 0);
    assert(valid_len != NULL);
    size_t pos = 0;
    *valid_len = 0;
    while (pos < len) {
        size_t left = len - pos;
        const uint8_t *h = data + pos;
        /* A crash may leave a partial header, or zero bytes the file system had allocated. */
        if (left < BFT_WAL_HEADER_BYTES || all_zero(h, left)) break;
        bool header_ok = memcmp(h, magic, 4) == 0 && rd32(h + 16) == bft_crc32c(h, 16) && h[4] >= BFT_RECORD_VOTE &&
                         h[4] <= BFT_RECORD_CERT && h[5] == 0 && h[6] == 0 && h[7] == 0 &&
                         rd32(h + 8) <= BFT_WAL_RECORD_MAX;
        /* A header half written into preallocated space: zeros follow it to the end. */
        if (!header_ok && all_zero(h + BFT_WAL_HEADER_BYTES, left - BFT_WAL_HEADER_BYTES)) break;
        if (!header_ok)
            return cohort_error_set(err, BFT_E_CORRUPT, DOMAIN,
                                    "wal: damaged record header at offset %zu (of %zu bytes); restore this member",
                                    pos, len);
        size_t payload_len = rd32(h + 8);
        if (payload_len > left - BFT_WAL_HEADER_BYTES) break; /* cut off by the end: a torn write */
        const uint8_t *payload = h + BFT_WAL_HEADER_BYTES;
        size_t end = pos + BFT_WAL_HEADER_BYTES + payload_len;
        if (rd32(h + 12) != bft_crc32c(payload, payload_len)) {
            /* The last record, half written: zeros follow it, or before the zeros fewer
               bytes than a record header (the next append, cut off), so nothing that could
               be a record is dropped with it. */
            size_t after = len - end;
            while (after > 0 && data[end + after - 1] == 0) after--;
            if (after < BFT_WAL_HEADER_BYTES) break;
            return cohort_error_set(err, BFT_E_CORRUPT, DOMAIN,
                                    "wal: record at offset %zu fails its checksum and %zu bytes follow it; restore "
                                    "this member",
                                    pos, len - end);
        }
        if (fn != NULL) {
            int rc = fn(arg, h[4], payload, payload_len, pos);
            if (rc < 0) return rc;
        }
        pos = end;
        *valid_len = pos;
    }
    return 0;
}

/* ---- The file ---- */

/*
 * The file is grown ahead of the records in PREALLOCATE_BYTES steps (fallocate, which
 * reads back as zeros), so an append overwrites space the file already has and
 * fdatasync flushes data without a metadata journal commit: on this project's ext4 disk
 * that makes the fsync of a vote about a third cheaper (docs/PERFORMANCE.md). The zeros
 * past the last record are what the scan already treats as the end of the log.
 */
#define PREALLOCATE_BYTES (16u << 20)

struct bft_wal {
    int fd;
    uint64_t size;      /* the end of the last record: where the next one goes */
    uint64_t allocated; /* the file's length, >= size; 0 after a failed fallocate: plain appends */
    bool preallocate;
    char path[PATH_MAX];
};

static int sync_directory_of(const char *path, struct cohort_error *err)
{
    char copy[PATH_MAX];
    snprintf(copy, sizeof copy, "%s", path);
    const char *dir = dirname(copy);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) return cohort_error_errno(err, BFT_E_IO, DOMAIN, errno, "wal: open directory %s", dir);
    int rc = fsync(dfd);
    int saved = errno;
    close(dfd);
    if (rc < 0) return cohort_error_errno(err, BFT_E_IO, DOMAIN, saved, "wal: fsync directory %s", dir);
    return 0;
}

int bft_wal_open(const char *path, bft_wal_record_fn fn, void *arg, struct bft_wal **out, struct cohort_error *err)
{
    assert(path != NULL && out != NULL);
    *out = NULL;
    if (strlen(path) >= PATH_MAX) return cohort_error_set(err, BFT_E_INVALID, DOMAIN, "wal: path too long");
    bool created = access(path, F_OK) != 0;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return cohort_error_errno(err, BFT_E_IO, DOMAIN, errno, "wal: open %s", path);
    int rc = 0;
    struct stat st;
    if (fstat(fd, &st) < 0) {
        rc = cohort_error_errno(err, BFT_E_IO, DOMAIN, errno, "wal: stat %s", path);
        goto fail;
    }
    size_t len = (size_t)st.st_size, valid = 0;
    if (len > 0) {
        void *map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) {
            rc = cohort_error_errno(err, BFT_E_IO, DOMAIN, errno, "wal: map %s", path);
            goto fail;
        }
        rc = bft_wal_scan(map, len, fn, arg, &valid, err);
        munmap(map, len);
        if (rc < 0) {
            cohort_error_wrap(err, "%s", path);
            goto fail;
        }
    }
    if (valid < len) {
        /* The torn tail of a crash: cut it off, durably, before anything is appended. */
        if (ftruncate(fd, (off_t)valid) < 0 || fsync(fd) < 0) {
            rc = cohort_error_errno(err, BFT_E_IO, DOMAIN, errno, "wal: truncate %s to %zu", path, valid);
            goto fail;
        }
    }
    if (created) {
        if (fsync(fd) < 0) {
            rc = cohort_error_errno(err, BFT_E_IO, DOMAIN, errno, "wal: fsync %s", path);
            goto fail;
        }
        rc = sync_directory_of(path, err);
        if (rc < 0) goto fail;
    }
    if (lseek(fd, (off_t)valid, SEEK_SET) < 0) {
        rc = cohort_error_errno(err, BFT_E_IO, DOMAIN, errno, "wal: seek %s", path);
        goto fail;
    }
    struct bft_wal *wal = calloc(1, sizeof *wal);
    if (wal == NULL) {
        rc = cohort_error_set(err, BFT_E_NOMEM, DOMAIN, "wal: out of memory");
        goto fail;
    }
    wal->fd = fd;
    wal->size = valid;
    wal->allocated = valid;
    wal->preallocate = true;
    snprintf(wal->path, sizeof wal->path, "%s", path);
    *out = wal;
    return 0;
fail:
    close(fd);
    return rc;
}

int bft_wal_append(struct bft_wal *wal, uint8_t type, const uint8_t *payload, size_t len, struct cohort_error *err)
{
    assert(wal != NULL && wal->fd >= 0);
    if (len > BFT_WAL_RECORD_MAX)
        return cohort_error_set(err, BFT_E_RANGE, DOMAIN, "wal: record of %zu bytes exceeds %u", len,
                                BFT_WAL_RECORD_MAX);
    uint8_t header[BFT_WAL_HEADER_BYTES];
    bft_wal_record_header(type, payload, len, header);
    if (wal->preallocate && wal->size + BFT_WAL_HEADER_BYTES + len > wal->allocated) {
        uint64_t grow = PREALLOCATE_BYTES;
        while (wal->size + BFT_WAL_HEADER_BYTES + len > wal->allocated + grow) grow += PREALLOCATE_BYTES;
        if (fallocate(wal->fd, 0, (off_t)wal->allocated, (off_t)grow) == 0) wal->allocated += grow;
        else wal->preallocate = false; /* not supported here, or no space: append as before */
    }
    struct iovec iov[2] = {{header, sizeof header}, {(void *)payload, len}};
    size_t total = sizeof header + len, done = 0;
    while (done < total) {
        ssize_t n = pwritev(wal->fd, iov, 2, (off_t)(wal->size + done));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            int saved = errno;
            /* Zero what half got written, so the next append starts on a record boundary
               and recovery sees the end of the log there. */
            static const uint8_t zeros[4096];
            for (size_t z = 0; z < done;) {
                size_t take = done - z < sizeof zeros ? done - z : sizeof zeros;
                if (pwrite(wal->fd, zeros, take, (off_t)(wal->size + z)) != (ssize_t)take) break;
                z += take;
            }
            /* if this fails too, recovery treats the partial record as a torn tail */
            return cohort_error_errno(err, BFT_E_IO, DOMAIN, saved, "wal: write %s", wal->path);
        }
        done += (size_t)n;
        /* Advance the iovecs past what was written. */
        size_t skip = (size_t)n;
        for (int i = 0; i < 2; i++) {
            size_t take = skip < iov[i].iov_len ? skip : iov[i].iov_len;
            iov[i].iov_base = (uint8_t *)iov[i].iov_base + take;
            iov[i].iov_len -= take;
            skip -= take;
        }
    }
    wal->size += total;
    return 0;
}

int bft_wal_sync(struct bft_wal *wal, struct cohort_error *err)
{
    assert(wal != NULL && wal->fd >= 0);
    if (fdatasync(wal->fd) < 0) return cohort_error_errno(err, BFT_E_IO, DOMAIN, errno, "wal: fdatasync %s", wal->path);
    return 0;
}

int bft_wal_rename(struct bft_wal *wal, const char *path, struct cohort_error *err)
{
    assert(wal != NULL && path != NULL);
    if (strlen(path) >= PATH_MAX) return cohort_error_set(err, BFT_E_INVALID, DOMAIN, "wal: path too long");
    if (rename(wal->path, path) < 0)
        return cohort_error_errno(err, BFT_E_IO, DOMAIN, errno, "wal: rename %s to %s", wal->path, path);
    snprintf(wal->path, sizeof wal->path, "%s", path);
    return sync_directory_of(path, err);
}

uint64_t bft_wal_size(const struct bft_wal *wal)
{
    assert(wal != NULL);
    return wal->size;
}

void bft_wal_close(struct bft_wal *wal)
{
    if (wal == NULL) return;
    close(wal->fd);
    free(wal);
}
