/* client/rq_sendq: a stream call's send queue. See rq_sendq.h. */
#include "client/rq_sendq.h"

#include <errno.h>
#include <stdlib.h>

#include "client/rq_int.h"

int rq_sendq_push(rq_sendq *q, const pw_msg_desc *d, const void *msg)
{
    size_t n = pw_msg_size(d, msg);
    if (n > RQ_MAX_SEND_BYTES) return -ENOMEM;
    rq_sendq_item *r = malloc(sizeof *r + n);
    if (!r) return -ENOMEM;
    if (pw_msg_encode_to(d, msg, r->bytes, n) != (long)n) {
        free(r);
        return -ENOMEM;
    }
    r->next = NULL;
    r->len = n;
    if (q->tail) q->tail->next = r;
    else q->head = r;
    q->tail = r;
    return 0;
}

void rq_sendq_send(rq_sendq *q, pw_grpc_ccall *call)
{
    while (q->head) {
        rq_sendq_item *r = q->head;
        if (pw_grpc_ccall_send(call, r->bytes, r->len, false) < 0) break; /* full or ended */
        q->head = r->next;
        if (!q->head) q->tail = NULL;
        free(r);
    }
}

void rq_sendq_clear(rq_sendq *q)
{
    while (q->head) {
        rq_sendq_item *r = q->head;
        q->head = r->next;
        free(r);
    }
    q->tail = NULL;
}
