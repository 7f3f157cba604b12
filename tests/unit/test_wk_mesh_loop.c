/* Integration of worker/wk_mesh with the real reactor: shards on their own threads, each with an
 * ev_loop, attached through wk_mesh_loop. Request/reply and pool completions under load (MSG_RING
 * wake-ups between loops, eventfd wake-ups from pool workers), and an idle shard that sleeps in
 * io_uring without using CPU until a message from another shard's timer wakes it. Skips (exit 77)
 * when io_uring is unavailable. */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "core/ev_reactor.h"
#include "core/rt_clock.h"
#include "worker/wk_call.h"
#include "worker/wk_mesh.h"
#include "worker/wk_mesh_loop.h"
#include "worker/wk_pool.h"
#include "ts_main.h"

#if defined(__SANITIZE_THREAD__)
#define WK_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define WK_TSAN 1
#endif
#endif
#ifdef WK_TSAN
#define CALLS_PER_SHARD 5000u
#define JOBS_PER_SHARD 2000u
#else
#define CALLS_PER_SHARD 100000u
#define JOBS_PER_SHARD 20000u
#endif
#define SHARDS 2

/* ---- harness: one thread per shard, each running its own loop ---- */

typedef struct harness harness;
typedef void (*setup_fn)(harness *h, int shard);

struct harness {
    wk_mesh *m;
    ev_loop *loops[SHARDS];
    wk_mesh_loop ml[SHARDS];
    pthread_t th[SHARDS];
    pthread_barrier_t ready; /* every shard attached before anyone sends */
    pthread_barrier_t ran;   /* every loop stopped (the main thread joins: SHARDS + 1) */
    pthread_barrier_t quiet; /* helpers gone: nobody can wake a loop any more (SHARDS + 1) */
    setup_fn setup;
    int run_rc[SHARDS];
    void *ctx;
    wk_msg_node stop_nodes[SHARDS][SHARDS]; /* [from][to]: never-refused control messages */
    wk_msg_node finished_nodes[SHARDS];
};

typedef struct {
    harness *h;
    int shard;
} shard_arg;

static void *shard_thread(void *p)
{
    shard_arg *a = p;
    harness *h = a->h;
    int err;
    const char *why;
    ev_loop *loop = ev_loop_create(
        &(ev_loop_opts){.sq_entries = 64, .buf_count = 16, .buf_size = 4096, .shard_id = a->shard},
        &err, &why);
    ck_assert_ptr_nonnull(loop);
    h->loops[a->shard] = loop;
    ck_assert_int_eq(wk_mesh_loop_init(&h->ml[a->shard], h->m, a->shard, loop), 0);
    pthread_barrier_wait(&h->ready);
    if (h->setup) h->setup(h, a->shard);
    h->run_rc[a->shard] = ev_loop_run(loop);
    /* Another shard or a pool worker may still be inside ev_loop_wake_from(loop) until every
     * loop has stopped and the helpers are gone. */
    pthread_barrier_wait(&h->ran);
    pthread_barrier_wait(&h->quiet);
    ev_loop_destroy(loop);
    return NULL;
}

static void start_shards(harness *h)
{
    static shard_arg args[SHARDS];
    pthread_barrier_init(&h->ready, NULL, SHARDS);
    pthread_barrier_init(&h->ran, NULL, SHARDS + 1);
    pthread_barrier_init(&h->quiet, NULL, SHARDS + 1);
    for (int i = 0; i < SHARDS; i++) {
        args[i] = (shard_arg){h, i};
        ck_assert_int_eq(pthread_create(&h->th[i], NULL, shard_thread, &args[i]), 0);
    }
}

/* After `ran` and after the helpers are gone: lets the shards destroy their loops. */
static void join_shards(harness *h)
{
    pthread_barrier_wait(&h->quiet);
    for (int i = 0; i < SHARDS; i++) pthread_join(h->th[i], NULL);
    pthread_barrier_destroy(&h->ready);
    pthread_barrier_destroy(&h->ran);
    pthread_barrier_destroy(&h->quiet);
}

static void run_shards(harness *h, const wk_mesh_opts *mo)
{
    ck_assert_int_eq(wk_mesh_create(mo, &h->m), 0);
    start_shards(h);
    pthread_barrier_wait(&h->ran);
    join_shards(h);
    for (int i = 0; i < SHARDS; i++) ck_assert_int_eq(h->run_rc[i], 0);
}

static harness *g_h; /* the running test's harness (one test per forked process) */

static void on_stop(wk_mesh *m, int self, const wk_msg *msg) { ev_loop_stop(g_h->loops[self]); }

static void stop_everyone(int from)
{
    for (int to = 0; to < SHARDS; to++) {
        g_h->stop_nodes[from][to].msg = (wk_msg){.fn = on_stop};
        wk_mesh_send_node(g_h->m, from, to, &g_h->stop_nodes[from][to]);
    }
}

/* ---- request/reply and pool completions under load ---- */

