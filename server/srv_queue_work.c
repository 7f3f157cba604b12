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
 * way the stream ends) says "stream ended" and the owner releases the tasks still held. */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/rt_alloc.h"
#include "core/rt_blob.h"
#include "proto_wire/pw_pb.h"
#include "server/srv_auth.h"
#include "server/srv_msg.h"
#include "server/srv_queue_rpc.h"

#define WORK_SUBS_MAX 64 /* queues one stream may subscribe to (the API's limit) */
#define WORK_CREDITS_MAX \
    10000 /* outstanding credits (the API's limit): bounds tasks leased to one stream */
#define WORK_DELIVER_BATCH 64u             /* tasks leased per claim */
#define WORK_PENDING_BYTES_MAX (64u << 20) /* delivered tasks waiting for the stream's window */

typedef struct srv_work {
    pw_grpc_call *call;
    int origin;
    int refs; /* origin-only: 1 for the stream + 1 per registration */
    _Atomic int32_t credits;
    _Atomic bool closed;  /* owners read it: the session is (about to be) CLOSED */
    srv_work_state state; /* origin-only, through work_set_state */
    uint32_t lease_ms;    /* origin-only; owners get it in each registration and poke */
    char worker[SRV_HOLDER_BYTES], addr[SRV_HOLDER_BYTES]; /* the holder (srv_work_holder),
                              * copied into each registration message */
    uint32_t nsubs;
    struct {
        char name[Q_QUEUE_NAME_BYTES_MAX + 1];
        uint32_t len;
        uint32_t part;
        /* Its unregister job, allocated with the registration: ending a registration must not
         * need memory (without it the owner would keep a pointer to a freed session). */
        srv_job *unreg;
    } subs[WORK_SUBS_MAX];
    uint32_t inflight;              /* ack/nack/extend jobs not yet answered */
    uint32_t held;                  /* tasks delivered and not yet acked or nacked on the stream */
    buf pending;                    /* WorkResponse messages, varint-length-prefixed */
    struct srv_work *snext, *sprev; /* the shard's open sessions (for drain) */
} srv_work;

static _Thread_local srv_work *t_sessions;

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

static void work_unref(srv_work *w)
{
    if (--w->refs > 0) return;
    pw_grpc_call_set_user(w->call, NULL);
    pw_grpc_call_unref(w->call);
    buf_deinit(&w->pending);
    rt_free(w);
}

/* ---- sending on the stream (origin) ---- */

static void stream_fail(srv_work *w, int err);

static void flush_pending(srv_work *w)
{
    while (buf_size(&w->pending) > 0 && !pw_grpc_call_done(w->call)) {
        const uint8_t *p = buf_begin(&w->pending), *msg;
        size_t left = buf_size(&w->pending), len;
        if (!srv_lp_next(&p, &left, &msg, &len)) break;
        int r = pw_grpc_call_send(w->call, msg, len, 0);
        if (r == -ENOBUFS) return; /* on_writable resumes */
        if (r < 0) { /* a message dropped would leave the worker waiting (stream_fail) */
            stream_fail(w, r);
            return;
        }
        buf_consume(&w->pending, buf_size(&w->pending) - left);
    }
    if (pw_grpc_call_done(w->call)) buf_consume(&w->pending, buf_size(&w->pending));
}

/* A message the stream cannot carry (out of memory, or larger than the message limit): the
 * stream ends with RESOURCE_EXHAUSTED rather than leave the worker waiting for a message that
 * never comes (the tasks it held are released when the session closes). The session closes at
 * the next maybe_finish. */
static void stream_fail(srv_work *w, int err)
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
static bool stream_send(srv_work *w, const uint8_t *msg, size_t len)
{
    if (pw_grpc_call_done(w->call)) return false;
    if (buf_size(&w->pending) == 0) {
        int r = pw_grpc_call_send(w->call, msg, len, 0);
        if (r == 0) return false;
        if (r != -ENOBUFS) {
            stream_fail(w, r);
            return false;
        }
    }
    int r = srv_lp_put(&w->pending, msg, len);
    if (r < 0) stream_fail(w, r);
    return r == 0;
}

