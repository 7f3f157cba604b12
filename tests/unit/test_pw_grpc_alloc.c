/* Allocation failure across a whole HTTP/2 + gRPC exchange (core/rt_alloc's counting
 * allocator): a pw_grpc_client talks to a pw_grpc_conn through memory, both on pw_h2 sessions,
 * with unary calls (one with an error status and a percent-encoded message), a bidi stream, a
 * response above the flow-control windows and gzip both ways. A dry run counts the allocations
 * the exchange makes; then the walk fails allocation N, for every N, and checks each time:
 *   - nothing crashes (Check's fork mode turns an abort into a failure; ASan builds catch
 *     use-after-free and overflows on the error paths);
 *   - every call that started closes exactly once, before teardown (no stream left hanging),
 *     and one that closes OK carries exactly the expected messages (a failure never truncates
 *     an answer silently);
 *   - a failure is reported, not swallowed: a create returns NULL, an API returns -ENOMEM, a
 *     call closes with a non-OK status (RESOURCE_EXHAUSTED, INTERNAL, UNAVAILABLE, ...), or a
 *     session fails with a GOAWAY (PW_H2_ERR_*);
 *   - after teardown no block allocated during the exchange is still live (no leak).
 * The same walk runs over a plain GET /healthz on such a connection (pw_grpc_plain), the
 * client being a bare pw_h2 session. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/rt_alloc.h"
#include "proto_wire/pw_grpc_client.h"
#include "proto_wire/pw_grpc_server.h"
#include "proto_wire/pw_h2.h"
#include "ts_main.h"

/* Response size of the large call, bytes: above the 64 KiB initial stream window, so the
 * exchange goes through WINDOW_UPDATEs and several DATA frames. */
#define BIG_BYTES (200u * 1024u)
#define NCALLS 4
/* Upper bound on the allocations of one exchange: the walk must not run forever if a change
 * makes the exchange allocate per byte. */
#define WALK_MAX 5000u

static uint64_t NOW = 1000000000ull;

/* ---- the server's handlers ----
 * They behave as an application must: a send that fails ends the call with a status instead
 * of finishing OK with a message missing. */

static bool sent(pw_grpc_call *c, int rc)
{
    if (rc == 0) return true;
    ck_assert_msg(rc == -ENOMEM || rc == -ECANCELED || pw_h2_is_err(rc), "send: %d", rc);
    pw_grpc_call_finish(c, PW_GRPC_RESOURCE_EXHAUSTED, "out of memory");
    return false;
}

static void echo_msg(pw_grpc_call *c, const uint8_t *m, size_t n)
{
    int rc = pw_grpc_call_add_initial_metadata(c, "x-echo", (const uint8_t *)"yes", 3);
    if (!sent(c, rc)) return;
    pw_grpc_call_set_compress(c, true);
    if (!sent(c, pw_grpc_call_send(c, m, n, 0))) return;
    pw_grpc_call_finish(c, PW_GRPC_OK, NULL);
}

static void fail_msg(pw_grpc_call *c, const uint8_t *m, size_t n)
{
    pw_grpc_call_finish(c, PW_GRPC_NOT_FOUND, "no such thing: 100%");
}

static void big_msg(pw_grpc_call *c, const uint8_t *m, size_t n)
{
    static uint8_t big[BIG_BYTES];
    for (size_t i = 0; i < sizeof big; i++) big[i] = (uint8_t)(i * 7);
    if (!sent(c, pw_grpc_call_send(c, big, sizeof big, PW_GRPC_SEND_NO_COMPRESS))) return;
    pw_grpc_call_finish(c, PW_GRPC_OK, NULL);
}

static void bidi_msg(pw_grpc_call *c, const uint8_t *m, size_t n)
{
    uint8_t out[64];
    size_t k = n < sizeof out - 1 ? n : sizeof out - 1;
    out[0] = '>';
    memcpy(out + 1, m, k);
    if (!pw_grpc_call_done(c)) (void)sent(c, pw_grpc_call_send(c, out, k + 1, 0));
}

static void bidi_half(pw_grpc_call *c)
{
    if (!pw_grpc_call_done(c)) pw_grpc_call_finish(c, PW_GRPC_OK, NULL);
}

/* ---- the client's record of each call ---- */

