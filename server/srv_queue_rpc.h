/* server/srv_queue_rpc: pieces of the Queue service shared with the Work stream. */
#ifndef SRV_QUEUE_RPC_H
#define SRV_QUEUE_RPC_H

#include "server/srv_queue_int.h"

/* An Ack fanned out to the partitions its ids live in; `done` runs on the origin shard when
 * every partition has answered (codes[i]/whys[i] answer ids[i]). */
typedef struct srv_ack_fanout {
    pw_grpc_call *call;  /* referenced, may be NULL */
    uint8_t *raw;        /* owned copy of the AckRequest: ids[] point into it */
    struct { const char *ptr; size_t len; } *ids;
    q_status *codes;
    const char **whys;
    uint32_t n;
    uint32_t pending;
    q_status status;     /* a partition's log failure, else Q_OK */
    char msg[Q_ERR_MSG_BYTES];
    void (*done)(struct srv_ack_fanout *fo);
    void *ctx;
    uint64_t tag;
} srv_ack_fanout;

/* Starts an Ack of the AckRequest `msg`. Returns the fan-out (its `done` runs later, or at once
 * when no id needs a partition), or NULL with *err (malformed, empty, too many ids). */
srv_ack_fanout *srv_ack_start(pw_grpc_call *call, const uint8_t *msg, size_t len,
                              void (*done)(srv_ack_fanout *), void *ctx, uint64_t tag, q_err *err);
void srv_ack_fanout_encode(srv_ack_fanout *fo, buf *out);
/* Frees the fan-out (raw is freed too). */
void srv_ack_fanout_free(srv_ack_fanout *fo);

/* Routing: by the task id in field 1 (j->tag = the task id), or by the queue name in field 1.
 * 0 when dispatched; -1 with the job's status set (nothing dispatched). */
int srv_route_by_id(srv_job *j, srv_job_run_fn run, srv_job_done_fn done);
int srv_route_by_queue(srv_job *j, srv_job_run_fn run, srv_job_done_fn done);
typedef int (*srv_route_fn)(srv_job *j, srv_job_run_fn run, srv_job_done_fn done);
/* A unary call served by one job: copies the request, routes it with `route`, answers with
 * the job's response or status (srv_job_answer). Answers at once when routing fails. */
void srv_call_route(pw_grpc_call *c, const uint8_t *msg, size_t len, srv_route_fn route,
                    srv_job_run_fn run);
/* Leases up to max_n tasks of `name` and encodes each as a field-1 Task entry, which is what
 * both LeaseResponse.tasks and WorkResponse.task are: back to back into `out` (one
 * LeaseResponse, bounded by the message limit), or when `framed` each as its own
 * length-prefixed WorkResponse (srv_lp_put). Returns the count, or -1 with *err. */
int srv_lease_encode(srv_part *sp, const char *name, size_t nl, uint32_t max_n, uint32_t lease_ms,
                     bool framed, buf *out, q_err *err);
extern srv_job_run_fn srv_run_nack;
extern srv_job_run_fn srv_run_extend;

bool srv_id_shaped(const char *s, size_t n);

/* srv_queue_work.c */
int srv_work_add_method(pw_grpc_server *g);
/* Drain: ends this shard's Work streams with UNAVAILABLE. Shard thread only. */
void srv_work_drain_shard(void);

#endif
