/* queue/q_part lease tokens (docs/semantics.md "Lease tokens"): every delivery carries a new
 * token; ack, nack and extend with a superseded token fail and change nothing; a missing token
 * is refused unless the queue allows it; tokens stay unique across a reopen, whatever the clock
 * says (queue/q_part_epoch.c). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

#include "test_q_part_util.h"

#include "core/rt_log.h"

#define SEG (256u * 1024u)

/* Leases exactly one task of q; returns the whole delivery. */
static q_leased lease_one(tp *t, const char *q, uint32_t lease_ms, uint64_t now)
{
    q_leased l;
    ck_assert_uint_eq(tp_lease(t, q, 1, lease_ms, now, &l), 1);
    ck_assert_uint_ne(l.token, 0);
    return l;
}

static q_status nack_tok(tp *t, uint64_t id, uint64_t tok, uint64_t now, q_err *e)
{
    q_nack nk = {.has_delay = true, .delay_ms = 0};
    q_nack_result nr;
    uint64_t commit;
    return q_part_nack(t->p, id, tok, &nk, now, &nr, &commit, e);
}

static void allow_tokenless(tp *t, const char *q, bool on)
{
    q_queue_cfg_patch pt = {.set = Q_CFG_ALLOW_TOKENLESS};
    pt.v.allow_tokenless_ack = on;
    q_queue_info qi;
    uint64_t commit;
    q_err e;
    ck_assert_int_eq(q_part_configure(t->p, q, strlen(q), &pt, T0, &qi, &commit, &e), Q_OK);
    ck_assert(qi.cfg.allow_tokenless_ack == on);
}

/* The case: holder A's lease expires, B gets the task; A's ack is refused and B still
 * holds it; B's ack works. */
START_TEST(stale_token_after_release)
{
    tp t;
    tp_open(&t, SEG);
    uint64_t id = tp_enq(&t, "q", "x", 0, T0);
    q_leased a = lease_one(&t, "q", 100, T0);
    tp_tick(&t, T0 + 100); /* A's lease expires: an attempt counted, READY again */
    q_leased b = lease_one(&t, "q", 1000, T0 + 101);
    ck_assert_uint_eq(b.id, id);
    ck_assert_uint_ne(a.token, b.token);
    ck_assert_uint_gt(b.token, a.token);

    q_item it;
    uint64_t commit;
    q_err e;
    uint64_t before = q_log_next(q_part_log(t.p));
    ck_assert_int_eq(q_part_ack(t.p, &id, &a.token, 1, T0 + 102, &it, &commit, &e), Q_OK);
    ck_assert_int_eq(it.code, Q_FAILED_PRECONDITION);
    ck_assert_msg(strstr(it.why, "lease superseded"), "why: %s", it.why);
    ck_assert_uint_eq(q_log_next(q_part_log(t.p)), before); /* nothing written */
    ck_assert_int_eq(tp_state(&t, id), Q_TASK_LEASED);      /* B still holds it */
    ck_assert_uint_eq(tp_tok(&t, id), b.token);

    /* A's nack and extend are refused the same way and change nothing. */
    ck_assert_int_eq(nack_tok(&t, id, a.token, T0 + 103, &e), Q_FAILED_PRECONDITION);
    ck_assert_msg(strstr(e.msg, "lease superseded"), "%s", e.msg);
    uint64_t dl = 0;
    ck_assert_int_eq(q_part_extend(t.p, id, a.token, 5000, T0 + 103, &dl, &e),
                     Q_FAILED_PRECONDITION);
    q_task_info ti;
    ck_assert_int_eq(q_part_get_task(t.p, id, &ti, &e), Q_OK);
    ck_assert_uint_eq(ti.due_ms, b.lease_deadline_ms);
    ck_assert_uint_eq(ti.attempts, 1); /* A's expiry only */
    ck_assert_uint_eq(q_log_next(q_part_log(t.p)), before);

    /* B extends (the token stays) and acks. */
    ck_assert_int_eq(q_part_extend(t.p, id, b.token, 5000, T0 + 104, &dl, &e), Q_OK);
    ck_assert_uint_eq(tp_tok(&t, id), b.token);
    ck_assert_int_eq(tp_ack_tok(&t, id, b.token, T0 + 105), Q_OK);
    ck_assert_int_eq(tp_state(&t, id), Q_TASK_GONE);
    tp_done(&t);
}
END_TEST

