/* queue/q_commit: the deferred start (q_log_on_kick, q_log_commit_kick) as the server uses it —
 * a loop hook that kicks the log before the loop submits. The commits a turn asks for share one
 * fdatasync; a lone commit on an idle log is still started in the turn that asked for it; every
 * waiter hears "durable" only after an fsync that started after its append. Skips (exit 77) when
 * io_uring is unusable here. */
#include "test_q_commit_util.h"

#include <errno.h>

/* The log's owner as the server is: kick_fn lists the log, the loop hook kicks it. */
typedef struct owner {
    q_log *log;
    ev_loop *loop;
    bool listed;      /* kick_fn called, hook not yet run */
    uint64_t wanted;  /* kick_fn calls */
    uint64_t kicked;  /* kicks the hook made */
    bool inside_kick; /* kick_fn called from inside q_log_commit_kick (must not happen) */
    bool in_hook;     /* the hook is kicking */
    int bad;          /* invariant violations seen in callbacks */
} owner;

static void on_kick_wanted(q_log *log, void *ud)
{
    owner *o = ud;
    o->wanted++;
    if (o->listed) o->bad++; /* once until the kick */
    if (o->in_hook) o->inside_kick = true;
    o->listed = true;
}

static bool on_turn_end(ev_loop *loop, void *ud, ev_hook_phase phase)
{
    (void)loop;
    owner *o = ud;
    if (phase == EV_HOOK_AFTER_WAKE || !o->listed) return true;
    o->listed = false;
    o->kicked++;
    o->in_hook = true;
    q_log_commit_kick(o->log);
    o->in_hook = false;
    return true;
}

static void open_owned(owner *o, char *dir)
{
    tq_mkdtemp(dir);
    q_log_opts opts;
    tq_opts(&opts, TQC_SEG);
    *o = (owner){0};
    ck_assert_int_eq(q_log_open(dir, &opts, &o->log, NULL), 0);
    int err;
    const char *why;
    o->loop = ev_loop_create(NULL, &err, &why);
    ck_assert_ptr_nonnull(o->loop);
    ck_assert_int_eq(q_log_attach(o->log, o->loop), 0);
    ck_assert_int_eq(ev_loop_add_hook(o->loop, on_turn_end, o), 0);
    q_log_on_kick(o->log, on_kick_wanted, o);
}

/* Kicks the log as the hook would at the turn's end (no completion runs before the next
 * run_once, so the chains in flight stay in flight), and takes it off the owner's list. Returns
 * q_log_commit_kick's answer (whether it answered waiters). */
static bool kick_by_hand(owner *o)
{
    bool answered = q_log_commit_kick(o->log);
    o->listed = false;
    return answered;
}

static void close_owned(owner *o, const char *dir)
{
    ck_assert_int_eq(o->bad, 0);
    ck_assert(!o->inside_kick);
    ck_assert_int_eq(q_log_close(o->log), 0);
    ev_loop_destroy(o->loop);
    tq_rmdir(dir);
}

/* Four Enqueues run in one turn (the mesh hands a shard its jobs in batches): one fdatasync
 * covers them all. Without the deferral the first started one and the second a pipelined one
 * beside it, and the last two waited for a third. */
START_TEST(one_turn_shares_one_fsync)
{
    char dir[64];
    owner o;
    open_owned(&o, dir);
    q_commit_waiter w[4];
    uint64_t seen[6] = {0};
    for (uint64_t i = 0; i < 4; i++) {
        ck_assert_int_eq(tq_append(o.log, i, TQC_MAXLEN), (int64_t)i);
        ck_assert_int_eq(q_log_commit_async(o.log, &w[i], tq_count_cb, seen), 0);
        ck_assert_uint_eq(o.log->nchains, 0); /* not from inside the request */
    }
    ck_assert_uint_eq(o.wanted, 1); /* once per turn */
    tqc_run_until(o.loop, o.log, seen, 4);
    for (int i = 1; i <= 4; i++) ck_assert_uint_eq(seen[i], 4);
    ck_assert_uint_eq(tqc_fsyncs(o.log), 1);
    ck_assert_uint_eq(o.kicked, 1);
    close_owned(&o, dir);
}
END_TEST

/* Idle latency: a lone commit on an idle log is in flight after the turn that asked for it, with
 * no completion waited for in between (ev_loop_run_once(block=false) returns at once). */
