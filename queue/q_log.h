/* queue/q_log: the durable log of one partition — a directory of mmap'd segments.
 *
 * Appends return their dense 64-bit offset at once; durability is separate. A commit issues one
 * fdatasync that covers every append before it and moves the durable end; callers acknowledge
 * only offsets below q_log_durable(). Commits are synchronous (q_log_commit: tools, tests) or run
 * on the owner's io_uring reactor (q_log_commit_async: the server), with at most three fsyncs
 * in flight per log (one more starts at once for appends made while the others run, under
 * Q_COMMIT_ALWAYS, see queue/q_commit.c; "at once" is the end of the owner's loop turn when it
 * set q_log_on_kick); appends made while all three run wait for the next one (group commit).
 *
 * On open the segments are checked: every checksum in sealed segments (Q_VERIFY_ALL, the
 * default), and the tail segment is cut at the first record that does not verify (torn write,
 * zero bytes, bit flip) past its synced watermark (the records a completed fsync covered, kept in
 * the segment header), the cut bytes being copied into <dir>/salvaged/ first and the cut logged
 * with file, position, bytes and the copy. Damage inside a sealed segment, or before the
 * watermark of the tail, fails the open with the file, position and offset in q_log_err, unless
 * `salvage`.
 *
 * Record views (q_rec.payload) point into a segment mapping: they stay valid until
 * q_log_retain() deletes that segment or q_log_close(). Copy what must live longer.
 *
 * Threads: a log belongs to one thread (its shard). No call is thread-safe.
 * Errors: negative errno. -EMSGSIZE record too large (nothing written), -ENOSPC no room: the disk
 * is full (nothing written; the log stays usable, see "Space" below), -EROFS opened read-only, -EBUSY another
 * process has the log open for writing, -EBADMSG damage (see q_log_err), -EIO and any error of a
 * failed fsync are sticky: the log refuses further appends and commits (after a failed fsync the
 * page cache can no longer be trusted to hold what was written). */
#ifndef Q_LOG_H
#define Q_LOG_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "core/ev_reactor.h"
#include "queue/q_format.h"

/* Defaults and limits (see also q_format.h). */
#define Q_SEGMENT_BYTES_DEFAULT (64u * 1024u * 1024u) /* fsync and retention granularity */
#define Q_RECORD_BYTES_DEFAULT (4u * 1024u * 1024u)   /* biggest payload accepted */
#define Q_INTERVAL_MS_MAX 60000u                      /* a longer window is a config mistake */
#define Q_LOG_SEGMENTS_MAX 65536u                     /* 4 TiB at the default size */

typedef enum {
    Q_COMMIT_ALWAYS = 0, /* a commit fdatasyncs right away (beside the one in flight, or right
                          * after the older of two in flight) */
    Q_COMMIT_INTERVAL,   /* commits are batched: one fdatasync every interval_ms at most */
    Q_COMMIT_NEVER,      /* no fdatasync: a commit reports everything appended at once; acks
                          * survive a process crash (the page cache has them), not power loss */
} q_commit_policy;

typedef enum {
    Q_VERIFY_ALL = 0, /* open checks every checksum of every segment */
    Q_VERIFY_TAIL,    /* sealed segments: headers and sequence only; reads check checksums */
} q_verify_mode;

typedef struct q_log_opts {
    uint32_t segment_bytes;    /* size of new segments; default Q_SEGMENT_BYTES_DEFAULT */
    uint32_t record_bytes_max; /* payload limit for appends; default Q_RECORD_BYTES_DEFAULT */
    q_commit_policy policy;
    uint32_t interval_ms; /* Q_COMMIT_INTERVAL window */
    q_verify_mode verify;
    bool read_only;        /* no writes at all: tools, the fuzzer; the tail is cut in memory */
    bool no_create;        /* fail with -ENOENT instead of creating a missing log */
    bool salvage;          /* damage in a sealed segment or before the tail's watermark: cut
                                * there like a torn tail, a copy of the damaged segment and the
                                * later segments going to <dir>/salvaged/, instead of failing */
    uint64_t first_offset; /* offset of the first record of a new log */
    /* Called after each segment is checked during open (long verifications), may be NULL. */
    void (*progress)(void *ud, uint32_t done, uint32_t total);
    void *progress_ud;
} q_log_opts;

