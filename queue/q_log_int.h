/* queue/q_log_int: the q_log struct, shared by q_log.c, q_log_open.c and q_commit.c only. */
#ifndef Q_LOG_INT_H
#define Q_LOG_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "core/ev_reactor.h"
#include "core/rt_bg.h"
#include "queue/q_log.h"
#include "queue/q_segment.h"

/* Commit chains in flight at once (ALWAYS policy). One more starts while others run when new
 * waiters need more than the youngest covers (an Enqueue arriving during an Ack-only commit would
 * otherwise wait for the rest of that fsync and all of the next). fdatasyncs of one file do
 * overlap on the test VM's disk, each getting slower; with three allowed instead of two a
 * durable Enqueue load waited 0.65x as long for its fdatasync to start, at 1.05x the tasks/s
 * (bench/results/commit-2026-12-07-s11.md). Waiters beyond the third wait for the oldest to
 * end, so a group still gathers what arrives meanwhile. */
#define Q_COMMIT_CHAINS_MAX 3u

/* One more chain starts beside those in flight only when what it would cover (the records
 * appended since the youngest started) is at least this many percent of what the youngest
 * covers; smaller groups wait for the youngest to end and join the next chain. Every chain is
 * one fdatasync of io-wq CPU (about 40 % of ringqd's CPU per task at b1 `always`) whatever it
 * covers, and overlapping fdatasyncs of one file each get slower on the test VM, so a chain for
 * a few records beside a large one cost CPU and bought no latency: at 200 the fdatasyncs per
 * task fell to 0.44x (b1) / 0.76x (b64), with no consistent drop in tasks/s (several pairs
 * lower, within run-to-run noise). 0 drops this size test (main's old rule: a chain for any
 * new waiters while a slot is free) but keeps the held-chain fix (a held younger chain does not
 * block a slot), so it is not main's old code; 50-400 measured:
 * bench/results/commit-2026-12-08-s12.md. */
#ifndef Q_COMMIT_PIPE_PCT
#define Q_COMMIT_PIPE_PCT 200u
#endif

/* A chain about to start on an idle log less than this many microseconds after a completion,
 * for a group smaller than what that completion's chain covered, waits until the group grows
 * to that size or this time has passed since the completion (ALWAYS only; 0 = start at once).
 * The parties a completion answers send their next requests within tens of microseconds; a
 * chain started for the first of them paid a whole fdatasync for a fraction of the group. */
#ifndef Q_COMMIT_HOLD_US
#define Q_COMMIT_HOLD_US 100u
#endif

/* One commit chain (q_commit.c): fdatasync of each segment from base to last, then the renames
 * that publish rolled segments and the directory fsync. It covers every append below target. */
/* A chain's step run on the background thread instead of the ring (--fsync never's retention
 * sync: off every request's path, so it runs at rt_bg's lowest priority and not on io-wq). */
typedef struct q_commit_bg {
    rt_bg_job job; /* first: the job's address is the step's */
    bool on;       /* this step runs as the job (polled by the log's timer), not as `op` */
    bool datasync; /* fdatasync, else fsync */
    int fd;        /* the job's copy */
    int res;       /* the job's result: 0 or a negative errno */
} q_commit_bg;

typedef struct q_commit_chain {
    ev_op op;          /* op.ud: the log */
    q_commit_bg bg;    /* the step in flight on rt_bg instead (Q_COMMIT_NEVER) */
    bool done;         /* completed, waiting for an older chain to complete first */
    int res;           /* its result once done: 0 or a negative errno */
    uint64_t target;   /* q_log.next when the chain started */
    uint64_t from;     /* what the older chains (or the durable end) covered when it started:
                        * it is the one to cover [from, target) */
    uint64_t base;     /* base of the segment it syncs now */
    uint64_t last;     /* base of the last segment it syncs (the last one at start) */
    bool dir;          /* at its directory fsync */
    int fd;            /* the fd in flight: its segment is not deleted meanwhile */
    uint64_t start_ns; /* when the op in flight started (rt_now_ns) */
} q_commit_chain;

/* The next segment's file, made ready on the background thread (q_log_spare.c). */
typedef enum {
    Q_SPARE_NONE = 0, /* none, and none being made */
    Q_SPARE_MAKING,   /* the job runs or waits (rt_bg): only the job touches `seg` */
    Q_SPARE_READY,    /* `seg` is a prepared spare (q_seg_spare_prepare), the log's */
} q_spare_state;

