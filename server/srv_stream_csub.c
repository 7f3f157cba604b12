/* server/srv_stream_csub: the owner's half of ringq.v1.Streams/Consume (the session's half, on
 * the origin, is srv_stream_consume.c, whose header comment gives the whole shape). On the shard
 * that owns the stream's partition: each bound session's registration in its consumer's watch
 * (srv_cwatch), the batches of deliveries taken from the consumer (q_consumer_next) against the
 * session's credits and sent to the origin as jobs, and the bind, unbind, poke and ack jobs.
 * The owner touches only the session's atomics (credits, closed); everything else it needs
 * travels in the job. */
#include <errno.h>
#include <string.h>

#include "core/rt_alloc.h"
#include "server/srv_stream_consume_int.h"
#include "server/srv_credits.h"

static srv_job *owner_job(srv_part *sp, srv_csub *sub, srv_job_done_fn done)
{
    srv_job *j = srv_job_new(NULL, NULL, 0);
    if (!j) return NULL;
    j->origin = sub->origin;
    j->owner = sp->shard;
    j->part_no = sp->no;
    j->ctx = sub->w;
    j->done = done;
    return j;
}

/* The deliveries of the batch being taken (serve_sub, from q_consumer_next to their encoding;
 * nothing in between serves again). One per shard thread instead of a zeroed CONSUME_BATCH
 * array per batch: under an open load a batch is a few messages, and allocating and clearing
 * 64 entries (9 KiB) for each cost as much as the rest of serving it (callgrind). */
static _Thread_local q_delivery t_batch[CONSUME_BATCH];

/* One batch for sub: false when nothing more can go now. */
static bool serve_sub(srv_part *sp, q_stream *s, q_consumer *c, srv_csub *sub)
{
    srv_consume *w = sub->w;
    uint32_t take = 0;
    if (atomic_load(&w->closed) || !q_consumer_ready(c, srv_q_now_ms()) ||
        !srv_credits_claim(&w->credits, CONSUME_BATCH, &take))
        return false;
    q_delivery *d = t_batch; /* q_consumer_next fills the n it hands out */
    srv_job *j = owner_job(sp, sub, srv_consume_deliver_done);
    if (!j) {
        atomic_fetch_add(&w->credits, (int32_t)take);
        srv_cons_timer_at(srv_q_now_ms() + SRV_SERVE_RETRY_MS);
        return false;
    }
    uint32_t n = 0;
    uint64_t next_ms = UINT64_MAX, commit_to = 0;
    q_err e;
    q_status st = q_consumer_next(c, srv_q_now_ms(), take, CONSUME_BATCH_BYTES,
                                  DELIVERY_OVERHEAD_BYTES, d, &n, &next_ms, &commit_to, &e);
    if (st != Q_OK) n = 0;
    uint64_t payload = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (srv_delivery_encode(&j->resp, SRV_DELIVERY_CONSUME_FRAMED, s, &d[i]) < 0) {
            /* Handed out but not sendable: the stream ends RESOURCE_EXHAUSTED (its client
             * binds again) and they come back at the consumer's ack wait, as a Work stream's
             * tasks at their lease's end. */
            srv_job_fail(j, Q_RESOURCE_EXHAUSTED, "deliveries could not be encoded");
            break;
        }
        payload += d[i].msg.payload_len;
    }
    srv_count_payload(payload, payload);
    if (n < take) atomic_fetch_add(&w->credits, (int32_t)(take - n));
    if (commit_to) srv_part_commit_soon(sp); /* ack policy none: its records */
    if (next_ms != UINT64_MAX) srv_cons_timer_at(next_ms);
    if (st == Q_RESOURCE_EXHAUSTED) /* out of memory: try again soon, nothing else would */
        srv_cons_timer_at(srv_q_now_ms() + SRV_SERVE_RETRY_MS);
    else if (st != Q_OK) /* the log failed (ack policy none's record): the stream ends */
        srv_job_err(j, &e);
    bool ok = j->status == Q_OK;
    if (n == 0 && ok) {
        srv_job_free(j);
        return false;
    }
    srv_job_reply(j); /* the origin's from here: not read again */
    return ok;
}

void srv_consume_serve_watch(srv_part *sp, q_stream *s, q_consumer *c, srv_cwatch *w)
{
    if (!c) { /* the consumer or its stream went: its sessions end NOT_FOUND */
        for (srv_csub *sub = w->subs; sub; sub = sub->next) {
            if (atomic_load(&sub->w->closed)) continue;
            srv_job *j = owner_job(sp, sub, srv_consume_deliver_done);
            if (!j) continue;
            srv_job_fail(j, Q_NOT_FOUND, "consumer '%.*s' was deleted", (int)w->cl, w->cons);
            srv_job_reply(j);
        }
        return;
    }
    /* Round robin: one batch per session per pass, while any takes one. */
    for (bool more = true; more;) {
        more = false;
        for (srv_csub *sub = w->subs; sub; sub = sub->next) more |= serve_sub(sp, s, c, sub);
    }
}

