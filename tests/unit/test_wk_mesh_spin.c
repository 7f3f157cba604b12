/* worker/wk_mesh_loop: the busy spin (wk_mesh_loop.h). A lone shard (no cross-shard traffic)
 * polls after a turn with work only when its recent work share is at least 1/4 and its gate is
 * open; the time it polls counts as idle, not work, so a spin that finds nothing lowers the
 * share. Driven on one thread: the share is put where each test wants it with
 * wk_mesh_loop_share_add, a timer ends each blocking iteration, and a hook added after the
 * mesh's reads the share between the spin and the sleep. Skips (exit 77) without io_uring. */
#include <check.h>
#include <errno.h>
#include <stdint.h>

#include "core/ev_reactor.h"
#include "core/rt_clock.h"
#include "worker/wk_mesh.h"
#include "worker/wk_mesh_loop.h"
#include "ts_main.h"

#define SPIN_NS WK_MESH_SPIN_NS_MAX  /* the busy-spin budget: one share window */
#define WAKE_NS (20u * RT_NS_PER_MS) /* the timer that ends each blocking iteration */
#define W WK_MESH_LOOP_SHARE_WINDOW_NS

typedef struct {
    wk_mesh *m;
    ev_loop *l;
    wk_mesh_loop ml;
    ev_timer t;
    uint32_t gate_calls, gate_open_calls; /* the gate opens for this many calls, then closes */
    bool seen;                            /* the probe hook ran before a sleep */
    uint64_t work_at_sleep, idle_at_sleep;
} fx;

static void on_timer(ev_loop *loop, ev_timer *t) {}

static bool gate(void *ud)
{
    fx *f = ud;
    return f->gate_calls++ < f->gate_open_calls;
}

/* After the mesh's hook: what the share is once the spin is over, before the loop sleeps. */
static bool probe(ev_loop *loop, void *ud, ev_hook_phase phase)
{
    fx *f = ud;
    if (phase == EV_HOOK_BEFORE_SLEEP) {
        f->seen = true;
        f->work_at_sleep = f->ml.work_ns;
        f->idle_at_sleep = f->ml.idle_ns;
    }
    return true;
}

static void fx_init(fx *f, bool gated)
{
    *f = (fx){.gate_open_calls = UINT32_MAX};
    f->l = ts_loop_create();
    ck_assert_int_eq(wk_mesh_create(&(wk_mesh_opts){.n_shards = 1, .busy_spin_ns = SPIN_NS}, &f->m),
                     0);
    ck_assert_int_eq(wk_mesh_loop_init(&f->ml, f->m, 0, f->l), 0);
    ck_assert_int_eq(ev_loop_add_hook(f->l, probe, f), 0);
    if (gated) wk_mesh_loop_set_gate(&f->ml, gate, f);
    ev_timer_init(&f->t, on_timer, NULL);
}

static void fx_fini(fx *f)
{
    ev_timer_stop(f->l, &f->t);
    ev_loop_destroy(f->l);
    wk_mesh_destroy(f->m);
}

/* Sets the share to about work/(work+idle) of the window: old time scaled out. */
static void set_share(fx *f, uint64_t work, uint64_t idle)
{
    for (int i = 0; i < 8; i++) wk_mesh_loop_share_add(&f->ml, work, idle);
}

/* The shard's busy-spin counters, through the getter /metrics reads them with. */
static wk_mesh_loop_stats spin_stats(const fx *f)
{
    wk_mesh_loop_stats st;
    wk_mesh_loop_get_stats(&f->ml, &st);
    return st;
}

/* One blocking iteration with nothing to do but what the timer brings. */
static void run_idle_iteration(fx *f)
{
    f->seen = false;
    ck_assert_int_eq(ev_timer_start(f->l, &f->t, rt_now_ns() + WAKE_NS), 0);
    f->ml.mark_ns = rt_now_ns(); /* the turn before the sleep did (almost) no work */
    ck_assert_int_ge(ev_loop_run_once(f->l, true), 0);
    ck_assert(f->seen);
}

