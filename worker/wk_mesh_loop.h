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
 * The busy spin (opts.busy_spin_ns, any shard, a lone one too): when the cross-shard spin above
 * did not run or found nothing, and the shard's recent work share is at least
 * WK_MESH_LOOP_SHARE_MIN_NUM/DEN (1/4), and the gate the owner installed
 * (wk_mesh_loop_set_gate) says nothing the shard waits for is in flight, the hook polls the lanes
 * and the ring (as the cross-shard spin does) for up to busy_spin_ns, then sleeps. It stops at
 * once when work arrives (the next turn runs it, and its before-sleep may spin again) or when the
 * gate closes (a commit started: its fdatasync runs on an io-wq worker that may share this CPU,
 * and a spinning shard would starve it). After a spin that found nothing, the next one waits for
 * a wake-up. The work share is kept from the loop's own timestamps: time from a wake-up (or the
 * end of a spin) to the next before-sleep counts as work, time asleep and time spinning as idle
 * (the spin's own polling is not work, or it would keep itself going), both summed over a
 * window of about WK_MESH_LOOP_SHARE_WINDOW_NS (older time weighs less: when the sum passes the
 * window, both are scaled down to it). A shard at a light load (a message every 100 us) works
 * about 1/20 of its time and never spins; a shard that sleeps only between the windows of a
 * closed loop (busy about 0.4 of its time between wake-ups) polls instead of paying a sleep/wake
 * round, which on a VM whose idle vCPU halts at once can cost more than the work. ringqd leaves
 * it off by default (--busy-spin-us 0): measured end to end (Enqueue, Work, Ack) it cost 6-27 %
 * more CPU per task (bench/results/spin-2026-12-08-s12.md).
 *
 * An idle shard therefore sits in io_uring_enter with no timer and uses no CPU (spinning only
 * ever follows mesh traffic or a turn with work, and lasts at most spin_ns or busy_spin_ns
 * after it), and a busy one gets no wake-ups at all (its flag stays 0).
 *
 * Shutdown order: a shard's loop may be destroyed only once nobody can wake it any more:
 * destroy the pool (joins its workers), stop every shard's loop, wait until all have returned
 * from ev_loop_run, then destroy the loops. (Senders call ev_loop_wake_from(target) on the
 * target loop's ring fd or eventfd, so the target must outlive them.) */
#ifndef WK_MESH_LOOP_H
#define WK_MESH_LOOP_H

#include <stdatomic.h>

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

/* The busy spin's work-share threshold (a fraction) and the window it is measured over. Measured
 * (bench/results/spin-2026-12-08-s12.md): a lone shard serving fast publish b1 from 4x16
 * closed-loop publishers works 0.42 of its time while it still sleeps between windows (so 1/2
 * would never start the spin there) and about 0.6-0.8 once it spins; one publish in flight, or
 * 10,000 a second in an open loop, works 0.04-0.06 of it. */
#define WK_MESH_LOOP_SHARE_MIN_NUM 1u
#define WK_MESH_LOOP_SHARE_MIN_DEN 4u
#define WK_MESH_LOOP_SHARE_WINDOW_NS 1000000u

/* Whether the shard may busy-spin now: false while something it waits for (a commit's fdatasync)
 * is in flight. Runs on the shard's thread, at the spin's start and every few microseconds
 * during it: keep it cheap, and do not call back into the mesh. */
typedef bool (*wk_mesh_spin_gate_fn)(void *ud);

/* Busy-spin counters of one shard: a copy (wk_mesh_loop_get_stats). */
typedef struct wk_mesh_loop_stats {
    uint64_t busy_spins;      /* busy spins started */
    uint64_t busy_spin_found; /* ... that ended because work arrived */
    uint64_t busy_spin_gated; /* ... that ended because the gate closed */
    uint64_t busy_spin_ns;    /* time spent in them */
} wk_mesh_loop_stats;

/* The binding of one shard to its loop. Caller's memory: keep it alive and unmoved while the
 * loop runs (it is the hook's and wake handler's user data). */
typedef struct wk_mesh_loop {
    wk_mesh *mesh;
    ev_loop *loop;
    int shard;
    uint64_t last_traffic_ns; /* last time this shard exchanged messages with another */
    uint64_t cross_seen;      /* the shard's `cross` counter at that time */
    /* work share (busy spin only): the current stretch of work began at mark_ns (a wake-up or
     * the end of a spin) */
    uint64_t mark_ns;
    uint64_t work_ns, idle_ns; /* over about WK_MESH_LOOP_SHARE_WINDOW_NS */
    bool spun_idle;            /* the last busy spin found nothing: none until a wake-up */
    wk_mesh_spin_gate_fn gate; /* NULL: always open */
    void *gate_ud;
    /* wk_mesh_loop_stats' counters: the shard's thread alone writes them (relaxed load and
     * store, no read-modify-write), any thread may read them (/metrics from another shard). */
    _Atomic uint64_t busy_spins, busy_spin_found, busy_spin_gated, busy_spin_ns;
} wk_mesh_loop;

/* Attaches shard `shard` to `loop`. Call on the shard's thread after ev_loop_create, before any
 * other thread sends to the shard. Adds one wake handler (filtering on WK_MESH_WAKE_DATA and the
 * eventfd's 0) and one hook (all three phases: every iteration it polls and flushes, so a busy
 * loop that never sleeps still delivers). Returns 0, -EINVAL (not a shard of m) or -ENOSPC (no
 * free hook or wake-handler slot). */
int wk_mesh_loop_init(wk_mesh_loop *ml, wk_mesh *m, int shard, ev_loop *loop);

/* Installs the busy spin's gate (NULL: none, the spin may always run). `ud` is borrowed: keep it
 * alive while the loop runs. Shard's thread, or before the loop runs. */
void wk_mesh_loop_set_gate(wk_mesh_loop *ml, wk_mesh_spin_gate_fn fn, void *ud);

/* Copies the busy-spin counters into *out. Any thread; each counter is read on its own (relaxed),
 * so a copy taken while the shard spins may be one spin apart between them. */
void wk_mesh_loop_get_stats(const wk_mesh_loop *ml, wk_mesh_loop_stats *out);

/* Adds work_ns of work and idle_ns of idle time to the work share (each capped at the window),
 * scaling both down to the window when their sum passes it. The hook calls it from the loop's
 * timestamps; tests may call it to put the share where they want. */
void wk_mesh_loop_share_add(wk_mesh_loop *ml, uint64_t work_ns, uint64_t idle_ns);

/* Whether the recent work share is at least WK_MESH_LOOP_SHARE_MIN_NUM/DEN. */
bool wk_mesh_loop_share_high(const wk_mesh_loop *ml);

#endif
