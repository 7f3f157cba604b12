/* server/srv_http1: plain HTTP on the gRPC port (srv_http.h).
 *
 *   GET /healthz   -> 200 "ok" (503 "draining" during a drain); always open
 *   GET /metrics   -> 200 Prometheus text exposition; with --auth-file it needs a bearer token
 *                     holding `metrics` on `*` (401 without a known token, 403 without it)
 *   /api/v1/...    -> the JSON API (srv_api.c, docs/http-api.md; checked per route there)
 *   /, /ui/...     -> the dashboard's files (srv_ui.c; no data: open like /healthz)
 *   other paths    -> 404; other methods on known paths -> 405; malformed -> 400; huge -> 431
 *
 * HTTP/1.1 requests may carry a body by Content-Length (at most SRV_HTTP_BODY_BYTES_MAX: 413
 * and close beyond); Transfer-Encoding (chunked) is refused with 411 and close. Keep-alive and
 * pipelining: requests are answered in order, one at a time (a request whose answer is being
 * gathered holds the ones behind it in c->in). The same answers go to plain (non-gRPC) requests
 * on HTTP/2 connections, which carry no headers and no body: srv_conn.c hands them here through
 * pw_grpc_conn_set_plain (srv_http_on_h2_request). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/rt_alloc.h"
#include "core/rt_clock.h"
#include "server/srv_auth.h"
#include "server/srv_http.h"
#include "server/srv_internal.h"
#include "server/srv_metrics.h"

#define METRICS_CTYPE "text/plain; version=0.0.4"

/* A short text body. Out of memory: the status line alone still answers (the text is a
 * courtesy), so the body is left empty rather than half-written. */
static void put_text(buf *body, const char *text)
{
    if (buf_append(body, text, strlen(text)) < 0) buf_truncate(body, 0);
}

void srv_http_text(srv_http_call *hc, int status, const char *reason, const char *text)
{
    hc->status = status;
    hc->reason = reason;
    hc->ctype = "text/plain";
    buf_truncate(&hc->body_out, 0);
    put_text(&hc->body_out, text);
}

bool srv_http_header(srv_http_call *hc, const char *name, const char *value)
{
    int n = snprintf(hc->hdr + hc->hdr_len, sizeof hc->hdr - hc->hdr_len, "%s: %s\r\n", name,
                     value);
    if (n < 0 || (size_t)n >= sizeof hc->hdr - hc->hdr_len) return false;
    hc->hdr_len += (size_t)n;
    return true;
}

pw_http1_view srv_http_req_header(const srv_http_call *hc, const char *name)
{
    for (size_t i = 0; hc->h1 && i < hc->h1->nheaders; i++)
        if (pw_http1_view_eq(hc->h1->names[i], name)) return hc->h1->values[i];
    return (pw_http1_view){NULL, 0};
}

srv_shard *srv_http_shard(const srv_http_call *hc) { return hc->c->sh; }

bool srv_http_authorize(srv_http_call *hc, srv_auth_perm perm, srv_auth_kind kind, const char *name,
                        size_t len)
{
    int st = srv_auth_http(hc->authz.p, hc->authz.n, srv_conn_tls_peer(hc->c), perm, kind, name,
                           len);
    if (st == 200) return true;
    hc->status = st;
    hc->reason = st == 401 ? "Unauthorized" : "Forbidden";
    if (st == 401) (void)srv_http_header(hc, "WWW-Authenticate", "Bearer");
    return false;
}

bool srv_http_peer_loopback(const srv_http_call *hc)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getpeername(hc->c->fd, (struct sockaddr *)&ss, &len) != 0) return false;
    if (ss.ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;
        return (ntohl(a->sin_addr.s_addr) >> 24) == 127;
    }
    if (ss.ss_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)&ss)->sin6_addr;
        if (IN6_IS_ADDR_LOOPBACK(a)) return true;
        return IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127;
    }
    return false;
}

/* ---- the answer ---- */

static void h1_send(srv_http_call *hc)
{
    srv_conn *c = hc->c;
    char head[256];
    size_t blen = buf_size(&hc->body_out);
    bool close_conn = hc->close_conn;
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s", hc->status,
                     hc->reason ? hc->reason : "OK", hc->ctype, blen,
                     close_conn ? "Connection: close\r\n" : "");
    if (buf_append(&c->out, head, (size_t)n) < 0 || buf_append(&c->out, hc->hdr, hc->hdr_len) < 0 ||
        buf_append(&c->out, "\r\n", 2) < 0 ||
        (!hc->head_only && buf_append(&c->out, buf_begin(&hc->body_out), blen) < 0)) {
        srv_conn_close_after_flush(c);
        return;
    }
    if (close_conn) srv_conn_close_after_flush(c);
}

