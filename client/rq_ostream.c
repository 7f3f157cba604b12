/* client/rq_ostream: an ordered request stream (rq_int.h), the machinery the EnqueueStream and
 * PublishStream sessions share: opening while the first dial is in progress, credits, the ring
 * of per-request counts, in-order answer matching, failing every unanswered request when the
 * stream is lost, finish and free. The sessions bring the method, one request's encoding and
 * one answer's decoding and delivery. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "client/rq_int.h"
#include "core/rt_clock.h"

static void ostream_release(rq_ostream *o);

static size_t *count_slot(rq_ostream *o, uint64_t id) { return &o->counts[id % o->counts_cap]; }

/* Tells the caller an answer (or a failure) for request `id`. */
static void deliver(rq_ostream *o, uint64_t id, const rq_status *st, size_t n)
{
    o->answered = id;
    if (!o->freeing) o->ops->deliver(o, id, st, n);
}

/* Hands queued requests to the call, in order, while its queue takes them. */
static void flush_out(rq_ostream *o)
{
    size_t off = 0, left = buf_size(&o->out);
    const uint8_t *p = buf_begin(&o->out);
    while (o->call && left >= 4) {
        uint32_t len;
        memcpy(&len, p + off, 4);
        if (pw_grpc_ccall_send(o->call, p + off + 4, len, false) < 0) break; /* full: later */
        off += 4 + (size_t)len;
        left -= 4 + (size_t)len;
    }
    buf_consume(&o->out, off);
    if (off && o->half_closed && buf_size(&o->out) == 0 && o->call)
        (void)pw_grpc_ccall_close_send(o->call);
    if (off) rq_conn_flush(o->c);
}

/* The stream could not be opened: every request sent so far fails with st. */
static void fail_all(rq_ostream *o, const rq_status *st)
{
    o->closed = true;
    o->end = *st;
    buf_truncate(&o->out, 0);
    while (o->answered + 1 < o->next_id) deliver(o, o->answered + 1, st, 0);
}

static int on_msg(pw_grpc_ccall *call, void *ud, const uint8_t *p, size_t n)
{
    rq_ostream *o = ud;
    uint64_t id = o->answered + 1;
    rq_status st;
    size_t items = 0;
    uint32_t credits = 0;
    int rc = o->ops->answer(o, p, n, id, *count_slot(o, id), &st, &items, &credits);
    if (rc < 0) return rc;
    if (credits) o->credits = credits < o->counts_cap ? credits : (uint32_t)o->counts_cap;
    deliver(o, id, &st, st.code ? 0 : items);
    flush_out(o);
    return 0;
}

static void on_close(pw_grpc_ccall *call, void *ud, const pw_grpc_cstatus *cs)
{
    rq_ostream *o = ud;
    o->call = NULL;
    o->closed = true;
    if (o->freeing) return ostream_release(o);
    rq_set_status(&o->end, (int)cs->code, "%.*s", (int)cs->message_len, cs->message);
    rq_status st = o->end;
    if (st.code == 0)
        rq_set_status(&st, PW_GRPC_INTERNAL, "the stream ended with requests unanswered");
    while (o->answered + 1 < o->next_id) deliver(o, o->answered + 1, &st, 0);
}

static const pw_grpc_ccall_cbs ostream_cbs = {on_msg, on_close};

/* Tries to start the call. true when started or failed for good (fail_all ran); false while
 * the connection is still coming up. */
static bool try_start(rq_ostream *o, rq_status *st)
{
    o->call = rq_conn_start(o->c, o->ops->path, 0, &ostream_cbs, o, st);
    if (o->call) {
        flush_out(o);
        return true;
    }
    if (st->code == RQ_ECONNECT && !o->c->dial_fails && rt_now_ns() < o->open_until_ns)
        return false;
    fail_all(o, st);
    return true;
}

static void retry_fire(ev_loop *loop, ev_timer *t)
{
    rq_ostream *o = t->ud;
    rq_status st;
    if (!try_start(o, &st))
        ev_timer_start(loop, &o->retry, rt_now_ns() + RQ_OSTREAM_OPEN_RETRY_MS * RT_NS_PER_MS);
}

int rq_ostream_init(rq_ostream *o, rq_client *c, const rq_ostream_ops *ops)
{
    size_t cap = RQ_OSTREAM_CREDITS_DEFAULT;
    *o = (rq_ostream){.c = c,
                      .ops = ops,
                      .next_id = 1,
                      .credits = RQ_OSTREAM_CREDITS_DEFAULT,
                      .counts = calloc(cap, sizeof *o->counts),
                      .counts_cap = cap};
    if (!o->counts) return -ENOMEM;
    buf_init(&o->out, RQ_MAX_SEND_BYTES);
    buf_init(&o->enc, RQ_MAX_SEND_BYTES);
    ev_timer_init(&o->retry, retry_fire, o);
    o->open_until_ns = rt_now_ns() + (uint64_t)c->connect_timeout_ms * RT_NS_PER_MS;
    return 0;
}

