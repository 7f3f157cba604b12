/* Unit tests for core/ev_stall: a long loop turn split into on-CPU and preempted time, and on-CPU
 * into cpu and blocked, through a real ev_loop. A turn that sleeps is the thread's own (on-CPU:
 * it was never runnable without a CPU); a turn that spins while another thread spins on the
 * same CPU is about half preempted.
 * Skips (exit 77) without io_uring or without /proc/thread-self/schedstat. */
#include <check.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "core/ev_reactor.h"
#include "core/ev_stall.h"
#include "core/ev_trace.h"
#include "core/rt_clock.h"
#include "ts_main.h"

/* Long enough to be split (EV_STALL_SPLIT_NS) many times over, and to span several scheduler
 * slices (a few ms each) when two threads share one CPU. */
#define TURN_NS (40 * RT_NS_PER_MS)

static void on_sleep_timer(ev_loop *loop, ev_timer *t)
{
    struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)TURN_NS};
    while (nanosleep(&ts, &ts) != 0) {}
    ev_loop_stop(loop);
}

static void on_spin_timer(ev_loop *loop, ev_timer *t)
{
    uint64_t until = rt_now_ns() + TURN_NS;
    while (rt_now_ns() < until) {}
    ev_loop_stop(loop);
}

/* Runs one turn that calls `cb`, and the next turn's start that ends it; fills the split. */
static void run_turn(ev_timer_cb cb, rt_hist *oncpu, rt_hist *pre, rt_hist *all)
{
    ev_loop *l = ts_loop_create();
    ev_timer t;
    ev_timer_init(&t, cb, NULL);
    ck_assert_int_eq(ev_timer_start(l, &t, rt_now_ns() + RT_NS_PER_MS), 0);
    ck_assert_int_eq(ev_loop_run(l), 0);
    ck_assert_int_ge(ev_loop_run_once(l, false), 0);
    rt_hist_add(oncpu, ev_loop_stall_oncpu_hist(l));
    rt_hist_add(pre, ev_loop_stall_preempted_hist(l));
    rt_hist_add(all, ev_loop_stall_hist(l));
    ev_loop_destroy(l);
}

/* Sums the long turns of the whole-turn histogram: the buckets above EV_STALL_SPLIT_NS. */
static uint64_t long_turns(const rt_hist *h)
{
    const uint64_t *b = rt_hist_bounds_ns();
    uint64_t n = 0;
    for (uint32_t i = 0; i < RT_HIST_BUCKETS; i++)
        if (i == RT_HIST_BUCKETS - 1 || b[i] > EV_STALL_SPLIT_NS) n += h->buckets[i];
    return n;
}

START_TEST(sleeping_turn_is_the_threads_own)
{
    rt_hist oncpu = {0}, pre = {0}, all = {0};
    run_turn(on_sleep_timer, &oncpu, &pre, &all);
    /* One long turn, split once; the two parts add up to at least the sleep. */
    ck_assert_uint_eq(oncpu.count, 1);
    ck_assert_uint_eq(pre.count, 1);
    ck_assert_uint_eq(long_turns(&all), 1);
    ck_assert_uint_ge(oncpu.sum_ns + pre.sum_ns, TURN_NS);
    /* Asleep, the thread is not runnable: only the wake-up at the end may wait for a CPU (a
     * busy shared machine can make that a few ms, never most of the turn). */
    ck_assert_msg(pre.sum_ns < TURN_NS / 2, "preempted %llu ns of a %llu ns sleep",
                  (unsigned long long)pre.sum_ns, (unsigned long long)TURN_NS);
    ck_assert_uint_ge(oncpu.sum_ns, TURN_NS / 2);
}
END_TEST

static atomic_bool rival_stop;

static void *rival_spin(void *arg)
{
    while (!atomic_load_explicit(&rival_stop, memory_order_relaxed)) {}
    return NULL;
}

static void pin_to(pthread_t th, int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    ck_assert_int_eq(pthread_setaffinity_np(th, sizeof set, &set), 0);
}

