/* proto_wire/pw_grpc_call: the call API handlers use — the call's life, metadata, finishing
 * with a status — and the plumbing that moves a call's queued output into its HTTP/2 stream
 * (headers, trailers, the pump). Sending messages is pw_grpc_send.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rt_alloc.h"
#include "proto_wire/pw_grpc_server_int.h"

/* One gzip context per thread: a deflate state is ~256 KiB, far too much per connection, and a
 * shard thread compresses one message at a time. */
static _Thread_local pw_gzip_ctx t_gzip;
static _Thread_local bool t_gzip_ready;

pw_gzip_ctx *pw_grpc_gzip(void)
{
    if (!t_gzip_ready) {
        pw_gzip_ctx_init(&t_gzip, -1);
        t_gzip_ready = true;
    }
    return &t_gzip;
}

void pw_grpc_thread_exit(void)
{
    if (t_gzip_ready) {
        pw_gzip_ctx_deinit(&t_gzip);
        t_gzip_ready = false;
    }
}

pw_grpc_call *pw_grpc_call_new(pw_grpc_conn *g, uint32_t sid, const pw_grpc_method *m)
{
    pw_grpc_call *c = rt_cache_get(&g->call_cache);
    if (!c) return NULL;
    memset(c, 0, PW_GRPC_CALL_CLEAR_BYTES);
    /* -ENOENT cannot happen while the session delivers the stream's headers; checked anyway. */
    if (pw_h2_stream_set_user(g->h2, sid, c) < 0) {
        rt_cache_put(&g->call_cache, c);
        return NULL;
    }
    c->conn = g;
    c->stream_id = sid;
    c->m = m;
    c->refs = 1; /* the connection's */
    c->deadline_ns = UINT64_MAX;
    pw_grpc_deframer_init(&c->df, g->srv->cfg.max_recv_message_bytes);
    /* Framed output may hold one full message plus a prefix beyond the high-water mark. */
    buf_init(&c->outq, PW_GRPC_CALL_OUTQ_HIGH_BYTES + g->srv->cfg.max_send_message_bytes + 64);
    c->next = g->calls;
    if (g->calls) g->calls->prev = c;
    g->calls = c;
    g->ncalls++;
    g->nactive++;
    g->last_call_ns = g->now_ns;
    return c;
}

void pw_grpc_conn_idle_trim(pw_grpc_conn *g)
{
    if (g->ncalls == 0 && g->now_ns >= g->last_call_ns &&
        g->now_ns - g->last_call_ns >= (uint64_t)PW_H2_IDLE_KEEP_MS * 1000000u)
        rt_cache_trim(&g->call_cache);
}

pw_grpc_call *pw_grpc_call_new_local(const pw_grpc_server *s, const pw_grpc_method *m,
                                     pw_grpc_local_fn fn, void *ud)
{
    if (!fn || m->kind != PW_GRPC_UNARY) return NULL;
    pw_grpc_call *c = rt_calloc(1, sizeof *c);
    if (!c) return NULL;
    c->m = m;
    c->refs = 1; /* the caller's */
    c->deadline_ns = UINT64_MAX;
    c->local_fn = fn;
    c->local_ud = ud;
    c->local_send_max = s->cfg.max_send_message_bytes;
    pw_grpc_deframer_init(&c->df, s->cfg.max_recv_message_bytes);
    buf_init(&c->outq, c->local_send_max + 64);
    return c;
}

bool pw_grpc_call_is_local(const pw_grpc_call *c) { return c->local_fn != NULL; }

static void free_out_md(pw_grpc_out_md *md, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        rt_free(md[i].name);
        rt_free(md[i].value);
    }
}

/* Frees what the call owns, not the call itself. */
static void call_release(pw_grpc_call *c)
{
    pw_grpc_deframer_deinit(&c->df);
    rt_free(c->held);
    if ((uint8_t *)c->md != c->md_inline) rt_free(c->md);
    free_out_md(c->init_md, c->ninit_md);
    free_out_md(c->trail_md, c->ntrail_md);
    rt_free(c->final_message);
    buf_deinit(&c->outq);
}