typedef struct rec {
    int msgs;
    size_t bytes;
    bool content_ok; /* every message so far is what the server sends */
    int closes;
    pw_grpc_status code;
    char message[128];
    int kind; /* index into the expectations below */
} rec;

enum { K_ECHO, K_FAIL, K_BIG, K_BIDI };

static bool msg_expected(int kind, int idx, const uint8_t *p, size_t n)
{
    switch (kind) {
    case K_ECHO: return idx == 0 && n == 1000 && p[0] == 'e' && p[999] == 'e';
    case K_BIG:
        if (idx != 0 || n != BIG_BYTES) return false;
        for (size_t i = 0; i < n; i++)
            if (p[i] != (uint8_t)(i * 7)) return false;
        return true;
    case K_BIDI: return idx < 3 && n == 3 && p[0] == '>' && p[1] == 'm' && p[2] == '0' + idx;
    default: return false;
    }
}

static int r_msg(pw_grpc_ccall *c, void *ud, const uint8_t *p, size_t n)
{
    rec *r = ud;
    if (!msg_expected(r->kind, r->msgs, p, n)) r->content_ok = false;
    r->msgs++;
    r->bytes += n;
    return 0;
}

static void r_close(pw_grpc_ccall *c, void *ud, const pw_grpc_cstatus *st)
{
    rec *r = ud;
    r->closes++;
    r->code = st->code;
    size_t k = st->message_len < sizeof r->message - 1 ? st->message_len : sizeof r->message - 1;
    memcpy(r->message, st->message, k);
    r->message[k] = 0;
}

static const pw_grpc_ccall_cbs CBS = {r_msg, r_close};

/* A call that closed OK got exactly what the server sends. */
static bool complete_ok(const rec *r)
{
    switch (r->kind) {
    case K_ECHO: return r->content_ok && r->msgs == 1;
    case K_FAIL: return false; /* never OK */
    case K_BIG: return r->content_ok && r->msgs == 1;
    case K_BIDI: return r->content_ok && r->msgs == 3;
    default: return false;
    }
}

/* ---- one exchange ---- */

typedef struct outcome {
    bool reported; /* the failure surfaced somewhere an application sees it */
    bool all_ok;   /* every call ended as it does without a failure */
} outcome;

/* Moves bytes both ways until neither side has output or one side failed. */
static void pump(pw_grpc_client *cl, pw_grpc_conn *conn, outcome *o)
{
    for (int rounds = 0; rounds < 10000; rounds++) {
        const uint8_t *p;
        size_t n, moved = 0;
        pw_grpc_client_output(cl, &p, &n);
        if (n) {
            ssize_t r = pw_grpc_conn_recv(conn, p, n, NOW);
            if (r < 0) {
                ck_assert_msg(pw_h2_is_err(r), "server recv returned %zd", r);
                o->reported = true;
            }
            pw_grpc_client_output_consume(cl, n);
            moved += n;
        }
        if ((n = pw_grpc_conn_output(conn, &p)) > 0) {
            ssize_t r = pw_grpc_client_recv(cl, p, n, NOW);
            if (r < 0) {
                ck_assert_msg(pw_h2_is_err(r), "client recv returned %zd", r);
                o->reported = true;
            }
            pw_grpc_conn_output_consume(conn, n);
            moved += n;
        }
        if (!moved) return;
    }
    ck_abort_msg("pump did not settle");
}

static pw_grpc_server *server_new(void)
{
    pw_grpc_server_config cfg = {0};
    pw_grpc_server *srv = pw_grpc_server_create(&cfg);
    if (!srv) return NULL;
    const pw_grpc_method ms[] = {
        {.path = "/t.S/Echo", .kind = PW_GRPC_UNARY, .on_message = echo_msg},
        {.path = "/t.S/Fail", .kind = PW_GRPC_UNARY, .on_message = fail_msg},
        {.path = "/t.S/Big", .kind = PW_GRPC_UNARY, .on_message = big_msg},
        {.path = "/t.S/Bidi",
         .kind = PW_GRPC_BIDI_STREAMING,
         .on_message = bidi_msg,
         .on_half_close = bidi_half},
    };
    for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++) {
        int rc = pw_grpc_server_add_method(srv, &ms[i]);
        ck_assert_int_eq(rc, 0); /* a fixed table: no allocation */
    }
    return srv;
}