/* A nacked and re-leased task, a redriven one: each delivery has its own token. */
START_TEST(every_delivery_new_token)
{
    tp t;
    tp_open(&t, SEG);
    uint64_t id = tp_enq(&t, "q", "x", 0, T0);
    q_err e;
    q_leased l1 = lease_one(&t, "q", 1000, T0);
    ck_assert_int_eq(nack_tok(&t, id, l1.token, T0, &e), Q_OK);
    q_leased l2 = lease_one(&t, "q", 1000, T0); /* same ms: still a new token */
    ck_assert_uint_gt(l2.token, l1.token);
    ck_assert_int_eq(tp_ack_tok(&t, id, l1.token, T0), Q_FAILED_PRECONDITION);
    /* To the dead letters, redriven (attempts reset to 0), leased again. */
    q_nack dead = {.dead_letter = true};
    q_nack_result nr;
    uint64_t commit, n;
    ck_assert_int_eq(q_part_nack(t.p, id, l2.token, &dead, T0, &nr, &commit, &e), Q_OK);
    ck_assert_int_eq(q_part_redrive(t.p, "q", 1, NULL, 0, T0, NULL, &n, &commit, &e), Q_OK);
    q_leased l3 = lease_one(&t, "q", 1000, T0);
    ck_assert_uint_eq(l3.attempt, 1);
    ck_assert_uint_gt(l3.token, l2.token);
    ck_assert_int_eq(tp_ack_tok(&t, id, l2.token, T0), Q_FAILED_PRECONDITION);
    /* Tokens of one lease call differ too, and count up within the open's epoch. */
    tp_enq(&t, "q", "y", 0, T0);
    tp_enq(&t, "q", "z", 0, T0);
    q_leased two[2];
    ck_assert_uint_eq(tp_lease(&t, "q", 2, 1000, T0 + 7, two), 2);
    ck_assert_uint_gt(two[1].token, two[0].token);
    ck_assert_uint_eq(two[1].token, two[0].token + 1);
    ck_assert_uint_eq(two[0].token >> Q_TOKEN_SEQ_BITS, l3.token >> Q_TOKEN_SEQ_BITS);
    ck_assert_int_eq(tp_ack_tok(&t, id, l3.token, T0 + 7), Q_OK);
    tp_done(&t);
}
END_TEST

/* No token: refused by default (nothing changes), the old rule once the queue allows it; the
 * setting survives a reopen (QUEUE record flag). A token that is sent is checked either way. */
START_TEST(tokenless_by_queue_setting)
{
    tp t;
    tp_open(&t, SEG);
    uint64_t id = tp_enq(&t, "q", "x", 0, T0);
    q_leased l = lease_one(&t, "q", 1000, T0);
    q_item it;
    uint64_t commit;
    q_err e;
    ck_assert_int_eq(q_part_ack(t.p, &id, NULL, 1, T0, &it, &commit, &e), Q_OK);
    ck_assert_int_eq(it.code, Q_FAILED_PRECONDITION);
    ck_assert_msg(strstr(it.why, "lease token required"), "why: %s", it.why);
    ck_assert_int_eq(nack_tok(&t, id, 0, T0, &e), Q_FAILED_PRECONDITION);
    uint64_t dl;
    ck_assert_int_eq(q_part_extend(t.p, id, 0, 0, T0, &dl, &e), Q_FAILED_PRECONDITION);
    ck_assert_int_eq(tp_state(&t, id), Q_TASK_LEASED);

    allow_tokenless(&t, "q", true);
    ck_assert(tp_info(&t, "q", T0).cfg.allow_tokenless_ack);
    ck_assert_int_eq(q_part_extend(t.p, id, 0, 0, T0, &dl, &e), Q_OK);
    ck_assert_int_eq(tp_ack_tok(&t, id, l.token + 1, T0), Q_FAILED_PRECONDITION); /* checked */
    ck_assert_int_eq(tp_ack_tok(&t, id, 0, T0), Q_OK);

    /* The setting is in the log: after a reopen a tokenless ack still works ... */
    uint64_t id2 = tp_enq(&t, "q", "y", 0, T0);
    ck_assert_int_eq(q_log_commit(q_part_log(t.p)), 0);
    tp_close(&t);
    tp_reopen(&t, T0 + 10);
    ck_assert(tp_info(&t, "q", T0 + 10).cfg.allow_tokenless_ack);
    lease_one(&t, "q", 1000, T0 + 10);
    ck_assert_int_eq(tp_ack_tok(&t, id2, 0, T0 + 10), Q_OK);
    /* ... and turning it off requires tokens again. */
    allow_tokenless(&t, "q", false);
    uint64_t id3 = tp_enq(&t, "q", "z", 0, T0 + 10);
    lease_one(&t, "q", 1000, T0 + 10);
    ck_assert_int_eq(tp_ack_tok(&t, id3, 0, T0 + 10), Q_FAILED_PRECONDITION);
    ck_assert_int_eq(tp_state(&t, id3), Q_TASK_LEASED);
    tp_done(&t);
}
END_TEST

/* Leases do not survive a reopen (the task is READY again); the token handed out before is
 * refused after it, and the next delivery's token is above every token of the previous run
 * (the reopen's new epoch). */
