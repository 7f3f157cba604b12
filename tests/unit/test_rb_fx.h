/* tests/unit/test_rb_fx.h: the fixture of the ringq-bench peer driver tests (test_rb_peers.c,
 * test_rb_redis_streams.c): an ev_loop, a scripted fake server on a loopback socket, and one
 * driver connection to it; helpers that run the loop until the server received exact bytes, feed
 * it replies and wait for engine callbacks (each with a 2 s deadline, never a sleep). */
#ifndef TEST_RB_FX_H
#define TEST_RB_FX_H

#include <check.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench/rb_driver.h"
#include "core/ev_reactor.h"
#include "core/rt_clock.h"
#include "core/rt_net.h"

/* ---- fixture: a loop, a fake server and one driver connection ---- */

typedef struct fx {
    const rb_driver *d;
    ev_loop *loop;
    int lfd, sfd;
    char addr[64];
    rb_target t;
    rb_conn *c;
    /* events */
    int done, failed, tasks, acked;
    uint64_t done_tag, task_handle, acked_handle;
    int done_err, acked_err;
    char why[512], task[64];
    bool ack_in_task, close_in_task, close_in_failed;
} fx;

static inline void ev_done(void *ud, uint64_t tag, int err, const char *why)
{
    fx *f = ud;
    f->done++;
    f->done_tag = tag;
    f->done_err = err;
    if (why) snprintf(f->why, sizeof f->why, "%s", why);
}

static inline void ev_task(void *ud, const uint8_t *p, size_t len, uint64_t handle)
{
    fx *f = ud;
    f->tasks++;
    f->task_handle = handle;
    snprintf(f->task, sizeof f->task, "%.*s", (int)len, (const char *)p);
    if (f->ack_in_task) ck_assert_int_eq(f->d->ack(f->c, handle), 0);
    if (f->close_in_task) {
        f->d->close(f->c);
        f->c = NULL;
    }
}

static inline void ev_acked(void *ud, uint64_t handle, int err, const char *why)
{
    fx *f = ud;
    f->acked++;
    f->acked_handle = handle;
    f->acked_err = err;
    if (why) snprintf(f->why, sizeof f->why, "%s", why);
}

static inline void ev_failed(void *ud, const char *why)
{
    fx *f = ud;
    f->failed++;
    snprintf(f->why, sizeof f->why, "%s", why);
    if (f->close_in_failed) {
        f->d->close(f->c);
        f->c = NULL;
    }
}

static const rb_events evs = {ev_done, ev_task, ev_acked, ev_failed};

/* Opens a `role` connection of `d` to a fresh fake server; the target is queue "q", size 5, with
 * the stream fields of `streams` when it is not NULL (stream, groups, group). */
static inline void fx_open_target(fx *f, const rb_driver *d, rb_role role, const rb_target *streams)
{
    memset(f, 0, sizeof *f);
    f->d = d;
    int err;
    const char *why;
    f->loop = ev_loop_create(NULL, &err, &why);
    ck_assert_msg(f->loop != NULL, "ev_loop_create: %s", why ? why : "?");
    f->lfd = rt_listen_tcp("127.0.0.1", 0, false);
    ck_assert_int_ge(f->lfd, 0);
    snprintf(f->addr, sizeof f->addr, "127.0.0.1:%d", rt_socket_port(f->lfd));
    f->t = (rb_target){.addr = f->addr, .queue = "q", .size = 5, .lease_ms = 30000};
    if (streams) {
        f->t.stream = streams->stream;
        f->t.groups = streams->groups;
        f->t.group = streams->group;
    }
    char e[256] = "";
    f->c = d->open(f->loop, &f->t, role, &evs, f, e, sizeof e);
    ck_assert_msg(f->c != NULL, "open: %s", e);
    f->sfd = accept4(f->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    ck_assert_int_ge(f->sfd, 0);
}

static inline void fx_open(fx *f, const rb_driver *d, rb_role role)
{
    fx_open_target(f, d, role, NULL);
}

static inline void fx_close(fx *f)
{
    if (f->c) f->d->close(f->c);
    for (int i = 0; i < 5; i++) ev_loop_run_once(f->loop, false);
    if (f->sfd >= 0) close(f->sfd);
    close(f->lfd);
    ev_loop_destroy(f->loop);
}

/* Runs the loop until the server side has received exactly `want` (then checks it), or 2 s. */
static inline void expect(fx *f, const void *want, size_t n)
{
    char got[4096];
    size_t have = 0;
    ck_assert_uint_lt(n, sizeof got);
    uint64_t deadline = rt_now_ns() + 2 * RT_NS_PER_S;
    while (have < n && rt_now_ns() < deadline) {
        ev_loop_run_once(f->loop, false);
        ssize_t r = recv(f->sfd, got + have, n - have, 0);
        if (r > 0) have += (size_t)r;
        else {
            struct pollfd pfd = {.fd = f->sfd, .events = POLLIN};
            poll(&pfd, 1, 1);
        }
    }
    ck_assert_msg(have == n && memcmp(got, want, n) == 0,
                  "server got %zu bytes \"%.*s\", want \"%.*s\"", have, (int)have, got, (int)n,
                  (const char *)want);
}
#define EXPECT(f, s) expect(f, s, sizeof(s) - 1)

/* Nothing more was sent (after a few loop turns). */
static inline void expect_quiet(fx *f)
{
    for (int i = 0; i < 5; i++) ev_loop_run_once(f->loop, false);
    char b[64];
    ck_assert_int_lt(recv(f->sfd, b, sizeof b, 0), 0);
}

static inline void feed(fx *f, const void *p, size_t n)
{
    ck_assert_int_eq(send(f->sfd, p, n, MSG_NOSIGNAL), (ssize_t)n);
}
#define FEED(f, s) feed(f, s, sizeof(s) - 1)

/* Runs the loop until *counter reaches want, or 2 s. */
static inline void wait_for(fx *f, int *counter, int want)
{
    uint64_t deadline = rt_now_ns() + 2 * RT_NS_PER_S;
    while (*counter < want && rt_now_ns() < deadline) {
        ev_loop_run_once(f->loop, false);
        struct pollfd pfd = {.fd = f->sfd, .events = POLLIN};
        poll(&pfd, 1, 1);
    }
    ck_assert_int_eq(*counter, want);
}

#endif
