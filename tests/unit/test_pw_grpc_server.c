/* Unit tests for proto_wire/pw_grpc_server and pw_grpc_call: a pw_h2 client session talks to a
 * pw_grpc_conn through memory (no sockets), and the tests check statuses, trailers, framing,
 * deadlines, cancellation and asynchronous answers. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rt_alloc.h"
#include "proto_wire/pw_grpc_msg.h"
#include "proto_wire/pw_grpc_server_int.h"
#include "proto_wire/pw_grpc_server.h"
#include "proto_wire/pw_gzip.h"
#include "proto_wire/pw_h2.h"
#include "ts_main.h"

/* ---- what the client saw ---- */
typedef struct resp {
    char status[8];      /* :status */
    char grpc_status[8]; /* from trailers (or trailers-only headers) */
    char grpc_message[256];
    char echo_md[64];
    uint8_t body[1 << 20];
    size_t body_len;
    bool closed;
    uint32_t close_code;
} resp;

static resp R[8];
static pw_h2_session *C;
static pw_grpc_conn *G;
static pw_grpc_server *SRV;
static uint64_t NOW = 1000000000ull;

static void copy_hdr(char *dst, size_t cap, const pw_h2_header *h)
{
    size_t n = h->value_len < cap - 1 ? h->value_len : cap - 1;
    memcpy(dst, h->value, n);
    dst[n] = 0;
}

static int c_on_headers(void *ud, uint32_t sid, const pw_h2_header *h, size_t n, unsigned flags)
{
    resp *r = &R[(sid - 1) / 2];
    for (size_t i = 0; i < n; i++) {
        if (h[i].name_len == 7 && !memcmp(h[i].name, ":status", 7))
            copy_hdr(r->status, sizeof r->status, &h[i]);
        if (h[i].name_len == 11 && !memcmp(h[i].name, "grpc-status", 11))
            copy_hdr(r->grpc_status, sizeof r->grpc_status, &h[i]);
        if (h[i].name_len == 12 && !memcmp(h[i].name, "grpc-message", 12))
            copy_hdr(r->grpc_message, sizeof r->grpc_message, &h[i]);
        if (h[i].name_len == 6 && !memcmp(h[i].name, "x-echo", 6))
            copy_hdr(r->echo_md, sizeof r->echo_md, &h[i]);
    }
    return 0;
}

static int c_on_data(void *ud, uint32_t sid, const uint8_t *p, size_t n, bool end)
{
    resp *r = &R[(sid - 1) / 2];
    ck_assert(r->body_len + n <= sizeof r->body);
    memcpy(r->body + r->body_len, p, n);
    r->body_len += n;
    pw_h2_consume(C, sid, n);
    return 0;
}

static void c_on_close(void *ud, uint32_t sid, uint32_t code)
{
    R[(sid - 1) / 2].closed = true;
    R[(sid - 1) / 2].close_code = code;
}

/* Moves bytes both ways until neither side has output. */
static void pump(void)
{
    for (int round = 0; round < 100; round++) {
        const uint8_t *p;
        size_t n;
        bool moved = false;
        pw_h2_session_output(C, &p, &n);
        if (n) {
            ck_assert_int_eq(pw_grpc_conn_recv(G, p, n, NOW), (ssize_t)n);
            pw_h2_session_output_consume(C, n);
            moved = true;
        }
        n = pw_grpc_conn_output(G, &p);
        if (n) {
            ck_assert_int_ge(pw_h2_session_recv(C, p, n, NOW), 0);
            pw_grpc_conn_output_consume(G, n);
            moved = true;
        }
        if (!moved) return;
    }
    ck_abort_msg("pump did not settle");
}

/* ---- handlers ---- */
static pw_grpc_call *held; /* a call answered later */
static int cancels;
static pw_grpc_status cancel_status;

static pw_grpc_call *last_echo; /* the call the last Echo ran in */
static void echo(pw_grpc_call *c, const uint8_t *msg, size_t len)
{
    last_echo = c;
    const pw_grpc_md *md = pw_grpc_call_find_metadata(c, "x-echo");
    if (md) pw_grpc_call_add_initial_metadata(c, "x-echo", md->value, md->value_len);
    pw_grpc_call_send(c, msg, len, 0);
    pw_grpc_call_finish(c, PW_GRPC_OK, NULL);
}

static void failing(pw_grpc_call *c, const uint8_t *msg, size_t len)
{
    pw_grpc_call_finish(c, PW_GRPC_NOT_FOUND, "no such thing: 100% \xe2\x98\xba");
}

static void later(pw_grpc_call *c, const uint8_t *msg, size_t len)
{
    pw_grpc_call_ref(c);
    held = c;
}

static void on_cancel(pw_grpc_call *c, pw_grpc_status st)
{
    cancels++;
    cancel_status = st;
}

static void stream_sum(pw_grpc_call *c, const uint8_t *msg, size_t len)
{
    uintptr_t sum = (uintptr_t)pw_grpc_call_user(c) + len;
    pw_grpc_call_set_user(c, (void *)sum);
}

