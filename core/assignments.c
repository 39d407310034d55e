/* assignments.c - the manager's events that matter to this node, and the chains they mean. */
#include "assignments.h"

#include <assert.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/chain_rotation.h"
#include "common/hex.h"
#include "common/log.h"
#include "slots.h"

#define DOMAIN "core"

void assignments_init(struct assignments *a, uint64_t node_id)
{
    memset(a, 0, sizeof *a);
    a->node_id = node_id;
}

void assignments_free(struct assignments *a)
{
    free(a->events);
    a->events = NULL;
    a->nevents = a->cap = 0;
}

/* Whether the manager created chain_id (its ChainCreated is kept). */
static bool is_known_chain(const struct assignments *a, uint64_t chain_id)
{
    for (size_t i = 0; i < a->nevents; i++)
        if (a->events[i].kind == MC_EVENT_CHAIN_CREATED && a->events[i].chain_id == chain_id) return true;
    return false;
}

/*
 * Every chain's events are kept, not only those of this node's chains: a node that a
 * rotation makes a member of a chain needs the chain's history (its creation, its members'
 * slots, the rotations before) to write the chain's config (docs/chain.md "Rotation").
 */
static bool keep(const struct assignments *a, const struct mc_event *e)
{
    switch (e->kind) {
    case MC_EVENT_NODE_REGISTERED:
    case MC_EVENT_NODE_EXIT_INITIATED:
    case MC_EVENT_NODE_EXITED:
    case MC_EVENT_CHAIN_CREATED: return true;
    case MC_EVENT_NODE_ASSIGNED:
    case MC_EVENT_NODE_RELEASED:
    case MC_EVENT_CHAIN_DELETED:
    case MC_EVENT_ROTATION_STARTED:
    case MC_EVENT_ROTATION_COMPLETED: return is_known_chain(a, e->chain_id);
    case MC_EVENT_ROTATION_WAITING: /* a rotation that found no node: nothing to do until one starts */
    case MC_EVENT_NONE: return false;
    }
    return false;
}

bool assignments_apply(struct assignments *a, const struct mc_event *e)
{
    if (!keep(a, e)) return false;
    if (a->nevents == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 64;
        struct mc_event *grown = realloc(a->events, cap * sizeof *grown);
        assert(grown != NULL); /* a node-core without memory for its own events cannot go on */
        a->events = grown;
        a->cap = cap;
    }
    a->events[a->nevents++] = *e;
    if (e->kind != MC_EVENT_NODE_EXIT_INITIATED) a->changed = true;
    return true;
}

void assignments_rewind(struct assignments *a, const struct mc_cursor *to)
{
    size_t keep_count = 0;
    if (to->started)
        while (keep_count < a->nevents && a->events[keep_count].block_number <= to->last.number) keep_count++;
    if (keep_count != a->nevents) a->changed = true;
    a->nevents = keep_count;
    a->cursor = *to;
}

/* The latest registration of node id (NULL when unknown). */
static const struct mc_event *node_info(const struct assignments *a, uint64_t id)
{
    const struct mc_event *found = NULL;
    for (size_t i = 0; i < a->nevents; i++)
        if (a->events[i].kind == MC_EVENT_NODE_REGISTERED && a->events[i].node_id == id) found = &a->events[i];
    return found;
}

/* A chain's members in one epoch: node ids and first slots, by member index. */
struct membership {
    unsigned count;
    uint64_t node[MC_CHAIN_MAX_NODES];
    unsigned slot[MC_CHAIN_MAX_NODES];
    bool have_slot[MC_CHAIN_MAX_NODES];
    uint32_t epoch;
};

static bool has_member(const struct membership *m, uint64_t node)
{
    for (unsigned i = 0; i < m->count; i++)
        if (m->node[i] == node) return true;
    return false;
}

/*
 * Where this node stands in the chain `created` made, after the events that follow it:
 * *entry is the membership of the epoch it entered last (the first, or the one a rotation
 * made it join), and it runs the chain unless it left at a completed rotation since, or
 * the chain is gone. *open is the rotation started and not completed, if any, with the
 * members before it in *before.
 */
