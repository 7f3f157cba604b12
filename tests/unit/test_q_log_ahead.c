/* queue/q_log: segment work off the log's thread when it runs on a loop (issue 19, the shard's
 * long on-CPU turns): the next segment's file made ahead by the background thread
 * (q_log_spare.c) and taken by the roll, a leftover spare deleted at open (also after a SIGKILL),
 * and a retired segment's mapping unmapped by the background thread. Each checks the thread
 * the system calls ran on (q_sys hooks that fail on the test's thread), not wall clock. Skips
 * (exit 77) when io_uring is unusable here. */
#include "test_q_util.h"
#include "ts_main.h" /* ts_loop_create */

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "core/ev_reactor.h"
#include "core/rt_bg.h"
#include "core/rt_clock.h"
#include "queue/q_log_int.h" /* the spare's state, to wait for it */
#include "queue/q_segment.h"
#include "queue/q_sys.h"

#define MAXLEN 16384u
#define SEG (4u * 1024u * 1024u)
#define WAIT_NS (10ull * RT_NS_PER_S) /* a condition polled for at most this long */

static pthread_t test_thread;
static atomic_uint off_thread_munmaps;

static int openat_off_thread(int dirfd, const char *path, int flags, mode_t mode)
{
    ck_assert_msg(!pthread_equal(pthread_self(), test_thread), "%s opened on the log's thread",
                  path);
    return openat(dirfd, path, flags, mode);
}

static int ftruncate_off_thread(int fd, off_t len)
{
    ck_assert_msg(!pthread_equal(pthread_self(), test_thread), "ftruncate on the log's thread");
    return ftruncate(fd, len);
}

static int munmap_off_thread(void *addr, size_t len)
{
    ck_assert_msg(!pthread_equal(pthread_self(), test_thread), "munmap on the log's thread");
    atomic_fetch_add(&off_thread_munmaps, 1);
    return munmap(addr, len);
}

static q_log *open_log(const char *dir, ev_loop *loop)
{
    q_log_opts o;
    tq_opts(&o, SEG);
    ck_assert_int_eq(q_commit_policy_parse("never", &o), 0);
    q_log *log;
    ck_assert_int_eq(q_log_open(dir, &o, &log, NULL), 0);
    if (loop) ck_assert_int_eq(q_log_attach(log, loop), 0);
    return log;
}

/* Lets the loop finish an allocation step in flight, and the background thread a spare. */
static void settle(q_log *log, ev_loop *loop)
{
    while (log->growing) ck_assert_int_ge(ev_loop_run_once(loop, true), 0);
    uint64_t until = rt_now_ns() + WAIT_NS;
    while (log->spare.state == Q_SPARE_MAKING && !rt_bg_done(&log->spare.job))
        ck_assert_msg(rt_now_ns() < until, "the spare was not made in time");
}

static bool spare_file(const char *dir)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, Q_SEG_SPARE_NAME);
    return access(path, F_OK) == 0;
}

static void check_all(q_log *log, uint64_t to)
{
    for (uint64_t off = q_log_oldest(log); off < to; off++) {
        q_rec r;
        ck_assert_int_eq(q_log_read(log, off, &r), 0);
        tq_check_rec(&r, off, MAXLEN);
    }
}

/* Appends records from *off on (each checked, *off advanced) until the log has `nsegs`
 * segments, settling the loop after each. */
static void append_to_segs(q_log *log, ev_loop *loop, uint64_t *off, uint32_t nsegs)
{
    while (log->nsegs < nsegs) {
        ck_assert_int_eq(tq_append(log, *off, MAXLEN), (int64_t)*off);
        (*off)++;
        settle(log, loop);
    }
}

/* The log made `ahead` segments from a spare and `inl` on its own thread. */
static void assert_made(q_log *log, uint64_t ahead, uint64_t inl)
{
    q_log_stats st;
    q_log_get_stats(log, &st);
    ck_assert_uint_eq(st.segments_made_ahead, ahead);
    ck_assert_uint_eq(st.segments_made_inline, inl);
}

/* Closes log, then destroys loop (when not NULL) and removes dir. */
static void close_all(q_log *log, ev_loop *loop, const char *dir)
{
    ck_assert_int_eq(q_log_close(log), 0);
    if (loop) ev_loop_destroy(loop);
    tq_rmdir(dir);
}

/* Every roll of a log on a loop goes into a file the background thread made: the log's thread
 * never creates (openat) or sizes (ftruncate) a segment file. */
START_TEST(rolls_take_the_spare_made_ahead)
{
    char dir[64];
    tq_mkdtemp(dir);
    ev_loop *loop = ts_loop_create();
    q_log *log = open_log(dir, loop);
    test_thread = pthread_self();
    q_sys.openat = openat_off_thread;
    q_sys.ftruncate = ftruncate_off_thread;
    uint64_t off = 0;
    append_to_segs(log, loop, &off, 4);
    q_sys_reset();
    assert_made(log, 3, 0);
    check_all(log, off);
    ck_assert_int_eq(q_log_commit(log), 0);
    ck_assert_int_eq(q_log_close(log), 0);
    ck_assert(!spare_file(dir)); /* close deletes a spare not taken */
    log = open_log(dir, NULL);
    ck_assert_uint_eq(q_log_next(log), off);
    check_all(log, off);
    close_all(log, loop, dir);
}
END_TEST

/* A spare still being made at the roll is not waited for: the roll creates its segment on the
 * log's thread (counted), and the records are all there. Without a loop no spare is made. */
