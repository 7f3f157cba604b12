/* tests/unit/test_q_log_write: how appends reach the segment file (queue/q_log.c, "How records
 * reach the file"): staged in the log's memory, written by pwrite before anything can see them,
 * into segments that are mapped read-only. */
#include "test_q_util.h"
#include "ts_main.h"

#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/ev_reactor.h"
#include "queue/q_log_int.h" /* the stage and the segments, to look at the file under them */
#include "queue/q_segment.h"
#include "queue/q_sys.h"

#define SEG (4u * 1024u * 1024u)
#define MAXLEN 3000u                   /* payloads up to a few KiB: many records per stage */
#define BIG_LEN (200u * 1024u)         /* larger than the stage: written on its own */
#define STDERR_BYTES_MAX (64u * 1024u) /* log lines captured from one call */

static q_log *open_log(const char *dir, const char *policy)
{
    q_log_opts o;
    tq_opts(&o, SEG);
    ck_assert_int_eq(q_commit_policy_parse(policy, &o), 0);
    q_log *log;
    ck_assert_int_eq(q_log_open(dir, &o, &log, NULL), 0);
    return log;
}

/* Reads record `off`'s bytes from the file (pread: not through the mapping) and checks them
 * against the mapping's view, which q_log_read gives: the page cache holds the record. */
static void check_in_file(q_log *log, uint64_t off)
{
    q_rec r;
    ck_assert_int_eq(q_log_read(log, off, &r), 0);
    const q_seg *s = &log->segs[q_log_seg_of(log, off)];
    const uint8_t *rec = r.payload - Q_REC_HDR_BYTES;
    size_t span = q_rec_span(r.len);
    uint8_t *buf = malloc(span);
    ck_assert_ptr_nonnull(buf);
    ck_assert_int_eq(pread(s->fd, buf, span, rec - s->map), (ssize_t)span);
    ck_assert(memcmp(buf, rec, span) == 0);
    free(buf);
}

/* Every read path sees a record right after its append, with nothing else in between: the read
 * writes what is staged (a read of a staged offset through the read-only mapping would find the
 * zeros of a preallocated block). */
START_TEST(a_record_is_readable_at_once_through_every_read_path)
{
    char dir[64];
    tq_mkdtemp(dir);
    q_log *log = open_log(dir, "always");
    q_rec r;
    /* q_log_read */
    for (uint64_t off = 0; off < 40; off++) {
        ck_assert_int_eq(tq_append(log, off, MAXLEN), (int64_t)off);
        ck_assert_uint_gt(log->stage_len, 0); /* staged, not written yet */
        ck_assert_int_eq(q_log_read(log, off, &r), 0);
        tq_check_rec(&r, off, MAXLEN);
        ck_assert_uint_eq(log->stage_len, 0);
    }
    /* q_iter_next, forward from an iterator placed before the appends */
    q_iter it;
    q_iter_init(&it, log, 40, false);
    for (uint64_t off = 40; off < 80; off++) {
        ck_assert_int_eq(tq_append(log, off, MAXLEN), (int64_t)off);
        ck_assert_int_eq(q_iter_next(&it, &r), 1);
        tq_check_rec(&r, off, MAXLEN);
    }
    ck_assert_int_eq(q_iter_next(&it, &r), 0);
    /* q_log_compact of a staged record: its copy is staged too, and readable */
    ck_assert_int_eq(tq_append(log, 80, MAXLEN), 80);
    ck_assert_int_eq(q_log_compact(log, 80), 81);
    ck_assert_int_eq(q_log_read(log, 81, &r), 0);
    ck_assert_uint_eq(r.len, tq_len(80, MAXLEN));
    /* a record larger than the stage, behind staged ones */
    ck_assert_int_eq(tq_append(log, 82, MAXLEN), 82);
    static uint8_t big[BIG_LEN];
    memset(big, 0xab, sizeof big);
    ck_assert_int_eq(q_log_append(log, 7, big, sizeof big), 83);
    ck_assert_int_eq(q_log_read(log, 82, &r), 0);
    tq_check_rec(&r, 82, MAXLEN);
    ck_assert_int_eq(q_log_read(log, 83, &r), 0);
    ck_assert_uint_eq(r.len, BIG_LEN);
    ck_assert(memcmp(r.payload, big, BIG_LEN) == 0);
    for (uint64_t off = 0; off < 84; off++) check_in_file(log, off);
    ck_assert_int_eq(q_log_close(log), 0);
    tq_rmdir(dir);
}
END_TEST

