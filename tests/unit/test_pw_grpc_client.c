/* Unit tests for proto_wire/pw_grpc_client: a client talking to our own gRPC server connection
 * (pw_grpc_conn) through an in-memory pipe. Unary calls, error statuses, bidi streaming,
 * deadlines, cancellation, pending calls behind MAX_CONCURRENT_STREAMS, GOAWAY, a failed
 * transport and custom request metadata (read back by the server from the HEADERS block). */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto_wire/pw_grpc_client.h"
#include "proto_wire/pw_grpc_server.h"
#include "ts_main.h"

/* ---- the server side ---- */

static void echo_msg(pw_grpc_call *c, const uint8_t *m, size_t n)
{
    pw_grpc_call_send(c, m, n, 0);
    pw_grpc_call_finish(c, PW_GRPC_OK, NULL);
}
static void fail_msg(pw_grpc_call *c, const uint8_t *m, size_t n)
{
    pw_grpc_call_finish(c, PW_GRPC_NOT_FOUND, "no such thing: 100%");
}
static void bidi_msg(pw_grpc_call *c, const uint8_t *m, size_t n)
{
    uint8_t out[64];
    size_t k = n < sizeof out - 1 ? n : sizeof out - 1;
    out[0] = '>';
    memcpy(out + 1, m, k);
    pw_grpc_call_send(c, out, k + 1, 0);
}
static void bidi_half(pw_grpc_call *c) { pw_grpc_call_finish(c, PW_GRPC_OK, NULL); }
static int hang_cancels;
static void hang_msg(pw_grpc_call *c, const uint8_t *m, size_t n) {}
static void hang_cancel(pw_grpc_call *c, pw_grpc_status st) { hang_cancels++; }

/* Answers with the request's metadata the test looks for, "id=<ringq-worker-id>;bin=<x-k-bin
 * bytes>" ("-" when absent): what the server parsed out of the HEADERS block. */
static void meta_msg(pw_grpc_call *c, const uint8_t *m, size_t n)
{
    char out[256];
    size_t k = 0;
    const char *names[] = {"ringq-worker-id", "x-k-bin"};
    for (int i = 0; i < 2; i++) {
        const pw_grpc_md *md = pw_grpc_call_find_metadata(c, names[i]);
        int w = snprintf(out + k, sizeof out - k, "%s", i ? ";bin=" : "id=");
        k += (size_t)w;
        if (!md) {
            out[k++] = '-';
            continue;
        }
        ck_assert_uint_lt(k + md->value_len, sizeof out);
        memcpy(out + k, md->value, md->value_len);
        k += md->value_len;
    }
    pw_grpc_call_send(c, (const uint8_t *)out, k, 0);
    pw_grpc_call_finish(c, PW_GRPC_OK, NULL);
}

static pw_grpc_server *SRV;
static pw_grpc_conn *CONN;
static pw_grpc_client *CL;
static uint64_t NOW = 1000000000ull;

static void setup_with(uint32_t max_streams)
{
    pw_grpc_server_config cfg = {0};
    cfg.max_concurrent_streams = max_streams;
    SRV = pw_grpc_server_create(&cfg);
    ck_assert_ptr_nonnull(SRV);
    pw_grpc_method ms[] = {
        {.path = "/t.S/Echo", .kind = PW_GRPC_UNARY, .on_message = echo_msg},
        {.path = "/t.S/Fail", .kind = PW_GRPC_UNARY, .on_message = fail_msg},
        {.path = "/t.S/Bidi",
         .kind = PW_GRPC_BIDI_STREAMING,
         .on_message = bidi_msg,
         .on_half_close = bidi_half},
        {.path = "/t.S/Hang",
         .kind = PW_GRPC_UNARY,
         .on_message = hang_msg,
         .on_cancel = hang_cancel},
        {.path = "/t.S/First", .kind = PW_GRPC_BIDI_STREAMING, .on_message = echo_msg},
        {.path = "/t.S/Meta", .kind = PW_GRPC_UNARY, .on_message = meta_msg},
    };
    for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++)
        ck_assert_int_eq(pw_grpc_server_add_method(SRV, &ms[i]), 0);
    CONN = pw_grpc_conn_create(SRV, NOW);
    pw_grpc_client_opts o = {.authority = "127.0.0.1:1"};
    CL = pw_grpc_client_create(&o);
    ck_assert_ptr_nonnull(CL);
    hang_cancels = 0;
}
static void setup(void) { setup_with(0); }

