/* queue/q_commit: group commit on the owner's io_uring reactor.
 *
 * A commit is a chain run on one ev_op (under NEVER, where nobody waits on a chain, its steps
 * run on core/rt_bg's sync lane instead: bg_step): fdatasync (IORING_OP_FSYNC + DATASYNC through
 * ev_fsync)
 * of each segment appended to since the last commit — one, unless the log rolled (a rolled,
 * unpublished segment gets a full fsync: its size and header are new) — then the renames that
 * publish rolled segments and an fsync of the directory. It covers every append made before it
 * started (its target).
 *
 * Pipelining (ALWAYS): while chains run, waiters that need more than the youngest covers start
 * one more chain at once instead of waiting for the oldest to end, when the group is large enough
 * to pay for its fdatasync: what it would cover is at least Q_COMMIT_PIPE_PCT % of what the
 * youngest covers (a smaller group waits for the youngest to end, and more join it meanwhile).
 * The new chain is one fdatasync of the open segment, and only when the log has not rolled since
 * the youngest started (ended or not: a younger chain held behind an older one frees no slot, but
 * does not block one either) and that segment is published (so the new chain has no rename or
 * directory step, and everything it covers that the older ones do not lies in the one file it
 * syncs). Chains complete in the order they
 * started: a younger one that ends first is held until every older one has ended, so the
 * durable end only moves to a target once every fdatasync covering the records below it, each
 * started after they were written, has returned. At most Q_COMMIT_CHAINS_MAX chains run; later
 * waiters wait for the oldest to end.
 *
 * Hold (ALWAYS, Q_COMMIT_HOLD_US): with no chain in flight, a chain asked for within that time of
 * the last completion, for fewer records than the chain that completion retired covered, waits
 * on the log's timer until the records waiting are as many or the time is up: the parties the
 * completion answered send their next requests within tens of microseconds, and the first of
 * them used to pay an fdatasync alone. A group as large as the last, or any after the time,
 * starts at once (so a lone request on a quiet log is never held).
 *
 * Only waiters of q_log_commit_async start a chain beside those in flight; those of q_log_commit_join (a
 * consumer's acks) wait for the one in flight to end, or for an eager waiter's chain, and join
 * it: acks stay durable before they are answered without adding an fsync beside each producer's
 * (a durable fan-out used to spend a chain slot and a disk flush on each ack request).
 *
 * When the oldest chain completes, the waiters it covers are detached and their callbacks run;
 * appends and commits made from inside those callbacks join the next chain, which is started
 * (ALWAYS) or timed (INTERVAL) only after the last callback returned, so one fsync covers them
 * all. Then the committed callback (q_log_on_committed) runs, with the next fsync already in
 * flight: the work a commit unblocks (handing out what became visible) overlaps the next commit
 * instead of holding up its start.
 *
 * Deferred start (q_log_on_kick, the server): under ALWAYS a chain is never started from inside
 * a request or a completion; the owner is asked to kick at the end of its loop turn, and the kick
 * starts (or pipelines) one chain for every waiter queued during the turn. The requests one turn
 * runs (the mesh hands a shard its jobs in batches) used to start a chain each — the first one
 * alone, the second beside it — so a b64 Enqueue mostly paid an fdatasync of its own (~154 us of
 * system CPU on the test VM, bench/results/cpu-per-task-2026-12-07.md). The kick runs before the
 * loop submits, the only moment an SQE prepared during the turn reaches the kernel anyway: a lone
 * Enqueue on an idle server still has its fdatasync submitted at once. */
#include <errno.h>
#include <stddef.h>

#include "core/rt_clock.h"
#include "core/rt_hist.h"
#include "core/rt_log.h"
#include "queue/q_log.h"
#include "queue/q_log_int.h"
#include "queue/q_sys.h"

static void on_fsync(ev_loop *loop, ev_op *op, int res, unsigned flags);
static void on_timer(ev_loop *loop, ev_timer *t);

int q_log_attach(q_log *log, ev_loop *loop)
{
    if (!loop || (log->loop && log->loop != loop) || log->opts.read_only) return -EINVAL;
    log->loop = loop;
    for (uint32_t i = 0; i < Q_COMMIT_CHAINS_MAX; i++) {
        log->chains[i].op.cb = on_fsync;
        log->chains[i].op.ud = log;
        log->chains[i].fd = -1;
    }
    ev_timer_init(&log->timer, on_timer, log);
    return 0;
}

