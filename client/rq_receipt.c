/* client/rq_receipt: Enqueue with a durability level and its receipts, and Admin.GetPartition
 * (rq_enqueue_with, rq_get_partition in client/ringq.h; docs/semantics.md "Durability levels"). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "client/rq_int.h"

int rq_enqueue_with(rq_client *c, const char *queue, const rq_task_spec *tasks, size_t n,
                    const rq_enqueue_opts *opts, rq_enqueue_result *results, rq_receipt *receipts,
                    rq_status *st)
{
    if (!results) return rq_set_status(st, RQ_EINVAL, "enqueue needs a results array");
    rq_durability level = opts ? opts->durability : RQ_DURABILITY_DEFAULT;
    buf req, resp;
    buf_init(&req, RQ_MAX_SEND_BYTES);
    buf_init(&resp, RQ_MAX_RECV_BYTES);
    int rc = rq_enqueue_encode_level(&req, queue, tasks, n, level, st);
    if (rc == 0) rc = rq_unary(c, pwm_ringq_v1_Queue_Enqueue_PATH, &req, &resp, st);
    if (rc == 0)
        rc = rq_enqueue_decode(buf_begin(&resp), buf_size(&resp), results, receipts, n, st);
    buf_deinit(&req);
    buf_deinit(&resp);
    return rc;
}

int rq_get_partition(rq_client *c, uint32_t partition, rq_partition_info *out, rq_status *st)
{
    memset(out, 0, sizeof *out);
    pwm_ringq_v1_GetPartitionRequest m = {.partition = partition};
    pwm_ringq_v1_PartitionInfo r;
    rq_reply reply;
    int rc = rq_call(c, pwm_ringq_v1_Admin_GetPartition_PATH,
                     &pwm_ringq_v1_GetPartitionRequest_desc, &m, &pwm_ringq_v1_PartitionInfo_desc,
                     &r, &reply, st);
    if (rc) return rc;
    *out = (rq_partition_info){r.partition, r.synced_commit_seq, r.synced_offset, r.durable_offset,
                               r.next_offset};
    rq_reply_free(&reply);
    return 0;
}
