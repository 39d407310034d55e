/*
 * subnode_status.c - GET /status of a subnode (subnode_status.h).
 */
#include "subnode_status.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct body {
    char *text; /* SUBNODE_STATUS_MAX_BYTES, NUL-terminated */
    size_t len;
};

static size_t collect(void *data, size_t size, size_t n, void *arg)
{
    struct body *b = arg;
    size_t add = size * n;
    if (b->len + add >= SUBNODE_STATUS_MAX_BYTES) return 0; /* over the cap: the transfer fails */
    memcpy(b->text + b->len, data, add);
    b->len += add;
    b->text[b->len] = '\0';
    return add;
}

cJSON *subnode_status_get(const char *bind_address, unsigned port)
{
    cJSON *o = NULL;
    struct body body = {calloc(1, SUBNODE_STATUS_MAX_BYTES), 0};
    CURL *c = curl_easy_init();
    if (body.text == NULL || c == NULL) goto out;
    char url[96];
    snprintf(url, sizeof url, "http://%s:%u/status", bind_address, port);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 2000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROXY, ""); /* loopback: never through a proxy from the environment */
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
    long code = 0;
    if (curl_easy_perform(c) == CURLE_OK && curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code) == CURLE_OK &&
        code == 200)
        o = cJSON_ParseWithLength(body.text, body.len);
out:
    if (c) curl_easy_cleanup(c);
    free(body.text);
    return o;
}
