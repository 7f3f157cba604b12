/* server/srv_stream_int: what the ringq.v1.Streams handlers (server/srv_stream*.c) share.
 *
 * Files, one concern each:
 *   srv_stream_dir.[ch]     the subject -> stream directory (a copy per shard) and its changes
 *   srv_stream_admin.c      Create/Update/Get/List/Delete/PurgeStream
 *   srv_stream_pub.c        Publish, PublishStream
 *   srv_stream_read.c       GetMessage, Read (server streaming, live)
 *   srv_stream_cons.c       consumer admin, Fetch (long-poll), AckMessages
 *   srv_stream_watch.c      the owner's watches: parked Fetches, Consume registrations, timer
 *   srv_stream_consume.c    Consume (bidi): the session, on the origin
 *   srv_stream_csub.c       Consume on the owner: registrations, deliveries, jobs
 *   srv_stream_codec.c      StreamConfig / StreamInfo / StreamMessage / Delivery encoders
 *   srv_stream_metrics.c    the streams' /metrics families
 *   srv_stream_parts*.c     partitioned streams: members, fan-out, merges (srv_stream_parts.h)
 * Everything a stream holds is owned by the shard owning its partition (q_part_of(name)); a
 * request reaches it as a srv_job (srv_job.h), decoded once on the origin. */
#ifndef SRV_STREAM_INT_H
#define SRV_STREAM_INT_H

#include "proto_wire/pw_msgs.h"
#include "queue/q_stream.h"
#include "server/srv_msg.h"
#include "server/srv_queue_int.h"
#include "server/srv_queue_rpc.h"
#include "server/srv_stream.h"
#include "server/srv_stream_dir.h"

/* ---- srv_stream_admin.c ---- */

/* Boot: adds an entry for every stream of partition sp (on its owner, at start) with add(),
 * which takes it (NULL when it could not be made: out of memory). */
void srv_stream_boot_entries(srv_part *sp, int shard, void (*add)(int shard, srv_sdir_ent *e));
/* A directory entry for stream s as stored (rt_malloc'd; NULL when out of memory). */
srv_sdir_ent *srv_stream_ent_of(q_stream *s, uint32_t part);
/* The call is refused (UNAVAILABLE "server is draining") when the server drains: true then. */
bool srv_stream_reject_draining(pw_grpc_call *c);
/* Checks a stream name view; on failure sets the job's status (INVALID_ARGUMENT, the message
 * naming the request's `field`: "name" or "stream"). */
bool srv_stream_check_name(srv_job *j, pw_pb_bytes name, const char *field);
/* Routes a srv_job_decoded job by the stream name (checked; `field` as above) to the
 * partition's owner; the reply answers the call. Answers and frees at once when the name is bad. */
void srv_stream_route(srv_job *j, pw_pb_bytes name, const char *field, srv_job_run_fn run);
/* Owner side: the stream named `name` in sp, or NULL with the job's status NOT_FOUND. */
q_stream *srv_stream_find(srv_job *j, srv_part *sp, pw_pb_bytes name);

/* ---- srv_stream_codec.c ---- */

/* Views of a decoded StreamConfig as a q_stream_cfg (subjects into subj[]). INVALID_ARGUMENT
 * with the reason in e when it has more subjects than Q_STREAM_SUBJECTS_MAX. */
q_status srv_stream_cfg_from(const pwm_ringq_v1_StreamConfig *m, q_stream_cfg *c,
                             q_subject_view subj[Q_STREAM_SUBJECTS_MAX], q_err *e);
/* Encodes StreamInfo of s (its figures as of now_ms; with a subjects filter, its per-subject
 * counts) into out: as the message itself (field 0) or as field `field` of the enclosing
 * message. 0, a negative errno (-ENOMEM, -EMSGSIZE...) or -EINVAL for a bad filter. */
int srv_stream_info_encode(buf *out, uint32_t field, q_part *p, q_stream *s, uint32_t part,
                           uint64_t now_ms, const char *filter, size_t flen);

/* How a stored message is framed. */
typedef enum srv_smsg_frame {
    SRV_SMSG_PLAIN,       /* the StreamMessage itself (GetMessage's reply) */
    SRV_SMSG_READ_FRAMED, /* a gRPC-framed StreamMessage (a Read batch) */
} srv_smsg_frame;
/* Encodes message m of stream `stream` (views borrowed for the call) into out. headers_only:
 * no payload (payload_size says its size). 0 or a negative errno (out unchanged then). */
int srv_smsg_encode(buf *out, srv_smsg_frame frame, const char *stream, size_t stream_len,
                    const q_smsg *m, bool headers_only);
/* Fills *sm (headers into hs[Q_HEADERS_MAX]) with views of m. -E2BIG on a corrupt header list. */
int srv_smsg_view(pwm_ringq_v1_StreamMessage *sm, pwm_ringq_v1_StreamMessage_HeadersEntry *hs,
                  const char *stream, size_t stream_len, const q_smsg *m, bool headers_only);

/* ---- srv_stream_read.c ---- */

/* Owner side, after messages were appended to stream s of sp: under --fsync never its live
 * Reads and consumers are served now; otherwise the commit's completion serves them. */
