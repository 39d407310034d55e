/*
 * core_vote.c - votes and certificates (docs/bft.md "Protocol", rule 5).
 *
 * Records the votes a slot receives (one of each kind per member), forms a certificate
 * when a quorum agrees, casts this member's own votes, and sends and forwards
 * certificates. It changes the votes and certificates of a slot; what it sends goes
 * through core_output.c. Whether to vote at all is for the rules (core_rules.c).
 */
#include "bft/core_internal.h"

#include <assert.h>
#include <string.h>

/* Records member's vote in s; returns false for a duplicate or a second, different vote. */
bool core_record_vote(struct bft_core *core, struct slot *s, uint32_t member, const struct bft_vote *v,
                      const uint8_t sig[BFT_SIGNATURE_BYTES])
{
    assert(member < core->n);
    assert(v->height == s->height);
    switch ((enum bft_vote_kind)v->kind) {
    case BFT_VOTE_NOTARIZE:
        if (s->has_notarize[member]) {
            if (memcmp(s->notarize_hash[member], v->hash, BFT_HASH_BYTES) != 0) core->status.equivocations_seen++;
            return false;
        }
        s->has_notarize[member] = true;
        memcpy(s->notarize_hash[member], v->hash, BFT_HASH_BYTES);
        memcpy(s->notarize_sig[member], sig, BFT_SIGNATURE_BYTES);
        return true;
    case BFT_VOTE_NULLIFY:
        if (s->has_nullify[member]) return false;
        s->has_nullify[member] = true;
        memcpy(s->nullify_sig[member], sig, BFT_SIGNATURE_BYTES);
        return true;
    case BFT_VOTE_FINALIZE:
        if (s->has_finalize[member]) {
            if (memcmp(s->finalize_hash[member], v->hash, BFT_HASH_BYTES) != 0) core->status.equivocations_seen++;
            return false;
        }
        s->has_finalize[member] = true;
        memcpy(s->finalize_hash[member], v->hash, BFT_HASH_BYTES);
        memcpy(s->finalize_sig[member], sig, BFT_SIGNATURE_BYTES);
        return true;
    }
    return false;
}

/*
 * Sends a certificate to the members in the mask `to`: a notarization with its block when
 * this member has it (block, or NULL).
 */
void core_send_cert_block(struct bft_core *core, const struct bref *block, const struct bft_cert *cert, uint32_t to)
{
    core->out.type = BFT_MSG_CERT;
    core->out.commit.cert = *cert;
    core->out.has_block = cert->vote.kind == BFT_VOTE_NOTARIZE && block != NULL &&
                          memcmp(block->hash, cert->vote.hash, BFT_HASH_BYTES) == 0;
    if (core->out.has_block) {
        core->out.commit.block.header = *block->header;
        core->out.commit.block.payload = block->payload;
        core->out.commit.block.payload_len = block->payload_len;
    }
    core_send_message_to(core, to, &core->out);
}

static void send_cert(struct bft_core *core, struct slot *s, const struct bft_cert *cert, uint32_t to)
{
    struct bref b = {&s->header, s->block_hash, s->payload, s->payload_len};
    core_send_cert_block(core, s->has_block ? &b : NULL, cert, to);
}

void core_forward_cert(struct bft_core *core, struct slot *s, const struct bft_cert *cert, int peer)
{
    send_cert(core, s, cert, peer < 0 ? UINT32_MAX : 1u << peer);
}

/*
 * Rule 5 on a certificate this member has just learnt: it goes to every other member but
 * the one it came from (sender, or -1). Sending it only to the members whose vote is missing
 * was tried: on lossy networks (the simulator's 14-24% loss) members then nullified heights
 * they would have finalized, and some seeds ran into the window's liveness gap. The
 * envelope of a CERT is not signed (message.c), so forwarding costs no signature.
 */
void core_forward_new_cert(struct bft_core *core, struct slot *s, const struct bft_cert *cert, int sender)
{
    if (cert->vote.kind == BFT_VOTE_NOTARIZE) {
        s->forward_notarization = sender; /* at the end of the step: core_forward_notarizations */
        return;
    }
    send_cert(core, s, cert, sender < 0 ? UINT32_MAX : UINT32_MAX & ~(1u << sender));
}

