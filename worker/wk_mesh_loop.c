/* worker/wk_mesh_loop: the glue between a mesh shard and its ev_loop. See wk_mesh_loop.h. */
#include "worker/wk_mesh_loop.h"

#include <errno.h>

#include "core/rt_clock.h"
#include "worker/wk_atomic.h"

/* Waker for loop shards: MSG_RING from the sender's loop (from_ctx), eventfd when NULL. */
static int loop_wake(wk_mesh *m, int to, void *from_ctx, void *to_ctx)
{
    return ev_loop_wake_from((ev_loop *)from_ctx, (ev_loop *)to_ctx, WK_MESH_WAKE_DATA);
}

/* Time between ev_loop_has_events() checks while spinning: bounds the latency a spin adds to
 * network completions, and keeps the syscalls to a few hundred thousand a second at most. */
#define SPIN_PEEK_NS 2000u

/* Records traffic with other endpoints since the last look, for the adaptive spin. (A lone
 * shard's self-lane jobs never start this spin: the busy spin, below, covers a busy lone shard.) */
static void note_traffic(wk_mesh_loop *ml)
{
    if (!wk_mesh_spin_ns(ml->mesh)) return;
    wk_mesh_stats st;
    wk_mesh_get_stats(ml->mesh, ml->shard, &st);
    if (st.cross != ml->cross_seen) {
        ml->cross_seen = st.cross;
        ml->last_traffic_ns = rt_now_ns();
    }
}

/* How a poll-until-deadline ended. */
typedef enum { SPIN_TIMEOUT = 0, SPIN_WORK = 1, SPIN_GATED = 2 } spin_end;

/* Polls lanes and the ring until `deadline`, checking the ring (and the gate, when given) every
 * SPIN_PEEK_NS. */
static spin_end poll_until(wk_mesh_loop *ml, uint64_t now, uint64_t deadline, bool gated)
{
    uint64_t next_peek = now;
    do {
        if (wk_mesh_pending(ml->mesh, ml->shard)) return SPIN_WORK;
        if (now >= next_peek) {
            if (ev_loop_has_events(ml->loop)) return SPIN_WORK;
            if (gated && !ml->gate(ml->gate_ud)) return SPIN_GATED;
            next_peek = now + SPIN_PEEK_NS;
        }
        wk_cpu_relax();
        now = rt_now_ns();
    } while (now < deadline);
    return SPIN_TIMEOUT;
}

/* Polls lanes and the ring until spin_ns after the last traffic. False: stop and run the loop. */
static bool spin_after_traffic(wk_mesh_loop *ml)
{
    uint64_t spin = wk_mesh_spin_ns(ml->mesh);
    uint64_t now = rt_now_ns();
    if (!spin || now - ml->last_traffic_ns >= spin) return true;
    return poll_until(ml, now, ml->last_traffic_ns + spin, false) == SPIN_TIMEOUT;
}

void wk_mesh_loop_share_add(wk_mesh_loop *ml, uint64_t work_ns, uint64_t idle_ns)
{
    const uint64_t w = WK_MESH_LOOP_SHARE_WINDOW_NS;
    ml->work_ns += work_ns < w ? work_ns : w;
    ml->idle_ns += idle_ns < w ? idle_ns : w;
    uint64_t sum = ml->work_ns + ml->idle_ns; /* <= 3 windows: the products below fit */
    if (sum > w) {
        ml->work_ns = ml->work_ns * w / sum;
        ml->idle_ns = w - ml->work_ns;
    }
}

bool wk_mesh_loop_share_high(const wk_mesh_loop *ml)
{
    uint64_t sum = ml->work_ns + ml->idle_ns;
    return sum && ml->work_ns * WK_MESH_LOOP_SHARE_MIN_DEN >= sum * WK_MESH_LOOP_SHARE_MIN_NUM;
}

/* The before-sleep end of a stretch of work: counted, and the idle time starts now. */
static void work_ends(wk_mesh_loop *ml)
{
    uint64_t now = rt_now_ns();
    wk_mesh_loop_share_add(ml, now - ml->mark_ns, 0);
    ml->mark_ns = now;
}

/* The end of an idle stretch (asleep, or polling in a spin): counted, and work starts now. */
static uint64_t idle_ends(wk_mesh_loop *ml)
{
    uint64_t now = rt_now_ns();
    wk_mesh_loop_share_add(ml, 0, now - ml->mark_ns);
    ml->mark_ns = now;
    return now;
}

/* Adds v to a counter only this shard's thread writes: a relaxed load and store (a plain add on
 * x86), so another thread reading it sees a whole value, not a torn one. */
static void bump(_Atomic uint64_t *c, uint64_t v)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + v,
                          memory_order_relaxed);
}

/* The busy spin (wk_mesh_loop.h). True: go on to sleep; false: work arrived, run the loop. The
 * time it polls is idle time in the work share, and a new stretch of work starts at its end. */