static void teardown(void)
{
    pw_grpc_client_destroy(CL);
    if (CONN) pw_grpc_conn_destroy(CONN);
    pw_grpc_server_destroy(SRV);
}

/* Moves bytes both ways until neither side has output. */
static void pump(void)
{
    for (int rounds = 0; rounds < 1000; rounds++) {
        const uint8_t *p;
        size_t n, moved = 0;
        pw_grpc_client_output(CL, &p, &n);
        if (n) {
            if (CONN) pw_grpc_conn_recv(CONN, p, n, NOW);
            pw_grpc_client_output_consume(CL, n);
            moved += n;
        }
        if (CONN && (n = pw_grpc_conn_output(CONN, &p)) > 0) {
            ck_assert_int_ge(pw_grpc_client_recv(CL, p, n, NOW), 0);
            pw_grpc_conn_output_consume(CONN, n);
            moved += n;
        }
        if (!moved) return;
    }
    ck_abort_msg("pump did not settle");
}

/* A call's record. */
typedef struct rec {
    int msgs;
    char last[128];
    size_t last_len;
    bool closed;
    pw_grpc_status code;
    char message[128];
    bool refused;
    bool cancel_on_msg;
} rec;

static int r_msg(pw_grpc_ccall *c, void *ud, const uint8_t *p, size_t n)
{
    rec *r = ud;
    r->msgs++;
    r->last_len = n < sizeof r->last ? n : sizeof r->last;
    memcpy(r->last, p, r->last_len);
    return r->cancel_on_msg ? -1 : 0;
}
static void r_close(pw_grpc_ccall *c, void *ud, const pw_grpc_cstatus *st)
{
    rec *r = ud;
    ck_assert(!r->closed);
    r->closed = true;
    r->code = st->code;
    r->refused = st->refused;
    size_t k = st->message_len < sizeof r->message - 1 ? st->message_len : sizeof r->message - 1;
    memcpy(r->message, st->message, k);
    r->message[k] = 0;
}
static const pw_grpc_ccall_cbs CBS = {r_msg, r_close};

static pw_grpc_ccall *start(const char *path, uint64_t deadline, rec *r)
{
    int err = 1;
    pw_grpc_ccall *c = pw_grpc_ccall_start(CL, path, deadline, NOW, &CBS, r, &err);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(err, 0);
    return c;
}

START_TEST(unary_ok)
{
    rec r = {0};
    pw_grpc_ccall *c = start("/t.S/Echo", 0, &r);
    ck_assert_int_eq(pw_grpc_ccall_send(c, (const uint8_t *)"ping", 4, true), 0);
    pump();
    ck_assert(r.closed);
    ck_assert_int_eq(r.code, PW_GRPC_OK);
    ck_assert_int_eq(r.msgs, 1);
    ck_assert_mem_eq(r.last, "ping", 4);
    ck_assert_uint_eq(pw_grpc_client_calls(CL), 0);
    /* An empty message is a message too. */
    rec r2 = {0};
    c = start("/t.S/Echo", 0, &r2);
    ck_assert_int_eq(pw_grpc_ccall_send(c, NULL, 0, true), 0);
    pump();
    ck_assert_int_eq(r2.code, PW_GRPC_OK);
    ck_assert_int_eq(r2.msgs, 1);
    ck_assert_uint_eq(r2.last_len, 0);
}
END_TEST

START_TEST(unary_error_status_and_unknown_method)
{
    rec r = {0}, u = {0};
    pw_grpc_ccall_send(start("/t.S/Fail", 0, &r), (const uint8_t *)"x", 1, true);
    pw_grpc_ccall_send(start("/t.S/Nope", 0, &u), (const uint8_t *)"x", 1, true);
    pump();
    ck_assert_int_eq(r.code, PW_GRPC_NOT_FOUND);
    ck_assert_str_eq(r.message, "no such thing: 100%"); /* percent-decoded */
    ck_assert_int_eq(r.msgs, 0);
    ck_assert_int_eq(u.code, PW_GRPC_UNIMPLEMENTED);
    ck_assert(!u.refused);
}
END_TEST

