/* queue/q_stream: configuration, publish, reads, update and the index's cost — on a real
 * partition log in a scratch directory. Limits, dedup, TTL, expectations and purge:
 * test_q_stream_limits.c; replay, compaction and hooks: test_q_stream_log.c. */
#include <inttypes.h>

#include "test_q_stream_util.h"

#include "core/rt_log.h"

static const char *const ORDERS[] = {"orders.>", NULL};

/* ---- configuration ---- */

static void expect_bad(tp *t, const q_stream_cfg *c, const char *field)
{
    q_err e;
    ck_assert_int_eq(q_stream_cfg_check(t->p, c, &e), Q_INVALID_ARGUMENT);
    ck_assert_msg(strstr(e.msg, field) != NULL, "'%s' does not name %s", e.msg, field);
    uint64_t commit;
    ck_assert_int_eq(q_stream_create(t->p, c, T0, NULL, &commit, &e), Q_INVALID_ARGUMENT);
    ck_assert_uint_eq(q_stream_count(t->p), 0);
}

START_TEST(cfg_rejects_each_bad_field)
{
    tp t;
    tp_open(&t, 1 << 20);
    ts_cfg tc;
    q_stream_cfg *c = ts_cfg_init(&tc, "", ORDERS);
    expect_bad(&t, c, "name");
    c = ts_cfg_init(&tc, "has.dot", ORDERS);
    expect_bad(&t, c, "name");
    char longname[Q_STREAM_NAME_BYTES_MAX + 2];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    c = ts_cfg_init(&tc, longname, ORDERS);
    expect_bad(&t, c, "name");
    const char *const bad_filter[] = {"a.>", "a..b", NULL};
    c = ts_cfg_init(&tc, "s", bad_filter);
    expect_bad(&t, c, "subjects[1]");
    const char *const overlap[] = {"a.*", "a.b", NULL};
    c = ts_cfg_init(&tc, "s", overlap);
    expect_bad(&t, c, "subjects[1]");
    c = ts_cfg_init(&tc, "s", ORDERS);
    c->retention = (q_retention)4;
    expect_bad(&t, c, "retention");
    c = ts_cfg_init(&tc, "s", ORDERS);
    c->discard = (q_discard)3;
    expect_bad(&t, c, "discard");
    c = ts_cfg_init(&tc, "s", ORDERS);
    c->has_dup_window = true;
    c->dup_window_ms = Q_STREAM_DUP_WINDOW_MS_MAX + 1;
    expect_bad(&t, c, "duplicate_window_ms");
    c = ts_cfg_init(&tc, "s", ORDERS);
    c->max_msg_size = t.o.log.record_bytes_max;
    expect_bad(&t, c, "max_msg_size");
    c = ts_cfg_init(&tc, "s", ORDERS);
    char desc[Q_STREAM_DESC_BYTES_MAX + 1];
    memset(desc, 'd', sizeof desc);
    c->description = desc;
    c->description_len = sizeof desc;
    expect_bad(&t, c, "description");
    c = ts_cfg_init(&tc, "s", ORDERS);
    c->nsubjects = Q_STREAM_SUBJECTS_MAX + 1;
    expect_bad(&t, c, "subjects");
    tp_done(&t);
}
END_TEST

