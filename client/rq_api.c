/* client/rq_api: the blocking ringq.v1 calls — Queue (Enqueue, Lease, Ack, Nack, Extend) and
 * Admin. Each fills the generated request struct (proto_wire/pw_msgs.h), encodes it once,
 * runs rq_unary, decodes the response once into an arena and copies out what the caller gets. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "client/rq_int.h"

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

static bool str_ok(const char *s) { return s && *s; }

/* Encodes *msg as `d` into m->req: 0, or the status for a request too large. */
static int encode(msgs *m, const pw_msg_desc *d, const void *msg, rq_status *st)
{
    if (rq_msg_encode(&m->req, d, msg) == 0) return 0;
    return rq_set_status(st, RQ_EINVAL, "request too large or out of memory");
}

/* Decodes m->resp as `d` into *msg over *a (rq_msg_decode's contract): 0 or the status. */
static int decode(msgs *m, const pw_msg_desc *d, void *msg, pw_msg_arena *a, rq_status *st)
{
    int rc = rq_msg_decode(d, msg, buf_begin(&m->resp), buf_size(&m->resp), a);
    if (rc == 0) return 0;
    return rq_set_status(st, rc == -ENOMEM ? PW_GRPC_RESOURCE_EXHAUSTED : PW_GRPC_INTERNAL,
                         "malformed %s from the server: %s", d->full_name, pw_msg_strerror(rc));
}

int rq_call(rq_client *c, const char *path, const pw_msg_desc *req_d, const void *req,
            const pw_msg_desc *resp_d, void *resp, rq_reply *r, rq_status *st)
{
    msgs m;
    msgs_init(&m);
    int rc = encode(&m, req_d, req, st);
    if (rc == 0) rc = rq_unary(c, path, &m.req, &m.resp, st);
    if (rc == 0) rc = decode(&m, resp_d, resp, &r->a, st);
    buf_deinit(&m.req);
    if (rc) return msgs_done(&m, rc);
    r->raw = m.resp; /* *resp's views point into these bytes: the caller frees them after */
    return 0;
}

void rq_reply_free(rq_reply *r)
{
    pw_msg_arena_deinit(&r->a);
    buf_deinit(&r->raw);
}

/* ---- Queue ---- */

int rq_enqueue_encode(buf *b, const char *queue, const rq_task_spec *tasks, size_t n, rq_status *st)
{
    return rq_enqueue_encode_level(b, queue, tasks, n, RQ_DURABILITY_DEFAULT, st);
}

pwm_ringq_v1_TaskSpec *rq_task_specs_new(const rq_task_spec *tasks, size_t n)
{
    size_t nh = 0;
    for (size_t i = 0; i < n; i++) nh += tasks[i].nheaders;
    /* one allocation for the specs and every header entry; views borrow the caller's tasks */
    pwm_ringq_v1_TaskSpec *specs = calloc(1, n * sizeof *specs +
                                                 nh * sizeof(pwm_ringq_v1_TaskSpec_HeadersEntry));
    if (!specs) return NULL;
    pwm_ringq_v1_TaskSpec_HeadersEntry *h = (pwm_ringq_v1_TaskSpec_HeadersEntry *)(specs + n);
    for (size_t i = 0; i < n; i++) {
        const rq_task_spec *t = &tasks[i];
        pwm_ringq_v1_TaskSpec *s = &specs[i];
        s->payload = (pw_pb_bytes){t->payload, t->payload_len};
        s->headers = h;
        s->headers_count = t->nheaders;
        for (size_t k = 0; k < t->nheaders; k++, h++) {
            h->key = rq_str(t->headers[k].name);
            h->value = rq_str(t->headers[k].value);
        }
        s->priority = t->priority;
        s->delay_ms = t->delay_ms;
        s->not_before_unix_ms = t->not_before_unix_ms;
        s->max_attempts = t->max_attempts;
        s->lease_ms = t->lease_ms;
        s->idempotency_key = rq_str(t->idempotency_key);
    }
    return specs;
}

