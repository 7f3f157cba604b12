/* client/rq_stream_consume: a blocking session on the ringq.v1.Streams/Consume stream. Open
 * binds and waits for the bind's ConsumeResult; deliveries are queued as they arrive and taken
 * with rq_consume_next; credits and acks are encoded once into a send queue and sent in order.
 * Every ack carries a request id so rq_consume_sync can wait for all answers; credits carry none
 * (the server reports a failed request whatever its id). Everything runs on the client's loop
 * from inside the session's calls, like rq_unary: no callback reaches the caller. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "client/rq_int.h"
#include "client/rq_sendq.h"
#include "core/rt_clock.h"

/* Credits outstanding at once (streams.proto ConsumeRequest.credits). */
#define RQ_CONSUME_CREDITS_MAX 10000u
/* The bind's request id; acks count up from the next. */
#define RQ_CONSUME_BIND_ID 1u
/* Longest wait of one loop iteration while the session waits for a connection: a failed
 * dial's backoff timer wakes the loop sooner; this only bounds a wait nobody wakes. */
#define RQ_CONSUME_POLL_MS 100

typedef struct cdel {
    struct cdel *next;
    rq_delivery *d;
} cdel;

struct rq_consume {
    rq_client *c;
    pw_grpc_ccall *call;
    char name[RQ_STREAM_NAME_MAX];
    rq_consumer_info *bound_out; /* the caller's, during open only */
    bool bound, ended, closing;
    rq_status end_st;  /* why the stream ended */
    rq_status err;     /* the first request the server failed (code 0: none) */
    rq_status ack_err; /* the first ack item it refused */
    rq_sendq out;
    cdel *in_head, *in_tail;
    uint64_t next_id;  /* the next ack's request id */
    size_t unanswered; /* requests with an id not answered yet, the bind included */
};

static void session_free(rq_consume *s)
{
    rq_sendq_clear(&s->out);
    while (s->in_head) {
        cdel *d = s->in_head;
        s->in_head = d->next;
        rq_delivery_free(d->d);
        free(d);
    }
    free(s);
}

static void send_queued(rq_consume *s)
{
    if (s->call) rq_sendq_send(&s->out, s->call);
    rq_conn_flush(s->c);
}

/* Encodes *req into the send queue and sends what can go. 0 or -ENOMEM. */
static int queue_req(rq_consume *s, const pwm_ringq_v1_ConsumeRequest *req)
{
    int rc = rq_sendq_push(&s->out, &pwm_ringq_v1_ConsumeRequest_desc, req);
    if (rc < 0) return rc;
    if (req->request_id) s->unanswered++;
    send_queued(s);
    return 0;
}

static void on_result(rq_consume *s, const pwm_ringq_v1_ConsumeResult *res)
{
    if (res->request_id && s->unanswered) s->unanswered--;
    if (res->request_id == RQ_CONSUME_BIND_ID && !s->bound) {
        if (res->code == 0) {
            s->bound = true;
            if (res->consumer) {
                rq_copy_str(s->name, sizeof s->name,
                            res->consumer->config ? res->consumer->config->name : rq_str(NULL));
                if (s->bound_out) rq_consumer_info_from(s->bound_out, res->consumer);
            }
        }
    }
    if (res->code && !s->err.code)
        rq_set_status(&s->err, (int)res->code, "%.*s", (int)res->message.len, res->message.ptr);
    for (size_t i = 0; i < res->results_count && !s->ack_err.code; i++) {
        const pwm_ringq_v1_ItemStatus *it = &res->results[i];
        if (it->code)
            rq_set_status(&s->ack_err, (int)it->code, "seq %.*s: %.*s", (int)it->id.len, it->id.ptr,
                          (int)it->message.len, it->message.ptr);
    }
}

static int on_msg(pw_grpc_ccall *call, void *ud, const uint8_t *p, size_t n)
{
    rq_consume *s = ud;
    pwm_ringq_v1_ConsumeResponse resp;
    pw_msg_arena a;
    int rc = rq_msg_decode(&pwm_ringq_v1_ConsumeResponse_desc, &resp, p, n, &a);
    if (rc < 0) return rc;
    if (resp.kind_case == pwm_ringq_v1_ConsumeResponse_FIELD_delivery && resp.delivery) {
        cdel *d = malloc(sizeof *d);
        if (d && (d->d = rq_delivery_from(resp.delivery))) {
            d->next = NULL;
            if (s->in_tail) s->in_tail->next = d;
            else s->in_head = d;
            s->in_tail = d;
        } else {
            free(d);
            rc = -ENOMEM; /* cancels the stream: the delivery comes again after its ack wait */
        }
    } else if (resp.kind_case == pwm_ringq_v1_ConsumeResponse_FIELD_result && resp.result) {
        on_result(s, resp.result);
    }
    pw_msg_arena_deinit(&a);
    return rc;
}