START_TEST(a_lone_shard_spins_only_at_a_high_work_share)
{
    fx f;
    fx_init(&f, false);
    set_share(&f, W / 8, 7 * W / 8);
    ck_assert(!wk_mesh_loop_share_high(&f.ml));
    run_idle_iteration(&f);
    ck_assert_uint_eq(spin_stats(&f).busy_spins, 0); /* an eighth of its time: sleeps at once */
    set_share(&f, W / 2, W / 2);
    ck_assert(wk_mesh_loop_share_high(&f.ml));
    uint64_t t0 = rt_now_ns();
    run_idle_iteration(&f);
    /* Half its time: polls, with no traffic on the mesh but its self lane. */
    ck_assert_uint_eq(spin_stats(&f).busy_spins, 1);
    ck_assert_uint_eq(spin_stats(&f).busy_spin_found, 0);
    ck_assert_uint_eq(spin_stats(&f).busy_spin_gated, 0);
    ck_assert_uint_ge(spin_stats(&f).busy_spin_ns, SPIN_NS); /* its whole budget: nothing came */
    ck_assert_uint_ge(rt_now_ns() - t0, WAKE_NS);            /* then slept until the timer */
    fx_fini(&f);
}
END_TEST

START_TEST(the_spins_polling_is_idle_time_not_work)
{
    fx f;
    fx_init(&f, false);
    set_share(&f, 9 * W / 10, W / 10);
    uint64_t work_before = f.ml.work_ns;
    run_idle_iteration(&f);
    ck_assert_uint_eq(spin_stats(&f).busy_spins, 1);
    /* SPIN_NS of polling (a window) added idle time, not work: right after the spin the shard
     * worked less than half its recent time (counted as work, it would be above 9/10). */
    ck_assert_uint_lt(f.work_at_sleep, work_before);
    ck_assert_uint_gt(f.idle_at_sleep, f.work_at_sleep);
    fx_fini(&f);
}
END_TEST

START_TEST(the_gate_stops_and_prevents_the_spin)
{
    fx f;
    fx_init(&f, true);
    /* A commit starts during the spin: the gate closes, the spin stops before its budget. */
    f.gate_open_calls = 50;
    set_share(&f, 9 * W / 10, W / 10);
    run_idle_iteration(&f);
    ck_assert_uint_eq(spin_stats(&f).busy_spins, 1);
    ck_assert_uint_eq(spin_stats(&f).busy_spin_gated, 1);
    ck_assert_uint_gt(f.gate_calls, f.gate_open_calls); /* asked until it closed */
    ck_assert_uint_lt(spin_stats(&f).busy_spin_ns, SPIN_NS);
    /* A commit already in flight: no spin at all, even at a high share. */
    f.gate_calls = 0;
    f.gate_open_calls = 0;
    set_share(&f, 9 * W / 10, W / 10);
    run_idle_iteration(&f);
    ck_assert_uint_eq(spin_stats(&f).busy_spins, 1);
    ck_assert_uint_eq(f.gate_calls, 1);
    fx_fini(&f);
}
END_TEST

START_TEST(off_by_default)
{
    wk_mesh *m;
    ck_assert_int_eq(wk_mesh_create(&(wk_mesh_opts){.n_shards = 1}, &m), 0);
    ck_assert_uint_eq(wk_mesh_busy_spin_ns(m), 0);
    wk_mesh_destroy(m);
    ck_assert_int_eq(
        wk_mesh_create(&(wk_mesh_opts){.n_shards = 1, .busy_spin_ns = WK_MESH_SPIN_NS_MAX + 1}, &m),
        -EINVAL);
}
END_TEST

int main(void)
{
    int skip = ts_io_uring_or_skip();
    if (skip) return skip;
    Suite *s = suite_create("wk_mesh_spin");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, a_lone_shard_spins_only_at_a_high_work_share);
    tcase_add_test(tc, the_spins_polling_is_idle_time_not_work);
    tcase_add_test(tc, the_gate_stops_and_prevents_the_spin);
    tcase_add_test(tc, off_by_default);
    suite_add_tcase(s, tc);
    return ts_run_suite(s);
}
