/* queue/q_part_peek: a read-only look at a queue's next tasks, in delivery order.
 *
 * Ready tasks are kept per priority in FIFO lists (q_part_int.h), which is the order
 * q_part_lease takes them in: walking the lists from the highest priority down IS delivery
 * order, and costs only the entries returned. Delayed tasks share one unordered list with
 * leased ones (their order is the partition-wide timer heap's); the earliest k by (due, id) —
 * the order q_part_tick makes them ready in — are picked with a bounded max-heap of k slots on
 * the stack, in one pass over that list. Nothing here changes the partition. */
#include <inttypes.h>
#include <string.h>

#include "queue/q_part_int.h"

/* (due, id): the key of the timer heap, so the order delayed tasks become ready in. */
static bool due_before(const q_task_tab *tt, uint32_t a, uint32_t b)
{
    const q_task *x = q_task_at(tt, a), *y = q_task_at(tt, b);
    return x->due < y->due || (x->due == y->due && x->id < y->id);
}

/* Max-heap of slots on (due, id): the latest of those kept is on top. */
static void heap_up(const q_task_tab *tt, uint32_t *h, uint32_t i)
{
    uint32_t v = h[i];
    while (i > 0 && due_before(tt, h[(i - 1) / 2], v)) {
        h[i] = h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h[i] = v;
}

static void heap_down(const q_task_tab *tt, uint32_t *h, uint32_t n, uint32_t i)
{
    uint32_t v = h[i];
    for (;;) {
        uint32_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && due_before(tt, h[c], h[c + 1])) c++;
        if (!due_before(tt, v, h[c])) break;
        h[i] = h[c];
        i = c;
    }
    h[i] = v;
}

/* The k (<= Q_PAGE_MAX) earliest delayed tasks of q, ascending by (due, id), into sel.
 * Returns how many. */
static uint32_t earliest_delayed(const q_part *p, const q_queue *q, uint32_t k, uint32_t *sel)
{
    const q_task_tab *tt = &p->tt;
    uint64_t left = q->n[Q_TASK_DELAYED]; /* stop once every delayed task was seen */
    uint32_t n = 0;
    for (uint32_t s = q->waiting.head; s != Q_NIL && left > 0 && k > 0;
         s = q_task_at(tt, s)->next) {
        if (q_task_at(tt, s)->state != Q_TASK_DELAYED) continue;
        left--;
        if (n < k) {
            sel[n] = s;
            heap_up(tt, sel, n++);
        } else if (due_before(tt, s, sel[0])) {
            sel[0] = s;
            heap_down(tt, sel, n, 0);
        }
    }
    /* Heap sort in place: the latest goes to the end, and so on. */
    for (uint32_t m = n; m > 1; m--) {
        uint32_t top = sel[0];
        sel[0] = sel[m - 1];
        sel[m - 1] = top;
        heap_down(tt, sel, m - 1, 0);
    }
    return n;
}

typedef struct peek_out {
    q_task_info *out;
    uint32_t n, max;
    size_t used, budget, per_task;
} peek_out;

/* Appends task `slot` if it fits the count and the byte budget (the first always fits).
 * false when it did not: the walk is over. */
static bool take(q_part *p, uint32_t slot, peek_out *po)
{
    if (po->n == po->max) return false;
    q_task_info *o = &po->out[po->n];
    q_err ignore;
    q_task_fill_info(p, slot, o, &ignore); /* unreadable record: listed without payload */
    size_t cost = (size_t)o->payload_len + o->headers_len + o->key_len + o->last_error_len +
                  po->per_task;
    if (po->n > 0 && (cost > po->budget || po->used > po->budget - cost)) return false;
    po->used += cost;
    po->n++;
    return true;
}

q_status q_part_peek(q_part *p, const char *name, size_t name_len, uint32_t states, uint32_t max,
                     size_t budget_bytes, size_t per_task_bytes, q_task_info *out, uint32_t *n_out,
                     bool *more, q_err *err)
{
    *n_out = 0;
    *more = false;
    q_status st = q_queue_name_check(name, name_len, err);
    if (st) return st;
    if (states == 0 || (states & ~(Q_PEEK_READY | Q_PEEK_DELAYED)))
        return q_fail(err, Q_INVALID_ARGUMENT, "peek states 0x%x; allowed: ready, delayed or both",
                      states);
    if (max == 0 || max > Q_PAGE_MAX)
        return q_fail(err, Q_INVALID_ARGUMENT, "peek takes 1..%u tasks, got %u", Q_PAGE_MAX, max);
    q_queue *q = q_queue_find(p, name, name_len);
    if (!q) return q_fail(err, Q_NOT_FOUND, "queue '%.*s' not found", (int)name_len, name);
    peek_out po = {.out = out, .max = max, .budget = budget_bytes, .per_task = per_task_bytes};
    uint64_t total = 0;
    bool open = true;
    if (states & Q_PEEK_READY) {
        total += q->n[Q_TASK_READY];
        for (int prio = (int)Q_PRIORITY_MAX; prio >= 0 && open; prio--) {
            if (!(q->ready_mask & (1u << prio))) continue;
            for (uint32_t s = q->ready[prio].head; s != Q_NIL && open;
                 s = q_task_at(&p->tt, s)->next)
                open = take(p, s, &po);
        }
    }
    if (states & Q_PEEK_DELAYED) {
        total += q->n[Q_TASK_DELAYED];
        if (open && po.n < max && q->n[Q_TASK_DELAYED] > 0) {
            uint32_t sel[Q_PAGE_MAX];
            uint32_t k = earliest_delayed(p, q, max - po.n, sel);
            for (uint32_t i = 0; i < k && open; i++) open = take(p, sel[i], &po);
        }
    }
    *n_out = po.n;
    *more = po.n < total;
    return q_ok(err);
}
