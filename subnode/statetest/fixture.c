/*
 * fixture.c - helpers shared by the fixture runners (see fixture.h): moved here from the
 * state-test runner so cohort-blocktest reads files, numbers and accounts the same way and
 * spreads its files over the same worker pool.
 */
#include "fixture.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/hex.h"
#include "subnode/statetest/statetest.h"

#define DOMAIN "statetest"

/* ---- Fields ---- */

const char *fixture_string(const cJSON *obj, const char *name)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, name);
    return cJSON_IsString(item) ? item->valuestring : NULL;
}

int fixture_parse_u256(const char *text, u256 *out, struct cohort_error *err)
{
    if (text == NULL || text[0] != '0' || (text[1] != 'x' && text[1] != 'X'))
        return cohort_error_set(err, STATETEST_E_FORMAT, DOMAIN, "number \"%.40s\" lacks 0x",
                                text ? text : "(missing)");
    const char *p = text + 2;
    while (*p == '0') p++;
    size_t n = strlen(p);
    if (n > 64) return cohort_error_set(err, STATETEST_E_RANGE, DOMAIN, "number %.40s... over 256 bits", text);
    u256 v = u256_zero();
    for (size_t i = 0; i < n; i++) {
        int d = hex_digit_value(p[i]);
        if (d < 0) return cohort_error_set(err, STATETEST_E_FORMAT, DOMAIN, "bad hex digit in \"%.70s\"", text);
        v = u256_or(u256_shl(u256_from_u64(4), v), u256_from_u64((uint64_t)d));
    }
    *out = v;
    return 0;
}

int fixture_parse_u64_saturating(const char *text, uint64_t *out, struct cohort_error *err)
{
    u256 v;
    int rc = fixture_parse_u256(text, &v, err);
    if (rc == STATETEST_E_RANGE) {
        *out = UINT64_MAX;
        return 0;
    }
    if (rc != 0) return rc;
    *out = u256_fits_u64(v) ? v.w[0] : UINT64_MAX;
    return 0;
}

int fixture_parse_bytes(const char *text, uint8_t *out, size_t cap, size_t *len, struct cohort_error *err)
{
    if (text == NULL) return cohort_error_set(err, STATETEST_E_FORMAT, DOMAIN, "missing hex data");
    int rc = hex_decode(text, out, cap, len, err);
    return rc == 0 ? 0 : cohort_error_wrap(err, "data");
}

/* ---- Files ---- */

char *fixture_read_file(const char *path, size_t cap, struct cohort_error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        cohort_error_errno(err, STATETEST_E_IO, DOMAIN, errno, "open %s", path);
        return NULL;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0 || (size_t)sb.st_size > cap) {
        if ((size_t)sb.st_size > cap)
            cohort_error_set(err, STATETEST_E_RANGE, DOMAIN, "%s: %lld bytes, over the cap of %zu", path,
                             (long long)sb.st_size, cap);
        else
            cohort_error_errno(err, STATETEST_E_IO, DOMAIN, errno, "stat %s", path);
        close(fd);
        return NULL;
    }
    size_t size = (size_t)sb.st_size;
    char *text = malloc(size + 1);
    if (text == NULL) {
        cohort_error_set(err, STATETEST_E_NOMEM, DOMAIN, "%s: %zu bytes", path, size);
        close(fd);
        return NULL;
    }
    size_t got = 0;
    while (got < size) {
        ssize_t r = read(fd, text + got, size - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            cohort_error_errno(err, STATETEST_E_IO, DOMAIN, r < 0 ? errno : EIO, "read %s", path);
            free(text);
            close(fd);
            return NULL;
        }
        got += (size_t)r;
    }
    text[size] = '\0';
    close(fd);
    return text;
}

/* ---- Accounts ---- */

