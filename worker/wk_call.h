/* worker/wk_call: request/reply between shards over the mesh.
 *
 * Shard A starts a call on shard B (say, the owner of a partition): B runs call->run on its own
 * thread, and A then runs call->done with the result on A's thread. Both legs travel as mesh
 * messages carried by the node inside the call, so a full lane parks the call instead of failing
 * (backpressure without loss, bounded by the caller's own number of calls in flight).
 *
 * Ownership: the caller owns the wk_call and must keep it alive and unmoved from wk_call_start
 * until `done` runs (done may free it). B must not keep the pointer after run returns. */
#ifndef WK_CALL_H
#define WK_CALL_H

#include <stdint.h>

#include "worker/wk_mesh.h"

typedef struct wk_call wk_call;
/* Runs on the target shard `self`; returns the result (>= 0, or a negative errno). */
typedef int (*wk_call_run_fn)(wk_call *call, int self);
/* Runs on the calling shard with run's result. */
typedef void (*wk_call_done_fn)(wk_call *call, int result);

struct wk_call {
    wk_call_run_fn run;   /* required */
    wk_call_done_fn done; /* required */
    void *ud;             /* caller's */
    uint64_t arg;         /* caller's */
    int caller;           /* set by wk_call_start */
    int target;           /* set by wk_call_start */
    int result;           /* set before done runs */
    wk_msg_node node;     /* private: carries the request, then the reply */
};

/* Sends `call` from shard `from` to shard `to` (to == from runs it through the self lane, still
 * asynchronously). Both must be shards (the reply comes back to `from`). Never refused: a full
 * lane parks the call. Call on `from`'s thread. */
void wk_call_start(wk_mesh *m, int from, int to, wk_call *call);

#endif