START_TEST(bidi_stream)
{
    rec r = {0};
    pw_grpc_ccall *c = start("/t.S/Bidi", 0, &r);
    for (int i = 0; i < 5; i++) {
        char m[8];
        int n = snprintf(m, sizeof m, "m%d", i);
        ck_assert_int_eq(pw_grpc_ccall_send(c, (const uint8_t *)m, (size_t)n, false), 0);
        pump();
        ck_assert_int_eq(r.msgs, i + 1); /* answered before the client half-closes */
        ck_assert_mem_eq(r.last, ">", 1);
        ck_assert_mem_eq(r.last + 1, m, (size_t)n);
    }
    ck_assert(!r.closed);
    ck_assert_int_eq(pw_grpc_ccall_close_send(c), 0);
    ck_assert_int_eq(pw_grpc_ccall_close_send(c), -EPIPE);
    pump();
    ck_assert(r.closed);
    ck_assert_int_eq(r.code, PW_GRPC_OK);
}
END_TEST

START_TEST(large_messages_cross_windows)
{
    /* 3 MiB each way: more than the stream and connection windows, many DATA frames. */
    size_t n = 3u << 20;
    uint8_t *big = malloc(n);
    for (size_t i = 0; i < n; i++) big[i] = (uint8_t)(i * 7);
    rec r = {0};
    pw_grpc_ccall *c = start("/t.S/Echo", 0, &r);
    ck_assert_int_eq(pw_grpc_ccall_send(c, big, n, true), 0);
    pump();
    ck_assert_int_eq(r.code, PW_GRPC_OK);
    ck_assert_int_eq(r.msgs, 1);
    free(big);
}
END_TEST

/* Keeps a whole response message (r_msg keeps 128 bytes). */
typedef struct whole {
    rec r;
    uint8_t *got;
    size_t got_len;
} whole;

static int w_msg(pw_grpc_ccall *c, void *ud, const uint8_t *p, size_t n)
{
    whole *w = ud;
    w->r.msgs++;
    free(w->got);
    w->got = malloc(n ? n : 1);
    ck_assert_ptr_nonnull(w->got);
    if (n) memcpy(w->got, p, n);
    w->got_len = n;
    return 0;
}
static void w_close(pw_grpc_ccall *c, void *ud, const pw_grpc_cstatus *st)
{
    r_close(c, &((whole *)ud)->r, st);
}

/* Message sizes around every edge of the request path: the 16,384-byte frame, the 65,535-byte
 * initial windows, the session's 64 KiB per-stream pending cap (a framed message is 5 bytes
 * longer than the message), twice that, 1 MiB and the 4 MiB limit. The failing range
 * (65,518 to 131,052 bytes of payload) lies inside. */
static const size_t EDGE_SIZES[] = {
    0,
    1,
    16378,
    16379,
    16380,
    16383,
    16384,
    16385,
    65512,
    65513,
    65517,
    65518,
    65519,
    65529,
    65530,
    65531,
    65532,
    65534,
    65535,
    65536,
    65537,
    70000,
    98304,
    131052,
    131053,
    131066,
    131067,
    131068,
    131071,
    131072,
    131073,
    (1u << 20) - 6,
    (1u << 20) - 5,
    (1u << 20) - 4,
    (1u << 20) + 1,
    (4u << 20) - 6,
    (4u << 20) - 5,
    (4u << 20) - 1,
    4u << 20,
};

