/* queue/q_stream: retention limits (max messages, bytes, per subject, age), dedup, TTL, batch
 * expectations and purge — on a real partition log in a scratch directory. Configuration,
 * publish and reads: test_q_stream.c. */

#include "test_q_stream_util.h"

#include "core/rt_log.h"

static const char *const ORDERS[] = {"orders.>", NULL};

/* ---- limits ---- */

START_TEST(max_msgs_discard_old_and_new)
{
    tp t;
    tp_open(&t, 1 << 20);
    ts_cfg tc;
    q_stream_cfg *c = ts_cfg_init(&tc, "old", NULL);
    c->max_msgs = 3;
    q_stream *s = ts_create(&t, c, T0);
    for (int i = 0; i < 5; i++) ts_pub(&t, s, "old", "m", T0);
    q_stream_state st = ts_state(&t, s, T0);
    ck_assert_uint_eq(st.messages, 3);
    ck_assert_uint_eq(st.first_seq, 3);
    ck_assert_uint_eq(st.last_seq, 5);
    ck_assert_uint_eq(st.num_deleted, 0);
    ck_assert(ts_gone(&t, s, 2));
    c = ts_cfg_init(&tc, "new", NULL);
    c->max_msgs = 3;
    c->discard = Q_DISCARD_NEW;
    s = ts_create(&t, c, T0);
    for (int i = 0; i < 3; i++) ts_pub(&t, s, "new", "m", T0);
    q_smsg_spec m = ts_spec("new", "m");
    q_pub_result r;
    q_err e;
    ck_assert_int_eq(ts_pub_spec(&t, s, &m, T0, &r, &e), Q_FAILED_PRECONDITION);
    ck_assert(strstr(e.msg, "max_msgs") != NULL);
    ck_assert_uint_eq(q_stream_last_seq(s), 3);
    /* A batch that would cross the limit part-way writes nothing. */
    uint64_t commit, purged;
    ck_assert_int_eq(q_stream_purge(t.p, s, NULL, 0, 0, 1, T0, &purged, &commit, &e), Q_OK);
    ck_assert_uint_eq(purged, 2);
    q_smsg_spec b[3] = {m, m, m};
    q_pub_result rr[3];
    ck_assert_int_eq(q_stream_publish(t.p, s, b, 3, T0, rr, &commit, &e), Q_FAILED_PRECONDITION);
    ck_assert(strstr(e.msg, "message 2") != NULL);
    ck_assert_uint_eq(q_stream_msgs(s), 1);
    ck_assert_int_eq(q_stream_publish(t.p, s, b, 2, T0, rr, &commit, &e), Q_OK);
    ck_assert_uint_eq(rr[1].seq, 5);
    tp_done(&t);
}
END_TEST

START_TEST(max_bytes_discard_old_and_new)
{
    tp t;
    tp_open(&t, 1 << 20);
    ts_cfg tc;
    q_stream_cfg *c = ts_cfg_init(&tc, "b", NULL); /* size = 1 (subject) + payload */
    c->max_bytes = 30;
    q_stream *s = ts_create(&t, c, T0);
    ts_pub(&t, s, "b", "123456789", T0); /* 10 */
    ts_pub(&t, s, "b", "123456789", T0); /* 20 */
    ts_pub(&t, s, "b", "123456789", T0); /* 30 */
    ck_assert_uint_eq(q_stream_msgs(s), 3);
    ts_pub(&t, s, "b", "1234", T0); /* 35: the oldest goes */
    q_stream_state st = ts_state(&t, s, T0);
    ck_assert_uint_eq(st.messages, 3);
    ck_assert_uint_eq(st.bytes, 25);
    ck_assert_uint_eq(st.first_seq, 2);
    c = ts_cfg_init(&tc, "n", NULL);
    c->max_bytes = 30;
    c->discard = Q_DISCARD_NEW;
    s = ts_create(&t, c, T0);
    ts_pub(&t, s, "n", "123456789", T0);
    ts_pub(&t, s, "n", "123456789", T0);
    q_smsg_spec m = ts_spec("n", "1234567890");
    q_pub_result r;
    q_err e;
    ck_assert_int_eq(ts_pub_spec(&t, s, &m, T0, &r, &e), Q_FAILED_PRECONDITION);
    ck_assert(strstr(e.msg, "max_bytes") != NULL);
    m = ts_spec("n", "123456789");
    ck_assert_int_eq(ts_pub_spec(&t, s, &m, T0, &r, &e), Q_OK);
    tp_done(&t);
}
END_TEST