void srv_consume_free_subs(srv_cwatch *w)
{
    while (w->subs) {
        srv_csub *sub = w->subs;
        w->subs = sub->next;
        rt_free(sub);
    }
}

/* What a bind job carries back in j->msg when OK: the bound consumer's name. */
void srv_consume_run_bind(srv_job *j, srv_part *sp)
{
    const pwm_ringq_v1_ConsumeBind *b = ((const pwm_ringq_v1_ConsumeRequest *)srv_job_msg(j))->bind;
    srv_consume *w = ((const srv_cbind_ref *)j->origin_ctx)->w; /* named only: the owner touches its
                                                            * atomics */
    q_stream *s = srv_stream_find(j, sp, b->stream);
    q_consumer *c = NULL;
    uint64_t commit_to = 0;
    q_err e;
    if (s && b->consumer.len == 0) {
        q_consumer_cfg cfg;
        if (srv_consumer_cfg_from(b->ephemeral, &cfg, &e) == Q_OK) {
            cfg.ephemeral = true;
            (void)q_consumer_create(sp->p, s, &cfg, srv_q_now_ms(), &c, &commit_to, &e);
        }
        if (!c) srv_job_err(j, &e);
    } else if (s) {
        c = q_consumer_find(s, srv_chars(b->consumer), b->consumer.len);
        if (!c)
            srv_job_fail(j, Q_NOT_FOUND, "stream %.*s has no consumer '%.*s'", (int)b->stream.len,
                         srv_chars(b->stream), (int)b->consumer.len, srv_chars(b->consumer));
    }
    srv_cwatch *cw = NULL;
    srv_csub *sub = NULL;
    q_consumer_info ci;
    if (c) {
        q_consumer_info_fill(c, srv_q_now_ms(), &ci);
        cw = srv_cwatch_get(sp->no, srv_chars(b->stream), b->stream.len, ci.cfg.name,
                            ci.cfg.name_len, true);
        sub = cw ? rt_calloc(1, sizeof *sub) : NULL;
        if (!sub) srv_job_fail(j, Q_RESOURCE_EXHAUSTED, "out of memory");
    }
    if (sub) {
        *sub = (srv_csub){w, j->origin, cw->subs};
        cw->subs = sub;
        q_consumer_bind(c, 1, srv_q_now_ms());
        snprintf(j->msg, sizeof j->msg, "%.*s", (int)ci.cfg.name_len, ci.cfg.name);
        if (srv_consumer_info_encode(&j->resp, 0, s, c) < 0) buf_truncate(&j->resp, 0);
    } else if (cw) {
        srv_cwatch_gc(cw);
    }
    srv_job_reply_durable(j, sp);
}

void srv_consume_run_unbind(srv_job *j, srv_part *sp)
{
    srv_consume *w = j->ctx;
    const char *sn = j->req.bytes.ptr ? (const char *)j->req.bytes.ptr : "";
    size_t sl = j->list_max, cl = j->req.bytes.len - sl;
    srv_cwatch *cw = srv_cwatch_get(sp->no, sn, sl, sn + sl, cl, false);
    for (srv_csub **pp = cw ? &cw->subs : NULL; pp && *pp; pp = &(*pp)->next) {
        if ((*pp)->w != w) continue;
        srv_csub *sub = *pp;
        *pp = sub->next;
        rt_free(sub);
        q_stream *s = q_stream_find(sp->p, sn, sl);
        q_consumer *c = s ? q_consumer_find(s, sn + sl, cl) : NULL;
        if (c) q_consumer_bind(c, -1, srv_q_now_ms());
        break;
    }
    if (cw) srv_cwatch_gc(cw);
    srv_job_reply(j);
}

void srv_consume_run_poke(srv_job *j, srv_part *sp)
{
    srv_consume *w = j->ctx;
    (void)w;
    const char *sn = (const char *)j->req.bytes.ptr;
    q_stream *s = q_stream_find(sp->p, sn, j->req.bytes.len);
    if (s) srv_cons_serve_stream(sp, s);
    srv_job_reply(j);
}

/* Acks on the stream: the job carries the decoded ConsumeRequest; the owner settles. */
void srv_consume_run_cack(srv_job *j, srv_part *sp)
{
    const pwm_ringq_v1_ConsumeRequest *r = srv_job_msg(j);
    const srv_cack_ref *ref = j->origin_ctx;
    q_stream *s = q_stream_find(sp->p, ref->names, ref->sl);
    q_consumer *c = s ? q_consumer_find(s, ref->names + ref->sl, ref->cl) : NULL;
    q_err e;
    uint64_t commit_to = 0;
    if (!c)
        srv_job_fail(j, Q_NOT_FOUND, "consumer '%.*s' is gone", (int)ref->cl, ref->names + ref->sl);
    else if (srv_cons_settle(sp, s, c, r->acks, pwm_ringq_v1_ConsumeResult_FIELD_results, &j->resp,
                             &commit_to, &e) != Q_OK)
        srv_job_err(j, &e);
    srv_job_reply_durable_join(j, sp); /* rides the producers' fsync */
}
