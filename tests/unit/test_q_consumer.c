/* queue/q_consumer: delivery and settling on a real partition log (configuration:
 * test_q_consumer_cfg.c; durability, retention, compaction: test_q_consumer_log.c; kill -9:
 * test_q_consumer_crash.c; the pending table: test_q_consumer_pend.c). */
#include <check.h>
#include <errno.h>
#include <string.h>

#include "core/rt_log.h"
#include "test_q_consumer_util.h"

#define ACK_WAIT 1000u

START_TEST(explicit_ack_and_results)
{
    tp t;
    tc_open(&t, 1u << 20);
    q_stream *s = tc_stream(&t, "orders", "orders.>", Q_RETENTION_LIMITS);
    for (int i = 0; i < 5; i++) tc_pub(&t, s, "orders.new", "body", T0);
    q_consumer_cfg cfg = tc_cfg("c");
    cfg.ack_wait_ms = ACK_WAIT;
    q_consumer *c = tc_cons(&t, s, &cfg, T0);
    q_delivery d[10];
    ck_assert_uint_eq(tc_next(c, T0, 10, d), 5);
    for (uint32_t i = 0; i < 5; i++) {
        ck_assert_uint_eq(d[i].stream_seq, i + 1);
        ck_assert_uint_eq(d[i].consumer_seq, i + 1);
        ck_assert_uint_eq(d[i].delivery_count, 1);
        ck_assert_uint_eq(d[i].pending, 4 - i);
        ck_assert_uint_ne(d[i].token, 0);
        ck_assert_int_eq(d[i].msg.payload_len, 4);
        ck_assert_int_eq(memcmp(d[i].msg.payload, "body", 4), 0);
        if (i) ck_assert_uint_gt(d[i].token, d[i - 1].token);
    }
    /* Batch: two good, one stale (another delivery's token), one never delivered. */
    q_ack_ref refs[4] = {{1, d[0].token}, {3, d[2].token}, {2, d[3].token}, {9, 1}};
    q_acks a = {.kind = Q_ACK_ACK, .refs = refs, .n = 4};
    q_item it[4];
    uint64_t ct;
    q_err e;
    ck_assert_int_eq(q_consumer_settle(c, &a, T0, it, &ct, &e), Q_OK);
    ck_assert_int_eq(it[0].code, Q_OK);
    ck_assert_int_eq(it[1].code, Q_OK);
    ck_assert_int_eq(it[2].code, Q_FAILED_PRECONDITION);
    ck_assert_str_eq(it[2].why, "delivery superseded");
    ck_assert_int_eq(it[3].code, Q_NOT_FOUND);
    ck_assert_uint_gt(ct, 0); /* a record to wait for */
    ck_assert_int_eq(tc_settle(c, Q_ACK_ACK, 1, d[0].token, T0), Q_NOT_FOUND); /* acked */
    q_consumer_state st = tc_state(c, T0);
    ck_assert_uint_eq(st.ack_floor_stream_seq, 1);
    ck_assert_uint_eq(st.num_ack_pending, 3);
    ck_assert_uint_eq(st.delivered_stream_seq, 5);
    ck_assert_uint_eq(st.delivered_consumer_seq, 5);
    ck_assert_uint_eq(st.position_seq, 6);
    ck_assert_uint_eq(st.num_pending, 0);
    /* Bad calls change nothing. */
    a.n = 0;
    ck_assert_int_eq(q_consumer_settle(c, &a, T0, it, &ct, &e), Q_INVALID_ARGUMENT);
    a.n = 1;
    a.has_delay = true;
    ck_assert_int_eq(q_consumer_settle(c, &a, T0, it, &ct, &e), Q_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(e.msg, "delay_ms"));
    a.has_delay = false;
    a.kind = 9;
    ck_assert_int_eq(q_consumer_settle(c, &a, T0, it, &ct, &e), Q_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(e.msg, "kind"));
    a.kind = Q_ACK_ACK;
    a.reason = "why";
    a.reason_len = 3;
    ck_assert_int_eq(q_consumer_settle(c, &a, T0, it, &ct, &e), Q_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(e.msg, "reason"));
    ck_assert_uint_eq(tc_state(c, T0).num_ack_pending, 3);
    tp_done(&t);
}
END_TEST

