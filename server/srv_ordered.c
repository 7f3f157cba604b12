/* server/srv_ordered: the in-order answer window of a pipelined bidi stream; see srv_ordered.h.
 *
 * A session holds one reference for the call plus one per job in flight, so a cancelled call's
 * jobs still come back to memory that is theirs. Items leave the FIFO from the head only. */
#include "server/srv_ordered.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/rt_alloc.h"
#include "server/srv_queue_int.h"
#include "server/srv_queue_rpc.h"

struct srv_ord_item {
    struct srv_ord_item *next;
    bool ready;
    srv_job *j; /* in flight; NULL once answered into `answer` */
    buf answer; /* the encoded answer */
    srv_ord *o; /* for the job's way back */
    uint64_t request_id;
    bool encoded;    /* the job's j->resp is the whole answer (srv_ord_dispatch_encoded) */
    int cache_shard; /* the shard whose cache (srv_qshard.ord_items) it came from, or -1 */
};

struct srv_ord {
    pw_grpc_call *call;
    const srv_ord_kind *kind;
    int refs; /* 1 for the call + 1 per job in flight */
    bool half_closed, finished;
    bool draining; /* the server drains: new requests UNAVAILABLE, ends once all answered */
    uint32_t held;
    srv_ord_item *head, *tail;
    buf pending;                 /* answers waiting for the window, length-prefixed */
    struct srv_ord *next, *prev; /* this shard's sessions (for the drain) */
};

static _Thread_local srv_ord *t_ords;

pw_grpc_call *srv_ord_call(const srv_ord *o) { return o->call; }

size_t srv_ord_item_bytes(void) { return sizeof(srv_ord_item); }

/* A zeroed item: from this shard's cache when there is one (a server's shard), else the heap. */
static srv_ord_item *item_new(void)
{
    int self = srv_q.shards ? srv_q_self() : -1;
    srv_ord_item *it = self >= 0 ? rt_cache_get(&srv_q.shards[self].ord_items)
                                 : rt_malloc(sizeof *it);
    if (!it) return NULL;
    *it = (srv_ord_item){.cache_shard = self};
    buf_init(&it->answer, SRV_ORD_ANSWER_BYTES_MAX);
    return it;
}

static void item_free(srv_ord_item *it)
{
    srv_buf_release(&it->answer);
    if (it->cache_shard >= 0 && it->cache_shard == srv_q_self())
        rt_cache_put(&srv_q.shards[it->cache_shard].ord_items, it);
    else rt_free(it);
}

static void ord_unref(srv_ord *o)
{
    if (--o->refs > 0) return;
    while (o->head) {
        srv_ord_item *it = o->head;
        o->head = it->next;
        item_free(it);
    }
    buf_deinit(&o->pending);
    if (o->prev) o->prev->next = o->next;
    else if (t_ords == o) t_ords = o->next;
    if (o->next) o->next->prev = o->prev;
    pw_grpc_call_unref(o->call);
    rt_free(o);
}

/* Ends the call (once) and drops the call's reference: on_cancel does not run after a finish
 * of ours. o may be freed on return. */
static void ord_end(srv_ord *o, pw_grpc_status st, const char *why)
{
    if (o->finished) return;
    o->finished = true;
    pw_grpc_call_finish(o->call, st, why);
    pw_grpc_call_set_user(o->call, NULL);
    ord_unref(o);
}

static void ord_fail(srv_ord *o, const char *why) { ord_end(o, PW_GRPC_RESOURCE_EXHAUSTED, why); }

/* Sends what the pending buffer holds. false: the window is full (on_writable resumes) or the
 * stream ended. */
static bool flush_pending(srv_ord *o)
{
    while (!o->finished && buf_size(&o->pending) > 0) {
        const uint8_t *p = buf_begin(&o->pending), *msg;
        size_t left = buf_size(&o->pending), len;
        if (!srv_lp_next(&p, &left, &msg, &len)) break;
        int r = pw_grpc_call_send(o->call, msg, len, 0);
        if (r == -ENOBUFS) return false;
        if (r < 0) {
            ord_fail(o, "the answer could not be sent");
            return false;
        }
        buf_consume(&o->pending, buf_size(&o->pending) - left);
    }
    return !o->finished;
}

