/* proto_wire/pw_grpc_server: gRPC server calls on top of an HTTP/2 session (gRPC's
 * PROTOCOL-HTTP2.md). No I/O: the connection glue feeds bytes in, drains bytes out, and passes
 * time in. Handlers never block: they answer at once or later (after an fsync, after a message
 * from another shard) by holding a reference on the call.
 *
 * Objects
 *   pw_grpc_server   the method registry and limits; built once at start-up, then read-only and
 *                    shared by every shard thread.
 *   pw_grpc_conn     one HTTP/2 connection's gRPC state; owned by one shard thread.
 *   pw_grpc_call     one RPC. Owned by its connection; a handler that answers later takes a
 *                    reference (pw_grpc_call_ref) and drops it when done. After the call ends
 *                    (finished, cancelled by RST_STREAM, deadline, connection gone) every send is
 *                    a no-op returning -ECANCELED, and the handler's on_cancel runs once.
 *
 * Dispatch rules
 *   - Unary and server-streaming methods get exactly one request message: on_message runs once
 *     after the client half-closes (the message is held, bounded by max_message_bytes), followed
 *     by on_half_close. Zero or several request messages end the call with INTERNAL.
 *   - Client-streaming and bidi methods get on_message per message as it completes and
 *     on_half_close when the client ends its side.
 *   - Unknown service or method: UNIMPLEMENTED (trailers-only). A request whose :method is not
 *     POST gets HTTP 405; a content-type that is not application/grpc[+proto|;...] gets HTTP 415.
 *   - Unless the connection has a plain-HTTP handler (pw_grpc_conn_set_plain): then a request
 *     that is not gRPC (not POST, or not a gRPC content-type) on a path that is no registered
 *     method is answered by it, with a status, a content-type and a body.
 *   - grpc-encoding other than identity/gzip: UNIMPLEMENTED, with grpc-accept-encoding.
 *   - A message above max_message_bytes (after decompression too): RESOURCE_EXHAUSTED.
 *   - grpc-timeout: DEADLINE_EXCEEDED when it passes; the handler's on_cancel runs. */
#ifndef PW_GRPC_SERVER_H
#define PW_GRPC_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/rt_blob.h"
#include "core/rt_buf.h"
#include "proto_wire/pw_grpc_util.h"
#include "proto_wire/pw_h2.h"
#include "proto_wire/pw_msg.h"

typedef struct pw_grpc_server pw_grpc_server;
typedef struct pw_grpc_conn pw_grpc_conn;
typedef struct pw_grpc_call pw_grpc_call;

typedef enum {
    PW_GRPC_UNARY = 0,
    PW_GRPC_CLIENT_STREAMING = 1,
    PW_GRPC_SERVER_STREAMING = 2,
    PW_GRPC_BIDI_STREAMING = 3,
} pw_grpc_kind;

/* Limits. */
#define PW_GRPC_METHODS_MAX 256          /* registry size: fixed, allocated at start-up */
#define PW_GRPC_MD_MAX 64                /* custom metadata entries kept per call */
#define PW_GRPC_MD_BYTES_MAX (16 * 1024) /* bytes of custom metadata kept per call */
#define PW_GRPC_OUT_MD_MAX 16            /* response metadata entries a handler may add */

/* Handler callbacks. All run on the connection's shard thread. Views passed in are borrowed for
 * the duration of the callback only. */
typedef struct pw_grpc_method {
    const char *path; /* "/package.Service/Method" (borrowed for the server's lifetime) */
    pw_grpc_kind kind;
    void *ud; /* method's user data: pw_grpc_call_method_ud() */
    /* The call arrived (headers parsed). Optional. */
    void (*on_start)(pw_grpc_call *c);
    /* One request message (decompressed). */
    void (*on_message)(pw_grpc_call *c, const uint8_t *msg, size_t len);
    /* The client has sent its last message. Optional. */
    void (*on_half_close)(pw_grpc_call *c);
    /* The call ended without the handler finishing it (RST_STREAM, deadline, connection closed,
     * server drain). `status` is why (CANCELLED, DEADLINE_EXCEEDED, UNAVAILABLE). Sends are no-ops
     * from now on. Optional; runs at most once. */
    void (*on_cancel)(pw_grpc_call *c, pw_grpc_status status);
    /* Output that was refused with -ENOBUFS can be retried now. Optional. */
    void (*on_writable)(pw_grpc_call *c);
} pw_grpc_method;