static void stream_done(pw_grpc_call *c)
{
    char b[32];
    int n = snprintf(b, sizeof b, "%lu", (unsigned long)(uintptr_t)pw_grpc_call_user(c));
    pw_grpc_call_send(c, (const uint8_t *)b, (size_t)n, 0);
    pw_grpc_call_finish(c, PW_GRPC_OK, NULL);
}

/* Begins a message, writes half of something, aborts it (an encode that failed), then sends
 * the real answer: the client must see only that one message. */
static void aborted_then_sent(pw_grpc_call *c, const uint8_t *msg, size_t len)
{
    buf *b = pw_grpc_call_send_begin(c);
    ck_assert_ptr_nonnull(b);
    ck_assert_int_eq(buf_append(b, "half-written", 12), 0);
    pw_grpc_call_send_abort(c);
    pw_grpc_call_send_abort(c);                                /* outside begin/commit: no-op */
    ck_assert_int_eq(pw_grpc_call_send_commit(c, 0), -EINVAL); /* nothing begun */
    ck_assert_int_eq(pw_grpc_call_send(c, msg, len, 0), 0);
    pw_grpc_call_finish(c, PW_GRPC_OK, NULL);
}

static int notified;
static void on_notify(void *user) { notified++; }

static void setup(void)
{
    notified = 0;
    memset(R, 0, sizeof R);
    held = NULL;
    cancels = 0;
    pw_grpc_server_config cfg = {.max_recv_message_bytes = 4096};
    SRV = pw_grpc_server_create(&cfg);
    pw_grpc_method m[] = {
        {.path = "/t.S/Echo", .kind = PW_GRPC_UNARY, .on_message = echo},
        {.path = "/t.S/Fail", .kind = PW_GRPC_UNARY, .on_message = failing},
        {.path = "/t.S/Later", .kind = PW_GRPC_UNARY, .on_message = later, .on_cancel = on_cancel},
        {.path = "/t.S/Sum",
         .kind = PW_GRPC_CLIENT_STREAMING,
         .on_message = stream_sum,
         .on_half_close = stream_done},
        {.path = "/t.S/Abort", .kind = PW_GRPC_UNARY, .on_message = aborted_then_sent},
    };
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++)
        ck_assert_int_eq(pw_grpc_server_add_method(SRV, &m[i]), 0);
    ck_assert_int_eq(pw_grpc_server_add_method(SRV, &m[0]), -EEXIST);
    G = pw_grpc_conn_create(SRV, NOW);
    pw_grpc_conn_set_notify(G, on_notify);
    static const pw_h2_callbacks cb = {
        .on_headers = c_on_headers, .on_data = c_on_data, .on_stream_close = c_on_close};
    C = pw_h2_session_create(PW_H2_ROLE_CLIENT, NULL, &cb, NULL);
    pump();
}

static void teardown(void)
{
    if (held) pw_grpc_call_unref(held);
    held = NULL;
    pw_h2_session_destroy(C);
    pw_grpc_conn_destroy(G);
    pw_grpc_server_destroy(SRV);
}

static uint32_t request(const char *path, const char *ctype, const char *extra_name,
                        const char *extra_value, const uint8_t *body, size_t len, bool end)
{
    pw_h2_header h[8] = {PW_H2_HDR(":method", "POST"),
                         PW_H2_HDR(":scheme", "http"),
                         {":path", 5, path, strlen(path), 0},
                         PW_H2_HDR(":authority", "x"),
                         {"content-type", 12, ctype, strlen(ctype), 0},
                         PW_H2_HDR("te", "trailers")};
    size_t n = 6;
    if (extra_name)
        h[n++] = (pw_h2_header){extra_name, strlen(extra_name), extra_value, strlen(extra_value),
                                0};
    int64_t sid = pw_h2_submit_request(C, h, n, false, NULL);
    ck_assert_int_gt(sid, 0);
    ck_assert_int_eq(pw_h2_submit_data(C, (uint32_t)sid, body, len, end), (ssize_t)len);
    return (uint32_t)sid;
}

static size_t frame(uint8_t *out, const char *msg, bool compressed)
{
    size_t n = strlen(msg);
    out[0] = compressed;
    out[1] = (uint8_t)(n >> 24);
    out[2] = (uint8_t)(n >> 16);
    out[3] = (uint8_t)(n >> 8);
    out[4] = (uint8_t)n;
    memcpy(out + 5, msg, n);
    return n + 5;
}

START_TEST(unary_echo_with_metadata)
{
    uint8_t b[64];
    size_t n = frame(b, "hello", false);
    request("/t.S/Echo", "application/grpc", "x-echo", "v1", b, n, true);
    pump();
    ck_assert_str_eq(R[0].status, "200");
    ck_assert_str_eq(R[0].grpc_status, "0");
    ck_assert_str_eq(R[0].echo_md, "v1");
    ck_assert_uint_eq(R[0].body_len, n);
    ck_assert_mem_eq(R[0].body, b, n);
    ck_assert(R[0].closed);
}
END_TEST

