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
#include "worker/wk_mesh.h"

typedef struct srv_job srv_job;
typedef struct srv_part srv_part;

/* Runs on the owner shard of j->part_no. Must end with srv_job_reply(j) — at once or later. */
typedef void (*srv_job_run_fn)(srv_job *j, srv_part *sp);
/* Runs on the origin shard after the reply arrives; the job is freed afterwards unless
 * j->keep is set by the callback. */
typedef void (*srv_job_done_fn)(srv_job *j);

struct srv_job {
    wk_msg_node node;       /* carries the job to the owner, then back */
    int origin, owner;
    uint32_t part_no;
    srv_job_run_fn run;
    srv_job_done_fn done;   /* NULL: srv_job_answer (send resp, finish with status) */
    pw_grpc_call *call;     /* origin's call (a reference is held), or NULL */
    void *ctx;              /* the handler's context (a Work session, an Ack fan-out) */
    uint64_t tag;           /* the handler's (Work request id, fan-out slot) */
    uint8_t *req;           /* owned copy of the request message (or an owned sub-request) */
    size_t req_len;
    buf resp;               /* response message, encoded on the owner */
    q_status status;
    char msg[Q_ERR_MSG_BYTES];
    bool keep;
    uint32_t sub_lease_ms;  /* Work registration and poke jobs: the stream's lease_ms, copied
                             * into the owner's srv_sub (the owner never reads the session's) */
    _Atomic bool cancelled; /* set by the origin when its call ended: long-polls give up */
    /* Owner-side state. */
    q_commit_waiter cw;
    ev_timer timer;         /* long-poll deadline */
    uint64_t wait_deadline_ns;
    srv_job *wait_next, *wait_prev;
    void *waitq;            /* the srv_waitq the job is parked on, or NULL */
};

/* Jobs. new: a job for `call` (ref taken; may be NULL) with an owned copy of req. */
srv_job *srv_job_new(pw_grpc_call *call, const uint8_t *req, size_t req_len);
void srv_job_free(srv_job *j);
/* Sends the job to the owner of part_no (or runs it here when this shard owns it). */
void srv_job_dispatch(srv_job *j, uint32_t part_no, srv_job_run_fn run, srv_job_done_fn done);
/* Owner side: the job is finished; back to the origin. */
void srv_job_reply(srv_job *j);
/* Owner side: reply once every record appended so far is durable (or with the log's failure). */
void srv_job_reply_durable(srv_job *j, srv_part *sp);
/* Default done: sends resp (if status OK) and finishes the call with status/msg. */
void srv_job_answer(srv_job *j);
/* Sets status and message (printf-style). */
void srv_job_fail(srv_job *j, q_status st, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static inline void srv_job_err(srv_job *j, const q_err *e)
{
    j->status = e->code;
    snprintf(j->msg, sizeof j->msg, "%s", e->msg);
}

#endif
