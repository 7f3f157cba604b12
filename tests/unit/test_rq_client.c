/* libringq's connection handling against a fake gRPC server in the same thread: a loopback
 * listener whose connections are driven by a pw_h2 server session (plus raw frames where the
 * test needs a GOAWAY with a chosen last stream id). The client runs its own loop
 * (rq_client_poll); the fake server is pumped between polls. */
#include "test_rq_fx.h"

#include "client/rq_int.h"
#include "proto_wire/pw_msgs.h"

/* After a GOAWAY the old connection keeps being read and written: the call the server accepted
 * (stream 1) finishes on it, the refused one (stream 3) and a new call go to a new connection,
 * and the old connection is closed once its last call ended. */
START_TEST(goaway_old_connection_serviced)
{
    client_up(5000);
    res a = {0}, b = {0}, c = {0};
    ck_assert_int_eq(rq_call_async(C, "/t.S/A", "a", 1, 0, on_done, &a), 0);
    ck_assert_int_eq(rq_call_async(C, "/t.S/B", "b", 1, 0, on_done, &b), 0);
    SPIN_UNTIL(ended(0, 1));
    ck_assert_str_eq(fs_c[0].st[0].path, "/t.S/A");
    ck_assert_uint_eq(fs_c[0].st[1].id, 3);
    fs_raw_goaway(&fs_c[0], 1);
    SPIN_UNTIL(fs_n == 2 && ended(1, 0)); /* B, refused, sent again on a new connection */
    ck_assert_int_eq(rq_call_async(C, "/t.S/C", "c", 1, 0, on_done, &c), 0);
    SPIN_UNTIL(ended(1, 1));
    ck_assert_str_eq(fs_c[1].st[0].path, "/t.S/B");
    ck_assert_str_eq(fs_c[1].st[1].path, "/t.S/C");
    fs_answer(&fs_c[1], fs_c[1].st[0].id, "B!", false, 0);
    fs_answer(&fs_c[1], fs_c[1].st[1].id, "C!", false, 0);
    SPIN_UNTIL(b.done && c.done);
    ck_assert_int_eq(b.code, 0);
    ck_assert_str_eq(b.resp, "B!");
    ck_assert_str_eq(c.resp, "C!");
    ck_assert_int_eq(a.done, 0);
    ck_assert(!fs_c[0].eof); /* still serving A */
    fs_answer(&fs_c[0], 1, "A!", false, 0);
    SPIN_UNTIL(a.done);
    ck_assert_int_eq(a.code, 0);
    ck_assert_str_eq(a.resp, "A!");
    SPIN_UNTIL(fs_c[0].eof); /* the drained connection is closed */
    ck_assert(!fs_c[1].eof);
    ck_assert_int_eq(a.done + b.done + c.done, 3);
    client_down();
}
END_TEST

/* A call left on a draining connection still ends at its deadline, and the RST_STREAM reaches
 * the server on that connection. */
START_TEST(goaway_old_connection_deadline)
{
    client_up(5000);
    res d = {0}, e = {0};
    ck_assert_int_eq(rq_call_async(C, "/t.S/D", "d", 1, 300, on_done, &d), 0);
    SPIN_UNTIL(ended(0, 0));
    fs_raw_goaway(&fs_c[0], 1);
    SPIN_UNTIL(d.done || fs_n > 5); /* nothing to do until the deadline */
    ck_assert_int_eq(d.code, 4);
    ck_assert(d.resp_null);
    SPIN_UNTIL(fs_c[0].st[0].closed);
    ck_assert_uint_eq(fs_c[0].st[0].close_code, PW_H2_CANCEL);
    SPIN_UNTIL(fs_c[0].eof);
    /* New calls go to a new connection. */
    ck_assert_int_eq(rq_call_async(C, "/t.S/E", "e", 1, 0, on_done, &e), 0);
    SPIN_UNTIL(ended(1, 0));
    fs_answer(&fs_c[1], 1, "E!", false, 0);
    SPIN_UNTIL(e.done);
    ck_assert_int_eq(e.code, 0);
    client_down();
}
END_TEST

