/* queue/q_part with opts.ready_when_durable ("durable before visible", docs/semantics.md): a
 * task is leased, and its queue drained for waiters, only once its ENQUEUE record is durable.
 * The partition's log runs its group commit on a real io_uring loop; the fsync's completion is
 * held back simply by not running the loop, and the commit's own callback is where the tasks
 * become visible. Skips (exit 77) when io_uring is unusable here. */
#include "test_q_part_util.h"

#include "core/ev_reactor.h"

typedef struct seen {
    tp *t;
    uint32_t drained; /* q_ready_fn calls */
    uint32_t leased;  /* tasks leased from inside them */
    uint64_t leased_id;
    uint64_t durable_at_lease;
    bool committed; /* the commit callback ran */
    int status;
} seen;

static void on_ready(void *ud, q_part *p, const char *name, uint32_t name_len, uint64_t ready)
{
    seen *s = ud;
    s->drained++;
    q_leased l;
    uint32_t n = 0;
    q_err e;
    ck_assert_int_eq(q_part_lease(p, name, name_len, 1, 0, T0, &l, &n, &e), Q_OK);
    if (n == 1) {
        s->leased++;
        s->leased_id = l.id;
        s->durable_at_lease = q_log_durable(q_part_log(p));
    }
}

/* The commit's completion callback: the server serves its waiters from here. */
static void on_commit(q_log *log, void *ud, int status, uint64_t durable)
{
    seen *s = ud;
    s->committed = true;
    s->status = status;
    q_part_drain_ready(s->t->p, on_ready, s);
}

static ev_loop *open_gated(tp *t, bool gate)
{
    tq_mkdtemp(t->dir);
    tp_opts(t, 1u << 20);
    t->o.log.policy = Q_COMMIT_ALWAYS;
    t->o.ready_when_durable = gate;
    tp_reopen(t, T0);
    int err;
    const char *why;
    ev_loop *loop = ev_loop_create(NULL, &err, &why);
    ck_assert_ptr_nonnull(loop);
    ck_assert_int_eq(q_log_attach(q_part_log(t->p), loop), 0);
    return loop;
}

static uint64_t leased_undurable(tp *t)
{
    q_part_stats st;
    q_part_get_stats(t->p, &st);
    return st.leased_undurable;
}

START_TEST(nothing_visible_before_the_commit_callback)
{
    tp t;
    ev_loop *loop = open_gated(&t, true);
    seen s = {.t = &t};
    uint64_t id = tp_enq(&t, "q", "a", 0, T0);
    ck_assert_uint_le(q_log_durable(q_part_log(t.p)), id);
    /* Not durable: no lease, no waiter woken, yet the queue says it has a ready task. */
    q_leased l;
    ck_assert_uint_eq(tp_lease(&t, "q", 1, 0, T0, &l), 0);
    ck_assert(!q_part_lease_ready(t.p, "q", 1));
    ck_assert_uint_eq(q_part_ready_to_lease(t.p, "q", 1), 0); /* one ready, none visible */
    ck_assert_uint_eq(q_part_ready_to_lease(t.p, "nope", 4), 0);
    ck_assert_uint_eq(q_part_drain_ready(t.p, on_ready, &s), 0);
    ck_assert_uint_eq(tp_info(&t, "q", T0).ready, 1);
    /* The fsync is submitted; its completion waits until the loop runs. */
    q_commit_waiter w;
    ck_assert_int_eq(q_log_commit_async(q_part_log(t.p), &w, on_commit, &s), 0);
    ck_assert_uint_eq(tp_lease(&t, "q", 1, 0, T0, &l), 0);
    ck_assert_uint_eq(q_part_drain_ready(t.p, on_ready, &s), 0);
    ck_assert_uint_eq(s.drained, 0);
    while (!s.committed) ck_assert_int_ge(ev_loop_run_once(loop, true), 0);
    /* The queue stayed pending and was drained from the commit's callback, no other fsync. */
    ck_assert_int_eq(s.status, 0);
    ck_assert_uint_eq(s.drained, 1);
    ck_assert_uint_eq(s.leased, 1);
    ck_assert_uint_eq(s.leased_id, id);
    ck_assert_uint_gt(s.durable_at_lease, id);
    ck_assert_uint_eq(leased_undurable(&t), 0);
    q_log_stats ls;
    q_log_get_stats(q_part_log(t.p), &ls);
    ck_assert_uint_eq(ls.fsyncs, 1);
    tp_done(&t);
    ev_loop_destroy(loop);
}
END_TEST

