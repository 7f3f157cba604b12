/* server/srv_stream_consume: ringq.v1.Streams/Consume, the bidi stream of a consumer's client.
 *
 * The shape of Queue.Work (srv_queue_work.c), for one consumer in one partition:
 * - the session lives on the origin (the connection's shard); its bind goes to the owner of the
 *   stream's partition as a job, which creates the ephemeral consumer if the bind asks for one,
 *   raises the consumer's clients count (q_consumer_bind) and registers the session in the
 *   consumer's watch (srv_cwatch, srv_stream_cons.c);
 * - credits are one atomic counter in the session: the owner claims some (compare-and-swap),
 *   takes that many deliveries from the consumer (q_consumer_next), gives back what it could
 *   not use, and pushes the deliveries to the origin as a job whose buffer is the stream's bytes
 *   (gRPC-framed ConsumeResponse{delivery}, encoded once from the log mapping), handed to the
 *   call by reference. Several sessions bound to one consumer are served in turn from the same
 *   consumer: each message goes to one of them;
 * - acks travel as jobs to the owner (q_consumer_settle), answered by a ConsumeResult once the
 *   ack record is durable;
 * - when the stream ends (any way) the unregister job, allocated with the bind, lowers the
 *   clients count and leaves the watch: an ephemeral consumer is then deleted after its
 *   inactive_threshold_ms (q_consumers_tick). What the session was delivered and did not ack
 *   comes back after the consumer's ack wait.
 * The owner touches only the session's atomics (credits, closed); delivery and unregister jobs
 * travel on the owner -> origin lane in order, so no delivery outlives the session.
 * A partitioned stream's session (srv_stream_parts.h) registers with every member: one bind,
 * poke and unregister job per member, the credits one counter all members claim from, acks
 * split by member and their results put back in the request's order.
 * This file is the origin's half (the session); the owner's half is srv_stream_csub.c, the
 * shared types srv_stream_consume_int.h. */
#include <errno.h>
#include <string.h>

#include "core/rt_alloc.h"
#include "core/rt_blob.h"
#include "proto_wire/pw_pb.h"
#include "server/srv_auth.h"
#include "server/srv_stream_consume_int.h"
#include "server/srv_stream_parts.h"

#define CONSUME_CREDITS_MAX 10000             /* the API's bound on credits outstanding */
#define CONSUME_PENDING_BYTES_MAX (64u << 20) /* results waiting for the stream's window */

static _Thread_local srv_consume *t_consumes;

/* ---- origin: sending ---- */

static void cs_close(srv_consume *w);

static void cs_unref(srv_consume *w)
{
    if (--w->refs > 0) return;
    if (w->prev) w->prev->next = w->next;
    else if (t_consumes == w) t_consumes = w->next;
    if (w->next) w->next->prev = w->prev;
    if (w->unreg) srv_job_free(w->unreg);
    for (uint32_t k = 0; w->unregs && k < w->parts; k++)
        if (w->unregs[k]) srv_job_free(w->unregs[k]);
    rt_free(w->unregs);
    srv_sfan_free(w->pfan);
    buf_deinit(&w->pending);
    pw_grpc_call_unref(w->call);
    rt_free(w);
}

static void cs_end(srv_consume *w, pw_grpc_status st, const char *why)
{
    if (w->finished) return;
    w->finished = true;
    atomic_store(&w->credits, 0);
    buf_consume(&w->pending, buf_size(&w->pending));
    pw_grpc_call_finish(w->call, st, why);
    cs_close(w);
}

static void cs_flush(srv_consume *w)
{
    while (!w->finished && buf_size(&w->pending) > 0) {
        const uint8_t *p = buf_begin(&w->pending), *msg;
        size_t left = buf_size(&w->pending), len;
        if (!srv_lp_next(&p, &left, &msg, &len)) break;
        int r = pw_grpc_call_send(w->call, msg, len, 0);
        if (r == -ENOBUFS) return;
        if (r < 0) return cs_end(w, PW_GRPC_RESOURCE_EXHAUSTED, "a message could not be sent");
        buf_consume(&w->pending, buf_size(&w->pending) - left);
    }
}

