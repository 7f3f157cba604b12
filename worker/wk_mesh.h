/* worker/wk_mesh: the cross-shard mailbox. An N x N mesh of SPSC lanes between shard threads,
 * plus sender-only lanes from helper threads (pool workers) to every shard.
 *
 * Endpoints
 *   Endpoints 0..n_shards-1 are shards: they send and receive. Endpoints n_shards..n_shards +
 *   n_threads - 1 are helper threads: they only send (to shards). Lane (from, to) is an SPSC ring
 *   written only by endpoint `from`'s thread and read only by shard `to`'s thread, so every
 *   function below that takes `from` or `self` must be called on that endpoint's owner thread.
 *
 * Messages
 *   A message is a small fixed-size closure: the receiver runs msg->fn(mesh, self, msg) on its own
 *   thread. Lanes are FIFO: messages from one sender to one receiver run in send order.
 *
 * Batching and wake-ups
 *   wk_mesh_send() stages the message in the lane without publishing it. wk_mesh_flush() (run by
 *   a loop at the end of each iteration, from its before-sleep hook) publishes every staged lane
 *   with one release store each, and then wakes a receiver only if it may be asleep. A lane that
 *   reaches WK_MESH_PUBLISH_BATCH staged messages is published at once.
 *
 *   "May be asleep" is the receiver's `sleeping` flag. The race it must close: the receiver
 *   checks its lanes (empty), a sender publishes and reads sleeping == 0, the receiver then sets
 *   sleeping = 1 and blocks: the message is stranded. The two-sided protocol:
 *     receiver: sleeping = 1; seq_cst fence; re-check lanes; block only if all empty.
 *     sender:   publish tail;  seq_cst fence; if sleeping, exchange it to 0 and wake.
 *   With a fence on each side, at least one side sees the other's store: the receiver's re-check
 *   sees the message, or the sender sees sleeping == 1. The exchange makes exactly one sender pay
 *   for the wake-up of one sleep, so a busy receiver gets no wake-ups and a sleeping one gets one,
 *   however many messages arrive.
 *
 * Backpressure
 *   A lane never grows: when it is full, wk_mesh_send() returns -EAGAIN and does not take the
 *   message; wk_mesh_send_node() parks the caller-owned node on the lane's backlog (an intrusive
 *   FIFO, so its memory is the caller's and bounded by the caller's own objects) and flush moves
 *   it in when room appears. Either way the lane is armed (`want_space`): the receiver, after
 *   freeing slots, wakes the sender with the same flag protocol (sender: want_space = 1;
 *   sleeping = 1; fence; re-check room. receiver: head store; fence; read want_space).
 *   Helper threads block instead (wk_mesh_send_wait). Nothing is dropped.
 *
 * Wake-ups are delivered through a per-endpoint waker: the default parks thread endpoints on a
 * futex (wk_mesh_wait); worker/wk_mesh_loop.h installs an io_uring waker for shards that run an
 * ev_loop. Wakers are set before any thread sends. */
#ifndef WK_MESH_H
#define WK_MESH_H

#include <stdbool.h>
#include <stdint.h>

#include "core/rt_shard.h"

/* Endpoints in one mesh: every shard plus helper threads. Lanes are (endpoints x shards). */
#define WK_MESH_ENDPOINTS_MAX 128
/* Messages per lane by default: 1024 x 32 B = 32 KiB per lane. */
#define WK_MESH_LANE_CAP_DEFAULT 1024u
/* Staged messages on one lane that trigger an early publish (bounds the latency of a big batch:
 * the receiver can start on the first 32 while the sender writes the rest). */
#define WK_MESH_PUBLISH_BATCH 32u
/* Messages popped from one lane at a time (copy-out buffer on the stack: 32 x 32 B). */
#define WK_MESH_POP_BATCH 32u
/* Default budget of one wk_mesh_poll() call, so a flood from other shards cannot starve I/O. */
#define WK_MESH_POLL_BUDGET_DEFAULT 256u
/* Messages popped at a time by a poll with a time budget (wk_mesh_poll_for): the clock is read
 * after each pop, so the poll overruns its time by at most this many handlers (a few us each,
 * tens for an Enqueue's append). */