int fixture_load_accounts(struct state *st, const cJSON *accounts, struct cohort_error *err)
{
    static _Thread_local uint8_t code[STATE_CODE_MAX]; /* 1 MiB: too big for the stack */
    const cJSON *acc;
    cJSON_ArrayForEach (acc, accounts) {
        uint8_t address[20];
        u256 balance, nonce;
        size_t code_len = 0;
        if (hex_decode_exact(acc->string, address, 20, err) != 0) return cohort_error_wrap(err, "pre address");
        if (fixture_parse_u256(fixture_string(acc, "balance"), &balance, err) != 0 ||
            fixture_parse_u256(fixture_string(acc, "nonce"), &nonce, err) != 0 ||
            fixture_parse_bytes(fixture_string(acc, "code"), code, sizeof code, &code_len, err) != 0)
            return cohort_error_wrap(err, "pre %s", acc->string);
        if (!u256_fits_u64(nonce))
            return cohort_error_set(err, STATETEST_E_RANGE, DOMAIN, "pre %s: nonce over 64 bits", acc->string);
        if (state_put_account(st, address, nonce.w[0], balance, code, code_len, err) != 0)
            return cohort_error_wrap(err, "pre %s", acc->string);
        const cJSON *slot;
        cJSON_ArrayForEach (slot, cJSON_GetObjectItemCaseSensitive(acc, "storage")) {
            u256 key, value;
            if (fixture_parse_u256(slot->string, &key, err) != 0 ||
                fixture_parse_u256(slot->valuestring, &value, err) != 0)
                return cohort_error_wrap(err, "pre %s storage", acc->string);
            if (!u256_is_zero(value) && state_put_storage(st, address, key, value, err) != 0)
                return cohort_error_wrap(err, "pre %s storage", acc->string);
        }
    }
    return 0;
}

/* ---- Collecting files ---- */

static int add_path(struct fixture_paths *list, const char *path, struct cohort_error *err)
{
    if (list->count >= FIXTURE_PATHS_MAX)
        return cohort_error_set(err, STATETEST_E_RANGE, DOMAIN, "more than %d fixture files", FIXTURE_PATHS_MAX);
    if (list->count == list->cap) {
        size_t cap = list->cap ? list->cap * 2 : 256;
        char **p = realloc(list->items, cap * sizeof *p);
        if (p == NULL) return cohort_error_set(err, STATETEST_E_NOMEM, DOMAIN, "path list");
        list->items = p;
        list->cap = cap;
    }
    list->items[list->count] = strdup(path);
    if (list->items[list->count] == NULL) return cohort_error_set(err, STATETEST_E_NOMEM, DOMAIN, "path list");
    list->count++;
    return 0;
}

void fixture_paths_free(struct fixture_paths *files)
{
    if (files == NULL) return;
    for (size_t i = 0; i < files->count; i++) free(files->items[i]);
    free(files->items);
    memset(files, 0, sizeof *files);
}

static int compare_paths(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static bool ends_with_json(const char *name)
{
    size_t n = strlen(name);
    return n > 5 && strcmp(name + n - 5, ".json") == 0;
}

/*
 * Collects the .json files under root. Folders go on an explicit stack (the list itself:
 * folders are appended and visited in turn) rather than recursion.
 */
static int collect(const char *root, struct fixture_paths *files, struct cohort_error *err)
{
    struct stat sb;
    if (stat(root, &sb) != 0) return cohort_error_errno(err, STATETEST_E_IO, DOMAIN, errno, "stat %s", root);
    if (!S_ISDIR(sb.st_mode)) return add_path(files, root, err);
    struct fixture_paths dirs = {0};
    int rc = add_path(&dirs, root, err);
    for (size_t i = 0; rc == 0 && i < dirs.count; i++) {
        DIR *dir = opendir(dirs.items[i]);
        if (dir == NULL) {
            rc = cohort_error_errno(err, STATETEST_E_IO, DOMAIN, errno, "open folder %s", dirs.items[i]);
            break;
        }
        struct dirent *de;
        while (rc == 0 && (de = readdir(dir)) != NULL) {
            if (de->d_name[0] == '.') continue;
            char child[4096];
            int n = snprintf(child, sizeof child, "%s/%s", dirs.items[i], de->d_name);
            if (n < 0 || (size_t)n >= sizeof child) {
                rc = cohort_error_set(err, STATETEST_E_RANGE, DOMAIN, "path too long under %s", dirs.items[i]);
                break;
            }
            if (stat(child, &sb) != 0) continue;
            if (S_ISDIR(sb.st_mode))
                rc = add_path(&dirs, child, err);
            else if (S_ISREG(sb.st_mode) && ends_with_json(de->d_name))
                rc = add_path(files, child, err);
        }
        closedir(dir);
    }
    fixture_paths_free(&dirs);
    return rc;
}

int fixture_collect(const char *const *paths, size_t path_count, struct fixture_paths *files, struct cohort_error *err)
{
    assert(files != NULL);
    assert(paths != NULL || path_count == 0);
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < path_count; i++) rc = collect(paths[i], files, err);
    if (rc == 0 && files->count > 1) qsort(files->items, files->count, sizeof *files->items, compare_paths);
    return rc;
}