START_TEST(max_msgs_per_subject_old_and_new)
{
    tp t;
    tp_open(&t, 1 << 20);
    ts_cfg tc;
    const char *const kv[] = {"kv.>", NULL};
    q_stream_cfg *c = ts_cfg_init(&tc, "kv", kv);
    c->max_msgs_per_subject = 1; /* a key-value stream: the last value of each key */
    q_stream *s = ts_create(&t, c, T0);
    for (int i = 0; i < 100; i++) {
        char key[16], val[16];
        snprintf(key, sizeof key, "kv.k%d", i % 10);
        snprintf(val, sizeof val, "v%d", i);
        ts_pub(&t, s, key, val, T0);
    }
    q_stream_state st = ts_state(&t, s, T0);
    ck_assert_uint_eq(st.messages, 10);
    ck_assert_uint_eq(st.num_subjects, 10);
    ck_assert_uint_eq(st.first_seq, 91);
    q_smsg m;
    q_err e;
    ck_assert_int_eq(q_stream_last_by_subject(t.p, s, "kv.k3", 5, &m, &e), Q_OK);
    ck_assert_uint_eq(m.seq, 94);
    ck_assert(m.payload_len == 3 && memcmp(m.payload, "v93", 3) == 0);
    /* Two per subject with interleaving: the subject's oldest goes, others stay. */
    c = ts_cfg_init(&tc, "two", NULL);
    c->max_msgs_per_subject = 2;
    const char *const two[] = {"two.>", NULL};
    c = ts_cfg_init(&tc, "two", two);
    c->max_msgs_per_subject = 2;
    s = ts_create(&t, c, T0);
    ts_pub(&t, s, "two.a", "1", T0);
    ts_pub(&t, s, "two.b", "2", T0);
    ts_pub(&t, s, "two.a", "3", T0);
    ts_pub(&t, s, "two.a", "4", T0);
    ck_assert(ts_gone(&t, s, 1));
    ts_expect(&t, s, 2, "two.b", "2");
    ts_expect(&t, s, 3, "two.a", "3");
    ck_assert_uint_eq(ts_state(&t, s, T0).first_seq, 2);
    const char *const nn[] = {"nn.>", NULL};
    c = ts_cfg_init(&tc, "nn", nn);
    c->max_msgs_per_subject = 1;
    c->discard = Q_DISCARD_NEW;
    s = ts_create(&t, c, T0);
    ts_pub(&t, s, "nn.a", "1", T0);
    q_smsg_spec sp = ts_spec("nn.a", "2");
    q_pub_result r;
    ck_assert_int_eq(ts_pub_spec(&t, s, &sp, T0, &r, &e), Q_FAILED_PRECONDITION);
    ck_assert(strstr(e.msg, "max_msgs_per_subject") != NULL);
    sp = ts_spec("nn.b", "2");
    ck_assert_int_eq(ts_pub_spec(&t, s, &sp, T0, &r, &e), Q_OK);
    tp_done(&t);
}
END_TEST