START_TEST(redelivery_supersedes_token)
{
    tp t;
    tc_open(&t, 1u << 20);
    q_stream *s = tc_stream(&t, "orders", "orders.>", Q_RETENTION_LIMITS);
    tc_pub(&t, s, "orders.new", "x", T0);
    q_consumer_cfg cfg = tc_cfg("c");
    cfg.ack_wait_ms = ACK_WAIT;
    q_consumer *c = tc_cons(&t, s, &cfg, T0);
    q_delivery d1, d2;
    ck_assert_uint_eq(tc_next(c, T0, 1, &d1), 1);
    ck_assert_uint_eq(q_consumer_next_ms(c), T0 + ACK_WAIT);
    ck_assert_uint_eq(tc_next(c, T0 + ACK_WAIT - 1, 1, &d2), 0); /* not yet */
    ck_assert(!q_consumer_ready(c, T0 + ACK_WAIT - 1));
    ck_assert(q_consumer_ready(c, T0 + ACK_WAIT));
    ck_assert_uint_eq(tc_next(c, T0 + ACK_WAIT, 1, &d2), 1);
    ck_assert_uint_eq(d2.stream_seq, 1);
    ck_assert_uint_eq(d2.delivery_count, 2);
    ck_assert_uint_eq(d2.consumer_seq, 2);
    ck_assert_uint_ne(d2.token, d1.token);
    ck_assert_uint_eq(tc_state(c, T0).num_redelivered, 1);
    /* The slow first worker cannot ack the second delivery. */
    ck_assert_int_eq(tc_settle(c, Q_ACK_ACK, 1, d1.token, T0 + ACK_WAIT), Q_FAILED_PRECONDITION);
    ck_assert_int_eq(tc_settle(c, Q_ACK_ACK, 1, d2.token, T0 + ACK_WAIT), Q_OK);
    ck_assert_uint_eq(tc_state(c, T0).num_ack_pending, 0);
    ck_assert_uint_eq(tc_state(c, T0).num_redelivered, 0);
    tp_done(&t);
}
END_TEST

START_TEST(nak_delay_and_backoff_list)
{
    tp t;
    tc_open(&t, 1u << 20);
    q_stream *s = tc_stream(&t, "orders", "orders.>", Q_RETENTION_LIMITS);
    tc_pub(&t, s, "orders.new", "x", T0);
    q_consumer_cfg cfg = tc_cfg("c");
    cfg.ack_wait_ms = ACK_WAIT;
    cfg.backoff_ms[0] = 100;
    cfg.backoff_ms[1] = 500;
    cfg.nbackoff = 2;
    q_consumer *c = tc_cons(&t, s, &cfg, T0);
    q_delivery d;
    uint64_t now = T0;
    ck_assert_uint_eq(tc_next(c, now, 1, &d), 1);
    /* Nak without a delay: the first backoff entry. */
    ck_assert_int_eq(tc_settle(c, Q_ACK_NAK, 1, d.token, now), Q_OK);
    ck_assert_uint_eq(q_consumer_next_ms(c), now + 100);
    ck_assert_uint_eq(tc_next(c, now + 99, 1, &d), 0);
    now += 100;
    ck_assert_uint_eq(tc_next(c, now, 1, &d), 1);
    ck_assert_uint_eq(d.delivery_count, 2);
    /* Second failure: the second entry; third: the last entry repeats. */
    ck_assert_int_eq(tc_settle(c, Q_ACK_NAK, 1, d.token, now), Q_OK);
    ck_assert_uint_eq(q_consumer_next_ms(c), now + 500);
    now += 500;
    ck_assert_uint_eq(tc_next(c, now, 1, &d), 1);
    ck_assert_int_eq(tc_settle(c, Q_ACK_NAK, 1, d.token, now), Q_OK);
    ck_assert_uint_eq(q_consumer_next_ms(c), now + 500);
    now += 500;
    ck_assert_uint_eq(tc_next(c, now, 1, &d), 1);
    ck_assert_uint_eq(d.delivery_count, 4);
    /* An explicit delay wins over the backoff. */
    q_ack_ref r = {1, d.token};
    q_acks a = {.kind = Q_ACK_NAK, .refs = &r, .n = 1, .has_delay = true, .delay_ms = 2000};
    q_item it;
    uint64_t ct;
    q_err e;
    ck_assert_int_eq(q_consumer_settle(c, &a, now, &it, &ct, &e), Q_OK);
    ck_assert_uint_eq(ct, 0); /* naks write nothing */
    ck_assert_uint_eq(q_consumer_next_ms(c), now + 2000);
    now += 2000;
    ck_assert_uint_eq(tc_next(c, now, 1, &d), 1);
    /* An ack wait that runs out also waits its backoff entry (the 5th failure: 500). */
    ck_assert_uint_eq(tc_next(c, now + ACK_WAIT, 1, &d), 0);
    ck_assert_uint_eq(q_consumer_next_ms(c), now + ACK_WAIT + 500);
    ck_assert_uint_eq(tc_next(c, now + ACK_WAIT + 500, 1, &d), 1);
    ck_assert_uint_eq(d.delivery_count, 6);
    tp_done(&t);
}
END_TEST