static void cs_send(srv_consume *w, const uint8_t *msg, size_t len)
{
    if (w->finished) return;
    int r = buf_size(&w->pending) ? -ENOBUFS : pw_grpc_call_send(w->call, msg, len, 0);
    if (r == -ENOBUFS) r = srv_lp_put(&w->pending, msg, len);
    if (r < 0) cs_end(w, PW_GRPC_RESOURCE_EXHAUSTED, "a message could not be sent");
}

/* Ends the stream when nothing is left to answer (half-closed or draining). */
static void cs_maybe_finish(srv_consume *w)
{
    if (w->finished || w->inflight || buf_size(&w->pending)) return;
    if (w->half_closed) cs_end(w, PW_GRPC_OK, NULL);
    else if (w->draining) cs_end(w, PW_GRPC_UNAVAILABLE, "server is draining");
}

/* ConsumeResponse{result{request_id, code, message, <field> = body}}: body is already encoded
 * (ItemStatus entries as `results`, or ConsumerInfo bytes as `consumer`, field 0: none). */
static void cs_result(srv_consume *w, uint64_t request_id, q_status code, const char *message,
                      uint32_t field, const uint8_t *body, size_t body_len)
{
    if (request_id == 0 && code == Q_OK) return; /* 0 asks for no result on success */
    pwm_ringq_v1_ConsumeResult res = {
        .request_id = request_id,
        .code = (uint32_t)code,
        .message = {(const uint8_t *)(message ? message : ""), message ? strlen(message) : 0},
    };
    buf b;
    buf_init(&b, (size_t)16 << 20);
    pw_pb_mark m;
    int r = pw_pb_submsg_begin(&b, pwm_ringq_v1_ConsumeResponse_FIELD_result, &m);
    if (r == 0) r = pw_msg_encode(&pwm_ringq_v1_ConsumeResult_desc, &res, &b);
    if (r == 0 && field == pwm_ringq_v1_ConsumeResult_FIELD_consumer && body_len)
        r = pw_pb_put_bytes(&b, field, body, body_len);
    else if (r == 0 && field && body_len) r = buf_append(&b, body, body_len); /* tagged entries */
    if (r == 0) r = pw_pb_submsg_end(&b, &m);
    if (r == 0) cs_send(w, buf_begin(&b), buf_size(&b));
    else cs_end(w, PW_GRPC_RESOURCE_EXHAUSTED, "out of memory");
    buf_deinit(&b);
}

static void deliver_freed(rt_blob *b)
{
    if (b->copied_bytes) srv_count_payload(0, b->copied_bytes);
}

/* Origin: a batch of deliveries (j->resp: framed ConsumeResponse messages), by reference. */
void srv_consume_deliver_done(srv_job *j)
{
    srv_consume *w = j->ctx;
    if (atomic_load(&w->closed) || w->finished) return; /* they come back at their ack wait */
    if (j->status != Q_OK) {                            /* the consumer (or its stream) is gone */
        cs_end(w, (pw_grpc_status)j->status, j->msg);
        return;
    }
    const uint8_t *p = buf_begin(&j->resp), *msg;
    size_t left = buf_size(&j->resp), len;
    uint32_t n = 0;
    while (srv_grpc_next(&p, &left, &msg, &len)) n++;
    if (n == 0) return;
    if (buf_size(&w->pending) == 0) {
        rt_blob *b = rt_blob_from_buf(&j->resp, deliver_freed, NULL);
        int r = b ? pw_grpc_call_send_framed(w->call, b, n) : -ENOMEM;
        if (r != -EOPNOTSUPP) {
            rt_blob_unref(b);
            if (r == -ENOMEM || r == -EMSGSIZE || r == -EINVAL)
                cs_end(w, PW_GRPC_RESOURCE_EXHAUSTED, "deliveries could not be sent");
            return;
        }
        p = b->data;
        left = b->len;
        while (srv_grpc_next(&p, &left, &msg, &len)) cs_send(w, msg, len);
        rt_blob_unref(b);
        return;
    }
    p = buf_begin(&j->resp);
    left = buf_size(&j->resp);
    while (srv_grpc_next(&p, &left, &msg, &len)) cs_send(w, msg, len);
}

