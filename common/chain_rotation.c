/*
 * chain_rotation.c - the rotation record, VOUCH and CHANGE entries (chain_rotation.h).
 */
#include "common/chain_rotation.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "common/bytes.h"
#include "common/keccak.h"
#include "common/secp.h"

#define DOMAIN "rotation"

void rotation_record_encode(const struct rotation_record *r, uint8_t out[ROTATION_RECORD_BYTES])
{
    uint8_t *p = out;
    be_put(p, r->epoch, 4);
    p += 4;
    be_put(p, r->member_index, 2);
    p += 2;
    be_put(p, r->leaving_node_id, 8);
    p += 8;
    be_put(p, r->joining.node_id, 8);
    p += 8;
    struct in_addr a = {0};
    inet_pton(AF_INET, r->joining.ip, &a);
    memcpy(p, &a.s_addr, 4); /* network order: the address's bytes as written */
    p += 4;
    be_put(p, r->joining.base_port, 2);
    p += 2;
    be_put(p, r->joining.first_slot, 2);
    p += 2;
    memcpy(p, r->joining.public_key, 64);
}

int rotation_record_decode(const uint8_t in[ROTATION_RECORD_BYTES], struct rotation_record *out, struct cohort_error *err)
{
    memset(out, 0, sizeof *out);
    const uint8_t *p = in;
    out->epoch = (uint32_t)be_get(p, 4);
    p += 4;
    out->member_index = (uint16_t)be_get(p, 2);
    p += 2;
    out->leaving_node_id = be_get(p, 8);
    p += 8;
    out->joining.node_id = be_get(p, 8);
    p += 8;
    if (p[0] == 0 && p[1] == 0 && p[2] == 0 && p[3] == 0)
        return cohort_error_set(err, COMMON_E_INVALID, DOMAIN, "rotation record: the joining node's address is 0.0.0.0");
    snprintf(out->joining.ip, sizeof out->joining.ip, "%u.%u.%u.%u", p[0], p[1], p[2], p[3]);
    p += 4;
    out->joining.base_port = (uint16_t)be_get(p, 2);
    p += 2;
    out->joining.first_slot = (unsigned)be_get(p, 2);
    p += 2;
    memcpy(out->joining.public_key, p, 64);
    if (out->epoch == 0) return cohort_error_set(err, COMMON_E_INVALID, DOMAIN, "rotation record: epoch 0 (the first epoch has no rotation)");
    if (out->member_index >= CHAIN_CONFIG_MAX_MEMBERS)
        return cohort_error_set(err, COMMON_E_INVALID, DOMAIN, "rotation record: member index %u is over %d",
                                out->member_index, CHAIN_CONFIG_MAX_MEMBERS - 1);
    if (out->joining.base_port == 0 || out->joining.first_slot >= 128)
        return cohort_error_set(err, COMMON_E_INVALID, DOMAIN, "rotation record: the joining node's port %u or slot %u is out of range",
                                out->joining.base_port, out->joining.first_slot);
    if (out->joining.node_id == out->leaving_node_id)
        return cohort_error_set(err, COMMON_E_INVALID, DOMAIN, "rotation record: node %llu would replace itself",
                                (unsigned long long)out->leaving_node_id);
    return 0;
}

void rotation_vouch_digest(const struct chain_config *config, const uint8_t record[ROTATION_RECORD_BYTES], uint8_t out[32])
{
    static const char tag[] = "cohort-rotation-v1";
    uint8_t buf[sizeof tag - 1 + 8 + 20 + 8 + ROTATION_RECORD_BYTES];
    uint8_t *p = buf;
    memcpy(p, tag, sizeof tag - 1);
    p += sizeof tag - 1;
    be_put(p, config->manager_chain_id, 8);
    p += 8;
    memcpy(p, config->manager_address, 20);
    p += 20;
    be_put(p, config->chain_id, 8);
    p += 8;
    memcpy(p, record, ROTATION_RECORD_BYTES);
    keccak256(buf, sizeof buf, out);
}

void rotation_vouch_encode(uint16_t voucher, uint64_t sequence, const uint8_t record[ROTATION_RECORD_BYTES],
                           const uint8_t signature[ROTATION_SIGNATURE_BYTES], uint8_t out[ROTATION_VOUCH_BYTES])
{
    out[0] = ROTATION_VOUCH_MAGIC;
    out[1] = ROTATION_VERSION;
    be_put(out + 2, voucher, 2);
    be_put(out + 4, sequence, 8);
    memcpy(out + 12, record, ROTATION_RECORD_BYTES);
    memcpy(out + 12 + ROTATION_RECORD_BYTES, signature, ROTATION_SIGNATURE_BYTES);
}

