/* client/rq_stream_aconsume: the ringq.v1.Streams/Consume stream for programs that run their own
 * loop (rq_client_opts.loop) — the asynchronous twin of rq_stream_consume.c's blocking session.
 *
 * Open starts the call (or waits for the connection, retrying every RQ_BACKOFF_MIN_MS until the
 * client's timeout) and queues the bind; the bind's answer comes as on_bound. Deliveries come as
 * on_delivery, a view valid during the callback. Requests are encoded once into a send queue:
 * credits and the bind go out at once (or from the next loop iteration when asked for from
 * inside a libringq callback); acks collect in an open batch that goes out as one Acks request
 * (up to RQ_ACK_REFS_MAX refs) from the next loop iteration, so the acks a program makes in one
 * iteration cost one message. Each batch carries a request id; its ConsumeResult's per-item
 * statuses come back as one on_acked per ack, with the caller's tag. Like the blocking session
 * it does not re-bind after a loss: on_end reports it, once. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "client/rq_int.h"
#include "client/rq_sendq.h"
#include "core/rt_clock.h"

/* A ConsumeResponse's decoded form (a delivery with its message and headers, or an ack batch's
 * per-item statuses) goes on the stack up to this many bytes; a larger one takes heap chunks. */
#define RQ_ACONSUME_DECODE_STACK_BYTES 4096u
/* Credits outstanding at once (streams.proto ConsumeRequest.credits). */
#define RQ_ACONSUME_CREDITS_MAX 10000u
/* The bind's request id; ack batches count up from the next. */
#define RQ_ACONSUME_BIND_ID 1u

/* An ack batch sent and not yet answered: its request id and the callers' tags, in ref order. */
typedef struct abatch {
    struct abatch *next;
    uint64_t request_id;
    size_t n;
    uint64_t tags[];
} abatch;

struct rq_aconsume {
    rq_client *c;
    pw_grpc_ccall *call;
    rq_aconsume_cbs cb;
    void *ud;
    char stream[RQ_STREAM_NAME_MAX], name[RQ_STREAM_NAME_MAX];
    uint32_t bind_credits;
    bool bound, ended, closing;
    rq_status err;        /* why the session is ending (set before cancelling the call) */
    uint64_t deadline_ns; /* of the connection wait at open */
    ev_timer timer;       /* connection retry, or the next iteration's flush */
    rq_sendq out;
    abatch *sent_head, *sent_tail; /* answers come in order: the head is usually the one */
    uint64_t next_id;
    /* the open ack batch */
    rq_delivery_ref refs[RQ_ACK_REFS_MAX];
    uint64_t tags[RQ_ACK_REFS_MAX];
    size_t nrefs;
};

static void session_free(rq_aconsume *s)
{
    ev_timer_stop(s->c->loop, &s->timer);
    rq_sendq_clear(&s->out);
    while (s->sent_head) {
        abatch *b = s->sent_head;
        s->sent_head = b->next;
        free(b);
    }
    free(s);
}

/* Sends the queued requests on the call (outside pw_grpc only). */
static void send_queued(rq_aconsume *s)
{
    if (s->call) rq_sendq_send(&s->out, s->call);
    rq_conn_flush(s->c);
}

/* Sends now when that is safe, else from the next loop iteration. */
static void send_soon(rq_aconsume *s)
{
    if (s->c->in_grpc || s->c->dispatching) ev_timer_start(s->c->loop, &s->timer, 0);
    else send_queued(s);
}

/* Encodes *req at the tail of the send queue. 0 or -ENOMEM. */
static int queue_req(rq_aconsume *s, const pwm_ringq_v1_ConsumeRequest *req)
{
    return rq_sendq_push(&s->out, &pwm_ringq_v1_ConsumeRequest_desc, req);
}

/* The open ack batch as one Acks request, remembered until its answer. 0 or -ENOMEM (the batch
 * stays open). */
