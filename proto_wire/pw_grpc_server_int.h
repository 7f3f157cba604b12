/* proto_wire/pw_grpc_server_int: structures shared by pw_grpc_server.c (registry, connection,
 * HTTP/2 callbacks), pw_grpc_call.c (the call API) and pw_grpc_send.c (its messages). Not a
 * public header. */
#ifndef PW_GRPC_SERVER_INT_H
#define PW_GRPC_SERVER_INT_H

#include <stddef.h>

#include "core/rt_cache.h"
#include "proto_wire/pw_grpc_msg.h"
#include "proto_wire/pw_grpc_server.h"
#include "proto_wire/pw_gzip.h"
#include "proto_wire/pw_h2.h"

/* Open-addressing path table: twice the method cap keeps probes short. */
#define PW_GRPC_PATH_SLOTS (2 * PW_GRPC_METHODS_MAX)
/* A call's queued response bytes (framed messages not yet accepted by the HTTP/2 stream) above
 * which pw_grpc_call_send returns -ENOBUFS. One message is always accepted when the queue is
 * empty, so a single large response never fails for lack of room. */
#define PW_GRPC_CALL_OUTQ_HIGH_BYTES (256u * 1024u)

struct pw_grpc_server {
    pw_grpc_server_config cfg;
    pw_grpc_method methods[PW_GRPC_METHODS_MAX];
    size_t nmethods;
    int16_t slots[PW_GRPC_PATH_SLOTS]; /* index into methods, -1 empty */
    pw_grpc_guard_fn guard;            /* may end a call before its method sees it; or NULL */
};

typedef struct pw_grpc_out_md {
    char *name;  /* owned */
    char *value; /* owned, wire form (base64 for -bin) */
    size_t value_len;
} pw_grpc_out_md;

/* A request's custom metadata up to this size (the pw_grpc_md array and the bytes) is kept in
 * the call itself: a client's usual user-agent and id fit, so a call allocates nothing for
 * them (a malloc + free per call at e2e batch 1 before). Larger metadata gets its own block. */
#define PW_GRPC_MD_INLINE_BYTES 192u

struct pw_grpc_call {
    pw_grpc_conn *conn; /* NULL once detached (stream closed) */
    uint32_t stream_id;
    int refs;
    const pw_grpc_method *m;
    void *user;
    uint64_t deadline_ns;

    bool headers_sent;
    bool finished;         /* the handler (or we) ended the call: trailers queued or sent */
    bool trailers_pending; /* finished, trailers wait for outq to drain */
    bool done;             /* no more sends: finished, cancelled or detached */
    bool cancel_notified;
    bool client_half_closed;
    bool req_gzip;    /* request messages may be gzip-compressed */
    bool accept_gzip; /* the client accepts gzip responses */
    bool compress;    /* the handler asked for compressed responses */
    bool last_compressed;
    bool want_writable;
    bool in_send;         /* between send_begin and send_commit */
    bool delivered_unary; /* the unary request went to the handler with its END_STREAM */
    bool pumping;         /* pw_grpc_call_pump is on the stack */
    bool pump_again;      /* it was asked again meanwhile */
    int nreq;             /* request messages seen (unary kinds) */
    int nresp;            /* response messages sent */

    pw_grpc_deframer df;
    uint8_t *held; /* unary: the one request message, owned */
    size_t held_len;
    bool held_compressed;

    pw_grpc_md *md; /* request metadata, in one block with their bytes: md_inline, or owned */
    size_t nmd;
    size_t ninit_md;  /* init_md entries in use */
    size_t ntrail_md; /* trail_md entries in use */
    pw_grpc_status final_status;
    char *final_message; /* owned, percent-encoded */

    buf outq;         /* framed response messages not yet accepted by the stream */
    size_t send_mark; /* send_begin: offset of the reserved prefix in outq */

    pw_grpc_call *prev, *next; /* connection's live-call list, or its out list (home) */
    /* A call detached while a handler still held a reference (a server job): the connection
     * whose call cache takes its memory back at the last pw_grpc_call_unref, linked on that
     * connection's `out` list; NULL otherwise, or once the connection is gone. */
    pw_grpc_conn *home;

    /* Local calls (pw_grpc_call_new_local): no connection; sends stay in outq. */
    pw_grpc_local_fn local_fn; /* non-NULL: a local call */
    void *local_ud;
    size_t local_send_max; /* the server's max_send_message_bytes */

    /* Storage read only up to its count (nmd, ninit_md, ntrail_md): last, so a new call clears
     * the fields above and not these ~1 KiB (pw_grpc_call_new, PW_GRPC_CALL_CLEAR_BYTES). */
    _Alignas(pw_grpc_md) uint8_t md_inline[PW_GRPC_MD_INLINE_BYTES];
    pw_grpc_out_md init_md[PW_GRPC_OUT_MD_MAX];
    pw_grpc_out_md trail_md[PW_GRPC_OUT_MD_MAX];
};
/* The bytes of a call pw_grpc_call_new clears: every field before md_inline. */
#define PW_GRPC_CALL_CLEAR_BYTES offsetof(struct pw_grpc_call, md_inline)

/* What a request's header list says to the server (pw_grpc_server.c parse_request), kept for
 * the list the HTTP/2 session names `id` (pw_h2_session_hblock_id; 0: nothing kept). */
typedef struct pw_grpc_req_memo {
    uint64_t id;
    const pw_grpc_method *m; /* the server's, lives as long as it */
    uint64_t tmo;            /* grpc-timeout in ns; UINT64_MAX: none */
    bool gz;                 /* grpc-encoding gzip */
    bool accept_gzip;        /* grpc-accept-encoding lists gzip */
    /* The custom metadata keep_metadata copies: bit i set for field i (lists of at most 64
     * fields; md_all: a longer list, classified again each time), their count and bytes. */
    bool md_all;
    uint64_t md_mask;
    uint32_t md_count;
    uint32_t md_bytes;
} pw_grpc_req_memo;

