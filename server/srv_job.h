/* server/srv_job: a request crossing shards. The origin shard (where the call arrived) makes a
 * job, srv_job_dispatch sends it to the owner shard of a partition, the owner runs it on the
 * partition and ends with srv_job_reply (at once, after a group commit, or after a long-poll),
 * and the origin runs `done` and frees the job.
 *
 * Ownership: the origin owns the job; between dispatch and reply only the owner touches it (the
 * mesh message is the hand-over), except `cancelled`, which the origin may set at any time. */
#ifndef SRV_JOB_H
#define SRV_JOB_H

#include <stdatomic.h>
#include <stdio.h>

#include "core/ev_reactor.h"
#include "core/rt_buf.h"
#include "proto_wire/pw_grpc_server.h"
#include "queue/q_log.h"
#include "queue/q_part.h"
#include "server/srv_stage.h"
#include "worker/wk_call.h"
#include "worker/wk_mesh.h"

typedef struct srv_job srv_job;
typedef struct srv_part srv_part;

/* Runs on the owner shard of j->part_no. Must end with srv_job_reply(j) — at once or later. */
typedef void (*srv_job_run_fn)(srv_job *j, srv_part *sp);
/* Runs on the origin shard after the reply arrives; the job is freed afterwards. */
typedef void (*srv_job_done_fn)(srv_job *j);

/* Handlers' argument structs (each defined by the one file that uses it). */
struct srv_ack_item;
struct srv_lease_args;
struct srv_nack_args;
struct srv_extend_args;

/* What a job carries to the owner: `req_kind` says which member of `req` is set. The job owns
 * it (one allocation, freed by srv_job_free), except req.acks (a view) and a decoded request's
 * bytes (SRV_JOB_REQ_DECODED). */
typedef enum srv_job_req_kind {
    SRV_JOB_REQ_NONE,   /* nothing (deliveries and repokes started on the owner, gathers) */
    SRV_JOB_REQ_BYTES,  /* req.bytes: a copy of the request message, a page token or a queue name */
    SRV_JOB_REQ_ACKS,   /* req.acks: one partition's share of an Ack fan-out (srv_queue_ack.c), a
                         * view into the fan-out, which outlives the job: not freed with it */
    SRV_JOB_REQ_LEASE,  /* req.lease: a checked LeaseRequest (srv_queue_rpc.c) */
    SRV_JOB_REQ_NACK,   /* req.nack: a NackRequest's arguments and reason (srv_queue_rpc.c) */
    SRV_JOB_REQ_EXTEND, /* req.extend: an ExtendRequest's arguments (srv_queue_rpc.c) */
    SRV_JOB_REQ_DECODED, /* req.bytes: the request's copy inside the job's srv_decoded block
                          * (ctx; srv_job_decoded): freed with that block, not with the job */
} srv_job_req_kind;

struct srv_job {
    wk_call wc; /* the request/reply over the mesh (worker/wk_call): carries the job
                             * to the owner, then back */
    int origin, owner;
    int cache_shard; /* the shard whose job cache it came from, or -1 (rt_calloc) */
    uint32_t part_no;
    srv_job_run_fn run;
    srv_job_done_fn done; /* NULL: srv_job_answer (send resp, finish with status) */
    pw_grpc_call *call;   /* origin's call (a reference is held), or NULL */
    void *ctx;            /* the handler's context (a Work session, an Ack fan-out) */
    void *origin_ctx;     /* origin only, when ctx carries the request (a srv_decoded): the
                           * handler's own context (a PublishStream session's entry) */
    srv_job_req_kind req_kind;
    union {
        struct {
            uint8_t *ptr;
            size_t len;
        } bytes;
        struct {
            struct srv_ack_item *items;
            uint32_t n;
        } acks;
        struct srv_lease_args *lease;
        struct srv_nack_args *nack;
        struct srv_extend_args *extend;
    } req;
    uint64_t task_id;     /* jobs routed by a task id (Nack, Extend, GetTask, DeleteTask) */
    uint64_t wait_ms_max; /* Lease: the call's deadline as a wait bound (0: none) */
    uint32_t list_max;    /* ListQueues: names asked of the partition (the fan-out's part_max,
                             * copied: the owner never reads the origin's list context) */
    bool list_cut;        /* ListQueues, set by the owner: the page stopped early */
    buf resp;             /* response message, encoded on the owner */
    q_status status;
    /* Stage latencies (server/srv_stage.h): what the job is (0: not measured) and its last mark
     * (rt_now_ns), moved by each srv_stage_mark on whichever shard holds the job. */
    uint8_t stage_op;
    uint64_t stage_ns;
    char msg[Q_ERR_MSG_BYTES];
    uint32_t sub_lease_ms;  /* Work registration and poke jobs: the stream's lease_ms, copied
                             * into the owner's srv_sub (the owner never reads the session's) */
    bool sub_release;       /* Work unregister: the stream ended, release the tasks it holds */
    _Atomic bool cancelled; /* set by the origin when its call ended: long-polls give up */
    void *owner_state;      /* owner side: what a handler keeps across a wait for a commit
                             * (Enqueue's results until its SYNCED answer); the handler owns and
                             * frees it before srv_job_reply */
    /* Owner-side state. */
    q_commit_waiter cw;
    ev_timer timer; /* long-poll deadline */
    uint64_t wait_deadline_ns;
    srv_job *wait_next, *wait_prev;
    void *waitq; /* the srv_waitq the job is parked on, or NULL */
};

