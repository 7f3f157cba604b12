/* proto_wire/pw_grpc_plain: plain HTTP answers on a gRPC connection — a request that is not gRPC
 * (GET /healthz over h2c) handed to the connection's plain handler, whose response goes out as
 * HEADERS (:status, content-type, content-length) and DATA. A body larger than the stream's
 * pending cap is kept here and fed to the stream on on_stream_writable; at most one response
 * per open stream, so their number is bounded by SETTINGS_MAX_CONCURRENT_STREAMS. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto_wire/pw_grpc_server_int.h"

typedef struct pw_grpc_plain {
    uint32_t sid;
    buf body; /* the bytes not yet accepted by the stream */
    struct pw_grpc_plain *next;
} pw_grpc_plain;

static pw_grpc_plain **find(pw_grpc_conn *g, uint32_t sid)
{
    pw_grpc_plain **pp = &g->plains;
    while (*pp && (*pp)->sid != sid) pp = &(*pp)->next;
    return pp;
}

static void unlink_free(pw_grpc_plain **pp)
{
    pw_grpc_plain *p = *pp;
    *pp = p->next;
    buf_deinit(&p->body);
    free(p);
}

/* Feeds the stream what it accepts; frees the response once all went (or on an error). */
static void pump(pw_grpc_conn *g, pw_grpc_plain **pp)
{
    pw_grpc_plain *p = *pp;
    size_t n = buf_size(&p->body);
    ssize_t r = pw_h2_submit_data(g->h2, p->sid, buf_begin(&p->body), n, true);
    if (r == -ENOBUFS) return; /* flow control: on_stream_writable brings us back */
    if (r < 0) {
        pw_h2_submit_rst(g->h2, p->sid, PW_H2_INTERNAL_ERROR);
        unlink_free(pp);
    } else if ((size_t)r == n) {
        unlink_free(pp);
    } else {
        buf_consume(&p->body, (size_t)r);
    }
    pw_grpc_conn_touch(g);
}

void pw_grpc_plain_respond(pw_grpc_conn *g, uint32_t sid, const pw_grpc_plain_req *req)
{
    pw_grpc_plain *p = calloc(1, sizeof *p);
    if (!p) {
        pw_h2_submit_rst(g->h2, sid, PW_H2_INTERNAL_ERROR);
        return;
    }
    p->sid = sid;
    pw_grpc_plain_resp resp = {.status = 500, .ctype = "text/plain"};
    buf_init(&resp.body, PW_GRPC_PLAIN_BODY_BYTES_MAX);
    g->plain(g->user, req, &resp);
    p->body = resp.body;
    char status[8], clen[24];
    int sn = snprintf(status, sizeof status, "%d", resp.status >= 100 && resp.status <= 599 ? resp.status : 500);
    int cn = snprintf(clen, sizeof clen, "%zu", buf_size(&p->body));
    bool head = req->method_len == 4 && memcmp(req->method, "HEAD", 4) == 0;
    if (head) buf_consume(&p->body, buf_size(&p->body));
    pw_h2_header h[3] = {{":status", 7, status, (size_t)sn, 0},
                         {"content-type", 12, resp.ctype, strlen(resp.ctype), 0},
                         {"content-length", 14, clen, (size_t)cn, 0}};
    bool empty = buf_size(&p->body) == 0;
    if (pw_h2_submit_headers(g->h2, sid, h, 3, empty) < 0 || empty) {
        buf_deinit(&p->body);
        free(p);
        return;
    }
    p->next = g->plains;
    g->plains = p;
    pump(g, &g->plains);
}

void pw_grpc_plain_pump(pw_grpc_conn *g, uint32_t sid)
{
    pw_grpc_plain **pp = find(g, sid);
    if (*pp) pump(g, pp);
}

void pw_grpc_plain_drop(pw_grpc_conn *g, uint32_t sid)
{
    pw_grpc_plain **pp = find(g, sid);
    if (*pp) unlink_free(pp);
}

void pw_grpc_plain_drop_all(pw_grpc_conn *g)
{
    while (g->plains) unlink_free(&g->plains);
}