START_TEST(echo_every_edge_size_intact)
{
    /* Each size on a fresh connection: the request is submitted before the server's SETTINGS
     * arrive, so the stream window is the initial 65,535 and the session pumps a window's worth
     * out from inside the submit (where on_stream_writable once re-entered the flush and sent
     * the message's first 64 KiB twice). The echo must come back byte for byte. */
    size_t max = (4u << 20) + 1;
    uint8_t *big = malloc(max);
    ck_assert_ptr_nonnull(big);
    for (size_t i = 0; i < max; i++) big[i] = (uint8_t)(i * 131 + (i >> 9));
    for (size_t k = 0; k < sizeof EDGE_SIZES / sizeof EDGE_SIZES[0]; k++) {
        size_t n = EDGE_SIZES[k];
        teardown();
        setup();
        whole w = {{0}, NULL, 0};
        static const pw_grpc_ccall_cbs wcbs = {w_msg, w_close};
        int err = 1;
        pw_grpc_ccall *c = pw_grpc_ccall_start(CL, "/t.S/Echo", 0, NOW, &wcbs, &w, &err);
        ck_assert_ptr_nonnull(c);
        ck_assert_int_eq(pw_grpc_ccall_send(c, big, n, true), 0);
        pump();
        ck_assert_msg(w.r.closed && w.r.code == PW_GRPC_OK, "size %zu: status %d %s", n,
                      (int)w.r.code, w.r.message);
        ck_assert_msg(w.r.msgs == 1 && w.got_len == n, "size %zu: %d messages, %zu bytes", n,
                      w.r.msgs, w.got_len);
        ck_assert_msg(n == 0 || memcmp(w.got, big, n) == 0, "size %zu: echo differs", n);
        free(w.got);
    }
    /* One byte above the server's 4 MiB receive limit is refused, not corrupted. */
    teardown();
    setup();
    rec r = {0};
    ck_assert_int_eq(pw_grpc_ccall_send(start("/t.S/Echo", 0, &r), big, max, true), 0);
    pump();
    ck_assert(r.closed);
    ck_assert_int_eq(r.code, PW_GRPC_RESOURCE_EXHAUSTED);
    free(big);
}
END_TEST

START_TEST(server_status_ends_a_call_still_sending)
{
    /* The server finishes the stream (trailers, END_STREAM) after the first message while the
     * client has not half-closed: its status is final, so the call closes at once with it (the
     * client resets its side with NO_ERROR) instead of waiting half-closed for an END_STREAM
     * the application may never send (a Work stream refused by the server hung so). */
    rec r = {0};
    pw_grpc_ccall *c = start("/t.S/First", 0, &r);
    ck_assert_int_eq(pw_grpc_ccall_send(c, (const uint8_t *)"1", 1, false), 0);
    pump();
    ck_assert_int_eq(r.msgs, 1);
    ck_assert(r.closed);
    ck_assert_int_eq(r.code, PW_GRPC_OK);
    ck_assert_uint_eq(pw_grpc_client_calls(CL), 0);
    pump();
}
END_TEST

START_TEST(deadline_expires)
{
    rec r = {0};
    pw_grpc_ccall *c = start("/t.S/Hang", NOW + 50000000ull, &r);
    pw_grpc_ccall_send(c, (const uint8_t *)"x", 1, true);
    pump();
    ck_assert(!r.closed);
    ck_assert_uint_eq(pw_grpc_client_next_deadline(CL), NOW + 50000000ull);
    ck_assert_uint_eq(pw_grpc_client_tick(CL, NOW + 49999999ull), 0);
    ck_assert_uint_eq(pw_grpc_client_tick(CL, NOW + 50000000ull), 1);
    ck_assert(r.closed);
    ck_assert_int_eq(r.code, PW_GRPC_DEADLINE_EXCEEDED);
    pump(); /* the RST reaches the server: its handler is cancelled */
    ck_assert_int_eq(hang_cancels, 1);
    ck_assert_uint_eq(pw_grpc_client_next_deadline(CL), 0);
}
END_TEST

START_TEST(cancel_by_call_and_from_callback)
{
    rec r = {0}, m = {.cancel_on_msg = true};
    pw_grpc_ccall *c = start("/t.S/Hang", 0, &r);
    pw_grpc_ccall_send(c, (const uint8_t *)"x", 1, true);
    pump();
    pw_grpc_ccall_cancel(c);
    ck_assert(r.closed); /* outside a callback: at once */
    ck_assert_int_eq(r.code, PW_GRPC_CANCELLED);
    pump();
    ck_assert_int_eq(hang_cancels, 1);
    pw_grpc_ccall *b = start("/t.S/Bidi", 0, &m);
    pw_grpc_ccall_send(b, (const uint8_t *)"x", 1, false);
    pump();
    ck_assert_int_eq(m.msgs, 1);
    ck_assert(m.closed);
    ck_assert_int_eq(m.code, PW_GRPC_CANCELLED);
}
END_TEST