/* What open found wrong (filled on -EBADMSG) or cut off the tail (filled on success). */
typedef struct q_log_err {
    char file[64];   /* segment file name, "" when none */
    uint64_t pos;    /* byte position inside that file */
    uint64_t offset; /* the record offset expected there */
    uint64_t bytes;  /* bytes cut (tail) */
    uint64_t synced; /* the synced watermark of that file (an offset; 0 when unknown): damage
                        * below it is refused, a cut at or above it is a torn write */
    char kept[96];   /* where the first copy of what was cut or set aside went, relative to
                        * the log directory ("salvaged/..."); "" when nothing was */
    const char *why; /* static text, NULL when nothing happened */
} q_log_err;

typedef struct q_log q_log;

/* Fills the defaults. */
void q_log_opts_default(q_log_opts *o);
/* The range of segment_bytes q_log_open accepts with these options: a multiple of
 * Q_SEG_ALIGN_BYTES from the smallest that holds one record of o->record_bytes_max to
 * Q_SEG_BYTES_MAX. For flag checks before anything opens. */
#define Q_SEG_ALIGN_BYTES 4096u /* page size: segments are mapped */
uint32_t q_log_segment_bytes_min(const q_log_opts *o);
uint32_t q_log_segment_bytes_max(void);
/* Parses "always" | "never" | "interval:<ms>" into o->policy / o->interval_ms. 0 or -EINVAL. */
int q_commit_policy_parse(const char *s, q_log_opts *o);

/* Opens (creating unless no_create) the log in directory `dir` and recovers it. `opts` may be
 * NULL for defaults; `err` may be NULL. On success *out owns the log; tail cut details (if any)
 * are in *err with err->why set. Returns 0, -EBADMSG (damage: *err names file and position),
 * -EBUSY (locked by another writer), -EINVAL (bad opts), or another negative errno. */
int q_log_open(const char *dir, const q_log_opts *opts, q_log **out, q_log_err *err);
/* Closes the log (without a commit). Returns -EBUSY and does nothing while an async commit is in
 * flight or has waiters, or an allocation step is in flight (see "Space"): run the loop until
 * the callbacks have run. */
int q_log_close(q_log *log);

/* Appends one record. `type` is the caller's; the payload is copied (borrowed for the call).
 * Returns the record's offset (>= 0) or a negative errno; on error nothing was appended. */
int64_t q_log_append(q_log *log, uint16_t type, const void *payload, uint32_t len);
/* Same with the payload in `n` pieces (n <= IOV_MAX). */
int64_t q_log_appendv(q_log *log, uint16_t type, const struct iovec *iov, int n);

/* ---- Space (queue/q_log_space.c) ----
 * A segment's blocks are allocated in steps ahead of the writer (see q_segment.h): on a log
 * attached to a loop, an IORING_OP_FALLOCATE in io_uring's workers is started when the free
 * allocated room falls under half a step; an append that finds no allocated room (the async step
 * is late, or there is no loop) allocates on the calling thread (counted in grow_sync_total).
 *
 * The reserve: a plain append is accepted only when `reserve` allocated bytes stay free in the
 * open segment after it (rolling to a new segment, allocated with its reserve, when they do not
 * fit). Appends that free space (acks, deletes, purges: q_log_appendv_freeing) may use them, so
 * a full disk never strands a task: its ack is written, retention deletes the segments it
 * pinned, and plain appends resume. The caller sets the reserve to what those records of every
 * live task would take (q_log_set_reserve); it is clamped to reserve_max, a quarter of a segment
 * (and less where the largest record would no longer fit an empty segment beside it).
 *
 * Disk full: a plain append that cannot get room (fallocate: -ENOSPC) is refused with -ENOSPC
 * (nothing written, the log stays usable) and the log enters the disk-full state, logging one
 * warning line and counting it in disk_full_total; the next plain append that gets its room
 * leaves the state with one info line. */

