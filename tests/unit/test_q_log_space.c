/* queue/q_log_space: segments allocated in steps ahead of the writer (synchronously without a
 * loop, through IORING_OP_FALLOCATE with one), the reserve kept for appends that free space, and
 * the disk-full state, with ENOSPC injected into fallocate. Skips (exit 77) when io_uring is
 * unusable here. */
#include "test_q_util.h"

#include <sys/mman.h>
#include <sys/stat.h>

#include "core/ev_reactor.h"
#include "queue/q_log_int.h" /* the async step in flight (growing), to wait for it */
#include "queue/q_segment.h"
#include "queue/q_sys.h"

#define MAXLEN 16384u
#define SLACK_BYTES (64u * 1024u) /* filesystem metadata st_blocks may count beyond the data */

/* Allocated bytes of segment file `i` of the log (its current name). */
static uint64_t seg_blocks(const char *dir, const q_log *log, uint32_t i)
{
    char name[64], path[160];
    uint64_t base, end;
    uint32_t used, bytes;
    ck_assert_int_eq(q_log_segment_info(log, i, name, &base, &end, &used, &bytes), 0);
    const q_seg *s = &log->segs[i];
    snprintf(path, sizeof path, "%s/%s%s", dir, name, s->published ? "" : Q_SEG_TMP_SUFFIX);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_size, bytes); /* the logical size is there from the start */
    return (uint64_t)st.st_blocks * 512u;
}

static void check_all(q_log *log, uint64_t from, uint64_t to)
{
    for (uint64_t off = from; off < to; off++) {
        q_rec r;
        ck_assert_int_eq(q_log_read(log, off, &r), 0);
        tq_check_rec(&r, off, MAXLEN);
    }
}

/* The open segment: allocated at least to its end of records plus the reserve, and st_blocks
 * shows only what was allocated (at most one step past that). */
static void check_open_segment(const char *dir, q_log *log)
{
    q_log_stats st;
    q_log_get_stats(log, &st);
    const q_seg *s = &log->segs[log->nsegs - 1];
    ck_assert_uint_eq(st.alloc_bytes, s->alloc);
    ck_assert_uint_ge(s->alloc, s->used);
    ck_assert_uint_le(s->alloc, s->bytes);
    ck_assert_uint_le(s->alloc, (uint64_t)s->used + log->reserve + q_rec_span(MAXLEN) +
                                    Q_SEG_ALLOC_STEP_MAX_BYTES);
    uint64_t blocks = seg_blocks(dir, log, log->nsegs - 1);
    ck_assert_uint_ge(blocks, s->alloc);
    ck_assert_uint_le(blocks, (uint64_t)s->alloc + SLACK_BYTES);
}

START_TEST(new_segments_are_sparse)
{
    char dir[64];
    tq_mkdtemp(dir);
    q_log *log;
    ck_assert_int_eq(q_log_open(dir, NULL, &log, NULL), 0); /* the default 64 MiB segment */
    ck_assert_uint_le(seg_blocks(dir, log, 0), Q_SEG_ALLOC_FIRST_BYTES + SLACK_BYTES);
    check_open_segment(dir, log);
    ck_assert_int_eq(q_log_close(log), 0);
    tq_rmdir(dir);
}
END_TEST

START_TEST(sync_steps_across_rolls_and_reopen)
{
    char dir[64];
    tq_mkdtemp(dir);
    q_log_opts o;
    tq_opts(&o, 4u * 1024u * 1024u);
    q_log *log;
    ck_assert_int_eq(q_log_open(dir, &o, &log, NULL), 0);
    q_log_set_reserve(log, 8192);
    uint64_t off = 0;
    while (log->nsegs < 4) {
        ck_assert_int_eq(tq_append(log, off, MAXLEN), (int64_t)off);
        off++;
        if (off % 64 == 0) check_open_segment(dir, log);
    }
    q_log_stats st;
    q_log_get_stats(log, &st);
    /* Without a loop every step is taken by the writer: 256 KiB, then doubling to 4 MiB is 4
     * steps per segment, the first allocated at creation. */
    ck_assert_uint_ge(st.grow_sync_total, 3u * 4u);
    ck_assert_uint_le(st.grow_sync_total, 4u * 6u);
    ck_assert_int_eq(q_log_commit(log), 0);
    check_all(log, 0, off);
    ck_assert_int_eq(q_log_close(log), 0);
    /* Recovery reads the hole after the last allocated step as zeros: the end of the records.
     * The tail is allocated again for one step only. */
    ck_assert_int_eq(q_log_open(dir, &o, &log, NULL), 0);
    ck_assert_uint_eq(q_log_next(log), off);
    const q_seg *t = &log->segs[log->nsegs - 1];
    ck_assert_uint_le(seg_blocks(dir, log, log->nsegs - 1),
                      (uint64_t)t->used + Q_SEG_ALLOC_FIRST_BYTES + SLACK_BYTES);
    check_all(log, 0, off);
    for (int i = 0; i < 500; i++, off++)
        ck_assert_int_eq(tq_append(log, off, MAXLEN), (int64_t)off);
    check_open_segment(dir, log);
    ck_assert_int_eq(q_log_commit(log), 0);
    check_all(log, 0, off);
    ck_assert_int_eq(q_log_close(log), 0);
    tq_rmdir(dir);
}
END_TEST

