/* server/srv_http: one plain HTTP request on the gRPC port, as its handlers see it, over
 * HTTP/1.1 or as a plain request on an HTTP/2 connection (srv_http1.c owns both transports).
 *
 *   /healthz, /metrics   srv_http1.c
 *   /api/v1/...          srv_api.c (the JSON API: docs/http-api.md)
 *   /, /ui/...           srv_ui.c (the dashboard's embedded files)
 *
 * A handler fills the call's answer (status, content type, body, extra header lines) and
 * returns SRV_HTTP_NOW, or returns SRV_HTTP_LATER and calls srv_http_call_done exactly once
 * later (on the same shard thread; it may do so before returning: the transport copes). */
#ifndef SRV_HTTP_H
#define SRV_HTTP_H

#include <stdbool.h>
#include <stdint.h>

#include "core/rt_buf.h"
#include "proto_wire/pw_http1.h"
#include "server/srv_auth.h"

typedef struct srv_conn srv_conn;
typedef struct srv_shard srv_shard;

/* Extra response header lines one answer may carry ("Name: value\r\n" each): the dashboard's
 * ETag, Cache-Control, Content-Encoding and security headers fit in a quarter of it. */
#define SRV_HTTP_HDR_BYTES 1024u

typedef enum srv_http_when {
    SRV_HTTP_NOW = 0,   /* answered: the call's fields hold the answer */
    SRV_HTTP_LATER = 1, /* srv_http_call_done comes later */
} srv_http_when;

typedef struct srv_http_call {
    srv_conn *c; /* held until the answer */
    /* The request. Views borrow the transport's buffers and are valid during the handler call
     * only (h2c requests are gone once it returns). */
    pw_http1_view method, path, query; /* path without its query; query without its '?' */
    pw_http1_view body;                /* HTTP/1.1 with Content-Length; else empty */
    pw_http1_view authz;               /* the Authorization header (HTTP/1.1 and h2c), or empty */
    const pw_http1_request *h1;        /* the head's headers; NULL for h2c (no headers) */
    /* The answer. */
    int status;
    const char *reason; /* HTTP/1.1 reason phrase (static) */
    const char *ctype;  /* static */
    buf body_out;
    char hdr[SRV_HTTP_HDR_BYTES]; /* extra header lines, hdr_len bytes */
    size_t hdr_len;
    /* Transport state (srv_http1.c). */
    bool h2;
    uint32_t sid;
    size_t consumed; /* HTTP/1.1: the request's bytes in c->in (head and body) */
    bool head_only, close_conn;
    bool in_handler, ready;
} srv_http_call;

/* Sets the answer to a short text (status, reason, text/plain). */
void srv_http_text(srv_http_call *hc, int status, const char *reason, const char *text);
/* Appends one header line "name: value\r\n" to the answer; false when it does not fit. */
bool srv_http_header(srv_http_call *hc, const char *name, const char *value);
/* A request header's value (case-insensitive name), or {NULL, 0} when absent or over h2c. */
pw_http1_view srv_http_req_header(const srv_http_call *hc, const char *name);
/* The answer of a SRV_HTTP_LATER handler is ready: sends it and frees the call. */
void srv_http_call_done(srv_http_call *hc);
/* The shard the request arrived on. */
srv_shard *srv_http_shard(const srv_http_call *hc);
/* The --auth-file check of this request (srv_auth_http with its Authorization header and its
 * connection's TLS peer: a bearer token, else a verified client certificate): true when allowed (always without --auth-file). false: the answer's status is set to 401 (with
 * WWW-Authenticate: Bearer) or 403 and its reason; the caller writes the body. `name` borrowed
 * for the call. */
bool srv_http_authorize(srv_http_call *hc, srv_auth_perm perm, srv_auth_kind kind, const char *name,
                        size_t len);
/* Whether the request's peer is a loopback address (127.0.0.0/8, ::1, ::ffff:127.x). */
bool srv_http_peer_loopback(const srv_http_call *hc);

/* srv_api.c: /api/v1/... */
srv_http_when srv_api_handle(srv_http_call *hc);
/* srv_ui.c: / and /ui/... (GET and HEAD) */
srv_http_when srv_ui_handle(srv_http_call *hc);

#endif
