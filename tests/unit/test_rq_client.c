/* libringq's connection handling against a fake gRPC server in the same thread: a loopback
 * listener whose connections are driven by a pw_h2 server session (plus raw frames where the
 * test needs a GOAWAY with a chosen last stream id). The client runs its own loop
 * (rq_client_poll); the fake server is pumped between polls. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client/ringq.h"
#include "core/rt_buf.h"
#include "proto_wire/pw_gzip.h"
#include "proto_wire/pw_h2.h"
#include "proto_wire/pw_h2_frame.h"

/* ---- the fake server ---- */

#define FS_CONNS 4
#define FS_STREAMS 64

typedef struct fs_stream {
    uint32_t id;
    char path[64];
    char accept_enc[64];
    char enc[32];
    buf body; /* request DATA (gRPC-framed) */
    bool ended;
    bool closed;
    uint32_t close_code;
} fs_stream;

typedef struct fs_conn {
    int fd;
    bool eof;
    pw_h2_session *s;
    fs_stream st[FS_STREAMS];
    int nst;
} fs_conn;

static rq_client *C; /* the client under test */
static int fs_lfd = -1;
static char fs_addr[64];
static fs_conn fs_c[FS_CONNS];
static int fs_n;

static fs_stream *fs_find(fs_conn *k, uint32_t id)
{
    for (int i = 0; i < k->nst; i++)
        if (k->st[i].id == id) return &k->st[i];
    return NULL;
}

static bool hname(const pw_h2_header *h, const char *s)
{
    return h->name_len == strlen(s) && memcmp(h->name, s, h->name_len) == 0;
}

static void hcopy(char *dst, size_t cap, const pw_h2_header *h)
{
    size_t n = h->value_len < cap - 1 ? h->value_len : cap - 1;
    memcpy(dst, h->value, n);
    dst[n] = 0;
}

static int fs_on_headers(void *ud, uint32_t sid, const pw_h2_header *h, size_t n, unsigned fl)
{
    fs_conn *k = ud;
    fs_stream *st = fs_find(k, sid);
    if (!st) {
        ck_assert_int_lt(k->nst, FS_STREAMS);
        st = &k->st[k->nst++];
        memset(st, 0, sizeof *st);
        st->id = sid;
        buf_init(&st->body, 1 << 20);
    }
    for (size_t i = 0; i < n; i++) {
        if (hname(&h[i], ":path")) hcopy(st->path, sizeof st->path, &h[i]);
        if (hname(&h[i], "grpc-accept-encoding"))
            hcopy(st->accept_enc, sizeof st->accept_enc, &h[i]);
        if (hname(&h[i], "grpc-encoding")) hcopy(st->enc, sizeof st->enc, &h[i]);
    }
    if (fl & PW_H2_HF_END_STREAM) st->ended = true;
    return 0;
}

static int fs_on_data(void *ud, uint32_t sid, const uint8_t *p, size_t n, bool end)
{
    fs_stream *st = fs_find(ud, sid);
    if (st) {
        buf_append(&st->body, p, n);
        if (end) st->ended = true;
    }
    return 0;
}

static void fs_on_close(void *ud, uint32_t sid, uint32_t code)
{
    fs_stream *st = fs_find(ud, sid);
    if (st) {
        st->closed = true;
        st->close_code = code;
    }
}

static void fs_start(void)
{
    fs_lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fs_lfd, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    ck_assert_int_eq(bind(fs_lfd, (struct sockaddr *)&sa, sizeof sa), 0);
    ck_assert_int_eq(listen(fs_lfd, 8), 0);
    ck_assert_int_eq(getsockname(fs_lfd, (struct sockaddr *)&sa, &sl), 0);
    snprintf(fs_addr, sizeof fs_addr, "127.0.0.1:%d", ntohs(sa.sin_port));
    fs_n = 0;
}

static void fs_flush(fs_conn *k)
{
    const uint8_t *p;
    size_t n;
    for (;;) {
        pw_h2_session_output(k->s, &p, &n);
        if (n == 0) break;
        ssize_t w = send(k->fd, p, n, MSG_NOSIGNAL);
        if (w <= 0) break; /* the client went away */
        pw_h2_session_output_consume(k->s, (size_t)w);
    }
}

