/* queue/q_part_queue: queues, the task state setter, wake-ups, rates, live-record pins. */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "core/rt_alloc.h"
#include "queue/q_part_int.h"

/* ---- queues ---- */

static uint32_t qslot_home(const char *name, size_t len, uint32_t nslots)
{
    return (uint32_t)XXH3_64bits(name, len) & (nslots - 1);
}

/* The slot of that name, deleted or not. */
static q_queue *queue_slot(q_part *p, const char *name, size_t len)
{
    q_queue *q = p->last_q;
    if (q && q->name_len == len && memcmp(q->name, name, len) == 0) return q;
    if (p->nqslots == 0) return NULL;
    for (uint32_t i = qslot_home(name, len, p->nqslots);; i = (i + 1) & (p->nqslots - 1)) {
        uint32_t qi = p->qslots[i];
        if (qi == Q_QNIL) return NULL;
        q = p->queues[qi];
        if (q->name_len == len && memcmp(q->name, name, len) == 0) return p->last_q = q;
    }
}

q_queue *q_queue_find(q_part *p, const char *name, size_t len)
{
    q_queue *q = queue_slot(p, name, len);
    return q && !q->deleted ? q : NULL;
}

/* A queue as new: default settings, no tasks, no figures (name, index and wake flag kept). */
static void queue_reset(q_queue *q)
{
    q->paused = false;
    q->deleted = false;
    q->ready_mask = 0;
    q_queue_cfg_default(&q->cfg);
    q->cfg_rec = Q_OFF_NONE;
    for (uint32_t i = 0; i < Q_PRIO_LEVELS; i++) q->ready[i].head = q->ready[i].tail = Q_NIL;
    q->waiting.head = q->waiting.tail = Q_NIL;
    q->dead.head = q->dead.tail = Q_NIL;
    memset(q->n, 0, sizeof q->n);
    q->enqueued_total = q->acked_total = q->nacked_total = q->expired_total = 0;
    q->dead_total = q->duplicates_total = 0;
    memset(&q->led, 0, sizeof q->led);
    q->led_rec = Q_OFF_NONE; /* unpinned by q_ledger_drop when the queue had one */
    q->led_since = Q_OFF_NONE;
    q->led_dirty = false;
    q->win_start_ms = q->win_enq0 = q->win_ack0 = 0;
    q->enq_rate = q->ack_rate = 0;
}

uint64_t q_queue_drop(q_part *p, q_queue *q)
{
    uint64_t k = 0;
    for (uint32_t i = 0; i < Q_PRIO_LEVELS; i++)
        for (; q->ready[i].head != Q_NIL; k++) q_task_remove(p, q->ready[i].head);
    for (; q->waiting.head != Q_NIL; k++) q_task_remove(p, q->waiting.head);
    for (; q->dead.head != Q_NIL; k++) q_task_remove(p, q->dead.head);
    if (q->cfg_rec != Q_OFF_NONE) q_pins_del(&p->pins, q->cfg_rec);
    q_ledger_drop(p, q); /* the new queue of that name starts its own ledger */
    /* Its keys: expired now (lookups ignore them; they leave from the ring's head in turn) and
     * unpinned, so compaction never writes a DEDUP record that would bring the queue back. */
    for (uint64_t s = p->dd.head; s < p->dd.tail; s++) {
        q_dedup_ent *e = &p->dd.ring[s & (p->dd.cap - 1)];
        if (e->queue != q->idx) continue;
        if (e->rec != Q_OFF_NONE) q_pins_del(&p->pins, e->rec);
        e->rec = Q_OFF_NONE;
        e->expiry_ms = Q_DEDUP_DROPPED;
    }
    queue_reset(q);
    q->deleted = true;
    return k;
}

static void qslots_put(uint32_t *slots, uint32_t nslots, const q_queue *q)
{
    uint32_t i = qslot_home(q->name, q->name_len, nslots);
    while (slots[i] != Q_QNIL) i = (i + 1) & (nslots - 1);
    slots[i] = q->idx;
}

/* Room for one more queue: the arrays double, the name index doubles past load 1/2 (rebuilt).
 * 0 or -ENOMEM with nothing lost (a grown array keeps its contents). */
