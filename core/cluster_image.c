/* cluster_image.c - the image the cluster runs, signed by an admin (cluster_image.h). */
#include "core/cluster_image.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "common/hex.h"
#include "common/keccak.h"
#include "common/secp.h"

#define DOMAIN "core"
#define DOMAIN_TAG "cohort-cluster-image-v1"

int cluster_image_check_digest(const char *text, size_t len, struct cohort_error *err)
{
    if (len != CLUSTER_IMAGE_DIGEST_LEN || memcmp(text, "sha256:", 7) != 0)
        return cohort_error_set(err, COMMON_E_INVALID, DOMAIN,
                                "an image digest is \"sha256:\" and 64 hex digits, as `docker image inspect "
                                "--format '{{.Id}}' IMAGE` prints it");
    for (size_t i = 7; i < len; i++) {
        char c = text[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return cohort_error_set(err, COMMON_E_INVALID, DOMAIN,
                                    "image digest: character %zu is not a lower-case hex digit", i + 1);
    }
    return 0;
}

static void put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (56 - 8 * i));
}

void cluster_image_hash(uint64_t instance, uint64_t serial, const char *digest, uint8_t out[32])
{
    uint8_t nums[16];
    put_be64(nums, instance);
    put_be64(nums + 8, serial);
    struct keccak256_ctx k;
    keccak256_init(&k);
    keccak256_update(&k, DOMAIN_TAG, strlen(DOMAIN_TAG));
    keccak256_update(&k, nums, sizeof nums);
    keccak256_update(&k, digest, CLUSTER_IMAGE_DIGEST_LEN);
    keccak256_final(&k, out);
}

int cluster_image_sign(uint64_t instance, uint64_t serial, const char *digest, const uint8_t private_key[32],
                       char out[CLUSTER_IMAGE_MAX_BYTES], struct cohort_error *err)
{
    int rc = cluster_image_check_digest(digest, strlen(digest), err);
    if (rc < 0) return rc;
    if (serial == 0 || serial > CLUSTER_IMAGE_SERIAL_MAX)
        return cohort_error_set(err, COMMON_E_INVALID, DOMAIN, "image serial must be 1..%llu",
                                (unsigned long long)CLUSTER_IMAGE_SERIAL_MAX);
    uint8_t hash[32], sig[65];
    cluster_image_hash(instance, serial, digest, hash);
    rc = secp_sign(private_key, hash, sig, err);
    if (rc < 0) return rc;
    char sig_hex[2 * 65 + 3];
    hex_encode(sig, sizeof sig, sig_hex, sizeof sig_hex);
    snprintf(out, CLUSTER_IMAGE_MAX_BYTES, "{\"digest\":\"%s\",\"serial\":%llu,\"signature\":\"%s\"}", digest,
             (unsigned long long)serial, sig_hex);
    return 0;
}

#define BAD(...) cohort_error_set(err, COMMON_E_INVALID, DOMAIN, CLUSTER_IMAGE_KEY ": " __VA_ARGS__)

int cluster_image_parse(const char *value, size_t len, uint64_t instance, const uint8_t (*admins)[20],
                        size_t nadmins, struct cluster_image *out, struct cohort_error *err)
{
    if (len > CLUSTER_IMAGE_MAX_BYTES)
        return cohort_error_set(err, COMMON_E_RANGE, DOMAIN, CLUSTER_IMAGE_KEY ": %zu bytes, over the cap of %d", len,
                                CLUSTER_IMAGE_MAX_BYTES);
    cJSON *root = cJSON_ParseWithLength(value, len);
    int rc = 0;
    struct cohort_error e = {0};
    const cJSON *digest = cJSON_GetObjectItemCaseSensitive(root, "digest");
    const cJSON *serial = cJSON_GetObjectItemCaseSensitive(root, "serial");
    const cJSON *signature = cJSON_GetObjectItemCaseSensitive(root, "signature");
    uint8_t sig[65], hash[32], signer[20];
    if (!cJSON_IsObject(root)) {
        rc = BAD("not a JSON object; write it with `cohort cluster image set`");
    } else if (!cJSON_IsString(digest) || cluster_image_check_digest(digest->valuestring, strlen(digest->valuestring), &e) < 0) {
        rc = BAD("\"digest\": %s", cJSON_IsString(digest) ? e.message : "missing, or not a string");
    } else if (!cJSON_IsNumber(serial) || serial->valuedouble < 1 || serial->valuedouble > (double)CLUSTER_IMAGE_SERIAL_MAX ||
               serial->valuedouble != (double)(uint64_t)serial->valuedouble) {
        rc = BAD("\"serial\" must be a whole number from 1 to %llu", (unsigned long long)CLUSTER_IMAGE_SERIAL_MAX);
    } else if (!cJSON_IsString(signature) || hex_decode_exact(signature->valuestring, sig, sizeof sig, &e) < 0) {
        rc = BAD("\"signature\" must be 65 bytes as 0x-prefixed hex%s%s", cJSON_IsString(signature) ? ": " : "",
                 cJSON_IsString(signature) ? e.message : "");
    } else {
        out->serial = (uint64_t)serial->valuedouble;
        memcpy(out->digest, digest->valuestring, CLUSTER_IMAGE_DIGEST_LEN + 1);
        cluster_image_hash(instance, out->serial, out->digest, hash);
        if (secp_recover_address(hash, sig, SECP_S_LOW, signer, &e) < 0) {
            rc = BAD("the signature does not recover (%s): it was not made for this cluster's instance %llu, or "
                     "the document was changed",
                     e.message, (unsigned long long)instance);
        } else {
            size_t i = 0;
            while (i < nadmins && memcmp(admins[i], signer, 20) != 0) i++;
            char who[43];
            hex_encode(signer, 20, who, sizeof who);
            if (i == nadmins)
                rc = BAD("signed by %s as recovered for instance %llu, which is not an admin in the cluster file "
                         "(\"admins\"): sign it with an admin's keystore, for this cluster",
                         who, (unsigned long long)instance);
            else
                memcpy(out->signer, signer, 20);
        }
    }
    cJSON_Delete(root);
    return rc;
}