START_TEST(in_progress_restarts_ack_wait)
{
    tp t;
    tc_open(&t, 1u << 20);
    q_stream *s = tc_stream(&t, "orders", "orders.>", Q_RETENTION_LIMITS);
    tc_pub(&t, s, "orders.new", "x", T0);
    q_consumer_cfg cfg = tc_cfg("c");
    cfg.ack_wait_ms = ACK_WAIT;
    q_consumer *c = tc_cons(&t, s, &cfg, T0);
    q_delivery d, d2;
    ck_assert_uint_eq(tc_next(c, T0, 1, &d), 1);
    ck_assert_int_eq(tc_settle(c, Q_ACK_PROGRESS, 1, d.token, T0 + 900), Q_OK);
    ck_assert_uint_eq(q_consumer_next_ms(c), T0 + 900 + ACK_WAIT);
    ck_assert_uint_eq(tc_next(c, T0 + 1500, 1, &d2), 0); /* the first deadline is gone */
    ck_assert_int_eq(tc_settle(c, Q_ACK_ACK, 1, d.token, T0 + 1800), Q_OK); /* same token */
    ck_assert_uint_eq(tc_next(c, T0 + 5000, 1, &d2), 0);
    tp_done(&t);
}
END_TEST

START_TEST(max_deliver_gives_up)
{
    tp t;
    tc_open(&t, 1u << 20);
    q_stream *s = tc_stream(&t, "orders", "orders.>", Q_RETENTION_LIMITS);
    tc_pub(&t, s, "orders.new", "x", T0);
    tc_pub(&t, s, "orders.new", "y", T0);
    q_consumer_cfg cfg = tc_cfg("c");
    cfg.ack_wait_ms = ACK_WAIT;
    cfg.max_deliver = 2;
    q_consumer *c = tc_cons(&t, s, &cfg, T0);
    q_delivery d[2];
    ck_assert_uint_eq(tc_next(c, T0, 1, d), 1);
    ck_assert_uint_eq(tc_next(c, T0 + ACK_WAIT, 1, d), 1);
    ck_assert_uint_eq(d[0].stream_seq, 1);
    ck_assert_uint_eq(d[0].delivery_count, 2);
    /* Its second ack wait runs out: given up; the next message comes instead. */
    uint32_t n;
    uint64_t ct, next;
    q_err e;
    ck_assert_int_eq(q_consumer_next(c, T0 + 2 * ACK_WAIT, 2, SIZE_MAX, 0, d, &n, &next, &ct, &e),
                     Q_OK);
    ck_assert_uint_eq(n, 1);
    ck_assert_uint_eq(d[0].stream_seq, 2);
    ck_assert_uint_gt(ct, 0); /* the TERM record */
    q_consumer_state st = tc_state(c, T0 + 2 * ACK_WAIT);
    ck_assert_uint_eq(st.num_terminated, 1);
    ck_assert_uint_eq(st.num_ack_pending, 1);
    ck_assert_uint_eq(st.ack_floor_stream_seq, 1);
    tp_done(&t);
}
END_TEST

