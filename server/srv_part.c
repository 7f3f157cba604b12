/* server/srv_part: a partition on its owner shard — housekeeping (the tick timer, its
 * commits, the --fsync never sync) and serving what became ready or durable to parked Lease
 * calls and Work subscriptions. See srv_part.h. */
#include <stdatomic.h>
#include <stdint.h>

#include "core/rt_clock.h"
#include "server/srv_queue_int.h"
#include "server/srv_stream_int.h"

static void on_tick_commit(q_log *log, void *ud, int status, uint64_t durable)
{
    srv_part *sp = ud;
    sp->tick_commit_busy = false;
    /* Appends made while it ran (an Enqueue answered before its commit) are covered by the
     * next one: from a waiter's callback it starts once this commit's callbacks end. */
    if (status == 0) srv_part_commit_soon(sp);
}

void srv_part_commit_soon(srv_part *sp)
{
    q_log *log = q_part_log(sp->p);
    if (sp->tick_commit_busy || q_log_durable(log) >= q_log_next(log)) return;
    int r = q_log_commit_async(log, &sp->tick_cw, on_tick_commit, sp);
    sp->tick_commit_busy = r == 0;
}

static void on_sync_done(q_log *log, void *ud, int status, uint64_t durable)
{
    srv_part *sp = ud;
    sp->sync_busy = false;
}

void srv_part_sync_now(srv_part *sp)
{
    q_log *log = q_part_log(sp->p);
    if (sp->sync_busy || q_log_durable(log) >= q_log_next(log)) return;
    sp->sync_busy = q_log_sync_async(log, &sp->sync_cw, on_sync_done, sp) == 0;
}

/* Every completed commit, after all its waiters' callbacks (the producers' replies are queued
 * first) and with the next fsync already started: serve what the commit made visible (tasks
 * held by ready_when_durable), so the leasing overlaps that fsync. */
static void on_committed(q_log *log, void *ud, uint64_t durable) { srv_part_serve_durable(ud); }

/* A commit wanted during a turn waits at most this many more turns for completions that were
 * already posted when the turn ended: a loop that always finds some still commits promptly. */
#define SRV_KICK_WAIT_TURNS_MAX 2u

/* The log wants its commit started at the end of this turn (q_log_on_kick): list the partition
 * for the shard's hook. Called once until its kick. */
static void on_kick_wanted(q_log *log, void *ud)
{
    srv_part *sp = ud;
    srv_qshard *qs = &srv_q.shards[sp->shard];
    if (sp->kick_listed) return;
    sp->kick_listed = true;
    sp->kick_next = qs->kicks;
    qs->kicks = sp;
}

/* Every loop iteration, before the loop submits (and so before the SQEs prepared during the turn
 * reach the kernel): starts the commits the turn's requests asked for, one per log. */
static bool on_turn_end(ev_loop *loop, void *ud, ev_hook_phase phase)
{
    srv_qshard *qs = ud;
    if (phase == EV_HOOK_AFTER_WAKE || !qs->kicks) return true;
    /* Completions already waiting (the rest of a burst already on the sockets): run them first,
     * so their requests join this fdatasync instead of starting one of their own beside it.
     * Never for the sleep (nothing is waiting then), and at most a few turns. */
    if (phase == EV_HOOK_ITERATION && qs->kick_waits < SRV_KICK_WAIT_TURNS_MAX &&
        ev_loop_has_events(loop)) {
        qs->kick_waits++;
        return true;
    }
    qs->kick_waits = 0;
    bool answered = false; /* a failed log answered its waiters: their replies are queued */
    while (qs->kicks) {
        srv_part *sp = qs->kicks;
        qs->kicks = sp->kick_next;
        sp->kick_next = NULL;
        sp->kick_listed = false;
        /* may list a partition again: the loop takes it */
        answered |= q_log_commit_kick(q_part_log(sp->p));
    }
    return !answered; /* before a sleep: one more turn first, so those replies are sent */
}

int srv_part_kick_init(srv_qshard *qs)
{
    qs->kicks = NULL;
    return ev_loop_add_hook(qs->loop, on_turn_end, qs);
}

void srv_part_kick_forget(srv_part *sp)
{
    srv_qshard *qs = &srv_q.shards[sp->shard];
    for (srv_part **pp = &qs->kicks; *pp; pp = &(*pp)->kick_next) {
        if (*pp != sp) continue;
        *pp = sp->kick_next;
        break;
    }
    sp->kick_next = NULL;
    sp->kick_listed = false;
}

/* A Work delivery that found no memory (SRV_SERVE_RETRY_MS): serve the partition's streams
 * again, since nothing else would. */
