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
 * shard's self-lane jobs never start a spin: nothing could arrive on the mesh meanwhile.) */
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

/* Polls lanes and the ring until spin_ns after the last traffic. False: stop and run the loop. */
static bool spin_after_traffic(wk_mesh_loop *ml)
{
    uint64_t spin = wk_mesh_spin_ns(ml->mesh);
    uint64_t now = rt_now_ns();
    if (!spin || now - ml->last_traffic_ns >= spin) return true;
    uint64_t deadline = ml->last_traffic_ns + spin, next_peek = now;
    do {
        if (wk_mesh_pending(ml->mesh, ml->shard)) return false;
        if (now >= next_peek) {
            if (ev_loop_has_events(ml->loop)) return false;
            next_peek = now + SPIN_PEEK_NS;
        }
        wk_cpu_relax();
        now = rt_now_ns();
    } while (now < deadline);
    return true;
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
    if (!spin_after_traffic(ml)) return false;
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
    int r = ev_loop_add_hook(loop, on_sleep_hook, ml);
    if (r < 0) return r;
    r = ev_loop_add_wake_handler(loop, on_wake, ml);
    if (r < 0) return r;
    return wk_mesh_set_waker(m, shard, loop_wake, loop);
}