START_TEST(create_is_idempotent_and_refuses_conflicts)
{
    tp t;
    tp_open(&t, 1 << 20);
    ts_cfg tc, tc2;
    q_stream *s = ts_create(&t, ts_cfg_init(&tc, "orders", ORDERS), T0);
    uint64_t next = q_log_next(q_part_log(t.p));
    /* The same configuration (defaults spelled out or not): the same stream, nothing written. */
    q_stream_cfg *c2 = ts_cfg_init(&tc2, "orders", ORDERS);
    c2->retention = Q_RETENTION_LIMITS;
    c2->has_dup_window = true;
    c2->dup_window_ms = Q_STREAM_DUP_WINDOW_MS_DEFAULT;
    ck_assert_ptr_eq(ts_create(&t, c2, T0 + 1), s);
    ck_assert_uint_eq(q_log_next(q_part_log(t.p)), next);
    q_err e;
    uint64_t commit;
    c2->max_msgs = 10;
    ck_assert_int_eq(q_stream_create(t.p, c2, T0, NULL, &commit, &e), Q_ALREADY_EXISTS);
    /* Another stream whose filter overlaps: refused. */
    const char *const over[] = {"orders.eu.*", NULL};
    ck_assert_int_eq(q_stream_create(t.p, ts_cfg_init(&tc2, "eu", over), T0, NULL, &commit, &e),
                     Q_FAILED_PRECONDITION);
    ck_assert(strstr(e.msg, "orders") != NULL);
    /* No subjects: the name is the subject. */
    q_stream *k = ts_create(&t, ts_cfg_init(&tc2, "kv", NULL), T0);
    ck_assert_ptr_eq(q_stream_capturing(t.p, "kv", 2), k);
    ck_assert_ptr_eq(q_stream_capturing(t.p, "orders.x", 8), s);
    ck_assert_ptr_null(q_stream_capturing(t.p, "other", 5));
    ck_assert_ptr_eq(q_stream_by_id(t.p, q_stream_id(k)), k);
    q_stream_cfg got;
    q_stream_config(s, &got);
    ck_assert_int_eq(got.retention, Q_RETENTION_LIMITS);
    ck_assert_int_eq(got.discard, Q_DISCARD_OLD);
    ck_assert_uint_eq(got.dup_window_ms, Q_STREAM_DUP_WINDOW_MS_DEFAULT);
    ck_assert_uint_eq(q_stream_created_ms(s), T0);
    tp_done(&t);
}
END_TEST

START_TEST(streams_iterate_in_name_order)
{
    tp t;
    tp_open(&t, 1 << 20);
    const char *names[] = {"m", "b", "zz", "a", "ba"};
    ts_cfg tc;
    for (int i = 0; i < 5; i++) ts_create(&t, ts_cfg_init(&tc, names[i], NULL), T0);
    const char *want[] = {"a", "b", "ba", "m", "zz"};
    int i = 0;
    uint32_t len = 0;
    const char *after = NULL;
    for (q_stream *s = q_stream_next_by_name(t.p, NULL, 0); s;
         s = q_stream_next_by_name(t.p, after, len), i++) {
        after = q_stream_name(s, &len);
        ck_assert_uint_eq(len, strlen(want[i]));
        ck_assert(memcmp(after, want[i], len) == 0);
    }
    ck_assert_int_eq(i, 5);
    ck_assert_uint_eq(q_stream_count(t.p), 5);
    ck_assert_ptr_eq(q_stream_next_by_name(t.p, "b", 1), ts_find(&t, "ba"));
    tp_done(&t);
}
END_TEST

/* ---- publish and read ---- */

