/*
 * rotation.c - signing and sending the completion of this node's chains' rotations
 * (rotation.h).
 */
#include "core/rotation.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/bytes.h"
#include "common/chain_rotation.h"
#include "common/hex.h"
#include "common/log.h"
#include "core/subnode_status.h"

static struct rotation_duty *duty_of(struct rotations *r, const char *chain, uint32_t epoch)
{
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->duties[i].chain, chain) == 0) {
            if (r->duties[i].epoch != epoch) { /* a later rotation of the chain: start over */
                memset(&r->duties[i], 0, sizeof r->duties[i]);
                snprintf(r->duties[i].chain, sizeof r->duties[i].chain, "%s", chain);
                r->duties[i].epoch = epoch;
            }
            return &r->duties[i];
        }
    if (r->n == RECONCILE_MAX) return NULL;
    struct rotation_duty *d = &r->duties[r->n++];
    memset(d, 0, sizeof *d);
    snprintf(d->chain, sizeof d->chain, "%s", chain);
    d->epoch = epoch;
    return d;
}

/* This node's signature that the rotation is done from block height, into the volume: true when written. */
static bool write_done(struct provisioner *p, const struct assignment *a, const struct mc_deployment *d,
                       const uint8_t node_key[32], const struct rotation_record *r, uint64_t height)
{
    uint8_t bytes[4 + 8 + MC_STATEMENT_SIGNATURE_BYTES], digest[32];
    struct cohort_error err = {0};
    be_put(bytes, r->epoch, 4);
    be_put(bytes + 4, height, 8);
    mc_rotation_digest(d, a->config.chain_id, r->epoch, height, r->leaving_node_id, r->joining.node_id, digest);
    if (mc_sign_statement(node_key, digest, bytes + 12, &err) != 0) {
        log_warn("rotation completion not signed", "chain=%s error=\"%s\"", a->config.name, err.message);
        return false;
    }
    char text[2 * sizeof bytes + 4], volume[DOCKER_NAME_MAX], mountpoint[4096];
    hex_encode(bytes, sizeof bytes, text, sizeof text);
    strcat(text, "\n");
    provision_volume_name(p, a->config.name, volume, sizeof volume);
    if (docker_volume_inspect(p->docker, volume, mountpoint, sizeof mountpoint, &err) < 0 ||
        provision_write_volume_file(mountpoint, ROTATION_DONE_FILE, text, 0644, 0, &err) < 0) {
        log_warn("rotation completion not written into the volume", "chain=%s error=\"%s\"", a->config.name, err.message);
        return false;
    }
    log_info("this node signs that the chain's rotation is done", "chain=%s epoch=%u first_block=%llu", a->config.name,
             r->epoch, (unsigned long long)height);
    return true;
}

/* A status list of statements, [{"member": i, "signature": "0x.."}, ...], into members and
   signatures (CHAIN_CONFIG_MAX_MEMBERS at most). */
static size_t parse_signatures(const cJSON *list, uint16_t *members, uint8_t (*signatures)[MC_STATEMENT_SIGNATURE_BYTES])
{
    size_t n = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, list)
    {
        const cJSON *m = cJSON_GetObjectItem(item, "member");
        const char *sig = cJSON_GetStringValue(cJSON_GetObjectItem(item, "signature"));
        if (n == CHAIN_CONFIG_MAX_MEMBERS || !cJSON_IsNumber(m) || sig == NULL ||
            hex_decode_exact(sig, signatures[n], MC_STATEMENT_SIGNATURE_BYTES, NULL) != 0)
            continue;
        members[n++] = (uint16_t)m->valuedouble;
    }
    return n;
}

/*
 * Whether this member (self_index) sends now: the signers of lower member index go first,
 * ROTATION_TURN_MS apart from when the signatures were first enough (*ready_since_ms, set
 * here), and nobody sends again within ROTATION_RETRY_MS of its last (*last_submit_ms, set
 * when it is this member's turn).
 */