typedef struct pw_grpc_server_config {
    size_t max_recv_message_bytes;   /* default PW_GRPC_MAX_MSG_BYTES_DEFAULT (4 MiB) */
    size_t max_send_message_bytes;   /* default 4 MiB */
    uint32_t max_concurrent_streams; /* SETTINGS_MAX_CONCURRENT_STREAMS; default 100 */
    uint32_t initial_window_bytes;   /* stream receive window; default 1 MiB */
    uint32_t conn_window_bytes;      /* connection receive window; default 16 MiB */
    uint32_t max_header_list_bytes;  /* default 16 KiB */
    /* Connections reference DATA handed on with pw_grpc_call_send_buf/_framed instead of copying
     * it: read their output with pw_grpc_conn_output_take only (pw_h2_config.output_refs). */
    bool output_refs;
} pw_grpc_server_config;

/* Registry. create: returns NULL on ENOMEM. add_method: 0, -EEXIST, -ENOSPC. */
pw_grpc_server *pw_grpc_server_create(const pw_grpc_server_config *cfg);
void pw_grpc_server_destroy(pw_grpc_server *s);
int pw_grpc_server_add_method(pw_grpc_server *s, const pw_grpc_method *m);
const pw_grpc_method *pw_grpc_server_find(const pw_grpc_server *s, const char *path, size_t len);
/* Registered methods in registration order (for reflection's list_services). */
size_t pw_grpc_server_nmethods(const pw_grpc_server *s);
const pw_grpc_method *pw_grpc_server_method_at(const pw_grpc_server *s, size_t i);

/* A guard runs for every call once its headers are parsed, before the method's on_start: it
 * may read the call's metadata and end the call (pw_grpc_call_finish, e.g. UNAUTHENTICATED),
 * returning false; the method then sees nothing of it. true lets the call proceed. Runs on the
 * connection's thread; `m` is the method the call is for. NULL (the default): every call
 * proceeds. Set before connections exist. */
typedef bool (*pw_grpc_guard_fn)(pw_grpc_call *call, const pw_grpc_method *m);
void pw_grpc_server_set_guard(pw_grpc_server *s, pw_grpc_guard_fn fn);

/* Frees this thread's per-thread state (the gzip context). Call when a shard thread ends. */
void pw_grpc_thread_exit(void);

/* ---- connections ---- */

/* Creates the gRPC state of a new HTTP/2 (prior knowledge) server connection. The server
 * SETTINGS frame is queued at once. Returns NULL on ENOMEM. */
pw_grpc_conn *pw_grpc_conn_create(const pw_grpc_server *s, uint64_t now_ns);
/* Ends every live call (on_cancel with UNAVAILABLE) and frees the connection. Calls still
 * referenced by handlers stay valid (detached) until their last unref. */
void pw_grpc_conn_destroy(pw_grpc_conn *c);
/* Feeds received bytes. Returns `len`, or PW_H2_ERR_* (pw_h2_frame.h) after a connection error: the
 * session then holds a GOAWAY in its output; flush it and close. */
ssize_t pw_grpc_conn_recv(pw_grpc_conn *c, const uint8_t *in, size_t len, uint64_t now_ns);
/* Bytes waiting to be written: a view valid until the next call on this connection. */
size_t pw_grpc_conn_output(pw_grpc_conn *c, const uint8_t **p);
void pw_grpc_conn_output_consume(pw_grpc_conn *c, size_t n);
/* With output_refs: moves everything to send into `dst` (empty), by swapping buffers and handing
 * on references, never copying (pw_h2_session_output_take). Returns the bytes taken. */
