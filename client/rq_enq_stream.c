/* client/rq_enq_stream: the ringq.v1.Queue/EnqueueStream producer stream (ringq.h,
 * "Pipelined enqueue"). Requests are sent as they come while the stream has credits (the
 * server's window, read from each answer; SRV_ESTREAM_CREDITS before the first); answers arrive
 * in request order, so the oldest unanswered request is the one each answer is for. A lost
 * stream fails every unanswered request with its status; nothing is sent again (a caller that
 * wants exactly-once retries uses idempotency keys). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "client/rq_int.h"
#include "core/rt_clock.h"

/* Requests a stream may have unanswered before the first answer says otherwise: the server's
 * documented default window (docs/semantics.md, "EnqueueStream"). */
#define RQ_ESTREAM_CREDITS_DEFAULT 1024u
/* Tasks one answer may carry (a batch's, Q_BATCH_MAX). */
#define RQ_ESTREAM_BATCH_MAX 1000u

struct rq_enq_stream {
    rq_client *c;
    pw_grpc_ccall *call;
    rq_enq_stream_fn fn;
    void *ud;
    rq_durability level;
    uint64_t next_id;  /* request ids: 1, 2, ... */
    uint64_t answered; /* answers received (the next one answers request answered + 1) */
    uint32_t credits;  /* the server's window */
    bool closed;       /* on_close ran */
    bool half_closed;  /* rq_enq_stream_finish ran */
    bool freeing;      /* rq_enq_stream_free ran: on_close releases it */
    rq_status end;     /* the call's final status once closed */
    size_t *counts;    /* tasks per unanswered request (a ring of `credits` entries) */
    size_t counts_cap;
    rq_enqueue_result *res; /* one answer's results, reused */
    rq_receipt *rcpt;
    buf out;        /* requests not handed to the call yet (no call yet, or its queue full):
                       * each a 4-byte length and the message; bounded by the credits */
    ev_timer retry; /* an async client's open, while the connection comes up */
    uint64_t open_until_ns;
};

/* How often an async client tries to start the call while its connection comes up. */
#define RQ_ESTREAM_OPEN_RETRY_MS 2u

static void estream_release(rq_enq_stream *s);

static size_t *count_slot(rq_enq_stream *s, uint64_t id) { return &s->counts[id % s->counts_cap]; }

/* Tells the caller an answer (or a failure) for request `id`. */
static void deliver(rq_enq_stream *s, uint64_t id, const rq_status *st, size_t n)
{
    s->answered = id;
    if (s->fn) s->fn(s, s->ud, id, st, st->code ? NULL : s->res, st->code ? NULL : s->rcpt, n);
}

/* Hands queued requests to the call, in order, while its queue takes them. */
static void flush_out(rq_enq_stream *s)
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
static void fail_all(rq_enq_stream *s, const rq_status *st)
{
    s->closed = true;
    s->end = *st;
    buf_truncate(&s->out, 0);
    while (s->answered + 1 < s->next_id) deliver(s, s->answered + 1, st, 0);
}

static int on_msg(pw_grpc_ccall *call, void *ud, const uint8_t *p, size_t n)
{
    rq_enq_stream *s = ud;
    pwm_ringq_v1_EnqueueStreamResponse r;
    pw_msg_arena a;
    int rc = rq_msg_decode(&pwm_ringq_v1_EnqueueStreamResponse_desc, &r, p, n, &a);
    if (rc < 0) return rc;
    uint64_t id = s->answered + 1;
    rq_status st;
    rq_set_status(&st, (int)r.code, "%.*s", (int)r.message.len, (const char *)r.message.ptr);
    size_t k = r.results_count;
    if (r.code == 0 && (r.request_id != id || k != *count_slot(s, id) || k > RQ_ESTREAM_BATCH_MAX))
        rq_set_status(&st, PW_GRPC_INTERNAL, "answer %llu for request %llu with %zu results",
                      (unsigned long long)r.request_id, (unsigned long long)id, k);
    for (size_t i = 0; st.code == 0 && i < k; i++) {
        const pwm_ringq_v1_EnqueueResult *e = &r.results[i];
        rq_copy_str(s->res[i].id, RQ_ID_MAX, e->id);
        s->res[i].duplicate = e->duplicate;
        s->rcpt[i] = e->receipt
                         ? (rq_receipt){e->receipt->partition, e->receipt->offset,
                                        e->receipt->commit_seq, (rq_durability)e->receipt->level}
                         : (rq_receipt){0};
    }
    if (r.credits) s->credits = r.credits < s->counts_cap ? r.credits : (uint32_t)s->counts_cap;
    pw_msg_arena_deinit(&a);
    deliver(s, id, &st, st.code ? 0 : k);
    flush_out(s);
    return 0;
}

static void on_close(pw_grpc_ccall *call, void *ud, const pw_grpc_cstatus *cs)
{
    rq_enq_stream *s = ud;
    s->call = NULL;
    s->closed = true;
    if (s->freeing) return estream_release(s);
    rq_set_status(&s->end, (int)cs->code, "%.*s", (int)cs->message_len, cs->message);
    rq_status st = s->end;
    if (st.code == 0)
        rq_set_status(&st, PW_GRPC_INTERNAL, "the stream ended with requests unanswered");
    while (s->answered + 1 < s->next_id) deliver(s, s->answered + 1, &st, 0);
}

