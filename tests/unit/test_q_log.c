/* queue/q_log: appends, reads, rolls, index, reopen, retention, compaction, limits, faults. */
#include "test_q_util.h"

#include <sys/uio.h>

#include "queue/q_log_int.h"
#include "queue/q_sys.h"

#define SEG (64u * 1024u) /* small segments: many rolls */
#define MAXLEN 600u

static void fill_log(q_log *log, uint64_t from, uint64_t n)
{
    for (uint64_t off = from; off < from + n; off++)
        ck_assert_int_eq(tq_append(log, off, MAXLEN), (int64_t)off);
}

static void check_all(q_log *log, uint64_t from, uint64_t to)
{
    for (uint64_t off = from; off < to; off++) {
        q_rec r;
        ck_assert_int_eq(q_log_read(log, off, &r), 0);
        tq_check_rec(&r, off, MAXLEN);
        ck_assert_uint_eq(r.type, off & 0xffff);
        ck_assert_uint_eq(r.id, off);
    }
}

START_TEST(round_trip)
{
    char dir[64];
    tq_mkdtemp(dir);
    q_log_opts o;
    tq_opts(&o, SEG);
    q_log *log;
    ck_assert_int_eq(q_log_open(dir, &o, &log, NULL), 0);
    ck_assert_uint_eq(q_log_next(log), 0);
    fill_log(log, 0, 10);
    ck_assert_uint_eq(q_log_durable(log), 0);
    check_all(log, 0, 10);
    ck_assert_int_eq(q_log_commit(log), 0);
    ck_assert_uint_eq(q_log_durable(log), 10);
    q_rec r;
    ck_assert_int_eq(q_log_read(log, 10, &r), -ERANGE);
    /* vectored append and an empty payload */
    struct iovec iov[3] = {{"ab", 2}, {"", 0}, {"cde", 3}};
    ck_assert_int_eq(q_log_appendv(log, 7, iov, 3), 10);
    ck_assert_int_eq(q_log_read(log, 10, &r), 0);
    ck_assert_uint_eq(r.len, 5);
    ck_assert(memcmp(r.payload, "abcde", 5) == 0);
    ck_assert_uint_eq(r.type, 7);
    ck_assert_int_eq(q_log_append(log, 8, NULL, 0), 11);
    ck_assert_int_eq(q_log_read(log, 11, &r), 0);
    ck_assert_uint_eq(r.len, 0);
    ck_assert_int_eq(q_log_close(log), 0);
    tq_rmdir(dir);
}
END_TEST

START_TEST(roll_index_reopen)
{
    char dir[64];
    tq_mkdtemp(dir);
    q_log_opts o;
    tq_opts(&o, SEG);
    o.first_offset = 1000;
    q_log *log;
    ck_assert_int_eq(q_log_open(dir, &o, &log, NULL), 0);
    ck_assert_uint_eq(q_log_next(log), 1000);
    fill_log(log, 1000, 3000);
    q_log_stats st;
    q_log_get_stats(log, &st);
    ck_assert_uint_gt(st.segments, 10);
    ck_assert_int_eq(tq_count_files(dir), 1); /* rolled segments are published by a commit */
    ck_assert_int_eq(q_log_commit(log), 0);
    ck_assert_int_eq(tq_count_files(dir), (int)st.segments);
    check_all(log, 1000, 4000);
    /* Lookups in reverse and random order exercise the index, not just the iterator. */
    for (uint64_t off = 3999; off >= 1000; off -= 7) {
        q_rec r;
        ck_assert_int_eq(q_log_read(log, off, &r), 0);
        tq_check_rec(&r, off, MAXLEN);
    }
    ck_assert_int_eq(q_log_commit(log), 0);
    ck_assert_int_eq(q_log_close(log), 0);

    ck_assert_int_eq(q_log_open(dir, &o, &log, NULL), 0);
    ck_assert_uint_eq(q_log_oldest(log), 1000);
    ck_assert_uint_eq(q_log_next(log), 4000);
    ck_assert_uint_eq(q_log_durable(log), 4000);
    check_all(log, 1000, 4000);
    q_iter it;
    q_iter_init(&it, log, 1000, false);
    q_rec r;
    uint64_t n = 1000;
    int k;
    while ((k = q_iter_next(&it, &r)) == 1) tq_check_rec(&r, n++, MAXLEN);
    ck_assert_int_eq(k, 0);
    ck_assert_uint_eq(n, 4000);
    /* appends after reopen continue the sequence */
    fill_log(log, 4000, 100);
    ck_assert_int_eq(q_iter_next(&it, &r), 1);
    ck_assert_uint_eq(r.offset, 4000);
    ck_assert_int_eq(q_log_close(log), 0);
    tq_rmdir(dir);
}
END_TEST

