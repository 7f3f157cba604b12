/* server/srv_local: shards stepped by the caller on its own thread. See srv_local.h. */
#include <errno.h>

#include "core/rt_alloc.h"
#include "core/rt_log.h"
#include "server/srv_internal.h"
#include "server/srv_local.h"

/* After a close, iterations given to the connections' final completions (srv_run gives its
 * shards as many): a socketpair's shutdown completes them in one or two. */
#define SRV_LOCAL_CLOSE_STEPS 100
/* Rounds (one step of every shard) given to a drain's answers to cross back between shards
 * before the shards close: an answer takes two (the owner's send, the origin's run). */
#define SRV_LOCAL_DRAIN_ROUNDS 100

/* srv_run's per-iteration work that srv_local needs too: connections dirtied by answers that
 * came from other shards are flushed every iteration. */
static bool on_iteration(ev_loop *loop, void *ud, ev_hook_phase phase)
{
    if (phase == EV_HOOK_ITERATION) srv_shard_flush_dirty(ud);
    return true;
}

srv_shard *srv_local_shard(srv_runtime *rt, int i) { return &rt->shards[i]; }
unsigned srv_local_conns(const srv_shard *sh) { return sh->nconns; }

void srv_local_adopt(srv_shard *sh, int fd)
{
    srv_shard_enter(sh);
    srv_conn_accepted(sh, fd);
}

int srv_local_step(srv_shard *sh)
{
    srv_shard_enter(sh);
    return ev_loop_run_once(sh->loop, false);
}

/* srv_run's drain, run to completion: every shard answers what it parked (long-polls, Work
 * streams), and the answers reach their origins before anything closes (a parked job would
 * otherwise be dropped with its call by shard_fini). */
static void local_drain(srv_runtime *rt)
{
    atomic_store(&rt->draining, 1);
    for (int i = 0; i < rt->nshards; i++) {
        srv_shard *sh = &rt->shards[i];
        if (!sh->loop || !sh->running) continue;
        srv_shard_enter(sh);
        sh->draining = true;
        if (rt->hooks.on_drain) rt->hooks.on_drain(sh, rt->hooks.ud);
    }
    for (int k = 0; k < SRV_LOCAL_DRAIN_ROUNDS; k++)
        for (int i = 0; i < rt->nshards; i++) {
            if (!rt->shards[i].loop || !rt->shards[i].running) continue;
            int r = srv_local_step(&rt->shards[i]);
            if (r < 0) log_warn("local drain: loop iteration failed", "shard=%d err=%d", i, r);
        }
}

void srv_local_destroy(srv_runtime *rt)
{
    local_drain(rt);
    for (int i = 0; i < rt->nshards; i++) {
        srv_shard *sh = &rt->shards[i];
        if (!sh->loop) continue;
        srv_shard_enter(sh);
        if (sh->running && rt->hooks.shard_fini) rt->hooks.shard_fini(sh, rt->hooks.ud);
        for (srv_conn *c = sh->conns, *next; c; c = next) {
            next = c->next; /* a close may free c (its ops are idle) */
            srv_conn_close(c);
        }
        for (int k = 0; k < SRV_LOCAL_CLOSE_STEPS && sh->nconns > 0; k++) {
            int r = ev_loop_run_once(sh->loop, true);
            if (r < 0) {
                log_warn("local close: loop iteration failed", "shard=%d err=%d", i, r);
                break;
            }
        }
    }
    for (int i = 0; i < rt->nshards; i++)
        if (rt->shards[i].loop) ev_loop_destroy(rt->shards[i].loop);
    srv_shard_enter(NULL);
    rt_free(rt->shards);
    rt_free(rt);
}

int srv_local_create(const srv_options *o, pw_grpc_server *grpc, const srv_hooks *hooks,
                     int nshards, srv_runtime **out)
{
    if (nshards < 1 || nshards > RT_SHARDS_MAX) return -EINVAL;
    srv_runtime *rt = rt_calloc(1, sizeof *rt);
    if (!rt) return -ENOMEM;
    rt->opt = *o;
    rt->port_lock_fd = -1;
    rt->grpc = grpc;
    if (hooks) rt->hooks = *hooks;
    rt->nshards = nshards;
    atomic_store(&rt->busy_shards, nshards);
    rt->shards = rt_calloc((size_t)nshards, sizeof *rt->shards);
    if (!rt->shards) {
        rt_free(rt);
        return -ENOMEM;
    }
    int err = 0;
    for (int i = 0; i < nshards && err == 0; i++) {
        srv_shard *sh = &rt->shards[i];
        sh->rt = rt;
        sh->id = i;
        sh->listen_fd = -1;
        sh->sigfd = -1;
        /* Stopped at the shard's stop (shard_stop_now) whether or not they ever ran: a zeroed
         * timer reads as armed at heap slot 0, and stopping it took another timer's slot. */
        srv_shard_init_timers(sh);
        const char *why;
        ev_loop_opts lo = {.shard_id = i};
        sh->loop = ev_loop_create(&lo, &err, &why);
        if (!sh->loop) break;
        err = ev_loop_add_hook(sh->loop, on_iteration, sh);
    }
    /* Every loop exists before any shard_init: a shard's init may set up its mailbox, which
     * other shards' loops wake. */
    for (int i = 0; i < nshards && err == 0 && !srv_runtime_failed(rt); i++) {
        srv_shard *sh = &rt->shards[i];
        srv_shard_enter(sh);
        if (rt->hooks.shard_init) rt->hooks.shard_init(sh, rt->hooks.ud);
        sh->running = true; /* its fini runs at destroy */
    }
    if (err == 0 && srv_runtime_failed(rt)) err = -EIO;
    srv_shard_enter(NULL);
    if (err < 0) {
        log_debug("local runtime not created", "err=%d", err);
        srv_local_destroy(rt);
        return err;
    }
    *out = rt;
    return 0;
}
