/* queue/q_consumer in the log: durable consumers resume exactly after a reopen (the acked set
 * rebuilt from CONSUMER/CACK/CSTATE records), interest and work-queue retention with consumers
 * coming and going, and compaction snapshots keeping the log bounded. */
#include <check.h>
#include <errno.h>
#include <string.h>

#include "core/rt_log.h"
#include "test_q_consumer_util.h"

#define ACK_WAIT 1000u

static void reopen(tp *t, uint64_t now)
{
    ck_assert_int_eq(q_log_commit(q_part_log(t->p)), 0);
    tp_close(t);
    tp_reopen(t, now);
}

static q_consumer *find_cons(tp *t, const char *stream, const char *name)
{
    q_consumer *c = q_consumer_find(tc_find(t, stream), name, strlen(name));
    ck_assert_msg(c != NULL, "consumer %s not found", name);
    return c;
}

/* Delivers up to max and checks the stream sequences are exactly `want`. */
static void expect_seqs(q_consumer *c, uint64_t now, const uint64_t *want, uint32_t n,
                        q_delivery *d)
{
    uint32_t got = tc_next(c, now, 16, d);
    ck_assert_uint_eq(got, n);
    for (uint32_t i = 0; i < n; i++) ck_assert_uint_eq(d[i].stream_seq, want[i]);
}

START_TEST(resume_exact_after_reopen)
{
    tp t;
    tc_open(&t, 1u << 20);
    q_stream *s = tc_stream(&t, "orders", "orders.>", Q_RETENTION_LIMITS);
    for (int i = 0; i < 10; i++) tc_pub(&t, s, "orders.x", "m", T0);
    q_consumer_cfg cfg = tc_cfg("d");
    cfg.ack_wait_ms = ACK_WAIT;
    q_consumer *c = tc_cons(&t, s, &cfg, T0);
    cfg = tc_cfg("late");
    cfg.deliver_policy = Q_DELIVER_NEW;
    tc_cons(&t, s, &cfg, T0);
    cfg = tc_cfg("");
    cfg.ephemeral = true;
    tc_cons(&t, s, &cfg, T0);
    q_delivery d[16];
    ck_assert_uint_eq(tc_next(c, T0, 16, d), 10);
    q_ack_ref refs[5] = {
        {1, d[0].token}, {2, d[1].token}, {3, d[2].token}, {5, d[4].token}, {8, d[7].token}};
    q_acks a = {.kind = Q_ACK_ACK, .refs = refs, .n = 5};
    q_item it[5];
    uint64_t ct;
    q_err e;
    ck_assert_int_eq(q_consumer_settle(c, &a, T0, it, &ct, &e), Q_OK);
    ck_assert_int_eq(tc_settle(c, Q_ACK_TERM, 9, d[8].token, T0), Q_OK);
    uint64_t old_token = d[9].token;
    ck_assert_int_eq(q_consumer_pause(c, T0 + 500, T0, &ct, &e), Q_OK);

    reopen(&t, T0 + 100);
    c = find_cons(&t, "orders", "d");
    ck_assert_uint_eq(q_consumer_count(tc_find(&t, "orders")), 2); /* the ephemeral is gone */
    q_consumer_state st = tc_state(c, T0 + 100);
    ck_assert_uint_eq(st.ack_floor_stream_seq, 3);
    ck_assert_uint_eq(st.num_terminated, 1);
    ck_assert_uint_eq(st.num_ack_pending, 0);
    ck_assert_uint_eq(st.paused_until_ms, T0 + 500);
    ck_assert_uint_eq(tc_next(c, T0 + 100, 16, d), 0); /* still paused */
    /* The old delivery's token means nothing now. */
    ck_assert_int_eq(tc_settle(c, Q_ACK_ACK, 10, old_token, T0 + 100), Q_NOT_FOUND);
    /* Exactly what was not acked or terminated comes back, as first deliveries. */
    expect_seqs(c, T0 + 500, (uint64_t[]){4, 6, 7, 10}, 4, d);
    for (int i = 0; i < 4; i++) {
        ck_assert_uint_eq(d[i].delivery_count, 1);
        ck_assert_uint_gt(d[i].token, old_token);
    }
    /* DELIVER_NEW kept its start: only what came after its creation. */
    q_consumer *late = find_cons(&t, "orders", "late");
    expect_seqs(late, T0 + 500, NULL, 0, d);
    tc_pub(&t, tc_find(&t, "orders"), "orders.y", "n", T0 + 600);
    expect_seqs(late, T0 + 600, (uint64_t[]){11}, 1, d);
    tp_done(&t);
}
END_TEST