static int queues_room(q_part *p)
{
    if (p->nqueues == p->queues_cap) {
        uint32_t cap = p->queues_cap ? 2 * p->queues_cap : Q_QUEUES_CAP_MIN;
        if (cap > Q_PART_QUEUES_MAX) cap = Q_PART_QUEUES_MAX;
        q_queue **a = rt_realloc(p->queues, (size_t)cap * sizeof *a);
        if (!a) return -ENOMEM;
        p->queues = a;
        q_queue **b = rt_realloc(p->by_name, (size_t)cap * sizeof *b);
        if (!b) return -ENOMEM;
        p->by_name = b;
        p->queues_cap = cap;
    }
    if (2 * (p->nqueues + 1) > p->nqslots) {
        uint32_t n = p->nqslots ? 2 * p->nqslots : Q_QSLOTS_MIN;
        uint32_t *slots = rt_malloc((size_t)n * sizeof *slots);
        if (!slots) return -ENOMEM;
        memset(slots, 0xff, (size_t)n * sizeof *slots);
        for (uint32_t k = 0; k < p->nqueues; k++) qslots_put(slots, n, p->queues[k]);
        rt_free(p->qslots);
        p->qslots = slots;
        p->nqslots = n;
    }
    return 0;
}

q_status q_queue_get(q_part *p, const char *name, size_t len, q_queue **out, q_err *err)
{
    q_queue *q = queue_slot(p, name, len);
    if (q) {
        if (q->deleted) queue_reset(q);
        *out = q;
        return Q_OK;
    }
    uint32_t max = p->replaying ? Q_PART_QUEUES_MAX : p->opts.queues_max;
    if (p->nqueues >= max)
        return q_fail(err, Q_RESOURCE_EXHAUSTED, "partition %u already holds %u queues, the limit",
                      p->no, max);
    if (queues_room(p) || !(q = rt_calloc(1, sizeof *q)))
        return q_fail(err, Q_RESOURCE_EXHAUSTED, "out of memory for a new queue");
    memcpy(q->name, name, len);
    q->name_len = (uint16_t)len;
    q->idx = p->nqueues;
    queue_reset(q);
    p->queues[p->nqueues] = q;
    p->by_name[p->nqueues] = q; /* sorted in by q_part_list_queues */
    p->nqueues++;
    qslots_put(p->qslots, p->nqslots, q);
    *out = q;
    return Q_OK;
}

void q_queues_free(q_part *p)
{
    for (uint32_t i = 0; i < p->nqueues; i++) rt_free(p->queues[i]);
    rt_free(p->queues);
    rt_free(p->by_name);
    rt_free(p->qslots);
    p->queues = p->by_name = NULL;
    p->qslots = NULL;
    p->last_q = NULL;
    p->nqueues = p->nsorted = p->queues_cap = p->nqslots = 0;
}

uint32_t q_task_max_attempts(const q_part *p, const q_task *t)
{
    return t->max_attempts ? t->max_attempts : p->queues[t->queue]->cfg.max_attempts;
}

uint32_t q_task_lease_ms(const q_part *p, const q_task *t, uint32_t req_lease_ms)
{
    if (t->lease_ms) return t->lease_ms;
    return req_lease_ms ? req_lease_ms : p->queues[t->queue]->cfg.lease_ms;
}

bool q_queue_leasable(const q_part *p, const q_queue *q)
{
    if (!p->opts.ready_when_durable) return q->ready_mask != 0;
    uint64_t durable = q_log_durable(p->log);
    for (uint32_t m = q->ready_mask; m; m &= m - 1) {
        uint32_t prio = (uint32_t)__builtin_ctz(m);
        if (q_task_at(&p->tt, q->ready[prio].head)->id < durable) return true;
    }
    return false;
}

void q_queue_wake(q_part *p, q_queue *q)
{
    if (p->replaying || q->paused || q->wake_pending || q->n[Q_TASK_READY] == 0) return;
    q->wake_pending = true;
    q->wake_next = NULL;
    if (p->wake_tail) p->wake_tail->wake_next = q;
    else p->wake_head = q;
    p->wake_tail = q;
}

/* ---- lists ---- */

static void list_push(q_task_tab *tt, q_list *l, uint32_t slot)
{
    q_task *t = q_task_at(tt, slot);
    t->next = Q_NIL;
    t->prev = l->tail;
    if (l->tail != Q_NIL) q_task_at(tt, l->tail)->next = slot;
    else l->head = slot;
    l->tail = slot;
}

