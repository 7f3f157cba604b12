/* Unit tests for proto_wire/pw_json: the generated messages to and from JSON. */
#include <check.h>
#include <errno.h>
#include <string.h>

#include "proto_wire/pw_json.h"
#include "proto_wire/pw_msgs.h"
#include "ts_main.h"

/* Reads `json` (copied: the reader unescapes in place) as `d` into out; returns the result. */
static int rd(const pw_msg_desc *d, void *out, const char *json, pw_msg_arena *a, char *err)
{
    static char text[1 << 16];
    size_t n = strlen(json);
    ck_assert_uint_lt(n, sizeof text);
    memcpy(text, json, n);
    memset(out, 0, d->size);
    return pw_json_read_msg(d, out, text, n, a, err);
}

/* `msg` written as JSON, NUL-terminated, in a static buffer. */
static const char *wr(const pw_msg_desc *d, const void *msg)
{
    static char out[1 << 16];
    buf b;
    buf_init(&b, sizeof out - 1);
    ck_assert_int_eq(pw_json_write_msg(&b, d, msg), 0);
    memcpy(out, buf_begin(&b), buf_size(&b));
    out[buf_size(&b)] = 0;
    buf_deinit(&b);
    return out;
}

START_TEST(round_trip_task_info)
{
    pw_msg_arena a;
    pw_msg_arena_init_heap(&a, 4096, 1 << 20);
    char err[PW_JSON_ERR_BYTES];
    pwm_ringq_v1_TaskInfo t;
    const char *in = "{\"id\":\"3-17\",\"queue\":\"q\",\"state\":4,\"payload\":\"PHNjcmlwdD4=\","
                     "\"headers\":[{\"key\":\"k\",\"value\":\"v\\u00e9\"}],\"priority\":2,"
                     "\"attempts\":1,\"max_attempts\":5,\"enqueued_unix_ms\":\"1796630858603\","
                     "\"due_unix_ms\":0,\"idempotency_key\":\"\",\"last_error\":\"a\\\"b\\\\c\"}";
    ck_assert_int_eq(rd(&pwm_ringq_v1_TaskInfo_desc, &t, in, &a, err), 0);
    ck_assert_uint_eq(t.payload.len, 8);
    ck_assert_int_eq(memcmp(t.payload.ptr, "<script>", 8), 0);
    ck_assert_uint_eq(t.enqueued_unix_ms, 1796630858603ull);
    ck_assert_uint_eq(t.headers_count, 1);
    ck_assert_uint_eq(t.headers[0].value.len, 3); /* "v" + U+00E9 as two UTF-8 bytes */
    ck_assert_int_eq(t.state, 4);
    const char *out = wr(&pwm_ringq_v1_TaskInfo_desc, &t);
    ck_assert_str_eq(out,
                     "{\"id\":\"3-17\",\"queue\":\"q\",\"state\":4,\"payload\":\"PHNjcmlwdD4=\","
                     "\"headers\":[{\"key\":\"k\",\"value\":\"v\xc3\xa9\"}],\"priority\":2,"
                     "\"attempts\":1,\"max_attempts\":5,\"enqueued_unix_ms\":1796630858603,"
                     "\"due_unix_ms\":0,\"idempotency_key\":\"\",\"last_error\":"
                     "\"a\\\"b\\\\c\"}");
    pw_msg_arena_deinit(&a);
}
END_TEST

START_TEST(strings_escape_markup_and_bad_utf8)
{
    buf b;
    buf_init(&b, 1024);
    const char s[] = "<b>&\x01\xff\xe2\x82\xac\x7f";
    ck_assert_int_eq(pw_json_write_str(&b, s, sizeof s - 1), 0);
    const char want[] = "\"\\u003cb\\u003e\\u0026\\u0001\\u00ff\xe2\x82\xac\\u007f\"";
    ck_assert_uint_eq(buf_size(&b), sizeof want - 1);
    ck_assert_int_eq(memcmp(buf_begin(&b), want, sizeof want - 1), 0);
    buf_deinit(&b);
}
END_TEST

