/* Unit tests for bench/rb_drv_jetstream against a scripted server on a local socket: the bytes
 * the driver writes (CONNECT, PUB with per-publish reply tokens, pull requests, double acks),
 * PubAck bookkeeping (errors, out-of-order answers, an answer nobody awaits), the pull
 * accounting (a 408's Nats-Pending-Messages re-asked, deliveries beyond the credits refused),
 * ack answers, PING, -ERR and 409, and in stream mode each group's own durable consumer. Skips (exit 77) when io_uring is unavailable. */
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench/rb_driver.h"
#include "bench/rb_js.h"
#include "core/ev_reactor.h"
#include "core/rt_clock.h"
#include "core/rt_net.h"
#include "ts_main.h"

typedef struct fx {
    ev_loop *loop;
    int lfd, sfd;
    char addr[64];
    rb_target t;
    rb_conn *c;
    char got[16384]; /* what the driver sent, NUL-terminated */
    size_t ngot;
    char inbox[64];
    /* events */
    int dones, tasks, ackeds, fails;
    uint64_t done_tag, handle, acked_handle;
    int done_err, acked_err;
    char why[512], payload[64];
} fx;

static void on_done(void *ud, uint64_t tag, int err, const char *why)
{
    fx *f = ud;
    f->dones++;
    f->done_tag = tag;
    f->done_err = err;
    snprintf(f->why, sizeof(f->why), "%s", why ? why : "");
}

static void on_task(void *ud, const uint8_t *p, size_t len, uint64_t handle)
{
    fx *f = ud;
    f->tasks++;
    f->handle = handle;
    snprintf(f->payload, sizeof(f->payload), "%.*s", (int)len, (const char *)p);
}

static void on_acked(void *ud, uint64_t handle, int err, const char *why)
{
    fx *f = ud;
    f->ackeds++;
    f->acked_handle = handle;
    f->acked_err = err;
}

static void on_failed(void *ud, const char *why)
{
    fx *f = ud;
    f->fails++;
    snprintf(f->why, sizeof(f->why), "%s", why);
}

static const rb_events events = {on_done, on_task, on_acked, on_failed};

/* Runs the loop and reads the server side until `needle` was sent (or, when NULL, until
 * `count` reaches `want`), at most 2 s. */
static bool pump(fx *f, const char *needle, const int *count, int want)
{
    uint64_t deadline = rt_now_ns() + 2 * RT_NS_PER_S;
    while (rt_now_ns() < deadline) {
        ev_loop_run_once(f->loop, false);
        ssize_t r = recv(f->sfd, f->got + f->ngot, sizeof(f->got) - 1 - f->ngot, MSG_DONTWAIT);
        if (r > 0) {
            f->ngot += (size_t)r;
            f->got[f->ngot] = '\0';
        }
        if (needle ? strstr(f->got, needle) != NULL : *count >= want) return true;
        struct pollfd pfd = {.fd = f->sfd, .events = POLLIN};
        poll(&pfd, 1, 1);
    }
    return false;
}

static void server_send(fx *f, const char *s)
{
    size_t n = strlen(s);
    ck_assert_int_eq(send(f->sfd, s, n, MSG_NOSIGNAL), (ssize_t)n);
}

/* Opens a `role` connection to a fresh scripted server; the stream fields of the target come
 * from `streams` when it is not NULL. */
