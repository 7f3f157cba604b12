/* Helpers shared by the queue/q_commit tests (test_q_commit*.c; header only, static functions):
 * a log attached to a reactor loop, appends, the commit chains in flight, and the pipelining
 * threshold derived from Q_COMMIT_PIPE_PCT. */
#ifndef TEST_Q_COMMIT_UTIL_H
#define TEST_Q_COMMIT_UTIL_H

#include "test_q_util.h"
#include "ts_main.h" /* ts_loop_create */

#include "core/ev_reactor.h"
#include "queue/q_log_int.h" /* chains in flight, Q_COMMIT_PIPE_PCT */

#define TQC_SEG (64u * 1024u) /* small segments: logs roll inside a commit chain, too */
#define TQC_MAXLEN 200u       /* payload bytes at most (tq_len) */

/* A new log in a new directory (dir: 64 bytes) with TQC_SEG-byte segments, attached to a new
 * loop (*loop). The caller owns both; tqc_close_attached releases them. */
static inline q_log *tqc_open_attached(char *dir, ev_loop **loop)
{
    tq_mkdtemp(dir);
    q_log_opts o;
    tq_opts(&o, TQC_SEG);
    q_log *log;
    ck_assert_int_eq(q_log_open(dir, &o, &log, NULL), 0);
    *loop = ts_loop_create();
    ck_assert_int_eq(q_log_attach(log, *loop), 0);
    return log;
}

/* Closes what tqc_open_attached (or a test by hand) made and removes the directory. */
static inline void tqc_close_attached(q_log *log, ev_loop *loop, const char *dir)
{
    ck_assert_int_eq(q_log_close(log), 0);
    ev_loop_destroy(loop);
    tq_rmdir(dir);
}

/* Appends n records from offset `from` (the log's next). */
static inline void tqc_append_n(q_log *log, uint64_t from, uint64_t n)
{
    for (uint64_t i = from; i < from + n; i++)
        ck_assert_int_eq(tq_append(log, i, TQC_MAXLEN), (int64_t)i);
}

/* fdatasync ops completed so far (q_log_stats.fsyncs). */
static inline uint64_t tqc_fsyncs(const q_log *log)
{
    q_log_stats st;
    q_log_get_stats(log, &st);
    return st.fsyncs;
}

/* Chains in flight whose fsync has not completed yet (a younger chain that completed first is
 * held, done, until the older ones end: its fsync is counted already). */
static inline uint64_t tqc_chains_running(const q_log *log)
{
    uint64_t n = 0;
    for (uint32_t k = 0; k < log->nchains; k++)
        n += !log->chains[(log->chain_head + k) % Q_COMMIT_CHAINS_MAX].done;
    return n;
}

/* Runs `loop` until tq_count_cb's array `seen` has heard `n` commits and no op of `log` is in
 * flight. */
static inline void tqc_run_until(ev_loop *loop, const q_log *log, const uint64_t *seen, uint64_t n)
{
    while (seen[0] < n || log->inflight) ck_assert_int_ge(ev_loop_run_once(loop, true), 0);
}

/* The smallest group that starts a chain beside one covering `cover` records: queue/q_commit.c's
 * may_pipeline asks group * 100 >= cover * Q_COMMIT_PIPE_PCT, so ceil(cover * PCT / 100) (PCT
 * need not be a multiple of 100). */
static inline uint64_t tqc_pipe_min(uint64_t cover)
{
    return (cover * Q_COMMIT_PIPE_PCT + 99) / 100;
}

/* Fills end[0..n) with the ends of n groups appended while the chains before them are in flight,
 * the first of `first` records and each later one the smallest that starts a chain beside the
 * one before it (tqc_pipe_min of that one's size): group k covers [end[k-1], end[k]). */
static inline void tqc_pipe_ends(uint64_t *end, int n, uint64_t first)
{
    for (int k = 0; k < n; k++)
        end[k] = k == 0 ? first : end[k - 1] + tqc_pipe_min(end[k - 1] - (k > 1 ? end[k - 2] : 0));
}

#endif
