/* proto_wire/pw_h2: an HTTP/2 session (RFC 9113), server and client roles. No I/O, no clock:
 * bytes in (pw_h2_session_recv), events out (callbacks), bytes out (pw_h2_session_output).
 *
 * Model
 *   The session owns an output buffer. Control frames are appended to it as they arise; HEADERS
 *   and DATA are generated from per-stream queues by an internal "pump" only while the
 *   connection and stream send windows and the output watermark allow
 *   (PW_H2_OUT_DATA_WATERMARK_BYTES), so output memory stays bounded whatever the peer does.
 *   The glue loop is:
 *       pw_h2_session_recv(s, bytes, n, now_ns);          // fires callbacks
 *       while (pw_h2_session_output(s, &p, &n), n) { written = send(p, n); 
 *                                                       pw_h2_session_output_consume(s, written); }
 *       if (pw_h2_session_want_close(s) && !pw_h2_session_want_write(s)) close();
 *
 * Callbacks and re-entrancy
 *   Callbacks run from pw_h2_session_recv, pw_h2_session_output_consume and (on_stream_close,
 *   on_stream_writable only) from submit calls made outside any callback. Inside a callback the
 *   application may call any pw_h2_submit_* / pw_h2_consume / stream_set_user function, but not
 *   pw_h2_session_recv, pw_h2_session_destroy or output_consume. on_stream_close and
 *   on_stream_writable are deferred: they never run nested inside another callback, so a
 *   stream's user context stays valid for the whole of any callback about it. A submit made
 *   outside any callback does run them before it returns: pw_h2_submit_data with end_stream, or
 *   accepting less than n, pumps the stream and may call on_stream_writable for that very stream
 *   before the caller has seen how many bytes were accepted. A writer that resubmits from on_stream_writable must not nest
 *   (pw_grpc_call_pump, call_flush in pw_grpc_client.c: a flag, and go round again).
 *
 * Errors (docs/architecture.md "Errors")
 *   Functions returning int/ssize_t return >= 0 on success or a negative value in one of two
 *   disjoint spaces: what the connection did (an input error, or a connection already failed)
 *   is PW_H2_ERR_* (pw_h2_frame.h: the RFC 9113 §7 code c as -(1100 + c); pw_h2_err_code gives
 *   the code for GOAWAY/RST_STREAM, pw_h2_strerror a name for logs); API misuse and resources
 *   are negative errno values (-ENOMEM, -ENOBUFS as flow control, -ENOENT, ...), as documented
 *   per function. Never the global errno, never a bare -1.
 *
 * Memory
 *   An idle session holds its struct, the HPACK tables and nothing else: input, output, header
 *   and stream buffers are allocated when needed and freed when drained. */
#ifndef PW_H2_H
#define PW_H2_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "core/rt_blob.h"

#include "proto_wire/pw_h2_frame.h"
#include "proto_wire/pw_h2_limits.h"
#include "proto_wire/pw_hpack.h"

typedef struct pw_h2_session pw_h2_session;

typedef enum pw_h2_role {
    PW_H2_ROLE_SERVER = 0, /* accepts the client preface; peer streams are odd */
    PW_H2_ROLE_CLIENT = 1, /* sends the preface; our streams are odd */
} pw_h2_role;

/* A header field. Names are lowercase (RFC 9113 §8.2.1). Received fields are borrowed views
 * valid only during the callback; submitted fields are copied by the submit call.
 * `flags`: PW_HPACK_F_NEVER_INDEXED / PW_HPACK_F_NO_INDEX (pw_hpack.h). */
typedef struct pw_h2_header {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
    unsigned flags;
} pw_h2_header;
/* Initializer from two string literals: PW_H2_HDR(":status", "200"). */
#define PW_H2_HDR(n, v)                            \
    {                                              \
        (n), sizeof(n) - 1, (v), sizeof(v) - 1, 0u \
    }

/* Flags for on_headers. */
#define PW_H2_HF_END_STREAM 0x1u    /* the peer ended its side of the stream with this block */
#define PW_H2_HF_TRAILERS 0x2u      /* the block follows DATA (trailers); never has pseudo-fields */
#define PW_H2_HF_INFORMATIONAL 0x4u /* client role: a 1xx response; the final one follows */

