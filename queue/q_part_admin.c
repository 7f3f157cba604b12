/* queue/q_part_admin: queue figures and configuration, pause, purge, queue deletion, task lookup,
 * dead letters. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "core/rt_alloc.h"
#include "queue/q_part_int.h"

static q_status find_queue(q_part *p, const char *name, size_t len, q_queue **q, q_err *err)
{
    q_status st = q_queue_name_check(name, len, err);
    if (st) return st;
    *q = q_queue_find(p, name, len);
    if (!*q) return q_fail(err, Q_NOT_FOUND, "queue '%.*s' not found", (int)len, name);
    return Q_OK;
}

q_status q_part_get_queue(q_part *p, const char *name, size_t name_len, uint64_t now_ms,
                          q_queue_info *out, q_err *err)
{
    q_queue *q;
    q_status st = find_queue(p, name, name_len, &q, err);
    if (st) return st;
    q_queue_fill_info(p, q, now_ms, out);
    return q_ok(err);
}

static int name_cmp(const char *a, size_t al, const char *b, size_t bl)
{
    int c = memcmp(a, b, al < bl ? al : bl);
    return c ? c : (al > bl) - (al < bl);
}

static int queue_cmp(const void *a, const void *b)
{
    const q_queue *x = *(q_queue *const *)a, *y = *(q_queue *const *)b;
    return name_cmp(x->name, x->name_len, y->name, y->name_len);
}

/* Sorts the queues created since the last listing into p->by_name: the new tail is sorted,
 * then merged with the sorted head from the back (the array has room for both). O(new log new
 * + all) once per batch of new queues; a listing with nothing new sorts nothing. */
static void sort_new_queues(q_part *p)
{
    uint32_t a = p->nsorted, n = p->nqueues;
    if (a == n) return;
    q_queue **v = p->by_name;
    qsort(v + a, n - a, sizeof v[0], queue_cmp);
    if (a > 0 && queue_cmp(&v[a - 1], &v[a]) > 0) {
        /* Merge in place needs a buffer for the tail; its size is the new queues only. */
        q_queue **tail = rt_malloc((size_t)(n - a) * sizeof *tail);
        if (!tail) {
            qsort(v, n, sizeof v[0], queue_cmp); /* no memory: sort the whole array instead */
            p->nsorted = n;
            return;
        }
        memcpy(tail, v + a, (size_t)(n - a) * sizeof *tail);
        uint32_t i = a, j = n - a, k = n;
        while (j > 0) {
            if (i > 0 && queue_cmp(&v[i - 1], &tail[j - 1]) > 0) v[--k] = v[--i];
            else v[--k] = tail[--j];
        }
        rt_free(tail);
    }
    p->nsorted = n;
}

q_status q_part_list_queues(q_part *p, const char *after, size_t after_len, uint32_t max,
                            uint64_t now_ms, q_queue_info *out, uint32_t *n_out, bool *more)
{
    *n_out = 0;
    *more = false;
    if (max == 0 || max > Q_PAGE_MAX) return Q_INVALID_ARGUMENT;
    sort_new_queues(p);
    /* The first queue whose name sorts after `after`: binary search. Deleted queues keep their
     * slot (and their place in by_name) but are not listed. */
    uint32_t lo = 0, hi = p->nqueues;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        const q_queue *q = p->by_name[mid];
        if (name_cmp(q->name, q->name_len, after, after_len) > 0) hi = mid;
        else lo = mid + 1;
    }
    uint32_t n = 0;
    for (uint32_t i = lo; i < p->nqueues; i++) {
        q_queue *q = p->by_name[i];
        if (q->deleted) continue;
        if (n == max) {
            *more = true;
            break;
        }
        q_queue_fill_info(p, q, now_ms, &out[n++]);
    }
    *n_out = n;
    return Q_OK;
}