START_TEST(resume_ack_all_none_reset_delete)
{
    tp t;
    tc_open(&t, 1u << 20);
    q_stream *s = tc_stream(&t, "orders", "orders.>", Q_RETENTION_LIMITS);
    for (int i = 0; i < 8; i++) tc_pub(&t, s, "orders.x", "m", T0);
    q_consumer_cfg cfg = tc_cfg("all");
    cfg.ack_policy = Q_ACKP_ALL;
    q_consumer *all = tc_cons(&t, s, &cfg, T0);
    cfg = tc_cfg("none");
    cfg.ack_policy = Q_ACKP_NONE;
    q_consumer *none = tc_cons(&t, s, &cfg, T0);
    cfg = tc_cfg("rst");
    q_consumer *rst = tc_cons(&t, s, &cfg, T0);
    cfg = tc_cfg("gone");
    tc_cons(&t, s, &cfg, T0);
    q_delivery d[16];
    ck_assert_uint_eq(tc_next(all, T0, 6, d), 6);
    ck_assert_int_eq(tc_settle(all, Q_ACK_ACK, 5, d[4].token, T0), Q_OK);
    ck_assert_uint_eq(tc_next(none, T0, 3, d), 3);
    ck_assert_uint_eq(tc_next(rst, T0, 8, d), 8);
    for (int i = 0; i < 8; i++)
        ck_assert_int_eq(tc_settle(rst, Q_ACK_ACK, d[i].stream_seq, d[i].token, T0), Q_OK);
    uint64_t ct;
    q_err e;
    ck_assert_int_eq(q_consumer_reset(rst, false, 2, T0, &ct, &e), Q_OK);
    ck_assert_int_eq(q_consumer_delete(t.p, s, "gone", 4, T0, &ct, &e), Q_OK);

    reopen(&t, T0);
    expect_seqs(find_cons(&t, "orders", "all"), T0, (uint64_t[]){6, 7, 8}, 3, d);
    expect_seqs(find_cons(&t, "orders", "none"), T0, (uint64_t[]){4, 5, 6, 7, 8}, 5, d);
    expect_seqs(find_cons(&t, "orders", "rst"), T0, (uint64_t[]){2, 3, 4, 5, 6, 7, 8}, 7, d);
    s = tc_find(&t, "orders");
    ck_assert_ptr_null(q_consumer_find(s, "gone", 4));
    /* The name is free: a new consumer of it starts afresh. */
    cfg = tc_cfg("gone");
    expect_seqs(tc_cons(&t, s, &cfg, T0), T0, (uint64_t[]){1, 2, 3, 4, 5, 6, 7, 8}, 8, d);
    tp_done(&t);
}
END_TEST

