/* bench/rb_drv_grpc: ringq-bench's plain gRPC driver — unary calls to any gRPC server (HTTP/2
 * cleartext, prior knowledge) through libringq's rq_call_async, one rq_client (one HTTP/2
 * connection) per rb_conn on the generator thread's loop.
 *
 * Request: without --method, /grpc.health.v1.Health/Check with an empty HealthCheckRequest
 * (service ""), and the answer must say SERVING; with --method PATH, a message whose field
 * RB_RQ_BODY_FIELD (bytes) carries the engine's body of --size bytes (the shape of most "echo"
 * methods); the response is not inspected beyond its status. open() makes one such
 * call (deadline RB_RQ_PROBE_MS) so a wrong address or method fails before the run. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/rb_driver.h"
#include "bench/rb_rq.h"
#include "proto_wire/pw_msg.h"
#include "proto_wire/pw_msgs.h"

#define HEALTH_PATH pwm_grpc_health_v1_Health_Check_PATH

struct rb_conn {
    rq_client *c;
    const rb_events *ev;
    void *ud;
    const char *path;
    bool health;  /* check the answer says SERVING */
    bool closing; /* close() runs: completions only free their context */
    bool failed;
    uint8_t *req; /* request scratch */
    size_t req_cap;
};

typedef struct call_ctx {
    rb_conn *k;
    uint64_t tag;
} call_ctx;

/* The HealthCheckResponse says SERVING (it has no repeated field: no arena is needed). */
static bool serving(const uint8_t *p, size_t n)
{
    pwm_grpc_health_v1_HealthCheckResponse r;
    pw_msg_arena none;
    pw_msg_arena_init(&none, NULL, 0);
    return pw_msg_decode(&pwm_grpc_health_v1_HealthCheckResponse_desc, &r, p, n, &none) == 0 &&
           r.status == pwm_grpc_health_v1_HealthCheckResponse_SERVING;
}

static void on_call(rq_client *c, void *ud, const rq_status *st, const uint8_t *resp, size_t n)
{
    call_ctx *x = ud;
    rb_conn *k = x->k;
    uint64_t tag = x->tag;
    free(x);
    if (k->closing) return;
    char why[320];
    if (st->code != 0) {
        snprintf(why, sizeof why, "%s: %s: %s", k->path, rq_status_name(st->code), st->message);
        k->ev->done(k->ud, tag, -EIO, why);
        if (st->code == RQ_ECONNECT && !k->failed) {
            k->failed = true;
            k->ev->failed(k->ud, why);
        }
        return;
    }
    if (k->health && !serving(resp, n)) {
        snprintf(why, sizeof why, "%s: the server is not SERVING", k->path);
        k->ev->done(k->ud, tag, -EIO, why);
        return;
    }
    k->ev->done(k->ud, tag, 0, NULL);
}

static size_t build(rb_conn *k, const uint8_t *body, size_t len)
{
    if (k->health) return 0;
    if (k->req_cap < len + 11) {
        uint8_t *n = realloc(k->req, len + 11);
        if (!n) return SIZE_MAX;
        k->req = n;
        k->req_cap = len + 11;
    }
    return rb_rq_body_msg(k->req, k->req_cap, body, len);
}

static void grpc_close(rb_conn *k)
{
    if (!k) return;
    k->closing = true;
    rq_client_destroy(k->c); /* calls in flight complete (cancelled) inside */
    free(k->req);
    free(k);
}

static rb_conn *grpc_open(struct ev_loop *loop, const rb_target *t, rb_role role,
                          const rb_events *ev, void *ud, char *err, size_t errlen)
{
    if (role != RB_ROLE_CALL) {
        snprintf(err, errlen, "the grpc driver only makes calls");
        return NULL;
    }
    rb_conn *k = calloc(1, sizeof *k);
    if (!k) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    k->ev = ev;
    k->ud = ud;
    k->path = t->method ? t->method : HEALTH_PATH;
    k->health = strcmp(k->path, HEALTH_PATH) == 0;
    if (!(k->c = rb_rq_client(loop, t->addr, err, errlen))) {
        free(k);
        return NULL;
    }
    uint8_t *body = malloc(t->size ? t->size : 1);
    size_t len = SIZE_MAX;
    if (body) {
        memset(body, 'x', t->size);
        len = build(k, body, t->size);
        free(body);
    }
    uint8_t resp[64];
    size_t rn = 0;
    if (len == SIZE_MAX) {
        snprintf(err, errlen, "out of memory");
    } else if (rb_rq_probe(k->c, k->path, k->req, len, -1, resp, sizeof resp, &rn, err, errlen) ==
               0) {
        if (!k->health || serving(resp, rn)) return k;
        snprintf(err, errlen, "%s: the server is not SERVING", k->path);
    }
    grpc_close(k);
    return NULL;
}

static int grpc_call(rb_conn *k, const uint8_t *body, size_t len, uint64_t tag)
{
    size_t n = build(k, body, len);
    call_ctx *x = n == SIZE_MAX ? NULL : malloc(sizeof *x);
    if (!x) return -ENOMEM;
    x->k = k;
    x->tag = tag;
    int rc = rq_call_async(k->c, k->path, k->req, n, 0, on_call, x);
    if (rc < 0) free(x);
    return rc;
}

const rb_driver rb_drv_grpc = {
    .name = "grpc",
    .can_call = true,
    .can_queue = false,
    .binary_safe = true,
    .batch_max = 1,
    .open = grpc_open,
    .call = grpc_call,
    .close = grpc_close,
};
