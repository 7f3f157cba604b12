/* bench/rb_drv_ringq_streams: ringq-bench's driver for ringqd's Streams service (ringq.v1.Streams
 * through libringq's asynchronous calls), the publish and fanout scenarios (rb_driver.h,
 * "Streams"). One rq_client (one HTTP/2 connection) per rb_conn, on the generator thread's loop.
 *
 *   setup     DeleteStream <queue> (NOT_FOUND is fine), CreateStream <queue> (its name as its
 *             only subject, limits retention), then for each group g the durable consumer
 *             rbgrp<g>: deliver all, explicit acks, ack wait = --lease-ms (no redelivery within
 *             a run), max_ack_pending RS_ACK_PENDING (above any credit window).
 *             With --subjects N the stream captures <queue>.> too and publishes cycle over the
 *             subjects <queue>.0 .. <queue>.<N-1>; --stream-partitions sets its partitions.
 *   producer  send(n) = one publish of n messages to subject <queue> at the server's default
 *             durability, which is the column's: SYNCED under --fsync always (answered after
 *             the fdatasync that covers them, group commit), WRITTEN under --fsync never; done
 *             when it is answered. System "ringq": one request on the connection's
 *             PublishStream (rq_pub_stream: pipelined, answered in order, no HTTP/2 stream per
 *             publish); system "ringq-unary": one unary Publish call (rq_publish_async).
 *   consumer  a Consume session (rq_aconsume) bound to rbgrp<group>; consume(n) grants n credits;
 *             each delivery goes to the engine, whose ack() is an explicit ACK answered through
 *             the session's per-item results -> acked(). open() waits for the bind's answer.
 *   backlog   the sum over the groups of GetConsumer's num_pending (not delivered yet) and
 *             num_ack_pending (delivered, not acked); publish (no groups): 0.
 * A session that ends or a client that cannot reach the server fails the connection
 * (ev->failed): benchmarks do not reconnect silently. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/rb_driver.h"
#include "bench/rb_rq.h"
#include "core/ev_reactor.h"
#include "proto_wire/pw_msg.h"
#include "proto_wire/pw_msgs.h"

#define GRPC_NOT_FOUND 5 /* gRPC status codes */
#define GRPC_UNAVAILABLE 14
/* Deliveries a group's consumer may hold unacked: above every credit window the engine grants
 * (--credits x --workers), so the credits, not this, bound a run. */
#define RS_ACK_PENDING 100000u
/* The consumer of group g is "rbgrp<g>"; RS_GROUP_NAME_MAX holds it. */
#define RS_GROUP_NAME_MAX 32
/* Requests a producer's PublishStream may have unanswered: the server's window (1024,
 * docs/semantics.md), which is above any --inflight the streams benchmark runs. */
#define RS_PSTREAM_WINDOW 1024u

struct rb_conn {
    rq_client *c;
    rq_aconsume *s;
    rq_pub_stream *ps; /* system "ringq" producers */
    uint64_t *ps_tags; /* the engine's tag of each unanswered request (request id % window) */
    const rb_target *t;
    const rb_events *ev;
    void *ud;
    bool closing, failed, bind_answered;
    char bind_err[640];
    rq_pub_msg *msgs; /* send() scratch */
    size_t nmsgs;
    char (*subj)[RQ_SUBJECT_MAX]; /* --subjects > 1: <queue>.<i>, used in turn */
    uint32_t next_subj;
    /* Deliveries handed to the engine and not yet acked: the handle is the slot's index. */
    rq_delivery_ref *slots;
    uint32_t *free_slots; /* a stack of unused indexes */
    uint32_t nslots, nfree;
};

typedef struct op_ctx {
    rb_conn *k;
    uint64_t tag;
} op_ctx;

static void group_name(char *out, size_t n, uint32_t g) { snprintf(out, n, "rbgrp%u", g); }

static void conn_failed(rb_conn *k, const char *why)
{
    if (k->failed || k->closing) return;
    k->failed = true;
    k->ev->failed(k->ud, why);
}

/* ---- setup / backlog (blocking, main thread) ---- */

static int make_groups(rq_client *c, const rb_target *t, rq_status *st)
{
    int rc = 0;
    for (uint32_t g = 0; rc == 0 && g < t->groups; g++) {
        rq_consumer_config cc = {.deliver_policy = RQ_DELIVER_ALL,
                                 .ack_policy = RQ_ACK_EXPLICIT,
                                 .ack_wait_ms = t->lease_ms,
                                 .max_ack_pending = RS_ACK_PENDING};
        group_name(cc.name, sizeof cc.name, g);
        rc = rq_consumer_create(c, t->queue, &cc, NULL, st);
    }
    return rc;
}

