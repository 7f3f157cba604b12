/* core/ev_reactor: one loop turn's work is bounded (EV_BATCH_MAX completions, EV_TURN_NS_MAX of
 * callbacks; issue 19, "no stall over 5 ms on the shard thread"). A backlog of completions is
 * handled over several turns, in order, the iteration hooks running between them, and a loop
 * with completions left over never sleeps. Counted in callbacks per turn, not wall clock.
 * Skips (exit 77) when io_uring is unavailable. */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <fcntl.h>
#include <unistd.h>

#include "core/ev_reactor.h"
#include "core/rt_clock.h"
#include "ts_main.h"

typedef struct {
    uint32_t got;      /* wake-ups handled */
    uint32_t order_ok; /* each carried the next number */
    uint64_t spin_ns;  /* on-CPU work per wake-up */
    uint32_t hooks;    /* iteration hooks run */
} wake_count;

static void on_wake(ev_loop *loop, void *ud, uint32_t data)
{
    wake_count *w = ud;
    if (data == w->got) w->order_ok++;
    w->got++;
    /* Work on the CPU (a callback decoding a large buffer), not a sleep: the turn's time. */
    uint64_t until = rt_now_ns() + w->spin_ns;
    while (w->spin_ns && rt_now_ns() < until) {}
}

static bool on_iteration(ev_loop *loop, void *ud, ev_hook_phase phase)
{
    if (phase == EV_HOOK_ITERATION) ((wake_count *)ud)->hooks++;
    return true;
}

/* n wake-ups from a second loop, all posted to `l` before it runs. */
static void post_wakes(ev_loop *from, ev_loop *l, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) ck_assert_int_eq(ev_loop_wake_from(from, l, i), 0);
}

#define BACKLOG_CQES (4u * EV_BATCH_MAX - 24u) /* fits the SQ (1024) and CQ; four batches */

typedef struct {
    ev_op op;
    wake_count *w;
    uint32_t no;
} send_op;

static void on_sent(ev_loop *loop, ev_op *op, int res, unsigned flags)
{
    send_op *s = (send_op *)op;
    ck_assert_int_eq(res, 1);
    on_wake(loop, s->w, s->no);
}

/* A backlog: BACKLOG_CQES one-byte writes to /dev/null, queued before the loop runs, so its
 * first submit completes them all at once (inline) and their completions wait in the CQ. */
START_TEST(a_backlog_runs_over_turns_of_one_batch)
{
    ev_loop *l = ts_loop_create();
    wake_count w = {0};
    ck_assert_int_eq(ev_loop_add_hook(l, on_iteration, &w), 0);
    int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    static send_op ops[BACKLOG_CQES];
    for (uint32_t i = 0; i < BACKLOG_CQES; i++) {
        ops[i] = (send_op){.op = {.cb = on_sent}, .w = &w, .no = i};
        ck_assert_int_eq(ev_write(l, &ops[i].op, fd, "x", 1, 0), 0);
    }
    uint32_t turns = 0;
    while (w.got < BACKLOG_CQES) {
        uint32_t before = w.got;
        /* block: a loop with completions ready must not sleep (the test would hang) */
        ck_assert_int_ge(ev_loop_run_once(l, true), 0);
        ck_assert_uint_le(w.got - before, EV_BATCH_MAX);
        turns++;
    }
    ck_assert_uint_eq(w.order_ok, BACKLOG_CQES);
    ck_assert_uint_ge(turns, BACKLOG_CQES / EV_BATCH_MAX + 1);
    ck_assert_uint_ge(w.hooks, turns); /* the hooks ran before each turn */
    ev_turn_stats st;
    ev_loop_turn_stats_get(l, &st);
    /* The backlog was there: a turn ended by the batch bound, or earlier by the time budget
     * when 256 callbacks take over 500 us (a sanitizer build, a loaded machine). */
    ck_assert_uint_le(st.cqes_max, EV_BATCH_MAX);
    ck_assert_uint_ge(st.cut_by_count + st.cut_by_time, 1);
    if (st.cut_by_time == 0) ck_assert_uint_eq(st.cqes_max, EV_BATCH_MAX);
    close(fd);
    ev_loop_destroy(l);
}
END_TEST

#define SLOW_CQES 64u
#define SLOW_CQE_NS 200000ull /* 64 x 200 us = 12.8 ms of callbacks, 25 turn budgets */

