/* client/rq_pub_stream: the ringq.v1.Streams/PublishStream producer stream (ringq.h,
 * "Pipelined publish"), built as client/rq_enq_stream.c is for Queue.EnqueueStream. Requests are
 * sent as they come while the stream has credits (the server's window, read from each answer;
 * RQ_PSTREAM_CREDITS_DEFAULT before the first); answers arrive in request order, so the oldest
 * unanswered request is the one each answer is for. A lost stream fails every unanswered
 * request with its status; nothing is sent again (a caller that wants exactly-once retries with
 * message ids, which the stream's dedup window recognises). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "client/rq_int.h"
#include "core/rt_clock.h"

/* Requests a stream may have unanswered before the first answer says otherwise: the server's
 * documented window (docs/semantics.md, "EnqueueStream"; PublishStream shares it). */
#define RQ_PSTREAM_CREDITS_DEFAULT 1024u
/* How often an async client tries to start the call while its connection comes up. */
#define RQ_PSTREAM_OPEN_RETRY_MS 2u

struct rq_pub_stream {
    rq_client *c;
    pw_grpc_ccall *call;
    rq_pub_stream_fn fn;
    void *ud;
    rq_durability level;
    uint64_t next_id;  /* request ids: 1, 2, ... */
    uint64_t answered; /* answers received (the next one answers request answered + 1) */
    uint32_t credits;  /* the server's window */
    bool closed;       /* on_close ran (or the open failed) */
    bool half_closed;  /* rq_pub_stream_finish ran */
    bool freeing;      /* rq_pub_stream_free ran: on_close releases it */
    rq_status end;     /* the call's final status once closed */
    size_t *counts;    /* messages per unanswered request (a ring of counts_cap entries) */
    size_t counts_cap;
    rq_pub_ack *acks;                /* one answer's acks, reused */
    char stream[RQ_STREAM_NAME_MAX]; /* one answer's stream name */
    buf out;        /* requests not handed to the call yet (no call yet, or its queue full):
                       * each a 4-byte length and the message; bounded by the credits */
    ev_timer retry; /* an async client's open, while the connection comes up */
    uint64_t open_until_ns;
};

static void pstream_release(rq_pub_stream *s);

static size_t *count_slot(rq_pub_stream *s, uint64_t id) { return &s->counts[id % s->counts_cap]; }

/* Tells the caller an answer (or a failure) for request `id`. */
static void deliver(rq_pub_stream *s, uint64_t id, const rq_status *st, size_t n)
{
    s->answered = id;
    if (s->fn)
        s->fn(s, s->ud, id, st, st->code ? NULL : s->stream, st->code ? NULL : s->acks,
              st->code ? 0 : n);
}

/* Hands queued requests to the call, in order, while its queue takes them. */
static void flush_out(rq_pub_stream *s)
{
    size_t off = 0, left = buf_size(&s->out);
    const uint8_t *p = buf_begin(&s->out);
    while (s->call && left >= 4) {
        uint32_t len;
        memcpy(&len, p + off, 4);
        if (pw_grpc_ccall_send(s->call, p + off + 4, len, false) < 0) break; /* full: later */
        off += 4 + (size_t)len;
        left -= 4 + (size_t)len;
    }
    buf_consume(&s->out, off);
    if (off && s->half_closed && buf_size(&s->out) == 0 && s->call)
        (void)pw_grpc_ccall_close_send(s->call);
    if (off) rq_conn_flush(s->c);
}

/* The stream could not be opened: every request sent so far fails with st. */
static void fail_all(rq_pub_stream *s, const rq_status *st)
{
    s->closed = true;
    s->end = *st;
    buf_truncate(&s->out, 0);
    while (s->answered + 1 < s->next_id) deliver(s, s->answered + 1, st, 0);
}

/* One PublishStreamResponse: its status, and on OK its acks into s->acks. */
static void answer_decode(rq_pub_stream *s, const pwm_ringq_v1_PublishStreamResponse *r,
                          uint64_t id, rq_status *st)
{
    rq_set_status(st, (int)r->code, "%.*s", (int)r->message.len, (const char *)r->message.ptr);
    if (r->code != 0) return;
    if (r->request_id != id || !r->publish) {
        rq_set_status(st, PW_GRPC_INTERNAL, "answer %llu for request %llu%s",
                      (unsigned long long)r->request_id, (unsigned long long)id,
                      r->publish ? "" : " without its acks");
        return;
    }
    (void)rq_pub_acks_from(r->publish, s->acks, *count_slot(s, id), s->stream, st);
}