static void work_close(srv_work *w);

static void maybe_finish(srv_work *w)
{
    if (w->state == SRV_WORK_FINISHED) { /* ended by stream_fail: close the session now */
        work_close(w);
        return;
    }
    if (w->state >= SRV_WORK_FINISHED || w->inflight != 0 || buf_size(&w->pending) != 0) return;
    if (w->state == SRV_WORK_HALF_CLOSED) {
        work_set_state(w, SRV_WORK_FINISHED);
        pw_grpc_call_finish(w->call, PW_GRPC_OK, NULL);
        work_close(w);
    } else if (w->state == SRV_WORK_DRAINING && w->held == 0) {
        /* UNAVAILABLE, not OK: every gRPC client treats it as "try again" (ringq-worker
         * re-subscribes with backoff, on the restarted server or another one); OK would read as
         * "the server ended the subscription on purpose". */
        work_set_state(w, SRV_WORK_FINISHED);
        pw_grpc_call_finish(w->call, PW_GRPC_UNAVAILABLE, "server is draining");
        work_close(w);
    }
}

/* WorkResponse{result{request_id, code, message, <which> = body}}: the WorkResult's own fields
 * through the generated table, then `body` (an AckResponse / NackResponse / ExtendResponse the
 * owner already encoded) as its oneof member `which` (a WorkResult_FIELD_* constant, 0: none). */
static void send_result(srv_work *w, uint64_t request_id, q_status code, const char *message,
                        uint32_t which, const uint8_t *body, size_t body_len)
{
    if (request_id == 0 && code == Q_OK) return; /* the API: 0 asks for no result on success */
    pwm_ringq_v1_WorkResult res = {
        .request_id = request_id,
        .code = (uint32_t)code,
        .message = {(const uint8_t *)(message ? message : ""), message ? strlen(message) : 0},
    };
    buf b;
    buf_init(&b, (size_t)16 << 20);
    pw_pb_mark m;
    int r = pw_pb_submsg_begin(&b, pwm_ringq_v1_WorkResponse_FIELD_result, &m);
    if (r == 0) r = pw_msg_encode(&pwm_ringq_v1_WorkResult_desc, &res, &b);
    if (r == 0 && which && code == Q_OK) r = pw_pb_put_bytes(&b, which, body, body_len);
    if (r == 0) r = pw_pb_submsg_end(&b, &m);
    if (r == 0) stream_send(w, buf_begin(&b), buf_size(&b));
    else stream_fail(w, r);
    buf_deinit(&b);
}

/* ---- owner side: registrations and deliveries ---- */

static bool claim(srv_work *w, uint32_t want, uint32_t *got)
{
    int32_t c = atomic_load_explicit(&w->credits, memory_order_relaxed);
    do {
        if (c <= 0) return false;
        *got = (uint32_t)c < want ? (uint32_t)c : want;
        /* acq_rel: a successful claim orders with other owners' claims and the origin's grants. */
    } while (!atomic_compare_exchange_weak_explicit(&w->credits, &c, c - (int32_t)*got,
                                                    memory_order_acq_rel, memory_order_relaxed));
    return true;
}

/* A batch's buffer went: what a layer had to copy of it after all (behind unsent messages, the
 * stream's queue) joins the copy count. */
static void batch_freed(rt_blob *b)
{
    if (b->copied_bytes) srv_count_payload(0, b->copied_bytes);
}

/* A message sent the copying way, pw_grpc_call_send: copied into the call's queue, into the
 * HTTP/2 stream's pending DATA, and into the output buffer when framed. */
#define WORK_COPYING_SEND_COPIES 3u

/* Sends each message of a batch the copying way (a stream that compresses its responses, or
 * messages already waiting for the stream's window), counting the copies. */
static void send_each(srv_work *w, const uint8_t *p, size_t left)
{
    const uint8_t *msg;
    size_t len;
    while (srv_grpc_next(&p, &left, &msg, &len)) {
        bool queued = stream_send(w, msg, len);
        srv_count_payload(0, (uint64_t)len * (WORK_COPYING_SEND_COPIES + (queued ? 1 : 0)));
    }
}