static bool chain_standing(const struct assignments *a, size_t created_at, struct membership *entry,
                           const struct mc_event **open, struct membership *before)
{
    const struct mc_event *created = &a->events[created_at];
    struct membership cur;
    memset(&cur, 0, sizeof cur);
    cur.count = created->nnodes;
    for (unsigned m = 0; m < created->nnodes; m++) cur.node[m] = created->node_ids[m];
    for (size_t j = created_at + 1; j < a->nevents; j++) {
        const struct mc_event *e = &a->events[j];
        if (e->chain_id == created->chain_id && e->kind == MC_EVENT_NODE_ASSIGNED)
            for (unsigned m = 0; m < created->nnodes; m++)
                if (created->node_ids[m] == e->node_id) {
                    cur.slot[m] = e->first_slot;
                    cur.have_slot[m] = true;
                }
    }
    bool running = has_member(&cur, a->node_id);
    *entry = cur;
    *open = NULL;
    for (size_t j = created_at + 1; j < a->nevents; j++) {
        const struct mc_event *e = &a->events[j];
        if (e->chain_id != created->chain_id) continue;
        if (e->kind == MC_EVENT_CHAIN_DELETED) return false;
        if (e->kind == MC_EVENT_ROTATION_STARTED && e->epoch == cur.epoch + 1 && e->member_index < cur.count &&
            cur.node[e->member_index] == e->node_id) {
            *before = cur;
            *open = e;
            cur.node[e->member_index] = e->joining_node_id;
            cur.slot[e->member_index] = e->first_slot;
            cur.have_slot[e->member_index] = true;
            cur.epoch = e->epoch;
            if (e->joining_node_id == a->node_id) {
                *entry = cur;
                running = true;
            }
        } else if (e->kind == MC_EVENT_ROTATION_COMPLETED && *open != NULL && (*open)->epoch == e->epoch) {
            if ((*open)->node_id == a->node_id) running = false; /* its container goes; the others run on */
            *open = NULL;
        }
    }
    return running;
}

/* member's entry in config from its registration; false while that is not known yet. */
static bool fill_member(const struct assignments *a, uint64_t node_id, unsigned first_slot, struct chain_member *member)
{
    const struct mc_event *node = node_info(a, node_id);
    if (node == NULL) return false;
    member->node_id = node->node_id;
    snprintf(member->ip, sizeof member->ip, "%u.%u.%u.%u", node->ip[0], node->ip[1], node->ip[2], node->ip[3]);
    member->base_port = node->port;
    member->first_slot = first_slot;
    memcpy(member->public_key, node->public_key, 64);
    return true;
}