int rq_enqueue_encode_level(buf *b, const char *queue, const rq_task_spec *tasks, size_t n,
                            rq_durability level, rq_status *st)
{
    if (!str_ok(queue) || !tasks || n == 0)
        return rq_set_status(st, RQ_EINVAL, "enqueue needs a queue and 1..1000 tasks");
    pwm_ringq_v1_TaskSpec *specs = rq_task_specs_new(tasks, n);
    if (!specs) return rq_set_status(st, RQ_EINVAL, "request too large or out of memory");
    pwm_ringq_v1_EnqueueRequest req = {
        .queue = rq_str(queue), .tasks = specs, .tasks_count = n, .durability = (int32_t)level};
    int rc = rq_msg_encode(b, &pwm_ringq_v1_EnqueueRequest_desc, &req);
    free(specs);
    if (rc) return rq_set_status(st, RQ_EINVAL, "request too large or out of memory");
    return 0;
}

int rq_enqueue_decode(const uint8_t *p, size_t len, rq_enqueue_result *results,
                      rq_receipt *receipts, size_t n, rq_status *st)
{
    pwm_ringq_v1_EnqueueResponse resp;
    pw_msg_arena a;
    int rc = rq_msg_decode(&pwm_ringq_v1_EnqueueResponse_desc, &resp, p, len, &a);
    if (rc < 0)
        return rq_set_status(st, PW_GRPC_INTERNAL, "malformed EnqueueResponse: %s",
                             pw_msg_strerror(rc));
    size_t k = resp.results_count;
    for (size_t i = 0; i < k && i < n; i++) {
        rq_copy_str(results[i].id, RQ_ID_MAX, resp.results[i].id);
        results[i].duplicate = resp.results[i].duplicate;
        if (!receipts) continue;
        const pwm_ringq_v1_Receipt *m = resp.results[i].receipt;
        receipts[i] = m ? (rq_receipt){m->partition, m->offset, m->commit_seq,
                                       (rq_durability)m->level}
                        : (rq_receipt){0}; /* an older server: no receipt */
    }
    pw_msg_arena_deinit(&a);
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
    if (rc == 0) rc = rq_unary(c, pwm_ringq_v1_Queue_Enqueue_PATH, &m.req, &m.resp, st);
    if (rc == 0)
        rc = rq_enqueue_decode(buf_begin(&m.resp), buf_size(&m.resp), results, NULL, n, st);
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
    if (rq_enqueue_decode(resp, len, c->enq_res, NULL, a->n, &dst)) done(c, a->ud, &dst, NULL, 0);
    else done(c, a->ud, st, c->enq_res, a->n);
}