/* The k-th chain in flight, oldest first. */
static q_commit_chain *chain_at(q_log *log, uint32_t k)
{
    return &log->chains[(log->chain_head + k) % Q_COMMIT_CHAINS_MAX];
}

bool q_commit_fd_busy(const q_log *log, int fd)
{
    for (uint32_t k = 0; k < log->nchains; k++) {
        const q_commit_chain *c = &log->chains[(log->chain_head + k) % Q_COMMIT_CHAINS_MAX];
        if (!c->done && c->fd == fd) return true;
    }
    return false;
}

/* The background thread's step (q_commit_bg): one blocking sync through q_sys. */
static void bg_sync_fn(rt_bg_job *job)
{
    q_commit_bg *b = (q_commit_bg *)job;
    int r = b->datasync ? q_sys.fdatasync(b->fd) : q_sys.fsync(b->fd);
    b->res = r == 0 ? 0 : -errno;
}

/* How often the loop looks whether a background step has ended (rt_bg has no wake-up). */
#define Q_COMMIT_BG_POLL_NS (1 * RT_NS_PER_MS)

static int bg_poll_later(q_log *log)
{
    if (ev_timer_armed(&log->timer)) return 0;
    return ev_timer_start(log->loop, &log->timer, ev_loop_now(log->loop) + Q_COMMIT_BG_POLL_NS);
}

/* Under NEVER the only chains are q_log_sync_async's (retention): nobody waits on them, so
 * their syncs go to the background sync lane (nice 19) instead of io-wq, whose worker runs at the
 * shard's priority on the shard's CPU and pushed it off for up to a scheduler tick
 * (bench/results/bgnice-2026-12-07-s11.md). 0, or nonzero when the ring must do it. */
static int bg_step(q_log *log, q_commit_chain *c, int fd, bool datasync)
{
    if (log->opts.policy != Q_COMMIT_NEVER) return -EINVAL;
    c->bg.job.fn = bg_sync_fn;
    c->bg.job.detached = false;
    c->bg.job.lane = RT_BG_LANE_SYNC; /* a spare segment never waits behind it */
    c->bg.fd = fd;
    c->bg.datasync = datasync;
    c->bg.res = 0;
    /* The poll first: without it nothing would see the job end. An armed timer with no job
     * (the submit failed) only finds nothing to do. */
    if (bg_poll_later(log) != 0 || rt_bg_submit(&c->bg.job) != 0) return -EAGAIN;
    c->bg.on = true;
    return 0;
}

/* Next step of chain c: the fdatasync of segment c->base, or the directory fsync. */
static int chain_step(q_log *log, q_commit_chain *c)
{
    const q_seg *s = &log->segs[q_log_seg_of(log, c->base)];
    int fd = c->dir ? log->dirfd : s->fd;
    /* Data only, except for the directory and for a segment still unpublished: its size and
     * header are new metadata. */
    c->start_ns = rt_now_ns();
    bool datasync = !c->dir && s->published;
    c->bg.on = false;
    if (bg_step(log, c, fd, datasync) != 0) {
        int r = ev_fsync(log->loop, &c->op, fd, datasync);
        if (r) return r;
    }
    c->fd = fd;
    return 0;
}

/* Starts a chain covering every append so far, syncing the segments from the one holding
 * offset `from` to the last. 0 or a negative errno (nothing started). */
static int start_chain(q_log *log, uint64_t from)
{
    if (log->nchains >= Q_COMMIT_CHAINS_MAX) return -EBUSY;
    q_commit_chain *c = chain_at(log, log->nchains);
    c->done = false;
    c->res = 0;
    c->target = log->next;
    c->from = log->nchains ? chain_at(log, log->nchains - 1)->target : log->durable;
    c->last = log->segs[log->nsegs - 1].base;
    c->base = log->segs[q_log_seg_of(log, from)].base;
    c->dir = false;
    int r = chain_step(log, c);
    if (r) return r;
    log->nchains++;
    log->inflight = true;
    return 0;
}

static int start_fsync(q_log *log) { return start_chain(log, log->sync_from); }

/* Whether one more chain may start beside those in flight: see the top of the file. The
 * youngest decides: no roll since it started, the new waiters need more than it covers, and
 * what a new chain would cover is at least Q_COMMIT_PIPE_PCT % of what the youngest covers. */