/* The batch (j->resp) is the stream's bytes: gRPC-framed WorkResponse{task} messages, encoded
 * once on the owner. Handed to the call by reference, no copy (the one copy was the encode). */
static void deliver_done(srv_job *j)
{
    srv_work *w = j->ctx;
    if (atomic_load(&w->closed)) return; /* the tasks stay leased until their lease ends */
    const uint8_t *p = buf_begin(&j->resp), *msg;
    size_t left = buf_size(&j->resp), len;
    uint32_t n = 0;
    while (srv_grpc_next(&p, &left, &msg, &len)) n++;
    w->held += n;
    if (pw_grpc_call_done(w->call)) {
        maybe_finish(w);
        return;
    }
    if (buf_size(&w->pending) == 0) {
        rt_blob *b = rt_blob_from_buf(&j->resp, batch_freed, NULL);
        if (b) {
            int r = pw_grpc_call_send_framed(w->call, b, n);
            if (r == -EOPNOTSUPP) send_each(w, b->data, b->len);
            else if (r == -ENOMEM || r == -EMSGSIZE || r == -EINVAL)
                stream_fail(w, r); /* nothing of the batch was queued */
            /* Other errors: the call ended, its sends are no-ops (as stream_send's). */
            rt_blob_unref(b);
            maybe_finish(w); /* a send that failed ended the stream */
            return;
        }
    }
    send_each(w, buf_begin(&j->resp), buf_size(&j->resp));
    maybe_finish(w); /* a send that failed ended the stream */
}

static void poke_all(srv_work *w);

/* No reference: like a deliver, a repoke travels on the owner -> origin lane ahead of the
 * unregister reply that drops the registration's reference, so the session outlives it. (It
 * used to drop a reference it never took, freeing the session early.) */
static void repoke_done(srv_job *j)
{
    srv_work *w = j->ctx;
    if (atomic_load(&w->closed)) return;
    poke_all(w);
    if (w->state == SRV_WORK_FINISHED) maybe_finish(w); /* a poke that could not be sent */
}

/* Credits went back unused (a lease got fewer tasks than ready said): other queues of the
 * stream may have been passed over meanwhile, so the origin pokes them all again. */
static void repoke(srv_work *w, int origin, srv_part *sp)
{
    srv_job *j = srv_job_new(NULL, NULL, 0);
    if (!j) return;
    j->origin = origin;
    j->owner = sp->shard;
    j->part_no = sp->no;
    j->ctx = w;
    j->done = repoke_done;
    srv_job_reply(j);
}

void srv_sub_serve(srv_part *sp, srv_waitq *wq)
{
    for (struct srv_sub *s = wq->subs; s; s = s->next) {
        srv_work *w = (srv_work *)s->w;
        /* Until the credits or the ready tasks run out (credits bound the work: <= 10000). */
        while (!atomic_load(&w->closed)) {
            /* Claim only what this queue can use now, so credits are not held back from the
             * stream's other queues (on other shards) by a queue with little ready. */
            q_queue_info qi;
            q_err qe;
            if (q_part_get_queue(sp->p, wq->name, wq->name_len, srv_q_now_ms(), &qi, &qe) != Q_OK ||
                qi.paused || qi.ready == 0)
                break;
            /* Ready but not visible yet (durable before visible): the commit's callback serves
             * the queue again; claiming now would only give the credits back and repoke. */
            if (!q_part_lease_ready(sp->p, wq->name, wq->name_len)) break;
            uint32_t take;
            uint32_t want = qi.ready < WORK_DELIVER_BATCH ? (uint32_t)qi.ready : WORK_DELIVER_BATCH;
            if (!claim(w, want, &take)) break;
            srv_job *j = srv_job_new(NULL, NULL, 0);
            if (!j) { /* nothing leased yet: the tick tries again (SRV_SERVE_RETRY_MS) */
                atomic_fetch_add(&w->credits, (int32_t)take);
                sp->serve_retry = true;
                srv_part_schedule(sp, srv_q_now_ms() + SRV_SERVE_RETRY_MS);
                return;
            }
            j->origin = s->origin;
            j->owner = sp->shard;
            j->part_no = sp->no;
            j->ctx = w;
            j->done = deliver_done;
            /* Each task as a whole WorkResponse{task}, varint-length-prefixed. */
            q_err qe2;
            uint32_t n = 0;
            (void)srv_lease_encode_held(sp, wq->name, wq->name_len, take, s->lease_ms, &j->resp, &n,
                                        s, &qe2); /* a failure delivers nothing: credits go back */
            if (n < take) {
                atomic_fetch_add(&w->credits, (int32_t)(take - n));
                repoke(w, s->origin, sp);
            }
            if (n == 0) {
                srv_job_free(j);
                break;
            }
            srv_job_reply(j);
            if (n < take) break;
        }
    }
}