static int count_done(const res *r, int n)
{
    int d = 0;
    for (int i = 0; i < n; i++) d += r[i].done;
    return d;
}

/* Many calls in flight at once; answers in reverse order reach the right callbacks. */
START_TEST(many_in_flight_out_of_order)
{
    client_up(5000);
    enum { N = 40 };
    static res r[N];
    memset(r, 0, sizeof r);
    for (int i = 0; i < N; i++) {
        char m[16];
        snprintf(m, sizeof m, "m%d", i);
        ck_assert_int_eq(rq_call_async(C, "/t.S/M", m, strlen(m), 0, on_done, &r[i]), 0);
    }
    SPIN_UNTIL(ended(0, N - 1));
    for (int i = N - 1; i >= 0; i--) {
        fs_stream *st = &fs_c[0].st[i];
        char want[16], got[16];
        snprintf(want, sizeof want, "m%d", i);
        snprintf(got, sizeof got, "%.*s", (int)buf_size(&st->body) - 5, buf_begin(&st->body) + 5);
        ck_assert_str_eq(got, want);
        char ans[16];
        snprintf(ans, sizeof ans, "r%d", i);
        fs_answer(&fs_c[0], st->id, ans, false, i % 3 == 0 ? 5 : 0);
    }
    SPIN_UNTIL(count_done(r, N) == N);
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(r[i].done, 1);
        if (i % 3 == 0) {
            ck_assert_int_eq(r[i].code, 5);
            ck_assert(r[i].resp_null);
        } else {
            char want[16];
            snprintf(want, sizeof want, "r%d", i);
            ck_assert_int_eq(r[i].code, 0);
            ck_assert_str_eq(r[i].resp, want);
        }
    }
    client_down();
}
END_TEST

/* Every request offers gzip; a gzip response (small, and 1 MiB that compresses well) is
 * decoded; a corrupt one fails the call with INTERNAL. */
START_TEST(gzip_responses)
{
    client_up(5000);
    res a = {0}, b = {0}, d = {0};
    ck_assert_int_eq(rq_call_async(C, "/t.S/A", "a", 1, 0, on_done, &a), 0);
    ck_assert_int_eq(rq_call_async(C, "/t.S/B", "b", 1, 0, on_done, &b), 0);
    ck_assert_int_eq(rq_call_async(C, "/t.S/D", "d", 1, 0, on_done, &d), 0);
    SPIN_UNTIL(ended(0, 2));
    ck_assert_str_eq(fs_c[0].st[0].accept_enc, "identity,gzip");
    ck_assert_str_eq(fs_c[0].st[0].enc, ""); /* nothing compressed before the server says so */
    fs_answer(&fs_c[0], 1, "zipped answer", true, 0);
    size_t big = 1u << 20;
    char *m = malloc(big + 1);
    for (size_t i = 0; i < big; i++) m[i] = "ringq"[i % 5];
    m[big] = 0;
    fs_answer_n(&fs_c[0], 3, m, big, FA_GZ, 0);
    fs_answer_n(&fs_c[0], 5, "not gzip at all", 15, FA_CORRUPT, 0);
    SPIN_UNTIL(a.done && b.done && d.done);
    ck_assert_int_eq(a.code, 0);
    ck_assert_str_eq(a.resp, "zipped answer");
    ck_assert_int_eq(b.code, 0);
    ck_assert_int_eq(strncmp(b.resp, m, sizeof b.resp - 1), 0); /* the first 255 bytes */
    ck_assert_int_eq(d.code, 13);
    ck_assert_msg(strstr(d.msg, "gzip"), "%s", d.msg);
    free(m);
    client_down();
}
END_TEST

