/* server/srv_queue_int: what the Queue, Work and Admin handlers (srv_queue_*.c, srv_admin.c)
 * share: jobs (srv_job.h), partitions and their ownership (srv_part.h), long-poll waiters
 * (srv_waitq.h), the codec helpers and the data directory's lock. */
#ifndef SRV_QUEUE_INT_H
#define SRV_QUEUE_INT_H

#include <stdatomic.h>
#include <stdio.h>

#include "core/ev_reactor.h"
#include "proto_wire/pw_msgs.h"
#include "queue/q_part.h"
#include "server/srv_job.h"
#include "server/srv_part.h"
#include "server/srv_queue.h"
#include "server/srv_waitq.h"
#include "worker/wk_mesh.h"
#include "worker/wk_mesh_loop.h"

/* ---- codec helpers (srv_queue_codec.c) ---- */

/* How srv_encode_task frames a Task: as one LeaseResponse.tasks entry, or as a whole
 * WorkResponse{task} behind its 5-byte gRPC message prefix (uncompressed), as the Work stream
 * sends it (walk a batch with srv_grpc_next). */
typedef enum srv_task_frame {
    SRV_TASK_LEASE_ENTRY,
    SRV_TASK_WORK_FRAMED,
} srv_task_frame;
/* Encodes one ringq.v1.Task (fields of q_leased; views borrowed for the call) into `out`,
 * once and in place. The encoders below return 0, or pw_msg_encode's -ENOMEM / -ENOBUFS /
 * -EMSGSIZE (out unchanged then), or -E2BIG for a record with more than Q_HEADERS_MAX headers. */
int srv_encode_task(buf *out, srv_task_frame frame, uint32_t part_no, const char *queue,
                    size_t queue_len, const q_leased *t);
/* Encodes ringq.v1.EnqueueStreamResponse *m (borrowed for the call) into `out` by hand: the
 * generic codec's bytes (test_srv_task_codec), in one size pass and one write. */
int srv_encode_estream_resp(buf *out, const pwm_ringq_v1_EnqueueStreamResponse *m);
/* The same for ringq.v1.AckResponse, and for a WorkResult (by hand without a response set:
 * request_id, code and message; through the generic codec otherwise). */
int srv_encode_ack_resp(buf *out, const pwm_ringq_v1_AckResponse *m);
int srv_encode_work_result(buf *out, const pwm_ringq_v1_WorkResult *m);
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
/* The same over gRPC-framed messages (SRV_TASK_WORK_FRAMED): *msg views the message after its
 * prefix. false at the end or on a truncated entry. */
bool srv_grpc_next(const uint8_t **p, size_t *left, const uint8_t **msg, size_t *len);
/* Hands `b` (n gRPC-framed messages, borrowed: the call takes its own reference) to `call` by
 * reference, or, on a call that compresses its responses, each message the copying way. 0 (a
 * copy queued beyond the call's mark counts as sent: still bounded by one batch), or
 * pw_grpc_call_send_framed's / pw_grpc_call_send's error. */
int srv_grpc_send_batch(pw_grpc_call *call, rt_blob *b, uint32_t n);
/* Validates a queue name view; on failure sets the job's status. */
bool srv_check_queue(srv_job *j, const char *name, size_t len);

/* srv_queue_lock.c: takes the data directory's lock (flock on the directory) and records our
 * pid in ringqd.pid. Returns the lock's fd (keep it open while running), or a negative errno
 * after printing the reason ("data directory D is in use by another ringqd (pid N)": -EBUSY). */
int srv_queue_lock_dir(const char *dir);

#endif