static void run_register(srv_job *j, srv_part *sp)
{
    srv_work *w = j->ctx;
    uint32_t nl = srv_sub_register_name_len(j);
    srv_waitq *wq = srv_part_waitq(sp, (const char *)j->req.bytes.ptr, nl, true);
    struct srv_sub *s = wq ? rt_calloc(1, sizeof *s) : NULL;
    if (!s) {
        srv_job_fail(j, Q_RESOURCE_EXHAUSTED, "out of memory");
        srv_job_reply(j);
        return;
    }
    s->w = (struct srv_work *)w;
    s->origin = j->origin; /* from the message: the owner never reads the session's */
    s->lease_ms = j->sub_lease_ms;
    srv_sub_register_holder(j, s);
    s->next = wq->subs;
    wq->subs = s;
    srv_job_reply(j);
    srv_sub_serve(sp, wq);
}

static void run_unregister(srv_job *j, srv_part *sp)
{
    srv_waitq *wq = srv_part_waitq(sp, (const char *)j->req.bytes.ptr, (uint32_t)j->req.bytes.len,
                                   false);
    if (wq)
        for (struct srv_sub **pp = &wq->subs; *pp; pp = &(*pp)->next)
            if ((void *)(*pp)->w == j->ctx) {
                struct srv_sub *s = *pp;
                *pp = s->next;
                if (j->sub_release && !sp->closing) srv_sub_release(sp, s); /* the stream ended */
                srv_sub_free(s);
                break;
            }
    if (wq) srv_part_waitq_gc(sp, wq);
    srv_job_reply(j);
}

static void run_poke(srv_job *j, srv_part *sp)
{
    srv_waitq *wq = srv_part_waitq(sp, (const char *)j->req.bytes.ptr, (uint32_t)j->req.bytes.len,
                                   false);
    /* The session pointer only names the registration here: its fields are the origin's. */
    for (struct srv_sub *s = wq ? wq->subs : NULL; s; s = s->next)
        if ((void *)s->w == j->ctx) s->lease_ms = j->sub_lease_ms;
    srv_job_reply(j);
    if (wq && wq->subs) srv_sub_serve(sp, wq);
}

/* ---- origin side ---- */

/* A registration the owner could not make (out of memory) ends the stream with
 * RESOURCE_EXHAUSTED: its Subscribe was answered OK, and a worker waiting on a queue nobody
 * serves would wait for ever. Its unregister still comes at close and drops the reference. */
static void register_done(srv_job *j)
{
    if (j->status == Q_OK) return;
    stream_fail(j->ctx, -ENOMEM);
    maybe_finish(j->ctx);
}

static void unregister_done(srv_job *j) { work_unref(j->ctx); }
static void poke_done(srv_job *j) {}

static srv_job *sub_job_new(srv_work *w, uint32_t i)
{
    srv_job *j = srv_job_new(NULL, (const uint8_t *)w->subs[i].name, w->subs[i].len);
    if (j) j->ctx = w;
    return j;
}

