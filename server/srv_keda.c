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
#include "server/srv_msg.h"
#include "server/srv_queue_int.h"
#include "server/srv_queue_rpc.h"

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

q_status srv_keda_params_parse(const pwm_externalscaler_ScaledObjectRef *ref, srv_keda_params *out,
                               q_err *err)
{
    memset(out, 0, sizeof *out);
    if (meta_get(ref, "stream").ptr || meta_get(ref, "consumer").ptr)
        return keda_fail(err, Q_UNIMPLEMENTED,
                         "metadata stream/consumer: scaling on a stream consumer's lag is not "
                         "served yet (streams are not built); use metadata queue");
    out->queue = meta_get(ref, "queue");
    if (!out->queue.ptr)
        return keda_fail(err, Q_INVALID_ARGUMENT, "metadata queue is required (the queue name)");
    q_status st = q_queue_name_check(srv_chars(out->queue), out->queue.len, err);
    if (st != Q_OK) return st;
    if ((st = parse_mode(ref, &out->mode, err)) != Q_OK) return st;
    out->target = 1;
    if (out->mode == SRV_KEDA_MODE_BACKLOG && !meta_get(ref, "target").ptr)
        return keda_fail(err, Q_INVALID_ARGUMENT,
                         "metadata target is required (tasks per replica) in mode backlog");
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
    int n = snprintf(out, cap, "ringq-%s-%.*s",
                     p->mode == SRV_KEDA_MODE_BACKLOG ? "backlog" : "drain", (int)p->queue.len,
                     srv_chars(p->queue));
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

/* A job asking the owner of `name`'s partition for its figures; `done` runs here with them.
 * Returns the job, or NULL after finishing `c` (when given) with the reason. */
static srv_job *info_job(pw_grpc_call *c, pw_pb_bytes name, void *ctx, srv_job_done_fn done)
{
    srv_job *j = srv_job_new(c, name.ptr, name.len);
    if (!j) {
        if (c) pw_grpc_call_finish(c, PW_GRPC_RESOURCE_EXHAUSTED, "out of memory");
        return NULL;
    }
    j->ctx = ctx;
    pw_pb_bytes key = {j->req.bytes.ptr, j->req.bytes.len}; /* the job's own copy */
    if (srv_route_queue(j, key, run_info, done) != Q_OK) {
        if (c) pw_grpc_call_finish(c, (pw_grpc_status)j->status, j->msg);
        j->ctx = NULL;
        srv_job_free(j);
        return NULL;
    }
    return j;
}

/* ---- IsActive, GetMetricSpec, GetMetrics ---- */

typedef enum keda_ask {
    KEDA_ASK_IS_ACTIVE,
    KEDA_ASK_METRICS,
} keda_ask;

/* A unary call's context while its job is out (the job's ctx; freed by unary_done). */
typedef struct keda_unary {
    keda_ask ask;
    srv_keda_params p; /* queue: a view into `queue` */
    char queue[Q_QUEUE_NAME_BYTES_MAX];
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
    keda_unary *u = j->ctx;
    pw_grpc_call *c = j->call;
    srv_keda_queue q;
    if (!c || pw_grpc_call_done(c)) {
        /* the caller is gone: nothing to answer */
    } else if (j->status != Q_OK) {
        pw_grpc_call_finish(c, (pw_grpc_status)j->status, j->msg);
    } else if (queue_of(j, &q) < 0) {
        pw_grpc_call_finish(c, PW_GRPC_INTERNAL, "cannot read the queue's figures");
    } else if (u->ask == KEDA_ASK_IS_ACTIVE) {
        pwm_externalscaler_IsActiveResponse r = {.result = srv_keda_active(&u->p, &q)};
        srv_msg_reply(c, &pwm_externalscaler_IsActiveResponse_desc, &r);
    } else {
        reply_metrics(c, u, &q);
    }
    rt_free(u);
    j->ctx = NULL;
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
    memcpy(u->queue, p.queue.ptr, p.queue.len); /* checked: at most Q_QUEUE_NAME_BYTES_MAX */
    u->p.queue = (pw_pb_bytes){(const uint8_t *)u->queue, p.queue.len};
    srv_keda_metric_name(&u->p, u->metric, sizeof u->metric);
    return u;
}

static void ask_owner(pw_grpc_call *c, keda_unary *u)
{
    if (!info_job(c, u->p.queue, u, unary_done)) rt_free(u);
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
    srv_keda_params p;  /* queue: a view into `queue` */
    char queue[Q_QUEUE_NAME_BYTES_MAX];
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
    keda_watch *w = j->ctx;
    j->ctx = NULL;
    w->probing = false;
    if (!w->call) {
        rt_free(w);
        return;
    }
    srv_keda_queue q;
    if (j->status != Q_OK) {
        watch_finish(w, (pw_grpc_status)j->status, j->msg);
        return;
    }
    if (queue_of(j, &q) < 0) {
        watch_finish(w, PW_GRPC_INTERNAL, "cannot read the queue's figures");
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
    if (!info_job(NULL, w->p.queue, w, watch_done)) {
        w->probing = false;
        watch_finish(w, PW_GRPC_RESOURCE_EXHAUSTED, "out of memory");
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
        memcpy(w->queue, p.queue.ptr, p.queue.len); /* checked: at most the name limit */
        w->p.queue = (pw_pb_bytes){(const uint8_t *)w->queue, p.queue.len};
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
