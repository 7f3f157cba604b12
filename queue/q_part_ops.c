/* queue/q_part_ops: Enqueue, Lease, Ack, Nack, Extend. */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "core/rt_log.h"
#include "queue/q_part_int.h"
#include "queue/q_stream.h"

/* A record that frees space: an ack, a delete or a purge ends tasks, so retention can delete the
 * segments they pinned; LEDGER records are what retention writes before it deletes
 * (q_ledger_flush). Nack (RETRY) and DEAD keep their task, so they do not: a failing task
 * retried in a loop could use up the reserve without ever freeing anything. Refusing them is
 * safe: the lease expires and the task is delivered again once there is room. */
static bool frees_space(uint16_t type)
{
    return type == Q_RT_ACK || type == Q_RT_DELETE || type == Q_RT_PURGE || type == Q_RT_LEDGER;
}

void q_part_keep_room(q_part *p, uint64_t more_tasks)
{
    /* Streams: room for each to write the removal that frees its oldest segment. */
    uint64_t streams = q_stream_count(p) * (uint64_t)Q_STREAM_FREE_REC_BYTES;
    q_log_set_reserve(p->log,
                      ((uint64_t)p->tt.live + more_tasks) * Q_PART_FREE_REC_BYTES + streams);
}

int64_t q_part_append(q_part *p, const q_prec *r)
{
    uint8_t fixed[Q_PREC_FIXED_BYTES_MAX];
    struct iovec iov[4];
    int n = q_prec_encode(r, fixed, iov);
    if (frees_space(r->type)) return q_log_appendv_freeing(p->log, r->type, iov, n);
    q_part_keep_room(p, 0);
    return q_log_appendv(p->log, r->type, iov, n);
}

int q_task_read(const q_part *p, const q_task *t, q_enq_rec *out)
{
    q_rec rec;
    int rc = q_log_read(p->log, t->rec, &rec);
    if (rc) return rc;
    if (rec.type != Q_RT_ENQUEUE || rec.id != t->id) return -EBADMSG;
    return q_enq_decode(rec.payload, rec.len, out);
}

void q_dedup_unpin(void *ud, const q_dedup_ent *e)
{
    q_part *p = ud;
    if (e->rec != Q_OFF_NONE) q_pins_del(&p->pins, e->rec);
}

int q_task_kill(q_part *p, uint32_t slot, uint8_t cause, uint64_t now_ms, const char *reason,
                uint32_t reason_len)
{
    q_task *t = q_task_at(&p->tt, slot);
    q_queue *q = q_queue_of(p, t);
    q->dead_total++;
    if (!q->cfg.dead_letter) {
        q_prec r = {.type = Q_RT_DELETE, .id = t->id, .cause = cause};
        int64_t off = q_part_append(p, &r);
        q_ledger_died(q, false);
        q_task_remove(p, slot);
        return off < 0 ? (int)off : 0;
    }
    q_prec r = {.type = Q_RT_DEAD,
                .id = t->id,
                .t_ms = now_ms,
                .attempts = t->attempts,
                .cause = cause,
                .reason = reason,
                .reason_len = reason_len};
    int64_t off = q_part_append(p, &r);
    q_ledger_died(q, true);
    q_task_move(p, slot, Q_TASK_DEAD, off < 0 ? Q_OFF_NONE : (uint64_t)off);
    return off < 0 ? (int)off : 0;
}

/* ---- Enqueue ---- */

