/* server/srv_stage: per-stage latency histograms of a request through the server, and the
 * shard loops' stall histogram, in /metrics (docs/operations.md "Stage latencies"):
 *
 *   ringq_stage_seconds{op,stage}   histogram  op: enqueue, work; stage below
 *   ringq_loop_stall_seconds         histogram  per loop iteration: the time from a wake-up to
 *                                               the next submit-and-wait (ev_loop_stall_hist)
 *
 * Stages (each the time since the previous mark of the same request):
 *   receive  from the loop wake-up that brought the request's last bytes to its handler (HTTP/2
 *            and gRPC framing, and every callback ahead of it in that iteration)
 *   decode   the protobuf decode and checks of the request, on the connection's shard
 *   append   to the records appended to the partition's log (the hop to the owner shard, its
 *            queue, the append)
 *   commit   to the group commit that covers them (SYNCED Enqueues only)
 *   deliver  Work: from the owner deciding to serve a stream (a commit, credits or new tasks) to
 *            its batch leased and encoded
 *   send     to the answer queued on the call at the connection's shard (the hop back); the
 *            socket write follows at the end of that loop iteration (counted in the stall)
 *
 * Each shard writes its own histograms (srv_shard.stage, rt_hist: relaxed stores, no lock, no
 * shared cache line); a scrape merges every shard's. Cost on the hot path: one clock_gettime
 * (vDSO, ~20-30 ns) per mark and ~25 ns to bucket it, 4-5 marks an Enqueue. */
#ifndef SRV_STAGE_H
#define SRV_STAGE_H

#include <stdint.h>

#include "core/rt_buf.h"

typedef enum srv_stage {
    SRV_STAGE_RECEIVE,
    SRV_STAGE_DECODE,
    SRV_STAGE_APPEND,
    SRV_STAGE_COMMIT,
    SRV_STAGE_DELIVER,
    SRV_STAGE_SEND,
    SRV_STAGES
} srv_stage;

/* What the request is; 0 is "not measured" (a job's zeroed srv_job.stage_op). */
typedef enum srv_stage_op {
    SRV_STAGE_OP_NONE,
    SRV_STAGE_OP_ENQUEUE,
    SRV_STAGE_OP_WORK,
    SRV_STAGE_OPS
} srv_stage_op;

/* Counts `ns` for (op, stage) on the calling shard; no-op off a shard thread or for OP_NONE. */
void srv_stage_observe(srv_stage_op op, srv_stage st, uint64_t ns);
/* A handler got a request: counts its receive stage (now minus the calling shard's loop
 * wake-up) and returns now (rt_now_ns), the mark the next stage is measured from. */
uint64_t srv_stage_received(srv_stage_op op);
/* Counts stage `st` as now minus *mark and moves *mark to now. No-op when *mark is 0 (nothing
 * marked: the request was not measured) or op is OP_NONE. */
void srv_stage_mark(srv_stage_op op, srv_stage st, uint64_t *mark);

struct srv_runtime;
/* Appends both families, every shard's histograms merged (srv_metrics_scrape). */
void srv_stage_metrics(struct srv_runtime *rt, buf *out);

#endif