static void wait_growth(q_log *log, ev_loop *loop)
{
    while (log->growing) ck_assert_int_ge(ev_loop_run_once(loop, true), 0);
}

START_TEST(async_steps_off_the_writer)
{
    char dir[64];
    tq_mkdtemp(dir);
    q_log_opts o;
    tq_opts(&o, 8u * 1024u * 1024u);
    int err;
    const char *why;
    ev_loop *loop = ev_loop_create(NULL, &err, &why);
    ck_assert_ptr_nonnull(loop);
    q_log *log;
    ck_assert_int_eq(q_log_open(dir, &o, &log, NULL), 0);
    ck_assert_int_eq(q_log_attach(log, loop), 0);
    /* A writer that lets each step complete never allocates itself. */
    uint64_t off = 0;
    while (log->nsegs < 3) {
        ck_assert_int_eq(tq_append(log, off, MAXLEN), (int64_t)off);
        off++;
        wait_growth(log, loop);
    }
    q_log_stats st;
    q_log_get_stats(log, &st);
    ck_assert_uint_eq(st.grow_sync_total, 0);
    check_open_segment(dir, log);
    /* A writer faster than the steps (the loop never runs) allocates itself and stays correct:
     * an async step in flight and a synchronous one meanwhile cover the same range. */
    for (int i = 0; i < 2000; i++, off++)
        ck_assert_int_eq(tq_append(log, off, MAXLEN), (int64_t)off);
    q_log_get_stats(log, &st);
    ck_assert_uint_gt(st.grow_sync_total, 0);
    ck_assert(log->growing);                    /* the loop has not even submitted the last step */
    ck_assert_int_eq(q_log_close(log), -EBUSY); /* never while a step is in flight */
    wait_growth(log, loop);
    check_open_segment(dir, log);
    ck_assert_int_eq(q_log_commit(log), 0);
    check_all(log, 0, off);
    ck_assert_int_eq(q_log_close(log), 0);
    ck_assert_int_eq(q_log_open(dir, &o, &log, NULL), 0);
    ck_assert_uint_eq(q_log_next(log), off);
    check_all(log, 0, off);
    ck_assert_int_eq(q_log_close(log), 0);
    ev_loop_destroy(loop);
    tq_rmdir(dir);
}
END_TEST

#define WRITTEN_BYTES (1024u * 1024u) /* how far the writer stores before the check */

/* Appends records from `off` on until the first segment holds `used` bytes; returns the next. */
static uint64_t append_until(q_log *log, uint64_t off, uint32_t used)
{
    for (; log->segs[0].used < used; off++)
        ck_assert_int_eq(tq_append(log, off, MAXLEN), (int64_t)off);
    return off;
}

/* Whether the mapping holding `addr` has VmFlags `flag` in /proc/self/smaps. */
static bool tq_vma_flag(const void *addr, const char *flag)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    ck_assert_ptr_nonnull(f);
    char line[512];
    bool in = false, found = false;
    uintptr_t a = (uintptr_t)addr;
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' ')) {
            in = a >= lo && a < hi;
        } else if (in && strncmp(line, "VmFlags:", 8) == 0) {
            char want[8];
            snprintf(want, sizeof want, " %s", flag);
            for (char *p = line + 8; (p = strstr(p, want)) != NULL; p++)
                if (p[strlen(want)] == ' ' || p[strlen(want)] == '\n') found = true;
            break;
        }
    }
    fclose(f);
    return found;
}

/* Pages of [from, to) of segment `s` in the page cache (mincore on its shared mapping). */
static uint64_t resident_pages(const q_seg *s, uint32_t from, uint32_t to)
{
    long pg = sysconf(_SC_PAGESIZE);
    size_t n = (size_t)(to - from) / (size_t)pg;
    unsigned char *v = calloc(n ? n : 1, 1);
    ck_assert_ptr_nonnull(v);
    ck_assert_int_eq(mincore(s->map + from, (size_t)(to - from), v), 0);
    uint64_t r = 0;
    for (size_t i = 0; i < n; i++) r += v[i] & 1;
    free(v);
    return r;
}