/* Notes a send's result: 0 is fine; -ENOMEM is a reported failure, after which the
 * application gives the call up (cancels it: a request with a message missing must not go on);
 * anything else is a bug. */
static void api_rc(pw_grpc_ccall *c, int rc, outcome *o)
{
    if (rc == -ENOMEM) {
        o->reported = true;
        pw_grpc_ccall_cancel(c);
        return;
    }
    ck_assert_msg(rc == 0, "unexpected result %d (%s)", rc, pw_h2_strerror(rc));
}

static void calls_run(pw_grpc_client *cl, pw_grpc_conn *conn, rec *recs, outcome *o)
{
    static const char *const paths[NCALLS] = {"/t.S/Echo", "/t.S/Fail", "/t.S/Big", "/t.S/Bidi"};
    pw_grpc_ccall *calls[NCALLS] = {0};
    uint8_t echo[1000];
    memset(echo, 'e', sizeof echo);
    for (int i = 0; i < NCALLS; i++) {
        recs[i] = (rec){.content_ok = true, .kind = i, .code = -1};
        int err = 0;
        calls[i] = pw_grpc_ccall_start(cl, paths[i], 0, NOW, &CBS, &recs[i], &err);
        if (!calls[i]) {
            ck_assert_msg(err == -ENOMEM || err == -ENOTCONN, "start: %d", err);
            o->reported = true; /* -ENOTCONN: an earlier failure ended the connection */
        }
    }
    /* Sends may close a call at once (a failure): only send on calls still open. */
    if (calls[K_ECHO] && recs[K_ECHO].closes == 0)
        api_rc(calls[K_ECHO], pw_grpc_ccall_send(calls[K_ECHO], echo, sizeof echo, true), o);
    if (calls[K_FAIL] && recs[K_FAIL].closes == 0)
        api_rc(calls[K_FAIL], pw_grpc_ccall_send(calls[K_FAIL], (const uint8_t *)"x", 1, true), o);
    if (calls[K_BIG] && recs[K_BIG].closes == 0)
        api_rc(calls[K_BIG], pw_grpc_ccall_send(calls[K_BIG], NULL, 0, true), o);
    for (int m = 0; m < 3; m++) {
        if (!calls[K_BIDI] || recs[K_BIDI].closes != 0) break;
        char b[3] = {'m', (char)('0' + m), 0};
        api_rc(calls[K_BIDI], pw_grpc_ccall_send(calls[K_BIDI], (const uint8_t *)b, 2, m == 2), o);
        pump(cl, conn, o);
    }
    pump(cl, conn, o);
}

/* Runs one exchange with allocation `fail_nth` failing (0: none). Returns what happened. */
static outcome exchange(uint64_t fail_nth, uint64_t *allocs)
{
    outcome o = {0};
    rec recs[NCALLS];
    int started = 0;
    rt_alloc_test_start(fail_nth);
    pw_grpc_server *srv = server_new();
    pw_grpc_conn *conn = srv ? pw_grpc_conn_create(srv, NOW) : NULL;
    pw_grpc_client_opts opts = {.authority = "127.0.0.1:1", .gzip_min_bytes = 100};
    pw_grpc_client *cl = conn ? pw_grpc_client_create(&opts) : NULL;
    if (!cl) {
        o.reported = true; /* a create returned NULL */
    } else {
        calls_run(cl, conn, recs, &o);
        started = NCALLS;
        /* Settled: no call is left waiting for an end that will never come (a stream whose
         * trailers could not be queued must be reset, not forgotten). */
        for (int i = 0; i < NCALLS; i++)
            ck_assert_msg(recs[i].closes == 1 || (recs[i].code == (pw_grpc_status)-1 &&
                                                  recs[i].closes == 0 && o.reported),
                          "N=%llu: call %d still open after the exchange settled",
                          (unsigned long long)fail_nth, i);
    }
    pw_grpc_client_destroy(cl); /* closes calls still alive (UNAVAILABLE) */
    pw_grpc_conn_destroy(conn);
    pw_grpc_server_destroy(srv);
    pw_grpc_thread_exit();
    *allocs = rt_alloc_test_count();
    const int64_t live = rt_alloc_test_live();
    const bool failed = rt_alloc_test_failed();
    rt_alloc_test_stop();
    ck_assert_msg(live == 0, "N=%llu: %lld blocks leaked", (unsigned long long)fail_nth,
                  (long long)live);
    o.all_ok = started == NCALLS;
    for (int i = 0; i < started; i++) {
        const rec *r = &recs[i];
        if (r->code == (pw_grpc_status)-1 && r->closes == 0) { /* start failed: no call */
            o.all_ok = false;
            continue;
        }
        ck_assert_msg(r->closes == 1, "N=%llu call %d closed %d times",
                      (unsigned long long)fail_nth, i, r->closes);
        if (r->code == PW_GRPC_OK)
            ck_assert_msg(complete_ok(r), "N=%llu call %d OK but incomplete (%d msgs, %zu bytes)",
                          (unsigned long long)fail_nth, i, r->msgs, r->bytes);
        const bool as_usual = i == K_FAIL ? r->code == PW_GRPC_NOT_FOUND &&
                                                !strcmp(r->message, "no such thing: 100%")
                                          : r->code == PW_GRPC_OK;
        if (!as_usual) {
            o.all_ok = false;
            o.reported = true; /* a call closed with another status */
        }
    }
    if (!failed)
        ck_assert_msg(o.all_ok, "N=%llu: no failure injected, yet a call failed",
                      (unsigned long long)fail_nth);
    return o;
}