static bool my_turn(const uint16_t *signers, size_t count, unsigned self_index, int64_t *ready_since_ms,
                    int64_t *last_submit_ms, int64_t now_ms)
{
    if (*ready_since_ms == 0) *ready_since_ms = now_ms;
    unsigned rank = 0;
    bool signer = false;
    for (size_t i = 0; i < count; i++) {
        if (signers[i] < self_index) rank++;
        if (signers[i] == self_index) signer = true;
    }
    if (!signer) rank = (unsigned)count;
    if (now_ms - *ready_since_ms < (int64_t)rank * ROTATION_TURN_MS) return false;
    if (*last_submit_ms != 0 && now_ms - *last_submit_ms < ROTATION_RETRY_MS) return false;
    *last_submit_ms = now_ms;
    return true;
}

static void step_one(struct rotations *rs, struct provisioner *p, const struct assignment *a, struct mc_rpc *rpc,
                     const struct mc_deployment *d, const uint8_t node_key[32], int64_t now_ms)
{
    struct rotation_record r;
    struct cohort_error err = {0};
    if (rotation_record_decode(a->rotation_record, &r, &err) != 0) return;
    struct rotation_duty *duty = duty_of(rs, a->config.name, r.epoch);
    if (duty == NULL) return;
    const struct chain_member *self = &a->config.members[a->config.member_index];
    cJSON *status = subnode_status_get(p->bind_address, chain_member_rpc_port(self));
    const cJSON *epoch = cJSON_GetObjectItem(cJSON_GetObjectItem(status, "chain"), "epoch");
    const cJSON *number = cJSON_GetObjectItem(epoch, "number"), *first = cJSON_GetObjectItem(epoch, "first_block");
    if (!cJSON_IsNumber(number) || (uint32_t)number->valuedouble != r.epoch) goto out; /* not switched (yet) */
    uint64_t height = cJSON_IsNumber(first) ? (uint64_t)first->valuedouble : 0;
    if (height != 0 && !duty->done_written) duty->done_written = write_done(p, a, d, node_key, &r, height);
    /* The signatures of f + 1 members of the new epoch (the subnode checked each against its
       member's node key). The joining node's subnode, which did not see the change, neither
       signs nor collects them: the members that switched by the change complete it. */
    uint16_t members[CHAIN_CONFIG_MAX_MEMBERS];
    static uint8_t signatures[CHAIN_CONFIG_MAX_MEMBERS][MC_STATEMENT_SIGNATURE_BYTES];
    const cJSON *done = cJSON_GetObjectItem(epoch, "done"), *done_height = cJSON_GetObjectItem(done, "height");
    if (height == 0 && cJSON_IsNumber(done_height)) height = (uint64_t)done_height->valuedouble;
    size_t count = height != 0 && cJSON_IsNumber(done_height) && (uint64_t)done_height->valuedouble == height
                       ? parse_signatures(cJSON_GetObjectItem(done, "signatures"), members, signatures)
                       : 0;
    unsigned needed = (a->config.nmembers - 1) / 3 + 1;
    if (count < needed ||
        !my_turn(members, count, a->config.member_index, &duty->ready_since_ms, &duty->last_submit_ms, now_ms))
        goto out;
    if (mc_manager_complete_rotation(rpc, node_key, d, a->config.chain_id, r.epoch, height,
                                     (const uint8_t(*)[MC_STATEMENT_SIGNATURE_BYTES])signatures, count, NULL, &err) == 0)
        log_info("rotation completed on the manager", "chain=%s epoch=%u first_block=%llu signatures=%zu", a->config.name,
                 r.epoch, (unsigned long long)height, count);
    else /* another member's completion came first (NoRotation), or the manager is away: again later */
        log_info("completeRotation not taken; the manager's events will say whether another member's was",
                 "chain=%s epoch=%u error=\"%s\"", a->config.name, r.epoch, err.message);
out:
    cJSON_Delete(status);
}

