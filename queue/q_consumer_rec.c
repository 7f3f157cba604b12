/* queue/q_consumer_rec: the consumer layer's records (types 20..23; layouts drawn in
 * queue/q_part_rec.h and docs/storage.md) — encoding, appending with their pins, decoding. */
#include <errno.h>
#include <string.h>

#include "core/rt_alloc.h"
#include "queue/q_consumer_int.h"

/* ---- encoding ---- */

static size_t put_consumer(const q_consumer *c, uint8_t flags, uint8_t *b)
{
    const q_consumer_cfg *k = &c->cfg;
    size_t nl = strlen(c->name);
    memset(b, 0, Q_CREC_CONSUMER_FIXED);
    q_st32(b + 0, q_stream_id(c->set->s));
    q_st16(b + 4, (uint16_t)nl);
    b[6] = (uint8_t)(flags | (k->headers_only ? Q_CFLAG_HEADERS_ONLY : 0));
    b[7] = (uint8_t)k->deliver_policy;
    b[8] = (uint8_t)k->ack_policy;
    b[9] = (uint8_t)k->nfilters;
    b[10] = (uint8_t)k->nbackoff;
    q_st16(b + 12, (uint16_t)k->description_len);
    q_st32(b + 16, k->max_deliver);
    q_st32(b + 20, k->max_ack_pending);
    q_st64(b + 24, k->ack_wait_ms);
    q_st64(b + 32, k->opt_start_seq);
    q_st64(b + 40, k->opt_start_unix_ms);
    q_st64(b + 48, k->rate_limit_bytes_per_s);
    q_st64(b + 56, c->created_ms);
    q_st64(b + 64, c->start_seq);
    q_st64(b + 72, c->interest_from);
    q_st64(b + 80, c->lps_end);
    q_st64(b + 88, c->paused_until);
    size_t o = Q_CREC_CONSUMER_FIXED;
    memcpy(b + o, c->name, nl);
    o += nl;
    for (uint32_t i = 0; i < k->nfilters; i++) {
        q_st16(b + o, (uint16_t)k->filters[i].len);
        memcpy(b + o + 2, k->filters[i].ptr, k->filters[i].len);
        o += 2 + k->filters[i].len;
    }
    for (uint32_t i = 0; i < k->nbackoff; i++, o += 8) q_st64(b + o, k->backoff_ms[i]);
    if (k->description_len) memcpy(b + o, k->description, k->description_len);
    return o + k->description_len;
}

static int64_t append(q_consumer *c, uint16_t type, const struct iovec *iov, int n, bool freeing)
{
    return q_stream_rec_append(q_consumer_part(c), type, iov, n, freeing);
}

int64_t q_crec_put_consumer(q_consumer *c)
{
    uint8_t b[Q_CREC_CONSUMER_BYTES_MAX];
    struct iovec iov = {.iov_base = b, .iov_len = put_consumer(c, 0, b)};
    int64_t off = append(c, Q_RT_CONSUMER, &iov, 1, false);
    if (off < 0) return off;
    q_part *p = q_consumer_part(c);
    int rc = q_stream_pin_move(p, &c->cfg_rec, (uint64_t)off);
    if (!rc) rc = q_stream_pin_move(p, &c->base_rec, (uint64_t)off);
    return rc ? rc : off;
}

int64_t q_crec_put_config(q_consumer *c)
{
    uint8_t b[Q_CREC_CONSUMER_BYTES_MAX];
    struct iovec iov = {.iov_base = b, .iov_len = put_consumer(c, Q_CFLAG_UPDATE, b)};
    int64_t off = append(c, Q_RT_CONSUMER, &iov, 1, false);
    if (off < 0) return off;
    int64_t st = q_crec_put_cstate(c);
    if (st < 0) return st; /* the older cfg record stays pinned: this one survives behind it */
    int rc = q_stream_pin_move(q_consumer_part(c), &c->cfg_rec, (uint64_t)off);
    return rc ? rc : st;
}

