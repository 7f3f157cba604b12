/* server/srv_http1: the small HTTP/1.1 endpoints on the gRPC port.
 *
 *   GET /healthz  -> 200 "ok" (503 "draining" during a drain); always open
 *   GET /metrics  -> 200 Prometheus text exposition; with --auth-file it needs a bearer token
 *                    holding `metrics` on `*` (401 without a known token, 403 without it)
 *   other paths   -> 404; other methods on known paths -> 405; malformed -> 400; huge -> 431
 *
 * Requests with a body are answered and the connection is closed (we do not read bodies).
 * The same answers go to plain (non-gRPC) requests on HTTP/2 connections: srv_conn.c hands
 * them here through pw_grpc_conn_set_plain (srv_http_on_h2_request). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rt_alloc.h"
#include "core/rt_clock.h"
#include "proto_wire/pw_http1.h"
#include "server/srv_auth.h"
#include "server/srv_internal.h"
#include "server/srv_metrics.h"

static void respond(srv_conn *c, int status, const char *reason, const char *ctype,
                    const char *body, size_t blen, bool close_conn)
{
    char head[512];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s%s\r\n",
                     status, reason, ctype, blen, close_conn ? "Connection: close\r\n" : "",
                     status == 401 ? "WWW-Authenticate: Bearer\r\n" : "");
    if (buf_append(&c->out, head, (size_t)n) < 0 || buf_append(&c->out, body, blen) < 0) {
        srv_conn_close_after_flush(c);
        return;
    }
    if (close_conn) srv_conn_close_after_flush(c);
}

/* The answer to `method path` (HTTP/1.1 or HTTP/2 alike): status, reason, content-type and
 * the body appended to `body`. A query string is ignored. HEAD is answered like GET (the
 * caller drops the body). *close: the connection should close after it (draining). Status 0:
 * GET /metrics, which the caller scrapes (srv_metrics_scrape, maybe asynchronously). */
typedef struct http_answer {
    int status;
    const char *reason;
    const char *ctype;
    bool close;
} http_answer;

#define METRICS_CTYPE "text/plain; version=0.0.4"

/* A short text body. Out of memory: the status line alone still answers (the text is a
 * courtesy), so the body is left empty rather than half-written. */
static void put_text(buf *body, const char *text)
{
    if (buf_append(body, text, strlen(text)) < 0) buf_truncate(body, 0);
}

static http_answer answer(srv_shard *sh, pw_http1_view method, pw_http1_view path,
                          pw_http1_view authz, buf *body)
{
    for (size_t i = 0; i < path.n; i++)
        if (path.p[i] == '?') path.n = i;
    bool get = pw_http1_view_eq(method, "GET") || pw_http1_view_eq(method, "HEAD");
    bool healthz = pw_http1_view_eq(path, "/healthz"), metrics = pw_http1_view_eq(path, "/metrics");
    if (!healthz && !metrics) {
        put_text(body, "not found\n");
        return (http_answer){404, "Not Found", "text/plain", false};
    }
    if (!get) {
        put_text(body, "method not allowed\n");
        return (http_answer){405, "Method Not Allowed", "text/plain", false};
    }
    if (healthz && sh->draining) {
        put_text(body, "draining\n");
        return (http_answer){503, "Service Unavailable", "text/plain", true};
    }
    if (healthz) {
        put_text(body, "ok\n");
        return (http_answer){200, "OK", "text/plain", false};
    }
    int allowed = srv_auth_http(authz.p, authz.n, SRV_AUTH_METRICS, SRV_AUTH_ALL, NULL, 0);
    if (allowed == 401) {
        put_text(body, "credentials required: send Authorization: Bearer <token>\n");
        return (http_answer){401, "Unauthorized", "text/plain", false};
    }
    if (allowed != 200) {
        put_text(body, "permission denied: missing metrics on every queue and stream (*)\n");
        return (http_answer){403, "Forbidden", "text/plain", false};
    }
    return (http_answer){0, "OK", METRICS_CTYPE, false};
}

/* ---- HTTP/2 (pw_grpc_conn_set_plain) ---- */

typedef struct h2_scrape {
    srv_conn *c; /* held until done */
    uint32_t sid;
    buf body;
    bool in_handler; /* srv_http_on_h2_request is on the stack: it answers itself */
    bool ready;      /* the gathering finished while in_handler */
} h2_scrape;

static void h2_scrape_done(void *ctx)
{
    h2_scrape *s = ctx;
    if (s->in_handler) {
        s->ready = true; /* every partition answered at once: the handler sends it */
        return;
    }
    srv_conn *c = s->c;
    if (c->state != SRV_CONN_CLOSED && c->g)
        pw_grpc_conn_plain_answer(c->g, s->sid, 200, METRICS_CTYPE, &s->body);
    buf_deinit(&s->body);
    rt_free(s);
    srv_conn_release(c);
}