static q_status check_spec(const q_part *p, size_t name_len, const q_task_spec *t, uint32_t i,
                           uint64_t now_ms, q_err *err)
{
    if (t->priority > Q_PRIORITY_MAX)
        return q_fail(err, Q_INVALID_ARGUMENT, "task %u: priority %u; allowed 0..%u", i,
                      t->priority, Q_PRIORITY_MAX);
    if (t->delay_ms && t->not_before_ms)
        return q_fail(err, Q_INVALID_ARGUMENT,
                      "task %u: set delay_ms or not_before_unix_ms, not both", i);
    if (t->delay_ms > Q_DELAY_MS_MAX)
        return q_fail(err, Q_INVALID_ARGUMENT, "task %u: delay_ms %" PRIu64 " exceeds %llu", i,
                      t->delay_ms, Q_DELAY_MS_MAX);
    if (t->not_before_ms > now_ms && t->not_before_ms - now_ms > Q_DELAY_MS_MAX)
        return q_fail(err, Q_INVALID_ARGUMENT,
                      "task %u: not_before_unix_ms is more than 366 days ahead", i);
    if (t->max_attempts > Q_ATTEMPTS_MAX)
        return q_fail(err, Q_INVALID_ARGUMENT, "task %u: max_attempts %u; allowed 0..%u", i,
                      t->max_attempts, Q_ATTEMPTS_MAX);
    if (t->lease_ms > Q_LEASE_MS_MAX)
        return q_fail(err, Q_INVALID_ARGUMENT, "task %u: lease_ms %u exceeds %u", i, t->lease_ms,
                      Q_LEASE_MS_MAX);
    if (t->nheaders > Q_HEADERS_MAX)
        return q_fail(err, Q_INVALID_ARGUMENT, "task %u: %u headers; at most %u", i, t->nheaders,
                      Q_HEADERS_MAX);
    for (uint32_t h = 0; h < t->nheaders; h++) {
        uint32_t nl = t->headers[h].name_len;
        if (nl == 0 || nl > Q_HEADER_NAME_BYTES_MAX)
            return q_fail(err, Q_INVALID_ARGUMENT,
                          "task %u: header %u: name is %u bytes; allowed 1..%u", i, h, nl,
                          Q_HEADER_NAME_BYTES_MAX);
    }
    if (t->key_len > Q_KEY_BYTES_MAX)
        return q_fail(err, Q_INVALID_ARGUMENT, "task %u: idempotency key is %u bytes; at most %u",
                      i, t->key_len, Q_KEY_BYTES_MAX);
    uint64_t size = q_enq_size(name_len, t);
    if (size > p->opts.log.record_bytes_max)
        return q_fail(err, Q_INVALID_ARGUMENT,
                      "task %u: payload, headers and key take %" PRIu64 " bytes; the limit is %u",
                      i, size, p->opts.log.record_bytes_max);
    return Q_OK;
}

q_status q_part_enqueue(q_part *p, const char *name, size_t name_len, const q_task_spec *tasks,
                        uint32_t n, uint64_t now_ms, q_enq_result *out, uint64_t *commit_to,
                        q_err *err)
{
    *commit_to = q_log_next(p->log);
    q_status st = q_part_name_check(p, name, name_len, err);
    if (st) return st;
    if (n == 0 || n > Q_BATCH_MAX)
        return q_fail(err, Q_INVALID_ARGUMENT, "Enqueue takes 1..%u tasks, got %u", Q_BATCH_MAX, n);
    for (uint32_t i = 0; i < n; i++)
        if ((st = check_spec(p, name_len, &tasks[i], i, now_ms, err))) return st;
    if (p->tt.live + (uint64_t)n > p->opts.tasks_max)
        return q_fail(err, Q_RESOURCE_EXHAUSTED,
                      "partition %u holds %u tasks; the limit is %" PRIu64, p->no, p->tt.live,
                      p->opts.tasks_max);
    if (q_task_tab_reserve(&p->tt, n) || q_dedup_reserve(&p->dd, n) ||
        q_pins_reserve(&p->pins, q_log_next(p->log), q_log_next(p->log) + n))
        return q_fail(err, Q_RESOURCE_EXHAUSTED, "out of memory for %u tasks", n);
    q_queue *q;
    if ((st = q_queue_get(p, name, name_len, &q, err))) return st;
    q_queue_rates(q, now_ms);

    for (uint32_t i = 0; i < n; i++) {
        const q_task_spec *s = &tasks[i];
        uint64_t h = 0;
        if (s->key_len) {
            h = q_key_hash(s->key, s->key_len);
            q_dedup_ent *e = q_dedup_find(&p->dd, h, q->idx, now_ms);
            if (e) {
                out[i].id = e->id;
                out[i].duplicate = true;
                q->duplicates_total++;
                continue;
            }
        }
        uint64_t ready_ms = s->delay_ms ? now_ms + s->delay_ms : s->not_before_ms;
        if (ready_ms <= now_ms) ready_ms = 0;
        q_enq_enc enc;
        q_enq_encode(&enc, name, name_len, s, ready_ms, now_ms);
        q_part_keep_room(p, 1); /* this task's ack too */
        int64_t off = q_log_appendv(p->log, Q_RT_ENQUEUE, enc.iov, enc.n);
        q_task_prefetch(&p->tt, (uint64_t)off + Q_TAB_PREFETCH); /* a later task of the batch */
        if (off < 0) {
            *commit_to = q_log_next(p->log);
            return q_fail_log(err, (int)off, "enqueue");
        }
        uint32_t slot = q_task_new(&p->tt, (uint64_t)off); /* room reserved above */
        q_task *t = q_task_at(&p->tt, slot);
        t->queue = q->idx;
        t->prio = (uint8_t)s->priority;
        t->max_attempts = (uint16_t)s->max_attempts;
        t->lease_ms = s->lease_ms;
        q_pins_add(&p->pins, (uint64_t)off);
        q_task_move(p, slot, ready_ms ? Q_TASK_DELAYED : Q_TASK_READY, ready_ms);
        if (s->key_len && q->cfg.dedup_window_ms) {
            q_dedup_ent e = {.hash = h,
                             .id = (uint64_t)off,
                             .rec = (uint64_t)off,
                             .expiry_ms = now_ms + q->cfg.dedup_window_ms,
                             .queue = q->idx};
            q_dedup_add(&p->dd, &e, q_dedup_unpin, p); /* room reserved above */
            q_pins_add(&p->pins, (uint64_t)off);
        }
        q->enqueued_total++;
        q->led.enqueued++;
        q_ledger_touch(q);
        out[i].id = (uint64_t)off;
        out[i].duplicate = false;
    }
    *commit_to = q_log_next(p->log);
    return q_ok(err);
}

