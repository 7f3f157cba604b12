/* core/ev_timers: the reactor's timer heap (ev_timers.h). */
#include "core/ev_timers.h"

#include <errno.h>

#include "core/rt_alloc.h"

void ev_timers_deinit(ev_timers *ts)
{
    rt_free(ts->heap);
    *ts = (ev_timers){0};
}

static void heap_swap(ev_timers *ts, uint32_t a, uint32_t b)
{
    ev_timer *t = ts->heap[a];
    ts->heap[a] = ts->heap[b];
    ts->heap[b] = t;
    ts->heap[a]->heap_idx = a;
    ts->heap[b]->heap_idx = b;
}

static void heap_up(ev_timers *ts, uint32_t i)
{
    while (i > 0) {
        uint32_t p = (i - 1) / 2;
        if (ts->heap[p]->deadline_ns <= ts->heap[i]->deadline_ns) break;
        heap_swap(ts, i, p);
        i = p;
    }
}

static void heap_down(ev_timers *ts, uint32_t i)
{
    for (;;) {
        uint32_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < ts->len && ts->heap[l]->deadline_ns < ts->heap[m]->deadline_ns) m = l;
        if (r < ts->len && ts->heap[r]->deadline_ns < ts->heap[m]->deadline_ns) m = r;
        if (m == i) break;
        heap_swap(ts, i, m);
        i = m;
    }
}

void ev_timer_init(ev_timer *t, ev_timer_cb cb, void *ud)
{
    t->cb = cb;
    t->ud = ud;
    t->deadline_ns = 0;
    t->heap_idx = UINT32_MAX;
}

void ev_timers_stop(ev_timers *ts, ev_timer *t)
{
    uint32_t i = t->heap_idx;
    if (i == UINT32_MAX) return;
    t->heap_idx = UINT32_MAX;
    ts->len--;
    if (i == ts->len) return;
    ts->heap[i] = ts->heap[ts->len];
    ts->heap[i]->heap_idx = i;
    heap_up(ts, i);
    heap_down(ts, ts->heap[i]->heap_idx);
}

int ev_timers_start(ev_timers *ts, ev_timer *t, uint64_t deadline_ns, uint64_t now_ns)
{
    /* A timer (re)armed into the past from a timer callback fires at the next iteration, not in
     * this pass: one bad re-arm cannot spin the loop without it ever doing I/O. */
    if (ts->running && deadline_ns <= now_ns) deadline_ns = now_ns + 1;
    if (t->heap_idx != UINT32_MAX) {
        uint64_t old = t->deadline_ns;
        t->deadline_ns = deadline_ns;
        if (deadline_ns < old) heap_up(ts, t->heap_idx);
        else heap_down(ts, t->heap_idx);
        return 0;
    }
    if (ts->len == ts->cap) {
        uint32_t ncap = ts->cap ? ts->cap * 2 : 64;
        ev_timer **nh = rt_realloc(ts->heap, ncap * sizeof *nh);
        if (!nh) return -ENOMEM;
        ts->heap = nh;
        ts->cap = ncap;
    }
    t->deadline_ns = deadline_ns;
    t->heap_idx = ts->len;
    ts->heap[ts->len++] = t;
    heap_up(ts, t->heap_idx);
    return 0;
}

int ev_timers_run(ev_timers *ts, ev_loop *loop, uint64_t now_ns)
{
    int n = 0;
    ts->running = true;
    while (ts->len > 0 && ts->heap[0]->deadline_ns <= now_ns) {
        ev_timer *t = ts->heap[0];
        ev_timers_stop(ts, t);
        t->cb(loop, t);
        n++;
    }
    ts->running = false;
    return n;
}