START_TEST(a_turn_stops_after_its_time_budget)
{
    ev_loop *l = ts_loop_create(), *from = ts_loop_create();
    wake_count w = {.spin_ns = SLOW_CQE_NS};
    ck_assert_int_eq(ev_loop_add_wake_handler(l, on_wake, &w), 0);
    post_wakes(from, l, SLOW_CQES);
    ck_assert_int_ge(ev_loop_run_once(l, false), 0);
    /* The clock is read after every completion: the third (3 x 200 us) is over budget. */
    uint32_t first = w.got;
    ck_assert_uint_ge(first, 1);
    ck_assert_uint_le(first, (uint32_t)(EV_TURN_NS_MAX / SLOW_CQE_NS) + 1u);
    ck_assert_uint_lt(first, SLOW_CQES);
    while (w.got < SLOW_CQES) ck_assert_int_ge(ev_loop_run_once(l, true), 0);
    ck_assert_uint_eq(w.order_ok, SLOW_CQES); /* what a turn left ran first, in order */
    ev_turn_stats st;
    ev_loop_turn_stats_get(l, &st);
    ck_assert_uint_le(st.cqes_max, (uint32_t)(EV_TURN_NS_MAX / SLOW_CQE_NS) + 1u);
    /* After the first turn (which may also have ended when the wakes posted so far ran out),
     * every turn but the last was cut by the budget, each with at most cqes_max callbacks (a
     * later turn may fit one more than the first did, so the bound is not taken from `first`). */
    ck_assert_uint_ge(st.cqes_max, 1);
    ck_assert_uint_ge(st.cut_by_time, (SLOW_CQES - first + st.cqes_max - 1) / st.cqes_max - 1);
    ev_loop_destroy(from);
    ev_loop_destroy(l);
}
END_TEST

#define HEAVY_CQES 16u
#define HEAVY_CQE_NS 1000000ull /* a recv of a full buffer of requests: over the whole budget */

/* A callback longer than the budget ends its turn at once: the loop used to read the clock once
 * per 8 completions, so 8 such callbacks (8 ms) made one turn. */
START_TEST(a_callback_over_the_budget_is_a_turn_of_its_own)
{
    ev_loop *l = ts_loop_create(), *from = ts_loop_create();
    wake_count w = {.spin_ns = HEAVY_CQE_NS};
    ck_assert_int_eq(ev_loop_add_wake_handler(l, on_wake, &w), 0);
    post_wakes(from, l, HEAVY_CQES);
    uint32_t turns = 0;
    while (w.got < HEAVY_CQES) {
        uint32_t before = w.got;
        ck_assert_int_ge(ev_loop_run_once(l, turns > 0), 0);
        ck_assert_uint_le(w.got - before, 1);
        turns++;
    }
    ck_assert_uint_eq(w.order_ok, HEAVY_CQES);
    ev_turn_stats st;
    ev_loop_turn_stats_get(l, &st);
    ck_assert_uint_eq(st.cqes_max, 1);
    /* Cut by the budget after its one callback, unless the wakes posted so far had run out. */
    ck_assert_uint_ge(st.cut_by_time, 1);
    ck_assert_uint_le(st.cut_by_time, HEAVY_CQES - 1);
    ev_loop_destroy(from);
    ev_loop_destroy(l);
}
END_TEST

typedef struct {
    uint64_t spin_ns; /* CPU a before-sleep call spends (once), then vetoes that sleep */
    uint32_t calls;
} sleep_hook;

static bool on_before_sleep(ev_loop *loop, void *ud, ev_hook_phase phase)
{
    sleep_hook *h = ud;
    if (phase != EV_HOOK_BEFORE_SLEEP) return true;
    if (h->calls++) return true;
    uint64_t until = rt_now_ns() + h->spin_ns;
    while (rt_now_ns() < until) {}
    return false; /* it ran work (a mesh hook's messages): go around instead of sleeping */
}

/* Turns over 1 ms in `h`: its buckets whose lower bound is 1 ms or more. */
static uint64_t over_1ms(const rt_hist *h)
{
    rt_hist c = {0};
    rt_hist_add(&c, h);
    const uint64_t *b = rt_hist_bounds_ns();
    uint64_t n = 0;
    for (uint32_t i = 1; i < RT_HIST_BUCKETS; i++)
        if (b[i - 1] >= RT_NS_PER_MS) n += c.buckets[i];
    return n;
}

/* Work a before-sleep hook does is in the turn: the stall ends at the submit or wait, not
 * before the hooks that decide whether to sleep (they ran a mesh poll unmeasured). */
START_TEST(before_sleep_hook_work_counts_in_the_turn)
{
    ev_loop *l = ts_loop_create();
    sleep_hook h = {.spin_ns = 3 * RT_NS_PER_MS};
    ck_assert_int_eq(ev_loop_add_hook(l, on_before_sleep, &h), 0);
    ck_assert_int_ge(ev_loop_run_once(l, false), 0); /* a first turn: measuring from here */
    ck_assert_uint_eq(over_1ms(ev_loop_stall_hist(l)), 0);
    ck_assert_int_ge(ev_loop_run_once(l, true), 0); /* the hook spins, then vetoes the sleep */
    ck_assert_uint_eq(h.calls, 1);
    ck_assert_uint_eq(over_1ms(ev_loop_stall_hist(l)), 1);
    ev_loop_destroy(l);
}
END_TEST

int main(void)
{
    int skip = ts_io_uring_or_skip();
    if (skip) return skip;
    Suite *s = suite_create("ev_turn");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, a_backlog_runs_over_turns_of_one_batch);
    tcase_add_test(tc, a_turn_stops_after_its_time_budget);
    tcase_add_test(tc, a_callback_over_the_budget_is_a_turn_of_its_own);
    tcase_add_test(tc, before_sleep_hook_work_counts_in_the_turn);
    suite_add_tcase(s, tc);
    return ts_run_suite(s);
}