void srv_stream_published(srv_part *sp, q_stream *s);
/* Owner side: the partition's durable end moved: serves parked live Reads and consumers. */
void srv_stream_serve_part(srv_part *sp);
/* Owner side: a stream was deleted: parked Reads on it end. */
void srv_stream_read_forget(srv_part *sp, const char *name, size_t len);
/* Whether message record `offset` of sp may be served now (durable before visible). */
bool srv_stream_visible(srv_part *sp, uint64_t offset);

/* Owner side at drain: parked Reads answer now. */
void srv_stream_read_drain(void);

/* ---- srv_stream_cons.c, srv_stream_watch.c: consumers; srv_stream_consume.c: Consume ---- */

struct q_consumer;
struct q_consumer_cfg;
struct q_delivery;
struct srv_csub; /* a Consume session's registration (srv_stream_csub.c) */

/* Owner side: the waiters of one consumer (Fetch jobs parked, Consume registrations). */
typedef struct srv_cwatch {
    uint32_t part;
    char stream[Q_STREAM_NAME_BYTES_MAX];
    uint32_t sl;
    char cons[Q_STREAM_NAME_BYTES_MAX];
    uint32_t cl;
    srv_job *fetch_head, *fetch_tail; /* parked Fetch jobs, FIFO (wait_next/wait_prev) */
    struct srv_csub *subs;
    struct srv_cwatch *next;
} srv_cwatch;

/* The watch of (partition, stream, consumer) on this shard; create: make it if missing (NULL
 * when out of memory). */
srv_cwatch *srv_cwatch_get(uint32_t part, const char *sn, size_t sl, const char *cn, size_t cl,
                           bool create);
/* Frees w when nobody waits on it any more. */
void srv_cwatch_gc(srv_cwatch *w);
/* Fetch calls parked on consumer c of s (ConsumerState.num_waiting). */
uint32_t srv_cwatch_waiting(q_stream *s, struct q_consumer *c);
/* Arms this shard's consumer timer for at_ms (wall clock) unless it fires earlier. */
void srv_cons_timer_at(uint64_t at_ms);
/* Serves the waiters of stream s's consumers (after a publish, a settle, a pause...). */
void srv_cons_serve_stream(srv_part *sp, q_stream *s);
/* Serves every watch of this shard (only: those of that partition; NULL all). */
void srv_cons_serve_all(srv_part *only);
/* Settles a decoded Acks on consumer c: ItemStatus entries as field `field` into out, *commit_to
 * for the reply. Q_OK or the call's status with the reason in e. */
q_status srv_cons_settle(srv_part *sp, q_stream *s, struct q_consumer *c,
                         const pwm_ringq_v1_Acks *a, uint32_t field, buf *out, uint64_t *commit_to,
                         q_err *e);
/* Views of a decoded ConsumerConfig as a q_consumer_cfg. INVALID_ARGUMENT (absent, too many
 * filters or backoff entries) with the reason in e. */
q_status srv_consumer_cfg_from(const pwm_ringq_v1_ConsumerConfig *m, struct q_consumer_cfg *c,
                               q_err *e);
/* ConsumerInfo of c (as the message: field 0, or as field `field`) into out. 0 or -errno. */
int srv_consumer_info_encode(buf *out, uint32_t field, q_stream *s, struct q_consumer *c);
typedef enum srv_delivery_frame {
    SRV_DELIVERY_FETCH_ENTRY,    /* a FetchResponse.deliveries entry */
    SRV_DELIVERY_CONSUME_FRAMED, /* a gRPC-framed ConsumeResponse{delivery} */
} srv_delivery_frame;
/* Encodes delivery d of stream s into out, once, from the log mapping. 0 or -errno. */
int srv_delivery_encode(buf *out, srv_delivery_frame frame, q_stream *s,
                        const struct q_delivery *d);
/* Encodes msg (of table d) behind its 5-byte gRPC prefix into out. 0 or -errno (out as it was). */
int srv_grpc_encode_framed(buf *out, const pw_msg_desc *d, const void *msg);
/* StreamState.consumers. */
uint32_t srv_stream_consumers(q_stream *s);
/* Owner: answers Fetch job j (its decoded FetchRequest) for consumer c of s now, or parks it on
 * the consumer's watch until a delivery or its wait (srv_stream_watch.c). */
void srv_fetch_start(srv_job *j, srv_part *sp, q_stream *s, struct q_consumer *c);
/* Owner: serves the Consume registrations of watch w (consumer c of s; NULL: gone, they end). */
void srv_consume_serve_watch(srv_part *sp, q_stream *s, struct q_consumer *c, srv_cwatch *w);
/* Frees w's registrations (shutdown: nothing is served). */
void srv_consume_free_subs(srv_cwatch *w);
/* Drain: this shard's Consume streams end UNAVAILABLE once their acks are answered. */
void srv_consume_drain_shard(void);
int srv_stream_consume_add_method(pw_grpc_server *g);
void srv_stream_cons_shard_init(int shard);
void srv_stream_cons_shard_fini(int shard);
void srv_stream_cons_drain(void);

int srv_stream_pub_add_methods(pw_grpc_server *g);
/* Drain: this shard's PublishStream streams answer what they hold, then end UNAVAILABLE. */
void srv_stream_pub_drain(void);
int srv_stream_read_add_methods(pw_grpc_server *g);
int srv_stream_admin_add_methods(pw_grpc_server *g);
int srv_stream_cons_add_methods(pw_grpc_server *g);

#endif
