/* server/srv_interop: grpc.testing.TestService as gRPC's interop test descriptions require of a
 * server (doc/interop-test-descriptions.md, "Server" section):
 *
 *   EmptyCall            Empty -> Empty
 *   UnaryCall            response_size zero bytes; response_status echoed; response_compressed;
 *                        expect_compressed checked (INVALID_ARGUMENT when the request was not
 *                        compressed); fill_server_id / hostname
 *   CacheableUnaryCall   as UnaryCall
 *   StreamingOutputCall  one response per ResponseParameters (size, interval_us, compressed)
 *   StreamingInputCall   sums the request payload sizes
 *   FullDuplexCall       responds to each request as it arrives
 *   HalfDuplexCall       buffers the requests, responds after the client half-closes
 *   (UnimplementedCall is not registered, so it answers UNIMPLEMENTED.)
 * Every method echoes x-grpc-test-echo-initial as initial metadata and
 * x-grpc-test-echo-trailing-bin as trailing metadata.
 *
 * Intervals are timers on the shard's loop: a handler never blocks. */
#include "core/rt_alloc.h"
#include "server/srv_interop.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/ev_reactor.h"
#include "core/rt_clock.h"
#include "server/srv_msg.h"
#include "server/srv_runtime.h"

static uint8_t *g_zeros; /* read-only zero bytes for payload bodies */
static size_t g_zeros_len;
static char g_server_id[64];
static char g_hostname[256];

typedef struct resp_item {
    int32_t size;
    int32_t interval_us;
    int8_t compressed; /* -1 unset, 0, 1 */
} resp_item;

typedef struct interop_call {
    pw_grpc_call *call;
    ev_timer timer;
    bool waited; /* the head item's interval has elapsed */
    bool half_duplex;
    bool half_closed;
    bool finish_pending;
    pw_grpc_status status;
    char *status_msg;
    int64_t aggregated; /* StreamingInputCall */
    resp_item *q;
    size_t qhead, qlen, qcap;
} interop_call;

/* ---- messages (generated schema: proto/grpc/testing/messages.proto) ---- */

/* A grpc.testing.BoolValue wrapper's value (an absent wrapper is false). */
static bool bool_value(const pwm_grpc_testing_BoolValue *b) { return b && b->value; }

/* Finishes with an echoed status (code clamped into the valid range). */
static void finish_echo(pw_grpc_call *c, const pwm_grpc_testing_EchoStatus *es)
{
    char msg[4096];
    size_t n = es->message.len < sizeof msg - 1 ? es->message.len : sizeof msg - 1;
    if (n) memcpy(msg, es->message.ptr, n);
    msg[n] = 0;
    int code = es->code;
    if (code < 0 || code > PW_GRPC_STATUS_MAX) code = PW_GRPC_UNKNOWN;
    pw_grpc_call_finish(c, (pw_grpc_status)code, msg);
}

/* A Payload of `size` zero bytes (views g_zeros; size checked by the caller). */
static pwm_grpc_testing_Payload zero_payload(int32_t size)
{
    return (pwm_grpc_testing_Payload){.body = {g_zeros, size > 0 ? (size_t)size : 0}};
}

static void echo_metadata(pw_grpc_call *c)
{
    const pw_grpc_md *m = pw_grpc_call_find_metadata(c, "x-grpc-test-echo-initial");
    if (m) pw_grpc_call_add_initial_metadata(c, "x-grpc-test-echo-initial", m->value, m->value_len);
    m = pw_grpc_call_find_metadata(c, "x-grpc-test-echo-trailing-bin");
    if (m)
        pw_grpc_call_add_trailing_metadata(c, "x-grpc-test-echo-trailing-bin", m->value,
                                           m->value_len);
}

/* ---- unary ---- */

static void on_start(pw_grpc_call *c) { echo_metadata(c); }

static void empty_call(pw_grpc_call *c, const uint8_t *msg, size_t len)
{
    pwm_grpc_testing_Empty e;
    pw_msg_arena a;
    if (srv_msg_decode(c, &pwm_grpc_testing_Empty_desc, &e, msg, len, &a) < 0) return;
    pw_msg_arena_deinit(&a);
    srv_msg_reply(c, &pwm_grpc_testing_Empty_desc, &e);
}