int assignments_configs(const struct assignments *a, const struct chain_config_params *p, struct chain_config **out,
                        struct chain_rotation **rotations, size_t *count, struct cohort_error *err)
{
    *out = NULL;
    if (rotations) *rotations = NULL;
    *count = 0;
    size_t n = 0;
    for (size_t i = 0; i < a->nevents; i++) n += a->events[i].kind == MC_EVENT_CHAIN_CREATED;
    struct chain_config *configs = calloc(n ? n : 1, sizeof *configs);
    struct chain_rotation *due = calloc(n ? n : 1, sizeof *due);
    if (configs == NULL || due == NULL) {
        free(configs);
        free(due);
        return cohort_error_set(err, COMMON_E_NOMEM, DOMAIN, "out of memory");
    }
    size_t k = 0;
    for (size_t i = 0; i < a->nevents; i++) {
        const struct mc_event *created = &a->events[i];
        if (created->kind != MC_EVENT_CHAIN_CREATED) continue;
        struct membership entry, before;
        const struct mc_event *open = NULL;
        if (!chain_standing(a, i, &entry, &open, &before)) continue;
        struct chain_config *c = &configs[k];
        memset(c, 0, sizeof *c);
        c->version = CHAIN_CONFIG_VERSION;
        snprintf(c->name, sizeof c->name, "%s", created->name);
        c->chain_id = created->chain_id;
        c->evm_chain_id = mc_evm_chain_id_of(created->name);
        c->slots = created->size;
        c->epoch = entry.epoch;
        c->manager_chain_id = p->manager_chain_id;
        memcpy(c->manager_address, p->manager_address, 20);
        c->node_id = a->node_id;
        bool complete = true;
        for (unsigned m = 0; m < entry.count && complete; m++) {
            complete = entry.have_slot[m] && fill_member(a, entry.node[m], entry.slot[m], &c->members[c->nmembers]);
            if (!complete) break; /* wait for the rest of the events */
            if (entry.node[m] == a->node_id) c->member_index = m;
            c->nmembers++;
        }
        if (!complete) continue;
        /* A genesis every member derives alike from the manager: the owner holds the first balance. */
        c->genesis_timestamp = 0;
        c->genesis_gas_limit = 30000000;
        c->nalloc = 1;
        memcpy(c->alloc[0].address, created->owner, 20);
        c->alloc[0].balance = u256_mul(u256_from_u64(1000000), u256_from_u64(1000000000000000000ull));
        c->disk_bytes = p->disk_bytes_per_slot * c->slots;
        c->txpool_max_transactions = 10000u * c->slots;
        c->txpool_max_bytes = (32u << 20) * (uint64_t)c->slots;
        if (chain_config_validate(c, err) < 0) {
            free(configs);
            free(due);
            return cohort_error_wrap(err, "chain %s from the manager's events", created->name);
        }
        /* A rotation in flight: a member before it vouches, one after it signs the completion. */
        if (open != NULL) {
            struct rotation_record r;
            memset(&r, 0, sizeof r);
            r.epoch = open->epoch;
            r.member_index = (uint16_t)open->member_index;
            r.leaving_node_id = open->node_id;
            if (fill_member(a, open->joining_node_id, open->first_slot, &r.joining)) {
                rotation_record_encode(&r, due[k].record);
                due[k].open = true;
                due[k].vouch = has_member(&before, a->node_id);
                due[k].member_after = open->node_id != a->node_id;
            }
        }
        k++;
    }
    *out = configs;
    if (rotations) *rotations = due;
    else free(due);
    *count = k;
    return 0;
}

/* Whether this node was ever a member of chain_id: at its creation or by a rotation. */
static bool was_member(const struct assignments *a, uint64_t chain_id)
{
    for (size_t i = 0; i < a->nevents; i++) {
        const struct mc_event *e = &a->events[i];
        if (e->chain_id != chain_id) continue;
        if (e->kind == MC_EVENT_CHAIN_CREATED)
            for (unsigned m = 0; m < e->nnodes; m++)
                if (e->node_ids[m] == a->node_id) return true;
        if (e->kind == MC_EVENT_ROTATION_STARTED && e->joining_node_id == a->node_id) return true;
    }
    return false;
}

static bool is_deleted(const struct assignments *a, uint64_t chain_id)
{
    for (size_t i = 0; i < a->nevents; i++)
        if (a->events[i].kind == MC_EVENT_CHAIN_DELETED && a->events[i].chain_id == chain_id) return true;
    return false;
}

size_t assignments_left(const struct assignments *a, struct chain_name *out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < a->nevents && n < max; i++) {
        const struct mc_event *e = &a->events[i];
        if (e->kind != MC_EVENT_CHAIN_CREATED || !was_member(a, e->chain_id) || is_deleted(a, e->chain_id)) continue;
        struct membership entry, before;
        const struct mc_event *open = NULL;
        if (!chain_standing(a, i, &entry, &open, &before)) snprintf(out[n++].name, CHAIN_NAME_MAX, "%s", e->name);
    }
    return n;
}

size_t assignments_deleted(const struct assignments *a, struct chain_name *out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < a->nevents && n < max; i++)
        if (a->events[i].kind == MC_EVENT_CHAIN_DELETED && was_member(a, a->events[i].chain_id))
            snprintf(out[n++].name, CHAIN_NAME_MAX, "%s", a->events[i].name);
    return n;
}

