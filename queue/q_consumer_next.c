/* queue/q_consumer_next: handing out deliveries (q_consumer.h, q_consumer_next) — redeliveries
 * that are due first, then new messages from the position; max_ack_pending, max_deliver, pause,
 * the byte budget and the rate limit's token bucket. */
#include <errno.h>
#include <string.h>

#include "queue/q_consumer_int.h"

typedef struct next_ctx {
    q_consumer *c;
    q_part *p;
    q_stream *s;
    uint64_t now;
    uint32_t max;
    size_t budget, per, used;
    q_delivery *out;
    uint32_t n;
    uint32_t nnew;  /* new messages among out */
    bool full;      /* stopped by max or budget with more to hand out */
    bool rated;     /* stopped by the rate limit */
    int fail;       /* a negative errno that stopped the call */
    uint32_t nterm; /* given up by max_deliver in this call */
    uint64_t term[Q_BATCH_MAX];
} next_ctx;

/* The token bucket: bytes that may go now, one second of burst. */
static void refill(q_consumer *c, uint64_t now_ms)
{
    uint64_t rate = c->cfg.rate_limit_bytes_per_s;
    if (!rate || now_ms <= c->bucket_ms) return;
    uint64_t dt = now_ms - c->bucket_ms; /* in milli-bytes: no fraction lost between calls */
    __int128 b = (__int128)c->bucket + (__int128)rate * dt, cap = (__int128)rate * 1000;
    c->bucket = b > cap ? (int64_t)cap : (int64_t)b;
    c->bucket_ms = now_ms;
}

static uint64_t msg_bytes(const q_smsg *m) { return (uint64_t)m->payload_len + m->headers_len; }

/* Whether message m may go now (budget, rate); sets full when not. */
static bool can_send(next_ctx *x, const q_smsg *m)
{
    size_t size = (size_t)(x->c->cfg.headers_only ? m->headers_len : msg_bytes(m)) + x->per;
    if (x->n > 0 && x->used + size > x->budget) {
        x->full = true;
        return false;
    }
    if (x->c->cfg.rate_limit_bytes_per_s) {
        refill(x->c, x->now);
        if (x->c->bucket <= 0) {
            x->rated = true; /* q_consumer_next_ms says when the bucket refills */
            return false;
        }
    }
    return true;
}

static void fill(next_ctx *x, const q_smsg *m, uint64_t token, uint32_t count, bool fresh)
{
    q_consumer *c = x->c;
    q_delivery *d = &x->out[x->n++];
    d->msg = *m;
    if (c->cfg.headers_only) {
        d->msg.payload = NULL;
        d->msg.payload_len = 0;
    }
    d->stream_seq = m->seq;
    d->consumer_seq = ++c->consumer_seq;
    d->token = token;
    d->delivery_count = count;
    d->pending = fresh; /* turned into the lag at the end */
    c->delivered_stream_seq = m->seq;
    size_t size = (size_t)(c->cfg.headers_only ? m->headers_len : msg_bytes(m)) + x->per;
    x->used += size;
    if (c->cfg.rate_limit_bytes_per_s) c->bucket -= (int64_t)msg_bytes(m) * 1000;
    if (fresh) x->nnew++;
}

/* One due entry: backoff wait, give up, or deliver again. false: stop the pass. */
static bool redeliver_one(next_ctx *x, uint32_t i)
{
    q_consumer *c = x->c;
    q_cpend_ent *e = q_cpend_at(&c->pend, i);
    if (!e->wait && c->cfg.nbackoff) { /* the ack wait ran out: the backoff starts there */
        uint64_t at = e->due + q_consumer_backoff(c, e->count);
        if (at > x->now) {
            q_cpend_set(&c->pend, i, at, true, e->token, e->count);
            return true;
        }
    }
    if (c->cfg.max_deliver && e->count >= c->cfg.max_deliver) {
        if (x->nterm == Q_BATCH_MAX) return false;
        x->term[x->nterm++] = q_cpend_seq(&c->pend, i);
        c->num_terminated++;
        q_cpend_remove(&c->pend, i);
        return true;
    }
    q_smsg m;
    if (q_stream_get(x->p, x->s, q_cpend_seq(&c->pend, i), &m, NULL) !=
        Q_OK) { /* removed, or damaged */
        q_cpend_remove(&c->pend, i);
        return true;
    }
    if (!can_send(x, &m)) return false;
    uint64_t token = q_part_token_next(x->p, x->now);
    if (!token) {
        x->fail = -EOVERFLOW;
        return false;
    }
    uint32_t count = e->count + 1u;
    q_cpend_set(&c->pend, i, x->now + c->cfg.ack_wait_ms, false, token, count);
    fill(x, &m, token, count, false);
    return true;
}

