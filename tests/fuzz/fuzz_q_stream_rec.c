/* libFuzzer target for the stream and consumer record decoders, which read log bytes at replay
 * (queue/q_stream_rec.c q_srec_decode, queue/q_consumer_rec.c q_crec_decode). A record whose
 * checksum holds may still carry any bytes (a bug in an older writer, a crafted file), so the
 * decoders must keep every view inside the payload.
 *
 * Input: byte 0 picks the record type (modulo the stream and consumer types, plus one outside
 * them), the rest is the payload, copied into a buffer of exactly its size so ASan sees any read
 * past it.
 * Properties:
 * - no crash, no sanitizer report, on any bytes;
 * - an accepted record's views (names, subjects, description, message id, headers, payload,
 *   ranges, acked sequences, reason) lie inside the payload;
 * - an accepted SMSG's headers walk exactly (q_hdr_next gives nheaders headers, each inside);
 * - a type that is not the decoder's is refused (-EPROTO; the stream decoder may see a short
 *   payload first, -EBADMSG), never decoded. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "queue/q_consumer_int.h"
#include "queue/q_part_rec.h"
#include "queue/q_stream_int.h"

#define FZ_ASSERT(c)       \
    do {                   \
        if (!(c)) abort(); \
    } while (0)

static const uint16_t fz_types[] = {Q_RT_STREAM,  Q_RT_SMSG,     Q_RT_SREMOVE, Q_RT_SDELETE,
                                    Q_RT_SDEDUP,  Q_RT_CONSUMER, Q_RT_CACK,    Q_RT_CSTATE,
                                    Q_RT_CDELETE, 0xfffeu};
#define FZ_NTYPES (sizeof fz_types / sizeof fz_types[0])

/* [p, p + len) lies inside [b, b + n). */
static void fz_inside(const uint8_t *b, size_t n, const void *p, uint64_t len)
{
    if (len == 0) return;
    const uint8_t *q = p;
    FZ_ASSERT(q >= b && q <= b + n && len <= (uint64_t)(b + n - q));
}

static void fz_stream(const uint8_t *b, size_t n, const q_rec *rec)
{
    q_srec o;
    int rc = q_srec_decode(rec, &o);
    if (rec->type < Q_RT_STREAM || rec->type > Q_RT_SDEDUP) FZ_ASSERT(rc < 0); /* never decoded */
    if (rc) {
        FZ_ASSERT(rc == -EBADMSG || rc == -EPROTO);
        return;
    }
    switch (rec->type) {
    case Q_RT_STREAM:
        fz_inside(b, n, o.cfg.name, o.cfg.name_len);
        fz_inside(b, n, o.cfg.description, o.cfg.description_len);
        FZ_ASSERT(o.cfg.nsubjects <= Q_STREAM_SUBJECTS_MAX);
        for (uint32_t i = 0; i < o.cfg.nsubjects; i++)
            fz_inside(b, n, o.cfg.subjects[i].ptr, o.cfg.subjects[i].len);
        break;
    case Q_RT_SMSG: {
        const q_smsg *m = &o.msg;
        fz_inside(b, n, m->subject, m->subject_len);
        fz_inside(b, n, m->msg_id, m->msg_id_len);
        fz_inside(b, n, m->headers, m->headers_len);
        fz_inside(b, n, m->payload, m->payload_len);
        q_hdr_iter it = {.p = m->headers, .end = m->headers + m->headers_len};
        q_header h;
        uint32_t k = 0;
        while (q_hdr_next(&it, &h)) {
            fz_inside(b, n, h.name, h.name_len);
            fz_inside(b, n, h.value, h.value_len);
            k++;
        }
        FZ_ASSERT(k == m->nheaders);
        break;
    }
    case Q_RT_SREMOVE: fz_inside(b, n, o.ranges, (uint64_t)o.nranges * 16); break;
    default: break;
    }
}

static void fz_consumer(const uint8_t *b, size_t n, uint16_t type)
{
    q_crec o;
    int rc = q_crec_decode(type, b, (uint32_t)n, &o);
    if (type < Q_RT_CONSUMER || type > Q_RT_CDELETE) FZ_ASSERT(rc == -EPROTO);
    if (rc) {
        FZ_ASSERT(rc == -EBADMSG || rc == -EPROTO);
        return;
    }
    fz_inside(b, n, o.name, o.name_len);
    switch (type) {
    case Q_RT_CONSUMER:
        FZ_ASSERT(o.cfg.nfilters <= Q_FILTER_SET_MAX && o.cfg.nbackoff <= Q_CONSUMER_BACKOFF_MAX);
        for (uint32_t i = 0; i < o.cfg.nfilters; i++)
            fz_inside(b, n, o.cfg.filters[i].ptr, o.cfg.filters[i].len);
        fz_inside(b, n, o.cfg.description, o.cfg.description_len);
        break;
    case Q_RT_CACK:
        fz_inside(b, n, o.seqs, 8ull * o.count);
        fz_inside(b, n, o.reason, o.reason_len);
        break;
    case Q_RT_CSTATE: fz_inside(b, n, o.ranges, 16ull * o.count); break;
    default: break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > UINT32_MAX) return 0;
    uint16_t type = fz_types[data[0] % FZ_NTYPES];
    size_t n = size - 1;
    uint8_t *b = malloc(n ? n : 1);
    if (!b) return 0;
    memcpy(b, data + 1, n);
    q_rec rec = {.offset = 1, .id = 1, .type = type, .len = (uint32_t)n, .payload = b};
    if (type >= Q_RT_CONSUMER && type <= Q_RT_CDELETE) fz_consumer(b, n, type);
    else if (type == 0xfffeu) {
        fz_consumer(b, n, type);
        fz_stream(b, n, &rec);
    } else fz_stream(b, n, &rec);
    free(b);
    return 0;
}
