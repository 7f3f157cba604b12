/* client/rq_async: unary calls — one rq_acall per call, from start to completion.
 *
 * A call waits on the client's wait list until a connection is up, then runs as one
 * pw_grpc_ccall. When it closes, it goes to the done list; completions run from the loop (the
 * kick timer, or right after a read), never from inside the call that started it nor from inside
 * pw_grpc. A call the server did not process (refused stream, above a GOAWAY's last stream,
 * never sent) goes back to the wait list, at most RQ_RETRIES_MAX times. One timer per call
 * holds its deadline, whatever state the call is in. Blocking rq_unary is the same call with a
 * completion that stops the loop it runs. Finished calls go to a pool with their buffers. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/rq_int.h"
#include "core/rt_clock.h"

enum { RQ_AC_FREE = 0, RQ_AC_WAIT, RQ_AC_RUN, RQ_AC_DONE };

/* Calls kept for reuse, and the buffer bytes each keeps. */
#define RQ_POOL_MAX 1024u
#define RQ_POOL_KEEP_BYTES (64u * 1024u)

/* ---- lists ---- */

static void list_push(rq_acall_list *l, rq_acall *a)
{
    a->next = NULL;
    a->prev = l->tail;
    if (l->tail) l->tail->next = a;
    else l->head = a;
    l->tail = a;
    l->n++;
}

static void list_remove(rq_acall_list *l, rq_acall *a)
{
    if (a->prev) a->prev->next = a->next;
    else l->head = a->next;
    if (a->next) a->next->prev = a->prev;
    else l->tail = a->prev;
    a->next = a->prev = NULL;
    l->n--;
}

static rq_acall *list_pop(rq_acall_list *l)
{
    rq_acall *a = l->head;
    if (a) list_remove(l, a);
    return a;
}

static void kick(rq_client *c) { ev_timer_start(c->loop, &c->kick, 0); }

/* ---- life ---- */

static void on_deadline(ev_loop *loop, ev_timer *t);

rq_acall *rq_acall_new(rq_client *c, const char *path, bool copy)
{
    if (copy && strlen(path) >= sizeof((rq_acall *)0)->path_buf) return NULL;
    rq_acall *a = list_pop(&c->pool);
    if (!a) {
        a = calloc(1, sizeof *a);
        if (!a) return NULL;
        buf_init(&a->req, RQ_MAX_SEND_BYTES);
        buf_init(&a->resp, RQ_MAX_RECV_BYTES);
        ev_timer_init(&a->timer, on_deadline, a);
    }
    a->c = c;
    a->where = RQ_AC_FREE;
    a->local = a->expired = false;
    a->attempts = a->msgs = 0;
    a->call = NULL;
    if (copy) {
        strcpy(a->path_buf, path);
        a->path = a->path_buf;
    } else {
        a->path = path;
    }
    a->fn = a->ud = NULL;
    a->n = 0;
    return a;
}

void rq_acall_free(rq_acall *a)
{
    rq_client *c = a->c;
    ev_timer_stop(c->loop, &a->timer);
    a->where = RQ_AC_FREE;
    buf_consume(&a->req, buf_size(&a->req));
    buf_consume(&a->resp, buf_size(&a->resp));
    if (c->pool.n >= RQ_POOL_MAX) {
        buf_deinit(&a->req);
        buf_deinit(&a->resp);
        free(a);
        return;
    }
    buf_shrink(&a->req, RQ_POOL_KEEP_BYTES);
    buf_shrink(&a->resp, RQ_POOL_KEEP_BYTES);
    list_push(&c->pool, a);
}

/* The call is finished (st filled): its completion runs from the loop. */
static void acall_done(rq_acall *a)
{
    a->where = RQ_AC_DONE;
    list_push(&a->c->done, a);
    kick(a->c);
}

static void acall_fail(rq_acall *a, int code, const char *msg)
{
    rq_set_status(&a->st, code, "%s", msg);
    a->local = true;
    acall_done(a);
}

void rq_async_fail_waiting(rq_client *c, int code, const char *why)
{
    while (c->waitq.head) {
        rq_acall *a = c->waitq.head;
        list_remove(&c->waitq, a);
        acall_fail(a, code, why);
    }
}

/* ---- running on a connection ---- */

static int on_msg(pw_grpc_ccall *call, void *ud, const uint8_t *p, size_t n)
{
    rq_acall *a = ud;
    if (++a->msgs > 1) {
        rq_set_status(&a->st, PW_GRPC_INTERNAL,
                      "the server answered a unary call with more "
                      "than one message");
        a->local = true;
        return -1;
    }
    if (buf_append(&a->resp, p, n) < 0) {
        rq_set_status(&a->st, PW_GRPC_RESOURCE_EXHAUSTED, "out of memory for a %zu-byte response",
                      n);
        a->local = true;
        return -1;
    }
    return 0;
}

