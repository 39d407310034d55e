/*
 * test_bft_sim.c - seeded simulations of the BFT log (bft/sim.h): safety, liveness after
 * the heal, identical logs, no double votes, no lost commits, under crashes, partitions,
 * a lossy network and Byzantine members.
 *
 * Environment:
 *   COHORT_BFT_SEED=N          run only seed N (to replay a failure), with verbose output
 *   COHORT_BFT_SEEDS=N         how many seeds with the fast signature scheme (default 2000)
 *   COHORT_BFT_SECP_SEEDS=N    how many seeds with real secp256k1 signatures (default 20)
 *   COHORT_BFT_FIRST_SEED=N    the first seed of the range (default 1)
 *   COHORT_BFT_THREADS=N       worker threads (default 2)
 */
#include <check.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "bft/sim.h"

static uint64_t env_u64(const char *name, uint64_t fallback)
{
    const char *v = getenv(name);
    if (v == NULL || *v == '\0') return fallback;
    return strtoull(v, NULL, 10);
}

/* Seeds shared by the worker threads: each takes the next one. */
struct seed_pool {
    pthread_mutex_t lock;
    uint64_t next, end;
    bool real_crypto;
    uint32_t window;
    unsigned failures, liveness_failures; /* liveness_failures: only the liveness goal missed */
    uint64_t min_commits;
};

static void *worker(void *arg)
{
    struct seed_pool *p = arg;
    for (;;) {
        pthread_mutex_lock(&p->lock);
        uint64_t seed = p->next++;
        pthread_mutex_unlock(&p->lock);
        if (seed >= p->end) return NULL;
        struct bft_sim_options o = {seed, p->real_crypto, 0, p->window};
        struct bft_sim_result r;
        bft_sim_run(&o, &r);
        pthread_mutex_lock(&p->lock);
        if (!r.ok && r.liveness_only && p->window != 0) {
            p->liveness_failures++; /* a small window: the known gap (docs/bft.md), counted */
        } else if (!r.ok) {
            p->failures++;
            fprintf(stderr, "seed %llu FAILED [%s]: %s\n  replay: COHORT_BFT_SEED=%llu%s%s ./test_bft_sim\n",
                    (unsigned long long)seed, r.scenario, r.failure, (unsigned long long)seed,
                    p->real_crypto ? " COHORT_BFT_SECP=1" : "", p->window ? " COHORT_BFT_WINDOW=<w>" : "");
        }
        if (r.min_committed < p->min_commits) p->min_commits = r.min_committed;
        pthread_mutex_unlock(&p->lock);
    }
}

/*
 * Runs count seeds from first on COHORT_BFT_THREADS threads (default 2) with the cores'
 * window (0: the largest); returns how many failed, and counts in *liveness the runs with a
 * window that missed only the liveness goal.
 */
static unsigned run_seeds_window(uint64_t first, uint64_t count, bool real_crypto, uint32_t window,
                                 uint64_t *min_commits, unsigned *liveness)
{
    struct seed_pool pool = {PTHREAD_MUTEX_INITIALIZER, first, first + count, real_crypto, window, 0, 0, UINT64_MAX};
    uint64_t threads = env_u64("COHORT_BFT_THREADS", 2);
    if (threads < 1) threads = 1;
    if (threads > 16) threads = 16;
    pthread_t t[16];
    for (uint64_t i = 0; i < threads; i++) ck_assert_int_eq(pthread_create(&t[i], NULL, worker, &pool), 0);
    for (uint64_t i = 0; i < threads; i++) pthread_join(t[i], NULL);
    *min_commits = pool.min_commits;
    if (liveness) *liveness = pool.liveness_failures;
    return pool.failures;
}

static unsigned run_seeds(uint64_t first, uint64_t count, bool real_crypto, uint64_t *min_commits)
{
    return run_seeds_window(first, count, real_crypto, 0, min_commits, NULL);
}