static void call_free(pw_grpc_call *c)
{
    call_release(c);
    rt_free(c);
}

void pw_grpc_call_ref(pw_grpc_call *c) { c->refs++; }

/* The last reference to a call detached while referenced: its memory goes back to its
 * connection's cache unless the connection is idle (pw_grpc_conn_idle_trim; as
 * pw_grpc_call_detach does when the connection held the last reference). */
static void call_free_home(pw_grpc_call *c)
{
    pw_grpc_conn *g = c->home;
    if (c->prev) c->prev->next = c->next;
    else g->out = c->next;
    if (c->next) c->next->prev = c->prev;
    call_release(c);
    rt_cache_put(&g->call_cache, c);
    pw_grpc_conn_idle_trim(g);
}

void pw_grpc_call_unref(pw_grpc_call *c)
{
    if (--c->refs != 0) return;
    if (c->home) call_free_home(c);
    else call_free(c);
}

void pw_grpc_conn_forget_out(pw_grpc_conn *g)
{
    for (pw_grpc_call *c = g->out, *n; c; c = n) {
        n = c->next;
        c->home = NULL;
        c->prev = c->next = NULL;
    }
    g->out = NULL;
}

static void mark_done(pw_grpc_call *c)
{
    if (c->done) return;
    c->done = true;
    if (c->conn) c->conn->nactive--;
}

void pw_grpc_call_detach(pw_grpc_call *c)
{
    pw_grpc_conn *g = c->conn;
    if (!g) return;
    mark_done(c);
    if (c->prev) c->prev->next = c->next;
    else g->calls = c->next;
    if (c->next) c->next->prev = c->prev;
    c->prev = c->next = NULL;
    g->ncalls--;
    if (!g->destroying) pw_h2_stream_set_user(g->h2, c->stream_id, NULL);
    c->conn = NULL;
    pw_grpc_conn_idle_trim(g); /* an idle connection keeps none */
    if (g->destroying) {
        pw_grpc_call_unref(c); /* freed by its last holder, to the allocator */
        return;
    }
    if (c->refs > 1) { /* freed by its last holder (a handler's job), to this cache */
        c->home = g;
        c->next = g->out;
        if (g->out) g->out->prev = c;
        g->out = c;
        c->refs--;
        return;
    }
    /* The connection held the last reference: the memory serves its next call. */
    c->refs = 0;
    call_release(c);
    rt_cache_put(&g->call_cache, c);
    pw_grpc_conn_idle_trim(g);
}

/* The call's one answered-RPC count (pw_grpc_conn_set_on_done). */
static void count_done(pw_grpc_call *c, pw_grpc_status st)
{
    pw_grpc_conn *g = c->conn;
    if (g && g->on_done) g->on_done(g->user, (int)(c->m - g->srv->methods), st);
}

void pw_grpc_call_abort(pw_grpc_call *c, pw_grpc_status st)
{
    bool was_finished = c->finished;
    if (!was_finished) count_done(c, st);
    mark_done(c);
    c->finished = true;
    if (!was_finished && !c->cancel_notified && c->m->on_cancel) {
        c->cancel_notified = true;
        pw_grpc_call_ref(c);
        c->m->on_cancel(c, st);
        pw_grpc_call_unref(c);
    }
}

void pw_grpc_call_set_user(pw_grpc_call *c, void *ud) { c->user = ud; }
void *pw_grpc_call_user(const pw_grpc_call *c) { return c->user; }
void *pw_grpc_call_method_ud(const pw_grpc_call *c) { return c->m->ud; }
void *pw_grpc_call_conn_user(const pw_grpc_call *c) { return c->conn ? c->conn->user : NULL; }
bool pw_grpc_call_done(const pw_grpc_call *c) { return c->done; }
uint64_t pw_grpc_call_deadline(const pw_grpc_call *c) { return c->deadline_ns; }
bool pw_grpc_call_request_compressed(const pw_grpc_call *c) { return c->last_compressed; }

const pw_grpc_md *pw_grpc_call_metadata(const pw_grpc_call *c, size_t *n)
{
    *n = c->nmd;
    return c->md;
}

