/* queue/q_stream_rec: encode and decode the stream records, types 13..17 (layouts in
 * q_part_rec.h). */
#include <errno.h>
#include <string.h>

#include "queue/q_stream_int.h"

#define SUBJ_PREFIX_BYTES 2u /* u16 length before each filter of a STREAM record */

static int put(struct iovec *iov, int n, const void *p, size_t len)
{
    if (len == 0) return n;
    iov[n].iov_base = (void *)p;
    iov[n].iov_len = len;
    return n + 1;
}

static int64_t append(q_part *p, uint16_t type, const struct iovec *iov, int n, bool freeing)
{
    if (freeing) return q_log_appendv_freeing(p->log, type, iov, n);
    q_part_keep_room(p, 0);
    return q_log_appendv(p->log, type, iov, n);
}

int64_t q_srec_put_stream(q_part *p, const q_stream *s)
{
    uint8_t f[Q_STREAM_REC_FIXED];
    uint8_t pre[Q_STREAM_SUBJECTS_MAX][SUBJ_PREFIX_BYTES];
    struct iovec iov[4 + 2 * Q_STREAM_SUBJECTS_MAX];
    const q_stream_cfg *c = &s->cfg;
    memset(f, 0, sizeof f);
    q_st32(f + 0, s->id);
    q_st16(f + 4, s->name_len);
    f[6] = (uint8_t)c->retention;
    f[7] = (uint8_t)c->discard;
    q_st64(f + 8, c->max_msgs);
    q_st64(f + 16, c->max_bytes);
    q_st64(f + 24, c->max_age_ms);
    q_st64(f + 32, c->max_msgs_per_subject);
    q_st64(f + 40, c->dup_window_ms);
    q_st32(f + 48, c->max_msg_size);
    f[52] = (uint8_t)((c->allow_msg_ttl ? 1u : 0u) | (c->parts > 1 ? 2u : 0u));
    f[53] = (uint8_t)c->nsubjects;
    q_st16(f + 54, (uint16_t)c->description_len);
    q_st64(f + 56, s->created_ms);
    q_st64(f + 64, q_sidx_first(s));
    q_st64(f + 72, s->last_seq);
    int n = put(iov, 0, f, sizeof f);
    n = put(iov, n, s->name, s->name_len);
    n = put(iov, n, c->description, c->description_len);
    for (uint32_t i = 0; i < c->nsubjects; i++) {
        q_st16(pre[i], (uint16_t)c->subjects[i].len);
        n = put(iov, n, pre[i], SUBJ_PREFIX_BYTES);
        n = put(iov, n, c->subjects[i].ptr, c->subjects[i].len);
    }
    /* Flag bit 1: a member of a partitioned stream; its count and index follow the filters
     * (a pinned stream's record is as it always was). */
    uint8_t member[2] = {(uint8_t)c->parts, (uint8_t)c->part_index};
    if (c->parts > 1) n = put(iov, n, member, sizeof member);
    return append(p, Q_RT_STREAM, iov, n, false);
}

uint64_t q_smsg_rec_bytes(const q_smsg_spec *m, uint64_t *size)
{
    uint64_t h = 0;
    for (uint32_t i = 0; i < m->nheaders; i++)
        h += Q_HDR_PREFIX_BYTES + m->headers[i].name_len + (uint64_t)m->headers[i].value_len;
    uint64_t sz = h + m->payload_len + m->subject_len;
    if (size) *size = sz;
    return Q_SMSG_FIXED + sz + m->msg_id_len;
}

