/* tests/unit/ts_walk: the fail-Nth allocation walk of the in-process server (test_srv_util.h),
 * with core/rt_alloc's counting allocator, shared by test_srv_alloc.c (Queue: Enqueue, Lease,
 * Ack, Work), test_srv_alloc_estream.c (Queue.EnqueueStream) and test_srv_stream_alloc.c
 * (Streams). Each test brings its own exchange; the walk is the same for all:
 *
 * A dry run counts the server's allocations during the exchange (the scripted client disarms
 * the counter while it works, through ts_armed, so only server code is numbered). Then, for
 * every N from 1 to that count, a fresh server runs the exchange with allocation N failing:
 *   - nothing crashes (Check's fork mode; the san build adds ASan and UBSan);
 *   - the exchange checks its calls (ts_walk_outcome: OK, RESOURCE_EXHAUSTED, or the
 *     connection gone, in time: no call hangs);
 *   - with the counter disarmed, the test's follow-up runs on a new connection to the same
 *     server state (a strict exchange, a drain: nothing stuck);
 *   - after teardown no block allocated since the start is still live (no leak).
 * SRV_WALK_FROM=N starts the walk at N (to rerun one failing step); SRV_WALK_VERBOSE=1 prints
 * each step and its time.
 *
 * Built into build/libunit_fx.a (every tests/unit/ *.c not named test_*), which the Makefile
 * links into the unit tests; ts_walk.c also holds test_srv_util.h's one ts_armed. */
#ifndef TS_WALK_H
#define TS_WALK_H

#include "test_srv_util.h"

/* Upper bound on the allocations of one exchange: the walk must not run for ever if a change
 * makes the exchange allocate per byte. */
#define TS_WALK_MAX 4000u
/* How long a failed run may take to answer a call, ms (the dry run and follow-ups get
 * TS_WAIT_MS). */
#define TS_WALK_CALL_MS 3000u

/* How the calls of failed runs ended (ts_walk_outcome), for a test's summary line. */
typedef struct ts_walk_tally {
    uint64_t ok, exhausted;
    uint64_t reset;       /* stream reset ENHANCE_YOUR_CALM: its answer could not be queued */
    uint64_t conn_closed; /* GOAWAY or EOF: the connection failed */
} ts_walk_tally;
extern ts_walk_tally ts_walk_calls;

/* One test's walk. The callbacks run in the forked Check child, on the test's thread; `ctx` is
 * the test's own state (names of the run's queues or streams, results the follow-up checks). */
typedef struct ts_walk {
    int nshards;
    uint32_t nparts;
    void *ctx;
    /* With the server started and the counter disarmed, before the exchange: name the run's
     * queues or streams (the shard owning a name is known only now). */
    void (*prepare)(void *ctx);
    /* The walked exchange on `c` (armed). strict: the dry run, every step must succeed. */
    void (*exchange)(ts_client *c, void *ctx, bool strict);
    /* After a failed run only, disarmed, on a new connection `c`: the checks that the failed
     * run left the server usable (a strict exchange, a drain). */
    void (*follow_up)(ts_client *c, void *ctx);
} ts_walk;

/* The dry run, then one run per allocation N (from SRV_WALK_FROM, else 1) with N failing.
 * Returns the dry run's count of allocations (checked > 0 and < TS_WALK_MAX); *walked (may be
 * NULL) gets the number of failed runs. Errors: a Check failure (the test ends). */
uint64_t ts_walk_all(const ts_walk *w, uint64_t *walked);

/* A call's end, waited for up to ts_walk_call_ms(strict). strict: it must end OK. Else OK,
 * RESOURCE_EXHAUSTED, a reset ENHANCE_YOUR_CALM or the connection gone are accepted and
 * counted in ts_walk_calls; anything else, or no end in time, is a Check failure. Returns true
 * when it ended OK. */
bool ts_walk_outcome(ts_client *c, uint32_t sid, bool strict, const char *what);

/* The next message of stream `sid`, decoded with `d` into *m (arena `a`, borrowed): true, or
 * false when the stream ended. Every request is answered or the stream ends, never a silent
 * drop: nothing within ts_walk_call_ms(strict) is a Check failure naming `what`. */
bool ts_walk_next(ts_client *c, uint32_t sid, bool strict, const pw_msg_desc *d, void *m,
                  pw_msg_arena *a, const char *what);

/* Leases and acks every task of queue `q` (strict calls) until its partition holds none of it
 * ready, delayed or leased (a task leased but never delivered comes back once its lease ends);
 * a Check failure if that takes over TS_WAIT_MS. */
void ts_walk_drain_queue(ts_client *c, const char *q);

/* The deadline of a call of the dry run or a follow-up (strict), or of a failed run, ms. */
static inline uint64_t ts_walk_call_ms(bool strict)
{
    return strict ? TS_WAIT_MS : TS_WALK_CALL_MS;
}

#endif