static int close_batch(rq_aconsume *s)
{
    if (!s->nrefs) return 0;
    abatch *b = malloc(sizeof *b + s->nrefs * sizeof b->tags[0]);
    if (!b) return -ENOMEM;
    pwm_ringq_v1_DeliveryRef dr[RQ_ACK_REFS_MAX];
    pwm_ringq_v1_Acks acks;
    rq_acks_fill(&acks, dr, s->refs, s->nrefs, RQ_ACK_KIND_ACK, NULL);
    pwm_ringq_v1_ConsumeRequest req = {.request_id = s->next_id,
                                       .kind_case = pwm_ringq_v1_ConsumeRequest_FIELD_acks,
                                       .acks = &acks};
    if (queue_req(s, &req) < 0) {
        free(b);
        return -ENOMEM;
    }
    b->next = NULL;
    b->request_id = s->next_id++;
    b->n = s->nrefs;
    memcpy(b->tags, s->tags, s->nrefs * sizeof b->tags[0]);
    if (s->sent_tail) s->sent_tail->next = b;
    else s->sent_head = b;
    s->sent_tail = b;
    s->nrefs = 0;
    return 0;
}

/* ---- answers ---- */

/* Ends the session from inside a pw_grpc callback: keeps the first reason and asks the caller
 * (on_msg) to cancel the call; on_close then reports it. */
static int fail_in_msg(rq_aconsume *s, int code, const char *why)
{
    if (!s->err.code) rq_set_status(&s->err, code, "%s", why);
    return -EPROTO;
}

static void on_bind_result(rq_aconsume *s, const pwm_ringq_v1_ConsumeResult *res)
{
    rq_status st;
    rq_consumer_info ci;
    rq_set_status(&st, (int)res->code, "%.*s", (int)res->message.len, res->message.ptr);
    if (res->code == 0) {
        s->bound = true;
        memset(&ci, 0, sizeof ci);
        if (res->consumer) rq_consumer_info_from(&ci, res->consumer);
        if (ci.config.name[0]) memcpy(s->name, ci.config.name, sizeof s->name);
    }
    if (s->cb.on_bound) s->cb.on_bound(s, s->ud, res->code == 0 ? &ci : NULL, &st);
}

/* The answer to an ack batch: one on_acked per ref. Unknown ids are a protocol error. */
static int on_batch_result(rq_aconsume *s, const pwm_ringq_v1_ConsumeResult *res)
{
    abatch **pp = &s->sent_head, *prev = NULL;
    while (*pp && (*pp)->request_id != res->request_id) prev = *pp, pp = &(*pp)->next;
    abatch *b = *pp;
    if (!b) return fail_in_msg(s, PW_GRPC_INTERNAL, "a ConsumeResult for no request of ours");
    *pp = b->next;
    if (s->sent_tail == b) s->sent_tail = prev;
    char msg[128];
    for (size_t i = 0; i < b->n && s->cb.on_acked; i++) {
        int code = (int)res->code;
        pw_pb_bytes m = res->message;
        if (!code && i < res->results_count) {
            code = (int)res->results[i].code;
            m = res->results[i].message;
        } else if (!code) {
            code = PW_GRPC_INTERNAL;
            m = rq_str("the server answered fewer acks than were sent");
        }
        rq_copy_str(msg, sizeof msg, m);
        s->cb.on_acked(s, s->ud, b->tags[i], code, msg);
    }
    free(b);
    return 0;
}

static int on_result(rq_aconsume *s, const pwm_ringq_v1_ConsumeResult *res)
{
    if (res->request_id == RQ_ACONSUME_BIND_ID && !s->bound) {
        on_bind_result(s, res);
        return res->code ? fail_in_msg(s, (int)res->code, "bind refused") : 0;
    }
    if (res->request_id == 0) { /* a credit the server refused */
        char why[sizeof s->err.message];
        rq_copy_str(why, sizeof why, res->message);
        return fail_in_msg(s, res->code ? (int)res->code : PW_GRPC_INTERNAL, why);
    }
    return on_batch_result(s, res);
}