START_TEST(lone_commit_starts_in_its_own_turn)
{
    char dir[64];
    owner o;
    open_owned(&o, dir);
    q_commit_waiter w1, w2;
    uint64_t seen[4] = {0};
    ck_assert_int_eq(tq_append(o.log, 0, TQC_MAXLEN), 0);
    ck_assert_int_eq(q_log_commit_async(o.log, &w1, tq_count_cb, seen), 0);
    ck_assert_uint_eq(o.log->nchains, 0);
    ck_assert_int_ge(ev_loop_run_once(o.loop, false), 0); /* the hook runs before the submit */
    ck_assert_uint_eq(o.kicked, 1);
    /* Started in that turn: in flight, or already done if the fsync was that quick. */
    ck_assert_uint_eq(o.log->nchains + tqc_fsyncs(o.log), 1);
    tqc_run_until(o.loop, o.log, seen, 1);
    ck_assert_uint_eq(seen[1], 1);
    /* A join alone (a consumer's ack) on an idle log: started in its turn as well. */
    ck_assert_int_eq(tq_append(o.log, 1, TQC_MAXLEN), 1);
    ck_assert_int_eq(q_log_commit_join(o.log, &w2, tq_count_cb, seen), 0);
    ck_assert_int_ge(ev_loop_run_once(o.loop, false), 0);
    ck_assert_uint_eq(o.log->nchains + tqc_fsyncs(o.log), 2);
    tqc_run_until(o.loop, o.log, seen, 2);
    ck_assert_uint_eq(seen[2], 2);
    ck_assert_uint_eq(tqc_fsyncs(o.log), 2);
    close_owned(&o, dir);
}
END_TEST

/* With one fsync in flight, the requests of a later turn start one second (pipelined) fsync at
 * the kick, not one each; a join alone beside it still waits for the next. */
START_TEST(a_later_turn_pipelines_one_fsync)
{
    char dir[64];
    owner o;
    open_owned(&o, dir);
    q_commit_waiter w[4];
    uint64_t seen[6] = {0};
    ck_assert_int_eq(tq_append(o.log, 0, TQC_MAXLEN), 0);
    ck_assert_int_eq(q_log_commit_async(o.log, &w[0], tq_count_cb, seen), 0);
    /* Kicked by hand, as the hook would: no completion runs before the next run_once, so fsync
     * 1 stays in flight (for the log) until then. */
    kick_by_hand(&o);
    ck_assert_uint_eq(o.log->nchains, 1);
    ck_assert_int_eq(tq_append(o.log, 1, TQC_MAXLEN), 1); /* an ack's record */
    ck_assert_int_eq(q_log_commit_join(o.log, &w[1], tq_count_cb, seen), 0);
    /* No second fsync beside it for a join alone. */
    kick_by_hand(&o);
    ck_assert_uint_eq(o.log->nchains, 1);
    /* Two producers whose records, with the ack's, are at least the smallest group that starts
     * a chain beside fsync 1 (tqc_pipe_min): the second appends what the first leaves short. */
    uint64_t end = 1 + (tqc_pipe_min(1) > 3 ? tqc_pipe_min(1) : 3);
    for (uint64_t i = 2; i < 4; i++) {
        tqc_append_n(o.log, q_log_next(o.log), i == 2 ? 1 : end - 3);
        ck_assert_int_eq(q_log_commit_async(o.log, &w[i], tq_count_cb, seen), 0);
    }
    kick_by_hand(&o);
    ck_assert_uint_eq(o.log->nchains, 2); /* one for both producers */
    tqc_run_until(o.loop, o.log, seen, 4);
    ck_assert_uint_eq(seen[4], end);
    ck_assert_uint_eq(q_log_durable(o.log), end);
    ck_assert_uint_eq(tqc_fsyncs(o.log), 2); /* the ack and both producers rode fsync 2 */
    close_owned(&o, dir);
}
END_TEST

/* Three turns, each with a producer whose appends are the smallest group that pays for a chain
 * beside the youngest (Q_COMMIT_PIPE_PCT % of what it covers: tqc_pipe_min), while the first
 * fsync is still in flight (no completion runs before the next run_once): each turn's kick
 * starts its own chain beside the older ones, up to Q_COMMIT_CHAINS_MAX = 3; a fourth turn's
 * producer waits for the oldest to end. Every producer hears "durable" only once the chain
 * started after its append completed. */
START_TEST(three_turns_pipeline_three_fsyncs)
{
    char dir[64];
    owner o;
    open_owned(&o, dir);
    q_commit_waiter w[4];
    uint64_t seen[6] = {0};
    uint64_t next = 0, n = 1, ends[4];
    for (uint64_t i = 0; i < 4; i++, n = tqc_pipe_min(n)) {
        for (uint64_t k = 0; k < n; k++, next++)
            ck_assert_int_eq(tq_append(o.log, next, TQC_MAXLEN), (int64_t)next);
        ends[i] = next;
        ck_assert_int_eq(q_log_commit_async(o.log, &w[i], tq_count_cb, seen), 0);
        kick_by_hand(&o);
        ck_assert_uint_eq(o.log->nchains, i < 3 ? i + 1 : 3);
        ck_assert_uint_eq(q_log_durable(o.log), 0); /* nothing completed yet */
    }
    /* Chains in start order, each covering its turn's appends. */
    for (uint32_t k = 0; k < 3; k++)
        ck_assert_uint_eq(o.log->chains[(o.log->chain_head + k) % Q_COMMIT_CHAINS_MAX].target,
                          ends[k]);
    tqc_run_until(o.loop, o.log, seen, 4);
    ck_assert_uint_eq(seen[4], ends[3]);
    ck_assert_uint_eq(q_log_durable(o.log), ends[3]);
    ck_assert_uint_eq(tqc_fsyncs(o.log), 4); /* the fourth rode a chain of its own, started later */
    q_log_stats st;
    q_log_get_stats(o.log, &st);
    ck_assert_uint_ge(st.commits_pipelined, 2); /* the fourth's may be too */
    close_owned(&o, dir);
}
END_TEST

