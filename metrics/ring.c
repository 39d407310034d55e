/* ring.c - the in-memory history: per chain, a ring of the newest samples (see metrics.h). */
#include <assert.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct chain_ring {
    char name[METRICS_CHAIN_MAX];
    int64_t *times;
    struct metrics_point *points;
    size_t head, count; /* the oldest point is at (head - count) mod capacity; head is where the next goes */
    int64_t last_ms;
};

struct metrics_ring {
    pthread_mutex_t lock;
    size_t capacity;
    struct chain_ring chains[METRICS_MAX_CHAINS];
    size_t nchains;
};

int metrics_ring_new(size_t capacity, struct metrics_ring **out, struct cohort_error *err)
{
    if (capacity == 0) return cohort_error_set(err, METRICS_E_INVALID, DOMAIN, "ring: capacity 0");
    struct metrics_ring *r = calloc(1, sizeof *r);
    if (r == NULL) return cohort_error_set(err, METRICS_E_NOMEM, DOMAIN, "ring: out of memory");
    r->capacity = capacity;
    pthread_mutex_init(&r->lock, NULL);
    *out = r;
    return 0;
}

void metrics_ring_free(struct metrics_ring *r)
{
    if (r == NULL) return;
    for (size_t i = 0; i < r->nchains; i++) {
        free(r->chains[i].times);
        free(r->chains[i].points);
    }
    pthread_mutex_destroy(&r->lock);
    free(r);
}

int metrics_ring_resize(struct metrics_ring *r, size_t capacity, struct cohort_error *err)
{
    if (capacity == 0) return cohort_error_set(err, METRICS_E_INVALID, DOMAIN, "ring: capacity 0");
    if (capacity > SIZE_MAX / sizeof(struct metrics_point))
        return cohort_error_set(err, METRICS_E_NOMEM, DOMAIN, "ring: %zu points per chain cannot be allocated", capacity);
    /* Under the lock for the whole copy: readers and the sampler see the old ring or the new
       one, never a mix. It is rare (an operator's change); the copy is what the rings hold,
       about 10 ms per chain for 3 hours at the finest interval (20 MB). */
    pthread_mutex_lock(&r->lock);
    if (capacity == r->capacity) {
        pthread_mutex_unlock(&r->lock);
        return 0;
    }
    /* Every chain's new arrays first, so a failed allocation leaves the ring as it was. */
    int64_t *times[METRICS_MAX_CHAINS];
    struct metrics_point *points[METRICS_MAX_CHAINS];
    for (size_t i = 0; i < r->nchains; i++) {
        times[i] = malloc(capacity * sizeof *times[i]);
        points[i] = malloc(capacity * sizeof *points[i]);
        if (times[i] == NULL || points[i] == NULL) {
            for (size_t k = 0; k <= i; k++) {
                free(times[k]);
                free(points[k]);
            }
            size_t nchains = r->nchains, kept = r->capacity;
            pthread_mutex_unlock(&r->lock);
            return cohort_error_set(err, METRICS_E_NOMEM, DOMAIN,
                                    "ring: out of memory for %zu points of each of %zu chains; it keeps %zu per chain",
                                    capacity, nchains, kept);
        }
    }
    for (size_t i = 0; i < r->nchains; i++) {
        struct chain_ring *c = &r->chains[i];
        /* The newest min(count, capacity) points, oldest first at index 0. */
        size_t keep = c->count < capacity ? c->count : capacity;
        size_t first = (c->head + r->capacity - c->count) % r->capacity;
        size_t skip = c->count - keep;
        for (size_t k = 0; k < keep; k++) {
            size_t at = (first + skip + k) % r->capacity;
            times[i][k] = c->times[at];
            points[i][k] = c->points[at];
        }
        free(c->times);
        free(c->points);
        c->times = times[i];
        c->points = points[i];
        c->count = keep;
        c->head = keep % capacity;
        assert(c->count <= capacity);
    }
    r->capacity = capacity;
    pthread_mutex_unlock(&r->lock);
    return 0;
}

size_t metrics_ring_capacity(struct metrics_ring *r)
{
    pthread_mutex_lock(&r->lock);
    size_t capacity = r->capacity;
    pthread_mutex_unlock(&r->lock);
    return capacity;
}

static struct chain_ring *find(struct metrics_ring *r, const char *chain)
{
    for (size_t i = 0; i < r->nchains; i++)
        if (strcmp(r->chains[i].name, chain) == 0) return &r->chains[i];
    return NULL;
}