#define CALLS_IN_FLIGHT 32
#define JOBS_IN_FLIGHT 32

typedef struct {
    int id;
    uint64_t calls_started, calls_done, jobs_started, jobs_done, bad;
    wk_call calls[CALLS_IN_FLIGHT];
    wk_job jobs[JOBS_IN_FLIGHT];
    pthread_t me;
} load_shard;

typedef struct {
    load_shard s[SHARDS];
    wk_pool *pool;
    int finished; /* on shard 0 only */
} load_ctx;

static void maybe_finished(load_shard *s);

static void load_call_run(wk_call *c, int self)
{
    wk_call_reply(c, (int)(c->arg % 997) + 10 * self);
}

static void load_call_start(load_shard *s, wk_call *c);

static void load_call_done(wk_call *c, int result)
{
    load_shard *s = c->ud;
    if (result != (int)(c->arg % 997) + 10 * c->target || !pthread_equal(pthread_self(), s->me))
        s->bad++;
    s->calls_done++;
    if (s->calls_started < CALLS_PER_SHARD) load_call_start(s, c);
    maybe_finished(s);
}

static void load_call_start(load_shard *s, wk_call *c)
{
    *c = (wk_call){.run = load_call_run, .done = load_call_done, .ud = s, .arg = s->calls_started};
    /* Alternate between the other shard and ourselves. */
    int to = (int)((s->id + 1 + s->calls_started) % SHARDS);
    s->calls_started++;
    wk_call_start(g_h->m, s->id, to, c);
}

static int load_job_run(wk_job *j) { return (int)(j->arg % 1000); }
static void load_job_start(load_shard *s, wk_job *j);

static void load_job_done(wk_job *j, int result)
{
    load_shard *s = j->ud;
    if (result != (int)(j->arg % 1000) || !pthread_equal(pthread_self(), s->me)) s->bad++;
    s->jobs_done++;
    if (s->jobs_started < JOBS_PER_SHARD) load_job_start(s, j);
    maybe_finished(s);
}

static void load_job_start(load_shard *s, wk_job *j)
{
    load_ctx *lc = g_h->ctx;
    *j = (wk_job){.run = load_job_run, .done = load_job_done, .ud = s, .arg = s->jobs_started};
    s->jobs_started++;
    ck_assert_int_eq(wk_pool_submit(lc->pool, s->id, j), 0);
}

static void on_finished(wk_mesh *m, int self, const wk_msg *msg)
{
    load_ctx *lc = g_h->ctx;
    if (++lc->finished == SHARDS) stop_everyone(self);
}

static void maybe_finished(load_shard *s)
{
    if (s->calls_done == CALLS_PER_SHARD && s->jobs_done == JOBS_PER_SHARD) {
        g_h->finished_nodes[s->id].msg = (wk_msg){.fn = on_finished};
        wk_mesh_send_node(g_h->m, s->id, 0, &g_h->finished_nodes[s->id]);
    }
}

static void load_setup(harness *h, int shard)
{
    load_ctx *lc = h->ctx;
    load_shard *s = &lc->s[shard];
    s->id = shard;
    s->me = pthread_self();
    for (int i = 0; i < CALLS_IN_FLIGHT; i++) load_call_start(s, &s->calls[i]);
    for (int i = 0; i < JOBS_IN_FLIGHT; i++) load_job_start(s, &s->jobs[i]);
}

static void run_load(uint64_t spin_ns)
{
    harness h = {.setup = load_setup};
    load_ctx *lc = calloc(1, sizeof *lc);
    h.ctx = lc;
    g_h = &h;
    /* Pool workers are helper endpoints SHARDS..SHARDS+1; the pool needs the mesh first, so the
     * mesh is created here and run_shards reuses it. */
    wk_mesh_opts mo = {.n_shards = SHARDS, .n_threads = 2, .lane_cap = 16, .spin_ns = spin_ns};
    ck_assert_int_eq(wk_mesh_create(&mo, &h.m), 0);
    ck_assert_int_eq(
        wk_pool_create(&(wk_pool_opts){.n_threads = 2, .first_ep = SHARDS, .queue_cap = 256}, h.m,
                       &lc->pool),
        0);
    start_shards(&h);
    pthread_barrier_wait(&h.ran);
    wk_pool_destroy(lc->pool); /* all jobs completed: workers are idle; joined here */
    join_shards(&h);
    uint64_t wakes = 0, sleeps = 0;
    for (int i = 0; i < SHARDS + 2; i++) {
        wk_mesh_stats st;
        wk_mesh_get_stats(h.m, i, &st);
        wakes += st.wakes;
        sleeps += st.sleeps;
    }
    for (int i = 0; i < SHARDS; i++) {
        ck_assert_int_eq(h.run_rc[i], 0);
        ck_assert_uint_eq(lc->s[i].bad, 0);
        ck_assert_uint_eq(lc->s[i].calls_done, CALLS_PER_SHARD);
        ck_assert_uint_eq(lc->s[i].jobs_done, JOBS_PER_SHARD);
    }
    ck_assert_uint_le(wakes, sleeps);
    free(lc);
    wk_mesh_destroy(h.m);
}