START_TEST(dry_run_succeeds)
{
    uint64_t allocs = 0;
    outcome o = exchange(0, &allocs);
    ck_assert(o.all_ok);
    ck_assert(!o.reported);
    ck_assert_uint_gt(allocs, 10); /* the counting allocator sees the exchange's allocations */
    ck_assert_uint_lt(allocs, WALK_MAX);
}
END_TEST

START_TEST(fail_each_allocation)
{
    uint64_t total = 0;
    (void)exchange(0, &total);
    ck_assert_uint_lt(total, WALK_MAX);
    unsigned reported = 0, absorbed = 0;
    for (uint64_t n = 1; n <= total; n++) {
        uint64_t allocs = 0;
        outcome o = exchange(n, &allocs);
        /* Each failure surfaces, or the exchange still completes as usual (a failure some
         * path retried or did without, e.g. an optional buffer shrink). Never half of each. */
        ck_assert_msg(o.reported || o.all_ok, "N=%llu: failure neither reported nor absorbed",
                      (unsigned long long)n);
        if (o.reported) reported++;
        else absorbed++;
    }
    ck_assert_uint_gt(reported, 0);
    fprintf(stderr, "pw_grpc_alloc: %llu allocations walked: %u reported, %u absorbed\n",
            (unsigned long long)total, reported, absorbed);
}
END_TEST

/* ---- a plain HTTP request (GET /healthz over h2c) on the same connection type ---- */

#define PLAIN_BODY_BYTES 40000u /* several DATA frames, above the stream's first window */

static void plain_handler(void *user, const pw_grpc_plain_req *req, pw_grpc_plain_resp *resp)
{
    static uint8_t page[PLAIN_BODY_BYTES];
    memset(page, 'h', sizeof page);
    if (buf_append(&resp->body, page, sizeof page) < 0) { /* out of memory: say so */
        resp->status = 503;
        return;
    }
    resp->status = 200;
}

typedef struct plain_seen {
    char status[4];
    size_t body;
    bool ended, closed;
    uint32_t close_code;
    int closes;
} plain_seen;

static plain_seen PS;
static pw_h2_session *PC;

static int pc_headers(void *ud, uint32_t sid, const pw_h2_header *h, size_t n, unsigned flags)
{
    for (size_t i = 0; i < n; i++)
        if (h[i].name_len == 7 && !memcmp(h[i].name, ":status", 7) && h[i].value_len == 3)
            memcpy(PS.status, h[i].value, 3);
    if (flags & PW_H2_HF_END_STREAM) PS.ended = true;
    return 0;
}

static int pc_data(void *ud, uint32_t sid, const uint8_t *p, size_t n, bool end)
{
    PS.body += n;
    if (end) PS.ended = true;
    return 0;
}

static void pc_close(void *ud, uint32_t sid, uint32_t code)
{
    PS.closes++;
    PS.closed = true;
    PS.close_code = code;
}

