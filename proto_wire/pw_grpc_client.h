/* proto_wire/pw_grpc_client: gRPC client calls over one HTTP/2 client session (h2c with prior
 * knowledge; gRPC's PROTOCOL-HTTP2.md). No I/O and no clock: the connection glue (client/)
 * feeds received bytes in, drains bytes out and passes time in.
 *
 * Objects
 *   pw_grpc_client  one HTTP/2 connection's client state (one pw_h2 session, PW_H2_ROLE_CLIENT).
 *                   A connection that failed or drained is destroyed and a new one created: the
 *                   retry policy (which calls to start again) belongs to the glue above.
 *   pw_grpc_ccall   one RPC: unary, server-, client- or bidi-streaming alike. The caller sends
 *                   messages, half-closes, may cancel; response messages and exactly one final
 *                   status arrive through callbacks.
 *
 * Life of a call
 *   pw_grpc_ccall_start   -> PENDING (no stream yet: the server's MAX_CONCURRENT_STREAMS was
 *                            reached; it opens when another stream closes) or OPEN.
 *   on_message* then on_close (once). The call's memory is freed when on_close returns.
 *
 * GOAWAY (RFC 9113 §6.8)
 *   Streams the server accepted (id <= last_stream_id) run to completion. Streams above it and
 *   calls still PENDING close with UNAVAILABLE and `refused` set: the server never processed
 *   them, so the glue may send them again on a new connection. New calls fail with -ENOTCONN.
 *
 * Callbacks run from pw_grpc_client_recv, _output_consume, _tick, _destroy, and from
 * pw_grpc_ccall_cancel / _send made outside a callback (a close can be completed at once). In a
 * callback the application may start, send on, half-close and cancel calls, but must not call
 * pw_grpc_client_recv, _output_consume, _tick or _destroy.
 *
 * Errors are negative errno values, documented per function, except pw_grpc_client_recv's
 * PW_H2_ERR_* (docs/architecture.md "Errors"). */
#ifndef PW_GRPC_CLIENT_H
#define PW_GRPC_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "proto_wire/pw_grpc_util.h"

typedef struct pw_grpc_client pw_grpc_client;
typedef struct pw_grpc_ccall pw_grpc_ccall;

/* Largest `:authority` we keep, bytes (host:port, or a DNS name with a port). */
#define PW_GRPC_CLIENT_AUTHORITY_MAX 256u
/* Bytes a call may have queued for sending (messages not yet accepted by the HTTP/2 session's
 * per-stream queue): four default-sized messages, so a bidi stream can run ahead of a slow
 * window without letting a caller grow memory without bound. */
#define PW_GRPC_CCALL_OUT_MAX_BYTES (4u * PW_GRPC_MAX_MSG_BYTES_DEFAULT + 64u)
/* grpc-message bytes kept from the server (the rest is dropped). */
#define PW_GRPC_CCALL_MESSAGE_MAX 1024u

typedef enum pw_grpc_ccall_state {
    PW_GRPC_CC_PENDING = 0, /* waiting for a stream slot */
    PW_GRPC_CC_OPEN,        /* request headers submitted */
    PW_GRPC_CC_CLOSED,      /* on_close is running or ran */
} pw_grpc_ccall_state;

/* The final status of a call, passed to on_close (views valid during the callback only). */
typedef struct pw_grpc_cstatus {
    pw_grpc_status code;
    const char *message; /* grpc-message, percent-decoded, or our own reason; never NULL */
    size_t message_len;
    /* The server did not process the call (REFUSED_STREAM, above a GOAWAY's last stream, never
     * sent): it is safe to send again on another connection. */
    bool refused;
} pw_grpc_cstatus;

typedef struct pw_grpc_ccall_cbs {
    /* One response message; the view is valid during the call only. Return 0, or a negative
     * value to cancel the call (it then closes with CANCELLED). */
    int (*on_message)(pw_grpc_ccall *c, void *ud, const uint8_t *p, size_t n);
    /* Exactly once per started call. The call is freed when this returns. */
    void (*on_close)(pw_grpc_ccall *c, void *ud, const pw_grpc_cstatus *st);
} pw_grpc_ccall_cbs;

typedef struct pw_grpc_client_opts {
    const char *authority;     /* :authority ("host:port"); copied; NULL: "localhost" */
    const char *user_agent;    /* copied; NULL: "ringq-c/1" */
    size_t max_recv_msg_bytes; /* 0: PW_GRPC_MAX_MSG_BYTES_DEFAULT */
    /* Request messages of at least this many bytes are gzip-compressed once the server listed
     * gzip in a response's grpc-accept-encoding (earlier calls on the connection go plain);
     * 0: never. Responses in gzip are always accepted (every request offers identity,gzip). */
    size_t gzip_min_bytes;
} pw_grpc_client_opts;

/* Creates the client state for a fresh connection; the HTTP/2 preface and SETTINGS are queued
 * in the output. `opts` may be NULL. Returns NULL on allocation failure (or an authority longer
 * than PW_GRPC_CLIENT_AUTHORITY_MAX). */
pw_grpc_client *pw_grpc_client_create(const pw_grpc_client_opts *opts);
/* Closes every call still alive: calls that never reached the server with UNAVAILABLE and
 * `refused`, the others with UNAVAILABLE ("connection closed") unless the glue set a status
 * with pw_grpc_client_fail first. Frees everything. NULL is a no-op. */
void pw_grpc_client_destroy(pw_grpc_client *cl);
/* The transport failed (EOF, reset, connect error): closes every call at once with UNAVAILABLE
 * and `why` (static, borrowed); the client then only accepts pw_grpc_client_destroy. */
