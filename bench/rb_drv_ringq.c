/* bench/rb_drv_ringq: ringq-bench's driver for ringqd (ringq.v1 through libringq). One rq_client
 * (one HTTP/2 connection) per rb_conn, bound to the generator thread's loop.
 *
 *   producer  send() = one Enqueue of n tasks (rq_enqueue_async); done when it is answered (the
 *             server answers once the tasks are durable as configured). System "ringq-stream":
 *             one request on the connection's Queue.EnqueueStream (rq_enq_stream) instead, the
 *             streaming producer path (answers in order, each after its commit).
 *   consumer  the Work stream (rq_work_open) on the queue with lease_ms; consume(n) grants n
 *             credits; every delivered task goes to the engine, whose ack() becomes a Work ack
 *             with a request_id, answered by a WorkResult -> acked().
 *   caller    rpc: /ringq.v1.Admin/GetQueue on the queue (a read served by the queue's shard),
 *             or --method PATH with the body as field RB_RQ_BODY_FIELD (bytes).
 *   setup     ConfigureQueue (creates the queue, lease_ms) then PurgeQueue; backlog = GetQueue's
 *             ready + delayed + leased (NOT_FOUND: 0).
 * A consumer whose Work stream is lost, or a client that cannot reach the server, fails the
 * connection (ev->failed): benchmarks do not reconnect silently. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/rb_driver.h"
#include "bench/rb_rq.h"
#include "proto_wire/pw_msgs.h"

#define GRPC_NOT_FOUND 5 /* gRPC status code */
/* Tasks per Enqueue (queue.proto). */
#define RINGQ_BATCH_MAX 1000u
/* Requests one EnqueueStream may have unanswered (the server's credit window). */
#define RINGQ_STREAM_TAGS 1024u
/* Operation contexts (a call's tag) are kept in chunks of this many, never moved or freed before
 * the connection: a call in flight holds a pointer to its own. */
#define RINGQ_OPS_CHUNK 256u
/* Tags above this are refused: the engine's tags are its slot indexes, below its in-flight cap
 * (RB_OPEN_INFLIGHT_DEFAULT, --inflight); this bounds the chunk table. */
#define RINGQ_TAG_MAX (1u << 20)

/* A delivered task the engine has not had answered yet: its id and lease token for the ack.
 * Answered ones go to the connection's free list and serve the next deliveries. */
typedef struct held {
    struct held *prev, *next;
    char id[RQ_ID_MAX];
    uint64_t token;
} held;

typedef struct op_ctx {
    rb_conn *k;
    uint64_t tag;
} op_ctx;

struct rb_conn {
    rq_client *c;
    rq_work *w;
    rq_enq_stream *es; /* ringq-stream producers: the EnqueueStream */
    uint64_t *tags;    /* its sends' tags by request id (a ring of RINGQ_STREAM_TAGS) */
    const rb_target *t;
    const rb_events *ev;
    void *ud;
    bool closing, failed;
    held *held;          /* tasks delivered and not yet answered */
    held *held_free;     /* answered ones, for the next deliveries */
    rq_task_spec *specs; /* send() scratch (ringq-stream) */
    size_t nspecs;
    uint8_t *req; /* call() scratch */
    size_t req_cap;
    op_ctx **ops; /* by tag: chunks of RINGQ_OPS_CHUNK */
    size_t nchunks;
    rb_rq_enq enq;   /* the Enqueue request, encoded once (send) */
    uint64_t allocs; /* heap allocations made for operations and deliveries (ringq_allocs) */
};

static void conn_failed(rb_conn *k, const char *why)
{
    if (k->failed || k->closing) return;
    k->failed = true;
    k->ev->failed(k->ud, why);
}

/* ---- setup / backlog (blocking, main thread) ---- */