static void list_unlink(q_task_tab *tt, q_list *l, uint32_t slot)
{
    q_task *t = q_task_at(tt, slot);
    if (t->prev != Q_NIL) q_task_at(tt, t->prev)->next = t->next;
    else l->head = t->next;
    if (t->next != Q_NIL) q_task_at(tt, t->next)->prev = t->prev;
    else l->tail = t->prev;
    t->next = t->prev = Q_NIL;
}

uint64_t q_part_purge_tasks(q_part *p, q_queue *q)
{
    uint64_t k = 0;
    for (uint32_t i = 0; i < Q_PRIO_LEVELS; i++)
        for (; q->ready[i].head != Q_NIL; k++) {
            q_ledger_removed(q, Q_TASK_READY, true);
            q_task_remove(p, q->ready[i].head);
        }
    for (; q->waiting.head != Q_NIL; k++) {
        q_ledger_removed(q, (q_task_state)q_task_at(&p->tt, q->waiting.head)->state, true);
        q_task_remove(p, q->waiting.head);
    }
    for (; q->dead.head != Q_NIL; k++) {
        q_ledger_removed(q, Q_TASK_DEAD, true);
        q_task_remove(p, q->dead.head);
    }
    return k;
}

static void unlink_task(q_part *p, q_queue *q, uint32_t slot)
{
    q_task *t = q_task_at(&p->tt, slot);
    switch ((q_task_state)t->state) {
    case Q_TASK_READY:
        list_unlink(&p->tt, &q->ready[t->prio], slot);
        if (q->ready[t->prio].head == Q_NIL) q->ready_mask &= (uint16_t) ~(1u << t->prio);
        break;
    case Q_TASK_DELAYED:
    case Q_TASK_LEASED:
        list_unlink(&p->tt, &q->waiting, slot);
        q_heap_remove(&p->tt, slot);
        break;
    case Q_TASK_DEAD: list_unlink(&p->tt, &q->dead, slot); break;
    case Q_TASK_GONE: return;
    }
    assert(q->n[t->state] > 0);
    q->n[t->state]--;
}

void q_task_move(q_part *p, uint32_t slot, q_task_state to, uint64_t due)
{
    q_task *t = q_task_at(&p->tt, slot);
    q_queue *q = p->queues[t->queue];
    q_task_state from = (q_task_state)t->state;
    /* A new task starts READY or DELAYED; READY and DEAD are never re-entered from themselves
     * (a caller doing so lost track of the state); a wait may be re-armed (new due). */
    assert(to != Q_TASK_GONE);
    assert(from != Q_TASK_GONE || to == Q_TASK_READY || to == Q_TASK_DELAYED);
    assert(from != to || to == Q_TASK_DELAYED || to == Q_TASK_LEASED);
    unlink_task(p, q, slot);
    t->state = (uint8_t)to;
    q->n[to]++;
    switch (to) {
    case Q_TASK_READY:
        t->due = 0;
        list_push(&p->tt, &q->ready[t->prio], slot);
        q->ready_mask |= (uint16_t)(1u << t->prio);
        if (t->id + 1 > q->wake_durable) q->wake_durable = t->id + 1;
        q_queue_wake(p, q);
        break;
    case Q_TASK_DELAYED:
    case Q_TASK_LEASED:
        t->due = due;
        list_push(&p->tt, &q->waiting, slot);
        q_heap_push(&p->tt, slot);
        break;
    case Q_TASK_DEAD:
        t->due = due;
        list_push(&p->tt, &q->dead, slot);
        break;
    case Q_TASK_GONE: break;
    }
}

void q_task_remove(q_part *p, uint32_t slot)
{
    q_task *t = q_task_at(&p->tt, slot);
    unlink_task(p, p->queues[t->queue], slot);
    q_pins_del(&p->pins, t->rec);
    q_task_free(&p->tt, slot);
}

/* ---- figures ---- */

void q_queue_rates(q_queue *q, uint64_t now_ms)
{
    if (q->win_start_ms == 0 || now_ms < q->win_start_ms) {
        q->win_start_ms = now_ms ? now_ms : 1;
        q->win_enq0 = q->enqueued_total;
        q->win_ack0 = q->acked_total;
        return;
    }
    uint64_t dt = now_ms - q->win_start_ms;
    if (dt < Q_RATE_WINDOW_MS) return;
    q->enq_rate = (double)(q->enqueued_total - q->win_enq0) * 1000.0 / (double)dt;
    q->ack_rate = (double)(q->acked_total - q->win_ack0) * 1000.0 / (double)dt;
    q->win_start_ms = now_ms;
    q->win_enq0 = q->enqueued_total;
    q->win_ack0 = q->acked_total;
}