static void on_close(pw_grpc_ccall *call, void *ud, const pw_grpc_cstatus *st)
{
    rq_consume *s = ud;
    s->call = NULL;
    if (s->closing) {
        session_free(s);
        return;
    }
    s->ended = true;
    rq_set_status(&s->end_st, (int)st->code, "%.*s", (int)st->message_len, st->message);
    if (s->end_st.code == 0)
        rq_set_status(&s->end_st, PW_GRPC_UNAVAILABLE, "the server ended the Consume stream");
}

/* Starts the call, waiting for a connection until deadline_ns. 0 or the status. */
static int start_call(rq_consume *s, uint64_t deadline_ns, rq_status *st)
{
    static const pw_grpc_ccall_cbs cbs = {on_msg, on_close};
    rq_client *c = s->c;
    for (;;) {
        s->call = rq_conn_start(c, pwm_ringq_v1_Streams_Consume_PATH, 0, &cbs, s, st);
        if (s->call) return 0;
        if (st->code != RQ_ECONNECT || (c->fail_fast && c->dial_fails)) return st->code;
        uint64_t now = rt_now_ns();
        if (now >= deadline_ns) return st->code;
        uint64_t left_ms = (deadline_ns - now) / RT_NS_PER_MS + 1;
        int rc = rq_client_poll(c,
                                left_ms < RQ_CONSUME_POLL_MS ? (int)left_ms : RQ_CONSUME_POLL_MS);
        if (rc < 0 && rc != -EINTR && rc != -ETIME)
            return rq_set_status(st, PW_GRPC_INTERNAL, "the event loop failed");
    }
}

/* Runs the loop until done(s) or the deadline (0: none). 0, or DEADLINE_EXCEEDED / INTERNAL. */
static int wait_for(rq_consume *s, bool (*done)(const rq_consume *), uint64_t deadline_ns,
                    rq_status *st)
{
    while (!done(s)) {
        send_queued(s);
        int ms = -1;
        if (deadline_ns) {
            uint64_t now = rt_now_ns();
            if (now >= deadline_ns)
                return rq_set_status(st, PW_GRPC_DEADLINE_EXCEEDED, "no answer in time");
            ms = (int)((deadline_ns - now) / RT_NS_PER_MS + 1);
        }
        int rc = rq_client_poll(s->c, ms);
        if (rc < 0 && rc != -EINTR && rc != -ETIME)
            return rq_set_status(st, PW_GRPC_INTERNAL, "the event loop failed");
    }
    return 0;
}

static bool bind_done(const rq_consume *s) { return s->bound || s->ended || s->err.code; }

static int send_bind(rq_consume *s, const char *stream, const char *name,
                     const rq_consumer_config *eph, uint32_t credits)
{
    pw_pb_bytes filters[RQ_STREAM_SUBJECTS_MAX];
    pwm_ringq_v1_ConsumerConfig ec;
    pwm_ringq_v1_ConsumeBind bind = {
        .stream = rq_str(stream), .consumer = rq_str(name), .credits = credits};
    if (!(name && *name) && eph) {
        rq_consumer_config_fill(&ec, filters, eph);
        ec.ephemeral = true;
        bind.ephemeral = &ec;
    }
    pwm_ringq_v1_ConsumeRequest req = {.request_id = RQ_CONSUME_BIND_ID,
                                       .kind_case = pwm_ringq_v1_ConsumeRequest_FIELD_bind,
                                       .bind = &bind};
    return queue_req(s, &req);
}