/* Under --fsync never the answer to an append leaves as soon as q_log_commit_async says
 * "durable" (1), and a MEMORY/WRITTEN Enqueue is answered at once under every policy: the answer
 * leaves the process at the loop's next submit, or goes to another shard at the mesh's next
 * publish. The records must be in the page cache by then, so that a SIGKILL right after the
 * answer keeps them. The child appends, gets 1, "answers" (_i: 0 a submit, 1 the mesh's
 * ev_presubmit_run_current), reports the offsets and is killed before anything else runs; the
 * reopened log holds every reported record. */
START_TEST(an_answered_append_survives_a_sigkill)
{
    char dir[64];
    tq_mkdtemp(dir);
    int pfd[2];
    ck_assert_int_eq(pipe(pfd), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        ev_loop *loop = ts_loop_create();
        q_log *log = open_log(dir, "never");
        if (q_log_attach(log, loop) != 0) _exit(2);
        if (ev_loop_run_once(loop, false) < 0) _exit(6); /* this thread runs the loop */
        uint64_t n = 0;
        for (int batch = 0; batch < 5; batch++) {
            for (int i = 0; i < 7; i++, n++)
                if (tq_append(log, n, MAXLEN) != (int64_t)n) _exit(3);
            q_commit_waiter w;
            if (q_log_commit_async(log, &w, tq_count_cb, NULL) != 1) _exit(4);
        }
        if (_i == 0 && ev_loop_flush(loop) != 0) _exit(7);
        if (_i == 1) ev_presubmit_run_current();
        if (write(pfd[1], &n, sizeof n) != (ssize_t)sizeof n) _exit(5);
        for (;;) pause();
    }
    close(pfd[1]);
    uint64_t n = 0;
    ck_assert_int_eq(read(pfd[0], &n, sizeof n), (ssize_t)sizeof n);
    close(pfd[0]);
    ck_assert_int_eq(kill(pid, SIGKILL), 0);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFSIGNALED(status));
    ck_assert_uint_eq(n, 35);
    q_log *log = open_log(dir, "never");
    ck_assert_uint_eq(q_log_next(log), n);
    q_rec r;
    for (uint64_t off = 0; off < n; off++) {
        ck_assert_int_eq(q_log_read(log, off, &r), 0);
        tq_check_rec(&r, off, MAXLEN);
    }
    ck_assert_int_eq(q_log_close(log), 0);
    tq_rmdir(dir);
}
END_TEST

/* The permissions of the mapping that contains `addr`, from /proc/self/maps ("r--s"). */
static void map_perms(const void *addr, char perms[5])
{
    FILE *f = fopen("/proc/self/maps", "r");
    ck_assert_ptr_nonnull(f);
    char line[512];
    perms[0] = 0;
    uintptr_t a = (uintptr_t)addr;
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        char p[5];
        if (sscanf(line, "%lx-%lx %4s", &lo, &hi, p) == 3 && a >= lo && a < hi) {
            memcpy(perms, p, 5);
            break;
        }
    }
    fclose(f);
}

/* Every segment is mapped read-only, the one being appended to too (and the one a roll takes
 * from the spare): writeback then never has to write-protect its pages again. */
START_TEST(segments_are_mapped_read_only)
{
    char dir[64];
    tq_mkdtemp(dir);
    q_log *log = open_log(dir, "always");
    uint64_t off = 0;
    while (log->nsegs < 3) {
        ck_assert_int_eq(tq_append(log, off, MAXLEN), (int64_t)off);
        off++;
    }
    ck_assert_int_eq(q_log_commit(log), 0);
    for (uint32_t i = 0; i < log->nsegs; i++) {
        char perms[5];
        map_perms(log->segs[i].map, perms);
        ck_assert_str_eq(perms, "r--s");
    }
    ck_assert_int_eq(q_log_close(log), 0);
    /* Reopened for appends (recovery's tail): still read-only. */
    log = open_log(dir, "always");
    char perms[5];
    map_perms(log->segs[log->nsegs - 1].map, perms);
    ck_assert_str_eq(perms, "r--s");
    ck_assert_int_eq(tq_append(log, off, MAXLEN), (int64_t)off);
    ck_assert_int_eq(q_log_commit(log), 0);
    ck_assert_int_eq(q_log_close(log), 0);
    tq_rmdir(dir);
}
END_TEST

static int pwrite_fails_errno;
static size_t pwrite_short_bytes; /* > 0: the first call writes this much, the next fails */

