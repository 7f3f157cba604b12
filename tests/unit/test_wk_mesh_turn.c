/* worker/wk_mesh_loop: a loop's mesh polls are bounded by time, not only by count (issue 19,
 * "no stall over 5 ms on the shard thread"). With one shard every Enqueue hops through the self
 * lane; a backlog of 256 hops of tens of us each used to run in one hook call (2.5-5 ms inside
 * one loop turn). Now each poll of the loop stops after WK_MESH_LOOP_POLL_NS, the rest runs in
 * the next iterations, in order, and the loop does not sleep while any is left. Counted in
 * handlers per turn (each handler spins on the CPU for a known time), not wall clock. Skips
 * (exit 77) when io_uring is unavailable. */
#include <check.h>
#include <stdint.h>

#include "core/ev_reactor.h"
#include "core/rt_clock.h"
#include "worker/wk_mesh.h"
#include "worker/wk_mesh_loop.h"
#include "ts_main.h"

#define JOBS 256u        /* one default poll budget of them */
#define JOB_NS 100000ull /* 100 us of CPU each: 25.6 ms in all, 51 turn budgets */
#define JOBS_PER_POLL_MAX ((uint32_t)(WK_MESH_LOOP_POLL_NS / JOB_NS) + WK_MESH_POP_BATCH_TIMED)

typedef struct {
    uint32_t ran;      /* handlers run */
    uint32_t in_order; /* each carried the next number */
    uint32_t hooks;    /* iteration hooks run (after the mesh's) */
} jobs;

static jobs g_jobs;

static void on_job(wk_mesh *m, int self, const wk_msg *msg)
{
    if (msg->arg2 == g_jobs.ran) g_jobs.in_order++;
    g_jobs.ran++;
    /* Work on the CPU (an Enqueue's append), not a sleep. */
    uint64_t until = rt_now_ns() + JOB_NS;
    while (rt_now_ns() < until) {}
}

static void on_timer(ev_loop *loop, ev_timer *t) {}

static bool count_hook(ev_loop *loop, void *ud, ev_hook_phase phase)
{
    if (phase == EV_HOOK_ITERATION) ((jobs *)ud)->hooks++;
    return true;
}

START_TEST(a_backlog_on_the_self_lane_runs_over_turns)
{
    ev_loop *l = ts_loop_create();
    wk_mesh *m;
    ck_assert_int_eq(wk_mesh_create(&(wk_mesh_opts){.n_shards = 1}, &m), 0);
    wk_mesh_loop ml;
    ck_assert_int_eq(wk_mesh_loop_init(&ml, m, 0, l), 0);
    ck_assert_int_eq(ev_loop_add_hook(l, count_hook, &g_jobs), 0);
    for (uint32_t i = 0; i < JOBS; i++)
        ck_assert_int_eq(wk_mesh_send(m, 0, 0, &(wk_msg){.fn = on_job, .arg2 = i}), 0);
    wk_mesh_flush(m, 0);
    /* One iteration: the mesh hook's poll, then the count hook. */
    ck_assert_int_ge(ev_loop_run_once(l, false), 0);
    uint32_t first = g_jobs.ran;
    ck_assert_uint_ge(first, 1);
    ck_assert_uint_le(first, JOBS_PER_POLL_MAX);
    uint32_t turns = 1, most = first;
    /* A timer ends the last iteration's sleep (once the lanes are empty the loop may sleep). */
    ev_timer t;
    ev_timer_init(&t, on_timer, NULL);
    wk_mesh_stats st;
    while (g_jobs.ran < JOBS) {
        uint32_t before = g_jobs.ran;
        ck_assert_int_eq(ev_timer_start(l, &t, rt_now_ns() + 50 * RT_NS_PER_MS), 0);
        ck_assert_int_ge(ev_loop_run_once(l, true), 0);
        if (g_jobs.ran - before > most) most = g_jobs.ran - before;
        turns++;
        wk_mesh_get_stats(m, 0, &st);
        /* With messages left the loop never offered to sleep. */
        if (g_jobs.ran < JOBS) ck_assert_uint_eq(st.sleeps, 0);
    }
    ev_timer_stop(l, &t);
    ck_assert_uint_eq(g_jobs.in_order, JOBS); /* lanes stay FIFO across the cuts */
    /* Each iteration runs the mesh hook up to twice (iteration and before-sleep phases). */
    ck_assert_uint_le(most, 2 * JOBS_PER_POLL_MAX);
    ck_assert_uint_ge(turns, JOBS / (2 * JOBS_PER_POLL_MAX));
    ck_assert_uint_ge(g_jobs.hooks, turns);
    wk_mesh_get_stats(m, 0, &st);
    ck_assert_uint_ge(st.polls_late, 1);
    ck_assert_uint_eq(st.received, JOBS);
    ev_loop_destroy(l);
    wk_mesh_destroy(m);
}
END_TEST

/* An untimed poll keeps its count budget only (the mesh's own tests and helper threads). */
START_TEST(an_untimed_poll_runs_its_whole_budget)
{
    wk_mesh *m;
    ck_assert_int_eq(wk_mesh_create(&(wk_mesh_opts){.n_shards = 1}, &m), 0);
    g_jobs = (jobs){0};
    for (uint32_t i = 0; i < 40; i++)
        ck_assert_int_eq(wk_mesh_send(m, 0, 0, &(wk_msg){.fn = on_job, .arg2 = i}), 0);
    wk_mesh_flush(m, 0);
    ck_assert_uint_eq(wk_mesh_poll(m, 0, 0), 40);
    ck_assert_uint_eq(g_jobs.in_order, 40);
    /* Timed, with time to spare: everything runs, nothing is late. */
    for (uint32_t i = 0; i < 8; i++)
        ck_assert_int_eq(wk_mesh_send(m, 0, 0, &(wk_msg){.fn = on_job, .arg2 = 40 + i}), 0);
    wk_mesh_flush(m, 0);
    ck_assert_uint_eq(wk_mesh_poll_for(m, 0, 0, 60 * RT_NS_PER_S), 8);
    wk_mesh_stats st;
    wk_mesh_get_stats(m, 0, &st);
    ck_assert_uint_eq(st.polls_late, 0);
    wk_mesh_destroy(m);
}
END_TEST

int main(void)
{
    int skip = ts_io_uring_or_skip();
    if (skip) return skip;
    Suite *s = suite_create("wk_mesh_turn");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, a_backlog_on_the_self_lane_runs_over_turns);
    tcase_add_test(tc, an_untimed_poll_runs_its_whole_budget);
    suite_add_tcase(s, tc);
    return ts_run_suite(s);
}
