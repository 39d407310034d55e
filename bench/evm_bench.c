/*
 * evm_bench.c - time and gas rate of cohort's VM on the evm-benchmarks suite (the suite
 * evmone's evmone-bench runs), written as state tests.
 *
 *   bench/evm_bench [--filter SUBSTRING] [--runs N] [--fork NAME] [PATH...]
 *
 * PATH: fixture files or folders (walked, *.json, in sorted order); default: the build's
 * fixtures path + /evm-benchmarks/benchmarks. --fork picks the post section to run
 * (default London, the fork the suite is filled for; the VM supports Berlin to Cancun).
 * --filter keeps the cases whose name contains SUBSTRING. --runs N (default 9) is how many
 * timed runs a median is taken over.
 *
 * For each case (a file's test and one post entry, that is one input) two things are timed:
 *
 *   execute  What evmone-bench's `execute` times: the contract's code run as one message
 *            call with the case's input. The code is analysed once (evm_code_new) before
 *            any timing; storage is kept between iterations (each iteration is its own
 *            state transaction, begun and ended outside the timed region, so refunds,
 *            warm sets and the journal do not pile up); only evm_execute_analyzed is timed.
 *            A run is enough iterations for at least MIN_RUN_CPU_S of CPU time; the figure
 *            is the median over the runs of a run's CPU time per iteration.
 *   tx       The full transaction through chain_apply_tx on a fresh pre-state: validation,
 *            the upfront charge, warming, code analysis, the VM, refunds, the coinbase, the
 *            end-of-transaction rules (not the state root). One timed call per run; median.
 *
 * Checks (a case that fails one is reported with check=FAIL and the exit status is 1): the
 * transaction is included and its top-level call succeeds; the state root and logs hash
 * after it equal the fixture's post entry; every execute iteration ends in success.
 *
 * Output: a header line starting with '#', then one line per case of key=value fields:
 *   evm case=main/sha1_divs/5311 rev=London gas=... exec_cpu_ms=... exec_wall_ms=...
 *       mgas_per_s=... tx_gas=... tx_cpu_ms=... tx_wall_ms=... runs=... iters=... check=ok
 * gas is the execution gas of the first execute iteration (what evmone-bench reports as
 * gas_used; later ones may differ when the first wrote storage); mgas_per_s is that gas
 * over the execute CPU time, in millions per second; tx_gas is the transaction's gas used
 * (intrinsic gas included, refund deducted). CPU time is this thread's
 * (CLOCK_THREAD_CPUTIME_ID); the machine is shared, so compare CPU times, as the fixture
 * README's evmone figures are. The timed window includes about one pair of clock reads
 * (the header prints their cost), which matters only for cases of a few microseconds.
 */
#include <errno.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/error.h"
#include "common/hex.h"
#include "common/secp.h"
#include "subnode/chain/chain.h"
#include "subnode/evm/evm.h"
#include "subnode/state/host.h"
#include "subnode/state/state.h"
#include "subnode/statetest/statetest.h"

#ifndef COHORT_BENCH_FIXTURES
#define COHORT_BENCH_FIXTURES "../shared/fixtures"
#endif

#define RUNS_DEFAULT 9
#define RUNS_MAX 1000
#define MIN_RUN_CPU_S 0.02        /* a timed execute run lasts at least this much CPU time */
#define ITERATIONS_MAX 1000000    /* ... and at most this many iterations */
#define FILES_MAX 10000
#define NAME_MAX_BYTES 256

struct options {
    const char *filter;
    const char *fork;
    unsigned runs;
};

struct bench {
    struct options opts;
    enum evm_revision revision;
    unsigned cases;
    unsigned failures;
};

/* ---- Clocks ---- */

