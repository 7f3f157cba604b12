/* server/srv_queue_int: jobs, partition ownership and long-poll waiters, shared by the Queue,
 * Work and Admin handlers (srv_queue_*.c, srv_admin.c). */
#ifndef SRV_QUEUE_INT_H
#define SRV_QUEUE_INT_H

#include <stdatomic.h>
#include <stdio.h>

#include "core/ev_reactor.h"
#include "proto_wire/pw_msgs.h"
#include "queue/q_part.h"
#include "server/srv_queue.h"
#include "worker/wk_mesh.h"
#include "worker/wk_mesh_loop.h"

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

/* Jobs (or Work subscriptions) parked on one queue name of a partition. */
typedef struct srv_waitq {
    char name[Q_QUEUE_NAME_BYTES_MAX + 1];
    uint32_t name_len;
    srv_job *head, *tail;        /* Lease long-polls, FIFO */
    struct srv_sub *subs;        /* Work subscriptions */
    struct srv_waitq *next;
} srv_waitq;

struct srv_part {
    q_part *p;
    uint32_t no;
    int shard;
    ev_timer tick;
    uint64_t tick_at_ms;
    q_commit_waiter tick_cw;
    bool tick_commit_busy;
    uint64_t last_sync_ms; /* --fsync never: last housekeeping commit */
    q_commit_waiter sync_cw; /* that commit (q_log_sync_async), while sync_busy */
    bool sync_busy;
    uint64_t served_durable; /* the log's durable end at the last srv_part_serve_durable */
    bool serve_retry;        /* a Work delivery found no memory: the tick serves streams again */
    srv_waitq *waits;
};

/* Shard-local queue state. */
typedef struct srv_qshard {
    int id;
    ev_loop *loop;
    wk_mesh_loop ml;
    srv_part **parts; /* owned partitions (others NULL), indexed by partition number */
    uint32_t nowned;
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

/* Owner side: after anything that may have made tasks ready (enqueue, nack, tick, redrive,
 * resume), serves parked long-polls and Work subscriptions. */
void srv_part_serve_ready(srv_part *sp);
/* Owner side, from the log's committed callback (after the commit's waiters): serves what the durable end's move made
 * visible (ready_when_durable), once per move however many waiters the commit covered. */
void srv_part_serve_durable(srv_part *sp);
/* A Work delivery that could not get memory is retried by the partition's tick this much
 * later: soon enough that a worker barely notices, late enough not to spin on an exhausted
 * heap (nothing else would serve the stream again: its credits wait for ready tasks). */
#define SRV_SERVE_RETRY_MS 10u
/* Owner side: (re)arms the partition's housekeeping timer from q_part_tick's next time. */
void srv_part_schedule(srv_part *sp, uint64_t next_ms);
/* Owner side: park a Lease long-poll until tasks arrive or `deadline_ms` (wall clock). */
void srv_part_park(srv_part *sp, srv_job *j, const char *name, uint32_t name_len, uint64_t wait_ms,
                   srv_job_run_fn retry);
srv_waitq *srv_part_waitq(srv_part *sp, const char *name, uint32_t name_len, bool create);
void srv_part_waitq_gc(srv_part *sp, srv_waitq *wq);

/* ---- codec helpers (srv_queue_codec.c) ---- */

/* How srv_encode_task frames a Task: as one LeaseResponse.tasks entry, or as a whole
 * WorkResponse{task} behind its varint length (one entry of an srv_lp_* list). */
typedef enum srv_task_frame {
    SRV_TASK_LEASE_ENTRY,
    SRV_TASK_WORK_FRAMED,
} srv_task_frame;
/* Encodes one ringq.v1.Task (fields of q_leased; views borrowed for the call) into `out`,
 * once and in place. The encoders below return 0, or pw_msg_encode's -ENOMEM / -ENOBUFS /
 * -EMSGSIZE (out unchanged then), or -E2BIG for a record with more than Q_HEADERS_MAX headers. */
int srv_encode_task(buf *out, srv_task_frame frame, uint32_t part_no, const char *queue,
                    size_t queue_len, const q_leased *t);
/* Fills *m (a QueueInfo, its config pointing at *cfg) from qi; views borrow qi. */
void srv_queue_info_view(pwm_ringq_v1_QueueInfo *m, pwm_ringq_v1_QueueConfig *cfg,
                         const q_queue_info *qi, uint32_t part_no);
/* Encodes ringq.v1.QueueInfo (as the message itself). */
int srv_encode_queue_info(buf *out, const q_queue_info *qi, uint32_t part_no);
/* Encodes ringq.v1.TaskInfo: as the message itself (field 0) or as field `field` (a generated
 * pwm_*_FIELD_* constant) of the enclosing message. */
int srv_encode_task_info(buf *out, uint32_t field, uint32_t part_no, const q_task_info *ti);
/* A list of messages, each prefixed with its varint length: how one job carries several
 * messages between shards. put: 0 or -ENOBUFS/-ENOMEM. next: false at the end (or on a
 * truncated entry); *msg views the list. */
int srv_lp_put(buf *out, const uint8_t *msg, size_t len);
bool srv_lp_next(const uint8_t **p, size_t *left, const uint8_t **msg, size_t *len);
/* Validates a queue name view; on failure sets the job's status. */
bool srv_check_queue(srv_job *j, const char *name, size_t len);

/* Work streams (srv_queue_work.c): owner side of a subscription (the session is opaque here). */
struct srv_work;
typedef struct srv_sub {
    struct srv_work *w;
    uint32_t lease_ms; /* the stream's, as of its latest registration or poke message */
    struct srv_sub *next;
} srv_sub;
void srv_sub_serve(srv_part *sp, srv_waitq *wq);

/* srv_queue_lock.c: takes the data directory's lock (flock on the directory) and records our
 * pid in ringqd.pid. Returns the lock's fd (keep it open while running), or a negative errno
 * after printing the reason ("data directory D is in use by another ringqd (pid N)": -EBUSY). */
int srv_queue_lock_dir(const char *dir);

#endif
