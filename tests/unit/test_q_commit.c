/* queue/q_commit: async group commit on the io_uring reactor. Skips (exit 77) when io_uring is
 * unusable here. */
#include "test_q_util.h"
#include "ts_main.h" /* ts_loop_create */

#include "core/ev_reactor.h"
#include "queue/q_log_int.h" /* to make one fsync fail */
#include "queue/q_sys.h"

#include <stdatomic.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/rt_bg.h"

#define SEG (64u * 1024u) /* rolls inside a commit chain, too */
#define MAXLEN 200u

typedef struct appender {
    q_commit_waiter w;
    uint64_t last; /* offset of its latest append */
    uint64_t need; /* fsync ops that must have completed before it may hear "durable" */
    int left;      /* appends still to make */
    struct bench *b;
} appender;

typedef struct bench {
    q_log *log;
    ev_loop *loop;
    int running;     /* appenders not finished */
    uint64_t acks;   /* commit callbacks */
    uint64_t fsyncs; /* durable-end moves */
    uint64_t last_durable;
    bool never; /* policy never: durable runs ahead of what was synced */
    int bad;    /* invariant violations seen in callbacks */
} bench;

static void append_and_commit(appender *a);

static void on_commit(q_log *log, void *ud, int status, uint64_t durable)
{
    appender *a = ud;
    bench *b = a->b;
    b->acks++;
    if (status != 0 || durable <= a->last || durable < b->last_durable || durable > q_log_next(log))
        b->bad++;
    /* Before anyone hears of it, what an fsync made durable is under the synced watermark. */
    if (!b->never && log->synced < durable) b->bad++;
    /* An append is durable only once an fsync that started after it was written returned: every
     * op in flight then, and one more, must have completed (chains complete in order). */
    if (!b->never && log->fsyncs < a->need) b->bad++;
    if (--a->left > 0) append_and_commit(a);
    else b->running--;
}

/* Chains in flight whose fsync has not completed yet (a younger chain that completed first is
 * held, done, until the older ones end: its fsync is counted already). */
static uint64_t chains_running(const q_log *log)
{
    uint64_t n = 0;
    for (uint32_t k = 0; k < log->nchains; k++)
        n += !log->chains[(log->chain_head + k) % Q_COMMIT_CHAINS_MAX].done;
    return n;
}

static void append_and_commit(appender *a)
{
    bench *b = a->b;
    uint64_t off = q_log_next(b->log);
    if (tq_append(b->log, off, MAXLEN) != (int64_t)off) b->bad++;
    a->last = off;
    a->need = b->log->fsyncs + chains_running(b->log) + 1;
    int r = q_log_commit_async(b->log, &a->w, on_commit, a);
    if (r == 1) on_commit(b->log, a, 0, q_log_durable(b->log));
    else if (r != 0) b->bad++;
}

static void on_durable(q_log *log, void *ud, uint64_t durable)
{
    (void)log;
    bench *b = ud;
    b->fsyncs++;
    if (durable <= b->last_durable) b->bad++;
    b->last_durable = durable;
}

/* A new log in a new directory (dir: 64 bytes) with SEG-byte segments, attached to a new loop. */
static q_log *open_attached(char *dir, ev_loop **loop)
{
    tq_mkdtemp(dir);
    q_log_opts o;
    tq_opts(&o, SEG);
    q_log *log;
    ck_assert_int_eq(q_log_open(dir, &o, &log, NULL), 0);
    *loop = ts_loop_create();
    ck_assert_int_eq(q_log_attach(log, *loop), 0);
    return log;
}

/* Closes what open_attached (or a test by hand) made and removes the directory. */
static void close_attached(q_log *log, ev_loop *loop, const char *dir)
{
    ck_assert_int_eq(q_log_close(log), 0);
    ev_loop_destroy(loop);
    tq_rmdir(dir);
}

