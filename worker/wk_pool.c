/* worker/wk_pool: worker threads over an MPMC ring, completing through the mesh.
 *
 * Shutdown without stranding a job: a submitter increments `submitting` and then reads `state`;
 * a worker exits only after reading state != RUNNING, then submitting == 0, then an empty ring.
 * All four are seq_cst, so either the worker sees the submitter's increment (and waits for its
 * push), or the submitter sees the stop (and refuses). */
#include "core/rt_alloc.h"
#include "worker/wk_pool.h"

#include <errno.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <sched.h>
#include <stdlib.h>

#include "worker/wk_mpmc.h"
#include "worker/wk_park.h"

typedef struct wk_worker {
    wk_pool *pool;
    pthread_t th;
    int ep;
} wk_worker;

struct wk_pool {
    wk_mpmc q;               /* wk_job pointers; 2 x queue_cap cells (see submit) */
    uint32_t queue_cap;      /* jobs waiting for a worker, at most */
    _Atomic uint32_t queued; /* jobs submitted and not yet taken by a worker */
    alignas(WK_CACHE_LINE_BYTES) _Atomic int state;
    _Atomic uint32_t submitting; /* submits between their state check and their push */
    wk_park park;                /* idle workers */
    wk_mesh *mesh;
    int n;
    wk_worker *w;
};

static void on_job_done(wk_mesh *m, int self, const wk_msg *msg)
{
    wk_job *job = msg->arg;
    job->result = (int)(int64_t)msg->arg2;
    job->done(job, job->result);
}

static void run_one(wk_pool *p, wk_worker *w, wk_job *job)
{
    int res;
    /* Relaxed: a hint that only decides run-or-cancel; both outcomes are valid for a job that
     * races with a stop. */
    if (atomic_load_explicit(&p->state, memory_order_relaxed) == WK_POOL_CANCELLING) {
        res = -ECANCELED;
    } else {
        res = job->run(job);
    }
    wk_msg msg = {.fn = on_job_done, .arg = job, .arg2 = (uint64_t)(int64_t)res};
    /* Blocks while the lane to the shard is full; the job itself is delivered through the lane's
     * release/acquire pair, so done sees everything run wrote. */
    wk_mesh_send_wait(p->mesh, w->ep, job->shard, &msg);
}

/* Takes the oldest job; keeps `queued` in step. */
static bool take(wk_pool *p, wk_job **job)
{
    if (!wk_mpmc_pop(&p->q, job)) return false;
    /* Relaxed: a bound on occupancy, not a hand-off (the job came through the ring). */
    atomic_fetch_sub_explicit(&p->queued, 1, memory_order_relaxed);
    return true;
}

static bool may_exit(wk_pool *p)
{
    /* seq_cst: see the file comment (the Dekker pair with wk_pool_submit). */
    return atomic_load_explicit(&p->state, memory_order_seq_cst) != WK_POOL_RUNNING &&
           atomic_load_explicit(&p->submitting, memory_order_seq_cst) == 0;
}

static void *worker_main(void *arg)
{
    wk_worker *w = arg;
    wk_pool *p = w->pool;
    wk_job *job;
    for (;;) {
        if (take(p, &job)) {
            run_one(p, w, job);
            continue;
        }
        uint32_t key = wk_park_prepare(&p->park);
        if (take(p, &job)) {
            wk_park_cancel(&p->park);
            run_one(p, w, job);
            continue;
        }
        if (may_exit(p)) {
            wk_park_cancel(&p->park);
            if (take(p, &job)) {
                run_one(p, w, job);
                continue;
            }
            return NULL;
        }
        wk_park_wait(&p->park, key);
    }
}