static int ringq_setup(const rb_target *t, char *err, size_t errlen)
{
    rq_client *c = rb_rq_admin_client(t->addr, err, errlen);
    if (!c) return -1;
    rq_status st;
    rq_queue_settings s = {.has_lease_ms = true, .v = {.lease_ms = t->lease_ms}};
    uint64_t purged = 0;
    int rc = rq_configure_queue(c, t->queue, &s, NULL, &st);
    if (rc == 0) rc = rq_purge_queue(c, t->queue, &purged, &st);
    if (rc != 0)
        snprintf(err, errlen, "queue %s: %s: %s", t->queue, rq_status_name(rc), st.message);
    rq_client_destroy(c);
    return rc ? -1 : 0;
}

static int ringq_backlog(const rb_target *t, uint64_t *n, char *err, size_t errlen)
{
    rq_client *c = rb_rq_admin_client(t->addr, err, errlen);
    if (!c) return -1;
    rq_status st;
    rq_queue_info qi;
    int rc = rq_get_queue(c, t->queue, &qi, &st);
    rq_client_destroy(c);
    if (rc == GRPC_NOT_FOUND) {
        *n = 0;
        return 0;
    }
    if (rc != 0) {
        snprintf(err, errlen, "GetQueue %s: %s: %s", t->queue, rq_status_name(rc), st.message);
        return -1;
    }
    *n = qi.ready + qi.delayed + qi.leased;
    return 0;
}

/* ---- calls and producers ---- */

/* Room for n bytes of body in k->req. false when out of memory. */
static bool req_room(rb_conn *k, size_t n)
{
    if (k->req_cap >= n + 11) return true;
    uint8_t *nb = realloc(k->req, n + 11);
    if (!nb) return false;
    k->req = nb;
    k->req_cap = n + 11;
    return true;
}

/* --method's request (the body as RB_RQ_BODY_FIELD) in k->req. SIZE_MAX when out of memory. */
static size_t build(rb_conn *k, const void *src, size_t n)
{
    return req_room(k, n) ? rb_rq_body_msg(k->req, k->req_cap, src, n) : SIZE_MAX;
}

/* GetQueueRequest{name = the queue} in k->req. SIZE_MAX when out of memory. */
static size_t build_get_queue(rb_conn *k)
{
    size_t n = rb_rq_get_queue_msg(k->req, req_room(k, strlen(k->t->queue)) ? k->req_cap : 0,
                                   k->t->queue);
    return n ? n : SIZE_MAX;
}

/* The call's gRPC path: --method, or GetQueue. */
static const char *call_path(const rb_conn *k)
{
    return k->t->method ? k->t->method : pwm_ringq_v1_Admin_GetQueue_PATH;
}

/* GetQueueRequest{name}, or the body with --method. */
static size_t build_call(rb_conn *k, const uint8_t *body, size_t len)
{
    return k->t->method ? build(k, body, len) : build_get_queue(k);
}

static void status_why(char *why, size_t n, const char *what, const rq_status *st)
{
    snprintf(why, n, "%s: %s: %s", what, rq_status_name(st->code), st->message);
}

/* The end of an async call or Enqueue (`what` names it in messages; NULL: the call's path):
 * ev->done(tag) unless the connection is closing, and the connection fails when the client
 * could not connect. op_done: the same for an op_ctx, which it frees. */
static void op_end(rb_conn *k, uint64_t tag, const rq_status *st, const char *what)
{
    if (k->closing) return;
    if (st->code == 0) {
        k->ev->done(k->ud, tag, 0, NULL);
        return;
    }
    char why[320];
    status_why(why, sizeof why, what ? what : call_path(k), st);
    k->ev->done(k->ud, tag, -EIO, why);
    if (st->code == RQ_ECONNECT) conn_failed(k, why);
}

static void op_done(op_ctx *x, const rq_status *st, const char *what)
{
    op_end(x->k, x->tag, st, what);
}

/* The context of operation `tag` (the chunk allocated at its first use); NULL when out of memory
 * or the tag is above RINGQ_TAG_MAX. A tag is reused only after its completion ran. */