static int rs_setup(const rb_target *t, char *err, size_t errlen)
{
    rq_client *c = rb_rq_admin_client(t->addr, err, errlen);
    if (!c) return -1;
    rq_status st;
    rq_stream_config cfg = {.retention = RQ_RETENTION_LIMITS, .partitions = t->parts};
    snprintf(cfg.name, sizeof cfg.name, "%s", t->queue);
    if (t->subjects > 1) { /* <queue> and <queue>.> */
        snprintf(cfg.subjects[0], sizeof cfg.subjects[0], "%s", t->queue);
        snprintf(cfg.subjects[1], sizeof cfg.subjects[1], "%s.>", t->queue);
        cfg.nsubjects = 2;
    }
    const char *what = "DeleteStream";
    int rc = rq_stream_delete(c, t->queue, &st);
    if (rc == GRPC_NOT_FOUND) rc = 0;
    if (rc == 0) {
        what = "CreateStream";
        rc = rq_stream_create(c, &cfg, NULL, &st);
    }
    if (rc == 0) {
        what = "CreateConsumer";
        rc = make_groups(c, t, &st);
    }
    if (rc != 0)
        snprintf(err, errlen, "stream %s: %s: %s: %s", t->queue, what, rq_status_name(rc),
                 st.message);
    rq_client_destroy(c);
    return rc ? -1 : 0;
}

static int rs_backlog(const rb_target *t, uint64_t *n, char *err, size_t errlen)
{
    *n = 0;
    if (t->groups == 0) return 0; /* publish: nobody reads */
    rq_client *c = rb_rq_admin_client(t->addr, err, errlen);
    if (!c) return -1;
    int rc = 0;
    for (uint32_t g = 0; rc == 0 && g < t->groups; g++) {
        char name[RS_GROUP_NAME_MAX];
        rq_status st;
        rq_consumer_info ci;
        group_name(name, sizeof name, g);
        rc = rq_consumer_get(c, t->queue, name, &ci, &st);
        if (rc == 0) *n += ci.num_pending + ci.num_ack_pending;
        else
            snprintf(err, errlen, "GetConsumer %s/%s: %s: %s", t->queue, name, rq_status_name(rc),
                     st.message);
    }
    rq_client_destroy(c);
    return rc ? -1 : 0;
}

/* ---- producers ---- */

static void on_published(rq_client *c, void *ud, const rq_status *st, const rq_pub_ack *acks,
                         size_t n)
{
    op_ctx *x = ud;
    rb_conn *k = x->k;
    uint64_t tag = x->tag;
    free(x);
    if (k->closing) return;
    if (st->code == 0) {
        k->ev->done(k->ud, tag, 0, NULL);
        return;
    }
    char why[320];
    snprintf(why, sizeof why, "Publish: %s: %s", rq_status_name(st->code), st->message);
    k->ev->done(k->ud, tag, -EIO, why);
    if (st->code == RQ_ECONNECT) conn_failed(k, why);
}

static void on_stream_answer(rq_pub_stream *s, void *ud, uint64_t request_id, const rq_status *st,
                             const char *stream, const rq_pub_ack *acks, size_t n)
{
    rb_conn *k = ud;
    if (k->closing) return;
    uint64_t tag = k->ps_tags[request_id % RS_PSTREAM_WINDOW];
    if (st->code == 0) {
        k->ev->done(k->ud, tag, 0, NULL);
        return;
    }
    char why[320];
    snprintf(why, sizeof why, "PublishStream: %s: %s", rq_status_name(st->code), st->message);
    k->ev->done(k->ud, tag, -EIO, why);
    if (st->code == RQ_ECONNECT || st->code == GRPC_UNAVAILABLE) conn_failed(k, why);
}

static int rs_send(rb_conn *k, const rb_payload *p, size_t n, uint64_t tag)
{
    if (n == 0 || n > RQ_PUBLISH_BATCH_MAX) return -EINVAL;
    if (n > k->nmsgs) {
        rq_pub_msg *nm = realloc(k->msgs, n * sizeof *nm);
        if (!nm) return -ENOMEM;
        k->msgs = nm;
        k->nmsgs = n;
    }
    for (size_t i = 0; i < n; i++) {
        const char *subject = k->t->queue;
        if (k->subj) subject = k->subj[k->next_subj++ % k->t->subjects];
        k->msgs[i] = (rq_pub_msg){.subject = subject, .payload = p[i].p, .payload_len = p[i].len};
    }
    if (k->ps) {
        uint64_t id;
        rq_status st;
        if (rq_pub_stream_unanswered(k->ps) >= RS_PSTREAM_WINDOW) return -EAGAIN;
        int rc = rq_pub_stream_send(k->ps, k->msgs, n, &id, &st);
        if (rc == RQ_EAGAIN) return -EAGAIN;
        if (rc) return -EIO;
        k->ps_tags[id % RS_PSTREAM_WINDOW] = tag;
        return 0;
    }
    op_ctx *x = malloc(sizeof *x);
    if (!x) return -ENOMEM;
    *x = (op_ctx){k, tag};
    int rc = rq_publish_async(k->c, k->msgs, n, RQ_DURABILITY_DEFAULT, on_published, x);
    if (rc < 0) free(x);
    return rc;
}

