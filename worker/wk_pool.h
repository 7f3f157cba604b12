/* worker/wk_pool: a fixed pool of threads for blocking work (file preallocation, unlinks, task
 * handlers), fed by an MPMC ring and completing through the mesh.
 *
 * A shard submits a job; a worker runs job->run on its own thread; the result travels back to
 * the submitting shard as a mesh message, and job->done runs there (on the shard's thread, from
 * its loop). Workers are mesh helper endpoints (send-only); they sleep on a futex event count
 * when the ring is empty and block (never drop) when the lane back to a shard is full.
 *
 * Stopping: wk_pool_stop(DRAIN) refuses new jobs and runs every queued one; wk_pool_stop(CANCEL)
 * refuses new jobs and completes queued, not-yet-started ones with -ECANCELED without running
 * them (a job already running finishes). In both modes every accepted job gets exactly one done
 * call, so owners can always free their jobs. Shards must keep polling their mesh until
 * wk_pool_destroy returns (completions are delivered through it): stop the pool before shards.
 *
 * Ownership: the caller owns each wk_job and keeps it alive and unmoved from a successful submit
 * until its done callback runs (done may free it). */
#ifndef WK_POOL_H
#define WK_POOL_H

#include <stdint.h>

#include "worker/wk_mesh.h"

/* Worker threads at most: blocking work needs few threads; more would just contend. */
#define WK_POOL_THREADS_MAX 64
/* Queue slots by default: jobs (pointers) waiting for a worker. */
#define WK_POOL_QUEUE_CAP_DEFAULT 4096u

typedef struct wk_pool wk_pool;
typedef struct wk_job wk_job;
/* Runs on a worker thread; returns >= 0 or a negative errno. May block. */
typedef int (*wk_job_run_fn)(wk_job *job);
/* Runs on the submitting shard's thread with run's result, or -ECANCELED (stopped). */
typedef void (*wk_job_done_fn)(wk_job *job, int result);

struct wk_job {
    wk_job_run_fn run;   /* required */
    wk_job_done_fn done; /* required */
    void *ud;            /* caller's */
    uint64_t arg;        /* caller's */
    int shard;           /* set by wk_pool_submit: where done runs */
    int result;          /* set before done runs */
};

typedef enum {
    WK_POOL_RUNNING = 0,
    WK_POOL_DRAINING,   /* no new jobs; queued ones run */
    WK_POOL_CANCELLING, /* no new jobs; queued ones complete with -ECANCELED */
} wk_pool_state;

typedef enum { WK_POOL_DRAIN = 1, WK_POOL_CANCEL = 2 } wk_pool_stop_mode;

typedef struct wk_pool_opts {
    int n_threads;      /* 1..WK_POOL_THREADS_MAX */
    int first_ep;       /* workers are mesh endpoints first_ep..first_ep + n_threads - 1; these
                           must be helper endpoints (>= wk_mesh_shards) used by nobody else */
    uint32_t queue_cap; /* jobs waiting for a worker at most; power of two; 0: default */
} wk_pool_opts;

/* Starts the workers (they inherit the caller's signal mask). Returns 0 and *out, or -EINVAL,
 * -ENOMEM, or the pthread_create error negated (no thread is left running then). */
int wk_pool_create(const wk_pool_opts *opts, wk_mesh *m, wk_pool **out);
/* Queues `job` for shard `shard` (the caller's own shard, on its thread). Returns 0, -EAGAIN
 * (queue_cap jobs are waiting for a worker: retry later; size queue_cap at or above the
 * shards' total bound on jobs in flight and it never happens), -ESHUTDOWN (stopping) or
 * -EINVAL. */
int wk_pool_submit(wk_pool *p, int shard, wk_job *job);
/* Any thread, non-blocking. Refuses new jobs from now on. CANCEL after DRAIN upgrades the stop;
 * DRAIN after CANCEL changes nothing. */
void wk_pool_stop(wk_pool *p, wk_pool_stop_mode mode);
wk_pool_state wk_pool_get_state(const wk_pool *p);
/* Stops with DRAIN unless already stopped, joins the workers, frees the pool. Not on a shard
 * thread that workers may be completing to (it would stop polling while they wait on it). */
void wk_pool_destroy(wk_pool *p);

#endif