static void call_free(srv_http_call *hc)
{
    buf_deinit(&hc->body_out);
    rt_free(hc);
}

static srv_http_call *call_new(srv_conn *c)
{
    srv_http_call *hc = rt_calloc(1, sizeof *hc);
    if (!hc) return NULL;
    hc->c = c;
    buf_init(&hc->body_out, PW_GRPC_PLAIN_BODY_BYTES_MAX);
    return hc;
}

void srv_http_call_done(srv_http_call *hc)
{
    if (hc->in_handler) {
        hc->ready = true; /* the handler's caller sends it */
        return;
    }
    srv_conn *c = hc->c;
    if (hc->h2) {
        if (c->state != SRV_CONN_CLOSED && c->g)
            pw_grpc_conn_plain_answer(c->g, hc->sid, hc->status, hc->ctype, &hc->body_out);
        call_free(hc);
        srv_conn_release(c);
        return;
    }
    c->http1_waiting = false;
    if (c->state == SRV_CONN_OPEN) {
        h1_send(hc);
        buf_consume(&c->in, hc->consumed);
        call_free(hc);
        srv_http1_on_input(c); /* requests pipelined behind it */
        srv_conn_flush(c);
    } else {
        call_free(hc);
    }
    srv_conn_release(c);
}

/* ---- routing ---- */

static void metrics_done(void *ctx) { srv_http_call_done(ctx); }

static srv_http_when route_small(srv_http_call *hc, bool healthz)
{
    bool get = pw_http1_view_eq(hc->method, "GET") || pw_http1_view_eq(hc->method, "HEAD");
    if (!get) {
        srv_http_text(hc, 405, "Method Not Allowed", "method not allowed\n");
        return SRV_HTTP_NOW;
    }
    if (healthz && hc->c->sh->draining) {
        srv_http_text(hc, 503, "Service Unavailable", "draining\n");
        hc->close_conn = true;
        return SRV_HTTP_NOW;
    }
    if (healthz) {
        srv_http_text(hc, 200, "OK", "ok\n");
        return SRV_HTTP_NOW;
    }
    if (!srv_http_authorize(hc, SRV_AUTH_METRICS, SRV_AUTH_ALL, NULL, 0)) {
        srv_http_text(hc, hc->status, hc->reason,
                      hc->status == 401
                          ? "credentials required: send Authorization: Bearer <token>\n"
                          : "permission denied: missing metrics on every queue and stream (*)\n");
        return SRV_HTTP_NOW;
    }
    hc->status = 200;
    hc->reason = "OK";
    hc->ctype = METRICS_CTYPE;
    return srv_metrics_scrape(hc->c->sh, &hc->body_out, metrics_done, hc) == 1 ? SRV_HTTP_LATER
                                                                               : SRV_HTTP_NOW;
}

static bool has_prefix(pw_http1_view v, const char *p)
{
    size_t n = strlen(p);
    return v.n >= n && memcmp(v.p, p, n) == 0;
}

/* Splits the target into path and query, then hands the call to its handler. */
static srv_http_when route(srv_http_call *hc, pw_http1_view target)
{
    hc->path = target;
    hc->query = (pw_http1_view){target.p + target.n, 0};
    for (size_t i = 0; i < target.n; i++)
        if (target.p[i] == '?') {
            hc->path.n = i;
            hc->query = (pw_http1_view){target.p + i + 1, target.n - i - 1};
            break;
        }
    if (pw_http1_view_eq(hc->path, "/healthz")) return route_small(hc, true);
    if (pw_http1_view_eq(hc->path, "/metrics")) return route_small(hc, false);
    if (has_prefix(hc->path, "/api/")) return srv_api_handle(hc);
    if (pw_http1_view_eq(hc->path, "/") || has_prefix(hc->path, "/ui/") ||
        pw_http1_view_eq(hc->path, "/ui"))
        return srv_ui_handle(hc);
    srv_http_text(hc, 404, "Not Found", "not found\n");
    return SRV_HTTP_NOW;
}

/* Runs the handler; true when the answer is ready now (sent by the caller), false when it
 * comes later (the call belongs to the handler until srv_http_call_done). */