START_TEST(pending_behind_stream_limit)
{
    teardown();
    setup_with(1);
    pump(); /* SETTINGS: the server allows one stream */
    rec r[4] = {{0}};
    for (int i = 0; i < 4; i++) {
        pw_grpc_ccall *c = start("/t.S/Echo", 0, &r[i]);
        char m = (char)('a' + i);
        pw_grpc_ccall_send(c, (const uint8_t *)&m, 1, true);
        if (i > 0) ck_assert_int_eq(pw_grpc_ccall_get_state(c), PW_GRPC_CC_PENDING);
    }
    pump();
    for (int i = 0; i < 4; i++) {
        ck_assert(r[i].closed);
        ck_assert_int_eq(r[i].code, PW_GRPC_OK);
        ck_assert_int_eq(r[i].last[0], 'a' + i);
    }
}
END_TEST

START_TEST(goaway_finishes_accepted_refuses_new)
{
    rec r = {0};
    pw_grpc_ccall *c = start("/t.S/Bidi", 0, &r);
    pw_grpc_ccall_send(c, (const uint8_t *)"1", 1, false);
    pump();
    pw_grpc_conn_shutdown(CONN);
    pump();
    ck_assert(pw_grpc_client_draining(CL));
    int err = 0;
    ck_assert_ptr_null(pw_grpc_ccall_start(CL, "/t.S/Echo", 0, NOW, &CBS, &r, &err));
    ck_assert_int_eq(err, -ENOTCONN);
    /* The accepted stream still works and finishes. */
    pw_grpc_ccall_send(c, (const uint8_t *)"2", 1, true);
    pump();
    ck_assert(r.closed);
    ck_assert_int_eq(r.code, PW_GRPC_OK);
    ck_assert_int_eq(r.msgs, 2);
    ck_assert(pw_grpc_client_want_close(CL));
}
END_TEST

START_TEST(transport_failure_closes_all)
{
    teardown();
    setup_with(1);
    pump();
    rec a = {0}, b = {0};
    pw_grpc_ccall *ca = start("/t.S/Hang", 0, &a);
    pw_grpc_ccall_send(ca, (const uint8_t *)"x", 1, true);
    pw_grpc_ccall *cb = start("/t.S/Hang", 0, &b);
    ck_assert_int_eq(pw_grpc_ccall_get_state(cb), PW_GRPC_CC_PENDING);
    pump();
    pw_grpc_client_fail(CL, "connection reset");
    ck_assert(a.closed && b.closed);
    ck_assert_int_eq(a.code, PW_GRPC_UNAVAILABLE);
    ck_assert_str_eq(a.message, "connection reset");
    ck_assert(!a.refused); /* it reached the server */
    ck_assert_int_eq(b.code, PW_GRPC_UNAVAILABLE);
    ck_assert(b.refused); /* it never left: safe to retry */
    int err = 0;
    ck_assert_ptr_null(pw_grpc_ccall_start(CL, "/t.S/Echo", 0, NOW, &CBS, &a, &err));
    ck_assert_int_eq(err, -ENOTCONN);
}
END_TEST

START_TEST(bad_path_and_destroy_with_live_calls)
{
    int err = 0;
    rec r = {0};
    ck_assert_ptr_null(pw_grpc_ccall_start(CL, "nope", 0, NOW, &CBS, &r, &err));
    ck_assert_int_eq(err, -EINVAL);
    pw_grpc_ccall *c = start("/t.S/Hang", 0, &r);
    pw_grpc_ccall_send(c, (const uint8_t *)"x", 1, true);
    pump();
    pw_grpc_client_destroy(CL);
    CL = pw_grpc_client_create(NULL);
    ck_assert(r.closed);
    ck_assert_int_eq(r.code, PW_GRPC_UNAVAILABLE);
}
END_TEST

static pw_grpc_ccall *start_md(const char *path, const pw_grpc_cmeta *md, size_t n, rec *r,
                               int *err)
{
    pw_grpc_ccall_opts o = {.md = md, .md_count = n};
    *err = 1;
    return pw_grpc_ccall_start_opts(CL, path, 0, NOW, &o, &CBS, r, err);
}

#define MD(n, v)                               \
    {                                          \
        n, (const uint8_t *)(v), sizeof(v) - 1 \
    }

