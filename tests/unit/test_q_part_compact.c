/* queue/q_part_tick: compaction is spread over ticks (issue 19, "no stall over 5 ms on the shard
 * thread"). A segment of small records with one straggler used to be read whole in one tick —
 * ~400,000 records of a 64 MiB segment at 100 B, 25-30 ms on the shard (session 10's turn
 * trace). Now a tick reads at most Q_COMPACT_SCAN_RECS_MAX records, asks to be called again at
 * once, deletes nothing until the pass is through, and the straggler survives with its state,
 * across a reopen too. Counted in ticks and records, not wall clock. */
#include <inttypes.h>

#include "test_q_part_util.h"

#include "core/rt_log.h"

#define SEG (2u * 1024u * 1024u) /* ~16,000 small records a segment: several compaction steps */
#define TASKS 40000

START_TEST(compaction_reads_a_bounded_number_of_records_a_tick)
{
    tp t;
    tp_open(&t, SEG);
    q_queue_cfg c = {.max_attempts = 7};
    tp_cfg(&t, "q", Q_CFG_MAX_ATTEMPTS, &c);     /* a QUEUE record in the oldest segment */
    uint64_t keep = tp_enq_body(&t, "q", 1, T0); /* the straggler: never acked */
    for (int i = 0; i < TASKS; i++) tp_enq(&t, "q", "x", 0, T0);
    tp_ack_all_but(&t, "q", &keep, 1, T0);
    uint32_t before = tp_segments(&t);
    ck_assert_uint_ge(before, 3);
    q_log *log = q_part_log(t.p);
    uint64_t oldest = q_log_oldest(log), end = q_log_oldest_segment_end(log);
    uint64_t recs = end - oldest; /* offsets count records */
    ck_assert_uint_gt(recs, 2 * Q_COMPACT_SCAN_RECS_MAX);
    uint64_t now = T0 + 1000;
    q_part_stats st;
    /* Ticks until the compaction of the oldest segment is through: each reads at most
     * Q_COMPACT_SCAN_RECS_MAX records and asks for the next tick now. */
    uint64_t steps = 0;
    for (;;) {
        uint64_t next = tp_tick(&t, now);
        q_part_get_stats(t.p, &st);
        if (st.compactions) break;
        steps++;
        ck_assert_uint_eq(next, now);
        ck_assert_uint_eq(tp_segments(&t), before); /* nothing deleted mid-pass */
        ck_assert_uint_eq(q_log_oldest(log), oldest);
        ck_assert_uint_lt(steps, 1000);
    }
    steps++; /* the tick that finished it */
    ck_assert_uint_eq(steps, (recs + Q_COMPACT_SCAN_RECS_MAX - 1) / Q_COMPACT_SCAN_RECS_MAX);
    ck_assert_uint_ge(st.records_compacted, 2); /* the task and the queue config */
    for (int round = 0; round < 10 && tp_segments(&t) > 2; round++) {
        now += 1000;
        tp_tick(&t, now);
    }
    ck_assert_uint_le(tp_segments(&t), 2);
    ck_assert_uint_gt(q_log_oldest(log), keep);          /* the original is gone */
    ck_assert_int_eq(tp_state(&t, keep), Q_TASK_LEASED); /* leased by tp_ack_all_but */
    tp_close(&t);
    tp_reopen(&t, now);
    q_queue_info qi = tp_info(&t, "q", now);
    ck_assert_uint_eq(qi.ready, 1);
    ck_assert_uint_eq(qi.cfg.max_attempts, 7);
    q_task_info ti;
    q_err e;
    ck_assert_int_eq(q_part_get_task(t.p, keep, &ti, &e), Q_OK);
    char b[TP_BODY_LEN + 1];
    tp_body(b, 1);
    ck_assert_uint_eq(ti.payload_len, TP_BODY_LEN);
    ck_assert(memcmp(ti.payload, b, TP_BODY_LEN) == 0);
    tp_done(&t);
}
END_TEST

/* A task acked while its segment is being compacted is not copied; one leased meanwhile is
 * copied in the state it has when its record is read. */
START_TEST(changes_between_steps_are_judged_when_read)
{
    tp t;
    tp_open(&t, SEG);
    uint64_t early = tp_enq_body(&t, "q", 2, T0); /* acked mid-pass */
    for (int i = 0; i < TASKS; i++) tp_enq(&t, "q", "x", 0, T0);
    uint64_t late = tp_enq_body(&t, "q", 3, T0); /* past the oldest segment */
    uint64_t keep[2] = {early, late};
    tp_ack_all_but(&t, "q", keep, 2, T0);
    uint64_t now = T0 + 1000;
    uint64_t next = tp_tick(&t, now);
    ck_assert_uint_eq(next, now); /* mid-pass */
    q_part_stats st;
    q_part_get_stats(t.p, &st);
    ck_assert_uint_eq(st.compactions, 0);
    ck_assert_int_eq(tp_ack(&t, early, now), Q_OK);
    for (int k = 0; k < 1000 && st.compactions == 0; k++) {
        tp_tick(&t, now);
        q_part_get_stats(t.p, &st);
    }
    ck_assert_uint_eq(st.compactions, 1);
    for (int round = 0; round < 10 && tp_segments(&t) > 2; round++) {
        now += 1000;
        tp_tick(&t, now);
    }
    ck_assert_int_eq(tp_state(&t, early), Q_TASK_GONE);
    tp_close(&t);
    tp_reopen(&t, now);
    ck_assert_int_eq(tp_state(&t, early), Q_TASK_GONE);
    ck_assert_int_eq(tp_state(&t, late), Q_TASK_READY);
    ck_assert_uint_eq(tp_info(&t, "q", now).ready, 1);
    tp_done(&t);
}
END_TEST

int main(void)
{
    log_set_level(LOG_WARN);
    const TTest *tests[] = {compaction_reads_a_bounded_number_of_records_a_tick,
                            changes_between_steps_are_judged_when_read};
    return tq_run("q_part_compact", "compact", 120, tests, sizeof tests / sizeof tests[0]);
}
