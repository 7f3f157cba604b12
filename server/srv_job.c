/* server/srv_job: a request crossing from its origin shard to a partition's owner and back.
 * See srv_job.h. */
#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "core/rt_alloc.h"
#include "server/srv_queue_int.h"

/* The job's own memory: back to the cache of the shard that made it when freed on that shard
 * (jobs made on an owner for another origin, deliveries and repokes, are freed on the origin
 * and go to the allocator: rt_cache never takes another thread's object, and a shard's list
 * is only ever touched through srv_q_self()). */
static void job_release(srv_job *j)
{
    if (j->cache_shard >= 0 && j->cache_shard == srv_q_self())
        rt_cache_put(&srv_q.shards[j->cache_shard].jobs, j);
    else rt_free(j);
}

srv_job *srv_job_new(pw_grpc_call *call, const uint8_t *req, size_t req_len)
{
    int self = srv_q_self();
    rt_cache *cache = srv_q.shards ? &srv_q.shards[self].jobs : NULL;
    srv_job *j = cache ? rt_cache_get(cache) : rt_malloc(sizeof *j);
    if (!j) return NULL;
    /* Cleared but for the error text (192 of its ~540 bytes), read only as a string. */
    memset(j, 0, offsetof(srv_job, msg));
    j->msg[0] = 0;
    memset((char *)j + offsetof(srv_job, msg) + sizeof j->msg, 0,
           sizeof *j - offsetof(srv_job, msg) - sizeof j->msg);
    j->cache_shard = cache ? self : -1;
    if (req_len) {
        j->req.bytes.ptr = rt_malloc(req_len);
        if (!j->req.bytes.ptr) {
            job_release(j);
            return NULL;
        }
        memcpy(j->req.bytes.ptr, req, req_len);
        j->req.bytes.len = req_len;
        j->req_kind = SRV_JOB_REQ_BYTES;
    }
    buf_init(&j->resp, (size_t)64 << 20);
    j->call = call;
    if (call) pw_grpc_call_ref(call);
    j->origin = self;
    return j;
}

void srv_buf_seed(buf *b)
{
    if (b->data || b->cap < SRV_BUF_CACHED_BYTES || !srv_q.shards) return;
    uint8_t *p = rt_cache_get(&srv_q.shards[srv_q_self()].bufs);
    if (!p) return; /* out of memory: the first write allocates (and says so) */
    b->data = p;
    b->len = SRV_BUF_CACHED_BYTES;
    b->rd = b->wr = 0;
}

rt_cache *srv_buf_cache(void) { return srv_q.shards ? &srv_q.shards[srv_q_self()].bufs : NULL; }

void srv_buf_release(buf *b)
{
    if (!b->data || b->len != SRV_BUF_CACHED_BYTES || !srv_q.shards) {
        buf_deinit(b);
        return;
    }
    /* Storage of that size is one rt_malloc of SRV_BUF_CACHED_BYTES (a seed, or a buf's first
     * growth): what the cache holds. */
    rt_cache_put(&srv_q.shards[srv_q_self()].bufs, b->data);
    b->data = NULL;
    b->rd = b->wr = b->len = 0;
}

srv_job *srv_job_new_args(pw_grpc_call *call, srv_job_req_kind kind, size_t size)
{
    assert(kind != SRV_JOB_REQ_NONE && kind != SRV_JOB_REQ_BYTES && kind != SRV_JOB_REQ_ACKS &&
           kind != SRV_JOB_REQ_DECODED && size > 0);
    srv_job *j = srv_job_new(call, NULL, 0);
    void *args = j ? rt_calloc(1, size) : NULL;
    if (!args) {
        if (j) srv_job_free(j);
        return NULL;
    }
    j->req_kind = kind;
    switch (kind) {
    case SRV_JOB_REQ_LEASE: j->req.lease = args; break;
    case SRV_JOB_REQ_NACK: j->req.nack = args; break;
    case SRV_JOB_REQ_EXTEND: j->req.extend = args; break;
    case SRV_JOB_REQ_NONE:
    case SRV_JOB_REQ_BYTES:
    case SRV_JOB_REQ_ACKS:
    case SRV_JOB_REQ_DECODED: break; /* refused above */
    }
    return j;
}

static void *job_req_ptr(srv_job *j)
{
    switch (j->req_kind) {
    case SRV_JOB_REQ_NONE: return NULL;
    case SRV_JOB_REQ_BYTES: return j->req.bytes.ptr;
    case SRV_JOB_REQ_ACKS: return NULL;    /* a view into the Ack fan-out */
    case SRV_JOB_REQ_DECODED: return NULL; /* inside the srv_decoded block (decoded_free) */
    case SRV_JOB_REQ_LEASE: return j->req.lease;
    case SRV_JOB_REQ_NACK: return j->req.nack;
    case SRV_JOB_REQ_EXTEND: return j->req.extend;
    }
    return NULL;
}