/* ---- origin ---- */

/* Fills the unregister job (allocated with the bind, room for both names) with the session's
 * stream and consumer names (req.bytes; list_max: the stream's length). */
static void unreg_fill_job(srv_consume *w, srv_job *j)
{
    memcpy(j->req.bytes.ptr, w->stream, w->sl);
    memcpy(j->req.bytes.ptr + w->sl, w->cons, w->cl);
    j->req.bytes.len = w->sl + w->cl;
    j->list_max = w->sl;
    j->ctx = w;
}

static void unreg_fill(srv_consume *w) { unreg_fill_job(w, w->unreg); }

static void unbind_done(srv_job *j) { cs_unref(j->ctx); }
static void poke_done(srv_job *j) {}

/* A partitioned stream: the unregister jobs not sent yet go to their members. */
void srv_consume_unbind_members(srv_consume *w)
{
    for (uint32_t k = 0; w->unregs && k < w->parts; k++) {
        srv_job *j = w->unregs[k];
        if (!j) continue;
        w->unregs[k] = NULL;
        srv_job_dispatch(j, srv_sparts_member_part(w->part, k), srv_consume_run_unbind,
                         unbind_done); /* drops that registration's ref */
    }
}

static void cs_close(srv_consume *w)
{
    if (atomic_exchange(&w->closed, true)) return;
    pw_grpc_call_set_user(w->call, NULL);
    if (w->bound && w->parts) srv_consume_unbind_members(w);
    if (w->bound && w->unreg) {
        srv_job *j = w->unreg;
        w->unreg = NULL;
        srv_job_dispatch(j, w->part, srv_consume_run_unbind,
                         unbind_done); /* drops the registration's ref */
    }
    cs_unref(w); /* the stream's reference */
}

static void cs_poke(srv_consume *w)
{
    for (uint32_t k = 0; k < (w->parts ? w->parts : 1); k++) { /* a partitioned one: each */
        srv_job *j = srv_job_new(NULL, (const uint8_t *)w->stream, w->sl);
        if (!j) return cs_end(w, PW_GRPC_RESOURCE_EXHAUSTED, "out of memory");
        j->ctx = w;
        srv_job_dispatch(j, w->parts ? srv_sparts_member_part(w->part, k) : w->part,
                         srv_consume_run_poke, poke_done);
    }
}

static void cs_grant(srv_consume *w, uint64_t n)
{
    if (!w->bound || w->half_closed || w->draining || w->finished || n == 0) return;
    int32_t cur = atomic_load(&w->credits);
    uint64_t have = cur > 0 ? (uint64_t)cur : 0;
    if (have >= CONSUME_CREDITS_MAX) return;
    if (n > CONSUME_CREDITS_MAX - have) n = CONSUME_CREDITS_MAX - have;
    atomic_fetch_add(&w->credits, (int32_t)n);
    cs_poke(w);
}

static void bind_done(srv_job *j)
{
    srv_cbind_ref *br = j->origin_ctx;
    srv_consume *w = br->w;
    w->binding = false;
    w->inflight--;
    if (j->status == Q_OK) {
        size_t cl = strlen(j->msg);
        memcpy(w->cons, j->msg, cl);
        w->cl = (uint32_t)cl;
        unreg_fill(w);
        w->bound = true;               /* the unregister job goes at close */
        if (atomic_load(&w->closed)) { /* ended while binding: cs_close sent nothing */
            srv_job *u = w->unreg;
            w->unreg = NULL;
            srv_job_dispatch(u, w->part, srv_consume_run_unbind, unbind_done);
        }
    } else {
        cs_unref(w); /* no registration */
    }
    if (!w->finished)
        cs_result(w, br->request_id, j->status, j->status ? j->msg : NULL,
                  pwm_ringq_v1_ConsumeResult_FIELD_consumer, buf_begin(&j->resp),
                  buf_size(&j->resp));
    if (j->status == Q_OK && !w->finished) cs_grant(w, br->credits);
    srv_job_decoded_release(j);
    rt_free(br);
    cs_maybe_finish(w);
    cs_unref(w); /* the bind's own reference */
}

