/* tests/unit/test_ev_reactor_presubmit: the before-submit entries (core/ev_reactor.h,
 * ev_presubmit) run before every submit, so nothing a turn prepared (a send) reaches the kernel
 * before them. */
#include <check.h>
#include <errno.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/ev_reactor.h"
#include "ts_main.h"

typedef struct probe {
    ev_presubmit h; /* first: the entry's address is the probe's */
    ev_loop *loop;
    int peer;  /* the socket the loop's pending send goes to */
    int runs;  /* times fn ran */
    int early; /* times the send had already arrived when fn ran (must stay 0) */
    int rearm; /* times fn arms itself again */
} probe;

static void on_presubmit(ev_presubmit *h)
{
    probe *p = (probe *)h;
    p->runs++;
    char b;
    if (p->peer >= 0 && recv(p->peer, &b, 1, MSG_DONTWAIT | MSG_PEEK) == 1) p->early++;
    if (p->rearm > 0) {
        p->rearm--;
        ev_presubmit_arm(p->loop, &p->h);
    }
}

static int sent;
static void on_send(ev_loop *loop, ev_op *op, int res, unsigned flags) { sent = res; }

/* Queues a one-byte send (not submitted yet) and arms the probe. */
static void prepare(probe *p, ev_op *op, int fd)
{
    char b[8];
    while (recv(p->peer, b, sizeof b, MSG_DONTWAIT) > 0) {}
    sent = 0;
    *op = (ev_op){.cb = on_send};
    ck_assert_int_eq(ev_send(p->loop, op, fd, "x", 1), 0);
    ev_presubmit_arm(p->loop, &p->h);
    ev_presubmit_arm(p->loop, &p->h); /* armed once: runs once */
}

static void finish(probe *p)
{
    while (sent == 0) ck_assert_int_ge(ev_loop_run_once(p->loop, true), 0);
    ck_assert_int_eq(sent, 1);
}

START_TEST(presubmit_runs_before_every_submit)
{
    ev_loop *l = ts_loop_create(), *other = ts_loop_create();
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    probe p = {.h = {.fn = on_presubmit}, .loop = l, .peer = sv[1]};
    ev_op op;
    /* ev_loop_flush */
    prepare(&p, &op, sv[0]);
    ck_assert_int_eq(ev_loop_flush(l), 0);
    ck_assert_int_eq(p.runs, 1);
    finish(&p);
    /* the loop's own submit at the end of a turn */
    prepare(&p, &op, sv[0]);
    ck_assert_int_ge(ev_loop_run_once(l, false), 0);
    ck_assert_int_eq(p.runs, 2);
    finish(&p);
    /* ev_loop_has_events (a polling hook's submit) */
    prepare(&p, &op, sv[0]);
    (void)ev_loop_has_events(l);
    ck_assert_int_eq(p.runs, 3);
    finish(&p);
    /* a wake-up message, submitted at once */
    prepare(&p, &op, sv[0]);
    ck_assert_int_eq(ev_loop_wake_from(l, other, 7), 0);
    ck_assert_int_eq(p.runs, 4);
    finish(&p);
    /* the mesh's way in: the loop this thread runs, without naming it */
    prepare(&p, &op, sv[0]);
    ev_presubmit_run_current();
    ck_assert_int_eq(p.runs, 5);
    finish(&p);
    ck_assert_int_eq(p.early, 0);
    /* disarmed: not run; armed again from inside fn: runs at the next submit too */
    ev_presubmit_arm(l, &p.h);
    ev_presubmit_disarm(l, &p.h);
    ck_assert_int_eq(ev_loop_flush(l), 0);
    ck_assert_int_eq(p.runs, 5);
    p.rearm = 1;
    ev_presubmit_arm(l, &p.h);
    ck_assert_int_eq(ev_loop_flush(l), 0);
    ck_assert_int_eq(p.runs, 6);
    ck_assert_int_eq(ev_loop_flush(l), 0);
    ck_assert_int_eq(p.runs, 7);
    ck_assert_int_eq(ev_loop_flush(l), 0);
    ck_assert_int_eq(p.runs, 7);
    close(sv[0]);
    close(sv[1]);
    ev_loop_destroy(other);
    ev_loop_destroy(l);
    ev_presubmit_run_current(); /* the destroyed loop is forgotten: nothing runs */
}
END_TEST

/* A full SQ submits to make room (get_sqe): the entries run first there too. */
START_TEST(presubmit_runs_when_the_sq_fills)
{
    ev_loop *l = ts_loop_create();
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    probe p = {.h = {.fn = on_presubmit}, .loop = l, .peer = -1};
    enum { OPS = 5000 }; /* more than any SQ this loop has */
    static ev_op ops[OPS];
    static char bufs[OPS];
    ev_presubmit_arm(l, &p.h);
    int n = 0;
    for (; n < OPS && p.runs == 0; n++) {
        ops[n] = (ev_op){.cb = on_send};
        ck_assert_int_eq(ev_read(l, &ops[n], sv[1], &bufs[n], 1, 0), 0);
    }
    ck_assert_int_eq(p.runs, 1);
    ck_assert_int_lt(n, OPS);
    close(sv[0]); /* every read completes (0 bytes): nothing left in flight */
    for (int i = 0; i < 1000; i++) {
        bool busy = false;
        for (int k = 0; k < n; k++) busy |= ops[k].busy;
        if (!busy) break;
        ck_assert_int_ge(ev_loop_run_once(l, true), 0);
    }
    close(sv[1]);
    ev_loop_destroy(l);
}
END_TEST

int main(void)
{
    int skip = ts_io_uring_or_skip();
    if (skip) return skip;
    Suite *s = suite_create("ev_reactor_presubmit");
    TCase *tc = tcase_create("presubmit");
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, presubmit_runs_before_every_submit);
    tcase_add_test(tc, presubmit_runs_when_the_sq_fills);
    suite_add_tcase(s, tc);
    return ts_run_suite(s);
}
