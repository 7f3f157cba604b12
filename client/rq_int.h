/* client/rq_int: libringq internals shared by its files (not installed). */
#ifndef RQ_INT_H
#define RQ_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <netdb.h>
#include <sys/socket.h>

#include "client/ringq.h"
#include "client/rq_tls.h"
#include "core/ev_reactor.h"
#include "core/rt_buf.h"
#include "proto_wire/pw_grpc_client.h"
#include "proto_wire/pw_msg.h"
#include "proto_wire/pw_msgs.h"
#include "proto_wire/pw_pb.h"

/* Bytes read from the socket per completion. */
#define RQ_READ_BYTES (64u * 1024u)
/* Largest response message we accept: a Lease of 1000 tasks can approach the server's own
 * 4 MiB message cap, and admin pages are small; 16 MiB leaves room without being unbounded. */
#define RQ_MAX_RECV_BYTES (16u * 1024u * 1024u)
/* Largest request we build (an Enqueue batch). */
#define RQ_MAX_SEND_BYTES (64u * 1024u * 1024u)
/* Most memory one decoded response may take in its arena (rq_msg_decode): the decoded structs
 * of a response of RQ_MAX_RECV_BYTES. A Task costs ~150 bytes of struct for >= 2 bytes on the
 * wire, so a hostile response could ask for ~75x its size; 4x bounds it while a Lease of 1000
 * real tasks (each with an id, a queue and a payload) takes a small fraction. */
#define RQ_DECODE_ARENA_BYTES (4u * RQ_MAX_RECV_BYTES)

typedef struct rq_conn rq_conn;
struct rq_conn {
    rq_client *cl;
    rq_conn *next; /* the client's live connections: the current one and draining ones */
    int fd;
    pw_grpc_client *g;
    ev_op rop, sop, cop; /* read, send, connect */
    bool dead;
    bool connecting, timed_out;
    int err;                    /* errno of the last failed connect */
    struct addrinfo *ais, *ai;  /* getaddrinfo's list and the next address to try */
    struct sockaddr_storage sa; /* the address being connected to */
    ev_timer ctimer;            /* connect timeout */
    rq_tls *tls;                /* TLS (client->tls set); handshaking while `connecting` */
    bool got_bytes;             /* something was read (the first bytes are checked) */
    uint8_t *sbuf;              /* bytes being sent */
    size_t scap, slen, soff;
    uint8_t rbuf[RQ_READ_BYTES];
};

/* One unary call (rq_async.c): waiting for a connection, running on one, or finished and
 * waiting for its completion to run from the loop. Pooled by the client with its buffers. */
typedef struct rq_acall rq_acall;
/* The completion: runs from a loop iteration (never inside the starting call), once. `resp` is
 * the response message (valid during the call only), NULL unless st->code is 0. */
typedef void (*rq_acall_fin)(rq_acall *a, const rq_status *st, const uint8_t *resp, size_t n);
struct rq_acall {
    rq_client *c;
    rq_acall *next, *prev; /* on the client's wait or done list, or its pool */
    uint8_t where;         /* RQ_AC_* */
    bool local;            /* st was set here (deadline, send failure): keep it */
    bool expired;
    int attempts; /* sends refused by the server so far */
    int msgs;     /* response messages */
    uint64_t deadline_ns;
    ev_timer timer; /* the deadline */
    pw_grpc_ccall *call;
    const char *path; /* static */
    char path_buf[128];
    buf req, resp;
    rq_status st;
    rq_acall_fin fin;
    /* the caller's */
    void *fn, *ud;
    size_t n;
};

typedef struct rq_acall_list {
    rq_acall *head, *tail;
    size_t n;
} rq_acall_list;

