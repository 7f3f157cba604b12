/* client/rq_api: the blocking ringq.v1 calls — Queue (Enqueue, Lease, Ack, Nack, Extend) and
 * Admin. Each encodes its request, runs rq_unary, decodes the response. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "client/rq_int.h"

#define QPATH "/ringq.v1.Queue/"
#define APATH "/ringq.v1.Admin/"

typedef struct msgs {
    buf req, resp;
} msgs;

static void msgs_init(msgs *m)
{
    buf_init(&m->req, RQ_MAX_SEND_BYTES);
    buf_init(&m->resp, RQ_MAX_RECV_BYTES);
}

static int msgs_done(msgs *m, int rc)
{
    buf_deinit(&m->req);
    buf_deinit(&m->resp);
    return rc;
}

static int nomem(msgs *m, rq_status *st)
{
    return msgs_done(m, rq_set_status(st, RQ_EINVAL, "request too large or out of memory"));
}

static bool str_ok(const char *s) { return s && *s; }

static int put_str(buf *b, uint32_t field, const char *s)
{
    return s && *s ? pw_pb_put_string(b, field, s, strlen(s)) : 0;
}

/* ---- Queue ---- */

static int encode_spec(buf *b, const rq_task_spec *t)
{
    pw_pb_mark m;
    int rc = pw_pb_submsg_begin(b, 2, &m);
    if (t->payload_len) rc |= pw_pb_put_bytes(b, 1, t->payload, t->payload_len);
    for (size_t i = 0; i < t->nheaders; i++) {
        pw_pb_mark hm;
        rc |= pw_pb_submsg_begin(b, 2, &hm);
        rc |= pw_pb_put_string(b, 1, t->headers[i].name, strlen(t->headers[i].name));
        rc |= pw_pb_put_string(b, 2, t->headers[i].value, strlen(t->headers[i].value));
        rc |= pw_pb_submsg_end(b, &hm);
    }
    if (t->priority) rc |= pw_pb_put_uint32(b, 3, t->priority);
    if (t->delay_ms) rc |= pw_pb_put_uint64(b, 4, t->delay_ms);
    if (t->not_before_unix_ms) rc |= pw_pb_put_uint64(b, 5, t->not_before_unix_ms);
    if (t->max_attempts) rc |= pw_pb_put_uint32(b, 6, t->max_attempts);
    if (t->lease_ms) rc |= pw_pb_put_uint32(b, 7, t->lease_ms);
    rc |= put_str(b, 8, t->idempotency_key);
    rc |= pw_pb_submsg_end(b, &m);
    return rc;
}

int rq_enqueue_encode(buf *b, const char *queue, const rq_task_spec *tasks, size_t n,
                      rq_status *st)
{
    if (!str_ok(queue) || !tasks || n == 0)
        return rq_set_status(st, RQ_EINVAL, "enqueue needs a queue and 1..1000 tasks");
    int rc = pw_pb_put_string(b, 1, queue, strlen(queue));
    for (size_t i = 0; i < n && rc == 0; i++) rc = encode_spec(b, &tasks[i]);
    if (rc) return rq_set_status(st, RQ_EINVAL, "request too large or out of memory");
    return 0;
}

int rq_enqueue_decode(const uint8_t *p, size_t len, rq_enqueue_result *results, size_t n,
                      rq_status *st)
{
    pw_pb_reader r;
    pw_pb_field f;
    size_t k = 0;
    pw_pb_reader_init(&r, p, len);
    while (pw_pb_next(&r, &f) == 1 && k < n) {
        if (f.num != 1 || f.wt != PW_PB_WT_LEN) continue;
        pw_pb_bytes id = {(const uint8_t *)"", 0};
        rq_pb_find(f.bytes.ptr, f.bytes.len, 1, &id);
        size_t l = id.len < RQ_ID_MAX - 1 ? id.len : RQ_ID_MAX - 1;
        memcpy(results[k].id, id.ptr, l);
        results[k].id[l] = 0;
        results[k].duplicate = rq_pb_u64(f.bytes.ptr, f.bytes.len, 2) != 0;
        k++;
    }
    if (k != n)
        return rq_set_status(st, PW_GRPC_INTERNAL, "the server returned %zu results for %zu tasks",
                             k, n);
    return 0;
}

