/* members.c - the members document that changes the cluster's membership (config.h, part 1b). */
#include "config/config.h"

#include <stdio.h>
#include <string.h>

#include "common/hex.h"
#include "common/keccak.h"
#include "common/secp.h"

#define DOMAIN "config"
#define MAGIC "CCM1"
#define HEADER_BYTES 17 /* magic 4 | instance 8 | epoch 4 | count 1 */
#define SIGNED_PREFIX "cohort-config-members-v1"

#define BAD(...) cohort_error_set(err, CS_E_INVALID, DOMAIN, "members document: " __VA_ARGS__)

static void put_be(uint8_t *p, uint64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--, v >>= 8) p[i] = (uint8_t)v;
}

static uint64_t get_be(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++) v = v << 8 | p[i];
    return v;
}

static void signed_hash(const uint8_t *bytes, size_t len, uint8_t out[32])
{
    struct keccak256_ctx st;
    keccak256_init(&st);
    keccak256_update(&st, SIGNED_PREFIX, sizeof SIGNED_PREFIX - 1);
    keccak256_update(&st, bytes, len);
    keccak256_final(&st, out);
}

/* The rules every document meets, encoded or decoded: counts, no duplicates, endpoints that parse. */
static int check_members(const struct cs_members_doc *doc, struct cohort_error *err)
{
    if (doc->epoch < 1) return BAD("epoch %u: the first change makes epoch 1 (0 is the cluster file's)", doc->epoch);
    if (doc->count < CS_MEMBERS_MIN || doc->count > CS_MEMBERS_MAX)
        return BAD("%u members; a cluster has %d to %d", doc->count, CS_MEMBERS_MIN, CS_MEMBERS_MAX);
    for (uint32_t i = 0; i < doc->count; i++) {
        char ip[16];
        uint16_t port;
        struct cohort_error e = {0};
        if (bft_endpoint_parse(doc->endpoint[i], ip, &port, &e) < 0)
            return BAD("member %u: %s", i, e.message);
        for (uint32_t j = 0; j < i; j++) {
            if (memcmp(doc->address[i], doc->address[j], 20) == 0) return BAD("members %u and %u have one address", j, i);
            if (strcmp(doc->endpoint[i], doc->endpoint[j]) == 0) return BAD("members %u and %u have one endpoint", j, i);
        }
    }
    return 0;
}

int cs_members_encode(const struct cs_members_doc *doc, const uint8_t admin_key[32], uint8_t *out, size_t cap,
                      size_t *out_len, struct cohort_error *err)
{
    int rc = check_members(doc, err);
    if (rc < 0) return rc;
    size_t need = HEADER_BYTES + CS_SIGNATURE_BYTES;
    for (uint32_t i = 0; i < doc->count; i++) need += 21 + strlen(doc->endpoint[i]);
    if (need > cap) return cohort_error_set(err, CS_E_RANGE, DOMAIN, "members document: %zu bytes, room for %zu", need, cap);
    uint8_t *p = out;
    memcpy(p, MAGIC, 4);
    put_be(p + 4, doc->instance, 8);
    put_be(p + 12, doc->epoch, 4);
    p[16] = (uint8_t)doc->count;
    p += HEADER_BYTES;
    for (uint32_t i = 0; i < doc->count; i++) {
        size_t n = strlen(doc->endpoint[i]);
        memcpy(p, doc->address[i], 20);
        p[20] = (uint8_t)n;
        memcpy(p + 21, doc->endpoint[i], n);
        p += 21 + n;
    }
    uint8_t hash[32];
    signed_hash(out, (size_t)(p - out), hash);
    if (secp_sign(admin_key, hash, p, err) < 0) return cohort_error_wrap(err, "members document: signing");
    *out_len = need;
    return 0;
}

