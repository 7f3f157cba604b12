/* queue/q_part_open: open, replay, close. Replay applies every record in log order to an empty
 * state; what no later record changed is the state after a restart (q_part.h). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rt_alloc.h"
#include "core/rt_clock.h"
#include "core/rt_log.h"
#include "queue/q_part_int.h"
#include "queue/q_stream_int.h"
#include "queue/q_sys.h"

static bool cfg_valid(const q_queue_cfg *c)
{
    return c->max_attempts >= 1 && c->max_attempts <= Q_ATTEMPTS_MAX &&
           c->lease_ms >= Q_LEASE_MS_MIN && c->lease_ms <= Q_LEASE_MS_MAX &&
           c->backoff_base_ms >= 1 && c->backoff_base_ms <= c->backoff_max_ms &&
           c->backoff_max_ms <= Q_DELAY_MS_MAX && c->dedup_window_ms <= Q_DEDUP_WINDOW_MS_MAX;
}

/* Pins a record during replay (room grows as the log is read). */
static int pin(q_part *p, uint64_t *where, uint64_t off)
{
    if (q_pins_reserve(&p->pins, off, off)) return -ENOMEM;
    if (*where != Q_OFF_NONE) q_pins_del(&p->pins, *where);
    *where = off;
    q_pins_add(&p->pins, off);
    return 0;
}

static int remember_key(q_part *p, q_queue *q, uint64_t hash, uint64_t id, uint64_t expiry,
                        uint64_t off, uint64_t now_ms)
{
    q_dedup_ent *e = q_dedup_find_any(&p->dd, hash, q->idx);
    if (e) return e->id == id ? pin(p, &e->rec, off) : 0;
    if (expiry <= now_ms) return 0;
    if (q_dedup_reserve(&p->dd, 1) || q_pins_reserve(&p->pins, off, off)) return -ENOMEM;
    q_dedup_ent ne = {.hash = hash, .id = id, .expiry_ms = expiry, .rec = off, .queue = q->idx};
    q_dedup_add(&p->dd, &ne, q_dedup_unpin, p);
    q_pins_add(&p->pins, off);
    return 0;
}

static int apply_enqueue(q_part *p, const q_rec *rec, uint64_t now_ms)
{
    q_enq_rec er;
    if (q_enq_decode(rec->payload, rec->len, &er) ||
        q_queue_name_check(er.queue, er.queue_len, NULL))
        return -EBADMSG;
    q_queue *q;
    if (q_queue_get(p, er.queue, er.queue_len, &q, NULL)) return -ENOMEM;
    /* Only a compacted copy can name a task already known: an original ENQUEUE's id is its
     * own offset, new by construction (and lookups of absent ids are the costly ones). */
    uint32_t slot = rec->flags & Q_REC_F_COMPACTED ? q_task_find(&p->tt, rec->id) : Q_NIL;
    if (slot != Q_NIL) {
        /* A compacted copy while the original is still in the log: the task moves. */
        int rc = pin(p, &q_task_at(&p->tt, slot)->rec, rec->offset);
        if (rc) return rc;
    } else {
        if (q_task_tab_reserve(&p->tt, 1) || q_pins_reserve(&p->pins, rec->offset, rec->offset))
            return -ENOMEM;
        slot = q_task_new(&p->tt, rec->id);
        q_task *t = q_task_at(&p->tt, slot);
        t->rec = rec->offset;
        t->queue = q->idx;
        t->prio = (uint8_t)er.priority;
        t->max_attempts = (uint16_t)er.max_attempts;
        t->lease_ms = er.lease_ms;
        q_pins_add(&p->pins, rec->offset);
        q_task_move(p, slot, er.not_before_ms ? Q_TASK_DELAYED : Q_TASK_READY, er.not_before_ms);
        /* A compacted copy never counts: its original did, before a LEDGER record that
         * retention wrote before deleting it (q_part_ledger.c). */
        if (!(rec->flags & Q_REC_F_COMPACTED)) {
            q->led.enqueued++;
            q_ledger_touch(q);
        }
    }
    if (er.key_len && q->cfg.dedup_window_ms)
        return remember_key(p, q, q_key_hash(er.key, er.key_len), rec->id,
                            er.enqueued_ms + q->cfg.dedup_window_ms, rec->offset, now_ms);
    return 0;
}

