/* server/srv_stream_codec: ringq.v1 Streams messages from queue/q_stream state, through the
 * generated schema. Builders fill the generated structs with views (the stream's memory, the
 * log mapping) and encode once, straight into the caller's buffer. No field number here. */
#include <errno.h>
#include <string.h>

#include "core/rt_alloc.h"
#include "proto_wire/pw_grpc_msg.h"
#include "proto_wire/pw_pb.h"
#include "queue/q_consumer.h"
#include "server/srv_stream_int.h"
#include "server/srv_stream_parts.h"

static pw_pb_bytes view(const void *p, size_t n) { return (pw_pb_bytes){(const uint8_t *)p, n}; }

q_status srv_stream_cfg_from(const pwm_ringq_v1_StreamConfig *m, q_stream_cfg *c,
                             q_subject_view subj[Q_STREAM_SUBJECTS_MAX], q_err *e)
{
    memset(c, 0, sizeof *c);
    if (m->subjects_count > Q_STREAM_SUBJECTS_MAX) {
        e->code = Q_INVALID_ARGUMENT;
        snprintf(e->msg, sizeof e->msg, "subjects: at most %u filters, got %zu",
                 Q_STREAM_SUBJECTS_MAX, m->subjects_count);
        return e->code;
    }
    if (m->has_partitions && (m->partitions == 0 || m->partitions > srv_sparts_limit())) {
        e->code = Q_INVALID_ARGUMENT;
        snprintf(e->msg, sizeof e->msg,
                 "partitions: %u; allowed 1..%u (at most %u and the server's partitions)",
                 m->partitions, srv_sparts_limit(), Q_STREAM_PARTS_MAX);
        return e->code;
    }
    for (size_t i = 0; i < m->subjects_count; i++)
        subj[i] = (q_subject_view){srv_chars(m->subjects[i]), m->subjects[i].len};
    *c = (q_stream_cfg){
        .name = srv_chars(m->name),
        .name_len = (uint32_t)m->name.len,
        .subjects = subj,
        .nsubjects = (uint32_t)m->subjects_count,
        .retention = (q_retention)m->retention,
        .max_msgs = m->max_msgs,
        .max_bytes = m->max_bytes,
        .max_age_ms = m->max_age_ms,
        .max_msgs_per_subject = m->max_msgs_per_subject,
        .discard = (q_discard)m->discard,
        .has_dup_window = m->has_duplicate_window_ms,
        .dup_window_ms = m->duplicate_window_ms,
        .max_msg_size = m->max_msg_size,
        .allow_msg_ttl = m->allow_msg_ttl,
        .description = srv_chars(m->description),
        .description_len = (uint32_t)m->description.len,
        .parts = m->has_partitions ? m->partitions : 0,
    };
    e->code = Q_OK;
    e->msg[0] = 0;
    return Q_OK;
}

/* The stored configuration as a StreamConfig (views into the stream; subjects into subj[]). */
static void cfg_to(const q_stream *s, pwm_ringq_v1_StreamConfig *m,
                   pw_pb_bytes subj[Q_STREAM_SUBJECTS_MAX])
{
    q_stream_cfg c;
    q_stream_config(s, &c);
    uint32_t n = c.nsubjects <= Q_STREAM_SUBJECTS_MAX ? c.nsubjects : Q_STREAM_SUBJECTS_MAX;
    for (uint32_t i = 0; i < n; i++) subj[i] = view(c.subjects[i].ptr, c.subjects[i].len);
    *m = (pwm_ringq_v1_StreamConfig){
        .name = view(c.name, c.name_len),
        .subjects = subj,
        .subjects_count = n,
        .retention = (int32_t)c.retention,
        .max_msgs = c.max_msgs,
        .max_bytes = c.max_bytes,
        .max_age_ms = c.max_age_ms,
        .max_msgs_per_subject = c.max_msgs_per_subject,
        .discard = (int32_t)c.discard,
        .duplicate_window_ms = c.dup_window_ms,
        .has_duplicate_window_ms = true,
        .max_msg_size = c.max_msg_size,
        .allow_msg_ttl = c.allow_msg_ttl,
        .description = view(c.description, c.description_len),
        .partitions = c.parts,
        .has_partitions = c.parts > 1, /* a pinned stream's config is as it always was */
    };
}

