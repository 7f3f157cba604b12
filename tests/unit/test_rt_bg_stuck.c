/* Unit tests for core/rt_bg's hand-off: a submit never waits for a background thread. The
 * thread may be stuck inside a job (a sync that takes seconds), or stuck while it holds a lock
 * of its own (a nice-19 thread preempted in its critical section: the priority inversion that
 * blocked a shard on rt_bg's mutex). The second is made deterministic by wrapping
 * pthread_mutex_lock (this binary links with -Wl,--wrap=pthread_mutex_lock, see the Makefile):
 * once armed, the next lock a ringq-bg* thread takes is held until the test releases it.
 * Every submit runs on a helper thread and the test waits for it with a timeout (a blocked
 * submit is a failure, not a hang). Also: order per lane under concurrent submitters, detached
 * jobs, rt_bg_wait_idle (the TSan build runs this file too). */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/rt_bg.h"
#include "ts_main.h"

/* How long a submit may take before the test calls it blocked: far above a CAS and a futex
 * wake, far below the Check timeout. */
#define SUBMIT_WAIT_S 3
#define STUCK_WAIT_S 20

/* ---- the lock wrapper ---- */

int __real_pthread_mutex_lock(pthread_mutex_t *m);
static atomic_bool arm_lock_stall; /* the next ringq-bg* lock is held until unstick is posted */
static atomic_bool bg_holds_lock;  /* a ringq-bg* thread is stuck holding a lock */
static sem_t unstick;

static bool timed_wait(sem_t *s, int secs)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += secs;
    int r;
    while ((r = sem_timedwait(s, &ts)) != 0 && errno == EINTR) {}
    return r == 0;
}

static bool on_bg_thread(void)
{
    char name[16] = "";
    pthread_getname_np(pthread_self(), name, sizeof name);
    return strncmp(name, "ringq-bg", 8) == 0;
}

int __wrap_pthread_mutex_lock(pthread_mutex_t *m)
{
    int r = __real_pthread_mutex_lock(m);
    if (r == 0 && on_bg_thread() && atomic_exchange(&arm_lock_stall, false)) {
        atomic_store(&bg_holds_lock, true);
        (void)timed_wait(&unstick, STUCK_WAIT_S); /* bounded: the test posts it at its end */
        atomic_store(&bg_holds_lock, false);
    }
    return r;
}

/* ---- jobs ---- */

typedef struct {
    rt_bg_job job;
    sem_t in_fn, gate; /* posted by fn when it starts; fn waits for gate (gate_job) */
    atomic_int order;  /* the lane's run order (order_fn) */
} test_job;

static atomic_int run_seq;

static void order_fn(rt_bg_job *j) { atomic_store(&((test_job *)j)->order, ++run_seq); }

static void gate_fn(rt_bg_job *j)
{
    test_job *t = (test_job *)j;
    order_fn(j);
    sem_post(&t->in_fn);
    (void)timed_wait(&t->gate, STUCK_WAIT_S);
}

static void job_init(test_job *t, rt_bg_fn fn, rt_bg_lane lane)
{
    memset(t, 0, sizeof *t);
    t->job.fn = fn;
    t->job.lane = (uint8_t)lane;
    sem_init(&t->in_fn, 0, 0);
    sem_init(&t->gate, 0, 0);
}

/* Submits from a helper thread; returns whether the submit returned within SUBMIT_WAIT_S. */
typedef struct {
    rt_bg_job *jobs[4];
    int n, results[4];
    sem_t returned;
} submitter;

static void *submit_main(void *arg)
{
    submitter *s = arg;
    for (int i = 0; i < s->n; i++) s->results[i] = rt_bg_submit(s->jobs[i]);
    sem_post(&s->returned);
    return NULL;
}

static bool submit_bounded(submitter *s, pthread_t *th)
{
    sem_init(&s->returned, 0, 0);
    ck_assert_int_eq(pthread_create(th, NULL, submit_main, s), 0);
    return timed_wait(&s->returned, SUBMIT_WAIT_S);
}

/* ---- tests ---- */

START_TEST(a_submit_returns_while_the_thread_is_stuck_in_a_job)
{
    for (int lane = 0; lane < RT_BG_LANES; lane++) {
        test_job a, b, c;
        job_init(&a, gate_fn, (rt_bg_lane)lane);
        job_init(&b, order_fn, (rt_bg_lane)lane);
        job_init(&c, order_fn, (rt_bg_lane)lane);
        ck_assert_int_eq(rt_bg_submit(&a.job), 0);
        ck_assert(timed_wait(&a.in_fn, STUCK_WAIT_S)); /* the thread is inside a */
        submitter s = {.jobs = {&b.job, &c.job}, .n = 2};
        pthread_t th;
        bool returned = submit_bounded(&s, &th);
        sem_post(&a.gate);
        ck_assert_int_eq(pthread_join(th, NULL), 0);
        ck_assert_msg(returned, "lane %d: submit blocked while the thread ran a job", lane);
        ck_assert_int_eq(s.results[0], 0);
        ck_assert_int_eq(s.results[1], 0);
        rt_bg_wait(&c.job);
        rt_bg_wait(&b.job);
        ck_assert(rt_bg_done(&a.job) && rt_bg_done(&b.job) && rt_bg_done(&c.job));
        ck_assert_int_lt(a.order, b.order); /* submission order within the lane */
        ck_assert_int_lt(b.order, c.order);
    }
}
END_TEST

