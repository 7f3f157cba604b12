/* server/srv_queue_rpc: ringq.v1.Queue unary methods — Enqueue, Lease (long-poll), Ack (fanned
 * out across partitions by srv_queue_ack.c), Nack, Extend — through the generated schema (proto_wire/pw_msgs.h).
 * The origin shard decodes each request once (zero-copy, srv_msg_decode) to check and route it,
 * and the owner uses that decode: Enqueue's job carries the decoded request (srv_decoded, over
 * the job's own copy of the bytes; srv_queue_route.c); Lease, Nack, Extend and Ack jobs carry their decoded
 * arguments as self-contained structs. Replies are encoded on the owner with pw_msg_encode
 * (payload views come from the owner's mapping). See docs/architecture.md "The schema". */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/rt_alloc.h"
#include "core/rt_clock.h"
#include "proto_wire/pw_pb.h"
#include "server/srv_auth.h"
#include "server/srv_msg.h"
#include "server/srv_queue_int.h"
#include "server/srv_queue_rpc.h"
#include "server/srv_receipt.h"
#include "server/srv_work_int.h"

/* ---- Enqueue ---- */

/* Views of one decoded TaskSpec as the q_task_spec q_part_enqueue takes; hdrs has room for
 * spec->headers_count entries. */
static void task_spec_view(const pwm_ringq_v1_TaskSpec *spec, q_task_spec *t, q_header *hdrs)
{
    memset(t, 0, sizeof *t);
    t->payload = (const uint8_t *)srv_chars(spec->payload);
    t->payload_len = (uint32_t)spec->payload.len;
    t->headers = hdrs;
    t->nheaders = (uint32_t)spec->headers_count;
    for (size_t i = 0; i < spec->headers_count; i++)
        hdrs[i] = (q_header){srv_chars(spec->headers[i].key), (uint32_t)spec->headers[i].key.len,
                             srv_chars(spec->headers[i].value),
                             (uint32_t)spec->headers[i].value.len};
    t->priority = spec->priority;
    t->delay_ms = spec->delay_ms;
    t->not_before_ms = spec->not_before_unix_ms;
    t->max_attempts = spec->max_attempts;
    t->lease_ms = spec->lease_ms;
    t->key = srv_chars(spec->idempotency_key);
    t->key_len = (uint32_t)spec->idempotency_key.len;
}

/* What an Enqueue's owner keeps until it answers (j->owner_state while a SYNCED one waits). */
typedef struct enq_results {
    uint32_t n;
    bool stream; /* answer an EnqueueStream request (EnqueueStreamResponse's results) */
    q_enq_result res[];
} enq_results;

/* Tasks (and headers) of an Enqueue whose owner-side arrays are on the shard's stack: the
 * q_task_spec views and their headers, the results, the reply's EnqueueResult / Receipt / id
 * text (~6.5 KiB at most at a time). A batch of 64 is the suite's; larger ones use the heap.
 * Six allocations and frees per Enqueue were ~2 % of the server's samples at batch 1. */
#define ENQ_STACK_TASKS 64u
#define ENQ_STACK_HEADERS 64u

/* Encodes EnqueueResponse{results} for res[0..nt) into j->resp, each with its receipt as the
 * log stands now (srv_receipt_fill). 0 or a negative errno. */
