/* Unit tests for core/ev_reactor: timers, wake-ups across threads, multishot accept and recv with
 * provided buffers, sends, fsync. Skips (exit 77) when io_uring is unavailable. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/ev_reactor.h"
#include "core/rt_alloc.h"
#include "core/rt_clock.h"
#include "ts_main.h"

/* ---- timers ---- */
static int order[8];
static int norder;
static void on_timer(ev_loop *loop, ev_timer *t)
{
    order[norder++] = (int)(intptr_t)t->ud;
    if (norder == 3) ev_loop_stop(loop);
}

START_TEST(timers_fire_in_deadline_order)
{
    ev_loop *l = ts_loop_create();
    ev_timer t[4];
    uint64_t now = rt_now_ns();
    for (int i = 0; i < 4; i++) ev_timer_init(&t[i], on_timer, (void *)(intptr_t)i);
    ev_timer_start(l, &t[0], now + 3 * RT_NS_PER_MS);
    ev_timer_start(l, &t[1], now + 1 * RT_NS_PER_MS);
    ev_timer_start(l, &t[2], now + 2 * RT_NS_PER_MS);
    ev_timer_start(l, &t[3], now + 100 * RT_NS_PER_MS);
    ev_timer_stop(l, &t[3]);
    ck_assert(!ev_timer_armed(&t[3]));
    norder = 0;
    ck_assert_int_eq(ev_loop_run(l), 0);
    ck_assert_int_eq(norder, 3);
    ck_assert_int_eq(order[0], 1);
    ck_assert_int_eq(order[1], 2);
    ck_assert_int_eq(order[2], 0);
    ck_assert(rt_now_ns() >= now + 3 * RT_NS_PER_MS);
    ev_loop_destroy(l);
}
END_TEST

START_TEST(timer_restart_moves_deadline)
{
    ev_loop *l = ts_loop_create();
    ev_timer t[3];
    uint64_t now = rt_now_ns();
    for (int i = 0; i < 3; i++) ev_timer_init(&t[i], on_timer, (void *)(intptr_t)i);
    ev_timer_start(l, &t[0], now + 1 * RT_NS_PER_MS);
    ev_timer_start(l, &t[1], now + 2 * RT_NS_PER_MS);
    ev_timer_start(l, &t[2], now + 3 * RT_NS_PER_MS);
    ev_timer_start(l, &t[0], now + 5 * RT_NS_PER_MS); /* later now */
    norder = 0;
    ev_loop_run(l);
    ck_assert_int_eq(order[0], 1);
    ck_assert_int_eq(order[1], 2);
    ck_assert_int_eq(order[2], 0);
    ev_loop_destroy(l);
}
END_TEST

/* ---- wake-ups ---- */
typedef struct {
    ev_loop *target;
    _Atomic int ready;
    bool use_loop;
    int n;
} waker_arg;

static uint32_t got_sum;
static int got_n;
static int want_n;
static void on_wake(ev_loop *loop, void *ud, uint32_t data)
{
    got_sum += data;
    got_n++;
    if (got_n >= want_n) ev_loop_stop(loop);
}

static void *waker(void *p)
{
    waker_arg *a = p;
    ev_loop *self = NULL;
    if (a->use_loop) {
        int err;
        const char *why;
        self = ev_loop_create(NULL, &err, &why);
    }
    while (!atomic_load(&a->ready)) {}
    for (int i = 1; i <= a->n; i++) ev_loop_wake_from(self, a->target, (uint32_t)i);
    if (self) {
        ev_loop_flush(self);
        ev_loop_destroy(self);
    }
    return NULL;
}

START_TEST(wake_from_other_loop_delivers_data)
{
    ev_loop *l = ts_loop_create();
    ev_loop_set_wake_handler(l, on_wake, NULL);
    waker_arg a = {.target = l, .use_loop = true, .n = 10};
    got_sum = 0;
    got_n = 0;
    want_n = 10;
    pthread_t th;
    pthread_create(&th, NULL, waker, &a);
    atomic_store(&a.ready, 1);
    ck_assert_int_eq(ev_loop_run(l), 0);
    pthread_join(th, NULL);
    ck_assert_int_eq(got_n, 10);
    ck_assert_uint_eq(got_sum, 55);
    ev_loop_destroy(l);
}
END_TEST

START_TEST(wake_from_plain_thread_uses_eventfd)
{
    ev_loop *l = ts_loop_create();
    ev_loop_set_wake_handler(l, on_wake, NULL);
    waker_arg a = {.target = l, .use_loop = false, .n = 1};
    got_n = 0;
    want_n = 1;
    pthread_t th;
    pthread_create(&th, NULL, waker, &a);
    atomic_store(&a.ready, 1);
    ck_assert_int_eq(ev_loop_run(l), 0);
    pthread_join(th, NULL);
    ck_assert_int_ge(got_n, 1);
    ev_loop_destroy(l);
}
END_TEST