START_TEST(spinning_turn_sharing_its_cpu_is_preempted)
{
    int cpu = sched_getcpu();
    ck_assert_int_ge(cpu, 0);
    pin_to(pthread_self(), cpu); /* forked test: the pinning ends with this process */
    atomic_store(&rival_stop, false);
    pthread_t rival;
    ck_assert_int_eq(pthread_create(&rival, NULL, rival_spin, NULL), 0);
    pin_to(rival, cpu);
    rt_hist oncpu = {0}, pre = {0}, all = {0};
    run_turn(on_spin_timer, &oncpu, &pre, &all);
    atomic_store(&rival_stop, true);
    ck_assert_int_eq(pthread_join(rival, NULL), 0);
    ck_assert_uint_eq(oncpu.count, 1);
    ck_assert_uint_eq(pre.count, 1);
    ck_assert_uint_ge(oncpu.sum_ns + pre.sum_ns, TURN_NS);
    /* Two runnable threads on one CPU: the fair scheduler gives each about half of the 40 ms;
     * a quarter leaves room for slice boundaries. */
    ck_assert_msg(pre.sum_ns >= TURN_NS / 4, "preempted only %llu ns of %llu ns shared",
                  (unsigned long long)pre.sum_ns, (unsigned long long)(oncpu.sum_ns + pre.sum_ns));
    /* The thread spun at least until its clock said TURN_NS had passed, part of it on CPU. */
    ck_assert_uint_gt(oncpu.sum_ns, 0);
}
END_TEST

START_TEST(short_turns_are_not_split)
{
    ev_loop *l = ts_loop_create();
    for (int i = 0; i < 100; i++) ck_assert_int_ge(ev_loop_run_once(l, false), 0);
    rt_hist all = {0}, oncpu = {0}, pre = {0};
    rt_hist_add(&all, ev_loop_stall_hist(l));
    rt_hist_add(&oncpu, ev_loop_stall_oncpu_hist(l));
    rt_hist_add(&pre, ev_loop_stall_preempted_hist(l));
    ck_assert_uint_ge(all.count, 99);
    ck_assert_uint_eq(oncpu.count, long_turns(&all)); /* only a preempted empty turn is long */
    ck_assert_uint_eq(pre.count, oncpu.count);
    ev_loop_destroy(l);
}
END_TEST

START_TEST(run_delay_grows_while_waiting_for_a_cpu)
{
    int fd = open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    uint64_t d0, d1;
    ck_assert_int_eq(ev_stall_read_run_delay(fd, &d0), 0);
    int cpu = sched_getcpu();
    pin_to(pthread_self(), cpu);
    atomic_store(&rival_stop, false);
    pthread_t rival;
    ck_assert_int_eq(pthread_create(&rival, NULL, rival_spin, NULL), 0);
    pin_to(rival, cpu);
    uint64_t until = rt_now_ns() + TURN_NS;
    while (rt_now_ns() < until) {}
    ck_assert_int_eq(ev_stall_read_run_delay(fd, &d1), 0);
    atomic_store(&rival_stop, true);
    ck_assert_int_eq(pthread_join(rival, NULL), 0);
    ck_assert_uint_ge(d1 - d0, TURN_NS / 4);
    ck_assert_int_eq(close(fd), 0);
}
END_TEST

/* Runs one turn that calls `cb` with the trace on, counting the cpu / blocked split into the
 * thread's histograms; fills them and the trace's view of the turn. */
static void run_split_turn(ev_timer_cb cb, rt_hist *cpu, rt_hist *blocked, uint64_t *tr_cpu,
                           uint64_t *tr_blocked)
{
    ev_stall_set_thread_hists(cpu, blocked);
    ev_loop *l = ts_loop_create();
    ev_trace_set(ev_loop_trace(l), RT_NS_PER_MS);
    ev_timer t;
    ev_timer_init(&t, cb, NULL);
    ck_assert_int_eq(ev_timer_start(l, &t, rt_now_ns() + RT_NS_PER_MS), 0);
    ck_assert_int_eq(ev_loop_run(l), 0);
    ck_assert_int_ge(ev_loop_run_once(l, false), 0);
    *tr_cpu = ev_loop_trace(l)->last_cpu_ns;
    *tr_blocked = ev_loop_trace(l)->last_blocked_ns;
    ev_loop_destroy(l);
    ev_stall_set_thread_hists(NULL, NULL);
}

