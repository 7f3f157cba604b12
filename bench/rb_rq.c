/* bench/rb_rq: libringq helpers for the ringq and grpc drivers (see rb_rq.h). */
#include "bench/rb_rq.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ev_reactor.h"
#include "proto_wire/pw_msg.h"
#include "proto_wire/pw_msgs.h"
#include "proto_wire/pw_pb.h"

_Static_assert(RB_RQ_BODY_FIELD < 16, "the body tag fits one byte");

rq_client *rb_rq_client(struct ev_loop *loop, const char *addr, char *err, size_t errlen)
{
    rq_status st;
    rq_client_opts o = {.addr = addr, .loop = loop};
    rq_client *c = rq_client_create(&o, &st);
    if (!c) snprintf(err, errlen, "%s: %s", rq_status_name(st.code), st.message);
    return c;
}

rq_client *rb_rq_admin_client(const char *addr, char *err, size_t errlen)
{
    rq_status st;
    rq_client_opts o = {
        .addr = addr, .timeout_ms = RB_RQ_ADMIN_MS, .connect_timeout_ms = RB_RQ_ADMIN_MS};
    rq_client *c = rq_client_create(&o, &st);
    if (!c) snprintf(err, errlen, "%s: %s", rq_status_name(st.code), st.message);
    return c;
}

typedef struct probe {
    bool done;
    rq_status st;
    uint8_t *out;
    size_t outcap, outlen;
} probe;

static void on_probe(rq_client *c, void *ud, const rq_status *st, const uint8_t *resp, size_t n)
{
    probe *p = ud;
    p->done = true;
    p->st = *st;
    if (resp && p->out) {
        p->outlen = n < p->outcap ? n : p->outcap;
        memcpy(p->out, resp, p->outlen);
    }
}

int rb_rq_probe(rq_client *c, const char *path, const void *req, size_t len, int accept,
                uint8_t *out, size_t outcap, size_t *outlen, char *err, size_t errlen)
{
    probe p = {.out = out, .outcap = outcap};
    int rc = rq_call_async(c, path, req, len, RB_RQ_PROBE_MS, on_probe, &p);
    if (rc < 0) {
        snprintf(err, errlen, "%s: cannot start the call: %s", path, strerror(-rc));
        return -1;
    }
    ev_loop *loop = rq_client_loop(c);
    while (!p.done) {
        rc = ev_loop_run_once(loop, true);
        if (rc < 0 && rc != -EINTR && rc != -ETIME && rc != -EAGAIN) {
            snprintf(err, errlen, "%s: loop failed: %s", path, strerror(-rc));
            return -1; /* p is on our stack: the loop is dead, no callback can run */
        }
    }
    if (outlen) *outlen = p.outlen;
    if (p.st.code != 0 && p.st.code != accept) {
        snprintf(err, errlen, "%s: %s: %s", path, rq_status_name(p.st.code), p.st.message);
        return -1;
    }
    return 0;
}

rq_client *rb_rq_reach(struct ev_loop *loop, const char *addr, const char *path, const void *req,
                       size_t len, char *err, size_t errlen)
{
    enum { GRPC_NOT_FOUND = 5 }; /* gRPC status code */
    rq_client *c = rb_rq_client(loop, addr, err, errlen);
    if (c && rb_rq_probe(c, path, req, len, GRPC_NOT_FOUND, NULL, 0, NULL, err, errlen) < 0) {
        rq_client_destroy(c);
        return NULL;
    }
    return c;
}

size_t rb_rq_body_msg(uint8_t *dst, size_t cap, const void *body, size_t len)
{
    size_t n = 0;
    if (cap < len + 11) return 0;
    uint64_t v = (uint64_t)RB_RQ_BODY_FIELD << 3 | PW_PB_WT_LEN; /* the tag, one byte */
    dst[n++] = (uint8_t)v;
    v = len;
    do {
        uint8_t b = v & 0x7f;
        v >>= 7;
        dst[n++] = v ? (uint8_t)(b | 0x80) : b;
    } while (v);
    memcpy(dst + n, body, len);
    return n + len;
}

size_t rb_rq_get_queue_msg(uint8_t *dst, size_t cap, const char *queue)
{
    pwm_ringq_v1_GetQueueRequest req = {.name = {(const uint8_t *)queue, strlen(queue)}};
    long n = pw_msg_encode_to(&pwm_ringq_v1_GetQueueRequest_desc, &req, dst, cap);
    return n < 0 ? 0 : (size_t)n;
}

void rb_rq_enq_free(rb_rq_enq *t)
{
    free(t->msg);
    free(t->off);
    *t = (rb_rq_enq){0};
}

/* EnqueueRequest{queue, n tasks whose payloads are `size` bytes of `fill`} into *out (malloc'd,
 * the caller's). Returns the length, or 0 when out of memory or the encoding failed. */
static size_t enq_encode(const char *queue, size_t n, size_t size, uint8_t fill, uint8_t **out)
{
    size_t len = 0;
    uint8_t *pay = malloc(size);
    pwm_ringq_v1_TaskSpec *specs = calloc(n, sizeof *specs);
    *out = NULL;
    if (pay && specs) {
        memset(pay, fill, size);
        for (size_t i = 0; i < n; i++) specs[i].payload = (pw_pb_bytes){pay, size};
        pwm_ringq_v1_EnqueueRequest req = {
            .queue = {(const uint8_t *)queue, strlen(queue)}, .tasks = specs, .tasks_count = n};
        size_t cap = pw_msg_size(&pwm_ringq_v1_EnqueueRequest_desc, &req);
        long w = (*out = malloc(cap ? cap : 1))
                     ? pw_msg_encode_to(&pwm_ringq_v1_EnqueueRequest_desc, &req, *out, cap)
                     : -ENOMEM;
        len = w > 0 ? (size_t)w : 0;
    }
    free(pay);
    free(specs);
    return len;
}

int rb_rq_enq_make(rb_rq_enq *t, const char *queue, size_t n, size_t size)
{
    if (t->msg && t->n == n && t->size == size) return 0;
    rb_rq_enq_free(t);
    if (n == 0 || size == 0) return -EINVAL;
    uint8_t *lo = NULL, *hi = NULL;
    size_t len = enq_encode(queue, n, size, 0x00, &lo);
    size_t len_hi = enq_encode(queue, n, size, 0xFF, &hi);
    t->off = calloc(n, sizeof *t->off);
    int rc = len && len_hi && t->off ? 0 : -ENOMEM;
    size_t runs = 0;
    for (size_t i = 0; rc == 0 && i < len;) { /* runs of differing bytes: the payloads */
        if (len_hi != len) rc = -EINVAL;
        else if (lo[i] == hi[i]) i++;
        else {
            size_t j = i;
            while (j < len && lo[j] != hi[j]) j++;
            if (j - i != size || runs == n) rc = -EINVAL;
            else t->off[runs++] = i;
            i = j;
        }
    }
    free(hi);
    if (rc == 0 && runs != n) rc = -EINVAL;
    if (rc < 0) {
        free(lo);
        rb_rq_enq_free(t);
        return rc;
    }
    t->msg = lo;
    t->len = len;
    t->n = n;
    t->size = size;
    return 0;
}

void rb_rq_enq_fill(rb_rq_enq *t, const rb_payload *p)
{
    for (size_t i = 0; i < t->n; i++) memcpy(t->msg + t->off[i], p[i].p, t->size);
}
