/* queue/q_part_release (docs/semantics.md "Leases bound to the stream"): tasks held by a Work
 * stream that ended go back to READY at once, an attempt counted or not by the queue's
 * release_counts_attempt, the reason in the task info; a token changed since (acked,
 * re-leased) makes the release do nothing; replay and the ledger agree. */
#include <inttypes.h>

#include "test_q_part_util.h"

#include "core/rt_log.h"

#define SEG (256u * 1024u)
#define LONG_LEASE_MS 60000u

static uint32_t release(tp *t, uint64_t id, uint64_t tok, uint64_t now)
{
    uint32_t n = 0;
    uint64_t commit;
    q_err e;
    ck_assert_int_eq(q_part_release(t->p, &id, &tok, 1, now, &n, &commit, &e), Q_OK);
    return n;
}

static void counts_attempt(tp *t, const char *q, bool on)
{
    q_queue_cfg v;
    q_queue_cfg_default(&v);
    v.release_counts_attempt = on;
    tp_cfg(t, q, Q_CFG_RELEASE_COUNTS, &v);
    ck_assert(tp_info(t, q, T0).cfg.release_counts_attempt == on);
}

static void assert_balanced(tp *t, const char *q)
{
    q_audit a;
    q_err e;
    ck_assert_int_eq(q_part_audit(t->p, q, strlen(q), &a, &e), Q_OK);
    ck_assert_msg(a.balanced, "ledger of %s not balanced", q);
}

/* Default (off): ready at once, well before the lease deadline, the attempt not counted, the
 * reason in the task info; the ledger moves leased -> ready and balances. */
START_TEST(release_default_keeps_attempt)
{
    tp t;
    tp_open(&t, SEG);
    uint64_t id = tp_enq(&t, "q", "x", 0, T0);
    ck_assert(!tp_info(&t, "q", T0).cfg.release_counts_attempt);
    uint64_t tok = tp_tok(&t, tp_lease1(&t, "q", LONG_LEASE_MS, T0));
    q_queue_info before = tp_info(&t, "q", T0 + 1);
    ck_assert_uint_eq(before.leased, 1);
    ck_assert_uint_eq(release(&t, id, tok, T0 + 1), 1);
    q_queue_info after = tp_info(&t, "q", T0 + 1);
    ck_assert_uint_eq(after.leased, 0);
    ck_assert_uint_eq(after.ready, 1);
    assert_balanced(&t, "q");
    q_task_info ti;
    q_err e;
    ck_assert_int_eq(q_part_get_task(t.p, id, &ti, &e), Q_OK);
    ck_assert_int_eq(ti.state, Q_TASK_READY);
    ck_assert_uint_eq(ti.attempts, 0);
    ck_assert_str_eq(ti.last_error, Q_RELEASED_WHY);
    /* Leased again at once (T0 + 2, 60 s before the first lease's deadline), same attempt. */
    q_leased l;
    ck_assert_uint_eq(tp_lease(&t, "q", 1, LONG_LEASE_MS, T0 + 2, &l), 1);
    ck_assert_uint_eq(l.id, id);
    ck_assert_uint_eq(l.attempt, 1);
    ck_assert_uint_ne(l.token, tok);
    /* The old token releases nothing now: the task is held by the new lease. */
    ck_assert_uint_eq(release(&t, id, tok, T0 + 3), 0);
    ck_assert_int_eq(tp_state(&t, id), Q_TASK_LEASED);
    assert_balanced(&t, "q");
    tp_done(&t);
}
END_TEST

/* On: the attempt counts; the last one makes the task dead, as an expired lease would. */
START_TEST(release_counts_when_set)
{
    tp t;
    tp_open(&t, SEG);
    counts_attempt(&t, "q", true);
    q_task_spec s = {.payload = (const uint8_t *)"x", .payload_len = 1, .max_attempts = 2};
    q_enq_result r;
    ck_assert_int_eq(tp_enq_spec(&t, "q", &s, T0, &r), Q_OK);
    uint64_t id = r.id;
    uint64_t tok = tp_tok(&t, tp_lease1(&t, "q", LONG_LEASE_MS, T0));
    ck_assert_uint_eq(release(&t, id, tok, T0 + 1), 1);
    q_task_info ti;
    q_err e;
    ck_assert_int_eq(q_part_get_task(t.p, id, &ti, &e), Q_OK);
    ck_assert_uint_eq(ti.attempts, 1);
    ck_assert_int_eq(ti.state, Q_TASK_READY);
    tok = tp_tok(&t, tp_lease1(&t, "q", LONG_LEASE_MS, T0 + 2));
    ck_assert_uint_eq(release(&t, id, tok, T0 + 3), 1);
    ck_assert_int_eq(tp_state(&t, id), Q_TASK_DEAD);
    ck_assert_int_eq(q_part_get_task(t.p, id, &ti, &e), Q_OK);
    ck_assert_msg(strstr(ti.last_error, "Work stream"), "%s", ti.last_error);
    assert_balanced(&t, "q");
    tp_done(&t);
}
END_TEST