static void fx_open_t(fx *f, rb_role role, const rb_target *streams)
{
    memset(f, 0, sizeof(*f));
    int err;
    const char *why;
    f->loop = ev_loop_create(NULL, &err, &why);
    ck_assert_msg(f->loop != NULL, "ev_loop_create: %s", why ? why : "?");
    f->lfd = rt_listen_tcp("127.0.0.1", 0, false);
    ck_assert_int_ge(f->lfd, 0);
    snprintf(f->addr, sizeof(f->addr), "127.0.0.1:%d", rt_socket_port(f->lfd));
    f->t.addr = f->addr;
    f->t.size = 16;
    if (streams) {
        f->t.stream = streams->stream;
        f->t.groups = streams->groups;
        f->t.group = streams->group;
    }
    char e[256] = "";
    f->c = rb_drv_jetstream.open(f->loop, &f->t, role, &events, f, e, sizeof(e));
    ck_assert_msg(f->c != NULL, "open: %s", e);
    f->sfd = accept4(f->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    ck_assert_int_ge(f->sfd, 0);
    ck_assert(pump(f, "PING\r\n", NULL, 0));
    ck_assert(strncmp(f->got, "CONNECT {\"verbose\":false", 24) == 0);
    ck_assert_ptr_nonnull(strstr(f->got, "\"headers\":true"));
    const char *sub = strstr(f->got, "SUB _INBOX.");
    ck_assert_ptr_nonnull(sub);
    ck_assert_int_eq(sscanf(sub, "SUB %63[^ >]", f->inbox), 1);
    f->inbox[strlen(f->inbox) - 1] = '\0'; /* drop the '.' before '>' */
    server_send(f, "INFO {\"version\":\"2.9.10\",\"max_payload\":1048576,\"jetstream\":true} \r\n"
                   "PONG\r\n");
    f->ngot = 0;
    f->got[0] = '\0';
}

static void fx_open(fx *f, rb_role role) { fx_open_t(f, role, NULL); }

static void fx_close(fx *f)
{
    if (f->c) rb_drv_jetstream.close(f->c);
    for (int i = 0; i < 5; i++) ev_loop_run_once(f->loop, false);
    close(f->sfd);
    close(f->lfd);
    ev_loop_destroy(f->loop);
}

static void server_msg(fx *f, const char *token, const char *body)
{
    char m[512];
    snprintf(m, sizeof(m), "MSG %s.%s 1  %zu\r\n%s\r\n", f->inbox, token, strlen(body), body);
    server_send(f, m);
}

START_TEST(producer_pubacks)
{
    fx f;
    fx_open(&f, RB_ROLE_PRODUCER);
    rb_payload p[3] = {
        {(const uint8_t *)"aaa", 3}, {(const uint8_t *)"bbb", 3}, {(const uint8_t *)"ccc", 3}};
    ck_assert_int_eq(rb_drv_jetstream.send(f.c, p, 3, 7), 0);
    char want[128];
    snprintf(want, sizeof(want), "PUB rqbench %s.p.2 3\r\nccc\r\n", f.inbox);
    ck_assert(pump(&f, want, NULL, 0));
    snprintf(want, sizeof(want), "PUB rqbench %s.p.0 3\r\naaa\r\n", f.inbox);
    ck_assert_ptr_nonnull(strstr(f.got, want));

    /* answers out of order, one of them an error, a PING in between */
    server_msg(&f, "p.0", "{\"stream\":\"RB_rqbench\", \"seq\":1}");
    server_send(&f, "PING\r\n");
    server_msg(&f, "p.2",
               "{\"error\":{\"code\":503,\"err_code\":10077,"
               "\"description\":\"maximum messages exceeded\"}}");
    ck_assert(pump(&f, "PONG\r\n", NULL, 0));
    ck_assert_int_eq(f.dones, 0);
    server_msg(&f, "p.1", "{\"stream\":\"RB_rqbench\", \"seq\":2}");
    ck_assert(pump(&f, NULL, &f.dones, 1));
    ck_assert_uint_eq(f.done_tag, 7);
    ck_assert_int_eq(f.done_err, -EIO);
    ck_assert_ptr_nonnull(strstr(f.why, "maximum messages exceeded"));

    /* a clean batch, then an answer to a publish that already has one */
    ck_assert_int_eq(rb_drv_jetstream.send(f.c, p, 1, 8), 0);
    snprintf(want, sizeof(want), "%s.p.3 3\r\n", f.inbox);
    ck_assert(pump(&f, want, NULL, 0));
    server_msg(&f, "p.3", "{\"stream\":\"RB_rqbench\", \"seq\":3}");
    ck_assert(pump(&f, NULL, &f.dones, 2));
    ck_assert_uint_eq(f.done_tag, 8);
    ck_assert_int_eq(f.done_err, 0);
    server_msg(&f, "p.3", "{\"stream\":\"RB_rqbench\", \"seq\":3}");
    ck_assert(pump(&f, NULL, &f.fails, 1));
    ck_assert_ptr_nonnull(strstr(f.why, "not awaiting"));
    ck_assert_int_eq(rb_drv_jetstream.send(f.c, p, 1, 9), -EPIPE);
    fx_close(&f);
}
END_TEST

START_TEST(producer_limits)
{
    fx f;
    fx_open(&f, RB_ROLE_PRODUCER);
    rb_payload p = {(const uint8_t *)"x", 1};
    ck_assert_int_eq(rb_drv_jetstream.send(f.c, &p, 0, 1), -EINVAL);
    ck_assert_int_eq(rb_drv_jetstream.send(f.c, &p, rb_drv_jetstream.batch_max + 1, 1), -EINVAL);
    static uint8_t big[1048577]; /* one byte over the INFO's (and the default) max_payload */
    rb_payload b = {big, sizeof(big)};
    ck_assert_int_eq(rb_drv_jetstream.send(f.c, &b, 1, 1), -EMSGSIZE);
    ck_assert_int_eq(rb_drv_jetstream.consume(f.c, 1), -EINVAL); /* wrong role */
    server_send(&f, "-ERR 'Maximum Payload Violation'\r\n");
    ck_assert(pump(&f, NULL, &f.fails, 1));
    ck_assert_ptr_nonnull(strstr(f.why, "-ERR 'Maximum Payload Violation'"));
    fx_close(&f);
}
END_TEST

static const char ACK_SUBJ[] = "$JS.ACK.RB_rqbench.rbwork.1.1.1.1795629004169154129.3";

START_TEST(consumer_pulls_and_acks)
{
    fx f;
    fx_open(&f, RB_ROLE_CONSUMER);
    ck_assert_int_eq(rb_drv_jetstream.consume(f.c, 4), 0);
    char want[256];
    snprintf(want, sizeof(want), "PUB $JS.API.CONSUMER.MSG.NEXT.RB_rqbench.rbwork %s.f.0 ",
             f.inbox);
    ck_assert(pump(&f, "\"expires\":5000000000}\r\n", NULL, 0));
    ck_assert_ptr_nonnull(strstr(f.got, want));
    ck_assert_ptr_nonnull(strstr(f.got, "{\"batch\":4,"));

    char m[512];
    snprintf(m, sizeof(m), "MSG rqbench 1 %s 5\r\nhello\r\n", ACK_SUBJ);
    server_send(&f, m);
    ck_assert(pump(&f, NULL, &f.tasks, 1));
    ck_assert_str_eq(f.payload, "hello");

    /* the request expires with 3 of its 4 unfilled: the driver asks for them again */
    const char *st = "NATS/1.0 408 Request Timeout\r\nNats-Pending-Messages: 3\r\n"
                     "Nats-Pending-Bytes: 0\r\n\r\n";
    snprintf(m, sizeof(m), "HMSG %s.f.0 1  %zu %zu\r\n%s\r\n", f.inbox, strlen(st), strlen(st), st);
    server_send(&f, m);
    snprintf(want, sizeof(want), "%s.f.1 ", f.inbox);
    ck_assert(pump(&f, want, NULL, 0));
    ck_assert(pump(&f, "{\"batch\":3,", NULL, 0));

    /* double ack; its answer reaches ev->acked; a second ack of the handle is refused */
    uint64_t h = f.handle;
    ck_assert_int_eq(rb_drv_jetstream.ack(f.c, h), 0);
    ck_assert_int_eq(rb_drv_jetstream.ack(f.c, h), -ENOENT);
    ck_assert_int_eq(rb_drv_jetstream.ack(f.c, h ^ (1ull << 32)), -ENOENT);
    snprintf(want, sizeof(want), "PUB %s %s.a.", ACK_SUBJ, f.inbox);
    ck_assert(pump(&f, " 4\r\n+ACK\r\n", NULL, 0));
    const char *a = strstr(f.got, want);
    ck_assert_ptr_nonnull(a);
    unsigned slot;
    ck_assert_int_eq(sscanf(a + strlen(want), "%u", &slot), 1);
    snprintf(m, sizeof(m), "MSG %s.a.%u 1  0\r\n\r\n", f.inbox, slot);
    server_send(&f, m);
    ck_assert(pump(&f, NULL, &f.ackeds, 1));
    ck_assert_uint_eq(f.acked_handle, h);
    ck_assert_int_eq(f.acked_err, 0);

    /* 3 credits left and asked for: a 4th delivery is more than was asked */
    snprintf(m, sizeof(m), "MSG rqbench 1 %s 5\r\nhello\r\n", ACK_SUBJ);
    for (int i = 0; i < 4; i++) server_send(&f, m);
    ck_assert(pump(&f, NULL, &f.fails, 1));
    ck_assert_int_eq(f.tasks, 4);
    ck_assert_ptr_nonnull(strstr(f.why, "more messages than were asked"));
    fx_close(&f);
}
END_TEST

/* Streams (the fanout scenario): each group is its own durable consumer, rbgrp<group>. */
START_TEST(stream_consumer_pulls_from_its_group)
{
    char name[RB_JS_CONSUMER_MAX];
    rb_target t = {.stream = false};
    rb_js_consumer_name(&t, 3, name);
    ck_assert_str_eq(name, RB_JS_CONSUMER);
    t = (rb_target){.stream = true, .groups = 4, .group = 3};
    rb_js_consumer_name(&t, 3, name);
    ck_assert_str_eq(name, "rbgrp3");
    fx f;
    fx_open_t(&f, RB_ROLE_CONSUMER, &t);
    ck_assert_int_eq(rb_drv_jetstream.consume(f.c, 2), 0);
    char want[256];
    snprintf(want, sizeof(want), "PUB $JS.API.CONSUMER.MSG.NEXT.RB_rqbench.rbgrp3 %s.f.0 ",
             f.inbox);
    ck_assert(pump(&f, "\"expires\":5000000000}\r\n", NULL, 0));
    ck_assert_msg(strstr(f.got, want) != NULL, "sent: %s", f.got);
    ck_assert_int_eq(f.fails, 0);
    fx_close(&f);
}
END_TEST

START_TEST(consumer_bad_statuses)
{
    fx f;
    fx_open(&f, RB_ROLE_CONSUMER);
    ck_assert_int_eq(rb_drv_jetstream.consume(f.c, 2), 0);
    ck_assert(pump(&f, "\"expires\"", NULL, 0));
    char m[512];
    const char *st = "NATS/1.0 409 Consumer Deleted\r\n\r\n";
    snprintf(m, sizeof(m), "HMSG %s.f.0 1  %zu %zu\r\n%s\r\n", f.inbox, strlen(st), strlen(st), st);
    server_send(&f, m);
    ck_assert(pump(&f, NULL, &f.fails, 1));
    ck_assert_ptr_nonnull(strstr(f.why, "409 Consumer Deleted"));
    ck_assert_int_eq(rb_drv_jetstream.consume(f.c, 1), -EPIPE);
    fx_close(&f);

    /* a 408 that claims more pending than was asked, and a status without the count */
    const char *bad[] = {"NATS/1.0 408 Request Timeout\r\nNats-Pending-Messages: 5\r\n\r\n",
                         "NATS/1.0 408 Request Timeout\r\n\r\n"};
    const char *expect[] = {"only 2 were outstanding", "without Nats-Pending-Messages"};
    for (int i = 0; i < 2; i++) {
        fx_open(&f, RB_ROLE_CONSUMER);
        ck_assert_int_eq(rb_drv_jetstream.consume(f.c, 2), 0);
        ck_assert(pump(&f, "\"expires\"", NULL, 0));
        snprintf(m, sizeof(m), "HMSG %s.f.0 1  %zu %zu\r\n%s\r\n", f.inbox, strlen(bad[i]),
                 strlen(bad[i]), bad[i]);
        server_send(&f, m);
        ck_assert(pump(&f, NULL, &f.fails, 1));
        ck_assert_msg(strstr(f.why, expect[i]) != NULL, "%s", f.why);
        fx_close(&f);
    }
}
END_TEST

START_TEST(close_inside_callback)
{
    fx f;
    fx_open(&f, RB_ROLE_PRODUCER);
    server_send(&f, "GARBAGE\r\n");
    ck_assert(pump(&f, NULL, &f.fails, 1));
    ck_assert_ptr_nonnull(strstr(f.why, "unknown operation"));
    rb_drv_jetstream.close(f.c); /* after failed: no further callbacks */
    f.c = NULL;
    server_send(&f, "PING\r\n");
    for (int i = 0; i < 5; i++) ev_loop_run_once(f.loop, false);
    ck_assert_int_eq(f.fails, 1);
    fx_close(&f);
}
END_TEST

int main(void)
{
    int skip = ts_io_uring_or_skip();
    if (skip) return skip;
    Suite *s = suite_create("rb_jetstream");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, producer_pubacks);
    tcase_add_test(tc, producer_limits);
    tcase_add_test(tc, consumer_pulls_and_acks);
    tcase_add_test(tc, stream_consumer_pulls_from_its_group);
    tcase_add_test(tc, consumer_bad_statuses);
    tcase_add_test(tc, close_inside_callback);
    suite_add_tcase(s, tc);
    return ts_run_suite(s);
}
