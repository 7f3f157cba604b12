/* server/srv_queue_codec: ringq.v1 messages from queue/q_part results, through the generated
 * schema (proto_wire/pw_msgs.h). Each builder fills the generated struct with views of the
 * partition's data (the log mapping, the id formatted on the stack) and encodes it once,
 * straight into the caller's buffer. No field number is written here: they live in proto/ (the
 * hand-written encoders below, for a delivered Task, an EnqueueStreamResponse, an AckResponse
 * and a WorkResult's head, take their tags from the generated FIELD numbers and are checked byte
 * for byte against the generic codec, and their messages' field counts, by test_srv_task_codec). */
#include <assert.h>
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

/* ---- A delivered Task without headers, encoded by hand (the Work stream's hot message) ---- */

_Static_assert(pwm_ringq_v1_Task_FIELD_lease_token < 16 &&
                   pwm_ringq_v1_WorkResponse_FIELD_task < 16,
               "one-byte tags");
#define TASK_F(f) pwm_ringq_v1_Task_FIELD_##f

/* WorkResponse{task} behind its gRPC message prefix, the bytes pw_msg_encode_headed writes for
 * the generated struct (fields in number order, zero and empty ones left out), in one pass over
 * the fields for the size and one to write: no descriptor walk, no size record. */
static int encode_work_task(buf *out, const char *id, size_t idl, const char *queue,
                            size_t queue_len, const q_leased *t)
{
    size_t task = pw_pb_small_str_len(idl) + pw_pb_small_str_len(queue_len) +
                  pw_pb_small_str_len(t->payload_len) + pw_pb_small_num_len(t->priority) +
                  pw_pb_small_num_len(t->attempt) + pw_pb_small_num_len(t->lease_deadline_ms) +
                  pw_pb_small_num_len(t->enqueued_ms) + pw_pb_small_num_len(t->max_attempts) +
                  pw_pb_small_num_len(t->token);
    size_t body = 1 + pw_pb_varint_len(task) + task;
    if (body > UINT32_MAX || body > PW_PB_LEN_MAX) return -EMSGSIZE;
    uint8_t *p = NULL;
    int rc = buf_reserve(out, PW_GRPC_MSG_PREFIX_BYTES + body, &p);
    if (rc < 0) return rc;
    pw_grpc_msg_put_prefix(p, false, (uint32_t)body);
    uint8_t *w = p + PW_GRPC_MSG_PREFIX_BYTES;
    *w++ = (uint8_t)((pwm_ringq_v1_WorkResponse_FIELD_task << 3) | PW_PB_WT_LEN);
    w = pw_pb_write_varint(w, task);
    w = pw_pb_write_small_str(w, TASK_F(id), id, idl);
    w = pw_pb_write_small_str(w, TASK_F(queue), queue, queue_len);
    w = pw_pb_write_small_str(w, TASK_F(payload), t->payload, t->payload_len);
    w = pw_pb_write_small_num(w, TASK_F(priority), t->priority);
    w = pw_pb_write_small_num(w, TASK_F(attempt), t->attempt);
    w = pw_pb_write_small_num(w, TASK_F(lease_deadline_unix_ms), t->lease_deadline_ms);
    w = pw_pb_write_small_num(w, TASK_F(enqueued_unix_ms), t->enqueued_ms);
    w = pw_pb_write_small_num(w, TASK_F(max_attempts), t->max_attempts);
    w = pw_pb_write_small_num(w, TASK_F(lease_token), t->token);
    assert(w == p + PW_GRPC_MSG_PREFIX_BYTES + body);
    buf_commit(out, PW_GRPC_MSG_PREFIX_BYTES + body);
    return 0;
}

/* ---- EnqueueStreamResponse, encoded by hand (an EnqueueStream answer: twice a request) ---- */

#define ESR_F(f) pwm_ringq_v1_EnqueueStreamResponse_FIELD_##f
#define ER_F(f) pwm_ringq_v1_EnqueueResult_FIELD_##f
#define RC_F(f) pwm_ringq_v1_Receipt_FIELD_##f
_Static_assert(ESR_F(credits) < 16 && ESR_F(results) < 16 && ER_F(receipt) < 16 && RC_F(level) < 16,
               "one-byte tags");

static size_t receipt_len(const pwm_ringq_v1_Receipt *r)
{
    return pw_pb_small_num_len(r->partition) + pw_pb_small_num_len(r->offset) +
           pw_pb_small_num_len(r->commit_seq) +
           pw_pb_small_num_len((uint64_t)(int64_t)r->level); /* an enum: int32 on the wire */
}

/* Body bytes of result e; *rlen = its receipt's (0 without one). */
static size_t result_len(const pwm_ringq_v1_EnqueueResult *e, size_t *rlen)
{
    size_t n = pw_pb_small_str_len(e->id.len) + (e->duplicate ? 2 : 0);
    *rlen = 0;
    if (e->receipt) {
        *rlen = receipt_len(e->receipt);
        n += 1 + pw_pb_varint_len(*rlen) + *rlen;
    }
    return n;
}

/* Writes result e (field `results`, its length first), its sizes given. */
static uint8_t *put_result(uint8_t *w, const pwm_ringq_v1_EnqueueResult *e, size_t elen,
                           size_t rlen)
{
    *w++ = (uint8_t)(ESR_F(results) << 3 | PW_PB_WT_LEN);
    w = pw_pb_write_varint(w, elen);
    w = pw_pb_write_small_str(w, ER_F(id), e->id.ptr, e->id.len);
    w = pw_pb_write_small_num(w, ER_F(duplicate), e->duplicate);
    const pwm_ringq_v1_Receipt *r = e->receipt;
    if (!r) return w;
    *w++ = (uint8_t)(ER_F(receipt) << 3 | PW_PB_WT_LEN);
    w = pw_pb_write_varint(w, rlen);
    w = pw_pb_write_small_num(w, RC_F(partition), r->partition);
    w = pw_pb_write_small_num(w, RC_F(offset), r->offset);
    w = pw_pb_write_small_num(w, RC_F(commit_seq), r->commit_seq);
    return pw_pb_write_small_num(w, RC_F(level), (uint64_t)(int64_t)r->level);
}