/* ---- Persistence ---- */

static cJSON *hex_item(const uint8_t *data, size_t len)
{
    char text[131];
    assert(len <= 64);
    hex_encode(data, len, text, sizeof text);
    return cJSON_CreateString(text);
}

char *assignments_to_json(const struct assignments *a)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddNumberToObject(root, "version", ASSIGNMENTS_VERSION);
    cJSON_AddNumberToObject(root, "node_id", (double)a->node_id);
    char *cursor = mc_cursor_to_json(&a->cursor);
    cJSON_AddItemToObject(root, "cursor", cJSON_Parse(cursor));
    free(cursor);
    cJSON *events = cJSON_AddArrayToObject(root, "events");
    for (size_t i = 0; i < a->nevents; i++) {
        const struct mc_event *e = &a->events[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "kind", e->kind);
        cJSON_AddNumberToObject(o, "block", (double)e->block_number);
        cJSON_AddNumberToObject(o, "log", (double)e->log_index);
        cJSON_AddNumberToObject(o, "node", (double)e->node_id);
        cJSON_AddNumberToObject(o, "chain", (double)e->chain_id);
        cJSON_AddNumberToObject(o, "first_slot", e->first_slot);
        cJSON_AddNumberToObject(o, "size", e->size);
        cJSON_AddItemToObject(o, "owner", hex_item(e->owner, 20));
        cJSON_AddStringToObject(o, "name", e->name);
        cJSON_AddItemToObject(o, "ip", hex_item(e->ip, 4));
        cJSON_AddNumberToObject(o, "port", e->port);
        if (e->kind == MC_EVENT_NODE_REGISTERED) cJSON_AddItemToObject(o, "public_key", hex_item(e->public_key, 64));
        if (e->kind == MC_EVENT_ROTATION_STARTED || e->kind == MC_EVENT_ROTATION_COMPLETED) {
            cJSON_AddNumberToObject(o, "joining", (double)e->joining_node_id);
            cJSON_AddNumberToObject(o, "epoch", e->epoch);
            cJSON_AddNumberToObject(o, "member_index", e->member_index);
            cJSON_AddNumberToObject(o, "reason", e->reason);
            cJSON_AddNumberToObject(o, "height", (double)e->height);
        }
        cJSON *nodes = cJSON_AddArrayToObject(o, "nodes");
        for (unsigned k = 0; k < e->nnodes; k++) cJSON_AddItemToArray(nodes, cJSON_CreateNumber((double)e->node_ids[k]));
        cJSON_AddItemToArray(events, o);
    }
    char *text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return text;
}

static int number(const cJSON *o, const char *key, double max, uint64_t *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > max) return -1;
    *out = (uint64_t)v->valuedouble;
    return 0;
}

static int hex_field(const cJSON *o, const char *key, uint8_t *out, size_t len)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) && hex_decode_exact(v->valuestring, out, len, NULL) == 0 ? 0 : -1;
}