START_TEST(publish_assigns_dense_seqs_and_reads_back)
{
    tp t;
    tp_open(&t, 1 << 20);
    ts_cfg tc;
    q_stream *s = ts_create(&t, ts_cfg_init(&tc, "orders", ORDERS), T0);
    ck_assert_uint_eq(q_stream_first_seq(s), 1);
    ck_assert_uint_eq(q_stream_last_seq(s), 0);
    ck_assert_uint_eq(ts_pub(&t, s, "orders.eu", "one", T0 + 1), 1);
    ck_assert_uint_eq(ts_pub(&t, s, "orders.us", "two", T0 + 2), 2);
    ck_assert_uint_eq(ts_pub(&t, s, "orders.eu", "three", T0 + 3), 3);
    /* A batch with headers, msg id: one record each, dense seqs. */
    q_header h = {"k", 1, "value", 5};
    q_smsg_spec b[2] = {ts_spec("orders.x", "four"), ts_spec("orders.y", "five")};
    b[0].headers = &h;
    b[0].nheaders = 1;
    b[1].msg_id = "id-5";
    b[1].msg_id_len = 4;
    q_pub_result r[2];
    uint64_t commit;
    q_err e;
    ck_assert_int_eq(q_stream_publish(t.p, s, b, 2, T0 + 4, r, &commit, &e), Q_OK);
    ck_assert_uint_eq(r[0].seq, 4);
    ck_assert_uint_eq(r[1].seq, 5);
    ck_assert_uint_lt(r[0].offset, r[1].offset);
    ck_assert_uint_eq(commit, q_log_next(q_part_log(t.p)));
    ts_expect(&t, s, 1, "orders.eu", "one");
    ts_expect(&t, s, 4, "orders.x", "four");
    q_smsg m;
    ck_assert_int_eq(q_stream_get(t.p, s, 4, &m, &e), Q_OK);
    ck_assert_uint_eq(m.nheaders, 1);
    q_hdr_iter it;
    q_header got;
    q_hdr_iter_init(&it, m.headers, m.headers_len);
    ck_assert(q_hdr_next(&it, &got));
    ck_assert(got.value_len == 5 && memcmp(got.value, "value", 5) == 0);
    ck_assert_uint_eq(m.time_ms, T0 + 4);
    ck_assert_uint_eq(m.expires_ms, 0);
    ck_assert_int_eq(q_stream_get(t.p, s, 5, &m, &e), Q_OK);
    ck_assert(m.msg_id_len == 4 && memcmp(m.msg_id, "id-5", 4) == 0);
    ck_assert_int_eq(q_stream_get(t.p, s, 6, &m, &e), Q_NOT_FOUND);
    ck_assert_int_eq(q_stream_get(t.p, s, 0, &m, &e), Q_NOT_FOUND);
    /* last by subject */
    ck_assert_int_eq(q_stream_last_by_subject(t.p, s, "orders.eu", 9, &m, &e), Q_OK);
    ck_assert_uint_eq(m.seq, 3);
    ck_assert_int_eq(q_stream_last_by_subject(t.p, s, "orders.zz", 9, &m, &e), Q_NOT_FOUND);
    ck_assert_int_eq(q_stream_last_by_subject(t.p, s, "orders.*", 8, &m, &e), Q_INVALID_ARGUMENT);
    uint64_t cnt;
    ck_assert_uint_eq(q_stream_subject_last(s, "orders.eu", 9, &cnt), 3);
    ck_assert_uint_eq(cnt, 2);
    /* Subjects outside the stream, bad subjects: nothing written. */
    uint64_t next = q_log_next(q_part_log(t.p));
    q_smsg_spec bad = ts_spec("billing.x", "no");
    ck_assert_int_eq(ts_pub_spec(&t, s, &bad, T0, r, &e), Q_FAILED_PRECONDITION);
    bad = ts_spec("orders..x", "no");
    ck_assert_int_eq(ts_pub_spec(&t, s, &bad, T0, r, &e), Q_INVALID_ARGUMENT);
    bad = ts_spec("orders.*", "no");
    ck_assert_int_eq(ts_pub_spec(&t, s, &bad, T0, r, &e), Q_INVALID_ARGUMENT);
    ck_assert_uint_eq(q_log_next(q_part_log(t.p)), next);
    ck_assert_uint_eq(q_stream_last_seq(s), 5);
    tp_done(&t);
}
END_TEST

/* A batch's subjects are checked (grammar, capture) once per run of equal subjects: 64 messages
 * of one subject cost one check (they cost 64), alternating subjects one each, and a bad
 * subject after a good one is still refused with nothing written. */
START_TEST(publish_checks_a_repeated_subject_once)
{
    tp t;
    tp_open(&t, 1 << 20);
    ts_cfg tc;
    q_stream *s = ts_create(&t, ts_cfg_init(&tc, "orders", ORDERS), T0);
    q_smsg_spec b[64];
    q_pub_result r[64];
    uint64_t commit;
    q_err e;
    for (int i = 0; i < 64; i++) b[i] = ts_spec("orders.eu", "x");
    uint64_t before = q_stream_subject_checks(s);
    ck_assert_int_eq(q_stream_publish(t.p, s, b, 64, T0 + 1, r, &commit, &e), Q_OK);
    ck_assert_uint_eq(q_stream_subject_checks(s) - before, 1);
    ck_assert_uint_eq(r[63].seq, 64);
    for (int i = 0; i < 64; i++) b[i] = ts_spec(i % 2 ? "orders.us" : "orders.eu", "y");
    before = q_stream_subject_checks(s);
    ck_assert_int_eq(q_stream_publish(t.p, s, b, 64, T0 + 2, r, &commit, &e), Q_OK);
    /* the first, orders.eu, is the subject the stream checked last (the batch before's) */
    ck_assert_uint_eq(q_stream_subject_checks(s) - before, 63);
    ck_assert_uint_eq(q_stream_subject_last(s, "orders.us", 9, NULL), 128);
    uint64_t next = q_log_next(q_part_log(t.p));
    b[0] = ts_spec("orders.eu", "z");
    b[1] = ts_spec("orders.eu", "z");
    b[2] = ts_spec("billing.x", "z");
    ck_assert_int_eq(q_stream_publish(t.p, s, b, 3, T0 + 3, r, &commit, &e), Q_FAILED_PRECONDITION);
    ck_assert_uint_eq(q_log_next(q_part_log(t.p)), next);
    ck_assert_uint_eq(q_stream_last_seq(s), 128);
    tp_done(&t);
}
END_TEST