#define WK_MESH_POP_BATCH_TIMED 8u
_Static_assert(WK_MESH_POP_BATCH_TIMED <= WK_MESH_POP_BATCH, "a timed pop fits the buffer");
/* Longest optional spin before sleeping (opts.spin_ns): 1 ms. */
#define WK_MESH_SPIN_NS_MAX 1000000ull
/* A good spin_ns for loop shards (ringqd's default): long enough to catch the next message of a
 * request/reply exchange between shards, short enough that a shard with occasional traffic
 * spends little CPU. */
#define WK_MESH_SPIN_NS_DEFAULT 20000u
/* A good busy_spin_ns when one is wanted (ringqd's default is 0, off): a shard busy at least a
 * quarter of its time polls this long after a turn with work instead of paying a sleep/wake
 * round (wk_mesh_loop.h). Measured (bench/results/spin-2026-12-08-s12.md): fast publish b1
 * 1.4-2.0x, but ringqd's CPU per task end to end 1.06-1.27x, so it is not ringqd's default. */
#define WK_MESH_BUSY_SPIN_NS_SUGGESTED 100000u

_Static_assert(WK_MESH_ENDPOINTS_MAX >= RT_SHARDS_MAX, "every shard thread can be an endpoint");
_Static_assert(WK_MESH_PUBLISH_BATCH <= WK_MESH_LANE_CAP_DEFAULT, "batch fits a lane");

typedef struct wk_mesh wk_mesh;
typedef struct wk_msg wk_msg;

/* Runs on the receiving shard's thread. `msg` is a copy owned by the mesh, valid during the
 * call only. `self` is the receiving shard. */
typedef void (*wk_msg_fn)(wk_mesh *m, int self, const wk_msg *msg);

struct wk_msg {
    wk_msg_fn fn;  /* required */
    void *arg;     /* caller's: typically the object the closure works on */
    uint64_t arg2; /* caller's */
    uint32_t from; /* set by the mesh to the sending endpoint */
    uint32_t tag;  /* caller's */
};
_Static_assert(sizeof(wk_msg) == 32, "messages stay 32 bytes (one lane slot)");

/* A message with a link, for sends that must never fail (wk_mesh_send_node). */
typedef struct wk_msg_node {
    wk_msg msg;
    struct wk_msg_node *next; /* private to the mesh while parked */
} wk_msg_node;

typedef struct wk_mesh_opts {
    int n_shards;      /* 1..RT_SHARDS_MAX */
    int n_threads;     /* helper (send-only) endpoints; n_shards + n_threads <= ENDPOINTS_MAX */
    uint32_t lane_cap; /* messages per lane, power of two >= 2; 0: WK_MESH_LANE_CAP_DEFAULT */
    uint64_t spin_ns;  /* loop shards poll this long after mesh traffic before sleeping; 0: never.
                          Bounded by WK_MESH_SPIN_NS_MAX. Trades CPU for round-trip latency. */
    uint64_t busy_spin_ns; /* loop shards busy at least 1/4 of their time poll this long after a
                              turn with work, unless their gate says no (wk_mesh_loop.h); 0:
                              never. Bounded by WK_MESH_SPIN_NS_MAX. */
} wk_mesh_opts;

typedef struct wk_mesh_stats {
    uint64_t sent;       /* messages accepted from this endpoint */
    uint64_t received;   /* messages run on this shard */
    uint64_t cross;      /* messages this endpoint sent to, or ran from, another endpoint
                            (self-lane traffic excluded): what starts an adaptive spin */
    uint64_t wakes;      /* wake-ups this endpoint sent (receivers or blocked senders) */
    uint64_t full;       /* sends that met a full lane (-EAGAIN or parked) */
    uint64_t sleeps;     /* times this endpoint announced it may sleep (set its flag to 1);
                            each announcement pays for at most one wake-up, so the sum of
                            wakes over all endpoints <= the sum of sleeps */
    uint64_t polls_late; /* timed polls (wk_mesh_poll_for) that ran out of time with messages
                            still waiting: they run at the next poll */
} wk_mesh_stats;

/* Allocates the mesh and all lanes. Returns 0 and *out, or -EINVAL / -ENOMEM. */
int wk_mesh_create(const wk_mesh_opts *opts, wk_mesh **out);
/* Frees everything. No thread may use the mesh any more; unrun messages are discarded. */
void wk_mesh_destroy(wk_mesh *m);
int wk_mesh_shards(const wk_mesh *m);
int wk_mesh_endpoints(const wk_mesh *m);
uint64_t wk_mesh_spin_ns(const wk_mesh *m);
uint64_t wk_mesh_busy_spin_ns(const wk_mesh *m);

