/* worker/wk_mesh: the cross-shard mailbox. See wk_mesh.h for the model and the flag protocols.
 *
 * Memory layout: endpoints are an array of cache-line-aligned structs; lanes are a flat array
 * indexed from * n_shards + to. Every lane is an SPSC ring plus a `want_space` flag on its own
 * line and the sender's private backlog on another, so the receiver's polling never shares a
 * line with state the sender writes on every send. */
#include "core/rt_alloc.h"
#include "worker/wk_mesh.h"

#include <errno.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/rt_clock.h"
#include "core/rt_log.h"
#include "worker/wk_atomic.h"
#include "worker/wk_park.h"
#include "worker/wk_spsc.h"

typedef struct wk_lane {
    wk_spsc ring;
    /* Set by the sender when it has parked nodes; cleared by the receiver that freed room (and
     * then wakes the sender). Its own line: the receiver reads it after every pop. */
    alignas(WK_CACHE_LINE_BYTES) _Atomic uint32_t want_space;
    /* Sender-private. */
    alignas(WK_CACHE_LINE_BYTES) wk_msg_node *bl_head; /* parked nodes, FIFO */
    wk_msg_node *bl_tail;
    bool in_dirty;   /* listed in the sender's dirty list */
    bool wake_check; /* published since the last wake check */
} wk_lane;

typedef struct wk_ep {
    /* 1 while the owner may be blocked; other threads exchange it to 0 before waking it. Also
     * the futex word of thread endpoints. */
    alignas(WK_CACHE_LINE_BYTES) _Atomic uint32_t sleeping;
    /* Read-only once threads run (read by other threads when they wake this endpoint). */
    alignas(WK_CACHE_LINE_BYTES) wk_wake_fn wake;
    void *wake_ctx;
    /* Owner-private. */
    alignas(WK_CACHE_LINE_BYTES) uint16_t *dirty; /* shards with staged or parked messages */
    uint32_t ndirty;
    uint32_t poll_next; /* first sender lane of the next poll (round robin) */
    wk_mesh_stats st;
} wk_ep;

struct wk_mesh {
    int n_shards;
    int n_ep;
    uint32_t lane_cap;
    uint64_t spin_ns;
    uint64_t busy_spin_ns;
    wk_ep *ep;
    wk_lane *lanes;
    uint16_t *dirty_store;
};

static inline wk_lane *lane_of(wk_mesh *m, int from, int to)
{
    return &m->lanes[(size_t)from * (size_t)m->n_shards + (size_t)to];
}

static inline bool valid_pair(const wk_mesh *m, int from, int to)
{
    return from >= 0 && from < m->n_ep && to >= 0 && to < m->n_shards;
}

int wk_mesh_create(const wk_mesh_opts *o, wk_mesh **out)
{
    *out = NULL;
    if (!o || o->n_shards < 1 || o->n_shards > RT_SHARDS_MAX || o->n_threads < 0 ||
        o->n_shards + o->n_threads > WK_MESH_ENDPOINTS_MAX || o->spin_ns > WK_MESH_SPIN_NS_MAX ||
        o->busy_spin_ns > WK_MESH_SPIN_NS_MAX)
        return -EINVAL;
    uint32_t cap = o->lane_cap ? o->lane_cap : WK_MESH_LANE_CAP_DEFAULT;
    if (cap < 2 || (cap & (cap - 1)) != 0 || cap > WK_SPSC_CAP_MAX) return -EINVAL;

    wk_mesh *m = rt_calloc(1, sizeof *m);
    if (!m) return -ENOMEM;
    m->n_shards = o->n_shards;
    m->n_ep = o->n_shards + o->n_threads;
    m->lane_cap = cap;
    m->spin_ns = o->spin_ns;
    m->busy_spin_ns = o->busy_spin_ns;
    size_t nl = (size_t)m->n_ep * (size_t)m->n_shards;
    m->ep = rt_aligned_alloc(WK_CACHE_LINE_BYTES, sizeof(wk_ep) * (size_t)m->n_ep);
    m->lanes = rt_aligned_alloc(WK_CACHE_LINE_BYTES, sizeof(wk_lane) * nl);
    m->dirty_store = rt_calloc((size_t)m->n_ep * (size_t)m->n_shards, sizeof(uint16_t));
    if (!m->ep || !m->lanes || !m->dirty_store) goto nomem;
    memset(m->ep, 0, sizeof(wk_ep) * (size_t)m->n_ep);
    memset(m->lanes, 0, sizeof(wk_lane) * nl);
    for (int i = 0; i < m->n_ep; i++) {
        m->ep[i].dirty = m->dirty_store + (size_t)i * (size_t)m->n_shards;
        /* Relaxed: before any thread uses the mesh. */
        atomic_store_explicit(&m->ep[i].sleeping, 0, memory_order_relaxed);
    }
    for (size_t i = 0; i < nl; i++) {
        if (wk_spsc_init(&m->lanes[i].ring, cap, sizeof(wk_msg)) < 0) {
            for (size_t j = 0; j < i; j++) wk_spsc_deinit(&m->lanes[j].ring);
            goto nomem;
        }
        atomic_store_explicit(&m->lanes[i].want_space, 0, memory_order_relaxed);
    }
    *out = m;
    return 0;
nomem:
    rt_free(m->ep);
    rt_free(m->lanes);
    rt_free(m->dirty_store);
    rt_free(m);
    return -ENOMEM;
}

