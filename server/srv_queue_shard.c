/* server/srv_queue_shard: the process-wide queue layout (srv_q), partition ownership, and each
 * shard's set-up (open its partitions, join the mesh), drain and teardown. See srv_queue.h. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/rt_alloc.h"
#include "core/rt_clock.h"
#include "core/rt_log.h"
#include "server/srv_ordered.h"
#include "server/srv_queue_int.h"
#include "server/srv_queue_rpc.h"
#include "server/srv_stream.h"
#include "server/srv_work_int.h"

srv_qglobal srv_q;

/* The wall clock is read once per loop step (the loop's cached monotonic time moves at the
 * start of its completions and again before its timers), not once per call: a serve, an
 * enqueue, a lease and an ack each asked for it (clock_gettime was 2 % of the samples at
 * batch 1). Lease deadlines, visibility times and retention are in ms and are decided against
 * this time by at most one step's run time. Off a shard's loop: the clock itself. */
uint64_t srv_q_now_ms(void)
{
    srv_shard *sh = srv_shard_self();
    srv_qshard *qs = sh && srv_q.shards ? &srv_q.shards[srv_shard_id(sh)] : NULL;
    if (!qs || !qs->loop) return rt_wall_ns() / RT_NS_PER_MS;
    uint64_t step = ev_loop_now(qs->loop);
    if (step != qs->now_loop_ns) {
        qs->now_ms = rt_wall_ns() / RT_NS_PER_MS;
        qs->now_loop_ns = step;
    }
    return qs->now_ms;
}

int srv_q_self(void)
{
    srv_shard *sh = srv_shard_self();
    return sh ? srv_shard_id(sh) : 0;
}

srv_part *srv_q_part(uint32_t part_no) { return srv_q.shards[srv_q_self()].parts[part_no]; }

/* The busy spin's gate (wk_mesh_loop.h): closed while a commit of one of the shard's partitions
 * is in flight or due at the end of the turn, so the shard never spins on the CPU that the
 * fdatasync it waits for (io-wq) or the housekeeping sync (rt_bg) needs. */
static bool spin_gate(void *ud)
{
    const srv_qshard *qs = ud;
    if (qs->kicks) return false;
    for (uint32_t k = 0, seen = 0; k < srv_q.nparts && seen < qs->nowned; k++) {
        const srv_part *sp = qs->parts[k];
        if (!sp) continue;
        seen++;
        if (q_log_commit_in_flight(q_part_log(sp->p))) return false;
    }
    return true;
}

void srv_queue_shard_init(srv_shard *sh, void *ud)
{
    int id = srv_shard_id(sh);
    srv_qshard *qs = &srv_q.shards[id];
    qs->id = id;
    qs->loop = srv_shard_loop(sh);
    rt_cache_init(&qs->jobs, sizeof(srv_job), SRV_JOB_CACHE_MAX);
    rt_cache_init(&qs->fanouts, srv_ack_fanout_cached_bytes(), SRV_FANOUT_CACHE_MAX);
    rt_cache_init(&qs->decoded, SRV_DECODED_CACHED_BYTES, SRV_DECODED_CACHE_MAX);
    rt_cache_init(&qs->bufs, SRV_BUF_CACHED_BYTES, SRV_BUF_CACHE_MAX);
    rt_cache_init(&qs->ord_items, srv_ord_item_bytes(), SRV_ORD_ITEM_CACHE_MAX);
    qs->parts = rt_calloc(srv_q.nparts, sizeof *qs->parts);
    /* The acks' hook before the mesh's: srv_work_int.h says why. */
    if (!qs->parts || srv_work_acks_hook_init(qs->loop) != 0 ||
        wk_mesh_loop_init(&qs->ml, srv_q.mesh, id, qs->loop) != 0 || srv_part_kick_init(qs) != 0) {
        log_error("queue shard init failed", "shard=%d", id);
        srv_runtime_fail(srv_shard_runtime(sh));
        return;
    }
    wk_mesh_loop_set_gate(&qs->ml, spin_gate, qs);
    uint64_t t0 = rt_now_ns();
    for (uint32_t k = 0; k < srv_q.nparts; k++) {
        if (srv_q_owner(k) != id) continue;
        if (srv_runtime_failed(srv_shard_runtime(sh))) return; /* another shard failed: stop */
        char dir[4200];
        snprintf(dir, sizeof dir, "%s/p%03u", srv_q.data_dir, k);
        q_part_opts po;
        q_part_opts_default(&po);
        po.log = srv_q.log;
        /* Durable before visible (docs/semantics.md): under --fsync always and interval a task
         * is handed to a worker only once its Enqueue record is synced, whatever durability the
         * Enqueue asked (a SYNCED one is never delivered before its promise); the commit's
         * completion (srv_part's on_committed, after the waiters' replies) serves what the
         * commit made visible, so the gate adds no fsync. Under never (nothing is synced for a
         * request, SYNCED is refused) a task is visible once in the page cache. */
        po.ready_when_durable = srv_q.log.policy != Q_COMMIT_NEVER;
        q_log_err le;
        memset(&le, 0, sizeof le);
        /* Recovery runs before the loop's first step: the clock itself, not srv_q_now_ms. */
        uint64_t open_ms = rt_wall_ns() / RT_NS_PER_MS;
        srv_part *sp = rt_calloc(1, sizeof *sp);
        int r = sp ? q_part_open(dir, k, &po, open_ms, &sp->p, &le) : -ENOMEM;
        if (r < 0) {
            /* ringq-log salvage repairs a segment, so it is suggested for a damaged one only. */
            bool salvage = r == -EBADMSG && strcmp(le.file, Q_EPOCH_FILE) != 0;
            log_error("cannot open partition",
                      "dir=%s err=%d reason=\"%s\" file=%s pos=%llu offset=%llu%s%s%s", dir, r,
                      le.why ? le.why : strerror(-r), le.file, (unsigned long long)le.pos,
                      (unsigned long long)le.offset, salvage ? " salvage=\"ringq-log salvage " : "",
                      salvage ? dir : "", salvage ? "\"" : "");
            rt_free(sp);
            srv_runtime_fail(srv_shard_runtime(sh));
            return;
        }
        if (le.why)
            log_warn("partition tail cut at recovery",
                     "dir=%s file=%s pos=%llu offset=%llu bytes=%llu kept=%s why=\"%s\"", dir,
                     le.file, (unsigned long long)le.pos, (unsigned long long)le.offset,
                     (unsigned long long)le.bytes, le.kept[0] ? le.kept : "-", le.why);
        sp->no = k;
        sp->shard = id;
        srv_part_attach(sp, qs->loop);
        qs->parts[k] = sp;
        qs->nowned++;
        srv_part_schedule(sp, open_ms);
    }
    log_info("partitions open", "owned=%u total=%u ms=%llu", qs->nowned, srv_q.nparts,
             (unsigned long long)((rt_now_ns() - t0) / RT_NS_PER_MS));
    srv_stream_shard_init(id); /* the streams its partitions replayed, into the directory */
}