static void redrive(q_part *p, q_queue *q, uint32_t slot)
{
    q_task_at(&p->tt, slot)->attempts = 0;
    q_task_move(p, slot, Q_TASK_READY, 0);
    q->led.redriven++;
    q_ledger_touch(q);
}

/* An ACK, or a DELETE of `cause`, removing task `slot`. */
static void apply_end(q_part *p, uint32_t slot, uint16_t type, uint8_t cause)
{
    const q_task *t = q_task_at(&p->tt, slot);
    q_queue *q = q_queue_of(p, t);
    if (type == Q_RT_ACK) {
        q->led.acked++;
        q_ledger_touch(q);
    } else if (cause == Q_CAUSE_ADMIN) {
        q_ledger_removed(q, (q_task_state)t->state, false);
    } else {
        q_ledger_died(q, false); /* died with dead_letter off: not kept */
    }
    q_task_remove(p, slot);
}

static void apply_state(q_part *p, uint32_t slot, const q_prec *pr, uint64_t off)
{
    q_task *t = q_task_at(&p->tt, slot);
    t->attempts = (uint16_t)pr->attempts;
    q_task_state to = pr->type == Q_RT_DEAD ? Q_TASK_DEAD : (q_task_state)pr->state;
    if (pr->type == Q_RT_RETRY) to = Q_TASK_DELAYED;
    uint64_t due = to == Q_TASK_DEAD ? off : pr->t_ms;
    if (pr->type == Q_RT_DEAD) q_ledger_died(q_queue_of(p, t), true);
    if (to == t->state && (to == Q_TASK_READY || to == Q_TASK_DEAD)) {
        t->due = to == Q_TASK_DEAD ? off : 0;
        return;
    }
    q_task_move(p, slot, to, due);
}

int q_part_apply(q_part *p, const q_rec *rec, uint64_t now_ms)
{
    if (rec->type == Q_RT_ENQUEUE) return apply_enqueue(p, rec, now_ms);
    if (rec->type >= Q_RT_STREAM_FIRST && rec->type <= Q_RT_STREAM_LAST)
        return q_stream_apply(p, rec, now_ms);
    if (rec->type >= Q_RT_CONSUMER_FIRST && rec->type <= Q_RT_CONSUMER_LAST)
        return q_stream_hooks_tab->on_replay ? q_stream_hooks_tab->on_replay(p, rec, now_ms)
                                             : -EPROTO;
    q_prec pr;
    int rc = q_prec_decode(rec->type, rec->payload, rec->len, &pr);
    if (rc) return rc;
    q_queue *q = NULL;
    if (pr.name) {
        if (q_queue_name_check(pr.name, pr.name_len, NULL)) return -EBADMSG;
        if (pr.type == Q_RT_QUEUE || pr.type == Q_RT_DEDUP || pr.type == Q_RT_LEDGER) {
            if (q_queue_get(p, pr.name, pr.name_len, &q, NULL)) return -ENOMEM;
        } else if (!(q = q_queue_find(p, pr.name, pr.name_len))) {
            return 0;
        }
    }
    bool has_id = pr.type == Q_RT_RETRY || pr.type == Q_RT_DEAD || pr.type == Q_RT_DELETE ||
                  pr.type == Q_RT_STATE;
    uint32_t slot = has_id ? q_task_find(&p->tt, pr.id) : Q_NIL;
    switch (pr.type) {
    case Q_RT_ACK:
        for (uint32_t i = 0; i < pr.nids; i++) {
            uint32_t s = q_task_find(&p->tt, q_ld64(pr.ids + 8 * i));
            if (s != Q_NIL) apply_end(p, s, Q_RT_ACK, 0);
        }
        return 0;
    case Q_RT_RETRY:
    case Q_RT_DEAD:
    case Q_RT_STATE:
        if (slot != Q_NIL) apply_state(p, slot, &pr, rec->offset);
        return 0;
    case Q_RT_DELETE:
        if (slot != Q_NIL) apply_end(p, slot, Q_RT_DELETE, pr.cause);
        return 0;
    case Q_RT_REDRIVE:
        if (pr.nids == 0) {
            while (q->dead.head != Q_NIL) redrive(p, q, q->dead.head);
        }
        for (uint32_t i = 0; i < pr.nids; i++) {
            uint32_t s = q_task_find(&p->tt, q_ld64(pr.ids + 8 * i));
            if (s == Q_NIL) continue;
            const q_task *t = q_task_at(&p->tt, s);
            if (t->queue == q->idx && t->state == Q_TASK_DEAD) redrive(p, q, s);
        }
        return 0;
    case Q_RT_PURGE: q_part_purge_tasks(p, q); return 0;
    case Q_RT_QDELETE: q_queue_drop(p, q); return 0;
    case Q_RT_QUEUE:
        if (!cfg_valid(&pr.cfg)) return -EBADMSG;
        q->cfg = pr.cfg;
        q->paused = pr.paused;
        return pin(p, &q->cfg_rec, rec->offset);
    case Q_RT_DEDUP: return remember_key(p, q, pr.key_hash, pr.id, pr.t_ms, rec->offset, now_ms);
    case Q_RT_LEDGER:
        p->ledger_seen = true;
        return q_ledger_apply(p, q, &pr.led, pr.led_since1 ? pr.led_since1 - 1 : Q_OFF_NONE,
                              rec->offset);
    }
    return -EPROTO;
}