START_TEST(max_ack_pending_holds_back)
{
    tp t;
    tc_open(&t, 1u << 20);
    q_stream *s = tc_stream(&t, "orders", "orders.>", Q_RETENTION_LIMITS);
    for (int i = 0; i < 5; i++) tc_pub(&t, s, "orders.new", "x", T0);
    q_consumer_cfg cfg = tc_cfg("c");
    cfg.max_ack_pending = 2;
    q_consumer *c = tc_cons(&t, s, &cfg, T0);
    q_delivery d[5];
    ck_assert_uint_eq(tc_next(c, T0, 5, d), 2);
    ck_assert_uint_eq(tc_next(c, T0, 5, d + 2), 0);
    ck_assert(!q_consumer_ready(c, T0));
    /* A nak'd message waiting for redelivery still counts. */
    ck_assert_int_eq(tc_settle(c, Q_ACK_NAK, 1, d[0].token, T0), Q_OK);
    ck_assert_int_eq(tc_settle(c, Q_ACK_ACK, 2, d[1].token, T0), Q_OK);
    ck_assert_uint_eq(tc_next(c, T0, 5, d + 2), 2); /* 1 again, then 3 */
    ck_assert_uint_eq(d[2].stream_seq, 1);
    ck_assert_uint_eq(d[3].stream_seq, 3);
    ck_assert_uint_eq(tc_state(c, T0).num_pending, 2);
    tp_done(&t);
}
END_TEST

START_TEST(pause_and_reset)
{
    tp t;
    tc_open(&t, 1u << 20);
    q_stream *s = tc_stream(&t, "orders", "orders.>", Q_RETENTION_LIMITS);
    for (int i = 0; i < 5; i++) tc_pub(&t, s, "orders.new", "x", T0 + 10 * (uint64_t)i);
    q_consumer_cfg cfg = tc_cfg("c");
    q_consumer *c = tc_cons(&t, s, &cfg, T0);
    uint64_t ct;
    q_err e;
    ck_assert_int_eq(q_consumer_pause(c, T0 + 1000, T0, &ct, &e), Q_OK);
    ck_assert_uint_gt(ct, 0);
    q_delivery d[5];
    ck_assert_uint_eq(tc_next(c, T0 + 999, 5, d), 0);
    ck_assert_uint_eq(q_consumer_next_ms(c), T0 + 1000);
    ck_assert_uint_eq(tc_state(c, T0).paused_until_ms, T0 + 1000);
    ck_assert_uint_eq(tc_next(c, T0 + 1000, 2, d), 2);
    /* Reset to 4: the pending deliveries are dropped. */
    ck_assert_int_eq(q_consumer_reset(c, false, 4, T0 + 1000, &ct, &e), Q_OK);
    ck_assert_int_eq(tc_settle(c, Q_ACK_ACK, 1, d[0].token, T0 + 1000), Q_NOT_FOUND);
    ck_assert_uint_eq(tc_state(c, T0).ack_floor_stream_seq, 3);
    ck_assert_uint_eq(tc_next(c, T0 + 1000, 5, d), 2);
    ck_assert_uint_eq(d[0].stream_seq, 4);
    /* Reset by time: the message stored at T0 + 20 is seq 3. */
    ck_assert_int_eq(q_consumer_reset(c, true, T0 + 15, T0 + 1000, &ct, &e), Q_OK);
    ck_assert_uint_eq(tc_next(c, T0 + 1000, 5, d), 3);
    ck_assert_uint_eq(d[0].stream_seq, 3);
    ck_assert_int_eq(q_consumer_reset(c, false, 0, T0, &ct, &e), Q_INVALID_ARGUMENT);
    tp_done(&t);
}
END_TEST