/*
 * Sends the notarizations learnt in this step, after the step's rules ran: the finalize
 * vote this member casts on a new notarization is persisted by then, so the certificate
 * waits for the same sync as that vote and leaves with it, in one write per peer (one
 * wake-up there) instead of two. Only a member that missed the votes needs the
 * certificate; it gets it one fsync later.
 */
void core_forward_notarizations(struct bft_core *core)
{
    for (uint64_t h = core->base + 1; h <= core->base + core->window; h++) {
        struct slot *s = slot_if_held(core, h);
        if (s == NULL || s->forward_notarization == FORWARD_NONE) continue;
        int sender = s->forward_notarization;
        s->forward_notarization = FORWARD_NONE;
        send_cert(core, s, &s->notarization, sender < 0 ? UINT32_MAX : UINT32_MAX & ~(1u << sender));
    }
}

/* Builds a certificate for (kind, hash) from the votes in s if q members agree. */
static bool gather(struct bft_core *core, struct slot *s, uint8_t kind, const uint8_t hash[BFT_HASH_BYTES],
                   struct bft_cert *cert)
{
    memset(cert, 0, sizeof *cert);
    cert->vote.kind = kind;
    cert->vote.height = s->height;
    if (hash != NULL) memcpy(cert->vote.hash, hash, BFT_HASH_BYTES);
    for (uint32_t m = 0; m < core->n; m++) {
        const uint8_t *sig = NULL;
        if (kind == BFT_VOTE_NOTARIZE && s->has_notarize[m] && memcmp(s->notarize_hash[m], hash, BFT_HASH_BYTES) == 0)
            sig = s->notarize_sig[m];
        if (kind == BFT_VOTE_NULLIFY && s->has_nullify[m]) sig = s->nullify_sig[m];
        if (kind == BFT_VOTE_FINALIZE && s->has_finalize[m] && memcmp(s->finalize_hash[m], hash, BFT_HASH_BYTES) == 0)
            sig = s->finalize_sig[m];
        if (sig == NULL) continue;
        cert->signer[cert->count] = (uint16_t)m;
        memcpy(cert->signature[cert->count], sig, BFT_SIGNATURE_BYTES);
        cert->count++;
    }
    return cert->count >= core->q;
}

/* Forms whatever certificates the votes in s now allow, and forwards each new one. */
void core_check_quorums(struct bft_core *core, struct slot *s, const struct bft_vote *v)
{
    if (v->kind == BFT_VOTE_NOTARIZE && !s->notarized && gather(core, s, BFT_VOTE_NOTARIZE, v->hash, &s->notarization)) {
        s->notarized = true;
        core_forward_new_cert(core, s, &s->notarization, -1);
    }
    if (v->kind == BFT_VOTE_NULLIFY && !s->nullified && gather(core, s, BFT_VOTE_NULLIFY, NULL, &s->nullification)) {
        s->nullified = true;
        core_forward_new_cert(core, s, &s->nullification, -1);
    }
    if (v->kind == BFT_VOTE_FINALIZE && !s->finalized && gather(core, s, BFT_VOTE_FINALIZE, v->hash, &s->finalization)) {
        s->finalized = true;
        core_forward_new_cert(core, s, &s->finalization, -1);
    }
}

/* Signs and broadcasts this member's vote (kind, hash) at s, and counts it. The caller persisted it. */
void core_cast_vote(struct bft_core *core, struct slot *s, uint8_t kind, const uint8_t *hash, int peer)
{
    core->out.type = BFT_MSG_VOTE;
    core->out.has_block = false;
    core->out.vote.kind = kind;
    core->out.vote.height = s->height;
    memset(core->out.vote.hash, 0, BFT_HASH_BYTES);
    if (hash != NULL) memcpy(core->out.vote.hash, hash, BFT_HASH_BYTES);
    size_t before = core->arena_len;
    if (!core_send_message(core, peer, &core->out)) return; /* dropped: the next timeout re-sends */
    /* The signature ends the message just written; our own vote counts like any other. */
    const uint8_t *sig = core->arena + core->arena_len - BFT_SIGNATURE_BYTES;
    assert(core->arena_len > before);
    struct bft_vote v = core->out.vote;
    if (core_record_vote(core, s, core->config.self, &v, sig)) core_check_quorums(core, s, &v);
}