/* Freed jobs a shard keeps for its next requests (core/rt_cache), at most: more than the jobs
 * one loop step finishes at the suite's load (64 in flight per connection, 4 connections), and
 * ~100 KiB per shard when idle (a job is ~400 bytes). */
#define SRV_JOB_CACHE_MAX 256u

/* Answer buffers a shard keeps (srv_qshard.bufs): blocks of exactly the size a buf's first
 * growth allocates (core/rt_buf's first allocation, 1 KiB, which any one-task answer fits), at
 * most SRV_BUF_CACHE_MAX (256 KiB per shard when idle). A pipelined stream's answer is encoded
 * into one on the owner (j->resp), wrapped into another on the origin (the srv_ord item's
 * answer), copied into the call's output and both freed: 2 of the 4 mallocs + frees per task
 * on the EnqueueStream path, whose 1 KiB blocks overflow glibc's per-thread cache (7 of a size)
 * at a loop step's batch and went through its consolidating free (malloc and free were ~11 %
 * of ringqd's samples at x = 256; bench/results/fastcpu-2026-12-08-s12.md). */
#define SRV_BUF_CACHED_BYTES 1024u
#define SRV_BUF_CACHE_MAX 256u

/* Jobs. new: a job for `call` (ref taken; may be NULL) with an owned copy of req (kind
 * SRV_JOB_REQ_BYTES when req_len > 0). NULL: out of memory. */
srv_job *srv_job_new(pw_grpc_call *call, const uint8_t *req, size_t req_len);
/* new with `size` zeroed bytes of typed arguments (req.lease/nack/extend, per `kind`) the
 * caller fills. NULL: out of memory. */
srv_job *srv_job_new_args(pw_grpc_call *call, srv_job_req_kind kind, size_t size);
/* Frees the job, its request, its response and its call reference. */
void srv_job_free(srv_job *j);
/* Gives an empty buf without storage (b->data NULL) a cached block of SRV_BUF_CACHED_BYTES
 * from this shard, when its cap allows that much; else (a buf with storage, a small cap, out of
 * memory) leaves it as it is: its first write allocates as before. Use it for a buf whose
 * storage comes back through srv_buf_release or a blob of srv_buf_cache (a plain blob frees its
 * storage: nothing gained). Shard threads only. */
void srv_buf_seed(buf *b);
/* buf_deinit, but storage of exactly SRV_BUF_CACHED_BYTES goes to this shard's cache (kept
 * while it has room, else freed). b is left empty without storage. */
void srv_buf_release(buf *b);
/* This shard's cache of those buffers (borrowed: lives until srv_queue_shard_fini, a
 * pass-through after it), for a buffer handed on as a blob (rt_blob_from_buf_cached); NULL
 * off a server's shards. */
struct rt_cache *srv_buf_cache(void);
/* Sends the job to the owner of part_no (or runs it here when this shard owns it). */
void srv_job_dispatch(srv_job *j, uint32_t part_no, srv_job_run_fn run, srv_job_done_fn done);
/* Owner side: the job is finished; back to the origin (wk_call_reply). A job the owner made
 * itself (a Work delivery or repoke: origin and owner set by hand, never dispatched) travels as
 * a reply nobody asked for (wk_call_push). */
void srv_job_reply(srv_job *j);
/* Owner side: reply once every record appended so far is durable (or with the log's failure). */
void srv_job_reply_durable(srv_job *j, srv_part *sp);
/* The same for records off the producers' path (a stream consumer's acks): their commit joins
 * the next fsync instead of starting one beside the one in flight (q_log_commit_join). */
void srv_job_reply_durable_join(srv_job *j, srv_part *sp);
/* Default done: sends resp (if status OK) and finishes the call with status/msg. */
void srv_job_answer(srv_job *j);
/* Sets status and message (printf-style). */
void srv_job_fail(srv_job *j, q_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static inline void srv_job_err(srv_job *j, const q_err *e)
{
    j->status = e->code;
    snprintf(j->msg, sizeof j->msg, "%s", e->msg);
}

#endif