typedef struct pw_h2_callbacks {
    /* Optional. Server: a peer stream is about to be delivered (its request header block is
     * complete and valid); runs just before on_headers, for allocating a per-stream context
     * (pw_h2_stream_set_user). Return 0, or a negative value to fail the connection
     * (INTERNAL_ERROR). */
    int (*on_begin_stream)(void *ud, uint32_t stream_id);
    /* A complete, validated header block: a request (server), a response (client), or trailers.
     * Pseudo-header fields come first. Validation per RFC 9113 §8.2, §8.3 has happened; a
     * malformed block never reaches the application (the stream is reset instead). Return 0, or
     * a negative value to fail the connection (INTERNAL_ERROR). */
    int (*on_headers)(void *ud, uint32_t stream_id, const pw_h2_header *hdrs, size_t n,
                      unsigned flags);
    /* DATA payload (padding removed), possibly empty when it only carries end_stream. The bytes
     * count against the receive windows until returned with pw_h2_consume (or automatically if
     * pw_h2_config.auto_consume). Return 0, or a negative value to fail the connection. */
    int (*on_data)(void *ud, uint32_t stream_id, const uint8_t *p, size_t n, bool end_stream);
    /* Exactly once per stream that reached on_headers (server) / pw_h2_submit_request (client):
     * completed both ways (NO_ERROR), reset by the peer (its code), reset by us (our code), or
     * torn down with the connection. The stream id is invalid after the call returns; its user
     * pointer is still readable during it. */
    void (*on_stream_close)(void *ud, uint32_t stream_id, uint32_t error_code);
    /* Optional. A stream whose submit_data was short (or -ENOBUFS) has room again. */
    void (*on_stream_writable)(void *ud, uint32_t stream_id);
    /* Optional. The peer sent GOAWAY. Client role: streams above last_stream_id are closed with
     * PW_H2_REFUSED_STREAM (safe to retry) right after this callback. */
    void (*on_goaway)(void *ud, uint32_t last_stream_id, uint32_t error_code, const uint8_t *debug,
                      size_t debug_len);
    /* Optional. The ACK of a PING we sent with pw_h2_submit_ping. */
    void (*on_ping_ack)(void *ud, const uint8_t opaque[PW_H2_PING_PAYLOAD_BYTES]);
} pw_h2_callbacks;

typedef struct pw_h2_config {
    /* Our SETTINGS. */
    uint32_t max_concurrent_streams; /* peer-initiated streams we accept at once */
    uint32_t initial_window_size;    /* per-stream receive window, bytes */
    uint32_t max_frame_size;         /* largest frame payload we accept, bytes [16384, 2^24-1] */
    uint32_t max_header_list_size;   /* decoded header list cap, bytes (RFC §6.5.2 sizing) */
    uint32_t header_table_size;      /* HPACK decoder table we allow the peer to use, bytes */
    /* Connection receive window target, bytes [PW_H2_CONN_WINDOW_MIN_BYTES,
     * PW_H2_CONN_WINDOW_MAX_BYTES]; raised from 65535 by a WINDOW_UPDATE after our SETTINGS. */
    uint32_t conn_window_size;
    /* Pending (submitted, unsent) DATA per stream, bytes. */
    uint32_t stream_pending_max;
    /* Flood budgets (token buckets: burst, then per second). */
    uint32_t reset_burst, reset_per_s;
    uint32_t empty_frame_burst, empty_frame_per_s;
    /* Return received DATA to the windows as soon as on_data returns (no pw_h2_consume). */
    bool auto_consume;
    /* DATA submitted by reference (pw_h2_submit_data_ref) is framed by reference too: the
     * output is a chain (pw_h2_session_output_take), not one buffer. Off: such DATA is copied
     * into the output buffer when framed, and pw_h2_session_output works as always. */
    bool output_refs;
} pw_h2_config;

/* Fills `cfg` with the PW_H2_DEFAULT_* values (auto_consume false). */
void pw_h2_config_default(pw_h2_config *cfg);

/* Creates a session. `cfg` NULL means defaults; it is copied (invalid values are clamped to the
 * RFC ranges). `cb` is copied; `ud` is passed to every callback. Queues our SETTINGS (and, for
 * a client, the preface before them) and the connection WINDOW_UPDATE in the output.
 * Returns NULL on allocation failure. */
pw_h2_session *pw_h2_session_create(pw_h2_role role, const pw_h2_config *cfg,
                                    const pw_h2_callbacks *cb, void *ud);
/* Frees everything. Calls on_stream_close(PW_H2_CANCEL) for streams still open, so
 * per-stream contexts can be released. NULL is a no-op. */