static void on_close(pw_grpc_ccall *call, void *ud, const pw_grpc_cstatus *s)
{
    rq_acall *a = ud;
    rq_client *c = a->c;
    a->call = NULL;
    if (a->local) {
        acall_done(a);
        return;
    }
    if (a->expired) {
        acall_fail(a, PW_GRPC_DEADLINE_EXCEEDED, "deadline exceeded");
        return;
    }
    if (s->refused && a->attempts < RQ_RETRIES_MAX && !c->closing && rt_now_ns() < a->deadline_ns) {
        /* Not processed by the server: send it again (on a new connection, as this one is
         * going away). */
        a->attempts++;
        a->msgs = 0;
        buf_consume(&a->resp, buf_size(&a->resp));
        a->where = RQ_AC_WAIT;
        list_push(&c->waitq, a);
        kick(c);
        return;
    }
    rq_set_status(&a->st, (int)s->code, "%.*s", (int)s->message_len, s->message);
    if (a->st.code == 0 && a->msgs != 1)
        rq_set_status(&a->st, PW_GRPC_INTERNAL,
                      "the server answered a unary call with %d "
                      "messages",
                      a->msgs);
    acall_done(a);
}

/* Starts `a` on `k`. false: the connection cannot take calls (draining): `a` stays waiting. */
static bool acall_run(rq_acall *a, rq_conn *k)
{
    static const pw_grpc_ccall_cbs cbs = {on_msg, on_close};
    int err;
    pw_grpc_cmeta md[1];
    pw_grpc_ccall_opts o;
    pw_grpc_ccall *call = pw_grpc_ccall_start_opts(k->g, a->path, a->deadline_ns, rt_now_ns(),
                                                   rq_call_opts(a->c, NULL, md, &o), &cbs, a, &err);
    if (!call) {
        if (err == -ENOTCONN) return false;
        list_remove(&a->c->waitq, a);
        acall_fail(a, PW_GRPC_INTERNAL, err == -EINVAL ? "bad method path" : "out of memory");
        return true;
    }
    list_remove(&a->c->waitq, a);
    a->where = RQ_AC_RUN;
    a->call = call;
    int rc = pw_grpc_ccall_send(call, buf_begin(&a->req), buf_size(&a->req), true);
    if (rc < 0) {
        rq_set_status(&a->st, RQ_EINVAL, "request not sent: %s", strerror(-rc));
        a->local = true;
        if (a->call) pw_grpc_ccall_cancel(a->call); /* on_close follows */
    }
    return true;
}

/* Starts the waiting calls, in order, on the current connection (dialling when there is
 * none). Only outside pw_grpc. */
static void start_waiting(rq_client *c)
{
    if (c->in_grpc || !c->waitq.head) return;
    int redials = 0;
    while (c->waitq.head) {
        rq_conn *k = rq_conn_for_calls(c);
        if (!k) break; /* connecting, or a dial's backoff: they wait (or meet their deadline) */
        if (!acall_run(c->waitq.head, k)) {
            /* The connection started draining under us: the next loop turn opens a new one. */
            if (++redials > 2) {
                kick(c);
                break;
            }
        }
    }
    rq_conn_flush(c);
}

static void on_deadline(ev_loop *loop, ev_timer *t)
{
    rq_acall *a = t->ud;
    rq_client *c = a->c;
    switch (a->where) {
    case RQ_AC_WAIT:
        list_remove(&c->waitq, a);
        if (c->dial_fails && !rq_conn_ready(c)) {
            char why[sizeof a->st.message];
            snprintf(why, sizeof why, "%.180s (%u attempts until the deadline)",
                     c->dial_err.message, c->dial_fails);
            acall_fail(a, RQ_ECONNECT, why);
        } else if (c->conn && c->conn->connecting) {
            char why[sizeof a->st.message];
            snprintf(why, sizeof why, "connecting to %.180s: no answer before the deadline",
                     c->addr);
            acall_fail(a, RQ_ECONNECT, why);
        } else {
            acall_fail(a, PW_GRPC_DEADLINE_EXCEEDED, "deadline exceeded");
        }
        break;
    case RQ_AC_RUN:
        a->expired = true;
        if (a->call) pw_grpc_ccall_cancel(a->call); /* on_close reports DEADLINE_EXCEEDED */
        rq_conn_flush(c);                           /* the RST_STREAM */
        break;
    default: break;
    }
    rq_async_run(c);
}

int rq_acall_submit(rq_acall *a, uint32_t timeout_ms, rq_acall_fin fin)
{
    rq_client *c = a->c;
    if (!timeout_ms) timeout_ms = c->timeout_ms;
    a->fin = fin;
    a->deadline_ns = rt_now_ns() + (uint64_t)timeout_ms * RT_NS_PER_MS;
    if (c->closing || ev_timer_start(c->loop, &a->timer, a->deadline_ns) < 0) {
        rq_acall_free(a);
        return c->closing ? -EINVAL : -ENOMEM;
    }
    a->where = RQ_AC_WAIT;
    list_push(&c->waitq, a);
    /* Start at once when that is safe and keeps the order; otherwise from the loop. */
    if (!c->in_grpc && c->waitq.head == a && rq_conn_ready(c)) {
        acall_run(a, c->conn);
        rq_conn_flush(c);
    }
    if (c->waitq.head) kick(c);
    return 0;
}

