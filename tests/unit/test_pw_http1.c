/* Unit tests for proto_wire/pw_http1: the request-head parser. */
#include <check.h>
#include <string.h>

#include "proto_wire/pw_http1.h"
#include "ts_main.h"

static long parse(const char *s, pw_http1_request *r)
{
    return pw_http1_parse_request((const uint8_t *)s, strlen(s), r);
}

START_TEST(simple_get)
{
    pw_http1_request r;
    const char *s = "GET /healthz HTTP/1.1\r\nHost: a\r\nUser-Agent: curl\r\n\r\nXYZ";
    ck_assert_int_eq(parse(s, &r), (long)strlen(s) - 3);
    ck_assert(pw_http1_view_eq(r.method, "GET"));
    ck_assert(pw_http1_view_eq(r.target, "/healthz"));
    ck_assert_int_eq(r.minor_version, 1);
    ck_assert_uint_eq(r.nheaders, 2);
    ck_assert(pw_http1_view_eq(r.names[1], "user-agent"));
    ck_assert(pw_http1_view_eq(r.values[1], "curl"));
    ck_assert_int_eq(r.keep_alive, 1);
    ck_assert_int_eq(r.has_body, 0);
}
END_TEST

START_TEST(partial_at_every_cut)
{
    const char *s = "GET /metrics HTTP/1.0\r\nA: b\r\n\r\n";
    pw_http1_request r;
    for (size_t i = 0; i < strlen(s); i++)
        ck_assert_int_eq(pw_http1_parse_request((const uint8_t *)s, i, &r), PW_HTTP1_PARTIAL);
    ck_assert_int_eq(parse(s, &r), (long)strlen(s));
    ck_assert_int_eq(r.keep_alive, 0); /* HTTP/1.0 */
}
END_TEST

START_TEST(invalid_inputs)
{
    pw_http1_request r;
    ck_assert_int_eq(parse("GET /x HTTP/2.0\r\n\r\n", &r), PW_HTTP1_INVALID);
    ck_assert_int_eq(parse("GET  /x HTTP/1.1\r\n\r\n", &r), PW_HTTP1_INVALID);
    ck_assert_int_eq(parse("GET /x HTTP/1.1\n\n", &r), PW_HTTP1_INVALID);
    ck_assert_int_eq(parse("G(T /x HTTP/1.1\r\n\r\n", &r), PW_HTTP1_INVALID);
    ck_assert_int_eq(parse("GET /x HTTP/1.1\r\nBad Name: v\r\n\r\n", &r), PW_HTTP1_INVALID);
    ck_assert_int_eq(parse("GET /x HTTP/1.1\r\nA: v\x01\r\n\r\n", &r), PW_HTTP1_INVALID);
    ck_assert_int_eq(parse("GET /x HTTP/1.1\r\nContent-Length: 1x\r\n\r\n", &r), PW_HTTP1_INVALID);
    ck_assert_int_eq(parse("\x16\x03\x01\x05 x\r\n\r\n", &r), PW_HTTP1_INVALID);
}
END_TEST

START_TEST(body_and_connection_close)
{
    pw_http1_request r;
    ck_assert_int_gt(parse("POST /x HTTP/1.1\r\nContent-Length: 5\r\n\r\n", &r), 0);
    ck_assert_int_eq(r.has_body, 1);
    ck_assert_uint_eq(r.content_length, 5);
    ck_assert_int_gt(parse("GET /x HTTP/1.1\r\nConnection: close\r\n\r\n", &r), 0);
    ck_assert_int_eq(r.keep_alive, 0);
    ck_assert_int_gt(parse("GET /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", &r), 0);
    ck_assert_int_eq(r.has_body, 1);
    ck_assert_int_eq(r.chunked, 1);
    /* Two Content-Length headers (a request-smuggling vector) are refused, even when equal. */
    ck_assert_int_eq(
        parse("POST /x HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n", &r),
        PW_HTTP1_INVALID);
    ck_assert_int_gt(parse("POST /x HTTP/1.1\r\nContent-Length: 0\r\n\r\n", &r), 0);
    ck_assert_int_eq(r.has_length, 1);
    ck_assert_int_eq(r.has_body, 0);
}
END_TEST

START_TEST(too_large)
{
    static char big[PW_HTTP1_HEAD_BYTES_MAX + 100];
    strcpy(big, "GET /x HTTP/1.1\r\nX: ");
    size_t n = strlen(big);
    memset(big + n, 'a', sizeof big - n - 1);
    pw_http1_request r;
    ck_assert_int_eq(pw_http1_parse_request((const uint8_t *)big, sizeof big - 1, &r),
                     PW_HTTP1_TOO_LARGE);
    /* Too many headers. */
    char many[4096] = "GET /x HTTP/1.1\r\n";
    for (int i = 0; i < PW_HTTP1_HEADERS_MAX + 1; i++) strcat(many, "A: b\r\n");
    strcat(many, "\r\n");
    ck_assert_int_eq(parse(many, &r), PW_HTTP1_TOO_LARGE);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("pw_http1");
    TCase *tc = tcase_create("parse");
    tcase_add_test(tc, simple_get);
    tcase_add_test(tc, partial_at_every_cut);
    tcase_add_test(tc, invalid_inputs);
    tcase_add_test(tc, body_and_connection_close);
    tcase_add_test(tc, too_large);
    suite_add_tcase(s, tc);
    return ts_run_suite(s);
}