typedef struct q_spare {
    rt_bg_job job; /* first: the job's address is the spare's */
    q_spare_state state;
    int dirfd; /* the job's copies of what it needs (the job never reads the log) */
    uint32_t bytes, alloc;
    int err;             /* the job's result: 0 or a negative errno */
    uint64_t for_base;   /* base of the open segment the job in flight is for */
    uint64_t failed_for; /* that base + 1 when its job failed (0: none): no retry before the
                          * next roll (on a nearly full disk every job would fail) */
    q_seg seg;           /* the prepared file */
} q_spare;

/* Retention's deletion in flight on the loop (one segment at a time). */
typedef enum {
    Q_RETIRE_IDLE = 0,
    Q_RETIRE_UNLINK,  /* unlinkat of segs[0]'s file in flight */
    Q_RETIRE_DIRSYNC, /* its directory fsync in flight */
} q_retire_step;

struct q_log {
    int dirfd;
    q_log_opts opts;
    q_seg *segs; /* oldest first; the last one takes appends */
    uint32_t nsegs, segs_cap;
    uint64_t gen;        /* bumped when segments are deleted, so iterators re-locate */
    uint64_t next;       /* offset the next append gets */
    uint64_t durable;    /* every offset below is durable */
    uint64_t synced;     /* every offset below was covered by a completed fsync (never more than
                        * durable; less under Q_COMMIT_NEVER), and the segment headers say so */
    uint64_t commit_seq; /* commits that raised `synced` (q_log_commit_seq), from the value at
                          * open: the recovered synced end (see q_log_open.c) */
    uint64_t sync_from;  /* base of the oldest segment that may hold appends not fdatasync'd */
    int failed;          /* sticky negative errno, 0 while healthy */
    /* space (q_log.c): room kept for appends that free space, and the disk-full state */
    uint32_t reserve;     /* bytes a plain append leaves allocated in the open segment */
    uint32_t reserve_max; /* q_log_set_reserve's clamp (see q_log_open.c) */
    bool disk_full;       /* the last plain append was refused for lack of space */
    bool reserve_out;     /* ... and a freeing append too (logged once per episode) */
    uint64_t disk_full_total;
    uint64_t grow_sync_total; /* appends that allocated on the owner's thread */
    ev_op grow_op;            /* async allocation ahead of the writer (IORING_OP_FALLOCATE) */
    bool growing;
    uint64_t grow_base; /* segment it allocates in */
    uint32_t grow_to;   /* end of the range it allocates */
    int grow_fd;
    q_spare spare;            /* the next segment, made ahead (with a loop only) */
    uint64_t seg_made_ahead;  /* rolls into a spare made off this thread */
    uint64_t seg_made_inline; /* rolls that created their segment on this thread */
    q_durable_fn durable_fn;
    void *durable_ud;
    /* async retention (q_log.c, with a loop): the oldest segment's unlink (IORING_OP_UNLINKAT),
     * then a directory fsync (IORING_OP_FSYNC), one segment at a time, oldest first */
    ev_op retire_op;
    q_retire_step retire_step;
    uint64_t retire_base; /* segment being deleted: segs[0] */
    uint64_t retire_low;  /* highest low water asked for; the next segments go up to it */
    int retire_err;       /* sticky negative errno of a failed unlink or directory fsync */
    uint64_t retired_total;
    char retire_name[Q_SEG_NAME_BYTES];
    /* async commit (q_commit.c): up to Q_COMMIT_CHAINS_MAX chains in flight, completed in
     * the order they started (chains[chain_head] is the oldest) */
    ev_loop *loop;
    ev_timer timer;
    bool inflight;     /* a commit chain is running (nchains > 0) */
    bool in_callbacks; /* commit callbacks are running: start nothing until they end */
    q_commit_chain chains[Q_COMMIT_CHAINS_MAX];
    uint32_t chain_head, nchains;
    uint64_t pipelined_total; /* chains started while an older one was in flight */
    uint64_t last_cover;      /* bytes the last retired chain covered (target - from) */
    uint64_t last_end_ns;     /* loop time of the last completion that retired a chain */
    uint64_t held_total;      /* idle-log starts that waited for their group (Q_COMMIT_HOLD_US) */
    uint64_t eager_target;    /* highest target of a q_log_commit_async waiter: only those may start
                            * a chain beside the one in flight (q_log_commit_join's wait) */
    uint64_t fsync_buckets[Q_FSYNC_BUCKETS]; /* latency histogram (q_log_stats) */
    uint64_t fsyncs, fsync_ns_total;
    q_commit_waiter *whead, *wtail;
    q_committed_fn committed_fn; /* q_log_on_committed: after each completion's callbacks */
    void *committed_ud;
    uint64_t committed_total;   /* completions that ran committed_fn */
    uint64_t committed_overlap; /* ... with the next fsync already in flight */
    /* deferred start (q_log_on_kick): commits wanted during the owner's turn start at its end */
    q_kick_fn kick_fn;
    void *kick_ud;
    bool kick_pending; /* kick_fn was called; q_log_commit_kick not yet */
    char dir[4096];
};

