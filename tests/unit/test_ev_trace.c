/* core/ev_trace: the breakdown of long loop turns behind RINGQ_TURN_TRACE_MS, through a real
 * ev_loop: a turn with a slow wake-up handler is counted long, logged once, and its time is in
 * the wake part; a short turn is not; the threshold parses as documented. Skips (exit 77) when
 * io_uring is unavailable. */
#include <check.h>
#include <errno.h>
#include <stdint.h>

#include "core/ev_reactor.h"
#include "core/ev_trace.h"
#include "core/rt_clock.h"
#include "ts_main.h"

START_TEST(the_threshold_parses_whole_milliseconds)
{
    uint64_t ns = 0;
    ck_assert_int_eq(ev_trace_parse_ms("5", &ns), 0);
    ck_assert_uint_eq(ns, 5 * RT_NS_PER_MS);
    ck_assert_int_eq(ev_trace_parse_ms("10000", &ns), 0);
    ck_assert_int_eq(ev_trace_parse_ms("10001", &ns), -EINVAL);
    ck_assert_int_eq(ev_trace_parse_ms("0", &ns), -EINVAL);
    ck_assert_int_eq(ev_trace_parse_ms("", &ns), -EINVAL);
    ck_assert_int_eq(ev_trace_parse_ms(NULL, &ns), -EINVAL);
    ck_assert_int_eq(ev_trace_parse_ms("2ms", &ns), -EINVAL);
    ck_assert_int_eq(ev_trace_parse_ms("99999999999999999999999", &ns), -EINVAL);
}
END_TEST

static uint64_t g_spin_ns;

static void on_wake(ev_loop *loop, void *ud, uint32_t data)
{
    uint64_t until = rt_now_ns() + g_spin_ns;
    while (rt_now_ns() < until) {}
}

/* One wake-up whose handler spins `spin_ns`, then the next iteration that ends its turn. */
static void one_turn(ev_loop *l, ev_loop *from, uint64_t spin_ns)
{
    g_spin_ns = spin_ns;
    ck_assert_int_eq(ev_loop_wake_from(from, l, 7), 0);
    ck_assert_int_ge(ev_loop_run_once(l, true), 1);
    ck_assert_int_ge(ev_loop_run_once(l, false), 0);
}

START_TEST(a_long_turn_is_broken_down_a_short_one_is_not)
{
    ev_loop *l = ts_loop_create(), *from = ts_loop_create();
    ck_assert_int_eq(ev_loop_add_wake_handler(l, on_wake, NULL), 0);
    ev_trace *t = ev_loop_trace(l);
    ev_trace_set(t, 2 * RT_NS_PER_MS);
    ck_assert(ev_trace_on(t));
    one_turn(l, from, 0);
    ck_assert_uint_eq(t->long_total, 0);
    one_turn(l, from, 3 * RT_NS_PER_MS);
    ck_assert_uint_eq(t->long_total, 1);
    ck_assert_uint_eq(t->logged_total, 1);
    ck_assert_uint_ge(t->last_wall_ns, 3 * RT_NS_PER_MS);
    ck_assert_uint_ge(t->last_part_ns[EV_TRACE_PART_WAKE], 3 * RT_NS_PER_MS);
    ck_assert_uint_le(t->last_part_ns[EV_TRACE_PART_WAKE], t->last_wall_ns);
    one_turn(l, from, 0);
    ck_assert_uint_eq(t->long_total, 1);
    ev_trace_set(t, 0); /* off: nothing counted */
    one_turn(l, from, 3 * RT_NS_PER_MS);
    ck_assert_uint_eq(t->long_total, 0);
    ev_loop_destroy(from);
    ev_loop_destroy(l);
}
END_TEST

int main(void)
{
    int skip = ts_io_uring_or_skip();
    if (skip) return skip;
    Suite *s = suite_create("ev_trace");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, the_threshold_parses_whole_milliseconds);
    tcase_add_test(tc, a_long_turn_is_broken_down_a_short_one_is_not);
    suite_add_tcase(s, tc);
    return ts_run_suite(s);
}