static bool may_pipeline(const q_log *log)
{
    if (log->opts.policy != Q_COMMIT_ALWAYS || log->nchains == 0 ||
        log->nchains >= Q_COMMIT_CHAINS_MAX)
        return false;
    const q_commit_chain *c =
        &log->chains[(log->chain_head + log->nchains - 1) % Q_COMMIT_CHAINS_MAX];
    const q_seg *open = &log->segs[log->nsegs - 1];
    if (c->last != open->base || !open->published || c->target >= log->next || !log->wtail ||
        log->eager_target <= c->target)
        return false;
    return (log->next - c->target) * 100 >= (c->target - c->from) * Q_COMMIT_PIPE_PCT;
}

/* Chain c's op completed without error. Returns 1 when the chain is done, 0 when it
 * continues, or a negative errno. */
static int chain_advance(q_log *log, q_commit_chain *c)
{
    if (!c->dir && c->base < c->last) {
        uint32_t i = q_log_seg_of(log, c->base);
        c->base = log->segs[i + 1].base;
        return chain_step(log, c);
    }
    if (!c->dir) {
        int renamed = q_log_publish_upto(log, c->last);
        if (renamed < 0) return renamed;
        if (renamed > 0) {
            c->dir = true;
            return chain_step(log, c);
        }
    }
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

/* Whether the chain start is left to the owner's kick (see the top of the file): asks for the
 * kick once per turn. */
static bool defer_start(q_log *log)
{
    if (!log->kick_fn || log->opts.policy != Q_COMMIT_ALWAYS) return false;
    if (!log->kick_pending) {
        log->kick_pending = true;
        log->kick_fn(log, log->kick_ud);
    }
    return true;
}

/* Whether a chain about to start on an idle log waits for its group (Q_COMMIT_HOLD_US): right
 * after a completion, a group smaller than what its chain covered waits for the parties it
 * answered, on the log's timer, until it reaches that size or the time is up. */
static bool hold_start(q_log *log)
{
    if (Q_COMMIT_HOLD_US == 0 || log->opts.policy != Q_COMMIT_ALWAYS) return false;
    uint64_t until = log->last_end_ns + (uint64_t)Q_COMMIT_HOLD_US * 1000u;
    if (log->next - log->durable >= log->last_cover || ev_loop_now(log->loop) >= until) {
        if (ev_timer_armed(&log->timer)) ev_timer_stop(log->loop, &log->timer);
        return false;
    }
    if (!ev_timer_armed(&log->timer)) {
        if (ev_timer_start(log->loop, &log->timer, until) != 0) return false; /* start now */
        log->held_total++;
    }
    return true;
}

/* Starts what the remaining waiters need, per policy. Failures of ev_fsync are sticky. */
static void schedule(q_log *log)
{
    if (!log->whead || log->in_callbacks || log->failed) return;
    if (log->inflight) {
        if (!may_pipeline(log)) return;
        /* Everything below the youngest chain's target is the older chains' to cover; the
         * rest is in the open segment (no roll since the youngest started). */
        /* Not sticky if it cannot start (no SQE): the waiters then wait for the oldest to end,
         * and its completion starts their chain the usual way. */
        if (start_chain(log, chain_at(log, log->nchains - 1)->last) == 0) log->pipelined_total++;
        return;
    }
    if (log->opts.policy == Q_COMMIT_INTERVAL) {
        if (!ev_timer_armed(&log->timer)) {
            uint64_t at = ev_loop_now(log->loop) + (uint64_t)log->opts.interval_ms * RT_NS_PER_MS;
            if (ev_timer_start(log->loop, &log->timer, at) != 0) log->failed = -ENOMEM;
        }
        return;
    }
    if (hold_start(log)) return;
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
    /* A kick pending starts the next fsync before the loop submits: in flight as early. */
    if (log->inflight || log->kick_pending) log->committed_overlap++;
    log->committed_fn(log, log->committed_ud, log->durable);
}

/* Counts one fsync op's latency in the histogram. */
static void fsync_timed(q_log *log, const q_commit_chain *c)
{
    static const uint64_t bounds[Q_FSYNC_BUCKETS - 1] = Q_FSYNC_BOUNDS_NS;
    uint64_t ns = rt_now_ns() - c->start_ns;
    log->fsync_buckets[rt_hist_bucket(bounds, Q_FSYNC_BUCKETS - 1, ns)]++;
    log->fsyncs++;
    log->fsync_ns_total += ns;
}

/* Retires the oldest chain, done: moves the durable end to its target, or fails the log
 * (sticky) with its error. */
static void chain_retire(q_log *log)
{
    q_commit_chain *c = &log->chains[log->chain_head];
    if (c->res < 0 && !log->failed) {
        log->failed = c->res;
        log_error("log commit failed", "dir=%s err=%d", log->dir, c->res);
    } else if (!log->failed) {
        log->last_cover = c->target - c->from;
        log->last_end_ns = ev_loop_now(log->loop);
        log->sync_from = c->last;
        q_log_set_synced(log, c->target);
        q_log_set_durable(log, c->target);
    }
    c->done = false;
    c->fd = -1;
    log->chain_head = (log->chain_head + 1) % Q_COMMIT_CHAINS_MAX;
    log->nchains--;
    log->inflight = log->nchains > 0;
}

static void on_fsync(ev_loop *loop, ev_op *op, int res, unsigned flags)
{
    q_log *log = op->ud;
    q_commit_chain *c = (q_commit_chain *)((char *)op - offsetof(q_commit_chain, op));
    fsync_timed(log, c);
    c->fd = -1;
    if (res >= 0 && !log->failed) {
        int r = chain_advance(log, c);
        if (r == 0) return; /* next step in flight */
        res = r < 0 ? r : 0;
    }
    c->done = true;
    c->res = res < 0 ? res : 0;
    /* In start order: a younger chain that ends first waits for the older one. */
    if (c != &log->chains[log->chain_head]) return;
    while (log->nchains > 0 && log->chains[log->chain_head].done) chain_retire(log);
    /* On failure every waiter is detached (and told); nothing more will be started. */
    q_commit_waiter *done = detach_done(log);
    log->in_callbacks = true;
    run_waiters(log, done);
    log->in_callbacks = false;
    if (!log->whead || log->failed || !defer_start(log)) schedule(log);
    run_committed(log);
}

static void on_timer(ev_loop *loop, ev_timer *t)
{
    q_log *log = t->ud;
    /* A background step (NEVER: one chain at a time): done ends it as the ring's would. */
    if (log->nchains > 0 && chain_at(log, 0)->bg.on) {
        q_commit_chain *c = chain_at(log, 0);
        if (!rt_bg_done(&c->bg.job)) {
            if (bg_poll_later(log) != 0) rt_bg_wait(&c->bg.job);
            else return;
        }
        c->bg.on = false;
        on_fsync(loop, &c->op, c->bg.res, 0);
        return;
    }
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

/* Queues w; an eager waiter may start a chain beside the one in flight, a joining one not. */
static int commit_wait(q_log *log, q_commit_waiter *w, q_commit_cb cb, void *ud, bool eager)
{
    if (log->failed) return log->failed;
    if (!log->loop) return -EINVAL;
    if (log->opts.policy == Q_COMMIT_NEVER) q_log_set_durable(log, log->next);
    if (log->durable >= log->next) return 1;
    w->cb = cb;
    w->ud = ud;
    w->target = log->next;
    w->next = NULL;
    if (eager) log->eager_target = w->target;
    if (log->wtail) log->wtail->next = w;
    else log->whead = w;
    log->wtail = w;
    if (!log->in_callbacks && defer_start(log)) return 0;
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

void q_log_on_kick(q_log *log, q_kick_fn fn, void *ud)
{
    log->kick_fn = fn;
    log->kick_ud = ud;
}

bool q_log_commit_in_flight(const q_log *log) { return log->inflight || log->kick_pending; }

bool q_log_commit_kick(q_log *log)
{
    if (!log->kick_pending) return false;
    log->kick_pending = false;
    schedule(log);
    if (!log->failed) return false;
    /* No chain could start (sticky): every waiter is told, from here, as on_timer does. */
    q_commit_waiter *done = detach_done(log);
    if (!done) return false;
    log->in_callbacks = true;
    run_waiters(log, done);
    log->in_callbacks = false;
    return true;
}

int q_log_commit_async(q_log *log, q_commit_waiter *w, q_commit_cb cb, void *ud)
{
    return commit_wait(log, w, cb, ud, true);
}

int q_log_commit_join(q_log *log, q_commit_waiter *w, q_commit_cb cb, void *ud)
{
    return commit_wait(log, w, cb, ud, false);
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
    w->target = log->chains[log->chain_head].target;
    w->next = NULL;
    if (log->wtail) log->wtail->next = w;
    else log->whead = w;
    log->wtail = w;
    return 0;
}
