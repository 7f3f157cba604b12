/* queue/q_part_ledger: the conservation ledger (q_part.h) — the counters, their pin, the LEDGER
 * record that carries them across compaction, and the audit.
 *
 * Where the counters come from: every record that moves a task in or out of play counts once,
 * in the same helper whether it is being written now or replayed after a restart (ENQUEUE,
 * ACK, DEAD, DELETE, REDRIVE, PURGE; compacted ENQUEUE copies and STATE records never count).
 * A LEDGER record sets the counters to what it holds: the value they had when it was written,
 * so the records after it count on top and the ones before it (some may be gone) do not
 * matter. The queue's led_rec pins the oldest record the counters still need; compaction moves
 * it to a fresh LEDGER record at the head, so retention never deletes a record that counted
 * and is not covered by a LEDGER record after it.
 *
 * A compacted task copy needs a LEDGER record after it too: records that counted for the task
 * between its original ENQUEUE and the copy (DEAD, REDRIVE) are replayed before the copy once
 * the original is gone, when there is no task to count them for; they may also be newer than
 * the queue's last LEDGER record. A LEDGER record after the copy makes them not matter. */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "core/rt_log.h"
#include "queue/q_part_int.h"

void q_ledger_touch(q_part *p, q_queue *q, uint64_t off)
{
    if (q->led_rec != Q_OFF_NONE) return;
    /* Room for a pin at a record just written (or replayed) is there in practice (its task or
     * the enqueue before it reserved the bucket); should it not be, the ledger is still counted
     * but could be cut by retention: say so rather than fail the operation. */
    if (q_pins_reserve(&p->pins, off, off) != 0) {
        log_error("ledger: no memory to pin its record", "partition=%u queue=%s offset=%" PRIu64,
                  p->no, q->name, off);
        return;
    }
    q->led_rec = off;
    q_pins_add(&p->pins, off);
}

void q_ledger_removed(q_part *p, q_queue *q, q_task_state from, bool purge, uint64_t off)
{
    if (from == Q_TASK_DEAD) q->led.dead_dropped++;
    else if (purge) q->led.purged++;
    else q->led.deleted++;
    q_ledger_touch(p, q, off);
}

void q_ledger_died(q_part *p, q_queue *q, bool kept, uint64_t off)
{
    q->led.dead++;
    if (!kept) q->led.dead_dropped++;
    q_ledger_touch(p, q, off);
}

int q_ledger_apply(q_part *p, q_queue *q, const q_ledger *led, uint64_t off)
{
    if (q_pins_reserve(&p->pins, off, off)) return -ENOMEM;
    if (q->led_rec != Q_OFF_NONE) q_pins_del(&p->pins, q->led_rec);
    q->led = *led;
    q->led_rec = off;
    q_pins_add(&p->pins, off);
    return 0;
}

void q_ledger_drop(q_part *p, q_queue *q)
{
    if (q->led_rec != Q_OFF_NONE) q_pins_del(&p->pins, q->led_rec);
    q->led_rec = Q_OFF_NONE;
    memset(&q->led, 0, sizeof q->led);
}

int q_ledger_compact(q_part *p, uint64_t below, uint64_t *moved)
{
    uint64_t next = q_log_next(p->log);
    if (q_pins_reserve(&p->pins, next, next + p->nqueues)) return -ENOMEM;
    for (uint32_t i = 0; i < p->nqueues; i++) {
        q_queue *q = p->queues[i];
        if (q->deleted) q->led_copied = false; /* its copies went with it */
        if (q->deleted || ((q->led_rec == Q_OFF_NONE || q->led_rec >= below) && !q->led_copied))
            continue;
        q_prec r = {.type = Q_RT_LEDGER, .name = q->name, .name_len = q->name_len,
                    .led = q->led};
        int64_t off = q_part_append(p, &r);
        if (off < 0) return (int)off; /* the old record stays pinned: nothing is lost */
        if (q->led_rec != Q_OFF_NONE) q_pins_del(&p->pins, q->led_rec);
        q->led_rec = (uint64_t)off;
        q_pins_add(&p->pins, (uint64_t)off);
        q->led_copied = false;
        (*moved)++;
    }
    p->ledger_hold = UINT64_MAX;
    return 0;
}


/* Fills the audit of q and says (logs, counts) when it does not balance. */
static void audit_queue(q_part *p, const q_queue *q, q_audit *a)
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
    a->tasks_balanced = l->enqueued + l->redriven ==
                        l->acked + l->dead + l->deleted + l->purged + a->ready + a->delayed +
                            a->leased;
    a->dead_balanced = l->dead == l->redriven + l->dead_dropped + a->dead_held;
    a->balanced = a->tasks_balanced && a->dead_balanced;
    if (a->balanced) return;
    p->ledger_mismatches++;
    log_error("ledger does not balance",
              "partition=%u queue=%s enqueued=%" PRIu64 " redriven=%" PRIu64 " acked=%" PRIu64
              " dead=%" PRIu64 " deleted=%" PRIu64 " purged=%" PRIu64 " ready=%" PRIu64
              " delayed=%" PRIu64 " leased=%" PRIu64 " dead_dropped=%" PRIu64
              " dead_held=%" PRIu64 " tasks=%s dead_letters=%s",
              p->no, q->name, l->enqueued, l->redriven, l->acked, l->dead, l->deleted,
              l->purged, a->ready, a->delayed, a->leased, l->dead_dropped, a->dead_held,
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
        if (!a.balanced) bad++;
        if (fn) fn(ud, &a);
    }
    return bad;
}

void q_ledger_check_open(q_part *p)
{
    (void)q_part_audit_all(p, NULL, NULL); /* one line per queue that does not balance */
}