/* ---- Lease ---- */

q_status q_part_lease(q_part *p, const char *name, size_t name_len, uint32_t max_n,
                      uint32_t lease_ms, uint64_t now_ms, q_leased *out, uint32_t *n_out,
                      q_err *err)
{
    return q_part_lease_budget(p, name, name_len, max_n, lease_ms, now_ms, SIZE_MAX, 0, out, n_out,
                               err);
}

bool q_part_lease_ready(q_part *p, const char *name, size_t name_len)
{
    q_queue *q = q_queue_find(p, name, name_len);
    return q && !q->paused && q_queue_leasable(p, q);
}

uint64_t q_part_ready_to_lease(q_part *p, const char *name, size_t name_len)
{
    q_queue *q = q_queue_find(p, name, name_len);
    if (!q || q->paused || q->n[Q_TASK_READY] == 0 || !q_queue_leasable(p, q)) return 0;
    return q->n[Q_TASK_READY];
}

q_status q_part_lease_budget(q_part *p, const char *name, size_t name_len, uint32_t max_n,
                             uint32_t lease_ms, uint64_t now_ms, size_t budget_bytes,
                             size_t per_task_bytes, q_leased *out, uint32_t *n_out, q_err *err)
{
    size_t used = 0;
    *n_out = 0;
    q_status st = q_part_name_check(p, name, name_len, err);
    if (st) return st;
    if (max_n == 0 || max_n > Q_BATCH_MAX)
        return q_fail(err, Q_INVALID_ARGUMENT, "lease takes 1..%u tasks, got %u", Q_BATCH_MAX,
                      max_n);
    if (lease_ms > Q_LEASE_MS_MAX)
        return q_fail(err, Q_INVALID_ARGUMENT, "lease_ms %u exceeds %u", lease_ms, Q_LEASE_MS_MAX);
    q_queue *q = q_queue_find(p, name, name_len);
    if (!q || q->paused) return q_ok(err);
    uint32_t k = 0;
    uint32_t held = 0; /* priority levels whose first task is not durable yet */
    while (k < max_n && (q->ready_mask & ~held)) {
        uint32_t prio = 31u - (uint32_t)__builtin_clz(q->ready_mask & ~held);
        uint32_t slot = q->ready[prio].head;
        q_task *t = q_task_at(&p->tt, slot);
        if (p->opts.ready_when_durable && t->id >= q_log_durable(p->log)) {
            held |= 1u << prio; /* durable before visible: wait for the commit */
            continue;
        }
        q_enq_rec er;
        int rc = q_task_read(p, t, &er);
        if (rc) {
            log_error("task record unreadable: made dead",
                      "partition=%u task=%" PRIu64 " rec=%" PRIu64 " err=%d", p->no, t->id, t->rec,
                      rc);
            q_task_kill(p, slot, Q_CAUSE_DAMAGED, now_ms, "record damaged", 14);
            continue;
        }
        /* The byte budget: stop before a task that would not fit (the first always goes). */
        size_t cost = (size_t)er.payload_len + er.headers_len + per_task_bytes;
        if (k > 0 && (cost > budget_bytes || used > budget_bytes - cost)) break;
        uint64_t token = q_part_token_next(p, now_ms);
        if (token == 0) { /* logged; the tasks leased so far keep their tokens */
            *n_out = k;
            return k ? q_ok(err) : q_fail(err, Q_UNAVAILABLE, "no lease token epoch");
        }
        used += cost;
        uint64_t deadline = now_ms + q_task_lease_ms(p, t, lease_ms);
        q_leased *l = &out[k++];
        if (t->id >= q_log_durable(p->log)) p->leased_undurable++;
        l->id = t->id;
        l->payload = er.payload;
        l->payload_len = er.payload_len;
        l->headers = er.headers;
        l->headers_len = er.headers_len;
        l->nheaders = er.nheaders;
        l->priority = t->prio;
        l->attempt = t->attempts + 1u;
        l->max_attempts = q_task_max_attempts(p, t);
        l->lease_deadline_ms = deadline;
        l->enqueued_ms = er.enqueued_ms;
        l->token = t->token = token;
        if (t->attempts == 0)
            q_lat_observe(&p->lat_wait, now_ms > er.enqueued_ms ? now_ms - er.enqueued_ms : 0);
        p->tt.lease_at[slot] = (uint32_t)now_ms;
        q_task_move(p, slot, Q_TASK_LEASED, deadline);
    }
    *n_out = k;
    return q_ok(err);
}

