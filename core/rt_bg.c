/* core/rt_bg: the background thread for blocking work (rt_bg.h). */
#include "core/rt_bg.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t work_cv = PTHREAD_COND_INITIALIZER; /* a job was queued */
static pthread_cond_t done_cv = PTHREAD_COND_INITIALIZER; /* a job ended */
static rt_bg_job *head, *tail;
static bool running;     /* a job taken off the queue has not returned yet (under mu) */
static pid_t started_in; /* the process whose thread runs: a forked child starts its own */
static atomic_ulong jobs_run;

static void *bg_main(void *arg)
{
    (void)arg;
    /* Linux's nice is per thread: only this one yields. Best effort: a refusal (a sandbox that
     * forbids it) leaves the work at the default priority, as before. */
    (void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), RT_BG_NICE);
    (void)pthread_setname_np(pthread_self(), "ringq-bg"); /* top -H, perf sched: not the shard */
    pthread_mutex_lock(&mu);
    for (;;) {
        while (!head) pthread_cond_wait(&work_cv, &mu);
        rt_bg_job *j = head;
        head = j->next;
        if (!head) tail = NULL;
        running = true;
        pthread_mutex_unlock(&mu);
        bool detached = j->detached; /* read before fn: a detached fn may free j */
        j->fn(j);
        atomic_fetch_add_explicit(&jobs_run, 1, memory_order_relaxed);
        pthread_mutex_lock(&mu);
        /* Release: fn's writes are visible to whoever sees DONE (rt_bg_done's acquire). */
        if (!detached) atomic_store_explicit(&j->state, RT_BG_DONE, memory_order_release);
        running = false;
        pthread_cond_broadcast(&done_cv);
    }
    return NULL;
}

/* Under mu. The thread blocks every signal: the process handles them elsewhere (signalfd). */
static int start_locked(void)
{
    if (started_in == getpid()) return 0;
    head = tail = NULL; /* a forked child inherits the parent's queue, not its thread */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    pthread_t th;
    int e = pthread_create(&th, NULL, bg_main, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (e) return -e;
    pthread_detach(th);
    started_in = getpid();
    return 0;
}

int rt_bg_submit(rt_bg_job *job)
{
    pthread_mutex_lock(&mu);
    int r = start_locked();
    if (r == 0) {
        atomic_store_explicit(&job->state, RT_BG_QUEUED, memory_order_relaxed);
        job->next = NULL;
        if (tail) tail->next = job;
        else head = job;
        tail = job;
        pthread_cond_signal(&work_cv);
    }
    pthread_mutex_unlock(&mu);
    return r;
}

bool rt_bg_done(const rt_bg_job *job)
{
    return atomic_load_explicit(&job->state, memory_order_acquire) == RT_BG_DONE;
}

void rt_bg_wait(rt_bg_job *job)
{
    pthread_mutex_lock(&mu);
    while (atomic_load_explicit(&job->state, memory_order_acquire) == RT_BG_QUEUED)
        pthread_cond_wait(&done_cv, &mu);
    pthread_mutex_unlock(&mu);
}

void rt_bg_wait_idle(void)
{
    pthread_mutex_lock(&mu);
    if (started_in == getpid())
        while (head || running) pthread_cond_wait(&done_cv, &mu);
    pthread_mutex_unlock(&mu);
}

unsigned long rt_bg_jobs_run(void) { return atomic_load_explicit(&jobs_run, memory_order_relaxed); }
