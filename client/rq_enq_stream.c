/* client/rq_enq_stream: the ringq.v1.Queue/EnqueueStream producer stream (ringq.h,
 * "Pipelined enqueue"), an ordered request stream (client/rq_ostream.c): this file encodes one
 * request, reads one answer's results and receipts and hands them to the caller. A lost stream
 * fails every unanswered request with its status; nothing is sent again (a caller that wants
 * exactly-once retries uses idempotency keys). */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "client/rq_int.h"

/* Tasks one request or answer may carry (a batch's, Q_BATCH_MAX). */
#define RQ_ESTREAM_BATCH_MAX 1000u

struct rq_enq_stream {
    rq_ostream o; /* the ordered stream: ids, credits, answers in order */
    rq_enq_stream_fn fn;
    void *ud;
    rq_durability level;
    rq_enqueue_result *res; /* one answer's results, reused */
    rq_receipt *rcpt;
};

/* One request: what rq_enq_stream_send was given. */
typedef struct estream_req {
    const rq_enq_stream *s;
    const char *queue;
    const rq_task_spec *tasks;
    size_t n;
} estream_req;

static rq_enq_stream *estream_of(rq_ostream *o)
{
    return (rq_enq_stream *)((char *)o - offsetof(rq_enq_stream, o));
}

static void estream_deliver(rq_ostream *o, uint64_t id, const rq_status *st, size_t n)
{
    rq_enq_stream *s = estream_of(o);
    if (s->fn) s->fn(s, s->ud, id, st, st->code ? NULL : s->res, st->code ? NULL : s->rcpt, n);
}

/* One EnqueueStreamResponse: its status, and on OK its results and receipts into s. */
static int estream_answer(rq_ostream *o, const uint8_t *p, size_t n, uint64_t id, size_t count,
                          rq_status *st, size_t *items, uint32_t *credits)
{
    rq_enq_stream *s = estream_of(o);
    pwm_ringq_v1_EnqueueStreamResponse r;
    pw_msg_arena a;
    int rc = rq_msg_decode(&pwm_ringq_v1_EnqueueStreamResponse_desc, &r, p, n, &a);
    if (rc < 0) return rc;
    rq_set_status(st, (int)r.code, "%.*s", (int)r.message.len, (const char *)r.message.ptr);
    size_t k = r.results_count;
    if (r.code == 0 && (r.request_id != id || k != count || k > RQ_ESTREAM_BATCH_MAX))
        rq_set_status(st, PW_GRPC_INTERNAL, "answer %llu for request %llu with %zu results",
                      (unsigned long long)r.request_id, (unsigned long long)id, k);
    for (size_t i = 0; st->code == 0 && i < k; i++) {
        const pwm_ringq_v1_EnqueueResult *e = &r.results[i];
        rq_copy_str(s->res[i].id, RQ_ID_MAX, e->id);
        s->res[i].duplicate = e->duplicate;
        s->rcpt[i] = e->receipt
                         ? (rq_receipt){e->receipt->partition, e->receipt->offset,
                                        e->receipt->commit_seq, (rq_durability)e->receipt->level}
                         : (rq_receipt){0};
    }
    *credits = r.credits;
    *items = k;
    pw_msg_arena_deinit(&a);
    return 0;
}

static void estream_release(rq_ostream *o)
{
    rq_enq_stream *s = estream_of(o);
    free(s->res);
    free(s->rcpt);
    free(s);
}

static const rq_ostream_ops estream_ops = {pwm_ringq_v1_Queue_EnqueueStream_PATH, estream_answer,
                                           estream_deliver, estream_release};

rq_enq_stream *rq_enq_stream_open(rq_client *c, rq_durability level, rq_enq_stream_fn fn, void *ud,
                                  rq_status *st)
{
    rq_enq_stream *s = calloc(1, sizeof *s);
    if (s) {
        s->res = calloc(RQ_ESTREAM_BATCH_MAX, sizeof *s->res);
        s->rcpt = calloc(RQ_ESTREAM_BATCH_MAX, sizeof *s->rcpt);
    }
    if (!s || !s->res || !s->rcpt || rq_ostream_init(&s->o, c, &estream_ops) < 0) {
        if (s) free(s->res), free(s->rcpt);
        free(s);
        rq_set_status(st, RQ_EINVAL, "out of memory");
        return NULL;
    }
    s->fn = fn;
    s->ud = ud;
    s->level = level;
    rq_status tmp;
    if (!st) st = &tmp;
    if (rq_ostream_start(&s->o, st)) return s;
    rq_enq_stream_free(s);
    return NULL;
}

size_t rq_enq_stream_unanswered(const rq_enq_stream *s) { return rq_ostream_unanswered(&s->o); }

static int estream_check(const void *req, rq_status *st)
{
    const estream_req *q = req;
    if (!q->queue || !*q->queue || !q->tasks || q->n == 0 || q->n > RQ_ESTREAM_BATCH_MAX)
        return rq_set_status(st, RQ_EINVAL, "a request needs a queue and 1..1000 tasks");
    return 0;
}

/* EnqueueStreamRequest{request_id, queue, task or tasks, durability} into b. */
static int estream_encode(const void *req, uint64_t id, buf *b, rq_status *st)
{
    const estream_req *q = req;
    pwm_ringq_v1_TaskSpec *specs = rq_task_specs_new(q->tasks, q->n);
    if (!specs) return rq_set_status(st, RQ_EINVAL, "out of memory");
    pwm_ringq_v1_EnqueueStreamRequest m = {
        .request_id = id, .queue = rq_str(q->queue), .durability = (int32_t)q->s->level};
    if (q->n == 1) m.task = specs;
    else m.tasks = specs, m.tasks_count = q->n;
    int rc = rq_msg_encode(b, &pwm_ringq_v1_EnqueueStreamRequest_desc, &m);
    free(specs);
    if (rc < 0) return rq_set_status(st, RQ_EINVAL, "request not sent: %s", strerror(-rc));
    return 0;
}

int rq_enq_stream_send(rq_enq_stream *s, const char *queue, const rq_task_spec *tasks, size_t n,
                       uint64_t *request_id, rq_status *st)
{
    estream_req q = {s, queue, tasks, n};
    return rq_ostream_send(&s->o, estream_check, estream_encode, &q, n, request_id, st);
}

int rq_enq_stream_finish(rq_enq_stream *s, int timeout_ms, rq_status *st)
{
    return rq_ostream_finish(&s->o, timeout_ms, st);
}

void rq_enq_stream_free(rq_enq_stream *s)
{
    if (!s) return;
    s->fn = NULL;
    rq_ostream_free(&s->o); /* s may be gone on return */
}