/* ---- sockets: accept + recv multishot + send ---- */
typedef struct {
    ev_op accept_op, recv_op, send_op;
    int conn_fd;
    char got[64];
    size_t got_len;
    int sent;
} net_state;

static void on_recv(ev_loop *loop, ev_op *op, int res, unsigned flags)
{
    net_state *st = op->ud;
    if (res > 0) {
        ck_assert(flags & EV_F_BUFFER);
        memcpy(st->got + st->got_len, ev_op_buffer(loop, op), (size_t)res);
        st->got_len += (size_t)res;
        ev_buffer_release(loop, op->bid);
        if (st->got_len >= 10) ev_loop_stop(loop);
    } else {
        ev_loop_stop(loop);
    }
}

static void on_accept(ev_loop *loop, ev_op *op, int res, unsigned flags)
{
    net_state *st = op->ud;
    ck_assert_int_ge(res, 0);
    ck_assert(flags & EV_F_MORE);
    st->conn_fd = res;
    st->recv_op.cb = on_recv;
    st->recv_op.ud = st;
    ck_assert_int_eq(ev_recv_multishot(loop, &st->recv_op, res), 0);
}

START_TEST(accept_and_multishot_recv)
{
    ev_loop *l = ts_loop_create();
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sa, sizeof sa), 0);
    ck_assert_int_eq(listen(lfd, 16), 0);
    socklen_t sl = sizeof sa;
    getsockname(lfd, (struct sockaddr *)&sa, &sl);
    net_state st = {0};
    st.accept_op.cb = on_accept;
    st.accept_op.ud = &st;
    ck_assert_int_eq(ev_accept_multishot(l, &st.accept_op, lfd), 0);
    int c = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_eq(connect(c, (struct sockaddr *)&sa, sizeof sa), 0);
    ck_assert_int_eq(write(c, "hello", 5), 5);
    ck_assert_int_eq(write(c, "world", 5), 5);
    ev_loop_run(l);
    ck_assert_uint_eq(st.got_len, 10);
    ck_assert(memcmp(st.got, "helloworld", 10) == 0);
    close(c);
    close(st.conn_fd);
    close(lfd);
    ev_loop_destroy(l);
}
END_TEST

static void on_send(ev_loop *loop, ev_op *op, int res, unsigned flags)
{
    *(int *)op->ud = res;
    ev_loop_stop(loop);
}

START_TEST(send_reports_bytes_and_errors)
{
    ev_loop *l = ts_loop_create();
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    int res = 0;
    ev_op op = {.cb = on_send, .ud = &res};
    ck_assert_int_eq(ev_send(l, &op, sv[0], "abc", 3), 0);
    ck_assert_int_eq(ev_send(l, &op, sv[0], "abc", 3), -EBUSY);
    ev_loop_run(l);
    ck_assert_int_eq(res, 3);
    char b[4];
    ck_assert_int_eq(read(sv[1], b, 4), 3);
    close(sv[1]);
    ck_assert_int_eq(ev_send(l, &op, sv[0], "abc", 3), 0);
    ev_loop_run(l);
    ck_assert_int_eq(res, -EPIPE); /* MSG_NOSIGNAL: an error, not a signal */
    close(sv[0]);
    ev_loop_destroy(l);
}
END_TEST

/* ev_connect: 0 against a listener, -ECONNREFUSED once nothing listens there. */
START_TEST(connect_completes_or_is_refused)
{
    ev_loop *l = ts_loop_create();
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sa, sizeof sa), 0);
    ck_assert_int_eq(listen(lfd, 4), 0);
    socklen_t sl = sizeof sa;
    getsockname(lfd, (struct sockaddr *)&sa, &sl);
    int res = 1;
    ev_op op = {.cb = on_send, .ud = &res};
    int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_eq(ev_connect(l, &op, c, (struct sockaddr *)&sa, sizeof sa), 0);
    ev_loop_run(l);
    ck_assert_int_eq(res, 0);
    close(c);
    close(lfd);
    c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_eq(ev_connect(l, &op, c, (struct sockaddr *)&sa, sizeof sa), 0);
    ev_loop_run(l);
    ck_assert_int_eq(res, -ECONNREFUSED);
    close(c);
    ev_loop_destroy(l);
}
END_TEST