void pw_h2_session_destroy(pw_h2_session *s);

/* Feeds received bytes; `now_ns` is a monotonic time used by the flood budgets. Consumes all of
 * `in` (a partial frame is kept internally, at most max_frame_size + 9 bytes), fires callbacks
 * and queues output. Returns `len`, or PW_H2_ERR_* after a connection error:
 * a GOAWAY with that code is then queued, every stream is closed (on_stream_close), further
 * input is refused with the same code, and want_close() is true (also after the application's
 * pw_h2_submit_goaway with an error code: then pw_h2_err_from_code(that code)). Out of memory
 * while receiving is a connection error INTERNAL_ERROR (PW_H2_ERR_INTERNAL, GOAWAY sent): the
 * one connection ends, the process goes on. `in` is borrowed for the call. */
ssize_t pw_h2_session_recv(pw_h2_session *s, const uint8_t *in, size_t len, uint64_t now_ns);

/* Queued output: `*p` / `*n` view the bytes to send (valid until the next call on the session).
 * Generates pending HEADERS/DATA first, as windows allow. Never runs callbacks. */
void pw_h2_session_output(pw_h2_session *s, const uint8_t **p, size_t *n);
/* The transport took `n` bytes (n <= the size last returned by pw_h2_session_output). Frees
 * the output storage when drained; may generate more frames and run on_stream_writable /
 * on_stream_close. */
void pw_h2_session_output_consume(pw_h2_session *s, size_t n);
/* The output as a chain: frame bytes in `bytes`, and DATA payloads referenced in place, each
 * after the first `at` bytes of `bytes` that precede it (non-decreasing). Built by the
 * session, sent with pw_h2_outv_iov / pw_h2_outv_consume, owned by whoever holds it. */
typedef struct pw_h2_out_ref {
    size_t at;        /* bytes of `bytes` before this payload */
    rt_blob *blob;    /* one reference held */
    const uint8_t *p; /* inside blob */
    size_t n;
} pw_h2_out_ref;
typedef struct pw_h2_outv {
    buf bytes;
    pw_h2_out_ref *refs;
    uint32_t nrefs, cap;
    size_t ref_bytes; /* sum of refs[].n */
    size_t sent;      /* bytes of the chain already consumed */
} pw_h2_outv;
/* Total bytes of the chain not yet consumed. */
static inline size_t pw_h2_outv_size(const pw_h2_outv *v)
{
    return buf_size(&v->bytes) + v->ref_bytes - v->sent;
}
/* Fills up to `max` iovecs with the unsent chain, in order; returns how many (0: empty). The
 * iovecs point into `v`'s bytes and blobs: valid until the next consume or take. */
int pw_h2_outv_iov(const pw_h2_outv *v, struct iovec *iov, int max);
/* The transport took `n` bytes of the chain (n <= size). Releases everything when all is sent. */
void pw_h2_outv_consume(pw_h2_outv *v, size_t n);
/* Empties the chain (drops every reference; keeps the storage for reuse). */
void pw_h2_outv_reset(pw_h2_outv *v);
/* Empties it and frees its storage (a zeroed pw_h2_outv needs no other set-up). */
void pw_h2_outv_deinit(pw_h2_outv *v);

/* Moves everything queued (generating pending frames first, as windows allow) into `dst`,
 * which must be empty (pw_h2_outv_size == 0): nothing is copied, buffers are swapped and the
 * references change hands. For a session made with cfg.output_refs; the old
 * pw_h2_session_output/_consume pair must not be mixed with it. Counts as consumed for the
 * control-frame budget, like pw_h2_session_output_consume; may run on_stream_writable /
 * on_stream_close. Returns the bytes taken. */
size_t pw_h2_session_output_take(pw_h2_session *s, pw_h2_outv *dst);

/* There are bytes to send (or frames the pump can generate now). */
bool pw_h2_session_want_write(const pw_h2_session *s);
/* The session is finished: after a connection error, after our GOAWAY with an error code, or
 * after a GOAWAY (either way) once no stream remains. Flush the output, then close. */
bool pw_h2_session_want_close(const pw_h2_session *s);

/* Response headers (server) or any first HEADERS of a stream we may send on. Copies `hdrs`.
 * Returns 0, -ENOENT (no such open stream), -EPIPE (our side already ended or headers already
 * sent), -EINVAL (uppercase/empty/invalid names), -E2BIG (block above
 * PW_H2_OUT_HEADER_BLOCK_MAX_BYTES), -ENOMEM. */