int64_t q_crec_put_cack(q_consumer *c, uint8_t kind, const uint64_t *seqs, uint32_t n,
                        const char *reason, uint32_t reason_len)
{
    uint8_t f[Q_CREC_CACK_FIXED] = {0};
    size_t nl = strlen(c->name);
    q_st32(f + 0, q_stream_id(c->set->s));
    q_st16(f + 4, (uint16_t)nl);
    f[6] = kind;
    q_st32(f + 8, n);
    q_st16(f + 12, (uint16_t)reason_len);
    struct iovec iov[4] = {
        {f, sizeof f}, {c->name, nl}, {(void *)seqs, (size_t)n * 8}, {(void *)reason, reason_len}};
    return append(c, Q_RT_CACK, iov, reason_len ? 4 : 3, true);
}

/* The acked ranges above the floor now: the gaps between pending entries below the position,
 * then the skip ranges. *n set; caller frees *out. 0 or -ENOMEM. */
static int acked_ranges(const q_consumer *c, uint64_t floor, q_crange **out, uint32_t *n)
{
    uint64_t cap = (uint64_t)c->pend.live + c->nskip + 1;
    q_crange *r = rt_malloc((size_t)cap * sizeof *r);
    if (!r) return -ENOMEM;
    uint32_t k = 0;
    uint64_t from = floor + 1; /* the first seq not known to be pending */
    for (uint32_t i = q_cpend_next_live(&c->pend, 0); i != Q_NIL;
         i = q_cpend_next_live(&c->pend, i + 1)) {
        uint64_t s = q_cpend_seq(&c->pend, i);
        if (s > from) r[k++] = (q_crange){from, s - 1};
        from = s + 1;
    }
    if (c->position > from) r[k++] = (q_crange){from, c->position - 1};
    for (uint32_t i = 0; i < c->nskip; i++) r[k++] = c->skip[i];
    *out = r;
    *n = k;
    return 0;
}

int64_t q_crec_put_cstate(q_consumer *c)
{
    uint64_t floor = q_consumer_floor(c);
    q_crange *r;
    uint32_t n;
    int rc = acked_ranges(c, floor, &r, &n);
    if (rc) return rc;
    size_t nl = strlen(c->name);
    uint64_t bytes = Q_CREC_CSTATE_FIXED + nl + (uint64_t)n * 16;
    if (bytes > Q_RECORD_BYTES_DEFAULT) {
        rt_free(r);
        return -EMSGSIZE;
    }
    for (uint32_t i = 0; i < n; i++) { /* to the record's byte order (little-endian: as is) */
        uint64_t lo = r[i].lo, hi = r[i].hi;
        q_st64((uint8_t *)&r[i].lo, lo);
        q_st64((uint8_t *)&r[i].hi, hi);
    }
    uint8_t f[Q_CREC_CSTATE_FIXED] = {0};
    q_st32(f + 0, q_stream_id(c->set->s));
    q_st16(f + 4, (uint16_t)nl);
    q_st32(f + 8, n);
    q_st64(f + 16, floor);
    q_st64(f + 24, c->num_terminated);
    struct iovec iov[3] = {{f, sizeof f}, {c->name, nl}, {r, (size_t)n * 16}};
    int64_t off = append(c, Q_RT_CSTATE, iov, 3, true);
    rt_free(r);
    if (off < 0) return off;
    rc = q_stream_pin_move(q_consumer_part(c), &c->base_rec, (uint64_t)off);
    return rc ? rc : off;
}

int64_t q_crec_put_cdelete(q_consumer *c)
{
    uint8_t f[Q_CREC_CDELETE_FIXED] = {0};
    size_t nl = strlen(c->name);
    q_st32(f + 0, q_stream_id(c->set->s));
    q_st16(f + 4, (uint16_t)nl);
    struct iovec iov[2] = {{f, sizeof f}, {c->name, nl}};
    return append(c, Q_RT_CDELETE, iov, 2, true);
}

/* ---- decoding ---- */