static void on_len(rq_client *c, void *ud, const rq_status *st, const uint8_t *resp, size_t n)
{
    res *r = ud;
    on_done(c, ud, st, resp, n);
    snprintf(r->resp, sizeof r->resp, "%zu", n);
}

/* With gzip_min_bytes, requests that large are compressed once the server listed gzip in a
 * response's grpc-accept-encoding; smaller ones go plain. */
START_TEST(gzip_requests)
{
    fs_start();
    rq_status st;
    rq_client_opts o = {.addr = fs_addr, .timeout_ms = 5000, .gzip_min_bytes = 100};
    C = rq_client_create(&o, &st);
    ck_assert_ptr_nonnull(C);
    static char big[8192];
    for (size_t i = 0; i < sizeof big; i++) big[i] = "abcabcabd"[i % 9];
    res r1 = {0}, r2 = {0}, r3 = {0};
    ck_assert_int_eq(rq_call_async(C, "/t.S/A", big, sizeof big, 0, on_len, &r1), 0);
    SPIN_UNTIL(ended(0, 0));
    ck_assert_str_eq(fs_c[0].st[0].enc, "");
    ck_assert_uint_eq(buf_size(&fs_c[0].st[0].body), 5 + sizeof big);
    ck_assert_int_eq(buf_begin(&fs_c[0].st[0].body)[0], 0);
    fs_answer_n(&fs_c[0], 1, "ok", 2, FA_ACCEPT, 0);
    SPIN_UNTIL(r1.done);
    ck_assert_int_eq(rq_call_async(C, "/t.S/B", big, sizeof big, 0, on_len, &r2), 0);
    ck_assert_int_eq(rq_call_async(C, "/t.S/C", "small", 5, 0, on_len, &r3), 0);
    SPIN_UNTIL(ended(0, 2));
    fs_stream *s2 = &fs_c[0].st[1], *s3 = &fs_c[0].st[2];
    ck_assert_str_eq(s2->enc, "gzip");
    const uint8_t *p = buf_begin(&s2->body);
    ck_assert_int_eq(p[0], 1);
    ck_assert_uint_lt(buf_size(&s2->body), 1000);
    buf plain;
    buf_init(&plain, 1 << 20);
    pw_gzip_ctx g;
    pw_gzip_ctx_init(&g, -1);
    ck_assert_int_eq(pw_gzip_decompress(&g, p + 5, buf_size(&s2->body) - 5, 1 << 20, &plain), 0);
    pw_gzip_ctx_deinit(&g);
    ck_assert_uint_eq(buf_size(&plain), sizeof big);
    ck_assert_int_eq(memcmp(buf_begin(&plain), big, sizeof big), 0);
    buf_deinit(&plain);
    ck_assert_int_eq(buf_begin(&s3->body)[0], 0); /* below gzip_min_bytes */
    fs_answer_n(&fs_c[0], s2->id, "ok", 2, 0, 0);
    fs_answer_n(&fs_c[0], s3->id, "ok", 2, 0, 0);
    SPIN_UNTIL(r2.done && r3.done);
    ck_assert_int_eq(r2.code, 0);
    ck_assert_int_eq(r3.code, 0);
    client_down();
}
END_TEST

/* A server whose accept queue is full drops our SYNs: the connect times out after
 * connect_timeout_ms, is tried again with backoff, and the call ends at its deadline with
 * RQ_ECONNECT saying why — while the loop keeps running (the connect never blocks it). */