/* Fails on the lock-based hand-off (rt_bg.c before session 13): after a job the thread locks the
 * queue's mutex to mark it done; stuck there (as a nice-19 thread preempted on a busy CPU is),
 * it holds every submitter. */
START_TEST(a_submit_returns_while_the_thread_is_stuck_holding_its_lock)
{
    sem_init(&unstick, 0, 0);
    test_job a, b;
    job_init(&a, gate_fn, RT_BG_LANE_SYNC);
    job_init(&b, order_fn, RT_BG_LANE_SYNC);
    ck_assert_int_eq(rt_bg_submit(&a.job), 0);
    ck_assert(timed_wait(&a.in_fn, STUCK_WAIT_S));
    atomic_store(&arm_lock_stall, true);
    sem_post(&a.gate);
    /* The thread either ends the job without a lock or gets stuck in the first one it takes. */
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do {
        sched_yield();
        clock_gettime(CLOCK_MONOTONIC, &t);
    } while (!rt_bg_done(&a.job) && !atomic_load(&bg_holds_lock) &&
             t.tv_sec - t0.tv_sec < STUCK_WAIT_S);
    ck_assert(rt_bg_done(&a.job) || atomic_load(&bg_holds_lock));
    bool held = atomic_load(&bg_holds_lock);
    submitter s = {.jobs = {&b.job}, .n = 1};
    pthread_t th;
    bool returned = submit_bounded(&s, &th);
    atomic_store(&arm_lock_stall, false);
    sem_post(&unstick); /* let it go, whatever happened */
    ck_assert_int_eq(pthread_join(th, NULL), 0);
    ck_assert_msg(returned, "submit blocked while the background thread held its lock (%s)",
                  held ? "stuck in pthread_mutex_lock" : "not stuck");
    ck_assert_int_eq(s.results[0], 0);
    rt_bg_wait(&b.job);
    ck_assert(rt_bg_done(&b.job));
}
END_TEST

/* ---- many submitters: order per lane, detached jobs, wait_idle ---- */

#define SUBMITTERS 4
#define PER_SUBMITTER 2000

typedef struct {
    rt_bg_job job;
    int who, n;
    atomic_int *last; /* per (lane, submitter): the last n run */
    atomic_int *bad;  /* out-of-order runs */
} seq_job;

static atomic_int seq_last[RT_BG_LANES][SUBMITTERS], seq_bad, detached_run;

static void seq_fn(rt_bg_job *j)
{
    seq_job *s = (seq_job *)j;
    /* Only this lane's thread writes *last: relaxed is enough, the test reads after wait_idle. */
    if (atomic_load_explicit(s->last, memory_order_relaxed) >= s->n) atomic_fetch_add(s->bad, 1);
    atomic_store_explicit(s->last, s->n, memory_order_relaxed);
    if (j->detached) {
        atomic_fetch_add(&detached_run, 1);
        free(s);
    }
}

static void *many_main(void *arg)
{
    int who = (int)(intptr_t)arg;
    for (int i = 1; i <= PER_SUBMITTER; i++) {
        int lane = i % RT_BG_LANES;
        seq_job *s = calloc(1, sizeof *s);
        if (!s) abort();
        *s = (seq_job){.job = {.fn = seq_fn, .detached = true, .lane = (uint8_t)lane},
                       .who = who,
                       .n = i,
                       .last = &seq_last[lane][who],
                       .bad = &seq_bad};
        if (rt_bg_submit(&s->job) != 0) abort();
    }
    return NULL;
}

START_TEST(concurrent_submitters_keep_their_order_per_lane)
{
    pthread_t th[SUBMITTERS];
    for (int i = 0; i < SUBMITTERS; i++)
        ck_assert_int_eq(pthread_create(&th[i], NULL, many_main, (void *)(intptr_t)i), 0);
    for (int i = 0; i < SUBMITTERS; i++) ck_assert_int_eq(pthread_join(th[i], NULL), 0);
    rt_bg_wait_idle();
    ck_assert_int_eq(atomic_load(&detached_run), SUBMITTERS * PER_SUBMITTER);
    ck_assert_int_eq(atomic_load(&seq_bad), 0);
    for (int w = 0; w < SUBMITTERS; w++) {
        ck_assert_int_eq(atomic_load(&seq_last[PER_SUBMITTER % 2][w]), PER_SUBMITTER);
        ck_assert_int_eq(atomic_load(&seq_last[(PER_SUBMITTER - 1) % 2][w]), PER_SUBMITTER - 1);
    }
}
END_TEST

int main(void)
{
    Suite *su = suite_create("rt_bg_stuck");
    TCase *tc = tcase_create("handoff");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, a_submit_returns_while_the_thread_is_stuck_in_a_job);
    tcase_add_test(tc, a_submit_returns_while_the_thread_is_stuck_holding_its_lock);
    tcase_add_test(tc, concurrent_submitters_keep_their_order_per_lane);
    suite_add_tcase(su, tc);
    return ts_run_suite(su);
}
