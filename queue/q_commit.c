/* queue/q_commit: group commit on the owner's io_uring reactor.
 *
 * A commit is a chain run on one ev_op, so at most one fsync is in flight per log: fdatasync
 * (IORING_OP_FSYNC + DATASYNC through ev_fsync) of each segment appended to since the last
 * commit — one, unless the log rolled (a rolled, unpublished segment gets a full fsync: its size
 * and header are new) — then the renames that publish rolled segments and an fsync of the
 * directory. It covers every append made before it started (its target).
 *
 * When it completes, the waiters it covers are detached and their callbacks run; appends and
 * commits made from inside those callbacks join the next chain, which is started (ALWAYS) or
 * timed (INTERVAL) only after the last callback returned, so one fsync covers them all. Then
 * the committed callback (q_log_on_committed) runs, with that next fsync already in flight: the
 * work a commit unblocks (handing out what became visible) overlaps the next commit instead of
 * holding up its start. */
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

/* Next step of the chain: the fdatasync of segment chain_base, or the directory fsync. */
static int chain_step(q_log *log)
{
    const q_seg *s = &log->segs[q_log_seg_of(log, log->chain_base)];
    int fd = log->chain_dir ? log->dirfd : s->fd;
    /* Data only, except for the directory and for a segment still unpublished: its size and
     * header are new metadata. */
    log->fsync_start_ns = rt_now_ns();
    int r = ev_fsync(log->loop, &log->fsync_op, fd, !log->chain_dir && s->published);
    if (r) return r;
    log->inflight_fd = fd;
    return 0;
}

static int start_fsync(q_log *log)
{
    log->inflight_target = log->next;
    log->chain_last = log->segs[log->nsegs - 1].base;
    uint32_t first = q_log_seg_of(log, log->sync_from);
    log->chain_base = log->segs[first].base;
    log->chain_dir = false;
    int r = chain_step(log);
    if (r == 0) log->inflight = true;
    return r;
}

/* The op completed without error. Returns 1 when the chain is done, 0 when it continues, or a
 * negative errno. */
static int chain_advance(q_log *log)
{
    if (!log->chain_dir && log->chain_base < log->chain_last) {
        uint32_t i = q_log_seg_of(log, log->chain_base);
        log->chain_base = log->segs[i + 1].base;
        return chain_step(log);
    }
    if (!log->chain_dir) {
        int renamed = q_log_publish_upto(log, log->chain_last);
        if (renamed < 0) return renamed;
        if (renamed > 0) {
            log->chain_dir = true;
            return chain_step(log);
        }
    }
    log->sync_from = log->chain_last;
    return 1;
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
    if (!log->whead || log->inflight || log->in_callbacks || log->failed) return;
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

void q_log_on_committed(q_log *log, q_committed_fn fn, void *ud)
{
    log->committed_fn = fn;
    log->committed_ud = ud;
}

/* After a completion's waiters ran and schedule() started what the rest need. */
static void run_committed(q_log *log)
{
    if (!log->committed_fn || log->failed) return;
    log->committed_total++;
    if (log->inflight) log->committed_overlap++;
    log->committed_fn(log, log->committed_ud, log->durable);
}

/* Counts one fsync op's latency in the histogram. */
static void fsync_timed(q_log *log)
{
    static const uint64_t bounds[Q_FSYNC_BUCKETS - 1] = Q_FSYNC_BOUNDS_NS;
    uint64_t ns = rt_now_ns() - log->fsync_start_ns;
    uint32_t b = 0;
    while (b < Q_FSYNC_BUCKETS - 1 && ns > bounds[b]) b++;
    log->fsync_buckets[b]++;
    log->fsyncs++;
    log->fsync_ns_total += ns;
}

static void on_fsync(ev_loop *loop, ev_op *op, int res, unsigned flags)
{
    q_log *log = op->ud;
    log->inflight_fd = -1;
    fsync_timed(log);
    if (res >= 0 && !log->failed) {
        int r = chain_advance(log);
        if (r == 0) return; /* next step in flight */
        res = r < 0 ? r : 0;
    }
    log->inflight = false;
    if (res < 0) {
        log->failed = res;
        log_error("log commit failed", "dir=%s err=%d", log->dir, res);
    } else if (!log->failed) {
        q_log_set_synced(log, log->inflight_target);
        q_log_set_durable(log, log->inflight_target);
    }
    /* On failure every waiter is detached (and told); nothing more will be started. */
    q_commit_waiter *done = detach_done(log);
    log->in_callbacks = true;
    run_waiters(log, done);
    log->in_callbacks = false;
    schedule(log);
    run_committed(log);
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
    q_commit_waiter *done = detach_done(log);
    log->in_callbacks = true;
    run_waiters(log, done);
    log->in_callbacks = false;
    schedule(log);
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

int q_log_sync_async(q_log *log, q_commit_waiter *w, q_commit_cb cb, void *ud)
{
    if (log->failed) return log->failed;
    if (!log->loop) return -EINVAL;
    if (log->inflight || log->in_callbacks) return -EBUSY;
    int r = start_fsync(log);
    if (r) {
        log->failed = r;
        return r;
    }
    /* Queued behind any waiters (under NEVER there are none: they return at once); on_fsync
     * moves durable to this chain's target, which covers w. */
    w->cb = cb;
    w->ud = ud;
    w->target = log->inflight_target;
    w->next = NULL;
    if (log->wtail) log->wtail->next = w;
    else log->whead = w;
    log->wtail = w;
    return 0;
}