const pw_grpc_method *pw_grpc_call_method(const pw_grpc_call *call) { return call->m; }

const pw_grpc_md *pw_grpc_call_find_metadata(const pw_grpc_call *c, const char *name)
{
    for (size_t i = 0; i < c->nmd; i++)
        if (strcmp(c->md[i].name, name) == 0) return &c->md[i];
    return NULL;
}

/* ---- response metadata ---- */

static int add_md(pw_grpc_out_md *arr, size_t *n, const char *name, const uint8_t *v, size_t len)
{
    size_t nl = strlen(name);
    if (!pw_grpc_md_name_valid(name, nl) || pw_grpc_md_is_reserved(name, nl)) return -EINVAL;
    bool bin = pw_grpc_md_is_bin(name, nl);
    if (!bin && !pw_grpc_md_value_valid(name, nl, (const char *)v, len)) return -EINVAL;
    if (*n >= PW_GRPC_OUT_MD_MAX) return -ENOSPC;
    size_t wl = bin ? pw_b64_encoded_len(len, false) : len;
    char *nm = rt_strdup(name), *val = rt_malloc(wl + 1);
    if (!nm || !val) {
        rt_free(nm);
        rt_free(val);
        return -ENOMEM;
    }
    if (bin) pw_b64_encode(val, v, len, false);
    else memcpy(val, v, len);
    val[wl] = 0;
    arr[*n] = (pw_grpc_out_md){nm, val, wl};
    (*n)++;
    return 0;
}

int pw_grpc_call_add_initial_metadata(pw_grpc_call *c, const char *name, const uint8_t *v,
                                      size_t len)
{
    if (c->done) return -ECANCELED;
    if (c->headers_sent) return -EALREADY;
    return add_md(c->init_md, &c->ninit_md, name, v, len);
}

int pw_grpc_call_add_trailing_metadata(pw_grpc_call *c, const char *name, const uint8_t *v,
                                       size_t len)
{
    if (c->done) return -ECANCELED;
    return add_md(c->trail_md, &c->ntrail_md, name, v, len);
}

void pw_grpc_call_set_compress(pw_grpc_call *c, bool on) { c->compress = on; }

/* ---- headers and trailers ---- */

#define HDRS_MAX (8 + PW_GRPC_OUT_MD_MAX)

static size_t put_md(pw_h2_header *h, size_t k, const pw_grpc_out_md *md, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h[k++] = (pw_h2_header){md[i].name, strlen(md[i].name), md[i].value, md[i].value_len, 0};
    return k;
}

/* The usual response headers and OK trailers, constant (pw_h2_submit_*_const): no metadata, no
 * compression, no message. */
static const pw_h2_header k_headers[3] = {PW_H2_HDR(":status", "200"),
                                          PW_H2_HDR("content-type", "application/grpc"),
                                          PW_H2_HDR("grpc-accept-encoding", "identity,gzip")};
static const pw_h2_header k_ok_trailers[1] = {PW_H2_HDR("grpc-status", "0")};

int pw_grpc_call_send_headers(pw_grpc_call *c)
{
    if (c->headers_sent) return 0;
    if (c->ninit_md == 0 && !pw_grpc_call_compressing(c)) {
        int r = pw_h2_submit_headers_const(c->conn->h2, c->stream_id, k_headers, 3, false);
        if (r == 0) c->headers_sent = true;
        return r;
    }
    pw_h2_header h[HDRS_MAX];
    size_t k = 0;
    h[k++] = (pw_h2_header)PW_H2_HDR(":status", "200");
    h[k++] = (pw_h2_header)PW_H2_HDR("content-type", "application/grpc");
    h[k++] = (pw_h2_header)PW_H2_HDR("grpc-accept-encoding", "identity,gzip");
    if (pw_grpc_call_compressing(c)) h[k++] = (pw_h2_header)PW_H2_HDR("grpc-encoding", "gzip");
    k = put_md(h, k, c->init_md, c->ninit_md);
    int r = pw_h2_submit_headers(c->conn->h2, c->stream_id, h, k, false);
    if (r == 0) c->headers_sent = true;
    return r;
}