rq_consume *rq_consume_open(rq_client *c, const char *stream, const char *name,
                            const rq_consumer_config *ephemeral, uint32_t credits,
                            rq_consumer_info *bound, rq_status *st)
{
    rq_status local;
    if (!st) st = &local;
    if (rq_blocking_refused(c, st)) return NULL;
    if (!stream || !*stream || ((!name || !*name) && !ephemeral) ||
        credits > RQ_CONSUME_CREDITS_MAX) {
        rq_set_status(st, RQ_EINVAL,
                      "consume needs a stream, a consumer (or an ephemeral "
                      "configuration) and at most %u credits",
                      RQ_CONSUME_CREDITS_MAX);
        return NULL;
    }
    rq_consume *s = calloc(1, sizeof *s);
    if (!s) {
        rq_set_status(st, PW_GRPC_RESOURCE_EXHAUSTED, "out of memory");
        return NULL;
    }
    s->c = c;
    s->next_id = RQ_CONSUME_BIND_ID + 1;
    s->bound_out = bound;
    if (name) rq_copy_str(s->name, sizeof s->name, rq_str(name));
    uint64_t deadline = rt_now_ns() + (uint64_t)c->timeout_ms * RT_NS_PER_MS;
    int rc = start_call(s, deadline, st);
    if (rc == 0 && send_bind(s, stream, name, ephemeral, credits) < 0)
        rc = rq_set_status(st, RQ_EINVAL, "bind too large or out of memory");
    if (rc == 0) rc = wait_for(s, bind_done, deadline, st);
    if (rc == 0 && !s->bound) rc = s->err.code ? (*st = s->err).code : (*st = s->end_st).code;
    s->bound_out = NULL;
    if (rc) {
        rq_consume_close(s);
        return NULL;
    }
    rq_set_status(st, 0, NULL);
    return s;
}

static bool have_delivery(const rq_consume *s) { return s->in_head || s->ended || s->err.code; }

int rq_consume_next(rq_consume *s, int timeout_ms, rq_delivery **out, rq_status *st)
{
    rq_status local;
    if (!st) st = &local;
    *out = NULL;
    uint64_t deadline = timeout_ms < 0 ? 0 : rt_now_ns() + (uint64_t)timeout_ms * RT_NS_PER_MS;
    if (!s->in_head && !s->ended && !s->err.code) {
        int rc = wait_for(s, have_delivery, deadline, st);
        if (rc == PW_GRPC_DEADLINE_EXCEEDED) return rq_set_status(st, 0, NULL); /* none yet */
        if (rc) return rc;
    }
    if (s->in_head) {
        cdel *d = s->in_head;
        s->in_head = d->next;
        if (!s->in_head) s->in_tail = NULL;
        *out = d->d;
        free(d);
        return rq_set_status(st, 0, NULL);
    }
    *st = s->err.code ? s->err : s->end_st;
    return st->code;
}

int rq_consume_credit(rq_consume *s, uint32_t n)
{
    if (!s || n == 0 || n > RQ_CONSUME_CREDITS_MAX) return -EINVAL;
    if (s->ended) return -EPIPE;
    pwm_ringq_v1_ConsumeRequest req = {.kind_case = pwm_ringq_v1_ConsumeRequest_FIELD_credits,
                                       .credits = n};
    return queue_req(s, &req);
}

int rq_consume_ack(rq_consume *s, int kind, rq_delivery_ref ref, const rq_ack_opts *o)
{
    if (!s || kind < RQ_ACK_KIND_ACK || kind > RQ_ACK_KIND_TERM) return -EINVAL;
    if (s->ended) return -EPIPE;
    pwm_ringq_v1_DeliveryRef dr;
    pwm_ringq_v1_Acks acks;
    rq_acks_fill(&acks, &dr, &ref, 1, kind, o);
    pwm_ringq_v1_ConsumeRequest req = {.request_id = s->next_id++,
                                       .kind_case = pwm_ringq_v1_ConsumeRequest_FIELD_acks,
                                       .acks = &acks};
    return queue_req(s, &req);
}

static bool all_answered(const rq_consume *s) { return !s->unanswered || s->ended; }

int rq_consume_sync(rq_consume *s, int timeout_ms, rq_status *st)
{
    rq_status local;
    if (!st) st = &local;
    uint64_t deadline = timeout_ms < 0 ? 0 : rt_now_ns() + (uint64_t)timeout_ms * RT_NS_PER_MS;
    int rc = wait_for(s, all_answered, deadline, st);
    if (rc) return rc;
    if (s->err.code) return (*st = s->err).code;
    if (s->ack_err.code) return (*st = s->ack_err).code;
    if (s->unanswered) return (*st = s->end_st).code; /* ended before answering */
    return rq_set_status(st, 0, NULL);
}

const char *rq_consume_name(const rq_consume *s) { return s->name; }

void rq_consume_close(rq_consume *s)
{
    if (!s) return;
    if (!s->call) {
        session_free(s);
        return;
    }
    rq_client *c = s->c;
    s->closing = true;
    pw_grpc_ccall_cancel(s->call); /* its on_close frees s (now, or from a later iteration) */
    rq_conn_flush(c);
}