/* ev_loop_has_events: false with nothing to do; true once a queued op has completed (it submits
 * the op itself) and when a timer is due; the completion is then dispatched normally. */
static void on_timer_noop(ev_loop *loop, ev_timer *t) { *(int *)t->ud += 1; }

START_TEST(has_events_submits_and_sees_completions)
{
    ev_loop *l = ts_loop_create();
    ck_assert(!ev_loop_has_events(l));
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    int res = 0;
    ev_op op = {.cb = on_send, .ud = &res};
    ck_assert_int_eq(ev_send(l, &op, sv[0], "abc", 3), 0);
    /* A socketpair send completes inline or as task work: poll until it is posted. */
    bool seen = false;
    for (int i = 0; i < 100000 && !seen; i++) seen = ev_loop_has_events(l);
    ck_assert(seen);
    char b[4];
    ck_assert_int_eq(read(sv[1], b, 4), 3); /* the send was submitted by has_events */
    ck_assert_int_ge(ev_loop_run_once(l, false), 1);
    ck_assert_int_eq(res, 3);
    ck_assert(!ev_loop_has_events(l));
    int fired = 0;
    ev_timer t;
    ev_timer_init(&t, on_timer_noop, &fired);
    ck_assert_int_eq(ev_timer_start(l, &t, rt_now_ns()), 0);
    ck_assert(ev_loop_has_events(l));
    ev_loop_run_once(l, false);
    ck_assert_int_eq(fired, 1);
    close(sv[0]);
    close(sv[1]);
    ev_loop_destroy(l);
}
END_TEST

START_TEST(fsync_completes)
{
    ev_loop *l = ts_loop_create();
    char path[] = "/tmp/ev_fsync_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, "x", 1), 1);
    int res = -1;
    ev_op op = {.cb = on_send, .ud = &res};
    ck_assert_int_eq(ev_fsync(l, &op, fd, true), 0);
    ev_loop_run(l);
    ck_assert_int_eq(res, 0);
    close(fd);
    unlink(path);
    ev_loop_destroy(l);
}
END_TEST

/* A hook that vetoes sleep runs the loop without blocking. */
static int hook_calls;
static bool veto_hook(ev_loop *loop, void *ud, ev_hook_phase phase)
{
    if (phase == EV_HOOK_BEFORE_SLEEP) {
        hook_calls++;
        if (hook_calls == 3) ev_loop_stop(loop);
        return false;
    }
    return true;
}

START_TEST(hook_veto_prevents_blocking)
{
    ev_loop *l = ts_loop_create();
    ck_assert_int_eq(ev_loop_add_hook(l, veto_hook, NULL), 0);
    hook_calls = 0;
    ev_loop_run(l); /* would block forever if the veto were ignored */
    ck_assert_int_eq(hook_calls, 3);
    ev_loop_destroy(l);
}
END_TEST

/* ---- allocation failure ---- */

/* Timers started by the walk: more than the heap's first 64 slots, so it grows. */
#define WALK_TIMERS 200

static void on_walk_timer(ev_loop *loop, ev_timer *t) {}

/* A loop's life (create, timers that grow the heap, one turn, destroy) with allocation N
 * failing: create returns NULL with -ENOMEM and says "out of memory", or a timer start returns
 * -ENOMEM and leaves the loop usable; nothing leaks. */
static uint64_t loop_life(uint64_t fail_nth)
{
    static ev_timer ts[WALK_TIMERS];
    rt_alloc_test_start(fail_nth);
    int err = 1;
    const char *why = NULL;
    ev_loop *l = ev_loop_create(NULL, &err, &why);
    if (!l) {
        ck_assert_int_eq(err, -ENOMEM);
        ck_assert_str_eq(why, "out of memory");
    } else {
        ck_assert_int_eq(err, 0);
        int nomem = 0;
        uint64_t far = ev_loop_now(l) + 3600ull * 1000000000ull;
        for (int i = 0; i < WALK_TIMERS; i++) {
            ev_timer_init(&ts[i], on_walk_timer, NULL);
            int rc = ev_timer_start(l, &ts[i], far + (uint64_t)i);
            ck_assert_msg(rc == 0 || rc == -ENOMEM, "timer start: %d", rc);
            nomem += rc == -ENOMEM;
        }
        ck_assert_int_le(nomem, WALK_TIMERS - 64); /* only the growth can fail */
        for (int i = 0; i < WALK_TIMERS; i++) ev_timer_stop(l, &ts[i]);
        ev_loop_destroy(l);
    }
    uint64_t n = rt_alloc_test_count();
    ck_assert_int_eq(rt_alloc_test_live(), 0);
    rt_alloc_test_stop();
    return n;
}