static void run(const char *policy, int nappenders, int per)
{
    char dir[64];
    tq_mkdtemp(dir);
    q_log_opts o;
    tq_opts(&o, SEG);
    ck_assert_int_eq(q_commit_policy_parse(policy, &o), 0);
    bench b = {0};
    b.never = strcmp(policy, "never") == 0;
    b.loop = ts_loop_create();
    ck_assert_int_eq(q_log_open(dir, &o, &b.log, NULL), 0);
    ck_assert_int_eq(q_log_attach(b.log, b.loop), 0);
    q_log_on_durable(b.log, on_durable, &b);
    appender *as = calloc((size_t)nappenders, sizeof *as);
    b.running = nappenders;
    for (int i = 0; i < nappenders; i++) {
        as[i].b = &b;
        as[i].left = per;
        append_and_commit(&as[i]);
    }
    while (b.running > 0) ck_assert_int_ge(ev_loop_run_once(b.loop, true), 0);
    uint64_t total = (uint64_t)nappenders * (uint64_t)per;
    ck_assert_int_eq(b.bad, 0);
    ck_assert_uint_eq(b.acks, total);
    ck_assert_uint_eq(q_log_next(b.log), total);
    ck_assert_uint_eq(q_log_durable(b.log), total);
    if (strcmp(policy, "never") != 0 && nappenders >= 16) {
        /* Group commit: one fdatasync covers many appends (at most Q_COMMIT_CHAINS_MAX are in
         * flight, and all appenders wait on them, so each fsync covers a share of them). */
        ck_assert_uint_le(b.fsyncs * 4, total);
    }
    q_log_stats st;
    q_log_get_stats(b.log, &st);
    char name[64], path[160];
    uint64_t base, end;
    uint32_t used, bytes;
    ck_assert_int_eq(q_log_segment_info(b.log, st.segments - 1, name, &base, &end, &used, &bytes),
                     0);
    ck_assert_int_eq(q_log_close(b.log), 0);
    if (!b.never) {
        /* The last acknowledged record damaged (its last byte): refused, not cut. */
        snprintf(path, sizeof path, "%s/%s", dir, name);
        int fd = open(path, O_RDWR);
        ck_assert_int_ge(fd, 0);
        uint8_t c;
        ck_assert_int_eq(pread(fd, &c, 1, used - 1), 1);
        c ^= 0x20;
        ck_assert_int_eq(pwrite(fd, &c, 1, used - 1), 1);
        q_log_err err;
        ck_assert_int_eq(q_log_open(dir, &o, &b.log, &err), -EBADMSG);
        ck_assert_uint_eq(err.offset, total - 1);
        c ^= 0x20;
        ck_assert_int_eq(pwrite(fd, &c, 1, used - 1), 1);
        close(fd);
    }
    /* Everything acknowledged is there after reopen. */
    ck_assert_int_eq(q_log_open(dir, &o, &b.log, NULL), 0);
    ck_assert_uint_eq(q_log_next(b.log), total);
    for (uint64_t off = 0; off < total; off++) {
        q_rec r;
        ck_assert_int_eq(q_log_read(b.log, off, &r), 0);
        tq_check_rec(&r, off, MAXLEN);
    }
    ck_assert_int_eq(q_log_close(b.log), 0);
    ev_loop_destroy(b.loop);
    free(as);
    tq_rmdir(dir);
}

START_TEST(always_1) { run("always", 1, 200); }
END_TEST
START_TEST(always_256) { run("always", 256, 40); }
END_TEST
START_TEST(interval_64) { run("interval:2", 64, 20); }
END_TEST
START_TEST(never_16) { run("never", 16, 50); }
END_TEST

START_TEST(edge_cases)
{
    char dir[64];
    tq_mkdtemp(dir);
    q_log_opts o;
    tq_opts(&o, SEG);
    q_log *log;
    ck_assert_int_eq(q_log_open(dir, &o, &log, NULL), 0);
    q_commit_waiter w1, w2;
    uint64_t seen[4] = {0};
    ck_assert_int_eq(q_log_commit_async(log, &w1, tq_count_cb, seen), -EINVAL); /* not attached */
    ev_loop *loop = ts_loop_create();
    ck_assert_int_eq(q_log_attach(log, loop), 0);
    ck_assert_int_eq(q_log_commit_async(log, &w1, tq_count_cb, seen), 1); /* nothing to sync */
    ck_assert_int_eq(tq_append(log, 0, MAXLEN), 0);
    ck_assert_int_eq(q_log_commit_async(log, &w1, tq_count_cb, seen), 0);
    ck_assert_int_eq(tq_append(log, 1, MAXLEN), 1);
    ck_assert_int_eq(q_log_commit_async(log, &w2, tq_count_cb, seen), 0); /* waits for the next */
    ck_assert_uint_eq(seen[0], 0);                                        /* never called inline */
    ck_assert_int_eq(q_log_close(log), -EBUSY);                           /* fsync in flight */
    while (seen[0] < 2) ck_assert_int_ge(ev_loop_run_once(loop, true), 0);
    ck_assert_uint_ge(seen[1], 1); /* the first covers offset 0 (maybe 1 too) */
    ck_assert_uint_eq(seen[2], 2);
    ck_assert_uint_eq(q_log_durable(log), 2);
    close_attached(log, loop, dir);
}
END_TEST