/* No readahead zero-fill on the writer (issue 19 item 2, docs/storage.md "Allocation"): the
 * pages past what q_seg_prewrite wrote are not in the page cache after the writer stored through
 * the mapping up to 1 MiB. The segment's pages enter the cache by the prewrite's pwrite, so the
 * writer's faults find them cached; writer_miss_reads_no_window below covers the case where
 * one was dropped from the cache in between (reclaim). */
START_TEST(writer_never_reads_ahead)
{
    char dir[64];
    tq_mkdtemp(dir);
    q_log_opts o;
    tq_opts(&o, 64u * 1024u * 1024u); /* far more than the writer reaches: room to read ahead */
    q_log *log;
    ck_assert_int_eq(q_log_open(dir, &o, &log, NULL), 0);
    uint64_t off = 0;
    off = append_until(log, off, WRITTEN_BYTES);
    const q_seg *s = &log->segs[0];
    ck_assert_uint_eq(log->nsegs, 1);
    ck_assert_uint_ge(s->written, s->used);
    uint32_t from = (s->written + 4095u) & ~4095u;
    ck_assert_uint_lt(from, s->bytes);
    ck_assert_uint_eq(resident_pages(s, from, s->bytes), 0);
    check_all(log, 0, off);
    ck_assert_int_eq(q_log_close(log), 0);
    tq_rmdir(dir);
}
END_TEST

/* A prewritten page dropped from the page cache before the writer stores to it (memory reclaim:
 * this VM's DAMON pages out cold regions; here POSIX_FADV_DONTNEED after a commit made the pages
 * clean) faults as a miss. The new segment's mapping is MADV_RANDOM (map_seg), so that miss
 * reads the one page: no read-around window (read_ahead_kb, 8 MiB on this VM's disk) of
 * unwritten blocks zeroed in large folios inside the fault, which held the shard for 12-24 ms
 * (bench/results/stall-2026-12-08-s13.md). A rolled segment gets readahead back (q_seg_seal). */
START_TEST(writer_miss_reads_no_window)
{
    char dir[64];
    tq_mkdtemp(dir);
    q_log_opts o;
    tq_opts(&o, 64u * 1024u * 1024u);
    q_log *log;
    ck_assert_int_eq(q_log_open(dir, &o, &log, NULL), 0);
    uint64_t off = 0;
    off = append_until(log, off, WRITTEN_BYTES);
    ck_assert_int_eq(q_log_commit(log), 0); /* every page clean: droppable */
    const q_seg *s = &log->segs[0];
    uint32_t up = (s->used + 4095u) & ~4095u;
    /* Drop the pages past the last stored one (those the writer has not mapped yet). */
    ck_assert_int_eq(posix_fadvise(s->fd, (off_t)up, 0, POSIX_FADV_DONTNEED), 0);
    uint32_t written = s->written;
    uint64_t before = resident_pages(s, (written + 4095u) & ~4095u, s->bytes);
    /* Store into the dropped pages: each first store there is a miss. */
    off = append_until(log, off, written);
    ck_assert_uint_eq(log->nsegs, 1);
    /* Past what the prewrite has written now: nothing read ahead. */
    uint32_t from = (s->written + 4095u) & ~4095u;
    ck_assert_uint_eq(before, 0);
    ck_assert_uint_eq(resident_pages(s, from, s->bytes), 0);
    check_all(log, 0, off);
    /* The advice itself, from /proc/self/maps' VmFlags ("rr": random read): on the open
     * segment, gone from a rolled one. */
    ck_assert(tq_vma_flag(s->map, "rr"));
    q_seg_seal(&log->segs[0]);
    ck_assert(!tq_vma_flag(log->segs[0].map, "rr"));
    ck_assert_int_eq(q_log_close(log), 0);
    tq_rmdir(dir);
}
END_TEST

/* Bytes this process has dirtied for writeback so far (/proc/self/io write_bytes, charged per
 * page-cache folio each time one becomes dirty), or -1 when the kernel does not account them. */
static int64_t dirtied_bytes(void)
{
    FILE *f = fopen("/proc/self/io", "r");
    char line[128];
    long long v = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "write_bytes: %lld", &v) == 1) break;
    if (f) fclose(f);
    return v;
}

/* 256 KiB of records: past the segment's first prewrite step, which starts after the header's
 * page (unaligned, so never one large folio), into steps at 64 KiB-aligned offsets. */