int pw_h2_submit_headers(pw_h2_session *s, uint32_t stream_id, const pw_h2_header *hdrs, size_t n,
                         bool end_stream);
/* Queues DATA (copied) behind the stream's headers. Accepts as much as the per-stream pending
 * cap allows: returns the number of bytes accepted (possibly < n; resubmit the rest after
 * on_stream_writable), or -ENOBUFS when nothing fits (n > 0). `end_stream` takes effect only if
 * all n bytes were accepted (n == 0 with end_stream just ends the stream). Also -ENOENT, -EPIPE
 * (our side ended / trailers submitted), -ENOMEM. Accepted bytes without end_stream are framed
 * at the next output read (pw_h2_session_output, _take, _consume), not here, so what a stream
 * is given between two reads shares DATA frames; pw_h2_session_want_write is true meanwhile. */
ssize_t pw_h2_submit_data(pw_h2_session *s, uint32_t stream_id, const uint8_t *p, size_t n,
                          bool end_stream);
/* Queues DATA by reference: `pre[0..npre)` (copied: a small prefix, may be 0 bytes) then
 * p[0..n), inside `blob`, go out after what was submitted before, the prefix in the same frame
 * as the payload's start; a reference on `blob` is held (taken here) until the bytes were
 * framed and the output holding them consumed or released; the bytes must not change
 * meanwhile. With cfg.output_refs the payload is never copied; without, it is copied when
 * framed. Accepts all of it (the blob's memory exists already; the caller bounds how much it
 * hands in, e.g. by pw_h2_stream_pending). Returns 0, -ENOENT, -EPIPE as pw_h2_submit_data,
 * -ENOMEM (nothing queued then). */
int pw_h2_submit_data_ref(pw_h2_session *s, uint32_t stream_id, const uint8_t *pre, size_t npre,
                          rt_blob *blob, const uint8_t *p, size_t n);
/* Trailers: a HEADERS with END_STREAM, sent after the pending DATA drains. Copies `hdrs`.
 * Errors as pw_h2_submit_headers (-EPIPE also if headers were never submitted). */
int pw_h2_submit_trailers(pw_h2_session *s, uint32_t stream_id, const pw_h2_header *hdrs, size_t n);
/* pw_h2_submit_headers and pw_h2_submit_trailers for a constant list: `hdrs` in static storage
 * that never changes (borrowed for the session's life). The session knows it again by its
 * address and n, without comparing it to the list it sent last (a server's usual response
 * headers and OK trailers). Same results. */
int pw_h2_submit_headers_const(pw_h2_session *s, uint32_t stream_id, const pw_h2_header *hdrs,
                               size_t n, bool end_stream);
int pw_h2_submit_trailers_const(pw_h2_session *s, uint32_t stream_id, const pw_h2_header *hdrs,
                                size_t n);
/* Resets a stream: drops its pending output, queues RST_STREAM(code), closes it
 * (on_stream_close(code) follows, deferred). Returns 0, -ENOENT (not open; nothing sent) or
 * PW_H2_ERR_* (the connection failed while queueing it: output flood, out of memory). */
int pw_h2_submit_rst(pw_h2_session *s, uint32_t stream_id, uint32_t error_code);
/* GOAWAY with the last peer stream we processed (RFC §6.8). NO_ERROR is a graceful shutdown:
 * open streams complete, new peer streams are refused with REFUSED_STREAM, want_close() turns
 * true when none remain. Any other code closes every stream (on_stream_close with that code)
 * and want_close() is true at once. `debug` (copied, truncated to PW_H2_GOAWAY_DEBUG_MAX_BYTES)
 * may be NULL. Returns 0 or -EALREADY (a GOAWAY was already sent). */
int pw_h2_submit_goaway(pw_h2_session *s, uint32_t error_code, const uint8_t *debug,
                        size_t debug_len);
/* Sends a PING (on_ping_ack reports the ACK). Returns 0, -ENOBUFS (output full). */
int pw_h2_submit_ping(pw_h2_session *s, const uint8_t opaque[PW_H2_PING_PAYLOAD_BYTES]);
/* The application processed `n` bytes of DATA delivered on `stream_id`: returns them to the
 * connection window and, if the stream is still receiving, the stream window. WINDOW_UPDATEs
 * are batched (sent once half a window is consumed). Bytes still unconsumed when a stream's
 * on_stream_close returns are returned to the connection automatically; afterwards the id is
 * unknown and the call is a no-op. Returns 0 or -EINVAL (n exceeds what was delivered and not
 * yet consumed). */