/* The committed callback (what the server hands out tasks from): once per completed commit,
 * after every waiter that commit covered was called back, and with the next fsync — for the
 * waiters queued while the first ran — already in flight, so work done there overlaps it. */
typedef struct committed_seen {
    uint64_t waiters[5];    /* tq_count_cb's: [0] = how many, then their durable ends */
    uint64_t calls;         /* committed callbacks */
    uint64_t waiters_at[2]; /* waiters called back when committed ran, per call */
    bool inflight_at[2];    /* an fsync in flight when committed ran, per call */
    uint64_t durable_at[2];
} committed_seen;

static void on_committed(q_log *log, void *ud, uint64_t durable)
{
    committed_seen *c = ud;
    if (c->calls < 2) {
        c->waiters_at[c->calls] = c->waiters[0];
        c->inflight_at[c->calls] = log->inflight;
        c->durable_at[c->calls] = durable;
    }
    c->calls++;
}

/* Appends n records from offset `from` (the log's next). */
static void append_n(q_log *log, uint64_t from, uint64_t n)
{
    for (uint64_t i = from; i < from + n; i++)
        ck_assert_int_eq(tq_append(log, i, MAXLEN), (int64_t)i);
}

START_TEST(second_fsync_starts_while_the_first_runs)
{
    char dir[64];
    ev_loop *loop;
    q_log *log = open_attached(dir, &loop);
    committed_seen c = {0};
    q_log_on_committed(log, on_committed, &c);
    q_commit_waiter w1, w2, w3, w4;
    append_n(log, 0, 1);
    ck_assert_int_eq(q_log_commit_async(log, &w1, tq_count_cb, c.waiters), 0); /* fsync 1 starts */
    ck_assert_uint_eq(log->nchains, 1);
    /* Appended while fsync 1 runs, twice what it covers (Q_COMMIT_PIPE_PCT): fsync 2 starts at
     * once, beside it (it used to wait for fsync 1 to end, so these appends waited for the rest
     * of one fsync and all of the next). */
    append_n(log, 1, 2);
    ck_assert_int_eq(q_log_commit_async(log, &w2, tq_count_cb, c.waiters), 0);
    ck_assert_uint_eq(log->nchains, 2);
    q_log_stats st;
    q_log_get_stats(log, &st);
    ck_assert_uint_eq(st.commits_pipelined, 1);
    /* A third beside both (Q_COMMIT_CHAINS_MAX), then no fourth: that one waits for the oldest
     * to end. */
    append_n(log, 3, 4);
    ck_assert_int_eq(q_log_commit_async(log, &w3, tq_count_cb, c.waiters), 0);
    ck_assert_uint_eq(log->nchains, 3);
    append_n(log, 7, 8);
    ck_assert_int_eq(q_log_commit_async(log, &w4, tq_count_cb, c.waiters), 0);
    ck_assert_uint_eq(log->nchains, 3);
    q_log_get_stats(log, &st);
    ck_assert_uint_eq(st.commits_pipelined, 2);
    ck_assert_uint_eq(c.waiters[0], 0); /* never called inline */
    while (c.waiters[0] < 4 || log->inflight) ck_assert_int_ge(ev_loop_run_once(loop, true), 0);
    /* In order, each covering its own appends, whichever fsync's completion came first. */
    ck_assert_uint_ge(c.waiters[1], 1);
    ck_assert_uint_ge(c.waiters[2], 3);
    ck_assert_uint_ge(c.waiters[2], c.waiters[1]);
    ck_assert_uint_ge(c.waiters[3], 7);
    ck_assert_uint_ge(c.waiters[3], c.waiters[2]);
    ck_assert_uint_eq(c.waiters[4], 15);
    /* The first committed callback ran after w1 was answered, with an fsync in flight (a younger
     * one, or fsync 4 for w4 when the younger ones had ended first and retired together). */
    ck_assert_uint_ge(c.calls, 2);
    ck_assert_uint_ge(c.waiters_at[0], 1);
    ck_assert(c.inflight_at[0]);
    q_log_get_stats(log, &st);
    ck_assert_uint_eq(st.committed_total, c.calls);
    ck_assert_uint_eq(st.fsyncs, 4); /* w4's own; the committed callback starts none */
    ck_assert_uint_eq(q_log_durable(log), 15);
    close_attached(log, loop, dir);
}
END_TEST