static ssize_t failing_pwrite(int fd, const void *buf, size_t n, off_t off)
{
    if (pwrite_short_bytes > 0 && n > pwrite_short_bytes) {
        size_t k = pwrite_short_bytes;
        pwrite_short_bytes = 0;
        return pwrite(fd, buf, k, off);
    }
    errno = pwrite_fails_errno;
    return -1;
}

/* Runs fn(log) with stderr captured into out (NUL-terminated). */
static int captured(int (*fn)(q_log *), q_log *log, char *out, size_t cap)
{
    fflush(stderr);
    FILE *tmp = tmpfile();
    ck_assert_ptr_nonnull(tmp);
    int saved = dup(2);
    ck_assert_int_ge(saved, 0);
    ck_assert_int_ge(dup2(fileno(tmp), 2), 0);
    int r = fn(log);
    fflush(stderr);
    ck_assert_int_ge(dup2(saved, 2), 0);
    close(saved);
    rewind(tmp);
    size_t k = fread(out, 1, cap - 1, tmp);
    out[k] = 0;
    fclose(tmp);
    return r;
}

static int read_first_staged(q_log *log)
{
    q_rec r;
    return q_log_read(log, log->flushed, &r);
}

/* A write that fails (EIO, or a short write then ENOSPC) fails the log as a failed fdatasync
 * does: sticky, logged with the file and the position, and the staged records are never handed
 * out (their reads return the error), nor is anything after them appended. */
static void check_failed_write(int err, size_t short_bytes)
{
    char dir[64];
    tq_mkdtemp(dir);
    q_log *log = open_log(dir, "always");
    for (uint64_t off = 0; off < 3; off++) ck_assert_int_eq(tq_append(log, off, MAXLEN), off);
    ck_assert_int_eq(q_log_commit(log), 0);
    for (uint64_t off = 3; off < 9; off++) ck_assert_int_eq(tq_append(log, off, MAXLEN), off);
    uint32_t pos = log->segs[0].used - log->stage_len;
    pwrite_fails_errno = err;
    pwrite_short_bytes = short_bytes;
    q_sys.pwrite = failing_pwrite;
    static char out[STDERR_BYTES_MAX];
    ck_assert_int_eq(captured(read_first_staged, log, out, sizeof out), -err);
    q_sys_reset();
    char want[128];
    snprintf(want, sizeof want, "segment=" Q_SEG_NAME_FMT " offset=%u", (uint64_t)0, pos);
    ck_assert_msg(strstr(out, "log append write failed") && strstr(out, want),
                  "no line naming %s in: %s", want, out);
    ck_assert_int_eq(q_log_failed(log), -err);
    q_rec r;
    ck_assert_int_eq(q_log_read(log, 2, &r), 0); /* written before: still there */
    for (uint64_t off = 3; off < 9; off++) ck_assert_int_eq(q_log_read(log, off, &r), -err);
    ck_assert_int_eq(tq_append(log, 9, MAXLEN), -err);
    ck_assert_int_eq(q_log_commit(log), -err);
    ck_assert_uint_eq(q_log_durable(log), 3);
    ck_assert_int_eq(q_log_close(log), 0);
    /* Recovery keeps what was written whole and cuts the rest. */
    log = open_log(dir, "always");
    ck_assert_uint_ge(q_log_next(log), 3);
    for (uint64_t off = 0; off < q_log_next(log); off++) {
        ck_assert_int_eq(q_log_read(log, off, &r), 0);
        tq_check_rec(&r, off, MAXLEN);
    }
    ck_assert_int_eq(q_log_close(log), 0);
    tq_rmdir(dir);
}

START_TEST(a_failed_write_fails_the_log) { check_failed_write(EIO, 0); }
END_TEST

START_TEST(a_short_write_then_enospc_fails_the_log) { check_failed_write(ENOSPC, 100); }
END_TEST

int main(void)
{
    if (ts_io_uring_or_skip() != 0) return 77;
    Suite *s = suite_create("q_log_write");
    TCase *tc = tcase_create("write");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, a_record_is_readable_at_once_through_every_read_path);
    tcase_add_loop_test(tc, an_answered_append_survives_a_sigkill, 0, 2);
    tcase_add_test(tc, segments_are_mapped_read_only);
    tcase_add_test(tc, a_failed_write_fails_the_log);
    tcase_add_test(tc, a_short_write_then_enospc_fails_the_log);
    suite_add_tcase(s, tc);
    return ts_run_suite(s);
}