static void deliver(rq_aconsume *s, const pwm_ringq_v1_Delivery *d)
{
    const pwm_ringq_v1_StreamMessage *m = d->message;
    rq_delivery_view v = {.consumer_seq = d->consumer_seq,
                          .delivery_count = d->delivery_count,
                          .token = d->token,
                          .pending = d->pending};
    if (m) {
        v.stream_seq = m->seq;
        v.unix_ms = m->unix_ms;
        v.subject = (const char *)m->subject.ptr;
        v.subject_len = m->subject.len;
        v.payload = m->payload.ptr;
        v.payload_len = m->payload.len;
    }
    if (s->cb.on_delivery) s->cb.on_delivery(s, s->ud, &v);
}

static int on_msg(pw_grpc_ccall *call, void *ud, const uint8_t *p, size_t n)
{
    rq_aconsume *s = ud;
    if (s->closing) return 0;
    pwm_ringq_v1_ConsumeResponse resp;
    pw_msg_arena a;
    _Alignas(max_align_t) uint8_t mem[RQ_ACONSUME_DECODE_STACK_BYTES];
    int rc = rq_msg_decode_over(&pwm_ringq_v1_ConsumeResponse_desc, &resp, p, n, &a, mem,
                                sizeof mem);
    if (rc < 0) return fail_in_msg(s, PW_GRPC_INTERNAL, "malformed ConsumeResponse");
    if (resp.kind_case == pwm_ringq_v1_ConsumeResponse_FIELD_delivery && resp.delivery)
        deliver(s, resp.delivery);
    else if (resp.kind_case == pwm_ringq_v1_ConsumeResponse_FIELD_result && resp.result)
        rc = on_result(s, resp.result);
    pw_msg_arena_deinit(&a);
    return rc;
}

static void end_session(rq_aconsume *s, const rq_status *st)
{
    if (s->ended) return;
    s->ended = true;
    ev_timer_stop(s->c->loop, &s->timer);
    if (s->cb.on_end) s->cb.on_end(s, s->ud, st);
}

static void on_close(pw_grpc_ccall *call, void *ud, const pw_grpc_cstatus *cs)
{
    rq_aconsume *s = ud;
    s->call = NULL;
    if (s->closing) {
        session_free(s);
        return;
    }
    rq_status st = s->err;
    if (!st.code) rq_set_status(&st, (int)cs->code, "%.*s", (int)cs->message_len, cs->message);
    if (!st.code) rq_set_status(&st, PW_GRPC_UNAVAILABLE, "the server ended the Consume stream");
    end_session(s, &st);
}

/* ---- starting ---- */

static int queue_bind(rq_aconsume *s)
{
    pwm_ringq_v1_ConsumeBind bind = {
        .stream = rq_str(s->stream), .consumer = rq_str(s->name), .credits = s->bind_credits};
    pwm_ringq_v1_ConsumeRequest req = {.request_id = RQ_ACONSUME_BIND_ID,
                                       .kind_case = pwm_ringq_v1_ConsumeRequest_FIELD_bind,
                                       .bind = &bind};
    return queue_req(s, &req);
}

/* Starts the call when the connection is up; otherwise tries again after RQ_BACKOFF_MIN_MS
 * until the open's deadline, then ends the session with the connection's status. */
static void try_start(rq_aconsume *s)
{
    static const pw_grpc_ccall_cbs cbs = {on_msg, on_close};
    rq_status st;
    s->call = rq_conn_start(s->c, pwm_ringq_v1_Streams_Consume_PATH, 0, &cbs, s, &st);
    if (s->call) {
        send_queued(s);
        return;
    }
    bool give_up = st.code != RQ_ECONNECT || (s->c->fail_fast && s->c->dial_fails) ||
                   rt_now_ns() >= s->deadline_ns;
    if (give_up) end_session(s, &st);
    else ev_timer_start(s->c->loop, &s->timer, rt_now_ns() + RQ_BACKOFF_MIN_MS * RT_NS_PER_MS);
}