START_TEST(custom_metadata_in_headers)
{
    /* Borrowed for the start only: the entries live on a stack frame that is gone (overwritten
     * here) before the headers go out of a pending call below. */
    char id[] = "host-1:42";
    uint8_t bin[] = {0x00, 0xff, 'A', '\n'};
    pw_grpc_cmeta md[] = {{"ringq-worker-id", (const uint8_t *)id, strlen(id)},
                          {"x-k-bin", bin, sizeof bin}};
    rec r = {0};
    int err;
    pw_grpc_ccall *c = start_md("/t.S/Meta", md, 2, &r, &err);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(err, 0);
    memset(id, 'z', sizeof id - 1);
    ck_assert_int_eq(pw_grpc_ccall_send(c, (const uint8_t *)"?", 1, true), 0);
    pump();
    ck_assert_int_eq(r.code, PW_GRPC_OK);
    ck_assert_uint_eq(r.last_len, 21);
    ck_assert_mem_eq(r.last,
                     "id=host-1:42;bin=\x00\xff"
                     "A\n",
                     21);
    /* Without options (the old entry point): no metadata. */
    rec r0 = {0};
    c = start("/t.S/Meta", 0, &r0);
    ck_assert_int_eq(pw_grpc_ccall_send(c, (const uint8_t *)"?", 1, true), 0);
    pump();
    ck_assert_uint_eq(r0.last_len, 10);
    ck_assert_mem_eq(r0.last, "id=-;bin=-", 10);
}
END_TEST

/* The HEADERS block (frame payload) of a call started at `now` with `left_ns` until its deadline:
 * the client's output right after the start (the submit pumps the headers out at once). */
static size_t headers_of(uint64_t now, uint64_t left_ns, uint8_t *out, size_t cap, rec *r)
{
    int err = 1;
    pw_grpc_ccall *c = pw_grpc_ccall_start(CL, "/t.S/Echo", now + left_ns, now, &CBS, r, &err);
    ck_assert_ptr_nonnull(c);
    const uint8_t *p;
    size_t n;
    pw_grpc_client_output(CL, &p, &n);
    if (n >= 24 && memcmp(p, "PRI ", 4) == 0) p += 24, n -= 24; /* the first call: the preface */
    size_t len = 0;
    for (;;) { /* the SETTINGS before the first call's HEADERS, if any */
        ck_assert_uint_ge(n, 9);
        len = (size_t)p[0] << 16 | (size_t)p[1] << 8 | p[2];
        ck_assert_uint_le(9 + len, n);
        if (p[3] == 0x1) break; /* HEADERS */
        p += 9 + len, n -= 9 + len;
    }
    ck_assert_uint_le(len, cap);
    memcpy(out, p + 9, len);
    ck_assert_int_eq(pw_grpc_ccall_send(c, (const uint8_t *)"x", 1, true), 0);
    pump();
    ck_assert_int_eq(r->code, PW_GRPC_OK);
    return len;
}

/* Calls started with the same timeout send the same grpc-timeout whatever time passed between
 * the submit and the open (pw_grpc_timeout_coarse), so from the second call on the request's
 * header block is identical and short (indexes): no new literal per call. */
START_TEST(same_timeout_same_header_block)
{
    uint8_t b1[512], b2[512], b3[512];
    rec r1 = {0}, r2 = {0}, r3 = {0};
    const uint64_t tmo = 30000000000ull; /* 30 s */
    headers_of(NOW, tmo - 1000, b1, sizeof b1, &r1);
    size_t n2 = headers_of(NOW + 5000000, tmo - 123457, b2, sizeof b2, &r2);
    size_t n3 = headers_of(NOW + 9000000, tmo - 2345679, b3, sizeof b3, &r3);
    ck_assert_uint_eq(n2, n3);
    ck_assert_mem_eq(b2, b3, n2);
    ck_assert_uint_le(n3, 16); /* every field an index into the tables */
}
END_TEST

START_TEST(custom_metadata_on_a_pending_call)
{
    teardown();
    setup_with(1);
    pump(); /* SETTINGS: the server allows one stream */
    rec r[2] = {{0}};
    pw_grpc_ccall *first = start("/t.S/Echo", 0, &r[0]);
    char id[] = "late";
    pw_grpc_cmeta md[] = {{"ringq-worker-id", (const uint8_t *)id, 4}};
    int err;
    pw_grpc_ccall *c = start_md("/t.S/Meta", md, 1, &r[1], &err);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(pw_grpc_ccall_get_state(c), PW_GRPC_CC_PENDING);
    memcpy(id, "gone", 4);
    ck_assert_int_eq(pw_grpc_ccall_send(c, (const uint8_t *)"?", 1, true), 0);
    ck_assert_int_eq(pw_grpc_ccall_send(first, (const uint8_t *)"a", 1, true), 0);
    pump();
    ck_assert_int_eq(r[1].code, PW_GRPC_OK);
    ck_assert_uint_eq(r[1].last_len, 13);
    ck_assert_mem_eq(r[1].last, "id=late;bin=-", 13);
}
END_TEST