/* The SimpleResponse of a checked request, encoded once into the call's send buffer. */
static void unary_reply(pw_grpc_call *c, const pwm_grpc_testing_SimpleRequest *r)
{
    pwm_grpc_testing_Payload pl = zero_payload(r->response_size);
    pwm_grpc_testing_SimpleResponse out = {
        .payload = &pl,
        .server_id = {(const uint8_t *)g_server_id, r->fill_server_id ? strlen(g_server_id) : 0},
        .hostname = {(const uint8_t *)g_hostname, strlen(g_hostname)},
    };
    if (bool_value(r->response_compressed)) pw_grpc_call_set_compress(c, true);
    int rc = srv_msg_send(c, &pwm_grpc_testing_SimpleResponse_desc, &out, 0);
    if (rc == -ECANCELED) return;
    if (rc < 0) {
        pw_grpc_call_finish(c, PW_GRPC_RESOURCE_EXHAUSTED,
                            rc == -EMSGSIZE ? "response larger than the limit" : "out of memory");
        return;
    }
    if (r->response_status) finish_echo(c, r->response_status);
    else pw_grpc_call_finish(c, PW_GRPC_OK, NULL);
}

static void unary_call(pw_grpc_call *c, const uint8_t *msg, size_t len)
{
    pwm_grpc_testing_SimpleRequest r;
    pw_msg_arena a;
    if (srv_msg_decode(c, &pwm_grpc_testing_SimpleRequest_desc, &r, msg, len, &a) < 0) return;
    if (bool_value(r.expect_compressed) && !pw_grpc_call_request_compressed(c))
        pw_grpc_call_finish(c, PW_GRPC_INVALID_ARGUMENT, "expected a compressed request");
    else if (r.response_status && r.response_status->code != 0) finish_echo(c, r.response_status);
    else if (r.response_size < 0 || (size_t)r.response_size > g_zeros_len)
        pw_grpc_call_finish(c, PW_GRPC_INVALID_ARGUMENT, "response_size out of range");
    else unary_reply(c, &r);
    pw_msg_arena_deinit(&a);
}

/* ---- streaming ---- */

static void ic_pump(interop_call *ic);

static void on_timer(ev_loop *loop, ev_timer *t)
{
    interop_call *ic = t->ud;
    ic->waited = true;
    ic_pump(ic);
}

static interop_call *ic_get(pw_grpc_call *c)
{
    interop_call *ic = pw_grpc_call_user(c);
    if (ic) return ic;
    ic = rt_calloc(1, sizeof *ic);
    if (!ic) return NULL;
    ic->call = c;
    ev_timer_init(&ic->timer, on_timer, ic);
    pw_grpc_call_set_user(c, ic);
    pw_grpc_call_ref(c);
    return ic;
}

static void ic_free(interop_call *ic)
{
    srv_shard *sh = srv_shard_self();
    if (sh) ev_timer_stop(srv_shard_loop(sh), &ic->timer);
    pw_grpc_call_set_user(ic->call, NULL);
    pw_grpc_call_unref(ic->call);
    rt_free(ic->q);
    rt_free(ic->status_msg);
    rt_free(ic);
}

static int ic_push(interop_call *ic, resp_item it)
{
    if (ic->qhead + ic->qlen == ic->qcap) {
        if (ic->qhead > 0) {
            memmove(ic->q, ic->q + ic->qhead, ic->qlen * sizeof *ic->q);
            ic->qhead = 0;
        } else {
            size_t nc = ic->qcap ? ic->qcap * 2 : 8;
            if (nc > 1u << 20) return -ENOSPC;
            resp_item *nq = rt_realloc(ic->q, nc * sizeof *nq);
            if (!nq) return -ENOMEM;
            ic->q = nq;
            ic->qcap = nc;
        }
    }
    ic->q[ic->qhead + ic->qlen++] = it;
    return 0;
}

