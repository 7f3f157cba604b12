/* queue/q_commit: group commit on the owner's io_uring reactor.
 *
 * At most one fdatasync (IORING_OP_FSYNC + DATASYNC through ev_fsync) is in flight per log. It
 * covers every append made before it was started (its target). Waiters whose target it covers
 * are detached first, the next fsync is started (ALWAYS) or the window timer armed (INTERVAL)
 * if more waiters remain, and only then are the callbacks run: a callback may append and commit
 * again without seeing the log half updated. */
#include <errno.h>

#include "core/rt_clock.h"
#include "core/rt_log.h"
#include "queue/q_log.h"
#include "queue/q_log_int.h"

static void on_fsync(ev_loop *loop, ev_op *op, int res, unsigned flags);
static void on_timer(ev_loop *loop, ev_timer *t);

int q_log_attach(q_log *log, ev_loop *loop)
{
    if (!loop || (log->loop && log->loop != loop) || log->opts.read_only) return -EINVAL;
    log->loop = loop;
    log->fsync_op.cb = on_fsync;
    log->fsync_op.ud = log;
    ev_timer_init(&log->timer, on_timer, log);
    return 0;
}

static int start_fsync(q_log *log)
{
    const q_seg *s = &log->segs[log->nsegs - 1];
    /* Older segments were sealed with an fdatasync when the log rolled past them. */
    int r = ev_fsync(log->loop, &log->fsync_op, s->fd, true);
    if (r) return r;
    log->inflight = true;
    log->inflight_target = log->next;
    log->inflight_fd = s->fd;
    return 0;
}

/* Detaches the waiters whose target is covered (all of them on failure) and returns them. */
static q_commit_waiter *detach_done(q_log *log)
{
    q_commit_waiter *head = log->whead, **tail = &head;
    while (*tail && (log->failed || (*tail)->target <= log->durable)) tail = &(*tail)->next;
    log->whead = *tail;
    if (!log->whead) log->wtail = NULL;
    *tail = NULL;
    return log->whead == head ? NULL : head;
}

static void run_waiters(q_log *log, q_commit_waiter *w)
{
    int status = log->failed;
    uint64_t durable = log->durable;
    while (w) {
        q_commit_waiter *nx = w->next; /* the callback may reuse w */
        w->next = NULL;
        w->cb(log, w->ud, status, durable);
        w = nx;
    }
}

/* Starts what the remaining waiters need, per policy. Failures of ev_fsync are sticky. */
static void schedule(q_log *log)
{
    if (!log->whead || log->inflight || log->failed) return;
    if (log->opts.policy == Q_COMMIT_INTERVAL) {
        if (!ev_timer_armed(&log->timer)) {
            uint64_t at = ev_loop_now(log->loop) + (uint64_t)log->opts.interval_ms * RT_NS_PER_MS;
            if (ev_timer_start(log->loop, &log->timer, at) != 0) log->failed = -ENOMEM;
        }
        return;
    }
    int r = start_fsync(log);
    if (r) log->failed = r;
}

static void on_fsync(ev_loop *loop, ev_op *op, int res, unsigned flags)
{
    q_log *log = op->ud;
    log->inflight = false;
    log->inflight_fd = -1;
    if (res < 0) {
        log->failed = res;
        log_error("log fdatasync failed", "dir=%s err=%d", log->dir, res);
    } else {
        q_log_set_durable(log, log->inflight_target);
    }
    q_commit_waiter *done = detach_done(log);
    schedule(log);
    if (log->failed) {
        /* Nothing more will be started: every waiter learns the failure now. */
        q_commit_waiter *rest = detach_done(log);
        run_waiters(log, done);
        run_waiters(log, rest);
        return;
    }
    run_waiters(log, done);
}

static void on_timer(ev_loop *loop, ev_timer *t)
{
    q_log *log = t->ud;
    if (log->inflight || log->failed) return;
    /* Waiters a sync commit covered meanwhile are detached below without a new fsync. */
    if (log->wtail && log->wtail->target > log->durable) {
        int r = start_fsync(log);
        if (r) log->failed = r; /* then every waiter is detached, with the error */
    }
    run_waiters(log, detach_done(log));
}

int q_log_commit_async(q_log *log, q_commit_waiter *w, q_commit_cb cb, void *ud)
{
    if (log->failed) return log->failed;
    if (!log->loop) return -EINVAL;
    if (log->opts.policy == Q_COMMIT_NEVER) q_log_set_durable(log, log->next);
    if (log->durable >= log->next) return 1;
    w->cb = cb;
    w->ud = ud;
    w->target = log->next;
    w->next = NULL;
    if (log->wtail) log->wtail->next = w;
    else log->whead = w;
    log->wtail = w;
    schedule(log);
    if (log->failed) {
        /* Never call back from inside the call: unlink w and report the error instead. */
        q_commit_waiter **pp = &log->whead, *prev = NULL;
        while (*pp != w) {
            prev = *pp;
            pp = &(*pp)->next;
        }
        *pp = NULL;
        log->wtail = prev;
        return log->failed;
    }
    return 0;
}
