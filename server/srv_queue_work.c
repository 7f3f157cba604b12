/* server/srv_queue_work: ringq.v1.Queue/Work, the bidi stream for workers.
 *
 * The worker subscribes to queues and grants credits; the server pushes tasks while credits
 * last; acks, nacks, extends and more credits come back on the same stream, each answered by a
 * WorkResult carrying the request_id.
 *
 * Shape across shards: the session lives on the shard of its connection (the origin). Each
 * subscribed queue gets a registration (srv_sub) on the owner shard of its partition. Credits
 * are one atomic counter in the session: an owner claims credits (compare-and-swap) before it
 * leases, gives back what it could not use, and sends the leased tasks to the origin as a
 * deliver job. So the stream never gets more tasks than credits granted, across any number of
 * partitions, without a lock.
 *
 * Lifetime: the session is freed on the origin only. Each registration holds a reference that
 * is dropped when its unregister job comes back; delivers from an owner travel on the same
 * (owner -> origin) lane before that reply, so no deliver outlives the session.
 *
 * Leases bound to the stream (docs/semantics.md): each registration remembers, on its owner,
 * the tasks it delivered (srv_work_hold.c); the unregister sent when the session closes (any
 * way the stream ends) says "stream ended" and the owner releases the tasks still held.
 *
 * This file: the session on its origin (state, lifetime, sending on the stream) and the
 * WorkRequest handlers. Subscriptions and credits: srv_work_sub.c; the owner side (leasing and
 * delivering): srv_work_serve.c; their shared declarations: srv_work_int.h. */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/rt_alloc.h"
#include "proto_wire/pw_pb.h"
#include "server/srv_msg.h"
#include "server/srv_work_int.h"

static _Thread_local srv_work *t_sessions;
static _Thread_local uint64_t t_started; /* sessions started on this shard (srv_work.sid) */
#define WORK_SID_SHARD_SHIFT 48 /* sid: shard above, start order below (2^48 streams a shard) */

bool srv_work_state_next_ok(srv_work_state from, srv_work_state to)
{
    /* The table in srv_queue_rpc.h, row `from`, column `to`. */
    static const bool ok[SRV_WORK_STATES][SRV_WORK_STATES] = {
        [SRV_WORK_OPEN] = {[SRV_WORK_DRAINING] = true,
                           [SRV_WORK_HALF_CLOSED] = true,
                           [SRV_WORK_FINISHED] = true,
                           [SRV_WORK_CLOSED] = true},
        [SRV_WORK_DRAINING] =
            {[SRV_WORK_HALF_CLOSED] = true, [SRV_WORK_FINISHED] = true, [SRV_WORK_CLOSED] = true},
        [SRV_WORK_HALF_CLOSED] = {[SRV_WORK_FINISHED] = true, [SRV_WORK_CLOSED] = true},
        [SRV_WORK_FINISHED] = {[SRV_WORK_CLOSED] = true},
    };
    return (unsigned)from < SRV_WORK_STATES && (unsigned)to < SRV_WORK_STATES && ok[from][to];
}

/* The one setter of w->state. */
static void work_set_state(srv_work *w, srv_work_state next)
{
    assert(srv_work_state_next_ok(w->state, next));
    w->state = next;
}

static void session_unlink(srv_work *w)
{
    if (w->sprev) w->sprev->snext = w->snext;
    else if (t_sessions == w) t_sessions = w->snext;
    if (w->snext) w->snext->sprev = w->sprev;
    w->snext = w->sprev = NULL;
}

void srv_work_unref(srv_work *w)
{
    if (--w->refs > 0) return;
    pw_grpc_call_set_user(w->call, NULL);
    pw_grpc_call_unref(w->call);
    buf_deinit(&w->pending);
    buf_deinit(&w->reply);
    srv_ack_stage_deinit(&w->acks);
    rt_free(w);
}

/* Ends the session on its origin: unregisters every queue (releasing what they hold) and drops
 * the stream's reference. Idempotent. */
void srv_work_close(srv_work *w)
{
    if (atomic_exchange(&w->closed, true)) return;
    work_set_state(w, SRV_WORK_CLOSED);
    session_unlink(w);
    srv_work_acks_start(w); /* ahead of the unregisters, as each ack's job was before */
    for (uint32_t i = 0; i < w->nsubs; i++) srv_work_sub_unregister(w, i, true);
    srv_work_unref(w); /* the stream's reference */
}