START_TEST(custom_metadata_invalid)
{
    const pw_grpc_cmeta bad[] = {
        MD("Ringq-Worker-Id", "x"), /* upper case */
        MD("grpc-foo", "x"),        /* reserved */
        MD(":path", "/x"),          /* pseudo-header */
        MD("te", "trailers"),       /* set by the client */
        MD("content-type", "a"),    /* set by the client */
        MD("connection", "close"),  /* HTTP/1 connection header */
        MD("x-id", "a\nb"),         /* control character */
        MD("x-id", "caf\xc3\xa9"),  /* not ASCII */
        MD("", "x"),                /* empty name */
        MD("x id", "x"),            /* space in the name */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        rec r = {0};
        int err;
        ck_assert_msg(start_md("/t.S/Meta", &bad[i], 1, &r, &err) == NULL, "entry %zu", i);
        ck_assert_int_eq(err, -EINVAL);
        ck_assert_int_eq(pw_grpc_cmeta_check(&bad[i]), -EINVAL);
        ck_assert(!r.closed);
    }
    /* Too many entries, too many bytes. */
    pw_grpc_cmeta many[PW_GRPC_CCALL_MD_MAX + 1];
    for (size_t i = 0; i < PW_GRPC_CCALL_MD_MAX + 1; i++) many[i] = (pw_grpc_cmeta)MD("x-a", "1");
    rec r = {0};
    int err;
    ck_assert_ptr_null(start_md("/t.S/Meta", many, PW_GRPC_CCALL_MD_MAX + 1, &r, &err));
    ck_assert_int_eq(err, -EINVAL);
    static uint8_t big[PW_GRPC_CCALL_MD_BYTES_MAX];
    memset(big, 'v', sizeof big);
    pw_grpc_cmeta huge = {"x-big", big, sizeof big};
    ck_assert_ptr_null(start_md("/t.S/Meta", &huge, 1, &r, &err));
    ck_assert_int_eq(err, -EINVAL);
    ck_assert_uint_eq(pw_grpc_client_calls(CL), 0);
    /* Valid edge cases: an empty value, a -bin value with control bytes, the maximum count. */
    pw_grpc_cmeta ok[] = {MD("x-empty", ""), {"x-b-bin", (const uint8_t *)"\n\0", 2}};
    for (size_t i = 0; i < 2; i++) ck_assert_int_eq(pw_grpc_cmeta_check(&ok[i]), 0);
    pw_grpc_ccall *c = start_md("/t.S/Meta", many, PW_GRPC_CCALL_MD_MAX, &r, &err);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(pw_grpc_ccall_send(c, (const uint8_t *)"?", 1, true), 0);
    pump();
    ck_assert_int_eq(r.code, PW_GRPC_OK);
}
END_TEST

static Suite *client_suite(void)
{
    Suite *s = suite_create("pw_grpc_client");
    TCase *tc = tcase_create("calls");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, unary_ok);
    tcase_add_test(tc, unary_error_status_and_unknown_method);
    tcase_add_test(tc, bidi_stream);
    tcase_add_test(tc, large_messages_cross_windows);
    tcase_add_test(tc, echo_every_edge_size_intact);
    tcase_add_test(tc, server_status_ends_a_call_still_sending);
    tcase_add_test(tc, deadline_expires);
    tcase_add_test(tc, same_timeout_same_header_block);
    tcase_add_test(tc, cancel_by_call_and_from_callback);
    tcase_add_test(tc, pending_behind_stream_limit);
    tcase_add_test(tc, goaway_finishes_accepted_refuses_new);
    tcase_add_test(tc, transport_failure_closes_all);
    tcase_add_test(tc, bad_path_and_destroy_with_live_calls);
    tcase_add_test(tc, custom_metadata_in_headers);
    tcase_add_test(tc, custom_metadata_on_a_pending_call);
    tcase_add_test(tc, custom_metadata_invalid);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return ts_run_suite(client_suite()); }