/* A registration: the queue name and the holder (srv_sub_register_job). */
static srv_job *register_job_new(srv_work *w, uint32_t i)
{
    srv_job *j = srv_sub_register_job(w->subs[i].name, w->subs[i].len, w->worker, w->addr);
    if (j) j->ctx = w;
    return j;
}

static void sub_job_send(srv_work *w, uint32_t i, srv_job *j, srv_job_run_fn run,
                         srv_job_done_fn done)
{
    j->sub_lease_ms = w->lease_ms;
    srv_job_dispatch(j, w->subs[i].part, run, done);
}

/* Ends registration i (its job was allocated with it); `release`: the stream ended, so the
 * owner releases the tasks the registration holds (an unsubscribed queue's tasks stay leased
 * to their deadline: the worker may still ack them). */
static void sub_unregister(srv_work *w, uint32_t i, bool release)
{
    srv_job *j = w->subs[i].unreg;
    w->subs[i].unreg = NULL;
    j->sub_release = release;
    sub_job_send(w, i, j, run_unregister, unregister_done);
}

static void work_close(srv_work *w)
{
    if (atomic_exchange(&w->closed, true)) return;
    work_set_state(w, SRV_WORK_CLOSED);
    session_unlink(w);
    for (uint32_t i = 0; i < w->nsubs; i++) sub_unregister(w, i, true);
    work_unref(w); /* the stream's reference */
}

static void poke_all(srv_work *w)
{
    for (uint32_t i = 0; i < w->nsubs; i++) {
        srv_job *j = sub_job_new(w, i);
        if (!j) { /* an owner not told of new credits would never deliver on them; the
                   * caller's maybe_finish closes the session */
            stream_fail(w, -ENOMEM);
            return;
        }
        sub_job_send(w, i, j, run_poke, poke_done);
    }
}

/* Credits left plus tasks held (delivered, not yet acked or nacked) stay <= the API's 10000. */
static void grant(srv_work *w, uint64_t n)
{
    if (w->state != SRV_WORK_OPEN) return; /* no new deliveries once draining or half-closed */
    int32_t cur = atomic_load(&w->credits);
    uint64_t out = (uint64_t)(cur > 0 ? cur : 0) + w->held;
    if (out >= WORK_CREDITS_MAX) return;
    if (n > WORK_CREDITS_MAX - out) n = WORK_CREDITS_MAX - out;
    if (n == 0) return;
    atomic_fetch_add(&w->credits, (int32_t)n);
    poke_all(w);
}

/* A Subscribe's queue set, deduplicated and checked. */
typedef struct sub_name {
    char name[Q_QUEUE_NAME_BYTES_MAX + 1];
    uint32_t len;
} sub_name;

static bool sub_name_eq(const sub_name *a, const char *name, size_t len)
{
    return a->len == len && memcmp(a->name, name, len) == 0;
}

/* Step 1: the new set (WORK_SUBS_MAX entries of `set`), validated whole before anything
 * changes. Q_OK with *n set, or INVALID_ARGUMENT with `why`. */
static q_status subscribe_parse(const pwm_ringq_v1_Subscribe *sub, sub_name *set, uint32_t *n,
                                char *why, size_t why_len)
{
    *n = 0;
    for (size_t qi = 0; qi < sub->queues_count; qi++) {
        pw_pb_bytes name = sub->queues[qi];
        q_err e;
        if (q_queue_name_check((const char *)name.ptr, name.len, &e) != Q_OK) {
            snprintf(why, why_len, "%s", e.msg);
            return Q_INVALID_ARGUMENT;
        }
        bool dup = false;
        for (uint32_t i = 0; i < *n; i++)
            dup |= sub_name_eq(&set[i], (const char *)name.ptr, name.len);
        if (dup) continue;
        if (*n == WORK_SUBS_MAX) {
            snprintf(why, why_len, "a stream subscribes to 1..%d queues", WORK_SUBS_MAX);
            return Q_INVALID_ARGUMENT;
        }
        memcpy(set[*n].name, name.ptr, name.len);
        set[*n].name[name.len] = 0;
        set[*n].len = (uint32_t)name.len;
        (*n)++;
    }
    if (sub->lease_ms > Q_LEASE_MS_MAX) {
        snprintf(why, why_len, "lease_ms must be at most %u", Q_LEASE_MS_MAX);
        return Q_INVALID_ARGUMENT;
    }
    if (*n == 0) {
        snprintf(why, why_len, "subscribe names no queue (1..%d)", WORK_SUBS_MAX);
        return Q_INVALID_ARGUMENT;
    }
    return Q_OK;
}