static int encode_enqueue_results(srv_job *j, srv_part *sp, const q_enq_result *res, uint32_t nt,
                                  bool stream)
{
    pwm_ringq_v1_EnqueueResult out_local[ENQ_STACK_TASKS];
    pwm_ringq_v1_Receipt rcpt_local[ENQ_STACK_TASKS];
    char ids_local[ENQ_STACK_TASKS][Q_ID_STR_BYTES];
    bool heap = nt > ENQ_STACK_TASKS;
    pwm_ringq_v1_EnqueueResult *out = heap ? rt_calloc(nt, sizeof *out) : out_local;
    pwm_ringq_v1_Receipt *rcpt = heap ? rt_calloc(nt, sizeof *rcpt) : rcpt_local;
    char(*ids)[Q_ID_STR_BYTES] = heap ? rt_calloc(nt, sizeof *ids) : ids_local;
    int rc = -ENOMEM;
    if (out && rcpt && ids) {
        for (uint32_t i = 0; i < nt; i++) {
            size_t idl = q_id_format(ids[i], sp->no, res[i].id);
            /* A task's id is its record's offset (a duplicate's: the original's). */
            srv_receipt_fill(&rcpt[i], sp->no, q_part_log(sp->p), res[i].id);
            out[i] = (pwm_ringq_v1_EnqueueResult){
                {(const uint8_t *)ids[i], idl}, res[i].duplicate, &rcpt[i]};
        }
        pwm_ringq_v1_EnqueueResponse r = {.results = out, .results_count = nt};
        /* A stream's answer: only its results here; the origin adds request_id and code
         * (fields of one message concatenate: srv_queue_estream.c). */
        pwm_ringq_v1_EnqueueStreamResponse sr = {.results = out, .results_count = nt};
        if (stream) srv_buf_seed(&j->resp); /* freed with the job (a unary reply is handed on) */
        rc = stream ? srv_encode_estream_resp(&j->resp, &sr)
                    : pw_grpc_msg_encode_for_send(&pwm_ringq_v1_EnqueueResponse_desc, &r, &j->resp);
    }
    if (heap) {
        rt_free(out);
        rt_free(rcpt);
        rt_free(ids);
    }
    return rc;
}

/* Appends the decoded tasks to the partition, their results into res[0..tasks_count). Returns
 * true, or false with j's status set: nothing to answer but the error (a log failure part-way
 * still waits for the commit of what was written, as before). */
static bool enqueue_decoded(srv_job *j, srv_part *sp, const pwm_ringq_v1_EnqueueRequest *r,
                            q_enq_result *res)
{
    uint32_t nt = (uint32_t)r->tasks_count, nh = 0;
    for (uint32_t i = 0; i < nt; i++) nh += (uint32_t)r->tasks[i].headers_count;
    q_task_spec tasks_local[ENQ_STACK_TASKS];
    q_header hdrs_local[ENQ_STACK_HEADERS];
    bool heap = nt > ENQ_STACK_TASKS || nh > ENQ_STACK_HEADERS;
    q_task_spec *tasks = heap ? rt_calloc(nt, sizeof *tasks) : tasks_local;
    q_header *hdrs = heap ? rt_calloc(nh ? nh : 1, sizeof *hdrs) : hdrs_local;
    if (!tasks || !hdrs) {
        srv_job_fail(j, Q_RESOURCE_EXHAUSTED, "out of memory");
    } else {
        for (uint32_t i = 0, hk = 0; i < nt; hk += tasks[i].nheaders, i++)
            task_spec_view(&r->tasks[i], &tasks[i], hdrs + hk);
        q_err e;
        uint64_t commit_to = 0;
        q_status st = q_part_enqueue(sp->p, (const char *)r->queue.ptr, r->queue.len, tasks, nt,
                                     srv_q_now_ms(), res, &commit_to, &e);
        if (st != Q_OK) srv_job_err(j, &e);
    }
    if (heap) {
        rt_free(tasks);
        rt_free(hdrs);
    }
    return j->status == Q_OK;
}

/* Encodes the answer with its receipts. */
static void enqueue_answer(srv_job *j, srv_part *sp, const q_enq_result *res, uint32_t n,
                           bool stream)
{
    if (encode_enqueue_results(j, sp, res, n, stream) < 0)
        srv_job_fail(j, Q_RESOURCE_EXHAUSTED, "out of memory encoding the reply");
}

/* A SYNCED Enqueue's commit completed (or failed: the log's sticky failure). */
static void on_enqueue_synced(q_log *log, void *ud, int status, uint64_t durable)
{
    srv_job *j = ud;
    enq_results *er = j->owner_state;
    j->owner_state = NULL;
    if (status >= 0) srv_stage_mark(j->stage_op, SRV_STAGE_COMMIT, &j->stage_ns);
    if (status < 0) srv_job_fail(j, Q_UNAVAILABLE, "log write failed: %s", strerror(-status));
    else enqueue_answer(j, srv_q_part(j->part_no), er->res, er->n, er->stream);
    rt_free(er);
    srv_job_reply(j);
}

