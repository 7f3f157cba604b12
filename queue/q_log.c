/* queue/q_log: appends, reads, iteration, sync commit, retention, compaction.
 * Open and recovery live in q_log_open.c, the async group commit in q_commit.c.
 *
 * Why fdatasync on the segment fd is the commit (and not msync):
 *   On Linux the mapping and the file share one page cache. A store through a MAP_SHARED
 *   mapping marks the page dirty at the write fault (shared file mappings are write-protected
 *   after each writeback, so every new dirtying is seen), and fdatasync() writes back every dirty
 *   page of the file and waits for it, then flushes the device cache. msync(MS_SYNC) is, on
 *   Linux, the same file-range fsync restricted to a range, and it cannot go through io_uring;
 *   IORING_OP_FSYNC with IORING_FSYNC_DATASYNC can, so the reactor never blocks. fdatasync is
 *   enough once a segment is published: its size never changes after ftruncate (made durable
 *   by the full fsync of the commit that publishes it), and the blocks of an allocation step
 *   and the unwritten-to-written extent conversion of a first write into one are metadata
 *   needed to read the data back, which fdatasync must commit. */
#include "core/rt_alloc.h"
#include "queue/q_log.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "core/rt_clock.h"
#include "core/rt_log.h"
#include "queue/q_log_int.h"
#include "queue/q_sys.h"

uint64_t q_log_oldest(const q_log *log) { return log->segs[0].base; }
uint64_t q_log_next(const q_log *log) { return log->next; }
uint64_t q_log_durable(const q_log *log) { return log->durable; }
uint64_t q_log_synced(const q_log *log) { return log->synced; }
uint64_t q_log_commit_seq(const q_log *log) { return log->commit_seq; }
uint64_t q_log_commit_seq_next(const q_log *log) { return log->commit_seq + log->nchains + 1; }
int q_log_failed(const q_log *log) { return log->failed; }

void q_log_on_durable(q_log *log, q_durable_fn fn, void *ud)
{
    log->durable_fn = fn;
    log->durable_ud = ud;
}

void q_log_set_durable(q_log *log, uint64_t to)
{
    if (to <= log->durable) return;
    log->durable = to;
    if (log->durable_fn) log->durable_fn(log, log->durable_ud, to);
}

void q_log_set_synced(q_log *log, uint64_t to)
{
    if (to <= log->synced) return;
    for (uint32_t i = q_log_seg_of(log, log->synced); i < log->nsegs; i++) {
        q_seg *s = &log->segs[i];
        if (s->base >= to) break;
        uint64_t end = s->base + s->count;
        q_seg_set_synced(s, (uint32_t)((to < end ? to : end) - s->base));
    }
    log->synced = to;
    log->commit_seq++; /* one per raise: commit_seq - synced never grows (see q_log_open.c) */
}

uint32_t q_log_seg_of(const q_log *log, uint64_t offset)
{
    uint32_t lo = 0, hi = log->nsegs; /* invariant: segs[lo].base <= offset < segs[hi].base */
    while (hi - lo > 1) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (log->segs[mid].base <= offset) lo = mid;
        else hi = mid;
    }
    return lo;
}

int q_log_add_segment(q_log *log, uint64_t base, uint32_t alloc, bool publish)
{
    if (log->nsegs == Q_LOG_SEGMENTS_MAX) return -ENOSPC;
    if (log->nsegs == log->segs_cap) {
        uint32_t cap = log->segs_cap ? log->segs_cap * 2 : 16;
        q_seg *n = rt_realloc(log->segs, cap * sizeof *n);
        if (!n) return -ENOMEM;
        log->segs = n;
        log->segs_cap = cap;
    }
    if (!publish) {
        /* A roll: into the spare made ahead when there is one (q_log_spare.c). */
        int t = q_log_spare_take(log, base, alloc);
        if (t == 1) return 0;
        log->seg_made_inline++;
    }
    q_seg ns;
    uint32_t first = alloc > Q_SEG_ALLOC_FIRST_BYTES ? alloc : Q_SEG_ALLOC_FIRST_BYTES;
    int r = q_seg_create(log->dirfd, base, log->opts.segment_bytes, first, publish, &ns);
    if (r == -ENOSPC && first > alloc)
        r = q_seg_create(log->dirfd, base, log->opts.segment_bytes, alloc, publish, &ns);
    if (r) return r;
    if (publish) {
        if ((r = q_seg_publish(log->dirfd, &ns)) != 0) {
            q_seg_discard(log->dirfd, &ns);
            return r;
        }
        if (q_sys.fsync(log->dirfd) != 0) {
            r = -errno;
            q_seg_discard(log->dirfd, &ns);
            return r;
        }
    }
    log->segs[log->nsegs++] = ns;
    return 0;
}

