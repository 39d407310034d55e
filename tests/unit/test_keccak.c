/* test_keccak.c - Keccak-256 against published digests and @noble/hashes vectors. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hex.h"
#include "common/keccak.h"
#include "testutil.h"

static void digest_hex(const uint8_t digest[32], char out[67]) { hex_encode(digest, 32, out, 67); }

START_TEST(published_vectors)
{
    /* From the Keccak team's reference and Ethereum's documentation (not from this code). */
    static const struct {
        const char *message;
        const char *digest;
    } cases[] = {
        {"", "0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"},
        {"abc", "0x4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45"},
        {"The quick brown fox jumps over the lazy dog",
         "0x4d741b6f1eb29cb2a9b9911c82f56fa8d73b04959d3d9d222895df6c0b28aa15"},
        /* The ERC-20 Transfer event topic: keccak256("Transfer(address,address,uint256)"). */
        {"Transfer(address,address,uint256)", "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t digest[32];
        char text[67];
        keccak256(cases[i].message, strlen(cases[i].message), digest);
        digest_hex(digest, text);
        ck_assert_str_eq(text, cases[i].digest);
    }
}
END_TEST

static uint8_t *pattern(size_t n)
{
    uint8_t *msg = malloc(n ? n : 1);
    ck_assert_ptr_nonnull(msg);
    for (size_t i = 0; i < n; i++) msg[i] = (uint8_t)((i * 7 + n) & 0xff);
    return msg;
}

START_TEST(noble_vectors_one_shot_and_incremental)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/vectors/keccak_vectors.json", testutil_source_dir());
    cJSON *root = testutil_read_json(path);
    cJSON *cases = cJSON_GetObjectItem(root, "cases");
    ck_assert_int_ge(cJSON_GetArraySize(cases), 400);
    uint64_t rng = 42;
    int checked = 0;
    cJSON *c;
    cJSON_ArrayForEach(c, cases)
    {
        size_t n = (size_t)cJSON_GetObjectItem(c, "length")->valuedouble;
        const char *want = cJSON_GetObjectItem(c, "digest")->valuestring;
        uint8_t *msg = pattern(n);
        uint8_t digest[32];
        char text[67];
        keccak256(msg, n, digest);
        digest_hex(digest, text);
        ck_assert_msg(strcmp(text + 2, want) == 0, "length %zu: got %s want %s", n, text, want);

        /* The same message in random pieces must give the same digest; empty updates with
           NULL between them change nothing (and must not touch the pointer). */
        struct keccak256_ctx ctx;
        keccak256_init(&ctx);
        keccak256_update(&ctx, NULL, 0);
        size_t at = 0;
        while (at < n) {
            size_t piece = testutil_rand_next(&rng) % 300;
            if (piece > n - at) piece = n - at;
            keccak256_update(&ctx, msg + at, piece);
            keccak256_update(&ctx, NULL, 0);
            at += piece;
        }
        keccak256_final(&ctx, digest);
        digest_hex(digest, text);
        ck_assert_msg(strcmp(text + 2, want) == 0, "incremental length %zu", n);
        free(msg);
        checked++;
    }
    ck_assert_int_eq(checked, cJSON_GetArraySize(cases));
    cJSON_Delete(root);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("keccak");
    TCase *tc = tcase_create("keccak");
    tcase_add_test(tc, published_vectors);
    tcase_add_test(tc, noble_vectors_one_shot_and_incremental);
    suite_add_tcase(s, tc);
    return testutil_run_suite(s, false);
}