/* ---- Ack, Nack, Extend ---- */

/* The task of `id` if it holds a lease that has not expired and `token` names that lease (or is
 * 0, "no token", on a queue that allows it); else the status and why. A task that is not leased
 * says so whatever the token; a leased one held under another token is "lease superseded". */
static q_status leased_task(q_part *p, uint64_t id, uint64_t token, uint64_t now_ms, uint32_t *slot,
                            const char **why)
{
    *slot = q_task_find(&p->tt, id);
    if (*slot == Q_NIL) {
        *why = "unknown task (never enqueued, or acked, deleted or purged)";
        return Q_NOT_FOUND;
    }
    const q_task *t = q_task_at(&p->tt, *slot);
    switch ((q_task_state)t->state) {
    case Q_TASK_LEASED:
        if (token == 0 && !q_queue_of(p, t)->cfg.allow_tokenless_ack)
            *why = "lease token required (the queue does not allow tokenless acks)";
        else if (token != 0 && token != t->token)
            *why = "lease superseded (the task was delivered again since this token)";
        else if (t->due <= now_ms) *why = "lease expired";
        else return Q_OK;
        return Q_FAILED_PRECONDITION;
    case Q_TASK_READY: *why = "task is not leased (it is ready)"; break;
    case Q_TASK_DELAYED: *why = "task is not leased (it is delayed)"; break;
    case Q_TASK_DEAD: *why = "task is not leased (it is dead)"; break;
    default: *why = "task is not leased"; break;
    }
    return Q_FAILED_PRECONDITION;
}

q_status q_part_ack(q_part *p, const uint64_t *ids, const uint64_t *tokens, uint32_t n,
                    uint64_t now_ms, q_item *items, uint64_t *commit_to, q_err *err)
{
    *commit_to = q_log_next(p->log);
    if (n == 0 || n > Q_BATCH_MAX)
        return q_fail(err, Q_INVALID_ARGUMENT, "Ack takes 1..%u ids, got %u", Q_BATCH_MAX, n);
    uint64_t ok[Q_BATCH_MAX];
    uint32_t nok = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t slot;
        items[i].why = NULL;
        uint64_t token = tokens ? tokens[i] : 0;
        items[i].code = leased_task(p, ids[i], token, now_ms, &slot, &items[i].why);
        if (items[i].code == Q_OK) ok[nok++] = ids[i];
    }
    if (nok == 0) return q_ok(err);
    q_prec r = {.type = Q_RT_ACK, .ids = (const uint8_t *)ok, .nids = nok};
    int64_t off = q_part_append(p, &r);
    if (off < 0) return q_fail_log(err, (int)off, "ack");
    for (uint32_t i = 0; i < n; i++) {
        if (items[i].code != Q_OK) continue;
        uint32_t slot = q_task_find(&p->tt, ids[i]);
        if (slot == Q_NIL) { /* the same id earlier in this call: that one acked it */
            items[i].code = Q_NOT_FOUND;
            items[i].why = "task acked earlier in the same batch";
            continue;
        }
        q_queue *q = q_queue_of(p, q_task_at(&p->tt, slot));
        q_queue_rates(q, now_ms);
        q->acked_total++;
        q->led.acked++;
        q_lat_observe(&p->lat_run, (uint32_t)((uint32_t)now_ms - p->tt.lease_at[slot]));
        q_ledger_touch(q);
        q_task_remove(p, slot);
    }
    *commit_to = q_log_next(p->log);
    return q_ok(err);
}

