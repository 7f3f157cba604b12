/* Unit tests for bench/rb_sock: pipelined writes, a parser fed across provided buffers with
 * leftovers, peer close and parser errors reported once, the 64 MiB send bound, frees from
 * inside callbacks and with a send in flight, and the blocking rpc helper (reply, timeout,
 * size bound, refused connect). Skips (exit 77) when io_uring is unavailable. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench/rb_sock.h"
#include "core/ev_reactor.h"
#include "core/rt_clock.h"
#include "core/rt_net.h"
#include "ts_main.h"

/* ---- fixture: a loop, a listener, one rb_sock and the accepted server side ---- */

typedef struct fx {
    ev_loop *loop;
    int lfd;
    int sfd; /* server side, nonblocking */
    char addr[64];
    rb_sock *s;
    /* what the parser saw */
    char lines[8][128];
    int nlines;
    size_t big_line; /* length of a line longer than 127 bytes */
    int calls;       /* on_data invocations */
    int errors;      /* on_error invocations */
    char why[256];
    int fail_with;     /* on_data returns this when non-zero */
    bool free_in_data; /* on_data frees the socket */
} fx;

static ssize_t on_data(void *ud, const uint8_t *p, size_t len)
{
    fx *f = ud;
    f->calls++;
    if (f->fail_with) return f->fail_with;
    if (f->free_in_data) {
        rb_sock_free(f->s);
        f->s = NULL;
        return 0;
    }
    const uint8_t *nl = memchr(p, '\n', len);
    if (!nl) return 0;
    size_t n = (size_t)(nl - p);
    if (n >= sizeof f->lines[0]) {
        f->big_line = n;
    } else if (f->nlines < 8) {
        memcpy(f->lines[f->nlines], p, n);
        f->lines[f->nlines++][n] = 0;
    }
    return (ssize_t)(n + 1); /* one line per call: rb_sock offers the rest again */
}

static void on_error(void *ud, const char *why)
{
    fx *f = ud;
    f->errors++;
    snprintf(f->why, sizeof f->why, "%s", why);
}

static const rb_sock_cbs cbs = {.on_data = on_data, .on_error = on_error};

