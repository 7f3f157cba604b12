/* queue/q_part_tick: time passing — delayed tasks, lease expiry, dedup expiry — and keeping
 * disk use to live data: retention of dead segments, compaction of stragglers. */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "core/rt_log.h"
#include "queue/q_part_int.h"
#include "queue/q_stream_int.h"

static const char expired_why[] = "lease expired on the last attempt";

/* An expired lease: an attempt is used; back to READY, or dead on the last one. */
static int expire(q_part *p, uint32_t slot, uint64_t now_ms)
{
    q_task *t = q_task_at(&p->tt, slot);
    q_queue *q = q_queue_of(p, t);
    q->expired_total++;
    t->attempts++;
    if (t->attempts >= q_task_max_attempts(p, t))
        return q_task_kill(p, slot, Q_CAUSE_EXPIRED, now_ms, expired_why,
                           (uint32_t)sizeof expired_why - 1);
    q_prec r = {.type = Q_RT_RETRY,
                .id = t->id,
                .t_ms = now_ms,
                .attempts = t->attempts,
                .cause = Q_CAUSE_EXPIRED};
    int64_t off = q_part_append(p, &r);
    q_task_move(p, slot, Q_TASK_READY, 0);
    return off < 0 ? (int)off : 0;
}

q_status q_part_tick(q_part *p, uint64_t now_ms, uint64_t *next_ms)
{
    int first = 0;
    q_dedup_expire(&p->dd, now_ms, q_dedup_unpin, p);
    uint32_t moves = 0;
    uint32_t slot;
    while ((slot = q_heap_top(&p->tt)) != Q_NIL && moves < Q_TICK_MOVES_MAX) {
        q_task *t = q_task_at(&p->tt, slot);
        if (t->due > now_ms) break;
        moves++;
        if (t->state == Q_TASK_DELAYED) {
            q_task_move(p, slot, Q_TASK_READY, 0);
            continue;
        }
        int rc = expire(p, slot, now_ms);
        if (rc && !first) first = rc;
    }
    bool streams_more = false;
    int src = q_streams_tick(p, now_ms, Q_STREAM_TICK_REMOVES_MAX, &streams_more);
    if (src && !first) first = src;
    q_status st = Q_OK;
    q_err err;
    if (first) {
        st = q_fail_log(&err, first, "lease expiry");
        log_error("tick: record not written", "partition=%u err=%d", p->no, first);
    }
    /* A compaction in progress goes on every tick (Q_COMPACT_SCAN_RECS_MAX records each). */
    if (p->compact_to || now_ms >= p->next_retain_ms) {
        q_status rs = q_part_retain(p, now_ms);
        if (rs && !st) st = rs;
        if (!p->compact_to) p->next_retain_ms = now_ms + p->opts.retain_every_ms;
    }
    *next_ms = moves == Q_TICK_MOVES_MAX || streams_more || p->compact_to ? now_ms
                                                                          : q_part_next_ms(p);
    return st;
}

uint64_t q_part_next_ms(const q_part *p)
{
    uint64_t next = UINT64_MAX;
    uint32_t slot = q_heap_top(&p->tt);
    if (slot != Q_NIL) next = q_task_at(&p->tt, slot)->due;
    uint64_t sn = q_streams_next_ms(p);
    if (sn < next) next = sn;
    if (q_log_oldest_segment_end(p->log) < q_log_next(p->log) && p->next_retain_ms < next)
        next = p->next_retain_ms;
    return next;
}

