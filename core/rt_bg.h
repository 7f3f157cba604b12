/* core/rt_bg: background threads for the blocking work a loop thread must not do.
 *
 * Some system calls have no io_uring op, or need a sequence of them with the descriptor of the
 * first: a segment file made ready before the log needs it (openat, ftruncate, fallocate, a
 * pwrite per page, mmap: queue/q_log_spare.c), a large mapping torn down (munmap of a retired
 * 64 MiB segment). A loop thread hands such work to this thread as a job and polls for its end
 * (rt_bg_done) when it needs the result: no wake-up, no callback on the loop.
 *
 * Model: two lanes, each one thread per process running its jobs one at a time, in the order
 * submitted, started by the lane's first rt_bg_submit (and started again in a forked child that
 * submits). RT_BG_LANE_SHORT is for rare, short work (one per segment rolled or retired: about
 * one a second at most); RT_BG_LANE_SYNC for fsyncs whose length has no bound (a --fsync never
 * sync writing back a second of appends, queue/q_commit.c), so a spare segment never waits
 * behind one. Not a hot path.
 *
 * Hand-off: rt_bg_submit never waits for a background thread (rt_bg.c): it pushes the job on the
 * lane's lock-free inbox and, only when the lane's thread sleeps, wakes it with a futex. A
 * nice-19 thread that has lost its CPU at any point, inside a job or not, cannot hold a shard
 * (the priority inversion of the mutex this replaced). The one lock left is taken by a lane's
 * first submit in a process, to start its thread. Only rt_bg_wait and rt_bg_wait_idle block.
 *
 * Ownership: the job stays the caller's (embedded in its own struct) and must stay valid and
 * unmoved until rt_bg_done() returns true, unless `detached`: then fn owns it (may free it) and
 * nobody polls it. fn must not block indefinitely.
 *
 * Priority: the thread runs at nice RT_BG_NICE (the lowest), so it yields the CPU to the loop
 * threads it shares (a shard pinned with its process to one CPU) and still progresses: CFS gives
 * a nice-19 thread ~1.5 % of a CPU beside a busy nice-0 one, never nothing (SCHED_IDLE can starve).
 * Its policy is SCHED_BATCH (same weight, same share): a batch thread does not preempt a normal
 * one when woken, so the submit's wake does not give it the shard's CPU at once.
 * Nothing on a request's path may run here (the --fsync always fdatasync goes through io_uring). */
#ifndef RT_BG_H
#define RT_BG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* The background thread's nice value (setpriority on its thread id when it starts). */
#define RT_BG_NICE 19

typedef struct rt_bg_job rt_bg_job;
typedef void (*rt_bg_fn)(rt_bg_job *job);

typedef enum { RT_BG_IDLE = 0, RT_BG_QUEUED, RT_BG_DONE } rt_bg_state;

/* Which thread runs a job (see Model). */
typedef enum { RT_BG_LANE_SHORT = 0, RT_BG_LANE_SYNC, RT_BG_LANES } rt_bg_lane;

struct rt_bg_job {
    rt_bg_fn fn;       /* runs on the background thread; the caller's result fields beside it */
    bool detached;     /* fn owns the job: the thread does not touch it after calling fn */
    uint8_t lane;      /* rt_bg_lane; 0 (RT_BG_LANE_SHORT) for a zeroed job */
    _Atomic int state; /* rt_bg_state */
    rt_bg_job *next;   /* the inbox's link (rt_bg's while queued) */
};

/* Queues `job` (fn and lane set; not queued already) on its lane. Returns 0, -EINVAL for an
 * unknown lane, or a negative errno when the lane's thread cannot be started (the caller does the work itself; the job is untouched). Thread-safe. */
int rt_bg_submit(rt_bg_job *job);
/* Whether fn has returned: what fn wrote is visible to the caller once this is true (acquire).
 * A job never submitted (RT_BG_IDLE) is not done. */
bool rt_bg_done(const rt_bg_job *job);
/* Blocks until fn has returned (for shutdown paths; never on a loop's hot path). A job not
 * queued returns at once. */
void rt_bg_wait(rt_bg_job *job);
/* Blocks until no job is queued or running on any lane, detached ones included (tests and shutdown paths:
 * before changing what a job's fn reads, e.g. queue/q_sys's table). Returns at once when the
 * thread was never started in this process. */
void rt_bg_wait_idle(void);
/* Jobs run since the process started (tests: proof that work ran on the background thread). */
unsigned long rt_bg_jobs_run(void);

#endif