/* A producer publishing one message at a time on one subject: the stream checks the subject
 * once, not once per publish (it remembers the last subject it checked; it was 64 checks for
 * 64 publishes). The memory goes with the filters: after an update that no longer captures the
 * subject, a publish on it is refused with nothing written, and q_stream_capturing no longer
 * names the stream. */
START_TEST(publish_checks_a_producers_subject_once)
{
    tp t;
    tp_open(&t, 1 << 20);
    ts_cfg tc;
    q_stream *s = ts_create(&t, ts_cfg_init(&tc, "orders", ORDERS), T0);
    q_smsg_spec b = ts_spec("orders.eu", "x");
    q_pub_result r;
    uint64_t commit;
    q_err e;
    uint64_t before = q_stream_subject_checks(s);
    for (int i = 0; i < 64; i++) {
        ck_assert_ptr_eq(q_stream_capturing(t.p, "orders.eu", 9), s);
        ck_assert_int_eq(q_stream_publish(t.p, s, &b, 1, T0 + 1, &r, &commit, &e), Q_OK);
        ck_assert_uint_eq(r.seq, (uint64_t)i + 1);
    }
    ck_assert_uint_eq(q_stream_subject_checks(s) - before, 1);
    const char *const us_only[] = {"orders.us", NULL};
    ck_assert_int_eq(
        q_stream_update(t.p, ts_cfg_init(&tc, "orders", us_only), T0 + 2, NULL, &commit, &e), Q_OK);
    ck_assert_ptr_null(q_stream_capturing(t.p, "orders.eu", 9));
    uint64_t next = q_log_next(q_part_log(t.p));
    ck_assert_int_eq(q_stream_publish(t.p, s, &b, 1, T0 + 3, &r, &commit, &e),
                     Q_FAILED_PRECONDITION);
    ck_assert(strstr(e.msg, "not captured") != NULL);
    ck_assert_uint_eq(q_log_next(q_part_log(t.p)), next);
    ck_assert_uint_eq(q_stream_last_seq(s), 64);
    tp_done(&t);
}
END_TEST

/* q_stream_capturing remembers the stream it answered last (q_streams.last_pub): deleting that
 * stream frees it, so the next answer must not read it (ASan: a heap-use-after-free in
 * build-san/tests/test_q_stream with the unlink's reset removed). The subject is then captured
 * by no stream, and by the new stream once one captures it. */
START_TEST(capturing_forgets_a_deleted_stream)
{
    tp t;
    tp_open(&t, 1 << 20);
    ts_cfg tc;
    q_stream *s = ts_create(&t, ts_cfg_init(&tc, "orders", ORDERS), T0);
    q_smsg_spec b = ts_spec("orders.eu", "x");
    q_pub_result r;
    uint64_t commit;
    q_err e;
    ck_assert_ptr_eq(q_stream_capturing(t.p, "orders.eu", 9), s);
    ck_assert_int_eq(q_stream_publish(t.p, s, &b, 1, T0 + 1, &r, &commit, &e), Q_OK);
    ck_assert_ptr_eq(q_stream_capturing(t.p, "orders.eu", 9), s);
    ck_assert_int_eq(q_stream_delete(t.p, "orders", 6, T0 + 2, &commit, &e), Q_OK);
    ck_assert_ptr_null(q_stream_capturing(t.p, "orders.eu", 9));
    q_stream *s2 = ts_create(&t, ts_cfg_init(&tc, "orders2", ORDERS), T0 + 3);
    ck_assert_ptr_eq(q_stream_capturing(t.p, "orders.eu", 9), s2);
    tp_done(&t);
}
END_TEST