START_TEST(surrogates_and_escapes)
{
    pw_msg_arena a;
    pw_msg_arena_init_heap(&a, 4096, 1 << 20);
    char err[PW_JSON_ERR_BYTES];
    pwm_ringq_v1_GetQueueRequest r;
    ck_assert_int_eq(
        rd(&pwm_ringq_v1_GetQueueRequest_desc, &r, "{\"name\":\"\\ud83d\\ude00\\n\"}", &a, err), 0);
    ck_assert_uint_eq(r.name.len, 5);
    ck_assert_int_eq(memcmp(r.name.ptr, "\xf0\x9f\x98\x80\n", 5), 0);
    static const char *const bad[] = {
        "{\"name\":\"\\ud83d\"}", "{\"name\":\"\\ude00\"}", "{\"name\":\"\\x\"}",
        "{\"name\":\"\\u12\"}",   "{\"name\":\"a\nb\"}",    "{\"name\":\"abc",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_int_eq(rd(&pwm_ringq_v1_GetQueueRequest_desc, &r, bad[i], &a, err), -EINVAL);
    pw_msg_arena_deinit(&a);
}
END_TEST

START_TEST(refusals_say_why)
{
    pw_msg_arena a;
    pw_msg_arena_init_heap(&a, 4096, 1 << 20);
    char err[PW_JSON_ERR_BYTES];
    pwm_ringq_v1_PeekTasksRequest p;
    static const struct {
        const char *in, *says;
    } cases[] = {
        {"{\"limit\":-1}", "out of range"},
        {"{\"limit\":4294967296}", "out of range"},
        {"{\"limit\":1.5}", "not an integer"},
        {"{\"limit\":\"5\"}", "expected a number"}, /* strings only for 64-bit integers */
        {"{\"limt\":5}", "unknown field \"limt\""},
        {"{\"limit\":5,}", "expected a string"},
        {"{\"limit\":5} {}", "trailing"},
        {"[]", "expected an object"},
        {"", "expected an object"},
        {"{\"queue\":5}", "expected a string"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ck_assert_int_eq(rd(&pwm_ringq_v1_PeekTasksRequest_desc, &p, cases[i].in, &a, err),
                         -EINVAL);
        ck_assert_msg(strstr(err, cases[i].says), "%s: %s", cases[i].in, err);
    }
    ck_assert_int_eq(rd(&pwm_ringq_v1_PeekTasksRequest_desc, &p,
                        " {\"limit\": 4294967295, \"queue\": null, \"state\": -0} ", &a, err),
                     0);
    ck_assert_uint_eq(p.limit, 4294967295u);
    pw_msg_arena_deinit(&a);
}
END_TEST

START_TEST(limits_depth_and_arrays)
{
    pw_msg_arena a;
    pw_msg_arena_init_heap(&a, 4096, 1 << 24);
    char err[PW_JSON_ERR_BYTES];
    pwm_ringq_v1_RedriveDeadTasksRequest r;
    static char big[PW_JSON_ARRAY_MAX * 4 + 64];
    strcpy(big, "{\"ids\":[");
    for (unsigned i = 0; i <= PW_JSON_ARRAY_MAX; i++) strcat(big, i ? ",\"a\"" : "\"a\"");
    strcat(big, "]}");
    ck_assert_int_eq(rd(&pwm_ringq_v1_RedriveDeadTasksRequest_desc, &r, big, &a, err), -EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "more than"));
    /* Exactly the cap: accepted, every element kept (the array grew by doubling). */
    strcpy(big, "{\"ids\":[");
    for (unsigned i = 0; i < PW_JSON_ARRAY_MAX; i++) strcat(big, i ? ",\"b\"" : "\"a\"");
    strcat(big, "]}");
    ck_assert_int_eq(rd(&pwm_ringq_v1_RedriveDeadTasksRequest_desc, &r, big, &a, err), 0);
    ck_assert_uint_eq(r.ids_count, PW_JSON_ARRAY_MAX);
    ck_assert_int_eq(r.ids[0].ptr[0], 'a');
    ck_assert_int_eq(r.ids[PW_JSON_ARRAY_MAX - 1].ptr[0], 'b');
    /* Nesting past the limit: ListQueuesResponse{queues: [{config: ...}]} is only 3 deep, so a
     * deeper input fails on type first; a deep array of arrays fails on depth or type. */
    char deep[256] = "{\"queues\":[";
    for (int i = 0; i < 20; i++) strcat(deep, "[");
    pwm_ringq_v1_ListQueuesResponse l;
    ck_assert_int_eq(rd(&pwm_ringq_v1_ListQueuesResponse_desc, &l, deep, &a, err), -EINVAL);
    pw_msg_arena_deinit(&a);
}
END_TEST

START_TEST(set_field_from_text)
{
    char err[PW_JSON_ERR_BYTES];
    pwm_ringq_v1_PeekTasksRequest p;
    memset(&p, 0, sizeof p);
    char v1[] = "25", v2[] = "my-queue", v3[] = "x", v4[] = "1";
    ck_assert_int_eq(
        pw_json_set_field(&pwm_ringq_v1_PeekTasksRequest_desc, &p, "limit", 5, v1, 2, err), 0);
    ck_assert_uint_eq(p.limit, 25);
    ck_assert_int_eq(
        pw_json_set_field(&pwm_ringq_v1_PeekTasksRequest_desc, &p, "queue", 5, v2, 8, err), 0);
    ck_assert_uint_eq(p.queue.len, 8);
    ck_assert_int_eq(
        pw_json_set_field(&pwm_ringq_v1_PeekTasksRequest_desc, &p, "limit", 5, v3, 1, err),
        -EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "limit"));
    ck_assert_int_eq(
        pw_json_set_field(&pwm_ringq_v1_PeekTasksRequest_desc, &p, "nope", 4, v4, 1, err), -EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "nope"));
    /* A proto3 optional field gets its presence bit. */
    pwm_ringq_v1_ConfigureQueueRequest c;
    memset(&c, 0, sizeof c);
    char v5[] = "9";
    ck_assert_int_eq(pw_json_set_field(&pwm_ringq_v1_ConfigureQueueRequest_desc, &c, "max_attempts",
                                       12, v5, 1, err),
                     0);
    ck_assert(c.has_max_attempts);
    ck_assert_uint_eq(c.max_attempts, 9);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("pw_json");
    TCase *tc = tcase_create("json");
    tcase_add_test(tc, round_trip_task_info);
    tcase_add_test(tc, strings_escape_markup_and_bad_utf8);
    tcase_add_test(tc, surrogates_and_escapes);
    tcase_add_test(tc, refusals_say_why);
    tcase_add_test(tc, limits_depth_and_arrays);
    tcase_add_test(tc, set_field_from_text);
    suite_add_tcase(s, tc);
    return ts_run_suite(s);
}