/* Step 2: unregister the queues that left the set, register the new ones. Returns Q_OK, or
 * Q_RESOURCE_EXHAUSTED when a registration could not be allocated (those made so far stay). */
static q_status subscribe_apply(srv_work *w, const sub_name *set, uint32_t n)
{
    for (uint32_t i = 0; i < w->nsubs;) {
        bool keep = false;
        for (uint32_t k = 0; k < n && !keep; k++)
            keep = sub_name_eq(&set[k], w->subs[i].name, w->subs[i].len);
        if (keep) {
            i++;
            continue;
        }
        sub_unregister(w, i, false);
        w->subs[i] = w->subs[--w->nsubs];
    }
    for (uint32_t k = 0; k < n; k++) {
        bool have = false;
        for (uint32_t i = 0; i < w->nsubs && !have; i++)
            have = sub_name_eq(&set[k], w->subs[i].name, w->subs[i].len);
        if (have) continue;
        uint32_t i = w->nsubs;
        memcpy(w->subs[i].name, set[k].name, set[k].len + 1);
        w->subs[i].len = set[k].len;
        w->subs[i].part = q_part_of(set[k].name, set[k].len, srv_q.nparts);
        srv_job *reg = register_job_new(w, i);
        w->subs[i].unreg = reg ? sub_job_new(w, i) : NULL;
        if (!w->subs[i].unreg) {
            if (reg) srv_job_free(reg);
            return Q_RESOURCE_EXHAUSTED;
        }
        w->nsubs++;
        w->refs++;
        sub_job_send(w, i, reg, run_register, register_done);
    }
    return Q_OK;
}

static q_status subscribe(srv_work *w, const pwm_ringq_v1_Subscribe *sub, char *why, size_t why_len)
{
    sub_name *set = rt_calloc(WORK_SUBS_MAX, sizeof *set);
    if (!set) {
        snprintf(why, why_len, "out of memory");
        return Q_RESOURCE_EXHAUSTED;
    }
    uint32_t n = 0;
    q_status st = subscribe_parse(sub, set, &n, why, why_len);
    char denied[SRV_AUTH_ERR_BYTES];
    for (uint32_t i = 0; st == Q_OK && i < n; i++) { /* each queue named, before any change */
        st = (q_status)srv_auth_check(w->call, SRV_AUTH_CONSUME, SRV_AUTH_QUEUE, set[i].name,
                                      set[i].len, denied);
        if (st != Q_OK) snprintf(why, why_len, "%.*s", (int)why_len - 1, denied);
    }
    if (st == Q_OK) {
        uint32_t lease_ms = sub->lease_ms ? sub->lease_ms : w->lease_ms;
        bool lease_changed = lease_ms != w->lease_ms;
        w->lease_ms = lease_ms;
        st = subscribe_apply(w, set, n);
        if (st != Q_OK) snprintf(why, why_len, "out of memory");
        if (lease_changed) poke_all(w); /* the kept registrations learn the new lease_ms */
        if (st == Q_OK) grant(w, sub->credits);
    }
    rt_free(set);
    return st;
}

