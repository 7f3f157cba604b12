/* client/rq_int: libringq internals shared by its files (not installed). */
#ifndef RQ_INT_H
#define RQ_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "client/ringq.h"
#include "core/ev_reactor.h"
#include "core/rt_buf.h"
#include "proto_wire/pw_grpc_client.h"
#include "proto_wire/pw_pb.h"

/* Bytes read from the socket per completion. */
#define RQ_READ_BYTES (64u * 1024u)
/* Largest response message we accept: a Lease of 1000 tasks can approach the server's own
 * 4 MiB message cap, and admin pages are small; 16 MiB leaves room without being unbounded. */
#define RQ_MAX_RECV_BYTES (16u * 1024u * 1024u)
/* Largest request we build (an Enqueue batch). */
#define RQ_MAX_SEND_BYTES (64u * 1024u * 1024u)

typedef struct rq_conn {
    rq_client *cl;
    int fd;
    pw_grpc_client *g;
    ev_op rop, sop;
    bool dead;
    uint8_t *sbuf; /* bytes being sent */
    size_t scap, slen, soff;
    uint8_t rbuf[RQ_READ_BYTES];
} rq_conn;

struct rq_client {
    ev_loop *loop;
    bool own_loop;
    char addr[300];
    char host[256];
    char port[8];
    uint32_t timeout_ms, connect_timeout_ms;
    rq_conn *conn;
    ev_timer timer;      /* earliest call deadline */
    ev_timer poll_timer; /* rq_client_poll's wait */
    bool in_flush, flush_again;
    rq_work *works;      /* open Work streams */
};

/* Fills st (may be NULL). Returns code. */
int rq_set_status(rq_status *st, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The connection, connecting first if needed. NULL with st filled (RQ_ECONNECT). */
rq_conn *rq_conn_get(rq_client *c, rq_status *st);
/* Starts a call on the current connection (connecting if needed). NULL with st filled. */
pw_grpc_ccall *rq_conn_start(rq_client *c, const char *path, uint64_t deadline_ns,
                             const pw_grpc_ccall_cbs *cb, void *ud, rq_status *st);
/* Sends what the calls queued, re-arms the deadline timer, drops a finished connection. */
void rq_conn_flush(rq_client *c);
/* One blocking unary call: `req` is the request message; the response message is appended
 * to `resp`. Retries refused calls. Returns the status code. */
int rq_unary(rq_client *c, const char *path, const buf *req, buf *resp, rq_status *st);

/* ---- codec (rq_codec.c) ---- */
/* Decodes a Task / TaskInfo message into one allocation. NULL on malformed input or ENOMEM. */
rq_task *rq_task_decode(const uint8_t *p, size_t n);
rq_task_info *rq_task_info_decode(const uint8_t *p, size_t n);
int rq_queue_info_decode(const uint8_t *p, size_t n, rq_queue_info *out);
/* The first LEN field `num` of a message as a view; false if absent. */
bool rq_pb_find(const uint8_t *p, size_t n, uint32_t num, pw_pb_bytes *out);
uint64_t rq_pb_u64(const uint8_t *p, size_t n, uint32_t num);
int rq_encode_nack(buf *b, const char *id, const rq_nack_opts *o);

void rq_work_client_gone(rq_client *c);

#endif
