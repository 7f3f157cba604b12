/* queue/q_log_space: room for appends — blocks allocated ahead of the writer, the reserve kept for
 * records that free space, and the disk-full state (see "Space" in q_log.h).
 *
 * Invariant: every byte an append stores through the mapping lies below its segment's `alloc`
 * (a store into a hole allocates at page-fault time, which on a full disk is SIGBUS). After
 * every accepted plain append, the open segment has `reserve` allocated bytes free after `used`.
 *
 * Two allocators never conflict: the async step allocates [alloc, grow_to) as alloc was when it
 * started; a synchronous step meanwhile allocates from the same alloc on; both are fallocate on
 * one inode (serialized by the filesystem), and alloc only moves up to the end of a range that
 * has completed. */
#include <errno.h>
#include <inttypes.h>

#include "core/rt_log.h"
#include "queue/q_log.h"
#include "queue/q_log_int.h"

void q_log_set_reserve(q_log *log, uint64_t bytes)
{
    log->reserve = bytes > log->reserve_max ? log->reserve_max : (uint32_t)bytes;
}

uint32_t q_log_reserve(const q_log *log) { return log->reserve; }
bool q_log_disk_full(const q_log *log) { return log->disk_full; }
uint64_t q_log_disk_full_total(const q_log *log) { return log->disk_full_total; }

static int refuse(q_log *log, int r, uint64_t need, bool frees)
{
    if (r != -ENOSPC) return r;
    if (!log->disk_full) {
        log->disk_full = true;
        log->disk_full_total++;
        log_warn("disk full: no room for the task log, appends refused, acks still accepted",
                 "dir=%s need=%" PRIu64 " reserve=%u", log->dir, need, log->reserve);
    }
    if (frees && !log->reserve_out) {
        log->reserve_out = true; /* once per episode: every later ack would say it again */
        log_error("disk full: no room even for a record that frees space (reserve used up)",
                  "dir=%s need=%" PRIu64, log->dir, need);
    }
    return r;
}

/* Allocates [alloc, need) in the open segment on this thread: a whole step when there is room
 * for it, else just `need` (a nearly full disk still takes the record). */
static int grow_now(q_log *log, q_seg *s, uint64_t need)
{
    uint64_t step_to = (uint64_t)s->alloc + q_seg_alloc_step(s);
    int r = q_seg_grow(s, step_to > need ? step_to : need);
    if (r == -ENOSPC && step_to > need) r = q_seg_grow(s, need);
    if (r == 0) log->grow_sync_total++;
    return r;
}

/* Rolls to a new segment allocated for the record and the reserve. */
static int roll(q_log *log, uint64_t span, uint32_t keep)
{
    uint64_t need = Q_SEG_HDR_BYTES + span + keep;
    /* q_log_open checked that the largest record fits an empty segment beside reserve_max. */
    if (need > log->opts.segment_bytes) return -EMSGSIZE;
    return q_log_add_segment(log, log->next, (uint32_t)need, false);
}

int q_log_room(q_log *log, uint64_t span, bool frees)
{
    uint32_t keep = frees ? 0 : log->reserve;
    q_seg *s = &log->segs[log->nsegs - 1];
    uint64_t need = s->used + span + keep;
    int r = 0;
    if (need > s->bytes) {
        /* Roll. The new segment keeps its temporary name until a commit has fdatasync'd the one
         * we leave (see q_log_open.c), so the roll itself waits for no disk flush. */
        r = roll(log, span, keep);
        need = Q_SEG_HDR_BYTES + span + keep;
    } else if (need > s->alloc) {
        r = grow_now(log, s, need);
    }
    /* The pages the record goes to, touched by write(2) first (q_segment.h, Q_SEG_PREWRITE). */
    if (r == 0) {
        s = &log->segs[log->nsegs - 1]; /* a roll may have moved the array */
        if (s->used + span <= s->alloc) r = q_seg_prewrite(s, s->used + span);
    }
    if (r) return refuse(log, r, need, frees);
    if (log->disk_full && !frees) {
        log->disk_full = false;
        log->reserve_out = false;
        log_info("disk space recovered: appends accepted again", "dir=%s", log->dir);
    }
    return 0;
}

static void on_grow(ev_loop *loop, ev_op *op, int res, unsigned flags)
{
    q_log *log = op->ud;
    log->growing = false;
    log->grow_fd = -1;
    if (res < 0) {
        /* Not an error yet: the append that needs the room allocates it itself and reports
         * -ENOSPC (entering the disk-full state) if there is none. */
        log_debug("log allocation ahead failed", "dir=%s err=%d", log->dir, res);
        return;
    }
    uint32_t i = q_log_seg_of(log, log->grow_base);
    q_seg *s = &log->segs[i];
    if (s->base == log->grow_base && s->fd >= 0 && log->grow_to > s->alloc) s->alloc = log->grow_to;
}

void q_log_grow_ahead(q_log *log)
{
    if (!log->loop) return;
    q_log_spare_ahead(log);
    if (log->growing || log->disk_full) return;
    q_seg *s = &log->segs[log->nsegs - 1];
    if (s->alloc >= s->bytes) return;
    uint32_t step = q_seg_alloc_step(s);
    uint64_t free_room = (uint64_t)s->alloc - s->used;
    if (free_room >= (uint64_t)log->reserve + step / 2) return;
    uint32_t to = q_seg_alloc_round(s, (uint64_t)s->alloc + step);
    log->grow_op.cb = on_grow;
    log->grow_op.ud = log;
    if (ev_fallocate(log->loop, &log->grow_op, s->fd, 0, s->alloc, to - s->alloc) != 0)
        return; /* no SQE free: the next append tries again, or allocates itself */
    log->growing = true;
    log->grow_base = s->base;
    log->grow_to = to;
    log->grow_fd = s->fd;
}
