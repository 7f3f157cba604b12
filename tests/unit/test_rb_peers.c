/* Unit tests for the beanstalkd and Redis drivers of ringq-bench (bench/rb_drv_beanstalkd.c,
 * bench/rb_drv_redis.c over bench/rb_peer.c) against a scripted fake server: the exact bytes
 * they send, in-order reply matching across split reads, per-job refusals, the reserve pump
 * (non-blocking pulls while hot, one blocking pull once cold), closes from inside engine
 * callbacks, and hostile replies (oversized lengths, missing CRLF, long lines, NUL bytes,
 * unexpected words, replies to nothing, server errors) failing the connection exactly once with
 * a message. Skips (exit 77) when io_uring is unavailable. */
#include "tests/unit/test_rb_fx.h"
#include "ts_main.h"

/* ---- beanstalkd ---- */

START_TEST(bs_producer_pipelines_puts)
{
    fx f;
    fx_open(&f, &rb_drv_beanstalkd, RB_ROLE_PRODUCER);
    rb_payload p[3] = {
        {(const uint8_t *)"a\r\nb", 4}, {(const uint8_t *)"", 0}, {(const uint8_t *)"xyz", 3}};
    ck_assert_int_eq(rb_drv_beanstalkd.send(f.c, p, 3, 42), 0);
    EXPECT(&f, "use q\r\nput 1024 0 30 4\r\na\r\nb\r\nput 1024 0 30 0\r\n\r\n"
               "put 1024 0 30 3\r\nxyz\r\n");
    FEED(&f, "USING q\r\nINSERTED 1\r\nINSERTED 2\r\nINSERTED 3\r");
    for (int i = 0; i < 10; i++) ev_loop_run_once(f.loop, false);
    ck_assert_int_eq(f.done, 0); /* the last reply is not whole yet */
    FEED(&f, "\n");
    wait_for(&f, &f.done, 1);
    ck_assert_uint_eq(f.done_tag, 42);
    ck_assert_int_eq(f.done_err, 0);
    ck_assert_int_eq(f.failed, 0);
    fx_close(&f);
}
END_TEST

START_TEST(bs_put_refusal_fails_the_batch)
{
    fx f;
    fx_open(&f, &rb_drv_beanstalkd, RB_ROLE_PRODUCER);
    rb_payload p[2] = {{(const uint8_t *)"a", 1}, {(const uint8_t *)"b", 1}};
    ck_assert_int_eq(rb_drv_beanstalkd.send(f.c, p, 2, 7), 0);
    FEED(&f, "USING q\r\nJOB_TOO_BIG\r\nINSERTED 2\r\n");
    wait_for(&f, &f.done, 1);
    ck_assert_int_eq(f.done_err, -EMSGSIZE);
    ck_assert_msg(strstr(f.why, "JOB_TOO_BIG") && strstr(f.why, "beanstalkd"), "%s", f.why);
    ck_assert_int_eq(f.failed, 0);
    fx_close(&f);
}
END_TEST

START_TEST(bs_consumer_reserves_acks_and_goes_cold)
{
    fx f;
    fx_open(&f, &rb_drv_beanstalkd, RB_ROLE_CONSUMER);
    f.ack_in_task = true;
    ck_assert_int_eq(rb_drv_beanstalkd.consume(f.c, 2), 0);
    EXPECT(&f, "watch q\r\nignore default\r\nreserve-with-timeout 0\r\nreserve-with-timeout 0\r\n");
    FEED(&f, "WATCHING 2\r\nWATCHING 1\r\nRESERVED 7 5\r\nhel");
    for (int i = 0; i < 10; i++) ev_loop_run_once(f.loop, false);
    ck_assert_int_eq(f.tasks, 0);
    FEED(&f, "lo\r\nTIMED_OUT\r\n");
    wait_for(&f, &f.tasks, 1);
    ck_assert_str_eq(f.task, "hello");
    ck_assert_uint_eq(f.task_handle, 7);
    /* One credit left; the TIMED_OUT made the pump cold with nothing held (the job was acked
     * inside the callback): the delete, then exactly one blocking reserve behind it. */
    EXPECT(&f, "delete 7\r\nreserve-with-timeout 1\r\n");
    FEED(&f, "DELETED\r\n");
    wait_for(&f, &f.acked, 1);
    ck_assert_uint_eq(f.acked_handle, 7);
    ck_assert_int_eq(f.acked_err, 0);
    FEED(&f, "TIMED_OUT\r\n"); /* the blocking one: re-issued */
    EXPECT(&f, "reserve-with-timeout 1\r\n");
    FEED(&f, "RESERVED 8 2\r\nhi\r\n");
    wait_for(&f, &f.tasks, 2);
    EXPECT(&f, "delete 8\r\n");
    expect_quiet(&f); /* credits used up */
    ck_assert_int_eq(f.failed, 0);
    fx_close(&f);
}
END_TEST

