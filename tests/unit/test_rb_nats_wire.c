/* Unit tests for bench/rb_nats_wire (NATS server frames, HMSG status) and bench/rb_json
 * (bounded member lookup): frames as nats-server 2.9 writes them, partial input, every limit,
 * malformed input from a hostile server. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bench/rb_json.h"
#include "bench/rb_nats_wire.h"
#include "ts_main.h"

static ssize_t parse(const char *s, size_t body_max, rb_nats_frame *f, const char **why)
{
    return rb_nats_parse((const uint8_t *)s, strlen(s), body_max, f, why);
}

START_TEST(msg_without_reply_two_spaces)
{
    /* nats-server writes two spaces where a MSG has no reply subject */
    const char *s = "MSG _INBOX.x.p0 1  23\r\n{\"stream\":\"T\", \"seq\":1}\r\nPING\r\n";
    rb_nats_frame f;
    const char *why;
    ssize_t n = parse(s, 1024, &f, &why);
    ck_assert_int_eq(n, (ssize_t)(strlen(s) - 6));
    ck_assert_int_eq(f.kind, RB_NATS_MSG);
    ck_assert_int_eq((int)f.subject_len, 11);
    ck_assert(memcmp(f.subject, "_INBOX.x.p0", 11) == 0);
    ck_assert_uint_eq(f.sid, 1);
    ck_assert_ptr_null(f.reply);
    ck_assert_uint_eq(f.body_len, 23);
    ck_assert_int_eq(parse(s + n, 1024, &f, &why), 6);
    ck_assert_int_eq(f.kind, RB_NATS_PING);
}
END_TEST

START_TEST(msg_with_reply_and_hmsg_status)
{
    const char *s = "MSG t.q 1 $JS.ACK.T.w.1.1.1.1795629004169154129.2 5\r\nhello\r\n";
    rb_nats_frame f;
    const char *why;
    ck_assert_int_eq(parse(s, 1024, &f, &why), (ssize_t)strlen(s));
    ck_assert_uint_eq(f.reply_len, strlen("$JS.ACK.T.w.1.1.1.1795629004169154129.2"));
    ck_assert(memcmp(f.body, "hello", 5) == 0);

    const char *h = "HMSG _INBOX.x.f1 1  81 81\r\nNATS/1.0 408 Request Timeout\r\n"
                    "Nats-Pending-Messages: 2\r\nNats-Pending-Bytes: 0\r\n\r\n\r\n";
    ck_assert_int_eq(parse(h, 1024, &f, &why), (ssize_t)strlen(h));
    ck_assert_int_eq(f.kind, RB_NATS_HMSG);
    ck_assert_uint_eq(f.hdr_len, 81);
    ck_assert_uint_eq(f.body_len, 0);
    int code;
    const char *desc;
    size_t dlen;
    int64_t pending;
    ck_assert_int_eq(rb_nats_status(f.hdr, f.hdr_len, &code, &desc, &dlen, &pending), 0);
    ck_assert_int_eq(code, 408);
    ck_assert_int_eq((int)dlen, 15);
    ck_assert(memcmp(desc, "Request Timeout", 15) == 0);
    ck_assert_int_eq(pending, 2);

    const char *nr = "HMSG _INBOX.x.z 1 16 16\r\nNATS/1.0 503\r\n\r\n\r\n";
    ck_assert_int_eq(parse(nr, 1024, &f, &why), (ssize_t)strlen(nr));
    ck_assert_int_eq(rb_nats_status(f.hdr, f.hdr_len, &code, &desc, &dlen, &pending), 0);
    ck_assert_int_eq(code, 503);
    ck_assert_int_eq(pending, -1);
}
END_TEST

START_TEST(partial_frames_need_more)
{
    const char *s = "MSG a 1 r 5\r\nhello\r\n";
    rb_nats_frame f;
    const char *why;
    for (size_t i = 0; i < strlen(s); i++)
        ck_assert_int_eq(rb_nats_parse((const uint8_t *)s, i, 1024, &f, &why), 0);
    ck_assert_int_eq(parse(s, 1024, &f, &why), (ssize_t)strlen(s));
}
END_TEST