static double clock_seconds(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_now(void) { return clock_seconds(CLOCK_THREAD_CPUTIME_ID); }
static double wall_now(void) { return clock_seconds(CLOCK_MONOTONIC); }

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The median of values[0..count) (sorts them). */
static double median(double *values, unsigned count)
{
    qsort(values, count, sizeof *values, compare_doubles);
    return count % 2 ? values[count / 2] : (values[count / 2 - 1] + values[count / 2]) / 2;
}

/* ---- Finding the fixture files ---- */

struct file_list {
    char **paths;
    size_t count;
};

static struct file_list *walk_list; /* nftw's callback has no argument: the list being filled */

static int visit(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb;
    (void)ftw;
    size_t n = strlen(path);
    if (type != FTW_F || n < 5 || strcmp(path + n - 5, ".json") != 0) return 0;
    if (walk_list->count >= FILES_MAX) return 1;
    char *copy = strdup(path);
    if (copy == NULL) return 1;
    walk_list->paths[walk_list->count++] = copy;
    return 0;
}

static int compare_strings(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Collects the .json files under each path into list (sorted). 0, or -1 with a message printed. */
static int collect_files(char **paths, int path_count, struct file_list *list)
{
    list->paths = calloc(FILES_MAX, sizeof *list->paths);
    if (list->paths == NULL) return -1;
    walk_list = list;
    for (int i = 0; i < path_count; i++) {
        if (nftw(paths[i], visit, 16, FTW_PHYS) != 0) {
            fprintf(stderr, "evm_bench: cannot walk %s (%s; or over %d files)\n", paths[i],
                    errno ? strerror(errno) : "stopped", FILES_MAX);
            return -1;
        }
    }
    qsort(list->paths, list->count, sizeof *list->paths, compare_strings);
    return 0;
}

/* ---- One case ---- */

/* "main/sha1_divs/5311": the fixture's folder, the test name, and the input's label. */
static void case_name(const struct statetest_case *c, char *out, size_t cap)
{
    const char *end = strrchr(c->path, '/');
    const char *folder = c->path;
    size_t folder_len = 0;
    if (end != NULL) {
        const char *start = end;
        while (start > c->path && start[-1] != '/') start--;
        folder = start;
        folder_len = (size_t)(end - start);
    }
    char index[24];
    snprintf(index, sizeof index, "d%zu", c->data_index);
    snprintf(out, cap, "%.*s%s%s/%s", (int)folder_len, folder, folder_len ? "/" : "", c->test_name,
             c->label != NULL ? c->label : index);
    for (char *p = out; *p; p++)
        if (*p == ' ') *p = '_'; /* keep the line splittable on spaces */
}

/* The message and context chain_apply_tx would give the VM for the case's transaction. */
static void build_call(const struct statetest_case *c, struct evm_message *msg, struct evm_tx_context *ctx)
{
    const struct chain_tx *tx = &c->tx;
    const struct chain_block *block = &c->block;
    memset(msg, 0, sizeof *msg);
    msg->kind = EVM_CALL;
    msg->gas = (int64_t)(tx->gas_limit - chain_intrinsic_gas(tx, block->revision));
    memcpy(msg->sender, tx->sender, 20);
    memcpy(msg->recipient, tx->to, 20);
    memcpy(msg->code_address, tx->to, 20);
    msg->value = tx->value;
    msg->input = tx->data;
    msg->input_size = tx->data_len;

    memset(ctx, 0, sizeof *ctx);
    memcpy(ctx->origin, tx->sender, 20);
    ctx->gas_price = tx->gas_price;
    if (tx->type >= 2) { /* EIP-1559's effective price: the base fee plus the tip the max fee allows */
        u256 tip = u256_sub(tx->max_fee_per_gas, block->base_fee);
        if (u256_lt(tx->max_priority_fee_per_gas, tip)) tip = tx->max_priority_fee_per_gas;
        ctx->gas_price = u256_add(tip, block->base_fee);
    }
    memcpy(ctx->coinbase, block->coinbase, 20);
    ctx->number = block->number;
    ctx->timestamp = block->timestamp;
    ctx->gas_limit = block->gas_limit;
    if (block->revision >= EVM_PARIS)
        memcpy(ctx->prev_randao, block->prev_randao, 32);
    else
        u256_store_be(ctx->prev_randao, block->difficulty);
    ctx->chain_id = block->chain_id;
    ctx->base_fee = block->base_fee;
    ctx->blob_base_fee = chain_blob_base_fee(block->excess_blob_gas);
    ctx->blob_hashes = tx->blob_hashes;
    ctx->blob_hash_count = tx->blob_count;
}

/* EIP-2929's warm start of a transaction: the origin, the recipient, the precompiles. */
static int warm_up(struct state *st, const struct evm_message *msg, enum evm_revision revision,
                   struct cohort_error *err)
{
    if (state_warm_account(st, msg->sender, NULL, err) != 0 || state_warm_account(st, msg->recipient, NULL, err) != 0)
        return -1;
    for (unsigned i = 1; i <= 0xff; i++) {
        uint8_t address[20] = {0};
        address[19] = (uint8_t)i;
        if (evm_is_precompile(address, revision) && state_warm_account(st, address, NULL, err) != 0) return -1;
    }
    return 0;
}

/* Compares a computed 32-byte hash with the fixture's "0x..." text. */
static bool hash_matches(const uint8_t hash[32], const char *want)
{
    char got[67];
    hex_encode(hash, 32, got, sizeof got);
    return want != NULL && strcasecmp(got, want) == 0;
}

/*
 * The full transaction, runs times on fresh pre-states; checks the first run's post state.
 * Sets the medians and the gas; returns NULL when all is well, else what failed (static).
 */
static const char *time_transaction(const struct statetest_case *c, unsigned runs, double *cpu_s, double *wall_s,
                                    uint64_t *gas_used, struct cohort_error *err)
{
    double cpu[RUNS_MAX], wall[RUNS_MAX];
    for (unsigned r = 0; r < runs; r++) {
        struct state *st = state_new();
        if (st == NULL) return "out of memory for a state";
        if (statetest_case_load_pre(c, st, err) != 0) {
            state_free(st);
            return "pre-state";
        }
        struct chain_tx_result result;
        double c0 = cpu_now(), w0 = wall_now();
        int rc = chain_apply_tx(st, &c->block, &c->tx, &result, err);
        double c1 = cpu_now(), w1 = wall_now();
        cpu[r] = c1 - c0;
        wall[r] = w1 - w0;
        const char *problem = NULL;
        if (rc != 0)
            problem = "transaction rejected or failed";
        else if (!result.success)
            problem = "transaction's call did not succeed";
        if (problem == NULL && r == 0) {
            uint8_t root[32], logs[32];
            *gas_used = result.gas_used;
            if (state_root(st, root, err) != 0 || state_logs_hash(st, logs, err) != 0)
                problem = "state root";
            else if (c->expected_hash != NULL && !hash_matches(root, c->expected_hash))
                problem = "post state root differs from the fixture's";
            else if (c->expected_logs != NULL && !hash_matches(logs, c->expected_logs))
                problem = "logs hash differs from the fixture's";
        }
        state_free(st);
        if (problem != NULL) return problem;
    }
    *cpu_s = median(cpu, runs);
    *wall_s = median(wall, runs);
    return NULL;
}

/* What one execute iteration needs: the state and host, the call, the analysed code. */
struct execute_setup {
    struct state *st;
    struct evm_host host;
    struct evm_tx_context ctx;
    struct evm_message msg;
    const struct evm_code *code;
    enum evm_revision revision;
};

/*
 * One iteration: a state transaction of its own around the one timed call. Adds the call's
 * CPU and wall time to the sums and sets *gas_used. Returns NULL or what failed.
 */
static const char *iterate(struct execute_setup *x, double *cpu_sum, double *wall_sum, int64_t *gas_used,
                           struct cohort_error *err)
{
    struct evm_result res;
    state_tx_begin(x->st);
    if (warm_up(x->st, &x->msg, x->revision, err) != 0) {
        state_tx_end(x->st);
        return "warming the accounts";
    }
    double c0 = cpu_now(), w0 = wall_now();
    int rc = evm_execute_analyzed(&x->host, &x->ctx, x->revision, &x->msg, x->code, &res, err);
    double c1 = cpu_now(), w1 = wall_now();
    state_tx_end(x->st);
    *cpu_sum += c1 - c0;
    *wall_sum += w1 - w0;
    if (rc != 0) return "evm_execute_analyzed failed";
    if (res.status != EVM_SUCCESS) return evm_status_name(res.status);
    *gas_used = x->msg.gas - res.gas_left;
    return NULL;
}

/*
 * The execute measurement (see the top of the file). Sets the medians per iteration, the
 * gas of the first iteration and the iterations per run; returns NULL or what failed.
 * Storage is kept between iterations, so a contract whose first run writes storage may
 * use less gas in later ones (evmone-bench shares this); the gas reported is the first's.
 */
static const char *time_execute(const struct statetest_case *c, unsigned runs, double *cpu_s, double *wall_s,
                                int64_t *gas_used, unsigned *iterations_out, struct cohort_error *err)
{
    if (!c->tx.has_to) return "a creation transaction (execute needs a call)";
    struct execute_setup x = {.revision = c->block.revision};
    struct evm_code *code = NULL;
    struct state_host host_ctx;
    const char *problem = NULL;
    x.st = state_new();
    if (x.st == NULL) return "out of memory for a state";
    if (statetest_case_load_pre(c, x.st, err) != 0) {
        problem = "pre-state";
        goto done;
    }
    size_t code_size = 0;
    const uint8_t *code_bytes = state_code(x.st, c->tx.to, &code_size);
    if (evm_code_new(code_bytes, code_size, &code, err) != 0) { /* analysed once, before any timing */
        problem = "code analysis";
        goto done;
    }
    x.code = code;
    build_call(c, &x.msg, &x.ctx);
    state_host_init(&host_ctx, x.st, c->block.revision, &x.host);
    host_ctx.block_hash = c->block.block_hash;
    host_ctx.block_hash_arg = c->block.block_hash_arg;

    /* A first (warm-up) iteration, also to size a run: enough iterations for MIN_RUN_CPU_S. */
    double warm_cpu = 0, warm_wall = 0;
    int64_t gas = 0;
    if ((problem = iterate(&x, &warm_cpu, &warm_wall, gas_used, err)) != NULL) goto done;
    unsigned iterations = 1;
    if (warm_cpu > 0 && warm_cpu < MIN_RUN_CPU_S) {
        double wanted = MIN_RUN_CPU_S / warm_cpu;
        iterations = wanted > ITERATIONS_MAX ? ITERATIONS_MAX : (unsigned)wanted + 1;
    }
    double cpu[RUNS_MAX], wall[RUNS_MAX];
    for (unsigned r = 0; r < runs; r++) {
        double cpu_sum = 0, wall_sum = 0;
        for (unsigned i = 0; i < iterations; i++)
            if ((problem = iterate(&x, &cpu_sum, &wall_sum, &gas, err)) != NULL) goto done;
        cpu[r] = cpu_sum / iterations;
        wall[r] = wall_sum / iterations;
    }
    *cpu_s = median(cpu, runs);
    *wall_s = median(wall, runs);
    *iterations_out = iterations;
done:
    evm_code_free(code);
    state_free(x.st);
    return problem;
}

static int run_case(void *arg, const struct statetest_case *c)
{
    struct bench *b = arg;
    char name[NAME_MAX_BYTES];
    case_name(c, name, sizeof name);
    if (b->opts.filter != NULL && strstr(name, b->opts.filter) == NULL) return 0;
    b->cases++;
    struct cohort_error err = {0};
    double exec_cpu = 0, exec_wall = 0, tx_cpu = 0, tx_wall = 0;
    int64_t gas = 0;
    uint64_t tx_gas = 0;
    unsigned iterations = 0;
    const char *problem = NULL;
    if (c->expect_exception != NULL) problem = "the fixture expects the transaction to be rejected";
    if (problem == NULL) problem = time_transaction(c, b->opts.runs, &tx_cpu, &tx_wall, &tx_gas, &err);
    if (problem == NULL) problem = time_execute(c, b->opts.runs, &exec_cpu, &exec_wall, &gas, &iterations, &err);
    if (problem != NULL) {
        b->failures++;
        printf("evm case=%s rev=%s check=FAIL reason=\"%s%s%s\"\n", name, evm_revision_name(b->revision), problem,
               err.code != 0 ? ": " : "", err.code != 0 ? err.message : "");
        return 0;
    }
    printf("evm case=%s rev=%s gas=%lld exec_cpu_ms=%.4f exec_wall_ms=%.4f mgas_per_s=%.1f tx_gas=%llu "
           "tx_cpu_ms=%.4f tx_wall_ms=%.4f runs=%u iters=%u check=ok\n",
           name, evm_revision_name(b->revision), (long long)gas, exec_cpu * 1e3, exec_wall * 1e3,
           exec_cpu > 0 ? (double)gas / exec_cpu / 1e6 : 0.0, (unsigned long long)tx_gas, tx_cpu * 1e3,
           tx_wall * 1e3, b->opts.runs, iterations);
    fflush(stdout);
    return 0;
}

/* ---- main ---- */

static void usage(FILE *f)
{
    fprintf(f, "usage: evm_bench [--filter SUBSTRING] [--runs N] [--fork NAME] [PATH...]\n"
               "  PATH: state-test files or folders (default %s/evm-benchmarks/benchmarks)\n",
            COHORT_BENCH_FIXTURES);
}

static int fork_revision(const char *name, enum evm_revision *out)
{
    for (int r = EVM_BERLIN; r <= EVM_REVISION_LATEST; r++)
        if (strcmp(evm_revision_name((enum evm_revision)r), name) == 0) {
            *out = (enum evm_revision)r;
            return 0;
        }
    return -1;
}

int main(int argc, char **argv)
{
    struct bench b = {.opts = {.fork = "London", .runs = RUNS_DEFAULT}};
    char **paths = calloc((size_t)argc + 1, sizeof *paths);
    int path_count = 0;
    if (paths == NULL) return 2;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--filter") == 0 && i + 1 < argc) {
            b.opts.filter = argv[++i];
        } else if (strcmp(argv[i], "--fork") == 0 && i + 1 < argc) {
            b.opts.fork = argv[++i];
        } else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc) {
            char *end;
            long runs = strtol(argv[++i], &end, 10);
            if (*end != '\0' || runs < 1 || runs > RUNS_MAX) {
                fprintf(stderr, "evm_bench: --runs wants 1..%d, not %s\n", RUNS_MAX, argv[i]);
                return 2;
            }
            b.opts.runs = (unsigned)runs;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "evm_bench: unknown option %s\n", argv[i]);
            usage(stderr);
            return 2;
        } else {
            paths[path_count++] = argv[i];
        }
    }
    if (fork_revision(b.opts.fork, &b.revision) != 0) {
        fprintf(stderr, "evm_bench: fork %s is not one the VM runs (Berlin to Cancun)\n", b.opts.fork);
        return 2;
    }
    static char default_path[4096];
    if (path_count == 0) {
        snprintf(default_path, sizeof default_path, "%s/evm-benchmarks/benchmarks", COHORT_BENCH_FIXTURES);
        paths[path_count++] = default_path;
    }
    struct cohort_error err = {0};
    if (secp_init(&err) != 0) {
        fprintf(stderr, "evm_bench: %s\n", err.message);
        return 2;
    }
    struct file_list files = {0};
    if (collect_files(paths, path_count, &files) != 0) return 2;

    /* The cost of the clock reads around each timed call, to judge the smallest figures. */
    double t0 = cpu_now();
    for (int i = 0; i < 1000; i++) {
        (void)cpu_now();
        (void)wall_now();
    }
    double clock_pair_ns = (cpu_now() - t0) / 1000 * 1e9;
    printf("# evm_bench: revision %s (the fixtures' %s section), %u runs per median, CPU time of this thread, "
           "%zu files, clock pair %.0f ns\n",
           evm_revision_name(b.revision), b.opts.fork, b.opts.runs, files.count, clock_pair_ns);

    int status = 0;
    for (size_t i = 0; i < files.count; i++) {
        struct cohort_error file_err = {0};
        if (statetest_for_each_case(files.paths[i], b.opts.fork, run_case, &b, &file_err) != 0) {
            printf("evm file=%s check=FAIL reason=\"%s\"\n", files.paths[i], file_err.message);
            status = 1;
        }
        free(files.paths[i]);
    }
    free(files.paths);
    free(paths);
    evm_thread_release();
    printf("# %u cases, %u failed\n", b.cases, b.failures);
    if (b.cases == 0) fprintf(stderr, "evm_bench: no case matched\n");
    return status != 0 || b.failures != 0 || b.cases == 0 ? 1 : 0;
}