static uint64_t g_durable_seen;
static void on_durable(q_log *log, void *ud, uint64_t durable)
{
    (void)log;
    *(int *)ud += 1;
    g_durable_seen = durable;
}

START_TEST(tail_reader)
{
    char dir[64];
    tq_mkdtemp(dir);
    q_log_opts o;
    tq_opts(&o, SEG);
    q_log *log;
    ck_assert_int_eq(q_log_open(dir, &o, &log, NULL), 0);
    int calls = 0;
    q_log_on_durable(log, on_durable, &calls);
    q_iter tail;
    q_iter_init(&tail, log, 0, true);
    q_rec r;
    fill_log(log, 0, 300);
    ck_assert_int_eq(q_iter_next(&tail, &r), 0); /* nothing durable yet */
    ck_assert_int_eq(q_log_commit(log), 0);
    ck_assert_int_eq(calls, 1);
    ck_assert_uint_eq(g_durable_seen, 300);
    ck_assert_int_eq(q_log_commit(log), 0); /* nothing new: no callback */
    ck_assert_int_eq(calls, 1);
    for (uint64_t off = 0; off < 300; off++) {
        ck_assert_int_eq(q_iter_next(&tail, &r), 1);
        tq_check_rec(&r, off, MAXLEN);
    }
    ck_assert_int_eq(q_iter_next(&tail, &r), 0);
    fill_log(log, 300, 5);
    ck_assert_int_eq(q_iter_next(&tail, &r), 0);
    ck_assert_int_eq(q_log_commit(log), 0);
    ck_assert_int_eq(q_iter_next(&tail, &r), 1);
    ck_assert_uint_eq(r.offset, 300);
    ck_assert_int_eq(q_log_close(log), 0);
    tq_rmdir(dir);
}
END_TEST

START_TEST(retention_and_compaction)
{
    char dir[64];
    tq_mkdtemp(dir);
    q_log_opts o;
    tq_opts(&o, SEG);
    q_log *log;
    ck_assert_int_eq(q_log_open(dir, &o, &log, NULL), 0);
    /* One live record (offset 5) among many dead ones; the rest are acked at once. */
    uint64_t live = 5;
    q_iter old_it;
    q_iter_init(&old_it, log, 0, false);
    for (int round = 0; round < 40; round++) {
        uint64_t base = q_log_next(log);
        fill_log(log, base, 150);
        /* The live record pins the oldest segment: compact it forward, then retain. */
        uint64_t pinned = q_log_oldest_segment_end(log);
        if (live < pinned && q_log_next(log) > pinned) {
            q_rec before;
            ck_assert_int_eq(q_log_read(log, live, &before), 0);
            uint32_t len = before.len;
            uint64_t id = before.id, ts = before.ts_ns;
            uint16_t type = before.type;
            uint8_t copy[MAXLEN];
            memcpy(copy, before.payload, len);
            int64_t moved = q_log_compact(log, live);
            ck_assert_int_ge(moved, 0);
            q_rec after;
            ck_assert_int_eq(q_log_read(log, (uint64_t)moved, &after), 0);
            ck_assert_uint_eq(after.id, id);
            ck_assert_uint_eq(after.id, 5);
            ck_assert_uint_eq(after.ts_ns, ts);
            ck_assert_uint_eq(after.type, type);
            ck_assert_uint_eq(after.flags & Q_REC_F_COMPACTED, Q_REC_F_COMPACTED);
            ck_assert_uint_eq(after.len, len);
            ck_assert(memcmp(after.payload, copy, len) == 0);
            live = (uint64_t)moved;
        }
        ck_assert_int_ge(q_log_retain(log, live), 0);
        q_log_stats st;
        q_log_get_stats(log, &st);
        ck_assert_uint_le(st.segments, 4); /* nothing is deleted past the last commit */
        ck_assert_int_eq(q_log_commit(log), 0);
        ck_assert_int_ge(q_log_retain(log, live), 0);
        q_log_get_stats(log, &st);
        /* Disk use tracks live data: the live record and the head, not the history. */
        ck_assert_uint_le(st.segments, 3);
        ck_assert_uint_le(q_log_oldest(log), live);
    }
    ck_assert_uint_gt(q_log_oldest(log), 0);
    q_rec r;
    ck_assert_int_eq(q_log_read(log, 0, &r), -ERANGE);
    ck_assert_int_eq(q_iter_next(&old_it, &r), -ERANGE); /* it fell behind retention */
    ck_assert_int_eq(q_log_read(log, live, &r), 0);
    ck_assert_uint_eq(r.id, 5);
    ck_assert_int_eq(q_log_commit(log), 0);
    uint64_t oldest = q_log_oldest(log), next = q_log_next(log);
    ck_assert_int_eq(q_log_close(log), 0);
    ck_assert_int_eq(q_log_open(dir, &o, &log, NULL), 0);
    ck_assert_uint_eq(q_log_oldest(log), oldest);
    ck_assert_uint_eq(q_log_next(log), next);
    ck_assert_int_eq(q_log_read(log, live, &r), 0);
    ck_assert_uint_eq(r.id, 5);
    ck_assert_int_eq(q_log_close(log), 0);
    tq_rmdir(dir);
}
END_TEST

