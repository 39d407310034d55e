/*
 * test_cluster_image.c - the image the cluster runs (core/cluster_image.h): a document an
 * admin signed parses to its digest and serial; one signed by a non-admin, for another
 * cluster, changed after signing, or malformed is refused with a message that says why.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "common/secp.h"
#include "core/cluster_image.h"
#include "testutil.h"

#define DIGEST "sha256:5dcaaec9fb0b0123456789abcdef0123456789abcdef0123456789abcdef0123"

static uint8_t admin_key[32] = {1}, other_key[32] = {2};
static uint8_t admins[2][20];

static void setup(void)
{
    struct cohort_error err = {0};
    ck_assert_int_eq(secp_init(&err), 0);
    admin_key[31] = 7;
    other_key[31] = 9;
    ck_assert_int_eq(secp_address_from_secret(admin_key, admins[1], &err), 0);
    memset(admins[0], 0xaa, 20);
}

static int parse(const char *doc, uint64_t instance, struct cluster_image *out, struct cohort_error *err)
{
    return cluster_image_parse(doc, strlen(doc), instance, (const uint8_t(*)[20])admins, 2, out, err);
}

START_TEST(an_admins_document_parses)
{
    struct cohort_error err = {0};
    char doc[CLUSTER_IMAGE_MAX_BYTES];
    ck_assert_int_eq(cluster_image_sign(5, 3, DIGEST, admin_key, doc, &err), 0);
    struct cluster_image img;
    ck_assert_msg(parse(doc, 5, &img, &err) == 0, "%s", err.message);
    ck_assert_str_eq(img.digest, DIGEST);
    ck_assert_uint_eq(img.serial, 3);
    ck_assert_mem_eq(img.signer, admins[1], 20);
}
END_TEST

START_TEST(others_are_refused)
{
    struct cohort_error err = {0};
    char doc[CLUSTER_IMAGE_MAX_BYTES];
    struct cluster_image img;
    /* A member's (not an admin's) signature. */
    ck_assert_int_eq(cluster_image_sign(5, 3, DIGEST, other_key, doc, &err), 0);
    ck_assert_int_eq(parse(doc, 5, &img, &err), COMMON_E_INVALID);
    ck_assert_ptr_nonnull(strstr(err.message, "not an admin"));
    /* Another cluster's instance. */
    ck_assert_int_eq(cluster_image_sign(6, 3, DIGEST, admin_key, doc, &err), 0);
    ck_assert_int_eq(parse(doc, 5, &img, &err), COMMON_E_INVALID);
    /* The serial changed after signing (a rollback's trick the other way round). */
    ck_assert_int_eq(cluster_image_sign(5, 3, DIGEST, admin_key, doc, &err), 0);
    char *p = strstr(doc, "\"serial\":3");
    ck_assert_ptr_nonnull(p);
    p[9] = '4';
    ck_assert_int_eq(parse(doc, 5, &img, &err), COMMON_E_INVALID);
    /* The digest changed after signing. */
    ck_assert_int_eq(cluster_image_sign(5, 3, DIGEST, admin_key, doc, &err), 0);
    p = strstr(doc, "sha256:");
    p[7] = p[7] == 'a' ? 'b' : 'a';
    ck_assert_int_eq(parse(doc, 5, &img, &err), COMMON_E_INVALID);
}
END_TEST

START_TEST(malformed_documents_say_what_is_wrong)
{
    struct cohort_error err = {0};
    struct cluster_image img;
    ck_assert_int_eq(parse("cohort-subnode:latest", 5, &img, &err), COMMON_E_INVALID);
    ck_assert_ptr_nonnull(strstr(err.message, "not a JSON object"));
    ck_assert_int_eq(parse("{\"digest\":\"sha256:ABC\",\"serial\":1,\"signature\":\"0x00\"}", 5, &img, &err),
                     COMMON_E_INVALID);
    ck_assert_ptr_nonnull(strstr(err.message, "\"digest\""));
    ck_assert_int_eq(parse("{\"digest\":\"" DIGEST "\",\"serial\":0,\"signature\":\"0x00\"}", 5, &img, &err),
                     COMMON_E_INVALID);
    ck_assert_ptr_nonnull(strstr(err.message, "\"serial\""));
    ck_assert_int_eq(parse("{\"digest\":\"" DIGEST "\",\"serial\":1.5,\"signature\":\"0x00\"}", 5, &img, &err),
                     COMMON_E_INVALID);
    ck_assert_int_eq(parse("{\"digest\":\"" DIGEST "\",\"serial\":1,\"signature\":\"0x00\"}", 5, &img, &err),
                     COMMON_E_INVALID);
    ck_assert_ptr_nonnull(strstr(err.message, "\"signature\""));
    char big[CLUSTER_IMAGE_MAX_BYTES + 2];
    memset(big, ' ', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    ck_assert_int_eq(parse(big, 5, &img, &err), COMMON_E_RANGE);
    /* Signing checks its input too. */
    char doc[CLUSTER_IMAGE_MAX_BYTES];
    ck_assert_int_eq(cluster_image_sign(5, 0, DIGEST, admin_key, doc, &err), COMMON_E_INVALID);
    ck_assert_int_eq(cluster_image_sign(5, 1, "cohort-subnode:latest", admin_key, doc, &err), COMMON_E_INVALID);
    ck_assert_int_eq(cluster_image_check_digest(DIGEST, strlen(DIGEST), &err), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cluster_image");
    TCase *tc = tcase_create("cluster_image");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, an_admins_document_parses);
    tcase_add_test(tc, others_are_refused);
    tcase_add_test(tc, malformed_documents_say_what_is_wrong);
    suite_add_tcase(s, tc);
    return testutil_run_suite(s, false);
}