START_TEST(send_abort_drops_the_begun_message)
{
    uint8_t b[64];
    size_t n = frame(b, "answer", false);
    request("/t.S/Abort", "application/grpc", NULL, NULL, b, n, true);
    pump();
    ck_assert_str_eq(R[0].grpc_status, "0");
    ck_assert_uint_eq(R[0].body_len, n);
    ck_assert_mem_eq(R[0].body, b, n);
}
END_TEST

START_TEST(errors_by_status)
{
    uint8_t b[64];
    size_t n = frame(b, "x", false);
    request("/t.S/Nope", "application/grpc", NULL, NULL, b, n, true);                /* stream 1 */
    request("/t.S/Echo", "text/plain", NULL, NULL, b, n, true);                      /* 3: 415 */
    request("/t.S/Fail", "application/grpc+proto", NULL, NULL, b, n, true);          /* 5 */
    request("/t.S/Echo", "application/grpc", "grpc-encoding", "snappy", b, n, true); /* 7 */
    pump();
    ck_assert_str_eq(R[0].grpc_status, "12");
    ck_assert_str_eq(R[1].status, "415");
    ck_assert_str_eq(R[2].grpc_status, "5");
    /* Percent-encoded: '%' and the non-ASCII bytes. */
    ck_assert_str_eq(R[2].grpc_message, "no such thing: 100%25 %E2%98%BA");
    ck_assert_str_eq(R[3].grpc_status, "12");
}
END_TEST

START_TEST(message_limits_and_framing)
{
    static uint8_t big[5000 + 5];
    memset(big, 'a', sizeof big);
    big[0] = 0;
    big[1] = 0;
    big[2] = 0;
    big[3] = (uint8_t)(5000 >> 8);
    big[4] = (uint8_t)(5000 & 0xff);
    request("/t.S/Echo", "application/grpc", NULL, NULL, big, sizeof big, true); /* > 4096 */
    uint8_t b[64];
    size_t n = frame(b, "abc", false);
    request("/t.S/Echo", "application/grpc", NULL, NULL, b, n - 1, true); /* truncated */
    request("/t.S/Echo", "application/grpc", NULL, NULL, b, n, false);    /* no END_STREAM */
    n = frame(b, "abc", true);                                            /* flag, no encoding */
    request("/t.S/Echo", "application/grpc", NULL, NULL, b, n, true);
    pump();
    ck_assert_str_eq(R[0].grpc_status, "8");
    ck_assert_str_eq(R[1].grpc_status, "13");
    ck_assert_str_eq(R[2].grpc_status, ""); /* waiting for the client to finish */
    ck_assert_str_eq(R[3].grpc_status, "13");
    ck_assert_uint_eq(pw_grpc_conn_active_calls(G), 1);
}
END_TEST

START_TEST(gzip_request)
{
    pw_gzip_ctx z;
    pw_gzip_ctx_init(&z, -1);
    buf out;
    buf_init(&out, 1 << 20);
    ck_assert_int_eq(pw_gzip_compress(&z, (const uint8_t *)"squeeze", 7, &out), 0);
    uint8_t b[256];
    size_t n = buf_size(&out);
    b[0] = 1;
    b[1] = b[2] = b[3] = 0;
    b[4] = (uint8_t)n;
    memcpy(b + 5, buf_begin(&out), n);
    request("/t.S/Echo", "application/grpc", "grpc-encoding", "gzip", b, n + 5, true);
    pump();
    ck_assert_str_eq(R[0].grpc_status, "0");
    ck_assert_uint_eq(R[0].body_len, 12);
    ck_assert_mem_eq(R[0].body + 5, "squeeze", 7); /* answered uncompressed: not asked */
    buf_deinit(&out);
    pw_gzip_ctx_deinit(&z);
}
END_TEST

START_TEST(client_streaming_split_frames)
{
    uint8_t b[64];
    size_t n1 = frame(b, "12345", false);
    size_t n2 = frame(b + n1, "678", false);
    int64_t sid;
    pw_h2_header h[] = {PW_H2_HDR(":method", "POST"), PW_H2_HDR(":scheme", "http"),
                        PW_H2_HDR(":path", "/t.S/Sum"), PW_H2_HDR(":authority", "x"),
                        PW_H2_HDR("content-type", "application/grpc")};
    sid = pw_h2_submit_request(C, h, 5, false, NULL);
    /* One byte per DATA frame: messages reassembled across frames. */
    for (size_t i = 0; i < n1 + n2; i++) {
        ck_assert_int_eq(pw_h2_submit_data(C, (uint32_t)sid, b + i, 1, i + 1 == n1 + n2), 1);
        pump();
    }
    ck_assert_str_eq(R[0].grpc_status, "0");
    ck_assert_uint_eq(R[0].body_len, 6);
    ck_assert_mem_eq(R[0].body + 5, "8", 1);
}
END_TEST