/* ---- sending on the stream (origin) ---- */

static void flush_pending(srv_work *w)
{
    while (buf_size(&w->pending) > 0 && !pw_grpc_call_done(w->call)) {
        const uint8_t *p = buf_begin(&w->pending), *msg;
        size_t left = buf_size(&w->pending), len;
        if (!srv_lp_next(&p, &left, &msg, &len)) break;
        int r = pw_grpc_call_send(w->call, msg, len, 0);
        if (r == -ENOBUFS) return; /* on_writable resumes */
        if (r < 0) { /* a message dropped would leave the worker waiting (srv_work_fail) */
            srv_work_fail(w, r);
            return;
        }
        buf_consume(&w->pending, buf_size(&w->pending) - left);
    }
    if (pw_grpc_call_done(w->call)) buf_consume(&w->pending, buf_size(&w->pending));
}

/* A message the stream cannot carry (out of memory, or larger than the message limit): the
 * stream ends with RESOURCE_EXHAUSTED rather than leave the worker waiting for a message that
 * never comes (the tasks it held are released when the session closes). The session closes at
 * the next srv_work_maybe_finish. */
void srv_work_fail(srv_work *w, int err)
{
    if (w->state >= SRV_WORK_FINISHED) return;
    work_set_state(w, SRV_WORK_FINISHED);
    atomic_store(&w->credits, 0);
    buf_consume(&w->pending, buf_size(&w->pending));
    const char *why = err == -EMSGSIZE ? "a reply larger than the message limit" : "out of memory";
    pw_grpc_call_finish(w->call, PW_GRPC_RESOURCE_EXHAUSTED, why);
}

/* Sends one message, or queues it behind those waiting for the window. Returns true when it
 * was queued (copied into w->pending). */
bool srv_work_send(srv_work *w, const uint8_t *msg, size_t len)
{
    if (pw_grpc_call_done(w->call)) return false;
    if (buf_size(&w->pending) == 0) {
        int r = pw_grpc_call_send(w->call, msg, len, 0);
        if (r == 0) return false;
        if (r != -ENOBUFS) {
            srv_work_fail(w, r);
            return false;
        }
    }
    int r = srv_lp_put(&w->pending, msg, len);
    if (r < 0) srv_work_fail(w, r);
    return r == 0;
}

void srv_work_maybe_finish(srv_work *w)
{
    if (w->state == SRV_WORK_FINISHED) { /* ended by srv_work_fail: close the session now */
        srv_work_close(w);
        return;
    }
    if (w->state >= SRV_WORK_FINISHED || w->inflight != 0 || buf_size(&w->pending) != 0) return;
    if (w->state == SRV_WORK_HALF_CLOSED) {
        work_set_state(w, SRV_WORK_FINISHED);
        pw_grpc_call_finish(w->call, PW_GRPC_OK, NULL);
        srv_work_close(w);
    } else if (w->state == SRV_WORK_DRAINING && w->held == 0) {
        /* UNAVAILABLE, not OK: every gRPC client treats it as "try again" (ringq-worker
         * re-subscribes with backoff, on the restarted server or another one); OK would read as
         * "the server ended the subscription on purpose". */
        work_set_state(w, SRV_WORK_FINISHED);
        pw_grpc_call_finish(w->call, PW_GRPC_UNAVAILABLE, "server is draining");
        srv_work_close(w);
    }
}

/* Writes a WorkResult's reply (its oneof member's body) into `out`: 0 or a negative errno. */
typedef int (*result_body_fn)(const void *ud, buf *out);

/* WorkResponse{result{request_id, code, message, <which> = body}} appended to `b`: the
 * WorkResult's own fields by srv_encode_work_result (hand-written, checked against the
 * generated codec), then, when `which` (a WorkResult_FIELD_*
 * constant, 0: none) is set and the code is OK, the member written by `body` in place. */
