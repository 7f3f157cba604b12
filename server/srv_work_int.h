/* server/srv_work_int: what the Work stream's files share (srv_queue_work.c: the session on its
 * origin shard and its replies; srv_work_sub.c: subscriptions, credits and the registration
 * jobs; srv_work_serve.c: the owner side, leasing and delivering). The session and its
 * lifetime are described at the top of srv_queue_work.c. Origin-shard functions run on the
 * session's origin shard only; owner-shard ones on the registration's partition owner. */
#ifndef SRV_WORK_INT_H
#define SRV_WORK_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/rt_buf.h"
#include "server/srv_queue_rpc.h"

#define WORK_SUBS_MAX 64 /* queues one stream may subscribe to (the API's limit) */
#define WORK_CREDITS_MAX \
    10000 /* outstanding credits (the API's limit): bounds tasks leased to one stream */
#define WORK_DELIVER_BATCH 64u             /* tasks leased per claim */
#define WORK_PENDING_BYTES_MAX (64u << 20) /* delivered tasks waiting for the stream's window */
#define WORK_REPLY_BYTES_MAX (16u << 20)   /* one WorkResult (an Ack of 1000 ids is ~30 KiB) */
/* Bytes the session's reply scratch keeps between replies: a 64-id Ack's AckResponse is
 * ~1.5 KiB; a larger reply gives back what is above this once sent. A malloc + free per reply
 * was ~1 % of the server's samples. */
#define WORK_SCRATCH_KEEP_BYTES 8192u

typedef struct srv_work {
    pw_grpc_call *call;
    int origin;
    int refs; /* origin-only: 1 for the stream + 1 per registration */
    _Atomic int32_t credits;
    _Atomic bool closed;  /* owners read it: the session is (about to be) CLOSED */
    srv_work_state state; /* origin-only, through work_set_state */
    uint32_t lease_ms;    /* origin-only; owners get it in each registration and poke */
    uint64_t sid;         /* Admin.ListWorkers' id: origin shard << 48 | its start order */
    uint64_t since_ms;    /* wall clock at the stream's start */
    char worker[SRV_HOLDER_BYTES], addr[SRV_HOLDER_BYTES]; /* the holder (srv_work_holder),
                              * copied into each registration message */
    uint32_t nsubs;
    struct {
        char name[Q_QUEUE_NAME_BYTES_MAX + 1];
        uint32_t len;
        uint32_t part;
        /* Its unregister job, allocated with the registration: ending a registration must not
         * need memory (without it the owner would keep a pointer to a freed session). */
        srv_job *unreg;
    } subs[WORK_SUBS_MAX];
    uint32_t inflight; /* ack/nack/extend requests not yet answered (staged acks included) */
    /* Acks of the current input pass (srv_queue_work.c): started as one fan-out by the
     * shard's loop hook at its next iteration, before the mesh's hook polls and publishes (the
     * session is listed once per pass, with a reference), or before any other request of the
     * stream, or when the stage is full. */
    srv_ack_stage acks;
    struct srv_work *acks_next; /* the shard's sessions with staged acks */
    bool acks_listed;
    uint32_t held; /* tasks delivered and not yet acked or nacked on the stream */
    buf pending;   /* WorkResponse messages, varint-length-prefixed */
    buf reply;     /* origin-only scratch: a WorkResponse{result} encoded when it cannot go
                        * straight into the call's output (send_result); empty between replies */
    struct srv_work *snext, *sprev; /* the shard's open sessions (for drain) */
} srv_work;
/* ---- srv_queue_work.c (origin shard) ---- */
/* Drops one reference; the last frees the session (and its reference on the call). */
void srv_work_unref(srv_work *w);
/* Ends the session: unregisters every queue (the owners release what it holds) and drops the
 * stream's reference. Idempotent. */
void srv_work_close(srv_work *w);
/* Ends the stream with RESOURCE_EXHAUSTED for a message it cannot carry (err: -EMSGSIZE, or
 * out of memory); the session closes at the next srv_work_maybe_finish. */
void srv_work_fail(srv_work *w, int err);
/* Sends one message (borrowed for the call), or copies it behind those waiting for the
 * window. Returns true when it was queued; a failure ends the stream (srv_work_fail). */
bool srv_work_send(srv_work *w, const uint8_t *msg, size_t len);
/* Starts the staged acks' fan-out now (nothing staged: nothing to do). */
void srv_work_acks_start(srv_work *w);
/* Adds the hook that starts the staged acks of the shard's sessions at each loop iteration.
 * Added before the mesh's hook (srv_queue_shard.c), so their jobs are published by that same
 * iteration's mesh hook, as a job dispatched from the input pass itself would be. 0 or
 * ev_loop_add_hook's -ENOSPC. */
int srv_work_acks_hook_init(ev_loop *loop);
/* Finishes the stream when its state and what is in flight allow it, and closes the session
 * then (w may be freed on return when its last reference went). */
void srv_work_maybe_finish(srv_work *w);

/* Calls fn(session, ud) for each open session of the calling shard (borrowed for the call;
 * fn must not end one). Run on the shard itself (srv_workers.c: through the mesh). */
void srv_work_each(void (*fn)(const srv_work *w, void *ud), void *ud);

/* ---- srv_work_sub.c (origin shard) ---- */
/* Applies a Subscribe (borrowed): Q_OK, INVALID_ARGUMENT or RESOURCE_EXHAUSTED with `why`. */
q_status srv_work_subscribe(srv_work *w, const pwm_ringq_v1_Subscribe *sub, char *why,
                            size_t why_len);
/* Ends registration i (its job was allocated with it); `release`: the stream ended. */
void srv_work_sub_unregister(srv_work *w, uint32_t i, bool release);
/* Tells every owner of the stream's queues to serve it (new credits or lease_ms); out of
 * memory ends the stream (srv_work_fail). */
void srv_work_poke_all(srv_work *w);
/* Adds n credits, bounded by WORK_CREDITS_MAX with the tasks held, and pokes the owners. */
void srv_work_grant(srv_work *w, uint64_t n);

/* ---- srv_work_serve.c (owner shard: the run functions of the registration jobs) ---- */
void srv_work_run_register(srv_job *j, srv_part *sp);
void srv_work_run_unregister(srv_job *j, srv_part *sp);
void srv_work_run_poke(srv_job *j, srv_part *sp);

#endif