START_TEST(info_err_ok_pong)
{
    rb_nats_frame f;
    const char *why;
    const char *info = "INFO {\"version\":\"2.9.10\",\"max_payload\":1048576} \r\n";
    ck_assert_int_eq(parse(info, 16, &f, &why), (ssize_t)strlen(info));
    ck_assert_int_eq(f.kind, RB_NATS_INFO);
    ck_assert_int_eq(f.body[0], '{');
    ck_assert_int_eq(f.body[f.body_len - 1], '}');
    ck_assert_int_eq(parse("-ERR 'Maximum Payload Violation'\r\n", 16, &f, &why), 34);
    ck_assert_int_eq(f.kind, RB_NATS_ERR);
    ck_assert_int_eq((int)f.body_len, 25);
    ck_assert_int_eq(parse("+OK\r\n", 16, &f, &why), 5);
    ck_assert_int_eq(f.kind, RB_NATS_OK);
    ck_assert_int_eq(parse("pong\r\n", 16, &f, &why), 6); /* operations are case-insensitive */
    ck_assert_int_eq(f.kind, RB_NATS_PONG);
}
END_TEST

START_TEST(hostile_frames_rejected)
{
    rb_nats_frame f;
    const char *why;
    ck_assert_int_eq(parse("HELLO\r\n", 1024, &f, &why), -EPROTO);
    ck_assert_ptr_nonnull(why);
    ck_assert_int_eq(parse("MSG a 1 999999999\r\n", 1024, &f, &why), -EMSGSIZE);
    ck_assert_int_eq(parse("MSG a 1 99999999999999999999999\r\n", 1024, &f, &why), -EPROTO);
    ck_assert_int_eq(parse("MSG a 1 -5\r\n", 1024, &f, &why), -EPROTO);
    ck_assert_int_eq(parse("MSG a 1\r\n", 1024, &f, &why), -EPROTO);
    ck_assert_int_eq(parse("MSG a 1 b c 5\r\n", 1024, &f, &why), -EPROTO);
    ck_assert_int_eq(parse("MSG a 1 3\r\nabcXY", 1024, &f, &why), -EPROTO);   /* no CRLF */
    ck_assert_int_eq(parse("HMSG a 1 9 5\r\n", 1024, &f, &why), -EPROTO);     /* hdr > total */
    ck_assert_int_eq(parse("MSG a x 3\r\nabc\r\n", 1024, &f, &why), -EPROTO); /* sid */
    /* a control line that never ends is bounded */
    size_t big = RB_NATS_LINE_MAX + 10;
    char *line = malloc(big);
    memset(line, 'x', big);
    memcpy(line, "INFO ", 5);
    ck_assert_int_eq(rb_nats_parse((const uint8_t *)line, big, 1024, &f, &why), -EMSGSIZE);
    ck_assert_int_eq(rb_nats_parse((const uint8_t *)line, 100, 1024, &f, &why), 0);
    free(line);
    int code;
    const char *desc;
    size_t dlen;
    int64_t pending;
    const char *bad[] = {"HTTP/1.1 200 OK\r\n\r\n", "NATS/1.0 4x8\r\n\r\n",
                         "NATS/1.0 408\r\nNats-Pending-Messages: -1\r\n\r\n",
                         "NATS/1.0 408\r\nNats-Pending-Messages: 99999999999999999999\r\n\r\n",
                         "NATS/1.0"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_int_eq(
            rb_nats_status((const uint8_t *)bad[i], strlen(bad[i]), &code, &desc, &dlen, &pending),
            -EPROTO);
}
END_TEST

static int find(const char *js, const char *path, const char **v, size_t *vlen)
{
    return rb_json_find(js, strlen(js), path, v, vlen);
}

START_TEST(json_paths)
{
    const char *js = "{\"type\":\"io.nats.jetstream.api.v1.stream_info_response\","
                     "\"config\":{\"subjects\":[\"a\",{\"x\":[1,2,{}]}],\"max_age\":0},"
                     "\"state\" : { \"messages\" : 42 , \"bytes\":-1.5e3, \"ok\":true},"
                     "\"error\":{\"code\":404,\"err_code\":10059,"
                     "\"description\":\"stream \\\"x\\\" not\\u0020found\\n\"}}";
    const char *v;
    size_t vlen;
    uint64_t u;
    char s[64];
    ck_assert_int_eq(find(js, "state.messages", &v, &vlen), 0);
    ck_assert_int_eq(rb_json_u64(v, vlen, &u), 0);
    ck_assert_uint_eq(u, 42);
    ck_assert_int_eq(find(js, "state.bytes", &v, &vlen), 0);
    ck_assert_int_eq(rb_json_u64(v, vlen, &u), -EINVAL);
    ck_assert_int_eq(find(js, "error.err_code", &v, &vlen), 0);
    ck_assert_int_eq(rb_json_u64(v, vlen, &u), 0);
    ck_assert_uint_eq(u, 10059);
    ck_assert_int_eq(find(js, "error.description", &v, &vlen), 0);
    ck_assert_int_eq(rb_json_str(v, vlen, s, sizeof(s)), 0);
    ck_assert_str_eq(s, "stream \"x\" not?found\n");
    ck_assert_int_eq(rb_json_str(v, vlen, s, 5), 0); /* truncates */
    ck_assert_str_eq(s, "stre");
    ck_assert_int_eq(find(js, "state.missing", &v, &vlen), -ENOENT);
    ck_assert_int_eq(find(js, "type.inner", &v, &vlen), -ENOENT); /* not an object */
    ck_assert_int_eq(find(js, "config", &v, &vlen), 0);
    ck_assert_int_eq(v[0], '{');
    ck_assert_int_eq(v[vlen - 1], '}');
    ck_assert_int_eq(find("{}", "a", &v, &vlen), -ENOENT);
}
END_TEST

START_TEST(json_hostile)
{
    const char *v;
    size_t vlen;
    uint64_t u;
    ck_assert_int_eq(find("", "a", &v, &vlen), -EPROTO);
    ck_assert_int_eq(find("[1]", "a", &v, &vlen), -EPROTO);
    ck_assert_int_eq(find("{\"a\":", "a", &v, &vlen), -EPROTO);
    ck_assert_int_eq(find("{\"b\":\"unterminated}", "a", &v, &vlen), -EPROTO);
    ck_assert_int_eq(find("{\"b\":tru,\"a\":1}", "a", &v, &vlen), -EPROTO);
    ck_assert_int_eq(find("{\"b\":1 \"a\":1}", "a", &v, &vlen), -EPROTO);
    ck_assert_int_eq(find("{\"b\":\"\\", "a", &v, &vlen), -EPROTO);
    /* nesting deeper than the bound */
    char deep[256] = "{\"b\":";
    for (int i = 0; i < 100; i++) strcat(deep, "[");
    ck_assert_int_eq(find(deep, "a", &v, &vlen), -E2BIG);
    ck_assert_int_eq(rb_json_u64("18446744073709551616", 20, &u), -EINVAL);
    ck_assert_int_eq(rb_json_u64("18446744073709551615", 20, &u), 0);
    ck_assert_int_eq(rb_json_u64("", 0, &u), -EINVAL);
    char s[8];
    ck_assert_int_eq(rb_json_str("42", 2, s, sizeof(s)), -EINVAL);
    ck_assert_int_eq(rb_json_str("\"\\u00", 5, s, sizeof(s)), -EINVAL); /* no closing quote */
    ck_assert_int_eq(rb_json_str("\"\\u0\"", 5, s, sizeof(s)), 0);      /* short escape: bounded */
}
END_TEST

int main(void)
{
    Suite *s = suite_create("rb_nats_wire");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, msg_without_reply_two_spaces);
    tcase_add_test(tc, msg_with_reply_and_hmsg_status);
    tcase_add_test(tc, partial_frames_need_more);
    tcase_add_test(tc, info_err_ok_pong);
    tcase_add_test(tc, hostile_frames_rejected);
    tcase_add_test(tc, json_paths);
    tcase_add_test(tc, json_hostile);
    suite_add_tcase(s, tc);
    return ts_run_suite(s);
}