/* The timer: starts the call while there is none, else closes the ack batch and sends. */
static void on_timer(ev_loop *loop, ev_timer *t)
{
    rq_aconsume *s = t->ud;
    if (s->ended) return;
    if (!s->call) {
        try_start(s);
        return;
    }
    if (close_batch(s) < 0) {
        rq_set_status(&s->err, PW_GRPC_RESOURCE_EXHAUSTED, "out of memory for an ack batch");
        pw_grpc_ccall_cancel(s->call); /* on_close reports it */
        rq_conn_flush(s->c);
        return;
    }
    send_queued(s);
}

rq_aconsume *rq_aconsume_open(rq_client *c, const char *stream, const char *consumer,
                              uint32_t credits, const rq_aconsume_cbs *cbs, void *ud, rq_status *st)
{
    rq_status local;
    if (!st) st = &local;
    if (!c || c->closing || !cbs || !stream || !*stream || !consumer || !*consumer ||
        strlen(stream) >= RQ_STREAM_NAME_MAX || strlen(consumer) >= RQ_STREAM_NAME_MAX ||
        credits > RQ_ACONSUME_CREDITS_MAX) {
        rq_set_status(st, RQ_EINVAL,
                      "consume needs a stream, a durable consumer and at most %u credits",
                      RQ_ACONSUME_CREDITS_MAX);
        return NULL;
    }
    rq_aconsume *s = calloc(1, sizeof *s);
    if (!s) {
        rq_set_status(st, PW_GRPC_RESOURCE_EXHAUSTED, "out of memory");
        return NULL;
    }
    s->c = c;
    s->cb = *cbs;
    s->ud = ud;
    s->bind_credits = credits;
    s->next_id = RQ_ACONSUME_BIND_ID + 1;
    strcpy(s->stream, stream);
    strcpy(s->name, consumer);
    s->deadline_ns = rt_now_ns() + (uint64_t)c->timeout_ms * RT_NS_PER_MS;
    ev_timer_init(&s->timer, on_timer, s);
    if (queue_bind(s) < 0) {
        session_free(s);
        rq_set_status(st, PW_GRPC_RESOURCE_EXHAUSTED, "out of memory");
        return NULL;
    }
    /* From inside a libringq callback the call starts at the next iteration. */
    if (c->in_grpc || c->dispatching) ev_timer_start(c->loop, &s->timer, 0);
    else try_start(s);
    rq_set_status(st, 0, NULL);
    return s;
}

int rq_aconsume_credit(rq_aconsume *s, uint32_t n)
{
    if (!s || n == 0 || n > RQ_ACONSUME_CREDITS_MAX) return -EINVAL;
    if (s->ended || s->closing) return -EPIPE;
    pwm_ringq_v1_ConsumeRequest req = {.kind_case = pwm_ringq_v1_ConsumeRequest_FIELD_credits,
                                       .credits = n};
    int rc = queue_req(s, &req);
    if (rc == 0 && s->call) send_soon(s);
    return rc;
}

int rq_aconsume_ack(rq_aconsume *s, rq_delivery_ref ref, uint64_t tag)
{
    if (!s) return -EINVAL;
    if (s->ended || s->closing) return -EPIPE;
    if (s->nrefs == RQ_ACK_REFS_MAX && close_batch(s) < 0) return -ENOMEM;
    s->refs[s->nrefs] = ref;
    s->tags[s->nrefs++] = tag;
    if (!ev_timer_armed(&s->timer)) ev_timer_start(s->c->loop, &s->timer, 0);
    return 0;
}

bool rq_aconsume_bound(const rq_aconsume *s) { return s->bound && !s->ended; }

const char *rq_aconsume_name(const rq_aconsume *s) { return s->name; }

void rq_aconsume_close(rq_aconsume *s)
{
    if (!s) return;
    s->cb = (rq_aconsume_cbs){0};
    ev_timer_stop(s->c->loop, &s->timer);
    if (!s->call) {
        session_free(s);
        return;
    }
    rq_client *c = s->c;
    s->closing = true;
    pw_grpc_ccall_cancel(s->call); /* its on_close frees s (now, or from a later iteration) */
    rq_conn_flush(c);
}
