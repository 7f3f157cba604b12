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
#include "server/srv_interop.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/ev_reactor.h"
#include "core/rt_clock.h"
#include "proto_wire/pw_pb.h"
#include "server/srv_runtime.h"

static uint8_t *g_zeros;   /* read-only zero bytes for payload bodies */
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
    bool waited;        /* the head item's interval has elapsed */
    bool half_duplex;
    bool half_closed;
    bool finish_pending;
    pw_grpc_status status;
    char *status_msg;
    int64_t aggregated;  /* StreamingInputCall */
    resp_item *q;
    size_t qhead, qlen, qcap;
} interop_call;

/* ---- parsing helpers ---- */

static bool bool_value(pw_pb_bytes b)
{
    pw_pb_reader r;
    pw_pb_field f;
    pw_pb_reader_init(&r, b.ptr, b.len);
    while (pw_pb_next(&r, &f) == 1)
        if (f.num == 1 && f.wt == PW_PB_WT_VARINT) return f.u64 != 0;
    return false;
}

static size_t payload_body_len(pw_pb_bytes b)
{
    pw_pb_reader r;
    pw_pb_field f;
    pw_pb_reader_init(&r, b.ptr, b.len);
    while (pw_pb_next(&r, &f) == 1)
        if (f.num == 2 && f.wt == PW_PB_WT_LEN) return f.bytes.len;
    return 0;
}

typedef struct echo_status {
    bool set;
    int32_t code;
    pw_pb_bytes message;
} echo_status;

static echo_status parse_echo_status(pw_pb_bytes b)
{
    echo_status es = {.set = true, .code = 0, .message = {(const uint8_t *)"", 0}};
    pw_pb_reader r;
    pw_pb_field f;
    pw_pb_reader_init(&r, b.ptr, b.len);
    while (pw_pb_next(&r, &f) == 1) {
        if (f.num == 1 && f.wt == PW_PB_WT_VARINT) es.code = pw_pb_as_int32(f.u64);
        else if (f.num == 2 && f.wt == PW_PB_WT_LEN) es.message = f.bytes;
    }
    return es;
}

/* Finishes with an echoed status (code clamped into the valid range). */
static void finish_echo(pw_grpc_call *c, const echo_status *es)
{
    char msg[4096];
    size_t n = es->message.len < sizeof msg - 1 ? es->message.len : sizeof msg - 1;
    memcpy(msg, es->message.ptr, n);
    msg[n] = 0;
    int code = es->code;
    if (code < 0 || code > PW_GRPC_STATUS_MAX) code = PW_GRPC_UNKNOWN;
    pw_grpc_call_finish(c, (pw_grpc_status)code, msg);
}

static int put_payload(buf *b, uint32_t field, int32_t size)
{
    pw_pb_mark m;
    int r = pw_pb_submsg_begin(b, field, &m);
    if (r == 0 && size > 0) r = pw_pb_put_bytes(b, 2, g_zeros, (size_t)size);
    if (r == 0) r = pw_pb_submsg_end(b, &m);
    return r;
}

static void echo_metadata(pw_grpc_call *c)
{
    const pw_grpc_md *m = pw_grpc_call_find_metadata(c, "x-grpc-test-echo-initial");
    if (m) pw_grpc_call_add_initial_metadata(c, "x-grpc-test-echo-initial", m->value, m->value_len);
    m = pw_grpc_call_find_metadata(c, "x-grpc-test-echo-trailing-bin");
    if (m) pw_grpc_call_add_trailing_metadata(c, "x-grpc-test-echo-trailing-bin", m->value, m->value_len);
}

/* ---- unary ---- */

static void on_start(pw_grpc_call *c) { echo_metadata(c); }

static void empty_call(pw_grpc_call *c, const uint8_t *msg, size_t len)
{
    pw_grpc_call_send(c, (const uint8_t *)"", 0, 0);
    pw_grpc_call_finish(c, PW_GRPC_OK, NULL);
}