START_TEST(connect_timeout_and_backoff)
{
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sa, sizeof sa), 0);
    ck_assert_int_eq(listen(lfd, 0), 0);
    ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&sa, &sl), 0);
    int fill[4];
    for (int i = 0; i < 4; i++) {
        fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        connect(fill[i], (struct sockaddr *)&sa, sizeof sa);
    }
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", ntohs(sa.sin_port));
    rq_status st;
    rq_client_opts o = {.addr = addr, .timeout_ms = 1500, .connect_timeout_ms = 200};
    C = rq_client_create(&o, &st);
    ck_assert_ptr_nonnull(C);
    res r = {0};
    ck_assert_int_eq(rq_call_async(C, "/t.S/A", "a", 1, 0, on_done, &r), 0);
    int polls = 0;
    for (int i = 0; i < 3000 && !r.done; i++, polls++) rq_client_poll(C, 1);
    ck_assert_int_eq(r.done, 1);
    ck_assert_int_eq(r.code, RQ_ECONNECT);
    ck_assert_msg(strstr(r.msg, "timed out") && strstr(r.msg, "attempts"), "%s", r.msg);
    ck_assert_int_gt(polls, 100); /* the loop ran all along */
    rq_client_destroy(C);
    C = NULL;
    for (int i = 0; i < 4; i++) close(fill[i]);
    close(lfd);
}
END_TEST

/* A Work stream's acks with many unanswered: each send looks at the one request it sends, not
 * at every request still waiting for its answer (before: the queue was walked from its head at
 * every send, N (N + 1) / 2 requests looked at for N acks: 20,100 for 200), and the server
 * receives them all once, in order. */
static void no_task(rq_work *w, void *ud, rq_task *t) { rq_task_free(t); }

/* The WorkRequests the fake server received whole on a Work stream: a Subscribe first, then
 * acks with request ids 1, 2, ...; returns how many acks so far (fails on anything else). */
static uint64_t acks_in_order(const buf *b)
{
    const uint8_t *p = buf_begin(b);
    size_t left = buf_size(b), k = 0;
    uint64_t acks = 0;
    while (left >= 5) {
        uint32_t len = (uint32_t)p[1] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 8 | p[4];
        if (left < 5 + (size_t)len) break;
        pwm_ringq_v1_WorkRequest m;
        pw_msg_arena a;
        ck_assert_int_eq(rq_msg_decode(&pwm_ringq_v1_WorkRequest_desc, &m, p + 5, len, &a), 0);
        if (k++ == 0) {
            ck_assert_int_eq(m.kind_case, pwm_ringq_v1_WorkRequest_FIELD_subscribe);
        } else {
            ck_assert_int_eq(m.kind_case, pwm_ringq_v1_WorkRequest_FIELD_ack);
            ck_assert_uint_eq(m.request_id, ++acks);
        }
        pw_msg_arena_deinit(&a);
        p += 5 + len;
        left -= 5 + len;
    }
    return acks;
}

START_TEST(work_acks_cost_one_look_each)
{
    client_up(5000);
    static const rq_work_cbs cbs = {no_task, NULL, NULL};
    const char *q = "q";
    rq_status st;
    rq_work *w = rq_work_open(C, &q, 1, 0, 0, &cbs, NULL, &st);
    ck_assert_ptr_nonnull(w);
    SPIN_UNTIL(rq_work_connected(w) && buf_size(&fs_c[0].st[0].body) > 0);
    enum { N = 200 };
    uint64_t before = rq_work_sends_scanned(w);
    for (uint64_t i = 1; i <= N; i++) {
        char id[16];
        snprintf(id, sizeof id, "t%llu", (unsigned long long)i);
        ck_assert_int_eq(rq_work_ack(w, id, 7, i), 0);
    }
    ck_assert_uint_eq(rq_work_unanswered(w), N);
    ck_assert_uint_le(rq_work_sends_scanned(w) - before, N);
    /* The server got the Subscribe, then the N acks in order. */
    SPIN_UNTIL(acks_in_order(&fs_c[0].st[0].body) == N);
    rq_work_close(w);
    client_down();
}
END_TEST

/* The client's sends have completed (nothing in flight on connection k). */
static bool send_idle(void) { return C->conn && !C->conn->sop.busy && C->conn->slen == 0; }

/* Calls and acks started between rq_client_cork and rq_client_uncork leave in one socket write
 * at the uncork (a load generator's due sends, a worker's acks). Uncorked, the first call of a
 * burst is written at once and the rest only after that send completed: two writes. A blocking
 * call inside the bracket is refused (its request would never be written). */