bool rq_ostream_start(rq_ostream *o, rq_status *st)
{
    rq_client *c = o->c;
    /* A blocking client runs its loop here until the connection is up (a first dial); an
     * async one returns at once and starts the call from its loop (requests queue meanwhile). */
    while (!try_start(o, st)) {
        if (!c->own_loop) {
            ev_timer_start(c->loop, &o->retry,
                           rt_now_ns() + RQ_OSTREAM_OPEN_RETRY_MS * RT_NS_PER_MS);
            return true;
        }
        int pr = rq_client_poll(c, 50); /* -ETIME, -EINTR: nothing yet, poll again */
        if (pr < 0 && pr != -ETIME && pr != -EINTR) break;
    }
    if (!o->call) return false;
    rq_set_status(st, 0, NULL);
    return true;
}

size_t rq_ostream_unanswered(const rq_ostream *o) { return o->next_id - 1 - o->answered; }

/* Hands b to the call, or queues it behind the requests waiting before it. 0 or -errno. */
static int ostream_put(rq_ostream *o, const buf *b)
{
    int rc = -ENOBUFS;
    /* Straight to the call unless requests wait before it (order) or it has no room. */
    if (o->call && buf_size(&o->out) == 0)
        rc = pw_grpc_ccall_send(o->call, buf_begin(b), buf_size(b), false);
    if (rc == -ENOBUFS) {
        uint32_t len = (uint32_t)buf_size(b);
        uint8_t *p;
        rc = buf_reserve(&o->out, 4u + (size_t)len, &p); /* both or neither: no stray length */
        if (rc == 0) {
            memcpy(p, &len, 4);
            if (len) memcpy(p + 4, buf_begin(b), len);
            buf_commit(&o->out, 4u + (size_t)len);
        }
    }
    return rc;
}

int rq_ostream_send(rq_ostream *o, int (*check)(const void *req, rq_status *st),
                    rq_ostream_encode_fn enc, const void *req, size_t n, uint64_t *request_id,
                    rq_status *st)
{
    if (o->closed || o->half_closed)
        return rq_set_status(st, o->closed && o->end.code ? o->end.code : RQ_EINVAL,
                             "the stream is closed");
    int rc = check ? check(req, st) : 0;
    if (rc) return rc;
    if (rq_ostream_unanswered(o) >= o->credits)
        return rq_set_status(st, RQ_EAGAIN, "%u requests unanswered: poll for answers first",
                             o->credits);
    /* Encoded into the stream's own buffer, emptied again after the send: a request costs no
     * allocation once the buffer has grown to the producer's size. */
    buf *b = &o->enc;
    int erc = enc(req, o->next_id, b, st);
    rc = erc ? 0 : ostream_put(o, b);
    buf_consume(b, buf_size(b));
    buf_shrink(b, RQ_OSTREAM_ENC_KEEP_BYTES);
    if (erc) return erc; /* st filled */
    if (rc < 0) return rq_set_status(st, RQ_EINVAL, "request not sent: %s", strerror(-rc));
    *count_slot(o, o->next_id) = n;
    if (request_id) *request_id = o->next_id;
    o->next_id++;
    rq_conn_flush(o->c);
    return rq_set_status(st, 0, NULL);
}

int rq_ostream_finish(rq_ostream *o, int timeout_ms, rq_status *st)
{
    if (!o->half_closed && !o->closed) {
        o->half_closed = true;
        if (o->call && buf_size(&o->out) == 0) (void)pw_grpc_ccall_close_send(o->call);
        rq_conn_flush(o->c);
    }
    if (timeout_ms < 0) timeout_ms = (int)o->c->timeout_ms;
    while (!o->closed) {
        int r = rq_client_poll(o->c, timeout_ms);
        if (r < 0) return rq_set_status(st, RQ_EINVAL, "poll: %s", strerror(-r));
        if (r == 0) return rq_set_status(st, PW_GRPC_DEADLINE_EXCEEDED, "no answer in time");
    }
    if (st) *st = o->end;
    return o->end.code;
}

static void ostream_release(rq_ostream *o)
{
    buf_deinit(&o->out);
    buf_deinit(&o->enc);
    free(o->counts);
    o->ops->release(o); /* o may be gone on return */
}

void rq_ostream_free(rq_ostream *o)
{
    if (o->c && o->c->loop) ev_timer_stop(o->c->loop, &o->retry);
    if (!o->call) return ostream_release(o);
    /* The call's on_close frees it: now (cancel outside a callback) or from the loop. */
    o->freeing = true;
    rq_client *c = o->c;
    pw_grpc_ccall_cancel(o->call); /* o may be gone on return */
    rq_conn_flush(c);
}