int rq_enqueue(rq_client *c, const char *queue, const rq_task_spec *tasks, size_t n,
               rq_enqueue_result *results, rq_status *st)
{
    if (!results) return rq_set_status(st, RQ_EINVAL, "enqueue needs a results array");
    msgs m;
    msgs_init(&m);
    int rc = rq_enqueue_encode(&m.req, queue, tasks, n, st);
    if (rc == 0) rc = rq_unary(c, QPATH "Enqueue", &m.req, &m.resp, st);
    if (rc == 0) rc = rq_enqueue_decode(buf_begin(&m.resp), buf_size(&m.resp), results, n, st);
    return msgs_done(&m, rc);
}

static void enqueue_fin(rq_acall *a, const rq_status *st, const uint8_t *resp, size_t len)
{
    rq_client *c = a->c;
    rq_enqueue_fn done = (rq_enqueue_fn)a->fn;
    if (st->code) {
        done(c, a->ud, st, NULL, 0);
        return;
    }
    rq_status dst;
    if (a->n > c->enq_cap) {
        rq_enqueue_result *nr = realloc(c->enq_res, a->n * sizeof *nr);
        if (!nr) {
            rq_set_status(&dst, PW_GRPC_RESOURCE_EXHAUSTED, "out of memory for the results");
            done(c, a->ud, &dst, NULL, 0);
            return;
        }
        c->enq_res = nr;
        c->enq_cap = a->n;
    }
    if (rq_enqueue_decode(resp, len, c->enq_res, a->n, &dst)) done(c, a->ud, &dst, NULL, 0);
    else done(c, a->ud, st, c->enq_res, a->n);
}

int rq_enqueue_async(rq_client *c, const char *queue, const rq_task_spec *tasks, size_t n,
                     rq_enqueue_fn done, void *ud)
{
    if (!c || !done || c->closing || !str_ok(queue) || !tasks || n == 0) return -EINVAL;
    rq_acall *a = rq_acall_new(c, QPATH "Enqueue", false);
    if (!a) return -ENOMEM;
    a->fn = (void *)done;
    a->ud = ud;
    a->n = n;
    rq_status st;
    if (rq_enqueue_encode(&a->req, queue, tasks, n, &st)) {
        rq_acall_free(a);
        return -EINVAL; /* above RQ_MAX_SEND_BYTES (or out of memory) */
    }
    return rq_acall_submit(a, 0, enqueue_fin);
}

/* Decodes every repeated message field `num` of the response with `dec` into a new array. */
static int decode_list(const buf *resp, uint32_t num, void *(*dec)(const uint8_t *, size_t),
                       void ***out, size_t *n, size_t limit, rq_status *st)
{
    pw_pb_reader r;
    pw_pb_field f;
    size_t cap = 0;
    pw_pb_reader_init(&r, buf_begin(resp), buf_size(resp));
    while (pw_pb_next(&r, &f) == 1) {
        if (f.num != num || f.wt != PW_PB_WT_LEN) continue;
        if (limit && *n >= limit) break;
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            void **na = realloc(*out, cap * sizeof *na);
            if (!na) return rq_set_status(st, PW_GRPC_RESOURCE_EXHAUSTED, "out of memory");
            *out = na;
        }
        void *o = dec(f.bytes.ptr, f.bytes.len);
        if (!o) return rq_set_status(st, PW_GRPC_INTERNAL, "malformed message from the server");
        (*out)[(*n)++] = o;
    }
    return 0;
}

static void *task_dec(const uint8_t *p, size_t n) { return rq_task_decode(p, n); }
static void *info_dec(const uint8_t *p, size_t n) { return rq_task_info_decode(p, n); }