void wk_mesh_destroy(wk_mesh *m)
{
    if (!m) return;
    size_t nl = (size_t)m->n_ep * (size_t)m->n_shards;
    for (size_t i = 0; i < nl; i++) wk_spsc_deinit(&m->lanes[i].ring);
    rt_free(m->ep);
    rt_free(m->lanes);
    rt_free(m->dirty_store);
    rt_free(m);
}

int wk_mesh_shards(const wk_mesh *m) { return m->n_shards; }
int wk_mesh_endpoints(const wk_mesh *m) { return m->n_ep; }
uint64_t wk_mesh_spin_ns(const wk_mesh *m) { return m->spin_ns; }
uint64_t wk_mesh_busy_spin_ns(const wk_mesh *m) { return m->busy_spin_ns; }

int wk_mesh_set_waker(wk_mesh *m, int ep, wk_wake_fn fn, void *ctx)
{
    if (ep < 0 || ep >= m->n_ep) return -EINVAL;
    m->ep[ep].wake = fn;
    m->ep[ep].wake_ctx = ctx;
    return 0;
}

void wk_mesh_get_stats(const wk_mesh *m, int ep, wk_mesh_stats *out) { *out = m->ep[ep].st; }

bool wk_mesh_asleep(const wk_mesh *m, int ep)
{
    /* Relaxed: an observation for tests and stats; nothing is read on the strength of it. */
    return atomic_load_explicit(&m->ep[ep].sleeping, memory_order_relaxed) == 1;
}

/* ---- wake-ups ---- */

/* Wakes `to` if it may be asleep. The caller has issued a seq_cst fence after the store that
 * `to` must see (a tail or a head), so reading `sleeping` here is the second half of the
 * Dekker pair with wk_mesh_sleep_begin(). */
static void wake_if_sleeping(wk_mesh *m, int from, int to)
{
    if (from == to) return; /* we are running: our own sleep_begin re-checks */
    wk_ep *t = &m->ep[to];
    /* Relaxed load first: avoids the RMW (a cache-line steal) in the common awake case; the
     * fence before the caller's call orders it. */
    if (atomic_load_explicit(&t->sleeping, memory_order_relaxed) == 0) return;
    /* Relaxed exchange: it only elects the one sender that pays for this sleep's wake-up; the
     * data was published by the release store before the fence. */
    if (atomic_exchange_explicit(&t->sleeping, 0, memory_order_relaxed) == 0) return;
    m->ep[from].st.wakes++;
    int r;
    if (t->wake) {
        r = t->wake(m, to, m->ep[from].wake_ctx, t->wake_ctx);
    } else {
        wk_futex_wake(&t->sleeping, 1);
        r = 0;
    }
    if (r < 0) {
        /* Put the flag back so the next sender's flush tries the wake-up again. Relaxed: a
         * retry hint, ordered by that sender's own fence. */
        atomic_store_explicit(&t->sleeping, 1, memory_order_relaxed);
        log_error("mesh wake-up failed", "from=%d to=%d err=%d", from, to, r);
    }
}

static void publish_and_wake(wk_mesh *m, int from, int to, wk_lane *l)
{
    wk_spsc_publish(&l->ring);
    l->wake_check = false;
    /* seq_cst fence: orders the tail store before the read of the receiver's `sleeping` (the
     * sender half of the sleep protocol in wk_mesh.h). */
    wk_fence_seq_cst();
    wake_if_sleeping(m, from, to);
}

/* ---- sending ---- */

static void mark_dirty(wk_ep *e, wk_lane *l, int to)
{
    if (l->in_dirty) return;
    l->in_dirty = true;
    e->dirty[e->ndirty++] = (uint16_t)to;
}