size_t rotation_change_encode(const struct rotation_change *c, uint8_t *out)
{
    out[0] = ROTATION_CHANGE_MAGIC;
    out[1] = ROTATION_VERSION;
    memcpy(out + 2, c->record_bytes, ROTATION_RECORD_BYTES);
    out[2 + ROTATION_RECORD_BYTES] = c->count;
    size_t at = ROTATION_CHANGE_HEADER_BYTES;
    for (unsigned i = 0; i < c->count; i++) {
        be_put(out + at, c->voucher[i], 2);
        memcpy(out + at + 2, c->signature[i], ROTATION_SIGNATURE_BYTES);
        at += 2 + ROTATION_SIGNATURE_BYTES;
    }
    return at;
}

int rotation_vouch_decode(const uint8_t *entry, size_t len, struct rotation_vouch *out, struct cohort_error *err)
{
    if (len < 1 || entry[0] != ROTATION_VOUCH_MAGIC) return 0;
    if (len != ROTATION_VOUCH_BYTES || entry[1] != ROTATION_VERSION)
        return cohort_error_set(err, COMMON_E_INVALID, DOMAIN, "vouch entry: %zu bytes of version %u, expected %d of version %d",
                                len, len > 1 ? entry[1] : 0u, ROTATION_VOUCH_BYTES, ROTATION_VERSION);
    out->voucher = (uint16_t)be_get(entry + 2, 2);
    out->sequence = be_get(entry + 4, 8);
    memcpy(out->record_bytes, entry + 12, ROTATION_RECORD_BYTES);
    memcpy(out->signature, entry + 12 + ROTATION_RECORD_BYTES, ROTATION_SIGNATURE_BYTES);
    if (out->voucher >= CHAIN_CONFIG_MAX_MEMBERS)
        return cohort_error_set(err, COMMON_E_INVALID, DOMAIN, "vouch entry: voucher %u is over %d", out->voucher,
                                CHAIN_CONFIG_MAX_MEMBERS - 1);
    int rc = rotation_record_decode(out->record_bytes, &out->record, err);
    return rc < 0 ? rc : 1;
}

int rotation_change_decode(const uint8_t *entry, size_t len, struct rotation_change *out, struct cohort_error *err)
{
    if (len < 1 || entry[0] != ROTATION_CHANGE_MAGIC) return 0;
    if (len < ROTATION_CHANGE_HEADER_BYTES || entry[1] != ROTATION_VERSION)
        return cohort_error_set(err, COMMON_E_INVALID, DOMAIN, "change entry: %zu bytes of version %u, expected version %d",
                                len, len > 1 ? entry[1] : 0u, ROTATION_VERSION);
    memcpy(out->record_bytes, entry + 2, ROTATION_RECORD_BYTES);
    out->count = entry[2 + ROTATION_RECORD_BYTES];
    if (out->count == 0 || out->count > CHAIN_CONFIG_MAX_MEMBERS ||
        len != ROTATION_CHANGE_HEADER_BYTES + (size_t)out->count * (2 + ROTATION_SIGNATURE_BYTES))
        return cohort_error_set(err, COMMON_E_INVALID, DOMAIN, "change entry: %zu bytes for %u vouchers (1..%d)", len,
                                out->count, CHAIN_CONFIG_MAX_MEMBERS);
    size_t at = ROTATION_CHANGE_HEADER_BYTES;
    for (unsigned i = 0; i < out->count; i++) {
        out->voucher[i] = (uint16_t)be_get(entry + at, 2);
        if (out->voucher[i] >= CHAIN_CONFIG_MAX_MEMBERS)
            return cohort_error_set(err, COMMON_E_INVALID, DOMAIN, "change entry: voucher %u is over %d", out->voucher[i],
                                    CHAIN_CONFIG_MAX_MEMBERS - 1);
        for (unsigned j = 0; j < i; j++)
            if (out->voucher[j] == out->voucher[i])
                return cohort_error_set(err, COMMON_E_INVALID, DOMAIN, "change entry: voucher %u is listed twice",
                                        out->voucher[i]);
        memcpy(out->signature[i], entry + at + 2, ROTATION_SIGNATURE_BYTES);
        at += 2 + ROTATION_SIGNATURE_BYTES;
    }
    int rc = rotation_record_decode(out->record_bytes, &out->record, err);
    return rc < 0 ? rc : 1;
}

