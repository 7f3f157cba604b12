/* server/srv_queue_codec: ringq.v1 messages from queue/q_part results, through the generated
 * schema (proto_wire/pw_msgs.h). Each builder fills the generated struct with views of the
 * partition's data (the log mapping, the id formatted on the stack) and encodes it once,
 * straight into the caller's buffer. No field number is written here: they live in proto/. */
#include <errno.h>
#include <string.h>

#include "proto_wire/pw_grpc_msg.h"
#include "proto_wire/pw_pb.h"
#include "server/srv_msg.h"
#include "server/srv_queue_int.h"

static pw_pb_bytes view(const void *p, size_t n) { return (pw_pb_bytes){(const uint8_t *)p, n}; }

bool srv_check_queue(srv_job *j, const char *name, size_t len)
{
    q_err e;
    if (q_queue_name_check(name, len, &e) == Q_OK) return true;
    srv_job_err(j, &e);
    return false;
}

/* Fills hs[0..Q_HEADERS_MAX) with views of the packed headers; returns the count, or -E2BIG
 * when the record holds more than a task may (a corrupt record: the checksum passed). The
 * generated Task_HeadersEntry and TaskInfo_HeadersEntry share one layout {key, value}. */
static int headers_view(const uint8_t *headers, uint32_t headers_len,
                        pwm_ringq_v1_Task_HeadersEntry hs[Q_HEADERS_MAX])
{
    q_hdr_iter it;
    q_header h;
    int n = 0;
    q_hdr_iter_init(&it, headers, headers_len);
    while (q_hdr_next(&it, &h)) {
        if (n == (int)Q_HEADERS_MAX) return -E2BIG;
        hs[n++] = (pwm_ringq_v1_Task_HeadersEntry){view(h.name, h.name_len),
                                                   view(h.value, h.value_len)};
    }
    return n;
}

_Static_assert(sizeof(pwm_ringq_v1_Task_HeadersEntry) == sizeof(pwm_ringq_v1_TaskInfo_HeadersEntry),
               "Task and TaskInfo header entries share a layout");

int srv_encode_task(buf *out, srv_task_frame frame, uint32_t part_no, const char *queue,
                    size_t queue_len, const q_leased *t)
{
    pwm_ringq_v1_Task_HeadersEntry hs[Q_HEADERS_MAX];
    int nh = headers_view(t->headers, t->headers_len, hs);
    if (nh < 0) return nh;
    char id[Q_ID_STR_BYTES];
    size_t idl = q_id_format(id, part_no, t->id);
    pwm_ringq_v1_Task m = {
        .id = view(id, idl),
        .queue = view(queue, queue_len),
        .payload = view(t->payload, t->payload_len),
        .headers = hs,
        .headers_count = (size_t)nh,
        .priority = t->priority,
        .attempt = t->attempt,
        .lease_deadline_unix_ms = t->lease_deadline_ms,
        .enqueued_unix_ms = t->enqueued_ms,
        .max_attempts = t->max_attempts,
        .lease_token = t->token,
    };
    if (frame == SRV_TASK_LEASE_ENTRY)
        return pw_msg_encode_field(&pwm_ringq_v1_Task_desc, &m,
                                   pwm_ringq_v1_LeaseResponse_FIELD_tasks, out);
    /* SRV_TASK_WORK_FRAMED: the size is known before a byte is written, so the gRPC message
     * prefix goes first and the message is encoded once, in place behind it: the batch is the
     * stream's bytes as they go out, handed to the socket by reference (srv_queue_work.c). */
    pwm_ringq_v1_WorkResponse wr = {.kind_case = pwm_ringq_v1_WorkResponse_FIELD_task, .task = &m};
    size_t mark = buf_size(out), body = 0;
    int r = pw_msg_encode_headed(&pwm_ringq_v1_WorkResponse_desc, &wr, PW_GRPC_MSG_PREFIX_BYTES,
                                 out, &body);
    if (r < 0) return r; /* all or nothing */
    if (body > UINT32_MAX) {
        buf_truncate(out, mark);
        return -EMSGSIZE;
    }
    pw_grpc_msg_put_prefix((uint8_t *)buf_begin(out) + mark, false, (uint32_t)body);
    return 0;
}