static q_status patch_cfg(q_queue_cfg *c, const q_queue_cfg_patch *pt, q_err *err)
{
    const q_queue_cfg *v = &pt->v;
    if (pt->set & Q_CFG_MAX_ATTEMPTS) {
        if (v->max_attempts < 1 || v->max_attempts > Q_ATTEMPTS_MAX)
            return q_fail(err, Q_INVALID_ARGUMENT, "max_attempts %u; allowed 1..%u",
                          v->max_attempts, Q_ATTEMPTS_MAX);
        c->max_attempts = v->max_attempts;
    }
    if (pt->set & Q_CFG_LEASE_MS) {
        if (v->lease_ms < Q_LEASE_MS_MIN || v->lease_ms > Q_LEASE_MS_MAX)
            return q_fail(err, Q_INVALID_ARGUMENT, "lease_ms %u; allowed %u..%u", v->lease_ms,
                          Q_LEASE_MS_MIN, Q_LEASE_MS_MAX);
        c->lease_ms = v->lease_ms;
    }
    if (pt->set & Q_CFG_BACKOFF_BASE_MS) c->backoff_base_ms = v->backoff_base_ms;
    if (pt->set & Q_CFG_BACKOFF_MAX_MS) c->backoff_max_ms = v->backoff_max_ms;
    if (c->backoff_base_ms < 1 || c->backoff_max_ms > Q_DELAY_MS_MAX)
        return q_fail(err, Q_INVALID_ARGUMENT, "backoff must lie in 1..%llu ms", Q_DELAY_MS_MAX);
    if (c->backoff_base_ms > c->backoff_max_ms)
        return q_fail(err, Q_INVALID_ARGUMENT,
                      "backoff_base_ms %" PRIu64 " exceeds backoff_max_ms %" PRIu64,
                      c->backoff_base_ms, c->backoff_max_ms);
    if (pt->set & Q_CFG_DEAD_LETTER) c->dead_letter = v->dead_letter;
    if (pt->set & Q_CFG_ALLOW_TOKENLESS) c->allow_tokenless_ack = v->allow_tokenless_ack;
    if (pt->set & Q_CFG_RELEASE_COUNTS) c->release_counts_attempt = v->release_counts_attempt;
    if (pt->set & Q_CFG_DEDUP_WINDOW_MS) {
        if (v->dedup_window_ms > Q_DEDUP_WINDOW_MS_MAX)
            return q_fail(err, Q_INVALID_ARGUMENT, "dedup_window_ms %" PRIu64 " exceeds %llu",
                          v->dedup_window_ms, Q_DEDUP_WINDOW_MS_MAX);
        c->dedup_window_ms = v->dedup_window_ms;
    }
    return Q_OK;
}

/* Writes the queue's whole state (QUEUE record) and applies it. */
static q_status write_queue(q_part *p, q_queue *q, const q_queue_cfg *cfg, bool paused, q_err *err)
{
    uint64_t next = q_log_next(p->log);
    if (q_pins_reserve(&p->pins, next, next))
        return q_fail(err, Q_RESOURCE_EXHAUSTED, "out of memory");
    q_prec r = {.type = Q_RT_QUEUE,
                .name = q->name,
                .name_len = q->name_len,
                .paused = paused,
                .cfg = *cfg};
    int64_t off = q_part_append(p, &r);
    if (off < 0) return q_fail_log(err, (int)off, "queue configuration");
    q->cfg = *cfg;
    q->paused = paused;
    if (q->cfg_rec != Q_OFF_NONE) q_pins_del(&p->pins, q->cfg_rec);
    q->cfg_rec = (uint64_t)off;
    q_pins_add(&p->pins, (uint64_t)off);
    q_queue_wake(p, q);
    return Q_OK;
}

q_status q_part_configure(q_part *p, const char *name, size_t name_len,
                          const q_queue_cfg_patch *patch, uint64_t now_ms, q_queue_info *out,
                          uint64_t *commit_to, q_err *err)
{
    *commit_to = q_log_next(p->log);
    q_status st = q_queue_name_check(name, name_len, err);
    if (st) return st;
    q_queue *q = q_queue_find(p, name, name_len);
    q_queue_cfg cfg;
    if (q) cfg = q->cfg;
    else q_queue_cfg_default(&cfg);
    if ((st = patch_cfg(&cfg, patch, err))) return st;
    if (!q && (st = q_queue_get(p, name, name_len, &q, err))) return st;
    if ((st = write_queue(p, q, &cfg, q->paused, err))) return st;
    if (out) q_queue_fill_info(p, q, now_ms, out);
    *commit_to = q_log_next(p->log);
    return q_ok(err);
}

q_status q_part_pause(q_part *p, const char *name, size_t name_len, bool paused, uint64_t now_ms,
                      q_queue_info *out, uint64_t *commit_to, q_err *err)
{
    *commit_to = q_log_next(p->log);
    q_queue *q;
    q_status st = find_queue(p, name, name_len, &q, err);
    if (st) return st;
    if (q->paused != paused && (st = write_queue(p, q, &q->cfg, paused, err))) return st;
    if (out) q_queue_fill_info(p, q, now_ms, out);
    *commit_to = q_log_next(p->log);
    return q_ok(err);
}

q_status q_part_purge(q_part *p, const char *name, size_t name_len, uint64_t now_ms,
                      uint64_t *purged, uint64_t *commit_to, q_err *err)
{
    (void)now_ms;
    *commit_to = q_log_next(p->log);
    *purged = 0;
    q_queue *q;
    q_status st = find_queue(p, name, name_len, &q, err);
    if (st) return st;
    q_prec r = {.type = Q_RT_PURGE, .name = q->name, .name_len = q->name_len};
    int64_t off = q_part_append(p, &r);
    if (off < 0) return q_fail_log(err, (int)off, "purge");
    uint64_t k = q_part_purge_tasks(p, q);
    *purged = k;
    *commit_to = q_log_next(p->log);
    return q_ok(err);
}

