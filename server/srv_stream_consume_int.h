/* server/srv_stream_consume_int.h: what the two halves of ringq.v1.Streams/Consume share — the
 * session (srv_stream_consume.c, on the origin: the connection's shard) and its registrations
 * with the jobs run on the owner of the stream's partition (srv_stream_csub.c). Only those two
 * files include it (and srv_stream_consume_parts.c, a partitioned stream's session). Who touches what is in srv_stream_consume.c's header comment: the owner
 * reads only the session's atomics (credits, closed) and the names a job carries. */
#ifndef SRV_STREAM_CONSUME_INT_H
#define SRV_STREAM_CONSUME_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/rt_buf.h"
#include "queue/q_consumer.h"
#include "server/srv_stream_int.h"

#define CONSUME_BATCH 64u              /* deliveries per claim */
#define CONSUME_BATCH_BYTES (1u << 20) /* bytes per claim: one batch of a slow reader held */
#define DELIVERY_OVERHEAD_BYTES (Q_STREAM_NAME_BYTES_MAX + Q_SUBJECT_BYTES_MAX + 128u)

typedef struct srv_consume {
    pw_grpc_call *call;
    int origin;
    int refs; /* origin only: the stream, the registration, each ack in flight */
    _Atomic int32_t credits;
    _Atomic bool closed;
    bool bound, binding, half_closed, finished, draining;
    uint32_t inflight; /* acks and the bind in flight */
    uint32_t part;
    char stream[Q_STREAM_NAME_BYTES_MAX];
    uint32_t sl;
    char cons[Q_CONSUMER_NAME_BYTES_MAX];
    uint32_t cl;
    srv_job *unreg; /* allocated with the bind: ending a registration needs no memory */
    /* A partitioned stream (srv_stream_parts.h): one registration per member, `part` is member
     * 0's; unregs[k] member k's unregister job (NULL: sent, or that member did not bind); the
     * binds' answers gather in pfan until all are back. parts 0: a pinned stream. */
    uint32_t parts, binds_out;
    struct srv_job **unregs;
    struct srv_sfan *pfan;
    buf pending; /* messages waiting for the window, length-prefixed */
    struct srv_consume *next, *prev;
} srv_consume;

/* One session's registration in a consumer's watch (owner's memory). */
typedef struct srv_csub {
    srv_consume *w;
    int origin;
    struct srv_csub *next;
} srv_csub;

/* What a bind job carries besides the decoded request (j->origin_ctx: made by the origin; the
 * owner reads `w` only to name the session in its registration). */
typedef struct srv_cbind_ref {
    srv_consume *w;
    uint64_t request_id;
    uint32_t credits;
} srv_cbind_ref;

/* What an ack job carries besides the decoded request (j->origin_ctx): made by the origin,
 * read (names only) by the owner, freed by the origin when the job is back. */
typedef struct srv_cack_ref {
    srv_consume *w;
    struct srv_sfan *gather; /* a partitioned stream's acks: the members' answers (origin only) */
    uint64_t request_id;
    uint32_t sl, cl;
    char names[Q_STREAM_NAME_BYTES_MAX + Q_CONSUMER_NAME_BYTES_MAX];
} srv_cack_ref;

/* Origin: a batch of deliveries (j->resp: framed ConsumeResponse messages) for the session j->ctx,
 * sent by reference; a failed job ends the stream with its status. */
void srv_consume_deliver_done(srv_job *j);

/* Owner jobs (srv_job_dispatch to the stream's partition). bind: finds or creates (ephemeral)
 * the consumer, registers the session (j->origin_ctx: srv_cbind_ref) and answers ConsumerInfo, the
 * consumer's name in j->msg; unbind: the session's registration leaves (j->ctx: the session,
 * req.bytes: stream then consumer name, list_max the stream's length); poke: serves the stream's
 * consumers (req.bytes: the stream's name); cack: settles acks (j->origin_ctx: srv_cack_ref),
 * answered once their records are durable. Each replies to its job; none fails the session. */
void srv_consume_run_bind(srv_job *j, srv_part *sp);
void srv_consume_run_unbind(srv_job *j, srv_part *sp);
void srv_consume_run_poke(srv_job *j, srv_part *sp);
void srv_consume_run_cack(srv_job *j, srv_part *sp);

/* The session's own steps, for its partitioned half (srv_stream_consume.c defines them): a
 * ConsumeResult (field 0 and no body: none; or ItemStatus entries / ConsumerInfo bytes), the
 * session's references, credits granted (and a poke), the end once nothing is left to answer,
 * an unregister job's names. */
void srv_consume_result(srv_consume *w, uint64_t request_id, q_status code, const char *message,
                        uint32_t field, const uint8_t *body, size_t body_len);
void srv_consume_unref(srv_consume *w);
void srv_consume_grant(srv_consume *w, uint64_t n);
void srv_consume_maybe_finish(srv_consume *w);
void srv_consume_unreg_fill(srv_consume *w, srv_job *j);

/* A partitioned stream (srv_stream_consume_parts.c), on the origin: binds durable consumer
 * r->bind->consumer of stream e on every member (answers the request itself); sends the
 * unregister jobs not sent yet; settles r->acks, each ref on its member. */
void srv_consume_bind_parts(srv_consume *w, const uint8_t *msg, size_t len,
                            const pwm_ringq_v1_ConsumeRequest *r, const srv_sdir_ent *e);
void srv_consume_unbind_members(srv_consume *w);
void srv_consume_acks_parts(srv_consume *w, const pwm_ringq_v1_ConsumeRequest *r);

#endif