/* A group too small to pay for an fdatasync of its own (under Q_COMMIT_PIPE_PCT % of what the
 * chain in flight covers) starts none beside it: it waits, and those arriving meanwhile join
 * it, until the group is large enough. The old rule started a chain for the first lone record. */
START_TEST(small_group_waits_for_the_chain_in_flight)
{
    char dir[64];
    ev_loop *loop;
    q_log *log = open_attached(dir, &loop);
    uint64_t seen[6] = {0};
    q_commit_waiter w[4];
    append_n(log, 0, 4);
    ck_assert_int_eq(q_log_commit_async(log, &w[0], tq_count_cb, seen), 0); /* covers 4 */
    ck_assert_uint_eq(log->nchains, 1);
    append_n(log, 4, 1);
    ck_assert_int_eq(q_log_commit_async(log, &w[1], tq_count_cb, seen), 0);
    ck_assert_uint_eq(log->nchains, 1);              /* 1 record beside 4: waits */
    uint64_t grow = 4 * Q_COMMIT_PIPE_PCT / 100 - 2; /* one short of the threshold */
    append_n(log, 5, grow);
    ck_assert_int_eq(q_log_commit_async(log, &w[2], tq_count_cb, seen), 0);
    ck_assert_uint_eq(log->nchains, 1);
    append_n(log, 5 + grow, 1); /* reaches it */
    ck_assert_int_eq(q_log_commit_async(log, &w[3], tq_count_cb, seen), 0);
    ck_assert_uint_eq(log->nchains, 2);
    q_log_stats st;
    q_log_get_stats(log, &st);
    ck_assert_uint_eq(st.commits_pipelined, 1);
    ck_assert_uint_eq(seen[0], 0); /* never called inline */
    while (seen[0] < 4 || log->inflight) ck_assert_int_ge(ev_loop_run_once(loop, true), 0);
    ck_assert_uint_ge(seen[1], 4);
    for (int i = 2; i <= 4; i++) ck_assert_uint_eq(seen[i], 6 + grow);
    q_log_get_stats(log, &st);
    ck_assert_uint_eq(st.fsyncs, 2); /* the three later waiters shared one */
    close_attached(log, loop, dir);
}
END_TEST

/* A younger chain whose fdatasync ended before an older one's is held (done) until the older
 * ends; it does not stop one more chain from starting in the free slot (the old rule asked
 * the youngest to be still running, so that slot went unused until the oldest ended). */
START_TEST(a_held_younger_chain_does_not_block_a_new_one)
{
    char dir[64];
    ev_loop *loop;
    q_log *log = open_attached(dir, &loop);
    uint64_t seen[6] = {0};
    q_commit_waiter w[3];
    append_n(log, 0, 1);
    ck_assert_int_eq(q_log_commit_async(log, &w[0], tq_count_cb, seen), 0);
    append_n(log, 1, 2);
    ck_assert_int_eq(q_log_commit_async(log, &w[1], tq_count_cb, seen), 0);
    ck_assert_uint_eq(log->nchains, 2);
    /* White box: the younger one's fdatasync returned first (on_fsync marks it done and holds
     * it). No completion runs before the next run_once, so the older one is still running. */
    q_commit_chain *young = &log->chains[(log->chain_head + 1) % Q_COMMIT_CHAINS_MAX];
    young->done = true;
    append_n(log, 3, 4);
    ck_assert_int_eq(q_log_commit_async(log, &w[2], tq_count_cb, seen), 0);
    ck_assert_uint_eq(log->nchains, 3);
    /* Undo the pretence: its fdatasync is still running, and its real completion must mark it,
     * so nobody is answered before the fdatasync that covers them returned. */
    young->done = false;
    ck_assert_uint_eq(log->chains[(log->chain_head + 2) % Q_COMMIT_CHAINS_MAX].target, 7);
    while (seen[0] < 3 || log->inflight) ck_assert_int_ge(ev_loop_run_once(loop, true), 0);
    ck_assert_uint_eq(seen[3], 7);
    ck_assert_uint_eq(q_log_durable(log), 7);
    close_attached(log, loop, dir);
}
END_TEST

/* A log in dir with the "never" policy (commits only when asked). */
static q_log *open_never(const char *dir)
{
    q_log_opts o;
    tq_opts(&o, SEG);
    ck_assert_int_eq(q_commit_policy_parse("never", &o), 0);
    q_log *log;
    ck_assert_int_eq(q_log_open(dir, &o, &log, NULL), 0);
    return log;
}

