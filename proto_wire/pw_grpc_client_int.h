/* proto_wire/pw_grpc_client_int.h: what the files of pw_grpc_client share (internal to it):
 * the client and call structs, and the few steps both the API side (pw_grpc_client.c) and the
 * HTTP/2 inbound side (pw_grpc_client_in.c: response headers, messages, trailers, stream
 * closes) take. Everything here runs on the client's one thread. */
#ifndef PW_GRPC_CLIENT_INT_H
#define PW_GRPC_CLIENT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/rt_buf.h"
#include "proto_wire/pw_grpc_client.h"
#include "proto_wire/pw_grpc_msg.h"
#include "proto_wire/pw_gzip.h"
#include "proto_wire/pw_h2.h"

/* Request header fields at most: 6 fixed + grpc-timeout + user-agent + grpc-accept-encoding +
 * grpc-encoding + spare, then the custom metadata. */
#define CC_REQ_HEADERS_MAX (12 + PW_GRPC_CCALL_MD_MAX)

struct pw_grpc_ccall {
    pw_grpc_client *cl;
    pw_grpc_ccall *prev, *next; /* client's list of live calls, in start order */
    pw_grpc_ccall_state state;
    uint32_t stream_id;
    char *path;
    pw_h2_header *md; /* custom metadata, ready to send (pw_grpc_cmeta_copy); NULL: none */
    size_t md_count;
    uint64_t deadline_ns;
    pw_grpc_ccall_cbs cb;
    void *ud;
    buf out;          /* framed messages not yet accepted by the session */
    bool send_end;    /* the application half-closed */
    bool end_sent;    /* END_STREAM handed to the session */
    bool got_headers; /* response headers seen */
    bool got_status;  /* grpc-status seen (trailers or trailers-only) */
    bool req_gzip;    /* sent grpc-encoding: gzip (large messages are compressed) */
    bool queued;      /* PENDING and counted in the client's pending suffix */
    bool flushing;    /* inside call_flush (it must not nest: see there) */
    bool flush_again; /* the session became writable during a flush: go round again */
    pw_grpc_status status;
    /* A status decided locally (deadline, cancel, bad response): wins over the stream's own. */
    bool forced;
    pw_grpc_status forced_code;
    const char *forced_msg; /* static */
    pw_grpc_deframer df;
    char message[PW_GRPC_CCALL_MESSAGE_MAX];
    size_t message_len;
};

struct pw_grpc_client {
    pw_h2_session *h2;
    pw_grpc_ccall *head, *tail;
    size_t ncalls;
    /* Calls waiting for a stream slot open in start order, so they are always the list's
     * tail: first_pending starts that suffix (NULL: none). Keeps starts and pumps O(1). */
    pw_grpc_ccall *first_pending;
    size_t npending;
    char authority[PW_GRPC_CLIENT_AUTHORITY_MAX + 1];
    char user_agent[64];
    size_t max_recv;
    size_t gzip_min;      /* compress request messages of at least this many bytes; 0: never */
    bool peer_gzip;       /* the server listed gzip in a grpc-accept-encoding */
    pw_gzip_ctx gz;       /* zlib states, allocated on first use */
    buf zin, zout;        /* one decompressed response / compressed request message */
    const char *fail_why; /* set by _fail/_destroy: every close is UNAVAILABLE with it */
    bool goaway;
    bool in_api;  /* inside recv/output_consume/tick: pending calls are started at its end */
    int cb_depth; /* > 0 inside a pw_h2 callback: the session defers stream closes */
    uint64_t now_ns;
};

/* Delivers on_close with the status and frees the call (unless inside its own flush, which
 * frees it). The call must not be closed yet. */
void pw_cc_finish(pw_grpc_ccall *c, pw_grpc_status code, const char *msg, size_t msg_len,
                  bool refused);

/* Records a local status (msg static) that wins over the stream's own; the first one stays. */
void pw_cc_force(pw_grpc_ccall *c, pw_grpc_status code, const char *msg);

/* Ends an open call with a local status (msg static): RST_STREAM(CANCEL), then on_close once the
 * session reports the stream closed (at once outside a session callback). */
void pw_cc_reset(pw_grpc_ccall *c, pw_grpc_status code, const char *msg);

/* Hands the call's queued output to its stream, as far as flow control allows. */
void pw_cc_flush(pw_grpc_ccall *c);

/* Opens pending calls while stream slots allow; fails them all once the connection drains. */
void pw_gc_start_pending(pw_grpc_client *cl);

/* The HTTP/2 session's callbacks (pw_grpc_client_in.c); their user data is the client. */
extern const pw_h2_callbacks pw_gc_h2_callbacks;

#endif
