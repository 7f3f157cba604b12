/* queue/q_part_rec: encode and decode the partition's records (layouts in q_part_rec.h). */
#include "queue/q_part_rec.h"

#include <errno.h>
#include <string.h>

uint64_t q_enq_size(size_t name_len, const q_task_spec *t)
{
    uint64_t n = Q_ENQ_FIXED_BYTES + name_len + t->key_len + t->payload_len;
    for (uint32_t i = 0; i < t->nheaders; i++)
        n += Q_HDR_PREFIX_BYTES + t->headers[i].name_len + (uint64_t)t->headers[i].value_len;
    return n;
}

static void add_iov(q_enq_enc *e, const void *p, size_t len)
{
    if (len == 0) return;
    e->iov[e->n].iov_base = (void *)p;
    e->iov[e->n].iov_len = len;
    e->n++;
    e->len += len;
}

void q_enq_encode(q_enq_enc *e, const char *name, size_t name_len, const q_task_spec *t,
                  uint64_t not_before_ms, uint64_t enqueued_ms)
{
    uint8_t *f = e->fixed;
    uint32_t hbytes = 0;
    for (uint32_t i = 0; i < t->nheaders; i++)
        hbytes += Q_HDR_PREFIX_BYTES + t->headers[i].name_len + t->headers[i].value_len;
    memset(f, 0, sizeof e->fixed);
    q_st16(f + 0, (uint16_t)name_len);
    f[2] = (uint8_t)t->priority;
    q_st16(f + 4, (uint16_t)t->max_attempts);
    q_st16(f + 6, (uint16_t)t->nheaders);
    q_st32(f + 8, t->lease_ms);
    q_st32(f + 12, hbytes);
    q_st64(f + 16, not_before_ms);
    q_st64(f + 24, enqueued_ms);
    q_st16(f + 32, (uint16_t)t->key_len);
    q_st32(f + 36, t->payload_len);
    e->n = 0;
    e->len = 0;
    add_iov(e, f, Q_ENQ_FIXED_BYTES);
    add_iov(e, name, name_len);
    add_iov(e, t->key, t->key_len);
    for (uint32_t i = 0; i < t->nheaders; i++) {
        const q_header *h = &t->headers[i];
        q_st16(e->prefix[i], (uint16_t)h->name_len);
        q_st32(e->prefix[i] + 2, h->value_len);
        add_iov(e, e->prefix[i], Q_HDR_PREFIX_BYTES);
        add_iov(e, h->name, h->name_len);
        add_iov(e, h->value, h->value_len);
    }
    add_iov(e, t->payload, t->payload_len);
}

int q_enq_decode(const uint8_t *p, uint32_t len, q_enq_rec *o)
{
    if (len < Q_ENQ_FIXED_BYTES) return -EBADMSG;
    memset(o, 0, sizeof *o);
    o->queue_len = q_ld16(p + 0);
    o->priority = p[2];
    o->max_attempts = q_ld16(p + 4);
    o->nheaders = q_ld16(p + 6);
    o->lease_ms = q_ld32(p + 8);
    o->headers_len = q_ld32(p + 12);
    o->not_before_ms = q_ld64(p + 16);
    o->enqueued_ms = q_ld64(p + 24);
    o->key_len = q_ld16(p + 32);
    o->payload_len = q_ld32(p + 36);
    uint64_t total = (uint64_t)Q_ENQ_FIXED_BYTES + o->queue_len + o->key_len + o->headers_len +
                     o->payload_len;
    if (total != len || o->queue_len == 0 || o->queue_len > Q_QUEUE_NAME_BYTES_MAX ||
        o->priority > Q_PRIORITY_MAX || o->nheaders > Q_HEADERS_MAX || p[3] != 0)
        return -EBADMSG;
    const uint8_t *q = p + Q_ENQ_FIXED_BYTES;
    o->queue = (const char *)q;
    q += o->queue_len;
    o->key = (const char *)q;
    q += o->key_len;
    o->headers = q;
    q += o->headers_len;
    o->payload = q;
    /* The headers must walk exactly: q_hdr_next relies on it. */
    const uint8_t *h = o->headers, *end = o->headers + o->headers_len;
    for (uint32_t i = 0; i < o->nheaders; i++) {
        if ((size_t)(end - h) < Q_HDR_PREFIX_BYTES) return -EBADMSG;
        uint64_t step = Q_HDR_PREFIX_BYTES + (uint64_t)q_ld16(h) + q_ld32(h + 2);
        if (step > (uint64_t)(end - h)) return -EBADMSG;
        h += step;
    }
    return h == end ? 0 : -EBADMSG;
}