START_TEST(max_age_removes_in_tick)
{
    tp t;
    tp_open(&t, 1 << 20);
    ts_cfg tc;
    q_stream_cfg *c = ts_cfg_init(&tc, "aged", NULL);
    c->max_age_ms = 1000;
    q_stream *s = ts_create(&t, c, T0);
    ts_pub(&t, s, "aged", "a", T0);
    ts_pub(&t, s, "aged", "b", T0 + 500);
    ck_assert_uint_eq(q_part_next_ms(t.p), T0 + 1000);
    tp_tick(&t, T0 + 999);
    ck_assert_uint_eq(q_stream_msgs(s), 2);
    tp_tick(&t, T0 + 1000);
    ck_assert(ts_gone(&t, s, 1));
    ck_assert_uint_eq(q_stream_msgs(s), 1);
    ck_assert_uint_eq(q_part_next_ms(t.p), T0 + 1500);
    tp_tick(&t, T0 + 1500);
    ck_assert_uint_eq(q_stream_msgs(s), 0);
    q_stream_state st = ts_state(&t, s, T0);
    ck_assert_uint_eq(st.first_seq, 3);
    ck_assert_uint_eq(st.last_seq, 2);
    tp_done(&t);
}
END_TEST

/* ---- dedup, TTL, expectations ---- */

START_TEST(dedup_inside_and_outside_the_window)
{
    tp t;
    tp_open(&t, 1 << 20);
    ts_cfg tc;
    q_stream_cfg *c = ts_cfg_init(&tc, "d", NULL);
    c->has_dup_window = true;
    c->dup_window_ms = 10000;
    q_stream *s = ts_create(&t, c, T0);
    q_smsg_spec m = ts_spec("d", "x");
    m.msg_id = "abc";
    m.msg_id_len = 3;
    q_pub_result r;
    q_err e;
    ck_assert_int_eq(ts_pub_spec(&t, s, &m, T0, &r, &e), Q_OK);
    ck_assert(!r.duplicate);
    uint64_t off = r.offset;
    uint64_t next = q_log_next(q_part_log(t.p));
    ck_assert_int_eq(ts_pub_spec(&t, s, &m, T0 + 9999, &r, &e), Q_OK);
    ck_assert(r.duplicate);
    ck_assert_uint_eq(r.seq, 1);
    ck_assert_uint_eq(r.offset, off);
    ck_assert_uint_eq(q_log_next(q_part_log(t.p)), next); /* nothing written */
    /* In one batch: the second is a duplicate of the first. */
    q_smsg_spec b[3] = {ts_spec("d", "y"), ts_spec("d", "y2"), ts_spec("d", "z")};
    b[0].msg_id = b[1].msg_id = "batch";
    b[0].msg_id_len = b[1].msg_id_len = 5;
    q_pub_result rr[3];
    uint64_t commit;
    ck_assert_int_eq(q_stream_publish(t.p, s, b, 3, T0 + 1, rr, &commit, &e), Q_OK);
    ck_assert(!rr[0].duplicate && rr[1].duplicate && !rr[2].duplicate);
    ck_assert_uint_eq(rr[0].seq, 2);
    ck_assert_uint_eq(rr[1].seq, 2);
    ck_assert_uint_eq(rr[1].offset, rr[0].offset);
    ck_assert_uint_eq(rr[2].seq, 3);
    /* Outside the window: stored again. */
    tp_tick(&t, T0 + 10000);
    ck_assert_int_eq(ts_pub_spec(&t, s, &m, T0 + 10000, &r, &e), Q_OK);
    ck_assert(!r.duplicate);
    ck_assert_uint_eq(r.seq, 4);
    /* Window 0: no deduplication. */
    c = ts_cfg_init(&tc, "nodup", NULL);
    c->has_dup_window = true;
    c->dup_window_ms = 0;
    s = ts_create(&t, c, T0);
    m.subject = "nodup";
    m.subject_len = 5;
    ck_assert_int_eq(ts_pub_spec(&t, s, &m, T0, &r, &e), Q_OK);
    ck_assert_int_eq(ts_pub_spec(&t, s, &m, T0, &r, &e), Q_OK);
    ck_assert(!r.duplicate);
    ck_assert_uint_eq(r.seq, 2);
    tp_done(&t);
}
END_TEST