int q_log_publish_upto(q_log *log, uint64_t upto)
{
    int n = 0;
    for (uint32_t i = q_log_seg_of(log, log->sync_from); i < log->nsegs; i++) {
        q_seg *s = &log->segs[i];
        if (s->base > upto) break;
        if (s->published) continue;
        int r = q_seg_publish(log->dirfd, s);
        if (r) return r;
        n++;
    }
    return n;
}

static int64_t append_rec(q_log *log, uint16_t type, uint16_t flags, uint64_t id, uint64_t ts,
                          const struct iovec *iov, int n, uint64_t len, uint32_t len_max,
                          bool frees)
{
    if (log->failed) return log->failed;
    if (log->opts.read_only) return -EROFS;
    if (len > len_max) return -EMSGSIZE;
    uint64_t span = q_rec_span(len);
    /* Allocated room for the record (and, unless it frees space, the reserve after it), rolling
     * when the segment is out of room (see q_log_space.c). */
    int r = q_log_room(log, span, frees);
    if (r) return r;
    q_seg *s = &log->segs[log->nsegs - 1];
    if (s->used + span > s->alloc) return -EFAULT; /* never store into an unallocated block */
    uint64_t off = log->next;
    uint32_t pos = s->used;
    q_rec_encode(s->map + pos, off, id == UINT64_MAX ? off : id, ts, type, flags, iov, n,
                 (uint32_t)len);
    q_seg_index_add(s, pos);
    s->count++;
    s->used += (uint32_t)span;
    log->next++;
    q_log_grow_ahead(log);
    return (int64_t)off;
}

static int64_t appendv(q_log *log, uint16_t type, const struct iovec *iov, int n, bool frees)
{
    if (n < 0 || n > IOV_MAX) return -EINVAL;
    uint64_t len = 0;
    for (int i = 0; i < n; i++) len += iov[i].iov_len;
    return append_rec(log, type, 0, UINT64_MAX, rt_wall_ns(), iov, n, len,
                      log->opts.record_bytes_max, frees);
}

int64_t q_log_appendv(q_log *log, uint16_t type, const struct iovec *iov, int n)
{
    return appendv(log, type, iov, n, false);
}

int64_t q_log_appendv_freeing(q_log *log, uint16_t type, const struct iovec *iov, int n)
{
    return appendv(log, type, iov, n, true);
}

int64_t q_log_append(q_log *log, uint16_t type, const void *payload, uint32_t len)
{
    struct iovec iov = {.iov_base = (void *)payload, .iov_len = len};
    return q_log_appendv(log, type, &iov, 1);
}

int64_t q_log_compact(q_log *log, uint64_t offset)
{
    q_rec rec;
    int r = q_log_read(log, offset, &rec);
    if (r) return r;
    /* The payload stays mapped across a roll (old segments are not unmapped), so it can be the
     * source of the copy. The limit is the format's, not record_bytes_max: the record exists. */
    struct iovec iov = {.iov_base = (void *)rec.payload, .iov_len = rec.len};
    return append_rec(log, rec.type, rec.flags | Q_REC_F_COMPACTED, rec.id, rec.ts_ns, &iov, 1,
                      rec.len, Q_REC_BYTES_MAX, false);
}

int q_log_commit(q_log *log)
{
    if (log->failed) return log->failed;
    if (log->opts.read_only) return -EROFS;
    uint64_t target = log->next;
    /* synced, not durable: under Q_COMMIT_NEVER durable runs ahead of what was ever synced. */
    if (log->synced >= target) return 0;
    /* fdatasync every segment appended to since the last commit (one, unless the log rolled),
     * then give the new ones their final names and make the names durable. */
    uint64_t last = log->segs[log->nsegs - 1].base;
    int r = 0;
    for (uint32_t i = q_log_seg_of(log, log->sync_from); i < log->nsegs && r == 0; i++) {
        /* A segment not yet published gets a full fsync: its size and header are new. */
        const q_seg *s = &log->segs[i];
        if ((s->published ? q_sys.fdatasync(s->fd) : q_sys.fsync(s->fd)) != 0) r = -errno;
    }
    int renamed = r ? 0 : q_log_publish_upto(log, last);
    if (renamed < 0) r = renamed;
    else if (renamed > 0 && q_sys.fsync(log->dirfd) != 0) r = -errno;
    if (r) {
        log->failed = r;
        log_error("log commit failed", "dir=%s err=%d", log->dir, r);
        return r;
    }
    log->sync_from = last;
    q_log_set_synced(log, target);
    q_log_set_durable(log, target);
    return 0;
}