int wk_mesh_send(wk_mesh *m, int from, int to, const wk_msg *msg)
{
    if (!valid_pair(m, from, to) || !msg->fn) return -EINVAL;
    wk_ep *e = &m->ep[from];
    wk_lane *l = lane_of(m, from, to);
    wk_msg c = *msg;
    c.from = (uint32_t)from;
    if (l->bl_head || wk_spsc_stage_sized(&l->ring, &c, 1, sizeof c) != 1) {
        e->st.full++;
        /* Let the receiver start on what is staged so room appears soon. */
        if (wk_spsc_staged(&l->ring)) publish_and_wake(m, from, to, l);
        return -EAGAIN;
    }
    e->st.sent++;
    if (to != from) e->st.cross++;
    mark_dirty(e, l, to);
    if (wk_spsc_staged(&l->ring) >= WK_MESH_PUBLISH_BATCH) publish_and_wake(m, from, to, l);
    return 0;
}

void wk_mesh_send_node(wk_mesh *m, int from, int to, wk_msg_node *node)
{
    wk_ep *e = &m->ep[from];
    wk_lane *l = lane_of(m, from, to);
    node->msg.from = (uint32_t)from;
    mark_dirty(e, l, to);
    if (!l->bl_head && wk_spsc_stage_sized(&l->ring, &node->msg, 1, sizeof(wk_msg)) == 1) {
        e->st.sent++;
        if (to != from) e->st.cross++;
        if (wk_spsc_staged(&l->ring) >= WK_MESH_PUBLISH_BATCH) publish_and_wake(m, from, to, l);
        return;
    }
    e->st.full++;
    node->next = NULL;
    if (l->bl_tail) l->bl_tail->next = node;
    else l->bl_head = node;
    l->bl_tail = node;
    if (wk_spsc_staged(&l->ring)) publish_and_wake(m, from, to, l);
}

/* Moves parked nodes into the lane while it has room. */
static void move_backlog(wk_ep *e, wk_lane *l)
{
    while (l->bl_head && wk_spsc_stage_sized(&l->ring, &l->bl_head->msg, 1, sizeof(wk_msg)) == 1) {
        e->st.sent++;
        l->bl_head = l->bl_head->next;
    }
    if (!l->bl_head) l->bl_tail = NULL;
}

unsigned wk_mesh_flush(wk_mesh *m, int from)
{
    wk_ep *e = &m->ep[from];
    if (e->ndirty == 0) return 0;
    /* Pass 1: move parked nodes, publish, arm want_space where nodes remain. */
    for (uint32_t i = 0; i < e->ndirty; i++) {
        wk_lane *l = lane_of(m, from, e->dirty[i]);
        move_backlog(e, l);
        if (wk_spsc_staged(&l->ring)) {
            wk_spsc_publish(&l->ring);
            l->wake_check = true;
        }
        /* Relaxed: ordered before our later room re-check by the fence below / in sleep_begin. */
        if (l->bl_head) atomic_store_explicit(&l->want_space, 1, memory_order_relaxed);
    }
    /* seq_cst fence: orders the tail stores and want_space stores above before the reads of
     * receivers' `sleeping` below (sender half of the sleep protocol). */
    wk_fence_seq_cst();
    /* Pass 2: wake sleepers, keep only lanes that still hold parked nodes. */
    unsigned parked = 0;
    uint32_t keep = 0;
    for (uint32_t i = 0; i < e->ndirty; i++) {
        int to = e->dirty[i];
        wk_lane *l = lane_of(m, from, to);
        if (l->wake_check) {
            l->wake_check = false;
            wake_if_sleeping(m, from, to);
        }
        if (l->bl_head) {
            e->dirty[keep++] = (uint16_t)to;
            parked++;
        } else {
            l->in_dirty = false;
        }
    }
    e->ndirty = keep;
    return parked;
}

int wk_mesh_send_wait(wk_mesh *m, int from, int to, const wk_msg *msg)
{
    if (!valid_pair(m, from, to)) return -EINVAL;
    wk_ep *e = &m->ep[from];
    wk_lane *l = lane_of(m, from, to);
    for (;;) {
        wk_mesh_flush(m, from);
        int r = wk_mesh_send(m, from, to, msg);
        if (r == 0) {
            wk_mesh_flush(m, from);
            return 0;
        }
        if (r != -EAGAIN) return r;
        /* Full: arm the lane, announce the sleep, fence, re-check room (sender half of the
         * backpressure protocol; the receiver stores head, fences, reads want_space). Relaxed
         * stores: ordered by the fence. */
        atomic_store_explicit(&l->want_space, 1, memory_order_relaxed);
        atomic_store_explicit(&e->sleeping, 1, memory_order_relaxed);
        e->st.sleeps++;
        wk_fence_seq_cst();
        if (wk_spsc_writable(&l->ring)) {
            atomic_store_explicit(&e->sleeping, 0, memory_order_relaxed);
            continue;
        }
        /* Relaxed: the flag only ends the wait; the room itself is re-read by wk_spsc_stage with
         * its own acquire load of head. */
        while (atomic_load_explicit(&e->sleeping, memory_order_relaxed) == 1)
            wk_futex_wait(&e->sleeping, 1);
    }
}