static int decode_consumer(const uint8_t *p, uint32_t len, q_crec *o)
{
    if (len < Q_CREC_CONSUMER_FIXED) return -EBADMSG;
    q_consumer_cfg *k = &o->cfg;
    o->flags = p[6];
    k->headers_only = (p[6] & Q_CFLAG_HEADERS_ONLY) != 0;
    k->deliver_policy = (q_deliver_policy)p[7];
    k->ack_policy = (q_ack_policy)p[8];
    k->nfilters = p[9];
    k->nbackoff = p[10];
    k->description_len = q_ld16(p + 12);
    k->max_deliver = q_ld32(p + 16);
    k->max_ack_pending = q_ld32(p + 20);
    k->ack_wait_ms = q_ld64(p + 24);
    k->opt_start_seq = q_ld64(p + 32);
    k->opt_start_unix_ms = q_ld64(p + 40);
    k->rate_limit_bytes_per_s = q_ld64(p + 48);
    o->created_ms = q_ld64(p + 56);
    o->start_seq = q_ld64(p + 64);
    o->interest_from = q_ld64(p + 72);
    o->lps_end = q_ld64(p + 80);
    o->paused_until = q_ld64(p + 88);
    if (k->nfilters > Q_FILTER_SET_MAX || k->nbackoff > Q_CONSUMER_BACKOFF_MAX) return -EBADMSG;
    uint64_t at = Q_CREC_CONSUMER_FIXED + (uint64_t)o->name_len;
    if (at > len) return -EBADMSG;
    o->name = (const char *)p + Q_CREC_CONSUMER_FIXED;
    for (uint32_t i = 0; i < k->nfilters; i++) {
        if (at + 2 > len) return -EBADMSG;
        uint32_t fl = q_ld16(p + at);
        if (at + 2 + fl > len) return -EBADMSG;
        k->filters[i] = (q_subject_view){(const char *)p + at + 2, fl};
        at += 2 + fl;
    }
    if (at + 8ull * k->nbackoff + k->description_len != len) return -EBADMSG;
    for (uint32_t i = 0; i < k->nbackoff; i++, at += 8) k->backoff_ms[i] = q_ld64(p + at);
    k->description = (const char *)p + at;
    k->name = o->name;
    k->name_len = o->name_len;
    return 0;
}

int q_crec_decode(uint16_t type, const uint8_t *p, uint32_t len, q_crec *o)
{
    memset(o, 0, sizeof *o);
    o->type = type;
    if (type < Q_RT_CONSUMER || type > Q_RT_CDELETE) return -EPROTO;
    if (len < 8) return -EBADMSG;
    o->stream_id = q_ld32(p);
    o->name_len = q_ld16(p + 4);
    if (o->name_len == 0 || o->name_len > Q_CONSUMER_NAME_BYTES_MAX) return -EBADMSG;
    switch (type) {
    case Q_RT_CONSUMER: return decode_consumer(p, len, o);
    case Q_RT_CACK:
        if (len < Q_CREC_CACK_FIXED) return -EBADMSG;
        o->kind = p[6];
        o->count = q_ld32(p + 8);
        o->reason_len = q_ld16(p + 12);
        if (o->kind < Q_CACK_ACK || o->kind > Q_CACK_ALL) return -EBADMSG;
        if (Q_CREC_CACK_FIXED + (uint64_t)o->name_len + 8ull * o->count + o->reason_len != len)
            return -EBADMSG;
        o->name = (const char *)p + Q_CREC_CACK_FIXED;
        o->seqs = p + Q_CREC_CACK_FIXED + o->name_len;
        o->reason = (const char *)o->seqs + 8ull * o->count;
        return 0;
    case Q_RT_CSTATE:
        if (len < Q_CREC_CSTATE_FIXED) return -EBADMSG;
        o->count = q_ld32(p + 8);
        o->floor = q_ld64(p + 16);
        o->terminated = q_ld64(p + 24);
        if (Q_CREC_CSTATE_FIXED + (uint64_t)o->name_len + 16ull * o->count != len) return -EBADMSG;
        o->name = (const char *)p + Q_CREC_CSTATE_FIXED;
        o->ranges = p + Q_CREC_CSTATE_FIXED + o->name_len;
        return 0;
    default: /* CDELETE */
        if (Q_CREC_CDELETE_FIXED + (uint64_t)o->name_len != len) return -EBADMSG;
        o->name = (const char *)p + Q_CREC_CDELETE_FIXED;
        return 0;
    }
}