#define FINI_WAIT_MS 10000u /* a partition's last fsyncs at exit: far above any fsync's time */

/* Frees the partition's parked waits and Work registrations (shutdown: nothing is served). */
static void free_waits(srv_part *sp)
{
    while (sp->waits) {
        srv_waitq *wq = sp->waits;
        sp->waits = wq->next;
        while (wq->subs) {
            struct srv_sub *s = wq->subs;
            wq->subs = s->next;
            srv_sub_free(s);
        }
        rt_free(wq);
    }
}

void srv_queue_shard_fini(srv_shard *sh, void *ud)
{
    srv_qshard *qs = &srv_q.shards[srv_shard_id(sh)];
    if (!qs->parts) return;
    srv_stream_shard_fini(srv_shard_id(sh));
    for (uint32_t k = 0; k < srv_q.nparts; k++) {
        srv_part *sp = qs->parts[k];
        if (!sp) continue;
        sp->closing = true;
        ev_timer_stop(qs->loop, &sp->tick);
        free_waits(sp);
        /* Let in-flight fsyncs finish, then make everything durable before closing, the synced
         * watermark included (a later open refuses damage to anything acknowledged). */
        q_log *log = q_part_log(sp->p);
        /* Bounded by time, not by iterations: the loop is stopped by now, so run_once does not
         * sleep and a count of iterations passes in microseconds while an fsync is in flight
         * (its waiter lives in sp: freeing sp then was a use after free). */
        uint64_t until = rt_now_ns() + (uint64_t)FINI_WAIT_MS * RT_NS_PER_MS;
        int r;
        while ((r = q_log_commit_final(log)) == -EBUSY && rt_now_ns() < until)
            ev_loop_run_once(qs->loop, true);
        if (r < 0) log_warn("final log sync failed", "partition=%u err=%d", sp->no, r);
        while ((r = q_part_close(sp->p)) == -EBUSY && rt_now_ns() < until)
            ev_loop_run_once(qs->loop, true);
        if (r < 0) { /* the log still references sp: leave both rather than free under it */
            log_error("partition not closed at exit", "partition=%u err=%d", sp->no, r);
            continue;
        }
        free_waits(sp); /* registrations that arrived during the loops above */
        srv_part_kick_forget(sp);
        qs->parts[k] = NULL;
        rt_free(sp);
    }
    rt_cache_deinit(&qs->jobs);
    rt_cache_deinit(&qs->fanouts);
    rt_cache_deinit(&qs->decoded);
    rt_cache_deinit(&qs->bufs);
    rt_cache_deinit(&qs->ord_items);
}

void srv_queue_on_drain(srv_shard *sh, void *ud)
{
    /* Long-polls answer now (with what they have: nothing) so they do not hold the drain, and
     * Work streams end. */
    srv_work_drain_shard();
    srv_ord_drain(); /* EnqueueStream and PublishStream sessions */
    srv_stream_on_drain(srv_shard_id(sh));
    srv_qshard *qs = &srv_q.shards[srv_shard_id(sh)];
    if (!qs->parts) return;
    for (uint32_t k = 0; k < srv_q.nparts; k++) {
        srv_part *sp = qs->parts[k];
        if (!sp) continue;
        srv_part_sync_now(sp); /* held SYNCED answers (Enqueue, EnqueueStream) go out now */
        for (srv_waitq *wq = sp->waits; wq; wq = wq->next) {
            while (wq->head) {
                srv_job *j = wq->head;
                ev_timer_stop(qs->loop, &j->timer);
                wq->head = j->wait_next;
                if (!wq->head) wq->tail = NULL;
                j->waitq = NULL;
                srv_job_reply(j);
            }
        }
    }
}