START_TEST(interest_retention_consumers_come_and_go)
{
    tp t;
    tc_open(&t, 1u << 20);
    q_stream *s = tc_stream(&t, "ev", "ev.>", Q_RETENTION_INTEREST);
    /* Nobody is interested: gone at once. */
    uint64_t s1 = tc_pub(&t, s, "ev.a.1", "m", T0);
    ck_assert(!q_stream_has(s, s1));
    q_consumer_cfg cfg = tc_cfg("B");
    cfg.filters[0] = (q_subject_view){"ev.b.*", 6};
    cfg.nfilters = 1;
    q_consumer *b = tc_cons(&t, s, &cfg, T0);
    /* A consumer exists, its filter does not want it: gone at once too. */
    uint64_t s1b = tc_pub(&t, s, "ev.a.1", "m", T0);
    ck_assert(!q_stream_has(s, s1b));
    cfg = tc_cfg("A");
    q_consumer *a = tc_cons(&t, s, &cfg, T0);
    uint64_t s2 = tc_pub(&t, s, "ev.a.1", "m", T0); /* A only */
    uint64_t s3 = tc_pub(&t, s, "ev.b.1", "m", T0); /* A and B */
    ck_assert(q_stream_has(s, s2) && q_stream_has(s, s3));
    q_delivery da[4], db[4];
    ck_assert_uint_eq(tc_next(a, T0, 4, da), 2);
    ck_assert_uint_eq(tc_next(b, T0, 4, db), 1);
    ck_assert_int_eq(tc_settle(a, Q_ACK_ACK, s2, da[0].token, T0), Q_OK);
    ck_assert(!q_stream_has(s, s2));
    ck_assert_int_eq(tc_settle(a, Q_ACK_ACK, s3, da[1].token, T0), Q_OK);
    ck_assert(q_stream_has(s, s3)); /* B still holds it */
    /* A consumer created now does not hold what was published before. */
    cfg = tc_cfg("C");
    tc_cons(&t, s, &cfg, T0);
    ck_assert_int_eq(tc_settle(b, Q_ACK_ACK, s3, db[0].token, T0), Q_OK);
    ck_assert(!q_stream_has(s, s3));
    /* B leaving lets go of what only it held; what others hold stays. */
    uint64_t s4 = tc_pub(&t, s, "ev.b.2", "m", T0); /* A, B, C */
    ck_assert_uint_eq(tc_next(a, T0, 4, da), 1);
    ck_assert_int_eq(tc_settle(a, Q_ACK_ACK, s4, da[0].token, T0), Q_OK);
    uint64_t ct;
    q_err e;
    ck_assert_int_eq(q_consumer_delete(t.p, s, "B", 1, T0, &ct, &e), Q_OK);
    ck_assert(q_stream_has(s, s4)); /* C */
    ck_assert_int_eq(q_consumer_delete(t.p, s, "C", 1, T0, &ct, &e), Q_OK);
    ck_assert(!q_stream_has(s, s4));
    /* Across a reopen: interest starts and acks are rebuilt from the log. */
    cfg = tc_cfg("D");
    tc_cons(&t, s, &cfg, T0);
    uint64_t s5 = tc_pub(&t, s, "ev.a.2", "m", T0); /* A, D */
    ck_assert_uint_eq(tc_next(a, T0, 4, da), 1);
    reopen(&t, T0);
    s = tc_find(&t, "ev");
    a = find_cons(&t, "ev", "A");
    ck_assert(q_stream_has(s, s5));
    ck_assert_uint_eq(tc_next(a, T0, 4, da), 1);
    ck_assert_uint_eq(da[0].stream_seq, s5);
    ck_assert_int_eq(tc_settle(a, Q_ACK_ACK, s5, da[0].token, T0), Q_OK);
    ck_assert(q_stream_has(s, s5));
    q_consumer *dd = find_cons(&t, "ev", "D");
    ck_assert_uint_eq(tc_next(dd, T0, 4, db), 1);
    ck_assert_int_eq(tc_settle(dd, Q_ACK_ACK, s5, db[0].token, T0), Q_OK);
    ck_assert(!q_stream_has(s, s5));
    /* An ephemeral consumer's interest ends with the restart that ends it. */
    ck_assert_int_eq(q_consumer_delete(t.p, s, "D", 1, T0, &ct, &e), Q_OK);
    ck_assert_int_eq(q_consumer_delete(t.p, s, "A", 1, T0, &ct, &e), Q_OK);
    cfg = tc_cfg("");
    cfg.ephemeral = true;
    tc_cons(&t, s, &cfg, T0);
    uint64_t s6 = tc_pub(&t, s, "ev.a.3", "m", T0);
    ck_assert(q_stream_has(s, s6));
    reopen(&t, T0);
    ck_assert(!q_stream_has(tc_find(&t, "ev"), s6));
    tp_done(&t);
}
END_TEST