static const pw_h2_callbacks PC_CB = {
    .on_headers = pc_headers, .on_data = pc_data, .on_stream_close = pc_close};

/* Moves bytes both ways until neither side has output; true if either session failed. */
static bool plain_pump(pw_grpc_conn *conn)
{
    bool failed = false;
    for (int rounds = 0; rounds < 10000; rounds++) {
        const uint8_t *p;
        size_t n, moved = 0;
        pw_h2_session_output(PC, &p, &n);
        if (n) {
            ssize_t r = pw_grpc_conn_recv(conn, p, n, NOW);
            if (r < 0) ck_assert(pw_h2_is_err(r));
            failed = failed || r < 0;
            pw_h2_session_output_consume(PC, n);
            moved += n;
        }
        if ((n = pw_grpc_conn_output(conn, &p)) > 0) {
            ssize_t r = pw_h2_session_recv(PC, p, n, NOW);
            if (r < 0) ck_assert(pw_h2_is_err(r));
            failed = failed || r < 0;
            pw_grpc_conn_output_consume(conn, n);
            moved += n;
        }
        if (!moved) return failed;
    }
    ck_abort_msg("pump did not settle");
    return failed;
}

static uint64_t plain_exchange(uint64_t fail_nth)
{
    memset(&PS, 0, sizeof PS);
    rt_alloc_test_start(fail_nth);
    pw_grpc_server *srv = server_new();
    pw_grpc_conn *conn = srv ? pw_grpc_conn_create(srv, NOW) : NULL;
    pw_h2_config cfg;
    pw_h2_config_default(&cfg);
    cfg.auto_consume = true;
    PC = conn ? pw_h2_session_create(PW_H2_ROLE_CLIENT, &cfg, &PC_CB, NULL) : NULL;
    bool failed = false, started = false;
    if (PC) {
        pw_grpc_conn_set_plain(conn, plain_handler);
        static const pw_h2_header req[] = {
            PW_H2_HDR(":method", "GET"), PW_H2_HDR(":scheme", "http"),
            PW_H2_HDR(":path", "/healthz"), PW_H2_HDR(":authority", "localhost")};
        int64_t id = pw_h2_submit_request(PC, req, 4, true, NULL);
        ck_assert_msg(id == 1 || id == -ENOMEM || pw_h2_is_err(id), "request: %lld", (long long)id);
        started = id == 1;
        failed = plain_pump(conn);
        if (started && !PS.closed)
            ck_assert_msg(failed,
                          "N=%llu: the request is still open after the exchange "
                          "settled",
                          (unsigned long long)fail_nth);
        if (PS.ended && !strcmp(PS.status, "200")) /* ended as if complete: then complete */
            ck_assert_msg(PS.body == PLAIN_BODY_BYTES, "N=%llu: 200 with %zu of %u bytes",
                          (unsigned long long)fail_nth, PS.body, PLAIN_BODY_BYTES);
        if (!rt_alloc_test_failed())
            ck_assert(started && PS.ended && !strcmp(PS.status, "200") && PS.close_code == 0);
    }
    pw_h2_session_destroy(PC);
    PC = NULL;
    if (started) ck_assert_int_eq(PS.closes, 1);
    pw_grpc_conn_destroy(conn);
    pw_grpc_server_destroy(srv);
    pw_grpc_thread_exit();
    uint64_t n = rt_alloc_test_count();
    const int64_t live = rt_alloc_test_live();
    rt_alloc_test_stop();
    ck_assert_msg(live == 0, "N=%llu: %lld blocks leaked", (unsigned long long)fail_nth,
                  (long long)live);
    return n;
}

START_TEST(plain_request_each_allocation)
{
    const uint64_t total = plain_exchange(0);
    ck_assert_uint_gt(total, 5);
    ck_assert_uint_lt(total, WALK_MAX);
    for (uint64_t n = 1; n <= total; n++) plain_exchange(n);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("pw_grpc_alloc");
    TCase *tc = tcase_create("walk");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, dry_run_succeeds);
    tcase_add_test(tc, fail_each_allocation);
    tcase_add_test(tc, plain_request_each_allocation);
    suite_add_tcase(su, tc);
    return ts_run_suite(su);
}
