/* reconcile.c - the pure reconciler (see reconcile.h for the rules). */
#include "reconcile.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

const char *action_name(enum action_kind kind)
{
    switch (kind) {
    case ACTION_CREATE_VOLUME: return "create-volume";
    case ACTION_WRITE_CONFIG: return "write-config";
    case ACTION_CREATE_CONTAINER: return "create-container";
    case ACTION_START: return "start";
    case ACTION_REMOVE_CONTAINER: return "remove-container";
    case ACTION_REMOVE_VOLUME: return "remove-volume";
    }
    return "?";
}

static void emit(struct reconcile_plan *plan, enum action_kind kind, const char *chain, const char *container_id,
                 bool is_restart)
{
    assert(plan->nactions < sizeof plan->actions / sizeof plan->actions[0]);
    struct action *a = &plan->actions[plan->nactions++];
    memset(a, 0, sizeof *a);
    a->kind = kind;
    snprintf(a->chain, sizeof a->chain, "%s", chain);
    if (container_id) snprintf(a->container_id, sizeof a->container_id, "%s", container_id);
    a->is_restart = is_restart;
}

static struct restart_record *record_for(struct reconcile_state *state, const char *chain)
{
    for (size_t i = 0; i < state->nrecords; i++)
        if (strcmp(state->records[i].chain, chain) == 0) return &state->records[i];
    assert(state->nrecords < RECONCILE_MAX);
    struct restart_record *r = &state->records[state->nrecords++];
    memset(r, 0, sizeof *r);
    snprintf(r->chain, sizeof r->chain, "%s", chain);
    return r;
}

const struct restart_record *reconcile_record(const struct reconcile_state *state, const char *chain)
{
    for (size_t i = 0; i < state->nrecords; i++)
        if (strcmp(state->records[i].chain, chain) == 0) return &state->records[i];
    return NULL;
}

static bool in_names(const struct chain_name *names, size_t n, const char *chain)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(names[i].name, chain) == 0) return true;
    return false;
}

static const struct desired_subnode *desired_for(const struct reconcile_input *in, const char *chain)
{
    for (size_t i = 0; i < in->ndesired; i++)
        if (strcmp(in->desired[i].chain, chain) == 0) return &in->desired[i];
    return NULL;
}

static int64_t backoff_ms(const struct reconcile_input *in, unsigned failures)
{
    int64_t base = in->backoff_base_ms > 0 ? in->backoff_base_ms : 1000;
    int64_t max = in->backoff_max_ms > 0 ? in->backoff_max_ms : 300000;
    int64_t delay = base;
    for (unsigned i = 1; i < failures && delay < max; i++) delay *= 2;
    return delay < max ? delay : max;
}

static void note_wake(struct reconcile_plan *plan, int64_t at_ms)
{
    if (plan->wake_at_ms == 0 || at_ms < plan->wake_at_ms) plan->wake_at_ms = at_ms;
}

static void create_fresh(const struct reconcile_input *in, const struct desired_subnode *d, struct reconcile_plan *plan)
{
    if (!in_names(in->volumes, in->nvolumes, d->chain)) emit(plan, ACTION_CREATE_VOLUME, d->chain, NULL, false);
    emit(plan, ACTION_WRITE_CONFIG, d->chain, NULL, false);
    emit(plan, ACTION_CREATE_CONTAINER, d->chain, NULL, false);
    emit(plan, ACTION_START, d->chain, NULL, false);
}

/* The container to keep for a chain: a running one if any, else the first. */
static const struct observed_container *primary(const struct reconcile_input *in, const char *chain)
{
    const struct observed_container *found = NULL;
    for (size_t i = 0; i < in->ncontainers; i++) {
        const struct observed_container *c = &in->containers[i];
        if (strcmp(c->chain, chain) != 0) continue;
        if (found == NULL || (c->state == OBSERVED_RUNNING && found->state != OBSERVED_RUNNING)) found = c;
    }
    return found;
}

void reconcile(const struct reconcile_input *in, struct reconcile_state *state, struct reconcile_plan *plan)
{
    assert(in->ndesired <= RECONCILE_MAX && in->ncontainers <= RECONCILE_MAX && in->nvolumes <= RECONCILE_MAX);
    plan->nactions = 0;
    plan->wake_at_ms = 0;
    int64_t stable = in->stable_ms > 0 ? in->stable_ms : 60000;

    /* Containers first: remove what is extra or no longer assigned. */
    for (size_t i = 0; i < in->ncontainers; i++) {
        const struct observed_container *c = &in->containers[i];
        const struct desired_subnode *d = desired_for(in, c->chain);
        if (d == NULL || primary(in, c->chain) != c) emit(plan, ACTION_REMOVE_CONTAINER, c->chain, c->id, false);
    }
    /* Volumes of deleted chains go too (after their containers, which are removed above). */
    for (size_t i = 0; i < in->nvolumes; i++)
        if (desired_for(in, in->volumes[i].name) == NULL && in_names(in->deleted, in->ndeleted, in->volumes[i].name))
            emit(plan, ACTION_REMOVE_VOLUME, in->volumes[i].name, NULL, false);

    for (size_t i = 0; i < in->ndesired; i++) {
        const struct desired_subnode *d = &in->desired[i];
        struct restart_record *r = record_for(state, d->chain);
        const struct observed_container *c = primary(in, d->chain);
        if (c == NULL) {
            r->running_since_ms = 0;
            r->next_start_ms = 0;
            create_fresh(in, d, plan);
            continue;
        }
        if (strcmp(c->config_hash, d->config_hash) != 0 || d->recreate) {
            /* A new config version (members rotated, limits changed), or a new image: a new container. */
            r->running_since_ms = 0;
            r->next_start_ms = 0;
            emit(plan, ACTION_WRITE_CONFIG, d->chain, NULL, false);
            emit(plan, ACTION_REMOVE_CONTAINER, d->chain, c->id, false);
            emit(plan, ACTION_CREATE_CONTAINER, d->chain, NULL, false);
            emit(plan, ACTION_START, d->chain, NULL, false);
            continue;
        }
        switch (c->state) {
        case OBSERVED_RUNNING:
            r->next_start_ms = 0;
            if (r->running_since_ms == 0) r->running_since_ms = in->now_ms;
            if (r->failures > 0 && in->now_ms - r->running_since_ms >= stable) r->failures = 0;
            else if (r->failures > 0) note_wake(plan, r->running_since_ms + stable);
            break;
        case OBSERVED_CREATED:
            emit(plan, ACTION_START, d->chain, c->id, false);
            break;
        case OBSERVED_EXITED:
            r->running_since_ms = 0;
            if (r->next_start_ms == 0) {
                /* A crash seen for the first time: count it and schedule the restart. */
                r->failures++;
                r->next_start_ms = in->now_ms + backoff_ms(in, r->failures);
            }
            if (in->now_ms >= r->next_start_ms) {
                r->restarts++;
                r->next_start_ms = 0;
                emit(plan, ACTION_START, d->chain, c->id, true);
            } else {
                note_wake(plan, r->next_start_ms);
            }
            break;
        }
    }
}