/* Owner side: the EnqueueRequest the origin decoded (srv_job_msg: views into the job's copy of
 * the request, arrays in the origin's arena; read only), answered at its durability level
 * (checked on the origin, docs/semantics.md "Durability levels"): SYNCED after the commit that
 * covers it, MEMORY and WRITTEN at once, with a commit asked for that nobody waits for. The
 * results are on the stack unless a SYNCED answer waits for them (or the batch is large); that
 * memory is taken before anything is enqueued, so running out of it enqueues nothing. */
void srv_enqueue_run(srv_job *j, srv_part *sp, const pwm_ringq_v1_EnqueueRequest *r, bool stream)
{
    int level = srv_durability_resolve(r->durability, srv_q.log.policy, NULL, 0); /* valid */
    bool synced = level == pwm_ringq_v1_DURABILITY_SYNCED;
    uint32_t nt = (uint32_t)r->tasks_count;
    q_enq_result res_local[ENQ_STACK_TASKS];
    enq_results *er = NULL;
    q_enq_result *res = res_local;
    if (synced || nt > ENQ_STACK_TASKS) {
        er = rt_malloc(sizeof *er + nt * sizeof er->res[0]);
        res = er ? er->res : NULL;
        if (er) *er = (enq_results){.n = nt, .stream = stream};
        else srv_job_fail(j, Q_RESOURCE_EXHAUSTED, "out of memory");
    }
    bool ok = res && enqueue_decoded(j, sp, r, res);
    if (ok) srv_stage_mark(j->stage_op, SRV_STAGE_APPEND, &j->stage_ns);
    srv_part_serve_ready(sp);
    if (!ok) {
        rt_free(er);
        srv_job_reply_durable(j, sp);
        return;
    }
    if (!synced) {
        enqueue_answer(j, sp, res, nt, stream);
        rt_free(er);
        srv_part_commit_soon(sp);
        srv_job_reply(j);
        return;
    }
    j->owner_state = er;
    int c = q_log_commit_async(q_part_log(sp->p), &j->cw, on_enqueue_synced, j);
    if (c == 0) return; /* on_enqueue_synced answers */
    on_enqueue_synced(q_part_log(sp->p), j, c < 0 ? c : 0, q_log_durable(q_part_log(sp->p)));
}

static void run_enqueue(srv_job *j, srv_part *sp) { srv_enqueue_run(j, sp, srv_job_msg(j), false); }

/* ---- Lease ---- */

/* Leased tasks' views on the shard's stack up to this many (72 bytes each, 4.5 KiB): a Work
 * delivery's claim (WORK_DELIVER_BATCH) and the usual Lease. A calloc and free per delivery were
 * one of the Work path's heap round trips per task at batch 1. Larger Leases use the heap. */
#define LEASE_STACK_TASKS 64u
_Static_assert(WORK_DELIVER_BATCH <= LEASE_STACK_TASKS,
               "a Work delivery's claim leases into the stack array");