int rotation_record_check(const struct chain_config *config, const struct rotation_record *r, struct cohort_error *err)
{
    if (r->epoch != config->epoch + 1)
        return cohort_error_set(err, COMMON_E_INVALID, DOMAIN, "rotation to epoch %u: the chain is in epoch %u", r->epoch,
                                config->epoch);
    if (r->member_index >= config->nmembers || config->members[r->member_index].node_id != r->leaving_node_id)
        return cohort_error_set(err, COMMON_E_INVALID, DOMAIN, "rotation to epoch %u: node %llu is not member %u", r->epoch,
                                (unsigned long long)r->leaving_node_id, r->member_index);
    for (unsigned i = 0; i < config->nmembers; i++)
        if (config->members[i].node_id == r->joining.node_id)
            return cohort_error_set(err, COMMON_E_INVALID, DOMAIN, "rotation to epoch %u: node %llu is a member already",
                                    r->epoch, (unsigned long long)r->joining.node_id);
    if ((uint32_t)r->joining.base_port + (r->joining.first_slot + config->slots) * CHAIN_PORTS_PER_SLOT - 1 > 65535 ||
        r->joining.first_slot + config->slots > 128)
        return cohort_error_set(err, COMMON_E_INVALID, DOMAIN, "rotation to epoch %u: the joining node's ports are out of range",
                                r->epoch);
    return 0;
}

bool rotation_vouch_valid(const struct chain_config *config, uint16_t voucher, const uint8_t record[ROTATION_RECORD_BYTES],
                          const uint8_t signature[ROTATION_SIGNATURE_BYTES])
{
    if (voucher >= config->nmembers) return false;
    uint8_t digest[32], signer[20], expected[20];
    rotation_vouch_digest(config, record, digest);
    if (secp_recover_address(digest, signature, SECP_S_LOW, signer, NULL) < 0) return false;
    address_from_pubkey(config->members[voucher].public_key, expected);
    return memcmp(signer, expected, 20) == 0;
}

int rotation_change_check(const struct chain_config *config, const struct rotation_change *c, struct cohort_error *err)
{
    int rc = rotation_record_check(config, &c->record, err);
    if (rc < 0) return rc;
    unsigned valid = 0, needed = (config->nmembers - 1) / 3 + 1;
    for (unsigned i = 0; i < c->count; i++)
        if (rotation_vouch_valid(config, c->voucher[i], c->record_bytes, c->signature[i])) valid++;
    if (valid < needed)
        return cohort_error_set(err, COMMON_E_INVALID, DOMAIN, "change to epoch %u: %u valid vouches of %u, %u needed",
                                c->record.epoch, valid, c->count, needed);
    return 0;
}

void rotation_apply(const struct chain_config *config, const struct rotation_record *r, struct chain_config *next)
{
    *next = *config;
    next->epoch = r->epoch;
    next->members[r->member_index] = r->joining;
    next->member_index = next->nmembers; /* none, unless this node is among them */
    for (unsigned i = 0; i < next->nmembers; i++)
        if (next->members[i].node_id == next->node_id) next->member_index = i;
}

uint64_t rotation_instance(const char *name, uint32_t epoch)
{
    uint8_t h[32];
    if (epoch == 0) {
        keccak256(name, strlen(name), h);
    } else {
        static const char tag[] = "cohort-chain-epoch";
        uint8_t buf[sizeof tag - 1 + CHAIN_CONFIG_NAME_MAX + 4];
        size_t n = strlen(name);
        if (n > CHAIN_CONFIG_NAME_MAX) n = CHAIN_CONFIG_NAME_MAX;
        memcpy(buf, tag, sizeof tag - 1);
        memcpy(buf + sizeof tag - 1, name, n);
        be_put(buf + sizeof tag - 1 + n, epoch, 4);
        keccak256(buf, sizeof tag - 1 + n + 4, h);
    }
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v = v << 8 | h[i];
    return v;
}

/* keccak256(abi.encode(keccak256(tag), manager chain id, manager address, v...)): the manager's statements. */
static void statement_digest(const char *tag, const struct chain_config *config, const uint64_t *v, size_t n,
                             uint8_t out[32])
{
    uint8_t words[8][32];
    memset(words, 0, sizeof words);
    keccak256(tag, strlen(tag), words[0]);
    be_put(words[1] + 24, config->manager_chain_id, 8);
    memcpy(words[2] + 12, config->manager_address, 20);
    for (size_t i = 0; i < n && i < 5; i++) be_put(words[3 + i] + 24, v[i], 8);
    keccak256(words, 32 * (3 + n), out);
}

void rotation_done_digest(const struct chain_config *config, uint32_t epoch, uint64_t height, uint64_t leaving_node_id,
                          uint64_t joining_node_id, uint8_t out[32])
{
    const uint64_t v[5] = {config->chain_id, epoch, height, leaving_node_id, joining_node_id};
    statement_digest("cohort rotation done v1", config, v, 5, out);
}

