/*
 * rotation.c - signing and sending the completion of this node's chains' rotations
 * (rotation.h).
 */
#include "core/rotation.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

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

/* This node's signature that the rotation is done from block height, into the volume. */
static void write_done(struct provisioner *p, const struct assignment *a, const struct mc_deployment *d,
                       const uint8_t node_key[32], const struct rotation_record *r, uint64_t height)
{
    uint8_t bytes[4 + 8 + MC_STATEMENT_SIGNATURE_BYTES], digest[32];
    struct cohort_error err = {0};
    be_put(bytes, r->epoch, 4);
    be_put(bytes + 4, height, 8);
    mc_rotation_digest(d, a->config.chain_id, r->epoch, height, r->leaving_node_id, r->joining.node_id, digest);
    if (mc_sign_statement(node_key, digest, bytes + 12, &err) != 0) {
        log_warn("rotation completion not signed", "chain=%s error=\"%s\"", a->config.name, err.message);
        return;
    }
    char text[2 * sizeof bytes + 4], volume[DOCKER_NAME_MAX], mountpoint[4096];
    hex_encode(bytes, sizeof bytes, text, sizeof text);
    strcat(text, "\n");
    provision_volume_name(p, a->config.name, volume, sizeof volume);
    if (docker_volume_inspect(p->docker, volume, mountpoint, sizeof mountpoint, &err) < 0 ||
        provision_write_volume_file(mountpoint, ROTATION_DONE_FILE, text, 0644, 0, &err) < 0) {
        log_warn("rotation completion not written into the volume", "chain=%s error=\"%s\"", a->config.name, err.message);
        return;
    }
    log_info("this node signs that the chain's rotation is done", "chain=%s epoch=%u first_block=%llu", a->config.name,
             r->epoch, (unsigned long long)height);
}

/* The members' DONE signatures the subnode's status shows for height (at most max). */
static size_t done_signatures(const cJSON *epoch, uint64_t height, uint16_t *members,
                              uint8_t (*signatures)[MC_STATEMENT_SIGNATURE_BYTES], size_t max)
{
    const cJSON *done = cJSON_GetObjectItem(epoch, "done");
    const cJSON *h = cJSON_GetObjectItem(done, "height");
    if (!cJSON_IsNumber(h) || (uint64_t)h->valuedouble != height) return 0;
    size_t n = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, cJSON_GetObjectItem(done, "signatures"))
    {
        const cJSON *m = cJSON_GetObjectItem(item, "member");
        const char *sig = cJSON_GetStringValue(cJSON_GetObjectItem(item, "signature"));
        if (n == max || !cJSON_IsNumber(m) || sig == NULL ||
            hex_decode_exact(sig, signatures[n], MC_STATEMENT_SIGNATURE_BYTES, NULL) != 0)
            continue;
        members[n++] = (uint16_t)m->valuedouble;
    }
    return n;
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
    if (height != 0 && !duty->done_written) {
        write_done(p, a, d, node_key, &r, height);
        duty->done_written = true;
    }
    /* The signatures of f + 1 members of the new epoch (the subnode checked each against its
       member's node key); the joining node, which did not see the change, learns the height
       from them. */
    uint16_t members[CHAIN_CONFIG_MAX_MEMBERS];
    static uint8_t signatures[CHAIN_CONFIG_MAX_MEMBERS][MC_STATEMENT_SIGNATURE_BYTES];
    const cJSON *done_height = cJSON_GetObjectItem(cJSON_GetObjectItem(epoch, "done"), "height");
    if (height == 0 && cJSON_IsNumber(done_height)) height = (uint64_t)done_height->valuedouble;
    size_t count = height ? done_signatures(epoch, height, members, signatures, CHAIN_CONFIG_MAX_MEMBERS) : 0;
    unsigned needed = (a->config.nmembers - 1) / 3 + 1;
    if (count < needed) goto out;
    if (duty->ready_since_ms == 0) duty->ready_since_ms = now_ms;
    unsigned rank = 0; /* signers of lower index than this node go first */
    bool signer = false;
    for (size_t i = 0; i < count; i++) {
        if (members[i] < a->config.member_index) rank++;
        if (members[i] == a->config.member_index) signer = true;
    }
    if (!signer) rank = (unsigned)count;
    if (now_ms - duty->ready_since_ms < (int64_t)rank * ROTATION_TURN_MS) goto out;
    if (duty->last_submit_ms != 0 && now_ms - duty->last_submit_ms < ROTATION_RETRY_MS) goto out;
    duty->last_submit_ms = now_ms;
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

void rotations_step(struct rotations *r, struct provisioner *p, struct mc_rpc *rpc, const struct mc_deployment *d,
                    const uint8_t node_key[32], int64_t now_ms)
{
    for (size_t i = 0; i < p->nassigned; i++) {
        const struct assignment *a = &p->assigned[i];
        if (a->rotation_open && a->member_after) step_one(r, p, a, rpc, d, node_key, now_ms);
    }
}