int q_log_commit_final(q_log *log)
{
    if (log->opts.read_only) return -EROFS;
    if (log->inflight || log->whead) return -EBUSY;
    int r = q_log_commit(log);
    if (r) return r;
    /* The commit raised the watermark in the mapping only; one more fdatasync of the tail
     * segment (its header page is all that is dirty) makes it durable, so that damage to anything
     * acknowledged is refused at the next open even after a power loss. */
    const q_seg *t = &log->segs[log->nsegs - 1];
    if (t->version >= 2 && q_sys.fdatasync(t->fd) != 0) {
        r = -errno;
        log->failed = r;
        log_error("log final sync failed", "dir=%s err=%d", log->dir, r);
    }
    return r;
}

int q_log_read(q_log *log, uint64_t offset, q_rec *out)
{
    if (offset < q_log_oldest(log) || offset >= log->next) return -ERANGE;
    int64_t r = q_seg_find(&log->segs[q_log_seg_of(log, offset)], offset, out);
    return r < 0 ? (int)r : 0;
}

void q_iter_init(q_iter *it, const q_log *log, uint64_t from, bool durable_only)
{
    it->log = log;
    it->next = from;
    it->gen = log->gen;
    it->seg = 0;
    it->pos = 0;
    it->durable_only = durable_only;
}

int q_iter_next(q_iter *it, q_rec *out)
{
    const q_log *log = it->log;
    uint64_t limit = it->durable_only ? log->durable : log->next;
    if (it->next >= limit) return 0;
    if (it->next < q_log_oldest(log)) return -ERANGE;
    if (it->gen != log->gen || it->pos == 0) {
        it->gen = log->gen;
        it->seg = q_log_seg_of(log, it->next);
        int64_t pos = q_seg_find_indexed(&log->segs[it->seg], it->next, out);
        if (pos < 0) return (int)pos;
        it->pos = (uint32_t)pos;
    }
    const q_seg *s = &log->segs[it->seg];
    if (it->next >= s->base + s->count) {
        s = &log->segs[++it->seg];
        it->pos = Q_SEG_HDR_BYTES;
    }
    int64_t span = q_seg_at(s, it->pos, it->next, out);
    if (span < 0) return (int)span;
    it->pos += (uint32_t)span;
    it->next++;
    return 1;
}

uint64_t q_log_oldest_segment_end(const q_log *log)
{
    return log->nsegs > 1 ? log->segs[1].base : log->next;
}

/* Whether the oldest segment may go for `low_water`: every record in it is below, it is not the
 * last published one or a later one, and no async fsync or allocation uses its fd. */
static bool oldest_retirable(const q_log *log, uint64_t low_water)
{
    const q_seg *next = &log->segs[1];
    return log->nsegs > 1 && next->base <= low_water && next->published &&
           next->base <= log->sync_from && !q_commit_fd_busy(log, log->segs[0].fd) &&
           !(log->growing && log->segs[0].fd == log->grow_fd);
}

/* The oldest segment is deleted and its deletion durable: drop it from the array. */
static void drop_oldest(q_log *log)
{
    /* With a loop, both references to the file leave this thread: the descriptor's (closed by
     * io_uring's workers) and the mapping's, whose teardown took 1-4 ms for a 64 MiB segment
     * (the background thread unmaps it; if that cannot start, q_seg_close does, here). The last
     * of the two frees the file's pages and blocks (a synchronous discard on some mounts). */
    if (log->loop) {
        (void)q_seg_unmap_detached(&log->segs[0]); /* failed: q_seg_close unmaps here */
        if (ev_close_detached(log->loop, log->segs[0].fd) == 0) log->segs[0].fd = -1;
    }
    q_seg_close(&log->segs[0]);
    memmove(log->segs, log->segs + 1, (log->nsegs - 1) * sizeof *log->segs);
    log->nsegs--;
    log->gen++;
    log->retired_total++;
}

static void on_retire(ev_loop *loop, ev_op *op, int res, unsigned flags);

/* Starts the deletion of the oldest segment through the ring if it may go. */
static void retire_next(q_log *log)
{
    if (log->retire_err || !oldest_retirable(log, log->retire_low)) return;
    log->retire_base = log->segs[0].base;
    q_seg_name(log->retire_name, log->retire_base, false);
    log->retire_op.cb = on_retire;
    log->retire_op.ud = log;
    /* No SQE free: the next q_log_retain() (every partition tick) tries again. */
    if (ev_unlinkat(log->loop, &log->retire_op, log->dirfd, log->retire_name, 0) == 0)
        log->retire_step = Q_RETIRE_UNLINK;
}