/* ---- sending (owner thread of `from`; `to` must be a shard) ---- */

/* Stages a copy of `msg` on lane (from, to); it becomes visible at the next flush (or at once
 * when the lane has WK_MESH_PUBLISH_BATCH staged). Returns 0, -EAGAIN when the lane is full or
 * has parked nodes (the message is not taken and nothing is armed: loops should use
 * wk_mesh_send_node, which never refuses; helper threads wk_mesh_send_wait), -EINVAL on bad
 * endpoint ids or a NULL fn. */
int wk_mesh_send(wk_mesh *m, int from, int to, const wk_msg *msg);
/* Like wk_mesh_send but never refuses: when the lane is full, `node` is parked (the mesh borrows
 * it) and moved into the lane by a later flush, still in send order. The node's memory must stay
 * valid until its message's fn starts running on the receiver; it may be reused from then on. */
void wk_mesh_send_node(wk_mesh *m, int from, int to, wk_msg_node *node);
/* Publishes staged messages, moves parked nodes into lanes with room, and wakes receivers that
 * may be asleep. Returns the number of lanes that still hold parked nodes (0: all went in);
 * those lanes are armed, so the receiver wakes `from` once it frees room. */
unsigned wk_mesh_flush(wk_mesh *m, int from);
/* Helper threads: sends and flushes, blocking (futex) while the lane is full. Returns 0 or
 * -EINVAL. Deadlocks if the receiver stops polling: stop helpers before shards. */
int wk_mesh_send_wait(wk_mesh *m, int from, int to, const wk_msg *msg);

/* ---- receiving (owner thread of shard `self`) ---- */

/* Runs up to `budget` inbound messages (0: WK_MESH_POLL_BUDGET_DEFAULT), taking lanes in turn,
 * and wakes senders waiting for room. Returns the number run. Handlers may send (to anyone,
 * `self` included) and poll is not re-entered from a handler. */
unsigned wk_mesh_poll(wk_mesh *m, int self, unsigned budget);
/* The same, and it also stops once its handlers have run `ns_max` ns (0: no time limit): it
 * reads the clock after every WK_MESH_POP_BATCH_TIMED messages. 256 handlers of an Enqueue's
 * hop (10-20 us each) are 2.5-5 ms in one call; a loop's hook must not hold the thread that long
 * (issue 19, "no stall over 5 ms"). What is left waits in the lanes for the next poll
 * (wk_mesh_stats.polls_late counts such cuts). */
unsigned wk_mesh_poll_for(wk_mesh *m, int self, unsigned budget, uint64_t ns_max);
/* True when some inbound lane has a published message. */
bool wk_mesh_pending(wk_mesh *m, int self);

/* ---- sleeping (owner thread of `self`) ---- */

/* Publishes "I may be asleep" and re-checks (see the protocol above): inbound lanes for shards,
 * room on lanes with parked nodes for everyone. Returns true when the caller may block now (it
 * must call wk_mesh_sleep_end after waking), false when there is work (the flag is cleared). */
bool wk_mesh_sleep_begin(wk_mesh *m, int self);
void wk_mesh_sleep_end(wk_mesh *m, int self);
/* For endpoints without a loop (default waker): flushes, then blocks on a futex until a message
 * arrives (shards) or a full lane of ours gets room, or returns at once when either holds. May
 * return spuriously; callers loop. */
void wk_mesh_wait(wk_mesh *m, int self);
/* Any thread: the endpoint's "may be asleep" flag (for tests and stats). */
bool wk_mesh_asleep(const wk_mesh *m, int ep);

/* ---- wakers (set up before threads start sending) ---- */

/* Wakes endpoint `to`. `from_ctx` is the waking endpoint's own waker context (its loop for a
 * loop shard, NULL for a thread endpoint); `to_ctx` is the target's. Returns 0 or -errno. */
typedef int (*wk_wake_fn)(wk_mesh *m, int to, void *from_ctx, void *to_ctx);
/* Installs a waker for endpoint `ep` (NULL fn: the default futex waker). Returns 0 or -EINVAL. */
int wk_mesh_set_waker(wk_mesh *m, int ep, wk_wake_fn fn, void *ctx);

/* Counters of endpoint `ep`; read on its owner thread, or after the threads are joined. The
 * sleep protocol guarantees: sum of wakes over all endpoints <= sum of sleeps. */
void wk_mesh_get_stats(const wk_mesh *m, int ep, wk_mesh_stats *out);

#endif
