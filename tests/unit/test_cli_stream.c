/* tools/ringq_stream_args: the argument grammar of `ringq stream`, `pub`, `sub` and `consumer` -
 * durations with units, RFC 3339 times (fraction, offsets, impossible dates), --from / --to
 * positions, policy names, comma-separated subject lists and pause's --until. Each rejected
 * input leaves the output untouched. */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "tools/ringq_stream_args.h"
#include "ts_main.h"

START_TEST(durations)
{
    uint64_t v = 7;
    ck_assert(sa_parse_duration_ms("500", &v) && v == 500);
    ck_assert(sa_parse_duration_ms("500ms", &v) && v == 500);
    ck_assert(sa_parse_duration_ms("2s", &v) && v == 2000);
    ck_assert(sa_parse_duration_ms("2m", &v) && v == 120000);
    ck_assert(sa_parse_duration_ms("1h", &v) && v == 3600000);
    ck_assert(sa_parse_duration_ms("7d", &v) && v == 7ull * 86400000);
    ck_assert(sa_parse_duration_ms("0", &v) && v == 0);
    v = 7;
    static const char *bad[] = {
        "", "s", "-1s", "1.5s", "1 s", "1sec", "2w", "1ms2", "99999999999999999999", "36600000d"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(!sa_parse_duration_ms(bad[i], &v) && v == 7, "%s", bad[i]);
    ck_assert(!sa_parse_duration_ms(NULL, &v));
}
END_TEST

START_TEST(times)
{
    uint64_t v = 7;
    ck_assert(sa_parse_time_ms("1970-01-01T00:00:00Z", &v) && v == 0);
    ck_assert(sa_parse_time_ms("2024-05-01T12:00:00Z", &v) && v == 1714564800000ull);
    ck_assert(sa_parse_time_ms("2024-05-01T12:00:00.123Z", &v) && v == 1714564800123ull);
    ck_assert(sa_parse_time_ms("2024-05-01T12:00:00.5Z", &v) && v == 1714564800500ull);
    ck_assert(sa_parse_time_ms("2024-05-01T12:00:00.123456Z", &v) && v == 1714564800123ull);
    ck_assert(sa_parse_time_ms("2024-05-01T14:00:00+02:00", &v) && v == 1714564800000ull);
    ck_assert(sa_parse_time_ms("2024-05-01T07:30:00-04:30", &v) && v == 1714564800000ull);
    ck_assert(sa_parse_time_ms("2024-02-29T00:00:00Z", &v)); /* a leap day */
    v = 7;
    static const char *bad[] = {"",
                                "2024-05-01",
                                "2024-05-01T12:00Z",
                                "2024-05-01T12:00:00",
                                "2024-13-01T00:00:00Z",
                                "2023-02-29T00:00:00Z",
                                "2024-04-31T00:00:00Z",
                                "2024-05-01T24:00:00Z",
                                "2024-05-01T12:00:00.Z",
                                "2024-05-01T12:00:00+2:00",
                                "2024-05-01T12:00:00Zjunk",
                                "1969-12-31T23:59:59Z",
                                "1714564800000"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(!sa_parse_time_ms(bad[i], &v) && v == 7, "%s", bad[i]);
}
END_TEST

START_TEST(positions)
{
    sa_pos p;
    ck_assert(sa_parse_from("all", &p) && p.policy == RQ_DELIVER_ALL);
    ck_assert(sa_parse_from("last", &p) && p.policy == RQ_DELIVER_LAST);
    ck_assert(sa_parse_from("new", &p) && p.policy == RQ_DELIVER_NEW);
    ck_assert(sa_parse_from("last_per_subject", &p) && p.policy == RQ_DELIVER_LAST_PER_SUBJECT);
    ck_assert(sa_parse_from("seq:42", &p) && p.policy == RQ_DELIVER_BY_START_SEQ && p.seq == 42);
    ck_assert(sa_parse_from("time:2024-05-01T12:00:00Z", &p) &&
              p.policy == RQ_DELIVER_BY_START_TIME && p.unix_ms == 1714564800000ull);
    p = (sa_pos){.policy = 99};
    static const char *bad[] = {"",      "seq:",     "seq:0", "seq:-1", "seq:1x",
                                "time:", "time:now", "first", "ALL",    "seq 1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(!sa_parse_from(bad[i], &p) && p.policy == 99, "%s", bad[i]);
    /* --to takes only a sequence or a time */
    ck_assert(sa_parse_to("seq:1", &p) && p.policy == RQ_DELIVER_BY_START_SEQ && p.seq == 1);
    ck_assert(sa_parse_to("time:2024-05-01T12:00:00Z", &p) && p.policy == RQ_DELIVER_BY_START_TIME);
    p.policy = 99;
    ck_assert(!sa_parse_to("all", &p) && !sa_parse_to("new", &p) && p.policy == 99);
}
END_TEST

START_TEST(policies)
{
    int v = 0;
    ck_assert(sa_parse_retention("limits", &v) && v == RQ_RETENTION_LIMITS);
    ck_assert(sa_parse_retention("interest", &v) && v == RQ_RETENTION_INTEREST);
    ck_assert(sa_parse_retention("work_queue", &v) && v == RQ_RETENTION_WORK_QUEUE);
    ck_assert(sa_parse_discard("old", &v) && v == RQ_DISCARD_OLD);
    ck_assert(sa_parse_discard("new", &v) && v == RQ_DISCARD_NEW);
    v = 9;
    ck_assert(!sa_parse_retention("workqueue", &v) && !sa_parse_retention("", &v));
    ck_assert(!sa_parse_retention("unspecified", &v) && !sa_parse_discard("unspecified", &v));
    ck_assert(!sa_parse_discard("oldest", &v) && !sa_parse_discard(NULL, &v) && v == 9);
    /* the names printed are the names parsed */
    ck_assert_str_eq(rq_retention_name(RQ_RETENTION_WORK_QUEUE), "work_queue");
    ck_assert_str_eq(rq_deliver_name(RQ_DELIVER_BY_START_SEQ), "by_start_sequence");
    ck_assert_str_eq(rq_ack_policy_name(RQ_ACK_NONE), "none");
    ck_assert_str_eq(rq_ack_policy_name(0), "unspecified");
    ck_assert_str_eq(rq_deliver_name(77), "unspecified");
}
END_TEST

START_TEST(subject_lists)
{
    char s[RQ_STREAM_SUBJECTS_MAX][RQ_SUBJECT_MAX];
    size_t n = 0;
    ck_assert(sa_parse_subjects("orders.>", s, &n) && n == 1);
    ck_assert_str_eq(s[0], "orders.>");
    ck_assert(sa_parse_subjects("a.>,b,c.*.d", s, &n) && n == 3);
    ck_assert_str_eq(s[0], "a.>");
    ck_assert_str_eq(s[1], "b");
    ck_assert_str_eq(s[2], "c.*.d");
    n = 99;
    ck_assert(!sa_parse_subjects("", s, &n) && !sa_parse_subjects("a,", s, &n));
    ck_assert(!sa_parse_subjects(",a", s, &n) && !sa_parse_subjects("a,,b", s, &n));
    ck_assert(n == 99);
    /* 16 fit, 17 do not */
    char list[200] = "s0";
    for (int i = 1; i < RQ_STREAM_SUBJECTS_MAX; i++) {
        size_t at = strlen(list);
        ck_assert_int_lt(snprintf(list + at, sizeof list - at, ",s%d", i), (int)(sizeof list - at));
    }
    ck_assert(sa_parse_subjects(list, s, &n) && n == RQ_STREAM_SUBJECTS_MAX);
    strcat(list, ",x");
    ck_assert(!sa_parse_subjects(list, s, &n) && n == RQ_STREAM_SUBJECTS_MAX);
    /* a subject of 256 bytes fits, 257 do not */
    char big[RQ_SUBJECT_MAX + 1];
    memset(big, 'a', RQ_SUBJECT_MAX - 1);
    big[RQ_SUBJECT_MAX - 1] = 0;
    ck_assert(sa_parse_subjects(big, s, &n) && n == 1 && strlen(s[0]) == RQ_SUBJECT_MAX - 1);
    big[RQ_SUBJECT_MAX - 1] = 'a';
    big[RQ_SUBJECT_MAX] = 0;
    ck_assert(!sa_parse_subjects(big, s, &n));
}
END_TEST

START_TEST(until)
{
    uint64_t v = 7;
    ck_assert(sa_parse_until("now", 1000, &v) && v == 0);
    ck_assert(sa_parse_until("30s", 1000, &v) && v == 31000);
    ck_assert(sa_parse_until("2024-05-01T12:00:00Z", 1000, &v) && v == 1714564800000ull);
    v = 7;
    ck_assert(!sa_parse_until("soon", 1000, &v) && !sa_parse_until("", 1000, &v) && v == 7);
}
END_TEST

START_TEST(filter_probe)
{
    char out[RQ_SUBJECT_MAX];
    ck_assert(sa_filter_probe("orders.>", out, sizeof out));
    ck_assert_str_eq(out, "orders._");
    ck_assert(sa_filter_probe("*.eu.*.x", out, sizeof out));
    ck_assert_str_eq(out, "_.eu._.x");
    ck_assert(sa_filter_probe(">", out, sizeof out));
    ck_assert_str_eq(out, "_");
    ck_assert(sa_filter_probe("a*.b>", out, sizeof out)); /* not whole tokens: left as they are */
    ck_assert_str_eq(out, "a*.b>");
    ck_assert(sa_filter_probe("plain.subject", out, sizeof out));
    ck_assert_str_eq(out, "plain.subject");
    char small[6];
    ck_assert(sa_filter_probe("ab.*", small, sizeof small)); /* "ab._" and the NUL: 5 */
    ck_assert(!sa_filter_probe("abc.*", small, sizeof small));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cli_stream");
    TCase *tc = tcase_create("args");
    tcase_add_test(tc, durations);
    tcase_add_test(tc, times);
    tcase_add_test(tc, positions);
    tcase_add_test(tc, policies);
    tcase_add_test(tc, subject_lists);
    tcase_add_test(tc, until);
    tcase_add_test(tc, filter_probe);
    suite_add_tcase(s, tc);
    return ts_run_suite(s);
}