/* Sets the bytes plain appends leave for freeing appends (clamped, see above). */
void q_log_set_reserve(q_log *log, uint64_t bytes);
uint32_t q_log_reserve(const q_log *log);
/* Appends a record that frees space (an ack, a delete, a purge): may use the reserve. Returns
 * its offset or a negative errno, as q_log_appendv(). */
int64_t q_log_appendv_freeing(q_log *log, uint16_t type, const struct iovec *iov, int n);
/* The disk-full state now, and how many times the log entered it (cheap: for every request). */
bool q_log_disk_full(const q_log *log);
uint64_t q_log_disk_full_total(const q_log *log);

/* Synchronous commit: one fdatasync covering every append so far, blocking the caller. Returns 0
 * (q_log_durable() == q_log_next()) or a negative errno (sticky). With Q_COMMIT_NEVER it still
 * syncs: it is the explicit request. */
int q_log_commit(q_log *log);
/* Clean shutdown, before q_log_close: q_log_commit, then one more fdatasync of the tail segment so
 * that the synced watermark (see docs/storage.md) covering everything is on disk too. Blocks.
 * Returns 0, -EBUSY while an async commit is in flight or has waiters (run the loop, call again),
 * -EROFS read-only, or the errors of q_log_commit (sticky). */
int q_log_commit_final(q_log *log);

/* Offsets. All records in [oldest, next) are readable; those below durable are durable. */
uint64_t q_log_oldest(const q_log *log);
uint64_t q_log_next(const q_log *log);
uint64_t q_log_durable(const q_log *log);
/* The synced end: every offset below was covered by a completed fsync (equals durable except
 * under Q_COMMIT_NEVER, where it moves only with q_log_commit, q_log_sync_async and opens). */
uint64_t q_log_synced(const q_log *log);
/* The commit sequence: counts the commits (sync or async fsyncs) that raised the synced end.
 * Monotonic for the life of the log directory: at open it restarts from the recovered synced
 * end, which is at least every count reached before (docs/semantics.md, Durability levels).
 * q_log_commit_seq_next: the sequence of the first commit that covers a record appended now
 * (the commits in flight do not: they started before it). */
uint64_t q_log_commit_seq(const q_log *log);
uint64_t q_log_commit_seq_next(const q_log *log);
/* Sticky failure (a negative errno) or 0. */
int q_log_failed(const q_log *log);

/* Reads record `offset` (a view into the mapping, see above). 0, or -ERANGE outside
 * [oldest, next), -EBADMSG if a lazily verified record fails its checksum. Moves the segment's
 * lookup cursor (q_seg_find), hence the non-const log. */
int q_log_read(q_log *log, uint64_t offset, q_rec *out);

/* Iterator from an offset, for replay (from q_log_oldest()) and for tail readers (durable_only:
 * stops at q_log_durable(); call again after the durable callback). Survives appends, rolls and
 * retention of segments it has already left. */
typedef struct q_iter {
    const q_log *log;
    uint64_t next; /* offset of the next record to return */
    uint64_t gen;  /* log's segment generation when seg/pos were cached */
    uint32_t seg;  /* cached segment index */
    uint32_t pos;  /* cached position of `next` in that segment (0 = unknown) */
    bool durable_only;
} q_iter;
void q_iter_init(q_iter *it, const q_log *log, uint64_t from, bool durable_only);
/* Returns 1 with *out filled, 0 at the end (for now), -ERANGE when `next` was deleted by
 * retention, -EBADMSG on a lazily verified record that fails its checksum. */
int q_iter_next(q_iter *it, q_rec *out);

/* Retention: deletes whole segments whose records are all below `low_water` (the caller's
 * oldest live record). Only segments a commit has covered go (the segment being appended to and
 * those rolled since the last commit stay). Oldest first, each unlink followed by a directory
 * fsync before the next, so a crash leaves a deleted prefix, never a gap.
 * Without a loop: deletes them now; returns how many, or a negative errno.
 * On a loop (q_log_attach): the unlink and the directory fsync go through the ring
 * (IORING_OP_UNLINKAT, IORING_OP_FSYNC), off the owner's thread; returns 0 at once and the
 * segments go as those complete, one at a time, until none below the highest `low_water` asked
 * for is left (q_log_stats.segments_retired counts them; q_log_close() is -EBUSY meanwhile).
 * A failed unlink or directory fsync stops retention: that segment and later ones stay, and
 * every later call returns that error. */