START_TEST(work_queue_retention)
{
    tp t;
    tc_open(&t, 1u << 20);
    q_stream *s = tc_stream(&t, "jobs", "jobs.>", Q_RETENTION_WORK_QUEUE);
    uint64_t s1 = tc_pub(&t, s, "jobs.a", "m", T0); /* kept with no consumer: a work queue */
    uint64_t s2 = tc_pub(&t, s, "jobs.a", "m", T0);
    uint64_t s3 = tc_pub(&t, s, "jobs.a", "m", T0);
    ck_assert(q_stream_has(s, s1));
    q_consumer_cfg cfg = tc_cfg("w");
    q_consumer *w = tc_cons(&t, s, &cfg, T0);
    q_delivery d[4];
    ck_assert_uint_eq(tc_next(w, T0, 4, d), 3);
    ck_assert_int_eq(tc_settle(w, Q_ACK_ACK, s1, d[0].token, T0), Q_OK);
    ck_assert(!q_stream_has(s, s1));
    ck_assert_int_eq(tc_settle(w, Q_ACK_NAK, s2, d[1].token, T0), Q_OK);
    ck_assert(q_stream_has(s, s2));
    ck_assert_int_eq(tc_settle(w, Q_ACK_TERM, s3, d[2].token, T0), Q_OK);
    ck_assert(!q_stream_has(s, s3));
    ck_assert_uint_eq(tc_next(w, T0, 4, d), 1);
    ck_assert_uint_eq(d[0].stream_seq, s2);
    ck_assert_uint_eq(d[0].delivery_count, 2);
    tp_done(&t);
}
END_TEST

static uint32_t segments(tp *t)
{
    q_log_stats ls;
    q_log_get_stats(q_part_log(t->p), &ls);
    return ls.segments;
}

/* A consumer acking forever on a stream that keeps 8 messages: compaction moves its
 * configuration and writes a snapshot (CSTATE) of its state, so old segments go; a reopen
 * then rebuilds the exact acked set from the snapshot and the acks after it. */
START_TEST(compaction_snapshot_bounds_the_log)
{
    tp t;
    tc_open(&t, Q_SEG_BYTES_MIN);
    q_subject_view sv = {"t.>", 3};
    q_stream_cfg sc = {.name = "t", .name_len = 1, .subjects = &sv, .nsubjects = 1, .max_msgs = 8};
    q_stream *s;
    uint64_t ct;
    q_err e;
    ck_assert_int_eq(q_stream_create(t.p, &sc, T0, &s, &ct, &e), Q_OK);
    q_consumer_cfg cfg = tc_cfg("forever");
    cfg.ack_wait_ms = Q_CONSUMER_ACK_WAIT_MS_MAX;
    q_consumer *c = tc_cons(&t, s, &cfg, T0);
    char body[200];
    memset(body, 'p', sizeof body - 1);
    body[sizeof body - 1] = 0;
    uint64_t now = T0;
    uint32_t max_segs = 0;
    q_part_stats ps;
    for (int round = 0; round < 400; round++) {
        q_delivery d[8];
        for (int i = 0; i < 8; i++) tc_pub(&t, s, "t.x", body, now);
        ck_assert_uint_eq(tc_next(c, now, 8, d), 8);
        for (int i = 0; i < 8; i++) {
            if (round == 399 && (i == 2 || i == 5)) continue; /* left pending at the end */
            ck_assert_int_eq(tc_settle(c, Q_ACK_ACK, d[i].stream_seq, d[i].token, now), Q_OK);
        }
        ck_assert_int_eq(q_log_commit(q_part_log(t.p)), 0);
        now += 1000; /* a retention pass per round */
        uint64_t next;
        ck_assert_int_eq(q_part_tick(t.p, now, &next), Q_OK);
        ck_assert_int_eq(q_log_commit(q_part_log(t.p)), 0);
        ck_assert_int_eq(q_part_tick(t.p, now, &next), Q_OK);
        if (round > 50 && segments(&t) > max_segs) max_segs = segments(&t);
    }
    q_part_get_stats(t.p, &ps);
    ck_assert_uint_gt(ps.compactions, 0);
    /* ~400 x 8 x (message + ack) records is some 60 segments of 64 KiB; bounded it stays a
     * handful. */
    ck_assert_msg(max_segs <= 8, "the log grew to %u segments", max_segs);
    uint64_t last = q_stream_last_seq(s);
    reopen(&t, now);
    c = find_cons(&t, "t", "forever");
    q_consumer_state st = tc_state(c, now);
    ck_assert_uint_eq(st.ack_floor_stream_seq, last - 8 + 2);
    q_delivery d[8];
    expect_seqs(c, now, (uint64_t[]){last - 8 + 3, last - 8 + 6}, 2, d);
    tp_done(&t);
}
END_TEST