static void unary_call(pw_grpc_call *c, const uint8_t *msg, size_t len)
{
    pw_pb_reader r;
    pw_pb_field f;
    int32_t size = 0;
    bool compressed = false, expect_compressed = false, fill_id = false;
    echo_status es = {0};
    int rc;
    pw_pb_reader_init(&r, msg, len);
    while ((rc = pw_pb_next(&r, &f)) == 1) {
        if (f.num == 2 && f.wt == PW_PB_WT_VARINT) size = pw_pb_as_int32(f.u64);
        else if (f.num == 6 && f.wt == PW_PB_WT_LEN) compressed = bool_value(f.bytes);
        else if (f.num == 7 && f.wt == PW_PB_WT_LEN) es = parse_echo_status(f.bytes);
        else if (f.num == 8 && f.wt == PW_PB_WT_LEN) expect_compressed = bool_value(f.bytes);
        else if (f.num == 9 && f.wt == PW_PB_WT_VARINT) fill_id = f.u64 != 0;
    }
    if (rc < 0) {
        pw_grpc_call_finish(c, PW_GRPC_INVALID_ARGUMENT, "malformed SimpleRequest");
        return;
    }
    if (expect_compressed && !pw_grpc_call_request_compressed(c)) {
        pw_grpc_call_finish(c, PW_GRPC_INVALID_ARGUMENT, "expected a compressed request");
        return;
    }
    if (es.set && es.code != 0) {
        finish_echo(c, &es);
        return;
    }
    if (size < 0 || (size_t)size > g_zeros_len) {
        pw_grpc_call_finish(c, PW_GRPC_INVALID_ARGUMENT, "response_size out of range");
        return;
    }
    if (compressed) pw_grpc_call_set_compress(c, true);
    buf *b = pw_grpc_call_send_begin(c);
    if (!b) return;
    int er = put_payload(b, 1, size);
    if (er == 0 && fill_id) er = pw_pb_put_string(b, 4, g_server_id, strlen(g_server_id));
    if (er == 0) er = pw_pb_put_string(b, 6, g_hostname, strlen(g_hostname));
    int sr = pw_grpc_call_send_commit(c, 0);
    if (er != 0 || sr == -EMSGSIZE) {
        pw_grpc_call_finish(c, PW_GRPC_RESOURCE_EXHAUSTED, "response larger than the limit");
        return;
    }
    if (es.set) finish_echo(c, &es);
    else pw_grpc_call_finish(c, PW_GRPC_OK, NULL);
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
    ic = calloc(1, sizeof *ic);
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
    free(ic->q);
    free(ic->status_msg);
    free(ic);
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
            resp_item *nq = realloc(ic->q, nc * sizeof *nq);
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
                ev_timer_start(loop, &ic->timer, ev_loop_now(loop) + (uint64_t)it->interval_us * 1000u);
            return;
        }
        if (it->size < 0 || (size_t)it->size > g_zeros_len) {
            pw_grpc_call_finish(c, PW_GRPC_INVALID_ARGUMENT, "response size out of range");
            break;
        }
        buf *b = pw_grpc_call_send_begin(c);
        if (!b) return; /* -ENOBUFS: on_writable resumes; or the call ended */
        put_payload(b, 1, it->size);
        int r = pw_grpc_call_send_commit(c, it->compressed == 1 ? 0 : PW_GRPC_SEND_NO_COMPRESS);
        if (r == -EMSGSIZE) {
            pw_grpc_call_finish(c, PW_GRPC_RESOURCE_EXHAUSTED, "response larger than the limit");
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

/* Parses a StreamingOutputCallRequest into the queue. Returns 0 or a status to fail with. */
static pw_grpc_status queue_request(interop_call *ic, const uint8_t *msg, size_t len)
{
    pw_pb_reader r;
    pw_pb_field f;
    int rc;
    pw_pb_reader_init(&r, msg, len);
    while ((rc = pw_pb_next(&r, &f)) == 1) {
        if (f.num == 2 && f.wt == PW_PB_WT_LEN) {
            resp_item it = {.size = 0, .interval_us = 0, .compressed = -1};
            pw_pb_reader pr;
            pw_pb_field pf;
            pw_pb_reader_init(&pr, f.bytes.ptr, f.bytes.len);
            while (pw_pb_next(&pr, &pf) == 1) {
                if (pf.num == 1 && pf.wt == PW_PB_WT_VARINT) it.size = pw_pb_as_int32(pf.u64);
                else if (pf.num == 2 && pf.wt == PW_PB_WT_VARINT) it.interval_us = pw_pb_as_int32(pf.u64);
                else if (pf.num == 3 && pf.wt == PW_PB_WT_LEN) it.compressed = bool_value(pf.bytes);
            }
            if (ic_push(ic, it) < 0) return PW_GRPC_RESOURCE_EXHAUSTED;
            if (it.compressed == 1) pw_grpc_call_set_compress(ic->call, true);
        } else if (f.num == 7 && f.wt == PW_PB_WT_LEN) {
            echo_status es = parse_echo_status(f.bytes);
            if (es.code != 0) {
                ic->status = es.code < 0 || es.code > PW_GRPC_STATUS_MAX ? PW_GRPC_UNKNOWN : (pw_grpc_status)es.code;
                free(ic->status_msg);
                ic->status_msg = strndup((const char *)es.message.ptr, es.message.len);
                ic->finish_pending = true;
            }
        }
    }
    return rc < 0 ? PW_GRPC_INVALID_ARGUMENT : PW_GRPC_OK;
}

static void streaming_output(pw_grpc_call *c, const uint8_t *msg, size_t len)
{
    interop_call *ic = ic_get(c);
    if (!ic) {
        pw_grpc_call_finish(c, PW_GRPC_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    pw_grpc_status st = queue_request(ic, msg, len);
    if (st != PW_GRPC_OK) {
        pw_grpc_call_finish(c, st, "malformed StreamingOutputCallRequest");
        ic_free(ic);
        return;
    }
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
    bool had_status = ic->finish_pending;
    pw_grpc_status st = queue_request(ic, msg, len);
    if (st != PW_GRPC_OK) {
        pw_grpc_call_finish(c, st, "malformed StreamingOutputCallRequest");
        ic_free(ic);
        return;
    }
    (void)had_status;
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
    pw_pb_reader r;
    pw_pb_field f;
    pw_pb_reader_init(&r, msg, len);
    while (pw_pb_next(&r, &f) == 1) {
        if (f.num == 1 && f.wt == PW_PB_WT_LEN) ic->aggregated += (int64_t)payload_body_len(f.bytes);
        else if (f.num == 2 && f.wt == PW_PB_WT_LEN && bool_value(f.bytes) &&
                 !pw_grpc_call_request_compressed(c)) {
            pw_grpc_call_finish(c, PW_GRPC_INVALID_ARGUMENT, "expected a compressed request");
            ic_free(ic);
            return;
        }
    }
}

static void streaming_input_done(pw_grpc_call *c)
{
    interop_call *ic = ic_get(c);
    int64_t total = ic ? ic->aggregated : 0;
    buf *b = pw_grpc_call_send_begin(c);
    if (b) {
        pw_pb_put_int32(b, 1, (int32_t)total);
        pw_grpc_call_send_commit(c, 0);
    }
    pw_grpc_call_finish(c, PW_GRPC_OK, NULL);
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
    g_zeros = calloc(1, g_zeros_len ? g_zeros_len : 1);
    if (!g_zeros) return -ENOMEM;
    snprintf(g_server_id, sizeof g_server_id, "ringq-interop-%d", (int)getpid());
    if (gethostname(g_hostname, sizeof g_hostname - 1) != 0) strcpy(g_hostname, "localhost");
    return 0;
}

int srv_interop_add_methods(pw_grpc_server *s)
{
    static const pw_grpc_method m[] = {
        {.path = "/grpc.testing.TestService/EmptyCall", .kind = PW_GRPC_UNARY,
         .on_start = on_start, .on_message = empty_call},
        {.path = "/grpc.testing.TestService/UnaryCall", .kind = PW_GRPC_UNARY,
         .on_start = on_start, .on_message = unary_call},
        {.path = "/grpc.testing.TestService/CacheableUnaryCall", .kind = PW_GRPC_UNARY,
         .on_start = on_start, .on_message = unary_call},
        {.path = "/grpc.testing.TestService/StreamingOutputCall", .kind = PW_GRPC_SERVER_STREAMING,
         .on_start = on_start, .on_message = streaming_output, .on_cancel = on_cancel,
         .on_writable = on_writable},
        {.path = "/grpc.testing.TestService/StreamingInputCall", .kind = PW_GRPC_CLIENT_STREAMING,
         .on_start = on_start, .on_message = streaming_input, .on_half_close = streaming_input_done,
         .on_cancel = on_cancel},
        {.path = "/grpc.testing.TestService/FullDuplexCall", .kind = PW_GRPC_BIDI_STREAMING,
         .on_start = on_start, .on_message = duplex_message, .on_half_close = duplex_half_close,
         .on_cancel = on_cancel, .on_writable = on_writable},
        {.path = "/grpc.testing.TestService/HalfDuplexCall", .kind = PW_GRPC_BIDI_STREAMING,
         .on_start = half_duplex_start, .on_message = duplex_message,
         .on_half_close = duplex_half_close, .on_cancel = on_cancel, .on_writable = on_writable},
    };
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) {
        int r = pw_grpc_server_add_method(s, &m[i]);
        if (r < 0) return r;
    }
    return 0;
}