static bool busy_spin(wk_mesh_loop *ml)
{
    uint64_t budget = wk_mesh_busy_spin_ns(ml->mesh);
    if (!budget || ml->spun_idle || !wk_mesh_loop_share_high(ml)) return true;
    if (ml->gate && !ml->gate(ml->gate_ud)) return true;
    uint64_t t0 = rt_now_ns();
    spin_end e = poll_until(ml, t0, t0 + budget, ml->gate != NULL);
    uint64_t t1 = idle_ends(ml);
    bump(&ml->busy_spins, 1);
    bump(&ml->busy_spin_ns, t1 - t0);
    bump(&ml->busy_spin_found, e == SPIN_WORK);
    bump(&ml->busy_spin_gated, e == SPIN_GATED);
    ml->spun_idle = e == SPIN_TIMEOUT;
    return e != SPIN_WORK;
}

static void on_wake(ev_loop *loop, void *ud, uint32_t data)
{
    wk_mesh_loop *ml = ud;
    /* Wake handlers are shared: ours are WK_MESH_WAKE_DATA (MSG_RING) and 0 (the eventfd
     * fallback used by helper threads, which carries no data). */
    if (data != WK_MESH_WAKE_DATA && data != 0) return;
    wk_mesh_poll_for(ml->mesh, ml->shard, 0, WK_MESH_LOOP_POLL_NS);
    wk_mesh_flush(ml->mesh, ml->shard);
    note_traffic(ml);
}

static bool on_sleep_hook(ev_loop *loop, void *ud, ev_hook_phase phase)
{
    wk_mesh_loop *ml = ud;
    if (phase == EV_HOOK_AFTER_WAKE) {
        wk_mesh_sleep_end(ml->mesh, ml->shard);
        if (wk_mesh_busy_spin_ns(ml->mesh)) {
            idle_ends(ml);
            ml->spun_idle = false;
        }
        return true;
    }
    if (phase == EV_HOOK_ITERATION) {
        /* A busy loop never sleeps: poll inbound lanes and publish outbound ones every
         * iteration, so neither direction waits for the loop to go idle. */
        wk_mesh_poll_for(ml->mesh, ml->shard, 0, WK_MESH_LOOP_POLL_NS);
        wk_mesh_flush(ml->mesh, ml->shard);
        note_traffic(ml);
        return true;
    }
    unsigned ran = wk_mesh_poll_for(ml->mesh, ml->shard, 0, WK_MESH_LOOP_POLL_NS);
    wk_mesh_flush(ml->mesh, ml->shard);
    note_traffic(ml);
    /* Handlers ran: they may have stopped the loop or started work, so go around once more
     * instead of blocking (the next pass sleeps if nothing new arrived). */
    if (ran) return false;
    bool share = wk_mesh_busy_spin_ns(ml->mesh) != 0;
    if (share) work_ends(ml);
    if (!spin_after_traffic(ml)) {
        if (share) idle_ends(ml);
        return false;
    }
    if (!busy_spin(ml)) return false;
    return wk_mesh_sleep_begin(ml->mesh, ml->shard);
}

int wk_mesh_loop_init(wk_mesh_loop *ml, wk_mesh *m, int shard, ev_loop *loop)
{
    if (shard < 0 || shard >= wk_mesh_shards(m)) return -EINVAL;
    ml->mesh = m;
    ml->loop = loop;
    ml->shard = shard;
    ml->last_traffic_ns = 0;
    ml->cross_seen = 0;
    ml->mark_ns = rt_now_ns();
    ml->work_ns = ml->idle_ns = 0;
    ml->spun_idle = false;
    ml->gate = NULL;
    ml->gate_ud = NULL;
    atomic_store_explicit(&ml->busy_spins, 0, memory_order_relaxed);
    atomic_store_explicit(&ml->busy_spin_found, 0, memory_order_relaxed);
    atomic_store_explicit(&ml->busy_spin_gated, 0, memory_order_relaxed);
    atomic_store_explicit(&ml->busy_spin_ns, 0, memory_order_relaxed);
    int r = ev_loop_add_hook(loop, on_sleep_hook, ml);
    if (r < 0) return r;
    r = ev_loop_add_wake_handler(loop, on_wake, ml);
    if (r < 0) return r;
    return wk_mesh_set_waker(m, shard, loop_wake, loop);
}

void wk_mesh_loop_set_gate(wk_mesh_loop *ml, wk_mesh_spin_gate_fn fn, void *ud)
{
    ml->gate = fn;
    ml->gate_ud = ud;
}

void wk_mesh_loop_get_stats(const wk_mesh_loop *ml, wk_mesh_loop_stats *out)
{
    out->busy_spins = atomic_load_explicit(&ml->busy_spins, memory_order_relaxed);
    out->busy_spin_found = atomic_load_explicit(&ml->busy_spin_found, memory_order_relaxed);
    out->busy_spin_gated = atomic_load_explicit(&ml->busy_spin_gated, memory_order_relaxed);
    out->busy_spin_ns = atomic_load_explicit(&ml->busy_spin_ns, memory_order_relaxed);
}