int wk_pool_create(const wk_pool_opts *o, wk_mesh *m, wk_pool **out)
{
    *out = NULL;
    if (!o || o->n_threads < 1 || o->n_threads > WK_POOL_THREADS_MAX ||
        o->first_ep < wk_mesh_shards(m) || o->first_ep + o->n_threads > wk_mesh_endpoints(m))
        return -EINVAL;
    uint32_t cap = o->queue_cap ? o->queue_cap : WK_POOL_QUEUE_CAP_DEFAULT;
    wk_pool *p = rt_aligned_alloc(WK_CACHE_LINE_BYTES, (sizeof *p + WK_CACHE_LINE_BYTES - 1) &
                                                           ~(size_t)(WK_CACHE_LINE_BYTES - 1));
    if (!p) return -ENOMEM;
    if (cap < 2 || (cap & (cap - 1)) != 0 || cap > WK_MPMC_CAP_MAX / 2) {
        rt_free(p);
        return -EINVAL;
    }
    p->queue_cap = cap;
    atomic_store_explicit(&p->queued, 0, memory_order_relaxed);
    int r = wk_mpmc_init(&p->q, cap * 2, sizeof(wk_job *));
    if (r < 0) {
        rt_free(p);
        return r;
    }
    /* Relaxed: before the workers exist (pthread_create orders it). */
    atomic_store_explicit(&p->state, WK_POOL_RUNNING, memory_order_relaxed);
    atomic_store_explicit(&p->submitting, 0, memory_order_relaxed);
    wk_park_init(&p->park);
    p->mesh = m;
    p->n = 0;
    p->w = rt_calloc((size_t)o->n_threads, sizeof *p->w);
    if (!p->w) {
        wk_mpmc_deinit(&p->q);
        rt_free(p);
        return -ENOMEM;
    }
    for (int i = 0; i < o->n_threads; i++) {
        wk_worker *w = &p->w[i];
        w->pool = p;
        w->ep = o->first_ep + i;
        r = pthread_create(&w->th, NULL, worker_main, w);
        if (r != 0) {
            wk_pool_destroy(p); /* joins the p->n already started */
            return -r;
        }
        p->n++;
    }
    *out = p;
    return 0;
}

int wk_pool_submit(wk_pool *p, int shard, wk_job *job)
{
    if (shard < 0 || shard >= wk_mesh_shards(p->mesh) || !job->run || !job->done) return -EINVAL;
    job->shard = shard;
    /* seq_cst: the submit half of the shutdown Dekker pair (file comment). */
    atomic_fetch_add_explicit(&p->submitting, 1, memory_order_seq_cst);
    bool running = atomic_load_explicit(&p->state, memory_order_seq_cst) == WK_POOL_RUNNING;
    bool ok = false;
    /* Relaxed: `queued` only bounds occupancy; the job itself travels through the ring. */
    if (running && atomic_fetch_add_explicit(&p->queued, 1, memory_order_relaxed) < p->queue_cap) {
        /* At most queue_cap jobs wait, and the ring has twice as many cells, so a push fails
         * only when a worker was preempted between claiming a cell and releasing it a whole
         * ring's length ago (Vyukov's ring is FIFO per cell). Its copy-out is a pointer; wait
         * for it rather than refusing a job the caller sized for. */
        while (!wk_mpmc_push(&p->q, &job)) sched_yield();
        ok = true;
    } else if (running) {
        atomic_fetch_sub_explicit(&p->queued, 1, memory_order_relaxed);
    }
    atomic_fetch_sub_explicit(&p->submitting, 1, memory_order_seq_cst);
    if (ok) {
        wk_park_notify(&p->park, !running);
        return 0;
    }
    /* Stopping workers may be parked waiting for submitting to reach 0. */
    if (atomic_load_explicit(&p->state, memory_order_seq_cst) != WK_POOL_RUNNING)
        wk_park_notify(&p->park, true);
    return running ? -EAGAIN : -ESHUTDOWN;
}

void wk_pool_stop(wk_pool *p, wk_pool_stop_mode mode)
{
    int want = mode == WK_POOL_CANCEL ? WK_POOL_CANCELLING : WK_POOL_DRAINING;
    /* seq_cst: the stop half of the shutdown Dekker pair. Only moves forward
     * (RUNNING -> DRAINING -> CANCELLING). */
    int cur = atomic_load_explicit(&p->state, memory_order_seq_cst);
    while (cur < want && !atomic_compare_exchange_weak_explicit(
                             &p->state, &cur, want, memory_order_seq_cst, memory_order_seq_cst)) {}
    wk_park_notify(&p->park, true);
}

wk_pool_state wk_pool_get_state(const wk_pool *p)
{
    /* Relaxed: an observation. */
    return (wk_pool_state)atomic_load_explicit(&p->state, memory_order_relaxed);
}

void wk_pool_destroy(wk_pool *p)
{
    if (!p) return;
    wk_pool_stop(p, WK_POOL_DRAIN);
    for (int i = 0; i < p->n; i++) pthread_join(p->w[i].th, NULL);
    wk_mpmc_deinit(&p->q);
    rt_free(p->w);
    rt_free(p);
}