START_TEST(ack_policy_all_and_none)
{
    tp t;
    tc_open(&t, 1u << 20);
    q_stream *s = tc_stream(&t, "orders", "orders.>", Q_RETENTION_LIMITS);
    for (int i = 0; i < 5; i++) tc_pub(&t, s, "orders.new", "x", T0);
    q_consumer_cfg cfg = tc_cfg("all");
    cfg.ack_policy = Q_ACKP_ALL;
    q_consumer *c = tc_cons(&t, s, &cfg, T0);
    q_delivery d[5];
    ck_assert_uint_eq(tc_next(c, T0, 5, d), 5);
    ck_assert_int_eq(tc_settle(c, Q_ACK_ACK, 3, d[2].token, T0), Q_OK);
    q_consumer_state st = tc_state(c, T0);
    ck_assert_uint_eq(st.ack_floor_stream_seq, 3);
    ck_assert_uint_eq(st.num_ack_pending, 2);
    ck_assert_int_eq(tc_settle(c, Q_ACK_ACK, 2, d[1].token, T0), Q_NOT_FOUND);
    q_consumer_cfg ncfg = tc_cfg("none");
    ncfg.ack_policy = Q_ACKP_NONE;
    q_consumer *nc = tc_cons(&t, s, &ncfg, T0);
    ck_assert_uint_eq(tc_next(nc, T0, 3, d), 3);
    st = tc_state(nc, T0);
    ck_assert_uint_eq(st.num_ack_pending, 0);
    ck_assert_uint_eq(st.ack_floor_stream_seq, 3);
    q_ack_ref r = {1, d[0].token};
    q_acks a = {.kind = Q_ACK_ACK, .refs = &r, .n = 1};
    q_item it;
    uint64_t ct;
    q_err e;
    ck_assert_int_eq(q_consumer_settle(nc, &a, T0, &it, &ct, &e), Q_FAILED_PRECONDITION);
    /* Nothing comes back: delivered is acked. */
    ck_assert_uint_eq(tc_next(nc, T0 + 3600000, 5, d), 2);
    ck_assert_uint_eq(d[0].stream_seq, 4);
    tp_done(&t);
}
END_TEST

/* Publishes a.1 a.2 b.1 a.1 b.2 (seqs 1..5) at T0 + 10 * seq. */
static q_stream *policy_stream(tp *t)
{
    q_stream *s = tc_stream(t, "ev", "ev.>", Q_RETENTION_LIMITS);
    const char *subj[] = {"ev.a.1", "ev.a.2", "ev.b.1", "ev.a.1", "ev.b.2"};
    for (uint64_t i = 0; i < 5; i++) tc_pub(t, s, subj[i], subj[i], T0 + 10 * (i + 1));
    return s;
}

static void expect_seqs(q_consumer *c, const uint64_t *want, uint32_t n)
{
    q_delivery d[8];
    uint32_t got = tc_next(c, T0 + 1000, 8, d);
    ck_assert_uint_eq(got, n);
    for (uint32_t i = 0; i < n; i++) ck_assert_uint_eq(d[i].stream_seq, want[i]);
}

START_TEST(deliver_policies_and_filters)
{
    tp t;
    tc_open(&t, 1u << 20);
    q_stream *s = policy_stream(&t);
    q_consumer_cfg c = tc_cfg("all");
    expect_seqs(tc_cons(&t, s, &c, T0), (uint64_t[]){1, 2, 3, 4, 5}, 5);
    c = tc_cfg("last");
    c.deliver_policy = Q_DELIVER_LAST;
    expect_seqs(tc_cons(&t, s, &c, T0), (uint64_t[]){5}, 1);
    c.name = "lasta";
    c.name_len = 5;
    c.filters[0] = (q_subject_view){"ev.a.*", 6};
    c.nfilters = 1;
    expect_seqs(tc_cons(&t, s, &c, T0), (uint64_t[]){4}, 1);
    c = tc_cfg("new");
    c.deliver_policy = Q_DELIVER_NEW;
    q_consumer *nw = tc_cons(&t, s, &c, T0);
    expect_seqs(nw, NULL, 0);
    c = tc_cfg("seq");
    c.deliver_policy = Q_DELIVER_BY_START_SEQ;
    c.opt_start_seq = 4;
    expect_seqs(tc_cons(&t, s, &c, T0), (uint64_t[]){4, 5}, 2);
    c = tc_cfg("time");
    c.deliver_policy = Q_DELIVER_BY_START_TIME;
    c.opt_start_unix_ms = T0 + 25;
    expect_seqs(tc_cons(&t, s, &c, T0), (uint64_t[]){3, 4, 5}, 3);
    c = tc_cfg("lps");
    c.deliver_policy = Q_DELIVER_LAST_PER_SUBJECT;
    q_consumer *lps = tc_cons(&t, s, &c, T0);
    c = tc_cfg("filt");
    c.filters[0] = (q_subject_view){"ev.b.*", 6};
    c.filters[1] = (q_subject_view){"ev.a.2", 6};
    c.nfilters = 2;
    q_consumer *f = tc_cons(&t, s, &c, T0);
    ck_assert_uint_eq(tc_state(f, T0).num_pending, 3);
    expect_seqs(f, (uint64_t[]){2, 3, 5}, 3);
    /* New messages: NEW and LAST_PER_SUBJECT see them; the filter counts its lag. */
    tc_pub(&t, s, "ev.a.1", "n", T0 + 100);
    tc_pub(&t, s, "ev.b.9", "n", T0 + 100);
    ck_assert_uint_eq(tc_state(f, T0).num_pending, 1);
    expect_seqs(lps, (uint64_t[]){2, 3, 4, 5, 6, 7}, 6); /* a.1's last is 4, not 1 */
    expect_seqs(nw, (uint64_t[]){6, 7}, 2);
    expect_seqs(f, (uint64_t[]){7}, 1);
    ck_assert_uint_eq(tc_state(f, T0).num_pending, 0);
    tp_done(&t);
}
END_TEST