START_TEST(next_walks_with_filters_and_time)
{
    tp t;
    tp_open(&t, 1 << 20);
    ts_cfg tc;
    q_stream *s = ts_create(&t, ts_cfg_init(&tc, "orders", ORDERS), T0);
    for (int i = 1; i <= 20; i++)
        ts_pub(&t, s, i % 4 == 0 ? "orders.eu.paris" : "orders.us", "x", T0 + 10 * (uint64_t)i);
    q_subject_view fv = {"orders.eu.>", 11};
    q_filter_set fs;
    ck_assert_int_eq(q_filter_set_init(&fs, &fv, 1, NULL), Q_OK);
    q_smsg m;
    uint64_t resume;
    q_err e;
    uint64_t seen[8];
    int n = 0;
    for (uint64_t from = 1;; from = resume) {
        q_status st = q_stream_next(t.p, s, from, &fs, 0, &m, &resume, &e);
        if (st == Q_NOT_FOUND) break;
        ck_assert_int_eq(st, Q_OK);
        seen[n++] = m.seq;
    }
    ck_assert_int_eq(n, 5);
    for (int i = 0; i < 5; i++) ck_assert_uint_eq(seen[i], 4 * (uint64_t)(i + 1));
    ck_assert_uint_eq(resume, 21); /* where new messages will come */
    /* A bounded scan stops early and says where to go on. */
    ck_assert_int_eq(q_stream_next(t.p, s, 1, &fs, 2, &m, &resume, &e), Q_NOT_FOUND);
    ck_assert_uint_eq(resume, 3);
    ck_assert_int_eq(q_stream_next(t.p, s, 7, NULL, 0, &m, &resume, &e), Q_OK);
    ck_assert_uint_eq(m.seq, 7);
    ck_assert_uint_eq(q_stream_count_from(s, 1, &fs), 5);
    ck_assert_uint_eq(q_stream_count_from(s, 9, &fs), 3);
    ck_assert_uint_eq(q_stream_count_from(s, 1, NULL), 20);
    /* By time: message i was stored at T0 + 10 i. */
    ck_assert_uint_eq(q_stream_seq_at_time(t.p, s, 0), 1);
    ck_assert_uint_eq(q_stream_seq_at_time(t.p, s, T0 + 50), 5);
    ck_assert_uint_eq(q_stream_seq_at_time(t.p, s, T0 + 51), 6);
    ck_assert_uint_eq(q_stream_seq_at_time(t.p, s, T0 + 1000), 21);
    uint64_t commit;
    ck_assert_int_eq(q_stream_remove(t.p, s, 6, T0, &commit, &e), Q_OK);
    ck_assert_uint_eq(q_stream_seq_at_time(t.p, s, T0 + 51), 7);
    tp_done(&t);
}
END_TEST

START_TEST(info_counts_subjects_with_a_filter)
{
    tp t;
    tp_open(&t, 1 << 20);
    ts_cfg tc;
    q_stream *s = ts_create(&t, ts_cfg_init(&tc, "orders", ORDERS), T0);
    const char *subs[] = {"orders.c", "orders.a", "orders.b", "orders.a", "orders.x.y"};
    for (int i = 0; i < 5; i++) ts_pub(&t, s, subs[i], "12345", T0 + (uint64_t)i);
    q_subject_count cnt[4];
    uint32_t n;
    bool trunc;
    q_stream_state st;
    q_err e;
    ck_assert_int_eq(q_stream_info(t.p, s, T0, "orders.*", 8, cnt, 4, &n, &trunc, &st, &e), Q_OK);
    ck_assert_uint_eq(n, 3);
    ck_assert(!trunc);
    ck_assert(cnt[0].subject_len == 8 && memcmp(cnt[0].subject, "orders.a", 8) == 0);
    ck_assert_uint_eq(cnt[0].messages, 2);
    ck_assert(memcmp(cnt[2].subject, "orders.c", 8) == 0);
    ck_assert_int_eq(q_stream_info(t.p, s, T0, ">", 1, cnt, 2, &n, &trunc, &st, &e), Q_OK);
    ck_assert_uint_eq(n, 2);
    ck_assert(trunc);
    ck_assert_uint_eq(st.messages, 5);
    ck_assert_uint_eq(st.bytes, 5 * 5 + 8 * 4 + 10);
    ck_assert_uint_eq(st.num_subjects, 4);
    ck_assert_uint_eq(st.first_seq, 1);
    ck_assert_uint_eq(st.first_ms, T0);
    ck_assert_uint_eq(st.last_seq, 5);
    ck_assert_uint_eq(st.last_ms, T0 + 4);
    ck_assert_int_eq(q_stream_info(t.p, s, T0, "a..b", 4, cnt, 2, &n, &trunc, &st, &e),
                     Q_INVALID_ARGUMENT);
    uint64_t commit;
    ck_assert_int_eq(q_stream_remove(t.p, s, 3, T0, &commit, &e), Q_OK);
    ck_assert_int_eq(q_stream_remove(t.p, s, 3, T0, &commit, &e), Q_NOT_FOUND);
    st = ts_state(&t, s, T0);
    ck_assert_uint_eq(st.messages, 4);
    ck_assert_uint_eq(st.num_deleted, 1);
    ck_assert_uint_eq(st.num_subjects, 3); /* orders.b had one message */
    tp_done(&t);
}
END_TEST