START_TEST(ttl_allowed_checked_and_expired)
{
    tp t;
    tp_open(&t, 1 << 20);
    ts_cfg tc;
    q_stream *s = ts_create(&t, ts_cfg_init(&tc, "nottl", NULL), T0);
    q_smsg_spec m = ts_spec("nottl", "x");
    m.ttl_ms = 5000;
    q_pub_result r;
    q_err e;
    ck_assert_int_eq(ts_pub_spec(&t, s, &m, T0, &r, &e), Q_INVALID_ARGUMENT);
    ck_assert(strstr(e.msg, "allow_msg_ttl") != NULL);
    q_stream_cfg *c = ts_cfg_init(&tc, "ttl", NULL);
    c->allow_msg_ttl = true;
    s = ts_create(&t, c, T0);
    m.subject = "ttl";
    m.subject_len = 3;
    m.ttl_ms = Q_STREAM_TTL_MS_MIN - 1;
    ck_assert_int_eq(ts_pub_spec(&t, s, &m, T0, &r, &e), Q_INVALID_ARGUMENT);
    m.ttl_ms = Q_STREAM_TTL_MS_MAX + 1;
    ck_assert_int_eq(ts_pub_spec(&t, s, &m, T0, &r, &e), Q_INVALID_ARGUMENT);
    m.ttl_ms = 5000;
    ck_assert_int_eq(ts_pub_spec(&t, s, &m, T0, &r, &e), Q_OK);
    ts_pub(&t, s, "ttl", "forever", T0);
    m.ttl_ms = 2000;
    ck_assert_int_eq(ts_pub_spec(&t, s, &m, T0, &r, &e), Q_OK);
    q_smsg got;
    ck_assert_int_eq(q_stream_get(t.p, s, 1, &got, &e), Q_OK);
    ck_assert_uint_eq(got.expires_ms, T0 + 5000);
    ck_assert_uint_eq(q_part_next_ms(t.p), T0 + 2000);
    tp_tick(&t, T0 + 2000);
    ck_assert(ts_gone(&t, s, 3));
    ck_assert_uint_eq(q_stream_msgs(s), 2);
    tp_tick(&t, T0 + 5000);
    ck_assert(ts_gone(&t, s, 1));
    ts_expect(&t, s, 2, "ttl", "forever");
    ck_assert_uint_eq(ts_state(&t, s, T0).first_seq, 2);
    tp_done(&t);
}
END_TEST

START_TEST(expectations_apply_in_batch_order)
{
    tp t;
    tp_open(&t, 1 << 20);
    ts_cfg tc;
    q_stream *s = ts_create(&t, ts_cfg_init(&tc, "orders", ORDERS), T0);
    q_smsg_spec m = ts_spec("orders.a", "x");
    m.has_expected_last_seq = true;
    m.expected_last_seq = 0; /* empty */
    q_pub_result r;
    q_err e;
    ck_assert_int_eq(ts_pub_spec(&t, s, &m, T0, &r, &e), Q_OK);
    ck_assert_int_eq(ts_pub_spec(&t, s, &m, T0, &r, &e), Q_FAILED_PRECONDITION);
    ck_assert_str_eq(e.msg, "message 0: wrong last sequence: 1");
    /* A batch: each against the state after the ones before it. */
    q_smsg_spec b[3] = {ts_spec("orders.a", "1"), ts_spec("orders.b", "2"),
                        ts_spec("orders.a", "3")};
    b[0].has_expected_last_seq = true;
    b[0].expected_last_seq = 1;
    b[1].has_expected_last_subject_seq = true;
    b[1].expected_last_subject_seq = 0;
    b[2].has_expected_last_subject_seq = true;
    b[2].expected_last_subject_seq = 2;
    q_pub_result rr[3];
    uint64_t commit;
    ck_assert_int_eq(q_stream_publish(t.p, s, b, 3, T0, rr, &commit, &e), Q_OK);
    ck_assert_uint_eq(rr[2].seq, 4);
    /* One failing expectation fails the batch: nothing written. */
    uint64_t next = q_log_next(q_part_log(t.p));
    b[0].expected_last_seq = 4;
    b[2].expected_last_subject_seq = 4; /* would be 5 after b[0] */
    b[1].expected_last_subject_seq = 3;
    ck_assert_int_eq(q_stream_publish(t.p, s, b, 3, T0, rr, &commit, &e), Q_FAILED_PRECONDITION);
    ck_assert_str_eq(e.msg, "message 2: wrong last subject sequence: 5");
    ck_assert_uint_eq(q_log_next(q_part_log(t.p)), next);
    ck_assert_uint_eq(q_stream_last_seq(s), 4);
    /* Batch size bounds. */
    ck_assert_int_eq(q_stream_publish(t.p, s, b, 0, T0, rr, &commit, &e), Q_INVALID_ARGUMENT);
    tp_done(&t);
}
END_TEST

