/* client/rq_stream_read: a blocking session on the ringq.v1.Streams/Read server stream (a
 * stream's messages without a consumer, client/ringq.h "Read").
 *
 * Open starts the call and sends the one ReadRequest (half-closing after it); messages are
 * queued as they arrive and taken with rq_read_next. Flow control: the session runs the
 * client's loop only from rq_read_next, and only while its queue is empty, so a caller that
 * stops taking messages stops reading the connection: what waits is bounded by the HTTP/2
 * stream window (the server then holds its one batch, server/srv_stream_read.c), never a
 * backlog that grows with the stream. Everything runs on the client's loop from inside the
 * session's calls, like rq_consume; no callback reaches the caller. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "client/rq_int.h"
#include "client/rq_sendq.h"
#include "core/rt_clock.h"

/* Longest wait of one loop iteration while the session waits for a connection (a failed
 * dial's backoff timer wakes the loop sooner; this only bounds a wait nobody wakes). */
#define RQ_READ_POLL_MS 100

typedef struct rmsg {
    struct rmsg *next;
    rq_stream_msg *m;
} rmsg;

struct rq_read {
    rq_client *c;
    pw_grpc_ccall *call;
    rq_sendq out;
    bool half_closed, ended, closing;
    rq_status end_st; /* why the call ended (code 0: it ended OK) */
    rmsg *head, *tail;
};

static void session_free(rq_read *r)
{
    rq_sendq_clear(&r->out);
    while (r->head) {
        rmsg *q = r->head;
        r->head = q->next;
        rq_stream_msg_free(q->m);
        free(q);
    }
    free(r);
}

/* Sends the request, then half-closes: the server answers a whole ReadRequest only. */
static void send_queued(rq_read *r)
{
    if (r->call) {
        rq_sendq_send(&r->out, r->call);
        if (!r->out.head && !r->half_closed && pw_grpc_ccall_close_send(r->call) == 0)
            r->half_closed = true;
    }
    rq_conn_flush(r->c);
}

static int on_msg(pw_grpc_ccall *call, void *ud, const uint8_t *p, size_t n)
{
    rq_read *r = ud;
    pwm_ringq_v1_StreamMessage m;
    pw_msg_arena a;
    int rc = rq_msg_decode(&pwm_ringq_v1_StreamMessage_desc, &m, p, n, &a);
    if (rc < 0) return rc; /* cancels the call: reported as the session's end */
    rmsg *q = malloc(sizeof *q);
    if (!q || !rq_stream_msg_alloc(&m, 0, &q->m)) {
        free(q);
        rc = -ENOMEM;
    } else {
        q->next = NULL;
        if (r->tail) r->tail->next = q;
        else r->head = q;
        r->tail = q;
    }
    pw_msg_arena_deinit(&a);
    return rc;
}

static void on_close(pw_grpc_ccall *call, void *ud, const pw_grpc_cstatus *st)
{
    rq_read *r = ud;
    r->call = NULL;
    if (r->closing) {
        session_free(r);
        return;
    }
    r->ended = true;
    if (st->code == 0) rq_set_status(&r->end_st, 0, NULL);
    else rq_set_status(&r->end_st, (int)st->code, "%.*s", (int)st->message_len, st->message);
}

/* Starts the call, waiting for a connection until deadline_ns. 0 or the status. */
static int start_call(rq_read *r, uint64_t deadline_ns, rq_status *st)
{
    static const pw_grpc_ccall_cbs cbs = {on_msg, on_close};
    rq_client *c = r->c;
    for (;;) {
        r->call = rq_conn_start(c, pwm_ringq_v1_Streams_Read_PATH, 0, &cbs, r, st);
        if (r->call) return 0;
        if (st->code != RQ_ECONNECT || (c->fail_fast && c->dial_fails)) return st->code;
        uint64_t now = rt_now_ns();
        if (now >= deadline_ns) return st->code;
        uint64_t left_ms = (deadline_ns - now) / RT_NS_PER_MS + 1;
        int rc = rq_client_poll(c, left_ms < RQ_READ_POLL_MS ? (int)left_ms : RQ_READ_POLL_MS);
        if (rc < 0 && rc != -EINTR && rc != -ETIME)
            return rq_set_status(st, PW_GRPC_INTERNAL, "the event loop failed");
    }
}