q_status q_part_delete_queue(q_part *p, const char *name, size_t name_len, bool force,
                             uint64_t now_ms, uint64_t *deleted, uint64_t *commit_to, q_err *err)
{
    (void)now_ms;
    *commit_to = q_log_next(p->log);
    *deleted = 0;
    q_queue *q;
    q_status st = find_queue(p, name, name_len, &q, err);
    if (st) return st;
    if (q->n[Q_TASK_LEASED] && !force)
        return q_fail(err, Q_FAILED_PRECONDITION,
                      "queue '%.*s' has %" PRIu64 " leased tasks; force deletes them too",
                      (int)name_len, name, q->n[Q_TASK_LEASED]);
    q_prec r = {.type = Q_RT_QDELETE, .name = q->name, .name_len = q->name_len};
    int64_t off = q_part_append(p, &r);
    if (off < 0) return q_fail_log(err, (int)off, "queue delete");
    *deleted = q_queue_drop(p, q);
    *commit_to = q_log_next(p->log);
    return q_ok(err);
}

q_status q_task_fill_info(q_part *p, uint32_t slot, q_task_info *o, q_err *err)
{
    const q_task *t = q_task_at(&p->tt, slot);
    const q_queue *q = q_queue_of(p, t);
    memset(o, 0, sizeof *o);
    o->id = t->id;
    o->queue = q->name;
    o->queue_len = q->name_len;
    o->state = (q_task_state)t->state;
    o->priority = t->prio;
    o->attempts = t->attempts;
    o->max_attempts = q_task_max_attempts(p, t);
    o->due_ms = t->state == Q_TASK_DELAYED || t->state == Q_TASK_LEASED ? t->due : 0;
    o->lease_token = t->token;
    o->last_error = "";
    if (t->state == Q_TASK_READY && t->due != 0) { /* released: due is its RETRY record */
        q_rec rec;
        q_prec pr;
        if (q_log_read(p->log, t->due, &rec) == 0 && rec.type == Q_RT_RETRY &&
            q_prec_decode(rec.type, rec.payload, rec.len, &pr) == 0 &&
            pr.cause == Q_CAUSE_RELEASED) {
            o->last_error = Q_RELEASED_WHY;
            o->last_error_len = (uint32_t)sizeof Q_RELEASED_WHY - 1;
        }
    }
    if (t->state == Q_TASK_DEAD && t->due != Q_OFF_NONE) {
        q_rec rec;
        q_prec pr;
        if (q_log_read(p->log, t->due, &rec) == 0 &&
            q_prec_decode(rec.type, rec.payload, rec.len, &pr) == 0) {
            o->last_error = pr.reason ? pr.reason : "";
            o->last_error_len = pr.reason_len;
        }
    }
    q_enq_rec er;
    int rc = q_task_read(p, t, &er);
    if (rc)
        return q_fail(err, Q_DATA_LOSS,
                      "task %" PRIu64 ": its record (offset %" PRIu64 ") cannot be read: %s", t->id,
                      t->rec, strerror(-rc));
    o->payload = er.payload;
    o->payload_len = er.payload_len;
    o->headers = er.headers;
    o->headers_len = er.headers_len;
    o->nheaders = er.nheaders;
    o->key = er.key;
    o->key_len = er.key_len;
    o->enqueued_ms = er.enqueued_ms;
    return Q_OK;
}

q_status q_part_get_task(q_part *p, uint64_t id, q_task_info *out, q_err *err)
{
    uint32_t slot = q_task_find(&p->tt, id);
    if (slot == Q_NIL) return q_fail(err, Q_NOT_FOUND, "task %" PRIu64 " not found", id);
    q_status st = q_task_fill_info(p, slot, out, err);
    return st ? st : q_ok(err);
}

/* Max-heap of ids (the page's largest on top), to keep the smallest max + 1 ids. */
static void idheap_push(uint64_t *h, uint32_t *n, uint64_t v)
{
    uint32_t i = (*n)++;
    while (i > 0 && h[(i - 1) / 2] < v) {
        h[i] = h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h[i] = v;
}

static void idheap_pop(uint64_t *h, uint32_t *n)
{
    uint64_t v = h[--(*n)];
    uint32_t i = 0;
    for (;;) {
        uint32_t c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && h[c + 1] > h[c]) c++;
        if (h[c] <= v) break;
        h[i] = h[c];
        i = c;
    }
    h[i] = v;
}

static int id_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

