/* core/ev_reactor: the io_uring reactor. One ev_loop per shard thread; the only file in the
 * tree that includes <liburing.h> is core/ev_reactor.c.
 *
 * Model
 *   Callers embed an `ev_op` in their own structs and start an operation on it. The op's address
 *   is the SQE's user_data. Completions are first collected from the CQ into a local array, the
 *   CQ is advanced, and only then are the callbacks run (never while walking the CQ), so a
 *   callback may freely submit new work or stop other ops.
 *
 *   Every callback gets the raw CQE result: >= 0 success (bytes, fd, ...) or a negative errno.
 *   Multishot ops (accept, recv) report EV_F_MORE while they stay armed; when a completion lacks
 *   it the op has ended and the owner must re-arm it (or not). -ENOBUFS from a multishot recv
 *   means the provided-buffer ring ran dry: flow control, not an error — re-arm after returning
 *   buffers.
 *
 *   An op may have at most one operation in flight. `op->busy` is true from start until its
 *   final completion (for multishot: the completion without EV_F_MORE).
 *
 * Threads
 *   An ev_loop is touched only by its owner thread, except ev_loop_wake_from(), which any thread
 *   may call (it uses IORING_OP_MSG_RING from the caller's own loop or, for threads without a
 *   loop, an eventfd fallback).
 *
 * Timers
 *   In-loop timers are kept in a binary heap keyed by deadline; one IORING_OP_TIMEOUT is armed
 *   for the earliest. Timer callbacks run in the same post-CQ phase as completions. */
#ifndef EV_REACTOR_H
#define EV_REACTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/rt_hist.h"

typedef struct ev_loop ev_loop;
typedef struct ev_op ev_op;
typedef struct ev_timer ev_timer;

/* Completion flags passed to callbacks. */
#define EV_F_MORE 0x1u   /* multishot op stays armed */
#define EV_F_BUFFER 0x2u /* a provided buffer was used: see ev_op_buffer() */
#define EV_F_NOTIF 0x4u  /* a zero-copy send's notification: the kernel let go of the buffers */

typedef void (*ev_cb)(ev_loop *loop, ev_op *op, int res, unsigned flags);

typedef enum {
    EV_OP_NONE = 0,
    EV_OP_ACCEPT,
    EV_OP_RECV,
    EV_OP_SEND,
    EV_OP_READ,
    EV_OP_WRITE,
    EV_OP_FSYNC,
    EV_OP_MSG_RING,
    EV_OP_CANCEL,
    EV_OP_POLL,
    EV_OP_FALLOCATE,
    EV_OP_CONNECT,
    EV_OP_SENDMSG,
    EV_OP_SENDMSG_ZC,
    EV_OP_UNLINKAT,
} ev_op_kind;

struct ev_op {
    ev_cb cb;        /* set by the caller before starting */
    void *ud;        /* caller's pointer, untouched by the reactor */
    uint8_t kind;    /* ev_op_kind of the operation in flight */
    bool busy;       /* an operation is in flight on this op */
    uint16_t bid;    /* provided buffer id of the last completion (EV_F_BUFFER) */
    uint32_t buflen; /* bytes in that buffer */
};

typedef void (*ev_timer_cb)(ev_loop *loop, ev_timer *t);
struct ev_timer {
    ev_timer_cb cb;
    void *ud;
    uint64_t deadline_ns; /* CLOCK_MONOTONIC */
    uint32_t heap_idx;    /* position in the loop's heap, UINT32_MAX when not armed */
};

typedef struct ev_loop_opts {
    unsigned sq_entries; /* SQ size; default 1024 */
    unsigned buf_count;  /* provided recv buffers (power of two); default 256 */
    unsigned buf_size;   /* bytes per provided buffer; default 16384 */
    int shard_id;        /* for logs */
} ev_loop_opts;

