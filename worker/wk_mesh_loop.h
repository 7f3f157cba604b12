/* worker/wk_mesh_loop: runs a mesh shard from its ev_loop.
 *
 * Attaching shard S to its loop installs:
 *   - an io_uring waker: senders wake S with ev_loop_wake_from(), i.e. IORING_OP_MSG_RING from
 *     a sender's own loop, or the loop's eventfd from a helper thread;
 *   - a wake handler: runs S's inbound messages (wk_mesh_poll) and flushes what they sent;
 *   - an every-iteration hook phase: polls and flushes, so a busy loop that never sleeps still
 *     receives and publishes;
 *   - a before-sleep hook phase: polls, flushes S's outbound lanes (when handlers ran, it vetoes this
 *     sleep so the loop notices ev_loop_stop or new work from them), then, when the shard ran
 *     or sent messages from or to another endpoint (not its self lane) less than
 *     opts.spin_ns ago, keeps polling until spin_ns after that
 *     traffic (adaptive polling: a shard in a cross-shard conversation answers the next
 *     message in about a microsecond instead of paying a wake-up; it also submits its queued
 *     SQEs and stops at once when a completion or timer is ready, see ev_loop_has_events),
 *     and finally runs the sleep protocol (wk_mesh_sleep_begin). When the re-check finds work,
 *     the hook vetoes the sleep, so the loop polls and runs again instead of blocking on a
 *     message that raced with the flag. After waking it clears the flag.
 *
 * An idle shard therefore sits in io_uring_enter with no timer and uses no CPU (spinning only
 * ever follows mesh traffic, and lasts at most spin_ns after it), and a busy one gets no
 * wake-ups at all (its flag stays 0).
 *
 * Shutdown order: a shard's loop may be destroyed only once nobody can wake it any more:
 * destroy the pool (joins its workers), stop every shard's loop, wait until all have returned
 * from ev_loop_run, then destroy the loops. (Senders call ev_loop_wake_from(target) on the
 * target loop's ring fd or eventfd, so the target must outlive them.) */
#ifndef WK_MESH_LOOP_H
#define WK_MESH_LOOP_H

#include "core/ev_reactor.h"
#include "worker/wk_mesh.h"

/* Time budget of each poll the loop makes (the wake handler's and both hook phases'): the
 * loop's own turn budget, so the mesh hop of a backlog of requests (up to 256 handlers a poll,
 * 2.5-5 ms) is spread over turns, the other hooks flushing the answers between them, like a
 * backlog of completions. A poll cut short leaves the rest in the lanes; the before-sleep phase
 * polls again and vetoes the sleep while it finds work, so nothing waits for a wake-up. */
#define WK_MESH_LOOP_POLL_NS EV_TURN_NS_MAX

/* `data` of mesh wake-ups; the handler ignores wake-ups with other non-zero data. */
#define WK_MESH_WAKE_DATA 0x776bu

/* The binding of one shard to its loop. Caller's memory: keep it alive and unmoved while the
 * loop runs (it is the hook's and wake handler's user data). */
typedef struct wk_mesh_loop {
    wk_mesh *mesh;
    ev_loop *loop;
    int shard;
    uint64_t last_traffic_ns; /* last time this shard exchanged messages with another */
    uint64_t cross_seen;      /* the shard's `cross` counter at that time */
} wk_mesh_loop;

/* Attaches shard `shard` to `loop`. Call on the shard's thread after ev_loop_create, before any
 * other thread sends to the shard. Adds one wake handler (filtering on WK_MESH_WAKE_DATA and the
 * eventfd's 0) and one hook (all three phases: every iteration it polls and flushes, so a busy
 * loop that never sleeps still delivers). Returns 0, -EINVAL (not a shard of m) or -ENOSPC (no
 * free hook or wake-handler slot). */
int wk_mesh_loop_init(wk_mesh_loop *ml, wk_mesh *m, int shard, ev_loop *loop);

#endif
