/* server/srv_queue_codec: protobuf encoding of ringq.v1 messages from queue/q_part results.
 * Field numbers are those of proto/ringq/v1/types.proto and admin.proto. */
#include <string.h>

#include "proto_wire/pw_pb.h"
#include "server/srv_queue_int.h"

int srv_pb_string(const uint8_t *msg, size_t len, uint32_t num, const char **s, size_t *n)
{
    pw_pb_reader r;
    pw_pb_field f;
    int rc;
    *s = "";
    *n = 0;
    pw_pb_reader_init(&r, msg, len);
    while ((rc = pw_pb_next(&r, &f)) == 1) {
        if (f.num == num && f.wt == PW_PB_WT_LEN) {
            *s = (const char *)f.bytes.ptr;
            *n = f.bytes.len;
        }
    }
    return rc < 0 ? -1 : 0;
}

bool srv_check_queue(srv_job *j, const char *name, size_t len)
{
    q_err e;
    if (q_queue_name_check(name, len, &e) == Q_OK) return true;
    srv_job_err(j, &e);
    return false;
}

int srv_encode_headers(buf *out, uint32_t field, const uint8_t *headers, uint32_t headers_len)
{
    q_hdr_iter it;
    q_header h;
    int r = 0;
    q_hdr_iter_init(&it, headers, headers_len);
    while (r == 0 && q_hdr_next(&it, &h)) {
        pw_pb_mark m;
        r = pw_pb_submsg_begin(out, field, &m);
        if (r == 0) r = pw_pb_put_string(out, 1, h.name, h.name_len);
        if (r == 0) r = pw_pb_put_string(out, 2, h.value, h.value_len);
        if (r == 0) r = pw_pb_submsg_end(out, &m);
    }
    return r;
}

int srv_encode_task(buf *out, uint32_t field, uint32_t part_no, const char *queue, size_t queue_len,
                    const q_leased *t)
{
    pw_pb_mark m;
    int r = 0;
    if (field) r = pw_pb_submsg_begin(out, field, &m);
    char id[Q_ID_STR_BYTES];
    size_t idl = q_id_format(id, part_no, t->id);
    if (r == 0) r = pw_pb_put_string(out, 1, id, idl);
    if (r == 0) r = pw_pb_put_string(out, 2, queue, queue_len);
    if (r == 0 && t->payload_len) r = pw_pb_put_bytes(out, 3, t->payload, t->payload_len);
    if (r == 0) r = srv_encode_headers(out, 4, t->headers, t->headers_len);
    if (r == 0 && t->priority) r = pw_pb_put_uint32(out, 5, t->priority);
    if (r == 0 && t->attempt) r = pw_pb_put_uint32(out, 6, t->attempt);
    if (r == 0 && t->lease_deadline_ms) r = pw_pb_put_uint64(out, 7, t->lease_deadline_ms);
    if (r == 0 && t->enqueued_ms) r = pw_pb_put_uint64(out, 8, t->enqueued_ms);
    if (r == 0 && t->max_attempts) r = pw_pb_put_uint32(out, 9, t->max_attempts);
    if (r == 0 && field) r = pw_pb_submsg_end(out, &m);
    return r;
}

static int encode_cfg(buf *out, uint32_t field, const q_queue_cfg *c)
{
    pw_pb_mark m;
    int r = pw_pb_submsg_begin(out, field, &m);
    if (r == 0 && c->max_attempts) r = pw_pb_put_uint32(out, 1, c->max_attempts);
    if (r == 0 && c->lease_ms) r = pw_pb_put_uint32(out, 2, c->lease_ms);
    if (r == 0 && c->backoff_base_ms) r = pw_pb_put_uint64(out, 3, c->backoff_base_ms);
    if (r == 0 && c->backoff_max_ms) r = pw_pb_put_uint64(out, 4, c->backoff_max_ms);
    if (r == 0 && c->dead_letter) r = pw_pb_put_bool(out, 5, true);
    if (r == 0 && c->dedup_window_ms) r = pw_pb_put_uint64(out, 6, c->dedup_window_ms);
    if (r == 0) r = pw_pb_submsg_end(out, &m);
    return r;
}

int srv_encode_queue_info(buf *out, const q_queue_info *qi, uint32_t part_no)
{
    int r = pw_pb_put_string(out, 1, qi->name, qi->name_len);
    if (r == 0 && part_no) r = pw_pb_put_uint32(out, 2, part_no);
    if (r == 0 && qi->paused) r = pw_pb_put_bool(out, 3, true);
    if (r == 0) r = encode_cfg(out, 4, &qi->cfg);
    const uint64_t v[] = {qi->ready, qi->delayed, qi->leased, qi->dead, qi->enqueued_total,
                          qi->acked_total, qi->nacked_total, qi->expired_total, qi->dead_total,
                          qi->duplicates_total};
    for (uint32_t i = 0; r == 0 && i < sizeof v / sizeof v[0]; i++)
        if (v[i]) r = pw_pb_put_uint64(out, 5 + i, v[i]);
    if (r == 0 && qi->enqueue_rate != 0) r = pw_pb_put_double(out, 15, qi->enqueue_rate);
    if (r == 0 && qi->ack_rate != 0) r = pw_pb_put_double(out, 16, qi->ack_rate);
    return r;
}

int srv_encode_task_info(buf *out, uint32_t part_no, const q_task_info *ti)
{
    char id[Q_ID_STR_BYTES];
    size_t idl = q_id_format(id, part_no, ti->id);
    int r = pw_pb_put_string(out, 1, id, idl);
    if (r == 0) r = pw_pb_put_string(out, 2, ti->queue, ti->queue_len);
    if (r == 0 && ti->state) r = pw_pb_put_uint32(out, 3, (uint32_t)ti->state);
    if (r == 0 && ti->payload_len) r = pw_pb_put_bytes(out, 4, ti->payload, ti->payload_len);
    if (r == 0 && ti->headers) r = srv_encode_headers(out, 5, ti->headers, ti->headers_len);
    if (r == 0 && ti->priority) r = pw_pb_put_uint32(out, 6, ti->priority);
    if (r == 0 && ti->attempts) r = pw_pb_put_uint32(out, 7, ti->attempts);
    if (r == 0 && ti->max_attempts) r = pw_pb_put_uint32(out, 8, ti->max_attempts);
    if (r == 0 && ti->enqueued_ms) r = pw_pb_put_uint64(out, 9, ti->enqueued_ms);
    if (r == 0 && ti->due_ms) r = pw_pb_put_uint64(out, 10, ti->due_ms);
    if (r == 0 && ti->key_len) r = pw_pb_put_string(out, 11, ti->key, ti->key_len);
    if (r == 0 && ti->last_error_len) r = pw_pb_put_string(out, 12, ti->last_error, ti->last_error_len);
    return r;
}

int srv_encode_item(buf *out, uint32_t field, const char *id, size_t id_len, q_status code,
                    const char *why)
{
    pw_pb_mark m;
    int r = pw_pb_submsg_begin(out, field, &m);
    if (r == 0) r = pw_pb_put_string(out, 1, id, id_len);
    if (r == 0 && code) r = pw_pb_put_uint32(out, 2, (uint32_t)code);
    if (r == 0 && why && *why) r = pw_pb_put_string(out, 3, why, strlen(why));
    if (r == 0) r = pw_pb_submsg_end(out, &m);
    return r;
}

int srv_lp_put(buf *out, const uint8_t *msg, size_t len)
{
    int r = pw_pb_put_varint(out, len);
    return r ? r : buf_append(out, msg, len);
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