START_TEST(corked_calls_leave_in_one_write)
{
    client_up(5000);
    res r[7] = {0};
    ck_assert_int_eq(rq_call_async(C, "/t.S/U", "u", 1, 0, on_done, &r[0]), 0);
    SPIN_UNTIL(ended(0, 0));
    SPIN_UNTIL(send_idle());
    uint64_t w0 = rq_client_writes(C);
    for (int i = 1; i <= 3; i++)
        ck_assert_int_eq(rq_call_async(C, "/t.S/A", "a", 1, 0, on_done, &r[i]), 0);
    ck_assert_uint_eq(rq_client_writes(C) - w0, 1); /* the first, alone */
    SPIN_UNTIL(ended(0, 3) && send_idle());
    ck_assert_uint_eq(rq_client_writes(C) - w0, 2);
    uint64_t w1 = rq_client_writes(C);
    rq_client_cork(C);
    rq_client_cork(C); /* brackets nest */
    for (int i = 4; i <= 6; i++)
        ck_assert_int_eq(rq_call_async(C, "/t.S/B", "b", 1, 0, on_done, &r[i]), 0);
    rq_task_spec spec = {.payload = "x", .payload_len = 1};
    rq_enqueue_result er;
    rq_status st;
    ck_assert_int_eq(rq_enqueue(C, "q", &spec, 1, &er, &st), RQ_EINVAL);
    ck_assert_ptr_null(rq_read_open(C, "s", NULL, &st)); /* a stream open waits as well */
    ck_assert_int_eq(st.code, RQ_EINVAL);
    ck_assert_ptr_nonnull(strstr(st.message, "cork"));
    rq_client_uncork(C);
    ck_assert_uint_eq(rq_client_writes(C) - w1, 0); /* still held by the outer bracket */
    rq_client_uncork(C);
    ck_assert_uint_eq(rq_client_writes(C) - w1, 1);
    SPIN_UNTIL(ended(0, 6) && send_idle());
    ck_assert_uint_eq(rq_client_writes(C) - w1, 1);
    for (int i = 4; i <= 6; i++) ck_assert_str_eq(fs_c[0].st[i].path, "/t.S/B");
    /* A Work stream's acks the same way. */
    static const rq_work_cbs cbs = {no_task, NULL, NULL};
    const char *q = "q";
    rq_work *w = rq_work_open(C, &q, 1, 0, 0, &cbs, NULL, &st);
    ck_assert_ptr_nonnull(w);
    SPIN_UNTIL(rq_work_connected(w) && fs_c[0].nst == 8 && buf_size(&fs_c[0].st[7].body) > 0 &&
               send_idle());
    uint64_t w2 = rq_client_writes(C);
    rq_client_cork(C);
    for (uint64_t i = 1; i <= 5; i++) ck_assert_int_eq(rq_work_ack(w, "t", 7, i), 0);
    rq_client_uncork(C);
    SPIN_UNTIL(acks_in_order(&fs_c[0].st[7].body) == 5 && send_idle());
    ck_assert_uint_eq(rq_client_writes(C) - w2, 1);
    rq_work_close(w);
    client_down();
}
END_TEST

static Suite *rq_suite(void)
{
    Suite *s = suite_create("rq_client");
    TCase *tc = tcase_create("connections");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, goaway_old_connection_serviced);
    tcase_add_test(tc, goaway_old_connection_deadline);
    tcase_add_test(tc, many_in_flight_out_of_order);
    tcase_add_test(tc, gzip_responses);
    tcase_add_test(tc, gzip_requests);
    tcase_add_test(tc, connect_timeout_and_backoff);
    tcase_add_test(tc, work_acks_cost_one_look_each);
    tcase_add_test(tc, corked_calls_leave_in_one_write);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return fs_run_suite(rq_suite()); }