/* A reset (CSTATE) then a pause (CONSUMER): compaction of their segment must leave replay a
 * CONSUMER record before the state, or the consumer would come back from its start. */
START_TEST(compaction_keeps_config_before_state)
{
    tp t;
    tc_open(&t, Q_SEG_BYTES_MIN);
    q_subject_view sv = {"t.>", 3};
    q_stream_cfg sc = {
        .name = "t", .name_len = 1, .subjects = &sv, .nsubjects = 1, .max_msgs_per_subject = 1};
    q_stream *s;
    uint64_t ct;
    q_err e;
    ck_assert_int_eq(q_stream_create(t.p, &sc, T0, &s, &ct, &e), Q_OK);
    q_consumer_cfg cfg = tc_cfg("c");
    q_consumer *c = tc_cons(&t, s, &cfg, T0);
    tc_pub(&t, s, "t.keep", "k", T0); /* seq 1, kept all along */
    q_delivery d[4];
    ck_assert_uint_eq(tc_next(c, T0, 4, d), 1);
    ck_assert_int_eq(tc_settle(c, Q_ACK_ACK, 1, d[0].token, T0), Q_OK);
    ck_assert_int_eq(q_consumer_reset(c, false, 2, T0, &ct, &e), Q_OK);
    ck_assert_int_eq(q_consumer_pause(c, T0 + 1, T0, &ct, &e), Q_OK);
    uint64_t pause_rec = ct - 1;
    char body[2000];
    memset(body, 'f', sizeof body - 1);
    body[sizeof body - 1] = 0;
    uint64_t now = T0;
    /* Filler (one kept at a time) until the segment holding both records is gone. */
    for (int i = 0; i < 5000 && q_log_oldest(q_part_log(t.p)) <= pause_rec; i++) {
        tc_pub(&t, s, "t.f", body, now);
        ck_assert_int_eq(q_log_commit(q_part_log(t.p)), 0);
        now += 1000;
        uint64_t next;
        ck_assert_int_eq(q_part_tick(t.p, now, &next), Q_OK);
        ck_assert_int_eq(q_log_commit(q_part_log(t.p)), 0);
    }
    ck_assert_uint_gt(q_log_oldest(q_part_log(t.p)), pause_rec);
    reopen(&t, now);
    c = find_cons(&t, "t", "c");
    /* Only the filler message kept now: seq 1 was acked, and the reset started at 2. */
    expect_seqs(c, now, (uint64_t[]){q_stream_last_seq(tc_find(&t, "t"))}, 1, d);
    tp_done(&t);
}
END_TEST

int main(void)
{
    log_set_level(LOG_WARN);
    const TTest *tests[] = {resume_exact_after_reopen,
                            resume_ack_all_none_reset_delete,
                            interest_retention_consumers_come_and_go,
                            work_queue_retention,
                            compaction_snapshot_bounds_the_log,
                            compaction_keeps_config_before_state};
    return tq_run("q_consumer_log", "log", 120, tests, sizeof tests / sizeof tests[0]);
}