bool q_hdr_next(q_hdr_iter *it, q_header *out)
{
    if ((size_t)(it->end - it->p) < Q_HDR_PREFIX_BYTES) return false;
    out->name_len = q_ld16(it->p);
    out->value_len = q_ld32(it->p + 2);
    out->name = (const char *)it->p + Q_HDR_PREFIX_BYTES;
    out->value = out->name + out->name_len;
    it->p = (const uint8_t *)out->value + out->value_len;
    return true;
}

const char *q_prec_type_name(uint16_t type)
{
    switch (type) {
    case Q_RT_ENQUEUE: return "enqueue";
    case Q_RT_ACK: return "ack";
    case Q_RT_RETRY: return "retry";
    case Q_RT_DEAD: return "dead";
    case Q_RT_DELETE: return "delete";
    case Q_RT_REDRIVE: return "redrive";
    case Q_RT_PURGE: return "purge";
    case Q_RT_QUEUE: return "queue";
    case Q_RT_STATE: return "state";
    case Q_RT_DEDUP: return "dedup";
    case Q_RT_QDELETE: return "queue-delete";
    case Q_RT_LEDGER: return "ledger";
    case Q_RT_STREAM: return "stream";
    case Q_RT_SMSG: return "stream-msg";
    case Q_RT_SREMOVE: return "stream-remove";
    case Q_RT_SDELETE: return "stream-delete";
    case Q_RT_SDEDUP: return "stream-dedup";
    case Q_RT_CONSUMER: return "consumer";
    case Q_RT_CACK: return "consumer-ack";
    case Q_RT_CSTATE: return "consumer-state";
    case Q_RT_CDELETE: return "consumer-delete";
    default: return NULL;
    }
}

/* Fixed sizes of the small records (without their variable tail). */
static uint32_t fixed_len(uint16_t type)
{
    switch (type) {
    case Q_RT_ACK: return 8;
    case Q_RT_RETRY: return 24;
    case Q_RT_DEAD: return 24;
    case Q_RT_DELETE: return 16;
    case Q_RT_REDRIVE: return 8;
    case Q_RT_PURGE: return 8;
    case Q_RT_QDELETE: return 8;
    case Q_RT_QUEUE: return 40;
    case Q_RT_STATE: return 24;
    case Q_RT_DEDUP: return 32;
    case Q_RT_LEDGER: return 64;
    default: return 0;
    }
}

int q_prec_decode(uint16_t type, const uint8_t *p, uint32_t len, q_prec *o)
{
    memset(o, 0, sizeof *o);
    o->type = type;
    uint32_t fl = fixed_len(type);
    if (fl == 0) return -EPROTO;
    if (len < fl) return -EBADMSG;
    uint64_t tail = len - fl; /* bytes that must match the variable part */
    switch (type) {
    case Q_RT_ACK:
        o->nids = q_ld32(p);
        o->ids = p + 8;
        return tail == (uint64_t)o->nids * 8 && q_ld32(p + 4) == 0 ? 0 : -EBADMSG;
    case Q_RT_RETRY:
        o->id = q_ld64(p);
        o->t_ms = q_ld64(p + 8);
        o->attempts = q_ld16(p + 16);
        o->cause = p[18];
        return tail == 0 ? 0 : -EBADMSG;
    case Q_RT_DEAD:
    case Q_RT_STATE:
        o->id = q_ld64(p);
        o->t_ms = q_ld64(p + 8);
        o->attempts = q_ld16(p + 16);
        if (type == Q_RT_DEAD) o->cause = p[18];
        else o->state = p[18];
        o->reason_len = q_ld16(p + 20);
        o->reason = (const char *)p + 24;
        if (type == Q_RT_STATE && (o->state < Q_TASK_READY || o->state > Q_TASK_DEAD))
            return -EBADMSG;
        return tail == o->reason_len ? 0 : -EBADMSG;
    case Q_RT_DELETE:
        o->id = q_ld64(p);
        o->cause = p[8];
        return tail == 0 ? 0 : -EBADMSG;
    case Q_RT_REDRIVE:
    case Q_RT_PURGE:
    case Q_RT_QDELETE:
        o->name_len = q_ld16(p);
        o->name = (const char *)p + 8;
        o->nids = type == Q_RT_REDRIVE ? q_ld32(p + 4) : 0;
        o->ids = p + 8 + o->name_len;
        return tail == o->name_len + (uint64_t)o->nids * 8 ? 0 : -EBADMSG;
    case Q_RT_QUEUE:
        o->name_len = q_ld16(p);
        o->paused = p[2] != 0;
        o->cfg.dead_letter = p[3] != 0;
        o->cfg.max_attempts = q_ld32(p + 4);
        o->cfg.lease_ms = q_ld32(p + 8);
        o->cfg.allow_tokenless_ack = (q_ld32(p + 12) & Q_QFLAG_TOKENLESS_ACK) != 0;
        o->cfg.release_counts_attempt = (q_ld32(p + 12) & Q_QFLAG_RELEASE_COUNTS) != 0;
        o->cfg.backoff_base_ms = q_ld64(p + 16);
        o->cfg.backoff_max_ms = q_ld64(p + 24);
        o->cfg.dedup_window_ms = q_ld64(p + 32);
        o->name = (const char *)p + 40;
        return tail == o->name_len ? 0 : -EBADMSG;
    case Q_RT_DEDUP:
        o->key_hash = q_ld64(p);
        o->id = q_ld64(p + 8);
        o->t_ms = q_ld64(p + 16);
        o->name_len = q_ld16(p + 24);
        o->name = (const char *)p + 32;
        return tail == o->name_len ? 0 : -EBADMSG;
    case Q_RT_LEDGER: {
        o->name_len = q_ld16(p);
        uint64_t since1 = (uint64_t)q_ld16(p + 2) | (uint64_t)q_ld32(p + 4) << 16;
        o->led_since1 = since1;
        o->led.enqueued = q_ld64(p + 8);
        o->led.redriven = q_ld64(p + 16);
        o->led.acked = q_ld64(p + 24);
        o->led.dead = q_ld64(p + 32);
        o->led.deleted = q_ld64(p + 40);
        o->led.purged = q_ld64(p + 48);
        o->led.dead_dropped = q_ld64(p + 56);
        o->name = (const char *)p + 64;
        return tail == o->name_len && (since1 == 0 || since1 <= Q_LEDGER_SINCE_MAX) ? 0 : -EBADMSG;
    }
    }
    return -EPROTO;
}