static void redeliver(next_ctx *x)
{
    q_cpend *t = &x->c->pend;
    for (uint32_t i = q_cpend_next_due(t, 0, x->now); i != Q_NIL && x->n < x->max;
         i = q_cpend_next_due(t, i + 1, x->now)) {
        if (!redeliver_one(x, i)) break;
    }
    if (x->n == x->max) x->full = true;
}

/* LAST_PER_SUBJECT, for seq <= lps_end: whether m is the last of its subject up to lps_end. */
static bool lps_last(next_ctx *x, const q_smsg *m)
{
    q_consumer *c = x->c;
    uint64_t l = q_stream_subject_last(x->s, m->subject, m->subject_len, NULL);
    if (l == m->seq) return true;
    if (l <= c->lps_end) return false; /* a later one of the subject is in the range */
    if (m->seq == c->lps_end) return true;
    q_filter_set one;
    q_subject_view v = {m->subject, m->subject_len};
    if (q_filter_set_init(&one, &v, 1, NULL) != Q_OK) return true;
    q_smsg nx;
    uint64_t span = c->lps_end - m->seq; /* >= 1 */
    q_status st = q_stream_next(x->p, x->s, m->seq + 1, &one,
                                span > UINT32_MAX ? UINT32_MAX : (uint32_t)span, &nx, NULL, NULL);
    return !(st == Q_OK && nx.seq <= c->lps_end);
}

static bool room(const q_consumer *c)
{
    return c->cfg.ack_policy == Q_ACKP_NONE || c->pend.live < c->cfg.max_ack_pending;
}

/* One new message at or after the position. false: stop the pass. */
static bool deliver_new_one(next_ctx *x, uint32_t *scan)
{
    q_consumer *c = x->c;
    q_smsg m;
    uint64_t resume = c->position;
    q_status st = q_stream_next(x->p, x->s, c->position, c->cfg.nfilters ? &c->fs : NULL, *scan, &m,
                                &resume, NULL);
    if (st == Q_NOT_FOUND) {
        if (resume > c->position) {
            if (c->lag_ok && resume > q_stream_last_seq(x->s)) c->lag = 0;
            q_consumer_advance(c, resume);
        }
        if (resume <= q_stream_last_seq(x->s)) x->full = true; /* the scan bound stopped it */
        return false;
    }
    uint64_t walked = m.seq - c->position + 1;
    *scan = walked >= *scan ? 1 : *scan - (uint32_t)walked;
    if (st != Q_OK) { /* a damaged record: skipped */
        q_consumer_advance(c, m.seq + 1);
        return true;
    }
    if (c->nskip && c->skip[0].lo <= m.seq) { /* acked before the restart */
        q_consumer_advance(c, m.seq);
        return true;
    }
    /* Durable before visible (q_part_opts.ready_when_durable, the server under --fsync
     * always): a message goes out only once its record is durable; the rest wait for the
     * commit (in order: nothing after it goes first). */
    if (x->p->opts.ready_when_durable && m.offset >= q_log_durable(x->p->log)) return false;
    if (m.seq <= c->lps_end && !lps_last(x, &m)) {
        q_consumer_advance(c, m.seq + 1);
        if (c->lag_ok && c->lag) c->lag--;
        return true;
    }
    if (!can_send(x, &m)) return false;
    uint64_t token = q_part_token_next(x->p, x->now);
    if (!token) {
        x->fail = -EOVERFLOW;
        return false;
    }
    if (c->cfg.ack_policy != Q_ACKP_NONE) {
        int rc = q_cpend_add(&c->pend, m.seq, token, x->now + c->cfg.ack_wait_ms, false, 1, NULL);
        if (rc) {
            x->fail = rc;
            return false;
        }
    }
    q_consumer_advance(c, m.seq + 1);
    if (c->lag_ok && c->lag) c->lag--;
    if (m.offset >= q_log_durable(x->p->log)) x->p->delivered_undurable++;
    fill(x, &m, token, 1, true);
    return true;
}

static void deliver_new(next_ctx *x)
{
    uint32_t scan = Q_CONSUMER_SCAN_MAX;
    while (x->n < x->max && room(x->c)) {
        if (!deliver_new_one(x, &scan)) return;
    }
    if (x->n == x->max) x->full = true;
}