/* Creates a loop on the calling thread (it becomes the ring's single issuer). Tries
 * SINGLE_ISSUER|DEFER_TASKRUN, falls back to plain setup on older kernels. Returns NULL and sets
 * *err to a negative errno and *why to a static one-line reason when io_uring is unusable
 * (disabled by sysctl, seccomp, too old). */
ev_loop *ev_loop_create(const ev_loop_opts *opts, int *err, const char **why);
/* Destroys the loop. Ops still in flight are abandoned (their memory must outlive nothing). */
void ev_loop_destroy(ev_loop *loop);

/* Runs until ev_loop_stop(). Returns 0 or a negative errno on a fatal ring error. */
int ev_loop_run(ev_loop *loop);
/* Runs one iteration: submit, wait for at least one completion or timer (or not at all when
 * `block` is false), dispatch (at most one turn's budget: ev_turn_stats), run due timers.
 * Returns the number of callbacks run or a negative errno. */
int ev_loop_run_once(ev_loop *loop, bool block);
void ev_loop_stop(ev_loop *loop);
/* Monotonic time cached at the start of the current iteration (cheap). */
uint64_t ev_loop_now(ev_loop *loop);
/* Shard loop stalls: one observation per iteration, the time from the wake-up (completions
 * collected) to the next submit or wait, i.e. what callbacks, timers and the next iteration's
 * hooks (its iteration and before-sleep phases) took while the loop could not see new
 * completions. Costs one clock read an iteration.
 * Written by the loop's thread; any thread may read it with rt_hist_add while the loop runs
 * (borrowed: valid until ev_loop_destroy). */
const rt_hist *ev_loop_stall_hist(const ev_loop *loop);
/* Counts the stalls into `h` from now on (borrowed: must outlive the loop, so a reader on
 * another thread may keep reading it after the loop is gone), or back into the loop's own when
 * `h` is NULL. Owner thread only. */
void ev_loop_set_stall_hist(ev_loop *loop, rt_hist *h);
/* The long turns (at least EV_STALL_SPLIT_NS) of the stall histogram, split in two (ev_stall.h):
 * the time the thread was runnable without a CPU (preempted) and the rest (on-CPU: its own work
 * and blocking calls). One observation in each per long turn; same reading rules as
 * ev_loop_stall_hist. */
const rt_hist *ev_loop_stall_oncpu_hist(const ev_loop *loop);
const rt_hist *ev_loop_stall_preempted_hist(const ev_loop *loop);
/* Counts the split into `oncpu` and `preempted` from now on (borrowed, as for
 * ev_loop_set_stall_hist), or back into the loop's own when NULL. Owner thread only. */
void ev_loop_set_stall_split_hists(ev_loop *loop, rt_hist *oncpu, rt_hist *preempted);
int ev_loop_shard(const ev_loop *loop);
/* The loop's turn trace (core/ev_trace.h: a breakdown of long turns, switched on by
 * RINGQ_TURN_TRACE_MS or ev_trace_set). Borrowed; owner thread only. */
struct ev_trace *ev_loop_trace(ev_loop *loop);
/* One turn's work is bounded. A turn dispatches at most one batch of EV_BATCH_MAX completions
 * taken from the CQ (the rest stay there), and stops taking more from that batch once its
 * completions have run EV_TURN_NS_MAX (the clock is read after each one, so one callback is the
 * most it overruns by); what it leaves runs first next turn, and the loop does
 * not sleep meanwhile. A backlog (the thread lost its CPU while requests kept coming) used to be
 * handled in one turn of 10 ms and more, every answer and delivery its callbacks batched up
 * flushed only at its end by the iteration hooks; cut, the hooks flush at least every ~500 us and
 * timers run. 500 us: half the 1 ms open-loop p99 target. */
#define EV_BATCH_MAX 256u
#define EV_TURN_NS_MAX 500000ull
/* How often the budget cut a turn, and the largest turn. Written by the loop's thread; read by
 * it (or after it stopped). */