static int send_trailers(pw_grpc_call *c)
{
    if (c->headers_sent && c->final_status == PW_GRPC_OK && !c->final_message &&
        c->ntrail_md == 0) {
        c->trailers_pending = false;
        return pw_h2_submit_trailers_const(c->conn->h2, c->stream_id, k_ok_trailers, 1);
    }
    pw_h2_header h[HDRS_MAX];
    size_t k = 0;
    static const char *const codes[] = {"0", "1",  "2",  "3",  "4",  "5",  "6",  "7", "8",
                                        "9", "10", "11", "12", "13", "14", "15", "16"};
    unsigned code = (unsigned)c->final_status <= PW_GRPC_STATUS_MAX ? (unsigned)c->final_status
                                                                    : 2u;
    const char *st = codes[code];
    size_t stl = strlen(st);
    bool trailers_only = !c->headers_sent;
    if (trailers_only) {
        h[k++] = (pw_h2_header)PW_H2_HDR(":status", "200");
        h[k++] = (pw_h2_header)PW_H2_HDR("content-type", "application/grpc");
        h[k++] = (pw_h2_header)PW_H2_HDR("grpc-accept-encoding", "identity,gzip");
        k = put_md(h, k, c->init_md, c->ninit_md);
    }
    h[k++] = (pw_h2_header){"grpc-status", 11, st, stl, 0};
    if (c->final_message && *c->final_message)
        h[k++] = (pw_h2_header){"grpc-message", 12, c->final_message, strlen(c->final_message), 0};
    k = put_md(h, k, c->trail_md, c->ntrail_md);
    c->trailers_pending = false;
    if (trailers_only) {
        c->headers_sent = true;
        return pw_h2_submit_headers(c->conn->h2, c->stream_id, h, k, true);
    }
    return pw_h2_submit_trailers(c->conn->h2, c->stream_id, h, k);
}

/* The stream cannot carry the rest of the answer (out of memory, a failed session): reset it
 * rather than leave the peer waiting for an end that never comes. Out of memory resets with
 * ENHANCE_YOUR_CALM, which gRPC clients report as RESOURCE_EXHAUSTED (gRPC's PROTOCOL-HTTP2.md),
 * the status out of memory gets everywhere else; anything else INTERNAL_ERROR (INTERNAL). A
 * reset that fails too has failed the connection. */
void pw_grpc_call_reset_on_error(pw_grpc_call *c, int err)
{
    uint32_t code = err == -ENOMEM ? PW_H2_ENHANCE_YOUR_CALM : pw_h2_err_code(err);
    if (c->conn) (void)pw_h2_submit_rst(c->conn->h2, c->stream_id, code);
}

static void end_stream(pw_grpc_call *c)
{
    int r = send_trailers(c);
    if (r < 0) pw_grpc_call_reset_on_error(c, r);
}

void pw_grpc_call_pump(pw_grpc_call *c)
{
    if (!c->conn) return;
    /* A submit made outside the session's callbacks may run on_stream_writable (and so this
     * function) from inside itself, before we consumed what it accepted: never re-enter. */
    if (c->pumping) {
        c->pump_again = true;
        return;
    }
    c->pumping = true;
    pw_grpc_conn_touch(c->conn);
    do {
        c->pump_again = false;
        while (c->conn && buf_size(&c->outq) > 0 && !c->in_send) {
            ssize_t r = pw_h2_submit_data(c->conn->h2, c->stream_id, buf_begin(&c->outq),
                                          buf_size(&c->outq), false);
            if (r < 0 && r != -ENOBUFS)
                pw_grpc_call_reset_on_error(c, (int)r); /* -ENOBUFS: writable later */
            if (r <= 0) break;
            buf_consume(&c->outq, (size_t)r);
        }
    } while (c->pump_again && c->conn && buf_size(&c->outq) > 0);
    c->pumping = false;
    if (buf_size(&c->outq) == 0) buf_shrink(&c->outq, 4096);
    if (c->conn && c->trailers_pending && buf_size(&c->outq) == 0) end_stream(c);
    if (c->want_writable && !c->done && buf_size(&c->outq) < PW_GRPC_CALL_OUTQ_HIGH_BYTES) {
        c->want_writable = false;
        if (c->m->on_writable) {
            pw_grpc_call_ref(c);
            c->m->on_writable(c);
            pw_grpc_call_unref(c);
        }
    }
}