START_TEST(bs_close_inside_task)
{
    fx f;
    fx_open(&f, &rb_drv_beanstalkd, RB_ROLE_CONSUMER);
    f.close_in_task = true;
    ck_assert_int_eq(rb_drv_beanstalkd.consume(f.c, 2), 0);
    FEED(&f, "WATCHING 2\r\nWATCHING 1\r\nRESERVED 1 1\r\na\r\nRESERVED 2 1\r\nb\r\n");
    wait_for(&f, &f.tasks, 1);
    for (int i = 0; i < 10; i++) ev_loop_run_once(f.loop, false);
    ck_assert_int_eq(f.tasks, 1); /* nothing after the close */
    ck_assert_int_eq(f.failed, 0);
    fx_close(&f);
}
END_TEST

static const struct {
    const char *reply;
    size_t len; /* 0: strlen */
    const char *why;
} bs_hostile[] = {
    {"WATCHING 1\r\nWATCHING 1\r\nRESERVED 1 99999999999\r\n", 0, "bad reply"},
    {"WATCHING 1\r\nWATCHING 1\r\nRESERVED 1 2\r\nabXY", 0, "not followed by CRLF"},
    {"WATCHING 1\r\nWATCHING 1\r\nRESERVED 1 -2\r\n", 0, "bad reply"},
    {"WATCHING 1\r\nWATCHING 1\r\nRESERVED 18446744073709551616 1\r\na\r\n", 0, "bad reply"},
    {"WATCHING 1\r\nWATCHING 1\r\nINSERTED 3\r\n", 0, "unexpected reply \"INSERTED 3\""},
    {"WATCHING 1\r\nNOT_IGNORED\r\n", 0, "unexpected reply \"NOT_IGNORED\""},
    {"WATCHING 1\r\nWATCH\0ING 1\r\n", 25, "malformed"},
    {"WATCHING 1\nx", 0, "malformed"},
    {"WATCHING 1\r\nWATCHING 1\r\nTIMED_OUT\r\nTIMED_OUT\r\nDELETED\r\n", 0,
     "unexpected reply \"DELETED\""},
    {"WATCHING 1\r\nWATCHING 1\r\nBAD_FORMAT\r\n", 0, "unexpected reply \"BAD_FORMAT\""},
};

START_TEST(bs_hostile_replies_fail_once)
{
    fx f;
    fx_open(&f, &rb_drv_beanstalkd, RB_ROLE_CONSUMER);
    ck_assert_int_eq(rb_drv_beanstalkd.consume(f.c, 1), 0);
    const char *r = bs_hostile[_i].reply;
    feed(&f, r, bs_hostile[_i].len ? bs_hostile[_i].len : strlen(r));
    wait_for(&f, &f.failed, 1);
    ck_assert_msg(strstr(f.why, bs_hostile[_i].why) && strstr(f.why, "beanstalkd"), "%s", f.why);
    FEED(&f, "WATCHING 1\r\n");
    for (int i = 0; i < 10; i++) ev_loop_run_once(f.loop, false);
    ck_assert_int_eq(f.failed, 1);
    ck_assert_int_lt(rb_drv_beanstalkd.consume(f.c, 1), 0);
    fx_close(&f);
}
END_TEST

START_TEST(bs_long_line_and_peer_close)
{
    fx f;
    fx_open(&f, &rb_drv_beanstalkd, RB_ROLE_PRODUCER);
    char junk[600];
    memset(junk, 'A', sizeof junk);
    feed(&f, junk, sizeof junk);
    wait_for(&f, &f.failed, 1);
    ck_assert_msg(strstr(f.why, "longer than"), "%s", f.why);
    fx_close(&f);

    fx_open(&f, &rb_drv_beanstalkd, RB_ROLE_PRODUCER);
    f.close_in_failed = true;
    close(f.sfd);
    f.sfd = -1;
    wait_for(&f, &f.failed, 1);
    ck_assert_msg(strstr(f.why, "closed by the peer") && strstr(f.why, f.addr), "%s", f.why);
    ck_assert_ptr_null(f.c);
    fx_close(&f);
}
END_TEST

/* ---- Redis ---- */

START_TEST(rd_producer_lpush_is_binary_safe)
{
    fx f;
    fx_open(&f, &rb_drv_redis, RB_ROLE_PRODUCER);
    rb_payload p[2] = {{(const uint8_t *)"a\0b", 3}, {(const uint8_t *)"\r\n", 2}};
    ck_assert_int_eq(rb_drv_redis.send(f.c, p, 2, 9), 0);
    EXPECT(&f, "*4\r\n$5\r\nLPUSH\r\n$1\r\nq\r\n$3\r\na\0b\r\n$2\r\n\r\n\r\n");
    FEED(&f, ":2\r\n");
    wait_for(&f, &f.done, 1);
    ck_assert_uint_eq(f.done_tag, 9);
    ck_assert_int_eq(f.done_err, 0);
    fx_close(&f);
}
END_TEST