/* Sends what is ready at the head, in order; ends the stream once half-closed (OK) or
 * draining (UNAVAILABLE) and everything is answered. o may be freed on return. */
static void ord_flush(srv_ord *o)
{
    if (!flush_pending(o)) return;
    while (!o->finished && o->head && o->head->ready) {
        srv_ord_item *it = o->head;
        int r = buf_size(&o->pending)
                    ? -ENOBUFS
                    : pw_grpc_call_send(o->call, buf_begin(&it->answer), buf_size(&it->answer), 0);
        if (r == -ENOBUFS)
            r = srv_lp_put(&o->pending, buf_begin(&it->answer), buf_size(&it->answer));
        if (r < 0) return ord_fail(o, "the answer could not be sent");
        o->head = it->next;
        if (!o->head) o->tail = NULL;
        item_free(it);
        o->held--;
    }
    if (!o->finished && (o->half_closed || o->draining) && !o->head && buf_size(&o->pending) == 0) {
        if (o->half_closed) ord_end(o, PW_GRPC_OK, NULL);
        else ord_end(o, PW_GRPC_UNAVAILABLE, "server is draining");
    }
}

/* The head's answer encoded straight into the call's output queue (behind its gRPC prefix):
 * no answer buffer and no copy. true when it was queued and the item is gone; false when
 * nothing was queued (not the head, answers waiting in pending, the call's queue full or done,
 * the encode or the send failed): srv_ord_answer takes the buffered path, which handles each. */
static bool answer_direct(srv_ord *o, srv_ord_item *it, uint64_t request_id, q_status code,
                          const char *message, const uint8_t *body, size_t body_len)
{
    if (o->finished || o->head != it || buf_size(&o->pending) != 0) return false;
    buf *out = pw_grpc_call_send_begin(o->call);
    if (!out) return false;
    if (o->kind->encode(out, request_id, code, message, body, body_len, o->kind->held_max) < 0) {
        pw_grpc_call_send_abort(o->call);
        return false;
    }
    if (pw_grpc_call_send_commit(o->call, 0) < 0) return false; /* nothing of it queued */
    o->head = it->next;
    if (!o->head) o->tail = NULL;
    item_free(it);
    o->held--;
    return true;
}

void srv_ord_answer(srv_ord *o, srv_ord_item *it, uint64_t request_id, q_status code,
                    const char *message, const uint8_t *body, size_t body_len)
{
    if (answer_direct(o, it, request_id, code, message, body, body_len)) {
        ord_flush(o); /* those behind it that were ready, and the stream's end */
        return;
    }
    const srv_ord_kind *k = o->kind;
    srv_buf_seed(&it->answer);
    if (k->encode(&it->answer, request_id, code, message, body, body_len, k->held_max) < 0) {
        buf_truncate(&it->answer, 0);
        (void)k->encode(&it->answer, request_id, Q_RESOURCE_EXHAUSTED,
                        "done, but the answer could not be encoded", NULL, 0, k->held_max);
    }
    it->ready = true;
    ord_flush(o);
}

/* Origin: a request's job is back. */
static void ord_job_done(srv_job *j)
{
    srv_ord_item *it = j->origin_ctx;
    srv_ord *o = it->o;
    it->j = NULL;
    if (!o->finished && it->encoded && j->status == Q_OK) { /* the answer as the owner made it */
        buf t = it->answer;
        it->answer = j->resp;
        j->resp = t;
        it->ready = true;
        ord_flush(o);
    } else if (!o->finished) {
        srv_ord_answer(o, it, it->request_id, j->status, j->status ? j->msg : NULL,
                       buf_begin(&j->resp), buf_size(&j->resp));
    }
    srv_job_decoded_release(j); /* the job itself is freed by its dispatch after this */
    ord_unref(o);
}