/* The records of the call: terms (max_deliver), and acks under ack policy none. Then
 * retention for what they settled. 0 or the log's negative errno. */
static int settle_records(next_ctx *x, uint64_t *commit_to)
{
    q_consumer *c = x->c;
    bool logged = q_consumer_logged(c);
    if (x->nterm && logged) {
        int64_t off = q_crec_put_cack(c, Q_CACK_TERM, x->term, x->nterm, NULL, 0);
        if (off < 0) return (int)off;
        q_commit_raise(commit_to, off);
    }
    for (uint32_t i = 0; i < x->nterm; i++) q_consumer_retain(c, x->term[i], x->now, commit_to);
    if (c->cfg.ack_policy != Q_ACKP_NONE || x->nnew == 0) return 0;
    if (logged) {
        uint64_t upto = c->position - 1;
        int64_t off = q_crec_put_cack(c, Q_CACK_ALL, &upto, 1, NULL, 0);
        if (off < 0) return (int)off;
        q_commit_raise(commit_to, off);
    }
    for (uint32_t i = 0; i < x->n; i++)
        if (x->out[i].pending) q_consumer_retain(c, x->out[i].stream_seq, x->now, commit_to);
    return 0;
}

/* Delivery.pending: the lag after each delivery (new ones count down). */
static void set_pending(next_ctx *x)
{
    uint64_t lag = q_consumer_lag(x->c);
    uint32_t later = x->nnew;
    for (uint32_t i = 0; i < x->n; i++) {
        if (x->out[i].pending) later--;
        x->out[i].pending = lag + later;
    }
}

q_status q_consumer_next(q_consumer *c, uint64_t now_ms, uint32_t max, size_t budget_bytes,
                         size_t per_msg_bytes, q_delivery *out, uint32_t *n, uint64_t *next_ms,
                         uint64_t *commit_to, q_err *err)
{
    *n = 0;
    *commit_to = 0;
    if (max == 0 || max > Q_BATCH_MAX)
        return q_fail(err, Q_INVALID_ARGUMENT, "max: 1..%u deliveries", Q_BATCH_MAX);
    if (c->paused_until > now_ms) {
        if (next_ms) *next_ms = c->paused_until;
        return q_ok(err);
    }
    c->paused_until = 0;
    next_ctx x = {.c = c,
                  .p = q_consumer_part(c),
                  .s = q_consumer_stream(c),
                  .now = now_ms,
                  .max = max,
                  .budget = budget_bytes,
                  .per = per_msg_bytes,
                  .out = out};
    redeliver(&x);
    if (!x.full && !x.rated && !x.fail) deliver_new(&x);
    q_cpend_gc(&c->pend);
    *n = x.n;
    int rc = settle_records(&x, commit_to);
    set_pending(&x);
    if (next_ms) *next_ms = x.full ? now_ms : q_consumer_next_ms(c);
    if (x.fail == -EOVERFLOW)
        return q_fail(err, Q_INTERNAL, "delivery tokens exhausted: the epoch could not advance");
    if (x.fail) return q_fail(err, Q_RESOURCE_EXHAUSTED, "out of memory for pending deliveries");
    if (rc) return q_fail_log(err, rc, "consumer ack record");
    return q_ok(err);
}

bool q_consumer_ready(q_consumer *c, uint64_t now_ms)
{
    if (c->paused_until > now_ms) return false;
    if (c->cfg.rate_limit_bytes_per_s) {
        refill(c, now_ms);
        if (c->bucket <= 0) return false;
    }
    if (q_cpend_min_due(&c->pend) <= now_ms) return true;
    return room(c) && c->position <= q_stream_last_seq(q_consumer_stream(c)) &&
           q_consumer_lag(c) > 0;
}

uint64_t q_consumer_next_ms(const q_consumer *c)
{
    if (c->paused_until) return c->paused_until;
    uint64_t t = q_cpend_min_due(&c->pend);
    uint64_t rate = c->cfg.rate_limit_bytes_per_s;
    if (rate && c->bucket <= 0) {
        /* The first ms at which refill() makes the bucket positive. */
        uint64_t wait = ((uint64_t)(-c->bucket) + rate) / rate;
        uint64_t r = c->bucket_ms + wait;
        if (r < t || t == UINT64_MAX) t = r;
    }
    return t;
}
