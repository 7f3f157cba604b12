/* client/rq_sendq: a stream call's send queue - requests encoded once, in order, and sent on
 * the call as far as its window lets (rq_stream_consume.c, rq_stream_aconsume.c). Internal to
 * libringq (not exported). */
#ifndef RQ_SENDQ_H
#define RQ_SENDQ_H

#include <stddef.h>
#include <stdint.h>

#include "proto_wire/pw_grpc_client.h"
#include "proto_wire/pw_msg.h"

typedef struct rq_sendq_item {
    struct rq_sendq_item *next;
    size_t len;
    uint8_t bytes[];
} rq_sendq_item;

/* Zero-initialised is empty. Owns its items. */
typedef struct rq_sendq {
    rq_sendq_item *head, *tail;
} rq_sendq;

/* Encodes *msg (of descriptor d; borrowed for the call) at the tail. 0, or -ENOMEM (no memory,
 * or the message is over RQ_MAX_SEND_BYTES or does not encode; the queue is unchanged). */
int rq_sendq_push(rq_sendq *q, const pw_msg_desc *d, const void *msg);
/* Sends from the head on call (borrowed) until the queue is empty or a send fails (the call's
 * window is full, or it ended): what was not sent stays queued. */
void rq_sendq_send(rq_sendq *q, pw_grpc_ccall *call);
/* Frees every queued item; the queue is empty after. */
void rq_sendq_clear(rq_sendq *q);

#endif