START_TEST(update_keeps_name_and_retention_and_applies_limits)
{
    tp t;
    tp_open(&t, 1 << 20);
    ts_cfg tc;
    q_stream *s = ts_create(&t, ts_cfg_init(&tc, "orders", ORDERS), T0);
    for (int i = 0; i < 10; i++) ts_pub(&t, s, "orders.a", "x", T0);
    q_stream_cfg *c = ts_cfg_init(&tc, "orders", ORDERS);
    c->retention = Q_RETENTION_WORK_QUEUE;
    uint64_t commit;
    q_err e;
    ck_assert_int_eq(q_stream_update(t.p, c, T0, NULL, &commit, &e), Q_FAILED_PRECONDITION);
    ck_assert(strstr(e.msg, "retention") != NULL);
    c = ts_cfg_init(&tc, "nope", ORDERS);
    ck_assert_int_eq(q_stream_update(t.p, c, T0, NULL, &commit, &e), Q_NOT_FOUND);
    const char *const more[] = {"orders.>", "refunds.*", NULL};
    c = ts_cfg_init(&tc, "orders", more);
    c->max_msgs = 4;
    q_stream *got = NULL;
    ck_assert_int_eq(q_stream_update(t.p, c, T0, &got, &commit, &e), Q_OK);
    ck_assert_ptr_eq(got, s);
    ck_assert_uint_eq(q_stream_msgs(s), 4);
    ck_assert_uint_eq(ts_state(&t, s, T0).first_seq, 7);
    ck_assert_ptr_eq(q_stream_capturing(t.p, "refunds.x", 9), s);
    ts_pub(&t, s, "refunds.x", "r", T0);
    ck_assert_uint_eq(q_stream_msgs(s), 4);
    /* The new configuration and what it removed survive a restart. */
    tp_close(&t);
    tp_reopen(&t, T0);
    s = ts_find(&t, "orders");
    ck_assert_ptr_nonnull(s);
    q_stream_cfg gc;
    q_stream_config(s, &gc);
    ck_assert_uint_eq(gc.max_msgs, 4);
    ck_assert_uint_eq(gc.nsubjects, 2);
    ck_assert_uint_eq(q_stream_msgs(s), 4);
    ck_assert_uint_eq(ts_state(&t, s, T0).first_seq, 8);
    ck_assert_uint_eq(q_stream_last_seq(s), 11);
    tp_done(&t);
}
END_TEST

/* A member of a partitioned stream: its count and index are in its STREAM record (across a
 * restart), cannot change on update, and are checked; the sequence mapping is dense per member. */