START_TEST(single_seed)
{
    uint64_t seed = env_u64("COHORT_BFT_SEED", 0);
    struct bft_sim_options o = {seed, env_u64("COHORT_BFT_SECP", 0) != 0, 0, (uint32_t)env_u64("COHORT_BFT_WINDOW", 0)};
    struct bft_sim_result r;
    int rc = bft_sim_run(&o, &r);
    fprintf(stderr, "seed %llu [%s]: %s; %llu events, %llu messages, %llu crashes, min committed %llu, end %llu ms\n",
            (unsigned long long)seed, r.scenario, r.ok ? "ok" : r.failure, (unsigned long long)r.events,
            (unsigned long long)r.messages, (unsigned long long)r.crashes, (unsigned long long)r.min_committed,
            (unsigned long long)r.end_ms);
    if (r.detail[0] != '\0') fprintf(stderr, "%s", r.detail);
    ck_assert_msg(rc == 0, "seed %llu: %s", (unsigned long long)seed, r.failure);
}
END_TEST

START_TEST(many_seeds_fast_signatures)
{
    uint64_t first = env_u64("COHORT_BFT_FIRST_SEED", 1), count = env_u64("COHORT_BFT_SEEDS", 2000), min_commits;
    unsigned failures = run_seeds(first, count, false, &min_commits);
    fprintf(stderr, "%llu seeds from %llu (fast signatures): %u failed; every honest member committed >= %llu\n",
            (unsigned long long)count, (unsigned long long)first, failures, (unsigned long long)min_commits);
    ck_assert_uint_eq(failures, 0);
    ck_assert_uint_ge(min_commits, 5); /* each run's liveness goal is at least 5 entries */
}
END_TEST

START_TEST(seeds_with_secp256k1)
{
    uint64_t first = env_u64("COHORT_BFT_FIRST_SEED", 1), count = env_u64("COHORT_BFT_SECP_SEEDS", 20), min_commits;
    unsigned failures = run_seeds(first + 1000000, count, true, &min_commits);
    fprintf(stderr, "%llu seeds (secp256k1): %u failed; every honest member committed >= %llu\n",
            (unsigned long long)count, failures, (unsigned long long)min_commits);
    ck_assert_uint_eq(failures, 0);
    ck_assert_uint_ge(min_commits, 5);
}
END_TEST

/*
 * A window of 6 heights: the edge comes in most runs, so the window slides past nullified
 * heights often, and restarts restore votes past the commits (base_unknown). Every safety
 * check must hold; the liveness goal may be missed (the known gap when notarized heights
 * fill the window, docs/bft.md), and the count of such runs is printed, not asserted.
 */
START_TEST(small_window_stays_safe)
{
    uint64_t first = env_u64("COHORT_BFT_FIRST_SEED", 1), count = env_u64("COHORT_BFT_SMALL_WINDOW_SEEDS", 400), min;
    unsigned liveness = 0;
    unsigned failures = run_seeds_window(first + 2000000, count, false, 6, &min, &liveness);
    fprintf(stderr, "%llu seeds with a window of 6: %u failed a safety check; %u missed only the liveness goal\n",
            (unsigned long long)count, failures, liveness);
    ck_assert_uint_eq(failures, 0);
    /* Deterministic: on the default 400 seeds the slide brings the runs that miss the goal
       from 25 (the core without it, 2026-12-01) to 16. */
    if (count == 400) ck_assert_uint_le(liveness, 20);
}
END_TEST

START_TEST(same_seed_same_run)
{
    /* Determinism: a seed replays exactly, or a printed replay command would be worthless. */
    struct bft_sim_options o = {424242, false, 0, 0};
    struct bft_sim_result a, b;
    bft_sim_run(&o, &a);
    bft_sim_run(&o, &b);
    ck_assert_uint_eq(a.events, b.events);
    ck_assert_uint_eq(a.messages, b.messages);
    ck_assert_uint_eq(a.end_ms, b.end_ms);
    ck_assert_str_eq(a.scenario, b.scenario);
    ck_assert_uint_gt(a.events, 100);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("bft_sim");
    TCase *tc = tcase_create("sim");
    tcase_set_timeout(tc, 1200);
    if (getenv("COHORT_BFT_SEED") != NULL) {
        tcase_add_test(tc, single_seed);
    } else {
        tcase_add_test(tc, same_seed_same_run);
        tcase_add_test(tc, many_seeds_fast_signatures);
        tcase_add_test(tc, seeds_with_secp256k1);
        tcase_add_test(tc, small_window_stays_safe);
    }
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
