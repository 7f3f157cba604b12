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

static void on_wake(ev_loop *loop, void *ud, uint32_t data)
{
    wk_mesh_loop *ml = ud;
    /* Wake handlers are shared: ours are WK_MESH_WAKE_DATA (MSG_RING) and 0 (the eventfd
     * fallback used by helper threads, which carries no data). */
    if (data != WK_MESH_WAKE_DATA && data != 0) return;
    wk_mesh_poll(ml->mesh, ml->shard, 0);
    wk_mesh_flush(ml->mesh, ml->shard);
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
        wk_mesh_poll(ml->mesh, ml->shard, 0);
        wk_mesh_flush(ml->mesh, ml->shard);
        return true;
    }
    unsigned ran = wk_mesh_poll(ml->mesh, ml->shard, 0);
    wk_mesh_flush(ml->mesh, ml->shard);
    /* Handlers ran: they may have stopped the loop or started work, so go around once more
     * instead of blocking (the next pass sleeps if nothing new arrived). */
    if (ran) return false;
    uint64_t spin = wk_mesh_spin_ns(ml->mesh);
    if (spin) {
        uint64_t deadline = rt_now_ns() + spin;
        do {
            if (wk_mesh_pending(ml->mesh, ml->shard)) return false;
            wk_cpu_relax();
        } while (rt_now_ns() < deadline);
    }
    return wk_mesh_sleep_begin(ml->mesh, ml->shard);
}

int wk_mesh_loop_init(wk_mesh_loop *ml, wk_mesh *m, int shard, ev_loop *loop)
{
    if (shard < 0 || shard >= wk_mesh_shards(m)) return -EINVAL;
    ml->mesh = m;
    ml->loop = loop;
    ml->shard = shard;
    int r = ev_loop_add_hook(loop, on_sleep_hook, ml);
    if (r < 0) return r;
    r = ev_loop_add_wake_handler(loop, on_wake, ml);
    if (r < 0) return r;
    return wk_mesh_set_waker(m, shard, loop_wake, loop);
}