static int encode_result(buf *b, const pwm_ringq_v1_WorkResult *res, uint32_t which,
                         result_body_fn body, const void *ud)
{
    pw_pb_mark m, mb;
    int r = pw_pb_submsg_begin(b, pwm_ringq_v1_WorkResponse_FIELD_result, &m);
    if (r == 0) r = srv_encode_work_result(b, res);
    if (r == 0 && which && res->code == Q_OK) {
        r = pw_pb_submsg_begin(b, which, &mb);
        if (r == 0) r = body(ud, b);
        if (r == 0) r = pw_pb_submsg_end(b, &mb);
    }
    if (r == 0) r = pw_pb_submsg_end(b, &m);
    return r;
}

/* The result encoded straight into the call's output queue, behind its gRPC prefix: no scratch
 * buffer and no copy. 0 when queued; otherwise nothing was queued (results waiting in
 * w->pending must go first, the call's queue is full or done, or the encode or the send
 * failed) and send_result takes the copying path, which handles each case. */
static int send_result_direct(srv_work *w, const pwm_ringq_v1_WorkResult *res, uint32_t which,
                              result_body_fn body, const void *ud)
{
    if (buf_size(&w->pending) != 0) return -EAGAIN;
    buf *out = pw_grpc_call_send_begin(w->call);
    if (!out) return -ENOBUFS;
    int r = encode_result(out, res, which, body, ud);
    if (r < 0) {
        pw_grpc_call_send_abort(w->call);
        return r;
    }
    return pw_grpc_call_send_commit(w->call, 0);
}

static void send_result(srv_work *w, uint64_t request_id, q_status code, const char *message,
                        uint32_t which, result_body_fn body, const void *ud)
{
    if (request_id == 0 && code == Q_OK) return; /* the API: 0 asks for no result on success */
    pwm_ringq_v1_WorkResult res = {
        .request_id = request_id,
        .code = (uint32_t)code,
        .message = {(const uint8_t *)(message ? message : ""), message ? strlen(message) : 0},
    };
    if (send_result_direct(w, &res, which, body, ud) == 0) return;
    buf *b = &w->reply; /* empty: nothing reaches here while a reply is being encoded */
    assert(buf_size(b) == 0);
    int r = encode_result(b, &res, which, body, ud);
    if (r < 0 && which && code == Q_OK) { /* the reply alone failed (out of memory) */
        buf_consume(b, buf_size(b));
        const char *why = "done, but the reply could not be encoded";
        res.code = Q_RESOURCE_EXHAUSTED;
        res.message = (pw_pb_bytes){(const uint8_t *)why, strlen(why)};
        r = encode_result(b, &res, 0, NULL, NULL);
    }
    if (r == 0) srv_work_send(w, buf_begin(b), buf_size(b)); /* copied or sent */
    else srv_work_fail(w, r);
    buf_consume(b, buf_size(b));
    buf_shrink(b, WORK_SCRATCH_KEEP_BYTES);
}

/* One request's share of a finished fan-out: ids [from, to). */
typedef struct ack_range {
    srv_ack_fanout *fo;
    uint32_t from, to;
} ack_range;

static int put_ack(const void *ud, buf *out)
{
    const ack_range *ar = ud;
    return srv_ack_fanout_encode_range(ar->fo, ar->from, ar->to, out);
}

/* The owner's encoded NackResponse / ExtendResponse (a job's reply). */
static int put_encoded(const void *ud, buf *out)
{
    const buf *b = ud;
    return buf_append(out, buf_begin(b), buf_size(b));
}

/* ---- the WorkRequest handlers (origin) ---- */

/* The fan-out of one input pass's acks answered: each request gets its WorkResult, with its
 * own share of the results. */
static void ack_done(srv_ack_fanout *fo)
{
    srv_work *w = fo->ctx;
    for (uint32_t r = 0, from = 0; r < fo->nreq; from = fo->reqs[r++].end) {
        for (uint32_t i = from; i < fo->reqs[r].end && w->held > 0; i++)
            if (fo->status == Q_OK &&
                (fo->codes[i] == Q_OK || fo->codes[i] == Q_FAILED_PRECONDITION))
                w->held--;
        ack_range ar = {fo, from, fo->reqs[r].end};
        send_result(w, fo->reqs[r].request_id, fo->status, fo->msg,
                    pwm_ringq_v1_WorkResult_FIELD_ack, put_ack, &ar);
    }
    w->inflight -= fo->nreq;
    srv_ack_fanout_free(fo);
    srv_work_maybe_finish(w);
    srv_work_unref(w);
}

