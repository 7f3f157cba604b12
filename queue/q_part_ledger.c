/* queue/q_part_ledger: the conservation ledger (q_part.h) — the counters, the LEDGER record
 * that carries them across compaction and retention, and the audit.
 *
 * Where the counters come from: every record that moves a task in or out of play counts once,
 * in the same helper whether it is being written now or replayed after a restart (ENQUEUE,
 * ACK, DEAD, DELETE, REDRIVE, PURGE; compacted ENQUEUE copies and STATE records never count).
 * A LEDGER record sets the counters to what it holds — the values they had when it was
 * written — so the records before it do not matter at replay and the ones after it count on
 * top.
 *
 * Why replay comes out the same after retention: a record after the queue's last LEDGER record
 * counts at replay only if the task it names is there then (ACK and DEAD records name ids, not
 * queues). A task's ENQUEUE is kept while it lives (pinned, or copied by compaction), but once
 * it has ended its ENQUEUE may go with its segment. So before retention deletes anything,
 * every queue that counted since its last LEDGER record ("dirty") gets a new one
 * (q_ledger_flush): all records before it no longer matter, and a record after it names a
 * task that was alive when it was written, whose ENQUEUE (or copy) is still there. Each queue's
 * latest LEDGER record is pinned; compaction re-writes it when it lies in the segment being
 * compacted. */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "core/rt_log.h"
#include "queue/q_part_int.h"

void q_ledger_removed(q_queue *q, q_task_state from, bool purge)
{
    if (from == Q_TASK_DEAD) q->led.dead_dropped++;
    else if (purge) q->led.purged++;
    else q->led.deleted++;
    q_ledger_touch(q);
}

void q_ledger_died(q_queue *q, bool kept)
{
    q->led.dead++;
    if (!kept) q->led.dead_dropped++;
    q_ledger_touch(q);
}

int q_ledger_apply(q_part *p, q_queue *q, const q_ledger *led, uint64_t since, uint64_t off)
{
    if (q_pins_reserve(&p->pins, off, off)) return -ENOMEM;
    if (q->led_rec != Q_OFF_NONE) q_pins_del(&p->pins, q->led_rec);
    q->led = *led;
    q->led_since = since;
    q->led_rec = off;
    q->led_dirty = false;
    q_pins_add(&p->pins, off);
    return 0;
}

void q_ledger_drop(q_part *p, q_queue *q)
{
    if (q->led_rec != Q_OFF_NONE) q_pins_del(&p->pins, q->led_rec);
    q->led_rec = Q_OFF_NONE;
    q->led_since = Q_OFF_NONE;
    q->led_dirty = false;
    memset(&q->led, 0, sizeof q->led);
}

int q_ledger_flush(q_part *p, uint64_t below, uint64_t *moved)
{
    uint64_t next = q_log_next(p->log);
    if (q_pins_reserve(&p->pins, next, next + p->nqueues)) return -ENOMEM;
    for (uint32_t i = 0; i < p->nqueues; i++) {
        q_queue *q = p->queues[i];
        bool old = q->led_rec != Q_OFF_NONE && q->led_rec < below;
        if (q->deleted || !(q->led_dirty || old)) continue;
        q_prec r = {.type = Q_RT_LEDGER,
                    .name = q->name,
                    .name_len = q->name_len,
                    .led = q->led,
                    .led_since1 = q->led_since == Q_OFF_NONE ? 0 : q->led_since + 1};
        int64_t off = q_part_append(p, &r);
        if (off < 0) return (int)off; /* this queue stays dirty: nothing is deleted */
        if (q->led_rec != Q_OFF_NONE) q_pins_del(&p->pins, q->led_rec);
        q->led_rec = (uint64_t)off;
        q->led_dirty = false;
        q_pins_add(&p->pins, (uint64_t)off);
        if (moved) (*moved)++;
    }
    return 0;
}

