/* server/srv_stage: per-stage latency histograms and the loop stall histogram (srv_stage.h). */
#include "server/srv_stage.h"

#include <stddef.h>
#include <stdio.h>

#include "core/rt_clock.h"
#include "server/srv_internal.h"
#include "server/srv_metrics.h"

void srv_stage_observe(srv_stage_op op, srv_stage st, uint64_t ns)
{
    srv_shard *sh = srv_shard_self();
    if (!sh || op == SRV_STAGE_OP_NONE || op >= SRV_STAGE_OPS || st >= SRV_STAGES) return;
    rt_hist_observe(&sh->stage[op][st], ns);
}

uint64_t srv_stage_received(srv_stage_op op)
{
    uint64_t now = rt_now_ns();
    srv_shard *sh = srv_shard_self();
    if (!sh) return now;
    uint64_t wake = ev_loop_now(sh->loop);
    srv_stage_observe(op, SRV_STAGE_RECEIVE, now > wake ? now - wake : 0);
    return now;
}

void srv_stage_mark(srv_stage_op op, srv_stage st, uint64_t *mark)
{
    if (*mark == 0 || op == SRV_STAGE_OP_NONE) return;
    uint64_t now = rt_now_ns();
    srv_stage_observe(op, st, now > *mark ? now - *mark : 0);
    *mark = now;
}

/* One loop histogram (at byte `off` of each srv_shard), every shard's merged. */
static void stall_metric(buf *out, struct srv_runtime *rt, size_t off, const char *name,
                         const char *help)
{
    rt_hist h = {0};
    for (int i = 0; i < rt->nshards; i++)
        rt_hist_add(&h, (const rt_hist *)((const char *)&rt->shards[i] + off));
    srv_metric_family(out, name, "histogram", help);
    srv_metric_histogram(out, name, NULL, rt_hist_bounds_ns(), RT_HIST_BUCKETS - 1, h.buckets,
                         h.count, h.sum_ns, 1e9);
}

/* Which stages each op passes through (the others are never observed: no empty series). */
static bool op_has(srv_stage_op op, srv_stage st)
{
    if (op == SRV_STAGE_OP_ENQUEUE) return st != SRV_STAGE_DELIVER;
    return st == SRV_STAGE_RECEIVE || st == SRV_STAGE_DECODE || st == SRV_STAGE_DELIVER ||
           st == SRV_STAGE_SEND;
}

void srv_stage_metrics(struct srv_runtime *rt, buf *out)
{
    static const char *const ops[SRV_STAGE_OPS] = {"", "enqueue", "work"};
    static const char *const stages[SRV_STAGES] = {"receive", "decode",  "append",
                                                   "commit",  "deliver", "send"};
    const uint64_t *bounds = rt_hist_bounds_ns();
    srv_metric_family(out, "ringq_stage_seconds", "histogram",
                      "Time of each stage of a request through the server (docs/operations.md "
                      "\"Stage latencies\").");
    char labels[64];
    for (int op = SRV_STAGE_OP_ENQUEUE; op < SRV_STAGE_OPS; op++) {
        for (int st = 0; st < SRV_STAGES; st++) {
            if (!op_has((srv_stage_op)op, (srv_stage)st)) continue;
            rt_hist h = {0};
            for (int i = 0; i < rt->nshards; i++) rt_hist_add(&h, &rt->shards[i].stage[op][st]);
            snprintf(labels, sizeof labels, "op=\"%s\",stage=\"%s\"", ops[op], stages[st]);
            srv_metric_histogram(out, "ringq_stage_seconds", labels, bounds, RT_HIST_BUCKETS - 1,
                                 h.buckets, h.count, h.sum_ns, 1e9);
        }
    }
    stall_metric(out, rt, offsetof(srv_shard, stall), "ringq_loop_stall_seconds",
                 "Shard loop iterations: time from a wake-up to the next wait, spent in "
                 "callbacks, timers and hooks.");
    stall_metric(out, rt, offsetof(srv_shard, stall_oncpu), "ringq_loop_stall_oncpu_seconds",
                 "Shard loop iterations of 1 ms or more: the part the thread ran or blocked in "
                 "its own calls (docs/operations.md \"Stage latencies\").");
    stall_metric(out, rt, offsetof(srv_shard, stall_preempted),
                 "ringq_loop_stall_preempted_seconds",
                 "Shard loop iterations of 1 ms or more: the part the thread was runnable "
                 "without a CPU (its run delay).");
}