int rq_lease(rq_client *c, const char *queue, uint32_t max_tasks, uint32_t wait_ms,
             uint32_t lease_ms, rq_task ***tasks, size_t *n, rq_status *st)
{
    *tasks = NULL;
    *n = 0;
    if (!str_ok(queue)) return rq_set_status(st, RQ_EINVAL, "lease needs a queue");
    msgs m;
    msgs_init(&m);
    int rc = pw_pb_put_string(&m.req, 1, queue, strlen(queue));
    if (max_tasks) rc |= pw_pb_put_uint32(&m.req, 2, max_tasks);
    if (wait_ms) rc |= pw_pb_put_uint32(&m.req, 3, wait_ms);
    if (lease_ms) rc |= pw_pb_put_uint32(&m.req, 4, lease_ms);
    if (rc) return nomem(&m, st);
    rc = rq_unary(c, QPATH "Lease", &m.req, &m.resp, st);
    if (rc == 0) rc = decode_list(&m.resp, 1, task_dec, (void ***)tasks, n, 0, st);
    if (rc) {
        rq_tasks_free(*tasks, *n);
        *tasks = NULL;
        *n = 0;
    }
    return msgs_done(&m, rc);
}

static void item_decode(const uint8_t *p, size_t n, rq_item_status *it)
{
    it->code = (int)rq_pb_u64(p, n, 2);
    pw_pb_bytes msg = {(const uint8_t *)"", 0};
    rq_pb_find(p, n, 3, &msg);
    size_t l = msg.len < sizeof it->message - 1 ? msg.len : sizeof it->message - 1;
    memcpy(it->message, msg.ptr, l);
    it->message[l] = 0;
}

int rq_ack(rq_client *c, const char *const *ids, size_t n, rq_item_status *results,
           rq_status *st)
{
    if (!ids || n == 0) return rq_set_status(st, RQ_EINVAL, "ack needs 1..1000 ids");
    msgs m;
    msgs_init(&m);
    int rc = 0;
    for (size_t i = 0; i < n; i++) rc |= pw_pb_put_string(&m.req, 1, ids[i], strlen(ids[i]));
    if (rc) return nomem(&m, st);
    rc = rq_unary(c, QPATH "Ack", &m.req, &m.resp, st);
    if (rc || !results) return msgs_done(&m, rc);
    pw_pb_reader r;
    pw_pb_field f;
    size_t k = 0;
    pw_pb_reader_init(&r, buf_begin(&m.resp), buf_size(&m.resp));
    while (pw_pb_next(&r, &f) == 1 && k < n)
        if (f.num == 1 && f.wt == PW_PB_WT_LEN) item_decode(f.bytes.ptr, f.bytes.len, &results[k++]);
    for (; k < n; k++) {
        results[k].code = PW_GRPC_INTERNAL;
        strcpy(results[k].message, "no result from the server");
    }
    return msgs_done(&m, 0);
}

int rq_nack(rq_client *c, const char *id, const rq_nack_opts *opts, rq_nack_result *out,
            rq_status *st)
{
    if (!str_ok(id)) return rq_set_status(st, RQ_EINVAL, "nack needs a task id");
    msgs m;
    msgs_init(&m);
    if (rq_encode_nack(&m.req, id, opts)) return nomem(&m, st);
    int rc = rq_unary(c, QPATH "Nack", &m.req, &m.resp, st);
    if (rc == 0 && out) {
        const uint8_t *p = buf_begin(&m.resp);
        size_t n = buf_size(&m.resp);
        out->state = (int)rq_pb_u64(p, n, 1);
        out->ready_unix_ms = rq_pb_u64(p, n, 2);
        out->attempts = (uint32_t)rq_pb_u64(p, n, 3);
    }
    return msgs_done(&m, rc);
}

int rq_extend(rq_client *c, const char *id, uint32_t lease_ms, uint64_t *deadline_unix_ms,
              rq_status *st)
{
    if (!str_ok(id)) return rq_set_status(st, RQ_EINVAL, "extend needs a task id");
    msgs m;
    msgs_init(&m);
    int rc = pw_pb_put_string(&m.req, 1, id, strlen(id));
    if (lease_ms) rc |= pw_pb_put_uint32(&m.req, 2, lease_ms);
    if (rc) return nomem(&m, st);
    rc = rq_unary(c, QPATH "Extend", &m.req, &m.resp, st);
    if (rc == 0 && deadline_unix_ms)
        *deadline_unix_ms = rq_pb_u64(buf_begin(&m.resp), buf_size(&m.resp), 1);
    return msgs_done(&m, rc);
}