static int check_opts(const q_part_opts *o)
{
    if (o->tasks_max == 0 || o->tasks_max > Q_PART_TASKS_MAX) return -EINVAL;
    if (o->queues_max == 0 || o->queues_max > Q_PART_QUEUES_MAX) return -EINVAL;
    if (o->dedup_keys_max == 0 || o->dedup_keys_max > Q_DEDUP_KEYS_MAX) return -EINVAL;
    if (o->pin_bucket_shift > 30 || o->compact_live_pct > 100 || o->retain_every_ms == 0)
        return -EINVAL;
    return 0;
}

static int replay(q_part *p, uint64_t now_ms, q_log_err *lerr)
{
    q_iter it;
    q_iter_init(&it, p->log, q_log_oldest(p->log), false);
    p->replaying = true;
    int rc;
    q_rec rec;
    uint64_t at = it.next; /* the record being applied */
    while ((rc = q_iter_next(&it, &rec)) == 1) {
        at = rec.offset;
        q_task_prefetch(&p->tt, rec.offset + Q_TAB_PREFETCH); /* offsets are dense */
        rc = q_part_apply(p, &rec, now_ms);
        if (rc) break;
        p->replayed_records++;
        at = it.next;
    }
    p->replaying = false;
    if (rc == 0) q_streams_replay_done(p, now_ms);
    if (rc < 0) {
        if (lerr) {
            lerr->offset = at;
            lerr->why = rc == -EPROTO   ? "record of a type this version does not know"
                        : rc == -ENOMEM ? "out of memory during replay"
                                        : "partition record does not decode";
        }
        log_error("partition replay failed", "partition=%u offset=%" PRIu64 " err=%d", p->no, at,
                  rc);
        return rc == -EPROTO ? -EBADMSG : rc;
    }
    /* Delayed tasks whose time passed while we were down become ready now. */
    uint64_t next;
    do {
        q_part_tick(p, now_ms, &next);
    } while (next <= now_ms);
    q_ledger_check_open(p); /* logs and counts; fixes nothing */
    return 0;
}