uint32_t q_part_drain_ready(q_part *p, q_ready_fn fn, void *ud)
{
    /* Take the whole list: a queue fn wakes again is linked into a new list (drained next
     * time) once it is behind us; one still ahead of us stays pending and is served here. */
    q_queue *q = p->wake_head;
    p->wake_head = p->wake_tail = NULL;
    /* opts.ready_when_durable: fn runs for a queue with a task it can lease now; a queue whose
     * newer ready tasks are not durable yet stays pending (ahead of new wakes) for the commit
     * that covers them — even under steady load, where more arrive during every fsync. */
    q_queue *held = NULL, *held_last = NULL;
    bool gate = p->opts.ready_when_durable;
    uint32_t k = 0;
    while (q) {
        q_queue *next = q->wake_next;
        q->wake_next = NULL;
        q->wake_pending = false;
        if (!q->paused && q->n[Q_TASK_READY] > 0 && q_queue_leasable(p, q)) {
            fn(ud, p, q->name, q->name_len, q->n[Q_TASK_READY]);
            k++;
        }
        /* fn may have re-woken it (then it is in the new list already). */
        if (gate && !q->wake_pending && !q->paused && q->n[Q_TASK_READY] > 0 &&
            q->wake_durable > q_log_durable(p->log)) {
            q->wake_pending = true;
            if (held_last) held_last->wake_next = q;
            else held = q;
            held_last = q;
        }
        q = next;
    }
    if (held) {
        held_last->wake_next = p->wake_head;
        if (!p->wake_head) p->wake_tail = held_last;
        p->wake_head = held;
    }
    return k;
}

/* ---- compaction ---- */

/* Moves the pin of a record from `from` to `to`. */
static void repin(q_part *p, uint64_t *where, uint64_t to)
{
    if (*where != Q_OFF_NONE) q_pins_del(&p->pins, *where);
    *where = to;
    if (to != Q_OFF_NONE) q_pins_add(&p->pins, to);
}

/* The reason kept with a dead task (a view into the log), "" if none is readable. */
static void dead_reason(const q_part *p, const q_task *t, const char **r, uint32_t *len)
{
    *r = "";
    *len = 0;
    q_rec rec;
    q_prec pr;
    if (t->due == Q_OFF_NONE || q_log_read(p->log, t->due, &rec) != 0) return;
    if (q_prec_decode(rec.type, rec.payload, rec.len, &pr) != 0) return;
    if (pr.type != Q_RT_DEAD && pr.type != Q_RT_STATE) return;
    *r = pr.reason;
    *len = pr.reason_len;
}

/* Re-appends a live task's ENQUEUE and a STATE record with its state now. */
static int compact_task(q_part *p, uint32_t slot, q_dedup_ent *key)
{
    q_task *t = q_task_at(&p->tt, slot);
    q_part_keep_room(p, 0);
    int64_t off = q_log_compact(p->log, t->rec);
    if (off < 0) return (int)off;
    uint64_t old = t->rec;
    repin(p, &t->rec, (uint64_t)off);
    if (key && key->rec == old) repin(p, &key->rec, (uint64_t)off);
    q_prec r = {.type = Q_RT_STATE, .id = t->id, .attempts = t->attempts};
    switch ((q_task_state)t->state) {
    case Q_TASK_DELAYED:
        r.state = Q_TASK_DELAYED;
        r.t_ms = t->due;
        break;
    case Q_TASK_DEAD:
        r.state = Q_TASK_DEAD;
        dead_reason(p, t, &r.reason, &r.reason_len);
        break;
    default: /* READY, and LEASED: leases do not survive a restart */ r.state = Q_TASK_READY; break;
    }
    int64_t so = q_part_append(p, &r);
    if (so < 0) return (int)so;
    if (t->state == Q_TASK_DEAD) t->due = (uint64_t)so;
    return 0;
}