/* ---- Admin ---- */

/* A call whose request is one string field 1 (a name or an id). */
static int name_call(rq_client *c, const char *method, const char *name, msgs *m,
                     rq_status *st)
{
    if (!str_ok(name)) return rq_set_status(st, RQ_EINVAL, "a name is required");
    if (pw_pb_put_string(&m->req, 1, name, strlen(name)))
        return rq_set_status(st, RQ_EINVAL, "name too long");
    return rq_unary(c, method, &m->req, &m->resp, st);
}

static int queue_call(rq_client *c, const char *method, const char *name, rq_queue_info *out,
                      rq_status *st)
{
    msgs m;
    msgs_init(&m);
    int rc = name_call(c, method, name, &m, st);
    if (rc == 0 && out && rq_queue_info_decode(buf_begin(&m.resp), buf_size(&m.resp), out) < 0)
        rc = rq_set_status(st, PW_GRPC_INTERNAL, "malformed QueueInfo from the server");
    return msgs_done(&m, rc);
}

int rq_get_queue(rq_client *c, const char *name, rq_queue_info *out, rq_status *st)
{
    return queue_call(c, APATH "GetQueue", name, out, st);
}
int rq_pause_queue(rq_client *c, const char *name, rq_queue_info *out, rq_status *st)
{
    return queue_call(c, APATH "PauseQueue", name, out, st);
}
int rq_resume_queue(rq_client *c, const char *name, rq_queue_info *out, rq_status *st)
{
    return queue_call(c, APATH "ResumeQueue", name, out, st);
}

int rq_purge_queue(rq_client *c, const char *name, uint64_t *purged, rq_status *st)
{
    msgs m;
    msgs_init(&m);
    int rc = name_call(c, APATH "PurgeQueue", name, &m, st);
    if (rc == 0 && purged) *purged = rq_pb_u64(buf_begin(&m.resp), buf_size(&m.resp), 1);
    return msgs_done(&m, rc);
}

int rq_delete_queue(rq_client *c, const char *name, bool force, uint64_t *deleted,
                    rq_status *st)
{
    if (!str_ok(name)) return rq_set_status(st, RQ_EINVAL, "delete needs a queue");
    msgs m;
    msgs_init(&m);
    int rc = pw_pb_put_string(&m.req, 1, name, strlen(name));
    if (force) rc |= pw_pb_put_bool(&m.req, 2, true);
    if (rc) return nomem(&m, st);
    rc = rq_unary(c, APATH "DeleteQueue", &m.req, &m.resp, st);
    if (rc == 0 && deleted) *deleted = rq_pb_u64(buf_begin(&m.resp), buf_size(&m.resp), 1);
    return msgs_done(&m, rc);
}

int rq_delete_task(rq_client *c, const char *id, rq_status *st)
{
    msgs m;
    msgs_init(&m);
    return msgs_done(&m, name_call(c, APATH "DeleteTask", id, &m, st));
}

int rq_get_task(rq_client *c, const char *id, rq_task_info **out, rq_status *st)
{
    *out = NULL;
    msgs m;
    msgs_init(&m);
    int rc = name_call(c, APATH "GetTask", id, &m, st);
    if (rc == 0 && !(*out = rq_task_info_decode(buf_begin(&m.resp), buf_size(&m.resp))))
        rc = rq_set_status(st, PW_GRPC_INTERNAL, "malformed TaskInfo from the server");
    return msgs_done(&m, rc);
}