/* ---- consumers ---- */

/* A slot for a delivery's ref (growing the table by doubling). The index, or UINT32_MAX when
 * out of memory. */
static uint32_t slot_take(rb_conn *k, rq_delivery_ref ref)
{
    if (k->nfree == 0) {
        uint32_t n = k->nslots ? k->nslots * 2 : 1024;
        rq_delivery_ref *ns = realloc(k->slots, n * sizeof *ns);
        if (ns) k->slots = ns;
        uint32_t *nf = ns ? realloc(k->free_slots, n * sizeof *nf) : NULL;
        if (!nf) return UINT32_MAX;
        k->free_slots = nf;
        for (uint32_t i = n; i > k->nslots; i--) k->free_slots[k->nfree++] = i - 1;
        k->nslots = n;
    }
    uint32_t i = k->free_slots[--k->nfree];
    k->slots[i] = ref;
    return i;
}

static void on_bound(rq_aconsume *s, void *ud, const rq_consumer_info *ci, const rq_status *st)
{
    rb_conn *k = ud;
    k->bind_answered = true;
    if (st->code)
        snprintf(k->bind_err, sizeof k->bind_err, "Consume bind %s: %s: %s", rq_aconsume_name(s),
                 rq_status_name(st->code), st->message);
}

static void on_delivery(rq_aconsume *s, void *ud, const rq_delivery_view *d)
{
    rb_conn *k = ud;
    if (k->closing) return;
    uint32_t i = slot_take(k, (rq_delivery_ref){d->stream_seq, d->token});
    if (i == UINT32_MAX) {
        conn_failed(k, "Consume: out of memory for the deliveries held");
        return;
    }
    k->ev->task(k->ud, d->payload, d->payload_len, i);
}

static void on_acked(rq_aconsume *s, void *ud, uint64_t tag, int code, const char *message)
{
    rb_conn *k = ud;
    if (k->closing) return;
    if (tag < k->nslots) k->free_slots[k->nfree++] = (uint32_t)tag; /* answered: reusable */
    char why[320];
    if (code) snprintf(why, sizeof why, "Consume ack: %s: %s", rq_status_name(code), message);
    k->ev->acked(k->ud, tag, code ? -EIO : 0, code ? why : NULL);
}

static void on_end(rq_aconsume *s, void *ud, const rq_status *st)
{
    rb_conn *k = ud;
    char why[320];
    snprintf(why, sizeof why, "Consume stream ended: %s: %s", rq_status_name(st->code),
             st->message);
    if (!k->bind_answered) {
        k->bind_answered = true;
        if (!k->bind_err[0]) snprintf(k->bind_err, sizeof k->bind_err, "%s", why);
        return;
    }
    conn_failed(k, why);
}

static int rs_consume(rb_conn *k, uint32_t n)
{
    return k->s ? rq_aconsume_credit(k->s, n) : -EINVAL;
}

static int rs_ack(rb_conn *k, uint64_t handle)
{
    if (!k->s || handle >= k->nslots) return -EINVAL;
    return rq_aconsume_ack(k->s, k->slots[handle], handle);
}

/* ---- connections ---- */

static void rs_close(rb_conn *k)
{
    if (!k) return;
    k->closing = true;
    rq_aconsume_close(k->s);
    rq_pub_stream_free(k->ps);
    rq_client_destroy(k->c); /* calls in flight complete (cancelled) inside: ignored */
    free(k->msgs);
    free(k->subj);
    free(k->ps_tags);
    free(k->slots);
    free(k->free_slots);
    free(k);
}

/* Opens the consumer's session and runs the loop until the bind is answered (open may block:
 * it happens before the measured phase). 0 or -1 with err filled. */
static int open_session(rb_conn *k, char *err, size_t errlen)
{
    static const rq_aconsume_cbs cbs = {on_bound, on_delivery, on_acked, on_end};
    char name[RS_GROUP_NAME_MAX];
    rq_status st;
    group_name(name, sizeof name, k->t->group);
    k->s = rq_aconsume_open(k->c, k->t->queue, name, 0, &cbs, k, &st);
    if (!k->s) {
        snprintf(err, errlen, "Consume: %s: %s", rq_status_name(st.code), st.message);
        return -1;
    }
    ev_loop *loop = rq_client_loop(k->c);
    while (!k->bind_answered) {
        int rc = ev_loop_run_once(loop, true);
        if (rc < 0 && rc != -EINTR && rc != -ETIME && rc != -EAGAIN) {
            snprintf(err, errlen, "Consume bind: loop failed: %s", strerror(-rc));
            return -1;
        }
    }
    if (k->bind_err[0]) {
        snprintf(err, errlen, "%s", k->bind_err);
        return -1;
    }
    return 0;
}