/* Accepts new connections, reads what arrived, writes what the sessions queued. */
static void fs_pump(void)
{
    int fd;
    while (fs_n < FS_CONNS && (fd = accept4(fs_lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
        fs_conn *k = &fs_c[fs_n++];
        memset(k, 0, sizeof *k);
        k->fd = fd;
        pw_h2_callbacks cb = {
            .on_headers = fs_on_headers, .on_data = fs_on_data, .on_stream_close = fs_on_close};
        pw_h2_config cfg;
        pw_h2_config_default(&cfg);
        cfg.auto_consume = true;
        k->s = pw_h2_session_create(PW_H2_ROLE_SERVER, &cfg, &cb, k);
        ck_assert_ptr_nonnull(k->s);
    }
    for (int i = 0; i < fs_n; i++) {
        fs_conn *k = &fs_c[i];
        uint8_t b[16384];
        while (!k->eof) {
            ssize_t r = recv(k->fd, b, sizeof b, MSG_DONTWAIT);
            if (r < 0 && errno == EAGAIN) break;
            if (r <= 0) {
                k->eof = true;
                break;
            }
            pw_h2_session_recv(k->s, b, (size_t)r, 1);
        }
        if (!k->eof) fs_flush(k);
    }
}

/* A GOAWAY frame written straight to the socket (after what the session queued). */
static void fs_raw_goaway(fs_conn *k, uint32_t last)
{
    fs_flush(k);
    uint8_t f[17] = {0, 0, 8, 0x7, 0, 0, 0, 0, 0};
    f[9] = (uint8_t)(last >> 24);
    f[10] = (uint8_t)(last >> 16);
    f[11] = (uint8_t)(last >> 8);
    f[12] = (uint8_t)last;
    ck_assert_int_eq(send(k->fd, f, sizeof f, MSG_NOSIGNAL), (ssize_t)sizeof f);
}

/* fs_answer flags */
#define FA_GZ 1u      /* gzip the message (grpc-encoding: gzip) */
#define FA_ACCEPT 2u  /* list gzip in grpc-accept-encoding */
#define FA_CORRUPT 4u /* a compressed-flagged message that is not gzip */

/* Answers stream `sid` with one message of `n` bytes (none when msg is NULL) and grpc-status
 * `code`. */
static void fs_answer_n(fs_conn *k, uint32_t sid, const char *msg, size_t n, unsigned fl, int code)
{
    pw_h2_header h[4] = {PW_H2_HDR(":status", "200"),
                         PW_H2_HDR("content-type", "application/grpc")};
    size_t nh = 2;
    if (fl & (FA_GZ | FA_CORRUPT)) h[nh++] = (pw_h2_header)PW_H2_HDR("grpc-encoding", "gzip");
    if (fl & FA_ACCEPT) h[nh++] = (pw_h2_header)PW_H2_HDR("grpc-accept-encoding", "identity,gzip");
    ck_assert_int_eq(pw_h2_submit_headers(k->s, sid, h, nh, false), 0);
    if (msg) {
        buf body, z;
        buf_init(&body, 1 << 22);
        buf_init(&z, 1 << 22);
        const uint8_t *p = (const uint8_t *)msg;
        if (fl & FA_GZ) {
            pw_gzip_ctx g;
            pw_gzip_ctx_init(&g, -1);
            ck_assert_int_eq(pw_gzip_compress(&g, p, n, &z), 0);
            pw_gzip_ctx_deinit(&g);
            p = buf_begin(&z);
            n = buf_size(&z);
        }
        bool flag = fl & (FA_GZ | FA_CORRUPT);
        uint8_t hd[5] = {flag, (uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8),
                         (uint8_t)n};
        buf_append(&body, hd, 5);
        buf_append(&body, p, n);
        size_t off = 0;
        while (off < buf_size(&body)) { /* the session takes what its per-stream cap allows */
            ssize_t w = pw_h2_submit_data(k->s, sid, buf_begin(&body) + off, buf_size(&body) - off,
                                          false);
            if (w > 0) off += (size_t)w;
            fs_flush(k);
            if (w <= 0) {
                rq_client_poll(C, 1); /* let the client read and open windows */
                fs_pump();
            }
        }
        buf_deinit(&body);
        buf_deinit(&z);
    }
    char cs[8];
    snprintf(cs, sizeof cs, "%d", code);
    pw_h2_header t[1] = {{"grpc-status", 11, cs, strlen(cs), 0}};
    ck_assert_int_eq(pw_h2_submit_trailers(k->s, sid, t, 1), 0);
    fs_flush(k);
}

static void fs_answer(fs_conn *k, uint32_t sid, const char *msg, bool gz, int code)
{
    fs_answer_n(k, sid, msg, msg ? strlen(msg) : 0, gz ? FA_GZ : 0, code);
}

static void fs_stop(void)
{
    for (int i = 0; i < fs_n; i++) {
        for (int j = 0; j < fs_c[i].nst; j++) buf_deinit(&fs_c[i].st[j].body);
        pw_h2_session_destroy(fs_c[i].s);
        close(fs_c[i].fd);
    }
    fs_n = 0;
    close(fs_lfd);
}

/* ---- the client side ---- */

typedef struct res {
    int done;
    int code;
    char msg[256];
    char resp[256];
    bool resp_null;
} res;

static void on_done(rq_client *c, void *ud, const rq_status *st, const uint8_t *resp, size_t n)
{
    res *r = ud;
    r->done++;
    r->code = st->code;
    snprintf(r->msg, sizeof r->msg, "%s", st->message);
    r->resp_null = resp == NULL;
    if (resp) snprintf(r->resp, sizeof r->resp, "%.*s", (int)n, (const char *)resp);
}

/* Runs the client and the fake server until `cond` holds (or about 5 s pass). */
#define SPIN_UNTIL(cond)                                        \
    do {                                                        \
        for (int spin_ = 0; spin_ < 5000 && !(cond); spin_++) { \
            rq_client_poll(C, 1);                               \
            fs_pump();                                          \
        }                                                       \
        ck_assert_msg((cond), "timed out waiting for " #cond);  \
    } while (0)

static void client_up(uint32_t timeout_ms)
{
    fs_start();
    rq_status st;
    rq_client_opts o = {.addr = fs_addr, .timeout_ms = timeout_ms};
    C = rq_client_create(&o, &st);
    ck_assert_msg(C != NULL, "%s", st.message);
}

static void client_down(void)
{
    rq_client_destroy(C);
    C = NULL;
    fs_stop();
}

static bool ended(int conn, int i)
{
    return fs_n > conn && fs_c[conn].nst > i && fs_c[conn].st[i].ended;
}

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
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    rq_status st;
    rq_client_opts o = {.addr = "127.0.0.1:1"};
    rq_client *probe = rq_client_create(&o, &st);
    if (!probe) {
        fprintf(stderr, "skipping: %s\n", st.message); /* io_uring unavailable */
        return 77;
    }
    rq_client_destroy(probe);
    SRunner *sr = srunner_create(rq_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