/* A NEVER log in a new directory dir (64 bytes), attached to a new loop. */
static q_log *open_never_attached(char *dir, ev_loop **loop)
{
    tq_mkdtemp(dir);
    q_log *log = open_never(dir);
    *loop = ts_loop_create();
    ck_assert_int_eq(q_log_attach(log, *loop), 0);
    return log;
}

/* Appends records until the log has `segs` segments; returns how many it appended. */
static uint64_t fill_segments(q_log *log, uint32_t segs)
{
    uint64_t n = 0;
    q_log_stats st;
    do {
        ck_assert_int_eq(tq_append(log, n, MAXLEN), (int64_t)n);
        n++;
        q_log_get_stats(log, &st);
    } while (st.segments < segs);
    return n;
}

/* --fsync never: q_log_sync_async runs the fsync chain through the loop anyway and publishes
 * rolled segments (what the server's housekeeping needs), one chain at a time. */
START_TEST(sync_async_publishes_under_never)
{
    char dir[64];
    tq_mkdtemp(dir);
    q_log *log = open_never(dir);
    q_commit_waiter w, w2;
    uint64_t seen[4] = {0};
    ck_assert_int_eq(q_log_sync_async(log, &w, tq_count_cb, seen), -EINVAL); /* not attached */
    ev_loop *loop = ts_loop_create();
    ck_assert_int_eq(q_log_attach(log, loop), 0);
    uint64_t n = fill_segments(log, 3);
    q_log_stats st;
    q_log_get_stats(log, &st);
    int published = tq_count_files(dir);
    ck_assert_int_lt(published, (int)st.segments); /* rolled segments wait for a commit */
    ck_assert_int_eq(q_log_sync_async(log, &w, tq_count_cb, seen), 0);
    ck_assert_int_eq(q_log_sync_async(log, &w2, tq_count_cb, seen), -EBUSY);
    ck_assert_uint_eq(seen[0], 0); /* never called inline */
    while (seen[0] < 1) ck_assert_int_ge(ev_loop_run_once(loop, true), 0);
    ck_assert_uint_ge(seen[1], n);
    ck_assert_int_eq(tq_count_files(dir), (int)st.segments);
    close_attached(log, loop, dir);
}
END_TEST

/* --fsync never's retention sync runs on core/rt_bg's thread (nice 19), not on io-wq at the
 * shard's priority: every fdatasync/fsync of its chain goes through q_sys on a thread other
 * than the loop's, and its end still reaches the waiter through the loop. */
static _Atomic int bg_syncs, bg_syncs_on_loop;
static long loop_tid;
static int count_sync(int fd, int (*real)(int))
{
    atomic_fetch_add(&bg_syncs, 1);
    if (syscall(SYS_gettid) == loop_tid) atomic_fetch_add(&bg_syncs_on_loop, 1);
    return real(fd);
}
static int fdatasync_counted(int fd) { return count_sync(fd, fdatasync); }
static int fsync_counted(int fd) { return count_sync(fd, fsync); }

START_TEST(never_sync_runs_on_the_background_thread)
{
    char dir[64];
    ev_loop *loop;
    q_log *log = open_never_attached(dir, &loop);
    uint64_t n = fill_segments(log, 3);
    q_log_stats st;
    q_log_get_stats(log, &st);
    rt_bg_wait_idle(); /* the spare jobs: q_sys changes only while the thread is idle */
    loop_tid = syscall(SYS_gettid);
    q_sys.fdatasync = fdatasync_counted;
    q_sys.fsync = fsync_counted;
    q_commit_waiter w;
    uint64_t seen[4] = {0};
    ck_assert_int_eq(q_log_sync_async(log, &w, tq_count_cb, seen), 0);
    ck_assert_uint_eq(seen[0], 0); /* never called inline */
    while (seen[0] < 1) ck_assert_int_ge(ev_loop_run_once(loop, true), 0);
    rt_bg_wait_idle();
    q_sys_reset();
    ck_assert_uint_ge(seen[1], n);
    ck_assert_uint_eq(q_log_synced(log), n);
    /* One sync per rolled segment and the open one, and the directory's after the renames. */
    ck_assert_int_ge(atomic_load(&bg_syncs), (int)st.segments + 1);
    ck_assert_int_eq(atomic_load(&bg_syncs_on_loop), 0);
    ck_assert_int_eq(tq_count_files(dir), (int)st.segments);
    close_attached(log, loop, dir);
}
END_TEST

static void status_cb(q_log *log, void *ud, int status, uint64_t durable)
{
    (void)log;
    (void)durable;
    int *st = ud;
    st[st[0] + 1] = status;
    st[0]++;
}