void q_queue_fill_info(q_part *p, q_queue *q, uint64_t now_ms, q_queue_info *o)
{
    (void)p;
    q_queue_rates(q, now_ms);
    memset(o, 0, sizeof *o);
    o->name = q->name;
    o->name_len = q->name_len;
    o->paused = q->paused;
    o->cfg = q->cfg;
    o->ready = q->n[Q_TASK_READY];
    o->delayed = q->n[Q_TASK_DELAYED];
    o->leased = q->n[Q_TASK_LEASED];
    o->dead = q->n[Q_TASK_DEAD];
    o->enqueued_total = q->enqueued_total;
    o->acked_total = q->acked_total;
    o->nacked_total = q->nacked_total;
    o->expired_total = q->expired_total;
    o->dead_total = q->dead_total;
    o->duplicates_total = q->duplicates_total;
    o->enqueue_rate = q->enq_rate;
    o->ack_rate = q->ack_rate;
}

/* ---- pins ---- */

int q_pins_init(q_pins *pn, uint32_t shift)
{
    memset(pn, 0, sizeof *pn);
    pn->shift = shift;
    return 0;
}

void q_pins_deinit(q_pins *pn) { rt_free(pn->cnt); }

static int pins_room(q_pins *pn, uint32_t len)
{
    if (len <= pn->cap) return 0;
    uint32_t cap = pn->cap ? pn->cap : 64;
    while (cap < len) cap *= 2;
    uint32_t *c = rt_realloc(pn->cnt, (size_t)cap * sizeof *c);
    if (!c) return -ENOMEM;
    pn->cnt = c;
    pn->cap = cap;
    return 0;
}

int q_pins_reserve(q_pins *pn, uint64_t lo, uint64_t hi)
{
    uint64_t blo = lo >> pn->shift, bhi = hi >> pn->shift;
    if (pn->len == 0) pn->base = blo;
    if (blo < pn->base) {
        uint64_t add = pn->base - blo;
        if (add + pn->len > UINT32_MAX / 2 || pins_room(pn, (uint32_t)(add + pn->len)))
            return -ENOMEM;
        memmove(pn->cnt + add, pn->cnt, (size_t)pn->len * sizeof *pn->cnt);
        memset(pn->cnt, 0, (size_t)add * sizeof *pn->cnt);
        pn->len += (uint32_t)add;
        pn->base = blo;
    }
    if (bhi >= pn->base + pn->len) {
        uint64_t len = bhi - pn->base + 1;
        if (len > UINT32_MAX / 2 || pins_room(pn, (uint32_t)len)) return -ENOMEM;
        memset(pn->cnt + pn->len, 0, (size_t)(len - pn->len) * sizeof *pn->cnt);
        pn->len = (uint32_t)len;
    }
    return 0;
}

void q_pins_add(q_pins *pn, uint64_t off)
{
    uint64_t b = off >> pn->shift;
    assert(b >= pn->base && b < pn->base + pn->len);
    pn->cnt[b - pn->base]++;
    pn->total++;
}

void q_pins_del(q_pins *pn, uint64_t off)
{
    uint64_t b = off >> pn->shift;
    assert(b >= pn->base && b < pn->base + pn->len && pn->cnt[b - pn->base] > 0);
    pn->cnt[b - pn->base]--;
    pn->total--;
}

uint64_t q_pins_low(const q_pins *pn, uint64_t none)
{
    if (pn->total == 0) return none;
    for (uint32_t i = 0; i < pn->len; i++)
        if (pn->cnt[i]) return (pn->base + i) << pn->shift;
    return none;
}

uint64_t q_pins_below(const q_pins *pn, uint64_t off)
{
    uint64_t n = 0;
    for (uint32_t i = 0; i < pn->len && ((pn->base + i) << pn->shift) < off; i++) n += pn->cnt[i];
    return n;
}

void q_pins_trim(q_pins *pn)
{
    uint32_t k = 0;
    while (k < pn->len && pn->cnt[k] == 0) k++;
    if (k == 0) return;
    memmove(pn->cnt, pn->cnt + k, (size_t)(pn->len - k) * sizeof *pn->cnt);
    pn->len -= k;
    pn->base += k;
}