/* ---- Absence ---- */

static struct absence_watch *watch_of(struct rotations *r, const char *chain)
{
    for (size_t i = 0; i < r->nwatches; i++)
        if (strcmp(r->watches[i].chain, chain) == 0) return &r->watches[i];
    if (r->nwatches == RECONCILE_MAX) return NULL;
    struct absence_watch *w = &r->watches[r->nwatches++];
    memset(w, 0, sizeof *w);
    snprintf(w->chain, sizeof w->chain, "%s", chain);
    return w;
}

/* This node's statement that node has been absent since `since`, into the volume. */
static void write_absent(struct provisioner *p, const struct assignment *a, const struct mc_deployment *d,
                         const uint8_t node_key[32], uint32_t epoch, uint64_t node_id, uint64_t since)
{
    uint8_t bytes[8 + 8 + 4 + MC_STATEMENT_SIGNATURE_BYTES], digest[32];
    struct cohort_error err = {0};
    be_put(bytes, node_id, 8);
    be_put(bytes + 8, since, 8);
    be_put(bytes + 16, epoch, 4);
    mc_absence_digest(d, a->config.chain_id, epoch, node_id, since, digest);
    char text[2 * sizeof bytes + 4], volume[DOCKER_NAME_MAX], mountpoint[4096];
    if (mc_sign_statement(node_key, digest, bytes + 20, &err) != 0) goto fail;
    hex_encode(bytes, sizeof bytes, text, sizeof text);
    strcat(text, "\n");
    provision_volume_name(p, a->config.name, volume, sizeof volume);
    if (docker_volume_inspect(p->docker, volume, mountpoint, sizeof mountpoint, &err) < 0 ||
        provision_write_volume_file(mountpoint, ROTATION_ABSENT_FILE, text, 0644, 0, &err) < 0)
        goto fail;
    log_warn("this node signs that a member of its chain is absent", "chain=%s node=%llu since=%llu", a->config.name,
             (unsigned long long)node_id, (unsigned long long)since);
    return;
fail:
    log_warn("absence statement not written", "chain=%s error=\"%s\"", a->config.name, err.message);
}