START_TEST(answer_later_and_deadline)
{
    uint8_t b[64];
    size_t n = frame(b, "x", false);
    request("/t.S/Later", "application/grpc", NULL, NULL, b, n, true);
    pump();
    ck_assert_ptr_nonnull(held);
    ck_assert_str_eq(R[0].grpc_status, "");
    pw_grpc_call_send(held, (const uint8_t *)"ok", 2, 0);
    pw_grpc_call_finish(held, PW_GRPC_OK, NULL);
    pump();
    ck_assert_str_eq(R[0].grpc_status, "0");
    pw_grpc_call_unref(held);
    held = NULL;
    /* A deadline: 100 ms. */
    request("/t.S/Later", "application/grpc", "grpc-timeout", "100m", b, n, true);
    pump();
    uint64_t dl = pw_grpc_conn_next_deadline(G);
    ck_assert_uint_eq(dl, NOW + 100000000ull);
    pw_grpc_conn_expire(G, dl - 1);
    pump();
    ck_assert_str_eq(R[1].grpc_status, "");
    pw_grpc_conn_expire(G, dl);
    pump();
    ck_assert_str_eq(R[1].grpc_status, "4");
    ck_assert_int_eq(cancels, 1);
    ck_assert_int_eq(cancel_status, PW_GRPC_DEADLINE_EXCEEDED);
    ck_assert(pw_grpc_call_done(held));
    ck_assert_int_eq(pw_grpc_call_send(held, (const uint8_t *)"late", 4, 0), -ECANCELED);
}
END_TEST

/* END_STREAM on a separate empty DATA frame (what grpcio sends), answered later with an error:
 * a trailers-only response must still go out. */
START_TEST(late_error_after_empty_end_stream)
{
    uint8_t b[64];
    size_t n = frame(b, "x", false);
    uint32_t sid = request("/t.S/Later", "application/grpc", NULL, NULL, b, n, false);
    pump();
    ck_assert_ptr_null(held);
    ck_assert_int_eq(pw_h2_submit_data(C, sid, (const uint8_t *)"", 0, true), 0);
    pump();
    ck_assert_ptr_nonnull(held);
    notified = 0;
    pw_grpc_call_finish(held, PW_GRPC_INVALID_ARGUMENT, "bad");
    /* The stream closed inside the finish; the glue must still be told to flush. */
    ck_assert_int_ge(notified, 1);
    pump();
    ck_assert_str_eq(R[0].grpc_status, "3");
    ck_assert(R[0].closed);
}
END_TEST

/* A large answer sent later: more than the stream's pending cap, so it is pumped out in pieces
 * as the window and the pending queue allow; the bytes must arrive once, in order. */
START_TEST(large_late_answer_arrives_intact)
{
    uint8_t b[64];
    size_t n = frame(b, "x", false);
    request("/t.S/Later", "application/grpc", NULL, NULL, b, n, true);
    pump();
    ck_assert_ptr_nonnull(held);
    static uint8_t big[70000];
    for (size_t i = 0; i < sizeof big; i++) big[i] = (uint8_t)(i * 7);
    ck_assert_int_eq(pw_grpc_call_send(held, big, sizeof big, 0), 0);
    pw_grpc_call_finish(held, PW_GRPC_OK, NULL);
    pump();
    ck_assert_str_eq(R[0].grpc_status, "0");
    ck_assert_uint_eq(R[0].body_len, sizeof big + 5);
    ck_assert_mem_eq(R[0].body + 5, big, sizeof big);
}
END_TEST

START_TEST(cancel_by_rst_reaches_handler)
{
    uint8_t b[64];
    size_t n = frame(b, "x", false);
    uint32_t sid = request("/t.S/Later", "application/grpc", NULL, NULL, b, n, true);
    pump();
    ck_assert_ptr_nonnull(held);
    ck_assert_int_eq(pw_h2_submit_rst(C, sid, 8 /* CANCEL */), 0);
    pump();
    ck_assert_int_eq(cancels, 1);
    ck_assert_int_eq(cancel_status, PW_GRPC_CANCELLED);
    ck_assert(pw_grpc_call_done(held));
    ck_assert_int_eq(pw_grpc_call_finish(held, PW_GRPC_OK, NULL), -ECANCELED);
}
END_TEST

/* ---- plain (non-gRPC) requests and answered-RPC counts ---- */

static uint32_t later_sid; /* the plain request left for later */
static void plain(void *user, const pw_grpc_plain_req *rq, pw_grpc_plain_resp *rs)
{
    if (rq->path_len == 4 && !memcmp(rq->path, "/big", 4)) {
        buf_append(&rs->body, "dropped", 7);
        rs->later = true;
        later_sid = rq->stream_id;
        return;
    }
    rs->status = 404;
    rs->ctype = "text/plain";
    buf_append(&rs->body, "not found\n", 10);
}

static uint32_t get(const char *method, const char *path)
{
    pw_h2_header h[4] = {{":method", 7, method, strlen(method), 0},
                         PW_H2_HDR(":scheme", "http"),
                         {":path", 5, path, strlen(path), 0},
                         PW_H2_HDR(":authority", "x")};
    int64_t sid = pw_h2_submit_request(C, h, 4, true, NULL);
    ck_assert_int_gt(sid, 0);
    return (uint32_t)sid;
}