int srv_stream_info_encode(buf *out, uint32_t field, q_part *p, q_stream *s, uint32_t part,
                           uint64_t now_ms, const char *filter, size_t flen)
{
    q_stream_state st;
    q_err e;
    q_subject_count *counts = NULL;
    uint32_t ncounts = 0;
    bool truncated = false;
    if (flen) {
        counts = rt_calloc(Q_STREAM_SUBJECT_COUNTS_MAX, sizeof *counts);
        if (!counts) return -ENOMEM;
    }
    if (q_stream_info(p, s, now_ms, filter, flen, counts, Q_STREAM_SUBJECT_COUNTS_MAX, &ncounts,
                      &truncated, &st, &e) != Q_OK) {
        rt_free(counts);
        return -EINVAL;
    }
    pwm_ringq_v1_SubjectCount *sc = NULL;
    if (ncounts) {
        sc = rt_calloc(ncounts, sizeof *sc);
        if (!sc) {
            rt_free(counts);
            return -ENOMEM;
        }
        for (uint32_t i = 0; i < ncounts; i++)
            sc[i] = (pwm_ringq_v1_SubjectCount){view(counts[i].subject, counts[i].subject_len),
                                                counts[i].messages};
    }
    pw_pb_bytes subj[Q_STREAM_SUBJECTS_MAX];
    pwm_ringq_v1_StreamConfig cfg;
    cfg_to(s, &cfg, subj);
    pwm_ringq_v1_StreamState state = {
        .messages = st.messages,
        .bytes = st.bytes,
        .first_seq = st.first_seq,
        .first_unix_ms = st.first_ms,
        .last_seq = st.last_seq,
        .last_unix_ms = st.last_ms,
        .num_subjects = st.num_subjects,
        .num_deleted = st.num_deleted,
        .consumers = srv_stream_consumers(s),
        .subjects = sc,
        .subjects_count = ncounts,
        .subjects_truncated = truncated,
    };
    pwm_ringq_v1_StreamInfo info = {
        .config = &cfg,
        .state = &state,
        .created_unix_ms = q_stream_created_ms(s),
        .partition = part,
    };
    int r = field ? pw_msg_encode_field(&pwm_ringq_v1_StreamInfo_desc, &info, field, out)
                  : pw_msg_encode(&pwm_ringq_v1_StreamInfo_desc, &info, out);
    rt_free(sc);
    rt_free(counts);
    return r;
}

int srv_smsg_view(pwm_ringq_v1_StreamMessage *sm, pwm_ringq_v1_StreamMessage_HeadersEntry *hs,
                  const char *stream, size_t stream_len, const q_smsg *m, bool headers_only)
{
    q_hdr_iter it;
    q_header h;
    uint32_t n = 0;
    q_hdr_iter_init(&it, m->headers, m->headers_len);
    while (q_hdr_next(&it, &h)) {
        if (n == Q_HEADERS_MAX) return -E2BIG;
        hs[n++] = (pwm_ringq_v1_StreamMessage_HeadersEntry){view(h.name, h.name_len),
                                                            view(h.value, h.value_len)};
    }
    *sm = (pwm_ringq_v1_StreamMessage){
        .stream = view(stream, stream_len),
        .subject = view(m->subject, m->subject_len),
        .seq = m->seq,
        .unix_ms = m->time_ms,
        .payload = headers_only ? view(NULL, 0) : view(m->payload, m->payload_len),
        .headers = hs,
        .headers_count = n,
        .msg_id = view(m->msg_id, m->msg_id_len),
        .expires_unix_ms = m->expires_ms,
        /* size is payload + headers + subject: the payload's size even when a headers-only
         * consumer's delivery left the payload out */
        .payload_size = m->size >= m->subject_len + m->headers_len
                            ? m->size - m->subject_len - m->headers_len
                            : m->payload_len,
    };
    return 0;
}

