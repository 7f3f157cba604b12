/* server/srv_queue_rpc: pieces of the Queue service shared with the Work stream and Admin. */
#ifndef SRV_QUEUE_RPC_H
#define SRV_QUEUE_RPC_H

#include <stddef.h>

#include "proto_wire/pw_msg.h"
#include "proto_wire/pw_msgs.h"
#include "server/srv_ordered.h"
#include "server/srv_queue_int.h"

/* ---- srv_queue_ack.c ---- */

/* An Ack fanned out to the partitions its ids live in; `done` runs on the origin shard when
 * every partition has answered (codes[i]/whys[i] answer ids[i]). */
typedef struct srv_ack_fanout {
    pw_grpc_call *call; /* referenced, may be NULL */
    /* All below point into the fan-out's own allocation (one per Ack, see fanout_new). */
    uint8_t *raw; /* copy of the ids' bytes: ids[] point into it */
    struct {
        const char *ptr;
        size_t len;
    } * ids;
    q_status *codes;
    const char **whys;
    uint32_t *parts; /* while dispatching: the partition of ids[i] (UINT32_MAX: answered) */
    uint64_t *tids;  /* while dispatching: the task id of ids[i] in its partition */
    struct srv_ack_item *items; /* the ids grouped by partition: each partition's job views its
                                 * share (srv_queue_ack.c), written by that owner until it
                                 * replies */
    uint32_t *per;   /* while dispatching: ids per partition, then where each share ends in
                      * items (srv_q.nparts entries) */
    int cache_shard; /* the shard whose fan-out cache it came from, or -1 (rt_calloc) */
    uint32_t n;
    uint32_t pending;
    q_status status; /* a partition's log failure, else Q_OK */
    char msg[Q_ERR_MSG_BYTES];
    uint64_t *tokens; /* while dispatching: the lease token of ids[i] (0: none) */
    void (*done)(struct srv_ack_fanout *fo);
    void *ctx;
    /* The requests the fan-out answers, in order: reqs[r] answers ids[reqs[r-1].end ..
     * reqs[r].end). One for a unary Ack; a Work stream's acks of one input pass share a
     * fan-out (srv_ack_start_staged). */
    struct srv_ack_req {
        uint64_t request_id; /* the caller's (a Work stream's request id; 0 for a unary Ack) */
        uint32_t end;
    } * reqs;
    uint32_t nreq;
} srv_ack_fanout;

/* AckRequests gathered for one fan-out: each request's id, and each of its ids' bytes and
 * lease token, copied (srv_ack_stage_add), so the decoded requests they came from need not
 * outlive their handler. A Work stream's acks that arrive in one input pass are started
 * together (srv_queue_work.c): one job per partition, one q_part_ack, one ACK record for them
 * all, instead of one each. */
typedef struct srv_ack_stage {
    buf bytes;       /* per request: u64 request_id, u32 ids; per id: u64 token, u32 len, bytes */
    uint32_t nreq;   /* requests staged */
    uint32_t nids;   /* ids staged, over all requests: at most Q_BATCH_MAX */
    size_t id_bytes; /* the ids' bytes, over all requests */
} srv_ack_stage;
/* Bytes a stage keeps between input passes (64 one-id acks take ~2 KiB); more is given back
 * once its fan-out started. */
#define SRV_ACK_STAGE_KEEP_BYTES 8192u
/* A stage holding this many bytes is started before another request joins it: with the
 * Q_BATCH_MAX ids bound, it keeps what one fan-out copies small whatever the ids' lengths. */
#define SRV_ACK_STAGE_START_BYTES (64u << 10)
/* The stage's buffer limit: one request beyond SRV_ACK_STAGE_START_BYTES, and a request is at
 * most a gRPC message (an id costs at least 2 bytes there and 12 more here: at most 7x). */
#define SRV_ACK_STAGE_BYTES_MAX (256u << 20)

/* INVALID_ARGUMENT in *err when req cannot be acked as it is: no ids or more than Q_BATCH_MAX,
 * or a token count other than 0 or one per id. */
bool srv_ack_check(const pwm_ringq_v1_AckRequest *req, q_err *err);
void srv_ack_stage_init(srv_ack_stage *st);
void srv_ack_stage_deinit(srv_ack_stage *st);
/* Stages a checked req (borrowed for the call) answered as request_id. The caller keeps
 * st->nids + req->ids_count <= Q_BATCH_MAX (it starts the stage first). 0, -ENOMEM, or -ENOBUFS
 * (the stage would pass SRV_ACK_STAGE_BYTES_MAX); the stage is unchanged on error. */
