/* server/srv_work_serve: the owner side of Work streams. Each registration (srv_sub) lives on
 * the owner shard of its queue's partition; when tasks are ready and the stream has credits,
 * the owner claims credits, leases and encodes the tasks once (gRPC-framed WorkResponse{task}
 * messages) and sends the batch to the session's origin as a deliver job, whose done handler
 * hands it to the call by reference. Also the run functions of the registration jobs the
 * origin sends (srv_work_sub.c). Shapes and lifetimes: srv_queue_work.c. */
#include <errno.h>
#include <string.h>

#include "core/rt_alloc.h"
#include "core/rt_blob.h"
#include "core/rt_clock.h"
#include "server/srv_msg.h"
#include "server/srv_work_int.h"
#include "server/srv_credits.h"

/* ---- owner side: registrations and deliveries ---- */

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
        bool queued = srv_work_send(w, msg, len);
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
        srv_work_maybe_finish(w);
        return;
    }
    if (buf_size(&w->pending) == 0) {
        rt_blob *b = rt_blob_from_buf_cached(&j->resp, batch_freed, NULL, srv_buf_cache());
        if (b) {
            int r = pw_grpc_call_send_framed(w->call, b, n);
            if (r == -EOPNOTSUPP) send_each(w, b->data, b->len);
            else if (r == -ENOMEM || r == -EMSGSIZE || r == -EINVAL)
                srv_work_fail(w, r); /* nothing of the batch was queued */
            /* Other errors: the call ended, its sends are no-ops (as srv_work_send's). */
            rt_blob_unref(b);
            srv_work_maybe_finish(w); /* a send that failed ended the stream */
            return;
        }
    }
    send_each(w, buf_begin(&j->resp), buf_size(&j->resp));
    srv_work_maybe_finish(w); /* a send that failed ended the stream */
}

/* No reference: like a deliver, a repoke travels on the owner -> origin lane ahead of the
 * unregister reply that drops the registration's reference, so the session outlives it. (It
 * used to drop a reference it never took, freeing the session early.) */