static int on_msg(pw_grpc_ccall *call, void *ud, const uint8_t *p, size_t n)
{
    rq_pub_stream *s = ud;
    pwm_ringq_v1_PublishStreamResponse r;
    pw_msg_arena a;
    int rc = rq_msg_decode(&pwm_ringq_v1_PublishStreamResponse_desc, &r, p, n, &a);
    if (rc < 0) return rc;
    uint64_t id = s->answered + 1;
    rq_status st;
    answer_decode(s, &r, id, &st);
    if (r.credits) s->credits = r.credits < s->counts_cap ? r.credits : (uint32_t)s->counts_cap;
    pw_msg_arena_deinit(&a);
    deliver(s, id, &st, *count_slot(s, id));
    flush_out(s);
    return 0;
}

static void on_close(pw_grpc_ccall *call, void *ud, const pw_grpc_cstatus *cs)
{
    rq_pub_stream *s = ud;
    s->call = NULL;
    s->closed = true;
    if (s->freeing) return pstream_release(s);
    rq_set_status(&s->end, (int)cs->code, "%.*s", (int)cs->message_len, cs->message);
    rq_status st = s->end;
    if (st.code == 0)
        rq_set_status(&st, PW_GRPC_INTERNAL, "the stream ended with requests unanswered");
    while (s->answered + 1 < s->next_id) deliver(s, s->answered + 1, &st, 0);
}

static const pw_grpc_ccall_cbs pstream_cbs = {on_msg, on_close};

/* Tries to start the call. true when started or failed for good (fail_all ran); false while
 * the connection is still coming up. */
static bool try_start(rq_pub_stream *s, rq_status *st)
{
    s->call = rq_conn_start(s->c, pwm_ringq_v1_Streams_PublishStream_PATH, 0, &pstream_cbs, s, st);
    if (s->call) {
        flush_out(s);
        return true;
    }
    if (st->code == RQ_ECONNECT && !s->c->dial_fails && rt_now_ns() < s->open_until_ns)
        return false;
    fail_all(s, st);
    return true;
}

static void retry_fire(ev_loop *loop, ev_timer *t)
{
    rq_pub_stream *s = t->ud;
    rq_status st;
    if (!try_start(s, &st))
        ev_timer_start(loop, &s->retry, rt_now_ns() + RQ_PSTREAM_OPEN_RETRY_MS * RT_NS_PER_MS);
}

static rq_pub_stream *pstream_new(rq_client *c, rq_durability level, rq_pub_stream_fn fn, void *ud)
{
    rq_pub_stream *s = calloc(1, sizeof *s);
    size_t cap = RQ_PSTREAM_CREDITS_DEFAULT;
    if (!s) return NULL;
    *s = (rq_pub_stream){.c = c,
                         .fn = fn,
                         .ud = ud,
                         .level = level,
                         .next_id = 1,
                         .credits = RQ_PSTREAM_CREDITS_DEFAULT,
                         .counts = calloc(cap, sizeof *s->counts),
                         .counts_cap = cap,
                         .acks = calloc(RQ_PUBLISH_BATCH_MAX, sizeof *s->acks)};
    buf_init(&s->out, RQ_MAX_SEND_BYTES);
    ev_timer_init(&s->retry, retry_fire, s);
    s->open_until_ns = rt_now_ns() + (uint64_t)c->connect_timeout_ms * RT_NS_PER_MS;
    if (s->counts && s->acks) return s;
    pstream_release(s);
    return NULL;
}

rq_pub_stream *rq_pub_stream_open(rq_client *c, rq_durability level, rq_pub_stream_fn fn, void *ud,
                                  rq_status *st)
{
    rq_status tmp;
    if (!st) st = &tmp;
    rq_pub_stream *s = c ? pstream_new(c, level, fn, ud) : NULL;
    if (!s) {
        rq_set_status(st, RQ_EINVAL, c ? "out of memory" : "no client");
        return NULL;
    }
    /* A blocking client runs its loop here until the connection is up (a first dial); an
     * async one returns at once and starts the call from its loop (requests queue meanwhile). */
    while (!try_start(s, st)) {
        if (!c->own_loop) {
            ev_timer_start(c->loop, &s->retry,
                           rt_now_ns() + RQ_PSTREAM_OPEN_RETRY_MS * RT_NS_PER_MS);
            return s;
        }
        int pr = rq_client_poll(c, 50); /* -ETIME, -EINTR: nothing yet, poll again */
        if (pr < 0 && pr != -ETIME && pr != -EINTR) break;
    }
    if (!s->call) {
        rq_pub_stream_free(s);
        return NULL;
    }
    rq_set_status(st, 0, NULL);
    return s;
}