void srv_job_free(srv_job *j)
{
    if (j->call) pw_grpc_call_unref(j->call);
    rt_free(job_req_ptr(j));
    srv_buf_release(&j->resp);
    job_release(j);
}

void srv_job_fail(srv_job *j, q_status st, const char *fmt, ...)
{
    j->status = st;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(j->msg, sizeof j->msg, fmt, ap);
    va_end(ap);
}

static void on_origin(wk_call *c, int result)
{
    srv_job *j = (srv_job *)((char *)c - offsetof(srv_job, wc));
    if (j->done) j->done(j);
    else srv_job_answer(j);
    srv_stage_mark(j->stage_op, SRV_STAGE_SEND, &j->stage_ns); /* the answer is queued */
    srv_job_free(j);
}

static void on_owner(wk_call *c, int self)
{
    srv_job *j = (srv_job *)((char *)c - offsetof(srv_job, wc));
    srv_part *sp = srv_q.shards[self].parts[j->part_no];
    if (!sp) {
        srv_job_fail(j, Q_UNAVAILABLE, "partition %u is not open", j->part_no);
        srv_job_reply(j);
        return;
    }
    j->run(j, sp);
    /* A lease, a delayed enqueue, a nack, an extend or a redrive may bring the partition's next
     * deadline forward: re-arm its timer. */
    srv_part_schedule(sp, q_part_next_ms(sp->p));
}

void srv_job_dispatch(srv_job *j, uint32_t part_no, srv_job_run_fn run, srv_job_done_fn done)
{
    j->part_no = part_no;
    j->run = run;
    j->done = done;
    j->owner = srv_q_owner(part_no);
    j->wc.run = on_owner;
    j->wc.done = on_origin;
    wk_call_start(srv_q.mesh, j->origin, j->owner, &j->wc);
}

void srv_job_reply(srv_job *j)
{
    /* The status travels in the job (j->status, j->msg); the call's result is unused. */
    if (j->wc.mesh) {
        wk_call_reply(&j->wc, 0); /* dispatched: the reply leg */
        return;
    }
    j->wc.done = on_origin; /* made on the owner (a delivery, a repoke) */
    wk_call_push(srv_q.mesh, j->owner, j->origin, &j->wc, 0);
}

static void on_job_durable(q_log *log, void *ud, int status, uint64_t durable)
{
    srv_job *j = ud;
    if (status < 0) srv_job_fail(j, Q_UNAVAILABLE, "log write failed: %s", strerror(-status));
    /* What the commit made visible is served by on_committed once every waiter it covered is
     * answered and the next fsync is in flight — not here, between two waiters' replies. */
    srv_job_reply(j);
}

/* Replies once the commit asked for (r: q_log_commit_async's or q_log_commit_join's result) is
 * done. */
static void reply_after(srv_job *j, int r)
{
    if (r == 0) return; /* on_job_durable replies */
    if (r < 0) srv_job_fail(j, Q_UNAVAILABLE, "log write failed: %s", strerror(-r));
    srv_job_reply(j);
}

void srv_job_reply_durable(srv_job *j, srv_part *sp)
{
    reply_after(j, q_log_commit_async(q_part_log(sp->p), &j->cw, on_job_durable, j));
}

void srv_job_reply_durable_join(srv_job *j, srv_part *sp)
{
    reply_after(j, q_log_commit_join(q_part_log(sp->p), &j->cw, on_job_durable, j));
}

void srv_job_answer(srv_job *j)
{
    pw_grpc_call *c = j->call;
    if (!c || pw_grpc_call_done(c)) return;
    if (j->status == Q_OK) {
        /* The reply's buffer is handed on, not copied: it goes to the socket as it is. */
        int r = pw_grpc_call_send_buf(c, &j->resp, 0);
        /* A response that was not sent is never answered OK (an OK without its message). */
        if (r == -EMSGSIZE)
            pw_grpc_call_finish(c, PW_GRPC_RESOURCE_EXHAUSTED,
                                "response larger than the message limit");
        else if (r < 0)
            pw_grpc_call_finish(c, PW_GRPC_RESOURCE_EXHAUSTED, "the response could not be sent");
        else pw_grpc_call_finish(c, PW_GRPC_OK, NULL);
    } else {
        pw_grpc_call_finish(c, (pw_grpc_status)j->status, j->msg);
    }
}