/* Results whose sizes the size pass keeps for the write pass; past it they are sized again. */
#define ESR_SIZES_KEPT 16u

int srv_encode_estream_resp(buf *out, const pwm_ringq_v1_EnqueueStreamResponse *m)
{
    size_t elens[ESR_SIZES_KEPT], rlens[ESR_SIZES_KEPT], rlen;
    size_t n = pw_pb_small_num_len(m->request_id) + pw_pb_small_num_len(m->code) +
               pw_pb_small_str_len(m->message.len) + pw_pb_small_num_len(m->credits);
    for (size_t i = 0; i < m->results_count; i++) {
        size_t e = result_len(&m->results[i], &rlen);
        if (i < ESR_SIZES_KEPT) {
            elens[i] = e;
            rlens[i] = rlen;
        }
        n += 1 + pw_pb_varint_len(e) + e;
    }
    if (n > PW_PB_LEN_MAX) return -EMSGSIZE;
    uint8_t *p = NULL;
    int rc = buf_reserve(out, n, &p);
    if (rc < 0) return rc;
    uint8_t *w = pw_pb_write_small_num(p, ESR_F(request_id), m->request_id);
    w = pw_pb_write_small_num(w, ESR_F(code), m->code);
    w = pw_pb_write_small_str(w, ESR_F(message), m->message.ptr, m->message.len);
    for (size_t i = 0; i < m->results_count; i++) {
        const pwm_ringq_v1_EnqueueResult *e = &m->results[i];
        if (i < ESR_SIZES_KEPT) w = put_result(w, e, elens[i], rlens[i]);
        else {
            size_t el = result_len(e, &rlen);
            w = put_result(w, e, el, rlen);
        }
    }
    w = pw_pb_write_small_num(w, ESR_F(credits), m->credits);
    assert(w == p + n);
    buf_commit(out, n);
    return 0;
}

/* ---- AckResponse and a WorkResult's head, encoded by hand (a Work stream's ack answer) ---- */

#define IS_F(f) pwm_ringq_v1_ItemStatus_FIELD_##f
#define WR_F(f) pwm_ringq_v1_WorkResult_FIELD_##f
_Static_assert(IS_F(message) < 16 && pwm_ringq_v1_AckResponse_FIELD_results < 16 &&
                   WR_F(message) < 16,
               "one-byte tags");

static size_t item_len(const pwm_ringq_v1_ItemStatus *it)
{
    return pw_pb_small_str_len(it->id.len) + pw_pb_small_num_len(it->code) +
           pw_pb_small_str_len(it->message.len);
}

int srv_encode_ack_resp(buf *out, const pwm_ringq_v1_AckResponse *m)
{
    size_t n = 0;
    for (size_t i = 0; i < m->results_count; i++) {
        size_t e = item_len(&m->results[i]);
        n += 1 + pw_pb_varint_len(e) + e;
    }
    if (n > PW_PB_LEN_MAX) return -EMSGSIZE;
    uint8_t *p = NULL;
    int rc = buf_reserve(out, n, &p);
    if (rc < 0) return rc;
    uint8_t *w = p;
    for (size_t i = 0; i < m->results_count; i++) {
        const pwm_ringq_v1_ItemStatus *it = &m->results[i];
        *w++ = (uint8_t)(pwm_ringq_v1_AckResponse_FIELD_results << 3 | PW_PB_WT_LEN);
        w = pw_pb_write_varint(w, item_len(it));
        w = pw_pb_write_small_str(w, IS_F(id), it->id.ptr, it->id.len);
        w = pw_pb_write_small_num(w, IS_F(code), it->code);
        w = pw_pb_write_small_str(w, IS_F(message), it->message.ptr, it->message.len);
    }
    assert(w == p + n);
    buf_commit(out, n);
    return 0;
}

int srv_encode_work_result(buf *out, const pwm_ringq_v1_WorkResult *m)
{
    if (m->response_case) return pw_msg_encode(&pwm_ringq_v1_WorkResult_desc, m, out);
    size_t n = pw_pb_small_num_len(m->request_id) + pw_pb_small_num_len(m->code) +
               pw_pb_small_str_len(m->message.len);
    if (n > PW_PB_LEN_MAX) return -EMSGSIZE;
    uint8_t *p = NULL;
    int rc = buf_reserve(out, n, &p);
    if (rc < 0) return rc;
    uint8_t *w = pw_pb_write_small_num(p, WR_F(request_id), m->request_id);
    w = pw_pb_write_small_num(w, WR_F(code), m->code);
    w = pw_pb_write_small_str(w, WR_F(message), m->message.ptr, m->message.len);
    assert(w == p + n);
    buf_commit(out, n);
    return 0;
}

int srv_encode_task(buf *out, srv_task_frame frame, uint32_t part_no, const char *queue,
                    size_t queue_len, const q_leased *t)
{
    if (frame == SRV_TASK_WORK_FRAMED && t->headers_len == 0) {
        char id[Q_ID_STR_BYTES];
        return encode_work_task(out, id, q_id_format(id, part_no, t->id), queue, queue_len, t);
    }
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
