/* server/srv_keda: externalscaler.ExternalScaler (KEDA) on the queues; see srv_keda.h. */
#include "server/srv_keda.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

#include "core/rt_alloc.h"
#include "core/rt_clock.h"
#include "queue/q_stream.h"
#include "server/srv_msg.h"
#include "server/srv_queue_int.h"
#include "server/srv_queue_rpc.h"
#include "server/srv_stream.h"

/* ---- metadata ---- */

static q_status keda_fail(q_err *err, q_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static q_status keda_fail(q_err *err, q_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    err->code = st;
    return st;
}

static bool key_is(pw_pb_bytes k, const char *name)
{
    return k.len == strlen(name) && memcmp(srv_chars(k), name, k.len) == 0;
}

/* The value of metadata key `name`, or a {NULL, 0} view when absent. */
static pw_pb_bytes meta_get(const pwm_externalscaler_ScaledObjectRef *ref, const char *name)
{
    for (size_t i = 0; i < ref->scalerMetadata_count; i++)
        if (key_is(ref->scalerMetadata[i].key, name)) return ref->scalerMetadata[i].value;
    return (pw_pb_bytes){NULL, 0};
}

/* A finite number in [min, SRV_KEDA_NUMBER_MAX] (strictly above min when `above`) from the
 * metadata value v. */
static q_status parse_number(pw_pb_bytes v, const char *key, double min, bool above, double *out,
                             q_err *err)
{
    char s[SRV_KEDA_NUMBER_BYTES_MAX];
    if (v.len == 0 || v.len >= sizeof s)
        return keda_fail(err, Q_INVALID_ARGUMENT, "metadata %s: '%.*s' is not a number", key,
                         (int)(v.len < 40 ? v.len : 40), srv_chars(v));
    memcpy(s, v.ptr, v.len);
    s[v.len] = '\0';
    char *end;
    double d = strtod(s, &end);
    if (*end != '\0' || end == s || !isfinite(d))
        return keda_fail(err, Q_INVALID_ARGUMENT, "metadata %s: '%s' is not a number", key, s);
    if (d < min || (above && d == min) || d > SRV_KEDA_NUMBER_MAX)
        return keda_fail(err, Q_INVALID_ARGUMENT, "metadata %s: %s must be %s %g and at most %g",
                         key, s, above ? "above" : "at least", min, SRV_KEDA_NUMBER_MAX);
    *out = d;
    return Q_OK;
}

/* An optional number: *out keeps its default when the key is absent. */
static q_status parse_opt(const pwm_externalscaler_ScaledObjectRef *ref, const char *key,
                          double min, bool above, double *out, q_err *err)
{
    pw_pb_bytes v = meta_get(ref, key);
    return v.ptr ? parse_number(v, key, min, above, out, err) : Q_OK;
}

static q_status parse_mode(const pwm_externalscaler_ScaledObjectRef *ref, srv_keda_mode *mode,
                           q_err *err)
{
    pw_pb_bytes v = meta_get(ref, "mode");
    if (!v.ptr || key_is(v, "backlog")) *mode = SRV_KEDA_MODE_BACKLOG;
    else if (key_is(v, "drain_time")) *mode = SRV_KEDA_MODE_DRAIN_TIME;
    else
        return keda_fail(err, Q_INVALID_ARGUMENT,
                         "metadata mode: '%.*s' is neither backlog nor drain_time",
                         (int)(v.len < 40 ? v.len : 40), srv_chars(v));
    return Q_OK;
}

/* The source: `queue`, or `stream` + `consumer` (names checked). */
static q_status parse_source(const pwm_externalscaler_ScaledObjectRef *ref, srv_keda_params *out,
                             q_err *err)
{
    out->queue = meta_get(ref, "queue");
    out->stream = meta_get(ref, "stream");
    out->consumer = meta_get(ref, "consumer");
    if (out->queue.ptr && (out->stream.ptr || out->consumer.ptr))
        return keda_fail(err, Q_INVALID_ARGUMENT,
                         "metadata queue and stream/consumer: one source per trigger, a queue or "
                         "a stream's consumer");
    if (out->queue.ptr) return q_queue_name_check(srv_chars(out->queue), out->queue.len, err);
    if (!out->stream.ptr && !out->consumer.ptr)
        return keda_fail(err, Q_INVALID_ARGUMENT,
                         "metadata queue is required (the queue name), or stream and consumer");
    if (!out->stream.ptr || !out->consumer.ptr)
        return keda_fail(err, Q_INVALID_ARGUMENT, "metadata %s is required with %s",
                         out->stream.ptr ? "consumer" : "stream",
                         out->stream.ptr ? "stream" : "consumer");
    static const char *const what[] = {"stream", "consumer"};
    const pw_pb_bytes names[] = {out->stream, out->consumer};
    for (size_t k = 0; k < 2; k++) {
        q_err ne;
        if (q_stream_name_check(srv_chars(names[k]), names[k].len, &ne) != Q_OK)
            return keda_fail(err, Q_INVALID_ARGUMENT, "metadata %s: %s", what[k], ne.msg);
    }
    return Q_OK;
}

q_status srv_keda_params_parse(const pwm_externalscaler_ScaledObjectRef *ref, srv_keda_params *out,
                               q_err *err)
{
    memset(out, 0, sizeof *out);
    q_status st = parse_source(ref, out, err);
    if (st != Q_OK) return st;
    if ((st = parse_mode(ref, &out->mode, err)) != Q_OK) return st;
    if (out->stream.ptr && out->mode == SRV_KEDA_MODE_DRAIN_TIME)
        return keda_fail(err, Q_INVALID_ARGUMENT,
                         "metadata mode: drain_time needs a run time, and a stream consumer has "
                         "no ack rate to measure one; use mode backlog with a target");
    out->target = 1;
    if (out->mode == SRV_KEDA_MODE_BACKLOG && !meta_get(ref, "target").ptr)
        return keda_fail(err, Q_INVALID_ARGUMENT,
                         "metadata target is required (%s per replica) in mode backlog",
                         out->stream.ptr ? "messages" : "tasks");
    if ((st = parse_opt(ref, "target", 0, true, &out->target, err)) != Q_OK) return st;
    if ((st = parse_opt(ref, "activationTarget", 0, false, &out->activation, err)) != Q_OK)
        return st;
    if (out->mode != SRV_KEDA_MODE_DRAIN_TIME) {
        if (meta_get(ref, "targetDrainSeconds").ptr)
            return keda_fail(err, Q_INVALID_ARGUMENT,
                             "metadata targetDrainSeconds is for mode drain_time only");
        return Q_OK;
    }
    pw_pb_bytes d = meta_get(ref, "targetDrainSeconds");
    if (!d.ptr)
        return keda_fail(err, Q_INVALID_ARGUMENT,
                         "metadata targetDrainSeconds is required in mode drain_time");
    return parse_number(d, "targetDrainSeconds", 0, true, &out->drain_s, err);
}

/* ---- the metric ---- */

uint64_t srv_keda_backlog(const srv_keda_queue *q) { return q->ready + q->leased; }

double srv_keda_metric(const srv_keda_params *p, const srv_keda_queue *q)
{
    double backlog = (double)srv_keda_backlog(q);
    if (p->mode == SRV_KEDA_MODE_BACKLOG) return backlog;
    /* Little's law: tasks in flight = finish rate x time in flight. Without acks in the last
     * window the run time is unknown; the lease bounds it (a task not acked by then is
     * delivered again). */
    double run_s = q->ack_rate > 0 ? (double)q->leased / q->ack_rate : q->lease_ms / 1000.0;
    return backlog * run_s / p->drain_s;
}

bool srv_keda_active(const srv_keda_params *p, const srv_keda_queue *q)
{
    return (double)srv_keda_backlog(q) > p->activation;
}

size_t srv_keda_metric_name(const srv_keda_params *p, char *out, size_t cap)
{
    int n = p->stream.ptr
                ? snprintf(out, cap, "ringq-consumer-%.*s-%.*s", (int)p->stream.len,
                           srv_chars(p->stream), (int)p->consumer.len, srv_chars(p->consumer))
                : snprintf(out, cap, "ringq-%s-%.*s",
                           p->mode == SRV_KEDA_MODE_BACKLOG ? "backlog" : "drain",
                           (int)p->queue.len, srv_chars(p->queue));
    return n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap - 1;
}

/* ---- fetching a queue's figures from its partition's owner ---- */

/* Owner side: the queue's QueueInfo (as Admin.GetQueue answers it) into j->resp. The job's
 * request is the queue name. */
static void run_info(srv_job *j, srv_part *sp)
{
    q_queue_info qi;
    q_err e;
    q_status st = q_part_get_queue(sp->p, (const char *)j->req.bytes.ptr, j->req.bytes.len,
                                   srv_q_now_ms(), &qi, &e);
    if (st != Q_OK) srv_job_err(j, &e);
    else if (srv_encode_queue_info(&j->resp, &qi, sp->no) < 0)
        srv_job_fail(j, Q_RESOURCE_EXHAUSTED, "out of memory encoding the queue's figures");
    srv_job_reply(j);
}

/* Origin side: the figures from a job's QueueInfo. Returns 0 or the decode's negative error. */
static int queue_of(const srv_job *j, srv_keda_queue *out)
{
    pwm_ringq_v1_QueueInfo qi;
    uint8_t mem[256];
    pw_msg_arena a;
    pw_msg_arena_init(&a, mem, sizeof mem); /* one QueueConfig: no heap */
    int r = pw_msg_decode(&pwm_ringq_v1_QueueInfo_desc, &qi, j->resp.data + j->resp.rd,
                          j->resp.wr - j->resp.rd, &a);
    if (r < 0) {
        pw_msg_arena_deinit(&a);
        return r;
    }
    *out = (srv_keda_queue){.ready = qi.ready,
                            .leased = qi.leased,
                            .ack_rate = qi.ack_rate,
                            .lease_ms = qi.config ? qi.config->lease_ms : 0};
    pw_msg_arena_deinit(&a);
    return 0;
}

/* Origin side: the figures from a job's ConsumerInfo (GetConsumer's reply): lag as waiting,
 * delivered-and-not-acked as running (srv_keda.h). Returns 0 or the decode's negative error. */
static int consumer_of(const srv_job *j, srv_keda_queue *out)
{
    pwm_ringq_v1_ConsumerInfo ci;
    pw_msg_arena a; /* a ConsumerConfig with up to 16 filters and 32 backoffs: on the heap */
    pw_msg_arena_init_heap_over(&a, NULL, 0, SRV_MSG_ARENA_CHUNK_BYTES, SRV_MSG_ARENA_BYTES_MAX);
    int r = pw_msg_decode(&pwm_ringq_v1_ConsumerInfo_desc, &ci, j->resp.data + j->resp.rd,
                          j->resp.wr - j->resp.rd, &a);
    if (r == 0)
        *out = (srv_keda_queue){.ready = ci.state ? ci.state->num_pending : 0,
                                .leased = ci.state ? ci.state->num_ack_pending : 0};
    pw_msg_arena_deinit(&a);
    return r < 0 ? r : 0;
}

/* Origin side, in a figures job's done: *out from its reply, or the failure with the reason in
 * e (the owner's status, or INTERNAL when the reply does not decode). Releases what the job
 * carried for p (a consumer job's decoded request). */
static q_status figures_of(srv_job *j, const srv_keda_params *p, srv_keda_queue *out, q_err *e)
{
    q_status st = j->status;
    if (st != Q_OK) snprintf(e->msg, sizeof e->msg, "%s", j->msg);
    else if ((p->stream.ptr ? consumer_of(j, out) : queue_of(j, out)) < 0) {
        st = Q_INTERNAL;
        snprintf(e->msg, sizeof e->msg, "cannot read the %s's figures",
                 p->stream.ptr ? "consumer" : "queue");
    }
    if (p->stream.ptr) srv_job_decoded_release(j);
    e->code = st;
    return st;
}

/* Asks the owner of p's partition for its figures (the queue's QueueInfo, or the consumer's
 * ConsumerInfo through GetConsumer's path); `done` runs here with j->origin_ctx = ctx and reads
 * them with figures_of. Q_OK when sent; else the status with the reason in e. */
static q_status ask_figures(const srv_keda_params *p, void *ctx, srv_job_done_fn done, q_err *e)
{
    if (p->stream.ptr) return srv_consumer_get_dispatch(p->stream, p->consumer, ctx, done, e);
    srv_job *j = srv_job_new(NULL, p->queue.ptr, p->queue.len);
    if (!j) {
        snprintf(e->msg, sizeof e->msg, "out of memory");
        return e->code = Q_RESOURCE_EXHAUSTED;
    }
    j->origin_ctx = ctx;
    pw_pb_bytes key = {j->req.bytes.ptr, j->req.bytes.len}; /* the job's own copy */
    if (srv_route_queue(j, key, run_info, done) != Q_OK) {
        e->code = j->status;
        snprintf(e->msg, sizeof e->msg, "%s", j->msg);
        srv_job_free(j);
        return e->code;
    }
    return Q_OK;
}

/* The names of a trigger, owned (the params' views point here once params_own ran). */
typedef struct keda_names {
    char queue[Q_QUEUE_NAME_BYTES_MAX];
    char stream[Q_STREAM_NAME_BYTES_MAX];
    char consumer[Q_STREAM_NAME_BYTES_MAX];
} keda_names;

static pw_pb_bytes own(pw_pb_bytes v, char *to)
{
    if (!v.ptr) return v;
    memcpy(to, v.ptr, v.len); /* checked by the parser: at most the name limit */
    return (pw_pb_bytes){(const uint8_t *)to, v.len};
}

/* Copies p's names into n and points p's views there. */
static void params_own(srv_keda_params *p, keda_names *n)
{
    p->queue = own(p->queue, n->queue);
    p->stream = own(p->stream, n->stream);
    p->consumer = own(p->consumer, n->consumer);
}

/* ---- IsActive, GetMetricSpec, GetMetrics ---- */

typedef enum keda_ask {
    KEDA_ASK_IS_ACTIVE,
    KEDA_ASK_METRICS,
} keda_ask;

/* A unary call's context while its job is out (the job's ctx; freed by unary_done). */
typedef struct keda_unary {
    keda_ask ask;
    pw_grpc_call *call; /* a reference is held */
    srv_keda_params p;  /* names: views into `names` */
    keda_names names;
    char metric[SRV_KEDA_METRIC_NAME_BYTES_MAX]; /* the name to answer with */
} keda_unary;

/* KEDA's deprecated integer value: v rounded up, saturated (a tiny targetDrainSeconds can make
 * the drain-time value larger than any int64). */
static int64_t metric_int(double v) { return v >= 9.0e18 ? INT64_MAX : (int64_t)ceil(v); }

static void reply_metrics(pw_grpc_call *c, const keda_unary *u, const srv_keda_queue *q)
{
    double v = srv_keda_metric(&u->p, q);
    pwm_externalscaler_MetricValue mv = {
        .metricName = {(const uint8_t *)u->metric, strlen(u->metric)},
        .metricValue = metric_int(v),
        .metricValueFloat = v};
    pwm_externalscaler_GetMetricsResponse r = {.metricValues = &mv, .metricValues_count = 1};
    srv_msg_reply(c, &pwm_externalscaler_GetMetricsResponse_desc, &r);
}

static void unary_done(srv_job *j)
{
    keda_unary *u = j->origin_ctx;
    j->origin_ctx = NULL;
    pw_grpc_call *c = u->call;
    srv_keda_queue q;
    q_err e;
    if (figures_of(j, &u->p, &q, &e) != Q_OK) {
        if (!pw_grpc_call_done(c)) pw_grpc_call_finish(c, (pw_grpc_status)e.code, e.msg);
    } else if (pw_grpc_call_done(c)) {
        /* the caller is gone: nothing to answer */
    } else if (u->ask == KEDA_ASK_IS_ACTIVE) {
        pwm_externalscaler_IsActiveResponse r = {.result = srv_keda_active(&u->p, &q)};
        srv_msg_reply(c, &pwm_externalscaler_IsActiveResponse_desc, &r);
    } else {
        reply_metrics(c, u, &q);
    }
    pw_grpc_call_unref(c);
    rt_free(u);
}

/* Parses ref into a new keda_unary (queue copied), or finishes `c` and returns NULL. */
static keda_unary *unary_new(pw_grpc_call *c, keda_ask ask,
                             const pwm_externalscaler_ScaledObjectRef *ref)
{
    static const pwm_externalscaler_ScaledObjectRef none;
    q_err e;
    srv_keda_params p;
    if (srv_keda_params_parse(ref ? ref : &none, &p, &e) != Q_OK) {
        pw_grpc_call_finish(c, (pw_grpc_status)e.code, e.msg);
        return NULL;
    }
    keda_unary *u = rt_calloc(1, sizeof *u);
    if (!u) {
        pw_grpc_call_finish(c, PW_GRPC_RESOURCE_EXHAUSTED, "out of memory");
        return NULL;
    }
    u->ask = ask;
    u->p = p;
    params_own(&u->p, &u->names);
    srv_keda_metric_name(&u->p, u->metric, sizeof u->metric);
    return u;
}

static void ask_owner(pw_grpc_call *c, keda_unary *u)
{
    q_err e;
    u->call = c;
    pw_grpc_call_ref(c);
    if (ask_figures(&u->p, u, unary_done, &e) == Q_OK) return;
    pw_grpc_call_finish(c, (pw_grpc_status)e.code, e.msg);
    pw_grpc_call_unref(c);
    rt_free(u);
}

static void on_is_active(pw_grpc_call *c, const uint8_t *msg, size_t len)
{
    pwm_externalscaler_ScaledObjectRef ref;
    pw_msg_arena a;
    if (srv_msg_decode(c, &pwm_externalscaler_ScaledObjectRef_desc, &ref, msg, len, &a) < 0) return;
    keda_unary *u = unary_new(c, KEDA_ASK_IS_ACTIVE, &ref);
    pw_msg_arena_deinit(&a);
    if (u) ask_owner(c, u);
}

static void on_get_metrics(pw_grpc_call *c, const uint8_t *msg, size_t len)
{
    pwm_externalscaler_GetMetricsRequest req;
    pw_msg_arena a;
    if (srv_msg_decode(c, &pwm_externalscaler_GetMetricsRequest_desc, &req, msg, len, &a) < 0)
        return;
    keda_unary *u = unary_new(c, KEDA_ASK_METRICS, req.scaledObjectRef);
    if (u && req.metricName.len >= sizeof u->metric) {
        pw_grpc_call_finish(c, PW_GRPC_INVALID_ARGUMENT, "metricName is too long");
        rt_free(u);
        u = NULL;
    } else if (u && req.metricName.len > 0) { /* KEDA's own name for it ("s0-ringq-...") */
        memcpy(u->metric, req.metricName.ptr, req.metricName.len);
        u->metric[req.metricName.len] = '\0';
    }
    pw_msg_arena_deinit(&a);
    if (u) ask_owner(c, u);
}

/* Answered here: the spec depends on the metadata only. */
static void on_get_metric_spec(pw_grpc_call *c, const uint8_t *msg, size_t len)
{
    pwm_externalscaler_ScaledObjectRef ref;
    pw_msg_arena a;
    if (srv_msg_decode(c, &pwm_externalscaler_ScaledObjectRef_desc, &ref, msg, len, &a) < 0) return;
    srv_keda_params p;
    q_err e;
    if (srv_keda_params_parse(&ref, &p, &e) != Q_OK) {
        pw_grpc_call_finish(c, (pw_grpc_status)e.code, e.msg);
    } else {
        char name[SRV_KEDA_METRIC_NAME_BYTES_MAX];
        size_t n = srv_keda_metric_name(&p, name, sizeof name);
        pwm_externalscaler_MetricSpec s = {.metricName = {(const uint8_t *)name, n},
                                           .targetSize = (int64_t)ceil(p.target),
                                           .targetSizeFloat = p.target};
        pwm_externalscaler_GetMetricSpecResponse r = {.metricSpecs = &s, .metricSpecs_count = 1};
        srv_msg_reply(c, &pwm_externalscaler_GetMetricSpecResponse_desc, &r);
    }
    pw_msg_arena_deinit(&a);
}

/* ---- StreamIsActive ---- */

/* One StreamIsActive stream, on the shard that accepted it. Freed when its call has ended and
 * no job of it is out. */
typedef struct keda_watch {
    pw_grpc_call *call; /* a reference is held; NULL once the call ended */
    srv_keda_params p;  /* names: views into `names` */
    keda_names names;
    int last_sent; /* WATCH_NONE_SENT, 0 or 1 */
    bool probing;  /* a job is out (its ctx is this) */
    ev_timer timer;
    struct keda_watch *next;
} keda_watch;
static _Thread_local keda_watch *t_watches;

/* last_sent before any answer went out. */
#define WATCH_NONE_SENT (-1)

static void watch_probe(keda_watch *w);

/* The call is over (cancelled, finished, drained): unlinks w and frees it unless a job of it
 * is still out (watch_done frees it then). */
static void watch_end(keda_watch *w)
{
    for (keda_watch **pp = &t_watches; *pp; pp = &(*pp)->next)
        if (*pp == w) {
            *pp = w->next;
            break;
        }
    srv_shard *sh = srv_shard_self();
    if (sh) ev_timer_stop(srv_shard_loop(sh), &w->timer);
    if (w->call) {
        pw_grpc_call_set_user(w->call, NULL);
        pw_grpc_call_unref(w->call);
        w->call = NULL;
    }
    if (!w->probing) rt_free(w);
}

static void watch_finish(keda_watch *w, pw_grpc_status st, const char *why)
{
    pw_grpc_call_finish(w->call, st, why);
    watch_end(w);
}

static void on_watch_timer(ev_loop *loop, ev_timer *t) { watch_probe(t->ud); }

static void watch_done(srv_job *j)
{
    keda_watch *w = j->origin_ctx;
    j->origin_ctx = NULL;
    w->probing = false;
    srv_keda_queue q;
    q_err e;
    q_status st = figures_of(j, &w->p, &q, &e);
    if (!w->call) {
        rt_free(w);
        return;
    }
    if (st != Q_OK) {
        watch_finish(w, (pw_grpc_status)e.code, e.msg);
        return;
    }
    int active = srv_keda_active(&w->p, &q) ? 1 : 0;
    if (active != w->last_sent) {
        pwm_externalscaler_IsActiveResponse r = {.result = active == 1};
        int rc = srv_msg_send(w->call, &pwm_externalscaler_IsActiveResponse_desc, &r, 0);
        if (rc == -ECANCELED) { /* the call is gone */
            watch_end(w);
            return;
        }
        if (rc == 0) w->last_sent = active; /* else: sent after the next poll */
    }
    ev_loop *loop = srv_shard_loop(srv_shard_self());
    if (ev_timer_start(loop, &w->timer,
                       ev_loop_now(loop) + (uint64_t)SRV_KEDA_STREAM_POLL_MS * RT_NS_PER_MS) < 0)
        watch_finish(w, PW_GRPC_RESOURCE_EXHAUSTED, "out of memory");
}

static void watch_probe(keda_watch *w)
{
    if (w->probing || !w->call) return;
    w->probing = true;
    q_err e;
    if (ask_figures(&w->p, w, watch_done, &e) != Q_OK) {
        w->probing = false;
        watch_finish(w, (pw_grpc_status)e.code, e.msg);
    }
}

static bool refuse_draining(pw_grpc_call *c)
{
    srv_shard *sh = srv_shard_self();
    if (!sh || !srv_runtime_draining(srv_shard_runtime(sh))) return false;
    pw_grpc_call_finish(c, PW_GRPC_UNAVAILABLE, "server is draining");
    return true;
}

static void on_stream_is_active(pw_grpc_call *c, const uint8_t *msg, size_t len)
{
    if (refuse_draining(c)) return;
    pwm_externalscaler_ScaledObjectRef ref;
    pw_msg_arena a;
    if (srv_msg_decode(c, &pwm_externalscaler_ScaledObjectRef_desc, &ref, msg, len, &a) < 0) return;
    srv_keda_params p;
    q_err e;
    q_status st = srv_keda_params_parse(&ref, &p, &e);
    keda_watch *w = st == Q_OK ? rt_calloc(1, sizeof *w) : NULL;
    if (w) {
        w->p = p;
        params_own(&w->p, &w->names);
    }
    pw_msg_arena_deinit(&a);
    if (!w) {
        if (st != Q_OK) pw_grpc_call_finish(c, (pw_grpc_status)e.code, e.msg);
        else pw_grpc_call_finish(c, PW_GRPC_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    w->call = c;
    w->last_sent = WATCH_NONE_SENT;
    ev_timer_init(&w->timer, on_watch_timer, w);
    pw_grpc_call_ref(c);
    pw_grpc_call_set_user(c, w);
    w->next = t_watches;
    t_watches = w;
    watch_probe(w); /* the first answer goes out as soon as the owner replies */
}

static void on_stream_cancel(pw_grpc_call *c, pw_grpc_status st)
{
    keda_watch *w = pw_grpc_call_user(c);
    if (w) watch_end(w);
}

void srv_keda_drain_shard(void)
{
    while (t_watches) watch_finish(t_watches, PW_GRPC_UNAVAILABLE, "server is draining");
}

int srv_keda_add_methods(pw_grpc_server *g)
{
    static const pw_grpc_method m[] = {
        {.path = pwm_externalscaler_ExternalScaler_IsActive_PATH,
         .kind = PW_GRPC_UNARY,
         .on_message = on_is_active},
        {.path = pwm_externalscaler_ExternalScaler_StreamIsActive_PATH,
         .kind = PW_GRPC_SERVER_STREAMING,
         .on_message = on_stream_is_active,
         .on_cancel = on_stream_cancel},
        {.path = pwm_externalscaler_ExternalScaler_GetMetricSpec_PATH,
         .kind = PW_GRPC_UNARY,
         .on_message = on_get_metric_spec},
        {.path = pwm_externalscaler_ExternalScaler_GetMetrics_PATH,
         .kind = PW_GRPC_UNARY,
         .on_message = on_get_metrics},
    };
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) {
        int r = pw_grpc_server_add_method(g, &m[i]);
        if (r < 0) return r;
    }
    return 0;
}
