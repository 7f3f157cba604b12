/* worker/wk_call: request/reply between shards over the mesh — the one mechanism every
 * cross-shard request uses (server/'s jobs embed one, so do metrics gathering and admin
 * fan-outs through them, the bench and the mesh tests).
 *
 * Shard A starts a call on shard B (say, the owner of a partition): B runs call->run on its own
 * thread, which ends with wk_call_reply(call, result) — at once, or later from any callback on
 * B's thread (after a group commit, when a long-poll is served) — and A then runs call->done
 * with the result on A's thread. Both legs travel as mesh messages carried by the node inside
 * the call, so a full lane parks the call instead of failing (backpressure without loss,
 * bounded by the caller's own number of calls in flight).
 *
 * Ownership: the caller owns the wk_call and must keep it alive and unmoved from wk_call_start
 * until `done` runs (done may free it). Between the request's arrival and wk_call_reply the call
 * (and whatever it points to) is B's to read and write; after wk_call_reply, B must not touch
 * it. A's thread must not touch it in between either: the two messages are the hand-over. */
#ifndef WK_CALL_H
#define WK_CALL_H

#include <stdint.h>

#include "worker/wk_mesh.h"

typedef struct wk_call wk_call;
/* Runs on the target shard `self`. Must end with exactly one wk_call_reply(call, result)
 * (result >= 0, or a negative errno), before returning or later on `self`'s thread. */
typedef void (*wk_call_run_fn)(wk_call *call, int self);
/* Runs on the calling shard with the result given to wk_call_reply. */
typedef void (*wk_call_done_fn)(wk_call *call, int result);

struct wk_call {
    wk_call_run_fn run;   /* required */
    wk_call_done_fn done; /* required */
    void *ud;             /* caller's */
    uint64_t arg;         /* caller's */
    int caller;           /* set by wk_call_start */
    int target;           /* set by wk_call_start */
    int result;           /* set by wk_call_reply, before done runs */
    wk_mesh *mesh;        /* set by wk_call_start: the mesh both legs travel on */
    wk_msg_node node;     /* private: carries the request, then the reply */
};

/* Sends `call` from shard `from` to shard `to` (to == from runs it through the self lane, still
 * asynchronously). Both must be shards (the reply comes back to `from`). Never refused: a full
 * lane parks the call. Call on `from`'s thread; run and done must be set. */
void wk_call_start(wk_mesh *m, int from, int to, wk_call *call);
/* Target side: the call is finished with `result`; sends it back to the caller. Call once, on
 * the target's thread, from run or after it. Never refused (a full lane parks the reply). */
void wk_call_reply(wk_call *call, int result);
/* A reply nobody asked for: shard `to` runs call->done(call, result), as if `from` had run a
 * call `to` started (for work a shard starts on another's behalf, like a Work delivery from a
 * partition's owner to the stream's shard). Same ownership as a started call from here until
 * done runs. Call on `from`'s thread; done must be set. */
void wk_call_push(wk_mesh *m, int from, int to, wk_call *call, int result);

#endif