static void ic_pump(interop_call *ic)
{
    pw_grpc_call *c = ic->call;
    while (ic->qlen > 0 && !pw_grpc_call_done(c)) {
        resp_item *it = &ic->q[ic->qhead];
        if (it->interval_us > 0 && !ic->waited) {
            srv_shard *sh = srv_shard_self();
            ev_loop *loop = srv_shard_loop(sh);
            if (!ev_timer_armed(&ic->timer))
                ev_timer_start(loop, &ic->timer,
                               ev_loop_now(loop) + (uint64_t)it->interval_us * 1000u);
            return;
        }
        if (it->size < 0 || (size_t)it->size > g_zeros_len) {
            pw_grpc_call_finish(c, PW_GRPC_INVALID_ARGUMENT, "response size out of range");
            break;
        }
        pwm_grpc_testing_Payload pl = zero_payload(it->size);
        pwm_grpc_testing_StreamingOutputCallResponse out = {.payload = &pl};
        int r = srv_msg_send(c, &pwm_grpc_testing_StreamingOutputCallResponse_desc, &out,
                             it->compressed == 1 ? 0 : PW_GRPC_SEND_NO_COMPRESS);
        if (r == -ECANCELED) return; /* output full (on_writable resumes) or the call ended */
        if (r < 0) {
            pw_grpc_call_finish(c, PW_GRPC_RESOURCE_EXHAUSTED,
                                r == -EMSGSIZE ? "response larger than the limit"
                                               : "out of memory");
            break;
        }
        ic->qhead++;
        ic->qlen--;
        ic->waited = false;
    }
    if (ic->qlen == 0 && ic->finish_pending && !pw_grpc_call_done(c)) {
        ic->finish_pending = false;
        pw_grpc_call_finish(c, ic->status, ic->status_msg);
    }
    if (pw_grpc_call_done(c)) ic_free(ic);
}

/* Queues the responses a decoded StreamingOutputCallRequest asks for; an echoed non-OK status
 * ends the call once they are sent. Returns OK or RESOURCE_EXHAUSTED. */
static pw_grpc_status queue_request(interop_call *ic,
                                    const pwm_grpc_testing_StreamingOutputCallRequest *r)
{
    for (size_t i = 0; i < r->response_parameters_count; i++) {
        const pwm_grpc_testing_ResponseParameters *p = &r->response_parameters[i];
        resp_item it = {.size = p->size,
                        .interval_us = p->interval_us,
                        .compressed = p->compressed ? p->compressed->value : -1};
        if (ic_push(ic, it) < 0) return PW_GRPC_RESOURCE_EXHAUSTED;
        if (it.compressed == 1) pw_grpc_call_set_compress(ic->call, true);
    }
    const pwm_grpc_testing_EchoStatus *es = r->response_status;
    if (es && es->code != 0) {
        ic->status = es->code < 0 || es->code > PW_GRPC_STATUS_MAX ? PW_GRPC_UNKNOWN
                                                                   : (pw_grpc_status)es->code;
        rt_free(ic->status_msg);
        ic->status_msg = rt_malloc(es->message.len + 1);
        if (!ic->status_msg) return PW_GRPC_RESOURCE_EXHAUSTED;
        memcpy(ic->status_msg, srv_chars(es->message), es->message.len);
        ic->status_msg[es->message.len] = 0;
        ic->finish_pending = true;
    }
    return PW_GRPC_OK;
}

/* Decodes a StreamingOutputCallRequest and queues it; false after ending the call. */
static bool queue_message(interop_call *ic, const uint8_t *msg, size_t len)
{
    pwm_grpc_testing_StreamingOutputCallRequest r;
    pw_msg_arena a;
    if (srv_msg_decode(ic->call, &pwm_grpc_testing_StreamingOutputCallRequest_desc, &r, msg, len,
                       &a) < 0) {
        ic_free(ic);
        return false;
    }
    pw_grpc_status st = queue_request(ic, &r);
    pw_msg_arena_deinit(&a);
    if (st == PW_GRPC_OK) return true;
    pw_grpc_call_finish(ic->call, st, "out of memory");
    ic_free(ic);
    return false;
}

