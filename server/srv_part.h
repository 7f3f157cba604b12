/* server/srv_part: the process-wide queue layout (srv_q: partitions, shards, mesh), partition
 * ownership, and a partition as its owner shard holds it (housekeeping timer, commits, parked
 * waiters). A srv_part and everything it points to belong to its owner shard's thread. */
#ifndef SRV_PART_H
#define SRV_PART_H

#include <stdbool.h>
#include <stdint.h>

#include "core/ev_reactor.h"
#include "core/rt_cache.h"
#include "queue/q_log.h"
#include "queue/q_part.h"
#include "worker/wk_mesh.h"
#include "worker/wk_mesh_loop.h"

struct srv_waitq;

typedef struct srv_part {
    q_part *p;
    uint32_t no;
    int shard;
    ev_timer tick;
    uint64_t tick_at_ms;
    q_commit_waiter tick_cw;
    bool tick_commit_busy;
    uint64_t last_sync_ms;   /* --fsync never: last housekeeping commit */
    q_commit_waiter sync_cw; /* that commit (q_log_sync_async), while sync_busy */
    bool sync_busy;
    uint64_t served_durable; /* the log's durable end at the last srv_part_serve_durable */
    bool serve_retry;        /* a Work delivery was cut or found no memory: the tick serves again */
    struct srv_waitq *waits;
    bool closing; /* srv_queue_shard_fini has begun: no timer re-armed, no release written */
    struct srv_part *kick_next; /* its shard's list of logs to kick (srv_qshard.kicks) */
    bool kick_listed;           /* on that list */
} srv_part;

/* Shard-local queue state. */
typedef struct srv_qshard {
    int id;
    ev_loop *loop;
    wk_mesh_loop ml;
    srv_part **parts; /* owned partitions (others NULL), indexed by partition number */
    uint32_t nowned;
    /* Touched only by this shard's thread (core/rt_cache confines them): freed jobs, Ack
     * fan-outs, decoded request blocks, answer buffers and answer-order items kept for the next request, and the wall clock read
     * once per loop iteration. */
    rt_cache jobs;        /* srv_job, up to SRV_JOB_CACHE_MAX */
    rt_cache fanouts;     /* srv_ack_fanout with room for SRV_FANOUT_CACHED_IDS ids */
    rt_cache decoded;     /* srv_job_decoded blocks of SRV_DECODED_CACHED_BYTES */
    rt_cache bufs;        /* answer buffers of SRV_BUF_CACHED_BYTES (srv_buf_seed/_release) */
    rt_cache ord_items;   /* srv_ord_item (a pipelined stream's place in its answer order) */
    uint64_t now_loop_ns; /* ev_loop_now when now_ms was read (0: never) */
    uint64_t now_ms;      /* wall clock, ms, read at now_loop_ns */
    srv_part *kicks;      /* partitions whose commit starts at the end of this turn */
    uint32_t kick_waits;  /* turns those kicks waited for completions already posted */
} srv_qshard;

/* Process-wide, read-only after setup. */
typedef struct srv_qglobal {
    char data_dir[4096];
    uint32_t nparts;
    int nshards;
    q_log_opts log;
    wk_mesh *mesh;
    srv_qshard *shards;
    size_t max_msg_bytes; /* largest gRPC message we send: bounds a Lease response */
} srv_qglobal;

extern srv_qglobal srv_q;

/* Shard id of the calling thread (must be a shard thread). */
int srv_q_self(void);
/* Owner shard of a partition. */
static inline int srv_q_owner(uint32_t part_no) { return (int)(part_no % (uint32_t)srv_q.nshards); }
/* The partition `part_no` as seen by its owner (call on the owner only). */
srv_part *srv_q_part(uint32_t part_no);
uint64_t srv_q_now_ms(void);

/* Owner side: attaches the opened partition's log to `loop` (borrowed for the partition's life)
 * and sets up its housekeeping timer and committed callback. Cannot fail. */
void srv_part_attach(srv_part *sp, ev_loop *loop);
/* Owner side, once per shard after the mesh joined its loop (so the hook runs after the mesh's,
 * which runs the turn's jobs): adds the loop hook that starts, at the end of each turn, the
 * commits the turn's requests asked for (q_log_on_kick; srv_part_attach sets it per log).
 * 0 or -ENOSPC (no hook slot left). */
int srv_part_kick_init(srv_qshard *qs);
/* Owner side: takes sp off its shard's kick list (before sp is freed). */
void srv_part_kick_forget(srv_part *sp);
/* Owner side: after anything that may have made tasks ready (enqueue, nack, tick, redrive,
 * resume), serves parked long-polls and Work subscriptions. */
void srv_part_serve_ready(srv_part *sp);
/* Owner side, from the log's committed callback (after the commit's waiters): serves what the
 * durable end's move made visible (ready_when_durable), once per move however many waiters the
 * commit covered. */
void srv_part_serve_durable(srv_part *sp);
/* A Work delivery that could not get memory is retried by the partition's tick this much
 * later: soon enough that a worker barely notices, late enough not to spin on an exhausted
 * heap (nothing else would serve the stream again: its credits wait for ready tasks). */
#define SRV_SERVE_RETRY_MS 10u
/* Owner side: asks for a commit of everything appended so far that nobody waits for (the
 * tick's records; Enqueues answered before their commit, durability MEMORY or WRITTEN, whose
 * tasks ready_when_durable holds until it). One such commit at a time: when it completes and
 * appends made meanwhile are not durable yet, it asks again. Cannot fail (a failed commit is
 * the log's sticky failure, which everything else reports). */
void srv_part_commit_soon(srv_part *sp);
/* Owner side: starts an fsync of everything appended so far now, whatever the --fsync policy
 * (an interval's window does not wait for its timer), unless one is in flight or nothing is
 * pending. For the drain: SYNCED answers waiting for the window go out within it. */
void srv_part_sync_now(srv_part *sp);
/* Owner side: (re)arms the partition's housekeeping timer from q_part_tick's next time. */
void srv_part_schedule(srv_part *sp, uint64_t next_ms);

#endif
