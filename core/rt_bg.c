/* core/rt_bg: the background thread for blocking work (rt_bg.h). */
#include "core/rt_bg.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t done_cv = PTHREAD_COND_INITIALIZER; /* a job ended */
static atomic_ulong jobs_run;

/* One lane: its queue and its thread (started by the lane's first job in this process). */
static struct lane {
    pthread_cond_t work_cv; /* a job was queued */
    rt_bg_job *head, *tail;
    bool running;     /* a job taken off the queue has not returned yet (under mu) */
    pid_t started_in; /* the process whose thread runs: a forked child starts its own */
} lanes[RT_BG_LANES] = {
    [RT_BG_LANE_SHORT] = {.work_cv = PTHREAD_COND_INITIALIZER},
    [RT_BG_LANE_SYNC] = {.work_cv = PTHREAD_COND_INITIALIZER},
};
static const char *const lane_names[RT_BG_LANES] = {
    [RT_BG_LANE_SHORT] = "ringq-bg", [RT_BG_LANE_SYNC] = "ringq-bg-sync"};

static void *bg_main(void *arg)
{
    struct lane *l = arg;
    /* Linux's nice is per thread: only this one yields. Best effort: a refusal (a sandbox that
     * forbids it) leaves the work at the default priority, as before. */
    (void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), RT_BG_NICE);
    (void)pthread_setname_np(pthread_self(), lane_names[l - lanes]); /* top -H, perf sched */
    pthread_mutex_lock(&mu);
    for (;;) {
        while (!l->head) pthread_cond_wait(&l->work_cv, &mu);
        rt_bg_job *j = l->head;
        l->head = j->next;
        if (!l->head) l->tail = NULL;
        l->running = true;
        pthread_mutex_unlock(&mu);
        bool detached = j->detached; /* read before fn: a detached fn may free j */
        j->fn(j);
        atomic_fetch_add_explicit(&jobs_run, 1, memory_order_relaxed);
        pthread_mutex_lock(&mu);
        /* Release: fn's writes are visible to whoever sees DONE (rt_bg_done's acquire). */
        if (!detached) atomic_store_explicit(&j->state, RT_BG_DONE, memory_order_release);
        l->running = false;
        pthread_cond_broadcast(&done_cv);
    }
    return NULL;
}

/* Under mu. The thread blocks every signal: the process handles them elsewhere (signalfd). */
static int start_locked(struct lane *l)
{
    if (l->started_in == getpid()) return 0;
    l->head = l->tail = NULL; /* a forked child inherits the parent's queue, not its thread */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    pthread_t th;
    int e = pthread_create(&th, NULL, bg_main, l);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (e) return -e;
    pthread_detach(th);
    l->started_in = getpid();
    return 0;
}

int rt_bg_submit(rt_bg_job *job)
{
    if (job->lane >= RT_BG_LANES) return -EINVAL;
    struct lane *l = &lanes[job->lane];
    pthread_mutex_lock(&mu);
    int r = start_locked(l);
    if (r == 0) {
        atomic_store_explicit(&job->state, RT_BG_QUEUED, memory_order_relaxed);
        job->next = NULL;
        if (l->tail) l->tail->next = job;
        else l->head = job;
        l->tail = job;
        pthread_cond_signal(&l->work_cv);
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
    for (int i = 0; i < RT_BG_LANES; i++) {
        struct lane *l = &lanes[i];
        if (l->started_in == getpid())
            while (l->head || l->running) pthread_cond_wait(&done_cv, &mu);
    }
    pthread_mutex_unlock(&mu);
}

unsigned long rt_bg_jobs_run(void) { return atomic_load_explicit(&jobs_run, memory_order_relaxed); }