static void streaming_output(pw_grpc_call *c, const uint8_t *msg, size_t len)
{
    interop_call *ic = ic_get(c);
    if (!ic) {
        pw_grpc_call_finish(c, PW_GRPC_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    if (!queue_message(ic, msg, len)) return;
    ic->finish_pending = true; /* with ic->status (OK unless echoed) once the queue drains */
    ic_pump(ic);
}

static void duplex_message(pw_grpc_call *c, const uint8_t *msg, size_t len)
{
    interop_call *ic = ic_get(c);
    if (!ic) {
        pw_grpc_call_finish(c, PW_GRPC_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    if (!queue_message(ic, msg, len)) return;
    if (!ic->half_duplex) ic_pump(ic);
}

static void half_duplex_start(pw_grpc_call *c)
{
    echo_metadata(c);
    interop_call *ic = ic_get(c);
    if (ic) ic->half_duplex = true;
}

static void duplex_half_close(pw_grpc_call *c)
{
    interop_call *ic = ic_get(c);
    if (!ic) {
        pw_grpc_call_finish(c, PW_GRPC_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    ic->half_closed = true;
    ic->half_duplex = false;
    ic->finish_pending = true;
    ic_pump(ic);
}

static void streaming_input(pw_grpc_call *c, const uint8_t *msg, size_t len)
{
    interop_call *ic = ic_get(c);
    if (!ic) {
        pw_grpc_call_finish(c, PW_GRPC_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    pwm_grpc_testing_StreamingInputCallRequest r;
    pw_msg_arena a;
    if (srv_msg_decode(c, &pwm_grpc_testing_StreamingInputCallRequest_desc, &r, msg, len, &a) < 0) {
        ic_free(ic);
        return;
    }
    if (r.payload) ic->aggregated += (int64_t)r.payload->body.len;
    bool expect = bool_value(r.expect_compressed);
    pw_msg_arena_deinit(&a);
    if (expect && !pw_grpc_call_request_compressed(c)) {
        pw_grpc_call_finish(c, PW_GRPC_INVALID_ARGUMENT, "expected a compressed request");
        ic_free(ic);
    }
}

static void streaming_input_done(pw_grpc_call *c)
{
    interop_call *ic = ic_get(c);
    int64_t total = ic ? ic->aggregated : 0;
    pwm_grpc_testing_StreamingInputCallResponse out = {.aggregated_payload_size = (int32_t)total};
    srv_msg_reply(c, &pwm_grpc_testing_StreamingInputCallResponse_desc, &out);
    if (ic) ic_free(ic);
}

static void on_cancel(pw_grpc_call *c, pw_grpc_status st)
{
    interop_call *ic = pw_grpc_call_user(c);
    if (ic) ic_free(ic);
}

static void on_writable(pw_grpc_call *c)
{
    interop_call *ic = pw_grpc_call_user(c);
    if (ic) ic_pump(ic);
}

int srv_interop_init(size_t max_message_bytes)
{
    g_zeros_len = max_message_bytes;
    g_zeros = rt_calloc(1, g_zeros_len ? g_zeros_len : 1);
    if (!g_zeros) return -ENOMEM;
    snprintf(g_server_id, sizeof g_server_id, "ringq-interop-%d", (int)getpid());
    if (gethostname(g_hostname, sizeof g_hostname - 1) != 0) strcpy(g_hostname, "localhost");
    return 0;
}

int srv_interop_add_methods(pw_grpc_server *s)
{
    static const pw_grpc_method m[] = {
        {.path = pwm_grpc_testing_TestService_EmptyCall_PATH,
         .kind = PW_GRPC_UNARY,
         .on_start = on_start,
         .on_message = empty_call},
        {.path = pwm_grpc_testing_TestService_UnaryCall_PATH,
         .kind = PW_GRPC_UNARY,
         .on_start = on_start,
         .on_message = unary_call},
        {.path = pwm_grpc_testing_TestService_CacheableUnaryCall_PATH,
         .kind = PW_GRPC_UNARY,
         .on_start = on_start,
         .on_message = unary_call},
        {.path = pwm_grpc_testing_TestService_StreamingOutputCall_PATH,
         .kind = PW_GRPC_SERVER_STREAMING,
         .on_start = on_start,
         .on_message = streaming_output,
         .on_cancel = on_cancel,
         .on_writable = on_writable},
        {.path = pwm_grpc_testing_TestService_StreamingInputCall_PATH,
         .kind = PW_GRPC_CLIENT_STREAMING,
         .on_start = on_start,
         .on_message = streaming_input,
         .on_half_close = streaming_input_done,
         .on_cancel = on_cancel},
        {.path = pwm_grpc_testing_TestService_FullDuplexCall_PATH,
         .kind = PW_GRPC_BIDI_STREAMING,
         .on_start = on_start,
         .on_message = duplex_message,
         .on_half_close = duplex_half_close,
         .on_cancel = on_cancel,
         .on_writable = on_writable},
        {.path = pwm_grpc_testing_TestService_HalfDuplexCall_PATH,
         .kind = PW_GRPC_BIDI_STREAMING,
         .on_start = half_duplex_start,
         .on_message = duplex_message,
         .on_half_close = duplex_half_close,
         .on_cancel = on_cancel,
         .on_writable = on_writable},
    };
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) {
        int r = pw_grpc_server_add_method(s, &m[i]);
        if (r < 0) return r;
    }
    return 0;
}
