/*
 * cluster_image.h - the subnode image the cluster runs, by content digest, as an admin of
 * the cluster signed it (docs/cohort-core.md "The image from the cluster").
 *
 * The cluster's config store holds it under CLUSTER_IMAGE_KEY as a small JSON document:
 *
 *   {"digest": "sha256:<64 hex>", "serial": N, "signature": "0x<130 hex>"}
 *
 * signed by one of the cluster file's admin keys over
 *
 *   keccak256("cohort-cluster-image-v1" || instance (u64 BE) || serial (u64 BE) || digest)
 *
 * (digest as its 71 ASCII bytes). A member of the store can write the key, but only an
 * admin can sign the value, so a member cannot choose the image; the instance binds it to
 * one cluster; the serial orders the admin's decisions, so an old signed document written
 * again (a rollback) is refused by a node that already follows a newer one.
 *
 * Pure code: cohort-core's follower (daemon.c) parses what the store holds; the CLI
 * (`cohort cluster image set`) signs.
 */
#ifndef COHORT_CORE_CLUSTER_IMAGE_H
#define COHORT_CORE_CLUSTER_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

#define CLUSTER_IMAGE_KEY "cohort/image"
#define CLUSTER_IMAGE_MAX_BYTES 1024      /* the largest value parsed: the document is ~250 bytes */
#define CLUSTER_IMAGE_DIGEST_LEN 71       /* "sha256:" + 64 hex */
#define CLUSTER_IMAGE_SERIAL_MAX (1ull << 53)

struct cluster_image {
    char digest[CLUSTER_IMAGE_DIGEST_LEN + 1]; /* "sha256:..." lower-case */
    uint64_t serial;
    uint8_t signer[20];                        /* the admin that signed it */
};

/* Is text a digest as Docker prints an image id: "sha256:" and 64 lower-case hex digits? */
int cluster_image_check_digest(const char *text, size_t len, struct cohort_error *err);

/* The hash an admin signs (layout above). digest must have passed cluster_image_check_digest. */
void cluster_image_hash(uint64_t instance, uint64_t serial, const char *digest, uint8_t out[32]);

/*
 * Signs (digest, serial) for instance with an admin's private key and writes the document
 * into out (a NUL-terminated JSON object, at most CLUSTER_IMAGE_MAX_BYTES). Returns 0, or
 * COMMON_E_INVALID for a bad digest or serial (err names which).
 */
int cluster_image_sign(uint64_t instance, uint64_t serial, const char *digest, const uint8_t private_key[32],
                       char out[CLUSTER_IMAGE_MAX_BYTES], struct cohort_error *err);

/*
 * Parses a document read from the store (value[0..len), not NUL-terminated, outside data:
 * at most CLUSTER_IMAGE_MAX_BYTES) and checks that one of admins (nadmins addresses of 20
 * bytes) signed it for instance. Fills *out on success. Returns 0, COMMON_E_RANGE (too
 * long) or COMMON_E_INVALID, with a message that says what is wrong: not JSON, a field
 * missing or malformed, a signature that does not recover, or a signer that is no admin.
 */
int cluster_image_parse(const char *value, size_t len, uint64_t instance, const uint8_t (*admins)[20],
                        size_t nadmins, struct cluster_image *out, struct cohort_error *err);

#endif