struct rq_client {
    ev_loop *loop;
    bool own_loop;
    char addr[300];
    char host[256];
    char port[8];
    char authz[sizeof "Bearer " + RQ_TOKEN_BYTES_MAX]; /* "Bearer TOKEN", or "" without one */
    uint32_t timeout_ms, connect_timeout_ms, gzip_min_bytes;
    rq_conn *conn;       /* the current connection (new calls start here) */
    rq_conn *conns;      /* every live connection, the current one included */
    int zombies;         /* dropped connections whose I/O has not completed yet */
    ev_timer poll_timer; /* rq_client_poll's wait */
    bool in_flush, flush_again;
    int in_grpc;    /* > 0 inside a pw_grpc_client function that runs callbacks */
    rq_work *works; /* open Work streams */
    /* asynchronous calls (rq_async.c) */
    rq_acall_list waitq, done, pool;
    ev_timer kick; /* runs rq_async_run at the next iteration */
    bool dispatching, closing;
    rq_enqueue_result *enq_res; /* rq_enqueue_async's results, reused */
    size_t enq_cap;
    rq_pub_ack *pub_acks; /* rq_publish_async's acks, reused */
    size_t pub_cap;
    /* dialling (rq_conn.c): after a failed dial, the next one waits dial_backoff_ms */
    unsigned dial_fails; /* consecutive failed dials (0: the last one worked) */
    uint32_t dial_backoff_ms;
    uint64_t dial_next_ns; /* no dial for waiting calls before this */
    rq_status dial_err;    /* why the last dial failed */
    bool fail_fast;        /* rq_client_opts.fail_fast */
    ev_timer dial_timer;   /* wakes the waiting calls for the next dial */
    rq_tls_ctx *tls;       /* NULL: plaintext */
    char tls_name[256];    /* the name the server's certificate must carry */

    unsigned corked; /* rq_client_cork depth: > 0 holds writes until the last uncork */
    uint64_t writes; /* socket sends started (rq_client_writes) */
};

/* The Work stream's request metadata naming its worker (the server's SRV_WORKER_ID_HEADER,
 * docs/semantics.md "Leases bound to the stream"). */
#define RQ_WORKER_ID_HEADER "ringq-worker-id"