START_TEST(headers_only_budget_and_rate)
{
    tp t;
    tc_open(&t, 1u << 20);
    q_stream *s = tc_stream(&t, "orders", "orders.>", Q_RETENTION_LIMITS);
    char body[61];
    memset(body, 'b', 60);
    body[60] = 0;
    for (int i = 0; i < 6; i++) tc_pub(&t, s, "orders.new", body, T0);
    q_consumer_cfg cfg = tc_cfg("h");
    cfg.headers_only = true;
    q_consumer *h = tc_cons(&t, s, &cfg, T0);
    q_delivery d[6];
    ck_assert_uint_eq(tc_next(h, T0, 1, d), 1);
    ck_assert_ptr_null(d[0].msg.payload);
    ck_assert_uint_eq(d[0].msg.payload_len, 0);
    ck_assert_uint_ge(d[0].msg.size, 60);
    /* A byte budget: 130 bytes hold two 60-byte messages with 5 bytes of framing each. */
    cfg = tc_cfg("b");
    q_consumer *b = tc_cons(&t, s, &cfg, T0);
    uint32_t n;
    uint64_t ct, next;
    q_err e;
    ck_assert_int_eq(q_consumer_next(b, T0, 6, 130, 5, d, &n, &next, &ct, &e), Q_OK);
    ck_assert_uint_eq(n, 2);
    ck_assert_uint_eq(next, T0); /* more is ready */
    /* 100 bytes/s: the bucket starts full, 60 + 60 overdraws it, then it refills. */
    cfg = tc_cfg("r");
    cfg.rate_limit_bytes_per_s = 100;
    q_consumer *r = tc_cons(&t, s, &cfg, T0);
    ck_assert_int_eq(q_consumer_next(r, T0, 6, SIZE_MAX, 0, d, &n, &next, &ct, &e), Q_OK);
    ck_assert_uint_eq(n, 2);
    ck_assert_uint_gt(next, T0);
    ck_assert_uint_le(next, T0 + 1000);
    ck_assert_uint_eq(tc_next(r, next - 1, 6, d), 0);
    ck_assert_uint_eq(tc_next(r, next, 6, d), 1);
    tp_done(&t);
}
END_TEST

