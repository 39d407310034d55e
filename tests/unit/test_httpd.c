/* test_httpd.c - the local API's HTTP server: exact routes, bodies, and the raw query string
   that query handlers get (the metrics API's parameters). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <sys/socket.h>
#include <unistd.h>

#include "httpd/httpd.h"
#include "testutil.h"

/* Sends the whole request text and returns the answer's HTTP status. */
static int request_status(int port, const char *request)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK), .sin_port = htons((uint16_t)port)};
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    size_t n = strlen(request);
    ck_assert_int_eq(write(fd, request, n), (ssize_t)n);
    char buf[512] = {0};
    size_t len = 0;
    ssize_t r;
    while (len < sizeof buf - 1 && (r = read(fd, buf + len, sizeof buf - 1 - len)) > 0) len += (size_t)r;
    close(fd);
    int status = -1;
    sscanf(buf, "HTTP/1.%*d %d", &status);
    return status;
}

/* The status of GET path (of any length: testutil_http_get caps the request line). */
static int get_status(int port, const char *path)
{
    size_t size = strlen(path) + 64;
    char *req = malloc(size);
    snprintf(req, size, "GET %s HTTP/1.0\r\n\r\n", path);
    int status = request_status(port, req);
    free(req);
    return status;
}

static void plain(void *ctx, const char *method, const char *body, size_t len, struct http_response *out)
{
    (void)ctx, (void)body, (void)len;
    out->content_type = "text/plain";
    out->body = strdup(method);
}

static void echo_query(void *ctx, const char *method, const char *query, const char *body, size_t len,
                       struct http_response *out)
{
    (void)ctx, (void)method, (void)body, (void)len;
    char *text = malloc(strlen(query) + 8);
    sprintf(text, "q=[%s]", query);
    out->content_type = "text/plain";
    out->body = text;
}

START_TEST(routes_and_queries)
{
    struct http_route routes[] = {
        {.path = "/plain", .handler = plain},
        {.path = "/q", .query_handler = echo_query},
    };
    struct http_server *server;
    struct cohort_error err = {0};
    int port = testutil_free_port();
    ck_assert_int_eq(http_start_blocking(&server, "127.0.0.1", (uint16_t)port, routes, 2, &err), 0);
    char body[8192];
    ck_assert_int_eq(testutil_http_get(port, "/plain", body, sizeof body), 200);
    ck_assert_str_eq(body, "GET");
    /* A query string does not change which route answers, and a plain handler ignores it. */
    ck_assert_int_eq(testutil_http_get(port, "/plain?x=1", body, sizeof body), 200);
    ck_assert_int_eq(testutil_http_get(port, "/q", body, sizeof body), 200);
    ck_assert_str_eq(body, "q=[]");
    ck_assert_int_eq(testutil_http_get(port, "/q?chain=my%20chain&since=1h", body, sizeof body), 200);
    ck_assert_str_eq(body, "q=[chain=my%20chain&since=1h]"); /* raw: still percent-encoded */
    ck_assert_int_eq(testutil_http_get(port, "/nothing?x", body, sizeof body), 404);
    char path[HTTP_MAX_QUERY + 64];
    snprintf(path, sizeof path, "/q?x=");
    memset(path + 5, 'a', HTTP_MAX_QUERY);
    path[5 + HTTP_MAX_QUERY] = '\0';
    ck_assert_int_eq(get_status(port, path), 414);
    path[5 + HTTP_MAX_QUERY - 2] = '\0'; /* a query of exactly HTTP_MAX_QUERY bytes */
    ck_assert_int_eq(get_status(port, path), 200);
    http_stop(server);
}
END_TEST

/* The status of a request with headers ("Name: value\r\n" lines) and a body of "{}". */
static int raw_status(int port, const char *method, const char *path, const char *headers)
{
    char req[1024];
    snprintf(req, sizeof req, "%s %s HTTP/1.1\r\nConnection: close\r\n%sContent-Length: 2\r\n\r\n{}", method, path,
             headers);
    return request_status(port, req);
}

#define TOKEN "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