int rq_enqueue_async(rq_client *c, const char *queue, const rq_task_spec *tasks, size_t n,
                     rq_enqueue_fn done, void *ud)
{
    if (!c || !done || c->closing || !str_ok(queue) || !tasks || n == 0) return -EINVAL;
    rq_acall *a = rq_acall_new(c, pwm_ringq_v1_Queue_Enqueue_PATH, false);
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

/* A new array of n rq_task from decoded Tasks; NULL with *n = 0 when none or out of memory
 * (false then). */
static bool tasks_from(const pwm_ringq_v1_Task *in, size_t k, rq_task ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (!k) return true;
    rq_task **arr = calloc(k, sizeof *arr);
    if (!arr) return false;
    for (size_t i = 0; i < k; i++) {
        if (!(arr[i] = rq_task_from(&in[i]))) {
            rq_tasks_free(arr, i);
            return false;
        }
    }
    *out = arr;
    *n = k;
    return true;
}

/* Appends decoded TaskInfos (at most `limit` in all when non-zero) to *out (*n so far). */
static bool infos_append(const pwm_ringq_v1_TaskInfo *in, size_t k, rq_task_info ***out, size_t *n,
                         size_t limit)
{
    if (limit && k > limit - *n) k = limit - *n;
    if (!k) return true;
    rq_task_info **arr = realloc(*out, (*n + k) * sizeof *arr);
    if (!arr) return false;
    *out = arr;
    for (size_t i = 0; i < k; i++) {
        if (!(arr[*n] = rq_task_info_from(&in[i]))) return false;
        (*n)++;
    }
    return true;
}

static int oom(rq_status *st)
{
    return rq_set_status(st, PW_GRPC_RESOURCE_EXHAUSTED, "out of memory");
}

int rq_lease(rq_client *c, const char *queue, uint32_t max_tasks, uint32_t wait_ms,
             uint32_t lease_ms, rq_task ***tasks, size_t *n, rq_status *st)
{
    *tasks = NULL;
    *n = 0;
    if (!str_ok(queue)) return rq_set_status(st, RQ_EINVAL, "lease needs a queue");
    msgs m;
    msgs_init(&m);
    pwm_ringq_v1_LeaseRequest req = {
        .queue = rq_str(queue), .max_tasks = max_tasks, .wait_ms = wait_ms, .lease_ms = lease_ms};
    pwm_ringq_v1_LeaseResponse resp;
    pw_msg_arena a;
    int rc = encode(&m, &pwm_ringq_v1_LeaseRequest_desc, &req, st);
    if (rc == 0) rc = rq_unary(c, pwm_ringq_v1_Queue_Lease_PATH, &m.req, &m.resp, st);
    if (rc == 0) rc = decode(&m, &pwm_ringq_v1_LeaseResponse_desc, &resp, &a, st);
    if (rc) return msgs_done(&m, rc);
    if (!tasks_from(resp.tasks, resp.tasks_count, tasks, n)) rc = oom(st);
    pw_msg_arena_deinit(&a);
    return msgs_done(&m, rc);
}

static void item_from(const pwm_ringq_v1_ItemStatus *in, rq_item_status *it)
{
    it->code = (int)in->code;
    rq_copy_str(it->message, sizeof it->message, in->message);
}

/* results[0..n) from k decoded ItemStatus; those the server left out are INTERNAL. */
static void items_from(const pwm_ringq_v1_ItemStatus *in, size_t k, rq_item_status *results,
                       size_t n)
{
    size_t i = 0;
    for (; i < k && i < n; i++) item_from(&in[i], &results[i]);
    for (; i < n; i++) {
        results[i].code = PW_GRPC_INTERNAL;
        strcpy(results[i].message, "no result from the server");
    }
}

/* A new array of views of ids[0..n) (borrowed); NULL when out of memory. */
static pw_pb_bytes *id_views(const char *const *ids, size_t n)
{
    pw_pb_bytes *v = calloc(n ? n : 1, sizeof *v);
    for (size_t i = 0; v && i < n; i++) v[i] = rq_str(ids[i]);
    return v;
}

int rq_ack(rq_client *c, const char *const *ids, const uint64_t *tokens, size_t n,
           rq_item_status *results, rq_status *st)
{
    if (!ids || n == 0) return rq_set_status(st, RQ_EINVAL, "ack needs 1..1000 ids");
    msgs m;
    msgs_init(&m);
    pwm_ringq_v1_AckRequest req = {.ids = id_views(ids, n),
                                   .ids_count = n,
                                   .lease_tokens = tokens,
                                   .lease_tokens_count = tokens ? n : 0};
    if (!req.ids) return msgs_done(&m, oom(st));
    int rc = encode(&m, &pwm_ringq_v1_AckRequest_desc, &req, st);
    free((void *)req.ids);
    if (rc == 0) rc = rq_unary(c, pwm_ringq_v1_Queue_Ack_PATH, &m.req, &m.resp, st);
    if (rc || !results) return msgs_done(&m, rc);
    pwm_ringq_v1_AckResponse resp;
    pw_msg_arena a;
    if ((rc = decode(&m, &pwm_ringq_v1_AckResponse_desc, &resp, &a, st))) return msgs_done(&m, rc);
    items_from(resp.results, resp.results_count, results, n);
    pw_msg_arena_deinit(&a);
    return msgs_done(&m, 0);
}

int rq_nack(rq_client *c, const char *id, uint64_t token, const rq_nack_opts *opts,
            rq_nack_result *out, rq_status *st)
{
    if (!str_ok(id)) return rq_set_status(st, RQ_EINVAL, "nack needs a task id");
    msgs m;
    msgs_init(&m);
    pwm_ringq_v1_NackRequest req;
    pwm_ringq_v1_NackResponse resp;
    pw_msg_arena a;
    rq_nack_fill(&req, id, token, opts);
    int rc = encode(&m, &pwm_ringq_v1_NackRequest_desc, &req, st);
    if (rc == 0) rc = rq_unary(c, pwm_ringq_v1_Queue_Nack_PATH, &m.req, &m.resp, st);
    if (rc == 0 && out && (rc = decode(&m, &pwm_ringq_v1_NackResponse_desc, &resp, &a, st)) == 0) {
        out->state = resp.state;
        out->ready_unix_ms = resp.ready_unix_ms;
        out->attempts = resp.attempts;
        pw_msg_arena_deinit(&a);
    }
    return msgs_done(&m, rc);
}

int rq_extend(rq_client *c, const char *id, uint64_t token, uint32_t lease_ms,
              uint64_t *deadline_unix_ms, rq_status *st)
{
    if (!str_ok(id)) return rq_set_status(st, RQ_EINVAL, "extend needs a task id");
    msgs m;
    msgs_init(&m);
    pwm_ringq_v1_ExtendRequest req = {.id = rq_str(id), .lease_ms = lease_ms, .lease_token = token};
    pwm_ringq_v1_ExtendResponse resp;
    pw_msg_arena a;
    int rc = encode(&m, &pwm_ringq_v1_ExtendRequest_desc, &req, st);
    if (rc == 0) rc = rq_unary(c, pwm_ringq_v1_Queue_Extend_PATH, &m.req, &m.resp, st);
    if (rc == 0 && deadline_unix_ms &&
        (rc = decode(&m, &pwm_ringq_v1_ExtendResponse_desc, &resp, &a, st)) == 0) {
        *deadline_unix_ms = resp.lease_deadline_unix_ms;
        pw_msg_arena_deinit(&a);
    }
    return msgs_done(&m, rc);
}

/* ---- Admin ---- */

/* Every Admin request naming one queue or task has that name as its only field, so one
 * struct encodes them all; the static assert keeps it honest. */
_Static_assert(sizeof(pwm_ringq_v1_GetQueueRequest) == sizeof(pw_pb_bytes),
               "a name request is one string");

/* A call whose request is one name (`d` is its table: GetQueue, PurgeQueue, GetTask, ...). */
static int name_call(rq_client *c, const char *method, const pw_msg_desc *d, const char *name,
                     msgs *m, rq_status *st)
{
    if (!str_ok(name)) return rq_set_status(st, RQ_EINVAL, "a name is required");
    pwm_ringq_v1_GetQueueRequest req = {.name = rq_str(name)};
    if (d->nfields != 1 || d->fields[0].kind != PW_MSG_STRING)
        return rq_set_status(st, RQ_EINVAL, "%s is not a name request", d->full_name);
    if (encode(m, d, &req, st)) return rq_set_status(st, RQ_EINVAL, "name too long");
    return rq_unary(c, method, &m->req, &m->resp, st);
}

/* Decodes m->resp as a QueueInfo into *out (may be NULL: nothing to decode). */
static int queue_info_out(msgs *m, int rc, rq_queue_info *out, rq_status *st)
{
    if (rc || !out) return rc;
    if (rq_queue_info_decode(buf_begin(&m->resp), buf_size(&m->resp), out) < 0)
        return rq_set_status(st, PW_GRPC_INTERNAL, "malformed QueueInfo from the server");
    return 0;
}

static int queue_call(rq_client *c, const char *method, const pw_msg_desc *d, const char *name,
                      rq_queue_info *out, rq_status *st)
{
    msgs m;
    msgs_init(&m);
    int rc = name_call(c, method, d, name, &m, st);
    return msgs_done(&m, queue_info_out(&m, rc, out, st));
}

int rq_get_queue(rq_client *c, const char *name, rq_queue_info *out, rq_status *st)
{
    return queue_call(c, pwm_ringq_v1_Admin_GetQueue_PATH, &pwm_ringq_v1_GetQueueRequest_desc, name,
                      out, st);
}
int rq_pause_queue(rq_client *c, const char *name, rq_queue_info *out, rq_status *st)
{
    return queue_call(c, pwm_ringq_v1_Admin_PauseQueue_PATH, &pwm_ringq_v1_PauseQueueRequest_desc,
                      name, out, st);
}
int rq_resume_queue(rq_client *c, const char *name, rq_queue_info *out, rq_status *st)
{
    return queue_call(c, pwm_ringq_v1_Admin_ResumeQueue_PATH, &pwm_ringq_v1_ResumeQueueRequest_desc,
                      name, out, st);
}

int rq_purge_queue(rq_client *c, const char *name, uint64_t *purged, rq_status *st)
{
    msgs m;
    msgs_init(&m);
    pwm_ringq_v1_PurgeQueueResponse resp;
    pw_msg_arena a;
    int rc = name_call(c, pwm_ringq_v1_Admin_PurgeQueue_PATH, &pwm_ringq_v1_PurgeQueueRequest_desc,
                       name, &m, st);
    if (rc == 0 && purged &&
        (rc = decode(&m, &pwm_ringq_v1_PurgeQueueResponse_desc, &resp, &a, st)) == 0) {
        *purged = resp.purged;
        pw_msg_arena_deinit(&a);
    }
    return msgs_done(&m, rc);
}

int rq_delete_queue(rq_client *c, const char *name, bool force, uint64_t *deleted, rq_status *st)
{
    if (!str_ok(name)) return rq_set_status(st, RQ_EINVAL, "delete needs a queue");
    msgs m;
    msgs_init(&m);
    pwm_ringq_v1_DeleteQueueRequest req = {.name = rq_str(name), .force = force};
    pwm_ringq_v1_DeleteQueueResponse resp;
    pw_msg_arena a;
    int rc = encode(&m, &pwm_ringq_v1_DeleteQueueRequest_desc, &req, st);
    if (rc == 0) rc = rq_unary(c, pwm_ringq_v1_Admin_DeleteQueue_PATH, &m.req, &m.resp, st);
    if (rc == 0 && deleted &&
        (rc = decode(&m, &pwm_ringq_v1_DeleteQueueResponse_desc, &resp, &a, st)) == 0) {
        *deleted = resp.deleted_tasks;
        pw_msg_arena_deinit(&a);
    }
    return msgs_done(&m, rc);
}

int rq_delete_task(rq_client *c, const char *id, rq_status *st)
{
    msgs m;
    msgs_init(&m);
    return msgs_done(&m, name_call(c, pwm_ringq_v1_Admin_DeleteTask_PATH,
                                   &pwm_ringq_v1_DeleteTaskRequest_desc, id, &m, st));
}

int rq_get_task(rq_client *c, const char *id, rq_task_info **out, rq_status *st)
{
    *out = NULL;
    msgs m;
    msgs_init(&m);
    int rc = name_call(c, pwm_ringq_v1_Admin_GetTask_PATH, &pwm_ringq_v1_GetTaskRequest_desc, id,
                       &m, st);
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
    pwm_ringq_v1_ConfigureQueueRequest req = {
        .name = rq_str(name),
        .max_attempts = s->v.max_attempts,
        .has_max_attempts = s->has_max_attempts,
        .lease_ms = s->v.lease_ms,
        .has_lease_ms = s->has_lease_ms,
        .backoff_base_ms = s->v.backoff_base_ms,
        .has_backoff_base_ms = s->has_backoff_base_ms,
        .backoff_max_ms = s->v.backoff_max_ms,
        .has_backoff_max_ms = s->has_backoff_max_ms,
        .dead_letter = s->v.dead_letter,
        .has_dead_letter = s->has_dead_letter,
        .dedup_window_ms = s->v.dedup_window_ms,
        .has_dedup_window_ms = s->has_dedup_window_ms,
        .allow_tokenless_ack = s->v.allow_tokenless_ack,
        .has_allow_tokenless_ack = s->has_allow_tokenless_ack,
        .release_counts_attempt = s->v.release_counts_attempt,
        .has_release_counts_attempt = s->has_release_counts_attempt,
    };
    int rc = encode(&m, &pwm_ringq_v1_ConfigureQueueRequest_desc, &req, st);
    if (rc == 0) rc = rq_unary(c, pwm_ringq_v1_Admin_ConfigureQueue_PATH, &m.req, &m.resp, st);
    return msgs_done(&m, queue_info_out(&m, rc, out, st));
}

/* Largest page the list calls ask for (the server's own page cap is the same). */
#define RQ_PAGE_MAX 1000u

/* Appends one ListQueues page to *out; copies the next page token into tok. */
static int queues_page(rq_client *c, const char *tok_in, char *tok, size_t tok_cap,
                       rq_queue_info **out, size_t *n, rq_status *st)
{
    msgs m;
    msgs_init(&m);
    pwm_ringq_v1_ListQueuesRequest req = {.page_size = RQ_PAGE_MAX, .page_token = rq_str(tok_in)};
    pwm_ringq_v1_ListQueuesResponse resp;
    pw_msg_arena a;
    int rc = encode(&m, &pwm_ringq_v1_ListQueuesRequest_desc, &req, st);
    if (rc == 0) rc = rq_unary(c, pwm_ringq_v1_Admin_ListQueues_PATH, &m.req, &m.resp, st);
    if (rc == 0) rc = decode(&m, &pwm_ringq_v1_ListQueuesResponse_desc, &resp, &a, st);
    if (rc) return msgs_done(&m, rc);
    rq_copy_str(tok, tok_cap, resp.next_page_token);
    if (resp.queues_count) {
        rq_queue_info *na = realloc(*out, (*n + resp.queues_count) * sizeof *na);
        if (!na) rc = oom(st);
        else *out = na;
        for (size_t i = 0; na && i < resp.queues_count; i++)
            rq_queue_info_from(&resp.queues[i], &na[(*n)++]);
    }
    pw_msg_arena_deinit(&a);
    return msgs_done(&m, rc);
}

int rq_list_queues(rq_client *c, rq_queue_info **out, size_t *n, rq_status *st)
{
    *out = NULL;
    *n = 0;
    char tok[256] = "", next[256];
    for (;;) {
        int rc = queues_page(c, tok, next, sizeof next, out, n, st);
        if (rc) {
            free(*out);
            *out = NULL;
            *n = 0;
            return rc;
        }
        if (!next[0]) return 0;
        memcpy(tok, next, sizeof tok);
    }
}

/* Appends one ListDeadTasks page to *out; copies the next page token into tok. */
static int dead_page(rq_client *c, const char *queue, size_t limit, char *tok, size_t tok_cap,
                     rq_task_info ***out, size_t *n, rq_status *st)
{
    msgs m;
    msgs_init(&m);
    size_t want = limit ? limit - *n : RQ_PAGE_MAX;
    pwm_ringq_v1_ListDeadTasksRequest req = {
        .queue = rq_str(queue),
        .page_size = (uint32_t)(want > RQ_PAGE_MAX ? RQ_PAGE_MAX : want),
        .page_token = rq_str(tok)};
    pwm_ringq_v1_ListDeadTasksResponse resp;
    pw_msg_arena a;
    int rc = encode(&m, &pwm_ringq_v1_ListDeadTasksRequest_desc, &req, st);
    if (rc == 0) rc = rq_unary(c, pwm_ringq_v1_Admin_ListDeadTasks_PATH, &m.req, &m.resp, st);
    if (rc == 0) rc = decode(&m, &pwm_ringq_v1_ListDeadTasksResponse_desc, &resp, &a, st);
    if (rc) return msgs_done(&m, rc);
    if (!infos_append(resp.tasks, resp.tasks_count, out, n, limit)) rc = oom(st);
    rq_copy_str(tok, tok_cap, resp.next_page_token); /* after the request's view of it */
    pw_msg_arena_deinit(&a);
    return msgs_done(&m, rc);
}

int rq_list_dead(rq_client *c, const char *queue, size_t limit, rq_task_info ***out, size_t *n,
                 rq_status *st)
{
    *out = NULL;
    *n = 0;
    if (!str_ok(queue)) return rq_set_status(st, RQ_EINVAL, "dead needs a queue");
    char tok[256] = "";
    for (;;) {
        int rc = dead_page(c, queue, limit, tok, sizeof tok, out, n, st);
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
    pwm_ringq_v1_PeekTasksRequest req = {
        .queue = rq_str(queue), .limit = (uint32_t)limit, .state = state};
    pwm_ringq_v1_PeekTasksResponse resp;
    pw_msg_arena a;
    int rc = encode(&m, &pwm_ringq_v1_PeekTasksRequest_desc, &req, st);
    if (rc == 0) rc = rq_unary(c, pwm_ringq_v1_Admin_PeekTasks_PATH, &m.req, &m.resp, st);
    if (rc == 0) rc = decode(&m, &pwm_ringq_v1_PeekTasksResponse_desc, &resp, &a, st);
    if (rc) return msgs_done(&m, rc);
    if (!infos_append(resp.tasks, resp.tasks_count, out, n, 0)) rc = oom(st);
    if (rc == 0 && more) *more = resp.more;
    pw_msg_arena_deinit(&a);
    if (rc) {
        rq_task_infos_free(*out, *n);
        *out = NULL;
        *n = 0;
    }
    return msgs_done(&m, rc);
}

/* One RedriveDeadTasks call; results (may be NULL) get n items. */
static int redrive_call(rq_client *c, const char *queue, const char *const *ids, size_t n,
                        rq_item_status *results, uint64_t *redriven, rq_status *st)
{
    msgs m;
    msgs_init(&m);
    pwm_ringq_v1_RedriveDeadTasksRequest req = {.queue = rq_str(queue), .ids_count = n};
    if (n && !(req.ids = id_views(ids, n))) return msgs_done(&m, oom(st));
    pwm_ringq_v1_RedriveDeadTasksResponse resp;
    pw_msg_arena a;
    int rc = encode(&m, &pwm_ringq_v1_RedriveDeadTasksRequest_desc, &req, st);
    free((void *)req.ids);
    if (rc == 0) rc = rq_unary(c, pwm_ringq_v1_Admin_RedriveDeadTasks_PATH, &m.req, &m.resp, st);
    if (rc || (!redriven && !results)) return msgs_done(&m, rc);
    if ((rc = decode(&m, &pwm_ringq_v1_RedriveDeadTasksResponse_desc, &resp, &a, st)))
        return msgs_done(&m, rc);
    if (redriven) *redriven = resp.redriven;
    if (results) items_from(resp.results, resp.results_count, results, n);
    pw_msg_arena_deinit(&a);
    return msgs_done(&m, 0);
}

int rq_redrive(rq_client *c, const char *queue, const char *const *ids, size_t n,
               uint64_t *redriven, rq_status *st)
{
    if (!str_ok(queue)) return rq_set_status(st, RQ_EINVAL, "redrive needs a queue");
    return redrive_call(c, queue, ids, n, NULL, redriven, st);
}

int rq_redrive_each(rq_client *c, const char *queue, const char *const *ids, size_t n,
                    rq_item_status *results, uint64_t *redriven, rq_status *st)
{
    if (!str_ok(queue) || !ids || n == 0 || !results)
        return rq_set_status(st, RQ_EINVAL, "redrive_each needs a queue and 1..1000 ids");
    return redrive_call(c, queue, ids, n, results, redriven, st);
}