/* Old code: a sleep inside a turn read as on-CPU work, indistinguishable from a spin. */
START_TEST(sleeping_turn_reads_as_blocked_not_cpu)
{
    rt_hist cpu = {0}, blocked = {0};
    uint64_t tc, tb;
    run_split_turn(on_sleep_timer, &cpu, &blocked, &tc, &tb);
    ck_assert_uint_eq(cpu.count, 1);
    ck_assert_uint_eq(blocked.count, 1);
    /* Asleep 40 ms: the thread ran only for the timer's dispatch and the syscalls around it
     * (plus at most EV_STALL_BASE_NS of run time before the turn, see ev_stall.h). */
    ck_assert_msg(cpu.sum_ns < TURN_NS / 4, "cpu %llu ns of a %llu ns sleep",
                  (unsigned long long)cpu.sum_ns, (unsigned long long)TURN_NS);
    ck_assert_uint_ge(blocked.sum_ns, TURN_NS / 2);
    /* The trace line carries the same split. */
    ck_assert_uint_eq(tc, cpu.sum_ns);
    ck_assert_uint_eq(tb, blocked.sum_ns);
}
END_TEST

START_TEST(spinning_turn_reads_as_cpu_not_blocked)
{
    rt_hist cpu = {0}, blocked = {0};
    uint64_t tc, tb;
    run_split_turn(on_spin_timer, &cpu, &blocked, &tc, &tb);
    ck_assert_uint_eq(cpu.count, 1);
    ck_assert_uint_eq(blocked.count, 1);
    /* Spinning, the thread ran whenever it had its CPU: what it did not run was run delay (not
     * counted here). Blocked is ~0 (tens of us); 2 ms leaves room for hypervisor steal. */
    ck_assert_msg(cpu.sum_ns >= TURN_NS / 4, "cpu only %llu ns of a %llu ns spin",
                  (unsigned long long)cpu.sum_ns, (unsigned long long)TURN_NS);
    ck_assert_msg(blocked.sum_ns < TURN_NS / 20, "blocked %llu ns of a spin",
                  (unsigned long long)blocked.sum_ns);
    ck_assert_uint_eq(tc, cpu.sum_ns);
    ck_assert_uint_eq(tb, blocked.sum_ns);
}
END_TEST

/* The thread's CPU time is current when read: a 3 ms spin reads at least 3 ms of it (less only
 * the spin's run delay). schedstat's run time (field 1) is not: it read 0.3-4.8 ms there. */
START_TEST(cpu_time_is_current_when_read)
{
    int fd = open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    for (int i = 0; i < 5; i++) {
        uint64_t c0, c1, d0, d1;
        ck_assert_int_eq(ev_stall_read_run_delay(fd, &d0), 0);
        ck_assert_int_eq(ev_stall_read_cpu(&c0), 0);
        uint64_t from = rt_now_ns(), until = from + 3 * RT_NS_PER_MS;
        while (rt_now_ns() < until) {}
        ck_assert_int_eq(ev_stall_read_cpu(&c1), 0);
        uint64_t wall = rt_now_ns() - from;
        ck_assert_int_eq(ev_stall_read_run_delay(fd, &d1), 0);
        ck_assert_uint_ge(c1, c0);
        ck_assert_uint_le(c1 - c0, wall + RT_NS_PER_MS / 10);
        /* Everything the spin did not run, it waited for a CPU (interrupts count as run). */
        ck_assert_msg(c1 - c0 + (d1 - d0) + RT_NS_PER_MS / 4 >= 3 * RT_NS_PER_MS,
                      "cpu %llu + run delay %llu ns of a 3 ms spin", (unsigned long long)(c1 - c0),
                      (unsigned long long)(d1 - d0));
    }
    ck_assert_int_eq(close(fd), 0);
}
END_TEST

int main(void)
{
    int skip = ts_io_uring_or_skip();
    if (skip) return skip;
    if (access("/proc/thread-self/schedstat", R_OK) != 0) {
        fprintf(stderr, "skip: no /proc/thread-self/schedstat (CONFIG_SCHED_INFO)\n");
        return 77;
    }
    Suite *s = suite_create("ev_stall");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, sleeping_turn_is_the_threads_own);
    tcase_add_test(tc, spinning_turn_sharing_its_cpu_is_preempted);
    tcase_add_test(tc, short_turns_are_not_split);
    tcase_add_test(tc, run_delay_grows_while_waiting_for_a_cpu);
    tcase_add_test(tc, sleeping_turn_reads_as_blocked_not_cpu);
    tcase_add_test(tc, spinning_turn_reads_as_cpu_not_blocked);
    tcase_add_test(tc, cpu_time_is_current_when_read);
    suite_add_tcase(s, tc);
    return ts_run_suite(s);
}