START_TEST(tokens_across_reopen)
{
    tp t;
    tp_open(&t, SEG);
    /* Many deliveries in one millisecond: tokens count up. A new directory's first epoch comes
     * from the clock, above what a build before epochs handed out (now_ms << 20). */
    for (int i = 0; i < 50; i++) tp_enq(&t, "q", "w", 0, T0);
    q_leased many[50];
    ck_assert_uint_eq(tp_lease(&t, "q", 50, 1000, T0, many), 50);
    for (int i = 1; i < 50; i++) ck_assert_uint_eq(many[i].token, many[i - 1].token + 1);
    ck_assert_uint_gt(many[0].token, T0 << 20);
    uint64_t ids[50], toks[50];
    for (int i = 0; i < 50; i++) ids[i] = many[i].id, toks[i] = many[i].token;
    q_item it[50];
    uint64_t commit;
    q_err e;
    ck_assert_int_eq(q_part_ack(t.p, ids, toks, 50, T0, it, &commit, &e), Q_OK);
    for (int i = 0; i < 50; i++) ck_assert_int_eq(it[i].code, Q_OK);
    uint64_t id = tp_enq(&t, "q", "x", 0, T0);
    q_leased before = lease_one(&t, "q", 60000, T0 + 1);
    ck_assert_uint_eq(before.id, id);
    ck_assert_int_eq(q_log_commit(q_part_log(t.p)), 0);
    tp_close(&t); /* as a crash: the lease is in memory only */
    tp_reopen(&t, T0 + 2);
    ck_assert_int_eq(tp_state(&t, id), Q_TASK_READY);
    ck_assert_int_eq(tp_ack_tok(&t, id, before.token, T0 + 2), Q_FAILED_PRECONDITION);
    q_leased after = lease_one(&t, "q", 60000, T0 + 2);
    ck_assert_uint_gt(after.token, before.token);
    ck_assert_int_eq(tp_ack_tok(&t, id, before.token, T0 + 3), Q_FAILED_PRECONDITION);
    ck_assert_int_eq(tp_state(&t, id), Q_TASK_LEASED);
    ck_assert_int_eq(tp_ack_tok(&t, id, after.token, T0 + 3), Q_OK);
    tp_done(&t);
}
END_TEST

/* The wall clock set back across restarts (by hand, an NTP step, a VM snapshot restored) must
 * not bring old tokens back: every open makes a new epoch durable (queue/q_part_epoch.c), so
 * each run's tokens are above the previous run's whatever now_ms says. Before epochs a token
 * was max(previous + 1, now_ms << 20) with the previous one in memory only: a reopen at an
 * earlier clock handed out the very tokens of the run before. */
START_TEST(tokens_unique_with_the_clock_set_back)
{
    tp t;
    tp_open(&t, SEG);
    enum { RUNS = 4, PER_RUN = 20 };
    uint64_t seen[RUNS * PER_RUN];
    uint32_t nseen = 0;
    uint64_t last = 0;
    /* Each run opens and leases at an earlier clock than the one before: a day, then 1 ms,
     * then the very same ms as the previous lease (0 ms back from its lease). */
    const uint64_t at[RUNS] = {T0 + 86400000, T0, T0 - 1, T0 - 1};
    for (int run = 0; run < RUNS; run++) {
        if (run > 0) tp_reopen(&t, at[run]);
        for (int i = 0; i < PER_RUN; i++) tp_enq(&t, "q", "w", 0, at[run]);
        q_leased l[PER_RUN + PER_RUN * RUNS];
        uint32_t n = tp_lease(&t, "q", Q_BATCH_MAX, 60000, at[run], l);
        ck_assert_uint_ge(n, PER_RUN);
        for (uint32_t i = 0; i < PER_RUN; i++) {
            ck_assert_msg(l[i].token > last, "run %d: token %" PRIu64 " not above %" PRIu64, run,
                          l[i].token, last);
            last = l[i].token;
            for (uint32_t j = 0; j < nseen; j++) ck_assert_uint_ne(seen[j], l[i].token);
            seen[nseen++] = l[i].token;
        }
        ck_assert_int_eq(q_log_commit(q_part_log(t.p)), 0);
        tp_close(&t); /* as a crash: leases are in memory only */
    }
    /* The epoch is in the partition directory; losing it cannot go unnoticed: a damaged file
     * fails the open rather than risking a repeat. */
    char path[128];
    snprintf(path, sizeof path, "%s/%s", t.dir, Q_EPOCH_FILE);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("12x\n", f);
    fclose(f);
    q_part *p = NULL;
    ck_assert_int_eq(q_part_open(t.dir, 3, &t.o, T0, &p, NULL), -EBADMSG);
    ck_assert_ptr_null(p);
    tp_done(&t);
}
END_TEST

int main(void)
{
    log_set_level(LOG_WARN);
    const TTest *tests[] = {stale_token_after_release, every_delivery_new_token,
                            tokenless_by_queue_setting, tokens_across_reopen,
                            tokens_unique_with_the_clock_set_back};
    return tq_run("q_part_token", "token", 30, tests, sizeof tests / sizeof tests[0]);
}