static q_status lease_encode(srv_part *sp, const char *name, size_t nl, uint32_t max_n,
                             uint32_t lease_ms, bool framed, buf *out, uint32_t *count,
                             srv_sub *hold, q_err *err)
{
    *count = 0;
    q_leased tasks_local[LEASE_STACK_TASKS]; /* q_part_lease_budget fills each one it leases */
    bool heap = max_n > LEASE_STACK_TASKS;
    q_leased *tasks = heap ? rt_calloc(max_n, sizeof *tasks) : tasks_local;
    if (!tasks) {
        err->code = Q_RESOURCE_EXHAUSTED;
        snprintf(err->msg, sizeof err->msg, "out of memory");
        return err->code;
    }
    uint32_t n = 0;
    /* A LeaseResponse holds every task in one message: bound it by the message limit. Each task
     * costs its payload and headers plus its other fields (id, queue name, numbers, framing):
     * 63 bytes at most besides the name, and 10 for the lease token. A Work batch is as many
     * messages but one buffer, held until the stream's reader took it (srv_queue_work.c): the
     * same budget bounds what one batch pins. */
    size_t per_task = 80 + nl + 16 * Q_HEADERS_MAX;
    size_t budget = srv_q.max_msg_bytes > 1024 ? srv_q.max_msg_bytes - 1024 : srv_q.max_msg_bytes;
    q_status st = q_part_lease_budget(sp->p, name, nl, max_n, lease_ms, srv_q_now_ms(),
                                      max_n > 1 ? budget : SIZE_MAX, per_task, tasks, &n, err);
    if (st != Q_OK) {
        if (heap) rt_free(tasks);
        return st;
    }
    int rc = 0;
    for (uint32_t i = 0; hold && i < n; i++) srv_sub_hold(sp, hold, tasks[i].id, tasks[i].token);
    uint64_t payload = 0;
    for (uint32_t i = 0; rc == 0 && i < n; i++) {
        rc = srv_encode_task(out, framed ? SRV_TASK_WORK_FRAMED : SRV_TASK_LEASE_ENTRY, sp->no,
                             name, nl, &tasks[i]);
        payload += tasks[i].payload_len;
    }
    if (heap) rt_free(tasks);
    /* The payloads' one copy: from the log mapping into the reply, encoded in place. Every later
     * step hands the reply on (srv_job_answer, the Work stream's deliver_done). */
    if (rc == 0) srv_count_payload(payload, payload);
    if (rc < 0) {
        /* The tasks stay leased until their lease ends: say so rather than drop them silently. */
        err->code = Q_RESOURCE_EXHAUSTED;
        snprintf(err->msg, sizeof err->msg, "encoding %u leased tasks: %s", n, strerror(-rc));
        return err->code;
    }
    *count = n;
    return Q_OK;
}

q_status srv_lease_encode(srv_part *sp, const char *name, size_t nl, uint32_t max_n,
                          uint32_t lease_ms, bool framed, buf *out, uint32_t *count, q_err *err)
{
    return lease_encode(sp, name, nl, max_n, lease_ms, framed, out, count, NULL, err);
}

q_status srv_lease_encode_held(srv_part *sp, const char *name, size_t nl, uint32_t max_n,
                               uint32_t lease_ms, buf *out, uint32_t *count, srv_sub *hold,
                               q_err *err)
{
    srv_buf_seed(out); /* a Work delivery's batch: its blob gives it back (srv_buf_cache) */
    return lease_encode(sp, name, nl, max_n, lease_ms, true, out, count, hold, err);
}

/* What a Lease job carries to the owner (j->req.lease, owned by the job): the request as the
 * origin decoded it, self-contained (the queue name copied), so the owner parses nothing. */
typedef struct srv_lease_args {
    uint32_t max_tasks, wait_ms, lease_ms;
    uint32_t name_len;
    char name[Q_QUEUE_NAME_BYTES_MAX];
} lease_args;

static void run_lease(srv_job *j, srv_part *sp)
{
    const lease_args *q = j->req.lease;
    if (atomic_load_explicit(&j->cancelled, memory_order_relaxed)) {
        srv_job_reply(j);
        return;
    }
    q_err e;
    uint32_t n = 0;
    q_status st = srv_lease_encode(sp, q->name, q->name_len, q->max_tasks, q->lease_ms, false,
                                   &j->resp, &n, &e);
    if (st != Q_OK) srv_job_err(j, &e);
    if (st != Q_OK || n != 0 || q->wait_ms == 0 ||
        srv_runtime_draining(srv_shard_runtime(srv_shard_self()))) {
        srv_job_reply(j);
        return;
    }
    /* Long-poll: wait for tasks, at most wait_ms and never past the call's deadline. */
    uint64_t wait = q->wait_ms;
    if (j->wait_ms_max && j->wait_ms_max < wait) wait = j->wait_ms_max;
    srv_part_park(sp, j, q->name, q->name_len, wait, run_lease);
}

/* Checks a decoded LeaseRequest and fills *q. false with *e set when it is not valid. */
static bool lease_args_from(const pwm_ringq_v1_LeaseRequest *r, lease_args *q, q_err *e)
{
    if (q_queue_name_check((const char *)r->queue.ptr, r->queue.len, e) != Q_OK) return false;
    *q = (lease_args){.max_tasks = r->max_tasks ? r->max_tasks : 1,
                      .wait_ms = r->wait_ms,
                      .lease_ms = r->lease_ms,
                      .name_len = (uint32_t)r->queue.len};
    memcpy(q->name, r->queue.ptr, r->queue.len);
    e->code = Q_INVALID_ARGUMENT;
    if (q->max_tasks > Q_BATCH_MAX) {
        snprintf(e->msg, sizeof e->msg, "max_tasks must be 1..%u", Q_BATCH_MAX);
        return false;
    }
    if (q->wait_ms > Q_WAIT_MS_MAX) {
        snprintf(e->msg, sizeof e->msg, "wait_ms must be at most %u", Q_WAIT_MS_MAX);
        return false;
    }
    return true;
}