size_t rq_pub_stream_unanswered(const rq_pub_stream *s) { return s->next_id - 1 - s->answered; }

/* PublishStreamRequest{request_id, publish{msgs, durability}} into b. 0 or -ENOMEM. */
static int request_encode(rq_pub_stream *s, buf *b, const rq_pub_msg *msgs, size_t n)
{
    pwm_ringq_v1_PublishMessage *pm = rq_pub_fill(msgs, n);
    if (!pm) return -ENOMEM;
    pwm_ringq_v1_PublishRequest pr = {
        .messages = pm, .messages_count = n, .durability = (int32_t)s->level};
    pwm_ringq_v1_PublishStreamRequest m = {.request_id = s->next_id, .publish = &pr};
    int rc = rq_msg_encode(b, &pwm_ringq_v1_PublishStreamRequest_desc, &m);
    free(pm);
    return rc;
}

int rq_pub_stream_send(rq_pub_stream *s, const rq_pub_msg *msgs, size_t n, uint64_t *request_id,
                       rq_status *st)
{
    if (s->closed || s->half_closed)
        return rq_set_status(st, s->closed && s->end.code ? s->end.code : RQ_EINVAL,
                             "the stream is closed");
    int rc = rq_pub_check(msgs, n, st);
    if (rc) return rc;
    if (rq_pub_stream_unanswered(s) >= s->credits)
        return rq_set_status(st, RQ_EAGAIN, "%u requests unanswered: poll for answers first",
                             s->credits);
    buf b;
    buf_init(&b, RQ_MAX_SEND_BYTES);
    rc = request_encode(s, &b, msgs, n);
    /* Straight to the call unless requests wait before it (order) or it has no room. */
    if (rc == 0 && s->call && buf_size(&s->out) == 0)
        rc = pw_grpc_ccall_send(s->call, buf_begin(&b), buf_size(&b), false);
    else if (rc == 0) rc = -ENOBUFS;
    if (rc == -ENOBUFS) {
        uint32_t len = (uint32_t)buf_size(&b);
        rc = buf_append(&s->out, &len, 4);
        if (rc == 0) rc = buf_append(&s->out, buf_begin(&b), len);
    }
    buf_deinit(&b);
    if (rc < 0) return rq_set_status(st, RQ_EINVAL, "request not sent: %s", strerror(-rc));
    *count_slot(s, s->next_id) = n;
    if (request_id) *request_id = s->next_id;
    s->next_id++;
    rq_conn_flush(s->c);
    return rq_set_status(st, 0, NULL);
}

int rq_pub_stream_finish(rq_pub_stream *s, int timeout_ms, rq_status *st)
{
    if (!s->half_closed && !s->closed) {
        s->half_closed = true;
        if (s->call && buf_size(&s->out) == 0) (void)pw_grpc_ccall_close_send(s->call);
        rq_conn_flush(s->c);
    }
    if (timeout_ms < 0) timeout_ms = (int)s->c->timeout_ms;
    while (!s->closed) {
        int r = rq_client_poll(s->c, timeout_ms);
        if (r < 0) return rq_set_status(st, RQ_EINVAL, "poll: %s", strerror(-r));
        if (r == 0) return rq_set_status(st, PW_GRPC_DEADLINE_EXCEEDED, "no answer in time");
    }
    if (st) *st = s->end;
    return s->end.code;
}

static void pstream_release(rq_pub_stream *s)
{
    buf_deinit(&s->out);
    free(s->counts);
    free(s->acks);
    free(s);
}

void rq_pub_stream_free(rq_pub_stream *s)
{
    if (!s) return;
    if (s->c && s->c->loop) ev_timer_stop(s->c->loop, &s->retry);
    if (!s->call) return pstream_release(s);
    /* The call's on_close frees it: now (cancel outside a callback) or from the loop. */
    s->fn = NULL;
    s->freeing = true;
    rq_client *c = s->c;
    pw_grpc_ccall_cancel(s->call); /* s may be gone on return */
    rq_conn_flush(c);
}