/* Load: appenders that append and commit again from their callbacks, as producers answered by a
 * commit do. Every one hears "durable" only after an fsync that started after its append (every
 * op in flight at the append, and one more, completed), and one fsync covers many appends. */
typedef struct appender {
    q_commit_waiter w;
    uint64_t last; /* offset of its latest append */
    uint64_t need; /* fsync ops that must have completed before it may hear "durable" */
    int left;      /* appends still to make */
    owner *o;
    uint64_t *acks;
} appender;

static void append_and_commit(appender *a);

static void on_commit(q_log *log, void *ud, int status, uint64_t durable)
{
    appender *a = ud;
    (*a->acks)++;
    if (status != 0 || durable <= a->last || durable > q_log_next(log)) a->o->bad++;
    if (log->synced < durable || tqc_fsyncs(log) < a->need) a->o->bad++;
    if (--a->left > 0) append_and_commit(a);
}

static void append_and_commit(appender *a)
{
    q_log *log = a->o->log;
    uint64_t off = q_log_next(log);
    if (tq_append(log, off, TQC_MAXLEN) != (int64_t)off) a->o->bad++;
    a->last = off;
    /* A chain started later than now must complete: the ops in flight now and the kick's. */
    a->need = tqc_fsyncs(log) + tqc_chains_running(log) + 1;
    if (q_log_commit_async(log, &a->w, on_commit, a) != 0) a->o->bad++;
}

START_TEST(durable_only_after_an_fsync_started_after_the_append)
{
    enum { APPENDERS = 64, PER = 40 };
    char dir[64];
    owner o;
    open_owned(&o, dir);
    appender as[APPENDERS];
    uint64_t acks = 0;
    for (int i = 0; i < APPENDERS; i++) {
        as[i] = (appender){.left = PER, .o = &o, .acks = &acks};
        append_and_commit(&as[i]);
    }
    while (acks < (uint64_t)APPENDERS * PER || o.log->inflight)
        ck_assert_int_ge(ev_loop_run_once(o.loop, true), 0);
    ck_assert_int_eq(o.bad, 0);
    ck_assert_uint_eq(q_log_durable(o.log), (uint64_t)APPENDERS * PER);
    /* Each turn's appenders share a chain: far fewer fsyncs than appends. */
    ck_assert_uint_le(tqc_fsyncs(o.log) * 8, (uint64_t)APPENDERS * PER);
    close_owned(&o, dir);
}
END_TEST

static void status_cb(q_log *log, void *ud, int status, uint64_t durable)
{
    (void)log;
    (void)durable;
    int *got = ud;
    *got = status;
}

/* A log that failed (sticky, as after a failed fdatasync) when its kick comes: the kick answers
 * the waiters with the error from inside the call and says so, so the owner's loop takes one
 * more turn to send those replies before it sleeps (server/srv_part.c); with nothing answered it
 * says false. */
START_TEST(a_failed_kick_answers_its_waiters_and_says_so)
{
    char dir[64];
    owner o;
    open_owned(&o, dir);
    q_commit_waiter w;
    int got = 1;
    ck_assert_int_eq(tq_append(o.log, 0, TQC_MAXLEN), 0);
    ck_assert_int_eq(q_log_commit_async(o.log, &w, status_cb, &got), 0);
    ck_assert(o.listed);
    ck_assert(!kick_by_hand(&o)); /* a healthy kick starts the chain, answers nobody */
    while (got == 1 || o.log->inflight) ck_assert_int_ge(ev_loop_run_once(o.loop, true), 0);
    ck_assert_int_eq(got, 0);
    ck_assert_int_eq(tq_append(o.log, 1, TQC_MAXLEN), 1);
    got = 1;
    ck_assert_int_eq(q_log_commit_async(o.log, &w, status_cb, &got), 0);
    o.log->failed = -EIO; /* white box: the sticky failure a failed fdatasync leaves */
    ck_assert(kick_by_hand(&o));
    ck_assert_int_eq(got, -EIO);
    ck_assert(!q_log_commit_kick(o.log)); /* nothing pending: nothing answered */
    o.log->failed = 0;                    /* so the test's close is the usual one */
    close_owned(&o, dir);
}
END_TEST

int main(void)
{
    tq_require_uring("test_q_commit_kick");
    const TTest *tests[] = {one_turn_shares_one_fsync,
                            lone_commit_starts_in_its_own_turn,
                            a_later_turn_pipelines_one_fsync,
                            three_turns_pipeline_three_fsyncs,
                            durable_only_after_an_fsync_started_after_the_append,
                            a_failed_kick_answers_its_waiters_and_says_so};
    return tq_run("q_commit_kick", "kick", 60, tests, sizeof tests / sizeof tests[0]);
}