#define LMOVE_Q \
    "*5\r\n$5\r\nLMOVE\r\n$1\r\nq\r\n$12\r\nq:processing\r\n$5\r\nRIGHT\r\n$4\r\nLEFT\r\n"
#define BLMOVE_Q                                                                            \
    "*6\r\n$6\r\nBLMOVE\r\n$1\r\nq\r\n$12\r\nq:processing\r\n$5\r\nRIGHT\r\n$4\r\nLEFT\r\n" \
    "$1\r\n1\r\n"

START_TEST(rd_consumer_moves_acks_and_blocks_when_empty)
{
    fx f;
    fx_open(&f, &rb_drv_redis, RB_ROLE_CONSUMER);
    ck_assert_int_eq(rb_drv_redis.consume(f.c, 1), 0);
    EXPECT(&f, LMOVE_Q);
    FEED(&f, "$5\r\nhe");
    for (int i = 0; i < 10; i++) ev_loop_run_once(f.loop, false);
    ck_assert_int_eq(f.tasks, 0);
    FEED(&f, "llo\r\n");
    wait_for(&f, &f.tasks, 1);
    ck_assert_str_eq(f.task, "hello");
    expect_quiet(&f); /* one credit, used */
    ck_assert_int_eq(rb_drv_redis.ack(f.c, f.task_handle + (1ull << 32)), -ENOENT); /* stale */
    ck_assert_int_eq(rb_drv_redis.ack(f.c, f.task_handle), 0);
    EXPECT(&f, "*4\r\n$4\r\nLREM\r\n$12\r\nq:processing\r\n$2\r\n-1\r\n$5\r\nhello\r\n");
    ck_assert_int_eq(rb_drv_redis.ack(f.c, f.task_handle), -ENOENT); /* twice */
    FEED(&f, ":1\r\n");
    wait_for(&f, &f.acked, 1);
    ck_assert_int_eq(f.acked_err, 0);
    ck_assert_int_eq(rb_drv_redis.consume(f.c, 1), 0);
    EXPECT(&f, LMOVE_Q);
    FEED(&f, "$-1\r\n"); /* empty: one blocking move */
    EXPECT(&f, BLMOVE_Q);
    FEED(&f, "*-1\r\n"); /* timed out: again */
    EXPECT(&f, BLMOVE_Q);
    ck_assert_int_eq(f.failed, 0);
    fx_close(&f);
}
END_TEST

START_TEST(rd_lrem_miss_is_an_ack_error)
{
    fx f;
    fx_open(&f, &rb_drv_redis, RB_ROLE_CONSUMER);
    ck_assert_int_eq(rb_drv_redis.consume(f.c, 1), 0);
    FEED(&f, "$1\r\nx\r\n");
    wait_for(&f, &f.tasks, 1);
    ck_assert_int_eq(rb_drv_redis.ack(f.c, f.task_handle), 0);
    FEED(&f, ":0\r\n");
    wait_for(&f, &f.acked, 1);
    ck_assert_int_eq(f.acked_err, -ENOENT);
    ck_assert_msg(strstr(f.why, "redis") && strstr(f.why, "LREM"), "%s", f.why);
    fx_close(&f);
}
END_TEST

static const struct {
    const char *reply;
    const char *why;
} rd_hostile[] = {
    {"-ERR wrong number of arguments\r\n", "ERR wrong number of arguments"},
    {"$99999999999\r\n", "unexpected reply \"$99999999999\""},
    {"$3\r\nabcXY", "unexpected reply"},
    {"*2\r\n$1\r\na\r\n$1\r\nb\r\n", "unexpected reply \"*2\""},
    {":12\r\n", "unexpected reply \":12\""},
    {":abc\r\n", "unexpected reply"},
    {"+OK\r\n", "unexpected reply \"+OK\""},
    {"?\r\n", "unexpected reply \"?\""},
    {"\r\n", "unexpected reply"},
};

START_TEST(rd_hostile_replies_fail_once)
{
    fx f;
    fx_open(&f, &rb_drv_redis, RB_ROLE_CONSUMER);
    ck_assert_int_eq(rb_drv_redis.consume(f.c, 1), 0);
    feed(&f, rd_hostile[_i].reply, strlen(rd_hostile[_i].reply));
    wait_for(&f, &f.failed, 1);
    ck_assert_msg(strstr(f.why, rd_hostile[_i].why) && strstr(f.why, "redis"), "%s", f.why);
    FEED(&f, ":1\r\n");
    for (int i = 0; i < 10; i++) ev_loop_run_once(f.loop, false);
    ck_assert_int_eq(f.failed, 1);
    fx_close(&f);
}
END_TEST

