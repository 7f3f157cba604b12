/* server/srv_stream_codec: ringq.v1 Streams messages from queue/q_stream state, through the
 * generated schema. Builders fill the generated structs with views (the stream's memory, the
 * log mapping) and encode once, straight into the caller's buffer. No field number here. */
#include <errno.h>
#include <string.h>

#include "core/rt_alloc.h"
#include "proto_wire/pw_grpc_msg.h"
#include "proto_wire/pw_pb.h"
#include "server/srv_stream_int.h"

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
