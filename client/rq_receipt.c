/* client/rq_receipt: Enqueue with a durability level and its receipts, and Admin.GetPartition
 * (rq_enqueue_with, rq_get_partition in client/ringq.h; docs/semantics.md "Durability levels"). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "client/rq_int.h"

/* Decodes an EnqueueResponse into results[n] and, when not NULL, receipts[n]. */
static int decode_with_receipts(const buf *resp, rq_enqueue_result *results, rq_receipt *receipts,
                                size_t n, rq_status *st)
{
    pwm_ringq_v1_EnqueueResponse r;
    pw_msg_arena a;
    int rc = rq_msg_decode(&pwm_ringq_v1_EnqueueResponse_desc, &r, buf_begin(resp), buf_size(resp),
                           &a);
    if (rc < 0)
        return rq_set_status(st, PW_GRPC_INTERNAL, "malformed EnqueueResponse: %s",
                             pw_msg_strerror(rc));
    size_t k = r.results_count;
    for (size_t i = 0; i < k && i < n; i++) {
        rq_copy_str(results[i].id, RQ_ID_MAX, r.results[i].id);
        results[i].duplicate = r.results[i].duplicate;
        if (!receipts) continue;
        const pwm_ringq_v1_Receipt *m = r.results[i].receipt;
        receipts[i] = m ? (rq_receipt){m->partition, m->offset, m->commit_seq,
                                       (rq_durability)m->level}
                        : (rq_receipt){0}; /* an older server: no receipt */
    }
    pw_msg_arena_deinit(&a);
    if (k != n)
        return rq_set_status(st, PW_GRPC_INTERNAL, "the server returned %zu results for %zu tasks",
                             k, n);
    return 0;
}

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
    if (rc == 0) rc = decode_with_receipts(&resp, results, receipts, n, st);
    buf_deinit(&req);
    buf_deinit(&resp);
    return rc;
}

int rq_get_partition(rq_client *c, uint32_t partition, rq_partition_info *out, rq_status *st)
{
    memset(out, 0, sizeof *out);
    buf req, resp;
    buf_init(&req, RQ_MAX_SEND_BYTES);
    buf_init(&resp, RQ_MAX_RECV_BYTES);
    pwm_ringq_v1_GetPartitionRequest m = {.partition = partition};
    int rc = rq_msg_encode(&req, &pwm_ringq_v1_GetPartitionRequest_desc, &m) == 0
                 ? 0
                 : rq_set_status(st, RQ_EINVAL, "out of memory");
    if (rc == 0) rc = rq_unary(c, pwm_ringq_v1_Admin_GetPartition_PATH, &req, &resp, st);
    if (rc == 0) {
        pwm_ringq_v1_PartitionInfo r;
        pw_msg_arena a;
        int d = rq_msg_decode(&pwm_ringq_v1_PartitionInfo_desc, &r, buf_begin(&resp),
                              buf_size(&resp), &a);
        if (d < 0) {
            rc = rq_set_status(st, d == -ENOMEM ? PW_GRPC_RESOURCE_EXHAUSTED : PW_GRPC_INTERNAL,
                               "malformed PartitionInfo from the server: %s", pw_msg_strerror(d));
        } else {
            *out = (rq_partition_info){r.partition, r.synced_commit_seq, r.synced_offset,
                                       r.durable_offset, r.next_offset};
            pw_msg_arena_deinit(&a);
        }
    }
    buf_deinit(&req);
    buf_deinit(&resp);
    return rc;
}