static void cs_bind(srv_consume *w, const uint8_t *msg, size_t len,
                    const pwm_ringq_v1_ConsumeRequest *r)
{
    const pwm_ringq_v1_ConsumeBind *b = r->bind;
    q_err e;
    if (w->bound || w->binding)
        return cs_result(w, r->request_id, Q_FAILED_PRECONDITION, "already bound", 0, NULL, 0);
    if (q_stream_name_check_as("bind.stream", srv_chars(b->stream), b->stream.len, &e) != Q_OK)
        return cs_result(w, r->request_id, e.code, e.msg, 0, NULL, 0);
    char denied[SRV_AUTH_ERR_BYTES]; /* the bind is refused on the stream, which stays open */
    int st = srv_auth_check_named(w->call, SRV_AUTH_STREAM, srv_chars(b->stream), b->stream.len,
                                  denied);
    if (st != 0) return cs_result(w, r->request_id, (q_status)st, denied, 0, NULL, 0);
    if (b->consumer.len == 0 && !b->ephemeral)
        return cs_result(w, r->request_id, Q_INVALID_ARGUMENT,
                         "bind: consumer or ephemeral is required", 0, NULL, 0);
    if (b->consumer.len && q_stream_name_check(srv_chars(b->consumer), b->consumer.len, &e) != Q_OK)
        return cs_result(w, r->request_id, Q_INVALID_ARGUMENT, "bind: consumer name is not valid",
                         0, NULL, 0);
    const srv_sdir_ent *pe = srv_sparts_find(b->stream);
    if (pe) return srv_consume_bind_parts(w, msg, len, r, pe); /* every member */
    srv_job *j = srv_job_decoded_msg(msg, len, &pwm_ringq_v1_ConsumeRequest_desc, &e);
    srv_cbind_ref *br = j ? rt_calloc(1, sizeof *br) : NULL;
    static const uint8_t room[Q_STREAM_NAME_BYTES_MAX + Q_CONSUMER_NAME_BYTES_MAX];
    srv_job *unreg = br ? srv_job_new(NULL, room, sizeof room) : NULL; /* filled at bind */
    if (!unreg) {
        if (j) srv_job_decoded_release(j), srv_job_free(j);
        rt_free(br);
        return cs_result(w, r->request_id, Q_RESOURCE_EXHAUSTED, "out of memory", 0, NULL, 0);
    }
    memcpy(w->stream, b->stream.ptr, b->stream.len);
    w->sl = (uint32_t)b->stream.len;
    w->part = q_part_of(w->stream, w->sl, srv_q.nparts);
    w->unreg = unreg;
    w->binding = true;
    w->inflight++;
    w->refs += 2; /* the bind in flight, and the registration it makes */
    *br = (srv_cbind_ref){w, r->request_id, b->credits};
    j->origin_ctx = br;
    srv_job_dispatch(j, w->part, srv_consume_run_bind, bind_done);
}

static void cack_done(srv_job *j)
{
    srv_cack_ref *ref = j->origin_ctx;
    srv_consume *w = ref->w;
    w->inflight--;
    if (!w->finished)
        cs_result(w, ref->request_id, j->status, j->status ? j->msg : NULL,
                  pwm_ringq_v1_ConsumeResult_FIELD_results, buf_begin(&j->resp),
                  buf_size(&j->resp));
    srv_job_decoded_release(j);
    rt_free(ref);
    cs_maybe_finish(w);
    cs_unref(w);
}

/* Sends an Acks request to the owner as a job (its one decode: srv_job_decoded_msg). false,
 * having answered nothing, when msg does not decode (malformed: the caller's full decode
 * answers it); true otherwise (sent, or answered). */