START_TEST(the_api_checks_host_origin_and_token)
{
    char why[400];
    /* Host: addresses and localhost, with or without a port; names are refused (DNS rebinding). */
    ck_assert_uint_eq(http_api_check("127.0.0.1:9100", NULL, NULL, false, TOKEN, why, sizeof why), 0);
    ck_assert_uint_eq(http_api_check("localhost:9100", NULL, NULL, false, TOKEN, why, sizeof why), 0);
    ck_assert_uint_eq(http_api_check("[::1]:9100", NULL, NULL, false, TOKEN, why, sizeof why), 0);
    ck_assert_uint_eq(http_api_check("10.1.2.3", NULL, NULL, false, TOKEN, why, sizeof why), 0);
    ck_assert_uint_eq(http_api_check(NULL, NULL, NULL, false, TOKEN, why, sizeof why), 0); /* HTTP/1.0 */
    ck_assert_uint_eq(http_api_check("evil.example:9100", NULL, NULL, false, TOKEN, why, sizeof why), 403);
    ck_assert_ptr_nonnull(strstr(why, "evil.example"));
    ck_assert_uint_eq(http_api_check("127.0.0.1:91x0", NULL, NULL, false, TOKEN, why, sizeof why), 403);
    ck_assert_uint_eq(http_api_check("[::1", NULL, NULL, false, TOKEN, why, sizeof why), 403);
    ck_assert_uint_eq(http_api_check("", NULL, NULL, false, TOKEN, why, sizeof why), 403);
    /* Origin: only the API's own pages. */
    ck_assert_uint_eq(http_api_check("127.0.0.1:9100", "http://127.0.0.1:9100", NULL, false, TOKEN, why, sizeof why), 0);
    ck_assert_uint_eq(http_api_check("127.0.0.1:9100", "http://127.0.0.1:8080", NULL, false, TOKEN, why, sizeof why), 403);
    ck_assert_uint_eq(http_api_check("127.0.0.1:9100", "https://evil.example", NULL, false, TOKEN, why, sizeof why), 403);
    ck_assert_uint_eq(http_api_check("127.0.0.1:9100", "null", NULL, false, TOKEN, why, sizeof why), 403);
    ck_assert_uint_eq(http_api_check(NULL, "http://127.0.0.1:9100", NULL, false, TOKEN, why, sizeof why), 403);
    /* The token, where a route needs it: exactly "Bearer TOKEN". */
    ck_assert_uint_eq(http_api_check("127.0.0.1:9100", NULL, "Bearer " TOKEN, true, TOKEN, why, sizeof why), 0);
    ck_assert_uint_eq(http_api_check("127.0.0.1:9100", NULL, NULL, true, TOKEN, why, sizeof why), 401);
    ck_assert_ptr_nonnull(strstr(why, "api.token"));
    ck_assert_uint_eq(http_api_check("127.0.0.1:9100", NULL, "Bearer " TOKEN "0", true, TOKEN, why, sizeof why), 401);
    ck_assert_uint_eq(http_api_check("127.0.0.1:9100", NULL, "Bearer 10112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
                                     true, TOKEN, why, sizeof why), 401);
    ck_assert_uint_eq(http_api_check("127.0.0.1:9100", NULL, "Basic " TOKEN, true, TOKEN, why, sizeof why), 401);
    ck_assert_uint_eq(http_api_check("127.0.0.1:9100", NULL, TOKEN, true, TOKEN, why, sizeof why), 401);
}
END_TEST

START_TEST(a_guarded_server_refuses_what_it_should)
{
    struct http_route routes[] = {
        {.path = "/open", .handler = plain},
        {.path = "/secret", .handler = plain, .needs_token = true},
    };
    struct http_server *server;
    struct cohort_error err = {0};
    int port = testutil_free_port();
    ck_assert_int_eq(http_start_api(&server, "127.0.0.1", (uint16_t)port, routes, 2, TOKEN, &err), 0);
    char host[64], both[256], origin[400];
    snprintf(host, sizeof host, "Host: 127.0.0.1:%d\r\n", port);
    ck_assert_int_eq(raw_status(port, "GET", "/open", host), 200);
    ck_assert_int_eq(raw_status(port, "POST", "/secret", host), 401);
    snprintf(both, sizeof both, "%sAuthorization: Bearer " TOKEN "\r\n", host);
    ck_assert_int_eq(raw_status(port, "POST", "/secret", both), 200);
    /* A web page elsewhere, even with the token (a browser would not have it, but still). */
    snprintf(origin, sizeof origin, "%sOrigin: http://evil.example\r\n", both);
    ck_assert_int_eq(raw_status(port, "POST", "/secret", origin), 403);
    snprintf(origin, sizeof origin, "%sOrigin: http://127.0.0.1:%d\r\n", host, port);
    ck_assert_int_eq(raw_status(port, "GET", "/open", origin), 200);
    /* A name that was made to point here (DNS rebinding). */
    ck_assert_int_eq(raw_status(port, "GET", "/open", "Host: rebind.example:80\r\n"), 403);
    ck_assert_int_eq(raw_status(port, "GET", "/nothing", host), 404);
    http_stop(server);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("httpd");
    TCase *tc = tcase_create("httpd");
    tcase_add_test(tc, routes_and_queries);
    tcase_add_test(tc, the_api_checks_host_origin_and_token);
    tcase_add_test(tc, a_guarded_server_refuses_what_it_should);
    suite_add_tcase(s, tc);
    return testutil_run_suite(s, false);
}