START_TEST(plain_requests_without_a_handler_keep_405)
{
    get("GET", "/healthz");
    pump();
    ck_assert_str_eq(R[0].status, "405");
}
END_TEST

START_TEST(plain_answers_now_later_and_large)
{
    pw_grpc_conn_set_plain(G, plain);
    get("GET", "/x");
    get("HEAD", "/x");
    uint32_t big = get("GET", "/big");
    get("GET", "/t.S/Echo"); /* a gRPC method's path: still gRPC's 405 */
    pump();
    ck_assert_str_eq(R[0].status, "404");
    ck_assert_uint_eq(R[0].body_len, 10);
    ck_assert_mem_eq(R[0].body, "not found\n", 10);
    ck_assert(R[0].closed);
    ck_assert_str_eq(R[1].status, "404");
    ck_assert_uint_eq(R[1].body_len, 0);
    ck_assert(R[1].closed);
    ck_assert_str_eq(R[2].status, "");
    ck_assert(!R[2].closed);
    ck_assert_uint_eq(later_sid, big);
    ck_assert_str_eq(R[3].status, "405");
    /* 300 kB: past the stream's pending cap and the client's initial window. */
    static uint8_t data[300000];
    for (size_t i = 0; i < sizeof data; i++) data[i] = (uint8_t)(i * 13);
    buf b;
    buf_init(&b, sizeof data);
    ck_assert_int_eq(buf_append(&b, data, sizeof data), 0);
    ck_assert_int_eq(pw_grpc_conn_plain_answer(G, big, 200, "text/plain", &b), 0);
    ck_assert_uint_eq(buf_size(&b), 0);
    pump();
    ck_assert_str_eq(R[2].status, "200");
    ck_assert_uint_eq(R[2].body_len, sizeof data);
    ck_assert_mem_eq(R[2].body, data, sizeof data);
    ck_assert(R[2].closed && R[2].close_code == 0);
    ck_assert_int_eq(pw_grpc_conn_plain_answer(G, big, 200, "text/plain", &b), -ENOENT);
    buf_deinit(&b);
}
END_TEST

START_TEST(plain_answer_after_reset_is_dropped)
{
    pw_grpc_conn_set_plain(G, plain);
    uint32_t big = get("GET", "/big");
    pump();
    ck_assert_int_eq(pw_h2_submit_rst(C, big, 8 /* CANCEL */), 0);
    pump();
    buf b;
    buf_init(&b, 64);
    buf_append(&b, "late", 4);
    ck_assert_int_eq(pw_grpc_conn_plain_answer(G, big, 200, "text/plain", &b), -ENOENT);
    ck_assert_uint_eq(buf_size(&b), 4);
    buf_deinit(&b);
}
END_TEST

static int done_method[16];
static pw_grpc_status done_status[16];
static int ndone;
static void on_done(void *user, int method_index, pw_grpc_status st)
{
    ck_assert_int_lt(ndone, 16);
    done_method[ndone] = method_index;
    done_status[ndone++] = st;
}

START_TEST(answered_rpcs_counted_once_each)
{
    ndone = 0;
    pw_grpc_conn_set_on_done(G, on_done);
    uint8_t b[64];
    size_t n = frame(b, "x", false);
    request("/t.S/Echo", "application/grpc", NULL, NULL, b, n, true);
    request("/t.S/Fail", "application/grpc", NULL, NULL, b, n, true);
    request("/t.S/Nope", "application/grpc", NULL, NULL, b, n, true);
    uint32_t sid = request("/t.S/Later", "application/grpc", NULL, NULL, b, n, true);
    pump();
    ck_assert_int_eq(ndone, 3);
    ck_assert_int_eq(pw_h2_submit_rst(C, sid, 8 /* CANCEL */), 0);
    pump();
    pw_grpc_call_finish(held, PW_GRPC_OK, NULL); /* too late: not counted again */
    ck_assert_int_eq(ndone, 4);
    int want_m[4] = {0, 1, -1, 2};
    pw_grpc_status want_s[4] = {PW_GRPC_OK, PW_GRPC_NOT_FOUND, PW_GRPC_UNIMPLEMENTED,
                                PW_GRPC_CANCELLED};
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(done_method[i], want_m[i]);
        ck_assert_int_eq(done_status[i], want_s[i]);
    }
}
END_TEST

/* One Echo on the connection (stream slot k of R), answered and closed; the allocations the
 * server side made meanwhile (the scripted client's included: the same for every Echo). */
static uint64_t echo_md_counted(int k, const char *md_name, const char *md_value)
{
    uint8_t b[64];
    size_t n = frame(b, "again", false);
    rt_alloc_test_start(0);
    request("/t.S/Echo", "application/grpc", md_name, md_value, b, n, true);
    pump();
    uint64_t allocs = rt_alloc_test_count();
    rt_alloc_test_stop();
    ck_assert_str_eq(R[k].grpc_status, "0");
    ck_assert(R[k].closed);
    return allocs;
}

static uint64_t echo_counted(int k) { return echo_md_counted(k, NULL, NULL); }

