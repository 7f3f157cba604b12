/* server/srv_http1: the small HTTP/1.1 endpoints on the gRPC port.
 *
 *   GET /healthz  -> 200 "ok" (503 "draining" during a drain)
 *   GET /metrics  -> 200 Prometheus text exposition
 *   other paths   -> 404; other methods on known paths -> 405; malformed -> 400; huge -> 431
 *
 * Requests with a body are answered and the connection is closed (we do not read bodies).
 * The same answers go to plain (non-gRPC) requests on HTTP/2 connections: srv_conn.c hands
 * them here through pw_grpc_conn_set_plain (srv_http_on_h2_request). */
#include <stdio.h>
#include <string.h>

#include "core/rt_clock.h"
#include "proto_wire/pw_http1.h"
#include "server/srv_internal.h"

static void respond(srv_conn *c, int status, const char *reason, const char *ctype,
                    const char *body, size_t blen, bool close_conn)
{
    char head[512];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s\r\n", status,
                     reason, ctype, blen, close_conn ? "Connection: close\r\n" : "");
    if (buf_append(&c->out, head, (size_t)n) < 0 || buf_append(&c->out, body, blen) < 0) {
        srv_conn_close_after_flush(c);
        return;
    }
    if (close_conn) srv_conn_close_after_flush(c);
}

static void metric(buf *out, const char *name, const char *type, const char *help, uint64_t v)
{
    char line[512];
    int n = snprintf(line, sizeof line, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n", name, help, name,
                     type, name, (unsigned long long)v);
    buf_append(out, line, (size_t)n);
}

static void metrics_body(srv_runtime *rt, buf *out)
{
    uint64_t acc = 0, open = 0, rej = 0, h1 = 0, bin = 0, bout = 0, perr = 0;
    for (int i = 0; i < rt->nshards; i++) {
        srv_counters *k = &rt->shards[i].ctr;
        acc += atomic_load_explicit(&k->conns_accepted, memory_order_relaxed);
        open += atomic_load_explicit(&k->conns_open, memory_order_relaxed);
        rej += atomic_load_explicit(&k->conns_rejected, memory_order_relaxed);
        h1 += atomic_load_explicit(&k->http1_requests, memory_order_relaxed);
        bin += atomic_load_explicit(&k->bytes_in, memory_order_relaxed);
        bout += atomic_load_explicit(&k->bytes_out, memory_order_relaxed);
        perr += atomic_load_explicit(&k->proto_errors, memory_order_relaxed);
    }
    metric(out, "ringq_connections_accepted_total", "counter", "Connections accepted.", acc);
    metric(out, "ringq_connections_open", "gauge", "Connections open now.", open);
    metric(out, "ringq_connections_rejected_total", "counter", "Connections refused (limit or drain).", rej);
    metric(out, "ringq_http1_requests_total", "counter", "HTTP/1.1 requests served.", h1);
    metric(out, "ringq_bytes_received_total", "counter", "Bytes received.", bin);
    metric(out, "ringq_bytes_sent_total", "counter", "Bytes sent.", bout);
    metric(out, "ringq_protocol_errors_total", "counter", "Connections ended by a protocol error.", perr);
    metric(out, "ringq_shards", "gauge", "Shard threads.", (uint64_t)rt->nshards);
    metric(out, "ringq_draining", "gauge", "1 while draining.", (uint64_t)atomic_load(&rt->draining));
    if (rt->hooks.metrics) rt->hooks.metrics(out, rt->hooks.ud);
}

/* The answer to `method path` (HTTP/1.1 or HTTP/2 alike): status, reason, content-type and
 * the body appended to `body`. A query string is ignored. HEAD is answered like GET (the
 * caller drops the body). *close: the connection should close after it (draining). */
typedef struct http_answer {
    int status;
    const char *reason;
    const char *ctype;
    bool close;
} http_answer;

static http_answer answer(srv_shard *sh, pw_http1_view method, pw_http1_view path, buf *body)
{
    for (size_t i = 0; i < path.n; i++)
        if (path.p[i] == '?') path.n = i;
    bool get = pw_http1_view_eq(method, "GET") || pw_http1_view_eq(method, "HEAD");
    bool healthz = pw_http1_view_eq(path, "/healthz"), metrics = pw_http1_view_eq(path, "/metrics");
    if (!healthz && !metrics) {
        buf_append(body, "not found\n", 10);
        return (http_answer){404, "Not Found", "text/plain", false};
    }
    if (!get) {
        buf_append(body, "method not allowed\n", 19);
        return (http_answer){405, "Method Not Allowed", "text/plain", false};
    }
    if (healthz && sh->draining) {
        buf_append(body, "draining\n", 9);
        return (http_answer){503, "Service Unavailable", "text/plain", true};
    }
    if (healthz) {
        buf_append(body, "ok\n", 3);
        return (http_answer){200, "OK", "text/plain", false};
    }
    metrics_body(sh->rt, body);
    return (http_answer){200, "OK", "text/plain; version=0.0.4", false};
}

/* Plain requests on an HTTP/2 connection (pw_grpc_conn_set_plain): the same answers. */
void srv_http_on_h2_request(void *user, const pw_grpc_plain_req *req, pw_grpc_plain_resp *resp)
{
    srv_conn *c = user;
    pw_http1_view m = {req->method, req->method_len}, path = {req->path, req->path_len};
    http_answer a = answer(c->sh, m, path, &resp->body);
    resp->status = a.status;
    resp->ctype = a.ctype;
}

void srv_http1_on_input(srv_conn *c)
{
    while (!c->close_after_flush && buf_size(&c->in) > 0) {
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
        atomic_store_explicit(&c->sh->ctr.http1_requests,
                              atomic_load_explicit(&c->sh->ctr.http1_requests, memory_order_relaxed) + 1,
                              memory_order_relaxed);
        bool close_conn = !req.keep_alive || req.has_body || c->sh->draining;
        bool head_only = pw_http1_view_eq(req.method, "HEAD");
        buf body;
        buf_init(&body, PW_GRPC_PLAIN_BODY_BYTES_MAX);
        http_answer a = answer(c->sh, req.method, req.target, &body);
        respond(c, a.status, a.reason, a.ctype, (const char *)buf_begin(&body),
                head_only ? 0 : buf_size(&body), close_conn || a.close);
        buf_deinit(&body);
        buf_consume(&c->in, (size_t)r);
    }
}