/* Keeps one record of [from, to) alive by re-writing it at the head if it is still needed. */
static int compact_rec(q_part *p, const q_rec *rec, uint64_t now_ms, uint64_t *moved)
{
    if (rec->type >= Q_RT_STREAM_FIRST && rec->type <= Q_RT_STREAM_LAST)
        return q_stream_compact_rec(p, rec, now_ms, moved);
    if (rec->type >= Q_RT_CONSUMER_FIRST && rec->type <= Q_RT_CONSUMER_LAST)
        return q_stream_hooks_tab->on_compact
                   ? q_stream_hooks_tab->on_compact(p, rec, now_ms, moved)
                   : 0;
    if (rec->type == Q_RT_ENQUEUE) {
        q_enq_rec er;
        if (q_enq_decode(rec->payload, rec->len, &er) != 0) return 0;
        uint32_t slot = q_task_find(&p->tt, rec->id);
        bool live = slot != Q_NIL && q_task_at(&p->tt, slot)->rec == rec->offset;
        q_dedup_ent *key = NULL;
        q_queue *q = q_queue_find(p, er.queue, er.queue_len);
        if (er.key_len && q) {
            key = q_dedup_find_any(&p->dd, q_key_hash(er.key, er.key_len), q->idx);
            if (key && key->rec != rec->offset) key = NULL;
            if (key && key->expiry_ms <= now_ms) {
                repin(p, &key->rec, Q_OFF_NONE); /* leaves the ring later, needs no record */
                key = NULL;
            }
        }
        if (live) {
            (*moved)++;
            return compact_task(p, slot, key);
        }
        if (!key) return 0;
        q_prec r = {.type = Q_RT_DEDUP,
                    .key_hash = key->hash,
                    .id = key->id,
                    .t_ms = key->expiry_ms,
                    .name = q->name,
                    .name_len = q->name_len};
        int64_t off = q_part_append(p, &r);
        if (off < 0) return (int)off;
        repin(p, &key->rec, (uint64_t)off);
        (*moved)++;
        return 0;
    }
    q_prec pr;
    if (q_prec_decode(rec->type, rec->payload, rec->len, &pr) != 0) return 0;
    q_queue *q = (pr.type == Q_RT_DEDUP || pr.type == Q_RT_QUEUE)
                     ? q_queue_find(p, pr.name, pr.name_len)
                     : NULL;
    if (!q) return 0;
    if (pr.type == Q_RT_DEDUP) {
        q_dedup_ent *key = q_dedup_find_any(&p->dd, pr.key_hash, q->idx);
        if (!key || key->rec != rec->offset) return 0;
        if (key->expiry_ms <= now_ms) {
            repin(p, &key->rec, Q_OFF_NONE);
            return 0;
        }
        pr.t_ms = key->expiry_ms;
        int64_t off = q_part_append(p, &pr);
        if (off < 0) return (int)off;
        repin(p, &key->rec, (uint64_t)off);
        (*moved)++;
        return 0;
    }
    if (q->cfg_rec != rec->offset) return 0;
    q_prec r = {.type = Q_RT_QUEUE,
                .name = q->name,
                .name_len = q->name_len,
                .paused = q->paused,
                .cfg = q->cfg};
    int64_t off = q_part_append(p, &r);
    if (off < 0) return (int)off;
    repin(p, &q->cfg_rec, (uint64_t)off);
    (*moved)++;
    return 0;
}

/* One tick's part of the compaction of [compact_from, compact_to): at most
 * Q_COMPACT_SCAN_RECS_MAX records read (each live one copied to the head), the rest next tick.
 * Between ticks the records it reads stay where they are (nothing is deleted while compact_to
 * is set) and whatever changed meanwhile is judged when read: a task acked since is not
 * copied, a record copied already is no longer the live one. Sets *done when the range is
 * through (or failed: compact_to is then 0). Returns 0 or a negative errno. */
static int compact_step(q_part *p, uint64_t now_ms, bool *done)
{
    uint64_t from = p->compact_from, to = p->compact_to;
    /* Each record may become two (ENQUEUE + STATE): room for their pins first. */
    uint64_t next = q_log_next(p->log);
    int rc = q_pins_reserve(&p->pins, next, next + 2 * (to - p->compact_at) + 2) ? -ENOMEM : 0;
    /* STREAM records first: a message's or consumer's copy needs its stream at replay. */
    if (rc == 0 && p->compact_at == from)
        rc = q_streams_compact_begin(p, from, to, &p->compact_moved);
    q_iter it;
    q_iter_init(&it, p->log, p->compact_at, false);
    uint32_t read = 0;
    while (rc == 0 && it.next < to && read < Q_COMPACT_SCAN_RECS_MAX) {
        q_rec rec;
        rc = q_iter_next(&it, &rec);
        if (rc <= 0) break;
        read++;
        rc = compact_rec(p, &rec, now_ms, &p->compact_moved);
    }
    p->compact_at = it.next;
    *done = rc != 0 || it.next >= to;
    if (!*done) return 0;
    if (rc == 0) rc = q_ledger_flush(p, to, &p->compact_moved); /* LEDGER records in [from, to) */
    p->compactions++;
    p->records_compacted += p->compact_moved;
    log_info("compacted oldest segment",
             "partition=%u from=%" PRIu64 " to=%" PRIu64 " moved=%" PRIu64 " rc=%d", p->no, from,
             to, p->compact_moved, rc);
    p->compact_to = 0;
    return rc < 0 ? rc : 0;
}