static void absence_one(struct rotations *rs, struct provisioner *p, const struct assignment *a, struct mc_rpc *rpc,
                        const struct mc_deployment *d, const uint8_t node_key[32], int64_t now_ms)
{
    struct absence_watch *w = watch_of(rs, a->config.name);
    if (w == NULL || now_ms - w->checked_ms < ABSENCE_CHECK_MS) return;
    w->checked_ms = now_ms;
    const struct chain_member *self = &a->config.members[a->config.member_index];
    cJSON *status = subnode_status_get(p->bind_address, chain_member_rpc_port(self));
    const cJSON *chain = cJSON_GetObjectItem(status, "chain");
    const cJSON *heard = cJSON_GetObjectItem(chain, "members_heard");
    const cJSON *epoch = cJSON_GetObjectItem(chain, "epoch");
    const cJSON *number = cJSON_GetObjectItem(epoch, "number");
    /* The subnode's epoch (past the config's after rotations: the config is the epoch this
       node entered) and its members, as the manager has them with no rotation in flight. */
    if (!cJSON_IsArray(heard) || !cJSON_IsNumber(number)) goto out;
    uint32_t epoch_now = (uint32_t)number->valuedouble;
    int64_t wall = (int64_t)time(NULL) * 1000;
    unsigned n = (unsigned)cJSON_GetArraySize(heard);
    uint16_t signers[CHAIN_CONFIG_MAX_MEMBERS];
    static uint8_t signatures[CHAIN_CONFIG_MAX_MEMBERS][MC_STATEMENT_SIGNATURE_BYTES];
    /* This node's member index now (its config's is the entry epoch's; the same unless a
       rotation moved this node, which it does not: a node keeps its index). */
    unsigned self_index = a->config.member_index;
    /* 1. Reports: a statement of the log with 2f + 1 signatures goes to the manager. */
    unsigned needed = 2 * ((n - 1) / 3) + 1;
    const cJSON *item;
    cJSON_ArrayForEach(item, cJSON_GetObjectItem(epoch, "absence"))
    {
        const cJSON *node = cJSON_GetObjectItem(item, "node"), *since = cJSON_GetObjectItem(item, "since");
        if (!cJSON_IsNumber(node) || !cJSON_IsNumber(since)) continue;
        size_t count = parse_signatures(cJSON_GetObjectItem(item, "signatures"), signers, signatures);
        if (count < needed) continue;
        if (!my_turn(signers, count, self_index, &w->ready_since_ms, &w->last_submit_ms, now_ms)) break;
        struct cohort_error err = {0};
        uint64_t node_id = (uint64_t)node->valuedouble, at = (uint64_t)since->valuedouble;
        if (mc_manager_report_absent(rpc, node_key, d, a->config.chain_id, node_id, at,
                                     (const uint8_t(*)[MC_STATEMENT_SIGNATURE_BYTES])signatures, count, NULL, &err) == 0)
            log_warn("a member's absence reported to the manager: its rotation starts", "chain=%s node=%llu since=%llu "
                     "signatures=%zu", a->config.name, (unsigned long long)node_id, (unsigned long long)at, count);
        else /* too early by the manager's clock, or another member's report came first */
            log_info("reportAbsent not taken; again later", "chain=%s node=%llu error=\"%s\"", a->config.name,
                     (unsigned long long)node_id, err.message);
        break;
    }
    /* 2. Statements: the first member silent for absence_ms. */
    for (unsigned m = 0; m < n; m++) {
        const cJSON *member = cJSON_GetArrayItem(heard, (int)m);
        const cJSON *t = cJSON_GetObjectItem(member, "heard_ms"), *id = cJSON_GetObjectItem(member, "node");
        if (!cJSON_IsNumber(t) || !cJSON_IsNumber(id) || (uint64_t)id->valuedouble == a->config.node_id ||
            wall - (int64_t)t->valuedouble < (int64_t)rs->absence_ms)
            continue;
        uint64_t node_id = (uint64_t)id->valuedouble;
        uint64_t since = (uint64_t)t->valuedouble / 1000;
        /* The latest `since` in the log that this node's silence agrees with (it has not heard
           the node since then either): the member that heard it last names the latest, which
           every other can sign too, so the statements meet on one (node, since). */
        cJSON_ArrayForEach(item, cJSON_GetObjectItem(epoch, "absence"))
        {
            const cJSON *node = cJSON_GetObjectItem(item, "node"), *s = cJSON_GetObjectItem(item, "since");
            if (cJSON_IsNumber(node) && cJSON_IsNumber(s) && (uint64_t)node->valuedouble == node_id &&
                (uint64_t)s->valuedouble * 1000 >= (uint64_t)t->valuedouble && (uint64_t)s->valuedouble > since)
                since = (uint64_t)s->valuedouble;
        }
        if (w->node_id != node_id || w->since != since) {
            write_absent(p, a, d, node_key, epoch_now, node_id, since);
            w->node_id = node_id;
            w->since = since;
        }
        break;
    }
out:
    cJSON_Delete(status);
}

void rotations_step(struct rotations *r, struct provisioner *p, struct mc_rpc *rpc, const struct mc_deployment *d,
                    const uint8_t node_key[32], int64_t now_ms)
{
    for (size_t i = 0; i < p->nassigned; i++) {
        const struct assignment *a = &p->assigned[i];
        if (a->rotation_open && a->member_after) step_one(r, p, a, rpc, d, node_key, now_ms);
        else if (!a->rotation_open) absence_one(r, p, a, rpc, d, node_key, now_ms);
    }
}