/* Nack/Extend from the stream: the reply body goes in WorkResult's nack / extend member. */
typedef struct work_req {
    srv_work *w;
    uint64_t request_id;
    srv_by_id kind;
} work_req;

static void by_id_done(srv_job *j)
{
    work_req *wr = j->ctx;
    srv_work *w = wr->w;
    uint32_t which = wr->kind == SRV_BY_ID_NACK ? pwm_ringq_v1_WorkResult_FIELD_nack
                                                : pwm_ringq_v1_WorkResult_FIELD_extend;
    send_result(w, wr->request_id, j->status, j->msg, which, put_encoded, &j->resp);
    if (wr->kind == SRV_BY_ID_NACK && (j->status == Q_OK || j->status == Q_FAILED_PRECONDITION) &&
        w->held > 0)
        w->held--;
    rt_free(wr);
    w->inflight--;
    srv_work_maybe_finish(w);
    srv_work_unref(w);
}

static void by_id(srv_work *w, uint64_t request_id, const pwm_ringq_v1_WorkRequest *req)
{
    srv_by_id kind = req->nack ? SRV_BY_ID_NACK : SRV_BY_ID_EXTEND;
    srv_job *j = req->nack ? srv_nack_job(NULL, req->nack) : srv_extend_job(NULL, req->extend);
    pw_pb_bytes id = req->nack ? req->nack->id : req->extend->id;
    work_req *wr = j ? rt_malloc(sizeof *wr) : NULL;
    if (!wr) {
        if (j) srv_job_free(j);
        send_result(w, request_id, Q_RESOURCE_EXHAUSTED, "out of memory", 0, NULL, NULL);
        return;
    }
    *wr = (work_req){w, request_id, kind};
    j->ctx = wr;
    w->inflight++;
    w->refs++;
    if (srv_route_by_id(j, kind, id, by_id_done) != Q_OK) {
        rt_free(wr);
        w->inflight--;
        send_result(w, request_id, j->status, j->msg, 0, NULL, NULL);
        srv_job_free(j);
        srv_work_unref(w); /* send_result may have closed the session: the reference keeps it */
    }
}

void srv_work_acks_start(srv_work *w)
{
    if (w->acks.nreq == 0) return;
    uint32_t nreq = w->acks.nreq;
    q_err e;
    w->refs++; /* the fan-out's, dropped by ack_done */
    if (srv_ack_start_staged(&w->acks, ack_done, w, &e)) return;
    w->refs--; /* the stream's reference still holds the session */
    uint64_t request_id;
    for (size_t pos = 0; srv_ack_stage_next_request(&w->acks, &pos, &request_id);)
        send_result(w, request_id, e.code, e.msg, 0, NULL, NULL);
    w->inflight -= nreq;
    srv_ack_stage_clear(&w->acks);
}

static _Thread_local srv_work *t_staged; /* sessions with staged acks, listed once each */

/* Every loop iteration, before the mesh's hook: starts each listed session's acks as one
 * fan-out. Runs after the turn's completions, so an input pass's acks are all staged. */
static bool on_acks_hook(ev_loop *loop, void *ud, ev_hook_phase phase)
{
    if (phase == EV_HOOK_AFTER_WAKE) return true;
    bool started = t_staged != NULL;
    while (t_staged) {
        srv_work *w = t_staged;
        t_staged = w->acks_next;
        w->acks_next = NULL;
        w->acks_listed = false;
        srv_work_acks_start(w);
        srv_work_maybe_finish(w);
        srv_work_unref(w); /* the list's */
    }
    return !started; /* before a sleep: one more turn, so the jobs are run */
}

int srv_work_acks_hook_init(ev_loop *loop) { return ev_loop_add_hook(loop, on_acks_hook, NULL); }

