/* server/srv_receipt: durability levels, receipts and Admin.GetPartition. See srv_receipt.h and
 * docs/semantics.md, "Durability levels". */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/rt_buf.h"
#include "proto_wire/pw_pb.h"
#include "server/srv_msg.h"
#include "server/srv_queue_int.h"
#include "server/srv_receipt.h"

int srv_durability_resolve(int32_t asked, q_commit_policy policy, char *msg, size_t cap)
{
    switch (asked) {
    case pwm_ringq_v1_DURABILITY_UNSPECIFIED:
        /* The default is the strongest the policy gives without a commit of its own: under
         * never nothing is ever synced for a request. */
        return policy == Q_COMMIT_NEVER ? pwm_ringq_v1_DURABILITY_WRITTEN
                                        : pwm_ringq_v1_DURABILITY_SYNCED;
    case pwm_ringq_v1_DURABILITY_MEMORY:
    case pwm_ringq_v1_DURABILITY_WRITTEN: return asked;
    case pwm_ringq_v1_DURABILITY_SYNCED:
        if (policy != Q_COMMIT_NEVER) return asked;
        snprintf(msg, cap,
                 "durability SYNCED is not allowed: the server runs with --fsync never "
                 "(at most WRITTEN); nothing was enqueued");
        return -(int)Q_FAILED_PRECONDITION;
    default:
        snprintf(msg, cap, "durability must be UNSPECIFIED, MEMORY, WRITTEN or SYNCED, got %d",
                 (int)asked);
        return -(int)Q_INVALID_ARGUMENT;
    }
}

void srv_receipt_fill(pwm_ringq_v1_Receipt *out, uint32_t part_no, const q_log *log,
                      uint64_t offset)
{
    bool synced = offset < q_log_synced(log);
    *out = (pwm_ringq_v1_Receipt){
        .partition = part_no,
        .offset = offset,
        .commit_seq = synced ? q_log_commit_seq(log) : q_log_commit_seq_next(log),
        /* MEMORY is never reported: applying a task writes its record into the mapped log,
         * which is the page cache (WRITTEN) already. */
        .level = synced ? pwm_ringq_v1_DURABILITY_SYNCED : pwm_ringq_v1_DURABILITY_WRITTEN,
    };
}

/* Owner side: the partition's log as it stands. */
static void run_get_partition(srv_job *j, srv_part *sp)
{
    const q_log *log = q_part_log(sp->p);
    pwm_ringq_v1_PartitionInfo pi = {
        .partition = sp->no,
        .synced_commit_seq = q_log_commit_seq(log),
        .synced_offset = q_log_synced(log),
        .durable_offset = q_log_durable(log),
        .next_offset = q_log_next(log),
    };
    if (pw_msg_encode(&pwm_ringq_v1_PartitionInfo_desc, &pi, &j->resp) < 0)
        srv_job_fail(j, Q_RESOURCE_EXHAUSTED, "out of memory encoding the reply");
    srv_job_reply(j);
}

void srv_receipt_on_get_partition(pw_grpc_call *c, const uint8_t *msg, size_t len)
{
    pwm_ringq_v1_GetPartitionRequest r;
    pw_msg_arena a;
    if (srv_msg_decode(c, &pwm_ringq_v1_GetPartitionRequest_desc, &r, msg, len, &a) < 0) return;
    pw_msg_arena_deinit(&a); /* scalars only */
    if (r.partition >= srv_q.nparts) {
        char m[96];
        snprintf(m, sizeof m, "partition %u does not exist (the server has %u)", r.partition,
                 srv_q.nparts);
        pw_grpc_call_finish(c, PW_GRPC_NOT_FOUND, m);
        return;
    }
    srv_job *j = srv_job_new(c, NULL, 0);
    if (!j) {
        pw_grpc_call_finish(c, PW_GRPC_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    srv_job_dispatch(j, r.partition, run_get_partition, NULL);
}