/* Plain requests on an HTTP/2 connection: the same answers as over HTTP/1.1. */
void srv_http_on_h2_request(void *user, const pw_grpc_plain_req *req, pw_grpc_plain_resp *resp)
{
    srv_conn *c = user;
    pw_http1_view m = {req->method, req->method_len}, path = {req->path, req->path_len},
                  authz = {req->authorization, req->authorization_len};
    http_answer a = answer(c->sh, m, path, authz, &resp->body);
    resp->status = a.status;
    resp->ctype = a.ctype;
    if (a.status != 0) return;
    resp->status = 200;
    h2_scrape *s = rt_calloc(1, sizeof *s);
    if (!s) {
        resp->status = 503;
        resp->ctype = "text/plain";
        put_text(&resp->body, "out of memory\n");
        return;
    }
    *s = (h2_scrape){.c = c, .sid = req->stream_id, .in_handler = true};
    buf_init(&s->body, PW_GRPC_PLAIN_BODY_BYTES_MAX);
    int r = srv_metrics_scrape(c->sh, &s->body, h2_scrape_done, s);
    s->in_handler = false;
    if (r == 1 && !s->ready) {
        srv_conn_hold(c);
        resp->later = true; /* h2_scrape_done answers */
        return;
    }
    buf t = resp->body; /* complete now: hand the body over */
    resp->body = s->body;
    s->body = t;
    buf_deinit(&s->body);
    rt_free(s);
}

/* ---- HTTP/1.1 ---- */

typedef struct h1_scrape {
    srv_conn *c; /* held until done */
    buf body;
    size_t consumed; /* the request's bytes in c->in */
    bool head_only, close_conn;
} h1_scrape;

static void h1_scrape_send(h1_scrape *s)
{
    srv_conn *c = s->c;
    respond(c, 200, "OK", METRICS_CTYPE, (const char *)buf_begin(&s->body),
            s->head_only ? 0 : buf_size(&s->body), s->close_conn);
    buf_consume(&c->in, s->consumed);
    buf_deinit(&s->body);
    rt_free(s);
}

static void h1_scrape_done(void *ctx)
{
    h1_scrape *s = ctx;
    srv_conn *c = s->c;
    c->http1_waiting = false;
    if (c->state != SRV_CONN_OPEN) {
        buf_deinit(&s->body);
        rt_free(s);
    } else {
        h1_scrape_send(s);
        srv_http1_on_input(c); /* requests pipelined behind it */
        srv_conn_flush(c);
    }
    srv_conn_release(c);
}

void srv_http1_on_input(srv_conn *c)
{
    while (c->state == SRV_CONN_OPEN && !c->http1_waiting && buf_size(&c->in) > 0) {
        pw_http1_request req;
        long r = pw_http1_parse_request(buf_begin(&c->in), buf_size(&c->in), &req);
        if (r == PW_HTTP1_PARTIAL) return;
        if (r == PW_HTTP1_INVALID) {
            static const char b[] = "bad request\n";
            respond(c, 400, "Bad Request", "text/plain", b, sizeof b - 1, true);
            return;
        }
        if (r == PW_HTTP1_TOO_LARGE) {
            static const char b[] = "request header fields too large\n";
            respond(c, 431, "Request Header Fields Too Large", "text/plain", b, sizeof b - 1, true);
            return;
        }
        atomic_store_explicit(
            &c->sh->ctr.http1_requests,
            atomic_load_explicit(&c->sh->ctr.http1_requests, memory_order_relaxed) + 1,
            memory_order_relaxed);
        bool close_conn = !req.keep_alive || req.has_body || c->sh->draining;
        bool head_only = pw_http1_view_eq(req.method, "HEAD");
        h1_scrape *s = rt_calloc(1, sizeof *s);
        if (!s) {
            respond(c, 503, "Service Unavailable", "text/plain", "out of memory\n", 14, true);
            return;
        }
        *s = (h1_scrape){
            .c = c, .consumed = (size_t)r, .head_only = head_only, .close_conn = close_conn};
        buf_init(&s->body, PW_GRPC_PLAIN_BODY_BYTES_MAX);
        pw_http1_view authz = {"", 0};
        for (size_t i = 0; i < req.nheaders; i++)
            if (pw_http1_view_eq(req.names[i], "authorization")) authz = req.values[i];
        http_answer a = answer(c->sh, req.method, req.target, authz, &s->body);
        if (a.status == 0) {
            /* Waiting before the scrape starts: its done may run at once (one shard). */
            c->http1_waiting = true;
            srv_conn_hold(c);
            if (srv_metrics_scrape(c->sh, &s->body, h1_scrape_done, s) == 1) return;
            c->http1_waiting = false; /* complete: nothing to gather */
            srv_conn_release(c);
            h1_scrape_send(s);
            continue;
        }
        respond(c, a.status, a.reason, a.ctype, (const char *)buf_begin(&s->body),
                head_only ? 0 : buf_size(&s->body), close_conn || a.close);
        buf_consume(&c->in, (size_t)r);
        buf_deinit(&s->body);
        rt_free(s);
    }
}