void srv_ord_dispatch(srv_ord *o, srv_ord_item *it, uint64_t request_id, srv_job *j,
                      uint32_t part_no, srv_job_run_fn run)
{
    it->j = j;
    it->request_id = request_id;
    j->origin_ctx = it;
    o->refs++;
    srv_job_dispatch(j, part_no, run, ord_job_done);
}

void srv_ord_dispatch_encoded(srv_ord *o, srv_ord_item *it, uint64_t request_id, srv_job *j,
                              uint32_t part_no, srv_job_run_fn run)
{
    it->encoded = true;
    srv_ord_dispatch(o, it, request_id, j, part_no, run);
}

/* Makes the request's place in the order; answers it at once when the window is full or the
 * server drains. */
static void ord_request(srv_ord *o, const uint8_t *msg, size_t len)
{
    srv_ord_item *it = item_new();
    if (!it) return ord_fail(o, "out of memory");
    it->o = o;
    if (o->tail) o->tail->next = it;
    else o->head = it;
    o->tail = it;
    o->held++;
    char why[96];
    if (o->draining) {
        srv_ord_answer(o, it, 0, Q_UNAVAILABLE, "server is draining", NULL, 0);
    } else if (o->held > o->kind->held_max) {
        snprintf(why, sizeof why, "more than %u requests unanswered: wait for the answers",
                 o->kind->held_max);
        srv_ord_answer(o, it, 0, Q_RESOURCE_EXHAUSTED, why, NULL, 0);
    } else {
        o->refs++; /* the handler may answer (and the stream end) before it returns */
        o->kind->request(o, it, msg, len);
        ord_unref(o);
    }
}

void srv_ord_on_message(pw_grpc_call *c, const uint8_t *msg, size_t len)
{
    srv_ord *o = pw_grpc_call_user(c);
    if (!o || o->finished) return;
    ord_request(o, msg, len);
}

void srv_ord_on_half_close(pw_grpc_call *c)
{
    srv_ord *o = pw_grpc_call_user(c);
    if (!o) return;
    o->half_closed = true;
    ord_flush(o);
}

void srv_ord_on_writable(pw_grpc_call *c)
{
    srv_ord *o = pw_grpc_call_user(c);
    if (o) ord_flush(o);
}

void srv_ord_on_cancel(pw_grpc_call *c, pw_grpc_status st)
{
    (void)st;
    srv_ord *o = pw_grpc_call_user(c);
    if (!o) return;
    pw_grpc_call_set_user(c, NULL);
    o->finished = true; /* the jobs in flight still come back and drop their references */
    ord_unref(o);
}

void srv_ord_start(pw_grpc_call *c, const srv_ord_kind *kind)
{
    srv_ord *o = rt_calloc(1, sizeof *o);
    if (!o) {
        pw_grpc_call_finish(c, PW_GRPC_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    o->call = c;
    o->kind = kind;
    pw_grpc_call_ref(c);
    o->refs = 1;
    buf_init(&o->pending, SRV_ORD_PENDING_BYTES_MAX);
    pw_grpc_call_set_user(c, o);
    o->next = t_ords;
    if (t_ords) t_ords->prev = o;
    t_ords = o;
    if (srv_runtime_draining(srv_shard_runtime(srv_shard_self())))
        ord_end(o, PW_GRPC_UNAVAILABLE, "server is draining");
}

void srv_ord_drain(void)
{
    /* Requests in flight are answered; then the stream ends UNAVAILABLE (every gRPC client
     * retries it), so an idle stream does not hold the drain. */
    srv_ord *next;
    for (srv_ord *o = t_ords; o; o = next) {
        o->refs++; /* ord_flush may end it */
        o->draining = true;
        ord_flush(o);
        next = o->next;
        ord_unref(o);
    }
}