int srv_smsg_encode(buf *out, srv_smsg_frame frame, const char *stream, size_t stream_len,
                    const q_smsg *m, bool headers_only)
{
    pwm_ringq_v1_StreamMessage_HeadersEntry hs[Q_HEADERS_MAX];
    pwm_ringq_v1_StreamMessage sm;
    int r = srv_smsg_view(&sm, hs, stream, stream_len, m, headers_only);
    if (r < 0) return r;
    if (frame == SRV_SMSG_PLAIN) return pw_msg_encode(&pwm_ringq_v1_StreamMessage_desc, &sm, out);
    /* Framed: the 5-byte gRPC prefix first, the message encoded in place behind it, so a batch
     * is the stream's bytes as they go out (handed on by reference, as a Work batch). */
    return srv_grpc_encode_framed(out, &pwm_ringq_v1_StreamMessage_desc, &sm);
}

int srv_grpc_encode_framed(buf *out, const pw_msg_desc *d, const void *msg)
{
    size_t mark = buf_size(out), body = 0;
    int r = pw_msg_encode_headed(d, msg, PW_GRPC_MSG_PREFIX_BYTES, out, &body);
    if (r < 0) return r;
    if (body > UINT32_MAX) {
        buf_truncate(out, mark);
        return -EMSGSIZE;
    }
    pw_grpc_msg_put_prefix((uint8_t *)buf_begin(out) + mark, false, (uint32_t)body);
    return 0;
}

/* ---- consumers ---- */

q_status srv_consumer_cfg_from(const pwm_ringq_v1_ConsumerConfig *m, q_consumer_cfg *c, q_err *e)
{
    memset(c, 0, sizeof *c);
    e->code = Q_INVALID_ARGUMENT;
    if (!m) {
        snprintf(e->msg, sizeof e->msg, "config is required");
        return e->code;
    }
    if (m->filter_subjects_count > Q_FILTER_SET_MAX) {
        snprintf(e->msg, sizeof e->msg, "filter_subjects: at most %u, got %zu", Q_FILTER_SET_MAX,
                 m->filter_subjects_count);
        return e->code;
    }
    if (m->backoff_ms_count > Q_CONSUMER_BACKOFF_MAX) {
        snprintf(e->msg, sizeof e->msg, "backoff_ms: at most %u entries, got %zu",
                 Q_CONSUMER_BACKOFF_MAX, m->backoff_ms_count);
        return e->code;
    }
    c->name = srv_chars(m->name);
    c->name_len = (uint32_t)m->name.len;
    c->ephemeral = m->ephemeral;
    c->inactive_threshold_ms = m->inactive_threshold_ms;
    c->deliver_policy = (q_deliver_policy)m->deliver_policy;
    c->opt_start_seq = m->opt_start_seq;
    c->opt_start_unix_ms = m->opt_start_unix_ms;
    for (size_t i = 0; i < m->filter_subjects_count; i++)
        c->filters[i] = (q_subject_view){srv_chars(m->filter_subjects[i]),
                                         m->filter_subjects[i].len};
    c->nfilters = (uint32_t)m->filter_subjects_count;
    c->ack_policy = (q_ack_policy)m->ack_policy;
    c->ack_wait_ms = m->ack_wait_ms;
    c->max_deliver = m->max_deliver;
    for (size_t i = 0; i < m->backoff_ms_count; i++) c->backoff_ms[i] = m->backoff_ms[i];
    c->nbackoff = (uint32_t)m->backoff_ms_count;
    c->max_ack_pending = m->max_ack_pending;
    c->rate_limit_bytes_per_s = m->rate_limit_bytes_per_s;
    c->headers_only = m->headers_only;
    c->description = srv_chars(m->description);
    c->description_len = (uint32_t)m->description.len;
    e->code = Q_OK;
    e->msg[0] = 0;
    return Q_OK;
}