int pw_h2_consume(pw_h2_session *s, uint32_t stream_id, size_t n);

/* Client role. Opens a stream with a request header block (copied); `stream_user` is its user
 * pointer. Returns the new (odd) stream id, or -EPROTO (server role), -ENOTCONN (GOAWAY sent or
 * received, or connection failed), -EAGAIN (the peer's MAX_CONCURRENT_STREAMS is reached: retry
 * after an on_stream_close), -ENOSPC (stream ids exhausted), -EINVAL, -E2BIG, -ENOMEM. */
int64_t pw_h2_submit_request(pw_h2_session *s, const pw_h2_header *hdrs, size_t n, bool end_stream,
                             void *stream_user);

/* Per-stream user pointer. set: 0 or -ENOENT. get: NULL if unset or no such stream. Valid
 * until on_stream_close for that stream has returned. */
int pw_h2_stream_set_user(pw_h2_session *s, uint32_t stream_id, void *user);
void *pw_h2_stream_get_user(const pw_h2_session *s, uint32_t stream_id);
/* Pending (submitted, not yet framed) DATA bytes of a stream; 0 if no such stream. */
size_t pw_h2_stream_pending(const pw_h2_session *s, uint32_t stream_id);
/* Current send window of a stream (may be negative after a SETTINGS change); 0 if none. */
int64_t pw_h2_stream_send_window(const pw_h2_session *s, uint32_t stream_id);

typedef struct pw_h2_stats {
    uint32_t open_streams;  /* streams in open / half-closed states (both directions) */
    size_t output_bytes;    /* queued in the output buffer */
    size_t pending_bytes;   /* submitted DATA not yet framed, all streams */
    size_t allocated_bytes; /* heap held by the session's buffers and streams (not HPACK) */
    uint32_t last_peer_stream_id;
    uint64_t frames_in, frames_out;
    uint64_t peer_resets;       /* RST_STREAM received on live streams */
    uint64_t local_resets;      /* RST_STREAM we sent */
    uint64_t data_ref_bytes;    /* DATA payload bytes sent by reference (never copied) */
    uint64_t data_copied_bytes; /* DATA payload bytes submitted by reference but copied */
    uint64_t hblocks_cached;    /* header blocks sent as kept bytes (no HPACK encode, no copy of
                                 * the list: an equal list submitted again, pw_h2_send.c) */
    uint64_t hblocks_decoded_cached; /* header blocks received that were byte-identical to the
                                      * last one under an unchanged HPACK table: delivered
                                      * without decoding or validating again (pw_h2_hblock.c) */
    uint64_t hlists_const; /* constant lists (pw_h2_submit_*_const) known by their address,
                            * not compared to the kept list (pw_h2_send.c) */
} pw_h2_stats;
void pw_h2_session_stats(const pw_h2_session *s, pw_h2_stats *out);
/* What pw_h2_session_stats says of open_streams, without filling the rest (O(1)). */
uint32_t pw_h2_session_open_streams(const pw_h2_session *s);
/* pending_bytes + output_bytes of pw_h2_session_stats, without the rest: what the connection
 * glue asks after each read and send (the full stats also sum every allocation). */
size_t pw_h2_session_queued_bytes(const pw_h2_session *s);
/* Inside on_headers: a nonzero id naming the header list being delivered when it is the one the
 * session keeps decoded (just kept, or delivered again from it, pw_h2_hblock.c): two deliveries
 * with the same nonzero id carry the same fields (names, values, flags) in the same order. 0:
 * no such promise (a list not kept, or outside on_headers). Ids are never reused. */
uint64_t pw_h2_session_hblock_id(const pw_h2_session *s);

/* Our SETTINGS are not acknowledged yet. The glue may arm a timer at creation and, if this is
 * still true when it fires, call pw_h2_submit_goaway(s, PW_H2_SETTINGS_TIMEOUT, ...) (§6.5.3). */
bool pw_h2_session_settings_pending(const pw_h2_session *s);

/* True while a header block is incomplete (HEADERS without END_HEADERS, CONTINUATIONs pending):
 * the glue bounds how long that may last (slow header delivery). */
bool pw_h2_session_in_header_block(const pw_h2_session *s);

/* The connection error (RFC code, 0 if none) and its static description. */
uint32_t pw_h2_session_error(const pw_h2_session *s, const char **desc);

#endif