size_t pw_grpc_conn_output_take(pw_grpc_conn *c, pw_h2_outv *dst);
/* DATA bytes handed on by reference and sent without a copy, and those copied after all. */
void pw_grpc_conn_data_stats(const pw_grpc_conn *c, uint64_t *ref_bytes, uint64_t *copied_bytes);
/* True when the connection should be closed once its output is flushed. */
bool pw_grpc_conn_want_close(const pw_grpc_conn *c);
/* Earliest call deadline (CLOCK_MONOTONIC ns) or UINT64_MAX. */
uint64_t pw_grpc_conn_next_deadline(const pw_grpc_conn *c);
/* Ends calls whose deadline is at or before now with DEADLINE_EXCEEDED. */
void pw_grpc_conn_expire(pw_grpc_conn *c, uint64_t now_ns);
/* Graceful drain: GOAWAY, new streams refused, calls in flight continue. */
void pw_grpc_conn_shutdown(pw_grpc_conn *c);
/* Calls in flight (not yet finished or cancelled). */
size_t pw_grpc_conn_active_calls(const pw_grpc_conn *c);
/* Resets (RST_STREAM NO_ERROR) the streams whose call is finished and whose trailers are
 * out but whose client never ended its side (a bidi stream the client keeps open), so a
 * draining connection can close once no call is left. Does nothing while any output is
 * pending. Returns the number of streams reset; flush the output afterwards. */
size_t pw_grpc_conn_reset_finished(pw_grpc_conn *g);
/* Whether any stream is open at the HTTP/2 level (for idle timeouts). */
bool pw_grpc_conn_idle(const pw_grpc_conn *c);
/* Response bytes waiting for the peer's flow-control window or the socket: calls' queued
 * messages, the session's pending DATA and its output buffer. */
size_t pw_grpc_conn_pending_bytes(const pw_grpc_conn *c);
/* A header block has been started and not finished (see pw_h2_session_in_header_block). */
bool pw_grpc_conn_in_header_block(const pw_grpc_conn *c);
/* Sets a pointer the glue can read back from a call (e.g. its connection object). */
void pw_grpc_conn_set_user(pw_grpc_conn *c, void *ud);
/* `fn(user)` runs when a call produces output outside pw_grpc_conn_recv/expire (a handler that
 * answered later): the glue should flush the connection soon (e.g. at the end of the loop
 * iteration, batching many answers into one send). */
void pw_grpc_conn_set_notify(pw_grpc_conn *c, void (*fn)(void *user));

/* ---- plain HTTP requests on a gRPC connection (GET /healthz, /metrics over h2c) ---- */

/* A request that is not gRPC. Views borrowed for the handler call only. */
typedef struct pw_grpc_plain_req {
    uint32_t stream_id; /* for pw_grpc_conn_plain_answer when answering later */
    const char *method; /* "" when the request had none (the session rejects that anyway) */
    size_t method_len;
    const char *path; /* with its query string, if any */
    size_t path_len;
    const char *authorization; /* the authorization header's value, or "" without one */
    size_t authorization_len;
} pw_grpc_plain_req;

/* Largest plain answer body (buf cap): health and metrics pages, not downloads. */
#define PW_GRPC_PLAIN_BODY_BYTES_MAX (16u * 1024u * 1024u)

/* The handler's answer: `body` arrives initialized (cap PW_GRPC_PLAIN_BODY_BYTES_MAX) and
 * empty; the handler appends to it and sets status (100..599) and ctype (a static string). A
 * HEAD request gets the headers (with content-length) and no body. Or the handler sets `later`
 * and answers with pw_grpc_conn_plain_answer (what it appended now is dropped). */
typedef struct pw_grpc_plain_resp {
    int status;
    const char *ctype;
    buf body;
    bool later;
} pw_grpc_plain_resp;

/* Runs on the connection's thread with the connection's user pointer. */
typedef void (*pw_grpc_plain_fn)(void *user, const pw_grpc_plain_req *req,
                                 pw_grpc_plain_resp *resp);
/* Sets (fn) or removes (NULL) the connection's plain-HTTP handler. A response body larger than
 * the stream's pending cap goes out as the peer's windows allow; the connection owns it until
 * it is sent or the stream closes. */
void pw_grpc_conn_set_plain(pw_grpc_conn *c, pw_grpc_plain_fn fn);
/* Answers a plain request left for later (resp->later). Takes the contents of `body`, leaving
 * it empty (the caller still deinits it). Returns 0, or -ENOENT (the stream is gone: reset, or
 * the connection closing) with `body` untouched. */