int assignments_from_json(struct assignments *a, const char *text, size_t len, struct cohort_error *err)
{
    uint64_t node_id = a->node_id;
    assignments_free(a);
    assignments_init(a, node_id);
    if (len > ASSIGNMENTS_MAX_BYTES) return cohort_error_set(err, COMMON_E_RANGE, DOMAIN, "state: %zu bytes is too large", len);
    cJSON *root = cJSON_ParseWithLength(text, len);
    int rc = 0;
    uint64_t v;
    const cJSON *events = cJSON_GetObjectItemCaseSensitive(root, "events");
    const cJSON *cursor = cJSON_GetObjectItemCaseSensitive(root, "cursor");
    if (!cJSON_IsObject(root) || number(root, "node_id", 9007199254740991.0, &v) < 0 || !cJSON_IsArray(events) ||
        !cJSON_IsObject(cursor) || cJSON_GetArraySize(events) > ASSIGNMENTS_MAX_EVENTS) {
        rc = cohort_error_set(err, COMMON_E_INVALID, DOMAIN, "state: not a cohort-core manager state");
        goto out;
    }
    if (v != node_id) {
        rc = cohort_error_set(err, COMMON_E_INVALID, DOMAIN,
                              "state: written for node %llu, but this is node %llu: use another state_dir",
                              (unsigned long long)v, (unsigned long long)node_id);
        goto out;
    }
    char *cursor_text = cJSON_PrintUnformatted(cursor);
    rc = cursor_text ? mc_cursor_from_json(cursor_text, strlen(cursor_text), &a->cursor, err) : -1;
    free(cursor_text);
    if (rc < 0) goto out;
    const cJSON *o;
    cJSON_ArrayForEach(o, events)
    {
        struct mc_event e;
        memset(&e, 0, sizeof e);
        uint64_t kind, first, size, port;
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(o, "name");
        const cJSON *nodes = cJSON_GetObjectItemCaseSensitive(o, "nodes");
        const double max = 9007199254740991.0;
        if (number(o, "kind", MC_EVENT_ROTATION_COMPLETED, &kind) < 0 || kind == 0 || number(o, "block", max, &e.block_number) < 0 ||
            number(o, "log", max, &e.log_index) < 0 || number(o, "node", max, &e.node_id) < 0 ||
            number(o, "chain", max, &e.chain_id) < 0 || number(o, "first_slot", 127, &first) < 0 ||
            number(o, "size", 128, &size) < 0 || number(o, "port", 65535, &port) < 0 || hex_field(o, "owner", e.owner, 20) < 0 ||
            hex_field(o, "ip", e.ip, 4) < 0 || !cJSON_IsString(name) || strlen(name->valuestring) >= sizeof e.name ||
            !cJSON_IsArray(nodes) || cJSON_GetArraySize(nodes) > MC_CHAIN_MAX_NODES ||
            (kind == MC_EVENT_NODE_REGISTERED && hex_field(o, "public_key", e.public_key, 64) < 0)) {
            rc = cohort_error_set(err, COMMON_E_INVALID, DOMAIN, "state: event %zu is malformed", a->nevents);
            goto out;
        }
        e.kind = (enum mc_event_kind)kind;
        uint64_t epoch = 0, index = 0, reason = 0;
        if ((kind == MC_EVENT_ROTATION_STARTED || kind == MC_EVENT_ROTATION_COMPLETED) &&
            (number(o, "joining", max, &e.joining_node_id) < 0 || number(o, "epoch", 4294967295.0, &epoch) < 0 ||
             number(o, "member_index", MC_CHAIN_MAX_NODES - 1, &index) < 0 || number(o, "reason", 3, &reason) < 0 ||
             number(o, "height", max, &e.height) < 0)) {
            rc = cohort_error_set(err, COMMON_E_INVALID, DOMAIN, "state: rotation event %zu is malformed", a->nevents);
            goto out;
        }
        e.epoch = (uint32_t)epoch;
        e.member_index = (unsigned)index;
        e.reason = (enum mc_rotation_reason)reason;
        e.first_slot = (unsigned)first;
        e.size = (unsigned)size;
        e.port = (uint16_t)port;
        snprintf(e.name, sizeof e.name, "%s", name->valuestring);
        const cJSON *node;
        cJSON_ArrayForEach(node, nodes)
        {
            if (!cJSON_IsNumber(node) || node->valuedouble < 0) {
                rc = cohort_error_set(err, COMMON_E_INVALID, DOMAIN, "state: event %zu has a bad node id", a->nevents);
                goto out;
            }
            e.node_ids[e.nnodes++] = (uint64_t)node->valuedouble;
        }
        /* Stored events were kept when applied; append them as they are. */
        if (a->nevents == a->cap) {
            size_t cap = a->cap ? a->cap * 2 : 64;
            struct mc_event *grown = realloc(a->events, cap * sizeof *grown);
            if (grown == NULL) {
                rc = cohort_error_set(err, COMMON_E_NOMEM, DOMAIN, "state: out of memory");
                goto out;
            }
            a->events = grown;
            a->cap = cap;
        }
        a->events[a->nevents++] = e;
    }
    a->changed = true;
out:
    cJSON_Delete(root);
    if (rc < 0) {
        assignments_free(a);
        assignments_init(a, node_id);
    }
    return rc;
}