int q_log_retain(q_log *log, uint64_t low_water);
/* End of the oldest segment: a live record below this offset pins that segment; compacting it
 * lets q_log_retain() free it. Equals q_log_next() when only one segment exists. */
uint64_t q_log_oldest_segment_end(const q_log *log);
/* Re-appends record `offset` at the head with its type, payload and original id, flagged
 * Q_REC_F_COMPACTED. Returns the new offset or a negative errno. */
int64_t q_log_compact(q_log *log, uint64_t offset);

/* fsync latency histogram of the async commits (each fdatasync / fsync op of a chain): upper
 * bounds of its buckets in ns, ascending; one more bucket counts the slower ones. From 100 us
 * (a fast NVMe flush) to 2.5 s (a disk in trouble): Prometheus-style 1-2.5-5 steps. */
#define Q_FSYNC_BUCKETS 15u
#define Q_FSYNC_BOUNDS_NS                                                                      \
    {                                                                                          \
        100000ull, 250000ull, 500000ull, 1000000ull, 2500000ull, 5000000ull, 10000000ull,      \
            25000000ull, 50000000ull, 100000000ull, 250000000ull, 500000000ull, 1000000000ull, \
            2500000000ull                                                                      \
    }

typedef struct q_log_stats {
    uint32_t segments;
    uint64_t records;     /* next - oldest */
    uint64_t disk_bytes;  /* sum of segment file sizes */
    uint64_t alloc_bytes; /* bytes allocated in the open segment (older ones: their size) */
    bool disk_full;
    uint64_t disk_full_total; /* times the log entered the disk-full state */
    uint64_t grow_sync_total; /* appends that allocated on the owner's thread */
    uint64_t used_bytes;      /* bytes holding headers and records */
    uint64_t oldest, next, durable;
    /* Async commit fsync ops so far: how many fell in each bucket (not cumulative; the last is
     * above every bound), their count and their total time. */
    uint64_t fsync_buckets[Q_FSYNC_BUCKETS];
    uint64_t fsyncs, fsync_ns_total;
    /* Completed commits that ran the committed callback (q_log_on_committed), and how many of
     * them found the next fsync already in flight (the work done there overlapped it). */
    uint64_t committed_total, committed_overlapped;
    /* Commit chains started while an older one was in flight (pipelined, Q_COMMIT_ALWAYS). */
    uint64_t commits_pipelined;
    uint64_t segments_retired; /* segments q_log_retain() deleted since open */
    bool retiring;             /* a deletion is in flight on the loop */
    /* Rolls into a segment file made ahead off the owner's thread (with a loop: q_log_spare.c),
     * and rolls that created the file on the owner's thread. */
    uint64_t segments_made_ahead, segments_made_inline;
} q_log_stats;
void q_log_get_stats(const q_log *log, q_log_stats *st);
/* Name of segment i (0 = oldest) and its [base, end) range, for tools. -ERANGE past the end. */
int q_log_segment_info(const q_log *log, uint32_t i, char name[64], uint64_t *base, uint64_t *end,
                       uint32_t *used, uint32_t *bytes);

/* ---- Async group commit on the owner's reactor (queue/q_commit.c). ---- */

/* Called once the durable end moves, after the waiters' callbacks have been detached. */
typedef void (*q_durable_fn)(q_log *log, void *ud, uint64_t durable);
/* status 0: every append made before the q_log_commit_async() call is durable (durable >= the
 * target); status < 0: the fsync failed (sticky). */
typedef void (*q_commit_cb)(q_log *log, void *ud, int status, uint64_t durable);

/* A commit waiter lives in the caller's memory (no allocation per commit): keep it alive and
 * unmoved until its callback has run. */
typedef struct q_commit_waiter {
    q_commit_cb cb;
    void *ud;
    uint64_t target;              /* q_log_next() at the call */
    struct q_commit_waiter *next; /* the log's FIFO */
} q_commit_waiter;