START_TEST(max_record_size)
{
    char dir[64];
    tq_mkdtemp(dir);
    q_log_opts o;
    q_log_opts_default(&o); /* 64 MiB segments, 4 MiB records */
    o.segment_bytes = 9u * 1024u * 1024u;
    q_log *log;
    ck_assert_int_eq(q_log_open(dir, &o, &log, NULL), 0);
    uint32_t max = Q_RECORD_BYTES_DEFAULT;
    uint8_t *big = malloc(max + 1);
    for (uint32_t i = 0; i <= max; i++) big[i] = (uint8_t)(i * 31);
    ck_assert_int_eq(q_log_append(log, 1, big, max + 1), -EMSGSIZE);
    ck_assert_uint_eq(q_log_next(log), 0);
    for (int i = 0; i < 3; i++) ck_assert_int_eq(q_log_append(log, 1, big, max), i); /* rolls */
    ck_assert_int_eq(q_log_commit(log), 0);
    ck_assert_int_eq(q_log_close(log), 0);
    ck_assert_int_eq(q_log_open(dir, &o, &log, NULL), 0);
    ck_assert_uint_eq(q_log_next(log), 3);
    for (uint64_t i = 0; i < 3; i++) {
        q_rec r;
        ck_assert_int_eq(q_log_read(log, i, &r), 0);
        ck_assert_uint_eq(r.len, max);
        ck_assert(memcmp(r.payload, big, max) == 0);
    }
    ck_assert_int_eq(q_log_close(log), 0);
    /* A record limit that cannot fit a segment is refused up front. */
    o.record_bytes_max = o.segment_bytes;
    ck_assert_int_eq(q_log_open(dir, &o, &log, NULL), -EINVAL);
    free(big);
    tq_rmdir(dir);
}
END_TEST

static int fail_fallocate(int fd, int mode, off_t off, off_t len)
{
    (void)fd;
    (void)mode;
    (void)off;
    (void)len;
    errno = ENOSPC;
    return -1;
}