int rq_configure_queue(rq_client *c, const char *name, const rq_queue_settings *s,
                       rq_queue_info *out, rq_status *st)
{
    if (!str_ok(name) || !s) return rq_set_status(st, RQ_EINVAL, "configure needs a queue");
    msgs m;
    msgs_init(&m);
    int rc = pw_pb_put_string(&m.req, 1, name, strlen(name));
    if (s->has_max_attempts) rc |= pw_pb_put_uint32(&m.req, 2, s->v.max_attempts);
    if (s->has_lease_ms) rc |= pw_pb_put_uint32(&m.req, 3, s->v.lease_ms);
    if (s->has_backoff_base_ms) rc |= pw_pb_put_uint64(&m.req, 4, s->v.backoff_base_ms);
    if (s->has_backoff_max_ms) rc |= pw_pb_put_uint64(&m.req, 5, s->v.backoff_max_ms);
    if (s->has_dead_letter) rc |= pw_pb_put_bool(&m.req, 6, s->v.dead_letter);
    if (s->has_dedup_window_ms) rc |= pw_pb_put_uint64(&m.req, 7, s->v.dedup_window_ms);
    if (rc) return nomem(&m, st);
    rc = rq_unary(c, APATH "ConfigureQueue", &m.req, &m.resp, st);
    if (rc == 0 && out && rq_queue_info_decode(buf_begin(&m.resp), buf_size(&m.resp), out) < 0)
        rc = rq_set_status(st, PW_GRPC_INTERNAL, "malformed QueueInfo from the server");
    return msgs_done(&m, rc);
}

/* Pages of a list call: `fill` encodes the request for a page token, `take` consumes one
 * response; returns the next token in `tok` ("" at the end). */
int rq_list_queues(rq_client *c, rq_queue_info **out, size_t *n, rq_status *st)
{
    *out = NULL;
    *n = 0;
    size_t cap = 0;
    char tok[256] = "";
    for (;;) {
        msgs m;
        msgs_init(&m);
        int rc = pw_pb_put_uint32(&m.req, 1, 1000) | put_str(&m.req, 2, tok);
        if (rc) return nomem(&m, st);
        rc = rq_unary(c, APATH "ListQueues", &m.req, &m.resp, st);
        pw_pb_reader r;
        pw_pb_field f;
        pw_pb_reader_init(&r, buf_begin(&m.resp), buf_size(&m.resp));
        tok[0] = 0;
        while (rc == 0 && pw_pb_next(&r, &f) == 1) {
            if (f.num == 2 && f.wt == PW_PB_WT_LEN) {
                size_t l = f.bytes.len < sizeof tok - 1 ? f.bytes.len : sizeof tok - 1;
                memcpy(tok, f.bytes.ptr, l);
                tok[l] = 0;
            }
            if (f.num != 1 || f.wt != PW_PB_WT_LEN) continue;
            if (*n == cap) {
                cap = cap ? cap * 2 : 32;
                rq_queue_info *na = realloc(*out, cap * sizeof *na);
                if (!na) {
                    rc = rq_set_status(st, PW_GRPC_RESOURCE_EXHAUSTED, "out of memory");
                    break;
                }
                *out = na;
            }
            rq_queue_info_decode(f.bytes.ptr, f.bytes.len, &(*out)[(*n)++]);
        }
        msgs_done(&m, 0);
        if (rc) {
            free(*out);
            *out = NULL;
            *n = 0;
            return rc;
        }
        if (!tok[0]) return 0;
    }
}

int rq_list_dead(rq_client *c, const char *queue, size_t limit, rq_task_info ***out, size_t *n,
                 rq_status *st)
{
    *out = NULL;
    *n = 0;
    if (!str_ok(queue)) return rq_set_status(st, RQ_EINVAL, "dead needs a queue");
    char tok[256] = "";
    for (;;) {
        msgs m;
        msgs_init(&m);
        size_t want = limit ? limit - *n : 1000;
        int rc = pw_pb_put_string(&m.req, 1, queue, strlen(queue)) |
                 pw_pb_put_uint32(&m.req, 2, (uint32_t)(want > 1000 ? 1000 : want)) |
                 put_str(&m.req, 3, tok);
        if (rc) return nomem(&m, st);
        rc = rq_unary(c, APATH "ListDeadTasks", &m.req, &m.resp, st);
        if (rc == 0) rc = decode_list(&m.resp, 1, info_dec, (void ***)out, n, limit, st);
        pw_pb_bytes t = {(const uint8_t *)"", 0};
        if (rc == 0) rq_pb_find(buf_begin(&m.resp), buf_size(&m.resp), 2, &t);
        size_t l = t.len < sizeof tok - 1 ? t.len : sizeof tok - 1;
        memcpy(tok, t.ptr, l);
        tok[l] = 0;
        msgs_done(&m, 0);
        if (rc) {
            rq_task_infos_free(*out, *n);
            *out = NULL;
            *n = 0;
            return rc;
        }
        if (!tok[0] || (limit && *n >= limit)) return 0;
    }
}