START_TEST(purge_variants)
{
    tp t;
    tp_open(&t, 1 << 20);
    ts_cfg tc;
    q_stream *s = ts_create(&t, ts_cfg_init(&tc, "orders", ORDERS), T0);
    for (int i = 1; i <= 20; i++) ts_pub(&t, s, i % 2 ? "orders.odd" : "orders.even", "x", T0);
    uint64_t purged, commit;
    q_err e;
    ck_assert_int_eq(q_stream_purge(t.p, s, NULL, 0, 3, 2, T0, &purged, &commit, &e),
                     Q_INVALID_ARGUMENT);
    ck_assert_int_eq(q_stream_purge(t.p, s, "a..", 3, 0, 0, T0, &purged, &commit, &e),
                     Q_INVALID_ARGUMENT);
    /* Below a sequence. */
    ck_assert_int_eq(q_stream_purge(t.p, s, NULL, 0, 5, 0, T0, &purged, &commit, &e), Q_OK);
    ck_assert_uint_eq(purged, 4);
    ck_assert_uint_eq(ts_state(&t, s, T0).first_seq, 5);
    /* A subject, keeping its newest 2. */
    ck_assert_int_eq(q_stream_purge(t.p, s, "orders.odd", 10, 0, 2, T0, &purged, &commit, &e),
                     Q_OK);
    ck_assert_uint_eq(purged, 6); /* odd 5..19: 8 kept before, 2 now (17, 19) */
    ck_assert(ts_gone(&t, s, 15) && !ts_gone(&t, s, 17) && !ts_gone(&t, s, 19));
    ck_assert(!ts_gone(&t, s, 6));
    /* A filter with a wildcard, below a sequence. */
    ck_assert_int_eq(q_stream_purge(t.p, s, "orders.*", 8, 11, 0, T0, &purged, &commit, &e), Q_OK);
    ck_assert_uint_eq(purged, 3); /* 6, 8, 10 */
    q_stream_state st = ts_state(&t, s, T0);
    ck_assert_uint_eq(st.first_seq, 12);
    ck_assert_uint_eq(st.messages, 7); /* 12, 14, 16, 17, 18, 19, 20 */
    ck_assert_uint_eq(st.num_deleted, 2);
    /* Everything. */
    ck_assert_int_eq(q_stream_purge(t.p, s, NULL, 0, 0, 0, T0, &purged, &commit, &e), Q_OK);
    ck_assert_uint_eq(purged, 7);
    st = ts_state(&t, s, T0);
    ck_assert_uint_eq(st.messages, 0);
    ck_assert_uint_eq(st.first_seq, 21);
    ck_assert_uint_eq(st.last_seq, 20);
    ck_assert_uint_eq(st.num_subjects, 0);
    ck_assert_uint_eq(ts_pub(&t, s, "orders.odd", "again", T0), 21); /* never reused */
    tp_done(&t);
}
END_TEST

int main(void)
{
    log_set_level(LOG_WARN);
    const TTest *tests[] = {max_msgs_discard_old_and_new,        max_bytes_discard_old_and_new,
                            max_msgs_per_subject_old_and_new,    max_age_removes_in_tick,
                            dedup_inside_and_outside_the_window, ttl_allowed_checked_and_expired,
                            expectations_apply_in_batch_order,   purge_variants};
    return tq_run("q_stream_limits", "stream", 60, tests, sizeof tests / sizeof tests[0]);
}