START_TEST(full_disk)
{
    char dir[64];
    tq_mkdtemp(dir);
    q_log_opts o;
    tq_opts(&o, SEG);
    q_log *log;
    q_sys.fallocate = fail_fallocate;
    ck_assert_int_eq(q_log_open(dir, &o, &log, NULL), -ENOSPC); /* first segment */
    q_sys_reset();
    ck_assert_int_eq(tq_count_files(dir), 0);
    ck_assert_int_eq(q_log_open(dir, &o, &log, NULL), 0);
    uint64_t off = 0;
    q_sys.fallocate = fail_fallocate;
    /* Find the append that needs a roll: it fails cleanly, nothing appended. */
    int64_t r;
    while ((r = tq_append(log, off, MAXLEN)) >= 0) off++;
    ck_assert_int_eq(r, -ENOSPC);
    ck_assert_uint_eq(q_log_next(log), off);
    ck_assert_int_eq(q_log_failed(log), 0);
    ck_assert_int_eq(q_log_commit(log), 0);
    ck_assert_int_eq(tq_count_files(dir), 1);
    q_sys_reset();
    /* Space is back: the same append goes through and the log rolls. */
    ck_assert_int_eq(tq_append(log, off, MAXLEN), (int64_t)off);
    ck_assert_int_eq(tq_count_files(dir), 1); /* the new segment is published by a commit */
    ck_assert_int_eq(q_log_commit(log), 0);
    ck_assert_int_eq(tq_count_files(dir), 2);
    check_all(log, 0, off + 1);
    ck_assert_int_eq(q_log_close(log), 0);
    ck_assert_int_eq(q_log_open(dir, &o, &log, NULL), 0);
    ck_assert_uint_eq(q_log_next(log), off + 1);
    ck_assert_int_eq(q_log_close(log), 0);
    tq_rmdir(dir);
}
END_TEST

static int fail_fdatasync(int fd)
{
    (void)fd;
    errno = EIO;
    return -1;
}

START_TEST(fsync_error_is_sticky)
{
    char dir[64];
    tq_mkdtemp(dir);
    q_log_opts o;
    tq_opts(&o, SEG);
    q_log *log;
    ck_assert_int_eq(q_log_open(dir, &o, &log, NULL), 0);
    fill_log(log, 0, 3);
    q_sys.fdatasync = fail_fdatasync;
    ck_assert_int_eq(q_log_commit(log), -EIO);
    q_sys_reset();
    ck_assert_uint_eq(q_log_durable(log), 0);
    ck_assert_int_eq(q_log_failed(log), -EIO);
    ck_assert_int_eq(q_log_commit(log), -EIO);
    ck_assert_int_eq(tq_append(log, 3, MAXLEN), -EIO);
    ck_assert_int_eq(q_log_close(log), 0);
    tq_rmdir(dir);
}
END_TEST

START_TEST(one_writer_and_read_only)
{
    char dir[64];
    tq_mkdtemp(dir);
    q_log_opts o;
    tq_opts(&o, SEG);
    q_log *a, *b;
    ck_assert_int_eq(q_log_open(dir, &o, &a, NULL), 0);
    fill_log(a, 0, 50);
    ck_assert_int_eq(q_log_commit(a), 0);
    ck_assert_int_eq(q_log_open(dir, &o, &b, NULL), -EBUSY);
    o.read_only = true;
    ck_assert_int_eq(q_log_open(dir, &o, &b, NULL), 0);
    ck_assert_uint_eq(q_log_next(b), 50);
    check_all(b, 0, 50);
    ck_assert_int_eq(tq_append(b, 50, MAXLEN), -EROFS);
    ck_assert_int_eq(q_log_close(b), 0);
    ck_assert_int_eq(q_log_close(a), 0);
    o.no_create = true;
    o.read_only = false;
    ck_assert_int_eq(q_log_open("/tmp/ringq-qtest-does-not-exist", &o, &b, NULL), -ENOENT);
    tq_rmdir(dir);
}
END_TEST

START_TEST(policy_parse)
{
    q_log_opts o;
    q_log_opts_default(&o);
    ck_assert_int_eq(o.policy, Q_COMMIT_ALWAYS);
    ck_assert_int_eq(q_commit_policy_parse("interval:5", &o), 0);
    ck_assert_int_eq(o.policy, Q_COMMIT_INTERVAL);
    ck_assert_uint_eq(o.interval_ms, 5);
    ck_assert_int_eq(q_commit_policy_parse("never", &o), 0);
    ck_assert_int_eq(o.policy, Q_COMMIT_NEVER);
    ck_assert_int_eq(q_commit_policy_parse("always", &o), 0);
    ck_assert_int_eq(o.policy, Q_COMMIT_ALWAYS);
    ck_assert_int_eq(q_commit_policy_parse("interval:", &o), -EINVAL);
    ck_assert_int_eq(q_commit_policy_parse("interval:0", &o), -EINVAL);
    ck_assert_int_eq(q_commit_policy_parse("interval:99999999", &o), -EINVAL);
    ck_assert_int_eq(q_commit_policy_parse("sometimes", &o), -EINVAL);
}
END_TEST