void srv_queue_info_view(pwm_ringq_v1_QueueInfo *m, pwm_ringq_v1_QueueConfig *cfg,
                         const q_queue_info *qi, uint32_t part_no)
{
    *cfg = (pwm_ringq_v1_QueueConfig){
        .max_attempts = qi->cfg.max_attempts,
        .lease_ms = qi->cfg.lease_ms,
        .backoff_base_ms = qi->cfg.backoff_base_ms,
        .backoff_max_ms = qi->cfg.backoff_max_ms,
        .dead_letter = qi->cfg.dead_letter,
        .dedup_window_ms = qi->cfg.dedup_window_ms,
        .allow_tokenless_ack = qi->cfg.allow_tokenless_ack,
        .release_counts_attempt = qi->cfg.release_counts_attempt,
    };
    *m = (pwm_ringq_v1_QueueInfo){
        .name = view(qi->name, qi->name_len),
        .partition = part_no,
        .paused = qi->paused,
        .config = cfg,
        .ready = qi->ready,
        .delayed = qi->delayed,
        .leased = qi->leased,
        .dead = qi->dead,
        .enqueued_total = qi->enqueued_total,
        .acked_total = qi->acked_total,
        .nacked_total = qi->nacked_total,
        .expired_total = qi->expired_total,
        .dead_total = qi->dead_total,
        .duplicates_total = qi->duplicates_total,
        .enqueue_rate = qi->enqueue_rate,
        .ack_rate = qi->ack_rate,
    };
}

int srv_encode_queue_info(buf *out, const q_queue_info *qi, uint32_t part_no)
{
    pwm_ringq_v1_QueueInfo m;
    pwm_ringq_v1_QueueConfig cfg;
    srv_queue_info_view(&m, &cfg, qi, part_no);
    return pw_msg_encode(&pwm_ringq_v1_QueueInfo_desc, &m, out);
}

int srv_encode_task_info(buf *out, uint32_t field, uint32_t part_no, const q_task_info *ti)
{
    pwm_ringq_v1_Task_HeadersEntry hs[Q_HEADERS_MAX];
    int nh = ti->headers ? headers_view(ti->headers, ti->headers_len, hs) : 0;
    if (nh < 0) return nh;
    char id[Q_ID_STR_BYTES];
    size_t idl = q_id_format(id, part_no, ti->id);
    pwm_ringq_v1_TaskInfo m = {
        .id = view(id, idl),
        .queue = view(ti->queue, ti->queue_len),
        .state = (int32_t)ti->state,
        .payload = view(ti->payload, ti->payload_len),
        .headers = (const pwm_ringq_v1_TaskInfo_HeadersEntry *)(const void *)hs,
        .headers_count = (size_t)nh,
        .priority = ti->priority,
        .attempts = ti->attempts,
        .max_attempts = ti->max_attempts,
        .enqueued_unix_ms = ti->enqueued_ms,
        .due_unix_ms = ti->due_ms,
        .idempotency_key = view(ti->key, ti->key_len),
        .last_error = view(ti->last_error, ti->last_error_len),
    };
    if (field) return pw_msg_encode_field(&pwm_ringq_v1_TaskInfo_desc, &m, field, out);
    return pw_msg_encode(&pwm_ringq_v1_TaskInfo_desc, &m, out);
}

int srv_lp_put(buf *out, const uint8_t *msg, size_t len)
{
    int r = pw_pb_put_varint(out, len);
    return r ? r : buf_append(out, msg, len);
}

bool srv_grpc_next(const uint8_t **p, size_t *left, const uint8_t **msg, size_t *len)
{
    if (*left < PW_GRPC_MSG_PREFIX_BYTES) return false;
    const uint8_t *h = *p;
    size_t n = (size_t)h[1] << 24 | (size_t)h[2] << 16 | (size_t)h[3] << 8 | h[4];
    if (n > *left - PW_GRPC_MSG_PREFIX_BYTES) return false;
    *msg = h + PW_GRPC_MSG_PREFIX_BYTES;
    *len = n;
    *p += PW_GRPC_MSG_PREFIX_BYTES + n;
    *left -= PW_GRPC_MSG_PREFIX_BYTES + n;
    return true;
}

int srv_grpc_send_batch(pw_grpc_call *call, rt_blob *b, uint32_t n)
{
    int rc = pw_grpc_call_send_framed(call, b, n);
    if (rc != -EOPNOTSUPP) return rc;
    const uint8_t *p = b->data, *msg;
    size_t left = b->len, len;
    rc = 0;
    while (rc == 0 && srv_grpc_next(&p, &left, &msg, &len))
        rc = pw_grpc_call_send(call, msg, len, 0);
    /* -ENOBUFS: queued in the call beyond its mark; on_writable is not needed to progress. */
    return rc == -ENOBUFS ? 0 : rc;
}

bool srv_lp_next(const uint8_t **p, size_t *left, const uint8_t **msg, size_t *len)
{
    uint64_t n;
    int k = *left ? pw_pb_read_varint(*p, *left, &n) : 0;
    if (k <= 0 || n > *left - (size_t)k) return false;
    *msg = *p + k;
    *len = (size_t)n;
    *p += (size_t)k + (size_t)n;
    *left -= (size_t)k + (size_t)n;
    return true;
}