int64_t q_srec_put_msg(q_part *p, const q_stream *s, const q_smsg_spec *m, uint64_t seq,
                       uint64_t now_ms, uint64_t expires_ms)
{
    uint8_t f[Q_SMSG_FIXED];
    uint8_t pre[Q_HEADERS_MAX][Q_HDR_PREFIX_BYTES];
    struct iovec iov[4 + 3 * Q_HEADERS_MAX];
    uint32_t hbytes = 0;
    for (uint32_t i = 0; i < m->nheaders; i++)
        hbytes += Q_HDR_PREFIX_BYTES + m->headers[i].name_len + m->headers[i].value_len;
    memset(f, 0, sizeof f);
    q_st32(f + 0, s->id);
    q_st16(f + 4, (uint16_t)m->subject_len);
    q_st16(f + 6, (uint16_t)m->msg_id_len);
    q_st64(f + 8, seq);
    q_st64(f + 16, now_ms);
    q_st64(f + 24, expires_ms);
    q_st32(f + 32, hbytes);
    q_st16(f + 36, (uint16_t)m->nheaders);
    q_st32(f + 40, m->payload_len);
    int n = put(iov, 0, f, sizeof f);
    n = put(iov, n, m->subject, m->subject_len);
    n = put(iov, n, m->msg_id, m->msg_id_len);
    for (uint32_t i = 0; i < m->nheaders; i++) {
        const q_header *h = &m->headers[i];
        q_st16(pre[i], (uint16_t)h->name_len);
        q_st32(pre[i] + 2, h->value_len);
        n = put(iov, n, pre[i], Q_HDR_PREFIX_BYTES);
        n = put(iov, n, h->name, h->name_len);
        n = put(iov, n, h->value, h->value_len);
    }
    n = put(iov, n, m->payload, m->payload_len);
    return append(p, Q_RT_SMSG, iov, n, false);
}

int q_srec_put_remove(q_part *p, uint32_t id, const uint64_t *ranges, uint32_t nranges)
{
    while (nranges) {
        uint32_t k = nranges < Q_SREMOVE_RANGES_MAX ? nranges : Q_SREMOVE_RANGES_MAX;
        uint8_t f[8];
        q_st32(f, id);
        q_st32(f + 4, k);
        /* Little-endian pairs: on the hosts we build for, the array's bytes already are. */
        _Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "records are little-endian");
        struct iovec iov[2] = {{f, 8}, {(void *)ranges, (size_t)k * 16}};
        int64_t off = append(p, Q_RT_SREMOVE, iov, 2, true);
        if (off < 0) return (int)off;
        ranges += 2 * k;
        nranges -= k;
    }
    return 0;
}

int64_t q_srec_put_small(q_part *p, uint16_t type, uint32_t id, uint64_t hash, uint64_t seq,
                         uint64_t expiry_ms)
{
    uint8_t f[32];
    memset(f, 0, sizeof f);
    q_st32(f, id);
    q_st64(f + 8, hash);
    q_st64(f + 16, seq);
    q_st64(f + 24, expiry_ms);
    struct iovec iov = {f, type == Q_RT_SDELETE ? 8u : 32u};
    return append(p, type, &iov, 1, type == Q_RT_SDELETE);
}

static int decode_stream(const uint8_t *b, uint32_t len, q_srec *o)
{
    if (len < Q_STREAM_REC_FIXED) return -EBADMSG;
    q_stream_cfg *c = &o->cfg;
    c->name_len = q_ld16(b + 4);
    c->retention = (q_retention)b[6];
    c->discard = (q_discard)b[7];
    c->max_msgs = q_ld64(b + 8);
    c->max_bytes = q_ld64(b + 16);
    c->max_age_ms = q_ld64(b + 24);
    c->max_msgs_per_subject = q_ld64(b + 32);
    c->has_dup_window = true;
    c->dup_window_ms = q_ld64(b + 40);
    c->max_msg_size = q_ld32(b + 48);
    c->allow_msg_ttl = b[52] & 1;
    c->nsubjects = b[53];
    c->description_len = q_ld16(b + 54);
    o->created_ms = q_ld64(b + 56);
    o->first_seq = q_ld64(b + 64);
    o->last_seq = q_ld64(b + 72);
    if (c->nsubjects > Q_STREAM_SUBJECTS_MAX || (b[52] & ~3u)) return -EBADMSG;
    uint64_t at = Q_STREAM_REC_FIXED;
    if (at + c->name_len + c->description_len > len) return -EBADMSG;
    c->name = (const char *)b + at;
    at += c->name_len;
    c->description = (const char *)b + at;
    at += c->description_len;
    for (uint32_t i = 0; i < c->nsubjects; i++) {
        if (at + SUBJ_PREFIX_BYTES > len) return -EBADMSG;
        o->subj[i].len = q_ld16(b + at);
        at += SUBJ_PREFIX_BYTES;
        if (at + o->subj[i].len > len) return -EBADMSG;
        o->subj[i].ptr = (const char *)b + at;
        at += o->subj[i].len;
    }
    c->subjects = o->subj;
    c->parts = 1;
    if (b[52] & 2u) {
        if (at + 2 > len) return -EBADMSG;
        c->parts = b[at];
        c->part_index = b[at + 1];
        at += 2;
        if (c->parts < 2 || c->parts > Q_STREAM_PARTS_MAX || c->part_index >= c->parts)
            return -EBADMSG;
    }
    return at == len ? 0 : -EBADMSG;
}