/* ---- Nack, Extend: routed by the task id; the job carries the decoded arguments ---- */

typedef struct srv_nack_args {
    uint64_t token; /* NackRequest.lease_token, 0 = none */
    q_nack nk;      /* nk.reason points at reason[] below */
    char reason[];  /* nk.reason_len bytes */
} nack_args;

typedef struct srv_extend_args {
    uint64_t token; /* ExtendRequest.lease_token, 0 = none */
    uint32_t lease_ms;
} extend_args;

static void run_nack(srv_job *j, srv_part *sp)
{
    nack_args *a = j->req.nack;
    a->nk.reason = a->reason; /* the job's own copy: no view into another shard's buffer */
    q_nack_result res;
    q_err e;
    uint64_t commit_to;
    q_status st = q_part_nack(sp->p, j->task_id, a->token, &a->nk, srv_q_now_ms(), &res, &commit_to,
                              &e);
    if (st != Q_OK) {
        srv_job_err(j, &e);
        srv_job_reply(j);
        return;
    }
    pwm_ringq_v1_NackResponse r = {
        .state = (int32_t)res.state, .ready_unix_ms = res.ready_ms, .attempts = res.attempts};
    if (pw_msg_encode(&pwm_ringq_v1_NackResponse_desc, &r, &j->resp) < 0)
        srv_job_fail(j, Q_RESOURCE_EXHAUSTED, "out of memory encoding the reply");
    srv_part_serve_ready(sp);
    srv_job_reply_durable(j, sp);
}

static void run_extend(srv_job *j, srv_part *sp)
{
    const extend_args *a = j->req.extend;
    uint64_t deadline = 0;
    q_err e;
    q_status st = q_part_extend(sp->p, j->task_id, a->token, a->lease_ms, srv_q_now_ms(), &deadline,
                                &e);
    pwm_ringq_v1_ExtendResponse r = {.lease_deadline_unix_ms = deadline};
    if (st != Q_OK) srv_job_err(j, &e);
    else if (pw_msg_encode(&pwm_ringq_v1_ExtendResponse_desc, &r, &j->resp) < 0)
        srv_job_fail(j, Q_RESOURCE_EXHAUSTED, "out of memory encoding the reply");
    srv_job_reply(j);
}

srv_job *srv_nack_job(pw_grpc_call *call, const pwm_ringq_v1_NackRequest *r)
{
    srv_job *j = srv_job_new_args(call, SRV_JOB_REQ_NACK, sizeof(nack_args) + r->reason.len);
    if (!j) return NULL;
    nack_args *a = j->req.nack;
    a->nk = (q_nack){.dead_letter = r->dead_letter,
                     .has_delay = r->has_delay_ms,
                     .delay_ms = r->delay_ms,
                     .reason_len = (uint32_t)r->reason.len};
    a->token = r->lease_token;
    if (r->reason.len) memcpy(a->reason, r->reason.ptr, r->reason.len);
    return j;
}

srv_job *srv_extend_job(pw_grpc_call *call, const pwm_ringq_v1_ExtendRequest *r)
{
    srv_job *j = srv_job_new_args(call, SRV_JOB_REQ_EXTEND, sizeof(extend_args));
    if (j) {
        j->req.extend->lease_ms = r->lease_ms;
        j->req.extend->token = r->lease_token;
    }
    return j;
}

q_status srv_route_by_id(srv_job *j, srv_by_id kind, pw_pb_bytes id, srv_job_done_fn done)
{
    return srv_route_id(j, id, kind == SRV_BY_ID_NACK ? run_nack : run_extend, done);
}

/* ---- handlers (origin side): each request is decoded here once, zero-copy ---- */