/* The partition directory (q_log_open made it), kept open for the lease token epoch file. */
static int open_dir(q_part *p, const char *dir)
{
    p->epoch_dirfd = q_sys.openat(AT_FDCWD, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    return p->epoch_dirfd < 0 ? -errno : 0;
}

/* The open's lease token epoch; a failure names the epoch file in *lerr (not a segment: the
 * log itself is fine, and ringq-log salvage does not apply). */
static int epoch_open(q_part *p, uint64_t now_ms, q_log_err *lerr)
{
    int rc = q_part_epoch_advance(p, now_ms);
    if (rc && lerr) {
        snprintf(lerr->file, sizeof lerr->file, "%s", Q_EPOCH_FILE);
        lerr->why = rc == -EBADMSG ? "lease token epoch file damaged (not one decimal number and "
                                     "a newline): deleting it restarts the epochs from the clock"
                                   : "lease token epoch file could not be read or written";
    }
    return rc;
}

int q_part_open(const char *dir, uint32_t part_no, const q_part_opts *opts, uint64_t now_ms,
                q_part **out, q_log_err *lerr)
{
    q_part *p = rt_calloc(1, sizeof *p);
    if (!p) return -ENOMEM;
    if (opts) p->opts = *opts;
    else q_part_opts_default(&p->opts);
    int rc = check_opts(&p->opts);
    if (rc) {
        rt_free(p);
        return rc;
    }
    p->no = part_no;
    p->rng = p->opts.seed ? p->opts.seed : (rt_wall_ns() | 1);
    p->epoch_dirfd = -1;
    if ((rc = q_task_tab_init(&p->tt)) || (rc = q_dedup_init(&p->dd, p->opts.dedup_keys_max)) ||
        (rc = q_pins_init(&p->pins, p->opts.pin_bucket_shift)) ||
        (rc = q_log_open(dir, &p->opts.log, &p->log, lerr)) || (rc = open_dir(p, dir)) ||
        (rc = epoch_open(p, now_ms, lerr)) || (rc = replay(p, now_ms, lerr))) {
        if (p->log) q_log_close(p->log);
        p->log = NULL;
        q_part_close(p);
        return rc;
    }
    log_info("partition open", "partition=%u dir=%s tasks=%u queues=%u records=%" PRIu64, part_no,
             dir, p->tt.live, p->nqueues, p->replayed_records);
    *out = p;
    return 0;
}

int q_part_close(q_part *p)
{
    if (!p) return 0;
    if (p->log) {
        int rc = q_log_close(p->log);
        if (rc) return rc;
    }
    if (p->epoch_dirfd >= 0) q_sys.close(p->epoch_dirfd);
    q_streams_free(p);
    q_queues_free(p);
    q_task_tab_deinit(&p->tt);
    q_dedup_deinit(&p->dd);
    q_pins_deinit(&p->pins);
    rt_free(p);
    return 0;
}

q_log *q_part_log(q_part *p) { return p->log; }
uint32_t q_part_no(const q_part *p) { return p->no; }

void q_part_get_stats(const q_part *p, q_part_stats *st)
{
    memset(st, 0, sizeof *st);
    st->tasks = p->tt.live;
    st->queues = p->nqueues;
    st->dedup_keys = q_dedup_count(&p->dd);
    st->dedup_evicted = p->dd.evicted;
    st->mem_bytes = q_task_tab_bytes(&p->tt) + q_dedup_bytes(&p->dd) + (uint64_t)p->pins.cap * 4 +
                    sizeof *p + (uint64_t)p->nqueues * sizeof(q_queue) +
                    (uint64_t)p->queues_cap * 2 * sizeof(q_queue *) + (uint64_t)p->nqslots * 4;
    st->compactions = p->compactions;
    st->records_compacted = p->records_compacted;
    q_log_stats ls;
    q_log_get_stats(p->log, &ls);
    st->segments_deleted = ls.segments_retired; /* sync or through the ring (q_log_retain) */
    st->replayed_records = p->replayed_records;
    st->leased_undurable = p->leased_undurable;
    st->delivered_undurable = p->delivered_undurable;
    st->wait = p->lat_wait;
    st->run = p->lat_run;
    st->ledger_mismatches = p->ledger_mismatches;
    q_streams_stats(p, &st->streams, &st->stream_msgs, &st->stream_mem_bytes);
    st->mem_bytes += st->stream_mem_bytes;
}