/* The request's arguments: the library's own checks (the server checks the rest). */
static int check_opts(const char *stream, const rq_read_opts *o, rq_status *st)
{
    if (!stream || !*stream || strlen(stream) >= RQ_STREAM_NAME_MAX)
        return rq_set_status(st, RQ_EINVAL, "read needs a stream name (1..%d bytes)",
                             RQ_STREAM_NAME_MAX - 1);
    if (!o) return 0;
    if (o->start_seq && o->start_unix_ms)
        return rq_set_status(st, RQ_EINVAL, "read starts from a sequence or a time, not both");
    if (o->end_seq && o->start_seq > o->end_seq)
        return rq_set_status(st, RQ_EINVAL, "read: start_seq %llu is above end_seq %llu",
                             (unsigned long long)o->start_seq, (unsigned long long)o->end_seq);
    if (o->nfilters > RQ_STREAM_SUBJECTS_MAX || (o->nfilters && !o->filters))
        return rq_set_status(st, RQ_EINVAL, "read: at most %d filters", RQ_STREAM_SUBJECTS_MAX);
    for (size_t i = 0; i < o->nfilters; i++)
        if (!o->filters[i] || !*o->filters[i] || strlen(o->filters[i]) >= RQ_SUBJECT_MAX)
            return rq_set_status(st, RQ_EINVAL, "read: filter %zu is empty or too long", i);
    return 0;
}

static int send_request(rq_read *r, const char *stream, const rq_read_opts *o)
{
    static const rq_read_opts none = {0};
    if (!o) o = &none;
    pw_pb_bytes filters[RQ_STREAM_SUBJECTS_MAX];
    for (size_t i = 0; i < o->nfilters; i++) filters[i] = rq_str(o->filters[i]);
    pwm_ringq_v1_ReadRequest req = {.stream = rq_str(stream),
                                    .end_seq = o->end_seq,
                                    .filter_subjects = filters,
                                    .filter_subjects_count = o->nfilters,
                                    .headers_only = o->headers_only,
                                    .max_messages = o->max_messages};
    if (o->start_unix_ms) {
        req.start_case = pwm_ringq_v1_ReadRequest_FIELD_start_unix_ms;
        req.start_unix_ms = o->start_unix_ms;
    } else if (o->start_seq) {
        req.start_case = pwm_ringq_v1_ReadRequest_FIELD_start_seq;
        req.start_seq = o->start_seq;
    }
    int rc = rq_sendq_push(&r->out, &pwm_ringq_v1_ReadRequest_desc, &req);
    if (rc < 0) return rc;
    send_queued(r);
    return 0;
}

rq_read *rq_read_open(rq_client *c, const char *stream, const rq_read_opts *o, rq_status *st)
{
    rq_status local;
    if (!st) st = &local;
    if (rq_blocking_refused(c, st)) return NULL;
    if (check_opts(stream, o, st)) return NULL;
    rq_read *r = calloc(1, sizeof *r);
    if (!r) {
        rq_set_status(st, PW_GRPC_RESOURCE_EXHAUSTED, "out of memory");
        return NULL;
    }
    r->c = c;
    uint64_t deadline = rt_now_ns() + (uint64_t)c->timeout_ms * RT_NS_PER_MS;
    int rc = start_call(r, deadline, st);
    if (rc == 0 && send_request(r, stream, o) < 0)
        rc = rq_set_status(st, RQ_EINVAL, "read request too large or out of memory");
    if (rc) {
        rq_read_close(r);
        return NULL;
    }
    rq_set_status(st, 0, NULL);
    return r;
}

int rq_read_next(rq_read *r, int timeout_ms, rq_stream_msg **out, rq_status *st)
{
    rq_status local;
    if (!st) st = &local;
    *out = NULL;
    uint64_t deadline = timeout_ms < 0 ? 0 : rt_now_ns() + (uint64_t)timeout_ms * RT_NS_PER_MS;
    /* The only place the session reads the connection (flow control: see the top). */
    for (bool polled = false; !r->head && !r->ended; polled = true) {
        send_queued(r);
        int ms = -1;
        if (timeout_ms >= 0) {
            uint64_t now = rt_now_ns();
            if (now >= deadline && polled) return rq_set_status(st, 0, NULL); /* none yet */
            ms = now >= deadline ? 0 : (int)((deadline - now) / RT_NS_PER_MS + 1);
        }
        int rc = rq_client_poll(r->c, ms);
        if (rc < 0 && rc != -EINTR && rc != -ETIME)
            return rq_set_status(st, PW_GRPC_INTERNAL, "the event loop failed");
    }
    if (r->head) {
        rmsg *q = r->head;
        r->head = q->next;
        if (!r->head) r->tail = NULL;
        *out = q->m;
        free(q);
        return rq_set_status(st, 0, NULL);
    }
    if (!r->ended) return rq_set_status(st, 0, NULL);
    *st = r->end_st;
    return st->code;
}

bool rq_read_done(const rq_read *r) { return r->ended && !r->head && r->end_st.code == 0; }

void rq_read_close(rq_read *r)
{
    if (!r) return;
    if (!r->call) {
        session_free(r);
        return;
    }
    rq_client *c = r->c;
    r->closing = true;
    pw_grpc_ccall_cancel(r->call); /* its on_close frees r (now, or from a later iteration) */
    rq_conn_flush(c);
}