int srv_ack_stage_add(srv_ack_stage *st, uint64_t request_id, const pwm_ringq_v1_AckRequest *req);
/* The request id of staged request number *pos (0 first), advancing *pos; false after the
 * last. For answering a stage that could not start. */
bool srv_ack_stage_next_request(const srv_ack_stage *st, size_t *pos, uint64_t *request_id);
/* Empties the stage (its storage kept up to SRV_ACK_STAGE_KEEP_BYTES). */
void srv_ack_stage_clear(srv_ack_stage *st);
/* Starts one fan-out for every request staged in st (nreq >= 1): the stage is emptied before
 * any partition is asked, so `done` (which may run at once) may stage and start again. NULL
 * with *err RESOURCE_EXHAUSTED when out of memory: the stage is left as it was. */
srv_ack_fanout *srv_ack_start_staged(srv_ack_stage *st, void (*done)(srv_ack_fanout *), void *ctx,
                                     q_err *err);

/* Starts an Ack of the decoded AckRequest `req` (borrowed for the call: the ids are copied).
 * Returns the fan-out (its `done` runs later, or at once when no id needs a partition), or NULL
 * with *err (INVALID_ARGUMENT: no ids or too many; RESOURCE_EXHAUSTED: out of memory). */
srv_ack_fanout *srv_ack_start(pw_grpc_call *call, const pwm_ringq_v1_AckRequest *req,
                              void (*done)(srv_ack_fanout *), void *ctx, uint64_t request_id,
                              q_err *err);
/* Encodes AckResponse{results} of a finished fan-out into `out` (once, in place): of ids
 * [from, to), one request's share. Returns 0 or pw_msg_encode's -ENOMEM / -ENOBUFS /
 * -EMSGSIZE (out unchanged then). */
int srv_ack_fanout_encode_range(srv_ack_fanout *fo, uint32_t from, uint32_t to, buf *out);
/* The same for every id (a unary Ack's one request). */
int srv_ack_fanout_encode(srv_ack_fanout *fo, buf *out);
/* Frees the fan-out (one allocation): back to its shard's cache when called on that shard. */
void srv_ack_fanout_free(srv_ack_fanout *fo);
/* A shard keeps up to SRV_FANOUT_CACHE_MAX freed fan-outs sized for SRV_FANOUT_CACHED_IDS ids
 * of at most Q_ID_STR_BYTES each (~7.5 KiB with 16 partitions, of which 2 KiB are the ids
 * grouped by partition): an Ack of a Work stream's credit window or of a batch of 64 fits;
 * larger ones are allocated and freed. The cap bounds what an idle shard keeps (~480 KiB)
 * while covering the Acks in flight on a busy one (each lives one mesh round trip). */
#define SRV_FANOUT_CACHED_IDS 64u
#define SRV_FANOUT_CACHE_MAX 64u
/* Bytes of one cached fan-out (after srv_q.nparts is set). */
size_t srv_ack_fanout_cached_bytes(void);

/* "<digits>-<digits>": the shape of our ids, even when out of range (then NOT_FOUND rather than
 * INVALID_ARGUMENT). */
bool srv_id_shaped(const char *s, size_t n);

/* ---- srv_queue_rpc.c ---- */

/* Owner side of an Enqueue: the decoded request r (views into j's request or, for a stream,
 * into the stream request it was made from; read during the call only) appended to its queue's
 * partition and answered at its durability (SYNCED: after the commit that covers it) into
 * j->resp: EnqueueResponse, or with `stream` the results of an EnqueueStreamResponse. Errors
 * as Enqueue's, in j->status. */
void srv_enqueue_run(srv_job *j, srv_part *sp, const pwm_ringq_v1_EnqueueRequest *r, bool stream);

/* ---- srv_queue_estream.c: Queue.EnqueueStream ---- */

/* The method entry (srv_queue_add_methods' table). */
void srv_estream_on_start(pw_grpc_call *c);
#define SRV_ENQUEUE_STREAM_METHOD                                                      \
    {                                                                                  \
        .path = pwm_ringq_v1_Queue_EnqueueStream_PATH, .kind = PW_GRPC_BIDI_STREAMING, \
        .on_start = srv_estream_on_start, .on_message = srv_ord_on_message,            \
        .on_half_close = srv_ord_on_half_close, .on_cancel = srv_ord_on_cancel,        \
        .on_writable = srv_ord_on_writable                                             \
    }
