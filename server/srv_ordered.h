/* server/srv_ordered: the in-order answer window of a pipelined bidi stream (Queue.EnqueueStream,
 * Streams.PublishStream).
 *
 * The session (on the origin shard, where the call lives) keeps its requests in a FIFO: each is
 * a job in flight to the shard that owns its partition, or one answered (its reply encoded).
 * Answers leave from the head as soon as they are ready, so a fast request behind a slow one
 * (another shard, another commit) waits for it: answers are always in request order. At most
 * kind->held_max requests are held (in flight or answered and not yet sent): one more is
 * answered RESOURCE_EXHAUSTED, in order, and changes nothing, so a producer that never reads
 * cannot make the server hold an unbounded backlog. Answers the HTTP/2 window cannot take wait
 * in a buffer bounded by SRV_ORD_PENDING_BYTES_MAX (beyond it the stream ends
 * RESOURCE_EXHAUSTED). A failed request does not end the stream. Drain (srv_ord_drain): what is
 * held is answered, new requests get UNAVAILABLE, then the stream ends UNAVAILABLE.
 *
 * Everything here runs on the session's shard; only the jobs cross shards (srv_job.h). */
#ifndef RINGQ_SRV_ORDERED_H
#define RINGQ_SRV_ORDERED_H

#include <stddef.h>
#include <stdint.h>

#include "core/rt_buf.h"
#include "proto_wire/pw_grpc_server.h"
#include "queue/q_part.h"
#include "server/srv_job.h"

/* Answers waiting for the peer's HTTP/2 window, per stream: 64 MiB, a window's worth of
 * 64 KiB answers, far above what one producer's credits make (1024 single-task answers are
 * ~150 KiB). */
#define SRV_ORD_PENDING_BYTES_MAX (64u << 20)
/* One answer's encoding: a batch's results are small next to this (1000 x ~80 B). */
#define SRV_ORD_ANSWER_BYTES_MAX (16u << 20)

typedef struct srv_ord srv_ord;
typedef struct srv_ord_item srv_ord_item;

/* Freed items a shard keeps for its next requests (srv_qshard.ord_items), at most: the suite's
 * 4 producers x 64 in flight (an item is ~80 bytes: ~20 KiB per shard when idle). */
#define SRV_ORD_ITEM_CACHE_MAX 256u
/* The size of one item (the cache's object size). */
size_t srv_ord_item_bytes(void);

typedef struct srv_ord_kind {
    /* The most requests held at once (the credit window). */
    uint32_t held_max;
    /* Encodes the answer {request_id, code, message} followed by body (the owner's reply, its
     * fields already those of the answer message, or a nested message the encoder wraps) into
     * out; credits is what the producer may still have unanswered after it. 0 or a negative
     * errno. */
    int (*encode)(buf *out, uint64_t request_id, q_status code, const char *message,
                  const uint8_t *body, size_t body_len, uint32_t credits);
    /* One request: the session has made its place in the order (it). The handler answers it
     * (srv_ord_answer) or hands it to a job (srv_ord_dispatch). Borrows msg for the call. */
    void (*request)(srv_ord *o, srv_ord_item *it, const uint8_t *msg, size_t len);
} srv_ord_kind;

/* on_start: a session for call c answering as kind says (borrowed: static). Ends the call
 * RESOURCE_EXHAUSTED when out of memory, UNAVAILABLE when the server drains. */
void srv_ord_start(pw_grpc_call *c, const srv_ord_kind *kind);
/* The session's call (borrowed: valid while the session lives), for per-request checks. */
pw_grpc_call *srv_ord_call(const srv_ord *o);

/* The method handlers every ordered stream uses (on_message, on_half_close, on_writable,
 * on_cancel). */
void srv_ord_on_message(pw_grpc_call *c, const uint8_t *msg, size_t len);
void srv_ord_on_half_close(pw_grpc_call *c);
void srv_ord_on_writable(pw_grpc_call *c);
void srv_ord_on_cancel(pw_grpc_call *c, pw_grpc_status st);

/* Answers the request at it now (in order: it is sent once those before it are; at the head,
 * encoded straight into the call's output). message and body are borrowed for the call; it
 * may be freed on return (and o too, when the stream ends). */
void srv_ord_answer(srv_ord *o, srv_ord_item *it, uint64_t request_id, q_status code,
                    const char *message, const uint8_t *body, size_t body_len);

/* Hands the request at it to j (a srv_job_decoded_msg job, taken over): run on the owner of
 * part_no; its reply (j->status, j->msg, j->resp as the body) answers it when it is back. */
void srv_ord_dispatch(srv_ord *o, srv_ord_item *it, uint64_t request_id, srv_job *j,
                      uint32_t part_no, srv_job_run_fn run);
/* The same for a job whose owner encodes the whole answer (the kind's answer message, request
 * id and credits included) into j->resp when it succeeds: that buffer becomes the answer as it
 * is, neither re-encoded nor copied. A failed job (j->status) is answered as srv_ord_dispatch's. */
void srv_ord_dispatch_encoded(srv_ord *o, srv_ord_item *it, uint64_t request_id, srv_job *j,
                              uint32_t part_no, srv_job_run_fn run);

/* Drain on this shard: every session answers what it holds, then ends UNAVAILABLE. */
void srv_ord_drain(void);

#endif