/* min(max, base * 2^(attempts-1)), jittered into [d/2, d]. */
static uint64_t backoff_ms(q_part *p, const q_queue_cfg *c, uint32_t attempts)
{
    uint64_t d = c->backoff_base_ms;
    uint32_t sh = attempts ? attempts - 1 : 0;
    if (sh >= 63 || d > (c->backoff_max_ms >> sh)) d = c->backoff_max_ms;
    else d <<= sh;
    if (d > c->backoff_max_ms) d = c->backoff_max_ms;
    uint64_t half = d / 2;
    return half + q_rand(p) % (d - half + 1);
}

q_status q_part_nack(q_part *p, uint64_t id, uint64_t token, const q_nack *nk, uint64_t now_ms,
                     q_nack_result *res, uint64_t *commit_to, q_err *err)
{
    *commit_to = q_log_next(p->log);
    memset(res, 0, sizeof *res);
    if (nk->has_delay && nk->delay_ms > Q_DELAY_MS_MAX)
        return q_fail(err, Q_INVALID_ARGUMENT, "delay_ms %" PRIu64 " exceeds %llu", nk->delay_ms,
                      Q_DELAY_MS_MAX);
    if (nk->reason_len > Q_REASON_BYTES_MAX)
        return q_fail(err, Q_INVALID_ARGUMENT, "reason is %u bytes; at most %u", nk->reason_len,
                      Q_REASON_BYTES_MAX);
    uint32_t slot;
    const char *why;
    q_status st = leased_task(p, id, token, now_ms, &slot, &why);
    if (st) return q_fail(err, st, "task %" PRIu64 ": %s", id, why);
    q_task *t = q_task_at(&p->tt, slot);
    q_queue *q = q_queue_of(p, t);
    uint32_t attempts = t->attempts + 1u;
    res->attempts = attempts;
    if (nk->dead_letter || attempts >= q_task_max_attempts(p, t)) {
        q_prec r = {.type = q->cfg.dead_letter ? Q_RT_DEAD : Q_RT_DELETE,
                    .id = id,
                    .t_ms = now_ms,
                    .attempts = attempts,
                    .cause = Q_CAUSE_NACK,
                    .reason = nk->reason,
                    .reason_len = nk->reason_len};
        if (r.type == Q_RT_DELETE) r.reason_len = 0;
        int64_t off = q_part_append(p, &r);
        if (off < 0) return q_fail_log(err, (int)off, "nack");
        q->nacked_total++;
        q->dead_total++;
        q_ledger_died(q, q->cfg.dead_letter);
        t->attempts = (uint16_t)attempts;
        if (q->cfg.dead_letter) {
            q_task_move(p, slot, Q_TASK_DEAD, (uint64_t)off);
            res->state = Q_TASK_DEAD;
        } else {
            q_task_remove(p, slot);
            res->state = Q_TASK_GONE;
        }
    } else {
        uint64_t delay = nk->has_delay ? nk->delay_ms : backoff_ms(p, &q->cfg, attempts);
        q_prec r = {.type = Q_RT_RETRY,
                    .id = id,
                    .t_ms = now_ms + delay,
                    .attempts = attempts,
                    .cause = Q_CAUSE_NACK};
        int64_t off = q_part_append(p, &r);
        if (off < 0) return q_fail_log(err, (int)off, "nack");
        q->nacked_total++;
        t->attempts = (uint16_t)attempts;
        res->ready_ms = now_ms + delay;
        res->state = delay ? Q_TASK_DELAYED : Q_TASK_READY;
        q_task_move(p, slot, res->state, res->ready_ms);
    }
    *commit_to = q_log_next(p->log);
    return q_ok(err);
}

q_status q_part_extend(q_part *p, uint64_t id, uint64_t token, uint32_t lease_ms, uint64_t now_ms,
                       uint64_t *deadline_ms, q_err *err)
{
    if (lease_ms > Q_LEASE_MS_MAX)
        return q_fail(err, Q_INVALID_ARGUMENT, "lease_ms %u exceeds %u", lease_ms, Q_LEASE_MS_MAX);
    uint32_t slot;
    const char *why;
    q_status st = leased_task(p, id, token, now_ms, &slot, &why);
    if (st) return q_fail(err, st, "task %" PRIu64 ": %s", id, why);
    q_task *t = q_task_at(&p->tt, slot);
    uint64_t ms = lease_ms ? lease_ms : q_task_lease_ms(p, t, 0);
    *deadline_ms = now_ms + ms;
    q_task_move(p, slot, Q_TASK_LEASED, *deadline_ms);
    return q_ok(err);
}
