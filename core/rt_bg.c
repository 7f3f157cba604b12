/* core/rt_bg: the background threads for blocking work (rt_bg.h).
 *
 * The hand-off takes no lock on the submitting side. Each lane has an inbox: a lock-free stack
 * of jobs linked through rt_bg_job.next. A submit pushes with one compare-and-swap (it retries
 * only when another submitter or the lane's thread changed the top in between: it never waits
 * for a thread to do something) and, only when the lane's thread is asleep, bumps the lane's
 * futex word and wakes it (FUTEX_WAKE: no user-space lock; the kernel's futex bucket lock is a
 * spinlock held for the wake itself). The lane's thread takes the whole inbox with one exchange,
 * reverses it into submission order and runs the jobs one at a time; it reads the next link
 * before calling fn (a detached fn may free the job). Completion: the job's state is stored DONE
 * (release) and a process-wide futex word (done_seq) is bumped and woken, for rt_bg_wait and
 * rt_bg_wait_idle, the only callers that block. The one mutex left (start_mu) is taken only when
 * a lane's thread is not running in this process yet: the first submit of each lane. */
#include "core/rt_bg.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

static pthread_mutex_t start_mu = PTHREAD_MUTEX_INITIALIZER; /* starting a lane's thread */
static _Atomic uint32_t done_seq; /* bumped after each job returns (futex word) */
static atomic_ulong jobs_run;

/* One lane: its inbox and its thread (started by the lane's first job in this process). */
static struct lane {
    _Atomic(rt_bg_job *) inbox; /* submitted, not taken yet: newest first */
    _Atomic uint32_t wake_seq;  /* futex word the thread sleeps on */
    atomic_bool sleeping;       /* the thread is in (or about to enter) its futex wait */
    atomic_ulong pending;       /* submitted and not returned from fn yet (rt_bg_wait_idle) */
    _Atomic pid_t started_in;   /* the process whose thread runs: a forked child starts its own */
} lanes[RT_BG_LANES];
static const char *const lane_names[RT_BG_LANES] = {
    [RT_BG_LANE_SHORT] = "ringq-bg", [RT_BG_LANE_SYNC] = "ringq-bg-sync"};

static void futex_wait(_Atomic uint32_t *w, uint32_t seen)
{
    /* EAGAIN (changed already), EINTR and spurious returns: the callers loop. */
    (void)syscall(SYS_futex, (uint32_t *)w, FUTEX_WAIT_PRIVATE, seen, NULL, NULL, 0);
}

static void futex_wake(_Atomic uint32_t *w, int n)
{
    (void)syscall(SYS_futex, (uint32_t *)w, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}

/* Takes the lane's inbox in submission order; sleeps while it is empty. */
static rt_bg_job *take_all(struct lane *l)
{
    for (;;) {
        rt_bg_job *top = atomic_exchange_explicit(&l->inbox, NULL, memory_order_acquire);
        if (top) {
            rt_bg_job *in_order = NULL;
            while (top) {
                rt_bg_job *next = top->next;
                top->next = in_order;
                in_order = top;
                top = next;
            }
            return in_order;
        }
        /* Read the word before announcing the sleep: a submit that sees `sleeping` bumps it
         * after, so the wait returns at once (value changed) or is woken. The seq_cst store
         * and load pair with the submit's seq_cst push and load of `sleeping`: either it sees
         * us asleep, or we see its job. */
        uint32_t seen = atomic_load_explicit(&l->wake_seq, memory_order_relaxed);
        atomic_store(&l->sleeping, true);
        if (!atomic_load(&l->inbox)) futex_wait(&l->wake_seq, seen);
        atomic_store_explicit(&l->sleeping, false, memory_order_relaxed);
    }
}

static void *bg_main(void *arg)
{
    struct lane *l = arg;
    /* Linux's nice is per thread: only this one yields. Best effort: a refusal (a sandbox that
     * forbids it) leaves the work at the default priority, as before. */
    (void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), RT_BG_NICE);
    /* SCHED_BATCH (the nice stays): a batch thread never preempts a normal one on wake-up, so
     * the shard's FUTEX_WAKE in rt_bg_submit no longer hands CPU 0 to this thread at the
     * syscall's return. Best effort, as the nice. */
    struct sched_param sp = {0};
    (void)pthread_setschedparam(pthread_self(), SCHED_BATCH, &sp);
    (void)pthread_setname_np(pthread_self(), lane_names[l - lanes]); /* top -H, perf sched */
    for (;;) {
        rt_bg_job *j = take_all(l);
        while (j) {
            rt_bg_job *next = j->next; /* read before fn: a detached fn may free j */
            bool detached = j->detached;
            j->fn(j);
            atomic_fetch_add_explicit(&jobs_run, 1, memory_order_relaxed);
            /* Release: fn's writes are visible to whoever sees DONE (rt_bg_done's acquire). */
            if (!detached) atomic_store_explicit(&j->state, RT_BG_DONE, memory_order_release);
            atomic_fetch_sub_explicit(&l->pending, 1, memory_order_release);
            atomic_fetch_add_explicit(&done_seq, 1, memory_order_release);
            futex_wake(&done_seq, INT_MAX); /* rt_bg_wait / wait_idle: about a job a second */
            j = next;
        }
    }
    return NULL;
}