/* Whether a commit chain in flight uses fd (retention does not delete its segment). */
bool q_commit_fd_busy(const q_log *log, int fd);
/* Sets the durable end to `to` if that moves it, and runs the durable callback. */
void q_log_set_durable(q_log *log, uint64_t to);
/* Raises the synced watermark to `to`, which a completed fsync has just covered: the headers
 * of the segments holding offsets in [synced, to) are updated in the mapping (q_seg_set_synced),
 * to reach the disk with the next fsync — never an extra one. */
void q_log_set_synced(q_log *log, uint64_t to);
/* Index of the segment holding `offset` (oldest <= offset < next), by binary search. */
uint32_t q_log_seg_of(const q_log *log, uint64_t offset);
/* Appends an empty segment at `base` to the array: created with at least `alloc` bytes
 * allocated (at least Q_SEG_ALLOC_FIRST_BYTES; when that fails for space, exactly `alloc`) and,
 * when `publish`, renamed to its final name with the directory fsync'd (the first segment of a
 * log). 0 or negative errno. */
int q_log_add_segment(q_log *log, uint64_t base, uint32_t alloc, bool publish);
/* Makes room in the open segment for a record of `span` bytes and, unless `frees`, the reserve
 * after it: allocates or rolls (q_log_space.c). 0, -ENOSPC (disk-full state entered), -EMSGSIZE,
 * or another negative errno; nothing is written either way. */
int q_log_room(q_log *log, uint64_t span, bool frees);
/* After an append: starts the async allocation of the next step when the room runs low. */
void q_log_grow_ahead(q_log *log);
/* After an append, with a loop: starts making the spare once the open segment is
 * Q_LOG_SPARE_AT_PERCENT full and none exists (q_log_spare.c). */
void q_log_spare_ahead(q_log *log);
/* At a roll: adopts a ready spare as the segment at `base` when it has `alloc` bytes allocated
 * (1), or says there is none to take (0: the caller creates the segment itself). Negative errno
 * when the adoption failed (the spare is dropped; the caller creates the segment itself). */
int q_log_spare_take(q_log *log, uint64_t base, uint32_t alloc);
/* At close: waits for a spare being made, and deletes a spare not adopted. */
void q_log_spare_drop(q_log *log);
/* Renames the unpublished segments with base <= upto (oldest first; everything before them
 * must have been fdatasync'd). Returns how many were renamed (the caller then fsyncs the
 * directory) or a negative errno. */
int q_log_publish_upto(q_log *log, uint64_t upto);

/* ---- Copies of what recovery cuts (q_log_salvage.c); never on a read-only log. ---- */
#define Q_LOG_SALVAGE_DIR "salvaged"
#define Q_LOG_ASIDE_PATH_BYTES 96 /* "salvaged/" + a segment name + ".cut-<pos>" + ".<k>" */
_Static_assert(Q_LOG_ASIDE_PATH_BYTES <= sizeof(((q_log_err *)0)->kept), "kept holds a path");

/* Moves file `name` (in the log directory) into salvaged/, under a name no earlier copy has.
 * Fills err->kept if still empty. 0 or a negative errno. */
int q_log_aside_move(q_log *log, const char *name, q_log_err *err);
/* Copies bytes [from, to) of file `name` into salvaged/<name><suffix> (a fresh name) and fsyncs
 * the copy. Fills err->kept if still empty. 0 or a negative errno (no partial copy is left). */
int q_log_aside_copy(q_log *log, const char *name, uint64_t from, uint64_t to, const char *suffix,
                     q_log_err *err);
/* fsyncs salvaged/ and the log directory: call after the moves and copies, before anything is
 * zeroed. 0 or a negative errno. */
int q_log_aside_sync(q_log *log);

#endif