/* ---- Workers ---- */

/* Shared between the parent and the workers (an anonymous shared mapping). */
struct shared_work {
    size_t next;                         /* the next file to take, advanced atomically */
    size_t current[FIXTURE_JOBS_MAX];    /* per worker: 1 + the file it is running, 0 when between files */
    _Alignas(16) unsigned char counts[]; /* FIXTURE_JOBS_MAX blocks of counts_size bytes */
};

int fixture_run_files(char *const *files, size_t file_count, unsigned jobs, fixture_file_fn fn, void *arg, void *counts,
                      size_t counts_size, fixture_merge_fn merge, fixture_crash_fn crashed, FILE *out,
                      struct cohort_error *err)
{
    assert(files != NULL || file_count == 0);
    assert(fn != NULL && merge != NULL && crashed != NULL);
    assert(counts != NULL && counts_size > 0);
    if (jobs < 1) jobs = 1;
    if (jobs > FIXTURE_JOBS_MAX) jobs = FIXTURE_JOBS_MAX;
    if (jobs == 1 || file_count < 2) {
        for (size_t i = 0; i < file_count; i++) fn(arg, files[i], counts, out);
        return 0;
    }
    size_t stride = (counts_size + 15) / 16 * 16;
    size_t shared_size = sizeof(struct shared_work) + jobs * stride;
    struct shared_work *shared = mmap(NULL, shared_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (shared == MAP_FAILED) return cohort_error_errno(err, STATETEST_E_NOMEM, DOMAIN, errno, "shared counters");
    memset(shared, 0, shared_size);
    fflush(out);
    pid_t pids[FIXTURE_JOBS_MAX];
    unsigned started = 0;
    for (unsigned w = 0; w < jobs; w++) {
        pid_t pid = fork();
        if (pid < 0) break;
        if (pid == 0) {
            /* Worker: take files until none is left; one line per failure, flushed per file. */
            for (;;) {
                size_t i = __atomic_fetch_add(&shared->next, 1, __ATOMIC_RELAXED);
                if (i >= file_count) break;
                shared->current[w] = i + 1;
                fn(arg, files[i], shared->counts + w * stride, out);
                fflush(out);
                shared->current[w] = 0;
            }
            _exit(0);
        }
        pids[started++] = pid;
    }
    if (started == 0) {
        int rc = cohort_error_errno(err, STATETEST_E_IO, DOMAIN, errno, "fork a worker");
        munmap(shared, shared_size);
        return rc;
    }
    for (unsigned w = 0; w < started; w++) {
        int status = 0;
        while (waitpid(pids[w], &status, 0) < 0 && errno == EINTR) {
        }
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            /* A crashed worker: the file it held did not finish. Count it as a failure. */
            size_t held = shared->current[w];
            const char *path = held ? files[held - 1] : NULL;
            fprintf(out, "%s: worker died (wait status %d) running this file; its remaining cases did not run\n",
                    path ? path : "(no file)", status);
            crashed(counts, path);
        }
    }
    for (unsigned w = 0; w < started; w++) merge(counts, shared->counts + w * stride);
    munmap(shared, shared_size);
    return 0;
}