/* ConsumerInfo of c into out (as the message, or as field `field`). 0 or a negative errno. */
int srv_consumer_info_encode(buf *out, uint32_t field, q_stream *s, q_consumer *c)
{
    q_consumer_info ci;
    q_consumer_info_fill(c, srv_q_now_ms(), &ci);
    pw_pb_bytes filters[Q_FILTER_SET_MAX];
    for (uint32_t i = 0; i < ci.cfg.nfilters; i++)
        filters[i] = view(ci.cfg.filters[i].ptr, ci.cfg.filters[i].len);
    pwm_ringq_v1_ConsumerConfig cfg = {
        .name = view(ci.cfg.name, ci.cfg.name_len),
        .ephemeral = ci.cfg.ephemeral,
        .inactive_threshold_ms = ci.cfg.inactive_threshold_ms,
        .deliver_policy = (int32_t)ci.cfg.deliver_policy,
        .opt_start_seq = srv_sparts_seq_out(s, ci.cfg.opt_start_seq), /* a member's: joined */
        .opt_start_unix_ms = ci.cfg.opt_start_unix_ms,
        .filter_subjects = filters,
        .filter_subjects_count = ci.cfg.nfilters,
        .ack_policy = (int32_t)ci.cfg.ack_policy,
        .ack_wait_ms = ci.cfg.ack_wait_ms,
        .max_deliver = ci.cfg.max_deliver,
        .backoff_ms = ci.cfg.backoff_ms,
        .backoff_ms_count = ci.cfg.nbackoff,
        .max_ack_pending = ci.cfg.max_ack_pending,
        .rate_limit_bytes_per_s = ci.cfg.rate_limit_bytes_per_s,
        .headers_only = ci.cfg.headers_only,
        .description = view(ci.cfg.description, ci.cfg.description_len),
    };
    pwm_ringq_v1_ConsumerState st = {
        .delivered_consumer_seq = ci.state.delivered_consumer_seq,
        .delivered_stream_seq = ci.state.delivered_stream_seq,
        .ack_floor_stream_seq = ci.state.ack_floor_stream_seq,
        .num_ack_pending = ci.state.num_ack_pending,
        .num_redelivered = ci.state.num_redelivered,
        .num_pending = ci.state.num_pending,
        .num_waiting = srv_cwatch_waiting(s, c),
        .clients = ci.state.clients,
        .paused_until_unix_ms = ci.state.paused_until_ms,
        .num_terminated = ci.state.num_terminated,
        .position_seq = ci.state.position_seq,
    };
    srv_sparts_cons_state(s, &st); /* a member's sequences as the stream's */
    uint32_t nl;
    const char *sn = q_stream_name(s, &nl);
    pwm_ringq_v1_ConsumerInfo info = {
        .stream = view(sn, nl), .config = &cfg, .state = &st, .created_unix_ms = ci.created_ms};
    return field ? pw_msg_encode_field(&pwm_ringq_v1_ConsumerInfo_desc, &info, field, out)
                 : pw_msg_encode(&pwm_ringq_v1_ConsumerInfo_desc, &info, out);
}

int srv_delivery_encode(buf *out, srv_delivery_frame frame, q_stream *s, const q_delivery *d)
{
    uint32_t nl;
    const char *sn = q_stream_name(s, &nl);
    pwm_ringq_v1_StreamMessage_HeadersEntry hs[Q_HEADERS_MAX];
    pwm_ringq_v1_StreamMessage sm;
    int r = srv_smsg_view(&sm, hs, sn, nl, &d->msg, d->msg.payload == NULL);
    if (r < 0) return r;
    sm.seq = srv_sparts_seq_out(s, sm.seq);
    pwm_ringq_v1_Delivery dv = {.message = &sm,
                                /* a member's: joined as its sequences (srv_stream_parts.h) */
                                .consumer_seq = srv_sparts_seq_out(s, d->consumer_seq),
                                .delivery_count = d->delivery_count,
                                .token = d->token,
                                .pending = d->pending};
    if (frame == SRV_DELIVERY_FETCH_ENTRY)
        return pw_msg_encode_field(&pwm_ringq_v1_Delivery_desc, &dv,
                                   pwm_ringq_v1_FetchResponse_FIELD_deliveries, out);
    pwm_ringq_v1_ConsumeResponse cr = {.kind_case = pwm_ringq_v1_ConsumeResponse_FIELD_delivery,
                                       .delivery = &dv};
    return srv_grpc_encode_framed(out, &pwm_ringq_v1_ConsumeResponse_desc, &cr);
}