START_TEST(ephemeral_expires_when_idle)
{
    tp t;
    tc_open(&t, 1u << 20);
    q_stream *s = tc_stream(&t, "orders", "orders.>", Q_RETENTION_LIMITS);
    q_consumer_cfg cfg = tc_cfg("");
    cfg.ephemeral = true;
    q_consumer *c = NULL;
    uint64_t ct = 5, next;
    q_err e;
    ck_assert_int_eq(q_consumer_create(t.p, s, &cfg, T0, &c, &ct, &e), Q_OK);
    ck_assert_uint_eq(ct, 0); /* not logged */
    q_consumer_info info;
    q_consumer_info_fill(c, T0, &info);
    ck_assert_int_eq(strncmp(info.cfg.name, Q_CONSUMER_EPH_PREFIX, 4), 0);
    ck_assert_uint_eq(info.cfg.name_len, 20);
    ck_assert_uint_eq(info.cfg.inactive_threshold_ms, Q_CONSUMER_INACTIVE_MS_DEFAULT);
    char name[32];
    memcpy(name, info.cfg.name, 21);
    q_consumer_bind(c, 1, T0);
    ck_assert_uint_eq(q_consumers_tick(t.p, T0 + 60000, &next, NULL, NULL), 0); /* bound: stays */
    ck_assert_uint_eq(next, UINT64_MAX);
    q_consumer_bind(c, -1, T0 + 60000);
    ck_assert_uint_eq(q_consumers_tick(t.p, T0 + 64999, &next, NULL, NULL), 0);
    ck_assert_uint_eq(next, T0 + 65000);
    q_consumer_touch(c, T0 + 64000); /* a Fetch */
    ck_assert_uint_eq(q_consumers_tick(t.p, T0 + 65000, &next, NULL, NULL), 0);
    ck_assert_uint_eq(q_consumers_tick(t.p, T0 + 69000, &next, NULL, NULL), 1);
    ck_assert_ptr_null(q_consumer_find(s, name, 20));
    tp_done(&t);
}
END_TEST

static void on_gone(q_stream *s, const char *name, size_t len, void *ud)
{
    char *out = ud;
    ck_assert_uint_lt(len, 32);
    memcpy(out, name, len);
    out[len] = 0;
}

/* A held ephemeral consumer (a partitioned stream's member k >= 1) never expires on its own;
 * the ones that do are told to the gone callback first. */
START_TEST(ephemeral_held_stays_and_gone_is_told)
{
    tp t;
    tc_open(&t, 1u << 20);
    q_stream *s = tc_stream(&t, "orders", "orders.>", Q_RETENTION_LIMITS);
    q_consumer_cfg cfg = tc_cfg("held");
    cfg.ephemeral = true;
    q_consumer *held = NULL, *free_one = NULL;
    uint64_t ct = 0, next;
    q_err e;
    ck_assert_int_eq(q_consumer_create(t.p, s, &cfg, T0, &held, &ct, &e), Q_OK);
    q_consumer_hold_expiry(held);
    cfg = tc_cfg("free");
    cfg.ephemeral = true;
    ck_assert_int_eq(q_consumer_create(t.p, s, &cfg, T0, &free_one, &ct, &e), Q_OK);
    char gone[32] = "";
    ck_assert_uint_eq(q_consumers_tick(t.p, T0 + 86400000, &next, on_gone, gone), 1);
    ck_assert_str_eq(gone, "free");
    ck_assert_ptr_nonnull(q_consumer_find(s, "held", 4));
    ck_assert_ptr_null(q_consumer_find(s, "free", 4));
    ck_assert_int_eq(q_consumer_delete(t.p, s, "held", 4, T0, &ct, &e), Q_OK);
    tp_done(&t);
}
END_TEST

/* A partition (ready_when_durable as given) with stream "orders" (into *s) and consumer "c",
 * both committed, and one message published on orders.new, not committed yet. */
static q_consumer *durable_setup(tp *t, bool ready_when_durable, q_stream **s)
{
    q_consumer_hooks_install();
    tq_mkdtemp(t->dir);
    tp_opts(t, 1u << 20);
    t->o.ready_when_durable = ready_when_durable;
    tp_reopen(t, T0);
    *s = tc_stream(t, "orders", "orders.>", Q_RETENTION_LIMITS);
    q_consumer_cfg cfg = tc_cfg("c");
    q_consumer *c = tc_cons(t, *s, &cfg, T0);
    ck_assert_int_eq(q_log_commit(q_part_log(t->p)), 0);
    tc_pub(t, *s, "orders.new", "x", T0);
    return c;
}

/* Under --fsync always the server sets ready_when_durable: a message is delivered only once
 * its record is durable. */
START_TEST(durable_before_visible)
{
    tp t;
    q_stream *s;
    q_consumer *c = durable_setup(&t, true, &s);
    q_delivery d[2];
    ck_assert_uint_eq(tc_next(c, T0, 2, d), 0);
    ck_assert_int_eq(q_log_commit(q_part_log(t.p)), 0);
    ck_assert_uint_eq(tc_next(c, T0, 2, d), 1);
    ck_assert_uint_eq(d[0].stream_seq, 1);
    q_part_stats ps;
    q_part_get_stats(t.p, &ps);
    ck_assert_uint_eq(ps.delivered_undurable, 0); /* /metrics: 0 under --fsync always */
    tp_done(&t);
}
END_TEST

