/* Unit tests for ringq-bench's Redis Streams driver (bench/rb_drv_redis_streams.c over
 * bench/rb_peer.c) against a scripted fake server (tests/unit/test_rb_fx.h): the exact XADD and
 * XACK bytes, XREADGROUP replies parsed whole across split reads, the batched pull (one read in
 * flight asking for the unused credits; after an empty read, a blocking one only once every
 * delivered entry's XACK is written), and hostile replies (more entries than asked, an entry
 * without the payload field, nesting, server errors) failing the connection exactly once with a
 * message. Skips (exit 77) when io_uring is unavailable. */
#include "tests/unit/test_rb_fx.h"
#include "ts_main.h"

/* The group-1 consumer of a stream with 2 groups (the fanout scenario's target). */
static const rb_target group1 = {.stream = true, .groups = 2, .group = 1};

#define XADD_Q(len, v) "*5\r\n$4\r\nXADD\r\n$1\r\nq\r\n$1\r\n*\r\n$1\r\nd\r\n$" len "\r\n" v "\r\n"

START_TEST(producer_pipelines_xadds)
{
    fx f;
    fx_open_target(&f, &rb_drv_redis_streams, RB_ROLE_PRODUCER, &group1);
    rb_payload p[2] = {{(const uint8_t *)"a\0b", 3}, {(const uint8_t *)"\r\n", 2}};
    ck_assert_int_eq(rb_drv_redis_streams.send(f.c, p, 2, 7), 0);
    EXPECT(&f, XADD_Q("3", "a\0b") XADD_Q("2", "\r\n"));
    FEED(&f, "$3\r\n1-0\r\n$3\r");
    for (int i = 0; i < 10; i++) ev_loop_run_once(f.loop, false);
    ck_assert_int_eq(f.done, 0); /* one of two ids */
    FEED(&f, "\n1-1\r\n");
    wait_for(&f, &f.done, 1);
    ck_assert_uint_eq(f.done_tag, 7);
    ck_assert_int_eq(f.done_err, 0);
    ck_assert_int_eq(f.failed, 0);
    fx_close(&f);
}
END_TEST

/* Reads what the server got up to the end of one XREADGROUP (its last argument ">") and checks
 * it asks group g1 for `count` entries of stream q, blocking or not. The consumer name differs
 * per process and connection: only its form is checked. */
static void expect_read(fx *f, const char *count, bool block)
{
    char got[512];
    size_t have = 0;
    static const char end[] = "$7\r\nSTREAMS\r\n$1\r\nq\r\n$1\r\n>\r\n";
    uint64_t deadline = rt_now_ns() + 2 * RT_NS_PER_S;
    while (rt_now_ns() < deadline &&
           !(have >= sizeof end - 1 &&
             memcmp(got + have - (sizeof end - 1), end, sizeof end - 1) == 0)) {
        ev_loop_run_once(f->loop, false);
        ssize_t r = recv(f->sfd, got + have, 1, 0); /* byte by byte: never past this command */
        if (r > 0) have++;
        else {
            struct pollfd pfd = {.fd = f->sfd, .events = POLLIN};
            poll(&pfd, 1, 1);
        }
        ck_assert_uint_lt(have, sizeof got - 1);
    }
    got[have] = 0;
    char want_head[64], want_mid[96];
    snprintf(want_head, sizeof want_head,
             "*%d\r\n$10\r\nXREADGROUP\r\n$5\r\nGROUP\r\n$2\r\ng1\r\n$", block ? 11 : 9);
    snprintf(want_mid, sizeof want_mid, "\r\n$5\r\nCOUNT\r\n$%zu\r\n%s\r\n%s", strlen(count), count,
             block ? "$5\r\nBLOCK\r\n$4\r\n1000\r\n" : "");
    ck_assert_msg(strncmp(got, want_head, strlen(want_head)) == 0 && strstr(got, want_mid) &&
                      strstr(got, "\r\nrb") && have >= sizeof end - 1,
                  "server got \"%s\"", got);
}

#define ENTRY(id, v) "*2\r\n$3\r\n" id "\r\n*2\r\n$1\r\nd\r\n$5\r\n" v "\r\n"
#define XACK_G1(id) "*4\r\n$4\r\nXACK\r\n$1\r\nq\r\n$2\r\ng1\r\n$3\r\n" id "\r\n"