#define SMALL_COMMITS 256
#define SMALL_REC_BYTES 1000u
/* What one small append + fdatasync may dirty: its record's page or two and the header's
 * watermark page, with room to spare; a 64 KiB folio per append (one pwrite of zeros per
 * prewrite step) is four times this. */
#define SMALL_COMMIT_DIRTY_BYTES_MAX (16u * 1024u)

/* A small append committed alone makes its fdatasync write back the pages it stored to, not the
 * whole prewrite step (Q_SEG_PREWRITE_WRITE_BYTES): the zeros are written one page per pwrite,
 * so the page cache holds page-sized folios there. (On a kernel without large folios both ways
 * pass; this VM's ext4 had 64 KiB folios per prewrite before.) */
START_TEST(small_commits_dirty_pages_not_steps)
{
    if (dirtied_bytes() < 0) {
        fprintf(stderr, "small_commits_dirty_pages_not_steps: no /proc/self/io write_bytes\n");
        return;
    }
    char dir[64];
    tq_mkdtemp(dir);
    q_log_opts o;
    tq_opts(&o, 4u * 1024u * 1024u);
    q_log *log;
    ck_assert_int_eq(q_log_open(dir, &o, &log, NULL), 0);
    static const uint8_t payload[SMALL_REC_BYTES];
    int64_t before = dirtied_bytes();
    for (int i = 0; i < SMALL_COMMITS; i++) {
        ck_assert_int_eq(q_log_append(log, 1, payload, sizeof payload), i);
        ck_assert_int_eq(q_log_commit(log), 0);
    }
    int64_t per_commit = (dirtied_bytes() - before) / SMALL_COMMITS;
    ck_assert_int_gt(per_commit, 0);
    ck_assert_int_le(per_commit, SMALL_COMMIT_DIRTY_BYTES_MAX);
    ck_assert_int_eq(q_log_close(log), 0);
    tq_rmdir(dir);
}
END_TEST

/* ENOSPC from fallocate allocations (mode 0; punching a hole frees blocks, so it still works):
 * every one, or only a new segment's (offset 0). */
static int g_full_from; /* 0: off; 1: every allocation; 2: only at offset 0 */
static int full_fallocate(int fd, int mode, off_t off, off_t len)
{
    if (mode == 0 && (g_full_from == 1 || (g_full_from == 2 && off == 0))) {
        errno = ENOSPC;
        return -1;
    }
    return fallocate(fd, mode, off, len);
}

static int64_t append_ack(q_log *log, uint64_t id)
{
    struct iovec iov = {.iov_base = &id, .iov_len = sizeof id};
    return q_log_appendv_freeing(log, 2, &iov, 1);
}

#define RESERVE_BYTES 4096u
#define ACK_SPAN (Q_REC_HDR_BYTES + 8u)

START_TEST(reserve_survives_a_full_disk)
{
    char dir[64];
    tq_mkdtemp(dir);
    q_log_opts o;
    tq_opts(&o, 1024u * 1024u);
    q_log *log;
    ck_assert_int_eq(q_log_open(dir, &o, &log, NULL), 0);
    q_log_set_reserve(log, RESERVE_BYTES);
    q_sys.fallocate = full_fallocate;
    g_full_from = 1;
    uint64_t off = 0;
    int64_t r;
    while ((r = tq_append(log, off, MAXLEN)) >= 0) off++;
    ck_assert_int_eq(r, -ENOSPC);
    ck_assert_uint_eq(q_log_next(log), off); /* nothing appended */
    ck_assert_int_eq(q_log_failed(log), 0);
    q_log_stats st;
    q_log_get_stats(log, &st);
    ck_assert(st.disk_full);
    ck_assert_uint_eq(st.disk_full_total, 1);
    const q_seg *s = &log->segs[log->nsegs - 1];
    ck_assert_uint_ge(s->alloc - s->used, RESERVE_BYTES); /* the reserve is untouched */
    uint64_t blocks = seg_blocks(dir, log, log->nsegs - 1);
    /* Acks use the reserve; each lands in allocated blocks (the file gains none). */
    uint32_t acks = 0;
    while (append_ack(log, off) == (int64_t)off) {
        off++;
        acks++;
    }
    ck_assert_uint_ge(acks, RESERVE_BYTES / ACK_SPAN);
    ck_assert_uint_le(s->used, s->alloc);
    ck_assert_uint_eq(seg_blocks(dir, log, log->nsegs - 1), blocks);
    /* Still full: one episode, counted once. */
    ck_assert_int_eq(tq_append(log, off, MAXLEN), -ENOSPC);
    q_log_get_stats(log, &st);
    ck_assert_uint_eq(st.disk_full_total, 1);
    ck_assert_int_eq(q_log_commit(log), 0);
    /* Space is back: plain appends again, the state is left. */
    g_full_from = 0;
    ck_assert_int_eq(tq_append(log, off, MAXLEN), (int64_t)off);
    off++;
    q_log_get_stats(log, &st);
    ck_assert(!st.disk_full);
    ck_assert_uint_eq(st.disk_full_total, 1);
    ck_assert_int_eq(q_log_commit(log), 0);
    ck_assert_int_eq(q_log_close(log), 0);
    /* A log reopened on a full disk still opens; its appends find the disk full. */
    g_full_from = 1;
    ck_assert_int_eq(q_log_open(dir, &o, &log, NULL), 0);
    ck_assert_uint_eq(q_log_next(log), off);
    ck_assert_int_eq(tq_append(log, off, MAXLEN), -ENOSPC);
    ck_assert(q_log_disk_full(log));
    q_sys_reset();
    ck_assert_int_eq(q_log_close(log), 0);
    tq_rmdir(dir);
}
END_TEST