/* An ack that reached the owner first wins: the release finds the task gone and writes
 * nothing. An expired lease is the tick's, not the release's. */
START_TEST(ack_first_wins)
{
    tp t;
    tp_open(&t, SEG);
    uint64_t id = tp_enq(&t, "q", "x", 0, T0);
    uint64_t tok = tp_tok(&t, tp_lease1(&t, "q", LONG_LEASE_MS, T0));
    ck_assert_int_eq(tp_ack_tok(&t, id, tok, T0 + 1), Q_OK);
    uint64_t end = q_log_next(q_part_log(t.p));
    ck_assert_uint_eq(release(&t, id, tok, T0 + 2), 0);
    ck_assert_uint_eq(q_log_next(q_part_log(t.p)), end);
    uint64_t id2 = tp_enq(&t, "q", "y", 0, T0);
    uint64_t tok2 = tp_tok(&t, tp_lease1(&t, "q", 100, T0 + 3));
    ck_assert_uint_eq(release(&t, id2, tok2, T0 + 200), 0); /* expired: left to the tick */
    ck_assert_uint_eq(release(&t, id2, 0, T0 + 4), 0);      /* no token: nothing */
    assert_balanced(&t, "q");
    tp_done(&t);
}
END_TEST

/* The release is a record: after a reopen the task is ready (not leased, not lost), its
 * attempts as written, and the ledger still balances. */
START_TEST(release_replays)
{
    tp t;
    tp_open(&t, SEG);
    counts_attempt(&t, "q", true);
    uint64_t id = tp_enq(&t, "q", "x", 0, T0);
    uint64_t tok = tp_tok(&t, tp_lease1(&t, "q", LONG_LEASE_MS, T0));
    ck_assert_uint_eq(release(&t, id, tok, T0 + 1), 1);
    ck_assert_int_eq(q_log_commit(q_part_log(t.p)), 0);
    tp_close(&t);
    tp_reopen(&t, T0 + 2);
    tp_tick(&t, T0 + 2);
    ck_assert_int_eq(tp_state(&t, id), Q_TASK_READY);
    ck_assert(tp_info(&t, "q", T0 + 2).cfg.release_counts_attempt);
    q_task_info ti;
    q_err e;
    ck_assert_int_eq(q_part_get_task(t.p, id, &ti, &e), Q_OK);
    ck_assert_uint_eq(ti.attempts, 1);
    assert_balanced(&t, "q");
    tp_done(&t);
}
END_TEST

/* The list of leases: live ones only (expired and unary alike), with token and attempt. */
START_TEST(list_leases)
{
    tp t;
    tp_open(&t, SEG);
    uint64_t a = tp_enq(&t, "q", "a", 0, T0), b = tp_enq(&t, "q", "b", 0, T0);
    tp_enq(&t, "q", "ready", 0, T0);
    q_leased la, lb;
    ck_assert_uint_eq(tp_lease(&t, "q", 1, LONG_LEASE_MS, T0, &la), 1);
    ck_assert_uint_eq(tp_lease(&t, "q", 1, 100, T0, &lb), 1);
    ck_assert_uint_eq(la.id, a);
    ck_assert_uint_eq(lb.id, b);
    q_lease_info out[4];
    uint32_t n;
    bool more;
    q_err e;
    ck_assert_int_eq(q_part_list_leases(t.p, "q", 1, T0 + 1, out, 4, &n, &more, &e), Q_OK);
    ck_assert_uint_eq(n, 2);
    ck_assert(!more);
    ck_assert_int_eq(q_part_list_leases(t.p, "q", 1, T0 + 1, out, 1, &n, &more, &e), Q_OK);
    ck_assert_uint_eq(n, 1);
    ck_assert(more);
    /* b's lease has expired at T0 + 200 (the tick has not run): not listed. */
    ck_assert_int_eq(q_part_list_leases(t.p, "q", 1, T0 + 200, out, 4, &n, &more, &e), Q_OK);
    ck_assert_uint_eq(n, 1);
    ck_assert_uint_eq(out[0].id, a);
    ck_assert_uint_eq(out[0].token, la.token);
    ck_assert_uint_eq(out[0].deadline_ms, la.lease_deadline_ms);
    ck_assert_uint_eq(out[0].attempt, 1);
    ck_assert_int_eq(q_part_list_leases(t.p, "nope", 4, T0, out, 4, &n, &more, &e), Q_NOT_FOUND);
    tp_done(&t);
}
END_TEST

int main(void)
{
    log_set_level(LOG_WARN);
    const TTest *tests[] = {release_default_keeps_attempt, release_counts_when_set, ack_first_wins,
                            release_replays, list_leases};
    return tq_run("q_part_release", "release", 30, tests, sizeof tests / sizeof tests[0]);
}