/* Fills the audit of q. */
static void audit_fill(const q_queue *q, q_audit *a)
{
    memset(a, 0, sizeof *a);
    a->name = q->name;
    a->name_len = q->name_len;
    a->led = q->led;
    a->ready = q->n[Q_TASK_READY];
    a->delayed = q->n[Q_TASK_DELAYED];
    a->leased = q->n[Q_TASK_LEASED];
    a->dead_held = q->n[Q_TASK_DEAD];
    const q_ledger *l = &q->led;
    /* Sums of counts bounded by the number of records ever written: no overflow in u64. */
    a->tasks_balanced = l->enqueued + l->redriven == l->acked + l->dead + l->deleted + l->purged +
                                                         a->ready + a->delayed + a->leased;
    a->dead_balanced = l->dead == l->redriven + l->dead_dropped + a->dead_held;
    a->balanced = a->tasks_balanced && a->dead_balanced;
    a->incomplete_since = q->led_since;
}

/* Fills the audit of q and says (logs, counts) when it does not balance. */
static void audit_queue(q_part *p, const q_queue *q, q_audit *a)
{
    audit_fill(q, a);
    if (a->balanced || q->led_since != Q_OFF_NONE) return; /* no finding without the history */
    const q_ledger *l = &q->led;
    p->ledger_mismatches++;
    log_error("ledger does not balance",
              "partition=%u queue=%s enqueued=%" PRIu64 " redriven=%" PRIu64 " acked=%" PRIu64
              " dead=%" PRIu64 " deleted=%" PRIu64 " purged=%" PRIu64 " ready=%" PRIu64
              " delayed=%" PRIu64 " leased=%" PRIu64 " dead_dropped=%" PRIu64 " dead_held=%" PRIu64
              " tasks=%s dead_letters=%s",
              p->no, q->name, l->enqueued, l->redriven, l->acked, l->dead, l->deleted, l->purged,
              a->ready, a->delayed, a->leased, l->dead_dropped, a->dead_held,
              a->tasks_balanced ? "balanced" : "UNBALANCED",
              a->dead_balanced ? "balanced" : "UNBALANCED");
}

q_status q_part_audit(q_part *p, const char *name, size_t name_len, q_audit *out, q_err *err)
{
    q_status st = q_queue_name_check(name, name_len, err);
    if (st) return st;
    const q_queue *q = q_queue_find(p, name, name_len);
    if (!q) return q_fail(err, Q_NOT_FOUND, "queue '%.*s' not found", (int)name_len, name);
    audit_queue(p, q, out);
    return q_ok(err);
}

uint64_t q_part_audit_all(q_part *p, q_audit_fn fn, void *ud)
{
    uint64_t bad = 0;
    for (uint32_t i = 0; i < p->nqueues; i++) {
        const q_queue *q = p->queues[i];
        if (q->deleted) continue;
        q_audit a;
        audit_queue(p, q, &a);
        if (!a.balanced && a.incomplete_since == Q_OFF_NONE) bad++;
        if (fn) fn(ud, &a);
    }
    return bad;
}

/* A log written by a build before LEDGER records (partition records version 2) has none; if
 * retention deleted its first segments, the counters of the queues that lived then miss what
 * those segments held, and such a queue would "not balance" at every start. Written by this
 * build, a log whose oldest segment is gone always holds a LEDGER record for every queue that
 * counted anything in it (q_ledger_flush runs before any deletion). So: no LEDGER record at all,
 * history gone, and the queue does not balance — its history is incomplete since the oldest
 * offset. Marked dirty, the mark reaches the queue's next LEDGER record (written before the
 * next deletion) and survives from then on. A queue that balances stays complete. */
static void mark_incomplete(q_part *p)
{
    uint64_t oldest = q_log_oldest(p->log);
    if (p->ledger_seen || oldest == 0) return;
    for (uint32_t i = 0; i < p->nqueues; i++) {
        q_queue *q = p->queues[i];
        if (q->deleted || q->led_since != Q_OFF_NONE) continue;
        q_audit a;
        audit_fill(q, &a);
        if (a.balanced) continue;
        q->led_since = oldest;
        q_ledger_touch(q);
        log_warn("ledger history incomplete",
                 "partition=%u queue=%s since=%" PRIu64
                 " (a log from before LEDGER records whose first segments were deleted)",
                 p->no, q->name, oldest);
    }
}

void q_ledger_check_open(q_part *p)
{
    mark_incomplete(p);
    (void)q_part_audit_all(p, NULL, NULL); /* one line per queue that does not balance */
}