/* A finished call's memory serves the connection's next call while the connection has other
 * calls open (a Later held): the next Echo runs in the same memory and the cache holds it again
 * after; with no call left for PW_H2_IDLE_KEEP_MS the connection keeps nothing (and the cache is
 * thread-confined and capped by core/rt_cache, test_rt_cache). */
/* A client's requests repeat their headers: from the third (the first inserts into the HPACK
 * table, the second is all indexes and is kept decoded) the session names the list as the kept
 * one and the connection does not read it again; the call still gets its metadata. A request
 * with other headers is read (and refused) as before, and the next Echo, whose block changed
 * with the table, is read again. */
START_TEST(repeated_request_headers_are_read_once)
{
    uint8_t b[64];
    size_t n = frame(b, "hello", false);
    for (size_t i = 0; i < 3; i++) {
        request("/t.S/Echo", "application/grpc", "x-echo", "v1", b, n, true);
        pump();
        ck_assert_str_eq(R[i].grpc_status, "0");
        ck_assert_str_eq(R[i].echo_md, "v1");
        ck_assert_uint_eq(R[i].body_len, n);
        ck_assert_uint_eq(G->memo_hits, i == 2 ? 1 : 0);
    }
    request("/t.S/Nope", "application/grpc", "x-echo", "v1", b, n, true);
    pump();
    ck_assert_str_eq(R[3].grpc_status, "12");
    request("/t.S/Echo", "application/grpc", "x-echo", "v2", b, n, true);
    pump();
    ck_assert_str_eq(R[4].grpc_status, "0");
    ck_assert_str_eq(R[4].echo_md, "v2");
    ck_assert_uint_eq(G->memo_hits, 1);
}
END_TEST

/* With no call left, the connection lets the cached calls go once it opened none for
 * PW_H2_IDLE_KEEP_MS, at its next event (a deadline check here). */
static void idle_for_keep(void)
{
    NOW += (uint64_t)PW_H2_IDLE_KEEP_MS * 1000000u;
    pw_grpc_conn_expire(G, NOW);
}

START_TEST(finished_call_memory_serves_the_next)
{
    (void)echo_counted(0);
    ck_assert_uint_eq(G->call_cache.count, 1); /* kept: a call opened within the keep time */
    idle_for_keep();
    ck_assert_uint_eq(G->call_cache.count, 0); /* idle: let go */
    uint8_t b[64];
    size_t n = frame(b, "hold", false);
    request("/t.S/Later", "application/grpc", NULL, NULL, b, n, true);
    pump();
    ck_assert_ptr_nonnull(held);
    (void)echo_counted(2);
    ck_assert_uint_eq(G->call_cache.count, 1); /* the Echo's call, kept */
    pw_grpc_call *first = last_echo;
    uint64_t a = echo_counted(3);
    ck_assert_ptr_eq(last_echo, first); /* the same memory */
    ck_assert_uint_eq(G->call_cache.count, 1);
    uint64_t b2 = echo_counted(4);
    ck_assert_uint_eq(a, b2); /* steady */
    pw_grpc_call_finish(held, PW_GRPC_OK, NULL);
    pw_grpc_call_unref(held);
    held = NULL;
    pump();
    ck_assert(R[1].closed);
    ck_assert_uint_gt(G->call_cache.count, 0); /* no call left, but one opened just now */
    idle_for_keep();
    ck_assert_uint_eq(G->call_cache.count, 0); /* idle: let go */
}
END_TEST

/* Calls one after another on a connection with no other call open (a unary client between its
 * calls, batch 1): the finished call's memory serves the next one (before: the cache was emptied
 * whenever no call was open, so each call allocated its memory again), until the connection has
 * opened no call for PW_H2_IDLE_KEEP_MS. */
START_TEST(sequential_calls_reuse_the_call_memory)
{
    (void)echo_counted(0);
    pw_grpc_call *first = last_echo;
    ck_assert_uint_eq(G->call_cache.count, 1);
    (void)echo_counted(1);
    (void)echo_counted(2);
    ck_assert_ptr_eq(last_echo, first); /* the same memory */
    ck_assert_uint_eq(G->call_cache.count, 1);
    idle_for_keep();
    ck_assert_uint_eq(G->call_cache.count, 0);
}
END_TEST

/* A new call clears its fields but not its metadata storage (PW_GRPC_CALL_CLEAR_BYTES): a call
 * in the memory of one that had request and response metadata sees none of it. And a request
 * list read again from the memo (the third identical one) keeps the metadata the first reading
 * chose (md_scan). */
START_TEST(reused_call_memory_starts_without_metadata)
{
    (void)echo_md_counted(0, "x-echo", "v1");
    pw_grpc_call *first = last_echo;
    ck_assert_str_eq(R[0].echo_md, "v1");
    (void)echo_counted(1);
    ck_assert_ptr_eq(last_echo, first); /* the same memory */
    ck_assert_str_eq(R[1].echo_md, "");
    for (int k = 2; k < 5; k++) {
        (void)echo_md_counted(k, "x-echo", "v2");
        ck_assert_str_eq(R[k].echo_md, "v2");
    }
    ck_assert_uint_ge(G->memo_hits, 1);
}
END_TEST