int cs_members_decode(const uint8_t *bytes, size_t len, struct cs_members_doc *out, struct cohort_error *err)
{
    memset(out, 0, sizeof *out);
    if (len > CS_MEMBERS_DOC_MAX)
        return cohort_error_set(err, CS_E_RANGE, DOMAIN, "members document: %zu bytes, over the cap of %d", len,
                                CS_MEMBERS_DOC_MAX);
    if (len < HEADER_BYTES + CS_SIGNATURE_BYTES) return BAD("%zu bytes, too short", len);
    if (memcmp(bytes, MAGIC, 4) != 0) return BAD("no CCM1 magic at offset 0");
    out->instance = get_be(bytes + 4, 8);
    out->epoch = (uint32_t)get_be(bytes + 12, 4);
    out->count = bytes[16];
    if (out->count > CS_MEMBERS_MAX) return BAD("%u members at offset 16, over the cap of %d", out->count, CS_MEMBERS_MAX);
    size_t pos = HEADER_BYTES, end = len - CS_SIGNATURE_BYTES;
    for (uint32_t i = 0; i < out->count; i++) {
        if (end - pos < 21) return BAD("member %u at offset %zu is cut off", i, pos);
        size_t n = bytes[pos + 20];
        if (n == 0 || n >= BFT_ENDPOINT_MAX || n > end - pos - 21)
            return BAD("member %u: endpoint length %zu at offset %zu", i, n, pos + 20);
        memcpy(out->address[i], bytes + pos, 20);
        memcpy(out->endpoint[i], bytes + pos + 21, n);
        out->endpoint[i][n] = '\0';
        if (memchr(out->endpoint[i], '\0', n) != NULL) return BAD("member %u: a NUL in the endpoint", i);
        pos += 21 + n;
    }
    if (pos != end) return BAD("%zu bytes after the members, before the signature", end - pos);
    int rc = check_members(out, err);
    if (rc < 0) return rc;
    uint8_t hash[32];
    signed_hash(bytes, end, hash);
    struct cohort_error e = {0};
    if (secp_recover_address(hash, bytes + end, SECP_S_LOW, out->signer, &e) < 0)
        return BAD("the signature recovers no signer: %s", e.message);
    keccak256(bytes, len, out->hash);
    return 0;
}

int cs_members_check_cluster(const struct cs_members_doc *doc, const struct cluster *cluster,
                             struct cohort_error *err)
{
    if (doc->instance != cluster->instance)
        return BAD("for cluster instance %llu, this is %llu", (unsigned long long)doc->instance,
                   (unsigned long long)cluster->instance);
    for (uint32_t i = 0; i < cluster->nadmins; i++)
        if (memcmp(cluster->admin[i], doc->signer, 20) == 0) return 0;
    return cohort_error_set(err, CS_E_UNAUTHORIZED, DOMAIN, "members document: not signed by an admin of the cluster file");
}

uint64_t cs_epoch_instance(uint64_t instance, const uint8_t doc_hash[32])
{
    uint8_t buf[12 + 8 + 32], out[32];
    memcpy(buf, "cohort-epoch", 12);
    put_be(buf + 12, instance, 8);
    memcpy(buf + 20, doc_hash, 32);
    keccak256(buf, sizeof buf, out);
    /* The cluster file's instances stay below 2^53 (JSON numbers); an epoch's is any u64 but those. */
    uint64_t v = get_be(out, 8);
    return v < (UINT64_C(1) << 53) ? v | (UINT64_C(1) << 63) : v;
}

int cs_members_check_change(const uint8_t (*from)[20], size_t nfrom, const struct cs_members_doc *to,
                            struct cohort_error *err)
{
    /* Kept members keep their order; one is appended (add) or one is left out (remove). */
    if (to->count == nfrom + 1) {
        for (size_t i = 0; i < nfrom; i++)
            if (memcmp(from[i], to->address[i], 20) != 0)
                return BAD("an added member goes last; member %zu is not the current member %zu", i, i);
        for (size_t i = 0; i < nfrom; i++)
            if (memcmp(from[i], to->address[nfrom], 20) == 0) return BAD("the added member is a member already");
        return 0;
    }
    if (to->count + 1 == nfrom) {
        size_t skip = nfrom, j = 0;
        for (size_t i = 0; i < nfrom; i++) {
            if (j < to->count && memcmp(from[i], to->address[j], 20) == 0) {
                j++;
                continue;
            }
            if (skip != nfrom) return BAD("more than one member is left out");
            skip = i;
        }
        if (j != to->count) return BAD("a member that is not a current member appears in a removal");
        return 0;
    }
    return BAD("%u members after %zu: a change adds or removes exactly one member", to->count, nfrom);
}