static int fdatasync_eio(int fd)
{
    (void)fd;
    errno = EIO;
    return -1;
}

/* A background sync that fails under NEVER fails the log as the ring's did: its waiter learns
 * the error through the loop, it sticks, and nothing is published. */
START_TEST(never_sync_failure_on_the_background_thread_sticks)
{
    char dir[64];
    ev_loop *loop;
    q_log *log = open_never_attached(dir, &loop);
    fill_segments(log, 3);
    uint64_t synced = q_log_synced(log);
    rt_bg_wait_idle(); /* the spare jobs: q_sys changes only while the threads are idle */
    q_sys.fdatasync = fdatasync_eio;
    q_sys.fsync = fdatasync_eio;
    q_commit_waiter w;
    int st[3] = {0};
    ck_assert_int_eq(q_log_sync_async(log, &w, status_cb, st), 0);
    ck_assert_int_eq(st[0], 0); /* never called inline */
    while (st[0] < 1) ck_assert_int_ge(ev_loop_run_once(loop, true), 0);
    rt_bg_wait_idle();
    q_sys_reset();
    ck_assert_int_eq(st[1], -EIO);
    ck_assert_int_eq(q_log_failed(log), -EIO);
    ck_assert_uint_eq(q_log_synced(log), synced);
    ck_assert_int_eq(q_log_sync_async(log, &w, status_cb, st), -EIO);
    for (int i = 0; i < 1000 && log->inflight; i++)
        ck_assert_int_ge(ev_loop_run_once(loop, true), 0);
    close_attached(log, loop, dir);
}
END_TEST

/* The owner's thread never unlinks or syncs the directory for retention (issue 19 item 2). */
static int unlinkat_on_thread(int dirfd, const char *path, int flags)
{
    ck_abort_msg("retention unlinked %s on the loop's thread", path);
    return -1;
}

static int fsync_on_thread(int fd)
{
    ck_abort_msg("retention synced fd %d on the loop's thread", fd);
    return -1;
}

/* Retention on a loop goes through the ring: q_log_retain returns at once with every segment
 * still there; the loop then deletes them oldest first, one unlink (IORING_OP_UNLINKAT) and one
 * directory fsync (IORING_OP_FSYNC) each, never the owner's thread (q_sys's unlinkat and fsync
 * abort here), and hands each descriptor to io_uring's workers: its last close, which frees the
 * file's blocks (a synchronous discard on some mounts), never runs on the loop's thread either.
 * The log cannot close while a deletion is in flight. */
START_TEST(retain_deletes_through_the_ring)
{
    char dir[64];
    ev_loop *loop;
    q_log *log = open_never_attached(dir, &loop);
    uint64_t n = fill_segments(log, 3);
    q_log_stats st;
    q_log_get_stats(log, &st);
    uint32_t nsegs = st.segments;
    ck_assert_uint_ge(nsegs, 3);
    q_commit_waiter w;
    uint64_t seen[4] = {0};
    ck_assert_int_eq(q_log_sync_async(log, &w, tq_count_cb, seen), 0);
    while (seen[0] < 1) ck_assert_int_ge(ev_loop_run_once(loop, true), 0);
    int fd0 = log->segs[0].fd, fd1 = log->segs[1].fd;
    q_sys.unlinkat = unlinkat_on_thread;
    q_sys.fsync = fsync_on_thread;
    ck_assert_int_eq(q_log_retain(log, n), 0); /* started, nothing done inline */
    q_log_get_stats(log, &st);
    ck_assert_uint_eq(st.segments, nsegs);
    ck_assert(st.retiring);
    ck_assert_int_eq(tq_count_files(dir), (int)nsegs);
    ck_assert_int_eq(q_log_close(log), -EBUSY);
    /* Oldest first: whenever a file is gone, every older one is too (a prefix, never a gap). */
    uint64_t retired = 0;
    while (st.retiring || fcntl(fd0, F_GETFD) != -1 || fcntl(fd1, F_GETFD) != -1) {
        ck_assert_int_ge(ev_loop_run_once(loop, true), 0);
        q_log_get_stats(log, &st);
        ck_assert_uint_ge(st.segments_retired, retired);
        retired = st.segments_retired;
        ck_assert_uint_eq(st.segments, nsegs - retired);
        /* the segment whose directory fsync is in flight may be unlinked already */
        int files = tq_count_files(dir);
        ck_assert_int_le(files, (int)(nsegs - retired));
        ck_assert_int_ge(files, (int)(nsegs - retired) - (st.retiring ? 1 : 0));
    }
    ck_assert_int_eq(tq_count_files(dir), 1);
    ck_assert_int_eq(errno, EBADF);
    ck_assert_uint_eq(st.segments, 1); /* every segment but the last */
    ck_assert_uint_eq(st.segments_retired, nsegs - 1);
    q_sys_reset();
    /* The log still appends and reads after the segments it dropped. */
    ck_assert_int_eq(tq_append(log, n, MAXLEN), (int64_t)n);
    close_attached(log, loop, dir);
}
END_TEST