/* Stages the ack; the first of an input pass lists the session for the shard's hook. */
static void work_ack(srv_work *w, uint64_t request_id, const pwm_ringq_v1_AckRequest *ack)
{
    q_err e;
    if (!srv_ack_check(ack, &e)) {
        send_result(w, request_id, e.code, e.msg, 0, NULL, NULL);
        return;
    }
    if (w->acks.nids + ack->ids_count > Q_BATCH_MAX ||
        buf_size(&w->acks.bytes) >= SRV_ACK_STAGE_START_BYTES)
        srv_work_acks_start(w);                /* one fan-out acks at most Q_BATCH_MAX ids */
    if (w->state >= SRV_WORK_FINISHED) return; /* its answers ended the stream: nothing to ack */
    int r = srv_ack_stage_add(&w->acks, request_id, ack);
    if (r < 0) {
        send_result(w, request_id, Q_RESOURCE_EXHAUSTED,
                    r == -ENOMEM ? "out of memory" : "ack too large to stage", 0, NULL, NULL);
        return;
    }
    w->inflight++;
    if (w->acks_listed) return;
    w->acks_listed = true;
    w->refs++;
    w->acks_next = t_staged;
    t_staged = w;
}

static void work_credit(srv_work *w, uint64_t request_id, const pwm_ringq_v1_Credit *cr)
{
    if (w->nsubs == 0) {
        send_result(w, request_id, Q_FAILED_PRECONDITION, "credit before subscribe", 0, NULL, NULL);
        return;
    }
    srv_work_grant(w, cr->n);
    send_result(w, request_id, Q_OK, NULL, 0, NULL, NULL);
}

/* Runs one decoded WorkRequest on an open session (its acks are staged, the rest start now). */
static void work_dispatch(srv_work *w, const pwm_ringq_v1_WorkRequest *req, char *why,
                          size_t why_bytes)
{
    switch (req->kind_case) {
    case pwm_ringq_v1_WorkRequest_FIELD_subscribe: {
        q_status st = srv_work_subscribe(w, req->subscribe, why, why_bytes);
        send_result(w, req->request_id, st, st == Q_OK ? NULL : why, 0, NULL, NULL);
        break;
    }
    case pwm_ringq_v1_WorkRequest_FIELD_credit: work_credit(w, req->request_id, req->credit); break;
    case pwm_ringq_v1_WorkRequest_FIELD_ack: work_ack(w, req->request_id, req->ack); break;
    case pwm_ringq_v1_WorkRequest_FIELD_nack:
    case pwm_ringq_v1_WorkRequest_FIELD_extend: by_id(w, req->request_id, req); break;
    }
}

/* Bytes of a WorkRequest's decode arena taken from the stack before the heap: a malloc + free
 * per message (and glibc's consolidation behind them) was 2-3 % of the server's samples. */
#define WORK_DECODE_STACK_BYTES 2048u

/* One WorkRequest, decoded once (zero-copy into msg; the arena holds its sub-message). */
static void on_message(pw_grpc_call *c, const uint8_t *msg, size_t len)
{
    srv_work *w = pw_grpc_call_user(c);
    uint64_t mark = srv_stage_received(SRV_STAGE_OP_WORK);
    pwm_ringq_v1_WorkRequest req;
    /* The sub-message and its arrays (an Ack of up to WORK_DECODE_STACK_BYTES / 16 ids) fit the
     * stack; only a larger message makes the arena go to the heap. */
    _Alignas(max_align_t) uint8_t first[WORK_DECODE_STACK_BYTES];
    pw_msg_arena a;
    pw_msg_arena_init_heap_over(&a, first, sizeof first, SRV_MSG_ARENA_CHUNK_BYTES,
                                SRV_MSG_ARENA_BYTES_MAX);
    int rc = pw_msg_decode(&pwm_ringq_v1_WorkRequest_desc, &req, msg, len, &a);
    srv_stage_mark(SRV_STAGE_OP_WORK, SRV_STAGE_DECODE, &mark);
    if (rc < 0 || req.kind_case == 0) {
        char why[Q_ERR_MSG_BYTES];
        snprintf(why, sizeof why,
                 rc < 0 ? "malformed ringq.v1.WorkRequest: %s" : "empty WorkRequest",
                 rc < 0 ? pw_msg_strerror(rc) : "");
        send_result(w, rc < 0 ? 0 : req.request_id,
                    rc == -ENOMEM ? Q_RESOURCE_EXHAUSTED : Q_INVALID_ARGUMENT, why, 0, NULL, NULL);
        pw_msg_arena_deinit(&a);
        return;
    }
    char why[Q_ERR_MSG_BYTES];
    w->refs++; /* staged acks answered at once may end and close the session: keep it */
    /* Requests are answered in the order they came: staged acks go before anything else. */
    if (req.kind_case != pwm_ringq_v1_WorkRequest_FIELD_ack) srv_work_acks_start(w);
    if (w->state < SRV_WORK_FINISHED) work_dispatch(w, &req, why, sizeof why);
    pw_msg_arena_deinit(&a);
    if (w->state == SRV_WORK_FINISHED)
        srv_work_maybe_finish(w); /* a reply that could not be sent */
    srv_work_unref(w);
}