/* Without the bound (--fsync never) a message goes out as soon as it is appended, and the
 * partition counts it (ringq_stream_delivered_before_durable_total): the counter the server's
 * test_streams_durable.py reads as 0 under --fsync always does see such deliveries. */
START_TEST(undurable_deliveries_counted)
{
    tp t;
    q_stream *s;
    q_consumer *c = durable_setup(&t, false, &s);
    q_delivery d[2];
    ck_assert_uint_eq(tc_next(c, T0, 2, d), 1); /* not committed yet: handed out all the same */
    q_part_stats ps;
    q_part_get_stats(t.p, &ps);
    ck_assert_uint_eq(ps.delivered_undurable, 1);
    ck_assert_int_eq(q_log_commit(q_part_log(t.p)), 0);
    tc_pub(&t, s, "orders.new", "y", T0);
    ck_assert_int_eq(q_log_commit(q_part_log(t.p)), 0);
    ck_assert_uint_eq(tc_next(c, T0, 2, d), 1); /* committed first: not counted */
    q_part_get_stats(t.p, &ps);
    ck_assert_uint_eq(ps.delivered_undurable, 1);
    tp_done(&t);
}
END_TEST

/* The case through the API: a million messages delivered and not acked. The table's own
 * count (what /metrics shows as ringq_consumer_pending_table_bytes) leaves a margin under the
 * issue's 32 bytes for the rest of the heap: 21 bytes per message at most (20-byte entries in
 * pages; the array grown by a fifth at a time it replaced counted 26.4). */
START_TEST(pending_memory_through_the_api)
{
    tp t;
    tc_open(&t, 64u << 20);
    q_stream *s = tc_stream(&t, "orders", "orders.>", Q_RETENTION_LIMITS);
    const uint32_t n = Q_CONSUMER_ACK_PENDING_MAX, batch = 1000;
    static q_smsg_spec m[1000];
    static q_pub_result r[1000];
    for (uint32_t i = 0; i < batch; i++)
        m[i] = (q_smsg_spec){.subject = "orders.x",
                             .subject_len = 8,
                             .payload = (const uint8_t *)"p",
                             .payload_len = 1};
    uint64_t ct;
    q_err e;
    for (uint32_t k = 0; k < n / batch; k++)
        ck_assert_int_eq(q_stream_publish(t.p, s, m, batch, T0, r, &ct, &e), Q_OK);
    q_consumer_cfg cfg = tc_cfg("big");
    cfg.max_ack_pending = Q_CONSUMER_ACK_PENDING_MAX;
    q_consumer *c = tc_cons(&t, s, &cfg, T0);
    static q_delivery d[1000];
    for (uint32_t k = 0; k < n / batch; k++) ck_assert_uint_eq(tc_next(c, T0, batch, d), batch);
    ck_assert_uint_eq(tc_state(c, T0).num_ack_pending, n);
    uint64_t bytes = q_consumer_pending_bytes(c);
    ck_assert_msg(bytes <= 21ull * n, "%llu bytes for %u pending (%.2f per message)",
                  (unsigned long long)bytes, n, (double)bytes / n);
    tp_done(&t);
}
END_TEST

int main(void)
{
    log_set_level(LOG_WARN);
    const TTest *tests[] = {explicit_ack_and_results,
                            redelivery_supersedes_token,
                            nak_delay_and_backoff_list,
                            in_progress_restarts_ack_wait,
                            max_deliver_gives_up,
                            max_ack_pending_holds_back,
                            pause_and_reset,
                            ack_policy_all_and_none,
                            deliver_policies_and_filters,
                            headers_only_budget_and_rate,
                            ephemeral_expires_when_idle,
                            ephemeral_held_stays_and_gone_is_told,
                            durable_before_visible,
                            undurable_deliveries_counted,
                            pending_memory_through_the_api};
    return tq_run("q_consumer", "consumer", 60, tests, sizeof tests / sizeof tests[0]);
}