/* Deletes the segments wholly below `low` (q_log_retain), after writing the LEDGER records
 * that must precede any deletion (q_ledger_flush; if that fails nothing is deleted) — and only
 * once they, and whatever compaction copied out of those segments, are durable: a crash between
 * the deletion and the commit covering them would otherwise lose the copies and make the next
 * start count from records that are gone (a false ledger mismatch). When this pass appended
 * records no commit has covered yet, the deletion waits (retain_wait / retain_low) for a later
 * pass, after the commit that follows every tick (srv_part.c). Returns what q_log_retain returns
 * (the segments deleted, 0 while the ring deletes them) or a negative errno. */
static int retain_below(q_part *p, uint64_t low)
{
    if (q_log_oldest_segment_end(p->log) > low) return 0; /* nothing would go */
    int rc = q_ledger_flush(p, 0, NULL);
    if (rc) return rc;
    uint64_t end = q_log_next(p->log);
    if (q_log_durable(p->log) < end) {
        p->retain_low = low; /* pins only move up: what is below `low` now stays unpinned */
        p->retain_wait = end;
        return 0;
    }
    p->retain_wait = 0;
    return q_log_retain(p->log, low);
}

/* The deletion an earlier pass left waiting, if the commit it waited for came: 0 when none is
 * due, else what q_log_retain returns. */
static int retain_waiting(q_part *p)
{
    if (!p->retain_wait || q_log_durable(p->log) < p->retain_wait) return 0;
    p->retain_wait = 0;
    return q_log_retain(p->log, p->retain_low);
}

/* After the compaction of [.., end) ended with `rc`: deletes what it left unpinned. */
static int retain_compacted(q_part *p, uint64_t end, int rc)
{
    /* After a complete pass nothing live is left below `end`, even if the first pinned bucket
     * straddles it (pins count per bucket, not per record). */
    uint64_t low = q_pins_low(&p->pins, q_log_next(p->log));
    if (rc == 0 && low < end) low = end;
    return retain_below(p, low);
}

q_status q_part_retain(q_part *p, uint64_t now_ms)
{
    q_err err;
    q_status st = Q_OK;
    if (p->compact_to) {
        /* A compaction in progress: its next step; no deletion until it is through. */
        uint64_t end = p->compact_to;
        bool done;
        int rc = compact_step(p, now_ms, &done);
        if (rc) st = q_fail_log(&err, rc, "compaction");
        int n = done ? retain_compacted(p, end, rc) : 0;
        if (n < 0 && !st) st = q_fail_log(&err, n, "retention");
        if (done) q_pins_trim(&p->pins);
        return st;
    }
    /* A pass either finishes the deletion an earlier one left waiting (or keeps waiting for its
     * commit), or starts a new one. */
    if (p->retain_wait) {
        int w = retain_waiting(p);
        return w < 0 ? q_fail_log(&err, w, "retention") : Q_OK;
    }
    uint64_t next = q_log_next(p->log);
    int n = retain_below(p, q_pins_low(&p->pins, next));
    uint64_t oldest = q_log_oldest(p->log), end = q_log_oldest_segment_end(p->log);
    if (end < next && q_pins_low(&p->pins, next) < end) {
        uint64_t live = q_pins_below(&p->pins, end);
        if (live * 100 <= (end - oldest) * p->opts.compact_live_pct) {
            p->compact_from = p->compact_at = oldest;
            p->compact_to = end;
            p->compact_moved = 0;
            bool done;
            int rc = compact_step(p, now_ms, &done);
            if (rc) st = q_fail_log(&err, rc, "compaction");
            if (done) n = retain_compacted(p, end, rc);
        }
    }
    if (n < 0 && !st) st = q_fail_log(&err, n, "retention");
    q_pins_trim(&p->pins);
    return st;
}