typedef struct ev_turn_stats {
    uint64_t cut_by_time;  /* turns that left completions for the next turn: out of time */
    uint64_t cut_by_count; /* turns that took a full batch with more completions ready */
    uint64_t cqes_max;     /* most completions dispatched in one turn */
} ev_turn_stats;
void ev_loop_turn_stats_get(const ev_loop *loop, ev_turn_stats *out);

/* Hooks run at three points of every loop iteration:
 *   EV_HOOK_ITERATION     every iteration, before submitting and waiting: flush work that
 *                         callbacks of the previous iteration batched up (mailbox lanes, dirty
 *                         connections). Runs even when the loop never sleeps, so a busy loop
 *                         cannot starve what a hook does. Return value ignored.
 *   EV_HOOK_BEFORE_SLEEP  the loop is about to block in the kernel. The mailbox publishes
 *                         "I may be asleep" here and re-checks its rings: returning false vetoes
 *                         the sleep (the loop polls and runs again), so a message that raced
 *                         with the flag is never stranded.
 *   EV_HOOK_AFTER_WAKE    the loop came back from blocking. Return value ignored.
 * At most EV_HOOKS_MAX hooks; they run in the order added. */
#define EV_HOOKS_MAX 8
typedef enum {
    EV_HOOK_ITERATION = 0,
    EV_HOOK_BEFORE_SLEEP = 1,
    EV_HOOK_AFTER_WAKE = 2
} ev_hook_phase;
typedef bool (*ev_hook_fn)(ev_loop *loop, void *ud, ev_hook_phase phase);
int ev_loop_add_hook(ev_loop *loop, ev_hook_fn fn, void *ud);

/* Called on the loop's thread for every wake-up message sent with ev_loop_wake_from(). Several
 * subsystems share a loop (the server runtime, the cross-shard mailbox), so a loop keeps up to
 * EV_WAKE_HANDLERS_MAX handlers and runs every one for every wake-up; each filters on `data`
 * (wakes through the eventfd fallback carry data 0). Returns 0 or -ENOSPC. */
#define EV_WAKE_HANDLERS_MAX 4
typedef void (*ev_wake_fn)(ev_loop *loop, void *ud, uint32_t data);
int ev_loop_add_wake_handler(ev_loop *loop, ev_wake_fn fn, void *ud);
/* Same as ev_loop_add_wake_handler (kept for callers written before handlers were shared). */
int ev_loop_set_wake_handler(ev_loop *loop, ev_wake_fn fn, void *ud);

/* Wakes `target` from another thread. `self` is the caller's own loop (IORING_OP_MSG_RING is
 * submitted on it) or NULL for a thread without a loop (then an eventfd write is used).
 * `data` reaches the target's wake handler. Returns 0 or a negative errno. Thread-safe. */
int ev_loop_wake_from(ev_loop *self, ev_loop *target, uint32_t data);

/* Operations. Each returns 0 when queued, or a negative errno (-EBUSY when op->busy). The
 * caller keeps `op` (and any buffer passed) alive and unmoved until the final completion. */
int ev_accept_multishot(ev_loop *loop, ev_op *op, int listen_fd);
/* Multishot recv into the loop's provided buffer ring. Each completion with res > 0 carries
 * EV_F_BUFFER; read the bytes with ev_op_buffer() and give the buffer back with
 * ev_buffer_release() once done (the same iteration or later). */
int ev_recv_multishot(ev_loop *loop, ev_op *op, int fd);
const uint8_t *ev_op_buffer(ev_loop *loop, const ev_op *op);
void ev_buffer_release(ev_loop *loop, uint16_t bid);
int ev_send(ev_loop *loop, ev_op *op, int fd, const void *buf, size_t len);
/* Gathers `msg`'s iovecs into one send (IORING_OP_SENDMSG, MSG_NOSIGNAL). `msg`, its iovec array
 * and the bytes stay the caller's and unchanged until the completion. res: bytes sent or -errno. */