START_TEST(consumer_reads_in_batches_acks_then_blocks)
{
    fx f;
    fx_open_target(&f, &rb_drv_redis_streams, RB_ROLE_CONSUMER, &group1);
    ck_assert_int_eq(rb_drv_redis_streams.consume(f.c, 3), 0);
    expect_read(&f, "3", false);
    expect_quiet(&f); /* one read in flight */
    FEED(&f, "*1\r\n*2\r\n$1\r\nq\r\n*2\r\n" ENTRY("1-0", "hello") "*2\r\n$3\r\n1-1");
    for (int i = 0; i < 10; i++) ev_loop_run_once(f.loop, false);
    ck_assert_int_eq(f.tasks, 0); /* a reply is used only once whole */
    FEED(&f, "\r\n*2\r\n$1\r\nd\r\n$5\r\nworld\r\n");
    wait_for(&f, &f.tasks, 2);
    ck_assert_str_eq(f.task, "world");
    uint64_t second = f.task_handle;
    expect_read(&f, "1", false); /* hot: the credit left, at once */
    FEED(&f, "*-1\r\n");         /* nothing new: cold, but two entries wait for their XACK */
    expect_quiet(&f);
    ck_assert_int_eq(rb_drv_redis_streams.ack(f.c, second + (1ull << 32)), -ENOENT); /* stale */
    ck_assert_int_eq(rb_drv_redis_streams.ack(f.c, second), 0);
    EXPECT(&f, XACK_G1("1-1"));
    expect_quiet(&f); /* 1-0 is still held: no blocking read yet */
    ck_assert_int_eq(rb_drv_redis_streams.ack(f.c, second), -ENOENT); /* twice */
    FEED(&f, ":1\r\n");
    wait_for(&f, &f.acked, 1);
    ck_assert_int_eq(f.acked_err, 0);
    ck_assert_int_eq(rb_drv_redis_streams.ack(f.c, second - 1), 0); /* slot 0: entry 1-0 */
    EXPECT(&f, XACK_G1("1-0"));
    expect_read(&f, "1", true); /* everything acked: now one blocking read */
    FEED(&f, ":0\r\n");         /* 1-0 was not pending any more */
    wait_for(&f, &f.acked, 2);
    ck_assert_int_eq(f.acked_err, -ENOENT);
    ck_assert_msg(strstr(f.why, "XACK"), "%s", f.why);
    FEED(&f, "*-1\r\n"); /* the block timed out: again */
    expect_read(&f, "1", true);
    ck_assert_int_eq(f.failed, 0);
    fx_close(&f);
}
END_TEST

static const struct {
    const char *reply;
    const char *why;
} hostile[] = {
    {"-NOGROUP No such key 'q' or consumer group 'g1'\r\n", "NOGROUP No such key"},
    {"*1\r\n*2\r\n$1\r\nq\r\n*2\r\n" ENTRY("1-0", "aaaaa") ENTRY("1-1", "bbbbb"),
     "malformed XREADGROUP reply"}, /* 2 entries, 1 asked for */
    {"*1\r\n*2\r\n$1\r\nq\r\n*1\r\n*2\r\n$3\r\n1-0\r\n*2\r\n$1\r\nx\r\n$1\r\ny\r\n",
     "malformed XREADGROUP reply"}, /* no field d */
    {"*1\r\n*2\r\n$1\r\nq\r\n*1\r\n*2\r\n$3\r\n1-0\r\n*-1\r\n", "malformed XREADGROUP reply"},
    {"*2\r\n*2\r\n$1\r\nq\r\n*0\r\n*2\r\n$1\r\nq\r\n*0\r\n", "malformed XREADGROUP reply"},
    {"*1\r\n*2\r\n$1\r\nq\r\n*1\r\n*2\r\n$3\r\n1-0XY*0\r\n", "malformed XREADGROUP reply"},
    {":1\r\n", "malformed XREADGROUP reply"},
    {"$99999999999\r\n", "malformed XREADGROUP reply"},
    {"?\r\n", "malformed reply"},
};

START_TEST(hostile_replies_fail_once)
{
    fx f;
    fx_open_target(&f, &rb_drv_redis_streams, RB_ROLE_CONSUMER, &group1);
    ck_assert_int_eq(rb_drv_redis_streams.consume(f.c, 1), 0);
    feed(&f, hostile[_i].reply, strlen(hostile[_i].reply));
    wait_for(&f, &f.failed, 1);
    ck_assert_msg(strstr(f.why, hostile[_i].why) && strstr(f.why, "redis"), "%s", f.why);
    ck_assert_int_eq(f.tasks, 0);
    FEED(&f, "*-1\r\n");
    for (int i = 0; i < 10; i++) ev_loop_run_once(f.loop, false);
    ck_assert_int_eq(f.failed, 1);
    fx_close(&f);
}
END_TEST

int main(void)
{
    int skip = ts_io_uring_or_skip();
    if (skip) return skip;
    Suite *s = suite_create("rb_redis_streams");
    TCase *tc = tcase_create("streams");
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, producer_pipelines_xadds);
    tcase_add_test(tc, consumer_reads_in_batches_acks_then_blocks);
    tcase_add_loop_test(tc, hostile_replies_fail_once, 0,
                        (int)(sizeof hostile / sizeof hostile[0]));
    suite_add_tcase(s, tc);
    return ts_run_suite(s);
}