void rotation_absence_digest(const struct chain_config *config, uint32_t epoch, uint64_t node_id, uint64_t since,
                             uint8_t out[32])
{
    const uint64_t v[4] = {config->chain_id, epoch, node_id, since};
    statement_digest("cohort member absent v1", config, v, 4, out);
}

void rotation_absent_encode(const struct rotation_absent *a, uint8_t out[ROTATION_ABSENT_BYTES])
{
    out[0] = ROTATION_ABSENT_MAGIC;
    out[1] = ROTATION_VERSION;
    be_put(out + 2, a->signer, 2);
    be_put(out + 4, a->epoch, 4);
    be_put(out + 8, a->node_id, 8);
    be_put(out + 16, a->since, 8);
    memcpy(out + 24, a->signature, ROTATION_SIGNATURE_BYTES);
}

int rotation_absent_decode(const uint8_t *entry, size_t len, struct rotation_absent *out, struct cohort_error *err)
{
    if (len < 1 || entry[0] != ROTATION_ABSENT_MAGIC) return 0;
    if (len != ROTATION_ABSENT_BYTES || entry[1] != ROTATION_VERSION)
        return cohort_error_set(err, COMMON_E_INVALID, DOMAIN,
                                "absent entry: %zu bytes of version %u, expected %d of version %d", len,
                                len > 1 ? entry[1] : 0u, ROTATION_ABSENT_BYTES, ROTATION_VERSION);
    out->signer = (uint16_t)be_get(entry + 2, 2);
    out->epoch = (uint32_t)be_get(entry + 4, 4);
    out->node_id = be_get(entry + 8, 8);
    out->since = be_get(entry + 16, 8);
    memcpy(out->signature, entry + 24, ROTATION_SIGNATURE_BYTES);
    if (out->signer >= CHAIN_CONFIG_MAX_MEMBERS)
        return cohort_error_set(err, COMMON_E_INVALID, DOMAIN, "absent entry: signer %u is over %d", out->signer,
                                CHAIN_CONFIG_MAX_MEMBERS - 1);
    if (out->signature[64] != 27 && out->signature[64] != 28)
        return cohort_error_set(err, COMMON_E_INVALID, DOMAIN, "absent entry: signature v %u is not 27 or 28",
                                out->signature[64]);
    return 1;
}

void rotation_done_encode(const struct rotation_done *d, uint8_t out[ROTATION_DONE_BYTES])
{
    out[0] = ROTATION_DONE_MAGIC;
    out[1] = ROTATION_VERSION;
    be_put(out + 2, d->member, 2);
    be_put(out + 4, d->epoch, 4);
    be_put(out + 8, d->height, 8);
    memcpy(out + 16, d->signature, ROTATION_SIGNATURE_BYTES);
}

int rotation_done_decode(const uint8_t *entry, size_t len, struct rotation_done *out, struct cohort_error *err)
{
    if (len < 1 || entry[0] != ROTATION_DONE_MAGIC) return 0;
    if (len != ROTATION_DONE_BYTES || entry[1] != ROTATION_VERSION)
        return cohort_error_set(err, COMMON_E_INVALID, DOMAIN, "done entry: %zu bytes of version %u, expected %d of version %d",
                                len, len > 1 ? entry[1] : 0u, ROTATION_DONE_BYTES, ROTATION_VERSION);
    out->member = (uint16_t)be_get(entry + 2, 2);
    out->epoch = (uint32_t)be_get(entry + 4, 4);
    out->height = be_get(entry + 8, 8);
    memcpy(out->signature, entry + 16, ROTATION_SIGNATURE_BYTES);
    if (out->member >= CHAIN_CONFIG_MAX_MEMBERS)
        return cohort_error_set(err, COMMON_E_INVALID, DOMAIN, "done entry: member %u is over %d", out->member,
                                CHAIN_CONFIG_MAX_MEMBERS - 1);
    if (out->signature[64] != 27 && out->signature[64] != 28)
        return cohort_error_set(err, COMMON_E_INVALID, DOMAIN, "done entry: signature v %u is not 27 or 28",
                                out->signature[64]);
    return 1;
}

bool rotation_statement_valid(const struct chain_config *config, uint16_t member, const uint8_t digest[32],
                              const uint8_t signature[ROTATION_SIGNATURE_BYTES])
{
    if (member >= config->nmembers || (signature[64] != 27 && signature[64] != 28)) return false;
    uint8_t sig[ROTATION_SIGNATURE_BYTES], signer[20], expected[20];
    memcpy(sig, signature, sizeof sig);
    sig[64] = (uint8_t)(sig[64] - 27);
    if (secp_recover_address(digest, sig, SECP_S_LOW, signer, NULL) < 0) return false;
    address_from_pubkey(config->members[member].public_key, expected);
    return memcmp(signer, expected, 20) == 0;
}