/* --subjects > 1: the producer's subjects <queue>.<i>. 0 or -1 with err. */
static int make_subjects(rb_conn *k, char *err, size_t errlen)
{
    k->subj = calloc(k->t->subjects, sizeof *k->subj);
    if (!k->subj) return snprintf(err, errlen, "out of memory"), -1;
    for (uint32_t i = 0; i < k->t->subjects; i++)
        if ((size_t)snprintf(k->subj[i], sizeof k->subj[i], "%s.%u", k->t->queue, i) >=
            sizeof k->subj[i])
            return snprintf(err, errlen, "--queue too long for --subjects"), -1;
    return 0;
}

/* A producer's PublishStream (asynchronous: it starts from the loop). 0 or -1 with err. */
static int open_pstream(rb_conn *k, char *err, size_t errlen)
{
    rq_status st;
    k->ps_tags = calloc(RS_PSTREAM_WINDOW, sizeof *k->ps_tags);
    k->ps = k->ps_tags ? rq_pub_stream_open(k->c, RQ_DURABILITY_DEFAULT, on_stream_answer, k, &st)
                       : NULL;
    if (k->ps) return 0;
    snprintf(err, errlen, "PublishStream: %s", k->ps_tags ? st.message : "out of memory");
    return -1;
}

static rb_conn *open_conn(struct ev_loop *loop, const rb_target *t, rb_role role,
                          const rb_events *ev, void *ud, bool pstream, char *err, size_t errlen)
{
    rb_conn *k = calloc(1, sizeof *k);
    if (!k) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    k->t = t;
    k->ev = ev;
    k->ud = ud;
    /* Reach the server now: a GetStream (NOT_FOUND is fine before setup). */
    uint8_t req[RQ_STREAM_NAME_MAX + 8];
    pwm_ringq_v1_GetStreamRequest gs = {.name = {(const uint8_t *)t->queue, strlen(t->queue)}};
    long n = pw_msg_encode_to(&pwm_ringq_v1_GetStreamRequest_desc, &gs, req, sizeof req);
    if (n < 0) snprintf(err, errlen, "stream name too long");
    if (n < 0 || !(k->c = rb_rq_reach(loop, t->addr, pwm_ringq_v1_Streams_GetStream_PATH, req,
                                      (size_t)n, err, errlen))) {
        rs_close(k);
        return NULL;
    }
    if ((role == RB_ROLE_CONSUMER && open_session(k, err, errlen) < 0) ||
        (role == RB_ROLE_PRODUCER && pstream && open_pstream(k, err, errlen) < 0) ||
        (role == RB_ROLE_PRODUCER && k->t->subjects > 1 && make_subjects(k, err, errlen) < 0)) {
        rs_close(k);
        return NULL;
    }
    return k;
}

static rb_conn *rs_open(struct ev_loop *loop, const rb_target *t, rb_role role, const rb_events *ev,
                        void *ud, char *err, size_t errlen)
{
    return open_conn(loop, t, role, ev, ud, true, err, errlen);
}

static rb_conn *rs_open_unary(struct ev_loop *loop, const rb_target *t, rb_role role,
                              const rb_events *ev, void *ud, char *err, size_t errlen)
{
    return open_conn(loop, t, role, ev, ud, false, err, errlen);
}

const rb_driver rb_drv_ringq_streams = {
    .name = "ringq",
    .can_call = false,
    .can_queue = true,
    .binary_safe = true,
    .batch_max = RQ_PUBLISH_BATCH_MAX,
    .setup = rs_setup,
    .backlog = rs_backlog,
    .open = rs_open,
    .send = rs_send,
    .consume = rs_consume,
    .ack = rs_ack,
    .close = rs_close,
};

/* The same with one unary Publish per send (system "ringq-unary"). */
const rb_driver rb_drv_ringq_streams_unary = {
    .name = "ringq-unary",
    .can_call = false,
    .can_queue = true,
    .binary_safe = true,
    .batch_max = RQ_PUBLISH_BATCH_MAX,
    .setup = rs_setup,
    .backlog = rs_backlog,
    .open = rs_open_unary,
    .send = rs_send,
    .consume = rs_consume,
    .ack = rs_ack,
    .close = rs_close,
};