static void ack_done(srv_ack_fanout *fo)
{
    srv_work *w = fo->ctx;
    buf b;
    buf_init(&b, (size_t)16 << 20);
    for (uint32_t i = 0; i < fo->n && w->held > 0; i++)
        if (fo->status == Q_OK && (fo->codes[i] == Q_OK || fo->codes[i] == Q_FAILED_PRECONDITION))
            w->held--;
    if (fo->status == Q_OK && srv_ack_fanout_encode(fo, &b) < 0) {
        fo->status = Q_RESOURCE_EXHAUSTED;
        snprintf(fo->msg, sizeof fo->msg, "acked, but the reply could not be encoded");
    }
    send_result(w, fo->request_id, fo->status, fo->msg, pwm_ringq_v1_WorkResult_FIELD_ack,
                buf_begin(&b), buf_size(&b));
    buf_deinit(&b);
    w->inflight--;
    srv_ack_fanout_free(fo);
    maybe_finish(w);
    work_unref(w);
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
    send_result(w, wr->request_id, j->status, j->msg, which, buf_begin(&j->resp),
                buf_size(&j->resp));
    if (wr->kind == SRV_BY_ID_NACK && (j->status == Q_OK || j->status == Q_FAILED_PRECONDITION) &&
        w->held > 0)
        w->held--;
    rt_free(wr);
    w->inflight--;
    maybe_finish(w);
    work_unref(w);
}

static void by_id(srv_work *w, uint64_t request_id, const pwm_ringq_v1_WorkRequest *req)
{
    srv_by_id kind = req->nack ? SRV_BY_ID_NACK : SRV_BY_ID_EXTEND;
    srv_job *j = req->nack ? srv_nack_job(NULL, req->nack) : srv_extend_job(NULL, req->extend);
    pw_pb_bytes id = req->nack ? req->nack->id : req->extend->id;
    work_req *wr = j ? rt_malloc(sizeof *wr) : NULL;
    if (!wr) {
        if (j) srv_job_free(j);
        send_result(w, request_id, Q_RESOURCE_EXHAUSTED, "out of memory", 0, NULL, 0);
        return;
    }
    *wr = (work_req){w, request_id, kind};
    j->ctx = wr;
    w->inflight++;
    w->refs++;
    if (srv_route_by_id(j, kind, id, by_id_done) != Q_OK) {
        rt_free(wr);
        w->inflight--;
        send_result(w, request_id, j->status, j->msg, 0, NULL, 0);
        srv_job_free(j);
        work_unref(w); /* send_result may have closed the session: the reference keeps it */
    }
}

static void work_ack(srv_work *w, uint64_t request_id, const pwm_ringq_v1_AckRequest *ack)
{
    q_err e;
    w->inflight++;
    w->refs++;
    if (!srv_ack_start(NULL, ack, ack_done, w, request_id, &e)) {
        w->inflight--;
        w->refs--;
        send_result(w, request_id, e.code, e.msg, 0, NULL, 0);
    }
}

static void work_credit(srv_work *w, uint64_t request_id, const pwm_ringq_v1_Credit *cr)
{
    if (w->nsubs == 0) {
        send_result(w, request_id, Q_FAILED_PRECONDITION, "credit before subscribe", 0, NULL, 0);
        return;
    }
    grant(w, cr->n);
    send_result(w, request_id, Q_OK, NULL, 0, NULL, 0);
}

/* Bytes of a WorkRequest's decode arena taken from the stack before the heap: a malloc + free
 * per message (and glibc's consolidation behind them) was 2-3 % of the server's samples. */
#define WORK_DECODE_STACK_BYTES 2048u