/* Fills st (may be NULL). Returns code. */
int rq_set_status(rq_status *st, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Whether a blocking call may run now: not from inside a libringq callback (it would wait for
 * what only its caller's return lets happen) nor between rq_client_cork and uncork (its request
 * would never be written). RQ_EINVAL in *st and the code when it may not; 0 when it may. */
int rq_blocking_refused(const rq_client *c, rq_status *st);

/* The current connection — possibly still connecting — dialling first when there is none.
 * NULL with st filled (RQ_ECONNECT) when the dial failed at once. */
rq_conn *rq_conn_get(rq_client *c, rq_status *st);
/* Starts a call on the current connection once it is up. NULL with st filled otherwise (a
 * dial is started; rq_work_conn_up tells when to try again). */
pw_grpc_ccall *rq_conn_start(rq_client *c, const char *path, uint64_t deadline_ns,
                             const pw_grpc_ccall_cbs *cb, void *ud, rq_status *st);
/* rq_conn_start with call options (custom metadata: borrowed for the call, copied by it). */
pw_grpc_ccall *rq_conn_start_opts(rq_client *c, const char *path, uint64_t deadline_ns,
                                  const pw_grpc_ccall_opts *opts, const pw_grpc_ccall_cbs *cb,
                                  void *ud, rq_status *st);
/* `in` (NULL: none) plus the client's authorization entry when it has a token, in *out whose
 * entries live in `md` (room for PW_GRPC_CCALL_MD_MAX). Returns what to pass on: `in` itself
 * when there is nothing to add. */
const pw_grpc_ccall_opts *rq_call_opts(const rq_client *c, const pw_grpc_ccall_opts *in,
                                       pw_grpc_cmeta *md, pw_grpc_ccall_opts *out);
/* Ends the connection: every call closes (UNAVAILABLE, `why`); memory goes once the reads and
 * sends in flight have completed (counted in the client's zombies until then). */
void rq_conn_drop(rq_conn *k, const char *why);
/* Sends what the calls queued, re-arms the deadline timer, drops a finished connection. */
void rq_conn_flush(rq_client *c);
/* The connection calls may start on now, or NULL: none is up (a dial is needed). */
rq_conn *rq_conn_ready(rq_client *c);
/* For waiting unary calls: the connection to start them on, dialling unless a failed dial's
 * backoff is still running. NULL: none yet — rq_async_run runs again when the backoff ends. */
rq_conn *rq_conn_for_calls(rq_client *c);

/* ---- unary calls (rq_async.c) ---- */
/* A call object for `path` (static string, or copied when `copy`), with an empty request
 * buffer to encode into. NULL: out of memory or path too long. */
rq_acall *rq_acall_new(rq_client *c, const char *path, bool copy);
/* Releases a call that was not submitted. */
void rq_acall_free(rq_acall *a);
/* Starts it: the deadline is now + timeout_ms (0: the client's). `fin` runs once from the loop.
 * Returns 0 or -ENOMEM (then nothing runs and `a` is released). */
int rq_acall_submit(rq_acall *a, uint32_t timeout_ms, rq_acall_fin fin);
/* Starts waiting calls and runs finished calls' completions; safe points only (loop callbacks
 * outside pw_grpc). */
void rq_async_run(rq_client *c);
/* Fails every call (client closing): completions run before this returns. */
void rq_async_close(rq_client *c);
/* Ends every call waiting for a connection with `code` / `why` (fail-fast clients). */
void rq_async_fail_waiting(rq_client *c, int code, const char *why);
/* One blocking unary call: `req` is the request message; the response message is appended
 * to `resp`. Runs the loop until the call completes (retries as the asynchronous calls do).
 * Returns the status code. */
int rq_unary(rq_client *c, const char *path, const buf *req, buf *resp, rq_status *st);

/* What a decoded response borrows: its bytes (views point into them) and its arena. */
typedef struct rq_reply {
    buf raw;
    pw_msg_arena a;
} rq_reply;

/* One blocking unary call of a message (rq_api.c): encodes *req (borrowed) as `req_d`, runs
 * rq_unary on `path` and decodes the response as `resp_d` into *resp, which borrows *r.
 * 0: the caller reads *resp and then rq_reply_free(r); else the status set in *st (request
 * too large, the call's status, a malformed response) and nothing to free. */
int rq_call(rq_client *c, const char *path, const pw_msg_desc *req_d, const void *req,
            const pw_msg_desc *resp_d, void *resp, rq_reply *r, rq_status *st);
void rq_reply_free(rq_reply *r);

/* ---- Enqueue's request and response (rq_api.c), shared by rq_enqueue and _async ---- */
int rq_enqueue_encode(buf *b, const char *queue, const rq_task_spec *tasks, size_t n,
                      rq_status *st);
/* Decodes an EnqueueResponse into results[n] and, when not NULL, receipts[n] (zeros for a
 * result without one: an older server). 0, or the status (malformed, or not n results). */
int rq_enqueue_decode(const uint8_t *p, size_t len, rq_enqueue_result *results,
                      rq_receipt *receipts, size_t n, rq_status *st);
/* The generated TaskSpecs of tasks[n] (views into the caller's tasks, which must outlive them),
 * in one allocation the caller frees with free(). NULL when out of memory. */
pwm_ringq_v1_TaskSpec *rq_task_specs_new(const rq_task_spec *tasks, size_t n);
/* rq_enqueue_encode with a durability level (rq_receipt.c's rq_enqueue_with). */
int rq_enqueue_encode_level(buf *b, const char *queue, const rq_task_spec *tasks, size_t n,
                            rq_durability level, rq_status *st);

/* ---- codec (rq_codec.c): ringq.v1 through the generated schema ---- */
/* A view of a C string (borrowed; NULL is the empty string). */
pw_pb_bytes rq_str(const char *s);
/* Copies a view into dst[0..cap) NUL-terminated, cut at cap - 1 bytes. */
void rq_copy_str(char *dst, size_t cap, pw_pb_bytes v);
/* Decodes p[0..n) as `d` into *msg over a fresh heap arena *a (at most RQ_DECODE_ARENA_BYTES).
 * 0: the caller reads *msg (views into p, arrays in a) and then pw_msg_arena_deinit(a).
 * < 0 (PW_PB_ERR_*, PW_MSG_ERR_DEPTH, -ENOMEM): malformed or too big; nothing to free. */
int rq_msg_decode(const pw_msg_desc *d, void *msg, const uint8_t *p, size_t n, pw_msg_arena *a);
/* The same over the caller's block mem[0..cap) first (borrowed until pw_msg_arena_deinit(a),
 * e.g. its stack): an answer that fits costs no allocation; a larger one takes heap chunks. */
int rq_msg_decode_over(const pw_msg_desc *d, void *msg, const uint8_t *p, size_t n, pw_msg_arena *a,
                       void *mem, size_t cap);
/* Appends *msg encoded as `d` to b. 0 or -ENOMEM (b's cap or out of memory). */
int rq_msg_encode(buf *b, const pw_msg_desc *d, const void *msg);
/* The public types from decoded messages: one allocation each (NULL: out of memory). */
rq_task *rq_task_from(const pwm_ringq_v1_Task *m);
rq_task_info *rq_task_info_from(const pwm_ringq_v1_TaskInfo *m);
void rq_queue_info_from(const pwm_ringq_v1_QueueInfo *m, rq_queue_info *q);
/* Decode a Task / TaskInfo message into one allocation. NULL on malformed input or ENOMEM. */
rq_task *rq_task_decode(const uint8_t *p, size_t n);
rq_task_info *rq_task_info_decode(const uint8_t *p, size_t n);
/* 0, or a negative error of rq_msg_decode. */
int rq_queue_info_decode(const uint8_t *p, size_t n, rq_queue_info *out);
/* A NackRequest for `id` (borrowed, as are o's strings, while *m is used); o may be NULL. */
/* Fills a NackRequest for task `id` with its lease token (0: none); views borrow id and o. */
void rq_nack_fill(pwm_ringq_v1_NackRequest *m, const char *id, uint64_t token,
                  const rq_nack_opts *o);

/* ---- streams (rq_stream*.c) ---- */
/* Fills *m with views of c (borrowed while *m is used); subjects[RQ_STREAM_SUBJECTS_MAX] is the
 * caller's array for the subject views. */
void rq_stream_config_fill(pwm_ringq_v1_StreamConfig *m, pw_pb_bytes *subjects,
                           const rq_stream_config *c);
/* One allocation: `head` bytes for the caller (at its start, zeroed), then *out: the message
 * copied from m with its headers and strings. Returns the allocation (free() it), NULL when out
 * of memory. */
void *rq_stream_msg_alloc(const pwm_ringq_v1_StreamMessage *m, size_t head, rq_stream_msg **out);
/* Fills *m with views of c, as rq_stream_config_fill; filters[RQ_STREAM_SUBJECTS_MAX] the
 * caller's. */
void rq_consumer_config_fill(pwm_ringq_v1_ConsumerConfig *m, pw_pb_bytes *filters,
                             const rq_consumer_config *c);
void rq_consumer_info_from(rq_consumer_info *out, const pwm_ringq_v1_ConsumerInfo *m);
/* Publish (rq_stream.c), shared with the PublishStream session (rq_pub_stream.c). */
/* One allocation for n PublishMessages and their header entries, filled with views of msgs
 * (borrowed while it is used); free() it. NULL when out of memory. */
pwm_ringq_v1_PublishMessage *rq_pub_fill(const rq_pub_msg *msgs, size_t n);
/* The same into the caller's memory: rq_pub_fill_bytes(msgs, n) bytes at pm (aligned for a
 * PublishMessage), every field written. */
size_t rq_pub_fill_bytes(const rq_pub_msg *msgs, size_t n);
void rq_pub_fill_in(const rq_pub_msg *msgs, size_t n, pwm_ringq_v1_PublishMessage *pm);
/* Checks a Publish's arguments. 0 or RQ_EINVAL with st filled. */
int rq_pub_check(const rq_pub_msg *msgs, size_t n, rq_status *st);
/* The n acks of a decoded PublishResponse into acks[n], its stream (may be NULL). 0, or INTERNAL
 * when the server did not return one ack per message. */
int rq_pub_acks_from(const pwm_ringq_v1_PublishResponse *resp, rq_pub_ack *acks, size_t n,
                     char *stream, rq_status *st);
/* A Delivery as one allocation (NULL: out of memory). */
rq_delivery *rq_delivery_from(const pwm_ringq_v1_Delivery *m);
/* Fills an Acks message (views of refs and o, borrowed while *m is used); NULL o: none. */
void rq_acks_fill(pwm_ringq_v1_Acks *m, pwm_ringq_v1_DeliveryRef *refs_out,
                  const rq_delivery_ref *refs, size_t n, int kind, const rq_ack_opts *o);

/* ---- ordered request streams (rq_ostream.c): what the EnqueueStream and PublishStream
 * sessions (rq_enq_stream.c, rq_pub_stream.c) share. Requests go out as they come while the
 * stream has credits (the server's window, read from each answer); answers come back in request
 * order, so the oldest unanswered request is the one each answer is for. A lost stream fails
 * every unanswered request with its status; nothing is sent again. A session embeds an
 * rq_ostream and gives its method, how to read one answer and how to deliver it. ---- */
/* Requests a stream may have unanswered before the first answer says otherwise: the server's
 * documented default window (docs/semantics.md, "EnqueueStream"; PublishStream shares it). */
#define RQ_OSTREAM_CREDITS_DEFAULT 1024u
/* How often an async client tries to start the call while its connection comes up. */
#define RQ_OSTREAM_OPEN_RETRY_MS 2u
/* A request's encoding buffer is kept for the next request up to this size (a 64-message batch
 * of ~1 KiB messages): a producer's steady stream of requests encodes into the same memory; a
 * larger request's buffer is freed once it is sent. */
#define RQ_OSTREAM_ENC_KEEP_BYTES (64u * 1024u)

typedef struct rq_ostream rq_ostream;
typedef struct rq_ostream_ops {
    const char *path; /* the method (static) */
    /* Decodes answer p[0..n) for request `id`, which carried `count` items, into the session's
     * own buffers: *st its status, *items the items to deliver on OK, *credits the window it
     * grants (0: unchanged). 0, or < 0 (malformed: the call fails with it, nothing delivered). */
    int (*answer)(rq_ostream *o, const uint8_t *p, size_t n, uint64_t id, size_t count,
                  rq_status *st, size_t *items, uint32_t *credits);
    /* Tells the caller the answer (st->code 0, n items) or the failure (n 0) of request `id`.
     * Not called once rq_ostream_free ran. */
    void (*deliver)(rq_ostream *o, uint64_t id, const rq_status *st, size_t n);
    /* Frees the session around o (rq_ostream's own memory is gone already). */
    void (*release)(rq_ostream *o);
} rq_ostream_ops;

/* Encodes one request numbered `id` into b. 0, or a status code with st filled. */
typedef int (*rq_ostream_encode_fn)(const void *req, uint64_t id, buf *b, rq_status *st);

struct rq_ostream {
    rq_client *c;
    const rq_ostream_ops *ops;
    pw_grpc_ccall *call;
    uint64_t next_id;  /* request ids: 1, 2, ... */
    uint64_t answered; /* answers received (the next one answers request answered + 1) */
    uint32_t credits;  /* the server's window */
    bool closed;       /* on_close ran (or the open failed) */
    bool half_closed;  /* rq_ostream_finish ran */
    bool freeing;      /* rq_ostream_free ran: on_close releases it */
    rq_status end;     /* the call's final status once closed */
    size_t *counts;    /* items per unanswered request (a ring of counts_cap entries) */
    size_t counts_cap;
    buf out;        /* requests not handed to the call yet (no call yet, or its queue full):
                       * each a 4-byte length and the message; bounded by the credits */
    buf enc;        /* the request being encoded (empty between sends; memory kept, above) */
    ev_timer retry; /* an async client's open, while the connection comes up */
    uint64_t open_until_ns;
};

/* Sets up o (the caller's memory) for client c and ops (borrowed for o's life). 0 or -ENOMEM
 * (nothing to undo). */
int rq_ostream_init(rq_ostream *o, rq_client *c, const rq_ostream_ops *ops);
/* Starts the call: a blocking client runs its loop until the connection is up; an async one
 * returns at once and starts it from its loop. true: usable (st OK); false: failed (st says
 * why), the caller frees the session with rq_ostream_free. */
bool rq_ostream_start(rq_ostream *o, rq_status *st);
/* Sends a request of n items, encoded by enc(req) (req borrowed during the call). 0 with
 * *request_id (may be NULL) set, or: the stream's status / RQ_EINVAL when it is closed or
 * finishing, RQ_EAGAIN when `credits` requests are unanswered, enc's status, RQ_EINVAL when the
 * request could not be queued. `check` (may be NULL) runs after the closed check and before the
 * credits one: 0, or its status code. */
int rq_ostream_send(rq_ostream *o, int (*check)(const void *req, rq_status *st),
                    rq_ostream_encode_fn enc, const void *req, size_t n, uint64_t *request_id,
                    rq_status *st);
size_t rq_ostream_unanswered(const rq_ostream *o);
/* Half-closes and polls until the stream ends (timeout_ms < 0: the client's timeout). The
 * stream's final status, DEADLINE_EXCEEDED, or RQ_EINVAL when polling failed. */
int rq_ostream_finish(rq_ostream *o, int timeout_ms, rq_status *st);
/* Ends the stream and frees the session (ops->release) now or, while a call runs, once it
 * closes; no more deliveries. */
void rq_ostream_free(rq_ostream *o);

void rq_work_client_gone(rq_client *c);
/* Requests a Work stream's sends have looked at so far, sent or not (tests: one per send). */
uint64_t rq_work_sends_scanned(const rq_work *w);
/* A connection came up (or a dial failed): Work streams waiting for one try again now. */
void rq_work_conn_up(rq_client *c);

#endif