/* A local call's end: the answer goes to its callback (the message framed in outq, if any). */
static int finish_local(pw_grpc_call *c, pw_grpc_status st, const char *message)
{
    c->finished = true;
    c->cancel_notified = true;
    mark_done(c);
    const uint8_t *msg = NULL;
    size_t len = 0;
    if (buf_size(&c->outq) >= PW_GRPC_MSG_PREFIX_BYTES) {
        msg = buf_begin(&c->outq) + PW_GRPC_MSG_PREFIX_BYTES;
        len = buf_size(&c->outq) - PW_GRPC_MSG_PREFIX_BYTES;
    }
    pw_grpc_call_ref(c); /* the callback may drop the caller's reference */
    c->local_fn(c->local_ud, st, message && *message ? message : NULL, msg, len);
    pw_grpc_call_unref(c);
    return 0;
}

int pw_grpc_call_finish(pw_grpc_call *c, pw_grpc_status st, const char *message)
{
    if (c->local_fn && !c->finished) return finish_local(c, st, message);
    if (c->finished || !c->conn) {
        mark_done(c);
        return -ECANCELED;
    }
    c->finished = true;
    c->cancel_notified = true; /* the handler (or we on its behalf) ended it: no on_cancel */
    count_done(c, st);
    mark_done(c);
    c->final_status = st;
    if (message && *message) {
        size_t ml = strlen(message);
        size_t el = pw_grpc_pct_encoded_len((const uint8_t *)message, ml);
        c->final_message = rt_malloc(el + 1); /* NULL: the status goes without its message */
        if (c->final_message) {
            pw_grpc_pct_encode((uint8_t *)c->final_message, (const uint8_t *)message, ml);
            c->final_message[el] = 0;
        }
    }
    c->trailers_pending = true;
    /* Sending the last frame can close the stream, and closing detaches the call (c->conn
     * becomes NULL) from inside the submit: keep the connection to notify it. */
    pw_grpc_conn *g = c->conn;
    if (buf_size(&c->outq) == 0) end_stream(c);
    else pw_grpc_call_pump(c);
    pw_grpc_conn_touch(g);
    return 0;
}

/* ---- responses on streams without a call ---- */

void pw_grpc_respond_http_error(pw_h2_session *h2, uint32_t sid, const char *status)
{
    pw_h2_header h[2] = {{":status", 7, status, strlen(status), 0},
                         PW_H2_HDR("content-type", "text/plain")};
    if (pw_h2_submit_headers(h2, sid, h, 2, true) < 0)
        (void)pw_h2_submit_rst(h2, sid, PW_H2_INTERNAL_ERROR); /* fails only with the session */
}

void pw_grpc_respond_status(pw_grpc_conn *g, uint32_t sid, pw_grpc_status st, const char *msg)
{
    pw_h2_session *h2 = g->h2;
    if (g->on_done) g->on_done(g->user, -1, st);
    char sts[12];
    int n = snprintf(sts, sizeof sts, "%d", (int)st);
    char enc[512];
    size_t ml = strlen(msg);
    if (pw_grpc_pct_encoded_len((const uint8_t *)msg, ml) >= sizeof enc) ml = 100;
    size_t el = pw_grpc_pct_encode((uint8_t *)enc, (const uint8_t *)msg, ml);
    pw_h2_header h[5] = {PW_H2_HDR(":status", "200"),
                         PW_H2_HDR("content-type", "application/grpc"),
                         PW_H2_HDR("grpc-accept-encoding", "identity,gzip"),
                         {"grpc-status", 11, sts, (size_t)n, 0},
                         {"grpc-message", 12, enc, el, 0}};
    if (pw_h2_submit_headers(h2, sid, h, 5, true) < 0)
        (void)pw_h2_submit_rst(h2, sid, PW_H2_INTERNAL_ERROR); /* fails only with the session */
}
