/*
 * state_transfer_bench.c - what installing a chain's state costs (docs/chain.md "State
 * transfer"; docs/PERFORMANCE.md): a source store holding ACCOUNTS accounts (every 100th a
 * contract with 16 storage slots) is exported chunk by chunk (store_export_state, 1 MiB
 * chunks, as a member serves GET /chain/snapshot/state) and each chunk is decoded and
 * imported into an empty store (store_chunk_decode, store_import_chunk), then the root is
 * checked (store_import_finish), on one thread: the transfer without its HTTP hops.
 *
 *   state_transfer_bench [--accounts N]... [--dir DIR]
 *
 * Prints one line per size:
 *   state_transfer accounts=N slots=S chunks=C bytes=B build_s=.. export_s=.. import_s=..
 *   total_s=.. accounts_per_s=.. max_rss_mb=..
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "bench_state.h"
#include "subnode/store/store.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

_Noreturn static void die(const char *what, const struct cohort_error *err)
{
    fprintf(stderr, "state_transfer_bench: %s: %s\n", what, err ? err->message : "");
    exit(1);
}

static void run(const char *base, uint64_t accounts)
{
    struct cohort_error err = {0};
    char src_dir[512], dst_dir[512], cmd[1200];
    snprintf(src_dir, sizeof src_dir, "%s/src-%llu", base, (unsigned long long)accounts);
    snprintf(dst_dir, sizeof dst_dir, "%s/dst-%llu", base, (unsigned long long)accounts);
    struct store_options so = {.dir = src_dir, .map_bytes = 16ull << 30}, dopt = {.dir = dst_dir, .map_bytes = 16ull << 30};
    struct store *src, *dst;
    if (store_open(&so, &src, &err) != 0 || store_open(&dopt, &dst, &err) != 0) die("open", &err);
    double t0 = now_s();
    uint64_t slots;
    uint64_t number = bench_state_fill(src, accounts, false, &slots);
    double built = now_s() - t0;

    struct store_view *v;
    if (store_view_begin(src, &v, &err) != 0) die("view", &err);
    double export_s = 0, import_s = 0, start = now_s(), t;
    uint8_t *bytes;
    size_t len, total = 0, chunks = 0;
    struct store_blocks blocks;
    t = now_s();
    if (store_export_blocks(v, number, 0, &bytes, &len, &err) != 0) die("export blocks", &err);
    export_s += now_s() - t;
    t = now_s();
    if (store_blocks_decode(bytes, len, number, 0, &blocks, &err) != 0) die("decode blocks", &err);
    if (store_import_begin(dst, number, &err) != 0) die("import begin", &err);
    import_s += now_s() - t;
    uint8_t cursor[STORE_CURSOR_BYTES] = {0};
    for (;;) {
        uint8_t *chunk_bytes;
        size_t chunk_len;
        t = now_s();
        if (store_export_state(v, number, cursor, 0, &chunk_bytes, &chunk_len, &err) != 0) die("export", &err);
        export_s += now_s() - t;
        t = now_s();
        struct store_chunk c;
        if (store_chunk_decode(chunk_bytes, chunk_len, cursor, &c, &err) != 0) die("decode", &err);
        if (store_import_chunk(dst, &c, &err) != 0) die("import", &err);
        import_s += now_s() - t;
        total += chunk_len;
        chunks++;
        bool done = c.done;
        memcpy(cursor, c.next, sizeof cursor);
        store_chunk_free(&c);
        free(chunk_bytes);
        if (done) break;
    }
    t = now_s();
    if (store_import_finish(dst, &blocks, 1, &err) != 0) die("finish (the root)", &err);
    import_s += now_s() - t;
    double elapsed = now_s() - start;
    free(bytes);
    store_view_end(v);
    store_close(src);
    store_close(dst);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("state_transfer accounts=%llu slots=%llu chunks=%zu bytes=%zu build_s=%.2f export_s=%.2f import_s=%.2f "
           "total_s=%.2f accounts_per_s=%.0f max_rss_mb=%.1f\n",
           (unsigned long long)accounts, (unsigned long long)slots, chunks, total, built, export_s, import_s, elapsed,
           (double)accounts / elapsed, ru.ru_maxrss / 1024.0);
    fflush(stdout);
    snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s'", src_dir, dst_dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", base);
}

int main(int argc, char **argv)
{
    uint64_t sizes[8];
    size_t nsizes = 0;
    const char *dir = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--accounts") == 0 && i + 1 < argc && nsizes < 8)
            sizes[nsizes++] = strtoull(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
            dir = argv[++i];
        else {
            fprintf(stderr, "usage: state_transfer_bench [--accounts N]... [--dir DIR]\n");
            return 2;
        }
    }
    if (nsizes == 0) {
        sizes[0] = 10000;
        sizes[1] = 100000;
        nsizes = 2;
    }
    char made[64] = "/tmp/cohort-state-transfer-XXXXXX";
    if (dir == NULL && (dir = mkdtemp(made)) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    for (size_t i = 0; i < nsizes; i++) run(dir, sizes[i]);
    if (dir == made) rmdir(made);
    return 0;
}