START_TEST(without_a_spare_the_roll_creates_its_segment)
{
    char dir[64];
    tq_mkdtemp(dir);
    q_log *log = open_log(dir, NULL);
    uint64_t off = 0;
    while (log->nsegs < 3) {
        ck_assert_int_eq(tq_append(log, off, MAXLEN), (int64_t)off);
        off++;
        ck_assert_int_eq(log->spare.state, Q_SPARE_NONE);
    }
    assert_made(log, 0, 2);
    check_all(log, off);
    close_all(log, NULL, dir);
}
END_TEST

static atomic_uint spare_truncates;

/* The background thread's ftruncate finds the disk full; the log's thread's succeeds. */
static int ftruncate_full(int fd, off_t len)
{
    if (pthread_equal(pthread_self(), test_thread)) return ftruncate(fd, len);
    atomic_fetch_add(&spare_truncates, 1);
    errno = ENOSPC;
    return -1;
}

/* A spare that cannot be made (a full disk) is tried once per segment, not after every append;
 * the roll then creates its segment on the log's thread, and nothing is lost. */
START_TEST(a_failed_spare_is_not_retried_before_the_roll)
{
    char dir[64];
    tq_mkdtemp(dir);
    ev_loop *loop = ts_loop_create();
    q_log *log = open_log(dir, loop);
    atomic_store(&spare_truncates, 0);
    test_thread = pthread_self();
    q_sys.ftruncate = ftruncate_full;
    uint64_t off = 0;
    while (log->nsegs < 2) {
        ck_assert_int_eq(tq_append(log, off, MAXLEN), (int64_t)off);
        off++;
        settle(log, loop);
        if (log->nsegs == 1) ck_assert_uint_le(atomic_load(&spare_truncates), 1);
    }
    q_sys_reset();
    ck_assert_uint_eq(atomic_load(&spare_truncates), 1);
    ck_assert(!spare_file(dir)); /* the failed job left nothing */
    assert_made(log, 0, 1);
    check_all(log, off);
    close_all(log, loop, dir);
}
END_TEST

/* The spare is no segment: a process killed with a spare ready leaves a file that recovery does
 * not read and that the next open deletes; every record appended is there. */
START_TEST(a_spare_left_by_a_sigkill_is_deleted_at_open)
{
    char dir[64];
    tq_mkdtemp(dir);
    int pfd[2];
    ck_assert_int_eq(pipe(pfd), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        ev_loop *loop = ts_loop_create();
        q_log *log = open_log(dir, loop);
        uint64_t off = 0;
        while (log->spare.state != Q_SPARE_READY) {
            if (tq_append(log, off, MAXLEN) != (int64_t)off) _exit(2);
            off++;
            settle(log, loop);
            q_log_spare_ahead(log); /* picks up the finished job */
        }
        if (write(pfd[1], &off, sizeof off) != (ssize_t)sizeof off) _exit(3);
        for (;;) pause();
    }
    close(pfd[1]);
    uint64_t n = 0;
    ck_assert_int_eq(read(pfd[0], &n, sizeof n), (ssize_t)sizeof n);
    close(pfd[0]);
    ck_assert(spare_file(dir));
    ck_assert_int_eq(kill(pid, SIGKILL), 0);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFSIGNALED(status));
    q_log *log = open_log(dir, NULL);
    ck_assert(!spare_file(dir));
    ck_assert_uint_eq(q_log_next(log), n); /* --fsync never: the page cache kept them */
    check_all(log, n);
    close_all(log, NULL, dir);
}
END_TEST

/* Retention on a loop: the retired segments' mappings are unmapped by the background thread,
 * never by the log's (munmap of a written 64 MiB segment took the shard 1-4 ms). */
START_TEST(retired_mappings_unmap_off_the_loop_thread)
{
    char dir[64];
    tq_mkdtemp(dir);
    ev_loop *loop = ts_loop_create();
    q_log *log = open_log(dir, loop);
    uint64_t off = 0;
    append_to_segs(log, loop, &off, 4);
    ck_assert_int_eq(q_log_commit(log), 0); /* publishes the rolled segments */
    test_thread = pthread_self();
    atomic_store(&off_thread_munmaps, 0);
    q_sys.munmap = munmap_off_thread;
    ck_assert_int_eq(q_log_retain(log, off), 0);
    q_log_stats st;
    do {
        ck_assert_int_ge(ev_loop_run_once(loop, true), 0);
        q_log_get_stats(log, &st);
    } while (st.retiring);
    ck_assert_uint_eq(st.segments_retired, 3);
    uint64_t until = rt_now_ns() + WAIT_NS;
    while (atomic_load(&off_thread_munmaps) < 3) ck_assert(rt_now_ns() < until);
    q_sys_reset();
    check_all(log, off);
    ck_assert_int_eq(tq_append(log, off, MAXLEN), (int64_t)off);
    close_all(log, loop, dir);
}
END_TEST

int main(void)
{
    tq_require_uring("test_q_log_ahead");
    const TTest *tests[] = {
        rolls_take_the_spare_made_ahead, without_a_spare_the_roll_creates_its_segment,
        a_failed_spare_is_not_retried_before_the_roll, a_spare_left_by_a_sigkill_is_deleted_at_open,
        retired_mappings_unmap_off_the_loop_thread};
    return tq_run("q_log_ahead", "ahead", 60, tests, sizeof tests / sizeof tests[0]);
}