static int put_iov(struct iovec *iov, int n, const void *p, size_t len)
{
    if (len == 0) return n;
    iov[n].iov_base = (void *)p;
    iov[n].iov_len = len;
    return n + 1;
}

int q_prec_encode(const q_prec *r, uint8_t f[Q_PREC_FIXED_BYTES_MAX], struct iovec iov[4])
{
    uint32_t fl = fixed_len(r->type);
    memset(f, 0, Q_PREC_FIXED_BYTES_MAX);
    switch (r->type) {
    case Q_RT_ACK: q_st32(f, r->nids); break;
    case Q_RT_RETRY:
    case Q_RT_DEAD:
    case Q_RT_STATE:
        q_st64(f, r->id);
        q_st64(f + 8, r->t_ms);
        q_st16(f + 16, (uint16_t)r->attempts);
        f[18] = r->type == Q_RT_STATE ? r->state : r->cause;
        if (r->type != Q_RT_RETRY) q_st16(f + 20, (uint16_t)r->reason_len);
        break;
    case Q_RT_DELETE:
        q_st64(f, r->id);
        f[8] = r->cause;
        break;
    case Q_RT_REDRIVE:
    case Q_RT_PURGE:
    case Q_RT_QDELETE:
        q_st16(f, (uint16_t)r->name_len);
        if (r->type == Q_RT_REDRIVE) q_st32(f + 4, r->nids);
        break;
    case Q_RT_QUEUE:
        q_st16(f, (uint16_t)r->name_len);
        f[2] = r->paused;
        f[3] = r->cfg.dead_letter;
        q_st32(f + 4, r->cfg.max_attempts);
        q_st32(f + 8, r->cfg.lease_ms);
        q_st32(f + 12, (r->cfg.allow_tokenless_ack ? Q_QFLAG_TOKENLESS_ACK : 0u) |
                           (r->cfg.release_counts_attempt ? Q_QFLAG_RELEASE_COUNTS : 0u));
        q_st64(f + 16, r->cfg.backoff_base_ms);
        q_st64(f + 24, r->cfg.backoff_max_ms);
        q_st64(f + 32, r->cfg.dedup_window_ms);
        break;
    case Q_RT_DEDUP:
        q_st64(f, r->key_hash);
        q_st64(f + 8, r->id);
        q_st64(f + 16, r->t_ms);
        q_st16(f + 24, (uint16_t)r->name_len);
        break;
    case Q_RT_LEDGER: {
        uint64_t since1 = r->led_since1 <= Q_LEDGER_SINCE_MAX ? r->led_since1 : 0;
        q_st16(f, (uint16_t)r->name_len);
        q_st16(f + 2, (uint16_t)since1);
        q_st32(f + 4, (uint32_t)(since1 >> 16));
        q_st64(f + 8, r->led.enqueued);
        q_st64(f + 16, r->led.redriven);
        q_st64(f + 24, r->led.acked);
        q_st64(f + 32, r->led.dead);
        q_st64(f + 40, r->led.deleted);
        q_st64(f + 48, r->led.purged);
        q_st64(f + 56, r->led.dead_dropped);
        break;
    }
    }
    int n = put_iov(iov, 0, f, fl);
    n = put_iov(iov, n, r->name, r->name_len);
    n = put_iov(iov, n, r->reason, r->reason_len);
    n = put_iov(iov, n, r->ids, (size_t)r->nids * 8);
    return n;
}