/* Runs the completions of finished calls. Not re-entered: a completion that starts calls only
 * queues them. */
static void dispatch(rq_client *c)
{
    if (c->dispatching || c->in_grpc) return;
    c->dispatching = true;
    rq_acall *a;
    while ((a = list_pop(&c->done))) {
        ev_timer_stop(c->loop, &a->timer);
        bool ok = a->st.code == 0;
        a->fin(a, &a->st, ok ? buf_begin(&a->resp) : NULL, ok ? buf_size(&a->resp) : 0);
        rq_acall_free(a);
    }
    c->dispatching = false;
}

void rq_async_run(rq_client *c)
{
    start_waiting(c);
    dispatch(c);
}

void rq_async_close(rq_client *c)
{
    rq_acall *a;
    while ((a = list_pop(&c->waitq))) acall_fail(a, PW_GRPC_CANCELLED, "client closed");
    dispatch(c);
    ev_timer_stop(c->loop, &c->kick);
    while ((a = list_pop(&c->pool))) {
        buf_deinit(&a->req);
        buf_deinit(&a->resp);
        free(a);
    }
    free(c->enq_res);
    c->enq_res = NULL;
    c->enq_cap = 0;
    free(c->pub_acks);
    c->pub_acks = NULL;
    c->pub_cap = 0;
}

/* ---- the public asynchronous call ---- */

static void call_fin(rq_acall *a, const rq_status *st, const uint8_t *resp, size_t n)
{
    rq_call_fn done = (rq_call_fn)a->fn;
    done(a->c, a->ud, st, resp, n);
}

int rq_call_async(rq_client *c, const char *path, const void *req, size_t len, uint32_t timeout_ms,
                  rq_call_fn done, void *ud)
{
    if (!c || !path || path[0] != '/' || !done || (len && !req) || c->closing) return -EINVAL;
    rq_acall *a = rq_acall_new(c, path, true);
    if (!a) return strlen(path) >= sizeof a->path_buf ? -EINVAL : -ENOMEM;
    if (buf_append(&a->req, req, len) < 0) {
        rq_acall_free(a);
        return len > RQ_MAX_SEND_BYTES ? -EINVAL : -ENOMEM;
    }
    a->fn = (void *)done;
    a->ud = ud;
    return rq_acall_submit(a, timeout_ms, call_fin);
}

/* ---- blocking ---- */

typedef struct unary_wait {
    bool done;
    buf *resp;
    rq_status *st;
} unary_wait;

static void unary_fin(rq_acall *a, const rq_status *st, const uint8_t *resp, size_t n)
{
    unary_wait *w = a->ud;
    w->done = true;
    *w->st = *st;
    if (st->code == 0 && buf_append(w->resp, resp, n) < 0)
        rq_set_status(w->st, PW_GRPC_RESOURCE_EXHAUSTED, "out of memory for the response");
}

int rq_blocking_refused(const rq_client *c, rq_status *st)
{
    if (c->dispatching || c->in_grpc)
        return rq_set_status(st, RQ_EINVAL, "a blocking call from inside a libringq callback");
    if (c->corked) /* its request would never be written: the wait would not end */
        return rq_set_status(st, RQ_EINVAL, "a blocking call between rq_client_cork and uncork");
    return 0;
}

int rq_unary(rq_client *c, const char *path, const buf *req, buf *resp, rq_status *st)
{
    rq_status local;
    if (!st) st = &local;
    int refused = rq_blocking_refused(c, st);
    if (refused) return refused;
    rq_acall *a = rq_acall_new(c, path, false);
    if (!a || buf_append(&a->req, buf_begin(req), buf_size(req)) < 0) {
        if (a) rq_acall_free(a);
        return rq_set_status(st, RQ_EINVAL, "request too large or out of memory");
    }
    unary_wait w = {.resp = resp, .st = st};
    a->ud = &w;
    if (rq_acall_submit(a, 0, unary_fin) < 0)
        return rq_set_status(st, PW_GRPC_RESOURCE_EXHAUSTED, "out of memory");
    while (!w.done) {
        int n = ev_loop_run_once(c->loop, true);
        if (n < 0 && n != -EINTR && n != -ETIME) {
            /* The loop is broken: end the call here (its completion still runs once). */
            if (a->where == RQ_AC_WAIT) {
                list_remove(&c->waitq, a);
                acall_fail(a, PW_GRPC_INTERNAL, "the event loop failed");
            } else if (a->where == RQ_AC_RUN && a->call) {
                rq_set_status(&a->st, PW_GRPC_INTERNAL, "the event loop failed: %s", strerror(-n));
                a->local = true;
                pw_grpc_ccall_cancel(a->call);
            }
            rq_conn_flush(c);
            dispatch(c);
        }
    }
    return st->code;
}