/* A roll since the chain in flight started: no second fsync beside it (the rolled segment's
 * rename and directory fsync belong to one chain); the waiter gets the next chain, which syncs
 * and publishes everything. */
START_TEST(no_second_fsync_across_a_roll)
{
    char dir[64];
    ev_loop *loop;
    q_log *log = open_attached(dir, &loop);
    q_commit_waiter w1, w2;
    uint64_t seen[4] = {0};
    ck_assert_int_eq(tq_append(log, 0, MAXLEN), 0);
    ck_assert_int_eq(q_log_commit_async(log, &w1, tq_count_cb, seen), 0);
    q_log_stats st;
    uint64_t n = 1;
    do {
        ck_assert_int_eq(tq_append(log, n, MAXLEN), (int64_t)n);
        n++;
        q_log_get_stats(log, &st);
    } while (st.segments < 2);
    ck_assert_int_eq(q_log_commit_async(log, &w2, tq_count_cb, seen), 0);
    ck_assert_uint_eq(log->nchains, 1);
    while (seen[0] < 2 || log->inflight) ck_assert_int_ge(ev_loop_run_once(loop, true), 0);
    ck_assert_uint_eq(seen[2], n);
    ck_assert_uint_eq(q_log_durable(log), n);
    q_log_get_stats(log, &st);
    ck_assert_uint_eq(st.commits_pipelined, 0);
    ck_assert(log->segs[1].published);
    close_attached(log, loop, dir);
}
END_TEST

START_TEST(async_failure_is_sticky)
{
    char dir[64];
    ev_loop *loop;
    q_log *log = open_attached(dir, &loop);
    /* The fsync fails like a disk would (EBADF here): every waiter learns it, and it sticks. */
    q_seg *tail = &log->segs[log->nsegs - 1];
    int real_fd = tail->fd;
    tail->fd = dup(real_fd);
    close(tail->fd);
    q_commit_waiter w1, w2;
    int st[3] = {0};
    ck_assert_int_eq(tq_append(log, 0, MAXLEN), 0);
    ck_assert_int_eq(q_log_commit_async(log, &w1, status_cb, st), 0);
    ck_assert_int_eq(tq_append(log, 1, MAXLEN), 1);
    ck_assert_int_eq(q_log_commit_async(log, &w2, status_cb, st), 0);
    while (st[0] < 2) ck_assert_int_ge(ev_loop_run_once(loop, true), 0);
    ck_assert_int_eq(st[1], -EBADF);
    ck_assert_int_eq(st[2], -EBADF);
    ck_assert_int_eq(q_log_failed(log), -EBADF);
    ck_assert_uint_eq(q_log_durable(log), 0);
    ck_assert_int_eq(tq_append(log, 2, MAXLEN), -EBADF);
    ck_assert_int_eq(q_log_commit_async(log, &w1, status_cb, st), -EBADF);
    ck_assert_int_eq(q_log_commit(log), -EBADF);
    /* The second, pipelined fsync may still run: close waits for it (-EBUSY until then). */
    for (int i = 0; i < 1000 && log->inflight; i++)
        ck_assert_int_ge(ev_loop_run_once(loop, true), 0);
    tail->fd = real_fd;
    close_attached(log, loop, dir);
}
END_TEST

/* The commit sequence counts the fsyncs that raised the synced end, and q_log_commit_seq_next
 * names the first commit that covers an append: with a chain in flight, the one after it. */