int metrics_ring_record(struct metrics_ring *r, const char *chain, int64_t time_ms, const struct metrics_point *p)
{
    assert(chain != NULL && p != NULL);
    if (strlen(chain) >= METRICS_CHAIN_MAX) return METRICS_E_INVALID;
    pthread_mutex_lock(&r->lock);
    struct chain_ring *c = find(r, chain);
    if (c == NULL) {
        if (r->nchains == METRICS_MAX_CHAINS) {
            /* Forget the chain recorded longest ago (a chain that left this node long since). */
            size_t oldest = 0;
            for (size_t i = 1; i < r->nchains; i++)
                if (r->chains[i].last_ms < r->chains[oldest].last_ms) oldest = i;
            free(r->chains[oldest].times);
            free(r->chains[oldest].points);
            r->chains[oldest] = r->chains[--r->nchains];
        }
        c = &r->chains[r->nchains];
        memset(c, 0, sizeof *c);
        c->times = malloc(r->capacity * sizeof *c->times);
        c->points = malloc(r->capacity * sizeof *c->points);
        if (c->times == NULL || c->points == NULL) {
            free(c->times);
            free(c->points);
            pthread_mutex_unlock(&r->lock);
            return METRICS_E_NOMEM;
        }
        strcpy(c->name, chain);
        r->nchains++;
    }
    if (c->count > 0 && time_ms < c->last_ms) {
        pthread_mutex_unlock(&r->lock);
        return 0; /* an older sample than we have: the wall clock went back; keep the order */
    }
    c->times[c->head] = time_ms;
    c->points[c->head] = *p;
    c->head = (c->head + 1) % r->capacity;
    if (c->count < r->capacity) c->count++;
    c->last_ms = time_ms;
    pthread_mutex_unlock(&r->lock);
    return 0;
}

int64_t metrics_ring_oldest_ms(struct metrics_ring *r)
{
    int64_t oldest = INT64_MAX;
    pthread_mutex_lock(&r->lock);
    for (size_t i = 0; i < r->nchains; i++) {
        const struct chain_ring *c = &r->chains[i];
        if (c->count == 0) continue;
        size_t first = (c->head + r->capacity - c->count) % r->capacity;
        if (c->times[first] < oldest) oldest = c->times[first];
    }
    pthread_mutex_unlock(&r->lock);
    return oldest;
}

int metrics_ring_range(struct metrics_ring *r, const char *chain, int64_t since_ms, int64_t until_ms, int64_t **times,
                       struct metrics_point **points, size_t *n, struct cohort_error *err)
{
    *times = NULL;
    *points = NULL;
    *n = 0;
    pthread_mutex_lock(&r->lock);
    const struct chain_ring *c = find(r, chain);
    if (c == NULL || c->count == 0) {
        pthread_mutex_unlock(&r->lock);
        return 0;
    }
    size_t first = (c->head + r->capacity - c->count) % r->capacity, count = 0;
    for (size_t k = 0; k < c->count; k++) {
        int64_t t = c->times[(first + k) % r->capacity];
        count += t >= since_ms && t < until_ms;
    }
    if (count == 0) {
        pthread_mutex_unlock(&r->lock);
        return 0;
    }
    int64_t *t_out = malloc(count * sizeof *t_out);
    struct metrics_point *p_out = malloc(count * sizeof *p_out);
    if (t_out == NULL || p_out == NULL) {
        pthread_mutex_unlock(&r->lock);
        free(t_out);
        free(p_out);
        return cohort_error_set(err, METRICS_E_NOMEM, DOMAIN, "ring: out of memory copying %zu points", count);
    }
    size_t j = 0;
    for (size_t k = 0; k < c->count; k++) {
        size_t at = (first + k) % r->capacity;
        if (c->times[at] >= since_ms && c->times[at] < until_ms) {
            t_out[j] = c->times[at];
            p_out[j] = c->points[at];
            j++;
        }
    }
    assert(j == count);
    pthread_mutex_unlock(&r->lock);
    *times = t_out;
    *points = p_out;
    *n = count;
    return 0;
}

size_t metrics_ring_chains(struct metrics_ring *r, char (*out)[METRICS_CHAIN_MAX], size_t max)
{
    pthread_mutex_lock(&r->lock);
    size_t n = 0;
    for (size_t i = 0; i < r->nchains && n < max; i++) strcpy(out[n++], r->chains[i].name);
    pthread_mutex_unlock(&r->lock);
    return n;
}

bool metrics_ring_lookup(struct metrics_ring *r, const char *chain, int64_t t_ms, int64_t *time_ms,
                         struct metrics_point *point)
{
    pthread_mutex_lock(&r->lock);
    const struct chain_ring *c = find(r, chain);
    if (c == NULL || c->count == 0) {
        pthread_mutex_unlock(&r->lock);
        return false;
    }
    size_t first = (c->head + r->capacity - c->count) % r->capacity;
    /* Times are in order: binary search for the last index with time <= t_ms. */
    size_t lo = 0, hi = c->count; /* invariant: answer in [lo - 1, hi) */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (c->times[(first + mid) % r->capacity] <= t_ms) lo = mid + 1;
        else hi = mid;
    }
    size_t at = (first + (lo > 0 ? lo - 1 : 0)) % r->capacity;
    *time_ms = c->times[at];
    *point = c->points[at];
    pthread_mutex_unlock(&r->lock);
    return true;
}