static bool reject_draining(pw_grpc_call *c)
{
    if (!srv_runtime_draining(srv_shard_runtime(srv_shard_self()))) return false;
    pw_grpc_call_finish(c, PW_GRPC_UNAVAILABLE, "server is draining");
    return true;
}

static void finish_failed(srv_job *j)
{
    srv_job_answer(j);
    srv_job_free(j);
}

static void on_enqueue(pw_grpc_call *c, const uint8_t *msg, size_t len)
{
    if (reject_draining(c)) return;
    uint64_t mark = srv_stage_received(SRV_STAGE_OP_ENQUEUE);
    srv_job *j = srv_job_decoded(c, msg, len, &pwm_ringq_v1_EnqueueRequest_desc);
    if (!j) return;
    const pwm_ringq_v1_EnqueueRequest *r = srv_job_msg(j);
    if (!srv_auth_call(c, SRV_AUTH_PRODUCE, SRV_AUTH_QUEUE, (const char *)r->queue.ptr,
                       r->queue.len)) {
        srv_job_decoded_refuse(j);
        return;
    }
    if (r->tasks_count == 0 || r->tasks_count > Q_BATCH_MAX) {
        srv_job_fail(j, Q_INVALID_ARGUMENT, "an enqueue carries 1..%u tasks, got %zu", Q_BATCH_MAX,
                     r->tasks_count);
        srv_job_decoded_refuse(j);
        return;
    }
    int level = srv_durability_resolve(r->durability, srv_q.log.policy, j->msg, sizeof j->msg);
    if (level < 0) {
        j->status = (q_status)-level;
        srv_job_decoded_refuse(j);
        return;
    }
    j->stage_op = SRV_STAGE_OP_ENQUEUE; /* only requests that go on are measured further */
    j->stage_ns = mark;
    srv_stage_mark(SRV_STAGE_OP_ENQUEUE, SRV_STAGE_DECODE, &j->stage_ns);
    srv_call_route_queue(j, r->queue, run_enqueue);
}

static void lease_done(srv_job *j)
{
    if (j->call) pw_grpc_call_set_user(j->call, NULL);
    srv_job_answer(j);
}

/* The Lease job: the decoded, checked arguments, and the call's deadline in j->wait_ms_max. */
static srv_job *lease_job(pw_grpc_call *c, const pwm_ringq_v1_LeaseRequest *r)
{
    lease_args q;
    q_err e;
    if (!lease_args_from(r, &q, &e)) {
        pw_grpc_call_finish(c, (pw_grpc_status)e.code, e.msg);
        return NULL;
    }
    srv_job *j = srv_job_new_args(c, SRV_JOB_REQ_LEASE, sizeof q);
    if (!j) {
        pw_grpc_call_finish(c, PW_GRPC_RESOURCE_EXHAUSTED, "out of memory");
        return NULL;
    }
    *j->req.lease = q;
    uint64_t dl = pw_grpc_call_deadline(c);
    if (dl != UINT64_MAX) {
        uint64_t now = rt_now_ns();
        /* Answer a little before the client's deadline so the tasks are not lost in flight. */
        uint64_t left_ms = dl > now ? (dl - now) / RT_NS_PER_MS : 0;
        j->wait_ms_max = left_ms > 50 ? left_ms - 50 : 1;
    }
    return j;
}

static void on_lease(pw_grpc_call *c, const uint8_t *msg, size_t len)
{
    if (reject_draining(c)) return;
    pwm_ringq_v1_LeaseRequest r;
    pw_msg_arena a;
    if (srv_msg_decode(c, &pwm_ringq_v1_LeaseRequest_desc, &r, msg, len, &a) < 0) return;
    srv_job *j = srv_auth_call(c, SRV_AUTH_CONSUME, SRV_AUTH_QUEUE, (const char *)r.queue.ptr,
                               r.queue.len)
                     ? lease_job(c, &r)
                     : NULL;
    if (j) {
        pw_grpc_call_set_user(c, j);
        if (srv_route_queue(j, r.queue, run_lease, lease_done) != Q_OK) {
            pw_grpc_call_set_user(c, NULL);
            finish_failed(j);
        }
    }
    pw_msg_arena_deinit(&a);
}