static bool cs_acks(srv_consume *w, const uint8_t *msg, size_t len, uint64_t request_id)
{
    if (!w->bound) {
        cs_result(w, request_id, Q_FAILED_PRECONDITION, "acks before a bind", 0, NULL, 0);
        return true;
    }
    q_err e;
    srv_job *j = srv_job_decoded_msg(msg, len, &pwm_ringq_v1_ConsumeRequest_desc, &e);
    if (!j && e.code == Q_INVALID_ARGUMENT) return false;
    srv_cack_ref *ref = j ? rt_calloc(1, sizeof *ref) : NULL;
    if (!ref) {
        if (j) srv_job_decoded_release(j), srv_job_free(j);
        cs_result(w, request_id, e.code ? e.code : Q_RESOURCE_EXHAUSTED,
                  e.code ? e.msg : "out of memory", 0, NULL, 0);
        return true;
    }
    *ref = (srv_cack_ref){.w = w, .request_id = request_id, .sl = w->sl, .cl = w->cl};
    memcpy(ref->names, w->stream, w->sl);
    memcpy(ref->names + w->sl, w->cons, w->cl);
    j->origin_ctx = ref;
    w->inflight++;
    w->refs++;
    srv_job_dispatch(j, w->part, srv_consume_run_cack, cack_done);
    return true;
}

/* The kind of a ConsumeRequest (its oneof's field number: the last one present, as the full
 * decode has it) and its request_id, read from its top-level fields without decoding them.
 * 0 when it has none or does not parse (the full decode then says why). */
static uint32_t cs_peek_kind(const uint8_t *msg, size_t len, uint64_t *request_id)
{
    pw_pb_reader rd;
    pw_pb_field f;
    uint32_t kind = 0;
    int rc;
    pw_pb_reader_init(&rd, msg, len);
    while ((rc = pw_pb_next(&rd, &f)) > 0) {
        if (f.num == pwm_ringq_v1_ConsumeRequest_FIELD_request_id && f.wt == PW_PB_WT_VARINT)
            *request_id = f.u64;
        else if (f.num == pwm_ringq_v1_ConsumeRequest_FIELD_bind ||
                 f.num == pwm_ringq_v1_ConsumeRequest_FIELD_credits ||
                 f.num == pwm_ringq_v1_ConsumeRequest_FIELD_acks)
            kind = f.num;
    }
    return rc < 0 ? 0 : kind;
}

/* One ConsumeRequest, decoded once here; a bind or acks job carries its own decoded copy. An
 * Acks request on a bound session of a pinned stream goes to its job undecoded here (the job's
 * block is its one decode): decoding it here too, only to learn its kind, decoded every ref
 * twice (~1,000 instructions a message on the fan-out, callgrind). */
static void on_cs_message(pw_grpc_call *c, const uint8_t *msg, size_t len)
{
    srv_consume *w = pw_grpc_call_user(c);
    if (!w || w->finished) return;
    uint64_t rid = 0;
    if (w->bound && !w->parts &&
        cs_peek_kind(msg, len, &rid) == pwm_ringq_v1_ConsumeRequest_FIELD_acks &&
        cs_acks(w, msg, len, rid))
        return;
    pwm_ringq_v1_ConsumeRequest r;
    pw_msg_arena a;
    pw_msg_arena_init_heap(&a, SRV_MSG_ARENA_CHUNK_BYTES, SRV_MSG_ARENA_BYTES_MAX);
    int rc = pw_msg_decode(&pwm_ringq_v1_ConsumeRequest_desc, &r, msg, len, &a);
    if (rc < 0 || r.kind_case == 0) {
        char why[Q_ERR_MSG_BYTES];
        snprintf(why, sizeof why,
                 rc < 0 ? "malformed ringq.v1.ConsumeRequest: %s" : "empty ConsumeRequest%s",
                 rc < 0 ? pw_msg_strerror(rc) : "");
        cs_result(w, rc < 0 ? 0 : r.request_id,
                  rc == -ENOMEM ? Q_RESOURCE_EXHAUSTED : Q_INVALID_ARGUMENT, why, 0, NULL, 0);
    } else if (r.kind_case == pwm_ringq_v1_ConsumeRequest_FIELD_bind) {
        cs_bind(w, msg, len, &r);
    } else if (r.kind_case == pwm_ringq_v1_ConsumeRequest_FIELD_credits) {
        if (!w->bound && !w->binding)
            cs_result(w, r.request_id, Q_FAILED_PRECONDITION, "credits before a bind", 0, NULL, 0);
        else {
            if (w->bound) cs_grant(w, r.credits);
            cs_result(w, r.request_id, Q_OK, NULL, 0, NULL, 0);
        }
    } else if (w->parts && w->bound) {
        srv_consume_acks_parts(w, &r); /* a partitioned stream: each ref to its member */
    } else {
        (void)cs_acks(w, msg, len, r.request_id); /* decoded: it cannot be malformed */
    }
    pw_msg_arena_deinit(&a);
}