START_TEST(allocation_failures_are_reported_not_fatal)
{
    const uint64_t total = loop_life(0);
    ck_assert_uint_ge(total, 3); /* the loop, its buffers, the timer heap */
    for (uint64_t n = 1; n <= total; n++) loop_life(n);
}
END_TEST

/* ---- stall measurement ---- */
#define STALL_BUSY_NS (7 * RT_NS_PER_MS) /* over the 5 ms stall bound */

/* A callback that keeps the thread for STALL_BUSY_NS (the stall being measured: the loop cannot
 * see completions meanwhile), then stops the loop. */
static void on_busy_timer(ev_loop *loop, ev_timer *t)
{
    uint64_t until = rt_now_ns() + STALL_BUSY_NS;
    while (rt_now_ns() < until) {}
    ev_loop_stop(loop);
}

static uint64_t hist_above(const rt_hist *h, uint64_t ns)
{
    const uint64_t *b = rt_hist_bounds_ns();
    uint64_t n = 0;
    for (uint32_t i = 0; i < RT_HIST_BUCKETS; i++)
        if (i == RT_HIST_BUCKETS - 1 || b[i] > ns) n += h->buckets[i];
    return n;
}

START_TEST(stall_histogram_counts_time_in_callbacks)
{
    ev_loop *l = ts_loop_create();
    rt_hist before = {0};
    rt_hist_add(&before, ev_loop_stall_hist(l));
    ck_assert_uint_eq(before.count, 0);
    ev_timer t;
    ev_timer_init(&t, on_busy_timer, NULL);
    ev_timer_start(l, &t, rt_now_ns() + RT_NS_PER_MS);
    ck_assert_int_eq(ev_loop_run(l), 0);
    /* The iteration that ran the timer ends when the next one submits: run one more. */
    ck_assert_int_ge(ev_loop_run_once(l, false), 0);
    rt_hist h = {0};
    rt_hist_add(&h, ev_loop_stall_hist(l));
    ck_assert_uint_ge(h.count, 1);
    ck_assert_uint_ge(h.sum_ns, STALL_BUSY_NS);
    ck_assert_uint_eq(hist_above(&h, 5 * RT_NS_PER_MS), 1); /* the one long callback */
    uint64_t total = 0;
    for (uint32_t i = 0; i < RT_HIST_BUCKETS; i++) total += h.buckets[i];
    ck_assert_uint_eq(total, h.count);
    ev_loop_destroy(l);
}
END_TEST

START_TEST(hist_bucket_is_first_bound_at_or_above)
{
    const uint64_t b[3] = {10, 20, 30};
    ck_assert_uint_eq(rt_hist_bucket(b, 3, 0), 0);
    ck_assert_uint_eq(rt_hist_bucket(b, 3, 10), 0);
    ck_assert_uint_eq(rt_hist_bucket(b, 3, 11), 1);
    ck_assert_uint_eq(rt_hist_bucket(b, 3, 30), 2);
    ck_assert_uint_eq(rt_hist_bucket(b, 3, 31), 3);
    rt_hist h = {0};
    rt_hist_observe(&h, 1000);
    rt_hist_observe(&h, 3 * RT_NS_PER_S);
    ck_assert_uint_eq(h.buckets[0], 1);
    ck_assert_uint_eq(h.buckets[RT_HIST_BUCKETS - 1], 1);
    ck_assert_uint_eq(h.sum_ns, 1000 + 3 * RT_NS_PER_S);
}
END_TEST

int main(void)
{
    int skip = ts_io_uring_or_skip();
    if (skip) return skip;
    Suite *s = suite_create("ev_reactor");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, timers_fire_in_deadline_order);
    tcase_add_test(tc, timer_restart_moves_deadline);
    tcase_add_test(tc, wake_from_other_loop_delivers_data);
    tcase_add_test(tc, wake_from_plain_thread_uses_eventfd);
    tcase_add_test(tc, accept_and_multishot_recv);
    tcase_add_test(tc, send_reports_bytes_and_errors);
    tcase_add_test(tc, fsync_completes);
    tcase_add_test(tc, connect_completes_or_is_refused);
    tcase_add_test(tc, has_events_submits_and_sees_completions);
    tcase_add_test(tc, hook_veto_prevents_blocking);
    tcase_add_test(tc, allocation_failures_are_reported_not_fatal);
    tcase_add_test(tc, stall_histogram_counts_time_in_callbacks);
    tcase_add_test(tc, hist_bucket_is_first_bound_at_or_above);
    suite_add_tcase(s, tc);
    return ts_run_suite(s);
}