/* Starts the lane's thread in this process unless it runs. The thread blocks every signal: the
 * process handles them elsewhere (signalfd). */
static int start_lane(struct lane *l)
{
    pid_t me = getpid();
    pthread_mutex_lock(&start_mu);
    int e = 0;
    if (atomic_load_explicit(&l->started_in, memory_order_relaxed) != me) {
        /* A forked child inherits the parent's inbox and counts, not its thread. */
        atomic_store_explicit(&l->inbox, NULL, memory_order_relaxed);
        atomic_store_explicit(&l->pending, 0, memory_order_relaxed);
        atomic_store_explicit(&l->sleeping, false, memory_order_relaxed);
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, &old);
        pthread_t th;
        e = pthread_create(&th, NULL, bg_main, l);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (!e) {
            pthread_detach(th);
            atomic_store_explicit(&l->started_in, me, memory_order_release);
        }
    }
    pthread_mutex_unlock(&start_mu);
    return -e;
}

int rt_bg_submit(rt_bg_job *job)
{
    if (job->lane >= RT_BG_LANES) return -EINVAL;
    struct lane *l = &lanes[job->lane];
    if (atomic_load_explicit(&l->started_in, memory_order_acquire) != getpid()) {
        int r = start_lane(l);
        if (r < 0) return r;
    }
    atomic_store_explicit(&job->state, RT_BG_QUEUED, memory_order_relaxed);
    atomic_fetch_add_explicit(&l->pending, 1, memory_order_relaxed);
    rt_bg_job *top = atomic_load_explicit(&l->inbox, memory_order_relaxed);
    do {
        job->next = top;
    } while (!atomic_compare_exchange_weak_explicit(&l->inbox, &top, job, memory_order_seq_cst,
                                                    memory_order_relaxed));
    if (atomic_load(&l->sleeping)) {
        atomic_fetch_add_explicit(&l->wake_seq, 1, memory_order_relaxed);
        futex_wake(&l->wake_seq, 1);
    }
    return 0;
}

bool rt_bg_done(const rt_bg_job *job)
{
    return atomic_load_explicit(&job->state, memory_order_acquire) == RT_BG_DONE;
}

void rt_bg_wait(rt_bg_job *job)
{
    for (;;) {
        uint32_t seen = atomic_load_explicit(&done_seq, memory_order_acquire);
        if (atomic_load_explicit(&job->state, memory_order_acquire) != RT_BG_QUEUED) return;
        futex_wait(&done_seq, seen);
    }
}

void rt_bg_wait_idle(void)
{
    pid_t me = getpid();
    for (int i = 0; i < RT_BG_LANES; i++) {
        struct lane *l = &lanes[i];
        if (atomic_load_explicit(&l->started_in, memory_order_acquire) != me) continue;
        for (;;) {
            uint32_t seen = atomic_load_explicit(&done_seq, memory_order_acquire);
            if (atomic_load_explicit(&l->pending, memory_order_acquire) == 0) break;
            futex_wait(&done_seq, seen);
        }
    }
}

unsigned long rt_bg_jobs_run(void) { return atomic_load_explicit(&jobs_run, memory_order_relaxed); }