static void fx_open(fx *f)
{
    memset(f, 0, sizeof *f);
    int err;
    const char *why;
    f->loop = ev_loop_create(NULL, &err, &why);
    ck_assert_msg(f->loop != NULL, "ev_loop_create: %s", why ? why : "?");
    f->lfd = rt_listen_tcp("127.0.0.1", 0, false);
    ck_assert_int_ge(f->lfd, 0);
    snprintf(f->addr, sizeof f->addr, "127.0.0.1:%d", rt_socket_port(f->lfd));
    char e[256] = "";
    f->s = rb_sock_connect(f->loop, f->addr, &cbs, f, e, sizeof e);
    ck_assert_msg(f->s != NULL, "connect: %s", e);
    f->sfd = accept4(f->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    ck_assert_int_ge(f->sfd, 0);
}

static void fx_close(fx *f)
{
    if (f->s) rb_sock_free(f->s);
    /* Let the reactor report the final completions of a freed socket. */
    for (int i = 0; i < 5; i++) ev_loop_run_once(f->loop, false);
    if (f->sfd >= 0) close(f->sfd);
    close(f->lfd);
    ev_loop_destroy(f->loop);
}

/* Runs the loop (without blocking) until `done(f)` or 2 s pass; reads the server side into
 * `got` when given. Returns whether `done` became true. */
static bool pump(fx *f, bool (*done)(fx *f, const char *got, size_t n), char *got, size_t cap,
                 size_t *n)
{
    uint64_t deadline = rt_now_ns() + 2 * RT_NS_PER_S;
    size_t dummy = 0;
    if (!n) n = &dummy;
    while (rt_now_ns() < deadline) {
        ev_loop_run_once(f->loop, false);
        if (got && *n < cap) {
            ssize_t r = recv(f->sfd, got + *n, cap - *n, 0);
            if (r > 0) *n += (size_t)r;
        }
        if (done(f, got, *n)) return true;
        struct pollfd pfd = {.fd = f->sfd, .events = POLLIN};
        poll(&pfd, 1, 1);
    }
    return false;
}

static size_t want_bytes;
static bool got_all(fx *f, const char *got, size_t n) { return n >= want_bytes; }
static bool two_lines(fx *f, const char *got, size_t n) { return f->nlines >= 2; }
static bool one_error(fx *f, const char *got, size_t n) { return f->errors > 0; }
static bool big_seen(fx *f, const char *got, size_t n) { return f->big_line > 0; }
static bool data_seen(fx *f, const char *got, size_t n) { return f->calls > 0; }

static void server_send(fx *f, const char *p, size_t n)
{
    ck_assert_int_eq(send(f->sfd, p, n, MSG_NOSIGNAL), (ssize_t)n);
}

/* ---- tests ---- */

START_TEST(pipelined_writes_arrive_in_order)
{
    fx f;
    fx_open(&f);
    char expect[8192];
    size_t off = 0;
    for (int i = 0; i < 200; i++) {
        char line[32];
        int n = snprintf(line, sizeof line, "put %d\r\n", i);
        ck_assert_int_eq(
            i % 2 ? rb_sock_write(f.s, line, (size_t)n) : rb_sock_printf(f.s, "put %d\r\n", i), 0);
        memcpy(expect + off, line, (size_t)n);
        off += (size_t)n;
    }
    /* A printf longer than the stack scratch buffer. */
    char longv[600];
    memset(longv, 'x', sizeof longv - 1);
    longv[sizeof longv - 1] = 0;
    ck_assert_int_eq(rb_sock_printf(f.s, "%s\r\n", longv), 0);
    off += (size_t)snprintf(expect + off, sizeof expect - off, "%s\r\n", longv);

    static char got[8192];
    size_t n = 0;
    want_bytes = off;
    ck_assert(pump(&f, got_all, got, sizeof got, &n));
    ck_assert_uint_eq(n, off);
    ck_assert(memcmp(got, expect, off) == 0);
    ck_assert_int_eq(f.errors, 0);
    fx_close(&f);
}
END_TEST

START_TEST(parser_gets_leftovers_across_receives)
{
    fx f;
    fx_open(&f);
    server_send(&f, "hel", 3);
    ck_assert(pump(&f, data_seen, NULL, 0, NULL));
    ck_assert_int_eq(f.nlines, 0);
    server_send(&f, "lo\nwor", 6);
    server_send(&f, "ld\n", 3);
    ck_assert(pump(&f, two_lines, NULL, 0, NULL));
    ck_assert_str_eq(f.lines[0], "hello");
    ck_assert_str_eq(f.lines[1], "world");
    ck_assert_int_eq(f.errors, 0);
    fx_close(&f);
}
END_TEST

START_TEST(reply_larger_than_a_provided_buffer)
{
    fx f;
    fx_open(&f);
    size_t len = 100000; /* > 16 KiB provided buffers */
    char *big = malloc(len + 1);
    memset(big, 'a', len);
    big[len] = '\n';
    size_t off = 0;
    while (off < len + 1) {
        ssize_t r = send(f.sfd, big + off, len + 1 - off, MSG_NOSIGNAL);
        if (r > 0) off += (size_t)r;
        ev_loop_run_once(f.loop, false);
    }
    ck_assert(pump(&f, big_seen, NULL, 0, NULL));
    ck_assert_uint_eq(f.big_line, len);
    free(big);
    fx_close(&f);
}
END_TEST

START_TEST(peer_close_reported_once)
{
    fx f;
    fx_open(&f);
    close(f.sfd);
    f.sfd = -1;
    ck_assert(pump(&f, one_error, NULL, 0, NULL));
    for (int i = 0; i < 5; i++) ev_loop_run_once(f.loop, false);
    ck_assert_int_eq(f.errors, 1);
    ck_assert_msg(strstr(f.why, "closed by the peer") && strstr(f.why, f.addr), "%s", f.why);
    ck_assert_int_eq(rb_sock_write(f.s, "x", 1), -EPIPE);
    fx_close(&f);
}
END_TEST

START_TEST(parser_error_fails_connection)
{
    fx f;
    fx_open(&f);
    f.fail_with = -EPROTO;
    server_send(&f, "-ERR nope\r\n", 11);
    ck_assert(pump(&f, one_error, NULL, 0, NULL));
    ck_assert_int_eq(f.errors, 1);
    ck_assert_msg(strstr(f.why, "protocol error"), "%s", f.why);
    fx_close(&f);
}
END_TEST

START_TEST(send_queue_is_bounded)
{
    fx f;
    fx_open(&f);
    size_t chunk = 1 << 20;
    char *p = calloc(1, chunk);
    int ok = 0, r = 0;
    for (int i = 0; i < 100; i++) {
        r = rb_sock_write(f.s, p, chunk);
        if (r < 0) break;
        ok++;
    }
    ck_assert_int_eq(r, -ENOMEM);
    ck_assert_int_eq(ok, 64);
    ck_assert_int_eq(f.errors, 0); /* never from inside the write */
    ck_assert(pump(&f, one_error, NULL, 0, NULL));
    ck_assert_msg(strstr(f.why, "over 64 MiB"), "%s", f.why);
    ck_assert_int_eq(rb_sock_write(f.s, p, 1), -EPIPE);
    free(p);
    fx_close(&f);
}
END_TEST

START_TEST(free_inside_callback_is_deferred)
{
    fx f;
    fx_open(&f);
    f.free_in_data = true;
    server_send(&f, "x\n", 2);
    ck_assert(pump(&f, data_seen, NULL, 0, NULL));
    ck_assert_ptr_null(f.s);
    ck_assert_int_eq(f.errors, 0);
    server_send(&f, "y\n", 2); /* the socket is gone: nothing must reach the parser */
    for (int i = 0; i < 20; i++) ev_loop_run_once(f.loop, false);
    ck_assert_int_eq(f.calls, 1);
    fx_close(&f);
}
END_TEST

START_TEST(free_with_send_in_flight)
{
    fx f;
    fx_open(&f);
    size_t chunk = 8 << 20; /* more than the socket buffers take: the send stays in flight */
    char *p = calloc(1, chunk);
    ck_assert_int_eq(rb_sock_write(f.s, p, chunk), 0);
    for (int i = 0; i < 5; i++) ev_loop_run_once(f.loop, false);
    rb_sock_free(f.s);
    f.s = NULL;
    free(p);
    /* The kernel ends the send once the socket is shut down; the zombie is reaped then. */
    for (int i = 0; i < 20; i++) ev_loop_run_once(f.loop, false);
    ck_assert_int_eq(f.errors, 0);
    fx_close(&f);
}
END_TEST

static bool crlf(const char *p, size_t n) { return n >= 2 && p[n - 2] == '\r' && p[n - 1] == '\n'; }
static bool never(const char *p, size_t n) { return false; }

START_TEST(rpc_roundtrip_timeout_and_bounds)
{
    int lfd = rt_listen_tcp("127.0.0.1", 0, false);
    ck_assert_int_ge(lfd, 0);
    char addr[64], err[256] = "";
    snprintf(addr, sizeof addr, "127.0.0.1:%d", rt_socket_port(lfd));
    int fd = rb_sock_dial(addr, 1000, err, sizeof err);
    ck_assert_msg(fd >= 0, "%s", err);
    int sfd = accept(lfd, NULL, NULL);
    ck_assert_int_ge(sfd, 0);
    ck_assert_int_eq(send(sfd, "+PONG\r\n", 7, 0), 7);
    char out[64];
    ck_assert_int_eq(rb_sock_rpc(fd, "PING\r\n", 6, out, sizeof out, crlf, 1000), 7);
    ck_assert_str_eq(out, "+PONG\r\n");
    char in[16] = "";
    ck_assert_int_eq(recv(sfd, in, sizeof in - 1, 0), 6);
    ck_assert_str_eq(in, "PING\r\n");

    uint64_t t0 = rt_now_ns();
    ck_assert_int_eq(rb_sock_rpc(fd, "x", 1, out, sizeof out, never, 100), -ETIMEDOUT);
    ck_assert_uint_lt(rt_now_ns() - t0, 2 * RT_NS_PER_S);

    ck_assert_int_eq(send(sfd, "0123456789", 10, 0), 10);
    char small[5];
    ck_assert_int_eq(rb_sock_rpc(fd, "y", 1, small, sizeof small, never, 1000), -EMSGSIZE);

    close(sfd);
    ck_assert_int_eq(rb_sock_rpc(fd, "z", 1, out, sizeof out, never, 1000) < 0, 1);
    close(fd);
    close(lfd);

    /* Nothing listens there any more. */
    ck_assert_int_lt(rb_sock_dial(addr, 1000, err, sizeof err), 0);
    ck_assert_msg(strstr(err, "connect") && strstr(err, addr), "%s", err);
    ck_assert_int_eq(rb_sock_dial("no-port", 1000, err, sizeof err), -EINVAL);
}
END_TEST

int main(void)
{
    int skip = ts_io_uring_or_skip();
    if (skip) return skip;
    Suite *s = suite_create("rb_sock");
    TCase *tc = tcase_create("sock");
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, pipelined_writes_arrive_in_order);
    tcase_add_test(tc, parser_gets_leftovers_across_receives);
    tcase_add_test(tc, reply_larger_than_a_provided_buffer);
    tcase_add_test(tc, peer_close_reported_once);
    tcase_add_test(tc, parser_error_fails_connection);
    tcase_add_test(tc, send_queue_is_bounded);
    tcase_add_test(tc, free_inside_callback_is_deferred);
    tcase_add_test(tc, free_with_send_in_flight);
    tcase_add_test(tc, rpc_roundtrip_timeout_and_bounds);
    suite_add_tcase(s, tc);
    return ts_run_suite(s);
}
