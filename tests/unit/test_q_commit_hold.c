/* queue/q_commit: the hold of a chain about to start on an idle log (Q_COMMIT_HOLD_US). Right
 * after a completion, a group smaller than what that completion's chain covered waits on the
 * log's timer until it grows to that size or the time is up; a group as large starts at once,
 * and so does any group once the time is up. Skips (exit 77) when io_uring is unusable here. */
#include "test_q_commit_util.h"

/* One chain covering 4 records, run to its end. The loop may have run another iteration after
 * the completion's (its answers are deferred), and a slow build (TSan) can take longer than the
 * hold between the two: white box, the completion's time is pinned to the loop's time now, so
 * "right after a completion" holds whatever the build's speed. */
static void commit_four(q_log *log, ev_loop *loop, uint64_t *seen)
{
    q_commit_waiter w;
    tqc_append_n(log, 0, 4);
    ck_assert_int_eq(q_log_commit_async(log, &w, tq_count_cb, seen), 0);
    ck_assert_uint_eq(log->nchains, 1);
    tqc_run_until(loop, log, seen, 1);
    ck_assert_uint_eq(q_log_durable(log), 4);
    ck_assert_uint_eq(log->last_cover, 4);
    log->last_end_ns = ev_loop_now(loop);
}

/* Right after the completion, 1 then 2 more records start no chain; the 4th starts one chain
 * that answers all three waiters (before the hold each of the first two started one). */
START_TEST(a_start_right_after_a_completion_waits_for_its_group)
{
    char dir[64];
    ev_loop *loop;
    q_log *log = tqc_open_attached(dir, &loop);
    uint64_t seen[6] = {0};
    q_commit_waiter w[3];
    commit_four(log, loop, seen);
    tqc_append_n(log, 4, 1);
    ck_assert_int_eq(q_log_commit_async(log, &w[0], tq_count_cb, seen), 0);
    ck_assert_uint_eq(log->nchains, 0); /* held */
    ck_assert(ev_timer_armed(&log->timer));
    tqc_append_n(log, 5, 2);
    ck_assert_int_eq(q_log_commit_async(log, &w[1], tq_count_cb, seen), 0);
    ck_assert_uint_eq(log->nchains, 0);
    tqc_append_n(log, 7, 1); /* the group reaches 4 */
    ck_assert_int_eq(q_log_commit_async(log, &w[2], tq_count_cb, seen), 0);
    ck_assert_uint_eq(log->nchains, 1);
    ck_assert(!ev_timer_armed(&log->timer));
    ck_assert_uint_eq(log->chains[log->chain_head].target, 8);
    ck_assert_uint_eq(seen[0], 1); /* never called inline */
    tqc_run_until(loop, log, seen, 4);
    for (int i = 2; i <= 4; i++) ck_assert_uint_eq(seen[i], 8);
    ck_assert_uint_eq(tqc_fsyncs(log), 2);
    ck_assert_uint_eq(log->held_total, 1);
    tqc_close_attached(log, loop, dir);
}
END_TEST

/* A held group that never grows is started by the timer and answered by its own fsync. */
START_TEST(a_held_group_starts_when_the_time_is_up)
{
    char dir[64];
    ev_loop *loop;
    q_log *log = tqc_open_attached(dir, &loop);
    uint64_t seen[4] = {0};
    q_commit_waiter w;
    commit_four(log, loop, seen);
    tqc_append_n(log, 4, 1);
    ck_assert_int_eq(q_log_commit_async(log, &w, tq_count_cb, seen), 0);
    ck_assert_uint_eq(log->nchains, 0);
    uint64_t end = log->last_end_ns;
    tqc_run_until(loop, log, seen, 2);
    ck_assert_uint_eq(seen[2], 5);
    ck_assert_uint_eq(q_log_durable(log), 5);
    ck_assert_uint_eq(tqc_fsyncs(log), 2);
    ck_assert_uint_ge(log->last_end_ns - end, (uint64_t)Q_COMMIT_HOLD_US * 1000u);
    tqc_close_attached(log, loop, dir);
}
END_TEST

/* Once the hold's time since the completion has passed (white box: the completion's time set
 * back), a lone record starts its chain at once; so does a group as large as the last one. */
START_TEST(no_hold_after_the_time_or_for_a_full_group)
{
    char dir[64];
    ev_loop *loop;
    q_log *log = tqc_open_attached(dir, &loop);
    uint64_t seen[4] = {0};
    q_commit_waiter w[2];
    commit_four(log, loop, seen);
    tqc_append_n(log, 4, 4);
    ck_assert_int_eq(q_log_commit_async(log, &w[0], tq_count_cb, seen), 0);
    ck_assert_uint_eq(log->nchains, 1); /* as large as the last chain's group */
    tqc_run_until(loop, log, seen, 2);
    log->last_end_ns -= (uint64_t)Q_COMMIT_HOLD_US * 1000u;
    tqc_append_n(log, 8, 1);
    ck_assert_int_eq(q_log_commit_async(log, &w[1], tq_count_cb, seen), 0);
    ck_assert_uint_eq(log->nchains, 1);
    tqc_run_until(loop, log, seen, 3);
    ck_assert_uint_eq(q_log_durable(log), 9);
    ck_assert_uint_eq(log->held_total, 0);
    tqc_close_attached(log, loop, dir);
}
END_TEST

int main(void)
{
    tq_require_uring("test_q_commit_hold");
    const TTest *tests[] = {a_start_right_after_a_completion_waits_for_its_group,
                            a_held_group_starts_when_the_time_is_up,
                            no_hold_after_the_time_or_for_a_full_group};
    return tq_run("q_commit_hold", "hold", 60, tests, sizeof tests / sizeof tests[0]);
}