/* ---- receiving ---- */

/* After freeing slots on lane (from, self): wakes the sender if it waits for room. */
static void space_check(wk_mesh *m, int self, int from, wk_lane *l)
{
    /* seq_cst fence: orders our head store (in pop) before the read of want_space (receiver half
     * of the backpressure protocol). */
    wk_fence_seq_cst();
    /* Relaxed: ordered by the fence; the exchange elects one waker. */
    if (atomic_load_explicit(&l->want_space, memory_order_relaxed) == 0) return;
    if (atomic_exchange_explicit(&l->want_space, 0, memory_order_relaxed) == 0) return;
    wake_if_sleeping(m, self, from);
}

unsigned wk_mesh_poll_for(wk_mesh *m, int self, unsigned budget, uint64_t ns_max)
{
    if (budget == 0) budget = WK_MESH_POLL_BUDGET_DEFAULT;
    wk_ep *e = &m->ep[self];
    wk_msg buf[WK_MESH_POP_BATCH];
    /* Timed: smaller pops, so the clock is read after at most WK_MESH_POP_BATCH_TIMED messages
     * (popped messages are copies that must all run). */
    unsigned batch = ns_max ? WK_MESH_POP_BATCH_TIMED : WK_MESH_POP_BATCH;
    uint64_t start = ns_max ? rt_now_ns() : 0;
    unsigned n = 0;
    bool progress = true, late = false;
    while (progress && n < budget && !late) {
        progress = false;
        for (int k = 0; k < m->n_ep && n < budget && !late; k++) {
            int from = (int)((e->poll_next + (uint32_t)k) % (uint32_t)m->n_ep);
            wk_lane *l = lane_of(m, from, self);
            unsigned want = budget - n < batch ? budget - n : batch;
            uint32_t got = wk_spsc_pop_sized(&l->ring, buf, want, sizeof(wk_msg));
            if (!got) continue;
            progress = true;
            space_check(m, self, from, l);
            e->st.received += got;
            if (from != self) e->st.cross += got;
            n += got;
            for (uint32_t i = 0; i < got; i++) buf[i].fn(m, self, &buf[i]);
            late = ns_max && rt_now_ns() - start >= ns_max;
        }
    }
    if (late && wk_mesh_pending(m, self)) e->st.polls_late++;
    e->poll_next = (e->poll_next + 1) % (uint32_t)m->n_ep;
    return n;
}

unsigned wk_mesh_poll(wk_mesh *m, int self, unsigned budget)
{
    return wk_mesh_poll_for(m, self, budget, 0);
}

bool wk_mesh_pending(wk_mesh *m, int self)
{
    for (int from = 0; from < m->n_ep; from++)
        if (wk_spsc_readable(&lane_of(m, from, self)->ring)) return true;
    return false;
}

/* ---- sleeping ---- */

bool wk_mesh_sleep_begin(wk_mesh *m, int self)
{
    wk_ep *e = &m->ep[self];
    /* Relaxed store, then a seq_cst fence before the re-checks: the receiver half of the sleep
     * protocol (and the sender half of the backpressure one). */
    atomic_store_explicit(&e->sleeping, 1, memory_order_relaxed);
    e->st.sleeps++;
    wk_fence_seq_cst();
    if (self < m->n_shards && wk_mesh_pending(m, self)) goto busy;
    for (uint32_t i = 0; i < e->ndirty; i++) {
        wk_lane *l = lane_of(m, self, e->dirty[i]);
        /* Staged but unpublished (caller skipped flush), or parked nodes that now fit. */
        if (wk_spsc_staged(&l->ring) || (l->bl_head && wk_spsc_writable(&l->ring))) goto busy;
    }
    return true;
busy:
    /* Relaxed: we are awake; a sender that still sees 1 only sends one spare wake-up. */
    atomic_store_explicit(&e->sleeping, 0, memory_order_relaxed);
    return false;
}

void wk_mesh_sleep_end(wk_mesh *m, int self)
{
    /* Relaxed: only suppresses wake-ups; no data hangs on it. */
    atomic_store_explicit(&m->ep[self].sleeping, 0, memory_order_relaxed);
}

void wk_mesh_wait(wk_mesh *m, int self)
{
    wk_ep *e = &m->ep[self];
    wk_mesh_flush(m, self);
    if (!wk_mesh_sleep_begin(m, self)) return;
    /* Relaxed: the futex re-reads the word; messages are ordered by the lanes' own acquire. */
    while (atomic_load_explicit(&e->sleeping, memory_order_relaxed) == 1)
        wk_futex_wait(&e->sleeping, 1);
    wk_mesh_sleep_end(m, self);
}