static op_ctx *op_get(rb_conn *k, uint64_t tag)
{
    if (tag > RINGQ_TAG_MAX) return NULL;
    size_t c = (size_t)(tag / RINGQ_OPS_CHUNK);
    if (c >= k->nchunks) {
        op_ctx **no = realloc(k->ops, (c + 1) * sizeof *no);
        if (!no) return NULL;
        k->allocs++;
        memset(no + k->nchunks, 0, (c + 1 - k->nchunks) * sizeof *no);
        k->ops = no;
        k->nchunks = c + 1;
    }
    if (!k->ops[c]) {
        if (!(k->ops[c] = calloc(RINGQ_OPS_CHUNK, sizeof **k->ops))) return NULL;
        k->allocs++;
    }
    op_ctx *x = &k->ops[c][tag % RINGQ_OPS_CHUNK];
    *x = (op_ctx){k, tag};
    return x;
}

static void on_call(rq_client *c, void *ud, const rq_status *st, const uint8_t *resp, size_t n)
{
    op_done(ud, st, NULL);
}

static int ringq_call(rb_conn *k, const uint8_t *body, size_t len, uint64_t tag)
{
    size_t n = build_call(k, body, len);
    op_ctx *x = n == SIZE_MAX ? NULL : op_get(k, tag);
    if (!x) return -ENOMEM;
    return rq_call_async(k->c, call_path(k), k->req, n, 0, on_call, x);
}

/* The Enqueue's answer: only its status counts (the results name the tasks' ids, which the
 * engine does not use), so the response is not decoded. */
static void on_enqueued(rq_client *c, void *ud, const rq_status *st, const uint8_t *resp, size_t n)
{
    op_done(ud, st, "Enqueue");
}

/* k->specs[0..n) from the payloads (borrowed: they must outlive the send). 0, -EINVAL (n out of
 * 1..RINGQ_BATCH_MAX) or -ENOMEM. */
static int fill_specs(rb_conn *k, const rb_payload *p, size_t n)
{
    if (n == 0 || n > RINGQ_BATCH_MAX) return -EINVAL;
    if (n > k->nspecs) {
        rq_task_spec *ns = realloc(k->specs, n * sizeof *ns);
        if (!ns) return -ENOMEM;
        k->specs = ns;
        k->nspecs = n;
    }
    for (size_t i = 0; i < n; i++)
        k->specs[i] = (rq_task_spec){.payload = p[i].p, .payload_len = p[i].len};
    return 0;
}

/* One Enqueue of the n payloads (all of one length, as the engine sends them): the request
 * encoded once (rb_rq_enq) with this send's payload bytes copied in, as a unary call. */
static int ringq_send(rb_conn *k, const rb_payload *p, size_t n, uint64_t tag)
{
    if (n == 0 || n > RINGQ_BATCH_MAX) return -EINVAL;
    for (size_t i = 1; i < n; i++)
        if (p[i].len != p[0].len) return -EINVAL;
    bool fresh = !k->enq.msg || k->enq.n != n || k->enq.size != p[0].len;
    int rc = rb_rq_enq_make(&k->enq, k->t->queue, n, p[0].len);
    if (rc < 0) return rc;
    if (fresh) k->allocs++;
    op_ctx *x = op_get(k, tag);
    if (!x) return -ENOMEM;
    rb_rq_enq_fill(&k->enq, p);
    return rq_call_async(k->c, pwm_ringq_v1_Queue_Enqueue_PATH, k->enq.msg, k->enq.len, 0,
                         on_enqueued, x);
}

static void on_stream_answer(rq_enq_stream *s, void *ud, uint64_t id, const rq_status *st,
                             const rq_enqueue_result *res, const rq_receipt *rc, size_t n)
{
    rb_conn *k = ud;
    op_end(k, k->tags[id % RINGQ_STREAM_TAGS], st, "EnqueueStream");
}