q_status q_part_list_dead(q_part *p, const char *name, size_t name_len, uint64_t from_id,
                          uint32_t max, q_task_info *out, uint32_t *n_out, bool *more, q_err *err)
{
    *n_out = 0;
    *more = false;
    q_queue *q;
    q_status st = find_queue(p, name, name_len, &q, err);
    if (st) return st;
    if (max == 0 || max > Q_PAGE_MAX)
        return q_fail(err, Q_INVALID_ARGUMENT, "page size %u; allowed 1..%u", max, Q_PAGE_MAX);
    /* The dead list is in death order; a page is the max smallest ids >= from_id, so
     * pages stay consistent while tasks are redriven or deleted in between. */
    uint64_t h[Q_PAGE_MAX + 1];
    uint32_t n = 0;
    for (uint32_t s = q->dead.head; s != Q_NIL; s = q_task_at(&p->tt, s)->next) {
        uint64_t id = q_task_at(&p->tt, s)->id;
        if (id < from_id) continue;
        if (n <= max) idheap_push(h, &n, id);
        else if (id < h[0]) {
            idheap_pop(h, &n);
            idheap_push(h, &n, id);
        }
    }
    qsort(h, n, sizeof h[0], id_cmp);
    *more = n > max;
    if (n > max) n = max;
    for (uint32_t i = 0; i < n; i++) {
        q_err ignore;
        q_task_fill_info(p, q_task_find(&p->tt, h[i]), &out[i],
                         &ignore); /* payload empty if lost */
    }
    *n_out = n;
    return q_ok(err);
}

q_status q_part_redrive(q_part *p, const char *name, size_t name_len, const uint64_t *ids,
                        uint32_t n, uint64_t now_ms, q_item *items, uint64_t *redriven,
                        uint64_t *commit_to, q_err *err)
{
    (void)now_ms;
    *commit_to = q_log_next(p->log);
    *redriven = 0;
    q_queue *q;
    q_status st = find_queue(p, name, name_len, &q, err);
    if (st) return st;
    if (n > Q_BATCH_MAX)
        return q_fail(err, Q_INVALID_ARGUMENT, "redrive takes at most %u ids, got %u", Q_BATCH_MAX,
                      n);
    uint64_t ok[Q_BATCH_MAX];
    uint32_t nok = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t s = q_task_find(&p->tt, ids[i]);
        items[i].code = Q_OK;
        items[i].why = NULL;
        if (s == Q_NIL || q_task_at(&p->tt, s)->queue != q->idx) {
            items[i].code = Q_NOT_FOUND;
            items[i].why = "no such task in this queue";
        } else if (q_task_at(&p->tt, s)->state != Q_TASK_DEAD) {
            items[i].code = Q_FAILED_PRECONDITION;
            items[i].why = "task is not dead";
        } else {
            ok[nok++] = ids[i];
        }
    }
    if (n == 0 ? q->n[Q_TASK_DEAD] == 0 : nok == 0) return q_ok(err);
    q_prec r = {.type = Q_RT_REDRIVE,
                .name = q->name,
                .name_len = q->name_len,
                .ids = (const uint8_t *)ok,
                .nids = nok};
    int64_t off = q_part_append(p, &r);
    if (off < 0) return q_fail_log(err, (int)off, "redrive");
    uint64_t k = 0;
    if (n == 0) {
        for (; q->dead.head != Q_NIL; k++) {
            q_task_at(&p->tt, q->dead.head)->attempts = 0;
            q_task_move(p, q->dead.head, Q_TASK_READY, 0);
            q->led.redriven++;
        }
    }
    for (uint32_t i = 0; i < nok; i++) {
        uint32_t s = q_task_find(&p->tt, ok[i]);
        if (q_task_at(&p->tt, s)->state != Q_TASK_DEAD) continue; /* listed twice */
        q_task_at(&p->tt, s)->attempts = 0;
        q_task_move(p, s, Q_TASK_READY, 0);
        q->led.redriven++;
        k++;
    }
    if (k) q_ledger_touch(q);
    *redriven = k;
    *commit_to = q_log_next(p->log);
    return q_ok(err);
}

q_status q_part_delete(q_part *p, uint64_t id, uint64_t now_ms, uint64_t *commit_to, q_err *err)
{
    (void)now_ms;
    *commit_to = q_log_next(p->log);
    uint32_t slot = q_task_find(&p->tt, id);
    if (slot == Q_NIL) return q_fail(err, Q_NOT_FOUND, "task %" PRIu64 " not found", id);
    q_prec r = {.type = Q_RT_DELETE, .id = id, .cause = Q_CAUSE_ADMIN};
    int64_t off = q_part_append(p, &r);
    if (off < 0) return q_fail_log(err, (int)off, "delete");
    const q_task *t = q_task_at(&p->tt, slot);
    q_ledger_removed(q_queue_of(p, t), (q_task_state)t->state, false);
    q_task_remove(p, slot);
    *commit_to = q_log_next(p->log);
    return q_ok(err);
}