/* One WorkRequest, decoded once (zero-copy into msg; the arena holds its sub-message). */
static void on_message(pw_grpc_call *c, const uint8_t *msg, size_t len)
{
    srv_work *w = pw_grpc_call_user(c);
    pwm_ringq_v1_WorkRequest req;
    /* The sub-message and its arrays (an Ack of up to WORK_DECODE_STACK_BYTES / 16 ids) fit the
     * stack; only a larger message makes the arena go to the heap. */
    _Alignas(max_align_t) uint8_t first[WORK_DECODE_STACK_BYTES];
    pw_msg_arena a;
    pw_msg_arena_init_heap_over(&a, first, sizeof first, SRV_MSG_ARENA_CHUNK_BYTES,
                                SRV_MSG_ARENA_BYTES_MAX);
    int rc = pw_msg_decode(&pwm_ringq_v1_WorkRequest_desc, &req, msg, len, &a);
    if (rc < 0 || req.kind_case == 0) {
        char why[Q_ERR_MSG_BYTES];
        snprintf(why, sizeof why,
                 rc < 0 ? "malformed ringq.v1.WorkRequest: %s" : "empty WorkRequest",
                 rc < 0 ? pw_msg_strerror(rc) : "");
        send_result(w, rc < 0 ? 0 : req.request_id,
                    rc == -ENOMEM ? Q_RESOURCE_EXHAUSTED : Q_INVALID_ARGUMENT, why, 0, NULL, 0);
        pw_msg_arena_deinit(&a);
        return;
    }
    char why[Q_ERR_MSG_BYTES];
    switch (req.kind_case) {
    case pwm_ringq_v1_WorkRequest_FIELD_subscribe: {
        q_status st = subscribe(w, req.subscribe, why, sizeof why);
        send_result(w, req.request_id, st, st == Q_OK ? NULL : why, 0, NULL, 0);
        break;
    }
    case pwm_ringq_v1_WorkRequest_FIELD_credit: work_credit(w, req.request_id, req.credit); break;
    case pwm_ringq_v1_WorkRequest_FIELD_ack: work_ack(w, req.request_id, req.ack); break;
    case pwm_ringq_v1_WorkRequest_FIELD_nack:
    case pwm_ringq_v1_WorkRequest_FIELD_extend: by_id(w, req.request_id, &req); break;
    }
    pw_msg_arena_deinit(&a);
    if (w->state == SRV_WORK_FINISHED) maybe_finish(w); /* a reply that could not be sent */
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
    srv_work_holder(c, w->worker, w->addr);
    buf_init(&w->pending, WORK_PENDING_BYTES_MAX);
    pw_grpc_call_set_user(c, w);
    w->snext = t_sessions;
    if (t_sessions) t_sessions->sprev = w;
    t_sessions = w;
    if (srv_runtime_draining(srv_shard_runtime(srv_shard_self()))) {
        work_set_state(w, SRV_WORK_FINISHED);
        pw_grpc_call_finish(c, PW_GRPC_UNAVAILABLE, "server is draining");
        work_close(w);
    }
}

static void on_half_close(pw_grpc_call *c)
{
    srv_work *w = pw_grpc_call_user(c);
    if (!w) return;
    if (w->state < SRV_WORK_HALF_CLOSED) work_set_state(w, SRV_WORK_HALF_CLOSED);
    /* No more requests: stop delivering; finish once the answers in flight are sent. */
    atomic_store(&w->credits, 0);
    maybe_finish(w);
}

static void on_writable(pw_grpc_call *c)
{
    srv_work *w = pw_grpc_call_user(c);
    if (!w) return;
    flush_pending(w);
    maybe_finish(w);
}

static void on_cancel(pw_grpc_call *c, pw_grpc_status st)
{
    srv_work *w = pw_grpc_call_user(c);
    if (w) work_close(w);
}

/* The call may end by our own finish (half-close path): close the session then too. */
static void on_message_or_close(pw_grpc_call *c, const uint8_t *msg, size_t len)
{
    srv_work *w = pw_grpc_call_user(c);
    if (!w || pw_grpc_call_done(c)) return;
    on_message(c, msg, len);
}

void srv_work_drain_shard(void)
{
    /* The API: Work streams end with UNAVAILABLE when the server drains. An idle one (no task
     * held, no ack in flight) ends now, so it does not hold the shutdown; one that holds tasks
     * gets no new ones and ends once they are acked or nacked (within the drain time; after it
     * the connection closes and the tasks it holds are released). maybe_finish may unlink the
     * session, so walk with the next pointer taken first. */
    srv_work *next;
    for (srv_work *w = t_sessions; w; w = next) {
        next = w->snext;
        if (w->state < SRV_WORK_DRAINING) work_set_state(w, SRV_WORK_DRAINING);
        atomic_store(&w->credits, 0);
        maybe_finish(w);
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