int pw_grpc_conn_plain_answer(pw_grpc_conn *c, uint32_t stream_id, int status, const char *ctype,
                              buf *body);

/* ---- answered RPCs (metrics) ---- */

/* Runs once per RPC answered on the connection: a call that finishes (its final status, also
 * DEADLINE_EXCEEDED) or ends from the transport side (CANCELLED by RST_STREAM, UNAVAILABLE when
 * the connection goes), with its method's index (pw_grpc_server_method_at); and answers given
 * without a call (an unknown method, a bad grpc-encoding or grpc-timeout), method_index -1. */
typedef void (*pw_grpc_done_fn)(void *user, int method_index, pw_grpc_status status);
void pw_grpc_conn_set_on_done(pw_grpc_conn *c, pw_grpc_done_fn fn);

/* ---- calls ---- */

void pw_grpc_call_ref(pw_grpc_call *call);
void pw_grpc_call_unref(pw_grpc_call *call);
void pw_grpc_call_set_user(pw_grpc_call *call, void *ud);
void *pw_grpc_call_user(const pw_grpc_call *call);
void *pw_grpc_call_method_ud(const pw_grpc_call *call);
/* The method the call is for (borrowed for the server's lifetime). */
const pw_grpc_method *pw_grpc_call_method(const pw_grpc_call *call);
/* The connection's user pointer, or NULL when the connection is gone. */
void *pw_grpc_call_conn_user(const pw_grpc_call *call);
/* True once the call ended (finished, cancelled or expired). */
bool pw_grpc_call_done(const pw_grpc_call *call);
/* CLOCK_MONOTONIC deadline or UINT64_MAX. */
uint64_t pw_grpc_call_deadline(const pw_grpc_call *call);
/* Whether the request message just delivered was compressed on the wire. */
bool pw_grpc_call_request_compressed(const pw_grpc_call *call);

/* ---- local calls: a unary method run in-process, with no connection ----
 *
 * The server's own HTTP/1.1 JSON API (server/srv_api.c) runs the very handler a gRPC client
 * reaches: it makes a local call for the method, hands the handler the encoded request through
 * m->on_message, and gets the answer in `fn` when the handler finishes the call (at once, or
 * later on the same thread). Sends work as on a connection (one message, the send limit of the
 * server's config) but are kept in the call instead of going out; compression is never used;
 * the call has no metadata and no deadline. */

/* Runs once, from pw_grpc_call_finish, with the final status and message (NULL when none) and
 * the response message the handler sent (msg/len: borrowed for the callback; NULL/0 when none).
 * The call stays valid during the callback. */
typedef void (*pw_grpc_local_fn)(void *ud, pw_grpc_status status, const char *message,
                                 const uint8_t *msg, size_t len);
/* A local call to unary method `m` of server `s` (borrowed: it must outlive the call), answering
 * to fn(ud). One reference, the caller's (pw_grpc_call_unref). NULL: out of memory, or -EINVAL
 * cases (m not unary). */
pw_grpc_call *pw_grpc_call_new_local(const pw_grpc_server *s, const pw_grpc_method *m,
                                     pw_grpc_local_fn fn, void *ud);
/* Whether `call` is a local call (made by pw_grpc_call_new_local, no connection). The server's
 * per-call permission checks rely on it: a local call carries no credentials, so its maker
 * must have checked the request it stands for first (the JSON API does, per route). */
bool pw_grpc_call_is_local(const pw_grpc_call *call);

typedef struct pw_grpc_md {
    const char *name;     /* lowercase, NUL-terminated */
    const uint8_t *value; /* for -bin names: the decoded bytes */
    size_t value_len;
} pw_grpc_md;
/* The request's custom metadata (no pseudo-headers, no grpc-* reserved ones, no te/content-type).
 * Owned by the call; valid for its lifetime. */
const pw_grpc_md *pw_grpc_call_metadata(const pw_grpc_call *call, size_t *n);
/* First value for `name`, or NULL. */
const pw_grpc_md *pw_grpc_call_find_metadata(const pw_grpc_call *call, const char *name);