START_TEST(calls_and_pool_jobs_between_two_loops) { run_load(0); }
END_TEST
START_TEST(calls_and_pool_jobs_with_spin) { run_load(20000); }
END_TEST

/* ---- an idle shard sleeps in io_uring until a message wakes it ---- */

/* Idle window: long enough that a spinning shard would burn most of it. */
#define IDLE_WINDOW_MS 200
/* CPU an idle shard may use in the window: a spinning one would use ~IDLE_WINDOW_MS. */
#define IDLE_CPU_MAX_MS 20

typedef struct {
    uint64_t cpu_start_ns, cpu_woken_ns, wall_start_ns, wall_woken_ns;
    ev_timer timer;
    bool woke;
    bool warm; /* shard 0 sends one message at start: shard 1 spins after it, then sleeps */
    bool warm_ran;
} idle_ctx;

static uint64_t thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void on_poke(wk_mesh *m, int self, const wk_msg *msg)
{
    idle_ctx *ic = g_h->ctx;
    ic->cpu_woken_ns = thread_cpu_ns();
    ic->wall_woken_ns = rt_now_ns();
    ic->woke = true;
    stop_everyone(self);
}

static void on_idle_timer(ev_loop *loop, ev_timer *t)
{
    wk_msg msg = {.fn = on_poke};
    ck_assert_int_eq(wk_mesh_send(g_h->m, 0, 1, &msg), 0); /* flushed by shard 0's hook */
}

static void on_warm(wk_mesh *m, int self, const wk_msg *msg)
{
    ((idle_ctx *)g_h->ctx)->warm_ran = true;
}

static void idle_setup(harness *h, int shard)
{
    idle_ctx *ic = h->ctx;
    if (shard == 1) {
        ic->cpu_start_ns = thread_cpu_ns();
        ic->wall_start_ns = rt_now_ns();
        return;
    }
    if (ic->warm) {
        wk_msg msg = {.fn = on_warm};
        ck_assert_int_eq(wk_mesh_send(h->m, 0, 1, &msg), 0);
    }
    ev_timer_init(&ic->timer, on_idle_timer, NULL);
    ck_assert_int_eq(
        ev_timer_start(h->loops[0], &ic->timer, rt_now_ns() + IDLE_WINDOW_MS * RT_NS_PER_MS), 0);
}

static void run_idle(uint64_t spin_ns, bool warm)
{
    idle_ctx ic = {.warm = warm};
    harness h = {.setup = idle_setup, .ctx = &ic};
    g_h = &h;
    run_shards(&h, &(wk_mesh_opts){.n_shards = SHARDS, .spin_ns = spin_ns});
    ck_assert(ic.woke);
    ck_assert(ic.warm_ran == warm);
    uint64_t used = ic.cpu_woken_ns - ic.cpu_start_ns;
    ck_assert_msg(used < IDLE_CPU_MAX_MS * RT_NS_PER_MS, "idle shard used %llu ns CPU over %llu ns",
                  (unsigned long long)used,
                  (unsigned long long)(ic.wall_woken_ns - ic.wall_start_ns));
    wk_mesh_stats st0, st1;
    wk_mesh_get_stats(h.m, 0, &st0);
    wk_mesh_get_stats(h.m, 1, &st1);
    ck_assert_uint_ge(st1.sleeps, 1);
    ck_assert_uint_ge(st0.wakes, 1); /* the poke needed a real wake-up */
    wk_mesh_destroy(h.m);
}

START_TEST(idle_shard_sleeps_until_woken) { run_idle(0, false); }
END_TEST
START_TEST(idle_shard_with_spin_still_sleeps) { run_idle(50000, false); }
END_TEST
/* Traffic starts a spin of at most spin_ns (the longest allowed here); then the shard sleeps. */
START_TEST(spin_after_traffic_ends_in_sleep) { run_idle(WK_MESH_SPIN_NS_MAX, true); }
END_TEST

int main(void)
{
    int err;
    const char *why;
    ev_loop *probe = ev_loop_create(NULL, &err, &why);
    if (!probe) {
        fprintf(stderr, "skip: %s (%d)\n", why, err);
        return 77;
    }
    ev_loop_destroy(probe);
    Suite *s = suite_create("wk_mesh_loop");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, calls_and_pool_jobs_between_two_loops);
    tcase_add_test(tc, calls_and_pool_jobs_with_spin);
    tcase_add_test(tc, idle_shard_sleeps_until_woken);
    tcase_add_test(tc, idle_shard_with_spin_still_sleeps);
    tcase_add_test(tc, spin_after_traffic_ends_in_sleep);
    suite_add_tcase(s, tc);
    return ts_run_suite(s);
}