/* A request's small custom metadata is kept in the call (PW_GRPC_MD_INLINE_BYTES); larger
 * metadata gets its own block: in steady state (both ends' HPACK tables warm) an Echo with
 * large metadata allocates one block more than one with small (before: the same, both had a
 * block), and both reach the handler (x-echo is echoed back). */
START_TEST(small_metadata_kept_in_the_call)
{
    uint8_t b[64];
    size_t n = frame(b, "hold", false);
    request("/t.S/Later", "application/grpc", NULL, NULL, b, n, true); /* keeps the conn busy */
    pump();
    ck_assert_ptr_nonnull(held);
    (void)echo_md_counted(1, "x-echo", "v1");
    (void)echo_md_counted(2, "x-echo", "v1"); /* both sessions allocate their decoded-block cache */
    uint64_t small = echo_md_counted(3, "x-echo", "v1");
    ck_assert_str_eq(R[3].echo_md, "v1");
    static char big[PW_GRPC_MD_INLINE_BYTES + 1];
    memset(big, 'b', sizeof big - 1);
    (void)echo_md_counted(4, "x-echo", big);
    uint64_t large = echo_md_counted(5, "x-echo", big);
    ck_assert_int_eq(R[5].echo_md[0], 'b');
    ck_assert_uint_eq(large, small + 1);
    pw_grpc_call_finish(held, PW_GRPC_OK, NULL);
    pw_grpc_call_unref(held);
    held = NULL;
    pump();
}
END_TEST

/* A call finished while a handler still holds a reference (a server job answering later): at
 * the handler's last unref its memory goes back to the connection's cache, not to the allocator,
 * while the connection has calls open; the next call runs in it. */
START_TEST(call_released_after_finish_returns_to_the_cache)
{
    uint8_t b[64];
    size_t n = frame(b, "hold", false);
    request("/t.S/Later", "application/grpc", NULL, NULL, b, n, true); /* keeps the conn busy */
    pump();
    pw_grpc_call *busy = held;
    ck_assert_ptr_nonnull(busy);
    held = NULL;
    request("/t.S/Later", "application/grpc", NULL, NULL, b, n, true);
    pump();
    pw_grpc_call *job = held;
    ck_assert_ptr_nonnull(job);
    ck_assert_ptr_ne(job, busy);
    held = NULL;
    ck_assert_uint_eq(G->call_cache.count, 0);
    pw_grpc_call_finish(job, PW_GRPC_OK, NULL);
    pump(); /* the stream closes: the call is detached, the handler's reference remains */
    ck_assert(R[1].closed);
    ck_assert_uint_eq(G->call_cache.count, 0);
    pw_grpc_call_unref(job);
    ck_assert_uint_eq(G->call_cache.count, 1); /* before: freed to the allocator, 0 */
    (void)echo_counted(2);
    ck_assert_ptr_eq(last_echo, job); /* the same memory */
    pw_grpc_call_finish(busy, PW_GRPC_OK, NULL);
    pw_grpc_call_unref(busy);
    pump();
    idle_for_keep();
    ck_assert_uint_eq(G->call_cache.count, 0); /* no call left for the keep time: let go */
}
END_TEST

/* ---- local calls (pw_grpc_call_new_local): the same handlers, no connection ---- */
static int local_calls;
static pw_grpc_status local_status;
static char local_msg[128], local_body[256];
static size_t local_len;
static pw_grpc_call *local_self; /* the call, to check sends after the end inside the callback */
static const pw_grpc_method *local_m;

static void on_local(void *ud, pw_grpc_status st, const char *message, const uint8_t *msg,
                     size_t len)
{
    local_calls++;
    local_status = st;
    snprintf(local_msg, sizeof local_msg, "%s", message ? message : "(none)");
    local_len = len;
    ck_assert_uint_lt(len, sizeof local_body);
    if (len) memcpy(local_body, msg, len);
    ck_assert_ptr_eq(ud, &local_calls);
    if (local_self) /* the call is over: nothing more may be sent */
        ck_assert_int_eq(pw_grpc_call_send(local_self, (const uint8_t *)"x", 1, 0), -ECANCELED);
}

static pw_grpc_call *local(const char *path)
{
    local_calls = 0;
    local_len = 0;
    local_msg[0] = 0;
    const pw_grpc_method *m = local_m = pw_grpc_server_find(SRV, path, strlen(path));
    ck_assert_ptr_nonnull(m);
    pw_grpc_call *c = pw_grpc_call_new_local(SRV, m, on_local, &local_calls);
    ck_assert_ptr_nonnull(c);
    ck_assert(pw_grpc_call_is_local(c)); /* the server's auth checks rely on it */
    return c;
}