struct pw_grpc_conn {
    const pw_grpc_server *srv;
    pw_h2_session *h2;
    void *user;
    pw_grpc_call *calls;
    size_t ncalls;  /* calls attached (stream open) */
    size_t nactive; /* attached calls not yet finished */
    bool destroying;
    uint64_t now_ns;              /* time of the input being processed */
    int in_recv;                  /* inside pw_grpc_conn_recv/expire: the glue flushes afterwards */
    void (*notify)(void *user);   /* output appeared outside recv (an async handler answered) */
    pw_grpc_plain_fn plain;       /* answers requests that are not gRPC; NULL: 405/415 */
    pw_grpc_done_fn on_done;      /* counts answered RPCs; may be NULL */
    struct pw_grpc_plain *plains; /* plain responses still sending (pw_grpc_plain.c) */
    rt_cache call_cache;   /* finished calls' memory for the next ones (PW_GRPC_CALL_CACHE_MAX) */
    pw_grpc_call *out;     /* detached calls still referenced by a handler (their `home`) */
    pw_grpc_req_memo memo; /* the last accepted request's list, read once */
    uint64_t memo_hits;    /* requests whose list was not read again (tests) */
    uint64_t last_call_ns; /* now_ns when the last call was opened (PW_H2_IDLE_KEEP_MS) */
};

/* Finished calls whose memory a connection keeps for its next calls, at most: the calls one
 * busy connection finishes between two of its new ones (as pw_h2's stream cache, 16). Emptied
 * once the connection has no call left and opened none for PW_H2_IDLE_KEEP_MS (at its first
 * event after that, as the stream cache), so an idle connection keeps none; a connection
 * between two of a client's calls keeps them (emptied at each moment without a call, nearly
 * every call at batch 1 allocated its memory again). A calloc + free per call was ~1 % of the
 * server's samples at batch 1. */
#define PW_GRPC_CALL_CACHE_MAX 16u

/* Tells the glue that output is waiting, unless it will flush anyway after recv. */
static inline void pw_grpc_conn_touch(pw_grpc_conn *g)
{
    if (g && !g->in_recv && g->notify) g->notify(g->user);
}

/* pw_grpc_call.c */
pw_grpc_call *pw_grpc_call_new(pw_grpc_conn *conn, uint32_t stream_id, const pw_grpc_method *m);
/* Moves queued output into the stream as its window allows; sends pending trailers. */
void pw_grpc_call_pump(pw_grpc_call *c);
/* Submits the response headers (with the initial metadata) once: 0, or pw_h2_submit_headers's
 * error (which may have failed the session and detached the call). */
int pw_grpc_call_send_headers(pw_grpc_call *c);
/* The stream cannot carry the rest of the answer: resets it (ENHANCE_YOUR_CALM for -ENOMEM,
 * else the error's HTTP/2 code). */
void pw_grpc_call_reset_on_error(pw_grpc_call *c, int err);
/* The most one response message may hold: the server's limit (a local call keeps its copy). */
static inline size_t pw_grpc_call_send_max(const pw_grpc_call *c)
{
    return c->local_fn ? c->local_send_max : c->conn->srv->cfg.max_send_message_bytes;
}
/* A call that can still send: on a connection, or local. */
static inline bool pw_grpc_call_attached(const pw_grpc_call *c) { return c->conn || c->local_fn; }
/* Response messages go gzip-compressed: the handler asked and the client accepts gzip. */
static inline bool pw_grpc_call_compressing(const pw_grpc_call *c)
{
    return c->compress && c->accept_gzip;
}
/* Ends the call from the transport side: `st` is the reason given to on_cancel. */
void pw_grpc_call_abort(pw_grpc_call *c, pw_grpc_status st);
/* Unlinks from the connection; drops the connection's reference. */
void pw_grpc_call_detach(pw_grpc_call *c);
/* Empties the call cache when the connection has no call and opened none for
 * PW_H2_IDLE_KEEP_MS (g->now_ns, the time of its latest event). */
void pw_grpc_conn_idle_trim(pw_grpc_conn *g);
/* The connection is going: the calls on its out list (detached, still referenced) lose their
 * home and go to the allocator at their last unref. */
void pw_grpc_conn_forget_out(pw_grpc_conn *g);
/* Responds with HTTP-level error (405, 415) on a stream that has no call. */
void pw_grpc_respond_http_error(pw_h2_session *h2, uint32_t stream_id, const char *status);
/* Trailers-only gRPC error on a stream that has no call (counted with method index -1). */
void pw_grpc_respond_status(pw_grpc_conn *g, uint32_t stream_id, pw_grpc_status st,
                            const char *msg);
/* pw_grpc_plain.c: a plain-HTTP response on stream `sid` (headers now, the body as windows
 * allow). Resets the stream if it cannot be answered (out of memory). */
void pw_grpc_plain_respond(pw_grpc_conn *g, uint32_t sid, const pw_grpc_plain_req *req);
/* The stream can take more DATA: sends more of its plain response, if it has one. */
void pw_grpc_plain_pump(pw_grpc_conn *g, uint32_t sid);
/* The stream closed: drops its plain response, if it has one. */
void pw_grpc_plain_drop(pw_grpc_conn *g, uint32_t sid);
/* Drops every plain response (the connection is being destroyed). */
void pw_grpc_plain_drop_all(pw_grpc_conn *g);

/* The shard-local gzip context. */
pw_gzip_ctx *pw_grpc_gzip(void);

#endif
