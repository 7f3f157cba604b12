/* Unit tests for server/srv_metrics: the Prometheus text helpers (label escaping, series and
 * family lines). */
#include <check.h>
#include <string.h>

#include "server/srv_metrics.h"
#include "ts_main.h"

static const char *text(buf *b)
{
    static char s[4096];
    size_t n = buf_size(b) < sizeof s - 1 ? buf_size(b) : sizeof s - 1;
    memcpy(s, buf_begin(b), n);
    s[n] = 0;
    return s;
}

START_TEST(escape_label_values)
{
    char d[64];
    const char *v = "a\\b\"c\nd";
    ck_assert_uint_eq(srv_metric_escape(d, sizeof d, v, strlen(v)), 10);
    ck_assert_str_eq(d, "a\\\\b\\\"c\\nd");
    ck_assert_uint_eq(srv_metric_escape(d, sizeof d, "q.name-1_x", 10), 10);
    ck_assert_str_eq(d, "q.name-1_x");
    /* Cut short, never split an escape, always terminated. */
    ck_assert_uint_eq(srv_metric_escape(d, 4, "ab\"c", 4), 2);
    ck_assert_str_eq(d, "ab");
    ck_assert_uint_eq(srv_metric_escape(d, 1, "abc", 3), 0);
    ck_assert_str_eq(d, "");
}
END_TEST

START_TEST(family_and_series_lines)
{
    buf b;
    buf_init(&b, 1 << 16);
    srv_metric_family(&b, "ringq_x_total", "counter", "Xs.");
    srv_metric_u64(&b, "ringq_x_total", "queue=\"q\",code=\"OK\"", 18446744073709551615ull);
    srv_metric_u64(&b, "ringq_x_total", NULL, 0);
    srv_metric_f64(&b, "ringq_t_seconds", "", 1796610685.71);
    srv_metric_f64(&b, "ringq_t_seconds", NULL, 0.00025);
    ck_assert_str_eq(text(&b), "# HELP ringq_x_total Xs.\n# TYPE ringq_x_total counter\n"
                               "ringq_x_total{queue=\"q\",code=\"OK\"} 18446744073709551615\n"
                               "ringq_x_total 0\n"
                               "ringq_t_seconds 1796610685.71\n"
                               "ringq_t_seconds 0.00025\n");
    buf_deinit(&b);
}
END_TEST

START_TEST(full_buffer_drops_whole_lines)
{
    buf b;
    buf_init(&b, 40);
    srv_metric_u64(&b, "ringq_a", NULL, 1);                       /* 10 bytes */
    srv_metric_u64(&b, "ringq_long_name_here", "x=\"y\"", 12345); /* does not fit */
    srv_metric_u64(&b, "ringq_b", NULL, 2);
    ck_assert_str_eq(text(&b), "ringq_a 1\nringq_b 2\n");
    buf_deinit(&b);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("srv_metrics");
    TCase *tc = tcase_create("text");
    tcase_add_test(tc, escape_label_values);
    tcase_add_test(tc, family_and_series_lines);
    tcase_add_test(tc, full_buffer_drops_whole_lines);
    suite_add_tcase(s, tc);
    return ts_run_suite(s);
}