START_TEST(roll_only_with_room_for_the_reserve)
{
    char dir[64];
    tq_mkdtemp(dir);
    q_log_opts o;
    tq_opts(&o, 256u * 1024u);
    q_log *log;
    ck_assert_int_eq(q_log_open(dir, &o, &log, NULL), 0);
    q_log_set_reserve(log, RESERVE_BYTES);
    ck_assert_uint_eq(q_log_reserve(log), RESERVE_BYTES);
    /* Growing works, creating a segment does not: the append that needs a roll is refused. */
    q_sys.fallocate = full_fallocate;
    g_full_from = 2;
    uint64_t off = 0;
    int64_t r;
    while ((r = tq_append(log, off, MAXLEN)) >= 0) off++;
    ck_assert_int_eq(r, -ENOSPC);
    ck_assert_uint_eq(log->nsegs, 1);
    ck_assert(q_log_disk_full(log));
    /* The segment's last RESERVE_BYTES were kept for acks: they fit without a roll. */
    const q_seg *s = &log->segs[0];
    ck_assert_uint_ge(s->bytes - s->used, RESERVE_BYTES);
    for (uint32_t i = 0; i < RESERVE_BYTES / ACK_SPAN; i++, off++)
        ck_assert_int_eq(append_ack(log, off), (int64_t)off);
    ck_assert_uint_eq(log->nsegs, 1);
    g_full_from = 0;
    ck_assert_int_eq(tq_append(log, off, MAXLEN), (int64_t)off);
    off++;
    ck_assert_uint_eq(log->nsegs, 2);
    ck_assert(!q_log_disk_full(log));
    q_sys_reset();
    ck_assert_int_eq(q_log_commit(log), 0);
    ck_assert_int_eq(q_log_close(log), 0);
    ck_assert_int_eq(q_log_open(dir, &o, &log, NULL), 0);
    ck_assert_uint_eq(q_log_next(log), off);
    ck_assert_int_eq(q_log_close(log), 0);
    tq_rmdir(dir);
}
END_TEST

START_TEST(reserve_is_clamped)
{
    char dir[64];
    tq_mkdtemp(dir);
    q_log_opts o;
    tq_opts(&o, 1024u * 1024u); /* records up to half a segment */
    q_log *log;
    ck_assert_int_eq(q_log_open(dir, &o, &log, NULL), 0);
    q_log_set_reserve(log, UINT64_MAX);
    ck_assert_uint_eq(q_log_reserve(log), 1024u * 1024u / 4);
    /* The largest record still fits a fresh segment beside the reserve. */
    static uint8_t big[512u * 1024u];
    ck_assert_int_ge(q_log_append(log, 1, big, sizeof big), 0);
    ck_assert_int_ge(q_log_append(log, 1, big, sizeof big), 0);
    ck_assert_int_eq(q_log_close(log), 0);
    tq_rmdir(dir);
}
END_TEST

int main(void)
{
    tq_require_uring("test_q_log_space");
    const TTest *tests[] = {new_segments_are_sparse,
                            small_commits_dirty_pages_not_steps,
                            sync_steps_across_rolls_and_reopen,
                            async_steps_off_the_writer,
                            reserve_survives_a_full_disk,
                            roll_only_with_room_for_the_reserve,
                            reserve_is_clamped,
                            writer_never_reads_ahead,
                            writer_miss_reads_no_window};
    return tq_run("q_log_space", "space", 120, tests, sizeof tests / sizeof tests[0]);
}
