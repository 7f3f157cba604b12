/* Unit tests for core/rt_bg's priority rule: the background thread runs at nice RT_BG_NICE (the
 * lowest) and only it does (the caller's nice is untouched), and the lowest priority still
 * progresses: a job finishes while the submitting thread spins on the same single CPU, the way a
 * shard pinned with its process to one CPU polls rt_bg_done at 100 %. */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "core/rt_bg.h"
#include "ts_main.h"

typedef struct {
    rt_bg_job job;
    int nice; /* the running thread's nice, as fn saw it */
    long tid; /* the running thread */
    int nice_errno;
    unsigned long spins; /* work done by fn (spin_job) */
    char name[16];       /* the running thread's name */
    int policy;          /* the running thread's scheduling policy */
} probe_job;

static void probe_fn(rt_bg_job *j)
{
    probe_job *p = (probe_job *)j;
    p->tid = syscall(SYS_gettid);
    errno = 0;
    p->nice = getpriority(PRIO_PROCESS, (id_t)p->tid);
    p->nice_errno = errno;
    pthread_getname_np(pthread_self(), p->name, sizeof p->name);
    p->policy = sched_getscheduler(0);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

START_TEST(thread_runs_at_lowest_nice_caller_untouched)
{
    ck_assert_int_eq(RT_BG_NICE, PRIO_MAX - 1); /* the lowest priority nice can give */
    errno = 0;
    int mine = getpriority(PRIO_PROCESS, 0);
    ck_assert_int_eq(errno, 0);
    probe_job p = {.job.fn = probe_fn};
    ck_assert_int_eq(rt_bg_submit(&p.job), 0);
    rt_bg_wait(&p.job);
    ck_assert(rt_bg_done(&p.job));
    ck_assert_int_eq(p.nice_errno, 0);
    ck_assert_int_ne(p.tid, syscall(SYS_gettid)); /* ran on the background thread */
    ck_assert_int_eq(p.nice, RT_BG_NICE);
    ck_assert_int_eq(p.policy, SCHED_BATCH);              /* never preempts the shard when woken */
    ck_assert_int_eq(sched_getscheduler(0), SCHED_OTHER); /* the caller's is untouched */
    ck_assert_str_eq(p.name, "ringq-bg"); /* top -H and perf sched tell it from the shard */
    errno = 0;
    ck_assert_int_eq(getpriority(PRIO_PROCESS, 0), mine); /* only that thread yields */
    ck_assert_int_eq(errno, 0);
}
END_TEST

/* fn burns ~20 ms of CPU: at ~1.5 % of one CPU beside a spinning nice-0 thread that is ~1.3 s;
 * the bound (30 s) only catches starvation (SCHED_IDLE-like), not slowness. */
static void spin_fn(rt_bg_job *j)
{
    probe_job *p = (probe_job *)j;
    probe_fn(j);
    struct timespec t0, t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
    do {
        p->spins++;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    } while ((t.tv_sec - t0.tv_sec) * 1000000000L + (t.tv_nsec - t0.tv_nsec) < 20000000L);
}

START_TEST(job_finishes_beside_a_spinning_caller_on_one_cpu)
{
    /* Before the thread starts (Check forks each test: this process starts its own), so it
     * inherits the one CPU. */
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(sched_getcpu(), &one);
    ck_assert_int_eq(sched_setaffinity(0, sizeof one, &one), 0);
    probe_job p = {.job.fn = spin_fn};
    ck_assert_int_eq(rt_bg_submit(&p.job), 0);
    double t0 = now_s();
    unsigned long polls = 0;
    while (!rt_bg_done(&p.job) && now_s() - t0 < 30.0) polls++; /* the shard's busy poll */
    ck_assert_msg(rt_bg_done(&p.job), "starved: not done after %.1f s", now_s() - t0);
    ck_assert_int_eq(p.nice, RT_BG_NICE);
    ck_assert_uint_gt(p.spins, 0);
    ck_assert_uint_gt(polls, 0);
}
END_TEST

/* A sync-lane job that holds its thread until released (bounded: it gives up after 30 s). */
typedef struct {
    probe_job p;
    atomic_int release;
} hold_job;

static void hold_fn(rt_bg_job *j)
{
    hold_job *h = (hold_job *)j;
    probe_fn(j);
    double t0 = now_s();
    while (!atomic_load(&h->release) && now_s() - t0 < 30.0) sched_yield();
}

/* The sync lane runs on its own thread: a short job (a spare segment) queued while a sync holds
 * the sync lane still runs at once. Before: one thread, so it waited for the sync to end. */
START_TEST(a_short_job_does_not_wait_behind_a_sync)
{
    hold_job h = {.p.job = {.fn = hold_fn, .lane = RT_BG_LANE_SYNC}};
    ck_assert_int_eq(rt_bg_submit(&h.p.job), 0);
    probe_job s = {.job.fn = probe_fn}; /* a zeroed lane: RT_BG_LANE_SHORT */
    ck_assert_int_eq(rt_bg_submit(&s.job), 0);
    double t0 = now_s();
    while (!rt_bg_done(&s.job) && now_s() - t0 < 10.0) sched_yield();
    bool short_done = rt_bg_done(&s.job), sync_done = rt_bg_done(&h.p.job);
    atomic_store(&h.release, 1);
    rt_bg_wait(&h.p.job);
    ck_assert_msg(short_done && !sync_done, "short job done %d, sync job done %d", short_done,
                  sync_done);
    ck_assert_str_eq(s.name, "ringq-bg");
    ck_assert_str_eq(h.p.name, "ringq-bg-sync");
    ck_assert_int_eq(h.p.nice, RT_BG_NICE);
    ck_assert_int_ne(s.tid, h.p.tid);
    rt_bg_job bad = {.fn = probe_fn, .lane = RT_BG_LANES};
    ck_assert_int_eq(rt_bg_submit(&bad), -EINVAL);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("rt_bg");
    TCase *tc = tcase_create("priority");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, thread_runs_at_lowest_nice_caller_untouched);
    tcase_add_test(tc, job_finishes_beside_a_spinning_caller_on_one_cpu);
    tcase_add_test(tc, a_short_job_does_not_wait_behind_a_sync);
    suite_add_tcase(su, tc);
    return ts_run_suite(su);
}