int rq_peek(rq_client *c, const char *queue, int state, size_t limit, rq_task_info ***out,
            size_t *n, bool *more, rq_status *st)
{
    *out = NULL;
    *n = 0;
    if (more) *more = false;
    if (!str_ok(queue)) return rq_set_status(st, RQ_EINVAL, "peek needs a queue");
    if (state != RQ_STATE_UNSPECIFIED && state != RQ_STATE_READY && state != RQ_STATE_DELAYED)
        return rq_set_status(st, RQ_EINVAL, "peek shows ready or delayed tasks (or both)");
    if (limit > UINT32_MAX) limit = UINT32_MAX; /* the server answers INVALID_ARGUMENT */
    msgs m;
    msgs_init(&m);
    int rc = pw_pb_put_string(&m.req, 1, queue, strlen(queue));
    if (limit) rc |= pw_pb_put_uint32(&m.req, 2, (uint32_t)limit);
    if (state) rc |= pw_pb_put_uint32(&m.req, 3, (uint32_t)state);
    if (rc) return nomem(&m, st);
    rc = rq_unary(c, APATH "PeekTasks", &m.req, &m.resp, st);
    if (rc == 0) rc = decode_list(&m.resp, 1, info_dec, (void ***)out, n, 0, st);
    if (rc == 0 && more) *more = rq_pb_u64(buf_begin(&m.resp), buf_size(&m.resp), 2) != 0;
    if (rc) {
        rq_task_infos_free(*out, *n);
        *out = NULL;
        *n = 0;
    }
    return msgs_done(&m, rc);
}

int rq_redrive(rq_client *c, const char *queue, const char *const *ids, size_t n,
               uint64_t *redriven, rq_status *st)
{
    if (!str_ok(queue)) return rq_set_status(st, RQ_EINVAL, "redrive needs a queue");
    msgs m;
    msgs_init(&m);
    int rc = pw_pb_put_string(&m.req, 1, queue, strlen(queue));
    for (size_t i = 0; i < n; i++) rc |= pw_pb_put_string(&m.req, 2, ids[i], strlen(ids[i]));
    if (rc) return nomem(&m, st);
    rc = rq_unary(c, APATH "RedriveDeadTasks", &m.req, &m.resp, st);
    if (rc == 0 && redriven) *redriven = rq_pb_u64(buf_begin(&m.resp), buf_size(&m.resp), 1);
    return msgs_done(&m, rc);
}

int rq_redrive_each(rq_client *c, const char *queue, const char *const *ids, size_t n,
                    rq_item_status *results, uint64_t *redriven, rq_status *st)
{
    if (!str_ok(queue) || !ids || n == 0 || !results)
        return rq_set_status(st, RQ_EINVAL, "redrive_each needs a queue and 1..1000 ids");
    msgs m;
    msgs_init(&m);
    int rc = pw_pb_put_string(&m.req, 1, queue, strlen(queue));
    for (size_t i = 0; i < n; i++) rc |= pw_pb_put_string(&m.req, 2, ids[i], strlen(ids[i]));
    if (rc) return nomem(&m, st);
    rc = rq_unary(c, APATH "RedriveDeadTasks", &m.req, &m.resp, st);
    if (rc) return msgs_done(&m, rc);
    if (redriven) *redriven = rq_pb_u64(buf_begin(&m.resp), buf_size(&m.resp), 1);
    pw_pb_reader r;
    pw_pb_field f;
    size_t k = 0;
    pw_pb_reader_init(&r, buf_begin(&m.resp), buf_size(&m.resp));
    while (pw_pb_next(&r, &f) == 1 && k < n)
        if (f.num == 2 && f.wt == PW_PB_WT_LEN) item_decode(f.bytes.ptr, f.bytes.len, &results[k++]);
    for (; k < n; k++) {
        results[k].code = PW_GRPC_INTERNAL;
        strcpy(results[k].message, "no result from the server");
    }
    return msgs_done(&m, 0);
}