static int ringq_send_stream(rb_conn *k, const rb_payload *p, size_t n, uint64_t tag)
{
    int frc = fill_specs(k, p, n);
    if (frc < 0) return frc;
    uint64_t id;
    rq_status st;
    int rc = rq_enq_stream_send(k->es, k->t->queue, k->specs, n, &id, &st);
    if (rc == RQ_EAGAIN) return -ENOBUFS; /* more in flight than the window: a bad -x */
    if (rc) return -EIO;
    k->tags[id % RINGQ_STREAM_TAGS] = tag;
    return 0;
}

/* ---- consumers ---- */

static void held_unlink(rb_conn *k, held *h)
{
    if (h->prev) h->prev->next = h->next;
    else k->held = h->next;
    if (h->next) h->next->prev = h->prev;
}

/* A held record: from the free list, else a new one. NULL when out of memory. */
static held *held_new(rb_conn *k)
{
    held *h = k->held_free;
    if (h) {
        k->held_free = h->next;
        return h;
    }
    h = malloc(sizeof *h);
    if (h) k->allocs++;
    return h;
}

static void held_put(rb_conn *k, held *h)
{
    h->next = k->held_free;
    k->held_free = h;
}

static void on_task(rq_work *w, void *ud, rq_task *t)
{
    rb_conn *k = ud;
    held *h = k->closing ? NULL : held_new(k);
    if (!h || strlen(t->id) >= sizeof h->id) {
        if (h) held_put(k, h);
        rq_task_free(t);
        if (!k->closing) conn_failed(k, "out of memory, or a task id longer than RQ_ID_MAX");
        return;
    }
    memcpy(h->id, t->id, strlen(t->id) + 1);
    h->token = t->lease_token;
    h->prev = NULL;
    h->next = k->held;
    if (k->held) k->held->prev = h;
    k->held = h;
    k->ev->task(k->ud, t->payload, t->payload_len, (uint64_t)(uintptr_t)h);
    rq_task_free(t);
}

static void on_result(rq_work *w, void *ud, uint64_t request_id, int code, const char *message)
{
    rb_conn *k = ud;
    char why[320];
    if (request_id == 0) { /* an error about a request sent without an id (a credit) */
        snprintf(why, sizeof why, "Work stream: %s: %s", rq_status_name(code), message);
        conn_failed(k, why);
        return;
    }
    held *h = (held *)(uintptr_t)request_id;
    held_unlink(k, h);
    held_put(k, h);
    if (k->closing) return;
    if (code != 0) snprintf(why, sizeof why, "Work ack: %s: %s", rq_status_name(code), message);
    k->ev->acked(k->ud, request_id, code ? -EIO : 0, code ? why : NULL);
}

static void on_state(rq_work *w, void *ud, bool connected, const rq_status *st)
{
    rb_conn *k = ud;
    if (connected) return;
    char why[320];
    status_why(why, sizeof why, "Work stream lost", st);
    conn_failed(k, why);
}

static int ringq_consume(rb_conn *k, uint32_t n)
{
    return k->w ? rq_work_credit(k->w, n) : -EINVAL;
}

static int ringq_ack(rb_conn *k, uint64_t handle)
{
    held *h = (held *)(uintptr_t)handle;
    return k->w && h ? rq_work_ack(k->w, h->id, h->token, handle) : -EINVAL;
}

/* ---- connections ---- */

static uint64_t ringq_allocs(const rb_conn *k) { return k->allocs; }

/* The engine's bracket: libringq's cork, so the bracket's calls and acks leave in one write. */
static void ringq_hold(rb_conn *k, bool on)
{
    if (on) rq_client_cork(k->c);
    else rq_client_uncork(k->c);
}

static uint64_t ringq_writes(const rb_conn *k) { return rq_client_writes(k->c); }