int assignments_load(struct assignments *a, const char *path, struct cohort_error *err)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        if (errno == ENOENT) return 0; /* a new node: start from the deployment block */
        return cohort_error_errno(err, COMMON_E_IO, DOMAIN, errno, "state %s", path);
    }
    char *text = malloc(ASSIGNMENTS_MAX_BYTES + 1);
    size_t len = text ? fread(text, 1, ASSIGNMENTS_MAX_BYTES + 1, f) : 0;
    fclose(f);
    if (text == NULL) return cohort_error_set(err, COMMON_E_NOMEM, DOMAIN, "out of memory");
    /* A state of version 1 kept only this node's chains' events, and a rotation may need any
       chain's: it is built again from the manager's events, from the deployment block on
       (the same chains come out, so no container changes). */
    cJSON *probe = cJSON_ParseWithLength(text, len);
    const cJSON *version = cJSON_GetObjectItemCaseSensitive(probe, "version");
    double was = cJSON_IsNumber(version) ? version->valuedouble : 0;
    bool old = cJSON_IsNumber(version) && was < ASSIGNMENTS_VERSION;
    cJSON_Delete(probe);
    int rc = 0;
    if (old) {
        uint64_t node_id = a->node_id;
        assignments_free(a);
        assignments_init(a, node_id);
        log_info("the manager state file is of an older version: it is built again from the manager's events",
                 "path=%s version=%g", path, was);
    } else {
        rc = assignments_from_json(a, text, len, err);
    }
    free(text);
    if (rc < 0) cohort_error_wrap(err, "%s (move it away to rebuild from the manager)", path);
    return rc;
}

int assignments_save(const struct assignments *a, const char *path, struct cohort_error *err)
{
    char *text = assignments_to_json(a);
    if (text == NULL) return cohort_error_set(err, COMMON_E_NOMEM, DOMAIN, "out of memory");
    int rc = mc_write_file_atomic(path, text, strlen(text), 0600, err);
    free(text);
    return rc;
}

int assignments_deliver(void *ctx, const struct mc_log *logs, size_t count, const struct mc_cursor *after,
                        struct cohort_error *err)
{
    struct assignments_sink *s = ctx;
    struct assignments *a = s->assignments;
    size_t before = a->nevents;
    bool changed_before = a->changed;
    for (size_t i = 0; i < count; i++) {
        struct mc_event e;
        int rc = mc_manager_decode_event(&logs[i], &e, err);
        if (rc == MC_E_NOT_FOUND) continue; /* another event of the contract */
        if (rc < 0) {
            a->nevents = before;
            a->changed = changed_before;
            return rc;
        }
        if (assignments_apply(a, &e) && e.kind == MC_EVENT_ROTATION_STARTED)
            log_info("a rotation of a chain started", "chain=%llu epoch=%u leaving=%llu joining=%llu member_index=%u",
                     (unsigned long long)e.chain_id, e.epoch, (unsigned long long)e.node_id,
                     (unsigned long long)e.joining_node_id, e.member_index);
    }
    struct mc_cursor old = a->cursor;
    a->cursor = *after;
    int rc = assignments_save(a, s->path, err);
    if (rc < 0) {
        /* Not stored: undo, so the watcher delivers the batch again. */
        a->nevents = before;
        a->cursor = old;
        a->changed = changed_before;
    }
    return rc;
}

int assignments_rewind_sink(void *ctx, const struct mc_cursor *to, struct cohort_error *err)
{
    struct assignments_sink *s = ctx;
    assignments_rewind(s->assignments, to);
    return assignments_save(s->assignments, s->path, err);
}