static void serve_retry(srv_part *sp)
{
    if (!sp->serve_retry) return;
    sp->serve_retry = false;
    for (srv_waitq *wq = sp->waits, *next; wq; wq = next) {
        next = wq->next;
        if (wq->subs) srv_sub_serve(sp, wq);
    }
}

static void on_tick(ev_loop *loop, ev_timer *t)
{
    srv_part *sp = t->ud;
    uint64_t next = UINT64_MAX;
    q_part_tick(sp->p, srv_q_now_ms(), &next);
    /* Records written by the tick (expiries, deaths) are nobody's ack: commit them without a
     * waiter so a crash loses at most what a crash loses anyway. */
    srv_part_commit_soon(sp);
    /* With --fsync never no commit ever runs, and rolled segments are only published (and so
     * can only be retained or deleted) by a commit: once the log has rolled, commit it at most
     * once a second so disk use keeps following live tasks. Through the loop: a synchronous
     * fdatasync of a second's appends stalled the shard for tens of milliseconds. */
    uint64_t now_ms = srv_q_now_ms();
    if (srv_q.log.policy == Q_COMMIT_NEVER && !sp->sync_busy &&
        now_ms - sp->last_sync_ms >= Q_RETAIN_EVERY_MS_DEFAULT) {
        q_log_stats ls;
        q_log_get_stats(q_part_log(sp->p), &ls);
        if (ls.segments > 1)
            sp->sync_busy = q_log_sync_async(q_part_log(sp->p), &sp->sync_cw, on_sync_done, sp) ==
                            0;
        sp->last_sync_ms = now_ms;
    }
    srv_part_serve_ready(sp);
    serve_retry(sp);
    /* Serving parked leases and Work streams may have set lease deadlines before `next`. */
    uint64_t soon = q_part_next_ms(sp->p);
    srv_part_schedule(sp, soon < next ? soon : next);
}

void srv_part_attach(srv_part *sp, ev_loop *loop)
{
    q_log_attach(q_part_log(sp->p), loop);
    q_log_on_committed(q_part_log(sp->p), on_committed, sp);
    q_log_on_kick(q_part_log(sp->p), on_kick_wanted, sp);
    ev_timer_init(&sp->tick, on_tick, sp);
}

void srv_part_schedule(srv_part *sp, uint64_t next_ms)
{
    srv_qshard *qs = &srv_q.shards[sp->shard];
    if (sp->closing) return; /* its timer must stay stopped until it is freed */
    if (next_ms == UINT64_MAX) {
        /* Still tick now and then: retention and compaction run from the tick. */
        next_ms = srv_q_now_ms() + Q_RETAIN_EVERY_MS_DEFAULT;
    }
    if (ev_timer_armed(&sp->tick) && sp->tick_at_ms <= next_ms) return;
    uint64_t now_ms = srv_q_now_ms();
    uint64_t delta_ms = next_ms > now_ms ? next_ms - now_ms : 0;
    sp->tick_at_ms = next_ms;
    ev_timer_start(qs->loop, &sp->tick, ev_loop_now(qs->loop) + delta_ms * RT_NS_PER_MS);
}

static void on_ready(void *ud, q_part *p, const char *name, uint32_t name_len, uint64_t ready)
{
    srv_part *sp = ud;
    srv_waitq *wq = srv_part_waitq(sp, name, name_len, false);
    if (!wq) return;
    srv_qshard *qs = &srv_q.shards[sp->shard];
    /* Parked Lease calls first (FIFO): each retries its lease; one that still gets nothing
     * (another took the tasks) stays parked. Cancelled ones are answered and dropped. */
    srv_job *j = wq->head;
    wq->head = wq->tail = NULL; /* detach: jobs that re-park join a fresh list */
    while (j) {
        srv_job *next = j->wait_next;
        j->wait_next = j->wait_prev = NULL;
        j->waitq = NULL;
        ev_timer_stop(qs->loop, &j->timer);
        if (atomic_load_explicit(&j->cancelled, memory_order_relaxed)) srv_job_reply(j);
        else j->run(j, sp); /* re-parks itself if it got nothing */
        j = next;
    }
    if (wq->subs) srv_sub_serve(sp, wq);
    srv_part_waitq_gc(sp, wq);
}

void srv_part_serve_ready(srv_part *sp) { q_part_drain_ready(sp->p, on_ready, sp); }

void srv_part_serve_durable(srv_part *sp)
{
    uint64_t durable = q_log_durable(q_part_log(sp->p));
    if (durable == sp->served_durable) return; /* nothing new became visible */
    sp->served_durable = durable;
    srv_part_serve_ready(sp);
    srv_stream_serve_part(sp); /* live Reads and consumers: what the commit made durable */
}
