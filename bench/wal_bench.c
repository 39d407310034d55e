/*
 * wal_bench.c - what one durable vote costs on this disk: 4 processes at once (the four
 * members of config_bench share one disk), each appending a 93-byte record (a VOTE record
 * with its header) and making it durable, N times. Two ways:
 *   append: write(2) at the end of a growing file, then fdatasync: each sync must also
 *           commit the file's new size to the journal;
 *   wal:    the BFT WAL (bft/wal.c), which preallocates its file, so the sync flushes data
 *           only.
 * Prints one "wal_bench mode=... procs=4 p50_ms=... p90_ms=... p99_ms=..." line per mode,
 * from all processes' samples together (docs/PERFORMANCE.md "The config store").
 *
 *   build/bench/wal_bench [--syncs N] [--dir DIR]
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bft/bft.h"

#define PROCS 4

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* One process's run: samples[0..syncs) get the milliseconds of each append + sync. */
static int run(int mode, const char *dir, int proc, int syncs, double *samples)
{
    char path[512];
    snprintf(path, sizeof path, "%s/wal_bench-%d-%d", dir, mode, proc);
    unlink(path);
    uint8_t record[BFT_VOTE_RECORD_BYTES];
    memset(record, 0x5a, sizeof record);
    struct cohort_error err = {0};
    if (mode == 0) {
        int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0600);
        if (fd < 0) return -1;
        uint8_t bytes[BFT_WAL_HEADER_BYTES + sizeof record];
        bft_wal_record_header(BFT_RECORD_VOTE, record, sizeof record, bytes);
        memcpy(bytes + BFT_WAL_HEADER_BYTES, record, sizeof record);
        for (int i = 0; i < syncs; i++) {
            double t = now_ms();
            if (write(fd, bytes, sizeof bytes) != (ssize_t)sizeof bytes || fdatasync(fd) < 0) return -1;
            samples[i] = now_ms() - t;
        }
        close(fd);
    } else {
        struct bft_wal *wal = NULL;
        if (bft_wal_open(path, NULL, NULL, &wal, &err) < 0) return -1;
        for (int i = 0; i < syncs; i++) {
            double t = now_ms();
            if (bft_wal_append(wal, BFT_RECORD_VOTE, record, sizeof record, &err) < 0 || bft_wal_sync(wal, &err) < 0)
                return -1;
            samples[i] = now_ms() - t;
        }
        bft_wal_close(wal);
    }
    unlink(path);
    return 0;
}

int main(int argc, char **argv)
{
    int syncs = 1000;
    const char *dir = "/tmp";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--syncs") == 0) syncs = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--dir") == 0) dir = argv[i + 1];
    }
    if (syncs < 10 || syncs > 1000000) {
        fprintf(stderr, "wal_bench: --syncs must be 10..1000000\n");
        return 2;
    }
    size_t total = (size_t)PROCS * (size_t)syncs;
    static const char *names[2] = {"append", "wal"};
    for (int mode = 0; mode < 2; mode++) {
        /* Shared with the children: each writes its own stretch of samples. */
        double *samples = mmap(NULL, total * sizeof *samples, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (samples == MAP_FAILED) return 1;
        for (int p = 0; p < PROCS; p++) {
            pid_t pid = fork();
            if (pid < 0) return 1;
            if (pid == 0) _exit(run(mode, dir, p, syncs, samples + (size_t)p * (size_t)syncs) == 0 ? 0 : 1);
        }
        int failed = 0, status;
        while (wait(&status) > 0)
            if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) failed = 1;
        if (failed) {
            fprintf(stderr, "wal_bench: a writer failed in %s (is %s writable?)\n", dir, names[mode]);
            return 1;
        }
        qsort(samples, total, sizeof *samples, cmp_double);
        printf("wal_bench mode=%s procs=%d syncs=%d p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f\n", names[mode], PROCS, syncs,
               samples[total / 2], samples[total * 9 / 10], samples[total * 99 / 100]);
        munmap(samples, total * sizeof *samples);
    }
    return 0;
}
