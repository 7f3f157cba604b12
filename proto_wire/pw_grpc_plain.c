/* proto_wire/pw_grpc_plain: plain HTTP answers on a gRPC connection — a request that is not gRPC
 * (GET /healthz over h2c) handed to the connection's plain handler, whose response goes out as
 * HEADERS (:status, content-type, content-length) and DATA. A body larger than the stream's
 * pending cap is kept here and fed to the stream on on_stream_writable; at most one response
 * per open stream, so their number is bounded by SETTINGS_MAX_CONCURRENT_STREAMS. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rt_alloc.h"
#include "proto_wire/pw_grpc_server_int.h"

typedef struct pw_grpc_plain {
    uint32_t sid;
    buf body;     /* the bytes not yet accepted by the stream */
    bool head;    /* a HEAD request: headers only */
    bool waiting; /* the handler answers later (pw_grpc_conn_plain_answer) */
    /* A submit made outside the session's callbacks runs the events it causes before it
     * returns: on_stream_writable (its DATA went out at once) and on_stream_close (its
     * END_STREAM did). While we submit (busy) those only leave a note, acted on after. */
    bool busy, again, dropped;
    struct pw_grpc_plain *next;
} pw_grpc_plain;

static pw_grpc_plain **find(pw_grpc_conn *g, uint32_t sid)
{
    pw_grpc_plain **pp = &g->plains;
    while (*pp && (*pp)->sid != sid) pp = &(*pp)->next;
    return pp;
}

static void unlink_free(pw_grpc_conn *g, pw_grpc_plain *p)
{
    pw_grpc_plain **pp = &g->plains;
    while (*pp && *pp != p) pp = &(*pp)->next;
    if (*pp) *pp = p->next;
    buf_deinit(&p->body);
    rt_free(p);
}

/* Feeds the stream what it accepts, again while it reports room during the submit; frees p
 * once all went, on an error, or when the stream closed meanwhile. */
static void pump(pw_grpc_conn *g, pw_grpc_plain *p)
{
    bool done = false;
    p->busy = true;
    do {
        p->again = false;
        size_t n = buf_size(&p->body);
        ssize_t r = pw_h2_submit_data(g->h2, p->sid, buf_begin(&p->body), n, true);
        if (r == -ENOBUFS) continue; /* flow control: on_stream_writable brings us back */
        if (r < 0) {
            /* A failed reset has failed the session: the connection ends anyway. */
            if (!p->dropped) (void)pw_h2_submit_rst(g->h2, p->sid, PW_H2_INTERNAL_ERROR);
            done = true;
        } else if ((size_t)r == n) {
            done = true;
        } else {
            buf_consume(&p->body, (size_t)r);
        }
    } while (!done && p->again && !p->dropped);
    p->busy = false;
    if (done || p->dropped) unlink_free(g, p);
    pw_grpc_conn_touch(g);
}

/* Sends the headers of p (its body set) and starts the body. */
static void start(pw_grpc_conn *g, pw_grpc_plain *p, int status, const char *ctype)
{
    p->waiting = false;
    char st[8], clen[24];
    int sn = snprintf(st, sizeof st, "%d", status >= 100 && status <= 599 ? status : 500);
    int cn = snprintf(clen, sizeof clen, "%zu", buf_size(&p->body));
    if (p->head) buf_consume(&p->body, buf_size(&p->body));
    pw_h2_header h[3] = {{":status", 7, st, (size_t)sn, 0},
                         {"content-type", 12, ctype, strlen(ctype), 0},
                         {"content-length", 14, clen, (size_t)cn, 0}};
    bool empty = buf_size(&p->body) == 0;
    p->busy = true;
    int r = pw_h2_submit_headers(g->h2, p->sid, h, 3, empty);
    p->busy = false;
    /* Headers that could not be queued (out of memory): reset, or the client waits forever. */
    if (r < 0 && !p->dropped) (void)pw_h2_submit_rst(g->h2, p->sid, PW_H2_INTERNAL_ERROR);
    if (r < 0 || empty || p->dropped) {
        unlink_free(g, p);
        pw_grpc_conn_touch(g);
        return;
    }
    pump(g, p);
}

void pw_grpc_plain_respond(pw_grpc_conn *g, uint32_t sid, const pw_grpc_plain_req *req)
{
    pw_grpc_plain *p = rt_calloc(1, sizeof *p);
    if (!p) { /* out of memory: reset (a failed reset has failed the whole session) */
        (void)pw_h2_submit_rst(g->h2, sid, PW_H2_INTERNAL_ERROR);
        return;
    }
    p->sid = sid;
    p->head = req->method_len == 4 && memcmp(req->method, "HEAD", 4) == 0;
    pw_grpc_plain_resp resp = {.status = 500, .ctype = "text/plain"};
    buf_init(&resp.body, PW_GRPC_PLAIN_BODY_BYTES_MAX);
    g->plain(g->user, req, &resp);
    p->body = resp.body;
    p->next = g->plains;
    g->plains = p;
    if (resp.later) {
        buf_consume(&p->body, buf_size(&p->body));
        p->waiting = true; /* pw_grpc_conn_plain_answer */
        return;
    }
    start(g, p, resp.status, resp.ctype);
}

int pw_grpc_conn_plain_answer(pw_grpc_conn *g, uint32_t sid, int status, const char *ctype,
                              buf *body)
{
    pw_grpc_plain *p = *find(g, sid);
    if (!p || !p->waiting) return -ENOENT;
    buf t = p->body;
    p->body = *body;
    *body = t;
    buf_consume(body, buf_size(body));
    start(g, p, status, ctype);
    return 0;
}

void pw_grpc_plain_pump(pw_grpc_conn *g, uint32_t sid)
{
    pw_grpc_plain *p = *find(g, sid);
    if (!p || p->waiting) return;
    if (p->busy) p->again = true;
    else pump(g, p);
}

void pw_grpc_plain_drop(pw_grpc_conn *g, uint32_t sid)
{
    pw_grpc_plain *p = *find(g, sid);
    if (!p) return;
    if (p->busy) p->dropped = true; /* the submit on the stack frees it */
    else unlink_free(g, p);
}

void pw_grpc_plain_drop_all(pw_grpc_conn *g)
{
    while (g->plains) unlink_free(g, g->plains);
}
