/*
 * fuzz_http_api.c - libFuzzer target for the local API's header checks (http_api_check):
 * Host, Origin and Authorization come from whoever reaches the port. The input is a flag
 * byte (bit 0: the route needs the token; bits 1-3: which headers are present) and the
 * three headers, NUL-separated. Whatever they hold, the answer is 0, 401 or 403; a request
 * served from a foreign origin or without the exact token is a bug.
 */
#include <assert.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "httpd/httpd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define TOKEN "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 4096) return 0; /* libmicrohttpd caps a header line far below this */
    uint8_t flags = data[0];
    char *text = malloc(size + 2);
    if (text == NULL) return 0;
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    text[size] = '\0';
    /* Three fields, NUL-separated; missing ones are empty. */
    const char *field[3] = {"", "", ""};
    size_t at = 0;
    for (int i = 0; i < 3 && at < size; i++) {
        field[i] = text + at;
        at += strlen(text + at) + 1;
    }
    bool needs_token = flags & 1;
    const char *host = flags & 2 ? field[0] : NULL, *origin = flags & 4 ? field[1] : NULL,
               *authorization = flags & 8 ? field[2] : NULL;
    char why[400];
    why[0] = 'x';
    unsigned status = http_api_check(host, origin, authorization, needs_token, TOKEN, why, sizeof why);
    assert(status == 0 || status == 401 || status == 403);
    if (status != 0) assert(memchr(why, '\0', sizeof why) != NULL && strlen(why) > 0);
    if (status == 0 && needs_token) assert(authorization != NULL && strcmp(authorization, "Bearer " TOKEN) == 0);
    if (status == 0 && origin != NULL) {
        assert(host != NULL && strncmp(origin, "http://", 7) == 0 && strcmp(origin + 7, host) == 0);
    }
    free(text);
    return 0;
}