/* The commit sequence: one per commit that synced something, never back across a reopen
 * (it restarts from the recovered synced end, at least every count before), and appends
 * without a commit (a SIGKILL's page cache) are synced by the reopen. */
START_TEST(commit_seq_survives_reopen)
{
    char dir[64];
    tq_mkdtemp(dir);
    q_log_opts o;
    tq_opts(&o, SEG);
    q_log *log;
    ck_assert_int_eq(q_log_open(dir, &o, &log, NULL), 0);
    uint64_t seq = q_log_commit_seq(log);
    for (uint64_t i = 0; i < 5; i++) {
        fill_log(log, i * 3, 3);
        ck_assert_uint_eq(q_log_commit_seq_next(log), seq + 1);
        ck_assert_int_eq(q_log_commit(log), 0);
        ck_assert_uint_eq(q_log_commit_seq(log), ++seq);
        ck_assert_uint_eq(q_log_synced(log), (i + 1) * 3);
        ck_assert_int_eq(q_log_commit(log), 0); /* nothing new to cover */
        ck_assert_uint_eq(q_log_commit_seq(log), seq);
    }
    fill_log(log, 15, 4); /* written, never committed */
    ck_assert_uint_eq(q_log_synced(log), 15);
    ck_assert_int_eq(q_log_close(log), 0);
    ck_assert_int_eq(q_log_open(dir, &o, &log, NULL), 0);
    ck_assert_uint_eq(q_log_synced(log), 19);
    ck_assert_uint_ge(q_log_commit_seq(log), seq);
    uint64_t seq2 = q_log_commit_seq(log);
    fill_log(log, 19, 1);
    ck_assert_int_eq(q_log_commit(log), 0);
    ck_assert_uint_eq(q_log_commit_seq(log), seq2 + 1);
    ck_assert_int_eq(q_log_close(log), 0);
    tq_rmdir(dir);
}
END_TEST

/* Reads walking forward start from the lookup cursor, not from the index entry: once record 40
 * was read, records 41..63 are found without parsing 32..40 again. Proved by breaking record 33
 * in the mapping after it was passed: the forward reads still succeed (they parsed it 8 more
 * times each before the cursor), and a read that must go through it from the index fails. */
START_TEST(forward_reads_start_at_the_cursor)
{
    char dir[64];
    tq_mkdtemp(dir);
    q_log_opts o;
    tq_opts(&o, 1u << 20);
    q_log *log;
    ck_assert_int_eq(q_log_open(dir, &o, &log, NULL), 0);
    for (uint64_t off = 0; off < 64; off++) ck_assert_int_eq(tq_append(log, off, 40), (int64_t)off);
    q_seg *s = &log->segs[0];
    q_rec r;
    int64_t pos33 = q_seg_find_indexed(s, 33, &r);
    ck_assert_int_gt(pos33, 0);
    for (uint64_t off = 0; off <= 40; off++) {
        ck_assert_int_eq(q_log_read(log, off, &r), 0);
        tq_check_rec(&r, off, 40);
    }
    memset(s->map + pos33 + Q_REC_OFF_MAGIC, 0, 2); /* no longer parses */
    for (uint64_t off = 41; off < 64; off++) {
        ck_assert_int_eq(q_log_read(log, off, &r), 0);
        tq_check_rec(&r, off, 40);
    }
    /* Backwards: from the index entry of 32, through the broken record. */
    ck_assert_int_eq(q_log_read(log, 35, &r), -EBADMSG);
    ck_assert_int_eq(q_log_read(log, 31, &r), 0);
    tq_check_rec(&r, 31, 40);
    ck_assert_int_eq(q_seg_find_indexed(s, 34, &r), -EBADMSG);
    ck_assert_int_eq(q_log_close(log), 0);
    tq_rmdir(dir);
}
END_TEST

int main(void)
{
    const TTest *tests[] = {round_trip,
                            roll_index_reopen,
                            tail_reader,
                            retention_and_compaction,
                            max_record_size,
                            full_disk,
                            fsync_error_is_sticky,
                            one_writer_and_read_only,
                            policy_parse,
                            commit_seq_survives_reopen,
                            forward_reads_start_at_the_cursor};
    return tq_run("q_log", "log", 60, tests, sizeof tests / sizeof tests[0]);
}