static int decode_msg(const q_rec *rec, q_srec *o)
{
    const uint8_t *b = rec->payload;
    if (rec->len < Q_SMSG_FIXED) return -EBADMSG;
    q_smsg *m = &o->msg;
    m->subject_len = q_ld16(b + 4);
    m->msg_id_len = q_ld16(b + 6);
    m->seq = q_ld64(b + 8);
    m->time_ms = q_ld64(b + 16);
    m->expires_ms = q_ld64(b + 24);
    m->headers_len = q_ld32(b + 32);
    m->nheaders = q_ld16(b + 36);
    m->payload_len = q_ld32(b + 40);
    uint64_t total = (uint64_t)Q_SMSG_FIXED + m->subject_len + m->msg_id_len + m->headers_len +
                     m->payload_len;
    if (total != rec->len || m->subject_len == 0 || m->seq == 0 || m->nheaders > Q_HEADERS_MAX)
        return -EBADMSG;
    const uint8_t *q = b + Q_SMSG_FIXED;
    m->subject = (const char *)q;
    q += m->subject_len;
    m->msg_id = (const char *)q;
    q += m->msg_id_len;
    m->headers = q;
    q += m->headers_len;
    m->payload = q;
    m->offset = rec->offset;
    m->size = (uint32_t)(m->subject_len + m->headers_len + m->payload_len);
    /* The headers must walk exactly: q_hdr_next relies on it. */
    const uint8_t *h = m->headers, *end = m->headers + m->headers_len;
    for (uint32_t i = 0; i < m->nheaders; i++) {
        if ((size_t)(end - h) < Q_HDR_PREFIX_BYTES) return -EBADMSG;
        uint64_t step = Q_HDR_PREFIX_BYTES + (uint64_t)q_ld16(h) + q_ld32(h + 2);
        if (step > (uint64_t)(end - h)) return -EBADMSG;
        h += step;
    }
    return h == end ? 0 : -EBADMSG;
}

int q_srec_decode(const q_rec *rec, q_srec *o)
{
    memset(o, 0, sizeof *o);
    o->type = rec->type;
    if (rec->len < 8) return -EBADMSG;
    const uint8_t *b = rec->payload;
    o->stream_id = q_ld32(b);
    switch (rec->type) {
    case Q_RT_STREAM: return decode_stream(b, rec->len, o);
    case Q_RT_SMSG: return decode_msg(rec, o);
    case Q_RT_SREMOVE:
        o->nranges = q_ld32(b + 4);
        o->ranges = b + 8;
        return (uint64_t)o->nranges * 16 + 8 == rec->len ? 0 : -EBADMSG;
    case Q_RT_SDELETE: return rec->len == 8 && q_ld32(b + 4) == 0 ? 0 : -EBADMSG;
    case Q_RT_SDEDUP:
        if (rec->len != 32 || q_ld32(b + 4) != 0) return -EBADMSG;
        o->hash = q_ld64(b + 8);
        o->seq = q_ld64(b + 16);
        o->expiry_ms = q_ld64(b + 24);
        return 0;
    }
    return -EPROTO;
}