static const pw_grpc_ccall_cbs estream_cbs = {on_msg, on_close};

/* Tries to start the call. true when started or failed for good (fail_all ran); false while
 * the connection is still coming up. */
static bool try_start(rq_enq_stream *s, rq_status *st)
{
    s->call = rq_conn_start(s->c, pwm_ringq_v1_Queue_EnqueueStream_PATH, 0, &estream_cbs, s, st);
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
    rq_enq_stream *s = t->ud;
    rq_status st;
    if (!try_start(s, &st))
        ev_timer_start(loop, &s->retry, rt_now_ns() + RQ_ESTREAM_OPEN_RETRY_MS * RT_NS_PER_MS);
}

rq_enq_stream *rq_enq_stream_open(rq_client *c, rq_durability level, rq_enq_stream_fn fn, void *ud,
                                  rq_status *st)
{
    rq_enq_stream *s = calloc(1, sizeof *s);
    size_t cap = RQ_ESTREAM_CREDITS_DEFAULT;
    if (s) {
        s->counts = calloc(cap, sizeof *s->counts);
        s->res = calloc(RQ_ESTREAM_BATCH_MAX, sizeof *s->res);
        s->rcpt = calloc(RQ_ESTREAM_BATCH_MAX, sizeof *s->rcpt);
    }
    if (!s || !s->counts || !s->res || !s->rcpt) {
        rq_enq_stream_free(s);
        rq_set_status(st, RQ_EINVAL, "out of memory");
        return NULL;
    }
    *s = (rq_enq_stream){.c = c,
                         .fn = fn,
                         .ud = ud,
                         .level = level,
                         .next_id = 1,
                         .credits = RQ_ESTREAM_CREDITS_DEFAULT,
                         .counts = s->counts,
                         .counts_cap = cap,
                         .res = s->res,
                         .rcpt = s->rcpt};
    buf_init(&s->out, RQ_MAX_SEND_BYTES);
    ev_timer_init(&s->retry, retry_fire, s);
    s->open_until_ns = rt_now_ns() + (uint64_t)c->connect_timeout_ms * RT_NS_PER_MS;
    rq_status tmp;
    if (!st) st = &tmp;
    /* A blocking client runs its loop here until the connection is up (a first dial); an
     * async one returns at once and starts the call from its loop (requests queue meanwhile). */
    while (!try_start(s, st)) {
        if (!c->own_loop) {
            ev_timer_start(c->loop, &s->retry,
                           rt_now_ns() + RQ_ESTREAM_OPEN_RETRY_MS * RT_NS_PER_MS);
            return s;
        }
        int pr = rq_client_poll(c, 50); /* -ETIME, -EINTR: nothing yet, poll again */
        if (pr < 0 && pr != -ETIME && pr != -EINTR) break;
    }
    if (!s->call) {
        rq_enq_stream_free(s);
        return NULL;
    }
    rq_set_status(st, 0, NULL);
    return s;
}

size_t rq_enq_stream_unanswered(const rq_enq_stream *s) { return s->next_id - 1 - s->answered; }

int rq_enq_stream_send(rq_enq_stream *s, const char *queue, const rq_task_spec *tasks, size_t n,
                       uint64_t *request_id, rq_status *st)
{
    if (s->closed || s->half_closed)
        return rq_set_status(st, s->closed && s->end.code ? s->end.code : RQ_EINVAL,
                             "the stream is closed");
    if (!queue || !*queue || !tasks || n == 0 || n > RQ_ESTREAM_BATCH_MAX)
        return rq_set_status(st, RQ_EINVAL, "a request needs a queue and 1..1000 tasks");
    if (rq_enq_stream_unanswered(s) >= s->credits)
        return rq_set_status(st, RQ_EAGAIN, "%u requests unanswered: poll for answers first",
                             s->credits);
    pwm_ringq_v1_TaskSpec *specs = rq_task_specs_new(tasks, n);
    if (!specs) return rq_set_status(st, RQ_EINVAL, "out of memory");
    pwm_ringq_v1_EnqueueStreamRequest m = {
        .request_id = s->next_id, .queue = rq_str(queue), .durability = (int32_t)s->level};
    if (n == 1) m.task = specs;
    else m.tasks = specs, m.tasks_count = n;
    buf b;
    buf_init(&b, RQ_MAX_SEND_BYTES);
    int rc = rq_msg_encode(&b, &pwm_ringq_v1_EnqueueStreamRequest_desc, &m);
    free(specs);
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

int rq_enq_stream_finish(rq_enq_stream *s, int timeout_ms, rq_status *st)
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

static void estream_release(rq_enq_stream *s)
{
    buf_deinit(&s->out);
    free(s->counts);
    free(s->res);
    free(s->rcpt);
    free(s);
}

void rq_enq_stream_free(rq_enq_stream *s)
{
    if (!s) return;
    if (s->c && s->c->loop) ev_timer_stop(s->c->loop, &s->retry);
    if (!s->call) return estream_release(s);
    /* The call's on_close frees it: now (cancel outside a callback) or from the loop. */
    s->fn = NULL;
    s->freeing = true;
    rq_client *c = s->c;
    pw_grpc_ccall_cancel(s->call); /* s may be gone on return */
    rq_conn_flush(c);
}