START_TEST(replies_to_nothing_fail)
{
    fx f;
    fx_open(&f, &rb_drv_redis, RB_ROLE_PRODUCER);
    FEED(&f, ":1\r\n");
    wait_for(&f, &f.failed, 1);
    ck_assert_msg(strstr(f.why, "redis") && strstr(f.why, "to no command"), "%s", f.why);
    fx_close(&f);
    fx_open(&f, &rb_drv_beanstalkd, RB_ROLE_PRODUCER);
    FEED(&f, "USING q\r\nINSERTED 1\r\n");
    wait_for(&f, &f.failed, 1);
    ck_assert_msg(strstr(f.why, "beanstalkd") && strstr(f.why, "to no command"), "%s", f.why);
    fx_close(&f);
}
END_TEST

START_TEST(rd_close_inside_task_frees_held)
{
    fx f;
    fx_open(&f, &rb_drv_redis, RB_ROLE_CONSUMER);
    ck_assert_int_eq(rb_drv_redis.consume(f.c, 3), 0);
    FEED(&f, "$1\r\na\r\n");
    wait_for(&f, &f.tasks, 1);
    f.close_in_task = true; /* the held "a" is freed with the connection */
    FEED(&f, "$1\r\nb\r\n$1\r\nc\r\n");
    wait_for(&f, &f.tasks, 2);
    for (int i = 0; i < 10; i++) ev_loop_run_once(f.loop, false);
    ck_assert_int_eq(f.tasks, 2);
    fx_close(&f);
}
END_TEST

START_TEST(open_refused_and_bad_names)
{
    char e[256] = "";
    int err;
    const char *why;
    ev_loop *l = ev_loop_create(NULL, &err, &why);
    int lfd = rt_listen_tcp("127.0.0.1", 0, false);
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", rt_socket_port(lfd));
    close(lfd);
    rb_target t = {.addr = addr, .queue = "q"};
    ck_assert_ptr_null(rb_drv_redis.open(l, &t, RB_ROLE_PRODUCER, &evs, NULL, e, sizeof e));
    ck_assert_msg(strstr(e, "redis") && strstr(e, addr), "%s", e);
    ck_assert_ptr_null(rb_drv_beanstalkd.open(l, &t, RB_ROLE_PRODUCER, &evs, NULL, e, sizeof e));
    ck_assert_msg(strstr(e, "beanstalkd") && strstr(e, addr), "%s", e);
    t.queue = "-bad";
    ck_assert_ptr_null(rb_drv_beanstalkd.open(l, &t, RB_ROLE_PRODUCER, &evs, NULL, e, sizeof e));
    ck_assert_msg(strstr(e, "tube name"), "%s", e);
    t.queue = "has space";
    ck_assert_int_lt(rb_drv_beanstalkd.setup(&t, e, sizeof e), 0);
    ck_assert_ptr_null(rb_drv_beanstalkd.open(l, &t, RB_ROLE_CALL, &evs, NULL, e, sizeof e));
    ck_assert_ptr_null(rb_drv_redis.open(l, &t, RB_ROLE_CALL, &evs, NULL, e, sizeof e));
    t.queue = "q";
    uint64_t n;
    ck_assert_int_lt(rb_drv_redis.backlog(&t, &n, e, sizeof e), 0);
    ck_assert_msg(strstr(e, "connect"), "%s", e);
    ev_loop_destroy(l);
}
END_TEST

int main(void)
{
    int skip = ts_io_uring_or_skip();
    if (skip) return skip;
    Suite *s = suite_create("rb_peers");
    TCase *tc = tcase_create("peers");
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, bs_producer_pipelines_puts);
    tcase_add_test(tc, bs_put_refusal_fails_the_batch);
    tcase_add_test(tc, bs_consumer_reserves_acks_and_goes_cold);
    tcase_add_test(tc, bs_close_inside_task);
    tcase_add_loop_test(tc, bs_hostile_replies_fail_once, 0,
                        (int)(sizeof bs_hostile / sizeof bs_hostile[0]));
    tcase_add_test(tc, bs_long_line_and_peer_close);
    tcase_add_test(tc, rd_producer_lpush_is_binary_safe);
    tcase_add_test(tc, rd_consumer_moves_acks_and_blocks_when_empty);
    tcase_add_test(tc, rd_lrem_miss_is_an_ack_error);
    tcase_add_loop_test(tc, rd_hostile_replies_fail_once, 0,
                        (int)(sizeof rd_hostile / sizeof rd_hostile[0]));
    tcase_add_test(tc, replies_to_nothing_fail);
    tcase_add_test(tc, rd_close_inside_task_frees_held);
    tcase_add_test(tc, open_refused_and_bad_names);
    suite_add_tcase(s, tc);
    return ts_run_suite(s);
}