static void on_start(pw_grpc_call *c)
{
    srv_work *w = rt_calloc(1, sizeof *w);
    if (!w) {
        pw_grpc_call_finish(c, PW_GRPC_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    w->call = c;
    pw_grpc_call_ref(c);
    w->origin = srv_q_self();
    w->refs = 1;
    w->sid = ((uint64_t)w->origin << WORK_SID_SHARD_SHIFT) | ++t_started;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    w->since_ms = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
    srv_work_holder(c, w->worker, w->addr);
    buf_init(&w->pending, WORK_PENDING_BYTES_MAX);
    buf_init(&w->reply, WORK_REPLY_BYTES_MAX);
    srv_ack_stage_init(&w->acks);
    pw_grpc_call_set_user(c, w);
    w->snext = t_sessions;
    if (t_sessions) t_sessions->sprev = w;
    t_sessions = w;
    if (srv_runtime_draining(srv_shard_runtime(srv_shard_self()))) {
        work_set_state(w, SRV_WORK_FINISHED);
        pw_grpc_call_finish(c, PW_GRPC_UNAVAILABLE, "server is draining");
        srv_work_close(w);
    }
}

static void on_half_close(pw_grpc_call *c)
{
    srv_work *w = pw_grpc_call_user(c);
    if (!w) return;
    if (w->state < SRV_WORK_HALF_CLOSED) work_set_state(w, SRV_WORK_HALF_CLOSED);
    /* No more requests: stop delivering; finish once the answers in flight are sent. */
    atomic_store(&w->credits, 0);
    srv_work_maybe_finish(w);
}

static void on_writable(pw_grpc_call *c)
{
    srv_work *w = pw_grpc_call_user(c);
    if (!w) return;
    flush_pending(w);
    srv_work_maybe_finish(w);
}

static void on_cancel(pw_grpc_call *c, pw_grpc_status st)
{
    srv_work *w = pw_grpc_call_user(c);
    if (w) srv_work_close(w);
}

/* The call may end by our own finish (half-close path): close the session then too. */
static void on_message_or_close(pw_grpc_call *c, const uint8_t *msg, size_t len)
{
    srv_work *w = pw_grpc_call_user(c);
    if (!w || pw_grpc_call_done(c)) return;
    on_message(c, msg, len);
}

void srv_work_each(void (*fn)(const srv_work *w, void *ud), void *ud)
{
    for (const srv_work *w = t_sessions; w; w = w->snext) fn(w, ud);
}

void srv_work_drain_shard(void)
{
    /* The API: Work streams end with UNAVAILABLE when the server drains. An idle one (no task
     * held, no ack in flight) ends now, so it does not hold the shutdown; one that holds tasks
     * gets no new ones and ends once they are acked or nacked (within the drain time; after it
     * the connection closes and the tasks it holds are released). srv_work_maybe_finish may unlink the
     * session, so walk with the next pointer taken first. */
    srv_work *next;
    for (srv_work *w = t_sessions; w; w = next) {
        next = w->snext;
        if (w->state < SRV_WORK_DRAINING) work_set_state(w, SRV_WORK_DRAINING);
        atomic_store(&w->credits, 0);
        srv_work_maybe_finish(w);
    }
}

int srv_work_add_method(pw_grpc_server *g)
{
    static const pw_grpc_method m = {.path = "/ringq.v1.Queue/Work",
                                     .kind = PW_GRPC_BIDI_STREAMING,
                                     .on_start = on_start,
                                     .on_message = on_message_or_close,
                                     .on_half_close = on_half_close,
                                     .on_cancel = on_cancel,
                                     .on_writable = on_writable};
    return pw_grpc_server_add_method(g, &m);
}