/* Binds the log to its owner's loop (once, before any async commit). 0 or -EINVAL. */
int q_log_attach(q_log *log, ev_loop *loop);
/* Sets the callback run whenever the durable end moves (sync or async commits). */
void q_log_on_durable(q_log *log, q_durable_fn fn, void *ud);
/* Run once per completed async commit (q_log_commit_async, q_log_sync_async), after the
 * callbacks of every waiter it covered have returned and after the next fsync, for the waiters
 * queued meanwhile, has been started: the place for work the commit made possible that must not
 * delay the next fsync or the waiters' answers (the server hands out the tasks the commit made
 * visible here, so the leasing overlaps the next fsync and the producers' replies go first).
 * Appends made from fn join the fsync in flight's successor; a commit asked for from fn starts
 * at once if none is in flight. Not run after a failed commit (the waiters were told). */
typedef void (*q_committed_fn)(q_log *log, void *ud, uint64_t durable);
void q_log_on_committed(q_log *log, q_committed_fn fn, void *ud);
/* Asks for every append so far to become durable. Returns 1 when it already is (the callback
 * will not run), 0 when queued (the callback runs exactly once, from the loop, never from inside
 * this call), or a negative errno (sticky failure, not attached). Policy: ALWAYS starts an
 * fdatasync now unless one is in flight (then the next starts when it completes); INTERVAL starts
 * one when the window's timer fires; NEVER reports everything appended as durable (returns 1). */
int q_log_commit_async(q_log *log, q_commit_waiter *w, q_commit_cb cb, void *ud);
/* The same wait, without hastening the commit: under ALWAYS it starts an fdatasync only when none
 * is in flight; beside one in flight it starts no second (pipelined) one, and joins the next
 * chain, which starts when the one in flight ends or when a q_log_commit_async waiter starts it
 * first. For records whose answer is not on a producer's critical path (a consumer's acks): they
 * stay durable before they are answered, but ride the producers' fsyncs instead of adding their
 * own beside them. Returns and errors as q_log_commit_async. */
int q_log_commit_join(q_log *log, q_commit_waiter *w, q_commit_cb cb, void *ud);
/* Deferred start (Q_COMMIT_ALWAYS): once set, a commit wanted while the owner's loop runs its
 * turn (a request's q_log_commit_async or _join, a completion's remaining waiters) is not started
 * there: fn(log, ud) is called, once until the next q_log_commit_kick, and the owner must call
 * q_log_commit_kick(log) before its loop next submits to the kernel (an ev_loop hook: the end of
 * the turn). Every request the turn ran then shares one fdatasync, where each used to start its
 * own beside the one in flight. An SQE prepared during the turn reaches the kernel only at that
 * submit anyway; the owner may hold the kick for a few more turns while completions are already
 * waiting (server/srv_part.c, SRV_KICK_WAIT_TURNS_MAX), so those requests join the same chain. fn must not call back into the log. Without it
 * (tools, tests) commits start from inside the call, as documented above. */
typedef void (*q_kick_fn)(q_log *log, void *ud);
void q_log_on_kick(q_log *log, q_kick_fn fn, void *ud);
/* Starts what the waiters queued since fn was called need (nothing when no start is pending).
 * On a failure to start (sticky), runs every waiter's callback with the error, from this call,
 * and returns true: their answers are queued, so the owner's loop must take one more turn (its
 * flush) before it sleeps. False otherwise. Owner thread, outside the log's own callbacks. */
bool q_log_commit_kick(q_log *log);
/* Whether a commit chain (fdatasync, rename or directory fsync, on io-wq or rt_bg) is in flight
 * or a deferred start waits for q_log_commit_kick: what a shard spinning on its CPU could delay
 * (wk_mesh_loop's busy spin gate). Owner thread. */
bool q_log_commit_in_flight(const q_log *log);
/* Starts the fsync chain now, whatever the policy: fdatasync of what was appended, then the
 * renames that publish rolled segments (so retention may delete them) and the directory fsync,
 * all through the loop — the housekeeping sync of --fsync never, which must not block the shard.
 * Returns 0 when started (cb runs once, from the loop), -EBUSY when a chain is in flight (try
 * again later), or a negative errno (sticky failure, not attached). */
int q_log_sync_async(q_log *log, q_commit_waiter *w, q_commit_cb cb, void *ud);

#endif