START_TEST(local_call_answers_now_and_later)
{
    /* Answered inside the handler: message and status reach the callback once. */
    pw_grpc_call *c = local("/t.S/Echo");
    local_self = c;
    local_m->on_message(c, (const uint8_t *)"hello", 5);
    local_self = NULL;
    ck_assert_int_eq(local_calls, 1);
    ck_assert_int_eq(local_status, PW_GRPC_OK);
    ck_assert_str_eq(local_msg, "(none)");
    ck_assert_uint_eq(local_len, 5);
    ck_assert_int_eq(memcmp(local_body, "hello", 5), 0);
    ck_assert(pw_grpc_call_done(c));
    ck_assert_int_eq(pw_grpc_call_finish(c, PW_GRPC_OK, NULL), -ECANCELED); /* once only */
    ck_assert_int_eq(local_calls, 1);
    pw_grpc_call_unref(c);
    /* An error: its message as given (no percent-encoding: nothing goes on the wire). */
    c = local("/t.S/Fail");
    local_m->on_message(c, NULL, 0);
    ck_assert_int_eq(local_status, PW_GRPC_NOT_FOUND);
    ck_assert_str_eq(local_msg, "no such thing: 100% \xe2\x98\xba");
    ck_assert_uint_eq(local_len, 0);
    pw_grpc_call_unref(c);
    /* Answered later: the handler keeps a reference; the caller may drop its own at once. */
    c = local("/t.S/Later");
    local_m->on_message(c, NULL, 0);
    pw_grpc_call_unref(c);
    ck_assert_int_eq(local_calls, 0);
    ck_assert_ptr_nonnull(held);
    ck_assert_int_eq(pw_grpc_call_send(held, (const uint8_t *)"late", 4, 0), 0);
    ck_assert_int_eq(pw_grpc_call_send(held, (const uint8_t *)"again", 5, 0), -EPROTO); /* unary */
    ck_assert_int_eq(pw_grpc_call_send_framed(held, NULL, 1), -EPROTO);
    ck_assert_int_eq(pw_grpc_call_finish(held, PW_GRPC_OK, NULL), 0);
    ck_assert_int_eq(local_calls, 1);
    ck_assert_uint_eq(local_len, 4);
    ck_assert_int_eq(cancels, 0);
    pw_grpc_call_unref(held);
    held = NULL;
}
END_TEST

START_TEST(local_call_limits)
{
    /* Streaming methods cannot be local. */
    const pw_grpc_method *m = pw_grpc_server_find(SRV, "/t.S/Sum", 8);
    ck_assert_ptr_null(pw_grpc_call_new_local(SRV, m, on_local, NULL));
    /* The server's send limit holds (default 4 MiB): one byte over is refused. */
    pw_grpc_call *c = local("/t.S/Later");
    local_m->on_message(c, NULL, 0);
    pw_grpc_call_unref(c);
    size_t big = 4u * 1024 * 1024 + 1;
    uint8_t *b = calloc(1, big);
    ck_assert_int_eq(pw_grpc_call_send(held, b, big, 0), -EMSGSIZE);
    free(b);
    /* Begin/commit works as on a connection; what was begun and aborted is not sent. */
    buf *w = pw_grpc_call_send_begin(held);
    ck_assert_ptr_nonnull(w);
    ck_assert_int_eq(buf_append(w, "abc", 3), 0);
    ck_assert_int_eq(pw_grpc_call_send_commit(held, 0), 0);
    pw_grpc_call_finish(held, PW_GRPC_OK, NULL);
    ck_assert_uint_eq(local_len, 3);
    ck_assert_int_eq(memcmp(local_body, "abc", 3), 0);
    pw_grpc_call_unref(held);
    held = NULL;
}
END_TEST

int main(void)
{
    Suite *s = suite_create("pw_grpc_server");
    TCase *tc = tcase_create("calls");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, unary_echo_with_metadata);
    tcase_add_test(tc, errors_by_status);
    tcase_add_test(tc, send_abort_drops_the_begun_message);
    tcase_add_test(tc, message_limits_and_framing);
    tcase_add_test(tc, gzip_request);
    tcase_add_test(tc, client_streaming_split_frames);
    tcase_add_test(tc, answer_later_and_deadline);
    tcase_add_test(tc, cancel_by_rst_reaches_handler);
    tcase_add_test(tc, late_error_after_empty_end_stream);
    tcase_add_test(tc, large_late_answer_arrives_intact);
    tcase_add_test(tc, plain_requests_without_a_handler_keep_405);
    tcase_add_test(tc, plain_answers_now_later_and_large);
    tcase_add_test(tc, plain_answer_after_reset_is_dropped);
    tcase_add_test(tc, answered_rpcs_counted_once_each);
    tcase_add_test(tc, finished_call_memory_serves_the_next);
    tcase_add_test(tc, sequential_calls_reuse_the_call_memory);
    tcase_add_test(tc, repeated_request_headers_are_read_once);
    tcase_add_test(tc, small_metadata_kept_in_the_call);
    tcase_add_test(tc, reused_call_memory_starts_without_metadata);
    tcase_add_test(tc, call_released_after_finish_returns_to_the_cache);
    tcase_add_test(tc, local_call_answers_now_and_later);
    tcase_add_test(tc, local_call_limits);
    suite_add_tcase(s, tc);
    return ts_run_suite(s);
}
