/* queue/q_log_spare: the next segment's file made ahead of the roll, off the log's thread.
 *
 * A roll used to create its segment on the shard thread: openat(O_CREAT), ftruncate, fallocate
 * of the first step, the header's pwrite, mmap, and then a pwrite per page of the first prewrite
 * step as the appends reach them — journal work and page-cache allocation on the thread that
 * answers every request (issue 19: the long on-CPU turns at 100 B and 2 KiB line up with the
 * rolls). Now, once the open segment is Q_LOG_SPARE_AT_PERCENT full, the background thread
 * (core/rt_bg) makes a spare file that is all of that except the header (q_seg_spare_prepare);
 * the roll finds it ready and only writes the header into its mapping and renames it to the
 * segment's temporary name (q_seg_spare_adopt), a rename in the log's own directory.
 *
 * Recovery: the spare's name is no segment's, so a crash before the adoption leaves a file that
 * recovery never reads and q_log_open deletes (absent, empty or partial after a power loss: it
 * holds no record either way). After the adoption it is exactly what q_seg_create leaves: a
 * "<base>.qseg.tmp" of the full size with its header written and not yet synced, published by the
 * commit that covers it (docs/storage.md "Durability").
 *
 * Only with a loop (a shard's log): without one nothing waits on the writer's thread but the
 * caller, and the log stays as it was (tools, tests of the synchronous paths). A spare still
 * being made at a roll is not waited for: the roll creates its segment itself, and the spare
 * serves the next roll. */
#include <errno.h>

#include "core/rt_log.h"
#include "queue/q_log_int.h"
#include "queue/q_sys.h"

/* The spare is made once the open segment is this full: half a segment (32 MiB by default) of
 * appends ahead, so it is ready long before the roll even at disk speed, and a log that never
 * fills half a segment (most partitions) never holds a second file. */
#define Q_LOG_SPARE_AT_PERCENT 50u

static void make_spare(rt_bg_job *job)
{
    q_spare *sp = (q_spare *)job; /* job is the first member */
    sp->err = q_seg_spare_prepare(sp->dirfd, sp->bytes, sp->alloc, &sp->seg);
}

/* The job ended: keep the spare or note why not. */
static void spare_landed(q_log *log)
{
    q_spare *sp = &log->spare;
    if (sp->err == 0) {
        sp->state = Q_SPARE_READY;
        return;
    }
    log_debug("next segment not made ahead", "dir=%s err=%d", log->dir, sp->err);
    sp->failed_for = sp->for_base + 1;
    sp->state = Q_SPARE_NONE;
}

void q_log_spare_ahead(q_log *log)
{
    q_spare *sp = &log->spare;
    if (sp->state == Q_SPARE_MAKING && rt_bg_done(&sp->job)) spare_landed(log);
    if (!log->loop || sp->state != Q_SPARE_NONE || log->disk_full || log->failed) return;
    const q_seg *s = &log->segs[log->nsegs - 1];
    if ((uint64_t)s->used * 100u < (uint64_t)s->bytes * Q_LOG_SPARE_AT_PERCENT) return;
    if (sp->failed_for == s->base + 1) return; /* failed for this segment: the roll creates */
    sp->job = (rt_bg_job){.fn = make_spare};
    sp->for_base = s->base;
    sp->dirfd = log->dirfd;
    sp->bytes = log->opts.segment_bytes;
    sp->alloc = Q_SEG_ALLOC_FIRST_BYTES;
    sp->err = 0;
    if (rt_bg_submit(&sp->job) == 0) sp->state = Q_SPARE_MAKING;
    else sp->failed_for = s->base + 1; /* no thread or no memory: not again for this segment */
}

int q_log_spare_take(q_log *log, uint64_t base, uint32_t alloc)
{
    q_spare *sp = &log->spare;
    if (sp->state == Q_SPARE_MAKING && rt_bg_done(&sp->job)) spare_landed(log);
    if (sp->state != Q_SPARE_READY) return 0;
    if (sp->seg.bytes != log->opts.segment_bytes || sp->seg.alloc < alloc) return 0;
    int r = q_seg_spare_adopt(log->dirfd, base, &sp->seg);
    if (r) {
        q_seg_spare_discard(log->dirfd, &sp->seg);
        sp->state = Q_SPARE_NONE;
        return r;
    }
    log->segs[log->nsegs++] = sp->seg;
    sp->state = Q_SPARE_NONE;
    log->seg_made_ahead++;
    return 1;
}

void q_log_spare_drop(q_log *log)
{
    q_spare *sp = &log->spare;
    if (sp->state == Q_SPARE_MAKING) {
        rt_bg_wait(&sp->job);
        spare_landed(log);
    }
    if (sp->state == Q_SPARE_READY) q_seg_spare_discard(log->dirfd, &sp->seg);
    sp->state = Q_SPARE_NONE;
}