START_TEST(partitioned_member_config_survives_and_cannot_change)
{
    tp t;
    tp_open(&t, 1 << 20);
    ts_cfg tc;
    q_stream_cfg *c = ts_cfg_init(&tc, "orders", ORDERS);
    c->parts = Q_STREAM_PARTS_MAX + 1;
    expect_bad(&t, c, "partitions");
    c = ts_cfg_init(&tc, "orders", ORDERS);
    c->parts = 4;
    c->part_index = 4;
    expect_bad(&t, c, "partition index");
    c = ts_cfg_init(&tc, "orders", ORDERS);
    c->parts = 4;
    c->part_index = 3;
    q_stream *s = ts_create(&t, c, T0);
    ts_pub(&t, s, "orders.a", "x", T0);
    const char *const other[] = {"pinned", NULL};
    ts_create(&t, ts_cfg_init(&tc, "pinned", other), T0);
    tp_close(&t);
    tp_reopen(&t, T0);
    s = ts_find(&t, "orders");
    ck_assert_ptr_nonnull(s);
    q_stream_cfg gc;
    q_stream_config(s, &gc);
    ck_assert_uint_eq(gc.parts, 4);
    ck_assert_uint_eq(gc.part_index, 3);
    ts_expect(&t, s, 1, "orders.a", "x");
    q_stream_config(ts_find(&t, "pinned"), &gc);
    ck_assert_uint_eq(gc.parts, 1);
    ck_assert_uint_eq(gc.part_index, 0);
    uint64_t commit;
    q_err e;
    c = ts_cfg_init(&tc, "orders", ORDERS);
    c->parts = 2;
    ck_assert_int_eq(q_stream_update(t.p, c, T0, NULL, &commit, &e), Q_FAILED_PRECONDITION);
    ck_assert(strstr(e.msg, "partitions") != NULL);
    c = ts_cfg_init(&tc, "orders", ORDERS); /* pinned: a change too */
    ck_assert_int_eq(q_stream_update(t.p, c, T0, NULL, &commit, &e), Q_FAILED_PRECONDITION);
    /* Stream sequences: member k's pseq p is (p - 1) * parts + k + 1, and back. */
    uint32_t k = 9;
    for (uint32_t m = 0; m < 4; m++)
        for (uint64_t p = 1; p < 5; p++) {
            uint64_t seq = q_stream_seq_join(4, m, p);
            ck_assert_uint_eq(q_stream_seq_split(4, seq, &k), p);
            ck_assert_uint_eq(k, m);
            ck_assert_uint_lt(seq, q_stream_seq_join(4, m, p + 1));
        }
    ck_assert_uint_eq(q_stream_seq_join(1, 0, 7), 7);
    ck_assert_uint_eq(q_stream_seq_join(4, 2, 0), 0);
    ck_assert_uint_lt(q_stream_member_of(4, "orders.a", 8), 4);
    tp_done(&t);
}
END_TEST

/* q_stream.h "Memory": 24 bytes of index per message (payloads stay in the log). 2^17 messages
 * on one subject fill the doubling index exactly. */
START_TEST(index_costs_24_bytes_per_message)
{
    tp t;
    tp_open(&t, 16u << 20);
    ts_cfg tc;
    q_stream *s = ts_create(&t, ts_cfg_init(&tc, "m", NULL), T0);
    ts_pub(&t, s, "m", "x", T0);
    q_part_stats a, b;
    q_part_get_stats(t.p, &a);
    ck_assert_uint_eq(a.streams, 1);
    ck_assert_uint_eq(a.stream_msgs, 1);
    const uint64_t n = 1u << 17;
    q_smsg_spec m[64];
    for (int i = 0; i < 64; i++) m[i] = ts_spec("m", "x");
    q_pub_result r[64];
    uint64_t commit;
    q_err e;
    for (uint64_t k = 1; k < n; k += 64) {
        uint32_t batch = n - k < 64 ? (uint32_t)(n - k) : 64;
        ck_assert_int_eq(q_stream_publish(t.p, s, m, batch, T0, r, &commit, &e), Q_OK);
    }
    q_part_get_stats(t.p, &b);
    ck_assert_uint_eq(b.stream_msgs, n);
    uint64_t per = (b.stream_mem_bytes - a.stream_mem_bytes) / (n - 1);
    ck_assert_msg(per <= 25, "%" PRIu64 " bytes per message", per);
    ck_assert_uint_ge(b.mem_bytes, b.stream_mem_bytes);
    tp_done(&t);
}
END_TEST

int main(void)
{
    log_set_level(LOG_WARN);
    const TTest *tests[] = {cfg_rejects_each_bad_field,
                            create_is_idempotent_and_refuses_conflicts,
                            streams_iterate_in_name_order,
                            publish_assigns_dense_seqs_and_reads_back,
                            publish_checks_a_repeated_subject_once,
                            publish_checks_a_producers_subject_once,
                            capturing_forgets_a_deleted_stream,
                            next_walks_with_filters_and_time,
                            info_counts_subjects_with_a_filter,
                            update_keeps_name_and_retention_and_applies_limits,
                            index_costs_24_bytes_per_message,
                            partitioned_member_config_survives_and_cannot_change};
    return tq_run("q_stream", "stream", 60, tests, sizeof tests / sizeof tests[0]);
}