/* Requests one EnqueueStream may have unanswered: its credit window. 1024 single-task requests
 * keep a group commit of ~1 ms full at 1 M tasks/s, and bound what a producer that never reads
 * makes the server hold (1024 requests and their answers: about 1 MiB with 1 KiB tasks). */
#define SRV_ESTREAM_CREDITS 1024u

/* Routing, with the key the origin decoded (a view, read during the call only): by a task id
 * (sets j->task_id to the task id within its partition) or by a queue name. Q_OK when
 * dispatched; otherwise the job's status, set (INVALID_ARGUMENT, NOT_FOUND: nothing dispatched;
 * the caller still owns j). */
q_status srv_route_id(srv_job *j, pw_pb_bytes id, srv_job_run_fn run, srv_job_done_fn done);
q_status srv_route_queue(srv_job *j, pw_pb_bytes name, srv_job_run_fn run, srv_job_done_fn done);
/* A request decoded once, on the origin, from the job's own copy of it: j->req holds the bytes
 * (never written after the copy; srv_job_decoded keeps them in this block, after the struct,
 * SRV_JOB_REQ_DECODED; srv_job_decoded_msg in the job's own), j->ctx this. Its views point into j->req,
 * its sub-messages and arrays into `arena`. It crosses to the owner inside the job's mesh
 * message (the lane orders the origin's writes before the owner's reads); the owner only reads
 * it; the origin frees it when the job is back (the job's done callback). */
typedef struct srv_decoded {
    pw_msg_arena arena;
    int cache_shard; /* the shard whose cache (srv_qshard.decoded) it came from, or -1 */
    _Alignas(max_align_t) unsigned char msg[]; /* the generated struct */
} srv_decoded;
/* A shard keeps up to SRV_DECODED_CACHE_MAX freed srv_job_decoded blocks of
 * SRV_DECODED_CACHED_BYTES: a request whose block (head, struct, copy and inline arena, about
 * 4x the message) fits reuses one instead of a malloc + free per call. A 100-byte task's
 * Enqueue takes ~0.9 KiB, a 700-byte one ~3.5 KiB; larger requests go to the heap. The cap
 * covers the calls one loop turn finishes at the suite's load (4 connections x 16 in flight)
 * and bounds what an idle shard keeps (256 KiB). */
#define SRV_DECODED_CACHED_BYTES 4096u
#define SRV_DECODED_CACHE_MAX 64u
/* A job for unary call `c` with a copy of msg[0..len) decoded as `d` (see srv_decoded). NULL
 * after finishing the call: malformed (INVALID_ARGUMENT "malformed <message>: <reason>") or
 * out of memory (RESOURCE_EXHAUSTED). */
srv_job *srv_job_decoded(pw_grpc_call *c, const uint8_t *msg, size_t len, const pw_msg_desc *d);
/* The same for one message of a stream (msg borrowed for the call; no call is finished): NULL
 * with *e set (INVALID_ARGUMENT "malformed <message>: <reason>", RESOURCE_EXHAUSTED). The job's
 * ctx is the srv_decoded: the caller frees it with srv_job_decoded_release before the job. */
srv_job *srv_job_decoded_msg(const uint8_t *msg, size_t len, const pw_msg_desc *d, q_err *e);
void srv_job_decoded_release(srv_job *j);
/* A srv_job_done_fn for a srv_job_decoded job: answers the call and frees the decode (the job
 * itself is freed after done, as always). */
void srv_job_decoded_done(srv_job *j);
/* The decoded request of such a job (the generated struct of its `d`). */
static inline const void *srv_job_msg(const srv_job *j)
{
    return ((const srv_decoded *)j->ctx)->msg;
}
/* Answers such a job with its status (set by the caller) and frees it: a request refused on the
 * origin. */
void srv_job_decoded_refuse(srv_job *j);
/* Routes such a job by the decoded key (a view into j->req) to run `run` on the owner; the
 * reply answers the call (srv_job_answer) and frees the decoded request. Answers and frees at
 * once when routing fails. */