static void repoke_done(srv_job *j)
{
    srv_work *w = j->ctx;
    if (atomic_load(&w->closed)) return;
    srv_work_poke_all(w);
    if (w->state == SRV_WORK_FINISHED) srv_work_maybe_finish(w); /* a poke that could not be sent */
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

/* Tasks of wq's queue a claim may take now: 0 when it is unknown, paused, empty, or its ready
 * tasks are not visible yet (durable before visible: the commit's callback serves the queue
 * again; claiming now would only give the credits back and repoke). */
static uint64_t serve_ready(srv_part *sp, srv_waitq *wq)
{
    wq->serve_probes++;
    return q_part_ready_to_lease(sp->p, wq->name, wq->name_len);
}

_Static_assert(WORK_SERVE_PASS_TASKS_MAX >= WORK_DELIVER_BATCH, "a pass takes one whole claim");

/* What one claim for one registration came to. */
typedef enum serve_claim {
    CLAIM_PASS_ENDS, /* nothing ready (the queue's state: the same for every registration), or
                      * out of memory (the tick tries again) */
    CLAIM_SUB_DONE,  /* this registration takes nothing more now (no credits, closed, fewer
                      * tasks than claimed) */
    CLAIM_FULL,      /* a whole claim delivered: it may take more */
} serve_claim;

/* The rest of a pass cut at WORK_SERVE_PASS_TASKS_MAX, for registration s's turn next: a repoke of
 * s's stream (owner -> origin -> owner, two mesh hops) serves the queue again from a later mesh
 * poll, which is bounded by time (wk_mesh_poll_for). Not the partition's tick at "now": a timer
 * armed for now from its own callback runs again in the same ev_timers_run, so a backlog served
 * from the tick would be one turn again. The tick, SRV_SERVE_RETRY_MS later, serves what a repoke
 * cannot (s's stream ended meanwhile, or no memory for the job). */
static void serve_later(srv_part *sp, srv_waitq *wq, struct srv_sub *s)
{
    wq->serve_cuts++;
    repoke((srv_work *)s->w, s->origin, sp);
    sp->serve_retry = true;
    srv_part_schedule(sp, srv_q_now_ms() + SRV_SERVE_RETRY_MS);
}

/* One claim of at most WORK_DELIVER_BATCH tasks for registration s, leased, encoded and sent to
 * its origin as one deliver job; *served counts the tasks. */
static serve_claim serve_claim_one(srv_part *sp, srv_waitq *wq, struct srv_sub *s,
                                   uint64_t *serve_ns, uint32_t *served)
{
    srv_work *w = (srv_work *)s->w;
    if (atomic_load(&w->closed)) return CLAIM_SUB_DONE;
    /* Claim only what this queue can use now, so credits are not held back from the stream's
     * other queues (on other shards) by a queue with little ready. */
    uint64_t ready = serve_ready(sp, wq);
    if (ready == 0) return CLAIM_PASS_ENDS;
    uint32_t take;
    uint32_t want = ready < WORK_DELIVER_BATCH ? (uint32_t)ready : WORK_DELIVER_BATCH;
    uint32_t room = WORK_SERVE_PASS_TASKS_MAX - *served; /* >= 1: the pass checks before */
    if (want > room) want = room;                        /* a pass never passes its bound */
    if (!srv_credits_claim(&w->credits, want, &take)) return CLAIM_SUB_DONE;
    if (!*serve_ns) *serve_ns = rt_now_ns();
    srv_job *j = srv_job_new(NULL, NULL, 0);
    if (!j) { /* nothing leased yet: the tick tries again (SRV_SERVE_RETRY_MS) */
        atomic_fetch_add(&w->credits, (int32_t)take);
        sp->serve_retry = true;
        srv_part_schedule(sp, srv_q_now_ms() + SRV_SERVE_RETRY_MS);
        return CLAIM_PASS_ENDS;
    }
    j->origin = s->origin;
    j->owner = sp->shard;
    j->part_no = sp->no;
    j->ctx = w;
    j->done = deliver_done;
    /* Each task as a whole WorkResponse{task}, varint-length-prefixed. */
    q_err qe2;
    uint32_t n = 0;
    (void)srv_lease_encode_held(sp, wq->name, wq->name_len, take, s->lease_ms, &j->resp, &n, s,
                                &qe2); /* a failure delivers nothing: credits go back */
    if (n < take) {
        atomic_fetch_add(&w->credits, (int32_t)(take - n));
        repoke(w, s->origin, sp);
    }
    if (n == 0) {
        srv_job_free(j);
        return CLAIM_SUB_DONE;
    }
    *served += n;
    j->stage_op = SRV_STAGE_OP_WORK;
    j->stage_ns = *serve_ns;
    srv_stage_mark(SRV_STAGE_OP_WORK, SRV_STAGE_DELIVER, &j->stage_ns);
    srv_job_reply(j);
    return n < take ? CLAIM_SUB_DONE : CLAIM_FULL;
}

/* Makes s the first registration of wq, keeping the cyclic order: the next pass starts with it. */
static void subs_rotate_to(srv_waitq *wq, struct srv_sub *s)
{
    if (!s || s == wq->subs) return;
    struct srv_sub *prev = wq->subs, *tail = s;
    while (prev->next != s) prev = prev->next;
    while (tail->next) tail = tail->next;
    tail->next = wq->subs;
    prev->next = NULL;
    wq->subs = s;
}

/* A pass ends at the first "nothing to deliver": that is the queue's state, the same for every
 * registration after it (each used to read it again: with 4 workers on a queue, a delivery pass
 * read the queue's state 5 times where 2 do). The registrations take one claim each in turn; a
 * pass cut at WORK_SERVE_PASS_TASKS_MAX rotates the list so the rest starts with the registration
 * whose turn was next (else every cut pass restarted at the head and later registrations got
 * nothing). An uncut pass starts at the head: a small backlog goes whole to the first
 * registration with credits, one deliver job and one send (rotating after every pass cost 1.11x
 * CPU per task at e2e b1 `never`, bench/results/tail-2026-12-07-s11.md). */
void srv_sub_serve(srv_part *sp, srv_waitq *wq)
{
    uint64_t serve_ns = 0; /* when this pass first found something to deliver (srv_stage.h) */
    uint32_t served = 0;
    struct srv_sub *next = NULL; /* whose turn a cut pass's rest starts with */
    bool ends = false, more = true;
    while (more && !ends) {
        more = false;
        for (struct srv_sub *s = wq->subs; s && !ends; s = s->next) {
            if (served >= WORK_SERVE_PASS_TASKS_MAX) { /* another claim would follow */
                next = s;
                if (serve_ready(sp, wq) > 0) serve_later(sp, wq, s);
                ends = true;
                break;
            }
            serve_claim r = serve_claim_one(sp, wq, s, &serve_ns, &served);
            ends = r == CLAIM_PASS_ENDS;
            more |= r == CLAIM_FULL;
        }
    }
    subs_rotate_to(wq, next);
    if (served > wq->serve_pass_max) wq->serve_pass_max = served;
}

void srv_work_run_register(srv_job *j, srv_part *sp)
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

void srv_work_run_unregister(srv_job *j, srv_part *sp)
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

void srv_work_run_poke(srv_job *j, srv_part *sp)
{
    srv_waitq *wq = srv_part_waitq(sp, (const char *)j->req.bytes.ptr, (uint32_t)j->req.bytes.len,
                                   false);
    /* The session pointer only names the registration here: its fields are the origin's. */
    for (struct srv_sub *s = wq ? wq->subs : NULL; s; s = s->next)
        if ((void *)s->w == j->ctx) s->lease_ms = j->sub_lease_ms;
    srv_job_reply(j);
    if (wq && wq->subs) srv_sub_serve(sp, wq);
}
