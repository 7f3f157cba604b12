/* tests/unit/test_rq_fx: a fake gRPC server in the test's own thread for libringq's unit tests
 * (test_rq_client.c, test_rq_aconsume.c): a loopback listener whose connections are driven by a
 * pw_h2 server session; fs_pump() accepts, reads and writes, SPIN_UNTIL runs the client (C) and
 * the server in turn until a condition holds. Every function is static: include it once. */
#ifndef TEST_RQ_FX_H
#define TEST_RQ_FX_H

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
#include "ts_main.h"

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

static inline fs_stream *fs_find(fs_conn *k, uint32_t id)
{
    for (int i = 0; i < k->nst; i++)
        if (k->st[i].id == id) return &k->st[i];
    return NULL;
}

static inline bool hname(const pw_h2_header *h, const char *s)
{
    return h->name_len == strlen(s) && memcmp(h->name, s, h->name_len) == 0;
}

static inline void hcopy(char *dst, size_t cap, const pw_h2_header *h)
{
    size_t n = h->value_len < cap - 1 ? h->value_len : cap - 1;
    memcpy(dst, h->value, n);
    dst[n] = 0;
}

static inline int fs_on_headers(void *ud, uint32_t sid, const pw_h2_header *h, size_t n,
                                unsigned fl)
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

static inline int fs_on_data(void *ud, uint32_t sid, const uint8_t *p, size_t n, bool end)
{
    fs_stream *st = fs_find(ud, sid);
    if (st) {
        buf_append(&st->body, p, n);
        if (end) st->ended = true;
    }
    return 0;
}

static inline void fs_on_close(void *ud, uint32_t sid, uint32_t code)
{
    fs_stream *st = fs_find(ud, sid);
    if (st) {
        st->closed = true;
        st->close_code = code;
    }
}

static inline void fs_start(void)
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

static inline void fs_flush(fs_conn *k)
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
static inline void fs_pump(void)
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
static inline void fs_raw_goaway(fs_conn *k, uint32_t last)
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
static inline void fs_answer_n(fs_conn *k, uint32_t sid, const char *msg, size_t n, unsigned fl,
                               int code)
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

static inline void fs_answer(fs_conn *k, uint32_t sid, const char *msg, bool gz, int code)
{
    fs_answer_n(k, sid, msg, msg ? strlen(msg) : 0, gz ? FA_GZ : 0, code);
}

static inline void fs_stop(void)
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

static inline void on_done(rq_client *c, void *ud, const rq_status *st, const uint8_t *resp,
                           size_t n)
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

static inline void client_up(uint32_t timeout_ms)
{
    fs_start();
    rq_status st;
    rq_client_opts o = {.addr = fs_addr, .timeout_ms = timeout_ms};
    C = rq_client_create(&o, &st);
    ck_assert_msg(C != NULL, "%s", st.message);
}

static inline void client_down(void)
{
    rq_client_destroy(C);
    C = NULL;
    fs_stop();
}

static inline bool ended(int conn, int i)
{
    return fs_n > conn && fs_c[conn].nst > i && fs_c[conn].st[i].ended;
}

/* A test binary's main: exits 77 (skip) when a client cannot be created (no io_uring), else
 * runs suite `s` (taken: freed with its runner). Returns main's exit code: 1 if a test failed. */
static inline int fs_run_suite(Suite *s)
{
    rq_status st;
    rq_client_opts o = {.addr = "127.0.0.1:1"};
    rq_client *probe = rq_client_create(&o, &st);
    if (!probe) {
        fprintf(stderr, "skipping: %s\n", st.message); /* io_uring unavailable */
        return 77;
    }
    rq_client_destroy(probe);
    return ts_run_suite(s);
}

#endif