static void on_lease_cancel(pw_grpc_call *c, pw_grpc_status st)
{
    srv_job *j = pw_grpc_call_user(c);
    if (j) atomic_store_explicit(&j->cancelled, true, memory_order_relaxed);
}

static void ack_unary_done(srv_ack_fanout *fo)
{
    pw_grpc_call *c = fo->call;
    if (!pw_grpc_call_done(c)) {
        if (fo->status != Q_OK) {
            pw_grpc_call_finish(c, (pw_grpc_status)fo->status, fo->msg);
        } else {
            buf *b = pw_grpc_call_send_begin(c);
            int rc = b ? srv_ack_fanout_encode(fo, b) : -ECANCELED;
            if (rc == 0) rc = pw_grpc_call_send_commit(c, 0);
            else if (b) pw_grpc_call_send_abort(c);
            /* The acks are done either way; a reply that cannot be sent says so. */
            if (rc == 0) pw_grpc_call_finish(c, PW_GRPC_OK, NULL);
            else
                pw_grpc_call_finish(c, PW_GRPC_RESOURCE_EXHAUSTED,
                                    "acked, but the reply could not be sent");
        }
    }
    srv_ack_fanout_free(fo);
}

static void on_ack(pw_grpc_call *c, const uint8_t *msg, size_t len)
{
    if (reject_draining(c)) return;
    pwm_ringq_v1_AckRequest r;
    pw_msg_arena a;
    if (srv_msg_decode(c, &pwm_ringq_v1_AckRequest_desc, &r, msg, len, &a) < 0) return;
    q_err e;
    if (!srv_ack_start(c, &r, ack_unary_done, NULL, 0, &e))
        pw_grpc_call_finish(c, (pw_grpc_status)e.code, e.msg);
    pw_msg_arena_deinit(&a);
}

/* Nack or Extend: the job carries the decoded arguments; routed by the task id. */
static void by_id_call(pw_grpc_call *c, srv_job *j, srv_by_id kind, pw_pb_bytes id)
{
    if (!j) {
        pw_grpc_call_finish(c, PW_GRPC_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    if (srv_route_by_id(j, kind, id, NULL) != Q_OK) finish_failed(j);
}

static void on_nack(pw_grpc_call *c, const uint8_t *msg, size_t len)
{
    if (reject_draining(c)) return;
    pwm_ringq_v1_NackRequest r;
    pw_msg_arena a;
    if (srv_msg_decode(c, &pwm_ringq_v1_NackRequest_desc, &r, msg, len, &a) < 0) return;
    by_id_call(c, srv_nack_job(c, &r), SRV_BY_ID_NACK, r.id);
    pw_msg_arena_deinit(&a);
}

static void on_extend(pw_grpc_call *c, const uint8_t *msg, size_t len)
{
    if (reject_draining(c)) return;
    pwm_ringq_v1_ExtendRequest r;
    pw_msg_arena a;
    if (srv_msg_decode(c, &pwm_ringq_v1_ExtendRequest_desc, &r, msg, len, &a) < 0) return;
    by_id_call(c, srv_extend_job(c, &r), SRV_BY_ID_EXTEND, r.id);
    pw_msg_arena_deinit(&a);
}

int srv_queue_add_methods(pw_grpc_server *g)
{
    static const pw_grpc_method m[] = {
        {.path = pwm_ringq_v1_Queue_Enqueue_PATH, .kind = PW_GRPC_UNARY, .on_message = on_enqueue},
        SRV_ENQUEUE_STREAM_METHOD,
        {.path = pwm_ringq_v1_Queue_Lease_PATH,
         .kind = PW_GRPC_UNARY,
         .on_message = on_lease,
         .on_cancel = on_lease_cancel},
        {.path = pwm_ringq_v1_Queue_Ack_PATH, .kind = PW_GRPC_UNARY, .on_message = on_ack},
        {.path = pwm_ringq_v1_Queue_Nack_PATH, .kind = PW_GRPC_UNARY, .on_message = on_nack},
        {.path = pwm_ringq_v1_Queue_Extend_PATH, .kind = PW_GRPC_UNARY, .on_message = on_extend},
    };
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) {
        int r = pw_grpc_server_add_method(g, &m[i]);
        if (r < 0) return r;
    }
    return srv_work_add_method(g);
}