static bool run_handler(srv_http_call *hc, pw_http1_view target)
{
    hc->in_handler = true;
    srv_conn_hold(hc->c); /* released by srv_http_call_done, or below */
    srv_http_when w = route(hc, target);
    hc->in_handler = false;
    /* The request's views die with the transport's buffers: nothing may read them after. */
    hc->h1 = NULL;
    hc->method = hc->path = hc->query = hc->body = hc->authz = (pw_http1_view){NULL, 0};
    if (w == SRV_HTTP_LATER && !hc->ready) return false;
    srv_conn_release(hc->c);
    return true;
}

/* ---- HTTP/2 (pw_grpc_conn_set_plain) ---- */

void srv_http_on_h2_request(void *user, const pw_grpc_plain_req *req, pw_grpc_plain_resp *resp)
{
    srv_conn *c = user;
    srv_http_call *hc = call_new(c);
    if (!hc) {
        resp->status = 503;
        resp->ctype = "text/plain";
        put_text(&resp->body, "out of memory\n");
        return;
    }
    hc->h2 = true;
    hc->sid = req->stream_id;
    hc->method = (pw_http1_view){req->method, req->method_len};
    hc->authz = (pw_http1_view){req->authorization, req->authorization_len};
    if (!run_handler(hc, (pw_http1_view){req->path, req->path_len})) {
        resp->later = true; /* srv_http_call_done answers */
        return;
    }
    resp->status = hc->status;
    resp->ctype = hc->ctype;
    buf t = resp->body; /* complete now: hand the body over */
    resp->body = hc->body_out;
    hc->body_out = t;
    call_free(hc);
}

/* ---- HTTP/1.1 ---- */

static void h1_refuse(srv_conn *c, int status, const char *reason, const char *text)
{
    char head[256];
    size_t tl = strlen(text);
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n",
                     status, reason, tl);
    if (buf_append(&c->out, head, (size_t)n) == 0) (void)buf_append(&c->out, text, tl);
    srv_conn_close_after_flush(c);
}

/* A parsed head: checks its body framing. Returns the request's total bytes (head and body),
 * 0 when the body is still arriving, or -1 after refusing it (the connection closes). */
static long h1_request_bytes(srv_conn *c, const pw_http1_request *req, long head)
{
    if (req->chunked) {
        h1_refuse(c, 411, "Length Required",
                  "chunked bodies are not accepted: send Content-Length\n");
        return -1;
    }
    if (req->content_length > SRV_HTTP_BODY_BYTES_MAX) {
        h1_refuse(c, 413, "Content Too Large", "request body over 65536 bytes\n");
        return -1;
    }
    size_t total = (size_t)head + (size_t)req->content_length;
    return buf_size(&c->in) < total ? 0 : (long)total;
}

void srv_http1_on_input(srv_conn *c)
{
    while (c->state == SRV_CONN_OPEN && !c->http1_waiting && buf_size(&c->in) > 0) {
        pw_http1_request req;
        long r = pw_http1_parse_request(buf_begin(&c->in), buf_size(&c->in), &req);
        if (r == PW_HTTP1_PARTIAL) return;
        if (r == PW_HTTP1_INVALID) {
            h1_refuse(c, 400, "Bad Request", "bad request\n");
            return;
        }
        if (r == PW_HTTP1_TOO_LARGE) {
            h1_refuse(c, 431, "Request Header Fields Too Large",
                      "request header fields too large\n");
            return;
        }
        long total = h1_request_bytes(c, &req, r);
        if (total <= 0) return; /* refused, or the body is still arriving */
        atomic_store_explicit(
            &c->sh->ctr.http1_requests,
            atomic_load_explicit(&c->sh->ctr.http1_requests, memory_order_relaxed) + 1,
            memory_order_relaxed);
        srv_http_call *hc = call_new(c);
        if (!hc) {
            h1_refuse(c, 503, "Service Unavailable", "out of memory\n");
            return;
        }
        hc->method = req.method;
        hc->h1 = &req;
        hc->authz = srv_http_req_header(hc, "authorization");
        hc->body = (pw_http1_view){(const char *)buf_begin(&c->in) + r, (size_t)(total - r)};
        hc->consumed = (size_t)total;
        hc->head_only = pw_http1_view_eq(req.method, "HEAD");
        hc->close_conn = !req.keep_alive || c->sh->draining;
        /* Waiting before the handler starts: its answer may come at once (one shard). */
        c->http1_waiting = true;
        if (!run_handler(hc, req.target)) return; /* srv_http_call_done continues */
        c->http1_waiting = false;
        h1_send(hc);
        buf_consume(&c->in, hc->consumed);
        call_free(hc);
    }
}