void srv_call_route_queue(srv_job *j, pw_pb_bytes name, srv_job_run_fn run);
void srv_call_route_id(srv_job *j, pw_pb_bytes id, srv_job_run_fn run);
/* The same to partition part_no, routed by the caller (a stream's, by its name). */
void srv_call_route_part(srv_job *j, uint32_t part_no, srv_job_run_fn run);

/* The task-id methods that mutate a leased task, by name rather than by field number. */
typedef enum srv_by_id {
    SRV_BY_ID_NACK,
    SRV_BY_ID_EXTEND,
} srv_by_id;
/* A job carrying a decoded Nack / Extend request (its reason copied: nothing in the job
 * borrows `r`), for `call` (may be NULL; a reference is taken). NULL when out of memory. */
srv_job *srv_nack_job(pw_grpc_call *call, const pwm_ringq_v1_NackRequest *r);
srv_job *srv_extend_job(pw_grpc_call *call, const pwm_ringq_v1_ExtendRequest *r);
/* Routes such a job by the request's task id `id` to the owner, which runs the Nack or Extend
 * and encodes NackResponse / ExtendResponse into j->resp. Returns as srv_route_id. */
q_status srv_route_by_id(srv_job *j, srv_by_id kind, pw_pb_bytes id, srv_job_done_fn done);

/* Leases up to max_n tasks of `name` and encodes each Task into `out`: as LeaseResponse.tasks
 * entries back to back (one LeaseResponse, bounded by the message limit), or when `framed` each
 * as its own length-prefixed WorkResponse{task} (the srv_lp_* list). Returns Q_OK with *count
 * set (0 when nothing was ready), or the failure's status with *err and *count 0 (the
 * partition's error, or RESOURCE_EXHAUSTED when out of memory: when the encode ran out, the
 * tasks stay leased until their lease ends). */
q_status srv_lease_encode(srv_part *sp, const char *name, size_t nl, uint32_t max_n,
                          uint32_t lease_ms, bool framed, buf *out, uint32_t *count, q_err *err);
/* The same for a Work registration `hold`: each task leased is recorded as held by it. */
struct srv_sub;
q_status srv_lease_encode_held(srv_part *sp, const char *name, size_t nl, uint32_t max_n,
                               uint32_t lease_ms, buf *out, uint32_t *count, struct srv_sub *hold,
                               q_err *err);

/* ---- srv_work_hold.c ---- */
#define SRV_WORKER_ID_HEADER "ringq-worker-id" /* a Work stream's holder name (metadata) */
/* Origin side: the holder of call c's Work stream: worker = its ringq-worker-id metadata (else
 * the peer address), addr = the peer address ("" when unknown). Writes both, NUL-terminated. */
void srv_work_holder(pw_grpc_call *c, char worker[SRV_HOLDER_BYTES], char addr[SRV_HOLDER_BYTES]);

/* ---- srv_queue_work.c ---- */
/* A Work session's life on its origin shard (srv_queue_work.c). States only move forward,
 * through its one setter, which asserts srv_work_state_next_ok:
 *
 *   from \ to     DRAINING          HALF_CLOSED        FINISHED              CLOSED
 *   OPEN          server drains     client half-close  drain at start        cancel
 *   DRAINING      -                 client half-close  nothing held: UNAVAIL cancel
 *   HALF_CLOSED   (stays: ends OK)  -                  answers sent: OK      cancel
 *   FINISHED      -                 -                  -                     work_close
 *   CLOSED        (final: unregistered; freed when the last reference goes)
 *
 * Only OPEN takes credits and so gets deliveries. Owners never read `state`: they read the
 * atomic `closed`, set once on the way to CLOSED. */
typedef enum srv_work_state {
    SRV_WORK_OPEN,        /* subscribing, granting credits, delivering */
    SRV_WORK_DRAINING,    /* the server drains: no new credits; ends once no task is held */
    SRV_WORK_HALF_CLOSED, /* the client sent its last request: ends once the answers are sent */
    SRV_WORK_FINISHED,    /* trailers sent */
    SRV_WORK_CLOSED,      /* unregistered from every owner */
} srv_work_state;
#define SRV_WORK_STATES 5
/* true when the table above allows from -> to. */
bool srv_work_state_next_ok(srv_work_state from, srv_work_state to);

int srv_work_add_method(pw_grpc_server *g);
/* Drain: ends this shard's Work streams with UNAVAILABLE. Shard thread only. */
void srv_work_drain_shard(void);

#endif