/* Unlink done: sync the directory. Directory synced: the segment is gone for good; next one.
 * A failure stops retention (sticky retire_err, returned by q_log_retain) with the segment
 * kept: deleting a later one could leave a gap after a crash. */
static void on_retire(ev_loop *loop, ev_op *op, int res, unsigned flags)
{
    q_log *log = op->ud;
    if (res == 0 && log->retire_step == Q_RETIRE_UNLINK &&
        (res = ev_fsync(loop, &log->retire_op, log->dirfd, false)) == 0) {
        log->retire_step = Q_RETIRE_DIRSYNC;
        return;
    }
    q_retire_step step = log->retire_step;
    log->retire_step = Q_RETIRE_IDLE;
    if (res < 0) {
        log->retire_err = res;
        log_error("log retention failed: segments kept", "dir=%s segment=%s step=%s err=%d",
                  log->dir, log->retire_name, step == Q_RETIRE_UNLINK ? "unlink" : "fsync dir",
                  res);
        return;
    }
    if (log->nsegs > 1 && log->segs[0].base == log->retire_base) drop_oldest(log);
    retire_next(log);
}

int q_log_retain(q_log *log, uint64_t low_water)
{
    if (log->opts.read_only) return -EROFS;
    if (log->retire_err) return log->retire_err;
    if (log->loop) {
        /* Off the shard: one segment at a time through the ring (on_retire), in order. */
        if (low_water > log->retire_low) log->retire_low = low_water;
        if (log->retire_step == Q_RETIRE_IDLE) retire_next(log);
        return 0;
    }
    /* Oldest first, the directory synced after each, so a crash can only leave a prefix
     * deleted, never a gap. */
    int k = 0;
    while (oldest_retirable(log, low_water)) {
        char name[Q_SEG_NAME_BYTES];
        q_seg_name(name, log->segs[0].base, false);
        if (q_sys.unlinkat(log->dirfd, name, 0) != 0 || q_sys.fsync(log->dirfd) != 0) return -errno;
        drop_oldest(log);
        k++;
    }
    return k;
}

void q_log_get_stats(const q_log *log, q_log_stats *st)
{
    memset(st, 0, sizeof *st);
    st->segments = log->nsegs;
    for (uint32_t i = 0; i < log->nsegs; i++) {
        st->disk_bytes += log->segs[i].bytes;
        st->used_bytes += log->segs[i].used;
    }
    st->alloc_bytes = log->segs[log->nsegs - 1].alloc;
    st->disk_full = log->disk_full;
    st->disk_full_total = log->disk_full_total;
    st->grow_sync_total = log->grow_sync_total;
    st->oldest = q_log_oldest(log);
    st->next = log->next;
    st->durable = log->durable;
    st->records = st->next - st->oldest;
    memcpy(st->fsync_buckets, log->fsync_buckets, sizeof st->fsync_buckets);
    st->fsyncs = log->fsyncs;
    st->committed_total = log->committed_total;
    st->committed_overlapped = log->committed_overlap;
    st->commits_pipelined = log->pipelined_total;
    st->fsync_ns_total = log->fsync_ns_total;
    st->segments_retired = log->retired_total;
    st->retiring = log->retire_step != Q_RETIRE_IDLE;
    st->segments_made_ahead = log->seg_made_ahead;
    st->segments_made_inline = log->seg_made_inline;
}

int q_log_segment_info(const q_log *log, uint32_t i, char name[64], uint64_t *base, uint64_t *end,
                       uint32_t *used, uint32_t *bytes)
{
    if (i >= log->nsegs) return -ERANGE;
    const q_seg *s = &log->segs[i];
    q_seg_name(name, s->base, false);
    *base = s->base;
    *end = s->base + s->count;
    *used = s->used;
    *bytes = s->bytes;
    return 0;
}

int q_log_close(q_log *log)
{
    if (!log) return 0;
    if (log->inflight || log->whead || log->growing || log->retire_step != Q_RETIRE_IDLE)
        return -EBUSY;
    if (log->loop && ev_timer_armed(&log->timer)) ev_timer_stop(log->loop, &log->timer);
    if (log->dirfd >= 0) q_log_spare_drop(log);
    for (uint32_t i = 0; i < log->nsegs; i++) q_seg_close(&log->segs[i]);
    rt_free(log->segs);
    if (log->dirfd >= 0) q_sys.close(log->dirfd); /* releases the flock */
    rt_free(log);
    return 0;
}