static void ringq_close(rb_conn *k)
{
    if (!k) return;
    k->closing = true;
    if (k->w) rq_work_close(k->w);
    rq_enq_stream_free(k->es); /* before the client: its on_close runs inside destroy */
    rq_client_destroy(k->c);   /* calls in flight complete (cancelled) inside: ignored */
    for (int i = 0; i < 2; i++) {
        held **l = i ? &k->held_free : &k->held;
        while (*l) {
            held *h = *l;
            *l = h->next;
            free(h);
        }
    }
    for (size_t i = 0; i < k->nchunks; i++) free(k->ops[i]);
    free(k->ops);
    rb_rq_enq_free(&k->enq);
    free(k->specs);
    free(k->req);
    free(k->tags);
    free(k);
}

static rb_conn *open_conn(struct ev_loop *loop, const rb_target *t, rb_role role,
                          const rb_events *ev, void *ud, bool streaming, char *err, size_t errlen)
{
    rb_conn *k = calloc(1, sizeof *k);
    if (!k) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    k->t = t;
    k->ev = ev;
    k->ud = ud;
    /* Reach the server now (the queue may not exist yet: NOT_FOUND is fine). */
    size_t n = build_get_queue(k);
    if (n == SIZE_MAX) snprintf(err, errlen, "out of memory");
    if (n == SIZE_MAX || !(k->c = rb_rq_reach(loop, t->addr, pwm_ringq_v1_Admin_GetQueue_PATH,
                                              k->req, n, err, errlen))) {
        ringq_close(k);
        return NULL;
    }
    if (role == RB_ROLE_PRODUCER && streaming) {
        rq_status st;
        k->tags = calloc(RINGQ_STREAM_TAGS, sizeof *k->tags);
        k->es = k->tags ? rq_enq_stream_open(k->c, RQ_DURABILITY_DEFAULT, on_stream_answer, k, &st)
                        : NULL;
        if (!k->es) {
            snprintf(err, errlen, "EnqueueStream: %s", k->tags ? st.message : "out of memory");
            ringq_close(k);
            return NULL;
        }
    }
    if (role == RB_ROLE_CONSUMER) {
        static const rq_work_cbs cbs = {on_task, on_result, on_state};
        rq_status st;
        const char *q = t->queue;
        k->w = rq_work_open(k->c, &q, 1, 0, t->lease_ms, &cbs, k, &st);
        if (!k->w) {
            snprintf(err, errlen, "Work: %s: %s", rq_status_name(st.code), st.message);
            ringq_close(k);
            return NULL;
        }
    }
    return k;
}

static rb_conn *ringq_open(struct ev_loop *loop, const rb_target *t, rb_role role,
                           const rb_events *ev, void *ud, char *err, size_t errlen)
{
    return open_conn(loop, t, role, ev, ud, false, err, errlen);
}

static rb_conn *ringq_open_stream(struct ev_loop *loop, const rb_target *t, rb_role role,
                                  const rb_events *ev, void *ud, char *err, size_t errlen)
{
    return open_conn(loop, t, role, ev, ud, true, err, errlen);
}

const rb_driver rb_drv_ringq = {
    .name = "ringq",
    .can_call = true,
    .can_queue = true,
    .binary_safe = true,
    .batch_max = RINGQ_BATCH_MAX,
    .setup = ringq_setup,
    .backlog = ringq_backlog,
    .open = ringq_open,
    .call = ringq_call,
    .send = ringq_send,
    .consume = ringq_consume,
    .ack = ringq_ack,
    .close = ringq_close,
    .allocs = ringq_allocs,
    .hold = ringq_hold,
    .writes = ringq_writes,
};

/* The same system with producers on Queue.EnqueueStream. */
const rb_driver rb_drv_ringq_stream = {
    .name = "ringq-stream",
    .can_call = true,
    .can_queue = true,
    .binary_safe = true,
    .batch_max = RINGQ_BATCH_MAX,
    .setup = ringq_setup,
    .backlog = ringq_backlog,
    .open = ringq_open_stream,
    .call = ringq_call,
    .send = ringq_send_stream,
    .consume = ringq_consume,
    .ack = ringq_ack,
    .close = ringq_close,
    .allocs = ringq_allocs,
    .hold = ringq_hold,
    .writes = ringq_writes,
};