static void on_cs_start(pw_grpc_call *c)
{
    srv_consume *w = rt_calloc(1, sizeof *w);
    if (!w) {
        pw_grpc_call_finish(c, PW_GRPC_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    w->call = c;
    pw_grpc_call_ref(c);
    w->origin = srv_q_self();
    w->refs = 1;
    buf_init(&w->pending, CONSUME_PENDING_BYTES_MAX);
    pw_grpc_call_set_user(c, w);
    w->next = t_consumes;
    if (t_consumes) t_consumes->prev = w;
    t_consumes = w;
    if (srv_runtime_draining(srv_shard_runtime(srv_shard_self())))
        cs_end(w, PW_GRPC_UNAVAILABLE, "server is draining");
}

static void on_cs_half_close(pw_grpc_call *c)
{
    srv_consume *w = pw_grpc_call_user(c);
    if (!w) return;
    w->half_closed = true;
    atomic_store(&w->credits, 0);
    cs_maybe_finish(w);
}

static void on_cs_writable(pw_grpc_call *c)
{
    srv_consume *w = pw_grpc_call_user(c);
    if (!w) return;
    cs_flush(w);
    cs_maybe_finish(w);
}

static void on_cs_cancel(pw_grpc_call *c, pw_grpc_status st)
{
    srv_consume *w = pw_grpc_call_user(c);
    if (!w) return;
    w->finished = true;
    cs_close(w);
}

void srv_consume_drain_shard(void)
{
    srv_consume *next;
    for (srv_consume *w = t_consumes; w; w = next) {
        next = w->next;
        if (w->finished) continue;
        w->draining = true;
        atomic_store(&w->credits, 0);
        w->refs++;
        cs_maybe_finish(w);
        next = w->next;
        cs_unref(w);
    }
}

/* ---- for the partitioned half (srv_stream_consume_parts.c) ---- */

void srv_consume_result(srv_consume *w, uint64_t request_id, q_status code, const char *message,
                        uint32_t field, const uint8_t *body, size_t body_len)
{
    cs_result(w, request_id, code, message, field, body, body_len);
}
void srv_consume_unref(srv_consume *w) { cs_unref(w); }
void srv_consume_grant(srv_consume *w, uint64_t n) { cs_grant(w, n); }
void srv_consume_maybe_finish(srv_consume *w) { cs_maybe_finish(w); }
void srv_consume_unreg_fill(srv_consume *w, srv_job *j) { unreg_fill_job(w, j); }

int srv_stream_consume_add_method(pw_grpc_server *g)
{
    static const pw_grpc_method m = {.path = pwm_ringq_v1_Streams_Consume_PATH,
                                     .kind = PW_GRPC_BIDI_STREAMING,
                                     .on_start = on_cs_start,
                                     .on_message = on_cs_message,
                                     .on_half_close = on_cs_half_close,
                                     .on_cancel = on_cs_cancel,
                                     .on_writable = on_cs_writable};
    return pw_grpc_server_add_method(g, &m);
}