/* Response metadata: copied; must be added before the first send (initial) or before finish
 * (trailing). -bin values are base64-encoded for you. Returns 0, -EINVAL (bad name or value),
 * -ENOSPC (PW_GRPC_OUT_MD_MAX), -EALREADY (headers already sent), -ECANCELED. */
int pw_grpc_call_add_initial_metadata(pw_grpc_call *call, const char *name, const uint8_t *v,
                                      size_t len);
int pw_grpc_call_add_trailing_metadata(pw_grpc_call *call, const char *name, const uint8_t *v,
                                       size_t len);

/* Asks for gzip-compressed responses (when the client accepts gzip). Must precede the first
 * send. Per message it can be turned off with PW_GRPC_SEND_NO_COMPRESS. */
void pw_grpc_call_set_compress(pw_grpc_call *call, bool on);

#define PW_GRPC_SEND_NO_COMPRESS 0x1u
/* Sends one response message (initial metadata go first if not sent yet). The bytes are copied.
 * Returns 0, -ECANCELED (call ended), -ENOBUFS (the stream's output is full: wait for
 * on_writable), -EMSGSIZE (above max_send_message_bytes), -EPROTO (unary call already sent its
 * one response), -ENOMEM (then end the call, e.g. RESOURCE_EXHAUSTED), or PW_H2_ERR_* (the
 * connection failed). */
int pw_grpc_call_send(pw_grpc_call *call, const uint8_t *msg, size_t len, unsigned flags);
/* One message, handed on instead of copied: takes `msg`'s storage (left empty) and queues it by
 * reference behind a 5-byte prefix; with a server made with h2.output_refs the bytes go from
 * `msg`'s storage to the socket as they are. A call that compresses its responses copies (and
 * compresses) as pw_grpc_call_send. Errors as pw_grpc_call_send (-ENOBUFS never: the stream
 * takes it whole; the caller bounds what it hands in); on error `msg` may be empty. */
int pw_grpc_call_send_buf(pw_grpc_call *call, buf *msg, unsigned flags);
/* Encodes *msg (descriptor d) into `out`, which must be empty, behind PW_GRPC_MSG_PREFIX_BYTES of
 * room left consumed (buf_begin(out) is the message): pw_grpc_call_send_buf then writes the
 * prefix into that room and queues prefix and message as one piece, so nothing is copied into
 * the stream's own storage (a unary reply's stream never allocates it). Errors as
 * pw_msg_encode (then `out` is left empty); -EINVAL when `out` is not empty. */
int pw_grpc_msg_encode_for_send(const pw_msg_desc *d, const void *msg, buf *out);
/* `nmsgs` messages already framed (each with its 5-byte prefix, uncompressed) in `blob`: queued
 * by reference (a reference taken, the caller keeps its own). -EOPNOTSUPP when the call
 * compresses its responses (frame them with pw_grpc_call_send then), -EMSGSIZE when a message
 * is above max_send_message_bytes and -EINVAL when the framing is cut short (nothing queued
 * then), else as pw_grpc_call_send_buf. */
int pw_grpc_call_send_framed(pw_grpc_call *call, rt_blob *blob, uint32_t nmsgs);
/* Zero-copy variant: returns a buffer positioned after a reserved 5-byte prefix to encode one
 * message into, then commit it. Between begin and commit no other call on this connection may
 * send. NULL when the call ended, its output is full, or out of memory. */
buf *pw_grpc_call_send_begin(pw_grpc_call *call);
int pw_grpc_call_send_commit(pw_grpc_call *call, unsigned flags);
/* Drops what was written since pw_grpc_call_send_begin (an encode that failed half-way); no
 * message is sent and the call may still send or finish. No-op outside begin/commit. */
void pw_grpc_call_send_abort(pw_grpc_call *call);
/* Ends the call with a status and message (percent-encoded for you; may be NULL). Sends
 * trailers (or a trailers-only response when nothing was sent). Idempotent: later calls return
 * -ECANCELED. Returns 0. */
int pw_grpc_call_finish(pw_grpc_call *call, pw_grpc_status status, const char *message);

#endif