void pw_grpc_client_fail(pw_grpc_client *cl, const char *why);

/* Received bytes (borrowed for the call). Returns len, or PW_H2_ERR_* (pw_h2_frame.h) when the
 * connection failed (calls are closed; flush the output, then close). */
ssize_t pw_grpc_client_recv(pw_grpc_client *cl, const uint8_t *in, size_t len, uint64_t now_ns);
/* Output to send: a view valid until the next call on the client. */
void pw_grpc_client_output(pw_grpc_client *cl, const uint8_t **p, size_t *n);
void pw_grpc_client_output_consume(pw_grpc_client *cl, size_t n);
bool pw_grpc_client_want_write(const pw_grpc_client *cl);
/* The connection is finished (error, or GOAWAY with no stream left): flush, then close. */
bool pw_grpc_client_want_close(const pw_grpc_client *cl);
/* A GOAWAY arrived: no new call can start here. */
bool pw_grpc_client_draining(const pw_grpc_client *cl);
/* Calls alive (pending or open). */
size_t pw_grpc_client_calls(const pw_grpc_client *cl);

/* Expires calls whose deadline is <= now_ns (DEADLINE_EXCEEDED; the stream is reset with
 * CANCEL). Returns the number expired. Cost: linear in the live calls (a client holds few). */
size_t pw_grpc_client_tick(pw_grpc_client *cl, uint64_t now_ns);
/* Earliest deadline of a live call (CLOCK_MONOTONIC ns), or 0 when none has one. */
uint64_t pw_grpc_client_next_deadline(const pw_grpc_client *cl);

/* Custom request metadata on a call (gRPC PROTOCOL-HTTP2 "Custom-Metadata"). */
#define PW_GRPC_CCALL_MD_MAX 16u /* entries per call: a handful in practice (ids, tokens) */
/* Bytes of names and (encoded) values per call: well under the 16 KiB header list our server
 * and most others accept, so the request headers are never refused for their size. */
#define PW_GRPC_CCALL_MD_BYTES_MAX (8u * 1024u)

/* One metadata entry. `name`: lowercase 0-9 a-z _ - . (pw_grpc_md_name_valid), not reserved
 * (grpc-*), not a pseudo-header, not one the client sets itself (te, content-type, user-agent)
 * nor an HTTP/1 connection header. A name ending in -bin carries arbitrary bytes (sent in
 * unpadded base64); any other value is printable ASCII (0x20..0x7E). */
typedef struct pw_grpc_cmeta {
    const char *name;
    const uint8_t *value;
    size_t value_len;
} pw_grpc_cmeta;

typedef struct pw_grpc_ccall_opts {
    const pw_grpc_cmeta *md; /* borrowed for pw_grpc_ccall_start only (copied) */
    size_t md_count;         /* 0..PW_GRPC_CCALL_MD_MAX */
} pw_grpc_ccall_opts;

/* Checks one entry against the rules of pw_grpc_cmeta. Returns 0 or -EINVAL. */
int pw_grpc_cmeta_check(const pw_grpc_cmeta *m);

/* Starts a call of `path` ("/pkg.Service/Method", copied). `deadline_ns` is absolute on the
 * caller's monotonic clock (0: none); it is sent as grpc-timeout relative to now_ns. `cb` is
 * copied, `ud` passed to it. Returns the call, or NULL with *err = -ENOTCONN (GOAWAY or failed
 * connection), -EINVAL (path), -ENOMEM. A deadline already past still starts the call; the next
 * tick expires it. */
pw_grpc_ccall *pw_grpc_ccall_start(pw_grpc_client *cl, const char *path, uint64_t deadline_ns,
                                   uint64_t now_ns, const pw_grpc_ccall_cbs *cb, void *ud,
                                   int *err);
/* pw_grpc_ccall_start with options (NULL: none): the metadata are copied and sent in the
 * request's HEADERS (also when the call opens later, after PENDING). *err = -EINVAL also for an
 * invalid entry (pw_grpc_cmeta_check), more than PW_GRPC_CCALL_MD_MAX entries or
 * PW_GRPC_CCALL_MD_BYTES_MAX bytes. */
pw_grpc_ccall *pw_grpc_ccall_start_opts(pw_grpc_client *cl, const char *path, uint64_t deadline_ns,
                                        uint64_t now_ns, const pw_grpc_ccall_opts *opts,
                                        const pw_grpc_ccall_cbs *cb, void *ud, int *err);
/* Queues one request message (copied) and, with `end`, half-closes after it. Returns 0,
 * -EPIPE (already half-closed or closed), -EMSGSIZE (above 4 GiB), -ENOBUFS (more than
 * PW_GRPC_CCALL_OUT_MAX_BYTES queued: wait for responses or window), -ENOMEM. */
int pw_grpc_ccall_send(pw_grpc_ccall *c, const uint8_t *msg, size_t len, bool end);
/* Half-closes (END_STREAM after the queued messages). Returns 0 or -EPIPE. */
int pw_grpc_ccall_close_send(pw_grpc_ccall *c);
/* Cancels: RST_STREAM(CANCEL) if open; on_close follows with CANCELLED (possibly before this
 * returns, when called outside a callback). No-op on a call already closing. */
void pw_grpc_ccall_cancel(pw_grpc_ccall *c);
pw_grpc_ccall_state pw_grpc_ccall_get_state(const pw_grpc_ccall *c);
/* HTTP/2 stream id (0 while pending). */
uint32_t pw_grpc_ccall_stream_id(const pw_grpc_ccall *c);

#endif