START_TEST(commit_seq_counts_fsyncs)
{
    char dir[64];
    ev_loop *loop;
    q_log *log = open_attached(dir, &loop);
    ck_assert_uint_eq(q_log_commit_seq(log), 0); /* a new log: the synced end, 0 */
    uint64_t seen[4] = {0};
    q_commit_waiter w1, w2;
    ck_assert_int_eq(tq_append(log, 0, MAXLEN), 0);
    ck_assert_uint_eq(q_log_commit_seq_next(log), 1);
    ck_assert_int_eq(q_log_commit_async(log, &w1, tq_count_cb, seen), 0);
    ck_assert_int_eq(tq_append(log, 1, MAXLEN), 1);
    ck_assert_uint_eq(q_log_commit_seq_next(log), 2); /* chain 1 started before it */
    ck_assert_int_eq(q_log_commit_async(log, &w2, tq_count_cb, seen), 0);
    ck_assert_uint_eq(q_log_commit_seq(log), 0); /* nothing completed yet */
    while (seen[0] < 2 || log->inflight) ck_assert_int_ge(ev_loop_run_once(loop, true), 0);
    ck_assert_uint_eq(q_log_commit_seq(log), 2);
    ck_assert_uint_eq(q_log_synced(log), 2);
    /* Nothing new: no commit, no count. */
    ck_assert_int_eq(q_log_commit_async(log, &w1, tq_count_cb, seen), 1);
    ck_assert_uint_eq(q_log_commit_seq(log), 2);
    close_attached(log, loop, dir);
}
END_TEST

/* q_log_commit_join (a consumer's acks): beside an fsync in flight it starts no second one; it
 * joins the next, which a producer's q_log_commit_async starts, or the completion of the one in
 * flight when no producer comes. With q_log_commit_async for the ack, three fsyncs ran here. */
START_TEST(join_rides_the_next_fsync_instead_of_pipelining)
{
    char dir[64];
    ev_loop *loop;
    q_log *log = open_attached(dir, &loop);
    uint64_t seen[6] = {0};
    q_commit_waiter w1, w2, w3, w4;
    ck_assert_int_eq(tq_append(log, 0, MAXLEN), 0);
    ck_assert_int_eq(q_log_commit_async(log, &w1, tq_count_cb, seen), 0); /* fsync 1 */
    ck_assert_int_eq(tq_append(log, 1, MAXLEN), 1);                       /* an ack record */
    ck_assert_int_eq(q_log_commit_join(log, &w2, tq_count_cb, seen), 0);
    ck_assert_uint_eq(log->nchains, 1);             /* no fsync beside fsync 1 for it */
    ck_assert_int_eq(tq_append(log, 2, MAXLEN), 2); /* a producer's record */
    ck_assert_int_eq(q_log_commit_async(log, &w3, tq_count_cb, seen), 0);
    ck_assert_uint_eq(log->nchains, 2); /* fsync 2 covers the ack and the producer's record */
    while (seen[0] < 3 || log->inflight) ck_assert_int_ge(ev_loop_run_once(loop, true), 0);
    ck_assert_uint_ge(seen[2], 2);
    ck_assert_uint_eq(seen[3], 3);
    q_log_stats st;
    q_log_get_stats(log, &st);
    ck_assert_uint_eq(st.fsyncs, 2);
    ck_assert_uint_eq(st.commits_pipelined, 1);
    /* Alone, with nothing in flight, a join gets its own fsync and is answered by it (right
     * after a completion that covered more, held first: Q_COMMIT_HOLD_US, test_q_commit_hold). */
    ck_assert_int_eq(tq_append(log, 3, MAXLEN), 3);
    ck_assert_int_eq(q_log_commit_join(log, &w4, tq_count_cb, seen), 0);
    ck_assert_uint_eq(log->nchains + ev_timer_armed(&log->timer), 1);
    ck_assert_uint_eq(seen[0], 3); /* never called inline */
    while (seen[0] < 4 || log->inflight) ck_assert_int_ge(ev_loop_run_once(loop, true), 0);
    ck_assert_uint_eq(q_log_durable(log), 4);
    q_log_get_stats(log, &st);
    ck_assert_uint_eq(st.fsyncs, 3);
    close_attached(log, loop, dir);
}
END_TEST

int main(void)
{
    tq_require_uring("test_q_commit");
    const TTest *tests[] = {always_1,
                            always_256,
                            interval_64,
                            never_16,
                            edge_cases,
                            second_fsync_starts_while_the_first_runs,
                            small_group_waits_for_the_chain_in_flight,
                            a_held_younger_chain_does_not_block_a_new_one,
                            no_second_fsync_across_a_roll,
                            retain_deletes_through_the_ring,
                            sync_async_publishes_under_never,
                            never_sync_runs_on_the_background_thread,
                            never_sync_failure_on_the_background_thread_sticks,
                            async_failure_is_sticky,
                            commit_seq_counts_fsyncs,
                            join_rides_the_next_fsync_instead_of_pipelining};
    return tq_run("q_commit", "commit", 60, tests, sizeof tests / sizeof tests[0]);
}
