/* server/srv_queue_estream: ringq.v1.Queue.EnqueueStream, pipelined enqueueing.
 *
 * Each EnqueueStreamRequest is an Enqueue: the origin (the shard holding the call) decodes it
 * once, checks it as on_enqueue does, and sends it as a job to the owner of its queue's
 * partition, which appends it and answers at its durability (srv_enqueue_run: SYNCED after the
 * group commit that covers it). The requests of one stream may go to different queues on
 * different shards; the session's window (srv_ordered.h) answers them in request order and
 * bounds how many are held at once (SRV_ESTREAM_CREDITS, told to the producer in every answer).
 * docs/semantics.md, "EnqueueStream". */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "proto_wire/pw_pb.h"
#include "server/srv_auth.h"
#include "server/srv_queue_rpc.h"
#include "server/srv_receipt.h"

/* EnqueueStreamResponse{request_id, code, message, credits} followed by the owner's body (the
 * results, already encoded as EnqueueStreamResponse fields). */
static int estream_encode(buf *out, uint64_t request_id, q_status code, const char *message,
                          const uint8_t *body, size_t body_len, uint32_t credits)
{
    pwm_ringq_v1_EnqueueStreamResponse m = {
        .request_id = request_id,
        .code = (uint32_t)code,
        .message = {(const uint8_t *)message, message ? strlen(message) : 0},
        .credits = credits,
    };
    int r = srv_encode_estream_resp(out, &m);
    if (r == 0 && code == Q_OK && body_len) r = buf_append(out, body, body_len);
    return r;
}

/* Owner: the stream request seen as the EnqueueRequest it carries (views; the task arrays are
 * the origin's decode, read only). */
static void run_estream(srv_job *j, srv_part *sp)
{
    const pwm_ringq_v1_EnqueueStreamRequest *q = srv_job_msg(j);
    pwm_ringq_v1_EnqueueRequest r = {
        .queue = q->queue,
        .tasks = q->task ? q->task : q->tasks,
        .tasks_count = q->task ? 1 : q->tasks_count,
        .durability = q->durability,
    };
    srv_enqueue_run(j, sp, &r, true);
}

/* Origin: checks the decoded request as Enqueue does. Q_OK, or the status with e's reason. */
static q_status estream_check(const pwm_ringq_v1_EnqueueStreamRequest *q, q_err *e)
{
    e->code = Q_INVALID_ARGUMENT;
    if (q->task && q->tasks_count) {
        snprintf(e->msg, sizeof e->msg, "set task or tasks, not both");
        return e->code;
    }
    size_t n = q->task ? 1 : q->tasks_count;
    if (n == 0 || n > Q_BATCH_MAX) {
        snprintf(e->msg, sizeof e->msg, "a request carries task or 1..%u tasks, got %zu",
                 Q_BATCH_MAX, n);
        return e->code;
    }
    if (q_queue_name_check((const char *)q->queue.ptr, q->queue.len, e) != Q_OK) return e->code;
    int level = srv_durability_resolve(q->durability, srv_q.log.policy, e->msg, sizeof e->msg);
    if (level < 0) {
        e->code = (q_status)-level;
        return e->code;
    }
    e->code = Q_OK;
    return Q_OK;
}

static void estream_request(srv_ord *o, srv_ord_item *it, const uint8_t *msg, size_t len)
{
    q_err e;
    srv_job *j = srv_job_decoded_msg(msg, len, &pwm_ringq_v1_EnqueueStreamRequest_desc, &e);
    if (!j) {
        srv_ord_answer(o, it, 0, e.code, e.msg, NULL, 0);
        return;
    }
    const pwm_ringq_v1_EnqueueStreamRequest *q = srv_job_msg(j);
    uint64_t rid = q->request_id;
    if (estream_check(q, &e) != Q_OK) {
        srv_job_decoded_release(j);
        srv_job_free(j);
        srv_ord_answer(o, it, rid, e.code, e.msg, NULL, 0);
        return;
    }
    char denied[SRV_AUTH_ERR_BYTES]; /* refused on the stream, which stays open */
    int st = srv_auth_check(srv_ord_call(o), SRV_AUTH_PRODUCE, SRV_AUTH_QUEUE,
                            (const char *)q->queue.ptr, q->queue.len, denied);
    if (st != 0) {
        srv_job_decoded_release(j);
        srv_job_free(j);
        srv_ord_answer(o, it, rid, (q_status)st, denied, NULL, 0);
        return;
    }
    uint32_t part = q_part_of((const char *)q->queue.ptr, q->queue.len, srv_q.nparts);
    srv_ord_dispatch(o, it, rid, j, part, run_estream);
}

static const srv_ord_kind estream_kind = {
    .held_max = SRV_ESTREAM_CREDITS,
    .encode = estream_encode,
    .request = estream_request,
};

void srv_estream_on_start(pw_grpc_call *c) { srv_ord_start(c, &estream_kind); }