/* Steady load: a task enqueued while the fsync of an earlier one is in flight must not hold the
 * earlier one back when that fsync completes (the next commit serves the later one). */
START_TEST(newer_appends_do_not_hold_back_a_durable_task)
{
    tp t;
    ev_loop *loop = open_gated(&t, true);
    seen s = {.t = &t};
    uint64_t a = tp_enq(&t, "q", "a", 0, T0);
    q_commit_waiter wa, wb;
    ck_assert_int_eq(q_log_commit_async(q_part_log(t.p), &wa, on_commit, &s), 0);
    uint64_t b = tp_enq(&t, "q", "b", 0, T0); /* during a's fsync */
    while (!s.committed) ck_assert_int_ge(ev_loop_run_once(loop, true), 0);
    ck_assert_uint_eq(s.drained, 1);
    ck_assert_uint_eq(s.leased, 1);
    ck_assert_uint_eq(s.leased_id, a);
    ck_assert_uint_le(q_log_durable(q_part_log(t.p)), b);
    /* b is still pending: the commit that covers it drains the queue again. */
    s.committed = false;
    ck_assert_int_eq(q_log_commit_async(q_part_log(t.p), &wb, on_commit, &s), 0);
    while (!s.committed) ck_assert_int_ge(ev_loop_run_once(loop, true), 0);
    ck_assert_uint_eq(s.drained, 2);
    ck_assert_uint_eq(s.leased, 2);
    ck_assert_uint_eq(s.leased_id, b);
    ck_assert_uint_eq(leased_undurable(&t), 0);
    tp_done(&t);
    ev_loop_destroy(loop);
}
END_TEST

START_TEST(a_durable_level_is_not_held_by_a_newer_one)
{
    tp t;
    ev_loop *loop = open_gated(&t, true);
    uint64_t old = tp_enq(&t, "q", "old", 0, T0);
    ck_assert_int_eq(q_log_commit(q_part_log(t.p)), 0);
    uint64_t fresh = tp_enq(&t, "q", "fresh", 9, T0);
    ck_assert_uint_gt(fresh, old);
    /* The higher level's task is not durable: the lower level's durable task goes first. */
    q_leased l[2];
    ck_assert(q_part_lease_ready(t.p, "q", 1));
    ck_assert_uint_eq(q_part_ready_to_lease(t.p, "q", 1), 2); /* the queue's ready count */
    ck_assert_uint_eq(tp_lease(&t, "q", 2, 0, T0, l), 1);
    ck_assert_uint_eq(l[0].id, old);
    ck_assert(!q_part_lease_ready(t.p, "q", 1));
    ck_assert_uint_eq(q_part_ready_to_lease(t.p, "q", 1), 0);
    ck_assert_int_eq(q_log_commit(q_part_log(t.p)), 0);
    ck_assert_uint_eq(tp_lease(&t, "q", 2, 0, T0, l), 1);
    ck_assert_uint_eq(l[0].id, fresh);
    ck_assert_uint_eq(leased_undurable(&t), 0);
    tp_done(&t);
    ev_loop_destroy(loop);
}
END_TEST

/* Without the gate (what --fsync interval/never run): visible once in the log, and the counter
 * the server exports sees it. */
START_TEST(without_the_gate_tasks_are_visible_at_once)
{
    tp t;
    ev_loop *loop = open_gated(&t, false);
    seen s = {.t = &t};
    uint64_t id = tp_enq(&t, "q", "a", 0, T0);
    ck_assert(q_part_lease_ready(t.p, "q", 1));
    ck_assert_uint_eq(q_part_ready_to_lease(t.p, "q", 1), 1);
    ck_assert_uint_eq(q_part_drain_ready(t.p, on_ready, &s), 1);
    ck_assert_uint_eq(s.leased_id, id);
    ck_assert_uint_le(s.durable_at_lease, id);
    ck_assert_uint_eq(leased_undurable(&t), 1);
    tp_done(&t);
    ev_loop_destroy(loop);
}
END_TEST

int main(void)
{
    tq_require_uring("test_q_part_durable");
    const TTest *tests[] = {
        nothing_visible_before_the_commit_callback, newer_appends_do_not_hold_back_a_durable_task,
        a_durable_level_is_not_held_by_a_newer_one, without_the_gate_tasks_are_visible_at_once};
    return tq_run("q_part_durable", "durable", 60, tests, sizeof tests / sizeof tests[0]);
}