int ev_sendmsg(ev_loop *loop, ev_op *op, int fd, const struct msghdr *msg);
/* The same without copying the bytes into the kernel (IORING_OP_SENDMSG_ZC): two completions,
 * the result (EV_F_MORE set, res: bytes or -errno), then the notification (EV_F_NOTIF, res 0)
 * once the kernel no longer reads the bytes: only then may they change or be freed, and only
 * then is `op` free again. -EOPNOTSUPP when the kernel lacks it (ev_loop_has_send_zc). */
int ev_sendmsg_zc(ev_loop *loop, ev_op *op, int fd, const struct msghdr *msg);
/* The kernel supports IORING_OP_SENDMSG_ZC (probed once at loop creation; Linux 6.1+). */
bool ev_loop_has_send_zc(const ev_loop *loop);
/* Connects a stream socket (IORING_OP_CONNECT): res 0, or a negative errno (-ECONNREFUSED,
 * -ECANCELED after ev_cancel, ...). `addr` must stay valid until the completion. */
int ev_connect(ev_loop *loop, ev_op *op, int fd, const struct sockaddr *addr, socklen_t addrlen);
int ev_read(ev_loop *loop, ev_op *op, int fd, void *buf, size_t len, uint64_t off);
int ev_write(ev_loop *loop, ev_op *op, int fd, const void *buf, size_t len, uint64_t off);
/* fdatasync when `datasync`, fsync otherwise; through IORING_OP_FSYNC so the loop never blocks. */
int ev_fsync(ev_loop *loop, ev_op *op, int fd, bool datasync);
int ev_fallocate(ev_loop *loop, ev_op *op, int fd, int mode, uint64_t off, uint64_t len);
/* unlinkat(dirfd, path, flags) through IORING_OP_UNLINKAT (Linux 5.11+), so the directory update
 * and the journal work it may wait for run off this loop's thread. `path` is borrowed until the
 * completion. The result: 0 or a negative errno. */
int ev_unlinkat(ev_loop *loop, ev_op *op, int dirfd, const char *path, int flags);
/* Closes `fd` (ownership passes) in io_uring's worker threads (IOSQE_ASYNC), fire and forget,
 * so the work a last reference does runs there, never on this loop's thread: for an unlinked file
 * that is freeing its pages and blocks, which on a filesystem mounted with `discard` waits for the
 * device synchronously (milliseconds per 64 MiB segment). The SQE goes in at the next submit.
 * Returns 0, or -EBUSY when no SQE is free (the fd stays the caller's). */
int ev_close_detached(ev_loop *loop, int fd);
/* Requests cancellation of the operation in flight on `target`; its callback still runs (with
 * -ECANCELED or its natural result). `op` (may be NULL: fire and forget) reports the cancel. */
int ev_cancel(ev_loop *loop, ev_op *op, ev_op *target);

/* Timers. */
void ev_timer_init(ev_timer *t, ev_timer_cb cb, void *ud);
/* Arms (or re-arms) `t` for an absolute CLOCK_MONOTONIC deadline. Returns 0 or -ENOMEM. */
int ev_timer_start(ev_loop *loop, ev_timer *t, uint64_t deadline_ns);
void ev_timer_stop(ev_loop *loop, ev_timer *t);
static inline bool ev_timer_armed(const ev_timer *t) { return t->heap_idx != UINT32_MAX; }

/* For a before-sleep hook that polls for a while instead of sleeping: submits queued SQEs,
 * lets the kernel post completions it deferred (DEFER_TASKRUN) without waiting, and returns
 * true when completions are ready or a timer is due, i.e. when the hook should stop polling
 * and let the loop run. One io_uring_enter: call it every few microseconds, not in a tight
 * loop. */
bool ev_loop_has_events(ev_loop *loop);
/* Submits queued SQEs now (normally done once per loop iteration). */
int ev_loop_flush(ev_loop *loop);

#endif
